#!/usr/bin/env bash
# infer-inspect on a file that is not GGUF: exit status 1 and exactly one line on stderr.
set -uo pipefail
inspect="$1"
bad="$(mktemp)"
trap 'rm -f "$bad" "$bad.err"' EXIT
printf 'GGUF\x03\x00\x00\x00 this is not a model' >"$bad"
"$inspect" "$bad" >/dev/null 2>"$bad.err"
rc=$?
lines=$(wc -l <"$bad.err")
cat "$bad.err"
[ "$rc" = 1 ] && [ "$lines" = 1 ] && grep -q 'GGUF' "$bad.err"
