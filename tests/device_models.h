// Whole models on a device backend against the CPU, through the C API: the helpers the CUDA and
// the Vulkan model tests share (tests/gpu/test_cuda_models.cpp, tests/vulkan_models/).
#pragma once

#include <doctest/doctest.h>

#include "model/golden.h"
#include "model/golden_check.h"
#include "model/model_files.h"

#include "infer.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace infer::test::device {

struct ModelDeleter {
    void operator()(infer_model *m) const { infer_model_free(m); }
};
struct ContextDeleter {
    void operator()(infer_context *c) const { infer_context_free(c); }
};
using ModelPtr = std::unique_ptr<infer_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<infer_context, ContextDeleter>;

inline ModelPtr load(const std::string &path, const infer_model_params &p, infer_status expect = INFER_OK) {
    infer_model *m = nullptr;
    const infer_status s = infer_model_load_file(path.c_str(), &p, &m);
    REQUIRE_MESSAGE(s == expect, infer_status_string(s), ": ", std::string(infer_last_error()));
    return ModelPtr(m);
}

inline infer_model_params on(int32_t backend, uint64_t budget = 0) {
    infer_model_params p;
    infer_model_params_init(&p);
    p.backend = backend;
    p.device_memory_budget = budget;
    return p;
}

inline ModelPtr load(const std::string &path, int32_t backend, uint64_t budget = 0,
              infer_status expect = INFER_OK) {
    return load(path, on(backend, budget), expect);
}

// The infer-synth arguments a golden model was made with (tests/data/goldens/NAME).
inline std::string golden_synth_args(const char *name) {
    std::ifstream args(std::string(INFER_TEST_DATA_DIR) + "/goldens/" + name + "/synth-args.txt");
    std::string synth_args;
    std::getline(args, synth_args);
    REQUIRE_MESSAGE(!synth_args.empty(), "no synth-args.txt for ", name);
    return synth_args;
}

inline infer_context_stats stats_of(const infer_context *ctx) {
    infer_context_stats stats;
    infer_context_stats_init(&stats);
    REQUIRE(infer_context_get_stats(ctx, &stats) == INFER_OK);
    return stats;
}

inline infer_placement placement_of(const infer_model *model) {
    infer_placement p;
    infer_placement_init(&p);
    REQUIRE_MESSAGE(infer_model_placement(model, &p) == INFER_OK, std::string(infer_last_error()));
    return p;
}

// expert_prefill: the tests name it (the default, AUTO, would measure this machine's CPU costs).
inline ContextPtr context(const infer_model *model, uint32_t n_ctx, uint32_t n_batch, bool logits_all,
                   int32_t expert_prefill = INFER_EXPERT_PREFILL_CPU) {
    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    p.logits_all = logits_all ? 1 : 0;
    p.expert_prefill = expert_prefill;
    infer_context *c = nullptr;
    REQUIRE_MESSAGE(infer_context_create(model, &p, &c) == INFER_OK, std::string(infer_last_error()));
    return ContextPtr(c);
}

inline std::vector<int32_t> prompt_tokens(int n, uint32_t n_vocab) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    uint32_t x = 99;
    for (int32_t &v : t) {
        x = x * 1664525u + 1013904223u;
        v = static_cast<int32_t>(x % n_vocab);
    }
    return t;
}

inline std::vector<float> logits_at(infer_context *ctx, int32_t index) {
    const float *l = nullptr;
    uint32_t n = 0;
    REQUIRE(infer_context_logits(ctx, index, &l, &n) == INFER_OK);
    return std::vector<float>(l, l + n);
}

inline float top2_margin(const std::vector<float> &v) {
    float a = -INFINITY, b = -INFINITY;
    for (float x : v) {
        if (x > a) {
            b = a;
            a = x;
        } else if (x > b)
            b = x;
    }
    return a - b;
}

// A device against the CPU: top-1 agreement where the CPU's margin exceeds 0.25, and a normalized RMS
// error bound. With float weights both sides multiply float activations (measured: 1.4e-3 at
// worst). With quantized weights the CPU rounds activations to 8 bits per 32 or per 256
// values (as llama.cpp does) and CUDA to 16 bits (prefill) or 8 bits per 32 (decode): two
// independent roundings, which the random-weight synthetic models amplify to 0.02-0.04.
// (Vulkan multiplies f32 activations: one rounding, well inside.)
inline constexpr double kTwoRoundingsBound = 6e-2;

inline double device_cpu_bound(const std::string &name) {
    const bool float_weights =
        name.ends_with("-F32") || name.ends_with("-F16") || name.ends_with("-BF16");
    return float_weights ? 5e-3 : kTwoRoundingsBound;
}

inline void compare(const std::vector<float> &device, const std::vector<float> &cpu,
             const std::string &where, double bound, double *worst) {
    const double e = infer::test::normalized_rms_error(device.data(), cpu.data(), cpu.size());
    *worst = std::max(*worst, e);
    CHECK_MESSAGE(e < bound, where, ": normalized RMS error ", e, " (bound ", bound, ")");
    if (top2_margin(cpu) > 0.25f)
        CHECK_MESSAGE(infer::test::argmax(device.data(), device.size()) ==
                          infer::test::argmax(cpu.data(), cpu.size()),
                      where, ": top-1 differs");
}

// Prefill of 32 tokens in batches of 16 (CUDA's GEMM path), then 12 greedy decode steps (the
// replayed decode step), the model loaded with `device` (all on a device, or a placement across
// a device and the CPU) against the CPU alone at every position, within `bound` (0: the bound
// of the weights' kind, device_cpu_bound).
inline void device_matches_cpu(const std::string &name, const std::string &synth_args,
                        const infer_model_params &device,
                        int32_t expert_prefill = INFER_EXPERT_PREFILL_CPU, double bound = 0) {
    const std::string path = infer::test::synthetic_model(name, synth_args);
    ModelPtr cpu_model = load(path, INFER_BACKEND_CPU);
    ModelPtr cuda_model = load(path, device);
    ContextPtr cpu = context(cpu_model.get(), 128, 16, true);
    ContextPtr gpu = context(cuda_model.get(), 128, 16, true, expert_prefill);
    infer_model_info info;
    infer_model_info_init(&info);
    REQUIRE(infer_model_get_info(cpu_model.get(), &info) == INFER_OK);
    const float *l = nullptr;
    uint32_t n_vocab = 0;
    const int32_t first = 1;
    REQUIRE(infer_decode(cpu.get(), &first, 1) == INFER_OK);
    REQUIRE(infer_context_logits(cpu.get(), -1, &l, &n_vocab) == INFER_OK);
    REQUIRE(infer_context_reset(cpu.get()) == INFER_OK);

    const std::vector<int32_t> prompt = prompt_tokens(16, n_vocab);
    if (bound == 0) bound = device_cpu_bound(name);
    double worst = 0;
    REQUIRE(infer_decode(cpu.get(), prompt.data(), 16) == INFER_OK);
    REQUIRE_MESSAGE(infer_decode(gpu.get(), prompt.data(), 16) == INFER_OK, std::string(infer_last_error()));
    for (int i = 0; i < 16; ++i)
        compare(logits_at(gpu.get(), i), logits_at(cpu.get(), i),
                name + " prompt position " + std::to_string(i), bound, &worst);
    const std::vector<int32_t> more = prompt_tokens(24, n_vocab);
    REQUIRE(infer_decode(cpu.get(), more.data(), 16) == INFER_OK); // positions 16..31
    REQUIRE(infer_decode(gpu.get(), more.data(), 16) == INFER_OK);
    compare(logits_at(gpu.get(), -1), logits_at(cpu.get(), -1), name + " second batch", bound,
            &worst);
    for (int step = 0; step < 12; ++step) {
        const std::vector<float> ref = logits_at(cpu.get(), -1);
        const int32_t next = infer::test::argmax(ref.data(), ref.size());
        REQUIRE(infer_decode(cpu.get(), &next, 1) == INFER_OK);
        REQUIRE_MESSAGE(infer_decode(gpu.get(), &next, 1) == INFER_OK, std::string(infer_last_error()));
        compare(logits_at(gpu.get(), -1), logits_at(cpu.get(), -1),
                name + " decode step " + std::to_string(step), bound, &worst);
    }
    const infer_context_stats stats = stats_of(gpu.get());
    CHECK(stats.device_memory_bytes > 0);
    if (expert_prefill == INFER_EXPERT_PREFILL_STREAM) {
        const infer_placement p = placement_of(cuda_model.get());
        const bool off_device = p.n_experts > 0 && p.n_experts_resident < p.n_experts;
        CHECK((stats.prefill_streamed_experts > 0) == off_device);
        CHECK(stats.prefill_streamed_bytes >= stats.prefill_streamed_experts);
    }
    MESSAGE(name << ": device vs CPU worst normalized RMS error " << worst << " over 29 positions; "
                 << stats.device_memory_bytes / 1048576.0 << " MiB on the device, "
                 << stats.prefill_streamed_experts << " experts streamed in prefill");
}

// Saves a context's state after a 12-token prompt, decodes past it and overwrites cache rows,
// loads the state back: the next token's logits are those of the first time, bit for bit.
// Returns them; `saved` gets the state.
inline std::vector<float> state_round_trip(const infer_model *model, std::vector<uint8_t> *saved = nullptr) {
    ContextPtr ctx = context(model, 64, 16, false);
    const std::vector<int32_t> prompt = prompt_tokens(12, 512);
    REQUIRE(infer_decode(ctx.get(), prompt.data(), 12) == INFER_OK);
    uint64_t size = 0;
    REQUIRE(infer_context_state_size(ctx.get(), &size) == INFER_OK);
    std::vector<uint8_t> state(size);
    REQUIRE(infer_context_state_save(ctx.get(), state.data(), size, &size) == INFER_OK);
    const int32_t next = 7;
    REQUIRE(infer_decode(ctx.get(), &next, 1) == INFER_OK);
    const std::vector<float> expected = logits_at(ctx.get(), -1);
    REQUIRE(infer_decode(ctx.get(), prompt.data(), 5) == INFER_OK); // overwrite some cache rows
    REQUIRE(infer_context_state_load(ctx.get(), state.data(), size) == INFER_OK);
    CHECK(infer_context_position(ctx.get()) == 12);
    REQUIRE(infer_decode(ctx.get(), &next, 1) == INFER_OK);
    CHECK(logits_at(ctx.get(), -1) == expected);
    if (saved) *saved = std::move(state);
    return expected;
}

} // namespace infer::test::device
