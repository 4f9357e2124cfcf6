// GPT-2's byte-to-unicode map: byte-level BPE vocabularies spell every byte as a printable code
// point (printable Latin-1 bytes as themselves, the other 68 bytes as U+0100 onwards), so that
// merges and tokens are text. Tokenizing maps bytes to these code points; detokenizing maps back.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace infer::text {

// The UTF-8 spelling of the code point that stands for `byte`.
const std::string &byte_to_unicode_utf8(uint8_t byte);
// The code point that stands for `byte`.
uint32_t byte_to_unicode(uint8_t byte);
// The byte a code point stands for, or -1 when it stands for none.
int unicode_to_byte(uint32_t cpt);

// Each byte of `text` replaced by its code point's UTF-8 spelling.
std::string bytes_to_unicode_text(std::string_view text);
// The same, appended to *out (a buffer reused from word to word).
void append_bytes_as_unicode(std::string_view text, std::string *out);

} // namespace infer::text
