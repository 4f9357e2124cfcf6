// Metadata lookup: keys by index, types, scalar and array element getters, text rendering.
#include "api/api_model.h"
#include "api/api_util.h"
#include "gguf/gguf_format.h"

using infer::api::fail;
using infer::api::guarded;
using infer::gguf::Value;
using infer::gguf::ValueType;

namespace {

// Finds `key` or records why not; *out is set only on INFER_OK.
infer_status find_value(const infer_model *model, const char *key, const Value **out) {
    if (!model || !key) return fail(INFER_ERR_INVALID_ARGUMENT, "model or key is NULL");
    const Value *value = model->model->gguf().find(key);
    if (!value) return fail(INFER_ERR_NOT_FOUND, "no metadata key '%s'", infer::excerpt(key).c_str());
    *out = value;
    return INFER_OK;
}

infer_status find_array_element(const infer_model *model, const char *key, uint64_t index,
                                const Value **out) {
    if (infer_status s = find_value(model, key, out)) return s;
    const Value &v = **out;
    if (v.type() != ValueType::ARRAY)
        return fail(INFER_ERR_TYPE_MISMATCH, "metadata '%s' is a %s, not an array",
                    infer::excerpt(key).c_str(),
                    infer::gguf::value_type_name(v.type()));
    if (index >= v.array_size())
        return fail(INFER_ERR_NOT_FOUND, "index %llu out of range for '%s' (%llu elements)",
                    static_cast<unsigned long long>(index), infer::excerpt(key).c_str(),
                    static_cast<unsigned long long>(v.array_size()));
    if (v.elem_type() == ValueType::ARRAY)
        return fail(INFER_ERR_TYPE_MISMATCH, "metadata '%s' is a nested array",
                    infer::excerpt(key).c_str());
    return INFER_OK;
}

infer_status mismatch(const char *key, const Value &v, const char *wanted) {
    const ValueType shown = v.type() == ValueType::ARRAY ? v.elem_type() : v.type();
    return fail(INFER_ERR_TYPE_MISMATCH, "metadata '%s' holds %s%s, which does not read as %s",
                infer::excerpt(key).c_str(), v.type() == ValueType::ARRAY ? "an array of " : "",
                infer::gguf::value_type_name(shown), wanted);
}

} // namespace

extern "C" {

infer_status infer_model_meta_key(const infer_model *model, uint64_t index, const char **out_key) {
    return guarded(__func__, [&]() -> infer_status {
        if (!model || !out_key) return fail(INFER_ERR_INVALID_ARGUMENT, "model or out_key is NULL");
        const size_t n = model->model->gguf().metadata().size();
        if (index >= n)
            return fail(INFER_ERR_NOT_FOUND, "metadata index %llu out of range (%zu keys)",
                        static_cast<unsigned long long>(index), n);
        *out_key = model->model->key_cstr(index);
        return INFER_OK;
    });
}

infer_status infer_model_meta_type(const infer_model *model, const char *key, int32_t *out_type,
                                   int32_t *out_elem_type, uint64_t *out_count) {
    return guarded(__func__, [&]() -> infer_status {
        const Value *v = nullptr;
        if (infer_status s = find_value(model, key, &v)) return s;
        const bool array = v->type() == ValueType::ARRAY;
        if (out_type) *out_type = static_cast<int32_t>(v->type());
        if (out_elem_type) *out_elem_type = array ? static_cast<int32_t>(v->elem_type()) : -1;
        if (out_count) *out_count = array ? v->array_size() : 1;
        return INFER_OK;
    });
}

infer_status infer_model_meta_int(const infer_model *model, const char *key, int64_t *out_value) {
    return guarded(__func__, [&]() -> infer_status {
        const Value *v = nullptr;
        if (!out_value) return fail(INFER_ERR_INVALID_ARGUMENT, "out_value is NULL");
        if (infer_status s = find_value(model, key, &v)) return s;
        if (!v->get_int(out_value)) return mismatch(key, *v, "an integer");
        return INFER_OK;
    });
}

infer_status infer_model_meta_float(const infer_model *model, const char *key, double *out_value) {
    return guarded(__func__, [&]() -> infer_status {
        const Value *v = nullptr;
        if (!out_value) return fail(INFER_ERR_INVALID_ARGUMENT, "out_value is NULL");
        if (infer_status s = find_value(model, key, &v)) return s;
        if (!v->get_float(out_value)) return mismatch(key, *v, "a number");
        return INFER_OK;
    });
}

infer_status infer_model_meta_string(const infer_model *model, const char *key, char *buf,
                                     size_t capacity, size_t *out_length) {
    return guarded(__func__, [&]() -> infer_status {
        const Value *v = nullptr;
        if (infer_status s = find_value(model, key, &v)) return s;
        std::string_view text;
        if (!v->get_string(&text)) return mismatch(key, *v, "a string");
        return infer::api::copy_text(text, buf, capacity, out_length);
    });
}

infer_status infer_model_meta_array_int(const infer_model *model, const char *key, uint64_t index,
                                        int64_t *out_value) {
    return guarded(__func__, [&]() -> infer_status {
        const Value *v = nullptr;
        if (!out_value) return fail(INFER_ERR_INVALID_ARGUMENT, "out_value is NULL");
        if (infer_status s = find_array_element(model, key, index, &v)) return s;
        if (!v->array_int(index, out_value)) return mismatch(key, *v, "an integer");
        return INFER_OK;
    });
}

infer_status infer_model_meta_array_float(const infer_model *model, const char *key,
                                          uint64_t index, double *out_value) {
    return guarded(__func__, [&]() -> infer_status {
        const Value *v = nullptr;
        if (!out_value) return fail(INFER_ERR_INVALID_ARGUMENT, "out_value is NULL");
        if (infer_status s = find_array_element(model, key, index, &v)) return s;
        if (!v->array_float(index, out_value)) return mismatch(key, *v, "a number");
        return INFER_OK;
    });
}

infer_status infer_model_meta_array_string(const infer_model *model, const char *key,
                                           uint64_t index, char *buf, size_t capacity,
                                           size_t *out_length) {
    return guarded(__func__, [&]() -> infer_status {
        const Value *v = nullptr;
        if (infer_status s = find_array_element(model, key, index, &v)) return s;
        std::string_view text;
        if (!v->array_string(index, &text)) return mismatch(key, *v, "a string");
        return infer::api::copy_text(text, buf, capacity, out_length);
    });
}

infer_status infer_model_meta_format(const infer_model *model, const char *key,
                                     uint64_t max_array_elems, char *buf, size_t capacity,
                                     size_t *out_length) {
    return guarded(__func__, [&]() -> infer_status {
        const Value *v = nullptr;
        if (infer_status s = find_value(model, key, &v)) return s;
        return infer::api::copy_text(infer::gguf::format_value(*v, max_array_elems), buf,
                                     capacity, out_length);
    });
}

} // extern "C"
