#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds tests/consumer against it three ways:
# find_package with the shared and the static imported target, and pkg-config.
set -euo pipefail
build="$1" source_dir="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null

cmake -S "$source_dir/tests/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
LD_LIBRARY_PATH="$prefix/lib" "$work/consumer/consumer_shared"
"$work/consumer/consumer_static"

libdir="$(ls -d "$prefix"/lib*/pkgconfig | head -n1)"
cc -std=c99 -Wall -Werror "$source_dir/tests/consumer/main.c" -o "$work/consumer_pc" \
    $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs infer)
LD_LIBRARY_PATH="$(dirname "$libdir")" "$work/consumer_pc"
echo "installed package works through find_package (shared, static) and pkg-config"
