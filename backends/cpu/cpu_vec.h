// Small vector primitives the CPU kernels are built from, each with a scalar version and an
// AVX2/FMA/F16C version chosen once at run time (__builtin_cpu_supports), so the library runs on
// any x86-64 (and any other CPU through the scalar path) without -mavx2 on the command line.
#pragma once

#include <cstdint>

namespace infer::cpu {

struct VecOps {
    // sum_i a[i] * b[i]
    float (*dot_f32)(const float *a, const float *b, int n);
    // sum_i a[i] * half(b[i])
    float (*dot_f16)(const float *a, const uint16_t *b, int n);
    // y[i] += s * x[i]
    void (*axpy_f32)(float *y, float s, const float *x, int n);
    // y[i] += s * half(x[i])
    void (*axpy_f16)(float *y, float s, const uint16_t *x, int n);
    // y[i] *= s
    void (*scale)(float *y, float s, int n);
    // sum_i double(x[i] * x[i]), the products rounded to float first, as ggml's rms_norm does
    double (*sum_squares)(const float *x, int n);
    // y[i] = (x[i] * s) * w[i], or x[i] * s when w is null (two roundings, as ggml's scale + mul)
    void (*scale_mul)(float *y, const float *x, float s, const float *w, int n);
};

// The table for this CPU (AVX2 when present and not disabled for testing, else scalar).
const VecOps &vec_ops();
// The scalar table, always available.
const VecOps &vec_ops_scalar();

} // namespace infer::cpu
