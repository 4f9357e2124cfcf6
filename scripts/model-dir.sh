# Sourced by the scripts that need the model cache: one definition of where models live.
# Override with INFER_MODEL_DIR; never inside the repository.
INFER_MODEL_DIR="${INFER_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/libinfer/models}"
export INFER_MODEL_DIR
