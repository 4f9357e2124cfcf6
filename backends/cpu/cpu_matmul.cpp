// The matmul driver: activation quantization, thread partitioning and cache tiling around the
// dot-product kernels (see cpu_matmul.h for the contract and layouts).
#include "cpu/cpu_matmul.h"

#include "core/blocks.h"
#include "core/types.h"
#include "cpu/cpu_quantize_act.h"
#include "cpu/cpu_repack.h"
#include "cpu/cpu_vec_dot.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include <unistd.h>

namespace infer::cpu {

namespace {

struct BlockGeom {
    int64_t elems;
    int64_t bytes;
};

// Block geometry of a weight or activation type (the type table's).
bool block_geom(uint32_t type, BlockGeom *g) {
    const TypeTraits *t = type_traits(type);
    if (!t) return false;
    *g = {t->block_elems, t->block_bytes};
    return true;
}

// Bytes of one activation row of k elements in the format `type` pairs with.
int64_t act_row_bytes(uint32_t type, int64_t k) {
    uint32_t act;
    BlockGeom g{1, 1};
    if (!vec_dot_act_type(type, &act) || !block_geom(act, &g)) return 0;
    return k / g.elems * g.bytes;
}

// Tokens per cache block in prefill: their quantized rows (~k bytes each) stay in L2 while the
// thread's weight rows pass by, tile by tile.
constexpr int64_t kTokenBlock = 64;
// Tokens per call for a tile that takes `cols` (more than kTokenBlock for the K-quant lanes,
// whose layout per call costs more): fewer where that many activation rows would pass half of
// this core's L2, as 256 rows of k = 8192 (2.3 MiB) did. The down projection's prefill matmul
// measured 358 -> 381 GMAC/s at 112 tokens per call on a 2 MiB L2.
int64_t token_block(int64_t cols, uint64_t act_stride) {
    static const int64_t budget = [] {
        long l2 = 0;
#ifdef _SC_LEVEL2_CACHE_SIZE
        l2 = sysconf(_SC_LEVEL2_CACHE_SIZE); // 0 or -1 where the system does not say
#endif
        return l2 > 0 ? int64_t(l2) / 2 : int64_t(1) << 20;
    }();
    const int64_t fits = budget / std::max<int64_t>(1, int64_t(act_stride)) & ~int64_t(7);
    return std::max(kTokenBlock, std::min(cols, fits));
}

// Weight rows per cache tile for kernels without a register tile: a few KiB per row, so the tile
// stays in L1 while a token block is swept.
constexpr int kRowTile = 8;

// Rows [*r0, *r1) of n for thread ith of nth, boundaries on multiples of `align`.
void split_rows(int64_t n, int64_t align, int ith, int nth, int64_t *r0, int64_t *r1) {
    const int64_t units = (n + align - 1) / align;
    *r0 = std::min(n, units * ith / nth * align);
    *r1 = std::min(n, units * (ith + 1) / nth * align);
}

// The tile matmul_rows uses for t tokens; fn nullptr: tile_by_dots.
struct TileChoice {
    VecDotTileFn fn;
    int rows;
    int cols;
};

TileChoice choose_tile(const VecDotKernel &kern, int64_t t) {
    if (kern.decode_tile && t == 1) return {kern.decode_tile, kern.decode_rows, 1};
    if (kern.prefill_tile && t > 1)
        return {kern.prefill_tile, kern.prefill_rows, kern.prefill_cols};
    if (kern.tile) return {kern.tile, kern.tile_rows, kern.tile_cols};
    return {nullptr, kRowTile, 1};
}

// Fallback tile: nr x nc separate dot products (the weight rows stay cached across the tokens).
void tile_by_dots(VecDotFn dot, int64_t k, const uint8_t *w, uint64_t w_stride, const uint8_t *a,
                  uint64_t a_stride, float *y, int64_t y_stride, int nr, int nc) {
    for (int c = 0; c < nc; ++c)
        for (int r = 0; r < nr; ++r)
            y[c * y_stride + r] = dot(k, w + r * w_stride, a + c * a_stride);
}

} // namespace

bool matmul_supported(uint32_t type) {
    uint32_t act;
    return vec_dot_act_type(type, &act);
}

bool matmul_valid(const WeightView &w) {
    BlockGeom g{1, 1};
    if (!matmul_supported(w.type) || !block_geom(w.type, &g)) return false;
    if (w.k <= 0 || w.k % g.elems != 0 || w.n < 0) return false;
    if (w.n > 0 && w.data == nullptr) return false;
    if (w.layout != WeightLayout::Rows) {
        VecDotKernel kern;
        if (!vec_dot_kernel(w.type, CpuIsa::Scalar, &kern) || !kern.repacked) return false;
        if (reinterpret_cast<uintptr_t>(w.data) % kRepackAlign != 0) return false;
    }
    return w.row_bytes >= static_cast<uint64_t>(w.k / g.elems * g.bytes);
}

uint64_t matmul_scratch_bytes(uint32_t type, int64_t k, int64_t t) {
    uint32_t act;
    if (!vec_dot_act_type(type, &act) || act == static_cast<uint32_t>(TypeId::F32)) return 0;
    return static_cast<uint64_t>(act_row_bytes(type, k)) * static_cast<uint64_t>(t);
}

void matmul(const WeightView &w, const float *x, int64_t t, float *y, void *scratch, int ith,
            int nth, ThreadPool &pool, CpuIsa isa, bool act_in_scratch) {
    uint32_t act_type = 0;
    if (!vec_dot_act_type(w.type, &act_type) || !matmul_supported(w.type)) return;

    // ---- Phase 1: quantize x (t x k) into scratch. The rows are contiguous in both buffers, so
    // the t * k / block blocks form one flat range, split evenly whatever t is.
    const uint8_t *act = reinterpret_cast<const uint8_t *>(x);
    uint64_t act_stride = static_cast<uint64_t>(w.k) * sizeof(float);
    if (act_type != static_cast<uint32_t>(TypeId::F32)) {
        BlockGeom g{1, 1};
        block_geom(act_type, &g);
        const int64_t blocks = t * (w.k / g.elems);
        const int64_t b0 = blocks * ith / nth, b1 = blocks * (ith + 1) / nth;
        if (!act_in_scratch) {
            if (b1 > b0) {
                quantize_act_fn(act_type, isa)(x + b0 * g.elems,
                                               static_cast<uint8_t *>(scratch) + b0 * g.bytes,
                                               (b1 - b0) * g.elems);
            }
            pool.barrier(ith);
        }
        act = static_cast<const uint8_t *>(scratch);
        act_stride = static_cast<uint64_t>(act_row_bytes(w.type, w.k));
    }

    // ---- Phase 2: this thread's rows of W against all t activation rows.
    if (t == 1 || nth == 1) { // decode streams a fixed share of rows per thread
        int64_t r0 = 0, r1 = w.n;
        if (t == 1) matmul_decode_share(w, ith, nth, &r0, &r1, isa);
        matmul_rows(w, act, act_stride, t, y + r0, w.n, r0, r1, isa);
        return;
    }
    VecDotKernel kern;
    vec_dot_kernel(w.type, isa, &kern);
    int64_t align = kRepackRows;
    if (w.layout == WeightLayout::Rows)
        align = choose_tile(kern, t).rows;
    else if (kern.repacked_prefill)
        align *= kern.repacked_prefill_tiles;
    // Prefill takes chunks of rows as threads finish: a fixed share per thread waited at the
    // barrier for whichever core the host slowed. The chunks shrink with the rows left
    // (claim_share), so the wait is for one small chunk at most, while a chunk's rows still fill
    // whole tiles and, 16 floats at a time, whole cache lines of each token's outputs where those
    // are line-aligned (the arena's rows of a width that is a multiple of 16), so no line is
    // written by two threads. (8 chunks per thread of a fixed size left a thread waiting 4 ms
    // per matmul on average, 8% of its time, in a pp512 of llama-1B IQ4_XS while the host
    // slowed the other core; chunks all of 16 rows cost 5% on a quiet one.)
    const int64_t step = std::lcm(align, int64_t(16));
    int64_t rows = 0;
    for (int64_t r0 = pool.claim_share(w.n, step, &rows); r0 < w.n;
         r0 = pool.claim_share(w.n, step, &rows))
        matmul_rows(w, act, act_stride, t, y + r0, w.n, r0, std::min(w.n, r0 + rows), isa);
}

void matmul_decode_share(const WeightView &w, int ith, int nth, int64_t *r0, int64_t *r1,
                         CpuIsa isa) {
    VecDotKernel kern;
    vec_dot_kernel(w.type, isa, &kern);
    split_rows(w.n, w.layout == WeightLayout::Rows ? choose_tile(kern, 1).rows : kRepackRows, ith,
               nth, r0, r1);
}

uint64_t matmul_act_row_bytes(uint32_t type, int64_t k) {
    uint32_t act;
    if (!vec_dot_act_type(type, &act)) return 0;
    if (act == static_cast<uint32_t>(TypeId::F32)) return static_cast<uint64_t>(k) * sizeof(float);
    return static_cast<uint64_t>(act_row_bytes(type, k));
}

void matmul_quantize_act_row(uint32_t type, const float *x, int64_t k, void *dst, CpuIsa isa) {
    uint32_t act;
    if (!vec_dot_act_type(type, &act)) return;
    if (act == static_cast<uint32_t>(TypeId::F32))
        std::memcpy(dst, x, static_cast<size_t>(k) * sizeof(float));
    else
        quantize_act_fn(act, isa)(x, dst, k);
}

namespace {

// matmul_rows over an interleaved layout: the tiles [r0, r1) touches with the layout's kernel
// (a tile cut by r0 or r1 computes all its rows and keeps those asked for), then the rows after
// the last tile in the row layout. Token blocks as in prefill, so the activation rows stay in L2.
void matmul_rows_repacked(const WeightView &w, const VecDotKernel &kern, const uint8_t *act,
                          uint64_t act_stride, int64_t t, float *y, int64_t y_stride, int64_t r0,
                          int64_t r1, CpuIsa isa) {
    const int64_t tiled = w.n / kRepackRows * kRepackRows;
    const uint64_t tile_bytes = layout_matrix_bytes(w.type, w.layout, w.k, kRepackRows);
    const uint8_t *tiles = static_cast<const uint8_t *>(w.data);
    const bool prefill = t > 1 && kern.repacked_prefill;
    const RepackedTileFn fn = prefill ? kern.repacked_prefill : kern.repacked;
    const int64_t step = kRepackRows * (prefill ? kern.repacked_prefill_tiles : 1);
    // The prefill lanes lay a tile out once per call, so they take as many tokens per call as
    // the row layout's lanes of the type (256 for the K-quants: the layout of Q4_Kx8 and
    // Q6_Kx8 then costs a quarter of what it did at 64).
    const int64_t block = prefill ? token_block(kern.prefill_cols, act_stride) : kTokenBlock;
    for (int64_t c0 = 0; c0 < t; c0 += block) {
        const int nc = static_cast<int>(std::min(t - c0, block));
        for (int64_t r = r0 / kRepackRows * kRepackRows; r < std::min(r1, tiled); r += step) {
            const int64_t lo = std::max(r0, r), hi = std::min({r1, tiled, r + step});
            fn(w.k, tiles + r / kRepackRows * tile_bytes, act + c0 * act_stride, act_stride, nc,
               y + c0 * y_stride + (lo - r0), y_stride, static_cast<int>(lo - r),
               static_cast<int>(hi - r));
        }
    }
    if (r1 > tiled) {
        const WeightView rest{w.type, w.k, w.n - tiled, tiles + tiled / kRepackRows * tile_bytes,
                              w.row_bytes};
        const int64_t from = std::max(r0, tiled);
        matmul_rows(rest, act, act_stride, t, y + (from - r0), y_stride, from - tiled, r1 - tiled,
                    isa);
    }
}

} // namespace

void matmul_rows(const WeightView &w, const uint8_t *act, uint64_t act_stride, int64_t t, float *y,
                 int64_t y_stride, int64_t r0, int64_t r1, CpuIsa isa) {
    VecDotKernel kern;
    if (!vec_dot_kernel(w.type, isa, &kern)) return;
    if (w.layout != WeightLayout::Rows)
        return matmul_rows_repacked(w, kern, act, act_stride, t, y, y_stride, r0, r1, isa);
    const uint8_t *wdata = static_cast<const uint8_t *>(w.data);
    const TileChoice tc = choose_tile(kern, t);

    if (t == 1) { // decode: stream each row once
        // tc.rows rows share each activation block and its scale conversion.
        if (tc.fn) {
            for (int64_t r = r0; r < r1; r += tc.rows) {
                const int nr = static_cast<int>(std::min<int64_t>(tc.rows, r1 - r));
                tc.fn(w.k, wdata + r * w.row_bytes, w.row_bytes, act, act_stride, y + (r - r0),
                      y_stride, nr, 1);
            }
            return;
        }
        for (int64_t r = r0; r < r1; ++r)
            y[r - r0] = kern.dot(w.k, wdata + r * w.row_bytes, act);
        return;
    }
    // A tile that takes more tokens per call than kTokenBlock gets them.
    const int64_t block = token_block(tc.cols, act_stride);
    for (int64_t c0 = 0; c0 < t; c0 += block) {
        const int64_t c_end = std::min(t, c0 + block);
        for (int64_t r = r0; r < r1; r += tc.rows) {
            const int nr = static_cast<int>(std::min<int64_t>(tc.rows, r1 - r));
            const uint8_t *wr = wdata + r * w.row_bytes;
            for (int64_t c = c0; c < c_end; c += tc.cols) {
                const int nc = static_cast<int>(std::min<int64_t>(tc.cols, c_end - c));
                float *yt = y + c * y_stride + (r - r0);
                const uint8_t *at = act + c * act_stride;
                if (tc.fn) {
                    tc.fn(w.k, wr, w.row_bytes, at, act_stride, yt, y_stride, nr, nc);
                } else {
                    tile_by_dots(kern.dot, w.k, wr, w.row_bytes, at, act_stride, yt, y_stride, nr,
                                 nc);
                }
            }
        }
    }
}

void matmul_ref(const WeightView &w, const float *x, int64_t t, float *y) {
    uint32_t act_type = 0;
    VecDotKernel kern;
    if (!vec_dot_act_type(w.type, &act_type) || !vec_dot_kernel(w.type, CpuIsa::Scalar, &kern))
        return;
    const bool float_act = act_type == static_cast<uint32_t>(TypeId::F32);
    std::vector<uint8_t> qrow(static_cast<size_t>(float_act ? 0 : act_row_bytes(w.type, w.k)));
    // An interleaved weight row by row in the file's format: the row kernels' reference.
    std::vector<uint8_t> wrow(w.layout == WeightLayout::Rows ? 0 : w.row_bytes);
    for (int64_t j = 0; j < t; ++j) {
        const float *xj = x + j * w.k; // (k)
        const void *a = xj;
        if (!float_act) {
            quantize_act_fn(act_type, CpuIsa::Scalar)(xj, qrow.data(), w.k);
            a = qrow.data();
        }
        for (int64_t i = 0; i < w.n; ++i) {
            const uint8_t *row = static_cast<const uint8_t *>(w.data) + i * w.row_bytes;
            if (w.layout != WeightLayout::Rows) {
                unpack_row(w, i, wrow.data());
                row = wrow.data();
            }
            y[j * w.n + i] = kern.dot(w.k, row, a);
        }
    }
}

} // namespace infer::cpu
