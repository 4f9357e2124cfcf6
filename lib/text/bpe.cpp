// Byte-level BPE (llama.cpp's llm_tokenizer_bpe): the pre-tokenizer splits the text into words,
// each word's bytes are spelled with GPT-2's byte-to-unicode code points, and within a word the
// adjacent pair with the lowest merge rank merges first (ties: leftmost) until no pair has a rank.
// Words stream from the pre-tokenizer through one set of scratch buffers, so extra memory is the
// cleaned text plus O(longest word), and each word merges in O(n log n).
#include "text/tokenize.h"
#include "text/unicode_bytes.h"
#include "text/merge_symbols.h"
#include "text/utf8.h"

namespace infer::text {
namespace {

class BpeMerger {
public:
    explicit BpeMerger(const Vocab &vocab) : vocab_(vocab) {}

    void run(std::string_view word, std::vector<int32_t> *out) {
        word_ = word;
        if (vocab_.ignore_merges() && vocab_.find(word_) >= 0) {
            out->push_back(vocab_.find(word_));
            return;
        }
        split_into_characters(word_, &symbols_);
        queue_.reset(symbols_.size()); // lowest rank first, then leftmost (llm_bigram_bpe)
        for (size_t i = 0; i + 1 < symbols_.size(); ++i) {
            const int32_t rank = pair_rank(static_cast<int32_t>(i));
            if (rank >= 0) queue_.add_unordered(static_cast<int32_t>(i), static_cast<uint32_t>(rank));
        }
        queue_.heapify();
        merge_queued_pairs(symbols_, queue_, [this](int32_t left) { rekey(left); });
        for (const Symbol &s : symbols_) {
            if (s.n == 0) continue;
            const std::string_view text = word_.substr(s.begin, s.n);
            const int32_t id = vocab_.find(text);
            if (id >= 0) {
                out->push_back(id);
                continue;
            }
            // A piece no token spells: each byte that is a token on its own, the rest dropped
            // (llama.cpp does the same; byte-level vocabularies have all 256).
            for (char c : text) {
                const int32_t b = vocab_.find(std::string_view(&c, 1));
                if (b >= 0) out->push_back(b);
            }
        }
    }

private:
    // The merge rank of (left, its next); -1 when there is no next or no such merge.
    int32_t pair_rank(int32_t left) {
        const Symbol &l = symbols_[left];
        if (l.next < 0) return -1;
        const Symbol &r = symbols_[l.next];
        return vocab_.merge_rank(word_.substr(l.begin, l.n), word_.substr(r.begin, r.n), &key_);
    }

    void rekey(int32_t left) {
        const int32_t rank = pair_rank(left);
        if (rank >= 0) queue_.update(left, static_cast<uint32_t>(rank));
        else queue_.remove(left);
    }

    const Vocab &vocab_;
    std::string_view word_;
    std::vector<Symbol> symbols_;
    PairQueue queue_;
    std::string key_; // merge_rank's scratch
};

} // namespace

void tokenize_bpe(const Vocab &vocab, std::string_view text, std::vector<int32_t> *out) {
    // Regexes need valid UTF-8: re-encode the code points llama.cpp would read (bad bytes as U+FFFD).
    std::string clean;
    append_utf8_lenient(text, &clean);
    BpeMerger merger(vocab);
    std::string word;
    vocab.pre_tokenizer()->for_each_word(clean, [&](size_t begin, size_t end) {
        word.clear();
        append_bytes_as_unicode(std::string_view(clean).substr(begin, end - begin), &word);
        merger.run(word, out);
    });
}

} // namespace infer::text
