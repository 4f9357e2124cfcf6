// The CUDA emulator's runtime API: device memory (tracked, so copies and kernel arguments can be
// checked), pinned host memory, streams that queue work until a synchronization point, events,
// stream capture into graphs, and the per-thread last error.
#include "cuda_emu_state.h"

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>

namespace cuda_emu {
namespace {

struct Allocation {
    uint64_t bytes;
    MemoryKind kind;
};

struct Memory {
    std::mutex mutex;
    std::map<uintptr_t, Allocation> blocks; // by base address
    uint64_t device_used = 0;
};

Memory &memory() {
    static Memory m;
    return m;
}

// The emulated card: INFER_CUDA_EMU_DEVICES devices (default 1), INFER_CUDA_EMU_MEMORY_MB of
// memory each (default 80 GiB, an H100's), 132 multiprocessors (the flash-decoding split count
// depends on it).
int device_total() {
    const char *env = std::getenv("INFER_CUDA_EMU_DEVICES");
    return env ? std::atoi(env) : 1;
}

uint64_t device_capacity() {
    const char *env = std::getenv("INFER_CUDA_EMU_MEMORY_MB");
    return env ? std::strtoull(env, nullptr, 10) << 20 : uint64_t{80} << 30;
}

constexpr int kMultiprocessors = 132;

thread_local cudaError_t tl_last_error = cudaSuccess;
thread_local int tl_capturing = 0; // streams this thread has in capture

Stream &legacy_stream() {
    static Stream s;
    return s;
}

Stream &stream_of(cudaStream_t s) { return s ? *s : legacy_stream(); }

struct StreamList {
    std::mutex mutex;
    std::vector<Stream *> streams;
};

StreamList &stream_list() {
    static StreamList l;
    return l;
}

bool is_device(const void *p, uint64_t bytes) {
    MemoryKind kind;
    return find_allocation(p, bytes, &kind) && kind == MemoryKind::Device;
}

bool is_pinned(const void *p, uint64_t bytes) {
    MemoryKind kind;
    return find_allocation(p, bytes, &kind) && kind == MemoryKind::Pinned;
}

} // namespace

bool find_allocation(const void *p, uint64_t bytes, MemoryKind *kind) {
    const auto a = reinterpret_cast<uintptr_t>(p);
    Memory &m = memory();
    std::lock_guard<std::mutex> lock(m.mutex);
    auto it = m.blocks.upper_bound(a);
    if (it == m.blocks.begin()) return false;
    --it;
    if (a - it->first + bytes > it->second.bytes) return false;
    *kind = it->second.kind;
    return true;
}

cudaError_t fail(cudaError_t err) {
    tl_last_error = err;
    return err;
}

void fault(const char *fmt, ...) {
    std::va_list args;
    va_start(args, fmt);
    std::fputs("cuda emulator: ", stderr);
    std::vfprintf(stderr, fmt, args);
    std::fputc('\n', stderr);
    va_end(args);
    std::abort();
}

thread_local int tl_internal = 0; // InternalScope depth

InternalScope::InternalScope() { ++tl_internal; }
InternalScope::~InternalScope() { --tl_internal; }

bool capturing(cudaStream_t s) { return stream_of(s).graph != nullptr; }
bool thread_is_capturing() { return tl_capturing > 0; }

cudaError_t enqueue(cudaStream_t s, Work work) {
    const InternalScope internal;
    Stream &st = stream_of(s);
    if (st.graph) {
        st.graph->nodes.push_back(std::make_shared<Work>(std::move(work)));
        return cudaSuccess;
    }
    std::lock_guard<std::mutex> lock(st.queue_mutex);
    st.queue.push_back(std::move(work));
    return cudaSuccess;
}

void flush(cudaStream_t s) {
    const InternalScope internal;
    Stream &st = stream_of(s);
    std::lock_guard<std::mutex> running(st.run_mutex);
    for (;;) {
        Work w;
        {
            std::lock_guard<std::mutex> lock(st.queue_mutex);
            if (st.queue.empty()) return;
            w = std::move(st.queue.front());
            st.queue.pop_front();
        }
        w();
    }
}

void flush_all() {
    flush(nullptr);
    // The list stays locked while its streams run: another thread's cudaStreamDestroy waits here
    // instead of freeing a stream this one is about to flush. (Running work never takes the list
    // lock, so this cannot deadlock.)
    std::lock_guard<std::mutex> lock(stream_list().mutex);
    for (Stream *s : stream_list().streams)
        flush(s);
}

void submit_kernel(const LaunchConfig &config, KernelBody *body) {
    const InternalScope internal;
    std::shared_ptr<KernelBody> owned(body);
    const uint64_t threads = uint64_t{config.block.x} * config.block.y * config.block.z;
    const bool bad = threads == 0 || threads > 1024 || config.block.z > 64 || config.grid.x == 0 ||
                     config.grid.y == 0 || config.grid.z == 0 || config.grid.y > 65535 ||
                     config.grid.z > 65535 || config.shared_bytes > 48 * 1024;
    if (bad) {
        std::fprintf(stderr,
                     "cuda emulator: %s launched with grid (%u, %u, %u), block (%u, %u, %u), "
                     "%zu bytes of dynamic shared memory: invalid configuration\n",
                     config.name, config.grid.x, config.grid.y, config.grid.z, config.block.x,
                     config.block.y, config.block.z, config.shared_bytes);
        fail(cudaErrorInvalidConfiguration);
        return;
    }
    const LaunchConfig c = config;
    enqueue(config.stream, [c, owned] { run_grid(c, *owned); });
}

void check_kernel_pointer(const void *p, const char *kernel, int arg) {
    if (!p) return;
    MemoryKind kind;
    // One past the end is a valid argument (an empty range); the kernel itself is checked by
    // AddressSanitizer in the sanitizer build.
    if (find_allocation(p, 0, &kind) ||
        find_allocation(static_cast<const uint8_t *>(p) - 1, 1, &kind))
        return;
    fault("%s: argument %d (%p) is not device memory", kernel, arg, p);
}

} // namespace cuda_emu

using namespace cuda_emu;

// Named infer_* so that libinfer.so's version script exports it: only an emulator build has it.
extern "C" __attribute__((visibility("default"))) int infer_cuda_emu_in_runtime(void) {
    return tl_internal > 0;
}

// ---- Devices and errors ----------------------------------------------------------------------

cudaError_t cudaGetDeviceCount(int *count) {
    *count = device_total();
    return *count > 0 ? cudaSuccess : fail(cudaErrorNoDevice);
}

namespace {
thread_local int tl_device = 0;
}

cudaError_t cudaSetDevice(int device) {
    if (device < 0 || device >= device_total()) return fail(cudaErrorInvalidDevice);
    tl_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device) {
    *device = tl_device;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device) {
    if (device < 0 || device >= device_total()) return fail(cudaErrorInvalidDevice);
    switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock:
        *value = 1024;
        return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlock:
        *value = 48 * 1024;
        return cudaSuccess;
    case cudaDevAttrMultiProcessorCount:
        *value = kMultiprocessors;
        return cudaSuccess;
    case cudaDevAttrComputeCapabilityMajor:
        *value = 9;
        return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor:
        *value = 0;
        return cudaSuccess;
    }
    return fail(cudaErrorInvalidValue);
}

cudaError_t cudaDeviceSynchronize() {
    if (thread_is_capturing()) return fail(cudaErrorStreamCaptureUnsupported);
    flush_all();
    return cudaSuccess;
}

cudaError_t cudaGetLastError() {
    const cudaError_t e = tl_last_error;
    tl_last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError() { return tl_last_error; }

const char *cudaGetErrorName(cudaError_t err) {
    switch (err) {
    case cudaSuccess:
        return "cudaSuccess";
    case cudaErrorInvalidValue:
        return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
        return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration:
        return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice:
        return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice:
        return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle:
        return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady:
        return "cudaErrorNotReady";
    case cudaErrorStreamCaptureUnsupported:
        return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated:
        return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureWrongThread:
        return "cudaErrorStreamCaptureWrongThread";
    case cudaErrorIllegalState:
        return "cudaErrorIllegalState";
    }
    return "unknown CUDA error";
}

const char *cudaGetErrorString(cudaError_t err) {
    switch (err) {
    case cudaSuccess:
        return "no error";
    case cudaErrorMemoryAllocation:
        return "out of memory";
    case cudaErrorNoDevice:
        return "no CUDA-capable device is detected (emulator)";
    case cudaErrorInvalidConfiguration:
        return "invalid configuration argument";
    case cudaErrorStreamCaptureUnsupported:
        return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
        return "operation failed due to a previous error during capture";
    default:
        return cudaGetErrorName(err);
    }
}

// ---- Memory -----------------------------------------------------------------------------------

namespace {

cudaError_t allocate(void **p, size_t bytes, MemoryKind kind) {
    *p = nullptr;
    // Allocating is one of the calls a capturing thread may not make (the real runtime refuses
    // cudaMalloc there in the global and thread-local capture modes).
    if (thread_is_capturing()) return fail(cudaErrorStreamCaptureUnsupported);
    Memory &m = memory();
    // cudaMalloc hands out whole 256-byte granules, and kernels may rely on it (the int8 matvec
    // reads the 16-byte word holding a row's last bytes): the granule is the allocation here, so
    // the sanitizer build flags a read past it, not one inside it.
    const uint64_t size = ((bytes ? bytes : 1) + 255) & ~uint64_t{255};
    if (kind == MemoryKind::Device) {
        std::lock_guard<std::mutex> lock(m.mutex);
        if (m.device_used + size > device_capacity()) return fail(cudaErrorMemoryAllocation);
        m.device_used += size;
    }
    void *q = nullptr;
    if (posix_memalign(&q, 256, size) != 0) {
        if (kind == MemoryKind::Device) {
            std::lock_guard<std::mutex> lock(m.mutex);
            m.device_used -= size;
        }
        return fail(cudaErrorMemoryAllocation);
    }
    // Fresh device memory holds garbage on a GPU; a recognizable pattern here (NaN floats).
    std::memset(q, 0xff, size);
    std::lock_guard<std::mutex> lock(m.mutex);
    m.blocks[reinterpret_cast<uintptr_t>(q)] = {size, kind};
    *p = q;
    return cudaSuccess;
}

cudaError_t release(void *p, MemoryKind kind) {
    if (!p) return cudaSuccess;
    if (thread_is_capturing()) return fail(cudaErrorStreamCaptureUnsupported);
    flush_all(); // cudaFree synchronizes the device
    Memory &m = memory();
    std::lock_guard<std::mutex> lock(m.mutex);
    auto it = m.blocks.find(reinterpret_cast<uintptr_t>(p));
    if (it == m.blocks.end() || it->second.kind != kind) return fail(cudaErrorInvalidValue);
    if (kind == MemoryKind::Device) m.device_used -= it->second.bytes;
    m.blocks.erase(it);
    std::free(p);
    return cudaSuccess;
}

// The direction a copy really has; an error when the pointers do not fit `kind`.
cudaError_t check_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind *kind) {
    const bool dst_dev = is_device(dst, bytes), src_dev = is_device(src, bytes);
    MemoryKind k;
    // A range that starts in device memory but runs past its end is an invalid argument.
    const bool dst_partly = !dst_dev && find_allocation(dst, 0, &k) && k == MemoryKind::Device;
    const bool src_partly = !src_dev && find_allocation(src, 0, &k) && k == MemoryKind::Device;
    if (dst_partly || src_partly) return fail(cudaErrorInvalidValue);
    cudaMemcpyKind actual = dst_dev ? (src_dev ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                    : (src_dev ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    if (*kind != cudaMemcpyDefault && *kind != actual) {
        std::fprintf(stderr, "cuda emulator: cudaMemcpy kind %d for a copy that is kind %d\n",
                     static_cast<int>(*kind), static_cast<int>(actual));
        return fail(cudaErrorInvalidValue);
    }
    *kind = actual;
    return cudaSuccess;
}

} // namespace

cudaError_t cudaMalloc(void **p, size_t bytes) { return allocate(p, bytes, MemoryKind::Device); }
cudaError_t cudaFree(void *p) { return release(p, MemoryKind::Device); }
cudaError_t cudaMallocHost(void **p, size_t bytes) {
    return allocate(p, bytes, MemoryKind::Pinned);
}
cudaError_t cudaFreeHost(void *p) { return release(p, MemoryKind::Pinned); }

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    Memory &m = memory();
    std::lock_guard<std::mutex> lock(m.mutex);
    *total_bytes = device_capacity();
    *free_bytes = device_capacity() - m.device_used;
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    if (thread_is_capturing()) return fail(cudaErrorStreamCaptureUnsupported);
    if (const cudaError_t e = check_copy(dst, src, bytes, &kind); e != cudaSuccess) return e;
    // The legacy default stream: what was queued on it runs first (non-blocking streams are not
    // waited for, as on a GPU).
    flush(nullptr);
    if (bytes) std::memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
    const InternalScope internal;
    if (const cudaError_t e = check_copy(dst, src, bytes, &kind); e != cudaSuccess) return e;
    if (!bytes) return cudaSuccess;
    const bool host_pageable = (kind == cudaMemcpyHostToDevice && !is_pinned(src, bytes)) ||
                               (kind == cudaMemcpyDeviceToHost && !is_pinned(dst, bytes));
    if (capturing(stream)) {
        // A graph cannot hold a copy to or from pageable memory.
        if (host_pageable || kind == cudaMemcpyHostToHost) {
            stream_of(stream).invalidated = true;
            return fail(cudaErrorStreamCaptureUnsupported);
        }
        return enqueue(stream, [=] { std::memmove(dst, src, bytes); });
    }
    if (kind == cudaMemcpyHostToDevice && host_pageable) {
        // The driver stages pageable memory before returning: the caller may reuse it at once.
        auto staged = std::make_shared<std::vector<uint8_t>>(
            static_cast<const uint8_t *>(src), static_cast<const uint8_t *>(src) + bytes);
        return enqueue(stream, [=] { std::memcpy(dst, staged->data(), bytes); });
    }
    if (kind == cudaMemcpyDeviceToHost && host_pageable) {
        // To pageable memory the copy returns only once done.
        flush(stream);
        std::memmove(dst, src, bytes);
        return cudaSuccess;
    }
    return enqueue(stream, [=] { std::memmove(dst, src, bytes); });
}

cudaError_t cudaMemset(void *p, int value, size_t bytes) {
    if (thread_is_capturing()) return fail(cudaErrorStreamCaptureUnsupported);
    if (!is_device(p, bytes)) return fail(cudaErrorInvalidValue);
    flush(nullptr);
    std::memset(p, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t stream) {
    const InternalScope internal;
    if (!is_device(p, bytes)) return fail(cudaErrorInvalidValue);
    return enqueue(stream, [=] { std::memset(p, value, bytes); });
}

// ---- Streams, capture and graphs -------------------------------------------------------------

cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, 0); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) {
    *s = new Stream;
    std::lock_guard<std::mutex> lock(stream_list().mutex);
    stream_list().streams.push_back(*s);
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    flush(s); // work already queued still completes
    {
        std::lock_guard<std::mutex> lock(stream_list().mutex);
        auto &v = stream_list().streams;
        for (auto it = v.begin(); it != v.end(); ++it)
            if (*it == s) {
                v.erase(it);
                break;
            }
    }
    delete s;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    const InternalScope internal;
    if (capturing(s)) {
        stream_of(s).invalidated = true;
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    flush(s);
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
    const InternalScope internal;
    if (!s) return fail(cudaErrorStreamCaptureUnsupported); // the legacy stream cannot capture
    Stream &st = *s;
    if (st.graph) return fail(cudaErrorIllegalState);
    flush(s); // (the real stream keeps running it; the capture only takes what comes after)
    st.graph = new Graph;
    st.invalidated = false;
    ++tl_capturing;
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *graph) {
    const InternalScope internal;
    *graph = nullptr;
    if (!s || !s->graph) return fail(cudaErrorIllegalState);
    Graph *g = s->graph;
    s->graph = nullptr;
    --tl_capturing;
    if (s->invalidated) {
        delete g;
        return fail(cudaErrorStreamCaptureInvalidated);
    }
    *graph = g;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long) {
    const InternalScope internal;
    if (!graph) return fail(cudaErrorInvalidValue);
    *exec = new GraphExec{graph->nodes};
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
    const InternalScope internal;
    if (!exec) return fail(cudaErrorInvalidValue);
    auto nodes = exec->nodes; // the exec may be destroyed while the launch is queued
    return enqueue(s, [nodes] {
        for (const auto &n : nodes)
            (*n)();
    });
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    const InternalScope internal;
    delete graph;
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    delete exec;
    return cudaSuccess;
}

// ---- Events -------------------------------------------------------------------------------------

namespace cuda_emu {
struct Event {
    cudaStream_t stream = nullptr;
    std::chrono::steady_clock::time_point when{};
};
} // namespace cuda_emu

cudaError_t cudaEventCreate(cudaEvent_t *e) { return cudaEventCreateWithFlags(e, 0); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned) {
    *e = new Event;
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e) {
    if (!e) return fail(cudaErrorInvalidResourceHandle);
    if (!capturing(e->stream)) flush(e->stream); // its record may still be queued
    delete e;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    const InternalScope internal;
    if (!e) return fail(cudaErrorInvalidResourceHandle);
    e->stream = s;
    return enqueue(s, [e] { e->when = std::chrono::steady_clock::now(); });
}

cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    if (!e) return fail(cudaErrorInvalidResourceHandle);
    if (thread_is_capturing()) return fail(cudaErrorStreamCaptureUnsupported);
    flush(e->stream);
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
    if (!start || !end) return fail(cudaErrorInvalidResourceHandle);
    *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
    return cudaSuccess;
}
