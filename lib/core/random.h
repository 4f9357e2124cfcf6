// A small, fast, portable random number generator for synthetic weights, test data and sampling:
// xoshiro256** seeded through splitmix64. Integer-only except for the final scaling, so the same
// seed gives the same bits on every platform and compiler (no libm in the path).
#pragma once

#include <cstdint>

namespace infer {

// splitmix64's output function: a good 64-bit mixer, used to derive independent seeds.
inline uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

class Rng {
public:
    explicit Rng(uint64_t seed) {
        for (uint64_t &w : s_) {
            seed = mix64(seed);
            w = seed;
        }
    }

    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform in [0, 1) with 53 random bits: exact, so portable (the samplers draw with it).
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

    // Uniform in [0, n) for small n (multiply-shift; the bias is below 2^-32 for n < 2^32).
    uint32_t below(uint32_t n) { return static_cast<uint32_t>(((next() >> 32) * n) >> 32); }

    // Approximately standard normal: the sum of four uniform 16-bit values (Irwin-Hall, n = 4),
    // centred and scaled to unit variance. Bounded by +-3.46; exact integer arithmetic.
    float normal() {
        const uint64_t r = next();
        const int64_t sum =
            static_cast<int64_t>(r & 0xffff) + static_cast<int64_t>((r >> 16) & 0xffff) +
            static_cast<int64_t>((r >> 32) & 0xffff) + static_cast<int64_t>(r >> 48);
        // Mean 4 * 32767.5, variance 4 * (65536^2 - 1) / 12.
        constexpr float kInvStd = 1.0f / 37837.23f;
        return static_cast<float>(2 * sum - 4 * 65535) * 0.5f * kInvStd;
    }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t s_[4];
};

} // namespace infer
