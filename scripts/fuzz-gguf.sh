#!/usr/bin/env bash
# The GGUF reader's fuzz target; kept for existing callers: scripts/fuzz.sh gguf BUILD_DIR [SECONDS].
set -euo pipefail
if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 BUILD_DIR [SECONDS]" >&2
    exit 2
fi
exec "$(dirname "${BASH_SOURCE[0]}")/fuzz.sh" gguf "$@"
