// Choosing the backend at load through infer_model_params, on any machine: CUDA without a device
// (or in a build without CUDA) is a clear INFER_ERR_UNSUPPORTED and the CPU keeps working; bad
// backend and device values are rejected. The GPU side is tests/gpu.
#include "model_files.h"

#include "infer.h"

#include <doctest/doctest.h>

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
