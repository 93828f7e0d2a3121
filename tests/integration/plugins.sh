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
py() { /usr/bin/python3 -c "$@"; } # the system Python: h5py (scripts/install-deps)
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

# ---- C plugins, built as a user builds them ------------------------------------
# make install puts plugin.h and nnctl.pc under a prefix; each example is
# compiled with pkg-config's flags only (a plugin never links nnctl).
PREFIX_DIR="$W/prefix"
if make -s -C "$root" install BUILD="${BUILD:-build}" SANITIZE="${SANITIZE:-}" PREFIX="$PREFIX_DIR" \
        >"$W/install.log" 2>&1 &&
    [ -f "$PREFIX_DIR/include/nnctl/plugin.h" ] && [ -f "$PREFIX_DIR/lib/pkgconfig/nnctl.pc" ]; then
    ok "make install puts include/nnctl/plugin.h and lib/pkgconfig/nnctl.pc under PREFIX"
else
    bad "make install puts include/nnctl/plugin.h and lib/pkgconfig/nnctl.pc under PREFIX" \
        "$(tail -3 "$W/install.log")"
fi
mkdir -p "$W/so"
built=1
for p in loss_history orthogonal_reg f1_metric swish_beta; do
    if ! cc -shared -fPIC -O2 $(PKG_CONFIG_PATH="$PREFIX_DIR/lib/pkgconfig" pkg-config --cflags nnctl) \
            "$root/examples/plugins/$p.c" -o "$W/so/$p.so" -lm 2>"$W/cc.log"; then
        built=0
        bad "examples/plugins/$p.c builds with pkg-config --cflags nnctl" "$(head -5 "$W/cc.log")"
    fi
done
[ $built = 1 ] && ok "the four example plugins build with \$(pkg-config --cflags nnctl)"

nn plugins "$W/so/swish_beta.so" "$W/so/f1_metric.so"
check "nnctl plugins lists each plugin's types, keys and versions" py '
import sys
out, rc = open(sys.argv[1]).read(), int(sys.argv[2])
assert rc == 0, rc
for s in ("plugin ABI 1.0", "swish_beta 1.0 (plugin ABI 1.0)", "layer swish_beta (Keras class SwishBeta)",
          "initial_beta", "metric f1", "threshold"):
    assert s in out, (s, out)
' "$W/out" "$rc"
nn --version
grep -q '^plugin ABI: 1\.0$' "$W/out" && ok "nnctl --version names the plugin ABI" ||
    bad "nnctl --version names the plugin ABI" "$(cat "$W/out")"

# A model with a plugin layer and regularizer, a plugin metric and callback:
# two plugins from the spec, two from --plugin.
printf '%s\n' \
    'plugins = ["so/swish_beta.so", "so/orthogonal_reg.so"];' \
    'model: {' \
    '  input = { shape = [784]; };' \
    '  layers = ( { type = "dense"; name = "h"; units = 16;' \
    '               kernel_regularizer = { type = "orthogonal"; factor = 0.001; }; },' \
    '             { type = "swish_beta"; name = "sb"; initial_beta = 1.5; },' \
    '             { type = "dense"; name = "out"; units = 10; activation = "softmax"; } );' \
    '};' \
    'data: {' \
    '  train = { images = "mnist/train-images-idx3-ubyte.gz"; labels = "mnist/train-labels-idx1-ubyte.gz"; };' \
    '  test = { images = "mnist/t10k-images-idx3-ubyte.gz"; labels = "mnist/t10k-labels-idx1-ubyte.gz"; };' \
    '  scale = 255.0;' \
    '  one_hot = true;' \
    '  train_subset = 1000;' \
    '  validation_split = 0.2;' \
    '};' \
    'train: {' \
    '  loss = "categorical_crossentropy";' \
    '  optimizer = { type = "adam"; lr = 0.005; };' \
    '  metrics = ( { type = "accuracy"; }, { type = "f1"; } );' \
    '  epochs = 3;' \
    '  batch_size = 100;' \
    '  seed = 3;' \
    '  callbacks = ( { type = "loss_history"; path = "batch_losses.csv"; } );' \
    '};' >"$W/pl.cfg"
PL=(--plugin "$W/so/f1_metric.so" --plugin "$W/so/loss_history.so")
nn train "$W/pl.cfg" -o "$W/pl" -q --threads 1 "${PL[@]}"
if [ $rc = 0 ]; then ok "plugins: a model with a plugin layer, regularizer, metric and callback trains"; else
    bad "plugins: a model with a plugin layer, regularizer, metric and callback trains" "$(head -5 "$W/err")"; fi
check "loss_history: one row per batch, the last of each epoch is that epoch's loss in history.csv" py '
import csv, sys
d = sys.argv[1]
hist = list(csv.DictReader(open(d + "/history.csv")))
rows = list(csv.DictReader(open(d + "/batch_losses.csv")))
assert [(int(r["epoch"]), int(r["batch"])) for r in rows] == [(e, b) for e in range(3) for b in range(8)], rows
for e, h in enumerate(hist):
    last = float([r for r in rows if int(r["epoch"]) == e][-1]["loss"])
    assert abs(last - float(h["loss"])) <= 1e-6 * abs(float(h["loss"])), (e, last, h["loss"])
assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
' "$W/pl"
nn eval "$W/pl/model.h5" --json --threads 1 "${PL[@]}"
cp "$W/out" "$W/eval.json"
nn predict "$W/pl/model.h5" "$NNCTL_DATA/mnist/t10k-images-idx3-ubyte.gz" --layer out --threads 1 "${PL[@]}"
cp "$W/out" "$W/pred.csv"
check "f1: eval's f1 equals a hand count (macro F1 of argmax) over predict's probabilities on the 10000 test images" py '
import csv, gzip, json, sys
ev = json.load(open(sys.argv[1]))
rows = list(csv.reader(open(sys.argv[2])))
assert len(rows) == 10000 and len(rows[0]) == 10, (len(rows), rows[:1])
with gzip.open(sys.argv[3]) as f:
    labels = list(f.read()[8:])
pred = [max(range(10), key=lambda k: float(r[k])) for r in rows]
f1s = []
for c in range(10):
    tp = sum(p == c and t == c for p, t in zip(pred, labels))
    fp = sum(p == c and t != c for p, t in zip(pred, labels))
    fn = sum(p != c and t == c for p, t in zip(pred, labels))
    f1s.append(2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0)
want = sum(f1s) / 10
assert abs(ev["f1"] - want) < 1e-9, (ev["f1"], want)
acc = sum(p == t for p, t in zip(pred, labels)) / 10000
assert abs(ev["accuracy"] - acc) < 1e-9, (ev["accuracy"], acc)
' "$W/eval.json" "$W/pred.csv" "$NNCTL_DATA/mnist/t10k-labels-idx1-ubyte.gz"

# the saved model reloads (with its plugins) and predicts what the last
# checkpoint does: the same weights, read back through the plugin rows
nn predict "$W/pl/last.h5" "$NNCTL_DATA/mnist/t10k-images-idx3-ubyte.gz" --layer out --threads 1 "${PL[@]}"
cmp -s "$W/out" "$W/pred.csv" && ok "reload: model.h5 and last.h5 predict the same, byte for byte" ||
    bad "reload: model.h5 and last.h5 predict the same, byte for byte" "$(head -3 "$W/err")"
check "model.h5 names the plugin types as Keras custom objects (class_name and module)" py '
import h5py, json, sys
cfg = json.loads(h5py.File(sys.argv[1], "r").attrs["model_config"])
layers = {l["config"]["name"]: l for l in cfg["config"]["layers"]}
sb = layers["sb"]
assert sb["class_name"] == "SwishBeta" and sb["module"] == "nnctl.plugins.swish_beta", sb
assert sb["config"]["initial_beta"] == 1.5, sb
reg = layers["h"]["config"]["kernel_regularizer"]
assert reg["class_name"] == "OrthogonalPenalty" and reg["module"] == "nnctl.plugins.orthogonal_reg", reg
assert reg["config"] == {"factor": 0.001}, reg
' "$W/pl/model.h5"

# resume: 2 epochs, then --resume to 3, equals 3 straight (history and weights)
sed -e 's/epochs = 3;/epochs = 2;/' "$W/pl.cfg" >"$W/pl2.cfg"
nn train "$W/pl2.cfg" -o "$W/pr" -q --threads 1 "${PL[@]}"
r1=$rc
nn train "$W/pl.cfg" -o "$W/pr" -q --threads 1 --resume "${PL[@]}"
check "resume: 2 epochs then --resume to 3 equals 3 straight (history.csv rows and every weight)" py '
import csv, h5py, sys
r1, r2, a, b = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
assert r1 == 0 and r2 == 0, (r1, r2, open(sys.argv[5]).read())
ha = [{k: v for k, v in r.items() if k != "time"} for r in csv.DictReader(open(a + "/history.csv"))]
hb = [{k: v for k, v in r.items() if k != "time"} for r in csv.DictReader(open(b + "/history.csv"))]
assert ha == hb, (ha, hb)
fa, fb = h5py.File(a + "/model.h5", "r"), h5py.File(b + "/model.h5", "r")
names = []
fa["model_weights"].visit(lambda n: names.append(n) if isinstance(fa["model_weights"][n], h5py.Dataset) else None)
assert any("beta" in n for n in names), names
for n in names:
    assert (fa["model_weights"][n][()] == fb["model_weights"][n][()]).all(), n
' "$r1" "$rc" "$W/pl" "$W/pr" "$W/err"

# without the plugin: the type, the plugin, and "load it with --plugin"
mkdir -p "$W/elsewhere"
cp "$W/pl/model.h5" "$W/elsewhere/"
mv "$W/so/swish_beta.so" "$W/swish_beta.so.away"
(cd "$W/elsewhere" && "$NNCTL" predict model.h5 "$NNCTL_DATA/mnist/t10k-images-idx3-ubyte.gz" "${PL[@]}" >out 2>err)
rc=$?
check "without its plugin, loading fails naming the type and the plugin and saying to load it with --plugin" py '
import sys
rc, err = int(sys.argv[1]), open(sys.argv[2]).read()
assert rc == 2, (rc, err)
for s in ("SwishBeta", "swish_beta", "load it with --plugin"):
    assert s in err, (s, err)
' "$rc" "$W/elsewhere/err"
mv "$W/swish_beta.so.away" "$W/so/swish_beta.so"
(cd "$W/elsewhere" && "$NNCTL" predict model.h5 "$NNCTL_DATA/mnist/t10k-images-idx3-ubyte.gz" --layer out --threads 1 \
    --plugin "$W/so/swish_beta.so" --plugin "$W/so/orthogonal_reg.so" "${PL[@]}" >out 2>err)
cmp -s "$W/elsewhere/out" "$W/pred.csv" && ok "with --plugin the moved model predicts as before" ||
    bad "with --plugin the moved model predicts as before" "$(head -3 "$W/elsewhere/err")"

nn_summary plugins
