// Byte-level BPE (llama.cpp's llm_tokenizer_bpe): the pre-tokenizer splits the text into words,
// each word's bytes are spelled with GPT-2's byte-to-unicode code points, and within a word the
// adjacent pair with the lowest merge rank merges first (ties: leftmost) until no pair has a rank.
#include "text/tokenize.h"
#include "text/unicode_bytes.h"
#include "text/merge_symbols.h"
#include "text/utf8.h"

#include <queue>

namespace infer::text {
namespace {

struct Bigram {
    int left;
    int right;
    int32_t rank;
    std::string text; // what the pair spelled when queued, to detect stale entries
};

struct BigramOrder {
    bool operator()(const Bigram &l, const Bigram &r) const {
        return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
    }
};

class BpeWord {
public:
    BpeWord(const Vocab &vocab, std::string_view word) : vocab_(vocab), word_(word) {}

    void run(std::vector<int32_t> *out) {
        if (vocab_.ignore_merges() && vocab_.find(word_) >= 0) {
            symbols_.push_back({-1, -1, 0, word_.size()});
        } else {
            split_into_characters(word_, &symbols_);
        }
        for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) add_bigram(i - 1, i);
        while (!queue_.empty()) {
            const Bigram bigram = queue_.top();
            queue_.pop();
            Symbol &left = symbols_[bigram.left];
            Symbol &right = symbols_[bigram.right];
            if (left.n == 0 || right.n == 0) continue;
            if (word_.substr(left.begin, left.n + right.n) != bigram.text) continue; // stale
            merge_with_next(symbols_, bigram.left);
            add_bigram(left.prev, bigram.left);
            add_bigram(bigram.left, left.next);
        }
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
    void add_bigram(int left, int right) {
        if (left == -1 || right == -1) return;
        const std::string_view l = word_.substr(symbols_[left].begin, symbols_[left].n);
        const std::string_view r = word_.substr(symbols_[right].begin, symbols_[right].n);
        const int32_t rank = vocab_.merge_rank(l, r);
        if (rank < 0) return;
        queue_.push({left, right, rank, std::string(l) + std::string(r)});
    }

    const Vocab &vocab_;
    std::string_view word_;
    std::vector<Symbol> symbols_;
    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue_;
};

} // namespace

void tokenize_bpe(const Vocab &vocab, std::string_view text, std::vector<int32_t> *out) {
    // Regexes need valid UTF-8: re-encode the code points llama.cpp would read (bad bytes as U+FFFD).
    std::string clean;
    clean.reserve(text.size());
    for (uint32_t cpt : decode_utf8_lenient(text)) append_utf8(cpt, &clean);
    for (const auto &[begin, end] : vocab.pre_tokenizer()->split(clean)) {
        const std::string word = bytes_to_unicode_text(std::string_view(clean).substr(begin, end - begin));
        BpeWord(vocab, word).run(out);
    }
}

} // namespace infer::text
