// Device discovery for the CUDA backend. Safe to call on machines with no GPU or driver.
#pragma once

#include <cstdint>
#include <string>

namespace infer::cuda {

// Number of CUDA devices this process can use; 0 with the driver's reason in *why otherwise.
int32_t device_count(std::string *why);

} // namespace infer::cuda
