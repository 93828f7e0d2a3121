#!/usr/bin/env bash
# Bad input files through the CLI: IDX data, sequence data (csv, tokens), PNG
# inputs and model files that are malformed, truncated or of the wrong kind.
# The corpus is generated here (python3 + zlib/struct/gzip/h5py; no nnctl
# code) in a temp dir; every case asserts the exit code and substrings of
# stderr that name the file and the problem, and that nnctl never crashes
# (exit >= 124: a signal or a hang; 'Segmentation', 'Aborted',
# 'AddressSanitizer', 'runtime error' in stderr).
#
#   NNCTL=build/nnctl NNCTL_DATA=/path/to/datasets tests/integration/bad-files.sh [FILTER...]
#
# Needs MNIST under $NNCTL_DATA/mnist/ (the first 200 training digits make
# the good files the bad ones are derived from) and /usr/bin/python3 with
# h5py. Prints one line per case and `bad-files: N passed, M failed, K skipped`; exits 1
# on any failure. About 15 s.
set -u

here=$(cd "$(dirname "$0")" && pwd)
NNCTL=${NNCTL:-$here/../../nnctl}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nn_abs_nnctl
if [ ! -x "$NNCTL" ]; then
    echo "bad-files: nnctl binary '$NNCTL' not found (set NNCTL or run make)" >&2
    exit 2
fi
nn_need_mnist bad-files
nn_need_python bad-files h5py numpy
THREADS=${THREADS:-2}
T=$(mktemp -d "${TMPDIR:-/tmp}/nnctl-badfiles.XXXXXX")
trap 'rm -rf "$T"' EXIT
# a private copy: other builds may replace the binary while this runs
cp "$NNCTL" "$T/nnctl" && NNCTL="$T/nnctl"
filter=("$@")

selected() {
    [ ${#filter[@]} -eq 0 ] && return 0
    local f
    for f in "${filter[@]}"; do
        case "$1" in *"$f"*) return 0 ;; esac
    done
    return 1
}
# expect NAME EXIT SUBSTRING... -- ARGS...: runs `nnctl ARGS` in the corpus
# directory with NNCTL_DATA there too (relative data paths resolve against
# it; file names in messages are the relative ones given); checks the
# exit code and that stderr holds every SUBSTRING; output in $T/out, $T/err.
expect() {
    local name=$1 want=$2
    shift 2
    local subs=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        subs+=("$1")
        shift
    done
    shift
    selected "$name" || return 1
    (cd "$T/c" && NNCTL_DATA="$T/c" timeout 60 "$NNCTL" "$@" >"$T/out" 2>"$T/err" </dev/null)
    got=$?
    local why="" s
    if [ $got -ge 124 ] || grep -qE 'Segmentation|Aborted|AddressSanitizer|runtime error|core dumped' "$T/err"; then
        why="CRASH (exit $got)"
    elif [ "$got" != "$want" ]; then
        why="exit $got, expected $want"
    else
        for s in "${subs[@]}"; do
            if ! grep -qF -- "$s" "$T/err"; then
                why="stderr lacks '$s'"
                break
            fi
        done
    fi
    if [ -z "$why" ]; then ok "$name"; else
        bad "$name" "$why; stderr: $(head -c 400 "$T/err" | tr '\n' ' ')"
    fi
    return 0
}
# value NAME PYTHON-CODE ARGS...: a check of the numbers a case gave (the
# code exits non-zero, printing why, when they are wrong)
value() {
    local name=$1 code=$2 out
    shift 2
    selected "$name" || return 0
    if out=$(cd "$T/c" && "$PY" -c "$code" "$@" 2>&1); then ok "$name${out:+ ($out)}"
    else bad "$name" "$(printf '%s' "$out" | tail -3)"; fi
}

mkdir -p "$T/c"
cat >"$T/gen.py" <<'EOF'
# generates the bad-input corpus; argv: MNIST_DIR OUT_DIR [MODEL.h5 WEIGHTS_ONLY.h5]
import gzip, os, struct, sys, zlib
src, out = sys.argv[1], sys.argv[2]
model = sys.argv[3] if len(sys.argv) > 3 else None
wonly = sys.argv[4] if len(sys.argv) > 4 else None
N = 200
img = gzip.open(src + "/train-images-idx3-ubyte.gz").read()
lab = gzip.open(src + "/train-labels-idx1-ubyte.gz").read()
assert struct.unpack(">IIII", img[:16])[0] == 2051
pix = img[16:16 + N * 784]
labels = lab[8:8 + N]
def w(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
def idx(type_code, dims, payload):
    return struct.pack(">BBBB", 0, 0, type_code, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + payload

if model is None:
    # ---- IDX ----
    good_i = idx(0x08, [N, 28, 28], pix)
    good_l = idx(0x08, [N], labels)
    w("good-images.idx", good_i)
    w("good-labels.idx", good_l)
    w("magic.idx", struct.pack(">I", 0x12345678) + good_i[4:])
    w("magic-png.idx", b"\x89PNG\r\n\x1a\n" + good_i[8:])
    w("empty.idx", b"")
    w("short-header.idx", good_i[:10])
    w("truncated.idx", good_i[:16 + 100 * 784 + 300])
    w("trailing.idx", good_i + b"\x00" * 1000)
    w("labels-190.idx", idx(0x08, [190], labels[:190]))
    w("images-float32.idx", idx(0x0D, [N, 28, 28], b"".join(struct.pack(">f", b / 255.0) for b in pix)))
    w("labels-int32.idx", idx(0x0C, [N], b"".join(struct.pack(">i", b) for b in labels)))
    w("labels-2d.idx", idx(0x08, [N, 1], labels))
    w("images-1d.idx", idx(0x08, [N * 784], pix))
    w("images-20x20.idx", idx(0x08, [N, 20, 20], bytes(N * 400)))
    w("zero-samples.idx", idx(0x08, [0, 28, 28], b""))
    w("zero-dim.idx", idx(0x08, [N, 0, 28], b""))
    w("huge-header.idx", idx(0x08, [0x7fffffff, 28, 28], pix[:784]))
    bad_lab = bytearray(labels)
    bad_lab[57] = 12
    w("label-12.idx", idx(0x08, [N], bytes(bad_lab)))
    gz = gzip.compress(good_i)
    w("truncated.idx.gz", gz[: len(gz) // 2])
    c = bytearray(gz)
    for i in range(len(c) // 2, len(c) // 2 + 64):
        c[i] ^= 0x5A
    w("corrupt.idx.gz", bytes(c))
    # ---- PNG ----
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    def png(width, height, depth, ctype, rows, extra=b""):
        raw = b"".join(b"\x00" + r for r in rows)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, ctype, 0, 0, 0))
                + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    d0 = pix[:784]  # first training digit
    rows = [d0[r * 28:(r + 1) * 28] for r in range(28)]
    gray = png(28, 28, 8, 0, rows)
    w("gray.png", gray)
    w("not-a-png.png", b"this is a text file, not a PNG\n")
    w("empty.png", b"")
    w("truncated.png", gray[: len(gray) * 2 // 3])
    bad = bytearray(gray)
    bad[-20] ^= 0xFF  # the last byte of IDAT's zlib stream (its Adler-32)
    w("corrupt-idat.png", bytes(bad))
    bad = bytearray(gray)
    bad[-13] ^= 0xFF  # IDAT's CRC field (IEND is the last 12 bytes)
    w("bad-crc.png", bytes(bad))
    w("gray16.png", png(28, 28, 16, 0, [b"".join(struct.pack(">H", v * 257) for v in r) for r in rows]))
    plte = chunk(b"PLTE", b"".join(bytes((i, i, i)) for i in range(256)))
    w("palette.png", png(28, 28, 8, 3, rows, plte))
    w("rgb.png", png(28, 28, 8, 2, [b"".join(bytes((v, v, v)) for v in r) for r in rows]))
    w("rgba.png", png(28, 28, 8, 6, [b"".join(bytes((v, v, v, 255)) for v in r) for r in rows]))
    w("gray-alpha.png", png(28, 28, 8, 4, [b"".join(bytes((v, 255)) for v in r) for r in rows]))
    w("small-20x20.png", png(20, 20, 8, 0, [bytes(20)] * 20))
    # IHDR claims 100000 x 100000 (but holds one row)
    w("huge-ihdr.png", png(100000, 100000, 8, 0, [bytes(100)]))
    w("zero-width.png", png(0, 28, 8, 0, [b""] * 28))
    # ---- sequences: format "csv" (label, then 4 timesteps x 2 features) ----
    rows = []
    for i in range(60):
        xs = [((i * 7 + j * 3) % 11) / 10 for j in range(8)]
        rows.append("%d," % (i % 3) + ",".join("%g" % v for v in xs))
    csv = lambda rs: ("\n".join(rs) + "\n").encode()
    w("seq-good.csv", csv(rows))
    w("seq-good.csv.gz", gzip.compress(csv(rows)))
    w("seq-crlf-header.csv", ("label,a,b,c,d,e,f,g,h\r\n" + "\r\n".join(rows) + "\r\n\r\n").encode())
    w("seq-short-row.csv", csv(rows[:5] + ["1,0.5,0.5"] + rows[5:]))             # line 6
    w("seq-nan.csv", csv(rows[:2] + ["0,1,2,3,nan,5,6,7,8"] + rows[2:]))          # line 3
    w("seq-text.csv", csv(rows[:3] + ["0,1,2,3,4,5,six,7,8"] + rows[3:]))         # line 4
    w("seq-neg-label.csv", csv(rows[:1] + ["-1,1,2,3,4,5,6,7,8"] + rows[1:]))     # line 2
    w("seq-label-5.csv", csv(rows[:9] + ["5,1,2,3,4,5,6,7,8"] + rows[9:]))        # 6 classes
    w("seq-empty.csv", b"")
    w("seq-binary.csv", bytes(range(256)) * 4)
    gz = gzip.compress(csv(rows * 20))
    w("seq-truncated.csv.gz", gz[: len(gz) // 2])
    # regression: the target is a fixed linear function of the values
    reg = []
    for i in range(200):
        xs = [((i * 13 + j * 5) % 17) / 8 - 1 for j in range(8)]
        reg.append("%.6f," % (0.5 + sum(0.1 * (j + 1) * v for j, v in enumerate(xs))) + ",".join("%g" % v for v in xs))
    w("seq-reg.csv", csv(reg))
    # ---- sequences: format "tokens" (label, then token ids) ----
    toks = ["%d %s" % (i % 2, " ".join(str((i * k) % 50 + 1) for k in range(i % 9))) for i in range(60)]
    w("tok-good.txt", csv(toks))
    w("tok-big-id.txt", csv(toks[:3] + ["1 4 16777216 2"] + toks[3:]))           # line 4
    w("tok-neg-id.txt", csv(toks[:1] + ["0 4, -2"] + toks[1:]))                  # line 2
    w("tok-frac-id.txt", csv(toks[:4] + ["1 4 2.5"] + toks[4:]))                 # line 5
    w("tok-empty.txt", b"\n\n")
else:
    import h5py, numpy as np, shutil
    data = open(model, "rb").read()
    w("truncated.h5", data[: len(data) // 2])
    w("text.h5", b"this is a text file named .h5\n")
    w("empty.h5", b"")
    with h5py.File(os.path.join(out, "not-a-model.h5"), "w") as f:
        f["data"] = np.arange(10, dtype=np.float32)
    def copy(name):
        p = os.path.join(out, name)
        shutil.copy(model, p)
        return h5py.File(p, "r+")
    with copy("wrong-kernel-shape.h5") as f:
        k = "model_weights/dense/dense/kernel:0"
        shape = f[k].shape
        del f[k]
        f[k] = np.zeros((shape[0], shape[1] // 2), dtype=np.float32)
    with copy("missing-bias.h5") as f:
        del f["model_weights/dense/dense/bias:0"]
    with copy("kernel-float64.h5") as f:
        k = "model_weights/dense_1/dense_1/kernel:0"
        a = f[k][()]
        del f[k]
        f[k] = a.astype(np.float64)
    with copy("bad-config-json.h5") as f:
        f.attrs["model_config"] = "{\"class_name\": \"Sequential\", "
    with copy("no-config.h5") as f:
        del f.attrs["model_config"]
    with copy("nan-weights.h5") as f:
        k = "model_weights/dense_1/dense_1/bias:0"
        a = f[k][()]
        a[0] = np.nan
        f[k][...] = a
    p = os.path.join(out, "weights-only-no-spec.h5")
    shutil.copy(wonly, p)
    with h5py.File(p, "r+") as f:
        del f["nnctl"].attrs["spec"]
EOF
if ! out=$("$PY" "$T/gen.py" "$NNCTL_DATA/mnist" "$T/c" 2>&1); then
    echo "bad-files: generating the corpus failed: $out" >&2
    exit 2
fi

# A tiny spec over the good 200-sample IDX pair; cases swap one file in.
cat >"$T/c/t.cfg" <<'EOF'
model: {
  name = "badfiles";
  input = { shape = [784]; };
  layers = (
    { type = "dense"; units = 16; activation = "relu"; },
    { type = "dense"; units = 10; activation = "softmax"; }
  );
};
data: {
  train = { images = "good-images.idx"; labels = "good-labels.idx"; };
  scale = 255.0;
  one_hot = true;
};
train: {
  loss = "categorical_crossentropy";
  optimizer = { type = "adam"; };
  metrics = ["accuracy"];
  epochs = 2;
  batch_size = 32;
  callbacks = { checkpoint = { path = "w.h5"; save_weights_only = true; }; };
};
EOF
tr_images() { echo train t.cfg -o "$T/run" --overwrite -q --threads "$THREADS" --set "data.train.images=\"$1\""; }
tr_labels() { echo train t.cfg -o "$T/run" --overwrite -q --threads "$THREADS" --set "data.train.labels=\"$1\""; }

# ---- the good files train, and give the model the other cases use ------------
expect "good IDX pair trains" 0 -- train t.cfg -o "$T/good" -q --threads "$THREADS"
MODEL="$T/good/model.h5"
if [ ! -f "$MODEL" ] || [ ! -f "$T/good/w.h5" ]; then
    bad "the good run leaves model.h5 and w.h5 (the other cases need them): stopping" "$(ls "$T/good" 2>&1)"
    nn_summary bad-files
    exit 1
fi
if ! out=$("$PY" "$T/gen.py" "$NNCTL_DATA/mnist" "$T/c" "$MODEL" "$T/good/w.h5" 2>&1); then
    echo "bad-files: generating the model corpus failed: $out" >&2
    exit 2
fi

# ---- IDX ---------------------------------------------------------------------
# shellcheck disable=SC2046  # word splitting of tr_images/tr_labels is wanted
{
expect "idx: wrong magic" 1 "magic.idx" "not an IDX file" "0x12345678" -- $(tr_images magic.idx)
expect "idx: a PNG named .idx" 1 "magic-png.idx" "not an IDX file" -- $(tr_images magic-png.idx)
expect "idx: empty file" 1 "empty.idx" "not an IDX file" -- $(tr_images empty.idx)
expect "idx: header cut short (10 bytes)" 1 "short-header.idx" "truncated" -- $(tr_images short-header.idx)
expect "idx: data truncated (100.4 of 200 images)" 1 "truncated.idx" "truncated" "200x28x28" -- $(tr_images truncated.idx)
expect "idx: trailing bytes after the data" 1 "trailing.idx" "1000 more" -- $(tr_images trailing.idx)
expect "idx: gzip stream cut in half" 1 "truncated.idx.gz" "truncated" -- $(tr_images truncated.idx.gz)
expect "idx: gzip stream corrupted" 1 "corrupt.idx.gz" "data check" -- $(tr_images corrupt.idx.gz)
expect "idx: 200 images, 190 labels" 1 "good-images.idx" "labels-190.idx" "200" "190" -- $(tr_labels labels-190.idx)
expect "idx: float32 images (type 0x0D)" 1 "images-float32.idx" "not supported" -- $(tr_images images-float32.idx)
expect "idx: int32 labels (type 0x0C)" 1 "labels-int32.idx" "not supported" -- $(tr_labels labels-int32.idx)
expect "idx: labels with 2 dimensions" 1 "labels-2d.idx" "1 dimension" -- $(tr_labels labels-2d.idx)
expect "idx: images with 1 dimension" 1 "images-1d.idx" "2 dimensions" -- $(tr_images images-1d.idx)
expect "idx: zero samples" 1 "zero-samples.idx" "no samples" -- $(tr_images zero-samples.idx)
expect "idx: a zero dimension" 1 "zero-dim.idx" "is 0" -- $(tr_images zero-dim.idx)
expect "idx: a directory as the images file" 1 "adir.idx" "directory" -- $(mkdir -p "$T/c/adir.idx"; tr_images adir.idx)
expect "idx: header claims 2^31-1 images, holds 1 (names the file and the size)" 1 "huge-header.idx" "2147483647x28x28" -- $(tr_images huge-header.idx)
expect "idx: 20x20 images for a 784-input model (names the file)" 2 "images-20x20.idx" "400" "784" -- $(tr_images images-20x20.idx)
expect "idx: label 12 in 10-class data (names the labels file)" 2 "label-12.idx" "12" -- $(tr_labels label-12.idx)
}

# ---- sequences: csv and tokens ------------------------------------------------
cat >"$T/c/seq.cfg" <<'EOF'
model: {
  name = "seqfiles";
  input = { shape = [4, 2]; };
  layers = (
    { type = "flatten"; },
    { type = "dense"; units = 3; activation = "softmax"; }
  );
};
data: {
  train = { format = "csv"; path = "seq-good.csv"; timesteps = 4; features = 2; };
  validation_split = 0.2;
};
train: {
  loss = "sparse_categorical_crossentropy";
  optimizer = { type = "adam"; };
  metrics = ["accuracy"];
  epochs = 2;
  batch_size = 16;
};
EOF
cat >"$T/c/reg.cfg" <<'EOF'
model: {
  name = "seqreg";
  input = { shape = [4, 2]; };
  layers = ( { type = "flatten"; }, { type = "dense"; units = 1; } );
};
data: {
  train = { format = "csv"; path = "seq-reg.csv"; timesteps = 4; features = 2; label = "value"; };
  test = { format = "csv"; path = "seq-reg.csv"; timesteps = 4; features = 2; label = "value"; };
  validation_split = 0.2;
  train_subset = 150;
};
train: {
  loss = "mse";
  optimizer = { type = "adam"; lr = 0.05; };
  metrics = ["mae"];
  epochs = 40;
  batch_size = 16;
};
EOF
cat >"$T/c/tok.cfg" <<'EOF'
model: {
  name = "tokfiles";
  input = { shape = [6]; };
  layers = (
    { type = "dense"; units = 2; activation = "softmax"; }
  );
};
data: {
  train = { format = "tokens"; path = "tok-good.txt"; maxlen = 6; };
  scale = 255.0;
};
train: {
  loss = "sparse_categorical_crossentropy";
  optimizer = { type = "adam"; };
  epochs = 1;
  batch_size = 16;
};
EOF
tr_csv() { echo train seq.cfg -o "$T/run" --overwrite -q --threads "$THREADS" --set "data.train.path=\"$1\""; }
tr_tok() { echo train tok.cfg -o "$T/run" --overwrite -q --threads "$THREADS" --set "data.train.path=\"$1\""; }
# shellcheck disable=SC2046  # word splitting of tr_csv/tr_tok is wanted
{
expect "csv: a good file trains" 0 -- $(tr_csv seq-good.csv)
expect "csv: gzipped trains" 0 -- $(tr_csv seq-good.csv.gz)
expect "csv: CRLF, a header line (header = true), a blank last line" 0 -- $(tr_csv seq-crlf-header.csv) --set data.train.header=true
expect "csv: a header line without header = true (says so)" 1 "seq-crlf-header.csv:1" "header = true" -- $(tr_csv seq-crlf-header.csv)
expect "csv: a row of 3 fields (names line 6)" 1 "seq-short-row.csv:6" "expected 9 comma-separated fields" "got 3" -- $(tr_csv seq-short-row.csv)
expect "csv: a NaN (names line 3 and the field)" 1 "seq-nan.csv:3" "field 5 (timestep 2 of 4, feature 2 of 2)" "finite" -- $(tr_csv seq-nan.csv)
expect "csv: a word among the numbers" 1 "seq-text.csv:4" "expected a number" '"six"' -- $(tr_csv seq-text.csv)
expect "csv: a negative class label" 1 "seq-neg-label.csv:2" "expected a class label (an integer >= 0)" -- $(tr_csv seq-neg-label.csv)
expect "csv: label 5 for 3 output units (names the file)" 2 "seq-label-5.csv" "labels up to 5" -- $(tr_csv seq-label-5.csv)
expect "csv: an empty file" 1 "seq-empty.csv" "empty" -- $(tr_csv seq-empty.csv)
expect "csv: binary junk" 1 "seq-binary.csv:1" "expected" -- $(tr_csv seq-binary.csv)
expect "csv: gzip stream cut in half" 1 "seq-truncated.csv.gz" -- $(tr_csv seq-truncated.csv.gz)
expect "csv: a directory as the file" 1 "adir.csv" "directory" -- $(mkdir -p "$T/c/adir.csv"; tr_csv adir.csv)
expect "csv: a missing file names the path key" 1 "data.train.path" "'no-such.csv' not found" -- $(tr_csv no-such.csv)
expect "csv: 4x2 samples for model.input.shape [5, 2] (names the file)" 2 "seq-good.csv" "4x2 = 8 values" "10" -- $(tr_csv seq-good.csv) --set "model.input.shape=[5, 2]"
expect "csv: timesteps that do not match the rows" 1 "seq-good.csv:1" "expected 11 comma-separated fields" -- $(tr_csv seq-good.csv) --set data.train.timesteps=5 --set "model.input.shape=[5, 2]"
expect "csv: regression targets train with mse" 0 -- train reg.cfg -o "$T/reg" -q --threads "$THREADS"
if expect "csv: regression eval" 0 -- eval "$T/reg/model.h5" --json --threads "$THREADS"; then
    if "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); r = r[0] if isinstance(r, list) else r; assert r["loss"] < 1e-3, r' "$T/out" 2>/dev/null; then
        ok "csv: regression fits (test mse < 1e-3)"
    else
        bad "csv: regression fits (test mse < 1e-3)" "$(head -c 300 "$T/out")"
    fi
fi
expect "tokens: a good file trains (data.scale ignored)" 0 -- $(tr_tok tok-good.txt)
expect "tokens: id 2^24 (names line 4)" 1 "tok-big-id.txt:4" "below 16777216" -- $(tr_tok tok-big-id.txt)
expect "tokens: a negative id" 1 "tok-neg-id.txt:2" "field 3 (token 2)" "expected a token id" -- $(tr_tok tok-neg-id.txt)
expect "tokens: a fractional id" 1 "tok-frac-id.txt:5" '"2.5"' -- $(tr_tok tok-frac-id.txt)
expect "tokens: only blank lines" 1 "tok-empty.txt" "no samples" -- $(tr_tok tok-empty.txt)
expect "tokens: padding misspelt" 2 "data.train.padding" 'did you mean "post"' -- $(tr_tok tok-good.txt) --set 'data.train.padding="pots"'
}

# ---- PNG (predict) -------------------------------------------------------------
# same_as_gray NAME FILE: FILE predicts exactly what gray.png predicts
expect "png: 8-bit gray 28x28 predicts" 0 -- predict "$MODEL" gray.png --json --top-k 10 --threads "$THREADS" &&
    cp "$T/out" "$T/gray.json"
same_as_gray() {
    if "$PY" -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for e in a + b:
    e.pop("input")
assert a == b, (a, b)' "$T/gray.json" "$T/out" 2>/dev/null; then ok "$1: same probabilities as the gray PNG"; else
        bad "$1: same probabilities as the gray PNG" "$(head -c 300 "$T/out")"
    fi
}
expect "png: palette (gray PLTE) works" 0 -- predict "$MODEL" palette.png --json --top-k 10 --threads "$THREADS" &&
    same_as_gray "png: palette"
expect "png: RGB (r=g=b) works" 0 -- predict "$MODEL" rgb.png --json --top-k 10 --threads "$THREADS" &&
    same_as_gray "png: RGB"
expect "png: RGBA works with a note about the alpha channel" 0 "rgba.png" "alpha" -- predict "$MODEL" rgba.png --json --top-k 10 --threads "$THREADS" &&
    same_as_gray "png: RGBA"
expect "png: gray+alpha works with a note" 0 "gray-alpha.png" "alpha" -- predict "$MODEL" gray-alpha.png --json --top-k 10 --threads "$THREADS" &&
    same_as_gray "png: gray+alpha"
expect "png: 16-bit gray refused clearly" 1 "gray16.png" "16-bit" -- predict "$MODEL" gray16.png --threads "$THREADS"
expect "png: wrong size 20x20 (exit 2, --resize)" 2 "small-20x20.png" "20x20" "--resize" -- predict "$MODEL" small-20x20.png --threads "$THREADS"
expect "png: truncated" 1 "truncated.png" "truncated" -- predict "$MODEL" truncated.png --threads "$THREADS"
expect "png: corrupt IDAT data" 1 "corrupt-idat.png" "IDAT" -- predict "$MODEL" corrupt-idat.png --threads "$THREADS"
expect "png: bad IDAT CRC" 1 "bad-crc.png" "CRC" -- predict "$MODEL" bad-crc.png --threads "$THREADS"
expect "png: IHDR claims 100000x100000" 1 "huge-ihdr.png" "100000x100000" -- predict "$MODEL" huge-ihdr.png --threads "$THREADS"
expect "png: zero width" 1 "zero-width.png" "IHDR" -- predict "$MODEL" zero-width.png --threads "$THREADS"
expect "png: a text file named .png (says not a PNG)" 1 "not-a-png.png" "not a PNG" -- predict "$MODEL" not-a-png.png --threads "$THREADS"
expect "png: an empty .png (says not a PNG)" 1 "empty.png" "not a PNG" -- predict "$MODEL" empty.png --threads "$THREADS"
expect "png: one bad file among good ones fails the call" 1 "truncated.png" -- predict "$MODEL" gray.png truncated.png --threads "$THREADS"

# ---- model files: eval, summary, predict, train --resume ----------------------------
for cmd in eval summary predict resume; do
    case $cmd in
    eval) args=(eval FILE --json --data train --threads "$THREADS") ;;
    summary) args=(summary FILE) ;;
    predict) args=(predict FILE gray.png --threads "$THREADS") ;;
    resume) args=(train t.cfg -o "$T/resume" -q --threads "$THREADS" --resume FILE) ;;
    esac
    m() { # FILE -> args with FILE in place
        local a
        for a in "${args[@]}"; do [ "$a" = FILE ] && echo "$1" || echo "$a"; done
    }
    mapfile -t a < <(m truncated.h5)
    expect "h5 $cmd: truncated model.h5" 1 "truncated.h5" "truncated" -- "${a[@]}"
    mapfile -t a < <(m text.h5)
    expect "h5 $cmd: a text file named .h5" 1 "text.h5" "not an HDF5 file" -- "${a[@]}"
    mapfile -t a < <(m empty.h5)
    expect "h5 $cmd: an empty .h5" 1 "empty.h5" "not an HDF5 file" -- "${a[@]}"
    mapfile -t a < <(m not-a-model.h5)
    expect "h5 $cmd: HDF5 with one dataset, not a model" 1 "not-a-model.h5" "not a Keras model" -- "${a[@]}"
    mapfile -t a < <(m no-config.h5)
    expect "h5 $cmd: model_config attribute removed" 1 "no-config.h5" "model_config" -- "${a[@]}"
    mapfile -t a < <(m wrong-kernel-shape.h5)
    expect "h5 $cmd: dense kernel (784, 8) where (784, 16) belongs" 1 "wrong-kernel-shape.h5" "dense" "(784, 8)" "(784, 16)" -- "${a[@]}"
    mapfile -t a < <(m missing-bias.h5)
    expect "h5 $cmd: a listed weight dataset deleted" 1 "missing-bias.h5" "bias" -- "${a[@]}"
    if [ $cmd != resume ]; then
        mapfile -t a < <(m weights-only-no-spec.h5)
        expect "h5 $cmd: weights-only checkpoint without nnctl's spec (exit 2, asks for --spec)" 2 "weights-only-no-spec.h5" "--spec" -- "${a[@]}"
    fi
    mapfile -t a < <(m adir.h5)
    mkdir -p "$T/c/adir.h5"
    # summary takes a spec or a model: a directory is a usage error there
    expect "h5 $cmd: a directory named .h5" 1 "adir.h5" "directory" -- "${a[@]}"
done
expect "h5 eval: the reference: the trained model on its training data" 0 -- eval "$MODEL" --json --data train --threads "$THREADS"
cp "$T/out" "$T/c/ref-eval.json"
expect "h5 eval: the weights-only checkpoint with --spec works" 0 -- eval weights-only-no-spec.h5 --spec t.cfg --json --data train --threads "$THREADS"
cp "$T/out" "$T/c/wonly-eval.json"
# same weights (the last epoch's checkpoint and model.h5), so the same numbers
value "h5 eval: the weights-only checkpoint holds model.h5's weights and evaluates to its loss and accuracy" '
import json, sys, h5py
def ws(p):
    with h5py.File(p, "r") as f:
        g = f["model_weights"] if "model_weights" in f else f
        out = {}
        g.visititems(lambda k, v: out.__setitem__(k, v[()])
                     if isinstance(v, h5py.Dataset) and not k.startswith("nnctl/") else None)
        return out
a, b = ws(sys.argv[1]), ws(sys.argv[2])
assert a and a.keys() == b.keys(), (sorted(a), sorted(b))
assert all((a[k] == b[k]).all() for k in a), "the weights differ"
r, w = json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
for k in ("loss", "accuracy"):
    assert abs(r[k] - w[k]) <= 1e-6 * abs(r[k]) + 1e-7, (k, r[k], w[k])
print("loss %.6f" % w["loss"])' "$MODEL" weights-only-no-spec.h5 ref-eval.json wonly-eval.json
expect "h5 eval: float64 kernel is converted (works)" 0 -- eval kernel-float64.h5 --json --data train --threads "$THREADS"
cp "$T/out" "$T/c/f64-eval.json"
# the float64 kernel holds the same values (float32 ones, widened): the
# same loss and accuracy as the float32 file
value "h5 eval: the float64 kernel evaluates to the float32 model's loss and accuracy" '
import json, sys
r, d = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k in ("loss", "accuracy"):
    assert abs(r[k] - d[k]) <= 1e-6 * abs(r[k]) + 1e-7, (k, r[k], d[k])' ref-eval.json f64-eval.json

# ---- Keras-layout model files (written here with h5py, as Keras 1/2/3 write them) ----
cat >"$T/genk.py" <<'EOF'
# argv: OUT_DIR. A good tf.keras 2 file (Dense 4-3-2, weight names
# "dense/kernel:0") and variants with one thing wrong or unsupported.
import copy, json, os, sys
import h5py, numpy as np
out = sys.argv[1]
r = np.random.default_rng(3)
W = {"dense": [r.normal(size=(4, 3)), r.normal(size=3)],
     "dense_1": [r.normal(size=(3, 2)), r.normal(size=2)]}
def layer(cls, name, **cfg):
    c = {"name": name, "trainable": True, "dtype": "float32"}
    c.update(cfg)
    return {"class_name": cls, "config": c}
SEQ = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
    layer("InputLayer", "input_1", batch_input_shape=[None, 4]),
    layer("Dense", "dense", units=3, activation="relu", use_bias=True),
    layer("Dense", "dense_1", units=2, activation="softmax", use_bias=True)]}}
TRAIN = {"loss": "categorical_crossentropy", "metrics": ["accuracy"],
         "optimizer_config": {"class_name": "Adam", "config": {"learning_rate": 0.001}}}
def save(name, config=SEQ, weights=W, version="2.15.0", train=TRAIN, raw=None):
    with h5py.File(os.path.join(out, name), "w") as f:
        f.attrs["model_config"] = raw if raw is not None else json.dumps(config)
        f.attrs["keras_version"] = version
        f.attrs["backend"] = "tensorflow"
        if train:
            f.attrs["training_config"] = json.dumps(train)
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([n.encode() for n in weights])
        for n, ws in weights.items():
            lg = g.create_group(n)
            names = ["%s/%s:0" % (n, k) for k in ("kernel", "bias")][:len(ws)]
            lg.attrs["weight_names"] = np.array([k.encode() for k in names])
            for k, a in zip(names, ws):
                lg[k] = np.asarray(a, np.float32)
def seq(i, new):  # SEQ with layer i (0: the input) replaced
    c = copy.deepcopy(SEQ)
    c["config"]["layers"][i] = new
    return c
def fn(layers, inputs=("input_1",), outputs=("out",)):
    return {"class_name": "Functional", "config": {"name": "fn", "layers": layers,
            "input_layers": [[n, 0, 0] for n in inputs], "output_layers": [[n, 0, 0] for n in outputs]}}
def node(l, *srcs, calls=1):
    l = dict(l)
    l["name"] = l["config"]["name"]
    l["inbound_nodes"] = [[[s, 0, 0, {}] for s in srcs]] * calls
    return l
IN = node(layer("InputLayer", "input_1", batch_input_shape=[None, 4]))
IN["inbound_nodes"] = []
save("k-good.h5")
save("k-uncompiled.h5", train=None)
save("k-unknown-class.h5", seq(1, layer("ConvLSTM2D", "ln", filters=2, kernel_size=[3, 3])), {"dense_1": W["dense_1"]})
save("k-missing-units.h5", seq(1, layer("Dense", "dense", activation="relu")))
save("k-bad-json.h5", raw='{"class_name": "Sequential", "config": {"layers": [')
save("k-not-model-json.h5", raw="[1, 2, 3]")
save("k-nan-json.h5", raw='{"class_name": "Sequential", "config": {"layers": [{"class_name": "Dropout", "config": {"name": "d", "rate": NaN}}]}}')
save("k-class-not-string.h5", seq(1, {"class_name": 5, "config": {"name": "x"}}))
save("k-kernel-shape.h5", weights={"dense": [r.normal(size=(4, 5)), r.normal(size=3)], "dense_1": W["dense_1"]})
save("k-missing-layer.h5", weights={"dense": W["dense"]})
save("k-none-dim.h5", seq(0, layer("InputLayer", "input_1", batch_input_shape=[None, None, 4])))
save("k-too-many-axes.h5", seq(0, layer("InputLayer", "input_1", batch_input_shape=[None, 2, 2, 2, 2, 2, 2])))
save("k-hard-sigmoid-k3.h5", seq(1, layer("Dense", "dense", units=3, activation="hard_sigmoid")), version="3.3.3")
save("k-odd-activation.h5", seq(1, layer("Dense", "dense", units=3, activation="log_softmax")))
save("k-from-logits.h5", train=dict(TRAIN, loss={"class_name": "CategoricalCrossentropy",
                                                   "config": {"from_logits": True}}))
conv = lambda **kw: layer("Conv2D", "conv", filters=2, kernel_size=[3, 3], **kw)
img = layer("InputLayer", "input_1", batch_input_shape=[None, 6, 6, 1])
save("k-channels-first.h5", {"class_name": "Sequential", "config": {"layers": [img, conv(data_format="channels_first")]}}, {})
save("k-causal.h5", {"class_name": "Sequential", "config": {"layers": [
    layer("InputLayer", "input_1", batch_input_shape=[None, 6, 2]),
    layer("Conv1D", "conv", filters=2, kernel_size=3, padding="causal")]}}, {})
seqin = layer("InputLayer", "input_1", batch_input_shape=[None, 5, 4])
def rnn(cls="LSTM", **kw):
    return layer(cls, "rnn", units=3, **kw)
for name, l in (("k-stateful.h5", rnn(stateful=True)), ("k-return-state.h5", rnn(return_state=True)),
                ("k-bidir-none.h5", layer("Bidirectional", "bi", merge_mode=None, layer=rnn())),
                ("k-td-conv.h5", layer("TimeDistributed", "td", layer=conv())),
                ("k-bn-axis.h5", layer("BatchNormalization", "bn", axis=1)),
                ("k-mask-zero.h5", layer("Embedding", "emb", input_dim=10, output_dim=2, mask_zero=True))):
    save(name, {"class_name": "Sequential", "config": {"layers": [seqin, l]}}, {})
save("k-two-inputs.h5", fn([IN, node(layer("InputLayer", "input_2", batch_input_shape=[None, 4])),
                            node(layer("Add", "out"), "input_1", "input_2")], inputs=("input_1", "input_2")), {})
save("k-unlisted-input.h5", fn([IN, node(layer("InputLayer", "input_2", batch_input_shape=[None, 4])),
                                node(layer("Add", "out"), "input_1", "input_2")], inputs=("input_1",)), {})
save("k-shared.h5", fn([IN, node(layer("Dense", "out", units=4), "input_1", calls=2)]), {})
save("k-ghost-input.h5", fn([IN, node(layer("Dense", "out", units=2), "ghost")]), {})
save("k-nested.h5", fn([IN, node({"class_name": "Sequential", "config": {"name": "inner", "layers": []}}, "input_1"),
                        node(layer("Dense", "out", units=2), "inner")]), {})
# Keras's save_weights layout: layer_names on the root, no model_config
with h5py.File(os.path.join(out, "k-weights-only.h5"), "w") as f:
    f.attrs["layer_names"] = np.array([b"dense", b"dense_1"])
    for n, ws in W.items():
        g = f.create_group(n)
        g.attrs["weight_names"] = np.array([("%s/%s:0" % (n, k)).encode() for k in ("kernel", "bias")])
        for k, a in zip(("kernel", "bias"), ws):
            g["%s/%s:0" % (n, k)] = np.asarray(a, np.float32)
data = open(os.path.join(out, "k-good.h5"), "rb").read()
open(os.path.join(out, "k-truncated.h5"), "wb").write(data[: len(data) // 2])
import zipfile  # Keras 3's native format: a zip, not HDF5
with zipfile.ZipFile(os.path.join(out, "k-archive.keras"), "w") as z:
    z.writestr("config.json", json.dumps(SEQ))
np.save(os.path.join(out, "k-in.npy"), r.normal(size=(5, 4)).astype(np.float32))
np.savez(os.path.join(out, "k-weights.npz"), **{"%s_%d" % (n, i): np.asarray(a, np.float32)
                                               for n, ws in W.items() for i, a in enumerate(ws)})
np.save(os.path.join(out, "k-x.npy"), r.normal(size=(40, 4)).astype(np.float32))
np.save(os.path.join(out, "k-y.npy"), r.integers(0, 2, size=40).astype(np.int64))
with open(os.path.join(out, "k-data.cfg"), "w") as f:
    f.write('data: { test = { format = "npy"; x = "k-x.npy"; y = "k-y.npy"; }; one_hot = true; };\n')
open(os.path.join(out, "unknown.json"), "w").write(json.dumps(seq(1, layer("ConvLSTM2D", "ln", filters=2, kernel_size=[3, 3]))))
open(os.path.join(out, "good.json"), "w").write(json.dumps(SEQ))
for name, model in (("fj-unknown.cfg", 'from_json = "unknown.json";'),
                    ("fj-missing.cfg", 'from_json = "no-such.json";'),
                    ("fj-both.cfg", 'from_json = "good.json"; input = { shape = [4]; };'),
                    ("fj-good.cfg", 'from_json = "good.json";')):
    open(os.path.join(out, name), "w").write(
        "model: { %s };\ndata: { train = { format = \"npy\"; x = \"k-x.npy\"; y = \"k-y.npy\"; }; };\n"
        "train: { loss = \"sparse_categorical_crossentropy\"; optimizer = { type = \"adam\"; lr = 0.05; }; "
        "epochs = 5; };\n" % model)
for name, init in (("if-missing.cfg", "no-such.h5"), ("if-nomatch.cfg", "k-good.h5")):
    open(os.path.join(out, name), "w").write(
        "model: { input = { shape = [4]; }; layers = ( { type = \"dense\"; name = \"other\"; units = 2; "
        "activation = \"softmax\"; } ); };\n"
        "data: { train = { format = \"npy\"; x = \"k-x.npy\"; y = \"k-y.npy\"; }; };\n"
        "train: { loss = \"sparse_categorical_crossentropy\"; optimizer = \"adam\"; init_from = \"%s\"; };\n" % init)
EOF
if ! out=$("$PY" "$T/genk.py" "$T/c" 2>&1); then
    echo "bad-files: generating the Keras corpus failed: $out" >&2
    exit 2
fi
{
kp() { echo predict "$1" k-in.npy --threads "$THREADS"; }
# shellcheck disable=SC2046  # word splitting of kp is wanted
expect "keras: a good tf.keras 2 file predicts" 0 -- predict k-good.h5 k-in.npy -o k-out.npy --threads "$THREADS"
# softmax(relu(x W0 + b0) W1 + b1), computed here from the weights written
value "keras: the tf.keras 2 file predicts softmax(relu(x W0 + b0) W1 + b1) (1e-5)" '
import numpy as np
w = np.load("k-weights.npz")
x = np.load("k-in.npy").astype(np.float64)
h = np.maximum(x @ w["dense_0"] + w["dense_1"], 0)
z = h @ w["dense_1_0"] + w["dense_1_1"]
p = np.exp(z - z.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)
got = np.load("k-out.npy")
assert got.shape == p.shape and np.allclose(got, p, rtol=1e-5, atol=1e-6), (got, p)' 
expect "keras: a good tf.keras 2 file summarizes" 0 -- summary k-good.h5
expect "keras: eval with the data from --spec" 0 -- eval k-good.h5 --spec k-data.cfg --json --threads "$THREADS"
expect "keras: eval without a spec asks for the data (exit 2)" 2 "k-good.h5" "names no data" "--spec" -- eval k-good.h5
expect "keras: eval of an uncompiled file asks for a loss (exit 2)" 2 "k-uncompiled.h5" "training_config" -- eval k-uncompiled.h5 --spec k-data.cfg
expect "keras: from_logits loss: predict works" 0 -- $(kp k-from-logits.h5)
expect "keras: from_logits loss: eval says why not (exit 2)" 2 "from_logits" -- eval k-from-logits.h5 --spec k-data.cfg
expect "keras: unknown layer class (names layer and class)" 1 "k-unknown-class.h5" "layer 'ln'" "ConvLSTM2D" -- $(kp k-unknown-class.h5)
expect "keras: Dense without units" 1 "layer 'dense' (Dense)" 'missing key "units"' -- $(kp k-missing-units.h5)
expect "keras: model_config cut short" 1 "k-bad-json.h5" "not valid JSON" -- $(kp k-bad-json.h5)
expect "keras: model_config not an object" 1 "k-not-model-json.h5" "not a Keras model" -- $(kp k-not-model-json.h5)
expect "keras: NaN in model_config" 1 "k-nan-json.h5" "not valid JSON" -- $(kp k-nan-json.h5)
expect "keras: class_name not a string" 1 "k-class-not-string.h5" "class_name" -- $(kp k-class-not-string.h5)
expect "keras: kernel shape against units" 1 "k-kernel-shape.h5" "dense" "(4, 5)" "(4, 3)" -- $(kp k-kernel-shape.h5)
expect "keras: a layer's weights missing" 1 "k-missing-layer.h5" "no weights for layer 'dense_1'" -- $(kp k-missing-layer.h5)
# a None length loads; predict wants the steps axis: (N, steps, 4), not (N, 4)
expect "keras: a None input dimension takes (N, steps, 4) arrays" 2 "k-in.npy" "None" -- $(kp k-none-dim.h5)
expect "keras: 6 input axes" 1 "k-too-many-axes.h5" "at most" -- $(kp k-too-many-axes.h5)
expect "keras: Keras 3 hard_sigmoid (differs from Keras 2's)" 1 "layer 'dense'" "hard_sigmoid" -- $(kp k-hard-sigmoid-k3.h5)
expect "keras: an activation nnctl lacks" 1 "layer 'dense'" "log_softmax" -- $(kp k-odd-activation.h5)
expect "keras: channels_first" 1 "layer 'conv' (Conv2D)" "channels_first" -- summary k-channels-first.h5
expect "keras: causal padding" 1 "layer 'conv' (Conv1D)" "causal" -- summary k-causal.h5
expect "keras: stateful LSTM" 1 "layer 'rnn' (LSTM)" "stateful" -- summary k-stateful.h5
expect "keras: return_state" 1 "layer 'rnn' (LSTM)" "return_state" -- summary k-return-state.h5
expect "keras: Bidirectional merge_mode None" 1 "layer 'bi'" "merge_mode" -- summary k-bidir-none.h5
expect "keras: TimeDistributed(Conv2D)" 1 "layer 'td'" "Dense only" -- summary k-td-conv.h5
expect "keras: BatchNormalization over axis 1" 1 "layer 'bn'" "axis 1" -- summary k-bn-axis.h5
expect "keras: Embedding mask_zero over 2-D ids (a mask per step only)" 2 "layer 'emb'" "mask_zero" -- summary k-mask-zero.h5
expect "keras: two inputs load" 0 -- summary k-two-inputs.h5
expect "keras: an InputLayer input_layers does not list" 1 "k-unlisted-input.h5" "input_2" "input_layers does not list" -- summary k-unlisted-input.h5
expect "keras: a shared layer" 1 "layer 'out'" "shared" -- summary k-shared.h5
expect "keras: input from a layer not in the model" 1 "layer 'out'" "'ghost'" -- summary k-ghost-input.h5
expect "keras: an empty nested model" 1 "nested model (inner)" "no layers" -- summary k-nested.h5
expect "keras: save_weights file without a spec (exit 2)" 2 "k-weights-only.h5" "--spec" -- $(kp k-weights-only.h5)
expect "keras: truncated file" 1 "k-truncated.h5" "truncated" -- $(kp k-truncated.h5)
expect "keras: a Keras 3 .keras archive (says to save .h5)" 1 "k-archive.keras" "zip" "x.h5" -- summary k-archive.keras
expect "from_json: an unknown layer class (names the spec key)" 2 "fj-unknown.cfg:1" "model.from_json" "ConvLSTM2D" -- summary fj-unknown.cfg
expect "from_json: a missing file" 2 "fj-missing.cfg:1" "no-such.json" -- summary fj-missing.cfg
expect "from_json: with input too" 2 "fj-both.cfg:1" "one or the other" -- train fj-both.cfg -o "$T/fj" -q
expect "from_json: a good file trains" 0 -- train fj-good.cfg -o "$T/fj" -q --threads "$THREADS"
# the model trained is the JSON's (layers, shapes, activations), and it learned
value "from_json: the trained model is the JSON's Dense(3, relu) -> Dense(2, softmax), and its loss fell" '
import csv, json, sys, h5py
with h5py.File(sys.argv[1] + "/model.h5", "r") as f:
    cfg = json.loads(f.attrs["model_config"])
    shapes = {k: f["model_weights"][k].shape for k in ("dense/dense/kernel:0", "dense_1/dense_1/kernel:0")}
layers = [(l["class_name"], l["config"].get("units"), l["config"].get("activation"))
          for l in cfg["config"]["layers"] if l["class_name"] != "InputLayer"]
assert layers == [("Dense", 3, "relu"), ("Dense", 2, "softmax")], layers
assert shapes == {"dense/dense/kernel:0": (4, 3), "dense_1/dense_1/kernel:0": (3, 2)}, shapes
rows = list(csv.DictReader(open(sys.argv[1] + "/history.csv")))
assert float(rows[-1]["loss"]) < float(rows[0]["loss"]), [r["loss"] for r in rows]' "$T/fj"
expect "init_from: a missing file" 1 "train.init_from" "no-such.h5" -- train if-missing.cfg -o "$T/if" -q --threads "$THREADS"
expect "init_from: no layer in common (exit 2)" 2 "no layer of the model matches" "dense, dense_1" -- train if-nomatch.cfg -o "$T/if" -q --threads "$THREADS"
}

nn_summary bad-files
