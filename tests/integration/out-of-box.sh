#!/usr/bin/env bash
# Out of the box: the README's first command (make demo) trains, evaluates and
# predicts on a copy of this checkout with nothing else present (no
# NNCTL_DATA, no ../shared beside it, an empty HOME), from the MNIST that
# ships in datasets/mnist/. Also: the shipped files are the official data (their
# content MD5s as published with MNIST, written here by hand), and
# scripts/fetch-data fashion-mnist provides Debian's dataset-fashion-mnist.
#
#   BUILD=build tests/integration/out-of-box.sh
#
# The copy reuses $BUILD (mtimes kept, so make has nothing to rebuild unless
# the sources changed). Trains one epoch: about 20 s on 2 cores.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib.sh"
BUILD=${BUILD:-build}
cd "$root"

W=$(mktemp -d "${TMPDIR:-/tmp}/nnctl-oob.XXXXXX") || exit 2
trap 'rm -rf "$W"' EXIT

# 1. The shipped files: the MD5s of the uncompressed content published for
# the official MNIST files (the same values torchvision's and TFDS's loaders
# check after decompression).
declare -A want=(
    [train-images-idx3-ubyte.gz]=6bbc9ace898e44ae57da46a324031adb
    [train-labels-idx1-ubyte.gz]=a25bea736e30d166cdddb491f175f624
    [t10k-images-idx3-ubyte.gz]=2646ac647ad5339dbf082846283269ea
    [t10k-labels-idx1-ubyte.gz]=27ae3e4e09519cfbb04c329615203637
)
for f in "${!want[@]}"; do
    got=$(gzip -dc "datasets/mnist/$f" 2>/dev/null | md5sum | cut -d' ' -f1)
    if [ "$got" = "${want[$f]}" ]; then ok "datasets/mnist/$f is the official content"
    else bad "datasets/mnist/$f" "content MD5 $got, published ${want[$f]}"; fi
done
if grep -q "CC BY-SA 3.0" datasets/README.md && grep -q "Yann LeCun and Corinna Cortes" datasets/README.md; then
    ok "datasets/README.md states MNIST's licence and authors"
else bad "datasets/README.md: MNIST's licence (CC BY-SA 3.0, Yann LeCun and Corinna Cortes) missing"; fi

# 2. make demo on a copy of the checkout: the files git would clone (tracked
# and untracked-but-not-ignored, as they are now), plus the build.
if ! command -v git >/dev/null || ! git rev-parse --git-dir >/dev/null 2>&1; then
    skip "make demo on a copy of the checkout" "not a git checkout: cannot copy it as a clone would be"
    nn_summary out-of-box
    exit
fi
mkdir -p "$W/clone" "$W/home"
git ls-files -z --cached --others --exclude-standard |
    tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$W/clone"
if [ -d "$BUILD" ] && [ "$BUILD" = build ]; then cp -a "$BUILD" "$W/clone/build"; fi
(
    cd "$W/clone" &&
        env -u NNCTL_DATA -u XDG_DATA_HOME HOME="$W/home" \
            nice -n 10 make demo DEMO_ARGS="--set train.epochs=1 --threads 2"
) >"$W/demo.log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok "make demo on a bare copy (no NNCTL_DATA, no ../shared, empty HOME)"
else bad "make demo exited $rc" "$(tail -15 "$W/demo.log")"; fi
# eval's accuracy after one epoch of mnist_mlp (Keras's example reaches ~96%)
acc=$(sed -n 's/.*accuracy[^0-9]*\([0-9.]*\).*/\1/p' "$W/demo.log" | tail -1)
if awk -v a="$acc" 'BEGIN { exit !(a > 0.9 && a <= 1) }'; then ok "demo's eval: accuracy $acc > 0.9"
else bad "demo's eval accuracy" "'$acc': $(grep -i accuracy "$W/demo.log" | tail -3)"; fi
# the first test image is a 7 (label 7 in t10k-labels): predict's top class
top=$(grep -A1 "digit.png" "$W/demo.log" | sed -n 's/^[^0-9]*\([0-9]\) (.*/\1/p' | head -1)
if [ "$top" = 7 ]; then ok "demo's predict: the first test digit is a 7"
else bad "demo's predict" "top class '$top': $(grep -A3 digit.png "$W/demo.log" | head -5)"; fi
if [ -z "$(ls -A "$W/home")" ]; then ok "nothing written to HOME"; else bad "demo wrote into HOME" "$(ls -A "$W/home")"; fi

# 3. Fashion-MNIST from Debian's dataset-fashion-mnist, linked into DEST.
if [ -d /usr/share/datasets/fashion-mnist ]; then
    if scripts/fetch-data fashion-mnist --dest "$W/data" >"$W/fm.log" 2>&1 &&
        [ "$(find "$W/data/fashion-mnist" -name '*-ubyte.gz' -type l | wc -l)" -eq 4 ]; then
        ok "fetch-data fashion-mnist links the Debian package's four files, verified"
    else bad "fetch-data fashion-mnist" "$(tail -5 "$W/fm.log")"; fi
    if NNCTL_DATA="$W/data" "$root/$BUILD/nnctl" train configs/fashion_mlp.cfg --run-dir "$W/fm" \
        --set train.epochs=1 --set data.train_subset=6000 --threads 2 --quiet >"$W/fmt.log" 2>&1 &&
        [ -f "$W/fm/model.h5" ]; then
        ok "configs/fashion_mlp.cfg trains on the fetched files"
    else bad "configs/fashion_mlp.cfg" "$(tail -5 "$W/fmt.log")"; fi
else
    echo "skip: Fashion-MNIST checks (dataset-fashion-mnist not installed: scripts/install-deps)"
fi

nn_summary out-of-box
