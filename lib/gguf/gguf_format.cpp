#include "gguf/gguf_format.h"

#include <cinttypes>
#include <cstdio>

namespace infer::gguf {
namespace {

void append_quoted(std::string_view text, std::string *out) {
    out->push_back('"');
    for (unsigned char c : text) {
        switch (c) {
        case '"': out->append("\\\""); break;
        case '\\': out->append("\\\\"); break;
        case '\n': out->append("\\n"); break;
        case '\r': out->append("\\r"); break;
        case '\t': out->append("\\t"); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char esc[8];
                std::snprintf(esc, sizeof esc, "\\x%02x", c);
                out->append(esc);
            } else {
                out->push_back(static_cast<char>(c)); // UTF-8 passes through
            }
        }
    }
    out->push_back('"');
}

bool is_float_type(ValueType t) { return t == ValueType::F32 || t == ValueType::F64; }

void append_number(bool is_float, double f, int64_t i, std::string *out) {
    char buf[64];
    if (is_float)
        std::snprintf(buf, sizeof buf, "%.9g", f);
    else
        std::snprintf(buf, sizeof buf, "%" PRId64, i);
    out->append(buf);
}

// A u64 above INT64_MAX does not convert to int64; print it through double's exact integer.
void append_scalar_element(const Value &array, uint64_t index, std::string *out) {
    const ValueType t = array.elem_type();
    if (t == ValueType::STRING) {
        std::string_view s;
        array.array_string(index, &s);
        append_quoted(s, out);
        return;
    }
    int64_t i = 0;
    double f = 0;
    if (is_float_type(t) || !array.array_int(index, &i)) {
        array.array_float(index, &f);
        append_number(true, f, 0, out);
        return;
    }
    if (t == ValueType::BOOL)
        out->append(i ? "true" : "false");
    else
        append_number(false, 0, i, out);
}

void append_value(const Value &value, uint64_t max_elems, std::string *out) {
    switch (value.type()) {
    case ValueType::STRING: {
        std::string_view s;
        value.get_string(&s);
        append_quoted(s, out);
        return;
    }
    case ValueType::ARRAY: {
        out->push_back('[');
        const uint64_t n = value.array_size();
        const uint64_t shown = n < max_elems ? n : max_elems;
        for (uint64_t k = 0; k < shown; ++k) {
            if (k) out->append(", ");
            if (value.elem_type() == ValueType::ARRAY)
                append_value(*value.array_nested(k), max_elems, out);
            else
                append_scalar_element(value, k, out);
        }
        if (shown < n) {
            char tail[64];
            std::snprintf(tail, sizeof tail, "%s... (%" PRIu64 " total)", shown ? ", " : "", n);
            out->append(tail);
        }
        out->push_back(']');
        return;
    }
    case ValueType::BOOL: {
        int64_t b = 0;
        value.get_int(&b);
        out->append(b ? "true" : "false");
        return;
    }
    default: {
        int64_t i = 0;
        double f = 0;
        if (!is_float_type(value.type()) && value.get_int(&i)) {
            append_number(false, 0, i, out);
        } else {
            value.get_float(&f);
            append_number(true, f, 0, out);
        }
        return;
    }
    }
}

} // namespace

const char *value_type_name(ValueType type) {
    static const char *const kNames[] = {"u8",  "i8",     "u16",   "i16", "u32",
                                         "i32", "f32",    "bool",  "str", "arr",
                                         "u64", "i64",    "f64"};
    const auto index = static_cast<uint32_t>(type);
    return index < sizeof kNames / sizeof kNames[0] ? kNames[index] : "?";
}

std::string format_value(const Value &value, uint64_t max_array_elems) {
    std::string out;
    append_value(value, max_array_elems, &out);
    return out;
}

} // namespace infer::gguf
