// SentencePiece-style BPE (llama.cpp's llm_tokenizer_spm): start from UTF-8 characters and keep
// merging the adjacent pair whose concatenation is the highest-scoring token (ties: leftmost).
// What never formed a token is re-split along the merges that built it, and what is left falls
// back to byte tokens <0xXX>.
#include "text/tokenize.h"
#include "text/merge_symbols.h"
#include "text/utf8.h"

#include <map>
#include <queue>

namespace infer::text {
namespace {

struct Bigram {
    int left;
    int right;
    float score;
    size_t size;
};

struct BigramOrder {
    bool operator()(const Bigram &l, const Bigram &r) const {
        return l.score < r.score || (l.score == r.score && l.left > r.left);
    }
};

class SpmSession {
public:
    SpmSession(const Vocab &vocab, std::string_view text) : vocab_(vocab), text_(text) {}

    void run(std::vector<int32_t> *out) {
        split_into_characters(text_, &symbols_);
        for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) try_add_bigram(i - 1, i);
        while (!queue_.empty()) {
            const Bigram bigram = queue_.top();
            queue_.pop();
            Symbol &left = symbols_[bigram.left];
            Symbol &right = symbols_[bigram.right];
            // Stale: one side has merged with something else since this pair was queued.
            if (left.n == 0 || right.n == 0 || left.n + right.n != bigram.size) continue;
            merge_with_next(symbols_, bigram.left);
            try_add_bigram(left.prev, bigram.left);
            try_add_bigram(bigram.left, left.next);
        }
        if (symbols_.empty()) return;
        for (int i = 0; i != -1; i = symbols_[i].next) resegment(symbols_[i], out);
    }

private:
    std::string_view text_of(const Symbol &s) const { return text_.substr(s.begin, s.n); }

    void try_add_bigram(int left, int right) {
        if (left == -1 || right == -1) return;
        const std::string_view joined =
            text_.substr(symbols_[left].begin, symbols_[left].n + symbols_[right].n);
        const int32_t id = vocab_.find(joined);
        if (id < 0) return;
        queue_.push({left, right, vocab_.token(id).score, joined.size()});
        rev_merge_[std::string(joined)] = {left, right};
    }

    void resegment(const Symbol &symbol, std::vector<int32_t> *out) {
        const std::string_view text = text_of(symbol);
        const int32_t id = vocab_.find(text);
        if (id >= 0) {
            out->push_back(id);
            return;
        }
        const auto it = rev_merge_.find(std::string(text));
        if (it == rev_merge_.end()) {
            for (char c : text) out->push_back(vocab_.byte_token(static_cast<uint8_t>(c)));
            return;
        }
        resegment(symbols_[it->second.first], out);
        resegment(symbols_[it->second.second], out);
    }

    const Vocab &vocab_;
    std::string_view text_;
    std::vector<Symbol> symbols_;
    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue_;
    std::map<std::string, std::pair<int, int>> rev_merge_;
};

} // namespace

void tokenize_spm(const Vocab &vocab, std::string_view text, std::vector<int32_t> *out) {
    SpmSession(vocab, text).run(out);
}

} // namespace infer::text
