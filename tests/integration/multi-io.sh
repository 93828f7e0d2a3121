#!/usr/bin/env bash
# Models with several inputs and several outputs (Keras's functional API),
# end to end on data this script generates: format = "npy" with x and y
# groups naming the model's inputs and outputs, a loss per output with
# loss weights, the per-output columns of history.csv and eval --json, and
# the errors a wrong multi-output spec gives.
#
#   NNCTL=build/nnctl tests/integration/multi-io.sh
#
# The expected losses are computed independently in numpy from the weights
# in model.h5 (read with h5py): the forward pass of the two-input,
# two-output network, each output's loss (categorical cross-entropy, mean
# squared error) and their weighted sum must equal what nnctl eval reports
# (1e-5 relative). Needs /usr/bin/python3 with numpy and h5py. About 10 s
# on 2 cores.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nn_abs_nnctl
nn_need_python multi-io numpy h5py
nn_data_workdir multi

$PY - "$W" <<'PY'
import sys, numpy as np
w = sys.argv[1]
r = np.random.default_rng(11)
A = r.normal(size=(6, 3)); B = r.normal(size=(3, 3)); c = r.normal(size=6)
for name, n in (("train", 1500), ("test", 500)):
    a = r.normal(size=(n, 6)).astype(np.float32)      # input "pixels"
    b = r.normal(size=(n, 3)).astype(np.float32)      # input "meta"
    np.save(f"{w}/{name}_a.npy", a)
    np.save(f"{w}/{name}_b.npy", b)
    # the class needs both inputs; the value needs only the first
    np.save(f"{w}/{name}_cls.npy", np.argmax(a @ A + b @ B, axis=1).astype(np.int64))
    np.save(f"{w}/{name}_val.npy", (a @ c).astype(np.float32))
np.save(f"{w}/short_b.npy", np.zeros((1499, 3), np.float32))
PY

model='inputs = ( { name = "pixels"; shape = [6]; }, { name = "meta"; shape = [3]; } );
  outputs = ["digit", "value"];
  layers = (
    { type = "dense"; name = "pa"; inputs = ["pixels"]; units = 32; activation = "relu"; },
    { type = "dense"; name = "mb"; inputs = ["meta"]; units = 16; activation = "relu"; },
    { type = "concatenate"; name = "both"; inputs = ["pa", "mb"]; },
    { type = "dense"; name = "digit"; inputs = ["both"]; units = 3; activation = "softmax"; },
    { type = "dense"; name = "value"; inputs = ["pa"]; units = 1; }
  );'
data='train = { format = "npy"; x = { meta = "train_b.npy"; pixels = "train_a.npy"; };
                  y = { digit = "train_cls.npy"; value = "train_val.npy"; }; };
  test = { format = "npy"; x = { pixels = "test_a.npy"; meta = "test_b.npy"; };
           y = { value = "test_val.npy"; digit = "test_cls.npy"; }; };
  one_hot = true; validation_split = 0.2;'
train='loss = { digit = "categorical_crossentropy"; value = "mse"; };
  loss_weights = { digit = 1.0; value = 0.5; };
  metrics = ["accuracy"];
  optimizer = { type = "adam"; lr = 0.01; };
  epochs = 12; batch_size = 32; seed = 2;'
spec() { # NAME MODEL DATA TRAIN
    printf 'model: { %s };\ndata: { %s };\ntrain: { %s };\n' "$2" "$3" "$4" > "$W/$1.cfg"
}
jfield() { $PY -c "import json,sys; print(json.load(open(sys.argv[2]))[sys.argv[1]])" "$1" "$2" 2>/dev/null; }
above() { $PY -c "import sys; sys.exit(0 if float('$1') > float('$2') else 1)" 2>/dev/null; }
below() { $PY -c "import sys; sys.exit(0 if float('$1') < float('$2') else 1)" 2>/dev/null; }

cd "$W" || exit 1
# wts(model file)(layer): the layer's weights from a saved model, float64
cat > weights.py <<'PY'
import h5py, numpy as np
def wts(path):
    def layer(name):
        with h5py.File(path, "r") as f:
            g = f["model_weights"][name]
            return [np.array(g[n], np.float64) for n in g.attrs["weight_names"]]
    return layer
PY
# columns NAME CSV WANT: the CSV's header starts with WANT
columns() {
    local head
    head=$(head -1 "$2")
    case "$head" in
    "$3"*) ok "$1" ;;
    *) bad "$1" "got '$head', want '$3,...'" ;;
    esac
}
spec two "$model" "$data" "$train"
if "$NNCTL" train two.cfg -o run --quiet > train.log 2>&1; then
    acc=$(jfield digit_accuracy run/eval.json) mse=$(jfield value_loss run/eval.json)
    if above "${acc:-0}" 0.9; then ok "digit output learns: test digit_accuracy $acc > 0.9"
    else bad "digit output learns" "test digit_accuracy ${acc:-none}, want > 0.9"; fi
    if below "${mse:-9}" 0.1; then ok "value output learns: test value_loss $mse < 0.1"
    else bad "value output learns" "test value_loss ${mse:-none}, want < 0.1"; fi
    columns "history.csv columns: per-output losses and metrics, as Keras logs them" \
        run/history.csv "epoch,loss,digit_loss,value_loss,digit_accuracy,value_accuracy,val_loss,val_digit_loss,val_value_loss,val_digit_accuracy,val_value_accuracy"
else
    bad "two-input, two-output model trains" "$(tail -3 train.log)"
fi

# The losses nnctl reports against numpy's, from the saved weights.
if [ -f run/model.h5 ] && "$NNCTL" eval run/model.h5 --json > ev.json 2> ev.err; then
    if out=$($PY - <<'PY' 2>&1
import json, sys, numpy as np, h5py
from weights import wts
wts = wts("run/model.h5")
a = np.load("test_a.npy").astype(np.float64); b = np.load("test_b.npy").astype(np.float64)
cls = np.load("test_cls.npy"); val = np.load("test_val.npy").astype(np.float64)
relu = lambda v: np.maximum(v, 0)
(W1, b1), (W2, b2), (W3, b3), (W4, b4) = wts("pa"), wts("mb"), wts("digit"), wts("value")
pa = relu(a @ W1 + b1); mb = relu(b @ W2 + b2)
z = np.concatenate([pa, mb], 1) @ W3 + b3
logp = z - z.max(1, keepdims=True); logp -= np.log(np.exp(logp).sum(1, keepdims=True))
ce = -logp[np.arange(len(cls)), cls].mean()
mse = (((pa @ W4 + b4)[:, 0] - val) ** 2).mean()
got = json.load(open("ev.json"))
want = {"digit_loss": ce, "value_loss": mse, "loss": 1.0 * ce + 0.5 * mse}
worst = 0.0
for k, v in want.items():
    e = abs(got[k] - v) / abs(v)
    worst = max(worst, e)
    if not e <= 1e-5:
        print(f"{k}: nnctl {got[k]!r}, numpy {v!r}, relative error {e:.2e}"); sys.exit(1)
print(f"worst relative error {worst:.1e}")
PY
    ); then ok "eval: loss = 1.0 digit_loss + 0.5 value_loss, each equal to numpy's ($out)"
    else bad "eval losses against numpy" "$out"; fi
else
    bad "eval of the two-output model" "$(cat ev.err 2>/dev/null | tail -2)"
fi

# metrics per output (Keras's dict form): each output logs its own list;
# value_mae against numpy's mean |prediction - target|
one_list='metrics = ["accuracy"];'
spec per "$model" "$data" "${train/"$one_list"/'metrics = { digit = ["accuracy"]; value = ["mae"]; };'}"
if "$NNCTL" train per.cfg -o perrun --quiet --set train.epochs=3 > per.log 2>&1; then
    columns "metrics per output: history.csv has digit_accuracy and value_mae only" \
        perrun/history.csv "epoch,loss,digit_loss,value_loss,digit_accuracy,value_mae,val_loss,val_digit_loss,val_value_loss,val_digit_accuracy,val_value_mae"
    if out=$($PY - <<'PY' 2>&1
import json, sys, numpy as np, h5py
from weights import wts
wts = wts("perrun/model.h5")
a = np.load("test_a.npy").astype(np.float64); val = np.load("test_val.npy").astype(np.float64)
(W1, b1), (W4, b4) = wts("pa"), wts("value")
mae = np.abs((np.maximum(a @ W1 + b1, 0) @ W4 + b4)[:, 0] - val).mean()
got = json.load(open("perrun/eval.json"))
assert "value_accuracy" not in got and "digit_mae" not in got, sorted(got)
e = abs(got["value_mae"] - mae) / mae
if not e <= 1e-5:
    print(f"value_mae: nnctl {got['value_mae']!r}, numpy {mae!r}"); sys.exit(1)
with h5py.File("perrun/model.h5", "r") as f:
    tc = json.loads(f.attrs["training_config"])
assert tc["metrics"] == {"digit": ["accuracy"], "value": ["mae"]}, tc["metrics"]
print(f"relative error {e:.1e}; training_config metrics {tc['metrics']}")
PY
    ); then ok "metrics per output: test value_mae equals numpy's, and model.h5 keeps the dict ($out)"
    else bad "metrics per output against numpy" "$out"; fi
else
    bad "metrics per output: training" "$(tail -3 per.log)"
fi

# summary lists both inputs, and the model file reloads for more training
if "$NNCTL" summary run/model.h5 > sum.txt 2>&1 && grep -q "pixels (InputLayer)" sum.txt &&
    grep -q "meta (InputLayer)" sum.txt; then ok "summary lists both InputLayers"
else bad "summary of the two-input model" "$(head -5 sum.txt)"; fi

# predict on the two-input model: one file per input (--input NAME=FILE),
# or an HDF5 file with a dataset named after each input
$PY -c "
import h5py, numpy as np
with h5py.File('in.h5', 'w') as f:
    f['pixels'] = np.load('test_a.npy')[:50]; f['meta'] = np.load('test_b.npy')[:50]"
if "$NNCTL" predict run/model.h5 --input meta=test_b.npy --input pixels=test_a.npy --layer digit -o p_digit.npy > p.log 2>&1 &&
   "$NNCTL" predict run/model.h5 in.h5 --layer value -o p_value.npy >> p.log 2>&1 &&
   "$NNCTL" predict run/model.h5 --input pixels=test_a.npy --input meta=test_b.npy --layer digit --json > p_digit.json 2>> p.log; then
    if out=$($PY - <<'PY' 2>&1
import json, numpy as np
from weights import wts
wts = wts("run/model.h5")
a = np.load("test_a.npy").astype(np.float64); b = np.load("test_b.npy").astype(np.float64)
relu = lambda v: np.maximum(v, 0)
(W1, b1), (W2, b2), (W3, b3), (W4, b4) = wts("pa"), wts("mb"), wts("digit"), wts("value")
pa = relu(a @ W1 + b1); z = np.concatenate([pa, relu(b @ W2 + b2)], 1) @ W3 + b3
p = np.exp(z - z.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
got = np.load("p_digit.npy"); v = np.load("p_value.npy")
e1 = np.max(np.abs(got - p)) / np.max(np.abs(p)); e2 = np.max(np.abs(v - (pa @ W4 + b4)[:50])) / np.max(np.abs(v))
assert got.shape == (500, 3) and v.shape == (50, 1) and e1 < 1e-5 and e2 < 1e-5, (got.shape, v.shape, e1, e2)
j = json.load(open("p_digit.json"))
assert [e["input"] for e in j[:2]] == ["test_a.npy[0]", "test_a.npy[1]"], j[:2]
print("relative errors %.1e %.1e" % (e1, e2))
PY
    ); then ok "predict with two inputs: --input NAME=FILE and an HDF5 file of one dataset per input equal numpy ($out)"
    else bad "predict with two inputs against numpy" "$out"; fi
else
    bad "predict with two inputs" "$(tail -3 p.log)"
fi
out=$("$NNCTL" predict run/model.h5 --input pixel=test_a.npy --input meta=test_b.npy --layer digit 2>&1)
if [ $? = 2 ] && echo "$out" | grep -q "'pixel' is not an input of the model; did you mean 'pixels'?"; then
    ok "predict --input with a misspelled input name: did you mean (exit 2)"
else bad "predict --input misspelled" "$out"; fi
out=$("$NNCTL" predict run/model.h5 --input pixels=test_a.npy --input meta=short_b.npy --layer digit 2>&1)
if [ $? = 2 ] && echo "$out" | grep -q "input 'meta' has 1499 samples but input 'pixels' has 500"; then
    ok "predict with inputs of different lengths names both (exit 2)"
else bad "predict inputs of different lengths" "$out"; fi

# ---- errors: each names what to fix ----
expect_error() { # NAME PATTERN CFG-TEXT-MODEL DATA TRAIN [command...]
    local name=$1 pat=$2
    spec err "$3" "$4" "$5"
    shift 5
    local cmd=("$@")
    [ ${#cmd[@]} -eq 0 ] && cmd=(train err.cfg -o errrun --quiet)
    out=$("$NNCTL" "${cmd[@]}" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && echo "$out" | grep -q -- "$pat"; then ok "error: $name"
    else bad "error: $name" "exit $rc: $out"; fi
}
expect_error "a loss for an unknown output" 'unknown key "valeu"; did you mean "value"? (a required key)' "$model" "$data" \
    "${train/value = \"mse\"/valeu = \"mse\"}"
expect_error "metrics for an unknown output" 'unknown key "digti"; did you mean "digit"' "$model" "$data" \
    "${train/"$one_list"/'metrics = { digti = ["accuracy"]; };'}"
expect_error "an output without a loss" 'missing required key "value"' "$model" "$data" \
    'loss = { digit = "categorical_crossentropy"; }; epochs = 1;'
expect_error "an input without data" 'input "meta" has no array' "$model" \
    "${data/meta = \"train_b.npy\"; /}" "$train"
expect_error "arrays of different lengths" "short_b.npy" "$model" \
    "${data/train_b.npy/short_b.npy}" "$train"
expect_error "a layer left dangling" 'feeds nothing and is not in model.outputs' \
    "${model/outputs = \[\"digit\", \"value\"\];/outputs = [\"digit\"];}" "$data" "$train"
expect_error "an output that feeds another layer" 'also feeds another layer' \
    "${model/outputs = \[\"digit\", \"value\"\];/outputs = [\"pa\", \"digit\", \"value\"];}" \
    "$data" "$train"
expect_error "two unconsumed layers without model.outputs" 'model.outputs = \["digit", "value"\]' \
    "${model/outputs = \[\"digit\", \"value\"\];/}" "$data" "$train"
expect_error "an element-wise metric on integer labels (it read past the targets)" \
    'metric "mae" compares output .digit. (3 units)' "$model" "${data/one_hot = true;/}" \
    'loss = { digit = "sparse_categorical_crossentropy"; value = "mse"; }; metrics = ["mae"]; optimizer = "adam";'
expect_error "predict on a two-input model given one plain file says how to give each" \
    'the model has 2 inputs: give each its file with --input NAME=FILE, or an HDF5 file' \
    "$model" "$data" "$train" predict run/model.h5 test_a.npy --layer digit
expect_error "C export of a two-output model" 'one-input, one-output' "$model" "$data" "$train" \
    export run/model.h5 --format c -o m.h

nn_summary multi-io
