#!/usr/bin/env bash
# Compares infer-inspect's tensor listing of a real model with the listing the `gguf` package's
# reader produced (tests/data/listings, made by scripts/make_tensor_listings.py).
# A missing model is a failure: run scripts/fetch-models.sh first.
set -euo pipefail
inspect="$1" model_file="$2" expected="$3"
source "$(dirname "$0")/../../scripts/model-dir.sh"
model="$INFER_MODEL_DIR/$model_file"
if [ ! -f "$model" ]; then
    echo "FAIL: $model is missing; run scripts/fetch-models.sh" >&2
    exit 1
fi
diff -u "$expected" <("$inspect" --tensors "$model")
echo "infer-inspect agrees with the gguf reader on $(wc -l <"$expected") tensors of $model_file"
