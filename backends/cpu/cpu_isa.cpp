// Run-time ISA detection for the CPU kernels (see cpu_isa.h).
#include "cpu/cpu_isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace infer::cpu {

namespace {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// F16C from CPUID leaf 1 directly: clang before 16 has no "f16c" for __builtin_cpu_supports
// (the fuzz build uses clang 14).
bool has_f16c() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}
#endif

#if defined(__aarch64__)
enum class ArmFeature { Dotprod, I8mm };

// The kernel (Linux: the auxiliary vector) or the OS (Apple: sysctl) says which optional ARMv8
// features user code may run; Advanced SIMD itself is part of every ARMv8-A profile we target.
bool has_arm_feature(ArmFeature f) {
#if defined(__linux__)
    // The bits' values from the kernel's uapi hwcap.h, for C libraries that predate them.
    constexpr unsigned long kHwcapAsimddp = 1UL << 20, kHwcap2I8mm = 1UL << 13;
    return f == ArmFeature::Dotprod ? (getauxval(AT_HWCAP) & kHwcapAsimddp) != 0
                                    : (getauxval(AT_HWCAP2) & kHwcap2I8mm) != 0;
#elif defined(__APPLE__)
    int value = 0;
    size_t size = sizeof value;
    const char *name =
        f == ArmFeature::Dotprod ? "hw.optional.arm.FEAT_DotProd" : "hw.optional.arm.FEAT_I8MM";
    return sysctlbyname(name, &value, &size, nullptr, 0) == 0 && value != 0;
#else
    (void)f;
    return false;
#endif
}
#endif

// -1: not forced. Atomic so that a test's store is seen by the pool's threads without a race.
std::atomic<int> g_forced{-1};

CpuIsa detect() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    // __builtin_cpu_supports also checks that the OS saves the ymm/zmm state (XGETBV).
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    if (!avx2) return CpuIsa::Scalar;
    const bool vnni = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    return vnni ? CpuIsa::Avx512Vnni : CpuIsa::Avx2;
#elif defined(__aarch64__)
    if (!has_arm_feature(ArmFeature::Dotprod)) return CpuIsa::Neon;
    return has_arm_feature(ArmFeature::I8mm) ? CpuIsa::NeonI8mm : CpuIsa::NeonDotprod;
#else
    return CpuIsa::Scalar;
#endif
}

#if defined(__x86_64__)
constexpr CpuIsa kSimdLevels[] = {CpuIsa::Avx2, CpuIsa::Avx512Vnni};
#elif defined(__aarch64__)
constexpr CpuIsa kSimdLevels[] = {CpuIsa::Neon, CpuIsa::NeonDotprod, CpuIsa::NeonI8mm};
#else
constexpr std::span<const CpuIsa> kSimdLevels{};
#endif

// INFER_CPU_ISA=scalar|avx2|avx512vnni|neon|dotprod|i8mm caps the level (to measure or compare a
// lower one on this machine); it never raises it, and another architecture's level leaves it.
// Anything else leaves the detected level.
CpuIsa capped(CpuIsa isa) {
    const char *cap = std::getenv("INFER_CPU_ISA");
    if (!cap) return isa;
    if (std::strcmp(cap, cpu_isa_name(CpuIsa::Scalar)) == 0) return CpuIsa::Scalar;
    for (CpuIsa level : kSimdLevels)
        if (std::strcmp(cap, cpu_isa_name(level)) == 0)
            return static_cast<int>(level) < static_cast<int>(isa) ? level : isa;
    return isa;
}

} // namespace

CpuIsa cpu_isa_best() {
    static const CpuIsa best = capped(detect());
    return best;
}

bool cpu_isa_available(CpuIsa isa) {
    if (isa == CpuIsa::Scalar) return true;
    for (CpuIsa level : kSimdLevels)
        if (level == isa) return static_cast<int>(isa) <= static_cast<int>(cpu_isa_best());
    return false;
}

std::span<const CpuIsa> cpu_isa_simd_levels() { return kSimdLevels; }

CpuIsa cpu_isa_dispatch() {
    const int forced = g_forced.load(std::memory_order_relaxed);
    return forced < 0 ? cpu_isa_best() : static_cast<CpuIsa>(forced);
}

void cpu_isa_force_for_testing(CpuIsa isa) {
    if (cpu_isa_available(isa)) g_forced.store(static_cast<int>(isa), std::memory_order_relaxed);
}

void cpu_isa_reset_for_testing() { g_forced.store(-1, std::memory_order_relaxed); }

const char *cpu_isa_name(CpuIsa isa) {
    switch (isa) {
    case CpuIsa::Scalar:
        return "scalar";
    case CpuIsa::Avx2:
        return "avx2";
    case CpuIsa::Avx512Vnni:
        return "avx512vnni";
    case CpuIsa::Neon:
        return "neon";
    case CpuIsa::NeonDotprod:
        return "dotprod";
    case CpuIsa::NeonI8mm:
        return "i8mm";
    }
    return "?";
}

} // namespace infer::cpu
