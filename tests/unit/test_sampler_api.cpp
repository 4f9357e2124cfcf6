// The sampler's C API: defaults, a round trip, and every error path with its message.
#include "infer.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

namespace {

std::string last_error() { return infer_last_error(); }

} // namespace

TEST_CASE("sampler API: defaults, sample, accept, reset") {
    infer_sampler_params p;
    infer_sampler_params_init(&p);
    CHECK(p.size == sizeof p);
    CHECK(p.temperature == 0.8f);
    CHECK(p.top_k == 40);
    CHECK(p.top_p == 0.95f);
    CHECK(p.min_p == 0.05f);
    CHECK(p.min_keep == 1);
    CHECK(p.repeat_penalty == 1.0f);
    CHECK(p.frequency_penalty == 0.0f);
    CHECK(p.presence_penalty == 0.0f);
    CHECK(p.penalty_last_n == 64);
    CHECK(p.seed == 0x5EED5EED5EED5EEDull);

    infer_sampler *s = nullptr;
    REQUIRE(infer_sampler_create(5, nullptr, &s) == INFER_OK); // NULL params: the defaults
    const std::vector<float> logits = {0.0f, 1.0f, 1.2f, 0.9f, -3.0f};
    std::vector<int32_t> first;
    for (int i = 0; i < 50; ++i) {
        int32_t token = -1;
        REQUIRE(infer_sampler_sample(s, logits.data(), &token) == INFER_OK);
        CHECK(token >= 0);
        CHECK(token < 5);
        CHECK(token != 4); // far below min-p
        CHECK(infer_sampler_accept(s, token) == INFER_OK);
        first.push_back(token);
    }
    infer_sampler_reset(s);
    for (int i = 0; i < 50; ++i) {
        int32_t token = -1;
        REQUIRE(infer_sampler_sample(s, logits.data(), &token) == INFER_OK);
        CHECK(token == first[static_cast<size_t>(i)]);
        REQUIRE(infer_sampler_accept(s, token) == INFER_OK);
    }
    infer_sampler_free(s);
    infer_sampler_free(nullptr);
    infer_sampler_reset(nullptr);
}

TEST_CASE("sampler API: bad arguments are errors with a message") {
    infer_sampler_params p;
    infer_sampler_params_init(&p);
    infer_sampler *s = reinterpret_cast<infer_sampler *>(1);

    CHECK(infer_sampler_create(0, &p, &s) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(s == nullptr);
    CHECK(last_error().find("n_vocab") != std::string::npos);
    CHECK(infer_sampler_create(10, &p, nullptr) == INFER_ERR_INVALID_ARGUMENT);

    p.temperature = NAN;
    CHECK(infer_sampler_create(10, &p, &s) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("temperature") != std::string::npos);
    p.temperature = -1.0f;
    CHECK(infer_sampler_create(10, &p, &s) == INFER_ERR_INVALID_ARGUMENT);
    infer_sampler_params_init(&p);
    p.top_p = 0.0f;
    CHECK(infer_sampler_create(10, &p, &s) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("top_p") != std::string::npos);
    p.top_p = 1.5f;
    CHECK(infer_sampler_create(10, &p, &s) == INFER_ERR_INVALID_ARGUMENT);
    infer_sampler_params_init(&p);
    p.size = 4;
    CHECK(infer_sampler_create(10, &p, &s) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("infer_sampler_params_init") != std::string::npos);

    infer_sampler_params_init(&p);
    REQUIRE(infer_sampler_create(4, &p, &s) == INFER_OK);
    CHECK(infer_sampler_set_logit_bias(s, 4, 1.0f) == INFER_ERR_BAD_TOKEN);
    CHECK(last_error().find("token 4") != std::string::npos);
    CHECK(infer_sampler_set_logit_bias(s, -1, 1.0f) == INFER_ERR_BAD_TOKEN);
    CHECK(infer_sampler_set_logit_bias(s, 0, NAN) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_sampler_set_logit_bias(s, 0, INFINITY) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_sampler_set_logit_bias(nullptr, 0, 1.0f) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_sampler_accept(s, 4) == INFER_ERR_BAD_TOKEN);
    CHECK(infer_sampler_accept(nullptr, 0) == INFER_ERR_INVALID_ARGUMENT);

    int32_t token = -1;
    const std::vector<float> logits = {0.0f, 1.0f, NAN, 2.0f};
    CHECK(infer_sampler_sample(s, logits.data(), &token) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("logits[2]") != std::string::npos);
    const std::vector<float> inf_logits = {0.0f, INFINITY, 0.0f, 2.0f};
    CHECK(infer_sampler_sample(s, inf_logits.data(), &token) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("logits[1]") != std::string::npos);
    const std::vector<float> masked(4, -INFINITY);
    CHECK(infer_sampler_sample(s, masked.data(), &token) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("-inf") != std::string::npos);
    CHECK(infer_sampler_sample(s, nullptr, &token) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_sampler_sample(s, logits.data(), nullptr) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_sampler_sample(nullptr, logits.data(), &token) == INFER_ERR_INVALID_ARGUMENT);
    infer_sampler_free(s);
}

// Found by tests/fuzz/fuzz_sampler.cpp: a masked (-inf) logit of a token in the penalty window,
// with a frequency penalty so negative that count * frequency is -inf, became -inf - -inf = NaN,
// a candidate that greedy picked and that broke the sorts' ordering.
TEST_CASE("sampler API: a masked token stays masked under overflowing penalties") {
    const float inf = INFINITY;
    for (float temperature : {0.0f, 0.8f}) {
        infer_sampler_params p;
        infer_sampler_params_init(&p);
        p.temperature = temperature;
        p.top_k = 0;
        p.frequency_penalty = -3.0e38f;
        p.penalty_last_n = 8;
        infer_sampler *s = nullptr;
        REQUIRE(infer_sampler_create(4, &p, &s) == INFER_OK);
        REQUIRE(infer_sampler_accept(s, 0) == INFER_OK);
        REQUIRE(infer_sampler_accept(s, 0) == INFER_OK); // 2 * -3e38 overflows to -inf
        REQUIRE(infer_sampler_set_logit_bias(s, 1, -inf) == INFER_OK);
        REQUIRE(infer_sampler_accept(s, 1) == INFER_OK);
        REQUIRE(infer_sampler_accept(s, 1) == INFER_OK);
        const std::vector<float> logits = {-inf, 5.0f, 0.5f, 0.25f};
        for (int i = 0; i < 20; ++i) {
            int32_t token = -1;
            REQUIRE(infer_sampler_sample(s, logits.data(), &token) == INFER_OK);
            CHECK((token == 2 || token == 3)); // 0 is masked, 1 is banned
        }
        infer_sampler_free(s);
    }
}
