#!/usr/bin/env bash
# `nnctl export MODEL --format c`: for every layer type, a small model is
# trained for two epochs (so its weights are not the initial ones), exported
# as a C header, compiled with a driver this script writes (cc -std=c99
# -Wall -Wextra -pedantic -Werror, plus -Wvla -Wconversion -Wshadow
# -Wdouble-promotion as embedded builds use) and run on a few inputs; its
# outputs must match `nnctl predict x.npy -o y.npy` to 1e-5 relative plus
# 1e-6 absolute (the engine's BLAS sums in another order). Then: two headers
# in one file, a byte-identical re-export, and the errors (a NaN weight, an
# unwritable path).
#
#   NNCTL=build/nnctl tests/integration/c-export.sh     (CC=clang works too)
#
# Needs python3 with numpy (h5py for the NaN check) and a C compiler.
# About 15 s on 2 cores.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nn_abs_nnctl
CC=${CC:-cc}
CFLAGS_C="-std=c99 -Wall -Wextra -pedantic -Werror -Wvla -Wconversion -Wshadow -Wdouble-promotion"
nn_need_python c-export numpy
nn_data_workdir cexport

# ---- data: images (IDX), float sequences (csv), token ids ----
$PY - "$W" <<'PY'
import numpy as np, struct, sys
w = sys.argv[1]
r = np.random.default_rng(11)
def idx(path, a):
    a = np.asarray(a, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape))
        f.write(a.tobytes())
def images(name, shape, n=240):
    x = r.integers(0, 256, size=(n,) + shape)
    y = (x[:, : shape[0] // 2].mean(axis=(1, 2, 3)) > x.mean(axis=(1, 2, 3))).astype(int)
    y += 2 * (x[..., 0].mean(axis=(1, 2)) > 127.5)
    idx(f"{w}/{name}_x.idx", x)
    idx(f"{w}/{name}_y.idx", y % 3)
images("img6", (6, 6, 1))
images("img10", (10, 10, 2))
images("img8", (8, 8, 3))
with open(f"{w}/seq.csv", "w") as f:  # (12, 2): the sign of feature 0's sum
    for _ in range(240):
        x = r.normal(size=(12, 2))
        f.write("%d," % (x[:, 0].sum() > 0) + ",".join("%.5f" % v for v in x.ravel()) + "\n")
with open(f"{w}/seq16.csv", "w") as f:  # (16, 3), regression target
    for _ in range(240):
        x = r.normal(size=(16, 3))
        f.write("%.5f," % x[:, 1].mean() + ",".join("%.5f" % v for v in x.ravel()) + "\n")
with open(f"{w}/tok.txt", "w") as f:  # does token 3 occur?
    for i in range(240):
        ids = r.integers(4, 20, size=10)
        if i % 2:
            ids[r.integers(0, 10)] = 3
        f.write("%d " % (i % 2) + " ".join(map(str, ids)) + "\n")
PY

export_c() { "$NNCTL" export "$1" --format c -o "$2" 2> "$W/export.err"; }
# the exported C takes the inputs as the network does (data.scale is the
# data's preprocessing, not part of the network): predict with data.scale = 1
nnctl_outputs() { "$NNCTL" predict "$1" "$2.npy" -o "$3.npy" --set data.scale=1 > /dev/null 2> "$W/predict.err"; }

# The driver: raw float32 samples in, raw outputs out, a static scratch.
driver() { # PREFIX HEADER -> $W/PREFIX.c
    local p=$1 P
    P=$(echo "$1" | tr a-z A-Z)
    cat > "$W/$p.c" <<C
#include <stdio.h>
#include "$2"
static float scratch[${P}_SCRATCH_SIZE];
int main(int argc, char **argv)
{
    static float in[${P}_INPUT_SIZE], out[${P}_OUTPUT_SIZE];
    FILE *fi, *fo;
    if (argc != 3 || !(fi = fopen(argv[1], "rb")) || !(fo = fopen(argv[2], "wb")))
        return 2;
    while (fread(in, sizeof(float), ${P}_INPUT_SIZE, fi) == ${P}_INPUT_SIZE) {
        ${p}_predict(in, out, scratch);
        if (fwrite(out, sizeof(float), ${P}_OUTPUT_SIZE, fo) != ${P}_OUTPUT_SIZE)
            return 1;
    }
    fclose(fi);
    return fclose(fo) ? 1 : 0;
}
C
}

# check NAME WHAT MODEL_BODY DATA LOSS INPUTS
#   INPUTS: a numpy expression of the inputs (r: a Generator, n: samples)
check() {
    local name=$1 what=$2 run="$W/run_$1"
    cat > "$W/$name.cfg" <<CFG
model: { name = "$name"; $3 };
data: { $4 };
train: { loss = "$5"; optimizer = { type = "adam"; lr = 0.01; clipnorm = 1.0; };
         epochs = 2; batch_size = 32; seed = 3; };
CFG
    if ! "$NNCTL" train "$W/$name.cfg" -o "$run" --quiet > "$W/$name.log" 2>&1; then
        bad "$what: trains" "$(tail -3 "$W/$name.log")"; return
    fi
    if ! export_c "$run/model.h5" "$W/$name.h"; then
        bad "$what: exports" "$(cat "$W/export.err")"; return
    fi
    $PY -c "
import numpy as np, sys
r, n = np.random.default_rng(5), 6
x = np.asarray($6, dtype=np.float32)
np.save(sys.argv[1] + '.npy', x)
x.tofile(sys.argv[1] + '.f32')" "$W/x_$name" || { bad "$what: inputs"; return; }
    if ! nnctl_outputs "$run/model.h5" "$W/x_$name" "$W/ref_$name"; then
        bad "$what: nnctl predict" "$(cat "$W/predict.err")"; return
    fi
    driver "$name" "$name.h"
    if ! $CC $CFLAGS_C -O2 -o "$W/$name" "$W/$name.c" -lm > "$W/$name.cc" 2>&1; then
        bad "$what: the header compiles without warnings" "$(head -5 "$W/$name.cc")"; return
    fi
    if ! "$W/$name" "$W/x_$name.f32" "$W/c_$name.f32"; then
        bad "$what: the compiled model runs"; return
    fi
    local diff
    if diff=$($PY -c "
import numpy as np, sys
ref = np.load(sys.argv[1]).astype(np.float32).ravel()
got = np.fromfile(sys.argv[2], np.float32)
if got.shape != ref.shape:
    print('%d outputs, nnctl gave %d' % (got.size, ref.size)); sys.exit(1)
err = np.abs(got - ref)
print('max abs diff %.2g, max rel %.2g over %d values' % (err.max(), (err / np.maximum(np.abs(ref), 1e-30)).max(), ref.size))
sys.exit(0 if np.all(err <= 1e-5 * np.abs(ref) + 1e-6) and np.isfinite(got).all() else 1)
" "$W/ref_$name.npy" "$W/c_$name.f32"); then
        ok "$what: C matches nnctl ($diff)"
    else
        bad "$what: C matches nnctl" "$diff"
    fi
}

img6='train = { format = "idx"; images = "img6_x.idx"; labels = "img6_y.idx"; }; scale = 255.0;'
img10='train = { format = "idx"; images = "img10_x.idx"; labels = "img10_y.idx"; }; scale = 255.0;'
img8='train = { format = "idx"; images = "img8_x.idx"; labels = "img8_y.idx"; }; scale = 255.0;'
seq='train = { format = "csv"; path = "seq.csv"; timesteps = 12; features = 2; };'
seq16='train = { format = "csv"; path = "seq16.csv"; timesteps = 16; features = 3; label = "value"; };'
tok='train = { format = "tokens"; path = "tok.txt"; maxlen = 10; };'
SCE=sparse_categorical_crossentropy

check mlp "MLP (every activation, dropout)" 'input = { shape = [6, 6, 1]; }; layers = (
    { type = "flatten"; },
    { type = "dense"; units = 16; activation = "relu"; },
    { type = "dropout"; rate = 0.3; },
    { type = "dense"; units = 16; activation = "elu"; },
    { type = "activation"; activation = "selu"; },
    { type = "dense"; units = 12; activation = "softplus"; },
    { type = "dense"; units = 12; activation = "softsign"; },
    { type = "activation"; activation = "hard_sigmoid"; },
    { type = "dense"; units = 10; activation = "leaky_relu"; },
    { type = "dense"; units = 10; activation = "swish"; use_bias = false; },
    { type = "dense"; units = 8; activation = "gelu"; },
    { type = "dense"; units = 8; activation = "relu6"; },
    { type = "dense"; units = 8; activation = "mish"; },
    { type = "dense"; units = 8; activation = "hard_silu"; },
    { type = "activation"; activation = "exponential"; },
    { type = "dense"; units = 8; activation = "sigmoid"; },
    { type = "dense"; units = 8; activation = "tanh"; },
    { type = "activation"; activation = "leaky_relu"; alpha = 0.1; },
    { type = "dense"; units = 3; activation = "softmax"; } );' \
    "$img6" $SCE 'r.random((n, 6, 6, 1))'

check cnn "CNN (conv2d valid/same/strides 2, batch norm, pooling, dropout, flatten)" \
    'input = { shape = [10, 10, 2]; }; layers = (
    { type = "conv2d"; filters = 4; kernel_size = 3; activation = "relu"; },
    { type = "batch_normalization"; },
    { type = "conv2d"; filters = 6; kernel_size = 3; strides = 2; padding = "same"; },
    { type = "batch_normalization"; center = false; },
    { type = "activation"; activation = "relu"; },
    { type = "average_pooling2d"; pool_size = 2; strides = 1; padding = "same"; },
    { type = "conv2d"; filters = 5; kernel_size = [2, 3]; dilation_rate = [1, 2]; padding = "same"; activation = "tanh"; },
    { type = "max_pooling2d"; pool_size = 3; strides = 2; padding = "same"; },
    { type = "dropout"; rate = 0.25; },
    { type = "flatten"; },
    { type = "dense"; units = 3; activation = "softmax"; } );' \
    "$img10" $SCE 'r.random((n, 10, 10, 2))'

check conv1d "conv1d, pooling 1D, global pooling, output alias" 'input = { shape = [16, 3]; }; layers = (
    { type = "conv1d"; filters = 5; kernel_size = 3; padding = "same"; dilation_rate = 2; activation = "relu"; },
    { type = "max_pooling1d"; pool_size = 2; },
    { type = "conv1d"; filters = 4; kernel_size = 3; strides = 2; name = "c2"; },
    { type = "average_pooling1d"; pool_size = 2; strides = 1; padding = "same"; name = "ap"; },
    { type = "global_average_pooling1d"; name = "gap"; inputs = ["ap"]; },
    { type = "global_max_pooling1d"; name = "gmp"; inputs = ["c2"]; },
    { type = "concatenate"; inputs = ["gap", "gmp"]; },
    { type = "dense"; units = 1; },
    { type = "dropout"; rate = 0.1; } );' \
    "$seq16" mse 'r.normal(size=(n, 16, 3))'

check graph "functional model (add, concatenate on 3 axes, depthwise, separable, merges, global 2D)" \
    'input = { shape = [8, 8, 3]; }; layers = (
    { type = "conv2d"; name = "c1"; filters = 6; kernel_size = 3; padding = "same"; activation = "relu"; },
    { type = "depthwise_conv2d"; name = "d1"; inputs = ["input_1"]; kernel_size = 3; padding = "same"; depth_multiplier = 2; },
    { type = "add"; name = "s"; inputs = ["c1", "d1"]; },
    { type = "separable_conv2d"; name = "sp"; filters = 4; kernel_size = 3; strides = 2; padding = "same"; activation = "relu"; },
    { type = "average_pooling2d"; name = "ap"; inputs = ["s"]; },
    { type = "max_pooling2d"; name = "mp"; inputs = ["c1"]; },
    { type = "depthwise_conv2d"; name = "d2"; inputs = ["mp"]; kernel_size = [3, 2]; use_bias = false; activation = "tanh"; },
    { type = "concatenate"; name = "cat"; inputs = ["sp", "ap"]; },
    { type = "subtract"; name = "sub"; inputs = ["ap", "mp"]; },
    { type = "multiply"; name = "mul"; inputs = ["ap", "mp", "sub"]; },
    { type = "average"; name = "avg"; inputs = ["ap", "mp", "mul"]; },
    { type = "maximum"; name = "mx"; inputs = ["ap", "sub"]; },
    { type = "minimum"; name = "mn"; inputs = ["mp", "mul", "avg"]; },
    { type = "concatenate"; name = "cat1"; inputs = ["mx", "mn"]; axis = 1; },
    { type = "concatenate"; name = "cat2"; inputs = ["cat1", "cat1"]; axis = 2; },
    { type = "global_average_pooling2d"; name = "gap"; inputs = ["cat"]; },
    { type = "global_max_pooling2d"; name = "gmp"; inputs = ["cat2"]; },
    { type = "flatten"; name = "f"; inputs = ["d2"]; },
    { type = "separable_conv2d"; name = "sp2"; inputs = ["s"]; filters = 3; kernel_size = 2; depth_multiplier = 2; use_bias = false; },
    { type = "global_average_pooling2d"; name = "gap2"; },
    { type = "concatenate"; inputs = ["gap", "gmp", "f", "gap2"]; },
    { type = "dense"; units = 3; activation = "softmax"; } );' \
    "$img8" $SCE 'r.random((n, 8, 8, 3))'

check lstm "LSTM (return_sequences, go_backwards, hard_sigmoid gates)" 'input = { shape = [12, 2]; }; layers = (
    { type = "lstm"; units = 8; return_sequences = true; },
    { type = "lstm"; units = 6; go_backwards = true; recurrent_activation = "hard_sigmoid"; },
    { type = "dense"; units = 2; activation = "softmax"; } );' \
    "$seq" $SCE 'r.normal(size=(n, 12, 2))'

check gru "GRU (reset_after true and false, no bias)" 'input = { shape = [12, 2]; }; layers = (
    { type = "gru"; units = 8; return_sequences = true; },
    { type = "gru"; units = 6; reset_after = false; return_sequences = true; go_backwards = true; },
    { type = "gru"; units = 5; use_bias = false; },
    { type = "dense"; units = 2; activation = "softmax"; } );' \
    "$seq" $SCE 'r.normal(size=(n, 12, 2))'

check rnn "SimpleRNN (return_sequences + go_backwards, relu)" 'input = { shape = [12, 2]; }; layers = (
    { type = "simple_rnn"; units = 7; return_sequences = true; go_backwards = true; },
    { type = "simple_rnn"; units = 5; activation = "relu"; },
    { type = "dense"; units = 2; activation = "softmax"; } );' \
    "$seq" $SCE 'r.normal(size=(n, 12, 2))'

check bidir "bidirectional (concat, mul, sum, ave)" 'input = { shape = [12, 2]; }; layers = (
    { type = "bidirectional"; layer = { type = "lstm"; units = 5; return_sequences = true; }; },
    { type = "bidirectional"; layer = { type = "gru"; units = 4; return_sequences = true; reset_after = false; }; merge_mode = "mul"; },
    { type = "bidirectional"; layer = { type = "simple_rnn"; units = 4; return_sequences = true; go_backwards = true; }; merge_mode = "sum"; },
    { type = "bidirectional"; layer = { type = "gru"; units = 3; }; merge_mode = "ave"; },
    { type = "dense"; units = 2; activation = "softmax"; } );' \
    "$seq" $SCE 'r.normal(size=(n, 12, 2))'

check td "time_distributed(dense), dense on sequences" 'input = { shape = [12, 2]; }; layers = (
    { type = "time_distributed"; layer = { type = "dense"; units = 6; activation = "relu"; }; },
    { type = "dense"; units = 4; activation = "softmax"; },
    { type = "lstm"; units = 4; },
    { type = "dense"; units = 2; activation = "softmax"; } );' \
    "$seq" $SCE 'r.normal(size=(n, 12, 2))'

check emb "embedding (token ids as floats)" 'input = { shape = [10]; }; layers = (
    { type = "embedding"; input_dim = 20; output_dim = 6; },
    { type = "conv1d"; filters = 4; kernel_size = 3; activation = "relu"; },
    { type = "global_max_pooling1d"; },
    { type = "dense"; units = 2; activation = "softmax"; } );' \
    "$tok" $SCE 'r.integers(0, 20, size=(n, 10))'

check linear "one dense layer (no scratch memory)" 'input = { shape = [36]; }; layers = (
    { type = "dense"; units = 3; activation = "softmax"; } );' "$img6" $SCE 'r.random((n, 36))'

# ---- two models in one C file: their names do not clash ----
cat > "$W/two.c" <<'C'
#include "mlp.h"
#include "graph.h"
int main(void)
{
    static float in[GRAPH_INPUT_SIZE], out[GRAPH_OUTPUT_SIZE], s1[MLP_SCRATCH_SIZE],
        s2[GRAPH_SCRATCH_SIZE];
    mlp_predict(in, out, s1);
    graph_predict(in, out, s2);
    return 0;
}
C
if $CC $CFLAGS_C -c -o "$W/two.o" "$W/two.c" > "$W/two.cc" 2>&1; then
    ok "two exported headers compile together"
else
    bad "two exported headers compile together" "$(head -3 "$W/two.cc")"
fi

# ---- included by a file that does not call it: no warning (static inline
# kernels and predict, weights marked unused) ----
cat > "$W/nocall.c" <<'C'
#include "mlp.h"
#include "cnn.h"
#include "emb.h"
int nothing(void);
int nothing(void) { return MLP_INPUT_SIZE + CNN_OUTPUT_SIZE + EMB_SCRATCH_SIZE > 0; }
C
if $CC $CFLAGS_C -c -o "$W/nocall.o" "$W/nocall.c" > "$W/nocall.cc" 2>&1; then
    ok "headers included by a file that calls none of them compile under -Wall -Wextra -Werror"
else
    bad "headers included without a call compile warning-free" "$(head -3 "$W/nocall.cc")"
fi

# ---- the same header twice: byte for byte ----
if [ -f "$W/cnn.h" ] && export_c "$W/run_cnn/model.h5" "$W/cnn2.h" && cmp -s "$W/cnn.h" "$W/cnn2.h"; then
    ok "exporting twice gives the same header"
else
    bad "exporting twice gives the same header"
fi
if ls "$W"/*.tmp.* > /dev/null 2>&1; then bad "no temporary files left" "$(ls "$W"/*.tmp.*)"
else ok "no temporary files left"; fi

# ---- errors: a message, exit status 1, no crash, no file ----
expect_error() { # WHAT MODEL OUT PATTERN
    export_c "$2" "$3"
    local rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q -- "$4" "$W/export.err" && [ ! -e "$3" ]; then
        ok "$1"
    else
        bad "$1" "exit $rc: $(head -2 "$W/export.err")"
    fi
}
expect_error "an unwritable path is an error" "$W/run_mlp/model.h5" "$W/no/such/dir/m.h" "no/such/dir"
if ! $PY -c 'import h5py' 2>/dev/null; then
    skip "a NaN weight is refused" "$PY has no h5py to write the NaN (scripts/install-deps)"
elif [ ! -f "$W/run_mlp/model.h5" ]; then
    bad "a NaN weight is refused" "the mlp run left no model.h5 to corrupt"
else
    cp "$W/run_mlp/model.h5" "$W/nan.h5"
    $PY -c "
import h5py, sys
with h5py.File(sys.argv[1], 'r+') as f:
    d = f['model_weights/dense_1/dense_1/kernel:0']
    v = d[...]; v[2, 3] = float('nan'); d[...] = v" "$W/nan.h5"
    expect_error "a NaN weight is refused, naming the layer and the weight" "$W/nan.h5" "$W/nan.h" \
        "layer 'dense_1' (dense): kernel holds NaN at index 35"
fi

nn_summary c-export
