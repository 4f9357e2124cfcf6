// Which dot-product kernel serves which weight type on which ISA (see cpu_vec_dot.h).
#include "cpu/cpu_vec_dot.h"

#include "core/iq_groups.h"
#include "core/types.h"
#include "cpu/cpu_repack.h"

namespace infer::cpu {

bool vec_dot_act_type(uint32_t type, uint32_t *act_type) {
    TypeId act;
    switch (static_cast<TypeId>(type)) {
    case TypeId::Q4_0:
    case TypeId::Q5_0:
    case TypeId::Q8_0:
    case TypeId::IQ4_NL:
    case TypeId::MXFP4:
        act = TypeId::Q8_0;
        break;
    case TypeId::Q4_1:
    case TypeId::Q5_1:
        act = TypeId::Q8_1;
        break;
    case TypeId::Q2_K:
    case TypeId::Q3_K:
    case TypeId::Q4_K:
    case TypeId::Q5_K:
    case TypeId::Q6_K:
    case TypeId::IQ4_XS:
        act = TypeId::Q8_K;
        break;
    case TypeId::F32:
    case TypeId::F16:
    case TypeId::BF16:
        act = TypeId::F32;
        break;
    default:
        if (!is_lattice_type(type)) return false;
        act = TypeId::Q8_K;
    }
    *act_type = static_cast<uint32_t>(act);
    return true;
}

namespace {

VecDotFn ref_dot(uint32_t type) {
    switch (static_cast<TypeId>(type)) {
    case TypeId::Q4_0:
        return vec_dot_q4_0_ref;
    case TypeId::Q4_1:
        return vec_dot_q4_1_ref;
    case TypeId::Q5_0:
        return vec_dot_q5_0_ref;
    case TypeId::Q5_1:
        return vec_dot_q5_1_ref;
    case TypeId::Q8_0:
        return vec_dot_q8_0_ref;
    case TypeId::Q2_K:
        return vec_dot_q2_K_ref;
    case TypeId::Q3_K:
        return vec_dot_q3_K_ref;
    case TypeId::Q4_K:
        return vec_dot_q4_K_ref;
    case TypeId::Q5_K:
        return vec_dot_q5_K_ref;
    case TypeId::Q6_K:
        return vec_dot_q6_K_ref;
    case TypeId::IQ4_NL:
        return vec_dot_iq4_nl_ref;
    case TypeId::IQ4_XS:
        return vec_dot_iq4_xs_ref;
    case TypeId::MXFP4:
        return vec_dot_mxfp4_ref;
    case TypeId::IQ2_XXS:
        return vec_dot_iq2_xxs_ref;
    case TypeId::IQ2_XS:
        return vec_dot_iq2_xs_ref;
    case TypeId::IQ2_S:
        return vec_dot_iq2_s_ref;
    case TypeId::IQ3_XXS:
        return vec_dot_iq3_xxs_ref;
    case TypeId::IQ3_S:
        return vec_dot_iq3_s_ref;
    case TypeId::IQ1_S:
        return vec_dot_iq1_s_ref;
    case TypeId::IQ1_M:
        return vec_dot_iq1_m_ref;
    case TypeId::TQ1_0:
        return vec_dot_tq1_0_ref;
    case TypeId::TQ2_0:
        return vec_dot_tq2_0_ref;
    case TypeId::F32:
        return vec_dot_f32_ref;
    case TypeId::F16:
        return vec_dot_f16_ref;
    case TypeId::BF16:
        return vec_dot_bf16_ref;
    default:
        return nullptr;
    }
}

RepackedTileFn repacked_ref(uint32_t type) {
    switch (static_cast<TypeId>(type)) {
    case TypeId::Q4_K:
        return repacked_tile_q4_K_ref;
    case TypeId::Q6_K:
        return repacked_tile_q6_K_ref;
    case TypeId::Q4_0:
        return repacked_tile_q4_0_ref;
    case TypeId::Q8_0:
        return repacked_tile_q8_0_ref;
    case TypeId::Q4_1:
        return repacked_tile_q4_1_ref;
    case TypeId::IQ4_XS:
        return repacked_tile_iq4_xs_ref;
    default:
        return nullptr;
    }
}

} // namespace

bool vec_dot_kernel(uint32_t type, CpuIsa isa, VecDotKernel *out) {
    switch (isa) {
    case CpuIsa::Avx512Vnni:
        if (vec_dot_kernel_avx512vnni(type, out)) return true;
        [[fallthrough]];
    case CpuIsa::Avx2:
        if (vec_dot_kernel_avx2(type, out)) return true;
        break;
    case CpuIsa::NeonI8mm:
    case CpuIsa::NeonDotprod:
    case CpuIsa::Neon:
        if (isa == CpuIsa::Neon          ? vec_dot_kernel_neon(type, out)
            : isa == CpuIsa::NeonDotprod ? vec_dot_kernel_neon_dotprod(type, out)
                                         : vec_dot_kernel_neon_i8mm(type, out)) {
            // No interleaved kernels on ARM yet (repack_layout keeps the rows there): the
            // readable one serves a matrix that was repacked all the same.
            out->repacked = repacked_ref(type);
            return true;
        }
        break;
    case CpuIsa::Scalar:
        break;
    }
    const VecDotFn dot = ref_dot(type);
    if (!dot) return false;
    *out = VecDotKernel{};
    out->dot = dot;
    out->repacked = repacked_ref(type);
    return true;
}

} // namespace infer::cpu
