// Device discovery for the CUDA backend. Safe to call on machines with no GPU or driver.
#pragma once

#include "core/status.h"

#include <cstdint>
#include <string>

namespace infer::cuda {

// Number of CUDA devices this process can use; 0 with the driver's reason in *why otherwise.
int32_t device_count(std::string *why);

// Free and total bytes of device `device`.
Status memory_info(int32_t device, uint64_t *free_bytes, uint64_t *total_bytes);

// "CUDA device 0: sm_90, 132 multiprocessors, 139.8 GiB".
Status describe(int32_t device, std::string *out);

} // namespace infer::cuda
