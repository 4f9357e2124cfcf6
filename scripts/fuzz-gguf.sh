#!/usr/bin/env bash
# Builds the GGUF libFuzzer target with ASan + UBSan and runs it for a bounded time.
#
#   scripts/fuzz-gguf.sh BUILD_DIR [SECONDS]     (SECONDS defaults to 60)
#
# The committed seeds in tests/fuzz/corpus/gguf are copied into BUILD_DIR/fuzz-gguf-corpus, which
# the run grows; the repository copy is never written. Exits non-zero on any crash, leak or
# sanitizer report (crashing inputs land in BUILD_DIR/fuzz-gguf-artifacts/). Needs clang++ with
# the libFuzzer runtime (Debian: clang-14 + libclang-rt-14-dev).
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 BUILD_DIR [SECONDS]" >&2
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$1"
seconds="${2:-60}"
cxx="${CXX_FUZZ:-clang++}"

mkdir -p "$build"
build="$(cd "$build" && pwd)"
binary="$build/fuzz_gguf"
corpus="$build/fuzz-gguf-corpus"
artifacts="$build/fuzz-gguf-artifacts"
log="$build/fuzz-gguf.log"

echo "building $binary with $cxx"
"$cxx" -std=c++20 -g -O1 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    -I"$root/include" -I"$root/lib" \
    "$root/tests/fuzz/fuzz_gguf.cpp" \
    "$root"/lib/gguf/*.cpp \
    "$root/lib/core/status.cpp" "$root/lib/core/types.cpp" \
    -o "$binary"

mkdir -p "$corpus" "$artifacts"
cp "$root"/tests/fuzz/corpus/gguf/* "$corpus/"

echo "fuzzing for ${seconds}s (log: $log)"
status=0
ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    "$binary" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1 || status=$?

# libFuzzer stops at the first crash, leak or sanitizer report with a non-zero status; a UBSan
# report that somehow did not stop the run still fails this script.
if [[ $status -ne 0 ]] || grep -qE "runtime error:|ERROR: (Address|Leak|Undefined)Sanitizer" "$log"; then
    tail -n 60 "$log" >&2
    echo "fuzz-gguf: FAILED (status $status); artifacts in $artifacts" >&2
    exit 1
fi
grep -E "^Done [0-9]+ runs in [0-9]+ second" "$log" || tail -n 5 "$log"
echo "fuzz-gguf: OK"
