#!/usr/bin/env bash
# make check's fuzz smoke: builds the libFuzzer targets (make fuzz-build)
# and runs each for FUZZ_SMOKE_SECONDS (30) from its seeds, two at a time.
# One check per target: it ran its time and found nothing. The long runs
# are `make fuzz` (the Makefile's fuzzing section).
#
#   tests/fuzz/smoke.sh [TARGET...]      (scripts/run-tests --fuzz-smoke calls it)
set -u
cd "$(dirname "$0")/../.."
source tests/integration/lib.sh
SECS=${FUZZ_SMOKE_SECONDS:-30}
if ! command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1; then
    nn_skip_all fuzz-smoke "no clang: libFuzzer needs it (scripts/install-deps)"
fi
if ! make --no-print-directory -s -j"$(nproc)" fuzz-build >build-fuzz-smoke.log 2>&1; then
    bad "make fuzz-build" "$(tail -5 build-fuzz-smoke.log)"
    rm -f build-fuzz-smoke.log
    nn_summary fuzz-smoke
    exit 1
fi
rm -f build-fuzz-smoke.log
targets=("$@")
[ ${#targets[@]} -eq 0 ] && read -r -a targets <<<"$(make --no-print-directory -s fuzz-list)"
mkdir -p build-fuzz/smoke
run_one() {
    make --no-print-directory fuzz-run-"$1" FUZZ_SECONDS="$SECS" >build-fuzz/smoke/"$1".log 2>&1
}
i=0
pids=()
for t in "${targets[@]}"; do
    run_one "$t" &
    pids+=($!)
    i=$((i + 1))
    if [ $((i % 2)) -eq 0 ] || [ $i -eq ${#targets[@]} ]; then
        for k in "${!pids[@]}"; do
            idx=$((i - ${#pids[@]} + k))
            name=${targets[$idx]}
            if wait "${pids[$k]}"; then
                ok "$(grep "^fuzz $name: " build-fuzz/smoke/"$name".log | tail -1)"
            else
                # the verdict line ("CRASH (ours, first frame: ...)") first,
                # then the sanitizer's: the summary shows a failure's first line
                l=build-fuzz/smoke/"$name".log
                bad "fuzz $name ${SECS}s" "$(grep "^fuzz $name: " "$l" | tail -1; grep -E "ERROR|SUMMARY" "$l" | head -4)"
            fi
        done
        pids=()
    fi
done
nn_summary fuzz-smoke
