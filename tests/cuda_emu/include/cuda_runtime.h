// The CUDA emulator's runtime header: what backends/cuda uses of <cuda_runtime.h>, implemented on
// the CPU, so that the CUDA backend's own kernels and host code run in CI on a machine without a
// GPU (built with -DINFER_CUDA_EMULATOR=ON, see tests/cuda_emu/README.md).
//
// It is a test harness, not a backend: kernels run one block at a time on the calling thread,
// each CUDA thread a fiber, with __syncthreads and warp shuffles as real barriers (a barrier that
// not every live thread reaches is reported as a deadlock). Streams queue their work and run it at
// synchronization points, so a missing synchronization reads stale data here as it would on a
// GPU; stream capture records instead of running; operations a GPU refuses (cudaMalloc or a
// pageable copy while capturing, a kernel given a host pointer, a copy in the wrong direction)
// are errors or aborts with a message.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- Declaration specifiers nvcc knows ------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Shared memory: one block runs at a time on a host thread, so a static per host thread is what
// a block's shared memory is (uninitialized at block start on a GPU; stale here).
#define __shared__ static thread_local

// ---- Vector types -----------------------------------------------------------------------------
struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) uint2 {
    unsigned x, y;
};
struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
struct alignas(8) int2 {
    int x, y;
};
struct alignas(16) int4 {
    int x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }

// ---- Runtime API ----------------------------------------------------------------------------
enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevice = 101,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
    cudaErrorStreamCaptureWrongThread = 908,
    cudaErrorIllegalState = 401,
};
using cudaError = cudaError_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};
enum cudaStreamCaptureMode {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2,
};
enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
};
constexpr unsigned cudaStreamDefault = 0, cudaStreamNonBlocking = 1;
constexpr unsigned cudaEventDefault = 0, cudaEventDisableTiming = 2;

namespace cuda_emu {
struct Stream;
struct Event;
struct Graph;
struct GraphExec;
} // namespace cuda_emu
using cudaStream_t = cuda_emu::Stream *;
using cudaEvent_t = cuda_emu::Event *;
using cudaGraph_t = cuda_emu::Graph *;
using cudaGraphExec_t = cuda_emu::GraphExec *;

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char *cudaGetErrorString(cudaError_t err);
const char *cudaGetErrorName(cudaError_t err);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);

cudaError_t cudaMalloc(void **p, size_t bytes);
template <class T> cudaError_t cudaMalloc(T **p, size_t bytes) {
    return cudaMalloc(reinterpret_cast<void **>(p), bytes);
}
cudaError_t cudaFree(void *p);
cudaError_t cudaMallocHost(void **p, size_t bytes);
template <class T> cudaError_t cudaMallocHost(T **p, size_t bytes) {
    return cudaMallocHost(reinterpret_cast<void **>(p), bytes);
}
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void *p, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t stream = nullptr);

cudaError_t cudaStreamCreate(cudaStream_t *s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *graph);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph,
                                 unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);

cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);

// ---- Device code: thread indices, barriers, shuffles, intrinsics ------------------------------
namespace cuda_emu {

struct ThreadCoords {
    uint3 thread_idx, block_idx;
    dim3 block_dim, grid_dim;
};
// The coordinates of the CUDA thread running now (aborts outside a kernel).
const ThreadCoords &coords();
void sync_threads();
// Exchanges `bytes` of every lane of the warp: writes mine, waits for the warp, returns the
// bytes lane `src` wrote (aborts when src has exited).
void warp_exchange(const void *mine, void *out, size_t bytes, int src_lane);
int lane_id();

} // namespace cuda_emu

#define threadIdx (::cuda_emu::coords().thread_idx)
#define blockIdx (::cuda_emu::coords().block_idx)
#define blockDim (::cuda_emu::coords().block_dim)
#define gridDim (::cuda_emu::coords().grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads() { cuda_emu::sync_threads(); }

template <class T> T __shfl_xor_sync(unsigned /*mask*/, T v, int lane_mask, int width = 32) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffle of a word");
    const int lane = cuda_emu::lane_id();
    const int src = (lane ^ lane_mask) < ((lane / width) + 1) * width ? lane ^ lane_mask : lane;
    T out;
    cuda_emu::warp_exchange(&v, &out, sizeof(T), src);
    return out;
}
template <class T> T __shfl_sync(unsigned /*mask*/, T v, int src_lane, int width = 32) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffle of a word");
    const int lane = cuda_emu::lane_id();
    T out;
    cuda_emu::warp_exchange(&v, &out, sizeof(T), (lane / width) * width + src_lane % width);
    return out;
}
template <class T> T __shfl_down_sync(unsigned /*mask*/, T v, unsigned delta, int width = 32) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffle of a word");
    const int lane = cuda_emu::lane_id();
    const int src =
        lane % width + static_cast<int>(delta) < width ? lane + static_cast<int>(delta) : lane;
    T out;
    cuda_emu::warp_exchange(&v, &out, sizeof(T), src);
    return out;
}

// Atomics. A block's threads are fibers that switch only at barriers and shuffles, but the
// streams of different host threads run at once, so these are real atomic read-modify-writes.
inline int atomicAdd(int *p, int v) { return std::atomic_ref<int>(*p).fetch_add(v); }
inline unsigned atomicAdd(unsigned *p, unsigned v) {
    return std::atomic_ref<unsigned>(*p).fetch_add(v);
}
inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v) {
    return std::atomic_ref<unsigned long long>(*p).fetch_add(v);
}
inline float atomicAdd(float *p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }

template <class T> T __ldg(const T *p) { return *p; }
inline int __dp4a(int a, int b, int c) {
    for (int i = 0; i < 4; ++i)
        c += static_cast<int8_t>(a >> (8 * i)) * static_cast<int8_t>(b >> (8 * i));
    return c;
}
inline unsigned __funnelshift_r(unsigned lo, unsigned hi, unsigned shift) {
    return static_cast<unsigned>(((static_cast<uint64_t>(hi) << 32) | lo) >> (shift & 31));
}
inline float __uint_as_float(unsigned u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}
inline unsigned __float_as_uint(float f) {
    unsigned u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }

// ---- Kernel launches --------------------------------------------------------------------------
namespace cuda_emu {

struct LaunchConfig {
    dim3 grid, block;
    size_t shared_bytes;
    cudaStream_t stream;
    const char *name;
};

// Runs (or, on a capturing stream, records) body once per thread of the grid; checks the
// configuration first (the error is the one cudaGetLastError then returns).
struct KernelBody {
    virtual ~KernelBody() = default;
    virtual void run() = 0; // one CUDA thread
};
void submit_kernel(const LaunchConfig &config, KernelBody *body); // takes ownership

// Marks the calling thread as inside the emulator while it lives, so that a test counting the
// library's heap allocations (tests/alloc) can leave out the emulator's own: its queues, graphs
// and fibers allocate where a GPU driver would not (infer_cuda_emu_in_runtime).
struct InternalScope {
    InternalScope();
    ~InternalScope();
    InternalScope(const InternalScope &) = delete;
    InternalScope &operator=(const InternalScope &) = delete;
};
// Aborts with a message when p is neither null nor device (or pinned host) memory.
void check_kernel_pointer(const void *p, const char *kernel, int arg);

template <class F, class... A> struct BoundKernel final : KernelBody {
    F *fn;
    std::tuple<A...> args;
    BoundKernel(F *f, A... a) : fn(f), args(std::move(a)...) {}
    void run() override { std::apply(fn, args); }
};

template <class... P> class Launcher {
public:
    Launcher(LaunchConfig c, void (*fn)(P...)) : config_(c), fn_(fn) {}
    template <class... A> void operator()(A &&...a) const {
        static_assert(sizeof...(A) == sizeof...(P), "kernel launched with the wrong arity");
        const InternalScope internal;
        auto *kernel = new BoundKernel<void(P...), std::decay_t<P>...>(
            fn_, std::decay_t<P>(std::forward<A>(a))...);
        check_pointers(std::index_sequence_for<P...>{}, kernel->args);
        submit_kernel(config_, kernel);
    }

private:
    template <size_t... I, class Tuple>
    void check_pointers(std::index_sequence<I...>, const Tuple &t) const {
        (check_one(std::get<I>(t), static_cast<int>(I)), ...);
    }
    template <class T> void check_one(const T &v, int i) const {
        if constexpr (std::is_pointer_v<T>) check_kernel_pointer(v, config_.name, i);
    }
    LaunchConfig config_;
    void (*fn_)(P...);
};

template <class... P>
Launcher<P...> launch(dim3 grid, dim3 block, size_t shared, cudaStream_t stream, void (*fn)(P...),
                      const char *name) {
    return Launcher<P...>({grid, block, shared, stream, name}, fn);
}

} // namespace cuda_emu
