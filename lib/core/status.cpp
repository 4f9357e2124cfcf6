#include "core/status.h"

#include <cstdarg>
#include <cstdio>

namespace infer {

Status make_error(infer_status code, const char *format, ...) {
    va_list args;
    va_start(args, format);
    va_list copy;
    va_copy(copy, args);
    const int length = std::vsnprintf(nullptr, 0, format, copy);
    va_end(copy);
    std::string message(length > 0 ? static_cast<size_t>(length) : 0, '\0');
    if (length > 0) std::vsnprintf(message.data(), message.size() + 1, format, args);
    va_end(args);
    return Status(code, std::move(message));
}

namespace {

// Where to cut `text` to keep at most max_bytes without splitting a UTF-8 sequence.
size_t utf8_cut(std::string_view text, size_t max_bytes) {
    if (text.size() <= max_bytes) return text.size();
    size_t cut = max_bytes;
    // Step back over continuation bytes (10xxxxxx) to the start of the sequence they belong to.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    return cut;
}

} // namespace

std::string excerpt(std::string_view text, size_t max_bytes) {
    const size_t cut = utf8_cut(text, max_bytes);
    std::string out;
    out.reserve(cut + 24);
    for (size_t i = 0; i < cut; ++i) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        if (c == '\\' || c == '\'' || c == '"') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7F) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (cut < text.size()) {
        char tail[48];
        std::snprintf(tail, sizeof tail, "... (%zu bytes)", text.size());
        out += tail;
    }
    return out;
}

std::string bounded_message(std::string_view message, size_t max_bytes) {
    const size_t cut = utf8_cut(message, max_bytes);
    std::string out(message.substr(0, cut));
    if (cut < message.size()) out += "...";
    return out;
}

} // namespace infer
