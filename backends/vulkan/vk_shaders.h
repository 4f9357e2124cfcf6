// The compute shaders of backends/vulkan/shaders, compiled to SPIR-V at build time and embedded
// in the library by cmake/embed_spirv.cmake, which generates the definitions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace infer::vulkan {

struct SpirvShader {
    const char *name;      // the module name: the .comp file name without extension ("matmul")
                           // or a feature variant's ("matmul_vec_subgroup")
    const uint32_t *words; // SPIR-V, host-endian words
    size_t word_count;
};

std::span<const SpirvShader> embedded_shaders();

// nullptr when no shader has that name.
const SpirvShader *find_shader(std::string_view name);

} // namespace infer::vulkan
