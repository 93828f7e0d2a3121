#!/usr/bin/env bash
# model.base: a trained network, cut at a layer, as the start of a new model
# (issue 17's transfer learning): frozen, fine-tuned from a layer on, or by
# name patterns; the trained file standing alone; the errors.
#
#   NNCTL=build/nnctl NNCTL_DATA=/path/to/datasets tests/integration/transfer.sh
#
# Needs MNIST (the shipped copy will do) and python3 (standard library
# only). The references are independent of model.base: the base model's own
# features (`predict --layer`), the same network retyped layer by layer and
# loaded with train.init_from, and parameter counts worked out by hand from
# the layer sizes. Keras's own view of model.base (its models and files) is
# checked in tests/oracle/test_keras.py. Prints one line per check and
# `transfer: N passed, M failed, K skipped`; exits 1 on any failure.
set -u

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CONFIGS=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../configs" && pwd)
nn_abs_nnctl
nn_need_mnist transfer
SRC=$NNCTL_DATA
nn_data_workdir transfer
THREADS=${THREADS:-2}
# The first 3000 training images as the script's MNIST (fast to load)
nn_mnist_subset "$SRC" "$W" 3000 || exit 2
cd "$W" || exit 2
IMG=mnist/train-images-idx3-ubyte.gz

DATA='data: { train = { format = "idx"; images = "mnist/train-images-idx3-ubyte.gz";
                        labels = "mnist/train-labels-idx1-ubyte.gz"; };
              scale = 255.0; validation_split = 0.2; };'
train_group() { # EPOCHS LR [EXTRA]
    echo "train: { loss = \"sparse_categorical_crossentropy\"; metrics = [\"accuracy\"];
  optimizer = { type = \"adam\"; lr = $2; }; epochs = $1; batch_size = 64; seed = 3; ${3:-} };"
}
cat >base.cfg <<EOF
model: { name = "base"; input = { shape = [28, 28, 1]; };
  layers = (
    { name = "conv1"; type = "conv2d"; filters = 8; kernel_size = 3; activation = "relu"; },
    { name = "bn1"; type = "batch_normalization"; },
    { name = "pool1"; type = "max_pooling2d"; pool_size = 2; },
    { name = "flat"; type = "flatten"; },
    { name = "fc1"; type = "dense"; units = 32; activation = "relu"; },
    { name = "head"; type = "dense"; units = 10; activation = "softmax"; } ); };
$DATA
$(train_group 2 0.001)
EOF
# the new model: base cut at fc1, frozen; a new head
cat >frozen.cfg <<EOF
model: { name = "frozen";
  base = { file = "base_run/model.h5"; output = "fc1"; trainable = false; };
  layers = ( { name = "new_head"; type = "dense"; units = 10; activation = "softmax"; } ); };
$DATA
$(train_group 3 0.01)
EOF
# the same network written out, the base's layers loaded by init_from
cat >retyped.cfg <<EOF
model: { name = "frozen"; input = { shape = [28, 28, 1]; };
  layers = (
    { name = "conv1"; type = "conv2d"; filters = 8; kernel_size = 3; activation = "relu"; trainable = false; },
    { name = "bn1"; type = "batch_normalization"; trainable = false; },
    { name = "pool1"; type = "max_pooling2d"; pool_size = 2; },
    { name = "flat"; type = "flatten"; },
    { name = "fc1"; type = "dense"; units = 32; activation = "relu"; trainable = false; },
    { name = "new_head"; type = "dense"; units = 10; activation = "softmax"; } ); };
$DATA
$(train_group 3 0.01 'init_from = "base_run/model.h5";')
EOF

# run TAG ARGS...: nnctl ARGS; stdout TAG.out, stderr TAG.err, status $rc
run() {
    local tag=$1
    shift
    "$NNCTL" "$@" >"$tag.out" 2>"$tag.err"
    rc=$?
}
# features MODEL LAYER OUT.npy: predict --layer LAYER on the 3000 images
features() { run feat "predict" "$1" "$IMG" --layer "$2" -o "$3" --threads "$THREADS"; }
counts() { # TAG: "total trainable non-trainable" from TAG.out's summary
    python3 - "$1.out" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
print(" ".join(re.search(r"^%s params: ([\d,]+)" % k, t, re.M).group(1).replace(",", "")
               for k in ("Total", "Trainable", "Non-trainable")))
EOF
}
col() { # FILE COLUMN: the history column's values, one line
    python3 -c 'import csv, sys; print(" ".join(r[sys.argv[2]] for r in csv.DictReader(open(sys.argv[1]))))' "$1" "$2"
}

run base train base.cfg --run-dir base_run --quiet --threads "$THREADS"
if [ "$rc" -ne 0 ]; then
    bad "the base model trains" "$(tail -3 base.err)"
    nn_summary transfer
    exit 1
fi

# Parameters by hand: conv1 8*(3*3*1)+8 = 80; bn1 4*8 = 32 (gamma, beta,
# moving mean and variance); fc1 (13*13*8)*32+32 = 43296; new_head 32*10+10 = 330.
run sum summary frozen.cfg
got=$(counts sum 2>/dev/null)
[ "$rc" -eq 0 ] && [ "$got" = "43738 330 43408" ] &&
    ok "summary: base cut at fc1, frozen, plus a head: 43,738 parameters, 330 trainable" ||
    bad "summary of the frozen base" "exit $rc, counts '$got' (want 43738 330 43408): $(tail -2 sum.err)"

run frozen train frozen.cfg --run-dir frozen_run --threads "$THREADS"
if [ "$rc" -eq 0 ] && grep -q "model.base 'base_run/model.h5': 5 layers up to 'fc1', the weights of 3 loaded; 0 of them train" frozen.err; then
    ok "train with a frozen base: the note names the file, the cut and what trains"
else
    bad "train with a frozen base" "exit $rc: $(grep -i note frozen.err | head -2; tail -2 frozen.err)"
fi

# A frozen base (BatchNormalization in inference mode, its moving
# statistics untouched) gives exactly the base model's features.
features base_run/model.h5 fc1 fb.npy && features frozen_run/model.h5 fc1 ff.npy
cmp -s fb.npy ff.npy && [ -s fb.npy ] &&
    ok "frozen base: fc1 features after training equal the base model's, bit for bit" ||
    bad "frozen base: fc1 features" "they differ from the base model's (or predict failed: $(tail -2 feat.err))"

run retyped train retyped.cfg --run-dir retyped_run --quiet --threads "$THREADS"
a=$(col frozen_run/history.csv loss) b=$(col retyped_run/history.csv loss)
[ "$rc" -eq 0 ] && [ -n "$a" ] && [ "$a" = "$b" ] &&
    ok "model.base trains exactly as the same network retyped with train.init_from (losses $a)" ||
    bad "model.base against the retyped network" "losses '$a' against '$b' (exit $rc)"
features retyped_run/model.h5 new_head pr.npy && features frozen_run/model.h5 new_head pf.npy
cmp -s pr.npy pf.npy && ok "... and predicts the same, bit for bit" ||
    bad "model.base against the retyped network: predictions differ"
acc=$(col frozen_run/history.csv val_accuracy | awk '{print $NF}')
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0.7 else 1)" "${acc:-0}" &&
    ok "the new head learns on the frozen features (validation accuracy $acc > 0.7)" ||
    bad "the new head learns" "validation accuracy '$acc' after 3 epochs"

# Exact resume: 2 epochs, then --resume to 3, equals the 3-epoch run.
run r2 train frozen.cfg --run-dir resumed_run --quiet --threads "$THREADS" --set train.epochs=2
run r3 train frozen.cfg --run-dir resumed_run --resume resumed_run/last.h5 --quiet --threads "$THREADS"
a=$(col frozen_run/history.csv loss) b=$(col resumed_run/history.csv loss)
[ "$rc" -eq 0 ] && [ -n "$a" ] && [ "$a" = "$b" ] &&
    ok "--resume of a model.base run continues exactly (the 3 epochs' losses equal)" ||
    bad "--resume of a model.base run" "losses '$b' against '$a' (exit $rc: $(tail -2 r3.err))"

# The trained model stands alone: its file holds the whole network.
mv base_run base_gone
run alone eval frozen_run/model.h5 --data train --json --threads "$THREADS"
[ "$rc" -eq 0 ] && features frozen_run/model.h5 new_head pa.npy && cmp -s pa.npy pf.npy &&
    ok "with the base file gone, the trained model evaluates and predicts the same" ||
    bad "the trained model without its base file" "exit $rc: $(tail -2 alone.err; tail -2 feat.err)"
mv base_gone base_run

# Fine-tuning: the whole trained model as the base, no new layers, trainable
# from fc1 on: conv1 and bn1 stay, fc1 and new_head change.
cat >fine.cfg <<EOF
model: { name = "fine"; base = { file = "frozen_run/model.h5"; trainable_from = "fc"; }; layers = (); };
$DATA
$(train_group 2 0.001)
EOF
run sum summary fine.cfg
got=$(counts sum 2>/dev/null)
[ "$got" = "43738 43626 112" ] &&
    ok "summary: trainable_from = \"fc\" leaves conv1 and bn1 frozen (112 parameters)" ||
    bad "summary with trainable_from" "counts '$got' (want 43738 43626 112): $(tail -2 sum.err)"
run fine train fine.cfg --run-dir fine_run --quiet --threads "$THREADS"
features frozen_run/model.h5 flat a.npy && features fine_run/model.h5 flat b.npy &&
    cmp -s a.npy b.npy && features frozen_run/model.h5 fc1 c.npy &&
    features fine_run/model.h5 fc1 d.npy && ! cmp -s c.npy d.npy &&
    ok "fine-tuning from fc1: the frozen layers' features stay bit for bit, fc1's change" ||
    bad "fine-tuning with trainable_from" "exit $rc: $(tail -2 fine.err; tail -2 feat.err)"

sed 's/trainable_from = "fc"/trainable_layers = ["conv*", "new_head"]/' fine.cfg >globs.cfg
run sum summary globs.cfg
got=$(counts sum 2>/dev/null)
[ "$got" = "43738 410 43328" ] &&
    ok "summary: trainable_layers = [\"conv*\", \"new_head\"] trains conv1 and new_head (410)" ||
    bad "summary with trainable_layers" "counts '$got' (want 43738 410 43328): $(tail -2 sum.err)"

# expect_error NAME SPEC_TEXT PATTERN...: summary of the spec exits 2 with
# every pattern in its message
expect_error() {
    local name=$1 text=$2
    shift 2
    printf '%s\n' "$text" >bad.cfg
    run err summary bad.cfg
    local p miss=""
    for p in "$@"; do grep -qF -- "$p" err.err || miss="$p"; done
    [ "$rc" -eq 2 ] && [ -z "$miss" ] && ok "error: $name" ||
        bad "error: $name" "exit $rc, no '$miss' in: $(cat err.err)"
}
B='file = "base_run/model.h5";'
H='layers = ( { type = "dense"; units = 3; } );'
expect_error "a missing base file names it and the spec line" \
    "model: { base = { file = \"nothere.h5\"; }; $H };" "bad.cfg:1: model.base.file" "nothere.h5"
expect_error "an unknown base.output, with did-you-mean" \
    "model: { base = { $B output = \"fc2\"; }; $H };" "no layer named 'fc2'" "did you mean 'fc1'"
expect_error "base.trainable_from that matches no layer" \
    "model: { base = { $B trainable_from = \"block_13\"; }; $H };" "no layer whose name starts with 'block_13'"
expect_error "trainable_layers that matches no layer" \
    "model: { base = { $B trainable_layers = [\"dense*\"]; }; $H };" "trainable_layers: no layer named 'dense*'"
expect_error "base and input together" \
    "model: { input = { shape = [784]; }; base = { $B }; $H };" "model.input" "model.base gives the model's input"
expect_error "two ways of choosing what trains" \
    "model: { base = { $B trainable = false; trainable_from = \"fc\"; }; $H };" "give one of trainable"
expect_error "a new layer named like a kept base layer" \
    "model: { base = { $B output = \"fc1\"; }; layers = ( { name = \"flat\"; type = \"dense\"; units = 3; } ); };" \
    "duplicate layer name \"flat\""
expect_error "an unknown key in base, with did-you-mean" \
    "model: { base = { $B outptu = \"fc1\"; }; $H };" "unknown key \"outptu\"" "did you mean \"output\""
"$NNCTL" train base.cfg --run-dir w_run --quiet --threads "$THREADS" --set train.epochs=1 \
    --set 'train.callbacks.checkpoint.path="w.h5"' --set train.callbacks.checkpoint.save_weights_only=true >/dev/null 2>&1
expect_error "a weights-only file as the base says what to do instead" \
    "model: { base = { file = \"w_run/w.h5\"; }; $H };" "holds only weights" "base.application"

# that file with its network named by a topology spec (base.application):
# the same network and counts as the full file's as the base
printf 'model: { base = { application = "base.cfg"; file = "w_run/w.h5"; output = "fc1"; trainable = false; }; %s };\n' "$H" >app.cfg
printf 'model: { base = { file = "w_run/model.h5"; output = "fc1"; trainable = false; }; %s };\n' "$H" >full.cfg
run app summary app.cfg
got_app=$(counts app 2>/dev/null)
run full summary full.cfg
got_full=$(counts full 2>/dev/null)
# by hand: the head 32*3+3 = 99 trains; conv1 80 + bn1 32 + fc1 43296 = 43408 frozen
[ -n "$got_app" ] && [ "$got_app" = "$got_full" ] && [ "$got_app" = "43507 99 43408" ] &&
    ok "base.application = a spec file, with a weights-only file: the same counts as the full file's base ($got_app)" ||
    bad "base.application with a weights-only file" "counts '$got_app' vs '$got_full' (want 43507 99 43408): $(tail -2 app.err)"
# export --format cfg of an nnctl file is its stored spec: the same network
run exp export base_run/model.h5 --format cfg -o exported.cfg
run exs summary exported.cfg
run exm summary base_run/model.h5
[ "$rc" -eq 0 ] && [ -n "$(counts exs 2>/dev/null)" ] && [ "$(counts exs)" = "$(counts exm)" ] &&
    grep -q "^model" exported.cfg &&
    ok "export --format cfg of an nnctl file: a spec of the same network ($(counts exs))" ||
    bad "export --format cfg" "$(cat exp.err) $(head -3 exs.err)"
# the MobileNetV2 transfer example (configs/transfer/mobilenet/): its network
# is Keras's MobileNetV2(alpha=0.35, include_top=False), 410,208 parameters
# by tf-keras's count_params (14,080 of them BatchNormalization statistics),
# plus a 1280*5+5 = 6,405 head: 416,613, 14,080 not trainable
run mn summary "$CONFIGS/transfer/mobilenet/pretrain.cfg"
got_mn=$(counts mn 2>/dev/null)
[ "$got_mn" = "416613 402533 14080" ] &&
    ok "configs/transfer/mobilenet: the network has Keras's MobileNetV2(0.35) counts plus the head" ||
    bad "configs/transfer/mobilenet/pretrain.cfg" "counts '$got_mn' (want 416613 402533 14080): $(tail -2 mn.err)"

nn_summary transfer
