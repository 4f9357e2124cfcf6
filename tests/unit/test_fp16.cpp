// fp16 and bf16 conversions: exhaustive checks against independent formulas, then bit equality
// with numpy (fp16) and gguf-py/ggml (bf16) on the committed vectors.
#include <cmath>
#include <cstdint>

#include <doctest/doctest.h>

#include "core/fp16.h"
#include "unit/vector_file.h"

using namespace infer;
using infer::test::bits_float;
using infer::test::float_bits;

namespace {

// The value of fp16 bits h by the textbook definition, for finite h.
float fp16_value(uint16_t h) {
    const int exp = (h >> 10) & 0x1f;
    const int mant = h & 0x3ff;
    const double magnitude = exp == 0 ? std::ldexp(static_cast<double>(mant), -24)
                                      : std::ldexp(static_cast<double>(1024 + mant), exp - 25);
    return static_cast<float>((h & 0x8000) ? -magnitude : magnitude);
}

} // namespace

TEST_CASE("fp16: all 65536 halves widen exactly") {
    for (uint32_t h = 0; h < 65536; ++h) {
        CAPTURE(h);
        const float f = fp16_to_fp32(static_cast<uint16_t>(h));
        const uint32_t sign = (h & 0x8000) << 16;
        if ((h & 0x7c00) == 0x7c00) {
            // inf or NaN: the 10 payload bits land at the top of the fp32 mantissa (numpy's rule).
            REQUIRE(float_bits(f) == (sign | 0x7f800000 | ((h & 0x3ff) << 13)));
        } else {
            REQUIRE(float_bits(f) == float_bits(fp16_value(static_cast<uint16_t>(h))));
        }
    }
}

TEST_CASE("fp16: narrowing round-trips every half and rounds every midpoint to even") {
    for (uint32_t h = 0; h < 0x7c00; ++h) { // non-negative finite halves
        CAPTURE(h);
        const float lo = fp16_to_fp32(static_cast<uint16_t>(h));
        REQUIRE(fp32_to_fp16(lo) == h);
        REQUIRE(fp32_to_fp16(-lo) == (h | 0x8000));

        // Between h and h + 1 (the next half up; past 65504 that is infinity, whose rounding
        // boundary is 65520). Halves have 11 significant bits, so the midpoint is exact in fp32.
        const double hi = h + 1 == 0x7c00 ? 65536.0 : fp16_to_fp32(static_cast<uint16_t>(h + 1));
        const float mid = static_cast<float>((static_cast<double>(lo) + hi) / 2);
        const uint32_t even = (h & 1) ? h + 1 : h;
        REQUIRE(fp32_to_fp16(mid) == even);
        REQUIRE(fp32_to_fp16(-mid) == (even | 0x8000));
        REQUIRE(fp32_to_fp16(std::nextafter(mid, 0.0f)) == h);
        REQUIRE(fp32_to_fp16(std::nextafter(mid, INFINITY)) == h + 1);
    }
    CHECK(fp32_to_fp16(INFINITY) == 0x7c00);
    CHECK(fp32_to_fp16(-INFINITY) == 0xfc00);
    CHECK(fp32_to_fp16(1e30f) == 0x7c00);
    CHECK(fp32_to_fp16(1e-30f) == 0x0000);
    CHECK(fp32_to_fp16(-1e-30f) == 0x8000);
}

TEST_CASE("fp16: NaNs stay NaN and keep their payload") {
    for (uint32_t h = 0x7c01; h < 0x8000; ++h) {
        CAPTURE(h);
        REQUIRE(fp32_to_fp16(fp16_to_fp32(static_cast<uint16_t>(h))) == h);
        REQUIRE(fp32_to_fp16(fp16_to_fp32(static_cast<uint16_t>(h | 0x8000))) == (h | 0x8000));
    }
    // A payload only in the low 13 bits would truncate to infinity; it becomes payload 1.
    CHECK(fp32_to_fp16(bits_float(0x7f800001)) == 0x7c01);
    CHECK(fp32_to_fp16(bits_float(0xff801fff)) == 0xfc01);
    CHECK(fp32_to_fp16(bits_float(0x7fc00000)) == 0x7e00);
}

TEST_CASE("bf16: widening, rounding to nearest even, quiet NaNs") {
    for (uint32_t h = 0; h < 65536; ++h) {
        CAPTURE(h);
        const float f = bf16_to_fp32(static_cast<uint16_t>(h));
        REQUIRE(float_bits(f) == h << 16);
        const bool nan = (h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0;
        if (nan) {
            REQUIRE(fp32_to_bf16(f) == (h | 0x40));
            continue;
        }
        REQUIRE(fp32_to_bf16(f) == h);
        if ((h & 0x7fff) >= 0x7f80) continue; // infinity: no next value up
        // The midpoint to the next bf16 away from zero, and its neighbours.
        const uint32_t mid = (h << 16) | 0x8000;
        const uint32_t even = (h & 1) ? h + 1 : h;
        REQUIRE(fp32_to_bf16(bits_float(mid)) == even);
        REQUIRE(fp32_to_bf16(bits_float(mid - 1)) == h);
        REQUIRE(fp32_to_bf16(bits_float(mid + 1)) == h + 1);
    }
}

TEST_CASE("fp16/bf16: fp32 narrowing matches numpy and gguf-py bit for bit") {
    test::VectorReader r("fp32_to_half.bin", "IFH1");
    const uint32_t count = r.u32();
    const auto in = r.array<uint32_t>(count);
    const auto want_f16 = r.array<uint16_t>(count);
    const auto want_bf16 = r.array<uint16_t>(count);
    REQUIRE(r.at_end());
    REQUIRE(count > 1000);
    int f16_bad = 0, bf16_bad = 0;
    for (uint32_t i = 0; i < count; ++i) {
        const float f = bits_float(in[i]);
        if (fp32_to_fp16(f) != want_f16[i] && f16_bad++ < 5)
            FAIL_CHECK("fp16 of 0x" << std::hex << in[i] << ": got 0x" << fp32_to_fp16(f)
                                    << ", numpy 0x" << want_f16[i]);
        if (fp32_to_bf16(f) != want_bf16[i] && bf16_bad++ < 5)
            FAIL_CHECK("bf16 of 0x" << std::hex << in[i] << ": got 0x" << fp32_to_bf16(f)
                                    << ", gguf-py 0x" << want_bf16[i]);
    }
    CHECK(f16_bad == 0);
    CHECK(bf16_bad == 0);
}

TEST_CASE("fp16: widening matches numpy bit for bit, NaN payloads included") {
    test::VectorReader r("half_to_fp32.bin", "IHF1");
    const uint32_t count = r.u32();
    const auto in = r.array<uint16_t>(count);
    const auto want = r.array<uint32_t>(count);
    REQUIRE(r.at_end());
    REQUIRE(count > 1000);
    for (uint32_t i = 0; i < count; ++i) {
        CAPTURE(in[i]);
        REQUIRE(float_bits(fp16_to_fp32(in[i])) == want[i]);
    }
}
