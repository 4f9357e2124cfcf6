// Streaming GGUF v3 writer. Declare everything first (metadata of any type, tensors by name,
// type and dims), then begin() writes the header, the KVs, the tensor infos and the padding up
// to the data section, and write_data() streams the tensors' bytes in declaration order, in
// pieces of any size; padding to the alignment between tensors is inserted automatically.
// finish() checks that every declared byte was written and flushes. The whole model is never
// held in memory: the sizes and offsets are known from the declarations.
//
// Layout written: see gguf.h. Offsets in the tensor infos are relative to the data section and
// aligned to general.alignment (32 unless set_alignment() says otherwise).
#pragma once

#include "core/status.h"
#include "gguf/gguf.h"

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace infer::gguf {

class Writer {
public:
    Writer() = default;
    ~Writer(); // closes a file opened by begin(path)
    Writer(const Writer &) = delete;
    Writer &operator=(const Writer &) = delete;

    // ---- metadata, in the order added --------------------------------------------------------
    void add_u8(std::string_view key, uint8_t v);
    void add_i8(std::string_view key, int8_t v);
    void add_u16(std::string_view key, uint16_t v);
    void add_i16(std::string_view key, int16_t v);
    void add_u32(std::string_view key, uint32_t v);
    void add_i32(std::string_view key, int32_t v);
    void add_u64(std::string_view key, uint64_t v);
    void add_i64(std::string_view key, int64_t v);
    void add_f32(std::string_view key, float v);
    void add_f64(std::string_view key, double v);
    void add_bool(std::string_view key, bool v);
    void add_string(std::string_view key, std::string_view v);
    // An array of fixed-size scalars; `elem` must not be STRING or ARRAY, `data` holds `count`
    // little-endian elements of its size (bools as one byte, 0 or 1).
    void add_array(std::string_view key, ValueType elem, const void *data, uint64_t count);
    void add_string_array(std::string_view key, std::span<const std::string> values);
    // Adds general.alignment (u32) and uses it for the data section; a power of two.
    void set_alignment(uint32_t alignment);

    // ---- tensors, in the order their data will be written ------------------------------------
    // dims in ggml order (ne[0] contiguous), 1 to 4 of them. Fails on an unknown type, a row that
    // is not whole blocks, a zero or overflowing dim.
    Status add_tensor(std::string_view name, uint32_t type, std::initializer_list<uint64_t> dims);
    Status add_tensor(std::string_view name, uint32_t type, std::span<const uint64_t> dims);

    size_t tensor_count() const { return tensors_.size(); }
    uint64_t tensor_bytes(size_t index) const { return tensors_[index].n_bytes; }
    // Size of the whole file once finished (valid after the declarations).
    uint64_t file_size() const;

    // ---- output --------------------------------------------------------------------------------
    // Checks the declarations (duplicate keys or names, bad alignment), then writes everything up
    // to the first tensor's data. The FILE* form does not take ownership of `f`.
    Status begin(FILE *f);
    Status begin(const char *path);
    // Appends bytes to the tensor being written, moving on to the next one (after its padding)
    // when the current one is complete. Writing past the last tensor is an error.
    Status write_data(const void *data, uint64_t n);
    // Index of the tensor the next write_data() bytes belong to (tensor_count() when all done).
    size_t current_tensor() const { return current_; }
    // Fails if some tensor bytes are missing; flushes, and closes a file opened by path.
    Status finish();

private:
    struct Tensor {
        std::string name;
        uint32_t type;
        std::vector<uint64_t> dims;
        uint64_t n_bytes;
        uint64_t offset; // relative to the data section
    };
    void key(std::string_view k, ValueType type);
    Status put(const void *data, size_t n);
    Status pad_to(uint64_t position);

    std::vector<uint8_t> kv_bytes_; // the serialized KV section
    std::vector<std::string> keys_;
    uint64_t kv_count_ = 0;
    uint32_t alignment_ = kDefaultAlignment;
    std::string invalid_; // first declaration error found before begin(), reported there
    std::vector<Tensor> tensors_;
    uint64_t data_bytes_ = 0; // end of the last tensor, relative to the data section

    FILE *file_ = nullptr;
    bool owns_file_ = false;
    std::string path_;
    uint64_t position_ = 0;   // bytes written to the file
    uint64_t data_start_ = 0; // file offset of the data section
    size_t current_ = 0;      // tensor being written
    uint64_t written_in_current_ = 0;
    bool begun_ = false;
};

} // namespace infer::gguf
