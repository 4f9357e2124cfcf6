// Which instruction-set level the CPU kernels may use, decided once at run time.
// Fast paths are compiled per function with __attribute__((target(...))), never with global
// -m/-march flags, so one binary runs on any x86-64 (or any ARMv8-A) and picks the best path the
// CPU has.
#pragma once

#include <span>

namespace infer::cpu {

// Each architecture's levels are ordered, each including the one before it; levels of another
// architecture are never available.
enum class CpuIsa : int {
    Scalar = 0, // portable C++: the reference kernels
    // x86-64
    Avx2 = 1,       // AVX2 + FMA + F16C (Haswell, Zen 1 and later)
    Avx512Vnni = 2, // the AVX2 kernels with 256-bit VNNI (AVX512F/BW/VL + VNNI: Ice Lake, Zen 4)
    // AArch64
    Neon = 3,        // Advanced SIMD, which every ARMv8-A core has
    NeonDotprod = 4, // + SDOT/UDOT (ARMv8.2 dotprod: Cortex-A55/A76 and later, Apple M1)
    NeonI8mm = 5,    // + SMMLA (ARMv8.6 i8mm: Cortex-A510/X2 and later, Apple M2)
};

// The best level this CPU (and OS, for the register state) supports, at most INFER_CPU_ISA's
// (scalar, avx2, avx512vnni, neon, dotprod or i8mm) where the environment sets it. Computed
// once.
CpuIsa cpu_isa_best();

// True when `isa` can run here; tests use it to exercise each path explicitly.
bool cpu_isa_available(CpuIsa isa);

// This build's architecture's SIMD levels, lowest first (x86-64: avx2, avx512vnni; AArch64:
// neon, dotprod, i8mm; none elsewhere), whether or not this CPU has them.
std::span<const CpuIsa> cpu_isa_simd_levels();

const char *cpu_isa_name(CpuIsa isa);

// The level whole-model runs use: cpu_isa_best(), unless a test forced another. The kernels'
// `isa` arguments default to it (matmul, moe_ffn), so a forced level reaches every matmul of
// a model run without a parameter through the public API.
CpuIsa cpu_isa_dispatch();

// Tests only (the golden tests hold every level to llama.cpp): makes cpu_isa_dispatch() return
// `isa`, which must be available. Not while ops run. cpu_isa_reset_for_testing() undoes it.
void cpu_isa_force_for_testing(CpuIsa isa);
void cpu_isa_reset_for_testing();

} // namespace infer::cpu
