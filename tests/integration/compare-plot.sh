#!/usr/bin/env bash
# nnctl compare and nnctl plot on three tiny MNIST runs that differ in the
# learning rate and the dropout rate.
#
#   NNCTL=build/nnctl NNCTL_DATA=/path/to/datasets tests/integration/compare-plot.sh
#
# Needs MNIST under $NNCTL_DATA/mnist/, python3 (standard library only) and,
# for the PNG checks, gnuplot (gnuplot-nox; skipped without it). Every number
# the table shows is checked against the run's own history.csv, run.json and
# eval.json, read here with python. Prints one line per check and
# `compare-plot: N passed, M failed, K skipped`; exits 1 on any failure.
set -u

here=$(cd "$(dirname "$0")" && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nn_abs_nnctl
nn_need_mnist compare-plot
THREADS=${THREADS:-2}
W=$(mktemp -d "${TMPDIR:-/tmp}/nnctl-compare.XXXXXX")
trap 'rm -rf "$W"' EXIT

check() {
    local name=$1
    shift
    local out
    if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$(printf '%s' "$out" | tail -5)"; fi
}
nn() {
    "$NNCTL" "$@" >"$W/out" 2>"$W/err"
    rc=$?
}
# the system Python: Debian's python3-numpy and python3-h5py (scripts/install-deps)
PYTHON=$(command -v /usr/bin/python3 || command -v python3)
py() { "$PYTHON" -c "$@"; }

cat >"$W/tiny.cfg" <<'EOF'
model: {
  name = "tiny";
  input = { shape = [784]; };
  layers = (
    { type = "dense"; units = 32; activation = "relu"; },
    { type = "dropout"; rate = 0.2; },
    { type = "dense"; units = 10; activation = "softmax"; }
  );
};
data: {
  train = { images = "mnist/train-images-idx3-ubyte.gz"; labels = "mnist/train-labels-idx1-ubyte.gz"; };
  test  = { images = "mnist/t10k-images-idx3-ubyte.gz"; labels = "mnist/t10k-labels-idx1-ubyte.gz"; };
  scale = 255.0;
  one_hot = true;
  train_subset = 1000;
  validation_split = 0.2;
};
train: {
  loss = "categorical_crossentropy";
  optimizer = { type = "adam"; lr = 0.001; };
  metrics = ["accuracy"];
  epochs = 2;
  batch_size = 32;
  seed = 1;
};
EOF

# ---- three runs ------------------------------------------------------------
R=$W/runs
train() { # NAME LR RATE
    nn train "$W/tiny.cfg" -o "$R/$1" --threads "$THREADS" -q \
        --set "train.optimizer.lr=$2" --set "model.layers.[1].rate=$3"
    if [ $rc = 0 ]; then ok "train $1 (lr $2, dropout $3)"; else bad "train $1" "exit $rc: $(head -3 "$W/err")"; fi
}
train base 0.001 0.2
train lr 0.01 0.2
train drop 0.001 0.5
mkdir -p "$W/notarun"
echo "hello" >"$W/notarun/readme.txt"

# The expected table, computed here from each run's files:
# name -> {rate, lr, epochs, best, final, test, spe, params, nonzero (h5py)}
cat >"$W/expect.py" <<'EOF'
import csv, json, os
def weights(path):
    import h5py, numpy as np
    out = []
    with h5py.File(path) as f:
        f["model_weights"].visititems(lambda n, o: out.append(np.asarray(o[()]).ravel()) if hasattr(o, "shape") else None)
    return out
def count(path, threshold):
    return int(sum((abs(w) > threshold).sum() for w in weights(path)))
def expected(R):
    out = {}
    for name in ("base", "drop", "lr"):
        d = os.path.join(R, name)
        hist = list(csv.DictReader(open(os.path.join(d, "history.csv"))))
        run = json.load(open(os.path.join(d, "run.json")))
        ev = json.load(open(os.path.join(d, "eval.json")))
        va = [float(r["val_accuracy"]) for r in hist]
        times = [float(r["time"]) for r in hist]
        out[name] = {
            "model.layers.dropout.rate": {"base": 0.2, "lr": 0.2, "drop": 0.5}[name],
            "train.optimizer.lr": {"base": 0.001, "lr": 0.01, "drop": 0.001}[name],
            "epochs": len(hist), "run_epochs": run["epochs"],
            "best_val_accuracy": max(va), "final_val_accuracy": va[-1],
            "test_accuracy": ev["accuracy"], "run_test_accuracy": run["test"]["accuracy"],
            "sec/epoch": sum(times) / len(times), "params": run["params"],
            "nonzero>1e-3": count(os.path.join(d, "model.h5"), 1e-3),
        }
    return out
EOF
COLS='["run", "model.layers.dropout.rate", "train.optimizer.lr", "epochs", "best_val_accuracy", "final_val_accuracy", "test_accuracy", "sec/epoch", "params", "nonzero>1e-3"]'

# ---- compare ---------------------------------------------------------------
nn compare "$R/base" "$R/lr" "$R/drop"
if [ $rc = 0 ]; then ok "compare 3 runs exits 0"; else bad "compare 3 runs exits 0" "exit $rc: $(cat "$W/err")"; fi
cp "$W/out" "$W/text"
check "compare: columns are run, exactly the differing keys (dropout rate, lr), then the results" py '
import sys
lines = open(sys.argv[1]).read().splitlines()
assert lines[0].split() == '"$COLS"', lines[0]
assert set(lines[1]) <= {"-", " "}, lines[1]
assert len(lines) == 5, lines' "$W/text"
check "compare: text rows (by name) show each run's numbers to 4 decimals" py '
import sys
sys.path.insert(0, sys.argv[2]); from expect import expected
E = expected(sys.argv[3])
rows = [l.split() for l in open(sys.argv[1]).read().splitlines()[2:]]
assert [r[0] for r in rows] == ["base", "drop", "lr"], rows
for r in rows:
    e = E[r[0]]
    assert float(r[1]) == e["model.layers.dropout.rate"] and float(r[2]) == e["train.optimizer.lr"], r
    assert int(r[3]) == e["epochs"] == e["run_epochs"] == 2, (r, e)
    for i, k in ((4, "best_val_accuracy"), (5, "final_val_accuracy"), (6, "test_accuracy"), (7, "sec/epoch")):
        assert r[i] == "%.4f" % e[k], (k, r[i], e[k])
    assert int(r[8]) == e["params"] == 784 * 32 + 32 + 32 * 10 + 10, (r, e)
    assert int(r[9]) == e["nonzero>1e-3"], (r, e)' "$W/text" "$W" "$R"

nn compare "$R/base" "$R/lr" "$R/drop" --csv
cp "$W/out" "$W/csv"
check "compare --csv: parses with python csv (header + 3 rows, CRLF); numbers equal history/run.json/eval.json exactly" py '
import csv, sys
sys.path.insert(0, sys.argv[2]); from expect import expected
E = expected(sys.argv[3])
raw = open(sys.argv[1], newline="").read()
assert raw.endswith("\r\n"), repr(raw[-10:])
rows = list(csv.reader(open(sys.argv[1], newline="")))
assert rows[0] == '"$COLS"', rows[0]
assert len(rows) == 4 and all(len(r) == len(rows[0]) for r in rows), rows
for r in rows[1:]:
    d = dict(zip(rows[0], r)); e = E[d["run"]]
    for k in ("model.layers.dropout.rate", "train.optimizer.lr", "best_val_accuracy", "final_val_accuracy", "test_accuracy", "params", "epochs", "nonzero>1e-3"):
        assert float(d[k]) == e[k], (d["run"], k, d[k], e[k])
    assert e["test_accuracy"] == e["run_test_accuracy"], e
    assert abs(float(d["sec/epoch"]) - e["sec/epoch"]) < 1e-12, (d, e)' "$W/csv" "$W" "$R"

# summary --weights: per layer and in total, the weights numpy counts in
# model.h5 (|w| > 0 by default, > --threshold), as text and --json
nn summary "$R/base/model.h5" --weights
cp "$W/out" "$W/wtext"
nn summary "$R/base/model.h5" --weights --threshold 0.05 --json
check "summary --weights (text, |w| > 0) and --threshold 0.05 --json: numpy's counts over model.h5's weights" py '
import json, sys
sys.path.insert(0, sys.argv[2]); from expect import weights
import h5py, numpy as np
path = sys.argv[3] + "/base/model.h5"
per = {}
with h5py.File(path) as f:
    for layer in f["model_weights"]:
        ws = []
        f["model_weights"][layer].visititems(lambda n, o: ws.append(np.asarray(o[()]).ravel()) if hasattr(o, "shape") else None)
        if ws:
            per[layer] = np.concatenate(ws)
text = open(sys.argv[4]).read()
allw = np.concatenate(list(per.values()))
assert "Total params: {:,}".format(allw.size) in text, text
assert "Nonzero: {:,} ({:.2f}%)".format(int((allw != 0).sum()), 100 * (allw != 0).mean()) in text, text
j = json.load(open(sys.argv[1]))
assert j["threshold"] == 0.05 and j["params"] == allw.size, j
assert j["nonzero"] == int((abs(allw) > 0.05).sum()), (j["nonzero"], int((abs(allw) > 0.05).sum()))
assert [l["name"] for l in j["layers"]] == list(per), (j["layers"], list(per))
for l in j["layers"]:
    w = per[l["name"]]
    assert l["params"] == w.size and l["nonzero"] == int((abs(w) > 0.05).sum()), l
    assert abs(l["share"] - l["nonzero"] / l["params"]) < 1e-12, l' "$W/out" "$W" "$R" "$W/wtext"
nn summary "$W/tiny.cfg" --weights
if [ $rc = 2 ] && grep -q "give a model file" "$W/err"; then ok "summary --weights of a spec: exit 2, a model file is needed"
else bad "summary --weights of a spec: exit 2" "exit $rc: $(cat "$W/err")"; fi

nn compare "$R/base" "$R/lr" "$R/drop" --markdown
check "compare --markdown: header row, |---| separator, 3 rows" py '
import re, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 5, lines
assert [c.strip() for c in lines[0].strip("|").split("|")] == '"$COLS"', lines[0]
assert re.fullmatch(r"\|( -{3,}:? \|){10}", lines[1]), lines[1]
assert all(l.startswith("| ") and l.endswith(" |") for l in lines[2:]), lines' "$W/out"

nn compare "$R/base" "$R/lr" "$R/drop" --sort val_accuracy --csv
check "compare --sort val_accuracy: rows by best val_accuracy, best first" py '
import csv, sys
sys.path.insert(0, sys.argv[2]); from expect import expected
E = expected(sys.argv[3])
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
got = [r["run"] for r in rows]
want = sorted(E, key=lambda n: (-E[n]["best_val_accuracy"], n))
assert got == want, (got, want, {n: E[n]["best_val_accuracy"] for n in E})' "$W/out" "$W" "$R"
cp "$W/out" "$W/by_val_accuracy"
nn compare "$R/base" "$R/lr" "$R/drop" --sort val_acc --csv
if [ $rc = 0 ] && cmp -s "$W/out" "$W/by_val_accuracy"; then ok "compare --sort val_acc (Keras 2's name) sorts as val_accuracy"
else bad "compare --sort val_acc" "exit $rc: $(head -3 "$W/err")"; fi
nn compare "$R/base" "$R/lr" "$R/drop" --sort final_val_loss
check "compare --sort final_val_loss: lowest final val_loss first" py '
import csv, os, sys
R = sys.argv[2]
loss = {n: float(list(csv.DictReader(open(os.path.join(R, n, "history.csv"))))[-1]["val_loss"]) for n in ("base", "drop", "lr")}
got = [l.split()[0] for l in open(sys.argv[1]).read().splitlines()[2:]]
assert got == sorted(loss, key=lambda n: (loss[n], n)), (got, loss)' "$W/out" "$R"

nn compare "$R"
cp "$W/out" "$W/parent"
check "compare PARENT_DIR: its run subdirectories, same table" bash -c '[ -s "$1" ] && cmp "$1" "$2"' _ "$W/parent" "$W/text"
echo "stray" >"$W/stray.txt"
nn compare "$R/base" "$W/stray.txt" "$W/notarun"
if [ $rc = 0 ] && [ "$(wc -l <"$W/err")" = 2 ] && grep -qx "skipping $W/stray.txt: not a directory" "$W/err" &&
    grep -q "^skipping $W/notarun: not a run directory" "$W/err" && [ "$(tail -n +3 "$W/out" | awk '{print $1}')" = base ]; then
    ok "compare with a stray file and a folder without runs: one 'skipping' line each, the run's row, exit 0"
else bad "compare skips what is not a run, one line each" "exit $rc: $(cat "$W/err" "$W/out")"; fi
nn compare "$W/stray.txt" "$W/notarun"
if [ $rc = 2 ] && grep -q "no run directory among the 2 paths given" "$W/err"; then ok "compare with no run at all: exit 2, 'no run directory among the 2 paths given'"
else bad "compare with no run at all: exit 2" "exit $rc: $(cat "$W/err")"; fi
nn compare "$W/nonexistent"
if [ $rc = 2 ] && grep -q "nonexistent: No such file or directory" "$W/err"; then ok "compare on a path that does not exist: exit 2 naming it"
else bad "compare on a path that does not exist: exit 2 naming it" "exit $rc: $(cat "$W/err")"; fi
# Runs of different architectures: layers compared by name, not position
# (layer [1] is a dropout in one, a dense in the other), and the
# architectures summarised by their layer count and parameters instead of a
# column per differing layer setting.
sed -e 's/{ type = "dropout"; rate = 0.2; },/{ type = "dense"; units = 16; activation = "relu"; },\n    { type = "dropout"; rate = 0.2; },/' \
    "$W/tiny.cfg" > "$W/deep.cfg"
nn train "$W/deep.cfg" -o "$W/arch/deep" --threads "$THREADS" -q --set train.epochs=1
if [ $rc = 0 ]; then
    nn compare "$R/base" "$W/arch/deep" --csv
    check "compare of different architectures: a layer count and params, no per-layer columns" py '
import csv, json, sys
rows = list(csv.reader(open(sys.argv[1])))
assert rows[0] == ["run", "train.epochs", "layers", "epochs", "best_val_accuracy", "final_val_accuracy",
                   "test_accuracy", "sec/epoch", "params", "nonzero>1e-3"], rows[0]
by = {r[0]: r for r in rows[1:]}
assert by["base"][2] == "3" and by["deep"][2] == "4", rows
for name, d in (("base", sys.argv[2] + "/base"), ("deep", sys.argv[3] + "/deep")):
    assert int(by[name][8]) == json.load(open(d + "/run.json"))["params"], (name, by[name])' "$W/out" "$R" "$W/arch"
else bad "train a deeper run" "exit $rc: $(head -3 "$W/err")"; fi

nn compare "$R" --sort bogus
if [ $rc = 2 ] && grep -q -- "--sort bogus" "$W/err"; then ok "compare --sort bogus: exit 2 naming the key"
else bad "compare --sort bogus: exit 2 naming the key" "exit $rc: $(cat "$W/err")"; fi

# ---- plot ------------------------------------------------------------------
pngsize() { # FILE W H: a PNG whose IHDR says W x H
    py '
import struct, sys
b = open(sys.argv[1], "rb").read(33)
assert b[:8] == b"\x89PNG\r\n\x1a\n", b[:8]
n, t = struct.unpack(">I4s", b[8:16])
assert t == b"IHDR" and n == 13, (n, t)
w, h = struct.unpack(">II", b[16:24])
assert (w, h) == (int(sys.argv[2]), int(sys.argv[3])), (w, h)' "$@"
}
# The points gnuplot draws, read back: a gnuplot of our own first on PATH
# runs the real one once with `set table` (the curves as text) and once as
# asked (the PNG). Every curve, in the order nnctl's script plots them
# (panel loss, then panel accuracy; per run training then validation),
# must hold the run's history.csv values at epochs 1..n (gnuplot's table
# prints 6 significant digits).
GP=$(command -v gnuplot || true)
if [ -z "$GP" ]; then
    for c in "plot 3 runs: exit 0" "plot: a PNG of 640x480" "plot: the drawn points are the histories" \
        "plot PARENT_DIR: a PNG of 1200x500" "plot with a stray file" "plot: no temporary files left"; do
        skip "$c" "gnuplot not installed: scripts/install-deps (gnuplot-nox)"
    done
else
    mkdir -p "$W/gpbin" "$W/tables"
    cat >"$W/gpbin/gnuplot" <<GPEOF
#!/bin/sh
n=\$(ls "$W/tables" | wc -l)
"$GP" -e "set table '$W/tables/table-\$n.txt'" "\$@" || exit 1
exec "$GP" "\$@"
GPEOF
    chmod +x "$W/gpbin/gnuplot"
    PATH="$W/gpbin:$PATH" nn plot "$R/base" "$R/lr" "$R/drop" -o "$W/curves.png" --width 640 --height 480
    if [ $rc = 0 ]; then ok "plot 3 runs: exit 0"; else bad "plot 3 runs: exit 0" "exit $rc: $(cat "$W/err")"; fi
    check "plot: a PNG of 640x480 (signature, IHDR)" pngsize "$W/curves.png" 640 480
    check "plot: the drawn points are the histories (loss, val_loss, accuracy, val_accuracy of 3 runs)" py '
import csv, re, sys
text = open(sys.argv[1]).read()
curves = []
for block in re.split(r"\n(?=# Curve \d+ of)", text.strip()):
    title = re.search(r"# Curve title: \"(.*)\"", block)
    pts = [tuple(float(v) for v in l.split()[:2]) for l in block.splitlines()
           if l.strip() and not l.startswith("#")]
    curves.append((title.group(1) if title else None, pts))
want = []
for col in ("loss", "accuracy"):
    for run in sys.argv[3:]:
        rows = list(csv.DictReader(open("%s/%s/history.csv" % (sys.argv[2], run))))
        for v, c in enumerate((col, "val_" + col)):
            want.append((run if v == 0 else None, [(int(r["epoch"]) + 1, float(r[c])) for r in rows]))
assert len(curves) == len(want) == 12, (len(curves), len(want))
for (gt, gp), (wt, wp) in zip(curves, want):
    assert gt == wt, (gt, wt)
    assert len(gp) == len(wp) == 2, (gp, wp)
    for (gx, gy), (wx, wy) in zip(gp, wp):
        assert gx == wx and abs(gy - wy) <= 1e-5 * abs(wy) + 1e-12, (wt, gx, gy, wx, wy)
print("     12 curves, 24 points")' "$W/tables/table-0.txt" "$R" base lr drop
    nn plot "$R" --output "$W/default.png" --metric accuracy
    check "plot PARENT_DIR: a PNG of 1200x500 (the default size)" pngsize "$W/default.png" 1200 500
    nn plot "$R/base" "$W/stray.txt" -o "$W/skip.png"
    if [ $rc = 0 ] && [ "$(wc -l <"$W/err")" = 1 ] && grep -qx "skipping $W/stray.txt: not a directory" "$W/err"; then
        ok "plot with a stray file: one 'skipping' line, the run plotted, exit 0"
    else bad "plot with a stray file: one 'skipping' line, exit 0" "exit $rc: $(cat "$W/err")"; fi
    if ls "$W"/.*.tmp* "$W"/*.tmp* >/dev/null 2>&1; then bad "plot: no temporary files left next to the PNG" "$(ls -a "$W")"
    else ok "plot: no temporary files left next to the PNG"; fi
fi
nn plot "$W/notarun" "$W/stray.txt" -o "$W/bad.png"
if [ $rc = 2 ] && grep -q "no run directory among" "$W/err" && [ ! -e "$W/bad.png" ]; then
    ok "plot with no run among its paths: exit 2, 'no run directory among', no PNG"
else bad "plot with no run among its paths: exit 2, no PNG" "exit $rc: $(cat "$W/err")"; fi
nn plot "$R/base" -o "$W/acc.png" --metric acc
if [ $rc = 0 ] && [ -s "$W/acc.png" ]; then ok "plot --metric acc (Keras 2's name) plots accuracy"
else bad "plot --metric acc" "exit $rc: $(head -3 "$W/err")"; fi
nn plot "$R/base" -o "$W/bad.png" --metric bogus
if [ $rc = 2 ] && grep -q -- "--metric bogus" "$W/err"; then ok "plot --metric bogus: exit 2 naming the metric"
else bad "plot --metric bogus: exit 2 naming the metric" "exit $rc: $(cat "$W/err")"; fi
nn plot "$R/base"
if [ $rc = 2 ] && grep -q -- "--output" "$W/err"; then ok "plot without -o: exit 2"
else bad "plot without -o: exit 2" "exit $rc: $(cat "$W/err")"; fi
PATH=/nonexistent "$NNCTL" plot "$R/base" -o "$W/bad.png" >"$W/out" 2>"$W/err"
rc=$?
if [ $rc = 1 ] && grep -q "install gnuplot-nox (scripts/install-deps)" "$W/err" && [ ! -e "$W/bad.png" ]; then
    ok "plot without gnuplot on PATH: exit 1, 'install gnuplot-nox (scripts/install-deps)'"
else bad "plot without gnuplot on PATH: exit 1 with the install hint" "exit $rc: $(cat "$W/err")"; fi

nn_summary compare-plot
