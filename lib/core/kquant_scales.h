// Packing of k-quant sub-block scales into their bytes: the inverses of q3_k_scale() and
// k4_scale_min() in dequant_kquants.cpp. Private to lib/core; shared by the quantizers and the
// random block generator.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/blocks.h"

namespace infer {

// Q4_K/Q5_K: 8 six-bit scales and 8 six-bit mins into 12 bytes. Sub-blocks 0-3 take the low 6
// bits of bytes 0-3 (scale) and 4-7 (min); sub-blocks 4-7 their low nibbles in bytes 8-11 and
// their top 2 bits in the top bits of bytes 0-3 (scale) and 4-7 (min).
inline void pack_k4_scales(const uint8_t sc[8], const uint8_t m[8], uint8_t out[K_SCALE_SIZE]) {
    for (int j = 0; j < 4; ++j) {
        out[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = static_cast<uint8_t>((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0x0f) | ((m[j + 4] & 0x0f) << 4));
    }
}

// Q3_K: 16 six-bit scales (stored + 32) into 12 bytes: low nibbles in bytes 0-7 (scale j in
// byte j % 8, high nibble for j >= 8), top 2 bits in byte 8 + j % 4 at bit 2 * (j / 4).
inline void pack_q3_scales(const uint8_t sc[16], uint8_t out[12]) {
    std::memset(out, 0, 12);
    for (int j = 0; j < 16; ++j) {
        if (j < 8)
            out[j] |= sc[j] & 0x0f;
        else
            out[j - 8] |= static_cast<uint8_t>((sc[j] & 0x0f) << 4);
        out[8 + j % 4] |= static_cast<uint8_t>((sc[j] >> 4) << (2 * (j / 4)));
    }
}

} // namespace infer
