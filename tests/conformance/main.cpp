// The conformance binary's entry point. CTest runs one test case per process, so a case that
// called skip_test() exits 77 (Skipped). A run of several cases in which any was skipped also
// exits 77, never 0: what passed is printed, but the run as a whole did not check everything.
#include <doctest/doctest.h> // its implementation: tests/doctest_impl.cpp

#include "skip.h"
#include "../pin_vulkan_driver.h"

#include <cstdio>

namespace {
int g_skipped = 0;
} // namespace

void infer::conformance::skip_test(const std::string &why) {
    ++g_skipped;
    MESSAGE("skipped: " << why);
}

int main(int argc, char **argv) {
    doctest::Context context(argc, argv);
    const int rc = context.run();
    if (rc != 0 || context.shouldExit()) return rc;
    if (g_skipped > 0) {
        std::printf("%d test case(s) skipped: exit 77\n", g_skipped);
        return 77;
    }
    return 0;
}
