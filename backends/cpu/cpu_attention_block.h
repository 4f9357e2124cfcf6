// Prompt attention in blocks: the query rows of several tokens and the query heads that share a
// kv head go through each tile of keys together, so a key or value row is converted once for all
// of them and the products run as small register-tiled matrix products (scores Q K^T, then P V)
// instead of one dot product and one axpy per (row, key). Decode (one token) keeps the per-row
// path of cpu_attention.cpp, which splits finer across threads.
#pragma once

#include "cpu/cpu_ops.h"

namespace infer::cpu {

// The most query rows a block holds: 16 rows of a 64-wide head keep a key tile's scores and the
// outputs' accumulators in L1 beside the converted key and value tile.
inline constexpr int kBlockRows = 16;

// Query rows of one kv head: row r reads q[r] (head_dim floats), writes o[r], and sees the key
// rows keys[r] (causal and window limits already applied; may be empty).
struct AttnBlock {
    int rows; // 1..kBlockRows
    const float *q[kBlockRows];
    float *o[kBlockRows];
    Range keys[kBlockRows];
    int head[kBlockRows]; // the query head of row r (its sink)
};

// o = acc * attention_out_scale(m, l, ...): the factor that normalizes a row's online softmax
// (running max m, sum l), with head `head`'s sink in the max and the denominator when sinks is
// not null (cpu_attention.cpp).
float attention_out_scale(float m, float l, const float *sinks, int head);

// The SIMD block kernel for this CPU, or null where none runs (no AVX2, or SIMD disabled for
// testing): the caller then attends row by row.
using AttendBlockFn = void (*)(const AttnBlock &b, const void *k_cache, const void *v_cache,
                               int kvh, const KvLayout &kv, const AttnParams &ap, void *scratch);
AttendBlockFn attend_block_kernel();

// Scratch one thread needs for attend_block_kernel()'s function (64-byte aligned).
size_t attend_block_scratch_bytes(const KvLayout &kv);

} // namespace infer::cpu
