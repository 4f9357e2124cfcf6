// Renders metadata values as text, the way infer-inspect and infer_model_meta_format show them.
#pragma once

#include "gguf/gguf.h"

#include <string>

namespace infer::gguf {

const char *value_type_name(ValueType type);

// Strings are quoted with C escapes; arrays longer than max_array_elems show their first
// elements and then "... (N total)".
std::string format_value(const Value &value, uint64_t max_array_elems);

} // namespace infer::gguf
