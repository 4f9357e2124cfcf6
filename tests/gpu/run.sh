#!/usr/bin/env bash
# tests/gpu/run.sh LOGDIR: the whole GPU check, for a machine with an NVIDIA GPU and no network.
#   1. Release build with CUDA for this card's architecture (Vulkan too when CMake finds it;
#      warnings are not errors here: CI checks them, this run must not die of a newer compiler),
#      only the targets below;
#   2. ctest over the CUDA tests: "cuda host:" (host math) and "cuda kernels:"/"cuda models:"
#      (every kernel against the CPU reference; CUDA vs CPU on synthetic models; llama.cpp
#      goldens; graph replay; budgets; state);
#   3. the card's device-to-device bandwidth (infer-cuda-membw);
#   4. synthetic models from infer-synth (--random-blocks): llama-8b Q4_0 and Q4_K_M, llama-1b
#      Q4_K_M;
#   5. infer-bench --backend cuda pp512/tg128 on each with the int8 decode matvec (the default),
#      tg128 with the simple matvec (INFER_CUDA_MATVEC=simple) on llama8b-q4_0 as the baseline,
#      and, when an int8 test failed, pp512/tg128 with the simple matvec on every model, so the
#      table exists either way. One table: matvec path, tokens/s, achieved weight GB/s, that as a
#      percentage of the measured bandwidth, device memory (all of it is allocated up front, so
#      it is also the peak).
# Every step runs under `timeout`, so one hang cannot eat the session; the whole is sized for
# under 8 minutes on an H100 with 16 cores. Logs of every step go to LOGDIR; the table is also
# LOGDIR/table.md. Exit status: nonzero when the build, a test or a benchmark failed.
set -uo pipefail
logdir="${1:?usage: tests/gpu/run.sh LOGDIR}"
mkdir -p "$logdir" && logdir="$(cd "$logdir" && pwd)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
build="${INFER_GPU_BUILD_DIR:-build/gpu}"
models="${INFER_GPU_MODEL_DIR:-$build/models}"
jobs="$(nproc)"
t0=$(date +%s)
failures=()

stamp() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a "$logdir/steps.log"; }
# run NAME SECONDS CMD...: runs CMD with a time limit, its output in LOGDIR/NAME.log.
run() {
    local name="$1" limit="$2"; shift 2
    stamp "start $name (limit ${limit} s)"
    timeout --kill-after=10 "$limit" "$@" >"$logdir/$name.log" 2>&1
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
launcher=()
if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
              -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi

# ---- 1. build ---------------------------------------------------------------------------------
built=1
run configure 120 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DINFER_CUDA=ON \
    -DINFER_CUDA_ARCHITECTURES="$arch" -DINFER_WERROR=OFF "${launcher[@]}" || built=0
if [ $built = 1 ]; then
    run build 330 cmake --build "$build" -j "$jobs" --target infer-cuda-tests infer-unit-tests \
        infer-bench infer-synth infer-cuda-membw || built=0
fi
if [ $built = 0 ]; then
    echo "run.sh: the build failed; see $logdir/configure.log and $logdir/build.log"
    exit 1
fi

# ---- 2. tests (the model generation below runs on the CPU meanwhile) ---------------------------
mkdir -p "$models"
synth() { # NAME PRESET QUANT
    [ -s "$models/$1.gguf" ] && return 0
    "$build/samples/infer-synth" --preset "$2" --quant "$3" --random-blocks -o "$models/$1.gguf.tmp" &&
        mv "$models/$1.gguf.tmp" "$models/$1.gguf"
}
export -f synth
export build models
run synth 150 bash -c 'synth llama8b-q4_0 llama-8b Q4_0 && synth llama8b-q4_k_m llama-8b Q4_K_M &&
                       synth llama1b-q4_k_m llama-1b Q4_K_M' &
synth_pid=$!
run ctest 240 ctest --test-dir "$build" -R '^cuda ' --output-on-failure -j 4 --timeout 200
tests_rc=$?
grep -E 'tests passed|Skipped|Failed|\*\*\*' "$logdir/ctest.log" | tail -n 40
if grep -q '(Skipped)' "$logdir/ctest.log"; then
    failures+=("ctest: GPU tests were skipped (no CUDA device seen)")
fi
wait $synth_pid || true

# ---- 3. bandwidth -------------------------------------------------------------------------------
bw=""
if run membw 60 "$build/tests/infer-cuda-membw"; then bw="$(tail -n1 "$logdir/membw.log")"; fi
stamp "device-to-device bandwidth: ${bw:-unknown} GB/s"

# ---- 4-5. benchmarks and the table ------------------------------------------------------------
# An int8 test that failed (kernel or model) puts the simple matvec's numbers in the table too.
int8_failed=0
if grep -E 'Failed|Exception|Timeout|Not Run' "$logdir/ctest.log" | grep -qi 'int8'; then
    int8_failed=1
    stamp "an int8 matvec test failed: benchmarking the simple matvec as well"
fi
table="$logdir/table.md"
{
    echo "| model | matvec | tg128 t/s | pp512 t/s | weight GB/s (tg) | % of D2D ${bw:-?} GB/s | device MiB |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
} >"$table"
# bench_row MODEL PATH PROMPT: one infer-bench run (PATH int8 or simple) and its table row.
bench_row() {
    local m="$1" path="$2" prompt="$3" env_path=""
    [ "$path" = simple ] && env_path=simple
    if ! INFER_CUDA_MATVEC="$env_path" run "bench-$m-$path" 150 "$build/samples/infer-bench" \
            -m "$models/$m.gguf" --backend cuda -p "$prompt" -n 128 -r 3 -b 512; then
        echo "| $m | $path | failed | | | | |" >>"$table"
        return
    fi
    local log="$logdir/bench-$m-$path.log" tg gbs pp mib pct=""
    # bench rows: | model | size | params | backend | threads | test | t/s | GB/s |
    tg="$(awk -F'|' '$7 ~ /tg128/ {split($8, a, " "); print a[1]}' "$log")"
    gbs="$(awk -F'|' '$7 ~ /tg128/ {gsub(/ /, "", $9); print $9}' "$log")"
    pp="$(awk -F'|' '$7 ~ /pp512/ {split($8, a, " "); print a[1]}' "$log")"
    mib="$(sed -nE 's/^device memory: ([0-9.]+) MiB.*/\1/p' "$log")"
    if [ -n "$bw" ] && [ -n "$gbs" ]; then pct="$(awk -v g="$gbs" -v b="$bw" 'BEGIN {printf "%.0f%%", 100 * g / b}')"; fi
    echo "| $m | $path | ${tg:-?} | ${pp:--} | ${gbs:-?} | ${pct:-?} | ${mib:-?} |" >>"$table"
}
for m in llama8b-q4_0 llama8b-q4_k_m llama1b-q4_k_m; do
    if [ ! -s "$models/$m.gguf" ]; then
        echo "| $m | | not generated | | | | |" >>"$table"
        failures+=("synth $m")
        continue
    fi
    bench_row "$m" int8 512
    if [ $int8_failed = 1 ]; then
        bench_row "$m" simple 512
    elif [ $m = llama8b-q4_0 ]; then
        bench_row "$m" simple 0
    fi
done

echo
echo "=== $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1), sm_$arch"
cat "$table"
echo
stamp "total"
if [ ${#failures[@]} -ne 0 ]; then
    printf 'FAILED: %s\n' "${failures[@]}" | tee -a "$table"
    exit 1
fi
echo "all GPU checks passed" | tee -a "$table"
