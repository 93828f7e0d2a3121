#!/usr/bin/env bash
# Runs the malformed-spec corpus (tests/specs/NN-name.cfg) and the
# command-line error cases (tests/specs/cli.txt) through nnctl and checks the
# exit code and the error message of each.
#
#   NNCTL=build/nnctl NNCTL_DATA=/path/to/datasets tests/integration/run-corpus.sh [CASE...]
#
# A spec case carries its expectations in comment lines:
#   # expect: <substring of stderr>    (first line; more `# expect:` lines may follow,
#                                       every one must match)
#   # exit: <code>                     (second line)
#   # needs: mnist                     (skipped when $NNCTL_DATA has no MNIST)
#   # xfail: <why>                     (a known-bad message: the case states the
#                                       message nnctl *should* give. While nnctl
#                                       fails it, it is counted as a skip with
#                                       the reason "xfail: <why>" (STRICT=1
#                                       fails it); once it passes, it is a FAIL
#                                       (XPASS) until the xfail line is removed.)
# Every spec case runs as `nnctl train CASE -o TMP/run -q` from tests/specs
# (no --threads: that flag is an override of train.threads, see cli.txt).
#
# cli.txt: one case a line, `EXIT | SUBSTRING | ARGS...` ('#' starts a
# comment line; `EXIT xfail` marks a known-bad message, as above). ARGS are
# split by the shell after expanding these fixtures: $SPECS (tests/specs),
# $VALID (a valid spec), $MODEL (a model trained from it),
# $TMP (a scratch directory holding fake.h5, a text file, and small.png, a
# 20x20 gray PNG). Prints ok/FAIL/skip per case and a last line
# `corpus: N passed, M failed, K skipped`; exits 1 on any failure. The
# fixture model failing to train is a failure, and every case needing it
# fails with it.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
specs="$root/tests/specs"
source "$here/lib.sh"
nn_abs_nnctl
if ! command -v "$NNCTL" >/dev/null 2>&1 && [ ! -x "$NNCTL" ]; then
    echo "run-corpus: nnctl binary '$NNCTL' not found (set NNCTL or run make)" >&2
    exit 2
fi
have_mnist=0
nn_find_mnist && have_mnist=1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nnctl-corpus.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

filter=("$@")

selected() {
    [ ${#filter[@]} -eq 0 ] && return 0
    local f
    for f in "${filter[@]}"; do
        case "$1" in *"$f"*) return 0 ;; esac
    done
    return 1
}

# check NAME WANT_EXIT GOT_EXIT STDERR_FILE XFAIL_REASON EXPECT...
check() {
    local name=$1 want=$2 got=$3 errf=$4 xfail=$5
    shift 5
    local why=""
    if [ "$got" != "$want" ]; then
        why="exit $got, expected $want"
    else
        local e
        for e in "$@"; do
            if ! grep -qF -- "$e" "$errf"; then
                why="stderr lacks: $e"
                break
            fi
        done
    fi
    if [ -n "$xfail" ]; then
        if [ -n "$why" ]; then
            skip "$name" "xfail: $xfail (nnctl gives: $why)"
        else
            echo "FAIL $name: XPASS, nnctl now passes this case: remove its '# xfail:' line"
            failed=$((failed + 1))
        fi
        return
    fi
    if [ -z "$why" ]; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name: $why"
        sed 's/^/     | /' "$errf" | head -5
        failed=$((failed + 1))
    fi
}

# ---- spec corpus --------------------------------------------------------
for f in "$specs"/[0-9]*.cfg; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .cfg)
    selected "$name" || continue
    line1=$(sed -n 1p "$f")
    line2=$(sed -n 2p "$f")
    case "$line1" in
    "# expect: "*) ;;
    *) echo "FAIL $name: first line must be '# expect: ...'"; failed=$((failed + 1)); continue ;;
    esac
    case "$line2" in
    "# exit: "[0-9]*) ;;
    *) echo "FAIL $name: second line must be '# exit: N'"; failed=$((failed + 1)); continue ;;
    esac
    want=${line2#"# exit: "}
    expects=()
    while IFS= read -r l; do
        expects+=("${l#"# expect: "}")
    done < <(grep '^# expect: ' "$f")
    xfail=$(sed -n 's/^# xfail: //p' "$f" | head -1)
    if grep -q '^# needs: mnist' "$f" && [ $have_mnist = 0 ]; then
        skip "$name" "needs MNIST under \$NNCTL_DATA (scripts/fetch-data mnist)"
        continue
    fi
    rm -rf "$TMP/run"
    (cd "$specs" && timeout 120 "$NNCTL" train "$name.cfg" -o "$TMP/run" -q \
        >"$TMP/out" 2>"$TMP/err")
    got=$?
    check "$name" "$want" "$got" "$TMP/err" "$xfail" "${expects[@]}"
done

# ---- command line -------------------------------------------------------
cli="$specs/cli.txt"
if [ -f "$cli" ] && selected cli; then
    # shellcheck disable=SC2034  # used by cli.txt lines through eval
    SPECS="$specs"
    VALID="$TMP/valid.cfg"
    cat >"$VALID" <<'EOF'
model: {
  name = "valid";
  input = { shape = [784]; };
  layers = (
    { type = "dense"; units = 16; activation = "relu"; },
    { type = "dense"; units = 10; activation = "softmax"; }
  );
};
data: {
  train = { images = "mnist/train-images-idx3-ubyte.gz"; labels = "mnist/train-labels-idx1-ubyte.gz"; };
  test  = { images = "mnist/t10k-images-idx3-ubyte.gz"; labels = "mnist/t10k-labels-idx1-ubyte.gz"; };
  scale = 255.0;
  one_hot = true;
  train_subset = 200;
};
train: {
  loss = "categorical_crossentropy";
  optimizer = { type = "adam"; };
  metrics = ["accuracy"];
  epochs = 1;
  batch_size = 32;
};
EOF
    MODEL="$TMP/model/model.h5"
    printf 'this is a text file, not HDF5\n' >"$TMP/fake.h5"
    # a 20x20 8-bit gray PNG (written here, not by nnctl)
    python3 - "$TMP/small.png" <<'EOF'
import struct, sys, zlib
w = h = 20
raw = b''.join(b'\x00' + bytes((x * 12) % 256 for x in range(w)) for _ in range(h))
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
png = (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))
       + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
open(sys.argv[1], 'wb').write(png)
EOF
    have_model=0
    if [ $have_mnist = 0 ]; then
        model_why="needs MNIST to train the fixture model (scripts/fetch-data mnist)"
    elif "$NNCTL" train "$VALID" -o "$TMP/model" -q --threads 1 >/dev/null 2>"$TMP/err" &&
        [ -f "$MODEL" ]; then
        have_model=1
        ok "the fixture model for cli.txt trains"
    else
        bad "the fixture model for cli.txt trains" "$(head -3 "$TMP/err")"
        model_why=""
    fi
    n=0
    while IFS= read -r l || [ -n "$l" ]; do
        n=$((n + 1))
        case "$l" in '#'* | '') continue ;; esac
        want=$(printf '%s' "$l" | cut -d'|' -f1)
        cli_xfail=""
        case "$want" in *xfail*) cli_xfail="known-bad message, see cli.txt" ;; esac
        want=$(printf '%s' "${want%%xfail*}" | tr -d ' ')
        expect=$(printf '%s' "$l" | cut -d'|' -f2 | sed 's/^ *//; s/ *$//')
        args=$(printf '%s' "$l" | cut -d'|' -f3- | sed 's/^ *//')
        name="cli:$n: nnctl $args"
        # shellcheck disable=SC2016  # the literal text $MODEL
        case "$args" in
        *'$MODEL'*)
            if [ $have_model = 0 ]; then
                if [ -n "$model_why" ]; then skip "$name" "$model_why"
                else bad "$name" "the fixture model did not train"; fi
                continue
            fi
            ;;
        esac
        eval "set -- $args"
        timeout 120 "$NNCTL" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
        got=$?
        check "$name" "$want" "$got" "$TMP/err" "$cli_xfail" "$expect"
    done <"$cli"
fi

nn_summary corpus
