#include "runtime/host_weights.h"

#include "core/log.h"

#include <sys/mman.h>

#include <unistd.h>

#include <chrono>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace infer {

HostWeightCopies::~HostWeightCopies() {
    if (memory_) ::munmap(memory_, mapped_);
}

namespace {

struct Chosen {
    graph::WeightRef *weight;
    const int32_t *expert_slot; // a stack split with the device: its slot table; else null
    uint64_t offset, size;      // in the copies' memory (size: the whole layout's)
};

uint64_t page_size() { return static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)); }

} // namespace

Status HostWeightCopies::make(const graph::Graph &g, const Placement &placement,
                              const BackendEntry &host, const gguf::MappedFile *mapping) {
    if (!mapping || !host.relayout_bytes || !host.relayout) return Status::ok();
    const auto started = std::chrono::steady_clock::now();
    // By the file's address, as placement keys weights: a device holds the whole weight, or the
    // resident experts of a stack (the CPU computing the rest).
    std::unordered_set<const void *> on_device;
    std::unordered_map<const void *, const int32_t *> split;
    for (const WeightSpan &span : placement.device_weights) {
        if (span.expert_slot)
            split.emplace(span.data, span.expert_slot);
        else
            on_device.insert(span.data);
    }

    std::vector<Chosen> chosen;
    std::unordered_set<const graph::WeightRef *> seen;
    uint64_t total = 0;
    for (const graph::Node &n : g.nodes) {
        if (n.op != graph::Op::MatMul && n.op != graph::Op::MoeFfn) continue;
        for (const graph::WeightRef *w : {n.w, n.op == graph::Op::MoeFfn ? n.w2 : nullptr,
                                          n.op == graph::Op::MoeFfn ? n.w3 : nullptr}) {
            if (!w || !w->data || on_device.count(w->data) || !seen.insert(w).second) continue;
            const auto s = split.find(w->data);
            const int32_t *slots = s == split.end() ? nullptr : s->second;
            // Prefill streaming copies a split stack's other experts from the file's bytes:
            // dropped, they must come back (a mapped file), or the stack stays as it is.
            if (slots && !mapping->pages_come_back()) continue;
            const uint64_t bytes = host.relayout_bytes(*w);
            if (bytes == 0) continue;
            // A split stack starts and ends on a page: the pages of its resident experts, never
            // written, take no memory (and no huge page may fill them, below).
            const uint64_t align = slots ? page_size() : 64;
            total = (total + align - 1) / align * align;
            // The graph's nodes point at the model's own (non-const) weights.
            chosen.push_back({const_cast<graph::WeightRef *>(w), slots, total, bytes});
            total += (bytes + align - 1) / align * align;
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
    mapped_ = total;
    // In 2 MiB pages where the kernel gives them (transparent huge pages, "madvise" mode being
    // the common default): decode streams all of it every token, and through 4 KiB pages each
    // page took a TLB miss and a fresh start of the hardware prefetchers. llama-1B Q4_K_M tg32,
    // 2 threads, AVX2 level on a Xeon: 20.8 -> 25.6 GB/s (medians of 3 alternations); the
    // streaming probe, given the same pages, 26.7 -> 32.8. Split stacks opt out below.
    (void)::madvise(memory_, mapped_, MADV_HUGEPAGE);
    for (const Chosen &c : chosen) {
        graph::WeightRef &w = *c.weight;
        uint8_t *at = memory_ + c.offset;
        uint64_t written = c.size;
        if (c.expert_slot) {
            (void)::madvise(at, (c.size + page_size() - 1) / page_size() * page_size(),
                            MADV_NOHUGEPAGE);
            int64_t on_cpu = 0;
            for (int64_t e = 0; e < w.ne[2]; ++e)
                on_cpu += c.expert_slot[e] < 0;
            written = c.size / static_cast<uint64_t>(w.ne[2]) * static_cast<uint64_t>(on_cpu);
        }
        w.cpu_layout = host.relayout(w, at, c.expert_slot,
                                     [&](const void *p, uint64_t n) { mapping->drop_pages(p, n); });
        w.cpu_data = at;
        // A split stack's resident experts went to the device at upload; its others come back
        // from the file when prefill streams them.
        mapping->drop_pages(w.data, w.n_bytes);
        bytes_ += written;
    }
    ::mprotect(memory_, mapped_, PROT_READ); // read-only from here, as the file's bytes are
    // A tied embedding is one tensor under two references (the lookup's and the output
    // matmul's): the lookup reads the copy too, or it would fault the dropped pages back in.
    std::unordered_map<const void *, const graph::WeightRef *> copied;
    for (const Chosen &c : chosen)
        if (!c.expert_slot) copied.emplace(c.weight->data, c.weight);
    for (const graph::Node &n : g.nodes) {
        if (n.op != graph::Op::Embed || !n.w || n.w->cpu_data) continue;
        const auto it = copied.find(n.w->data);
        if (it == copied.end()) continue;
        auto *lookup = const_cast<graph::WeightRef *>(n.w);
        lookup->cpu_data = it->second->cpu_data;
        lookup->cpu_layout = it->second->cpu_layout;
    }
    count_ = static_cast<int32_t>(chosen.size());
    log_message(
        INFER_LOG_INFO, "%s: repacked %d weights (%.1f MiB) in %.0f ms", host.name, count_,
        static_cast<double>(bytes_) / 1048576.0,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count());
    return Status::ok();
}

} // namespace infer
