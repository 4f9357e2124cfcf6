// The CPU backend: every op, on the host, over memory the context reads and writes in place.
#pragma once

#include "runtime/backend_registry.h"

namespace infer {

// Threads start in start(), so a backend made only to plan memory costs nothing.
std::unique_ptr<Backend> make_cpu_backend(int32_t n_threads, CpuKernels kernels = CpuKernels::Fast);

// Its registry entry (backends/backends.cpp lists it).
BackendEntry cpu_backend_entry_of_build();

} // namespace infer
