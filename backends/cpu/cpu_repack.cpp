// Repacking weights into interleaved tiles, unpacking them back, and the readable kernel of the
// interleaved Q4_K layout (see cpu_repack.h).
#include "cpu/cpu_repack.h"

#include "core/fp16.h"
#include "core/types.h"
#include "cpu/cpu_vec_dot.h"

#include <cstring>

namespace infer::cpu {
namespace {

const uint8_t *bytes(const void *p) { return static_cast<const uint8_t *>(p); }

uint64_t compact_row_bytes(uint32_t type, int64_t k) {
    const TypeTraits *t = type_traits(type);
    return t ? static_cast<uint64_t>(k / t->block_elems) * t->block_bytes : 0;
}

uint64_t tile_bytes(WeightLayout layout, int64_t k) {
    switch (layout) {
    case WeightLayout::Q4_Kx8:
        return static_cast<uint64_t>(k / QK_K) * sizeof(BlockQ4_Kx8);
    case WeightLayout::Q6_Kx8:
        return static_cast<uint64_t>(k / QK_K) * sizeof(BlockQ6_Kx8);
    case WeightLayout::Rows:
        break;
    }
    return 0;
}

// Chunks of 4 bytes, row r's chunk c at (8 c + r) * 4: to the tile and back.
void interleave_chunks(const uint8_t *row, int n_chunks, int r, uint8_t *tile) {
    for (int c = 0; c < n_chunks; ++c)
        std::memcpy(tile + (c * kRepackRows + r) * 4, row + 4 * c, 4);
}
void deinterleave_chunks(const uint8_t *tile, int n_chunks, int r, uint8_t *row) {
    for (int c = 0; c < n_chunks; ++c)
        std::memcpy(row + 4 * c, tile + (c * kRepackRows + r) * 4, 4);
}

// The inverse of q4k_scale_min: 8 scales and 8 mins of 6 bits into ggml's 12 bytes.
void pack_q4k_scales(const uint8_t sc[8], const uint8_t m[8], uint8_t out[K_SCALE_SIZE]) {
    for (int j = 0; j < 4; ++j) {
        out[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
        out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
    }
}

void repack_q4_K_tile(int64_t nb, const uint8_t *rows, uint64_t row_bytes, BlockQ4_Kx8 *out) {
    for (int64_t ib = 0; ib < nb; ++ib) {
        BlockQ4_Kx8 &o = out[ib];
        for (int r = 0; r < kRepackRows; ++r) {
            const auto b = load_block<BlockQ4_K>(rows + r * row_bytes, ib);
            o.d[r] = b.d;
            o.dmin[r] = b.dmin;
            for (int s = 0; s < 8; ++s)
                q4k_scale_min(s, b.scales, &o.scales[s][r], &o.mins[r][s]);
            interleave_chunks(b.qs, QK_K / 8, r, o.qs);
        }
    }
}

void unpack_q4_K_row(int64_t nb, const BlockQ4_Kx8 *tile, int r, uint8_t *dst) {
    for (int64_t ib = 0; ib < nb; ++ib) {
        const BlockQ4_Kx8 &t = tile[ib];
        BlockQ4_K b;
        b.d = t.d[r];
        b.dmin = t.dmin[r];
        uint8_t sc[8];
        for (int s = 0; s < 8; ++s)
            sc[s] = t.scales[s][r];
        pack_q4k_scales(sc, t.mins[r], b.scales);
        deinterleave_chunks(t.qs, QK_K / 8, r, b.qs);
        std::memcpy(dst + ib * sizeof b, &b, sizeof b);
    }
}

void repack_q6_K_tile(int64_t nb, const uint8_t *rows, uint64_t row_bytes, BlockQ6_Kx8 *out) {
    for (int64_t ib = 0; ib < nb; ++ib) {
        BlockQ6_Kx8 &o = out[ib];
        for (int r = 0; r < kRepackRows; ++r) {
            const auto b = load_block<BlockQ6_K>(rows + r * row_bytes, ib);
            o.d[r] = b.d;
            for (int s = 0; s < QK_K / 16; ++s)
                o.scales[s][r] = b.scales[s];
            interleave_chunks(b.ql, QK_K / 8, r, o.ql);
            interleave_chunks(b.qh, QK_K / 16, r, o.qh);
        }
    }
}

void unpack_q6_K_row(int64_t nb, const BlockQ6_Kx8 *tile, int r, uint8_t *dst) {
    for (int64_t ib = 0; ib < nb; ++ib) {
        const BlockQ6_Kx8 &t = tile[ib];
        BlockQ6_K b;
        b.d = t.d[r];
        for (int s = 0; s < QK_K / 16; ++s)
            b.scales[s] = t.scales[s][r];
        deinterleave_chunks(t.ql, QK_K / 8, r, b.ql);
        deinterleave_chunks(t.qh, QK_K / 16, r, b.qh);
        std::memcpy(dst + ib * sizeof b, &b, sizeof b);
    }
}

} // namespace

WeightLayout repack_layout(uint32_t type, CpuIsa isa) {
    // The scalar level has only the readable kernel, which is no faster than the rows.
    if (isa == CpuIsa::Scalar) return WeightLayout::Rows;
    switch (static_cast<TypeId>(type)) {
    case TypeId::Q4_K:
        return WeightLayout::Q4_Kx8;
    case TypeId::Q6_K:
        return WeightLayout::Q6_Kx8;
    default:
        return WeightLayout::Rows;
    }
}

uint64_t layout_matrix_bytes(uint32_t type, WeightLayout layout, int64_t k, int64_t n) {
    const uint64_t tiles =
        layout == WeightLayout::Rows ? 0 : static_cast<uint64_t>(n / kRepackRows);
    const uint64_t rest = static_cast<uint64_t>(n) - tiles * kRepackRows;
    return tiles * tile_bytes(layout, k) + rest * compact_row_bytes(type, k);
}

void repack_matrix(uint32_t type, WeightLayout layout, int64_t k, int64_t n, const void *src,
                   uint64_t row_bytes, void *dst) {
    const uint64_t row = compact_row_bytes(type, k);
    const int64_t tiles = layout == WeightLayout::Rows ? 0 : n / kRepackRows;
    uint8_t *out = static_cast<uint8_t *>(dst);
    for (int64_t i = 0; i < tiles; ++i) {
        const uint8_t *rows = bytes(src) + i * kRepackRows * row_bytes;
        switch (layout) {
        case WeightLayout::Q4_Kx8:
            repack_q4_K_tile(k / QK_K, rows, row_bytes, reinterpret_cast<BlockQ4_Kx8 *>(out));
            break;
        case WeightLayout::Q6_Kx8:
            repack_q6_K_tile(k / QK_K, rows, row_bytes, reinterpret_cast<BlockQ6_Kx8 *>(out));
            break;
        case WeightLayout::Rows:
            break;
        }
        out += tile_bytes(layout, k);
    }
    for (int64_t r = tiles * kRepackRows; r < n; ++r, out += row)
        std::memcpy(out, bytes(src) + r * row_bytes, row);
}

void unpack_row(const WeightView &w, int64_t r, void *dst) {
    const uint64_t row = compact_row_bytes(w.type, w.k);
    const int64_t tiled = w.layout == WeightLayout::Rows ? 0 : w.n / kRepackRows * kRepackRows;
    if (r >= tiled) {
        const uint64_t stride = w.layout == WeightLayout::Rows ? w.row_bytes : row;
        const uint8_t *rest = bytes(w.data) + (tiled / kRepackRows) * tile_bytes(w.layout, w.k);
        std::memcpy(dst, rest + (r - tiled) * stride, row);
        return;
    }
    const uint8_t *tile = bytes(w.data) + (r / kRepackRows) * tile_bytes(w.layout, w.k);
    switch (w.layout) {
    case WeightLayout::Q4_Kx8:
        unpack_q4_K_row(w.k / QK_K, reinterpret_cast<const BlockQ4_Kx8 *>(tile),
                        static_cast<int>(r % kRepackRows), static_cast<uint8_t *>(dst));
        break;
    case WeightLayout::Q6_Kx8:
        unpack_q6_K_row(w.k / QK_K, reinterpret_cast<const BlockQ6_Kx8 *>(tile),
                        static_cast<int>(r % kRepackRows), static_cast<uint8_t *>(dst));
        break;
    case WeightLayout::Rows:
        break;
    }
}

void repacked_tile_q4_K_ref(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                            int nc, float *y, int64_t y_stride, int lo, int hi) {
    for (int c = 0; c < nc; ++c) {
        const uint8_t *a_row = bytes(act) + c * act_stride;
        for (int r = lo; r < hi; ++r) {
            float sum = 0.0f;
            for (int64_t ib = 0; ib < k / QK_K; ++ib) {
                const auto w = load_block<BlockQ4_Kx8>(bytes(tile), ib);
                const auto a = load_block<BlockQ8_K>(a_row, ib);
                int sumi = 0, summins = 0;
                for (int g = 0; g < QK_K / 32; ++g) {
                    summins += w.mins[r][g] * (a.bsums[2 * g] + a.bsums[2 * g + 1]);
                    // Sub-block g is nibble g % 2 of the 4-byte chunks 8 (g / 2) .. 8 (g / 2) + 7.
                    int sumg = 0;
                    for (int l = 0; l < 32; ++l) {
                        const int chunk = 8 * (g / 2) + l / 4;
                        const uint8_t byte = w.qs[(chunk * kRepackRows + r) * 4 + l % 4];
                        sumg += ((g % 2 == 0) ? (byte & 0xF) : (byte >> 4)) * a.qs[32 * g + l];
                    }
                    sumi += w.scales[g][r] * sumg;
                }
                sum += fp16_to_fp32(w.d[r]) * a.d * static_cast<float>(sumi) -
                       fp16_to_fp32(w.dmin[r]) * a.d * static_cast<float>(summins);
            }
            y[c * y_stride + (r - lo)] = sum;
        }
    }
}

void repacked_tile_q6_K_ref(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                            int nc, float *y, int64_t y_stride, int lo, int hi) {
    for (int c = 0; c < nc; ++c) {
        const uint8_t *a_row = bytes(act) + c * act_stride;
        for (int r = lo; r < hi; ++r) {
            float sum = 0.0f;
            for (int64_t ib = 0; ib < k / QK_K; ++ib) {
                const auto w = load_block<BlockQ6_Kx8>(bytes(tile), ib);
                const auto a = load_block<BlockQ8_K>(a_row, ib);
                int sumi = 0;
                for (int e = 0; e < QK_K; ++e) {
                    // The row layout's byte indices (vec_dot_q6_K_ref), then their place in the
                    // tile: byte i of a row is byte i % 4 of its chunk i / 4.
                    const int half = e / 128, j = (e % 128) / 32, l = e % 32;
                    const int li = 64 * half + l + 32 * (j % 2), hi_byte = 32 * half + l;
                    const uint8_t lbyte = w.ql[(li / 4 * kRepackRows + r) * 4 + li % 4];
                    const uint8_t hbyte = w.qh[(hi_byte / 4 * kRepackRows + r) * 4 + hi_byte % 4];
                    const int low = j < 2 ? lbyte & 0xF : lbyte >> 4;
                    const int high = (hbyte >> (2 * j)) & 3;
                    sumi += w.scales[e / 16][r] * ((low | (high << 4)) - 32) * a.qs[e];
                }
                sum += fp16_to_fp32(w.d[r]) * a.d * static_cast<float>(sumi);
            }
            y[c * y_stride + (r - lo)] = sum;
        }
    }
}

} // namespace infer::cpu
