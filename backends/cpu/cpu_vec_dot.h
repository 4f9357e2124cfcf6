// Dot products of one weight row with one activation row, the kernels under matmul.
//
// A weight row is k elements in its ggml block format (k a multiple of the block size). The
// activation row is in the format ggml pairs with that weight type:
//   Q4_0, Q5_0, Q8_0 -> Q8_0;  Q4_1, Q5_1 -> Q8_1 (its s = d * sum(q) carries the min term);
//   Q2_K..Q6_K -> Q8_K (its bsums carry the min terms);  F32, F16, BF16 -> plain f32;
//   IQ4_NL, MXFP4 -> Q8_0;  IQ4_XS and the lattice/ternary formats (IQ2_*, IQ3_*, IQ1_*,
//   TQ1_0, TQ2_0) -> Q8_K.
// Float weights take f32 activations rather than ggml's f16: converting the weight on the fly is
// as cheap as converting an f16 activation, the weight stream dominates the cost, and nothing is
// lost to rounding x.
//
// *_ref are the readable scalar references (same integer math as ggml's generic
// ggml_vec_dot_*_q8_* code). The SIMD versions are reached through vec_dot_kernel().
#pragma once

#include "cpu/cpu_isa.h"

#include <cstdint>

namespace infer::cpu {

using VecDotFn = float (*)(int64_t k, const void *w_row, const void *act_row);

// Computes an nr x nc tile of outputs: y[c * y_stride + r] = dot(w row r, act row c), for
// r < nr <= tile_rows and c < nc <= tile_cols. Rows are w_stride / act_stride bytes apart.
using VecDotTileFn = void (*)(int64_t k, const void *w, uint64_t w_stride, const void *act,
                              uint64_t act_stride, float *y, int64_t y_stride, int nr, int nc);

// The kernel of a weight's interleaved layout (cpu_repack.h): rows [lo, hi) of one tile of
// kRepackRows rows against nc activation rows (act_stride bytes apart):
// y[c * y_stride + r - lo] = dot(tile row r, act row c), 0 <= lo < hi <= kRepackRows.
using RepackedTileFn = void (*)(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                                int nc, float *y, int64_t y_stride, int lo, int hi);

struct VecDotKernel {
    VecDotFn dot = nullptr;
    VecDotTileFn tile = nullptr; // nullptr: the driver tiles with dot()
    int tile_rows = 1;
    int tile_cols = 1;
    // Optional tile that the driver prefers for prefill (t > 1): one that lays a block of weight
    // rows out once for many tokens, which does not pay for a single token. Every prompt chunk
    // then goes through the same kernel, down to the last few tokens.
    VecDotTileFn prefill_tile = nullptr;
    int prefill_rows = 1;
    int prefill_cols =
        1; // tokens per call; above the driver's token block (64), it takes that many
    // Optional kernel that the driver prefers for one token (decode): decode_rows rows against a
    // single activation row (nc == 1), for formats whose tile spends more on setup than one
    // token repays.
    VecDotTileFn decode_tile = nullptr;
    int decode_rows = 1;
    // The kernel of the type's interleaved layout (cpu_repack.h: repack_layout), or null, and
    // the one for t > 1 where the row layout sums prefill in another order (null: `repacked`).
    RepackedTileFn repacked = nullptr;
    RepackedTileFn repacked_prefill = nullptr;
    // Tiles repacked_prefill reads per call: 2 for a kernel whose lanes hold 16 rows, which then
    // takes rows [lo, hi) of the tile at `tile` and the next (0 <= lo < hi <= 16; the next tile
    // exists whenever hi > kRepackRows).
    int repacked_prefill_tiles = 1;
};

// The activation type (ggml id: Q8_0, Q8_1, Q8_K, or F32) that weights of `type` pair with;
// false when `type` has no matmul kernel.
bool vec_dot_act_type(uint32_t type, uint32_t *act_type);

// Kernels for weight `type` on `isa`; false when the type is unsupported. A level without its
// own kernel for a type gets the next lower level's.
bool vec_dot_kernel(uint32_t type, CpuIsa isa, VecDotKernel *out);

float vec_dot_q4_0_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_q4_1_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_q5_0_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_q5_1_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_q8_0_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_q2_K_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_q3_K_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_q4_K_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_q5_K_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_q6_K_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_iq4_nl_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_iq4_xs_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_mxfp4_ref(int64_t k, const void *w_row, const void *act_row);
// cpu_vec_dot_ref_lattice.cpp
float vec_dot_iq2_xxs_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_iq2_xs_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_iq2_s_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_iq3_xxs_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_iq3_s_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_iq1_s_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_iq1_m_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_tq1_0_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_tq2_0_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_f32_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_f16_ref(int64_t k, const void *w_row, const void *act_row);
float vec_dot_bf16_ref(int64_t k, const void *w_row, const void *act_row);

// Per-ISA tables, defined in cpu_vec_dot_x86.inc's two instantiations; false when the type has
// no kernel at that level.
bool vec_dot_kernel_avx2(uint32_t type, VecDotKernel *out);
bool vec_dot_kernel_avx512vnni(uint32_t type, VecDotKernel *out);
// AArch64 (cpu_vec_dot_neon.inc's three instantiations); false elsewhere.
bool vec_dot_kernel_neon(uint32_t type, VecDotKernel *out);
bool vec_dot_kernel_neon_dotprod(uint32_t type, VecDotKernel *out);
bool vec_dot_kernel_neon_i8mm(uint32_t type, VecDotKernel *out);

// The 6-bit scales and mins of Q4_K/Q5_K sub-blocks j = 0..7 (ggml's get_scale_min_k4):
// j < 4: low 6 bits of bytes j and j+4; j >= 4: a nibble of byte j+4 plus the top 2 bits of
// bytes j-4 and j.
inline void q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// The 16 6-bit Q3_K scales (before the -32 offset): low 4 bits from bytes 0..7 (low nibbles for
// j < 8, high nibbles for j >= 8), high 2 bits from bytes 8..11.
inline int q3k_scale(int j, const uint8_t *s) {
    const int low = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return low | (high << 4);
}

} // namespace infer::cpu
