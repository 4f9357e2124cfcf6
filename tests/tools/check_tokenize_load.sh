#!/usr/bin/env bash
# Tokenizes 10 MB of one kind of generated text with a real model and fails when the tokenizer's
# peak memory grows by more than 40 bytes per input byte (tests/text_load/tokenize_load.cpp
# measures it), or when it takes more than 120 s: not a speed test (a loaded CI machine varies
# threefold), a guard against a quadratic path, which would take hours. A missing model is a
# failure.
set -euo pipefail
driver="$1" model_file="$2" kind="$3"
source "$(dirname "$0")/../../scripts/model-dir.sh"
model="$INFER_MODEL_DIR/$model_file"
if [ ! -f "$model" ]; then
    echo "FAIL: $model is missing; run scripts/fetch-models.sh" >&2
    exit 1
fi
exec "$driver" "$model" "$kind" 10 --max-bytes-per-byte 40 --max-seconds 120
