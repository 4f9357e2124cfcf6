// The memory bandwidth probe for tools (core/memory_bandwidth.h).
#include "api/api_util.h"
#include "core/memory_bandwidth.h"
#include "runtime/backend.h"

using infer::api::fail;

extern "C" infer_status infer_measure_read_bandwidth(int32_t n_threads, double *bytes_per_second) {
    return infer::api::guarded(__func__, [&]() -> infer_status {
        if (!bytes_per_second) return fail(INFER_ERR_INVALID_ARGUMENT, "bytes_per_second is NULL");
        *bytes_per_second = 0;
        if (n_threads < 0 || n_threads > 1024)
            return fail(INFER_ERR_INVALID_ARGUMENT, "n_threads %d is outside 0..1024", n_threads);
        *bytes_per_second =
            infer::measure_read_bandwidth(infer::resolve_thread_count(n_threads)).bytes_per_second;
        return INFER_OK;
    });
}
