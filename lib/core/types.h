// The ggml tensor types: ids as stored in GGUF files, names, and block geometry.
// Source of truth for the numbers: ggml's ggml.h (enum ggml_type) and ggml-common.h (block structs).
#pragma once

#include <cstdint>

namespace infer {

// ggml type ids. Gaps are ids ggml retired; files carrying them are rejected.
enum class TypeId : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
    IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
    TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct TypeTraits {
    const char *name;      // ggml's name: "Q4_K"
    uint32_t block_elems;  // elements per block (1 for plain types)
    uint32_t block_bytes;  // bytes per block
    bool has_dequant;      // dequantize_row_ref() supports it
};

// nullptr for an id that is unknown or retired.
const TypeTraits *type_traits(uint32_t id);

// Bytes of `n_elems` consecutive elements of a type; false when the id is unknown, n_elems is not
// a whole number of blocks, or the result overflows.
bool type_row_bytes(uint32_t id, uint64_t n_elems, uint64_t *out_bytes);

} // namespace infer
