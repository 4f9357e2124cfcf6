// libFuzzer target for the sampler: parameters, n_vocab, logit biases, logits (NaN, +-inf,
// extremes), accepted tokens and resets all come from the input. Properties: create either
// works or fails with INVALID_ARGUMENT; sample either fails with INVALID_ARGUMENT or returns a
// token in [0, n_vocab) that is not banned; bias and accept refuse exactly the documented values.
#include "infer.h"

#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Mostly the values that matter at the edges, sometimes any bit pattern.
float pick_float(FuzzedDataProvider &in) {
    switch (in.ConsumeIntegralInRange<int>(0, 11)) {
    case 0: return std::numeric_limits<float>::quiet_NaN();
    case 1: return kInf;
    case 2: return -kInf;
    case 3: return 0.0f;
    case 4: return 1.0f;
    case 5: return std::numeric_limits<float>::max();
    case 6: return -std::numeric_limits<float>::max();
    case 7: return std::numeric_limits<float>::denorm_min();
    case 8: {
        const uint32_t bits = in.ConsumeIntegral<uint32_t>();
        float f;
        std::memcpy(&f, &bits, sizeof f);
        return f;
    }
    default: return in.ConsumeFloatingPointInRange<float>(-30.0f, 30.0f);
    }
}

int32_t pick_int(FuzzedDataProvider &in, int32_t lo, int32_t hi) {
    return in.ConsumeBool() ? in.ConsumeIntegralInRange<int32_t>(lo, hi) : in.ConsumeIntegral<int32_t>();
}

void check(bool ok) {
    if (!ok) __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzedDataProvider in(data, size);
    // Small vocabularies keep runs fast; 0 and negative ones must be refused.
    const int32_t n_vocab = in.ConsumeIntegralInRange<int32_t>(-2, 300);
    infer_sampler_params p;
    infer_sampler_params_init(&p);
    if (in.ConsumeIntegralInRange<int>(0, 15) == 0) p.size = in.ConsumeIntegral<uint32_t>();
    const uint32_t fields = in.ConsumeIntegral<uint32_t>(); // which fields the input overrides
    if (fields & 1) p.temperature = pick_float(in);
    if (fields & 2) p.top_k = pick_int(in, -1, 400);
    if (fields & 4) p.top_p = pick_float(in);
    if (fields & 8) p.min_p = pick_float(in);
    if (fields & 16) p.min_keep = pick_int(in, -1, 400);
    if (fields & 32) p.repeat_penalty = pick_float(in);
    if (fields & 64) p.frequency_penalty = pick_float(in);
    if (fields & 128) p.presence_penalty = pick_float(in);
    // At most 1048576 is valid: larger values must be refused, not allocated.
    if (fields & 256) p.penalty_last_n = pick_int(in, -1, 100);
    if (fields & 512) p.seed = in.ConsumeIntegral<uint64_t>();

    infer_sampler *s = nullptr;
    const infer_status created = infer_sampler_create(n_vocab, &p, &s);
    if (created != INFER_OK) {
        check(created == INFER_ERR_INVALID_ARGUMENT && s == nullptr);
        return 0;
    }
    check(s != nullptr && n_vocab > 0);

    std::vector<float> bias(static_cast<size_t>(n_vocab), 0.0f);
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    while (in.remaining_bytes() > 0) {
        switch (in.ConsumeIntegralInRange<int>(0, 4)) {
        case 0: {
            const int32_t token = in.ConsumeIntegralInRange<int32_t>(-2, n_vocab + 1);
            const float b = pick_float(in);
            const infer_status st = infer_sampler_set_logit_bias(s, token, b);
            if (token < 0 || token >= n_vocab) {
                check(st == INFER_ERR_BAD_TOKEN);
            } else if (std::isnan(b) || b == kInf) {
                check(st == INFER_ERR_INVALID_ARGUMENT);
            } else {
                check(st == INFER_OK);
                bias[static_cast<size_t>(token)] = b;
            }
            break;
        }
        case 1: {
            const int32_t token = in.ConsumeIntegralInRange<int32_t>(-2, n_vocab + 1);
            const infer_status st = infer_sampler_accept(s, token);
            check(st == (token < 0 || token >= n_vocab ? INFER_ERR_BAD_TOKEN : INFER_OK));
            break;
        }
        case 2: infer_sampler_reset(s); break;
        default: {
            // A base value for every logit, then a few overridden (special values included).
            const float base = in.ConsumeFloatingPointInRange<float>(-10.0f, 10.0f);
            for (int32_t i = 0; i < n_vocab; ++i) logits[static_cast<size_t>(i)] = base + 0.01f * static_cast<float>(i % 7);
            for (int k = in.ConsumeIntegralInRange<int>(0, 8); k > 0; --k)
                logits[in.ConsumeIntegralInRange<size_t>(0, logits.size() - 1)] = pick_float(in);
            int32_t token = -1;
            const infer_status st = infer_sampler_sample(s, logits.data(), &token);
            if (st != INFER_OK) {
                check(st == INFER_ERR_INVALID_ARGUMENT);
                break;
            }
            check(token >= 0 && token < n_vocab);
            const size_t t = static_cast<size_t>(token);
            check(!std::isnan(logits[t]) && logits[t] != kInf); // such input must be refused
            check(logits[t] != -kInf && bias[t] != -kInf);       // masked or banned: never drawn
            break;
        }
        }
    }
    infer_sampler_free(s);
    return 0;
}
