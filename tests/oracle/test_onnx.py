#!/usr/bin/env python3
"""Export oracle: `nnctl export` checked by the tools that read its output.

    .venv/bin/python tests/oracle/test_onnx.py --nnctl build/nnctl [-v] [--keep]

Needs onnxruntime, numpy and h5py (scripts/oracle-venv puts them in .venv);
PyYAML and Keras 3 (JAX backend) are used when importable, and their checks
are skipped, saying so, when not.

For each of a set of small models (an MLP with every activation, Conv1D /
Conv2D with BatchNormalization and pooling, valid and same padding,
strides 2, dilation; a functional model with DepthwiseConv2D,
SeparableConv2D, every merge and global pooling; SimpleRNN, LSTM and GRU
(both reset_after modes) with return_sequences on and off and
go_backwards; non-default recurrent activations; Bidirectional with each
merge mode, also around a go_backwards layer; TimeDistributed(Dense);
Embedding), generated from a spec and trained for one epoch on generated
data so the weights are not the initial ones:
  * onnx: `nnctl export --format onnx` runs in onnxruntime on 7 inputs (a
    batch size the model was never planned for) and gives nnctl predict's
    outputs (`predict MODEL x.npy -o y.npy`) to 1e-5 relative (plus 1e-6
    of the output's largest magnitude for values near zero);
  * json: json.loads of the export equals the model_config attribute of
    model.h5 (read by h5py) once the "module"/"registered_name" annotations
    the export adds are removed, and the keys come in to_json()'s order;
  * yaml: yaml.safe_load of the YAML export equals json.loads of the JSON;
  * keras: keras.models.model_from_json builds every JSON export (one Keras
    process for all models) with the model's layer names.
A model with two inputs and two outputs (loss per output, loss weights):
its ONNX graph names both inputs and outputs in model order and agrees
with a numpy forward pass from model.h5's weights; Keras 3 loads the file,
predicts the same and, compiled from the stored training_config,
evaluates the weighted loss nnctl eval reports (1e-4 relative).
Then json/yaml of a hand-made model_config full of awkward values (strings
YAML 1.1 would misread if plain, control characters, floats from 5e-324 to
1e300, nested empty containers) must read back to it exactly.
Then the errors: a missing file, a file that is not HDF5, an HDF5 file
that is not a Keras model, an unknown or missing --format, and a layer
ONNX cannot express (a SimpleRNN with a swish activation) must fail with a
clear message and exit status 1 or 2, leaving no output file behind.

Prints one line per check and ends with "onnx: N passed, M failed, K skipped"; exits
1 when M > 0.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import onnxruntime as ort

try:
    import yaml
except ImportError:  # the YAML checks are skipped, saying why
    yaml = None

RTOL = 1e-5
BATCH = 7

# name, data kind, input shape, layers (libconfig), optional train overrides
MODELS = [
    ("mlp", "idx", [24], """
        { type = "dense"; units = 16; activation = "relu"; },
        { type = "dropout"; rate = 0.2; },
        { type = "dense"; units = 8; activation = "tanh"; },
        { type = "dense"; units = 3; activation = "softmax"; }"""),
    ("activations", "idx", [12], """
        { type = "dense"; units = 8; activation = "sigmoid"; },
        { type = "dense"; units = 8; activation = "elu"; },
        { type = "dense"; units = 8; activation = "selu"; },
        { type = "dense"; units = 8; activation = "softplus"; },
        { type = "dense"; units = 8; activation = "softsign"; },
        { type = "dense"; units = 8; activation = "hard_sigmoid"; },
        { type = "dense"; units = 8; activation = "leaky_relu"; },
        { type = "activation"; activation = "leaky_relu"; alpha = 0.1; },
        { type = "dense"; units = 8; activation = "swish"; },
        { type = "dense"; units = 8; activation = "gelu"; },
        { type = "dense"; units = 8; activation = "relu6"; },
        { type = "dense"; units = 8; activation = "mish"; },
        { type = "dense"; units = 8; activation = "hard_silu"; },
        { type = "activation"; activation = "exponential"; },
        { type = "dense"; units = 6; },
        { type = "reshape"; target_shape = [2, -1]; },
        { type = "dense"; units = 4; activation = "relu"; },
        { type = "activation"; activation = "softmax"; },
        { type = "flatten"; },
        { type = "dense"; units = 3; activation = "softmax"; }"""),
    ("cnn2d", "idx", [10, 10, 2], """
        { type = "conv2d"; filters = 4; kernel_size = 3; strides = 2; padding = "same";
          activation = "relu"; },
        { type = "batch_normalization"; momentum = 0.5; },
        { type = "conv2d"; filters = 6; kernel_size = 3; dilation_rate = 2; padding = "same"; },
        { type = "conv2d"; filters = 6; kernel_size = [2, 3]; activation = "elu"; },
        { type = "max_pooling2d"; pool_size = 2; padding = "same"; },
        { type = "average_pooling2d"; pool_size = 2; strides = 1; padding = "same"; },
        { type = "flatten"; },
        { type = "dense"; units = 3; activation = "softmax"; }"""),
    ("cnn2d_valid", "idx", [9, 9, 1], """
        { type = "conv2d"; filters = 3; kernel_size = 3; strides = 2; activation = "relu";
          use_bias = false; },
        { type = "batch_normalization"; momentum = 0.5; center = false; scale = false; },
        { type = "average_pooling2d"; pool_size = 2; },
        { type = "conv2d"; filters = 4; kernel_size = 1; },
        { type = "global_max_pooling2d"; },
        { type = "dense"; units = 3; activation = "softmax"; }"""),
    ("cnn1d", "idx", [12, 3], """
        { type = "conv1d"; filters = 4; kernel_size = 3; strides = 2; padding = "same";
          activation = "relu"; },
        { type = "batch_normalization"; momentum = 0.5; },
        { type = "conv1d"; filters = 5; kernel_size = 3; dilation_rate = 2; padding = "same"; },
        { type = "max_pooling1d"; pool_size = 2; },
        { type = "average_pooling1d"; pool_size = 2; strides = 1; padding = "same"; },
        { type = "conv1d"; filters = 5; kernel_size = 2; activation = "tanh"; },
        { type = "global_average_pooling1d"; },
        { type = "dense"; units = 3; activation = "softmax"; }"""),
    ("functional", "idx", [8, 8, 3], """
        { name = "c1"; type = "conv2d"; filters = 6; kernel_size = 1; activation = "relu";
          inputs = ["input_1"]; },
        { name = "dw"; type = "depthwise_conv2d"; kernel_size = 3; padding = "same";
          depth_multiplier = 2; inputs = ["input_1"]; },
        { name = "sep"; type = "separable_conv2d"; filters = 6; kernel_size = 3; padding = "same";
          depth_multiplier = 2; activation = "relu"; inputs = ["input_1"]; },
        { name = "add"; type = "add"; inputs = ["c1", "dw", "sep"]; },
        { name = "sub"; type = "subtract"; inputs = ["dw", "sep"]; },
        { name = "mul"; type = "multiply"; inputs = ["c1", "dw"]; },
        { name = "avg"; type = "average"; inputs = ["add", "sub"]; },
        { name = "mx"; type = "maximum"; inputs = ["mul", "avg", "c1"]; },
        { name = "mn"; type = "minimum"; inputs = ["mx", "sub"]; },
        { name = "cat"; type = "concatenate"; inputs = ["add", "mn"]; },
        { name = "bn"; type = "batch_normalization"; momentum = 0.5; },
        { name = "gap"; type = "global_average_pooling2d"; },
        { name = "dw2"; type = "depthwise_conv2d"; kernel_size = 3; strides = 2;
          inputs = ["input_1"]; },
        { name = "gmp2"; type = "global_max_pooling2d"; },
        { name = "sep2"; type = "separable_conv2d"; filters = 4; kernel_size = 2; strides = 2;
          padding = "same"; inputs = ["input_1"]; },
        { name = "gmp"; type = "global_max_pooling2d"; },
        { name = "cat2"; type = "concatenate"; axis = 1; inputs = ["gap", "gmp2", "gmp"]; },
        { name = "out"; type = "dense"; units = 3; activation = "softmax"; }"""),
]


def rnn_model(cell, extra=""):
    """Return sequences forwards and backwards, the last state forwards and
    backwards, merged: every output mode of one cell kind."""
    return """
        { name = "a"; type = "%(c)s"; units = 5; return_sequences = true; %(x)s },
        { name = "b"; type = "%(c)s"; units = 4; return_sequences = true; go_backwards = true;
          %(x)s },
        { name = "td"; type = "time_distributed";
          layer = { type = "dense"; units = 3; activation = "relu"; }; },
        { name = "c"; type = "%(c)s"; units = 4; %(x)s },
        { name = "d"; type = "%(c)s"; units = 3; go_backwards = true; inputs = ["a"]; %(x)s },
        { name = "cat"; type = "concatenate"; inputs = ["c", "d"]; },
        { name = "out"; type = "dense"; units = 2; activation = "softmax"; }""" % {
        "c": cell, "x": extra}


MODELS += [
    ("simple_rnn", "csv", [7, 3], rnn_model("simple_rnn")),
    ("lstm", "csv", [7, 3], rnn_model("lstm")),
    ("gru", "csv", [7, 3], rnn_model("gru")),
    ("gru_reset_before", "csv", [7, 3], rnn_model("gru", "reset_after = false;")),
    ("rnn_activations", "csv", [7, 3], """
        { type = "lstm"; units = 4; return_sequences = true; activation = "relu";
          recurrent_activation = "hard_sigmoid"; },
        { type = "gru"; units = 4; return_sequences = true; activation = "softsign";
          reset_after = false; use_bias = false; },
        { type = "simple_rnn"; units = 3; return_sequences = true; go_backwards = true;
          activation = "leaky_relu"; use_bias = false; },
        { type = "gru"; units = 3; activation = "elu"; recurrent_activation = "hard_sigmoid"; },
        { type = "dense"; units = 2; activation = "softmax"; }"""),
    ("bidirectional", "csv", [7, 3], """
        { type = "bidirectional"; layer = { type = "lstm"; units = 4; return_sequences = true; }; },
        { type = "bidirectional"; merge_mode = "sum";
          layer = { type = "gru"; units = 3; return_sequences = true; }; },
        { type = "bidirectional"; merge_mode = "ave";
          layer = { type = "simple_rnn"; units = 3; return_sequences = true; }; },
        { type = "bidirectional"; merge_mode = "mul";
          layer = { type = "gru"; units = 3; reset_after = false; }; },
        { type = "dense"; units = 2; activation = "softmax"; }"""),
    ("bidirectional_backwards", "csv", [7, 3], """
        { type = "bidirectional";
          layer = { type = "lstm"; units = 4; return_sequences = true; go_backwards = true; }; },
        { type = "bidirectional"; merge_mode = "ave";
          layer = { type = "simple_rnn"; units = 3; return_sequences = true;
                    go_backwards = true; }; },
        { type = "bidirectional"; layer = { type = "gru"; units = 3; go_backwards = true; }; },
        { type = "dense"; units = 2; activation = "softmax"; }"""),
    ("embedding_lstm", "tokens", [10], """
        { type = "embedding"; input_dim = 20; output_dim = 8; },
        { type = "lstm"; units = 6; },
        { type = "dense"; units = 2; activation = "softmax"; }"""),
    ("embedding_pool", "tokens", [10], """
        { type = "embedding"; input_dim = 20; output_dim = 4; },
        { type = "global_average_pooling1d"; },
        { type = "dense"; units = 2; activation = "softmax"; }"""),
]

SPEC = """
model: {{ name = "{name}"; input = {{ shape = {shape}; }};
  layers = ( {layers} ); }};
data: {{ {data} }};
train: {{ loss = "sparse_categorical_crossentropy"; optimizer = {{ type = "adam"; lr = 0.01; }};
  epochs = 1; batch_size = 16; seed = 1; }};
"""


def write_idx(path, a):
    a = np.ascontiguousarray(a, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 8, a.ndim))
        for d in a.shape:
            f.write(struct.pack(">I", d))
        f.write(a.tobytes())


def make_data(d, kind, shape, rng):
    """Training data for a model (written under d) and its data group;
    returns (data group text, a batch of test inputs as float32)."""
    n = 160
    if kind == "idx":
        x = rng.integers(0, 256, size=(n, *shape))
        y = (x.reshape(n, -1).mean(axis=1) > 127.5).astype(np.uint8)
        write_idx(os.path.join(d, "x.idx"), x)
        write_idx(os.path.join(d, "y.idx"), y)
        data = 'train = { format = "idx"; images = "x.idx"; labels = "y.idx"; }; scale = 255.0;'
        return data, rng.random((BATCH, *shape), dtype=np.float32)
    if kind == "csv":
        t, f = shape
        x = rng.normal(size=(n, t, f))
        with open(os.path.join(d, "x.csv"), "w") as out:
            for s in x:
                out.write("%d," % (s[:, 0].sum() > 0) + ",".join("%.5f" % v for v in s.ravel())
                          + "\n")
        data = ('train = { format = "csv"; path = "x.csv"; timesteps = %d; features = %d; };'
                % (t, f))
        return data, rng.normal(size=(BATCH, t, f)).astype(np.float32)
    maxlen = shape[0]
    with open(os.path.join(d, "x.txt"), "w") as out:
        for i in range(n):
            ids = rng.integers(1, 20, size=rng.integers(3, 14))
            out.write("%d %s\n" % (int(3 in ids), " ".join(map(str, ids))))
    data = 'train = { format = "tokens"; path = "x.txt"; maxlen = %d; };' % maxlen
    return data, rng.integers(0, 20, size=(BATCH, maxlen)).astype(np.float32)


SANITIZER_REPORTS = []  # commands whose stderr has an ASan/UBSan/LSan report


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if any(m in r.stderr for m in ("Sanitizer", "runtime error:")):
        SANITIZER_REPORTS.append("%s: %s" % (" ".join(cmd[1:3]), r.stderr.strip()[-600:]))
    return r


def strip_annotations(v):
    """The export's JSON less what it adds to the stored model_config."""
    if isinstance(v, dict):
        return {k: strip_annotations(e) for k, e in v.items()
                if k not in ("module", "registered_name")}
    if isinstance(v, list):
        return [strip_annotations(e) for e in v]
    return v


class Checks:
    def __init__(self, verbose):
        self.passed = self.failed = self.skipped = 0
        self.verbose = verbose

    def ok(self, name, detail=""):
        self.passed += 1
        print("ok   %s%s" % (name, (": " + detail) if detail and self.verbose else ""))

    def bad(self, name, why):
        self.failed += 1
        print("FAIL %s: %s" % (name, why))

    def skip(self, name, why):
        self.skipped += 1
        print("skip %s: %s" % (name, why))


def check_model(c, nnctl, root, name, kind, shape, layers, rng, keras_jobs):
    d = os.path.join(root, name)
    os.makedirs(d)
    data, x = make_data(d, kind, shape, rng)
    spec = os.path.join(d, "spec.cfg")
    with open(spec, "w") as f:
        f.write(SPEC.format(name=name, shape=json.dumps(shape), layers=layers, data=data))
    env = dict(os.environ, NNCTL_DATA=d)
    r = run([nnctl, "train", spec, "-o", os.path.join(d, "run"), "--quiet"], env)
    model = os.path.join(d, "run", "model.h5")
    if r.returncode != 0 or not os.path.exists(model):
        c.bad(name + "/train", (r.stderr or r.stdout).strip()[-400:])
        return

    # onnx
    onnx_path = os.path.join(d, "m.onnx")
    r = run([nnctl, "export", model, "--format", "onnx", "-o", onnx_path])
    np.save(os.path.join(d, "x.npy"), x)
    # the exported graph takes the model's inputs as they are (data.scale
    # is the data's preprocessing, not part of the network): so does predict
    # with data.scale = 1
    p = run([nnctl, "predict", model, os.path.join(d, "x.npy"), "-o", os.path.join(d, "y.npy"),
             "--set", "data.scale=1"])
    if r.returncode != 0:
        c.bad(name + "/onnx", "export failed: " + r.stderr.strip())
    elif p.returncode != 0:
        c.bad(name + "/onnx", "nnctl predict failed: " + p.stderr.strip())
    else:
        try:
            s = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            inp, out = s.get_inputs()[0], s.get_outputs()[0]
            want_in = ["N"] + list(shape)
            got = s.run(None, {inp.name: x})[0]
            ref = np.load(os.path.join(d, "y.npy"))
            err = np.abs(got.astype(np.float64) - ref)
            scale = np.abs(ref).max()
            bound = RTOL * np.abs(ref) + 1e-6 * scale
            if inp.shape != want_in:
                c.bad(name + "/onnx", "input shape %s, want %s" % (inp.shape, want_in))
            elif got.shape != ref.shape:
                c.bad(name + "/onnx", "output shape %s, nnctl's %s" % (got.shape, ref.shape))
            elif not np.all(err <= bound):
                i = np.unravel_index(np.argmax(err - bound), err.shape)
                c.bad(name + "/onnx", "onnxruntime %r vs nnctl %r at %s (max abs error %.3g)"
                      % (float(got[i]), float(ref[i]), i, err.max()))
            else:
                rel = (err / np.maximum(np.abs(ref), 1e-30)).max()
                c.ok(name + "/onnx", "%s -> %s, max abs error %.2g, max rel %.2g"
                     % (inp.shape, out.shape, err.max(), rel))
        except Exception as e:  # onnxruntime's own errors name the node
            c.bad(name + "/onnx", "%s: %s" % (type(e).__name__, str(e)[:400]))

    # json
    r = run([nnctl, "export", model, "--format", "json"])
    with h5py.File(model, "r") as f:
        stored = f.attrs["model_config"]
        stored = json.loads(stored.decode() if isinstance(stored, bytes) else stored)
    exported = None
    if r.returncode != 0:
        c.bad(name + "/json", r.stderr.strip())
    else:
        exported = json.loads(r.stdout)
        keys = [k for k in exported if k not in ("module", "registered_name")]
        if keys[:4] != ["class_name", "config", "keras_version", "backend"]:
            c.bad(name + "/json", "top-level keys %s" % keys)
        elif strip_annotations(exported) != strip_annotations(stored):
            c.bad(name + "/json", "differs from model.h5's model_config")
        else:
            c.ok(name + "/json")
            keras_jobs.append((name, r.stdout))

    # yaml
    r = run([nnctl, "export", model, "--format", "yaml", "-o", os.path.join(d, "m.yaml")])
    if r.returncode != 0:
        c.bad(name + "/yaml", r.stderr.strip())
    elif yaml is None:
        c.skip(name + "/yaml", "PyYAML is not importable here")
    elif exported is None:
        c.skip(name + "/yaml", "no JSON to compare with")
    else:
        with open(os.path.join(d, "m.yaml")) as f:
            loaded = yaml.safe_load(f)
        if loaded != exported:
            c.bad(name + "/yaml", "yaml.safe_load differs from json.loads of the JSON export")
        else:
            c.ok(name + "/yaml")


MULTI_SPEC = """
model: {
  name = "two_by_two";
  inputs = ( { name = "img"; shape = [4, 4, 2]; }, { name = "meta"; shape = [3]; } );
  outputs = ["cls", "reg"];
  layers = (
    { type = "conv2d"; name = "conv"; inputs = ["img"]; filters = 4; kernel_size = 3; activation = "relu"; },
    { type = "flatten"; name = "flat"; inputs = ["conv"]; },
    { type = "dense"; name = "dm"; inputs = ["meta"]; units = 5; activation = "tanh"; },
    { type = "concatenate"; name = "cat"; inputs = ["flat", "dm"]; },
    { type = "dense"; name = "cls"; inputs = ["cat"]; units = 3; activation = "softmax"; },
    { type = "dense"; name = "reg"; inputs = ["dm"]; units = 1; }
  );
};
data: {
  train = { format = "npy"; x = { img = "img.npy"; meta = "meta.npy"; }; y = { cls = "cls.npy"; reg = "reg.npy"; }; };
  test = { format = "npy"; x = { img = "img.npy"; meta = "meta.npy"; }; y = { cls = "cls.npy"; reg = "reg.npy"; }; };
};
train: {
  loss = { cls = "sparse_categorical_crossentropy"; reg = "mse"; };
  loss_weights = { cls = 1.0; reg = 0.3; };
  metrics = ["accuracy"];
  optimizer = { type = "adam"; lr = 0.01; };
  epochs = 1; batch_size = 16; seed = 4;
};
"""

KERAS_MULTI = r"""
import json, sys
import numpy as np, keras
d = sys.argv[1]
m = keras.models.load_model(d + "/run/model.h5", compile=True)
x = [np.load(d + "/img.npy"), np.load(d + "/meta.npy")]
p = m.predict(x, verbose=0)
np.save(d + "/k_cls.npy", p[0]); np.save(d + "/k_reg.npy", p[1])
res = m.evaluate(x, {"cls": np.load(d + "/cls.npy"), "reg": np.load(d + "/reg.npy")},
                 verbose=0, return_dict=True)
print(json.dumps({"names": [t.name.split(":")[0] for t in m.inputs], "outs": m.output_names,
                  "eval": {k: float(v) for k, v in res.items()}}))
"""


def check_multi_io(c, nnctl, root, rng):
    """Two inputs, two outputs: the ONNX graph (inputs and outputs by name,
    in model order) against a numpy forward pass from model.h5's weights;
    Keras 3 loads the file, predicts the same and, compiled from the
    stored training_config, evaluates the same weighted loss."""
    d = os.path.join(root, "two_by_two")
    os.makedirs(d)
    n = 40
    img = rng.normal(size=(n, 4, 4, 2)).astype(np.float32)
    meta = rng.normal(size=(n, 3)).astype(np.float32)
    np.save(os.path.join(d, "img.npy"), img)
    np.save(os.path.join(d, "meta.npy"), meta)
    np.save(os.path.join(d, "cls.npy"), rng.integers(0, 3, size=n).astype(np.int64))
    np.save(os.path.join(d, "reg.npy"), rng.normal(size=n).astype(np.float32))
    spec = os.path.join(d, "spec.cfg")
    with open(spec, "w") as f:
        f.write(MULTI_SPEC)
    env = dict(os.environ, NNCTL_DATA=d)
    r = run([nnctl, "train", spec, "-o", os.path.join(d, "run"), "--quiet"], env)
    model = os.path.join(d, "run", "model.h5")
    if r.returncode != 0 or not os.path.exists(model):
        c.bad("two_by_two/train", (r.stderr or r.stdout).strip()[-400:])
        return
    # numpy reference from the stored weights
    with h5py.File(model, "r") as f:
        def w(layer):
            g = f["model_weights"][layer]
            return [np.array(g[k], np.float64) for k in g.attrs["weight_names"]]
        (K, kb), (Wm, bm), (Wc, bc), (Wr, br) = w("conv"), w("dm"), w("cls"), w("reg")
    x = img.astype(np.float64)
    conv = np.zeros((n, 2, 2, 4))
    for i in range(2):
        for j in range(2):
            conv[:, i, j, :] = np.einsum("nhwc,hwco->no", x[:, i:i + 3, j:j + 3, :], K) + kb
    conv = np.maximum(conv, 0).reshape(n, -1)
    dm = np.tanh(meta.astype(np.float64) @ Wm + bm)
    z = np.concatenate([conv, dm], 1) @ Wc + bc
    e = np.exp(z - z.max(1, keepdims=True))
    want = [e / e.sum(1, keepdims=True), dm @ Wr + br]

    def close(got, ref):
        got = np.asarray(got, np.float64)
        return got.shape == ref.shape and np.all(np.abs(got - ref) <=
                                                  RTOL * np.abs(ref) + 1e-6 * np.abs(ref).max())

    onnx_path = os.path.join(d, "m.onnx")
    r = run([nnctl, "export", model, "--format", "onnx", "-o", onnx_path])
    if r.returncode != 0:
        c.bad("two_by_two/onnx", "export failed: " + r.stderr.strip())
    else:
        s = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        ins = [i.name for i in s.get_inputs()]
        outs = [o.name for o in s.get_outputs()]
        got = s.run(None, {"img": img, "meta": meta}) if ins == ["img", "meta"] else None
        if ins != ["img", "meta"] or outs != ["cls", "reg"]:
            c.bad("two_by_two/onnx", "inputs %s outputs %s, want [img, meta] [cls, reg]"
                  % (ins, outs))
        elif not all(close(g, ref) for g, ref in zip(got, want)):
            c.bad("two_by_two/onnx", "onnxruntime differs from numpy by %.3g"
                  % max(np.abs(g - ref).max() for g, ref in zip(got, want)))
        else:
            c.ok("two_by_two/onnx", "2 inputs, 2 outputs, onnxruntime = numpy to %.2g"
                 % max(np.abs(g - ref).max() for g, ref in zip(got, want)))
    kenv = dict(os.environ, KERAS_BACKEND="jax")
    if run([sys.executable, "-c", "import keras"], kenv).returncode != 0:
        c.skip("two_by_two/keras", "keras is not importable here")
        return
    k = run([sys.executable, "-c", KERAS_MULTI, d], kenv)
    ev = run([nnctl, "eval", model, "--json"], env)
    try:
        res = json.loads(k.stdout.strip().splitlines()[-1])
        mine = json.loads(ev.stdout)
    except (ValueError, IndexError):
        c.bad("two_by_two/keras", (k.stderr + ev.stderr).strip()[-600:])
        return
    kp = [np.load(os.path.join(d, "k_cls.npy")), np.load(os.path.join(d, "k_reg.npy"))]
    if res["names"] != ["img", "meta"] or res["outs"] != ["cls", "reg"]:
        c.bad("two_by_two/keras", "Keras sees inputs %s outputs %s" % (res["names"], res["outs"]))
    elif not all(close(g, ref) for g, ref in zip(kp, want)):
        c.bad("two_by_two/keras", "Keras's predictions differ from numpy's")
    else:
        c.ok("two_by_two/keras", "load_model: inputs, outputs and predictions agree")
    kl, ml = res["eval"].get("loss"), mine.get("loss")
    if kl is None or ml is None or abs(kl - ml) > 1e-4 * abs(kl):
        c.bad("two_by_two/keras-loss", "Keras evaluate %s, nnctl eval %s" % (res["eval"], mine))
    else:
        c.ok("two_by_two/keras-loss", "weighted loss: Keras %.6f, nnctl %.6f (cls_loss %.6f, "
             "reg_loss %.6f)" % (kl, ml, mine["cls_loss"], mine["reg_loss"]))


KERAS_SCRIPT = r"""
import json, sys
import keras
jobs = json.load(open(sys.argv[1]))
for name, text in jobs:
    try:
        m = keras.models.model_from_json(text)
        want = sorted(l["config"]["name"] for l in json.loads(text)["config"]["layers"]
                      if l["class_name"] != "InputLayer")
        got = sorted(l.name for l in m.layers if l.__class__.__name__ != "InputLayer")
        print(json.dumps([name, "ok" if got == want else "bad",
                          "layers %s, want %s" % (got, want)]))
    except Exception as e:
        print(json.dumps([name, "error", "%s: %s" % (type(e).__name__, str(e)[:300])]))
"""

# Models Keras 3 refuses for reasons of its own, with the message it gives:
# its Bidirectional always makes the backward copy go_backwards=True, so a
# wrapped go_backwards layer (which tf.keras 2 and nnctl accept) clashes.
KERAS_REFUSES = {
    "bidirectional_backwards": "should have different `go_backwards` value",
}


def check_keras(c, root, jobs):
    """model_from_json over every JSON export, in one Keras process."""
    env = dict(os.environ, KERAS_BACKEND="jax")
    if run([sys.executable, "-c", "import keras"], env).returncode != 0:
        for name, _ in jobs:
            c.skip(name + "/keras", "keras is not importable here")
        return
    path = os.path.join(root, "keras_jobs.json")
    with open(path, "w") as f:
        json.dump(jobs, f)
    r = run([sys.executable, "-c", KERAS_SCRIPT, path], env)
    seen = set()
    for line in r.stdout.splitlines():
        try:
            name, verdict, why = json.loads(line)
        except ValueError:
            continue
        seen.add(name)
        if verdict == "ok":
            c.ok(name + "/keras", why)
        elif verdict == "error" and KERAS_REFUSES.get(name, "\0") in why:
            # a check, not a skip: Keras 3 must give its own known reason
            # (any other error, or none, is reported either way)
            c.ok(name + "/keras-refuses", "Keras 3 refuses it for its known reason: " + why)
        else:
            c.bad(name + "/keras", why)
    for name, _ in jobs:
        if name not in seen:
            c.bad(name + "/keras", "no result: " + r.stderr.strip()[-400:])

# Strings YAML 1.1 would misread if left plain, and floats, ints and nesting
# shapes the emitters must get right.
TRICKY = ["", " lead", "trail ", "tab\tx", "nl\nx", "ctl\x01\x7f\x85\u2028\ufeff",
          "emoji \U0001F600 \u00e9", "on", "Off", "~", "y", "N", "1_000", "0x1F", "010", "1:20",
          "2001-12-14", ".inf", ".NaN", "=", "<<", "!tag", "&a", "*a", "%x", "@x", "`x", "{a}",
          "[a]", "a,b", "a: b", "a #b", "- x", "? x", "'q'", '"q"', "back\\slash", "-",
          "--- x", "...", "a/b.c-d_e"]


def check_text(c, nnctl, root):
    """json/yaml of a hand-made model_config full of awkward values: both
    read back to it exactly (the export reads nothing but model_config)."""
    d = os.path.join(root, "text")
    os.makedirs(d)
    cfg = {"class_name": "Sequential", "config": {
        "name": "t", "layers": [{"class_name": "Dense", "config": {
            "name": "d", "kernel_initializer": {"class_name": "Zeros", "config": {}}}}],
        "strings": TRICKY, "keys": {t: i for i, t in enumerate(TRICKY)},
        "floats": [1e-05, 1e16, 1e15, 1.5, -0.0, 1e300, 5e-324, 100.0, 0.1,
                   0.2000000029802322, 123.456, -2.5e-7],
        "ints": [0, -1, 123456789012345678, -9223372036854775807],
        "nest": [[{"a": 1}], [[]], [{}], {}, [], [[1, [2, {}]]], [None, True, False]],
        "deep": {"a": {"b": [{"c": [{"d": None}]}]}}}}
    model = os.path.join(d, "tricky.h5")
    with h5py.File(model, "w") as f:
        f.attrs["model_config"] = json.dumps(cfg)
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.create_group("model_weights").attrs["layer_names"] = []
    r = run([nnctl, "export", model, "--format", "json"])
    if r.returncode != 0:
        c.bad("text/json", r.stderr.strip())
        return
    j = json.loads(r.stdout)
    want = dict(cfg, keras_version="2.15.0", backend="tensorflow")
    if strip_annotations(j) != want or j["config"]["floats"] != cfg["config"]["floats"]:
        c.bad("text/json", "does not read back to the stored model_config")
    else:
        c.ok("text/json")
    r = run([nnctl, "export", model, "--format", "yaml"])
    if r.returncode != 0:
        c.bad("text/yaml", r.stderr.strip())
    elif yaml is None:
        c.skip("text/yaml", "PyYAML is not importable here")
    elif yaml.safe_load(r.stdout) != j:
        c.bad("text/yaml", "yaml.safe_load differs from json.loads")
    else:
        c.ok("text/yaml")


def check_errors(c, nnctl, root, rng):
    d = os.path.join(root, "errors")
    os.makedirs(d)
    out = os.path.join(d, "out.onnx")
    plain = os.path.join(d, "plain.h5")
    with h5py.File(plain, "w") as f:
        f["x"] = np.arange(3)
    text = os.path.join(d, "notes.h5")
    with open(text, "w") as f:
        f.write("not a model\n")
    model = os.path.join(root, "mlp", "run", "model.h5")

    # an RNN activation ONNX's ops lack
    e = os.path.join(d, "swish")
    os.makedirs(e)
    data, _ = make_data(e, "csv", [7, 3], rng)
    spec = os.path.join(e, "spec.cfg")
    with open(spec, "w") as f:
        f.write(SPEC.format(name="swish", shape="[7, 3]", data=data, layers="""
            { name = "rnn"; type = "simple_rnn"; units = 3; activation = "swish"; },
            { type = "dense"; units = 2; activation = "softmax"; }"""))
    r = run([nnctl, "train", spec, "-o", os.path.join(e, "run"), "--quiet"],
            dict(os.environ, NNCTL_DATA=e))
    swish = os.path.join(e, "run", "model.h5")

    cases = [
        ("missing file", [os.path.join(d, "nope.h5"), "--format", "onnx"], 1,
         "No such file"),
        ("not HDF5", [text, "--format", "json"], 1, "not an HDF5 file"),
        ("HDF5 without a model", [plain, "--format", "onnx"], 1, "not a Keras model"),
        ("HDF5 without a model, json", [plain, "--format", "json"], 1, "not a Keras model"),
        ("unknown --format", [model, "--format", "xml"], 2, "unknown --format 'xml'"),
        ("misspelt --format", [model, "--format", "jsn"], 2, "did you mean 'json'"),
        ("missing --format", [model], 2, "--format is required"),
        ("two models", [model, model, "--format", "json"], 2, "expected one model file"),
        ("unknown option", [model, "--format", "json", "--verbose"], 2, "unknown option"),
        ("misspelt option", [model, "--frmat", "json"], 2, "did you mean '--format'?"),
        ("unmappable layer", [swish, "--format", "onnx"], 1,
         "layer 'rnn' (SimpleRNN): activation 'swish'"),
    ]
    for what, args, code, needle in cases:
        if what == "unmappable layer" and not os.path.exists(swish):
            c.bad("errors/" + what, "training the swish model failed: " + r.stderr.strip())
            continue
        p = run([nnctl, "export"] + args + ["-o", out])
        msg = p.stderr.strip()
        if p.returncode != code:
            c.bad("errors/" + what, "exit status %d, want %d (%s)" % (p.returncode, code, msg))
        elif needle not in msg:
            c.bad("errors/" + what, "message %r lacks %r" % (msg, needle))
        elif os.path.exists(out) or [f for f in os.listdir(d) if ".tmp." in f]:
            c.bad("errors/" + what, "left an output file behind")
        else:
            c.ok("errors/" + what, msg)

    # the defaults: onnx next to the model, json on stdout
    p = run([nnctl, "export", model, "--format", "onnx"])
    default = model[:-3] + ".onnx"
    if p.returncode == 0 and os.path.exists(default):
        c.ok("default output", default)
    else:
        c.bad("default output", "%s not written (%s)" % (default, p.stderr.strip()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nnctl", default="build/nnctl")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--only", help="run only the models whose name contains this")
    a = ap.parse_args()
    nnctl = os.path.abspath(a.nnctl)
    root = tempfile.mkdtemp(prefix="nnctl-onnx.")
    c = Checks(a.verbose)
    rng = np.random.default_rng(5)
    jobs = []
    try:
        for name, kind, shape, layers in MODELS:
            if a.only and a.only not in name:
                continue
            check_model(c, nnctl, root, name, kind, shape, layers, rng, jobs)
        check_keras(c, root, jobs)
        if not a.only or a.only in "two_by_two":
            check_multi_io(c, nnctl, root, rng)
        if not a.only:
            check_text(c, nnctl, root)
            check_errors(c, nnctl, root, rng)
        for report in SANITIZER_REPORTS:
            c.bad("sanitizer", report)
    finally:
        if a.keep:
            print("kept " + root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print("onnx: %d passed, %d failed, %d skipped" % (c.passed, c.failed, c.skipped))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
