// Random test data for the CPU kernel tests: weight rows of every matmul type with sane scales,
// activations, the error bound a dot product may show, and the ISAs to test.
#pragma once

#include "core/types.h"
#include "cpu/cpu_isa.h"
#include "cpu/cpu_matmul.h"

#include <cstdint>
#include <random>
#include <vector>

namespace infer::test {

struct TypeCase {
    TypeId type;
    int64_t block_elems;
    int64_t block_bytes;
    float wmax; // bound on |dequantized weight| for the scales random_weights() writes
};

// Every matmul weight type, with its block geometry.
extern const TypeCase kTypes[25];

// n rows of k elements: random quant bytes, then every fp16 scale/min overwritten with a value in
// [0.5, 1] * 2^-6 (mins may be negative); float types get values in [-1, 1].
std::vector<uint8_t> random_weights(const TypeCase &tc, int64_t k, int64_t n, std::mt19937 &rng);
// count standard normal floats.
std::vector<float> random_floats(int64_t count, std::mt19937 &rng);
// Upper bound on sum |w_i x_i| (activation quantization moves x by under 1%).
float abs_bound(const TypeCase &tc, const float *x, int64_t k);
// The SIMD levels this CPU runs (not Scalar).
std::vector<cpu::CpuIsa> simd_isas();
// A row length for tests: a few blocks, odd where the type allows.
int64_t test_k(const TypeCase &tc);
// The interleaved layout the CPU repacks `type` into on the best SIMD level (Rows: none).
cpu::WeightLayout test_layout(TypeId type);
// w repacked into `layout`, its bytes in *buf, 2 bytes in: only the alignment the layouts need.
cpu::WeightView repacked(const cpu::WeightView &w, cpu::WeightLayout layout,
                         std::vector<uint8_t> *buf);

} // namespace infer::test
