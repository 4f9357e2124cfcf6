// The tokenize pipeline (llama.cpp's llama_vocab::impl::tokenize): cut out special tokens, then
// run the model's tokenizer over each raw fragment, then add BOS/EOS.
#include "text/tokenize.h"

#include <algorithm>

namespace infer::text {
namespace {

constexpr std::string_view kSpmSpace = "\xe2\x96\x81"; // U+2581, SentencePiece's visible space

// Appends text with each space as U+2581, sized up front: a 10 MB input must not pay for the
// doublings of a growing string.
void append_escaped(std::string_view text, std::string *out) {
    const size_t spaces = static_cast<size_t>(std::count(text.begin(), text.end(), ' '));
    out->reserve(out->size() + text.size() + spaces * (kSpmSpace.size() - 1));
    for (char c : text) {
        if (c == ' ') *out += kSpmSpace;
        else *out += c;
    }
}

} // namespace

std::vector<int32_t> tokenize(const Vocab &vocab, std::string_view text, bool add_special,
                              bool parse_special) {
    std::vector<int32_t> out;
    // Rarely more than one token per byte: reserving that spares the copies of a growing vector
    // on large inputs, and pages of the reservation never written cost no memory.
    out.reserve(text.size() + 2);
    const std::vector<Fragment> fragments = partition_special(vocab, text, parse_special);
    if (add_special && vocab.add_bos()) out.push_back(vocab.bos());
    if (vocab.type() == VocabType::Spm) {
        // SentencePiece adds a space before the text and again after each special token.
        bool prev_special = true;
        std::string escaped;
        for (const Fragment &f : fragments) {
            if (f.token >= 0) {
                out.push_back(f.token);
                prev_special = true;
                continue;
            }
            escaped.clear();
            if (vocab.add_space_prefix() && prev_special) escaped += kSpmSpace;
            append_escaped(text.substr(f.begin, f.end - f.begin), &escaped);
            tokenize_spm(vocab, escaped, &out);
            prev_special = false;
        }
    } else {
        for (const Fragment &f : fragments) {
            if (f.token >= 0) out.push_back(f.token);
            else tokenize_bpe(vocab, text.substr(f.begin, f.end - f.begin), &out);
        }
    }
    if (add_special && vocab.add_eos()) out.push_back(vocab.eos());
    return out;
}

} // namespace infer::text
