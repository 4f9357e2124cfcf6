#include "cuda/cuda_pinned_copy.h"

#include "cuda/cuda_check.h"

#include <cstring>

namespace infer::cuda {

PinnedCopier::~PinnedCopier() {
    for (int i = 0; i < 2; ++i) {
        if (done_[i]) cudaEventSynchronize(done_[i]); // no DMA may still read a freed buffer
        if (buf_[i]) cudaFreeHost(buf_[i]);
        if (done_[i]) cudaEventDestroy(done_[i]);
    }
}

Status PinnedCopier::start(uint64_t piece_bytes) {
    if (started()) return Status::ok();
    for (int i = 0; i < 2; ++i) {
        void *p = nullptr;
        INFER_CUDA_TRY(cudaMallocHost(&p, piece_bytes));
        buf_[i] = static_cast<uint8_t *>(p);
        INFER_CUDA_TRY(cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming));
    }
    piece_bytes_ = piece_bytes;
    return Status::ok();
}

Status PinnedCopier::copy_piece(uint8_t *to, const uint8_t *from, uint64_t bytes,
                                cudaStream_t stream) {
    if (!started()) return make_error(INFER_ERR_INTERNAL, "pinned copy before start");
    const int i = next_;
    next_ ^= 1;
    INFER_CUDA_TRY(cudaEventSynchronize(done_[i])); // the buffer's last DMA has finished
    std::memcpy(buf_[i], from, bytes);
    INFER_CUDA_TRY(cudaMemcpyAsync(to, buf_[i], bytes, cudaMemcpyHostToDevice, stream));
    INFER_CUDA_TRY(cudaEventRecord(done_[i], stream));
    return Status::ok();
}

} // namespace infer::cuda
