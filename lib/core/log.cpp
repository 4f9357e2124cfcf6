#include "core/log.h"

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string>

namespace infer {
namespace {

void stderr_sink(int32_t level, const char *message, void *) {
    static const char *const kNames[] = {"error", "warn", "info", "debug"};
    const char *name = (level >= 0 && level <= INFER_LOG_DEBUG) ? kNames[level] : "log";
    std::fprintf(stderr, "libinfer %s: %s\n", name, message);
}

struct Sink {
    infer_log_fn fn = stderr_sink;
    void *user_data = nullptr;
    int32_t max_level = INFER_LOG_WARN;
};

// Copied under the lock so a sink swap never tears (fn, user_data) apart.
std::mutex g_sink_mutex;
Sink g_sink;

Sink current_sink() {
    std::lock_guard<std::mutex> lock(g_sink_mutex);
    return g_sink;
}

} // namespace

void set_log_sink(infer_log_fn fn, void *user_data, int32_t max_level) {
    std::lock_guard<std::mutex> lock(g_sink_mutex);
    g_sink = fn ? Sink{fn, user_data, max_level} : Sink{};
}

bool log_enabled(int32_t level) { return level <= current_sink().max_level; }

void log_message(int32_t level, const char *format, ...) {
    const Sink sink = current_sink();
    if (level > sink.max_level) return;
    char stack_buf[512];
    va_list args;
    va_start(args, format);
    va_list copy;
    va_copy(copy, args);
    const int length = std::vsnprintf(stack_buf, sizeof stack_buf, format, copy);
    va_end(copy);
    if (length < 0) {
        va_end(args);
        return;
    }
    if (static_cast<size_t>(length) < sizeof stack_buf) {
        va_end(args);
        sink.fn(level, stack_buf, sink.user_data);
        return;
    }
    std::string long_message(static_cast<size_t>(length), '\0');
    std::vsnprintf(long_message.data(), long_message.size() + 1, format, args);
    va_end(args);
    sink.fn(level, long_message.c_str(), sink.user_data);
}

} // namespace infer
