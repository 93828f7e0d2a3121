#!/usr/bin/env bash
# Bringing your own code: the exec callback, and C plugins (the examples
# in examples/plugins/ built with the installed header and run through
# nnctl). Expected values come from the logs nnctl writes (history.csv)
# checked against what the callbacks saw, from hand computation, or from
# PyTorch/Keras where the script says so.
#
#   NNCTL=build/nnctl NNCTL_DATA=/path/to/datasets tests/integration/plugins.sh
#
# Needs MNIST under $NNCTL_DATA/mnist/ and python3 (standard library).
# Prints one line per check and `plugins: N passed, M failed, K skipped`.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib.sh"
nn_abs_nnctl
nn_need_mnist plugins
W=$(mktemp -d "${TMPDIR:-/tmp}/nnctl-plugins.XXXXXX")
trap 'rm -rf "$W"' EXIT
nn() {
    "$NNCTL" "$@" >"$W/out" 2>"$W/err"
    rc=$?
}
py() { python3 -c "$@"; }
# check NAME COMMAND...: ok when the command succeeds
check() {
    local name=$1
    shift
    local out
    if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$(printf '%s' "$out" | head -8)"; fi
}

# A small MLP on 1000 MNIST samples: 2 epochs of 8 batches.
spec() { # spec FILE CALLBACKS-TEXT [EPOCHS]
    cat >"$1" <<EOF
model: {
  input = { shape = [784]; };
  layers = ( { type = "dense"; units = 16; activation = "relu"; },
             { type = "dense"; units = 10; activation = "softmax"; } );
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
  optimizer = { type = "adam"; lr = 0.01; };
  metrics = ["accuracy"];
  epochs = ${3:-2};
  batch_size = 100;
  seed = 1;
  callbacks = $2;
};
EOF
}

# ---- the exec callback ------------------------------------------------------
spec "$W/exec.cfg" '( { type = "exec"; on = "epoch_end";
    command = "env | grep ^NNCTL_ | sort > \"$NNCTL_RUN_DIR/env-$NNCTL_EPOCH\"; cat > \"$NNCTL_RUN_DIR/stdin-$NNCTL_EPOCH\""; },
  { type = "exec"; on = ["batch_end", "train_end"];
    command = "echo \"$NNCTL_EVENT $NNCTL_EPOCH ${NNCTL_BATCH:-} $NNCTL_LOSS\" >> \"$NNCTL_RUN_DIR/events\""; } )'
nn train "$W/exec.cfg" -o "$W/exec" -q --threads 1
if [ $rc = 0 ]; then ok "exec: a spec with two exec callbacks (list form) trains"; else
    bad "exec: a spec with two exec callbacks (list form) trains" "$(head -3 "$W/err")"; fi
check "exec: epoch_end sees NNCTL_EPOCH, NNCTL_EPOCHS and every logged value as history.csv has it" py '
import csv, sys, os
d = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(d, "history.csv"))))
assert len(rows) == 2, rows
for e, row in enumerate(rows, 1):
    env = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(d, "env-%d" % e)))
    assert env["NNCTL_EVENT"] == "epoch_end" and env["NNCTL_EPOCH"] == str(e), env
    assert env["NNCTL_EPOCHS"] == "2", env
    assert os.path.abspath(env["NNCTL_RUN_DIR"]) == os.path.abspath(d), env
    for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        a, b = float(env["NNCTL_" + k.upper()]), float(row[k])
        assert abs(a - b) <= 1e-6 * max(1.0, abs(b)), (k, a, b)
' "$W/exec"
check "exec: the same logs arrive as one JSON line on standard input" py '
import json, sys, os
d = sys.argv[1]
for e in (1, 2):
    lines = open(os.path.join(d, "stdin-%d" % e)).read().splitlines()
    assert len(lines) == 1, lines
    j = json.loads(lines[0])
    env = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(d, "env-%d" % e)))
    assert j["event"] == "epoch_end" and j["epoch"] == e and j["epochs"] == 2, j
    assert set(j["logs"]) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}, j
    for k, v in j["logs"].items():
        assert float(env["NNCTL_" + k.upper()]) == v, (k, v)
' "$W/exec"
check "exec: batch_end runs once per batch (8 per epoch) with NNCTL_BATCH, then train_end once" py '
import sys
ev = [l.split() for l in open(sys.argv[1] + "/events")]
batches = [e for e in ev if e[0] == "batch_end"]
assert [(int(e[1]), int(e[2])) for e in batches] == [(ep, b) for ep in (1, 2) for b in range(1, 9)], batches
assert [e[0] for e in ev[len(batches):]] == ["train_end"], ev
assert all(float(e[3]) > 0 for e in batches)
' "$W/exec"

spec "$W/stop.cfg" "( { type = \"exec\"; on = \"epoch_end\"; stop_on_failure = true;
    command = \"$root/examples/plugins/stop_at_accuracy.sh 0.0\"; } )" 4
nn train "$W/stop.cfg" -o "$W/stop" -q --threads 1
check "exec: stop_on_failure ends training after the epoch whose command failed (example stop_at_accuracy.sh)" py '
import sys
rc, d, err = int(sys.argv[1]), sys.argv[2], open(sys.argv[3]).read()
assert rc == 0, (rc, err)
assert len(open(d + "/history.csv").read().splitlines()) == 2, "one epoch expected"
assert "stopping training" in err, err
assert open(d + "/accuracy.log").read().startswith("epoch 1/4 loss "), open(d + "/accuracy.log").read()
' "$rc" "$W/stop" "$W/err"

spec "$W/warn.cfg" '{ exec = { command = "exit 3"; }; }'
nn train "$W/warn.cfg" -o "$W/warn" -q --threads 1
check "exec: a failing command without stop_on_failure is a warning; training goes on (group form)" py '
import sys
rc, d, err = int(sys.argv[1]), sys.argv[2], open(sys.argv[3]).read()
assert rc == 0, (rc, err)
assert len(open(d + "/history.csv").read().splitlines()) == 3
assert err.count("exec callback (epoch_end) exited with 3") == 2, err
' "$rc" "$W/warn" "$W/err"

spec "$W/typo.cfg" '( { type = "exce"; command = "true"; } )'
nn train "$W/typo.cfg" -o "$W/typo" -q
check "exec: a misspelt callback type names the file, line and the type meant" py '
import sys
rc, err = int(sys.argv[1]), open(sys.argv[2]).read()
assert rc == 2, (rc, err)
assert "typo.cfg:" in err and "unknown callback type \"exce\"" in err and "did you mean \"exec\"" in err, err
' "$rc" "$W/err"
spec "$W/ev.cfg" '( { type = "exec"; on = "epoch_ends"; command = "true"; } )'
nn train "$W/ev.cfg" -o "$W/ev" -q
check "exec: an unknown event is refused with the events listed" py '
import sys
rc, err = int(sys.argv[1]), open(sys.argv[2]).read()
assert rc == 2 and "epoch_ends" in err and "epoch_end" in err, (rc, err)
' "$rc" "$W/err"

nn_summary plugins
