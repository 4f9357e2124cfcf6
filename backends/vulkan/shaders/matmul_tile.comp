// MatMul for prefill with the GPU kernels (vk_device.h): y[t][r] = W[r] . x[t] in output tiles
// of BM rows x BN tokens, one workgroup per tile, striding. For each BK-column step the
// workgroup decodes the weight tile and loads the activation tile into shared memory, then each
// of its 128 invocations adds the products of a 4-row x 8-token block. With USE_F16 the tiles
// are fp16 (half the shared memory) and the products fp16, summed in fp32; the weights are
// rounded to fp16 as on CUDA's prefill GEMM. A matrix split over weight chunks takes a dispatch
// per part: rows [row0, row0 + part_rows) of y's n, at w_off.
// HeadMatMul runs a matrix per head, the heads as rows of workgroups (matmul_push.glsl).
#version 450
#ifdef USE_F16
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define TILE_T float16_t
#else
#define TILE_T float
#endif
#include "common.glsl"
#include "blocks.glsl"

const uint BM = 64u, BN = 64u, BK = 32u, THREADS = 128u;
const uint RM = 4u, RN = 8u; // each invocation's block: BM / RM = 16 by BN / RN = 8 invocations
layout(local_size_x = 128) in;

#include "matmul_push.glsl"

// +1 column: the compute loop reads a column across rows, which would otherwise hit one bank.
shared TILE_T ws[BM][BK + 1u];
shared TILE_T xs[BN][BK + 1u];

void main() {
    const uint w_off = head_w(), x = head_x(), y = head_y();
    const uint lid = gl_LocalInvocationID.x;
    const uint be = block_elems(WTYPE);
    const uint row_tiles = (p.part_rows + BM - 1u) / BM, token_tiles = (p.n_tokens + BN - 1u) / BN;
    const uint br = (lid % (BM / RM)) * RM, bt = (lid / (BM / RM)) * RN;
    for (uint tile = gl_WorkGroupID.x; tile < row_tiles * token_tiles; tile += gl_NumWorkGroups.x) {
        const uint r0 = (tile % row_tiles) * BM, t0 = (tile / row_tiles) * BN;
        float acc[RM][RN];
        for (uint i = 0u; i < RM; ++i)
            for (uint j = 0u; j < RN; ++j) acc[i][j] = 0.0;
        for (uint k0 = 0u; k0 < p.k; k0 += BK) {
            for (uint e = lid; e < BM * BK; e += THREADS) {
                const uint i = e / BK, c = k0 + e % BK, r = r0 + i;
                float v = 0.0;
                if (r < p.part_rows && c < p.k)
                    v = dq(WTYPE, w_off + r * p.row_bytes + (c / be) * p.block_bytes, c % be);
                ws[i][e % BK] = TILE_T(v);
            }
            for (uint e = lid; e < BN * BK; e += THREADS) {
                const uint j = e / BK, c = k0 + e % BK, t = t0 + j;
                const bool inside = t < p.n_tokens && c < p.k;
                xs[j][e % BK] = TILE_T(inside ? ctx.f[x + t * p.x_stride + c] : 0.0);
            }
            barrier();
            for (uint kk = 0u; kk < BK; ++kk) {
                TILE_T a[RM], b[RN];
                for (uint i = 0u; i < RM; ++i) a[i] = ws[br + i][kk];
                for (uint j = 0u; j < RN; ++j) b[j] = xs[bt + j][kk];
                for (uint i = 0u; i < RM; ++i)
                    for (uint j = 0u; j < RN; ++j) acc[i][j] += float(a[i] * b[j]);
            }
            barrier(); // the next step overwrites the tiles
        }
        for (uint i = 0u; i < RM; ++i) {
            const uint r = r0 + br + i;
            if (r >= p.part_rows) break;
            for (uint j = 0u; j < RN; ++j) {
                const uint t = t0 + bt + j;
                if (t < p.n_tokens) ctx.f[y + t * p.y_stride + p.row0 + r] = acc[i][j];
            }
        }
    }
}
