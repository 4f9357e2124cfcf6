// Test helper: builds GGUF images in memory and records where every structure lies, so tests can
// patch single fields into malformed files and predict the parser's status for any prefix.
//
// Besides the bytes, build() records the parse steps a valid image takes, in file order:
//   Read  {end}        the parser needs bytes up to `end` (a fixed-size field);
//   Claim {end, need}  a count or length ending at `end` promises `need` more bytes.
// expected_prefix_status() replays them against a prefix length using the rule in gguf.h.
#pragma once

#include "core/types.h"
#include "gguf/gguf.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace infer::test {

using gguf::ValueType;

// A metadata value to write: a scalar's raw bits, a string, or an array of values.
struct GgufValue {
    ValueType type = ValueType::U8;
    uint64_t bits = 0;
    std::string text;
    ValueType elem = ValueType::U8;
    std::vector<GgufValue> elems;

    static GgufValue scalar(ValueType t, uint64_t raw) {
        GgufValue v;
        v.type = t;
        v.bits = raw;
        return v;
    }
    static GgufValue u8(uint8_t x) { return scalar(ValueType::U8, x); }
    static GgufValue i8(int8_t x) { return scalar(ValueType::I8, static_cast<uint8_t>(x)); }
    static GgufValue u16(uint16_t x) { return scalar(ValueType::U16, x); }
    static GgufValue i16(int16_t x) { return scalar(ValueType::I16, static_cast<uint16_t>(x)); }
    static GgufValue u32(uint32_t x) { return scalar(ValueType::U32, x); }
    static GgufValue i32(int32_t x) { return scalar(ValueType::I32, static_cast<uint32_t>(x)); }
    static GgufValue u64(uint64_t x) { return scalar(ValueType::U64, x); }
    static GgufValue i64(int64_t x) { return scalar(ValueType::I64, static_cast<uint64_t>(x)); }
    static GgufValue boolean(bool x) { return scalar(ValueType::BOOL, x ? 1 : 0); }
    static GgufValue f32(float x) {
        uint32_t raw;
        std::memcpy(&raw, &x, sizeof raw);
        return scalar(ValueType::F32, raw);
    }
    static GgufValue f64(double x) {
        uint64_t raw;
        std::memcpy(&raw, &x, sizeof raw);
        return scalar(ValueType::F64, raw);
    }
    static GgufValue str(std::string s) {
        GgufValue v;
        v.type = ValueType::STRING;
        v.text = std::move(s);
        return v;
    }
    static GgufValue array(ValueType elem_type, std::vector<GgufValue> elements) {
        GgufValue v;
        v.type = ValueType::ARRAY;
        v.elem = elem_type;
        v.elems = std::move(elements);
        return v;
    }
};

struct ParseStep {
    bool claim = false;
    uint64_t end = 0;
    uint64_t need = 0;
};

// Byte positions of one KV's fields.
struct KvLayout {
    uint64_t key = 0;   // key length field
    uint64_t type = 0;  // value type field
    uint64_t value = 0; // first byte of the value (for an array: its element type field)
};

// Byte positions of one tensor info's fields.
struct TensorLayout {
    uint64_t name = 0;
    uint64_t rank = 0;
    uint64_t dims = 0;
    uint64_t type = 0;
    uint64_t offset = 0;
};

class GgufWriter {
public:
    uint32_t version = 3;
    uint32_t data_alignment = gguf::kDefaultAlignment; // padding used when laying out data

    void kv(std::string key, GgufValue value) { kvs_.push_back({std::move(key), std::move(value)}); }

    // A tensor whose data is placed after the previous one (aligned), or at `offset` if given.
    void tensor(std::string name, TypeId type, std::vector<uint64_t> dims, int64_t offset = -1) {
        tensors_.push_back({std::move(name), static_cast<uint32_t>(type), std::move(dims), offset});
    }

    std::vector<uint8_t> build() {
        bytes_.clear();
        steps.clear();
        kv_layout.clear();
        tensor_layout.clear();
        tensor_offsets.clear();
        tensor_bytes.clear();

        put_raw("GGUF", 4);
        read_step();
        put<uint32_t>(version);
        read_step();
        put<uint64_t>(tensors_.size());
        read_step();
        put<uint64_t>(kvs_.size());
        read_step();
        claim_step(kvs_.size() * gguf::kMinKeyValueBytes + tensors_.size() * gguf::kMinTensorInfoBytes);

        for (const auto &[key, value] : kvs_) {
            KvLayout layout;
            layout.key = bytes_.size();
            put_string(key);
            layout.type = bytes_.size();
            put<uint32_t>(static_cast<uint32_t>(value.type));
            read_step();
            layout.value = bytes_.size();
            put_value(value);
            kv_layout.push_back(layout);
        }

        uint64_t next_offset = 0;
        for (const auto &t : tensors_) {
            uint64_t n_bytes = 0;
            uint64_t row = 0;
            if (type_row_bytes(t.type, t.dims.empty() ? 0 : t.dims[0], &row)) {
                n_bytes = row;
                for (size_t d = 1; d < t.dims.size(); ++d) n_bytes *= t.dims[d];
            }
            const uint64_t offset = t.offset >= 0 ? static_cast<uint64_t>(t.offset) : next_offset;
            next_offset = align(offset + n_bytes, data_alignment);
            tensor_offsets.push_back(offset);
            tensor_bytes.push_back(n_bytes);

            TensorLayout layout;
            layout.name = bytes_.size();
            put_string(t.name);
            layout.rank = bytes_.size();
            put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
            read_step();
            layout.dims = bytes_.size();
            for (uint64_t d : t.dims) put<uint64_t>(d);
            read_step();
            layout.type = bytes_.size();
            put<uint32_t>(t.type);
            read_step();
            layout.offset = bytes_.size();
            put<uint64_t>(offset);
            read_step();
            tensor_layout.push_back(layout);
        }

        header_end = bytes_.size();
        data_offset = align(header_end, data_alignment);
        uint64_t data_end = 0;
        for (size_t i = 0; i < tensors_.size(); ++i) {
            data_end = std::max(data_end, tensor_offsets[i] + tensor_bytes[i]);
        }
        bytes_.resize(data_offset + data_end, 0);
        // Each data byte is distinct per tensor so tests can check tensor_data() points right.
        for (size_t i = 0; i < tensors_.size(); ++i) {
            for (uint64_t b = 0; b < tensor_bytes[i]; ++b) {
                bytes_[data_offset + tensor_offsets[i] + b] = static_cast<uint8_t>(i * 31 + b);
            }
        }
        return bytes_;
    }

    // The status a parse of the first `prefix` bytes of the built image must give (see top).
    infer_status expected_prefix_status(uint64_t prefix) const {
        for (const ParseStep &step : steps) {
            if (!step.claim && step.end > prefix) return INFER_ERR_GGUF_TRUNCATED;
            if (step.claim && step.end + step.need > prefix) {
                return step.need > prefix ? INFER_ERR_GGUF_LIMIT : INFER_ERR_GGUF_TRUNCATED;
            }
        }
        return prefix < bytes_.size() && !tensors_.empty() ? INFER_ERR_GGUF_OUT_OF_BOUNDS : INFER_OK;
    }

    // Recorded by build().
    std::vector<ParseStep> steps;
    std::vector<KvLayout> kv_layout;
    std::vector<TensorLayout> tensor_layout;
    std::vector<uint64_t> tensor_offsets; // relative to data_offset
    std::vector<uint64_t> tensor_bytes;
    uint64_t header_end = 0;
    uint64_t data_offset = 0;

private:
    struct PendingTensor {
        std::string name;
        uint32_t type;
        std::vector<uint64_t> dims;
        int64_t offset;
    };

    static uint64_t align(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

    static uint64_t min_size(ValueType t) {
        switch (t) {
        case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
        case ValueType::U16: case ValueType::I16: return 2;
        case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
        case ValueType::U64: case ValueType::I64: case ValueType::F64: case ValueType::STRING: return 8;
        case ValueType::ARRAY: return 12;
        }
        return 1;
    }

    void read_step() { steps.push_back({false, bytes_.size(), 0}); }
    void claim_step(uint64_t need) { steps.push_back({true, bytes_.size(), need}); }

    void put_raw(const void *p, size_t n) {
        const auto *b = static_cast<const uint8_t *>(p);
        bytes_.insert(bytes_.end(), b, b + n);
    }
    template <class T> void put(T v) { put_raw(&v, sizeof v); }

    void put_string(const std::string &s) {
        put<uint64_t>(s.size());
        read_step();
        claim_step(s.size());
        put_raw(s.data(), s.size());
    }

    void put_value(const GgufValue &v) {
        switch (v.type) {
        case ValueType::STRING: put_string(v.text); return;
        case ValueType::ARRAY:
            put<uint32_t>(static_cast<uint32_t>(v.elem));
            read_step();
            put<uint64_t>(v.elems.size());
            read_step();
            claim_step(v.elems.size() * min_size(v.elem));
            for (const GgufValue &e : v.elems) {
                if (v.elem == ValueType::STRING || v.elem == ValueType::ARRAY) {
                    put_value(e);
                } else {
                    put_raw(&e.bits, min_size(v.elem)); // covered by the claim: no step
                }
            }
            return;
        default:
            put_raw(&v.bits, min_size(v.type));
            read_step();
            return;
        }
    }

    std::vector<std::pair<std::string, GgufValue>> kvs_;
    std::vector<PendingTensor> tensors_;
    std::vector<uint8_t> bytes_;
};

// Overwrites a little-endian field of a built image.
template <class T> inline void patch(std::vector<uint8_t> &image, uint64_t pos, T value) {
    std::memcpy(image.data() + pos, &value, sizeof value);
}

} // namespace infer::test
