// Static memory planner: hand-made cases with a known optimum, the verifier catching broken plans,
// randomized properties, and a simulated SmolLM2-135M graph that must plan within 5% of the
// live-bytes lower bound.
#include "graph/plan_verify.h"
#include "graph/planner.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

using infer::BufferRequest;
using infer::Plan;
using infer::PlanHeuristic;

namespace {

// Plans, and checks what must hold for every successful plan whatever the input.
Plan plan_checked(const std::vector<BufferRequest> &buffers, uint64_t alignment) {
    Plan plan;
    const infer::Status status = infer::plan_memory(buffers, alignment, &plan);
    REQUIRE_MESSAGE(status.is_ok(), status.message());
    const infer::Status verified = infer::verify_plan(buffers, plan);
    CHECK_MESSAGE(verified.is_ok(), verified.message());
    CHECK(plan.offsets.size() == buffers.size());
    CHECK(plan.alignment == alignment);
    CHECK(plan.arena_size >= plan.lower_bound);
    return plan;
}

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Live bytes step by step, the slowest obvious way: the lower bound the planner must report.
uint64_t brute_force_lower_bound(const std::vector<BufferRequest> &buffers, uint64_t alignment) {
    uint32_t last_step = 0;
    for (const BufferRequest &b : buffers)
        last_step = std::max(last_step, b.last_use);
    uint64_t peak = 0;
    for (uint32_t t = 0; t <= last_step; ++t) {
        uint64_t live = 0;
        for (const BufferRequest &b : buffers)
            if (b.first_use <= t && t <= b.last_use) live += align_up(b.size, alignment);
        peak = std::max(peak, live);
    }
    return peak;
}

uint64_t sum_aligned(const std::vector<BufferRequest> &buffers, uint64_t alignment) {
    uint64_t total = 0;
    for (const BufferRequest &b : buffers)
        total += align_up(b.size, alignment);
    return total;
}

} // namespace

// ---- Hand-made cases ------------------------------------------------------------------------

TEST_CASE("planner: no buffers plan to an empty arena") {
    const Plan plan = plan_checked({}, 64);
    CHECK(plan.arena_size == 0);
    CHECK(plan.lower_bound == 0);
}

TEST_CASE("planner: disjoint lifetimes share offset 0") {
    const std::vector<BufferRequest> buffers = {
        {100, 0, 0, "a"}, {300, 1, 1, "b"}, {200, 2, 2, "c"}, {64, 3, 5, "d"}};
    const Plan plan = plan_checked(buffers, 64);
    for (uint64_t offset : plan.offsets)
        CHECK(offset == 0);
    CHECK(plan.lower_bound == 320);
    CHECK(plan.arena_size == 320);
}

TEST_CASE("planner: buffers all live together need the sum of their sizes") {
    const std::vector<BufferRequest> buffers = {
        {64, 0, 5, "a"}, {256, 0, 5, "b"}, {128, 2, 3, "c"}, {512, 1, 4, "d"}};
    const Plan plan = plan_checked(buffers, 64);
    CHECK(plan.lower_bound == 64 + 256 + 128 + 512);
    CHECK(plan.arena_size == plan.lower_bound);
}

TEST_CASE("planner: a chain of producer/consumer pairs reaches the bound") {
    // x_i is written at step i and read at step i+1: only neighbours are live together, so the
    // optimum is the largest neighbouring pair.
    const uint64_t sizes[] = {640, 128, 1024, 64, 64, 2048, 512, 192};
    std::vector<BufferRequest> buffers;
    for (uint32_t i = 0; i < std::size(sizes); ++i)
        buffers.push_back({sizes[i], i, i + 1, ""});
    const Plan plan = plan_checked(buffers, 64);
    CHECK(plan.lower_bound == 2048 + 512);
    CHECK(plan.arena_size == plan.lower_bound);
}

TEST_CASE("planner: sizes and offsets are rounded up to the alignment") {
    SUBCASE("CUDA 256") {
        const std::vector<BufferRequest> buffers = {
            {1, 0, 1, "a"}, {257, 0, 1, "b"}, {256, 1, 2, "c"}};
        const Plan plan = plan_checked(buffers, 256);
        CHECK(plan.lower_bound == 256 + 512 + 256);
        CHECK(plan.arena_size == plan.lower_bound);
        for (uint64_t offset : plan.offsets)
            CHECK(offset % 256 == 0);
    }
    SUBCASE("alignment 1 packs exactly") {
        const std::vector<BufferRequest> buffers = {{3, 0, 1, "a"}, {5, 0, 1, "b"}, {7, 1, 1, "c"}};
        const Plan plan = plan_checked(buffers, 1);
        CHECK(plan.lower_bound == 15);
        CHECK(plan.arena_size == 15);
    }
    SUBCASE("a large Vulkan alignment") {
        const std::vector<BufferRequest> buffers = {{10, 0, 0, "a"}, {10, 0, 0, "b"}};
        const Plan plan = plan_checked(buffers, 1 << 16);
        CHECK(plan.arena_size == 2 << 16);
    }
}

TEST_CASE("planner: zero-size buffers get offset 0 and take no space") {
    const std::vector<BufferRequest> buffers = {
        {0, 0, 9, "view"}, {128, 0, 3, "a"}, {0, 2, 2, "empty"}, {128, 1, 4, "b"}};
    const Plan plan = plan_checked(buffers, 64);
    CHECK(plan.offsets[0] == 0);
    CHECK(plan.offsets[2] == 0);
    CHECK(plan.lower_bound == 256);
    CHECK(plan.arena_size == 256);

    const Plan empty = plan_checked({{0, 0, 0, ""}, {0, 0, 3, ""}}, 64);
    CHECK(empty.arena_size == 0);
    CHECK(empty.lower_bound == 0);
}

TEST_CASE("planner: invalid arguments are rejected") {
    const std::vector<BufferRequest> buffers = {{64, 0, 1, "a"}};
    Plan plan;
    for (uint64_t alignment :
         {uint64_t{0}, uint64_t{3}, uint64_t{96}, uint64_t{65}, (uint64_t{1} << 63) + 1}) {
        CAPTURE(alignment);
        CHECK(infer::plan_memory(buffers, alignment, &plan).code() == INFER_ERR_INVALID_ARGUMENT);
    }
    CHECK(infer::plan_memory(buffers, 64, nullptr).code() == INFER_ERR_INVALID_ARGUMENT);
    const std::vector<BufferRequest> backwards = {{64, 5, 4, "backwards"}};
    const infer::Status status = infer::plan_memory(backwards, 64, &plan);
    CHECK(status.code() == INFER_ERR_INVALID_ARGUMENT);
    CHECK(status.message().find("backwards") != std::string::npos);
}

TEST_CASE("planner: sizes that overflow 64 bits are an error, not a wrapped plan") {
    Plan plan;
    SUBCASE("one size overflows when aligned") {
        const std::vector<BufferRequest> buffers = {{UINT64_MAX - 10, 0, 0, "huge"}};
        CHECK(infer::plan_memory(buffers, 64, &plan).code() == INFER_ERR_INVALID_ARGUMENT);
    }
    SUBCASE("the sum overflows, even for buffers that could share space") {
        const std::vector<BufferRequest> buffers = {{uint64_t{1} << 63, 0, 0, "a"},
                                                    {uint64_t{1} << 63, 1, 1, "b"}};
        CHECK(infer::plan_memory(buffers, 64, &plan).code() == INFER_ERR_INVALID_ARGUMENT);
    }
    SUBCASE("the largest representable buffer still plans") {
        const std::vector<BufferRequest> buffers = {{UINT64_MAX, 0, 0, "max"}};
        const Plan max_plan = plan_checked(buffers, 1);
        CHECK(max_plan.arena_size == UINT64_MAX);
    }
}

TEST_CASE("planner: sparse step numbers plan like dense ones") {
    // Spreading steps far apart switches the live profile to compressed steps; the order of
    // events is unchanged, so the plan must be the same.
    std::mt19937_64 rng(7);
    std::vector<BufferRequest> dense;
    for (int i = 0; i < 60; ++i) {
        const uint32_t first = static_cast<uint32_t>(rng() % 40);
        const uint32_t last = first + static_cast<uint32_t>(rng() % 8);
        dense.push_back({1 + rng() % 5000, first, last, ""});
    }
    std::vector<BufferRequest> sparse = dense;
    for (BufferRequest &b : sparse) {
        b.first_use = b.first_use * 10'000'000u + 3;
        b.last_use = b.last_use * 10'000'000u + 3;
    }
    const Plan a = plan_checked(dense, 64);
    const Plan b = plan_checked(sparse, 64);
    CHECK(a.lower_bound == b.lower_bound);
    CHECK(a.arena_size == b.arena_size);
    CHECK(a.offsets == b.offsets);
}

// ---- The verifier -------------------------------------------------------------------------

TEST_CASE("verify_plan: rejects each kind of broken plan") {
    const std::vector<BufferRequest> buffers = {
        {128, 0, 2, "a"}, {64, 1, 3, "b"}, {0, 0, 3, "z"}, {192, 3, 4, "c"}};
    const Plan good = plan_checked(buffers, 64);
    REQUIRE(infer::verify_plan(buffers, good).is_ok());

    auto rejected = [&](const Plan &bad) {
        const infer::Status status = infer::verify_plan(buffers, bad);
        INFO(status.message());
        return status.code() == INFER_ERR_INVALID_ARGUMENT;
    };
    Plan bad = good;
    bad.offsets[1] = bad.offsets[0]; // a and b are live together at steps 1-2
    CHECK(rejected(bad));
    bad = good;
    bad.offsets[0] += 32;
    bad.arena_size += 64;
    CHECK(rejected(bad)); // misaligned
    bad = good;
    bad.arena_size -= 64;
    CHECK(rejected(bad)); // a buffer ends past the arena
    bad = good;
    bad.offsets[2] = 64;
    CHECK(rejected(bad)); // zero-size buffer away from 0
    bad = good;
    bad.lower_bound -= 64;
    CHECK(rejected(bad)); // lower bound that is not the live-bytes peak
    bad = good;
    bad.offsets.pop_back();
    CHECK(rejected(bad));
    bad = good;
    bad.alignment = 48;
    CHECK(rejected(bad));
    bad = good;
    bad.offsets[3] = UINT64_MAX - 63;
    bad.arena_size = UINT64_MAX;
    CHECK(rejected(bad)); // offset + size wraps
}

TEST_CASE("format_plan: one line per buffer and a summary") {
    const std::vector<BufferRequest> buffers = {{100, 0, 1, "blk.0.attn_q"}, {300, 1, 2, ""}};
    const Plan plan = plan_checked(buffers, 64);
    const std::string text = infer::format_plan(buffers, plan);
    MESSAGE("\n" << text);
    CHECK(text.find("blk.0.attn_q") != std::string::npos);
    CHECK(text.find("[1, 2]") != std::string::npos);
    CHECK(text.find("lower bound 448 B") != std::string::npos);
    CHECK(text.find("ratio 1.0000") != std::string::npos);
    CHECK(std::count(text.begin(), text.end(), '\n') == 4); // header, 2 buffers, summary
}

// ---- Randomized properties -------------------------------------------------------------------

namespace {

// Random lifetimes shaped roughly like graphs: most buffers die soon after birth, some live long.
std::vector<BufferRequest> random_instance(std::mt19937_64 &rng, size_t n, uint32_t steps) {
    std::vector<BufferRequest> buffers(n);
    for (BufferRequest &b : buffers) {
        const uint64_t kind = rng() % 20;
        b.size = kind == 0 ? 0 : kind < 4 ? 1 + rng() % 100 : 1 + rng() % 1'000'000;
        b.first_use = static_cast<uint32_t>(rng() % steps);
        const uint32_t span = rng() % 8 == 0 ? static_cast<uint32_t>(rng() % steps)
                                             : static_cast<uint32_t>(rng() % 4);
        b.last_use = std::min(steps - 1, b.first_use + span);
    }
    return buffers;
}

// Two non-empty buffers live at the same time, if any.
std::optional<std::pair<size_t, size_t>>
first_live_pair(const std::vector<BufferRequest> &buffers) {
    for (size_t i = 0; i < buffers.size(); ++i)
        for (size_t j = i + 1; j < buffers.size(); ++j)
            if (buffers[i].size > 0 && buffers[j].size > 0 &&
                buffers[i].first_use <= buffers[j].last_use &&
                buffers[j].first_use <= buffers[i].last_use)
                return std::pair{i, j};
    return std::nullopt;
}

} // namespace

TEST_CASE("planner: random instances plan validly between the bound and the sum") {
    std::mt19937_64 rng(20240601);
    const uint64_t alignments[] = {1, 64, 256, 4096};
    for (int instance = 0; instance < 400; ++instance) {
        const size_t n = 1 + rng() % 150;
        const uint32_t steps = 1 + static_cast<uint32_t>(rng() % (2 * n));
        const uint64_t alignment = alignments[rng() % std::size(alignments)];
        const std::vector<BufferRequest> buffers = random_instance(rng, n, steps);
        CAPTURE(instance);
        CAPTURE(alignment);
        const Plan plan = plan_checked(buffers, alignment);
        CHECK(plan.arena_size <= sum_aligned(buffers, alignment));
        CHECK(plan.lower_bound == brute_force_lower_bound(buffers, alignment));

        // Moving one buffer onto another that is live at the same time must be caught.
        if (const auto pair = first_live_pair(buffers)) {
            Plan broken = plan;
            broken.offsets[pair->first] = broken.offsets[pair->second];
            CHECK(infer::verify_plan(buffers, broken).code() == INFER_ERR_INVALID_ARGUMENT);
        }

        // The combined planner keeps the best heuristic, and each heuristic is valid on its own.
        for (PlanHeuristic heuristic : infer::kAllPlanHeuristics) {
            const std::string name = infer::plan_heuristic_name(heuristic);
            CAPTURE(name);
            Plan single;
            const infer::Status status =
                infer::plan_memory_with(buffers, alignment, heuristic, &single);
            REQUIRE_MESSAGE(status.is_ok(), status.message());
            CHECK(single.heuristic == heuristic);
            CHECK(single.lower_bound == plan.lower_bound);
            CHECK(single.arena_size >= plan.arena_size);
            CHECK(single.arena_size <= sum_aligned(buffers, alignment));
        }
    }
}

TEST_CASE("planner: ten thousand buffers plan and verify") {
    std::mt19937_64 rng(99);
    const std::vector<BufferRequest> buffers = random_instance(rng, 10'000, 8'000);
    const Plan plan = plan_checked(buffers, 256);
    CHECK(plan.arena_size <= sum_aligned(buffers, 256));
    MESSAGE("10k random buffers: arena / lower bound = "
            << static_cast<double>(plan.arena_size) / static_cast<double>(plan.lower_bound) << " ("
            << std::string(infer::plan_heuristic_name(plan.heuristic)) << ")");
}

// ---- A simulated transformer graph -----------------------------------------------------------

namespace {

// Builds buffers the way a graph builder would: each op is one step, writes one new buffer, and
// extends the lifetime of every buffer it reads to this step. No op works in place.
struct GraphSim {
    std::vector<BufferRequest> buffers;
    uint32_t step = 0;

    uint32_t op(std::string tag, uint64_t bytes, std::initializer_list<uint32_t> inputs) {
        for (uint32_t input : inputs)
            buffers[input].last_use = step;
        buffers.push_back({bytes, step, step, std::move(tag)});
        ++step;
        return static_cast<uint32_t>(buffers.size() - 1);
    }
};

struct ModelShape {
    uint64_t n_embd = 576, n_head = 9, n_head_kv = 3, head_dim = 64, n_ff = 1536, n_vocab = 49152;
    int n_layer = 30;
};

// One llama-style forward pass over n_tokens tokens attending to n_kv cached positions (f32
// activations), producing logits for the last n_outputs tokens. Weights and the KV cache are not
// activations: they live outside the arena, so writing K/V into the cache yields a zero-size view.
// With quantize_inputs, every matmul input is first quantized to Q8_1 (36 bytes per 32 values),
// as the CPU backend does for integer dot products: sizes that are not multiples of the alignment.
std::vector<BufferRequest> transformer_graph(const ModelShape &m, uint64_t n_tokens, uint64_t n_kv,
                                             uint64_t n_outputs, bool quantize_inputs) {
    const uint64_t f32 = 4;
    const uint64_t kv_dim = m.n_head_kv * m.head_dim;
    const uint64_t row = n_tokens * m.n_embd * f32;       // (n_tokens, n_embd)
    const uint64_t kv_row = n_tokens * kv_dim * f32;      // (n_tokens, n_head_kv * head_dim)
    const uint64_t ff_row = n_tokens * m.n_ff * f32;      // (n_tokens, n_ff)
    const uint64_t kq = m.n_head * n_tokens * n_kv * f32; // (n_head, n_tokens, n_kv)

    GraphSim g;
    // The input a matmul reads: `from` itself, or its Q8_1 copy of `width` values per token.
    auto matmul_input = [&](const std::string &tag, uint32_t from, uint64_t width) {
        if (!quantize_inputs) return from;
        return g.op(tag + "_q8", n_tokens * width / 32 * 36, {from});
    };
    uint32_t x = g.op("inp_embd", row, {});
    for (int l = 0; l < m.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        const uint32_t norm = g.op(p + "attn_norm", row, {x});
        const uint32_t norm_in = matmul_input(p + "attn_norm", norm, m.n_embd);
        const uint32_t q = g.op(p + "q", row, {norm_in});
        const uint32_t k = g.op(p + "k", kv_row, {norm_in});
        const uint32_t v = g.op(p + "v", kv_row, {norm_in});
        const uint32_t q_rope = g.op(p + "q_rope", row, {q});
        const uint32_t k_rope = g.op(p + "k_rope", kv_row, {k});
        const uint32_t k_cache = g.op(p + "k_cache_store", 0, {k_rope});
        const uint32_t v_cache = g.op(p + "v_cache_store", 0, {v});
        const uint32_t scores = g.op(p + "kq", kq, {q_rope, k_cache});
        const uint32_t probs = g.op(p + "kq_softmax", kq, {scores});
        const uint32_t attn = g.op(p + "kqv", row, {probs, v_cache});
        const uint32_t out = g.op(p + "attn_out", row, {matmul_input(p + "kqv", attn, m.n_embd)});
        const uint32_t h = g.op(p + "ffn_inp", row, {x, out});
        const uint32_t norm2 = g.op(p + "ffn_norm", row, {h});
        const uint32_t norm2_in = matmul_input(p + "ffn_norm", norm2, m.n_embd);
        const uint32_t gate = g.op(p + "ffn_gate", ff_row, {norm2_in});
        const uint32_t up = g.op(p + "ffn_up", ff_row, {norm2_in});
        const uint32_t act = g.op(p + "ffn_silu_mul", ff_row, {gate, up});
        const uint32_t down = g.op(p + "ffn_down", row, {matmul_input(p + "ffn_act", act, m.n_ff)});
        x = g.op(p + "l_out", row, {h, down});
    }
    const uint32_t norm = g.op("result_norm", row, {x});
    const uint32_t rows =
        n_outputs == n_tokens ? norm : g.op("out_rows", n_outputs * m.n_embd * f32, {norm});
    const uint32_t rows_in =
        quantize_inputs ? g.op("out_rows_q8", n_outputs * m.n_embd / 32 * 36, {rows}) : rows;
    g.op("result_output", n_outputs * m.n_vocab * f32, {rows_in}); // logits, read by the sampler
    return g.buffers;
}

} // namespace

TEST_CASE("planner: simulated SmolLM2-135M graphs plan within 5% of the lower bound") {
    struct Case {
        std::string name;
        uint64_t n_tokens, n_kv, n_outputs;
    };
    const Case cases[] = {
        {"decode, 8192 cached", 1, 8192, 1},
        {"decode, 512 cached", 1, 512, 1},
        {"prefill 512, first batch", 512, 512, 1},
        {"prefill 512, at 8192 context", 512, 8192, 1},
        {"prefill 512, logits for every token", 512, 512, 512},
    };
    const ModelShape shape;
    for (const Case &c : cases)
        for (bool quantize_inputs : {false, true}) {
            const std::vector<BufferRequest> buffers =
                transformer_graph(shape, c.n_tokens, c.n_kv, c.n_outputs, quantize_inputs);
            REQUIRE(buffers.back().tag == "result_output");
            const std::string name = c.name + (quantize_inputs ? ", q8_1 matmul inputs" : "");
            for (uint64_t alignment : {uint64_t{64}, uint64_t{256}}) {
                CAPTURE(name);
                CAPTURE(alignment);
                const Plan plan = plan_checked(buffers, alignment);
                const double ratio =
                    static_cast<double>(plan.arena_size) / static_cast<double>(plan.lower_bound);
                MESSAGE(name << ", alignment " << alignment << ": " << buffers.size()
                             << " buffers, arena " << plan.arena_size << " B, lower bound "
                             << plan.lower_bound << " B, ratio " << ratio << " ("
                             << std::string(infer::plan_heuristic_name(plan.heuristic)) << ")");
                CHECK_MESSAGE(ratio <= 1.05, infer::format_plan(buffers, plan));
            }
        }
}
