# Shared by the integration scripts: sourced, not run.
#   nn_abs_nnctl      NNCTL (default ./nnctl) as an absolute path
#   ok NAME / bad NAME [WHY]   count one check and print it
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
