#include "tooling/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "core/types.h"

namespace infer::gguf {

namespace {

// Little-endian appends; the hosts libinfer supports are little-endian, as GGUF v3 files are.
template <typename T> void append(std::vector<uint8_t> &out, T v) {
    const auto *p = reinterpret_cast<const uint8_t *>(&v);
    out.insert(out.end(), p, p + sizeof v);
}

void append_string(std::vector<uint8_t> &out, std::string_view s) {
    append<uint64_t>(out, s.size());
    out.insert(out.end(), s.begin(), s.end());
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

size_t scalar_size(ValueType t) {
    switch (t) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::BOOL:
        return 1;
    case ValueType::U16:
    case ValueType::I16:
        return 2;
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::F32:
        return 4;
    case ValueType::U64:
    case ValueType::I64:
    case ValueType::F64:
        return 8;
    default:
        return 0;
    }
}

} // namespace

Writer::~Writer() {
    if (owns_file_ && file_) std::fclose(file_);
}

void Writer::key(std::string_view k, ValueType type) {
    keys_.emplace_back(k);
    append_string(kv_bytes_, k);
    append<uint32_t>(kv_bytes_, static_cast<uint32_t>(type));
    ++kv_count_;
}

void Writer::add_u8(std::string_view k, uint8_t v) {
    key(k, ValueType::U8);
    append(kv_bytes_, v);
}
void Writer::add_i8(std::string_view k, int8_t v) {
    key(k, ValueType::I8);
    append(kv_bytes_, v);
}
void Writer::add_u16(std::string_view k, uint16_t v) {
    key(k, ValueType::U16);
    append(kv_bytes_, v);
}
void Writer::add_i16(std::string_view k, int16_t v) {
    key(k, ValueType::I16);
    append(kv_bytes_, v);
}
void Writer::add_u32(std::string_view k, uint32_t v) {
    key(k, ValueType::U32);
    append(kv_bytes_, v);
}
void Writer::add_i32(std::string_view k, int32_t v) {
    key(k, ValueType::I32);
    append(kv_bytes_, v);
}
void Writer::add_u64(std::string_view k, uint64_t v) {
    key(k, ValueType::U64);
    append(kv_bytes_, v);
}
void Writer::add_i64(std::string_view k, int64_t v) {
    key(k, ValueType::I64);
    append(kv_bytes_, v);
}
void Writer::add_f32(std::string_view k, float v) {
    key(k, ValueType::F32);
    append(kv_bytes_, v);
}
void Writer::add_f64(std::string_view k, double v) {
    key(k, ValueType::F64);
    append(kv_bytes_, v);
}
void Writer::add_bool(std::string_view k, bool v) {
    key(k, ValueType::BOOL);
    append<uint8_t>(kv_bytes_, v ? 1 : 0);
}
void Writer::add_string(std::string_view k, std::string_view v) {
    key(k, ValueType::STRING);
    append_string(kv_bytes_, v);
}

void Writer::add_array(std::string_view k, ValueType elem, const void *data, uint64_t count) {
    key(k, ValueType::ARRAY);
    append<uint32_t>(kv_bytes_, static_cast<uint32_t>(elem));
    append<uint64_t>(kv_bytes_, count);
    const size_t size = scalar_size(elem);
    if (size == 0) { // use add_string_array(); nested arrays are not written
        if (invalid_.empty())
            invalid_ = "metadata '" + std::string(k) + "': array of non-scalar type";
        return;
    }
    const auto *p = static_cast<const uint8_t *>(data);
    kv_bytes_.insert(kv_bytes_.end(), p, p + size * count);
}

void Writer::add_string_array(std::string_view k, std::span<const std::string> values) {
    key(k, ValueType::ARRAY);
    append<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::STRING));
    append<uint64_t>(kv_bytes_, values.size());
    for (const std::string &s : values)
        append_string(kv_bytes_, s);
}

void Writer::set_alignment(uint32_t alignment) {
    add_u32("general.alignment", alignment);
    alignment_ = alignment;
}

Status Writer::add_tensor(std::string_view name, uint32_t type,
                          std::initializer_list<uint64_t> dims) {
    return add_tensor(name, type, std::span<const uint64_t>(dims.begin(), dims.size()));
}

Status Writer::add_tensor(std::string_view name, uint32_t type, std::span<const uint64_t> dims) {
    const std::string n(name);
    if (begun_)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "tensor '%s' added after begin()", n.c_str());
    if (dims.empty() || dims.size() > kMaxDims)
        return make_error(INFER_ERR_GGUF_BAD_SHAPE, "tensor '%s': %zu dims", n.c_str(),
                          dims.size());
    uint64_t rows = 1;
    for (size_t i = 1; i < dims.size(); ++i) {
        if (dims[i] == 0 || rows > UINT64_MAX / dims[i])
            return make_error(INFER_ERR_GGUF_BAD_SHAPE, "tensor '%s': bad dim %zu", n.c_str(), i);
        rows *= dims[i];
    }
    uint64_t row_bytes = 0;
    if (dims[0] == 0 || !type_row_bytes(type, dims[0], &row_bytes) ||
        (rows > 0 && row_bytes > UINT64_MAX / rows))
        return make_error(INFER_ERR_GGUF_BAD_SHAPE,
                          "tensor '%s': %" PRIu64
                          " elements per row are not whole blocks of type %u",
                          n.c_str(), dims[0], type);
    Tensor t;
    t.name = n;
    t.type = type;
    t.dims.assign(dims.begin(), dims.end());
    t.n_bytes = row_bytes * rows;
    t.offset = align_up(data_bytes_, alignment_);
    data_bytes_ = t.offset + t.n_bytes;
    tensors_.push_back(std::move(t));
    return Status::ok();
}

uint64_t Writer::file_size() const {
    uint64_t header = 4 + 4 + 8 + 8 + kv_bytes_.size();
    for (const Tensor &t : tensors_)
        header += 8 + t.name.size() + 4 + 8 * t.dims.size() + 4 + 8;
    return align_up(header, alignment_) + data_bytes_;
}

Status Writer::put(const void *data, size_t n) {
    if (n > 0 && std::fwrite(data, 1, n, file_) != n)
        return make_error(INFER_ERR_IO, "writing %s failed at byte %" PRIu64 ": %s", path_.c_str(),
                          position_, std::strerror(errno));
    position_ += n;
    return Status::ok();
}

Status Writer::pad_to(uint64_t position) {
    static const uint8_t zeros[256] = {};
    while (position_ < position)
        INFER_TRY(put(zeros,
                      static_cast<size_t>(std::min<uint64_t>(position - position_, sizeof zeros))));
    return Status::ok();
}

Status Writer::begin(const char *path) {
    FILE *f = std::fopen(path, "wb");
    if (!f) return make_error(INFER_ERR_IO, "cannot create %s: %s", path, std::strerror(errno));
    Status s = begin(f);
    owns_file_ = true; // even on failure, so the destructor closes it
    path_ = path;
    return s;
}

Status Writer::begin(FILE *f) {
    if (begun_) return make_error(INFER_ERR_INVALID_ARGUMENT, "begin() called twice");
    file_ = f;
    path_ = "GGUF output";
    begun_ = true;
    if (!invalid_.empty()) return make_error(INFER_ERR_INVALID_ARGUMENT, "%s", invalid_.c_str());
    if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0)
        return make_error(INFER_ERR_GGUF_BAD_ALIGNMENT, "alignment %u is not a power of two",
                          alignment_);
    // Tensor offsets were computed with the alignment at the time of add_tensor().
    for (const Tensor &t : tensors_)
        if (t.offset % alignment_ != 0)
            return make_error(INFER_ERR_GGUF_BAD_ALIGNMENT,
                              "set_alignment() must come before add_tensor() ('%s')",
                              t.name.c_str());
    std::vector<std::string_view> sorted(keys_.begin(), keys_.end());
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 1; i < sorted.size(); ++i)
        if (sorted[i] == sorted[i - 1])
            return make_error(INFER_ERR_GGUF_DUPLICATE, "metadata key '%.*s' added twice",
                              static_cast<int>(sorted[i].size()), sorted[i].data());
    std::vector<std::string_view> names;
    for (const Tensor &t : tensors_)
        names.push_back(t.name);
    std::sort(names.begin(), names.end());
    for (size_t i = 1; i < names.size(); ++i)
        if (names[i] == names[i - 1])
            return make_error(INFER_ERR_GGUF_DUPLICATE, "tensor '%.*s' added twice",
                              static_cast<int>(names[i].size()), names[i].data());

    std::vector<uint8_t> header;
    header.insert(header.end(), {'G', 'G', 'U', 'F'});
    append<uint32_t>(header, 3);
    append<uint64_t>(header, tensors_.size());
    append<uint64_t>(header, kv_count_);
    INFER_TRY(put(header.data(), header.size()));
    INFER_TRY(put(kv_bytes_.data(), kv_bytes_.size()));
    std::vector<uint8_t> infos;
    for (const Tensor &t : tensors_) {
        append_string(infos, t.name);
        append<uint32_t>(infos, static_cast<uint32_t>(t.dims.size()));
        for (uint64_t d : t.dims)
            append<uint64_t>(infos, d);
        append<uint32_t>(infos, t.type);
        append<uint64_t>(infos, t.offset);
    }
    INFER_TRY(put(infos.data(), infos.size()));
    data_start_ = align_up(position_, alignment_);
    INFER_TRY(pad_to(data_start_));
    current_ = 0;
    written_in_current_ = 0;
    // Zero-byte tensors cannot exist (dims > 0), so current_ always has bytes left.
    return Status::ok();
}

Status Writer::write_data(const void *data, uint64_t n) {
    if (!begun_ || !file_)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "write_data() before begin()");
    const auto *p = static_cast<const uint8_t *>(data);
    while (n > 0) {
        if (current_ >= tensors_.size())
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "%" PRIu64 " bytes written past the last tensor", n);
        const Tensor &t = tensors_[current_];
        if (written_in_current_ == 0) INFER_TRY(pad_to(data_start_ + t.offset));
        const uint64_t take = std::min(n, t.n_bytes - written_in_current_);
        INFER_TRY(put(p, static_cast<size_t>(take)));
        p += take;
        n -= take;
        written_in_current_ += take;
        if (written_in_current_ == t.n_bytes) {
            ++current_;
            written_in_current_ = 0;
        }
    }
    return Status::ok();
}

Status Writer::finish() {
    if (!begun_ || !file_) return make_error(INFER_ERR_INVALID_ARGUMENT, "finish() before begin()");
    if (current_ < tensors_.size())
        return make_error(
            INFER_ERR_INVALID_ARGUMENT, "tensor '%s' has %" PRIu64 " of %" PRIu64 " bytes written",
            tensors_[current_].name.c_str(), written_in_current_, tensors_[current_].n_bytes);
    if (std::fflush(file_) != 0)
        return make_error(INFER_ERR_IO, "flushing %s failed: %s", path_.c_str(),
                          std::strerror(errno));
    if (owns_file_) {
        const int rc = std::fclose(file_);
        file_ = nullptr;
        if (rc != 0)
            return make_error(INFER_ERR_IO, "closing %s failed: %s", path_.c_str(),
                              std::strerror(errno));
    }
    return Status::ok();
}

} // namespace infer::gguf
