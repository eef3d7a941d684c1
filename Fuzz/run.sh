#!/usr/bin/env bash
# Builds the fuzz targets (libFuzzer + AddressSanitizer + UBSan for the C code) and runs each
# for a bounded time on a copy of its seed corpus. What `make fuzz` runs; docs/TESTING.md,
# "Fuzzing", says more.
#
#   Fuzz/run.sh [target...]        default: every target
#
# Environment:
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_OUT      output directory (default Fuzz/.fuzz-out): <target>/corpus (the grown copy),
#                 <target>/fuzz.log, <target>/crash-* (reproducers), summary.txt
#   SWIFT         the swift driver (default swift)
#   FUZZ_ARGS     extra libFuzzer flags (e.g. "-max_len=65536")
#
# Exits non-zero on a build failure or on any crash, invariant violation, sanitizer report,
# leak or timeout, after running the other targets. One process at a time (libFuzzer's
# default: no -jobs/-workers, so no forked workers).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
SWIFT="${SWIFT:-swift}"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
OUT="${FUZZ_OUT:-$HERE/.fuzz-out}"
SCRATCH="$HERE/.build-fuzz"
ALL_TARGETS=(frame record scan manifest blob inspect raft)
[ $# -gt 0 ] && TARGETS=("$@") || TARGETS=("${ALL_TARGETS[@]}")

# The Swift runtime's crash backtracer would catch the signal before libFuzzer reports it.
export SWIFT_BACKTRACE=enable=no
# LeakSanitizer is on (libFuzzer reports a leak as a failure); abort on the first ASan report.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"

# libFuzzer, with AddressSanitizer for all code and UBSan (trap mode) for the C code. swiftc's
# -sanitize=fuzzer alone leaves Swift code without coverage counters: asked for explicitly.
BUILD_FLAGS=(--scratch-path "$SCRATCH" --sanitize=fuzzer --sanitize=address
    -Xcc -fsanitize=undefined -Xcc -fsanitize-trap=undefined
    -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table)

mkdir -p "$OUT"
echo "== building the fuzz targets (scratch path Fuzz/.build-fuzz)"
build_log="$OUT/build.log"
if ! (cd "$HERE" && "$SWIFT" build "${BUILD_FLAGS[@]}") >"$build_log" 2>&1; then
    grep -v "Cannot export local symbol" "$build_log" | tail -40
    echo "fuzz: build failed (full log: $build_log)"
    exit 1
fi
grep -v "Cannot export local symbol" "$build_log" | tail -1
BIN="$(cd "$HERE" && "$SWIFT" build "${BUILD_FLAGS[@]}" --show-bin-path)"

summary="$OUT/summary.txt"
: >"$summary"
failed=0
for t in "${TARGETS[@]}"; do
    exe="$BIN/Fuzz$(tr '[:lower:]' '[:upper:]' <<<"${t:0:1}")${t:1}"
    [ -x "$exe" ] || { echo "fuzz: no target '$t' (targets: ${ALL_TARGETS[*]})"; exit 2; }
    dir="$OUT/$t"
    rm -rf "$dir"
    mkdir -p "$dir/corpus"
    # A copy: the committed corpus is never grown in place.
    cp "$HERE/Corpus/$t/"* "$dir/corpus/"
    # Earlier reproducers first: each must pass now.
    crashes=("$HERE/Crashes/$t/"*)
    if [ -e "${crashes[0]}" ]; then
        if ! "$exe" "${crashes[@]}" >"$dir/regressions.log" 2>&1; then
            echo "fuzz[$t]: a saved reproducer in Fuzz/Crashes/$t fails again:"
            grep -E "invariant|ERROR|SUMMARY|Running:" "$dir/regressions.log" | tail -5
            echo "$t: REGRESSION (see $dir/regressions.log)" >>"$summary"
            failed=1
            continue
        fi
    fi
    echo "== fuzz[$t] for ${SECONDS_PER_TARGET}s"
    rc=0
    # shellcheck disable=SC2086
    "$exe" "$dir/corpus" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$dir/" -print_final_stats=1 ${FUZZ_ARGS:-} >"$dir/fuzz.log" 2>&1 || rc=$?
    last="$(grep -E '^#[0-9]+' "$dir/fuzz.log" | tail -1 || true)"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log" | tail -1)"
    cov="$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\)\/.*/cov \1 ft \2 corpus \3/p' <<<"$last")"
    if [ "$rc" -ne 0 ]; then
        failed=1
        echo "fuzz[$t]: FAILED (exit $rc) after ${execs:-?} executions; reproducer and log in $dir"
        grep -E "fuzz invariant|ERROR:|SUMMARY:|Test unit written|deadly signal|leak" "$dir/fuzz.log" | head -8
        echo "$t: FAILED exit $rc, ${execs:-?} execs, $cov, see $dir" >>"$summary"
    else
        echo "fuzz[$t]: ok, ${execs:-?} executions, $cov"
        echo "$t: ok, ${SECONDS_PER_TARGET}s, ${execs:-?} execs, $cov" >>"$summary"
    fi
done
# A crashed `inspect` process leaves its store directory behind (no atexit on a deadly signal).
for d in /dev/shm/logstore-fuzz-inspect-* "${TMPDIR:-/tmp}"/logstore-fuzz-inspect-*; do
    [ -d "$d" ] || continue
    kill -0 "${d##*-}" 2>/dev/null || rm -rf "$d"
done
echo "== summary ($summary)"
cat "$summary"
exit "$failed"
