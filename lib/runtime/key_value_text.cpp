#include "runtime/key_value_text.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace infer {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

bool key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

} // namespace

Status parse_key_values(std::string_view text, const char *what, std::vector<KeyValue> *out) {
    out->clear();
    if (text.find('\0') != std::string_view::npos)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "%s: contains a NUL byte", what);
    int32_t line_no = 0;
    while (!text.empty()) {
        const size_t end = text.find('\n');
        const std::string_view raw = text.substr(0, end);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        if (++line_no > kMaxKeyValueLines)
            return make_error(INFER_ERR_INVALID_ARGUMENT, "%s: more than %d lines", what,
                              kMaxKeyValueLines);
        if (raw.size() > kMaxKeyValueLineBytes)
            return make_error(INFER_ERR_INVALID_ARGUMENT, "%s:%d: line longer than %zu bytes",
                              what, line_no, kMaxKeyValueLineBytes);
        const std::string_view line = trim(raw);
        if (line.empty() || line.front() == '#') continue;
        const size_t eq = line.find('=');
        if (eq == std::string_view::npos)
            return make_error(INFER_ERR_INVALID_ARGUMENT, "%s:%d: expected key = value, got '%s'",
                              what, line_no, excerpt(line).c_str());
        const std::string_view key = trim(line.substr(0, eq));
        if (key.empty())
            return make_error(INFER_ERR_INVALID_ARGUMENT, "%s:%d: empty key", what, line_no);
        for (char c : key)
            if (!key_char(c))
                return make_error(INFER_ERR_INVALID_ARGUMENT, "%s:%d: bad key '%s'", what, line_no,
                                  excerpt(key).c_str());
        for (const KeyValue &seen : *out)
            if (seen.key == key)
                return make_error(INFER_ERR_INVALID_ARGUMENT,
                                  "%s:%d: key '%s' repeated (first on line %d)", what, line_no,
                                  seen.key.c_str(), seen.line);
        out->push_back({std::string(key), std::string(trim(line.substr(eq + 1))), line_no});
    }
    return Status::ok();
}

Status parse_number(const KeyValue &kv, const char *what, double minimum, double *out) {
    const char *begin = kv.value.c_str();
    char *end = nullptr;
    errno = 0;
    const double v = std::strtod(begin, &end);
    if (kv.value.empty() || end != begin + kv.value.size() || errno == ERANGE || !std::isfinite(v) ||
        v < minimum)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "%s:%d: %s must be a finite number >= %g, got '%s'", what, kv.line,
                          kv.key.c_str(), minimum, excerpt(kv.value).c_str());
    *out = v;
    return Status::ok();
}

Status read_small_file(const std::string &path, size_t max_bytes, std::string *out) {
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) return make_error(INFER_ERR_IO, "cannot open '%s'", path.c_str());
    out->assign(max_bytes + 1, '\0');
    const size_t n = std::fread(out->data(), 1, out->size(), f);
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) return make_error(INFER_ERR_IO, "cannot read '%s'", path.c_str());
    if (n > max_bytes)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "'%s' is larger than %zu bytes", path.c_str(),
                          max_bytes);
    out->resize(n);
    return Status::ok();
}

} // namespace infer
