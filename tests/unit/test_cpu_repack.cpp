// The CPU's interleaved weight layouts (cpu_repack.h): repacking is lossless (every row unpacks to
// the file's bytes, tiles and the rows after them alike), the sizes add up, and the layouts'
// kernels return the row layout's bits for row ranges that cut tiles anywhere. Whole matmuls and
// expert FFNs over repacked weights are checked in test_cpu_matmul.cpp and test_cpu_moe.cpp.
#include "core/blocks.h"
#include "cpu/cpu_matmul.h"
#include "cpu/cpu_repack.h"
#include "cpu/cpu_vec_dot.h"
#include "cpu_test_data.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace infer;
using namespace infer::cpu;
using namespace infer::test;

namespace {

const TypeCase &type_case(TypeId type) {
    for (const TypeCase &tc : kTypes)
        if (tc.type == type) return tc;
    FAIL("no test case for the type");
    return kTypes[0];
}

} // namespace

TEST_CASE("repacked weights unpack to the file's rows; sizes add up") {
    std::mt19937 rng(3);
    CHECK(repack_layout(static_cast<uint32_t>(TypeId::Q4_K), CpuIsa::Scalar) == WeightLayout::Rows);
    CHECK(repack_layout(static_cast<uint32_t>(TypeId::Q5_0), CpuIsa::Avx2) == WeightLayout::Rows);
    const struct {
        TypeId type;
        WeightLayout layout;
        uint64_t tile_block; // bytes of one interleaved block of 8 rows
    } cases[] = {{TypeId::Q4_K, WeightLayout::Q4_Kx8, sizeof(BlockQ4_Kx8)},
                 {TypeId::Q6_K, WeightLayout::Q6_Kx8, sizeof(BlockQ6_Kx8)},
                 {TypeId::Q4_0, WeightLayout::Q4_0x8, sizeof(BlockQ4_0x8)},
                 {TypeId::Q8_0, WeightLayout::Q8_0x8, sizeof(BlockQ8_0x8)},
                 {TypeId::Q4_1, WeightLayout::Q4_1x8, sizeof(BlockQ4_1x8)},
                 {TypeId::IQ4_XS, WeightLayout::IQ4_XSx8, sizeof(BlockIQ4_XSx8)}};
    for (const auto &c : cases) {
        const TypeCase &tc = type_case(c.type);
        const auto type = static_cast<uint32_t>(tc.type);
        REQUIRE(test_layout(tc.type) == c.layout);
        for (int64_t n : {1, 7, 8, 13, 67}) {
            CAPTURE(static_cast<int>(c.type));
            CAPTURE(n);
            const int64_t k = 3 * tc.block_elems;
            const auto row = static_cast<uint64_t>(3 * tc.block_bytes);
            // Rows 5 bytes apart more than their size: repacking reads the file's stride.
            const std::vector<uint8_t> rows = random_weights(tc, k, n, rng);
            std::vector<uint8_t> padded(static_cast<size_t>(n) * (row + 5), 0xAB);
            for (int64_t r = 0; r < n; ++r)
                std::memcpy(padded.data() + r * (row + 5), rows.data() + r * row, row);
            const WeightView w{type, k, n, padded.data(), row + 5};
            std::vector<uint8_t> buf;
            const WeightView t = repacked(w, c.layout, &buf);
            CHECK(buf.size() - 2 == layout_matrix_bytes(type, c.layout, k, n));
            CHECK(layout_matrix_bytes(type, c.layout, k, n) ==
                  static_cast<uint64_t>(n / 8) * 3 * c.tile_block +
                      static_cast<uint64_t>(n % 8) * row);
            CHECK(layout_matrix_bytes(type, WeightLayout::Rows, k, n) ==
                  static_cast<uint64_t>(n) * row);
            std::vector<uint8_t> back(row);
            int bad = 0;
            for (int64_t r = 0; r < n; ++r) {
                unpack_row(t, r, back.data());
                bad += std::memcmp(back.data(), rows.data() + r * row, row) != 0;
                unpack_row(w, r, back.data());
                bad += std::memcmp(back.data(), rows.data() + r * row, row) != 0;
            }
            CHECK(bad == 0);
        }
    }
}

// matmul_rows is what the MoE drivers call with their own row blocks: ranges that start and end
// inside tiles, inside the rows after them, and across the boundary. Every ISA level's result
// over the repacked matrix is its result over the rows, bit for bit: the K-quants' (and the
// scalar level's) are the reference's bits; the 32-element formats' SIMD sums are within 1e-5
// of sum |w x| of it, except one token of Q4_0 or Q4_1 on x86: the reference's bits.
TEST_CASE("matmul_rows over a repacked matrix: any row range, every ISA, the row layout's bits") {
    std::mt19937 rng(8);
    for (TypeId type_id :
         {TypeId::Q4_K, TypeId::Q6_K, TypeId::Q4_0, TypeId::Q8_0, TypeId::Q4_1, TypeId::IQ4_XS}) {
        CAPTURE(static_cast<int>(type_id));
        const TypeCase &tc = type_case(type_id);
        const auto type = static_cast<uint32_t>(tc.type);
        const int64_t k = 9 * tc.block_elems, n = 29; // 3 tiles, 5 rows after
        const std::vector<uint8_t> rows = random_weights(tc, k, n, rng);
        const WeightView w{type, k, n, rows.data(), static_cast<uint64_t>(9 * tc.block_bytes)};
        std::vector<uint8_t> buf;
        const WeightView t = repacked(w, test_layout(tc.type), &buf);
        std::vector<CpuIsa> isas = simd_isas();
        isas.insert(isas.begin(), CpuIsa::Scalar);
        for (int64_t tokens : {1, 4, 7}) {
            const std::vector<float> x = random_floats(k * tokens, rng);
            std::vector<float> want(static_cast<size_t>(n * tokens));
            matmul_ref(w, x.data(), tokens, want.data());
            std::vector<uint8_t> act(matmul_scratch_bytes(type, k, tokens));
            const uint64_t stride = matmul_act_row_bytes(type, k);
            for (int64_t c = 0; c < tokens; ++c)
                matmul_quantize_act_row(type, x.data() + c * k, k, act.data() + c * stride,
                                        CpuIsa::Scalar);
            for (CpuIsa isa : isas) {
                for (const auto &range : {std::pair<int64_t, int64_t>{0, 29},
                                          {3, 5},
                                          {3, 21},
                                          {9, 16},
                                          {20, 27},
                                          {24, 29},
                                          {26, 28}}) {
                    const int64_t r0 = range.first, r1 = range.second;
                    CAPTURE(tokens);
                    const std::string isa_name = cpu_isa_name(isa);
                    CAPTURE(isa_name);
                    CAPTURE(r0);
                    CAPTURE(r1);
                    const int64_t m = r1 - r0;
                    std::vector<float> y(static_cast<size_t>((m + 1) * tokens), -1.0f);
                    std::vector<float> y_rows(y.size(), -1.0f);
                    matmul_rows(t, act.data(), stride, tokens, y.data(), m + 1, r0, r1, isa);
                    matmul_rows(w, act.data(), stride, tokens, y_rows.data(), m + 1, r0, r1, isa);
                    int bad = 0;
                    // x86's Q4_0 and Q4_1 decode kernels give the reference's bits
                    const bool x86_nibble_decode =
                        (isa == CpuIsa::Avx2 || isa == CpuIsa::Avx512Vnni) &&
                        (type_id == TypeId::Q4_0 || type_id == TypeId::Q4_1);
                    for (int64_t c = 0; c < tokens; ++c) {
                        const float tol = 1e-5f * abs_bound(tc, x.data() + c * k, k);
                        for (int64_t r = r0; r < r1; ++r) {
                            const size_t i = static_cast<size_t>(c * (m + 1) + r - r0);
                            const float b = want[static_cast<size_t>(c * n + r)];
                            const bool exact = tc.block_elems == QK_K || isa == CpuIsa::Scalar ||
                                               (tokens == 1 && x86_nibble_decode);
                            bad += y[i] != y_rows[i];
                            bad += exact ? y[i] != b : !(std::fabs(y[i] - b) <= tol);
                        }
                        if (c + 1 < tokens) bad += y[static_cast<size_t>(c * (m + 1) + m)] != -1.0f;
                    }
                    CHECK(bad == 0);
                }
            }
        }
    }
}
