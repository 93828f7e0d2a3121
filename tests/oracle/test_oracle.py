#!/usr/bin/env python3
"""PyTorch oracle for nnctl's numerics.

    /usr/bin/python3 tests/oracle/test_oracle.py --nnref build/tools/nnref [-v]

Generates random inputs with a fixed seed (odd sizes: rows 3 and 7, cols 5
and 10), runs them through build/tools/nnref (which drives the REAL engine,
model, optimizer and session code) and compares with references computed in
float64 with PyTorch autograd. Tolerance: |got - ref| <= 1e-5 * |ref| + atol,
where atol is a small floor (1e-6 times the array's scale, or a few float32
ulps of the weights for optimizer deltas).

Where PyTorch has no op with Keras 2's exact definition, the Keras formula is
written in torch and differentiated by autograd:
  * hard_sigmoid = clip(0.2 x + 0.5, 0, 1) (torch's hardsigmoid is x/6 + 1/2)
  * MAPE, MSLE, hinge (with Keras's {0,1} -> {-1,1} label conversion),
    squared hinge, probability cross-entropies with Keras's renormalize/clip
  * metrics are written in numpy.
Optimizers:
  * torch.optim is used where its update is algebraically the Keras 2 one:
    SGD (plain; momentum and nesterov with a constant lr: torch's
    buf = m buf + g, w -= lr (g + m buf) equals Keras's v = m v - lr g,
    w += m v - lr g), RMSprop (eps outside the sqrt in both), Adagrad
    (initial accumulator 0.1, eps 1e-7 outside the sqrt), Adadelta. Keras's
    decay lr / (1 + decay * iterations) is applied by setting the group's lr
    before each step.
  * the Keras formula is written out (in numpy, float64) where they differ:
    Adam / AMSGrad (Keras/TF add eps to sqrt(v) and fold the bias corrections
    into lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); torch adds eps to
    sqrt(v / (1 - b2^t))), Adamax (Keras: w -= lr/(1-b1^t) m / (u + eps);
    torch puts eps inside the max: u = max(b2 u, |g| + eps)), Nadam (torch
    1.13 computes the next-step schedule product as prod_t * mu_t * mu_{t+1},
    counting mu_t twice; Keras 2 uses prod_t * mu_{t+1}), and SGD with
    momentum *and* decay (torch scales the whole buffer by the current lr,
    Keras only the new gradient).
  * clipnorm is Keras's per-tensor tf.clip_by_norm (g * c / max(|g|, c)),
    clipvalue is clamp; both are applied to the gradients before the torch /
    numpy reference step.
Prints one line per check and ends with "oracle: N passed, M failed, 0 skipped"; exits 1
when M > 0.
"""
import argparse
import json
import math
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

RTOL = 1e-5
EPS = 1e-7  # Keras's epsilon()

ROWS = (3, 7)
COLS = (5, 10)

passed = 0
failed = 0
VERBOSE = False
NNREF = None


def f32(a):
    """Rounds to float32 (what nnref sees) and back to float64."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def T(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


def report(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok    {name}" + (f"  ({detail})" if VERBOSE and detail else ""))
    else:
        failed += 1
        print(f"FAIL  {name}  {detail}")


def compare(name, got, ref, atol=None, rtol=RTOL):
    """Checks got against ref elementwise: |got-ref| <= rtol |ref| + atol."""
    ref = np.asarray(ref, dtype=np.float64).reshape(-1)
    try:
        got = np.asarray(got, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        report(False, name, f"unreadable result {got!r}")
        return False
    if got.shape != ref.shape:
        report(False, name, f"shape {got.shape} != reference {ref.shape}")
        return False
    if atol is None:
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        atol = 1e-6 * max(scale, 1e-2)
    if not np.all(np.isfinite(got)):
        report(False, name, f"non-finite values: {got}")
        return False
    err = np.abs(got - ref)
    bound = rtol * np.abs(ref) + atol
    bad = err > bound
    worst = int(np.argmax(err - bound))
    detail = f"max |err| {err.max():.3g}"
    if bad.any():
        detail += f"; at [{worst}] got {got[worst]:.9g}, reference {ref[worst]:.9g}"
    report(not bad.any(), name, detail)
    return not bad.any()


def nnref(cases):
    """Runs a list of cases through nnref; returns the list of results (or
    None, with a failed check, when nnref itself fails)."""
    p = subprocess.run([NNREF], input=json.dumps(cases), capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        report(False, "nnref run", f"exit {p.returncode}: {p.stderr.strip()}")
        return None
    out = json.loads(p.stdout)
    if len(out) != len(cases):
        report(False, "nnref run", f"{len(out)} results for {len(cases)} cases")
        return None
    return out


def nnref_each(cases, tags):
    """Like nnref, but when the batch fails, reruns each case alone and
    reports the ones nnref rejects under their own tags (e.g. a layer whose
    output shape disagrees with Keras's makes its dy the wrong length).
    Returns a list with None for the failed cases."""
    p = subprocess.run([NNREF], input=json.dumps(cases), capture_output=True, text=True,
                       timeout=300)
    if p.returncode == 0:
        out = json.loads(p.stdout)
        if len(out) == len(cases):
            return out
    out = []
    for case, tag in zip(cases, tags):
        q = subprocess.run([NNREF], input=json.dumps(case), capture_output=True, text=True,
                           timeout=300)
        if q.returncode != 0:
            report(False, f"{tag}: nnref", q.stderr.strip())
            out.append(None)
        else:
            out.append(json.loads(q.stdout))
    return out


def flat(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).reshape(-1)]


# --------------------------------------------------------------------------
# activations

def keras_act(name, x):
    if name == "linear":
        return x
    if name == "relu":
        return torch.relu(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "softmax":
        return torch.softmax(x, dim=-1)
    if name == "elu":
        return F.elu(x, alpha=1.0)
    if name == "selu":
        return F.selu(x)
    if name == "softplus":
        return F.softplus(x)
    if name == "softsign":
        return F.softsign(x)
    if name == "hard_sigmoid":  # Keras 2: clip(0.2 x + 0.5, 0, 1)
        return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)
    if name == "leaky_relu":  # default slope 0.2 (tf.nn.leaky_relu)
        return F.leaky_relu(x, negative_slope=0.2)
    if name == "swish":
        return F.silu(x)
    if name == "gelu":  # exact erf form
        return F.gelu(x)
    if name == "relu6":
        return F.relu6(x)
    if name == "mish":
        return F.mish(x)
    if name == "exponential":
        return torch.exp(x)
    if name in ("hard_silu", "hard_swish"):  # Keras 3's hard_silu is PyTorch's Hardswish
        return F.hardswish(x)
    if name == "silu":
        return F.silu(x)
    raise ValueError(name)


ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus",
               "softsign", "hard_sigmoid", "leaky_relu", "swish", "gelu", "relu6", "mish",
               "exponential", "hard_silu", "silu", "hard_swish"]


def away_from_kinks(x):
    """Moves values off the points where an activation is not differentiable
    (0 for the relu family, +-2.5 for hard_sigmoid, +-3 for hard_silu, 6
    for relu6)."""
    x = np.where(np.abs(x) < 0.05, np.sign(x + 1e-12) * 0.05 + x, x)
    for k in (-3.0, -2.5, 2.5, 3.0, 6.0):
        x = np.where(np.abs(x - k) < 0.05, x + 0.1, x)
    return x


def test_activations(rng):
    cases, refs = [], []
    for name in ACTIVATIONS:
        for rows, cols in ((3, 5), (7, 10)):
            x = f32(away_from_kinks(rng.normal(0.0, 2.0, (rows, cols))))
            # a few larger magnitudes: saturation regions of sigmoid/tanh/
            # hard_sigmoid/softplus, the negative tails of elu/selu
            x[0, 0] = 4.0 if x[0, 0] > 0 else -4.0
            if name == "relu6":  # above the cap: zero gradient
                x[0, 1] = 7.5
            dy = f32(rng.normal(0.0, 1.0, (rows, cols)))
            xt = T(x).requires_grad_(True)
            y = keras_act(name, xt)
            (y * T(dy)).sum().backward()
            cases.append({"op": "activation", "name": name, "rows": rows, "cols": cols,
                          "x": flat(x), "dy": flat(dy)})
            refs.append((name, rows, cols, y.detach().numpy(), xt.grad.numpy()))
    out = nnref(cases)
    if out is None:
        return
    for (name, rows, cols, y, dx), r in zip(refs, out):
        compare(f"activation {name} {rows}x{cols} forward", r["y"], y)
        compare(f"activation {name} {rows}x{cols} backward", r["dx"], dx)


# --------------------------------------------------------------------------
# losses (per-sample means over the last axis; value = sum over the batch,
# gradient = of the batch mean)

def keras_loss(kind, p, t, delta=1.0):
    """Per-sample loss vector, Keras 2 definitions, in torch."""
    if kind == "mse":
        return ((p - t) ** 2).mean(-1)
    if kind == "mae":
        return (p - t).abs().mean(-1)
    if kind == "mape":
        return 100.0 * ((t - p).abs() / torch.clamp(t.abs(), min=EPS)).mean(-1)
    if kind == "msle":
        a = torch.log(torch.clamp(p, min=EPS) + 1.0)
        b = torch.log(torch.clamp(t, min=EPS) + 1.0)
        return ((a - b) ** 2).mean(-1)
    if kind in ("hinge", "squared_hinge"):
        if bool(((t == 0) | (t == 1)).all()):
            t = 2.0 * t - 1.0
        m = torch.relu(1.0 - t * p)
        return (m if kind == "hinge" else m * m).mean(-1)
    if kind == "binary_ce":
        q = torch.clamp(p, EPS, 1.0 - EPS)
        return -(t * torch.log(q) + (1.0 - t) * torch.log(1.0 - q)).mean(-1)
    if kind == "binary_ce_logits":
        return F.binary_cross_entropy_with_logits(p, t, reduction="none").mean(-1)
    if kind == "categorical_ce":
        q = torch.clamp(p / p.sum(-1, keepdim=True), EPS, 1.0 - EPS)
        return -(t * torch.log(q)).sum(-1)
    if kind == "softmax_ce":
        return -(t * torch.log_softmax(p, -1)).sum(-1)
    if kind == "sparse_ce":
        q = torch.clamp(p / p.sum(-1, keepdim=True), EPS, 1.0 - EPS)
        return -torch.log(q.gather(-1, t.long().unsqueeze(-1)).squeeze(-1))
    if kind == "sparse_softmax_ce":
        return F.cross_entropy(p, t.long(), reduction="none")
    # Keras 3's definitions (keras/src/losses/losses.py), in torch's own ops
    if kind == "categorical_hinge":
        pos = (t * p).sum(-1)
        neg = ((1.0 - t) * p).max(-1).values
        return torch.relu(neg - pos + 1.0)
    if kind == "kl_divergence":
        yt, yp = torch.clamp(t, EPS, 1.0), torch.clamp(p, EPS, 1.0)
        return (yt * torch.log(yt / yp)).sum(-1)
    if kind == "poisson":
        return (p - t * torch.log(p + EPS)).mean(-1)
    if kind == "log_cosh":
        return torch.log(torch.cosh(p - t)).mean(-1)
    if kind == "huber":
        return F.huber_loss(p, t, reduction="none", delta=delta).mean(-1)
    if kind == "cosine_similarity":
        return -F.cosine_similarity(p, t, dim=-1)
    raise ValueError(kind)


def loss_inputs(kind, rng, rows, cols, variant):
    """(input, target) away from kinks; variant picks a second label style."""
    if kind in ("mse", "mae"):
        p = rng.normal(0, 1, (rows, cols))
        t = p + np.where(rng.random((rows, cols)) < 0.5, -1, 1) * rng.uniform(0.05, 1, (rows, cols))
    elif kind == "mape":
        t = np.where(rng.random((rows, cols)) < 0.5, -1, 1) * rng.uniform(0.5, 2, (rows, cols))
        p = t + np.where(rng.random((rows, cols)) < 0.5, -1, 1) * rng.uniform(0.05, 1, (rows, cols))
    elif kind == "msle":
        p = rng.uniform(0.1, 3, (rows, cols))
        t = rng.uniform(0.0, 3, (rows, cols))
        if variant:  # predictions below epsilon are clipped: zero gradient
            p[0, :2] = [-0.5, -2.0]
    elif kind in ("hinge", "squared_hinge"):
        if variant:
            t = np.where(rng.random((rows, cols)) < 0.5, -1.0, 1.0)
        else:
            t = (rng.random((rows, cols)) < 0.5).astype(np.float64)
        p = rng.normal(0, 1.5, (rows, cols))
        y = 2 * t - 1 if not variant else t
        m = 1 - y * p
        p = np.where(np.abs(m) < 0.05, p + 0.2, p)  # off the hinge
    elif kind == "binary_ce":
        p = rng.uniform(0.02, 0.98, (rows, cols))
        t = (rng.random((rows, cols)) < 0.5).astype(np.float64) if not variant else \
            rng.uniform(0, 1, (rows, cols))
    elif kind == "binary_ce_logits":
        p = rng.normal(0, 3, (rows, cols))
        t = (rng.random((rows, cols)) < 0.5).astype(np.float64) if not variant else \
            rng.uniform(0, 1, (rows, cols))
    elif kind in ("categorical_ce", "softmax_ce"):
        p = rng.uniform(0.05, 1.0, (rows, cols)) if kind == "categorical_ce" else \
            rng.normal(0, 2, (rows, cols))
        if variant:  # soft targets (rows sum to 1)
            t = rng.uniform(0, 1, (rows, cols))
            t /= t.sum(-1, keepdims=True)
        else:
            t = np.eye(cols)[rng.integers(0, cols, rows)]
    elif kind in ("sparse_ce", "sparse_softmax_ce"):
        p = rng.uniform(0.05, 1.0, (rows, cols)) if kind == "sparse_ce" else \
            rng.normal(0, 2, (rows, cols))
        t = rng.integers(0, cols, rows).astype(np.float64)
    elif kind == "categorical_hinge":
        t = np.eye(cols)[rng.integers(0, cols, rows)]
        p = rng.normal(0, 1.5, (rows, cols))
        if variant:  # past the margin: zero loss and gradient on every row
            p = np.where(t > 0, 5.0 + p * 0.1, p * 0.1)
        for r in range(rows):  # a clear largest (1 - y) p, a margin off 0
            while True:
                v = (1 - t[r]) * p[r]
                a, s = np.sort(v)[-1], np.sort(v)[-2]
                m = a - (t[r] * p[r]).sum() + 1
                if a - s >= 0.05 and abs(m) >= 0.05:
                    break
                p[r, np.argmax(v)] += 0.15
    elif kind == "kl_divergence":
        p = rng.uniform(0.05, 1.0, (rows, cols))
        p /= p.sum(-1, keepdims=True)
        if variant:  # one-hot targets: zeros clipped to eps
            t = np.eye(cols)[rng.integers(0, cols, rows)]
        else:
            t = rng.uniform(0, 1, (rows, cols))
            t /= t.sum(-1, keepdims=True)
    elif kind == "poisson":
        p = rng.uniform(0.1, 3, (rows, cols))
        t = rng.integers(0, 4, (rows, cols)).astype(np.float64) if variant else \
            rng.uniform(0, 3, (rows, cols))
    elif kind == "log_cosh":
        p = rng.normal(0, 2, (rows, cols))
        t = rng.normal(0, 2, (rows, cols))
        if variant:  # errors where a float32 cosh overflows (> 89)
            t[0, :2] = p[0, :2] + np.array([120.0, -120.0])
    elif kind == "huber":
        p = rng.normal(0, 2, (rows, cols))
        t = rng.normal(0, 2, (rows, cols))
        d = np.abs(p - t)
        delta = 1.0 if not variant else 2.5
        t = np.where(np.abs(d - delta) < 0.05, t + 0.2, t)  # off the kink
    elif kind == "cosine_similarity":
        p = rng.normal(0, 1, (rows, cols))
        t = rng.normal(0, 1, (rows, cols)) if not variant else \
            np.eye(cols)[rng.integers(0, cols, rows)]
    else:
        raise ValueError(kind)
    return f32(p), f32(t)


LOSSES = ["mse", "mae", "mape", "msle", "hinge", "squared_hinge", "binary_ce",
          "binary_ce_logits", "categorical_ce", "softmax_ce", "sparse_ce", "sparse_softmax_ce",
          "categorical_hinge", "kl_divergence", "poisson", "log_cosh", "huber",
          "cosine_similarity"]


def test_losses(rng):
    cases, refs = [], []
    for kind in LOSSES:
        variants = (0,) if kind.startswith("sparse") or kind in ("mse", "mae", "mape") else (0, 1)
        for rows, cols in ((3, 5), (7, 10)):
            for variant in variants:
                p, t = loss_inputs(kind, rng, rows, cols, variant)
                scale = 0.5 if (rows, variant) == (7, 0) else 1.0
                pt = T(p).requires_grad_(True)
                delta = 2.5 if kind == "huber" and variant else 1.0
                per = keras_loss(kind, pt, T(t), delta)
                (per.mean() * scale).backward()
                cases.append({"op": "loss", "kind": kind, "rows": rows, "cols": cols,
                              "input": flat(p), "target": flat(t), "grad_scale": scale,
                              "param": delta})
                tag = f"loss {kind} {rows}x{cols}" + (" variant" if variant else "") + \
                      (f" grad_scale={scale}" if scale != 1.0 else "")
                refs.append((tag, float(per.sum()), pt.grad.numpy()))
    out = nnref(cases)
    if out is None:
        return
    for (tag, total, grad), r in zip(refs, out):
        compare(f"{tag} value", r["sum"], total)
        compare(f"{tag} value without gradient", r["sum_nograd"], total)
        compare(f"{tag} gradient", r["grad"], grad)


# --------------------------------------------------------------------------
# metrics (sums over the batch), in numpy

def metric_ref(kind, p, t, k):
    if kind == "binary_accuracy":
        return float((((p > 0.5).astype(np.float64) == t).mean(-1)).sum())
    if kind == "categorical_accuracy":
        return float((p.argmax(-1) == t.argmax(-1)).sum())
    if kind == "sparse_categorical_accuracy":
        return float((p.argmax(-1) == t.astype(int)).sum())
    if kind in ("top_k", "sparse_top_k"):
        labels = t.argmax(-1) if kind == "top_k" else t.astype(int)
        topk = np.argsort(-p, axis=-1)[:, :k]
        return float(sum(labels[i] in topk[i] for i in range(p.shape[0])))
    if kind == "mse":
        return float(((p - t) ** 2).mean(-1).sum())
    if kind == "mae":
        return float(np.abs(p - t).mean(-1).sum())
    if kind == "mape":
        return float((100 * (np.abs(t - p) / np.maximum(np.abs(t), EPS)).mean(-1)).sum())
    if kind == "msle":
        return float(((np.log1p(np.maximum(p, EPS)) - np.log1p(np.maximum(t, EPS))) ** 2)
                     .mean(-1).sum())
    raise ValueError(kind)


METRICS = ["binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "top_k",
           "sparse_top_k", "mse", "mae", "mape", "msle"]


def test_metrics(rng):
    cases, refs = [], []
    for kind in METRICS:
        for rows, cols in ((7, 5), (7, 10), (3, 10)):
            k = 3 if kind in ("top_k", "sparse_top_k") else 5
            p = f32(rng.uniform(0.01, 1, (rows, cols)))
            if kind == "binary_accuracy":
                t = (rng.random((rows, cols)) < 0.5).astype(np.float64)
            elif kind in ("categorical_accuracy", "top_k"):
                lab = rng.integers(0, cols, rows)
                lab[0] = int(p[0].argmax())  # at least one hit
                t = np.eye(cols)[lab]
            elif kind.startswith("sparse"):
                t = rng.integers(0, cols, rows).astype(np.float64)
                t[0] = float(p[0].argmax())
            elif kind == "mape":
                t = f32(rng.uniform(0.5, 2, (rows, cols)) * np.where(rng.random((rows, cols)) < .5, -1, 1))
            else:
                t = f32(rng.uniform(0.0, 1, (rows, cols)))
            cases.append({"op": "metric", "kind": kind, "k": k, "rows": rows, "cols": cols,
                          "pred": flat(p), "target": flat(t)})
            refs.append((f"metric {kind} {rows}x{cols}" + (f" k={k}" if "top" in kind else ""),
                         metric_ref(kind, p, t, k)))
    out = nnref(cases)
    if out is None:
        return
    for (tag, ref), r in zip(refs, out):
        compare(tag, r["sum"], ref)


# --------------------------------------------------------------------------
# optimizers: first 3 steps

def clip_grads(gs, clipnorm, clipvalue):
    out = []
    for g in gs:
        g = np.array(g, dtype=np.float64)
        if clipnorm:
            n = np.sqrt((g * g).sum())
            if n > clipnorm:
                g = g * clipnorm / n
        if clipvalue:
            g = np.clip(g, -clipvalue, clipvalue)
        out.append(g)
    return out


def torch_opt_ref(kind, hp, w0s, grads):
    """torch.optim reference; grads[t] is a list of per-tensor gradients."""
    ps = [torch.nn.Parameter(T(w)) for w in w0s]
    lr = hp["lr"]
    if kind == "sgd":
        opt = torch.optim.SGD(ps, lr=lr, momentum=hp.get("momentum", 0.0),
                              nesterov=hp.get("nesterov", False))
    elif kind == "rmsprop":
        opt = torch.optim.RMSprop(ps, lr=lr, alpha=hp.get("rho", 0.9), eps=hp.get("epsilon", EPS))
    elif kind == "adagrad":
        opt = torch.optim.Adagrad(ps, lr=lr, eps=hp.get("epsilon", EPS),
                                  initial_accumulator_value=hp.get("initial_accumulator_value",
                                                                   0.1))
    elif kind == "adadelta":
        opt = torch.optim.Adadelta(ps, lr=lr, rho=hp.get("rho", 0.95), eps=hp.get("epsilon", EPS))
    else:
        raise ValueError(kind)
    traj = []
    for t, gs in enumerate(grads):
        for group in opt.param_groups:
            group["lr"] = lr / (1.0 + hp.get("decay", 0.0) * t)
        for p, g in zip(ps, clip_grads(gs, hp.get("clipnorm"), hp.get("clipvalue"))):
            p.grad = T(g)
        opt.step()
        traj.append([p.detach().numpy().copy() for p in ps])
    return traj


def keras_opt_ref(kind, hp, w0s, grads):
    """Keras's update rules (tf.keras >= 2.11, Keras 3) written out in float64
    numpy; tests/oracle/test_keras_names.py checks them against Keras itself."""
    ws = [np.array(w, dtype=np.float64) for w in w0s]
    b1, b2 = hp.get("beta_1", 0.9), hp.get("beta_2", 0.999)
    eps = hp.get("epsilon", EPS)
    mom = hp.get("momentum", 0.0)
    st = [dict(m=np.zeros_like(w), v=np.zeros_like(w), vh=np.zeros_like(w)) for w in ws]
    prod = 1.0
    traj = []
    for it, gs in enumerate(grads):
        t = it + 1
        lr = hp["lr"] / (1.0 + hp.get("decay", 0.0) * it)
        gs = clip_grads(gs, hp.get("clipnorm"), hp.get("clipvalue"))
        if kind == "nadam":  # Keras (tf.keras >= 2.11, Keras 3): 0.96^t
            mu_t = b1 * (1 - 0.5 * 0.96 ** t)
            mu_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
            prod_new = prod * mu_t
            prod_next = prod * mu_t * mu_next
            prod = prod_new
        for w, g, s in zip(ws, gs, st):
            if kind == "sgd":  # Keras: v = m v - lr g; w += v (nesterov: w += m v - lr g)
                s["m"] = mom * s["m"] - lr * g
                w += (mom * s["m"] - lr * g) if hp.get("nesterov") else s["m"]
            elif kind == "adam":
                s["m"] = b1 * s["m"] + (1 - b1) * g
                s["v"] = b2 * s["v"] + (1 - b2) * g * g
                lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                if hp.get("amsgrad"):
                    s["vh"] = np.maximum(s["vh"], s["v"])
                    w -= lr_t * s["m"] / (np.sqrt(s["vh"]) + eps)
                else:
                    w -= lr_t * s["m"] / (np.sqrt(s["v"]) + eps)
            elif kind == "rmsprop":  # Keras: epsilon under the root (torch adds it after)
                s["v"] = hp.get("rho", 0.9) * s["v"] + (1 - hp.get("rho", 0.9)) * g * g
                w -= lr * g / np.sqrt(s["v"] + eps)
            elif kind == "adamax":
                s["m"] = b1 * s["m"] + (1 - b1) * g
                s["v"] = np.maximum(b2 * s["v"], np.abs(g))
                w -= lr / (1 - b1 ** t) * s["m"] / (s["v"] + eps)
            elif kind == "nadam":
                g_prime = g / (1 - prod_new)
                s["m"] = b1 * s["m"] + (1 - b1) * g
                m_prime = s["m"] / (1 - prod_next)
                s["v"] = b2 * s["v"] + (1 - b2) * g * g
                v_prime = s["v"] / (1 - b2 ** t)
                m_bar = (1 - mu_t) * g_prime + mu_next * m_prime
                w -= lr * m_bar / (np.sqrt(v_prime) + eps)
            else:
                raise ValueError(kind)
        traj.append([w.copy() for w in ws])
    return traj


OPT_CASES = [
    # (label, hyper-parameters, reference)
    ("sgd", {"type": "sgd", "lr": 0.1}, "torch"),
    ("sgd decay", {"type": "sgd", "lr": 0.1, "decay": 0.5}, "torch"),
    ("sgd momentum", {"type": "sgd", "lr": 0.1, "momentum": 0.9}, "torch"),
    ("sgd momentum decay", {"type": "sgd", "lr": 0.1, "momentum": 0.9, "decay": 0.5}, "keras"),
    ("sgd nesterov", {"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True}, "torch"),
    ("sgd nesterov decay", {"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True,
                            "decay": 0.5}, "keras"),
    ("sgd clipnorm", {"type": "sgd", "lr": 0.1, "clipnorm": 0.5}, "torch"),
    ("sgd momentum clipvalue", {"type": "sgd", "lr": 0.1, "momentum": 0.9, "clipvalue": 0.3},
     "torch"),
    ("rmsprop", {"type": "rmsprop", "lr": 0.01}, "keras"),
    ("rmsprop decay rho", {"type": "rmsprop", "lr": 0.01, "rho": 0.8, "decay": 0.5}, "keras"),
    ("rmsprop epsilon", {"type": "rmsprop", "lr": 0.01, "epsilon": 0.1}, "keras"),
    ("adagrad", {"type": "adagrad", "lr": 0.1}, "torch"),
    ("adagrad decay", {"type": "adagrad", "lr": 0.1, "decay": 0.5,
                       "initial_accumulator_value": 0.5}, "torch"),
    ("adadelta", {"type": "adadelta", "lr": 1.0}, "torch"),
    ("adadelta decay epsilon", {"type": "adadelta", "lr": 1.0, "rho": 0.9, "decay": 0.5,
                                "epsilon": 1e-3}, "torch"),
    ("adam", {"type": "adam", "lr": 0.05}, "keras"),
    ("adam decay", {"type": "adam", "lr": 0.05, "decay": 0.5}, "keras"),
    ("adam epsilon betas", {"type": "adam", "lr": 0.05, "epsilon": 0.01, "beta_1": 0.8,
                            "beta_2": 0.99}, "keras"),
    ("adam amsgrad", {"type": "adam", "lr": 0.05, "amsgrad": True}, "keras"),
    ("adam amsgrad decay", {"type": "adam", "lr": 0.05, "amsgrad": True, "decay": 0.5}, "keras"),
    ("adam clipnorm clipvalue", {"type": "adam", "lr": 0.05, "clipnorm": 1.0, "clipvalue": 0.4},
     "keras"),
    ("adamax", {"type": "adamax", "lr": 0.05}, "keras"),
    ("adamax decay epsilon", {"type": "adamax", "lr": 0.05, "decay": 0.5, "epsilon": 0.01},
     "keras"),
    ("nadam", {"type": "nadam", "lr": 0.05}, "keras"),
    ("nadam decay epsilon", {"type": "nadam", "lr": 0.05, "decay": 0.5, "epsilon": 0.01},
     "keras"),
    ("nadam clipnorm", {"type": "nadam", "lr": 0.05, "clipnorm": 0.5}, "keras"),
    # Keras 2 (tf.keras) defaults: only the type is given; the reference
    # gets the documented default values
    ("sgd defaults", {"type": "sgd"}, "torch", {"lr": 0.01}),
    ("rmsprop defaults", {"type": "rmsprop"}, "keras", {"lr": 0.001, "rho": 0.9}),
    ("adagrad defaults", {"type": "adagrad"}, "torch",
     {"lr": 0.001, "initial_accumulator_value": 0.1}),
    ("adadelta defaults", {"type": "adadelta"}, "torch", {"lr": 0.001, "rho": 0.95}),
    ("adam defaults", {"type": "adam"}, "keras", {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999}),
    ("adamax defaults", {"type": "adamax"}, "keras", {"lr": 0.001}),
    ("nadam defaults", {"type": "nadam"}, "keras", {"lr": 0.001}),
]


def test_optimizers(rng):
    cases, refs = [], []
    n = 5
    for entry in OPT_CASES:
        label, hp, how = entry[:3]
        defaults = entry[3] if len(entry) > 3 else {}
        w0 = f32(rng.uniform(-0.5, 0.5, n))
        b0 = f32(rng.uniform(-0.5, 0.5, 1))
        # shrinking gradients (so AMSGrad's max differs from v), one sign flip
        scales = [2.0, 0.7, 0.2]
        gw = [f32(rng.normal(0, 1, n) * s) for s in scales]
        gb = [f32(rng.normal(0, 0.2, 1) * s) for s in scales]
        gw[1][0] = -gw[0][0]
        keras_hp = dict(defaults)
        keras_hp.update({k: v for k, v in hp.items() if k != "type"})
        if "lr" not in keras_hp:
            raise ValueError(label)
        grads = [[g, h] for g, h in zip(gw, gb)]
        if how == "torch":
            traj = torch_opt_ref(hp["type"], keras_hp, [w0, b0], grads)
        else:
            traj = keras_opt_ref(hp["type"], keras_hp, [w0, b0], grads)
        cases.append({"op": "optimizer", "optimizer": hp, "w": flat(w0), "b": flat(b0),
                      "grads": [flat(g) for g in gw], "grads_b": [flat(g) for g in gb]})
        lrs = [keras_hp["lr"] / (1 + keras_hp.get("decay", 0.0) * t) for t in range(3)]
        refs.append((label, how, w0, b0, traj, lrs))
    out = nnref(cases)
    if out is None:
        return
    for (label, how, w0, b0, traj, lrs), r in zip(refs, out):
        src = "torch.optim" if how == "torch" else "Keras formula"
        compare(f"optimizer {label}: lr per step", r["lr"], lrs)
        for t in range(3):
            for nm, got, ref, init in (("kernel", r["w"][t], traj[t][0], w0),
                                       ("bias", r["b"][t], traj[t][1], b0)):
                tag = f"optimizer {label} step {t + 1} {nm} vs {src}"
                compare(tag, got, ref)
                # the step itself (w_t - w_0), with a floor of a few float32
                # ulps of w: small updates cannot hide inside w's tolerance
                ulp = np.spacing(np.float32(max(np.max(np.abs(init)), np.max(np.abs(ref)))))
                compare(tag + " (update)", np.asarray(got) - init, np.asarray(ref) - init,
                        atol=8.0 * float(ulp) * (t + 1))


# --------------------------------------------------------------------------
# dense forward / backward through the model

def test_dense(rng):
    cases, refs = [], []
    for (rows, fin, units) in ((3, 5, 10), (7, 10, 5)):
        for act in ("linear", "relu", "tanh", "softmax", "sigmoid"):
            for use_bias in (True, False):
                while True:  # relu: draw again until no pre-activation is at the kink
                    x = f32(rng.normal(0, 1, (rows, fin)))
                    W = f32(rng.normal(0, 0.5, (fin, units)))
                    b = f32(rng.normal(0, 0.5, units))
                    dy = f32(rng.normal(0, 1, (rows, units)))
                    xt, Wt, bt = (T(v).requires_grad_(True) for v in (x, W, b))
                    z = xt @ Wt + (bt if use_bias else 0.0)
                    if act != "relu" or np.min(np.abs(z.detach().numpy())) >= 1e-3:
                        break
                y = keras_act(act, z)
                (y * T(dy)).sum().backward()
                c = {"op": "dense", "rows": rows, "in": fin, "units": units, "activation": act,
                     "use_bias": use_bias, "x": flat(x), "W": flat(W), "dy": flat(dy)}
                if use_bias:
                    c["b"] = flat(b)
                cases.append(c)
                refs.append((f"dense {rows}x{fin}->{units} {act} " +
                             ("bias" if use_bias else "no bias"), use_bias,
                             y.detach().numpy(), Wt.grad.numpy(),
                             bt.grad.numpy() if use_bias else None,
                             xt.grad.numpy()))
    out = nnref(cases)
    if out is None:
        return
    for (tag, use_bias, y, dW, db, dx), r in zip(refs, out):
        compare(f"{tag} forward", r["y"], y)
        compare(f"{tag} dW", r["dW"], dW)
        if use_bias:
            compare(f"{tag} db", r["db"], db)
        else:
            report("db" not in r, f"{tag} has no bias gradient")
        compare(f"{tag} dx", r["dx"], dx)


# --------------------------------------------------------------------------
# train steps through the session (fit.c's per-batch sequence)

def spec_text(layers, loss, optimizer, input_dim):
    return ("model = { input = { shape = [%d]; }; layers = ( %s ); };\n"
            "train = { loss = \"%s\"; optimizer = { %s }; threads = 1; seed = 3; };\n"
            % (input_dim, ", ".join(layers), loss, optimizer))


def train_step_check(label, case, ref_loss, ref_grads, ref_weights, expect_fused=None,
                     extra=None):
    out = nnref([case])
    if out is None:
        return
    r = out[0]
    compare(f"train_step {label}: loss", r["loss"], ref_loss)
    if extra:
        for key, val in extra.items():
            compare(f"train_step {label}: {key}", r[key], val)
    if expect_fused is not None:
        report(r["fused"] == expect_fused,
               f"train_step {label}: loss {'fused' if expect_fused else 'not fused'} with the "
               f"output activation", f"fused = {r['fused']}")
    for name, g in ref_grads.items():
        compare(f"train_step {label}: gradient {name}", r["grads"].get(name, []), g)
    for name, w in ref_weights.items():
        compare(f"train_step {label}: {name} after the step", r["weights"].get(name, []), w)


def mlp_torch(x, params, acts):
    h = T(x)
    for (W, b), act in zip(params, acts):
        h = h @ W + (b if b is not None else 0.0)
        h = keras_act(act, h)
    return h


def test_train_step_regularizers(rng):
    """Kernel/bias/activity penalties (Keras 2: l1 sum|w| + l2 sum w^2 added to
    the loss; activity penalty divided by the batch size)."""
    rows, fin, hid, out = 7, 5, 10, 3
    x = f32(rng.normal(0, 1, (rows, fin)))
    y = f32(rng.normal(0, 1, (rows, out)))
    W1 = f32(rng.normal(0, 0.5, (fin, hid)))
    b1 = f32(rng.normal(0, 0.5, hid))
    W2 = f32(rng.normal(0, 0.5, (hid, out)))
    b2 = f32(rng.normal(0, 0.5, out))
    l1k, l2k, l2b, l1a, l2a, l1b2 = 0.01, 0.02, 0.03, 0.05, 0.04, 0.02
    layers = [
        '{ type = "dense"; name = "h"; units = %d; activation = "tanh"; '
        'kernel_regularizer = { l1 = %g; l2 = %g; }; bias_regularizer = { l2 = %g; }; '
        'activity_regularizer = { l1 = %g; l2 = %g; }; }' % (hid, l1k, l2k, l2b, l1a, l2a),
        '{ type = "dense"; name = "o"; units = %d; kernel_regularizer = "l2"; '
        'bias_regularizer = { l1 = %g; }; }' % (out, l1b2),
    ]
    lr = 0.1
    spec = spec_text(layers, "mse", 'type = "sgd"; lr = %g;' % lr, fin)
    P = [T(v).requires_grad_(True) for v in (W1, b1, W2, b2)]
    h = torch.tanh(T(x) @ P[0] + P[1])
    o = h @ P[2] + P[3]
    data = ((o - T(y)) ** 2).mean(-1).mean()
    activity = (l1a * h.abs().sum() + l2a * (h * h).sum()) / rows
    weight = (l1k * P[0].abs().sum() + l2k * (P[0] ** 2).sum() + l2b * (P[1] ** 2).sum() +
              0.01 * (P[2] ** 2).sum() + l1b2 * P[3].abs().sum())
    loss = data + activity + weight
    loss.backward()
    names = ["h/kernel", "h/bias", "o/kernel", "o/bias"]
    case = {"op": "train_step", "spec": spec, "rows": rows, "x": flat(x), "y": flat(y),
            "weights": {n: flat(v) for n, v in zip(names, (W1, b1, W2, b2))}}
    train_step_check("regularizers (l1/l2 kernel, bias, activity)", case, float(loss),
                     {n: p.grad.numpy() for n, p in zip(names, P)},
                     {n: (p - lr * p.grad).detach().numpy() for n, p in zip(names, P)},
                     extra={"data_loss": float(data), "activity_penalty": float(activity),
                            "weight_penalty": float(weight)})


class KerasRMSprop(torch.optim.Optimizer):
    """Keras's RMSprop (epsilon under the square root; torch's RMSprop adds it
    after the root, which differs for gradients near sqrt(epsilon))."""

    def __init__(self, params, lr, rho, eps):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                v = self.state[p].setdefault("v", torch.zeros_like(p))
                v.mul_(group["rho"]).add_((1 - group["rho"]) * p.grad * p.grad)
                p.sub_(group["lr"] * p.grad / torch.sqrt(v + group["eps"]))


def test_train_step_mlp(rng):
    """A 2-layer MLP with dropout rate 0 against the same torch model, with
    the cross-entropies fused with their output activations, and an unfused
    one (mse on a softmax output)."""
    fin, hid = 5, 10
    variants = [
        # label, out units, out act, loss, target kind, optimizer text, torch optimizer
        ("softmax + categorical_crossentropy, sgd momentum", 3, "softmax",
         "categorical_crossentropy", "onehot", 'type = "sgd"; lr = 0.1; momentum = 0.9;',
         lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), True),
        ("softmax + sparse_categorical_crossentropy, rmsprop", 10, "softmax",
         "sparse_categorical_crossentropy", "sparse", 'type = "rmsprop"; lr = 0.01;',
         lambda ps: KerasRMSprop(ps, lr=0.01, rho=0.9, eps=EPS), True),
        ("sigmoid + binary_crossentropy, adagrad", 1, "sigmoid", "binary_crossentropy",
         "binary", 'type = "adagrad"; lr = 0.1;',
         lambda ps: torch.optim.Adagrad(ps, lr=0.1, eps=EPS, initial_accumulator_value=0.1),
         True),
        ("softmax + mse (not fused), sgd", 5, "softmax", "mse", "onehot",
         'type = "sgd"; lr = 0.5;', lambda ps: torch.optim.SGD(ps, lr=0.5), False),
    ]
    for label, out, act, lossname, tk, opt_text, make_opt, fused in variants:
        rows = 7
        x = f32(rng.normal(0, 1, (rows, fin)))
        W1 = f32(rng.normal(0, 0.5, (fin, hid)))
        b1 = f32(rng.normal(0, 0.5, hid))
        W2 = f32(rng.normal(0, 0.5, (hid, out)))
        b2 = f32(rng.normal(0, 0.5, out))
        labels = rng.integers(0, out if out > 1 else 2, rows)
        if tk == "onehot":
            y = np.eye(out)[labels]
        elif tk == "sparse":
            y = labels.astype(np.float64)
        else:
            y = labels.astype(np.float64).reshape(rows, 1)
        layers = [
            '{ type = "dense"; name = "h"; units = %d; activation = "relu"; }' % hid,
            '{ type = "dropout"; rate = 0.0; }',
            '{ type = "dense"; name = "o"; units = %d; activation = "%s"; }' % (out, act),
        ]
        spec = spec_text(layers, lossname, opt_text, fin)
        P = [torch.nn.Parameter(T(v)) for v in (W1, b1, W2, b2)]
        z1 = T(x) @ P[0] + P[1]
        if np.min(np.abs(z1.detach().numpy())) < 1e-4:
            print(f"note: relu input near 0 in {label}; results may differ at the kink")
        h = torch.relu(z1)
        z = h @ P[2] + P[3]
        if lossname == "categorical_crossentropy":
            loss = -(T(y) * torch.log_softmax(z, -1)).sum(-1).mean()
        elif lossname == "sparse_categorical_crossentropy":
            loss = F.cross_entropy(z, torch.tensor(labels))
        elif lossname == "binary_crossentropy":
            loss = F.binary_cross_entropy_with_logits(z, T(y))
        else:
            loss = ((torch.softmax(z, -1) - T(y)) ** 2).mean(-1).mean()
        loss.backward()
        grads = [p.grad.numpy().copy() for p in P]
        opt = make_opt(P)
        opt.step()
        names = ["h/kernel", "h/bias", "o/kernel", "o/bias"]
        case = {"op": "train_step", "spec": spec, "rows": rows, "x": flat(x), "y": flat(y),
                "n_classes": max(out, 2),
                "weights": {n: flat(v) for n, v in zip(names, (W1, b1, W2, b2))}}
        train_step_check(label, case, float(loss), dict(zip(names, grads)),
                         {n: p.detach().numpy() for n, p in zip(names, P)}, expect_fused=fused)


# --------------------------------------------------------------------------
# convolution and pooling layers through nnref's "layer" op (the real spec
# parser, shape inference, plan, forward and backward of the model).
#
# NHWC <-> NCHW is a permute; Keras kernels (kh, kw, in, out) / (k, in, out)
# become torch's (out, in, kh, kw) / (out, in, k). Keras 'same' padding is
# written out with F.pad: total = max((out - 1) s + (k - 1) d + 1 - in, 0),
# total // 2 before, the rest (the extra row/column) after. Pooling 'same':
# max pads with -inf; average divides the zero-padded window sum by the count
# of real cells (TensorFlow's rule; torch's count_include_pad=False only
# pads symmetrically). Output shapes are checked against Keras's
# conv_output_length: (in - (k - 1) d [valid] + s - 1) // s.

CONV_RTOL = 1e-4


def keras_out_len(n, k, s, d, padding):
    span = (k - 1) * d + 1
    length = n if padding == "same" else n - span + 1
    return (length + s - 1) // s


def same_pads(n, k, s, d):
    out = (n + s - 1) // s
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def pad_nc(x, ks, ss, ds, padding, value=0.0):
    """Pads the spatial axes of an N, C, spatial... tensor Keras-style."""
    if padding != "same":
        return x
    pads = []
    # F.pad lists pads from the last axis backwards
    for n, k, s, d in reversed(list(zip(x.shape[2:], ks, ss, ds))):
        pads += list(same_pads(n, k, s, d))
    return F.pad(x, pads, value=value)


def conv_compare(tag, r, y, yshape, grads, dx):
    report(list(r["y_shape"]) == list(yshape), f"{tag} output shape (Keras rule)",
           f"got {r['y_shape']}, Keras {list(yshape)}")
    compare(f"{tag} forward", r["y"], y, rtol=CONV_RTOL, atol=atol_for(y))
    compare(f"{tag} dx", r["dx"], dx, rtol=CONV_RTOL, atol=atol_for(dx))
    for name, g in grads.items():
        compare(f"{tag} d{name}", r["grads"].get(name, []), g, rtol=CONV_RTOL, atol=atol_for(g))
    if set(r["grads"]) != set(grads):
        report(False, f"{tag} parameters", f"got {sorted(r['grads'])}, want {sorted(grads)}")


def atol_for(ref):
    """Absolute floor: 1e-6 of the array's largest magnitude (float32 sums of
    a few hundred terms cancel to about that)."""
    ref = np.asarray(ref)
    return 1e-6 * max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-2)


def conv_case(rng, rank, n, spatial, cin, filters, kernel, strides, padding, dilation, use_bias,
              act, plan_batch=None):
    """One conv1d/conv2d case: (nnref case, tag, reference tuple) or None when
    relu's input lands on the kink."""
    for _attempt in range(5):
        x = f32(rng.normal(0, 1, (n,) + tuple(spatial) + (cin,)))
        kshape = tuple(kernel) + (cin, filters)
        W = f32(rng.normal(0, 0.5, kshape))
        b = f32(rng.normal(0, 0.5, filters))
        xt, Wt, bt = (T(v).requires_grad_(True) for v in (x, W, b))
        if rank == 2:
            xin = pad_nc(xt.permute(0, 3, 1, 2), kernel, strides, dilation, padding)
            z = F.conv2d(xin, Wt.permute(3, 2, 0, 1), bt if use_bias else None,
                         stride=tuple(strides), dilation=tuple(dilation))
            z = z.permute(0, 2, 3, 1)
        else:
            xin = pad_nc(xt.permute(0, 2, 1), kernel, strides, dilation, padding)
            z = F.conv1d(xin, Wt.permute(2, 1, 0), bt if use_bias else None,
                         stride=strides[0], dilation=dilation[0])
            z = z.permute(0, 2, 1)
        zz = z.detach().numpy()
        if act == "relu" and np.min(np.abs(zz)) < 1e-5 * np.max(np.abs(zz)):
            continue  # a pre-activation at the kink: draw again
        y = keras_act(act, z)
        dy = f32(rng.normal(0, 1, tuple(y.shape)))
        (y * T(dy)).sum().backward()
        break
    else:
        return None
    yshape = [keras_out_len(sp, k, s, d, padding)
              for sp, k, s, d in zip(spatial, kernel, strides, dilation)] + [filters]
    ltype = "conv2d" if rank == 2 else "conv1d"

    def lst(v):
        return "[" + ", ".join(str(int(a)) for a in v) + "]"
    # mix the int and list spellings of kernel_size / strides / dilation_rate
    ks = str(kernel[0]) if len(set(kernel)) == 1 and rank == 2 else lst(kernel)
    layer = (f'type = "{ltype}"; filters = {filters}; kernel_size = {ks}; '
             f'strides = {lst(strides)}; padding = "{padding}"; '
             f'dilation_rate = {dilation[0] if len(set(dilation)) == 1 else lst(dilation)}; '
             f'activation = "{act}"; use_bias = {"true" if use_bias else "false"};')
    case = {"op": "layer", "layer": layer, "input_shape": list(spatial) + [cin], "rows": n,
            "x": flat(x), "dy": flat(dy), "weights": {"kernel": flat(W)}}
    if use_bias:
        case["weights"]["bias"] = flat(b)
    if plan_batch:
        case["plan_batch"] = plan_batch
    tag = (f"{ltype} n={n} {'x'.join(map(str, spatial))}x{cin} -> {filters} k={lst(kernel)} "
           f"s={lst(strides)} d={lst(dilation)} {padding} {act} "
           f"{'bias' if use_bias else 'no bias'}" + (f" plan_batch={plan_batch}" if plan_batch else ""))
    grads = {"kernel": Wt.grad.numpy()}
    if use_bias:
        grads["bias"] = bt.grad.numpy()
    return case, tag, (y.detach().numpy(), yshape, grads, xt.grad.numpy(), list(kshape))


def test_conv(rng):
    cases, refs = [], []
    specs = []
    # conv2d: batch 3, 7x9 images, 3 channels, 5 filters
    for kernel in ((3, 3), (2, 4)):
        for padding in ("valid", "same"):
            for strides, dilation in (((1, 1), (1, 1)), ((2, 2), (1, 1)), ((1, 1), (2, 2)),
                                      ((2, 3), (1, 1))):
                for use_bias, act in ((True, "linear"), (False, "linear"), (True, "relu")):
                    specs.append((2, 3, (7, 9), 3, 5, kernel, strides, padding, dilation,
                                  use_bias, act, None))
    # 1x1 kernels (the pointwise GEMM path, and a strided 1x1 that is not)
    for strides in ((1, 1), (2, 2)):
        for padding in ("valid", "same"):
            specs.append((2, 3, (7, 9), 3, 5, (1, 1), strides, padding, (1, 1), True, "linear",
                          None))
    # mixed dilation, a kernel as large as the input, a partial batch
    specs.append((2, 3, (7, 9), 3, 5, (3, 2), (1, 1), "same", (2, 3), True, "linear", None))
    specs.append((2, 2, (5, 6), 2, 3, (5, 6), (1, 1), "valid", (1, 1), True, "linear", None))
    specs.append((2, 3, (7, 9), 3, 5, (3, 3), (2, 2), "same", (1, 1), True, "relu", 5))
    # conv1d: batch 3, 11 steps, 3 channels, 5 filters
    for kernel in ((3,), (4,)):
        for padding in ("valid", "same"):
            for strides, dilation in (((1,), (1,)), ((2,), (1,)), ((3,), (1,)), ((1,), (2,))):
                for use_bias, act in ((True, "linear"), (False, "relu")):
                    specs.append((1, 3, (11,), 3, 5, kernel, strides, padding, dilation,
                                  use_bias, act, None))
    specs.append((1, 3, (11,), 3, 5, (1,), (1,), "same", (1,), True, "linear", 4))
    for sp in specs:
        got = None
        for _ in range(20):  # relu input at the kink: draw the case again
            got = conv_case(rng, *sp)
            if got is not None:
                break
        if got is None:
            report(False, f"conv case {sp}", "20 draws all put a relu input at the kink")
            continue
        cases.append(got[0])
        refs.append(got[1:])
    out = nnref_each(cases, [t for t, _ in refs])
    for (tag, (y, yshape, grads, dx, kshape)), r in zip(refs, out):
        if r is None:
            continue
        report(r["param_shapes"]["kernel"] == kshape, f"{tag} kernel layout (Keras)",
               f"got {r['param_shapes']['kernel']}, want {kshape}")
        conv_compare(tag, r, y, yshape, grads, dx)


def distinct_values(rng, shape, spacing=0.05):
    """Values that are all different (no ties in a max window), shuffled."""
    n = int(np.prod(shape))
    v = (rng.permutation(n) - n / 2) * spacing + rng.uniform(0, spacing / 4, n)
    return f32(v.reshape(shape))


def pool_ref(kind, rank, xt, pool, strides, padding):
    """torch reference on channels-last xt; returns channels-last output."""
    perm_in = (0, 3, 1, 2) if rank == 2 else (0, 2, 1)
    perm_out = (0, 2, 3, 1) if rank == 2 else (0, 2, 1)
    xc = xt.permute(*perm_in)
    ones = (1,) * rank
    if kind == "max":
        xp = pad_nc(xc, pool, strides, ones, padding, value=-math.inf)
        fn = F.max_pool2d if rank == 2 else F.max_pool1d
        y = fn(xp, tuple(pool), tuple(strides))
    else:
        fn = F.avg_pool2d if rank == 2 else F.avg_pool1d
        xp = pad_nc(xc, pool, strides, ones, padding)
        cnt = fn(pad_nc(torch.ones_like(xc), pool, strides, ones, padding), tuple(pool),
                 tuple(strides))
        y = fn(xp, tuple(pool), tuple(strides)) / cnt  # window sum / real cells
    return y.permute(*perm_out)


def test_pool(rng):
    cases, refs = [], []
    n, c = 3, 4
    for rank, spatial in ((2, (7, 9)), (1, (11,))):
        for kind in ("max", "avg"):
            for pool in (2, 3):
                for stride in (None, 1, 2, 3):
                    for padding in ("valid", "same"):
                        ps, ss = (pool,) * rank, ((stride or pool),) * rank
                        x = distinct_values(rng, (n,) + spatial + (c,))
                        xt = T(x).requires_grad_(True)
                        y = pool_ref(kind, rank, xt, ps, ss, padding)
                        dy = f32(rng.normal(0, 1, tuple(y.shape)))
                        (y * T(dy)).sum().backward()
                        ltype = ("max" if kind == "max" else "average") + f"_pooling{rank}d"
                        layer = f'type = "{ltype}"; pool_size = {pool}; padding = "{padding}";'
                        if stride is not None:  # else the default: strides = pool_size
                            layer += f" strides = {stride};"
                        yshape = [keras_out_len(sp, pool, stride or pool, 1, padding)
                                  for sp in spatial] + [c]
                        cases.append({"op": "layer", "layer": layer,
                                      "input_shape": list(spatial) + [c], "rows": n,
                                      "x": flat(x), "dy": flat(dy), "weights": {}})
                        refs.append((f"{ltype} {'x'.join(map(str, spatial))}x{c} pool={pool} "
                                     f"strides={stride if stride else 'default'} {padding}",
                                     y.detach().numpy(), yshape, xt.grad.numpy()))
        # a non-square pool with unequal strides and with the default
        # strides (= pool_size per axis), in a partial batch
        if rank == 2:
            for kind in ("max", "avg"):
                for padding in ("valid", "same"):
                    for strides in ((1, 2), None):
                        x = distinct_values(rng, (n,) + spatial + (c,))
                        xt = T(x).requires_grad_(True)
                        y = pool_ref(kind, 2, xt, (2, 3), strides or (2, 3), padding)
                        dy = f32(rng.normal(0, 1, tuple(y.shape)))
                        (y * T(dy)).sum().backward()
                        ltype = ("max" if kind == "max" else "average") + "_pooling2d"
                        layer = f'type = "{ltype}"; pool_size = [2, 3]; padding = "{padding}";'
                        if strides:
                            layer += " strides = [1, 2];"
                        cases.append({"op": "layer", "plan_batch": 5, "layer": layer,
                                      "input_shape": list(spatial) + [c], "rows": n,
                                      "x": flat(x), "dy": flat(dy), "weights": {}})
                        sy, sx = strides or (2, 3)
                        yshape = [keras_out_len(7, 2, sy, 1, padding),
                                  keras_out_len(9, 3, sx, 1, padding), c]
                        refs.append((f"{ltype} 7x9x{c} pool=[2, 3] "
                                     f"strides={list(strides) if strides else 'default'} "
                                     f"{padding} plan_batch=5",
                                     y.detach().numpy(), yshape, xt.grad.numpy()))
        for kind in ("max", "avg"):
            x = distinct_values(rng, (n,) + spatial + (c,))
            xt = T(x).requires_grad_(True)
            axes = tuple(range(1, rank + 1))
            y = xt.amax(dim=axes) if kind == "max" else xt.mean(dim=axes)
            dy = f32(rng.normal(0, 1, tuple(y.shape)))
            (y * T(dy)).sum().backward()
            ltype = "global_" + ("max" if kind == "max" else "average") + f"_pooling{rank}d"
            cases.append({"op": "layer", "layer": f'type = "{ltype}";',
                          "input_shape": list(spatial) + [c], "rows": n, "x": flat(x),
                          "dy": flat(dy), "weights": {}})
            refs.append((f"{ltype} {'x'.join(map(str, spatial))}x{c}", y.detach().numpy(), [c],
                         xt.grad.numpy()))
    out = nnref_each(cases, [t[0] for t in refs])
    for (tag, y, yshape, dx), r in zip(refs, out):
        if r is not None:
            conv_compare(tag, r, y, yshape, {}, dx)


# --------------------------------------------------------------------------
# bad input must fail loudly

# --------------------------------------------------------------------------
# batch normalization, depthwise / separable convolution and merge layers
# (nnref's "layer" and "merge" ops), at CONV_RTOL with atol_for's floor.
#
# BatchNormalization (axis -1): the input is viewed as (N', C) with N' the
# batch times the spatial positions. Training mode is F.batch_norm(training=
# True) (it normalizes with the biased batch variance, as Keras); its
# running-statistics update is NOT used (torch keeps the unbiased variance):
# the moving statistics after one forward are written out as
# momentum * moving + (1 - momentum) * batch with the biased variance (the
# Keras 3 rule the layer documents). The training forward is also written
# out in torch (mean, biased variance; F.batch_norm refuses one sample) and
# cross-checked against F.batch_norm where it accepts the input. Inference mode (training = false) and a
# frozen layer (trainable = false, in a training pass: Keras 2.1+ runs it in
# inference mode) are F.batch_norm(training=False) with the moving
# statistics, which must stay unchanged; their dx is autograd of that affine
# map (and dgamma / dbeta too for a trainable layer in an inference pass).
#
# DepthwiseConv2D: F.conv2d with groups = in_channels and the Keras kernel
# (kh, kw, in, mult) reshaped to (kh, kw, in*mult) and permuted to
# (in*mult, 1, kh, kw): output channel c*mult + j reads input channel c.
# SeparableConv2D: that, then a 1x1 F.conv2d with the pointwise kernel
# (1, 1, in*mult, filters) permuted to (filters, in*mult, 1, 1), plus bias.
# 'same' padding as for conv2d (pad_nc: the extra row/column after).
#
# Merges: torch ops and autograd. Maximum / Minimum follow Keras: the output
# is folded as out = where(out >= x_i, out, x_i) (<= for minimum), so a tie
# goes to the earlier input (torch.maximum would split it 0.5 / 0.5); ties
# are planted deliberately (equal elements between inputs, and the same node
# fed twice through nnref's "same_as").

BN_RTOL = CONV_RTOL


def bn_case(rng, shape, rows, variant):
    """variant: dict with optional momentum, epsilon, center, scale,
    trainable, training. Returns (case, tag, refs)."""
    mom = variant.get("momentum", 0.99)
    eps = variant.get("epsilon", 1e-3)
    center = variant.get("center", True)
    scale = variant.get("scale", True)
    trainable = variant.get("trainable", True)
    training = variant.get("training", True)
    C = shape[-1]
    # an offset and a scale per channel, so normalization does something
    x = f32(rng.normal(0, 1, (rows,) + tuple(shape)) * rng.uniform(0.5, 3.0, C)
            + rng.normal(0, 2.0, C))
    gamma = f32(rng.uniform(0.5, 1.5, C) * rng.choice([-1, 1], C))
    beta = f32(rng.normal(0, 0.5, C))
    mm = f32(rng.normal(0, 1.0, C))
    mv = f32(rng.uniform(0.5, 2.0, C))
    dy = f32(rng.normal(0, 1, x.shape))
    xt, gt, bt = (T(v).requires_grad_(True) for v in (x, gamma, beta))
    x2 = xt.reshape(-1, C)
    batch_mode = training and trainable
    if batch_mode:
        # written out (F.batch_norm refuses a single value per channel):
        # the batch mean and biased variance, differentiated by autograd
        mu = x2.mean(0)
        var = ((x2 - mu) ** 2).mean(0)
        y = (x2 - mu) / torch.sqrt(var + eps)
        if scale:
            y = y * gt
        if center:
            y = y + bt
        if x2.shape[0] > 1:  # cross-check the written-out formula with torch's
            yb = F.batch_norm(x2, None, None, gt if scale else None, bt if center else None,
                              training=True, eps=eps)
            assert torch.allclose(y, yb, rtol=1e-10, atol=1e-10)
        xd = x2.detach()
        bmean, bvar = xd.mean(0).numpy(), xd.var(0, unbiased=False).numpy()
        mm_after = mom * mm + (1 - mom) * bmean
        mv_after = mom * mv + (1 - mom) * bvar
    else:
        y = F.batch_norm(x2, T(mm), T(mv), gt if scale else None, bt if center else None,
                         training=False, eps=eps)
        mm_after, mv_after = mm, mv
    y = y.reshape(x.shape)
    (y * T(dy)).sum().backward()
    # dx's terms are of size |gamma dy| / sqrt(var + eps) and cancel (to 0
    # with one sample): the absolute floor is 1e-6 of that size
    var_min = float(np.min(x.reshape(-1, C).var(0) if batch_mode else mv))
    dx_floor = 1e-6 * max(float(np.max(np.abs(dy))) * (float(np.max(np.abs(gamma)))
                                                        if scale else 1.0)
                          / math.sqrt(var_min + eps), 1e-2)
    grads = {}
    if trainable:
        if scale:
            grads["gamma"] = gt.grad.numpy()
        if center:
            grads["beta"] = bt.grad.numpy()
    layer = (f'type = "batch_normalization"; momentum = {mom}; epsilon = {eps}; '
             f'center = {"true" if center else "false"}; scale = {"true" if scale else "false"}; '
             f'trainable = {"true" if trainable else "false"};')
    weights = {"moving_mean": flat(mm), "moving_variance": flat(mv)}
    if scale:
        weights["gamma"] = flat(gamma)
    if center:
        weights["beta"] = flat(beta)
    case = {"op": "layer", "layer": layer, "input_shape": list(shape), "rows": rows,
            "x": flat(x), "dy": flat(dy), "weights": weights, "training": training}
    if "plan_batch" in variant:
        case["plan_batch"] = variant["plan_batch"]
    tag = (f"batch_normalization n={rows} {'x'.join(map(str, shape))} "
           f"{'training' if training else 'inference'}"
           f"{'' if trainable else ' frozen'} momentum={mom} eps={eps}"
           f"{'' if center else ' no center'}{'' if scale else ' no scale'}"
           + (f" plan_batch={variant['plan_batch']}" if "plan_batch" in variant else ""))
    return case, tag, (y.detach().numpy(), grads, xt.grad.numpy(), dx_floor, mm_after,
                       mv_after)


def test_batchnorm(rng):
    cases, refs = [], []
    variants = [
        ((5, 7, 3), 3, {}),
        ((5, 7, 3), 3, {"training": False}),
        ((5, 7, 3), 3, {"trainable": False}),
        ((4,), 5, {}),
        ((4,), 5, {"momentum": 0.9, "epsilon": 0.01}),
        ((4,), 5, {"center": False}),
        ((4,), 5, {"scale": False}),
        ((4,), 5, {"center": False, "scale": False}),
        ((4,), 5, {"training": False}),
        ((4,), 5, {"trainable": False}),
        ((3, 5), 2, {"plan_batch": 4}),
        ((6,), 1, {}),  # one sample: the batch variance is 0
    ]
    for shape, rows, v in variants:
        got = bn_case(rng, shape, rows, v)
        cases.append(got[0])
        refs.append(got[1:])
    out = nnref_each(cases, [t for t, _ in refs])
    for (tag, (y, grads, dx, dx_floor, mm, mv)), r in zip(refs, out):
        if r is None:
            continue
        report(list(r["y_shape"]) == list(y.shape[1:]), f"{tag} output shape",
               f"got {r['y_shape']}")
        compare(f"{tag} forward", r["y"], y, rtol=BN_RTOL, atol=atol_for(y))
        compare(f"{tag} dx", r["dx"], dx, rtol=BN_RTOL, atol=max(atol_for(dx), dx_floor))
        for name, g in grads.items():
            compare(f"{tag} d{name}", r["grads"].get(name, []), g, rtol=BN_RTOL,
                    atol=atol_for(g))
        if set(r["grads"]) != set(grads):
            report(False, f"{tag} trainable parameters",
                   f"got {sorted(r['grads'])}, want {sorted(grads)}")
        compare(f"{tag} moving_mean after", r["weights_after"]["moving_mean"], mm,
                rtol=BN_RTOL, atol=atol_for(mm))
        compare(f"{tag} moving_variance after", r["weights_after"]["moving_variance"], mv,
                rtol=BN_RTOL, atol=atol_for(mv))


def depthwise_case(rng, n, spatial, cin, mult, kernel, strides, padding, dilation, use_bias,
                   act, filters=None, plan_batch=None):
    """filters: None for depthwise_conv2d, else separable_conv2d to that many."""
    x = f32(rng.normal(0, 1, (n,) + tuple(spatial) + (cin,)))
    K = f32(rng.normal(0, 0.5, tuple(kernel) + (cin, mult)))
    P = f32(rng.normal(0, 0.5, (1, 1, cin * mult, filters))) if filters else None
    out_ch = filters if filters else cin * mult
    b = f32(rng.normal(0, 0.5, out_ch))
    xt, Kt, bt = (T(v).requires_grad_(True) for v in (x, K, b))
    Pt = T(P).requires_grad_(True) if filters else None
    xin = pad_nc(xt.permute(0, 3, 1, 2), kernel, strides, dilation, padding)
    wt = Kt.reshape(kernel[0], kernel[1], cin * mult).permute(2, 0, 1).unsqueeze(1)
    z = F.conv2d(xin, wt, None if filters or not use_bias else bt, stride=tuple(strides),
                 dilation=tuple(dilation), groups=cin)
    if filters:
        z = F.conv2d(z, Pt.permute(3, 2, 0, 1), bt if use_bias else None)
    z = z.permute(0, 2, 3, 1)
    y = keras_act(act, z)
    dy = f32(rng.normal(0, 1, tuple(y.shape)))
    (y * T(dy)).sum().backward()
    yshape = [keras_out_len(sp, k, s, d, padding)
              for sp, k, s, d in zip(spatial, kernel, strides, dilation)] + [out_ch]
    ltype = "separable_conv2d" if filters else "depthwise_conv2d"

    def lst(v):
        return "[" + ", ".join(str(int(a)) for a in v) + "]"
    layer = (f'type = "{ltype}"; ' + (f"filters = {filters}; " if filters else "")
             + f'kernel_size = {lst(kernel)}; strides = {lst(strides)}; padding = "{padding}"; '
             f'dilation_rate = {lst(dilation)}; depth_multiplier = {mult}; '
             f'activation = "{act}"; use_bias = {"true" if use_bias else "false"};')
    weights = {"depthwise_kernel": flat(K)}
    grads = {"depthwise_kernel": Kt.grad.numpy()}
    shapes = {"depthwise_kernel": list(K.shape)}
    if filters:
        weights["pointwise_kernel"] = flat(P)
        grads["pointwise_kernel"] = Pt.grad.numpy()
        shapes["pointwise_kernel"] = list(P.shape)
    if use_bias:
        weights["bias"] = flat(b)
        grads["bias"] = bt.grad.numpy()
        shapes["bias"] = [out_ch]
    case = {"op": "layer", "layer": layer, "input_shape": list(spatial) + [cin], "rows": n,
            "x": flat(x), "dy": flat(dy), "weights": weights}
    if plan_batch:
        case["plan_batch"] = plan_batch
    tag = (f"{ltype} n={n} {'x'.join(map(str, spatial))}x{cin} mult={mult}"
           + (f" -> {filters}" if filters else "")
           + f" k={lst(kernel)} s={lst(strides)} d={lst(dilation)} {padding} {act} "
           f"{'bias' if use_bias else 'no bias'}"
           + (f" plan_batch={plan_batch}" if plan_batch else ""))
    return case, tag, (y.detach().numpy(), yshape, grads, xt.grad.numpy(), shapes)


def test_depthwise(rng):
    specs = []
    for filters in (None, 4):
        for mult in (1, 2):
            for kernel in ((3, 3), (2, 3)):
                for padding in ("valid", "same"):
                    for strides, dilation in (((1, 1), (1, 1)), ((2, 2), (1, 1)),
                                              ((2, 1), (1, 1)), ((1, 1), (2, 2))):
                        specs.append(dict(n=3, spatial=(5, 7), cin=3, mult=mult, kernel=kernel,
                                          strides=strides, padding=padding, dilation=dilation,
                                          use_bias=True, act="linear", filters=filters))
        specs.append(dict(n=3, spatial=(5, 7), cin=3, mult=2, kernel=(3, 3), strides=(2, 2),
                          padding="same", dilation=(1, 1), use_bias=False, act="tanh",
                          filters=filters))
        specs.append(dict(n=3, spatial=(5, 7), cin=3, mult=2, kernel=(1, 1), strides=(1, 1),
                          padding="valid", dilation=(1, 1), use_bias=True, act="linear",
                          filters=filters))
        specs.append(dict(n=3, spatial=(5, 7), cin=3, mult=2, kernel=(5, 7), strides=(1, 1),
                          padding="valid", dilation=(1, 1), use_bias=True, act="linear",
                          filters=filters))
        specs.append(dict(n=3, spatial=(5, 7), cin=3, mult=2, kernel=(3, 2), strides=(2, 2),
                          padding="same", dilation=(1, 1), use_bias=True, act="sigmoid",
                          filters=filters, plan_batch=5))
    # depth_multiplier 1 at the widths Keras Applications use (64, 80, 128
    # channels: several AVX-512 vectors per pixel, 80 not a power of two)
    specs.append(dict(n=2, spatial=(6, 5), cin=80, mult=1, kernel=(3, 3), strides=(1, 1),
                      padding="same", dilation=(1, 1), use_bias=True, act="linear",
                      filters=None))
    specs.append(dict(n=2, spatial=(7, 6), cin=128, mult=1, kernel=(3, 3), strides=(2, 2),
                      padding="same", dilation=(1, 1), use_bias=False, act="relu",
                      filters=None))
    specs.append(dict(n=2, spatial=(7, 7), cin=64, mult=1, kernel=(3, 3), strides=(1, 1),
                      padding="valid", dilation=(2, 2), use_bias=True, act="linear",
                      filters=8))
    cases, refs = [], []
    for sp in specs:
        got = depthwise_case(rng, **sp)
        cases.append(got[0])
        refs.append(got[1:])
    out = nnref_each(cases, [t for t, _ in refs])
    for (tag, (y, yshape, grads, dx, shapes)), r in zip(refs, out):
        if r is None:
            continue
        report(r["param_shapes"] == shapes, f"{tag} parameter layout (Keras)",
               f"got {r['param_shapes']}, want {shapes}")
        conv_compare(tag, r, y, yshape, grads, dx)


def keras_merge(op, xs, axis=None):
    if op == "add":
        return sum(xs[1:], xs[0])
    if op == "subtract":
        return xs[0] - xs[1]
    if op == "multiply":
        out = xs[0]
        for v in xs[1:]:
            out = out * v
        return out
    if op == "average":
        return sum(xs[1:], xs[0]) / len(xs)
    if op in ("maximum", "minimum"):
        out = xs[0]
        for v in xs[1:]:
            out = torch.where(out >= v if op == "maximum" else out <= v, out, v)
        return out
    if op == "concatenate":
        return torch.cat(xs, dim=axis)
    raise ValueError(op)


def merge_case(rng, op, rows, shapes, same=(), axis=None, ties=False):
    """shapes: per-sample shape of each input; same: {i: k} feeds input k
    again at position i. ties: copies some elements of earlier inputs into
    later ones (maximum / minimum)."""
    same = dict(same)
    xs_np = {}
    for i, sh in enumerate(shapes):
        if i in same:
            continue
        v = f32(rng.normal(0, 1, (rows,) + tuple(sh)))
        if ties and i > 0:
            src = xs_np[max(k for k in xs_np)]
            mask = rng.uniform(0, 1, v.shape) < 0.35
            v = np.where(mask, src, v)
        xs_np[i] = v
    leaves = {i: T(v).requires_grad_(True) for i, v in xs_np.items()}
    xs = [leaves[same.get(i, i)] for i in range(len(shapes))]
    # Keras's axis counts the batch axis, as torch's dim does; the default -1
    y = keras_merge(op, xs, -1 if axis is None else axis)
    dy = f32(rng.normal(0, 1, tuple(y.shape)))
    (y * T(dy)).sum().backward()
    inputs = []
    for i, sh in enumerate(shapes):
        if i in same:
            inputs.append({"same_as": same[i]})
        else:
            inputs.append({"shape": list(sh), "x": flat(xs_np[i])})
    layer = f'type = "{op}";' + (f" axis = {axis};" if axis is not None else "")
    case = {"op": "merge", "layer": layer, "rows": rows, "inputs": inputs, "dy": flat(dy)}
    dxs = [leaves[same.get(i, i)].grad.numpy() for i in range(len(shapes))]
    tag = (f"merge {op}{'' if axis is None else f' axis={axis}'} n={rows} "
           + " ".join("x".join(map(str, sh)) + (f"(=#{same[i]})" if i in same else "")
                      for i, sh in enumerate(shapes))
           + (" with ties" if ties else ""))
    n_ties = 0
    if ties:
        vals = [xs_np[same.get(i, i)] for i in range(len(shapes))]
        n_ties = int(sum(np.sum(vals[i] == vals[j]) for i in range(len(vals))
                         for j in range(i)))
    return case, tag, (y.detach().numpy(), list(y.shape[1:]), dxs, n_ties)


def test_merge(rng):
    specs = []
    s = (2, 5, 3)
    for op in ("add", "subtract", "multiply", "average", "maximum", "minimum"):
        specs.append((op, 3, [s, s], (), None, False))
        if op != "subtract":
            specs.append((op, 3, [s, s, s], (), None, False))
            specs.append((op, 3, [(7,), (7,)], {1: 0}, None, False))  # op(a, a)
    for op in ("maximum", "minimum"):
        specs.append((op, 3, [s, s], (), None, True))
        specs.append((op, 3, [s, s, s], (), None, True))
        specs.append((op, 3, [s, s, s], {2: 0}, None, True))  # op(a, b, a)
    specs.append(("subtract", 3, [(7,), (7,)], {1: 0}, None, False))
    for axis, shapes in ((1, [(2, 5, 3), (3, 5, 3)]), (2, [(2, 5, 3), (2, 1, 3), (2, 4, 3)]),
                         (3, [(2, 5, 3), (2, 5, 2)]), (-1, [(2, 5, 1), (2, 5, 4)]),
                         (-2, [(2, 5, 3), (2, 2, 3)]), (-1, [(3,), (4,), (2,)]),
                         (None, [(4, 3), (4, 2)])):
        specs.append(("concatenate", 3, shapes, (), axis, False))
    specs.append(("concatenate", 3, [(2, 3), (2, 3)], {1: 0}, 1, False))
    cases, refs = [], []
    for op, rows, shapes, same, axis, ties in specs:
        got = merge_case(rng, op, rows, shapes, same, axis, ties)
        cases.append(got[0])
        refs.append(got[1:])
    out = nnref_each(cases, [t for t, _ in refs])
    for (tag, (y, yshape, dxs, n_ties)), r in zip(refs, out):
        if r is None:
            continue
        if "with ties" in tag:
            report(n_ties > 0, f"{tag}: ties planted", f"{n_ties} equal pairs")
        report(list(r["y_shape"]) == yshape, f"{tag} output shape", f"got {r['y_shape']}")
        compare(f"{tag} forward", r["y"], y, rtol=CONV_RTOL, atol=atol_for(y))
        for i, dx in enumerate(dxs):
            compare(f"{tag} dx[{i}]", r["dx"][i], dx, rtol=CONV_RTOL, atol=atol_for(dx))


def test_bad_input():
    bad = [
        ("unknown op", {"op": "nope"}),
        ("wrong length", {"op": "activation", "name": "relu", "rows": 3, "cols": 5,
                          "x": [0.0] * 14, "dy": [0.0] * 15}),
        ("unknown activation", {"op": "activation", "name": "relux", "rows": 1, "cols": 1,
                                "x": [0.0], "dy": [0.0]}),
        ("label out of range", {"op": "loss", "kind": "sparse_ce", "rows": 1, "cols": 3,
                                "input": [0.2, 0.3, 0.5], "target": [3]}),
        ("bad optimizer", {"op": "optimizer", "optimizer": {"type": "adamm", "lr": 0.1},
                           "w": [1.0], "grads": [[1.0]]}),
    ]
    for label, case in bad:
        p = subprocess.run([NNREF], input=json.dumps(case), capture_output=True, text=True,
                           timeout=60)
        report(p.returncode != 0 and p.stderr.strip() != "",
               f"nnref rejects bad input: {label}",
               f"exit {p.returncode}, stderr {p.stderr.strip()!r}")
    p = subprocess.run([NNREF], input="{not json", capture_output=True, text=True, timeout=60)
    report(p.returncode != 0, "nnref rejects malformed JSON", f"exit {p.returncode}")


def main():
    global NNREF, VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nnref", required=True, help="path to build/tools/nnref")
    ap.add_argument("-v", "--verbose", action="store_true", help="print errors of passing checks")
    args = ap.parse_args()
    NNREF = args.nnref
    VERBOSE = args.verbose
    rng = np.random.default_rng(20240611)
    test_activations(rng)
    test_losses(rng)
    test_metrics(rng)
    test_optimizers(rng)
    test_dense(rng)
    test_train_step_regularizers(rng)
    test_train_step_mlp(rng)
    test_conv(rng)
    test_pool(rng)
    test_batchnorm(rng)
    test_depthwise(rng)
    test_merge(rng)
    test_bad_input()
    print(f"oracle: {passed} passed, {failed} failed, 0 skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
