// The AVX2/FMA/F16C pieces more than one kernel file builds on: exp_approx's constants and its
// eight-lane form, and horizontal reductions. Functions carry the target attribute (INFER_AVX2),
// so including files need no -m flags; call them only where cpu_isa_available(CpuIsa::Avx2) holds.
#pragma once

namespace infer::cpu::vec_detail {

// exp_approx: e^x = 2^n e^r with n = nearest(x log2 e) and r = x - n ln 2 in two steps (Cody and
// Waite's split of ln 2), e^r from Cephes' expf polynomial, 2^n added to the exponent bits.
// Every multiply-add is an explicit FMA: the compiler may fuse a separate multiply and add in the
// vector code but not in the scalar code, and the two must agree bit for bit.
constexpr float kExpLo = -86.0f; // 2^n stays normal down here
constexpr float kExpHi = 88.0f;  // and finite up here
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kExpPoly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                               4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

} // namespace infer::cpu::vec_detail

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define INFER_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace infer::cpu::vec_detail {

INFER_AVX2 inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INFER_AVX2 inline __m256 exp_avx2(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kExpLo)), _mm256_set1_ps(kExpHi));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
    __m256 p = _mm256_set1_ps(kExpPoly[0]);
    for (int i = 1; i < 6; i++)
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpPoly[i]));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
}

} // namespace infer::cpu::vec_detail
#endif
