#include "cpu/cpu_head_matmul.h"

#include "cpu/cpu_ops.h"

#include <vector>

namespace infer::cpu {
namespace {

// Weight rows per work item (a multiple of every interleaved layout's tile of rows).
constexpr int64_t kRowBlock = 32;

} // namespace

uint64_t head_matmul_scratch_bytes(const ExpertWeights &w, int64_t t) {
    return matmul_act_row_bytes(w.type, w.k) * static_cast<uint64_t>(t * w.n_expert);
}

void head_matmul(const ExpertWeights &w, const float *x, int64_t x_width, int64_t x_stride,
                 int64_t t, float *y, void *scratch, int ith, int nth, ThreadPool &pool,
                 CpuIsa isa) {
    const int64_t n_head = w.n_expert;
    const uint64_t act_bytes = matmul_act_row_bytes(w.type, w.k);
    auto *act = static_cast<uint8_t *>(scratch); // [t][n_head] activation rows
    const Range rows = split_range(t * n_head, ith, nth);
    for (int64_t r = rows.begin; r < rows.end; ++r)
        matmul_quantize_act_row(w.type, x + r / n_head * x_width + r % n_head * x_stride, w.k,
                                act + r * act_bytes, isa);
    pool.barrier(ith);
    const int64_t blocks = (w.n + kRowBlock - 1) / kRowBlock; // per head
    const Range items = split_range(n_head * blocks, ith, nth);
    for (int64_t item = items.begin; item < items.end; ++item) {
        const int64_t h = item / blocks, r0 = item % blocks * kRowBlock;
        const int64_t r1 = r0 + kRowBlock < w.n ? r0 + kRowBlock : w.n;
        matmul_rows(w.expert(h), act + h * act_bytes, n_head * act_bytes, t, y + h * w.n + r0,
                    n_head * w.n, r0, r1, isa);
    }
}

void head_matmul_ref(const ExpertWeights &w, const float *x, int64_t x_width, int64_t x_stride,
                     int64_t t, float *y) {
    std::vector<float> in(static_cast<size_t>(w.k)); // one head's input, contiguous
    for (int64_t tok = 0; tok < t; ++tok)
        for (int64_t h = 0; h < w.n_expert; ++h) {
            const float *src = x + tok * x_width + h * x_stride;
            in.assign(src, src + w.k);
            matmul_ref(w.expert(h), in.data(), 1, y + (tok * w.n_expert + h) * w.n);
        }
}

} // namespace infer::cpu
