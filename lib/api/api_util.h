// Helpers shared by the C API implementation files: turning Status values and stray exceptions
// into return codes plus the calling thread's last-error text, and snprintf-style text output.
#pragma once

#include "core/status.h"

#include <new>
#include <string_view>

namespace infer::api {

// Records the error as this thread's last error and returns its code.
infer_status fail(const Status &status);
infer_status fail(infer_status code, const char *format, ...) __attribute__((format(printf, 2, 3)));
// Sets the last-error text without failing (a successful call that has something to explain).
void note(std::string_view message);
const char *last_error();

// Runs the body of an API function; no exception ever leaves it.
template <class Body> infer_status guarded(const char *function, Body &&body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return fail(INFER_ERR_OUT_OF_MEMORY, "%s: out of memory", function);
    } catch (...) {
        return fail(INFER_ERR_INTERNAL, "%s: unexpected exception", function);
    }
}

// snprintf rules: writes at most `capacity` bytes including the NUL, stores the full length.
infer_status copy_text(std::string_view text, char *buf, size_t capacity, size_t *out_length);

// Checks that a caller's struct was prepared by its *_init() and is at least as large as the
// fields this version reads (older callers pass smaller sizes: we read only what they have).
bool struct_size_ok(uint32_t size, size_t minimum);

} // namespace infer::api
