// The device test binaries' entry point (infer-cuda-tests, infer-vulkan-tests: the backend is
// INFER_TEST_DEVICE_BACKEND): on a machine without such a device (or driver) every test reports
// "skipped: no <backend> device" and exits with 77, which CTest shows as Skipped (never as
// passed); scripts/test-all.sh counts those separately.
#include <doctest/doctest.h> // its implementation: tests/doctest_impl.cpp

#include "infer.h"
#include "../pin_vulkan_driver.h"

#include <cstdio>
#include <cstring>

#ifndef INFER_TEST_DEVICE_BACKEND
#define INFER_TEST_DEVICE_BACKEND INFER_BACKEND_CUDA
#define INFER_TEST_DEVICE_NAME "CUDA"
#endif

int main(int argc, char **argv) {
    // Listing the tests (CTest's discovery at build time) needs no device.
    bool listing = false;
    for (int i = 1; i < argc; ++i)
        listing = listing || std::strncmp(argv[i], "--list", 6) == 0;
    int32_t count = 0;
    const bool no_device =
        infer_backend_device_count(INFER_TEST_DEVICE_BACKEND, &count) != INFER_OK || count == 0;
    if (!listing && no_device) {
        std::printf("skipped: no %s device (%s)\n", INFER_TEST_DEVICE_NAME, infer_last_error());
        return 77;
    }
    doctest::Context context(argc, argv);
    return context.run();
}
