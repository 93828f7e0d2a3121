#!/usr/bin/env bash
# nnctl sweep: grid, random, resume after Ctrl-C, sweep-file errors, and
# Bayesian optimization against random search on a known function.
#
#   NNCTL=build/nnctl NNCTL_DATA=/path/to/datasets tests/integration/sweep.sh
#
# Needs MNIST under $NNCTL_DATA/mnist/ and python3 (standard library only).
# Prints one line per check and `sweep: N passed, M failed, K skipped`; exits 1 on any
# failure. About 30 s on 2 cores.
#
# Bayes vs random: the trials are not networks but the sweep file's
# `command`, a shell script computing the Branin function
#   f(x1, x2) = (x2 - 5.1 x1^2/(4 pi^2) + 5 x1/pi - 6)^2 + 10 (1 - 1/(8 pi)) cos(x1) + 10
# on x1 in [-5, 10], x2 in [0, 15] (minimum 0.397887 at three points), from
# the parameters nnctl passes as NNCTL_PARAM_x1 and NNCTL_PARAM_x2, written to
# $NNCTL_RUN_DIR/run.json as {"objective": f}. Both strategies get the same
# budget (15 trials) on the same seeds (1..5); the check is that the mean
# over the seeds of the best value found is lower for bayes. With -j 1
# everything is a function of the seed, so the result is the same each run.
set -u

here=$(cd "$(dirname "$0")" && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nn_abs_nnctl
nn_need_mnist sweep
W=$(mktemp -d "${TMPDIR:-/tmp}/nnctl-sweep.XXXXXX")
trap 'rm -rf "$W"' EXIT

# expect NAME CONDITION-COMMAND... [-- detail]
expect() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name" "$(head -c 400 "$W/out" 2>/dev/null; head -c 400 "$W/err" 2>/dev/null)"; fi
}
nn() {
    "$NNCTL" "$@" >"$W/out" 2>"$W/err"
    rc=$?
}
py() { python3 -c "$@"; }

# A tiny model: 784-16-10 with a dropout layer to sweep over.
cat >"$W/tiny.cfg" <<'EOF'
model: { name = "tiny"; input = { shape = [784]; };
  layers = ( { type = "dense"; units = 16; activation = "relu"; },
             { type = "dropout"; rate = 0.1; },
             { type = "dense"; units = 10; activation = "softmax"; } ); };
data: { train = { format = "idx"; images = "mnist/train-images-idx3-ubyte.gz";
                  labels = "mnist/train-labels-idx1-ubyte.gz"; };
  scale = 255.0; one_hot = true; train_subset = 500; validation_split = 0.2; };
train: { loss = "categorical_crossentropy"; optimizer = { type = "adam"; lr = 0.001; };
  metrics = ["accuracy"]; epochs = 1; batch_size = 32; seed = 1; };
EOF

# ---- grid -------------------------------------------------------------------
cat >"$W/grid.cfg" <<'EOF'
base = "tiny.cfg";
strategy = "grid";
objective = "val_accuracy";
set = [ "train.epochs=1" ];
space = ( { key = "train.optimizer.lr"; values = [0.0001, 0.01]; },
          { key = "model.layers.[1].rate"; values = [0.0, 0.5]; } );
EOF
nn sweep "$W/grid.cfg" -j 2 --run-dir "$W/g"
expect "grid: exit 0" test "$rc" -eq 0
expect "grid: 4 finished trials" test "$(ls "$W"/g/trial-*/run.json 2>/dev/null | wc -l)" -eq 4
expect "grid: sweep.json lists 4 trials" py "
import json; d = json.load(open('$W/g/sweep.json'))
assert len(d['trials']) == 4 and all(t['status'] == 'done' for t in d['trials'])
assert {(t['params']['train.optimizer.lr'], t['params']['model.layers.[1].rate']) for t in d['trials']} == {(0.0001, 0.0), (0.0001, 0.5), (0.01, 0.0), (0.01, 0.5)}"
# the table's rows, in order, must go from the best val_accuracy (the best
# epoch of each trial's history.csv) to the worst
expect "grid: table sorted by the objective" py "
import csv
rows = [l.split()[0] for l in open('$W/out') if l.startswith('trial-')]
rows = rows[:4]
def best(t):
    return max(float(r['val_accuracy']) for r in csv.DictReader(open('$W/g/' + t + '/history.csv')))
v = [best(t) for t in rows]
assert len(rows) == 4 and v == sorted(v, reverse=True), (rows, v)"
bestt=$(py "
import csv, glob, os
b = max(sorted(glob.glob('$W/g/trial-*')), key=lambda d: max(float(r['val_accuracy']) for r in csv.DictReader(open(d + '/history.csv'))))
print(os.path.basename(b))")
expect "grid: best.cfg is the best trial's spec.cfg ($bestt)" cmp -s "$W/g/best.cfg" "$W/g/$bestt/spec.cfg"
expect "grid: names the best trial" grep -q "^best: $bestt" "$W/out"
expect "grid: says where best.cfg is" grep -q "copied to $W/g/best.cfg" "$W/out"
nn compare "$W/g/trial-0001" "$W/g/trial-0002"
expect "grid: a trial is a run directory for nnctl compare" test "$rc" -eq 0

# ---- random -------------------------------------------------------------------
cat >"$W/random.cfg" <<'EOF'
base = "tiny.cfg";
strategy = "random";
objective = "val_loss";
trials = 3;
seed = 3;
space = ( { key = "train.optimizer.lr"; min = 0.0001; max = 0.1; log = true; },
          { key = "model.layers.[1].rate"; min = 0.0; max = 0.5; },
          { key = "model.layers.[0].units"; min = 8; max = 24; integer = true; } );
EOF
nn sweep "$W/random.cfg" -j 2 --run-dir "$W/r"
expect "random: exit 0" test "$rc" -eq 0
expect "random: trials = 3 gives 3 trials" test "$(ls -d "$W"/r/trial-* | wc -l)" -eq 3
expect "random: values inside the ranges, in each trial's spec.cfg" py "
import json, re
d = json.load(open('$W/r/sweep.json'))
assert len(d['trials']) == 3
for t in d['trials']:
    p = t['params']
    assert 1e-4 <= p['train.optimizer.lr'] <= 0.1, p
    assert 0.0 <= p['model.layers.[1].rate'] <= 0.5, p
    u = p['model.layers.[0].units']; assert isinstance(u, int) and 8 <= u <= 24, p
    spec = open('$W/r/' + t['dir'] + '/spec.cfg').read()
    assert re.search(r'units = %d;' % u, spec), spec"
# log-uniform spread, with enough samples to tell it from uniform: 60 trials
# of a command that costs nothing. Over [1e-4, 1], log-uniform puts a
# quarter in each decade; uniform would put 90% in the top one.
cat >"$W/spread.cfg" <<'EOF'
strategy = "random"; objective = "loss"; trials = 60; seed = 5;
command = "echo '{\"objective\": 0}' > \"$NNCTL_RUN_DIR/run.json\"";
space = ( { key = "lr"; min = 0.0001; max = 1.0; log = true; } );
EOF
nn sweep "$W/spread.cfg" -j 2 -q --run-dir "$W/s"
expect "random: log-uniform spread (each decade of [1e-4, 1] gets 5..27 of 60)" py "
import json, math
v = [t['params']['lr'] for t in json.load(open('$W/s/sweep.json'))['trials']]
n = [sum(1 for x in v if 10**(-k-1) <= x < 10**-k or (k == 0 and x == 1)) for k in range(4)]
assert len(v) == 60 and sum(n) == 60 and all(5 <= c <= 27 for c in n), n"
expect "random: command mode passes NNCTL_PARAM_ and NNCTL_RUN_DIR" test -f "$W/s/trial-0060/run.json"

# ---- resume after Ctrl-C --------------------------------------------------------
cat >"$W/resume.cfg" <<'EOF'
base = "tiny.cfg";
strategy = "grid";
objective = "val_accuracy";
set = [ "train.epochs=3" ];
space = ( { key = "train.optimizer.lr"; values = [0.001, 0.003, 0.01, 0.03]; } );
EOF
"$NNCTL" sweep "$W/resume.cfg" -j 1 --run-dir "$W/x" >"$W/out" 2>"$W/err" &
pid=$!
for _ in $(seq 1 600); do
    [ -f "$W/x/trial-0001/run.json" ] && break
    sleep 0.05
done
kill -INT "$pid"
wait "$pid"
rc=$?
expect "resume: Ctrl-C exits 130" test "$rc" -eq 130
expect "resume: says how to resume" grep -q "rerun the same command" "$W/err"
n1=$(ls "$W"/x/trial-*/run.json 2>/dev/null | wc -l)
expect "resume: stopped with some trials unfinished ($n1 of 4 done)" test "$n1" -ge 1 -a "$n1" -lt 4
stat -c '%n %Y.%y' "$W"/x/trial-*/run.json >"$W/mtimes"
nn sweep "$W/resume.cfg" -j 1 --run-dir "$W/x"
expect "resume: rerun exits 0" test "$rc" -eq 0
expect "resume: reports the finished trials" grep -q "resuming: $n1 trial" "$W/out"
expect "resume: 4 trials in all" test "$(ls "$W"/x/trial-*/run.json | wc -l)" -eq 4
expect "resume: finished trials not rerun (run.json mtimes unchanged)" \
    bash -c "stat -c '%n %Y.%y' $(cut -d' ' -f1 "$W/mtimes" | tr '\n' ' ') | cmp -s - '$W/mtimes'"
expect "resume: only the unfinished trials ran" test "$(grep -c '^\[' "$W/out")" -eq $((4 - n1))

# ---- errors ---------------------------------------------------------------------
# bad FILE-BODY EXPECTED-SUBSTRING: exit 2 and a file:line message
badfile() {
    local name=$1 body=$2 want=$3
    printf '%s\n' "$body" >"$W/bad.cfg"
    nn sweep "$W/bad.cfg" --run-dir "$W/bad"
    if [ "$rc" -eq 2 ] && grep -qF -- "$want" "$W/err"; then ok "error: $name"; else bad "error: $name" "rc=$rc $(head -c 300 "$W/err")"; fi
}
badfile "a range in grid mode names its line" 'base = "tiny.cfg";
strategy = "grid";
space = ( { key = "train.optimizer.lr"; values = [0.1]; },
          { key = "model.layers.[1].rate"; min = 0.0; max = 0.5; } );' "bad.cfg:4: space.[1].min: a range cannot be enumerated"
badfile "random without trials" 'base = "tiny.cfg";
strategy = "random";
space = ( { key = "train.optimizer.lr"; min = 0.001; max = 0.1; } );' 'bad.cfg:2: strategy: strategy = "random" needs trials = N'
badfile "unknown key with a suggestion" 'base = "tiny.cfg";
objectve = "val_loss";
space = ( { key = "train.optimizer.lr"; values = [0.1]; } );' 'bad.cfg:2: unknown key "objectve"; did you mean "objective"?'
badfile "unknown strategy" 'base = "tiny.cfg";
strategy = "bayesian";
space = ( { key = "train.optimizer.lr"; values = [0.1]; } );' "bad.cfg:2: strategy:"
badfile "log range needs min > 0" 'base = "tiny.cfg"; strategy = "random"; trials = 2;
space = ( { key = "train.optimizer.lr"; min = 0.0; max = 0.1; log = true; } );' "bad.cfg:2: space.[0].min: log = true needs min > 0"
badfile "max <= min" 'base = "tiny.cfg"; strategy = "random"; trials = 2;
space = ( { key = "x"; min = 1.0;
            max = 0.5; } );' "bad.cfg:3: space.[0].max: expected max > min"
badfile "missing space" 'base = "tiny.cfg";' 'missing required key "space"'
badfile "syntax error" 'base = "tiny.cfg"
space = ( );' "bad.cfg:2:"
badfile "a key the base spec rejects" 'base = "tiny.cfg";
set = [ "train.epochs=abc" ];
space = ( { key = "train.optimizer.lr"; values = [0.1]; } );' "train.epochs"
badfile "missing base spec" 'base = "nowhere.cfg";
space = ( { key = "train.optimizer.lr"; values = [0.1]; } );' "nowhere.cfg"

# an objective the trials never log is refused before the first trial runs
badfile "val_accuracy without validation data, before any trial" 'base = "tiny.cfg";
objective = "val_accuracy";
set = [ "data.validation_split=0.0" ];
space = ( { key = "train.optimizer.lr"; values = [0.1]; } );' 'bad.cfg: objective "val_accuracy" is logged only with validation data (data.validation or data.validation_split), which the trials have none of; they log loss, accuracy'
expect "val_accuracy without validation data: no trial ran" test ! -e "$W/bad/trial-0001"
badfile "test_accuracy without data.test" 'base = "tiny.cfg";
objective = "test_accuracy";
space = ( { key = "train.optimizer.lr"; values = [0.1]; } );' 'objective "test_accuracy" needs data.test in the base spec, which has none'
badfile "an objective that is no logged name" 'base = "tiny.cfg";
objective = "val_acuracy";
space = ( { key = "train.optimizer.lr"; values = [0.1]; } );' 'objective "val_acuracy" is not a value the trials log; they log loss, accuracy, val_loss, val_accuracy'

# ---- a failed trial does not stop the sweep -------------------------------------
# (a missing data file: the spec is valid, so only running the trial fails)
cat >"$W/fail.cfg" <<'EOF'
base = "tiny.cfg";
objective = "val_loss";
space = ( { key = "data.train.images"; values = ["mnist/train-images-idx3-ubyte.gz", "mnist/no-such-file.gz"]; } );
EOF
nn sweep "$W/fail.cfg" --run-dir "$W/f"
expect "failure: the sweep finishes (exit 0)" test "$rc" -eq 0
expect "failure: reported" grep -q "trial-0002 FAILED" "$W/out"
expect "failure: the good trial is best" cmp -s "$W/f/best.cfg" "$W/f/trial-0001/spec.cfg"

# ---- bayes beats random on Branin -------------------------------------------------
cat >"$W/branin.sh" <<'EOF'
#!/bin/sh
awk -v x="$NNCTL_PARAM_x1" -v y="$NNCTL_PARAM_x2" 'BEGIN {
  pi = atan2(0, -1); b = 5.1 / (4 * pi * pi); c = 5 / pi; t = 1 / (8 * pi);
  f = (y - b * x * x + c * x - 6) ^ 2 + 10 * (1 - t) * cos(x) + 10;
  printf "{\"objective\": %.10f}\n", f }' >"$NNCTL_RUN_DIR/run.json"
EOF
for strat in bayes random; do
    for seed in 1 2 3 4 5; do
        cat >"$W/$strat-$seed.cfg" <<EOF
strategy = "$strat"; objective = "branin"; trials = 15; seed = $seed;
command = "sh \"\$NNCTL_SWEEP_DIR/branin.sh\"";
space = ( { key = "x1"; min = -5.0; max = 10.0; }, { key = "x2"; min = 0.0; max = 15.0; } );
EOF
        "$NNCTL" sweep "$W/$strat-$seed.cfg" -j 1 -q --run-dir "$W/$strat-$seed" >/dev/null 2>"$W/err" ||
            bad "branin: $strat seed $seed" "$(head -c 300 "$W/err")"
    done
done
expect "bayes beats random on Branin (mean best of 15 trials over 5 seeds)" py "
import json
def best(s):
    return [min(t['objective'] for t in json.load(open('$W/%s-%d/sweep.json' % (s, k)))['trials'] if t['status'] == 'done') for k in range(1, 6)]
b, r = best('bayes'), best('random')
mb, mr = sum(b) / 5, sum(r) / 5
print('     bayes  best per seed %s mean %.4f' % (' '.join('%.3f' % x for x in b), mb))
print('     random best per seed %s mean %.4f (optimum 0.3979)' % (' '.join('%.3f' % x for x in r), mr))
assert mb < mr"

nn_summary sweep
