// dequant_q8_0.comp against a scalar Q8_0 reference, bit for bit, on random blocks of odd counts
// and on the extreme scales (zero, negative zero, fp16 subnormals, +-65504).
#include "core/dequant.h"
#include "core/types.h"
#include "vulkan/vk_buffer.h"
#include "vulkan/vk_dequant.h"
#include "vulkan/vk_device.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

using namespace infer::vulkan;

namespace {

constexpr size_t kBlockBytes = 34; // ggml block_q8_0: fp16 d, int8 qs[32]

// The scalar reference every backend is held to.
void dequant_q8_0_ref(const unsigned char *src, float *dst, size_t n_blocks) {
    REQUIRE(infer::dequantize_row_ref(static_cast<uint32_t>(infer::TypeId::Q8_0), src, dst,
                                      static_cast<int64_t>(n_blocks * 32)));
}

void set_scale(std::vector<unsigned char> &blocks, size_t b, uint16_t d_bits) {
    std::memcpy(&blocks[b * kBlockBytes], &d_bits, sizeof(d_bits));
}

// Random blocks: any finite fp16 scale (either sign, subnormals included), quants over all of
// [-128, 127].
std::vector<unsigned char> random_blocks(size_t n_blocks, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    std::vector<unsigned char> blocks(n_blocks * kBlockBytes);
    for (unsigned char &c : blocks)
        c = static_cast<unsigned char>(byte(rng));
    for (size_t b = 0; b < n_blocks; ++b) {
        uint16_t d_bits = static_cast<uint16_t>(rng());
        if (((d_bits >> 10) & 0x1f) == 0x1f) d_bits &= 0xbfffu; // no inf/NaN scales
        set_scale(blocks, b, d_bits);
    }
    return blocks;
}

// Runs the shader on `blocks` and checks every output bit against the reference.
void check_against_reference(Device &device, Pipeline &pipeline,
                             const std::vector<unsigned char> &blocks, uint32_t max_groups = 0) {
    const size_t n_blocks = blocks.size() / kBlockBytes;
    std::vector<float> expected(n_blocks * 32);
    dequant_q8_0_ref(blocks.data(), expected.data(), n_blocks);

    Buffer src, dst;
    REQUIRE(Buffer::create(device, blocks.size(), &src).is_ok());
    REQUIRE(Buffer::create(device, expected.size() * sizeof(float), &dst).is_ok());
    REQUIRE(src.upload(0, blocks.data(), blocks.size()).is_ok());
    // A poison pattern, so an output the shader skipped cannot pass by luck.
    const std::vector<float> poison(expected.size(), std::nanf(""));
    REQUIRE(dst.upload(0, poison.data(), poison.size() * sizeof(float)).is_ok());

    const infer::Status status =
        dequant_q8_0(device, pipeline, src, dst, static_cast<uint32_t>(n_blocks), max_groups);
    INFO(status.message());
    REQUIRE(status.is_ok());
    std::vector<float> actual(expected.size());
    REQUIRE(dst.download(0, actual.data(), actual.size() * sizeof(float)).is_ok());

    size_t mismatches = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
        uint32_t e, a;
        std::memcpy(&e, &expected[i], sizeof(e));
        std::memcpy(&a, &actual[i], sizeof(a));
        if (e != a && mismatches++ < 5) {
            uint16_t d_bits;
            std::memcpy(&d_bits, &blocks[(i / 32) * kBlockBytes], sizeof(d_bits));
            MESSAGE("element ", i, " (block ", i / 32, ", d 0x", std::hex, d_bits, "): expected 0x",
                    e, " got 0x", a);
        }
    }
    CHECK(mismatches == 0);
}

struct Fixture {
    std::unique_ptr<Device> device;
    Pipeline pipeline;
    Fixture() {
        const infer::Status opened = Device::create(0, &device);
        INFO("Device::create(0): ", opened.message());
        REQUIRE(opened.is_ok());
        REQUIRE(create_dequant_q8_0(*device, &pipeline).is_ok());
    }
};

} // namespace

TEST_CASE("vulkan: dequant_q8_0 matches the scalar reference on random blocks") {
    Fixture f;
    for (const size_t n_blocks : {1u, 7u, 32u, 33u, 1001u}) {
        INFO("n_blocks = ", n_blocks);
        check_against_reference(*f.device, f.pipeline, random_blocks(n_blocks, 1234 + n_blocks));
    }
}

TEST_CASE("vulkan: dequant_q8_0 is exact on extreme scales") {
    Fixture f;
    const uint16_t scales[] = {
        0x0000, // +0
        0x8000, // -0: signed zeros must come out with the product's sign
        0x0001, // smallest subnormal, 2^-24
        0x03ff, // largest subnormal
        0x8001, // negative subnormal
        0x0400, // smallest normal
        0xbc00, // -1
        0x7bff, // 65504, the largest half
        0xfbff, // -65504
    };
    const size_t n_blocks = sizeof(scales) / sizeof(scales[0]);
    std::vector<unsigned char> blocks = random_blocks(n_blocks, 99);
    for (size_t b = 0; b < n_blocks; ++b) {
        set_scale(blocks, b, scales[b]);
        // The quant extremes and zero in every block.
        blocks[b * kBlockBytes + 2] = 0x80; // -128
        blocks[b * kBlockBytes + 3] = 0x7f; // 127
        blocks[b * kBlockBytes + 4] = 0x00;
        blocks[b * kBlockBytes + 33] = 0xff; // -1
    }
    check_against_reference(*f.device, f.pipeline, blocks);
}

TEST_CASE("vulkan: dequant_q8_0 covers every block when workgroups must loop") {
    Fixture f;
    // 3 workgroups of 32 blocks each for 1001 blocks: each group runs its loop ~10 times.
    check_against_reference(*f.device, f.pipeline, random_blocks(1001, 7), 3);
    check_against_reference(*f.device, f.pipeline, random_blocks(7, 8), 1);
}

TEST_CASE("vulkan: dequant_q8_0 rejects buffers smaller than the blocks") {
    Fixture f;
    Buffer src, dst;
    REQUIRE(Buffer::create(*f.device, 7 * kBlockBytes, &src).is_ok());
    REQUIRE(Buffer::create(*f.device, 7 * 32 * sizeof(float) - 4, &dst).is_ok());
    CHECK(dequant_q8_0(*f.device, f.pipeline, src, dst, 7).code() == INFER_ERR_INVALID_ARGUMENT);
    CHECK(dequant_q8_0(*f.device, f.pipeline, src, dst, 8).code() == INFER_ERR_INVALID_ARGUMENT);
    CHECK(dequant_q8_0(*f.device, f.pipeline, src, dst, 0).is_ok());
}
