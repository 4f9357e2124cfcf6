// Facts about GGUF metadata value types shared by the parser and the Value getters.
#pragma once

#include "gguf/gguf.h"

#include <cstdint>

namespace infer::gguf {

inline bool is_known_value_type(uint32_t raw) { return raw <= static_cast<uint32_t>(ValueType::F64); }

// Encoded size of a fixed-size scalar; 0 for STRING and ARRAY.
inline uint32_t fixed_value_size(ValueType type) {
    switch (type) {
    case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    case ValueType::STRING: case ValueType::ARRAY: return 0;
    }
    return 0;
}

// The fewest bytes one value of this type can occupy: what a count of them must leave room for.
inline uint32_t min_value_size(ValueType type) {
    switch (type) {
    case ValueType::STRING: return 8;  // u64 length, empty payload
    case ValueType::ARRAY: return 12;  // u32 element type + u64 count, no elements
    default: return fixed_value_size(type);
    }
}

inline const char *value_type_name(ValueType type) {
    switch (type) {
    case ValueType::U8: return "u8";
    case ValueType::I8: return "i8";
    case ValueType::U16: return "u16";
    case ValueType::I16: return "i16";
    case ValueType::U32: return "u32";
    case ValueType::I32: return "i32";
    case ValueType::F32: return "f32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::U64: return "u64";
    case ValueType::I64: return "i64";
    case ValueType::F64: return "f64";
    }
    return "unknown";
}

} // namespace infer::gguf
