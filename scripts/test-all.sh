#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#   1. dependencies and test models,
#   2. Release build (CUDA compiled when nvcc exists, Vulkan shaders built) + every test, the
#      Vulkan backend's on lavapipe (Mesa's Vulkan driver on the CPU),
#   3. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer (the cancel stress test
#      with fewer cancels), with the CUDA backend built against the CPU emulator (tests/cuda_emu),
#      so its kernels and host code run here, bounds-checked, without a GPU; the Vulkan backend's
#      conformance suite, splits, state and budgets on lavapipe (its longer whole-model runs only
#      in stage 2),
#   4. an optimized emulator build: a model split across the emulated device and the CPU decodes
#      without allocating (malloc interposed; by layers and by per-expert offload), every
#      architecture's goldens hold at every placement, and every MoE architecture's with 0, 30,
#      70 and 100% of its expert bytes on the device,
#   5. the tests that start threads under ThreadSanitizer (a build of only the test binaries),
#   6. bounded libFuzzer runs: the GGUF reader, both tokenizers, chat templates, state loading
#      and the sampler (scripts/fuzz.sh; each target counts as one pass or failure).
# Every stage runs even when an earlier one failed; the last line sums them up.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
jobs="$(nproc)"
fuzz_seconds="${INFER_FUZZ_SECONDS:-30}"

deps_started=$SECONDS
scripts/install-deps.sh || exit 1
scripts/fetch-models.sh || exit 1
deps_seconds=$((SECONDS - deps_started))
if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export CUDACXX=/usr/local/cuda/bin/nvcc
fi

passed=0 failed=0 skipped=0
declare -a report=()
# The chat soak runs one minute here (two in a plain ctest run): long enough to pass several
# context shifts and resets, and CI's minutes are better spent on the sanitizer stages.
export INFER_SOAK_SECONDS="${INFER_SOAK_SECONDS:-60}"

# stage NAME: closes the previous stage's timing line and opens NAME's; the summary lists them,
# so a CI run shows where its minutes went.
declare -a timings=("dependencies and models: $deps_seconds s")
stage_name="" stage_started=$SECONDS
stage() {
    [ -z "$stage_name" ] || timings+=("$stage_name: $((SECONDS - stage_started)) s")
    stage_name="$1" stage_started=$SECONDS
    [ -z "$1" ] || echo "=== $1"
}

# run_ctest NAME BUILD_DIR [CTEST_ARGS...]: runs ctest and adds its counts to the totals. Skipped
# tests (the GPU tests exit 77 without a CUDA device) count as skipped, never as passed.
run_ctest() {
    local log="$2/ctest.log"
    ctest --test-dir "$2" --output-on-failure -j "$jobs" "${@:3}" 2>&1 | tee "$log"
    local line total fails
    line="$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$log" | tail -n1)"
    if [ -z "$line" ]; then
        failed=$((failed + 1)); report+=("$1: ctest did not run"); return
    fi
    fails="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
    total="$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")"
    skips="$(grep -cE '\(Skipped\)$' "$log" || true)"
    passed=$((passed + total - fails - skips)); failed=$((failed + fails)); skipped=$((skipped + skips))
    local note=""
    if [ "$skips" != 0 ]; then note=" (GPU tests without their device)"; fi
    report+=("$1: $((total - fails - skips)) passed, $fails failed, $skips skipped$note")
}

# build NAME BUILD_DIR CMAKE_ARGS...: configure + build, counted as one failure if it breaks.
# BUILD_TARGETS (space-separated) limits the build to those targets.
build() {
    local name="$1" dir="$2"; shift 2
    local targets=()
    if [ -n "${BUILD_TARGETS:-}" ]; then read -ra targets <<<"--target $BUILD_TARGETS"; fi
    if cmake -S . -B "$dir" -DINFER_WERROR=ON "$@" && cmake --build "$dir" -j "$jobs" "${targets[@]}"; then
        return 0
    fi
    failed=$((failed + 1)); report+=("$name: build failed"); return 1
}

stage "release build and tests"
if build release build/release -DCMAKE_BUILD_TYPE=Release -DINFER_CUDA_ARCHITECTURES=90; then
    # 4,000 cancels in all (1,000 per thread count) instead of a developer run's 10,000: the
    # same paths, and the rest of its two minutes is CI time better spent elsewhere.
    INFER_CANCEL_STRESS=1000 run_ctest release build/release
fi

# The sanitizer builds keep line tables only (-g1): the reports' stacks still name file and line,
# and the heaviest kernel file compiles in 54 s instead of 75.
line_tables=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
             "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")

stage "ASan + UBSan build and tests"
if build sanitizers build/asan "${line_tables[@]}" -DINFER_CUDA=OFF \
        -DINFER_CUDA_EMULATOR=ON -DINFER_SANITIZE=address,undefined; then
    # Leak checking stays on; tests/lsan.supp names the third-party driver allocations it skips.
    # The cancel stress test takes 1,000 cancels per thread count here (2,500 in the release
    # stage): the sanitizers make each one slow, and the paths are the same. Left to the
    # emulator stage: the CUDA goldens and the repacked split stacks (whole models, minutes here;
    # the CPU-only repack and offload tests cover the same code), and resident memory accounting
    # (ASan's allocator keeps freed memory resident). The goldens run at the default ISA level
    # only: the release stage holds every level to llama.cpp, and the kernel tests here run all.
    INFER_CANCEL_STRESS=1000 ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$root/tests/lsan.supp" \
        INFER_GOLDEN_ISA=best UBSAN_OPTIONS=print_stacktrace=1 run_ctest sanitizers build/asan -E "goldens hold on CUDA|cuda placement goldens|cuda expert offload goldens|repacked share of split stacks|hands the file pages|lookups read the repacked copy|vulkan models: (Vulkan matches CPU|synthetic llama.cpp goldens|SmolLM2)|vulkan gpu kernels: synthetic"
fi

# An optimized build against the CUDA emulator for what the sanitizer stage leaves out: the
# malloc-interposing test (sanitizers bring their own malloc) on a model split across the
# emulated device and the CPU, and the llama.cpp goldens of every architecture at every
# placement and of the MoE architectures under per-expert offload (too slow under the
# sanitizers; their code paths run there in smaller cases), the CPU's repacked share of split
# expert stacks against in-place, and the resident memory a device upload and prefill streaming
# leave.
stage "CUDA emulator, no sanitizers: split placements"
if BUILD_TARGETS="infer-no-alloc-test infer-cuda-tests infer-synth" build emulator build/emu \
        -DCMAKE_BUILD_TYPE=Release -DINFER_CUDA=OFF -DINFER_CUDA_EMULATOR=ON -DINFER_VULKAN=OFF; then
    run_ctest emulator build/emu -R "split|goldens hold on CUDA|cuda placement goldens|cuda expert offload goldens|repacked share of split stacks|hands the file pages"
fi

# The tests that start threads: the thread pool, the last error per thread, concurrent contexts
# on one model, concurrent tokenization and chat rendering, cancel from another thread, the
# cancel tests (the stress test with 250 instead of 2,500 cancels per thread count: TSan is slow),
# and the expert FFN across thread counts (its decode steps wait on per-expert counts).
tsan_tests='ThreadPool|last error is per thread|four threads on one shared model|concurrent rendering'
tsan_tests+='|moe_ffn results do not depend on the thread count'
tsan_tests+='|cancel from another thread|^concurrency: |^cancel: '
stage "ThreadSanitizer: the concurrency tests"
if BUILD_TARGETS="infer-unit-tests infer-model-tests" build tsan build/tsan \
        "${line_tables[@]}" -DINFER_CUDA=OFF -DINFER_VULKAN=OFF -DINFER_SANITIZE=thread; then
    INFER_CANCEL_STRESS=250 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
        run_ctest tsan build/tsan -R "$tsan_tests"
fi

# AArch64: the library and tests cross-compiled, run under qemu-aarch64 (qemu's "max" CPU: neon,
# dotprod and i8mm): the kernel tests at every ARM level against the scalar references, and the
# goldens of SmolLM2 and of every synthetic model (the MoE ones among them) at the level runs
# use, i8mm. Emulated float arithmetic is slow: SmolLM2 takes over two minutes a level, and
# "cpu attention matches its reference" three (run by hand, not here).
arm_tests='^(vec_dot SIMD|decode row kernels|matmul matches matmul_ref: odd|K-quant matmuls at the'
arm_tests+=' integer|IQ4_XS and Q6_K prefill lanes|activation quantizers|Q8_K quantizer|cpu isa:'
arm_tests+='|repacked weights|matmul_rows over a repacked|matmul over rows more than 2 GiB'
arm_tests+='|cpu rms_norm|cpu rope|cpu glu|exp_approx|cpu kv_store|moe_route|dequant '
arm_tests+='|goldens: SmolLM2|goldens: synthetic)'
stage "AArch64: cross build, kernel tests and goldens under qemu"
if BUILD_TARGETS="infer-unit-tests infer-model-tests" build arm64 build/arm64 \
        -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
        -DCMAKE_BUILD_TYPE=Release -DINFER_CUDA=OFF -DINFER_VULKAN=OFF; then
    INFER_GOLDEN_ISA=best run_ctest arm64 build/arm64 -R "$arm_tests"
fi

stage "fuzzing (${fuzz_seconds} s per target)"
for target in gguf tokenizer chat state sampler; do
    if scripts/fuzz.sh "$target" build/fuzz "$fuzz_seconds"; then
        passed=$((passed + 1)); report+=("fuzz $target: clean")
    else
        failed=$((failed + 1)); report+=("fuzz $target: FAILED")
    fi
done

stage ""
echo "=== summary"
printf '  %s\n' "${report[@]}"
echo "time per stage ($SECONDS s in all):"
printf '  %s\n' "${timings[@]}"
echo "libinfer: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
