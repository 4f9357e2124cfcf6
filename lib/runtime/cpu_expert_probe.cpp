#include "runtime/cpu_expert_probe.h"

#include "core/memory_bandwidth.h"
#include "core/types.h"
#include "graph/graph.h"
#include "graph/planner.h"
#include "runtime/backend_registry.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <sys/mman.h>
#include <vector>

namespace infer {
namespace {

constexpr int kExpertsPerToken = 8;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// Anonymous memory for the expert stacks, in 4 KiB pages as the page cache maps a model file
// (a transparent huge page would make the probe's TLB behaviour kinder than a real run's).
struct Mapping {
    void *data = MAP_FAILED;
    size_t bytes = 0;
    ~Mapping() {
        if (data != MAP_FAILED) ::munmap(data, bytes);
    }
};

// One MoeFfn node on the CPU backend, with its router so that a run starts at MoeRoute: the
// route node's barrier gathers the pool's threads, so the MoeFfn node's own timer (the one a
// context's statistics use, BoundGraph::moe_ffn_seconds) sees the node as a decode step does.
class MoeFfnRig {
public:
    // The last kExpertsPerToken experts of the stack are marked resident on a device, which the
    // node skips: a step that selects some of them computes only the others, as a split does.
    Status init(const ExpertShape &shape, int64_t n_expert, int64_t max_tokens, int32_t n_threads);
    // Runs route + experts for n_tokens tokens, token t selecting experts[t * k .. t * k + k).
    Status run(const int32_t *experts, int64_t n_tokens, double *seconds);
    uint64_t expert_bytes() const { return expert_bytes_; }
    uint64_t expert_elements() const { return 3 * static_cast<uint64_t>(n_embd_ * n_ff_); }
    ~MoeFfnRig() {
        if (arena_) backend_->release(MemoryKind::Context, arena_);
    }

private:
    graph::WeightRef stack(const char *name, uint32_t type, int64_t k, int64_t n, int64_t n_expert,
                           uint64_t row_bytes, uint64_t offset) const;

    Status repack_stacks();

    int64_t n_embd_ = 0, n_ff_ = 0, n_expert_ = 0;
    uint64_t expert_bytes_ = 0;
    Mapping weights_;
    Mapping repacked_; // the CPU's copies of the stacks, as a loaded model has them
    std::vector<float> table_, router_;
    std::vector<int32_t> slots_;
    graph::WeightRef table_ref_, router_ref_, gate_, up_, down_;
    graph::Graph graph_;
    graph::TensorId x_ = graph::kNoTensor, logits_ = graph::kNoTensor;
    int32_t route_node_ = 0, ffn_node_ = 0;
    std::unique_ptr<Backend> backend_;
    uint8_t *arena_ = nullptr;
    BoundGraph bound_;
    double seconds_ = 0;
    KvCache kv_;
};

graph::WeightRef MoeFfnRig::stack(const char *name, uint32_t type, int64_t k, int64_t n,
                                  int64_t n_expert, uint64_t row_bytes, uint64_t offset) const {
    graph::WeightRef w;
    w.name = name;
    w.type = type;
    w.ne[0] = k;
    w.ne[1] = n;
    w.ne[2] = n_expert;
    w.data = static_cast<const uint8_t *>(weights_.data) + offset;
    w.row_bytes = row_bytes;
    w.n_bytes = row_bytes * static_cast<uint64_t>(n * n_expert);
    return w;
}

Status MoeFfnRig::init(const ExpertShape &shape, int64_t n_expert, int64_t max_tokens,
                       int32_t n_threads) {
    const int64_t n_embd = shape.n_embd, n_ff = shape.n_ff;
    n_embd_ = n_embd;
    n_ff_ = n_ff;
    n_expert_ = n_expert;
    uint64_t gate_row = 0, up_row = 0, down_row = 0;
    if (!expert_row_bytes(shape, &gate_row, &up_row, &down_row))
        return make_error(INFER_ERR_UNSUPPORTED, "probe: expert shape %s has no rows",
                          expert_shape_name(shape).c_str());
    const auto rows = static_cast<uint64_t>(n_ff * n_expert);
    const uint64_t gate_bytes = gate_row * rows, up_bytes = up_row * rows;
    const uint64_t down_bytes = down_row * static_cast<uint64_t>(n_embd * n_expert);
    expert_bytes_ = (gate_bytes + up_bytes + down_bytes) / static_cast<uint64_t>(n_expert);
    weights_.bytes = gate_bytes + up_bytes + down_bytes;
    weights_.data = ::mmap(nullptr, weights_.bytes, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (weights_.data == MAP_FAILED)
        return make_error(INFER_ERR_OUT_OF_MEMORY, "probe: cannot map %llu bytes",
                          static_cast<unsigned long long>(weights_.bytes));
    (void)::madvise(weights_.data, weights_.bytes, MADV_NOHUGEPAGE);
    // 0x11 everywhere: every fp16 scale a small normal number, so no block is NaN or denormal.
    std::fill_n(static_cast<uint8_t *>(weights_.data), weights_.bytes, uint8_t{0x11});
    gate_ = stack("probe.gate_exps", shape.gate_type, n_embd, n_ff, n_expert, gate_row, 0);
    up_ = stack("probe.up_exps", shape.up_type, n_embd, n_ff, n_expert, up_row, gate_bytes);
    down_ = stack("probe.down_exps", shape.down_type, n_ff, n_embd, n_expert, down_row,
                  gate_bytes + up_bytes);

    INFER_TRY(repack_stacks());

    const auto f32 = static_cast<uint32_t>(TypeId::F32);
    table_.assign(static_cast<size_t>(n_embd), 0.5f);
    router_.assign(static_cast<size_t>(n_embd * n_expert), 0.0f);
    table_ref_ = {"probe.table", f32, {n_embd, 1, 1, 1}, table_.data(),
                  static_cast<uint64_t>(n_embd) * 4, static_cast<uint64_t>(n_embd) * 4};
    router_ref_ = {"probe.router", f32, {n_embd, n_expert, 1, 1}, router_.data(),
                   static_cast<uint64_t>(n_embd) * 4, router_.size() * 4};

    graph::GraphBuilder b(max_tokens);
    b.set_layer(0);
    x_ = b.embed(table_ref_, 1.0f);
    logits_ = b.matmul(router_ref_, x_);
    const graph::GraphBuilder::Route route = b.moe_route(logits_, kExpertsPerToken, true);
    route_node_ = 2;
    const graph::TensorId y = b.moe_ffn(x_, route, gate_, up_, down_, graph::Activation::Silu);
    ffn_node_ = 3;
    graph_ = b.finish(y);
    slots_.assign(static_cast<size_t>(n_expert), -1);
    for (int64_t e = n_expert - kExpertsPerToken; e < n_expert; ++e)
        slots_[static_cast<size_t>(e)] = static_cast<int32_t>(e);
    graph_.nodes[static_cast<size_t>(ffn_node_)].expert_slot = slots_.data();

    BackendConfig config;
    config.n_threads = n_threads;
    INFER_TRY(cpu_backend_entry().make_backend(config, &backend_));
    INFER_TRY(backend_->start());
    backend_->size_scratch(graph_, kv_.layout);
    std::vector<BufferRequest> requests(graph_.tensors.size());
    for (size_t i = 0; i < graph_.tensors.size(); ++i) {
        const graph::TensorDesc &t = graph_.tensors[i];
        if (t.alias_of != graph::kNoTensor || t.first_use < 0) continue;
        requests[i].size = graph_.max_bytes(static_cast<graph::TensorId>(i));
        requests[i].first_use = static_cast<uint32_t>(t.first_use);
        requests[i].last_use = static_cast<uint32_t>(t.last_use);
    }
    Plan plan;
    INFER_TRY(plan_memory(requests, std::max<uint64_t>(64, backend_->alignment()), &plan));
    INFER_TRY(backend_->allocate(MemoryKind::Context, plan.arena_size, &arena_));
    bound_.graph = &graph_;
    bound_.tensor_data.assign(graph_.tensors.size(), nullptr);
    for (size_t i = 0; i < graph_.tensors.size(); ++i) {
        const graph::TensorId root = graph_.storage_of(static_cast<graph::TensorId>(i));
        if (graph_.tensors[root].first_use >= 0)
            bound_.tensor_data[i] = arena_ + plan.offsets[root] +
                                    graph_.storage_offset(static_cast<graph::TensorId>(i));
    }
    bound_.moe_ffn_seconds = &seconds_;
    float *x = reinterpret_cast<float *>(bound_.tensor_data[x_]);
    for (int64_t i = 0; i < max_tokens * n_embd; ++i) x[i] = 0.01f * static_cast<float>(i % 97);
    return backend_->prepare(bound_);
}

// A loaded model's CPU reads its experts repacked when it can (runtime/host_weights.h), so the
// probe measures those kernels too.
Status MoeFfnRig::repack_stacks() {
    const BackendEntry &cpu = cpu_backend_entry();
    if (!cpu.relayout_bytes || !cpu.relayout) return Status::ok();
    graph::WeightRef *stacks[] = {&gate_, &up_, &down_};
    uint64_t offsets[3], total = 0;
    for (int i = 0; i < 3; ++i) {
        offsets[i] = total;
        total += (cpu.relayout_bytes(*stacks[i]) + 63) & ~uint64_t{63};
    }
    if (total == 0) return Status::ok();
    repacked_.data =
        ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (repacked_.data == MAP_FAILED)
        return make_error(INFER_ERR_OUT_OF_MEMORY, "probe: cannot map %llu bytes",
                          static_cast<unsigned long long>(total));
    repacked_.bytes = total;
    (void)::madvise(repacked_.data, total, MADV_NOHUGEPAGE);
    for (int i = 0; i < 3; ++i) {
        if (cpu.relayout_bytes(*stacks[i]) == 0) continue;
        uint8_t *at = static_cast<uint8_t *>(repacked_.data) + offsets[i];
        stacks[i]->cpu_layout = cpu.relayout(*stacks[i], at, nullptr, {});
        stacks[i]->cpu_data = at;
    }
    return Status::ok();
}

Status MoeFfnRig::run(const int32_t *experts, int64_t n_tokens, double *seconds) {
    // The router's top k is exactly the chosen experts: they score 1, the others 0.
    float *logits = reinterpret_cast<float *>(bound_.tensor_data[logits_]);
    std::fill_n(logits, n_tokens * n_expert_, 0.0f);
    for (int64_t t = 0; t < n_tokens; ++t)
        for (int j = 0; j < kExpertsPerToken; ++j)
            logits[t * n_expert_ + experts[t * kExpertsPerToken + j]] = 1.0f;
    seconds_ = 0;
    INFER_TRY(backend_->run(bound_, {route_node_, ffn_node_ + 1}, n_tokens, kv_, StopSignal{}));
    *seconds = seconds_;
    return Status::ok();
}

// A fixed shuffle of 0..n-1 (a linear congruential generator: the same on every machine).
std::vector<int32_t> shuffled(int64_t n) {
    std::vector<int32_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = order.size(); i > 1; --i) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        std::swap(order[i - 1], order[static_cast<size_t>((x >> 33) % i)]);
    }
    return order;
}

// Least squares line through (x, y): y = a + b x.
void fit_line(const std::vector<double> &x, const std::vector<double> &y, double *a, double *b) {
    const auto n = static_cast<double>(x.size());
    const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
    const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
    double sxy = 0, sxx = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
    }
    *b = sxx > 0 ? sxy / sxx : 0;
    *a = my - *b * mx;
}

} // namespace

Status measure_cpu_read_bandwidth(int32_t n_threads, double *bytes_per_s) {
    *bytes_per_s = measure_read_bandwidth(n_threads).median_bytes_per_second;
    if (*bytes_per_s <= 0) return make_error(INFER_ERR_INTERNAL, "read bandwidth probe failed");
    return Status::ok();
}

Status measure_cpu_expert_cost(const ExpertShape &shape, int32_t n_threads, CpuExpertCost *out) {
    constexpr int64_t kPrefillTokens = 128, kPrefillExperts = 16, kRounds = 48;
    const uint64_t expert_bytes = expert_shape_bytes(shape);
    if (expert_bytes == 0)
        return make_error(INFER_ERR_UNSUPPORTED, "probe: expert shape %s has no rows",
                          expert_shape_name(shape).c_str());
    // Enough experts that a step never finds one in the caches (256 MiB in all), and no fewer
    // than prefill computes: more would only cost the time to fill them.
    const int64_t n_cpu = std::max<int64_t>(
        kPrefillExperts, static_cast<int64_t>((uint64_t{256} << 20) / expert_bytes) + 1);
    MoeFfnRig rig;
    INFER_TRY(rig.init(shape, n_cpu + kExpertsPerToken, kPrefillTokens, n_threads));

    // Decode: steps computing j = 1 .. k of the token's k experts (the rest are the device's),
    // interleaved so that a burst of load elsewhere touches every j alike, after a pass that
    // warms the code and the pool. The CPU experts come in turn from a shuffled order, so none is
    // cached from a recent step. The node's time is a line in j: node_s + j * expert_s.
    const std::vector<int32_t> order = shuffled(n_cpu);
    size_t next = 0;
    std::vector<std::vector<double>> times(kExpertsPerToken);
    for (int64_t round = -4; round < kRounds; ++round)
        for (int j = 1; j <= kExpertsPerToken; ++j) {
            int32_t experts[kExpertsPerToken];
            for (int i = 0; i < kExpertsPerToken; ++i)
                experts[i] = i < j ? order[next++ % order.size()]
                                   : static_cast<int32_t>(n_cpu + i);
            double t = 0;
            INFER_TRY(rig.run(experts, 1, &t));
            if (round >= 0) times[static_cast<size_t>(j - 1)].push_back(t);
        }
    std::vector<double> js, medians;
    for (int j = 1; j <= kExpertsPerToken; ++j) {
        js.push_back(j);
        medians.push_back(median(times[static_cast<size_t>(j - 1)]));
    }
    double a = 0, b = 0;
    fit_line(js, medians, &a, &b);
    if (const char *v = std::getenv("INFER_DEBUG_MOE_NODES"); v && v[0] == '1')
        for (int j = 1; j <= kExpertsPerToken; ++j)
            std::fprintf(stderr, "probe %s: %d experts: median %.1f us, line %.1f us\n",
                         expert_shape_name(shape).c_str(), j, 1e6 * medians[static_cast<size_t>(j - 1)],
                         1e6 * (a + b * j));
    out->shape = shape;
    out->expert_s = std::max(b, 0.05 * medians.back() / kExpertsPerToken);
    out->node_s = std::max(a, 0.0);

    // Prefill: token t takes experts t .. t+k-1 (mod 16): 64 tokens per expert.
    std::vector<int32_t> experts(static_cast<size_t>(kPrefillTokens * kExpertsPerToken));
    for (int64_t t = 0; t < kPrefillTokens; ++t)
        for (int j = 0; j < kExpertsPerToken; ++j)
            experts[static_cast<size_t>(t * kExpertsPerToken + j)] =
                order[static_cast<size_t>((t + j) % kPrefillExperts)];
    std::vector<double> prefill;
    for (int r = 0; r < 6; ++r) {
        double t = 0;
        INFER_TRY(rig.run(experts.data(), kPrefillTokens, &t));
        if (r > 0) prefill.push_back(t); // the first run warms up
    }
    const double flops = 2.0 * static_cast<double>(rig.expert_elements()) * kPrefillTokens *
                         kExpertsPerToken;
    const double t = median(prefill);
    out->prefill_flops_per_s = flops / std::max(t - out->node_s, 0.05 * t);
    return Status::ok();
}

} // namespace infer
