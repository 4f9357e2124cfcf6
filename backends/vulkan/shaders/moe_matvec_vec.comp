// MoeFfn, step 2 of 3 for decode with the GPU kernels (vk_device.h): the same products as
// moe_matvec.comp, but one workgroup per (pair, output row), striding: the pair's expert is its
// slot sel[pair] (moe_select.comp; -1: not computed here), and the workgroup's invocations split
// the row's elements and sum them (reduce.glsl), as matmul_vec.comp does. A decode step's pairs
// are a token's k experts, each read by one pair, so nothing is decoded twice and every
// workgroup has a whole row's work. A stack split over weight chunks takes a dispatch per part:
// slots [slot0, slot0 + n_slots), the first at w_off.
#version 450
#include "common.glsl"
#include "blocks.glsl"

const uint WG = 64u;
const uint SUMS = 1u;
#include "reduce.glsl"
layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint w_off, row_bytes, block_bytes, expert_stride, k, n, x, y, n_pairs, per_token, count,
        list, mode, act, sel, slot0, n_slots;
} p;

void main() {
    const uint lane = gl_LocalInvocationID.x;
    const uint be = block_elems(WTYPE);
    for (uint wg = gl_WorkGroupID.x; wg < p.n_pairs * p.n; wg += gl_NumWorkGroups.x) {
        const uint pair = wg / p.n, r = wg % p.n;
        const int slot = ctx_i.i[p.sel + pair];
        // Uniform over the workgroup: no invocation skips a barrier the others reach.
        if (slot < int(p.slot0) || slot - int(p.slot0) >= int(p.n_slots)) continue;
        const uint row = p.w_off + uint(slot - int(p.slot0)) * p.expert_stride + r * p.row_bytes;
        const uint xb = p.x + (p.mode == 2u ? pair : pair / p.per_token) * p.k;
        float acc[SUMS];
        acc[0] = 0.0;
        for (uint c = lane; c < p.k; c += WG)
            acc[0] += dq(WTYPE, row + (c / be) * p.block_bytes, c % be) * ctx.f[xb + c];
        workgroup_sums(lane, acc);
        if (lane == 0u) {
            const uint at = p.y + pair * p.n + r;
            ctx.f[at] = p.mode == 1u ? glu_value(ctx.f[at], partial[0], p.act) : partial[0];
        }
        barrier(); // partial is reused by the next row
    }
}
