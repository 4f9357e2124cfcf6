// The sampler chain: from one logits vector to one token id.
//
//   logit bias -> penalties -> temperature (0: greedy argmax) -> top-k -> top-p -> min-p -> draw
//
// Temperature comes before the truncations (as written above), so top-p and min-p see the
// tempered distribution; llama.cpp's default chain applies temperature last instead.
// Tokens whose logit ends up -inf (for example banned by a -INFINITY bias) are never candidates,
// whatever min_keep says.
//
// Every buffer is sized for n_vocab at creation; sample() and accept() allocate nothing.
// Sorting is partial: only the prefix that a truncation needs is ordered (nth_element + sort),
// so a 262144-entry vocabulary with small top-k or min-p costs a few linear passes.
// Determinism: the draw uses xoshiro256** (core/random.h) and every ordering is a total order
// (probability, then token id), so the same seed and inputs give the same tokens on every
// compiler; only exp() comes from the platform's libm.
#pragma once

#include "core/random.h"
#include "core/status.h"
#include "sample/penalty_window.h"

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace infer {

struct SamplerParams {
    float temperature = 0.8f; // 0 = greedy
    int32_t top_k = 40;       // 0 = off
    float top_p = 0.95f;      // 1 = off; in (0, 1]
    float min_p = 0.05f;      // 0 = off; in [0, 1], relative to the most probable token
    int32_t min_keep = 1;     // top-k, top-p and min-p keep at least this many (0 acts as 1)
    PenaltyParams penalties;
    int32_t penalty_last_n = 64; // window of accepted tokens the penalties look at; 0 = off
    uint64_t seed = 0x5EED5EED5EED5EEDull;
};

// The most penalty_last_n accepted: the window is allocated up front.
constexpr int32_t kMaxPenaltyWindow = 1 << 20;

Status validate(const SamplerParams &params, int32_t n_vocab);

class Sampler {
public:
    // One candidate token; weight = exp((logit - max logit) / temperature), in (0, 1].
    struct Candidate {
        int32_t id;
        float logit;
        float weight;
    };

    static Status create(int32_t n_vocab, const SamplerParams &params,
                         std::unique_ptr<Sampler> *out);

    int32_t n_vocab() const { return n_vocab_; }
    const SamplerParams &params() const { return params_; }

    // bias is added to the token's logit before everything else; 0 removes it, -INFINITY bans.
    Status set_logit_bias(int32_t token, float bias);

    // Draws a token from n_vocab logits (not modified). Does not record it: call accept().
    Status sample(const float *logits, int32_t *out_token);

    // Records a token for the penalties (generated or prompt tokens alike).
    Status accept(int32_t token);

    // Forgets the accepted tokens and restarts the random sequence from the seed; biases stay.
    void reset();

    // After a non-greedy sample(): the candidates that survived truncation, most probable first
    // (probability = weight / sum of weights). For tests and debugging.
    std::span<const Candidate> last_candidates() const { return {candidates_.data(), kept_}; }

    // For the no-reallocation test: every buffer's address, unchanged after creation.
    std::vector<const void *> buffer_addresses() const;

private:
    Sampler(int32_t n_vocab, const SamplerParams &params);

    // Fills candidates_ with bias and penalties applied; drops -inf logits; rejects NaN / +inf.
    Status gather(const float *logits);
    int32_t greedy() const;
    // Orders candidates_[0, m) as the m most probable, descending; the rest stays behind them.
    void sort_prefix(size_t m);
    size_t top_p_length(size_t limit, double total_weight);
    int32_t draw(double total_weight);

    int32_t n_vocab_;
    SamplerParams params_;
    Rng rng_;
    std::vector<float> bias_;           // (n_vocab) added to each logit; mostly zeros
    PenaltyWindow window_;              // the last penalty_last_n accepted tokens
    std::vector<Candidate> candidates_; // (n_vocab) working set of one sample() call
    size_t n_candidates_ = 0;           // candidates_[0, n) are live
    size_t sorted_ = 0;                 // candidates_[0, sorted_) are in final order
    size_t kept_ = 0;                   // what last_candidates() shows
};

} // namespace infer
