// Pre-tokenizers of byte-level BPE: the text is split into words by a fixed list of regexes chosen
// by `tokenizer.ggml.pre`, and BPE merges never cross a word boundary. The lists are llama.cpp's
// (llama-vocab.cpp); each regex splits every piece left by the previous one into its matches and
// the gaps between them, and a lookahead sees only the piece it runs on.
#pragma once

#include "core/status.h"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace infer::text {

class PreTokenizer {
public:
    // What a named pre-tokenizer implies for the vocabulary besides its regexes.
    struct Traits {
        bool ignore_merges = false; // a word that is a whole token skips merging (llama3)
        bool add_bos = false;       // default for tokenizer.ggml.add_bos_token
    };

    // INFER_ERR_MODEL_BAD_VOCAB naming `name` when it is not one libinfer implements.
    static Status create(std::string_view name, std::unique_ptr<PreTokenizer> *out);
    ~PreTokenizer();
    PreTokenizer(const PreTokenizer &) = delete;
    PreTokenizer &operator=(const PreTokenizer &) = delete;

    const Traits &traits() const { return traits_; }
    // Calls word(begin, end) for each word of `text`, which must be valid UTF-8, in order, as
    // byte ranges of it. Each piece goes through the remaining regexes as soon as it is found, so
    // memory does not grow with the number of words. Thread-safe: the compiled patterns are
    // shared read-only, match state is per call.
    void for_each_word(std::string_view text,
                       const std::function<void(size_t begin, size_t end)> &word) const;

    // The names accepted by create(), for messages.
    static std::string supported_names();

private:
    PreTokenizer() = default;
    Traits traits_;
    std::vector<void *> patterns_; // pcre2_code_8*, kept opaque so PCRE2 stays out of headers
};

// Rewrites \s and \S to llama.cpp's whitespace set (Unicode White_Space, which includes U+0085;
// PCRE2's \s in UCP mode does not). False when the pattern uses \S inside a class.
bool rewrite_whitespace_classes(std::string_view regex, std::string *out);

} // namespace infer::text
