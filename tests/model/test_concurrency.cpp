// Several contexts on one shared model, decoding at the same time on their own threads (each
// with its own thread pool): each must compute exactly what it computes alone. Part of the
// ThreadSanitizer stage of scripts/test-all.sh, with the other tests that start threads.
#include "model_files.h"

#include "infer.h"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

namespace {

std::vector<float> decode_logits(const infer_model *model, const std::vector<int32_t> &prompt,
                                 int32_t n_threads, infer_status *status) {
    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = 32;
    p.n_batch = 8; // two chunks: the KV cache written by one pass is read by the next
    p.n_threads = n_threads;
    infer_context *ctx = nullptr;
    *status = infer_context_create(model, &p, &ctx);
    if (*status != INFER_OK) return {};
    std::vector<float> out;
    *status = infer_decode(ctx, prompt.data(), static_cast<uint32_t>(prompt.size()));
    const int32_t next = 42;
    if (*status == INFER_OK) *status = infer_decode(ctx, &next, 1);
    const float *logits = nullptr;
    uint32_t n_vocab = 0;
    if (*status == INFER_OK) *status = infer_context_logits(ctx, -1, &logits, &n_vocab);
    if (*status == INFER_OK) out.assign(logits, logits + n_vocab);
    infer_context_free(ctx);
    return out;
}

} // namespace

TEST_CASE("concurrency: contexts on one shared model decode in parallel as they do alone") {
    const std::string path = infer::test::real_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    infer_model *model = nullptr;
    REQUIRE_MESSAGE(infer_model_load_file(path.c_str(), nullptr, &model) == INFER_OK, std::string(infer_last_error()));
    // Two contexts keep the ThreadSanitizer run short (each decode is ~10 s under it).
    const std::vector<std::vector<int32_t>> prompts = {
        {1, 504, 3458, 282, 4649, 314, 3575, 30, 378, 1345},
        {1, 2730, 28, 655, 30, 7, 8, 9, 10},
    };
    std::vector<std::vector<float>> alone(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
        infer_status s = INFER_OK;
        alone[i] = decode_logits(model, prompts[i], 2, &s);
        REQUIRE_MESSAGE(s == INFER_OK, std::string(infer_last_error()));
    }
    std::vector<std::vector<float>> together(prompts.size());
    std::vector<infer_status> status(prompts.size(), INFER_OK);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < prompts.size(); ++i)
        threads.emplace_back([&, i] { together[i] = decode_logits(model, prompts[i], 2, &status[i]); });
    for (std::thread &t : threads) t.join();
    for (size_t i = 0; i < prompts.size(); ++i) {
        CHECK(status[i] == INFER_OK);
        CHECK(together[i] == alone[i]); // the same kernels and thread split: bit for bit
    }
    infer_model_free(model);
}
