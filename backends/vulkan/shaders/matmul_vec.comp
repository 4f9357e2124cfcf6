// MatMul for decode with the GPU kernels (vk_device.h): y[t][r] = W[r] . x[t], up to TOKENS
// tokens at a time. One workgroup per output row, striding over rows: its invocations take the
// row's elements in turn (element c goes to invocation c % WG, so neighbours read neighbouring
// bytes of a block and each weight byte is read once per TOKENS tokens), then their partial sums
// are reduced (reduce.glsl: subgroups with USE_SUBGROUP, else shared memory). Bias is a separate
// elementwise dispatch. A matrix split over weight chunks takes a dispatch per part: rows
// [row0, row0 + part_rows) of y's n, at w_off.
// HeadMatMul runs a matrix per head, the heads as rows of workgroups (matmul_push.glsl).
#version 450
#include "common.glsl"
#include "blocks.glsl"

const uint WG = 64u;
const uint TOKENS = 4u;
const uint SUMS = TOKENS;
#include "reduce.glsl"
layout(local_size_x = 64) in;

#include "matmul_push.glsl"

void main() {
    const uint w_off = head_w(), x = head_x(), y = head_y();
    const uint lane = gl_LocalInvocationID.x;
    const uint be = block_elems(WTYPE);
    for (uint r = gl_WorkGroupID.x; r < p.part_rows; r += gl_NumWorkGroups.x) {
        const uint row = w_off + r * p.row_bytes;
        for (uint t0 = 0u; t0 < p.n_tokens; t0 += TOKENS) {
            const uint nt = min(TOKENS, p.n_tokens - t0);
            float acc[TOKENS];
            for (uint t = 0u; t < TOKENS; ++t) acc[t] = 0.0;
            for (uint c = lane; c < p.k; c += WG) {
                const float wv = dq(WTYPE, row + (c / be) * p.block_bytes, c % be);
                for (uint t = 0u; t < nt; ++t) acc[t] += wv * ctx.f[x + (t0 + t) * p.x_stride + c];
            }
            workgroup_sums(lane, acc);
            if (lane < nt) ctx.f[y + (t0 + lane) * p.y_stride + p.row0 + r] = partial[lane];
            barrier(); // partial is reused by the next tokens or row
        }
    }
}
