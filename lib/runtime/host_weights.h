// The host backend's own copies of the weights it alone multiplies (the CPU's interleaved tiles,
// backends/cpu/cpu_repack.h), made once at load and owned by the model.
//
// A weight is repacked when the CPU multiplies it and no device holds all of it (a device reads
// the file's layout). Of a stack of experts split with a device, only the experts the device lacks
// are written, at their places in the whole stack's layout: the pages of the others are never
// touched, so they take no memory. Its file pages are dropped like any other's: prefill streaming
// copies from the file's bytes, so this needs a mapped file, whose pages come back (a model read
// into memory keeps its split stacks as the file has them). A matrix the CPU also looks rows up in
// (a tied embedding) is repacked too: the CPU's lookup unpacks its rows. Each copy is written into
// one block of anonymous memory, and the file's pages of the weight are dropped slice by slice as
// they are copied (gguf::MappedFile::drop_pages), so the process never holds both copies of more
// than a few MiB (a large output matrix would otherwise set the load's peak).
#pragma once

#include "core/status.h"
#include "gguf/gguf.h"
#include "graph/graph.h"
#include "runtime/backend_registry.h"
#include "runtime/placement.h"

#include <cstdint>

namespace infer {

class HostWeightCopies {
public:
    HostWeightCopies() = default;
    ~HostWeightCopies();
    HostWeightCopies(const HostWeightCopies &) = delete;
    HostWeightCopies &operator=(const HostWeightCopies &) = delete;

    // Repacks the weights of `g` (the model's every-weight graph, whose nodes point at the
    // model's own WeightRefs) that `host` has a layout for and only the host reads under
    // `placement`, pointing their cpu_data there. mapping: the model's image, whose pages of each
    // repacked weight are dropped; null (caller memory) repacks nothing, since the caller's
    // memory is not ours to drop.
    Status make(const graph::Graph &g, const Placement &placement, const BackendEntry &host,
                const gguf::MappedFile *mapping);

    // Bytes written (a split stack's resident experts not counted) and weights repacked.
    uint64_t bytes() const { return bytes_; }
    int32_t count() const { return count_; }

private:
    uint8_t *memory_ = nullptr;
    uint64_t mapped_ = 0;
    uint64_t bytes_ = 0;
    int32_t count_ = 0;
};

} // namespace infer
