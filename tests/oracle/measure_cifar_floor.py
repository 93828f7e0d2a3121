#!/usr/bin/env python3
"""Measures the CIFAR-10 accuracy floor that tests/integration/cifar-augment.sh
holds nnctl to: the same small convolutional network, trained the same way
on the same images, by Keras 3 and by nnctl, over several seeds.

    KERAS_BACKEND=jax .venv/bin/python tests/oracle/measure_cifar_floor.py \
        --nnctl build/nnctl [--seeds 1,2,3] [--keras-only]

Data: the first N_TRAIN records of data_batch_1.bin of $NNCTL_DATA's
cifar-10-binary.tar.gz (written to one batch file that nnctl reads with
format "cifar10", files = [...], and Keras reads with numpy), scaled by
1/255; the test set is the archive's 10000 test images. Network:
Conv2D(16, 3, relu) - MaxPool(2) - Conv2D(32, 3, relu) - MaxPool(2) -
Flatten - Dense(64, relu) - Dense(10, softmax); Adam(1e-3), batch 32,
EPOCHS epochs, sparse categorical cross-entropy, shuffled each epoch.

Not part of the suite (Keras training is slow on 2 cores); its output and
the floor chosen from it are recorded in cifar-augment.sh.
"""
import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402

N_TRAIN = 2000
EPOCHS = 3

SPEC = """model: {{
  name = "cifar_floor";
  input = {{ shape = [32, 32, 3]; }};
  layers = (
    {{ type = "conv2d"; filters = 16; kernel_size = 3; activation = "relu"; }},
    {{ type = "max_pooling2d"; pool_size = 2; }},
    {{ type = "conv2d"; filters = 32; kernel_size = 3; activation = "relu"; }},
    {{ type = "max_pooling2d"; pool_size = 2; }},
    {{ type = "flatten"; }},
    {{ type = "dense"; units = 64; activation = "relu"; }},
    {{ type = "dense"; units = 10; activation = "softmax"; }}
  );
}};
data: {{
  train = {{ format = "cifar10"; files = ["{sub}"]; }};
  test  = {{ format = "cifar10"; path = "{archive}"; part = "test"; }};
  scale = 255.0;
}};
train: {{
  loss = "sparse_categorical_crossentropy";
  optimizer = {{ type = "adam"; lr = 0.001; }};
  metrics = ["accuracy"];
  epochs = {epochs};
  batch_size = 32;
  seed = {seed};
}};
"""


def records(archive, member, n):
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            if m.name.endswith(member):
                return t.extractfile(m).read(None if n is None else n * 3073)
    raise SystemExit("no %s in %s" % (member, archive))


def to_xy(raw):
    r = np.frombuffer(raw, np.uint8).reshape(-1, 3073)
    x = r[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 255.0
    return x, r[:, 0].astype(np.int32)


def keras_run(seed, x, y, xt, yt):
    import keras
    from keras import layers as L
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input((32, 32, 3)), L.Conv2D(16, 3, activation="relu"),
                          L.MaxPooling2D(2), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                          L.Flatten(), L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")])
    m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    m.fit(x, y, batch_size=32, epochs=EPOCHS, shuffle=True, verbose=0)
    return float(m.evaluate(xt, yt, batch_size=500, verbose=0)[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnctl")
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--keras-only", action="store_true")
    a = ap.parse_args()
    data = os.environ.get("NNCTL_DATA", "../shared/datasets")
    archive = os.path.abspath(os.path.join(data, "cifar-10-binary.tar.gz"))
    seeds = [int(s) for s in a.seeds.split(",")]
    raw = records(archive, "data_batch_1.bin", N_TRAIN)
    x, y = to_xy(raw)
    xt, yt = to_xy(records(archive, "test_batch.bin", None))
    out = {"n_train": N_TRAIN, "epochs": EPOCHS, "keras": {}, "nnctl": {}}
    for s in seeds:
        out["keras"][s] = keras_run(s, x, y, xt, yt)
        print("keras %s seed %d: test accuracy %.4f" % (__import__("keras").__version__, s,
                                                         out["keras"][s]), flush=True)
    if a.nnctl and not a.keras_only:
        w = tempfile.mkdtemp(prefix="nnctl-cifar-floor.")
        open(os.path.join(w, "sub.bin"), "wb").write(raw)
        for s in seeds:
            with open(os.path.join(w, "s.cfg"), "w") as f:
                f.write(SPEC.format(sub="sub.bin", archive=archive, epochs=EPOCHS, seed=s))
            subprocess.run([os.path.abspath(a.nnctl), "train", "s.cfg", "-o", "run%d" % s, "-q"],
                           cwd=w, check=True, env=dict(os.environ, NNCTL_DATA=w))
            acc = json.load(open(os.path.join(w, "run%d" % s, "eval.json")))["accuracy"]
            out["nnctl"][s] = acc
            print("nnctl seed %d: test accuracy %.4f" % (s, acc), flush=True)
    for who in ("keras", "nnctl"):
        v = list(out[who].values())
        if v:
            print("%s: mean %.4f, min %.4f, max %.4f over %d seeds" % (who, np.mean(v), min(v), max(v), len(v)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
