// RMSNorm over rows: y[r] = x[r] * (1 / sqrt(mean(x[r]^2) + eps)) * w.
// Layout: x, y [rows][n] contiguous; w [n] or null. Matches ggml's CPU rms_norm followed by the
// graph's ggml_mul with the weight: the squares are rounded to float and summed in double, the
// scale is computed in float, and y = (x * scale) * w rounds twice, as the two ggml ops do.
#include "cpu/cpu_ops.h"
#include "cpu/cpu_vec.h"

#include <cmath>

namespace infer::cpu {

void rms_norm_ref(float *y, const float *x, const float *w, int64_t rows, int n, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n; // (n,)
        float *yr = y + r * n;       // (n,)
        double ss = 0.0;
        for (int i = 0; i < n; i++)
            ss += double(xr[i] * xr[i]);
        const float mean = float(ss / n);
        const float s = 1.0f / std::sqrt(mean + eps);
        for (int i = 0; i < n; i++)
            yr[i] = w ? (xr[i] * s) * w[i] : xr[i] * s;
    }
}

void rms_norm(float *y, const float *x, const float *w, int64_t rows, int n, float eps, int ith,
              int nth) {
    const VecOps &v = vec_ops();
    const Range rr = split_range(rows, ith, nth);
    for (int64_t r = rr.begin; r < rr.end; r++) {
        const float mean = float(v.sum_squares(x + r * n, n) / n);
        const float s = 1.0f / std::sqrt(mean + eps);
        v.scale_mul(y + r * n, x + r * n, s, w, n);
    }
}

} // namespace infer::cpu
