#include "cuda/cuda_gemm.h"

#include "core/log.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_launch.h"

#include <cublasLt.h>
#include <dlfcn.h>

#include <mutex>
#include <string>

namespace infer::cuda {
namespace {

uint64_t align256(uint64_t n) { return (n + 255) & ~uint64_t{255}; }

// The cuBLASLt entry points we use, resolved from the shared library once per process.
struct CublasLtApi {
#define INFER_LT_FN(name) decltype(&::name) name = nullptr;
    INFER_LT_FN(cublasLtCreate)
    INFER_LT_FN(cublasLtDestroy)
    INFER_LT_FN(cublasLtMatmulDescCreate)
    INFER_LT_FN(cublasLtMatmulDescDestroy)
    INFER_LT_FN(cublasLtMatmulDescSetAttribute)
    INFER_LT_FN(cublasLtMatrixLayoutCreate)
    INFER_LT_FN(cublasLtMatrixLayoutDestroy)
    INFER_LT_FN(cublasLtMatmulPreferenceCreate)
    INFER_LT_FN(cublasLtMatmulPreferenceDestroy)
    INFER_LT_FN(cublasLtMatmulPreferenceSetAttribute)
    INFER_LT_FN(cublasLtMatmulAlgoGetHeuristic)
    INFER_LT_FN(cublasLtMatmul)
#undef INFER_LT_FN
    bool loaded = false;
    std::string why;
};

const CublasLtApi &cublaslt() {
    static CublasLtApi api;
    static std::once_flag once;
    std::call_once(once, [] {
        const std::string soname = "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR);
#if defined(INFER_CUDA_EMULATOR)
        // The CPU emulator (tests/cuda_emu) links its own cuBLASLt in.
#define INFER_LT_SYMBOL(name) reinterpret_cast<void *>(&::name)
#else
        void *lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) lib = dlopen("libcublasLt.so", RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            api.why = soname + " not found";
            return;
        }
#define INFER_LT_SYMBOL(name) dlsym(lib, #name)
#endif
        bool ok = true;
#define INFER_LT_LOAD(name)                                                                        \
    api.name = reinterpret_cast<decltype(api.name)>(INFER_LT_SYMBOL(name));                        \
    ok = ok && api.name != nullptr;
        INFER_LT_LOAD(cublasLtCreate)
        INFER_LT_LOAD(cublasLtDestroy)
        INFER_LT_LOAD(cublasLtMatmulDescCreate)
        INFER_LT_LOAD(cublasLtMatmulDescDestroy)
        INFER_LT_LOAD(cublasLtMatmulDescSetAttribute)
        INFER_LT_LOAD(cublasLtMatrixLayoutCreate)
        INFER_LT_LOAD(cublasLtMatrixLayoutDestroy)
        INFER_LT_LOAD(cublasLtMatmulPreferenceCreate)
        INFER_LT_LOAD(cublasLtMatmulPreferenceDestroy)
        INFER_LT_LOAD(cublasLtMatmulPreferenceSetAttribute)
        INFER_LT_LOAD(cublasLtMatmulAlgoGetHeuristic)
        INFER_LT_LOAD(cublasLtMatmul)
#undef INFER_LT_LOAD
#undef INFER_LT_SYMBOL
        if (!ok) {
            api.why = soname + " lacks a cuBLASLt entry point";
            return; // the library stays loaded; nothing of it is used
        }
        api.loaded = true;
    });
    return api;
}

Status lt_status(cublasStatus_t s, const char *what) {
    if (s == CUBLAS_STATUS_SUCCESS) return Status::ok();
    return make_error(s == CUBLAS_STATUS_ALLOC_FAILED ? INFER_ERR_OUT_OF_MEMORY
                                                      : INFER_ERR_INTERNAL,
                      "cuBLASLt: %s failed with status %d", what, static_cast<int>(s));
}

#define INFER_LT_TRY(expr) INFER_TRY(lt_status((expr), #expr))

} // namespace

struct Gemm::Plan {
    struct Key {
        int64_t slab_rows = 0, rows = 0, k = 0, ldc = 0;
        uint32_t out_align = 0;
        bool operator==(const Key &o) const { // C++17 (nvcc): no defaulted comparison
            return slab_rows == o.slab_rows && rows == o.rows && k == o.k && ldc == o.ldc &&
                   out_align == o.out_align;
        }
    };
    Key key; // all zero: an empty slot (rows is never 0)
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
};

uint64_t gemm_scratch_bytes(int64_t k, int64_t n, int64_t max_rows) {
    const int64_t slab_rows = gemm_slab_rows(k, n, kGemmSlabBytes);
    return align256(static_cast<uint64_t>(max_rows * k) * 2) +
           static_cast<uint64_t>(slab_rows * k) * 2;
}

namespace {

// Frees a plan's descriptors and empties it.
void clear_plan(const CublasLtApi &lt, Gemm::Plan *plan) {
    if (plan->op) lt.cublasLtMatmulDescDestroy(plan->op);
    for (cublasLtMatrixLayout_t l : {plan->a, plan->b, plan->c})
        if (l) lt.cublasLtMatrixLayoutDestroy(l);
    *plan = Gemm::Plan{};
}

} // namespace

Gemm::Gemm() = default;

Gemm::~Gemm() {
    const CublasLtApi &lt = cublaslt();
    for (size_t i = 0; i < n_plans_; ++i)
        clear_plan(lt, &plans_[i]);
    if (handle_) lt.cublasLtDestroy(static_cast<cublasLtHandle_t>(handle_));
}

Status Gemm::start(void *workspace) {
    workspace_ = workspace;
    const CublasLtApi &lt = cublaslt();
    if (!lt.loaded) {
        log_message(INFER_LOG_WARN, "CUDA: cuBLASLt unavailable (%s); prefill uses matvec kernels",
                    lt.why.c_str());
        return Status::ok();
    }
    // A library that loads but cannot make a handle (say, one too new for the driver) is the
    // same as none: prefill stays correct on the matvec kernels, and the log says why.
    cublasLtHandle_t handle = nullptr;
    const cublasStatus_t s = lt.cublasLtCreate(&handle);
    if (s != CUBLAS_STATUS_SUCCESS) {
        log_message(INFER_LOG_WARN,
                    "CUDA: cublasLtCreate failed with status %d; prefill uses matvec kernels",
                    static_cast<int>(s));
        return Status::ok();
    }
    handle_ = handle;
    plans_ = std::make_unique<Plan[]>(kMaxGemmPlans);
    return Status::ok();
}

// Column-major view (cuBLASLt's): Y^T [slab][rows] (ld n) = op_T(W16^T [k][slab]) * X16^T
// [k][rows]. out_align: the byte alignment the output pointers are known to have (W16 and X16
// start the 256-byte aligned scratch; cuBLASLt assumes 256 for every matrix unless told).
Status Gemm::plan_for(int64_t slab_rows, int64_t rows, int64_t k, int64_t ldc, uint32_t out_align,
                      Plan **out) {
    const Plan::Key key{slab_rows, rows, k, ldc, out_align};
    for (size_t i = 0; i < n_plans_; ++i)
        if (plans_[i].key == key) {
            *out = &plans_[i];
            return Status::ok();
        }
    Plan *plan = nullptr;
    if (n_plans_ < kMaxGemmPlans) {
        plan = &plans_[n_plans_++];
    } else {
        plan = &plans_[next_victim_];
        next_victim_ = (next_victim_ + 1) % kMaxGemmPlans;
        clear_plan(cublaslt(), plan);
    }
    // Kept only once complete: a failed plan is emptied (its key matches nothing), and the next
    // call tries again.
    const Status made = make_plan(slab_rows, rows, k, ldc, out_align, plan);
    if (!made.is_ok()) {
        clear_plan(cublaslt(), plan);
        return made;
    }
    plan->key = key;
    *out = plan;
    return Status::ok();
}

Status Gemm::make_plan(int64_t slab_rows, int64_t rows, int64_t k, int64_t ldc, uint32_t out_align,
                       Plan *plan) {
    const CublasLtApi &lt = cublaslt();
    INFER_LT_TRY(lt.cublasLtMatmulDescCreate(&plan->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t trans_a = CUBLAS_OP_T;
    INFER_LT_TRY(lt.cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a,
                                                   sizeof trans_a));
    INFER_LT_TRY(lt.cublasLtMatrixLayoutCreate(&plan->a, CUDA_R_16F, k, slab_rows, k));
    INFER_LT_TRY(lt.cublasLtMatrixLayoutCreate(&plan->b, CUDA_R_16F, k, rows, k));
    INFER_LT_TRY(lt.cublasLtMatrixLayoutCreate(&plan->c, CUDA_R_32F, slab_rows, rows, ldc));
    cublasLtMatmulPreference_t pref = nullptr;
    INFER_LT_TRY(lt.cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t ws = kGemmWorkspaceBytes;
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    cublasStatus_t s = lt.cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    for (const cublasLtMatmulPreferenceAttributes_t attr :
         {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
        if (s == CUBLAS_STATUS_SUCCESS)
            s = lt.cublasLtMatmulPreferenceSetAttribute(pref, attr, &out_align, sizeof out_align);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = lt.cublasLtMatmulAlgoGetHeuristic(static_cast<cublasLtHandle_t>(handle_), plan->op,
                                              plan->a, plan->b, plan->c, plan->c, pref, 1, &result,
                                              &found);
    lt.cublasLtMatmulPreferenceDestroy(pref);
    INFER_TRY(lt_status(s, "cublasLtMatmulAlgoGetHeuristic"));
    if (found < 1)
        return make_error(INFER_ERR_UNSUPPORTED, "cuBLASLt has no algorithm for %lldx%lldx%lld",
                          static_cast<long long>(slab_rows), static_cast<long long>(rows),
                          static_cast<long long>(k));
    plan->algo = result.algo;
    return Status::ok();
}

Status Gemm::matmul(const DeviceMatrix &w, const float *x, int64_t rows, float *y, void *scratch,
                    cudaStream_t stream) {
    if (!handle_) return matvec_batched(w, x, rows, nullptr, y, stream);
    auto *x16 = static_cast<uint8_t *>(scratch);
    uint8_t *w16 = x16 + align256(static_cast<uint64_t>(rows * w.k) * 2);
    INFER_TRY(to_f16(x, rows * w.k, x16, stream));
    const CublasLtApi &lt = cublaslt();
    const int64_t slab = gemm_slab_rows(w.k, w.n, kGemmSlabBytes);
    // One slab writes y itself (256-byte aligned); later ones start at multiples of `slab`.
    const uint32_t out_align = slab >= w.n ? 256u : gemm_output_alignment(slab);
    const float alpha = 1.0f, beta = 0.0f;
    for (int64_t r0 = 0; r0 < w.n; r0 += slab) {
        const int64_t n_rows = w.n - r0 < slab ? w.n - r0 : slab;
        INFER_TRY(dequantize_f16(w, r0, n_rows, w16, stream));
        Plan *plan = nullptr;
        if (const Status planned = plan_for(n_rows, rows, w.k, w.n, out_align, &plan);
            !planned.is_ok()) {
            // No algorithm for this shape (or the heuristic failed): still correct, slower.
            log_message(INFER_LOG_WARN, "CUDA: %s; this product uses the matvec kernels",
                        planned.message().c_str());
            return matvec_batched(w, x, rows, nullptr, y, stream);
        }
        INFER_LT_TRY(lt.cublasLtMatmul(static_cast<cublasLtHandle_t>(handle_), plan->op, &alpha,
                                       w16, plan->a, x16, plan->b, &beta, y + r0, plan->c, y + r0,
                                       plan->c, &plan->algo, workspace_, kGemmWorkspaceBytes,
                                       stream));
    }
    return Status::ok();
}

} // namespace infer::cuda
