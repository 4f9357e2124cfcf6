#!/usr/bin/env bash
# Builds one libFuzzer target of tests/fuzz with ASan + UBSan and runs it for a bounded time.
#
#   scripts/fuzz.sh TARGET BUILD_DIR [SECONDS]     (SECONDS defaults to 60)
#
# TARGET is gguf, tokenizer, chat, state or sampler (tests/fuzz/fuzz_TARGET.cpp). BUILD_DIR is a
# CMake build with clang, INFER_FUZZ=ON and the sanitizers, shared by all targets (configured on
# first use; the library is instrumented once). The committed seeds in tests/fuzz/corpus/TARGET
# are copied into BUILD_DIR/fuzz-TARGET-corpus, which the run grows; the repository copy is never
# written. tests/fuzz/TARGET.dict, when present, is the mutation dictionary. The targets that need
# the test models (tokenizer, chat, state) fail at once when they are missing. Exits non-zero on
# any crash, leak, timeout or sanitizer report (crashing inputs land in
# BUILD_DIR/fuzz-TARGET-artifacts/). Needs clang with the libFuzzer runtime (Debian: clang-14 +
# libclang-rt-14-dev).
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 TARGET BUILD_DIR [SECONDS]" >&2
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="$1"
build="$2"
seconds="${3:-60}"
if [[ ! -f "$root/tests/fuzz/fuzz_$target.cpp" ]]; then
    echo "fuzz: no target '$target' (tests/fuzz/fuzz_$target.cpp)" >&2
    exit 2
fi

case "$target" in
    tokenizer|chat|state)
        source "$root/scripts/model-dir.sh"
        for model in SmolLM2-135M-Instruct.Q4_1.gguf gemma-3-270m-q4_k_m.gguf; do
            if [[ ! -f "$INFER_MODEL_DIR/$model" ]]; then
                echo "fuzz-$target: FAILED: test model $INFER_MODEL_DIR/$model is missing (scripts/fetch-models.sh)" >&2
                exit 1
            fi
        done ;;
esac
# Inputs past max_len are cut: gguf and chat seeds are whole files and templates.
case "$target" in
    gguf) max_len=8192 ;;
    state) max_len=2048 ;;
    *) max_len=4096 ;;
esac

mkdir -p "$build"
build="$(cd "$build" && pwd)"
echo "building fuzz_$target in $build"
if [[ ! -f "$build/CMakeCache.txt" ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_C_COMPILER="${CC_FUZZ:-clang}" -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++}" \
        -DINFER_CUDA=OFF -DINFER_VULKAN=OFF -DINFER_BUILD_TESTS=OFF -DINFER_BUILD_SAMPLES=ON \
        -DINFER_SANITIZE=address,undefined -DINFER_FUZZ=ON >"$build/configure.log" 2>&1 ||
        { tail -n 30 "$build/configure.log" >&2; echo "fuzz-$target: FAILED (configure)" >&2; exit 1; }
fi
cmake --build "$build" -j "$(nproc)" --target "fuzz_$target"

binary="$build/tests/fuzz/fuzz_$target"
corpus="$build/fuzz-$target-corpus"
artifacts="$build/fuzz-$target-artifacts"
log="$build/fuzz-$target.log"
mkdir -p "$corpus" "$artifacts"
cp "$root"/tests/fuzz/corpus/"$target"/* "$corpus/"
dict=()
if [[ -f "$root/tests/fuzz/$target.dict" ]]; then dict=(-dict="$root/tests/fuzz/$target.dict"); fi

echo "fuzzing $target for ${seconds}s (log: $log)"
status=0
ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    "$binary" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "$corpus" >"$log" 2>&1 || status=$?

# libFuzzer stops at the first crash, leak or sanitizer report with a non-zero status; a report
# that somehow did not stop the run still fails this script, and so does a run that did no work.
if [[ $status -ne 0 ]] || grep -qE "runtime error:|ERROR: (Address|Leak|Undefined)Sanitizer" "$log" ||
        ! grep -qE "^Done [0-9]+ runs in [0-9]+ second" "$log"; then
    tail -n 60 "$log" >&2
    echo "fuzz-$target: FAILED (status $status); artifacts in $artifacts" >&2
    exit 1
fi
grep -E "^Done [0-9]+ runs in [0-9]+ second" "$log"
echo "fuzz-$target: OK"
