// Holding a backend's outputs to the reference's: F32 values within the case's tolerance of
// max |a - b| / max |ref| (the error relative to the tensor's scale, so an output near zero by
// chance is not held to a relative bound it cannot meet), I32 values and expert counts exactly.
// NaN or infinity where the reference has a finite value is always a mismatch.
#pragma once

#include "node_runner.h"
#include "one_node_case.h"

#include <string>

namespace infer::conformance {

struct Comparison {
    bool ok = true;
    double worst = 0;   // the largest max_rel error over the case's F32 outputs
    std::string detail; // what differs, when !ok
};

Comparison compare_outputs(const OpCase &c, const Outputs &got, const Outputs &ref);

} // namespace infer::conformance
