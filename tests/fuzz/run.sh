#!/usr/bin/env bash
# Runs one libFuzzer target for a given time (make fuzz-run-<target>, make
# fuzz, and make check's fuzz smoke), without -ignore_crashes: every crash,
# leak, UBSan report or timeout stops the fuzzer and is triaged here.
#
#   tests/fuzz/run.sh TARGET SECONDS [LIBFUZZER-FLAG...]
#
# A finding whose first stack frame outside the sanitizer runtime, libFuzzer
# and libc is in libhdf5 or libconfig (Debian's builds, which nnctl cannot
# fix; tests/fuzz/known-upstream/README.md) is moved to
# build-fuzz/crashes/upstream/ with its report, and the fuzzer starts again
# from its corpus for the time left. Anything else is ours: the report is
# printed, the input stays in build-fuzz/crashes/, and the status is 1 (make
# it a regression input under tests/fuzz/regressions/TARGET/ and fix it).
# Last line: "fuzz TARGET: N runs in S s, U upstream findings set aside" (and
# how many out-of-memory/timeout stops the input alone did not repeat)
# (or "... CRASH ..."), N summed over the restarts.
set -u
cd "$(dirname "$0")/../.."
t=$1 secs=$2
shift 2
D=build-fuzz
bin=$D/fuzz_$t
[ -x "$bin" ] || { echo "fuzz $t: $bin is not built (make fuzz-build)" >&2; exit 2; }
mkdir -p "$D/corpus-$t" "$D/crashes/upstream" "$D/logs" "$D/tmp-$t"
# quarantine_size_mb: ASan's default 256 MB of freed memory held back, on
# top of fragmentation, took a target's RSS past -rss_limit_mb after some
# thousand inputs with no input to blame (an "out-of-memory" stop in CI)
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:quarantine_size_mb=64
export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 HDF5_USE_FILE_LOCKING=FALSE
export TMPDIR=$PWD/$D/tmp-$t
trap 'rm -rf "$D/tmp-$t"' EXIT

# first_frame LOG: "module-or-file function" of the first frame of the
# report's first stack that is not the sanitizer runtime, libFuzzer or libc
first_frame() {
    awk '
        /ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer)|runtime error:/ { on = 1 }
        on && /^ *#[0-9]+ / {
            # an unsymbolized frame inside the fuzzer binary is a static
            # function of the libraries linked into it (libhdf5): the
            # next frame names where it is
            if ($0 !~ / in / && $0 ~ /\/fuzz_[a-z_]+\+0x/) next
            fn = $4; loc = $0
            sub(/^.* in [^ ]+ /, "", loc)
            if (fn ~ /^(__sanitizer|__asan|__interceptor|__lsan|__ubsan|___interceptor|fuzzer::|__libc|__GI_|__restore_rt|__pthread_kill|pthread_kill|raise|abort|malloc|calloc|realloc|free|posix_memalign|aligned_alloc|memcpy|memmove|memset|memcmp|strlen|strcmp|strncmp|strcpy|strdup|__memcpy|__memmove)/) next
            if (loc ~ /libc\.so|libpthread|libstdc\+\+|libclang_rt/) next
            print loc " " fn; exit
        }' "$1"
}

# upstream_frame "LOC FN": the frame is libhdf5's or libconfig's: by the
# shared object's name, or, where the library's code is linked into the
# fuzzer with no path to tell (a frame "in H5HG__cache_heap_deserialize
# H5HGcache.o"), by the library's function prefixes, outside our own sources
upstream_frame() {
    local loc=${1% *} fn=${1##* }
    [[ $1 == *libhdf5* || $1 == *libconfig* ]] && return 0
    [[ $loc == "$PWD"/src/* || $loc == "$PWD"/tests/* ]] && return 1
    [[ $fn =~ ^(H5[A-Za-z0-9_]+|config_[a-z_]+|libconfig_yy[a-z_]+)$ ]]
}

runs=0 upstream=0 unreplayed=0 n=0 t0=$SECONDS
while :; do
    left=$((secs - (SECONDS - t0)))
    [ $left -gt 0 ] || break
    n=$((n + 1))
    log=$D/logs/$t.$n.log
    "$bin" "$D/corpus-$t" "tests/fuzz/corpus/$t" -max_total_time=$left -rss_limit_mb=2048 \
        -timeout=10 -artifact_prefix="$D/crashes/$t-" -print_final_stats=1 "$@" >"$log" 2>&1
    rc=$?
    r=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    runs=$((runs + ${r:-0}))
    [ $rc -eq 0 ] && break
    art=$(sed -n 's/.*Test unit written to \([^ ]*\).*/\1/p' "$log" | tail -1)
    # An out-of-memory or timeout stop measures the whole process (RSS after
    # thousands of inputs, a CPU shared with other jobs): the input alone is
    # replayed, and only one that fails again by itself is a finding. The
    # replay's report, a malloc-limit stack included, is the one triaged.
    case $(basename "${art:-x}") in
    "$t"-oom-* | "$t"-timeout-*)
        rlog=$D/logs/$t.$n.replay.log
        if "$bin" "$art" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 >"$rlog" 2>&1; then
            unreplayed=$((unreplayed + 1))
            mv "$art" "$D/crashes/upstream/unreplayed-$(basename "$art")"
            echo "fuzz $t: $(basename "$art"): the input alone runs fine (the process's state after many inputs): set aside"
            [ $unreplayed -ge 20 ] && { echo "fuzz $t: 20 such stops: stopping" >&2; break; }
            continue
        fi
        log=$rlog
        ;;
    esac
    where=$(first_frame "$log")
    if [ -n "$art" ] && upstream_frame "$where"; then
        upstream=$((upstream + 1))
        mv "$art" "$D/crashes/upstream/"
        cp "$log" "$D/crashes/upstream/$(basename "$art").log"
        echo "fuzz $t: upstream finding set aside ($where): $D/crashes/upstream/$(basename "$art")"
        if [ $upstream -ge 100 ]; then
            echo "fuzz $t: 100 upstream findings: stopping" >&2
            break
        fi
        continue
    fi
    grep -vE '^(#[0-9]+\s+(NEW|REDUCE|pulse|INITED|RELOAD)|INFO:)' "$log" | tail -60
    echo "fuzz $t: CRASH (ours, first frame: ${where:-unknown}) after $runs runs in $((SECONDS - t0)) s: ${art:-no input saved} (status $rc; log $log)"
    exit 1
done
echo "fuzz $t: $runs runs in $((SECONDS - t0)) s, $upstream upstream findings set aside$([ $unreplayed = 0 ] || echo ", $unreplayed out-of-memory/timeout stops that the input alone does not repeat")"
