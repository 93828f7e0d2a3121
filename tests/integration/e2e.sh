#!/usr/bin/env bash
# End-to-end behaviour of nnctl on MNIST: train, eval, predict, summary,
# reproducibility, early stopping and checkpoints.
#
#   NNCTL=build/nnctl NNCTL_DATA=/path/to/datasets tests/integration/e2e.sh
#
# Needs MNIST under $NNCTL_DATA/mnist/ and python3 (standard library only).
# Every expected value below is stated by hand (Keras's rules, arithmetic,
# the MNIST labels); nothing is compared against output nnctl produced earlier
# except where the check is nnctl's agreement with itself (reproducibility,
# eval vs evaluate). Prints one line per check and `e2e: N passed, M failed, K skipped`;
# exits 1 on any failure. About 15 s on 2 cores.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nn_abs_nnctl
nn_need_mnist e2e
THREADS=${THREADS:-2}
W=$(mktemp -d "${TMPDIR:-/tmp}/nnctl-e2e.XXXXXX")
trap 'rm -rf "$W"' EXIT

# check NAME COMMAND...: ok when the command succeeds; its stdout+stderr is
# shown on failure.
check() {
    local name=$1
    shift
    local out
    if out=$("$@" 2>&1); then
        ok "$name"
    else
        bad "$name" "$(printf '%s' "$out" | head -5)"
    fi
}
# contains NAME FILE SUBSTRING
contains() {
    if grep -qF -- "$3" "$2"; then ok "$1"; else bad "$1" "'$3' not in $(basename "$2"): $(head -c 300 "$2")"; fi
}
# nnctl ARGS...: runs nnctl, stdout in $W/out, stderr in $W/err, status in $rc
nn() {
    "$NNCTL" "$@" >"$W/out" 2>"$W/err"
    rc=$?
}
py() { python3 -c "$@"; }

# A small MLP spec: 784-128-10, relu/softmax, Adam, 5000 training samples.
cat >"$W/mlp.cfg" <<'EOF'
model: {
  name = "e2e_mlp";
  input = { shape = [784]; };
  layers = (
    { type = "dense"; units = 128; activation = "relu"; },
    { type = "dense"; units = 10; activation = "softmax"; }
  );
};
data: {
  train = { images = "mnist/train-images-idx3-ubyte.gz"; labels = "mnist/train-labels-idx1-ubyte.gz"; };
  test  = { images = "mnist/t10k-images-idx3-ubyte.gz"; labels = "mnist/t10k-labels-idx1-ubyte.gz"; };
  scale = 255.0;
  one_hot = true;
  train_subset = 5000;
};
train: {
  loss = "categorical_crossentropy";
  optimizer = { type = "adam"; lr = 0.001; };
  metrics = ["accuracy"];
  epochs = 3;
  batch_size = 32;
  seed = 1;
};
EOF

# ---- (a) train and evaluate ---------------------------------------------
nn train "$W/mlp.cfg" -o "$W/a" --threads "$THREADS" -q
if [ $rc = 0 ] && [ -f "$W/a/model.h5" ]; then ok "a: train 784-128-10 writes model.h5"; else
    bad "a: train 784-128-10 writes model.h5" "exit $rc: $(head -3 "$W/err")"; fi
MODEL="$W/a/model.h5"

nn eval "$MODEL" --json --threads "$THREADS"
cp "$W/out" "$W/eval.json"
check "a: test accuracy > 0.90 (nnctl eval --json)" py '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["accuracy"] > 0.90, d' "$W/eval.json"

# history.csv: Keras CSVLogger columns, epochs from 0, one row per epoch.
check "a: history.csv header epoch,loss,accuracy,...,time and 3 rows (epochs 0,1,2)" py '
import sys
lines = open(sys.argv[1]).read().splitlines()
h = lines[0].split(",")
assert h[:3] == ["epoch", "loss", "accuracy"] and h[-1] == "time", h
rows = [l.split(",") for l in lines[1:]]
assert len(rows) == 3, lines
assert [r[0] for r in rows] == ["0", "1", "2"], rows
assert all(len(r) == len(h) for r in rows), rows' "$W/a/history.csv"
check "a: training loss falls every epoch" py '
import csv, sys
loss = [float(r["loss"]) for r in csv.DictReader(open(sys.argv[1]))]
assert loss[0] > loss[1] > loss[2], loss' "$W/a/history.csv"

# The shipped example config, shrunk with --set overrides.
nn train "$root/configs/mnist_mlp.cfg" -o "$W/shipped" --threads "$THREADS" -q \
    --set data.train_subset=2000 --set train.epochs=1
if [ $rc = 0 ]; then
    # floor: Keras 3's own RMSprop on the same network, 2000 images and 1 epoch
    # reached 0.766-0.842 test accuracy over seeds 1-5 (chance: 0.10)
    check "a: configs/mnist_mlp.cfg with --set overrides trains (test accuracy > 0.70)" py '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["samples"] == 10000 and d["accuracy"] > 0.70, d' "$W/shipped/eval.json"
    check "a: --set epochs=1 gives one history row" py '
import sys
assert len(open(sys.argv[1]).read().splitlines()) == 2' "$W/shipped/history.csv"
else
    bad "a: configs/mnist_mlp.cfg with --set overrides trains" "exit $rc: $(head -3 "$W/err")"
fi

# ---- (b) reproducibility -------------------------------------------------
# Dropout and a validation split exercise every random stream.
sed -e 's/{ type = "dense"; units = 10;/{ type = "dropout"; rate = 0.3; },\n    &/' \
    -e 's/train_subset = 5000;/train_subset = 2000; validation_split = 0.2;/' \
    -e 's/epochs = 3;/epochs = 2;/' "$W/mlp.cfg" >"$W/repro.cfg"
for r in 1 2; do
    nn train "$W/repro.cfg" -o "$W/repro$r" --threads "$THREADS" -q
    [ $rc = 0 ] || bad "b: repro run $r" "exit $rc: $(head -3 "$W/err")"
done
nn train "$W/repro.cfg" -o "$W/repro-seed2" --threads "$THREADS" -q --set train.seed=2
# drop the `time` column (wall-clock seconds), keep everything else byte for byte
strip_time() {
    python3 -c '
import sys
lines = open(sys.argv[1], newline="").read().split("\n")
h = lines[0].split(",")
assert "time" in h, h
t = h.index("time")
sys.stdout.write("\n".join(",".join(c for i, c in enumerate(l.split(",")) if i != t) if l else l
                           for l in lines))' "$1"
}
strip_time "$W/repro1/history.csv" >"$W/h1" 2>&1
strip_time "$W/repro2/history.csv" >"$W/h2" 2>&1
strip_time "$W/repro-seed2/history.csv" >"$W/h3" 2>&1
check "b: history has val_loss and val_accuracy columns" grep -q '^epoch,loss,accuracy,val_loss,val_accuracy,' "$W/h1"
check "b: same spec and --threads twice: identical history.csv (except time)" cmp "$W/h1" "$W/h2"
if cmp -s "$W/h1" "$W/h3"; then bad "b: another seed gives another history" "seed 1 and seed 2 histories are identical"; else
    ok "b: another seed gives another history"; fi
nn eval "$W/repro1/model.h5" --json --threads "$THREADS"
cp "$W/out" "$W/re1"
nn eval "$W/repro2/model.h5" --json --threads "$THREADS"
check "b: both repro models evaluate identically" cmp "$W/re1" "$W/out"

# ---- (c) eval / evaluate -------------------------------------------------
nn evaluate "$MODEL" --json --threads "$THREADS"
check "c: 'evaluate' is an alias of 'eval' (same --json output)" cmp "$W/eval.json" "$W/out"
check "c: eval --json fields: data=test, samples=10000, loss, accuracy" py '
import json, math, sys
d = json.load(open(sys.argv[1]))
assert set(d) == {"data", "samples", "loss", "accuracy"}, d
assert d["data"] == "test" and d["samples"] == 10000, d
assert math.isfinite(d["loss"]) and 0 < d["loss"] < 2.3026, d   # below ln(10): better than chance
assert 0 <= d["accuracy"] <= 1, d' "$W/eval.json"
check "c: eval.json written by train equals nnctl eval --json" py '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a == b, (a, b)' "$W/a/eval.json" "$W/eval.json"
nn eval "$MODEL" --threads "$THREADS"
check "c: eval text output: 'test: 10000 samples - loss: L - accuracy: A' matching --json" py '
import json, sys
d = json.load(open(sys.argv[1]))
want = "test: 10000 samples - loss: %.4f - accuracy: %.4f" % (d["loss"], d["accuracy"])
text = open(sys.argv[2]).read()
assert want in text, (want, text)' "$W/eval.json" "$W/out"
nn eval "$MODEL" --json --data train --threads "$THREADS"
check "c: eval --data train uses the 5000-sample training subset" py '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["data"] == "train" and d["samples"] == 5000, d' "$W/out"
nn eval "$MODEL" --json --batch-size 1000 --threads "$THREADS"
check "c: eval --batch-size 1000 gives the same accuracy and loss" py '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["accuracy"] == b["accuracy"], (a, b)
assert abs(a["loss"] - b["loss"]) < 1e-4, (a, b)' "$W/eval.json" "$W/out"

# ---- (d) predict on PNGs written here --------------------------------------
# The first 10 MNIST test digits as 28x28 8-bit gray PNGs (zlib + struct),
# digit 0 also as a 56x56 PNG (each pixel doubled); labels from the IDX file.
python3 - "$NNCTL_DATA/mnist" "$W" <<'EOF'
import gzip, struct, sys, zlib
src, out = sys.argv[1], sys.argv[2]
img = gzip.open(src + "/t10k-images-idx3-ubyte.gz").read()
lab = gzip.open(src + "/t10k-labels-idx1-ubyte.gz").read()
assert struct.unpack(">IIII", img[:16]) == (2051, 10000, 28, 28)
assert struct.unpack(">II", lab[:8]) == (2049, 10000)
def png(path, rows):
    h, w = len(rows), len(rows[0])
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
labels = []
for i in range(10):
    px = img[16 + i * 784: 16 + (i + 1) * 784]
    rows = [list(px[r * 28:(r + 1) * 28]) for r in range(28)]
    png("%s/digit%d.png" % (out, i), rows)
    labels.append(lab[8 + i])
    if i == 0:
        big = [[v for v in r for _ in (0, 1)] for r in rows for _ in (0, 1)]
        png(out + "/big.png", big)
open(out + "/labels.txt", "w").write(" ".join(map(str, labels)))
EOF
pngs=()
for i in 0 1 2 3 4 5 6 7 8 9; do pngs+=("$W/digit$i.png"); done
nn predict "$MODEL" "${pngs[@]}" --json --top-k 3 --threads "$THREADS"
if [ $rc = 0 ]; then ok "d: predict 10 PNGs --json --top-k 3 exits 0"; else bad "d: predict 10 PNGs" "exit $rc: $(head -3 "$W/err")"; fi
cp "$W/out" "$W/pred.json"
check "d: top-1 class equals the true label for >= 8 of 10 digits" py '
import json, sys
p = json.load(open(sys.argv[1]))
labels = [int(x) for x in open(sys.argv[2]).read().split()]
got = [e["class"] for e in p]
right = sum(g == l for g, l in zip(got, labels))
assert right >= 8, (got, labels)' "$W/pred.json" "$W/labels.txt"
check "d: --json structure: [{input, class, top: 3 x {class, probability}}], sorted" py '
import json, sys
p = json.load(open(sys.argv[1]))
assert isinstance(p, list) and len(p) == 10, p
for i, e in enumerate(p):
    assert set(e) == {"input", "class", "top"}, e
    assert e["input"].endswith("digit%d.png" % i), e
    top = e["top"]
    assert len(top) == 3 and all(set(t) == {"class", "probability"} for t in top), e
    cls = [t["class"] for t in top]
    pr = [t["probability"] for t in top]
    assert e["class"] == cls[0] and len(set(cls)) == 3 and all(0 <= c <= 9 for c in cls), e
    assert all(0 <= q <= 1 for q in pr) and pr[0] >= pr[1] >= pr[2] and sum(pr) <= 1 + 1e-5, e' "$W/pred.json"
# a folder: its PNGs and its sub-folders', in path order, other files skipped
mkdir -p "$W/photos/more" "$W/nophotos"
for i in 0 1 2 3 4; do cp "$W/digit$i.png" "$W/photos/"; done
for i in 5 6 7 8 9; do cp "$W/digit$i.png" "$W/photos/more/"; done
echo "not an image" >"$W/photos/notes.txt"
nn predict "$MODEL" "$W/photos/" --json --top-k 3 --threads "$THREADS"
check "d: predict FOLDER/: the 10 PNGs in path order (sub-folder after its parent's files), as predicted one by one" py '
import json, os, sys
p = json.load(open(sys.argv[1]))
one = {os.path.basename(e["input"]): e for e in json.load(open(sys.argv[2]))}
want = ["photos/digit%d.png" % i for i in range(5)] + ["photos/more/digit%d.png" % i for i in range(5, 10)]
got = [e["input"][len(sys.argv[3]) + 1:] for e in p]
assert got == want, got
for e in p:
    assert e["top"] == one[os.path.basename(e["input"])]["top"], e' "$W/out" "$W/pred.json" "$W"
nn predict "$MODEL" "$W/nophotos" --threads "$THREADS"
if [ $rc = 2 ] && grep -q "no PNG or JPEG file in the folder" "$W/err"; then
    ok "d: a folder without images is refused (exit 2), saying so"
else bad "d: a folder without images" "exit $rc: $(cat "$W/err")"; fi
nn predict "$MODEL" "$W/digit0.png" "$W/digit1.png" --threads "$THREADS"
check "d: text output: one line per input, 'PATH: c (p) c (p) c (p)' (top-k 3 by default)" py '
import re, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 2, lines
for i, l in enumerate(lines):
    assert re.fullmatch(r".*digit%d\.png:( \d \(\d\.\d{4}\)){3}" % i, l), l' "$W/out"
nn predict "$MODEL" "$W/big.png" --threads "$THREADS"
if [ $rc = 2 ] && grep -q -- "--resize" "$W/err" && grep -q "56x56" "$W/err"; then
    ok "d: a 56x56 PNG is refused (exit 2) with a message naming 56x56 and --resize"
else bad "d: a 56x56 PNG is refused (exit 2) with --resize in the message" "exit $rc: $(cat "$W/err")"; fi
nn predict "$MODEL" "$W/big.png" --resize --json --threads "$THREADS"
check "d: with --resize the 56x56 digit is classified as its label" py '
import json, sys
p = json.load(open(sys.argv[1]))
label = int(open(sys.argv[2]).read().split()[0])
assert len(p) == 1 and p[0]["class"] == label, (p, label)' "$W/out" "$W/labels.txt"

# ---- (e) summary -----------------------------------------------------------
# 784-128-10: dense 784*128+128 = 100480, dense_1 128*10+10 = 1290, total 101770.
nn summary "$W/mlp.cfg"
contains "e: summary SPEC: Total params: 101,770" "$W/out" "Total params: 101,770"
contains "e: summary SPEC: Trainable params: 101,770" "$W/out" "Trainable params: 101,770"
contains "e: summary SPEC: Non-trainable params: 0" "$W/out" "Non-trainable params: 0"
check "e: summary SPEC: per-layer params 100480 and 1290, output shapes (None, 128), (None, 10)" py '
import re, sys
t = open(sys.argv[1]).read()
assert re.search(r"^ ?dense \(Dense\) +\(None, 128\) +100480\b", t, re.M), t
assert re.search(r"^ ?dense_1 \(Dense\) +\(None, 10\) +1290\b", t, re.M), t' "$W/out"
nn summary "$MODEL"
contains "e: summary MODEL.h5: Total params: 101,770" "$W/out" "Total params: 101,770"
# Keras's mnist_mlp: 784*512+512 + 512*512+512 + 512*10+10 = 401920+262656+5130 = 669706
nn summary "$root/configs/mnist_mlp.cfg"
contains "e: summary configs/mnist_mlp.cfg: Total params: 669,706" "$W/out" "Total params: 669,706"

# ---- (f) early stopping and checkpoints ----------------------------------
# val_loss can never improve by min_delta = 10: epoch 1 (index 0) sets best
# (anything beats inf), epoch 2 does not improve, wait = 1 >= patience 0 and
# epoch > 0, so training stops after epoch 2 of 5.
cat >"$W/es.cfg" <<'EOF'
model: {
  name = "e2e_es";
  input = { shape = [784]; };
  layers = (
    { type = "dense"; units = 32; activation = "relu"; },
    { type = "dense"; units = 10; activation = "softmax"; }
  );
};
data: {
  train = { images = "mnist/train-images-idx3-ubyte.gz"; labels = "mnist/train-labels-idx1-ubyte.gz"; };
  scale = 255.0;
  one_hot = true;
  train_subset = 1000;
  validation_split = 0.2;
};
train: {
  loss = "categorical_crossentropy";
  optimizer = { type = "adam"; };
  metrics = ["accuracy"];
  epochs = 5;
  batch_size = 32;
  callbacks = {
    early_stopping = { monitor = "val_loss"; min_delta = 10.0; patience = 0; };
    checkpoint = { path = "ckpt-{epoch:02d}-{val_loss:.4f}.h5"; };
  };
};
EOF
nn train "$W/es.cfg" -o "$W/es" --threads "$THREADS"
if [ $rc = 0 ]; then ok "f: early-stopping run exits 0"; else bad "f: early-stopping run exits 0" "exit $rc: $(head -3 "$W/err")"; fi
contains "f: prints 'Epoch 2: early stopping'" "$W/out" "Epoch 2: early stopping"
if grep -q "Epoch 3/5" "$W/out"; then bad "f: no third epoch" "$(grep Epoch "$W/out")"; else ok "f: no third epoch"; fi
check "f: history.csv has 2 rows" py '
import sys
assert len(open(sys.argv[1]).read().splitlines()) == 3' "$W/es/history.csv"
# checkpoint names from the logged val_loss of each epoch, formatted here
check "f: checkpoints ckpt-{epoch:02d}-{val_loss:.4f}.h5 for epochs 1 and 2 only" py '
import csv, os, sys
d = sys.argv[2]
rows = list(csv.DictReader(open(sys.argv[1])))
want = sorted("ckpt-%02d-%.4f.h5" % (int(r["epoch"]) + 1, float(r["val_loss"])) for r in rows)
got = sorted(f for f in os.listdir(d) if f.startswith("ckpt-"))
assert len(want) == 2 and got == want, (got, want)' "$W/es/history.csv" "$W/es"
contains "f: prints 'Epoch 1: saving model to ...ckpt-01-'" "$W/out" "Epoch 1: saving model to $W/es/ckpt-01-"
n=0
for c in "$W"/es/ckpt-*.h5; do
    [ -e "$c" ] || continue
    n=$((n + 1))
    nn eval "$c" --json --data validation --threads "$THREADS"
    [ $rc = 0 ] || cat "$W/err" >&2
    # the file holds the weights of the end of its epoch: evaluating it on
    # the validation split gives that epoch's logged val_loss/val_accuracy
    check "f: $(basename "$c") evaluates to its epoch's logged val_loss and val_accuracy" py '
import csv, json, re, sys
d = json.load(open(sys.argv[1]))
epoch = int(re.match(r"ckpt-(\d+)-", sys.argv[3]).group(1))
row = list(csv.DictReader(open(sys.argv[2])))[epoch - 1]
assert d["samples"] == 200, d
for k, v in (("loss", "val_loss"), ("accuracy", "val_accuracy")):
    want = float(row[v])
    assert abs(d[k] - want) <= 1e-5 * abs(want) + 1e-6, (k, d[k], v, want)' "$W/out" "$W/es/history.csv" "$(basename "$c")"
done
[ $n -gt 0 ] || bad "f: checkpoints load with nnctl eval" "no checkpoint files"

# restore_best_weights: the same run stops after epoch 2 (min_delta = 10:
# nothing improves on epoch 1), so model.h5 must hold epoch 1's weights,
# bit for bit those of ckpt-01, and not epoch 2's.
nn train "$W/es.cfg" -o "$W/rbw" --threads "$THREADS" \
    --set train.callbacks.early_stopping.restore_best_weights=true \
    --set 'train.callbacks.checkpoint.path="ckpt-{epoch:02d}.h5"'
if [ $rc = 0 ] && grep -q "Restoring model weights from the end of the best epoch: 1" "$W/out" "$W/err"; then
    ok "f: restore_best_weights: stops after epoch 2, restoring epoch 1"
else bad "f: restore_best_weights: stops after epoch 2, restoring epoch 1" "exit $rc: $(tail -3 "$W/out")"; fi
if ! /usr/bin/python3 -c 'import h5py, numpy' 2>/dev/null; then
    skip "f: restore_best_weights: model.h5 equals ckpt-01.h5 bit for bit" "python3-h5py is not installed (scripts/install-deps)"
else
    check "f: restore_best_weights: model.h5 equals ckpt-01.h5 bit for bit, not ckpt-02.h5" /usr/bin/python3 -c '
import sys, h5py, numpy as np
def weights(p):
    with h5py.File(p, "r") as f:
        out = {}
        f["model_weights"].visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
        return out
m, c1, c2 = (weights(sys.argv[i]) for i in (1, 2, 3))
assert m and sorted(m) == sorted(c1) == sorted(c2), (sorted(m), sorted(c1))
for k in m:
    assert m[k].dtype == c1[k].dtype and m[k].tobytes() == c1[k].tobytes(), "%s differs from epoch 1" % k
assert any(m[k].tobytes() != c2[k].tobytes() for k in m), "epoch 2 trained nothing: the check shows nothing"
print("     %d arrays equal epoch 1 bit for bit" % len(m))' "$W/rbw/model.h5" "$W/rbw/ckpt-01.h5" "$W/rbw/ckpt-02.h5"
fi

# save_best_only: the first epoch always improves on inf (Keras's message).
nn train "$W/es.cfg" -o "$W/best" --threads "$THREADS" \
    --set train.callbacks.early_stopping.enabled=false --set train.epochs=2 \
    --set train.callbacks.checkpoint.save_best_only=true \
    --set 'train.callbacks.checkpoint.path="best.h5"'
contains "f: save_best_only: 'Epoch 1: val_loss improved from inf to ...'" "$W/out" \
    "Epoch 1: val_loss improved from inf to "
if [ -f "$W/best/best.h5" ]; then ok "f: save_best_only writes best.h5"; else bad "f: save_best_only writes best.h5" "$(ls "$W/best")"; fi

# ---- (g) memory ------------------------------------------------------------
# The peak resident memory on each epoch's progress line and in run.json,
# against the kernel's own high-water mark of the same process (Python's
# getrusage of its child) and a floor it must exceed: the 47,040,000 bytes
# of MNIST's training images, all loaded before train_subset picks 5000.
check "g: run.json peak_rss_bytes is the kernel's peak of the process (within 10%), above the data's 47 MB; each epoch's line shows a peak RSS that never falls" py '
import json, re, resource, subprocess, sys
nnctl, cfg, out = sys.argv[1:4]
r = subprocess.run([nnctl, "train", cfg, "-o", out, "--threads", sys.argv[4]], capture_output=True, text=True)
assert r.returncode == 0, r.stderr
kernel = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
peak = json.load(open(out + "/run.json"))["peak_rss_bytes"]
assert 0.9 * kernel <= peak <= kernel, (peak, kernel)
assert peak > 47040000, peak
unit = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}
lines = [m for m in re.findall(r"peak RSS: ([0-9.]+) (\w+)$", r.stdout, re.M)]
assert len(lines) == 3, r.stdout
vals = [float(v) * unit[u] for v, u in lines]
assert vals == sorted(vals) and vals[-1] <= peak * 1.001, (vals, peak)' "$NNCTL" "$W/mlp.cfg" "$W/mem" "$THREADS"

nn_summary e2e
