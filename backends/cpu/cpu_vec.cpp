// Vector primitives: scalar versions, AVX2/FMA/F16C versions compiled with a target attribute (so
// the rest of the library needs no -mavx2), and the run-time choice between them.
// The AVX2 versions differ from the scalar ones only in summation order (and FMA's single
// rounding); elementwise ones (axpy without FMA excepted, scale, scale_mul) give identical bits.
#include "cpu/cpu_vec.h"

#include "core/fp16.h"
#include "cpu/cpu_ops.h"

#include <atomic>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define INFER_CPU_X86 1
#endif

namespace infer::cpu {
namespace {

// ---- Scalar ------------------------------------------------------------------------------------

float dot_f32_scalar(const float *a, const float *b, int n) {
    float sum = 0.0f;
    for (int i = 0; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

float dot_f16_scalar(const float *a, const uint16_t *b, int n) {
    float sum = 0.0f;
    for (int i = 0; i < n; i++)
        sum += a[i] * fp16_to_fp32(b[i]);
    return sum;
}

void axpy_f32_scalar(float *y, float s, const float *x, int n) {
    for (int i = 0; i < n; i++)
        y[i] += s * x[i];
}

void axpy_f16_scalar(float *y, float s, const uint16_t *x, int n) {
    for (int i = 0; i < n; i++)
        y[i] += s * fp16_to_fp32(x[i]);
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

const VecOps k_scalar = {dot_f32_scalar, dot_f16_scalar,     axpy_f32_scalar, axpy_f16_scalar,
                         scale_scalar,   sum_squares_scalar, scale_mul_scalar};

// ---- AVX2 / FMA / F16C -------------------------------------------------------------------------
#if INFER_CPU_X86
#define INFER_AVX2 __attribute__((target("avx2,fma,f16c")))

INFER_AVX2 inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INFER_AVX2 inline __m256 load_f16x8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}

INFER_AVX2 float dot_f32_avx2(const float *a, const float *b, int n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) { // two chains hide the FMA latency
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float sum = hsum(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

INFER_AVX2 float dot_f16_avx2(const float *a, const uint16_t *b, int n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_f16x8(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load_f16x8(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_f16x8(b + i), acc0);
    float sum = hsum(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        sum += a[i] * fp16_to_fp32(b[i]);
    return sum;
}

INFER_AVX2 void axpy_f32_avx2(float *y, float s, const float *x, int n) {
    const __m256 vs = _mm256_set1_ps(s);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(vs, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += s * x[i];
}

INFER_AVX2 void axpy_f16_avx2(float *y, float s, const uint16_t *x, int n) {
    const __m256 vs = _mm256_set1_ps(s);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(vs, load_f16x8(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += s * fp16_to_fp32(x[i]);
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

const VecOps k_avx2 = {dot_f32_avx2, dot_f16_avx2,     axpy_f32_avx2, axpy_f16_avx2,
                       scale_avx2,   sum_squares_avx2, scale_mul_avx2};

bool cpu_has_avx2() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
}
#else
bool cpu_has_avx2() { return false; }
#endif // INFER_CPU_X86

std::atomic<bool> g_simd_disabled{false};

} // namespace

const VecOps &vec_ops_scalar() { return k_scalar; }

bool simd_active() {
    static const bool has = cpu_has_avx2();
    return has && !g_simd_disabled.load(std::memory_order_relaxed);
}

void simd_disable_for_testing(bool disable) {
    g_simd_disabled.store(disable, std::memory_order_relaxed);
}

const VecOps &vec_ops() {
#if INFER_CPU_X86
    if (simd_active()) return k_avx2;
#endif
    return k_scalar;
}

} // namespace infer::cpu
