#!/usr/bin/env python3
"""Variable-length sequences against Keras: text models whose time dimension
is None (Embedding + recurrent layers, mask_zero) load in nnctl and predict
each .npy input at its own length like Keras; masking follows Keras's rules
(a masked step keeps the state, Bidirectional with return_sequences outputs
0 there, GlobalAveragePooling1D averages the real steps); nnctl trains a spec
of None length on padded data like Keras's fit; nnctl's model files write
None back, and Keras loads them. Keras's Masking layer on sequences of
numbers (a step whose features all equal mask_value is padding) predicts
and trains the same way.

    .venv-tf/bin/python tests/oracle/test_varlen.py --keras 2 --nnctl build/nnctl
    KERAS_BACKEND=jax .venv/bin/python tests/oracle/test_varlen.py --keras 3 --nnctl build/nnctl

--keras 2 runs under tf-keras (the Keras 2 API and HDF5 layout:
input_length=None, batch_input_shape [null, null]); --keras 3 under Keras 3
(functional models record the mask as NotEqual(ids, 0) passed as mask=...).
Every expected value is Keras's: models with seeded random weights, inputs
drawn with a fixed seed, rows padded with 0 at the end, at the start, in the
middle, and wholly. Outputs must agree to 1e-5 relative plus 1e-6 of the
largest magnitude (training: 1e-4 after a few SGD steps). Prints one line
per check and "varlen-keras2: N passed, M failed, 0 skipped" (or keras3).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--nnctl", required=True)
ap.add_argument("--keras", choices=("2", "3"), required=True)
ap.add_argument("--keep", action="store_true")
ARGS = ap.parse_args()
K2 = ARGS.keras == "2"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if K2:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras  # noqa: E402
else:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras  # noqa: E402
import logging  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

L = keras.layers
logging.getLogger("tensorflow").setLevel(logging.ERROR)
warnings.filterwarnings("ignore")

RTOL = 1e-5
VOCAB = 50
LENGTHS = (5, 17, 40)
NAME = "varlen-keras%s" % ARGS.keras
passed = failed = 0
NNCTL = os.path.abspath(ARGS.nnctl)
TMP = tempfile.mkdtemp(prefix="nnctl-varlen-")


def report(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok    {name}" + (f" ({detail})" if detail.startswith("max abs") else ""))
    else:
        failed += 1
        print(f"FAIL  {name}: {detail}")


def path(name):
    return os.path.join(TMP, name)


def nnctl(*args, ok=True):
    r = subprocess.run([NNCTL] + [str(a) for a in args], capture_output=True, text=True,
                       cwd=TMP, env=dict(os.environ, NNCTL_DATA=TMP))
    if ok and r.returncode != 0:
        raise RuntimeError(f"nnctl {' '.join(map(str, args))}: exit {r.returncode}: "
                           f"{r.stderr.strip()[-400:]}")
    return r


def close(got, want, rtol=RTOL):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return False, f"shape {got.shape}, want {want.shape}"
    tol = rtol * np.abs(want) + rtol / 10 * max(float(np.max(np.abs(want))), 1e-3)
    err = np.abs(got - want)
    return bool(np.all(err <= tol)), f"max abs difference {float(np.max(err)):.3g}"


def check(name, fn):
    try:
        ok, detail = fn()
        report(ok, name, detail)
    except Exception as e:  # noqa: BLE001 - a failure of this check, reported
        report(False, name, str(e))


def randomize(model, rng):
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32)
                       for w in model.get_weights()])


def batch(rng, T, whole_pad=True):
    """Token ids (6, T): full rows, right-padded, left-padded, a hole in the
    middle, one id only, and (whole_pad) a row of padding alone."""
    x = rng.integers(1, VOCAB, (6, T))
    x[1, T // 2:] = 0
    x[2, :T // 3] = 0
    x[3, T // 3:T // 2 + 1] = 0
    x[4, 1:] = 0
    if whole_pad:
        x[5, :] = 0
    return x


def inputs(rng, whole_pad=True):
    """One .npy per length, in several dtypes (token ids as ints or floats), and
    one at length 13 with padding all its rows share."""
    files, xs = [], []
    for T, dt in zip(LENGTHS, (np.int32, np.float32, np.int64)):
        x = batch(rng, T, whole_pad)
        f = path(f"x{T}.npy")
        np.save(f, x.astype(dt))
        files.append(f)
        xs.append(x)
    # padding every row shares (2 steps before, 3 after), which nnctl skips
    x = np.pad(batch(rng, 8, whole_pad), ((0, 0), (2, 3)))
    files.append(path("xshared.npy"))
    np.save(files[-1], x.astype(np.int32))
    xs.append(x)
    return files, xs


def seq_input():
    if K2:
        return keras.Input((None,))
    return keras.Input((None,), dtype="int32")


# ---- Keras files with a None length, predicted by nnctl -----------------------------

def models():
    """(name, build, whole-padding rows allowed): each a model on (None,) ids."""
    def imdb(rnn):
        def build():
            inp = seq_input()
            x = L.Embedding(VOCAB, 16, mask_zero=True)(inp)
            return keras.Model(inp, L.Dense(1, activation="sigmoid")(rnn()(x)))
        return build

    def seq(layers):
        def build():
            m = keras.Sequential([seq_input()] + layers())
            return m
        return build

    return [
        ("Embedding(mask_zero) GRU Dense(sigmoid)", imdb(lambda: L.GRU(8)), True),
        ("Embedding(mask_zero) LSTM Dense(sigmoid)", imdb(lambda: L.LSTM(8)), True),
        ("Embedding(mask_zero) SimpleRNN Dense(sigmoid)", imdb(lambda: L.SimpleRNN(8)), True),
        ("Embedding(mask_zero) GRU(go_backwards, reset_after=False)",
         imdb(lambda: L.GRU(6, go_backwards=True, reset_after=False)), True),
        ("Embedding(mask_zero) Bidirectional(GRU, return_sequences) GlobalAveragePooling1D",
         seq(lambda: [L.Embedding(VOCAB, 16, mask_zero=True),
                      L.Bidirectional(L.GRU(6, return_sequences=True)),
                      L.GlobalAveragePooling1D(), L.Dense(2)]), False),
        ("Embedding(mask_zero) LSTM(seq) Dense Dropout GRU (the mask passed on)",
         seq(lambda: [L.Embedding(VOCAB, 8, mask_zero=True), L.LSTM(5, return_sequences=True),
                      L.Dense(4, activation="tanh"), L.Dropout(0.3),
                      L.Bidirectional(L.LSTM(3), merge_mode="sum")]), True),
        ("Embedding(mask_zero=False) LSTM Dense (None length, no mask)",
         seq(lambda: [L.Embedding(VOCAB, 8), L.LSTM(5), L.Dense(2)]), True),
        ("Embedding Conv1D(same) MaxPooling1D GRU (None length through convolutions)",
         seq(lambda: [L.Embedding(VOCAB, 8), L.Conv1D(4, 3, padding="same", activation="relu"),
                      L.MaxPooling1D(2), L.GRU(3)]), True),
    ]


def keras_to_nnctl(rng):
    for name, build, whole in models():
        def run(build=build, whole=whole):
            m = build()
            randomize(m, rng)
            f = path("m.h5")
            m.save(f)
            files, xs = inputs(rng, whole)
            # every length in one command, each at its own length
            nnctl("predict", f, *files, "-o", path("y.npy"))
            want = np.concatenate([m.predict(x, verbose=0) for x in xs])
            return close(np.load(path("y.npy")), want)
        check(f"keras {keras.__version__} {name}: predict at lengths {LENGTHS} and 13", run)


def summary_none(rng):
    def run():
        inp = seq_input()
        x = L.Embedding(VOCAB, 4, mask_zero=True)(inp)
        m = keras.Model(inp, L.GRU(3, return_sequences=True)(x))
        m.save(path("s.h5"))
        out = nnctl("summary", path("s.h5")).stdout
        want = ["(None, None, 4)", "(None, None, 3)"]
        return all(w in out for w in want), "summary lacks %s:\n%s" % (want, out)
    check("nnctl summary shows the None time dimension", run)


def fixed_masked(rng):
    """mask_zero on a fixed input_length: the same masking rules."""
    def run():
        T = 12
        inp = keras.Input((T,)) if K2 else keras.Input((T,), dtype="int32")
        x = L.Embedding(VOCAB, 6, mask_zero=True)(inp)
        x = L.SimpleRNN(4, return_sequences=True, go_backwards=True)(x)
        x = L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="concat")(x)
        m = keras.Model(inp, L.GRU(2, return_sequences=True)(x))
        randomize(m, rng)
        m.save(path("fixed.h5"))
        xb = batch(rng, T)
        np.save(path("fixed.npy"), xb.astype(np.float32))
        nnctl("predict", path("fixed.h5"), path("fixed.npy"), "-o", path("fixed_y.npy"))
        return close(np.load(path("fixed_y.npy")), m.predict(xb, verbose=0))
    check("fixed length, mask_zero: go_backwards, Bidirectional and return_sequences outputs",
          run)


# ---- nnctl trains a None-length spec like Keras's fit ---------------------------------

TRAIN_SPEC = """
model: {{ name = "tv"; input = {{ shape = [0]; }}; layers = (
  {{ type = "embedding"; input_dim = {vocab}; output_dim = 8; mask_zero = true; }},
  {{ type = "{rnn}"; units = 5; }},
  {{ type = "dense"; units = 1; activation = "sigmoid"; }} ); }};
data: {{ train = {{ format = "npy"; x = "tx.npy"; y = "ty.npy"; }}; shuffle = false; }};
train: {{ loss = "binary_crossentropy"; optimizer = {{ type = "sgd"; lr = 0.5; }};
  epochs = 2; batch_size = 16; seed = 1; init_from = "init.h5"; }};
"""


def training(rng):
    # post: pad_sequences(padding="post"), lengths in any order; pre: Keras's
    # default padding="pre" with the rows sorted by length (bucketing), so
    # each batch of 16 has padding all its rows share, which nnctl skips
    for rnn, cls, pad in (("gru", L.GRU, "post"), ("lstm", L.LSTM, "post"),
                          ("gru", L.GRU, "pre"), ("lstm", L.LSTM, "pre")):
        def run(rnn=rnn, cls=cls, pad=pad):
            inp = seq_input()
            x = L.Embedding(VOCAB, 8, mask_zero=True, name="embedding")(inp)
            x = cls(5, name=rnn)(x)
            m = keras.Model(inp, L.Dense(1, activation="sigmoid", name="dense")(x))
            randomize(m, rng)
            m.save(path("init.h5"))
            T = 14
            x = rng.integers(1, VOCAB, (48, T))
            lengths = rng.integers(2, T + 1, 48)
            if pad == "pre":
                lengths = np.sort(lengths)
            for i in range(48):
                if pad == "post":
                    x[i, lengths[i]:] = 0
                else:
                    x[i, :T - lengths[i]] = 0
            y = rng.integers(0, 2, (48, 1)).astype(np.float32)
            np.save(path("tx.npy"), x.astype(np.float32))
            np.save(path("ty.npy"), y)
            with open(path("tv.cfg"), "w") as f:
                f.write(TRAIN_SPEC.format(vocab=VOCAB, rnn=rnn))
            shutil.rmtree(path("tv_run"), ignore_errors=True)
            nnctl("train", "tv.cfg", "-o", "tv_run", "-q", "--threads", 2)
            m.compile(loss="binary_crossentropy",
                      optimizer=keras.optimizers.SGD(learning_rate=0.5))
            m.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
            probe = batch(rng, 9)
            np.save(path("probe.npy"), probe.astype(np.float32))
            nnctl("predict", path("tv_run/model.h5"), path("probe.npy"), "-o", path("tv_y.npy"))
            return close(np.load(path("tv_y.npy")), m.predict(probe, verbose=0), 1e-4)
        check(f"nnctl trains Embedding(mask_zero) {rnn} on {pad}-padded data, shape [0], "
              "like fit()", run)


def nnctl_to_keras(rng):
    """The None-length model nnctl trained: Keras loads it (None written
    back, mask_zero kept) and predicts what nnctl does at two lengths."""
    def run():
        m = keras.models.load_model(path("tv_run/model.h5"), compile=False)
        shape = tuple(m.inputs[0].shape)
        if shape[1] is not None:
            return False, f"Keras reads input shape {shape}"
        results = []
        for T in (3, 21):
            xb = batch(rng, T, whole_pad=False)
            np.save(path("b.npy"), xb.astype(np.float32))
            nnctl("predict", path("tv_run/model.h5"), path("b.npy"), "-o", path("b_y.npy"))
            results.append(close(np.load(path("b_y.npy")), m.predict(xb, verbose=0)))
        bad = [d for ok, d in results if not ok]
        return not bad, "; ".join(bad)
    check("nnctl's None-length model file: Keras load_model predicts like nnctl", run)


EVAL_SPEC = """
data: { test = { format = "npy"; x = "ex.npy"; y = "ey.npy"; }; };
train: { loss = "binary_crossentropy"; optimizer = "sgd"; };
"""


def evaluation(rng):
    """nnctl eval of a Keras file with a None length runs at the data's."""
    def run():
        m = models()[0][1]()
        randomize(m, rng)
        m.save(path("ev.h5"))
        x = batch(rng, 23, whole_pad=False)
        y = rng.integers(0, 2, (len(x), 1)).astype(np.float32)
        np.save(path("ex.npy"), x.astype(np.float32))
        np.save(path("ey.npy"), y)
        with open(path("ev.cfg"), "w") as f:
            f.write(EVAL_SPEC)
        got = json.loads(nnctl("eval", path("ev.h5"), "--spec", "ev.cfg", "--json").stdout)
        m.compile(loss="binary_crossentropy")
        want = m.evaluate(x, y, verbose=0, batch_size=len(x))
        return close([got["loss"]], [want], 1e-4)
    check("nnctl eval of a None-length Keras file runs at the data's length", run)


# ---- Keras's Masking layer: sequences of numbers --------------------------------------

FEAT = 3


def number_batch(rng, T, value, whole_pad=True):
    """Numbers (6, T, FEAT) padded with steps whose features all equal value:
    full, post, pre, a hole, one step, and (whole_pad) padding alone; one
    real step of row 0 has all its features but one equal to value (kept)."""
    x = rng.normal(0, 1, (6, T, FEAT))
    x[0, T // 2, 1:] = value
    x[1, T // 2:] = value
    x[2, :T // 3] = value
    x[3, T // 3:T // 2 + 1] = value
    x[4, 1:] = value
    if whole_pad:
        x[5, :] = value
    return x


def masking_models():
    """(name, mask value, build, whole-padding rows allowed)"""
    def seq(layers):
        return lambda: keras.Sequential([keras.Input((None, FEAT))] + layers())
    return [
        ("Masking LSTM Dense", 0.0,
         seq(lambda: [L.Masking(), L.LSTM(6), L.Dense(2)]), True),
        ("Masking(-1) GRU(return_sequences) Dense(tanh) SimpleRNN (the mask passed on)", -1.0,
         seq(lambda: [L.Masking(mask_value=-1.0), L.GRU(4, return_sequences=True),
                      L.Dense(3, activation="tanh"), L.SimpleRNN(3)]), True),
        ("Masking(2.5) Bidirectional(LSTM, return_sequences) GlobalAveragePooling1D", 2.5,
         seq(lambda: [L.Masking(mask_value=2.5),
                      L.Bidirectional(L.LSTM(3, return_sequences=True)),
                      L.GlobalAveragePooling1D(), L.Dense(2)]), False),
        ("Masking alone (its output: padding steps zeroed)", 0.5,
         seq(lambda: [L.Masking(mask_value=0.5), L.Dense(2)]), True),
    ]


def masking_keras_to_nnctl(rng):
    for name, value, build, whole in masking_models():
        def run(value=value, build=build, whole=whole):
            m = build()
            randomize(m, rng)
            f = path("mk.h5")
            m.save(f)
            files, xs = [], []
            for T in LENGTHS:
                xs.append(number_batch(rng, T, value, whole))
                files.append(path(f"mk{T}.npy"))
                np.save(files[-1], xs[-1].astype(np.float32))
            # one command a length: a sequence output's shape is the length's
            got, want = [], []
            for fx, x in zip(files, xs):
                nnctl("predict", f, fx, "-o", path("mk_y.npy"))
                got.append(np.load(path("mk_y.npy")).ravel())
                want.append(m.predict(x.astype(np.float32), verbose=0).ravel())
            return close(np.concatenate(got), np.concatenate(want))
        check(f"keras {keras.__version__} {name}: predict at lengths {LENGTHS}", run)


def masking_onnx(rng):
    """Masking into a Dense on steps, exported to ONNX (a fixed length: ONNX
    export refuses None), in onnxruntime: padding steps zeroed as Keras."""
    def run():
        import onnxruntime as ort
        m = keras.Sequential([keras.Input((9, FEAT)), L.Masking(mask_value=-2.0),
                              L.Dense(4, activation="tanh")])
        randomize(m, rng)
        m.save(path("mo.h5"))
        nnctl("export", path("mo.h5"), "--format", "onnx", "-o", path("mo.onnx"))
        x = number_batch(rng, 9, -2.0).astype(np.float32)
        x[0, 0, 0] = np.nan  # a NaN differs from every value: the step is kept
        s = ort.InferenceSession(path("mo.onnx"))
        got = s.run(None, {s.get_inputs()[0].name: x})[0]
        want = m.predict(x, verbose=0)
        same_nan = bool(np.all(np.isnan(got[0, 0]) == np.isnan(want[0, 0])))
        got[0, 0] = want[0, 0] = 0
        ok, detail = close(got, want)
        return ok and same_nan, detail if same_nan else "NaN step differs"
    check("Masking exported to ONNX: onnxruntime zeroes the padding steps as Keras", run)


MASKING_SPEC = """
model: {{ name = "mk"; input = {{ shape = [0, {feat}]; }}; layers = (
  {{ type = "masking"; name = "masking"; mask_value = -1.0; }},
  {{ type = "{rnn}"; name = "{rnn}"; units = 5; }},
  {{ type = "dense"; name = "dense"; units = 1; activation = "sigmoid"; }} ); }};
data: {{ train = {{ format = "npy"; x = "mx.npy"; y = "my.npy"; }}; shuffle = false;
  bucket_by_length = {bucket}; }};
train: {{ loss = "binary_crossentropy"; optimizer = {{ type = "sgd"; lr = 0.5; }};
  epochs = 2; batch_size = 16; seed = 1; init_from = "minit.h5"; }};
"""


def masking_training(rng):
    """nnctl trains Masking + GRU/LSTM like fit(); with bucket_by_length on
    rows already sorted by length (its order is then the data's) too. Keras
    loads the trained file and predicts what nnctl does."""
    for rnn, cls, bucket in (("gru", L.GRU, "false"), ("lstm", L.LSTM, "false"),
                             ("gru", L.GRU, "true")):
        def run(rnn=rnn, cls=cls, bucket=bucket):
            m = keras.Sequential([keras.Input((None, FEAT)), L.Masking(-1.0, name="masking"),
                                  cls(5, name=rnn), L.Dense(1, activation="sigmoid",
                                                            name="dense")])
            randomize(m, rng)
            m.save(path("minit.h5"))
            T = 12
            x = rng.normal(0, 1, (48, T, FEAT))
            lengths = np.sort(rng.integers(2, T + 1, 48))
            for i in range(48):
                x[i, lengths[i]:] = -1.0
            y = rng.integers(0, 2, (48, 1)).astype(np.float32)
            np.save(path("mx.npy"), x.astype(np.float32))
            np.save(path("my.npy"), y)
            with open(path("mk.cfg"), "w") as f:
                f.write(MASKING_SPEC.format(feat=FEAT, rnn=rnn, bucket=bucket))
            shutil.rmtree(path("mk_run"), ignore_errors=True)
            nnctl("train", "mk.cfg", "-o", "mk_run", "-q", "--threads", 2)
            m.compile(loss="binary_crossentropy",
                      optimizer=keras.optimizers.SGD(learning_rate=0.5))
            m.fit(x.astype(np.float32), y, batch_size=16, epochs=2, shuffle=False, verbose=0)
            probe = number_batch(rng, 9, -1.0).astype(np.float32)
            np.save(path("mprobe.npy"), probe)
            nnctl("predict", path("mk_run/model.h5"), path("mprobe.npy"), "-o",
                  path("mk_y.npy"))
            ok, detail = close(np.load(path("mk_y.npy")), m.predict(probe, verbose=0), 1e-4)
            if not ok:
                return ok, "nnctl vs fit(): " + detail
            back = keras.models.load_model(path("mk_run/model.h5"), compile=False)
            return close(back.predict(probe, verbose=0), np.load(path("mk_y.npy")))
        check(f"nnctl trains Masking {rnn}{' with bucket_by_length' if bucket == 'true' else ''}"
              " like fit(); Keras loads its file and predicts the same", run)


# ---- errors ------------------------------------------------------------------------------

def errors(rng):
    def wrong_length():
        m = keras.Sequential([keras.Input((9,)), L.Embedding(VOCAB, 4), L.GRU(3)])
        m.save(path("fixed9.h5"))
        np.save(path("x17.npy"), rng.integers(1, VOCAB, (2, 17)).astype(np.float32))
        r = nnctl("predict", path("fixed9.h5"), path("x17.npy"), ok=False)
        msg = r.stderr
        ok = r.returncode != 0 and "x17.npy" in msg and "17" in msg and "9" in msg
        return ok, f"exit {r.returncode}: {msg.strip()}"

    def flatten_over_none():
        with open(path("flat.cfg"), "w") as f:
            f.write('model: { input = { shape = [0]; }; layers = ( { type = "embedding"; '
                    'input_dim = 10; output_dim = 4; }, { type = "flatten"; }, '
                    '{ type = "dense"; name = "head"; units = 2; } ); };\n')
        r = nnctl("summary", "flat.cfg", ok=False)
        ok = r.returncode != 0 and "'head'" in r.stderr and "None" in r.stderr
        return ok, f"exit {r.returncode}: {r.stderr.strip()}"

    def merge_masked():
        with open(path("merge.cfg"), "w") as f:
            f.write('model: { input = { shape = [0]; }; layers = ( { type = "embedding"; '
                    'name = "e"; input_dim = 10; output_dim = 4; mask_zero = true; }, '
                    '{ type = "gru"; name = "a"; units = 2; return_sequences = true; '
                    'inputs = ["e"]; }, { type = "gru"; name = "b"; units = 2; '
                    'return_sequences = true; inputs = ["e"]; }, { type = "add"; name = "sum"; '
                    'inputs = ["a", "b"]; } ); };\n')
        r = nnctl("summary", "merge.cfg", ok=False)
        ok = r.returncode != 0 and "'sum'" in r.stderr and "masked" in r.stderr
        return ok, f"exit {r.returncode}: {r.stderr.strip()}"

    def export_none():
        m = keras.Sequential([seq_input(), L.Embedding(VOCAB, 4), L.GRU(3)])
        m.save(path("none.h5"))
        bad = []
        for fmt in ("onnx", "c"):
            r = nnctl("export", path("none.h5"), "--format", fmt, "-o", path("none." + fmt),
                      ok=False)
            if r.returncode == 0 or "None" not in r.stderr:
                bad.append(f"{fmt}: exit {r.returncode}: {r.stderr.strip()}")
        return not bad, "; ".join(bad)

    check("an input of another length than a fixed model's names the file and both lengths",
          wrong_length)
    check("merging masked sequences is refused, naming the layer", merge_masked)
    check("ONNX and C export refuse a None length (not written wrong)", export_none)
    check("a Dense after Flatten over a None length is refused, naming the layer",
          flatten_over_none)


def main():
    rng = np.random.default_rng(17)
    try:
        keras_to_nnctl(rng)
        summary_none(rng)
        fixed_masked(rng)
        training(rng)
        nnctl_to_keras(rng)
        evaluation(rng)
        masking_keras_to_nnctl(rng)
        if not K2:  # onnxruntime is in Keras 3's environment
            masking_onnx(rng)
        masking_training(rng)
        errors(rng)
    finally:
        if not ARGS.keep:
            shutil.rmtree(TMP, ignore_errors=True)
    print(f"{NAME}: {passed} passed, {failed} failed, 0 skipped")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
