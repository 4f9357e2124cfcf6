// Block layouts of the quantized ggml types, byte for byte as ggml-common.h defines them.
// Private to lib/core. Every struct is read from (or written to) raw tensor bytes with memcpy, so
// its layout, not its alignment, is what matters: the static_asserts pin the sizes, and the
// offsetof checks pin the fields whose place is easy to get wrong.
// Halves (`uint16_t d`) hold IEEE fp16 bits; decode them with fp16_to_fp32().
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace infer {

constexpr int QK4_0 = 32;
constexpr int QK4_1 = 32;
constexpr int QK5_0 = 32;
constexpr int QK5_1 = 32;
constexpr int QK8_0 = 32;
constexpr int QK8_1 = 32;
constexpr int QK4_NL = 32;
constexpr int QK_MXFP4 = 32;
constexpr int QK_K = 256; // super-block size of the k-quants and IQ4_XS
constexpr int K_SCALE_SIZE = 12;

// ---- 32-element blocks: x = d * q (or d * q + m) --------------------------------------------

struct BlockQ4_0 {
    uint16_t d;            // scale (fp16)
    uint8_t qs[QK4_0 / 2]; // nibbles: low = element j, high = element j + 16
};
static_assert(sizeof(BlockQ4_0) == 18);

struct BlockQ4_1 {
    uint16_t d;            // scale (fp16)
    uint16_t m;            // min (fp16)
    uint8_t qs[QK4_1 / 2]; // as Q4_0
};
static_assert(sizeof(BlockQ4_1) == 20);

struct BlockQ5_0 {
    uint16_t d;            // scale (fp16)
    uint8_t qh[4];         // 5th bits, little-endian u32: bit j belongs to element j
    uint8_t qs[QK5_0 / 2]; // low 4 bits, as Q4_0
};
static_assert(sizeof(BlockQ5_0) == 22);

struct BlockQ5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

struct BlockQ8_0 {
    uint16_t d; // scale (fp16)
    int8_t qs[QK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ8_1 {
    uint16_t d; // scale (fp16)
    uint16_t s; // d * sum(qs) (fp16)
    int8_t qs[QK8_1];
};
static_assert(sizeof(BlockQ8_1) == 36);

struct BlockIQ4_NL {
    uint16_t d;             // scale (fp16)
    uint8_t qs[QK4_NL / 2]; // nibbles index kvalues_iq4nl; low = element j, high = j + 16
};
static_assert(sizeof(BlockIQ4_NL) == 18);

struct BlockMXFP4 {
    uint8_t e;                // shared E8M0 exponent
    uint8_t qs[QK_MXFP4 / 2]; // nibbles index kvalues_mxfp4; low = element j, high = j + 16
};
static_assert(sizeof(BlockMXFP4) == 17);

// The values the 4-bit indices of the codebook formats pick.
// IQ4_NL and IQ4_XS: non-linear levels, denser near zero (ggml's kvalues_iq4nl).
inline constexpr int8_t kValuesIQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};
// MXFP4: FP4 E2M1 (OCP MX spec: 0, 0.5, 1, 1.5, 2, 3, 4, 6 and negatives), doubled so they are
// integers (ggml's kvalues_mxfp4); the block scale is halved to match (e8m0_to_fp32_half).
inline constexpr int8_t kValuesMXFP4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// Half of the E8M0 scale 2^(e - 127), i.e. 2^(e - 128), built directly as float bits
// (ggml_e8m0_to_fp32_half). e = 0 and 1 give the subnormals 2^-128 and 2^-127; e = 255, NaN in
// the MX spec, is not special-cased (it gives 2^127), as in ggml.
inline float e8m0_to_fp32_half(uint8_t e) {
    const uint32_t bits = e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

// ---- 256-element super-blocks -----------------------------------------------------------------

// 16 sub-blocks of 16; x = d * sc * q - dmin * m with 4-bit sc and m.
struct BlockQ2_K {
    uint8_t scales[QK_K / 16]; // low nibble: scale, high nibble: min
    uint8_t qs[QK_K / 4];      // 2-bit quants
    uint16_t d;                // super-block scale for the scales (fp16)
    uint16_t dmin;             // super-block scale for the mins (fp16)
};
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(offsetof(BlockQ2_K, d) == 80);

// 16 sub-blocks of 16; x = d * (sc - 32) * q, q = 2 low bits + 1 high bit - 4, 6-bit sc.
struct BlockQ3_K {
    uint8_t hmask[QK_K / 8]; // high bits
    uint8_t qs[QK_K / 4];    // low 2 bits
    uint8_t scales[12];      // 16 scales of 6 bits
    uint16_t d;              // super-block scale (fp16)
};
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(offsetof(BlockQ3_K, d) == 108);

// 8 sub-blocks of 32; x = d * sc * q - dmin * m with 6-bit sc and m.
struct BlockQ4_K {
    uint16_t d;                   // super-block scale for the scales (fp16)
    uint16_t dmin;                // super-block scale for the mins (fp16)
    uint8_t scales[K_SCALE_SIZE]; // 8 scales and 8 mins of 6 bits
    uint8_t qs[QK_K / 2];         // 4-bit quants
};
static_assert(sizeof(BlockQ4_K) == 144);

struct BlockQ5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8]; // 5th bits
    uint8_t qs[QK_K / 2]; // low 4 bits
};
static_assert(sizeof(BlockQ5_K) == 176);

// 16 sub-blocks of 16; x = d * sc * (q - 32) with signed 8-bit sc.
struct BlockQ6_K {
    uint8_t ql[QK_K / 2];     // low 4 bits
    uint8_t qh[QK_K / 4];     // high 2 bits
    int8_t scales[QK_K / 16]; // sub-block scales
    uint16_t d;               // super-block scale (fp16)
};
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(offsetof(BlockQ6_K, d) == 208);

// Quant e (0..255) of a Q6_K block, 0..63 (the -32 not applied): of 128-element half h, quarter
// j = (e % 128) / 32 and l = e % 32, the low 4 bits from ql[64h + l + 32(j % 2)] (its high
// nibble for j >= 2), the high 2 from bits 2j..2j+1 of qh[32h + l].
inline int q6k_quant(const BlockQ6_K &b, int e) {
    const int h = e / 128, j = (e % 128) / 32, l = e % 32;
    const uint8_t lbyte = b.ql[64 * h + l + 32 * (j % 2)];
    const int low = j < 2 ? lbyte & 0xF : lbyte >> 4;
    return low | ((b.qh[32 * h + l] >> (2 * j)) & 3) << 4;
}

// Activations only (the other operand of k-quant dot products); d is a plain float.
struct BlockQ8_K {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16]; // sum of qs in each group of 16
};
static_assert(sizeof(BlockQ8_K) == 292);

// 8 sub-blocks of 32; x = d * (sc - 32) * kvalues_iq4nl[q] with 6-bit sc.
struct BlockIQ4_XS {
    uint16_t d;                  // super-block scale (fp16)
    uint16_t scales_h;           // high 2 bits of the 8 scales
    uint8_t scales_l[QK_K / 64]; // low 4 bits of the 8 scales
    uint8_t qs[QK_K / 2];        // 4-bit indices, 16 bytes per sub-block
};
static_assert(sizeof(BlockIQ4_XS) == 136);

// The 6-bit scale of IQ4_XS sub-block ib (0..7), before its -32 offset: low 4 bits in the nibbles
// of scales_l (byte ib / 2, the high nibble for odd ib), high 2 bits in scales_h at bit 2 * ib.
inline int iq4xs_scale(uint16_t scales_h, const uint8_t *scales_l, int ib) {
    const int low = (scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f;
    const int high = (scales_h >> (2 * ib)) & 3;
    return low | (high << 4);
}
inline int iq4xs_scale(const BlockIQ4_XS &b, int ib) { return iq4xs_scale(b.scales_h, b.scales_l, ib); }

// ---- Lattice formats (iq_groups.h decodes them): 256-element super-blocks of 8 groups of 32,
// each group of 8 (IQ2, IQ1) or 4 (IQ3) weights an index into a fixed grid (iq_grids.h) -------

struct BlockIQ2_XXS {
    uint16_t d;
    uint16_t qs[QK_K / 8]; // per group of 32: 4 grid indices (bytes), then 4 x 7-bit signs + scale
};
static_assert(sizeof(BlockIQ2_XXS) == 66);

struct BlockIQ2_XS {
    uint16_t d;
    uint16_t qs[QK_K / 8];     // 9-bit grid index + 7-bit sign index per 8 weights
    uint8_t scales[QK_K / 32]; // 4-bit scales, low nibble for weights 0..15 of a group
};
static_assert(sizeof(BlockIQ2_XS) == 74);

struct BlockIQ2_S {
    uint16_t d;
    uint8_t qs[QK_K / 4];      // 32 low bytes of the 10-bit grid indices, then 32 sign bytes
    uint8_t qh[QK_K / 32];     // 2 high index bits per 8 weights
    uint8_t scales[QK_K / 32]; // as IQ2_XS
};
static_assert(sizeof(BlockIQ2_S) == 82);

struct BlockIQ3_XXS {
    uint16_t d;
    uint8_t qs[3 * QK_K / 8]; // 64 grid indices (4 weights each), then per group a u32 of
                              // 4 x 7-bit signs + 4-bit scale
};
static_assert(sizeof(BlockIQ3_XXS) == 98);

struct BlockIQ3_S {
    uint16_t d;
    uint8_t qs[QK_K / 4];     // low bytes of the 9-bit grid indices (4 weights each)
    uint8_t qh[QK_K / 32];    // their high bits, a byte per group
    uint8_t signs[QK_K / 8];  // one bit per weight
    uint8_t scales[QK_K / 64]; // 4-bit scales, low nibble for the even group
};
static_assert(sizeof(BlockIQ3_S) == 110);

struct BlockIQ1_S {
    uint16_t d;
    uint8_t qs[QK_K / 8];  // low bytes of the 11-bit grid indices (8 weights each)
    uint16_t qh[QK_K / 32]; // per group: 4 x 3 high index bits, 3-bit scale, delta sign (bit 15)
};
static_assert(sizeof(BlockIQ1_S) == 50);

struct BlockIQ1_M {
    uint8_t qs[QK_K / 8];      // low bytes of the 11-bit grid indices
    uint8_t qh[QK_K / 16];     // a nibble per index: 3 high bits, delta sign (bit 3)
    uint8_t scales[QK_K / 32]; // 4 u16: 3-bit scales per 16 weights; their top nibbles hold d
};
static_assert(sizeof(BlockIQ1_M) == 56);

// Ternary formats: x = d * (q - 1), q in 0..2.
struct BlockTQ1_0 {
    uint8_t qs[(QK_K - 4 * QK_K / 64) / 5]; // 5 trits per byte (base 3, scaled to 0..255)
    uint8_t qh[QK_K / 64];                  // 4 trits per byte
    uint16_t d;
};
static_assert(sizeof(BlockTQ1_0) == 54);

struct BlockTQ2_0 {
    uint8_t qs[QK_K / 4]; // 2 bits per weight
    uint16_t d;
};
static_assert(sizeof(BlockTQ2_0) == 66);

// Block i of a packed array of blocks, copied out so that `src` needs no alignment.
template <typename Block> Block load_block(const uint8_t *src, int64_t i) {
    Block b;
    std::memcpy(&b, src + i * static_cast<int64_t>(sizeof(Block)), sizeof(Block));
    return b;
}

} // namespace infer
