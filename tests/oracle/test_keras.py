#!/usr/bin/env python3
"""Keras oracle: model files travel between Keras and nnctl, both ways.

    KERAS_BACKEND=jax .venv/bin/python tests/oracle/test_keras.py --nnctl build/nnctl [-v] [--keep]

Needs Keras 3 (JAX backend), numpy and h5py (scripts/oracle-venv puts them in
.venv). Everything is generated here, in a temporary directory.

Keras -> nnctl (Keras 3 writes the files, with model.save("x.h5"), its legacy
HDF5 writer):
  * models covering every layer nnctl has (Sequential and functional; Dense
    with every activation, Activation, LeakyReLU/ELU/ReLU/Softmax layers,
    Dropout, Reshape, Flatten, BatchNormalization, Conv1D/2D with strides,
    dilation and both paddings, Depthwise/SeparableConv2D, every pooling,
    every merge, SimpleRNN/LSTM/GRU (both reset_after), go_backwards,
    return_sequences, Bidirectional with each merge mode, TimeDistributed
    (Dense), Embedding), given random weights with set_weights: `nnctl
    predict x.h5 in.npy -o out.npy` equals model.predict to 1e-5 relative
    (plus 1e-6 of the output's largest magnitude), and `nnctl summary x.h5`
    lists every layer with Keras's parameter counts (a frozen model's
    trainable and non-trainable counts too);
  * a compiled model's training_config: `nnctl eval x.h5 --spec data.cfg`
    (data section only) gives model.evaluate's loss and accuracy;
  * a functional model of two inputs and two outputs, compiled with a loss,
    loss weight and metrics per output (dicts, and Keras 3's lists by
    output position): summary, ONNX export run by onnxruntime, and eval
    (npy x/y groups by name) against model.predict / model.evaluate;
  * hand-written files (h5py) in the Keras 2.x/tf.keras layout (weight names
    "dense_1/kernel:0", batch_input_shape, inbound_nodes as nested lists, a
    GRU without reset_after, training_config with "acc") and in Keras 1's
    (output_dim, nb_filter, border_mode, dim_ordering "tf", per-gate
    LSTM/GRU arrays, Merge layers, (k, 1, in, out) Convolution1D kernels,
    "dense_1_W" weight names), checked against the same models built in
    Keras 3.
nnctl -> Keras:
  * small nnctl models of the same layer types trained on generated data:
    keras.models.load_model(model.h5) predicts what `nnctl predict` does
    (1e-5), and a weights-only checkpoint (save_weights_only = true) loads
    with model.load_weights into the architecture built from model_config.
Mixed precision (dtype policies):
  * Keras -> nnctl: a model built under mixed_bfloat16 with one float32
    layer (as Keras's guide keeps a softmax head) keeps each layer's policy
    through nnctl (export --format json shows it); nnctl predicts what
    Keras's bf16 computation does within bf16's reach (2e-2 of the output's
    scale, normwise), and not exactly what its own float32 run does;
  * nnctl -> Keras: a model trained with train.precision = mixed_bfloat16
    loads with DTypePolicy("mixed_bfloat16") on every layer (compute dtype
    bfloat16, variables float32).
Transfer learning:
  * model.from_json = Keras's model.to_json() trains, with Keras's
    parameter counts; train.init_from = a Keras file loads the layers it
    shares by name (a frozen base keeps exactly the file's weights; the new
    head, of another width, is freshly initialized), and the log says which.
Prints one line per check and ends with "keras: N passed, M failed, K skipped"; exits
1 when M > 0.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers as L  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accuracy_cases  # noqa: E402

RTOL = 1e-5
N = 9  # samples per prediction (no batch size the model was planned for)

passed = failed = skipped = 0
verbose = False
NNCTL = None
WORK = None


class Skip(Exception):
    """A check that cannot run here; its message says why."""


def check(name, fn):
    global passed, failed, skipped
    try:
        fn()
        passed += 1
        print("ok   " + name)
    except Skip as e:
        skipped += 1
        print("skip %s: %s" % (name, e))
    except Exception as e:  # noqa: BLE001 - report and go on
        failed += 1
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e))


def nnctl(*args, ok=True):
    r = subprocess.run([NNCTL] + [str(a) for a in args], capture_output=True, text=True,
                       cwd=WORK, timeout=600)
    if verbose:
        print("$ nnctl " + " ".join(str(a) for a in args))
        print(r.stdout + r.stderr)
    if ok and r.returncode != 0:
        raise RuntimeError("nnctl %s: exit %d: %s" % (args[0], r.returncode, r.stderr.strip()))
    return r


def close(got, want, what="outputs"):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise AssertionError("%s: shape %s, expected %s" % (what, got.shape, want.shape))
    tol = RTOL * np.abs(want) + 1e-6 * max(1.0, float(np.max(np.abs(want))))
    bad = np.abs(got - want) > tol
    if bad.any():
        i = np.unravel_index(np.argmax(np.abs(got - want) - tol), got.shape)
        raise AssertionError("%s: %d of %d values differ; worst at %s: %r vs %r"
                             % (what, int(bad.sum()), bad.size, i, got[i], want[i]))


def path(name):
    return os.path.join(WORK, name)


def predict_nnctl(model_file, x, tag):
    np.save(path(tag + "_in.npy"), x.astype(np.float32))
    nnctl("predict", model_file, tag + "_in.npy", "-o", tag + "_out.npy", "--threads", 2)
    return np.load(path(tag + "_out.npy"))


def randomize(model, rng, scale=0.5):
    """Random weights (BN variances positive, so outputs stay finite)."""
    ws = []
    for v in model.weights:
        w = rng.normal(size=v.shape) * scale
        if "moving_variance" in v.path:
            w = np.abs(w) + 0.5
        ws.append(w.astype(np.float32))
    model.set_weights(ws)


# ---- Keras 3 models ------------------------------------------------------------

def mlp():
    return keras.Sequential([
        keras.Input((12,)),
        L.Dense(16, activation="relu"), L.Dropout(0.3),
        L.Dense(8, activation="tanh"), L.Dense(8, activation="sigmoid"),
        L.Dense(8, activation="elu"), L.Dense(8, activation="selu"),
        L.Dense(8, activation="softplus"), L.Dense(8, activation="softsign"),
        L.Dense(8, activation="silu"), L.Dense(8, activation="gelu"),
        L.Dense(8, activation="leaky_relu"), L.Dense(8, use_bias=False),
        L.Activation("relu"), L.LeakyReLU(negative_slope=0.1), L.ELU(alpha=0.5),
        L.Dense(8), L.ReLU(), L.Dense(8), L.Reshape((2, 4)), L.Dense(6, activation="tanh"),
        L.Flatten(), L.BatchNormalization(epsilon=0.01), L.Dense(3), L.Softmax(),
    ], name="mlp")


def cnn2d():
    return keras.Sequential([
        keras.Input((10, 10, 2)),
        L.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
        L.BatchNormalization(momentum=0.5),
        L.Conv2D(6, 3, dilation_rate=2, padding="same"),
        L.Conv2D(5, (2, 3), activation="elu", use_bias=False),
        L.MaxPooling2D(2, padding="same"),
        L.AveragePooling2D(2, strides=1, padding="same"),
        L.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
        L.SeparableConv2D(4, 2, padding="valid", activation="relu"),
        L.AveragePooling2D(1),
        L.GlobalMaxPooling2D(),
        L.Dense(3, activation="softmax"),
    ], name="cnn2d")


def cnn1d():
    i = keras.Input((12, 3), name="seq_in")
    x = L.Conv1D(4, 3, strides=2, padding="same", activation="relu")(i)
    x = L.BatchNormalization()(x)
    x = L.Conv1D(5, 3, dilation_rate=2, padding="same")(x)
    x = L.MaxPooling1D(2)(x)
    a = L.AveragePooling1D(2, strides=1, padding="same")(x)
    a = L.Conv1D(5, 2, activation="tanh")(a)
    g1 = L.GlobalAveragePooling1D()(a)
    g2 = L.GlobalMaxPooling1D()(x)
    o = L.Dense(3, activation="softmax")(L.Concatenate()([g1, g2]))
    return keras.Model(i, o, name="cnn1d")


def functional():
    i = keras.Input((8, 8, 3), name="img")
    c1 = L.Conv2D(6, 1, activation="relu", name="c1")(i)
    dw = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(i)
    sep = L.SeparableConv2D(6, 3, padding="same", depth_multiplier=2, activation="relu",
                            name="sep")(i)
    add = L.Add(name="add")([c1, dw, sep])
    sub = L.Subtract(name="sub")([dw, sep])
    mul = L.Multiply(name="mul")([c1, dw])
    avg = L.Average(name="avg")([add, sub])
    mx = L.Maximum(name="mx")([mul, avg, c1])
    mn = L.Minimum(name="mn")([mx, sub])
    cat = L.Concatenate(name="cat")([add, mn])
    bn = L.BatchNormalization(name="bn")(cat)
    gap = L.GlobalAveragePooling2D(name="gap")(bn)
    gmp = L.GlobalMaxPooling2D(name="gmp")(c1)
    cat2 = L.Concatenate(axis=1, name="cat2")([gap, gmp])
    # called with a keyword: Keras 3 stores the input among the node's kwargs
    o = L.Dense(3, activation="softmax", name="out")(inputs=cat2)
    return keras.Model(i, o, name="functional")


def rnn(cell, **kw):
    def build():
        C = {"simple_rnn": L.SimpleRNN, "lstm": L.LSTM, "gru": L.GRU}[cell]
        i = keras.Input((7, 4))
        a = C(5, return_sequences=True, **kw)(i)
        b = C(4, return_sequences=True, go_backwards=True, **kw)(a)
        td = L.TimeDistributed(L.Dense(3, activation="relu"))(b)
        c = C(4, **kw)(td)
        d = C(3, go_backwards=True, **kw)(a)
        o = L.Dense(2, activation="softmax")(L.Concatenate()([c, d]))
        return keras.Model(i, o, name="rnn_" + cell)
    return build


def bidirectional():
    return keras.Sequential([
        keras.Input((6, 3)),
        L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="concat"),
        L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="sum"),
        L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="mul"),
        L.Bidirectional(L.GRU(2, reset_after=False), merge_mode="ave"),
        L.Dense(2),
    ], name="bidir")


def embedding():
    return keras.Sequential([
        keras.Input((10,)),
        L.Embedding(50, 8),
        L.LSTM(6, return_sequences=True),
        L.GlobalAveragePooling1D(),
        L.Dense(3, activation="softmax"),
    ], name="embed")


def frozen():
    m = keras.Sequential([
        keras.Input((6,)),
        L.Dense(8, activation="relu", name="base"),
        L.BatchNormalization(name="bn"),
        L.Dense(3, activation="softmax", name="head"),
    ], name="frozen")
    m.get_layer("base").trainable = False
    m.get_layer("bn").trainable = False
    return m


KERAS_MODELS = [("mlp", mlp, (12,)), ("cnn2d", cnn2d, (10, 10, 2)), ("cnn1d", cnn1d, (12, 3)),
                ("functional", functional, (8, 8, 3)),
                ("rnn_simple", rnn("simple_rnn"), (7, 4)), ("rnn_lstm", rnn("lstm"), (7, 4)),
                ("rnn_gru", rnn("gru"), (7, 4)),
                ("rnn_gru_v1", rnn("gru", reset_after=False), (7, 4)),
                ("bidir", bidirectional, (6, 3)), ("embed", embedding, (10,)),
                ("frozen", frozen, (6,))]


def model_input(name, shape, rng, n=N):
    if name == "embed":
        return rng.integers(0, 50, size=(n,) + shape).astype(np.float32)
    return rng.normal(size=(n,) + shape).astype(np.float32)


def summary_counts(text):
    counts = {}
    for key in ("Total", "Trainable", "Non-trainable"):
        m = re.search(r"^%s params: ([\d,]+)" % key, text, re.M)
        if not m:
            raise AssertionError("no '%s params' line in:\n%s" % (key, text))
        counts[key] = int(m.group(1).replace(",", ""))
    return counts


def keras_to_nnctl(rng):
    for name, build, shape in KERAS_MODELS:
        m = build()
        randomize(m, rng)
        m.save(path(name + ".h5"))
        x = model_input(name, shape, rng)
        want = m.predict(x, verbose=0)

        def pred(m=m, name=name, x=x, want=want):
            close(predict_nnctl(name + ".h5", x, name), want)

        def summ(m=m, name=name):
            out = nnctl("summary", name + ".h5").stdout
            for layer in m.layers:
                if layer.name not in out:
                    raise AssertionError("layer %s not in the summary" % layer.name)
            c = summary_counts(out)
            tr = sum(int(np.prod(v.shape)) for v in m.trainable_weights)
            want = {"Total": m.count_params(), "Trainable": tr,
                    "Non-trainable": m.count_params() - tr}
            if c != want:
                raise AssertionError("summary counts %s, Keras %s" % (c, want))

        check("keras->nnctl %s: predict equals model.predict" % name, pred)
        check("keras->nnctl %s: summary layers and parameter counts" % name, summ)


def keras_eval(rng):
    """training_config fills the train section; the data come from --spec."""
    m = mlp()
    randomize(m, rng, 0.3)
    m.save(path("uncompiled.h5"))
    m.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    m.save(path("compiled.h5"))
    x = rng.normal(size=(64, 12)).astype(np.float32)
    y = rng.integers(0, 3, size=64)
    np.save(path("ev_x.npy"), x)
    np.save(path("ev_y.npy"), y.astype(np.int64))
    with open(path("evdata.cfg"), "w") as f:
        f.write('data: { test = { format = "npy"; x = "ev_x.npy"; y = "ev_y.npy"; };\n'
                '        one_hot = true; };\n')
    loss, acc = m.evaluate(x, keras.utils.to_categorical(y, 3), verbose=0, batch_size=64)

    def ev():
        r = nnctl("eval", "compiled.h5", "--spec", "evdata.cfg", "--json", "--threads", 2)
        got = json.loads(r.stdout)
        close(got["loss"], loss, "loss")
        close(got["accuracy"], acc, "accuracy")

    def no_data():
        r = nnctl("eval", "compiled.h5", ok=False)
        if r.returncode != 2 or "--spec" not in r.stderr or "data" not in r.stderr:
            raise AssertionError("exit %d: %s" % (r.returncode, r.stderr))

    def uncompiled():
        r = nnctl("eval", "uncompiled.h5", "--spec", "evdata.cfg", ok=False)
        if r.returncode != 2 or "training_config" not in r.stderr:
            raise AssertionError("exit %d: %s" % (r.returncode, r.stderr))
        r = nnctl("eval", "uncompiled.h5", "--spec", "evdata.cfg", "--json", "--set",
                  "train.loss=categorical_crossentropy", "--threads", 2)
        close(json.loads(r.stdout)["loss"], loss, "loss")

    check("keras eval: training_config's loss and metrics, data from --spec", ev)
    check("keras eval: no --spec says the data are missing (exit 2)", no_data)
    check("keras eval: no training_config says so; --set train.loss supplies it", uncompiled)


# ---- hand-written Keras 2 and Keras 1 files -------------------------------------

def write_h5(fname, config, weights, keras_version, training_config=None, backend="tensorflow"):
    """weights: [(layer name, [(weight name, array), ...]), ...]"""
    with h5py.File(path(fname), "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = keras_version
        f.attrs["backend"] = backend
        if training_config:
            f.attrs["training_config"] = json.dumps(training_config)
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([n.encode() for n, _ in weights])
        g.attrs["backend"] = backend
        g.attrs["keras_version"] = keras_version
        for lname, ws in weights:
            lg = g.create_group(lname)
            lg.attrs["weight_names"] = np.array([w.encode() for w, _ in ws])
            for wname, a in ws:
                lg.create_dataset(wname, data=np.asarray(a, np.float32))


def k2_layer(cls, name, **cfg):
    c = {"name": name, "trainable": True, "dtype": "float32"}
    c.update(cfg)
    return {"class_name": cls, "config": c}


def keras2_files(rng):
    # Sequential, tf.keras 2 layout: batch_input_shape on the first layer
    ref = keras.Sequential([keras.Input((6, 6, 1)),
                            L.Conv2D(3, 3, activation="relu", name="conv2d_1"),
                            L.MaxPooling2D(2, name="max_pooling2d_1"),
                            L.Flatten(name="flatten_1"),
                            L.Dense(5, activation="tanh", name="dense_1"),
                            L.Dense(2, activation="softmax", name="dense_2")])
    randomize(ref, rng)
    ref_seq = ref
    w = {ly.name: ly.get_weights() for ly in ref.layers}
    layers = [
        k2_layer("Conv2D", "conv2d_1", batch_input_shape=[None, 6, 6, 1], filters=3,
                 kernel_size=[3, 3], strides=[1, 1], padding="valid",
                 data_format="channels_last", dilation_rate=[1, 1], activation="relu",
                 use_bias=True,
                 kernel_initializer={"class_name": "GlorotUniform", "config": {"seed": None}}),
        k2_layer("MaxPooling2D", "max_pooling2d_1", pool_size=[2, 2], padding="valid",
                 strides=[2, 2], data_format="channels_last"),
        k2_layer("Flatten", "flatten_1", data_format="channels_last"),
        k2_layer("Dense", "dense_1", units=5, activation="tanh", use_bias=True,
                 kernel_regularizer=None),
        k2_layer("Dense", "dense_2", units=2, activation="softmax", use_bias=True),
    ]
    cfg = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": layers},
           "keras_version": "2.4.0", "backend": "tensorflow"}
    weights = [(n, [("%s/%s:0" % (n, k), a) for k, a in zip(("kernel", "bias"), w[n])])
               for n in ("conv2d_1", "max_pooling2d_1", "flatten_1", "dense_1", "dense_2")]
    write_h5("k2_seq.h5", cfg, weights, "2.4.0",
             {"loss": "categorical_crossentropy", "metrics": ["acc"],
              "optimizer_config": {"class_name": "Adam", "config": {"lr": 0.001}}})
    x = rng.normal(size=(N, 6, 6, 1)).astype(np.float32)
    want = ref.predict(x, verbose=0)
    check("keras 2 Sequential (batch_input_shape, 'dense_1/kernel:0'): predict",
          lambda: close(predict_nnctl("k2_seq.h5", x, "k2_seq"), want))

    # Functional, tf.keras 2 layout: inbound_nodes as nested lists, LSTM
    # weights under lstm_cell, a Bidirectional, a GRU without reset_after
    i = keras.Input((5, 3), name="input_1")
    a = L.LSTM(4, return_sequences=True, name="lstm")(i)
    b = L.Bidirectional(L.LSTM(2, return_sequences=True), name="bidirectional")(a)
    c = L.GRU(3, reset_after=False, name="gru")(b)
    d = L.GRU(3, reset_after=False, name="gru_1")(a)
    o = L.Dense(2, name="dense")(L.Add(name="add")([c, d]))
    ref = keras.Model(i, o)
    randomize(ref, rng)

    def node(*names):
        return [[[n, 0, 0, {}] for n in names]]
    rnn_cfg = dict(return_state=False, go_backwards=False, stateful=False, unroll=False,
                   time_major=False, activation="tanh", recurrent_activation="sigmoid",
                   use_bias=True, dropout=0.0, recurrent_dropout=0.0, implementation=2)
    layers = [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 5, 3], "dtype": "float32", "sparse": False,
                    "ragged": False, "name": "input_1"}},
        dict(k2_layer("LSTM", "lstm", units=4, return_sequences=True, unit_forget_bias=True,
                      **rnn_cfg), name="lstm", inbound_nodes=node("input_1")),
        dict(k2_layer("Bidirectional", "bidirectional", merge_mode="concat",
                      layer=k2_layer("LSTM", "lstm_1", units=2, return_sequences=True,
                                     unit_forget_bias=True, **rnn_cfg)),
             name="bidirectional", inbound_nodes=node("lstm")),
        dict(k2_layer("GRU", "gru", units=3, return_sequences=False, **rnn_cfg),
             name="gru", inbound_nodes=node("bidirectional")),
        dict(k2_layer("GRU", "gru_1", units=3, return_sequences=False, **rnn_cfg),
             name="gru_1", inbound_nodes=node("lstm")),
        dict(k2_layer("Add", "add"), name="add", inbound_nodes=node("gru", "gru_1")),
        dict(k2_layer("Dense", "dense", units=2, activation="linear", use_bias=True),
             name="dense", inbound_nodes=node("add")),
    ]
    cfg = {"class_name": "Functional",
           "config": {"name": "model", "layers": layers, "input_layers": [["input_1", 0, 0]],
                      "output_layers": [["dense", 0, 0]]},
           "keras_version": "2.15.0", "backend": "tensorflow"}
    parts = ("kernel", "recurrent_kernel", "bias")
    wd = {ly.name: ly.get_weights() for ly in ref.layers}
    weights = [("input_1", []),
               ("lstm", [("lstm/lstm_cell/%s:0" % p, a) for p, a in zip(parts, wd["lstm"])]),
               ("bidirectional",
                [("bidirectional/forward_lstm_1/lstm_cell/%s:0" % p, a)
                 for p, a in zip(parts, wd["bidirectional"][:3])] +
                [("bidirectional/backward_lstm_1/lstm_cell/%s:0" % p, a)
                 for p, a in zip(parts, wd["bidirectional"][3:])]),
               ("gru", [("gru/gru_cell/%s:0" % p, a) for p, a in zip(parts, wd["gru"])]),
               ("gru_1", [("gru_1/gru_cell/%s:0" % p, a) for p, a in zip(parts, wd["gru_1"])]),
               ("add", []),
               ("dense", [("dense/%s:0" % p, a) for p, a in zip(("kernel", "bias"),
                                                                 wd["dense"])])]
    write_h5("k2_fn.h5", cfg, weights, "2.15.0")
    x = rng.normal(size=(N, 5, 3)).astype(np.float32)
    want = ref.predict(x, verbose=0)
    check("keras 2 Functional (nested inbound_nodes, lstm_cell, Bidirectional, GRU v1): "
          "predict", lambda: close(predict_nnctl("k2_fn.h5", x, "k2_fn"), want))

    def k2_eval():
        # the Sequential's training_config (loss, "acc") with data from a spec
        xe = rng.normal(size=(20, 6, 6, 1)).astype(np.float32)
        ye = rng.integers(0, 2, size=20)
        np.save(path("k2_x.npy"), xe)
        np.save(path("k2_y.npy"), ye.astype(np.int64))
        with open(path("k2data.cfg"), "w") as f:
            f.write('data: { test = { format = "npy"; x = "k2_x.npy"; y = "k2_y.npy"; }; '
                    'one_hot = true; };\n')
        p = ref_seq_probs(xe)
        loss = float(np.mean(-np.log(np.clip(p[np.arange(20), ye], 1e-7, 1))))
        acc = float(np.mean(np.argmax(p, 1) == ye))
        got = json.loads(nnctl("eval", "k2_seq.h5", "--spec", "k2data.cfg", "--json").stdout)
        close(got["loss"], loss, "loss")
        close(got["accuracy"], acc, "accuracy")

    def ref_seq_probs(xe):
        return ref_seq.predict(xe, verbose=0).astype(np.float64)
    check("keras 2 Sequential: eval with its training_config (loss, \"acc\")", k2_eval)


def keras1_files(rng):
    # Keras 1.2: Sequential config as a list, output_dim, nb_filter/nb_row/
    # nb_col, border_mode, subsample, dim_ordering "tf", "p", W/b names
    ref = keras.Sequential([keras.Input((8, 8, 1)),
                            L.Conv2D(3, (3, 2), strides=(1, 2), padding="same",
                                     activation="relu"),
                            L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.5),
                            L.Dense(4, activation="tanh"), L.Dense(2),
                            L.Activation("softmax")])
    randomize(ref, rng)
    cw, cb = ref.layers[0].get_weights()
    d1w, d1b = ref.layers[4].get_weights()
    d2w, d2b = ref.layers[5].get_weights()
    layers = [
        {"class_name": "Convolution2D", "config": {
            "name": "convolution2d_1", "trainable": True, "batch_input_shape": [None, 8, 8, 1],
            "input_dtype": "float32", "nb_filter": 3, "nb_row": 3, "nb_col": 2,
            "init": "glorot_uniform", "activation": "relu", "border_mode": "same",
            "subsample": [1, 2], "dim_ordering": "tf", "W_regularizer": None,
            "b_regularizer": None, "activity_regularizer": None, "bias": True}},
        {"class_name": "MaxPooling2D", "config": {
            "name": "maxpooling2d_1", "trainable": True, "pool_size": [2, 2],
            "strides": [2, 2], "border_mode": "valid", "dim_ordering": "tf"}},
        {"class_name": "Flatten", "config": {"name": "flatten_1", "trainable": True}},
        {"class_name": "Dropout", "config": {"name": "dropout_1", "trainable": True, "p": 0.5}},
        {"class_name": "Dense", "config": {
            "name": "dense_1", "trainable": True, "output_dim": 4, "init": "glorot_uniform",
            "activation": "tanh", "W_regularizer": None, "bias": True, "input_dim": None}},
        {"class_name": "Dense", "config": {
            "name": "dense_2", "trainable": True, "output_dim": 2, "init": "glorot_uniform",
            "activation": "linear", "W_regularizer": None, "bias": True}},
        {"class_name": "Activation", "config": {"name": "activation_1", "trainable": True,
                                                "activation": "softmax"}},
    ]
    weights = [("convolution2d_1", [("convolution2d_1_W", cw), ("convolution2d_1_b", cb)]),
               ("maxpooling2d_1", []), ("flatten_1", []), ("dropout_1", []),
               ("dense_1", [("dense_1_W", d1w), ("dense_1_b", d1b)]),
               ("dense_2", [("dense_2_W", d2w), ("dense_2_b", d2b)]),
               ("activation_1", [])]
    write_h5("k1_cnn.h5", {"class_name": "Sequential", "config": layers}, weights, "1.2.2")
    x = rng.normal(size=(N, 8, 8, 1)).astype(np.float32)
    want = ref.predict(x, verbose=0)
    check("keras 1 Sequential (Convolution2D nb_filter, output_dim, 'dense_1_W'): predict",
          lambda: close(predict_nnctl("k1_cnn.h5", x, "k1_cnn"), want))

    # Keras 1 recurrent layers: one array per gate (LSTM i, c, f, o; GRU z, r, h)
    ref = keras.Sequential([keras.Input((5, 3)),
                            L.LSTM(4, return_sequences=True),
                            L.Bidirectional(L.LSTM(2, return_sequences=True)),
                            L.GRU(3, reset_after=False),
                            L.Dense(2)])
    randomize(ref, rng)

    def keras1_lstm(prefix, k, r, b):
        U = r.shape[0]
        gates = {"i": 0, "f": 1, "c": 2, "o": 3}
        out = []
        for g in "icfo":  # Keras 1's order
            s = slice(gates[g] * U, (gates[g] + 1) * U)
            out += [(prefix + "_W_" + g, k[:, s]), (prefix + "_U_" + g, r[:, s]),
                    (prefix + "_b_" + g, b[s])]
        return out
    lstm_w = keras1_lstm("lstm_1", *ref.layers[0].get_weights())
    bw = ref.layers[1].get_weights()
    bi_w = keras1_lstm("forward_lstm_2", *bw[:3]) + keras1_lstm("backward_lstm_2", *bw[3:])
    k, r, b = ref.layers[2].get_weights()
    U = 3
    gru_w = []
    for j, g in enumerate("zrh"):
        s = slice(j * U, (j + 1) * U)
        gru_w += [("gru_1_W_" + g, k[:, s]), ("gru_1_U_" + g, r[:, s]), ("gru_1_b_" + g, b[s])]
    dw, db = ref.layers[3].get_weights()
    lstm2 = {"name": "lstm_2", "trainable": True, "output_dim": 2, "return_sequences": True,
             "go_backwards": False, "stateful": False, "activation": "tanh",
             "inner_activation": "sigmoid", "forget_bias_init": "one"}
    layers = [
        {"class_name": "LSTM", "config": {
            "name": "lstm_1", "trainable": True, "batch_input_shape": [None, 5, 3],
            "output_dim": 4, "return_sequences": True, "go_backwards": False, "stateful": False,
            "unroll": False, "consume_less": "cpu", "init": "glorot_uniform",
            "inner_init": "orthogonal", "forget_bias_init": "one", "activation": "tanh",
            "inner_activation": "sigmoid", "W_regularizer": None, "U_regularizer": None,
            "b_regularizer": None, "dropout_W": 0.0, "dropout_U": 0.0}},
        {"class_name": "Bidirectional", "config": {
            "name": "bidirectional_1", "trainable": True, "merge_mode": "concat",
            "layer": {"class_name": "LSTM", "config": lstm2}}},
        {"class_name": "GRU", "config": {
            "name": "gru_1", "trainable": True, "output_dim": 3, "return_sequences": False,
            "go_backwards": False, "stateful": False, "unroll": False, "consume_less": "cpu",
            "init": "glorot_uniform", "inner_init": "orthogonal", "activation": "tanh",
            "inner_activation": "sigmoid", "dropout_W": 0.0, "dropout_U": 0.0}},
        {"class_name": "Dense", "config": {"name": "dense_1", "trainable": True,
                                           "output_dim": 2, "activation": "linear",
                                           "bias": True}},
    ]
    weights = [("lstm_1", lstm_w), ("bidirectional_1", bi_w), ("gru_1", gru_w),
               ("dense_1", [("dense_1_W", dw), ("dense_1_b", db)])]
    write_h5("k1_rnn.h5", {"class_name": "Sequential", "config": layers}, weights, "1.2.2")
    x = rng.normal(size=(N, 5, 3)).astype(np.float32)
    want = ref.predict(x, verbose=0)
    check("keras 1 LSTM/Bidirectional/GRU (per-gate arrays, output_dim, inner_activation): "
          "predict",
          lambda: close(predict_nnctl("k1_rnn.h5", x, "k1_rnn"), want))

    # Keras 1 functional ("Model"): inbound_nodes [[["name", 0, 0]]], Merge
    # by mode, Convolution1D kernels (k, 1, in, out)
    i = keras.Input((6, 3))
    ca = L.Conv1D(4, 3, padding="same", activation="relu")(i)
    cb = L.Conv1D(4, 1)(i)
    m1 = L.Add()([ca, cb])
    m2 = L.Concatenate()([m1, cb])
    ref = keras.Model(i, L.Dense(2)(L.Flatten()(m2)))
    randomize(ref, rng)
    (aw, ab), (bw, bb), (dw, db) = [ly.get_weights() for ly in ref.layers if ly.weights]

    def k1(cls, name, srcs, **cfg):
        c = {"name": name, "trainable": True}
        c.update(cfg)
        return {"class_name": cls, "name": name, "config": c,
                "inbound_nodes": [[[s, 0, 0] for s in srcs]] if srcs else []}
    layers = [k1("InputLayer", "input_1", None, batch_input_shape=[None, 6, 3],
                 input_dtype="float32", sparse=False),
              k1("Convolution1D", "conv_a", ["input_1"], nb_filter=4, filter_length=3,
                 border_mode="same", subsample_length=1, activation="relu", bias=True),
              k1("Convolution1D", "conv_b", ["input_1"], nb_filter=4, filter_length=1,
                 border_mode="valid", subsample_length=1, activation="linear", bias=True),
              k1("Merge", "merge_1", ["conv_a", "conv_b"], mode="sum", concat_axis=-1),
              k1("Merge", "merge_2", ["merge_1", "conv_b"], mode="concat", concat_axis=-1),
              k1("Flatten", "flatten_1", ["merge_2"]),
              k1("Dense", "dense_1", ["flatten_1"], output_dim=2, activation="linear")]
    weights = [("input_1", []),
               ("conv_a", [("conv_a_W", aw[:, None]), ("conv_a_b", ab)]),
               ("conv_b", [("conv_b_W", bw[:, None]), ("conv_b_b", bb)]),
               ("merge_1", []), ("merge_2", []), ("flatten_1", []),
               ("dense_1", [("dense_1_W", dw), ("dense_1_b", db)])]
    write_h5("k1_model.h5", {"class_name": "Model", "config": {
        "name": "model_1", "layers": layers, "input_layers": [["input_1", 0, 0]],
        "output_layers": [["dense_1", 0, 0]]}}, weights, "1.2.2")
    x = rng.normal(size=(N, 6, 3)).astype(np.float32)
    want = ref.predict(x, verbose=0)
    check("keras 1 Model (Merge sum/concat, Convolution1D (k, 1, in, out)): predict",
          lambda: close(predict_nnctl("k1_model.h5", x, "k1_model"), want))


# ---- nnctl -> Keras ------------------------------------------------------------

NNCTL_MODELS = [
    ("n_mlp", [12], "class", """
        { type = "dense"; units = 16; activation = "relu"; },
        { type = "dropout"; rate = 0.2; },
        { type = "dense"; units = 8; activation = "elu";
          kernel_regularizer = { l2 = 0.001; }; },
        { type = "activation"; activation = "tanh"; },
        { type = "dense"; units = 6; activation = "swish"; },
        { type = "reshape"; target_shape = [2, 3]; },
        { type = "dense"; units = 4; activation = "gelu"; },
        { type = "flatten"; },
        { type = "batch_normalization"; momentum = 0.5; },
        { type = "dense"; units = 3; activation = "softmax"; }"""),
    ("n_cnn2d", [8, 8, 2], "class", """
        { type = "conv2d"; filters = 4; kernel_size = 3; strides = 2; padding = "same";
          activation = "relu"; },
        { type = "batch_normalization"; momentum = 0.5; },
        { type = "conv2d"; filters = 4; kernel_size = 3; dilation_rate = 2; padding = "same"; },
        { type = "depthwise_conv2d"; kernel_size = 2; depth_multiplier = 2; },
        { type = "separable_conv2d"; filters = 5; kernel_size = 2; padding = "same";
          activation = "relu"; },
        { type = "max_pooling2d"; pool_size = 2; padding = "same"; },
        { type = "average_pooling2d"; pool_size = 1; },
        { type = "global_average_pooling2d"; },
        { type = "dense"; units = 3; activation = "softmax"; }"""),
    ("n_cnn1d", [12, 3], "class", """
        { type = "conv1d"; filters = 4; kernel_size = 3; strides = 2; padding = "same";
          activation = "relu"; },
        { type = "max_pooling1d"; pool_size = 2; },
        { type = "average_pooling1d"; pool_size = 2; strides = 1; padding = "same"; },
        { type = "global_max_pooling1d"; },
        { type = "dense"; units = 3; activation = "softmax"; }"""),
    ("n_functional", [6, 6, 3], "class", """
        { name = "c1"; type = "conv2d"; filters = 4; kernel_size = 1; activation = "relu";
          inputs = ["input_1"]; },
        { name = "c2"; type = "conv2d"; filters = 4; kernel_size = 3; padding = "same";
          inputs = ["input_1"]; },
        { name = "add"; type = "add"; inputs = ["c1", "c2"]; },
        { name = "sub"; type = "subtract"; inputs = ["c1", "c2"]; },
        { name = "mul"; type = "multiply"; inputs = ["add", "sub"]; },
        { name = "avg"; type = "average"; inputs = ["add", "sub", "c1"]; },
        { name = "mx"; type = "maximum"; inputs = ["mul", "avg"]; },
        { name = "mn"; type = "minimum"; inputs = ["mul", "avg"]; },
        { name = "cat"; type = "concatenate"; inputs = ["mx", "mn"]; },
        { name = "gap"; type = "global_average_pooling2d"; },
        { name = "out"; type = "dense"; units = 3; activation = "softmax"; }"""),
    ("n_rnn", [6, 3], "class", """
        { name = "a"; type = "simple_rnn"; units = 4; return_sequences = true; },
        { name = "b"; type = "lstm"; units = 4; return_sequences = true; go_backwards = true; },
        { name = "td"; type = "time_distributed";
          layer = { type = "dense"; units = 3; activation = "relu"; }; },
        { name = "c"; type = "gru"; units = 3; return_sequences = true; },
        { name = "d"; type = "gru"; units = 3; reset_after = false; inputs = ["a"]; },
        { name = "bi"; type = "bidirectional"; merge_mode = "sum";
          layer = { type = "lstm"; units = 3; }; inputs = ["c"]; },
        { name = "cat"; type = "concatenate"; inputs = ["bi", "d"]; },
        { name = "out"; type = "dense"; units = 3; activation = "softmax"; }"""),
    ("n_embed", [8], "tokens", """
        { type = "embedding"; input_dim = 30; output_dim = 6; },
        { type = "bidirectional"; layer = { type = "gru"; units = 3; }; },
        { type = "dense"; units = 3; activation = "softmax"; }"""),
]

SPEC = """
model: {{ name = "{name}"; input = {{ shape = {shape}; }}; layers = ( {layers} ); }};
data: {{ train = {{ format = "npy"; x = "{name}_x.npy"; y = "{name}_y.npy"; }}; }};
train: {{ loss = "sparse_categorical_crossentropy"; optimizer = {{ type = "adam"; lr = 0.01; }};
  metrics = ["accuracy"]; epochs = 2; batch_size = 16; seed = 3;
  callbacks = {{ checkpoint = {{ path = "ckpt-{{epoch:02d}}.h5"; save_weights_only = true;
                                monitor = "loss"; }}; }}; }};
"""


def nnctl_to_keras(rng):
    for name, shape, kind, layers in NNCTL_MODELS:
        if kind == "tokens":
            x = rng.integers(0, 30, size=(64,) + tuple(shape)).astype(np.float32)
        else:
            x = rng.normal(size=(64,) + tuple(shape)).astype(np.float32)
        np.save(path(name + "_x.npy"), x)
        np.save(path(name + "_y.npy"), rng.integers(0, 3, size=64).astype(np.int64))
        with open(path(name + ".cfg"), "w") as f:
            f.write(SPEC.format(name=name, shape=json.dumps(shape), layers=layers))
        run = name + "_run"
        xt = x[:N]

        def trained(name=name, run=run):
            nnctl("train", name + ".cfg", "-o", run, "-q", "--threads", 2)

        def load(name=name, run=run, xt=xt):
            want = predict_nnctl(os.path.join(run, "model.h5"), xt, name)
            m = keras.models.load_model(path(os.path.join(run, "model.h5")), compile=False)
            close(m.predict(xt, verbose=0), want, "keras.models.load_model(model.h5)")

        def weights_only(name=name, run=run, xt=xt):
            # the architecture from model.h5 (trained 2 epochs), then the
            # weights of epoch 1
            m = keras.models.load_model(path(os.path.join(run, "model.h5")), compile=False)
            ckpt = os.path.join(run, "ckpt-01.h5")
            m.load_weights(path(ckpt))
            close(m.predict(xt, verbose=0), predict_nnctl(ckpt, xt, name + "_ck"),
                  "model.load_weights(ckpt-01.h5)")

        check("nnctl->keras %s: trains" % name, trained)
        check("nnctl->keras %s: load_model predicts what nnctl does" % name, load)
        check("nnctl->keras %s: weights-only checkpoint loads with load_weights" % name,
              weights_only)


# ---- compile settings nnctl writes, evaluated by Keras ----------------------------

COMPILED = """
model: {{ name = "{name}"; input = {{ shape = [6]; }};
  layers = ( {{ type = "dense"; units = 5; activation = "softmax"; }} ); }};
data: {{ train = {{ format = "npy"; x = "cm_x.npy"; y = "{y}"; }};
        test = {{ format = "npy"; x = "cm_x.npy"; y = "{y}"; }}; }};
train: {{ loss = "{loss}"; optimizer = {{ type = "adam"; lr = 0.01; }};
  metrics = ( {{ type = "{topk}"; k = 2; }}, {{ type = "accuracy"; }} );
  epochs = 2; batch_size = 16; seed = 3; }};
"""


def nnctl_compiled(rng):
    """A model trained by nnctl, loaded by Keras with its compile settings
    (training_config): Keras's evaluate must give nnctl's loss and metrics
    under the same names: a top-k metric with k = 2 (serialized, as its
    name alone means nothing to Keras) and accuracy, on one-hot float rows
    (categorical) and on integer labels (sparse)."""
    x = rng.normal(size=(96, 6)).astype(np.float32)
    labels = np.argmax(x[:, :5] + rng.normal(size=(96, 5)), 1)
    np.save(path("cm_x.npy"), x)
    np.save(path("cm_oh.npy"), np.eye(5, dtype=np.float32)[labels])
    np.save(path("cm_lab.npy"), labels.astype(np.int64))
    cases = (("cm_dense", "cm_oh.npy", "categorical_crossentropy", "top_k_categorical_accuracy",
              np.eye(5, dtype=np.float32)[labels]),
             ("cm_sparse", "cm_lab.npy", "sparse_categorical_crossentropy",
              "sparse_top_k_categorical_accuracy", labels))
    for name, y, loss, topk, ky in cases:
        def run(name=name, y=y, loss=loss, topk=topk, ky=ky):
            with open(path(name + ".cfg"), "w") as f:
                f.write(COMPILED.format(name=name, y=y, loss=loss, topk=topk))
            got = json.loads(nnctl("train", name + ".cfg", "-o", name + "_run", "-q", "--json",
                                   "--threads", 2).stdout)["test"]
            m = keras.models.load_model(path(os.path.join(name + "_run", "model.h5")))
            want = m.evaluate(x, ky, verbose=0, batch_size=96, return_dict=True)
            if set(want) != set(got) - {"data", "samples"}:
                raise AssertionError("nnctl logs %s, Keras %s" % (sorted(got), sorted(want)))
            for k in want:
                (loss_close if k == "loss" else close)(got[k], want[k], k)
        check("nnctl->keras %s: Keras's evaluate with the stored compile settings gives "
              "nnctl's numbers (top-k k = 2, accuracy)" % name, run)


# ---- dtype policies ----------------------------------------------------------------

MIXED_SPEC = """
model: { name = "mx"; input = { shape = [8, 8, 1]; };
  layers = ( { type = "conv2d"; filters = 4; kernel_size = 3; activation = "relu"; },
             { type = "flatten"; }, { type = "dense"; units = 3; activation = "softmax"; } ); };
data: { train = { format = "npy"; x = "mx_x.npy"; y = "mx_y.npy"; }; };
train: { loss = "sparse_categorical_crossentropy"; optimizer = "adam"; epochs = 1;
         batch_size = 16; precision = "mixed_bfloat16"; };
"""


def mixed_policies(rng):
    x = rng.normal(size=(32, 8, 8, 1)).astype(np.float32)

    def keras_to_nnctl():
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        try:
            m = keras.Sequential([keras.Input((8, 8, 1)),
                                  L.Conv2D(6, 3, activation="relu", name="conv"),
                                  L.Flatten(name="flat"), L.Dense(16, activation="tanh", name="d1"),
                                  L.Dense(3, activation="softmax", dtype="float32", name="out")],
                                 name="kmixed")
        finally:
            keras.mixed_precision.set_global_policy("float32")
        randomize(m, rng, 0.3)
        m.save(path("kmixed.h5"))
        want = np.asarray(m.predict(x, verbose=0), np.float64)
        nnctl("export", "kmixed.h5", "--format", "json", "-o", "kmixed.json")
        layers = json.load(open(path("kmixed.json")))["config"]["layers"]
        pol = {}
        for l in layers:
            d = l["config"].get("dtype")
            if l["class_name"] != "InputLayer":
                pol[l["config"]["name"]] = d["config"]["name"] if isinstance(d, dict) else d
        if pol != {"conv": "mixed_bfloat16", "flat": "mixed_bfloat16", "d1": "mixed_bfloat16",
                   "out": "float32"}:
            raise AssertionError("policies in nnctl's export: %s" % pol)
        got = predict_nnctl("kmixed.h5", x, "kmixed").astype(np.float64)
        err = np.linalg.norm(got - want) / np.linalg.norm(want)
        if err > 2e-2:
            raise AssertionError("nnctl vs Keras's bf16 predictions: %.3g (> 2e-2)" % err)
        # the file's policies are what runs: neither every layer in float32
        # nor every layer in bf16 (the head is float32) gives the same numbers
        outs = {}
        for p in ("float32", "mixed_bfloat16"):
            nnctl("predict", "kmixed.h5", "kmixed_in.npy", "-o", "kmixed_%s.npy" % p,
                  "--precision", p)
            outs[p] = np.load(path("kmixed_%s.npy" % p))
        if "float32 instead" not in nnctl("--version").stdout:
            for p, o in outs.items():
                if np.array_equal(o, got.astype(np.float32)):
                    raise AssertionError("the file's per-layer policies ran as --precision " + p)

    def nnctl_to_keras():
        np.save(path("mx_x.npy"), x)
        np.save(path("mx_y.npy"), rng.integers(0, 3, size=32).astype(np.int64))
        with open(path("mx.cfg"), "w") as f:
            f.write(MIXED_SPEC)
        nnctl("train", "mx.cfg", "-o", "mx_run", "-q", "--threads", 2)
        m = keras.models.load_model(path("mx_run/model.h5"), compile=False)
        got = {l.name: (l.dtype_policy.name, l.compute_dtype, l.variable_dtype) for l in m.layers}
        if any(v != ("mixed_bfloat16", "bfloat16", "float32") for v in got.values()):
            raise AssertionError("Keras loaded the policies as %s" % got)
        want = predict_nnctl("mx_run/model.h5", x[:N], "mx").astype(np.float64)
        k = np.asarray(m.predict(x[:N], verbose=0), np.float64)
        err = np.linalg.norm(k - want) / np.linalg.norm(want)
        if err > 2e-2:
            raise AssertionError("Keras (bf16) vs nnctl predictions: %.3g (> 2e-2)" % err)

    check("keras->nnctl mixed_bfloat16 model with a float32 head: per-layer policies kept, "
          "bf16 predictions", keras_to_nnctl)
    check("nnctl->keras train.precision = mixed_bfloat16: Keras loads DTypePolicy "
          "mixed_bfloat16 on every layer", nnctl_to_keras)


# ---- from_json and init_from -----------------------------------------------------

def transfer(rng):
    base = keras.Sequential([keras.Input((8, 8, 1)),
                             L.Conv2D(4, 3, activation="relu", name="conv"),
                             L.BatchNormalization(name="bn"),
                             L.Flatten(name="flat"),
                             L.Dense(6, activation="relu", name="feat"),
                             L.Dense(3, activation="softmax", name="head")], name="base")
    randomize(base, rng, 0.3)
    base.save(path("base.h5"))
    with open(path("base.json"), "w") as f:
        f.write(base.to_json())
    x = rng.normal(size=(80, 8, 8, 1)).astype(np.float32)
    np.save(path("tl_x.npy"), x)
    np.save(path("tl_y.npy"), rng.integers(0, 5, size=80).astype(np.int64))
    np.save(path("tl3_y.npy"), rng.integers(0, 3, size=80).astype(np.int64))
    train = """train: { loss = "sparse_categorical_crossentropy"; optimizer = "adam";
  epochs = 1; batch_size = 16; %s };"""
    os.makedirs(path("specs"), exist_ok=True)
    shutil.copy(path("base.json"), path("specs/base.json"))
    with open(path("specs/fromjson.cfg"), "w") as f:
        f.write('model: { from_json = "base.json"; };\n'
                'data: { train = { format = "npy"; x = "tl_x.npy"; y = "tl3_y.npy"; }; };\n'
                + train % "")

    def from_json():
        out = nnctl("summary", "specs/fromjson.cfg").stdout
        c = summary_counts(out)
        if c["Total"] != base.count_params():
            raise AssertionError("summary says %d parameters, Keras %d"
                                 % (c["Total"], base.count_params()))
        nnctl("train", "specs/fromjson.cfg", "-o", "fj_run", "-q", "--threads", 2)
        # the trained file reads back without base.json around
        os.remove(path("specs/base.json"))
        nnctl("summary", "fj_run/model.h5")
        m = keras.models.load_model(path("fj_run/model.h5"), compile=False)
        close(m.predict(x[:N], verbose=0), predict_nnctl("fj_run/model.h5", x[:N], "fj"))

    with open(path("tl.cfg"), "w") as f:
        f.write("""model: { name = "tl"; input = { shape = [8, 8, 1]; };
  layers = ( { type = "conv2d"; name = "conv"; filters = 4; kernel_size = 3; activation = "relu";
               trainable = false; },
             { type = "batch_normalization"; name = "bn"; trainable = false; },
             { type = "flatten"; name = "flat"; },
             { type = "dense"; name = "feat"; units = 6; activation = "relu"; trainable = false; },
             { type = "dense"; name = "new_head"; units = 5; activation = "softmax"; } ); };
data: { train = { format = "npy"; x = "tl_x.npy"; y = "tl_y.npy"; }; };
""" + train % 'init_from = "base.h5";')

    def init_from():
        r = nnctl("train", "tl.cfg", "-o", "tl_run", "-q", "--threads", 2)
        lines = [ln for ln in r.stderr.splitlines() if "init_from" in ln]
        if len(lines) != 2 or not re.search(r"loaded 3 layers: conv, bn, feat$", lines[0]) \
                or not re.search(r"freshly initialized 1 layer: new_head \(not in the file\)",
                                 lines[1]):
            raise AssertionError("log lines: %r" % lines)
        out = nnctl("summary", "tl_run/model.h5").stdout
        c = summary_counts(out)
        frozen_n = 4 * 9 + 4 + 4 * 4 + 6 * 6 * 4 * 6 + 6
        if c["Non-trainable"] != frozen_n or c["Trainable"] != 6 * 5 + 5:
            raise AssertionError("summary counts %s" % c)
        with h5py.File(path("tl_run/model.h5"), "r") as f:
            for ly in ("conv", "bn", "feat"):
                got = [f["model_weights"][ly][n.decode() if isinstance(n, bytes) else n][()]
                       for n in f["model_weights"][ly].attrs["weight_names"]]
                want = base.get_layer(ly).get_weights()
                if len(got) != len(want):
                    raise AssertionError("frozen layer %s: %d arrays in the file, Keras has %d"
                                         % (ly, len(got), len(want)))
                for a, b in zip(got, want):
                    if not np.array_equal(a, b):
                        raise AssertionError("frozen layer %s changed or was not loaded" % ly)

    def head_shape():
        # same name, other width: kept fresh, and said so
        with open(path("tl2.cfg"), "w") as f:
            f.write(open(path("tl.cfg")).read().replace('"new_head"', '"head"'))
        r = nnctl("train", "tl2.cfg", "-o", "tl2_run", "-q", "--threads", 2)
        if "head (other weight shapes in the file)" not in r.stderr:
            raise AssertionError(r.stderr)

    with open(path("tb.cfg"), "w") as f:
        f.write("""model: { name = "tl";
  base = { file = "base.h5"; output = "feat"; trainable = false; };
  layers = ( { type = "dense"; name = "new_head"; units = 5; activation = "softmax"; } ); };
data: { train = { format = "npy"; x = "tl_x.npy"; y = "tl_y.npy"; }; };
""" + train % "")

    def base_frozen():
        # Keras's own transfer model: the base cut at feat, frozen, a new head
        cut = keras.Model(base.inputs, base.get_layer("feat").output)
        cut.trainable = False
        km = keras.Sequential([cut, L.Dense(5, activation="softmax")])
        km.build((None, 8, 8, 1))
        c = summary_counts(nnctl("summary", "tb.cfg").stdout)
        k_train = sum(int(np.prod(w.shape)) for w in km.trainable_weights)
        k_frozen = sum(int(np.prod(w.shape)) for w in km.non_trainable_weights)
        if (c["Trainable"], c["Non-trainable"]) != (k_train, k_frozen):
            raise AssertionError("nnctl counts %s, Keras %d trainable, %d not"
                                 % (c, k_train, k_frozen))
        nnctl("train", "tb.cfg", "-o", "tb_run", "-q", "--threads", 2)
        # the frozen base's features are Keras's base model's
        np.save(path("tb_in.npy"), x[:N])
        nnctl("predict", "tb_run/model.h5", "tb_in.npy", "--layer", "feat", "-o", "tb_feat.npy",
              "--threads", 2)
        close(np.load(path("tb_feat.npy")), cut.predict(x[:N], verbose=0), "feat features")
        # the same as the network written out and loaded by init_from (tl.cfg)
        got = predict_nnctl("tb_run/model.h5", x[:N], "tb")
        if not np.array_equal(got, predict_nnctl("tl_run/model.h5", x[:N], "tl")):
            raise AssertionError("model.base and the retyped network trained differently")
        # Keras opens the result: same predictions, the base frozen
        m = keras.models.load_model(path("tb_run/model.h5"), compile=False)
        close(m.predict(x[:N], verbose=0), got)
        flags = {ly.name: ly.trainable for ly in m.layers}
        want = {"conv": False, "bn": False, "flat": False, "feat": False, "new_head": True}
        if any(flags.get(k) != v for k, v in want.items()):
            raise AssertionError("Keras reads the trainable flags as %s" % flags)

    check("model.from_json (Keras's to_json) trains; the model file stands alone", from_json)
    check("train.init_from a Keras file: shared layers loaded, frozen ones kept, head fresh",
          init_from)
    check("train.init_from: a layer of another shape stays fresh, the log says why",
          head_shape)
    check("model.base: a Keras file cut at a layer, frozen, a new head: Keras's counts, its "
          "features, the init_from result, and Keras reads it back", base_frozen)


# ---- several inputs and outputs (functional API) ------------------------------

def multi_io_model(rng):
    """Two inputs (Dense branches, Concatenate), two outputs: a softmax
    classifier and a linear regression. input_layers lists in_b first,
    while the file's layers start with in_a."""
    a = keras.Input((4,), name="in_a")
    b = keras.Input((3,), name="in_b")
    ha = L.Dense(5, activation="relu", name="da")(a)
    hb = L.Dense(6, activation="tanh", name="db")(b)
    c = L.Concatenate(name="cat")([ha, hb])
    cls = L.Dense(3, activation="softmax", name="cls")(c)
    reg = L.Dense(1, name="reg")(c)
    m = keras.Model([b, a], [cls, reg], name="two_io")
    randomize(m, rng)
    return m


def loss_close(got, want, what):
    if not abs(got - want) <= 1e-4 * abs(want):
        raise AssertionError("%s: nnctl %r, Keras %r" % (what, got, want))


# ---- Keras 3's activations and losses, both ways ---------------------------------

# (loss as Keras is given it, nnctl's spec value, output activation, targets)
FUNCTION_LOSSES = [
    ("categorical_hinge", '"categorical_hinge"', "linear", "onehot"),
    ("kl_divergence", '"kl_divergence"', "softmax", "soft"),
    ("poisson", '"poisson"', "exponential", "counts"),
    ("log_cosh", '"log_cosh"', "linear", "reals"),
    ("huber", '{ type = "huber"; delta = 2.0; }', "linear", "reals"),
    ("cosine_similarity", '"cosine_similarity"', "linear", "reals"),
]

FUNCTIONS_SPEC = """
model: {{ name = "{name}"; input = {{ shape = [10]; }}; layers = (
    {{ type = "dense"; units = 8; activation = "relu6"; }},
    {{ type = "dense"; units = 8; activation = "mish"; }},
    {{ type = "dense"; units = 8; activation = "hard_silu"; }},
    {{ type = "dense"; units = 8; activation = "hard_swish"; }},
    {{ type = "dense"; units = 8; activation = "silu"; }},
    {{ type = "dense"; units = 5; activation = "{out}"; }} ); }};
data: {{ train = {{ format = "npy"; x = "fn_x.npy"; y = "fn_{y}.npy"; }};
        test = {{ format = "npy"; x = "fn_x.npy"; y = "fn_{y}.npy"; }}; }};
train: {{ loss = {loss}; optimizer = {{ type = "adam"; lr = 0.001; }};
  epochs = 1; batch_size = 32; seed = 3; }};
"""


def function_targets(rng, n):
    oh = np.eye(5, dtype=np.float32)[rng.integers(0, 5, n)]
    soft = rng.uniform(0.05, 1, (n, 5)).astype(np.float32)
    soft /= soft.sum(-1, keepdims=True)
    return {"onehot": oh, "soft": soft,
            "counts": rng.integers(0, 4, (n, 5)).astype(np.float32),
            "reals": rng.normal(0, 2, (n, 5)).astype(np.float32)}


def keras_functions(rng):
    """relu6, mish, exponential, hard_silu (and its alias hard_swish), silu;
    the losses categorical_hinge, kl_divergence, poisson, log_cosh, huber
    (delta), cosine_similarity: Keras 3's files load in nnctl with the same
    predictions and evaluate's loss, and nnctl's files load in Keras with the
    same predictions and evaluate's loss (Keras computing it from the compile
    settings nnctl stores)."""
    n = 64
    x = rng.normal(size=(n, 10)).astype(np.float32)
    np.save(path("fn_x.npy"), x)
    ys = function_targets(rng, n)
    for k, v in ys.items():
        np.save(path("fn_%s.npy" % k), v)

    def model(out):
        m = keras.Sequential([keras.Input((10,)), L.Dense(8, activation="relu6"),
                              L.Dense(8, activation="mish"), L.Dense(8, activation="hard_silu"),
                              L.Dense(8, activation="hard_swish"), L.Dense(8, activation="silu"),
                              L.Dense(5, activation=out)])
        randomize(m, rng, 0.4)
        return m

    def keras_predict():
        m = model("exponential")
        m.save(path("fn_keras.h5"))
        close(predict_nnctl("fn_keras.h5", x[:N], "fn_keras"), m.predict(x[:N], verbose=0))

    check("keras->nnctl relu6, mish, hard_silu, hard_swish, silu, exponential: predict", keras_predict)

    keras_losses = {"categorical_hinge": keras.losses.CategoricalHinge(),
                    "kl_divergence": "kl_divergence", "poisson": keras.losses.Poisson(),
                    "log_cosh": keras.losses.LogCosh(), "huber": "huber",
                    "cosine_similarity": keras.losses.CosineSimilarity()}
    with open(path("fn_data.cfg"), "w") as f:
        f.write('data: { test = { format = "npy"; x = "fn_x.npy"; y = "fn_y.npy"; }; };\n')
    for name, spec_loss, out, y in FUNCTION_LOSSES:
        def from_keras(name=name, out=out, y=y):
            m = model(out)
            m.compile(loss=keras_losses[name], optimizer="adam")
            m.save(path("fn_k_%s.h5" % name))
            np.save(path("fn_y.npy"), ys[y])
            want = m.evaluate(x, ys[y], verbose=0, batch_size=n)
            r = nnctl("eval", "fn_k_%s.h5" % name, "--spec", "fn_data.cfg", "--json",
                      "--threads", 2)
            loss_close(json.loads(r.stdout)["loss"], want, name)

        def from_nnctl(name=name, spec_loss=spec_loss, out=out, y=y):
            tag = "fn_n_" + name
            with open(path(tag + ".cfg"), "w") as f:
                f.write(FUNCTIONS_SPEC.format(name=tag, out=out, y=y, loss=spec_loss))
            got = json.loads(nnctl("train", tag + ".cfg", "-o", tag, "-q", "--json",
                                   "--threads", 2).stdout)["test"]
            m = keras.models.load_model(path(os.path.join(tag, "model.h5")))
            close(m.predict(x[:N], verbose=0),
                  predict_nnctl(os.path.join(tag, "model.h5"), x[:N], tag), "predictions")
            loss_close(got["loss"], m.evaluate(x, ys[y], verbose=0, batch_size=n), name)

        check("keras->nnctl loss %s: nnctl eval gives Keras's evaluate" % name, from_keras)
        check("nnctl->keras loss %s: Keras's evaluate with the stored compile settings gives "
              "nnctl's loss; predictions agree" % name, from_nnctl)


def keras_multi_io(rng):
    m = multi_io_model(rng)
    n = 64
    xa = rng.normal(size=(n, 4)).astype(np.float32)
    xb = rng.normal(size=(n, 3)).astype(np.float32)
    y1 = rng.integers(0, 3, size=n)
    y2 = rng.normal(size=(n, 1)).astype(np.float32)
    np.save(path("mio_a.npy"), xa)
    np.save(path("mio_b.npy"), xb)
    np.save(path("mio_y1.npy"), y1.astype(np.int64))
    np.save(path("mio_y2.npy"), y2)
    with open(path("mio.cfg"), "w") as f:
        f.write('data: { test = { format = "npy"; x = { in_a = "mio_a.npy"; in_b = "mio_b.npy"; };\n'
                '                 y = { cls = "mio_y1.npy"; reg = "mio_y2.npy"; }; };\n'
                '        one_hot = true; };\n')
    y = {"cls": keras.utils.to_categorical(y1, 3), "reg": y2}
    # Keras 3: a dict by output name, or a list by output position
    compiles = {
        "dicts": dict(loss={"cls": "categorical_crossentropy", "reg": "mse"},
                      loss_weights={"cls": 1.0, "reg": 0.5},
                      metrics={"cls": ["accuracy"], "reg": ["accuracy"]}),
        "lists": dict(loss=["categorical_crossentropy", keras.losses.MeanSquaredError()],
                      loss_weights=[0.7, 2.0], metrics=["accuracy", "accuracy"]),
    }
    want = {}
    for tag, kw in compiles.items():
        m.compile(optimizer="adam", **kw)
        m.save(path("mio_%s.h5" % tag))
        want[tag] = m.evaluate([xb, xa], y, verbose=0, batch_size=n, return_dict=True)
    # metrics that differ between outputs (the dict form), one loss for both
    m.compile(optimizer="adam", loss="mse", metrics={"cls": ["accuracy"], "reg": ["mae"]})
    m.save(path("mio_permetric.h5"))
    want["permetric"] = m.evaluate([xb, xa], y, verbose=0, batch_size=n, return_dict=True)

    def summ():
        out = nnctl("summary", "mio_dicts.h5").stdout
        for layer in m.layers:
            if layer.name not in out:
                raise AssertionError("layer %s not in the summary" % layer.name)
        c = summary_counts(out)
        if c["Total"] != m.count_params() or c["Trainable"] != m.count_params():
            raise AssertionError("summary counts %s, Keras %d" % (c, m.count_params()))

    def onnx():
        try:
            import onnxruntime as ort
        except ImportError:
            raise Skip("onnxruntime is not importable here (scripts/oracle-venv)")
        nnctl("export", "mio_dicts.h5", "--format", "onnx", "-o", "mio.onnx")
        s = ort.InferenceSession(path("mio.onnx"))
        names = [o.name for o in s.get_outputs()]
        if names != ["cls", "reg"]:
            raise AssertionError("ONNX outputs %s, expected ['cls', 'reg']" % names)
        got = s.run(None, {"in_a": xa[:N], "in_b": xb[:N]})
        ref = m.predict([xb[:N], xa[:N]], verbose=0)
        for name, g, r in zip(names, got, ref):
            close(g, r, name)

    def ev(tag):
        def run():
            r = nnctl("eval", "mio_%s.h5" % tag, "--spec", "mio.cfg", "--json", "--threads", 2)
            got, w = json.loads(r.stdout), want[tag]
            # every number Keras's evaluate gives, and no other metric
            extra = set(got) - set(w) - {"data", "samples"}
            if extra or set(w) - set(got):
                raise AssertionError("nnctl logs %s, Keras %s" % (sorted(got), sorted(w)))
            for k in w:
                (loss_close if k.endswith("loss") else close)(got[k], w[k], k)
        return run

    # predict feeds one input: a one-input model with two outputs, by --layer
    i = keras.Input((6,), name="x")
    h = L.Dense(5, activation="relu", name="h")(i)
    o1 = L.Dense(3, activation="softmax", name="probs")(h)
    o2 = L.Dense(2, name="value")(h)
    one = keras.Model(i, [o2, o1], name="one_in")
    randomize(one, rng)
    one.save(path("mio_one.h5"))
    x1 = rng.normal(size=(N, 6)).astype(np.float32)
    ref1 = one.predict(x1, verbose=0)

    def pred_layers():
        np.save(path("mio_one_in.npy"), x1)
        for name, r in zip(("value", "probs"), ref1):
            nnctl("predict", "mio_one.h5", "mio_one_in.npy", "--layer", name,
                  "-o", "mio_one_%s.npy" % name, "--threads", 2)
            close(np.load(path("mio_one_%s.npy" % name)), r, name)

    check("keras->nnctl multi-io: summary layers and parameter counts", summ)
    check("keras->nnctl multi-io: export --format onnx equals model.predict per output", onnx)
    check("keras->nnctl multi-output: predict --layer each output equals model.predict",
          pred_layers)
    check("keras eval multi-io: loss/loss_weights/metrics dicts give model.evaluate's loss",
          ev("dicts"))
    check("keras eval multi-io: loss/loss_weights/metrics lists give model.evaluate's loss",
          ev("lists"))
    check("keras eval multi-io: metrics differing per output (a dict) give evaluate's numbers",
          ev("permetric"))


def accuracy(rng):
    """"accuracy" for every loss and output width, as Keras 3's evaluate
    (accuracy_cases.py)."""
    def report(ok, name, detail):
        def fn():
            if not ok:
                raise AssertionError(detail)
        check(name, fn)
    accuracy_cases.run(keras, NNCTL, WORK, report)


def main():
    global verbose, NNCTL, WORK
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnctl", required=True)
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    verbose = a.verbose
    NNCTL = os.path.abspath(a.nnctl)
    WORK = tempfile.mkdtemp(prefix="nnctl-keras.")
    os.environ["NNCTL_DATA"] = WORK
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(7)
    print("keras %s (%s backend)" % (keras.__version__, keras.backend.backend()))
    for part in (keras_to_nnctl, keras_eval, keras2_files, keras1_files, nnctl_to_keras,
                 nnctl_compiled, transfer, keras_multi_io, keras_functions, accuracy,
                 mixed_policies):
        try:
            part(rng)
        except Exception as e:  # noqa: BLE001 - a broken part fails, the rest runs
            global failed
            failed += 1
            print("FAIL %s: %s: %s" % (part.__name__, type(e).__name__, e))
    if a.keep:
        print("kept " + WORK)
    else:
        shutil.rmtree(WORK, ignore_errors=True)
    print("keras: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
