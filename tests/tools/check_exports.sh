#!/usr/bin/env bash
# Fails when libinfer.so exports any defined symbol that is not part of the C API (infer_*).
set -euo pipefail
lib="$1"
all="$(nm -D --defined-only "$lib" | awk '{ print $3 }')"
api="$(grep -c '^infer_' <<<"$all" || true)"
stray="$(grep -v '^infer_' <<<"$all" || true)"
if [ -n "$stray" ]; then
    echo "libinfer.so exports symbols outside the C API:" >&2
    echo "$stray" >&2
    exit 1
fi
# The header's functions must all be there too.
missing=0
for fn in $(grep -oE '\binfer_[a-z0-9_]+\(' "$2" | tr -d '(' | sort -u); do
    grep -qx "$fn" <<<"$all" || { echo "not exported: $fn" >&2; missing=1; }
done
[ "$missing" = 0 ] || exit 1
echo "libinfer.so exports exactly the $api infer_* functions of infer.h"
