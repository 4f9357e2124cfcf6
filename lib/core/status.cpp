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

} // namespace infer
