#include "runtime/expert_calibration.h"

#include "runtime/context.h"
#include "runtime/model.h"
#include "text/tokenize.h"

#include <algorithm>
#include <cstdio>

namespace infer {

Status expert_popularity(const Model &model, const PopularitySource &source,
                         ExpertPopularity *out) {
    const auto n_layer = static_cast<int32_t>(model.hparams().n_layer);
    const auto n_expert = static_cast<int32_t>(model.hparams().n_expert());
    if (!source.stats_path.empty())
        return load_expert_stats(source.stats_path, n_layer, n_expert, out);
    if (source.calibration_text.empty()) {
        *out = uniform_popularity(n_layer, n_expert);
        return Status::ok();
    }
    const std::vector<int32_t> tokens =
        text::tokenize(*model.vocab(), source.calibration_text, true, false);
    if (tokens.empty())
        return make_error(INFER_ERR_INVALID_ARGUMENT, "the calibration text has no tokens");
    // A long text runs in windows of at most kWindow tokens (the context starting over at each),
    // so its memory stays that of a small context however long the text is.
    constexpr int64_t kWindow = 2048;
    const int64_t window = std::max<int64_t>(
        1, std::min<int64_t>({kWindow, static_cast<int64_t>(tokens.size()),
                              model.hparams().n_ctx_train > 0 ? model.hparams().n_ctx_train : kWindow}));
    ContextParams params;
    params.n_ctx = window;
    params.n_batch = std::min<int64_t>(window, ContextParams::kDefaultBatch);
    params.n_threads = source.n_threads;
    std::unique_ptr<Context> ctx;
    INFER_TRY(Context::create(model, params, &ctx));
    for (size_t at = 0; at < tokens.size(); at += static_cast<size_t>(window)) {
        const size_t n = std::min(tokens.size() - at, static_cast<size_t>(window));
        ctx->reset(); // the expert counts carry on
        INFER_TRY(ctx->decode(std::span<const int32_t>(tokens.data() + at, n)));
    }
    char what[96];
    std::snprintf(what, sizeof what, "calibration text (%zu tokens)", tokens.size());
    *out = popularity_from_counts(ctx->expert_counts(), n_layer, n_expert, what);
    return Status::ok();
}

} // namespace infer
