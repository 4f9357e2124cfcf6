// MoeFfn, step 1 of 3 (vk_record.cpp runs them): for each (token, j) pair, the slot of its
// expert e = ids[t][j] in the device's stacks, or -1 when this node does not compute it, and
// the pairs grouped by slot, so that step 2 decodes each selected expert's rows once for all
// the pairs that chose it. Without a slot table every expert is here at slot e; with one
// (per-expert offload: the int32 table in the weight chunk) only the resident experts are, at
// table[e]. count[s] (zeroed before this runs) ends as the number of pairs of slot s, listed in
// list[s * n_pairs ...] in no particular order. Each computed pair adds one to aux counter
// count_base + e when counting.
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint ids, sel, count, list, n_pairs, n_expert, has_table, table_off, counting, count_base;
} p;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.n_pairs; i += gl_NumWorkGroups.x * 64u) {
        const int e = ctx_i.i[p.ids + i];
        int slot = -1;
        if (e >= 0 && uint(e) < p.n_expert)
            slot = p.has_table != 0u ? int(wu32(p.table_off + 4u * uint(e))) : e;
        if (slot < 0 || uint(slot) >= p.n_expert) slot = -1;
        ctx_i.i[p.sel + i] = slot;
        if (slot < 0) continue;
        const int at = atomicAdd(ctx_i.i[p.count + uint(slot)], 1);
        ctx_i.i[p.list + uint(slot) * p.n_pairs + uint(at)] = int(i);
        if (p.counting != 0u) atomicAdd(aux.u[p.count_base + uint(e)], 1u);
    }
}
