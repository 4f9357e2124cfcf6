#include "text/utf8.h"

namespace infer::text {

void append_utf8(uint32_t cpt, std::string *out) {
    if (cpt < 0x80) {
        out->push_back(static_cast<char>(cpt));
    } else if (cpt < 0x800) {
        out->push_back(static_cast<char>(0xC0 | (cpt >> 6)));
        out->push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    } else if (cpt < 0x10000) {
        out->push_back(static_cast<char>(0xE0 | (cpt >> 12)));
        out->push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    } else {
        out->push_back(static_cast<char>(0xF0 | (cpt >> 18)));
        out->push_back(static_cast<char>(0x80 | ((cpt >> 12) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    }
}

namespace {

// The code point at p[i] as decode_utf8_lenient reads it, and the bytes it took.
uint32_t next_cpt_lenient(const uint8_t *p, size_t n, size_t i, size_t *len) {
    auto cont = [&](size_t k) { return k < n && (p[k] & 0xC0) == 0x80; };
    const uint8_t b = p[i];
    uint32_t cpt = 0xFFFD;
    *len = 1;
    if (!(b & 0x80)) {
        cpt = b;
    } else if (!(b & 0x40)) {
        // continuation byte where a character should start
    } else if (!(b & 0x20)) {
        if (cont(i + 1)) cpt = ((b & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu), *len = 2;
    } else if (!(b & 0x10)) {
        if (cont(i + 1) && cont(i + 2))
            cpt = ((b & 0x0Fu) << 12) | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu), *len = 3;
    } else if (!(b & 0x08)) {
        if (cont(i + 1) && cont(i + 2) && cont(i + 3))
            cpt = ((b & 0x07u) << 18) | ((p[i + 1] & 0x3Fu) << 12) | ((p[i + 2] & 0x3Fu) << 6) |
                  (p[i + 3] & 0x3Fu),
            *len = 4;
    }
    if ((cpt >= 0xD800 && cpt <= 0xDFFF) || cpt > 0x10FFFF) cpt = 0xFFFD;
    return cpt;
}

} // namespace

std::vector<uint32_t> decode_utf8_lenient(std::string_view text) {
    std::vector<uint32_t> cpts;
    cpts.reserve(text.size());
    const auto *p = reinterpret_cast<const uint8_t *>(text.data());
    size_t len = 0;
    for (size_t i = 0; i < text.size(); i += len) cpts.push_back(next_cpt_lenient(p, text.size(), i, &len));
    return cpts;
}

void append_utf8_lenient(std::string_view text, std::string *out) {
    out->reserve(out->size() + text.size());
    const auto *p = reinterpret_cast<const uint8_t *>(text.data());
    size_t len = 0;
    for (size_t i = 0; i < text.size(); i += len) {
        append_utf8(next_cpt_lenient(p, text.size(), i, &len), out);
    }
}

size_t incomplete_utf8_tail(std::string_view text) {
    const auto *p = reinterpret_cast<const uint8_t *>(text.data());
    const size_t n = text.size();
    // A sequence is at most 4 bytes, so its lead is among the last 3 bytes if it is incomplete.
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
        const uint8_t b = p[n - back];
        if ((b & 0xC0) == 0x80) continue; // continuation: keep looking for the lead
        if (b < 0xC0 || b > 0xF7) return 0; // ASCII, or a byte that never leads
        const size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
        return need > back ? back : 0;
    }
    return 0;
}

std::string Utf8Stream::push(std::string_view piece) {
    held_.append(piece);
    const size_t keep = incomplete_utf8_tail(held_);
    std::string ready = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    return ready;
}

std::string Utf8Stream::flush() {
    std::string rest;
    rest.swap(held_);
    return rest;
}

} // namespace infer::text
