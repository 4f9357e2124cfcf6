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
    INFER_TRY(gguf::MappedFile::open(path, &model->mapping_));
    const std::span<const uint8_t> image = model->mapping_->bytes();
    return finish_load(std::move(model), image, options, out);
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
                          architecture_.c_str(), models::supported_architectures().c_str());
    INFER_TRY(arch_->bind(*file_, &hparams_, &weights_));
    // Refuse at load, not at first use, a tensor type the CPU backend cannot compute with.
    const graph::Graph one_token = arch_->build(hparams_, weights_, 1, false);
    return make_cpu_backend(1)->check(one_token);
}

Status Model::finish_load(std::unique_ptr<Model> model, std::span<const uint8_t> image,
                          const LoadOptions &options, std::unique_ptr<Model> *out) {
    INFER_TRY(gguf::File::parse(image, options.progress, &model->file_));
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
    }
    *out = std::move(model);
    return Status::ok();
}

} // namespace infer
