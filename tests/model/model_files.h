// Where model tests find their models: the real ones in the model cache (a missing one fails the
// test, naming the fetch script), synthetic ones made on demand by infer-synth.
#pragma once

#include <string>

namespace infer::test {

// The directory scripts/fetch-models.sh fills (INFER_MODEL_DIR or ~/.cache/libinfer/models).
std::string model_dir();
// Path of a real model file; throws std::runtime_error if it is missing.
std::string real_model(const std::string &file);
// Generates (once per process) a synthetic model with infer-synth and returns its path.
std::string synthetic_model(const std::string &name, const std::string &synth_args);

} // namespace infer::test
