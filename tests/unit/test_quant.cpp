// Reference quantization of activations: Q8_0 against gguf-py's quantizer byte for byte; Q8_1
// against the same file (its d and qs are Q8_0's by definition) plus its s; Q8_K against the
// script's numpy port of ggml's quantize_row_q8_K_ref; and round-trip properties for all three.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <doctest/doctest.h>

#include "core/dequant.h"
#include "core/fp16.h"
#include "core/quant.h"
#include "unit/vector_file.h"

using namespace infer;

namespace {

struct QuantVectors {
    std::vector<float> input;
    std::vector<uint8_t> expected;
};

QuantVectors load(const char *file, uint32_t type_id) {
    test::VectorReader r(file, "IQZ1");
    REQUIRE(r.u32() == type_id);
    const uint32_t n = r.u32();
    const uint32_t n_bytes = r.u32();
    QuantVectors v;
    v.input = r.array<float>(n);
    v.expected = r.bytes(n_bytes);
    REQUIRE(r.at_end());
    REQUIRE(n > 0);
    return v;
}

// Deterministic inputs for the property checks: xorshift, values in about +-4.
std::vector<float> random_floats(size_t n, uint32_t seed) {
    std::vector<float> v(n);
    uint32_t s = seed;
    for (auto &x : v) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        x = static_cast<float>(static_cast<int32_t>(s)) * (4.0f / 2147483648.0f);
    }
    return v;
}

uint16_t read_u16(const uint8_t *p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

} // namespace

TEST_CASE("quant Q8_0 matches gguf-py byte for byte") {
    const QuantVectors v = load("quant_Q8_0.bin", 8);
    REQUIRE(v.expected.size() == v.input.size() / 32 * 34);
    std::vector<uint8_t> got(v.expected.size(), 0xcc);
    quantize_row_q8_0_ref(v.input.data(), got.data(), static_cast<int64_t>(v.input.size()));
    for (size_t b = 0; b < got.size() / 34; ++b) {
        CAPTURE(b);
        CHECK(std::memcmp(got.data() + 34 * b, v.expected.data() + 34 * b, 34) == 0);
    }
}

TEST_CASE("quant Q8_1: d and qs are Q8_0's, s = fp16(d * sum(qs))") {
    const QuantVectors v = load("quant_Q8_0.bin", 8);
    const size_t n_blocks = v.input.size() / 32;
    std::vector<uint8_t> got(n_blocks * 36, 0xcc);
    quantize_row_q8_1_ref(v.input.data(), got.data(), static_cast<int64_t>(v.input.size()));
    for (size_t b = 0; b < n_blocks; ++b) {
        CAPTURE(b);
        const uint8_t *q81 = got.data() + 36 * b;
        const uint8_t *q80 = v.expected.data() + 34 * b;
        CHECK(std::memcmp(q81, q80, 2) == 0);           // d
        CHECK(std::memcmp(q81 + 4, q80 + 2, 32) == 0);  // qs
        // s uses the f32 scale amax / 127, not its fp16 rounding.
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(v.input[32 * b + j]));
        int sum = 0;
        for (int j = 0; j < 32; ++j) sum += static_cast<int8_t>(q81[4 + j]);
        CHECK(read_u16(q81 + 2) == fp32_to_fp16(static_cast<float>(sum) * (amax / 127.0f)));
    }
}

TEST_CASE("quant Q8_K matches the numpy port of ggml's reference") {
    const QuantVectors v = load("quant_Q8_K.bin", 15);
    REQUIRE(v.expected.size() == v.input.size() / 256 * 292);
    std::vector<uint8_t> got(v.expected.size(), 0xcc);
    quantize_row_q8_K_ref(v.input.data(), got.data(), static_cast<int64_t>(v.input.size()));
    for (size_t b = 0; b < got.size() / 292; ++b) {
        CAPTURE(b);
        CHECK(std::memcmp(got.data() + 292 * b, v.expected.data() + 292 * b, 292) == 0);
    }
}

TEST_CASE("quant Q8_0 and Q8_1 round-trip within half a step") {
    const std::vector<float> x = random_floats(32 * 64, 12345);
    std::vector<uint8_t> q80(64 * 34), q81(64 * 36);
    quantize_row_q8_0_ref(x.data(), q80.data(), 32 * 64);
    quantize_row_q8_1_ref(x.data(), q81.data(), 32 * 64);
    std::vector<float> y(x.size());
    REQUIRE(dequantize_row_ref(8, q80.data(), y.data(), 32 * 64));
    for (size_t b = 0; b < 64; ++b) {
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[32 * b + j]));
        const float d = amax / 127.0f;
        CHECK(fp16_to_fp32(read_u16(q80.data() + 34 * b)) == fp16_to_fp32(fp32_to_fp16(d)));
        int max_q = 0;
        for (int j = 0; j < 32; ++j) {
            // q was chosen with the f32 d; y uses the fp16 d (relative error <= 2^-11).
            CHECK(std::fabs(y[32 * b + j] - x[32 * b + j]) <= 0.5f * d + 127.0f * d / 2048.0f);
            const int q = static_cast<int8_t>(q80[34 * b + 2 + j]);
            max_q = std::max(max_q, std::abs(q));
        }
        CHECK(max_q == 127); // the largest magnitude maps to +-127
    }
}

TEST_CASE("quant Q8_K: bsums, the signed max maps to -127, round trip within half a step") {
    std::vector<float> x = random_floats(256 * 8, 777);
    std::memset(x.data() + 256 * 7, 0, 256 * sizeof(float)); // last block all zero
    std::vector<uint8_t> q(8 * 292);
    quantize_row_q8_K_ref(x.data(), q.data(), 256 * 8);
    for (size_t b = 0; b < 8; ++b) {
        CAPTURE(b);
        const uint8_t *blk = q.data() + 292 * b;
        float d;
        std::memcpy(&d, blk, sizeof d);
        const auto *qs = reinterpret_cast<const int8_t *>(blk + 4);
        int16_t bsums[16];
        std::memcpy(bsums, blk + 4 + 256, sizeof bsums);
        for (int k = 0; k < 16; ++k) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += qs[16 * k + j];
            CHECK(bsums[k] == sum);
        }
        if (b == 7) {
            CHECK(d == 0.0f);
            for (int j = 0; j < 256; ++j) CHECK(qs[j] == 0);
            continue;
        }
        size_t imax = 0;
        for (size_t j = 1; j < 256; ++j)
            if (std::fabs(x[256 * b + j]) > std::fabs(x[256 * b + imax])) imax = j;
        CHECK(qs[imax] == -127);
        CHECK(std::signbit(d) != std::signbit(x[256 * b + imax]));
        for (int j = 0; j < 256; ++j)
            CHECK(std::fabs(d * static_cast<float>(qs[j]) - x[256 * b + j]) <=
                  0.5f * std::fabs(d) * 1.0001f);
    }
}
