// dequantize_row_ref(): checks the request and hands it to the per-format function.
#include "core/dequant.h"

#include "core/dequant_formats.h"
#include "core/types.h"

namespace infer {

namespace {

using DequantFn = void (*)(const uint8_t *src, float *dst, int64_t n_blocks);

// nullptr for a type without a reference dequantizer. Kept in step with TypeTraits::has_dequant
// (a unit test checks every id both ways).
DequantFn dequant_fn(uint32_t type) {
    switch (static_cast<TypeId>(type)) {
    case TypeId::F32: return dequant::f32;
    case TypeId::F16: return dequant::f16;
    case TypeId::BF16: return dequant::bf16;
    case TypeId::Q4_0: return dequant::q4_0;
    case TypeId::Q4_1: return dequant::q4_1;
    case TypeId::Q5_0: return dequant::q5_0;
    case TypeId::Q5_1: return dequant::q5_1;
    case TypeId::Q8_0: return dequant::q8_0;
    case TypeId::Q2_K: return dequant::q2_k;
    case TypeId::Q3_K: return dequant::q3_k;
    case TypeId::Q4_K: return dequant::q4_k;
    case TypeId::Q5_K: return dequant::q5_k;
    case TypeId::Q6_K: return dequant::q6_k;
    case TypeId::IQ4_NL: return dequant::iq4_nl;
    case TypeId::IQ4_XS: return dequant::iq4_xs;
    case TypeId::MXFP4: return dequant::mxfp4;
    case TypeId::IQ2_XXS: return dequant::iq2_xxs;
    case TypeId::IQ2_XS: return dequant::iq2_xs;
    case TypeId::IQ2_S: return dequant::iq2_s;
    case TypeId::IQ3_XXS: return dequant::iq3_xxs;
    case TypeId::IQ3_S: return dequant::iq3_s;
    case TypeId::IQ1_S: return dequant::iq1_s;
    case TypeId::IQ1_M: return dequant::iq1_m;
    case TypeId::TQ1_0: return dequant::tq1_0;
    case TypeId::TQ2_0: return dequant::tq2_0;
    default: return nullptr;
    }
}

} // namespace

bool dequantize_row_ref(uint32_t type, const void *src, float *dst, int64_t n) {
    const TypeTraits *traits = type_traits(type);
    const DequantFn fn = dequant_fn(type);
    if (traits == nullptr || !traits->has_dequant || fn == nullptr) return false;
    if (n < 0 || n % traits->block_elems != 0) return false;
    if (n == 0) return true;
    if (src == nullptr || dst == nullptr) return false;
    fn(static_cast<const uint8_t *>(src), dst, n / traits->block_elems);
    return true;
}

} // namespace infer
