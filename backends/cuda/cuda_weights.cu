// Weight upload: the weights sit in the mapped GGUF file (pageable memory), so they go through
// two pinned staging buffers in turn (cuda_pinned_copy.h). Progress is reported after each
// piece, and the caller can cancel.
#include "cuda/cuda_weights.h"

#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_devices.h"
#include "cuda/cuda_pinned_copy.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace infer::cuda {
namespace {

constexpr uint64_t kStagingBytes = uint64_t{64} << 20;
constexpr uint64_t kAlign = 256;

uint64_t align_up(uint64_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

double mib(uint64_t bytes) { return static_cast<double>(bytes) / 1048576.0; }

// The upload's stream, synchronized and destroyed however the upload ends.
struct UploadStream {
    cudaStream_t stream = nullptr;
    ~UploadStream() {
        if (!stream) return;
        cudaStreamSynchronize(stream);
        cudaStreamDestroy(stream);
    }
};

} // namespace

CudaWeights::~CudaWeights() {
    if (!memory_) return;
    cudaSetDevice(device_);
    cudaFree(memory_);
}

const uint8_t *CudaWeights::find(const void *host) const {
    const auto it = by_host.find(host);
    return it == by_host.end() ? nullptr : it->second;
}

Status CudaWeights::allocate(uint64_t bytes) {
    INFER_TRY(reserve(bytes, "the weights"));
    void *p = nullptr;
    const cudaError_t err = cudaMalloc(&p, std::max<uint64_t>(bytes, 1));
    if (err != cudaSuccess) {
        release(bytes);
        cudaGetLastError();
        return make_error(err == cudaErrorMemoryAllocation ? INFER_ERR_OUT_OF_MEMORY
                                                           : INFER_ERR_INTERNAL,
                          "CUDA: cannot allocate %.1f MiB for the weights on device %d: %s",
                          mib(bytes), device_, cudaGetErrorString(err));
    }
    memory_ = static_cast<uint8_t *>(p);
    bytes_ = bytes;
    return Status::ok();
}

Status upload_weights(const std::vector<WeightSpan> &spans, int32_t device, uint64_t budget,
                      const std::function<bool(float)> &progress,
                      const std::function<void(const void *, uint64_t)> &read_done,
                      std::unique_ptr<DeviceWeights> *out) {
    std::string why;
    const int32_t count = device_count(&why);
    if (count == 0) return make_error(INFER_ERR_UNSUPPORTED, "%s", why.c_str());
    if (device < 0 || device >= count)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "CUDA device %d does not exist (%d found)",
                          device, count);
    INFER_CUDA_TRY(cudaSetDevice(device));
    int n_sm = 0;
    INFER_CUDA_TRY(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, device));

    uint64_t total = 0;
    for (const WeightSpan &s : spans)
        total += align_up(s.bytes);
    auto weights = std::make_unique<CudaWeights>(device, n_sm, budget);
    INFER_TRY(weights->allocate(total));

    UploadStream st;
    INFER_CUDA_TRY(cudaStreamCreateWithFlags(&st.stream, cudaStreamNonBlocking));
    PinnedCopier copier;
    INFER_TRY(copier.start(kStagingBytes));
    uint8_t *dst = weights->memory();
    uint64_t copied = 0;
    auto copy_range = [&](const uint8_t *src, uint64_t bytes, uint8_t *to) {
        INFER_TRY(copier.copy(to, src, bytes, st.stream, [&](uint64_t piece) {
            copied += piece;
            if (progress && !progress(static_cast<float>(copied) / static_cast<float>(total)))
                return make_error(INFER_ERR_CANCELLED,
                                  "weight upload cancelled by the progress callback");
            return Status::ok();
        }));
        if (read_done) read_done(src, bytes); // in the staging buffers by now
        return Status::ok();
    };
    for (const WeightSpan &s : spans) {
        weights->by_host[s.data] = dst;
        const auto *src = static_cast<const uint8_t *>(s.data);
        if (!s.expert_slot) {
            INFER_TRY(copy_range(src, s.bytes, dst));
        } else { // the resident experts only, packed in slot order (= expert order)
            uint64_t at = 0;
            for (int32_t e = 0; e < s.n_expert; ++e) {
                if (s.expert_slot[e] < 0) continue;
                if (at + s.expert_bytes > s.bytes)
                    return make_error(INFER_ERR_INTERNAL, "expert upload overruns its span");
                INFER_TRY(copy_range(src + static_cast<uint64_t>(e) * s.expert_bytes,
                                     s.expert_bytes, dst + at));
                at += s.expert_bytes;
            }
        }
        dst += align_up(s.bytes);
    }
    INFER_CUDA_TRY(cudaStreamSynchronize(st.stream));
    if (progress && !progress(1.0f))
        return make_error(INFER_ERR_CANCELLED, "weight upload cancelled by the progress callback");
    *out = std::move(weights);
    return Status::ok();
}

} // namespace infer::cuda
