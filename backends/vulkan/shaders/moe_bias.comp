// MoeFfn's expert biases (gpt-oss), after one of step 2's products: y[pair][r] += bias[slot][r]
// for every pair whose slot (moe_select.comp's sel) is in [slot0, slot0 + n_slots), the slots
// whose rows of n floats this part of the bias holds from byte w_off of the weight chunk (a bias
// split over chunks takes a dispatch per part, as the expert stacks do). Pairs not computed here
// (slot -1) are left alone.
#version 450
#include "common.glsl"

layout(local_size_x = 256) in;

layout(push_constant) uniform Push {
    uint y, sel, n_pairs, n, w_off, slot0, n_slots;
} p;

void main() {
    const uint total = p.n_pairs * p.n;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += gl_NumWorkGroups.x * 256u) {
        const uint pair = i / p.n, r = i % p.n;
        const int slot = ctx_i.i[p.sel + pair];
        if (slot < int(p.slot0) || slot - int(p.slot0) >= int(p.n_slots)) continue;
        ctx.f[p.y + i] += wf32(p.w_off + 4u * (uint(slot - int(p.slot0)) * p.n + r));
    }
}
