// Dequantizes ggml Q8_0 blocks to f32: y[b*32 + j] = d_b * qs_b[j], computed as one f32 multiply so
// the result is bit-exact with the scalar reference.
//
// Layout (binding 0): n_blocks blocks of 34 bytes, back to back, as ggml stores them:
//   uint16 d      IEEE half scale (raw bits)
//   int8   qs[32] quants
// 34 is not a multiple of 4, so a block is read as 17 uint16 words (16-bit storage, required by
// the backend) rather than as uint32 words, which would read past the end of an odd block count;
// 8-bit storage is not required. The quants are pulled out of the words as sign-extended bytes.
// Output (binding 1): n_blocks * 32 floats, read as vec4 (the binding offset is 16-byte aligned).
//
// One invocation writes 4 outputs, so 8 invocations cover a block and a workgroup 32 blocks. The
// workgroups stride over the blocks, so a dispatch capped at the device's workgroup-count limit
// still covers any n_blocks.
#version 450
#extension GL_EXT_shader_16bit_storage : require

layout(local_size_x = 256) in;

struct BlockQ8_0 {
    uint16_t d;
    uint16_t qs[16]; // qs[k] holds quants 2k (low byte) and 2k+1 (high byte)
};

layout(std430, binding = 0) readonly buffer Src { BlockQ8_0 blocks[]; };
layout(std430, binding = 1) writeonly buffer Dst { vec4 y[]; };

layout(push_constant) uniform Push {
    uint n_blocks;
} p;

const uint BLOCKS_PER_GROUP = 32;

void main() {
    const uint quad = gl_LocalInvocationID.x % 8; // which 4 of the block's 32 quants
    const uint local_block = gl_LocalInvocationID.x / 8;
    for (uint b = gl_WorkGroupID.x * BLOCKS_PER_GROUP + local_block; b < p.n_blocks;
         b += gl_NumWorkGroups.x * BLOCKS_PER_GROUP) {
        const float d = unpackHalf2x16(uint(blocks[b].d)).x;
        const int packed =
            int(uint(blocks[b].qs[2 * quad]) | (uint(blocks[b].qs[2 * quad + 1]) << 16));
        // bitfieldExtract of an int sign-extends: the int8 quants.
        const ivec4 q = ivec4(bitfieldExtract(packed, 0, 8), bitfieldExtract(packed, 8, 8),
                              bitfieldExtract(packed, 16, 8), bitfieldExtract(packed, 24, 8));
        y[b * 8 + quad] = d * vec4(q);
    }
}
