// Every CUDA kernel against the CPU's scalar reference on random data with odd sizes: both
// matvec paths (simple: every weight type; int8: its nine types, and its activation quantizer
// byte for byte against the host's) for 1..8 tokens, dequantize-to-fp16, embedding lookup, the
// prefill GEMM (cuBLASLt, several slabs), RMSNorm, add/scale/bias, the gated activations (the
// clamped SwiGLU included), the sigmoid gate, RoPE (normal, NeoX, frequency factors), the KV
// store (F16, F32), attention (GQA, window, softcap, one split and flash-decoding splits), MoE
// routing (every route function, selection bias, groups, scale) and the grouped expert FFN
// (every weight type, both paths, fused and unfused gate/up, expert biases, resident and staged
// subsets, expert counts). Runs only with a CUDA device (tests/gpu/main.cpp skips otherwise).
#include <doctest/doctest.h>

#include "core/dequant.h"
#include "core/fp16.h"
#include "core/random.h"
#include "core/types.h"
#include "cpu/cpu_moe.h"
#include "cpu/cpu_ops.h"
#include "cuda/cuda_activation.h"
#include "cuda/cuda_gemm.h"
#include "cuda/cuda_int8_dot.h"
#include "cuda/cuda_kernels.h"
#include "tooling/quant_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <vector>

using namespace infer;

namespace {

// A device copy of a host vector, freed with the object.
template <class T> class DeviceVec {
public:
    explicit DeviceVec(size_t n) : n_(n) {
        REQUIRE(cudaMalloc(&p_, std::max<size_t>(n, 1) * sizeof(T)) == cudaSuccess);
    }
    explicit DeviceVec(const std::vector<T> &host) : DeviceVec(host.size()) {
        REQUIRE(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
    }
    ~DeviceVec() { cudaFree(p_); }
    DeviceVec(const DeviceVec &) = delete;
    DeviceVec &operator=(const DeviceVec &) = delete;
    T *get() const { return static_cast<T *>(p_); }
    std::vector<T> host() const {
        REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
        std::vector<T> out(n_);
        REQUIRE(cudaMemcpy(out.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
        return out;
    }

private:
    void *p_ = nullptr;
    size_t n_;
};

std::vector<float> random_floats(size_t n, uint64_t seed, float scale = 1.0f) {
    Rng rng(seed);
    std::vector<float> v(n);
    for (float &x : v)
        x = scale * (2.0f * static_cast<float>(rng.uniform()) - 1.0f);
    return v;
}

void ok(const Status &s) { REQUIRE_MESSAGE(s.is_ok(), s.message()); }

// max |a - b| / (max |b| + tiny) over the vectors
double rel_max_error(const std::vector<float> &a, const std::vector<float> &b) {
    double err = 0, mag = 1e-12;
    for (size_t i = 0; i < a.size(); ++i) {
        err = std::max(err, static_cast<double>(std::fabs(a[i] - b[i])));
        mag = std::max(mag, static_cast<double>(std::fabs(b[i])));
    }
    return err / mag;
}

struct HostMatrix {
    uint32_t type;
    int64_t k, n;
    uint64_t row_bytes;
    std::vector<uint8_t> bytes;
    std::vector<float> dequant; // [n][k]
};

HostMatrix random_matrix(uint32_t type, int64_t k, int64_t n, uint64_t seed) {
    const TypeTraits &t = *type_traits(type);
    HostMatrix m{type, k, n, static_cast<uint64_t>(k / t.block_elems) * t.block_bytes, {}, {}};
    m.bytes.resize(m.row_bytes * static_cast<uint64_t>(n));
    REQUIRE(random_blocks(type, seed, 0.5f, m.bytes.data(), n * (k / t.block_elems)));
    m.dequant.resize(static_cast<size_t>(n * k));
    REQUIRE(dequantize_row_ref(type, m.bytes.data(), m.dequant.data(), n * k));
    return m;
}

// y[t][r] = W[r] . x[t] in double; with abs_sum, also sum_i |W[r][i] x[t][i]| per output: the
// scale that bounds float rounding in any summation order (an error relative to the largest
// output is not bounded so: in a one-output case that output can be near zero by chance).
std::vector<float> reference_matmul(const HostMatrix &m, const std::vector<float> &x, int64_t rows,
                                    std::vector<double> *abs_sum = nullptr) {
    std::vector<float> y(static_cast<size_t>(rows * m.n));
    if (abs_sum) abs_sum->assign(y.size(), 0.0);
    for (int64_t t = 0; t < rows; ++t)
        for (int64_t r = 0; r < m.n; ++r) {
            double s = 0, a = 0;
            for (int64_t i = 0; i < m.k; ++i) {
                const double p = static_cast<double>(m.dequant[static_cast<size_t>(r * m.k + i)]) *
                                 x[static_cast<size_t>(t * m.k + i)];
                s += p;
                a += std::fabs(p);
            }
            y[static_cast<size_t>(t * m.n + r)] = static_cast<float>(s);
            if (abs_sum) (*abs_sum)[static_cast<size_t>(t * m.n + r)] = a;
        }
    return y;
}

// max over outputs of |a - b| / scale
double scaled_max_error(const std::vector<float> &a, const std::vector<float> &b,
                        const std::vector<double> &scale) {
    double err = 0;
    for (size_t i = 0; i < a.size(); ++i)
        err = std::max(err, std::fabs(static_cast<double>(a[i]) - b[i]) / (scale[i] + 1e-30));
    return err;
}

// The matrix of |W| (dequantized values only: for bounds computed with reference_matmul).
HostMatrix abs_matrix(const HostMatrix &m) {
    HostMatrix a{m.type, m.k, m.n, m.row_bytes, {}, m.dequant};
    for (float &v : a.dequant)
        v = std::fabs(v);
    return a;
}

const uint32_t kTypes[] = {0, 1, 30, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 39};

} // namespace

// Token counts and row counts for both matvec paths: rows not a multiple of any rows-per-block.
const int64_t kMatvecTokens[] = {1, 2, 3, 5, 8};
const int64_t kMatvecRows[] = {1, 37};

TEST_CASE("cuda kernels: simple matvec matches the reference for every type and 1..8 tokens") {
    for (uint32_t type : kTypes) {
        const TypeTraits &t = *type_traits(type);
        CAPTURE(t.name);
        for (int64_t n_blocks : {1, 3, 7}) {
            const int64_t k = t.block_elems == 1 ? 111 * n_blocks : n_blocks * t.block_elems;
            for (int64_t n : kMatvecRows) {
                CAPTURE(k);
                CAPTURE(n);
                const HostMatrix m = random_matrix(type, k, n, 100 + type);
                const DeviceVec<uint8_t> w(m.bytes);
                const cuda::DeviceMatrix dm{type, k, n, w.get(), m.row_bytes};
                for (int64_t rows : kMatvecTokens) {
                    CAPTURE(rows);
                    const std::vector<float> x =
                        random_floats(static_cast<size_t>(rows * k), 7 + rows);
                    const std::vector<float> bias = random_floats(static_cast<size_t>(n), 9);
                    const DeviceVec<float> dx(x), dbias(bias);
                    DeviceVec<float> dy(static_cast<size_t>(rows * n));
                    ok(cuda::matvec(dm, dx.get(), rows, dbias.get(), dy.get(), nullptr));
                    std::vector<double> scale;
                    std::vector<float> ref = reference_matmul(m, x, rows, &scale);
                    for (int64_t i = 0; i < rows * n; ++i) {
                        ref[static_cast<size_t>(i)] += bias[static_cast<size_t>(i % n)];
                        scale[static_cast<size_t>(i)] +=
                            std::fabs(bias[static_cast<size_t>(i % n)]);
                    }
                    // f32 sums of at most k / 32 + 5 terms per lane and shuffle step
                    CHECK(scaled_max_error(dy.host(), ref, scale) < 1e-5);
                }
            }
        }
    }
}

TEST_CASE("cuda kernels: int8 matvec matches the reference on int8 activations, 1..8 tokens") {
    for (uint32_t type : {2u, 3u, 8u, 10u, 11u, 12u, 13u, 14u, 39u}) {
        const TypeTraits &t = *type_traits(type);
        CAPTURE(t.name);
        for (int64_t n_blocks : {1, 3, 7, 9, 33}) {
            const int64_t k = n_blocks * t.block_elems;
            for (int64_t n : kMatvecRows) {
                CAPTURE(k);
                CAPTURE(n);
                const HostMatrix m = random_matrix(type, k, n, 400 + type);
                const DeviceVec<uint8_t> w(m.bytes);
                const cuda::DeviceMatrix dm{type, k, n, w.get(), m.row_bytes};
                REQUIRE(cuda::matvec_int8_supported(dm));
                for (int64_t rows : kMatvecTokens) {
                    CAPTURE(rows);
                    const std::vector<float> x =
                        random_floats(static_cast<size_t>(rows * k), 17 + rows, 3.0f);
                    const std::vector<float> bias = random_floats(static_cast<size_t>(n), 19);
                    const DeviceVec<float> dx(x), dbias(bias);
                    DeviceVec<uint8_t> act(cuda::act_int8_bytes(k, rows));
                    ok(cuda::quantize_act_int8(dx.get(), k, rows, act.get(), nullptr));

                    // The device's int8 activations are the host's, byte for byte.
                    std::vector<uint8_t> host_act(cuda::act_int8_bytes(k, rows));
                    auto *q = reinterpret_cast<int8_t *>(host_act.data());
                    std::vector<cuda::ActScale> scales(static_cast<size_t>(rows * k / 32));
                    std::vector<float> xq(x.size()); // the activations the int8 path multiplies
                    for (size_t b = 0; b < scales.size(); ++b) {
                        scales[b] = cuda::quantize_act_block(x.data() + 32 * b, q + 32 * b);
                        for (size_t j = 32 * b; j < 32 * b + 32; ++j)
                            xq[j] = scales[b].d * static_cast<float>(q[j]);
                    }
                    std::memcpy(host_act.data() + rows * k, scales.data(),
                                scales.size() * sizeof(cuda::ActScale));
                    REQUIRE(act.host() == host_act);

                    DeviceVec<float> dy(static_cast<size_t>(rows * n));
                    ok(cuda::matvec_int8(dm, act.get(), rows, dbias.get(), dy.get(), nullptr));
                    const std::vector<float> y = dy.host();
                    // The int8 activations cost at most half a quantization step per element:
                    // |y - exact| <= sum_i |W[r][i]| d_i / 2 (d_i: element i's block scale).
                    std::vector<float> half_steps(x.size());
                    for (size_t i = 0; i < x.size(); ++i)
                        half_steps[i] = 0.5f * scales[i / 32].d;
                    std::vector<double> scale, step_bound;
                    std::vector<float> ref = reference_matmul(m, xq, rows, &scale),
                                       exact = reference_matmul(m, x, rows);
                    reference_matmul(abs_matrix(m), half_steps, rows, &step_bound);
                    double worst_step = 0;
                    for (size_t i = 0; i < y.size(); ++i) {
                        const float bi = bias[i % static_cast<size_t>(n)];
                        ref[i] += bi;
                        exact[i] += bi;
                        scale[i] += std::fabs(bi);
                        worst_step =
                            std::max(worst_step, (std::fabs(y[i] - exact[i]) - 1e-5 * scale[i]) /
                                                     step_bound[i]);
                    }
                    CHECK(scaled_max_error(y, ref, scale) < 1e-5);
                    CHECK(worst_step <= 1.0);
                }
            }
        }
    }
    // Misaligned matrices, odd rows of an even-sized block and the types without an int8 unit go
    // to the simple path; MXFP4's odd-sized blocks take rows of any length.
    CHECK_FALSE(cuda::matvec_int8_supported({2, 32, 1, reinterpret_cast<const uint8_t *>(2), 18}));
    CHECK_FALSE(cuda::matvec_int8_supported({2, 32, 1, nullptr, 19}));
    CHECK_FALSE(cuda::matvec_int8_supported({6, 32, 1, nullptr, 22}));
    CHECK(cuda::matvec_int8_supported({39, 32, 1, nullptr, 17}));
}

TEST_CASE("cuda kernels: dequantize to fp16 and embedding lookup match the reference") {
    for (uint32_t type : kTypes) {
        const TypeTraits &t = *type_traits(type);
        const int64_t k = t.block_elems == 1 ? 77 : 2 * t.block_elems, n = 19;
        CAPTURE(t.name);
        const HostMatrix m = random_matrix(type, k, n, 200 + type);
        const DeviceVec<uint8_t> w(m.bytes);
        const cuda::DeviceMatrix dm{type, k, n, w.get(), m.row_bytes};
        DeviceVec<uint16_t> half(static_cast<size_t>(5 * k));
        ok(cuda::dequantize_f16(dm, 3, 5, half.get(), nullptr)); // rows 3..7
        const std::vector<uint16_t> got = half.host();
        for (int64_t i = 0; i < 5 * k; ++i)
            REQUIRE(got[static_cast<size_t>(i)] ==
                    fp32_to_fp16(m.dequant[static_cast<size_t>(3 * k + i)]));

        const std::vector<int32_t> tokens = {4, 0, 18, 4};
        const DeviceVec<int32_t> dtok(tokens);
        DeviceVec<float> out(tokens.size() * static_cast<size_t>(k));
        ok(cuda::embed(dm, dtok.get(), 4, 0.5f, out.get(), nullptr));
        const std::vector<float> e = out.host();
        for (size_t ti = 0; ti < tokens.size(); ++ti)
            for (int64_t i = 0; i < k; ++i)
                REQUIRE(e[ti * static_cast<size_t>(k) + static_cast<size_t>(i)] ==
                        m.dequant[static_cast<size_t>(tokens[ti] * k + i)] * 0.5f);
    }
}

TEST_CASE("cuda kernels: prefill GEMM over several slabs matches the reference") {
    // 4096 x 8200 Q4_0 is 64 MiB of fp16: two slabs. 14336 x 2400 Q4_0 (an 8B model's ffn_down
    // shape) cuts its slab at 2304 rows, a second slab whose output must stay 256-byte aligned.
    // 96 x 45 F16 is the small, odd case.
    struct Shape {
        uint32_t type;
        int64_t k, n, rows;
    };
    for (const Shape s : {Shape{2, 4096, 8200, 17}, Shape{2, 14336, 2400, 9}, Shape{1, 96, 45, 37},
                          Shape{14, 512, 300, 64}}) {
        CAPTURE(s.type);
        const HostMatrix m = random_matrix(s.type, s.k, s.n, 300 + s.type);
        const DeviceVec<uint8_t> w(m.bytes);
        const cuda::DeviceMatrix dm{s.type, s.k, s.n, w.get(), m.row_bytes};
        const std::vector<float> x = random_floats(static_cast<size_t>(s.rows * s.k), 11);
        const DeviceVec<float> dx(x);
        DeviceVec<float> dy(static_cast<size_t>(s.rows * s.n));
        DeviceVec<uint8_t> scratch(cuda::gemm_scratch_bytes(s.k, s.n, s.rows));
        DeviceVec<uint8_t> workspace(cuda::kGemmWorkspaceBytes);
        cuda::Gemm gemm;
        ok(gemm.start(workspace.get()));
        MESSAGE("prefill GEMM path: " << (gemm.uses_cublaslt() ? "cuBLASLt" : "matvec fallback"));
        ok(gemm.matmul(dm, dx.get(), s.rows, dy.get(), scratch.get(), nullptr));
        // fp16 operands: error relative to the largest output ~ 1e-3
        CHECK(rel_max_error(dy.host(), reference_matmul(m, x, s.rows)) < 5e-3);
    }
}

TEST_CASE("cuda kernels: elementwise ops, gated activations, sigmoid gate and RMSNorm match the "
          "references") {
    const int64_t rows = 5, n = 1001;
    const std::vector<float> a = random_floats(static_cast<size_t>(rows * n), 1, 4.0f),
                             b = random_floats(static_cast<size_t>(rows * n), 2, 4.0f),
                             w = random_floats(static_cast<size_t>(n), 3);
    const DeviceVec<float> da(a), db(b), dw(w);
    DeviceVec<float> dy(static_cast<size_t>(rows * n));
    std::vector<float> ref(static_cast<size_t>(rows * n));

    ok(cuda::add(dy.get(), da.get(), db.get(), rows * n, nullptr));
    cpu::add_ref(ref.data(), a.data(), b.data(), rows * n);
    CHECK(dy.host() == ref);

    ok(cuda::scale(dy.get(), da.get(), 0.3f, rows * n, nullptr));
    cpu::scale_ref(ref.data(), a.data(), 0.3f, rows * n);
    CHECK(dy.host() == ref);

    ok(cuda::add(dy.get(), da.get(), db.get(), rows * n, nullptr));
    ok(cuda::add_rows(dy.get(), dw.get(), rows, n, nullptr));
    for (int64_t i = 0; i < rows * n; ++i)
        ref[static_cast<size_t>(i)] =
            a[static_cast<size_t>(i)] + b[static_cast<size_t>(i)] + w[static_cast<size_t>(i % n)];
    CHECK(rel_max_error(dy.host(), ref) < 1e-6);

    // Gates and ups past the clamped SwiGLU's limits (7) as well.
    const std::vector<float> gate = random_floats(static_cast<size_t>(rows * n), 5, 12.0f),
                             up = random_floats(static_cast<size_t>(rows * n), 6, 12.0f);
    const DeviceVec<float> dgate(gate), dup(up);
    for (const auto &[act, cpu_act] : {std::pair{cuda::kGluSilu, cpu::GluAct::silu},
                                       std::pair{cuda::kGluGeluTanh, cpu::GluAct::gelu_tanh},
                                       std::pair{cuda::kGluSwigluOai, cpu::GluAct::swiglu_oai}}) {
        CAPTURE(act);
        ok(cuda::glu(dy.get(), dgate.get(), dup.get(), rows * n, act, nullptr));
        cpu::glu_ref(ref.data(), gate.data(), up.data(), rows * n, cpu_act);
        CHECK(rel_max_error(dy.host(), ref) < 1e-5);
    }

    const std::vector<float> g = random_floats(static_cast<size_t>(rows), 4, 6.0f);
    const DeviceVec<float> dg(g);
    ok(cuda::sigmoid_gate(dy.get(), da.get(), dg.get(), rows, n, nullptr));
    cpu::sigmoid_gate_ref(ref.data(), a.data(), g.data(), rows, static_cast<int>(n));
    CHECK(rel_max_error(dy.host(), ref) < 1e-6);

    for (int64_t group : {n, int64_t{7}}) { // whole rows, and per-head norm over odd groups
        const int64_t r = rows * n / group;
        ok(cuda::rms_norm(dy.get(), da.get(), group == n ? dw.get() : nullptr, r, group, 1e-5f,
                          nullptr));
        cpu::rms_norm_ref(ref.data(), a.data(), group == n ? w.data() : nullptr, r,
                          static_cast<int>(group), 1e-5f);
        CHECK(rel_max_error(dy.host(), ref) < 1e-5);
    }
}

TEST_CASE("cuda kernels: RoPE matches rope_ref (normal, NeoX, frequency factors, YaRN)") {
    const int n_head = 3, head_dim = 40, n_rot = 32, t = 4;
    const std::vector<int32_t> pos = {0, 1, 77, 3000};
    const std::vector<float> ff = random_floats(n_rot / 2, 5, 0.5f);
    std::vector<float> factors(ff.size());
    for (size_t i = 0; i < ff.size(); ++i)
        factors[i] = 1.5f + ff[i];
    const DeviceVec<int32_t> dpos(pos);
    const DeviceVec<float> dff(factors);
    for (bool neox : {false, true})
        for (bool with_factors : {false, true}) {
            CAPTURE(neox);
            CAPTURE(with_factors);
            std::vector<float> x = random_floats(static_cast<size_t>(t * n_head * head_dim), 6);
            DeviceVec<float> dx(x);
            const float theta_scale = std::pow(10000.0f, -2.0f / n_rot);
            // With the factors, YaRN as well (gpt-oss: scale 1/32, the ramp inside the pairs).
            const cuda::RopeYarnArgs yarn =
                with_factors ? cuda::RopeYarnArgs{1.0f, 0.9f, 3.0f, 11.0f} : cuda::RopeYarnArgs{};
            const float freq_scale = with_factors ? 1.0f / 32 : 0.5f;
            const cuda::RopeArgs a{n_head,      head_dim,   n_rot,
                                   theta_scale, freq_scale, with_factors ? dff.get() : nullptr,
                                   neox,        yarn};
            ok(cuda::rope(dx.get(), dpos.get(), t, a, nullptr));
            cpu::RopeParams p{n_head,
                              head_dim,
                              n_rot,
                              10000.0f,
                              freq_scale,
                              with_factors ? factors.data() : nullptr,
                              neox ? cpu::RopeMode::neox : cpu::RopeMode::normal};
            p.ext_factor = yarn.ext_factor;
            p.attn_factor = yarn.attn_factor;
            p.corr_dims[0] = yarn.corr_lo;
            p.corr_dims[1] = yarn.corr_hi;
            cpu::rope_ref(x.data(), pos.data(), t, p);
            CHECK(rel_max_error(dx.host(), x) < 1e-5);
        }
}

namespace {

// The head shapes of one KV store and attention check: keys of hd, values of dv, in their own
// cache or (v_in_k, multi-head latent attention) the first dv of each key row.
struct AttentionShape {
    int n_head, n_kv, hd, dv;
    bool v_in_k;
};

// Stores three new tokens after 250 cached ones on the device and the CPU, compares the caches
// bit for bit, then attention of those tokens over them.
void check_kv_store_and_attention(const AttentionShape &sh, bool f16, int window, float softcap,
                                  int n_splits) {
    const int n_head = sh.n_head, n_kv = sh.n_kv, hd = sh.hd, dv = sh.dv, n_ctx = 300, t = 3;
    const cpu::KvLayout layout{n_kv, hd,       n_ctx, f16 ? cpu::KvType::f16 : cpu::KvType::f32,
                               dv,   sh.v_in_k};
    const size_t elem = f16 ? 2 : 4;
    const size_t k_plane = static_cast<size_t>(n_kv) * n_ctx * hd * elem;
    const size_t v_plane = sh.v_in_k ? 0 : static_cast<size_t>(n_kv) * n_ctx * dv * elem;
    // Fill positions 0..n_past-1 through kv_store_ref, the new ones with both.
    std::vector<uint8_t> kc(k_plane, 0), vc(v_plane, 0);
    const int n_past = 250;
    std::vector<int32_t> old_pos(n_past);
    for (int i = 0; i < n_past; ++i)
        old_pos[static_cast<size_t>(i)] = i;
    const std::vector<float> old_k = random_floats(static_cast<size_t>(n_past * n_kv * hd), 21),
                             old_v = random_floats(static_cast<size_t>(n_past * n_kv * dv), 22);
    cpu::kv_store_ref(kc.data(), vc.data(), old_k.data(), old_v.data(), old_pos.data(), n_past,
                      layout);
    DeviceVec<uint8_t> dkc(kc), dvc(vc);
    const std::vector<int32_t> pos = {250, 251, 252};
    const std::vector<float> k = random_floats(static_cast<size_t>(t * n_kv * hd), 23),
                             v = random_floats(static_cast<size_t>(t * n_kv * dv), 24);
    const DeviceVec<float> dk(k), dvals(v);
    const DeviceVec<int32_t> dpos(pos);
    const cuda::KvArgs kv{n_kv, hd, n_ctx, f16, dv, sh.v_in_k};
    ok(cuda::kv_store(dkc.get(), dvc.get(), dk.get(), sh.v_in_k ? nullptr : dvals.get(), dpos.get(),
                      t, kv, nullptr));
    cpu::kv_store_ref(kc.data(), vc.data(), k.data(), v.data(), pos.data(), t, layout);
    REQUIRE(dkc.host() == kc);
    REQUIRE(dvc.host() == vc);

    const std::vector<float> q = random_floats(static_cast<size_t>(t * n_head * hd), 25, 2.0f);
    const DeviceVec<float> dq(q);
    DeviceVec<float> dout(static_cast<size_t>(t * n_head * dv));
    // With a window, attention sinks too (gpt-oss), one of them dominant.
    std::vector<float> sinks = random_floats(static_cast<size_t>(n_head), 26, 2.0f);
    sinks[0] = 9.0f;
    const DeviceVec<float> dsinks(sinks);
    const bool with_sinks = window > 0;
    const cuda::AttentionArgs a{n_head, 0.125f,   softcap,
                                window, n_splits, with_sinks ? dsinks.get() : nullptr};
    DeviceVec<uint8_t> scratch(cuda::attention_scratch_bytes(t, n_head, dv, n_splits));
    const void *values = sh.v_in_k ? dkc.get() : dvc.get();
    ok(cuda::attention(dout.get(), dq.get(), dkc.get(), values, dpos.get(), t, kv, a, scratch.get(),
                       nullptr));
    std::vector<float> ref(static_cast<size_t>(t * n_head * dv));
    cpu::attention_ref(
        ref.data(), q.data(), kc.data(), sh.v_in_k ? kc.data() : vc.data(), pos.data(), t, layout,
        cpu::AttnParams{n_head, 0.125f, softcap, window, with_sinks ? sinks.data() : nullptr});
    CHECK(rel_max_error(dout.host(), ref) < 1e-4);
}

} // namespace

TEST_CASE("cuda kernels: KV store and attention match the references") {
    // Grouped-query heads of 72; value heads unlike the keys, in their own cache; values inside
    // the keys (MLA), DeepSeek-V3's 576/512 among them; value sizes that take 1, 2, 4 and 8
    // output dims per thread, ragged, and keys of kMaxHeadDim.
    for (const AttentionShape sh :
         {AttentionShape{6, 2, 72, 72, false}, AttentionShape{6, 2, 72, 40, false},
          AttentionShape{3, 1, 136, 200, false}, AttentionShape{5, 1, 72, 56, true},
          AttentionShape{4, 1, 576, 512, true},
          AttentionShape{2, 1, cuda::kMaxHeadDim, cuda::kMaxHeadDim - 24, true}})
        for (bool f16 : {true, false})
            for (int window : {0, 5})
                for (float softcap : {0.0f, 30.0f})
                    for (int n_splits : {1, 3, 8}) {
                        CAPTURE(sh.hd);
                        CAPTURE(sh.dv);
                        CAPTURE(sh.v_in_k);
                        CAPTURE(f16);
                        CAPTURE(window);
                        CAPTURE(softcap);
                        CAPTURE(n_splits);
                        check_kv_store_and_attention(sh, f16, window, softcap, n_splits);
                    }
}

namespace {

// A routing configuration beyond the plain softmax: the route function, a selection bias,
// groups and the weight scale.
struct Routing {
    cpu::RouteFn fn;
    bool bias;
    int n_group, n_group_used;
    float scale;
};

cuda::RouteFn cuda_route_fn(cpu::RouteFn fn) {
    switch (fn) {
    case cpu::RouteFn::softmax_topk:
        return cuda::RouteFn::SoftmaxTopK;
    case cpu::RouteFn::sigmoid:
        return cuda::RouteFn::Sigmoid;
    case cpu::RouteFn::softmax:
        break;
    }
    return cuda::RouteFn::Softmax;
}

// moe_route on t tokens of random logits (ties: few distinct values, and a bias of few distinct
// values, so experts and groups tie) against moe_route_ref.
void check_moe_route(int n_expert, int k, int64_t t, bool norm, bool ties, const Routing &r) {
    std::vector<float> logits =
        random_floats(static_cast<size_t>(t * n_expert), 31 + static_cast<uint64_t>(t), 3.0f);
    std::vector<float> bias = random_floats(static_cast<size_t>(n_expert), 37, 0.5f);
    if (ties) { // equal scores go to the lower id, equal group sums to the lower group
        for (float &l : logits)
            l = std::round(l);
        for (float &b : bias)
            b = std::round(4.0f * b) / 4.0f;
    }
    const DeviceVec<float> dl(logits), dbias(bias);
    DeviceVec<int32_t> ids(static_cast<size_t>(t * k));
    DeviceVec<float> w(static_cast<size_t>(t * k));
    cuda::RouteArgs a{n_expert, k, norm, cuda_route_fn(r.fn)};
    a.bias = r.bias ? dbias.get() : nullptr;
    a.n_group = r.n_group;
    a.n_group_used = r.n_group_used;
    a.scale = r.scale;
    ok(cuda::moe_route(dl.get(), t, a, ids.get(), w.get(), nullptr));
    std::vector<int32_t> ref_ids(static_cast<size_t>(t * k));
    std::vector<float> ref_w(ref_ids.size());
    cpu::RouteOptions opt;
    opt.bias = r.bias ? bias.data() : nullptr;
    opt.n_group = r.n_group;
    opt.n_group_used = r.n_group_used;
    opt.scale = r.scale;
    cpu::moe_route_ref(logits.data(), t, n_expert, k, norm, ref_ids.data(), ref_w.data(), r.fn,
                       opt);
    REQUIRE(ids.host() == ref_ids);
    // Only the softmaxes' double sums are reduced in another order.
    CHECK(rel_max_error(w.host(), ref_w) < 1e-6);
}

} // namespace

TEST_CASE("cuda kernels: MoE routing matches moe_route_ref (top-k, ties, norm)") {
    struct Shape {
        int n_expert, k;
    };
    const Routing softmax{cpu::RouteFn::softmax, false, 0, 0, 1.0f};
    for (const Shape sh : {Shape{1, 1}, Shape{7, 3}, Shape{33, 8}, Shape{60, 4}, Shape{129, 9}})
        for (int64_t t : {1, 3, 9, 77})
            for (bool norm : {false, true})
                for (bool ties : {false, true}) {
                    CAPTURE(sh.n_expert);
                    CAPTURE(sh.k);
                    CAPTURE(t);
                    CAPTURE(norm);
                    CAPTURE(ties);
                    check_moe_route(sh.n_expert, sh.k, t, norm, ties, softmax);
                }
}

TEST_CASE("cuda kernels: MoE routing matches moe_route_ref (top-k softmax, sigmoid, bias, groups, "
          "scale, ties)") {
    struct Case {
        int n_expert, k;
        Routing r;
    };
    using cpu::RouteFn;
    const Case cases[] = {
        {7, 3, {RouteFn::softmax_topk, false, 0, 0, 1.0f}}, // gpt-oss
        {33, 4, {RouteFn::softmax_topk, false, 0, 0, 1.0f}},
        {33, 8, {RouteFn::sigmoid, true, 0, 0, 2.5f}}, // DeepSeek-V3 without groups
        {64, 6, {RouteFn::sigmoid, true, 8, 3, 2.5f}}, // DeepSeek-V3's shape, scaled down
        {12, 4, {RouteFn::sigmoid, false, 4, 2, 1.0f}},
        {128, 8, {RouteFn::sigmoid, true, 64, 5, 1.5f}},    // the most groups, groups of two
        {60, 5, {RouteFn::softmax, true, 6, 2, 16.0f}},     // DeepSeek-V2: softmax with groups
        {35, 5, {RouteFn::softmax_topk, true, 7, 7, 0.5f}}, // every group used
    };
    for (const Case &c : cases)
        for (int64_t t : {1, 9, 77})
            for (bool norm : {false, true})
                for (bool ties : {false, true}) {
                    CAPTURE(c.n_expert);
                    CAPTURE(c.k);
                    CAPTURE(static_cast<int>(c.r.fn));
                    CAPTURE(c.r.bias);
                    CAPTURE(c.r.n_group);
                    CAPTURE(t);
                    CAPTURE(norm);
                    CAPTURE(ties);
                    check_moe_route(c.n_expert, c.k, t, norm, ties, c.r);
                }
    // Groups the kernel cannot take are an error, not a wrong answer.
    const DeviceVec<float> dl(std::vector<float>(10, 0.0f));
    DeviceVec<int32_t> ids(2);
    DeviceVec<float> w(2);
    cuda::RouteArgs bad{10, 2, false, cuda::RouteFn::Sigmoid};
    bad.n_group = 3; // does not divide 10
    bad.n_group_used = 1;
    CHECK_FALSE(cuda::moe_route(dl.get(), 1, bad, ids.get(), w.get(), nullptr).is_ok());
}

namespace {

// Stacked experts on the host and the device: n_expert matrices of n rows x k, one after another
// (HostMatrix rows e * n .. e * n + n - 1 are expert e's).
struct TestExperts {
    HostMatrix m;
    DeviceVec<uint8_t> bytes;
    int n_expert;
    int64_t n;
    TestExperts(uint32_t type, int64_t k, int64_t n_rows, int n_exp, uint64_t seed)
        : m(random_matrix(type, k, n_rows * n_exp, seed)), bytes(m.bytes), n_expert(n_exp),
          n(n_rows) {}
    cuda::DeviceExperts device() const {
        return {{m.type, m.k, n, bytes.get(), m.row_bytes},
                m.row_bytes * static_cast<uint64_t>(n),
                n_expert};
    }
    cpu::ExpertWeights host() const {
        return {m.type,
                m.k,
                n,
                n_expert,
                m.bytes.data(),
                m.row_bytes,
                m.row_bytes * static_cast<uint64_t>(n)};
    }
    // W_e[r] . x in double
    double dot(int e, int64_t r, const float *x) const {
        const float *row = m.dequant.data() + (e * n + r) * m.k;
        double s = 0;
        for (int64_t i = 0; i < m.k; ++i)
            s += static_cast<double>(row[i]) * x[i];
        return s;
    }
};

// Random f32 bias rows of the three stacks, [n_expert][n] each (gpt-oss), on the host and the
// device.
struct TestBiases {
    std::vector<float> gate, up, down;
    DeviceVec<float> d_gate, d_up, d_down;
    TestBiases(int n_expert, int64_t n_ff, int64_t n_embd, uint64_t seed)
        : gate(random_floats(static_cast<size_t>(n_expert * n_ff), seed)),
          up(random_floats(static_cast<size_t>(n_expert * n_ff), seed + 1)),
          down(random_floats(static_cast<size_t>(n_expert * n_embd), seed + 2)), d_gate(gate),
          d_up(up), d_down(down) {}
    void attach(cpu::MoeFfn *f) const {
        f->gate_bias = gate.data();
        f->up_bias = up.data();
        f->down_bias = down.data();
    }
};

// The kernels' code of a CPU gated activation.
int cuda_act(cpu::GluAct act) {
    switch (act) {
    case cpu::GluAct::gelu_tanh:
        return cuda::kGluGeluTanh;
    case cpu::GluAct::swiglu_oai:
        return cuda::kGluSwigluOai;
    case cpu::GluAct::silu:
        break;
    }
    return cuda::kGluSilu;
}

// moe_ffn_ref's formula with exact activations and dot products in double (the CPU reference
// rounds activations to 8 bits for quantized weights, as the int8 path does in its own way).
std::vector<float> exact_moe(const TestExperts &gate, const TestExperts &up,
                             const TestExperts &down, const std::vector<float> &x,
                             const std::vector<int32_t> &ids, const std::vector<float> &w,
                             int64_t t, int k, cpu::GluAct act, const TestBiases *bias) {
    const int64_t n_embd = gate.m.k, n_ff = gate.n;
    std::vector<float> y(static_cast<size_t>(t * n_embd), 0.0f), g(static_cast<size_t>(n_ff)),
        u(g.size());
    for (int64_t tok = 0; tok < t; ++tok)
        for (int j = 0; j < k; ++j) {
            const int e = ids[static_cast<size_t>(tok * k + j)];
            const float *xt = x.data() + tok * n_embd;
            auto bias_of = [&](const std::vector<float> TestBiases::*b, int64_t n, int64_t r) {
                return bias ? static_cast<double>((bias->*b)[static_cast<size_t>(e * n + r)]) : 0.0;
            };
            for (int64_t r = 0; r < n_ff; ++r) {
                g[static_cast<size_t>(r)] =
                    static_cast<float>(gate.dot(e, r, xt) + bias_of(&TestBiases::gate, n_ff, r));
                u[static_cast<size_t>(r)] =
                    static_cast<float>(up.dot(e, r, xt) + bias_of(&TestBiases::up, n_ff, r));
            }
            cpu::glu_ref(g.data(), g.data(), u.data(), n_ff, act);
            for (int64_t r = 0; r < n_embd; ++r)
                y[static_cast<size_t>(tok * n_embd + r)] += static_cast<float>(
                    w[static_cast<size_t>(tok * k + j)] *
                    (down.dot(e, r, g.data()) + bias_of(&TestBiases::down, n_embd, r)));
        }
    return y;
}

// k distinct experts per token (as the router picks them) and positive weights.
void random_routes(int64_t t, int n_expert, int k, uint64_t seed, std::vector<int32_t> *ids,
                   std::vector<float> *w) {
    Rng rng(seed);
    std::vector<int32_t> all(static_cast<size_t>(n_expert));
    ids->clear();
    w->clear();
    for (int64_t tok = 0; tok < t; ++tok) {
        std::iota(all.begin(), all.end(), 0);
        for (int j = 0; j < k; ++j) {
            std::swap(
                all[static_cast<size_t>(j)],
                all[static_cast<size_t>(j) + rng.next() % static_cast<uint64_t>(n_expert - j)]);
            ids->push_back(all[static_cast<size_t>(j)]);
            w->push_back(0.1f + static_cast<float>(rng.uniform()));
        }
    }
}

// One call's inputs on the host and the device: k distinct experts per token with positive
// weights, random activations, and room for the output.
struct MoeInputs {
    std::vector<float> w; // before ids: routes() fills it
    std::vector<int32_t> ids;
    std::vector<float> x;
    DeviceVec<float> dx, dw;
    DeviceVec<int32_t> dids;
    DeviceVec<float> dy;
    static std::vector<int32_t> routes(int64_t t, int n_expert, int k, uint64_t seed,
                                       std::vector<float> *w) {
        std::vector<int32_t> ids;
        random_routes(t, n_expert, k, seed, &ids, w);
        return ids;
    }
    MoeInputs(int64_t t, int64_t n_embd, int n_expert, int k, uint64_t seed)
        : w(), ids(routes(t, n_expert, k, seed, &w)),
          x(random_floats(static_cast<size_t>(t * n_embd), seed + 10)), dx(x), dw(w), dids(ids),
          dy(static_cast<size_t>(t * n_embd)) {}
};

// One expert FFN configuration through cuda::moe_ffn against the exact result and against
// cpu::moe_ffn_ref, for each token count; the device counters against a host count. biases:
// every product adds its expert's random bias row.
void check_moe_ffn(uint32_t gate_type, uint32_t up_type, uint32_t down_type, int n_expert, int k,
                   std::initializer_list<int64_t> token_counts, bool int8, cpu::GluAct act,
                   bool biases = false) {
    CAPTURE(type_traits(gate_type)->name);
    CAPTURE(type_traits(up_type)->name);
    CAPTURE(type_traits(down_type)->name);
    CAPTURE(n_expert);
    CAPTURE(k);
    CAPTURE(int8);
    CAPTURE(static_cast<int>(act));
    CAPTURE(biases);
    // Odd sizes: whole blocks of every type, odd block counts where the block is 32.
    auto length = [](uint32_t a, uint32_t b, int64_t small) {
        const int64_t blk = std::max(type_traits(a)->block_elems, type_traits(b)->block_elems);
        return blk == 1 ? small + 5 : (blk == 32 ? 3 * blk : blk);
    };
    const int64_t n_embd = length(gate_type, up_type, 40), n_ff = length(down_type, down_type, 24);
    const TestExperts gate(gate_type, n_embd, n_ff, n_expert, 500 + gate_type),
        up(up_type, n_embd, n_ff, n_expert, 600 + up_type),
        down(down_type, n_ff, n_embd, n_expert, 700 + down_type);
    const int64_t max_tokens = *std::max_element(token_counts.begin(), token_counts.end());
    const TestBiases bias(n_expert, n_ff, n_embd, 900 + gate_type);
    cuda::MoeFfnArgs a{gate.device(), up.device(), down.device(), k, cuda_act(act), int8};
    cpu::MoeFfn f{gate.host(), up.host(), down.host(), act};
    if (biases) {
        a.gate.bias = bias.d_gate.get();
        a.up.bias = bias.d_up.get();
        a.down.bias = bias.d_down.get();
        bias.attach(&f);
    }
    // One scratch for the largest count, reused (stale groups must not leak into a later call).
    DeviceVec<uint8_t> scratch(cuda::moe_ffn_scratch_bytes(a, max_tokens));
    for (int64_t t : token_counts) {
        CAPTURE(t);
        const MoeInputs in(t, n_embd, n_expert, k, 40 + static_cast<uint64_t>(t));
        const std::vector<int32_t> &ids = in.ids;
        const std::vector<float> &w = in.w, &x = in.x;
        const DeviceVec<unsigned long long> counts(
            std::vector<unsigned long long>(static_cast<size_t>(n_expert), 5));
        ok(cuda::moe_ffn(a, in.dx.get(), in.dids.get(), in.dw.get(), t, in.dy.get(), scratch.get(),
                         counts.get(), nullptr));
        const std::vector<float> y = in.dy.host();
        const std::vector<float> exact =
            exact_moe(gate, up, down, x, ids, w, t, k, act, biases ? &bias : nullptr);
        std::vector<float> ref(y.size());
        cpu::moe_ffn_ref(f, x.data(), ids.data(), w.data(), t, k, ref.data());
        const bool rounds = int8 && cuda::matvec_int8_supported(gate.device().m);
        // The float path: f32 summation order only. The int8 path: 8-bit activations per 32, as
        // the CPU reference's own 8-bit activations (per 32 or 256) move it from the exact result.
        CHECK(rel_max_error(y, exact) < (rounds ? 2e-2 : 1e-5));
        CHECK(rel_max_error(y, ref) < 3e-2);
        std::vector<unsigned long long> want(static_cast<size_t>(n_expert), 5);
        for (int32_t e : ids)
            ++want[static_cast<size_t>(e)];
        CHECK(counts.host() == want);
    }
}

// The experts of a stack (`per_expert` elements each) whose slot satisfies `take`, in expert
// order: a partly resident stack as the device holds it (per-expert offload), or the experts
// staged for one call (prefill streaming).
template <class T, class Take>
std::vector<T> packed(const std::vector<T> &stack, uint64_t per_expert,
                      const std::vector<int32_t> &slot, Take take) {
    std::vector<T> out;
    for (size_t i = 0; i < slot.size(); ++i)
        if (take(slot[i]))
            out.insert(out.end(), stack.begin() + static_cast<std::ptrdiff_t>(i * per_expert),
                       stack.begin() + static_cast<std::ptrdiff_t>((i + 1) * per_expert));
    return out;
}

// One stack of check_moe_subset's on the device: its resident experts packed by slot, its staged
// ones by staged index, the same for its bias rows (when `bias` is not null).
struct SubsetStack {
    DeviceVec<uint8_t> resident, staged;
    std::unique_ptr<DeviceVec<float>> resident_bias, staged_bias;
    cuda::DeviceExperts device;
    static bool is_resident(int32_t s) { return s >= 0; }
    static bool is_staged(int32_t s) { return s < cuda::kCpuExpert; }
    SubsetStack(const TestExperts &e, const std::vector<float> *bias,
                const std::vector<int32_t> &slot)
        : resident(
              packed(e.m.bytes, e.m.row_bytes * static_cast<uint64_t>(e.n), slot, is_resident)),
          staged(packed(e.m.bytes, e.m.row_bytes * static_cast<uint64_t>(e.n), slot, is_staged)),
          device(e.device()) {
        device.m.data = resident.get();
        device.staged = staged.get();
        if (!bias) return;
        const auto n = static_cast<uint64_t>(e.n);
        resident_bias = std::make_unique<DeviceVec<float>>(packed(*bias, n, slot, is_resident));
        staged_bias = std::make_unique<DeviceVec<float>>(packed(*bias, n, slot, is_staged));
        device.bias = resident_bias->get();
        device.staged_bias = staged_bias->get();
    }
};

// The device's subset of the experts through cuda::moe_ffn (resident experts packed by slot, and
// experts staged for the call as prefill streaming stages them) against cpu::moe_ffn_ref over
// the same subset; with the CPU's complementary subset it sums to the whole FFN. Only the
// device's experts are counted. biases: gpt-oss's expert biases and clamped SwiGLU.
void check_moe_subset(uint32_t gate_type, uint32_t down_type,
                      std::initializer_list<int64_t> token_counts, bool biases = false) {
    CAPTURE(type_traits(gate_type)->name);
    CAPTURE(type_traits(down_type)->name);
    CAPTURE(biases);
    const int n_expert = 7, k = 3;
    auto length = [](uint32_t type, int64_t small) {
        const int64_t blk = type_traits(type)->block_elems;
        return blk == 1 ? small + 5 : (blk == 32 ? 3 * blk : blk);
    };
    const int64_t n_embd = length(gate_type, 40), n_ff = length(down_type, 24);
    const TestExperts gate(gate_type, n_embd, n_ff, n_expert, 800),
        up(gate_type, n_embd, n_ff, n_expert, 801), down(down_type, n_ff, n_embd, n_expert, 802);
    // Experts 1, 4, 5 resident, 2 and 6 staged; the CPU's table marks all five as the device's.
    const std::vector<int32_t> slot = {
        cuda::kCpuExpert, 0, cuda::staged_slot(0), cuda::kCpuExpert, 1, 2, cuda::staged_slot(1)};
    std::vector<int32_t> host_slot(slot.size());
    for (size_t e = 0; e < slot.size(); ++e)
        host_slot[e] = slot[e] == cuda::kCpuExpert ? -1 : static_cast<int32_t>(e);
    const TestBiases bias(n_expert, n_ff, n_embd, 803);
    const SubsetStack g_on(gate, biases ? &bias.gate : nullptr, slot),
        u_on(up, biases ? &bias.up : nullptr, slot),
        d_on(down, biases ? &bias.down : nullptr, slot);
    const DeviceVec<int32_t> d_slot(slot);
    const cpu::GluAct act = biases ? cpu::GluAct::swiglu_oai : cpu::GluAct::silu;
    cuda::MoeFfnArgs a{g_on.device, u_on.device, d_on.device, k, cuda_act(act), true};
    a.slot = d_slot.get();
    const int64_t max_tokens = *std::max_element(token_counts.begin(), token_counts.end());
    DeviceVec<uint8_t> scratch(cuda::moe_ffn_scratch_bytes(a, max_tokens));
    cpu::MoeFfn resident{gate.host(), up.host(), down.host(), act};
    if (biases) bias.attach(&resident);
    resident.expert_slot = host_slot.data();
    resident.resident = true;
    cpu::MoeFfn rest = resident, all = resident;
    rest.resident = false;
    all.expert_slot = nullptr;
    for (int64_t t : token_counts) {
        CAPTURE(t);
        const MoeInputs in(t, n_embd, n_expert, k, 90 + static_cast<uint64_t>(t));
        const std::vector<int32_t> &ids = in.ids;
        const std::vector<float> &w = in.w, &x = in.x;
        const DeviceVec<unsigned long long> counts(std::vector<unsigned long long>(n_expert, 0));
        ok(cuda::moe_ffn(a, in.dx.get(), in.dids.get(), in.dw.get(), t, in.dy.get(), scratch.get(),
                         counts.get(), nullptr));
        const std::vector<float> y = in.dy.host();
        std::vector<float> ref(y.size()), cpu_part(y.size()), whole(y.size());
        cpu::moe_ffn_ref(resident, x.data(), ids.data(), w.data(), t, k, ref.data());
        cpu::moe_ffn_ref(rest, x.data(), ids.data(), w.data(), t, k, cpu_part.data());
        cpu::moe_ffn_ref(all, x.data(), ids.data(), w.data(), t, k, whole.data());
        CHECK(rel_max_error(y, ref) < 3e-2);
        for (size_t i = 0; i < y.size(); ++i)
            cpu_part[i] += y[i];
        CHECK(rel_max_error(cpu_part, whole) < 3e-2);
        std::vector<unsigned long long> want(static_cast<size_t>(n_expert), 0);
        for (int32_t e : ids)
            if (host_slot[static_cast<size_t>(e)] >= 0) ++want[static_cast<size_t>(e)];
        CHECK(counts.host() == want);
    }
}

} // namespace

TEST_CASE("cuda kernels: a resident subset of the experts (per-expert offload) matches the CPU's "
          "subset") {
    // The fused int8 path, the float path (F32), different gate and down types; one token and a
    // prefill batch (some tokens with none of their experts resident).
    check_moe_subset(12, 14, {1, 9});
    check_moe_subset(0, 0, {1, 9});
    check_moe_subset(2, 8, {1, 9});
    // gpt-oss: MXFP4 experts with bias rows (packed and staged like the weights), clamped SwiGLU.
    check_moe_subset(39, 39, {1, 9}, true);
    check_moe_subset(0, 8, {1, 9}, true);
}

TEST_CASE("cuda kernels: grouped expert FFN matches the references for every weight type") {
    // Every type on both paths (the int8 flag is ignored where the type has no int8 unit),
    // decode-sized and prefill-sized batches, odd expert counts.
    for (uint32_t type : kTypes)
        for (bool int8 : {true, false})
            check_moe_ffn(type, type, type, 7, 3, {1, 3, 8, 9}, int8, cpu::GluAct::silu);
    // Prefill-sized batches (tiles of 8 tokens, groups of every size), k up to 8, gelu.
    check_moe_ffn(2, 2, 2, 33, 8, {1, 77}, true, cpu::GluAct::silu);
    check_moe_ffn(12, 12, 14, 9, 2, {77}, true, cpu::GluAct::gelu_tanh);
    check_moe_ffn(1, 1, 1, 5, 5, {77}, true, cpu::GluAct::silu);
    check_moe_ffn(11, 11, 12, 7, 1, {1, 9, 77}, true, cpu::GluAct::silu);
    // Gate and up of different types: the unfused path (one on int8, one on floats).
    check_moe_ffn(2, 6, 8, 7, 3, {1, 9}, true, cpu::GluAct::silu);
    check_moe_ffn(12, 14, 13, 5, 2, {1, 9}, true, cpu::GluAct::gelu_tanh);
    // gpt-oss: expert biases and the clamped SwiGLU, fused and unfused, both paths.
    for (bool int8 : {true, false}) {
        check_moe_ffn(39, 39, 39, 7, 3, {1, 9, 77}, int8, cpu::GluAct::swiglu_oai, true);
        check_moe_ffn(8, 8, 39, 9, 4, {1, 9}, int8, cpu::GluAct::swiglu_oai, true);
        check_moe_ffn(39, 2, 12, 5, 2, {1, 9}, int8, cpu::GluAct::silu, true);
    }
}
