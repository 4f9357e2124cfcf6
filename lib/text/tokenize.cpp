// The tokenize pipeline (llama.cpp's llama_vocab::impl::tokenize): cut out special tokens, then
// run the model's tokenizer over each raw fragment, then add BOS/EOS.
#include "text/tokenize.h"

namespace infer::text {
namespace {

constexpr std::string_view kSpmSpace = "\xe2\x96\x81"; // U+2581, SentencePiece's visible space

std::string escape_spaces(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 4);
    for (char c : text) {
        if (c == ' ') out += kSpmSpace;
        else out += c;
    }
    return out;
}

} // namespace

std::vector<int32_t> tokenize(const Vocab &vocab, std::string_view text, bool add_special,
                              bool parse_special) {
    std::vector<int32_t> out;
    const std::vector<Fragment> fragments = partition_special(vocab, text, parse_special);
    if (add_special && vocab.add_bos()) out.push_back(vocab.bos());
    if (vocab.type() == VocabType::Spm) {
        // SentencePiece adds a space before the text and again after each special token.
        bool prev_special = true;
        for (const Fragment &f : fragments) {
            if (f.token >= 0) {
                out.push_back(f.token);
                prev_special = true;
                continue;
            }
            std::string raw;
            if (vocab.add_space_prefix() && prev_special) raw.push_back(' ');
            raw.append(text.substr(f.begin, f.end - f.begin));
            tokenize_spm(vocab, escape_spaces(raw), &out);
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
