// Strict UTF-8 validation for GGUF keys and tensor names: no overlong forms, no surrogates,
// nothing above U+10FFFF. Names end up in error messages, logs and lookups, so they must be text.
#pragma once

#include <cstdint>
#include <string_view>

namespace infer::gguf {

inline bool is_valid_utf8(std::string_view text) {
    const auto *p = reinterpret_cast<const uint8_t *>(text.data());
    const size_t n = text.size();
    size_t i = 0;
    while (i < n) {
        const uint8_t lead = p[i];
        if (lead < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        uint32_t min_code; // smallest code point this length may encode (rejects overlong forms)
        uint32_t code;
        if ((lead & 0xE0) == 0xC0) {
            len = 2, min_code = 0x80, code = lead & 0x1F;
        } else if ((lead & 0xF0) == 0xE0) {
            len = 3, min_code = 0x800, code = lead & 0x0F;
        } else if ((lead & 0xF8) == 0xF0) {
            len = 4, min_code = 0x10000, code = lead & 0x07;
        } else {
            return false; // continuation byte or 0xF8..0xFF as a lead
        }
        if (n - i < len) return false;
        for (size_t k = 1; k < len; ++k) {
            const uint8_t cont = p[i + k];
            if ((cont & 0xC0) != 0x80) return false;
            code = (code << 6) | (cont & 0x3F);
        }
        if (code < min_code || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

} // namespace infer::gguf
