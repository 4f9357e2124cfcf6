#!/usr/bin/env bash
# Runs the C example (samples/simple.c) on a real model and keeps its output for the Python
# binding's test, which must generate the same token ids. Checks the output's shape: the prompt,
# a continuation, and a last line of N_TOKENS ids (greedy does not reach end-of-sequence that soon
# on this prompt).
# A missing model is a failure: run scripts/fetch-models.sh first.
set -euo pipefail
simple="$1" model_file="$2" n_tokens="$3" output="$4"
source "$(dirname "$0")/../../scripts/model-dir.sh"
model="$INFER_MODEL_DIR/$model_file"
if [ ! -f "$model" ]; then
    echo "FAIL: $model is missing; run scripts/fetch-models.sh" >&2
    exit 1
fi
prompt="The capital of France is"
"$simple" "$model" "$n_tokens" "$prompt" >"$output"
cat "$output"
head -c "${#prompt}" "$output" | grep -qxF "$prompt" || { echo "FAIL: output does not start with the prompt" >&2; exit 1; }
ids="$(tail -n1 "$output")"
[[ "$ids" =~ ^ids:( [0-9]+){$n_tokens}$ ]] || { echo "FAIL: last line is not $n_tokens ids: $ids" >&2; exit 1; }
