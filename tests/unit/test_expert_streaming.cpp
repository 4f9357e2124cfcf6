// Prefill streaming's choice (runtime/expert_streaming.h): which non-resident experts a run of n
// tokens copies to the device, per mode, from the offload cost model's per-expert prefill costs.
#include "runtime/expert_streaming.h"
#include "runtime/offload_cost.h"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

using namespace infer;

namespace {

constexpr int32_t kLayers = 3, kExperts = 8, kUsed = 2;

// Layer 0: experts 0 and 1 resident; layer 1: none; layer 2: all (not split).
ExpertResidency residency() {
    ExpertResidency r;
    r.n_layer = kLayers;
    r.n_expert = kExperts;
    r.slot.assign(kLayers * kExperts, -1);
    r.n_resident = {2, 0, kExperts};
    r.slot[0] = 0;
    r.slot[1] = 1;
    for (int32_t e = 0; e < kExperts; ++e) r.slot[2 * kExperts + e] = e;
    return r;
}

// Popularity falling with the expert id: expert e's share ~ 1 / (e + 1).
ExpertPopularity skewed() {
    ExpertPopularity p;
    p.n_layer = kLayers;
    p.n_expert = kExperts;
    for (int32_t l = 0; l < kLayers; ++l)
        for (int32_t e = 0; e < kExperts; ++e) p.weight.push_back(1.0 / (e + 1));
    return p;
}

// 1 MB experts of 1M weights; the CPU: 1 ms per expert read, 1e10 flop/s in prefill.
StreamingModel model(double h2d) {
    std::vector<StreamingLayer> layers(kLayers);
    for (StreamingLayer &l : layers) {
        l.expert_bytes = 1000000;
        l.expert_elements = 1000000;
        l.cpu.expert_s = 1e-3;
        l.cpu.node_s = 1e-4;
        l.cpu.prefill_flops_per_s = 1e10;
    }
    return make_streaming_model(skewed(), kUsed, layers, h2d);
}

int count(const StreamedExperts &s, int32_t layer) {
    const uint8_t *m = s.layer(layer);
    int n = 0;
    for (int32_t e = 0; m && e < kExperts; ++e) n += m[e];
    return n;
}

} // namespace

TEST_CASE("expert streaming: the modes, the device's layers only, never a resident expert") {
    const ExpertResidency r = residency();
    const StreamingModel m = model(25e9);
    const std::vector<uint8_t> all_layers(kLayers, 1);
    StreamedExperts s;
    CHECK(choose_streamed_experts(ExpertPrefill::Cpu, r, m, all_layers, 512, &s) == 0);
    CHECK(s.mask.size() == static_cast<size_t>(kLayers * kExperts));
    for (int32_t l = 0; l < kLayers; ++l) CHECK(s.layer(l) == nullptr);
    CHECK(choose_streamed_experts(ExpertPrefill::Stream, r, m, all_layers, 1, &s) == 0);
    CHECK(count(s, 0) + count(s, 1) == 0); // one token never streams

    const double bytes = choose_streamed_experts(ExpertPrefill::Stream, r, m, all_layers, 2, &s);
    CHECK(count(s, 0) == kExperts - 2);
    CHECK(s.layer(0)[0] == 0);
    CHECK(s.layer(0)[1] == 0);
    CHECK(count(s, 1) == kExperts);
    CHECK(s.layer(2) == nullptr); // all resident
    CHECK(bytes == doctest::Approx(1e6 * (2 * kExperts - 2)));

    const std::vector<uint8_t> layer0_only = {1, 0, 1};
    choose_streamed_experts(ExpertPrefill::Stream, r, m, layer0_only, 64, &s);
    CHECK(count(s, 0) == kExperts - 2);
    CHECK(s.layer(1) == nullptr); // a layer without a device node streams nothing
}

TEST_CASE("expert streaming: by the cost model, more tokens stream more, the popular first") {
    const ExpertResidency r = residency();
    const std::vector<uint8_t> all_layers(kLayers, 1);
    StreamedExperts s;
    // A copy (1 MB at 25 GB/s: 40 us) beats the CPU (1 ms per selected expert) at any n.
    CHECK(choose_streamed_experts(ExpertPrefill::Auto, r, model(25e9), all_layers, 2, &s) > 0);
    CHECK(count(s, 1) == kExperts);
    // At 0.1 GB/s a copy takes 10 ms: only an expert with enough tokens pays for it.
    const StreamingModel slow = model(1e8);
    int previous = 0;
    for (const int64_t n : {2, 16, 64, 256, 1024, 4096}) {
        CAPTURE(n);
        choose_streamed_experts(ExpertPrefill::Auto, r, slow, all_layers, n, &s);
        const int streamed = count(s, 1);
        CHECK(streamed >= previous);
        previous = streamed;
        // The chosen ones are the most popular: a prefix of the expert ids.
        const uint8_t *m = s.layer(1);
        for (int32_t e = 1; m && e < kExperts; ++e) CHECK(m[e] <= m[e - 1]);
        // Each choice is the cost model's.
        for (int32_t e = 0; e < kExperts; ++e) {
            const double w = slow.share[kExperts + static_cast<size_t>(e)];
            const ExpertPrefillCost c = expert_prefill_cost(w, static_cast<double>(n), kUsed, 1e6, 1e6,
                                                            slow.layers[1].cpu, slow.device);
            CHECK((m && m[e]) == c.streams());
        }
    }
    CHECK(previous == kExperts); // 4096 tokens: 2 x 4096 x 1e6 x tokens / 1e10 flop/s per expert
    choose_streamed_experts(ExpertPrefill::Auto, r, slow, all_layers, 2, &s);
    CHECK(count(s, 1) == 0);
}

TEST_CASE("expert streaming: a prefill cost copies the whole expert whether or not it is chosen") {
    CpuExpertCost cpu;
    cpu.expert_s = 1e-3;
    cpu.prefill_flops_per_s = 1e10;
    const DeviceProfile d = streaming_device_profile(1e9);
    // A rarely chosen expert: selected with a small chance, yet copying costs all its bytes.
    const ExpertPrefillCost c = expert_prefill_cost(1e-4, 4, 2, 1e6, 1e6, cpu, d);
    CHECK(c.selected < 1e-2);
    CHECK(c.stream == doctest::Approx(1e-3));
    CHECK(c.on_device == 0);
    CHECK_FALSE(c.streams());
}
