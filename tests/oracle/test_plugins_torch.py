#!/usr/bin/env python3
"""The example plugins against PyTorch on the same inputs: the orthogonal
regularizer (penalty and gradient) and the swish_beta layer (output,
input gradient, beta's gradient), inside one training step that nnref
runs through nnctl's own session, passes and penalties (op train_step).

    test_plugins_torch.py --nnref build/tools/nnref --plugins build/plugins

PyTorch computes the same network by autograd, written here from the
formulas (examples/plugins/*.c say what each plugin computes):
    penalty = factor * ||W^T W - I||_F^2,   swish_beta(x) = x * sigmoid(beta x).
Prints one line per check and "plugins-torch: N passed, M failed, 0 skipped"."""
import argparse
import json
import subprocess
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)


def nnref(exe, case):
    p = subprocess.run([exe], input=json.dumps(case).encode(), capture_output=True)
    if p.returncode:
        raise RuntimeError(p.stderr.decode())
    return json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnref", required=True)
    ap.add_argument("--plugins", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(11)
    rows, n_in, hid, out = 8, 6, 5, 3
    factor, factor_act = 0.03, 0.01
    spec = f"""
plugins = ["{a.plugins}/swish_beta.so", "{a.plugins}/orthogonal_reg.so"];
model = {{ input = {{ shape = [{n_in}]; }}; layers = (
  {{ type = "dense"; name = "h"; units = {hid};
     kernel_regularizer = {{ type = "orthogonal"; factor = {factor}; }}; }},
  {{ type = "swish_beta"; name = "sb"; }},
  {{ type = "dense"; name = "o"; units = {out};
     activity_regularizer = {{ type = "orthogonal"; factor = {factor_act}; }}; }} ); }};
train = {{ loss = "mse"; optimizer = {{ type = "sgd"; lr = 0.1; }}; }};
"""
    w = {
        "h/kernel": rng.normal(0, 0.5, (n_in, hid)),
        "h/bias": rng.normal(0, 0.1, hid),
        "sb/beta": rng.uniform(-1.5, 2.0, hid),
        "o/kernel": rng.normal(0, 0.5, (hid, out)),
        "o/bias": rng.normal(0, 0.1, out),
    }
    x = rng.normal(0, 1, (rows, n_in))
    y = rng.normal(0, 1, (rows, out))
    w32 = {k: v.astype(np.float32) for k, v in w.items()}
    res = nnref(a.nnref, {"op": "train_step", "spec": spec, "rows": rows,
                          "weights": {k: v.ravel().tolist() for k, v in w32.items()},
                          "x": x.astype(np.float32).ravel().tolist(),
                          "y": y.astype(np.float32).ravel().tolist()})
    # PyTorch, from the same float32 values
    t = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in w32.items()}
    xt = torch.tensor(x.astype(np.float32).astype(np.float64))
    yt = torch.tensor(y.astype(np.float32).astype(np.float64))

    def ortho(m, f):
        g = m.T @ m - torch.eye(m.shape[1])
        return f * (g * g).sum()

    h = xt @ t["h/kernel"] + t["h/bias"]
    s = h * torch.sigmoid(t["sb/beta"] * h)
    o = s @ t["o/kernel"] + t["o/bias"]
    data = ((o - yt) ** 2).mean()
    weight_pen = ortho(t["h/kernel"], factor)
    # an activity penalty on the (rows, units) output, divided by the batch size (Keras 2)
    act_pen = ortho(o, factor_act) / rows
    loss = data + weight_pen + act_pen
    loss.backward()

    passed = failed = 0

    def check(name, got, want, tol):
        nonlocal passed, failed
        got, want = np.asarray(got, float), np.asarray(want, float)
        err = np.max(np.abs(got - want) / (np.abs(want) + 1e-3)) if want.size else 0.0
        if err <= tol:
            passed += 1
            print(f"ok   {name} (max rel err {err:.2e})")
        else:
            failed += 1
            print(f"FAIL {name}: max rel err {err:.3e} > {tol}\n  nnctl {got.ravel()[:6]}\n  torch {want.ravel()[:6]}")

    check("orthogonal: the weight penalty", res["weight_penalty"], weight_pen.item(), 1e-5)
    check("orthogonal: the activity penalty", res["activity_penalty"], act_pen.item(), 1e-5)
    check("loss: data + penalties", res["loss"], loss.item(), 1e-5)
    for k in w:
        check(f"gradient of {k} (swish_beta's dx and dbeta, orthogonal's gradient inside)",
              res["grads"][k], t[k].grad.numpy().ravel(), 2e-5)
    print(f"plugins-torch: {passed} passed, {failed} failed, 0 skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
