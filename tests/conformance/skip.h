// A test that cannot run on this machine (a device backend without a device, a backend that runs
// no graphs yet) calls skip_test() and returns. main() then exits 77, which CTest reports as
// Skipped: a skipped case never counts as passed.
#pragma once

#include <string>

namespace infer::conformance {

void skip_test(const std::string &why);

} // namespace infer::conformance
