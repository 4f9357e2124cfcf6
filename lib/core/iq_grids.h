// The lattice tables of the IQ2/IQ3/IQ1 formats (generated: scripts/make_iq_grids.py), and the
// sign table the IQ2_XXS/IQ2_XS/IQ3_XXS formats index with 7 bits.
//
// A group of 8 (IQ2, IQ1) or 4 (IQ3) weights stores one index into its format's grid; entry i
// holds the group's weights one per byte, weight j in byte j (little-endian): magnitudes for the
// IQ2/IQ3 grids (signs are stored apart), int8 values -1/0/1 for IQ1's.
#pragma once

#include <cstdint>

namespace infer {

extern const uint64_t kGridIQ2XXS[256];
extern const uint64_t kGridIQ2XS[512];
extern const uint64_t kGridIQ2S[1024];
extern const uint32_t kGridIQ3XXS[256];
extern const uint32_t kGridIQ3S[512];
extern const uint64_t kGridIQ1S[2048];

// The 8 signs of a group from its 7-bit sign index: bits 0..6 as stored, bit 7 their parity
// (the encoder keeps an even number of negative weights per group, so the eighth is implied).
// Bit j set: weight j is negative.
constexpr uint8_t iq2_signs(uint32_t index7) {
    const uint32_t s = index7 & 0x7f;
    return static_cast<uint8_t>(s | (static_cast<uint32_t>(__builtin_parity(s)) << 7));
}

} // namespace infer
