#include "sample/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace infer {

namespace {

// Most probable first; equal logits by lowest id, so that every ordering is a total order and
// nth_element / sort give the same result on every standard library.
bool more_probable(const Sampler::Candidate &a, const Sampler::Candidate &b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

constexpr float kInf = std::numeric_limits<float>::infinity();

} // namespace

Status validate(const SamplerParams &p, int32_t n_vocab) {
    const auto bad = [](const char *what, double value) {
        return make_error(INFER_ERR_INVALID_ARGUMENT, "sampler: %s (got %g)", what, value);
    };
    if (n_vocab <= 0) return bad("n_vocab must be positive", n_vocab);
    // !(x >= 0) also catches NaN.
    if (!(p.temperature >= 0.0f) || std::isinf(p.temperature))
        return bad("temperature must be finite and >= 0", p.temperature);
    if (p.top_k < 0) return bad("top_k must be >= 0 (0 = off)", p.top_k);
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return bad("top_p must be in (0, 1]", p.top_p);
    if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) return bad("min_p must be in [0, 1]", p.min_p);
    if (p.min_keep < 0) return bad("min_keep must be >= 0", p.min_keep);
    if (!(p.penalties.repeat > 0.0f) || std::isinf(p.penalties.repeat))
        return bad("repeat_penalty must be finite and > 0 (1 = off)", p.penalties.repeat);
    if (!std::isfinite(p.penalties.frequency))
        return bad("frequency_penalty must be finite", p.penalties.frequency);
    if (!std::isfinite(p.penalties.presence))
        return bad("presence_penalty must be finite", p.penalties.presence);
    if (p.penalty_last_n < 0 || p.penalty_last_n > kMaxPenaltyWindow)
        return bad("penalty_last_n must be in [0, 1048576]", p.penalty_last_n);
    return Status::ok();
}

Sampler::Sampler(int32_t n_vocab, const SamplerParams &params)
    : n_vocab_(n_vocab), params_(params), rng_(params.seed),
      bias_(static_cast<size_t>(n_vocab), 0.0f), window_(n_vocab, params.penalty_last_n),
      candidates_(static_cast<size_t>(n_vocab)) {}

Status Sampler::create(int32_t n_vocab, const SamplerParams &params,
                       std::unique_ptr<Sampler> *out) {
    INFER_TRY(validate(params, n_vocab));
    out->reset(new Sampler(n_vocab, params));
    return Status::ok();
}

Status Sampler::set_logit_bias(int32_t token, float bias) {
    if (token < 0 || token >= n_vocab_)
        return make_error(INFER_ERR_BAD_TOKEN, "sampler: token %d is outside [0, %d)", token,
                          n_vocab_);
    if (std::isnan(bias) || bias == kInf)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "sampler: the bias of token %d is %g; it must be finite or -INFINITY",
                          token, static_cast<double>(bias));
    bias_[static_cast<size_t>(token)] = bias;
    return Status::ok();
}

Status Sampler::accept(int32_t token) {
    if (token < 0 || token >= n_vocab_)
        return make_error(INFER_ERR_BAD_TOKEN, "sampler: token %d is outside [0, %d)", token,
                          n_vocab_);
    window_.push(token);
    return Status::ok();
}

void Sampler::reset() {
    window_.clear();
    rng_ = Rng(params_.seed);
    kept_ = 0;
}

std::vector<const void *> Sampler::buffer_addresses() const {
    return {bias_.data(), candidates_.data(), window_.ring_data(), window_.counts_data()};
}

Status Sampler::gather(const float *logits) {
    const bool penalize_any = params_.penalty_last_n > 0 && params_.penalties.active();
    n_candidates_ = 0;
    for (int32_t i = 0; i < n_vocab_; ++i) {
        float logit = logits[i];
        if (std::isnan(logit) || logit == kInf)
            return make_error(INFER_ERR_INVALID_ARGUMENT, "sampler: logits[%d] is %g", i,
                              static_cast<double>(logit));
        logit += bias_[static_cast<size_t>(i)];
        // Banned or masked: never a candidate, whatever the penalties (-inf minus an overflowed
        // -inf penalty would be NaN).
        if (logit == -kInf) continue;
        if (penalize_any) logit = penalize(logit, window_.count(i), params_.penalties);
        if (logit == -kInf) continue;
        if (logit == kInf || std::isnan(logit))
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "sampler: logits[%d] overflows to %g after its bias and penalties",
                              i, static_cast<double>(logit));
        candidates_[n_candidates_++] = {i, logit, 0.0f};
    }
    if (n_candidates_ == 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "sampler: every token's logit is -inf (all banned or masked)");
    return Status::ok();
}

int32_t Sampler::greedy() const {
    // candidates_ are in id order here: a strict > keeps the lowest id among equal maxima.
    const Candidate *best = &candidates_[0];
    for (size_t i = 1; i < n_candidates_; ++i)
        if (candidates_[i].logit > best->logit) best = &candidates_[i];
    return best->id;
}

void Sampler::sort_prefix(size_t m) {
    m = std::min(m, n_candidates_);
    if (m <= sorted_) return;
    // [sorted_, n) holds only candidates less probable than the sorted prefix, so selecting and
    // sorting the next m - sorted_ of them extends the prefix.
    const auto begin = candidates_.begin();
    const auto first = begin + static_cast<ptrdiff_t>(sorted_);
    const auto middle = begin + static_cast<ptrdiff_t>(m);
    const auto end = begin + static_cast<ptrdiff_t>(n_candidates_);
    if (middle != end) std::nth_element(first, middle, end, more_probable);
    std::sort(first, middle, more_probable);
    sorted_ = m;
}

// Nucleus: the shortest most-probable prefix (within [0, limit)) whose weight reaches
// top_p * total_weight. Sorts in growing chunks, since the nucleus is usually short.
size_t Sampler::top_p_length(size_t limit, double total_weight) {
    const size_t min_keep = static_cast<size_t>(std::max(params_.min_keep, 1));
    const double target = static_cast<double>(params_.top_p) * total_weight;
    double cumulative = 0.0;
    size_t i = 0;
    for (size_t chunk = 64; i < limit; chunk *= 2) {
        sort_prefix(std::min(limit, i + chunk));
        for (const size_t end = std::min(sorted_, limit); i < end; ++i) {
            cumulative += candidates_[i].weight;
            if (cumulative >= target && i + 1 >= min_keep) return i + 1;
        }
    }
    return limit;
}

int32_t Sampler::draw(double total_weight) {
    const double u = rng_.uniform() * total_weight;
    double cumulative = 0.0;
    for (size_t i = 0; i < kept_; ++i) {
        cumulative += candidates_[i].weight;
        if (u < cumulative) return candidates_[i].id;
    }
    return candidates_[kept_ - 1].id; // u within rounding of the total
}

Status Sampler::sample(const float *logits, int32_t *out_token) {
    kept_ = 0;
    sorted_ = 0;
    INFER_TRY(gather(logits));
    if (params_.temperature == 0.0f) {
        *out_token = greedy();
        return Status::ok();
    }
    const size_t min_keep = static_cast<size_t>(std::max(params_.min_keep, 1));

    // Top-k: select and order the k most probable; the others are dropped.
    if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n_candidates_) {
        sort_prefix(std::max(static_cast<size_t>(params_.top_k), min_keep));
        n_candidates_ = sorted_;
    }

    // Temperature and softmax weights relative to the maximum (which gets weight 1); the
    // normalisation is left to the draw.
    float max_logit = candidates_[0].logit;
    for (size_t i = 1; i < n_candidates_; ++i)
        max_logit = std::max(max_logit, candidates_[i].logit);
    double total_weight = 0.0;
    for (size_t i = 0; i < n_candidates_; ++i) {
        Candidate &c = candidates_[i];
        // Divide: with a subnormal T, 1 / T is inf and the maximum's 0 * inf would be NaN.
        c.weight = std::exp((c.logit - max_logit) / params_.temperature);
        total_weight += c.weight;
    }

    // Top-p and min-p both keep a most-probable prefix, so applying top-p and then min-p keeps
    // the shorter of the two (never fewer than min_keep). Min-p needs only a count: a token
    // stays if its probability is at least min_p times the largest, i.e. weight >= min_p.
    size_t keep = n_candidates_;
    if (params_.min_p > 0.0f) {
        size_t above = 0;
        for (size_t i = 0; i < n_candidates_; ++i)
            above += candidates_[i].weight >= params_.min_p;
        keep = std::min(keep, std::max(above, min_keep));
    }
    if (params_.top_p < 1.0f) keep = std::min(keep, top_p_length(keep, total_weight));

    // Order the survivors (a no-op when nothing was cut and nothing sorted: id order is then
    // just as deterministic) and draw among them.
    if (keep < n_candidates_ || sorted_ > 0) sort_prefix(keep);
    kept_ = keep;
    if (keep < n_candidates_) {
        total_weight = 0.0;
        for (size_t i = 0; i < keep; ++i)
            total_weight += candidates_[i].weight;
    }
    *out_token = draw(total_weight);
    return Status::ok();
}

} // namespace infer
