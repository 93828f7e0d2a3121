#!/usr/bin/env bash
# scripts/run-tests counts honestly (tests/README.md, "the summary protocol"):
# fake parts, each a few lines of shell, go through `run-tests --part` and
# the counts and verdicts it records are checked: a part with no summary
# line, one that counts nothing, a skip without a reason, a non-zero exit
# with no failure counted all fail; skips are skips, and STRICT=1 turns
# them into failures except skip-gpu ones; cmocka's own lines count; and
# --total sums several runs into one true line. Needs nothing but bash.
#
#   tests/integration/runner-protocol.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
RT="$here/../../scripts/run-tests"
W=$(mktemp -d "${TMPDIR:-/tmp}/nnctl-protocol.XXXXXX")
trap 'rm -rf "$W"' EXIT

# case NAME WANT_RC "P F S" [STRICT] -- SHELL_TEXT: runs SHELL_TEXT as a part;
# the recorded passed/failed/skipped and run-tests' status must be as given.
n=0
case_() {
    local name=$1 want_rc=$2 want=$3 strict=${4:-0}
    shift 4
    n=$((n + 1))
    local out="$W/r$n" got rc
    TEST_RESULTS="$out" STRICT=$strict "$RT" --part "fake/$n" bash -c "$1" >"$W/log$n" 2>&1
    rc=$?
    got=$(awk -F'\t' '{ print $3, $4, $5 }' "$out/parts.tsv" 2>/dev/null)
    if [ "$rc" = "$want_rc" ] && [ "$got" = "$want" ]; then
        ok "$name (counted $got, status $rc)"
    else
        bad "$name" "counted '$got' status $rc, expected '$want' status $want_rc: $(tail -3 "$W/log$n")"
    fi
}
S='echo "x: %s passed, %s failed, %s skipped"'
case_ "a summary line is read"                       0 "3 0 0" 0 "$(printf "$S" 3 0 0)"
case_ "no summary line: a failure"                   1 "0 1 0" 0 'echo ok one; echo ok two'
case_ "a summary counting nothing: a failure"        1 "0 1 0" 0 "$(printf "$S" 0 0 0)"
case_ "a skip without its reason line: a failure"    1 "2 1 1" 0 "$(printf "$S" 2 0 1)"
case_ "a skip with its reason is a skip"             0 "2 0 1" 0 "echo 'skip thing: no frobnicator'; $(printf "$S" 2 0 1)"
case_ "STRICT=1: a skip is a failure"                1 "2 1 0" 1 "echo 'skip thing: no frobnicator'; $(printf "$S" 2 0 1)"
case_ "STRICT=1: a skip-gpu skip stays a skip"       0 "2 0 1" 1 "echo 'skip-gpu thing: no CUDA device'; $(printf "$S" 2 0 1)"
case_ "exit 1 with nothing failed: a failure"        1 "4 1 0" 0 "$(printf "$S" 4 0 0); exit 1"
case_ "failures counted are failures"                1 "4 2 0" 0 "$(printf "$S" 4 2 0); exit 1"
case_ "the last summary line counts"                 0 "5 0 0" 0 "$(printf "$S" 1 1 0); $(printf "$S" 5 0 0)"
case_ "cmocka's lines are counted"                   0 "7 0 1" 0 "printf '%s\n' 'skip test_x: no data' '[==========] 8 test(s) run.' '[  PASSED  ] 7 test(s).' '[  SKIPPED ] 1 test(s), listed below:' '[  SKIPPED ] test_x'"
case_ "cmocka's failures are counted"                1 "7 2 0" 0 "printf '%s\n' '[==========] 9 test(s) run.' '[  PASSED  ] 7 test(s).' '[  FAILED  ] 2 test(s), listed below:' '[  FAILED  ] test_y'; exit 2"
case_ "a crash before the summary: a failure"        1 "0 1 0" 0 'echo ok one; kill -SEGV $$'

# --total: the sum of two runs, and a missing run is a failure
if TEST_RESULTS="$W/t" "$RT" --total "$W/r1" "$W/r5" >"$W/total" 2>&1 &&
    [ "$(tail -1 "$W/total")" = "tests: 5 passed, 0 failed, 1 skipped" ]; then
    ok "--total sums the runs: '$(tail -1 "$W/total")'"
else bad "--total sums the runs" "$(tail -3 "$W/total")"; fi
if ! "$RT" --total "$W/r1" "$W/nothing-here" >"$W/total2" 2>&1 &&
    [ "$(tail -1 "$W/total2")" = "tests: 3 passed, 1 failed, 0 skipped" ]; then
    ok "--total: a run that left no results is a failure"
else bad "--total: a run that left no results is a failure" "$(tail -3 "$W/total2")"; fi

nn_summary runner-protocol
