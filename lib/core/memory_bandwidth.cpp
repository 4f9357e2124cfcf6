#include "core/memory_bandwidth.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <thread>
#include <vector>

namespace infer {
namespace {

// Sums 64-bit words with eight independent accumulators so that enough loads are in flight to
// saturate the memory system; the sum is returned so the reads cannot be optimized away.
uint64_t read_words(const uint64_t *p, uint64_t n) {
    uint64_t acc[8] = {};
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += p[i + static_cast<uint64_t>(j)];
    for (; i < n; ++i) acc[0] += p[i];
    uint64_t sum = 0;
    for (uint64_t a : acc) sum ^= a;
    return sum;
}

// One pass of every thread over its share; seconds from the first start to the last finish.
double timed_pass(const uint64_t *words, uint64_t n_words, int32_t n_threads, uint64_t *sink) {
    std::vector<std::thread> threads;
    std::vector<uint64_t> sums(static_cast<size_t>(n_threads), 0);
    const auto start = std::chrono::steady_clock::now();
    for (int32_t t = 0; t < n_threads; ++t)
        threads.emplace_back([&, t] {
            const uint64_t begin = n_words * static_cast<uint64_t>(t) / static_cast<uint64_t>(n_threads);
            const uint64_t end = n_words * static_cast<uint64_t>(t + 1) / static_cast<uint64_t>(n_threads);
            sums[static_cast<size_t>(t)] = read_words(words + begin, end - begin);
        });
    for (std::thread &th : threads) th.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (uint64_t s : sums) *sink ^= s;
    return seconds;
}

struct Unmap {
    uint64_t bytes;
    void operator()(void *p) const { ::munmap(p, bytes); }
};

} // namespace

ReadBandwidth measure_read_bandwidth(int32_t n_threads, uint64_t buffer_bytes, int32_t repeats) {
    ReadBandwidth r;
    r.n_threads = std::max(1, n_threads);
    r.buffer_bytes = buffer_bytes = std::max<uint64_t>(buffer_bytes & ~uint64_t{63}, 1 << 20);
    const uint64_t n_words = buffer_bytes / 8;
    // In 2 MiB pages where the kernel gives them, as the CPU's repacked weights are
    // (host_weights.cpp): the probe and decode then read through the same TLB reach.
    void *mapped =
        ::mmap(nullptr, buffer_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) throw std::bad_alloc();
    const std::unique_ptr<void, Unmap> buffer(mapped, Unmap{buffer_bytes});
    (void)::madvise(mapped, buffer_bytes, MADV_HUGEPAGE);
    uint64_t *const words = static_cast<uint64_t *>(mapped);
    for (uint64_t i = 0; i < n_words; ++i) words[i] = i * 0x9E3779B97F4A7C15ull;
    volatile uint64_t keep = 0;
    uint64_t sink = 0;
    timed_pass(words, n_words, r.n_threads, &sink); // warm: pages, threads, clocks
    std::vector<double> rates;
    for (int32_t i = 0; i < std::max(1, repeats); ++i)
        rates.push_back(static_cast<double>(buffer_bytes) /
                        timed_pass(words, n_words, r.n_threads, &sink));
    keep = sink;
    (void)keep;
    std::sort(rates.begin(), rates.end());
    r.bytes_per_second = rates.back();
    r.median_bytes_per_second = rates[rates.size() / 2];
    return r;
}

} // namespace infer
