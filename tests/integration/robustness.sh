#!/usr/bin/env bash
# Robustness of `nnctl train`: Ctrl-C / SIGTERM checkpoints, exact resume,
# SIGKILL at random moments, NaN losses, unwritable run directories and full
# disks. Every check runs nnctl for real on small MNIST runs.
#
#   NNCTL=build/nnctl NNCTL_DATA=/path/to/datasets tests/integration/robustness.sh
#
# Needs MNIST under $NNCTL_DATA/mnist/ and /usr/bin/python3 with h5py (the
# weights of two runs are compared dataset by dataset under /model_weights).
# Mounts a 3 MiB tmpfs for the disk-full check when allowed (root), skips it
# otherwise. Prints one line per check (ok / FAIL / skip / note) and
# `robustness: N passed, M failed, K skipped`; exits 1 on any failure. About 2 minutes
# on 2 busy cores (interrupt timings adapt to the epoch times that
# history.csv reports, and retry when a run finished before the signal).
set -u

here=$(cd "$(dirname "$0")" && pwd)
NNCTL=${NNCTL:-$here/../../nnctl}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nn_abs_nnctl
if [ ! -x "$NNCTL" ]; then
    echo "robustness: nnctl binary '$NNCTL' not found (set NNCTL or run make)" >&2
    exit 2
fi
nn_need_mnist robustness
# Other builds may replace the binary while this runs: use a private copy
# (nnctl re-executes /proc/self/exe, so the copy is what runs throughout).
W=$(mktemp -d "${TMPDIR:-/tmp}/nnctl-robust.XXXXXX")
cp "$NNCTL" "$W/nnctl" && NNCTL="$W/nnctl"
if ! /usr/bin/python3 -c 'import h5py, numpy' 2>/dev/null; then
    rm -rf "$W"
    nn_need_python robustness h5py numpy
fi
PY=/usr/bin/python3
THREADS=${THREADS:-2}
MNT=""
cleanup() {
    [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT

note() { echo "note $1"; }
# check NAME COMMAND...: ok when the command succeeds (its output shown on failure)
check() {
    local name=$1
    shift
    local out
    if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$(printf '%s' "$out" | head -5)"; fi
}
# nn ARGS...: foreground nnctl; stdout+stderr in $W/log, status in $rc
nn() {
    "$NNCTL" "$@" >"$W/log" 2>&1
    rc=$?
}
crashed() { # FILE: a crash signature in the output?
    grep -qE 'Segmentation|Aborted|AddressSanitizer|core dumped|double free|stack smashing' "$1"
}

# ---- helpers in python (h5py) ---------------------------------------------
# h5sum.py FILE [GROUP]: one line per dataset under GROUP (default
# model_weights): name dtype shape sha256 of the bytes. `all` = the whole file,
# datasets and attributes.
cat >"$W/h5sum.py" <<'EOF'
import hashlib, sys, h5py, numpy as np
path = sys.argv[1]
group = sys.argv[2] if len(sys.argv) > 2 else "model_weights"
f = h5py.File(path, "r")
out = []
def visit(name, obj):
    full = (group + "/" + name) if group != "all" else name
    if isinstance(obj, h5py.Dataset):
        a = obj[()]
        b = np.ascontiguousarray(a).tobytes() if isinstance(a, np.ndarray) else repr(a).encode()
        out.append("%s %s %s %s" % (full, obj.dtype, obj.shape, hashlib.sha256(b).hexdigest()))
    if group == "all":
        for k, v in obj.attrs.items():
            out.append("%s@%s %s" % (full, k, hashlib.sha256(repr(v).encode()).hexdigest()))
root = f if group == "all" else f[group]
root.visititems(visit)
if group == "all":
    for k, v in f.attrs.items():
        out.append("/@%s %s" % (k, hashlib.sha256(repr(v).encode()).hexdigest()))
assert out, "no datasets under " + group
print("\n".join(sorted(out)))
EOF
# h5check.py FILE...: each file opens with h5py, every dataset reads in full,
# and a model file has /model_weights (a weights-only file has layer_names).
cat >"$W/h5check.py" <<'EOF'
import sys, h5py
bad = 0
for p in sys.argv[1:]:
    try:
        f = h5py.File(p, "r")
        n = [0]
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                obj[()]
                n[0] += 1
        f.visititems(visit)
        assert "model_weights" in f or "layer_names" in f.attrs, "no model_weights"
        assert n[0] > 0, "no datasets"
    except Exception as e:
        print("%s: %s" % (p, e))
        bad = 1
sys.exit(bad)
EOF
# histcheck.py FILE: a header ending in ,time and complete rows, epochs 0..n-1
cat >"$W/histcheck.py" <<'EOF'
import sys
text = open(sys.argv[1], newline="").read()
assert text == "" or text.endswith("\n"), "torn last line: %r" % text[-80:]
lines = text.splitlines()
if lines:
    h = lines[0].split(",")
    assert h[0] == "epoch" and h[-1] == "time", h
    for i, l in enumerate(lines[1:]):
        r = l.split(",")
        assert len(r) == len(h) and r[0] == str(i), (i, l)
        [float(x) for x in r]
EOF

hist_rows() { # FILE -> number of data rows (0 when missing)
    if [ -f "$1" ]; then echo $(($(wc -l <"$1") - 1)); else echo 0; fi
}
strip_time() { sed 's/,[^,]*$//' "$1"; } # time is the last column
# same_history NAME A B: history.csv files equal byte for byte except time
same_history() {
    if [ -f "$2" ] && [ -f "$3" ] && cmp -s <(strip_time "$2") <(strip_time "$3"); then ok "$1"; else
        bad "$1" "$(diff <(strip_time "$2" 2>&1) <(strip_time "$3" 2>&1) | head -6)"
    fi
}
# same_weights NAME A B [GROUP]: identical datasets under /model_weights (or GROUP)
same_weights() {
    local a b
    a=$("$PY" "$W/h5sum.py" "$2" "${4:-model_weights}" 2>&1)
    b=$("$PY" "$W/h5sum.py" "$3" "${4:-model_weights}" 2>&1)
    if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "$1"; else
        bad "$1" "$(diff <(echo "$a") <(echo "$b") | head -4)"
    fi
}
# loads NAME FILE: nnctl evaluates FILE on the validation split (the spec is
# inside the file), exit 0 and a finite loss
loads() {
    nn eval "$2" --json --data validation --threads "$THREADS"
    if [ $rc = 0 ] && "$PY" -c '
import json, math, sys
d = json.load(open(sys.argv[1]))
assert math.isfinite(d["loss"]), d' <(sed -n '/^{/,/^}/p' "$W/log") 2>/dev/null; then ok "$1"; else
        bad "$1" "exit $rc: $(head -c 300 "$W/log")"
    fi
}
tmp_files() { # DIR: temp files left behind
    find "$1" -maxdepth 1 -name '*.tmp.*' -printf '%f ' 2>/dev/null
}
md5() { md5sum <"$1" | cut -d' ' -f1; }

# launch PREFIX ARGS...: nnctl in the background, output in PREFIX.out/.err,
# pid in $pid. (A non-interactive shell starts it with SIGINT ignored; nnctl
# installs its own handler when the fit loop starts, which is when we signal.)
launch() {
    local p=$1
    shift
    "$NNCTL" "$@" >"$p.out" 2>"$p.err" &
    pid=$!
}
# signal_at PID HIST ROWS FRAC SIG: waits until HIST has >= ROWS data rows
# and the epoch's saves are done (last.h5, written after history.csv, is
# newer), then sleeps FRAC x the last epoch's time (from the time column:
# training and validation) and sends SIG. Returns 1 when the process ended
# first.
signal_at() {
    local p=$1 hist=$2 rows=$3 frac=$4 sig=$5 t0=$SECONDS et s
    local last="${hist%/*}/last.h5"
    while kill -0 "$p" 2>/dev/null; do
        if [ "$(hist_rows "$hist")" -ge "$rows" ] && [ "$last" -nt "$hist" ]; then
            et=$(tail -n1 "$hist" | sed 's/.*,//')
            s=$(awk -v t="$et" -v f="$frac" 'BEGIN { s = t * f; if (s < 0.003) s = 0.003; if (s > 3) s = 3; printf "%.3f", s }')
            sleep "$s"
            kill -"$sig" "$p" 2>/dev/null
            return $?
        fi
        [ $((SECONDS - t0)) -gt 120 ] && return 1
        sleep 0.01
    done
    return 1
}
frac() { awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.15 + 0.45 * r / 32767 }'; } # 0.15..0.6

# ---- specs ------------------------------------------------------------------
# A: dropout, validation_split, early stopping with restore_best_weights and a
# checkpoint every epoch. 100 steps an epoch; with seed 6 it stops early
# after epoch 5 and restores epoch 4 (the script notes it when not).
cat >"$W/a.cfg" <<'EOF'
model: {
  name = "robust_a";
  input = { shape = [784]; };
  layers = (
    { type = "dense"; units = 128; activation = "relu"; },
    { type = "dropout"; rate = 0.3; },
    { type = "dense"; units = 10; activation = "softmax"; }
  );
};
data: {
  train = { images = "mnist/train-images-idx3-ubyte.gz"; labels = "mnist/train-labels-idx1-ubyte.gz"; };
  scale = 255.0;
  one_hot = true;
  train_subset = 2000;
  validation_split = 0.2;
};
train: {
  loss = "categorical_crossentropy";
  optimizer = { type = "adam"; lr = 0.003; };
  metrics = ["accuracy"];
  epochs = 6;
  batch_size = 16;
  seed = 6;
  callbacks = {
    early_stopping = { monitor = "val_loss"; patience = 1; restore_best_weights = true; };
    checkpoint = { path = "ckpt-{epoch:02d}.h5"; };
  };
};
EOF
# B: one batch an epoch (batch_size = the 1600 training samples), so every
# interruption lands between epochs; save_best_only checkpoint (its best
# value must survive the resume).
cat >"$W/b.cfg" <<'EOF'
model: {
  name = "robust_b";
  input = { shape = [784]; };
  layers = (
    { type = "dense"; units = 32; activation = "relu"; },
    { type = "dropout"; rate = 0.2; },
    { type = "dense"; units = 10; activation = "softmax"; }
  );
};
data: {
  train = { images = "mnist/train-images-idx3-ubyte.gz"; labels = "mnist/train-labels-idx1-ubyte.gz"; };
  scale = 255.0;
  one_hot = true;
  train_subset = 2000;
  validation_split = 0.2;
};
train: {
  loss = "categorical_crossentropy";
  optimizer = { type = "adam"; lr = 0.01; };
  metrics = ["accuracy"];
  epochs = 40;
  batch_size = 1600;
  seed = 11;
  callbacks = {
    checkpoint = { path = "best.h5"; save_best_only = true; monitor = "val_loss"; };
  };
};
EOF
# K: small and quick, with a test set (eval.json) and a checkpoint every
# epoch: the SIGKILL loop, disk full, unwritable files.
cat >"$W/k.cfg" <<'EOF'
model: {
  name = "robust_k";
  input = { shape = [784]; };
  layers = (
    { type = "dense"; units = 64; activation = "relu"; },
    { type = "dropout"; rate = 0.2; },
    { type = "dense"; units = 10; activation = "softmax"; }
  );
};
data: {
  train = { images = "mnist/train-images-idx3-ubyte.gz"; labels = "mnist/train-labels-idx1-ubyte.gz"; };
  test  = { images = "mnist/t10k-images-idx3-ubyte.gz"; labels = "mnist/t10k-labels-idx1-ubyte.gz"; };
  scale = 255.0;
  one_hot = true;
  train_subset = 2000;
  validation_split = 0.2;
};
train: {
  loss = "categorical_crossentropy";
  optimizer = { type = "adam"; };
  metrics = ["accuracy"];
  epochs = 5;
  batch_size = 16;
  seed = 5;
  callbacks = { checkpoint = { path = "ckpt-{epoch:02d}.h5"; }; };
};
EOF
# N: plain SGD (Adam's steps are bounded by lr: no overflow)
sed -e 's/name = "robust_k"/name = "robust_n"/' -e 's/type = "adam"; }/type = "sgd"; lr = 0.01; }/' \
    -e 's/epochs = 5/epochs = 3/' "$W/k.cfg" >"$W/n.cfg"

# ---- reference runs (never interrupted) ------------------------------------
for s in a b k; do
    t0=$(date +%s.%N)
    nn train "$W/$s.cfg" -o "$W/ref_$s" --threads "$THREADS"
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }' >"$W/ref_$s.secs"
    cp "$W/log" "$W/ref_$s.log"
    if [ $rc = 0 ] && [ -f "$W/ref_$s/model.h5" ]; then ok "reference run $s (uninterrupted) exits 0"; else
        bad "reference run $s (uninterrupted) exits 0" "exit $rc: $(tail -3 "$W/log")"
    fi
done
if grep -q "Restoring model weights" "$W/ref_a.log"; then
    note "reference A stops early and restores the weights of epoch $(sed -n 's/.*best epoch: \([0-9]*\).*/\1/p' "$W/ref_a.log") ($(hist_rows "$W/ref_a/history.csv") epochs run)"
else
    note "reference A ran $(hist_rows "$W/ref_a/history.csv") epochs without restoring best weights (restore_best_weights not exercised)"
fi

# compare_run LABEL DIR REF: history, model.h5 weights, every checkpoint file
compare_run() {
    local label=$1 d=$2 r=$3 c
    same_history "$label: history.csv equals the uninterrupted run's (time aside)" "$r/history.csv" "$d/history.csv"
    same_weights "$label: model.h5 weights equal the uninterrupted run's" "$r/model.h5" "$d/model.h5"
    for c in "$r"/ckpt-*.h5 "$r"/best.h5; do
        [ -f "$c" ] || continue
        same_weights "$label: $(basename "$c") weights equal the uninterrupted run's" "$c" "$d/$(basename "$c")"
    done
    same_weights "$label: last.h5 (weights, optimizer and training state) equals the uninterrupted run's" \
        "$r/last.h5" "$d/last.h5" all
}

# ---- 1. Ctrl-C in the middle of an epoch, then --resume ---------------------
# Signal while epoch 2 runs; retried when the signal landed after the epoch's
# last batch or the run ended first.
mid_ok=0
for try in 1 2 3 4 5; do
    rm -rf "$W/mid"
    launch "$W/mid" train "$W/a.cfg" -o "$W/mid" --threads "$THREADS"
    signal_at $pid "$W/mid/history.csv" 1 "$(frac)" INT
    wait $pid
    rc=$?
    if [ $rc = 130 ] && grep -q "interrupted at epoch" "$W/mid.out" "$W/mid.err"; then
        mid_ok=1
        break
    fi
    note "mid-epoch try $try: exit $rc, $(cat "$W/mid.err" | tail -1) (retrying)"
done
if [ $mid_ok = 1 ]; then
    ok "SIGINT mid-epoch: exit 130 ($(grep -ho 'interrupted at epoch [0-9]*, batch [0-9]* of [0-9]*' "$W/mid.out" "$W/mid.err" | head -1))"
    if grep -qF "$W/mid/last.h5" "$W/mid.err" "$W/mid.out"; then ok "SIGINT mid-epoch: prints where last.h5 is"; else
        bad "SIGINT mid-epoch: prints where last.h5 is" "$(cat "$W/mid.err")"; fi
    crashed "$W/mid.err" && bad "SIGINT mid-epoch: no crash" "$(tail -3 "$W/mid.err")"
    [ -f "$W/mid/model.h5" ] && bad "SIGINT mid-epoch: no model.h5 for an unfinished run" "model.h5 exists"
    check "SIGINT mid-epoch: history.csv kept, complete rows" "$PY" "$W/histcheck.py" "$W/mid/history.csv"
    n=$(hist_rows "$W/mid/history.csv")
    if [ "$n" -ge 1 ] && cmp -s <(strip_time "$W/mid/history.csv") <(strip_time "$W/ref_a/history.csv" | head -n $((n + 1))); then
        ok "SIGINT mid-epoch: history.csv holds the $n finished epoch(s), equal to the reference's"
    else bad "SIGINT mid-epoch: history.csv holds the finished epochs" "$(cat "$W/mid/history.csv")"; fi
    check "SIGINT mid-epoch: last.h5 is a complete HDF5 model" "$PY" "$W/h5check.py" "$W/mid/last.h5"
    loads "SIGINT mid-epoch: nnctl eval last.h5 works" "$W/mid/last.h5"
    [ -z "$(tmp_files "$W/mid")" ] || bad "SIGINT mid-epoch: no temp files left" "$(tmp_files "$W/mid")"
    nn train "$W/a.cfg" -o "$W/mid" --threads "$THREADS" --resume
    if [ $rc = 0 ]; then ok "resume after mid-epoch SIGINT exits 0"; else bad "resume after mid-epoch SIGINT exits 0" "exit $rc: $(tail -3 "$W/log")"; fi
    if grep -q "Resuming from .*last.h5 at epoch [0-9]*, batch [0-9]*" "$W/log"; then
        ok "resume prints 'Resuming from RUN_DIR/last.h5 at epoch E, batch B'"
    else bad "resume prints 'Resuming from ... at epoch E, batch B'" "$(head -3 "$W/log")"; fi
    compare_run "mid-epoch resume" "$W/mid" "$W/ref_a"
else
    bad "SIGINT mid-epoch: exit 130 and 'interrupted at epoch E, batch B'" "5 tries, last: exit $rc: $(tail -2 "$W/mid.err")"
fi

# ---- 1b. Ctrl-C inside the first epoch (no history.csv, no last.h5 yet) --------
# progress goes to stdout (not a tty: one "Epoch 1/N" line when the epoch
# starts); signal a fraction of the reference's first epoch later (lands in
# epoch 1 or, on a busy machine, right after it: both must resume exactly)
e1=$(awk -F, 'NR == 2 { print $NF }' "$W/ref_a/history.csv")
rm -rf "$W/first"
# nnctl line-buffers its stdout, so "Epoch 1/N" shows when the epoch starts
"$NNCTL" train "$W/a.cfg" -o "$W/first" --threads "$THREADS" >"$W/first.out" 2>"$W/first.err" &
pid=$!
t0=$SECONDS
while kill -0 $pid 2>/dev/null && ! grep -q "^Epoch 1/" "$W/first.out" && [ $((SECONDS - t0)) -lt 60 ]; do sleep 0.01; done
sleep "$(awk -v t="${e1:-0.1}" 'BEGIN { printf "%.3f", t * 0.1 }')"
kill -INT $pid 2>/dev/null
wait $pid
rc=$?
if [ $rc = 130 ] && [ -f "$W/first/last.h5" ]; then
    ok "SIGINT in epoch 1: exit 130, last.h5 written ($(grep -ho 'interrupted [a-z]* epoch [0-9]*[^;]*' "$W/first.err" | head -1))"
    nn train "$W/a.cfg" -o "$W/first" --threads "$THREADS" --resume
    if [ $rc = 0 ]; then
        same_history "SIGINT in epoch 1, resumed: history.csv equals the reference's" "$W/ref_a/history.csv" "$W/first/history.csv"
        same_weights "SIGINT in epoch 1, resumed: model.h5 equals the reference's" "$W/ref_a/model.h5" "$W/first/model.h5"
    else bad "SIGINT in epoch 1: resume exits 0" "exit $rc: $(tail -3 "$W/log")"; fi
elif [ $rc = 0 ]; then
    note "SIGINT in epoch 1: the run finished before the signal (not checked)"
else bad "SIGINT in epoch 1: exit 130 and last.h5" "exit $rc: $(tail -2 "$W/first.err")"; fi

# ---- 2. SIGTERM: exit 143, then resume ----------------------------------------
for try in 1 2 3; do
    rm -rf "$W/term"
    launch "$W/term" train "$W/a.cfg" -o "$W/term" --threads "$THREADS"
    signal_at $pid "$W/term/history.csv" 2 "$(frac)" TERM
    wait $pid
    rc=$?
    [ $rc != 0 ] && break
done
if [ $rc = 143 ] && grep -q "interrupted" "$W/term.err" "$W/term.out"; then
    ok "SIGTERM: exit 143, 'interrupted ...; saved .../last.h5'"
else bad "SIGTERM: exit 143" "exit $rc: $(tail -2 "$W/term.err")"; fi
if [ -f "$W/term/last.h5" ]; then
    nn train "$W/a.cfg" -o "$W/term" --threads "$THREADS" --resume "$W/term/last.h5"
    if [ $rc = 0 ]; then ok "resume FILE after SIGTERM exits 0"; else bad "resume FILE after SIGTERM exits 0" "exit $rc: $(tail -3 "$W/log")"; fi
    compare_run "SIGTERM resume" "$W/term" "$W/ref_a"
fi

# ---- 3. interrupted twice, resumed twice ---------------------------------------
twice=0
for try in 1 2 3; do
    rm -rf "$W/twice"
    launch "$W/twice" train "$W/a.cfg" -o "$W/twice" --threads "$THREADS"
    signal_at $pid "$W/twice/history.csv" 1 "$(frac)" INT
    wait $pid
    rc1=$?
    [ $rc1 = 130 ] || continue
    n1=$(hist_rows "$W/twice/history.csv")
    launch "$W/twice2" train "$W/a.cfg" -o "$W/twice" --threads "$THREADS" --resume
    signal_at $pid "$W/twice/history.csv" $((n1 + 1)) "$(frac)" INT
    wait $pid
    rc2=$?
    [ $rc2 = 130 ] || continue
    twice=1
    break
done
if [ $twice = 1 ]; then
    ok "interrupted twice (exit 130 both): $(grep -ho 'interrupted [a-z]* epoch [0-9]*[^;]*' "$W/twice.err" "$W/twice2.err" | tr '\n' '|')"
    nn train "$W/a.cfg" -o "$W/twice" --threads "$THREADS" --resume
    if [ $rc = 0 ]; then ok "second resume exits 0"; else bad "second resume exits 0" "exit $rc: $(tail -3 "$W/log")"; fi
    compare_run "resumed twice" "$W/twice" "$W/ref_a"
else
    bad "interrupt, resume, interrupt again" "3 tries: exits $rc1, ${rc2:-}; $(tail -1 "$W/twice.err")"
fi

# ---- 4. between epochs (B: one batch an epoch) --------------------------------
rc=0
for try in 1 2 3; do
    rm -rf "$W/betw"
    launch "$W/betw" train "$W/b.cfg" -o "$W/betw" --threads "$THREADS"
    signal_at $pid "$W/betw/history.csv" 3 0 INT
    wait $pid
    rc=$?
    [ $rc != 0 ] && break
done
if [ $rc = 130 ] && grep -q "interrupted after epoch [0-9]*; saved $W/betw/last.h5" "$W/betw.err" "$W/betw.out"; then
    ok "SIGINT between epochs: exit 130, 'interrupted after epoch E; saved .../last.h5'"
else bad "SIGINT between epochs: exit 130, 'interrupted after epoch E'" "exit $rc: $(tail -2 "$W/betw.err")"; fi
if [ -f "$W/betw/last.h5" ]; then
    n=$(hist_rows "$W/betw/history.csv")
    e=$(grep -ho 'interrupted after epoch [0-9]*' "$W/betw.err" | grep -o '[0-9]*$')
    if [ "$n" = "${e:-x}" ]; then ok "between epochs: history.csv has the $n finished epochs"; else
        bad "between epochs: history.csv has the finished epochs" "$n rows, message says epoch ${e:-?}"; fi
    nn train "$W/b.cfg" -o "$W/betw" --threads "$THREADS" --resume
    if [ $rc = 0 ]; then ok "resume after between-epoch SIGINT exits 0"; else bad "resume after between-epoch SIGINT exits 0" "exit $rc: $(tail -3 "$W/log")"; fi
    cp "$W/log" "$W/betw-resume.log"
    compare_run "between-epoch resume" "$W/betw" "$W/ref_b"
    # save_best_only: the first resumed epoch that improves must say
    # "improved from <best before the interruption>", never "from inf"
    if grep -q "improved from inf" "$W/betw-resume.log"; then
        bad "between-epoch resume: save_best_only keeps its best value" "$(grep 'improved from inf' "$W/betw-resume.log")"
    else ok "between-epoch resume: save_best_only keeps its best value (no 'improved from inf')"; fi
fi

# ---- 5. a second Ctrl-C stops at once; no file is corrupt -----------------------
# The first SIGINT late in epoch 2 (close to its last.h5 write), the second
# right after it: nnctl dies at once, maybe in the middle of the save.
for d in 0 0.001; do
    label="double SIGINT ${d}s apart"
    sent=0
    for try in 1 2 3; do
        rm -rf "$W/dbl"
        launch "$W/dbl" train "$W/a.cfg" -o "$W/dbl" --threads "$THREADS"
        if signal_at $pid "$W/dbl/history.csv" 1 0.9 INT; then
            sleep "$d"
            t0=$(date +%s.%N)
            kill -INT $pid 2>/dev/null && sent=2 || sent=1
        fi
        { wait $pid; } 2>/dev/null
        rc=$?
        t1=$(date +%s.%N)
        [ $sent -gt 0 ] && break
    done
    if [ $sent = 0 ]; then
        bad "$label" "3 tries, the run always ended before the first signal (exit $rc)"
        continue
    fi
    took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    if [ $sent = 1 ]; then
        note "$label: the first SIGINT had already stopped the run (exit $rc: $(tail -1 "$W/dbl.err"))"
    elif [ $rc = 130 ] && awk -v t="$took" 'BEGIN { exit !(t < 1.5) }'; then ok "$label: exit 130 within ${took}s of the second"; else
        bad "$label: exit 130 at once" "exit $rc ${took}s after the second SIGINT: $(tail -2 "$W/dbl.err")"
    fi
    crashed "$W/dbl.err" && bad "$label: no crash" "$(tail -3 "$W/dbl.err")"
    files=$(find "$W/dbl" -maxdepth 1 -name '*.h5' ! -name '*.tmp.*' | sort)
    if [ -n "$files" ]; then
        # shellcheck disable=SC2086
        check "$label: every .h5 left is complete ($(echo $files | xargs -n1 basename | tr '\n' ' '))" "$PY" "$W/h5check.py" $files
    fi
    check "$label: history.csv has only complete rows" "$PY" "$W/histcheck.py" "$W/dbl/history.csv"
    t=$(tmp_files "$W/dbl")
    [ -n "$t" ] && note "$label: temp files left: $t"
    if [ -f "$W/dbl/last.h5" ]; then
        nn train "$W/a.cfg" -o "$W/dbl" --threads "$THREADS" --resume
        if [ $rc = 0 ]; then
            same_history "$label: resumed run's history.csv equals the reference's" "$W/ref_a/history.csv" "$W/dbl/history.csv"
            same_weights "$label: resumed run's model.h5 equals the reference's" "$W/ref_a/model.h5" "$W/dbl/model.h5"
        else bad "$label: resume from last.h5 exits 0" "exit $rc: $(tail -3 "$W/log")"; fi
    fi
done

# ---- 5b. killed after early stopping saved last.h5, before model.h5 ---------------
# The early-stopping epoch writes last.h5 and then model.h5; a SIGKILL (or a
# full disk) between the two leaves last.h5 of a run that is over. Resuming it
# must only write model.h5, not train past the early stop.
rm -rf "$W/esdone"
cp -r "$W/ref_a" "$W/esdone"
rm -f "$W/esdone/model.h5" "$W/esdone/eval.json"
nn train "$W/a.cfg" -o "$W/esdone" --threads "$THREADS" --resume
cp "$W/log" "$W/esdone.log"
if [ $rc = 0 ]; then ok "resume of an early-stopped run's last.h5 exits 0"; else bad "resume of an early-stopped run's last.h5 exits 0" "exit $rc: $(tail -3 "$W/log")"; fi
if grep -q "^Epoch [0-9]*/" "$W/esdone.log"; then
    bad "resume of an early-stopped run's last.h5 trains no further epoch" "$(grep -E '^(Resuming|Epoch [0-9]+/|Epoch [0-9]+: early)' "$W/esdone.log" | tr '\n' '|')"
else ok "resume of an early-stopped run's last.h5 trains no further epoch"; fi
same_history "resume of an early-stopped run: history.csv equals the reference's" "$W/ref_a/history.csv" "$W/esdone/history.csv"
same_weights "resume of an early-stopped run: model.h5 equals the reference's" "$W/ref_a/model.h5" "$W/esdone/model.h5"

# ---- 6. SIGKILL at random moments -------------------------------------------------
# Each round starts (or resumes) K and kills it with SIGKILL after a random
# delay; then every .h5 must read in full with h5py, every one that changed
# since the last round must load with nnctl eval, history.csv and eval.json
# must parse, and the run goes on from last.h5.
K="$W/kill"
rm -rf "$K"
ksecs=$(cat "$W/ref_k.secs") # the uninterrupted run's wall time
kills=0 rounds=0 finished=0 kfail=0 left=""
touch "$W/kill-stamp"
while [ $kills -lt 15 ] && [ $rounds -lt 40 ]; do
    rounds=$((rounds + 1))
    # no last.h5: start over, replacing what a run killed before its first
    # checkpoint left (a history.csv written just before last.h5 would be)
    if [ -f "$K/last.h5" ]; then args=(--resume); else args=(--overwrite); fi
    launch "$W/killrun" train "$W/k.cfg" -o "$K" --threads "$THREADS" -q "${args[@]}"
    # anywhere from 0.05 s to the whole uninterrupted run's time
    delay=$(awk -v r=$RANDOM -v t="$ksecs" 'BEGIN { printf "%.3f", 0.05 + t * r / 32767 }')
    sleep "$delay"
    kill -KILL $pid 2>/dev/null
    { wait $pid; } 2>/dev/null
    krc=$?
    if [ $krc = 137 ]; then kills=$((kills + 1)); fi
    if [ $krc != 137 ] && [ $krc != 0 ]; then
        kfail=1
        bad "SIGKILL round $rounds: the (resumed) run exits 0 or is killed" "exit $krc: $(tail -3 "$W/killrun.err")"
        break
    fi
    [ -d "$K" ] || continue # killed before it made the run directory
    # every file nnctl left must be whole
    files=$(find "$K" -maxdepth 1 -name '*.h5' ! -name '*.tmp.*' | sort)
    if [ -n "$files" ]; then
        # shellcheck disable=SC2086
        if ! out=$("$PY" "$W/h5check.py" $files 2>&1); then
            kfail=1
            bad "SIGKILL round $rounds (after ${delay}s): every .h5 reads in full" "$out"
        fi
        for f in $files; do
            [ "$f" -nt "$W/kill-stamp" ] || continue
            nn eval "$f" --json --data validation --threads "$THREADS"
            if [ $rc != 0 ]; then
                kfail=1
                bad "SIGKILL round $rounds: nnctl eval $(basename "$f")" "exit $rc: $(head -3 "$W/log")"
            fi
        done
    fi
    touch "$W/kill-stamp"
    if [ -f "$K/history.csv" ] && ! out=$("$PY" "$W/histcheck.py" "$K/history.csv" 2>&1); then
        kfail=1
        bad "SIGKILL round $rounds: history.csv parses" "$out"
    fi
    if [ -f "$K/run.json" ] && ! "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$K/run.json" 2>/dev/null; then
        kfail=1
        bad "SIGKILL round $rounds: run.json parses" "$(head -c 200 "$K/run.json")"
    fi
    if [ -f "$K/eval.json" ] && ! "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$K/eval.json" 2>/dev/null; then
        kfail=1
        bad "SIGKILL round $rounds: eval.json parses" "$(head -c 200 "$K/eval.json")"
    fi
    left="$left$(tmp_files "$K")"
    find "$K" -maxdepth 1 -name '*.tmp.*' -delete 2>/dev/null
    if [ $krc = 0 ]; then
        # finished between kills: it must equal the reference; start over
        finished=$((finished + 1))
        same_history "SIGKILL loop: completed run $finished, history.csv equals the reference's" "$W/ref_k/history.csv" "$K/history.csv"
        same_weights "SIGKILL loop: completed run $finished, model.h5 equals the reference's" "$W/ref_k/model.h5" "$K/model.h5"
        check "SIGKILL loop: completed run $finished, eval.json equals the reference's" cmp "$W/ref_k/eval.json" "$K/eval.json"
        rm -rf "$K"
    fi
    [ $kfail = 1 ] && break
done
if [ $kfail = 0 ]; then
    ok "SIGKILL loop: $kills kills in $rounds rounds, every file left loads"
    [ -n "$left" ] && note "SIGKILL loop: temp files left by killed runs (expected after SIGKILL; nothing removes them later): $(echo $left | tr ' ' '\n' | sed 's/\.tmp\.[0-9]*$/.tmp.PID/' | sort | uniq -c | awk '{ printf "%s x%d ", $2, $1 }')"
    if [ $kills -lt 10 ]; then bad "SIGKILL loop: at least 10 kills" "$kills"; fi
    if [ -f "$K/last.h5" ]; then
        nn train "$W/k.cfg" -o "$K" --threads "$THREADS" -q --resume
        if [ $rc = 0 ]; then ok "SIGKILL loop: final resume from last.h5 exits 0"; else bad "SIGKILL loop: final resume exits 0" "exit $rc: $(tail -3 "$W/log")"; fi
    else
        nn train "$W/k.cfg" -o "$K" --threads "$THREADS" -q --overwrite
    fi
    compare_run "SIGKILL loop" "$K" "$W/ref_k"
    check "SIGKILL loop: eval.json equals the reference's" cmp "$W/ref_k/eval.json" "$K/eval.json"
fi

# ---- 7. NaN / inf loss ------------------------------------------------------------
nn train "$W/n.cfg" -o "$W/nan" --threads "$THREADS" -q --set train.epochs=1
[ $rc = 0 ] || bad "NaN: first epoch with lr 0.01 trains" "exit $rc: $(tail -3 "$W/log")"
rm -f "$W/nan/model.h5" "$W/nan/eval.json"
sum_last=$(md5 "$W/nan/last.h5" 2>/dev/null)
# (the spec caps lr at 1e6; pixels scaled up to 0..255000 make it overflow)
nn train "$W/n.cfg" -o "$W/nan" --threads "$THREADS" -q --resume --set train.optimizer.lr=1e6 --set data.scale=0.001
cp "$W/log" "$W/nan.log"
if [ $rc = 1 ] && grep -qE "loss became (NaN|infinite) at epoch 2, batch [0-9]+" "$W/nan.log"; then
    ok "NaN: lr=1e6 from epoch 2: exit 1, '$(grep -oE 'loss became [a-zA-Z]+ at epoch 2, batch [0-9]+' "$W/nan.log")'"
else bad "NaN: exit 1 and 'loss became NaN at epoch 2, batch B'" "exit $rc: $(tail -3 "$W/nan.log")"; fi
if grep -qF "$W/nan/last.h5" "$W/nan.log"; then ok "NaN: the message names the kept checkpoint last.h5"; else
    bad "NaN: the message names the kept checkpoint last.h5" "$(tail -2 "$W/nan.log")"; fi
if [ "$(md5 "$W/nan/last.h5" 2>/dev/null)" = "$sum_last" ]; then ok "NaN: last.h5 from epoch 1 untouched"; else
    bad "NaN: last.h5 from epoch 1 untouched" "changed"; fi
loads "NaN: last.h5 still loads (nnctl eval)" "$W/nan/last.h5"
[ -f "$W/nan/model.h5" ] && bad "NaN: no model.h5 is written" "$W/nan/model.h5 exists"
n=$(hist_rows "$W/nan/history.csv")
if [ "$n" = 1 ]; then ok "NaN: history.csv keeps the 1 good epoch, no NaN row"; else bad "NaN: history.csv keeps the good epoch only" "$(cat "$W/nan/history.csv")"; fi
nn train "$W/n.cfg" -o "$W/nan" --threads "$THREADS" -q --resume
if [ $rc = 0 ] && [ "$(hist_rows "$W/nan/history.csv")" = 3 ]; then ok "NaN: the run resumes from the kept last.h5 with a sane lr"; else
    bad "NaN: the run resumes from the kept last.h5" "exit $rc: $(tail -3 "$W/log")"; fi
# in the first epoch there is no checkpoint yet: the message must not claim one
nn train "$W/n.cfg" -o "$W/nan1" --threads "$THREADS" -q --set train.optimizer.lr=1e6 --set data.scale=0.001
if [ $rc = 1 ] && grep -qE "loss became (NaN|infinite) at epoch 1, batch [0-9]+" "$W/log"; then
    ok "NaN in epoch 1: exit 1, '$(grep -oE 'loss became [a-zA-Z]+ at epoch 1, batch [0-9]+' "$W/log")'"
else bad "NaN in epoch 1: exit 1 and the epoch and batch" "exit $rc: $(tail -2 "$W/log")"; fi
if [ ! -f "$W/nan1/last.h5" ] && grep -q "last good checkpoint, .*last.h5, is kept" "$W/log"; then
    bad "NaN in epoch 1: the message does not name a checkpoint that does not exist" "$(grep -o 'the last good checkpoint[^)]*' "$W/log"), but $W/nan1 holds: $(ls "$W/nan1" | tr '\n' ' ')"
else ok "NaN in epoch 1: the message does not name a checkpoint that does not exist"; fi

# ---- 8. unwritable run directory / unwritable file ---------------------------------
echo "a regular file" >"$W/notadir"
nn train "$W/k.cfg" -o "$W/notadir/run" --threads "$THREADS" -q
if [ $rc != 0 ] && [ $rc -lt 128 ] && grep -qF "$W/notadir" "$W/log" && grep -qi "not a directory" "$W/log"; then
    ok "run dir under a regular file: exit $rc, '$(head -c 160 "$W/log" | head -1)'"
else bad "run dir under a regular file: clear error naming the path" "exit $rc: $(head -3 "$W/log")"; fi
crashed "$W/log" && bad "run dir under a regular file: no crash" "$(head -3 "$W/log")"
# a directory squatting on last.h5's temp name (last.h5.tmp.PID) makes the
# epoch-2 save fail: clear error, and epoch 1's last.h5 stays as it was
mkdir -p "$W/unw"
nn train "$W/k.cfg" -o "$W/unw" --threads "$THREADS" -q --set train.epochs=1
sum_last=$(md5 "$W/unw/last.h5" 2>/dev/null)
launch "$W/unw" train "$W/k.cfg" -o "$W/unw" --threads "$THREADS" -q --resume
mkdir "$W/unw/last.h5.tmp.$pid"
wait $pid
rc=$?
if [ $rc = 1 ] && grep -qF "$W/unw/last.h5" "$W/unw.err" && grep -qi "is a directory" "$W/unw.err"; then
    ok "last.h5 cannot be written: exit 1, '$(head -c 200 "$W/unw.err" | head -1)'"
else bad "last.h5 cannot be written: exit 1, an error naming last.h5 and the cause" "exit $rc: $(head -3 "$W/unw.err")"; fi
if [ "$(md5 "$W/unw/last.h5" 2>/dev/null)" = "$sum_last" ]; then ok "unwritable last.h5: the epoch-1 last.h5 stays intact"; else
    bad "unwritable last.h5: the epoch-1 last.h5 stays intact" "changed or missing"; fi
rmdir "$W/unw/last.h5.tmp.$pid"
nn train "$W/k.cfg" -o "$W/unw" --threads "$THREADS" -q --resume
if [ $rc = 0 ]; then
    same_history "unwritable last.h5: after the failure the run resumes; history equals the reference's" "$W/ref_k/history.csv" "$W/unw/history.csv"
    same_weights "unwritable last.h5: resumed model.h5 equals the reference's" "$W/ref_k/model.h5" "$W/unw/model.h5"
else bad "unwritable last.h5: the run resumes afterwards" "exit $rc: $(tail -3 "$W/log")"; fi

# ---- 9. disk full ------------------------------------------------------------------
MNT="$W/mnt"
mkdir -p "$MNT"
if mount -t tmpfs -o size=3m tmpfs "$MNT" 2>/dev/null; then
    D="$MNT/run"
    nn train "$W/k.cfg" -o "$D" --threads "$THREADS" -q --set train.epochs=1 \
        --set train.callbacks.checkpoint.enabled=false
    if [ $rc != 0 ]; then
        bad "disk full: epoch 1 fits on the 3 MiB tmpfs" "exit $rc: $(tail -3 "$W/log")"
    else
        rm -f "$D/model.h5" "$D/eval.json"
        sum_last=$(md5 "$D/last.h5")
        size=$(stat -c %s "$D/last.h5")
        # leave about half a last.h5 free
        free=$(df -B1 --output=avail "$MNT" | tail -1 | tr -d ' ')
        fill=$((free - size / 2))
        [ $fill -gt 0 ] && head -c "$fill" /dev/zero >"$MNT/filler" 2>/dev/null
        note "disk full: $(df -h --output=avail "$MNT" | tail -1 | tr -d ' ') free for a ${size}-byte last.h5"
        nn train "$W/k.cfg" -o "$D" --threads "$THREADS" -q --resume --set train.callbacks.checkpoint.enabled=false
        cp "$W/log" "$W/full.log"
        if [ $rc = 1 ] && grep -qF "$D/last.h5" "$W/full.log" && grep -qiE "no space left|disk full" "$W/full.log"; then
            ok "disk full: exit 1, '$(head -1 "$W/full.log" | head -c 220)'"
        else bad "disk full: exit 1, an error naming last.h5 and 'No space left on device'" "exit $rc: $(head -3 "$W/full.log")"; fi
        crashed "$W/full.log" && bad "disk full: no crash" "$(head -3 "$W/full.log")"
        if [ "$(md5 "$D/last.h5")" = "$sum_last" ]; then ok "disk full: the epoch-1 last.h5 stays intact"; else
            bad "disk full: the epoch-1 last.h5 stays intact" "changed"; fi
        t=$(tmp_files "$D")
        if [ -z "$t" ]; then ok "disk full: the failed temp file is removed"; else bad "disk full: the failed temp file is removed" "$t"; fi
        check "disk full: history.csv still parses" "$PY" "$W/histcheck.py" "$D/history.csv"
        rm -f "$MNT/filler"
        nn train "$W/k.cfg" -o "$D" --threads "$THREADS" -q --resume --set train.callbacks.checkpoint.enabled=false
        if [ $rc = 0 ]; then
            same_history "disk full: after freeing space the run resumes; history equals the reference's" "$W/ref_k/history.csv" "$D/history.csv"
            same_weights "disk full: resumed model.h5 equals the reference's" "$W/ref_k/model.h5" "$D/model.h5"
        else bad "disk full: the run resumes after space is freed" "exit $rc: $(tail -3 "$W/log")"; fi
    fi
    umount "$MNT" 2>/dev/null
    MNT=""
else
    skip "disk full on a 3 MiB tmpfs" "mount -t tmpfs not permitted here (needs root)"
    MNT=""
fi

# ---- 10. file size limit (ulimit -f): SIGXFSZ or EFBIG --------------------------
U="$W/ulim"
nn train "$W/k.cfg" -o "$U" --threads "$THREADS" -q --set train.epochs=1 --set train.callbacks.checkpoint.enabled=false
if [ ! -f "$U/last.h5" ]; then
    bad "ulimit -f: one epoch trains" "exit $rc: $(tail -3 "$W/log")"
else
sum_last=$(md5 "$U/last.h5")
size=$(stat -c %s "$U/last.h5")
blocks=$((size / 1024 / 2)) # half a last.h5; history.csv still fits
{ (
    ulimit -f $blocks
    exec "$NNCTL" train "$W/k.cfg" -o "$U" --threads "$THREADS" -q --resume --set train.callbacks.checkpoint.enabled=false
) >"$W/ulim.log" 2>&1; } 2>/dev/null
rc=$?
if [ $rc = 1 ] && grep -qF "$U/last.h5" "$W/ulim.log" && grep -qiE "file too large|size limit" "$W/ulim.log"; then
    ok "ulimit -f: exit 1, '$(head -1 "$W/ulim.log" | head -c 200)'"
elif [ $rc -ge 128 ]; then
    bad "ulimit -f: a clear error (EFBIG), not death by a signal" "exit $rc (signal $((rc - 128))$([ $rc = 153 ] && echo ', SIGXFSZ'): nnctl does not ignore SIGXFSZ), no message: '$(head -c 200 "$W/ulim.log")'"
else bad "ulimit -f: exit 1 with an error naming last.h5 and 'File too large'" "exit $rc: $(head -3 "$W/ulim.log")"; fi
if [ "$(md5 "$U/last.h5")" = "$sum_last" ]; then ok "ulimit -f: the epoch-1 last.h5 stays intact"; else bad "ulimit -f: the epoch-1 last.h5 stays intact" "changed"; fi
t=$(tmp_files "$U")
[ -n "$t" ] && note "ulimit -f: temp files left: $t"
find "$U" -maxdepth 1 -name '*.tmp.*' -delete
nn train "$W/k.cfg" -o "$U" --threads "$THREADS" -q --resume --set train.callbacks.checkpoint.enabled=false
if [ $rc = 0 ]; then
    same_weights "ulimit -f: resumed without the limit, model.h5 equals the reference's" "$W/ref_k/model.h5" "$U/model.h5"
else bad "ulimit -f: resumes without the limit" "exit $rc: $(tail -3 "$W/log")"; fi
fi

nn_summary robustness
