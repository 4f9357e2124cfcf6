// SentencePiece-style BPE (llama.cpp's llm_tokenizer_spm): start from UTF-8 characters and keep
// merging the adjacent pair whose concatenation is the highest-scoring token (ties: leftmost).
// What is left that is not a token falls back to byte tokens <0xXX>. llama.cpp runs the whole
// text as one piece, so this must stay O(n log n) in time and a few words per character in memory.
#include "text/tokenize.h"
#include "text/merge_symbols.h"
#include "text/utf8.h"

#include <cstring>

namespace infer::text {
namespace {

class SpmMerger {
public:
    SpmMerger(const Vocab &vocab, std::string_view text)
        : vocab_(vocab), text_(text) {}

    void run(std::vector<int32_t> *out) {
        split_into_characters(text_, &symbols_);
        queue_.reset(symbols_.size()); // highest score first, then leftmost (llm_bigram_spm)
        for (size_t i = 0; i + 1 < symbols_.size(); ++i) {
            uint32_t priority = 0;
            if (pair_priority(static_cast<int32_t>(i), &priority))
                queue_.add_unordered(static_cast<int32_t>(i), priority);
        }
        queue_.heapify();
        merge_queued_pairs(symbols_, queue_, [this](int32_t left) { rekey(left); });
        // Every merged symbol is a token, so what is not one is a single character never merged:
        // its bytes. (llama.cpp also looks such text up in its rev_merge map, whose keys are all
        // tokens, so that lookup never succeeds there.)
        for (const Symbol &s : symbols_) {
            if (s.n == 0) continue;
            const std::string_view text = text_.substr(s.begin, s.n);
            const int32_t id = vocab_.find(text);
            if (id >= 0) {
                out->push_back(id);
                continue;
            }
            for (char c : text) out->push_back(vocab_.byte_token(static_cast<uint8_t>(c)));
        }
    }

private:
    // A score as a queue priority: smaller for higher scores, in the same order as the floats
    // compare (the sign-magnitude bits flipped to an unsigned order, then reversed; -0 is 0).
    static uint32_t priority_of(float score) {
        if (score == 0.0f) score = 0.0f;
        uint32_t bits = 0;
        std::memcpy(&bits, &score, sizeof bits);
        const uint32_t ascending = (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
        return ~ascending;
    }

    // Whether (left, its next) spell a token together; if so, the priority of its score.
    bool pair_priority(int32_t left, uint32_t *priority) const {
        const Symbol &l = symbols_[left];
        if (l.next < 0) return false;
        const int32_t id = vocab_.find(text_.substr(l.begin, l.n + symbols_[l.next].n));
        if (id < 0) return false;
        *priority = priority_of(vocab_.token(id).score);
        return true;
    }

    void rekey(int32_t left) {
        uint32_t priority = 0;
        if (pair_priority(left, &priority)) queue_.update(left, priority);
        else queue_.remove(left);
    }

    const Vocab &vocab_;
    std::string_view text_;
    std::vector<Symbol> symbols_;
    PairQueue queue_;
};

} // namespace

void tokenize_spm(const Vocab &vocab, std::string_view text, std::vector<int32_t> *out) {
    SpmMerger(vocab, text).run(out);
}

} // namespace infer::text
