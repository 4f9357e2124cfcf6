// AArch64 instantiations of the NEON dot-product kernels (see cpu_vec_dot_neon.inc): baseline
// Advanced SIMD, which every ARMv8-A core has, and the same code with SDOT (ARMv8.2 dotprod),
// enabled per function so that one binary runs on any ARMv8-A core, and with SDOT and SMMLA
// (i8mm: the prefill tiles multiply two rows by two tokens per instruction).
#include "cpu/cpu_kquant_groups.h"
#include "cpu/cpu_vec_dot.h"

#include "core/blocks.h"
#include "core/fp16.h"
#include "core/iq_groups.h"
#include "core/types.h"

#include <cstddef>
#include <cstring>

#if defined(__aarch64__)

#define NT
#define NNS neon
#define NUSE_DOT 0
#define NUSE_MMLA 0
#define NTABLE_FN vec_dot_kernel_neon
#include "cpu/cpu_vec_dot_neon.inc"

// GCC and clang spell the feature differently in the attribute.
#if defined(__clang__)
#define NT __attribute__((target("dotprod")))
#else
#define NT __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#define NNS dotprod
#define NUSE_DOT 1
#define NUSE_MMLA 0
#define NTABLE_FN vec_dot_kernel_neon_dotprod
#include "cpu/cpu_vec_dot_neon.inc"

#if defined(__clang__)
#define NT __attribute__((target("dotprod,i8mm")))
#else
#define NT __attribute__((target("arch=armv8.2-a+dotprod+i8mm")))
#endif
#define NNS i8mm
#define NUSE_DOT 1
#define NUSE_MMLA 1
#define NTABLE_FN vec_dot_kernel_neon_i8mm
#include "cpu/cpu_vec_dot_neon.inc"

#else

namespace infer::cpu {
bool vec_dot_kernel_neon(uint32_t, VecDotKernel *) { return false; }
bool vec_dot_kernel_neon_dotprod(uint32_t, VecDotKernel *) { return false; }
bool vec_dot_kernel_neon_i8mm(uint32_t, VecDotKernel *) { return false; }
} // namespace infer::cpu

#endif
