// Small vector primitives the CPU kernels are built from, each with a scalar version and an
// AVX2/FMA/F16C version chosen once at run time (__builtin_cpu_supports), so the library runs on
// any x86-64 (and any other CPU through the scalar path) without -mavx2 on the command line.
#pragma once

#include <cstdint>
#include <type_traits>

namespace infer::cpu {

// The most rows the dot and axpy ops take at once.
inline constexpr int kVecRows = 4;

// f(std::integral_constant<int, rows>{}) for rows in 1..kVecRows (more count as kVecRows): the
// row count as a template argument, so that a kernel's accumulators stay in registers.
template <typename F> void with_rows(int rows, F &&f) {
    static_assert(kVecRows == 4);
    switch (rows) {
    case 1:
        return f(std::integral_constant<int, 1>{});
    case 2:
        return f(std::integral_constant<int, 2>{});
    case 3:
        return f(std::integral_constant<int, 3>{});
    default:
        return f(std::integral_constant<int, 4>{});
    }
}

struct VecOps {
    // The rows a_r = a + r * a_stride, r < na <= kVecRows, against one vector b, read once for
    // all of them (attention's query heads that share a kv head): out[r] = sum_i a_r[i] * b[i],
    // with half(b[i]) for f16. Each out[r] has the bits of a call with that row alone.
    void (*dot_f32)(const float *a, int a_stride, int na, const float *b, int n, float *out);
    void (*dot_f16)(const float *a, int a_stride, int na, const uint16_t *b, int n, float *out);
    // y_r[i] += s[r] * x[i] for the rows y_r = y + r * y_stride, r < ny <= kVecRows; likewise.
    void (*axpy_f32)(float *y, int y_stride, int ny, const float *s, const float *x, int n);
    void (*axpy_f16)(float *y, int y_stride, int ny, const float *s, const uint16_t *x, int n);
    // y[i] *= s
    void (*scale)(float *y, float s, int n);
    // sum_i double(x[i] * x[i]), the products rounded to float first, as ggml's rms_norm does
    double (*sum_squares)(const float *x, int n);
    // y[i] = (x[i] * s) * w[i], or x[i] * s when w is null (two roundings, as ggml's scale + mul)
    void (*scale_mul)(float *y, const float *x, float s, const float *w, int n);
    // y[i] = fp32_to_fp16(x[i]) (F16C's conversion rounds to nearest even too; NaN payloads
    // may differ)
    void (*to_f16)(uint16_t *y, const float *x, int n);
    // y[i] = gelu_tanh_approx(g[i]) * u[i]
    void (*gelu_mul)(float *y, const float *g, const float *u, int n);
    // y[i] = silu_approx(g[i]) * u[i]
    void (*silu_mul)(float *y, const float *g, const float *u, int n);
};

// e^x to 1.5 ulp for x in [-86, 88] (x is clamped to that range), built from float operations
// that the scalar and AVX2 versions perform alike, so both give the same bits.
float exp_approx(float x);
// gelu_tanh(x) = x / (1 + e^(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3): the same function as
// 0.5 x (1 + tanh(u)) without the cancellation of 1 + tanh(u) for x < 0, through exp_approx.
float gelu_tanh_approx(float x);
// silu(x) = x / (1 + e^-x) through exp_approx: the scalar and AVX2 versions give the same bits.
float silu_approx(float x);

// The table for this CPU (AVX2 when present and not disabled for testing, else scalar).
const VecOps &vec_ops();
// The scalar table, always available.
const VecOps &vec_ops_scalar();

} // namespace infer::cpu
