// The push constants of the float-activation MatMul kernels (matmul.comp, matmul_vec.comp,
// matmul_tile.comp): y[t][row0 + r] = W[r] . x[t] for the part's rows r < part_rows, token t's
// input at x + t * x_stride and output at y + t * y_stride (k and n for a MatMul). HeadMatMul
// (a matrix per head, stacked) runs every head in one dispatch, a row of workgroups per head:
// head gl_WorkGroupID.y reads its weight w_head bytes, its input x_head floats and writes its
// output y_head floats after the previous head's (0 for a MatMul).
layout(push_constant) uniform Push {
    uint w_off, row_bytes, block_bytes, k, n, x, y, n_tokens, row0, part_rows;
    uint x_stride, y_stride, w_head, x_head, y_head;
} p;

// This workgroup's head: the byte offset of its weight, the offsets of its input and output.
uint head_w() { return p.w_off + gl_WorkGroupID.y * p.w_head; }
uint head_x() { return p.x + gl_WorkGroupID.y * p.x_head; }
uint head_y() { return p.y + gl_WorkGroupID.y * p.y_head; }
