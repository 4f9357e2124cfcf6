// Proves the promise of static memory planning: after infer_context_create, prefill and decode
// perform no heap allocation. This program replaces malloc/calloc/realloc/free (and so every
// operator new, which calls malloc) and counts calls made, from any thread, while a flag is set
// around the decode calls.
//
// Not built with sanitizers: they provide their own malloc. Built against the CUDA emulator, it
// leaves out the emulator's own allocations (its queues and fibers stand in for a GPU driver,
// which allocates nothing per launch): the emulator says when a thread is inside it. The Vulkan
// driver's are left out too (below).
//
// Usage: infer-no-alloc-test [--backend cuda|vulkan] [--n-gpu-layers N] [--override PATTERN=cpu|cuda]
//        [--expert-share F]
//        MODEL.gguf...   (the options apply to every model after them: a split placement)
#include "../expert_budget.h"
#include "infer.h"

#include <atomic>
#include <dlfcn.h>
#include <pthread.h>
#include <execinfo.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void __libc_free(void *);
// Defined by the CUDA emulator (tests/cuda_emu); absent elsewhere.
int infer_cuda_emu_in_runtime(void) __attribute__((weak));
}

// With --backend vulkan the driver's own allocations are left out, as the emulator's are: those
// the driver's code makes (its caller is in a library named like a Vulkan driver; lavapipe
// allocates in vkQueueSubmit and when recording) and those on threads other than the one
// decoding (lavapipe runs command buffers on its own threads; the Vulkan backend starts none,
// and a model all on Vulkan runs no CPU worker). Ours, on the decoding thread, are counted.
bool g_vulkan_driver_excluded = false;
pthread_t g_decoding_thread;

bool in_vulkan_driver(void *caller) {
    if (!g_vulkan_driver_excluded) return false;
    if (!pthread_equal(pthread_self(), g_decoding_thread)) return true;
    Dl_info info{};
    return dladdr(caller, &info) && info.dli_fname && std::strstr(info.dli_fname, "libvulkan_");
}

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

void note_allocation(void *caller) {
    if (!g_counting.load(std::memory_order_relaxed)) return;
    if (infer_cuda_emu_in_runtime && infer_cuda_emu_in_runtime()) return;
    if (in_vulkan_driver(caller)) return;
    g_allocations.fetch_add(1);
    // INFER_NO_ALLOC_BACKTRACE=1: where each counted allocation came from (addr2line -f -C -e
    // libinfer.so.0 OFFSET names the functions of a release build).
    static bool in_trace = false;
    if (std::getenv("INFER_NO_ALLOC_BACKTRACE") && !in_trace) {
        in_trace = true;
        void *frames[40];
        const int n = backtrace(frames, 40);
        backtrace_symbols_fd(frames, n, 2);
        std::fprintf(stderr, "----\n");
        in_trace = false;
    }
}
} // namespace

extern "C" {
void *malloc(size_t n) {
    note_allocation(__builtin_return_address(0));
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size) {
    note_allocation(__builtin_return_address(0));
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n) {
    note_allocation(__builtin_return_address(0));
    return __libc_realloc(p, n);
}
void free(void *p) {
    if (p) note_allocation(__builtin_return_address(0));
    __libc_free(p);
}
}

// A bare file name is looked up in the model cache (INFER_MODEL_DIR or ~/.cache/libinfer/models).
static std::string model_path(const char *arg) {
    if (std::strchr(arg, '/')) return arg;
    if (const char *dir = std::getenv("INFER_MODEL_DIR")) return std::string(dir) + "/" + arg;
    const char *cache = std::getenv("XDG_CACHE_HOME");
    const char *home = std::getenv("HOME");
    return (cache ? std::string(cache) : std::string(home ? home : "/tmp") + "/.cache") +
           "/libinfer/models/" + arg;
}

static int fail(const char *what) {
    std::fprintf(stderr, "FAIL: %s: %s\n", what, infer_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s MODEL.gguf...\n", argv[0]);
        return 2;
    }
    // The counter must see allocations, or a zero below would prove nothing.
    g_counting = true;
    void *volatile probe = std::malloc(16);
    std::free(probe);
    delete new std::vector<int>(4);
    g_counting = false;
    if (g_allocations.load() < 4) {
        std::fprintf(stderr, "FAIL: malloc interposition is not working (%ld calls seen)\n",
                     g_allocations.load());
        return 1;
    }
    int failures = 0;
    infer_model_params model_params;
    infer_model_params_init(&model_params);
    std::vector<std::string> patterns;
    std::vector<infer_tensor_override> overrides;
    double expert_share = -1; // --expert-share F: per-expert offload, F of the expert bytes resident
    int32_t expert_prefill = INFER_EXPERT_PREFILL_CPU; // --expert-prefill auto|cpu|stream
    for (int a = 1; a < argc; ++a) {
        const std::string arg = argv[a];
        if (arg == "--backend" && a + 1 < argc) {
            const std::string name = argv[++a];
            model_params.backend = name == "cuda"     ? INFER_BACKEND_CUDA
                                   : name == "vulkan" ? INFER_BACKEND_VULKAN
                                                      : INFER_BACKEND_CPU;
            g_decoding_thread = pthread_self();
            g_vulkan_driver_excluded = model_params.backend == INFER_BACKEND_VULKAN;
            continue;
        }
        if (arg == "--n-gpu-layers" && a + 1 < argc) {
            model_params.n_gpu_layers = std::atoi(argv[++a]);
            continue;
        }
        if (arg == "--override" && a + 1 < argc) {
            const std::string spec = argv[++a];
            const size_t eq = spec.rfind('=');
            patterns.push_back(spec.substr(0, eq));
            overrides.push_back({nullptr, spec.substr(eq + 1) == "cuda" ? INFER_BACKEND_CUDA
                                                                        : INFER_BACKEND_CPU});
            for (size_t i = 0; i < overrides.size(); ++i) overrides[i].pattern = patterns[i].c_str();
            model_params.overrides = overrides.data();
            model_params.n_overrides = static_cast<int32_t>(overrides.size());
            continue;
        }
        if (arg == "--expert-prefill" && a + 1 < argc) {
            const std::string mode = argv[++a];
            expert_prefill = mode == "stream" ? INFER_EXPERT_PREFILL_STREAM
                             : mode == "cpu"  ? INFER_EXPERT_PREFILL_CPU
                                              : INFER_EXPERT_PREFILL_AUTO;
            continue;
        }
        if (arg == "--expert-share" && a + 1 < argc) {
            expert_share = std::atof(argv[++a]);
            continue;
        }
        const std::string path = model_path(argv[a]);
        if (expert_share >= 0) { // per-expert offload keeping this share of the experts resident
            model_params.expert_placement = INFER_EXPERTS_BY_POPULARITY;
            model_params.device_memory_budget =
                infer::test::budget_for_expert_share(path.c_str(), model_params, expert_share);
            if (model_params.device_memory_budget == 0) return fail("expert budget");
        }
        infer_model *model = nullptr;
        if (infer_model_load_file(path.c_str(), &model_params, &model) != INFER_OK)
            return fail(path.c_str());
        infer_placement placement;
        infer_placement_init(&placement);
        if (infer_model_placement(model, &placement) != INFER_OK) return fail("placement");
        infer_context_params params;
        infer_context_params_init(&params);
        params.n_ctx = 256;
        params.n_batch = 64;
        params.n_threads = 2;
        params.expert_prefill = expert_prefill;
        infer_context *ctx = nullptr;
        if (infer_context_create(model, &params, &ctx) != INFER_OK) return fail("context");

        // Expert statistics are read inside the window too (sized outside it; 0 x 0 when dense).
        uint32_t n_layer = 0, n_expert = 0;
        infer_context_expert_counts(ctx, nullptr, 0, &n_layer, &n_expert);
        std::vector<uint64_t> counts(static_cast<size_t>(n_layer) * n_expert + 1);

        std::vector<int32_t> prompt(150);
        for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(1 + (i * 37) % 250);
        g_allocations = 0;
        g_counting = true;
        infer_status status = infer_decode(ctx, prompt.data(), prompt.size()); // 3 chunks
        const float *logits = nullptr;
        for (int step = 0; step < 32 && status == INFER_OK; ++step) {
            status = infer_context_logits(ctx, -1, &logits, nullptr);
            const int32_t next = static_cast<int32_t>(1 + (step * 11) % 250);
            if (status == INFER_OK) status = infer_decode(ctx, &next, 1);
        }
        if (status == INFER_OK) status = infer_context_truncate(ctx, 10);
        if (status == INFER_OK) status = infer_decode(ctx, prompt.data(), 20);
        if (status == INFER_OK)
            status = infer_context_expert_counts(ctx, counts.data(), counts.size(), nullptr, nullptr);
        infer_context_reset_expert_counts(ctx);
        g_counting = false;
        const long allocations = g_allocations.load();
        if (status != INFER_OK) return fail("decode");
        infer_context_stats stats;
        infer_context_stats_init(&stats);
        if (infer_context_get_stats(ctx, &stats) != INFER_OK) return fail("stats");
        std::printf("%s (%d segments, %d copies per step, %llu experts streamed in prefill): %ld "
                    "heap allocations in 1 prefill of 150 tokens, 32 decode steps, a truncate, a "
                    "20-token prefill and reading the expert counts\n",
                    argv[a], placement.n_segments, placement.n_copies,
                    static_cast<unsigned long long>(stats.prefill_streamed_experts), allocations);
        failures += allocations != 0;
        if (expert_prefill == INFER_EXPERT_PREFILL_STREAM && stats.prefill_streamed_experts == 0) {
            std::fprintf(stderr, "FAIL: --expert-prefill stream streamed nothing\n");
            ++failures;
        }
        infer_context_free(ctx);
        infer_model_free(model);
    }
    return failures ? 1 : 0;
}
