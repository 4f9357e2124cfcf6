// Copies between head-structured rows (Slice, and each input of Concat): n_blocks blocks of
// `width` floats, block b from src + (b / groups) * src_row + (b % groups) * src_group to
// dst + b * dst_block. Slice takes a block per (token, group) out of each input row; Concat
// writes each input's groups into its place of the joined rows. One invocation per float.
#version 450
#include "common.glsl"

layout(local_size_x = 256) in;

layout(push_constant) uniform Push {
    uint dst, src, n_blocks, width, groups, src_row, src_group, dst_block;
} p;

void main() {
    const uint total = p.n_blocks * p.width;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += gl_NumWorkGroups.x * 256u) {
        const uint b = i / p.width, e = i % p.width;
        const uint from = p.src + (b / p.groups) * p.src_row + (b % p.groups) * p.src_group;
        ctx.f[p.dst + b * p.dst_block + e] = ctx.f[from + e];
    }
}
