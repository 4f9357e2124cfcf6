#!/usr/bin/env python3
"""Writes the GGUF fuzz seed corpus: small valid and near-valid images (each < 4 KiB).

File names carry no .gguf suffix because .gitignore excludes *.gguf (model files).

Usage: scripts/make-gguf-seeds.py [OUT_DIR]   (default tests/fuzz/corpus/gguf)
"""
import os
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
          BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}
# ggml type id -> (block elements, block bytes)
TYPES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 30: (1, 2), 39: (32, 17)}


def string(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def value(vtype, v):
    if vtype == STRING:
        return string(v)
    if vtype == ARRAY:
        elem, items = v
        out = struct.pack("<IQ", elem, len(items))
        return out + b"".join(value(elem, x) for x in items)
    return struct.pack(SCALAR[vtype], v)


def gguf(kvs, tensors, version=3, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, ggml_type, dims)] laid out in order."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, vtype, v in kvs:
        out += string(key) + struct.pack("<I", vtype) + value(vtype, v)
    offset, data = 0, b""
    for name, ttype, dims in tensors:
        elems, nbytes = TYPES[ttype]
        n = 1
        for d in dims:
            n *= d
        size = n // elems * nbytes
        out += string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ttype, offset)
        data += bytes((offset + i) & 0xFF for i in range(size))
        padded = (size + alignment - 1) // alignment * alignment
        data += b"\0" * (padded - size)
        offset += padded
    out += b"\0" * ((-len(out)) % alignment)
    return out + data


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/gguf"
    os.makedirs(out_dir, exist_ok=True)
    every_scalar = [("k.u8", U8, 7), ("k.i8", I8, -7), ("k.u16", U16, 700), ("k.i16", I16, -700),
                    ("k.u32", U32, 70000), ("k.i32", I32, -70000), ("k.f32", F32, 0.5),
                    ("k.bool", BOOL, 1), ("k.str", STRING, "llama"), ("k.u64", U64, 2**40),
                    ("k.i64", I64, -2**40), ("k.f64", F64, 3.25)]
    arrays = [("a.u32", ARRAY, (U32, [1, 2, 3])), ("a.str", ARRAY, (STRING, ["<s>", "</s>", "é"])),
              ("a.nested", ARRAY, (ARRAY, [(I16, [1, -1]), (STRING, ["x"]), (ARRAY, [(BOOL, [0, 1])])])),
              ("a.f32", ARRAY, (F32, [0.25, -1.0])), ("a.empty", ARRAY, (U8, []))]
    tensors = [("token_embd.weight", 2, [32, 2]), ("blk.0.attn_q.weight", 0, [4, 3]),
               ("blk.0.ffn_down.weight", 12, [256]), ("output_norm.weight", 1, [5, 1, 1])]
    seeds = {
        "valid-empty-v3": gguf([], []),
        "valid-empty-v2": gguf([], [], version=2),
        "valid-scalars": gguf(every_scalar, []),
        "valid-arrays": gguf(arrays, []),
        "valid-tensors": gguf([("general.architecture", STRING, "llama")], tensors),
        "valid-aligned64": gguf([("general.alignment", U32, 64)], tensors[:2], alignment=64),
        "valid-mixed": gguf(every_scalar[:4] + arrays[:2], [("t.bf16", 30, [3]), ("t.mxfp4", 39, [32, 2])]),
    }
    # Near-valid: one field off, so the fuzzer starts next to each error path.
    bad = bytearray(seeds["valid-tensors"])
    bad[4:8] = struct.pack(">I", 3)  # big-endian version
    seeds["bad-endian"] = bytes(bad)
    seeds["bad-truncated"] = seeds["valid-tensors"][:220]  # inside the tensor infos
    seeds["bad-overlap"] = gguf([], [("a", 0, [8]), ("b", 0, [8])]).replace(
        struct.pack("<IQ", 0, 32), struct.pack("<IQ", 0, 0))
    seeds["bad-bool"] = gguf([("flag", BOOL, 1)], []).replace(b"flag\x07\x00\x00\x00\x01", b"flag\x07\x00\x00\x00\x02")
    for name, data in seeds.items():
        assert len(data) < 4096, name
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
