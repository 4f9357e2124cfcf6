// Causal multi-head attention of t query tokens over one layer's KV cache.
//   q, o:        [t][n_head][head_dim] and [t][n_head][dv] f32 (q already roped)
//   K, V caches: [n_kv_head][n_ctx][head_dim] and [..][dv], f32 or f16; row j holds absolute
//                position j (with v_in_k, value row j is the first dv elements of key row j)
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
// The query heads of a token that read the same kv head (GQA) go through together, up to
// kVecRows of them: each key and value row is then loaded and converted once for all of them.
// Per head the float operations are those of one head alone.
#include "core/fp16.h"
#include "cpu/cpu_attention_block.h"
#include "cpu/cpu_ops.h"
#include "cpu/cpu_vec.h"

#include <cmath>
#include <vector>

namespace infer::cpu {
namespace {

constexpr int kTile = 64; // keys per tile: their logits stay in L1 beside one head's q and acc

size_t align64(size_t n) { return (n + 63) & ~size_t(63); }

// Row j of kv head `head` in a cache of rows `stride` elements apart, as a typed pointer.
const float *row_f32(const void *cache, const KvLayout &kv, int stride, int head, int j) {
    return static_cast<const float *>(cache) + (int64_t(head) * kv.n_ctx + j) * stride;
}
const uint16_t *row_f16(const void *cache, const KvLayout &kv, int stride, int head, int j) {
    return static_cast<const uint16_t *>(cache) + (int64_t(head) * kv.n_ctx + j) * stride;
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

} // namespace

float attention_out_scale(float m, float l, const float *sinks, int head) {
    if (sinks) {
        // The sink joins the max and the denominator (ggml's soft_max with sinks).
        const float sink = sinks[head];
        const float top = m > sink ? m : sink;
        const float c = std::exp(m - top); // 0 when no key was visible (m = -inf)
        return c / (l * c + std::exp(sink - top));
    }
    // No visible key (cannot happen for a valid position) leaves l = 0: write zeros, not NaN.
    return l > 0.0f ? 1.0f / l : 0.0f;
}

namespace {

// nh <= kVecRows query heads of one token, which read kv head kvh, with the online softmax.
//   q: (nh, head_dim)  o: (nh, dv)  logits: (kVecRows, kTile)  acc: (kVecRows, dv)
// head0: the first of the nh heads (their sinks).
template <KvType T>
void attend_heads(float *o, const float *q, int nh, int head0, const void *k_cache,
                  const void *v_cache, int kvh, Range keys, const KvLayout &kv,
                  const AttnParams &ap, const VecOps &vo, float *logits, float *acc) {
    const int hd = kv.head_dim, dv = kv.dv(), vs = kv.v_stride();
    float m[kVecRows]; // per head: running max of the logits seen
    float l[kVecRows]; // per head: running sum of exp(logit - m)
    for (int h = 0; h < nh; h++) {
        m[h] = -INFINITY;
        l[h] = 0.0f;
        for (int d = 0; d < dv; d++)
            acc[h * dv + d] = 0.0f;
    }
    for (int64_t j0 = keys.begin; j0 < keys.end; j0 += kTile) {
        const int n = int(keys.end - j0 < kTile ? keys.end - j0 : kTile);
        float tile_max[kVecRows];
        for (int h = 0; h < nh; h++)
            tile_max[h] = -INFINITY;
        for (int jj = 0; jj < n; jj++) {
            const int j = int(j0) + jj;
            float dots[kVecRows];
            if (T == KvType::f16)
                vo.dot_f16(q, hd, nh, row_f16(k_cache, kv, hd, kvh, j), hd, dots);
            else
                vo.dot_f32(q, hd, nh, row_f32(k_cache, kv, hd, kvh, j), hd, dots);
            for (int h = 0; h < nh; h++) {
                const float x = cap_logit(dots[h] * ap.scale, ap.softcap);
                logits[h * kTile + jj] = x;
                if (x > tile_max[h]) tile_max[h] = x;
            }
        }
        for (int h = 0; h < nh; h++) {
            if (tile_max[h] > m[h]) {
                // exp(-inf) = 0 on the first tile, when acc and l are still zero anyway.
                const float c = std::exp(m[h] - tile_max[h]);
                vo.scale(acc + h * dv, c, dv);
                l[h] *= c;
                m[h] = tile_max[h];
            }
        }
        for (int jj = 0; jj < n; jj++) {
            const int j = int(j0) + jj;
            float p[kVecRows];
            for (int h = 0; h < nh; h++) {
                p[h] = std::exp(logits[h * kTile + jj] - m[h]);
                l[h] += p[h];
            }
            if (T == KvType::f16)
                vo.axpy_f16(acc, dv, nh, p, row_f16(v_cache, kv, vs, kvh, j), dv);
            else
                vo.axpy_f32(acc, dv, nh, p, row_f32(v_cache, kv, vs, kvh, j), dv);
        }
    }
    for (int h = 0; h < nh; h++) {
        const float inv = attention_out_scale(m[h], l[h], ap.sinks, head0 + h);
        for (int d = 0; d < dv; d++)
            o[h * dv + d] = acc[h * dv + d] * inv;
    }
}

// Query heads per work unit: a GQA group, or kVecRows of it; one when that leaves under four
// units per thread (decode), where the threads' balance counts for more than the shared rows.
int heads_per_unit(int t, int n_kv_head, int group, int nth) {
    const int hg = group < kVecRows ? group : kVecRows;
    const int64_t units = int64_t(t) * n_kv_head * ((group + hg - 1) / hg);
    return units < 4 * int64_t(nth) ? 1 : hg;
}

// A prompt's attention through the block kernel: a unit is a block of up to kBlockRows query rows,
// consecutive tokens times the query heads of one kv head (a GQA group, or kBlockRows of it).
void attention_blocks(AttendBlockFn attend, float *o, const float *q, const void *k_cache,
                      const void *v_cache, const int32_t *pos, int t, const KvLayout &kv,
                      const AttnParams &ap, void *scratch, int ith, int nth) {
    const int group = ap.n_head / kv.n_kv_head;
    const int hg = group < kBlockRows ? group : kBlockRows; // heads per block
    const int chunks = (group + hg - 1) / hg;               // blocks per (tokens, kv head)
    const int tb = kBlockRows / hg;                         // tokens per block
    const int64_t n_token_blocks = (int64_t(t) + tb - 1) / tb;
    // Dealt out in turn, as the row units below: later tokens see more keys.
    const int64_t n_units = n_token_blocks * kv.n_kv_head * chunks;
    for (int64_t u = ith; u < n_units; u += nth) {
        const int64_t t0 = u / (int64_t(kv.n_kv_head) * chunks) * tb;
        const int kvh = int(u / chunks % kv.n_kv_head);
        const int first = int(u % chunks) * hg; // first head of the group in this block
        const int nh = group - first < hg ? group - first : hg;
        const int ntok = int(t - t0 < tb ? t - t0 : tb);
        AttnBlock b;
        b.rows = ntok * nh;
        for (int i = 0; i < ntok; i++) {
            const Range keys = visible_keys(pos[t0 + i], kv, ap);
            for (int h = 0; h < nh; h++) {
                const int64_t row = (t0 + i) * ap.n_head + int64_t(kvh) * group + first + h;
                b.q[i * nh + h] = q + row * kv.head_dim;
                b.o[i * nh + h] = o + row * kv.head_dim;
                b.keys[i * nh + h] = keys;
                b.head[i * nh + h] = kvh * group + first + h;
            }
        }
        attend(b, k_cache, v_cache, kvh, kv, ap, scratch);
    }
}

} // namespace

size_t attention_scratch_bytes(const KvLayout &kv) {
    const size_t rows = align64(sizeof(float) * kVecRows * kTile) +
                        align64(sizeof(float) * kVecRows * size_t(kv.dv()));
    const size_t blocks = attend_block_scratch_bytes(kv);
    return rows > blocks ? rows : blocks;
}

void attention(float *o, const float *q, const void *k_cache, const void *v_cache,
               const int32_t *pos, int t, const KvLayout &kv, const AttnParams &ap, void *scratch,
               int ith, int nth) {
    // Several tokens: the block kernel, where this CPU has one (its values are key-shaped).
    if (t > 1 && kv.dv() == kv.head_dim && !kv.v_in_k) {
        if (const AttendBlockFn attend = attend_block_kernel())
            return attention_blocks(attend, o, q, k_cache, v_cache, pos, t, kv, ap, scratch, ith,
                                    nth);
    }
    float *logits = static_cast<float *>(scratch); // (kVecRows, kTile)
    float *acc = logits + align64(sizeof(float) * kVecRows * kTile) / sizeof(float);
    const VecOps &vo = vec_ops();
    const int group = ap.n_head / kv.n_kv_head; // query heads per kv head
    const int hg = heads_per_unit(t, kv.n_kv_head, group, nth);
    const int chunks = (group + hg - 1) / hg; // units per (token, kv head)
    // Units are numbered token-major and dealt out in turn: a causal prompt's later tokens see
    // more keys, so contiguous shares would leave the last thread most of the work (3/4 of it
    // with two threads). Every unit reads the same cache rows, whichever token it serves.
    const int64_t n_units = int64_t(t) * kv.n_kv_head * chunks;
    for (int64_t u = ith; u < n_units; u += nth) {
        const int64_t token = u / (int64_t(kv.n_kv_head) * chunks);
        const int kvh = int(u / chunks % kv.n_kv_head);
        const int first = int(u % chunks) * hg;
        const int nh = group - first < hg ? group - first : hg;
        const Range keys = visible_keys(pos[token], kv, ap);
        const int64_t r = token * ap.n_head + int64_t(kvh) * group + first; // first (token, head)
        const float *qh = q + r * kv.head_dim;
        float *oh = o + r * kv.dv();
        const int head0 = kvh * group + first;
        if (kv.type == KvType::f16)
            attend_heads<KvType::f16>(oh, qh, nh, head0, k_cache, v_cache, kvh, keys, kv, ap, vo,
                                      logits, acc);
        else
            attend_heads<KvType::f32>(oh, qh, nh, head0, k_cache, v_cache, kvh, keys, kv, ap, vo,
                                      logits, acc);
    }
}

// The textbook version: all logits of one query, max, exp, normalize, weighted sum of V.
// Allocates; tests only.
void attention_ref(float *o, const float *q, const void *k_cache, const void *v_cache,
                   const int32_t *pos, int t, const KvLayout &kv, const AttnParams &ap) {
    const int hd = kv.head_dim, dv = kv.dv();
    const int group = ap.n_head / kv.n_kv_head;
    // one cache element as float, in rows `stride` elements apart
    auto at = [&](const void *cache, int stride, int head, int j, int d) {
        const int64_t idx = (int64_t(head) * kv.n_ctx + j) * stride + d;
        return kv.type == KvType::f16 ? fp16_to_fp32(static_cast<const uint16_t *>(cache)[idx])
                                      : static_cast<const float *>(cache)[idx];
    };
    std::vector<float> att(size_t(kv.n_ctx)); // (n_ctx,) logits, then probabilities
    for (int i = 0; i < t; i++) {
        for (int h = 0; h < ap.n_head; h++) {
            const float *qh = q + (int64_t(i) * ap.n_head + h) * hd; // (head_dim,)
            float *oh = o + (int64_t(i) * ap.n_head + h) * dv;       // (dv,)
            const int kvh = h / group;
            // which keys this query sees
            auto visible = [&](int j) {
                if (j > pos[i]) return false;                             // causal
                if (ap.n_swa > 0 && pos[i] - j >= ap.n_swa) return false; // outside the window
                return true;
            };
            // A sink joins the max and the denominator, with no value (ggml's soft_max).
            float max = ap.sinks ? ap.sinks[h] : -INFINITY;
            for (int j = 0; j < kv.n_ctx; j++) {
                if (!visible(j)) continue;
                float dot = 0.0f;
                for (int d = 0; d < hd; d++)
                    dot += qh[d] * at(k_cache, hd, kvh, j, d);
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
            if (ap.sinks) sum += std::exp(ap.sinks[h] - max);
            for (int d = 0; d < dv; d++) {
                float x = 0.0f;
                for (int j = 0; j < kv.n_ctx; j++)
                    if (att[j] != 0.0f) x += att[j] * at(v_cache, kv.v_stride(), kvh, j, d);
                oh[d] = sum > 0.0f ? x / sum : 0.0f;
            }
        }
    }
}

} // namespace infer::cpu
