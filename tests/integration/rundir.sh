#!/usr/bin/env bash
# Run directories are never lost or mixed: locks between processes, default
# numbering, --overwrite, and --resume with a changed spec (issue 21).
#
#   NNCTL=build/nnctl NNCTL_DATA=/path/to/datasets tests/integration/rundir.sh
#
# Needs MNIST under $NNCTL_DATA/mnist/, python3 with h5py (the epoch count
# stored in model.h5 is read with h5py, not with nnctl) and flock(1) from
# util-linux (an outside view of the lock). Expected values come from the
# commands' own arguments (which process ran, how many epochs it was asked
# for) and from file checksums taken before each step. Prints one line per
# check and `rundir: N passed, M failed, K skipped`; exits 1 on any failure.
set -u

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nn_abs_nnctl
nn_need_python rundir h5py
nn_need_mnist rundir
W=$(mktemp -d "${TMPDIR:-/tmp}/nnctl-rundir.XXXXXX")
# The first 4000 training images as the script's own MNIST: every train
# below loads in a few milliseconds instead of decompressing all 60000.
nn_mnist_subset "$NNCTL_DATA" "$W" 4000 || exit 2
export NNCTL_DATA=$W
bg=()
cleanup() {
    local p
    for p in "${bg[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
cd "$W" || exit 2

expect() { # NAME COMMAND...: ok when the command succeeds
    local name=$1
    shift
    local out
    if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$(printf '%s' "$out" | tail -5)"; fi
}
# nn TAG ARGS...: nnctl ARGS, stdout in TAG.out, stderr in TAG.err, status in $rc
nn() {
    local tag=$1
    shift
    "$NNCTL" "$@" >"$tag.out" 2>"$tag.err"
    rc=$?
}
# wait_lock DIR PID: until DIR's lock file names PID (10 s at most)
wait_lock() {
    local i
    for i in $(seq 200); do
        grep -q "^pid $2 " "$1/.nnctl.lock" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
# sums DIR: "name md5" of every file in DIR (not the lock file), sorted
sums() { (cd "$1" && find . -type f ! -name .nnctl.lock -exec md5sum {} + | sort -k2); }
# consistent DIR EPOCHS: history.csv rows, the epoch stored in model.h5
# (read with h5py), run.json and spec.cfg's train.epochs all say EPOCHS
consistent() {
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import csv, json, re, sys
import h5py
d, want = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(d + "/history.csv")))
with h5py.File(d + "/model.h5", "r") as f:
    state = f["nnctl"].attrs["state"]
    state = json.loads(state.decode() if isinstance(state, bytes) else state)
run = json.load(open(d + "/run.json"))
spec = open(d + "/spec.cfg").read()
epochs = int(re.search(r"\bepochs\s*=\s*(\d+)", spec).group(1))
assert len(rows) == state["epoch"] == run["epochs"] == epochs == want, \
    (len(rows), state["epoch"], run["epochs"], epochs, want)
EOF
}

# A small MLP: a 784-256-10 epoch on 1800 images (batch 8, one thread)
# takes about a sixth of a second: two or three of them are long enough for
# a second process started at the same time (which meets the lock within
# milliseconds, before it loads any data) to find the directory in use.
cat >rdt.cfg <<'EOF'
model: {
  name = "rdt";
  input = { shape = [784]; };
  layers = (
    { type = "dense"; units = 256; activation = "relu"; },
    { type = "dense"; units = 10; activation = "softmax"; }
  );
};
data: {
  train = { images = "mnist/train-images-idx3-ubyte.gz"; labels = "mnist/train-labels-idx1-ubyte.gz"; };
  scale = 255.0;
  train_subset = 4000;
  validation_split = 0.1;
};
train: {
  loss = "sparse_categorical_crossentropy";
  optimizer = { type = "adam"; lr = 0.001; };
  metrics = ["accuracy"];
  epochs = 1;
  batch_size = 8;
  threads = 1;
  seed = 1;
};
EOF
FAST=(--set data.train_subset=400 --set train.batch_size=32)

# ---- two trains into one directory at once ---------------------------------
# They differ in their epochs (2 and 3), so the directory shows whose run
# it holds, and whether it holds pieces of both.
"$NNCTL" train rdt.cfg -o C -q --set data.train_subset=2000 --set train.epochs=2 >a.out 2>a.err &
pa=$!
"$NNCTL" train rdt.cfg -o C -q --set data.train_subset=2000 --set train.epochs=3 >b.out 2>b.err &
pb=$!
bg+=("$pa" "$pb")
wait "$pa"
ra=$?
wait "$pb"
rb=$?
if [ $ra = 0 ] && [ $rb = 1 ]; then win=$pa lose=b epochs=2
elif [ $ra = 1 ] && [ $rb = 0 ]; then win=$pb lose=a epochs=3
else win= lose= epochs=; fi
if [ -n "$win" ]; then ok "concurrent trains into one directory: one exits 0, the other 1"
else bad "concurrent trains into one directory: one exits 0, the other 1" "exits $ra and $rb: $(cat a.err b.err)"; fi
if [ -n "$win" ] && grep -q "'C' is in use by nnctl train (pid $win on host $(hostname)" "$lose.err"; then
    ok "concurrent trains: the refused one names the holder's pid ($win) and host"
else bad "concurrent trains: the refused one names the holder's pid and host" "$(cat a.err b.err)"; fi
if [ -n "$win" ]; then
    expect "concurrent trains: the directory holds one run ($epochs epochs in history.csv, model.h5, run.json and spec.cfg)" \
        consistent C "$epochs"
fi

# ---- SIGKILL frees the lock --------------------------------------------------
"$NNCTL" train rdt.cfg -o K -q --set train.epochs=50 >k.out 2>k.err &
pk=$!
bg+=("$pk")
if wait_lock K "$pk"; then
    if flock -n K/.nnctl.lock true; then bad "a running train holds a real flock on K/.nnctl.lock (flock -n fails)"
    else ok "a running train holds a real flock on K/.nnctl.lock (flock -n fails)"; fi
    nn k2 train rdt.cfg -o K -q --overwrite "${FAST[@]}"
    if [ $rc = 1 ] && grep -q "pid $pk on host" k2.err; then ok "a train into a running run's directory (even --overwrite): exit 1 naming the holder's pid"
    else bad "a train into a running run's directory: exit 1 naming the holder's pid" "exit $rc: $(cat k2.err)"; fi
    nn k3 train rdt.cfg --resume K/last.h5 -q
    if [ $rc = 1 ] && grep -q "pid $pk on host" k3.err; then ok "a resume of a running run: exit 1 naming the holder's pid"
    else bad "a resume of a running run: exit 1 naming the holder's pid" "exit $rc: $(cat k3.err)"; fi
    kill -9 "$pk"
    wait "$pk" 2>/dev/null
    if flock -n K/.nnctl.lock true; then ok "SIGKILL of the holder frees the lock (flock -n succeeds)"
    else bad "SIGKILL of the holder frees the lock (flock -n succeeds)"; fi
    nn k4 train rdt.cfg -o K -q --overwrite "${FAST[@]}" --set train.epochs=2
    if [ $rc = 0 ]; then ok "after SIGKILL a new train takes the directory (exit 0)"
    else bad "after SIGKILL a new train takes the directory (exit 0)" "exit $rc: $(cat k4.err)"; fi
    expect "after SIGKILL: the directory holds the new run only (2 epochs)" consistent K 2
else
    bad "a long train takes its directory's lock" "$(cat k.err)"
fi

# ---- default run directories number themselves --------------------------------
nn n1 train rdt.cfg "${FAST[@]}"
nn n2 train rdt.cfg "${FAST[@]}"
if [ -f runs/rdt/model.h5 ] && [ -f runs/rdt-2/model.h5 ] && head -1 n1.out | grep -q -- "-> runs/rdt$" &&
    head -1 n2.out | grep -q -- "-> runs/rdt-2$"; then
    ok "default run directories: runs/rdt, then runs/rdt-2, said on the first line"
else bad "default run directories: runs/rdt, then runs/rdt-2, said on the first line" "$(head -1 n1.out n2.out; ls runs)"; fi
first=$(sums runs/rdt)
nn n3 train rdt.cfg "${FAST[@]}" --json -q
expect "default run directories: the third is runs/rdt-3, in --json's run_dir" \
    /usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["run_dir"] == "runs/rdt-3", d' n3.out
"$NNCTL" train rdt.cfg -q "${FAST[@]}" >p.out 2>p.err &
p1=$!
"$NNCTL" train rdt.cfg -q "${FAST[@]}" >q.out 2>q.err &
p2=$!
bg+=("$p1" "$p2")
wait "$p1"
r1=$?
wait "$p2"
r2=$?
if [ $r1 = 0 ] && [ $r2 = 0 ] && [ -f runs/rdt-4/run.json ] && [ -f runs/rdt-5/run.json ] && [ ! -e runs/rdt-6 ]; then
    ok "two default trains at once: both run, into runs/rdt-4 and runs/rdt-5"
else bad "two default trains at once: both run, into runs/rdt-4 and runs/rdt-5" "exits $r1 $r2: $(cat p.err q.err; ls runs)"; fi
expect "numbered runs: runs/rdt-4 and runs/rdt-5 each hold one whole run" bash -c "$(declare -f consistent); consistent runs/rdt-4 1 && consistent runs/rdt-5 1"
if [ "$(sums runs/rdt)" = "$first" ]; then ok "numbered runs: the first run's files are untouched"
else bad "numbered runs: the first run's files are untouched"; fi
nn n6 train rdt.cfg "${FAST[@]}" -q -o runs/rdt
if [ $rc = 1 ] && grep -q "'runs/rdt' already holds a run" n6.err && [ "$(sums runs/rdt)" = "$first" ]; then
    ok "--run-dir holding a run: exit 1, 'already holds a run', its files untouched"
else bad "--run-dir holding a run: exit 1, 'already holds a run', its files untouched" "exit $rc: $(cat n6.err)"; fi

# ---- --overwrite keeps the old run until the new one's first checkpoint -------
nn o1 train rdt.cfg -o O -q "${FAST[@]}" --set train.epochs=2 --set train.callbacks.checkpoint.enabled=true
echo "my notes" >O/notes.txt
old=$(sums O)
if [ $rc = 0 ] && [ -f O/ckpt-02.h5 ]; then ok "--overwrite: the old run (2 epochs, ckpt-01.h5 and ckpt-02.h5)"
else bad "--overwrite: the old run" "exit $rc: $(cat o1.err)"; fi
# killed while its first epoch runs: nothing of the old run is gone or changed
"$NNCTL" train rdt.cfg -o O --overwrite --set model.layers.[0].units=2048 --set train.batch_size=1 >o2.out 2>o2.err &
po=$!
bg+=("$po")
for i in $(seq 200); do grep -q "^Train on" o2.out 2>/dev/null && break; sleep 0.05; done
sleep 0.2
kill -9 "$po"
wait "$po" 2>/dev/null
if grep -q "^Train on" o2.out && ! grep -q "val_loss" o2.out && [ "$(sums O)" = "$old" ]; then
    ok "--overwrite killed in its first epoch: every old file is still there, unchanged (spec.cfg too)"
else bad "--overwrite killed in its first epoch: every old file is still there, unchanged" "$(cat o2.out o2.err; diff <(echo "$old") <(sums O))"; fi
nn o3 train rdt.cfg -o O --overwrite "${FAST[@]}" --set train.epochs=1 --set train.callbacks.checkpoint.enabled=false
if [ $rc = 0 ] && [ ! -e O/ckpt-01.h5 ] && [ ! -e O/ckpt-02.h5 ] && [ "$(cat O/notes.txt)" = "my notes" ]; then
    ok "--overwrite run to its end: the old run's files are gone (ckpt-01.h5, ckpt-02.h5), notes.txt stays"
else bad "--overwrite run to its end: the old run's files are gone, notes.txt stays" "exit $rc: $(cat o3.err; ls O)"; fi
expect "--overwrite: the directory holds the new run only (1 epoch)" consistent O 1
if grep -q "Removed the old run's [0-9]* files from O: the new run's first checkpoint is written" o3.out; then ok "--overwrite says when the old files went"
else bad "--overwrite says when the old files went" "$(cat o3.out)"; fi
nn o4 train rdt.cfg -o O --overwrite --resume -q
if [ $rc = 2 ]; then ok "--overwrite with --resume: exit 2"; else bad "--overwrite with --resume: exit 2" "exit $rc"; fi

# ---- --resume says what changed, refuses what cannot change ----------------------
nn r1 train rdt.cfg -o R -q "${FAST[@]}" --set train.epochs=1
before=$(sums R)
nn r2 train rdt.cfg --resume R/last.h5 "${FAST[@]}" --set train.epochs=2 --set train.optimizer.lr=0.1 --set model.layers.[0].units=64
if [ $rc = 2 ] && grep -q "model.layers.\[0\].units changed (256 -> 64)" r2.err && [ "$(sums R)" = "$before" ]; then
    ok "resume with a changed layer width: exit 2 naming model.layers.[0].units (256 -> 64); the run untouched"
else bad "resume with a changed layer width: exit 2 naming the key" "exit $rc: $(cat r2.err)"; fi
nn r3 train rdt.cfg --resume R/last.h5 "${FAST[@]}" --set train.epochs=2 --set train.optimizer.lr=0.1
if [ $rc = 0 ] && grep -qx "resuming with train.optimizer.lr 0.001 -> 0.1" r3.out &&
    grep -qx "resuming with train.epochs 1 -> 2" r3.out && [ "$(grep -c '^resuming with' r3.out)" = 2 ]; then
    ok "resume with a changed lr: prints 'resuming with train.optimizer.lr 0.001 -> 0.1' (and epochs 1 -> 2, nothing else)"
else bad "resume with a changed lr prints the change" "exit $rc: $(cat r3.out r3.err)"; fi
expect "resume: the run goes on in R (2 epochs)" consistent R 2
expect "resume: run.json lists the changes" /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["resumed"]["changed"] == {"train.epochs": {"from": "1", "to": "2"}, "train.optimizer.lr": {"from": "0.001", "to": "0.1"}}, d' R/run.json

# ---- sweeps: the sweep directory and its trials --------------------------------
cat >s.cfg <<'EOF'
strategy = "grid";
objective = "loss";
space = ( { key = "x"; values = [1]; } );
command = "sleep 2; echo '{\"objective\": 1}' > \"$NNCTL_RUN_DIR/run.json\"";
EOF
"$NNCTL" sweep s.cfg -o S -q >s.out 2>s.err &
ps=$!
bg+=("$ps")
if wait_lock S "$ps" && wait_lock S/trial-0001 "$ps"; then
    nn s2 sweep s.cfg -o S -q
    if [ $rc = 1 ] && grep -q "'S' is in use by nnctl sweep (pid $ps" s2.err; then ok "a second sweep into a running sweep's directory: exit 1 naming its pid"
    else bad "a second sweep into a running sweep's directory: exit 1 naming its pid" "exit $rc: $(cat s2.err)"; fi
    nn s3 train rdt.cfg -o S/trial-0001 -q "${FAST[@]}"
    if [ $rc = 1 ] && grep -q "in use by nnctl sweep (trial-0001 of .*) (pid $ps" s3.err; then ok "a train into a running trial's directory: exit 1 naming the sweep"
    else bad "a train into a running trial's directory: exit 1 naming the sweep" "exit $rc: $(cat s3.err)"; fi
else
    bad "a sweep locks its directory and its running trial's" "$(cat s.err)"
fi
wait "$ps"
# a trial's own command may run nnctl train into its directory: the lock is
# the sweep's, passed down
cat >s2.cfg <<EOF
strategy = "grid";
objective = "loss";
space = ( { key = "x"; values = [1]; } );
command = "'$NNCTL' train '$W/rdt.cfg' -o \"\$NNCTL_RUN_DIR\" -q --set data.train_subset=400 --set train.batch_size=32";
EOF
nn s4 sweep s2.cfg -o S2 -q
if [ $rc = 0 ] && [ -f S2/trial-0001/model.h5 ]; then ok "a sweep trial's command runs nnctl train into \$NNCTL_RUN_DIR under the sweep's lock"
else bad "a sweep trial's command runs nnctl train into \$NNCTL_RUN_DIR" "exit $rc: $(cat s4.out s4.err S2/trial-0001/train.log 2>/dev/null)"; fi

nn_summary rundir
