#include "text/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <initializer_list>
#include <new>

namespace infer::text {
namespace {

// GPT-2's split: contractions, letters, digits, other symbols, each with an optional leading
// space; whitespace runs leave their last space to the next word.
constexpr const char *kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
// Llama 3: case-insensitive contractions, numbers in groups of up to three, newlines apart.
constexpr const char *kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2: as Llama 3 but single digits.
constexpr const char *kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// GPT-4o (o200k, gpt-oss): words of an optional non-letter, then uppercase-then-lowercase letter
// runs (by [^a-z] / [^A-Z], as llama.cpp rewrites the tokenizer.json regex), with contractions;
// numbers in groups of up to three; symbol runs keep trailing newlines and slashes.
constexpr const char *kGpt4o =
    R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// DeepSeek-V3, after numbers (groups of up to three) and Han/kana runs are split off: one ASCII
// punctuation mark with the ASCII letters after it (".com", "_init"), letters with their combining
// marks after an optional character that is no letter, punctuation or symbol, punctuation and
// symbol runs keeping trailing newlines, then whitespace as Llama 3 splits it.
constexpr const char *kDeepseekV3Words =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// The CJK runs DeepSeek-V3 keeps apart: U+4E00..U+9FA5 (the CJK Unified Ideographs of Unicode 1.1,
// not the whole block), hiragana and katakana.
constexpr const char *kDeepseekV3Cjk = R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)";

struct Spec {
    std::initializer_list<const char *> names;
    std::initializer_list<const char *> regexes;
    PreTokenizer::Traits traits;
};

// llama.cpp's name -> regex list table (llama-vocab.cpp), for the families libinfer supports.
const Spec kSpecs[] = {
    {{"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}, {}},
    {{"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"}, {kLlama3}, {true, true}},
    {{"dbrx", "smaug-bpe"}, {kLlama3}, {}},
    {{"gpt-2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "gigachat", "exaone4"},
     {kGpt2},
     {}},
    {{"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"}, {kQwen2}, {}},
    {{"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"},
     {R"(\p{N})", kGpt2},
     {}},
    {{"gpt-4o", "llama4", "kanana2", "talkie"}, {kGpt4o}, {}},
    {{"deepseek-v3", "hunyuan-dense", "hy_v4", "joyai-llm"},
     {R"(\p{N}{1,3})", kDeepseekV3Cjk, kDeepseekV3Words},
     {}},
};

// Unicode White_Space, as llama.cpp's unicode tables have it.
constexpr const char *kWhitespaceRanges =
    R"(\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

} // namespace

bool rewrite_whitespace_classes(std::string_view regex, std::string *out) {
    out->clear();
    bool in_class = false;
    for (size_t i = 0; i < regex.size(); ++i) {
        const char c = regex[i];
        if (c == '\\' && i + 1 < regex.size()) {
            const char e = regex[i + 1];
            ++i;
            if (e == 's') {
                if (in_class) *out += kWhitespaceRanges;
                else *out += std::string("[") + kWhitespaceRanges + "]";
            } else if (e == 'S') {
                if (in_class) return false;
                *out += std::string("[^") + kWhitespaceRanges + "]";
            } else {
                *out += c;
                *out += e;
            }
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            *out += c;
            // A ']' right after '[' or '[^' is a literal member, not the end of the class.
            if (i + 1 < regex.size() && regex[i + 1] == '^') *out += regex[++i];
            if (i + 1 < regex.size() && regex[i + 1] == ']') *out += regex[++i];
            continue;
        }
        if (in_class && c == ']') in_class = false;
        *out += c;
    }
    return true;
}

std::string PreTokenizer::supported_names() {
    std::string names;
    for (const Spec &spec : kSpecs)
        for (const char *name : spec.names) names += (names.empty() ? "" : ", ") + std::string(name);
    return names;
}

Status PreTokenizer::create(std::string_view name, std::unique_ptr<PreTokenizer> *out) {
    const Spec *found = nullptr;
    for (const Spec &spec : kSpecs)
        for (const char *n : spec.names)
            if (name == n) found = &spec;
    if (!found)
        return make_error(INFER_ERR_MODEL_BAD_VOCAB,
                          "pre-tokenizer '%s' (tokenizer.ggml.pre) is not supported; supported: %s",
                          excerpt(name).c_str(), supported_names().c_str());
    auto pre = std::unique_ptr<PreTokenizer>(new PreTokenizer());
    pre->traits_ = found->traits;
    for (const char *regex : found->regexes) {
        std::string pattern;
        if (!rewrite_whitespace_classes(regex, &pattern))
            return make_error(INFER_ERR_INTERNAL, "pre-tokenizer regex '%s' uses \\S in a class", regex);
        int error = 0;
        PCRE2_SIZE offset = 0;
        pcre2_code *code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()),
                                         PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &error,
                                         &offset, nullptr);
        if (!code) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(error, message, sizeof message);
            return make_error(INFER_ERR_INTERNAL, "pre-tokenizer regex '%s' does not compile: %s",
                              regex, reinterpret_cast<const char *>(message));
        }
        // JIT is an optimization only: where it is unavailable the interpreter gives the same matches.
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
        pre->patterns_.push_back(code);
    }
    *out = std::move(pre);
    return Status::ok();
}

PreTokenizer::~PreTokenizer() {
    for (void *code : patterns_) pcre2_code_free(static_cast<pcre2_code *>(code));
}

namespace {

// Match state for each regex of one for_each_word call.
struct MatchData {
    std::vector<pcre2_match_data *> data;
    ~MatchData() {
        for (pcre2_match_data *md : data) pcre2_match_data_free(md);
    }
};

// Splits [begin, end) of text with regex k into its matches and the gaps between them, and hands
// each on to regex k + 1 (after the last regex: to word()). Depth-first, this yields the same
// words in the same order as splitting the whole text with each regex in turn.
void split_piece(const std::vector<void *> &patterns, const MatchData &mds, std::string_view text,
                 size_t k, size_t begin, size_t end,
                 const std::function<void(size_t, size_t)> &word) {
    if (k == patterns.size()) {
        word(begin, end);
        return;
    }
    auto *code = static_cast<const pcre2_code *>(patterns[k]);
    pcre2_match_data *md = mds.data[k];
    const auto *subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    // Match within the piece only, as llama.cpp does: the piece is the whole subject.
    const size_t len = end - begin;
    size_t pos = 0;  // where the next match may start
    size_t last = 0; // start of text not yet emitted
    while (pos < len) {
        const int rc = pcre2_match(code, subject + begin, len, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc < 0) break; // no further match (or a match limit): the rest is one gap
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        const size_t m0 = ov[0], m1 = ov[1]; // copied: the recursion below reuses md
        if (m1 == m0) { // an empty match splits nothing; step over one character
            pos = m0 + 1;
            while (pos < len && (text[begin + pos] & 0xC0) == 0x80) ++pos;
            continue;
        }
        if (m0 > last) split_piece(patterns, mds, text, k + 1, begin + last, begin + m0, word);
        split_piece(patterns, mds, text, k + 1, begin + m0, begin + m1, word);
        pos = last = m1;
    }
    if (last < len) split_piece(patterns, mds, text, k + 1, begin + last, end, word);
}

} // namespace

void PreTokenizer::for_each_word(std::string_view text,
                                 const std::function<void(size_t, size_t)> &word) const {
    if (text.empty()) return;
    MatchData mds;
    mds.data.reserve(patterns_.size());
    for (void *opaque : patterns_) {
        pcre2_match_data *md =
            pcre2_match_data_create_from_pattern(static_cast<const pcre2_code *>(opaque), nullptr);
        if (!md) throw std::bad_alloc();
        mds.data.push_back(md);
    }
    split_piece(patterns_, mds, text, 0, 0, text.size(), word);
}

} // namespace infer::text
