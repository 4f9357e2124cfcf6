// A debugging aid for the offload cost model: with INFER_DEBUG_MOE_NODES=1 in the environment a
// CPU backend sums the time of each layer's MoeFfn node over its one-token runs (decode steps)
// and prints the mean and the fastest per layer to stderr when it is destroyed, so a prediction
// can be compared with the real per-layer cost. Fixed arrays: nothing is allocated per token.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace infer::cpu {

class MoeNodeLog {
public:
    static bool wanted() {
        const char *v = std::getenv("INFER_DEBUG_MOE_NODES");
        return v && v[0] == '1';
    }
    void add(int32_t layer, double seconds) {
        if (layer < 0 || layer >= kLayers) return;
        const auto l = static_cast<size_t>(layer);
        min_[l] = count_[l] == 0 ? seconds : std::min(min_[l], seconds);
        sum_[l] += seconds;
        ++count_[l];
    }
    ~MoeNodeLog() {
        for (size_t l = 0; l < kLayers; ++l)
            if (count_[l] > 0)
                std::fprintf(stderr, "moe node layer %zu: %lld runs, mean %.1f us, min %.1f us\n",
                             l, static_cast<long long>(count_[l]),
                             1e6 * sum_[l] / static_cast<double>(count_[l]), 1e6 * min_[l]);
    }

private:
    static constexpr int32_t kLayers = 256;
    std::array<double, kLayers> sum_{}, min_{};
    std::array<int64_t, kLayers> count_{};
};

} // namespace infer::cpu
