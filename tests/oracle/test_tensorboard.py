#!/usr/bin/env python3
"""TensorBoard oracle: nnctl's event files read back by TensorBoard itself.

    .venv/bin/python tests/oracle/test_tensorboard.py --nnctl build/nnctl [-v]

Needs the `tensorboard` package (scripts/oracle-venv puts it in .venv) and
h5py. Makes a tiny IDX data set (50 4x4 images, 3 classes), trains a
16-8-3 MLP with train.callbacks.tensorboard and checks, with TensorBoard's
own code (event_accumulator.EventAccumulator, its protobufs and its
masked_crc32c):
  * run A (validation_split, update_freq "batch", histogram_freq 1):
    log_dir/train and log_dir/validation each hold one
    events.out.tfevents.<10 digits>.<hostname>.<pid>.v2; every record's
    framing and both CRCs are right and its payload is byte for byte what
    protobuf's serializer makes of the parsed Event; the first record is
    file_version "brain.Event:2"; the train tags are epoch_loss,
    epoch_accuracy, epoch_learning_rate, batch_loss, batch_accuracy and the
    validation tags epoch_loss, epoch_accuracy; epoch steps are 0, 1, 2 and
    the values equal history.csv's loss, accuracy, lr, val_loss,
    val_accuracy in float32; batch steps are 1..epochs*steps (Keras's global
    batch counter) and the batch at the end of each epoch equals that
    epoch's loss; histograms "<layer>/<param>_0/histogram" exist for every
    weight at steps 0, 1, 2 with num = the weight's size, bucket counts
    adding up to num, and at the last epoch min, max, sum and the buckets
    equal those of model.h5's weights under TensorFlow's default bucketing;
  * run B (no validation, update_freq = 2, absolute log_dir, stopped after 2
    epochs, then --resume to 3): no validation directory, no histograms, two
    train event files (a resumed run adds one, as TensorFlow does), batch
    steps 2, 4, ... and epoch steps 0, 1, 2 matching history.csv.
Prints one line per check and ends with "tensorboard: N passed, M failed, 0 skipped";
exits 1 when M > 0.
"""
import argparse
import bisect
import csv
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile

import numpy as np
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

SPEC = """
model: {{ name = "tb"; input = {{ shape = [16]; }};
  layers = ( {{ type = "dense"; name = "hidden"; units = 8; activation = "relu"; }},
             {{ type = "dense"; name = "out"; units = 3; activation = "softmax"; }} ); }};
data: {{ train = {{ images = "{dir}/x.idx"; labels = "{dir}/y.idx"; }};
  scale = 255.0; one_hot = true; validation_split = {split}; }};
train: {{ loss = "categorical_crossentropy"; optimizer = {{ type = "adam"; lr = 0.01; }};
  metrics = ["accuracy"]; epochs = {epochs}; batch_size = 16; seed = 1;
  callbacks = {{ tensorboard = {{ {tb} }}; }}; }};
"""
NAME = re.compile(r"^events\.out\.tfevents\.(\d{10})\.(.+)\.(\d+)\.v2$")
WEIGHTS = {"hidden/kernel_0/histogram": ("hidden", "kernel:0", 128),
           "hidden/bias_0/histogram": ("hidden", "bias:0", 8),
           "out/kernel_0/histogram": ("out", "kernel:0", 24),
           "out/bias_0/histogram": ("out", "bias:0", 3)}

passed = failed = 0
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


def make_data(d, n=50):
    rng = np.random.RandomState(0)
    imgs = rng.randint(0, 256, size=(n, 4, 4)).astype(np.uint8)
    labels = rng.randint(0, 3, size=n).astype(np.uint8)
    with open(os.path.join(d, "x.idx"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 4, 4) + imgs.tobytes())
    with open(os.path.join(d, "y.idx"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels.tobytes())


def train(nnctl, d, run, epochs, split, tb, extra=()):
    cfg = os.path.join(d, "spec-%s.cfg" % os.path.basename(run))
    with open(cfg, "w") as f:
        f.write(SPEC.format(dir=d, split=split, epochs=epochs, tb=tb))
    cmd = [nnctl, "train", cfg, "-o", run, "-q", "--threads", "1", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), r.returncode, r.stderr))


def history(run):
    with open(os.path.join(run, "history.csv")) as f:
        return list(csv.DictReader(f))


def event_files(d):
    return sorted(f for f in os.listdir(d) if f.startswith("events.out.tfevents."))


def records(path):
    """Every record's payload, checking the framing with TensorBoard's CRC."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        header = data[pos:pos + 8]
        (n,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        assert hcrc == masked_crc32c(header), "bad length CRC at byte %d" % pos
        payload = data[pos + 12:pos + 12 + n]
        assert len(payload) == n, "truncated record at byte %d" % pos
        (dcrc,) = struct.unpack("<I", data[pos + 12 + n:pos + 16 + n])
        assert dcrc == masked_crc32c(payload), "bad data CRC at byte %d" % pos
        out.append(payload)
        pos += 16 + n
    return out


def raw_steps(path):
    """tag -> steps in file order, straight from the records (the accumulator
    drops events whose step goes backwards, which would hide duplicates)."""
    out = {}
    for payload in records(path)[1:]:
        ev = event_pb2.Event.FromString(payload)
        for v in ev.summary.value:
            out.setdefault(v.tag, []).append(ev.step)
    return out


def accumulator(d):
    acc = ea.EventAccumulator(d, size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0})
    acc.Reload()
    return acc


def f32(x):
    return float(np.float32(float(x)))


def steps_values(acc, tag):
    ev = acc.Scalars(tag)
    return [e.step for e in ev], [e.value for e in ev]


def tf_default_histogram(values):
    """TensorFlow's Histogram (default buckets) + EncodeToProto(false)."""
    v, pos = 1e-12, []
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    dmax = sys.float_info.max
    limits = [-dmax] + [-x for x in reversed(pos)] + [0.0] + pos + [dmax]
    counts = [0.0] * len(limits)
    for x in values:
        counts[min(bisect.bisect_right(limits, float(x)), len(limits) - 1)] += 1
    lim, cnt, i = [], [], 0
    while i < len(limits):
        end, c = limits[i], counts[i]
        i += 1
        if c <= 0:
            while i < len(limits) and counts[i] <= 0:
                end, c = limits[i], counts[i]
                i += 1
        lim.append(end)
        cnt.append(c)
    return lim, cnt


def run_a(nnctl, d):
    run = os.path.join(d, "a")
    train(nnctl, d, run, 3, 0.2, 'update_freq = "batch"; histogram_freq = 1;')
    hist = history(run)
    steps = 3  # 40 training samples in batches of 16
    tb = os.path.join(run, "tb")

    def names():
        for sub in ("train", "validation"):
            files = event_files(os.path.join(tb, sub))
            assert len(files) == 1, files
            m = NAME.match(files[0])
            assert m, files[0]
            assert m.group(2) == socket.gethostname(), (m.group(2), socket.gethostname())
    check("A: one train and one validation file named events.out.tfevents.<time>.<host>.<pid>.v2",
          names)

    def framing():
        for sub in ("train", "validation"):
            d2 = os.path.join(tb, sub)
            for name in event_files(d2):
                recs = records(os.path.join(d2, name))
                first = event_pb2.Event.FromString(recs[0])
                assert first.file_version == "brain.Event:2", first
                assert first.wall_time > 1e9, first
                for payload in recs:
                    ev = event_pb2.Event.FromString(payload)
                    again = ev.SerializeToString()
                    assert again == payload, "re-serialized bytes differ: %s" % ev
    check("A: CRCs right, first record file_version, payloads byte-identical to protobuf's", framing)

    train_acc = accumulator(os.path.join(tb, "train"))
    val_acc = accumulator(os.path.join(tb, "validation"))

    def tags():
        t = set(train_acc.Tags()["scalars"])
        want = {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "batch_loss",
                "batch_accuracy"}
        assert t == want, t
        v = set(val_acc.Tags()["scalars"])
        assert v == {"epoch_loss", "epoch_accuracy"}, v
        assert set(train_acc.Tags()["histograms"]) == set(WEIGHTS), train_acc.Tags()["histograms"]
        assert not val_acc.Tags()["histograms"]
    check("A: scalar and histogram tags as Keras names them", tags)

    def epoch_scalars():
        for acc, tag, col in ((train_acc, "epoch_loss", "loss"),
                              (train_acc, "epoch_accuracy", "accuracy"),
                              (train_acc, "epoch_learning_rate", "lr"),
                              (val_acc, "epoch_loss", "val_loss"),
                              (val_acc, "epoch_accuracy", "val_accuracy")):
            st, vals = steps_values(acc, tag)
            assert st == [0, 1, 2], (tag, st)
            want = [f32(r[col]) for r in hist]
            assert vals == want, (tag, vals, want)
    check("A: epoch scalars at steps 0,1,2 equal history.csv (float32)", epoch_scalars)

    def batch_scalars():
        for tag in ("batch_loss", "batch_accuracy"):
            st, _ = steps_values(train_acc, tag)
            assert st == list(range(1, 3 * steps + 1)), (tag, st)
        st, vals = steps_values(train_acc, "batch_loss")
        for e, r in enumerate(hist):
            got = vals[st.index((e + 1) * steps)]
            assert got == f32(r["loss"]), (e, got, r["loss"])
        st, vals = steps_values(train_acc, "batch_accuracy")
        for e, r in enumerate(hist):
            assert vals[st.index((e + 1) * steps)] == f32(r["accuracy"]), e
    check("A: batch scalars at global steps 1..9; each epoch's last equals its epoch value",
          batch_scalars)

    def histograms():
        for tag, (_, _, n) in WEIGHTS.items():
            ev = train_acc.Histograms(tag)
            assert [e.step for e in ev] == [0, 1, 2], (tag, [e.step for e in ev])
            for e in ev:
                h = e.histogram_value
                assert h.num == n, (tag, h.num, n)
                assert sum(h.bucket) == n, (tag, sum(h.bucket))
                assert len(h.bucket) == len(h.bucket_limit) and h.min <= h.max
    check("A: histograms at steps 0,1,2 with num = weight count", histograms)

    def raw():
        for sub, want in (("train", {"epoch_loss": [0, 1, 2], "batch_loss": list(range(1, 10)),
                                     "hidden/kernel_0/histogram": [0, 1, 2]}),
                          ("validation", {"epoch_loss": [0, 1, 2]})):
            d2 = os.path.join(tb, sub)
            got = raw_steps(os.path.join(d2, event_files(d2)[0]))
            for tag, st in want.items():
                assert got[tag] == st, (sub, tag, got[tag])
    check("A: each step written once, in order (raw records)", raw)

    def last_weights():
        import h5py
        with h5py.File(os.path.join(run, "model.h5"), "r") as f:
            for tag, (layer, param, n) in WEIGHTS.items():
                w = np.asarray(f["model_weights/%s/%s/%s" % (layer, layer, param)],
                               dtype=np.float32).ravel()
                assert w.size == n
                h = train_acc.Histograms(tag)[-1].histogram_value
                w64 = w.astype(np.float64)
                assert h.min == w64.min() and h.max == w64.max(), (tag, h.min, h.max)
                assert abs(h.sum - w64.sum()) <= 1e-9 * max(1.0, abs(w64).sum()), tag
                assert abs(h.sum_squares - (w64 * w64).sum()) <= 1e-9 * (w64 * w64).sum(), tag
                lim, cnt = tf_default_histogram(w64)
                assert list(h.bucket_limit) == lim, (tag, list(h.bucket_limit), lim)
                assert list(h.bucket) == cnt, (tag, list(h.bucket), cnt)
    check("A: last histograms equal model.h5's weights under TensorFlow's default buckets",
          last_weights)


def run_b(nnctl, d):
    run = os.path.join(d, "b")
    logdir = os.path.join(d, "abs-logs")
    tbkeys = 'log_dir = "%s"; update_freq = 2;' % logdir
    train(nnctl, d, run, 2, 0.0, tbkeys)
    train(nnctl, d, run, 3, 0.0, tbkeys, ["--resume"])
    hist = history(run)
    steps = 4  # 50 samples in batches of 16

    def layout():
        assert sorted(os.listdir(logdir)) == ["train"], os.listdir(logdir)
        assert not os.path.exists(os.path.join(run, "tb"))
        files = event_files(os.path.join(logdir, "train"))
        assert len(files) == 2, files
        assert all(NAME.match(f) for f in files), files
        for f in files:
            recs = records(os.path.join(logdir, "train", f))
            assert event_pb2.Event.FromString(recs[0]).file_version == "brain.Event:2"
    check("B: absolute log_dir, no validation dir, a resumed run adds a second file", layout)

    def raw():
        d2 = os.path.join(logdir, "train")
        files = sorted(event_files(d2), key=lambda f: event_pb2.Event.FromString(
            records(os.path.join(d2, f))[0]).wall_time)
        first, second = (raw_steps(os.path.join(d2, f)) for f in files)
        assert first["epoch_loss"] == [0, 1], first["epoch_loss"]
        assert second["epoch_loss"] == [2], second["epoch_loss"]
        assert first["batch_loss"] == [2, 4, 6, 8], first["batch_loss"]
        assert second["batch_loss"] == [10, 12], second["batch_loss"]
    check("B: the first file holds epochs 0-1, the resumed one only epoch 2", raw)

    acc = accumulator(os.path.join(logdir, "train"))

    def scalars():
        assert not acc.Tags()["histograms"], acc.Tags()["histograms"]
        assert len(hist) == 3, hist
        for tag, col in (("epoch_loss", "loss"), ("epoch_accuracy", "accuracy")):
            st, vals = steps_values(acc, tag)
            assert st == [0, 1, 2], (tag, st)
            assert vals == [f32(r[col]) for r in hist], (tag, vals)
        st, vals = steps_values(acc, "batch_loss")
        assert st == list(range(2, 3 * steps + 1, 2)), st
        for e, r in enumerate(hist):
            assert vals[st.index((e + 1) * steps)] == f32(r["loss"]), e
    check("B: update_freq 2 gives batch steps 2,4,..,12; epochs 0,1,2 across the resume",
          scalars)


def main():
    global verbose
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnctl", default="build/nnctl")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    verbose = args.v
    nnctl = os.path.abspath(args.nnctl)
    d = tempfile.mkdtemp(prefix="nnctl-tb-")
    try:
        make_data(d)
        for part in (run_a, run_b):
            try:
                part(nnctl, d)
            except Exception as e:  # noqa: BLE001 - training itself failed
                global failed
                failed += 1
                print("FAIL %s: %s: %s" % (part.__name__, type(e).__name__, e))
    finally:
        if verbose:
            print("kept " + d)
        else:
            shutil.rmtree(d, ignore_errors=True)
    print("tensorboard: %d passed, %d failed, 0 skipped" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
