#!/usr/bin/env bash
# CIFAR-10 and augmentation end to end: `nnctl augment-preview` writes a PNG
# grid of the expected size (reproducibly), and a 1-epoch training of a
# small conv net on 500 CIFAR-10 images (read straight from the .tar.gz)
# with data.augment runs and evaluates on the 10000 test images.
#
#   NNCTL=build/nnctl NNCTL_DATA=/path/to/datasets tests/integration/cifar-augment.sh
#
# Needs $NNCTL_DATA/cifar-10-binary.tar.gz and python3 (standard library).
# Expected sizes are arithmetic: a grid of N 32x32 tiles has
# c = ceil(sqrt(N)) columns, r = ceil(N / c) rows and 2-pixel gaps, so it is
# (32c + 2(c-1)) x (32r + 2(r-1)) pixels. About 20 s on 2 busy cores.
set -u

here=$(cd "$(dirname "$0")" && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nn_abs_nnctl
export NNCTL_DATA=${NNCTL_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/nnctl/datasets}
if [ ! -f "$NNCTL_DATA/cifar-10-binary.tar.gz" ]; then
    nn_skip_all cifar-augment "no cifar-10-binary.tar.gz under \$NNCTL_DATA=$NNCTL_DATA (scripts/fetch-data cifar10)"
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/nnctl-cifar.XXXXXX")
trap 'rm -rf "$W"' EXIT
nn() { "$NNCTL" "$@" >"$W/out" 2>"$W/err"; rc=$?; }
# png_info FILE: "width height color_type" from the IHDR chunk
png_info() {
    python3 -c 'import struct,sys
d=open(sys.argv[1],"rb").read(33)
assert d[:8]==b"\x89PNG\r\n\x1a\n" and d[12:16]==b"IHDR"
w,h=struct.unpack(">II",d[16:24]); print(w,h,d[25])' "$1"
}

cat >"$W/cifar.cfg" <<'CFG'
model: {
  name = "cifar_tiny";
  input = { shape = [32, 32, 3]; };
  layers = (
    { type = "conv2d";        filters = 8; kernel_size = 3; activation = "relu"; },
    { type = "max_pooling2d"; pool_size = 2; },
    { type = "flatten"; },
    { type = "dense";         units = 10; activation = "softmax"; }
  );
};
data: {
  train = { format = "cifar10"; path = "cifar-10-binary.tar.gz"; part = "train"; };
  test  = { format = "cifar10"; path = "cifar-10-binary.tar.gz"; part = "test"; };
  scale = 255.0;
  train_subset = 500;
  augment = { rotation_range = 10.0; width_shift_range = 0.1; height_shift_range = 0.1;
              zoom_range = 0.1; horizontal_flip = true; vertical_flip = false;
              channel_shift_range = 0.0; fill_mode = "nearest"; cval = 0.0; };
};
train: {
  loss = "sparse_categorical_crossentropy";
  optimizer = { type = "adam"; lr = 0.001; };
  metrics = ["accuracy"];
  epochs = 1;
  batch_size = 50;
  seed = 3;
  threads = 2;
};
CFG

nn augment-preview "$W/cifar.cfg" -o "$W/grid.png"
if [ $rc -eq 0 ] && [ "$(png_info "$W/grid.png")" = "134 134 2" ]; then
    ok "augment-preview: 16 samples -> 4x4 RGB grid of 134x134"
else
    bad "augment-preview 16" "rc=$rc $(cat "$W/err") $(png_info "$W/grid.png" 2>&1)"
fi
nn augment-preview "$W/cifar.cfg" -o "$W/grid5.png" --count 5
if [ $rc -eq 0 ] && [ "$(png_info "$W/grid5.png")" = "100 66 2" ]; then
    ok "augment-preview --count 5 -> 3x2 grid of 100x66"
else
    bad "augment-preview --count 5" "rc=$rc $(cat "$W/err") $(png_info "$W/grid5.png" 2>&1)"
fi
nn augment-preview "$W/cifar.cfg" -o "$W/again.png"
if cmp -s "$W/grid.png" "$W/again.png"; then ok "augment-preview is reproducible"
else bad "augment-preview is reproducible"; fi
nn augment-preview "$W/cifar.cfg" -o "$W/epoch2.png" --epoch 2
if [ $rc -eq 0 ] && ! cmp -s "$W/grid.png" "$W/epoch2.png"; then ok "another epoch, other samples"
else bad "augment-preview --epoch 2" "rc=$rc $(cat "$W/err")"; fi
nn augment-preview "$W/cifar.cfg" -o "$W/plain.png" --set 'data.augment.rotation_range=0' \
    --set 'data.augment.width_shift_range=0' --set 'data.augment.height_shift_range=0' \
    --set 'data.augment.zoom_range=0' --set 'data.augment.horizontal_flip=false'
if [ $rc -eq 0 ] && grep -q "no active data.augment" "$W/err" && ! cmp -s "$W/grid.png" "$W/plain.png"; then
    ok "augment-preview without augmentation says so"
else
    bad "augment-preview without augmentation" "rc=$rc $(cat "$W/err")"
fi
nn augment-preview "$W/cifar.cfg"
if [ $rc -eq 2 ]; then ok "augment-preview without -o: usage error"; else bad "augment-preview without -o" "rc=$rc"; fi

nn train "$W/cifar.cfg" -o "$W/run" -q
if [ $rc -eq 0 ] && [ "$(wc -l <"$W/run/history.csv")" -eq 2 ] && [ -f "$W/run/eval.json" ] &&
    python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); assert e["samples"]==10000' "$W/run/eval.json"; then
    ok "1-epoch CIFAR-10 training (500 samples, augmented) and test on 10000"
else
    bad "CIFAR-10 training" "rc=$rc $(head -c 400 "$W/err")"
fi

# CIFAR-10's class names (the archive's batches.meta.txt, as the CIFAR
# page lists them): in eval.json by class, and predict names the class
names='["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]'
if [ -f "$W/run/eval.json" ] && python3 -c 'import json,sys
e = json.load(open(sys.argv[1])); want = json.loads(sys.argv[2])
assert [c["label"] for c in e["classes"]] == want, e.get("classes")
assert all(c["samples"] == 1000 for c in e["classes"]), e["classes"]
right = sum(round(c["accuracy"] * 1000) for c in e["classes"])
assert abs(right / 10000 - e["accuracy"]) < 1e-9, (right, e["accuracy"])' "$W/run/eval.json" "$names"; then
    ok "CIFAR-10 class names from the archive: eval.json per class (1000 each; accuracies add up to the total)"
else
    bad "CIFAR-10 class names in eval.json" "$(head -c 300 "$W/run/eval.json" 2>/dev/null)"
fi
python3 -c 'import struct, zlib, sys
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
raw = b"".join(b"\0" + bytes((x * 7 + y * 3 + c * 50) % 256 for x in range(32) for c in range(3)) for y in range(32))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))' "$W/x.png"
nn predict "$W/run/model.h5" "$W/x.png" --json
if [ $rc -eq 0 ] && python3 -c 'import json,sys
e = json.load(open(sys.argv[1]))[0]; want = json.loads(sys.argv[2])
assert e["label"] == want[e["class"]] and all(t["label"] == want[t["class"]] for t in e["top"]), e' "$W/out" "$names"; then
    ok "predict on a CIFAR-10 model names the classes"
else
    bad "predict names CIFAR-10 classes" "rc=$rc $(head -c 300 "$W/out") $(head -c 300 "$W/err")"
fi

# Accuracy: a small conv net trained on the first 2000 images of
# data_batch_1.bin (one batch file, written here), 3 epochs, tested on the
# 10000 test images, must reach a floor measured against Keras 3 on the same
# images, network and settings (tests/oracle/measure_cifar_floor.py, on
# 2 busy cores: Keras 3.15.1 (JAX) seeds 1-3: 0.3718, 0.3289,
# 0.3496; nnctl seeds 1-3: 0.3657, 0.3124, 0.3265; chance is 0.10). The floor
# is Keras's worst seed minus 0.05, for seed-to-seed spread: 0.28.
CIFAR_FLOOR=0.28
python3 - "$NNCTL_DATA/cifar-10-binary.tar.gz" "$W/sub.bin" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    m = next(m for m in t.getmembers() if m.name.endswith("data_batch_1.bin"))
    open(sys.argv[2], "wb").write(t.extractfile(m).read(2000 * 3073))
PY
sed -n '/^SPEC = """/,/^"""/p' "$here/../oracle/measure_cifar_floor.py" | sed -e '1s/^SPEC = """//' -e '$d' |
    sed -e 's/{{/{/g; s/}}/}/g' -e "s|{sub}|sub.bin|; s|{archive}|$NNCTL_DATA/cifar-10-binary.tar.gz|" \
        -e 's/{epochs}/3/; s/{seed}/1/' >"$W/floor.cfg"
(cd "$W" && NNCTL_DATA="$W" "$NNCTL" train floor.cfg -o floor -q >"$W/out" 2>"$W/err")
rc=$?
if [ $rc -eq 0 ] && python3 -c 'import json, sys
a = json.load(open(sys.argv[1]))["accuracy"]
print("     test accuracy %.4f (floor %s)" % (a, sys.argv[2]))
sys.exit(0 if a >= float(sys.argv[2]) else 1)' "$W/floor/eval.json" "$CIFAR_FLOOR"; then
    ok "CIFAR-10: 2000 images, 3 epochs: test accuracy at least Keras's floor $CIFAR_FLOOR"
else
    bad "CIFAR-10: test accuracy at least $CIFAR_FLOOR" "rc=$rc $(head -c 400 "$W/err") $(cat "$W/floor/eval.json" 2>/dev/null)"
fi

nn train "$W/cifar.cfg" -o "$W/run2" -q --set 'data.train.format="cifar"'
if [ $rc -eq 2 ] && grep -q 'did you mean "cifar10"\|did you mean .cifar10' "$W/err"; then
    ok "format typo: did you mean cifar10"
else
    bad "format typo" "rc=$rc $(cat "$W/err")"
fi

nn_summary cifar-augment
