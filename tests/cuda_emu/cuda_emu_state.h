// The CUDA emulator's shared state (the runtime, the fiber scheduler and cuBLASLt use it): device
// memory and pinned host allocations, streams as queues of work, and how an error is reported.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cuda_emu {

// One piece of queued work: a kernel grid, a copy, an event, a whole graph.
using Work = std::function<void()>;

struct Graph {
    std::vector<std::shared_ptr<Work>> nodes;
};
struct GraphExec {
    std::vector<std::shared_ptr<Work>> nodes;
};

struct Stream {
    std::mutex run_mutex; // held while the queue runs (one host thread at a time)
    std::mutex queue_mutex;
    std::deque<Work> queue;
    // Capture: work goes into `graph` instead of the queue. `invalidated` records an operation
    // the capture could not take; EndCapture then fails as the real runtime does.
    Graph *graph = nullptr;
    bool invalidated = false;
};

enum class MemoryKind { Device, Pinned };

// The allocation that holds [p, p + bytes), or false. kind is set on success.
bool find_allocation(const void *p, uint64_t bytes, MemoryKind *kind);

// Sets the calling thread's last error (cudaGetLastError) and returns it.
cudaError_t fail(cudaError_t err);
// Prints "cuda emulator: ..." and aborts: a fault a GPU would raise asynchronously (an illegal
// address, a barrier not every thread reaches) or a misuse a GPU would not survive.
[[noreturn]] void fault(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Queues work on a stream (the legacy default stream for null), or records it when the stream
// is capturing. Returns the capture's error for work a capture cannot take.
cudaError_t enqueue(cudaStream_t s, Work work);
bool capturing(cudaStream_t s);
// True while the calling thread has a stream in capture (its "unsafe" calls then fail).
bool thread_is_capturing();
// Runs a stream's queued work on the calling thread, in order.
void flush(cudaStream_t s);
void flush_all();

// Runs one kernel grid now, block by block (cuda_emu_device.cpp).
void run_grid(const LaunchConfig &config, KernelBody &body);

} // namespace cuda_emu
