#!/usr/bin/env bash
# Transfer learning with a pre-built network on CIFAR-10
# (configs/transfer/mobilenet/): a MobileNetV2 (alpha 0.35, images upscaled
# to 64x64 inside the model) trained here on classes 0-4 stands in for the
# ImageNet weights; classes 5-9 are then learned from 1,000 training images
# four ways, and the test accuracies (the 5,000 test images of classes
# 5-9) printed:
#   features   nnctl predict --layer features (1,280 pooled features per
#              image) + a softmax regression trained on them
#   transfer   the frozen base up to out_relu + a new head (model.base)
#   finetune   that model trained on from block_13 with a 10x smaller rate
#   scratch    the same network trained from scratch on the 1,000 images
#   scripts/experiments/transfer-mobilenet.sh [OUT_DIR]     (default runs)
# Writes OUT_DIR/mobilenet_{pretrain,features,transfer,finetune,scratch}/,
# OUT_DIR/mobilenet_data/ (the .npy files) and OUT_DIR/transfer-mobilenet.csv.
# Environment: NNCTL (default ./nnctl), NNCTL_DATA (the folder holding
# cifar-10-binary.tar.gz), THREADS, EPOCHS_SCALE (e.g. 0.1 for a smoke run:
# every epoch count scaled, at least 1), SUBSET (pre-training images; 0:
# all 22,500). The pre-training is reused when its model.h5 exists.
set -euo pipefail
cd "$(dirname "$0")/../.."
NNCTL=${NNCTL:-./nnctl}
case $NNCTL in */*) NNCTL=$(realpath "$NNCTL") ;; esac  # the features step runs elsewhere
OUT=${1:-runs}
THREADS=${THREADS:-$(nproc)}
SCALE=${EPOCHS_SCALE:-1}
SUBSET=${SUBSET:-0}
CFG=configs/transfer/mobilenet
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
D="$OUT/mobilenet_data"
mkdir -p "$D"
acc() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accuracy"])' "$1/eval.json"; }
epochs() { python3 -c 'import sys; print(max(1, round(int(sys.argv[1]) * float(sys.argv[2]))))' "$1" "$SCALE"; }
train() { # NAME CFG [--set ...]
  local name=$1 cfg=$2
  shift 2
  echo "$name -> $OUT/mobilenet_$name" >&2
  "$NNCTL" train "$cfg" --quiet --threads "$THREADS" --run-dir "$OUT/mobilenet_$name" --overwrite \
    "$@" >/dev/null
}

if [ ! -f "$OUT/mobilenet_pretrain/model.h5" ]; then
  train pretrain "$CFG/pretrain.cfg" --set train.epochs="$(epochs 20)" \
    --set train.callbacks.learning_rate_scheduler.decay_steps="$(epochs 20)" \
    --set data.train_subset="$SUBSET"
fi

# classes 5-9 as .npy for predict: the first 200 training images of each
# class, and the 5,000 test images (labels 0-4), from the official archive
python3 - "${NNCTL_DATA:?set NNCTL_DATA to the folder holding cifar-10-binary.tar.gz}" "$D" <<'PY'
import os, struct, sys, tarfile
src = os.path.join(sys.argv[1].split(":")[0], "cifar-10-binary.tar.gz")
out = sys.argv[2]
def npy(path, dtype, shape, data):
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (dtype, shape)
    hdr += " " * (63 - (len(hdr) + 10) % 64) + "\n"
    with open(path + ".tmp", "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + data)
    os.replace(path + ".tmp", path)
def hwc(rec):  # CIFAR stores the R, G and B planes; nnctl takes (32, 32, 3)
    px = bytearray(3072)
    px[0::3], px[1::3], px[2::3] = rec[0:1024], rec[1024:2048], rec[2048:3072]
    return bytes(px)
with tarfile.open(src) as t:
    names = {m.name.rsplit("/", 1)[-1]: m for m in t.getmembers()}
    def records(name):
        b = t.extractfile(names[name]).read()
        return [(b[i], b[i + 1:i + 3073]) for i in range(0, len(b), 3073)]
    train, count = [], {c: 0 for c in range(5, 10)}
    for k in range(1, 6):
        for label, rec in records("data_batch_%d.bin" % k):
            if label >= 5 and count[label] < 200:
                count[label] += 1
                train.append((label - 5, hwc(rec)))
    test = [(label - 5, hwc(rec)) for label, rec in records("test_batch.bin") if label >= 5]
for name, rows in (("c59_train", train), ("c59_test", test)):
    npy("%s/%s.npy" % (out, name), "|u1", (len(rows), 32, 32, 3), b"".join(r for _, r in rows))
    npy("%s/%s_y.npy" % (out, name), "<i4", (len(rows),),
        struct.pack("<%di" % len(rows), *[l for l, _ in rows]))
PY

# feature extraction + logistic regression
model="$OUT/mobilenet_pretrain/model.h5"
for part in train test; do
  "$NNCTL" predict "$model" "$D/c59_$part.npy" --layer features -o "$D/f_$part.npy" \
    --threads "$THREADS" > /dev/null
done
( cd "$D" && "$NNCTL" train "$OLDPWD/$CFG/features.cfg" --quiet --threads "$THREADS" \
    --run-dir "$OUT/mobilenet_features" --overwrite \
    --set train.epochs="$(epochs 100)" >/dev/null )
train transfer "$CFG/transfer.cfg" --set model.base.file="\"$model\"" \
  --set train.epochs="$(epochs 20)"
train finetune "$CFG/finetune.cfg" \
  --set model.base.file="\"$OUT/mobilenet_transfer/model.h5\"" --set train.epochs="$(epochs 10)"
train scratch "$CFG/pretrain.cfg" --set model.name='"cifar5_mobilenet_scratch"' \
  --set 'data.train.classes=[5,6,7,8,9]' --set 'data.test.classes=[5,6,7,8,9]' \
  --set data.train_subset=1000 --set data.validation_split=0.0 \
  --set train.epochs="$(epochs 30)" --set train.batch_size=32 \
  --set train.callbacks.learning_rate_scheduler.decay_steps="$(epochs 30)"

{
  echo "run,test_accuracy"
  echo "pretrain_classes_0-4,$(acc "$OUT/mobilenet_pretrain")"
  for run in features transfer finetune scratch; do
    echo "${run}_classes_5-9,$(acc "$OUT/mobilenet_$run")"
  done
} > "$OUT/transfer-mobilenet.csv.tmp"
mv "$OUT/transfer-mobilenet.csv.tmp" "$OUT/transfer-mobilenet.csv"
column -s, -t "$OUT/transfer-mobilenet.csv"
