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

// One interleaved block of 8 rows: its bytes and the elements it holds per row.
struct TileBlock {
    uint64_t bytes;
    int64_t elems;
};

TileBlock tile_block(WeightLayout layout) {
    switch (layout) {
    case WeightLayout::Q4_Kx8:
        return {sizeof(BlockQ4_Kx8), QK_K};
    case WeightLayout::Q6_Kx8:
        return {sizeof(BlockQ6_Kx8), QK_K};
    case WeightLayout::Q4_0x8:
        return {sizeof(BlockQ4_0x8), QK4_0};
    case WeightLayout::Q8_0x8:
        return {sizeof(BlockQ8_0x8), QK8_0};
    case WeightLayout::Q4_1x8:
        return {sizeof(BlockQ4_1x8), QK4_1};
    case WeightLayout::IQ4_XSx8:
        return {sizeof(BlockIQ4_XSx8), QK_K};
    case WeightLayout::Rows:
        break;
    }
    return {0, 1};
}

uint64_t tile_bytes(WeightLayout layout, int64_t k) {
    const TileBlock b = tile_block(layout);
    return static_cast<uint64_t>(k / b.elems) * b.bytes;
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

// Byte i of a row's quants is byte i % 4 of its chunk i / 4 in the tile.
uint8_t tile_byte(const uint8_t *qs, int r, int i) {
    return qs[(i / 4 * kRepackRows + r) * 4 + i % 4];
}
// The Q4_Kx8 and IQ4_XSx8 nibble order: element l (0..31) of sub-block s of row r is nibble
// s % 2 of the row's byte 32 (s / 2) + l.
int kx8_nibble(const uint8_t *qs, int r, int s, int l) {
    return (tile_byte(qs, r, 32 * (s / 2) + l) >> (4 * (s % 2))) & 0xF;
}
// IQ4_XS's file order: element l of sub-block s is nibble l / 16 of byte 16 s + l % 16.
int iq4xs_file_index(const uint8_t *qs, int s, int l) {
    return (qs[16 * s + l % 16] >> (4 * (l / 16))) & 0xF;
}

// Row r's block (file format, at src) into the interleaved block o, and back.
void put_block(WeightLayout layout, const uint8_t *src, int r, uint8_t *o) {
    switch (layout) {
    case WeightLayout::Q4_Kx8: {
        const auto b = load_block<BlockQ4_K>(src, 0);
        auto &t = *reinterpret_cast<BlockQ4_Kx8 *>(o);
        t.d[r] = b.d;
        t.dmin[r] = b.dmin;
        for (int s = 0; s < 8; ++s) {
            uint8_t sc = 0, m = 0;
            q4k_scale_min(s, b.scales, &sc, &m);
            t.scales.set(s, r, sc);
            t.mins.set(s, r, m);
        }
        interleave_chunks(b.qs, QK_K / 8, r, t.qs);
        break;
    }
    case WeightLayout::Q6_Kx8: {
        const auto b = load_block<BlockQ6_K>(src, 0);
        auto &t = *reinterpret_cast<BlockQ6_Kx8 *>(o);
        t.d[r] = b.d;
        for (int s = 0; s < QK_K / 16; ++s)
            t.scales[s][r] = b.scales[s];
        for (int h = 0; h < 2; ++h)
            for (int l = 0; l < 32; ++l) {
                int q[4]; // quarter i's quant at l
                for (int i = 0; i < 4; ++i)
                    q[i] = q6k_quant(b, 128 * h + 32 * i + l);
                for (int p = 0; p < 3; ++p)
                    t.q[h][l / 4][p][4 * r + l % 4] =
                        static_cast<uint8_t>(q[p] | ((q[3] >> (2 * p)) & 3) << 6);
            }
        break;
    }
    case WeightLayout::Q4_0x8: {
        const auto b = load_block<BlockQ4_0>(src, 0);
        auto &t = *reinterpret_cast<BlockQ4_0x8 *>(o);
        t.d[r] = b.d;
        interleave_chunks(b.qs, QK4_0 / 8, r, t.qs);
        break;
    }
    case WeightLayout::Q8_0x8: {
        const auto b = load_block<BlockQ8_0>(src, 0);
        auto &t = *reinterpret_cast<BlockQ8_0x8 *>(o);
        t.d[r] = b.d;
        interleave_chunks(reinterpret_cast<const uint8_t *>(b.qs), QK8_0 / 4, r,
                          reinterpret_cast<uint8_t *>(t.qs));
        break;
    }
    case WeightLayout::Q4_1x8: {
        const auto b = load_block<BlockQ4_1>(src, 0);
        auto &t = *reinterpret_cast<BlockQ4_1x8 *>(o);
        t.d[r] = b.d;
        t.m[r] = b.m;
        interleave_chunks(b.qs, QK4_1 / 8, r, t.qs);
        break;
    }
    case WeightLayout::IQ4_XSx8: {
        const auto b = load_block<BlockIQ4_XS>(src, 0);
        auto &t = *reinterpret_cast<BlockIQ4_XSx8 *>(o);
        t.d[r] = b.d;
        uint8_t row[QK_K / 2] = {};
        for (int s = 0; s < 8; ++s) {
            t.scales.set(s, r, iq4xs_scale(b, s));
            for (int l = 0; l < 32; ++l)
                row[32 * (s / 2) + l] |=
                    static_cast<uint8_t>(iq4xs_file_index(b.qs, s, l) << (4 * (s % 2)));
        }
        interleave_chunks(row, QK_K / 8, r, t.qs);
        break;
    }
    case WeightLayout::Rows:
        break;
    }
}

void get_block(WeightLayout layout, const uint8_t *o, int r, uint8_t *dst) {
    switch (layout) {
    case WeightLayout::Q4_Kx8: {
        const auto t = load_block<BlockQ4_Kx8>(o, 0);
        BlockQ4_K b;
        b.d = t.d[r];
        b.dmin = t.dmin[r];
        uint8_t sc[8], m[8];
        for (int s = 0; s < 8; ++s) {
            sc[s] = static_cast<uint8_t>(t.scales.get(s, r));
            m[s] = static_cast<uint8_t>(t.mins.get(s, r));
        }
        pack_q4k_scales(sc, m, b.scales);
        deinterleave_chunks(t.qs, QK_K / 8, r, b.qs);
        std::memcpy(dst, &b, sizeof b);
        break;
    }
    case WeightLayout::Q6_Kx8: {
        const auto t = load_block<BlockQ6_Kx8>(o, 0);
        BlockQ6_K b;
        b.d = t.d[r];
        for (int s = 0; s < QK_K / 16; ++s)
            b.scales[s] = t.scales[s][r];
        std::memset(b.ql, 0, sizeof b.ql);
        std::memset(b.qh, 0, sizeof b.qh);
        for (int e = 0; e < QK_K; ++e) {
            const int h = e / 128, i = (e % 128) / 32, l = e % 32, q = q6kx8_value(t, r, e);
            b.ql[64 * h + l + 32 * (i % 2)] |= static_cast<uint8_t>((q & 0xF) << (i < 2 ? 0 : 4));
            b.qh[32 * h + l] |= static_cast<uint8_t>((q >> 4) << (2 * i));
        }
        std::memcpy(dst, &b, sizeof b);
        break;
    }
    case WeightLayout::Q4_0x8: {
        const auto t = load_block<BlockQ4_0x8>(o, 0);
        BlockQ4_0 b;
        b.d = t.d[r];
        deinterleave_chunks(t.qs, QK4_0 / 8, r, b.qs);
        std::memcpy(dst, &b, sizeof b);
        break;
    }
    case WeightLayout::Q8_0x8: {
        const auto t = load_block<BlockQ8_0x8>(o, 0);
        BlockQ8_0 b;
        b.d = t.d[r];
        deinterleave_chunks(reinterpret_cast<const uint8_t *>(t.qs), QK8_0 / 4, r,
                            reinterpret_cast<uint8_t *>(b.qs));
        std::memcpy(dst, &b, sizeof b);
        break;
    }
    case WeightLayout::Q4_1x8: {
        const auto t = load_block<BlockQ4_1x8>(o, 0);
        BlockQ4_1 b;
        b.d = t.d[r];
        b.m = t.m[r];
        deinterleave_chunks(t.qs, QK4_1 / 8, r, b.qs);
        std::memcpy(dst, &b, sizeof b);
        break;
    }
    case WeightLayout::IQ4_XSx8: {
        const auto t = load_block<BlockIQ4_XSx8>(o, 0);
        BlockIQ4_XS b{};
        b.d = t.d[r];
        for (int s = 0; s < 8; ++s) {
            const int ls = t.scales.get(s, r);
            b.scales_l[s / 2] |= static_cast<uint8_t>((ls & 0xF) << (4 * (s % 2)));
            b.scales_h = static_cast<uint16_t>(b.scales_h | (ls >> 4) << (2 * s));
            for (int l = 0; l < 32; ++l)
                b.qs[16 * s + l % 16] |=
                    static_cast<uint8_t>(kx8_nibble(t.qs, r, s, l) << (4 * (l / 16)));
        }
        std::memcpy(dst, &b, sizeof b);
        break;
    }
    case WeightLayout::Rows:
        break;
    }
}

} // namespace

WeightLayout repack_layout(uint32_t type, CpuIsa isa) {
    // The interleaved layouts' fast kernels are x86's; elsewhere only the readable ones, which
    // are no faster than the rows.
    if (isa != CpuIsa::Avx2 && isa != CpuIsa::Avx512Vnni) return WeightLayout::Rows;
    switch (static_cast<TypeId>(type)) {
    case TypeId::Q4_K:
        return WeightLayout::Q4_Kx8;
    case TypeId::Q6_K:
        return WeightLayout::Q6_Kx8;
    case TypeId::Q4_0:
        return WeightLayout::Q4_0x8;
    case TypeId::Q8_0:
        return WeightLayout::Q8_0x8;
    case TypeId::Q4_1:
        return WeightLayout::Q4_1x8;
    case TypeId::IQ4_XS:
        return WeightLayout::IQ4_XSx8;
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
    const TileBlock tb = tile_block(layout);
    const uint64_t block_bytes = row / static_cast<uint64_t>(k / tb.elems); // the file's
    uint8_t *out = static_cast<uint8_t *>(dst);
    for (int64_t i = 0; i < tiles; ++i) {
        for (int64_t ib = 0; ib < k / tb.elems; ++ib, out += tb.bytes)
            for (int r = 0; r < kRepackRows; ++r)
                put_block(layout, bytes(src) + (i * kRepackRows + r) * row_bytes + ib * block_bytes,
                          r, out);
    }
    for (int64_t r = tiles * kRepackRows; r < n; ++r, out += row)
        std::memcpy(out, bytes(src) + r * row_bytes, row);
}

void unpack_block(const WeightView &w, int64_t r, int64_t ib, void *dst) {
    const uint64_t row = compact_row_bytes(w.type, w.k);
    const TypeTraits *t = type_traits(w.type);
    const auto block = static_cast<uint64_t>(t->block_bytes);
    const int64_t tiled = w.layout == WeightLayout::Rows ? 0 : w.n / kRepackRows * kRepackRows;
    if (r >= tiled) {
        const uint64_t stride = w.layout == WeightLayout::Rows ? w.row_bytes : row;
        const uint8_t *rest = bytes(w.data) + (tiled / kRepackRows) * tile_bytes(w.layout, w.k);
        std::memcpy(dst, rest + (r - tiled) * stride + ib * block, block);
        return;
    }
    const uint8_t *tile = bytes(w.data) + (r / kRepackRows) * tile_bytes(w.layout, w.k);
    get_block(w.layout, tile + ib * tile_block(w.layout).bytes, static_cast<int>(r % kRepackRows),
              static_cast<uint8_t *>(dst));
}

void unpack_row(const WeightView &w, int64_t r, void *dst) {
    const TypeTraits *t = type_traits(w.type);
    for (int64_t ib = 0; ib < w.k / t->block_elems; ++ib)
        unpack_block(w, r, ib, static_cast<uint8_t *>(dst) + ib * t->block_bytes);
}

namespace {

// The loops every readable tile kernel shares: y for rows [lo, hi) and nc tokens is the sum over
// the row's blocks of term(block ib, row r, the token's activation row), in block order.
template <class Term>
void tile_ref(int64_t nb, const void *act, uint64_t act_stride, int nc, float *y, int64_t y_stride,
              int lo, int hi, Term term) {
    for (int c = 0; c < nc; ++c) {
        const uint8_t *a_row = bytes(act) + c * act_stride;
        for (int r = lo; r < hi; ++r) {
            float sum = 0.0f;
            for (int64_t ib = 0; ib < nb; ++ib)
                sum += term(ib, r, a_row);
            y[c * y_stride + (r - lo)] = sum;
        }
    }
}

// Row r's 32 nibbles of a Q4_0/Q4_1 tile block (byte j: elements j and j + 16), less `offset`,
// against the activation quants aq.
int nibble_block_dot(const uint8_t *qs, int r, int offset, const int8_t *aq) {
    int sumi = 0;
    for (int j = 0; j < QK4_0 / 2; ++j) {
        const uint8_t q = tile_byte(qs, r, j);
        sumi += ((q & 0xF) - offset) * aq[j];
        sumi += ((q >> 4) - offset) * aq[j + QK4_0 / 2];
    }
    return sumi;
}

} // namespace

void repacked_tile_q4_K_ref(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                            int nc, float *y, int64_t y_stride, int lo, int hi) {
    tile_ref(k / QK_K, act, act_stride, nc, y, y_stride, lo, hi,
             [&](int64_t ib, int r, const uint8_t *a_row) {
                 const auto w = load_block<BlockQ4_Kx8>(bytes(tile), ib);
                 const auto a = load_block<BlockQ8_K>(a_row, ib);
                 int sumi = 0, summins = 0;
                 for (int g = 0; g < QK_K / 32; ++g) {
                     summins += w.mins.get(g, r) * (a.bsums[2 * g] + a.bsums[2 * g + 1]);
                     int sumg = 0;
                     for (int l = 0; l < 32; ++l)
                         sumg += kx8_nibble(w.qs, r, g, l) * a.qs[32 * g + l];
                     sumi += w.scales.get(g, r) * sumg;
                 }
                 return fp16_to_fp32(w.d[r]) * a.d * static_cast<float>(sumi) -
                        fp16_to_fp32(w.dmin[r]) * a.d * static_cast<float>(summins);
             });
}

void repacked_tile_iq4_xs_ref(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                              int nc, float *y, int64_t y_stride, int lo, int hi) {
    tile_ref(k / QK_K, act, act_stride, nc, y, y_stride, lo, hi,
             [&](int64_t ib, int r, const uint8_t *a_row) {
                 const auto w = load_block<BlockIQ4_XSx8>(bytes(tile), ib);
                 const auto a = load_block<BlockQ8_K>(a_row, ib);
                 int sumi = 0;
                 for (int s = 0; s < 8; ++s) {
                     int sums = 0;
                     for (int l = 0; l < 32; ++l)
                         sums += kValuesIQ4NL[kx8_nibble(w.qs, r, s, l)] * a.qs[32 * s + l];
                     sumi += (w.scales.get(s, r) - 32) * sums;
                 }
                 return fp16_to_fp32(w.d[r]) * a.d * static_cast<float>(sumi);
             });
}

void repacked_tile_q6_K_ref(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                            int nc, float *y, int64_t y_stride, int lo, int hi) {
    tile_ref(k / QK_K, act, act_stride, nc, y, y_stride, lo, hi,
             [&](int64_t ib, int r, const uint8_t *a_row) {
                 const auto w = load_block<BlockQ6_Kx8>(bytes(tile), ib);
                 const auto a = load_block<BlockQ8_K>(a_row, ib);
                 int sumi = 0;
                 for (int e = 0; e < QK_K; ++e)
                     sumi += w.scales[e / 16][r] * (q6kx8_value(w, r, e) - 32) * a.qs[e];
                 return fp16_to_fp32(w.d[r]) * a.d * static_cast<float>(sumi);
             });
}

void repacked_tile_q4_0_ref(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                            int nc, float *y, int64_t y_stride, int lo, int hi) {
    tile_ref(k / QK4_0, act, act_stride, nc, y, y_stride, lo, hi,
             [&](int64_t ib, int r, const uint8_t *a_row) {
                 const auto w = load_block<BlockQ4_0x8>(bytes(tile), ib);
                 const auto a = load_block<BlockQ8_0>(a_row, ib);
                 const int sumi = nibble_block_dot(w.qs, r, 8, a.qs);
                 return static_cast<float>(sumi) * fp16_to_fp32(w.d[r]) * fp16_to_fp32(a.d);
             });
}

void repacked_tile_q8_0_ref(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                            int nc, float *y, int64_t y_stride, int lo, int hi) {
    tile_ref(k / QK8_0, act, act_stride, nc, y, y_stride, lo, hi,
             [&](int64_t ib, int r, const uint8_t *a_row) {
                 const auto w = load_block<BlockQ8_0x8>(bytes(tile), ib);
                 const auto a = load_block<BlockQ8_0>(a_row, ib);
                 const auto *qs = reinterpret_cast<const uint8_t *>(w.qs);
                 int sumi = 0;
                 for (int j = 0; j < QK8_0; ++j)
                     sumi += static_cast<int8_t>(tile_byte(qs, r, j)) * a.qs[j];
                 return static_cast<float>(sumi) * (fp16_to_fp32(w.d[r]) * fp16_to_fp32(a.d));
             });
}

void repacked_tile_q4_1_ref(int64_t k, const void *tile, const void *act, uint64_t act_stride,
                            int nc, float *y, int64_t y_stride, int lo, int hi) {
    tile_ref(k / QK4_1, act, act_stride, nc, y, y_stride, lo, hi,
             [&](int64_t ib, int r, const uint8_t *a_row) {
                 const auto w = load_block<BlockQ4_1x8>(bytes(tile), ib);
                 const auto a = load_block<BlockQ8_1>(a_row, ib);
                 const int sumi = nibble_block_dot(w.qs, r, 0, a.qs);
                 return fp16_to_fp32(w.d[r]) * fp16_to_fp32(a.d) * static_cast<float>(sumi) +
                        fp16_to_fp32(w.m[r]) * fp16_to_fp32(a.s);
             });
}

} // namespace infer::cpu
