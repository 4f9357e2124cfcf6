// Errors as values inside the library: a Status carries a public infer_status code and a message
// that names the key, tensor or byte offset involved. Nothing in lib/ throws across a module
// boundary; the C API turns a Status into a return code plus the thread's last-error text.
#pragma once

#include "infer.h"

#include <string>
#include <string_view>
#include <utility>

namespace infer {

class [[nodiscard]] Status {
public:
    Status() = default;
    Status(infer_status code, std::string message) : code_(code), message_(std::move(message)) {}

    static Status ok() { return {}; }

    bool is_ok() const { return code_ == INFER_OK; }
    infer_status code() const { return code_; }
    const std::string &message() const { return message_; }

private:
    infer_status code_ = INFER_OK;
    std::string message_;
};

// printf-style constructor; the format is checked by the compiler.
[[nodiscard]] Status make_error(infer_status code, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

// Caller-supplied text (a key, a name, a role) as it may appear inside an error message: at most
// max_bytes of it, cut on a UTF-8 boundary, with control characters and quotes escaped, and
// "... (N bytes)" when cut, so that a hostile string can neither flood a message nor break it.
std::string excerpt(std::string_view text, size_t max_bytes = 64);

// Every message the C API stores is cut to this many bytes (plus "...") as a last resort.
inline constexpr size_t kMaxMessageBytes = 1024;
// `message` cut to max_bytes on a UTF-8 boundary, "..." appended when cut.
std::string bounded_message(std::string_view message, size_t max_bytes = kMaxMessageBytes);

} // namespace infer

// Returns early from a function returning Status when an expression yields an error.
#define INFER_TRY(expr)                                                                            \
    do {                                                                                           \
        ::infer::Status infer_try_status_ = (expr);                                                \
        if (!infer_try_status_.is_ok()) return infer_try_status_;                                  \
    } while (0)
