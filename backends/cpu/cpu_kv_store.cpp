// Copy of the current tokens' keys and values into one layer's KV cache.
// k, v: [t][n_kv_head][head_dim] f32.  Caches: [n_kv_head][n_ctx][head_dim] of kv.type; token i
// lands in row pos[i] of every kv head. f16 caches round to nearest even (as ggml's cpy does).
// The head-major cache layout keeps one head's keys contiguous for the attention kernel.
#include "cpu/cpu_ops.h"
#include "cpu/cpu_vec.h"

#include <cstring>

namespace infer::cpu {
namespace {

// Stores row r = (token, kv head) of k and v.
void store_row(void *k_cache, void *v_cache, const float *k, const float *v, const int32_t *pos,
               int64_t r, const KvLayout &kv, const VecOps &vo) {
    const int64_t token = r / kv.n_kv_head;
    const int64_t head = r % kv.n_kv_head;
    const float *kr = k + r * kv.head_dim; // (head_dim,)
    const float *vr = v + r * kv.head_dim; // (head_dim,)
    const int64_t dst = (head * kv.n_ctx + pos[token]) * kv.head_dim;
    if (kv.type == KvType::f32) {
        std::memcpy(static_cast<float *>(k_cache) + dst, kr, sizeof(float) * kv.head_dim);
        std::memcpy(static_cast<float *>(v_cache) + dst, vr, sizeof(float) * kv.head_dim);
    } else {
        uint16_t *kd = static_cast<uint16_t *>(k_cache) + dst;
        uint16_t *vd = static_cast<uint16_t *>(v_cache) + dst;
        vo.to_f16(kd, kr, kv.head_dim);
        vo.to_f16(vd, vr, kv.head_dim);
    }
}

} // namespace

void kv_store_ref(void *k_cache, void *v_cache, const float *k, const float *v, const int32_t *pos,
                  int t, const KvLayout &kv) {
    for (int64_t r = 0; r < int64_t(t) * kv.n_kv_head; r++)
        store_row(k_cache, v_cache, k, v, pos, r, kv, vec_ops_scalar());
}

void kv_store(void *k_cache, void *v_cache, const float *k, const float *v, const int32_t *pos,
              int t, const KvLayout &kv, int ith, int nth) {
    const Range rows = split_range(int64_t(t) * kv.n_kv_head, ith, nth);
    const VecOps &vo = vec_ops();
    for (int64_t r = rows.begin; r < rows.end; r++)
        store_row(k_cache, v_cache, k, v, pos, r, kv, vo);
}

} // namespace infer::cpu
