// Reference dequantization against gguf-py's numpy dequantizers, bit for bit, for every format
// with has_dequant; plus the argument checks of dequantize_row_ref.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "core/dequant.h"
#include "core/types.h"
#include "unit/vector_file.h"

using namespace infer;
using infer::test::float_bits;

namespace {

// Distance in units in the last place between two floats of the same sign class (for messages).
int64_t ulp_distance(float a, float b) {
    auto key = [](float f) {
        const int64_t u = float_bits(f);
        return (u & 0x80000000) ? -(u & 0x7fffffff) : u;
    };
    return std::llabs(key(a) - key(b));
}

void check_against_gguf_py(const char *type_name, uint32_t type_id) {
    CAPTURE(type_name);
    test::VectorReader r(std::string("dequant_") + type_name + ".bin", "IDQ1");
    REQUIRE(r.u32() == type_id);
    const uint32_t n_blocks = r.u32();
    const uint32_t block_bytes = r.u32();
    const uint32_t block_elems = r.u32();
    const TypeTraits *t = type_traits(type_id);
    REQUIRE(t != nullptr);
    REQUIRE(block_bytes == t->block_bytes);
    REQUIRE(block_elems == t->block_elems);
    REQUIRE(n_blocks > 0);
    const auto blocks = r.bytes(size_t{n_blocks} * block_bytes);
    const auto want = r.array<float>(size_t{n_blocks} * block_elems);
    REQUIRE(r.at_end());

    const int64_t n = int64_t{n_blocks} * block_elems;
    std::vector<float> got(want.size(), -12345.0f);
    REQUIRE(dequantize_row_ref(type_id, blocks.data(), got.data(), n));
    int64_t mismatches = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        if (float_bits(got[i]) == float_bits(want[i])) continue;
        if (mismatches++ < 5)
            FAIL_CHECK("element " << i << " (block " << i / block_elems << "): got " << got[i]
                                  << ", gguf-py " << want[i] << " ("
                                  << ulp_distance(got[i], want[i]) << " ulp)");
    }
    CHECK(mismatches == 0);

    // The source needs no alignment: the same bytes one byte further on give the same floats.
    std::vector<uint8_t> shifted(blocks.size() + 1);
    std::memcpy(shifted.data() + 1, blocks.data(), blocks.size());
    std::vector<float> again(want.size());
    REQUIRE(dequantize_row_ref(type_id, shifted.data() + 1, again.data(), n));
    CHECK(std::memcmp(again.data(), got.data(), got.size() * sizeof(float)) == 0);
}

} // namespace

TEST_CASE("dequant F32 matches gguf-py") { check_against_gguf_py("F32", 0); }
TEST_CASE("dequant F16 matches gguf-py") { check_against_gguf_py("F16", 1); }
TEST_CASE("dequant BF16 matches gguf-py") { check_against_gguf_py("BF16", 30); }
TEST_CASE("dequant Q4_0 matches gguf-py") { check_against_gguf_py("Q4_0", 2); }
TEST_CASE("dequant Q4_1 matches gguf-py") { check_against_gguf_py("Q4_1", 3); }
TEST_CASE("dequant Q5_0 matches gguf-py") { check_against_gguf_py("Q5_0", 6); }
TEST_CASE("dequant Q5_1 matches gguf-py") { check_against_gguf_py("Q5_1", 7); }
TEST_CASE("dequant Q8_0 matches gguf-py") { check_against_gguf_py("Q8_0", 8); }
TEST_CASE("dequant Q2_K matches gguf-py") { check_against_gguf_py("Q2_K", 10); }
TEST_CASE("dequant Q3_K matches gguf-py") { check_against_gguf_py("Q3_K", 11); }
TEST_CASE("dequant Q4_K matches gguf-py") { check_against_gguf_py("Q4_K", 12); }
TEST_CASE("dequant Q5_K matches gguf-py") { check_against_gguf_py("Q5_K", 13); }
TEST_CASE("dequant Q6_K matches gguf-py") { check_against_gguf_py("Q6_K", 14); }
TEST_CASE("dequant IQ4_NL matches gguf-py") { check_against_gguf_py("IQ4_NL", 20); }
TEST_CASE("dequant IQ4_XS matches gguf-py") { check_against_gguf_py("IQ4_XS", 23); }
TEST_CASE("dequant MXFP4 matches gguf-py") { check_against_gguf_py("MXFP4", 39); }
TEST_CASE("dequant IQ2_XXS matches gguf-py") { check_against_gguf_py("IQ2_XXS", 16); }
TEST_CASE("dequant IQ2_XS matches gguf-py") { check_against_gguf_py("IQ2_XS", 17); }
TEST_CASE("dequant IQ3_XXS matches gguf-py") { check_against_gguf_py("IQ3_XXS", 18); }
TEST_CASE("dequant IQ1_S matches gguf-py") { check_against_gguf_py("IQ1_S", 19); }
TEST_CASE("dequant IQ3_S matches gguf-py") { check_against_gguf_py("IQ3_S", 21); }
TEST_CASE("dequant IQ2_S matches gguf-py") { check_against_gguf_py("IQ2_S", 22); }
TEST_CASE("dequant IQ1_M matches gguf-py") { check_against_gguf_py("IQ1_M", 29); }
TEST_CASE("dequant TQ1_0 matches gguf-py") { check_against_gguf_py("TQ1_0", 34); }
TEST_CASE("dequant TQ2_0 matches gguf-py") { check_against_gguf_py("TQ2_0", 35); }

TEST_CASE("dequant: hand-made blocks") {
    // Q4_0, d = 1.0 (fp16 0x3c00): byte j = (q_hi << 4) | q_lo gives x[j] = q_lo - 8,
    // x[j + 16] = q_hi - 8.
    uint8_t q4[18] = {0x00, 0x3c};
    for (int j = 0; j < 16; ++j) q4[2 + j] = static_cast<uint8_t>((15 - j) << 4 | j);
    float out[32];
    REQUIRE(dequantize_row_ref(2, q4, out, 32));
    for (int j = 0; j < 16; ++j) {
        CHECK(out[j] == static_cast<float>(j - 8));
        CHECK(out[j + 16] == static_cast<float>(7 - j));
    }
    // MXFP4, e = 127 (scale 1, halved to 0.5 for the doubled table): nibble 7 is 6.0, 15 is -6.0.
    uint8_t mx[17] = {127};
    mx[1] = 0xf7;
    REQUIRE(dequantize_row_ref(39, mx, out, 32));
    CHECK(out[0] == 6.0f);
    CHECK(out[16] == -6.0f);
    CHECK(out[1] == 0.0f);
}

TEST_CASE("dequant: argument checks") {
    alignas(8) uint8_t block[256] = {};
    float out[256];
    CHECK(dequantize_row_ref(2, block, out, 0));
    CHECK(dequantize_row_ref(2, nullptr, nullptr, 0));
    CHECK_FALSE(dequantize_row_ref(2, block, out, 31));  // partial block
    CHECK_FALSE(dequantize_row_ref(2, block, out, -32)); // negative
    CHECK_FALSE(dequantize_row_ref(12, block, out, 32)); // partial super-block
    CHECK_FALSE(dequantize_row_ref(2, nullptr, out, 32));
    CHECK_FALSE(dequantize_row_ref(2, block, nullptr, 32));
    for (uint32_t id : {9u, 15u, 24u, 28u, 4u, 40u, 0xffffffffu}) { // activations, ints, F64, none
        CAPTURE(id);
        CHECK_FALSE(dequantize_row_ref(id, block, out, 256));
    }
}
