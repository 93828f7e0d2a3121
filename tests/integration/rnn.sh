#!/usr/bin/env bash
# Recurrent networks end to end, on sequences this script generates (no
# downloads): CSV sequences (classification and regression), token
# sequences through an Embedding, a variable length with mask_zero, save /
# load, and the errors a user meets.
#
#   NNCTL=build/nnctl tests/integration/rnn.sh
#
# Expected values are stated by hand: the tasks are easy for a recurrent net
# (a sign of a sum, the presence of a token), so a working layer gets far
# above chance in a few epochs and a broken one does not; reloading a saved
# model must reproduce the in-memory evaluation exactly. Needs python3
# (standard library) to write the data. About 20 s on 2 cores.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nn_abs_nnctl
nn_data_workdir rnn

python3 - "$W" <<'PY'
import random, sys
w = sys.argv[1]
r = random.Random(7)
def seqs(path, n, label_of):
    with open(path, "w") as f:
        for _ in range(n):
            x = [[r.gauss(0, 1) for _ in range(2)] for _ in range(12)]
            f.write(label_of(x) + "," + ",".join("%.5f" % v for step in x for v in step) + "\n")
# class: does feature 0 sum to more than 0 over the 12 steps?
for name, n in (("cls_train.csv", 2000), ("cls_test.csv", 500)):
    seqs(f"{w}/{name}", n, lambda x: "1" if sum(s[0] for s in x) > 0 else "0")
# regression: the mean of feature 1 over the steps (variance 1/12)
for name, n in (("reg_train.csv", 2000), ("reg_test.csv", 500)):
    seqs(f"{w}/{name}", n, lambda x: "%.5f" % (sum(s[1] for s in x) / 12))
# tokens: does id 3 occur? lengths 3..15, ids 2..19, maxlen 10 cuts some
def toks(path, n):
    with open(path, "w") as f:
        for i in range(n):
            has = i % 2 == 0
            k = r.randint(3, 15)
            ids = [r.choice([t for t in range(2, 20) if t != 3]) for _ in range(k)]
            if has:
                ids[r.randrange(max(0, k - 10), k)] = 3  # inside the kept tail
            f.write(("1 " if has else "0 ") + " ".join(map(str, ids)) + "\n")
toks(f"{w}/tok_train.txt", 2000)
toks(f"{w}/tok_test.txt", 400)
with open(f"{w}/tok_bad.txt", "w") as f:
    f.write("0 2 3 4\n1 5 70 6\n")
PY

spec() { # NAME MODEL DATA LOSS EPOCHS
    cat > "$W/$1.cfg" <<CFG
model: { $2 };
data: { $3 };
train: { loss = "$4"; optimizer = { type = "adam"; lr = 0.01; clipnorm = 1.0; };
         metrics = $([ "$4" = mse ] && echo '["mae"]' || echo '["accuracy"]');
         epochs = $5; batch_size = 32; seed = 3; };
CFG
}
# field NAME JSON: a number from an evaluation's JSON (RUN/eval.json, eval --json)
field() { python3 -c "import json,sys; print(repr(json.load(open(sys.argv[2]))[sys.argv[1]]))" "$1" "$2" 2>/dev/null; }
above() { python3 -c "import sys; sys.exit(0 if float('$1') > float('$2') else 1)" 2>/dev/null; }

csv_data='train = { format = "csv"; path = "cls_train.csv"; timesteps = 12; features = 2; };
          test  = { format = "csv"; path = "cls_test.csv";  timesteps = 12; features = 2; };'
for cell in simple_rnn lstm gru; do
    spec "cls_$cell" "input = { shape = [12, 2]; }; layers = (
        { type = \"$cell\"; units = 16; },
        { type = \"dense\"; units = 2; activation = \"softmax\"; } );" \
        "$csv_data" sparse_categorical_crossentropy 8
    if "$NNCTL" train "$W/cls_$cell.cfg" -o "$W/run_$cell" --quiet > "$W/$cell.log" 2>&1; then
        acc=$(field accuracy "$W/run_$cell/eval.json")
        if above "${acc:-0}" 0.9; then ok "$cell learns the sign of a sum (test accuracy $acc > 0.9)"
        else bad "$cell learns the sign of a sum" "test accuracy ${acc:-none}, want > 0.9"; fi
    else
        bad "$cell trains" "$(tail -3 "$W/$cell.log")"
    fi
done

# saved and loaded: the file's model gives exactly the in-memory results
if [ -f "$W/run_lstm/model.h5" ]; then
    "$NNCTL" eval "$W/run_lstm/model.h5" --json > "$W/eval.json" 2> "$W/eval.err"
    a=$(field loss "$W/run_lstm/eval.json"); b=$(field loss "$W/eval.json")
    if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "lstm model.h5 reloaded: test loss identical ($a)"
    else bad "lstm model.h5 reloaded" "in training: '$a', from the file: '$b'"; fi
else
    bad "lstm model.h5 reloaded" "the lstm run wrote no model.h5"
fi

# stacked, bidirectional, go_backwards, time_distributed, dropout
spec stack "input = { shape = [12, 2]; }; layers = (
    { type = \"bidirectional\"; layer = { type = \"gru\"; units = 8; return_sequences = true;
      dropout = 0.1; recurrent_dropout = 0.1; }; },
    { type = \"time_distributed\"; layer = { type = \"dense\"; units = 8; activation = \"relu\"; }; },
    { type = \"lstm\"; units = 8; go_backwards = true; },
    { type = \"dense\"; units = 2; activation = \"softmax\"; } );" \
    "$csv_data" sparse_categorical_crossentropy 6
if "$NNCTL" train "$W/stack.cfg" -o "$W/run_stack" --quiet > "$W/stack.log" 2>&1; then
    acc=$(field accuracy "$W/run_stack/eval.json")
    if above "${acc:-0}" 0.9; then ok "stacked bidirectional/time_distributed/lstm (accuracy $acc > 0.9)"
    else bad "stacked recurrent model" "test accuracy ${acc:-none}, want > 0.9"; fi
else
    bad "stacked recurrent model trains" "$(tail -3 "$W/stack.log")"
fi

# regression: predicting the mean beats predicting 0 (mse 1/12 = 0.083)
spec reg "input = { shape = [12, 2]; }; layers = (
    { type = \"lstm\"; units = 16; }, { type = \"dense\"; units = 1; } );" \
    'train = { format = "csv"; path = "reg_train.csv"; timesteps = 12; features = 2; label = "value"; };
     test  = { format = "csv"; path = "reg_test.csv";  timesteps = 12; features = 2; label = "value"; };' \
    mse 8
if "$NNCTL" train "$W/reg.cfg" -o "$W/run_reg" --quiet > "$W/reg.log" 2>&1; then
    mse=$(field loss "$W/run_reg/eval.json")
    if above 0.02 "${mse:-1}"; then ok "lstm regression: test mse $mse < 0.02 (predicting 0: 0.083)"
    else bad "lstm regression" "test mse ${mse:-none}, want < 0.02"; fi
else
    bad "lstm regression trains" "$(tail -3 "$W/reg.log")"
fi

# token ids through an embedding
tok_model='input = { shape = [10]; }; layers = (
    { type = "embedding"; input_dim = 20; output_dim = 8; },
    { type = "bidirectional"; layer = { type = "lstm"; units = 8; }; merge_mode = "sum"; },
    { type = "dense"; units = 2; activation = "softmax"; } );'
spec tok "$tok_model" 'train = { format = "tokens"; path = "tok_train.txt"; maxlen = 10; };
     test  = { format = "tokens"; path = "tok_test.txt";  maxlen = 10; };' \
    sparse_categorical_crossentropy 6
if "$NNCTL" train "$W/tok.cfg" -o "$W/run_tok" --quiet > "$W/tok.log" 2>&1; then
    acc=$(field accuracy "$W/run_tok/eval.json")
    if above "${acc:-0}" 0.9; then ok "embedding + bidirectional lstm finds a token (accuracy $acc > 0.9)"
    else bad "embedding + bidirectional lstm" "test accuracy ${acc:-none}, want > 0.9"; fi
else
    bad "embedding model trains" "$(tail -3 "$W/tok.log")"
fi

# a variable length (shape [0], Keras's None) with mask_zero: training runs
# at the data's padded length, exactly as the spec giving that length does
# (the same draws, and post-padding behind the mask changes nothing); the
# model file keeps None, eval runs at the test data's length, predict at
# each .npy file's
masked_model() { # SHAPE
    echo "input = { shape = [$1]; }; layers = (
    { type = \"embedding\"; input_dim = 20; output_dim = 8; mask_zero = true; },
    { type = \"gru\"; units = 8; },
    { type = \"dense\"; units = 2; activation = \"softmax\"; } );"
}
post_data='train = { format = "tokens"; path = "tok_train.txt"; maxlen = 10; padding = "post"; };
     test  = { format = "tokens"; path = "tok_test.txt";  maxlen = 10; padding = "post"; };'
spec var "$(masked_model 0)" "$post_data" sparse_categorical_crossentropy 4
spec fixed "$(masked_model 10)" "$post_data" sparse_categorical_crossentropy 4
if "$NNCTL" train "$W/var.cfg" -o "$W/run_var" --quiet > "$W/var.log" 2>&1 &&
    "$NNCTL" train "$W/fixed.cfg" -o "$W/run_fixed" --quiet > "$W/fixed.log" 2>&1; then
    a=$(field loss "$W/run_var/eval.json"); b=$(field loss "$W/run_fixed/eval.json")
    acc=$(field accuracy "$W/run_var/eval.json")
    if [ -n "$a" ] && [ "$a" = "$b" ] && above "${acc:-0}" 0.9; then
        ok "shape [0] + mask_zero trains as shape [10] does (test loss $a, accuracy $acc)"
    else
        bad "shape [0] + mask_zero trains as shape [10]" "losses '$a' and '$b', accuracy '$acc'"
    fi
    if "$NNCTL" summary "$W/run_var/model.h5" 2>&1 | grep -q "(None, None, 8)"; then
        ok "the model file keeps the None length (summary)"
    else bad "the model file keeps the None length" "$("$NNCTL" summary "$W/run_var/model.h5" 2>&1 | head -12)"; fi
    "$NNCTL" eval "$W/run_var/model.h5" --json > "$W/var_eval.json" 2> "$W/var_eval.err"
    c=$(field loss "$W/var_eval.json")
    if [ -n "$c" ] && [ "$a" = "$c" ]; then ok "eval of the None-length model.h5 gives the training run's loss ($c)"
    else bad "eval of the None-length model.h5" "'$c', in training '$a': $(head -2 "$W/var_eval.err")"; fi
    # ids as int32 .npy files of lengths 4 and 13 (written with the standard library)
    python3 - "$W" <<'PY'
import struct, sys
def npy(path, rows):
    hdr = "{'descr': '<i4', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), len(rows[0]))
    hdr += " " * (63 - (len(hdr) + 10) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
        f.write(b"".join(struct.pack("<i", v) for r in rows for v in r))
npy(sys.argv[1] + "/ids4.npy", [[3, 5, 0, 0], [7, 8, 9, 2]])
npy(sys.argv[1] + "/ids13.npy", [[2] * 12 + [3], [4, 5, 6] + [0] * 10, [9] * 13])
PY
    if "$NNCTL" predict "$W/run_var/model.h5" "$W/ids4.npy" "$W/ids13.npy" > "$W/var_pred.out" 2>&1 &&
        [ "$(grep -c '^.*ids[0-9]*\.npy\[[0-9]\]: [01] ' "$W/var_pred.out")" = 5 ]; then
        ok "predict takes each .npy file's length (4 and 13) in one command"
    else bad "predict at two lengths" "$(head -5 "$W/var_pred.out")"; fi
else
    bad "shape [0] + mask_zero trains" "$(tail -3 "$W/var.log" "$W/fixed.log")"
fi

# data.bucket_by_length on Keras's default pre-padding: batches of similar
# lengths (each runs only its own steps) still learn; the same seed gives
# the same run
pre_data='train = { format = "tokens"; path = "tok_train.txt"; maxlen = 10; };
     test  = { format = "tokens"; path = "tok_test.txt";  maxlen = 10; };
     bucket_by_length = true;'
spec bucket "$(masked_model 0)" "$pre_data" sparse_categorical_crossentropy 4
if "$NNCTL" train "$W/bucket.cfg" -o "$W/run_bucket" --quiet > "$W/bucket.log" 2>&1 &&
    "$NNCTL" train "$W/bucket.cfg" -o "$W/run_bucket2" --quiet >> "$W/bucket.log" 2>&1; then
    a=$(field loss "$W/run_bucket/eval.json"); b=$(field loss "$W/run_bucket2/eval.json")
    acc=$(field accuracy "$W/run_bucket/eval.json")
    if above "${acc:-0}" 0.9 && [ -n "$a" ] && [ "$a" = "$b" ]; then
        ok "data.bucket_by_length trains a masked gru (accuracy $acc > 0.9), the same twice (loss $a)"
    else bad "data.bucket_by_length trains" "accuracy '${acc}', losses '$a' and '$b'"; fi
else
    bad "data.bucket_by_length trains" "$(tail -3 "$W/bucket.log")"
fi

# errors: file and line or layer, and what was expected; exit status 2 or 1, no crash
expect_error() { # NAME CFG PATTERN
    "$NNCTL" train "$W/$2.cfg" -o "$W/run_err" --quiet > "$W/err.log" 2>&1
    local rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q -- "$3" "$W/err.log"; then ok "$1"
    else bad "$1" "exit $rc: $(head -2 "$W/err.log")"; fi
}
spec badtok "$tok_model" 'train = { format = "tokens"; path = "tok_bad.txt"; maxlen = 10; };' \
    sparse_categorical_crossentropy 1
expect_error "a token id beyond input_dim names the sample, the layer and the range" badtok \
    "sample 1, position 8 holds 70, but layer 'embedding' (embedding) takes integer token ids in \[0, 20)"
spec nobucket "$tok_model" "$pre_data" sparse_categorical_crossentropy 1
expect_error "data.bucket_by_length without mask_zero says what it needs" nobucket \
    "data.bucket_by_length: the model has no embedding with mask_zero = true"
spec flat "input = { shape = [24]; }; layers = ( { type = \"lstm\"; units = 4; } );" \
    "$csv_data" mse 1
expect_error "lstm on a flat input says what it expects" flat \
    "flat.cfg:1.*layer 'lstm' (lstm): expects (timesteps, features) sequences"
spec wrap "input = { shape = [12, 2]; }; layers = (
    { type = \"bidirectional\"; layer = { type = \"dense\"; units = 4; }; } );" "$csv_data" mse 1
expect_error "bidirectional around a dense layer lists what it wraps" wrap \
    "wrap.cfg:[0-9]*:.*simple_rnn.*lstm.*gru"
spec smax "input = { shape = [12, 2]; }; layers = (
    { type = \"gru\"; units = 4; activation = \"softmax\"; } );" "$csv_data" mse 1
expect_error "softmax as a recurrent activation is refused" smax \
    "smax.cfg:[0-9]*: .*softmax is not an elementwise activation"

spec regsparse "input = { shape = [12, 2]; }; layers = ( { type = \"lstm\"; units = 4; },
    { type = \"dense\"; units = 1; activation = \"sigmoid\"; } );" \
    'train = { format = "csv"; path = "reg_train.csv"; timesteps = 12; features = 2; label = "value"; };' \
    sparse_categorical_crossentropy 1
expect_error "a class loss on regression targets is refused" regsparse \
    'regsparse.cfg:[0-9]*: train.loss: loss "sparse_categorical_crossentropy" needs integer class labels, but the data holds float targets (npy floats, or csv label = "value")'
spec regwide "input = { shape = [12, 2]; }; layers = ( { type = \"lstm\"; units = 4; },
    { type = \"dense\"; units = 3; activation = \"softmax\"; } );" \
    'train = { format = "csv"; path = "reg_train.csv"; timesteps = 12; features = 2; label = "value"; };' \
    sparse_categorical_crossentropy 1
expect_error "one regression value a row for an output of 3 units is refused" regwide \
    "regwide.cfg:[0-9]*: data.train: 'reg_train.csv' has 1 target value per sample but output layer 'dense' gives 3 (shape (None, 3)): give one target per output unit, or change the layer's units; class labels are integers (npy), or csv's label = \"class\""

nn_summary rnn
