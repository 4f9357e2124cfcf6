// infer-cuda-membw: the card's device-to-device copy bandwidth, the yardstick for decode's
// achieved weight-read GB/s (tests/gpu/run.sh prints decode as a percentage of it). A copy of
// B bytes reads B and writes B, so the figure is 2 B / time, in GB/s (1e9 bytes).
//
//   infer-cuda-membw [DEVICE]      prints one line: "<GB/s>"
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        const cudaError_t err_ = (expr);                                                           \
        if (err_ != cudaSuccess) {                                                                 \
            std::fprintf(stderr, "infer-cuda-membw: %s: %s\n", #expr, cudaGetErrorString(err_));   \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv) {
    const int device = argc > 1 ? std::atoi(argv[1]) : 0;
    CHECK(cudaSetDevice(device));
    const size_t bytes = size_t{1} << 30;
    void *a = nullptr, *b = nullptr;
    CHECK(cudaMalloc(&a, bytes));
    CHECK(cudaMalloc(&b, bytes));
    CHECK(cudaMemset(a, 1, bytes));
    cudaEvent_t start, stop;
    CHECK(cudaEventCreate(&start));
    CHECK(cudaEventCreate(&stop));
    CHECK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice)); // warm-up
    const int reps = 20;
    CHECK(cudaEventRecord(start));
    for (int i = 0; i < reps; ++i)
        CHECK(cudaMemcpyAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice));
    CHECK(cudaEventRecord(stop));
    CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    std::printf("%.1f\n", 2.0 * static_cast<double>(bytes) * reps / (ms * 1e-3) / 1e9);
    cudaFree(a);
    cudaFree(b);
    return 0;
}
