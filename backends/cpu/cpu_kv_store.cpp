// Copy of the current tokens' keys and values into one layer's KV cache.
// k: [t][n_kv_head][head_dim], v: [t][n_kv_head][dv] f32 (none with v_in_k).
// Caches: [n_kv_head][n_ctx][head_dim or dv] of kv.type; token i
// lands in row pos[i] of every kv head. f16 caches round to nearest even (as ggml's cpy does).
// The head-major cache layout keeps one head's keys contiguous for the attention kernel.
#include "cpu/cpu_ops.h"
#include "cpu/cpu_vec.h"

#include <cstring>

namespace infer::cpu {
namespace {

// n floats of src into cache elements [at, at + n).
void store(void *cache, int64_t at, const float *src, int n, KvType type, const VecOps &vo) {
    if (type == KvType::f32)
        std::memcpy(static_cast<float *>(cache) + at, src, sizeof(float) * n);
    else
        vo.to_f16(static_cast<uint16_t *>(cache) + at, src, n);
}

// Stores row r = (token, kv head) of k and v.
void store_row(void *k_cache, void *v_cache, const float *k, const float *v, const int32_t *pos,
               int64_t r, const KvLayout &kv, const VecOps &vo) {
    const int64_t token = r / kv.n_kv_head;
    const int64_t head = r % kv.n_kv_head;
    const int64_t cache_row = head * kv.n_ctx + pos[token];
    store(k_cache, cache_row * kv.head_dim, k + r * kv.head_dim, kv.head_dim, kv.type, vo);
    if (!kv.v_in_k) store(v_cache, cache_row * kv.dv(), v + r * kv.dv(), kv.dv(), kv.type, vo);
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
