// Formats whose 4-bit indices pick from a fixed table of values instead of an evenly spaced grid.
// Byte j of a 32-element group holds element j (low nibble) and j + 16 (high), as in Q4_0.
#include "core/dequant_formats.h"

#include <cstring>

#include "core/blocks.h"
#include "core/fp16.h"

namespace infer::dequant {

namespace {

// IQ4_NL's non-linear levels (ggml's kvalues_iq4nl), denser near zero.
constexpr int8_t kIQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                               1,    13,   25,  38,  53,  69,  89,  113};

// MXFP4 elements are FP4 E2M1 (OCP MX spec): values 0, 0.5, 1, 1.5, 2, 3, 4, 6 and negatives.
// Stored doubled so they are integers (ggml's kvalues_mxfp4); the block scale is halved to match.
constexpr int8_t kE2M1x2[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// Half of the E8M0 scale 2^(e - 127), i.e. 2^(e - 128), built directly as float bits
// (ggml_e8m0_to_fp32_half). e = 0 and 1 give the subnormals 2^-128 and 2^-127; e = 255, NaN in
// the MX spec, is not special-cased (it gives 2^127), as in ggml.
float e8m0_to_fp32_half(uint8_t e) {
    const uint32_t bits = e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

} // namespace

// x = d * kIQ4NL[q] (blocks of 32).
void iq4_nl(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, dst += QK4_NL) {
        const auto b = load_block<BlockIQ4_NL>(src, i);
        const float d = fp16_to_fp32(b.d);
        for (int j = 0; j < QK4_NL / 2; ++j) {
            dst[j] = d * static_cast<float>(kIQ4NL[b.qs[j] & 0x0f]);
            dst[j + QK4_NL / 2] = d * static_cast<float>(kIQ4NL[b.qs[j] >> 4]);
        }
    }
}

// x = (d * (sc - 32)) * kIQ4NL[q]; 8 sub-blocks of 32 with 6-bit scales: low 4 bits in the
// nibbles of scales_l (sub-block ib in byte ib / 2, high nibble for odd ib), high 2 bits in
// scales_h at bit 2 * ib.
void iq4_xs(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i) {
        const auto b = load_block<BlockIQ4_XS>(src, i);
        const float d = fp16_to_fp32(b.d);
        for (int ib = 0; ib < QK_K / 32; ++ib, dst += 32) {
            const int low = (b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f;
            const int high = (b.scales_h >> (2 * ib)) & 3;
            const float dl = d * static_cast<float>((low | (high << 4)) - 32);
            const uint8_t *qs = b.qs + 16 * ib;
            for (int j = 0; j < 16; ++j) {
                dst[j] = dl * static_cast<float>(kIQ4NL[qs[j] & 0x0f]);
                dst[j + 16] = dl * static_cast<float>(kIQ4NL[qs[j] >> 4]);
            }
        }
    }
}

// x = kE2M1x2[q] * 2^(e - 128) (blocks of 32).
void mxfp4(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, dst += QK_MXFP4) {
        const auto b = load_block<BlockMXFP4>(src, i);
        const float d = e8m0_to_fp32_half(b.e);
        for (int j = 0; j < QK_MXFP4 / 2; ++j) {
            dst[j] = static_cast<float>(kE2M1x2[b.qs[j] & 0x0f]) * d;
            dst[j + QK_MXFP4 / 2] = static_cast<float>(kE2M1x2[b.qs[j] >> 4]) * d;
        }
    }
}

} // namespace infer::dequant
