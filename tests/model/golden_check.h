// Holds a model to its llama.cpp goldens (tests/data/goldens/NAME) on a backend: the criteria of
// issue 3, written out in golden_check.cpp. Fails the calling doctest case on any miss.
#pragma once

#include <cstdint>
#include <string>

namespace infer::test {

void check_goldens(const std::string &name, int32_t backend);

} // namespace infer::test
