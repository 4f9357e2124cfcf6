// The context half of the C API on a real model: memory requirements against what is allocated,
// caller buffers, full context, bad tokens, reset/truncate, state save/load, cancel, abort,
// statistics; and load-time refusals of an unknown architecture and a wrongly shaped tensor.
#include "model_files.h"

#include "infer.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

struct ModelDeleter { void operator()(infer_model *m) const { infer_model_free(m); } };
struct ContextDeleter { void operator()(infer_context *c) const { infer_context_free(c); } };
using ModelPtr = std::unique_ptr<infer_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<infer_context, ContextDeleter>;

const std::string &smollm_path() {
    static const std::string path = infer::test::real_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    return path;
}

ModelPtr load(const std::string &path) {
    infer_model *m = nullptr;
    REQUIRE_MESSAGE(infer_model_load_file(path.c_str(), nullptr, &m) == INFER_OK, std::string(infer_last_error()));
    return ModelPtr(m);
}

ContextPtr make_context(const infer_model *model, uint32_t n_ctx, uint32_t n_batch = 64) {
    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    infer_context *c = nullptr;
    REQUIRE_MESSAGE(infer_context_create(model, &p, &c) == INFER_OK, std::string(infer_last_error()));
    return ContextPtr(c);
}

std::vector<float> last_logits(infer_context *ctx) {
    const float *logits = nullptr;
    uint32_t n_vocab = 0;
    REQUIRE(infer_context_logits(ctx, -1, &logits, &n_vocab) == INFER_OK);
    return std::vector<float>(logits, logits + n_vocab);
}

const std::vector<int32_t> kPrompt = {1, 504, 3458, 282, 4649, 314, 3575, 30, 378, 1345, 288, 19};

std::vector<char> read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

// Replaces the first occurrence of `from` with `to` (same length) in a GGUF image's header.
void patch(std::vector<char> &image, const std::string &from, const std::string &to) {
    REQUIRE(from.size() == to.size());
    auto it = std::search(image.begin(), image.end(), from.begin(), from.end());
    REQUIRE(it != image.end());
    std::copy(to.begin(), to.end(), it);
}

} // namespace

TEST_CASE("context: memory requirements equal what create allocates, and caller buffers work") {
    ModelPtr model = load(smollm_path());
    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = 256;
    p.n_batch = 32;
    p.n_threads = 2;
    infer_memory_requirements req;
    infer_memory_requirements_init(&req);
    REQUIRE(infer_context_memory_requirements(model.get(), &p, &req) == INFER_OK);
    // SmolLM2: 30 layers x 3 KV heads x 64 dims x 256 positions x K,V x 2 bytes.
    CHECK(req.kv_cache_bytes == 30ull * 3 * 64 * 256 * 2 * 2);
    CHECK(req.activation_bytes >= req.activation_lower_bound);
    CHECK(req.total_bytes >= req.kv_cache_bytes + req.activation_bytes);
    const double ratio = double(req.activation_bytes) / double(req.activation_lower_bound);
    MESSAGE("SmolLM2 n_batch 32: activations " << req.activation_bytes << " bytes, lower bound "
                                               << req.activation_lower_bound << " (ratio " << ratio
                                               << "), KV " << req.kv_cache_bytes);
    CHECK(ratio <= 1.05);

    // A too-small caller buffer is refused; an exact one runs and matches a self-allocated one.
    std::vector<uint8_t> small(64);
    p.buffer = small.data();
    p.buffer_size = req.total_bytes - 1;
    infer_context *c = nullptr;
    CHECK(infer_context_create(model.get(), &p, &c) == INFER_ERR_BUFFER_TOO_SMALL);
    CHECK(c == nullptr);
    void *buffer = std::aligned_alloc(64, (req.total_bytes + 63) / 64 * 64);
    p.buffer = buffer;
    p.buffer_size = req.total_bytes;
    REQUIRE(infer_context_create(model.get(), &p, &c) == INFER_OK);
    ContextPtr in_buffer(c);
    ContextPtr own = make_context(model.get(), 256, 32);
    REQUIRE(infer_decode(in_buffer.get(), kPrompt.data(), kPrompt.size()) == INFER_OK);
    REQUIRE(infer_decode(own.get(), kPrompt.data(), kPrompt.size()) == INFER_OK);
    CHECK(last_logits(in_buffer.get()) == last_logits(own.get()));
    in_buffer.reset();
    std::free(buffer);
}

TEST_CASE("context: full context and bad tokens are refused without changing the state") {
    ModelPtr model = load(smollm_path());
    ContextPtr ctx = make_context(model.get(), 16);
    REQUIRE(infer_decode(ctx.get(), kPrompt.data(), kPrompt.size()) == INFER_OK);
    const std::vector<float> before = last_logits(ctx.get());
    CHECK(infer_decode(ctx.get(), kPrompt.data(), kPrompt.size()) == INFER_ERR_CONTEXT_FULL);
    CHECK(std::string(infer_last_error()).find("context") != std::string::npos);
    const int32_t bad[2] = {5, 49152};
    CHECK(infer_decode(ctx.get(), bad, 2) == INFER_ERR_BAD_TOKEN);
    const int32_t negative = -1;
    CHECK(infer_decode(ctx.get(), &negative, 1) == INFER_ERR_BAD_TOKEN);
    CHECK(infer_decode(ctx.get(), kPrompt.data(), 0) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_context_position(ctx.get()) == kPrompt.size());
    CHECK(last_logits(ctx.get()) == before);
}

TEST_CASE("context: truncate and reset replay to identical logits; chunking does not matter") {
    ModelPtr model = load(smollm_path());
    ContextPtr ctx = make_context(model.get(), 64, 5); // 12 tokens in chunks of 5, 5, 2
    REQUIRE(infer_decode(ctx.get(), kPrompt.data(), kPrompt.size()) == INFER_OK);
    const std::vector<float> full = last_logits(ctx.get());
    ContextPtr one_batch = make_context(model.get(), 64, 64);
    REQUIRE(infer_decode(one_batch.get(), kPrompt.data(), kPrompt.size()) == INFER_OK);
    const std::vector<float> batched = last_logits(one_batch.get());
    double max_diff = 0;
    for (size_t i = 0; i < full.size(); ++i) max_diff = std::max(max_diff, double(std::abs(full[i] - batched[i])));
    CHECK(max_diff < 1e-3);

    REQUIRE(infer_context_truncate(ctx.get(), 7) == INFER_OK);
    CHECK(infer_context_position(ctx.get()) == 7);
    CHECK(infer_context_truncate(ctx.get(), 8) == INFER_ERR_INVALID_ARGUMENT);
    REQUIRE(infer_decode(ctx.get(), kPrompt.data() + 7, kPrompt.size() - 7) == INFER_OK);
    CHECK(last_logits(ctx.get()) == full);

    REQUIRE(infer_context_reset(ctx.get()) == INFER_OK);
    CHECK(infer_context_position(ctx.get()) == 0);
    REQUIRE(infer_decode(ctx.get(), kPrompt.data(), kPrompt.size()) == INFER_OK);
    CHECK(last_logits(ctx.get()) == full);
}

namespace {

// Saves a context's state after the prompt, loads it into a fresh context, and checks the
// continuation is the same; returns the state's size.
uint64_t state_round_trip_holds(infer_model *model) {
    ContextPtr a = make_context(model, 64);
    REQUIRE_MESSAGE(infer_decode(a.get(), kPrompt.data(), kPrompt.size()) == INFER_OK,
                    std::string(infer_last_error()));
    uint64_t size = 0;
    REQUIRE(infer_context_state_size(a.get(), &size) == INFER_OK);
    std::vector<uint8_t> state(size);
    uint64_t written = 0;
    CHECK(infer_context_state_save(a.get(), state.data(), size - 1, &written) ==
          INFER_ERR_BUFFER_TOO_SMALL);
    REQUIRE(infer_context_state_save(a.get(), state.data(), size, &written) == INFER_OK);
    CHECK(written == size);

    const int32_t next = 42;
    REQUIRE(infer_decode(a.get(), &next, 1) == INFER_OK);
    const std::vector<float> expected = last_logits(a.get());

    ContextPtr b = make_context(model, 64);
    REQUIRE(infer_context_state_load(b.get(), state.data(), state.size()) == INFER_OK);
    CHECK(infer_context_position(b.get()) == kPrompt.size());
    REQUIRE(infer_decode(b.get(), &next, 1) == INFER_OK);
    CHECK(last_logits(b.get()) == expected);

    ContextPtr small = make_context(model, 8);
    CHECK(infer_context_state_load(small.get(), state.data(), state.size()) == INFER_ERR_BAD_STATE);
    state[0] = 'X';
    CHECK(infer_context_state_load(b.get(), state.data(), state.size()) == INFER_ERR_BAD_STATE);
    return size;
}

} // namespace

TEST_CASE("context: state save and load restore the same continuation") {
    ModelPtr model = load(smollm_path());
    state_round_trip_holds(model.get());
}

// Multi-head latent attention caches one row per position (the latent and the rope key, 128 +
// 32 elements in the tiny preset's 4 layers) and no values: the state holds just those rows.
TEST_CASE("context: state save and load with a latent-attention cache (deepseek2)") {
    ModelPtr model = load(infer::test::synthetic_model(
        "state-deepseek2", "--arch deepseek2 --preset tiny --n-vocab 5000 --quant Q8_0 --seed 27"));
    const uint64_t size = state_round_trip_holds(model.get());
    const uint64_t rows = uint64_t{4} * kPrompt.size() * (128 + 32) * 2; // F16
    CHECK(size > rows);
    CHECK(size < rows + 256); // the header
}

TEST_CASE("context: cancel from another thread and the abort callback stop a decode") {
    ModelPtr model = load(smollm_path());
    ContextPtr ctx = make_context(model.get(), 512, 512);
    std::vector<int32_t> long_prompt(400, 504);
    infer_context_cancel(ctx.get()); // a cancel before the call applies to the next decode
    CHECK(infer_decode(ctx.get(), long_prompt.data(), long_prompt.size()) == INFER_ERR_CANCELLED);
    CHECK(infer_context_position(ctx.get()) == 0);

    std::atomic<bool> started{false};
    std::thread canceller([&] {
        while (!started.load()) std::this_thread::yield();
        infer_context_cancel(ctx.get());
    });
    started.store(true);
    const infer_status s = infer_decode(ctx.get(), long_prompt.data(), long_prompt.size());
    canceller.join();
    // The cancel may land after the decode finished, and then stays pending until cleared;
    // either way the context stays usable.
    CHECK((s == INFER_ERR_CANCELLED || s == INFER_OK));
    infer_context_cancel_clear(ctx.get());
    REQUIRE(infer_context_reset(ctx.get()) == INFER_OK);
    CHECK(infer_decode(ctx.get(), kPrompt.data(), kPrompt.size()) == INFER_OK);

    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = 64;
    int calls = 0;
    p.abort_callback = [](void *user) -> int32_t { return ++*static_cast<int *>(user) > 3; };
    p.abort_user_data = &calls;
    infer_context *c = nullptr;
    REQUIRE(infer_context_create(model.get(), &p, &c) == INFER_OK);
    ContextPtr aborting(c);
    CHECK(infer_decode(aborting.get(), kPrompt.data(), kPrompt.size()) == INFER_ERR_CANCELLED);
    CHECK(calls == 4); // polled before the run, then after each node until it said stop
}

TEST_CASE("context: statistics count tokens and the weight bytes a decode step reads") {
    ModelPtr model = load(smollm_path());
    ContextPtr ctx = make_context(model.get(), 64);
    REQUIRE(infer_decode(ctx.get(), kPrompt.data(), kPrompt.size()) == INFER_OK);
    const int32_t next = 42;
    REQUIRE(infer_decode(ctx.get(), &next, 1) == INFER_OK);
    infer_context_stats stats;
    infer_context_stats_init(&stats);
    REQUIRE(infer_context_get_stats(ctx.get(), &stats) == INFER_OK);
    CHECK(stats.prefill_tokens == kPrompt.size());
    CHECK(stats.decode_tokens == 1);
    CHECK(stats.prefill_seconds > 0);
    // Every layer weight once plus the (tied) output matrix: close to the file's tensor bytes.
    infer_model_info info;
    infer_model_info_init(&info);
    REQUIRE(infer_model_get_info(model.get(), &info) == INFER_OK);
    CHECK(stats.weight_bytes_per_token > info.tensor_data_bytes / 2);
    CHECK(stats.weight_bytes_per_token < info.tensor_data_bytes * 2);
}

TEST_CASE("load: an unknown architecture and a wrongly shaped tensor are refused by name") {
    std::vector<char> image = read_file(smollm_path());
    std::vector<char> unknown = image;
    patch(unknown, std::string("\x05\0\0\0\0\0\0\0llama", 13), std::string("\x05\0\0\0\0\0\0\0xyzzy", 13));
    infer_model *m = nullptr;
    CHECK(infer_model_load_memory(unknown.data(), unknown.size(), nullptr, &m) ==
          INFER_ERR_MODEL_UNKNOWN_ARCH);
    CHECK(m == nullptr);
    CHECK(std::string(infer_last_error()).find("xyzzy") != std::string::npos);

    // blk.0.attn_q.weight is [576, 576]; declare it [288, 1152]: same bytes, wrong shape.
    std::vector<char> reshaped = image;
    const std::string name = "blk.0.attn_q.weight";
    auto it = std::search(reshaped.begin(), reshaped.end(), name.begin(), name.end());
    REQUIRE(it != reshaped.end());
    char *dims = &*it + name.size() + 4; // after the name: u32 n_dims, then u64 dims
    uint64_t d0 = 0, d1 = 0;
    std::memcpy(&d0, dims, 8);
    std::memcpy(&d1, dims + 8, 8);
    REQUIRE(d0 == 576);
    REQUIRE(d1 == 576);
    d0 = 288;
    d1 = 1152;
    std::memcpy(dims, &d0, 8);
    std::memcpy(dims + 8, &d1, 8);
    CHECK(infer_model_load_memory(reshaped.data(), reshaped.size(), nullptr, &m) ==
          INFER_ERR_MODEL_TENSOR_SHAPE);
    CHECK(std::string(infer_last_error()).find(name) != std::string::npos);

    // Inspect-only loading still accepts both.
    infer_model_params params;
    infer_model_params_init(&params);
    params.inspect_only = 1;
    REQUIRE(infer_model_load_memory(unknown.data(), unknown.size(), &params, &m) == INFER_OK);
    infer_context *c = nullptr;
    CHECK(infer_context_create(m, nullptr, &c) == INFER_ERR_INVALID_ARGUMENT);
    infer_model_free(m);
}
