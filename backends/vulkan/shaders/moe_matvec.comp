// MoeFfn, step 2 of 3: the expert matrix-vector products of every selected (token, j) pair,
// reading only the selected experts. moe_select.comp grouped the pairs by slot: slot s's
// matrix is at w_off + s * expert_stride, its pairs list[s * n_pairs ..][count[s]]. Modes:
//   0 gate: h[pair][r] = gate_s[r] . x[pair / k]
//   1 up:   h[pair][r] = act(h[pair][r]) * (up_s[r] . x[pair / k])
//   2 down: y[pair][r] = down_s[r] . h[pair]
// One workgroup per (slot, 64 rows), striding; each invocation forms one row's dot products for
// up to 8 of the slot's pairs at a time, so a weight element is decoded once per 8 pairs. No
// barriers, which a CPU driver (lavapipe) pays dearly for. A stack split over weight chunks
// (vk_weights.h) takes a dispatch per part: slots [slot0, slot0 + n_slots), the first at w_off.
#version 450
#include "common.glsl"
#include "blocks.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint w_off, row_bytes, block_bytes, expert_stride, k, n, x, y, n_pairs, per_token, count,
        list, mode, act, sel, slot0, n_slots;
} p;

const uint PAIRS = 8u;

void main() {
    const uint be = block_elems(WTYPE);
    const uint tiles = (p.n + 63u) / 64u;
    for (uint wg = gl_WorkGroupID.x; wg < p.n_slots * tiles; wg += gl_NumWorkGroups.x) {
        const uint slot = p.slot0 + wg / tiles, r = (wg % tiles) * 64u + gl_LocalInvocationID.x;
        const uint count = uint(ctx_i.i[p.count + slot]);
        if (count == 0u || r >= p.n) continue;
        const uint row = p.w_off + (slot - p.slot0) * p.expert_stride + r * p.row_bytes;
        for (uint i0 = 0u; i0 < count; i0 += PAIRS) {
            const uint np = min(PAIRS, count - i0);
            uint xb[PAIRS];
            float acc[PAIRS];
            for (uint j = 0u; j < PAIRS; ++j) {
                const uint pair = j < np ? uint(ctx_i.i[p.list + slot * p.n_pairs + i0 + j]) : 0u;
                xb[j] = p.x + (p.mode == 2u ? pair : pair / p.per_token) * p.k;
                acc[j] = 0.0;
            }
            for (uint b = row, col = 0u; col < p.k; b += p.block_bytes) {
                for (uint e = 0u; e < be; ++e, ++col) {
                    const float wv = dq(WTYPE, b, e);
                    for (uint j = 0u; j < np; ++j) acc[j] += wv * ctx.f[xb[j] + col];
                }
            }
            for (uint j = 0u; j < np; ++j) {
                const uint pair = uint(ctx_i.i[p.list + slot * p.n_pairs + i0 + j]);
                const uint at = p.y + pair * p.n + r;
                ctx.f[at] = p.mode == 1u ? glu_value(ctx.f[at], acc[j], p.act) : acc[j];
            }
        }
    }
}
