#!/usr/bin/env python3
"""Writes the test vectors under tests/data/quant/ that tests/unit/test_{types,fp16,dequant,quant}
check libinfer's reference conversions against.

The expected values come from the PyPI `gguf` package (gguf-py: numpy implementations of ggml's
formats in gguf/quants.py) and from numpy itself. Run from anywhere:

    python3 scripts/make_quant_vectors.py            # needs numpy and gguf (pip install gguf)

Deterministic (fixed seed): rerunning with the same numpy/gguf versions rewrites identical files.

File formats (all little-endian; u32 = uint32, f32 = IEEE float32 as its 4 bytes):

  dequant_<TYPE>.bin   gguf-py's dequantization of random blocks
      magic  b"IDQ1"
      u32    ggml type id
      u32    n_blocks
      u32    block_bytes
      u32    block_elems
      bytes  n_blocks * block_bytes     the blocks (random bytes; fp16/E8M0 scales chosen so that
                                        most blocks are ordinary and a few extreme: 0, -0, fp16
                                        subnormals, +-65504, E8M0 0/1/2/254/255)
      f32    n_blocks * block_elems     gguf.quants.dequantize(blocks, type)

  quant_<TYPE>.bin     quantization of random activations
      magic  b"IQZ1"
      u32    ggml type id
      u32    n_elems
      u32    n_bytes
      f32    n_elems                    input
      bytes  n_bytes                    expected blocks
    quant_Q8_0.bin comes from gguf.quants.quantize. gguf-py has no Q8_1 or Q8_K quantizer, so
    quant_Q8_K.bin comes from q8_k_numpy() below, a numpy port of ggml's quantize_row_q8_K_ref
    written for this script (an independent second implementation, not gguf-py's). Q8_1 has no
    file: its d and qs are defined exactly as Q8_0's, so the test checks them against
    quant_Q8_0.bin and checks s by its definition.

  fp32_to_half.bin     numpy's float32 -> float16 and gguf-py's float32 -> bfloat16
      magic  b"IFH1"
      u32    count
      u32    count x fp32 bits          inputs: specials, NaN payloads, rounding ties,
                                        subnormal and overflow boundaries, random
      u16    count x fp16 bits          np.float32(x).astype(np.float16)
      u16    count x bf16 bits          gguf.quants.quantize(x, BF16)

  half_to_fp32.bin     numpy's float16 -> float32
      magic  b"IHF1"
      u32    count
      u16    count x fp16 bits          all NaN/inf patterns' edges, subnormals, random
      u32    count x fp32 bits          np.float16(h).astype(np.float32)

  type_sizes.txt       gguf-py's GGML_QUANT_SIZES, one "id name block_elems block_bytes" a line
"""

from __future__ import annotations

import pathlib
import struct

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES

SEED = 20240611
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "quant"

# Byte offsets of the fp16 scale fields in each block (ggml-common.h layouts).
FP16_SCALE_OFFSETS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.IQ4_NL: [0], T.IQ4_XS: [0],
    T.IQ2_XXS: [0], T.IQ2_XS: [0], T.IQ2_S: [0], T.IQ3_XXS: [0], T.IQ3_S: [0], T.IQ1_S: [0],
    T.TQ1_0: [52], T.TQ2_0: [64],
}
# The lattice and ternary formats, written after everything else from their own generator so
# that adding them left the earlier files unchanged.
LATTICE_TYPES = (T.IQ2_XXS, T.IQ2_XS, T.IQ2_S, T.IQ3_XXS, T.IQ3_S, T.IQ1_S, T.IQ1_M, T.TQ1_0,
                 T.TQ2_0)
# Blocks per dequant file: enough to cover every nibble/scale pattern many times, small on disk.
N_BLOCKS = {32: 48, 256: 10}
N_PLAIN = 1024  # elements for F32/F16/BF16
EXTREME_F16 = [0x0000, 0x8000, 0x0001, 0x83ff, 0x0400, 0x7bff, 0xfbff, 0x3c00]
EXTREME_E8M0 = [0, 1, 2, 254, 255]


def u32(x: int) -> bytes:
    return struct.pack("<I", x)


def sane_f16(rng: np.random.Generator, n: int) -> np.ndarray:
    """fp16 bits of +-2^[-12, 2): ordinary scales."""
    mag = np.exp2(rng.uniform(-12.0, 2.0, n)).astype(np.float32)
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0).astype(np.float32)
    return (mag * sign).astype(np.float16).view(np.uint16)


def random_blocks(rng: np.random.Generator, qtype: T) -> np.ndarray:
    block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
    n_blocks = N_BLOCKS[block_elems]
    blocks = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    if qtype == T.MXFP4:
        blocks[:, 0] = rng.integers(127 - 20, 127 + 20, n_blocks)
        blocks[: len(EXTREME_E8M0), 0] = EXTREME_E8M0
        return blocks
    if qtype == T.IQ1_M:
        # d's 16 bits are the top nibbles of the four scale words (bytes 48..55).
        d = sane_f16(rng, n_blocks)
        d[: len(EXTREME_F16)] = EXTREME_F16
        words = blocks[:, 48:56].copy().view(np.uint16)
        for i in range(4):
            words[:, i] = (words[:, i] & 0x0FFF) | (((d >> (4 * i)) & 0xF) << 12)
        blocks[:, 48:56] = words.view(np.uint8)
        return blocks
    for off in FP16_SCALE_OFFSETS[qtype]:
        scales = sane_f16(rng, n_blocks)
        # The first blocks get the extreme scales, each field a different one.
        for k in range(len(EXTREME_F16)):
            scales[k] = EXTREME_F16[(k + off) % len(EXTREME_F16)]
        blocks[:, off:off + 2] = scales.view(np.uint8).reshape(n_blocks, 2)
    return blocks


def write_dequant(rng: np.random.Generator, qtype: T) -> None:
    block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
    if qtype in (T.F32, T.F16, T.BF16):
        # Every bit pattern is fair game, NaNs included: plain types only move bits.
        raw = rng.integers(0, 256, size=(N_PLAIN * block_bytes,), dtype=np.uint8)
        if qtype == T.F32:
            expected = raw.view(np.float32)
        else:
            expected = gguf.quants.dequantize(raw, qtype)
        blocks = raw.reshape(N_PLAIN, block_bytes)
    else:
        blocks = random_blocks(rng, qtype)
        expected = gguf.quants.dequantize(blocks.reshape(-1), qtype)
    expected = np.ascontiguousarray(expected, dtype=np.float32).reshape(-1)
    n_blocks = blocks.shape[0]
    assert expected.size == n_blocks * block_elems
    data = b"IDQ1" + u32(int(qtype)) + u32(n_blocks) + u32(block_bytes) + u32(block_elems)
    data += blocks.tobytes() + expected.astype("<f4").tobytes()
    (OUT / f"dequant_{qtype.name}.bin").write_bytes(data)


def activations(rng: np.random.Generator, block: int, n_blocks: int) -> np.ndarray:
    """Random activations, with a few special blocks first."""
    x = rng.standard_normal((n_blocks, block)).astype(np.float32)
    x *= np.exp2(rng.uniform(-8, 8, (n_blocks, 1))).astype(np.float32)
    x[0] = 0.0                                        # all zero: d = 0, q = 0
    x[1] = 0.0
    x[1, 5] = -3.0                                    # one value, negative: q = -127
    x[2] = rng.integers(-126, 127, block).astype(np.float32) + 0.5
    x[2, 0] = 127.0                                   # d = 1 exactly: q = round(x), all ties
    x[3] *= np.float32(1e-30)                         # d underflows fp16 to 0
    x[4] *= np.float32(1e30)                          # d overflows fp16 to inf
    x[5] = np.abs(x[5])                               # all positive
    x[6] = -np.abs(x[6])                              # all negative
    return x.reshape(-1)


def q8_k_numpy(x: np.ndarray) -> bytes:
    """ggml's quantize_row_q8_K_ref in numpy (float32 throughout): per 256, the element of
    largest |x| (first one on ties) keeps its sign in iscale = -127/max; q = min(127,
    round-half-even(iscale*x)); bsums over 16s; d = 1/iscale as f32. All-zero block: all zeros."""
    out = bytearray()
    for blk in x.reshape(-1, 256):
        imax = int(np.argmax(np.abs(blk)))
        mx = blk[imax]
        if mx == 0:
            out += bytes(292)
            continue
        iscale = np.float32(-127.0) / mx
        q = np.minimum(np.rint(iscale * blk), 127).astype(np.int8)
        bsums = q.astype(np.int32).reshape(16, 16).sum(axis=1).astype("<i2")
        d = np.float32(1.0) / iscale
        out += np.array([d], dtype="<f4").tobytes() + q.tobytes() + bsums.tobytes()
    return bytes(out)


def write_quant(rng: np.random.Generator) -> None:
    x = activations(rng, 32, 64)
    q = gguf.quants.quantize(x.reshape(-1, 32), T.Q8_0).reshape(-1)
    data = b"IQZ1" + u32(int(T.Q8_0)) + u32(x.size) + u32(q.size)
    (OUT / "quant_Q8_0.bin").write_bytes(data + x.astype("<f4").tobytes() + q.tobytes())

    x = activations(rng, 256, 12)
    q = q8_k_numpy(x)
    data = b"IQZ1" + u32(int(T.Q8_K)) + u32(x.size) + u32(len(q))
    (OUT / "quant_Q8_K.bin").write_bytes(data + x.astype("<f4").tobytes() + q)


def fp32_inputs(rng: np.random.Generator) -> np.ndarray:
    v: list[int] = []
    # Specials and NaNs: quiet, signalling, payloads that do and do not survive truncation.
    v += [0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001,
          0xff800001, 0x7f801fff, 0x7f802000, 0x7fa00000, 0x7fbfffff, 0x7fffffff, 0xffffffff,
          0x7fc00001, 0x7f800100, 0xffbfe000]
    v += [0x7f800000 | (1 << b) for b in range(23)] + [0xff800000 | (1 << b) for b in range(23)]
    # Every exponent, with mantissas around the fp16 (13 dropped bits) and bf16 (16) tie points,
    # for an even and an odd kept bit.
    for sign in (0, 0x80000000):
        for e in range(0, 255):
            for m in (0, 1, 0x0fff, 0x1000, 0x1001, 0x2000 | 0x1000, 0x3fff, 0x7fff, 0x8000,
                      0x8001, 0x18000, 0x7fffff, 0x7ff000, 0x7fe000):
                v.append(sign | (e << 23) | m)
    # fp16 subnormal range: ties at every shift (126 - e), both parities.
    for e in range(100, 114):
        shift = 126 - e
        if 0 < shift < 24:
            for kept in (0, 1, 2, 3, 0x155):
                m24 = (kept << shift) | (1 << (shift - 1))       # exact tie
                if m24 < (1 << 24) and m24 >= (1 << 23):
                    v.append((e << 23) | (m24 & 0x7fffff))
    # Overflow edge: 65504, just below/at/above the 65520 tie, 65536.
    for f in (65504.0, 65519.0, 65520.0, 65521.0, 65536.0, 6.1035156e-05, 5.9604645e-08,
              2.9802322e-08, 2.9802326e-08, 1.0, -1.0, 0.1, 1.0 / 3.0):
        v.append(int(np.array([f], dtype=np.float32).view(np.uint32)[0]))
    v += [int(u) for u in np.nextafter(np.float32(65520.0), np.float32([0.0, 1e9])).view(np.uint32)]
    # Random bit patterns, and random values inside the fp16 range.
    v += [int(u) for u in rng.integers(0, 2**32, 1200, dtype=np.uint64)]
    r = (rng.standard_normal(800) * np.exp2(rng.uniform(-26, 17, 800))).astype(np.float32)
    v += [int(u) for u in r.view(np.uint32)]
    return np.array(v, dtype=np.uint32)


def write_fp16() -> None:
    rng = np.random.default_rng(SEED + 1)
    bits = fp32_inputs(rng)
    f = bits.view(np.float32)
    h = f.astype(np.float16).view(np.uint16)
    b = gguf.quants.quantize(f, T.BF16).view(np.uint16).reshape(-1)
    assert h.size == b.size == bits.size
    data = b"IFH1" + u32(bits.size)
    data += bits.astype("<u4").tobytes() + h.astype("<u2").tobytes() + b.astype("<u2").tobytes()
    (OUT / "fp32_to_half.bin").write_bytes(data)

    hv: list[int] = []
    for sign in (0, 0x8000):
        hv += [sign | m for m in range(0, 64)]                          # zero, tiny subnormals
        hv += [sign | m for m in range(0x3c0, 0x440)]                   # subnormal/normal edge
        hv += [sign | 0x7c00 | m for m in range(0, 0x400, 7)]           # inf and NaN payloads
        hv += [sign | 0x7c00 | m for m in (1, 0x1ff, 0x200, 0x201, 0x3fe, 0x3ff)]
        hv += [sign | 0x7800 | m for m in range(0x3f0, 0x400)]          # largest finite
    hv += [int(u) for u in rng.integers(0, 65536, 600)]
    hs = np.array(hv, dtype=np.uint16)
    out = hs.view(np.float16).astype(np.float32).view(np.uint32)
    data = b"IHF1" + u32(hs.size) + hs.astype("<u2").tobytes() + out.astype("<u4").tobytes()
    (OUT / "half_to_fp32.bin").write_bytes(data)


def write_type_sizes() -> None:
    lines = [f"{int(t)} {t.name} {be} {bb}" for t, (be, bb) in sorted(GGML_QUANT_SIZES.items())]
    (OUT / "type_sizes.txt").write_text("\n".join(lines) + "\n")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    np.seterr(over="ignore", invalid="ignore")  # the extreme scales overflow to inf on purpose
    rng = np.random.default_rng(SEED)
    for qtype in (T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K,
                  T.Q4_K, T.Q5_K, T.Q6_K, T.IQ4_NL, T.IQ4_XS, T.MXFP4):
        write_dequant(rng, qtype)
    write_quant(rng)
    write_fp16()
    write_type_sizes()
    lattice_rng = np.random.default_rng(SEED + 1)
    for qtype in LATTICE_TYPES:
        write_dequant(lattice_rng, qtype)
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
