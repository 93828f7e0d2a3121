#!/usr/bin/env bash
# nnctl under valgrind memcheck: a tiny train (500 samples, 1 epoch, dropout,
# validation split, early stopping with restore_best_weights, a checkpoint),
# a resume, eval, predict, and a few error paths (a bad data file, a bad model
# file, a bad PNG). Each run must end with no memcheck errors and no
# definitely lost blocks (valgrind exits 99 otherwise). "Possibly lost" blocks
# (libgomp's thread stacks) and still-reachable ones do not count.
#
#   NNCTL=build/nnctl NNCTL_DATA=/path/to/datasets tests/integration/valgrind.sh
#
# nnctl train re-executes itself once at startup to set libgomp's spin time,
# and picks OpenBLAS's kernels from the CPU's features: both are set here
# (OPENBLAS_CORETYPE=Haswell: AVX2 kernels, which valgrind runs; it may not
# run AVX-512 ones; OMP_WAIT_POLICY), with NNCTL_PREFLIGHT_DONE=1, and
# --trace-children=yes follows an exec anyway. Third-party startup noise goes
# in tests/valgrind.supp. Needs MNIST under $NNCTL_DATA/mnist/ (500 training
# and 100 test digits are copied into small IDX files) and python3.
# Prints one line per check and `valgrind: N passed, M failed, K skipped`; exits 1 on
# any failure. About 1.5 minutes on 2 cores.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
NNCTL=${NNCTL:-$root/nnctl}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nn_abs_nnctl
if [ ! -x "$NNCTL" ]; then
    echo "valgrind: nnctl binary '$NNCTL' not found (set NNCTL or run make)" >&2
    exit 2
fi
command -v valgrind >/dev/null 2>&1 || nn_skip_all valgrind "valgrind is not installed (scripts/install-deps)"
nn_need_mnist valgrind
MNIST=$NNCTL_DATA/mnist
THREADS=${THREADS:-2}
W=$(mktemp -d "${TMPDIR:-/tmp}/nnctl-valgrind.XXXXXX")
trap 'rm -rf "$W"' EXIT
# a private copy: other builds may replace the binary while this runs
cp "$NNCTL" "$W/nnctl" && NNCTL="$W/nnctl"
SUPP="$root/tests/valgrind.supp"
VG=(valgrind --trace-children=yes --leak-check=full --errors-for-leak-kinds=definite
    --error-exitcode=99 --num-callers=30)
[ -f "$SUPP" ] && VG+=(--suppressions="$SUPP")
export OPENBLAS_CORETYPE=Haswell OMP_WAIT_POLICY=PASSIVE NNCTL_PREFLIGHT_DONE=1
export NNCTL_DATA="$W"


# vg NAME WANT_EXIT ARGS...: nnctl ARGS under memcheck (log in $W/NAME.vg)
n=0
vg() {
    local name=$1 want=$2
    shift 2
    n=$((n + 1))
    local log="$W/vg$n.log"
    (cd "$W" && timeout 300 "${VG[@]}" --log-file="$log.%p" "$NNCTL" "$@" >"$W/out" 2>"$W/err")
    local rc=$?
    cat "$log".* >"$log" 2>/dev/null
    local errs lost
    errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | sort -n | tail -1)
    lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d , | sort -n | tail -1)
    # "All heap blocks were freed -- no leaks are possible" has no LEAK SUMMARY
    [ -z "$lost" ] && grep -q "no leaks are possible" "$log" && lost=0
    if [ $rc = 99 ] || [ "${errs:-x}" != 0 ] || [ "${lost:-x}" != 0 ]; then
        bad "$name" "valgrind exit $rc, ${errs:-?} errors, ${lost:-?} bytes definitely lost; first report:
$(grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|[0-9,]+ bytes in [0-9,]+ blocks are definitely)' -A12 "$log" | head -30)"
    elif [ $rc != "$want" ]; then
        bad "$name" "exit $rc, expected $want: $(head -c 300 "$W/err")"
    else
        ok "$name (exit $rc; 0 errors, 0 bytes definitely lost)"
    fi
}

# 500 training and 100 test digits as plain IDX, one digit as a PNG, a bad
# PNG and a truncated IDX
python3 - "$MNIST" "$W" <<'EOF'
import gzip, struct, sys, zlib
src, out = sys.argv[1], sys.argv[2]
def idx(path, n, label):
    d = gzip.open(path).read()
    if label:
        return struct.pack(">II", 2049, n) + d[8:8 + n]
    return struct.pack(">IIII", 2051, n, 28, 28) + d[16:16 + n * 784]
for name, n in (("train", 500), ("t10k", 100)):
    open("%s/%s-images.idx" % (out, name), "wb").write(idx("%s/%s-images-idx3-ubyte.gz" % (src, name), n, False))
    open("%s/%s-labels.idx" % (out, name), "wb").write(idx("%s/%s-labels-idx1-ubyte.gz" % (src, name), n, True))
img = open(out + "/t10k-images.idx", "rb").read()
open(out + "/short.idx", "wb").write(img[:5000])
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
raw = b"".join(b"\x00" + img[16 + r * 28:16 + (r + 1) * 28] for r in range(28))
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
open(out + "/digit.png", "wb").write(png)
open(out + "/cut.png", "wb").write(png[:len(png) // 2])
EOF

cat >"$W/vg.cfg" <<'EOF'
model: {
  name = "vg";
  input = { shape = [784]; };
  layers = (
    { type = "dense"; units = 32; activation = "relu"; },
    { type = "dropout"; rate = 0.2; },
    { type = "dense"; units = 10; activation = "softmax"; }
  );
};
data: {
  train = { images = "train-images.idx"; labels = "train-labels.idx"; };
  test  = { images = "t10k-images.idx"; labels = "t10k-labels.idx"; };
  scale = 255.0;
  one_hot = true;
  train_subset = 500;
  validation_split = 0.2;
};
train: {
  loss = "categorical_crossentropy";
  optimizer = { type = "adam"; };
  metrics = ["accuracy"];
  epochs = 1;
  batch_size = 32;
  callbacks = {
    early_stopping = { monitor = "val_loss"; restore_best_weights = true; };
    checkpoint = { path = "ckpt-{epoch:02d}.h5"; };
  };
};
EOF

vg "train (500 samples, 1 epoch)" 0 train vg.cfg -o "$W/run" -q --threads "$THREADS"
vg "train --resume for a second epoch" 0 train vg.cfg -o "$W/run" -q --threads "$THREADS" --resume --set train.epochs=2
vg "eval --json" 0 eval "$W/run/model.h5" --json --threads "$THREADS"
vg "eval --data validation on a checkpoint" 0 eval "$W/run/ckpt-01.h5" --json --data validation --threads "$THREADS"
vg "predict a PNG and an IDX file --json" 0 predict "$W/run/model.h5" digit.png t10k-images.idx --json --top-k 3 --threads "$THREADS"
vg "summary MODEL" 0 summary "$W/run/model.h5"
# error paths must free what they allocated too
vg "error path: train on a truncated IDX" 1 train vg.cfg -o "$W/bad" -q --threads "$THREADS" --set 'data.train.images="short.idx"'
vg "error path: predict a truncated PNG" 1 predict "$W/run/model.h5" cut.png --threads "$THREADS"
printf 'not HDF5\n' >"$W/fake.h5"
vg "error path: eval a text file named .h5" 1 eval "$W/fake.h5" --threads "$THREADS"
vg "error path: a spec error (unknown key)" 2 train vg.cfg -o "$W/bad" -q --threads "$THREADS" --set train.epochz=1

nn_summary valgrind
