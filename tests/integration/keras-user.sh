#!/usr/bin/env bash
# What a user coming from the Keras tutorials meets (issue 14): predict's
# reading of each kind of output, input scaling in predict, data paths,
# Keras's old names, spec-error placement, class names, --threads 0 and
# plurals. Everything runs on data this script generates (numpy), in a
# temporary folder; expected values are computed here, in numpy, from the
# weights read out of model.h5 with h5py, or stated by hand.
#
#   NNCTL=build/nnctl tests/integration/keras-user.sh
#
# Needs /usr/bin/python3 with numpy and h5py. Prints one line per check and
# "keras-user: N passed, M failed, K skipped" last; exits 1 on any failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib.sh"
nn_abs_nnctl
nn_need_python keras-user numpy h5py
nn_data_workdir keras-user
cd "$W" || exit 1

# nn ARGS...: nnctl with stdout in out.txt, stderr in err.txt, status in $rc
nn() {
    "$NNCTL" "$@" > out.txt 2> err.txt
    rc=$?
    return $rc
}
# expect NAME WANT_EXIT SUBSTRING... -- ARGS...: exit status and stderr+stdout substrings
expect() {
    local name=$1 want=$2
    shift 2
    local subs=()
    while [ "$1" != -- ]; do subs+=("$1"); shift; done
    shift
    nn "$@"
    if [ "$rc" != "$want" ]; then bad "$name" "exit $rc, want $want: $(head -c 400 err.txt)"; return 1; fi
    local s
    for s in "${subs[@]}"; do
        if ! grep -qF -- "$s" out.txt err.txt; then
            bad "$name" "no '$s' in: $(head -c 400 err.txt) $(head -c 300 out.txt)"
            return 1
        fi
    done
    ok "$name"
}
# pycheck NAME PYTHON: the python exits non-zero (printing why) on a mismatch
pycheck() {
    local out
    if out=$($PY -c "import numpy as np, h5py, json, sys
def wts(path, layer):
    with h5py.File(path, 'r') as f:
        g = f['model_weights'][layer]
        return [np.array(g[n], np.float64) for n in g.attrs['weight_names']]
sigmoid = lambda v: 1 / (1 + np.exp(-v))
relu = lambda v: np.maximum(v, 0)
def softmax(v):
    e = np.exp(v - v.max(1, keepdims=True)); return e / e.sum(1, keepdims=True)
$2" 2>&1); then ok "$1${out:+ ($out)}"; else bad "$1" "$out"; fi
}

$PY - <<'PY'
import numpy as np
r = np.random.default_rng(14)
x = r.normal(size=(400, 6)).astype(np.float32)
np.save("x.npy", x)
np.save("y_bin.npy", (x[:, 0] + x[:, 1] > 0).astype(np.int64))
np.save("y_reg.npy", (x @ np.arange(1, 7) / 6).astype(np.float32))
np.save("y_multi.npy", np.stack([x[:, 0] > 0, x[:, 1] > 0, x[:, 2] > 0], 1).astype(np.float32))
np.save("y_cls.npy", np.argmax(x[:, :3], 1).astype(np.int64))
np.save("in.npy", x[:8])
u = r.integers(0, 256, size=(300, 6), dtype=np.uint8)
np.save("u8.npy", u)
np.save("y_u8.npy", (u[:, :3].sum(1) > u[:, 3:].sum(1)).astype(np.int64))
np.save("in_u8.npy", u[:8])
with open("in_u8.idx", "wb") as f:  # the same 8 samples as an IDX file
    f.write(bytes([0, 0, 8, 2]) + (8).to_bytes(4, "big") + (6).to_bytes(4, "big") + u[:8].tobytes())
open("names.txt", "w").write("north\nsouth\n\neast\n")
# an image folder (Keras's image_dataset_from_directory layout): dark
# "night" and bright "day" 4x4 gray PNGs, written by hand (zlib + CRCs)
import os, struct, zlib
def png(path, rows):
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\0" + np.asarray(row, np.uint8).tobytes() for row in rows)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
pix, lab = [], []
for cls, lo, hi in (("night", 0, 90), ("day", 160, 256)):
    os.makedirs("imgs/" + cls, exist_ok=True)
    for i in range(40):
        img = r.integers(lo, hi, size=(4, 4))
        img[i % 4, i % 3] = 255 - img[i % 4, i % 3]  # some noise: not every sample is easy
        png("imgs/%s/%02d.png" % (cls, i), img)
        pix.append(img); lab.append(["day", "night"].index(cls))
np.save("imgs_x.npy", np.array(pix, np.float64)); np.save("imgs_y.npy", np.array(lab))
np.save("y_1k.npy", r.choice(np.array([0, 1, 207, 281, 340, 954, 999]), size=400).astype(np.int64))
png("bright.png", r.integers(170, 256, size=(4, 4)))
png("dark.png", r.integers(0, 80, size=(4, 4)))
os.makedirs("sub/deeper", exist_ok=True)
np.save("sub/x_here.npy", x)
np.save("sub/y_here.npy", np.argmax(x[:, :3], 1).astype(np.int64))
PY

# spec NAME LAYERS Y LOSS [EXTRA DATA KEYS] [EXTRA TRAIN KEYS]; $EPOCHS (default 2)
spec() {
    cat > "$1.cfg" <<CFG
model: { name = "$1"; input = { shape = [6]; }; layers = ( $2 ); };
data: { train = { format = "npy"; x = "x.npy"; y = "$3"; }; ${5:-} };
train: { loss = "$4"; optimizer = { type = "adam"; lr = 0.01; }; epochs = ${EPOCHS:-2};
         batch_size = 50; seed = 1; ${6:-} };
CFG
}

# ---- --threads 0 and plurals ----
EPOCHS=1 spec plain '{ type = "dense"; name = "out"; units = 1; activation = "sigmoid"; }' \
    y_bin.npy binary_crossentropy
cores=$($PY -c 'import os; print(os.cpu_count())')
expect "--threads 0 means every core, as train.threads = 0" 0 "(cpu engine, $cores thread" \
    -- train plain.cfg -o run_t0 --threads 0
expect "--threads 1: \"1 thread\", one epoch: \"1 epoch\"" 0 "(cpu engine, 1 thread;" "(1 epoch," \
    -- train plain.cfg -o run_t1 --threads 1
expect "--threads -2 is refused, naming 0 as every core" 2 "0 (every core) or a positive integer" \
    -- train plain.cfg -o run_bad --threads -2

# ---- predict reads each kind of output as Keras users expect ----
spec bin '{ type = "dense"; name = "out"; units = 1; activation = "sigmoid"; }' y_bin.npy \
    binary_crossentropy
spec multi '{ type = "dense"; name = "out"; units = 3; activation = "sigmoid"; }' y_multi.npy \
    binary_crossentropy
spec reg '{ type = "dense"; name = "out"; units = 1; }' y_reg.npy mse "scale = 2.0;"
spec soft '{ type = "dense"; name = "out"; units = 3; activation = "softmax"; }' y_cls.npy \
    sparse_categorical_crossentropy
spec u8 '{ type = "dense"; name = "out"; units = 1; activation = "sigmoid"; }' y_u8.npy \
    binary_crossentropy "scale = 255.0;"
sed -i 's/x = "x.npy"/x = "u8.npy"/' u8.cfg
for m in bin multi reg soft u8; do
    "$NNCTL" train $m.cfg -o run_$m -q > train_$m.log 2>&1 || bad "train $m" "$(tail -2 train_$m.log)"
done
if nn predict run_bin/model.h5 in.npy --json && cp out.txt bin.json &&
   nn predict run_bin/model.h5 in.npy && cp out.txt bin.txt; then
    pycheck "predict, one sigmoid unit: the class by p > 0.5 and that class's probability" "
W, b = wts('run_bin/model.h5', 'out'); x = np.load('in.npy').astype(np.float64)
p = sigmoid(x @ W + b)[:, 0]; j = json.load(open('bin.json')); lines = open('bin.txt').read().splitlines()
assert 0 < (p > 0.5).sum() < len(p), p  # both classes occur
for i, e in enumerate(j):
    c = int(p[i] > 0.5); q = p[i] if c else 1 - p[i]
    assert e['input'] == 'in.npy[%d]' % i and e['class'] == c, (i, e, p[i])
    assert abs(e['probability'] - q) < 1e-5, (i, e, q)
    assert lines[i] == 'in.npy[%d]: %d (%.4f)' % (i, c, q), (lines[i], c, q)"
else bad "predict on a one-unit sigmoid model" "$(head -3 err.txt)"; fi
if nn predict run_bin/model.h5 in.npy --json --threshold 0.9 && cp out.txt bin9.json; then
    pycheck "predict --threshold 0.9: class 1 only where p > 0.9" "
W, b = wts('run_bin/model.h5', 'out'); x = np.load('in.npy').astype(np.float64)
p = sigmoid(x @ W + b)[:, 0]
assert [e['class'] for e in json.load(open('bin9.json'))] == [int(v > 0.9) for v in p], p"
else bad "predict --threshold" "$(head -3 err.txt)"; fi
expect "predict --top-k on a sigmoid unit says it reads a threshold" 2 "--top-k" \
    "one sigmoid unit" "--threshold" -- predict run_bin/model.h5 in.npy --top-k 2
if nn predict run_multi/model.h5 in.npy --json && cp out.txt multi.json &&
   nn predict run_multi/model.h5 in.npy && cp out.txt multi.txt; then
    pycheck "predict, several sigmoid units: every unit over 0.5, likeliest first" "
W, b = wts('run_multi/model.h5', 'out'); x = np.load('in.npy').astype(np.float64)
p = sigmoid(x @ W + b); j = json.load(open('multi.json')); lines = open('multi.txt').read().splitlines()
sizes = set()
for i, e in enumerate(j):
    want = sorted([c for c in range(3) if p[i, c] > 0.5], key=lambda c: -p[i, c])
    got = [c['class'] for c in e['classes']]
    assert got == want, (i, got, want, p[i])
    for c in e['classes']:
        assert abs(c['probability'] - p[i, c['class']]) < 1e-5, (i, c)
    text = ' '.join('%d (%.4f)' % (c, p[i, c]) for c in want) or 'none over 0.5'
    assert lines[i] == 'in.npy[%d]: %s' % (i, text), (lines[i], text)
    sizes.add(len(want))
assert len(sizes) > 1, sizes  # the inputs differ in how many labels are on"
else bad "predict on a multi-label model" "$(head -3 err.txt)"; fi
if nn predict run_reg/model.h5 in.npy --json && cp out.txt reg.json &&
   nn predict run_reg/model.h5 in.npy && cp out.txt reg.txt; then
    pycheck "predict, a linear (regression) output: its values, on inputs scaled by data.scale (2)" "
W, b = wts('run_reg/model.h5', 'out'); x = np.load('in.npy').astype(np.float32).astype(np.float64)
v = (x / 2 @ W + b)[:, 0]; j = json.load(open('reg.json')); lines = open('reg.txt').read().splitlines()
for i, e in enumerate(j):
    assert e['input'] == 'in.npy[%d]' % i and abs(e['values'][0] - v[i]) <= 1e-5 * max(1, abs(v[i])), (e, v[i])
    assert lines[i] == 'in.npy[%d]: %.6g' % (i, v[i]), (lines[i], v[i])"
else bad "predict on a regression model" "$(head -3 err.txt)"; fi
if nn predict run_u8/model.h5 in_u8.npy -o u8n.npy && nn predict run_u8/model.h5 in_u8.idx -o u8i.npy; then
    pycheck "predict: a uint8 .npy is scaled by data.scale (255) as in training, as the same IDX file is" "
W, b = wts('run_u8/model.h5', 'out'); u = np.load('in_u8.npy').astype(np.float64)
p = sigmoid(u / 255 @ W + b)
for f in ('u8n.npy', 'u8i.npy'):
    got = np.load(f)
    assert np.max(np.abs(got - p)) < 1e-5, (f, got[:, 0], p[:, 0])"
else bad "predict on uint8 .npy and IDX" "$(head -3 err.txt)"; fi
if nn predict run_soft/model.h5 in.npy --json --labels names.txt --top-k 2 && cp out.txt soft.json &&
   nn predict run_soft/model.h5 in.npy --labels names.txt --top-k 2 && cp out.txt soft.txt; then
    pycheck "predict --labels FILE: the class names follow the class numbers (text and JSON)" "
W, b = wts('run_soft/model.h5', 'out'); x = np.load('in.npy').astype(np.float64)
p = softmax(x @ W + b); names = ['north', 'south', 'east']
j = json.load(open('soft.json')); lines = open('soft.txt').read().splitlines()
for i, e in enumerate(j):
    top = list(np.argsort(-p[i])[:2])
    assert e['class'] == top[0] and e['label'] == names[top[0]], (e, top)
    assert [t['label'] for t in e['top']] == [names[c] for c in top], e
    assert lines[i] == 'in.npy[%d]: ' % i + ' '.join('%d %s (%.4f)' % (c, names[c], p[i, c]) for c in top), lines[i]"
else bad "predict --labels" "$(head -3 err.txt)"; fi
echo "west" >> names.txt
expect "predict --labels with more names than classes says so" 2 "--labels 'names.txt' names 4 classes, but output 'out' has 3" \
    -- predict run_soft/model.h5 in.npy --labels names.txt

# ---- --labels imagenet: ImageNet's 1,000 class names, built in ----
spec in1k '{ type = "dense"; name = "out"; units = 1000; activation = "softmax"; }' y_1k.npy \
    sparse_categorical_crossentropy
"$NNCTL" train in1k.cfg -o run_in1k -q > train_in1k.log 2>&1 || bad "train in1k" "$(tail -2 train_in1k.log)"
if nn predict run_in1k/model.h5 in.npy --labels imagenet --top-k 1000 --json && cp out.txt in1k.json &&
   nn predict run_in1k/model.h5 in.npy --labels imagenet --top-k 2 && cp out.txt in1k.txt; then
    pycheck "predict --labels imagenet: the 1,000 ImageNet names by class index (stated by hand here), the same as datasets/imagenet/classes.txt" "
W, b = wts('run_in1k/model.h5', 'out'); x = np.load('in.npy').astype(np.float64)
p = softmax(x @ W + b)
hand = {0: 'tench', 1: 'goldfish', 2: 'great white shark', 207: 'golden retriever', 281: 'tabby',
        285: 'Egyptian cat', 340: 'zebra', 409: 'analog clock', 954: 'banana', 999: 'toilet tissue'}
shipped = open('$root/datasets/imagenet/classes.txt').read().splitlines()
j = json.load(open('in1k.json')); lines = open('in1k.txt').read().splitlines()
for i, e in enumerate(j):
    got = {t['class']: t['label'] for t in e['top']}
    assert len(got) == 1000 and len(set(got.values())) == 1000, len(got)
    for c, name in hand.items():
        assert got[c] == name, (c, got[c], name)
    assert [got[c] for c in range(1000)] == shipped
    top = list(np.argsort(-p[i])[:2])
    assert top[0] in hand, top  # trained on those classes only
    assert lines[i] == 'in.npy[%d]: ' % i + ' '.join('%d %s (%.4f)' % (c, shipped[c], p[i, c]) for c in top), lines[i]"
else bad "predict --labels imagenet" "$(head -3 err.txt)"; fi
expect "predict --labels imagenet on a 3-class model says the counts differ" 2 "--labels 'imagenet' names 1000 classes, but output 'out' has 3" \
    -- predict run_soft/model.h5 in.npy --labels imagenet

# ---- Keras 1/2 names: "acc", monitor "val_acc", {val_acc} in a checkpoint path ----
spec k2 '{ type = "dense"; name = "out"; units = 1; activation = "sigmoid"; }' y_bin.npy \
    binary_crossentropy "validation_split = 0.25;" 'metrics = ["acc"];
    callbacks = { early_stopping = { monitor = "val_acc"; patience = 5; };
                  checkpoint = { monitor = "val_acc"; save_best_only = true;
                                 path = "w.{epoch:02d}-{val_acc:.2f}.h5"; }; };'
if nn train k2.cfg -o run_k2 -q; then
    pycheck "metrics [\"acc\"], monitor \"val_acc\", {val_acc:.2f} in the checkpoint path: Keras 2's names of accuracy" "
import csv, glob, os
rows = list(csv.DictReader(open('run_k2/history.csv')))
files = sorted(os.path.basename(f) for f in glob.glob('run_k2/w.*.h5'))
assert files, os.listdir('run_k2')
best = max(range(len(rows)), key=lambda i: float(rows[i]['val_accuracy']))
want = 'w.%02d-%.2f.h5' % (best + 1, float(rows[best]['val_accuracy']))
assert want in files, (want, files)"
else bad "Keras 2 names acc / val_acc" "$(head -3 err.txt)"; fi

# ---- class names: an image folder's sub-folders, kept in the model file ----
cat > folder.cfg <<'CFG'
model: { name = "folder"; input = { shape = [4, 4, 1]; };
  layers = ( { type = "flatten"; }, { type = "dense"; name = "out"; units = 2; activation = "softmax"; } ); };
data: { train = { format = "image_folder"; path = "imgs"; color_mode = "grayscale"; }; scale = 255.0; };
train: { loss = "sparse_categorical_crossentropy"; optimizer = { type = "adam"; lr = 0.05; };
         epochs = 10; batch_size = 16; seed = 1; };
CFG
sed -e 's/name = "folder"/name = "folder1"/' -e 's/units = 2; activation = "softmax"/units = 1; activation = "sigmoid"/' \
    -e 's/sparse_categorical_crossentropy/binary_crossentropy/' folder.cfg > folder1.cfg
if nn train folder.cfg -o run_folder -q && nn train folder1.cfg -o run_folder1 -q &&
   nn predict run_folder/model.h5 bright.png dark.png --json && cp out.txt folder.json &&
   nn predict run_folder1/model.h5 bright.png dark.png && cp out.txt folder1.txt; then
    pycheck "class names: an image folder's sub-folders, stored in model.h5, shown by predict (softmax and one sigmoid unit)" "
j = json.load(open('folder.json')); t = open('folder1.txt').read().splitlines()
names = ['day', 'night']  # the sub-folders sorted by name, as Keras labels them
assert [e['label'] for e in j] == ['day', 'night'], j
assert [names[e['class']] for e in j] == ['day', 'night'], j
assert t[0].startswith('bright.png: 0 day (') and t[1].startswith('dark.png: 1 night ('), t
with h5py.File('run_folder/model.h5', 'r') as f:
    assert json.loads(f['nnctl'].attrs['class_names']) == {'out': names}, dict(f['nnctl'].attrs)"
else bad "class names from an image folder" "$(head -3 err.txt)"; fi
if nn eval run_folder/model.h5 --data train --json && cp out.txt folder_eval.json &&
   nn eval run_folder/model.h5 --data train; then
    pycheck "eval by class name: each class's samples and accuracy equal numpy's (JSON and the table)" "
W, b = wts('run_folder/model.h5', 'out')
x = np.load('imgs_x.npy').reshape(80, 16) / 255; y = np.load('imgs_y.npy')
pred = np.argmax(x @ W + b, 1)
got = json.load(open('folder_eval.json'))['classes']
text = open('out.txt').read()
for c, name in enumerate(['day', 'night']):
    acc = np.mean(pred[y == c] == c)
    e = got[c]
    assert e['class'] == c and e['label'] == name and e['samples'] == 40, e
    assert abs(e['accuracy'] - acc) < 1e-12, (e, acc)
    assert '%d %s' % (c, name) in text, text"
else bad "eval with class names" "$(head -3 err.txt)"; fi

# ---- data paths: ./ and ../ from the spec's folder, bare names on the search path ----
cat > sub/deeper/paths.cfg <<'CFG'
model: { name = "paths"; input = { shape = [6]; };
  layers = ( { type = "dense"; units = 3; activation = "softmax"; } ); };
data: { train = { format = "npy"; x = "../x_here.npy"; y = "../y_here.npy"; };
        test = { format = "npy"; x = "./../x_here.npy"; y = "../y_here.npy"; }; };
train: { loss = "sparse_categorical_crossentropy"; optimizer = "adam"; epochs = 1; seed = 1; };
CFG
mkdir -p elsewhere
if NNCTL_DATA=$W/elsewhere nn train sub/deeper/paths.cfg -o run_paths -q; then
    ok "./ and ../ data paths start at the spec's folder, with NNCTL_DATA set elsewhere"
    mkdir -p away && cd away
    if NNCTL_DATA=$W/elsewhere nn eval ../run_paths/model.h5 --json; then
        ok "eval from another folder finds the stored spec's ../ data (model.h5 keeps the spec's folder)"
    else bad "eval finds the stored spec's ../ data" "$(head -3 err.txt)"; fi
    cd "$W"
else bad "./ and ../ data paths start at the spec's folder" "$(head -3 err.txt)"; fi
sed -i 's|x = "../x_here.npy"; y|x = "nowhere/x.npy"; y|' sub/deeper/paths.cfg
NNCTL_DATA=$W/elsewhere expect "a missing bare data name: the error names every place tried" 1 \
    "data file 'nowhere/x.npy' not found; tried $W/elsewhere/nowhere/x.npy (\$NNCTL_DATA), sub/deeper/nowhere/x.npy (the spec's folder), nowhere/x.npy (the current directory)" \
    -- train sub/deeper/paths.cfg -o run_paths2 -q
# The MNIST that ships in the checkout's datasets/: found with no NNCTL_DATA,
# from any folder, by a bare "mnist/..." name
cat > shipped.cfg <<'CFG'
model: { name = "shipped"; input = { shape = [28, 28]; };
  layers = ( { type = "flatten"; }, { type = "dense"; units = 10; activation = "softmax"; } ); };
data: { train = { images = "mnist/t10k-images-idx3-ubyte.gz"; labels = "mnist/t10k-labels-idx1-ubyte.gz"; };
        scale = 255.0; train_subset = 200; };
train: { loss = "sparse_categorical_crossentropy"; optimizer = "adam"; epochs = 1; };
CFG
NNCTL_DATA= HOME=$W/home XDG_DATA_HOME= \
    expect "with no NNCTL_DATA a bare mnist/... name finds the checkout's datasets/mnist" 0 \
    -- train shipped.cfg -o run_shipped -q

# ---- Ctrl-C during the final test evaluation: --resume evaluates only ----
$PY -c "
import numpy as np
r = np.random.default_rng(3)
np.save('big_x.npy', r.integers(0, 256, size=(60000, 256), dtype=np.uint8))
np.save('big_y.npy', r.integers(0, 10, size=60000).astype(np.int64))
np.save('small_x.npy', r.integers(0, 256, size=(300, 256), dtype=np.uint8))
np.save('small_y.npy', r.integers(0, 10, size=300).astype(np.int64))"
cat > ctrlc.cfg <<'CFG'
model: { name = "ctrlc"; input = { shape = [256]; };
  layers = ( { type = "dense"; units = 512; activation = "relu"; },
             { type = "dense"; units = 512; activation = "relu"; },
             { type = "dense"; units = 10; activation = "softmax"; } ); };
data: { train = { format = "npy"; x = "small_x.npy"; y = "small_y.npy"; };
        test = { format = "npy"; x = "big_x.npy"; y = "big_y.npy"; }; scale = 255.0; };
train: { loss = "sparse_categorical_crossentropy"; optimizer = "adam"; metrics = ["accuracy"];
         epochs = 2; batch_size = 100; seed = 1; };
CFG
"$NNCTL" train ctrlc.cfg -o run_ctrlc > ctrlc.out 2> ctrlc.err &
pid=$!
for _ in $(seq 6000); do [ -f run_ctrlc/model.h5 ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.01; done
# model.h5 is written: training is over and Ctrl-C handling lasts until the
# test evaluation (60000 samples through 256-512-512-10) ends
kill -INT $pid 2>/dev/null
wait $pid
rc=$?
if [ $rc = 130 ] && grep -q "interrupted during the test evaluation" ctrlc.err && [ ! -e run_ctrlc/eval.json ] &&
   [ ! -e run_ctrlc/run.json ]; then
    ok "Ctrl-C during the test evaluation: exit 130, model.h5 complete, no eval.json or run.json"
    $PY -c "import h5py, hashlib, numpy as np
f = h5py.File('run_ctrlc/model.h5', 'r'); h = hashlib.sha256()
f['model_weights'].visititems(lambda n, o: h.update(np.asarray(o[()]).tobytes()) if isinstance(o, h5py.Dataset) else None)
print(h.hexdigest())" > w_before.txt
    if nn train ctrlc.cfg -o run_ctrlc --resume; then
        pycheck "--resume after it: the evaluation only (no epoch run, same weights, eval.json and run.json written)" "
import hashlib, csv, subprocess
out = open('out.txt').read()
assert 'training finished after epoch 2; the test evaluation is what is left' in out, out
assert 'Epoch ' not in out, out
assert len(list(csv.DictReader(open('run_ctrlc/history.csv')))) == 2
ev = json.load(open('run_ctrlc/eval.json')); run = json.load(open('run_ctrlc/run.json'))
assert ev['samples'] == 60000 and run['epochs'] == 2 and 'loss' in run['final'], (ev, run)
f = h5py.File('run_ctrlc/model.h5', 'r'); h = hashlib.sha256()
f['model_weights'].visititems(lambda n, o: h.update(np.asarray(o[()]).tobytes()) if isinstance(o, h5py.Dataset) else None)
assert h.hexdigest() == open('w_before.txt').read().strip(), 'model.h5 weights changed'"
    else bad "--resume after Ctrl-C in the test evaluation" "$(head -3 err.txt)"; fi
else
    bad "Ctrl-C during the test evaluation" "exit $rc: $(tail -2 ctrlc.err) $(ls run_ctrlc)"
fi

nn_summary keras-user
