// The FFN's activations as the CPU references write them (cpu_elementwise.cpp): silu as
// x / (1 + e^-x), gelu with tanh as ggml writes it, the sigmoid gate as 1 / (1 + e^-g). Shared by
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

// act(gate) * up; act 0 silu, 1 gelu_tanh (the glu() kernel's codes).
INFER_HD float glu_value(float gate, float up, int act) {
    const float a = act == 0 ? silu(gate) : gelu_tanh(gate);
    return a * up;
}

INFER_HD float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

} // namespace infer::cuda
