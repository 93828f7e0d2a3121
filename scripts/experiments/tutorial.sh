#!/usr/bin/env bash
# The classic MNIST MLP tutorial series, the shell way: one `nnctl train
# configs/mnist_mlp.cfg --set ...` per step, then `nnctl compare` and
# `nnctl plot` over all the runs.
#
#   scripts/experiments/tutorial.sh                  # small: ~1 minute on 2 cores
#   SUBSET=60000 EPOCHS=20 scripts/experiments/tutorial.sh   # the full series
#
# Steps (each changes one thing from the one before, as the tutorial does):
#   01 one hidden layer (128), no dropout, SGD lr 0.01, batch 128
#   02 two hidden layers
#   03 dropout 0.3 after each hidden layer
#   04 RMSprop (lr 0.001)          05 Adam (lr 0.001)
#   06 twice the epochs            07 Adam lr 0.0001    08 Adam lr 0.01
#   09 512 hidden units            10 batch size 32
#
# Environment: SUBSET training samples (default 2000; validation is the last
# 10% of them), EPOCHS (default 2), OUT (default runs/tutorial), THREADS
# (default: all cores), NNCTL (default ./nnctl), NNCTL_DATA (MNIST location).
# A rerun replaces the series' runs under OUT (--overwrite).
set -euo pipefail
cd "$(dirname "$0")/../.."
NNCTL=${NNCTL:-./nnctl}
SUBSET=${SUBSET:-2000}
EPOCHS=${EPOCHS:-2}
OUT=${OUT:-runs/tutorial}
THREADS=${THREADS:-}
mkdir -p "$OUT"

# One hidden layer: configs/mnist_mlp.cfg without its second dense+dropout
# pair (a --set cannot remove a layer).
awk '/type = "dense";   units = 512/ { n++; if (n == 2) { skip = 2 } }
     skip > 0 { skip--; next } { print }' configs/mnist_mlp.cfg | sed 's/name = "mnist_mlp"/name = "mnist_mlp1"/' >"$OUT/mnist_mlp1.cfg"
MLP1=$OUT/mnist_mlp1.cfg
MLP2=configs/mnist_mlp.cfg

common=(--set "data.train_subset=$SUBSET" --set data.validation_split=0.1 --quiet)
[ -n "$THREADS" ] && common+=(--threads "$THREADS")
units1() { echo --set "model.layers.[0].units=$1"; }
units2() { echo --set "model.layers.[0].units=$1" --set "model.layers.[2].units=$1"; }
drop1() { echo --set "model.layers.[1].rate=$1"; }
drop2() { echo --set "model.layers.[1].rate=$1" --set "model.layers.[3].rate=$1"; }
opt() { echo --set "train.optimizer.type=$1" --set "train.optimizer.lr=$2"; }

train() { # NAME SPEC ARGS...
    local name=$1 spec=$2
    shift 2
    echo "== $name"
    # shellcheck disable=SC2068
    # --overwrite: a rerun of the series replaces its own runs
    "$NNCTL" train "$spec" ${@} "${common[@]}" --run-dir "$OUT/$name" --overwrite
}
E=$EPOCHS
# shellcheck disable=SC2046
{
train 01-one-layer      "$MLP1" $(units1 128) $(drop1 0.0) $(opt sgd 0.01) --set train.epochs=$E --set train.batch_size=128
train 02-two-layers     "$MLP2" $(units2 128) $(drop2 0.0) $(opt sgd 0.01) --set train.epochs=$E --set train.batch_size=128
train 03-dropout        "$MLP2" $(units2 128) $(drop2 0.3) $(opt sgd 0.01) --set train.epochs=$E --set train.batch_size=128
train 04-rmsprop        "$MLP2" $(units2 128) $(drop2 0.3) $(opt rmsprop 0.001) --set train.epochs=$E --set train.batch_size=128
train 05-adam           "$MLP2" $(units2 128) $(drop2 0.3) $(opt adam 0.001) --set train.epochs=$E --set train.batch_size=128
train 06-epochs-x2      "$MLP2" $(units2 128) $(drop2 0.3) $(opt adam 0.001) --set train.epochs=$((2 * E)) --set train.batch_size=128
train 07-adam-lr0.0001  "$MLP2" $(units2 128) $(drop2 0.3) $(opt adam 0.0001) --set train.epochs=$E --set train.batch_size=128
train 08-adam-lr0.01    "$MLP2" $(units2 128) $(drop2 0.3) $(opt adam 0.01) --set train.epochs=$E --set train.batch_size=128
train 09-units-512      "$MLP2" $(units2 512) $(drop2 0.3) $(opt adam 0.001) --set train.epochs=$E --set train.batch_size=128
train 10-batch-32       "$MLP2" $(units2 128) $(drop2 0.3) $(opt adam 0.001) --set train.epochs=$E --set train.batch_size=32
}

echo
"$NNCTL" compare "$OUT" --sort val_accuracy
if command -v gnuplot >/dev/null; then
    "$NNCTL" plot "$OUT" -o "$OUT/curves.png" && echo "curves: $OUT/curves.png"
else
    echo "(no gnuplot: skipping nnctl plot; Debian: apt-get install gnuplot-nox)"
fi
