// Formats whose 4-bit indices pick from a fixed table of values instead of an evenly spaced grid.
// Byte j of a 32-element group holds element j (low nibble) and j + 16 (high), as in Q4_0.
#include "core/dequant_formats.h"

#include <cstring>

#include "core/blocks.h"
#include "core/fp16.h"

namespace infer::dequant {

// x = d * kValuesIQ4NL[q] (blocks of 32).
void iq4_nl(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, dst += QK4_NL) {
        const auto b = load_block<BlockIQ4_NL>(src, i);
        const float d = fp16_to_fp32(b.d);
        for (int j = 0; j < QK4_NL / 2; ++j) {
            dst[j] = d * static_cast<float>(kValuesIQ4NL[b.qs[j] & 0x0f]);
            dst[j + QK4_NL / 2] = d * static_cast<float>(kValuesIQ4NL[b.qs[j] >> 4]);
        }
    }
}

// x = (d * (sc - 32)) * kValuesIQ4NL[q]; 8 sub-blocks of 32 with 6-bit scales (iq4xs_scale).
void iq4_xs(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i) {
        const auto b = load_block<BlockIQ4_XS>(src, i);
        const float d = fp16_to_fp32(b.d);
        for (int ib = 0; ib < QK_K / 32; ++ib, dst += 32) {
            const float dl = d * static_cast<float>(iq4xs_scale(b, ib) - 32);
            const uint8_t *qs = b.qs + 16 * ib;
            for (int j = 0; j < 16; ++j) {
                dst[j] = dl * static_cast<float>(kValuesIQ4NL[qs[j] & 0x0f]);
                dst[j + 16] = dl * static_cast<float>(kValuesIQ4NL[qs[j] >> 4]);
            }
        }
    }
}

// x = kValuesMXFP4[q] * 2^(e - 128) (blocks of 32).
void mxfp4(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, dst += QK_MXFP4) {
        const auto b = load_block<BlockMXFP4>(src, i);
        const float d = e8m0_to_fp32_half(b.e);
        for (int j = 0; j < QK_MXFP4 / 2; ++j) {
            dst[j] = static_cast<float>(kValuesMXFP4[b.qs[j] & 0x0f]) * d;
            dst[j + QK_MXFP4 / 2] = static_cast<float>(kValuesMXFP4[b.qs[j] >> 4]) * d;
        }
    }
}

} // namespace infer::dequant
