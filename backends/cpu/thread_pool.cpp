// ThreadPool: spin-then-sleep workers woken by a generation counter, and a sense-reversing spin
// barrier. See thread_pool.h for the contract.
#include "cpu/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace infer::cpu {

namespace {

// About 1 ms of spinning before a worker sleeps: back-to-back ops of a decode step arrive well
// within it, while an idle pool stops burning cores soon after.
constexpr int kSpinBeforeSleep = 1 << 14;
// Inside a barrier the other threads are running the same phase, so spinning is right; but when
// threads outnumber cores the late arrival may need our core, so yield now and then.
constexpr int kSpinBeforeYield = 1 << 10;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// Spins until done() holds, yielding the core now and then.
template <class Done> void spin_until(Done done) {
    for (int spins = 0; !done();) {
        if (++spins < kSpinBeforeYield) {
            cpu_relax();
        } else {
            std::this_thread::yield();
            spins = 0;
        }
    }
}

} // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
    workers_.reserve(static_cast<size_t>(n_threads_ - 1));
    for (int i = 1; i < n_threads_; ++i)
        workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_seq_cst);
    generation_.notify_all();
    for (std::thread &t : workers_)
        t.join();
}

void ThreadPool::run(Fn fn, void *ctx) {
    work_next_.store(0, std::memory_order_relaxed); // the workers see it with the generation
    if (n_threads_ == 1) {
        fn(ctx, 0, 1);
        return;
    }
    fn_ = fn;
    ctx_ = ctx;
    done_.store(0, std::memory_order_relaxed);
    // seq_cst on the bump and on the sleepers_ load pairs with the worker's seq_cst increment of
    // sleepers_ and re-check of generation_: either it sees the new generation or we see it asleep.
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) generation_.notify_all();

    fn(ctx, 0, n_threads_);
    spin_until([this] { return done_.load(std::memory_order_acquire) == n_threads_ - 1; });
}

void ThreadPool::worker_loop(int ith) {
    uint32_t seen = 0;
    for (;;) {
        uint32_t gen;
        int spins = 0;
        while ((gen = generation_.load(std::memory_order_acquire)) == seen) {
            if (++spins < kSpinBeforeSleep) {
                cpu_relax();
                continue;
            }
            sleepers_.fetch_add(1, std::memory_order_seq_cst);
            if (generation_.load(std::memory_order_seq_cst) == seen) {
                generation_.wait(seen, std::memory_order_seq_cst);
            }
            sleepers_.fetch_sub(1, std::memory_order_relaxed);
            spins = 0;
        }
        seen = gen;
        if (stop_) return;
        fn_(ctx_, ith, n_threads_);
        done_.fetch_add(1, std::memory_order_release);
    }
}

int64_t ThreadPool::claim_share(int64_t total, int64_t step, int64_t *n) {
    int64_t at = work_next_.load(std::memory_order_relaxed);
    for (;;) {
        if (at >= total) return at;
        const int64_t share = (total - at) / (2 * int64_t(n_threads_));
        const int64_t size = std::max<int64_t>(1, (share + step - 1) / step) * step;
        if (work_next_.compare_exchange_weak(at, at + size, std::memory_order_relaxed)) {
            *n = size;
            return at;
        }
    }
}

void ThreadPool::wait_at_least(int32_t *count, int32_t value) {
    const std::atomic_ref<int32_t> c(*count);
    spin_until([&] { return c.load(std::memory_order_acquire) >= value; });
}

void ThreadPool::barrier(int ith) {
    (void)ith;
    if (n_threads_ == 1) {
        work_next_.store(0, std::memory_order_relaxed);
        return;
    }
    const uint32_t phase = barrier_phase_.load(std::memory_order_acquire);
    if (barrier_arrived_.fetch_add(1, std::memory_order_acq_rel) == n_threads_ - 1) {
        // Last to arrive: reset the counts before releasing the others, who may re-enter at once
        // (every thread is done claiming this phase's work: they have all arrived).
        barrier_arrived_.store(0, std::memory_order_relaxed);
        work_next_.store(0, std::memory_order_relaxed);
        barrier_phase_.store(phase + 1, std::memory_order_release);
        return;
    }
    spin_until([&] { return barrier_phase_.load(std::memory_order_acquire) != phase; });
}

} // namespace infer::cpu
