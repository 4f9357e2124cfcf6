#include "runtime/model.h"

#include "runtime/backend.h"

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
    // Refuse at load, not at first use, a tensor type the CPU backend cannot compute with.
    const graph::Graph one_token = arch_->build(hparams_, weights_, 1, false);
    return make_cpu_backend(1)->check(one_token);
}

Status Model::upload_weights(const LoadOptions &options) {
    backend_ = options.backend;
    if (options.backend == INFER_BACKEND_CPU) return Status::ok();
    if (options.backend != INFER_BACKEND_CUDA)
        return make_error(INFER_ERR_UNSUPPORTED, "backend %d cannot run models", options.backend);
    // Every weight any graph of this model reads: the one-token graph names them all.
    const graph::Graph one_token = arch_->build(hparams_, weights_, 1, true);
    std::function<bool(float)> progress;
    if (options.progress) progress = [&options](float p) { return options.progress(0.1f + 0.9f * p); };
    return upload_cuda_weights(one_token, options.device, options.device_memory_budget, progress,
                               &device_weights_);
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
        INFER_TRY(model->upload_weights(options));
    }
    *out = std::move(model);
    return Status::ok();
}

} // namespace infer
