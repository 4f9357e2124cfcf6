// Scalar reference dot products: weight row (ggml block format) . activation row (see
// cpu_vec_dot.h for the pairing). Written to be read: one block at a time, integer sums in the
// same order and with the same terms as ggml's generic ggml_vec_dot_*_q8_* code, then one float
// multiply-add per block (K-quants: per super-block) with the fp16 scales.
#include "cpu/cpu_vec_dot.h"

#include "core/blocks.h"
#include "core/fp16.h"

#include <cstring>

namespace infer::cpu {

namespace {

const uint8_t *bytes(const void *p) { return static_cast<const uint8_t *>(p); }

uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

} // namespace

// x = d * (q - 8), q a nibble; low nibbles are elements 0..15, high nibbles 16..31.
float vec_dot_q4_0_ref(int64_t k, const void *w_row, const void *act_row) {
    float sum = 0.0f;
    for (int64_t ib = 0; ib < k / QK4_0; ++ib) {
        const auto w = load_block<BlockQ4_0>(bytes(w_row), ib);
        const auto a = load_block<BlockQ8_0>(bytes(act_row), ib);
        int sumi = 0;
        for (int j = 0; j < QK4_0 / 2; ++j) {
            sumi += ((w.qs[j] & 0xF) - 8) * a.qs[j];
            sumi += ((w.qs[j] >> 4) - 8) * a.qs[j + QK4_0 / 2];
        }
        sum += static_cast<float>(sumi) * fp16_to_fp32(w.d) * fp16_to_fp32(a.d);
    }
    return sum;
}

// x = d * q + m: sum(x * y) = d * dy * sum(q * qy) + m * (dy * sum(qy)), the last factor being s.
float vec_dot_q4_1_ref(int64_t k, const void *w_row, const void *act_row) {
    float sum = 0.0f;
    for (int64_t ib = 0; ib < k / QK4_1; ++ib) {
        const auto w = load_block<BlockQ4_1>(bytes(w_row), ib);
        const auto a = load_block<BlockQ8_1>(bytes(act_row), ib);
        int sumi = 0;
        for (int j = 0; j < QK4_1 / 2; ++j) {
            sumi += (w.qs[j] & 0xF) * a.qs[j];
            sumi += (w.qs[j] >> 4) * a.qs[j + QK4_1 / 2];
        }
        sum += fp16_to_fp32(w.d) * fp16_to_fp32(a.d) * static_cast<float>(sumi) +
               fp16_to_fp32(w.m) * fp16_to_fp32(a.s);
    }
    return sum;
}

// x = d * (q - 16), q = nibble | (bit j of qh) << 4.
float vec_dot_q5_0_ref(int64_t k, const void *w_row, const void *act_row) {
    float sum = 0.0f;
    for (int64_t ib = 0; ib < k / QK5_0; ++ib) {
        const auto w = load_block<BlockQ5_0>(bytes(w_row), ib);
        const auto a = load_block<BlockQ8_0>(bytes(act_row), ib);
        const uint32_t qh = load_u32(w.qh);
        int sumi = 0;
        for (int j = 0; j < QK5_0 / 2; ++j) {
            const int hi0 = (qh >> j) & 1, hi1 = (qh >> (j + 16)) & 1;
            sumi += ((w.qs[j] & 0xF) + 16 * hi0 - 16) * a.qs[j];
            sumi += ((w.qs[j] >> 4) + 16 * hi1 - 16) * a.qs[j + QK5_0 / 2];
        }
        sum += fp16_to_fp32(w.d) * fp16_to_fp32(a.d) * static_cast<float>(sumi);
    }
    return sum;
}

// x = d * q + m, q as Q5_0 without the offset.
float vec_dot_q5_1_ref(int64_t k, const void *w_row, const void *act_row) {
    float sum = 0.0f;
    for (int64_t ib = 0; ib < k / QK5_1; ++ib) {
        const auto w = load_block<BlockQ5_1>(bytes(w_row), ib);
        const auto a = load_block<BlockQ8_1>(bytes(act_row), ib);
        const uint32_t qh = load_u32(w.qh);
        int sumi = 0;
        for (int j = 0; j < QK5_1 / 2; ++j) {
            const int hi0 = (qh >> j) & 1, hi1 = (qh >> (j + 16)) & 1;
            sumi += ((w.qs[j] & 0xF) + 16 * hi0) * a.qs[j];
            sumi += ((w.qs[j] >> 4) + 16 * hi1) * a.qs[j + QK5_1 / 2];
        }
        sum += fp16_to_fp32(w.d) * fp16_to_fp32(a.d) * static_cast<float>(sumi) +
               fp16_to_fp32(w.m) * fp16_to_fp32(a.s);
    }
    return sum;
}

float vec_dot_q8_0_ref(int64_t k, const void *w_row, const void *act_row) {
    float sum = 0.0f;
    for (int64_t ib = 0; ib < k / QK8_0; ++ib) {
        const auto w = load_block<BlockQ8_0>(bytes(w_row), ib);
        const auto a = load_block<BlockQ8_0>(bytes(act_row), ib);
        int sumi = 0;
        for (int j = 0; j < QK8_0; ++j)
            sumi += w.qs[j] * a.qs[j];
        sum += static_cast<float>(sumi) * (fp16_to_fp32(w.d) * fp16_to_fp32(a.d));
    }
    return sum;
}

// ---- K-quants: per super-block, x = d * sc_g * q - dmin * m_g (Q2_K, Q4_K, Q5_K) or
// d * sc_g * q (Q3_K, Q6_K) over groups g. The min terms use the activation's group sums:
// sum over g of m_g * sum(qy in g), which is why Q8_K carries bsums.

// 16 groups of 16. Element 32*j + l of each 128-element half h comes from bits 2j..2j+1 of
// qs[32*h + l]; group = element / 16.
float vec_dot_q2_K_ref(int64_t k, const void *w_row, const void *act_row) {
    float sum = 0.0f;
    for (int64_t ib = 0; ib < k / QK_K; ++ib) {
        const auto w = load_block<BlockQ2_K>(bytes(w_row), ib);
        const auto a = load_block<BlockQ8_K>(bytes(act_row), ib);
        int summins = 0;
        for (int g = 0; g < QK_K / 16; ++g)
            summins += a.bsums[g] * (w.scales[g] >> 4);
        int sumi = 0;
        for (int e = 0; e < QK_K; ++e) {
            const int half = e / 128, j = (e % 128) / 32, l = e % 32;
            const int q = (w.qs[32 * half + l] >> (2 * j)) & 3;
            sumi += (w.scales[e / 16] & 0xF) * q * a.qs[e];
        }
        sum += a.d * fp16_to_fp32(w.d) * static_cast<float>(sumi) -
               a.d * fp16_to_fp32(w.dmin) * static_cast<float>(summins);
    }
    return sum;
}

// 16 groups of 16, signed 6-bit scales (sc - 32). q = 2 low bits (laid out as Q2_K) minus 4 when
// the element's hmask bit is clear; hmask bit (4*half + j) of byte l.
float vec_dot_q3_K_ref(int64_t k, const void *w_row, const void *act_row) {
    float sum = 0.0f;
    for (int64_t ib = 0; ib < k / QK_K; ++ib) {
        const auto w = load_block<BlockQ3_K>(bytes(w_row), ib);
        const auto a = load_block<BlockQ8_K>(bytes(act_row), ib);
        int sumi = 0;
        for (int e = 0; e < QK_K; ++e) {
            const int half = e / 128, j = (e % 128) / 32, l = e % 32;
            const int low = (w.qs[32 * half + l] >> (2 * j)) & 3;
            const int high = (w.hmask[l] >> (4 * half + j)) & 1;
            sumi += (q3k_scale(e / 16, w.scales) - 32) * (low - (high ? 0 : 4)) * a.qs[e];
        }
        sum += fp16_to_fp32(w.d) * a.d * static_cast<float>(sumi);
    }
    return sum;
}

// 8 groups of 32 with 6-bit scales and mins. Each 64 elements use 32 bytes of qs: low nibbles are
// group 2i, high nibbles group 2i + 1.
float vec_dot_q4_K_ref(int64_t k, const void *w_row, const void *act_row) {
    float sum = 0.0f;
    for (int64_t ib = 0; ib < k / QK_K; ++ib) {
        const auto w = load_block<BlockQ4_K>(bytes(w_row), ib);
        const auto a = load_block<BlockQ8_K>(bytes(act_row), ib);
        int sumi = 0, summins = 0;
        for (int g = 0; g < QK_K / 32; ++g) {
            uint8_t sc, m;
            q4k_scale_min(g, w.scales, &sc, &m);
            summins += m * (a.bsums[2 * g] + a.bsums[2 * g + 1]);
            int sumg = 0;
            for (int l = 0; l < 32; ++l) {
                const uint8_t byte = w.qs[32 * (g / 2) + l];
                sumg += ((g % 2 == 0) ? (byte & 0xF) : (byte >> 4)) * a.qs[32 * g + l];
            }
            sumi += sc * sumg;
        }
        sum += fp16_to_fp32(w.d) * a.d * static_cast<float>(sumi) -
               fp16_to_fp32(w.dmin) * a.d * static_cast<float>(summins);
    }
    return sum;
}

// As Q4_K plus a 5th bit: element l of group g has bit g of qh[l].
float vec_dot_q5_K_ref(int64_t k, const void *w_row, const void *act_row) {
    float sum = 0.0f;
    for (int64_t ib = 0; ib < k / QK_K; ++ib) {
        const auto w = load_block<BlockQ5_K>(bytes(w_row), ib);
        const auto a = load_block<BlockQ8_K>(bytes(act_row), ib);
        int sumi = 0, summins = 0;
        for (int g = 0; g < QK_K / 32; ++g) {
            uint8_t sc, m;
            q4k_scale_min(g, w.scales, &sc, &m);
            summins += m * (a.bsums[2 * g] + a.bsums[2 * g + 1]);
            int sumg = 0;
            for (int l = 0; l < 32; ++l) {
                const uint8_t byte = w.qs[32 * (g / 2) + l];
                const int q =
                    ((g % 2 == 0) ? (byte & 0xF) : (byte >> 4)) + 16 * ((w.qh[l] >> g) & 1);
                sumg += q * a.qs[32 * g + l];
            }
            sumi += sc * sumg;
        }
        sum += fp16_to_fp32(w.d) * a.d * static_cast<float>(sumi) -
               fp16_to_fp32(w.dmin) * a.d * static_cast<float>(summins);
    }
    return sum;
}

// 16 groups of 16, signed 8-bit scales, q = 6 bits - 32. Per 128-element half h, element
// The codebook formats: each nibble picks a value from a table (blocks.h), element j from the
// low nibble of byte j and j + 16 from its high nibble, as in Q4_0.
namespace {
int codebook_dot_32(const uint8_t *qs, const int8_t *table, const int8_t *a) {
    int sumi = 0;
    for (int j = 0; j < 16; ++j) {
        sumi += table[qs[j] & 0xF] * a[j];
        sumi += table[qs[j] >> 4] * a[j + 16];
    }
    return sumi;
}

// A 32-element codebook format against Q8_0, as ggml: (da * scale(block)) * sumi per block.
template <typename Block, typename Scale>
float codebook_q8_0_ref(int64_t k, const void *w_row, const void *act_row, const int8_t *table,
                        Scale scale) {
    float sum = 0.0f;
    for (int64_t ib = 0; ib < k / 32; ++ib) {
        const auto w = load_block<Block>(bytes(w_row), ib);
        const auto a = load_block<BlockQ8_0>(bytes(act_row), ib);
        sum += fp16_to_fp32(a.d) * scale(w) * static_cast<float>(codebook_dot_32(w.qs, table, a.qs));
    }
    return sum;
}

} // namespace

// x = d * kValuesIQ4NL[q].
float vec_dot_iq4_nl_ref(int64_t k, const void *w_row, const void *act_row) {
    return codebook_q8_0_ref<BlockIQ4_NL>(k, w_row, act_row, kValuesIQ4NL,
                                          [](const BlockIQ4_NL &b) { return fp16_to_fp32(b.d); });
}

// x = kValuesMXFP4[q] * 2^(e - 128).
float vec_dot_mxfp4_ref(int64_t k, const void *w_row, const void *act_row) {
    return codebook_q8_0_ref<BlockMXFP4>(k, w_row, act_row, kValuesMXFP4,
                                         [](const BlockMXFP4 &b) { return e8m0_to_fp32_half(b.e); });
}

// x = (d * (sc - 32)) * kValuesIQ4NL[q] against Q8_K. The sub-blocks' sums are scaled and summed
// as integers, then one float product per super-block, as the K-quants do (and llama.cpp's AVX2
// kernel; its generic code rounds once per sub-block instead).
float vec_dot_iq4_xs_ref(int64_t k, const void *w_row, const void *act_row) {
    float sum = 0.0f;
    for (int64_t ib = 0; ib < k / QK_K; ++ib) {
        const auto w = load_block<BlockIQ4_XS>(bytes(w_row), ib);
        const auto a = load_block<BlockQ8_K>(bytes(act_row), ib);
        int sumi = 0;
        for (int g = 0; g < QK_K / 32; ++g)
            sumi += (iq4xs_scale(w, g) - 32) * codebook_dot_32(w.qs + 16 * g, kValuesIQ4NL, a.qs + 32 * g);
        sum += fp16_to_fp32(w.d) * a.d * static_cast<float>(sumi);
    }
    return sum;
}

// Each quant as q6k_quant (core/blocks.h) reads it, minus 32, times its sub-block's scale.
float vec_dot_q6_K_ref(int64_t k, const void *w_row, const void *act_row) {
    float sum = 0.0f;
    for (int64_t ib = 0; ib < k / QK_K; ++ib) {
        const auto w = load_block<BlockQ6_K>(bytes(w_row), ib);
        const auto a = load_block<BlockQ8_K>(bytes(act_row), ib);
        int sumi = 0;
        for (int e = 0; e < QK_K; ++e)
            sumi += w.scales[e / 16] * (q6k_quant(w, e) - 32) * a.qs[e];
        sum += fp16_to_fp32(w.d) * a.d * static_cast<float>(sumi);
    }
    return sum;
}

// ---- Float weights, f32 activations; summed in double so the reference is the accurate one.

float vec_dot_f32_ref(int64_t k, const void *w_row, const void *act_row) {
    const float *x = static_cast<const float *>(act_row);
    double sum = 0.0;
    for (int64_t i = 0; i < k; ++i) {
        float w;
        std::memcpy(&w, bytes(w_row) + 4 * i, sizeof w);
        sum += static_cast<double>(w) * x[i];
    }
    return static_cast<float>(sum);
}

float vec_dot_f16_ref(int64_t k, const void *w_row, const void *act_row) {
    const float *x = static_cast<const float *>(act_row);
    double sum = 0.0;
    for (int64_t i = 0; i < k; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes(w_row) + 2 * i, sizeof h);
        sum += static_cast<double>(fp16_to_fp32(h)) * x[i];
    }
    return static_cast<float>(sum);
}

float vec_dot_bf16_ref(int64_t k, const void *w_row, const void *act_row) {
    const float *x = static_cast<const float *>(act_row);
    double sum = 0.0;
    for (int64_t i = 0; i < k; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes(w_row) + 2 * i, sizeof h);
        sum += static_cast<double>(bf16_to_fp32(h)) * x[i];
    }
    return static_cast<float>(sum);
}

} // namespace infer::cpu
