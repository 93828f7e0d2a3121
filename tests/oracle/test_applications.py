#!/usr/bin/env python3
"""Keras Applications oracle: every family Keras builds, loaded by nnctl.

    .venv/bin/python tests/oracle/test_applications.py --nnctl build/nnctl \
        [--tf .venv-tf/bin/python] [--full] [--only NAME,...] [--cache DIR] [-v]

For each family, Keras 3 (JAX backend) builds the network with
weights=None (seeded random weights, BatchNormalization's moving statistics
drawn too, so that inference normalization is exercised) at a small input
size the family allows and a small width where it has one (alpha), 10
classes, and saves it with model.save("x.h5"); it predicts 2 random
images, and a mid-network layer's output. nnctl then must:
  * summary: the same total and trainable parameter counts as Keras;
  * predict -o: the outputs to 1e-4 relative (the largest difference over
    the largest magnitude);
  * predict --layer NAME -o: that layer's activations, to 1e-4 relative;
  * export --format onnx: onnxruntime's outputs to 1e-4 relative of Keras's
    (when onnxruntime is importable).
With --tf, tf-keras (Keras 2, .venv-tf) does the same for each family it
has, and its .h5 files go through the same checks.

Families whose layers nnctl lacks (NOT_YET below, with what they need)
are listed on "note" lines, not counted (a missing feature is not a check
the machine could not run; tests/README.md); --all builds and checks them
too.

The default set is one network per family at the smallest settings (the
variants of a family differ only in widths and repeats: VGG16, ResNet50,
ResNet50V2, InceptionV3, InceptionResNetV2, Xception, MobileNet,
MobileNetV2, MobileNetV3Small, DenseNet121, EfficientNetB0,
EfficientNetV2B0, NASNetMobile, ConvNeXtTiny); --full adds every other
variant (ResNet101/152, VGG19, DenseNet169/201, ...), for a run by hand.
Generated files are cached in --cache (default $TMPDIR/nnctl-apps-<hash of
this script and the Keras version>), so the plain and sanitizer runs of one
`make check` build the networks once.
Prints one line per check and "applications: N passed, M failed, 0 skipped".
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")

# name, input side, extra keyword arguments (small widths where the family has them)
FAMILIES = [
    ("VGG16", 32, {}),
    ("ResNet50", 32, {}),
    ("ResNet50V2", 32, {}),
    ("InceptionV3", 75, {}),
    ("InceptionResNetV2", 75, {}),
    ("Xception", 71, {}),
    ("MobileNet", 32, {"alpha": 0.25}),
    ("MobileNetV2", 32, {"alpha": 0.35}),
    ("MobileNetV3Small", 32, {"alpha": 0.75, "minimalistic": False}),
    ("DenseNet121", 32, {}),
    ("EfficientNetB0", 32, {}),
    ("EfficientNetV2B0", 32, {}),
    ("NASNetMobile", 32, {}),
    ("ConvNeXtTiny", 32, {}),
]
# The families nnctl cannot load yet, and the Keras layers they need that it
# lacks: a "note" line, not counted (see above), unless --all, which builds and
# checks them too.
NOT_YET = {}
# tf-keras files nnctl cannot load yet although the Keras 3 ones load
NOT_YET_TF = {}
# tf-keras only: InceptionResNetV2 as Keras 2 up to 2.12 built it, each residual
# joined by layers.Lambda(lambda inputs, scale: inputs[0] + inputs[1] * scale)
# (tf-keras 2.13+ writes its CustomScaleLayer instead)
TF_EXTRA = [("InceptionResNetV2", 75, {"_lambda": True})]
FULL = [
    ("VGG19", 32, {}), ("ResNet101", 32, {}), ("ResNet152", 32, {}),
    ("ResNet101V2", 32, {}), ("ResNet152V2", 32, {}), ("DenseNet169", 32, {}),
    ("DenseNet201", 32, {}), ("MobileNetV3Large", 32, {}),
    ("EfficientNetB1", 32, {}), ("EfficientNetB2", 32, {}), ("EfficientNetB3", 32, {}),
    ("EfficientNetB4", 32, {}), ("EfficientNetB5", 32, {}), ("EfficientNetB6", 32, {}),
    ("EfficientNetB7", 32, {}), ("EfficientNetV2B1", 32, {}), ("EfficientNetV2B2", 32, {}),
    ("EfficientNetV2B3", 32, {}), ("EfficientNetV2S", 32, {}), ("EfficientNetV2M", 32, {}),
    ("EfficientNetV2L", 32, {}), ("NASNetLarge", 32, {}), ("ConvNeXtSmall", 32, {}),
    ("ConvNeXtBase", 32, {}), ("ConvNeXtLarge", 32, {}), ("ConvNeXtXLarge", 32, {}),
]

GEN = r'''
import json, os, sys
import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
which, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
if which == "keras3":
    os.environ["KERAS_BACKEND"] = "jax"
    import keras
    from keras import applications as A
else:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tf_keras as keras
    from tf_keras import applications as A
specs = json.loads(names[0])
for name, side, kw in specs:
    lam = kw.pop("_lambda", False)
    path = os.path.join(out, "%s-%s%s" % (which, name, "-lambda" if lam else ""))
    if lam:  # Keras 2's residual join: a Lambda holding Python code
        import tf_keras.src.applications.inception_resnet_v2 as irv2
        irv2.CustomScaleLayer = lambda scale: keras.layers.Lambda(
            lambda inputs, scale: inputs[0] + inputs[1] * scale, arguments={"scale": scale})
    if os.path.exists(path + ".done"):
        continue
    if not hasattr(A, name):
        open(path + ".absent", "w").close()
        continue
    keras.utils.set_random_seed(1)
    try:
        m = getattr(A, name)(weights=None, input_shape=(side, side, 3), classes=10, **kw)
    except Exception as e:  # a size or option this version refuses
        with open(path + ".absent", "w") as f:
            f.write(str(e))
        continue
    r = np.random.default_rng(2)
    for layer in m.layers:  # BatchNormalization's statistics away from 0 and 1
        if layer.__class__.__name__ == "BatchNormalization":
            w = layer.get_weights()
            k = len(w)
            w[k - 2] = r.normal(0, 0.2, w[k - 2].shape).astype("float32")
            w[k - 1] = r.uniform(0.5, 1.5, w[k - 1].shape).astype("float32")
            layer.set_weights(w)
    x = r.uniform(0, 255, (2, side, side, 3)).astype("float32")
    y = m.predict(x, verbose=0)
    mid = [l for l in m.layers[len(m.layers) // 2:] if len(l.output.shape) == 4][0]
    feats = keras.Model(m.inputs, mid.output).predict(x, verbose=0)
    # each file written aside and renamed: two test runs may share the cache
    tmp = "%s.tmp%d" % (path, os.getpid())
    m.save(tmp + ".h5")
    os.replace(tmp + ".h5", path + ".h5")
    for tag, arr in (("x", x), ("y", y), ("f", feats)):
        np.save(tmp + ".npy", arr)
        os.replace(tmp + ".npy", "%s-%s.npy" % (path, tag))
    trainable = int(sum(np.prod(v.shape) for v in m.trainable_weights))
    with open(tmp + ".json", "w") as f:
        json.dump({"layer": mid.name, "total": int(m.count_params()), "trainable": trainable}, f)
    os.replace(tmp + ".json", path + ".json")
    open(path + ".done", "w").close()
    print("built", which, name, flush=True)
'''

passed = failed = 0


def check(ok, what, detail="", measured=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + what + (" (%s)" % measured if measured else ""))
    else:
        failed += 1
        print("FAIL " + what + (": " + detail if detail else ""))
    sys.stdout.flush()


def rel(a, b):
    if a.shape != b.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(b))), 1e-30)
    return float(np.max(np.abs(a.astype(np.float64) - b))) / scale


def seen(a, b):
    """What an ok line reports: the largest absolute and relative difference."""
    return "max abs difference %.2g, relative %.2g" % (
        float(np.max(np.abs(a.astype(np.float64) - b))), rel(a, b))


def params(text):
    got = {}
    for key in ("Total", "Trainable"):
        m = re.search(r"^%s params: ([\d,]+)" % key, text, re.M)
        got[key.lower()] = int(m.group(1).replace(",", "")) if m else None
    return got


def run_nnctl(nnctl, *args):
    p = subprocess.run([nnctl, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr.strip()


def check_file(nnctl, path, tag, tmp):
    with open(path + ".json") as f:
        meta = json.load(f)
    h5 = path + ".h5"
    rc, out, err = run_nnctl(nnctl, "summary", h5)
    if rc != 0:
        check(False, "%s: loads" % tag, err.splitlines()[-1] if err else "exit %d" % rc)
        return
    got = params(out)
    check(got["total"] == meta["total"] and got["trainable"] == meta["trainable"],
          "%s: summary's parameter counts equal Keras's (%d total, %d trainable)" %
          (tag, meta["total"], meta["trainable"]), "nnctl: %s" % got)
    y = os.path.join(tmp, "y.npy")
    rc, _, err = run_nnctl(nnctl, "predict", h5, path + "-x.npy", "-o", y, "--threads", "2")
    d = rel(np.load(y), np.load(path + "-y.npy")) if rc == 0 else None
    check(rc == 0 and d <= 1e-4, "%s: predictions equal Keras's to 1e-4 relative" % tag,
          err if rc else "relative difference %.3g" % d,
          seen(np.load(y), np.load(path + "-y.npy")) if rc == 0 and d < 1 else "")
    rc, _, err = run_nnctl(nnctl, "predict", h5, path + "-x.npy", "--layer", meta["layer"], "-o",
                           y, "--threads", "2")
    d = rel(np.load(y), np.load(path + "-f.npy")) if rc == 0 else None
    check(rc == 0 and d <= 1e-4,
          "%s: --layer %s features equal Keras's to 1e-4 relative" % (tag, meta["layer"]),
          err if rc else "relative difference %.3g" % d,
          seen(np.load(y), np.load(path + "-f.npy")) if rc == 0 and d < 1 else "")
    try:
        import onnxruntime as ort
    except ImportError:
        return
    onnx = os.path.join(tmp, "m.onnx")
    rc, _, err = run_nnctl(nnctl, "export", h5, "--format", "onnx", "-o", onnx)
    if rc != 0:
        check(False, "%s: exports to ONNX" % tag, err)
        return
    sess = ort.InferenceSession(onnx)
    x = np.load(path + "-x.npy")
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    d = rel(got, np.load(path + "-y.npy"))
    check(d <= 1e-4, "%s: its ONNX export in onnxruntime equals Keras to 1e-4 relative" % tag,
          "relative difference %.3g" % d, seen(got, np.load(path + "-y.npy")) if d < 1 else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnctl", required=True)
    ap.add_argument("--tf", default=None, help="the Python of .venv-tf (tf-keras)")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--all", action="store_true", help="also the families in NOT_YET")
    ap.add_argument("--only", default=None)
    ap.add_argument("--cache", default=None)
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    nnctl = os.path.abspath(args.nnctl)
    fams = FAMILIES + (FULL if args.full else [])
    skipped = 0
    if not args.all:
        for f in fams:
            if f[0] in NOT_YET:
                # not a skip (tests/README.md): a feature nnctl lacks, not a
                # check the machine could not run
                print("note %s: not checked, nnctl lacks %s" % (f[0], NOT_YET[f[0]]))
        fams = [f for f in fams if f[0] not in NOT_YET]
    if args.only:
        keep = set(args.only.split(","))
        fams = [f for f in fams if f[0] in keep]
    import keras  # the version names the cache
    key = hashlib.sha256(open(__file__, "rb").read() + keras.__version__.encode()).hexdigest()
    cache = args.cache or os.path.join(tempfile.gettempdir(), "nnctl-apps-" + key[:12])
    os.makedirs(cache, exist_ok=True)
    gens = [("keras3", sys.executable)] + ([("tfkeras", args.tf)] if args.tf else [])
    for which, py in gens:
        env = dict(os.environ, KERAS_BACKEND="jax", TF_USE_LEGACY_KERAS="1")
        todo = [f for f in fams if which != "tfkeras" or args.all or f[0] not in NOT_YET_TF]
        if which == "tfkeras":
            todo += [f for f in TF_EXTRA if not args.only or f[0] in args.only.split(",")]
        p = subprocess.run([py, "-c", GEN, which, cache, json.dumps(todo)], env=env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            check(False, "%s builds the networks" % which, p.stderr[-2000:])
    tmp = tempfile.mkdtemp(prefix="nnctl-apps.")
    for which, _ in gens:
        extra = [f for f in TF_EXTRA if not args.only or f[0] in args.only.split(",")]
        for name, side, kw in fams + (extra if which == "tfkeras" else []):
            lam = kw.get("_lambda", False)
            path = os.path.join(cache, "%s-%s%s" % (which, name, "-lambda" if lam else ""))
            tag = "%s %s %dx%d%s" % ("Keras 3" if which == "keras3" else "tf-keras", name, side,
                                     side, "".join(" %s=%s" % kv for kv in kw.items()
                                                   if kv[0] != "_lambda"))
            if lam:
                tag += " (Keras 2's residual Lambda layers)"
            if which == "tfkeras" and name in NOT_YET_TF and not args.all:
                print("note %s: not checked, nnctl lacks %s" % (tag, NOT_YET_TF[name]))
                continue
            if os.path.exists(path + ".absent"):
                print("---- %s: not in this Keras (%s)" % (tag, open(path + ".absent").read()[:200]))
                continue
            if not os.path.exists(path + ".done"):
                check(False, "%s: built" % tag, "no file in %s" % cache)
                continue
            check_file(nnctl, path, tag, tmp)
    print("applications: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
