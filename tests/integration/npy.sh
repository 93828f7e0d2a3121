#!/usr/bin/env bash
# NumPy arrays in and out, end to end, on data this script generates:
# format = "npy" training (class labels and regression targets), `predict -o
# out.npy|.h5|.csv` of the model's outputs, `predict --layer` activations,
# and the errors bad .npy files give.
#
#   NNCTL=build/nnctl tests/integration/npy.sh
#
# Expected values are computed independently, in numpy, from the weights
# read out of model.h5 with h5py (relative to the largest value): a linear
# model's outputs are x @ W + b (x rounded to float32, as nnctl stores it), a
# hidden layer's activations relu(x @ W1 + b1), a classifier's probabilities
# softmax(relu(x @ W1 + b1) @ W2 + b2); nnctl must agree to 1e-5 (relative).
# The tasks are easy (an argmax of a linear map, a linear target), so a
# working trainer gets far above chance in a few epochs. Needs
# /usr/bin/python3 with numpy and h5py. About 5 s on 2 cores.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nn_abs_nnctl
nn_need_python npy numpy h5py
nn_data_workdir npy

$PY - "$W" <<'PY'
import sys, numpy as np
w = sys.argv[1]
r = np.random.default_rng(5)
# classes: the argmax of a fixed linear map of 4 features (3 classes)
A = r.normal(size=(4, 3))
for name, n in (("cls_train", 900), ("cls_test", 300)):
    x = r.normal(size=(n, 4)).astype(np.float32)
    np.save(f"{w}/{name}_x.npy", x)
    np.save(f"{w}/{name}_y.npy", np.argmax(x @ A, axis=1).astype(np.int64))
# regression: a linear target of 3 features, float64 samples, float32 targets
c, b = np.array([1.5, -2.0, 0.5]), 0.25
for name, n in (("reg_train", 900), ("reg_test", 300)):
    x = r.normal(size=(n, 3))
    np.save(f"{w}/{name}_x.npy", x)
    np.save(f"{w}/{name}_y.npy", (x @ c + b).astype(np.float32))
# uint8 "images" (8 values): is the first half brighter than the second?
x = r.integers(0, 256, size=(600, 8), dtype=np.uint8)
np.save(f"{w}/u8_x.npy", x)
np.save(f"{w}/u8_y.npy", (x[:, :4].sum(1) > x[:, 4:].sum(1)).astype(np.uint8))
# inputs to predict on: two batches of different sizes, one sample alone,
# and the same 12 samples as an IDX file (uint8, scaled by data.scale)
x = r.normal(size=(12, 4)).astype(np.float32)
np.save(f"{w}/in_a.npy", x[:5])
np.save(f"{w}/in_b.npy", x[5:].astype(np.float64))
np.save(f"{w}/in_one.npy", x[0])
u = r.integers(0, 256, size=(12, 4), dtype=np.uint8)
with open(f"{w}/in.idx", "wb") as f:
    f.write(bytes([0, 0, 8, 2]) + (12).to_bytes(4, "big") + (4).to_bytes(4, "big") + u.tobytes())
np.save(f"{w}/in_u.npy", u)
# bad files
good = open(f"{w}/in_a.npy", "rb").read()
open(f"{w}/bad_trunc.npy", "wb").write(good[:-3])
np.save(f"{w}/bad_fortran.npy", np.asfortranarray(np.ones((3, 4), np.float32)))
np.save(f"{w}/bad_be.npy", np.ones((3, 4), ">f4"))
np.save(f"{w}/bad_shape.npy", np.ones((3, 5), np.float32))
np.save(f"{w}/bad_i2.npy", np.ones((3, 4), np.int16))
x = np.ones((40, 4), np.float32); x[37, 2] = np.nan
np.save(f"{w}/bad_nan.npy", x)
# a header that claims 9 rows where 5 are stored (same header length)
open(f"{w}/bad_lies.npy", "wb").write(good.replace(b"(5, 4)", b"(9, 4)", 1))
np.savez(f"{w}/bad.npz", x=np.ones((3, 4), np.float32))
open(f"{w}/bad_text.npy", "w").write("0.5,1.5,2.5,3.5\n")
np.save(f"{w}/bad_neg_y.npy", np.array([0, 1, -1] * 300, np.int64))
np.save(f"{w}/bad_short_y.npy", np.zeros(899, np.int64))
# several targets a sample: 3 linear targets of 4 features plus noise (sd
# 0.1: a fitted model's mse is near 0.01, not float32 noise); and the class
# data's labels as one-hot rows of floats (what keras.utils.to_categorical
# gives)
C, c0 = r.normal(size=(4, 3)), np.array([0.5, -1.0, 2.0])
for name in ("train", "test"):
    x = np.load(f"{w}/cls_{name}_x.npy")
    np.save(f"{w}/reg3_{name}_y.npy", (x @ C + c0 + 0.1 * r.normal(size=(len(x), 3))).astype(np.float32))
    np.save(f"{w}/oh_{name}_y.npy", np.eye(3, dtype=np.float32)[np.load(f"{w}/cls_{name}_y.npy")])
np.save(f"{w}/bad_int_rows_y.npy", np.zeros((900, 3), np.int64))
np.save(f"{w}/bad_3d_y.npy", np.zeros((900, 3, 1), np.float32))
# two-channel images, and a 4x4 gray PNG (written by hand: zlib + CRCs)
np.save(f"{w}/ch2_x.npy", np.ones((40, 4, 4, 2), np.float32))
np.save(f"{w}/ch2_y.npy", np.arange(40, dtype=np.int64) % 2)
import struct, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
raw = b"".join(b"\0" + bytes(range(16 * r, 16 * r + 4)) for r in range(4))
open(f"{w}/gray4.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0))
                                 + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY

spec() { # NAME MODEL DATA LOSS EPOCHS
    cat > "$W/$1.cfg" <<CFG
model: { $2 };
data: { $3 };
train: { loss = "$4"; optimizer = { type = "adam"; lr = 0.02; };
         metrics = $([ "$4" = mse ] && echo '["mae"]' || echo '["accuracy"]');
         epochs = $5; batch_size = 32; seed = 3; };
CFG
}
field() { $PY -c "import json,sys; print(repr(json.load(open(sys.argv[2]))[sys.argv[1]]))" "$1" "$2" 2>/dev/null; }
above() { $PY -c "import sys; sys.exit(0 if float('$1') > float('$2') else 1)" 2>/dev/null; }
# check NAME PYTHON: runs the python (which prints why and exits 1 on a mismatch)
check() {
    local out
    if out=$(cd "$W" && $PY -c "import numpy as np, h5py, json, sys
def wts(path, layer):
    with h5py.File(path, 'r') as f:
        g = f['model_weights'][layer]
        return [np.array(g[n], np.float64) for n in g.attrs['weight_names']]
def close(got, want, what):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        print(what, 'shape', got.shape, 'want', want.shape); sys.exit(1)
    err = np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-12)
    if not err <= 1e-5:
        print(what, 'relative error', err); sys.exit(1)
    return err
relu = lambda v: np.maximum(v, 0)
def softmax(v):
    e = np.exp(v - v.max(1, keepdims=True)); return e / e.sum(1, keepdims=True)
# what run_cls (data.scale = 2) is fed: every input divided by 2, as in training
x12 = np.concatenate([np.load('in_a.npy'), np.load('in_b.npy')]).astype(np.float64) / 2
$2" 2>&1); then ok "$1${out:+ ($out)}"
    else bad "$1" "$out"; fi
}

cd "$W" || exit 1

# ---- format "npy" training ----
cls_model='input = { shape = [4]; }; layers = (
    { type = "dense"; name = "hidden"; units = 16; activation = "relu"; },
    { type = "dense"; name = "out"; units = 3; activation = "softmax"; } );'
cls_data='train = { format = "npy"; x = "cls_train_x.npy"; y = "cls_train_y.npy"; };
          test  = { format = "npy"; x = "cls_test_x.npy";  y = "cls_test_y.npy"; };
          scale = 2.0;'
spec cls "$cls_model" "$cls_data" sparse_categorical_crossentropy 15
if "$NNCTL" train "$W/cls.cfg" -o "$W/run_cls" --quiet > "$W/cls.log" 2>&1; then
    acc=$(field accuracy "$W/run_cls/eval.json")
    if above "${acc:-0}" 0.9; then ok "npy class labels: test accuracy $acc > 0.9"
    else bad "npy class labels" "test accuracy ${acc:-none}, want > 0.9"; fi
else
    bad "npy classifier trains" "$(tail -3 "$W/cls.log")"
fi

spec reg 'input = { shape = [3]; }; layers = ( { type = "dense"; name = "lin"; units = 1; } );' \
    'train = { format = "npy"; x = "reg_train_x.npy"; y = "reg_train_y.npy"; };
     test  = { format = "npy"; x = "reg_test_x.npy";  y = "reg_test_y.npy"; };' mse 20
if "$NNCTL" train "$W/reg.cfg" -o "$W/run_reg" --quiet > "$W/reg.log" 2>&1; then
    mse=$(field loss "$W/run_reg/eval.json")
    if above 0.01 "${mse:-1}"; then ok "npy regression targets: test mse $mse < 0.01 (target variance 6.5)"
    else bad "npy regression" "test mse ${mse:-none}, want < 0.01"; fi
else
    bad "npy regression trains" "$(tail -3 "$W/reg.log")"
fi

spec u8 'input = { shape = [8]; }; layers = (
    { type = "dense"; units = 8; activation = "relu"; },
    { type = "dense"; units = 2; activation = "softmax"; } );' \
    'train = { format = "npy"; x = "u8_x.npy"; y = "u8_y.npy"; }; scale = 255.0;
     validation_split = 0.2;' sparse_categorical_crossentropy 20
if "$NNCTL" train "$W/u8.cfg" -o "$W/run_u8" --quiet > "$W/u8.log" 2>&1; then
    acc=$($PY -c "import csv,sys; print(list(csv.DictReader(open(sys.argv[1])))[-1]['val_accuracy'])" \
        "$W/run_u8/history.csv" 2>/dev/null)
    if above "${acc:-0}" 0.85; then ok "npy uint8 samples with data.scale: val_accuracy $acc > 0.85"
    else bad "npy uint8 samples" "val_accuracy ${acc:-none}, want > 0.85"; fi
else
    bad "npy uint8 classifier trains" "$(tail -3 "$W/u8.log")"
fi

# several targets a sample (N, 3): one per output unit; the loss and the
# metric are means over every unit, as Keras computes them
spec reg3 'input = { shape = [4]; }; layers = ( { type = "dense"; name = "lin"; units = 3; } );' \
    'train = { format = "npy"; x = "cls_train_x.npy"; y = "reg3_train_y.npy"; };
     test  = { format = "npy"; x = "cls_test_x.npy";  y = "reg3_test_y.npy"; };' mse 20
if "$NNCTL" train "$W/reg3.cfg" -o "$W/run_reg3" --quiet > "$W/reg3.log" 2>&1; then
    check "npy (N, 3) regression targets: eval's mse and mae equal numpy's over every unit" "
W, b = wts('run_reg3/model.h5', 'lin')
x = np.load('cls_test_x.npy').astype(np.float64); y = np.load('reg3_test_y.npy')
ev = json.load(open('run_reg3/eval.json')); d = x @ W + b - y
close(ev['loss'], np.mean(d * d), 'mse'); close(ev['mae'], np.mean(np.abs(d)), 'mae')
assert ev['loss'] < 0.015, ('test mse', ev['loss'], 'want about 0.01 (the noise)')
print('test mse %.2g' % ev['loss'])"
else
    bad "npy (N, 3) regression trains" "$(tail -3 "$W/reg3.log")"
fi
spec oh "$cls_model" 'train = { format = "npy"; x = "cls_train_x.npy"; y = "oh_train_y.npy"; };
     test  = { format = "npy"; x = "cls_test_x.npy";  y = "oh_test_y.npy"; }; scale = 2.0;' \
    categorical_crossentropy 15
if "$NNCTL" train "$W/oh.cfg" -o "$W/run_oh" --quiet > "$W/oh.log" 2>&1; then
    check "npy one-hot float rows with categorical_crossentropy: loss and accuracy equal numpy's" "
W1, b1 = wts('run_oh/model.h5', 'hidden'); W2, b2 = wts('run_oh/model.h5', 'out')
x = np.load('cls_test_x.npy').astype(np.float64) / 2; y = np.load('oh_test_y.npy')
p = softmax(relu(x @ W1 + b1) @ W2 + b2); ev = json.load(open('run_oh/eval.json'))
close(ev['loss'], -np.mean(np.sum(y * np.log(p), 1)), 'loss')
acc = np.mean(np.argmax(p, 1) == np.argmax(y, 1))
assert abs(ev['accuracy'] - acc) < 1e-9 and acc > 0.9, (ev['accuracy'], acc)
print('test accuracy %.3f' % acc)"
else
    bad "npy one-hot float rows train" "$(tail -3 "$W/oh.log")"
fi

# ---- predict -o: the model's outputs ----
M=$W/run_reg/model.h5
if "$NNCTL" predict "$M" reg_test_x.npy -o reg_out.npy > p.log 2>&1; then
    check "predict -o: a linear model's outputs equal numpy's x @ W + b (no data.scale)" "
W, b = wts('run_reg/model.h5', 'lin')
x = np.load('reg_test_x.npy').astype(np.float32).astype(np.float64)  # what the model is fed
got = np.load('reg_out.npy')
assert got.dtype == np.float32, got.dtype
print('max rel. error %.1e' % close(got, x @ W + b, 'outputs'))"
else
    bad "predict -o out.npy" "$(tail -2 "$W/p.log")"
fi

M=$W/run_cls/model.h5
if "$NNCTL" predict "$M" in_a.npy in_b.npy -o probs.npy --set train.batch_size=4 > p.log 2>&1 &&
   "$NNCTL" predict "$M" in_a.npy in_b.npy --json --top-k 3 > probs.json 2> p2.log; then
    check "predict -o: softmax outputs of two files in batches of 4 equal numpy's forward pass" "
W1, b1 = wts('run_cls/model.h5', 'hidden'); W2, b2 = wts('run_cls/model.h5', 'out')
print('max rel. error %.1e' % close(np.load('probs.npy'), softmax(relu(x12 @ W1 + b1) @ W2 + b2), 'probabilities'))"
    check "predict --json probabilities equal the .npy outputs; inputs named FILE[i]" "
got = np.load('probs.npy'); j = json.load(open('probs.json'))
names = [e['input'] for e in j]
assert names == ['in_a.npy[%d]' % i for i in range(5)] + ['in_b.npy[%d]' % i for i in range(7)], names
for i, e in enumerate(j):
    assert e['class'] == int(np.argmax(got[i])), (i, e)
    for t in e['top']:
        assert abs(t['probability'] - got[i, t['class']]) <= 1e-6, (i, t)"
else
    bad "predict -o probs.npy / --json" "$(tail -2 p.log p2.log)"
fi
if "$NNCTL" predict "$M" in_one.npy > one.txt 2>&1 && "$NNCTL" predict "$M" in_one.npy -o one.npy >> one.txt 2>&1; then
    check "one sample of exactly the input shape: N = 1, printed top-k named by the file" "
got = np.load('one.npy')
W1, b1 = wts('run_cls/model.h5', 'hidden'); W2, b2 = wts('run_cls/model.h5', 'out')
close(got, softmax(relu(x12[:1] @ W1 + b1) @ W2 + b2), 'one sample')
line = open('one.txt').read().split('\n')[0]
assert line.startswith('in_one.npy: %d (' % np.argmax(got[0])), line"
else
    bad "predict on one sample" "$(tail -2 one.txt)"
fi

# ---- predict --layer: activations ----
if "$NNCTL" predict "$M" in_a.npy in_b.npy --layer hidden > acts.csv 2> p.log &&
   "$NNCTL" predict "$M" in_a.npy in_b.npy --layer hidden -o acts.npy 2>> p.log &&
   "$NNCTL" predict "$M" in_a.npy in_b.npy --layer hidden -o acts.h5 --json > acts.json 2>> p.log; then
    check "--layer hidden: CSV, .npy and HDF5 equal numpy's relu(x @ W1 + b1)" "
W1, b1 = wts('run_cls/model.h5', 'hidden'); want = relu(x12 @ W1 + b1)
e1 = close(np.loadtxt('acts.csv', delimiter=',', ndmin=2), want, 'csv')
e2 = close(np.load('acts.npy'), want, 'npy')
with h5py.File('acts.h5', 'r') as f:
    assert list(f.keys()) == ['hidden'], list(f.keys())
    assert f['hidden'].dtype == np.float32
    e3 = close(f['hidden'][()], want, 'hdf5')
s = json.load(open('acts.json'))
assert s == {'output': 'acts.h5', 'format': 'hdf5', 'layer': 'hidden', 'shape': [12, 16]}, s
print('max rel. errors %.1e %.1e %.1e' % (e1, e2, e3))"
else
    bad "predict --layer" "$(tail -2 p.log)"
fi
if "$NNCTL" predict "$M" in_a.npy in_b.npy --layer hidden --json > acts_j.json 2> p.log &&
   "$NNCTL" predict "$M" in_a.npy in_b.npy --layer hidden -o acts2.csv 2>> p.log &&
   "$NNCTL" predict "$M" in_a.npy in_b.npy -o probs.h5 2>> p.log; then
    check "--layer --json, -o FILE.csv, and the outputs as HDF5 (dataset named after the output layer)" "
W1, b1 = wts('run_cls/model.h5', 'hidden'); W2, b2 = wts('run_cls/model.h5', 'out')
h = relu(x12 @ W1 + b1)
j = json.load(open('acts_j.json'))
assert j[0]['input'] == 'in_a.npy[0]' and j[11]['input'] == 'in_b.npy[6]', j[0]['input']
close([e['values'] for e in j], h, 'json')
close(np.loadtxt('acts2.csv', delimiter=','), h, 'csv file')
with h5py.File('probs.h5', 'r') as f:
    close(f['out'][()], softmax(h @ W2 + b2), 'hdf5 outputs')"
else
    bad "predict --layer --json / -o FILE.csv / -o FILE.h5" "$(tail -2 p.log)"
fi
if "$NNCTL" predict "$M" in.idx --layer hidden > acts_idx.csv 2> p.log &&
   "$NNCTL" predict "$M" in_u.npy --layer hidden > acts_u.csv 2>> p.log; then
    check "--layer on IDX input and on the same uint8 .npy: both scaled by data.scale (2.0)" "
W1, b1 = wts('run_cls/model.h5', 'hidden'); u = np.load('in_u.npy').astype(np.float64)
close(np.loadtxt('acts_idx.csv', delimiter=','), relu(u / 2.0 @ W1 + b1), 'idx')
close(np.loadtxt('acts_u.csv', delimiter=','), relu(u / 2.0 @ W1 + b1), 'npy')"
else
    bad "predict --layer on IDX" "$(tail -2 p.log)"
fi

# ---- errors: a message naming the file and the problem; exit 1 or 2, no crash ----
expect_error() { # NAME PATTERN nnctl-args...
    local name=$1 pat=$2
    shift 2
    "$NNCTL" "$@" > err.log 2>&1
    local rc=$?
    if { [ $rc -eq 1 ] || [ $rc -eq 2 ]; } && grep -q -- "$pat" err.log; then ok "$name (exit $rc)"
    else bad "$name" "exit $rc: $(head -2 err.log)"; fi
}
expect_error "a truncated .npy" "'bad_trunc.npy': truncated: shape (5, 4) of '<f4' needs 80 bytes of data, the file holds 77" \
    predict "$M" bad_trunc.npy
expect_error "fortran order" "'bad_fortran.npy': fortran_order is True" predict "$M" bad_fortran.npy
expect_error "big-endian data" "'bad_be.npy': dtype '>f4' is big-endian" predict "$M" bad_be.npy
expect_error "an unsupported dtype" "'bad_i2.npy': dtype '<i2' is not supported" predict "$M" bad_i2.npy
expect_error "a shape the model does not take" \
    "'bad_shape.npy': shape (3, 5) does not fit the model's input (4,): expected (N, 4) for N samples, or (4,) for one" \
    predict "$M" bad_shape.npy
expect_error "a header that lies about the shape" "'bad_lies.npy': truncated: shape (9, 4)" predict "$M" bad_lies.npy
expect_error "an .npz archive" "'bad.npz': a zip archive (.npz?), not an .npy file" predict "$M" bad.npz
expect_error "text named .npy" "'bad_text.npy': not an .npy file" predict "$M" bad_text.npy
expect_error "NaN in the second batch" "'bad_nan.npy': element \[37, 2\] is nan" \
    predict "$M" bad_nan.npy -o nan_out.npy
if [ ! -e nan_out.npy ] && ! ls | grep -q '\.tmp\.'; then ok "a failed predict -o leaves no file and no temporary"
else bad "a failed predict -o leaves nothing" "$(ls)"; fi
expect_error "an unknown layer, with a suggestion and the list" \
    "--layer 'hiden' is not a layer of the model in '.*model.h5'; did you mean 'hidden'? (layers: input" \
    predict "$M" in_a.npy --layer hiden
expect_error "--top-k with -o" "--top-k reads the classes to print" predict "$M" in_a.npy -o x.npy -k 2
expect_error "-o into a missing folder" "cannot write 'no/such/out.npy': No such file or directory" \
    predict "$M" in_a.npy -o no/such/out.npy

spec badneg "$cls_model" 'train = { format = "npy"; x = "cls_train_x.npy";
    y = "bad_neg_y.npy"; };' sparse_categorical_crossentropy 1
expect_error "a negative label names the spec line, the file and the element" \
    "badneg.cfg:[0-9]*: data.train: '.*bad_neg_y.npy': element \[2\] is -1; expected a class label" \
    train "$W/badneg.cfg" -o run_err --quiet
spec badshort "$cls_model" 'train = { format = "npy"; x = "cls_train_x.npy";
    y = "bad_short_y.npy"; };' sparse_categorical_crossentropy 1
expect_error "labels that do not match the samples" \
    "badshort.cfg:[0-9]*: data.train: '.*bad_short_y.npy': shape (899,), but '.*cls_train_x.npy' holds 900 samples" \
    train "$W/badshort.cfg" -o run_err --quiet
spec badw "$cls_model" 'train = { format = "npy"; x = "cls_train_x.npy";
    y = "reg3_train_y.npy"; };' mse 1
sed -i 's/units = 3; activation = "softmax"/units = 2; activation = "softmax"/' "$W/badw.cfg"
expect_error "targets wider than the output" \
    "badw.cfg:[0-9]*: data.train.y: 'reg3_train_y.npy' has 3 target values per sample but output layer 'out' gives 2" \
    train "$W/badw.cfg" -o run_err --quiet
spec badsp "$cls_model" 'train = { format = "npy"; x = "cls_train_x.npy";
    y = "oh_train_y.npy"; };' sparse_categorical_crossentropy 1
expect_error "one-hot float rows with a sparse loss" \
    'loss "sparse_categorical_crossentropy" needs integer class labels, but the data holds float targets' \
    train "$W/badsp.cfg" -o run_err --quiet
for f in bad_int_rows_y bad_3d_y; do
    spec "$f" "$cls_model" "train = { format = \"npy\"; x = \"cls_train_x.npy\";
        y = \"$f.npy\"; };" mse 1
done
expect_error "integer labels in rows" \
    "bad_int_rows_y.npy': shape (900, 3): integer class labels take shape (900,) (or (900, 1))" \
    train "$W/bad_int_rows_y.cfg" -o run_err --quiet
expect_error "targets of 3 axes" \
    "bad_3d_y.npy': shape (900, 3, 1): targets take shape (900,) (one value per sample) or (900, K)" \
    train "$W/bad_3d_y.cfg" -o run_err --quiet
spec badkey "$cls_model" 'train = { format = "npy"; x = "cls_train_x.npy";
    labels = "cls_train_y.npy"; };' sparse_categorical_crossentropy 1
expect_error "format npy without y" 'badkey.cfg:[0-9]*: data.train: missing required key "y"' \
    train "$W/badkey.cfg" -o run_err --quiet
spec badin 'input = { shape = [5]; }; layers = ( { type = "dense"; units = 3; activation = "softmax"; } );' \
    "$cls_data" sparse_categorical_crossentropy 1
expect_error "samples that do not fit model.input.shape" \
    "badin.cfg:[0-9]*: data.train.x: 'cls_train_x.npy' has samples of 4 = 4 values but model.input.shape (None, 5) takes 5" \
    train "$W/badin.cfg" -o run_err --quiet

spec ch2 'input = { shape = [4, 4, 2]; }; layers = ( { type = "flatten"; },
    { type = "dense"; units = 2; activation = "softmax"; } );' \
    'train = { format = "npy"; x = "ch2_x.npy"; y = "ch2_y.npy"; };' sparse_categorical_crossentropy 1
if "$NNCTL" train "$W/ch2.cfg" -o run_ch2 --quiet > ch2.log 2>&1; then
    expect_error "a PNG for a model of 2 channels per pixel" \
        "'gray4.png': the model takes 2 channels per pixel; PNG and JPEG inputs give 1 (gray) or 3 (RGB)" \
        predict run_ch2/model.h5 gray4.png
else
    bad "two-channel model trains" "$(tail -2 ch2.log)"
fi

nn_summary npy
