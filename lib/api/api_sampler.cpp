// Samplers: parameters, create/free, logit bias, sample, accept, reset.
#include "api/api_util.h"
#include "sample/sampler.h"

#include <cstring>

using infer::api::fail;
using infer::api::guarded;

struct infer_sampler {
    std::unique_ptr<infer::Sampler> sampler;
};

namespace {

infer_status to_internal(const infer_sampler_params *p, infer::SamplerParams *out) {
    if (!p) return INFER_OK;
    if (!infer::api::struct_size_ok(p->size, sizeof *p))
        return fail(INFER_ERR_INVALID_ARGUMENT,
                    "infer_sampler_params.size is %u: prepare it with infer_sampler_params_init",
                    p->size);
    out->temperature = p->temperature;
    out->top_k = p->top_k;
    out->top_p = p->top_p;
    out->min_p = p->min_p;
    out->min_keep = p->min_keep;
    out->penalties.repeat = p->repeat_penalty;
    out->penalties.frequency = p->frequency_penalty;
    out->penalties.presence = p->presence_penalty;
    out->penalty_last_n = p->penalty_last_n;
    out->seed = p->seed;
    return INFER_OK;
}

infer_status result(const infer::Status &status) {
    return status.is_ok() ? INFER_OK : fail(status);
}

} // namespace

extern "C" {

void infer_sampler_params_init(infer_sampler_params *params) {
    if (!params) return;
    std::memset(params, 0, sizeof *params);
    // The defaults live in one place: infer::SamplerParams.
    const infer::SamplerParams d;
    params->size = sizeof *params;
    params->temperature = d.temperature;
    params->top_k = d.top_k;
    params->top_p = d.top_p;
    params->min_p = d.min_p;
    params->min_keep = d.min_keep;
    params->repeat_penalty = d.penalties.repeat;
    params->frequency_penalty = d.penalties.frequency;
    params->presence_penalty = d.penalties.presence;
    params->penalty_last_n = d.penalty_last_n;
    params->seed = d.seed;
}

infer_status infer_sampler_create(int32_t n_vocab, const infer_sampler_params *params,
                                  infer_sampler **out) {
    return guarded(__func__, [&]() -> infer_status {
        if (!out) return fail(INFER_ERR_INVALID_ARGUMENT, "out is NULL");
        *out = nullptr;
        infer::SamplerParams p;
        if (infer_status s = to_internal(params, &p)) return s;
        std::unique_ptr<infer::Sampler> sampler;
        if (infer_status s = result(infer::Sampler::create(n_vocab, p, &sampler))) return s;
        *out = new infer_sampler{std::move(sampler)};
        return INFER_OK;
    });
}

void infer_sampler_free(infer_sampler *sampler) { delete sampler; }

infer_status infer_sampler_set_logit_bias(infer_sampler *sampler, int32_t token, float bias) {
    return guarded(__func__, [&]() -> infer_status {
        if (!sampler) return fail(INFER_ERR_INVALID_ARGUMENT, "sampler is NULL");
        return result(sampler->sampler->set_logit_bias(token, bias));
    });
}

infer_status infer_sampler_sample(infer_sampler *sampler, const float *logits, int32_t *out_token) {
    return guarded(__func__, [&]() -> infer_status {
        if (!sampler || !logits || !out_token)
            return fail(INFER_ERR_INVALID_ARGUMENT, "sampler, logits or out_token is NULL");
        return result(sampler->sampler->sample(logits, out_token));
    });
}

infer_status infer_sampler_accept(infer_sampler *sampler, int32_t token) {
    return guarded(__func__, [&]() -> infer_status {
        if (!sampler) return fail(INFER_ERR_INVALID_ARGUMENT, "sampler is NULL");
        return result(sampler->sampler->accept(token));
    });
}

void infer_sampler_reset(infer_sampler *sampler) {
    if (sampler) sampler->sampler->reset();
}

} // extern "C"
