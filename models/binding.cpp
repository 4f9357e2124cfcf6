#include "models/binding.h"

#include "core/types.h"

#include <cinttypes>

namespace infer::models {

Status MetaReader::count(const char *suffix, int64_t *out, bool required) const {
    const std::string k = key(suffix);
    const gguf::Value *v = file_.find(k);
    if (!v) {
        if (required) return make_error(INFER_ERR_MODEL_BAD_HPARAM, "missing metadata '%s'", k.c_str());
        return Status::ok();
    }
    int64_t value = 0;
    if (!v->get_int(&value))
        return make_error(INFER_ERR_MODEL_BAD_HPARAM, "metadata '%s' is not an integer", k.c_str());
    if (value < 0 || value > (int64_t{1} << 40))
        return make_error(INFER_ERR_MODEL_BAD_HPARAM, "metadata '%s' = %" PRId64 " is out of range",
                          k.c_str(), value);
    *out = value;
    return Status::ok();
}

Status MetaReader::uniform_count(const char *suffix, int64_t *out, bool required) const {
    const std::string k = key(suffix);
    const gguf::Value *v = file_.find(k);
    if (!v || v->type() != gguf::ValueType::ARRAY) return count(suffix, out, required);
    int64_t first = 0;
    for (uint64_t i = 0; i < v->array_size(); ++i) {
        int64_t value = 0;
        if (!v->array_int(i, &value))
            return make_error(INFER_ERR_MODEL_BAD_HPARAM, "metadata '%s' is not an integer array",
                              k.c_str());
        if (i == 0) first = value;
        if (value != first)
            return make_error(INFER_ERR_MODEL_BAD_HPARAM,
                              "metadata '%s' varies per layer, which is not supported", k.c_str());
    }
    if (v->array_size() == 0)
        return make_error(INFER_ERR_MODEL_BAD_HPARAM, "metadata '%s' is an empty array", k.c_str());
    *out = first;
    return Status::ok();
}

Status MetaReader::number(const char *suffix, float *out, bool required) const {
    const std::string k = key(suffix);
    const gguf::Value *v = file_.find(k);
    if (!v) {
        if (required) return make_error(INFER_ERR_MODEL_BAD_HPARAM, "missing metadata '%s'", k.c_str());
        return Status::ok();
    }
    double value = 0;
    if (!v->get_float(&value))
        return make_error(INFER_ERR_MODEL_BAD_HPARAM, "metadata '%s' is not a number", k.c_str());
    *out = static_cast<float>(value);
    return Status::ok();
}

Status MetaReader::text(const char *suffix, std::string *out, bool required) const {
    const std::string k = key(suffix);
    const gguf::Value *v = file_.find(k);
    if (!v) {
        if (required) return make_error(INFER_ERR_MODEL_BAD_HPARAM, "missing metadata '%s'", k.c_str());
        return Status::ok();
    }
    std::string_view s;
    if (!v->get_string(&s))
        return make_error(INFER_ERR_MODEL_BAD_HPARAM, "metadata '%s' is not a string", k.c_str());
    out->assign(s);
    return Status::ok();
}

Status bind_tensor(const gguf::File &file, const std::string &name,
                   std::initializer_list<int64_t> dims, bool required, graph::WeightRef *out) {
    const gguf::TensorInfo *t = file.find_tensor(name);
    if (!t) {
        if (required)
            return make_error(INFER_ERR_MODEL_MISSING_TENSOR, "tensor '%s' is missing", name.c_str());
        *out = {};
        return Status::ok();
    }
    // Expected dims, padded with 1s, against the file's (also padded with 1s).
    int64_t want[gguf::kMaxDims] = {1, 1, 1, 1};
    size_t d = 0;
    for (int64_t dim : dims) want[d++] = dim;
    for (size_t i = 0; i < gguf::kMaxDims; ++i) {
        if (static_cast<int64_t>(t->dims[i]) != want[i])
            return make_error(INFER_ERR_MODEL_TENSOR_SHAPE,
                              "tensor '%s' has shape [%" PRIu64 ", %" PRIu64 ", %" PRIu64
                              ", %" PRIu64 "], expected [%" PRId64 ", %" PRId64 ", %" PRId64
                              ", %" PRId64 "]",
                              name.c_str(), t->dims[0], t->dims[1], t->dims[2], t->dims[3],
                              want[0], want[1], want[2], want[3]);
    }
    graph::WeightRef w;
    w.name = t->name;
    w.type = t->type;
    for (size_t i = 0; i < gguf::kMaxDims; ++i) w.ne[i] = static_cast<int64_t>(t->dims[i]);
    w.data = file.tensor_data(*t);
    w.n_bytes = t->n_bytes;
    if (!type_row_bytes(t->type, t->dims[0], &w.row_bytes))
        return make_error(INFER_ERR_MODEL_TENSOR_TYPE, "tensor '%s': rows of type %u are invalid",
                          name.c_str(), t->type);
    *out = w;
    return Status::ok();
}

std::string layer_tensor(int64_t layer, const char *suffix, const char *kind) {
    return "blk." + std::to_string(layer) + "." + suffix + "." + kind;
}

} // namespace infer::models
