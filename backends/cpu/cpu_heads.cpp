// Copies between head-structured rows: multi-head latent attention (DeepSeek) takes its query's
// rope part out of each head, and joins the absorbed query with it, and the latent with the rope
// key. They are plain copies, so the fast path and the reference are one loop.
#include "cpu/cpu_ops.h"

#include <cstring>

namespace infer::cpu {

void slice_heads(float *y, const float *x, int64_t rows, int64_t x_width, int groups, int width,
                 int64_t stride, int64_t offset, int ith, int nth) {
    const Range r = split_range(rows, ith, nth);
    for (int64_t row = r.begin; row < r.end; ++row)
        for (int g = 0; g < groups; ++g)
            std::memcpy(y + (row * groups + g) * width, x + row * x_width + g * stride + offset,
                        sizeof(float) * size_t(width));
}

void concat_heads(float *y, const float *a, const float *b, int64_t rows, int groups, int wa,
                  int wb, int ith, int nth) {
    const Range r = split_range(rows, ith, nth);
    for (int64_t row = r.begin; row < r.end; ++row)
        for (int g = 0; g < groups; ++g) {
            float *out = y + (row * groups + g) * (wa + wb);
            std::memcpy(out, a + (row * groups + g) * wa, sizeof(float) * size_t(wa));
            std::memcpy(out + wa, b + (row * groups + g) * wb, sizeof(float) * size_t(wb));
        }
}

} // namespace infer::cpu
