#!/usr/bin/env bash
# INFER_CPU_ISA caps the CPU kernels' level and infer-bench's table names the level that ran:
# scalar always, avx2 where the CPU has it; an unknown value leaves the detected level.
# usage: check_isa_cap.sh INFER-BENCH MODEL_FILE
set -uo pipefail
bench="$1"
source "$(dirname "$0")/../../scripts/model-dir.sh"
model="$INFER_MODEL_DIR/$2"
if [ ! -f "$model" ]; then
    echo "FAIL: $model is missing; run scripts/fetch-models.sh" >&2
    exit 1
fi
# The level infer-bench reports under INFER_CPU_ISA=$1 ("CPU <level>" in the backend column).
level() {
    INFER_CPU_ISA="$1" "$bench" -m "$model" -t 1 -r 1 -p 8 -n 2 2>&1 |
        grep -oE '\| CPU [a-z0-9]+ \|' | head -n1 | awk '{print $3}'
}
failed=0
best="$(level "")"
[ -n "$best" ] || { echo "FAIL: no CPU level in infer-bench's table"; exit 1; }
check() { # check CAP WANT
    local got
    got="$(level "$1")"
    if [ "$got" = "$2" ]; then echo "ok: INFER_CPU_ISA=$1 ran $got"
    else echo "FAIL: INFER_CPU_ISA=$1 ran '$got', expected $2"; failed=1; fi
}
check scalar scalar
check bogus "$best"
check avx512vnni "$best"
grep -qw avx2 /proc/cpuinfo && check avx2 avx2
exit $failed
