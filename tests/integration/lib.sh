# Shared by the integration scripts: sourced, not run.
#   nn_abs_nnctl      NNCTL (default ./nnctl) as an absolute path
#   ok NAME / bad NAME [WHY]   count one check and print it
#   nn_need_python NAME MODULE...   PY=/usr/bin/python3 with those
#                     modules, or exit 77 (skipped) naming what is missing
#   nn_data_workdir NAME   W: a fresh folder removed on exit, and
#                     NNCTL_DATA=$W (the script writes its own data there)
# Scripts print "<name>: N passed, M failed" last from $passed/$failed.

NNCTL=${NNCTL:-./nnctl}
nn_abs_nnctl() {
    case "$NNCTL" in
    /*) ;;
    */*) NNCTL="$(cd "$(dirname "$NNCTL")" && pwd)/$(basename "$NNCTL")" ;;
    esac
}

passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() {
    echo "FAIL $1${2:+: $2}"
    failed=$((failed + 1))
}

nn_need_python() {
    local name=$1
    shift
    PY=/usr/bin/python3
    local m
    for m in "$@"; do
        if ! $PY -c "import $m" 2>/dev/null; then
            echo "$name: skipped (needs $PY with $*; $m is missing)"
            exit 77  # scripts/run-tests counts 77 as a skip
        fi
    done
}

nn_data_workdir() {
    W=$(mktemp -d "${TMPDIR:-/tmp}/nnctl-$1.XXXXXX") || exit 2
    trap 'rm -rf "$W"' EXIT
    export NNCTL_DATA=$W
}
