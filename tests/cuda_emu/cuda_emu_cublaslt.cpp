// The CUDA emulator's cuBLASLt: D = alpha * op(A) op(B) + beta * C in column-major layouts, fp16
// A and B, fp32 C and D, fp32 accumulation, queued on the stream like a kernel. What the real
// library requires is checked, since a GPU would fail (or silently misbehave) without it:
// layouts whose shapes fit the operation, leading dimensions at least the row count, operands in
// device memory, and pointers aligned as the algorithm the heuristic chose assumed (256 bytes
// unless the preference said less).
#include "cuda_emu_state.h"

#include <cublasLt.h>
#include <cuda_fp16.h>

#include <vector>

namespace cuda_emu {

struct LtHandle {};
struct LtMatmulDesc {
    cublasOperation_t trans_a = CUBLAS_OP_N, trans_b = CUBLAS_OP_N;
};
struct LtLayout {
    cudaDataType_t type;
    uint64_t rows, cols;
    int64_t ld;
};
struct LtPreference {
    uint64_t max_workspace = 0;
    uint32_t align[4] = {256, 256, 256, 256}; // A, B, C, D
};

namespace {

// What the chosen "algorithm" carries: the alignments it assumed.
struct Algo {
    uint32_t align[4];
};
static_assert(sizeof(Algo) <= sizeof(cublasLtMatmulAlgo_t));

uint64_t element_bytes(cudaDataType_t t) { return t == CUDA_R_16F ? 2 : 4; }

// op(X) of layout l: rows x cols after the transpose.
void op_shape(const LtLayout &l, cublasOperation_t op, uint64_t *rows, uint64_t *cols) {
    *rows = op == CUBLAS_OP_T ? l.cols : l.rows;
    *cols = op == CUBLAS_OP_T ? l.rows : l.cols;
}

bool shapes_fit(const LtMatmulDesc &op, const LtLayout &a, const LtLayout &b, const LtLayout &c,
                const LtLayout &d) {
    uint64_t am, ak, bk, bn;
    op_shape(a, op.trans_a, &am, &ak);
    op_shape(b, op.trans_b, &bk, &bn);
    const bool layouts_ok =
        a.ld >= static_cast<int64_t>(a.rows) && b.ld >= static_cast<int64_t>(b.rows) &&
        c.ld >= static_cast<int64_t>(c.rows) && d.ld >= static_cast<int64_t>(d.rows);
    return layouts_ok && ak == bk && c.rows == am && c.cols == bn && d.rows == am && d.cols == bn &&
           a.type == CUDA_R_16F && b.type == CUDA_R_16F && c.type == CUDA_R_32F &&
           d.type == CUDA_R_32F;
}

bool operand_ok(const void *p, const LtLayout &l, uint32_t align) {
    const uint64_t bytes =
        ((l.cols - 1) * static_cast<uint64_t>(l.ld) + l.rows) * element_bytes(l.type);
    MemoryKind kind;
    return p && reinterpret_cast<uintptr_t>(p) % align == 0 && find_allocation(p, bytes, &kind) &&
           kind == MemoryKind::Device;
}

// op(X) as rows of floats: out[r][p] = op(X)[r][p], for column-major fp16 X.
std::vector<float> op_rows(const void *x, const LtLayout &l, cublasOperation_t op, uint64_t rows,
                           uint64_t depth) {
    std::vector<float> out(rows * depth);
    const auto *h = static_cast<const __half *>(x);
    for (uint64_t r = 0; r < rows; ++r)
        for (uint64_t p = 0; p < depth; ++p) {
            const uint64_t row = op == CUBLAS_OP_T ? p : r, col = op == CUBLAS_OP_T ? r : p;
            out[r * depth + p] = __half2float(h[col * static_cast<uint64_t>(l.ld) + row]);
        }
    return out;
}

// Eight partial sums, so the host compiler vectorizes without reassociating on its own.
float dot(const float *a, const float *b, uint64_t n) {
    float part[8] = {};
    uint64_t p = 0;
    for (; p + 8 <= n; p += 8)
        for (int u = 0; u < 8; ++u)
            part[u] += a[p + u] * b[p + u];
    for (; p < n; ++p)
        part[0] += a[p] * b[p];
    return ((part[0] + part[1]) + (part[2] + part[3])) +
           ((part[4] + part[5]) + (part[6] + part[7]));
}

} // namespace
} // namespace cuda_emu

using namespace cuda_emu;

cublasStatus_t cublasLtCreate(cublasLtHandle_t *handle) {
    const cuda_emu::InternalScope internal;
    *handle = new LtHandle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
    const cuda_emu::InternalScope internal;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *desc, cublasComputeType_t compute,
                                        cudaDataType_t scale_type) {
    const cuda_emu::InternalScope internal;
    if (compute != CUBLAS_COMPUTE_32F || scale_type != CUDA_R_32F)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    *desc = new LtMatmulDesc;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
    const cuda_emu::InternalScope internal;
    delete desc;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc,
                                              cublasLtMatmulDescAttributes_t attr, const void *buf,
                                              size_t size) {
    const cuda_emu::InternalScope internal;
    if (size != sizeof(cublasOperation_t)) return CUBLAS_STATUS_INVALID_VALUE;
    const auto op = *static_cast<const cublasOperation_t *>(buf);
    if (attr == CUBLASLT_MATMUL_DESC_TRANSA)
        desc->trans_a = op;
    else if (attr == CUBLASLT_MATMUL_DESC_TRANSB)
        desc->trans_b = op;
    else
        return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *layout, cudaDataType_t type,
                                          uint64_t rows, uint64_t cols, int64_t ld) {
    const cuda_emu::InternalScope internal;
    if (rows == 0 || cols == 0 || ld < static_cast<int64_t>(rows))
        return CUBLAS_STATUS_INVALID_VALUE;
    *layout = new LtLayout{type, rows, cols, ld};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
    const cuda_emu::InternalScope internal;
    delete layout;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *pref) {
    const cuda_emu::InternalScope internal;
    *pref = new LtPreference;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
    const cuda_emu::InternalScope internal;
    delete pref;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attr,
                                                    const void *buf, size_t size) {
    const cuda_emu::InternalScope internal;
    switch (attr) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
        if (size != sizeof(uint64_t)) return CUBLAS_STATUS_INVALID_VALUE;
        pref->max_workspace = *static_cast<const uint64_t *>(buf);
        return CUBLAS_STATUS_SUCCESS;
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES: {
        if (size != sizeof(uint32_t)) return CUBLAS_STATUS_INVALID_VALUE;
        const uint32_t a = *static_cast<const uint32_t *>(buf);
        if (a == 0 || (a & (a - 1)) != 0) return CUBLAS_STATUS_INVALID_VALUE;
        pref->align[attr - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES] = a;
        return CUBLAS_STATUS_SUCCESS;
    }
    }
    return CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t op,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                              cublasLtMatmulPreference_t pref, int requested,
                                              cublasLtMatmulHeuristicResult_t *results,
                                              int *returned) {
    const cuda_emu::InternalScope internal;
    if (!handle || !op || !a || !b || !c || !d || !pref || requested < 1)
        return CUBLAS_STATUS_INVALID_VALUE;
    *returned = 0;
    if (!shapes_fit(*op, *a, *b, *c, *d)) return CUBLAS_STATUS_SUCCESS; // none found
    results[0] = {};
    Algo algo;
    for (int i = 0; i < 4; ++i)
        algo.align[i] = pref->align[i];
    std::memcpy(&results[0].algo, &algo, sizeof algo);
    results[0].workspaceSize = 0;
    results[0].state = CUBLAS_STATUS_SUCCESS;
    *returned = 1;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t op, const void *alpha,
                              const void *a, cublasLtMatrixLayout_t a_layout, const void *b,
                              cublasLtMatrixLayout_t b_layout, const void *beta, const void *c,
                              cublasLtMatrixLayout_t c_layout, void *d,
                              cublasLtMatrixLayout_t d_layout, const cublasLtMatmulAlgo_t *algo,
                              void *workspace, size_t workspace_bytes, cudaStream_t stream) {
    const cuda_emu::InternalScope internal;
    if (!handle || !op || !algo || !alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    if (!shapes_fit(*op, *a_layout, *b_layout, *c_layout, *d_layout))
        return CUBLAS_STATUS_INVALID_VALUE;
    Algo chosen;
    std::memcpy(&chosen, algo, sizeof chosen);
    if (!operand_ok(a, *a_layout, chosen.align[0]) || !operand_ok(b, *b_layout, chosen.align[1]) ||
        !operand_ok(c, *c_layout, chosen.align[2]) || !operand_ok(d, *d_layout, chosen.align[3])) {
        std::fprintf(stderr, "cuda emulator: cublasLtMatmul: an operand is not device memory of "
                             "its layout's size, or less aligned than the algorithm assumed\n");
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    MemoryKind kind;
    if (workspace_bytes &&
        !(find_allocation(workspace, workspace_bytes, &kind) && kind == MemoryKind::Device))
        return CUBLAS_STATUS_INVALID_VALUE;
    const LtMatmulDesc o = *op;
    const LtLayout la = *a_layout, lb = *b_layout, lc = *c_layout, ld = *d_layout;
    const float al = *static_cast<const float *>(alpha), be = *static_cast<const float *>(beta);
    enqueue(stream, [=] {
        uint64_t m, k, n, unused;
        op_shape(la, o.trans_a, &m, &k);
        op_shape(lb, o.trans_b, &unused, &n);
        const std::vector<float> ar = op_rows(a, la, o.trans_a, m, k);
        const std::vector<float> bc = op_rows(
            b, lb, o.trans_b == CUBLAS_OP_T ? CUBLAS_OP_N : CUBLAS_OP_T, n, k); // columns of op(B)
        for (uint64_t j = 0; j < n; ++j) {
            // C is read before D is written at each element: they may alias (in place).
            const auto *cj = static_cast<const float *>(c) + j * static_cast<uint64_t>(lc.ld);
            auto *dj = static_cast<float *>(d) + j * static_cast<uint64_t>(ld.ld);
            for (uint64_t i = 0; i < m; ++i) {
                const float sum = dot(&ar[i * k], &bc[j * k], k);
                dj[i] = al * sum + (be != 0.0f ? be * cj[i] : 0.0f);
            }
        }
    });
    return CUBLAS_STATUS_SUCCESS;
}
