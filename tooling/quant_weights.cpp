// Weight quantizers. Legacy formats (Q4_0 .. Q5_1) and MXFP4 follow ggml's quantize_row_*_ref
// operation for operation. The k-quants fit each sub-block's scale (and min) by a small grid
// search with a least-squares refit, as ggml's make_qkx2_quants / make_qx_quants do but without
// importance weights, then quantize the sub-block scales against the fp16 super-block scale(s) and
// requantize the values with the scales as stored, so the blocks decode to what was fitted.
// Bit layouts are the inverse of the decoders in dequant_legacy.cpp / dequant_kquants.cpp.
#include "tooling/quant_weights.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/blocks.h"
#include "core/fp16.h"
#include "core/kquant_scales.h"
#include "core/quant.h"
#include "core/types.h"

namespace infer {

namespace {

// Round to nearest, ties to even (ggml's nearest_int in the default rounding mode).
int nearest(float x) { return static_cast<int>(std::nearbyint(x)); }

int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// The value an fp16 field will decode to.
float as_fp16(float x) { return fp16_to_fp32(fp32_to_fp16(x)); }

template <typename Block> void store(void *dst, int64_t i, const Block &b) {
    std::memcpy(static_cast<uint8_t *>(dst) + i * static_cast<int64_t>(sizeof(Block)), &b,
                sizeof(Block));
}

// The element of largest magnitude, with its sign (the first one on ties, as ggml).
float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    return max;
}

// ---- scale fitting for the k-quants -----------------------------------------------------------

// Fits x ~= scale * q - m with q in [0, nmax] and m >= 0 (the sub-block minimum clipped at 0).
// Grid over 21 inverse scales around nmax / range, each followed by a least-squares refit of
// (scale, -m) for the rounded q; keeps the fit with the least squared error.
float fit_scale_min(const float *x, int n, int nmax, float *m_out) {
    float mn = x[0], mx = x[0];
    for (int j = 1; j < n; ++j) {
        mn = std::min(mn, x[j]);
        mx = std::max(mx, x[j]);
    }
    if (mn > 0) mn = 0;
    if (mx == mn) {
        *m_out = -mn;
        return 0.0f;
    }
    float sum_x = 0;
    for (int j = 0; j < n; ++j)
        sum_x += x[j];
    auto error = [&](float scale, float min, float iscale) {
        float err = 0;
        for (int j = 0; j < n; ++j) {
            const int q = clampi(nearest(iscale * (x[j] - min)), 0, nmax);
            const float diff = scale * static_cast<float>(q) + min - x[j];
            err += diff * diff;
        }
        return err;
    };
    float best_scale = (mx - mn) / static_cast<float>(nmax);
    float best_min = mn;
    float best_err = error(best_scale, mn, 1.0f / best_scale);
    for (int step = 0; step <= 20; ++step) {
        const float iscale =
            (static_cast<float>(nmax) - 1.0f + 0.1f * static_cast<float>(step)) / (mx - mn);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int j = 0; j < n; ++j) {
            const float q = static_cast<float>(clampi(nearest(iscale * (x[j] - mn)), 0, nmax));
            sum_l += q;
            sum_l2 += q * q;
            sum_xl += q * x[j];
        }
        const float det = static_cast<float>(n) * sum_l2 - sum_l * sum_l;
        if (det <= 0) continue;
        float scale = (static_cast<float>(n) * sum_xl - sum_x * sum_l) / det;
        float min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (min > 0) { // the format can only subtract: refit the scale alone
            min = 0;
            scale = sum_xl / sum_l2;
        }
        if (!(scale > 0)) continue;
        // The error of this (scale, min) with q re-rounded for it, as it will be stored.
        const float err = error(scale, min, 1.0f / scale);
        if (err < best_err) {
            best_err = err;
            best_scale = scale;
            best_min = min;
        }
    }
    *m_out = -best_min;
    return best_scale;
}

// Fits x ~= scale * q with q in [-nmax, nmax - 1]; the scale is signed so the element of largest
// magnitude can use -nmax. Grid over 19 inverse scales, each with a least-squares scale.
float fit_scale_symmetric(const float *x, int n, int nmax) {
    const float max = signed_absmax(x, n);
    if (std::fabs(max) < 1e-30f) return 0.0f;
    float best_scale = 0, best_score = -1;
    for (int step = -9; step <= 9; ++step) {
        const float iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / max;
        float sum_lx = 0, sum_l2 = 0;
        for (int j = 0; j < n; ++j) {
            const float q = static_cast<float>(clampi(nearest(iscale * x[j]), -nmax, nmax - 1));
            sum_lx += q * x[j];
            sum_l2 += q * q;
        }
        // With the least-squares scale sum_lx / sum_l2 the error is sum x^2 - sum_lx^2 / sum_l2.
        if (sum_l2 > 0 && sum_lx * sum_lx / sum_l2 > best_score) {
            best_score = sum_lx * sum_lx / sum_l2;
            best_scale = sum_lx / sum_l2;
        }
    }
    return best_scale;
}

// Q4_K and Q5_K share everything but the width of q: 8 sub-blocks of 32, x = d*sc*q - dmin*m.
// Writes d, dmin, scales and the per-element q (0..nmax) to `q`.
void quantize_k_asym(const float *x, int nmax, uint16_t *d_out, uint16_t *dmin_out,
                     uint8_t scales[K_SCALE_SIZE], uint8_t q[QK_K]) {
    float scale[8], min[8], max_scale = 0, max_min = 0;
    for (int s = 0; s < 8; ++s) {
        scale[s] = fit_scale_min(x + 32 * s, 32, nmax, &min[s]);
        max_scale = std::max(max_scale, scale[s]);
        max_min = std::max(max_min, min[s]);
    }
    const float d = as_fp16(max_scale / 63.0f), dmin = as_fp16(max_min / 63.0f);
    uint8_t sc[8], m[8];
    for (int s = 0; s < 8; ++s) {
        sc[s] = static_cast<uint8_t>(d > 0 ? clampi(nearest(scale[s] / d), 0, 63) : 0);
        m[s] = static_cast<uint8_t>(dmin > 0 ? clampi(nearest(min[s] / dmin), 0, 63) : 0);
        const float dl = d * sc[s], ml = dmin * m[s];
        for (int j = 0; j < 32; ++j)
            q[32 * s + j] = static_cast<uint8_t>(
                dl > 0 ? clampi(nearest((x[32 * s + j] + ml) / dl), 0, nmax) : 0);
    }
    *d_out = fp32_to_fp16(d);
    *dmin_out = fp32_to_fp16(dmin);
    pack_k4_scales(sc, m, scales);
}

} // namespace

// ---- plain types --------------------------------------------------------------------------------

void quantize_row_f32(const float *src, void *dst, int64_t n) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void quantize_row_f16(const float *src, void *dst, int64_t n) {
    auto *out = static_cast<uint8_t *>(dst);
    for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_fp16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
    }
}

void quantize_row_bf16(const float *src, void *dst, int64_t n) {
    auto *out = static_cast<uint8_t *>(dst);
    for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_bf16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
    }
}

// ---- legacy 32-element formats (ggml's reference algorithms) ------------------------------------

// d = max / -8 so the element of largest magnitude maps to -8; q = x/d + 8 truncated, capped 15.
void quantize_row_q4_0(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK4_0; ++i) {
        const float *x = src + i * QK4_0;
        const float d = signed_absmax(x, QK4_0) / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        BlockQ4_0 b;
        b.d = fp32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; ++j) {
            const int q0 = std::min(15, static_cast<int>(x[j] * id + 8.5f));
            const int q1 = std::min(15, static_cast<int>(x[j + QK4_0 / 2] * id + 8.5f));
            b.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
        }
        store(dst, i, b);
    }
}

// d = (max - min) / 15, m = min; q = (x - min) / d rounded half up, capped 15.
void quantize_row_q4_1(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK4_1; ++i) {
        const float *x = src + i * QK4_1;
        float mn = FLT_MAX, mx = -FLT_MAX;
        for (int j = 0; j < QK4_1; ++j) {
            mn = std::min(mn, x[j]);
            mx = std::max(mx, x[j]);
        }
        const float d = (mx - mn) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        BlockQ4_1 b;
        b.d = fp32_to_fp16(d);
        b.m = fp32_to_fp16(mn);
        for (int j = 0; j < QK4_1 / 2; ++j) {
            const int q0 = std::min(15, static_cast<int>((x[j] - mn) * id + 0.5f));
            const int q1 = std::min(15, static_cast<int>((x[j + QK4_1 / 2] - mn) * id + 0.5f));
            b.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
        }
        store(dst, i, b);
    }
}

// As Q4_0 with d = max / -16 and 5 bits; bit 4 of element j goes to bit j of qh.
void quantize_row_q5_0(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK5_0; ++i) {
        const float *x = src + i * QK5_0;
        const float d = signed_absmax(x, QK5_0) / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        BlockQ5_0 b;
        b.d = fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; ++j) {
            const int q0 = std::min(31, static_cast<int>(x[j] * id + 16.5f));
            const int q1 = std::min(31, static_cast<int>(x[j + QK5_0 / 2] * id + 16.5f));
            b.qs[j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= static_cast<uint32_t>(q0 >> 4) << j;
            qh |= static_cast<uint32_t>(q1 >> 4) << (j + QK5_0 / 2);
        }
        std::memcpy(b.qh, &qh, sizeof qh);
        store(dst, i, b);
    }
}

// As Q4_1 with d = (max - min) / 31 and 5 bits.
void quantize_row_q5_1(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK5_1; ++i) {
        const float *x = src + i * QK5_1;
        float mn = FLT_MAX, mx = -FLT_MAX;
        for (int j = 0; j < QK5_1; ++j) {
            mn = std::min(mn, x[j]);
            mx = std::max(mx, x[j]);
        }
        const float d = (mx - mn) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        BlockQ5_1 b;
        b.d = fp32_to_fp16(d);
        b.m = fp32_to_fp16(mn);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; ++j) {
            const int q0 = std::min(31, static_cast<int>((x[j] - mn) * id + 0.5f));
            const int q1 = std::min(31, static_cast<int>((x[j + QK5_1 / 2] - mn) * id + 0.5f));
            b.qs[j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= static_cast<uint32_t>(q0 >> 4) << j;
            qh |= static_cast<uint32_t>(q1 >> 4) << (j + QK5_1 / 2);
        }
        std::memcpy(b.qh, &qh, sizeof qh);
        store(dst, i, b);
    }
}

// ---- k-quants -----------------------------------------------------------------------------------

// 16 sub-blocks of 16, q in 0..3, 4-bit scale (low nibble) and min (high nibble).
// Element e = 128*h + 32*j + l sits in qs[32*h + l] at bit 2*j.
void quantize_row_q2_K(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float *x = src + i * QK_K;
        float scale[16], min[16], max_scale = 0, max_min = 0;
        for (int s = 0; s < 16; ++s) {
            scale[s] = fit_scale_min(x + 16 * s, 16, 3, &min[s]);
            max_scale = std::max(max_scale, scale[s]);
            max_min = std::max(max_min, min[s]);
        }
        const float d = as_fp16(max_scale / 15.0f), dmin = as_fp16(max_min / 15.0f);
        BlockQ2_K b;
        std::memset(&b, 0, sizeof b);
        for (int s = 0; s < 16; ++s) {
            const int sc = d > 0 ? clampi(nearest(scale[s] / d), 0, 15) : 0;
            const int m = dmin > 0 ? clampi(nearest(min[s] / dmin), 0, 15) : 0;
            b.scales[s] = static_cast<uint8_t>(sc | (m << 4));
            const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(m);
            for (int k = 0; k < 16; ++k) {
                const int e = 16 * s + k;
                const int q = dl > 0 ? clampi(nearest((x[e] + ml) / dl), 0, 3) : 0;
                b.qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>(q << (2 * ((e % 128) / 32)));
            }
        }
        b.d = fp32_to_fp16(d);
        b.dmin = fp32_to_fp16(dmin);
        store(dst, i, b);
    }
}

// 16 sub-blocks of 16, q in -4..3 stored as q + 4: low 2 bits in qs (as Q2_K), bit 2 in hmask
// (byte e % 32, bit e / 32); 6-bit scales stored + 32. d = max_scale / -32 as ggml.
void quantize_row_q3_K(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float *x = src + i * QK_K;
        float scale[16];
        for (int s = 0; s < 16; ++s)
            scale[s] = fit_scale_symmetric(x + 16 * s, 16, 4);
        const float max_scale = signed_absmax(scale, 16);
        BlockQ3_K b;
        std::memset(&b, 0, sizeof b);
        uint8_t sc[16];
        float d = 0;
        if (max_scale != 0) d = as_fp16(max_scale / -32.0f);
        for (int s = 0; s < 16; ++s) {
            const int l = d != 0 ? clampi(nearest(scale[s] / d), -32, 31) : 0;
            sc[s] = static_cast<uint8_t>(l + 32);
            const float dl = d * static_cast<float>(l);
            for (int k = 0; k < 16; ++k) {
                const int e = 16 * s + k;
                const int q = (dl != 0 ? clampi(nearest(x[e] / dl), -4, 3) : 0) + 4;
                b.qs[32 * (e / 128) + e % 32] |=
                    static_cast<uint8_t>((q & 3) << (2 * ((e % 128) / 32)));
                if (q & 4) b.hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
            }
        }
        pack_q3_scales(sc, b.scales);
        b.d = fp32_to_fp16(d);
        store(dst, i, b);
    }
}

// Element 64*c + l is the low nibble of qs[32*c + l], element 64*c + 32 + l the high nibble.
void quantize_row_q4_K(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) {
        BlockQ4_K b;
        uint8_t q[QK_K];
        quantize_k_asym(src + i * QK_K, 15, &b.d, &b.dmin, b.scales, q);
        for (int c = 0; c < 4; ++c)
            for (int l = 0; l < 32; ++l)
                b.qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
        store(dst, i, b);
    }
}

// As Q4_K; bit 4 of element 64*c + l goes to qh[l] bit 2c, of 64*c + 32 + l to bit 2c + 1.
void quantize_row_q5_K(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) {
        BlockQ5_K b;
        uint8_t q[QK_K];
        quantize_k_asym(src + i * QK_K, 31, &b.d, &b.dmin, b.scales, q);
        std::memset(b.qh, 0, sizeof b.qh);
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                const int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
                b.qs[32 * c + l] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
                b.qh[l] |=
                    static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
            }
        }
        store(dst, i, b);
    }
}

// 16 sub-blocks of 16, q in -32..31 stored + 32, int8 scales with d = max_scale / -128 (ggml).
// Element e = 128*h + 32*j + l: low nibble in ql[64*h + 32*(j&1) + l] (high half for j >= 2),
// top 2 bits in qh[32*h + l] at bit 2*j.
void quantize_row_q6_K(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float *x = src + i * QK_K;
        float scale[16];
        for (int s = 0; s < 16; ++s)
            scale[s] = fit_scale_symmetric(x + 16 * s, 16, 32);
        const float max_scale = signed_absmax(scale, 16);
        BlockQ6_K b;
        std::memset(&b, 0, sizeof b);
        float d = 0;
        if (max_scale != 0) d = as_fp16(max_scale / -128.0f);
        for (int s = 0; s < 16; ++s) {
            const int l = d != 0 ? clampi(nearest(scale[s] / d), -128, 127) : 0;
            b.scales[s] = static_cast<int8_t>(l);
            const float dl = d * static_cast<float>(l);
            for (int k = 0; k < 16; ++k) {
                const int e = 16 * s + k;
                const int q = (dl != 0 ? clampi(nearest(x[e] / dl), -32, 31) : 0) + 32;
                const int h = e / 128, j = (e % 128) / 32, el = e % 32;
                b.ql[64 * h + 32 * (j & 1) + el] |=
                    static_cast<uint8_t>((q & 0x0f) << (j < 2 ? 0 : 4));
                b.qh[32 * h + el] |= static_cast<uint8_t>((q >> 4) << (2 * j));
            }
        }
        b.d = fp32_to_fp16(d);
        store(dst, i, b);
    }
}

// ---- Codebook formats (IQ4_NL, IQ4_XS): each element the table value nearest x / scale -------
// The scale maps the group's largest magnitude onto the table's end on its side (-127 or 113),
// the plain rule; ggml's quantizers also search nearby scales with importance weights, so their
// bytes differ while the error is of the same order.

namespace {

// The index of the kValuesIQ4NL entry nearest v (the table is sorted ascending).
uint8_t nearest_iq4(float v) {
    int best = 0;
    for (int j = 1; j < 16; ++j)
        if (std::fabs(v - kValuesIQ4NL[j]) < std::fabs(v - kValuesIQ4NL[best])) best = j;
    return static_cast<uint8_t>(best);
}

// The scale putting x's largest-magnitude element (signed) on the table's end on its side.
float iq4_scale(float signed_max) {
    return signed_max < 0 ? signed_max / static_cast<float>(kValuesIQ4NL[0])
                          : signed_max / static_cast<float>(kValuesIQ4NL[15]);
}

// 32 elements into 16 bytes of nibbles (element j low, j + 16 high) at scale d (0: all index of 1).
void iq4_nibbles(const float *x, float d, uint8_t *qs) {
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 16; ++j)
        qs[j] = static_cast<uint8_t>(nearest_iq4(x[j] * id) | (nearest_iq4(x[j + 16] * id) << 4));
}

} // namespace

void quantize_row_iq4_nl(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK4_NL; ++i) {
        const float *x = src + i * QK4_NL;
        BlockIQ4_NL b{};
        const float d = as_fp16(iq4_scale(signed_absmax(x, QK4_NL)));
        b.d = fp32_to_fp16(d);
        iq4_nibbles(x, d, b.qs);
        store(dst, i, b);
    }
}

// Sub-block scales (ls - 32) * d with 6-bit ls: d maps the largest sub-block scale onto -32 or
// 31 (its sign), the others round to their nearest multiple of d.
void quantize_row_iq4_xs(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float *x = src + i * QK_K;
        float scales[QK_K / 32];
        float max = 0.0f;
        for (int g = 0; g < QK_K / 32; ++g) {
            scales[g] = iq4_scale(signed_absmax(x + 32 * g, 32));
            if (std::fabs(scales[g]) > std::fabs(max)) max = scales[g];
        }
        BlockIQ4_XS b{};
        const float d = as_fp16(max < 0 ? max / -32.0f : max / 31.0f);
        b.d = fp32_to_fp16(d);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int g = 0; g < QK_K / 32; ++g) {
            const int ls = clampi(nearest(scales[g] * id), -32, 31) + 32;
            b.scales_l[g / 2] |= static_cast<uint8_t>((ls & 0xF) << (4 * (g % 2)));
            b.scales_h |= static_cast<uint16_t>((ls >> 4) << (2 * g));
            iq4_nibbles(x + 32 * g, d * static_cast<float>(ls - 32), b.qs + 16 * g);
        }
        store(dst, i, b);
    }
}

// ---- MXFP4: ggml's quantize_row_mxfp4_ref operation for operation -------------------------------
// The shared exponent puts the block's largest magnitude in [4, 8) times the E8M0 scale (it may
// then exceed the largest value, 6, and clip); each element takes the kValuesMXFP4 entry nearest
// x / d, the first on ties. The exponent comes from log2f as in ggml (not an exact frexp), so
// that magnitudes just below a power of two round the same way and the bytes stay ggml's.

namespace {

// ggml's best_index_mxfp4: the index minimizing |value * d - x|, the first minimum on ties.
uint8_t best_index_mxfp4(float x, float d) {
    int best = 0;
    float best_err = std::fabs(static_cast<float>(kValuesMXFP4[0]) * d - x);
    for (int i = 1; i < 16; ++i) {
        const float err = std::fabs(static_cast<float>(kValuesMXFP4[i]) * d - x);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return static_cast<uint8_t>(best);
}

} // namespace

void quantize_row_mxfp4(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK_MXFP4; ++i) {
        const float *x = src + i * QK_MXFP4;
        float amax = 0.0f;
        for (int j = 0; j < QK_MXFP4; ++j)
            amax = std::max(amax, std::fabs(x[j]));
        // ggml converts the float straight to uint8_t; through int the out-of-range exponents of
        // magnitudes below 2^-125 wrap as they do there on x86, and the conversion is defined.
        const uint8_t e = amax > 0.0f ? static_cast<uint8_t>(static_cast<int>(
                                            std::floor(std::log2(amax)) - 2.0f + 127.0f))
                                      : 0;
        const float d = e8m0_to_fp32_half(e);
        BlockMXFP4 b;
        b.e = e;
        for (int j = 0; j < QK_MXFP4 / 2; ++j)
            b.qs[j] = static_cast<uint8_t>(best_index_mxfp4(x[j], d) |
                                           (best_index_mxfp4(x[j + QK_MXFP4 / 2], d) << 4));
        store(dst, i, b);
    }
}

bool weight_type_supported(uint32_t type) {
    switch (static_cast<TypeId>(type)) {
    case TypeId::F32:
    case TypeId::F16:
    case TypeId::BF16:
    case TypeId::Q8_0:
    case TypeId::Q4_0:
    case TypeId::Q4_1:
    case TypeId::Q5_0:
    case TypeId::Q5_1:
    case TypeId::Q2_K:
    case TypeId::Q3_K:
    case TypeId::Q4_K:
    case TypeId::Q5_K:
    case TypeId::Q6_K:
    case TypeId::IQ4_NL:
    case TypeId::IQ4_XS:
    case TypeId::MXFP4:
        return true;
    default:
        return false;
    }
}

bool quantize_row_weights(uint32_t type, const float *src, void *dst, int64_t n) {
    const TypeTraits *traits = type_traits(type);
    if (!traits || !weight_type_supported(type) || n < 0 || n % traits->block_elems != 0)
        return false;
    switch (static_cast<TypeId>(type)) {
    case TypeId::F32:
        quantize_row_f32(src, dst, n);
        break;
    case TypeId::F16:
        quantize_row_f16(src, dst, n);
        break;
    case TypeId::BF16:
        quantize_row_bf16(src, dst, n);
        break;
    case TypeId::Q8_0:
        quantize_row_q8_0_ref(src, dst, n);
        break;
    case TypeId::Q4_0:
        quantize_row_q4_0(src, dst, n);
        break;
    case TypeId::Q4_1:
        quantize_row_q4_1(src, dst, n);
        break;
    case TypeId::Q5_0:
        quantize_row_q5_0(src, dst, n);
        break;
    case TypeId::Q5_1:
        quantize_row_q5_1(src, dst, n);
        break;
    case TypeId::Q2_K:
        quantize_row_q2_K(src, dst, n);
        break;
    case TypeId::Q3_K:
        quantize_row_q3_K(src, dst, n);
        break;
    case TypeId::Q4_K:
        quantize_row_q4_K(src, dst, n);
        break;
    case TypeId::Q5_K:
        quantize_row_q5_K(src, dst, n);
        break;
    case TypeId::Q6_K:
        quantize_row_q6_K(src, dst, n);
        break;
    case TypeId::IQ4_NL:
        quantize_row_iq4_nl(src, dst, n);
        break;
    case TypeId::IQ4_XS:
        quantize_row_iq4_xs(src, dst, n);
        break;
    case TypeId::MXFP4:
        quantize_row_mxfp4(src, dst, n);
        break;
    default:
        return false;
    }
    return true;
}

} // namespace infer
