// Elementwise ops on contiguous float arrays: gated activations (SwiGLU, GeGLU), add, mul by a
// row weight, scale, soft-capping, a per-row sigmoid gate. Each splits its elements (mul_rows: its
// rows) evenly across threads; outputs may alias inputs because element i reads only element i.
//
// GELU: ggml's CPU backend (vec.h, GGML_GELU_FP16 defined by default) evaluates GELU for
// -10 < x < 10 by rounding x to fp16 and reading a 65536-entry fp16 table of gelu(x); x <= -10
// gives 0 and x >= 10 gives x. That costs up to ~1e-3 relative error against the exact formula.
// We compute the formula itself to a few ulp with gelu_tanh_approx (cpu_vec.h): vectorized, where
// libm's tanhf took a tenth of a gemma prefill, and the same bits on every path.
// SiLU: ggml uses a vectorized expf accurate to ~1 ulp; we use exp_approx (1.5 ulp) through
// silu_approx, the same bits on every path. (libm's expf took 2-4% of a 1B prefill. exp_approx
// once moved SmolLM2's 635-token golden past its bound, 0.063 against 0.059, on the chaos of a
// long prompt rather than on accuracy; with the block attention that golden measures 0.03.)
// gpt-oss's clamped SwiGLU is ggml's scalar loop (libm expf) on every path: its rows are one
// expert's FFN, a small share of a token's work, and so it gives llama.cpp's bits.
#include "cpu/cpu_ops.h"
#include "cpu/cpu_vec.h"

#include <algorithm>
#include <cmath>

namespace infer::cpu {

float silu_ref(float x) { return silu_approx(x); }

float gelu_tanh_ref(float x) { return gelu_tanh_approx(x); }

float swiglu_oai_ref(float gate, float up) {
    constexpr float kAlpha = 1.702f, kLimit = 7.0f; // llama.cpp's gpt-oss graph
    const float x = std::min(gate, kLimit);
    const float u = std::clamp(up, -kLimit, kLimit);
    return x / (1.0f + std::exp(kAlpha * (-x))) * (u + 1.0f);
}

namespace {

// The gated product through VecOps (which take int counts).
void glu_mul(const VecOps &vo, float *y, const float *gate, const float *up, int64_t n,
             GluAct act) {
    if (act == GluAct::swiglu_oai) {
        for (int64_t i = 0; i < n; i++)
            y[i] = swiglu_oai_ref(gate[i], up[i]);
        return;
    }
    const auto fn = act == GluAct::gelu_tanh ? vo.gelu_mul : vo.silu_mul;
    constexpr int64_t kStep = int64_t(1) << 30;
    for (int64_t i = 0; i < n; i += kStep)
        fn(y + i, gate + i, up + i, int(n - i < kStep ? n - i : kStep));
}

} // namespace

// ---- References --------------------------------------------------------------------------------

void glu_ref(float *y, const float *gate, const float *up, int64_t n, GluAct act) {
    glu_mul(vec_ops_scalar(), y, gate, up, n, act);
}

void add_ref(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void mul_rows_ref(float *y, const float *x, const float *w, int64_t rows, int n) {
    for (int64_t r = 0; r < rows; r++)
        for (int i = 0; i < n; i++)
            y[r * n + i] = x[r * n + i] * w[i];
}

void scale_ref(float *y, const float *x, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = s * x[i];
}

void softcap_ref(float *y, const float *x, float cap, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = cap * std::tanh(x[i] / cap);
}

void sigmoid_gate_ref(float *y, const float *x, const float *g, int64_t rows, int n) {
    for (int64_t r = 0; r < rows; r++) {
        const float s = 1.0f / (1.0f + std::exp(-g[r]));
        for (int i = 0; i < n; i++)
            y[r * n + i] = x[r * n + i] * s;
    }
}

// ---- Threaded ----------------------------------------------------------------------------------
// These are memory-bound one-pass loops; the compiler vectorizes add/mul/scale at -O2/-O3 within
// the baseline ISA. glu goes through VecOps for its vectorized exp.

void glu(float *y, const float *gate, const float *up, int64_t n, GluAct act, int ith, int nth) {
    const Range r = split_range(n, ith, nth);
    glu_mul(vec_ops(), y + r.begin, gate + r.begin, up + r.begin, r.end - r.begin, act);
}

void add(float *y, const float *a, const float *b, int64_t n, int ith, int nth) {
    const Range r = split_range(n, ith, nth);
    add_ref(y + r.begin, a + r.begin, b + r.begin, r.end - r.begin);
}

void mul_rows(float *y, const float *x, const float *w, int64_t rows, int n, int ith, int nth) {
    const Range r = split_range(rows, ith, nth);
    mul_rows_ref(y + r.begin * n, x + r.begin * n, w, r.end - r.begin, n);
}

void scale(float *y, const float *x, float s, int64_t n, int ith, int nth) {
    const Range r = split_range(n, ith, nth);
    scale_ref(y + r.begin, x + r.begin, s, r.end - r.begin);
}

void softcap(float *y, const float *x, float cap, int64_t n, int ith, int nth) {
    const Range r = split_range(n, ith, nth);
    softcap_ref(y + r.begin, x + r.begin, cap, r.end - r.begin);
}

void sigmoid_gate(float *y, const float *x, const float *g, int64_t rows, int n, int ith, int nth) {
    const Range r = split_range(rows, ith, nth);
    sigmoid_gate_ref(y + r.begin * n, x + r.begin * n, g + r.begin, r.end - r.begin, n);
}

} // namespace infer::cpu
