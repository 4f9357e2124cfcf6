// Errors as values inside the library: a Status carries a public infer_status code and a message
// that names the key, tensor or byte offset involved. Nothing in lib/ throws across a module
// boundary; the C API turns a Status into a return code plus the thread's last-error text.
#pragma once

#include "infer.h"

#include <string>
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

} // namespace infer

// Returns early from a function returning Status when an expression yields an error.
#define INFER_TRY(expr)                                                                            \
    do {                                                                                           \
        ::infer::Status infer_try_status_ = (expr);                                                \
        if (!infer_try_status_.is_ok()) return infer_try_status_;                                  \
    } while (0)
