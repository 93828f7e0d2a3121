#!/usr/bin/env python3
"""Writes the fuzz targets' seed files (tests/fuzz/corpus/<target>/) from
real producers, so the fuzzers start from what users' files look like:

  basic   (/usr/bin/python3: numpy, h5py, tarfile, csv; $NNCTL for runs)
          npy: arrays np.save wrote (every dtype nnctl reads, format 2.0,
          fortran order, 0-d, empty); csv/tokens: files csv.writer and
          print wrote (with the option byte the targets read first); cifar:
          tar archives tarfile wrote (ustar, GNU, pax; gzipped or not) of
          real CIFAR-10 records ($NNCTL_DATA's archive); rundir, sweep,
          resume: the files of real nnctl runs, a real sweep and a real
          checkpoint's training state
  keras3  (.venv: Keras 3) model .h5 files (Keras's legacy HDF5 writer) and
          model.to_json()/training_config text for keras_json
  keras2  (.venv-tf: tf-keras) the same from Keras 2

    tests/fuzz/make-seeds            (runs all three with the right Python)

Every file is small (the targets' -max_len); names say what they hold.
"""
import csv
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def out(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    mode = "wb" if isinstance(data, (bytes, bytearray)) else "w"
    with open(os.path.join(d, name), mode) as f:
        f.write(data)


def npy_bytes(a, version=None):
    import numpy as np
    b = io.BytesIO()
    if version:
        np.lib.format.write_array(b, a, version=version)
    else:
        np.save(b, a)
    return b.getvalue()


def basic():
    import numpy as np
    r = np.random.default_rng(3)
    # ---- npy
    out("npy", "f4-6x4.npy", npy_bytes(r.normal(size=(6, 4)).astype("<f4")))
    out("npy", "f8-5x3.npy", npy_bytes(r.normal(size=(5, 3))))
    out("npy", "u1-images-4x5x5.npy", npy_bytes(r.integers(0, 256, (4, 5, 5)).astype("|u1")))
    out("npy", "u1-rgb-2x3x3x3.npy", npy_bytes(r.integers(0, 256, (2, 3, 3, 3)).astype("|u1")))
    out("npy", "i4-labels-7.npy", npy_bytes(r.integers(0, 3, 7).astype("<i4")))
    out("npy", "i8-labels-7x1.npy", npy_bytes(r.integers(0, 5, (7, 1)).astype("<i8")))
    out("npy", "f4-targets-7.npy", npy_bytes(r.normal(size=7).astype("<f4")))
    out("npy", "f4-v2-3x2.npy", npy_bytes(r.normal(size=(3, 2)).astype("<f4"), (2, 0)))
    out("npy", "f4-fortran-3x2.npy", npy_bytes(np.asfortranarray(r.normal(size=(3, 2)).astype("<f4"))))
    out("npy", "f4-0d.npy", npy_bytes(np.float32(1.5)))
    out("npy", "f4-empty-0x3.npy", npy_bytes(np.zeros((0, 3), "<f4")))
    out("npy", "f4-nan.npy", npy_bytes(np.array([[1.0, np.nan]], "<f4")))
    out("npy", "f4-seq-3x4x2.npy", npy_bytes(r.normal(size=(3, 4, 2)).astype("<f4")))

    # ---- csv: option byte = (timesteps-1) | (features-1) << 3 | header 0x20 | regression 0x40
    def opt(ts, feat, header=False, regression=False):
        return bytes([(ts - 1) | (feat - 1) << 3 | (0x20 if header else 0) | (0x40 if regression else 0)])

    def csv_text(rows, header=None, crlf=False):
        s = io.StringIO()
        w = csv.writer(s, lineterminator="\r\n" if crlf else "\n")
        if header:
            w.writerow(header)
        w.writerows(rows)
        return s.getvalue()
    ts, feat = 3, 2
    rows = [[int(r.integers(0, 3))] + ["%.5f" % v for v in r.normal(size=ts * feat)] for _ in range(6)]
    out("csv", "cls-3x2.csv", opt(ts, feat) + csv_text(rows).encode())
    hdr = ["label"] + ["t%d_f%d" % (t, f) for t in range(ts) for f in range(feat)]
    out("csv", "cls-3x2-header-crlf.csv", opt(ts, feat, header=True) + csv_text(rows, hdr, True).encode())
    reg = [["%.4f" % r.normal()] + ["%.5f" % v for v in r.normal(size=4)] for _ in range(5)]
    out("csv", "reg-4x1.csv", opt(4, 1, regression=True) + csv_text(reg).encode())
    out("csv", "cls-2x4-bom.csv", opt(2, 4) + b"\xef\xbb\xbf" +
        csv_text([[1] + ["%.3f" % v for v in r.normal(size=8)] for _ in range(3)]).encode())
    out("csv", "cls-8x4.csv.gz", opt(8, 4) + gzip.compress(
        csv_text([[int(r.integers(0, 2))] + ["%.2f" % v for v in r.normal(size=32)] for _ in range(4)]).encode(),
        mtime=0))

    # ---- tokens: option byte = (maxlen-1) | pad_post 0x10 | trunc_post 0x20 | value << 6
    def tok(maxlen, pad_post=False, trunc_post=False, value=0):
        return bytes([(maxlen - 1) | (0x10 if pad_post else 0) | (0x20 if trunc_post else 0) | value << 6])
    lines = []
    for _ in range(8):
        n = int(r.integers(0, 14))
        lines.append(" ".join([str(int(r.integers(0, 2)))] + [str(int(t)) for t in r.integers(1, 5000, n)]))
    out("tokens", "imdb-like-maxlen10.txt", tok(10) + ("\n".join(lines) + "\n").encode())
    out("tokens", "commas-post-maxlen5.txt", tok(5, True, True, 2) +
        ("\r\n".join(l.replace(" ", ",") for l in lines)).encode())
    out("tokens", "maxlen16.txt.gz", tok(16) + gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))

    # ---- cifar: real records from the real archive when it is there
    data = os.environ.get("NNCTL_DATA", os.path.join(ROOT, "..", "shared", "datasets"))
    arch = os.path.join(data, "cifar-10-binary.tar.gz")
    recs = None
    if os.path.exists(arch):
        with tarfile.open(arch) as t:
            for m in t.getmembers():
                if m.name.endswith("test_batch.bin"):
                    recs = t.extractfile(m).read(3 * 3073)
                if m.name.endswith("batches.meta.txt"):
                    meta = t.extractfile(m).read()
    if recs is None:
        sys.exit("make_seeds: no %s: the cifar seeds need real records" % arch)

    def tar_bytes(members, fmt, gz):
        b = io.BytesIO()
        with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
            for name, payload in members:
                ti = tarfile.TarInfo(name)
                ti.size = len(payload)
                ti.mtime = 0
                t.addfile(ti, io.BytesIO(payload))
        raw = b.getvalue()
        return gzip.compress(raw, mtime=0) if gz else raw
    test = [("cifar-10-batches-bin/batches.meta.txt", meta),
            ("cifar-10-batches-bin/test_batch.bin", recs[:2 * 3073])]
    train = [("cifar-10-batches-bin/data_batch_%d.bin" % i, recs[(i % 3) * 3073:(i % 3 + 1) * 3073])
             for i in range(1, 6)]
    out("cifar", "test-ustar.tar", tar_bytes(test, tarfile.USTAR_FORMAT, False))
    out("cifar", "test-gnu.tar.gz", tar_bytes(test, tarfile.GNU_FORMAT, True))
    out("cifar", "train-pax.tar", tar_bytes(train, tarfile.PAX_FORMAT, False))
    long = [("cifar-10-batches-bin/" + "x" * 120 + "/test_batch.bin", recs[:3073])]
    out("cifar", "longname-gnu.tar", tar_bytes(long, tarfile.GNU_FORMAT, False))
    out("cifar", "records-2.bin", recs[:2 * 3073])

    # ---- rundir, sweep, resume: from real nnctl runs
    nnctl = os.path.abspath(os.environ.get("NNCTL", os.path.join(ROOT, "build", "nnctl")))
    w = tempfile.mkdtemp(prefix="nnctl-seeds.")
    try:
        x = r.normal(size=(60, 4)).astype("<f4")
        np.save(os.path.join(w, "x.npy"), x)
        np.save(os.path.join(w, "y.npy"), (x[:, 0] > 0).astype("<i4"))
        with open(os.path.join(w, "s.cfg"), "w") as f:
            f.write('model: { input = { shape = [4]; }; layers = ( { type = "dense"; units = 4; '
                    'activation = "relu"; }, { type = "dense"; units = 2; activation = "softmax"; } ); };\n'
                    'data: { train = { format = "npy"; x = "x.npy"; y = "y.npy"; }; '
                    'test = { format = "npy"; x = "x.npy"; y = "y.npy"; }; validation_split = 0.25; };\n'
                    'train: { loss = "sparse_categorical_crossentropy"; optimizer = { type = "adam"; lr = 0.01; }; '
                    'metrics = ["accuracy"]; epochs = 3; batch_size = 8; seed = 5; callbacks = { '
                    'early_stopping = { enabled = true; patience = 1; restore_best_weights = true; }; }; };\n')
        env = dict(os.environ, NNCTL_DATA=w)
        subprocess.run([nnctl, "train", "s.cfg", "-o", "run", "-q"], cwd=w, env=env, check=True)
        rd = os.path.join(w, "run")

        def rd_text(name):
            p = os.path.join(rd, name)
            return open(p).read() if os.path.exists(p) else None
        def nl(t):
            return t if not t or t.endswith("\n") else t + "\n"
        parts = [nl(rd_text(n)) for n in ("history.csv", "run.json", "eval.json", "spec.cfg")]
        out("rundir", "real-run.txt", "%%\n".join(p or "" for p in parts))
        out("rundir", "history-only.txt", parts[0])
        out("rundir", "empty-eval-json.txt", "%%\n".join([parts[0], parts[1], ""]))
        import h5py
        with h5py.File(os.path.join(rd, "last.h5"), "r") as f:
            out("resume", "last-h5-state.json", f["nnctl"].attrs["state"])
        # a real sweep: its file, and its sweep.json with the fingerprint as a token
        sweeps = {
            "grid": 'base = "s.cfg"; strategy = "grid"; objective = "val_accuracy"; set = [ "train.epochs=1" ];\n'
                    'space = ( { key = "train.optimizer.lr"; values = [0.001, 0.01]; } );\n',
            "random": 'base = "s.cfg"; strategy = "random"; trials = 2; seed = 3; objective = "val_loss";\n'
                      'space = ( { key = "train.optimizer.lr"; min = 0.0001; max = 0.1; log = true; },\n'
                      '  { key = "model.layers.[0].units"; min = 2; max = 8; integer = true; } );\n',
            "bayes": 'base = "s.cfg"; strategy = "bayes"; trials = 3; init_trials = 2; kernel = "rbf";\n'
                     'objective = "val_loss"; set = [ "train.epochs=1" ];\n'
                     'space = ( { key = "train.optimizer.lr"; min = 0.0001; max = 0.1; log = true; } );\n',
        }
        for name, text in sweeps.items():
            with open(os.path.join(w, name + ".cfg"), "w") as f:
                f.write(text)
            subprocess.run([nnctl, "sweep", name + ".cfg", "--run-dir", "sw-" + name, "-j", "1"],
                           cwd=w, env=env, check=True, stdout=subprocess.DEVNULL)
            state = json.load(open(os.path.join(w, "sw-" + name, "sweep.json")))
            state["fingerprint"] = "FINGERPRINT"
            out("sweep", name + ".txt", text.replace('"s.cfg"', '"base.cfg"') + "%%\n" +
                json.dumps(state, indent=1) + "\n")
    finally:
        shutil.rmtree(w, ignore_errors=True)


def keras_models(keras, L):
    """Small models of every layer family nnctl reads."""
    ms = {}
    ms["dense"] = keras.Sequential([keras.Input((6,)), L.Dense(4, activation="relu"), L.Dropout(0.2),
                                    L.Dense(3, activation="softmax")])
    ms["conv"] = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(2, 3, padding="same"),
                                   L.BatchNormalization(), L.MaxPooling2D(), L.Flatten(), L.Dense(2)])
    ms["rnn"] = keras.Sequential([keras.Input((5, 3)), L.LSTM(3, return_sequences=True), L.GRU(2)])
    ms["embed"] = keras.Sequential([keras.Input((7,)), L.Embedding(20, 3), L.SimpleRNN(2),
                                    L.Dense(1, activation="sigmoid")])
    a = keras.Input((4,), name="a")
    b = keras.Input((2,), name="b")
    h = L.Concatenate()([L.Dense(3, name="da")(a), b])
    ms["functional"] = keras.Model([a, b], [L.Dense(2, activation="softmax", name="p")(h),
                                            L.Dense(1, name="v")(h)])
    ms["bidir"] = keras.Sequential([keras.Input((4, 2)), L.Bidirectional(L.LSTM(2)), L.Dense(1)])
    ms["conv1d"] = keras.Sequential([keras.Input((10, 2)), L.Conv1D(2, 3, strides=2), L.GlobalAveragePooling1D()])
    return ms


def keras_files(tag, keras, L):
    """model .h5 files and keras_json seeds (to_json, training_config)."""
    ms = keras_models(keras, L)
    w = tempfile.mkdtemp(prefix="nnctl-seeds-k.")
    version_byte = {"keras2": b"\x02", "keras3": b"\x03"}[tag]
    try:
        for name, m in ms.items():
            loss = "sparse_categorical_crossentropy" if name == "dense" else "mse"
            if name == "functional":
                m.compile(optimizer="adam", loss={"p": "categorical_crossentropy", "v": "mse"},
                          loss_weights={"p": 1.0, "v": 0.5}, metrics={"p": ["accuracy"]})
            else:
                m.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.01), loss=loss,
                          metrics=["accuracy"] if name == "dense" else ["mae"])
            p = os.path.join(w, name + ".h5")
            m.save(p)
            data = open(p, "rb").read()
            if len(data) <= 65536:
                out("model", "%s-%s.h5" % (tag, name), data)
            out("keras_json", "%s-%s-to_json.json" % (tag, name), version_byte + m.to_json().encode())
            import h5py
            with h5py.File(p, "r") as f:
                tc = f.attrs.get("training_config")
                if tc is not None:
                    tc = tc.decode() if isinstance(tc, bytes) else tc
                    out("keras_json", "%s-%s-training_config.json" % (tag, name), version_byte + tc.encode())
        # a weights-only file
        p = os.path.join(w, "dense.weights.h5" if tag == "keras3" else "dense_w.h5")
        ms["dense"].save_weights(p)
        out("model", "%s-dense-weights-only.h5" % tag, open(p, "rb").read())
        if tag == "keras2":
            # a nested model's weights-only file: save_weights keeps the nested
            # model's layers in its group, as in ConvNeXt's stem (split per layer
            # when read: io/keras/import_weights.c)
            stem = keras.Sequential([L.Conv2D(2, 2, name="stem_conv"),
                                     L.LayerNormalization(name="stem_ln")], name="stem")
            inp = keras.Input((6, 6, 1))
            nested = keras.Model(inp, L.Dense(2, name="head")(L.Flatten()(stem(inp))))
            p = os.path.join(w, "nested_w.h5")
            nested.save_weights(p)
            out("model", "keras2-nested-weights-only.h5", open(p, "rb").read())
    finally:
        shutil.rmtree(w, ignore_errors=True)


def main():
    part = sys.argv[1] if len(sys.argv) > 1 else "basic"
    if part == "basic":
        basic()
    elif part == "keras3":
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras
        from keras import layers as L
        keras.utils.set_random_seed(1)
        keras_files("keras3", keras, L)
    elif part == "keras2":
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tf_keras as keras
        from tf_keras import layers as L
        keras.utils.set_random_seed(1)
        keras_files("keras2", keras, L)
    else:
        sys.exit("usage: make_seeds.py basic|keras3|keras2")


if __name__ == "__main__":
    main()
