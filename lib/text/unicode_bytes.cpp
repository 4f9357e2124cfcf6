#include "text/unicode_bytes.h"

#include "text/utf8.h"

#include <array>

namespace infer::text {
namespace {

struct Tables {
    std::array<uint32_t, 256> cpt{};
    std::array<std::string, 256> utf8;
    Tables() {
        auto printable = [](int b) {
            return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        };
        uint32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            cpt[b] = printable(b) ? static_cast<uint32_t>(b) : next++;
            append_utf8(cpt[b], &utf8[b]);
        }
    }
};

const Tables &tables() {
    static const Tables t; // thread-safe one-time initialization
    return t;
}

} // namespace

const std::string &byte_to_unicode_utf8(uint8_t byte) { return tables().utf8[byte]; }
uint32_t byte_to_unicode(uint8_t byte) { return tables().cpt[byte]; }

int unicode_to_byte(uint32_t cpt) {
    // Printable bytes map to themselves; the rest were numbered from U+0100 in byte order.
    if ((cpt >= 0x21 && cpt <= 0x7E) || (cpt >= 0xA1 && cpt <= 0xAC) || (cpt >= 0xAE && cpt <= 0xFF))
        return static_cast<int>(cpt);
    if (cpt < 256 || cpt >= 256 + 68) return -1;
    const Tables &t = tables();
    for (int b = 0; b < 256; ++b)
        if (t.cpt[b] == cpt) return b;
    return -1;
}

std::string bytes_to_unicode_text(std::string_view text) {
    std::string out;
    append_bytes_as_unicode(text, &out);
    return out;
}

void append_bytes_as_unicode(std::string_view text, std::string *out) {
    out->reserve(out->size() + text.size() * 2);
    for (char c : text) *out += byte_to_unicode_utf8(static_cast<uint8_t>(c));
}

} // namespace infer::text
