// Token -> bytes (llama.cpp's llama_token_to_piece with lstrip 0).
#include "text/tokenize.h"
#include "text/unicode_bytes.h"
#include "text/utf8.h"

#include <cstdio>
#include <cstdlib>

namespace infer::text {
namespace {

std::string unescape_spaces(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (text.compare(i, 3, "\xe2\x96\x81") == 0) {
            out += ' ';
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

// Byte-level code points back to bytes; one that stands for no byte is spelled out as llama.cpp
// does, so that the loss is visible.
std::string decode_byte_level(std::string_view text) {
    std::string out;
    for (uint32_t cpt : decode_utf8_lenient(text)) {
        const int byte = unicode_to_byte(cpt);
        if (byte >= 0) {
            out += static_cast<char>(byte);
            continue;
        }
        std::string utf8;
        append_utf8(cpt, &utf8);
        out += "[UNK_BYTE_0x";
        for (char c : utf8) {
            char hex[3];
            std::snprintf(hex, sizeof hex, "%02x", static_cast<uint8_t>(c));
            out += hex;
        }
        out.append(text);
        out += ']';
    }
    return out;
}

} // namespace

std::string token_to_piece(const Vocab &vocab, int32_t id, bool special) {
    const TokenData &t = vocab.token(id);
    if (!special && (t.attr & (kAttrUnknown | kAttrControl))) return {};
    if (t.attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return t.text;
    if (vocab.type() == VocabType::Spm) {
        if (t.attr & kAttrNormal) return unescape_spaces(t.text);
        if ((t.attr & kAttrByte) && t.text.size() >= 4) // "<0xXX>"
            return std::string(1, static_cast<char>(std::strtol(t.text.c_str() + 3, nullptr, 16)));
        return {}; // undefined and unused tokens print as nothing
    }
    if (t.attr & kAttrNormal) return decode_byte_level(t.text);
    return {};
}

std::string detokenize(const Vocab &vocab, const std::vector<int32_t> &ids, bool special) {
    std::string out;
    for (int32_t id : ids) out += token_to_piece(vocab, id, special);
    return out;
}

} // namespace infer::text
