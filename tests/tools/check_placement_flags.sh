#!/usr/bin/env bash
# The placement options of infer-chat, infer-bench and infer-inspect (samples/common) on a CPU
# machine: each --help lists them; bad values are usage errors (exit 2) that name the value; a
# backend that cannot run the model reaches the user as "unsupported" (exit 1); inspect
# --placement and bench --verbose print the plan, and bench's table has the ngl (and ot) column.
# usage: check_placement_flags.sh INFER-CHAT INFER-BENCH INFER-INSPECT MODEL_FILE
set -uo pipefail
chat="$1" bench="$2" inspect="$3"
source "$(dirname "$0")/../../scripts/model-dir.sh"
model="$INFER_MODEL_DIR/$4"
if [ ! -f "$model" ]; then
    echo "FAIL: $model is missing; run scripts/fetch-models.sh" >&2
    exit 1
fi
out="$(mktemp)" err="$(mktemp)"
trap 'rm -f "$out" "$err"' EXIT
failed=0

# expect STATUS TEXT CMD...: CMD exits with STATUS and TEXT (a grep -E pattern) is in its output.
expect() {
    local status="$1" text="$2"
    shift 2
    "$@" >"$out" 2>"$err"
    local rc=$?
    if [ "$rc" != "$status" ] || ! grep -qE -- "$text" "$out" "$err"; then
        echo "FAIL: $* -> exit $rc (want $status), output lacks '$text':" >&2
        tail -n 5 "$out" "$err" >&2
        failed=1
    fi
}

# Each program, with the arguments that make it load the model.
for program in "$chat -m $model -p hi -n 1" "$bench -m $model -p 8 -n 2 -r 1" \
               "$inspect --placement $model"; do
    read -r -a cmd <<<"$program"
    expect 0 "--n-gpu-layers N\|all\|auto" "${cmd[0]}" --help
    expect 0 "--override PATTERN=BACKEND" "${cmd[0]}" --help
    expect 2 "--backend metal: not one of cpu, cuda, vulkan" "${cmd[@]}" --backend metal
    expect 2 "-ngl many: expected a layer count" "${cmd[@]}" --backend cuda -ngl many
    expect 2 "--n-gpu-layers -1: expected" "${cmd[@]}" --backend cuda --n-gpu-layers -1
    expect 2 "add --backend cuda" "${cmd[@]}" -ngl 8
    expect 2 "--override exps=gpu: expected PATTERN=BACKEND" "${cmd[@]}" --override exps=gpu
    expect 2 "-ot a=cpu,: nothing after the last comma" "${cmd[@]}" -ot a=cpu,
    # The library's own refusals, as they reach the user: no Vulkan device 9 (unsupported
    # without Vulkan, an invalid device with it).
    expect 1 "Vulkan device 9 does not exist|unsupported: .*Vulkan" "${cmd[@]}" --backend vulkan --device 9 -ngl 4
    expect 1 "invalid argument: override pattern 'exps' matches no weight" "${cmd[@]}" -ot exps=cpu
    expect 1 "override 'ffn_up': backend 1 is neither the CPU" "${cmd[@]}" -ot ffn_up=CUDA
done

expect 0 "." "$chat" -m "$model" -p hi -n 1 -ot ffn_up=cpu --backend CPU
expect 2 "need --placement" "$inspect" --backend cuda "$model"
expect 0 "^placement: no device" \
    "$inspect" --placement -ot 'ffn_(up|down)=cpu,blk\.[0-9]{1,2}\.attn_q=CPU' "$model"
grep -q "layer 29" "$out" || { echo "FAIL: inspect --placement printed no layer 29" >&2; failed=1; }
expect 0 "^\| model \| size \| params \| backend \| ngl \| threads \| test" \
    "$bench" -m "$model" -p 8 -n 2 -r 1
expect 0 "^\| model \| size \| params \| backend \| ngl \| ot \| threads \|" \
    "$bench" -m "$model" -p 8 -n 2 -r 1 -v -ot 'ffn_(up|down)=cpu'
for text in '^placement: no device' '^placement: CPU [0-9.]+ MiB of weights, 30 layers' \
            '\| CPU [a-z0-9]+ \| 0 \| ffn_\(up\\\|down\)=CPU \| 0 \| tg2 \|'; do
    grep -qE -- "$text" "$out" || {
        echo "FAIL: infer-bench -v -ot printed no '$text'" >&2
        failed=1
    }
done
[ $failed = 0 ] && echo "placement options: all checks passed"
exit $failed
