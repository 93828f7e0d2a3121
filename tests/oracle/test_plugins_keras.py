#!/usr/bin/env python3
"""Keras custom objects as nnctl plugins: a Keras 3 model with a custom
layer (SwishBeta: x * sigmoid(beta x), beta trainable per unit) and a
custom regularizer (OrthogonalPenalty: factor * ||W^T W - I||^2), saved to
.h5, loads in nnctl with the example plugins that implement them and

  - predicts what model.predict does (to 1e-5),
  - evaluates to model.evaluate's loss, the regularization penalty included
    (to 1e-5), so the regularizer's settings came across.

    KERAS_BACKEND=jax test_plugins_keras.py --nnctl build/nnctl --plugins build/plugins

Without the plugins, loading names the class and says to load it with
--plugin. Prints one line per check and "plugins-keras: N passed, M failed, 0 skipped"."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import ops  # noqa: E402


@keras.saving.register_keras_serializable(package="nnctl_test")
class SwishBeta(keras.layers.Layer):
    def __init__(self, initial_beta=1.0, **kw):
        super().__init__(**kw)
        self.initial_beta = initial_beta

    def build(self, shape):
        self.beta = self.add_weight(name="beta", shape=(shape[-1],),
                                    initializer=keras.initializers.Constant(self.initial_beta))

    def call(self, x):
        return x * ops.sigmoid(self.beta * x)

    def get_config(self):
        c = super().get_config()
        c["initial_beta"] = self.initial_beta
        return c


@keras.saving.register_keras_serializable(package="nnctl_test")
class OrthogonalPenalty(keras.regularizers.Regularizer):
    def __init__(self, factor=0.01):
        self.factor = factor

    def __call__(self, w):
        g = ops.matmul(ops.transpose(w), w) - ops.eye(w.shape[1])
        return self.factor * ops.sum(g * g)

    def get_config(self):
        return {"factor": self.factor}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnctl", required=True)
    ap.add_argument("--plugins", required=True)
    a = ap.parse_args()
    nn = os.path.abspath(a.nnctl)
    plugins = ["--plugin", os.path.join(a.plugins, "swish_beta.so"),
               "--plugin", os.path.join(a.plugins, "orthogonal_reg.so")]
    passed = failed = 0

    def check(name, fn):
        nonlocal passed, failed
        try:
            fn()
            passed += 1
            print("ok   " + name)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL {name}: {e}")

    rng = np.random.default_rng(5)
    L = keras.layers
    m = keras.Sequential([keras.Input((6,)),
                          L.Dense(8, kernel_regularizer=OrthogonalPenalty(0.02), name="h"),
                          SwishBeta(initial_beta=0.8, name="sb"),
                          L.Dense(3, activation="softmax", name="out")])
    m.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in m.get_weights()])
    m.compile(loss="categorical_crossentropy", optimizer="sgd")
    with tempfile.TemporaryDirectory() as d:
        os.chdir(d)
        m.save("custom.h5")
        x = rng.normal(size=(40, 6)).astype(np.float32)
        y = rng.integers(0, 3, size=40)
        np.save("x.npy", x)
        np.save("y.npy", y.astype(np.int64))
        with open("data.cfg", "w") as f:
            f.write('data: { test = { format = "npy"; x = "x.npy"; y = "y.npy"; }; one_hot = true; };\n')
        want = m.predict(x, verbose=0)
        loss = m.evaluate(x, keras.utils.to_categorical(y, 3), verbose=0, batch_size=40)

        def predict():
            r = subprocess.run([nn, "predict", "custom.h5", "x.npy", "-o", "got.npy", "--threads",
                                "1"] + plugins, capture_output=True, text=True)
            if r.returncode:
                raise AssertionError(r.stderr)
            got = np.load("got.npy")
            err = float(np.max(np.abs(got - want)))
            if err > 1e-5:
                raise AssertionError(f"max |nnctl - keras| = {err}")

        def evaluate():
            r = subprocess.run([nn, "eval", "custom.h5", "--spec", "data.cfg", "--json",
                                "--threads", "1"] + plugins, capture_output=True, text=True)
            if r.returncode:
                raise AssertionError(r.stderr)
            got = json.loads(r.stdout)["loss"]
            if abs(got - loss) > 1e-5 * max(1.0, abs(loss)):
                raise AssertionError(f"nnctl {got} vs keras {loss}")
            # the penalty is part of it: without it the loss differs
            pen = float(ops.convert_to_numpy(m.losses[0]))
            if pen < 1e-3:
                raise AssertionError(f"the penalty is too small to tell ({pen})")

        def without():
            r = subprocess.run([nn, "predict", "custom.h5", "x.npy"], capture_output=True,
                               text=True)
            if r.returncode == 0 or "--plugin" not in r.stderr or not (
                    "SwishBeta" in r.stderr or "OrthogonalPenalty" in r.stderr):
                raise AssertionError(f"exit {r.returncode}: {r.stderr}")

        check("Keras 3 custom layer and regularizer in .h5: nnctl predict (with the plugins) "
              "equals model.predict to 1e-5", predict)
        check("... and nnctl eval's loss equals model.evaluate's, the custom penalty included",
              evaluate)
        check("... and without the plugins, loading names the class and says --plugin", without)
    print(f"plugins-keras: {passed} passed, {failed} failed, 0 skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
