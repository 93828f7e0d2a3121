#!/usr/bin/env python3
"""The layers Keras Applications brought in, both ways, against Keras 3 (JAX).

    .venv/bin/python tests/oracle/test_app_layers.py --nnctl build/nnctl [-v]

Keras -> nnctl: small Keras 3 models, each built around one of the layers
or forms (random weights, saved with model.save("x.h5")): Rescaling (one
value, one per channel), Normalization (config statistics, adapted weights),
Dropout with noise_shape, Multiply / Add broadcasting (h, w, c) by (1, 1, c),
Keras 3's operations (x + 3.0, 6.0 - x, x * (1 / 6), x / 2.0, a + b), ReLU6,
hard_silu, gelu, LayerNormalization, ConvNeXt's LayerScale, grouped Conv2D
(one input channel per group, and two), UpSampling2D (nearest and bilinear,
square and not), ZeroPadding2D before each convolution kind (which predict
folds into the convolution's padding) and before pooling (which it must
not), Dense on (h, w, c), a nested
Sequential and a nested Functional model, Sequential([base, head]). nnctl
predict equals model.predict to 1e-5 relative; summary's parameter counts
equal count_params(); the ONNX export in onnxruntime equals Keras.

nnctl -> Keras: an nnctl spec with the same layers, trained one epoch; Keras
3 loads its model.h5 (LayerScale through custom_objects, as Keras needs for
its own ConvNeXt files) and predicts what nnctl predicts.

Prints one line per check and "app-layers: N passed, M failed, K skipped".
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

passed = failed = skipped = 0
NNCTL = WORK = None
verbose = False


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print("ok   " + name)
    except Exception as e:  # noqa: BLE001 - report and go on
        failed += 1
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
    sys.stdout.flush()


def nnctl(*args):
    r = subprocess.run([NNCTL] + [str(a) for a in args], capture_output=True, text=True,
                       cwd=WORK, timeout=600)
    if verbose:
        print("$ nnctl " + " ".join(str(a) for a in args) + "\n" + r.stdout + r.stderr)
    if r.returncode != 0:
        raise RuntimeError("nnctl %s: exit %d: %s" % (args[0], r.returncode, r.stderr.strip()))
    return r


def close(got, want, what="outputs", rtol=1e-5):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise AssertionError("%s: shape %s, expected %s" % (what, got.shape, want.shape))
    scale = max(1.0, float(np.max(np.abs(want))))
    d = float(np.max(np.abs(got - want))) / scale
    if not d <= rtol:
        raise AssertionError("%s: relative difference %.3g > %g" % (what, d, rtol))


def p(name):
    return os.path.join(WORK, name)


def predict(model_file, x, tag):
    np.save(p(tag + "_x.npy"), x.astype(np.float32))
    nnctl("predict", model_file, tag + "_x.npy", "-o", tag + "_y.npy", "--threads", 2)
    return np.load(p(tag + "_y.npy"))


def counts(text):
    got = {}
    for key in ("Total", "Trainable"):
        m = re.search(r"^%s params: ([\d,]+)" % key, text, re.M)
        got[key] = int(m.group(1).replace(",", "")) if m else None
    return got


def keras_models(keras, rng):
    L = keras.layers

    def seq(*layers, shape=(6, 5, 4)):
        return keras.Sequential([keras.Input(shape)] + list(layers))

    def functional_se():
        x = keras.Input((6, 5, 4))
        h = L.Conv2D(8, 3, padding="same")(x)
        s = L.GlobalAveragePooling2D(keepdims=True)(h)
        s = L.Conv2D(8, 1, activation="sigmoid")(s)
        y = L.Multiply()([h, s])  # (6, 5, 8) * (1, 1, 8)
        z = L.Add()([L.Reshape((1, 1, 8))(L.GlobalAveragePooling2D()(y)), y])
        return keras.Model(x, z)

    def functional_ops():
        x = keras.Input((6, 5, 4))
        h = L.Conv2D(4, 3, padding="same")(x)
        hs = L.ReLU(6.0)(h + 3.0) * (1.0 / 6.0)  # MobileNetV3's hard sigmoid
        y = (6.0 - h) / 2.0 + hs * h
        y = L.Activation("hard_silu")(y) + L.Activation("gelu")(h)
        return keras.Model(x, y)

    def nested_functional():
        x = keras.Input((6, 5, 4))
        h = L.Conv2D(6, 3, padding="same", name="inner_conv")(x)
        h = L.BatchNormalization(name="inner_bn")(h)
        inner = keras.Model(x, L.Add(name="inner_add")([h, L.Conv2D(6, 1, name="skip")(x)]),
                            name="block")
        stem = keras.Sequential([keras.Input((6, 5, 6)), L.LayerNormalization(epsilon=1e-6,
                                                                               name="stem_ln"),
                                 L.Conv2D(5, 2, name="stem_conv")], name="stem")
        y = keras.Input((6, 5, 4))
        out = L.GlobalAveragePooling2D()(stem(inner(y)))
        return keras.Model(y, L.Dense(3)(out))

    def base_head():
        base = keras.Sequential([keras.Input((6, 5, 4)), L.Conv2D(6, 3, name="b_conv"),
                                 L.BatchNormalization(name="b_bn"), L.ReLU(6.0)], name="base")
        base.trainable = False
        return keras.Sequential([base, L.GlobalAveragePooling2D(), L.Dense(3, name="head")])

    def adapted_normalization():
        n = L.Normalization(axis=-1)
        n.adapt(rng.normal(2.0, 3.0, (64, 6, 5, 4)).astype("float32"))
        return seq(n, L.Conv2D(3, 3))

    from keras.src.applications.convnext import LayerScale
    return [
        ("Rescaling(1/127.5, -1)", lambda: seq(L.Rescaling(1 / 127.5, offset=-1.0), L.Conv2D(3, 2))),
        ("Rescaling per channel", lambda: seq(L.Rescaling([0.5, 2.0, -1.0, 0.25],
                                                          offset=[1.0, 0.0, 2.0, -3.0]))),
        ("Normalization (config mean/variance)",
         lambda: seq(L.Normalization(mean=[1.0, 2.0, 3.0, 4.0], variance=[4.0, 1.0, 0.25, 9.0]),
                     L.Conv2D(3, 2))),
        ("Normalization (adapted: weights)", adapted_normalization),
        ("Dropout noise_shape (None, 1, 1, 1)",
         lambda: seq(L.Conv2D(4, 3), L.Dropout(0.3, noise_shape=(None, 1, 1, 1)))),
        ("Multiply/Add broadcasting (squeeze-excite)", functional_se),
        ("operations x + 3, 6 - x, x * (1/6), x / 2, a + b; ReLU6, hard_silu, gelu",
         functional_ops),
        ("LayerNormalization, LayerScale, Dense on (h, w, c)",
         lambda: seq(L.LayerNormalization(epsilon=1e-6), L.Dense(7), LayerScale(0.5, 7))),
        ("Conv2D groups = input channels (depthwise)",
         lambda: seq(L.Conv2D(8, 3, groups=4, padding="same"))),
        ("Conv2D groups = 2", lambda: seq(L.Conv2D(6, (3, 2), groups=2, strides=2))),
        ("nested Functional and Sequential models", nested_functional),
        ("Sequential([frozen base model, head])", base_head),
        ("UpSampling2D nearest (3, 2)",
         lambda: seq(L.UpSampling2D((3, 2)), L.Conv2D(3, 3))),
        ("UpSampling2D bilinear 2", lambda: seq(L.UpSampling2D(2, interpolation="bilinear"),
                                                 L.Conv2D(3, 3))),
        ("UpSampling2D bilinear (2, 3)", lambda: seq(L.Conv2D(4, 2),
                                                      L.UpSampling2D((2, 3),
                                                                     interpolation="bilinear"))),
        # predict folds a ZeroPadding2D into the convolution after it (its
        # zeros become the window's padding): uneven sides, strides, 'same'
        # on top, each convolution kind; before pooling it must not fold
        # (padding is never a maximum there, never counted in an average)
        ("ZeroPadding2D ((1, 2), (0, 3)) into Conv2D stride 2, then into 'same' Conv2D",
         lambda: seq(L.ZeroPadding2D(((1, 2), (0, 3))), L.Conv2D(5, 3, strides=2),
                     L.ZeroPadding2D(((2, 0), (1, 1))), L.Conv2D(3, (3, 2), padding="same"),
                     shape=(9, 8, 4))),
        ("ZeroPadding2D into DepthwiseConv2D stride 2, SeparableConv2D, grouped Conv2D",
         lambda: seq(L.ZeroPadding2D(((0, 1), (0, 1))), L.DepthwiseConv2D(3, strides=2),
                     L.ZeroPadding2D(1), L.SeparableConv2D(6, 3),
                     L.ZeroPadding2D(((1, 0), (2, 1))), L.Conv2D(6, 3, groups=2),
                     shape=(10, 9, 4))),
        ("ZeroPadding2D before MaxPooling2D and AveragePooling2D (not folded)",
         lambda: seq(L.Conv2D(4, 1), L.ZeroPadding2D(1), L.MaxPooling2D(2),
                     L.ZeroPadding2D(((0, 1), (1, 0))), L.AveragePooling2D(2),
                     shape=(7, 6, 4))),
    ]


def randomize(keras, model, rng):
    for layer in model.layers:
        for sub in getattr(layer, "layers", [layer]):
            ws = sub.get_weights()
            if not ws or sub.__class__.__name__ == "Normalization":
                continue
            new = [rng.normal(0, 0.4, w.shape).astype(w.dtype) for w in ws]
            if sub.__class__.__name__ == "BatchNormalization":
                new[-1] = np.abs(new[-1]) + 0.5
            sub.set_weights(new)


def keras_to_nnctl(keras, rng):
    import onnxruntime as ort
    custom = {}
    for i, (name, build) in enumerate(keras_models(keras, rng)):
        def run(i=i, build=build):
            keras.utils.set_random_seed(i)
            m = build()
            randomize(keras, m, rng)
            f = "k%d.h5" % i
            m.save(p(f))
            x = rng.uniform(-2, 2, (5,) + tuple(m.input_shape[1:])).astype(np.float32)
            want = m.predict(x, verbose=0)
            close(predict(f, x, "k%d" % i), want)
            got = counts(nnctl("summary", f).stdout)
            trainable = int(sum(np.prod(v.shape) for v in m.trainable_weights))
            if got != {"Total": m.count_params(), "Trainable": trainable}:
                raise AssertionError("summary %s, Keras %d total, %d trainable"
                                     % (got, m.count_params(), trainable))
            nnctl("export", f, "--format", "onnx", "-o", "k%d.onnx" % i)
            s = ort.InferenceSession(p("k%d.onnx" % i))
            close(s.run(None, {s.get_inputs()[0].name: x})[0], want, "onnxruntime", 1e-4)
        check("keras->nnctl %s: predict, parameter counts, ONNX" % name, run)
    return custom


SPEC = """
model: { name = "apps"; input = { shape = [6, 5, 4]; }; layers = (
    { name = "rs"; type = "rescaling"; scale = [0.5, 2.0, -1.0, 0.25]; offset = 0.5; },
    { name = "nm"; type = "normalization"; mean = [1.0, 0.0, -1.0, 2.0]; variance = 2.0; },
    { name = "nw"; type = "normalization"; },
    { name = "c1"; type = "conv2d"; filters = 8; kernel_size = 3; padding = "same"; groups = 4; },
    { name = "up"; type = "up_sampling2d"; size = [2, 3]; interpolation = "bilinear"; },
    { name = "c2"; type = "conv2d"; filters = 8; kernel_size = 3; padding = "same"; groups = 2;
      activation = "hard_silu"; },
    { name = "se"; type = "global_average_pooling2d"; keepdims = true; },
    { name = "se_fc"; type = "conv2d"; filters = 8; kernel_size = 1; activation = "sigmoid"; },
    { name = "ex"; type = "multiply"; inputs = ["c2", "se_fc"]; },
    { name = "dr"; type = "dropout"; rate = 0.2; noise_shape = [1, 1, 1]; },
    { name = "ln"; type = "layer_normalization"; epsilon = 1e-6; },
    { name = "pw"; type = "dense"; units = 8; activation = "gelu"; },
    { name = "ls"; type = "layer_scale"; init_values = 0.1; },
    { name = "res"; type = "add"; inputs = ["ls", "ex"]; },
    { name = "gap"; type = "global_average_pooling2d"; },
    { name = "out"; type = "dense"; units = 3; }
); };
data: { train = { format = "npy"; x = "n_x.npy"; y = "n_y.npy"; };
        test = { format = "npy"; x = "n_x.npy"; y = "n_y.npy"; }; };
train: { loss = "mse"; optimizer = { type = "adam"; lr = 0.01; }; epochs = 1; batch_size = 8;
         seed = 3; };
"""


def nnctl_to_keras(keras, rng):
    from keras.src.applications.convnext import LayerScale

    def run():
        x = rng.uniform(-2, 2, (32, 6, 5, 4)).astype(np.float32)
        np.save(p("n_x.npy"), x)
        np.save(p("n_y.npy"), rng.normal(size=(32, 3)).astype(np.float32))
        with open(p("n.cfg"), "w") as f:
            f.write(SPEC)
        nnctl("train", "n.cfg", "-o", "nrun", "-q", "--threads", 2)
        m = keras.models.load_model(p("nrun/model.h5"), custom_objects={"LayerScale": LayerScale})
        close(m.predict(x[:7], verbose=0), predict("nrun/model.h5", x[:7], "n"), "predictions")
    check("nnctl->keras rescaling, normalization (spec and weights), grouped conv2d, "
          "bilinear up_sampling2d, broadcasting multiply, dropout noise_shape, layer_normalization, dense on (h, w, c), "
          "gelu, layer_scale: Keras loads model.h5 and predicts the same", run)


def main():
    global NNCTL, WORK, verbose
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnctl", required=True)
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    NNCTL, verbose = os.path.abspath(args.nnctl), args.v
    WORK = tempfile.mkdtemp(prefix="nnctl-app-layers.")
    import keras
    rng = np.random.default_rng(5)
    keras_to_nnctl(keras, rng)
    nnctl_to_keras(keras, rng)
    print("app-layers: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
