// The CUDA emulator's device: a grid runs block after block on the calling host thread; in a
// block every CUDA thread is a fiber (cuda_emu_fiber.h) with its own stack, run until it finishes
// or waits at a barrier. __syncthreads waits for every live thread of the block, a warp shuffle for
// every live lane of the warp (one barrier per shuffle: each lane alternates between two exchange
// slots, so a fast lane cannot overwrite a value a slow lane has yet to read). When no thread can
// run and some have not finished, the block is deadlocked: a barrier that not every thread reaches,
// which on a GPU hangs or corrupts. The emulator reports it and aborts.
#include "cuda_emu_fiber.h"
#include "cuda_emu_state.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define CUDA_EMU_ASAN 1
#else
#define CUDA_EMU_ASAN 0
#endif

namespace cuda_emu {
namespace {

// Kernels keep small arrays in registers; under AddressSanitizer frames grow several times.
constexpr size_t kStackBytes = CUDA_EMU_ASAN ? size_t{512} << 10 : size_t{128} << 10;
// Each fiber's stack top sits a different number of cache lines below its mapping's end. Without
// this, every top is a multiple of 128 KiB and the fibers' live frames all fall into the same L1
// and L2 sets, which a block's hundreds of fibers overflow (an emulated olmoe golden: 122 s, 104
// with the tops spread).
constexpr size_t kStackColors = 64 << 10;
constexpr size_t stack_color(size_t i) { return i * 17 * 64 % kStackColors; }
constexpr int kWarp = 32;

enum class FiberState { Ready, AtBlockBarrier, AtWarpBarrier, Done };

struct Fiber {
    FiberContext context;
    ThreadCoords coords;
    int lane = 0, warp = 0;
    FiberState state = FiberState::Ready;
    unsigned exchanges = 0; // shuffles this lane has made (picks the exchange slot)
    void *stack = nullptr;
    size_t stack_bytes = 0;
};

struct Warp {
    int live = 0, arrived = 0;
    uint64_t slot[2][kWarp];
    unsigned written[2][kWarp]; // which exchange of its lane each slot holds
    bool exited[kWarp];
};

struct Block {
    KernelBody *body = nullptr;
    const char *kernel = nullptr;
    std::vector<Fiber> fibers;
    std::vector<Warp> warps;
    Fiber *current = nullptr;
    int live = 0, arrived = 0;
    FiberContext scheduler;
#if CUDA_EMU_ASAN
    const void *scheduler_stack = nullptr;
    size_t scheduler_stack_bytes = 0;
#endif
};

thread_local Block *tl_block = nullptr;

// Fiber stacks, kept for the host thread's next grid (mapped once, reused).
struct StackPool {
    std::vector<void *> stacks;
    ~StackPool() {
        for (void *s : stacks)
            munmap(s, kStackBytes + kStackColors);
    }
    void *get(size_t i) {
        while (stacks.size() <= i) {
            void *s = mmap(nullptr, kStackBytes + kStackColors, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (s == MAP_FAILED)
                fault("cannot map a %zu-byte fiber stack", kStackBytes + kStackColors);
            stacks.push_back(s);
        }
        return stacks[i];
    }
};

thread_local StackPool tl_stacks;

Block &block() {
    if (!tl_block || !tl_block->current) fault("device code called outside a kernel");
    return *tl_block;
}

// Switches from the running fiber to the next ready fiber after it in the block, or back to the
// scheduler when none is (dying: the fiber will not resume). Handing over directly halves the
// switches of a warp shuffle, where every lane waits for the rest: each switch costs a
// mispredicted return, and the switches were most of an emulated kernel's time (the olmoe
// golden: 104 s, 47 handing over).
void switch_away(Block &b, Fiber &f, bool dying) {
    Fiber *next = nullptr;
    for (Fiber *g = &f + 1; g != b.fibers.data() + b.fibers.size(); ++g)
        if (g->state == FiberState::Ready) {
            next = g;
            break;
        }
    b.current = next;
    FiberContext *to = next ? &next->context : &b.scheduler;
#if CUDA_EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(dying ? nullptr : &fake,
                                   next ? next->stack : b.scheduler_stack,
                                   next ? next->stack_bytes : b.scheduler_stack_bytes);
    switch_fiber(&f.context, to);
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
    (void)dying;
    switch_fiber(&f.context, to);
#endif
}

void release_block_barrier(Block &b) {
    for (Fiber &f : b.fibers)
        if (f.state == FiberState::AtBlockBarrier) f.state = FiberState::Ready;
    b.arrived = 0;
}

void release_warp_barrier(Block &b, int warp) {
    for (int l = 0; l < kWarp; ++l) {
        const size_t i = static_cast<size_t>(warp) * kWarp + static_cast<size_t>(l);
        if (i < b.fibers.size() && b.fibers[i].state == FiberState::AtWarpBarrier)
            b.fibers[i].state = FiberState::Ready;
    }
    b.warps[static_cast<size_t>(warp)].arrived = 0;
}

void fiber_main() {
    Block &b = *tl_block;
    Fiber &f = *b.current;
#if CUDA_EMU_ASAN
    // The scheduler starts the grid's first fiber; later ones may start from another fiber.
    const void *from = nullptr;
    size_t from_bytes = 0;
    __sanitizer_finish_switch_fiber(nullptr, &from, &from_bytes);
    if (!b.scheduler_stack) b.scheduler_stack = from, b.scheduler_stack_bytes = from_bytes;
#endif
    b.body->run();
    f.state = FiberState::Done;
    Warp &w = b.warps[static_cast<size_t>(f.warp)];
    w.exited[f.lane] = true;
    --w.live;
    --b.live;
    // Threads that have exited no longer hold a barrier back (whole warps returning early before
    // a __syncthreads is common and works on a GPU).
    if (b.arrived > 0 && b.arrived == b.live) release_block_barrier(b);
    if (w.arrived > 0 && w.arrived == w.live) release_warp_barrier(b, f.warp);
    switch_away(b, f, true);
}

void run_block(Block &b) {
    for (Fiber &f : b.fibers) {
        if (f.state != FiberState::Ready) continue;
        b.current = &f;
#if CUDA_EMU_ASAN
        void *fake = nullptr;
        __sanitizer_start_switch_fiber(&fake, f.stack, f.stack_bytes);
        switch_fiber(&b.scheduler, &f.context);
        __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
        switch_fiber(&b.scheduler, &f.context);
#endif
        b.current = nullptr;
    }
}

const char *state_name(FiberState s) {
    switch (s) {
    case FiberState::Ready:
        return "ready";
    case FiberState::AtBlockBarrier:
        return "at __syncthreads";
    case FiberState::AtWarpBarrier:
        return "at a warp shuffle";
    case FiberState::Done:
        return "exited";
    }
    return "?";
}

// memcpy of a shuffled word: a call (and under AddressSanitizer an interceptor) unless its size
// is a constant, and the shuffles copy two words per lane.
void copy_word(void *to, const void *from, size_t bytes) {
    if (bytes == 4)
        std::memcpy(to, from, 4);
    else if (bytes == 8)
        std::memcpy(to, from, 8);
    else
        std::memcpy(to, from, bytes);
}

} // namespace

const ThreadCoords &coords() { return block().current->coords; }

int lane_id() { return block().current->lane; }

void sync_threads() {
    Block &b = block();
    Fiber &f = *b.current;
    f.state = FiberState::AtBlockBarrier;
    if (++b.arrived == b.live) {
        release_block_barrier(b);
        return;
    }
    switch_away(b, f, false);
}

void warp_exchange(const void *mine, void *out, size_t bytes, int src_lane) {
    Block &b = block();
    Fiber &f = *b.current;
    Warp &w = b.warps[static_cast<size_t>(f.warp)];
    const unsigned exchange = f.exchanges++, slot = exchange & 1u;
    copy_word(&w.slot[slot][f.lane], mine, bytes);
    w.written[slot][f.lane] = exchange;
    f.state = FiberState::AtWarpBarrier;
    if (++w.arrived == w.live)
        release_warp_barrier(b, f.warp);
    else
        switch_away(b, f, false);
    // The source lane must have taken part in this same shuffle (not exited before it, not past
    // the end of a partial warp, not at another shuffle).
    if (src_lane < 0 || src_lane >= kWarp || w.written[slot][src_lane] != exchange)
        fault("%s: block (%u, %u, %u) thread %u: a warp shuffle reads lane %d, which did not "
              "take part in it",
              b.kernel, f.coords.block_idx.x, f.coords.block_idx.y, f.coords.block_idx.z,
              f.coords.thread_idx.x, src_lane);
    copy_word(out, &w.slot[slot][src_lane], bytes);
}

void run_grid(const LaunchConfig &config, KernelBody &body) {
    const dim3 g = config.grid, bd = config.block;
    const size_t n = size_t{bd.x} * bd.y * bd.z;
    const size_t n_warps = (n + kWarp - 1) / kWarp;
    Block b;
    b.body = &body;
    b.kernel = config.name;
    b.fibers.resize(n);
    b.warps.resize(n_warps);
    Block *outer = tl_block;
    tl_block = &b;
    for (unsigned bz = 0; bz < g.z; ++bz)
        for (unsigned by = 0; by < g.y; ++by)
            for (unsigned bx = 0; bx < g.x; ++bx) {
                b.live = static_cast<int>(n);
                b.arrived = 0;
                for (size_t w = 0; w < n_warps; ++w) {
                    Warp &wp = b.warps[w];
                    wp.live = static_cast<int>(std::min<size_t>(kWarp, n - w * kWarp));
                    wp.arrived = 0;
                    for (bool &e : wp.exited)
                        e = false;
                    for (auto &slot_written : wp.written)
                        for (unsigned &x : slot_written)
                            x = ~0u;
                    for (int l = wp.live; l < kWarp; ++l)
                        wp.exited[l] = true; // lanes past the end of a partial warp
                }
                for (size_t i = 0; i < n; ++i) {
                    Fiber &f = b.fibers[i];
                    const auto t = static_cast<unsigned>(i);
                    f.coords = {
                        {t % bd.x, t / bd.x % bd.y, t / (bd.x * bd.y)}, {bx, by, bz}, bd, g};
                    f.lane = static_cast<int>(i % kWarp);
                    f.warp = static_cast<int>(i / kWarp);
                    f.state = FiberState::Ready;
                    f.exchanges = 0;
                    f.stack = tl_stacks.get(i);
                    f.stack_bytes = kStackBytes + kStackColors - stack_color(i);
#if CUDA_EMU_ASAN
                    // A fiber never returns from fiber_main, so the redzones of its last frames
                    // stay poisoned; make_fiber writes its first frame over them.
                    ASAN_UNPOISON_MEMORY_REGION(static_cast<char *>(f.stack) + f.stack_bytes - 256,
                                                256);
#endif
                    make_fiber(&f.context, f.stack, f.stack_bytes, fiber_main);
                }
                while (b.live > 0) {
                    const int before_live = b.live;
                    bool any_ready = false;
                    for (const Fiber &f : b.fibers)
                        any_ready = any_ready || f.state == FiberState::Ready;
                    if (!any_ready) {
                        std::fprintf(stderr,
                                     "cuda emulator: %s: block (%u, %u, %u) is deadlocked: %d of "
                                     "%zu threads live, none can run\n",
                                     config.name, bx, by, bz, before_live, n);
                        for (size_t i = 0; i < n && i < 64; ++i)
                            std::fprintf(stderr, "  thread %zu: %s\n", i,
                                         state_name(b.fibers[i].state));
                        fault("a barrier that not every thread reaches");
                    }
                    run_block(b);
                }
            }
    tl_block = outer;
}

} // namespace cuda_emu
