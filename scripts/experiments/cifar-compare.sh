#!/usr/bin/env bash
# The three CIFAR-10 worked examples side by side: configs/cifar10_cnn.cfg
# (Keras's cifar10_cnn), configs/cifar10_bn.cfg (BatchNormalization) and
# configs/cifar10_resnet.cfg (residual blocks), each for the same number of
# epochs, evaluated on the test set after every epoch (as Keras's
# cifar10_cnn.py does with validation_data=(x_test, y_test)). Prints the
# test accuracy per epoch as a table and draws the curves.
#
#   NNCTL_DATA=../shared/datasets scripts/experiments/cifar-compare.sh [EPOCHS] [OUT_DIR]
#
# EPOCHS defaults to 5, OUT_DIR to runs/cifar-compare, MODELS (the configs
# to train) to all three, THREADS to all cores; curves in
# OUT_DIR/curves.png (needs gnuplot). Each run is a normal nnctl run
# directory (history.csv, model.h5, eval.json) under OUT_DIR; a rerun
# replaces the runs it trains (--overwrite).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
NNCTL=${NNCTL:-$root/nnctl}
epochs=${1:-5}
out=${2:-runs/cifar-compare}
threads=${THREADS:-0}
mkdir -p "$out"
# MODELS (default all three) picks which to train; the table reads every
# run directory OUT_DIR holds
for name in ${MODELS:-cifar10_cnn cifar10_bn cifar10_resnet}; do
    # the spec with the test set as validation data, beside the runs
    sed "s|^  test *= *{\(.*\)};|  test = {\1};\n  validation = {\1};|" "$root/configs/$name.cfg" > "$out/$name.cfg"
    grep -q "validation = {" "$out/$name.cfg" || { echo "$0: cannot add validation to $name.cfg" >&2; exit 1; }
    "$NNCTL" train "$out/$name.cfg" -o "$out/$name" --overwrite --set "train.epochs=$epochs" \
        ${threads:+--threads "$threads"} -q
done
printf '%-6s %12s %12s %15s\n' epoch cifar10_cnn cifar10_bn cifar10_resnet
for ((e = 1; e <= epochs; e++)); do
    row=$(for name in cifar10_cnn cifar10_bn cifar10_resnet; do
        [ -f "$out/$name/history.csv" ] || { printf -- "- "; continue; }
        awk -F, -v e="$e" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "val_accuracy") c = i }
                            NR == e + 1 { printf "%.4f ", $c }' "$out/$name/history.csv"
    done)
    printf '%-6s %12s %12s %15s\n' "$e" $row
done
runs=()
for name in cifar10_cnn cifar10_bn cifar10_resnet; do
    [ -f "$out/$name/history.csv" ] && runs+=("$out/$name")
done
if "$NNCTL" plot "${runs[@]}" --metric accuracy -o "$out/curves.png"; then
    echo "curves: $out/curves.png"
fi
