#!/usr/bin/env bash
# infer-inspect on a file that is not GGUF: exit status 1 and exactly one line on stderr. On a FIFO
# (and a character device): the same, promptly; `timeout` turns a hang into a failure.
set -uo pipefail
inspect="$1"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
bad="$dir/bad.gguf"
printf 'GGUF\x03\x00\x00\x00 this is not a model' >"$bad"
"$inspect" "$bad" >/dev/null 2>"$dir/err"
rc=$?
lines=$(wc -l <"$dir/err")
cat "$dir/err"
[ "$rc" = 1 ] && [ "$lines" = 1 ] && grep -q 'GGUF' "$dir/err" || exit 1

# Special files: refused as "not a regular file" without opening them for reading, with and
# without --no-mmap.
mkfifo "$dir/fifo" || exit 1
for target in "$dir/fifo" /dev/zero; do
    for flag in "" --no-mmap; do
        timeout 10 "$inspect" $flag "$target" >/dev/null 2>"$dir/err"
        rc=$?
        cat "$dir/err"
        if [ "$rc" = 124 ]; then
            echo "infer-inspect $flag $target: still running after 10 s" >&2
            exit 1
        fi
        [ "$rc" = 1 ] && [ "$(wc -l <"$dir/err")" = 1 ] && grep -q 'not a regular file' "$dir/err" || exit 1
    done
done
