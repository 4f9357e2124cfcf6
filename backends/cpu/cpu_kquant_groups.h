// Q2_K and Q3_K as the lattice formats' integer groups (core/iq_groups.h), so that the SIMD
// kernels of every architecture decode them with the lattice code: group g = 4 * half + j of a
// super-block is the 2-bit fields j of bytes 32 * half .. +31 of qs, with 16-weight scales (Q2_K's
// minus its mins through Q8_K's bsums; Q3_K's third bits in hmask, bit g of byte l). Their
// references are vec_dot_q2_K_ref / vec_dot_q3_K_ref: d * da * sumi (- dmin * da * summins) per
// super-block.
#pragma once

#include "core/blocks.h"
#include "core/iq_groups.h"
#include "cpu/cpu_vec_dot.h"

#include <cstddef>
#include <cstdint>

namespace infer::cpu {

// A format whose weights also subtract dmin * m_h per 16 (Q2_K).
template <typename F>
concept WithMins = requires(const uint8_t *b) {
    F::dmin_bits(b);
};

struct GroupsQ2_K {
    static constexpr IqKind kind = IqKind::Crumbs;
    static constexpr float unit = 1.0f;
    static constexpr int block_bytes = sizeof(BlockQ2_K);
    static uint16_t d_bits(const uint8_t *b) {
        return load_block<uint16_t>(b + offsetof(BlockQ2_K, d), 0);
    }
    static uint16_t dmin_bits(const uint8_t *b) {
        return load_block<uint16_t>(b + offsetof(BlockQ2_K, dmin), 0);
    }
    static void group(const uint8_t *b, int g, IqGroup *out) {
        out->crumbs = b + offsetof(BlockQ2_K, qs) + 32 * (g / 4);
        out->shift = 2 * (g % 4);
        out->scale[0] = b[2 * g] & 0xf;
        out->scale[1] = b[2 * g + 1] & 0xf;
    }
    // m_h, the 4-bit min of each 16 weights
    static void mins(const uint8_t *b, int16_t m[QK_K / 16]) {
        for (int h = 0; h < QK_K / 16; ++h)
            m[h] = static_cast<int16_t>(b[h] >> 4);
    }
    static int mins_dot(const uint8_t *b, const uint8_t *bsums) {
        int16_t m[QK_K / 16];
        mins(b, m);
        int s = 0;
        for (int h = 0; h < QK_K / 16; ++h)
            s += load_block<int16_t>(bsums, h) * m[h];
        return s;
    }
};

struct GroupsQ3_K {
    static constexpr IqKind kind = IqKind::Crumbs;
    static constexpr float unit = 1.0f;
    static constexpr int block_bytes = sizeof(BlockQ3_K);
    static uint16_t d_bits(const uint8_t *b) {
        return load_block<uint16_t>(b + offsetof(BlockQ3_K, d), 0);
    }
    static void group(const uint8_t *b, int g, IqGroup *out) {
        out->crumbs = b + offsetof(BlockQ3_K, qs) + 32 * (g / 4);
        out->shift = 2 * (g % 4);
        out->high = b + offsetof(BlockQ3_K, hmask);
        out->high_shift = g;
        out->offset = 4;
        const uint8_t *sc = b + offsetof(BlockQ3_K, scales);
        out->scale[0] = q3k_scale(2 * g, sc) - 32;
        out->scale[1] = q3k_scale(2 * g + 1, sc) - 32;
    }
};

} // namespace infer::cpu
