#include "tooling/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>

#include "gguf/value_type.h"

namespace infer::gguf {

namespace {

// Magic, version, tensor count, KV count: the KV section starts here.
constexpr uint64_t kFixedHeaderBytes = 4 + 4 + 8 + 8;

// Little-endian appends; the hosts libinfer supports are little-endian, as GGUF v3 files are.
template <typename T> void append(std::vector<uint8_t> &out, T v) {
    const auto *p = reinterpret_cast<const uint8_t *>(&v);
    out.insert(out.end(), p, p + sizeof v);
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// Serializes header parts into `bytes`, which start at file offset `base`, recording each field.
struct Encoder {
    std::vector<uint8_t> &bytes;
    std::vector<Layout::Field> &fields;
    uint64_t base;

    uint64_t at() const { return base + bytes.size(); }
    template <typename T> void field(T v, uint64_t need = 0) {
        append(bytes, v);
        fields.push_back({at(), need});
    }
    void string(std::string_view s) {
        field<uint64_t>(s.size(), s.size());
        bytes.insert(bytes.end(), s.begin(), s.end());
    }
    // An array's element type and count, promising the fewest bytes `count` elements can take.
    void array_header(ValueType elem, uint64_t count) {
        field<uint32_t>(static_cast<uint32_t>(elem));
        field<uint64_t>(count, count * min_value_size(elem));
    }
};

} // namespace

void Writer::declaration_error(Status status) {
    if (invalid_.is_ok()) invalid_ = std::move(status);
}

void Writer::key(std::string_view k, ValueType type) {
    keys_.emplace_back(k);
    Encoder e{kv_bytes_, kv_fields_, kFixedHeaderBytes};
    Layout::Kv kv;
    kv.key = e.at();
    e.string(k);
    kv.type = e.at();
    e.field<uint32_t>(static_cast<uint32_t>(type));
    kv.value = e.at();
    layout_.kvs.push_back(kv);
}

void Writer::value(const MetaValue &v) {
    Encoder e{kv_bytes_, kv_fields_, kFixedHeaderBytes};
    if (v.type == ValueType::STRING) {
        e.string(v.text);
    } else if (v.type == ValueType::ARRAY) {
        e.array_header(v.elem, v.elems.size());
        const uint32_t size = fixed_value_size(v.elem);
        for (const MetaValue &elem : v.elems) {
            if (elem.type != v.elem)
                declaration_error(make_error(INFER_ERR_INVALID_ARGUMENT,
                                             "metadata '%s': array element of another type",
                                             keys_.back().c_str()));
            if (size == 0) {
                value(elem); // a string or an array: its own fields
            } else {         // covered by the array's promise: no field of its own
                kv_bytes_.insert(kv_bytes_.end(), reinterpret_cast<const uint8_t *>(&elem.bits),
                                 reinterpret_cast<const uint8_t *>(&elem.bits) + size);
            }
        }
    } else if (const uint32_t size = fixed_value_size(v.type); size != 0) {
        kv_bytes_.insert(kv_bytes_.end(), reinterpret_cast<const uint8_t *>(&v.bits),
                         reinterpret_cast<const uint8_t *>(&v.bits) + size);
        kv_fields_.push_back({e.at(), 0});
    } else {
        declaration_error(make_error(INFER_ERR_INVALID_ARGUMENT, "metadata '%s': value type %u",
                                     keys_.back().c_str(), static_cast<uint32_t>(v.type)));
    }
}

void Writer::add(std::string_view k, const MetaValue &v) {
    key(k, v.type);
    value(v);
}

void Writer::add_array(std::string_view k, ValueType elem, const void *data, uint64_t count) {
    key(k, ValueType::ARRAY);
    Encoder{kv_bytes_, kv_fields_, kFixedHeaderBytes}.array_header(elem, count);
    const uint32_t size = fixed_value_size(elem);
    if (size == 0) { // strings: add_string_array(); nested arrays: add()
        declaration_error(make_error(INFER_ERR_INVALID_ARGUMENT,
                                     "metadata '%s': raw array of non-scalar type",
                                     keys_.back().c_str()));
        return;
    }
    const auto *p = static_cast<const uint8_t *>(data);
    kv_bytes_.insert(kv_bytes_.end(), p, p + size * count);
}

void Writer::add_string_array(std::string_view k, std::span<const std::string> values) {
    key(k, ValueType::ARRAY);
    Encoder e{kv_bytes_, kv_fields_, kFixedHeaderBytes};
    e.array_header(ValueType::STRING, values.size());
    for (const std::string &s : values)
        e.string(s);
}

void Writer::set_alignment(uint32_t alignment) {
    add_u32("general.alignment", alignment);
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        return declaration_error(make_error(INFER_ERR_GGUF_BAD_ALIGNMENT,
                                            "alignment %u is not a power of two", alignment));
    // Tensor offsets are laid out with the alignment of the moment.
    if (!tensors_.empty())
        return declaration_error(make_error(INFER_ERR_GGUF_BAD_ALIGNMENT,
                                            "set_alignment() must come before add_tensor() ('%s')",
                                            tensors_.front().name.c_str()));
    alignment_ = alignment;
}

void Writer::add_tensor(std::string_view name, uint32_t type, const std::vector<uint64_t> &dims) {
    const std::string n(name);
    if (begun_)
        return declaration_error(
            make_error(INFER_ERR_INVALID_ARGUMENT, "tensor '%s' added after begin()", n.c_str()));
    if (dims.empty() || dims.size() > kMaxDims)
        return declaration_error(
            make_error(INFER_ERR_GGUF_BAD_SHAPE, "tensor '%s': %zu dims", n.c_str(), dims.size()));
    uint64_t rows = 1;
    for (size_t i = 1; i < dims.size(); ++i) {
        if (dims[i] == 0 || rows > UINT64_MAX / dims[i])
            return declaration_error(
                make_error(INFER_ERR_GGUF_BAD_SHAPE, "tensor '%s': bad dim %zu", n.c_str(), i));
        rows *= dims[i];
    }
    uint64_t row_bytes = 0;
    if (dims[0] == 0 || !type_row_bytes(type, dims[0], &row_bytes) ||
        (rows > 0 && row_bytes > UINT64_MAX / rows))
        return declaration_error(make_error(INFER_ERR_GGUF_BAD_SHAPE,
                                            "tensor '%s': %" PRIu64
                                            " elements per row are not whole blocks of type %u",
                                            n.c_str(), dims[0], type));
    Tensor t;
    t.name = n;
    t.type = type;
    t.dims = dims;
    t.n_bytes = row_bytes * rows;
    t.offset = align_up(data_bytes_, alignment_);
    data_bytes_ = t.offset + t.n_bytes;
    tensors_.push_back(std::move(t));
}

uint64_t Writer::header_bytes() const {
    uint64_t header = kFixedHeaderBytes + kv_bytes_.size();
    for (const Tensor &t : tensors_)
        header += 8 + t.name.size() + 4 + 8 * t.dims.size() + 4 + 8;
    return header;
}

uint64_t Writer::file_size() const { return align_up(header_bytes(), alignment_) + data_bytes_; }

Status Writer::put(const void *data, size_t n) {
    const auto *p = static_cast<const uint8_t *>(data);
    if (memory_) {
        memory_->insert(memory_->end(), p, p + n);
    } else if (n > 0 && std::fwrite(data, 1, n, file_) != n) {
        return make_error(INFER_ERR_IO, "writing %s failed at byte %" PRIu64 ": %s", path_.c_str(),
                          position_, std::strerror(errno));
    }
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
    owned_file_.reset(f); // even on failure, so the destructor closes it
    Status s = begin(f);
    path_ = path;
    return s;
}

Status Writer::begin(std::vector<uint8_t> *out) {
    memory_ = out;
    return begin(static_cast<FILE *>(nullptr));
}

Status Writer::check_declarations() const {
    INFER_TRY(invalid_);
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
    return Status::ok();
}

Status Writer::begin(FILE *f) {
    if (begun_) return make_error(INFER_ERR_INVALID_ARGUMENT, "begin() called twice");
    if (!f && !memory_) return make_error(INFER_ERR_INVALID_ARGUMENT, "begin() without an output");
    file_ = f;
    path_ = "GGUF output";
    begun_ = true;
    INFER_TRY(check_declarations());

    // The fixed header, then the KVs as serialized, then the tensor infos.
    std::vector<uint8_t> header;
    // Reserved up front, which also keeps GCC 12 from a false -Wstringop-overflow.
    header.reserve(static_cast<size_t>(header_bytes()));
    std::vector<Layout::Field> &fields = layout_.fields;
    fields.clear();
    Encoder e{header, fields, 0};
    header.insert(header.end(), {'G', 'G', 'U', 'F'});
    fields.push_back({4, 0});
    e.field<uint32_t>(3);
    e.field<uint64_t>(tensors_.size());
    e.field<uint64_t>(layout_.kvs.size(), layout_.kvs.size() * kMinKeyValueBytes +
                                              tensors_.size() * kMinTensorInfoBytes);
    header.insert(header.end(), kv_bytes_.begin(), kv_bytes_.end());
    fields.insert(fields.end(), kv_fields_.begin(), kv_fields_.end());
    layout_.tensors.clear();
    for (const Tensor &t : tensors_) {
        Layout::Tensor info;
        info.name = e.at();
        e.string(t.name);
        info.rank = e.at();
        e.field<uint32_t>(static_cast<uint32_t>(t.dims.size()));
        info.dims = e.at();
        for (uint64_t d : t.dims)
            append<uint64_t>(header, d);
        fields.push_back({e.at(), 0}); // the reader takes the dims as one field
        info.type = e.at();
        e.field<uint32_t>(t.type);
        info.offset = e.at();
        e.field<uint64_t>(t.offset);
        info.data = t.offset;
        info.bytes = t.n_bytes;
        layout_.tensors.push_back(info);
    }
    layout_.header_end = header.size();
    layout_.data_start = align_up(header.size(), alignment_);

    INFER_TRY(put(header.data(), header.size()));
    INFER_TRY(pad_to(layout_.data_start));
    current_ = 0;
    written_in_current_ = 0;
    // Zero-byte tensors cannot exist (dims > 0), so current_ always has bytes left.
    return Status::ok();
}

Status Writer::write_data(const void *data, uint64_t n) {
    if (!begun_ || (!file_ && !memory_))
        return make_error(INFER_ERR_INVALID_ARGUMENT, "write_data() before begin()");
    const auto *p = static_cast<const uint8_t *>(data);
    while (n > 0) {
        if (current_ >= tensors_.size())
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "%" PRIu64 " bytes written past the last tensor", n);
        const Tensor &t = tensors_[current_];
        if (written_in_current_ == 0) INFER_TRY(pad_to(layout_.data_start + t.offset));
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
    if (!begun_ || (!file_ && !memory_))
        return make_error(INFER_ERR_INVALID_ARGUMENT, "finish() before begin()");
    if (current_ < tensors_.size())
        return make_error(
            INFER_ERR_INVALID_ARGUMENT, "tensor '%s' has %" PRIu64 " of %" PRIu64 " bytes written",
            tensors_[current_].name.c_str(), written_in_current_, tensors_[current_].n_bytes);
    if (memory_) return Status::ok();
    if (std::fflush(file_) != 0)
        return make_error(INFER_ERR_IO, "flushing %s failed: %s", path_.c_str(),
                          std::strerror(errno));
    if (owned_file_) {
        file_ = nullptr;
        if (std::fclose(owned_file_.release()) != 0)
            return make_error(INFER_ERR_IO, "closing %s failed: %s", path_.c_str(),
                              std::strerror(errno));
    }
    return Status::ok();
}

} // namespace infer::gguf
