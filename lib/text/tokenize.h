// Text <-> token ids, as llama.cpp's llama_tokenize and llama_token_to_piece compute them.
#pragma once

#include "text/vocab.h"

#include <string>
#include <string_view>
#include <vector>

namespace infer::text {

// A piece of the input after special tokens were cut out: raw text [begin, end) or one token.
struct Fragment {
    int32_t token = -1; // -1: raw text
    size_t begin = 0;
    size_t end = 0;
};

// Cuts special-token text out of `text`, longest token first, leftmost occurrences. Control and
// unknown tokens are recognized only with parse_special; user-defined ones always (as in
// llama.cpp, which follows Hugging Face tokenizers there).
std::vector<Fragment> partition_special(const Vocab &vocab, std::string_view text,
                                        bool parse_special);

// The tokenizers proper, appending the ids of one raw-text fragment.
void tokenize_spm(const Vocab &vocab, std::string_view text, std::vector<int32_t> *out);
void tokenize_bpe(const Vocab &vocab, std::string_view text, std::vector<int32_t> *out);

// The whole pipeline. add_special: BOS/EOS as the vocabulary's add_bos/add_eos say.
std::vector<int32_t> tokenize(const Vocab &vocab, std::string_view text, bool add_special,
                              bool parse_special);

// The bytes of one token: "▁" as space and <0xXX> as the byte (SPM), byte-level code points as
// bytes (BPE); control and unknown tokens give their text, or "" when !special. The id must be in
// range.
std::string token_to_piece(const Vocab &vocab, int32_t id, bool special);
// Concatenated pieces.
std::string detokenize(const Vocab &vocab, const std::vector<int32_t> &ids, bool special);

} // namespace infer::text
