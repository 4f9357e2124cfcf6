// The streaming read bandwidth of this machine's memory as `n_threads` threads see it: the
// ceiling every bandwidth-bound figure (decode GB/s, the offload cost model) is compared with.
#pragma once

#include <cstdint>

namespace infer {

struct ReadBandwidth {
    double bytes_per_second = 0; // the best of the repeats
    double median_bytes_per_second = 0;
    uint64_t buffer_bytes = 0;
    int32_t n_threads = 0;
};

// Reads a buffer of `buffer_bytes` (far larger than the caches: 512 MiB by default) split into
// contiguous equal shares, one per thread, `repeats` times after one untimed pass that faults the
// pages in. Allocates the buffer and starts threads: a probe, never called while decoding.
ReadBandwidth measure_read_bandwidth(int32_t n_threads, uint64_t buffer_bytes = uint64_t{512} << 20,
                                     int32_t repeats = 5);

} // namespace infer
