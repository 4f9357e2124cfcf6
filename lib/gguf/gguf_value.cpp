// Value getters: decode the raw little-endian bits the parser stored (or that an array points at)
// and convert them as gguf.h promises. Elements are memcpy'd, so array data needs no alignment.
#include "gguf/gguf.h"

#include "gguf/value_type.h"

#include <cstring>

namespace infer::gguf {
namespace {

// `bits` holds the value's bytes zero-extended to 64 bits.
bool bits_to_int(ValueType type, uint64_t bits, int64_t *out) {
    switch (type) {
    case ValueType::U8: case ValueType::U16: case ValueType::U32: case ValueType::BOOL:
        *out = static_cast<int64_t>(bits);
        return true;
    case ValueType::I8: *out = static_cast<int8_t>(static_cast<uint8_t>(bits)); return true;
    case ValueType::I16: *out = static_cast<int16_t>(static_cast<uint16_t>(bits)); return true;
    case ValueType::I32: *out = static_cast<int32_t>(static_cast<uint32_t>(bits)); return true;
    case ValueType::I64: *out = static_cast<int64_t>(bits); return true;
    case ValueType::U64:
        if (bits > uint64_t{INT64_MAX}) return false;
        *out = static_cast<int64_t>(bits);
        return true;
    default: return false;
    }
}

bool bits_to_float(ValueType type, uint64_t bits, double *out) {
    switch (type) {
    case ValueType::F32: {
        const uint32_t low = static_cast<uint32_t>(bits);
        float f;
        std::memcpy(&f, &low, sizeof f);
        *out = f;
        return true;
    }
    case ValueType::F64: std::memcpy(out, &bits, sizeof *out); return true;
    case ValueType::U64: *out = static_cast<double>(bits); return true;
    case ValueType::BOOL: return false; // a flag is not a number
    default: {
        int64_t i;
        if (!bits_to_int(type, bits, &i)) return false;
        *out = static_cast<double>(i);
        return true;
    }
    }
}

} // namespace

bool Value::get_int(int64_t *out) const { return bits_to_int(type_, scalar_bits_, out); }

bool Value::get_float(double *out) const { return bits_to_float(type_, scalar_bits_, out); }

bool Value::get_string(std::string_view *out) const {
    if (type_ != ValueType::STRING) return false;
    *out = string_;
    return true;
}

// Loads element `index` of a fixed-size scalar array; false for other arrays or out of range.
static bool load_element(const Value &v, const uint8_t *data, uint64_t index, uint64_t *bits) {
    const uint32_t size = fixed_value_size(v.elem_type());
    if (v.type() != ValueType::ARRAY || size == 0 || index >= v.array_size()) return false;
    *bits = 0;
    std::memcpy(bits, data + index * size, size);
    return true;
}

bool Value::array_int(uint64_t index, int64_t *out) const {
    uint64_t bits;
    return load_element(*this, array_data_, index, &bits) && bits_to_int(elem_type_, bits, out);
}

bool Value::array_float(uint64_t index, double *out) const {
    uint64_t bits;
    return load_element(*this, array_data_, index, &bits) && bits_to_float(elem_type_, bits, out);
}

bool Value::array_string(uint64_t index, std::string_view *out) const {
    if (type_ != ValueType::ARRAY || elem_type_ != ValueType::STRING || index >= strings_.size()) return false;
    *out = strings_[index];
    return true;
}

const Value *Value::array_nested(uint64_t index) const {
    if (type_ != ValueType::ARRAY || elem_type_ != ValueType::ARRAY || index >= nested_.size()) return nullptr;
    return &nested_[index];
}

} // namespace infer::gguf
