# Cross build for 64-bit ARM Linux with Debian's cross toolchain (g++-aarch64-linux-gnu) and
# the target's libraries from Debian's arm64 packages installed beside the host's (multiarch:
# `dpkg --add-architecture arm64`, then libpcre2-dev:arm64; scripts/install-deps.sh --arm64).
# Tests run under qemu-aarch64 (qemu-user): ctest starts each through
# CMAKE_CROSSCOMPILING_EMULATOR, with qemu's "max" CPU, which has every ARM level the kernels use.
# They load the target's C and C++ runtimes from the multiarch packages (libc6:arm64,
# libstdc++6:arm64), not from the cross toolchain's tree: qemu -L with that tree hangs in
# pthread_create (qemu 7.2, Debian 12).
#   cmake -S . -B build/arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(INFER_TARGET_TRIPLE aarch64-linux-gnu)

set(CMAKE_C_COMPILER ${INFER_TARGET_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${INFER_TARGET_TRIPLE}-g++)

# Headers and libraries of the target only (multiarch: /usr/lib/aarch64-linux-gnu), programs
# (glslc, python) of the host.
set(CMAKE_FIND_ROOT_PATH /usr/${INFER_TARGET_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_LIBRARY_ARCHITECTURE ${INFER_TARGET_TRIPLE})
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${INFER_TARGET_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-cpu;max)
