// A persistent pool of worker threads for the CPU backend: threads are created once, and each
// run() hands one plain function pointer to every thread, so dispatching work allocates nothing.
//
// The calling thread takes part as thread 0; workers are threads 1..n-1. Idle workers spin
// briefly (work usually follows work within microseconds while decoding) and then sleep on the
// work counter, so an idle pool costs no CPU. barrier() separates phases inside one run.
//
// Thread-safety: one run() at a time (a pool belongs to one context); barrier() only inside fn,
// called by all n threads the same number of times.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace infer::cpu {

class ThreadPool {
public:
    using Fn = void (*)(void *ctx, int ith, int nth);

    // n_threads >= 1 (smaller values are taken as 1). With 1, run() calls fn inline.
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool &operator=(const ThreadPool &) = delete;

    int size() const { return n_threads_; }

    // Runs fn(ctx, ith, size()) on every thread (ith = 0 on the caller) and returns when all are
    // done. Writes made by any thread inside fn are visible to the caller afterwards.
    void run(Fn fn, void *ctx);

    // Waits until all size() threads of the current run() have reached it. Reusable any number of
    // times per run; writes before it are visible to every thread after it.
    void barrier(int ith);

    // The next chunk of this phase's `total` units of shared work: threads that take work as
    // they finish rather than a fixed share each all finish together even when one of them is
    // slowed (a busy core, a neighbour on a shared host). The count starts at 0 in every phase
    // (a run()'s start and after each barrier()), so one loop per phase may share work this way.
    // A chunk is a 2 * size()-th of what is left, rounded up to a multiple of `step` (at least
    // one step): the first chunks are large and the last ones a step, so a thread that a slowed
    // core holds up in its last chunk keeps the others waiting for one small chunk at most, while
    // most of the work still goes in large ones. Returns the chunk's first unit (total or more
    // when none is left) and its size in *n; the last chunk may reach past total.
    int64_t claim_share(int64_t total, int64_t step, int64_t *n);

    // Waits, spinning as barrier() does, until *count (which other threads of this run raise
    // with release increments) is at least `value`: a wait for one piece of another thread's
    // work where a barrier would wait for all of it. The work must not depend on the waiter.
    static void wait_at_least(int32_t *count, int32_t value);

private:
    void worker_loop(int ith);

    int n_threads_;
    std::vector<std::thread> workers_;
    Fn fn_ = nullptr;
    void *ctx_ = nullptr;
    bool stop_ = false; // written before a generation bump, read after seeing it

    // Each on its own cache line: they are hammered by different threads at different times.
    alignas(64) std::atomic<uint32_t> generation_{0}; // bumped once per run(); workers wait on it
    alignas(64) std::atomic<int> sleepers_{0};        // workers blocked in generation_.wait()
    alignas(64) std::atomic<int> done_{0};            // workers finished with this generation
    alignas(64) std::atomic<int> barrier_arrived_{0};
    alignas(64) std::atomic<uint32_t> barrier_phase_{0}; // the "sense": flips by counting up
    alignas(64) std::atomic<int64_t> work_next_{0};      // claim_share()'s count of this phase
};

} // namespace infer::cpu
