// Streaming GGUF v3 writer: infer-synth's models and the tests' files. Declare everything first
// (metadata of any type, tensors by name, type and dims), then begin() writes the header, the KVs,
// the tensor infos and the padding up to the data section, and write_data() streams the tensors'
// bytes in declaration order, in pieces of any size; padding to the alignment between tensors is
// inserted automatically. finish() checks that every declared byte was written and flushes. The
// whole model is never held in memory: the sizes and offsets are known from the declarations.
//
// Declarations never fail on their own: the first bad one (a tensor whose rows are not whole
// blocks, a duplicate key or name, an array of arrays given as raw scalars) is what begin()
// reports.
//
// The writer also records where each field of the header lies (layout()). Tests of the reader
// write a valid file, then patch one field or cut the file short, and know what the reader must
// say; files that break the format are made that way, never written directly.
//
// Layout written: see gguf.h. Offsets in the tensor infos are relative to the data section and
// aligned to general.alignment (32 unless set_alignment() says otherwise).
#pragma once

#include "core/status.h"
#include "core/types.h"
#include "gguf/gguf.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace infer::gguf {

// A metadata value of any type: a scalar's little-endian bits, a string, or an array whose
// elements are scalars, strings or arrays (as deep as wanted: the reader's nesting limit is tested
// with it).
struct MetaValue {
    ValueType type = ValueType::U8;
    uint64_t bits = 0;              // a scalar
    std::string text;               // a STRING
    ValueType elem = ValueType::U8; // an ARRAY's element type
    std::vector<MetaValue> elems;   // an ARRAY's elements, each of type `elem`

    static MetaValue scalar(ValueType t, uint64_t raw) {
        MetaValue v;
        v.type = t;
        v.bits = raw;
        return v;
    }
    static MetaValue u8(uint8_t x) { return scalar(ValueType::U8, x); }
    static MetaValue i8(int8_t x) { return scalar(ValueType::I8, static_cast<uint8_t>(x)); }
    static MetaValue u16(uint16_t x) { return scalar(ValueType::U16, x); }
    static MetaValue i16(int16_t x) { return scalar(ValueType::I16, static_cast<uint16_t>(x)); }
    static MetaValue u32(uint32_t x) { return scalar(ValueType::U32, x); }
    static MetaValue i32(int32_t x) { return scalar(ValueType::I32, static_cast<uint32_t>(x)); }
    static MetaValue u64(uint64_t x) { return scalar(ValueType::U64, x); }
    static MetaValue i64(int64_t x) { return scalar(ValueType::I64, static_cast<uint64_t>(x)); }
    static MetaValue boolean(bool x) { return scalar(ValueType::BOOL, x ? 1 : 0); }
    static MetaValue f32(float x) {
        uint32_t raw;
        std::memcpy(&raw, &x, sizeof raw);
        return scalar(ValueType::F32, raw);
    }
    static MetaValue f64(double x) {
        uint64_t raw;
        std::memcpy(&raw, &x, sizeof raw);
        return scalar(ValueType::F64, raw);
    }
    static MetaValue str(std::string s) {
        MetaValue v;
        v.type = ValueType::STRING;
        v.text = std::move(s);
        return v;
    }
    static MetaValue array(ValueType elem_type, std::vector<MetaValue> elements) {
        MetaValue v;
        v.type = ValueType::ARRAY;
        v.elem = elem_type;
        v.elems = std::move(elements);
        return v;
    }
};

// Where the header's fields lie, as file offsets; complete after begin().
struct Layout {
    struct Kv {
        uint64_t key = 0;   // the key's length field
        uint64_t type = 0;  // the value type field
        uint64_t value = 0; // the value's first byte (an array: its element type field)
    };
    struct Tensor {
        uint64_t name = 0; // the name's length field
        uint64_t rank = 0;
        uint64_t dims = 0;
        uint64_t type = 0;
        uint64_t offset = 0;
        uint64_t data = 0;  // the offset written: where the data lies in the data section
        uint64_t bytes = 0; // data size
    };
    // Each field the reader checks on its own, in file order: it ends at `end`; a length or count
    // also promises at least `need` more bytes (the fewest its elements can take), others 0.
    // The fixed-size elements of an array are covered by the array's promise, not listed.
    struct Field {
        uint64_t end = 0;
        uint64_t need = 0;
    };
    std::vector<Kv> kvs;
    std::vector<Tensor> tensors;
    std::vector<Field> fields;
    uint64_t header_end = 0; // end of the last tensor info
    uint64_t data_start = 0; // the data section (header_end padded to the alignment)
};

class Writer {
public:
    Writer() = default;
    Writer(Writer &&) noexcept = default;
    Writer &operator=(Writer &&) noexcept = default;

    // ---- metadata, in the order added --------------------------------------------------------
    void add(std::string_view key, const MetaValue &value);
    void add_u8(std::string_view key, uint8_t v) { add(key, MetaValue::u8(v)); }
    void add_i8(std::string_view key, int8_t v) { add(key, MetaValue::i8(v)); }
    void add_u16(std::string_view key, uint16_t v) { add(key, MetaValue::u16(v)); }
    void add_i16(std::string_view key, int16_t v) { add(key, MetaValue::i16(v)); }
    void add_u32(std::string_view key, uint32_t v) { add(key, MetaValue::u32(v)); }
    void add_i32(std::string_view key, int32_t v) { add(key, MetaValue::i32(v)); }
    void add_u64(std::string_view key, uint64_t v) { add(key, MetaValue::u64(v)); }
    void add_i64(std::string_view key, int64_t v) { add(key, MetaValue::i64(v)); }
    void add_f32(std::string_view key, float v) { add(key, MetaValue::f32(v)); }
    void add_f64(std::string_view key, double v) { add(key, MetaValue::f64(v)); }
    void add_bool(std::string_view key, bool v) { add(key, MetaValue::boolean(v)); }
    void add_string(std::string_view key, std::string_view v) {
        add(key, MetaValue::str(std::string(v)));
    }
    // Large arrays without a MetaValue per element (a vocabulary's scores, token types): `elem`
    // must be a scalar type and `data` hold `count` little-endian elements of its size (bools as
    // one byte, 0 or 1).
    void add_array(std::string_view key, ValueType elem, const void *data, uint64_t count);
    void add_string_array(std::string_view key, std::span<const std::string> values);
    // Adds general.alignment (u32) and uses it for the data section; a power of two, set before
    // the first tensor.
    void set_alignment(uint32_t alignment);

    // ---- tensors, in the order their data will be written ------------------------------------
    // dims in ggml order (ne[0] contiguous), 1 to 4 of them, none zero, rows of whole blocks.
    void add_tensor(std::string_view name, uint32_t type, const std::vector<uint64_t> &dims);
    void add_tensor(std::string_view name, TypeId type, const std::vector<uint64_t> &dims) {
        add_tensor(name, static_cast<uint32_t>(type), dims);
    }

    size_t tensor_count() const { return tensors_.size(); }
    uint64_t tensor_bytes(size_t index) const { return tensors_[index].n_bytes; }
    // Size of the whole file once finished (valid after the declarations).
    uint64_t file_size() const;

    // ---- output --------------------------------------------------------------------------------
    // Reports the first bad declaration, then writes everything up to the first tensor's data.
    // The FILE* form does not take ownership of `f`; the vector form appends the file to `*out`.
    Status begin(FILE *f);
    Status begin(const char *path);
    Status begin(std::vector<uint8_t> *out);
    // Appends bytes to the tensor being written, moving on to the next one (after its padding)
    // when the current one is complete. Writing past the last tensor is an error.
    Status write_data(const void *data, uint64_t n);
    // Index of the tensor the next write_data() bytes belong to (tensor_count() when all done).
    size_t current_tensor() const { return current_; }
    // Fails if some tensor bytes are missing; flushes, and closes a file opened by path.
    Status finish();

    const Layout &layout() const { return layout_; }

private:
    struct Tensor {
        std::string name;
        uint32_t type;
        std::vector<uint64_t> dims;
        uint64_t n_bytes;
        uint64_t offset; // relative to the data section
    };
    struct CloseFile {
        void operator()(FILE *f) const { std::fclose(f); }
    };
    void declaration_error(Status status);
    void key(std::string_view k, ValueType type);
    void value(const MetaValue &v);
    Status check_declarations() const;
    uint64_t header_bytes() const;
    Status put(const void *data, size_t n);
    Status pad_to(uint64_t position);

    // The KV section, serialized as declared; its fields are recorded with file offsets (the KV
    // section always starts after the 24-byte fixed header).
    std::vector<uint8_t> kv_bytes_;
    std::vector<Layout::Field> kv_fields_;
    std::vector<std::string> keys_;
    uint32_t alignment_ = kDefaultAlignment;
    Status invalid_ = Status::ok(); // the first bad declaration, reported by begin()
    std::vector<Tensor> tensors_;
    uint64_t data_bytes_ = 0; // end of the last tensor, relative to the data section
    Layout layout_;

    FILE *file_ = nullptr;
    std::unique_ptr<FILE, CloseFile> owned_file_; // opened by begin(path)
    std::vector<uint8_t> *memory_ = nullptr;      // begin(vector)
    std::string path_;
    uint64_t position_ = 0; // bytes written
    size_t current_ = 0;    // tensor being written
    uint64_t written_in_current_ = 0;
    bool begun_ = false;
};

} // namespace infer::gguf
