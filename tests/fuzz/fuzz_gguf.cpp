// libFuzzer target for the GGUF reader: parse arbitrary bytes, then read every value and tensor
// through the public getters so the sanitizers see every pointer the File hands out.
#include "gguf/gguf.h"

#include <cstddef>
#include <cstdint>

using infer::gguf::File;
using infer::gguf::Value;
using infer::gguf::ValueType;

namespace {

// Folds everything read into one number the optimizer must keep.
uint64_t touch_value(const Value &v) {
    uint64_t sum = static_cast<uint64_t>(v.type());
    int64_t i = 0;
    double d = 0;
    std::string_view s;
    if (v.get_int(&i)) sum += static_cast<uint64_t>(i);
    if (v.get_float(&d)) sum += d == d ? 1 : 2;
    if (v.get_string(&s)) {
        for (char c : s) sum += static_cast<uint8_t>(c);
    }
    if (v.type() != ValueType::ARRAY) return sum;
    sum += static_cast<uint64_t>(v.elem_type());
    for (uint64_t k = 0; k < v.array_size(); ++k) {
        if (v.array_int(k, &i)) sum += static_cast<uint64_t>(i);
        if (v.array_float(k, &d)) sum += d == d ? 1 : 2;
        if (v.array_string(k, &s)) {
            sum += s.size();
            if (!s.empty()) sum += static_cast<uint8_t>(s.front()) + static_cast<uint8_t>(s.back());
        }
        if (const Value *nested = v.array_nested(k)) sum += touch_value(*nested);
    }
    // One past the end must fail, not read.
    if (v.array_int(v.array_size(), &i) || v.array_string(v.array_size(), &s)) __builtin_trap();
    return sum;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::unique_ptr<File> file;
    if (!File::parse({data, size}, {}, &file).is_ok()) return 0;

    volatile uint64_t sink = file->version() + file->alignment() + file->data_offset();
    for (const auto &kv : file->metadata()) {
        if (file->find(kv.key) == nullptr) __builtin_trap(); // every key must be findable
        sink = sink + kv.key.size() + touch_value(kv.value);
    }
    for (const auto &t : file->tensors()) {
        if (file->find_tensor(t.name) == nullptr) __builtin_trap();
        // The first and last data bytes lie inside the fuzzer's buffer, or ASan reports it.
        const uint8_t *bytes = file->tensor_data(t);
        sink = sink + bytes[0] + bytes[t.n_bytes - 1] + t.n_elements;
    }
    (void)sink;
    return 0;
}
