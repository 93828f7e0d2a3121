# Shared by the integration scripts: sourced, not run. The reporting rules
# are tests/README.md's ("the summary protocol"); in short, a script prints
#   ok   NAME                       a check that passed
#   FAIL NAME: WHY                  one that failed
#   skip NAME: REASON               one that could not run, and why
# and, as its last line, `<script>: N passed, M failed, K skipped`
# (nn_summary), exiting 0 only when M is 0. scripts/run-tests sums those
# lines and fails a script that prints none.
#
#   nn_abs_nnctl      NNCTL (default ./nnctl) as an absolute path
#   ok NAME / bad NAME [WHY] / skip NAME REASON   count one check and print it
#   nn_summary NAME   the summary line; its status is 0 when nothing failed
#   nn_skip_all NAME REASON   the whole script cannot run: one skip, the
#                     summary, exit 0
#   nn_need_python NAME MODULE...   PY=/usr/bin/python3 with those modules,
#                     or nn_skip_all naming the missing one
#   nn_find_mnist     sets NNCTL_DATA to a folder holding mnist/ (the
#                     environment's, or ../shared/datasets, the user's data
#                     folder, the repository's datasets/); status 1 if none
#   nn_need_mnist NAME   nn_find_mnist, or nn_skip_all
#   nn_data_workdir NAME   W: a fresh folder removed on exit, and
#                     NNCTL_DATA=$W (the script writes its own data there)
#   nn_mnist_subset FROM TO N   the first N training images and labels of
#                     FROM/mnist as TO/mnist (fast to load; status 1 on error)

NNCTL=${NNCTL:-./nnctl}
nn_abs_nnctl() {
    case "$NNCTL" in
    /*) ;;
    */*) NNCTL="$(cd "$(dirname "$NNCTL")" && pwd)/$(basename "$NNCTL")" ;;
    esac
}

passed=0 failed=0 skipped=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() {
    echo "FAIL $1${2:+: $2}"
    failed=$((failed + 1))
}
skip() {
    echo "skip $1: ${2:?skip needs a reason}"
    skipped=$((skipped + 1))
}

nn_summary() {
    echo "$1: $passed passed, $failed failed, $skipped skipped"
    [ "$failed" -eq 0 ]
}

nn_skip_all() {
    skip "$1" "$2"
    nn_summary "$1"
    exit 0
}

nn_need_python() {
    local name=$1
    shift
    PY=/usr/bin/python3
    local m
    for m in "$@"; do
        if ! $PY -c "import $m" 2>/dev/null; then
            nn_skip_all "$name" "needs $PY with $*; $m is missing (scripts/install-deps)"
        fi
    done
}

nn_find_mnist() {
    local d root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    for d in "${NNCTL_DATA:-}" "$root/../shared/datasets" \
        "${XDG_DATA_HOME:-$HOME/.local/share}/nnctl/datasets" "$root/datasets"; do
        if [ -n "$d" ] && [ -f "$d/mnist/train-images-idx3-ubyte.gz" ] &&
            [ -f "$d/mnist/t10k-images-idx3-ubyte.gz" ]; then
            NNCTL_DATA=$(cd "$d" && pwd)
            export NNCTL_DATA
            return 0
        fi
    done
    return 1
}

nn_need_mnist() {
    nn_find_mnist ||
        nn_skip_all "$1" "MNIST not found under \$NNCTL_DATA=${NNCTL_DATA:-} nor the usual places (scripts/fetch-data mnist)"
}

nn_data_workdir() {
    W=$(mktemp -d "${TMPDIR:-/tmp}/nnctl-$1.XXXXXX") || exit 2
    trap 'rm -rf "$W"' EXIT
    export NNCTL_DATA=$W
}

nn_mnist_subset() {
    mkdir -p "$2/mnist" || return 1
    /usr/bin/python3 - "$1/mnist" "$2/mnist" "$3" <<'EOF'
import gzip, struct, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name, head, item in (("train-images-idx3-ubyte.gz", 16, 784), ("train-labels-idx1-ubyte.gz", 8, 1)):
    with gzip.open(src + "/" + name) as f:
        h = bytearray(f.read(head))
        body = f.read(n * item)
    struct.pack_into(">I", h, 4, n)
    with gzip.open(dst + "/" + name, "wb", compresslevel=1) as f:
        f.write(bytes(h) + body)
EOF
}
