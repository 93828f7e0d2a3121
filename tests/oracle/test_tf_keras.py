#!/usr/bin/env python3
"""Keras 2 oracle: files written by tf-keras (the Keras 2 API, its HDF5
writer: weight names "dense/kernel:0", batch_input_shape, nested
inbound_nodes, training_config) load in nnctl with the same predictions, and
tf-keras loads nnctl's model files with the same predictions.

    TF_USE_LEGACY_KERAS=1 .venv-tf/bin/python tests/oracle/test_tf_keras.py --nnctl build/nnctl

Needs tf-keras and tensorflow-cpu (scripts/oracle-venv --tf makes .venv-tf),
numpy. Everything is generated here: models with random weights (set with
set_weights), inputs drawn with a fixed seed. Outputs must agree to 1e-5
relative plus 1e-6 of the largest magnitude. Mixed precision: a model nnctl
trained with train.precision = "mixed_bfloat16" loads with
Policy("mixed_bfloat16") on every layer, and a tf-keras model built under
that policy loads in nnctl with each layer's policy (nnctl's predictions
within bf16's reach of tf-keras's: 2e-2 normwise). Prints one line per check and
"tf-keras: N passed, M failed, 0 skipped"; exits 1 when M > 0.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import logging  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402
from tf_keras import layers as L  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accuracy_cases  # noqa: E402

logging.getLogger("tensorflow").setLevel(logging.ERROR)
warnings.filterwarnings("ignore")  # "HDF5 is legacy": that is the format under test

RTOL = 1e-5
N = 7
passed = failed = 0
NNCTL = TMP = None


def report(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok    {name}")
    else:
        failed += 1
        print(f"FAIL  {name}: {detail}")


def nnctl(*args):
    r = subprocess.run([NNCTL] + list(args), capture_output=True, text=True,
                       env=dict(os.environ, NNCTL_DATA=TMP))
    if r.returncode != 0:
        raise RuntimeError(f"nnctl {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()[-400:]}")
    return r.stdout


def compare(name, got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return report(False, name, f"shape {got.shape}, want {want.shape}")
    tol = RTOL * np.abs(want) + 1e-6 * max(float(np.max(np.abs(want))), 1e-3)
    err = np.abs(got - want)
    worst = float(np.max(err / np.maximum(np.abs(want), 1e-12)))
    report(bool(np.all(err <= tol)), name, f"worst relative error {worst:.3g}")


def randomize(model, rng):
    ws = []
    for w in model.weights:
        v = rng.normal(0, 0.5, w.shape).astype(np.float32)
        if "moving_variance" in w.name:
            v = rng.uniform(0.5, 2.0, w.shape).astype(np.float32)
        ws.append(v)
    model.set_weights(ws)


def models():
    """(name, build, input shape, integer inputs below) for every layer type."""
    def mlp():
        return keras.Sequential([L.Dense(16, activation="relu", input_shape=(12,)),
                                 L.Dropout(0.3), L.BatchNormalization(),
                                 L.Dense(8, activation="tanh"), L.Activation("sigmoid"),
                                 L.Dense(4, activation="softmax")])

    def cnn2d():
        return keras.Sequential([
            L.Conv2D(6, 3, padding="same", activation="relu", input_shape=(11, 9, 2)),
            L.Conv2D(5, (2, 3), strides=2, activation="elu"), L.MaxPooling2D(2, padding="same"),
            L.SeparableConv2D(4, 2, padding="same", depth_multiplier=2),
            L.DepthwiseConv2D(2, activation="relu"), L.AveragePooling2D((2, 1)),
            L.Flatten(), L.Dense(3)])

    def cnn1d():
        return keras.Sequential([L.Conv1D(5, 3, dilation_rate=2, input_shape=(13, 3)),
                                 L.MaxPooling1D(2), L.Conv1D(4, 2, padding="same"),
                                 L.GlobalAveragePooling1D(), L.Dense(2)])

    def functional():
        x = keras.Input((6,))
        a = L.Dense(5, activation="relu", name="a")(x)
        b = L.Dense(5, name="b")(x)
        s = L.Add()([a, b])
        m = L.Maximum()([a, b])
        c = L.Concatenate()([s, m, L.Multiply()([a, b])])
        return keras.Model(x, L.Dense(3, activation="softmax")(c))

    def recurrent():
        return keras.Sequential([
            L.LSTM(6, return_sequences=True, input_shape=(5, 3)),
            L.GRU(5, reset_after=False, return_sequences=True),
            L.Bidirectional(L.GRU(4, return_sequences=True, go_backwards=False), merge_mode="sum"),
            L.TimeDistributed(L.Dense(3, activation="relu")),
            L.Bidirectional(L.LSTM(3)), L.Dense(2)])

    def simple():
        return keras.Sequential([L.SimpleRNN(4, return_sequences=True, go_backwards=True,
                                             input_shape=(6, 2)),
                                 L.GRU(3), L.Dense(2, activation="softmax")])

    def embedding():
        return keras.Sequential([L.Embedding(20, 4, input_length=7), L.LSTM(5),
                                 L.Dense(3, activation="softmax")])

    def upsampling():
        return keras.Sequential([L.UpSampling2D((2, 3), input_shape=(5, 4, 3)),
                                 L.Conv2D(4, 3, activation="relu"),
                                 L.UpSampling2D(2, interpolation="bilinear"), L.Conv2D(2, 2)])

    return [("mlp", mlp, (12,), None), ("cnn2d", cnn2d, (11, 9, 2), None),
            ("cnn1d", cnn1d, (13, 3), None), ("functional", functional, (6,), None),
            ("recurrent", recurrent, (5, 3), None), ("simple_rnn", simple, (6, 2), None),
            ("embedding", embedding, (7,), 20), ("upsampling", upsampling, (5, 4, 3), None)]


def keras2_to_nnctl(rng):
    for name, build, shape, ids in models():
        try:
            m = build()
            randomize(m, rng)
            m.compile(loss="mse", optimizer="adam")
            f = os.path.join(TMP, f"k2_{name}.h5")
            m.save(f)
            x = (rng.integers(0, ids, (N,) + shape) if ids else
                 rng.normal(0, 1, (N,) + shape)).astype(np.float32)
            np.save(os.path.join(TMP, "x.npy"), x)
            nnctl("predict", f, os.path.join(TMP, "x.npy"), "-o", os.path.join(TMP, "y.npy"))
            compare(f"tf-keras {keras.__version__} {name} -> nnctl predict",
                    np.load(os.path.join(TMP, "y.npy")), m.predict(x, verbose=0))
        except Exception as e:  # noqa: BLE001 - a failure of this check, reported
            report(False, f"tf-keras {name} -> nnctl", str(e))


SPECS = {
    "mlp_bn": ("input = { shape = [10]; }; layers = ( { type = \"dense\"; units = 12; "
               "activation = \"relu\"; }, { type = \"batch_normalization\"; }, "
               "{ type = \"dropout\"; rate = 0.2; }, "
               "{ type = \"dense\"; units = 3; activation = \"softmax\"; } );", (10,)),
    "conv": ("input = { shape = [8, 8, 1]; }; layers = ( { type = \"conv2d\"; filters = 4; "
             "kernel_size = 3; padding = \"same\"; activation = \"relu\"; }, "
             "{ type = \"max_pooling2d\"; pool_size = 2; }, { type = \"separable_conv2d\"; "
             "filters = 3; kernel_size = 2; }, { type = \"flatten\"; }, "
             "{ type = \"dense\"; units = 3; activation = \"softmax\"; } );", (8, 8, 1)),
    "upsampling": ("input = { shape = [5, 4, 2]; }; layers = ( { type = \"up_sampling2d\"; "
                   "size = [3, 2]; interpolation = \"bilinear\"; }, { type = \"conv2d\"; "
                   "filters = 3; kernel_size = 3; }, { type = \"up_sampling2d\"; }, "
                   "{ type = \"flatten\"; }, { type = \"dense\"; units = 3; } );", (5, 4, 2)),
    "rnn": ("input = { shape = [6, 3]; }; layers = ( { type = \"bidirectional\"; layer = "
            "{ type = \"gru\"; units = 4; return_sequences = true; }; }, "
            "{ type = \"lstm\"; units = 4; go_backwards = true; }, "
            "{ type = \"dense\"; units = 3; activation = \"softmax\"; } );", (6, 3)),
}


def nnctl_to_keras2(rng):
    for name, (model, shape) in SPECS.items():
        try:
            x = rng.normal(0, 1, (64,) + shape).astype(np.float32)
            y = rng.integers(0, 3, 64).astype(np.int64)
            np.save(os.path.join(TMP, f"{name}_x.npy"), x)
            np.save(os.path.join(TMP, f"{name}_y.npy"), y)
            cfg = os.path.join(TMP, f"{name}.cfg")
            with open(cfg, "w") as f:
                f.write(f"model: {{ {model} }};\n"
                        f"data: {{ train = {{ format = \"npy\"; x = \"{name}_x.npy\"; "
                        f"y = \"{name}_y.npy\"; }}; }};\n"
                        "train: { loss = \"sparse_categorical_crossentropy\"; "
                        "optimizer = \"adam\"; epochs = 2; batch_size = 16; seed = 2; };\n")
            run = os.path.join(TMP, f"run_{name}")
            nnctl("train", cfg, "--quiet", "--run-dir", run)
            xs = x[:N]
            np.save(os.path.join(TMP, "x.npy"), xs)
            nnctl("predict", os.path.join(run, "model.h5"), os.path.join(TMP, "x.npy"), "-o",
                  os.path.join(TMP, "y.npy"))
            m = keras.models.load_model(os.path.join(run, "model.h5"), compile=False)
            compare(f"nnctl {name} -> tf-keras load_model", m.predict(xs, verbose=0),
                    np.load(os.path.join(TMP, "y.npy")))
        except Exception as e:  # noqa: BLE001
            report(False, f"nnctl {name} -> tf-keras", str(e))


def keras2_app_forms(rng):
    """What Keras Applications files from tf-keras hold besides plain layers:
    layer names with '/' (DenseNet's conv1/conv, stored as nested groups) both
    ways; Keras 2's InceptionResNetV2 residual Lambda (inputs[0] + inputs[1]
    * scale, read from its bytecode, never run) and a Lambda computing
    something else, which nnctl must refuse."""
    def lam(fn):
        x = keras.Input((5, 4, 3))
        a = L.Conv2D(3, 1, name="conv1/conv")(x)
        a = L.BatchNormalization(name="conv1/bn")(a)
        b = L.Conv2D(3, 3, padding="same", name="branch/conv")(x)
        y = L.Lambda(fn, output_shape=(5, 4, 3), arguments={"scale": 0.17}, name="block35_1")([a, b])
        return keras.Model(x, L.Dense(2, name="head")(y))

    x = rng.normal(0, 1, (N, 5, 4, 3)).astype(np.float32)
    np.save(os.path.join(TMP, "x.npy"), x)
    try:
        m = lam(lambda inputs, scale: inputs[0] + inputs[1] * scale)
        randomize(m, rng)
        f = os.path.join(TMP, "k2_lambda.h5")
        m.save(f)
        nnctl("predict", f, os.path.join(TMP, "x.npy"), "-o", os.path.join(TMP, "y.npy"))
        compare("tf-keras names with '/' and InceptionResNetV2's residual Lambda -> nnctl predict",
                np.load(os.path.join(TMP, "y.npy")), m.predict(x, verbose=0))
    except Exception as e:  # noqa: BLE001
        report(False, "tf-keras residual Lambda -> nnctl", str(e))
    m = lam(lambda inputs, scale: inputs[0] - inputs[1] * scale)
    f = os.path.join(TMP, "k2_lambda_sub.h5")
    m.save(f)
    r = subprocess.run([NNCTL, "summary", f], capture_output=True, text=True)
    report(r.returncode == 1 and "Lambda" in r.stderr and "block35_1" in r.stderr,
           "tf-keras Lambda computing inputs[0] - inputs[1] * scale: nnctl refuses it (exit 1, "
           "naming the layer)", f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
    try:
        cfg = os.path.join(TMP, "slash.cfg")
        np.save(os.path.join(TMP, "s_x.npy"), rng.normal(0, 1, (32, 5, 4, 3)).astype(np.float32))
        np.save(os.path.join(TMP, "s_y.npy"), rng.integers(0, 3, 32).astype(np.int64))
        with open(cfg, "w") as fh:
            fh.write('model: { input = { shape = [5, 4, 3]; }; layers = ( '
                     '{ name = "conv1/conv"; type = "conv2d"; filters = 4; kernel_size = 3; }, '
                     '{ name = "conv1/bn"; type = "batch_normalization"; }, '
                     '{ name = "pool/gap"; type = "global_average_pooling2d"; }, '
                     '{ name = "head"; type = "dense"; units = 3; activation = "softmax"; } ); };\n'
                     'data: { train = { format = "npy"; x = "s_x.npy"; y = "s_y.npy"; }; };\n'
                     'train: { loss = "sparse_categorical_crossentropy"; optimizer = "adam"; '
                     'epochs = 1; batch_size = 8; seed = 2; };\n')
        run = os.path.join(TMP, "run_slash")
        nnctl("train", cfg, "--quiet", "--run-dir", run)
        nnctl("predict", os.path.join(run, "model.h5"), os.path.join(TMP, "x.npy"), "-o",
              os.path.join(TMP, "y.npy"))
        m = keras.models.load_model(os.path.join(run, "model.h5"), compile=False)
        compare("nnctl names with '/' (conv1/conv) -> tf-keras load_model",
                m.predict(x, verbose=0), np.load(os.path.join(TMP, "y.npy")))
    except Exception as e:  # noqa: BLE001
        report(False, "nnctl names with '/' -> tf-keras", str(e))


def keras2_losses(rng):
    """Keras 2's loss objects and names (the training_config tf-keras writes)
    give nnctl eval tf-keras's evaluate: Huber with its delta (which Keras 3
    drops when saving), KLDivergence, LogCosh, Poisson, CategoricalHinge,
    CosineSimilarity, and Keras 2's names kld, logcosh, huber_loss; and the
    activations tf-keras has of Keras 3's new ones (relu6, mish, silu,
    exponential) by name."""
    n = 48
    x = rng.normal(0, 1, (n, 6)).astype(np.float32)
    soft = rng.uniform(0.05, 1, (n, 4)).astype(np.float32)
    soft /= soft.sum(-1, keepdims=True)
    reals = rng.normal(0, 2, (n, 4)).astype(np.float32)
    counts = rng.integers(0, 4, (n, 4)).astype(np.float32)
    onehot = np.eye(4, dtype=np.float32)[rng.integers(0, 4, n)]
    np.save(os.path.join(TMP, "l_x.npy"), x)
    cases = [("Huber(delta=2.5)", keras.losses.Huber(delta=2.5), "linear", reals),
             ("huber_loss", "huber_loss", "linear", reals),
             ("KLDivergence", keras.losses.KLDivergence(), "softmax", soft),
             ("kld", "kld", "softmax", soft),
             ("LogCosh", keras.losses.LogCosh(), "linear", reals),
             ("logcosh", "logcosh", "linear", reals),
             ("Poisson", keras.losses.Poisson(), "exponential", counts),
             ("CategoricalHinge", keras.losses.CategoricalHinge(), "linear", onehot),
             ("CosineSimilarity", keras.losses.CosineSimilarity(), "linear", reals)]
    for tag, loss, out, y in cases:
        try:
            m = keras.Sequential([L.Dense(6, activation="relu6", input_shape=(6,)),
                                  L.Dense(6, activation="mish"), L.Dense(6, activation="silu"),
                                  L.Dense(4, activation=out)])
            randomize(m, rng)
            m.compile(loss=loss, optimizer="adam")
            f = os.path.join(TMP, "l_model.h5")
            m.save(f)
            np.save(os.path.join(TMP, "l_y.npy"), y)
            with open(os.path.join(TMP, "l_data.cfg"), "w") as fh:
                fh.write('data: { test = { format = "npy"; x = "l_x.npy"; y = "l_y.npy"; }; };\n')
            got = json.loads(nnctl("eval", f, "--spec", os.path.join(TMP, "l_data.cfg"),
                                   "--json"))["loss"]
            compare(f"tf-keras loss {tag} -> nnctl eval", got, m.evaluate(x, y, verbose=0,
                                                                         batch_size=n))
        except Exception as e:  # noqa: BLE001
            report(False, f"tf-keras loss {tag} -> nnctl", str(e))


def mixed_policies(rng):
    try:
        x = rng.normal(0, 1, (32, 12)).astype(np.float32)
        np.save(os.path.join(TMP, "mx_x.npy"), x)
        np.save(os.path.join(TMP, "mx_y.npy"), rng.integers(0, 3, 32).astype(np.int64))
        cfg = os.path.join(TMP, "mx.cfg")
        with open(cfg, "w") as f:
            f.write('model: { name = "mx"; input = { shape = [12]; }; layers = ( { type = "dense"; '
                    'units = 8; activation = "relu"; }, { type = "dense"; units = 3; '
                    'activation = "softmax"; } ); };\n'
                    'data: { train = { format = "npy"; x = "mx_x.npy"; y = "mx_y.npy"; }; };\n'
                    'train: { loss = "sparse_categorical_crossentropy"; optimizer = "adam"; '
                    'epochs = 1; batch_size = 16; precision = "mixed_bfloat16"; };\n')
        run = os.path.join(TMP, "run_mx")
        nnctl("train", cfg, "--quiet", "--run-dir", run)
        m = keras.models.load_model(os.path.join(run, "model.h5"), compile=False)
        pol = [(l.dtype_policy.name, l.compute_dtype, l.variable_dtype) for l in m.layers]
        report(all(p == ("mixed_bfloat16", "bfloat16", "float32") for p in pol),
               "nnctl mixed_bfloat16 -> tf-keras load_model: Policy mixed_bfloat16 on every layer",
               str(pol))
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        try:
            k = keras.Sequential([keras.Input((12,)), L.Dense(8, activation="tanh"),
                                  L.Dense(3, activation="softmax", dtype="float32")])
        finally:
            keras.mixed_precision.set_global_policy("float32")
        randomize(k, rng)
        k.save(os.path.join(TMP, "tfmixed.h5"))
        np.save(os.path.join(TMP, "x.npy"), x[:N])
        nnctl("predict", os.path.join(TMP, "tfmixed.h5"), os.path.join(TMP, "x.npy"), "-o",
              os.path.join(TMP, "y.npy"))
        want = np.asarray(k.predict(x[:N], verbose=0), np.float64)
        got = np.load(os.path.join(TMP, "y.npy")).astype(np.float64)
        err = float(np.linalg.norm(got - want) / np.linalg.norm(want))
        report(err <= 2e-2, "tf-keras mixed_bfloat16 model -> nnctl predict (bf16's reach)",
               f"relative error {err:.3g}")
    except Exception as e:  # noqa: BLE001
        report(False, "mixed_bfloat16 models between nnctl and tf-keras", str(e))


def main():
    global NNCTL, TMP
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nnctl", required=True)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    NNCTL = os.path.abspath(a.nnctl)
    TMP = tempfile.mkdtemp(prefix="nnctl-tfkeras-")
    rng = np.random.default_rng(7)
    try:
        keras2_to_nnctl(rng)
        nnctl_to_keras2(rng)
        keras2_app_forms(rng)
        keras2_losses(rng)
        # "accuracy" for every loss and output width, as tf-keras's evaluate
        accuracy_cases.run(keras, NNCTL, TMP, lambda ok, name, detail: report(ok, name, detail))
        mixed_policies(rng)
    finally:
        if not a.keep:
            shutil.rmtree(TMP, ignore_errors=True)
    print(f"tf-keras: {passed} passed, {failed} failed, 0 skipped")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
