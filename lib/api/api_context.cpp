// Contexts: parameters, memory requirements, create/free, decode, logits, cancel, position,
// reset/truncate, state save/load, statistics.
#include "api/api_model.h"
#include "api/api_util.h"
#include "runtime/context.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

using infer::api::fail;
using infer::api::guarded;

struct infer_context {
    std::unique_ptr<infer::Context> ctx;
};

namespace {

infer_status to_internal(const infer_context_params *p, infer::ContextParams *out) {
    if (!p) return INFER_OK;
    // The struct ended at expert_prefill's offset before that field was added.
    if (!infer::api::struct_size_ok(p->size, offsetof(infer_context_params, expert_prefill)))
        return fail(INFER_ERR_INVALID_ARGUMENT,
                    "infer_context_params.size is %u: prepare it with infer_context_params_init",
                    p->size);
    out->n_ctx = p->n_ctx;
    out->n_batch = p->n_batch;
    out->n_threads = p->n_threads;
    out->kv_type = p->kv_type;
    out->logits_all = p->logits_all != 0;
    out->abort_fn = p->abort_callback;
    out->abort_user_data = p->abort_user_data;
    out->buffer = p->buffer;
    out->buffer_size = p->buffer_size;
    if (p->size >= offsetof(infer_context_params, expert_prefill) + sizeof p->expert_prefill) {
        if (p->expert_prefill < INFER_EXPERT_PREFILL_AUTO ||
            p->expert_prefill > INFER_EXPERT_PREFILL_STREAM)
            return fail(INFER_ERR_INVALID_ARGUMENT,
                        "infer_context_params.expert_prefill is %d: it must be "
                        "INFER_EXPERT_PREFILL_AUTO, _CPU or _STREAM",
                        p->expert_prefill);
        out->expert_prefill = static_cast<infer::ExpertPrefill>(p->expert_prefill);
    }
    return INFER_OK;
}

// A result struct the caller must have prepared with its *_init(): NULL and a wrong size are
// told apart, and the message names the struct, the size found and the one expected.
template <class T>
infer_status check_prepared(const T *s, const char *what, const char *init) {
    if (!s) return fail(INFER_ERR_INVALID_ARGUMENT, "%s is NULL", what);
    if (!infer::api::struct_size_ok(s->size, sizeof *s))
        return fail(INFER_ERR_INVALID_ARGUMENT,
                    "%s->size is %u, expected %zu or more: prepare it with %s", what, s->size,
                    sizeof *s, init);
    return INFER_OK;
}

} // namespace

extern "C" {

void infer_context_params_init(infer_context_params *params) {
    if (!params) return;
    std::memset(params, 0, sizeof *params);
    params->size = sizeof *params;
    params->n_batch = 512;
    params->kv_type = 1;
}

void infer_memory_requirements_init(infer_memory_requirements *req) {
    if (!req) return;
    std::memset(req, 0, sizeof *req);
    req->size = sizeof *req;
}

infer_status infer_context_memory_requirements(const infer_model *model,
                                               const infer_context_params *params,
                                               infer_memory_requirements *out) {
    return guarded(__func__, [&]() -> infer_status {
        if (!model) return fail(INFER_ERR_INVALID_ARGUMENT, "model is NULL");
        if (infer_status s = check_prepared(out, "out", "infer_memory_requirements_init")) return s;
        infer::ContextParams p;
        if (infer_status s = to_internal(params, &p)) return s;
        infer::ContextPlan plan;
        // Scratch depends on the backends (and the CPU's thread count): plan with the ones
        // create() will use.
        infer::ContextBackends backends;
        infer::Status status = infer::Context::make_backends(*model->model, p, &backends);
        if (!status.is_ok()) return fail(status);
        status = infer::Context::plan(*model->model, p, backends, &plan);
        if (!status.is_ok()) return fail(status);
        out->total_bytes = plan.total_bytes;
        out->kv_cache_bytes = plan.kv.total_bytes();
        out->activation_bytes = plan.arena_bytes;
        out->activation_lower_bound = plan.lower_bound;
        out->weight_bytes = model->model->tensor_data_bytes();
        return INFER_OK;
    });
}

infer_status infer_context_create(const infer_model *model, const infer_context_params *params,
                                  infer_context **out_context) {
    return guarded(__func__, [&]() -> infer_status {
        if (!out_context) return fail(INFER_ERR_INVALID_ARGUMENT, "out_context is NULL");
        *out_context = nullptr;
        if (!model) return fail(INFER_ERR_INVALID_ARGUMENT, "model is NULL");
        infer::ContextParams p;
        if (infer_status s = to_internal(params, &p)) return s;
        std::unique_ptr<infer::Context> ctx;
        infer::Status status = infer::Context::create(*model->model, p, &ctx);
        if (!status.is_ok()) return fail(status);
        *out_context = new infer_context{std::move(ctx)};
        return INFER_OK;
    });
}

void infer_context_free(infer_context *context) { delete context; }

infer_status infer_decode(infer_context *context, const int32_t *tokens, uint32_t n_tokens) {
    return guarded(__func__, [&]() -> infer_status {
        if (!context || (!tokens && n_tokens > 0))
            return fail(INFER_ERR_INVALID_ARGUMENT, "context or tokens is NULL");
        infer::Status status = context->ctx->decode({tokens, n_tokens});
        return status.is_ok() ? INFER_OK : fail(status);
    });
}

infer_status infer_context_logits(infer_context *context, int32_t index, const float **out_logits,
                                  uint32_t *out_n_vocab) {
    return guarded(__func__, [&]() -> infer_status {
        if (!context || !out_logits)
            return fail(INFER_ERR_INVALID_ARGUMENT, "context or out_logits is NULL");
        infer::Status status = context->ctx->logits(index, out_logits);
        if (!status.is_ok()) return fail(status);
        if (out_n_vocab) *out_n_vocab = static_cast<uint32_t>(context->ctx->n_vocab());
        return INFER_OK;
    });
}

void infer_context_cancel(infer_context *context) {
    if (context) context->ctx->cancel();
}

void infer_context_cancel_clear(infer_context *context) {
    if (context) context->ctx->clear_cancel();
}

uint32_t infer_context_position(const infer_context *context) {
    return context ? static_cast<uint32_t>(context->ctx->position()) : 0;
}

uint32_t infer_context_n_ctx(const infer_context *context) {
    return context ? static_cast<uint32_t>(context->ctx->n_ctx()) : 0;
}

infer_status infer_context_reset(infer_context *context) {
    if (!context) return fail(INFER_ERR_INVALID_ARGUMENT, "context is NULL");
    context->ctx->reset();
    return INFER_OK;
}

infer_status infer_context_truncate(infer_context *context, uint32_t n_keep) {
    return guarded(__func__, [&]() -> infer_status {
        if (!context) return fail(INFER_ERR_INVALID_ARGUMENT, "context is NULL");
        infer::Status status = context->ctx->truncate(n_keep);
        return status.is_ok() ? INFER_OK : fail(status);
    });
}

infer_status infer_context_state_size(const infer_context *context, uint64_t *out_size) {
    if (!context || !out_size) return fail(INFER_ERR_INVALID_ARGUMENT, "context or out_size is NULL");
    *out_size = context->ctx->state_size();
    return INFER_OK;
}

infer_status infer_context_state_save(const infer_context *context, void *buf, uint64_t capacity,
                                      uint64_t *out_size) {
    return guarded(__func__, [&]() -> infer_status {
        if (!context || !out_size || (!buf && capacity > 0))
            return fail(INFER_ERR_INVALID_ARGUMENT, "context, buf or out_size is NULL");
        infer::Status status = context->ctx->state_save(
            {static_cast<uint8_t *>(buf), static_cast<size_t>(capacity)}, out_size);
        return status.is_ok() ? INFER_OK : fail(status);
    });
}

infer_status infer_context_state_load(infer_context *context, const void *buf, uint64_t size) {
    return guarded(__func__, [&]() -> infer_status {
        if (!context || (!buf && size > 0))
            return fail(INFER_ERR_INVALID_ARGUMENT, "context or buf is NULL");
        infer::Status status = context->ctx->state_load(
            {static_cast<const uint8_t *>(buf), static_cast<size_t>(size)});
        return status.is_ok() ? INFER_OK : fail(status);
    });
}

void infer_context_stats_init(infer_context_stats *stats) {
    if (!stats) return;
    std::memset(stats, 0, sizeof *stats);
    stats->size = sizeof *stats;
}

infer_status infer_context_get_stats(const infer_context *context, infer_context_stats *stats) {
    if (!context) return fail(INFER_ERR_INVALID_ARGUMENT, "context is NULL");
    if (!stats) return fail(INFER_ERR_INVALID_ARGUMENT, "stats is NULL");
    // The struct ended at decode_cpu_expert_seconds before the fields from there on were added;
    // a caller built against that header gets the fields it knows.
    if (!infer::api::struct_size_ok(stats->size, offsetof(infer_context_stats, decode_cpu_expert_seconds)))
        return fail(INFER_ERR_INVALID_ARGUMENT,
                    "stats->size is %u: prepare it with infer_context_stats_init", stats->size);
    const infer::Context::Stats &s = context->ctx->stats();
    infer_context_stats full;
    infer_context_stats_init(&full);
    full.prefill_tokens = s.prefill_tokens;
    full.prefill_seconds = s.prefill_seconds;
    full.decode_tokens = s.decode_tokens;
    full.decode_seconds = s.decode_seconds;
    full.weight_bytes_per_token = s.weight_bytes_per_token;
    full.device_memory_bytes = s.device_bytes;
    full.expert_bytes_per_token = s.expert_bytes_per_token;
    full.decode_cpu_expert_seconds = s.decode_cpu_expert_seconds;
    full.prefill_cpu_expert_seconds = s.prefill_cpu_expert_seconds;
    full.handoffs = s.handoffs;
    full.handoff_wait_seconds = s.handoff_wait_seconds;
    full.prefill_streamed_bytes = s.prefill_streamed_bytes;
    full.prefill_streamed_experts = s.prefill_streamed_experts;
    const uint32_t size = stats->size;
    std::memcpy(stats, &full, std::min<size_t>(size, sizeof full));
    stats->size = size;
    return INFER_OK;
}

void infer_context_reset_stats(infer_context *context) {
    if (context) context->ctx->reset_stats();
}

infer_status infer_context_expert_counts(const infer_context *context, uint64_t *counts,
                                         size_t capacity, uint32_t *out_n_layer,
                                         uint32_t *out_n_expert) {
    if (!context) return fail(INFER_ERR_INVALID_ARGUMENT, "context is NULL");
    const std::span<const uint64_t> all = context->ctx->expert_counts();
    const infer::models::Hparams &hp = context->ctx->model().hparams();
    const bool moe = !all.empty();
    if (out_n_layer) *out_n_layer = moe ? static_cast<uint32_t>(hp.n_layer) : 0;
    if (out_n_expert) *out_n_expert = moe ? static_cast<uint32_t>(hp.n_expert()) : 0;
    if (capacity < all.size())
        return fail(INFER_ERR_BUFFER_TOO_SMALL, "the expert counts need %zu entries, capacity is %zu",
                    all.size(), capacity);
    if (!all.empty()) {
        if (!counts) return fail(INFER_ERR_INVALID_ARGUMENT, "counts is NULL");
        std::memcpy(counts, all.data(), all.size() * sizeof(uint64_t));
    }
    return INFER_OK;
}

void infer_context_reset_expert_counts(infer_context *context) {
    if (context) context->ctx->reset_expert_counts();
}

} // extern "C"
