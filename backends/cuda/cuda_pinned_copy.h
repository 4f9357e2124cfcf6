// Copies from pageable host memory (the mapped GGUF file) to device memory through two pinned
// buffers in turn: the host fills one while the other crosses PCIe, so a copy runs at about the
// slower of memcpy and the bus. Used by the weight upload at load and by prefill's expert
// streaming (cuda_expert_stream.h). Allocated once by start(); copy() allocates nothing.
#pragma once

#include "core/status.h"

#include <cuda_runtime.h>

#include <cstdint>

namespace infer::cuda {

class PinnedCopier {
public:
    PinnedCopier() = default;
    PinnedCopier(const PinnedCopier &) = delete;
    PinnedCopier &operator=(const PinnedCopier &) = delete;
    ~PinnedCopier();

    // Two pinned buffers of `piece_bytes` each and their events.
    Status start(uint64_t piece_bytes);
    uint64_t piece_bytes() const { return piece_bytes_; }
    bool started() const { return buf_[0] != nullptr; }

    // Queues the copy of host bytes [from, from + bytes) to device memory `to` on `stream`, a
    // piece at a time. Returns when the last piece is in pinned memory (its DMA may still run:
    // the stream orders it before later work). on_piece, when given, is called after each piece
    // with its size; an error it returns stops the copy.
    template <class OnPiece>
    Status copy(uint8_t *to, const void *from, uint64_t bytes, cudaStream_t stream,
                OnPiece &&on_piece);
    Status copy(uint8_t *to, const void *from, uint64_t bytes, cudaStream_t stream) {
        return copy(to, from, bytes, stream, [](uint64_t) { return Status::ok(); });
    }

private:
    // One piece into the next buffer, once that buffer's last DMA is done.
    Status copy_piece(uint8_t *to, const uint8_t *from, uint64_t bytes, cudaStream_t stream);

    uint8_t *buf_[2] = {nullptr, nullptr};
    cudaEvent_t done_[2] = {nullptr, nullptr};
    uint64_t piece_bytes_ = 0;
    int next_ = 0;
};

template <class OnPiece>
Status PinnedCopier::copy(uint8_t *to, const void *from, uint64_t bytes, cudaStream_t stream,
                          OnPiece &&on_piece) {
    const auto *src = static_cast<const uint8_t *>(from);
    for (uint64_t off = 0; off < bytes; off += piece_bytes_) {
        const uint64_t piece = bytes - off < piece_bytes_ ? bytes - off : piece_bytes_;
        INFER_TRY(copy_piece(to + off, src + off, piece, stream));
        INFER_TRY(on_piece(piece));
    }
    return Status::ok();
}

} // namespace infer::cuda
