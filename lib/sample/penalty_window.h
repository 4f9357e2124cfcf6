// Repetition penalties: the window of the last N accepted tokens, kept as a ring buffer with a
// count per vocabulary entry, and the llama.cpp formula that turns a count into a logit change.
// Both buffers are sized once at creation; accepting a token allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace infer {

struct PenaltyParams {
    float repeat = 1.0f;    // divides positive logits, multiplies negative ones; 1 = off
    float frequency = 0.0f; // subtracted once per occurrence in the window
    float presence = 0.0f;  // subtracted once if the token occurs in the window at all

    bool active() const { return repeat != 1.0f || frequency != 0.0f || presence != 0.0f; }
};

// llama.cpp's penalty for a token seen `count` times in the window (count 0: unchanged).
// A logit of exactly 0 is multiplied, as llama.cpp does (it stays 0).
inline float penalize(float logit, int32_t count, const PenaltyParams &p) {
    if (count <= 0) return logit;
    logit = logit <= 0.0f ? logit * p.repeat : logit / p.repeat;
    return logit - static_cast<float>(count) * p.frequency - p.presence;
}

class PenaltyWindow {
public:
    // window: how many of the most recent tokens count (0: none do); tokens in [0, n_vocab).
    PenaltyWindow(int32_t n_vocab, int32_t window);

    // Appends a token (already range-checked), forgetting the oldest once the window is full.
    void push(int32_t token);
    void clear();

    // Occurrences of a token among the last `window` accepted tokens.
    int32_t count(int32_t token) const { return counts_[static_cast<size_t>(token)]; }
    int32_t size() const { return size_; }

    // For the no-reallocation test: the buffers' addresses never change after construction.
    const void *ring_data() const { return ring_.data(); }
    const void *counts_data() const { return counts_.data(); }

private:
    std::vector<int32_t> ring_;   // (window) the last tokens; oldest at head_ once full
    std::vector<int32_t> counts_; // (n_vocab) occurrences of each token in ring_
    int32_t head_ = 0;            // where the next token goes
    int32_t size_ = 0;            // tokens in ring_, at most window
};

} // namespace infer
