#!/usr/bin/env bash
# "Simple net vs deep CNN with reduced training sets": trains configs/mnist_mlp.cfg
# and configs/mnist_cnn_keras.cfg (the two Keras examples as written) on 5900,
# 3000, 1800, 600 and 300 MNIST training images (4 epochs each; the 10,000
# test images unchanged), prints a table of test accuracies and plots
# accuracy against training-set size.
#   scripts/experiments/simple-vs-cnn.sh [OUT_DIR]     (default runs/simple-vs-cnn)
# Environment: NNCTL (default ./nnctl), NNCTL_DATA, EPOCHS (default 4),
# SIZES (default "5900 3000 1800 600 300"), THREADS. A rerun replaces its
# runs under OUT_DIR (--overwrite).
set -euo pipefail
cd "$(dirname "$0")/../.."
NNCTL=${NNCTL:-./nnctl}
OUT=${1:-runs/simple-vs-cnn}
EPOCHS=${EPOCHS:-4}
SIZES=${SIZES:-"5900 3000 1800 600 300"}
THREADS=${THREADS:-$(nproc)}
mkdir -p "$OUT"
table="$OUT/accuracy.csv"
echo "train_size,mlp_test_accuracy,cnn_test_accuracy" > "$table.tmp"
for n in $SIZES; do
  row="$n"
  for net in mlp cnn; do
    dir="$OUT/$net-$n"
    cfg=configs/mnist_mlp.cfg
    [ "$net" = cnn ] && cfg=configs/mnist_cnn_keras.cfg
    "$NNCTL" train "$cfg" --quiet --threads "$THREADS" --run-dir "$dir" --overwrite \
      --set data.train_subset="$n" --set train.epochs="$EPOCHS" >/dev/null
    acc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accuracy"])' "$dir/eval.json")
    row="$row,$acc"
    echo "size $n $net: test accuracy $acc" >&2
  done
  echo "$row" >> "$table.tmp"
done
mv "$table.tmp" "$table"

printf '\n%-12s %-18s %-18s\n' "train size" "simple (MLP)" "deep (CNN)"
tail -n +2 "$table" | while IFS=, read -r n a b; do
  printf '%-12s %-18.4f %-18.4f\n' "$n" "$a" "$b"
done

if command -v gnuplot >/dev/null; then
  gnuplot <<GP
set terminal pngcairo size 800,500 noenhanced
set output "$OUT/accuracy.png.tmp"
set datafile separator ","
set key bottom right
set logscale x
set xlabel "training images"
set ylabel "test accuracy"
set title "MNIST: simple net vs CNN, $EPOCHS epochs"
set grid
plot "$table" every ::1 using 1:2 with linespoints lw 2 title "simple (MLP 784-512-512-10)", \
     "$table" every ::1 using 1:3 with linespoints lw 2 title "CNN (mnist_cnn)"
GP
  mv "$OUT/accuracy.png.tmp" "$OUT/accuracy.png"
  echo "plot: $OUT/accuracy.png"
else
  echo "gnuplot not installed (scripts/install-deps): no plot" >&2
fi
echo "table: $table"
