// The FFN's activations as the CPU references write them (cpu_elementwise.cpp): silu as
// x / (1 + e^-x), gelu with tanh as ggml writes it, gpt-oss's clamped SwiGLU as swiglu_oai_ref,
// the sigmoid gate as 1 / (1 + e^-g). Shared by
// the elementwise kernels and the expert FFN's fused gate/up epilogue, so both round alike.
#pragma once

#include "cuda/cuda_hd.h"

#include <cmath>

namespace infer::cuda {

INFER_HD float silu(float x) { return x / (1.0f + expf(-x)); }

INFER_HD float gelu_tanh(float x) {
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    const float coef_a = 0.044715f;
    return 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * x * (1.0f + coef_a * x * x)));
}

// gpt-oss's clamped SwiGLU: min(g, 7) * sigmoid(1.702 min(g, 7)) * (clamp(u, -7, 7) + 1), the
// comparisons as std::min and std::clamp make them (a NaN gate or up passes through).
INFER_HD float swiglu_oai(float gate, float up) {
    constexpr float kAlpha = 1.702f, kLimit = 7.0f; // llama.cpp's gpt-oss graph
    const float x = kLimit < gate ? kLimit : gate;
    const float u = up < -kLimit ? -kLimit : (kLimit < up ? kLimit : up);
    return x / (1.0f + expf(kAlpha * (-x))) * (u + 1.0f);
}

// The gated activations' codes (glu(), MoeFfnArgs::act): graph::Activation's order.
enum GluAct : int { kGluSilu = 0, kGluGeluTanh = 1, kGluSwigluOai = 2 };

// act(gate) * up for a GluAct.
INFER_HD float glu_value(float gate, float up, int act) {
    if (act == kGluSwigluOai) return swiglu_oai(gate, up);
    const float a = act == kGluSilu ? silu(gate) : gelu_tanh(gate);
    return a * up;
}

INFER_HD float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

} // namespace infer::cuda
