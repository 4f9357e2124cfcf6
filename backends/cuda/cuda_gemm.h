// Prefill matmul, Y[rows][n] = X[rows][k] W^T for many rows: the weights are dequantized to fp16
// in slabs of whole rows (at most kGemmSlabBytes, in the node's planned scratch), X is converted
// to fp16 once, and cuBLASLt multiplies with fp32 accumulation and output. cuBLASLt is loaded at
// run time (dlopen), so libinfer links and loads without it; when it is missing the product
// falls back to the matvec kernel over groups of kMatvecMaxTokens rows (correct, slower), and
// the reason is logged once. One algorithm per GEMM shape is chosen by cuBLASLt's heuristic the
// first time the shape appears and cached.
#pragma once

#include "cuda/cuda_kernels.h"

#include <cstdint>
#include <memory>

namespace infer::cuda {

// Shapes whose cuBLASLt plans are kept (a model has a few weight shapes times the batch sizes
// it sees).
constexpr size_t kMaxGemmPlans = 128;
constexpr uint64_t kGemmSlabBytes = uint64_t{64} << 20;
// cuBLASLt's workspace; NVIDIA recommends 32 MiB on Hopper (enough for every algorithm it picks).
constexpr uint64_t kGemmWorkspaceBytes = uint64_t{32} << 20;

// Scratch one prefill matmul of up to max_rows rows needs (fp16 X, then one fp16 weight slab).
uint64_t gemm_scratch_bytes(int64_t k, int64_t n, int64_t max_rows);

class Gemm {
public:
    Gemm(); // out of line: Plan is complete only in cuda_gemm.cu
    Gemm(const Gemm &) = delete;
    Gemm &operator=(const Gemm &) = delete;
    ~Gemm();

    // Loads cuBLASLt if it can; workspace: kGemmWorkspaceBytes of device memory.
    Status start(void *workspace);
    bool uses_cublaslt() const { return handle_ != nullptr; }

    Status matmul(const DeviceMatrix &w, const float *x, int64_t rows, float *y, void *scratch,
                  cudaStream_t stream);

    struct Plan; // cuBLASLt descriptors and the algorithm for one shape (cuda_gemm.cu)

private:
    // The plan for a shape, made and cached on first use.
    Status plan_for(int64_t slab_rows, int64_t rows, int64_t k, int64_t ldc, uint32_t out_align,
                    Plan **out);
    Status make_plan(int64_t slab_rows, int64_t rows, int64_t k, int64_t ldc, uint32_t out_align,
                     Plan *plan);

    void *handle_ = nullptr; // cublasLtHandle_t
    void *workspace_ = nullptr;
    // Plans in kMaxPlans slots made at start(), the oldest replaced when all are taken: making
    // a plan for a new shape allocates nothing of ours (cuBLASLt's descriptors are its own).
    std::unique_ptr<Plan[]> plans_; // kMaxGemmPlans once started
    size_t n_plans_ = 0, next_victim_ = 0;
};

} // namespace infer::cuda
