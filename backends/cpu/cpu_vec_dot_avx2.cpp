// AVX2 + FMA + F16C instantiation of the x86 dot-product kernels (see cpu_vec_dot_x86.inc).
#include "cpu/cpu_vec_dot.h"
#include "cpu/cpu_repack.h"

#include "core/blocks.h"
#include "core/fp16.h"
#include "core/types.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <utility>

#if defined(__x86_64__)

#define KT __attribute__((target("avx2,fma,f16c")))
#define KNS avx2
#define KUSE_VNNI 0
#define KTILE_ROWS 2
#define KTILE_COLS 4
// 2 x 4 for the K-quants: 2 x 2, 3 x 2 and 2 x 4 measured alike (the super-block decode is
// what the tile saves); the few spills of 16 accumulators go to L1.
#define KQTILE_ROWS 2
#define KQTILE_COLS 4
#define KTABLE_FN vec_dot_kernel_avx2
#include "cpu/cpu_vec_dot_x86.inc"

#else

namespace infer::cpu {
bool vec_dot_kernel_avx2(uint32_t, VecDotKernel *) { return false; }
} // namespace infer::cpu

#endif
