#!/usr/bin/env bash
# Transfer learning on CIFAR-10 (configs/transfer/): pre-train a CNN on
# classes 0-4, then learn classes 5-9 from 1,000 training images three
# ways -- with the pre-trained convolutional base frozen and a new head
# (model.base), that model fine-tuned from conv3 on with a smaller learning
# rate (model.base.trainable_from), and from scratch -- and print the test
# accuracies (the 5,000 test images of classes 5-9), for several seeds (the
# pick of the 1,000 images, the new head's initialization, dropout and
# shuffling).
#   scripts/experiments/transfer.sh [OUT_DIR]          (default runs)
# Writes OUT_DIR/transfer_pretrain/, OUT_DIR/transfer_{transfer,finetune,scratch}_sSEED/
# and OUT_DIR/transfer.csv. Environment: NNCTL (default ./nnctl), NNCTL_DATA
# (the folder holding cifar-10-binary.tar.gz), THREADS, SEEDS (default
# "1 2 3"). The pre-training is reused when OUT_DIR/transfer_pretrain/model.h5
# exists; the other runs are replaced on a rerun (--overwrite).
set -euo pipefail
cd "$(dirname "$0")/../.."
NNCTL=${NNCTL:-./nnctl}
OUT=${1:-runs}
THREADS=${THREADS:-$(nproc)}
SEEDS=${SEEDS:-"1 2 3"}
mkdir -p "$OUT"
acc() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accuracy"])' "$1/eval.json"; }

if [ ! -f "$OUT/transfer_pretrain/model.h5" ]; then
  echo "pre-training on classes 0-4 -> $OUT/transfer_pretrain" >&2
  "$NNCTL" train configs/transfer/pretrain.cfg --quiet --threads "$THREADS" \
    --run-dir "$OUT/transfer_pretrain" --overwrite >/dev/null
fi
echo "run,seed,test_accuracy" > "$OUT/transfer.csv.tmp"
echo "pretrain_classes_0-4,1,$(acc "$OUT/transfer_pretrain")" >> "$OUT/transfer.csv.tmp"
for seed in $SEEDS; do
  for run in transfer finetune scratch; do
    dir="$OUT/transfer_${run}_s$seed"
    echo "$run (seed $seed): classes 5-9 from 1,000 images -> $dir" >&2
    extra=()
    [ "$run" = transfer ] && extra=(--set model.base.file="\"$OUT/transfer_pretrain/model.h5\"")
    [ "$run" = finetune ] && extra=(--set model.base.file="\"$OUT/transfer_transfer_s$seed/model.h5\"")
    "$NNCTL" train "configs/transfer/$run.cfg" --quiet --threads "$THREADS" --run-dir "$dir" --overwrite \
      --set train.seed="$seed" "${extra[@]}" >/dev/null
    echo "${run}_classes_5-9,$seed,$(acc "$dir")" >> "$OUT/transfer.csv.tmp"
  done
done
mv "$OUT/transfer.csv.tmp" "$OUT/transfer.csv"
python3 - "$OUT/transfer.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
def accs(name): return [float(r["test_accuracy"]) for r in rows if r["run"] == name]
pre, tra, fin, scr = (accs("pretrain_classes_0-4"), accs("transfer_classes_5-9"),
                      accs("finetune_classes_5-9"), accs("scratch_classes_5-9"))
seeds = [r["seed"] for r in rows if r["run"] == "transfer_classes_5-9"]
print("\n%-38s %s" % ("run (5,000 test images each)", "test accuracy"))
print("%-38s %.4f" % ("pre-trained on classes 0-4", pre[0]))
for name, v in (("classes 5-9, transfer (frozen base)", tra),
                ("classes 5-9, fine-tuned from conv3", fin), ("classes 5-9, from scratch", scr)):
    print("%-38s %s  mean %.4f" % (name, " ".join("%.4f" % a for a in v), sum(v) / len(v)))
print("seeds: %s; transfer wins in %d of %d" % (" ".join(seeds), sum(t > s for t, s in zip(tra, scr)), len(tra)))
PY
