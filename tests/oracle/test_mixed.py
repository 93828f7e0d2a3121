#!/usr/bin/env python3
"""Mixed precision (mixed_bfloat16) checked layer by layer.

    /usr/bin/python3 tests/oracle/test_mixed.py --nnref build/tools/nnref [-v]

Every layer with products (Dense, TimeDistributed(Dense), Conv1D, Conv2D,
SimpleRNN, LSTM, GRU both ways, Bidirectional) runs through nnref's "layer"
op (the REAL engine and model code, forward then backward from a given dy)
twice: in float32 and in mixed_bfloat16. The mixed results (output, dx and
every parameter gradient) are compared with three references:

  1. bf16 emulation, float64 autograd: every product's two operands rounded
     to bf16 (round to nearest even, by torch's own conversion), the
     gradient arriving at every product's output rounded too (the backward
     products read it as bf16), everything else exact. This is what
     mixed_bfloat16 promises, so the match is tight: what is left is the
     order of fp32 accumulation, plus (recurrent layers) the odd hidden
     state that lands on the other side of a bf16 rounding boundary because
     it was computed in fp32 rather than float64.
     Dense/TimeDistributed/Conv: the bias gradient of a convolution is summed
     from the bf16 gradient (oneDNN's backward-weights pass reads it in
     bf16), a Dense bias gradient from the fp32 one.
  2. nnctl's float32 path: the difference is bf16's rounding of the
     operands (8 significant bits, a relative error up to 2^-9 each).
  3. PyTorch 1.13's bf16 autocast (float32 tensors under
     torch.autocast("cpu", torch.bfloat16)) on the same formula: F.linear /
     matmul, F.conv1d / F.conv2d, and the recurrences written with matmuls
     (1.13's CPU autocast runs nn.LSTM and nn.GRU in float32, but casts
     every matmul). Autocast also rounds each product's output to bf16,
     which nnctl keeps in fp32.

Tolerances, normwise (||got - ref|| / ||ref|| over each array):
  op                    emulation   float32 path   torch autocast
  Dense, TimeDistributed   1e-5        1e-2           1.5e-2
  Conv1D, Conv2D           1e-5        1e-2           1.5e-2
  SimpleRNN/LSTM/GRU,
  Bidirectional            5e-4        2e-2           2.5e-2
  (a softmax after a product: 3e-2 against autocast, whose bf16 logits it
  amplifies; nnctl's logits stay fp32)
plus: the mixed result is at least 4 times nearer the emulation than the
float32 path is (so bf16 really ran), and oneDNN ran every product (none
declined to the fp32 fallback).

Layers without products (BatchNormalization, pooling, Activation with
softmax, Dropout, Flatten) must give bit-identical results in both
precisions: their statistics, reductions and softmax stay float32.

On a CPU without bf16 instructions (or with oneDNN held below them,
ONEDNN_MAX_CPU_ISA) nnref reports the layers ran in float32: the test then
checks that each says why and equals the float32 path bit for bit.
Prints one line per check and ends with "mixed: N passed, M failed, 0 skipped".
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_oracle as base  # noqa: E402  (float64 default dtype)
import test_oracle_rnn as rnn  # noqa: E402
from test_oracle import T, f32, flat, keras_act, report  # noqa: E402

TOL = {  # op family -> (emulation, float32 path, torch autocast)
    "dense": (1e-5, 1e-2, 1.5e-2),
    "conv": (1e-5, 1e-2, 1.5e-2),
    "rnn": (5e-4, 2e-2, 2.5e-2),
}
NEARER = 4.0


def q(t):
    """bf16 round to nearest even (torch's conversion), back to float64."""
    return t.to(torch.float32).to(torch.bfloat16).to(torch.float64)


class RoundOperand(torch.autograd.Function):
    """An operand as a bf16 product reads it; the gradient passes as is."""
    @staticmethod
    def forward(ctx, x):
        return q(x)

    @staticmethod
    def backward(ctx, g):
        return g


class RoundGrad(torch.autograd.Function):
    """Identity forward; the gradient rounded to bf16 on its way back into
    the product (which reads it as bf16)."""
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return q(g)


def emu_mm(a, b):
    return RoundGrad.apply(RoundOperand.apply(a) @ RoundOperand.apply(b))


def rel(a, b):
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def arr(values, shape):
    return np.asarray(values, dtype=np.float64).reshape(shape)


# --------------------------------------------------------------------------
# references from a case's own data: forward(x, params, mode) builds the
# graph; mode "emu" (float64, bf16 products), "autocast" (float32 tensors
# under torch's bf16 autocast)

def run_ref(forward, x, params, dy, mode):
    dt = torch.float32 if mode == "autocast" else torch.float64
    xt = torch.tensor(x, dtype=dt, requires_grad=True)
    pt = {k: torch.tensor(v, dtype=dt, requires_grad=True) for k, v in params.items()}
    if mode == "autocast":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = forward(xt, pt, mode)
    else:
        y = forward(xt, pt, mode)
    y64 = y.to(torch.float64)
    (y64 * torch.tensor(dy, dtype=torch.float64)).sum().backward()
    return {"y": y64.detach().numpy(), "dx": xt.grad.to(torch.float64).numpy(),
            "grads": {k: v.grad.to(torch.float64).numpy() for k, v in pt.items()}}


def dense_forward(act, use_bias):
    def fwd(x, p, mode):
        z = emu_mm(x, p["kernel"]) if mode == "emu" else x @ p["kernel"]
        if use_bias:
            z = z + p["bias"]
        return keras_act(act, z)
    return fwd


def conv_forward(rank, kernel, strides, padding, dilation, use_bias, act):
    def fwd(x, p, mode):
        W, b = p["kernel"], p.get("bias")
        if mode == "emu":
            x, W = RoundOperand.apply(x), RoundOperand.apply(W)
        if rank == 2:
            xin = base.pad_nc(x.permute(0, 3, 1, 2), kernel, strides, dilation, padding)
            z = F.conv2d(xin, W.permute(3, 2, 0, 1), b, stride=tuple(strides),
                         dilation=tuple(dilation)).permute(0, 2, 3, 1)
        else:
            xin = base.pad_nc(x.permute(0, 2, 1), kernel, strides, dilation, padding)
            z = F.conv1d(xin, W.permute(2, 1, 0), b, stride=strides[0],
                         dilation=dilation[0]).permute(0, 2, 1)
        if mode == "emu":
            z = RoundGrad.apply(z)  # oneDNN sums the bias gradient from the bf16 one
        return keras_act(act, z)
    return fwd


def rnn_forward(kind, act, rec_act, back, ret, reset_after):
    def fwd(x, p, mode):
        return rnn.rnn_ref(kind, x, p["kernel"], p["recurrent_kernel"], p.get("bias"), act,
                           rec_act, back, ret, reset_after,
                           mm=emu_mm if mode == "emu" else None)
    return fwd


def bidir_forward(kind, mode_merge, ret, act="tanh", rec_act="sigmoid"):
    def fwd(x, p, mode):
        mm = emu_mm if mode == "emu" else None
        outs = []
        for d, back in (("forward", False), ("backward", True)):
            y = rnn.rnn_ref(kind, x, p[f"{d}_{kind}/kernel"], p[f"{d}_{kind}/recurrent_kernel"],
                            p.get(f"{d}_{kind}/bias"), act, rec_act, back, ret, True, mm=mm)
            outs.append(torch.flip(y, [1]) if back and ret else y)
        return rnn.merge_ref(mode_merge, outs[0], outs[1])
    return fwd


# --------------------------------------------------------------------------
# the cases: (family, nnref case, tag, forward, x shape, param shapes)

def dense_case(rng, rows, fin, units, act, use_bias):
    x = f32(rng.normal(0, 1, (rows, fin)))
    w = {"kernel": f32(rng.normal(0, 0.5, (fin, units)))}
    if use_bias:
        w["bias"] = f32(rng.normal(0, 0.5, units))
    dy = f32(rng.normal(0, 1, (rows, units)))
    layer = (f'type = "dense"; units = {units}; activation = "{act}"; '
             f'use_bias = {"true" if use_bias else "false"};')
    case = {"op": "layer", "layer": layer, "input_shape": [fin], "rows": rows, "x": flat(x),
            "dy": flat(dy), "weights": {k: flat(v) for k, v in w.items()}}
    return ("dense", case, f"dense {rows}x{fin}->{units} {act}" + ("" if use_bias else " no bias"),
            dense_forward(act, use_bias), x.shape, {k: v.shape for k, v in w.items()})


def collect(rng):
    C = []
    for rows, fin, units, act, bias in ((7, 10, 6, "linear", True), (3, 33, 17, "relu", True),
                                        (5, 64, 10, "softmax", False)):
        C.append(dense_case(rng, rows, fin, units, act, bias))
    for args in ((2, 3, (7, 9), 3, 5, (3, 3), (1, 1), "valid", (1, 1), True, "linear"),
                 (2, 3, (7, 9), 3, 5, (3, 3), (2, 2), "same", (1, 1), True, "relu"),
                 (2, 3, (7, 9), 3, 5, (2, 4), (1, 1), "same", (2, 2), False, "linear"),
                 (2, 4, (6, 6), 8, 16, (1, 1), (1, 1), "valid", (1, 1), True, "linear"),
                 (1, 3, (11,), 3, 5, (3,), (1,), "valid", (1,), True, "linear"),
                 (1, 3, (11,), 3, 5, (4,), (2,), "same", (1,), False, "relu")):
        got = base.conv_case(rng, *args)
        if got is None:
            continue
        rank, n, spatial, cin, filters, kernel, strides, padding, dilation, bias, act = args
        case, tag = got[0], got[1]
        shapes = {"kernel": tuple(kernel) + (cin, filters)}
        if bias:
            shapes["bias"] = (filters,)
        C.append(("conv", case, tag,
                  conv_forward(rank, kernel, strides, padding, dilation, bias, act),
                  (n,) + tuple(spatial) + (cin,), shapes))
    for kw in (dict(kind="simple_rnn", n=3, steps=7, F=3, U=4),
               dict(kind="lstm", n=3, steps=6, F=5, U=8, ret=True),
               dict(kind="lstm", n=2, steps=5, F=3, U=4, back=True),
               dict(kind="gru", n=3, steps=6, F=4, U=5, ret=True),
               dict(kind="gru", n=3, steps=6, F=4, U=5, reset_after=False)):
        case, tag, _ref = rnn.rnn_case(rng, **kw)
        fwd = rnn_forward(kw["kind"], "tanh", "sigmoid", kw.get("back", False),
                          kw.get("ret", False), kw.get("reset_after", True))
        shapes = {k: tuple(v) for k, v in rnn.param_shapes(kw["kind"], kw["F"], kw["U"], True,
                                                           kw.get("reset_after", True)).items()}
        C.append(("rnn", case, tag, fwd, (kw["n"], kw["steps"], kw["F"]), shapes))
    case, tag, ref = rnn.bidir_case(rng, "lstm", 2, 5, 3, 4, "concat", True)
    C.append(("rnn", case, tag, bidir_forward("lstm", "concat", True), (2, 5, 3),
              {k: np.asarray(v).shape for k, v in ref["grads"].items()}))
    case, tag, ref = rnn.td_case(rng, 3, 4, 6, 5, "linear")
    C.append(("dense", case, tag, dense_forward("linear", True), (3, 4, 6),
              {k: np.asarray(v).shape for k, v in ref["grads"].items()}))
    return C


def check_product_layers(rng):
    C = collect(rng)
    cases = []
    for _fam, case, _tag, _fwd, _xs, _ps in C:
        cases.append(dict(case, precision="float32"))
        cases.append(dict(case, precision="mixed_bfloat16"))
    out = base.nnref(cases)
    if out is None:
        return True
    if out[1].get("precision") != "mixed_bfloat16":
        # no bf16 on this CPU (or oneDNN held below it): every layer says
        # why and runs float32, exactly as the float32 path
        print(f"note: no bf16 here ({out[1].get('why', '?')}): checking the float32 fallback")
        for k, (_fam, _case, tag, _fwd, _xs, _ps) in enumerate(C):
            r32, rmx = out[2 * k], out[2 * k + 1]
            report(rmx.get("precision") == "float32" and bool(rmx.get("why")),
                   f"{tag}: mixed_bfloat16 falls back to float32, saying why",
                   f"ran {rmx.get('precision')}, why {rmx.get('why')!r}")
            report(rmx["y"] == r32["y"] and rmx["dx"] == r32["dx"] and
                   rmx["grads"] == r32["grads"], f"{tag}: the fallback equals the float32 path")
        return True
    for k, (fam, case, tag, fwd, xshape, pshapes) in enumerate(C):
        r32, rmx = out[2 * k], out[2 * k + 1]
        report(rmx["onednn_ran"] > 0 and rmx["onednn_declined"] == 0,
               f"{tag}: oneDNN ran every bf16 product",
               f"ran {rmx['onednn_ran']}, declined {rmx['onednn_declined']}")
        x = arr(case["x"], xshape)
        params = {n: arr(v, pshapes[n]) for n, v in case["weights"].items()}
        yshape = (case["rows"],) + tuple(rmx["y_shape"])
        dy = arr(case["dy"], yshape)
        emu = run_ref(fwd, x, params, dy, "emu")
        auto = run_ref(fwd, x, params, dy, "autocast")
        t_emu, t_32, t_auto = TOL[fam]
        if "softmax" in tag:
            t_auto = 3e-2
        arrays = [("y", rmx["y"], r32["y"], emu["y"], auto["y"]),
                  ("dx", rmx["dx"], r32["dx"], emu["dx"], auto["dx"])]
        for name in params:
            arrays.append((f"d{name}", rmx["grads"][name], r32["grads"][name],
                           emu["grads"][name], auto["grads"][name]))
        for name, mx, f32path, e, a in arrays:
            d_emu, d_32, d_auto = rel(mx, e), rel(mx, f32path), rel(mx, a)
            detail = (f"vs emulation {d_emu:.2e}, vs float32 path {d_32:.2e}, "
                      f"vs torch autocast {d_auto:.2e}")
            report(d_emu <= t_emu, f"{tag} {name}: bf16 emulation (<= {t_emu:g})", detail)
            report(d_32 <= t_32, f"{tag} {name}: float32 path (<= {t_32:g})", detail)
            report(d_auto <= t_auto, f"{tag} {name}: torch bf16 autocast (<= {t_auto:g})",
                   detail)
        # bf16 really ran: the mixed output is nearer the emulation than fp32 is
        d_mx, d_fp = rel(rmx["y"], emu["y"]), rel(r32["y"], emu["y"])
        report(d_fp >= NEARER * d_mx, f"{tag}: output follows bf16, not float32",
               f"mixed {d_mx:.2e} and float32 {d_fp:.2e} from the emulation")
    return True


def check_fp32_layers(rng):
    """Layers without products: bit-identical in both precisions."""
    specs = [
        ('type = "batch_normalization";', [6, 5, 4], {"gamma": [4], "beta": [4],
                                                       "moving_mean": [4],
                                                       "moving_variance": [4]}),
        ('type = "max_pooling2d"; pool_size = 2;', [6, 6, 3], {}),
        ('type = "average_pooling1d"; pool_size = 3; strides = 2;', [9, 4], {}),
        ('type = "activation"; activation = "softmax";', [10], {}),
        ('type = "dropout"; rate = 0.3;', [12], {}),
        ('type = "flatten";', [3, 4, 2], {}),
    ]
    cases, tags = [], []
    for layer, ishape, pshapes in specs:
        rows = 5
        x = f32(rng.normal(0, 1, [rows] + ishape))
        w = {k: f32(rng.uniform(0.5, 1.5, s)) for k, s in pshapes.items()}
        for prec in ("float32", "mixed_bfloat16"):
            cases.append({"op": "layer", "layer": layer, "input_shape": ishape, "rows": rows,
                          "x": flat(x), "weights": {k: flat(v) for k, v in w.items()},
                          "dy": None, "precision": prec, "training": False})
        tags.append(layer.split(";")[0].split('"')[1])
    for k in range(len(tags)):
        c = cases[2 * k]
        dy = flat(f32(rng.normal(0, 1, c["rows"] * int(np.prod(shape_of(c))))))
        cases[2 * k]["dy"] = dy
        cases[2 * k + 1]["dy"] = dy
    out = base.nnref(cases)
    if out is None:
        return
    for k, tag in enumerate(tags):
        a, b = out[2 * k], out[2 * k + 1]
        same = (a["y"] == b["y"] and a["dx"] == b["dx"] and a["grads"] == b["grads"]
                and a["weights_after"] == b["weights_after"])
        report(same, f"{tag}: identical in float32 and mixed_bfloat16 (fp32 ops)")


def shape_of(case):
    """The per-sample output shape of the fp32-only layers above."""
    layer, ishape = case["layer"], case["input_shape"]
    if "max_pooling2d" in layer:
        return [ishape[0] // 2, ishape[1] // 2, ishape[2]]
    if "average_pooling1d" in layer:
        return [(ishape[0] - 3) // 2 + 1, ishape[1]]
    if "flatten" in layer:
        return [int(np.prod(ishape))]
    return ishape


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nnref", required=True)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    base.NNREF = args.nnref
    base.VERBOSE = args.verbose
    rng = np.random.default_rng(19)
    torch.manual_seed(19)
    check_product_layers(rng)
    check_fp32_layers(rng)
    print(f"mixed: {base.passed} passed, {base.failed} failed, 0 skipped")
    return 1 if base.failed else 0


if __name__ == "__main__":
    sys.exit(main())
