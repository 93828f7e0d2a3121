#!/usr/bin/env python3
"""Augmentation oracle: nnctl's data.augment transforms (nn_augment_apply,
through tests/tools/nnref) against Keras 3's ImageDataGenerator.apply_transform
(scipy.ndimage.affine_transform for the geometry, PIL for the brightness) on
the same images and parameters; and data.featurewise_center /
featurewise_std_normalization with data.rescale against
ImageDataGenerator.fit and .standardize.

    KERAS_BACKEND=jax .venv/bin/python tests/oracle/test_augment.py --nnref build/tools/nnref \
        --nnctl build/nnctl

Keras 3 reads its transform matrix in (col, row) order, so nnctl's
(theta, tx, ty, shear, zx, zy) = (rotation, row shift, column shift, shear,
row zoom, column zoom) is Keras's (-theta, ty, tx, shear, zy, zx); every
other parameter (flips, channel shift, brightness, fill_mode, cval) is
passed as is. The images are square: Keras 3 also centres its matrix
with the axes swapped ((w-1)/2 for rows, (h-1)/2 for columns), so it
rotates, shears and zooms a non-square image about a point off its centre
(nnctl uses the centre). fill_mode "wrap" is periodic in nnctl, scipy's
"grid-wrap" (Keras hands "wrap" to scipy, whose "wrap" overlaps the first
and last pixels at the seam), so that case runs Keras's transform with
"grid-wrap". Each case is one 10 x 10 image (gray or RGB, whole
values 0..255 as images are stored, or a float image outside 0..255 for
the brightness stretch), compared to 1e-4 (geometry: bilinear in float) or
exactly (brightness works on whole numbers). 
Featurewise (with --nnctl): nnctl trains on uint8 images with
data.rescale = 1/255 and both featurewise keys (and augmentation, which
Keras standardizes after); the statistics in model.h5 must be those of
ImageDataGenerator(rescale, featurewise_center,
featurewise_std_normalization).fit(x_train); nnctl predict must give Keras's
predict of the same model.h5 on datagen.standardize(x_test), and nnctl eval
Keras's evaluate on it.

Prints one line per case and "augment: N passed, M failed, 0 skipped".
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
from keras.src.legacy.preprocessing.image import ImageDataGenerator  # noqa: E402

warnings.filterwarnings("ignore")
passed = failed = 0


def report(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + name)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, detail))


def keras_params(p):
    """nnctl's parameters as Keras 3's apply_transform takes them."""
    return {"theta": -p.get("theta", 0.0), "tx": p.get("ty", 0.0), "ty": p.get("tx", 0.0),
            "shear": p.get("shear", 0.0), "zx": p.get("zy", 1.0), "zy": p.get("zx", 1.0),
            "flip_horizontal": p.get("flip_h", False), "flip_vertical": p.get("flip_v", False),
            "channel_shift_intensity": p.get("channel_shift"),
            "brightness": p.get("brightness")}


CASES = [
    # (tag, augment settings, params, exact)
    ("rotation 30 (nearest)", 'fill_mode = "nearest";', {"theta": 30.0}, False),
    ("rotation -47 (reflect)", 'fill_mode = "reflect";', {"theta": -47.0}, False),
    ("row and column shifts, fractional (constant 17)", 'fill_mode = "constant"; cval = 17;',
     {"tx": 1.6, "ty": -2.3}, False),
    ("zoom 0.7 rows, 1.3 columns (wrap)", 'fill_mode = "wrap";', {"zx": 0.7, "zy": 1.3}, False),
    ("shear 20", 'fill_mode = "nearest";', {"shear": 20.0}, False),
    ("shear -35 (constant)", 'fill_mode = "constant"; cval = 0;', {"shear": -35.0}, False),
    ("rotation, shifts, shear and zoom together (reflect)", 'fill_mode = "reflect";',
     {"theta": 12.0, "tx": -1.2, "ty": 2.7, "shear": 15.0, "zx": 1.15, "zy": 0.85}, False),
    ("everything with flips and a channel shift (nearest)", 'fill_mode = "nearest";',
     {"theta": -8.0, "tx": 0.5, "shear": -10.0, "zx": 0.9, "flip_h": True, "flip_v": True,
      "channel_shift": 30.0}, False),
    ("brightness 0.6", "", {"brightness": 0.6}, True),
    ("brightness 1.7 (clipped at 255)", "", {"brightness": 1.7}, True),
    ("brightness after flips and a whole channel shift", "",
     {"flip_h": True, "channel_shift": -25.0, "brightness": 1.25}, True),
]


def image(rng, c, stretch=False):
    if stretch:  # values outside 0..255: Keras stretches to 0..255 and back
        return rng.uniform(-40.0, 300.0, (10, 10, c)).astype(np.float32)
    return rng.integers(0, 256, (10, 10, c)).astype(np.float32)


FEATUREWISE_SPEC = """
model: { name = "fw"; input = { shape = [8, 8, 3]; }; layers = (
  { type = "conv2d"; filters = 4; kernel_size = 3; activation = "relu"; },
  { type = "flatten"; },
  { type = "dense"; units = 3; activation = "softmax"; } ); };
data: {
  train = { format = "npy"; x = "fw_x.npy"; y = "fw_y.npy"; };
  test = { format = "npy"; x = "fw_xt.npy"; y = "fw_yt.npy"; };
  rescale = 0.00392156862745098;
  featurewise_center = true;
  featurewise_std_normalization = true;
  augment = { rotation_range = 10.0; shear_range = 10.0; brightness_range = [0.8, 1.2]; };
};
train: { loss = "sparse_categorical_crossentropy"; optimizer = { type = "adam"; lr = 0.01; };
  metrics = ["accuracy"]; epochs = 2; batch_size = 16; seed = 3; };
"""


def featurewise(nnctl):
    import h5py
    import keras
    work = tempfile.mkdtemp(prefix="nnctl-fw.")
    try:
        rng = np.random.default_rng(9)
        # three classes of 8x8 RGB images with different colour statistics
        y = rng.integers(0, 3, 120)
        x = np.clip(rng.normal(60 + 50 * y[:, None, None, None], 40, (120, 8, 8, 3)), 0, 255)
        x = x.astype(np.uint8)
        xt, yt = x[96:], y[96:]
        x, y = x[:96], y[:96]
        for name, v in (("fw_x", x), ("fw_y", y), ("fw_xt", xt), ("fw_yt", yt)):
            np.save(os.path.join(work, name + ".npy"), v)
        with open(os.path.join(work, "fw.cfg"), "w") as f:
            f.write(FEATUREWISE_SPEC)
        env = dict(os.environ, NNCTL_DATA=work)

        def run(*args):
            r = subprocess.run([nnctl] + list(args), cwd=work, capture_output=True, text=True,
                               env=env)
            if r.returncode:
                raise RuntimeError("nnctl %s: %s" % (" ".join(args), r.stderr[-400:]))
            return r.stdout
        run("train", "fw.cfg", "-o", "run", "-q", "--threads", "2")
        gen = ImageDataGenerator(rescale=1.0 / 255, featurewise_center=True,
                                 featurewise_std_normalization=True)
        gen.fit(x.astype(np.float32))
        with h5py.File(os.path.join(work, "run", "model.h5")) as f:
            stored = json.loads(f["nnctl"].attrs["preprocess"])
        m_err = float(np.max(np.abs(np.array(stored["mean"]) - gen.mean.reshape(-1))))
        s_err = float(np.max(np.abs(np.array(stored["std"]) - gen.std.reshape(-1))))
        report(m_err < 1e-5 and s_err < 1e-5,
               "featurewise: the statistics model.h5 keeps are ImageDataGenerator.fit's "
               "(rescale, center, std)", "mean off by %g, std by %g" % (m_err, s_err))
        km = keras.models.load_model(os.path.join(work, "run", "model.h5"))
        xs = gen.standardize(xt.astype(np.float32).copy())
        want = km.predict(xs, verbose=0)
        run("predict", "run/model.h5", "fw_xt.npy", "-o", "p.npy", "--threads", "2")
        got = np.load(os.path.join(work, "p.npy"))
        err = float(np.max(np.abs(got - want)))
        report(err < 1e-4, "featurewise: nnctl predict on raw uint8 images gives Keras's "
               "predict on datagen.standardize(x)", "max difference %g" % err)
        ev = json.loads(run("eval", "run/model.h5", "--json", "--threads", "2"))
        loss = km.evaluate(xs, yt, verbose=0, batch_size=len(yt))
        loss = loss[0] if isinstance(loss, list) else loss
        report(abs(ev["loss"] - loss) <= 1e-4 * abs(loss),
               "featurewise: nnctl eval gives Keras's evaluate on the standardized test set",
               "nnctl %r, Keras %r" % (ev["loss"], loss))
    except Exception as e:  # noqa: BLE001 - reported as a failure
        report(False, "featurewise", "%s: %s" % (type(e).__name__, e))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nnref", required=True)
    ap.add_argument("--nnctl", help="also check featurewise normalization end to end")
    a = ap.parse_args()
    rng = np.random.default_rng(5)
    jobs, refs = [], []
    for tag, settings, params, exact in CASES:
        for c in (1, 3):
            stretches = (False, True) if "brightness" in params and c == 3 else (False,)
            for stretch in stretches:
                x = image(rng, c, stretch)
                fill = "nearest"
                cval = 0.0
                for part in settings.split(";"):
                    k, _, v = part.partition("=")
                    if k.strip() == "fill_mode":
                        fill = v.strip().strip('"')
                    elif k.strip() == "cval":
                        cval = float(v)
                gen = ImageDataGenerator(fill_mode=fill, cval=cval)
                if fill == "wrap":  # nnctl's wrap is periodic: scipy's grid-wrap
                    gen.fill_mode = "grid-wrap"
                want = gen.apply_transform(x.copy(), keras_params(params))
                jobs.append({"op": "augment", "data": "augment = { %s };" % settings,
                             "h": 10, "w": 10, "c": c, "x": [float(v) for v in x.reshape(-1)],
                             "scale": 255.0 if not stretch else 1.0, "params": params})
                refs.append(("%s, %d channel%s%s" % (tag, c, "s" if c > 1 else "",
                                                    ", values outside 0..255" if stretch else ""),
                             want, exact and not stretch))
    r = subprocess.run([a.nnref], input=json.dumps(jobs), capture_output=True, text=True)
    if r.returncode != 0:
        report(False, "nnref", r.stderr.strip()[-500:])
    else:
        for (name, want, exact), got in zip(refs, json.loads(r.stdout)):
            y = np.asarray(got["y"], np.float64).reshape(want.shape)
            err = float(np.max(np.abs(y - want)))
            tol = 0.0 if exact else 1e-4 * max(1.0, float(np.max(np.abs(want))))
            report(err <= tol, "augment " + name, "max difference %g (tolerance %g)" % (err, tol))
    if a.nnctl:
        featurewise(os.path.abspath(a.nnctl))
    print("augment: %d passed, %d failed, 0 skipped" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
