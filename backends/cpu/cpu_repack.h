// Weights re-laid out at load for the CPU kernels: 8 rows interleaved block by block.
//
// Decode streams every weight byte once, and a kernel that reads 8 separate rows keeps 8 streams
// in flight and spends its time unpacking per-row scales. In the interleaved layout one tile of 8
// rows is one sequential stream, one 32-byte load holds 4 bytes of each row, and the scales are
// stored a byte per (row, sub-block), so they reach their lanes with one shuffle (the 6-bit ones
// of Q4_K and IQ4_XS stay 6 bits, grouped so that a block's 64 unpack at a time in vectors). The
// arithmetic is the reference's (same integers, same float order): results are bit-identical to
// the row layout's.
//
// A matrix of n rows of k elements in an interleaved layout: tiles of 8 rows first (tile i holds
// rows 8i..8i+7, k / 256 interleaved blocks one after another), then the n % 8 rows left over in
// the row layout (k / 256 plain blocks each). The model repacks a weight only when no one else
// reads it (no device upload, no embedding lookup), then releases the file's pages of it, so the
// process does not hold both copies (runtime/model.cpp).
#pragma once

#include "core/blocks.h"
#include "cpu/cpu_matmul.h"

#include <cstdint>

namespace infer::cpu {

constexpr int kRepackRows = 8;

// 6-bit fields of 8 sub-blocks x 8 rows in 48 bytes, grouped so that one pass of vector shifts
// unpacks all 64 (unpack_fields6, cpu_vec_dot_x86_repacked.inc): low[j][r] holds the low 4 bits
// of sub-block 2 j's field of row r and, above them, 2 j + 1's; high[h][r] the high 2 bits of
// sub-block 4 h + i's at bit 2 i.
struct Fields6x8 {
    uint8_t low[4][8];
    uint8_t high[2][8];

    int get(int s, int r) const {
        const int lo = (low[s / 2][r] >> (4 * (s % 2))) & 0xF;
        const int hi = (high[s / 4][r] >> (2 * (s % 4))) & 3;
        return lo | hi << 4;
    }
    void set(int s, int r, int v) {
        const int lo_shift = 4 * (s % 2), hi_shift = 2 * (s % 4);
        uint8_t &l = low[s / 2][r], &h = high[s / 4][r];
        l = static_cast<uint8_t>((l & ~(0xF << lo_shift)) | (v & 0xF) << lo_shift);
        h = static_cast<uint8_t>((h & ~(3 << hi_shift)) | (v >> 4 & 3) << hi_shift);
    }
};

// Q4_K, 8 rows: exactly 8 x 144 bytes (with the scales and mins as bytes, 1184 put the peak RSS
// of llama-1B Q4_K_M at 1.049x its weights). The scales and mins stay 6 bits; the kernels unpack
// a block's into bytes [sub-block][row], each sub-block's 8 a shuffle away from the rows' lanes.
struct BlockQ4_Kx8 {
    uint16_t d[kRepackRows];    // per row, fp16
    uint16_t dmin[kRepackRows]; // per row, fp16
    Fields6x8 scales;
    Fields6x8 mins;
    uint8_t qs[kRepackRows * QK_K / 2]; // 4-byte chunk c of row r at (8 c + r) * 4
};
static_assert(sizeof(BlockQ4_Kx8) == 8 * sizeof(BlockQ4_K));

// Q6_K, 8 rows: 1680 bytes, exactly 8 x 210. Each 128-element half of a row is 4 quarters of 32
// (the row layout's order); for each 4-byte chunk g (elements 4g..4g+3 of every quarter) three
// planes p hold the 8 rows' bytes of quarter p's 6-bit quants, with bits 2p..2p+1 of quarter 3's
// on top (bits 6..7). A decode step then takes quarters 0..2 with one mask each and quarter 3
// with three shifts, masks and two ors: 11 ops per 4 quarters where the file's nibble and
// 2-bit planes took 17 (the weights' bit assembly was half of the Q6_K decode tile's uops).
struct BlockQ6_Kx8 {
    uint16_t d[kRepackRows];               // per row, fp16
    int8_t scales[QK_K / 16][kRepackRows]; // [sub-block][row]
    uint8_t q[2][8][3][kRepackRows * 4];   // [half][chunk g][plane p]: row r's 4 bytes at 4r
};
static_assert(sizeof(BlockQ6_Kx8) == 8 * sizeof(BlockQ6_K));

// Quant e (0..255, the row layout's element order) of row r of a Q6_Kx8 block: 0..63.
inline int q6kx8_value(const BlockQ6_Kx8 &t, int r, int e) {
    const int h = e / 128, i = (e % 128) / 32, l = e % 32;
    const uint8_t *byte = &t.q[h][l / 4][0][4 * r + l % 4]; // plane p at byte[32 * p]
    if (i < 3) return byte[32 * i] & 0x3F;
    return (byte[0] >> 6) | (byte[32] >> 6) << 2 | (byte[64] >> 6) << 4;
}

// Q4_0 and Q8_0, 8 rows: the scales, then the quants in 4-byte chunks; exactly 8 blocks' bytes.
struct BlockQ4_0x8 {
    uint16_t d[kRepackRows];
    uint8_t qs[kRepackRows * QK4_0 / 2]; // chunk c of row r at (8 c + r) * 4
};
static_assert(sizeof(BlockQ4_0x8) == 8 * sizeof(BlockQ4_0));
struct BlockQ8_0x8 {
    uint16_t d[kRepackRows];
    int8_t qs[kRepackRows * QK8_0]; // chunk c of row r at (8 c + r) * 4
};
static_assert(sizeof(BlockQ8_0x8) == 8 * sizeof(BlockQ8_0));
// Q4_1, 8 rows: scales, mins, then the quants as Q4_0's; exactly 8 blocks' bytes.
struct BlockQ4_1x8 {
    uint16_t d[kRepackRows];
    uint16_t m[kRepackRows];
    uint8_t qs[kRepackRows * QK4_1 / 2]; // chunk c of row r at (8 c + r) * 4
};
static_assert(sizeof(BlockQ4_1x8) == 8 * sizeof(BlockQ4_1));

// IQ4_XS, 8 rows: exactly 8 x 136 bytes (as bytes less 32, the scales took 1.5% more, which put
// the peak RSS of llama-1B IQ4_XS past 1.05x its weights). The 6-bit scales are Q4_Kx8's, and the
// codebook indices are in its nibble order (a row's byte 32 j + l: element l of sub-block 2 j in
// its low nibble, of 2 j + 1 in its high).
struct BlockIQ4_XSx8 {
    uint16_t d[kRepackRows];            // per row, fp16
    Fields6x8 scales;                   // before their -32
    uint8_t qs[kRepackRows * QK_K / 2]; // 4-byte chunk c of row r at (8 c + r) * 4
};
static_assert(sizeof(BlockIQ4_XSx8) == 8 * sizeof(BlockIQ4_XS));

constexpr uintptr_t kRepackAlign = 2;
static_assert(alignof(BlockQ4_Kx8) == kRepackAlign && alignof(BlockQ6_Kx8) == kRepackAlign &&
              alignof(BlockQ4_0x8) == kRepackAlign && alignof(BlockQ8_0x8) == kRepackAlign &&
              alignof(BlockQ4_1x8) == kRepackAlign && alignof(BlockIQ4_XSx8) == kRepackAlign);

// The layout the CPU stores weights of `type` in, given the kernels of `isa`: an interleaved one
// when that level has a kernel for it that beats the rows, else Rows.
WeightLayout repack_layout(uint32_t type, CpuIsa isa);

// Bytes of an n x k matrix of `type` in `layout` (the row layout: n compact rows).
uint64_t layout_matrix_bytes(uint32_t type, WeightLayout layout, int64_t k, int64_t n);

// Writes the n rows at src (row_bytes apart, in the file's block format) into dst in `layout`
// (layout_matrix_bytes bytes). An interleaved matrix (dst, and a WeightView's data in such a
// layout) is 2-byte aligned, as its blocks' fp16 scales are (kRepackAlign); every tile and row
// size is even, so the tiles of an aligned matrix, and matrices packed one after another, are.
void repack_matrix(uint32_t type, WeightLayout layout, int64_t k, int64_t n, const void *src,
                   uint64_t row_bytes, void *dst);

// Row r of w (any layout) in the file's block format: the inverse of repack_matrix.
void unpack_row(const WeightView &w, int64_t r, void *dst);
// Block ib of that row only (an embedding lookup's way, without a row buffer).
void unpack_block(const WeightView &w, int64_t r, int64_t ib, void *dst);

// The readable kernel of an interleaved layout (RepackedTileFn, cpu_vec_dot.h): rows [lo, hi) of
// one tile against nc activation rows, the reference's arithmetic straight from the layout.
void repacked_tile_q4_K_ref(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                            int nc, float *y, int64_t y_stride, int lo, int hi);
void repacked_tile_q4_0_ref(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                            int nc, float *y, int64_t y_stride, int lo, int hi);
void repacked_tile_q8_0_ref(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                            int nc, float *y, int64_t y_stride, int lo, int hi);
void repacked_tile_q4_1_ref(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                            int nc, float *y, int64_t y_stride, int lo, int hi);
void repacked_tile_iq4_xs_ref(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                              int nc, float *y, int64_t y_stride, int lo, int hi);
void repacked_tile_q6_K_ref(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                            int nc, float *y, int64_t y_stride, int lo, int hi);

} // namespace infer::cpu
