// Vector primitives: scalar versions, AVX2/FMA/F16C versions compiled with a target attribute (so
// the rest of the library needs no -mavx2), NEON versions on AArch64 (cpu_vec_neon.inc), and the
// run-time choice between them.
// The AVX2 versions differ from the scalar ones only in summation order (and FMA's single
// rounding); elementwise ones (axpy without FMA excepted, scale, scale_mul) give identical bits.
#include "cpu/cpu_vec.h"
#include "cpu/cpu_vec_avx2.h"

#include "core/fp16.h"
#include "cpu/cpu_isa.h"
#include "cpu/cpu_ops.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <type_traits>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define INFER_CPU_X86 1
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace infer::cpu {
namespace {
using namespace vec_detail;

constexpr float kGeluC = 0.79788456080286535587989211986876f; // sqrt(2 / pi)
constexpr float kGeluA = 0.044715f;

// ---- Scalar ------------------------------------------------------------------------------------

void to_f16_scalar(uint16_t *y, const float *x, int n) {
    for (int i = 0; i < n; i++)
        y[i] = fp32_to_fp16(x[i]);
}

void gelu_mul_scalar(float *y, const float *g, const float *u, int n) {
    for (int i = 0; i < n; i++)
        y[i] = gelu_tanh_approx(g[i]) * u[i];
}

void silu_mul_scalar(float *y, const float *g, const float *u, int n) {
    for (int i = 0; i < n; i++)
        y[i] = silu_approx(g[i]) * u[i];
}

float widen(float x) { return x; }
float widen(uint16_t h) { return fp16_to_fp32(h); }

template <typename T>
void dot_scalar(const float *a, int a_stride, int na, const T *b, int n, float *out) {
    for (int r = 0; r < na; r++) {
        const float *ar = a + r * a_stride;
        float sum = 0.0f;
        for (int i = 0; i < n; i++)
            sum += ar[i] * widen(b[i]);
        out[r] = sum;
    }
}

template <typename T>
void axpy_scalar(float *y, int y_stride, int ny, const float *s, const T *x, int n) {
    for (int r = 0; r < ny; r++)
        for (int i = 0; i < n; i++)
            y[r * y_stride + i] += s[r] * widen(x[i]);
}

void scale_scalar(float *y, float s, int n) {
    for (int i = 0; i < n; i++)
        y[i] *= s;
}

double sum_squares_scalar(const float *x, int n) {
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += double(x[i] * x[i]);
    return sum;
}

void scale_mul_scalar(float *y, const float *x, float s, const float *w, int n) {
    if (w) {
        for (int i = 0; i < n; i++)
            y[i] = (x[i] * s) * w[i];
    } else {
        for (int i = 0; i < n; i++)
            y[i] = x[i] * s;
    }
}

const VecOps k_scalar = {dot_scalar<float>,     dot_scalar<uint16_t>, axpy_scalar<float>,
                         axpy_scalar<uint16_t>, scale_scalar,         sum_squares_scalar,
                         scale_mul_scalar,      to_f16_scalar,        gelu_mul_scalar,
                         silu_mul_scalar};

// ---- AVX2 / FMA / F16C -------------------------------------------------------------------------
#if INFER_CPU_X86

INFER_AVX2 inline __m256 load_f16x8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}

INFER_AVX2 inline __m256 load8(const float *p) { return _mm256_loadu_ps(p); }
INFER_AVX2 inline __m256 load8(const uint16_t *p) { return load_f16x8(p); }

template <typename T, int NA>
INFER_AVX2 void dot_rows_avx2(const float *a, int a_stride, const T *b, int n, float *out) {
    __m256 acc0[NA], acc1[NA];
    for (int r = 0; r < NA; r++)
        acc0[r] = acc1[r] = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) { // two chains hide the FMA latency
        const __m256 b0 = load8(b + i), b1 = load8(b + i + 8);
        for (int r = 0; r < NA; r++) {
            acc0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(a + r * a_stride + i), b0, acc0[r]);
            acc1[r] = _mm256_fmadd_ps(_mm256_loadu_ps(a + r * a_stride + i + 8), b1, acc1[r]);
        }
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 b0 = load8(b + i);
        for (int r = 0; r < NA; r++)
            acc0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(a + r * a_stride + i), b0, acc0[r]);
    }
    for (int r = 0; r < NA; r++) {
        float sum = hsum(_mm256_add_ps(acc0[r], acc1[r]));
        for (int j = i; j < n; j++)
            sum += a[r * a_stride + j] * widen(b[j]);
        out[r] = sum;
    }
}

template <typename T, int NY>
INFER_AVX2 void axpy_rows_avx2(float *y, int y_stride, const float *s, const T *x, int n) {
    __m256 vs[NY];
    for (int r = 0; r < NY; r++)
        vs[r] = _mm256_set1_ps(s[r]);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 xv = load8(x + i);
        for (int r = 0; r < NY; r++) {
            float *yr = y + r * y_stride + i;
            _mm256_storeu_ps(yr, _mm256_fmadd_ps(vs[r], xv, _mm256_loadu_ps(yr)));
        }
    }
    for (; i < n; i++)
        for (int r = 0; r < NY; r++)
            y[r * y_stride + i] += s[r] * widen(x[i]);
}

template <typename T>
void dot_avx2(const float *a, int a_stride, int na, const T *b, int n, float *out) {
    with_rows(na, [&](auto rows) { dot_rows_avx2<T, rows.value>(a, a_stride, b, n, out); });
}

template <typename T>
void axpy_avx2(float *y, int y_stride, int ny, const float *s, const T *x, int n) {
    with_rows(ny, [&](auto rows) { axpy_rows_avx2<T, rows.value>(y, y_stride, s, x, n); });
}

INFER_AVX2 void scale_avx2(float *y, float s, int n) {
    const __m256 vs = _mm256_set1_ps(s);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), vs));
    for (; i < n; i++)
        y[i] *= s;
}

INFER_AVX2 double sum_squares_avx2(const float *x, int n) {
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 sq = _mm256_mul_ps(v, v); // rounded to float, as ggml does
        acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
        acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
    }
    alignas(32) double lanes[4];
    _mm256_store_pd(lanes, _mm256_add_pd(acc0, acc1));
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++)
        sum += double(x[i] * x[i]);
    return sum;
}

INFER_AVX2 void scale_mul_avx2(float *y, const float *x, float s, const float *w, int n) {
    const __m256 vs = _mm256_set1_ps(s);
    int i = 0;
    if (w) {
        for (; i + 8 <= n; i += 8) {
            const __m256 xs = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
            _mm256_storeu_ps(y + i, _mm256_mul_ps(xs, _mm256_loadu_ps(w + i)));
        }
        for (; i < n; i++)
            y[i] = (x[i] * s) * w[i];
    } else {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
        for (; i < n; i++)
            y[i] = x[i] * s;
    }
}

INFER_AVX2 void to_f16_avx2(uint16_t *y, const float *x, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i *>(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = fp32_to_fp16(x[i]);
}

// The tail goes through the scalar function, which computes the same bits.
INFER_AVX2 void gelu_mul_avx2(float *y, const float *g, const float *u, int n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        const __m256 t = _mm256_fmadd_ps(_mm256_set1_ps(kGeluA), _mm256_mul_ps(x, x), one);
        const __m256 arg = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f * kGeluC), x), t);
        const __m256 a = _mm256_div_ps(x, _mm256_add_ps(one, exp_avx2(arg)));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(a, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        y[i] = gelu_tanh_approx(g[i]) * u[i];
}

// The tail goes through the scalar function, which computes the same bits.
INFER_AVX2 void silu_mul_avx2(float *y, const float *g, const float *u, int n) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        const __m256 s = _mm256_div_ps(x, _mm256_add_ps(one, exp_avx2(_mm256_xor_ps(x, sign))));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        y[i] = silu_approx(g[i]) * u[i];
}

const VecOps k_avx2 = {dot_avx2<float>, dot_avx2<uint16_t>, axpy_avx2<float>, axpy_avx2<uint16_t>,
                       scale_avx2,      sum_squares_avx2,   scale_mul_avx2,   to_f16_avx2,
                       gelu_mul_avx2,   silu_mul_avx2};

// The one detection (cpu_isa.cpp): AVX2 + FMA + F16C.
bool cpu_has_simd() { return cpu_isa_available(CpuIsa::Avx2); }
#elif defined(__aarch64__)
#include "cpu/cpu_vec_neon.inc"
// Advanced SIMD (with fp16 conversions and FMA) is part of every ARMv8-A core.
bool cpu_has_simd() { return true; }
#else
bool cpu_has_simd() { return false; }
#endif // INFER_CPU_X86

std::atomic<bool> g_simd_disabled{false};

} // namespace

float exp_approx(float x) {
    x = std::fmin(std::fmax(x, kExpLo), kExpHi);
    const float n = std::nearbyint(x * kLog2e);
    float r = std::fma(-n, kLn2Hi, x);
    r = std::fma(-n, kLn2Lo, r);
    float p = kExpPoly[0];
    for (int i = 1; i < 6; i++)
        p = std::fma(p, r, kExpPoly[i]);
    p = std::fma(p, r * r, r) + 1.0f;
    uint32_t bits;
    std::memcpy(&bits, &p, sizeof bits);
    bits += static_cast<uint32_t>(static_cast<int32_t>(n)) << 23;
    std::memcpy(&p, &bits, sizeof p);
    return p;
}

float gelu_tanh_approx(float x) {
    const float t = std::fma(kGeluA, x * x, 1.0f);
    return x / (1.0f + exp_approx(((-2.0f * kGeluC) * x) * t));
}

float silu_approx(float x) { return x / (1.0f + exp_approx(-x)); }

const VecOps &vec_ops_scalar() { return k_scalar; }

bool simd_active() {
    static const bool has = cpu_has_simd();
    return has && !g_simd_disabled.load(std::memory_order_relaxed);
}

void simd_disable_for_testing(bool disable) {
    g_simd_disabled.store(disable, std::memory_order_relaxed);
}

const VecOps &vec_ops() {
#if INFER_CPU_X86
    if (simd_active()) return k_avx2;
#elif defined(__aarch64__)
    if (simd_active()) return k_neon;
#endif
    return k_scalar;
}

} // namespace infer::cpu
