// Embed: out[t] = dequant(W row tokens[t]) * scale. One workgroup per token (the workgroups
// stride over the tokens); an id outside the table reads no weight and writes zeros. A table
// split over several weight chunks (vk_weights.h) takes a dispatch per part: this one holds rows
// [row0, row0 + part_rows) at w_off and writes the tokens in them (the first part, row0 0, also
// the zeros of invalid ids).
#version 450
#include "common.glsl"
#include "blocks.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint w_off, row_bytes, block_bytes, n, n_rows, tokens, out_off, n_tokens;
    float scale;
    uint row0, part_rows;
} p;

void main() {
    for (uint t = gl_WorkGroupID.x; t < p.n_tokens; t += gl_NumWorkGroups.x) {
        const int tok = ctx_i.i[p.tokens + t];
        const bool valid = tok >= 0 && uint(tok) < p.n_rows;
        const bool here = valid && uint(tok) >= p.row0 && uint(tok) - p.row0 < p.part_rows;
        if (!here && (valid || p.row0 != 0u)) continue; // another part's token
        const uint row = p.w_off + (here ? uint(tok) - p.row0 : 0u) * p.row_bytes;
        for (uint i = gl_LocalInvocationID.x; i < p.n; i += 64u)
            ctx.f[p.out_off + t * p.n + i] =
                here ? dq_row(WTYPE, row, p.block_bytes, i) * p.scale : 0.0;
    }
}
