// The lattice (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M) and ternary (TQ1_0, TQ2_0)
// formats as integers, one 32-weight group at a time: the one decoding that the reference
// dequantizers, the scalar dot products and the SIMD kernels share.
//
// Every one of these formats is a 256-weight super-block of 8 groups of 32 whose weights are
//     x_j = d * unit * scale[j / 16] * q_j
// with d the block's fp16 scale, `unit` a power of two per format, scale[] small odd integers and
// q_j small integers. So a dot product with Q8_K sums q_j * y_j and the scales as integers, and
// rounds once per super-block, and dequantization is exact against gguf-py's arithmetic (a power
// of two moves no rounding).
//
// q_j comes in one of three shapes (IqGroup::kind):
//   Magnitude: |q_j| is byte j of w[], negative where byte j of neg[] is 0xFF (IQ2_XXS, IQ2_XS,
//              IQ3_XXS: grid magnitudes with 7-bit sign indices, looked up as byte masks, which a
//              SIMD kernel loads as they are);
//   SignBits:  the same with the signs as bits: bit j of `sign_bits` (IQ2_S, IQ3_S, which store
//              them so);
//   Delta:     q_j = 8 * v_j + (bit j/8 of `deltas` ? -1 : 1), v_j = int8 byte j of w[] in
//              {-1, 0, 1} (IQ1: grid value plus or minus 1/8, unit 1/8);
//   Plain:     q_j = int8 byte j of w[] (TQ1_0);
//   Crumbs:    q_j = ((crumbs[j] >> shift) & 3) + 4 * ((high[j] >> high_shift) & 1) - offset,
//              2-bit fields (and a plane of third bits, when `high` is set) read in place (TQ2_0;
//              the CPU kernels' Q2_K and Q3_K).
#pragma once

#include "core/blocks.h"
#include "core/fp16.h"
#include "core/iq_grids.h"
#include "core/types.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace infer {

enum class IqKind : uint8_t { Magnitude, SignBits, Delta, Plain, Crumbs };

// Byte j = 0xFF where bit j of `bits` is set, for the 8 low bits.
constexpr uint64_t byte_mask(uint32_t bits) {
    uint64_t m = 0;
    for (int j = 0; j < 8; ++j)
        if ((bits >> j) & 1) m |= uint64_t{0xff} << (8 * j);
    return m;
}
// The signs of a 7-bit sign index (iq2_signs) as byte masks.
inline constexpr auto kIq2SignMasks = [] {
    std::array<uint64_t, 128> t{};
    for (uint32_t i = 0; i < 128; ++i) t[i] = byte_mask(iq2_signs(i));
    return t;
}();

struct IqGroup {
    uint64_t w[4];       // the 32 bytes described above
    uint64_t neg[4] = {};   // Magnitude: byte j 0xFF, q_j negative
    uint32_t sign_bits = 0; // SignBits: bit j set, q_j negative
    const uint8_t *crumbs = nullptr; // Crumbs: the 32 bytes holding the fields, their shift,
    const uint8_t *high = nullptr;   // the 32 bytes of third bits or null, their shift, and
    int shift = 0, high_shift = 0, offset = 0; // the offset taken from each value
    uint32_t deltas = 0; // Delta: bit l set, weights 8l..8l+7 take -1
    int scale[2];        // for weights 0..15 and 16..31
};

// q_j of a decoded group.
inline int iq_value(const IqGroup &g, IqKind kind, int j) {
    const int byte = static_cast<int>((g.w[j / 8] >> (8 * (j % 8))) & 0xff);
    switch (kind) {
    case IqKind::Magnitude:
        return (g.neg[j / 8] >> (8 * (j % 8))) & 1 ? -byte : byte;
    case IqKind::SignBits:
        return (g.sign_bits >> j) & 1 ? -byte : byte;
    case IqKind::Delta:
        return 8 * static_cast<int8_t>(byte) + ((g.deltas >> (j / 8)) & 1 ? -1 : 1);
    case IqKind::Crumbs:
        return ((g.crumbs[j] >> g.shift) & 3) + (g.high ? 4 * ((g.high[j] >> g.high_shift) & 1) : 0) -
               g.offset;
    case IqKind::Plain:
        break;
    }
    return static_cast<int8_t>(byte);
}

namespace iq_detail {

inline uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
// Two 4-weight IQ3 grid points as one 8-byte word.
inline uint64_t iq3_pair(const uint32_t *grid, uint32_t i0, uint32_t i1) {
    return grid[i0] | static_cast<uint64_t>(grid[i1]) << 32;
}
// A base-3 digit of a TQ1_0 byte: the byte holds its digits scaled to 0..255 (ggml's packing),
// so multiplying by 3^n (mod 256) brings digit n to the top, and * 3 >> 8 reads it.
inline int8_t trit(uint8_t byte, uint8_t pow3) {
    const uint8_t shifted = static_cast<uint8_t>(byte * pow3);
    return static_cast<int8_t>(((shifted * 3) >> 8) - 1);
}

} // namespace iq_detail

// Each format: its kind, unit, the fp16 bits of the block's d, and group g (0..7) of the block at
// `b`.

struct IqIQ2_XXS {
    static constexpr IqKind kind = IqKind::Magnitude;
    static constexpr float unit = 0.125f; // d * (0.5 + s) / 4 = d * (2s + 1) / 8
    static constexpr int block_bytes = sizeof(BlockIQ2_XXS);
    static uint16_t d_bits(const uint8_t *b) { return iq_detail::load_u16(b); }
    static void group(const uint8_t *b, int g, IqGroup *out) {
        const uint8_t *q = b + 2 + 8 * g;
        const uint32_t aux = iq_detail::load_u32(q + 4);
        for (int l = 0; l < 4; ++l) {
            out->w[l] = kGridIQ2XXS[q[l]];
            out->neg[l] = kIq2SignMasks[(aux >> (7 * l)) & 0x7f];
        }
        out->scale[0] = out->scale[1] = 2 * static_cast<int>(aux >> 28) + 1;
    }
};

struct IqIQ2_XS {
    static constexpr IqKind kind = IqKind::Magnitude;
    static constexpr float unit = 0.125f;
    static constexpr int block_bytes = sizeof(BlockIQ2_XS);
    static uint16_t d_bits(const uint8_t *b) { return iq_detail::load_u16(b); }
    static void group(const uint8_t *b, int g, IqGroup *out) {
        for (int l = 0; l < 4; ++l) {
            const uint16_t q = iq_detail::load_u16(b + 2 + 8 * g + 2 * l);
            out->w[l] = kGridIQ2XS[q & 511];
            out->neg[l] = kIq2SignMasks[q >> 9];
        }
        const uint8_t sc = b[offsetof(BlockIQ2_XS, scales) + g];
        out->scale[0] = 2 * (sc & 0xf) + 1;
        out->scale[1] = 2 * (sc >> 4) + 1;
    }
};

struct IqIQ2_S {
    static constexpr IqKind kind = IqKind::SignBits;
    static constexpr float unit = 0.125f;
    static constexpr int block_bytes = sizeof(BlockIQ2_S);
    static uint16_t d_bits(const uint8_t *b) { return iq_detail::load_u16(b); }
    static void group(const uint8_t *b, int g, IqGroup *out) {
        const uint8_t *qs = b + offsetof(BlockIQ2_S, qs) + 4 * g;
        const uint8_t qh = b[offsetof(BlockIQ2_S, qh) + g];
        for (int l = 0; l < 4; ++l)
            out->w[l] = kGridIQ2S[qs[l] | ((qh << (8 - 2 * l)) & 0x300)];
        out->sign_bits = iq_detail::load_u32(qs + QK_K / 8);
        const uint8_t sc = b[offsetof(BlockIQ2_S, scales) + g];
        out->scale[0] = 2 * (sc & 0xf) + 1;
        out->scale[1] = 2 * (sc >> 4) + 1;
    }
};

struct IqIQ3_XXS {
    static constexpr IqKind kind = IqKind::Magnitude;
    static constexpr float unit = 0.25f; // d * (0.5 + s) / 2 = d * (2s + 1) / 4
    static constexpr int block_bytes = sizeof(BlockIQ3_XXS);
    static uint16_t d_bits(const uint8_t *b) { return iq_detail::load_u16(b); }
    static void group(const uint8_t *b, int g, IqGroup *out) {
        const uint8_t *q = b + 2 + 8 * g;
        const uint32_t aux = iq_detail::load_u32(b + 2 + QK_K / 4 + 4 * g);
        for (int l = 0; l < 4; ++l) {
            out->w[l] = iq_detail::iq3_pair(kGridIQ3XXS, q[2 * l], q[2 * l + 1]);
            out->neg[l] = kIq2SignMasks[(aux >> (7 * l)) & 0x7f];
        }
        out->scale[0] = out->scale[1] = 2 * static_cast<int>(aux >> 28) + 1;
    }
};

struct IqIQ3_S {
    static constexpr IqKind kind = IqKind::SignBits;
    static constexpr float unit = 1.0f; // d * (1 + 2s)
    static constexpr int block_bytes = sizeof(BlockIQ3_S);
    static uint16_t d_bits(const uint8_t *b) { return iq_detail::load_u16(b); }
    static void group(const uint8_t *b, int g, IqGroup *out) {
        const uint8_t *qs = b + offsetof(BlockIQ3_S, qs) + 8 * g;
        const uint32_t qh = b[offsetof(BlockIQ3_S, qh) + g];
        for (int l = 0; l < 4; ++l) {
            const int i = 2 * l;
            out->w[l] = iq_detail::iq3_pair(kGridIQ3S, qs[i] | ((qh << (8 - i)) & 0x100),
                                            qs[i + 1] | ((qh << (7 - i)) & 0x100));
        }
        out->sign_bits = iq_detail::load_u32(b + offsetof(BlockIQ3_S, signs) + 4 * g);
        const uint8_t sc = b[offsetof(BlockIQ3_S, scales) + g / 2];
        out->scale[0] = out->scale[1] = 2 * ((sc >> (4 * (g % 2))) & 0xf) + 1;
    }
};

struct IqIQ1_S {
    static constexpr IqKind kind = IqKind::Delta;
    static constexpr float unit = 0.125f; // d * (2s + 1) * (v +- 1/8)
    static constexpr int block_bytes = sizeof(BlockIQ1_S);
    static uint16_t d_bits(const uint8_t *b) { return iq_detail::load_u16(b); }
    static void group(const uint8_t *b, int g, IqGroup *out) {
        const uint8_t *qs = b + offsetof(BlockIQ1_S, qs) + 4 * g;
        const uint32_t qh = iq_detail::load_u16(b + offsetof(BlockIQ1_S, qh) + 2 * g);
        for (int l = 0; l < 4; ++l) out->w[l] = kGridIQ1S[qs[l] | (((qh >> (3 * l)) & 7) << 8)];
        out->deltas = qh & 0x8000 ? 0xf : 0;
        out->scale[0] = out->scale[1] = 2 * static_cast<int>((qh >> 12) & 7) + 1;
    }
};

struct IqIQ1_M {
    static constexpr IqKind kind = IqKind::Delta;
    static constexpr float unit = 0.125f;
    static constexpr int block_bytes = sizeof(BlockIQ1_M);
    // d's 16 bits are the top nibbles of the four scale words, lowest word first.
    static uint16_t d_bits(const uint8_t *b) {
        const uint8_t *sc = b + offsetof(BlockIQ1_M, scales);
        uint32_t h = 0;
        for (int i = 0; i < 4; ++i) h |= (iq_detail::load_u16(sc + 2 * i) >> 12) << (4 * i);
        return static_cast<uint16_t>(h);
    }
    static void group(const uint8_t *b, int g, IqGroup *out) {
        const uint8_t *qs = b + offsetof(BlockIQ1_M, qs) + 4 * g;
        const uint8_t *qh = b + offsetof(BlockIQ1_M, qh) + 2 * g;
        for (int l = 0; l < 4; ++l) {
            const int nibble = (qh[l / 2] >> (4 * (l % 2))) & 0xf;
            out->w[l] = kGridIQ1S[qs[l] | ((nibble & 7) << 8)];
            out->deltas |= static_cast<uint32_t>(nibble >> 3) << l;
        }
        const uint16_t sc = iq_detail::load_u16(b + offsetof(BlockIQ1_M, scales) + 2 * (g / 2));
        const int shift = 6 * (g % 2);
        out->scale[0] = 2 * ((sc >> shift) & 7) + 1;
        out->scale[1] = 2 * ((sc >> (shift + 3)) & 7) + 1;
    }
};

// Weight j of the block: digit n of byte m, with (n, m) by the position's range (ggml's order):
// 0..159 from qs[0..31] (n = j / 32), 160..239 from qs[32..47] (16 per digit), 240..255 from
// qh[0..3] (4 per digit).
struct IqTQ1_0 {
    static constexpr IqKind kind = IqKind::Plain;
    static constexpr float unit = 1.0f;
    static constexpr int block_bytes = sizeof(BlockTQ1_0);
    static uint16_t d_bits(const uint8_t *b) { return iq_detail::load_u16(b + offsetof(BlockTQ1_0, d)); }
    static int8_t weight(const uint8_t *b, int j) {
        static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
        if (j < 160) return iq_detail::trit(b[j % 32], kPow3[j / 32]);
        if (j < 240) return iq_detail::trit(b[32 + (j - 160) % 16], kPow3[(j - 160) / 16]);
        return iq_detail::trit(b[offsetof(BlockTQ1_0, qh) + (j - 240) % 4], kPow3[(j - 240) / 4]);
    }
    static void group(const uint8_t *b, int g, IqGroup *out) {
        uint8_t q[32];
        for (int j = 0; j < 32; ++j) q[j] = static_cast<uint8_t>(weight(b, 32 * g + j));
        std::memcpy(out->w, q, sizeof q);
        out->scale[0] = out->scale[1] = 1;
    }
};

// Weight j: bits 2l..2l+1 of byte 32c + m, for j = 128c + 32l + m.
struct IqTQ2_0 {
    static constexpr IqKind kind = IqKind::Crumbs;
    static constexpr float unit = 1.0f;
    static constexpr int block_bytes = sizeof(BlockTQ2_0);
    static uint16_t d_bits(const uint8_t *b) { return iq_detail::load_u16(b + offsetof(BlockTQ2_0, d)); }
    static void group(const uint8_t *b, int g, IqGroup *out) {
        out->crumbs = b + 32 * (g / 4);
        out->shift = 2 * (g % 4);
        out->offset = 1;
        out->scale[0] = out->scale[1] = 1;
    }
};

// The block's d as a float.
template <typename Format> float iq_d(const uint8_t *b) { return fp16_to_fp32(Format::d_bits(b)); }

// Where a block of lattice or ternary type `type` keeps its fp16 d: a byte offset, -1 for IQ1_M
// (whose d is the top nibbles of its four scale words), -2 for a type of no such format.
inline int iq_d_offset(uint32_t type) {
    switch (static_cast<TypeId>(type)) {
    case TypeId::IQ2_XXS:
    case TypeId::IQ2_XS:
    case TypeId::IQ2_S:
    case TypeId::IQ3_XXS:
    case TypeId::IQ3_S:
    case TypeId::IQ1_S:
        return 0;
    case TypeId::TQ1_0:
        return offsetof(BlockTQ1_0, d);
    case TypeId::TQ2_0:
        return offsetof(BlockTQ2_0, d);
    case TypeId::IQ1_M:
        return -1;
    default:
        return -2;
    }
}

// One of the formats of this file (IQ2_*, IQ3_*, IQ1_*, TQ1_0, TQ2_0).
inline bool is_lattice_type(uint32_t type) { return iq_d_offset(type) >= -1; }

// Sets the fp16 d of a block of lattice type `type` (a test and synthetic-model helper).
inline void iq_set_d_bits(uint32_t type, uint8_t *block, uint16_t d) {
    const int at = iq_d_offset(type);
    if (at >= 0) {
        std::memcpy(block + at, &d, sizeof d);
        return;
    }
    for (int i = 0; i < 4; ++i) {
        uint8_t &top = block[offsetof(BlockIQ1_M, scales) + 2 * i + 1];
        top = static_cast<uint8_t>((top & 0x0f) | (((d >> (4 * i)) & 0xf) << 4));
    }
}

} // namespace infer
