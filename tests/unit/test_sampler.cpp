// The sampler chain: greedy ties, temperature, the exact candidate sets of top-k / top-p / min-p
// on hand-made distributions and against a full-sort reference on a 262144-entry vocabulary,
// draw frequencies, llama.cpp's penalties and their window, logit bias, seeds, and buffers that
// stay put while sampling.
#include "core/random.h"
#include "sample/sampler.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

using infer::PenaltyParams;
using infer::PenaltyWindow;
using infer::Sampler;
using infer::SamplerParams;

namespace {

// Pure temperature sampling: every truncation off.
SamplerParams plain(float temperature = 1.0f) {
    SamplerParams p;
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

std::unique_ptr<Sampler> make(int32_t n_vocab, const SamplerParams &params) {
    std::unique_ptr<Sampler> s;
    const infer::Status status = Sampler::create(n_vocab, params, &s);
    REQUIRE_MESSAGE(status.is_ok(), status.message());
    return s;
}

int32_t sample(Sampler &s, const std::vector<float> &logits) {
    int32_t token = -1;
    const infer::Status status = s.sample(logits.data(), &token);
    REQUIRE_MESSAGE(status.is_ok(), status.message());
    return token;
}

// The ids that survived the last sample(), ascending.
std::vector<int32_t> kept_ids(const Sampler &s) {
    std::vector<int32_t> ids;
    for (const Sampler::Candidate &c : s.last_candidates())
        ids.push_back(c.id);
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::vector<int32_t> kept_after_one_sample(const std::vector<float> &logits,
                                           const SamplerParams &params) {
    auto s = make(static_cast<int32_t>(logits.size()), params);
    sample(*s, logits);
    return kept_ids(*s);
}

std::vector<int> histogram(Sampler &s, const std::vector<float> &logits, int draws) {
    std::vector<int> counts(logits.size(), 0);
    for (int i = 0; i < draws; ++i)
        ++counts[static_cast<size_t>(sample(s, logits))];
    return counts;
}

// Pearson's chi-square of observed counts against expected probabilities (zeros must be unseen).
double chi_square(const std::vector<int> &counts, const std::vector<double> &expected, int draws) {
    double chi2 = 0.0;
    for (size_t i = 0; i < counts.size(); ++i) {
        if (expected[i] == 0.0) {
            CHECK_MESSAGE(counts[i] == 0, "excluded token ", i, " was drawn");
            continue;
        }
        const double e = expected[i] * draws;
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    return chi2;
}

std::vector<float> log_probs(const std::vector<double> &p) {
    std::vector<float> logits;
    for (double x : p)
        logits.push_back(static_cast<float>(std::log(x)));
    return logits;
}

} // namespace

TEST_CASE("sampler: greedy is the argmax, lowest id among ties, whatever the truncations") {
    SamplerParams p; // defaults: top-k, top-p, min-p all on
    p.temperature = 0.0f;
    auto s = make(6, p);
    CHECK(sample(*s, {1.0f, 3.0f, -2.0f, 3.0f, 2.5f, 3.0f}) == 1);
    CHECK(sample(*s, {-5.0f, -5.0f, -5.0f, -5.0f, -5.0f, -5.0f}) == 0);
    CHECK(sample(*s, {-INFINITY, -1.0f, -INFINITY, 0.5f, 0.5f, -INFINITY}) == 3);
    CHECK(s->last_candidates().empty());
}

TEST_CASE("sampler: temperature scales the logits before the softmax") {
    // Logits {0, ln 2}: probabilities 1:2 at T = 1, 1:4 at T = 0.5, 1:sqrt(2) at T = 2.
    const std::vector<float> logits = {0.0f, static_cast<float>(std::log(2.0))};
    const int draws = 20000;
    for (const auto &[temperature, p1] : {std::pair{1.0f, 2.0 / 3.0}, std::pair{0.5f, 0.8},
                                          std::pair{2.0f, std::sqrt(2.0) / (1 + std::sqrt(2.0))}}) {
        CAPTURE(temperature);
        auto s = make(2, plain(temperature));
        const std::vector<int> counts = histogram(*s, logits, draws);
        const auto candidates = s->last_candidates();
        REQUIRE(candidates.size() == 2);
        CHECK(candidates[1].weight / (candidates[0].weight + candidates[1].weight) ==
              doctest::Approx(p1).epsilon(1e-6));
        // 5 standard deviations of a binomial proportion.
        CHECK(std::abs(counts[1] / double(draws) - p1) < 5 * std::sqrt(p1 * (1 - p1) / draws));
    }
}

TEST_CASE("sampler: a tiny temperature is (almost) greedy, not NaN") {
    SamplerParams p = plain(1e-40f); // subnormal: its reciprocal overflows
    auto s = make(3, p);
    for (int i = 0; i < 100; ++i)
        CHECK(sample(*s, {0.5f, 1.0f, 0.999f}) == 1);
}

TEST_CASE("sampler: top-k keeps the k largest logits (at least min_keep)") {
    const std::vector<float> logits = {0.1f, 2.0f, -1.0f, 1.5f, 0.7f, 3.0f, 0.0f, 1.5f};
    SamplerParams p = plain();
    p.top_k = 3;
    CHECK(kept_after_one_sample(logits, p) == std::vector<int32_t>{1, 3, 5});
    p.top_k = 4; // 1.5 twice: both fit
    CHECK(kept_after_one_sample(logits, p) == std::vector<int32_t>{1, 3, 5, 7});
    p.top_k = 1;
    p.min_keep = 2;
    CHECK(kept_after_one_sample(logits, p) == std::vector<int32_t>{1, 5});
    p.top_k = 100; // more than the vocabulary: off
    p.min_keep = 1;
    CHECK(kept_after_one_sample(logits, p).size() == logits.size());

    p.top_k = 3;
    auto s = make(8, p);
    const std::vector<int> counts = histogram(*s, logits, 5000);
    for (int32_t id : {0, 2, 4, 6, 7})
        CHECK(counts[static_cast<size_t>(id)] == 0);
}

TEST_CASE("sampler: top-p keeps the shortest prefix reaching p (at least min_keep)") {
    const std::vector<float> logits = log_probs({0.15, 0.5, 0.05, 0.3});
    SamplerParams p = plain();
    p.top_p = 0.75f; // 0.5 < 0.75 <= 0.5 + 0.3
    CHECK(kept_after_one_sample(logits, p) == std::vector<int32_t>{1, 3});
    p.top_p = 0.9f; // 0.8 < 0.9 <= 0.95
    CHECK(kept_after_one_sample(logits, p) == std::vector<int32_t>{0, 1, 3});
    p.top_p = 0.4f;
    CHECK(kept_after_one_sample(logits, p) == std::vector<int32_t>{1});
    p.min_keep = 2;
    CHECK(kept_after_one_sample(logits, p) == std::vector<int32_t>{1, 3});
    p.min_keep = 1;
    p.top_p = 1.0f;
    CHECK(kept_after_one_sample(logits, p).size() == 4);
    p.top_p = 0.99f;
    CHECK(kept_after_one_sample(logits, p).size() == 4);
}

TEST_CASE("sampler: min-p keeps tokens at least min_p times as probable as the best") {
    const std::vector<float> logits = log_probs({0.15, 0.5, 0.05, 0.3});
    SamplerParams p = plain();
    p.min_p = 0.2f; // threshold 0.1
    CHECK(kept_after_one_sample(logits, p) == std::vector<int32_t>{0, 1, 3});
    p.min_p = 0.5f; // threshold 0.25
    CHECK(kept_after_one_sample(logits, p) == std::vector<int32_t>{1, 3});
    p.min_p = 0.7f; // threshold 0.35
    CHECK(kept_after_one_sample(logits, p) == std::vector<int32_t>{1});
    p.min_keep = 3;
    CHECK(kept_after_one_sample(logits, p) == std::vector<int32_t>{0, 1, 3});
    // Combined with top-p, the shorter prefix wins.
    p.min_keep = 1;
    p.min_p = 0.2f;
    p.top_p = 0.75f;
    CHECK(kept_after_one_sample(logits, p) == std::vector<int32_t>{1, 3});
}

TEST_CASE("sampler: draws follow the distribution, renormalised over what top-p keeps") {
    const int draws = 20000;
    // Chi-square critical value for 3 degrees of freedom at p = 0.001 is 16.27, for 1 it is 10.83.
    const std::vector<double> probs = {0.1, 0.2, 0.3, 0.4};
    auto all = make(4, plain());
    CHECK(chi_square(histogram(*all, log_probs(probs), draws), probs, draws) < 16.27);

    SamplerParams p = plain();
    p.top_p = 0.65f; // keeps 0.4 and 0.3: 4/7 and 3/7
    auto nucleus = make(4, p);
    CHECK(chi_square(histogram(*nucleus, log_probs(probs), draws), {0, 0, 3.0 / 7, 4.0 / 7},
                     draws) < 10.83);
}

TEST_CASE("sampler: penalties follow llama.cpp") {
    PenaltyParams p;
    p.repeat = 2.0f;
    p.frequency = 0.5f;
    p.presence = 1.0f;
    CHECK(infer::penalize(2.0f, 0, p) == 2.0f);                  // not in the window
    CHECK(infer::penalize(2.0f, 3, p) == 2.0f / 2 - 1.5f - 1);   // positive: divided
    CHECK(infer::penalize(-2.0f, 3, p) == -2.0f * 2 - 1.5f - 1); // negative: multiplied
    CHECK(infer::penalize(0.0f, 1, p) == -0.5f - 1);
    CHECK(!PenaltyParams{}.active());

    SUBCASE("the window forgets the oldest token") {
        PenaltyWindow w(10, 3);
        for (int32_t t : {4, 4, 7})
            w.push(t);
        CHECK(w.count(4) == 2);
        w.push(1); // drops the first 4
        CHECK(w.count(4) == 1);
        CHECK(w.count(7) == 1);
        CHECK(w.count(1) == 1);
        CHECK(w.size() == 3);
        w.clear();
        CHECK(w.count(4) == 0);
        CHECK(w.size() == 0);
        PenaltyWindow none(10, 0);
        none.push(4);
        CHECK(none.count(4) == 0);
    }

    SUBCASE("greedy sees the penalised logits") {
        SamplerParams sp = plain(0.0f);
        sp.penalties.repeat = 2.0f;
        sp.penalty_last_n = 2;
        auto s = make(3, sp);
        const std::vector<float> logits = {2.0f, 1.5f, -0.5f};
        CHECK(sample(*s, logits) == 0);
        REQUIRE(s->accept(0).is_ok()); // 2 / 2 = 1 < 1.5
        CHECK(sample(*s, logits) == 1);
        REQUIRE(s->accept(1).is_ok()); // 0.75 vs 1
        CHECK(sample(*s, logits) == 0);
        REQUIRE(s->accept(2).is_ok()); // 0 left the window of 2
        CHECK(sample(*s, logits) == 0);
        s->reset();
        REQUIRE(s->accept(1).is_ok());
        CHECK(sample(*s, logits) == 0);
    }

    SUBCASE("frequency and presence") {
        SamplerParams sp = plain(0.0f);
        sp.penalties.frequency = 0.4f;
        sp.penalties.presence = 0.3f;
        auto s = make(2, sp);
        const std::vector<float> logits = {1.0f, 0.0f};
        REQUIRE(s->accept(0).is_ok()); // 1 - 0.4 - 0.3 = 0.3 > 0
        CHECK(sample(*s, logits) == 0);
        REQUIRE(s->accept(0).is_ok()); // 1 - 0.8 - 0.3 < 0
        CHECK(sample(*s, logits) == 1);
    }
}

TEST_CASE("sampler: logit bias shifts, -INFINITY bans, 0 removes") {
    auto greedy = make(3, plain(0.0f));
    const std::vector<float> logits = {1.0f, 2.0f, 0.0f};
    REQUIRE(greedy->set_logit_bias(2, 2.5f).is_ok());
    CHECK(sample(*greedy, logits) == 2);
    REQUIRE(greedy->set_logit_bias(2, 0.0f).is_ok());
    CHECK(sample(*greedy, logits) == 1);
    REQUIRE(greedy->set_logit_bias(1, -INFINITY).is_ok());
    CHECK(sample(*greedy, logits) == 0);

    // A banned token is never drawn, even when min_keep asks for every token.
    SamplerParams p = plain(2.0f);
    p.min_keep = 4;
    p.top_k = 1;
    auto s = make(4, p);
    REQUIRE(s->set_logit_bias(1, -INFINITY).is_ok());
    const std::vector<int> counts = histogram(*s, {0.0f, 5.0f, 0.0f, 0.0f}, 3000);
    CHECK(counts[1] == 0);
    CHECK(counts[0] > 0);
    CHECK(counts[2] > 0);
    CHECK(counts[3] > 0);
    CHECK(s->last_candidates().size() == 3);

    REQUIRE(s->set_logit_bias(0, -INFINITY).is_ok());
    REQUIRE(s->set_logit_bias(2, -INFINITY).is_ok());
    REQUIRE(s->set_logit_bias(3, -INFINITY).is_ok());
    int32_t token = -1;
    const std::vector<float> flat(4, 0.0f);
    CHECK(s->sample(flat.data(), &token).code() == INFER_ERR_INVALID_ARGUMENT);
}

TEST_CASE("sampler: the same seed gives the same tokens, another seed others; reset replays") {
    const std::vector<float> logits = log_probs({0.1, 0.2, 0.3, 0.25, 0.15});
    SamplerParams p = plain();
    p.seed = 7;
    auto a = make(5, p);
    auto b = make(5, p);
    p.seed = 8;
    auto c = make(5, p);
    std::vector<int32_t> ta, tb, tc;
    for (int i = 0; i < 200; ++i) {
        ta.push_back(sample(*a, logits));
        tb.push_back(sample(*b, logits));
        tc.push_back(sample(*c, logits));
    }
    CHECK(ta == tb);
    CHECK(ta != tc);
    a->reset();
    for (int i = 0; i < 200; ++i)
        CHECK(sample(*a, logits) == ta[static_cast<size_t>(i)]);
}

TEST_CASE("sampler: golden draws for seed 42 (portable generator)") {
    SamplerParams p = plain();
    p.seed = 42;
    auto s = make(8, p);
    const std::vector<float> logits = {0.5f, -1.0f, 2.0f, 0.0f, 1.0f, -0.5f, 1.5f, 0.25f};
    std::vector<int32_t> tokens;
    for (int i = 0; i < 16; ++i)
        tokens.push_back(sample(*s, logits));
    // Checked against an independent Python transcription of xoshiro256** and the draw.
    const std::vector<int32_t> golden = {2, 6, 4, 6, 2, 3, 2, 2, 2, 6, 4, 2, 2, 6, 7, 4};
    CHECK(tokens == golden);
}

TEST_CASE("sampler: partial sorting keeps exactly what a full sort keeps (262144 entries)") {
    const int32_t n_vocab = 262144;
    infer::Rng rng(1234);
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    for (float &x : logits)
        x = 3.0f * rng.normal();
    for (int32_t i = 0; i < 1000; i += 7)
        logits[static_cast<size_t>(i) * 13] = 10.0f; // ties

    struct Case {
        int32_t top_k;
        float top_p, min_p, temperature;
    };
    for (const Case c :
         {Case{40, 0.95f, 0.05f, 0.8f}, Case{0, 0.9f, 0.0f, 1.0f}, Case{0, 1.0f, 0.001f, 1.5f},
          Case{500, 0.5f, 0.0f, 3.0f}, Case{0, 0.999f, 0.0f, 4.0f}}) {
        CAPTURE(c.top_k);
        CAPTURE(c.top_p);
        CAPTURE(c.min_p);
        SamplerParams p;
        p.top_k = c.top_k;
        p.top_p = c.top_p;
        p.min_p = c.min_p;
        p.temperature = c.temperature;

        // Reference: sort everything, then cut the simple way.
        std::vector<int32_t> order(static_cast<size_t>(n_vocab));
        for (int32_t i = 0; i < n_vocab; ++i)
            order[static_cast<size_t>(i)] = i;
        std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
            const float la = logits[static_cast<size_t>(a)], lb = logits[static_cast<size_t>(b)];
            return la > lb || (la == lb && a < b);
        });
        if (c.top_k > 0) order.resize(static_cast<size_t>(c.top_k));
        const float max_logit = logits[static_cast<size_t>(order[0])];
        std::vector<float> w;
        double total = 0.0;
        for (int32_t id : order) {
            w.push_back(std::exp((logits[static_cast<size_t>(id)] - max_logit) / c.temperature));
            total += w.back();
        }
        size_t keep = order.size();
        if (c.top_p < 1.0f) {
            double cumulative = 0.0;
            for (size_t i = 0; i < order.size(); ++i) {
                cumulative += w[i];
                if (cumulative >= c.top_p * total) {
                    keep = i + 1;
                    break;
                }
            }
        }
        size_t above = 0;
        while (above < keep && w[above] >= c.min_p)
            ++above;
        keep = std::min(keep, std::max<size_t>(above, 1));
        std::vector<int32_t> expected(order.begin(), order.begin() + static_cast<ptrdiff_t>(keep));

        auto s = make(n_vocab, p);
        sample(*s, logits);
        std::vector<int32_t> got;
        for (const Sampler::Candidate &cand : s->last_candidates())
            got.push_back(cand.id);
        CHECK(got.size() == expected.size());
        CHECK(got == expected); // same order too: most probable first, ties by id
    }
}

TEST_CASE("sampler: buffers are allocated once and never move") {
    SamplerParams p; // everything on, penalties too, with a window that wraps many times
    p.penalties.repeat = 1.3f;
    p.penalties.frequency = 0.1f;
    p.penalties.presence = 0.2f;
    p.penalty_last_n = 16;
    const int32_t n_vocab = 4096;
    auto s = make(n_vocab, p);
    REQUIRE(s->set_logit_bias(5, -INFINITY).is_ok());
    const std::vector<const void *> before = s->buffer_addresses();
    infer::Rng rng(3);
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    for (int step = 0; step < 1000; ++step) {
        for (float &x : logits)
            x = 2.0f * rng.normal();
        const int32_t token = sample(*s, logits);
        REQUIRE(token != 5);
        REQUIRE(s->accept(token).is_ok());
    }
    CHECK(s->buffer_addresses() == before);
    s->reset();
    CHECK(s->buffer_addresses() == before);
}

TEST_CASE("sampler: parameters are validated") {
    const auto code = [](int32_t n_vocab, const SamplerParams &p) {
        std::unique_ptr<Sampler> s;
        return Sampler::create(n_vocab, p, &s).code();
    };
    SamplerParams p;
    CHECK(code(0, p) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(code(10, p) == INFER_OK);
    const auto with = [](auto set) {
        SamplerParams q;
        set(q);
        return q;
    };
    CHECK(code(10, with([](SamplerParams &q) { q.temperature = NAN; })) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(code(10, with([](SamplerParams &q) { q.temperature = -0.1f; })) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(code(10, with([](SamplerParams &q) { q.temperature = INFINITY; })) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(code(10, with([](SamplerParams &q) { q.top_k = -1; })) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(code(10, with([](SamplerParams &q) { q.top_p = 0.0f; })) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(code(10, with([](SamplerParams &q) { q.top_p = 1.01f; })) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(code(10, with([](SamplerParams &q) { q.top_p = NAN; })) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(code(10, with([](SamplerParams &q) { q.min_p = -0.1f; })) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(code(10, with([](SamplerParams &q) { q.min_keep = -1; })) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(code(10, with([](SamplerParams &q) { q.penalties.repeat = 0.0f; })) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(code(10, with([](SamplerParams &q) { q.penalties.frequency = NAN; })) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(code(10, with([](SamplerParams &q) { q.penalty_last_n = -1; })) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(code(10, with([](SamplerParams &q) { q.penalty_last_n = (1 << 20) + 1; })) ==
          INFER_ERR_INVALID_ARGUMENT);
}
