#include "runtime/host_weights.h"

#include "core/log.h"

#include <sys/mman.h>

#include <chrono>
#include <unordered_set>
#include <vector>

namespace infer {

HostWeightCopies::~HostWeightCopies() {
    if (memory_) ::munmap(memory_, bytes_);
}

Status HostWeightCopies::make(const graph::Graph &g, const Placement &placement,
                              const BackendEntry &host, const gguf::MappedFile *mapping) {
    if (!mapping || !host.relayout_bytes || !host.relayout) return Status::ok();
    const auto started = std::chrono::steady_clock::now();
    std::unordered_set<const void *> other_readers; // by the file's address, as placement keys
    for (const WeightSpan &span : placement.device_weights)
        other_readers.insert(span.data);

    std::vector<graph::WeightRef *> chosen;
    std::vector<uint64_t> sizes;
    std::unordered_set<const graph::WeightRef *> seen;
    uint64_t total = 0;
    for (const graph::Node &n : g.nodes) {
        if (n.op != graph::Op::MatMul && n.op != graph::Op::MoeFfn) continue;
        for (const graph::WeightRef *w : {n.w, n.op == graph::Op::MoeFfn ? n.w2 : nullptr,
                                          n.op == graph::Op::MoeFfn ? n.w3 : nullptr}) {
            if (!w || !w->data || other_readers.count(w->data) || !seen.insert(w).second) continue;
            const uint64_t bytes = host.relayout_bytes(*w);
            if (bytes == 0) continue;
            // The graph's nodes point at the model's own (non-const) weights.
            chosen.push_back(const_cast<graph::WeightRef *>(w));
            sizes.push_back(bytes);
            total += (bytes + 63) & ~uint64_t{63};
        }
    }
    if (total == 0) return Status::ok();
    void *memory =
        ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
        return make_error(INFER_ERR_OUT_OF_MEMORY,
                          "cannot allocate %.1f MiB for the CPU's repacked weights",
                          static_cast<double>(total) / 1048576.0);
    memory_ = static_cast<uint8_t *>(memory);
    bytes_ = total;
    uint8_t *at = memory_;
    for (size_t i = 0; i < chosen.size(); ++i) {
        graph::WeightRef &w = *chosen[i];
        w.cpu_layout = host.relayout(w, at);
        w.cpu_data = at;
        mapping->drop_pages(w.data, w.n_bytes);
        at += (sizes[i] + 63) & ~uint64_t{63};
    }
    ::mprotect(memory_, bytes_, PROT_READ); // read-only from here, as the file's bytes are
    count_ = static_cast<int32_t>(chosen.size());
    log_message(
        INFER_LOG_INFO, "%s: repacked %d weights (%.1f MiB) in %.0f ms", host.name, count_,
        static_cast<double>(total) / 1048576.0,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count());
    return Status::ok();
}

} // namespace infer
