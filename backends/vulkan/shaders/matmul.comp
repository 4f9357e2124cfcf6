// MatMul: y[t][r] = W[r] . x[t] for t < n_tokens, rows of the pipeline's weight type (WTYPE).
// One invocation per output row (64 rows a workgroup, striding): it decodes its row's elements
// block by block and multiplies each into up to 32 tokens at once, then the next 32. Every
// invocation of a workgroup reads the same activation element at the same time. No barriers
// and no shared memory: a CPU driver (lavapipe) pays dearly for a barrier, and the reduction a
// row split across invocations needs costs more there than it saves. Bias is a separate
// elementwise dispatch (it may sit in another weight chunk). A matrix split over weight chunks
// (vk_weights.h) takes a dispatch per part: rows [row0, row0 + part_rows) of y's n, at w_off.
// HeadMatMul runs a matrix per head, the heads as rows of workgroups (matmul_push.glsl).
#version 450
#include "common.glsl"
#include "blocks.glsl"

layout(local_size_x = 64) in;

#include "matmul_push.glsl"

const uint TOKENS = 32u;

void main() {
    const uint w_off = head_w(), x = head_x(), y = head_y();
    const uint be = block_elems(WTYPE);
    const uint tiles = (p.part_rows + 63u) / 64u;
    for (uint tile = gl_WorkGroupID.x; tile < tiles; tile += gl_NumWorkGroups.x) {
        const uint r = tile * 64u + gl_LocalInvocationID.x;
        if (r >= p.part_rows) continue;
        const uint row = w_off + r * p.row_bytes;
        for (uint t0 = 0u; t0 < p.n_tokens; t0 += TOKENS) {
            const uint nt = min(TOKENS, p.n_tokens - t0);
            float acc[TOKENS];
            for (uint t = 0u; t < TOKENS; ++t) acc[t] = 0.0;
            // Block by block: a block's scales are loop-invariant over its elements, so the
            // compiler loads them once per block.
            for (uint b = row, col = 0u; col < p.k; b += p.block_bytes) {
                for (uint j = 0u; j < be; ++j, ++col) {
                    const float wv = dq(WTYPE, b, j);
                    for (uint t = 0u; t < nt; ++t)
                        acc[t] += wv * ctx.f[x + (t0 + t) * p.x_stride + col];
                }
            }
            for (uint t = 0u; t < nt; ++t) ctx.f[y + (t0 + t) * p.y_stride + p.row0 + r] = acc[t];
        }
    }
}
