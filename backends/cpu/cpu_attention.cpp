// Causal multi-head attention of t query tokens over one layer's KV cache.
//   q, o:        [t][n_head][head_dim] f32 (q already roped)
//   K, V caches: [n_kv_head][n_ctx][head_dim], f32 or f16; row j holds absolute position j
//   pos:         [t] absolute position of each query token
// Query head h reads kv head h / (n_head / n_kv_head) (GQA). Query i sees keys j with j <= pos[i]
// and, with a sliding window, pos[i] - j < n_swa (llama.cpp's is_masked_swa, standard type).
//   logit_j = scale * q.k_j, then softcap * tanh(logit_j / softcap) when softcap > 0
//   o = sum_j softmax(logit)_j v_j
// Soft-capping after the scale is what ggml_flash_attn_ext does and what gemma2 (which pre-scales
// q and calls llama.cpp's attention with scale 1) computes.
//
// The fast path streams keys in tiles of kTile and keeps a running max m, sum l and unnormalized
// output acc (online softmax): per tile, m' = max(m, tile max); acc and l are rescaled by
// exp(m - m'), then each key adds p = exp(logit - m') to l and p * v to acc; finally o = acc / l.
// Memory is O(kTile + head_dim) per thread, whatever t and n_ctx are.
#include "core/fp16.h"
#include "cpu/cpu_ops.h"
#include "cpu/cpu_vec.h"

#include <cmath>
#include <vector>

namespace infer::cpu {
namespace {

constexpr int kTile = 64; // keys per tile: their logits stay in L1 beside one head's q and acc

size_t align64(size_t n) { return (n + 63) & ~size_t(63); }

// Row j of kv head `head` in a cache, as a typed pointer.
const float *row_f32(const void *cache, const KvLayout &kv, int head, int j) {
    return static_cast<const float *>(cache) + (int64_t(head) * kv.n_ctx + j) * kv.head_dim;
}
const uint16_t *row_f16(const void *cache, const KvLayout &kv, int head, int j) {
    return static_cast<const uint16_t *>(cache) + (int64_t(head) * kv.n_ctx + j) * kv.head_dim;
}

// The visible key rows [begin, end) of a query at position p.
Range visible_keys(int32_t p, const KvLayout &kv, const AttnParams &ap) {
    int64_t end = int64_t(p) + 1;
    if (end > kv.n_ctx) end = kv.n_ctx;
    int64_t begin = ap.n_swa > 0 ? int64_t(p) - ap.n_swa + 1 : 0;
    if (begin < 0) begin = 0;
    if (end < begin) end = begin;
    return {begin, end};
}

float cap_logit(float x, float softcap) {
    return softcap > 0.0f ? softcap * std::tanh(x / softcap) : x;
}

// One (token, head) pair with the online softmax.
//   qh: (head_dim,)  oh: (head_dim,)  logits: (kTile,)  acc: (head_dim,)
template <KvType T>
void attend_one(float *oh, const float *qh, const void *k_cache, const void *v_cache, int kvh,
                Range keys, const KvLayout &kv, const AttnParams &ap, const VecOps &vo,
                float *logits, float *acc) {
    const int hd = kv.head_dim;
    for (int d = 0; d < hd; d++)
        acc[d] = 0.0f;
    float m = -INFINITY; // running max of the logits seen
    float l = 0.0f;      // running sum of exp(logit - m)
    for (int64_t j0 = keys.begin; j0 < keys.end; j0 += kTile) {
        const int n = int(keys.end - j0 < kTile ? keys.end - j0 : kTile);
        float tile_max = -INFINITY;
        for (int jj = 0; jj < n; jj++) {
            const int j = int(j0) + jj;
            const float dot = T == KvType::f16 ? vo.dot_f16(qh, row_f16(k_cache, kv, kvh, j), hd)
                                               : vo.dot_f32(qh, row_f32(k_cache, kv, kvh, j), hd);
            const float x = cap_logit(dot * ap.scale, ap.softcap);
            logits[jj] = x;
            if (x > tile_max) tile_max = x;
        }
        if (tile_max > m) {
            // exp(-inf) = 0 on the first tile, when acc and l are still zero anyway.
            const float c = std::exp(m - tile_max);
            vo.scale(acc, c, hd);
            l *= c;
            m = tile_max;
        }
        for (int jj = 0; jj < n; jj++) {
            const int j = int(j0) + jj;
            const float pj = std::exp(logits[jj] - m);
            l += pj;
            if (T == KvType::f16)
                vo.axpy_f16(acc, pj, row_f16(v_cache, kv, kvh, j), hd);
            else
                vo.axpy_f32(acc, pj, row_f32(v_cache, kv, kvh, j), hd);
        }
    }
    // No visible key (cannot happen for a valid position) leaves l = 0: write zeros, not NaN.
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    for (int d = 0; d < hd; d++)
        oh[d] = acc[d] * inv;
}

} // namespace

size_t attention_scratch_bytes(const KvLayout &kv) {
    return align64(sizeof(float) * kTile) + align64(sizeof(float) * size_t(kv.head_dim));
}

void attention(float *o, const float *q, const void *k_cache, const void *v_cache,
               const int32_t *pos, int t, const KvLayout &kv, const AttnParams &ap, void *scratch,
               int ith, int nth) {
    float *logits = static_cast<float *>(scratch);                        // (kTile,)
    float *acc = logits + align64(sizeof(float) * kTile) / sizeof(float); // (head_dim,)
    const VecOps &vo = vec_ops();
    const int group = ap.n_head / kv.n_kv_head; // query heads per kv head
    // Pairs are numbered token-major, so consecutive pairs of one thread share a token's
    // positions and, within a GQA group, the same kv head rows (cache-friendly).
    const Range pairs = split_range(int64_t(t) * ap.n_head, ith, nth);
    for (int64_t r = pairs.begin; r < pairs.end; r++) {
        const int64_t token = r / ap.n_head;
        const int h = int(r % ap.n_head);
        const Range keys = visible_keys(pos[token], kv, ap);
        const float *qh = q + r * kv.head_dim;
        float *oh = o + r * kv.head_dim;
        if (kv.type == KvType::f16)
            attend_one<KvType::f16>(oh, qh, k_cache, v_cache, h / group, keys, kv, ap, vo, logits,
                                    acc);
        else
            attend_one<KvType::f32>(oh, qh, k_cache, v_cache, h / group, keys, kv, ap, vo, logits,
                                    acc);
    }
}

// The textbook version: all logits of one query, max, exp, normalize, weighted sum of V.
// Allocates; tests only.
void attention_ref(float *o, const float *q, const void *k_cache, const void *v_cache,
                   const int32_t *pos, int t, const KvLayout &kv, const AttnParams &ap) {
    const int hd = kv.head_dim;
    const int group = ap.n_head / kv.n_kv_head;
    // one cache element as float
    auto at = [&](const void *cache, int head, int j, int d) {
        const int64_t idx = (int64_t(head) * kv.n_ctx + j) * hd + d;
        return kv.type == KvType::f16 ? fp16_to_fp32(static_cast<const uint16_t *>(cache)[idx])
                                      : static_cast<const float *>(cache)[idx];
    };
    std::vector<float> att(size_t(kv.n_ctx)); // (n_ctx,) logits, then probabilities
    for (int i = 0; i < t; i++) {
        for (int h = 0; h < ap.n_head; h++) {
            const float *qh = q + (int64_t(i) * ap.n_head + h) * hd; // (head_dim,)
            float *oh = o + (int64_t(i) * ap.n_head + h) * hd;       // (head_dim,)
            const int kvh = h / group;
            // which keys this query sees
            auto visible = [&](int j) {
                if (j > pos[i]) return false;                             // causal
                if (ap.n_swa > 0 && pos[i] - j >= ap.n_swa) return false; // outside the window
                return true;
            };
            float max = -INFINITY;
            for (int j = 0; j < kv.n_ctx; j++) {
                if (!visible(j)) continue;
                float dot = 0.0f;
                for (int d = 0; d < hd; d++)
                    dot += qh[d] * at(k_cache, kvh, j, d);
                float x = dot * ap.scale;
                if (ap.softcap > 0.0f) x = ap.softcap * std::tanh(x / ap.softcap);
                att[j] = x;
                if (x > max) max = x;
            }
            float sum = 0.0f;
            for (int j = 0; j < kv.n_ctx; j++) {
                att[j] = visible(j) ? std::exp(att[j] - max) : 0.0f;
                sum += att[j];
            }
            for (int d = 0; d < hd; d++) {
                float x = 0.0f;
                for (int j = 0; j < kv.n_ctx; j++)
                    if (att[j] != 0.0f) x += att[j] * at(v_cache, kvh, j, d);
                oh[d] = sum > 0.0f ? x / sum : 0.0f;
            }
        }
    }
}

} // namespace infer::cpu
