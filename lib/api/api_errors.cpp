// Version, status strings, per-thread last error, log sink.
#include "api/api_util.h"
#include "core/log.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

namespace infer::api {
namespace {
thread_local std::string t_last_error;
}

infer_status fail(const Status &status) {
    t_last_error = bounded_message(status.message());
    log_message(INFER_LOG_DEBUG, "%s: %s", infer_status_string(status.code()), t_last_error.c_str());
    return status.code();
}

infer_status fail(infer_status code, const char *format, ...) {
    char buf[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(buf, sizeof buf, format, args);
    va_end(args);
    return fail(Status(code, buf));
}

void note(std::string_view message) { t_last_error.assign(message); }

const char *last_error() { return t_last_error.c_str(); }

infer_status copy_text(std::string_view text, char *buf, size_t capacity, size_t *out_length) {
    if (capacity > 0 && buf == nullptr)
        return fail(INFER_ERR_INVALID_ARGUMENT, "buffer is NULL but capacity is %zu", capacity);
    if (capacity > 0) {
        const size_t n = text.size() < capacity - 1 ? text.size() : capacity - 1;
        std::memcpy(buf, text.data(), n);
        buf[n] = '\0';
    }
    if (out_length) *out_length = text.size();
    return INFER_OK;
}

bool struct_size_ok(uint32_t size, size_t minimum) { return size >= minimum; }

} // namespace infer::api

extern "C" {

const char *infer_version(void) { return INFER_VERSION_STRING; }

uint32_t infer_version_number(void) {
    return INFER_VERSION_MAJOR * 10000u + INFER_VERSION_MINOR * 100u + INFER_VERSION_PATCH;
}

const char *infer_status_string(infer_status status) {
    switch (status) {
    case INFER_OK: return "ok";
    case INFER_ERR_INVALID_ARGUMENT: return "invalid argument";
    case INFER_ERR_OUT_OF_MEMORY: return "out of memory";
    case INFER_ERR_IO: return "I/O error";
    case INFER_ERR_CANCELLED: return "cancelled";
    case INFER_ERR_NOT_FOUND: return "not found";
    case INFER_ERR_UNSUPPORTED: return "unsupported";
    case INFER_ERR_INTERNAL: return "internal error";
    case INFER_ERR_TYPE_MISMATCH: return "type mismatch";
    case INFER_ERR_GGUF_BAD_MAGIC: return "not a GGUF file";
    case INFER_ERR_GGUF_BAD_VERSION: return "unsupported GGUF version";
    case INFER_ERR_GGUF_TRUNCATED: return "GGUF file truncated";
    case INFER_ERR_GGUF_LIMIT: return "GGUF count or length out of range";
    case INFER_ERR_GGUF_BAD_VALUE_TYPE: return "GGUF metadata value type invalid";
    case INFER_ERR_GGUF_BAD_TENSOR_TYPE: return "GGUF tensor type unknown";
    case INFER_ERR_GGUF_BAD_SHAPE: return "GGUF tensor shape invalid";
    case INFER_ERR_GGUF_BAD_ALIGNMENT: return "GGUF alignment invalid";
    case INFER_ERR_GGUF_OUT_OF_BOUNDS: return "GGUF tensor data out of bounds";
    case INFER_ERR_GGUF_OVERLAP: return "GGUF tensors overlap";
    case INFER_ERR_GGUF_DUPLICATE: return "GGUF duplicate key or tensor";
    case INFER_ERR_GGUF_BAD_STRING: return "GGUF key or name invalid";
    case INFER_ERR_MODEL_UNKNOWN_ARCH: return "unknown model architecture";
    case INFER_ERR_MODEL_MISSING_TENSOR: return "model tensor missing";
    case INFER_ERR_MODEL_TENSOR_SHAPE: return "model tensor shape wrong";
    case INFER_ERR_MODEL_TENSOR_TYPE: return "model tensor type unsupported";
    case INFER_ERR_MODEL_BAD_HPARAM: return "model hyperparameter invalid";
    case INFER_ERR_MODEL_BAD_VOCAB: return "model vocabulary invalid or unsupported";
    case INFER_ERR_CONTEXT_FULL: return "context full";
    case INFER_ERR_BAD_TOKEN: return "token id out of range";
    case INFER_ERR_BAD_STATE: return "saved state does not fit";
    case INFER_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    }
    return "unknown status";
}

const char *infer_last_error(void) { return infer::api::last_error(); }

void infer_set_log_callback(infer_log_fn fn, void *user_data, int32_t max_level) {
    infer::set_log_sink(fn, user_data, max_level);
}

} // extern "C"
