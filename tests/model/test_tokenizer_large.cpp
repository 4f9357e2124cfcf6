// Large inputs through the tokenizers: 1 MB of each kind of text (all spaces, one long word,
// random bytes, English, CJK, digits) tokenizes and detokenizes back to itself where the text is
// valid UTF-8; and on 4 KB of each, the ids equal those of a straightforward reference that
// merges by scanning every pair each step (O(n^2), the definition rather than the fast path).
#include "model/model_files.h"
#include "runtime/model.h"
#include "text/tokenize.h"
#include "text/unicode_bytes.h"
#include "text/utf8.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace {

using infer::text::Vocab;

const char *const kKinds[] = {"spaces", "word", "random", "english", "cjk", "digits"};

// The same generators as tests/text_load/tokenize_load.cpp, smaller.
std::string make_input(const std::string &kind, size_t size) {
    uint64_t state = 0x2545F4914F6CDD1Dull;
    auto next = [&] {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<uint32_t>(state >> 33);
    };
    auto repeat = [&](const std::string &unit) {
        std::string out;
        while (out.size() + unit.size() <= size) out += unit;
        size_t rest = size - out.size();
        while (rest > 0 && (static_cast<unsigned char>(unit[rest]) & 0xC0) == 0x80) --rest;
        return out + unit.substr(0, rest);
    };
    std::string out;
    if (kind == "spaces") out.assign(size, ' ');
    if (kind == "word") while (out.size() < size) out.push_back(static_cast<char>('a' + next() % 26));
    if (kind == "random") while (out.size() < size) out.push_back(static_cast<char>(next() & 0xFF));
    if (kind == "digits") while (out.size() < size) out.push_back(static_cast<char>('0' + next() % 10));
    if (kind == "english")
        out = repeat("The quick brown fox jumps over the lazy dog. It's 2024, and we're testing "
                     "tokenizers: don't they handle \"quotes\", numbers like 3.14159 and new\nlines?\n\n");
    if (kind == "cjk") out = repeat("我们今天在测试分词器的性能。東京は日本の首都です。한국어 문장도 있습니다. ");
    return out;
}

std::unique_ptr<infer::Model> load(const char *file) {
    std::unique_ptr<infer::Model> model;
    const infer::Status st = infer::Model::load_file(infer::test::real_model(file).c_str(), {}, &model);
    REQUIRE_MESSAGE(st.is_ok(), st.message());
    return model;
}

// Merges symbols (strings) pairwise: each step scans every adjacent pair for the best one by
// `priority` (lower first; ties to the leftmost); nullopt-like: priority returns `none` when the
// pair cannot merge.
template <class Priority>
void reference_merge(std::vector<std::string> *symbols, Priority priority, double none) {
    std::vector<double> pair(symbols->size() > 0 ? symbols->size() - 1 : 0);
    for (size_t i = 0; i < pair.size(); ++i) pair[i] = priority((*symbols)[i], (*symbols)[i + 1]);
    for (;;) {
        size_t best = pair.size();
        for (size_t i = 0; i < pair.size(); ++i)
            if (pair[i] != none && (best == pair.size() || pair[i] < pair[best])) best = i;
        if (best == pair.size()) return;
        (*symbols)[best] += (*symbols)[best + 1];
        symbols->erase(symbols->begin() + static_cast<ptrdiff_t>(best) + 1);
        pair.erase(pair.begin() + static_cast<ptrdiff_t>(best));
        if (best > 0) pair[best - 1] = priority((*symbols)[best - 1], (*symbols)[best]);
        if (best < pair.size()) pair[best] = priority((*symbols)[best], (*symbols)[best + 1]);
    }
}

std::vector<std::string> characters(const std::string &text) {
    std::vector<std::string> out;
    for (size_t i = 0; i < text.size();) {
        const size_t len = std::min(infer::text::utf8_seq_len(static_cast<uint8_t>(text[i])), text.size() - i);
        out.push_back(text.substr(i, len));
        i += len;
    }
    return out;
}

constexpr double kNone = std::numeric_limits<double>::infinity();

void reference_bpe(const Vocab &vocab, const std::string &text, std::vector<int32_t> *out) {
    std::string clean;
    infer::text::append_utf8_lenient(text, &clean);
    vocab.pre_tokenizer()->for_each_word(clean, [&](size_t begin, size_t end) {
        const std::string word = infer::text::bytes_to_unicode_text(clean.substr(begin, end - begin));
        std::vector<std::string> symbols = characters(word);
        if (vocab.ignore_merges() && vocab.find(word) >= 0) symbols = {word};
        reference_merge(&symbols, [&](const std::string &l, const std::string &r) {
            const int32_t rank = vocab.merge_rank(l, r);
            return rank < 0 ? kNone : rank;
        }, kNone);
        for (const std::string &s : symbols) {
            if (vocab.find(s) >= 0) {
                out->push_back(vocab.find(s));
                continue;
            }
            for (char c : s)
                if (vocab.find(std::string(1, c)) >= 0) out->push_back(vocab.find(std::string(1, c)));
        }
    });
}

void reference_spm(const Vocab &vocab, const std::string &text, std::vector<int32_t> *out) {
    std::vector<std::string> symbols = characters(text);
    reference_merge(&symbols, [&](const std::string &l, const std::string &r) {
        const int32_t id = vocab.find(l + r);
        return id < 0 ? kNone : -static_cast<double>(vocab.token(id).score);
    }, kNone);
    for (const std::string &s : symbols) {
        if (vocab.find(s) >= 0) out->push_back(vocab.find(s));
        else for (char c : s) out->push_back(vocab.byte_token(static_cast<uint8_t>(c)));
    }
}

// tokenize() without specials or BOS, with the reference merges.
std::vector<int32_t> reference_tokenize(const Vocab &vocab, const std::string &text) {
    std::vector<int32_t> out;
    bool prev_special = true;
    for (const infer::text::Fragment &f : infer::text::partition_special(vocab, text, false)) {
        if (f.token >= 0) {
            out.push_back(f.token);
            prev_special = true;
            continue;
        }
        const std::string raw = text.substr(f.begin, f.end - f.begin);
        if (vocab.type() == infer::text::VocabType::Spm) {
            std::string escaped = vocab.add_space_prefix() && prev_special ? "\xe2\x96\x81" : "";
            for (char c : raw) escaped += c == ' ' ? std::string("\xe2\x96\x81") : std::string(1, c);
            reference_spm(vocab, escaped, &out);
        } else {
            reference_bpe(vocab, raw, &out);
        }
        prev_special = false;
    }
    return out;
}

bool valid_utf8(const std::string &text) {
    std::string clean;
    infer::text::append_utf8_lenient(text, &clean);
    return clean == text;
}

void check_model(const char *file) {
    const std::unique_ptr<infer::Model> model = load(file);
    const Vocab &vocab = *model->vocab();
    for (const char *kind : kKinds) {
        CAPTURE(kind);
        const std::string small = make_input(kind, 4096);
        CHECK(infer::text::tokenize(vocab, small, false, false) == reference_tokenize(vocab, small));

        const std::string large = make_input(kind, size_t{1} << 20);
        const std::vector<int32_t> ids = infer::text::tokenize(vocab, large, false, false);
        CHECK(!ids.empty());
        CHECK(ids.size() <= large.size() + 1);
        if (!valid_utf8(large)) continue; // bad bytes come back as U+FFFD (BPE) or bytes (SPM)
        std::string text = infer::text::detokenize(vocab, ids, false);
        // SentencePiece's added leading space is not part of the text.
        if (vocab.add_space_prefix() && !text.empty() && text[0] == ' ' && large[0] != ' ')
            text.erase(0, 1);
        if (vocab.add_space_prefix() && large[0] == ' ') text.erase(0, 1);
        CHECK(text == large);
    }
}

} // namespace

TEST_CASE("tokenizer: 1 MB of each kind of text round-trips; 4 KB matches the reference (SmolLM2)") {
    check_model("SmolLM2-135M-Instruct.Q4_1.gguf");
}

TEST_CASE("tokenizer: 1 MB of each kind of text round-trips; 4 KB matches the reference (Gemma 3)") {
    check_model("gemma-3-270m-q4_k_m.gguf");
}
