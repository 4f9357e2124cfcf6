// Holds a model to its llama.cpp goldens (tests/data/goldens/NAME) on a backend: the criteria of
// issue 3, written out in golden_check.cpp. Fails the calling doctest case on any miss.
#pragma once

#include "infer.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace infer::test {

// `label`, when set, names the variant under test (a CPU ISA level) in the messages.
void check_goldens(const std::string &name, int32_t backend, const std::string &label = "");
// The same with the model loaded with `params` (a placement across a device and the CPU), its
// contexts computing prefill's non-resident experts as `expert_prefill` says
// (infer_context_params.expert_prefill). Prompts longer than `max_prompt` tokens are left out:
// the placement tests run the long prompt on one placement and the split code paths on the rest,
// on the emulator, where each prompt token costs CI time.
void check_goldens(const std::string &name, const infer_model_params &params,
                   const std::string &label, int32_t expert_prefill = INFER_EXPERT_PREFILL_CPU,
                   size_t max_prompt = SIZE_MAX);

} // namespace infer::test
