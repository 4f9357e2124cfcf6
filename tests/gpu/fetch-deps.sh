#!/usr/bin/env bash
# tests/gpu/fetch-deps.sh [DIR]: run on the development machine (Debian 12, apt) before a GPU
# session. Downloads the Debian packages the build needs beyond CUDA, CMake and a C++ compiler
# (PCRE2's header and library, doctest; for the Vulkan build the loader, headers and glslc)
# into DIR, default .gpudeps in the repository root
# (ignored by git). The GPU machine's image may lack them and cannot download anything: carry
# DIR there (the device tool's `carry`), and tests/gpu/run.sh unpacks every .deb in it into its
# build directory (dpkg -x, nothing installed system-wide) and points CMake at it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="${1:-$root/.gpudeps}"
mkdir -p "$dir"
cd "$dir"
# libpcre2-8-0 holds the library that libpcre2-dev's libpcre2-8.so link points to.
# The Vulkan build (run.sh's step 6): the loader and its headers, and glslc with its library.
apt-get download libpcre2-dev libpcre2-8-0 doctest-dev libvulkan-dev libvulkan1 glslc libshaderc1
ls -l "$dir"
