// The table of ggml tensor types. Numbers checked against ggml.c (type_traits: blck_size,
// type_size = sizeof(block_*)) and ggml-common.h (the block structs); the block sizes of the types
// we decode are also pinned by static_asserts in blocks.h.
// Names are the GGML_TYPE_* suffixes ("Q4_K"), which is how gguf-py and llama.cpp's tools print
// them; ggml.c's own type_name is the lower-case variant ("q4_K").
#include "core/types.h"

#include "core/checked_math.h"

namespace infer {

namespace {

// Ids 4 and 5 (Q4_2, Q4_3), 31-33 (Q4_0_4_4 ...) and 36-38 (IQ4_NL_4_4 ...) were retired by
// ggml; they have no entry (block_elems == 0) and type_traits() reports them as unknown.
constexpr uint32_t kTypeCount = 40;

constexpr TypeTraits kNone = {nullptr, 0, 0, false};

struct Table {
    TypeTraits entries[kTypeCount];
};

constexpr Table make_table() {
    Table t{};
    for (auto &e : t.entries) e = kNone;
    auto set = [&t](TypeId id, const char *name, uint32_t elems, uint32_t bytes, bool dequant) {
        t.entries[static_cast<uint32_t>(id)] = TypeTraits{name, elems, bytes, dequant};
    };
    //                      name       elems  bytes  dequant
    set(TypeId::F32,     "F32",     1,    4,   true);
    set(TypeId::F16,     "F16",     1,    2,   true);
    set(TypeId::Q4_0,    "Q4_0",    32,   18,  true);  // d + 16 nibbles
    set(TypeId::Q4_1,    "Q4_1",    32,   20,  true);  // d, m + 16 nibbles
    set(TypeId::Q5_0,    "Q5_0",    32,   22,  true);  // d + 4 qh + 16 nibbles
    set(TypeId::Q5_1,    "Q5_1",    32,   24,  true);  // d, m + 4 qh + 16 nibbles
    set(TypeId::Q8_0,    "Q8_0",    32,   34,  true);  // d + 32 int8
    set(TypeId::Q8_1,    "Q8_1",    32,   36,  false); // d, s + 32 int8 (activations)
    set(TypeId::Q2_K,    "Q2_K",    256,  84,  true);
    set(TypeId::Q3_K,    "Q3_K",    256,  110, true);
    set(TypeId::Q4_K,    "Q4_K",    256,  144, true);
    set(TypeId::Q5_K,    "Q5_K",    256,  176, true);
    set(TypeId::Q6_K,    "Q6_K",    256,  210, true);
    set(TypeId::Q8_K,    "Q8_K",    256,  292, false); // f32 d + 256 int8 + 16 int16 (activations)
    set(TypeId::IQ2_XXS, "IQ2_XXS", 256,  66,  true);  // d + 32 u16
    set(TypeId::IQ2_XS,  "IQ2_XS",  256,  74,  true);  // d + 32 u16 + 8 scales
    set(TypeId::IQ3_XXS, "IQ3_XXS", 256,  98,  true);  // d + 96
    set(TypeId::IQ1_S,   "IQ1_S",   256,  50,  true);  // d + 32 qs + 8 u16 qh
    set(TypeId::IQ4_NL,  "IQ4_NL",  32,   18,  true);
    set(TypeId::IQ3_S,   "IQ3_S",   256,  110, true);  // d + 64 qs + 8 qh + 32 signs + 4 scales
    set(TypeId::IQ2_S,   "IQ2_S",   256,  82,  true);  // d + 64 qs + 8 qh + 8 scales
    set(TypeId::IQ4_XS,  "IQ4_XS",  256,  136, true);
    set(TypeId::I8,      "I8",      1,    1,   false);
    set(TypeId::I16,     "I16",     1,    2,   false);
    set(TypeId::I32,     "I32",     1,    4,   false);
    set(TypeId::I64,     "I64",     1,    8,   false);
    set(TypeId::F64,     "F64",     1,    8,   false);
    set(TypeId::IQ1_M,   "IQ1_M",   256,  56,  true);  // 32 qs + 16 qh + 8 scales (d inside)
    set(TypeId::BF16,    "BF16",    1,    2,   true);
    set(TypeId::TQ1_0,   "TQ1_0",   256,  54,  true);  // 48 qs + 4 qh + d
    set(TypeId::TQ2_0,   "TQ2_0",   256,  66,  true);  // 64 qs + d
    set(TypeId::MXFP4,   "MXFP4",   32,   17,  true);  // E8M0 exponent + 16 nibbles
    return t;
}

constexpr Table kTable = make_table();

} // namespace

const TypeTraits *type_traits(uint32_t id) {
    if (id >= kTypeCount || kTable.entries[id].block_elems == 0) return nullptr;
    return &kTable.entries[id];
}

bool type_row_bytes(uint32_t id, uint64_t n_elems, uint64_t *out_bytes) {
    const TypeTraits *t = type_traits(id);
    if (t == nullptr || n_elems % t->block_elems != 0) return false;
    return checked_mul(n_elems / t->block_elems, t->block_bytes, out_bytes);
}

} // namespace infer
