// RMSNorm over rows: y[r] = x[r] * (1 / sqrt(mean(x[r]^2) + eps)) * w.
// Layout: x, y [rows][n] contiguous; w [n] or null. Matches ggml's CPU rms_norm followed by the
// graph's ggml_mul with the weight: the squares are rounded to float and summed in double, the
// scale is computed in float, and y = (x * scale) * w rounds twice, as the two ggml ops do.
#include "cpu/cpu_ops.h"
#include "cpu/cpu_vec.h"

#include <algorithm>
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
    auto scale_of = [&](const float *xr) {
        const float mean = float(v.sum_squares(xr, n) / n);
        return 1.0f / std::sqrt(mean + eps);
    };
    if (rows >= nth || y == x) {
        const Range rr = split_range(rows, ith, nth);
        for (int64_t r = rr.begin; r < rr.end; r++)
            v.scale_mul(y + r * n, x + r * n, scale_of(x + r * n), w, n);
        return;
    }
    // Fewer rows than threads (a decode step's one): every thread sums a row's squares, the same
    // bits each, and scales its own part of it (whole cache lines of y where n allows), where one
    // thread did it all while the others waited at the barrier. (Not in place: x must stay
    // whole until every thread has read it.)
    const int64_t lines = (n + 15) / 16;
    const Range part = split_range(lines, ith, nth);
    const int64_t begin = std::min<int64_t>(n, part.begin * 16),
                  end = std::min<int64_t>(n, part.end * 16);
    if (begin == end) return;
    for (int64_t r = 0; r < rows; r++)
        v.scale_mul(y + r * n + begin, x + r * n + begin, scale_of(x + r * n),
                    w ? w + begin : nullptr, static_cast<int>(end - begin));
}

} // namespace infer::cpu
