// Model load/free, model info, tensor listing.
#include "api/api_model.h"
#include "api/api_util.h"
#include "core/types.h"

#include <cstddef>
#include <cstring>

using infer::api::fail;
using infer::api::guarded;

namespace {

// Whether a caller's struct (built against some version of infer.h) has the field at `offset`.
bool has_field(const infer_model_params *params, size_t offset, size_t size) {
    return params->size >= offset + size;
}

infer::Model::LoadOptions options_of(const infer_model_params *params) {
    infer::Model::LoadOptions options;
    if (!params) return options;
    options.inspect_only = params->inspect_only != 0;
    options.backend = params->backend;
    options.device = params->device;
    options.device_memory_budget = params->device_memory_budget;
    // A newer field: a caller built against an older header passes a size that ends before it.
    if (has_field(params, offsetof(infer_model_params, read_into_memory), sizeof params->read_into_memory))
        options.read_into_memory = params->read_into_memory != 0;
    if (has_field(params, offsetof(infer_model_params, n_overrides), sizeof params->n_overrides)) {
        options.n_gpu_layers = params->n_gpu_layers;
        for (int32_t i = 0; i < params->n_overrides; ++i)
            options.overrides.push_back({params->overrides[i].pattern, params->overrides[i].backend});
    }
    if (has_field(params, offsetof(infer_model_params, calibration_text), sizeof params->calibration_text)) {
        options.experts_by_popularity = params->expert_placement == INFER_EXPERTS_BY_POPULARITY;
        if (params->expert_stats_path) options.expert_stats_path = params->expert_stats_path;
        if (params->calibration_text) options.calibration_text = params->calibration_text;
    }
    if (has_field(params, offsetof(infer_model_params, cpu_weights), sizeof params->cpu_weights))
        options.cpu_repack = params->cpu_weights == INFER_CPU_WEIGHTS_REPACK;
    if (infer_progress_fn fn = params->progress) {
        void *user_data = params->progress_user_data;
        options.progress = [fn, user_data](float progress) { return fn(progress, user_data) != 0; };
    }
    return options;
}

infer_status check_params(const infer_model_params *params) {
    // The struct ended at read_into_memory's offset before that field was added.
    if (params && !infer::api::struct_size_ok(params->size, offsetof(infer_model_params, read_into_memory)))
        return fail(INFER_ERR_INVALID_ARGUMENT,
                    "infer_model_params.size is %u: prepare the struct with infer_model_params_init",
                    params->size);
    if (params && params->backend != INFER_BACKEND_CPU && params->backend != INFER_BACKEND_CUDA &&
        params->backend != INFER_BACKEND_VULKAN)
        return fail(INFER_ERR_INVALID_ARGUMENT,
                    "infer_model_params.backend %d is not a backend (CPU 0, CUDA 1, Vulkan 2)",
                    params->backend);
    if (params && has_field(params, offsetof(infer_model_params, n_overrides), sizeof params->n_overrides)) {
        if (params->n_gpu_layers < INFER_GPU_LAYERS_AUTO)
            return fail(INFER_ERR_INVALID_ARGUMENT,
                        "infer_model_params.n_gpu_layers %d is out of range: a count, "
                        "INFER_GPU_LAYERS_ALL (-1) or INFER_GPU_LAYERS_AUTO (-2)",
                        params->n_gpu_layers);
        if (params->n_overrides < 0 || (params->n_overrides > 0 && !params->overrides))
            return fail(INFER_ERR_INVALID_ARGUMENT,
                        "infer_model_params: %d overrides at %p", params->n_overrides,
                        static_cast<const void *>(params->overrides));
        for (int32_t i = 0; i < params->n_overrides; ++i)
            if (!params->overrides[i].pattern)
                return fail(INFER_ERR_INVALID_ARGUMENT, "infer_model_params.overrides[%d].pattern is NULL", i);
    }
    if (params &&
        has_field(params, offsetof(infer_model_params, calibration_text), sizeof params->calibration_text) &&
        params->expert_placement != INFER_EXPERTS_BY_LAYER &&
        params->expert_placement != INFER_EXPERTS_BY_POPULARITY)
        return fail(INFER_ERR_INVALID_ARGUMENT,
                    "infer_model_params.expert_placement %d is not INFER_EXPERTS_BY_LAYER (0) or "
                    "INFER_EXPERTS_BY_POPULARITY (1)",
                    params->expert_placement);
    if (params &&
        has_field(params, offsetof(infer_model_params, cpu_weights), sizeof params->cpu_weights) &&
        params->cpu_weights != INFER_CPU_WEIGHTS_REPACK &&
        params->cpu_weights != INFER_CPU_WEIGHTS_IN_PLACE)
        return fail(INFER_ERR_INVALID_ARGUMENT,
                    "infer_model_params.cpu_weights %d is not INFER_CPU_WEIGHTS_REPACK (0) or "
                    "INFER_CPU_WEIGHTS_IN_PLACE (1)",
                    params->cpu_weights);
    if (params && params->device < 0)
        return fail(INFER_ERR_INVALID_ARGUMENT, "infer_model_params.device %d is negative",
                    params->device);
    return INFER_OK;
}

infer_status wrap(std::unique_ptr<infer::Model> model, infer_model **out_model) {
    *out_model = new infer_model{std::move(model)};
    return INFER_OK;
}

} // namespace

extern "C" {

void infer_model_params_init(infer_model_params *params) {
    if (!params) return;
    std::memset(params, 0, sizeof *params);
    params->size = sizeof *params;
    params->n_gpu_layers = INFER_GPU_LAYERS_ALL;
}

infer_status infer_model_load_file(const char *path, const infer_model_params *params,
                                   infer_model **out_model) {
    return guarded(__func__, [&]() -> infer_status {
        if (!out_model) return fail(INFER_ERR_INVALID_ARGUMENT, "out_model is NULL");
        *out_model = nullptr;
        if (!path) return fail(INFER_ERR_INVALID_ARGUMENT, "path is NULL");
        if (infer_status s = check_params(params)) return s;
        std::unique_ptr<infer::Model> model;
        infer::Status status = infer::Model::load_file(path, options_of(params), &model);
        if (!status.is_ok()) return fail(status);
        return wrap(std::move(model), out_model);
    });
}

infer_status infer_model_load_memory(const void *data, size_t size,
                                     const infer_model_params *params, infer_model **out_model) {
    return guarded(__func__, [&]() -> infer_status {
        if (!out_model) return fail(INFER_ERR_INVALID_ARGUMENT, "out_model is NULL");
        *out_model = nullptr;
        if (!data && size > 0) return fail(INFER_ERR_INVALID_ARGUMENT, "data is NULL");
        if (infer_status s = check_params(params)) return s;
        std::unique_ptr<infer::Model> model;
        const std::span<const uint8_t> image(static_cast<const uint8_t *>(data), size);
        infer::Status status = infer::Model::load_memory(image, options_of(params), &model);
        if (!status.is_ok()) return fail(status);
        return wrap(std::move(model), out_model);
    });
}

void infer_model_free(infer_model *model) { delete model; }

void infer_model_info_init(infer_model_info *info) {
    if (!info) return;
    std::memset(info, 0, sizeof *info);
    info->size = sizeof *info;
}

infer_status infer_model_get_info(const infer_model *model, infer_model_info *info) {
    return guarded(__func__, [&]() -> infer_status {
        if (!model || !info) return fail(INFER_ERR_INVALID_ARGUMENT, "model or info is NULL");
        // Callers built before cpu_repacked_bytes pass a struct that ends at n_expert_used.
        if (!infer::api::struct_size_ok(info->size, offsetof(infer_model_info, cpu_repacked_bytes)))
            return fail(INFER_ERR_INVALID_ARGUMENT,
                        "infer_model_info.size is %u: prepare it with infer_model_info_init",
                        info->size);
        const infer::Model &m = *model->model;
        const infer::gguf::File &file = m.gguf();
        info->gguf_version = file.version();
        info->architecture = m.architecture().c_str();
        info->name = m.name().c_str();
        info->n_metadata = file.metadata().size();
        info->n_tensors = file.tensors().size();
        info->n_elements = m.n_elements();
        info->tensor_data_bytes = m.tensor_data_bytes();
        info->file_size = file.image().size();
        info->data_offset = file.data_offset();
        info->alignment = file.alignment();
        info->n_expert = static_cast<uint32_t>(m.hparams().n_expert());
        info->n_expert_used = static_cast<uint32_t>(m.hparams().n_expert_used());
        if (info->size >= sizeof *info) {
            info->cpu_repacked_bytes = m.host_copies().bytes();
            info->cpu_repacked_weights = static_cast<uint32_t>(m.host_copies().count());
        }
        return INFER_OK;
    });
}

void infer_tensor_info_init(infer_tensor_info *info) {
    if (!info) return;
    std::memset(info, 0, sizeof *info);
    info->size = sizeof *info;
}

infer_status infer_model_tensor_info(const infer_model *model, uint64_t index,
                                     infer_tensor_info *info) {
    return guarded(__func__, [&]() -> infer_status {
        if (!model || !info) return fail(INFER_ERR_INVALID_ARGUMENT, "model or info is NULL");
        if (!infer::api::struct_size_ok(info->size, sizeof *info))
            return fail(INFER_ERR_INVALID_ARGUMENT,
                        "infer_tensor_info.size is %u: prepare it with infer_tensor_info_init",
                        info->size);
        const infer::gguf::File &file = model->model->gguf();
        if (index >= file.tensors().size())
            return fail(INFER_ERR_NOT_FOUND, "tensor index %llu out of range (%zu tensors)",
                        static_cast<unsigned long long>(index), file.tensors().size());
        const infer::gguf::TensorInfo &t = file.tensors()[index];
        info->type = t.type;
        info->name = model->model->tensor_name_cstr(index);
        info->n_dims = t.n_dims;
        for (uint32_t d = 0; d < INFER_MAX_DIMS; ++d) info->dims[d] = t.dims[d];
        info->n_elements = t.n_elements;
        info->n_bytes = t.n_bytes;
        info->offset = file.data_offset() + t.offset;
        return INFER_OK;
    });
}

infer_status infer_model_find_tensor(const infer_model *model, const char *name,
                                     uint64_t *out_index) {
    return guarded(__func__, [&]() -> infer_status {
        if (!model || !name || !out_index)
            return fail(INFER_ERR_INVALID_ARGUMENT, "model, name or out_index is NULL");
        const infer::gguf::File &file = model->model->gguf();
        const infer::gguf::TensorInfo *t = file.find_tensor(name);
        if (!t)
            return fail(INFER_ERR_NOT_FOUND, "no tensor named '%s'", infer::excerpt(name).c_str());
        *out_index = static_cast<uint64_t>(t - file.tensors().data());
        return INFER_OK;
    });
}

const char *infer_type_name(uint32_t type) {
    const infer::TypeTraits *traits = infer::type_traits(type);
    return traits ? traits->name : nullptr;
}

} // extern "C"
