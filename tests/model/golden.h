// Reads the golden files written by scripts/make_goldens.py (layout documented there) and
// measures a model's agreement with them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace infer::test {

struct Golden {
    uint32_t n_vocab = 0, top_k = 0;
    std::vector<int32_t> prompt;
    std::vector<float> last_logits;              // [n_vocab]
    std::vector<int32_t> top_ids;                // [n_prompt][top_k]
    std::vector<float> top_values;               // [n_prompt][top_k]
    std::vector<int32_t> gen;                    // greedy continuation
    std::vector<float> gen_margin;               // reference top-1/top-2 margin per step
    std::vector<float> all_logits;               // [n_prompt][n_vocab] or empty
    // How far llama.cpp's other attention paths land from the reference (see make_goldens.py).
    std::vector<float> spread;                   // [n_prompt] normalized RMS error
    uint32_t variant_disagreements = 0;          // decisive top-1 disagreements
    uint32_t variant_greedy_matched = 0;         // greedy steps followed

    float prompt_margin(size_t pos) const {
        return top_values[pos * top_k] - top_values[pos * top_k + 1];
    }
};

// Throws std::runtime_error naming the file on any problem (tests only).
Golden read_golden(const std::string &path);

// ||ours - ref|| / ||ref||
double normalized_rms_error(const float *ours, const float *ref, size_t n);

int32_t argmax(const float *v, size_t n);

} // namespace infer::test
