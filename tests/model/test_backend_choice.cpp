// Choosing the backend at load through infer_model_params, on any machine: CUDA without a device
// (or in a build without CUDA) is a clear INFER_ERR_UNSUPPORTED and the CPU keeps working; bad
// backend and device values are rejected. The GPU side is tests/gpu.
#include "model_files.h"

#include "infer.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

namespace {

infer_status load_with(const std::string &path, int32_t backend, int32_t device,
                       infer_model **out) {
    infer_model_params p;
    infer_model_params_init(&p);
    p.backend = backend;
    p.device = device;
    return infer_model_load_file(path.c_str(), &p, out);
}

} // namespace

TEST_CASE("backend choice: CUDA without a device is unsupported, and the CPU keeps working") {
    const std::string path =
        infer::test::synthetic_model("backend-choice", "--arch llama --quant Q4_0");
    int32_t devices = 0;
    const infer_status counted = infer_backend_device_count(INFER_BACKEND_CUDA, &devices);
    infer_model *model = nullptr;
    const infer_status loaded = load_with(path, INFER_BACKEND_CUDA, 0, &model);
    if (counted == INFER_OK && devices > 0) {
        CHECK(loaded == INFER_OK); // the GPU tests cover this case in depth
    } else {
        CHECK(loaded == INFER_ERR_UNSUPPORTED);
        const std::string why = infer_last_error();
        CHECK_MESSAGE((why.find("no CUDA device") != std::string::npos ||
                       why.find("without CUDA") != std::string::npos),
                      why);
        CHECK(model == nullptr);
    }
    infer_model_free(model);

    REQUIRE(load_with(path, INFER_BACKEND_CPU, 0, &model) == INFER_OK);
    infer_context *ctx = nullptr;
    REQUIRE(infer_context_create(model, nullptr, &ctx) == INFER_OK);
    const int32_t token = 1;
    REQUIRE(infer_decode(ctx, &token, 1) == INFER_OK);
    infer_context_stats stats;
    infer_context_stats_init(&stats);
    REQUIRE(infer_context_get_stats(ctx, &stats) == INFER_OK);
    CHECK(stats.device_memory_bytes == 0);
    infer_context_free(ctx);
    infer_model_free(model);
}

TEST_CASE("backend choice: bad backend and device values are rejected before loading") {
    const std::string path =
        infer::test::synthetic_model("backend-choice", "--arch llama --quant Q4_0");
    infer_model *model = nullptr;
    // Vulkan: unsupported without a device (or in a build without it); with one (lavapipe in
    // CI), a device number past the last is the error.
    int32_t vulkan_devices = 0;
    if (infer_backend_device_count(INFER_BACKEND_VULKAN, &vulkan_devices) != INFER_OK ||
        vulkan_devices == 0)
        CHECK(load_with(path, INFER_BACKEND_VULKAN, 0, &model) == INFER_ERR_UNSUPPORTED);
    else
        CHECK(load_with(path, INFER_BACKEND_VULKAN, vulkan_devices, &model) ==
              INFER_ERR_INVALID_ARGUMENT);
    CHECK(load_with(path, 7, 0, &model) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(load_with(path, INFER_BACKEND_CUDA, -1, &model) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(model == nullptr);
}

TEST_CASE("backend choice: each device describes itself; a missing one is an error") {
    char text[512];
    size_t length = 0;
    REQUIRE(infer_backend_device_describe(INFER_BACKEND_CPU, 0, text, sizeof text, &length) ==
            INFER_OK);
    CHECK(std::string(text) == std::string("CPU ") + infer_cpu_kernel_level());
    CHECK(length == std::string(text).size());
    CHECK(infer_backend_device_describe(INFER_BACKEND_CPU, 1, text, sizeof text, nullptr) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_backend_device_describe(7, 0, text, sizeof text, nullptr) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_backend_device_describe(INFER_BACKEND_CPU, 0, nullptr, 8, nullptr) ==
          INFER_ERR_INVALID_ARGUMENT);
    // Truncation follows snprintf: the full length comes back.
    REQUIRE(infer_backend_device_describe(INFER_BACKEND_CPU, 0, text, 4, &length) == INFER_OK);
    CHECK(std::string(text) == "CPU");
    CHECK(length > 3);

    int32_t devices = 0;
    if (infer_backend_device_count(INFER_BACKEND_VULKAN, &devices) != INFER_OK || devices == 0) {
        CHECK(infer_backend_device_describe(INFER_BACKEND_VULKAN, 0, text, sizeof text, nullptr) !=
              INFER_OK);
        return;
    }
    REQUIRE(infer_backend_device_describe(INFER_BACKEND_VULKAN, 0, text, sizeof text, nullptr) ==
            INFER_OK);
    const std::string plain = text;
    CHECK_MESSAGE(plain.find("(Vulkan 1.") != std::string::npos, plain);
    CHECK_MESSAGE(plain.find(" kernels)") != std::string::npos, plain);
    // The feature switch is read when a device is probed: everything optional turned off.
    setenv("INFER_VULKAN_DISABLE", "all", 1);
    setenv("INFER_VULKAN_KERNELS", "gpu", 1);
    const infer_status again =
        infer_backend_device_describe(INFER_BACKEND_VULKAN, 0, text, sizeof text, nullptr);
    unsetenv("INFER_VULKAN_DISABLE");
    unsetenv("INFER_VULKAN_KERNELS");
    REQUIRE(again == INFER_OK);
    const std::string off = text;
    CHECK_MESSAGE(off.find("uses no optional feature") != std::string::npos, off);
    CHECK_MESSAGE(off.find("disabled: fp16,subgroup,int8,dot,coopmat") != std::string::npos, off);
    CHECK_MESSAGE(off.find("subgroup(") == std::string::npos, off);
    CHECK_MESSAGE(off.find("; gpu kernels)") != std::string::npos, off);
}
