// UTF-8 helpers for the tokenizers. They follow llama.cpp's lenient reading of text (unicode.cpp),
// not strict validation: tokenizers must split malformed input exactly as llama.cpp does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace infer::text {

// Bytes in the sequence a byte starts, from its top four bits; a stray continuation byte counts
// as 1 (llama.cpp's unicode_len_utf8). Tokenizers step through text by this.
inline size_t utf8_seq_len(uint8_t lead) {
    static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLen[lead >> 4];
}

void append_utf8(uint32_t cpt, std::string *out);

// Code points of text; a byte that does not start a complete sequence becomes U+FFFD and reading
// resumes at the next byte. Overlong forms are accepted as llama.cpp accepts them; surrogates and
// values above U+10FFFF (which llama.cpp would carry on) become U+FFFD so the result re-encodes as
// valid UTF-8.
std::vector<uint32_t> decode_utf8_lenient(std::string_view text);
// Those code points re-encoded, appended to *out: valid UTF-8 without the 4 bytes per character
// of the vector.
void append_utf8_lenient(std::string_view text, std::string *out);

// Bytes at the end of `text` that begin a multi-byte sequence but do not complete it: a stream of
// token pieces holds them back until the next piece completes the character. 0 when the text
// ends on a character boundary or on bytes that can never become valid (those pass through).
size_t incomplete_utf8_tail(std::string_view text);

// Accumulates token pieces and releases only whole UTF-8 characters.
class Utf8Stream {
public:
    // Appends `piece` and returns the text that is now complete (possibly empty).
    std::string push(std::string_view piece);
    // Returns whatever is held back (an incomplete sequence at the end of the stream).
    std::string flush();
    size_t pending() const { return held_.size(); }

private:
    std::string held_;
};

} // namespace infer::text
