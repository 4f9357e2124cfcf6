// GGUF container reader. Parses a complete in-memory image (an mmap or a caller's buffer) and
// validates every count, length, offset and size against the image size before use. The parsed
// File keeps string_views into the image: the image must outlive it.
//
// Layout (little-endian): magic "GGUF", u32 version (2 or 3), u64 tensor count, u64 KV count,
// KVs (string key, u32 value type, value), tensor infos (string name, u32 n_dims, u64 dims[n_dims],
// u32 ggml type, u64 offset relative to the data section), padding to general.alignment, data.
// Strings are u64 length + bytes without NUL; arrays are u32 element type + u64 count + elements.
#pragma once

#include "core/status.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace infer::gguf {

enum class ValueType : uint32_t {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
    STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

// Limits that reject absurd files early (INFER_ERR_GGUF_LIMIT), beyond the file-size bounds.
inline constexpr uint64_t kMaxKeyLength = 65535;
inline constexpr uint32_t kMaxArrayNesting = 8;
inline constexpr uint32_t kMaxDims = 4;
inline constexpr uint32_t kDefaultAlignment = 32;

// The smallest encodings of one KV (1-byte key, 1-byte value) and one tensor info (1-byte name,
// rank 1). The header's counts must leave room for this many bytes each.
inline constexpr uint64_t kMinKeyValueBytes = 8 + 1 + 4 + 1;
inline constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;

// Status rule for a count or length that promises more bytes than the image has after it:
// INFER_ERR_GGUF_LIMIT when the promise exceeds the whole image size (or 2^64), since no file of
// this size could hold it; INFER_ERR_GGUF_TRUNCATED when it would fit a file of this size, i.e.
// the file looks cut short. A fixed-size field that runs past the end is always TRUNCATED.

// One metadata value. Scalars are decoded; arrays of fixed-size scalars point into the image;
// arrays of strings and nested arrays are decoded element by element.
class Value {
public:
    ValueType type() const { return type_; }

    // Scalars. Integer and bool types convert to int64 (a u64 above INT64_MAX fails); integer and
    // float types convert to double; strings only to string. False on a type that does not convert.
    bool get_int(int64_t *out) const;
    bool get_float(double *out) const;
    bool get_string(std::string_view *out) const;

    // Arrays. Element getters convert like the scalar ones and fail on a nested array element or
    // an index out of range.
    ValueType elem_type() const { return elem_type_; } // meaningful only for ARRAY
    uint64_t array_size() const { return count_; }
    bool array_int(uint64_t index, int64_t *out) const;
    bool array_float(uint64_t index, double *out) const;
    bool array_string(uint64_t index, std::string_view *out) const;
    const Value *array_nested(uint64_t index) const; // element of an array of arrays, or nullptr

private:
    friend class Parser;
    ValueType type_ = ValueType::U8;
    ValueType elem_type_ = ValueType::U8;
    uint64_t scalar_bits_ = 0;            // scalar payload, raw little-endian bits zero-extended
    std::string_view string_;             // STRING
    const uint8_t *array_data_ = nullptr; // ARRAY of fixed-size scalars: first element
    uint64_t count_ = 0;                  // ARRAY element count
    std::vector<std::string_view> strings_; // ARRAY of STRING
    std::vector<Value> nested_;             // ARRAY of ARRAY
};

struct KeyValue {
    std::string_view key;
    Value value;
};

struct TensorInfo {
    std::string_view name;
    uint32_t type = 0;                 // ggml type id (see core/types.h)
    uint32_t n_dims = 0;
    uint64_t dims[kMaxDims] = {1, 1, 1, 1};
    uint64_t n_elements = 0;
    uint64_t n_bytes = 0;
    uint64_t offset = 0;               // relative to File::data_offset()
};

// Called with progress in [0, 1]; returning false cancels the parse (INFER_ERR_CANCELLED).
using ProgressFn = std::function<bool(float)>;

class File {
public:
    // Parses and validates `image`. On failure, the Status names the key or tensor and the byte
    // offset where the problem was found.
    static Status parse(std::span<const uint8_t> image, const ProgressFn &progress,
                        std::unique_ptr<File> *out);

    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    // Header end rounded up to alignment(). May exceed image().size() only when there are no
    // tensors (a header-only file need not carry the padding).
    uint64_t data_offset() const { return data_offset_; }
    std::span<const uint8_t> image() const { return image_; }

    const std::vector<KeyValue> &metadata() const { return kvs_; }
    const Value *find(std::string_view key) const; // nullptr when absent

    const std::vector<TensorInfo> &tensors() const { return tensors_; }
    const TensorInfo *find_tensor(std::string_view name) const; // nullptr when absent
    const uint8_t *tensor_data(const TensorInfo &t) const {
        return image_.data() + data_offset_ + t.offset;
    }

private:
    friend class Parser;
    std::span<const uint8_t> image_;
    uint32_t version_ = 0;
    uint32_t alignment_ = kDefaultAlignment;
    uint64_t data_offset_ = 0;
    std::vector<KeyValue> kvs_;
    std::vector<TensorInfo> tensors_;
    // Sorted (name, index) pairs for O(log n) lookup.
    std::vector<std::pair<std::string_view, uint32_t>> key_index_;
    std::vector<std::pair<std::string_view, uint32_t>> tensor_index_;
};

// The bytes of a whole regular file, page-aligned: a read-only private mapping (open), or a
// private copy read into anonymous memory (read). Anything but a regular file is refused with
// INFER_ERR_IO before any read, so a FIFO or a device cannot block or stream forever.
class MappedFile {
public:
    // Shares the page cache and costs no copy, but the bytes are the file's: truncating or
    // rewriting the file while mapped makes the next access to a lost page raise SIGBUS.
    static Status open(const char *path, std::unique_ptr<MappedFile> *out);
    // Reads the file into memory of its own (INFER_ERR_OUT_OF_MEMORY when it cannot be had),
    // reporting progress; fails if the file changes size during the read. Afterwards the file
    // may change or go away.
    static Status read(const char *path, const ProgressFn &progress, std::unique_ptr<MappedFile> *out);
    ~MappedFile();
    MappedFile(const MappedFile &) = delete;
    MappedFile &operator=(const MappedFile &) = delete;

    std::span<const uint8_t> bytes() const { return {data_, size_}; }

    // Hands the whole pages inside [p, p + n) back to the OS, for bytes no one reads again (the
    // file's copy of weights the CPU repacked): they leave the process's resident memory. Touched
    // again, a mapped file's pages are read back from the file; memory read() filled reads back
    // zeros.
    void drop_pages(const void *p, uint64_t n) const;
    // True for a mapped file (open()), whose dropped pages read back as the file's bytes.
    bool pages_come_back() const { return maps_file_; }

private:
    MappedFile() = default;
    // open (progress null: map) and read (copy, reporting to *progress) share everything else.
    static Status load(const char *path, const ProgressFn *progress,
                       std::unique_ptr<MappedFile> *out);
    const uint8_t *data_ = nullptr;
    uint64_t size_ = 0;
    bool maps_file_ = false;
};

} // namespace infer::gguf
