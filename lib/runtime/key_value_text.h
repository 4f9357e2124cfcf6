// The small "key = value" text files the offload cost model reads: a device profile a user
// writes, and the cache of this machine's measured costs. Strict, because both may be hostile
// or damaged: a problem is an error naming the line, never a silently skipped value.
#pragma once

#include "core/status.h"

#include <string>
#include <string_view>
#include <vector>

namespace infer {

struct KeyValue {
    std::string key, value;
    int32_t line = 0; // 1-based, for messages
};

// Lines "key = value" (spaces around both trimmed); blank lines and lines starting with '#' are
// skipped. Errors (INFER_ERR_INVALID_ARGUMENT, naming `what` and the line): a line without '=',
// an empty key, a key of other than [A-Za-z0-9_.-], a repeated key, a NUL byte, more than
// kMaxLines lines or a line longer than kMaxLineBytes.
Status parse_key_values(std::string_view text, const char *what, std::vector<KeyValue> *out);

// `value` as a finite number >= minimum, the whole text consumed.
Status parse_number(const KeyValue &kv, const char *what, double minimum, double *out);

// Reads a whole file of at most max_bytes (INFER_ERR_IO when it cannot be read,
// INFER_ERR_INVALID_ARGUMENT when it is larger).
Status read_small_file(const std::string &path, size_t max_bytes, std::string *out);

inline constexpr int32_t kMaxKeyValueLines = 1024;
inline constexpr size_t kMaxKeyValueLineBytes = 1024;

} // namespace infer
