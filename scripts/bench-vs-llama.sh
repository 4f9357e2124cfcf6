#!/usr/bin/env bash
# Runs infer-bench and llama.cpp's llama-bench on the same model, threads and machine, one after
# the other, and prints both tables and the ratios (libinfer / llama.cpp).
#
#   scripts/bench-vs-llama.sh MODEL [THREADS] [REPEATS]
#
# MODEL is a GGUF file, or synth:PRESET[:RECIPE] for an infer-synth model of a preset's shape
# (random weight blocks, seed 1; RECIPE defaults to Q4_K_M), made once into
# $INFER_MODEL_DIR/synth/PRESET-RECIPE.gguf. For example, OLMoE-1B-7B's shape at 2 threads:
#
#   scripts/bench-vs-llama.sh synth:olmoe-1b-7b:Q4_K_M 2
#
# llama-bench is built once from the llama-cpp-python source package (its vendored llama.cpp),
# CPU only, into ~/.cache/libinfer/llama.cpp (override with LLAMA_BENCH_DIR); nothing of it is
# committed. With INFER_CPU_ISA=avx2 in the environment, infer-bench runs its AVX2 paths and
# llama-bench comes from a second build without AVX-512 (build-avx2), so an AVX-512 machine
# measures what an AVX2 one would run. infer-bench and infer-synth come from build/release. If infer-bench fails (say, an
# architecture it does not run yet), llama.cpp's figures are still printed and the exit status is 1.
#
#   scripts/bench-vs-llama.sh --paired ROUNDS MODEL [THREADS]
#
# runs both in one process instead (scripts/bench_pair.cpp, built once against the llama.cpp
# build): pp512 and tg128 of each side in turn, ROUNDS times, with the median of the per-round
# ratios and their range. The two runs of a round are back to back, with no model load or warm-up
# between them, so a round costs half of what a pair of whole processes does; on a host whose
# speed swings within seconds the ratios still scatter, and only many rounds give a median.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
paired=0
if [ "${1:-}" = --paired ]; then
    paired="$2"
    shift 2
fi
model="$1" threads="${2:-$(nproc)}" repeats="${3:-3}"
cache="${LLAMA_BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/libinfer/llama.cpp}"
version=0.3.36
build="$cache/build"
[ "${INFER_CPU_ISA:-}" = avx2 ] && build="$cache/build-avx2"
bench="$build/bin/llama-bench"
bin="$root/build/release/samples"

if [[ "$model" == synth:* ]]; then
    IFS=: read -r _ preset recipe <<<"$model"
    recipe="${recipe:-Q4_K_M}"
    . "$root/scripts/model-dir.sh"
    model="$INFER_MODEL_DIR/synth/$preset-${recipe,,}.gguf"
    if [ ! -f "$model" ]; then
        [ -x "$bin/infer-synth" ] || {
            echo "bench-vs-llama: build libinfer first (cmake --build build/release)" >&2; exit 1; }
        mkdir -p "$(dirname "$model")"
        echo "bench-vs-llama: writing $model (once)" >&2
        "$bin/infer-synth" --preset "$preset" --quant "$recipe" --random-blocks --seed 1 \
            -o "$model.tmp" >&2
        mv "$model.tmp" "$model"
    fi
fi

if [ ! -x "$bench" ]; then
    echo "bench-vs-llama: building llama-bench from llama-cpp-python $version (once)" >&2
    mkdir -p "$cache"
    src="$cache/llama_cpp_python-$version/vendor/llama.cpp"
    if [ ! -d "$src" ]; then # the source is shared by both builds
        python3 -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" \
            -d "$cache"
        tar -xzf "$cache/llama_cpp_python-$version.tar.gz" -C "$cache"
    fi
    # The host's best x86 features, named one by one rather than -march=native: some machines
    # (our sandbox among them) advertise AMX but trap on it, and native would build AMX code.
    features="avx2:AVX2 fma:FMA f16c:F16C avx512f:AVX512 avx512_vnni:AVX512_VNNI"
    features+=" avx512vbmi:AVX512_VBMI avx512_bf16:AVX512_BF16 avx_vnni:AVX_VNNI"
    [ "$build" = "$cache/build-avx2" ] && features="avx2:AVX2 fma:FMA f16c:F16C"
    isa=()
    for f in $features; do
        grep -qw "${f%%:*}" /proc/cpuinfo && isa+=("-DGGML_${f##*:}=ON")
    done
    [ "$build" = "$cache/build-avx2" ] && isa+=("-DGGML_AVX512=OFF")
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF "${isa[@]}" \
        -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >/dev/null
    cmake --build "$build" --target llama-bench -j "$(nproc)" >/dev/null
fi
[ -x "$bin/infer-bench" ] || {
    echo "bench-vs-llama: build libinfer first (cmake --build build/release)" >&2; exit 1; }

if [ "$paired" != 0 ]; then
    src="$cache/llama_cpp_python-$version/vendor/llama.cpp"
    pair="$build/bin/bench_pair"
    if [ ! -x "$pair" ] || [ "$root/scripts/bench_pair.cpp" -nt "$pair" ]; then
        c++ -std=c++20 -O2 -I"$root/include" -I"$src/include" -I"$src/ggml/include" \
            "$root/scripts/bench_pair.cpp" -L"$root/build/release" -linfer -L"$build/bin" -lllama \
            -lggml -lggml-base -Wl,-rpath,"$root/build/release:$build/bin" -o "$pair"
    fi
    exec "$pair" "$model" "$threads" 512 128 "$paired"
fi

status=0
ours="$("$bin/infer-bench" -m "$model" -t "$threads" -r "$repeats" 2>&1)" || status=$?
theirs="$("$bench" -m "$model" -t "$threads" -r "$repeats" -p 512 -n 128 -o md)"
echo "libinfer:"; echo "$ours"; echo; echo "llama.cpp:"; echo "$theirs"; echo
if [ "$status" -ne 0 ]; then
    echo "bench-vs-llama: infer-bench failed (status $status); no ratios" >&2
    exit 1
fi
# The t/s column: "| ... | pp512 | 123.45 ± 1.2 | ..." in both tables.
rate() { grep -E "\| *$2 *\|" <<<"$1" | head -n1 | awk -F'|' -v t="$2" '
    { for (i = 1; i <= NF; ++i) if ($i ~ "^ *" t " *$") { split($(i + 1), v, " "); print v[1]; exit } }'; }
for test in pp512 tg128; do
    a="$(rate "$ours" "$test")" b="$(rate "$theirs" "$test")"
    awk -v t="$test" -v a="$a" -v b="$b" -v th="$threads" \
        'BEGIN { printf "%s, %d threads: libinfer %.2f t/s, llama.cpp %.2f t/s, ratio %.2f\n", t, th, a, b, a / b }'
done
