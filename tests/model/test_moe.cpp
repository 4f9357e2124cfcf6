// Mixture-of-experts models through the C API, on synthetic models: expert statistics (each layer
// counts n_expert_used per token it ran; reset; snprintf-like size rules), the bytes a decode step
// reads (only the selected experts), prefill (tokens grouped per expert) against token-by-token
// decoding, and load-time refusals of bad expert hyperparameters and shapes.
#include "model_files.h"

#include "infer.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

namespace {

struct ModelDeleter { void operator()(infer_model *m) const { infer_model_free(m); } };
struct ContextDeleter { void operator()(infer_context *c) const { infer_context_free(c); } };
using ModelPtr = std::unique_ptr<infer_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<infer_context, ContextDeleter>;

ModelPtr load(const std::string &path) {
    infer_model *m = nullptr;
    REQUIRE_MESSAGE(infer_model_load_file(path.c_str(), nullptr, &m) == INFER_OK, std::string(infer_last_error()));
    return ModelPtr(m);
}

ContextPtr make_context(const infer_model *model, uint32_t n_batch, int32_t logits_all,
                        uint32_t kv_type = 1) {
    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = 64;
    p.n_batch = n_batch;
    p.logits_all = logits_all;
    p.kv_type = kv_type;
    p.n_threads = 2;
    infer_context *c = nullptr;
    REQUIRE_MESSAGE(infer_context_create(model, &p, &c) == INFER_OK, std::string(infer_last_error()));
    return ContextPtr(c);
}

const std::string &olmoe_path() {
    static const std::string path = infer::test::synthetic_model(
        "moe-olmoe-q4_k_m", "--arch olmoe --preset tiny --quant Q4_K_M --seed 31");
    return path;
}

std::vector<int32_t> prompt_of(size_t n) {
    std::vector<int32_t> p(n);
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<int32_t>(3 + (i * 41) % 200);
    return p;
}

struct Counts {
    uint32_t n_layer = 0, n_expert = 0;
    std::vector<uint64_t> values;
    uint64_t layer_sum(uint32_t l) const {
        return std::accumulate(values.begin() + l * n_expert, values.begin() + (l + 1) * n_expert,
                               uint64_t{0});
    }
};

Counts expert_counts(infer_context *ctx) {
    Counts c;
    REQUIRE(infer_context_expert_counts(ctx, nullptr, 0, &c.n_layer, &c.n_expert) ==
            INFER_ERR_BUFFER_TOO_SMALL);
    c.values.assign(static_cast<size_t>(c.n_layer) * c.n_expert, 0);
    REQUIRE(infer_context_expert_counts(ctx, c.values.data(), c.values.size(), nullptr, nullptr) ==
            INFER_OK);
    return c;
}

double normalized_rms(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; ++i) {
        num += (a[i] - b[i]) * static_cast<double>(a[i] - b[i]);
        den += b[i] * static_cast<double>(b[i]);
    }
    return std::sqrt(num / den);
}

std::vector<char> read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

// The bytes right after the first occurrence of `text` (a key or tensor name) in a GGUF image.
char *after(std::vector<char> &image, const std::string &text) {
    auto it = std::search(image.begin(), image.end(), text.begin(), text.end());
    REQUIRE_MESSAGE(it != image.end(), text);
    return &*it + text.size();
}

// Rewrites a tensor's dims in a GGUF image (the u64 dims follow its name and u32 n_dims).
void set_dims(std::vector<char> &image, const std::string &name, std::vector<uint64_t> expected,
              const std::vector<uint64_t> &dims) {
    char *at = after(image, name) + 4;
    std::vector<uint64_t> old(expected.size());
    std::memcpy(old.data(), at, old.size() * 8);
    REQUIRE(old == expected);
    std::memcpy(at, dims.data(), dims.size() * 8);
}

// Loading `image` fails with `want`, and the message names `named`.
void check_refused(const std::vector<char> &image, infer_status want, const std::string &named) {
    infer_model *m = nullptr;
    CHECK(infer_model_load_memory(image.data(), image.size(), nullptr, &m) == want);
    CHECK(m == nullptr);
    CHECK(std::string(infer_last_error()).find(named) != std::string::npos);
}

} // namespace

TEST_CASE("moe: expert statistics count n_expert_used per token and layer, and reset clears them") {
    ModelPtr model = load(olmoe_path());
    infer_model_info info;
    infer_model_info_init(&info);
    REQUIRE(infer_model_get_info(model.get(), &info) == INFER_OK);
    CHECK(info.n_expert == 16);
    CHECK(info.n_expert_used == 4);
    const uint64_t k = info.n_expert_used;

    // logits_all: every layer runs every token. 13 prompt tokens in calls of 8 and 5, 3 steps.
    ContextPtr ctx = make_context(model.get(), 8, 1);
    const std::vector<int32_t> prompt = prompt_of(13);
    REQUIRE(infer_decode(ctx.get(), prompt.data(), 8) == INFER_OK);
    REQUIRE(infer_decode(ctx.get(), prompt.data() + 8, 5) == INFER_OK);
    for (int32_t next : {7, 8, 9}) REQUIRE(infer_decode(ctx.get(), &next, 1) == INFER_OK);
    Counts c = expert_counts(ctx.get());
    REQUIRE(c.n_expert == info.n_expert);
    REQUIRE(c.n_layer >= 2);
    for (uint32_t l = 0; l < c.n_layer; ++l) {
        CAPTURE(l);
        CHECK(c.layer_sum(l) == 16 * k);
        // An expert runs at most once per token; random routers spread tokens over experts.
        const auto row = c.values.begin() + l * c.n_expert;
        CHECK(*std::max_element(row, row + c.n_expert) <= 16);
        CHECK(std::count_if(row, row + c.n_expert, [](uint64_t v) { return v > 0; }) > static_cast<long>(k));
    }

    // snprintf rules: too small writes nothing.
    std::vector<uint64_t> small(c.values.size() - 1, 12345);
    uint32_t n_layer = 0, n_expert = 0;
    CHECK(infer_context_expert_counts(ctx.get(), small.data(), small.size(), &n_layer, &n_expert) ==
          INFER_ERR_BUFFER_TOO_SMALL);
    CHECK(n_layer == c.n_layer);
    CHECK(n_expert == c.n_expert);
    CHECK(std::all_of(small.begin(), small.end(), [](uint64_t v) { return v == 12345; }));

    infer_context_reset_expert_counts(ctx.get());
    c = expert_counts(ctx.get());
    CHECK(std::all_of(c.values.begin(), c.values.end(), [](uint64_t v) { return v == 0; }));
    const int32_t next = 10;
    REQUIRE(infer_decode(ctx.get(), &next, 1) == INFER_OK);
    c = expert_counts(ctx.get());
    for (uint32_t l = 0; l < c.n_layer; ++l) CHECK(c.layer_sum(l) == k);

    // Without logits_all the last layer runs only each chunk's last token (one call, 2 chunks).
    ContextPtr last_only = make_context(model.get(), 8, 0);
    REQUIRE(infer_decode(last_only.get(), prompt.data(), prompt.size()) == INFER_OK);
    c = expert_counts(last_only.get());
    for (uint32_t l = 0; l + 1 < c.n_layer; ++l) CHECK(c.layer_sum(l) == 13 * k);
    CHECK(c.layer_sum(c.n_layer - 1) == 2 * k);
}

TEST_CASE("moe: a decode step reads only the selected experts' weight bytes") {
    ModelPtr model = load(olmoe_path());
    infer_model_info info;
    infer_model_info_init(&info);
    REQUIRE(infer_model_get_info(model.get(), &info) == INFER_OK);
    uint64_t all_experts = 0;
    for (uint64_t i = 0; i < info.n_tensors; ++i) {
        infer_tensor_info t;
        infer_tensor_info_init(&t);
        REQUIRE(infer_model_tensor_info(model.get(), i, &t) == INFER_OK);
        if (std::strstr(t.name, "_exps.weight")) all_experts += t.n_bytes;
    }
    ContextPtr ctx = make_context(model.get(), 8, 0);
    infer_context_stats stats;
    infer_context_stats_init(&stats);
    REQUIRE(infer_context_get_stats(ctx.get(), &stats) == INFER_OK);
    CHECK(stats.expert_bytes_per_token == all_experts / info.n_expert * info.n_expert_used);
    CHECK(stats.weight_bytes_per_token > stats.expert_bytes_per_token);
    CHECK(stats.weight_bytes_per_token < info.tensor_data_bytes - all_experts + stats.expert_bytes_per_token + 1);
    // The expert FFN's own time is part of the decode time; prefill adds to neither.
    CHECK(stats.decode_cpu_expert_seconds == 0);
    const int32_t tokens[3] = {1, 2, 3};
    REQUIRE(infer_decode(ctx.get(), tokens, 2) == INFER_OK);
    REQUIRE(infer_decode(ctx.get(), tokens + 2, 1) == INFER_OK);
    REQUIRE(infer_context_get_stats(ctx.get(), &stats) == INFER_OK);
    CHECK(stats.decode_tokens == 1);
    CHECK(stats.decode_cpu_expert_seconds > 0);
    CHECK(stats.decode_cpu_expert_seconds < stats.decode_seconds);
    infer_context_reset_stats(ctx.get());
    REQUIRE(infer_context_get_stats(ctx.get(), &stats) == INFER_OK);
    CHECK(stats.decode_cpu_expert_seconds == 0);

    // A dense model has no expert statistics.
    ModelPtr dense = load(infer::test::synthetic_model("moe-dense-llama", "--arch llama --preset tiny"));
    ContextPtr dctx = make_context(dense.get(), 8, 0);
    uint32_t n_layer = 7, n_expert = 7;
    CHECK(infer_context_expert_counts(dctx.get(), nullptr, 0, &n_layer, &n_expert) == INFER_OK);
    CHECK(n_layer == 0);
    CHECK(n_expert == 0);
    REQUIRE(infer_decode(dctx.get(), tokens, 1) == INFER_OK);
    REQUIRE(infer_context_get_stats(dctx.get(), &stats) == INFER_OK);
    CHECK(stats.expert_bytes_per_token == 0);
    CHECK(stats.decode_cpu_expert_seconds == 0);
}

TEST_CASE("moe: prefill (tokens grouped per expert) equals decoding token by token") {
    const char *const specs[][2] = {
        {"moe-qwen3moe-f32", "--arch qwen3moe --preset tiny --quant F32 --seed 41"},
        {"moe-qwen2moe-f32", "--arch qwen2moe --preset tiny --quant F32 --seed 42"},
        {"moe-olmoe-f32", "--arch olmoe --preset tiny --quant F32 --seed 43"},
        {"moe-mixtral-f32",
         "--arch llama --preset tiny --n-expert 8 --n-expert-used 2 --quant F32 --seed 44"},
    };
    for (const auto &spec : specs) {
        const std::string name = spec[0];
        CAPTURE(name);
        ModelPtr model = load(infer::test::synthetic_model(spec[0], spec[1]));
        const std::vector<int32_t> prompt = prompt_of(20);
        ContextPtr batch = make_context(model.get(), 32, 1, 0);
        ContextPtr steps = make_context(model.get(), 32, 0, 0);
        REQUIRE(infer_decode(batch.get(), prompt.data(), prompt.size()) == INFER_OK);
        double worst = 0;
        for (size_t i = 0; i < prompt.size(); ++i) {
            REQUIRE(infer_decode(steps.get(), &prompt[i], 1) == INFER_OK);
            const float *a = nullptr, *b = nullptr;
            uint32_t n_vocab = 0;
            REQUIRE(infer_context_logits(batch.get(), static_cast<int32_t>(i), &a, &n_vocab) == INFER_OK);
            REQUIRE(infer_context_logits(steps.get(), -1, &b, nullptr) == INFER_OK);
            worst = std::max(worst, normalized_rms(a, b, n_vocab));
        }
        MESSAGE(std::string(spec[0]) << ": prefill vs token-by-token worst error " << worst);
        CHECK(worst < 1e-5); // float weights, F32 KV cache: summation order only
    }
}

TEST_CASE("load: bad expert hyperparameters and expert tensor shapes are refused by name") {
    const std::vector<char> image = read_file(olmoe_path());

    // expert_used_count (u32 4) raised above expert_count (16).
    std::vector<char> too_many = image;
    char *value = after(too_many, "olmoe.expert_used_count") + 4; // after the u32 value type
    uint32_t used = 0;
    std::memcpy(&used, value, 4);
    REQUIRE(used == 4);
    used = 17;
    std::memcpy(value, &used, 4);
    check_refused(too_many, INFER_ERR_MODEL_BAD_HPARAM, "expert_used_count");

    // Same bytes, wrong shapes: an expert tensor with half the experts, a router with 8.
    std::vector<char> reshaped = image;
    set_dims(reshaped, "blk.1.ffn_up_exps.weight", {256, 256, 16}, {256, 512, 8});
    check_refused(reshaped, INFER_ERR_MODEL_TENSOR_SHAPE, "blk.1.ffn_up_exps.weight");
    std::vector<char> router = image;
    set_dims(router, "blk.0.ffn_gate_inp.weight", {256, 16}, {512, 8});
    check_refused(router, INFER_ERR_MODEL_TENSOR_SHAPE, "blk.0.ffn_gate_inp.weight");
}
