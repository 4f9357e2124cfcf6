#include "core/types.h"

#include "core/checked_math.h"

#include <array>

namespace infer {
namespace {

// Indexed by ggml type id; a null name marks an id ggml retired (4, 5: Q4_2/Q4_3; 31-33 and
// 36-38: the old repacked Q4_0_x_x / IQ4_NL_x_x layouts).
constexpr uint32_t kTypeCount = 40;

constexpr std::array<TypeTraits, kTypeCount> make_table() {
    std::array<TypeTraits, kTypeCount> t{};
    for (TypeTraits &e : t) e = {nullptr, 0, 0, false};
    auto set = [&t](TypeId id, const char *name, uint32_t elems, uint32_t bytes, bool dequant) {
        t[static_cast<uint32_t>(id)] = {name, elems, bytes, dequant};
    };
    set(TypeId::F32, "F32", 1, 4, true);
    set(TypeId::F16, "F16", 1, 2, true);
    set(TypeId::Q4_0, "Q4_0", 32, 18, true);
    set(TypeId::Q4_1, "Q4_1", 32, 20, true);
    set(TypeId::Q5_0, "Q5_0", 32, 22, true);
    set(TypeId::Q5_1, "Q5_1", 32, 24, true);
    set(TypeId::Q8_0, "Q8_0", 32, 34, true);
    set(TypeId::Q8_1, "Q8_1", 32, 36, false);
    set(TypeId::Q2_K, "Q2_K", 256, 84, true);
    set(TypeId::Q3_K, "Q3_K", 256, 110, true);
    set(TypeId::Q4_K, "Q4_K", 256, 144, true);
    set(TypeId::Q5_K, "Q5_K", 256, 176, true);
    set(TypeId::Q6_K, "Q6_K", 256, 210, true);
    set(TypeId::Q8_K, "Q8_K", 256, 292, false);
    set(TypeId::IQ2_XXS, "IQ2_XXS", 256, 66, false);
    set(TypeId::IQ2_XS, "IQ2_XS", 256, 74, false);
    set(TypeId::IQ3_XXS, "IQ3_XXS", 256, 98, false);
    set(TypeId::IQ1_S, "IQ1_S", 256, 50, false);
    set(TypeId::IQ4_NL, "IQ4_NL", 32, 18, true);
    set(TypeId::IQ3_S, "IQ3_S", 256, 110, false);
    set(TypeId::IQ2_S, "IQ2_S", 256, 82, false);
    set(TypeId::IQ4_XS, "IQ4_XS", 256, 136, true);
    set(TypeId::I8, "I8", 1, 1, false);
    set(TypeId::I16, "I16", 1, 2, false);
    set(TypeId::I32, "I32", 1, 4, false);
    set(TypeId::I64, "I64", 1, 8, false);
    set(TypeId::F64, "F64", 1, 8, false);
    set(TypeId::IQ1_M, "IQ1_M", 256, 56, false);
    set(TypeId::BF16, "BF16", 1, 2, true);
    set(TypeId::TQ1_0, "TQ1_0", 256, 54, false);
    set(TypeId::TQ2_0, "TQ2_0", 256, 66, false);
    set(TypeId::MXFP4, "MXFP4", 32, 17, true);
    return t;
}

constexpr std::array<TypeTraits, kTypeCount> kTable = make_table();

} // namespace

const TypeTraits *type_traits(uint32_t id) {
    if (id >= kTypeCount || kTable[id].name == nullptr) return nullptr;
    return &kTable[id];
}

bool type_row_bytes(uint32_t id, uint64_t n_elems, uint64_t *out_bytes) {
    const TypeTraits *traits = type_traits(id);
    if (traits == nullptr || n_elems % traits->block_elems != 0) return false;
    return checked_mul(n_elems / traits->block_elems, traits->block_bytes, out_bytes);
}

} // namespace infer
