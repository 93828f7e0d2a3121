#!/usr/bin/env python3
"""Image oracle: nnctl's JPEG/PNG decoding and resizing against Pillow.

    .venv/bin/python tests/oracle/test_images.py --build build [--nnctl build/nnctl] [-v]

Needs Pillow and numpy (scripts/oracle-venv puts them in .venv). Images are
made here with Pillow (a smooth picture with fine detail and noise, so the
decoders and filters have work to do): baseline JPEG at quality 75 and 95
with 4:2:0, 4:2:2 and 4:4:4 chroma, progressive, optimized, grayscale,
restart markers, odd sizes; PNG gray and RGB.
  * decode: build/tools/image_dump's pixels equal Pillow's Image.open
    exactly (Pillow's bundled libjpeg-turbo and Debian's give the same
    integer IDCT and upsampling);
  * EXIF: for each orientation 1..8 the pixels equal
    PIL.ImageOps.exif_transpose's (the photo comes out upright);
  * resize: to larger, smaller and mixed sizes, equal to keras.utils.load_img
    (target_size, interpolation="bilinear"), which is Pillow's
    resize(BILINEAR), within 1 level (0 expected: the same fixed-point
    arithmetic), and with crop to load_img(keep_aspect_ratio=True); gray
    from RGB as Image.convert("L");
  * errors: a truncated JPEG and a CMYK JPEG are refused by nnctl predict
    with the file named and exit status 1; a JPEG predict runs with
    --resize and --crop end to end; an image folder of mixed JPEG and PNG
    sizes evaluates with image_size;
  * data.preprocess "caffe", "tf", "torch": the model's input activations
    (predict --layer) equal keras.applications.imagenet_utils.
    preprocess_input's, and data.scale other than 1 is refused.
Prints one line per check and "images: N passed, M failed, 0 skipped".
"""
import argparse
import io
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageOps

passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + what)
    else:
        failed += 1
        print("FAIL " + what + (": " + detail if detail else ""))


def picture(h, w, seed):
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([
        127 + 100 * np.sin(x / 7.0 + seed) * np.cos(y / 11.0),
        127 + 90 * np.cos((x + y) / 5.0),
        (x * 255.0 / max(w - 1, 1)),
    ], axis=-1)
    img += r.normal(0, 12, img.shape)
    img[h // 3:h // 2, w // 4:w // 2] = [250, 10, 30]  # a hard edge
    return np.clip(img, 0, 255).astype(np.uint8)


def dump(tool, path, *extra):
    out = path + ".npy"
    p = subprocess.run([tool, path, out, *map(str, extra)], capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr.strip()
    return np.load(out), ""


def compare(a, b):
    if a is None or b is None or a.shape != b.shape:
        return None
    return int(np.max(np.abs(a.astype(np.int32) - b.astype(np.int32)))) if a.size else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--nnctl", default=None)
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    tool = os.path.abspath(os.path.join(args.build, "tools", "image_dump"))
    nnctl = os.path.abspath(args.nnctl or os.path.join(args.build, "nnctl"))
    if not os.access(tool, os.X_OK):
        print("images: %s is missing (make %s)" % (tool, tool))
        return 2
    tmp = tempfile.mkdtemp(prefix="nnctl-images.")

    def arr_of(img):
        a = np.asarray(img)
        return a[..., None] if a.ndim == 2 else a

    # ---- decoding ----------------------------------------------------
    cases = [
        ("baseline q95 4:4:4", (61, 83), dict(quality=95, subsampling=0)),
        ("baseline q75 4:2:0", (64, 96), dict(quality=75, subsampling=2)),
        ("baseline q90 4:2:2 odd size", (37, 51), dict(quality=90, subsampling=1)),
        ("progressive q85", (80, 60), dict(quality=85, progressive=True)),
        ("progressive optimized 4:2:0", (57, 71), dict(quality=80, progressive=True,
                                                       optimize=True, subsampling=2)),
        ("optimized huffman", (48, 48), dict(quality=90, optimize=True)),
        ("restart markers", (70, 90), dict(quality=90, restart_marker_blocks=2)),
    ]
    for i, (name, (h, w), kw) in enumerate(cases):
        p = os.path.join(tmp, "c%d.jpg" % i)
        Image.fromarray(picture(h, w, i)).save(p, "JPEG", **kw)
        got, err = dump(tool, p)
        want = arr_of(Image.open(p).convert("RGB"))
        d = compare(got, want)
        check(d == 0, "jpeg %s: pixels equal Pillow's" % name,
              err or "max difference %s" % d)
    p = os.path.join(tmp, "gray.jpg")
    Image.fromarray(picture(45, 67, 9)).convert("L").save(p, "JPEG", quality=90)
    got, err = dump(tool, p)
    d = compare(got, arr_of(Image.open(p)))
    check(d == 0 and got.shape[2] == 1, "jpeg grayscale: one channel, pixels equal Pillow's",
          err or "max difference %s" % d)
    for mode in ("RGB", "L"):
        p = os.path.join(tmp, "x_%s.png" % mode)
        Image.fromarray(picture(33, 44, 3)).convert(mode).save(p)
        got, err = dump(tool, p)
        d = compare(got, arr_of(Image.open(p)))
        check(d == 0, "png %s: pixels equal Pillow's" % mode, err or "max difference %s" % d)

    # ---- EXIF orientation ---------------------------------------------
    base = Image.fromarray(picture(40, 64, 5))
    for o in range(1, 9):
        p = os.path.join(tmp, "exif%d.jpg" % o)
        ex = Image.Exif()
        ex[0x0112] = o
        base.save(p, "JPEG", quality=95, exif=ex.tobytes())
        got, err = dump(tool, p)
        want = arr_of(ImageOps.exif_transpose(Image.open(p)).convert("RGB"))
        d = compare(got, want)
        check(d == 0, "exif orientation %d: upright as exif_transpose (%s)" %
              (o, "x".join(map(str, want.shape[:2]))), err or "max difference %s" % d)

    # ---- resize (Keras's load_img is Pillow's resize) -------------------
    try:
        os.environ.setdefault("KERAS_BACKEND", "jax")
        from keras.utils import load_img
    except Exception:  # the same call Keras makes
        def load_img(path, target_size=None, interpolation="bilinear", keep_aspect_ratio=False,
                     color_mode="rgb"):
            img = Image.open(path).convert("L" if color_mode == "grayscale" else "RGB")
            w, h = img.size
            tw, th = target_size[1], target_size[0]
            if not keep_aspect_ratio:
                return img.resize((tw, th), Image.BILINEAR)
            ch, cw = min(h, (w * th) // tw), min(w, (h * tw) // th)
            y0, x0 = (h - ch) // 2, (w - cw) // 2
            return img.resize((tw, th), Image.BILINEAR, box=[x0, y0, x0 + cw, y0 + ch])
        print("(keras not importable: Pillow's resize as load_img calls it)")
    src = os.path.join(tmp, "big.png")
    Image.fromarray(picture(150, 210, 11)).save(src)
    srcj = os.path.join(tmp, "big.jpg")
    Image.fromarray(picture(150, 210, 12)).save(srcj, "JPEG", quality=90)
    for path in (src, srcj):
        kind = path.rsplit(".", 1)[1]
        for (h, w) in [(32, 32), (224, 224), (75, 300), (150, 100), (7, 3), (150, 210)]:
            for crop in (False, True):
                for gray in (False, True):
                    extra = [h, w] + (["crop"] if crop else []) + (["gray"] if gray else [])
                    got, err = dump(tool, path, *extra)
                    want = arr_of(load_img(path, target_size=(h, w), interpolation="bilinear",
                                           keep_aspect_ratio=crop,
                                           color_mode="grayscale" if gray else "rgb"))
                    d = compare(got, want)
                    what = "%s %dx%d -> %dx%d%s%s" % (kind, 150, 210, h, w,
                                                     " crop" if crop else "",
                                                     " gray" if gray else "")
                    check(d is not None and d <= 1, "resize %s: within 1 level of load_img" %
                          what, err or "max difference %s" % d)
                    if args.v and d:
                        print("   (max difference %d)" % d)

    # ---- errors and predict ------------------------------------------
    good = os.path.join(tmp, "c0.jpg")
    with open(good, "rb") as f:
        data = f.read()
    trunc = os.path.join(tmp, "trunc.jpg")
    with open(trunc, "wb") as f:
        f.write(data[: len(data) // 2])
    _, err = dump(tool, trunc)
    check("truncated" in err and trunc in err, "a truncated JPEG is refused, naming the file",
          err)
    cmyk = os.path.join(tmp, "cmyk.jpg")
    Image.fromarray(picture(20, 20, 1)).convert("CMYK").save(cmyk, "JPEG")
    _, err = dump(tool, cmyk)
    check("CMYK" in err and cmyk in err, "a CMYK JPEG is refused, naming the file", err)
    notjpg = os.path.join(tmp, "text.jpg")
    with open(notjpg, "w") as f:
        f.write("not an image\n")
    _, err = dump(tool, notjpg)
    check(notjpg in err and "JPEG" in err, "a text file named .jpg is refused", err)

    if os.access(nnctl, os.X_OK):
        spec = os.path.join(tmp, "m.cfg")
        with open(spec, "w") as f:
            f.write('model: { input = { shape = [16, 16, 3]; }; layers = ('
                    '{ type = "global_average_pooling2d"; },'
                    '{ type = "dense"; units = 3; activation = "softmax"; }); };\n'
                    'data: { train = { format = "npy"; x = "%s"; y = "%s"; }; scale = 255.0; };\n'
                    'train: { loss = "sparse_categorical_crossentropy"; epochs = 1; batch_size = 4;'
                    ' optimizer = { type = "sgd"; lr = 0.01; }; };\n' %
                    (os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")))
        np.save(os.path.join(tmp, "x.npy"), np.zeros((8, 16, 16, 3), np.uint8))
        np.save(os.path.join(tmp, "y.npy"), np.arange(8) % 3)
        r = subprocess.run([nnctl, "train", spec, "--quiet", "--run-dir",
                            os.path.join(tmp, "run")], capture_output=True, text=True, cwd=tmp)
        model = os.path.join(tmp, "run", "model.h5")
        if r.returncode != 0:
            check(False, "a small model trains for the predict checks", r.stderr)
        else:
            for flags in (["--resize"], ["--crop"]):
                r = subprocess.run([nnctl, "predict", model, good, srcj, "--json"] + flags,
                                   capture_output=True, text=True)
                check(r.returncode == 0 and r.stdout.count('"input"') == 2,
                      "predict on JPEGs with %s" % flags[0], r.stderr.strip())
            r = subprocess.run([nnctl, "predict", model, good], capture_output=True, text=True)
            check(r.returncode == 2 and "--resize" in r.stderr,
                  "predict refuses a JPEG of another size without --resize", r.stderr.strip())
            r = subprocess.run([nnctl, "predict", model, trunc, "--resize"], capture_output=True,
                               text=True)
            check(r.returncode == 1 and trunc in r.stderr and "truncated" in r.stderr,
                  "predict: a truncated JPEG is exit 1 naming the file", r.stderr.strip())
            # data.preprocess: Keras's preprocess_input modes, read back as the
            # model input's activations
            x = np.random.default_rng(3).integers(0, 256, (3, 16, 16, 3)).astype(np.uint8)
            xp = os.path.join(tmp, "px.npy")
            np.save(xp, x)
            try:
                from keras.applications.imagenet_utils import preprocess_input
            except Exception:
                preprocess_input = None
            for mode in ("caffe", "tf", "torch"):
                out = os.path.join(tmp, "pre_%s.npy" % mode)
                r = subprocess.run([nnctl, "predict", model, xp, "--set", "data.scale=1",
                                    "--set", 'data.preprocess="%s"' % mode, "--layer", "input_1",
                                    "-o", out], capture_output=True, text=True)
                if r.returncode != 0 or preprocess_input is None:
                    check(r.returncode == 0, "data.preprocess %s runs" % mode, r.stderr.strip())
                    continue
                want = preprocess_input(x.astype(np.float32), mode=mode)
                d = float(np.max(np.abs(np.load(out) - want)))
                check(d <= 1e-5, "data.preprocess %s equals keras preprocess_input" % mode,
                      "max difference %g" % d)
            r = subprocess.run([nnctl, "predict", model, xp, "--set",
                                'data.preprocess="caffe"'], capture_output=True, text=True)
            check(r.returncode == 2 and "data.scale must be 1" in r.stderr,
                  "data.preprocess with data.scale 255 is refused (exit 2)", r.stderr.strip())
            # an image folder of JPEGs and PNGs of mixed sizes, resized
            root = os.path.join(tmp, "folder")
            for k, cls in enumerate(["cat", "dog"]):
                os.makedirs(os.path.join(root, cls))
                for j in range(3):
                    im = Image.fromarray(picture(20 + 7 * j, 30 + 5 * k, 20 + j + 3 * k))
                    im.save(os.path.join(root, cls, "%d.%s" % (j, "jpg" if j % 2 else "png")))
            r = subprocess.run([nnctl, "eval", model, "--set", 'data.test.format="image_folder"',
                                "--set", 'data.test.path="%s"' % root,
                                "--set", "data.test.image_size=[16, 16]", "--json"],
                               capture_output=True, text=True, cwd=tmp)
            check(r.returncode == 0 and '"samples": 6' in r.stdout.replace(" ", " "),
                  "eval on an image folder of mixed JPEG/PNG sizes with image_size",
                  (r.stderr + r.stdout).strip()[:400])
    print("images: %d passed, %d failed, 0 skipped" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
