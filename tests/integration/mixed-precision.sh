#!/usr/bin/env bash
# Mixed precision end to end (issue 19), on small data this script makes
# (numpy), in a temporary folder:
#   - train.precision / --precision: the first training line names the
#     policy and its kernels; the model file stores each layer's policy by
#     name (read back with h5py); eval and predict take --precision either
#     way and refuse an unknown one (exit 2);
#   - a CPU without bf16 (oneDNN capped with ONEDNN_MAX_CPU_ISA=AVX512_CORE)
#     says so in one line and trains float32: its history equals a float32
#     run's;
#   - precision auto: one line with both step times and the pick, recorded
#     in spec.cfg;
#   - loss scaling (train.loss_scale; on with mixed_float16): a power-of-two
#     scale that never overflows trains exactly as no scaling (same weights,
#     same losses); a scale that overflows skips steps, halves, and history
#     counts them (loss_scale, skipped_steps); a run stopped and resumed
#     with loss scaling equals one never stopped.
#
#   NNCTL=build/nnctl tests/integration/mixed-precision.sh
#
# Needs /usr/bin/python3 with numpy and h5py. About 20 s on 2 cores. Prints
# one line per check and "mixed-precision: N passed, M failed, K skipped"
# last (tests/README.md).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
nn_abs_nnctl
nn_need_python mixed-precision numpy h5py
nn_data_workdir mixed-precision
cd "$W" || exit 1

nn() {
    "$NNCTL" "$@" > out.txt 2> err.txt
    rc=$?
}
expect() { # NAME WANT_EXIT SUBSTRING... -- ARGS...
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
            bad "$name" "no '$s' in: $(head -c 400 err.txt) $(head -c 400 out.txt)"
            return 1
        fi
    done
    ok "$name"
}
pycheck() { # NAME PYTHON: exits non-zero (printing why) on a mismatch
    local out
    if out=$($PY -c "import numpy as np, h5py, json, csv, sys
def hist(run): return list(csv.DictReader(open(run + '/history.csv')))
def weights(path):
    with h5py.File(path, 'r') as f:
        g = f['model_weights']
        return {l + '/' + n.decode(): np.array(g[l][n.decode()]) for l in g
                for n in g[l].attrs['weight_names']}
$2" 2>&1); then ok "$1${out:+ ($out)}"; else bad "$1" "$out"; fi
}

# classes from a linear rule on 16 features (a conv layer reads them as 4x4);
# the regression set's targets are large (its gradients overflow a big scale)
$PY - <<'PY'
import numpy as np
rng = np.random.default_rng(19)
x = rng.normal(0, 1, (600, 16)).astype(np.float32)
w = rng.normal(0, 1, (16, 4))
np.save("x.npy", x)
np.save("x4.npy", x[:5].reshape(5, 4, 4, 1))
np.save("y.npy", np.argmax(x @ w, 1).astype(np.int64))
np.save("yr.npy", (1e4 * (x[:, :1] + 3)).astype(np.float32))
PY
cat > cls.cfg <<'CFG'
model: { name = "cls"; input = { shape = [4, 4, 1]; };
  layers = ( { type = "conv2d"; filters = 8; kernel_size = 3; padding = "same"; activation = "relu"; },
             { type = "flatten"; },
             { type = "dense"; units = 16; activation = "relu"; },
             { type = "dense"; units = 4; activation = "softmax"; } ); };
data: { train = { format = "npy"; x = "x.npy"; y = "y.npy"; };
        test = { format = "npy"; x = "x.npy"; y = "y.npy"; }; };
train: { loss = "sparse_categorical_crossentropy"; optimizer = { type = "adam"; lr = 0.01; };
         metrics = ["accuracy"]; epochs = 3; batch_size = 50; seed = 3; threads = 2; };
CFG
cat > reg.cfg <<'CFG'
model: { name = "reg"; input = { shape = [16]; };
  layers = ( { type = "dense"; units = 8; activation = "tanh"; },
             { type = "dense"; units = 1; } ); };
data: { train = { format = "npy"; x = "x.npy"; y = "yr.npy"; }; };
train: { loss = "mse"; optimizer = { type = "sgd"; lr = 1e-9; }; epochs = 2; batch_size = 50;
         seed = 3; threads = 2; };
CFG

# ---- bf16 where the CPU has it ----
"$NNCTL" --version > version.txt 2>&1
if grep -q "mixed_bfloat16: float32 instead" version.txt; then
    echo "note: this CPU has no bf16: the mixed_bfloat16 runs below run float32 (said once)"
    have_bf16=0
else
    have_bf16=1
fi
expect "--version names the mixed_bfloat16 kernels (or why float32)" 0 "mixed_bfloat16: " \
    -- --version
expect "train --precision mixed_bfloat16: the first line names the policy and its kernels" 0 \
    "mixed_bfloat16: bf16 products and convolutions on oneDNN" \
    -- train cls.cfg -o bf16 --precision mixed_bfloat16
if [ $have_bf16 = 0 ]; then
    if grep -q "running float32" err.txt; then ok "no bf16 here: said so, ran float32"
    else bad "no bf16 here: no one-line note" "$(cat err.txt)"; fi
fi
pycheck "model.h5 stores each layer's dtype policy by name (Keras 3 and tf-keras read it)" "
with h5py.File('bf16/model.h5', 'r') as f:
    cfg = json.loads(f.attrs['model_config'])
layers = cfg['config']['layers']
pol = [l['config'].get('dtype') for l in layers if l['class_name'] != 'InputLayer']
assert pol and all(p == 'mixed_bfloat16' for p in pol), pol
inp = [l['config'].get('dtype') for l in layers if l['class_name'] == 'InputLayer']
assert all(p == 'float32' for p in inp), inp"
pycheck "mixed_bfloat16 training learns (loss falls over 3 epochs)" "
h = hist('bf16'); l = [float(r['loss']) for r in h]
assert l[-1] < 0.7 * l[0], l"
grep -q 'precision = "mixed_bfloat16"' bf16/spec.cfg && ok "spec.cfg: precision = \"mixed_bfloat16\"" \
    || bad "spec.cfg has no precision line" "$(grep -n precision bf16/spec.cfg)"

expect "train float32 (the reference run)" 0 "float32: products on OpenBLAS" \
    -- train cls.cfg -o f32
nn eval bf16/model.h5 --json; cp out.txt eval_own.json
nn eval bf16/model.h5 --json --precision float32; cp out.txt eval_f32.json
nn eval f32/model.h5 --json --precision mixed_bfloat16; cp out.txt eval_f32_as_bf16.json
nn eval f32/model.h5 --json; cp out.txt eval_f32_own.json
pycheck "eval --precision: either model in either precision, losses within bf16's reach" "
a = json.load(open('eval_own.json')); b = json.load(open('eval_f32.json'))
c = json.load(open('eval_f32_as_bf16.json')); d = json.load(open('eval_f32_own.json'))
assert abs(a['loss'] - b['loss']) <= 0.02 * b['loss'] + 1e-4, (a, b)
assert abs(c['loss'] - d['loss']) <= 0.02 * d['loss'] + 1e-4, (c, d)
if $have_bf16:
    assert a['loss'] != b['loss'] and c['loss'] != d['loss'], 'bf16 and float32 agree to the bit'"
expect "predict --precision mixed_bfloat16 on a float32 model" 0 '"class"' \
    -- predict f32/model.h5 x4.npy --precision mixed_bfloat16 --json
expect "an unknown --precision is a usage error naming the choices" 2 \
    "expected float32, mixed_bfloat16 or mixed_float16" \
    -- eval f32/model.h5 --precision bfloat16
expect "train.precision must be a known policy (did you mean)" 2 "mixed_bfloat16" \
    -- train cls.cfg -o bad --set train.precision=mixed_bfloat
expect "a layer's own dtype is checked too" 2 "dtype" \
    -- train cls.cfg -o bad --set model.layers.[2].dtype=half

# ---- a CPU without bf16: one line, then float32 ----
ONEDNN_MAX_CPU_ISA=AVX512_CORE nn train cls.cfg -o nobf16 --precision mixed_bfloat16
if [ "$rc" = 0 ] && [ "$(grep -c "no bf16 instructions" err.txt)" = 1 ] &&
   grep -q "running float32" err.txt; then
    ok "no bf16 (ONEDNN_MAX_CPU_ISA=AVX512_CORE): one line says so, then float32"
else
    bad "no bf16: one line" "exit $rc: $(cat err.txt)"
fi
pycheck "without bf16 the mixed run trains exactly as float32" "
a = hist('nobf16'); b = hist('f32')
assert [r['loss'] for r in a] == [r['loss'] for r in b], (a, b)"

# ---- auto ----
expect "precision auto measures both and says which it picked" 0 "precision auto: " \
    -- train cls.cfg -o auto --precision auto
if grep -qE 'precision = "(float32|mixed_bfloat16)"' auto/spec.cfg; then
    ok "auto: spec.cfg records the pick ($(grep -oE 'precision = "[a-z0-9_]+"' auto/spec.cfg))"
else
    bad "auto: spec.cfg records the pick" "$(grep -n precision auto/spec.cfg)"
fi
pick=$(grep -oE 'precision = "[a-z0-9_]+"' auto/spec.cfg | cut -d'"' -f2)
ref=f32
[ "$pick" = mixed_bfloat16 ] && ref=bf16
pycheck "auto: the run equals a plain $pick run (the timing steps left nothing behind)" "
a = hist('auto'); b = hist('$ref')
assert [r['loss'] for r in a] == [r['loss'] for r in b], (a, b)"

# ---- loss scaling ----
expect "mixed_float16 on the CPU: one line, float32 products, loss scaling on" 0 \
    "mixed_float16 needs the GPU engine" -- train cls.cfg -o f16 --precision mixed_float16
pycheck "mixed_float16: history has loss_scale (2^15) and skipped_steps" "
h = hist('f16')
assert [float(r['loss_scale']) for r in h] == [32768.0] * 3, h
assert [r['skipped_steps'] for r in h] == ['0'] * 3, h"
expect "loss_scale 2^10, doubling every 3 good steps (never overflows)" 0 "Saved" \
    -- train cls.cfg -o ls1024 --set train.loss_scale.initial_scale=1024 \
       --set train.loss_scale.dynamic_growth_steps=3
pycheck "power-of-two scales train exactly as no scaling; 3 good steps double the scale" "
h = hist('ls1024')
assert [float(r['loss_scale']) for r in h] == [1024.0 * 2 ** 4, 1024.0 * 2 ** 8, 1024.0 * 2 ** 12], h
a, b = weights('ls1024/model.h5'), weights('f32/model.h5')
assert a.keys() == b.keys()
worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
assert worst == 0.0, worst
assert [r['loss'] for r in h] == [r['loss'] for r in hist('f32')]"
expect "a scale that overflows (1e38, targets 1e4)" 0 "Saved" \
    -- train reg.cfg -o ovf --set train.loss_scale.initial_scale=1e38
pycheck "overflowing steps are skipped, counted, and each halves the scale" "
h = hist('ovf'); s = [int(r['skipped_steps']) for r in h]; sc = [float(r['loss_scale']) for r in h]
assert s[0] > 0, h
assert abs(np.log2(1e38 / sc[-1]) - sum(s)) < 1e-6, (s, sc)
assert all(np.isfinite(float(r['loss'])) for r in h)"
# stopped after epoch 1 (epochs = 1), then resumed to 2: the same as one run
"$NNCTL" train reg.cfg -o ovf_a -q --set train.loss_scale.initial_scale=1e38 \
    --set train.epochs=1 > /dev/null 2>&1 &&
"$NNCTL" train reg.cfg -o ovf_a -q --set train.loss_scale.initial_scale=1e38 \
    --resume ovf_a/model.h5 > /dev/null 2> err.txt
rc=$?
if [ "$rc" = 0 ]; then
    pycheck "a resumed loss-scaled run equals one never stopped (scale, skips, weights)" "
a, b = hist('ovf_a'), hist('ovf')
assert [(r['loss'], r['loss_scale'], r['skipped_steps']) for r in a] == \
       [(r['loss'], r['loss_scale'], r['skipped_steps']) for r in b], (a, b)
wa, wb = weights('ovf_a/model.h5'), weights('ovf/model.h5')
assert all(np.array_equal(wa[k], wb[k]) for k in wa)"
else
    bad "resume a loss-scaled run" "exit $rc: $(head -c 300 err.txt)"
fi

nn_summary mixed-precision
