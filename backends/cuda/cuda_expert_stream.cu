#include "cuda/cuda_expert_stream.h"

#include "cuda/cuda_check.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

namespace infer::cuda {
namespace {

constexpr uint64_t kAlign = 256;

uint64_t align_up(uint64_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

// One expert's bytes of a stacked expert weight: its stride.
uint64_t expert_bytes(const graph::WeightRef &w) {
    return w.row_bytes * static_cast<uint64_t>(w.ne[1]);
}

// One expert's bytes of an expert bias ([n][n_expert] F32): its row; 0 without one.
uint64_t bias_bytes(const graph::WeightRef *b) { return b ? b->row_bytes : 0; }

} // namespace

ExpertStreamer::~ExpertStreamer() {
    if (!memory_) return;
    cudaSetDevice(weights_.device());
    cudaFree(memory_);
    weights_.release(reserved_);
}

Status ExpertStreamer::prepare(const graph::Graph &g) {
    // Per staged expert, each matrix's weights (strides of 256) and bias rows (packed).
    uint64_t stride[3] = {0, 0, 0}, bias[3] = {0, 0, 0};
    for (const graph::Node &n : g.nodes) {
        if (n.op != graph::Op::MoeFfn || !n.expert_slot || !n.experts_resident) continue;
        const graph::WeightRef *w[3] = {n.w, n.w2, n.w3};
        for (int m = 0; m < 3; ++m) {
            stride[m] = std::max(stride[m], align_up(expert_bytes(*w[m])));
            bias[m] = std::max(bias[m], bias_bytes(n.expert_bias[m]));
        }
    }
    const uint64_t one = stride[0] + stride[1] + stride[2] + bias[0] + bias[1] + bias[2];
    if (one == 0) return Status::ok();
    auto fits = [](uint64_t a, uint64_t b) { return a <= b; };
    if (memory_ && std::equal(stride, stride + 3, stride_, fits) &&
        std::equal(bias, bias + 3, bias_bytes_, fits))
        return Status::ok();
    if (memory_) return make_error(INFER_ERR_INTERNAL, "expert streaming staging sized twice");
    // The bias regions' alignment padding (3 * 256) and the slot table come off the top.
    const uint64_t table = align_up(kMaxExperts * sizeof(int32_t)) + 3 * kAlign;
    const uint64_t room =
        std::min(kStagingBytes, weights_.available() - std::min(weights_.available(), table));
    const auto slots = static_cast<int32_t>(std::clamp<uint64_t>(room / one, 1, kMaxExperts));
    const uint64_t bytes = one * static_cast<uint64_t>(slots) + table;
    INFER_TRY(
        weights_.reserve(bytes, "the staging of prefill's streamed experts (expert_prefill)"));
    void *p = nullptr;
    if (const cudaError_t err = cudaMalloc(&p, bytes); err != cudaSuccess) {
        weights_.release(bytes);
        cudaGetLastError();
        return make_error(err == cudaErrorMemoryAllocation ? INFER_ERR_OUT_OF_MEMORY
                                                           : INFER_ERR_INTERNAL,
                          "CUDA: cannot allocate %.1f MiB to stream experts in prefill: %s",
                          static_cast<double>(bytes) / 1048576.0, cudaGetErrorString(err));
    }
    memory_ = static_cast<uint8_t *>(p);
    reserved_ = bytes;
    std::copy(stride, stride + 3, stride_);
    std::copy(bias, bias + 3, bias_bytes_);
    slots_ = slots;
    table_.assign(kMaxExperts, kCpuExpert);
    return copier_.start(kPieceBytes);
}

Status ExpertStreamer::copy_rate(cudaStream_t stream, double *bytes_per_s) {
    *bytes_per_s = 0;
    if (!memory_) return Status::ok();
    static std::mutex mutex;
    static std::map<int32_t, double> measured; // by device
    std::lock_guard<std::mutex> lock(mutex);
    if (const auto it = measured.find(weights_.device()); it != measured.end()) {
        *bytes_per_s = it->second;
        return Status::ok();
    }
    // What one batch of streaming copies, from pageable memory as the mapped file is; the best
    // of three (the first pays for faulting the source in).
    const uint64_t bytes = std::min<uint64_t>(
        static_cast<uint64_t>(slots_) * (stride_[0] + stride_[1] + stride_[2]), uint64_t{32} << 20);
    std::vector<uint8_t> source(bytes, 1);
    double best = 0;
    for (int i = 0; i < 3; ++i) {
        const auto start = std::chrono::steady_clock::now();
        INFER_TRY(copier_.copy(memory_, source.data(), bytes, stream));
        INFER_CUDA_TRY(cudaStreamSynchronize(stream));
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (s > 0) best = std::max(best, static_cast<double>(bytes) / s);
    }
    measured[weights_.device()] = best;
    *bytes_per_s = best;
    return Status::ok();
}

Status ExpertStreamer::run(const graph::Node &n, MoeFfnArgs args, const uint8_t *streamed,
                           const float *x, const int32_t *ids, const float *weights,
                           int64_t n_tokens, float *y, void *scratch, unsigned long long *counts,
                           cudaStream_t stream) {
    if (!memory_) return make_error(INFER_ERR_INTERNAL, "expert streaming was not prepared");
    const int n_expert = args.gate.n_expert;
    const int32_t *host_slot = n.expert_slot;
    auto streams = [&](int e) { return streamed[e] && host_slot[e] < 0; };
    const graph::WeightRef *w[3] = {n.w, n.w2, n.w3};
    DeviceExperts *stack[3] = {&args.gate, &args.up, &args.down};
    const auto slots = static_cast<uint64_t>(slots_);
    // [gate stack][up stack][down stack][gate biases][up biases][down biases][slot table]
    uint8_t *staged[3], *staged_bias[3];
    uint8_t *at = memory_;
    for (int m = 0; m < 3; ++m) {
        staged[m] = at;
        at += stride_[m] * slots;
    }
    for (int m = 0; m < 3; ++m) {
        staged_bias[m] = at;
        at += align_up(bias_bytes_[m] * slots);
    }
    uint8_t *device_table = at;
    for (int m = 0; m < 3; ++m) {
        stack[m]->staged = staged[m];
        stack[m]->staged_bias = reinterpret_cast<const float *>(staged_bias[m]);
    }
    args.slot = reinterpret_cast<const int32_t *>(device_table);

    // Batch 0 always runs (the resident experts); the loop ends once every expert was looked at.
    int next = 0; // the next expert to consider for a batch
    for (int batch = 0; batch == 0 || next < n_expert; ++batch) {
        for (int e = 0; e < n_expert; ++e)
            table_[static_cast<size_t>(e)] =
                batch == 0 && host_slot[e] >= 0 ? host_slot[e] : kCpuExpert;
        int32_t filled = 0;
        for (; next < n_expert && filled < slots_; ++next) {
            if (!streams(next)) continue;
            for (int m = 0; m < 3; ++m) {
                const uint64_t bytes = expert_bytes(*w[m]);
                const auto *from =
                    static_cast<const uint8_t *>(w[m]->data) + static_cast<uint64_t>(next) * bytes;
                INFER_TRY(copier_.copy(staged[m] + static_cast<uint64_t>(filled) * bytes, from,
                                       bytes, stream));
                if (drop_) drop_(drop_model_, from, bytes); // in the pinned buffers by now
                // The bias row, at the staged index the kernels read it by (rows of m.n floats).
                if (const uint64_t row = bias_bytes(n.expert_bias[m]))
                    INFER_TRY(copier_.copy(staged_bias[m] + static_cast<uint64_t>(filled) * row,
                                           static_cast<const uint8_t *>(n.expert_bias[m]->data) +
                                               static_cast<uint64_t>(next) * row,
                                           row, stream));
            }
            table_[static_cast<size_t>(next)] = staged_slot(filled++);
        }
        if (batch > 0 && filled == 0) break; // the last batch ended exactly at the last expert
        INFER_TRY(copier_.copy(device_table, table_.data(),
                               static_cast<uint64_t>(n_expert) * sizeof(int32_t), stream));
        args.accumulate = batch > 0;
        INFER_TRY(moe_ffn(args, x, ids, weights, n_tokens, y, scratch, counts, stream));
    }
    return Status::ok();
}

} // namespace infer::cuda
