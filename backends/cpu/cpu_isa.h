// Which x86 instruction-set level the CPU kernels may use, decided once at run time.
// Fast paths are compiled per function with __attribute__((target(...))), never with global
// -m flags, so one binary runs on any x86-64 and picks the best path the CPU has.
#pragma once

namespace infer::cpu {

enum class CpuIsa : int {
    Scalar = 0,     // portable C++: the reference kernels
    Avx2 = 1,       // AVX2 + FMA + F16C (Haswell, Zen 1 and later)
    Avx512Vnni = 2, // the AVX2 kernels with 256-bit VNNI (AVX512F/BW/VL + VNNI: Ice Lake, Zen 4)
};

// The best level this CPU (and OS, for the register state) supports, at most INFER_CPU_ISA's
// (scalar, avx2 or avx512vnni) where the environment sets it. Computed once.
CpuIsa cpu_isa_best();

// True when `isa` can run here; tests use it to exercise each path explicitly.
bool cpu_isa_available(CpuIsa isa);

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
