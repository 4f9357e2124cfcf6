// Process-wide logging through the sink installed with infer_set_log_callback().
#pragma once

#include "infer.h"

namespace infer {

void set_log_sink(infer_log_fn fn, void *user_data, int32_t max_level);
bool log_enabled(int32_t level);
void log_message(int32_t level, const char *format, ...) __attribute__((format(printf, 2, 3)));

} // namespace infer
