// A loaded model: the GGUF image (mapped file or caller memory), its parsed and validated
// container, and what the C API hands out about it. Immutable after load, so any number of
// threads may read it at once.
#pragma once

#include "core/status.h"
#include "gguf/gguf.h"
#include "runtime/backend.h"
#include "runtime/host_weights.h"
#include "runtime/placement.h"
#include "models/transformer.h"
#include "text/vocab.h"

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace infer {

class Model {
public:
    struct LoadOptions {
        gguf::ProgressFn progress;
        // Parse and validate the container only: no architecture binding, so any GGUF file can
        // be inspected. Such a model cannot create contexts.
        bool inspect_only = false;
        // INFER_BACKEND_*: the device the model is placed on, or the CPU. A device backend gets
        // the weights placement puts there uploaded to `device` at load (progress continues
        // over the upload); weights plus each context must fit in device_memory_budget bytes
        // (0: no limit but the card's).
        int32_t backend = 0;
        int32_t device = 0;
        uint64_t device_memory_budget = 0;
        // Placement on the device (runtime/placement.h): repeating layers (kAllLayers,
        // kAutoLayers or a count) and per-tensor overrides.
        int32_t n_gpu_layers = kAllLayers;
        std::vector<TensorOverride> overrides;
        // load_file: read the file into memory of the model's own instead of mapping it, so the
        // model no longer depends on the file (progress: the read is the first half).
        bool read_into_memory = false;
        // Per-expert offload (placement.h): the device's share of the routed experts chosen one
        // by one by popularity, from a stats file, a calibration text or the uniform prior.
        bool experts_by_popularity = false;
        std::string expert_stats_path;
        std::string calibration_text;
        // Repack the weights only the CPU multiplies into its kernels' interleaved layout
        // (runtime/host_weights.h); false: the CPU reads every weight in place from the image.
        bool cpu_repack = true;
    };
    static Status load_file(const char *path, const LoadOptions &options,
                            std::unique_ptr<Model> *out);
    // The caller keeps `image` alive and unchanged for the model's lifetime.
    static Status load_memory(std::span<const uint8_t> image, const LoadOptions &options,
                              std::unique_ptr<Model> *out);

    const gguf::File &gguf() const { return *file_; }
    const std::string &architecture() const { return architecture_; }
    const std::string &name() const { return name_; }
    uint64_t n_elements() const { return n_elements_; }
    uint64_t tensor_data_bytes() const { return tensor_data_bytes_; }

    // Null for an inspect-only model.
    const models::Architecture *arch() const { return arch_; }
    const models::Hparams &hparams() const { return hparams_; }
    const models::ModelWeights &weights() const { return weights_; }
    // The tokenizer vocabulary; null for an inspect-only model.
    const text::Vocab *vocab() const { return vocab_.get(); }
    // Where each part of the model runs (everything on the CPU unless a device was asked for),
    // and the device's copy of the weights placed there (null without a device).
    const Placement &placement() const { return placement_; }
    const DeviceWeights *device_weights() const { return device_weights_.get(); }
    // Whether the model's bytes are a mapped file, whose pages drop_file_pages may hand back
    // (they read back from the file when touched again).
    bool file_pages_come_back() const { return mapping_ && mapping_->pages_come_back(); }
    void drop_file_pages(const void *p, uint64_t n) const { mapping_->drop_pages(p, n); }
    // The CPU's repacked copies of the weights it alone multiplies (empty when none).
    const HostWeightCopies &host_copies() const { return host_copies_; }

    // NUL-terminated copies, index-aligned with gguf().metadata() and gguf().tensors(): the image
    // stores strings without terminators, and the C API returns const char*.
    const char *key_cstr(size_t index) const { return keys_[index].c_str(); }
    const char *tensor_name_cstr(size_t index) const { return tensor_names_[index].c_str(); }

private:
    static Status finish_load(std::unique_ptr<Model> model, std::span<const uint8_t> image,
                              const LoadOptions &options, std::unique_ptr<Model> *out);
    Status bind_architecture();
    Status place_and_upload(const LoadOptions &options);
    Status repack_host_weights(const LoadOptions &options);

    std::unique_ptr<gguf::MappedFile> mapping_; // the file's bytes; empty when loaded from caller memory
    std::unique_ptr<gguf::File> file_;
    std::string architecture_;
    std::string name_;
    uint64_t n_elements_ = 0;
    uint64_t tensor_data_bytes_ = 0;
    std::vector<std::string> keys_;
    std::vector<std::string> tensor_names_;
    const models::Architecture *arch_ = nullptr;
    models::Hparams hparams_;
    models::ModelWeights weights_;
    std::unique_ptr<text::Vocab> vocab_;
    Placement placement_;
    HostWeightCopies host_copies_; // the CPU's repacked weights, which graphs point into
    std::unique_ptr<DeviceWeights> device_weights_; // declared last: freed before the mapping
};

} // namespace infer
