// Launch shapes and the small pieces of kernel math that do not touch device memory: how keys are
// split across thread blocks for flash-decoding, how the partial softmaxes are merged, RoPE
// angles, attention logits, and how the prefill GEMM is cut into slabs. Compiled for the GPU and
// the host, and unit-tested on the host (tests/unit/test_cuda_host.cpp).
#pragma once

#include "cuda/cuda_hd.h"

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace infer::cuda {

// ---- Attention -----------------------------------------------------------------------------

// The keys query position `pos` sees: [first, pos] (causal), limited to the last `window` keys
// when window > 0 (key j visible iff pos - j < window), as attention_ref decides.
INFER_HD int first_visible_key(int pos, int window) {
    const int first = window > 0 ? pos - window + 1 : 0;
    return first > 0 ? first : 0;
}

struct KeyRange {
    int begin, end; // [begin, end); empty when begin >= end
};

// Split `split` of n_splits over the keys [first, last]: equal contiguous ranges, the earlier
// ones possibly one chunk longer; splits past the end are empty. The range is computed on the
// device from positions in device memory, so a captured CUDA graph stays valid as pos grows.
INFER_HD KeyRange key_split(int first, int last, int split, int n_splits) {
    const int n = last - first + 1;
    const int chunk = (n + n_splits - 1) / n_splits;
    const int begin = first + split * chunk;
    const int end = begin + chunk < last + 1 ? begin + chunk : last + 1;
    return {begin, end};
}

// Keys per split at most, and the fewest splits worth launching: flash-decoding wants enough
// blocks (n_head * n_splits) to fill the card, each with at least kMinKeysPerSplit keys.
constexpr int kMaxAttentionSplits = 32;
constexpr int kMinKeysPerSplit = 128;

// Splits for decode attention over a cache of n_ctx positions with n_head query heads on a card
// of n_sm multiprocessors: about two blocks per SM, never more than the keys warrant. Chosen
// from n_ctx (not the live position) so the decode graph has one shape for the whole context.
inline int attention_splits(int64_t n_ctx, int n_head, int n_sm) {
    const int64_t by_keys = (n_ctx + kMinKeysPerSplit - 1) / kMinKeysPerSplit;
    const int64_t by_card = (2 * static_cast<int64_t>(n_sm) + n_head - 1) / n_head;
    int64_t s = by_keys < by_card ? by_keys : by_card;
    if (s > kMaxAttentionSplits) s = kMaxAttentionSplits;
    return s < 1 ? 1 : static_cast<int>(s);
}

// The attention logit of one key, as attention_ref forms it.
INFER_HD float attention_logit(float dot, float scale, float softcap) {
    float x = dot * scale;
    if (softcap > 0.0f) x = softcap * tanhf(x / softcap);
    return x;
}

// One split's softmax state: running max m, sum of exp(logit - m) l; its output accumulators
// (sum of exp(logit - m) * v, unnormalized) are stored beside it.
struct SoftmaxPartial {
    float m, l;
};

// The factor that normalizes a softmax of running max m and sum l: 1 / l, or with an attention
// sink (a logit in the denominator only, gpt-oss; sink = -inf: none) exp(m - M) / (l exp(m - M) +
// exp(sink - M)), M = max(m, sink): cpu::attention_out_scale's arithmetic.
INFER_HD float softmax_out_scale(float m, float l, float sink) {
    if (sink == -INFINITY) return l > 0.0f ? 1.0f / l : 0.0f;
    const float top = m > sink ? m : sink;
    const float c = expf(m - top); // 0 when no key was visible (m = -inf)
    return c / (l * c + expf(sink - top));
}

// Output element d from n partials: rescale each to the common max and normalize, with the head's
// sink (-inf: none). o_d[s] is split s's accumulator for d. Empty splits (l = 0, m = -inf)
// contribute nothing.
INFER_HD float softmax_combine(const SoftmaxPartial *parts, const float *o_d, int n, int stride,
                               float sink) {
    float m = -INFINITY;
    for (int s = 0; s < n; ++s)
        if (parts[s].l > 0.0f && parts[s].m > m) m = parts[s].m;
    float l = 0.0f, o = 0.0f;
    for (int s = 0; s < n; ++s) {
        if (!(parts[s].l > 0.0f)) continue;
        const float w = expf(parts[s].m - m);
        l += parts[s].l * w;
        o += o_d[s * stride] * w;
    }
    return o * softmax_out_scale(m, l, sink);
}

// ---- RoPE ----------------------------------------------------------------------------------

// YaRN's blend and magnitude scale (graph::RopeYarn; rope_ref's RopeParams fields). The
// defaults leave plain RoPE.
struct RopeYarnArgs {
    float ext_factor = 0.0f;
    float attn_factor = 1.0f;
    float corr_lo = 0.0f, corr_hi = 0.0f; // the ramp's first and last rotary pair
};

// cos and sin of pair k's angle at position pos, iterating theta *= theta_scale k times as
// ggml and rope_ref do (the closed form drifts from it by a few ulps), then ggml's rope_yarn in
// rope_ref's float operations.
INFER_HD void rope_cos_sin(int pos, int k, float theta_scale, float freq_scale,
                           const float *freq_factors, const RopeYarnArgs &yarn, float *c,
                           float *s) {
    float theta = static_cast<float>(pos);
    for (int i = 0; i < k; ++i)
        theta *= theta_scale;
    const float ff = freq_factors ? freq_factors[k] : 1.0f;
    const float theta_extrap = theta / ff;
    const float theta_interp = freq_scale * theta_extrap;
    float th = theta_interp;
    float mscale = yarn.attn_factor;
    if (yarn.ext_factor != 0.0f) {
        const float y =
            (static_cast<float>(k) - yarn.corr_lo) / fmaxf(0.001f, yarn.corr_hi - yarn.corr_lo);
        const float ramp_mix = (1 - fminf(1.0f, fmaxf(0.0f, y))) * yarn.ext_factor;
        th = theta_interp * (1 - ramp_mix) + theta_extrap * ramp_mix;
        mscale *= 1.0f + 0.1f * logf(1.0f / freq_scale);
    }
    *c = cosf(th) * mscale;
    *s = sinf(th) * mscale;
}

// ---- Matrix-vector and GEMM shapes ---------------------------------------------------------

// Decode matvec: one warp per output row, kMatvecWarps rows per thread block, up to
// kMatvecMaxTokens activation rows per launch (a weight byte is read once for all of them).
constexpr int kMatvecWarps = 4;
constexpr int kMatvecMaxTokens = 8;

// The int8 matvec (cuda_matvec_int8.cu): rows per warp (they share the activation loads), and
// the longest row it takes, which sizes the backend's activation buffer at start().
constexpr int kInt8RowsPerWarp = 2;
constexpr int64_t kInt8MaxK = 65536;

// Calls fn(std::integral_constant<int, NT>{}) for the token count a matvec kernel is compiled
// for that covers n_tokens (1..kMatvecMaxTokens): 1, 2, 4 or kMatvecMaxTokens.
template <class Fn> auto with_token_tile(int64_t n_tokens, Fn &&fn) {
    if (n_tokens == 1) return fn(std::integral_constant<int, 1>{});
    if (n_tokens <= 2) return fn(std::integral_constant<int, 2>{});
    if (n_tokens <= 4) return fn(std::integral_constant<int, 4>{});
    return fn(std::integral_constant<int, kMatvecMaxTokens>{});
}

inline int64_t blocks_for(int64_t n, int64_t per_block) { return (n + per_block - 1) / per_block; }

// The most tokens one run takes: embedding and attention put the token in grid.y, which CUDA
// limits to 65535 (the context allows n_batch up to 65536; check_graph refuses more than this).
constexpr int64_t kMaxTokensPerRun = 65535;

// Blocks of `threads` for a grid-stride loop over n items: enough to cover them, at least one,
// at most kMaxGridStrideBlocks (beyond that each thread loops).
constexpr int64_t kMaxGridStrideBlocks = 65536;
inline unsigned grid_stride_blocks(int64_t n, int threads) {
    const int64_t b = blocks_for(n, threads);
    return static_cast<unsigned>(b < 1 ? 1 : (b > kMaxGridStrideBlocks ? kMaxGridStrideBlocks : b));
}

// Prefill: weights are dequantized to fp16 in slabs of whole output rows, each slab multiplied
// by cuBLASLt into the f32 output columns y + r0 (r0 a multiple of the slab's rows). cuBLASLt's
// heuristic assumes 256-byte aligned matrices unless told otherwise, so a slab's rows are a
// multiple of kGemmRowAlign (64 floats: every y + r0 stays 256-byte aligned) when that many fit
// in slab_bytes, else a multiple of 8, else as many as fit (at least 1); never more than the
// matrix has. gemm_output_alignment() is what the slabs then guarantee, for the heuristic.
constexpr int64_t kGemmRowAlign = 64;
inline int64_t gemm_slab_rows(int64_t k, int64_t n_rows, uint64_t slab_bytes) {
    int64_t rows = static_cast<int64_t>(slab_bytes / (static_cast<uint64_t>(k) * 2));
    if (rows >= kGemmRowAlign)
        rows -= rows % kGemmRowAlign;
    else if (rows >= 8)
        rows -= rows % 8;
    if (rows < 1) rows = 1;
    return rows < n_rows ? rows : n_rows;
}

// The byte alignment of every slab's f32 output y + r0 (y 256-byte aligned, r0 a multiple of
// slab_rows): the largest power of two dividing 4 * slab_rows, at most 256.
inline uint32_t gemm_output_alignment(int64_t slab_rows) {
    uint32_t align = 4;
    while (align < 256 && (slab_rows * 4) % (2 * align) == 0)
        align *= 2;
    return align;
}

} // namespace infer::cuda
