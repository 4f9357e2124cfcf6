#include "runtime/model.h"

#include "runtime/expert_calibration.h"

#include "core/log.h"
#include "runtime/backend_registry.h"
#include "runtime/kv_cache.h"

namespace infer {
namespace {

// general.* strings are optional, but when present they must be strings.
Status read_optional_string(const gguf::File &file, const char *key, std::string *out) {
    const gguf::Value *value = file.find(key);
    if (!value) return Status::ok();
    std::string_view text;
    if (!value->get_string(&text))
        return make_error(INFER_ERR_TYPE_MISMATCH, "metadata '%s' is not a string", key);
    out->assign(text);
    return Status::ok();
}

} // namespace

Status Model::load_file(const char *path, const LoadOptions &options,
                        std::unique_ptr<Model> *out) {
    auto model = std::unique_ptr<Model>(new Model());
    if (!options.read_into_memory) {
        INFER_TRY(gguf::MappedFile::open(path, &model->mapping_));
        const std::span<const uint8_t> image = model->mapping_->bytes();
        return finish_load(std::move(model), image, options, out);
    }
    // Reading is the slow part of such a load: it reports the first half of the progress.
    gguf::ProgressFn read_progress;
    LoadOptions rest = options;
    if (options.progress) {
        read_progress = [&options](float p) { return options.progress(0.5f * p); };
        rest.progress = [&options](float p) { return options.progress(0.5f + 0.5f * p); };
    }
    INFER_TRY(gguf::MappedFile::read(path, read_progress, &model->mapping_));
    const std::span<const uint8_t> image = model->mapping_->bytes();
    return finish_load(std::move(model), image, rest, out);
}

Status Model::load_memory(std::span<const uint8_t> image, const LoadOptions &options,
                          std::unique_ptr<Model> *out) {
    return finish_load(std::unique_ptr<Model>(new Model()), image, options, out);
}

Status Model::bind_architecture() {
    if (architecture_.empty())
        return make_error(INFER_ERR_MODEL_UNKNOWN_ARCH,
                          "the file has no general.architecture; supported: %s",
                          models::supported_architectures().c_str());
    arch_ = models::find_architecture(architecture_);
    if (!arch_)
        return make_error(INFER_ERR_MODEL_UNKNOWN_ARCH,
                          "architecture '%s' is not supported; supported: %s",
                          excerpt(architecture_).c_str(),
                          models::supported_architectures().c_str());
    INFER_TRY(arch_->bind(*file_, &hparams_, &weights_));
    // Refuse at load, not at first use, a tensor type the CPU backend cannot compute with: every
    // node may fall back to it.
    const graph::Graph one_token = arch_->build(hparams_, weights_, 1, false);
    const BackendEntry &cpu = cpu_backend_entry();
    for (const graph::Node &node : one_token.nodes) INFER_TRY(cpu.supports(node, one_token));
    return Status::ok();
}

namespace {

// Bytes a default context needs on the device besides its KV cache (activations, workspaces),
// which "auto" leaves free: generous, since running out at context creation is the worse error.
constexpr uint64_t kAutoContextReserve = uint64_t{256} << 20;

const char *backend_name(int32_t id) {
    switch (id) {
    case INFER_BACKEND_CPU: return "CPU";
    case INFER_BACKEND_CUDA: return "CUDA";
    case INFER_BACKEND_VULKAN: return "Vulkan";
    default: return "an unknown backend";
    }
}

} // namespace

Status Model::place_and_upload(const LoadOptions &options) {
    // Every weight any graph of this model reads: the one-token graph with all logits names them.
    const graph::Graph one_token = arch_->build(hparams_, weights_, 1, true);
    PlacementRequest request;
    request.n_gpu_layers = options.n_gpu_layers;
    request.overrides = options.overrides;
    if (options.backend != INFER_BACKEND_CPU) {
        request.device = find_backend(options.backend);
        if (!request.device)
            return make_error(INFER_ERR_UNSUPPORTED, "this libinfer was built without %s",
                              backend_name(options.backend));
        if (!request.device->make_backend || !request.device->upload_weights)
            return make_error(INFER_ERR_UNSUPPORTED, "the %s backend cannot run models yet",
                              request.device->name);
        std::string why;
        const int32_t count = request.device->device_count(&why);
        if (count == 0) return make_error(INFER_ERR_UNSUPPORTED, "%s", why.c_str());
        if (options.device < 0 || options.device >= count)
            return make_error(INFER_ERR_INVALID_ARGUMENT, "%s device %d does not exist (%d found)",
                              request.device->name, options.device, count);
        request.budget = options.device_memory_budget;
        if (request.budget == 0 &&
            (options.n_gpu_layers == kAutoLayers || options.experts_by_popularity) &&
            request.device->memory_info) {
            uint64_t total = 0;
            INFER_TRY(request.device->memory_info(options.device, &request.budget, &total));
        }
        request.reserve = kAutoContextReserve;
        // Each device layer reserves the largest layer's F16 cache of up to 4096 positions.
        const int64_t n_ctx = std::min<int64_t>(hparams_.n_ctx_train, 4096);
        KvCacheLayout kv;
        INFER_TRY(kv_layout_from_graph(one_token, hparams_.n_layer, 1, n_ctx, &kv));
        request.reserve_per_layer = kv.largest_layer_bytes();
    }
    ExpertPopularity popularity;
    if (request.device && options.experts_by_popularity && hparams_.n_expert() > 0) {
        // The calibration run is a CPU context of this model: placed on the CPU first.
        INFER_TRY(place_model(one_token, static_cast<int32_t>(hparams_.n_layer), PlacementRequest{},
                              &placement_));
        INFER_TRY(expert_popularity(*this, {options.expert_stats_path, options.calibration_text, 0},
                                    &popularity));
        request.experts_by_popularity = true;
        request.popularity = &popularity;
    }
    INFER_TRY(place_model(one_token, static_cast<int32_t>(hparams_.n_layer), request, &placement_));
    if (!placement_.device) return Status::ok();
    for (const std::string &line : placement_.fallbacks)
        log_message(INFER_LOG_WARN, "placement: %s", line.c_str());
    log_message(INFER_LOG_INFO, "placement: %d of %lld layers%s on %s, %.1f MiB of weights there",
                std::min<int32_t>(placement_.n_gpu_layers, static_cast<int32_t>(hparams_.n_layer)),
                static_cast<long long>(hparams_.n_layer),
                placement_.n_gpu_layers > hparams_.n_layer ? " and the output" : "",
                placement_.device->name, placement_.device_weight_bytes / 1048576.0);
    std::function<bool(float)> progress;
    if (options.progress) progress = [&options](float p) { return options.progress(0.1f + 0.9f * p); };
    // The device keeps its own copy: the file's pages, read once for it, leave the process as
    // soon as each range is in the staging buffers (a mapped file's only: a CPU reader, such as
    // a tied embedding's lookup or prefill streaming the experts the device lacks, reads them
    // back from the file; memory of our own would read zeros). Measured on an H200 before this:
    // all of a 17.3 GiB model on the device, peak RSS 18.1 GiB.
    std::function<void(const void *, uint64_t)> read_done;
    if (file_pages_come_back()) read_done = [this](const void *p, uint64_t n) { drop_file_pages(p, n); };
    return placement_.device->upload_weights(placement_.device_weights, options.device,
                                             options.device_memory_budget, progress, read_done,
                                             &device_weights_);
}

Status Model::repack_host_weights(const LoadOptions &options) {
    if (!options.cpu_repack) return Status::ok();
    const graph::Graph every_weight = arch_->build(hparams_, weights_, 1, true);
    return host_copies_.make(every_weight, placement_, cpu_backend_entry(), mapping_.get());
}

Status Model::finish_load(std::unique_ptr<Model> model, std::span<const uint8_t> image,
                          const LoadOptions &options, std::unique_ptr<Model> *out) {
    // With a device backend, parsing reports the first tenth of the progress, the upload the rest.
    const bool uploads = !options.inspect_only && options.backend != INFER_BACKEND_CPU;
    gguf::ProgressFn parse_progress = options.progress;
    if (uploads && options.progress)
        parse_progress = [&options](float p) { return options.progress(0.1f * p); };
    INFER_TRY(gguf::File::parse(image, parse_progress, &model->file_));
    const gguf::File &file = *model->file_;
    INFER_TRY(read_optional_string(file, "general.architecture", &model->architecture_));
    INFER_TRY(read_optional_string(file, "general.name", &model->name_));

    model->keys_.reserve(file.metadata().size());
    for (const gguf::KeyValue &kv : file.metadata()) model->keys_.emplace_back(kv.key);
    model->tensor_names_.reserve(file.tensors().size());
    for (const gguf::TensorInfo &t : file.tensors()) {
        model->tensor_names_.emplace_back(t.name);
        // Cannot overflow: the parser checked every tensor lies inside the image.
        model->n_elements_ += t.n_elements;
        model->tensor_data_bytes_ += t.n_bytes;
    }
    if (!options.inspect_only) {
        INFER_TRY(model->bind_architecture());
        INFER_TRY(text::Vocab::build(file, &model->vocab_));
        INFER_TRY(model->place_and_upload(options));
        INFER_TRY(model->repack_host_weights(options));
    }
    *out = std::move(model);
    return Status::ok();
}

} // namespace infer
