#!/usr/bin/env bash
# tests/gpu/run.sh [--dry-run] LOGDIR: the whole GPU check, for a machine with an NVIDIA GPU and
# no network.
#   0. The build's Debian packages (PCRE2, doctest) that the GPU machine's image may lack: every
#      .deb in INFER_GPU_DEPS (default .gpudeps, made by tests/gpu/fetch-deps.sh on the
#      development machine and carried along) is unpacked into the build directory for CMake.
#   1. Release build with CUDA for this card's architecture (Vulkan off: not what this run
#      checks; warnings are not errors here: CI checks them, this run must not die of a newer
#      compiler), only the targets below;
#   2. ctest over the CUDA tests: "cuda host:" (host math) and "cuda kernels:"/"cuda models:"
#      (every kernel against the CPU reference; CUDA vs CPU on synthetic models; llama.cpp
#      goldens; graph replay; budgets; state);
#   3. the card's device-to-device bandwidth (infer-cuda-membw);
#   4. synthetic models from infer-synth (--random-blocks, during step 2): llama-8b Q4_0 and
#      Q4_K_M, llama-1b Q4_K_M, and OLMoE-1B-7B's shape (olmoe-1b-7b preset: 16 layers, n_embd
#      2048, 64 experts of n_ff 1024, top-8) at Q4_K_M, gpt-oss-20b's shape at MXFP4 (experts)
#      and DeepSeek-V2-Lite's at Q4_K_M;
#   5. infer-bench --backend cuda pp512/tg128 on each with the int8 decode matvec (the default),
#      tg128 with the simple matvec (INFER_CUDA_MATVEC=simple) on llama8b-q4_0 as the baseline,
#      and, when an int8 test failed, pp512/tg128 with the simple matvec on every model, so the
#      table exists either way. Then, each -r 1 as their CPU share is slow, CPU-GPU expert
#      offload (issue 13): Qwen3-30B-A3B (48 layers, 128 experts, ~18 GB) and OLMoE with
#      --experts popularity at device budgets (Qwen: 4, 8, 16 GB and unlimited) against
#      layer-granular expert placement at 8 GB (the layers whose experts the offload plan's
#      per-layer row leaves on the CPU, as llama.cpp's --n-cpu-moe) and all experts on the CPU,
#      with the offload plan's prediction for the H200 (the CPU side measured there) in its log;
#      then split placements (issue 12): llama8b-q4_0 at -ngl 16, 32 (the output layer on the
#      CPU) and 0 (everything on the CPU through the CUDA backend; the dry run's 2-layer model:
#      -ngl 1, 2, 0). One table:
#      placement (what was asked; the resolved layer count on the GPU; the CPU's layers and
#      weights; activation copies per token step), matvec path, tokens/s, achieved weight GB/s,
#      that as a percentage of the measured bandwidth (only for rows whose weights are all on the
#      GPU), device memory (all of it is allocated up front, so it is also the peak), and whether
#      prefill had cuBLASLt; then a second table of the same rows' host side (the CPU expert
#      lane's ms per step, its waits for the device per step and their mean, experts streamed per
#      prompt, the CPU's repacked MiB, peak RSS).
#   6. Vulkan (issue 14), in a build of its own (BUILD-vulkan: -DINFER_VULKAN=ON -DINFER_CUDA=OFF,
#      so that a missing Vulkan loader cannot stop the CUDA run): the Vulkan conformance suite
#      and model tests on the card's Vulkan driver (not the SmolLM2 one: no model files there),
#      then infer-bench --backend vulkan pp512/tg128 on llama-1b and llama-8b Q4_K_M and Q4_0,
#      rows in the same table beside the CUDA ones, and the device line infer-bench prints
#      (features used, kernel set). No Vulkan loader, headers, glslc or driver: the table says
#      which, and that is not a failure (fetch-deps.sh carries the loader, headers and glslc).
# Time: every step runs under `timeout` with its own cap, and no step may run past a deadline of
# INFER_GPU_TIME_BUDGET seconds (default 450) from the start: a step with too little time left is
# skipped and reported, benchmarks in order of importance. Measured on an H200 with 16 host cores
# (2026-12-04, prebuilt): 235 s in all, of which models 13 s, the all-GPU rows 22 s, the offload
# plan 33 s, the Qwen and OLMoE offload rows 98 s, the -ngl rows 71 s (-ngl 0 alone 40 s); a
# build there adds about a minute, so a tight budget skips -ngl 0 first. Logs of every step go to LOGDIR; the table is also
# LOGDIR/table.md. Exit status: nonzero when the build, a test or a benchmark failed, or a step
# was skipped.
#
# INFER_GPU_PREBUILT=1: BUILD already holds the targets (tests/gpu/pack-prebuilt.sh's copy of a
# build made on the development machine): no configure or build here.
#
# --dry-run: for checking this script on a machine without a GPU. The build uses the CUDA
# emulator (tests/cuda_emu: -DINFER_CUDA=OFF -DINFER_CUDA_EMULATOR=ON, build dir build/gpu-dry),
# so the CUDA host and kernel tests (not the model tests: CI runs those, in an hour) and
# infer-bench --backend cuda really run, on the CPU; the models are
# infer-synth's tiny preset under the same names, the benchmarks -p 64 -n 8 -r 1, and membw is
# skipped. The table says DRY RUN; its figures are the emulator's, meaningless as speed.
#
# With the device tool (which returns at most 8 files from $OUT), e.g.: carry [".gpudeps"],
#   tests/gpu/run.sh /tmp/gpu; rc=$?; tar czf "$OUT/gpu-logs.tgz" -C /tmp gpu; exit $rc
#
# Environment: INFER_GPU_BUILD_DIR (default build/gpu; the Vulkan build is the same plus
# -vulkan), INFER_GPU_MODEL_DIR (default
# BUILD/models), INFER_GPU_DEPS (default .gpudeps), INFER_GPU_ARCH (default: nvidia-smi's compute
# capability, else 90), INFER_GPU_TIME_BUDGET (seconds, default 450).
set -uo pipefail
dry_run=0
if [ "${1:-}" = --dry-run ]; then
    dry_run=1
    shift
fi
logdir="${1:?usage: tests/gpu/run.sh [--dry-run] LOGDIR}"
mkdir -p "$logdir" && logdir="$(cd "$logdir" && pwd)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root" || exit 1
build="${INFER_GPU_BUILD_DIR:-build/gpu$([ $dry_run = 1 ] && echo -dry)}"
models="${INFER_GPU_MODEL_DIR:-$build/models}"
deps="${INFER_GPU_DEPS:-$root/.gpudeps}"
jobs="$(nproc)"
t0=$(date +%s)
deadline=$((t0 + ${INFER_GPU_TIME_BUDGET:-450}))
failures=()

stamp() { echo "[$(($(date +%s) - t0)) s] $*" | tee -a "$logdir/steps.log"; }
# run NAME SECONDS CMD...: runs CMD with a time limit of SECONDS, or what is left before the
# deadline if that is less (a step with under 15 s left is skipped), output in LOGDIR/NAME.log.
run() {
    local name="$1" limit="$2" left
    shift 2
    left=$((deadline - $(date +%s)))
    if [ "$left" -lt 15 ]; then
        stamp "skip $name: ${left} s left of the time budget"
        failures+=("$name (skipped: out of time)")
        echo "skipped: out of time" >"$logdir/$name.log"
        return 125
    fi
    [ "$left" -lt "$limit" ] && limit="$left"
    stamp "start $name (limit ${limit} s)"
    timeout --kill-after=5 "$limit" "$@" >"$logdir/$name.log" 2>&1
    local rc=$?
    stamp "end $name: exit $rc"
    if [ $rc -ne 0 ]; then
        failures+=("$name (exit $rc$([ $rc -eq 124 ] && echo ', timed out'))")
        tail -n 30 "$logdir/$name.log"
    fi
    return $rc
}

nvidia-smi >"$logdir/nvidia-smi.log" 2>&1 || true
cc="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d '. ')"
arch="${INFER_GPU_ARCH:-${cc:-90}}"
if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export CUDACXX=/usr/local/cuda/bin/nvcc
fi
# cuBLASLt is loaded at run time (dlopen): make sure the toolkit's libraries are on the path.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [ -d "$d" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
done
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DINFER_CUDA=ON -DINFER_VULKAN=OFF
            -DINFER_CUDA_ARCHITECTURES="$arch" -DINFER_WERROR=OFF)
targets=(infer-cuda-tests infer-unit-tests infer-bench infer-synth infer-cuda-membw)
if [ $dry_run = 1 ]; then
    cmake_args=(-DCMAKE_BUILD_TYPE=Release -DINFER_CUDA=OFF -DINFER_CUDA_EMULATOR=ON
                -DINFER_VULKAN=OFF -DINFER_WERROR=OFF)
    targets=(infer-cuda-tests infer-unit-tests infer-bench infer-synth)
fi
if command -v ccache >/dev/null; then
    cmake_args+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
                 -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
# Ninja schedules a parallel build better; only for a new build directory (a generator is fixed).
if [ ! -f "$build/CMakeCache.txt" ] && command -v ninja >/dev/null; then cmake_args+=(-G Ninja); fi

# ---- 0-1. dependencies and build --------------------------------------------------------------
mkdir -p "$build"
if compgen -G "$deps/*.deb" >/dev/null; then
    rm -rf "$build/deps" && mkdir -p "$build/deps"
    n_debs=0
    for f in "$deps"/*.deb; do
        dpkg -x "$f" "$build/deps" || failures+=("unpack $(basename "$f")")
        n_debs=$((n_debs + 1))
    done
    cmake_args+=(-DCMAKE_PREFIX_PATH="$(cd "$build/deps" && pwd)/usr")
    # A prebuilt tree links PCRE2 from wherever it was built: find the unpacked one at run time.
    export LD_LIBRARY_PATH="$(cd "$build/deps" && pwd)/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    stamp "unpacked $n_debs packages from $deps into $build/deps"
fi
# The Vulkan build's own configuration: glslc from the carried packages when the image lacks it.
vk_build="$build-vulkan"
vk_args=(-DCMAKE_BUILD_TYPE=Release -DINFER_CUDA=OFF -DINFER_VULKAN=ON -DINFER_WERROR=OFF)
for a in "${cmake_args[@]}"; do
    case "$a" in -DCMAKE_PREFIX_PATH=* | -DCMAKE_C*_LAUNCHER=* | -G | Ninja) vk_args+=("$a") ;; esac
done
[ -x "$build/deps/usr/bin/glslc" ] && vk_args+=(-DVulkan_GLSLC_EXECUTABLE="$(cd "$build/deps/usr/bin" && pwd)/glslc")
vk_targets=(infer-vulkan-tests infer-conformance-tests infer-bench)
built=1
if [ "${INFER_GPU_PREBUILT:-0}" = 1 ]; then
    # tests/gpu/pack-prebuilt.sh made $build elsewhere (the device's minutes are for the card,
    # not the compiler); its CTest files name that machine's paths, which the caller recreates.
    stamp "prebuilt $build: no configure or build"
    "$build/samples/infer-bench" --help >"$logdir/prebuilt.log" 2>&1 || built=0
else
    run configure 90 cmake -S . -B "$build" "${cmake_args[@]}" || built=0
    if [ $built = 1 ]; then
        run build 300 cmake --build "$build" -j "$jobs" --target "${targets[@]}" || built=0
    fi
    # Vulkan's failure to configure or build is reported in its table row, not fatal here.
    if [ $built = 1 ]; then
        if timeout 60 cmake -S . -B "$vk_build" "${vk_args[@]}" >"$logdir/vk-configure.log" 2>&1; then
            run vk-build 200 cmake --build "$vk_build" -j "$jobs" --target "${vk_targets[@]}" ||
                stamp "the Vulkan build failed: see vk-build.log"
        else
            stamp "Vulkan not configured (no loader, headers or glslc?): see vk-configure.log"
        fi
    fi
fi
if [ $built = 0 ]; then
    echo "run.sh: the build failed; see $logdir/configure.log and $logdir/build.log"
    echo "(a missing PCRE2 or doctest: run tests/gpu/fetch-deps.sh on the development machine"
    echo " and carry .gpudeps along)"
    exit 1
fi

# ---- 2. tests (the model generation below runs on the CPU meanwhile) ---------------------------
mkdir -p "$models"
synth() { # NAME ARCH PRESET QUANT [MORE INFER-SYNTH OPTIONS]
    [ -s "$models/$1.gguf" ] && return 0
    local preset="$3"
    [ "$dry_run" = 1 ] && preset=tiny # tiny keeps --arch
    "$build/samples/infer-synth" --arch "$2" --preset "$preset" --quant "$4" --random-blocks \
        "${@:5}" -o "$models/$1.gguf.tmp" && mv "$models/$1.gguf.tmp" "$models/$1.gguf"
}
export -f synth
export build models dry_run
run synth 200 bash -c 'synth llama8b-q4_0 llama llama-8b Q4_0 &&
                       synth llama8b-q4_k_m llama llama-8b Q4_K_M &&
                       synth llama1b-q4_k_m llama llama-1b Q4_K_M &&
                       synth olmoe-q4_k_m olmoe olmoe-1b-7b Q4_K_M' &
synth_pid=$!
# The Qwen3-30B-A3B shape (about 18 GB; the dry run's tiny qwen3moe) for the offload rows.
olmoe_budget=2G qwen_budgets="4G 8G 16G" qwen_layer_budget=8G
if [ $dry_run = 1 ]; then
    # The tiny models' experts are a few MiB next to the 256 MiB a budget keeps for a context:
    # these leave some of them off the device, so the offload rows offload.
    olmoe_budget=260M qwen_budgets="259M 260M" qwen_layer_budget=260M
fi
# Its router is skewed (--router-skew 1: a few experts per layer take most tokens, as in real MoE
# models); with every expert equally popular, per-expert placement cannot beat whole layers.
run synth-big 300 bash -c 'synth qwen3moe30b-skew1-q4_k_m qwen3moe qwen3-30b-a3b Q4_K_M \
                               --router-skew 1' &
big_synth_pid=$!
# The MoE shapes of issue 17: gpt-oss-20b (MXFP4 experts with biases, sinks; about 12 GB) and
# DeepSeek-V2-Lite (latent attention, shared experts; about 10 GB), all on the GPU.
run synth-moe 200 bash -c 'synth gptoss20b-mxfp4 gpt-oss gpt-oss-20b MXFP4_MOE &&
                           synth dsv2lite-q4_k_m deepseek2 deepseek-v2-lite Q4_K_M' &
moe_synth_pid=$!
# Four at a time: the CPU contexts the model tests compare against use every core each.
# The dry run's emulator takes an hour over every CUDA test (CI runs them): it checks the host math
# and every kernel against the CPU reference, which is what a new machine's build may break.
ctest_filter='^cuda '
if [ $dry_run = 1 ]; then ctest_filter='^cuda (host|kernels): '; fi
run ctest 200 ctest --test-dir "$build" -R "$ctest_filter" --output-on-failure -j 4 --timeout 150
grep -E 'tests passed|Skipped|Failed|\*\*\*' "$logdir/ctest.log" | tail -n 40
if grep -q '(Skipped)' "$logdir/ctest.log"; then
    failures+=("ctest: GPU tests were skipped (no CUDA device seen)")
fi
wait $synth_pid || true
wait $moe_synth_pid || true

# ---- 3. bandwidth -------------------------------------------------------------------------------
bw=""
if [ $dry_run = 0 ] && run membw 30 "$build/tests/infer-cuda-membw"; then
    bw="$(tail -n1 "$logdir/membw.log")"
fi
stamp "device-to-device bandwidth: ${bw:-unknown} GB/s"

# ---- 4-5. benchmarks and the table ------------------------------------------------------------
# An int8 test that failed (kernel or model) puts the simple matvec's numbers in the table too.
int8_failed=0
if grep -E 'Failed|Exception|Timeout|Not Run' "$logdir/ctest.log" | grep -qi 'int8'; then
    int8_failed=1
    stamp "an int8 matvec test failed: benchmarking the simple matvec as well"
fi
prompt=512 gen=128 repeats=3
[ $dry_run = 1 ] && prompt=64 gen=8 repeats=1
table="$logdir/table.md"
{
    [ $dry_run = 1 ] && echo "DRY RUN: CUDA emulator, tiny models, -p $prompt -n $gen (figures are not speed)"
    echo "| model | placement | matvec | tg$gen t/s | pp t/s | weight GB/s (tg) | % of D2D ${bw:-?} GB/s | device MiB | prefill GEMM |"
    echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
} >"$table"
# The same rows' host side: the CPU's expert lane, its waits for the device, prefill streaming,
# the CPU's repacked weights and the process's peak resident memory.
details="$logdir/details.md"
{
    echo "| model | placement | CPU experts ms/step | CPU waits per step x us | experts streamed per pp | CPU repacked MiB | peak RSS MiB |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
} >"$details"
# bench_cell LOG TEST NAME: the NAME column of the row of test TEST in an infer-bench table,
# found by the header (the table gains an ot column with overrides; an escaped \| is a regex's,
# not a cell's end).
bench_cell() {
    awk -F'|' -v test="$2" -v name="$3" '
        { gsub(/\\\|/, "") }
        /^\| model \|/ { for (i = 1; i <= NF; ++i) { h = $i; gsub(/ /, "", h); col[h] = i } next }
        col["test"] && $col["test"] ~ "^ *" test " *$" {
            v = $col[name]; gsub(/^ +| +$/, "", v); print v; exit
        }' "$1"
}
# bench_row MODEL PATH PP REPEATS [PLACEMENT OPTIONS...]: one infer-bench run (PATH int8 or
# simple; PP 0: no prompt test) and its table row; no placement options: everything on the GPU.
# --verbose puts the plan, layer by layer and with every CPU fallback, in the row's log.
bench_row() {
    local m="$1" path="$2" pp_tokens="$3" row_repeats="$4" env_path=""
    shift 4
    local asked="${*:-all}" slug
    slug="$(tr -c 'A-Za-z0-9=.\n-' '_' <<<"$asked" | tr -d '\n')"
    local name="bench-$m-$path-$slug"
    [ "$path" = simple ] && env_path=simple
    if [ ! -s "$models/$m.gguf" ]; then
        echo "| $m | $asked | $path | not generated | | | | | |" >>"$table"
        failures+=("synth $m")
        return
    fi
    local bench_exe="$build/samples/infer-bench" backend=cuda
    [ "$path" = vulkan ] && bench_exe="$vk_build/samples/infer-bench" backend=vulkan
    if ! INFER_CUDA_MATVEC="$env_path" run "$name" 90 "$bench_exe" \
            -m "$models/$m.gguf" --backend $backend -p "$pp_tokens" -n "$gen" \
            -r "$row_repeats" -b 512 --verbose "$@"; then
        echo "| $m | $asked | $path | failed | | | | | |" >>"$table"
        return
    fi
    local log="$logdir/$name.log" tg gbs pp mib pct="" gemm=cuBLASLt ngl placed cpu copies
    tg="$(bench_cell "$log" "tg$gen" t/s | cut -d' ' -f1)"
    gbs="$(bench_cell "$log" "tg$gen" GB/s)"
    pp="$(bench_cell "$log" "pp$pp_tokens" t/s | cut -d' ' -f1)"
    ngl="$(bench_cell "$log" "tg$gen" ngl)"
    mib="$(sed -nE 's/^device memory: ([0-9.]+) MiB.*/\1/p' "$log")"
    # "placement: CPU 12.0 MiB of weights, 2 layers, 40 nodes; CUDA ...; 3 segments, 2 copies ..."
    cpu="$(sed -nE 's/^placement: CPU ([0-9.]+) MiB of weights, ([0-9]+) layers.*/\2 layers, \1 MiB/p' \
          "$log")"
    copies="$(sed -nE 's/^placement: .* ([0-9]+) copies per step.*/\1/p' "$log")"
    placed="${asked//|/\\|}: ngl ${ngl:-?}; CPU ${cpu:-?}; ${copies:-?} copies/step"
    # A share of the copy bandwidth only where the GPU runs the whole step (no copies, and no
    # weights on the CPU).
    if [ "$copies" != 0 ] || [[ "$cpu" != "0 layers, 0.0 MiB" ]]; then
        pct="n/a: CPU share"
    elif [ -n "$bw" ] && [ -n "$gbs" ]; then
        pct="$(awk -v g="$gbs" -v b="$bw" 'BEGIN {printf "%.0f%%", 100 * g / b}')"
    fi
    [ "$path" = vulkan ] && gemm="Vulkan $(sed -nE 's/^device: .*; (cpu|gpu) kernels\)$/\1/p' "$log") kernels"
    grep -q 'prefill uses matvec kernels' "$log" && gemm="none: matvec (see log)"
    [ "$ngl" = 0 ] && gemm="none: CPU"
    [ "$pp_tokens" = 0 ] && gemm=""
    echo "| $m | $placed | $path | ${tg:-?} | ${pp:--} | ${gbs:-?} | ${pct:-?} | ${mib:-?} | $gemm |" \
        >>"$table"
    # "split: the CPU waited for the device 3840 times, 86.7 us each on average; CPU experts 7.53
    # ms per decode step"; "prefill streaming: 27.0 experts (3.1 MiB) copied ..."; "memory: peak
    # RSS 954.7 MiB; ... 0.0 MiB of them (0 weights) repacked for the CPU"
    local lane waits streamed repacked rss
    lane="$(sed -nE 's/^split: .*CPU experts ([0-9.]+) ms per decode step.*/\1/p' "$log")"
    waits="$(sed -nE 's/^split: the CPU waited for the device ([0-9]+) times, ([0-9.]+) us.*/\1 \2/p' \
             "$log" | awk -v n=$((gen * row_repeats)) '{ printf "%.1f x %s", $1 / n, $2 }')"
    streamed="$(sed -nE 's/^prefill streaming: ([0-9.]+) experts.*/\1/p' "$log")"
    repacked="$(sed -nE 's/^memory: .* ([0-9.]+) MiB of them .* repacked.*/\1/p' "$log")"
    rss="$(sed -nE 's/^memory: peak RSS ([0-9.]+) MiB.*/\1/p' "$log")"
    echo "| $m | ${asked//|/\\|} | ${lane:--} | ${waits:--} | ${streamed:-0} | ${repacked:-?} | ${rss:-?} |" \
        >>"$details"
}
# In order of importance, so that a short budget drops the least useful: everything on the GPU
# first (seconds each), then the split placements, whose CPU share makes them slow.
bench_row llama8b-q4_0 int8 "$prompt" "$repeats"
bench_row llama8b-q4_k_m int8 "$prompt" "$repeats"
bench_row llama8b-q4_0 simple 0 "$repeats"
bench_row llama1b-q4_k_m int8 "$prompt" "$repeats"
bench_row olmoe-q4_k_m int8 "$prompt" "$repeats"
bench_row gptoss20b-mxfp4 int8 "$prompt" "$repeats"
bench_row dsv2lite-q4_k_m int8 "$prompt" "$repeats"
if [ $int8_failed = 1 ]; then
    bench_row llama8b-q4_0 simple "$prompt" "$repeats"
    bench_row llama8b-q4_k_m simple "$prompt" "$repeats"
    bench_row llama1b-q4_k_m simple "$prompt" "$repeats"
fi
# ---- 6. Vulkan: tests, then the same shapes beside the CUDA rows above (issue 14) ---------------
vk_status=""
if [ ! -x "$vk_build/samples/infer-bench" ]; then
    vk_status="not built (see vk-configure.log / vk-build.log)"
elif ! "$vk_build/samples/infer-bench" -m "$models/llama1b-q4_k_m.gguf" --backend vulkan -p 0 -n 1 \
        -r 1 >"$logdir/vk-probe.log" 2>&1; then
    vk_status="no usable Vulkan device: $(grep -m1 -iE 'vulkan|error' "$logdir/vk-probe.log")"
else
    vk_status="$(sed -n 's/^device: //p' "$logdir/vk-probe.log" | head -n1)"
    # lavapipe where the card's driver was expected: its figures are not GPU speed.
    [[ "$vk_status" == *", CPU;"* ]] && vk_status="$vk_status: a CPU driver, figures not GPU speed"
    # The conformance suite's Vulkan cases and the Vulkan model tests (SmolLM2's needs its file;
    # the dry run's lavapipe takes minutes over the model tests, which CI runs: cases only).
    vk_filter='^(Vulkan: |vulkan )'
    [ $dry_run = 1 ] && vk_filter='^Vulkan: '
    run vk-ctest 150 ctest --test-dir "$vk_build" -R "$vk_filter" -E 'SmolLM2' \
        --output-on-failure -j 4 --timeout 120
    grep -E 'tests passed|Failed|\*\*\*' "$logdir/vk-ctest.log" | tail -n 20
    if grep -q '(Skipped)' "$logdir/vk-ctest.log"; then
        failures+=("vk-ctest: Vulkan tests were skipped although a device was seen")
    fi
    bench_row llama1b-q4_k_m vulkan "$prompt" "$repeats"
    bench_row llama8b-q4_k_m vulkan "$prompt" "$repeats"
    bench_row llama8b-q4_0 vulkan "$prompt" "$repeats"
fi
stamp "Vulkan: $vk_status"
echo "| Vulkan device: ${vk_status//|/\\|} | | | | | | | | |" >>"$table"
# CPU-GPU expert offload (issue 13) before the split placements of issue 12: Qwen3-30B-A3B's
# shape (made while the rows above ran) with per-expert placement by popularity under device
# budgets, against layer-granular placement at the middle budget (the layers' experts that the
# offload plan's per-layer row leaves off the device, as llama.cpp's --n-cpu-moe) and all experts
# on the CPU; the plan (cost model, H200 profile, the CPU measured here) at that budget and at its
# own budgets in their logs. Then OLMoE's shape the same way.
wait $big_synth_pid || true
qwen_name=qwen3moe30b-skew1-q4_k_m
qwen="$models/$qwen_name.gguf"
popularity="$models/$qwen_name-popularity.tsv"
# Everything on the device first; it also counts which (layer, expert) pairs the benchmark's
# tokens select: the popularity the plan and the per-expert rows read.
bench_row $qwen_name int8 "$prompt" 1 --expert-stats "$popularity"
[ -s "$qwen" ] && [ -s "$popularity" ] &&
    run offload-plan 90 "$build/samples/infer-bench" -m "$qwen" --offload-plan \
        --device-profile h200-sxm --expert-stats "$popularity" --budget "$qwen_layer_budget" &&
    run offload-plan-budgets 60 "$build/samples/infer-bench" -m "$qwen" --offload-plan \
        --device-profile h200-sxm --expert-stats "$popularity"
# The CPU's layers of the plan's per-layer row: its resident experts per layer as run lengths
# ("0x30 128x18"), a layer with none resident being the CPU's; as an --override regex.
layer_granular="$(awk -F'|' '/\| per layer \|/ {
        n = split($5, runs, " "); layer = 0; list = ""
        for (i = 1; i <= n; ++i) {
            count = 1; value = runs[i]
            if (value ~ /x/) { split(value, vc, "x"); value = vc[1]; count = vc[2] }
            for (k = 0; k < count; ++k) {
                if (value == 0) list = list (list == "" ? "" : "|") layer
                ++layer
            }
        }
        if (list != "") print "blk\\.(" list ")\\.ffn_.*_exps=CPU"
        exit
    }' "$logdir/offload-plan.log")"
stamp "layer-granular placement at $qwen_layer_budget: ${layer_granular:-none found in the plan}"
for budget in $qwen_budgets; do
    bench_row $qwen_name int8 "$prompt" 1 --expert-popularity "$popularity" \
        --device-budget "$budget"
done
if [ -n "$layer_granular" ]; then
    bench_row $qwen_name int8 "$prompt" 1 --override "$layer_granular"
else
    failures+=("offload plan: no per-layer placement at $qwen_layer_budget")
fi
bench_row $qwen_name int8 "$prompt" 1 --override exps=CPU
# Prefill of the non-resident experts on the CPU instead of the cost model's choice (auto).
bench_row $qwen_name int8 "$prompt" 1 --expert-popularity "$popularity" \
    --device-budget "${qwen_budgets%% *}" --expert-prefill cpu
bench_row olmoe-q4_k_m int8 "$prompt" 1 --experts popularity --device-budget ${olmoe_budget}
bench_row olmoe-q4_k_m int8 "$prompt" 1 --override 'blk\.[0-7]\.ffn_.*_exps=CPU'
bench_row olmoe-q4_k_m int8 "$prompt" 1 --override exps=CPU
# Split placements (issue 12): llama-8b has 32 layers (the dry run's tiny model 2): half of them,
# all but the output layer, none.
n_layer=32
[ $dry_run = 1 ] && n_layer=2
bench_row llama8b-q4_0 int8 "$prompt" 1 -ngl $((n_layer / 2))
bench_row llama8b-q4_0 int8 "$prompt" 1 -ngl $n_layer
bench_row llama8b-q4_0 int8 "$prompt" 1 -ngl 0

echo
gpu_name="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1)"
echo "=== ${gpu_name:-no GPU seen}, sm_$arch"
{ echo; cat "$details"; } >>"$table"
cat "$table"
echo
stamp "total"
if [ ${#failures[@]} -ne 0 ]; then
    printf 'FAILED: %s\n' "${failures[@]}" | tee -a "$table"
    exit 1
fi
echo "all GPU checks passed" | tee -a "$table"
