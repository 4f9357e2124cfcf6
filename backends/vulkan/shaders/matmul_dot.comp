// MatMul for decode with the GPU kernels and packed int8 dot products (vk_device.h's
// int8_dot_matvec), for the 32-element block types Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0:
// y[t][r] = W[r] . x[t] with x quantized by quantize_q8.comp. One workgroup per output row, as
// matmul_vec.comp; its invocations take the row's blocks in quarters of 8 elements (two words of
// weights, two of activations: two dot instructions), then sum (reduce.glsl). Weights of the
// offset types (Q4_0, Q5_0) become signed bytes, their unsigned codes minus 8 or 16; those with
// a minimum (Q4_1, Q5_1) stay unsigned (signed x unsigned dot) and add min * dx * sum(q).
// A matrix split over weight chunks takes a dispatch per part: rows [row0, row0 + part_rows).
//
// The dot instructions come from SPV_KHR_integer_dot_product through GL_EXT_spirv_intrinsics
// (Debian 12's glslang has no GL_EXT_integer_dot_product): OpSDot (4450) and OpSUDot (4452) on
// 4x8-bit packed words (format 0).
#version 450
#extension GL_EXT_spirv_intrinsics : require
#include "common.glsl"
#include "blocks.glsl"

spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018],
                  id = 4450)
int sdot4x8(uint a, uint b, spirv_literal int format);
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018],
                  id = 4452)
int sudot4x8(uint a, uint b, spirv_literal int format);

const uint WG = 64u;
const uint TOKENS = 4u;
const uint SUMS = TOKENS;
#include "reduce.glsl"
layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint w_off, row_bytes, block_bytes, k, n, y, n_tokens, row0, part_rows, qs, d, sums;
} p;

// Unsigned bytes u < 128 minus `bias` per byte, as two's-complement bytes: adding 128 first
// keeps every byte's subtraction from borrowing, and flipping the top bit takes the 128 away.
uvec2 minus(uvec2 u, uint bias) {
    return ((u | 0x80808080u) - bias) ^ 0x80808080u;
}

// Bits 0..3 of h to bit 4 of bytes 0..3.
uint spread4(uint h) {
    return ((h & 1u) << 4) | ((h & 2u) << 11) | ((h & 4u) << 18) | ((h & 8u) << 25);
}

// Elements [8 part, 8 part + 8) of the block at byte b, four bytes a word: 4-bit codes sit as
// the low nibbles of bytes 0..15 (elements 0..15) and the high nibbles (16..31); Q5's fifth
// bit of element e is bit e of qh.
uvec2 weight_words(uint b, uint part) {
    const uint qs = WTYPE == T_Q8_0 ? 2u : WTYPE == T_Q4_0 ? 2u : WTYPE == T_Q4_1 ? 4u
                  : WTYPE == T_Q5_0 ? 6u : 8u;
    if (WTYPE == T_Q8_0) return uvec2(wu32(b + qs + 8u * part), wu32(b + qs + 8u * part + 4u));
    const uint at = b + qs + 8u * (part & 1u);
    const uvec2 raw = uvec2(wu32(at), wu32(at + 4u));
    uvec2 u = part < 2u ? raw & 0x0f0f0f0fu : (raw >> 4) & 0x0f0f0f0fu;
    if (WTYPE == T_Q5_0 || WTYPE == T_Q5_1) {
        const uint qh = wu32(b + (WTYPE == T_Q5_0 ? 2u : 4u)) >> (8u * part);
        u |= uvec2(spread4(qh & 15u), spread4((qh >> 4) & 15u));
    }
    if (WTYPE == T_Q4_0) return minus(u, 0x08080808u);
    if (WTYPE == T_Q5_0) return minus(u, 0x10101010u);
    return u;
}

void main() {
    const uint lane = gl_LocalInvocationID.x;
    const uint nb = p.k / 32u;
    const bool has_min = WTYPE == T_Q4_1 || WTYPE == T_Q5_1;
    for (uint r = gl_WorkGroupID.x; r < p.part_rows; r += gl_NumWorkGroups.x) {
        const uint row = p.w_off + r * p.row_bytes;
        for (uint t0 = 0u; t0 < p.n_tokens; t0 += TOKENS) {
            const uint nt = min(TOKENS, p.n_tokens - t0);
            float acc[TOKENS];
            for (uint t = 0u; t < TOKENS; ++t) acc[t] = 0.0;
            for (uint u = lane; u < nb * 4u; u += WG) {
                const uint blk = u >> 2, part = u & 3u;
                const uint b = row + blk * p.block_bytes;
                const uvec2 w = weight_words(b, part);
                const float dw = whalf(b);
                const float mw = has_min && part == 0u ? whalf(b + 2u) : 0.0;
                for (uint t = 0u; t < nt; ++t) {
                    const uint xi = (t0 + t) * nb + blk;
                    const uint x0 = uint(ctx_i.i[p.qs + xi * 8u + 2u * part]);
                    const uint x1 = uint(ctx_i.i[p.qs + xi * 8u + 2u * part + 1u]);
                    const int dot = has_min ? sudot4x8(x0, w.x, 0) + sudot4x8(x1, w.y, 0)
                                            : sdot4x8(x0, w.x, 0) + sdot4x8(x1, w.y, 0);
                    const float dx = ctx.f[p.d + xi];
                    acc[t] += dw * dx * float(dot) + mw * dx * float(ctx_i.i[p.sums + xi]);
                }
            }
            workgroup_sums(lane, acc);
            if (lane < nt) ctx.f[p.y + (t0 + lane) * p.n + p.row0 + r] = partial[lane];
            barrier(); // partial is reused by the next tokens or row
        }
    }
}
