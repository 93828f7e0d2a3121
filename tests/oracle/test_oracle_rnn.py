#!/usr/bin/env python3
"""PyTorch oracle for nnctl's recurrent and sequence layers.

    /usr/bin/python3 tests/oracle/test_oracle_rnn.py --nnref build/tools/nnref [-v]

SimpleRNN, LSTM, GRU (reset_after true and false), Bidirectional (concat,
sum, mul, ave), TimeDistributed(Dense) and Embedding, run one layer at a time
through nnref's "layer" op (the REAL engine and model code: forward, then
backward from a given dy) and compared with references computed in float64
with PyTorch autograd: the output, dx and every parameter gradient, plus the
output and parameter shapes (Keras 2's layout), at |got - ref| <= 1e-4 |ref|
+ atol, atol being test_oracle.py's atol_for floor (1e-6 of the array's
largest magnitude). Two train_step cases run recurrent layers inside a model
(regularizers, Embedding feeding a Bidirectional GRU).

The reference recurrences are written out by hand in torch (a Python loop
over the timesteps, differentiated by autograd), in Keras 2's formulation
and gate order:
  * SimpleRNN  h = act(x W + h R + b)
  * LSTM       z = x W + h R + b split as [i | f | c | o];
               i, f, o = rec_act(...), g = act(z_c), c = f c + i g,
               h = o act(c)
  * GRU        kernel columns [z | r | h];
               reset_after = true: bias (2, 3U) = [input bias; recurrent bias],
                 xz = x W + b_in, hr = h R + b_rec,
                 z = rec_act(xz_z + hr_z), r = rec_act(xz_r + hr_r),
                 hh = act(xz_h + r * hr_h)
               reset_after = false: bias (3U), xz = x W + b,
                 z = rec_act(xz_z + h R_z), r = rec_act(xz_r + h R_r),
                 hh = act(xz_h + (r * h) R_h)
               h = z h_prev + (1 - z) hh
  * initial states 0; go_backwards reads x[T-1] first and, with
    return_sequences, emits the outputs in processing order.
  * Bidirectional: the backward copy runs with go_backwards; with
    return_sequences its sequence is reversed back before the merge; concat
    puts the forward output first. Weights "forward_<inner name>/kernel", ...
  * hard_sigmoid is Keras 2's clip(0.2 x + 0.5, 0, 1).
Inputs are redrawn when an activation input lands within 1e-3 of a kink
(relu, leaky_relu and selu at 0, hard_sigmoid at +-2.5).

The hand-written references are themselves checked ("reference self-check")
against torch.nn.LSTM (gate order i, f, g, o = Keras's i, f, c, o:
weight_ih = kernel^T), torch.nn.GRU (gate order r, z, n: Keras's [z | r | h]
blocks permuted; torch's n = tanh(W_in x + b_in + r (W_hn h + b_hn)) is
reset_after = true), torch.nn.RNN (tanh and relu), a bidirectional
torch.nn.LSTM, and by finite differences (torch.autograd.gradcheck) in
float64 for the cases torch has no module for (reset_after = false,
hard_sigmoid, relu).

Prints one line per check and ends with "oracle-rnn: N passed, M failed, 0 skipped";
exits 1 when M > 0.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_oracle as base  # noqa: E402  (sets float64 as torch's default dtype)
from test_oracle import T, atol_for, compare, f32, flat, keras_act, report  # noqa: E402

torch.set_default_dtype(torch.float64)

RTOL = 1e-4
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
KINKS = {"relu": (0.0,), "leaky_relu": (0.0,), "selu": (0.0,), "hard_sigmoid": (-2.5, 2.5)}
KINK_MARGIN = 1e-3


# --------------------------------------------------------------------------
# reference recurrences (torch, float64, autograd)

def rnn_ref(kind, x, W, R, b, act="tanh", rec_act="sigmoid", go_backwards=False,
            return_sequences=False, reset_after=True, pre=None, mm=None):
    """x: (N, T, F) tensor; W (F, G U), R (U, G U), b as Keras (or None).
    pre: a list collecting (activation name, input) for the kink check.
    mm: the matrix product (test_mixed.py passes one with bf16 operands)."""
    mm = mm or (lambda a, b: a @ b)

    def A(name, z):
        if pre is not None:
            pre.append((name, z.detach()))
        return keras_act(name, z)

    N, steps, _ = x.shape
    U = R.shape[0]
    h = x.new_zeros(N, U)
    c = x.new_zeros(N, U)
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    outs = []
    for t in order:
        xt = x[:, t, :]
        if kind == "simple_rnn":
            z = mm(xt, W) + mm(h, R)
            if b is not None:
                z = z + b
            h = A(act, z)
        elif kind == "lstm":
            z = mm(xt, W) + mm(h, R)
            if b is not None:
                z = z + b
            i = A(rec_act, z[:, :U])
            f = A(rec_act, z[:, U:2 * U])
            g = A(act, z[:, 2 * U:3 * U])
            o = A(rec_act, z[:, 3 * U:])
            c = f * c + i * g
            h = o * A(act, c)
        elif kind == "gru":
            xw = mm(xt, W)
            if reset_after:
                hr = mm(h, R)
                if b is not None:
                    xw = xw + b[0]
                    hr = hr + b[1]
                zg = A(rec_act, xw[:, :U] + hr[:, :U])
                r = A(rec_act, xw[:, U:2 * U] + hr[:, U:2 * U])
                hh = A(act, xw[:, 2 * U:] + r * hr[:, 2 * U:])
            else:
                if b is not None:
                    xw = xw + b
                zg = A(rec_act, xw[:, :U] + mm(h, R[:, :U]))
                r = A(rec_act, xw[:, U:2 * U] + mm(h, R[:, U:2 * U]))
                hh = A(act, xw[:, 2 * U:] + mm(r * h, R[:, 2 * U:]))
            h = zg * h + (1.0 - zg) * hh
        else:
            raise ValueError(kind)
        outs.append(h)
    return torch.stack(outs, 1) if return_sequences else h


def merge_ref(mode, a, b):
    if mode == "concat":
        return torch.cat([a, b], -1)
    if mode == "sum":
        return a + b
    if mode == "mul":
        return a * b
    if mode == "ave":
        return (a + b) / 2.0
    raise ValueError(mode)


def near_kink(pre):
    """True when an activation input lies within KINK_MARGIN of a kink (an
    exact 0, e.g. relu(c) with c = i * relu(g) = 0 at the first step, is the
    same in float32 and float64 and fine: both sides take the 0 derivative)."""
    for name, z in pre:
        for k in KINKS.get(name, ()):
            d = torch.abs(z - k)
            if bool(((d > 0) & (d < KINK_MARGIN)).any()):
                return True
    return False


def param_shapes(kind, F, U, use_bias, reset_after):
    G = GATES[kind]
    s = {"kernel": [F, G * U], "recurrent_kernel": [U, G * U]}
    if use_bias:
        s["bias"] = [2, 3 * U] if kind == "gru" and reset_after else [G * U]
    return s


def draw_weights(rng, kind, F, U, use_bias, reset_after):
    shapes = param_shapes(kind, F, U, use_bias, reset_after)
    w = {"kernel": f32(rng.normal(0, 1.0 / np.sqrt(F), shapes["kernel"])),
         "recurrent_kernel": f32(rng.normal(0, 1.0 / np.sqrt(U), shapes["recurrent_kernel"]))}
    if use_bias:
        w["bias"] = f32(rng.normal(0, 0.5, shapes["bias"]))
    return w


def bstr(v):
    return "true" if v else "false"


def rnn_text(kind, units, act="tanh", rec_act="sigmoid", use_bias=True, ret=False, back=False,
             reset_after=True, explicit=False, extra=""):
    """The layer's libconfig text; keys at their default are left out (testing
    the defaults) unless explicit."""
    s = f'type = "{kind}"; units = {units};'
    if explicit or act != "tanh":
        s += f' activation = "{act}";'
    if kind != "simple_rnn" and (explicit or rec_act != "sigmoid"):
        s += f' recurrent_activation = "{rec_act}";'
    if explicit or not use_bias:
        s += f" use_bias = {bstr(use_bias)};"
    if explicit or ret:
        s += f" return_sequences = {bstr(ret)};"
    if explicit or back:
        s += f" go_backwards = {bstr(back)};"
    if kind == "gru" and (explicit or not reset_after):
        s += f" reset_after = {bstr(reset_after)};"
    if extra:
        s += " " + extra
    return s


# --------------------------------------------------------------------------
# nnref "layer" cases: (case, tag, ref) with ref a dict: y, y_shape, grads,
# dx (None: not checked), shapes (parameter shapes)

def check_layer(tag, r, ref):
    report(list(r["y_shape"]) == list(ref["y_shape"]), f"{tag} output shape",
           f"got {r['y_shape']}, Keras {list(ref['y_shape'])}")
    report(r["param_shapes"] == ref["shapes"], f"{tag} parameter layout (Keras)",
           f"got {r['param_shapes']}, want {ref['shapes']}")
    compare(f"{tag} forward", r["y"], ref["y"], rtol=RTOL, atol=atol_for(ref["y"]))
    if ref["dx"] is not None:
        compare(f"{tag} dx", r["dx"], ref["dx"], rtol=RTOL, atol=atol_for(ref["dx"]))
    for name, g in ref["grads"].items():
        compare(f"{tag} d{name}", r["grads"].get(name, []), g, rtol=RTOL, atol=atol_for(g))
    if set(r["grads"]) != set(ref["grads"]):
        report(False, f"{tag} trainable parameters",
               f"got {sorted(r['grads'])}, want {sorted(ref['grads'])}")


def rnn_case(rng, kind, n, steps, F, U, act="tanh", rec_act="sigmoid", use_bias=True,
             ret=False, back=False, reset_after=True, plan_batch=None, training=True,
             explicit=False, extra="", tag_extra=""):
    for _attempt in range(20):
        x = f32(rng.normal(0, 1, (n, steps, F)))
        w = draw_weights(rng, kind, F, U, use_bias, reset_after)
        xt = T(x).requires_grad_(True)
        wt = {k: T(v).requires_grad_(True) for k, v in w.items()}
        pre = []
        y = rnn_ref(kind, xt, wt["kernel"], wt["recurrent_kernel"], wt.get("bias"), act,
                    rec_act, back, ret, reset_after, pre)
        if not near_kink(pre):
            break
    else:
        raise RuntimeError("could not draw inputs away from the kinks")
    dy = f32(rng.normal(0, 1, tuple(y.shape)))
    (y * T(dy)).sum().backward()
    case = {"op": "layer", "layer": rnn_text(kind, U, act, rec_act, use_bias, ret, back,
                                             reset_after, explicit, extra),
            "input_shape": [steps, F], "rows": n, "x": flat(x), "dy": flat(dy),
            "weights": {k: flat(v) for k, v in w.items()}, "training": training}
    if plan_batch:
        case["plan_batch"] = plan_batch
    name = kind if kind != "gru" else f"gru(reset_after={bstr(reset_after)})"
    tag = (f"{name} n={n} T={steps} F={F} U={U} {act}/{rec_act if kind != 'simple_rnn' else '-'}"
           f"{'' if use_bias else ' no bias'}{' return_sequences' if ret else ''}"
           f"{' go_backwards' if back else ''}"
           + (f" plan_batch={plan_batch}" if plan_batch else "")
           + ("" if training else " inference") + tag_extra)
    ref = {"y": y.detach().numpy(), "y_shape": list(y.shape[1:]),
           "grads": {k: v.grad.numpy() for k, v in wt.items()}, "dx": xt.grad.numpy(),
           "shapes": param_shapes(kind, F, U, use_bias, reset_after)}
    return case, tag, ref


def rnn_specs():
    S = []
    # SimpleRNN
    S += [dict(kind="simple_rnn", n=3, steps=7, F=3, U=4),
          dict(kind="simple_rnn", n=1, steps=1, F=1, U=1, ret=True),
          dict(kind="simple_rnn", n=5, steps=2, F=3, U=6, act="relu", ret=True, back=True),
          dict(kind="simple_rnn", n=3, steps=7, F=1, U=4, act="sigmoid", use_bias=False,
               back=True),
          dict(kind="simple_rnn", n=3, steps=7, F=3, U=6, act="linear", ret=True,
               plan_batch=8, explicit=True),
          dict(kind="simple_rnn", n=5, steps=7, F=3, U=1, act="relu", use_bias=False,
               ret=True, back=True),
          dict(kind="simple_rnn", n=1, steps=2, F=1, U=6, back=True)]
    # LSTM: every activation / recurrent activation pairing
    S += [dict(kind="lstm", n=3, steps=7, F=3, U=4),
          dict(kind="lstm", n=1, steps=1, F=1, U=1, ret=True),
          dict(kind="lstm", n=5, steps=7, F=3, U=6, rec_act="hard_sigmoid", ret=True,
               back=True),
          dict(kind="lstm", n=3, steps=2, F=1, U=4, act="relu", use_bias=False),
          dict(kind="lstm", n=5, steps=7, F=3, U=1, act="relu", rec_act="hard_sigmoid",
               back=True),
          dict(kind="lstm", n=3, steps=7, F=3, U=4, act="linear", ret=True),
          dict(kind="lstm", n=3, steps=7, F=1, U=6, act="sigmoid", rec_act="tanh",
               explicit=True),
          dict(kind="lstm", n=3, steps=7, F=3, U=6, use_bias=False, ret=True, back=True),
          dict(kind="lstm", n=3, steps=7, F=3, U=4, ret=True, back=True, plan_batch=7),
          dict(kind="lstm", n=1, steps=2, F=3, U=1, rec_act="hard_sigmoid", use_bias=False,
               ret=True)]
    # GRU, both bias layouts
    for ra in (True, False):
        S += [dict(kind="gru", n=3, steps=7, F=3, U=4, reset_after=ra),
              dict(kind="gru", n=1, steps=1, F=1, U=1, ret=True, reset_after=ra),
              dict(kind="gru", n=5, steps=7, F=3, U=6, rec_act="hard_sigmoid", ret=True,
                   back=True, reset_after=ra),
              dict(kind="gru", n=3, steps=2, F=1, U=4, act="relu", use_bias=False,
                   reset_after=ra),
              dict(kind="gru", n=5, steps=7, F=3, U=1, act="relu", rec_act="hard_sigmoid",
                   back=True, reset_after=ra),
              dict(kind="gru", n=3, steps=7, F=3, U=4, act="linear", ret=True,
                   reset_after=ra),
              dict(kind="gru", n=3, steps=7, F=1, U=6, act="sigmoid", rec_act="tanh",
                   explicit=True, reset_after=ra),
              dict(kind="gru", n=3, steps=7, F=3, U=6, use_bias=False, ret=True, back=True,
                   reset_after=ra),
              dict(kind="gru", n=3, steps=7, F=3, U=4, ret=True, back=True, plan_batch=7,
                   reset_after=ra)]
    # other Keras activations in the cells
    S += [dict(kind="simple_rnn", n=3, steps=7, F=3, U=4, act="elu", ret=True),
          dict(kind="simple_rnn", n=3, steps=7, F=3, U=4, act="leaky_relu", back=True),
          dict(kind="lstm", n=3, steps=7, F=3, U=4, act="softsign", rec_act="sigmoid",
               ret=True),
          dict(kind="lstm", n=3, steps=7, F=3, U=4, act="selu", rec_act="hard_sigmoid"),
          dict(kind="gru", n=3, steps=7, F=3, U=4, act="leaky_relu", rec_act="hard_sigmoid",
               ret=True),
          dict(kind="gru", n=3, steps=7, F=3, U=4, act="swish", rec_act="sigmoid",
               reset_after=False, back=True)]
    # longer sequences (float32 error accumulated over 25 steps)
    S += [dict(kind="simple_rnn", n=3, steps=25, F=3, U=6, ret=True),
          dict(kind="lstm", n=3, steps=25, F=3, U=6, ret=True),
          dict(kind="gru", n=3, steps=25, F=3, U=6, back=True),
          dict(kind="gru", n=3, steps=25, F=3, U=6, ret=True, reset_after=False)]
    return S


def test_rnn(rng):
    cases, tags, refs = [], [], []
    for sp in rnn_specs():
        c, t, r = rnn_case(rng, **sp)
        cases.append(c)
        tags.append(t)
        refs.append(r)
    out = base.nnref_each(cases, tags)
    for tag, ref, r in zip(tags, refs, out):
        if r is not None:
            check_layer(tag, r, ref)


def test_inference(rng):
    """training = false: with dropout 0 the forward (and backward) equal the
    training pass; with dropout / recurrent_dropout > 0 an inference pass
    applies no dropout at all (Keras)."""
    specs = [dict(kind="simple_rnn", n=3, steps=7, F=3, U=4, ret=True),
             dict(kind="lstm", n=5, steps=7, F=3, U=4, ret=True, back=True),
             dict(kind="lstm", n=3, steps=2, F=1, U=6),
             dict(kind="gru", n=3, steps=7, F=3, U=4, ret=True),
             dict(kind="gru", n=3, steps=7, F=3, U=4, reset_after=False)]
    cases, tags, refs, pairs = [], [], [], []
    for sp in specs:
        st = dict(sp, extra="dropout = 0.0; recurrent_dropout = 0.0;", tag_extra=" dropout=0")
        c1, t1, r1 = rnn_case(rng, **st)
        c2 = dict(c1, training=False)
        t2 = t1 + " inference"
        pairs.append((len(cases), len(cases) + 1, t1))
        cases += [c1, c2]
        tags += [t1, t2]
        refs += [r1, r1]
        # dropout > 0, inference: no dropout applied
        c3 = dict(c1, training=False,
                  layer=c1["layer"].replace("dropout = 0.0; recurrent_dropout = 0.0;",
                                            "dropout = 0.3; recurrent_dropout = 0.2;"))
        cases.append(c3)
        tags.append(t1.replace(" dropout=0", " dropout=0.3 recurrent_dropout=0.2 inference"))
        refs.append(r1)
    out = base.nnref_each(cases, tags)
    for tag, ref, r in zip(tags, refs, out):
        if r is not None:
            check_layer(tag, r, ref)
    for i, j, tag in pairs:
        if out[i] is None or out[j] is None:
            continue
        y = np.asarray(out[i]["y"], dtype=np.float64)
        compare(f"{tag}: training forward equals inference forward", out[j]["y"], y,
                rtol=1e-6, atol=atol_for(y))


# --------------------------------------------------------------------------
# Bidirectional

def bidir_case(rng, kind, n, steps, F, U, mode, ret, act="tanh", rec_act="sigmoid",
               use_bias=True, reset_after=True, inner_name=None, plan_batch=None,
               explicit_merge=True):
    for _attempt in range(20):
        x = f32(rng.normal(0, 1, (n, steps, F)))
        wf = draw_weights(rng, kind, F, U, use_bias, reset_after)
        wb = draw_weights(rng, kind, F, U, use_bias, reset_after)
        xt = T(x).requires_grad_(True)
        tf = {k: T(v).requires_grad_(True) for k, v in wf.items()}
        tb = {k: T(v).requires_grad_(True) for k, v in wb.items()}
        pre = []
        yf = rnn_ref(kind, xt, tf["kernel"], tf["recurrent_kernel"], tf.get("bias"), act,
                     rec_act, False, ret, reset_after, pre)
        yb = rnn_ref(kind, xt, tb["kernel"], tb["recurrent_kernel"], tb.get("bias"), act,
                     rec_act, True, ret, reset_after, pre)
        if ret:
            yb = torch.flip(yb, [1])
        y = merge_ref(mode, yf, yb)
        if not near_kink(pre):
            break
    else:
        raise RuntimeError("could not draw inputs away from the kinks")
    dy = f32(rng.normal(0, 1, tuple(y.shape)))
    (y * T(dy)).sum().backward()
    iname = inner_name or kind
    inner = rnn_text(kind, U, act, rec_act, use_bias, ret, False, reset_after)
    if inner_name:
        inner += f' name = "{inner_name}";'
    layer = f'type = "bidirectional"; layer = {{ {inner} }};'
    if explicit_merge or mode != "concat":
        layer += f' merge_mode = "{mode}";'
    weights, grads, shapes = {}, {}, {}
    ps = param_shapes(kind, F, U, use_bias, reset_after)
    for d, w, t in (("forward", wf, tf), ("backward", wb, tb)):
        for k in w:
            weights[f"{d}_{iname}/{k}"] = flat(w[k])
            grads[f"{d}_{iname}/{k}"] = t[k].grad.numpy()
            shapes[f"{d}_{iname}/{k}"] = ps[k]
    case = {"op": "layer", "layer": layer, "input_shape": [steps, F], "rows": n,
            "x": flat(x), "dy": flat(dy), "weights": weights}
    if plan_batch:
        case["plan_batch"] = plan_batch
    name = kind if kind != "gru" else f"gru(reset_after={bstr(reset_after)})"
    tag = (f"bidirectional({name}{'' if inner_name is None else ' name=' + inner_name}) "
           f"merge_mode={mode}{'' if explicit_merge or mode != 'concat' else ' (default)'} "
           f"n={n} T={steps} F={F} U={U} {act}/{rec_act if kind != 'simple_rnn' else '-'}"
           f"{'' if use_bias else ' no bias'}{' return_sequences' if ret else ''}"
           + (f" plan_batch={plan_batch}" if plan_batch else ""))
    ref = {"y": y.detach().numpy(), "y_shape": list(y.shape[1:]), "grads": grads,
           "dx": xt.grad.numpy(), "shapes": shapes}
    return case, tag, ref


def test_bidirectional(rng):
    specs = []
    for mode in ("concat", "sum", "mul", "ave"):
        for ret in (False, True):
            specs.append(dict(kind="lstm", n=3, steps=7, F=3, U=4, mode=mode, ret=ret))
    specs += [dict(kind="lstm", n=1, steps=1, F=1, U=1, mode="concat", ret=True,
                   explicit_merge=False),
              dict(kind="gru", n=5, steps=7, F=3, U=6, mode="concat", ret=True),
              dict(kind="gru", n=3, steps=2, F=1, U=4, mode="sum", ret=False,
                   reset_after=False, rec_act="hard_sigmoid"),
              dict(kind="gru", n=3, steps=7, F=3, U=4, mode="mul", ret=True, use_bias=False),
              dict(kind="simple_rnn", n=5, steps=7, F=3, U=6, mode="ave", ret=True),
              dict(kind="simple_rnn", n=3, steps=7, F=1, U=4, mode="concat", ret=False,
                   act="relu"),
              dict(kind="lstm", n=3, steps=7, F=3, U=4, mode="concat", ret=True,
                   inner_name="enc"),
              dict(kind="lstm", n=3, steps=7, F=3, U=6, mode="ave", ret=False, act="relu",
                   rec_act="hard_sigmoid", plan_batch=6)]
    cases, tags, refs = [], [], []
    for sp in specs:
        c, t, r = bidir_case(rng, **sp)
        cases.append(c)
        tags.append(t)
        refs.append(r)
    out = base.nnref_each(cases, tags)
    for tag, ref, r in zip(tags, refs, out):
        if r is not None:
            check_layer(tag, r, ref)


# --------------------------------------------------------------------------
# TimeDistributed(Dense), Embedding

def td_case(rng, n, steps, F, U, act, use_bias=True, plan_batch=None):
    for _attempt in range(20):
        x = f32(rng.normal(0, 1, (n, steps, F)))
        K = f32(rng.normal(0, 0.5, (F, U)))
        b = f32(rng.normal(0, 0.5, U))
        xt, Kt, bt = (T(v).requires_grad_(True) for v in (x, K, b))
        z = xt @ Kt + (bt if use_bias else 0.0)
        if not near_kink([(act, z.detach())]):
            break
    y = keras_act(act, z)
    dy = f32(rng.normal(0, 1, tuple(y.shape)))
    (y * T(dy)).sum().backward()
    layer = (f'type = "time_distributed"; layer = {{ type = "dense"; units = {U}; '
             f'activation = "{act}"; use_bias = {bstr(use_bias)}; }};')
    weights = {"kernel": flat(K)}
    grads = {"kernel": Kt.grad.numpy()}
    shapes = {"kernel": [F, U]}
    if use_bias:
        weights["bias"] = flat(b)
        grads["bias"] = bt.grad.numpy()
        shapes["bias"] = [U]
    case = {"op": "layer", "layer": layer, "input_shape": [steps, F], "rows": n,
            "x": flat(x), "dy": flat(dy), "weights": weights}
    if plan_batch:
        case["plan_batch"] = plan_batch
    tag = (f"time_distributed(dense) n={n} T={steps} F={F} U={U} {act}"
           f"{'' if use_bias else ' no bias'}"
           + (f" plan_batch={plan_batch}" if plan_batch else ""))
    return case, tag, {"y": y.detach().numpy(), "y_shape": list(y.shape[1:]), "grads": grads,
                       "dx": xt.grad.numpy(), "shapes": shapes}


def emb_case(rng, n, maxlen, input_dim, output_dim, plan_batch=None):
    ids = rng.integers(0, input_dim, (n, maxlen))
    ids.flat[0] = 0
    ids.flat[-1] = input_dim - 1
    if ids.size > 2:  # a repeated id: its gradient rows must accumulate
        ids.flat[1] = ids.flat[-1]
    E = f32(rng.normal(0, 1, (input_dim, output_dim)))
    Et = T(E).requires_grad_(True)
    y = Et[torch.tensor(ids)]
    dy = f32(rng.normal(0, 1, tuple(y.shape)))
    (y * T(dy)).sum().backward()
    case = {"op": "layer", "layer": f'type = "embedding"; input_dim = {input_dim}; '
                                    f'output_dim = {output_dim};',
            "input_shape": [maxlen], "rows": n, "x": flat(ids.astype(np.float64)),
            "dy": flat(dy), "weights": {"embeddings": flat(E)}}
    if plan_batch:
        case["plan_batch"] = plan_batch
    tag = (f"embedding n={n} maxlen={maxlen} input_dim={input_dim} output_dim={output_dim}"
           + (f" plan_batch={plan_batch}" if plan_batch else ""))
    return case, tag, {"y": y.detach().numpy(), "y_shape": list(y.shape[1:]),
                       "grads": {"embeddings": Et.grad.numpy()}, "dx": None,
                       "shapes": {"embeddings": [input_dim, output_dim]}}


def test_td_embedding(rng):
    specs = [("td", dict(n=3, steps=7, F=3, U=4, act="relu")),
             ("td", dict(n=1, steps=1, F=1, U=6, act="linear", use_bias=False)),
             ("td", dict(n=5, steps=2, F=3, U=1, act="tanh")),
             ("td", dict(n=3, steps=7, F=1, U=4, act="sigmoid", plan_batch=5)),
             ("emb", dict(n=3, maxlen=7, input_dim=20, output_dim=6)),
             ("emb", dict(n=1, maxlen=1, input_dim=20, output_dim=6)),
             ("emb", dict(n=5, maxlen=2, input_dim=3, output_dim=1)),
             ("emb", dict(n=3, maxlen=7, input_dim=1, output_dim=4)),
             ("emb", dict(n=3, maxlen=7, input_dim=20, output_dim=6, plan_batch=4))]
    cases, tags, refs = [], [], []
    for kind, sp in specs:
        c, t, r = (td_case if kind == "td" else emb_case)(rng, **sp)
        cases.append(c)
        tags.append(t)
        refs.append(r)
    out = base.nnref_each(cases, tags)
    for tag, ref, r, c in zip(tags, refs, out, cases):
        if r is None:
            continue
        check_layer(tag, r, ref)
        if ref["dx"] is None:  # embedding: no gradient to the ids
            dx = r.get("dx")
            n_in = len(c["x"])
            if dx is not None and len(dx) == n_in and all(np.isfinite(dx)):
                report(not np.any(np.asarray(dx)), f"{tag} dx (no gradient to the ids) is 0",
                       f"max |dx| {np.max(np.abs(dx)):.3g}")
    # an id out of range (Keras raises): nnref must not crash or read out of
    # bounds; rejecting it or returning finite values are both accepted
    bad = {"op": "layer", "layer": 'type = "embedding"; input_dim = 5; output_dim = 2;',
           "input_shape": [3], "rows": 1, "x": [0.0, 5.0, 1.0], "dy": [0.0] * 6,
           "weights": {"embeddings": [0.0] * 10}}
    p = subprocess.run([base.NNREF], input=json.dumps(bad), capture_output=True, text=True,
                       timeout=60)
    ok = p.returncode == 0 or (p.returncode == 1 and p.stderr.strip() != "")
    if ok and p.returncode == 0:
        y = json.loads(p.stdout).get("y", [])
        ok = len(y) == 6 and all(np.isfinite(y))
    report(ok, "embedding: an id out of range (5 of input_dim 5) is rejected or gives finite "
               "values (no crash)",
           f"exit {p.returncode}, stderr {p.stderr.strip()[:200]!r}, stdout {p.stdout[:200]!r}")


# --------------------------------------------------------------------------
# train_step: recurrent layers inside a model

def test_train_step(rng):
    # 1. LSTM (return_sequences = false) with kernel / recurrent / bias /
    #    activity regularizers, then a dense output; mse, sgd.
    n, steps, F, U, out_u = 5, 7, 3, 4, 2
    x = f32(rng.normal(0, 1, (n, steps, F)))
    yt = f32(rng.normal(0, 1, (n, out_u)))
    w = draw_weights(rng, "lstm", F, U, True, True)
    K2 = f32(rng.normal(0, 0.5, (U, out_u)))
    b2 = f32(rng.normal(0, 0.5, out_u))
    l2k, l1r, l2b, l2a = 0.01, 0.02, 0.03, 0.05
    lr = 0.1
    spec = ("model = { input = { shape = [%d, %d]; }; layers = ( "
            '{ type = "lstm"; name = "r"; units = %d; kernel_regularizer = { l2 = %g; }; '
            "recurrent_regularizer = { l1 = %g; }; bias_regularizer = { l2 = %g; }; "
            "activity_regularizer = { l2 = %g; }; }, "
            '{ type = "dense"; name = "o"; units = %d; } ); };\n'
            'train = { loss = "mse"; optimizer = { type = "sgd"; lr = %g; }; threads = 1; '
            "seed = 3; };\n" % (steps, F, U, l2k, l1r, l2b, l2a, out_u, lr))
    P = {k: T(v).requires_grad_(True) for k, v in
         (("r/kernel", w["kernel"]), ("r/recurrent_kernel", w["recurrent_kernel"]),
          ("r/bias", w["bias"]), ("o/kernel", K2), ("o/bias", b2))}
    h = rnn_ref("lstm", T(x), P["r/kernel"], P["r/recurrent_kernel"], P["r/bias"])
    o = h @ P["o/kernel"] + P["o/bias"]
    data = ((o - T(yt)) ** 2).mean(-1).mean()
    activity = l2a * (h * h).sum() / n
    weight = (l2k * (P["r/kernel"] ** 2).sum() + l1r * P["r/recurrent_kernel"].abs().sum()
              + l2b * (P["r/bias"] ** 2).sum())
    loss = data + activity + weight
    loss.backward()
    case = {"op": "train_step", "spec": spec, "rows": n, "x": flat(x), "y": flat(yt),
            "weights": {k: flat(v.detach().numpy()) for k, v in P.items()}}
    train_step_check("lstm with regularizers -> dense", case, float(loss),
                     {k: v.grad.numpy() for k, v in P.items()},
                     {k: (v - lr * v.grad).detach().numpy() for k, v in P.items()},
                     {"data_loss": float(data), "activity_penalty": float(activity),
                      "weight_penalty": float(weight)})

    # 2. Embedding -> Bidirectional(GRU, return_sequences, concat) ->
    #    TimeDistributed(Dense) -> Flatten (nnctl's losses take a flat output;
    #    the mse of the flattened sequence is Keras's sequence mse: the mean
    #    over the last axis, then over the batch and the timesteps)
    n, maxlen, vocab, edim, U, out_u = 3, 7, 11, 3, 4, 2
    ids = rng.integers(0, vocab, (n, maxlen)).astype(np.float64)
    yt = f32(rng.normal(0, 1, (n, maxlen, out_u)))
    E = f32(rng.normal(0, 1, (vocab, edim)))
    wf = draw_weights(rng, "gru", edim, U, True, True)
    wb = draw_weights(rng, "gru", edim, U, True, True)
    K2 = f32(rng.normal(0, 0.5, (2 * U, out_u)))
    b2 = f32(rng.normal(0, 0.5, out_u))
    spec = ("model = { input = { shape = [%d]; }; layers = ( "
            '{ type = "embedding"; name = "e"; input_dim = %d; output_dim = %d; }, '
            '{ type = "bidirectional"; name = "b"; layer = { type = "gru"; units = %d; '
            "return_sequences = true; }; }, "
            '{ type = "time_distributed"; name = "t"; layer = { type = "dense"; units = %d; }; }, '
            '{ type = "flatten"; name = "f"; } ); };\n'
            'train = { loss = "mse"; optimizer = { type = "sgd"; lr = %g; }; threads = 1; '
            "seed = 3; };\n" % (maxlen, vocab, edim, U, out_u, lr))
    P = {"e/embeddings": T(E).requires_grad_(True), "t/kernel": T(K2).requires_grad_(True),
         "t/bias": T(b2).requires_grad_(True)}
    for d, ww in (("forward", wf), ("backward", wb)):
        for k, v in ww.items():
            P[f"b/{d}_gru/{k}"] = T(v).requires_grad_(True)
    emb = P["e/embeddings"][torch.tensor(ids.astype(np.int64))]
    yf = rnn_ref("gru", emb, P["b/forward_gru/kernel"], P["b/forward_gru/recurrent_kernel"],
                 P["b/forward_gru/bias"], return_sequences=True)
    yb = rnn_ref("gru", emb, P["b/backward_gru/kernel"], P["b/backward_gru/recurrent_kernel"],
                 P["b/backward_gru/bias"], go_backwards=True, return_sequences=True)
    hseq = torch.cat([yf, torch.flip(yb, [1])], -1)
    o = hseq @ P["t/kernel"] + P["t/bias"]
    # Keras mse: mean over the last axis, then over every other axis
    loss = ((o - T(yt)) ** 2).mean(-1).mean()
    loss.backward()
    case = {"op": "train_step", "spec": spec, "rows": n, "x": flat(ids), "y": flat(yt),
            "weights": {k: flat(v.detach().numpy()) for k, v in P.items()}}
    train_step_check("embedding -> bidirectional(gru) -> time_distributed(dense)", case,
                     float(loss), {k: v.grad.numpy() for k, v in P.items()},
                     {k: (v - lr * v.grad).detach().numpy() for k, v in P.items()})


def train_step_check(label, case, ref_loss, ref_grads, ref_weights, extra=None):
    out = base.nnref_each([case], [f"train_step {label}"])
    r = out[0]
    if r is None:
        return
    compare(f"train_step {label}: loss", r["loss"], ref_loss, rtol=RTOL)
    for key, val in (extra or {}).items():
        compare(f"train_step {label}: {key}", r[key], val, rtol=RTOL)
    for name, g in ref_grads.items():
        compare(f"train_step {label}: gradient {name}", r["grads"].get(name, []), g,
                rtol=RTOL, atol=atol_for(g))
    if set(r["grads"]) != set(ref_grads):
        report(False, f"train_step {label}: trainable parameters",
               f"got {sorted(r['grads'])}, want {sorted(ref_grads)}")
    for name, v in ref_weights.items():
        compare(f"train_step {label}: {name} after the step", r["weights"].get(name, []), v,
                rtol=RTOL, atol=atol_for(v))


# --------------------------------------------------------------------------
# the references themselves, against torch.nn modules and finite differences

def gru_to_torch(M, U):
    """Keras's [z | r | h] blocks -> torch's [r | z | n]: a (in, 3U) matrix
    becomes torch's (3U, in) weight; a (3U) vector is permuted (the swap of
    the first two blocks is its own inverse, so it also maps torch's bias
    gradients back to Keras's order)."""
    if M.dim() == 2:
        return torch.cat([M[:, U:2 * U], M[:, :U], M[:, 2 * U:]], 1).T
    return torch.cat([M[U:2 * U], M[:U], M[2 * U:]])


def self_check_modules(rng):
    tol = dict(rtol=1e-10, atol=1e-12)
    n, steps, F, U = 3, 7, 3, 4
    x = rng.normal(0, 1, (n, steps, F))
    dyseq = rng.normal(0, 1, (n, steps, U))
    for kind, back in (("lstm", False), ("lstm", True), ("gru", False), ("gru", True),
                       ("simple_rnn", False), ("simple_rnn", True)):
        for act in (("tanh", "relu") if kind == "simple_rnn" else ("tanh",)):
            w = draw_weights(rng, kind, F, U, True, True)
            wt = {k: T(v).requires_grad_(True) for k, v in w.items()}
            xt = T(x).requires_grad_(True)
            y = rnn_ref(kind, xt, wt["kernel"], wt["recurrent_kernel"], wt["bias"], act,
                        "sigmoid", back, True, True)
            (y * T(dyseq)).sum().backward()
            if kind == "lstm":
                mod = torch.nn.LSTM(F, U, batch_first=True)
                with torch.no_grad():
                    mod.weight_ih_l0.copy_(wt["kernel"].T)
                    mod.weight_hh_l0.copy_(wt["recurrent_kernel"].T)
                    mod.bias_ih_l0.copy_(wt["bias"])
                    mod.bias_hh_l0.zero_()
            elif kind == "gru":
                mod = torch.nn.GRU(F, U, batch_first=True)
                with torch.no_grad():
                    mod.weight_ih_l0.copy_(gru_to_torch(wt["kernel"], U))
                    mod.weight_hh_l0.copy_(gru_to_torch(wt["recurrent_kernel"], U))
                    mod.bias_ih_l0.copy_(gru_to_torch(wt["bias"][0], U))
                    mod.bias_hh_l0.copy_(gru_to_torch(wt["bias"][1], U))
            else:
                mod = torch.nn.RNN(F, U, nonlinearity=act, batch_first=True)
                with torch.no_grad():
                    mod.weight_ih_l0.copy_(wt["kernel"].T)
                    mod.weight_hh_l0.copy_(wt["recurrent_kernel"].T)
                    mod.bias_ih_l0.copy_(wt["bias"])
                    mod.bias_hh_l0.zero_()
            xm = T(x).requires_grad_(True)
            ym, _ = mod(torch.flip(xm, [1]) if back else xm)
            (ym * T(dyseq)).sum().backward()
            tag = f"reference self-check: {kind} {act}{' go_backwards' if back else ''} vs torch.nn"
            compare(f"{tag} forward", y.detach().numpy(), ym.detach().numpy(), **tol)
            compare(f"{tag} dx", xt.grad.numpy(), xm.grad.numpy(), **tol)
            if kind == "gru":
                gk = mod.weight_ih_l0.grad.T
                gr = mod.weight_hh_l0.grad.T
                gk = torch.cat([gk[:, U:2 * U], gk[:, :U], gk[:, 2 * U:]], 1)
                gr = torch.cat([gr[:, U:2 * U], gr[:, :U], gr[:, 2 * U:]], 1)
                gb = torch.stack([gru_to_torch(mod.bias_ih_l0.grad, U),
                                  gru_to_torch(mod.bias_hh_l0.grad, U)])
            else:
                gk, gr, gb = mod.weight_ih_l0.grad.T, mod.weight_hh_l0.grad.T, \
                    mod.bias_ih_l0.grad
            compare(f"{tag} dkernel", wt["kernel"].grad.numpy(), gk.numpy(), **tol)
            compare(f"{tag} drecurrent_kernel", wt["recurrent_kernel"].grad.numpy(),
                    gr.numpy(), **tol)
            compare(f"{tag} dbias", wt["bias"].grad.numpy(), gb.numpy(), **tol)
            # return_sequences = false is the last output
            ylast = rnn_ref(kind, T(x), wt["kernel"], wt["recurrent_kernel"], wt["bias"], act,
                            "sigmoid", back, False, True)
            compare(f"{tag} last output", ylast.detach().numpy(), ym[:, -1].detach().numpy(),
                    **tol)
    # bidirectional LSTM: torch's backward direction at position t has read
    # x[T-1..t], i.e. Keras's reversed-back backward sequence
    wf = draw_weights(rng, "lstm", F, U, True, True)
    wb = draw_weights(rng, "lstm", F, U, True, True)
    mod = torch.nn.LSTM(F, U, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for sfx, w in (("", wf), ("_reverse", wb)):
            getattr(mod, "weight_ih_l0" + sfx).copy_(T(w["kernel"]).T)
            getattr(mod, "weight_hh_l0" + sfx).copy_(T(w["recurrent_kernel"]).T)
            getattr(mod, "bias_ih_l0" + sfx).copy_(T(w["bias"]))
            getattr(mod, "bias_hh_l0" + sfx).zero_()
    ym, (hn, _) = mod(T(x))
    for ret in (True, False):
        yf = rnn_ref("lstm", T(x), T(wf["kernel"]), T(wf["recurrent_kernel"]), T(wf["bias"]),
                     return_sequences=ret)
        yb = rnn_ref("lstm", T(x), T(wb["kernel"]), T(wb["recurrent_kernel"]), T(wb["bias"]),
                     go_backwards=True, return_sequences=ret)
        if ret:
            y = torch.cat([yf, torch.flip(yb, [1])], -1)
            want = ym
        else:
            y = torch.cat([yf, yb], -1)
            want = torch.cat([hn[0], hn[1]], -1)
        compare(f"reference self-check: bidirectional lstm concat"
                f"{' return_sequences' if ret else ''} vs torch.nn.LSTM(bidirectional)",
                y.detach().numpy(), want.detach().numpy(), **tol)


def self_check_gradcheck(rng):
    """Finite differences (float64) of the hand-written references where torch
    has no module: GRU reset_after = false, hard_sigmoid, relu, no bias."""
    # kind, activation, recurrent activation, reset_after, use_bias
    combos = [("gru", "tanh", "sigmoid", False, True),
              ("gru", "tanh", "hard_sigmoid", False, True),
              ("gru", "relu", "hard_sigmoid", True, True),
              ("lstm", "relu", "hard_sigmoid", True, True),
              ("lstm", "linear", "tanh", True, False),
              ("simple_rnn", "sigmoid", "-", False, True),
              ("gru", "tanh", "sigmoid", True, False)]
    n, steps, F, U = 2, 4, 3, 3
    for kind, act, rec_act, ra, use_bias in combos:
        for _attempt in range(50):
            x = rng.normal(0, 1, (n, steps, F))
            w = draw_weights(rng, kind, F, U, use_bias, ra)
            pre = []
            rnn_ref(kind, T(x), T(w["kernel"]), T(w["recurrent_kernel"]),
                    T(w["bias"]) if use_bias else None, act, rec_act, True, True, ra, pre)
            # finite differences need a wider margin than the float32 check
            if not any(bool(((torch.abs(z - k) > 0) & (torch.abs(z - k) < 1e-2)).any())
                       for nm, z in pre for k in KINKS.get(nm, ())):
                break
        args = [T(x).requires_grad_(True), T(w["kernel"]).requires_grad_(True),
                T(w["recurrent_kernel"]).requires_grad_(True)]
        if use_bias:
            args.append(T(w["bias"]).requires_grad_(True))

        def fn(*a, kind=kind, act=act, rec_act=rec_act, ra=ra):
            return rnn_ref(kind, a[0], a[1], a[2], a[3] if len(a) > 3 else None, act, rec_act,
                           True, True, ra)
        try:
            ok = torch.autograd.gradcheck(fn, tuple(args), eps=1e-6, atol=1e-6, rtol=1e-5)
            detail = ""
        except RuntimeError as exc:
            ok, detail = False, str(exc).splitlines()[0]
        name = kind if kind != "gru" else f"gru(reset_after={bstr(ra)})"
        report(ok, f"reference self-check: {name} {act}/{rec_act}"
                   f"{'' if use_bias else ' no bias'} go_backwards return_sequences "
                   f"autograd = finite differences", detail)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nnref", required=True, help="path to build/tools/nnref")
    ap.add_argument("-v", "--verbose", action="store_true", help="print errors of passing checks")
    ap.add_argument("--only", default="",
                    help="comma-separated subset: self,rnn,inference,bidirectional,td,train")
    args = ap.parse_args()
    base.NNREF = args.nnref
    base.VERBOSE = args.verbose
    only = set(filter(None, args.only.split(",")))

    def want(name):
        return not only or name in only
    rng = np.random.default_rng(20240612)
    # each group draws from its own stream, so --only does not change the data
    seeds = rng.integers(0, 1 << 31, 6)
    if want("self"):
        self_check_modules(np.random.default_rng(seeds[0]))
        self_check_gradcheck(np.random.default_rng(seeds[1]))
    if want("rnn"):
        test_rnn(np.random.default_rng(seeds[2]))
    if want("inference"):
        test_inference(np.random.default_rng(seeds[3]))
    if want("bidirectional"):
        test_bidirectional(np.random.default_rng(seeds[4]))
    if want("td"):
        test_td_embedding(np.random.default_rng(seeds[5]))
    if want("train"):
        test_train_step(np.random.default_rng(seeds[5] + 1))
    print(f"oracle-rnn: {base.passed} passed, {base.failed} failed, 0 skipped")
    return 1 if base.failed else 0


if __name__ == "__main__":
    sys.exit(main())
