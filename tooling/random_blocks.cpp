// Valid random blocks of every weight type, without going through floats: the quant bits are raw
// random bytes (so q is uniform over its range) and the scales are chosen so the dequantized
// values have mean ~0 and standard deviation ~`scale`. Sub-block scales vary (a uniform range
// of about 2:1) so kernels see real per-sub-block scales, and the min terms cancel the mean of q.
//
// Std of a uniform integer over k values: sqrt((k^2 - 1) / 12): 4.610 for 16, 9.233 for 32,
// 18.47 for 64, 73.90 for 256 (int8), 1.118 for 4. For Q3_K, q in -4..3 has mean -0.5 and
// E[q^2] = 5.5 (rms 2.345); the random sign of its sub-block scales cancels the mean over a row.
#include "tooling/quant_weights.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "core/blocks.h"
#include "core/dequant.h"
#include "core/iq_groups.h"
#include "core/fp16.h"
#include "core/kquant_scales.h"
#include "core/random.h"
#include "core/types.h"

namespace infer {

namespace {

// Fills `n` bytes with random bits, 8 at a time.
void fill_random(Rng &rng, uint8_t *p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint64_t r = rng.next();
        std::memcpy(p + i, &r, 8);
    }
    if (i < n) {
        const uint64_t r = rng.next();
        std::memcpy(p + i, &r, n - i);
    }
}

template <typename Block, typename Fix>
void blocks(Rng &rng, void *dst, int64_t n_blocks, Fix fix) {
    auto *out = static_cast<uint8_t *>(dst);
    for (int64_t i = 0; i < n_blocks; ++i) {
        Block b;
        fill_random(rng, reinterpret_cast<uint8_t *>(&b), sizeof b);
        fix(b);
        std::memcpy(out + i * static_cast<int64_t>(sizeof(Block)), &b, sizeof b);
    }
}

// rms of a uniform integer in [lo, lo + k): sqrt(mean^2 + (k^2 - 1) / 12).
float uniform_rms(float lo, float k) {
    const float mean = lo + (k - 1) / 2;
    return std::sqrt(mean * mean + (k * k - 1) / 12);
}

// rms of a 16-entry codebook's values, each index equally likely.
float table_rms(const int8_t *table) {
    float sum2 = 0;
    for (int j = 0; j < 16; ++j) sum2 += static_cast<float>(table[j]) * static_cast<float>(table[j]);
    return std::sqrt(sum2 / 16);
}

// The lattice and ternary formats: random indices, signs and scales (their grids make any bits
// valid; TQ2_0's unused code 3 is redrawn as 0 or 2), then each block's d set from its own rms
// at d = 1, so every block has rms `scale`.
bool lattice_blocks(TypeId type, Rng &rng, float scale, uint8_t *dst, int64_t n_blocks) {
    const TypeTraits *t = type_traits(static_cast<uint32_t>(type));
    float x[QK_K];
    for (int64_t i = 0; i < n_blocks; ++i) {
        uint8_t *block = dst + i * static_cast<int64_t>(t->block_bytes);
        fill_random(rng, block, t->block_bytes);
        if (type == TypeId::TQ2_0) {
            const uint64_t r = rng.next();
            for (int j = 0; j < QK_K / 4; ++j)
                for (int f = 0; f < 4; ++f)
                    if (((block[j] >> (2 * f)) & 3) == 3)
                        block[j] = static_cast<uint8_t>(block[j] ^ (((r >> ((j + f) % 64)) & 1 ? 1 : 3) << (2 * f)));
        }
        iq_set_d_bits(static_cast<uint32_t>(type), block, fp32_to_fp16(1.0f));
        dequantize_row_ref(static_cast<uint32_t>(type), block, x, QK_K);
        double sum2 = 0;
        for (const float v : x) sum2 += static_cast<double>(v) * v;
        const double rms = std::sqrt(sum2 / QK_K);
        iq_set_d_bits(static_cast<uint32_t>(type), block, fp32_to_fp16(rms > 0 ? static_cast<float>(scale / rms) : 0.0f));
    }
    return true;
}

} // namespace

bool random_blocks_supported(uint32_t type) {
    return weight_type_supported(type) || is_lattice_type(type);
}

bool random_blocks(uint32_t type, uint64_t seed, float scale, void *dst, int64_t n_blocks) {
    if (!random_blocks_supported(type) || n_blocks < 0) return false;
    Rng rng(seed);
    if (is_lattice_type(type))
        return lattice_blocks(static_cast<TypeId>(type), rng, scale, static_cast<uint8_t *>(dst), n_blocks);
    switch (static_cast<TypeId>(type)) {
    case TypeId::F32: {
        auto *out = static_cast<uint8_t *>(dst);
        for (int64_t i = 0; i < n_blocks; ++i) {
            const float v = scale * rng.normal();
            std::memcpy(out + 4 * i, &v, 4);
        }
        break;
    }
    case TypeId::F16:
    case TypeId::BF16: {
        auto *out = static_cast<uint8_t *>(dst);
        const bool half = static_cast<TypeId>(type) == TypeId::F16;
        for (int64_t i = 0; i < n_blocks; ++i) {
            const float v = scale * rng.normal();
            const uint16_t h = half ? fp32_to_fp16(v) : fp32_to_bf16(v);
            std::memcpy(out + 2 * i, &h, 2);
        }
        break;
    }
    case TypeId::Q8_0: {
        const uint16_t d = fp32_to_fp16(scale / 73.90f);
        blocks<BlockQ8_0>(rng, dst, n_blocks, [&](BlockQ8_0 &b) { b.d = d; });
        break;
    }
    case TypeId::Q4_0: {
        const uint16_t d = fp32_to_fp16(scale / 4.610f);
        blocks<BlockQ4_0>(rng, dst, n_blocks, [&](BlockQ4_0 &b) { b.d = d; });
        break;
    }
    case TypeId::Q4_1: { // x = d*q + m with m = -7.5 d
        const float d = scale / 4.610f;
        const uint16_t dh = fp32_to_fp16(d), mh = fp32_to_fp16(-7.5f * d);
        blocks<BlockQ4_1>(rng, dst, n_blocks, [&](BlockQ4_1 &b) {
            b.d = dh;
            b.m = mh;
        });
        break;
    }
    case TypeId::Q5_0: {
        const uint16_t d = fp32_to_fp16(scale / 9.233f);
        blocks<BlockQ5_0>(rng, dst, n_blocks, [&](BlockQ5_0 &b) { b.d = d; });
        break;
    }
    case TypeId::Q5_1: {
        const float d = scale / 9.233f;
        const uint16_t dh = fp32_to_fp16(d), mh = fp32_to_fp16(-15.5f * d);
        blocks<BlockQ5_1>(rng, dst, n_blocks, [&](BlockQ5_1 &b) {
            b.d = dh;
            b.m = mh;
        });
        break;
    }
    case TypeId::Q2_K: { // sc = m in 8..15, dmin = 1.5 d: the min cancels E[q] = 1.5
        const float d = scale / (1.118f * uniform_rms(8, 8));
        const uint16_t dh = fp32_to_fp16(d), mh = fp32_to_fp16(1.5f * d);
        blocks<BlockQ2_K>(rng, dst, n_blocks, [&](BlockQ2_K &b) {
            for (uint8_t &s : b.scales) {
                const int sc = 8 + (s & 7);
                s = static_cast<uint8_t>(sc | (sc << 4));
            }
            b.d = dh;
            b.dmin = mh;
        });
        break;
    }
    case TypeId::Q3_K: { // |sc - 32| in 16..31 with a random sign
        const float d = scale / (2.345f * uniform_rms(16, 16));
        const uint16_t dh = fp32_to_fp16(d);
        blocks<BlockQ3_K>(rng, dst, n_blocks, [&](BlockQ3_K &b) {
            uint8_t sc[16];
            const uint64_t r = rng.next(), sign = rng.next();
            for (int j = 0; j < 16; ++j) {
                const int mag = 16 + static_cast<int>((r >> (4 * j)) & 15);
                sc[j] = static_cast<uint8_t>(((sign >> j) & 1) ? 32 + mag : 32 - mag);
            }
            pack_q3_scales(sc, b.scales);
            b.d = dh;
        });
        break;
    }
    case TypeId::Q4_K:
    case TypeId::Q5_K: { // sc even in 32..62, m = sc / 2, dmin = 2 E[q] d cancels the mean
        const bool q5 = static_cast<TypeId>(type) == TypeId::Q5_K;
        const float q_std = q5 ? 9.233f : 4.610f, q_mean = q5 ? 15.5f : 7.5f;
        const float d = scale / (q_std * 2 * uniform_rms(16, 16));
        const uint16_t dh = fp32_to_fp16(d), mh = fp32_to_fp16(2 * q_mean * d);
        auto fix_scales = [&](uint8_t scales[K_SCALE_SIZE]) {
            const uint64_t r = rng.next();
            uint8_t sc[8], m[8];
            for (int j = 0; j < 8; ++j) {
                m[j] = static_cast<uint8_t>(16 + ((r >> (4 * j)) & 15));
                sc[j] = static_cast<uint8_t>(2 * m[j]);
            }
            pack_k4_scales(sc, m, scales);
        };
        if (q5)
            blocks<BlockQ5_K>(rng, dst, n_blocks, [&](BlockQ5_K &b) {
                fix_scales(b.scales);
                b.d = dh;
                b.dmin = mh;
            });
        else
            blocks<BlockQ4_K>(rng, dst, n_blocks, [&](BlockQ4_K &b) {
                fix_scales(b.scales);
                b.d = dh;
                b.dmin = mh;
            });
        break;
    }
    case TypeId::Q6_K: { // |sc| in 64..127 with a random sign
        const float d = scale / (18.47f * uniform_rms(64, 64));
        const uint16_t dh = fp32_to_fp16(d);
        blocks<BlockQ6_K>(rng, dst, n_blocks, [&](BlockQ6_K &b) {
            for (int8_t &s : b.scales) {
                const int v = static_cast<uint8_t>(s);
                s = static_cast<int8_t>((v & 128) ? -(64 + (v & 63)) : 64 + (v & 63));
            }
            b.d = dh;
        });
        break;
    }
    case TypeId::IQ4_NL: {
        const uint16_t d = fp32_to_fp16(scale / table_rms(kValuesIQ4NL));
        blocks<BlockIQ4_NL>(rng, dst, n_blocks, [&](BlockIQ4_NL &b) { b.d = d; });
        break;
    }
    case TypeId::IQ4_XS: { // |ls - 32| in 16..31 with a random sign
        const uint16_t d = fp32_to_fp16(scale / (table_rms(kValuesIQ4NL) * uniform_rms(16, 16)));
        blocks<BlockIQ4_XS>(rng, dst, n_blocks, [&](BlockIQ4_XS &b) {
            const uint64_t r = rng.next();
            b.scales_h = 0;
            for (int g = 0; g < QK_K / 32; ++g) {
                const int mag = 16 + static_cast<int>((r >> (5 * g)) & 15);
                const int ls = ((r >> (5 * g + 4)) & 1 ? -mag : mag) + 32;
                b.scales_l[g / 2] = static_cast<uint8_t>(
                    (b.scales_l[g / 2] & (0xF0 >> (4 * (g % 2)))) | ((ls & 0xF) << (4 * (g % 2))));
                b.scales_h |= static_cast<uint16_t>((ls >> 4) << (2 * g));
            }
            b.d = d;
        });
        break;
    }
    case TypeId::MXFP4: { // d is a power of two: blocks take e or e + 1 in the share giving `scale`
        // target = d * 2^f with f in [0, 1): e + 1's blocks have 4x the mean square, so a share
        // p = (4^f - 1) / 3 of them gives the rms exactly (on average), whatever the scale.
        const float target = scale / table_rms(kValuesMXFP4);
        int k = 0;
        std::frexp(target, &k); // target in [2^(k-1), 2^k): d = 2^(e - 128) = 2^(k-1)
        const int e = target > 0 ? std::min(std::max(k - 1 + 128, 1), 253) : 0;
        const float ratio = target / e8m0_to_fp32_half(static_cast<uint8_t>(e));
        const double p = std::min(1.0, std::max(0.0, (double(ratio) * ratio - 1) / 3));
        const auto threshold = static_cast<uint64_t>(p * 4294967296.0);
        blocks<BlockMXFP4>(rng, dst, n_blocks, [&](BlockMXFP4 &b) {
            b.e = static_cast<uint8_t>((rng.next() >> 32) < threshold ? e + 1 : e);
        });
        break;
    }
    default:
        return false;
    }
    return true;
}

} // namespace infer
