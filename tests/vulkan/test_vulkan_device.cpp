// Vulkan device discovery, buffers, and the op pipelines. CI has Mesa lavapipe, so a
// missing device is a failure here, not a skip.
#include "vulkan/vk_buffer.h"
#include "vulkan/vk_device.h"
#include "vulkan/vk_ops.h"
#include "vulkan/vk_shaders.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace infer::vulkan;

namespace {

std::unique_ptr<Device> open_device() {
    std::unique_ptr<Device> device;
    const infer::Status status = Device::create(0, &device);
    INFO("Device::create(0): ", status.message());
    REQUIRE(status.is_ok());
    return device;
}

} // namespace

TEST_CASE("vulkan: device_count finds a device (lavapipe in CI)") {
    std::string why;
    const int32_t count = device_count(&why);
    INFO("why: ", why);
    CHECK(count >= 1);
    CHECK(device_count(nullptr) == count);
}

TEST_CASE("vulkan: device opens and reports its limits and optional features") {
    std::unique_ptr<Device> device = open_device();
    const DeviceInfo &info = device->info();
    MESSAGE("Vulkan device: ", info.name, " (fp16 math ", info.shader_float16, ", subgroup ",
            info.subgroup_size, ", max storage range ", info.max_storage_buffer_range,
            ", storage offset alignment ", info.min_storage_buffer_offset_alignment, ")");
    CHECK(!info.name.empty());
    CHECK(info.api_version >= VK_API_VERSION_1_2);
    CHECK(info.max_storage_buffer_range >= (1u << 27)); // the spec minimum
    CHECK(info.min_storage_buffer_offset_alignment > 0);
    CHECK((info.min_storage_buffer_offset_alignment &
           (info.min_storage_buffer_offset_alignment - 1)) == 0);
    CHECK(info.max_workgroup_count_x >= 65535);
    CHECK(info.max_push_constants_size >= 128);
}

TEST_CASE("vulkan: a device index out of range is NOT_FOUND") {
    const int32_t count = device_count(nullptr);
    std::unique_ptr<Device> device;
    CHECK(Device::create(-1, &device).code() == INFER_ERR_NOT_FOUND);
    CHECK(Device::create(count, &device).code() == INFER_ERR_NOT_FOUND);
    CHECK(device == nullptr);
}

TEST_CASE("vulkan: embedded shaders are SPIR-V and found by name") {
    REQUIRE(!embedded_shaders().empty());
    for (const SpirvShader &shader : embedded_shaders()) {
        INFO(shader.name);
        REQUIRE(shader.word_count >= 5); // the SPIR-V header
        CHECK(shader.words[0] == 0x07230203u);
        CHECK(find_shader(shader.name) == &shader);
    }
    CHECK(find_shader("matmul_vec_subgroup") != nullptr); // a feature variant
    CHECK(find_shader("no_such_shader") == nullptr);
}

TEST_CASE("vulkan: buffer upload/download round trip and range checks") {
    std::unique_ptr<Device> device = open_device();
    Buffer buffer;
    REQUIRE(Buffer::create(*device, 1000, &buffer).is_ok());
    CHECK(buffer.size() == 1000);
    std::vector<unsigned char> in(1000), out(1000, 0);
    for (size_t i = 0; i < in.size(); ++i)
        in[i] = static_cast<unsigned char>(i * 7 + 3);
    REQUIRE(buffer.upload(0, in.data(), in.size()).is_ok());
    REQUIRE(buffer.download(0, out.data(), out.size()).is_ok());
    CHECK(in == out);
    CHECK(buffer.download(999, out.data(), 1).is_ok());
    CHECK(buffer.upload(999, in.data(), 2).code() == INFER_ERR_INVALID_ARGUMENT);
    CHECK(buffer.download(1001, out.data(), 0).code() == INFER_ERR_INVALID_ARGUMENT);

    Buffer moved = std::move(buffer);
    CHECK(buffer.handle() == VK_NULL_HANDLE);
    CHECK(moved.size() == 1000);
    Buffer empty;
    CHECK(Buffer::create(*device, 0, &empty).code() == INFER_ERR_INVALID_ARGUMENT);
}

// Every op's pipeline, and each weight-decoding shader's pipeline for a few types, on the
// device as probed and with every optional feature turned off (the other module of each
// feature's variant).
TEST_CASE("vulkan: op pipelines are made for every shader and its feature variants") {
    // Forced GPU kernels take the int8 dot matvec wherever the device has dot products.
    for (const char *disabled : {"", "all"}) {
        CAPTURE(disabled);
        setenv("INFER_VULKAN_DISABLE", disabled, 1);
        setenv("INFER_VULKAN_KERNELS", "gpu", 1);
        std::unique_ptr<Device> device = open_device();
        unsetenv("INFER_VULKAN_DISABLE");
        unsetenv("INFER_VULKAN_KERNELS");
        if (*disabled) CHECK(!device->info().subgroup_arithmetic);
        OpPipelines ops;
        REQUIRE(ops.create(*device).is_ok());
        for (uint32_t s = 0; s < static_cast<uint32_t>(OpShader::Count); ++s) {
            const auto shader = static_cast<OpShader>(s);
            for (uint32_t type : {0u, 2u, 12u}) { // F32, Q4_0, Q4_K
                CAPTURE(s);
                CAPTURE(type);
                // The int8 dot matvec exists only where the device runs it, for block-32 types.
                const bool dot = shader == OpShader::MatDot;
                if (dot && (!device->info().int8_dot_matvec || !matmul_dot_reads(type))) {
                    CHECK(!ops.prepare_typed(shader, type).is_ok());
                    continue;
                }
                REQUIRE(ops.prepare_typed(shader, type).is_ok());
                CHECK(ops.pipeline(shader, type) != VK_NULL_HANDLE);
            }
        }
        CHECK(ops.prepare_typed(OpShader::MatMul, 64).code() == INFER_ERR_MODEL_TENSOR_TYPE);
    }
}
