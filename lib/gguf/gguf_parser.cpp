// GGUF header parsing and validation. One pass over the header in file order (header, KVs, tensor
// infos), then checks that need the whole picture (duplicates, data bounds, overlaps).
//
// The invariant that keeps hostile files harmless: before anything is allocated or viewed from a
// count or length, the bytes it promises are checked against what remains of the image
// (Parser::claim), with overflow-safe arithmetic. Every allocation is therefore bounded by a small
// multiple of the image size.
#include "gguf/gguf.h"

#include "core/checked_math.h"
#include "core/types.h"
#include "gguf/utf8.h"
#include "gguf/value_type.h"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>

namespace infer::gguf {

// Scalars are memcpy'd straight from the image: GGUF is little-endian and so is every target.
static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

namespace {

constexpr uint8_t kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr char kAlignmentKey[] = "general.alignment";

// Progress milestones: the tensor infos get the middle of the range because that is where large
// files spend their parse time; the KVs before them are usually a small part.
constexpr float kProgressAfterKvs = 0.25f;
constexpr float kProgressAfterInfos = 0.95f;

} // namespace

class Parser {
public:
    Parser(std::span<const uint8_t> image, const ProgressFn &progress, File *file)
        : image_(image), progress_(progress), file_(file) {}

    Status run();

private:
    Status parse_header(uint64_t *n_tensors, uint64_t *n_kv);
    Status parse_kv(uint64_t index);
    Status parse_value(ValueType type, uint32_t depth, Value *out);
    Status parse_array(uint32_t depth, Value *out);
    Status parse_tensor_info(uint64_t index);
    Status check_duplicate_keys();
    Status apply_alignment();
    Status check_duplicate_tensors();
    Status check_tensor_bounds();
    Status check_tensor_overlaps();

    Status read_bytes(void *out, size_t n, const char *what);
    template <class T> Status read(T *out, const char *what) { return read_bytes(out, sizeof(T), what); }
    Status read_type(ValueType *out, const char *what);
    Status read_name(std::string_view *out, const char *what);
    Status claim(uint64_t at, bool representable, uint64_t need, const char *what);

    Status report(float fraction);
    Status fail(infer_status code, uint64_t at, const char *format, ...) __attribute__((format(printf, 4, 5)));

    uint64_t remaining() const { return image_.size() - pos_; }

    std::span<const uint8_t> image_;
    const ProgressFn &progress_;
    File *file_;
    uint64_t pos_ = 0;
    std::string where_ = "GGUF header"; // what is being parsed, for messages
    std::vector<uint64_t> key_pos_;       // byte offset of each KV's key
    std::vector<uint64_t> tensor_pos_;    // byte offset of each tensor info's name
    std::vector<uint64_t> offset_pos_;    // byte offset of each tensor info's data offset field
};

Status Parser::fail(infer_status code, uint64_t at, const char *format, ...) {
    char detail[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(detail, sizeof detail, format, args);
    va_end(args);
    return make_error(code, "%s at byte %" PRIu64 ": %s", where_.c_str(), at, detail);
}

Status Parser::report(float fraction) {
    if (progress_ && !progress_(fraction)) {
        return make_error(INFER_ERR_CANCELLED, "GGUF parse cancelled by the progress callback at %.0f%%",
                          static_cast<double>(fraction) * 100.0);
    }
    return Status::ok();
}

Status Parser::read_bytes(void *out, size_t n, const char *what) {
    if (remaining() < n) {
        return fail(INFER_ERR_GGUF_TRUNCATED, pos_, "%s: %zu bytes needed, but the file ends at byte %zu",
                    what, n, image_.size());
    }
    std::memcpy(out, image_.data() + pos_, n);
    pos_ += n;
    return Status::ok();
}

Status Parser::read_type(ValueType *out, const char *what) {
    const uint64_t at = pos_;
    uint32_t raw = 0;
    INFER_TRY(read(&raw, what));
    if (!is_known_value_type(raw)) {
        return fail(INFER_ERR_GGUF_BAD_VALUE_TYPE, at, "unknown %s %" PRIu32, what, raw);
    }
    *out = static_cast<ValueType>(raw);
    return Status::ok();
}

// `need` more bytes were promised by the count or length field at `at`. See the status rule in
// gguf.h: beyond the whole image is LIMIT, beyond the rest of it is TRUNCATED.
Status Parser::claim(uint64_t at, bool representable, uint64_t need, const char *what) {
    if (representable && need <= remaining()) return Status::ok();
    if (!representable) {
        return fail(INFER_ERR_GGUF_LIMIT, at, "%s: more than 2^64 bytes promised", what);
    }
    if (need > image_.size()) {
        return fail(INFER_ERR_GGUF_LIMIT, at, "%s: %" PRIu64 " bytes promised, more than the whole file (%zu bytes)",
                    what, need, image_.size());
    }
    return fail(INFER_ERR_GGUF_TRUNCATED, at, "%s: %" PRIu64 " bytes promised, but only %" PRIu64 " remain", what,
                need, remaining());
}

// Keys and tensor names: bounded length, non-empty, valid UTF-8.
Status Parser::read_name(std::string_view *out, const char *what) {
    const uint64_t at = pos_;
    uint64_t length = 0;
    INFER_TRY(read(&length, what));
    if (length > kMaxKeyLength) {
        return fail(INFER_ERR_GGUF_LIMIT, at, "%s length %" PRIu64 " exceeds the limit of %" PRIu64, what, length,
                    kMaxKeyLength);
    }
    char claim_what[64];
    std::snprintf(claim_what, sizeof claim_what, "%s length %" PRIu64, what, length);
    INFER_TRY(claim(at, true, length, claim_what));
    const std::string_view name(reinterpret_cast<const char *>(image_.data() + pos_), length);
    pos_ += length;
    if (name.empty()) return fail(INFER_ERR_GGUF_BAD_STRING, at, "empty %s", what);
    if (!is_valid_utf8(name)) return fail(INFER_ERR_GGUF_BAD_STRING, at, "%s is not valid UTF-8", what);
    *out = name;
    return Status::ok();
}

Status Parser::parse_header(uint64_t *n_tensors, uint64_t *n_kv) {
    // A short file that is not even a prefix of the magic is "not GGUF", not "cut short".
    const size_t magic_bytes = std::min<size_t>(image_.size(), sizeof kMagic);
    if (magic_bytes > 0 && std::memcmp(image_.data(), kMagic, magic_bytes) != 0) {
        return fail(INFER_ERR_GGUF_BAD_MAGIC, 0, "not a GGUF file (the magic is not \"GGUF\")");
    }
    uint8_t magic[4] = {};
    INFER_TRY(read(&magic, "magic"));

    const uint64_t version_at = pos_;
    uint32_t version = 0;
    INFER_TRY(read(&version, "version"));
    if (version != 2 && version != 3) {
        // A big-endian writer stores 2 or 3 as 0x02000000 / 0x03000000.
        const uint32_t swapped = __builtin_bswap32(version);
        if (swapped >= 1 && swapped <= 3) {
            return fail(INFER_ERR_GGUF_BAD_VERSION, version_at,
                        "big-endian GGUF (version %" PRIu32 " byte-swapped) is not supported", swapped);
        }
        return fail(INFER_ERR_GGUF_BAD_VERSION, version_at,
                    "version %" PRIu32 " is not supported (only 2 and 3)", version);
    }
    file_->version_ = version;

    const uint64_t counts_at = pos_;
    INFER_TRY(read(n_tensors, "tensor count"));
    INFER_TRY(read(n_kv, "KV count"));
    // Lookups index with uint32_t; no real model comes near 2^32 tensors or keys.
    if (*n_tensors > UINT32_MAX || *n_kv > UINT32_MAX) {
        return fail(INFER_ERR_GGUF_LIMIT, counts_at,
                    "tensor count %" PRIu64 " or KV count %" PRIu64 " exceeds 2^32 - 1", *n_tensors, *n_kv);
    }
    uint64_t kv_bytes = 0, tensor_bytes = 0, need = 0;
    const bool representable = checked_mul(*n_kv, kMinKeyValueBytes, &kv_bytes) &&
                               checked_mul(*n_tensors, kMinTensorInfoBytes, &tensor_bytes) &&
                               checked_add(kv_bytes, tensor_bytes, &need);
    char what[96];
    std::snprintf(what, sizeof what, "tensor count %" PRIu64 " and KV count %" PRIu64, *n_tensors, *n_kv);
    return claim(counts_at, representable, need, what);
}

Status Parser::parse_kv(uint64_t index) {
    where_ = "metadata KV #" + std::to_string(index);
    const uint64_t key_at = pos_;
    std::string_view key;
    INFER_TRY(read_name(&key, "key"));
    where_ = "metadata key '";
    where_.append(key).append("'");

    ValueType type;
    INFER_TRY(read_type(&type, "value type"));
    file_->kvs_.push_back({key, Value{}});
    key_pos_.push_back(key_at);
    return parse_value(type, 0, &file_->kvs_.back().value);
}

// `depth` counts the arrays around this value (0 for a KV's own value).
Status Parser::parse_value(ValueType type, uint32_t depth, Value *out) {
    out->type_ = type;
    const uint64_t at = pos_;
    if (type == ValueType::ARRAY) return parse_array(depth + 1, out);
    if (type == ValueType::STRING) {
        uint64_t length = 0;
        INFER_TRY(read(&length, "string length"));
        char what[48];
        std::snprintf(what, sizeof what, "string length %" PRIu64, length);
        INFER_TRY(claim(at, true, length, what));
        out->string_ = std::string_view(reinterpret_cast<const char *>(image_.data() + pos_), length);
        pos_ += length;
        return Status::ok();
    }
    const uint32_t size = fixed_value_size(type);
    INFER_TRY(read_bytes(&out->scalar_bits_, size, value_type_name(type)));
    if (type == ValueType::BOOL && out->scalar_bits_ > 1) {
        return fail(INFER_ERR_GGUF_BAD_VALUE_TYPE, at, "bool value %" PRIu64 " is neither 0 nor 1",
                    out->scalar_bits_);
    }
    return Status::ok();
}

// `depth` is this array's nesting level: 1 for an array that is a KV's value.
Status Parser::parse_array(uint32_t depth, Value *out) {
    const uint64_t type_at = pos_;
    ValueType elem;
    INFER_TRY(read_type(&elem, "array element type"));
    if (elem == ValueType::ARRAY && depth >= kMaxArrayNesting) {
        return fail(INFER_ERR_GGUF_LIMIT, type_at, "arrays nested deeper than %" PRIu32 " levels",
                    kMaxArrayNesting);
    }
    const uint64_t count_at = pos_;
    uint64_t count = 0;
    INFER_TRY(read(&count, "array count"));
    uint64_t need = 0;
    const bool representable = checked_mul(count, min_value_size(elem), &need);
    char what[64];
    std::snprintf(what, sizeof what, "array count %" PRIu64 " of %s", count, value_type_name(elem));
    INFER_TRY(claim(count_at, representable, need, what));
    out->elem_type_ = elem;
    out->count_ = count;

    if (elem == ValueType::STRING) {
        out->strings_.reserve(count); // claimed: at least 8 bytes each
        for (uint64_t i = 0; i < count; ++i) {
            Value element;
            INFER_TRY(parse_value(ValueType::STRING, depth, &element));
            out->strings_.push_back(element.string_);
        }
        return Status::ok();
    }
    if (elem == ValueType::ARRAY) {
        out->nested_.resize(count); // claimed: at least 12 bytes each
        for (Value &element : out->nested_) {
            element.type_ = ValueType::ARRAY;
            INFER_TRY(parse_array(depth + 1, &element));
        }
        return Status::ok();
    }
    // Fixed-size scalars stay in the image; the claim covered all of them.
    out->array_data_ = image_.data() + pos_;
    if (elem == ValueType::BOOL) {
        for (uint64_t i = 0; i < count; ++i) {
            if (out->array_data_[i] > 1) {
                return fail(INFER_ERR_GGUF_BAD_VALUE_TYPE, pos_ + i,
                            "bool array element %" PRIu64 " is %u, neither 0 nor 1", i, out->array_data_[i]);
            }
        }
    }
    pos_ += need;
    return Status::ok();
}

Status Parser::check_duplicate_keys() {
    auto &index = file_->key_index_;
    index.reserve(file_->kvs_.size());
    for (uint32_t i = 0; i < file_->kvs_.size(); ++i) index.emplace_back(file_->kvs_[i].key, i);
    std::sort(index.begin(), index.end()); // ties by position, so the later copy comes second
    for (size_t i = 1; i < index.size(); ++i) {
        if (index[i].first == index[i - 1].first) {
            where_ = "metadata key '";
            where_.append(index[i].first).append("'");
            return fail(INFER_ERR_GGUF_DUPLICATE, key_pos_[index[i].second],
                        "duplicate key (first at byte %" PRIu64 ")", key_pos_[index[i - 1].second]);
        }
    }
    return Status::ok();
}

Status Parser::apply_alignment() {
    const auto &kvs = file_->kvs_;
    const auto it = std::find_if(kvs.begin(), kvs.end(), [](const KeyValue &kv) { return kv.key == kAlignmentKey; });
    if (it == kvs.end()) return Status::ok();
    const Value *value = &it->value;
    const uint64_t at = key_pos_[static_cast<size_t>(it - kvs.begin())];
    where_ = "metadata key 'general.alignment'";
    if (value->type() != ValueType::U32) {
        return fail(INFER_ERR_GGUF_BAD_ALIGNMENT, at, "type is %s, must be u32", value_type_name(value->type()));
    }
    const uint64_t alignment = value->scalar_bits_; // a u32, zero-extended
    if (!std::has_single_bit(alignment)) {
        return fail(INFER_ERR_GGUF_BAD_ALIGNMENT, at, "%" PRIu64 " is not a nonzero power of two", alignment);
    }
    file_->alignment_ = static_cast<uint32_t>(alignment);
    return Status::ok();
}

Status Parser::parse_tensor_info(uint64_t index) {
    where_ = "tensor info #" + std::to_string(index);
    const uint64_t info_at = pos_;
    TensorInfo t;
    INFER_TRY(read_name(&t.name, "tensor name"));
    where_ = "tensor '";
    where_.append(t.name).append("'");

    const uint64_t rank_at = pos_;
    INFER_TRY(read(&t.n_dims, "rank"));
    if (t.n_dims == 0 || t.n_dims > kMaxDims) {
        return fail(INFER_ERR_GGUF_BAD_SHAPE, rank_at, "rank %" PRIu32 " is outside 1..%" PRIu32, t.n_dims, kMaxDims);
    }
    const uint64_t dims_at = pos_;
    INFER_TRY(read_bytes(t.dims, t.n_dims * sizeof(uint64_t), "dimensions"));
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < t.n_dims; ++d) {
        if (t.dims[d] == 0) return fail(INFER_ERR_GGUF_BAD_SHAPE, dims_at + 8 * d, "dimension %" PRIu32 " is 0", d);
        if (!checked_mul(n_elements, t.dims[d], &n_elements) || n_elements > uint64_t{INT64_MAX}) {
            return fail(INFER_ERR_GGUF_BAD_SHAPE, dims_at,
                        "element count overflows (dimension %" PRIu32 " is %" PRIu64 ")", d, t.dims[d]);
        }
    }
    t.n_elements = n_elements;

    const uint64_t type_at = pos_;
    INFER_TRY(read(&t.type, "tensor type"));
    const TypeTraits *traits = type_traits(t.type);
    if (traits == nullptr) {
        return fail(INFER_ERR_GGUF_BAD_TENSOR_TYPE, type_at, "type id %" PRIu32 " is unknown or retired", t.type);
    }
    uint64_t row_bytes = 0;
    if (!type_row_bytes(t.type, t.dims[0], &row_bytes)) {
        return fail(INFER_ERR_GGUF_BAD_SHAPE, dims_at,
                    "dimension 0 (%" PRIu64 ") is not a whole number of %s blocks of %" PRIu32 " elements", t.dims[0],
                    traits->name, traits->block_elems);
    }
    if (!checked_mul(row_bytes, n_elements / t.dims[0], &t.n_bytes)) {
        return fail(INFER_ERR_GGUF_BAD_SHAPE, dims_at, "byte size overflows");
    }

    const uint64_t offset_at = pos_;
    INFER_TRY(read(&t.offset, "data offset"));
    if (t.offset % file_->alignment_ != 0) {
        return fail(INFER_ERR_GGUF_BAD_ALIGNMENT, offset_at,
                    "data offset %" PRIu64 " is not a multiple of the alignment %" PRIu32, t.offset, file_->alignment_);
    }
    file_->tensors_.push_back(t);
    tensor_pos_.push_back(info_at);
    offset_pos_.push_back(offset_at);
    return Status::ok();
}

Status Parser::check_duplicate_tensors() {
    auto &index = file_->tensor_index_;
    index.reserve(file_->tensors_.size());
    for (uint32_t i = 0; i < file_->tensors_.size(); ++i) index.emplace_back(file_->tensors_[i].name, i);
    std::sort(index.begin(), index.end());
    for (size_t i = 1; i < index.size(); ++i) {
        if (index[i].first == index[i - 1].first) {
            where_ = "tensor '";
            where_.append(index[i].first).append("'");
            return fail(INFER_ERR_GGUF_DUPLICATE, tensor_pos_[index[i].second],
                        "duplicate tensor name (first at byte %" PRIu64 ")", tensor_pos_[index[i - 1].second]);
        }
    }
    return Status::ok();
}

Status Parser::check_tensor_bounds() {
    for (size_t i = 0; i < file_->tensors_.size(); ++i) {
        const TensorInfo &t = file_->tensors_[i];
        where_ = "tensor '";
        where_.append(t.name).append("'");
        uint64_t begin = 0, end = 0;
        if (!checked_add(file_->data_offset_, t.offset, &begin) || !checked_add(begin, t.n_bytes, &end)) {
            return fail(INFER_ERR_GGUF_OUT_OF_BOUNDS, offset_pos_[i],
                        "data offset %" PRIu64 " + %" PRIu64 " bytes overflows", t.offset, t.n_bytes);
        }
        if (end > image_.size()) {
            return fail(INFER_ERR_GGUF_OUT_OF_BOUNDS, offset_pos_[i],
                        "data [%" PRIu64 ", %" PRIu64 ") ends past the file end (%zu bytes)", begin, end,
                        image_.size());
        }
    }
    return Status::ok();
}

// Sorted by offset, two tensors overlap exactly when one ends past the start of the next.
Status Parser::check_tensor_overlaps() {
    const auto &tensors = file_->tensors_;
    std::vector<uint32_t> order(tensors.size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&tensors](uint32_t a, uint32_t b) {
        return tensors[a].offset != tensors[b].offset ? tensors[a].offset < tensors[b].offset : a < b;
    });
    for (size_t i = 1; i < order.size(); ++i) {
        const TensorInfo &prev = tensors[order[i - 1]];
        const TensorInfo &cur = tensors[order[i]];
        const uint64_t prev_end = prev.offset + prev.n_bytes; // bounds-checked already
        if (prev_end > cur.offset) {
            where_ = "tensor '";
            where_.append(cur.name).append("'");
            const uint64_t base = file_->data_offset_;
            return fail(INFER_ERR_GGUF_OVERLAP, offset_pos_[order[i]],
                        "data [%" PRIu64 ", %" PRIu64 ") overlaps tensor '%.*s' at [%" PRIu64 ", %" PRIu64 ")",
                        base + cur.offset, base + cur.offset + cur.n_bytes, static_cast<int>(prev.name.size()),
                        prev.name.data(), base + prev.offset, base + prev_end);
        }
    }
    return Status::ok();
}

Status Parser::run() {
    file_->image_ = image_;
    uint64_t n_tensors = 0, n_kv = 0;
    INFER_TRY(parse_header(&n_tensors, &n_kv));

    // Both counts were claimed against the remaining bytes, so these reservations are bounded.
    file_->kvs_.reserve(n_kv);
    key_pos_.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) INFER_TRY(parse_kv(i));
    INFER_TRY(check_duplicate_keys());
    INFER_TRY(apply_alignment());
    INFER_TRY(report(kProgressAfterKvs));

    file_->tensors_.reserve(n_tensors);
    tensor_pos_.reserve(n_tensors);
    offset_pos_.reserve(n_tensors);
    const uint64_t report_every = std::max<uint64_t>(1, (n_tensors + 15) / 16); // <= 16 reports
    for (uint64_t i = 0; i < n_tensors; ++i) {
        INFER_TRY(parse_tensor_info(i));
        if ((i + 1) % report_every == 0) {
            const float done = static_cast<float>(i + 1) / static_cast<float>(n_tensors);
            INFER_TRY(report(kProgressAfterKvs + (kProgressAfterInfos - kProgressAfterKvs) * done));
        }
    }

    // pos_ <= image size and the alignment is at most 2^31, so this cannot overflow.
    if (!checked_align_up(pos_, file_->alignment_, &file_->data_offset_)) {
        return make_error(INFER_ERR_INTERNAL, "data offset overflow after a bounded header");
    }
    INFER_TRY(check_duplicate_tensors());
    INFER_TRY(check_tensor_bounds());
    INFER_TRY(check_tensor_overlaps());
    return report(1.0f);
}

Status File::parse(std::span<const uint8_t> image, const ProgressFn &progress, std::unique_ptr<File> *out) {
    if (out == nullptr) return make_error(INFER_ERR_INVALID_ARGUMENT, "File::parse: out is null");
    if (image.data() == nullptr && !image.empty()) {
        return make_error(INFER_ERR_INVALID_ARGUMENT, "File::parse: null image of nonzero size");
    }
    // Vector growth and a caller's progress callback are the only things that can throw here.
    try {
        auto file = std::make_unique<File>();
        Parser parser(image, progress, file.get());
        INFER_TRY(parser.run());
        *out = std::move(file);
        return Status::ok();
    } catch (const std::bad_alloc &) {
        return Status(INFER_ERR_OUT_OF_MEMORY, "out of memory parsing GGUF");
    } catch (...) {
        return Status(INFER_ERR_INTERNAL, "exception thrown while parsing GGUF");
    }
}

const Value *File::find(std::string_view key) const {
    const auto it = std::lower_bound(key_index_.begin(), key_index_.end(), key,
                                     [](const auto &entry, std::string_view k) { return entry.first < k; });
    if (it == key_index_.end() || it->first != key) return nullptr;
    return &kvs_[it->second].value;
}

const TensorInfo *File::find_tensor(std::string_view name) const {
    const auto it = std::lower_bound(tensor_index_.begin(), tensor_index_.end(), name,
                                     [](const auto &entry, std::string_view k) { return entry.first < k; });
    if (it == tensor_index_.end() || it->first != name) return nullptr;
    return &tensors_[it->second];
}

} // namespace infer::gguf
