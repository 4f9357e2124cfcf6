// The backends this build has, as plug-ins: each backend file in backends/ describes itself with
// one BackendEntry, and backends/backends.cpp (the only file that names them all) lists them.
// lib/runtime and lib/api iterate the registry; they name no backend.
#pragma once

#include "core/status.h"
#include "graph/graph.h"
#include "runtime/backend.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>
#include <string>

namespace infer {

// What a context asks of a backend it makes.
struct BackendConfig {
    int32_t n_threads = 1;                   // host threads (the CPU backend's workers)
    CpuKernels kernels = CpuKernels::Fast;   // the CPU backend's kernels (Reference: tests only)
    const DeviceWeights *weights = nullptr;  // a device backend's uploaded weights
    // Hands the pages of host weight bytes it has copied back (prefill streaming's experts, read
    // from the mapped file); null when they must stay (memory of the model's own would read
    // zeros). Model::drop_file_pages.
    void (*drop_host_pages)(const void *model, const void *p, uint64_t n) = nullptr;
    const void *model = nullptr;
};

// Host bytes a device backend copies at load: a WeightRef's data, or RoPE frequency factors, or
// an expert slot table. With expert_slot set it is a stack of n_expert experts of expert_bytes
// each, of which the device keeps only the resident ones (expert_slot[e] >= 0), packed in slot
// order: `bytes` is their total. A backend whose buffers are limited in size may store a span cut
// into parts at multiples of unit_bytes (a matrix row, or an expert of a stack, the unit its
// kernels address); 0: only whole.
struct WeightSpan {
    const void *data = nullptr;
    uint64_t bytes = 0;
    const int32_t *expert_slot = nullptr;
    int32_t n_expert = 0;
    uint64_t expert_bytes = 0;
    uint64_t unit_bytes = 0;
};

struct BackendEntry {
    int32_t id = 0;          // INFER_BACKEND_*
    const char *name = "";   // "CPU", "CUDA", ...
    // Holds weights and activations in memory of its own (uploaded at load, copied at segment
    // boundaries); false for the CPU, which reads the model in place.
    bool is_device = false;
    // Devices this process can use; 0 with the reason in *why.
    int32_t (*device_count)(std::string *why) = nullptr;
    // Free and total bytes of device `device`.
    Status (*memory_info)(int32_t device, uint64_t *free_bytes, uint64_t *total_bytes) = nullptr;
    // One line naming device `device` and what this backend uses of it, for reports.
    Status (*describe)(int32_t device, std::string *out) = nullptr;
    // Copies `weights` to device `device` once (progress in [0, 1]; returning false cancels);
    // they and every later context must fit in `budget` bytes (0: the device's memory). Calls
    // read_done (when set) with each host range as soon as it has been read, so that the caller
    // can hand the file's pages back before the next weight comes in. Null for a host backend.
    Status (*upload_weights)(const std::vector<WeightSpan> &weights, int32_t device, uint64_t budget,
                             const std::function<bool(float)> &progress,
                             const std::function<void(const void *, uint64_t)> &read_done,
                             std::unique_ptr<DeviceWeights> *out) = nullptr;
    // A backend for one context. Null when this backend cannot run graphs yet.
    Status (*make_backend)(const BackendConfig &config, std::unique_ptr<Backend> *out) = nullptr;
    // Ok when this backend can run `node` of `graph`; otherwise an error saying why, naming the
    // op (graph::op_name) and the tensor by name.
    Status (*supports)(const graph::Node &node, const graph::Graph &graph) = nullptr;
    // A host backend's own layout of a weight matrix it alone reads, made once at load (the
    // CPU's interleaved tiles): relayout_bytes is the size of that copy, 0 when the weight is
    // best read as the file has it; relayout writes the copy to dst and returns its layout id
    // (WeightRef::cpu_layout). Null for a backend that reads weights in place. A stack of experts
    // split with a device (expert_slot non-null: WeightSpan::expert_slot) gets only the experts
    // the device lacks (slot < 0) written, each at its place in the whole stack's layout.
    // read_done (when set) gets each source range as soon as it has been copied, slice by slice
    // of a large matrix, so that the file's pages go back while the copy grows: the process never
    // holds both copies of more than a slice.
    uint64_t (*relayout_bytes)(const graph::WeightRef &w) = nullptr;
    uint8_t (*relayout)(const graph::WeightRef &w, void *dst, const int32_t *expert_slot,
                        const std::function<void(const void *, uint64_t)> &read_done) = nullptr;
    // The instruction-set level its kernels run ("avx2"), for reports; null: nothing to say.
    const char *(*kernel_level)() = nullptr;
};

// Every backend of this build, the CPU first (always present).
const std::vector<BackendEntry> &backend_registry();
// The entry of INFER_BACKEND_* `id`, or null when this build lacks it.
const BackendEntry *find_backend(int32_t id);
const BackendEntry &cpu_backend_entry();

// Defined by backends/backends.cpp: the entries this build compiled in, the CPU first.
const std::vector<BackendEntry> &builtin_backends();

} // namespace infer
