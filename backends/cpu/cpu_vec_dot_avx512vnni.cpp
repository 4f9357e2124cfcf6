// AVX512-VNNI instantiation of the x86 dot-product kernels (see cpu_vec_dot_x86.inc): the AVX2
// code on 256-bit vectors with dpbusd (u8 x s8 -> int32 in one instruction instead of
// maddubs + madd) and dpwssd (int16 madd + add), and 32 vector registers for a 4 x 4 tile.
// 256-bit vectors keep the core out of the AVX-512 frequency licence on older Xeons; only the
// K-quant/IQ4_XS prefill lanes use 512 bits, where twice the rows per dpbusd pays for it.
// GCC 12's 512-bit intrinsics start from _mm512_undefined_*() (a self-initialized variable), which
// its -Wmaybe-uninitialized reports at every inlined use; the values are never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
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

#define KT __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define KNS avx512vnni
#define KUSE_VNNI 1
#define KTILE_ROWS 4
#define KTILE_COLS 4
// 2 x 4 for the K-quants: 2 x 2, 3 x 2 and 2 x 4 measured alike (the super-block decode is
// what the tile saves), and 16 accumulators fit AVX-512's 32 registers.
#define KQTILE_ROWS 2
#define KQTILE_COLS 4
#define KTABLE_FN vec_dot_kernel_avx512vnni
#include "cpu/cpu_vec_dot_x86.inc"

#else

namespace infer::cpu {
bool vec_dot_kernel_avx512vnni(uint32_t, VecDotKernel *) { return false; }
} // namespace infer::cpu

#endif
