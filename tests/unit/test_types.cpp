// The ggml type table: ids, names and block geometry against ggml-common.h, and against gguf-py.
#include <cstdint>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "core/dequant.h"
#include "core/types.h"
#include "unit/vector_file.h"

using namespace infer;

namespace {

struct Expected {
    uint32_t id;
    const char *name;
    uint32_t elems;
    uint32_t bytes;
};

// Written out from ggml-common.h's block structs (sizes summed by hand), independently of
// types.cpp.
constexpr Expected kExpected[] = {
    {0, "F32", 1, 4},          {1, "F16", 1, 2},          {2, "Q4_0", 32, 2 + 16},
    {3, "Q4_1", 32, 4 + 16},   {6, "Q5_0", 32, 2 + 4 + 16}, {7, "Q5_1", 32, 4 + 4 + 16},
    {8, "Q8_0", 32, 2 + 32},   {9, "Q8_1", 32, 4 + 32},   {10, "Q2_K", 256, 16 + 64 + 4},
    {11, "Q3_K", 256, 32 + 64 + 12 + 2}, {12, "Q4_K", 256, 4 + 12 + 128},
    {13, "Q5_K", 256, 4 + 12 + 32 + 128}, {14, "Q6_K", 256, 128 + 64 + 16 + 2},
    {15, "Q8_K", 256, 4 + 256 + 32},      {16, "IQ2_XXS", 256, 2 + 64},
    {17, "IQ2_XS", 256, 2 + 64 + 8},      {18, "IQ3_XXS", 256, 2 + 96},
    {19, "IQ1_S", 256, 2 + 32 + 16},      {20, "IQ4_NL", 32, 2 + 16},
    {21, "IQ3_S", 256, 2 + 64 + 8 + 32 + 4}, {22, "IQ2_S", 256, 2 + 64 + 8 + 8},
    {23, "IQ4_XS", 256, 2 + 2 + 4 + 128}, {24, "I8", 1, 1},  {25, "I16", 1, 2},
    {26, "I32", 1, 4},         {27, "I64", 1, 8},         {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 32 + 16 + 8},      {30, "BF16", 1, 2},
    {34, "TQ1_0", 256, 48 + 4 + 2},       {35, "TQ2_0", 256, 64 + 2},
    {39, "MXFP4", 32, 1 + 16},
};

const Expected *find_expected(uint32_t id) {
    for (const auto &e : kExpected)
        if (e.id == id) return &e;
    return nullptr;
}

} // namespace

TEST_CASE("types: every ggml id has the right name and block geometry") {
    std::set<std::string> names;
    for (const auto &e : kExpected) {
        CAPTURE(e.id);
        const TypeTraits *t = type_traits(e.id);
        REQUIRE(t != nullptr);
        CHECK(std::string(t->name) == e.name);
        CHECK(t->block_elems == e.elems);
        CHECK(t->block_bytes == e.bytes);
        names.insert(t->name);
    }
    CHECK(names.size() == std::size(kExpected));
}

TEST_CASE("types: retired and unknown ids have no traits") {
    for (uint32_t id = 0; id < 300; ++id) {
        CAPTURE(id);
        CHECK((type_traits(id) != nullptr) == (find_expected(id) != nullptr));
    }
    for (uint32_t id : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 40u, 41u, 0xffffffffu})
        CHECK(type_traits(id) == nullptr);
}

TEST_CASE("types: has_dequant is exactly what dequantize_row_ref accepts") {
    const std::set<uint32_t> with_dequant = {0,  1,  30, 2,  3,  6,  7,  8,  10, 11, 12, 13, 14,
                                             20, 23, 39, 16, 17, 18, 19, 21, 22, 29, 34, 35};
    alignas(8) uint8_t block[512] = {};
    float out[256];
    for (uint32_t id = 0; id < 64; ++id) {
        CAPTURE(id);
        const TypeTraits *t = type_traits(id);
        const bool expected = with_dequant.count(id) != 0;
        CHECK((t != nullptr && t->has_dequant) == expected);
        const int64_t n = t != nullptr ? t->block_elems : 32;
        CHECK(dequantize_row_ref(id, block, out, n) == expected);
    }
}

TEST_CASE("types: type_row_bytes") {
    uint64_t bytes = 0;
    CHECK(type_row_bytes(0, 10, &bytes));
    CHECK(bytes == 40);
    CHECK(type_row_bytes(12, 4096, &bytes)); // Q4_K
    CHECK(bytes == 16 * 144);
    CHECK(type_row_bytes(39, 64, &bytes)); // MXFP4
    CHECK(bytes == 34);
    CHECK(type_row_bytes(2, 0, &bytes));
    CHECK(bytes == 0);

    CHECK_FALSE(type_row_bytes(2, 33, &bytes));   // partial block
    CHECK_FALSE(type_row_bytes(14, 255, &bytes)); // partial super-block
    CHECK_FALSE(type_row_bytes(4, 32, &bytes));   // retired id
    CHECK_FALSE(type_row_bytes(1000, 1, &bytes)); // unknown id

    // Overflow: 2^62 F32 elements are 2^64 bytes; the largest count that fits still works.
    CHECK_FALSE(type_row_bytes(0, uint64_t{1} << 62, &bytes));
    CHECK(type_row_bytes(0, (uint64_t{1} << 62) - 1, &bytes));
    CHECK(bytes == ((uint64_t{1} << 62) - 1) * 4);
    CHECK_FALSE(type_row_bytes(8, UINT64_MAX - 31, &bytes)); // whole Q8_0 blocks, too many bytes
    CHECK(type_row_bytes(8, (UINT64_MAX / 34) / 32 * 32, &bytes));
}

TEST_CASE("types: agree with gguf-py's GGML_QUANT_SIZES") {
    const std::string path = test::quant_data_path("type_sizes.txt");
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "missing " << path);
    std::string line;
    int n_lines = 0;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        uint32_t id = 0, elems = 0, bytes = 0;
        std::string name;
        REQUIRE((fields >> id >> name >> elems >> bytes));
        ++n_lines;
        CAPTURE(line);
        const TypeTraits *t = type_traits(id);
        if (id >= 40) {
            // Newer than our table (gguf 0.19 knows NVFP4 = 40, Q1_0 = 41): rejected as unknown.
            CHECK(t == nullptr);
            continue;
        }
        REQUIRE(t != nullptr);
        CHECK(name == t->name);
        CHECK(elems == t->block_elems);
        if (id == 9) {
            // gguf-py still lists Q8_1 as 4 + 4 + 32 (the old float d, s); ggml's block_q8_1 is
            // two halves + 32 int8 = 36 bytes, which is what ggml.c uses.
            CHECK(bytes == 40);
            CHECK(t->block_bytes == 36);
        } else {
            CHECK(bytes == t->block_bytes);
        }
    }
    CHECK(n_lines >= 32);
}
