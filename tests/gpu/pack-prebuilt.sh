#!/usr/bin/env bash
# tests/gpu/pack-prebuilt.sh BUILD OUT: on the development machine, after a CUDA build of
# tests/gpu/run.sh's targets in BUILD (this repository's build/gpu, configured as run.sh does),
# copies what the GPU run needs into OUT with BUILD's layout: executables, shared libraries and
# CTest's files, no objects. A device lease counts its minutes from the start, and a 16-core build
# there spends several of them on the compiler: carry OUT instead, put it back at BUILD's path,
# and run `INFER_GPU_PREBUILT=1 tests/gpu/run.sh LOGDIR`.
# CTest's files name BUILD's absolute paths: the device must see this checkout at the same path
# (a symbolic link to its copy of the tree will do). Static cudart; libcuda, cuBLASLt and PCRE2
# are found on the device (run.sh unpacks .gpudeps and puts its PCRE2 on LD_LIBRARY_PATH).
set -euo pipefail
build="${1:?usage: tests/gpu/pack-prebuilt.sh BUILD OUT}"
out="${2:?usage: tests/gpu/pack-prebuilt.sh BUILD OUT}"
build="$(cd "$build" && pwd)"
rm -rf "$out" && mkdir -p "$out" && out="$(cd "$out" && pwd)"
cd "$build"
# Libraries with their version links (the executables ask for libinfer.so.0).
find . \( -name CMakeFiles -o -name deps -o -name models -o -name _deps \) -prune -o \
    \( -type f -o -type l \) \( -name CTestTestfile.cmake -o -name '*_tests-*.cmake' -o -name '*_include-*.cmake' \
    -o -name '*.so' -o -name '*.so.*' -o \( -type f -perm -u+x \) \) -print |
while read -r f; do
    mkdir -p "$out/$(dirname "$f")"
    cp -P -p "$f" "$out/$f"
done
du -sh "$out"
