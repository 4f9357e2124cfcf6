// The inner loops of the decode matvecs, shared by the dense kernels (cuda_matvec.cu,
// cuda_matvec_int8.cu) and the grouped expert kernels (cuda_moe_ffn.cu): R weight rows, taken
// by one warp, against up to NT activation rows; each lane accumulates the partial dot products of
// its units and the caller reduces across the warp. An activation row is given by a function of
// the tile's token index, so a dense kernel reads row t and an expert kernel the row its group
// lists; the loops, and so the bytes each lane reads, are the same. Device code only.
#pragma once

#include "cuda/cuda_blocks.h"
#include "cuda/cuda_hd.h"
#include "cuda/cuda_int8_dot.h"

#include <cstdint>

namespace infer::cuda {

// acc[r][t] += this lane's share of rows[r] . x_row(t), k elements of block type B, for t <
// n_tokens. Lane l takes chunks l, l + 32, ... (cuda_blocks.h); x_row(t) is a float row of k.
template <class B, int R, int NT, class XRow>
__device__ __forceinline__ void float_rows_dot(const uint8_t *const (&rows)[R], int64_t k,
                                               int n_tokens, XRow x_row, float (&acc)[R][NT]) {
    const int lane = threadIdx.x % 32;
    const int64_t n_units = k / B::kBlockElems * B::kChunks;
    for (int64_t u = lane; u < n_units; u += 32) {
        const int64_t blk = u / B::kChunks;
        const int chunk = static_cast<int>(u % B::kChunks);
        INFER_UNROLL
        for (int r = 0; r < R; ++r)
            B::visit(rows[r] + blk * B::kBlockBytes, chunk, [&](int j, float v) {
                INFER_UNROLL
                for (int t = 0; t < NT; ++t)
                    if (t < n_tokens) acc[r][t] += v * __ldg(x_row(t) + blk * B::kBlockElems + j);
            });
    }
}

// One token's int8 activations (cuda_int8_dot.h): its quantized row and that row's scales.
struct ActRow {
    const int8_t *q;
    const ActScale *s;
};

// acc[r][t] += this lane's share of rows[r] . act_row(t) over n_blocks blocks of int8 type Q,
// for t < n_tokens. Lane l takes units l, l + 32, ...; the loads of Q::kUnroll units of every
// row are issued before any math, and each unit's activation words serve all R rows.
template <class Q, int R, int NT, class ActRowOf>
__device__ __forceinline__ void int8_rows_dot(const uint8_t *const (&rows)[R], int64_t n_blocks,
                                              int n_tokens, ActRowOf act_row, float (&acc)[R][NT]) {
    constexpr int U = Q::kUnroll;
    const int lane = threadIdx.x % 32;
    const int64_t n_units = n_blocks * Q::kUnits;
    for (int64_t u0 = lane; u0 < n_units; u0 += 32 * U) {
        uint32_t wv[U][R][Q::kWords];
        INFER_UNROLL
        for (int uu = 0; uu < U; ++uu) {
            const int64_t unit = u0 + 32 * uu;
            if (unit >= n_units) break;
            const int64_t blk = unit / Q::kUnits;
            const int part = static_cast<int>(unit % Q::kUnits);
            INFER_UNROLL
            for (int r = 0; r < R; ++r)
                Q::load(rows[r] + blk * Q::kBlockBytes, part, wv[uu][r]);
        }
        INFER_UNROLL
        for (int uu = 0; uu < U; ++uu) {
            const int64_t unit = u0 + 32 * uu;
            if (unit >= n_units) break;
            const int64_t blk = unit / Q::kUnits;
            const int part = static_cast<int>(unit % Q::kUnits);
            INFER_UNROLL
            for (int t = 0; t < NT; ++t) {
                if (t >= n_tokens) break;
                uint32_t a[4 * Q::kActPieces];
                ActScale s[Q::kActScales];
                const ActRow row = act_row(t);
                load_act<Q>(row.q, row.s, blk, part, a, s);
                INFER_UNROLL
                for (int r = 0; r < R; ++r)
                    acc[r][t] += Q::dot(wv[uu][r], part, a, s);
            }
        }
    }
}

} // namespace infer::cuda
