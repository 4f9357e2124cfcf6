// Activation quantizers, scalar, AVX2 and NEON (see cpu_quantize_act.h).
//
// Bit-identity with the scalar code is the point, so the AVX2 code mirrors its arithmetic:
//  - Q8_0/Q8_1: d = amax / 127, id = 1 / d (not 127 / amax, which can differ in the last bit),
//    q = roundf(x * id): round half away from zero, built from truncation (cvtps rounds half
//    to even, which ggml's own AVX2 quantizer uses and which differs from its reference).
//  - Q8_K: iscale = -127 / max (max = the element of largest magnitude, with its sign),
//    q = min(127, nearest_int(iscale * x)): round half to even, as the magic-number trick does.
#include "cpu/cpu_quantize_act.h"

#include "core/blocks.h"
#include "core/fp16.h"
#include "core/types.h"

#include <cmath>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>

#include <type_traits>
#endif

namespace infer::cpu {

#if defined(__x86_64__)

#define INFER_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace {

INFER_AVX2 inline float hmax_abs_32(const float *x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
    for (int j = 8; j < 32; j += 8)
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

// roundf(v) for |v| < 2^23: truncate, then step away from zero when the dropped part is >= 0.5
// (v - trunc(v) is exact, so the comparison is too).
INFER_AVX2 inline __m256i round_half_away(__m256 v) {
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    const __m256 step = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                      _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(sign, v)));
    return _mm256_cvttps_epi32(_mm256_add_ps(t, step));
}

// Packs 4 x 8 int32 (each in [-127, 127]) into 32 int8 in element order.
INFER_AVX2 inline __m256i pack_32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b); // lanes interleave per 128 bits
    const __m256i cd = _mm256_packs_epi32(c, d);
    const __m256i all = _mm256_packs_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(all, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Quantizes 32 floats with multiplier id, half away from zero; returns the int8 vector.
INFER_AVX2 inline __m256i quantize_32(const float *x, __m256 id, __m256i *sum32) {
    __m256i q[4];
    for (int j = 0; j < 4; ++j)
        q[j] = round_half_away(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * j), id));
    if (sum32) {
        *sum32 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    }
    return pack_32(q[0], q[1], q[2], q[3]);
}

INFER_AVX2 inline int hsum_i32_8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

} // namespace

INFER_AVX2 void quantize_act_q8_0_avx2(const float *x, void *dst, int64_t n) {
    uint8_t *out = static_cast<uint8_t *>(dst);
    for (int64_t ib = 0; ib < n / QK8_0; ++ib, x += QK8_0) {
        const float d = hmax_abs_32(x) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        BlockQ8_0 b;
        b.d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(b.qs),
                            quantize_32(x, _mm256_set1_ps(id), nullptr));
        std::memcpy(out + ib * sizeof b, &b, sizeof b);
    }
}

INFER_AVX2 void quantize_act_q8_1_avx2(const float *x, void *dst, int64_t n) {
    uint8_t *out = static_cast<uint8_t *>(dst);
    for (int64_t ib = 0; ib < n / QK8_1; ++ib, x += QK8_1) {
        const float d = hmax_abs_32(x) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        BlockQ8_1 b;
        __m256i sum;
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(b.qs),
                            quantize_32(x, _mm256_set1_ps(id), &sum));
        b.d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        b.s = _cvtss_sh(static_cast<float>(hsum_i32_8(sum)) * d, _MM_FROUND_TO_NEAREST_INT);
        std::memcpy(out + ib * sizeof b, &b, sizeof b);
    }
}

INFER_AVX2 void quantize_act_q8_K_avx2(const float *x, void *dst, int64_t n) {
    uint8_t *out = static_cast<uint8_t *>(dst);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t ib = 0; ib < n / QK_K; ++ib, x += QK_K) {
        BlockQ8_K b;
        // The scalar code keeps the first element of largest magnitude; ties in magnitude with
        // opposite signs would pick differently here, so find amax first, then its first index.
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 8)
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h);
        if (amax == 0.0f) {
            std::memset(&b, 0, sizeof b);
            std::memcpy(out + ib * sizeof b, &b, sizeof b);
            continue;
        }
        float max = 0.0f;
        for (int j = 0; j < QK_K; j += 8) {
            const __m256 mag = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j));
            const int hit =
                _mm256_movemask_ps(_mm256_cmp_ps(mag, _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (hit) {
                max = x[j + __builtin_ctz(static_cast<unsigned>(hit))];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i v127 = _mm256_set1_epi32(127);
        for (int j = 0; j < QK_K; j += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; ++k) {
                // cvtps rounds to nearest even under the default MXCSR mode, like nearest_int.
                q[k] = _mm256_min_epi32(
                    _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * k), vs)), v127);
            }
            const __m256i q8 = pack_32(q[0], q[1], q[2], q[3]);
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(b.qs + j), q8);
            // Two group sums of 16: widen to int16, pairwise-add to int32, then fold.
            const __m256i w = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(q8)),
                                                _mm256_set1_epi16(1));
            const __m256i w2 = _mm256_madd_epi16(
                _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q8, 1)), _mm256_set1_epi16(1));
            b.bsums[j / 16] = static_cast<int16_t>(hsum_i32_8(w));
            b.bsums[j / 16 + 1] = static_cast<int16_t>(hsum_i32_8(w2));
        }
        b.d = 1.0f / iscale;
        std::memcpy(out + ib * sizeof b, &b, sizeof b);
    }
}

#undef INFER_AVX2

#endif

#if defined(__aarch64__)

// The same arithmetic in NEON (baseline: FCVTAS rounds half away from zero as roundf does,
// FCVTNS to nearest even as nearest_int does; the saturating narrows clamp as to_int8; maxNum
// skips NaNs as the references' `>` comparisons do).
namespace {

float amax_neon(const float *x, int n) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int j = 0; j < n; j += 4)
        m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + j)));
    return vmaxnmvq_f32(m);
}

// 16 int32 lanes, each within int8 after saturation, as 16 int8 in order.
int8x16_t narrow_16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
    return vcombine_s8(vqmovn_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b))),
                       vqmovn_s16(vcombine_s16(vqmovn_s32(c), vqmovn_s32(d))));
}

// q = roundf(x * id) clamped to int8, 32 of them; returns their sum.
int quantize_32_away(const float *x, float id, int8_t *q) {
    int sum = 0;
    for (int h = 0; h < 32; h += 16) {
        int32x4_t v[4];
        for (int i = 0; i < 4; ++i)
            v[i] = vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + h + 4 * i), id));
        const int8x16_t q16 = narrow_16(v[0], v[1], v[2], v[3]);
        vst1q_s8(q + h, q16);
        sum += vaddlvq_s8(q16);
    }
    return sum;
}

template <bool kSum> void quantize_q8_01_neon(const float *src, void *dst, int64_t n) {
    using Block = std::conditional_t<kSum, BlockQ8_1, BlockQ8_0>;
    for (int64_t i = 0; i < n / 32; ++i) {
        const float *x = src + i * 32;
        const float d = amax_neon(x, 32) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        Block b;
        b.d = fp32_to_fp16(d);
        const int sum = quantize_32_away(x, id, b.qs);
        if constexpr (kSum) b.s = fp32_to_fp16(static_cast<float>(sum) * d);
        std::memcpy(static_cast<uint8_t *>(dst) + i * int64_t(sizeof(Block)), &b, sizeof b);
    }
}

} // namespace

void quantize_act_q8_0_neon(const float *x, void *dst, int64_t n) {
    quantize_q8_01_neon<false>(x, dst, n);
}
void quantize_act_q8_1_neon(const float *x, void *dst, int64_t n) {
    quantize_q8_01_neon<true>(x, dst, n);
}

void quantize_act_q8_K_neon(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float *x = src + i * QK_K;
        BlockQ8_K b;
        std::memset(&b, 0, sizeof b);
        const float amax = amax_neon(x, QK_K);
        if (amax != 0.0f) {
            int first = 0; // the first element of largest magnitude, as the reference's `>` keeps
            while (std::fabs(x[first]) != amax)
                ++first;
            const float iscale = -127.0f / x[first];
            const int32x4_t top = vdupq_n_s32(127);
            for (int g = 0; g < QK_K / 16; ++g) {
                int32x4_t v[4];
                for (int j = 0; j < 4; ++j)
                    v[j] = vminq_s32(
                        vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 16 * g + 4 * j), iscale)), top);
                const int8x16_t q = narrow_16(v[0], v[1], v[2], v[3]);
                vst1q_s8(b.qs + 16 * g, q);
                b.bsums[g] = vaddlvq_s8(q);
            }
            b.d = 1.0f / iscale;
        }
        std::memcpy(static_cast<uint8_t *>(dst) + i * int64_t(sizeof b), &b, sizeof b);
    }
}

#endif

QuantizeActFn quantize_act_fn(uint32_t act_type, CpuIsa isa) {
    int slot = 0; // Q8_0, Q8_1, Q8_K
    switch (static_cast<TypeId>(act_type)) {
    case TypeId::Q8_0:
        break;
    case TypeId::Q8_1:
        slot = 1;
        break;
    case TypeId::Q8_K:
        slot = 2;
        break;
    default:
        return nullptr;
    }
    static constexpr QuantizeActFn kRef[3] = {quantize_act_q8_0_ref, quantize_act_q8_1_ref,
                                              quantize_act_q8_K_ref};
    // This architecture's SIMD quantizers, for its own levels.
#if defined(__x86_64__)
    static constexpr QuantizeActFn kSimd[3] = {quantize_act_q8_0_avx2, quantize_act_q8_1_avx2,
                                               quantize_act_q8_K_avx2};
    const bool simd = isa == CpuIsa::Avx2 || isa == CpuIsa::Avx512Vnni;
#elif defined(__aarch64__)
    static constexpr QuantizeActFn kSimd[3] = {quantize_act_q8_0_neon, quantize_act_q8_1_neon,
                                               quantize_act_q8_K_neon};
    const bool simd = isa == CpuIsa::Neon || isa == CpuIsa::NeonDotprod || isa == CpuIsa::NeonI8mm;
#else
    const QuantizeActFn *kSimd = kRef;
    const bool simd = false;
#endif
    return simd ? kSimd[slot] : kRef[slot];
}

} // namespace infer::cpu
