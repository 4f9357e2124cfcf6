#!/usr/bin/env python3
"""Writes the reference tensor listing of a GGUF file, made with the `gguf` package's reader.

tests/model/check_listing.sh compares `infer-inspect --tensors` against these files, so the
format is the one infer-inspect prints: one line per tensor in file order,
    name<TAB>type<TAB>shape<TAB>bytes<TAB>absolute data offset
with shape as ggml dimensions (contiguous first) joined by 'x'.

Usage: make_tensor_listings.py MODEL.gguf > tests/data/listings/NAME.tsv
"""
import sys

from gguf import GGUFReader


def main() -> None:
    reader = GGUFReader(sys.argv[1])
    for t in reader.tensors:
        shape = "x".join(str(int(d)) for d in t.shape)
        print(f"{t.name}\t{t.tensor_type.name}\t{shape}\t{int(t.n_bytes)}\t{int(t.data_offset)}")


if __name__ == "__main__":
    main()
