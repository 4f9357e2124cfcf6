// Writing a synthetic model: metadata (hyperparameters and a minimal SentencePiece vocabulary),
// then the tensors, generated in parallel in fixed chunks and streamed to the file in order.
//
// Pipeline: worker threads take chunks in order from a shared counter and fill one of `window`
// buffers; the calling thread writes chunk i as soon as it is ready. A worker may run at most
// `window` chunks ahead of the writer, which bounds memory to window * chunk size.
#include "synth/synth_model.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <numbers>
#include <thread>

#include "tooling/quant_weights.h"
#include "core/random.h"
#include "core/types.h"
#include "tooling/gguf_writer.h"

namespace infer::synth {

namespace {

// ---- vocabulary -------------------------------------------------------------------------------

// SentencePiece token types (llama.cpp's llama_token_type).
constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kByte = 6;

// <unk> <s> </s>, the 256 byte-fallback tokens, then unique pieces: letters in bijective base 26
// ("a".."z", "aa", ...), each once with and once without the word-start marker U+2581.
void make_vocab(int64_t n_vocab, std::vector<std::string> *tokens, std::vector<float> *scores,
                std::vector<int32_t> *types) {
    tokens->clear();
    scores->clear();
    types->clear();
    auto add = [&](std::string piece, float score, int32_t type) {
        tokens->push_back(std::move(piece));
        scores->push_back(score);
        types->push_back(type);
    };
    add("<unk>", 0, kUnknown);
    add("<s>", 0, kControl);
    add("</s>", 0, kControl);
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        add(name, 0, kByte);
    }
    for (int64_t k = 0; static_cast<int64_t>(tokens->size()) < n_vocab; ++k) {
        std::string letters;
        for (int64_t v = k / 2 + 1; v > 0; v = (v - 1) / 26)
            letters.insert(letters.begin(), static_cast<char>('a' + (v - 1) % 26));
        // Higher scores merge first in SentencePiece BPE: shorter pieces score higher.
        add(k % 2 == 0 ? "\xe2\x96\x81" + letters : letters, -static_cast<float>(k), kNormal);
    }
}

// ---- metadata ---------------------------------------------------------------------------------

void add_metadata(const Spec &s, gguf::Writer *w) {
    const std::string &a = s.arch;
    auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
    w->add_string("general.architecture", a);
    w->add_string("general.name", "synthetic " + a + " " + s.preset + " " + s.quant + " seed " +
                                      std::to_string(s.seed));
    w->add_u32("general.file_type", recipe_file_type(s.quant));
    w->add_u32("general.quantization_version", 2);
    w->add_u32(a + ".context_length", u32(s.n_ctx));
    w->add_u32(a + ".embedding_length", u32(s.n_embd));
    w->add_u32(a + ".block_count", u32(s.n_layer));
    // gpt-oss has no dense FFN: its feed_forward_length is the experts' (convert_hf_to_gguf.py).
    w->add_u32(a + ".feed_forward_length", u32(a == "gpt-oss" ? s.n_ff_exp : s.n_ff));
    w->add_u32(a + ".attention.head_count", u32(s.n_head));
    const bool deepseek2 = a == "deepseek2";
    if (deepseek2) { // MLA as convert_hf_to_gguf.py writes it: the latent cache is one MQA head
        w->add_u32(a + ".attention.head_count_kv", 1);
        w->add_u32(a + ".attention.key_length", u32(s.kv_lora_rank + s.qk_rope_dim));
        w->add_u32(a + ".attention.value_length", u32(s.kv_lora_rank));
        w->add_u32(a + ".attention.key_length_mla", u32(s.qk_nope_dim + s.qk_rope_dim));
        w->add_u32(a + ".attention.value_length_mla", u32(s.v_head_dim));
        // Written as 0 without a q LoRA: llama.cpp requires the key unless the model has 26 or
        // 27 layers (convert_hf_to_gguf.py leaves it out for V2-Lite, whose config has null).
        w->add_u32(a + ".attention.q_lora_rank", u32(s.q_lora_rank));
        w->add_u32(a + ".attention.kv_lora_rank", u32(s.kv_lora_rank));
        w->add_u32(a + ".leading_dense_block_count", u32(s.n_dense_lead));
    } else {
        w->add_u32(a + ".attention.head_count_kv", u32(s.n_head_kv));
        w->add_u32(a + ".attention.key_length", u32(s.head_dim));
        w->add_u32(a + ".attention.value_length", u32(s.head_dim));
    }
    w->add_f32(a + ".attention.layer_norm_rms_epsilon", s.norm_eps);
    w->add_f32(a + ".rope.freq_base", s.rope_base);
    w->add_u32(a + ".rope.dimension_count", u32(deepseek2 ? s.qk_rope_dim : s.head_dim));
    w->add_u32(a + ".vocab_size", u32(s.n_vocab));
    if (a == "gemma3" || a == "gpt-oss") w->add_u32(a + ".attention.sliding_window", u32(s.n_swa));
    if (s.rope_yarn_factor > 0) {
        w->add_string(a + ".rope.scaling.type", "yarn");
        w->add_f32(a + ".rope.scaling.factor", s.rope_yarn_factor);
        w->add_u32(a + ".rope.scaling.original_context_length", u32(s.rope_yarn_orig_ctx));
        // deepseek2's attention scale: 0.1 * mscale_all_dim, as convert_hf_to_gguf.py writes it
        // (llama.cpp divides by 0.1 on load).
        if (s.rope_yarn_mscale_all_dim > 0)
            w->add_f32(a + ".rope.scaling.yarn_log_multiplier",
                       static_cast<float>(0.1 * static_cast<double>(s.rope_yarn_mscale_all_dim)));
    }
    if (has_experts(s)) {
        w->add_u32(a + ".expert_count", u32(s.n_expert));
        w->add_u32(a + ".expert_used_count", u32(s.n_expert_used));
        // llama and olmoe have no key of their own: their feed_forward_length is the experts'.
        if (a == "qwen3moe" || a == "qwen2moe" || a == "gpt-oss" || deepseek2)
            w->add_u32(a + ".expert_feed_forward_length", u32(s.n_ff_exp));
        if (s.n_ff_shexp > 0)
            w->add_u32(a + ".expert_shared_feed_forward_length", u32(s.n_ff_shexp));
    }
    if (deepseek2) { // routing, as convert_hf_to_gguf.py writes it from config.json
        w->add_u32(a + ".expert_shared_count", u32(s.n_expert_shared));
        if (s.expert_weights_scale > 0) // routed_scaling_factor
            w->add_f32(a + ".expert_weights_scale", s.expert_weights_scale);
        if (s.expert_weights_norm) w->add_bool(a + ".expert_weights_norm", true); // norm_topk_prob
        w->add_u32(a + ".expert_gating_func", static_cast<uint32_t>(s.expert_gating));
        if (s.n_expert_groups > 0) { // n_group, topk_group
            w->add_u32(a + ".expert_group_count", u32(s.n_expert_groups));
            w->add_u32(a + ".expert_group_used_count", u32(s.n_group_used));
        }
    }

    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> types;
    make_vocab(s.n_vocab, &tokens, &scores, &types);
    w->add_string("tokenizer.ggml.model", "llama");
    // DeepSeek-V3's pre-tokenizer name, as its GGUFs carry it (lib/text/pretokenize.cpp knows it).
    // Inert here: llama.cpp and libinfer read a pre-tokenizer for gpt2 (BPE) vocabularies only,
    // and this one is SentencePiece's, as every synthetic model's.
    if (a == "deepseek2") w->add_string("tokenizer.ggml.pre", "deepseek-v3");
    w->add_string_array("tokenizer.ggml.tokens", tokens);
    w->add_array("tokenizer.ggml.scores", gguf::ValueType::F32, scores.data(), scores.size());
    w->add_array("tokenizer.ggml.token_type", gguf::ValueType::I32, types.data(), types.size());
    w->add_u32("tokenizer.ggml.bos_token_id", 1);
    w->add_u32("tokenizer.ggml.eos_token_id", 2);
    w->add_u32("tokenizer.ggml.unknown_token_id", 0);
    w->add_bool("tokenizer.ggml.add_bos_token", true);
    w->add_bool("tokenizer.ggml.add_eos_token", false);
}

// Llama 3.1's rope scaling as frequency factors (convert_hf_to_gguf.py, LlamaModel): factor 8,
// low/high frequency factors 1 and 4, original context 8192.
std::vector<float> llama3_rope_factors(int64_t head_dim, float base) {
    const double factor = 8, low_ff = 1, high_ff = 4, old_ctx = 8192;
    const double low_wavelen = old_ctx / low_ff, high_wavelen = old_ctx / high_ff;
    std::vector<float> out;
    for (int64_t i = 0; i < head_dim; i += 2) {
        const double freq = 1.0 / std::pow(static_cast<double>(base),
                                           static_cast<double>(i) / static_cast<double>(head_dim));
        const double wavelen = 2 * std::numbers::pi / freq;
        double f;
        if (wavelen < high_wavelen)
            f = 1;
        else if (wavelen > low_wavelen)
            f = factor;
        else {
            const double smooth = (old_ctx / wavelen - low_ff) / (high_ff - low_ff);
            f = 1 / ((1 - smooth) / factor + smooth);
        }
        out.push_back(static_cast<float>(f));
    }
    return out;
}

// ---- tensor data ------------------------------------------------------------------------------

// About 1 Mi elements per chunk: big enough to amortize the hand-off, small enough to spread a
// tensor over threads. Part of the file format's determinism: changing it changes the bytes.
constexpr uint64_t kChunkElems = uint64_t{1} << 20;

struct Chunk {
    size_t tensor;
    uint64_t row0, rows;
    uint64_t index; // within its tensor
};

// Centres the first `cols` values of each of `rows` rows (of `ne0`) and rescales them to norm
// `std` * sqrt(cols): a component common to all inputs (a nonzero mean) then favours no row, and
// neither does a longer row.
void center_and_rescale_rows(float *x, uint64_t rows, uint64_t ne0, uint64_t cols, float std) {
    for (uint64_t i = 0; i < rows; ++i) {
        float *row = x + i * ne0;
        double sum = 0, sum_sq = 0;
        for (uint64_t j = 0; j < cols; ++j)
            sum += row[j];
        const double mean = sum / static_cast<double>(cols);
        for (uint64_t j = 0; j < cols; ++j)
            sum_sq += (row[j] - mean) * (row[j] - mean);
        if (sum_sq == 0) continue;
        const double scale =
            static_cast<double>(std) * std::sqrt(static_cast<double>(cols) / sum_sq);
        for (uint64_t j = 0; j < cols; ++j)
            row[j] = static_cast<float>((row[j] - mean) * scale);
    }
}

struct Generator {
    const Spec &spec;
    const std::vector<TensorPlan> &plan;
    std::vector<float> rope_factors;

    // Fills `out` with chunk c's bytes; `scratch` is the worker's float buffer.
    bool run(const Chunk &c, std::vector<uint8_t> *out, std::vector<float> *scratch) const {
        const TensorPlan &t = plan[c.tensor];
        const uint64_t ne0 = t.dims[0];
        const uint64_t n = ne0 * c.rows;
        uint64_t row_bytes = 0;
        type_row_bytes(t.type, ne0, &row_bytes);
        out->resize(row_bytes * c.rows);
        const uint64_t seed = mix64(mix64(spec.seed ^ mix64(c.tensor)) + c.index);
        // Row i of the chunk is zero when its output index is below t.zero_rows.
        auto zero_row = [&](uint64_t i) {
            return t.zero_rows > 0 && (c.row0 + i) % t.dims[1] < t.zero_rows;
        };
        if (t.init == Init::Weight && spec.random_blocks && t.cols == 0 && t.fixed_values.empty()) {
            const uint32_t be = type_traits(t.type)->block_elems;
            if (!random_blocks(t.type, seed, t.std, out->data(), static_cast<int64_t>(n / be)))
                return false;
            for (uint64_t i = 0; i < c.rows; ++i) // all-zero bytes decode to zeros in every type
                if (zero_row(i)) std::memset(out->data() + i * row_bytes, 0, row_bytes);
            return true;
        }
        scratch->resize(n);
        float *x = scratch->data();
        Rng rng(seed);
        switch (t.init) {
        case Init::Weight:
        case Init::Bias:
            for (uint64_t i = 0; i < n; ++i)
                x[i] = t.std * rng.normal();
            for (uint64_t i = 0; i < c.rows; ++i)
                for (uint64_t j = 0; j < ne0; ++j)
                    if (zero_row(i) || (t.cols > 0 && j >= t.cols) || j < t.zero_cols)
                        x[i * ne0 + j] = 0;
            if (t.balanced_rows) center_and_rescale_rows(x, c.rows, ne0, t.cols, t.std);
            for (uint64_t i = 0; i < c.rows && !t.fixed_values.empty(); ++i)
                x[i * ne0 + t.fixed_col] = t.fixed_values[(c.row0 + i) % t.fixed_values.size()];
            break;
        case Init::Norm:
            for (uint64_t i = 0; i < n; ++i)
                x[i] = 1.0f + t.std * rng.normal();
            break;
        case Init::RopeFreqs:
            for (uint64_t i = 0; i < n; ++i)
                x[i] = rope_factors[c.row0 * ne0 + i];
            break;
        case Init::Pattern:
            for (uint64_t i = 0; i < n; ++i)
                x[i] = t.fixed_values[(c.row0 * ne0 + i) % t.fixed_values.size()];
            break;
        }
        return quantize_row_weights(t.type, x, out->data(), static_cast<int64_t>(n));
    }
};

std::string type_name(uint32_t t) { return type_traits(t)->name; }

} // namespace

Status write_model(const Spec &spec, const char *path, Stats *stats) {
    FILE *f = std::fopen(path, "wb");
    if (!f) return make_error(INFER_ERR_IO, "cannot create %s: %s", path, std::strerror(errno));
    Status s = write_model(spec, f, stats);
    if (std::fclose(f) != 0 && s.is_ok())
        s = make_error(INFER_ERR_IO, "closing %s failed: %s", path, std::strerror(errno));
    if (!s.is_ok()) std::remove(path); // no half-written model left behind
    return s;
}

Status write_model(const Spec &spec, FILE *file, Stats *stats) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<TensorPlan> plan;
    INFER_TRY(plan_tensors(spec, &plan));

    gguf::Writer w;
    add_metadata(spec, &w);
    std::map<std::string, int> fallbacks; // "Q4_K -> Q5_0 (rows of 640)" -> tensors
    for (const TensorPlan &t : plan) {
        w.add_tensor(t.name, t.type, t.dims); // a bad one fails begin()
        if (t.type != t.wanted_type)
            ++fallbacks[type_name(t.wanted_type) + " -> " + type_name(t.type) + " (rows of " +
                        std::to_string(t.dims[0]) + " are not whole " + type_name(t.wanted_type) +
                        " blocks)"];
    }
    Stats st;
    for (const auto &[what, count] : fallbacks)
        st.notes.push_back(std::to_string(count) + (count == 1 ? " tensor " : " tensors ") + what);

    std::vector<Chunk> chunks;
    for (size_t i = 0; i < plan.size(); ++i) {
        const uint64_t ne0 = plan[i].dims[0];
        uint64_t rows = 1;
        for (size_t d = 1; d < plan[i].dims.size(); ++d)
            rows *= plan[i].dims[d];
        const uint64_t per_chunk = std::max<uint64_t>(1, kChunkElems / ne0);
        for (uint64_t r = 0, k = 0; r < rows; r += per_chunk, ++k)
            chunks.push_back({i, r, std::min(per_chunk, rows - r), k});
    }
    Generator gen{spec, plan, {}};
    if (spec.rope_freqs) gen.rope_factors = llama3_rope_factors(spec.head_dim, spec.rope_base);

    INFER_TRY(w.begin(file));

    const size_t n_threads = static_cast<size_t>(spec.threads);
    const size_t window = 2 * n_threads + 2;
    std::vector<std::vector<uint8_t>> slots(window);
    std::vector<int64_t> ready(window, -1); // chunk held by each slot, -1 when none
    std::mutex mu;
    std::condition_variable cv;
    size_t next = 0, written = 0;
    bool failed = false;

    auto worker = [&] {
        std::vector<float> scratch;
        std::unique_lock<std::mutex> lock(mu);
        for (;;) {
            cv.wait(lock,
                    [&] { return failed || next >= chunks.size() || next < written + window; });
            if (failed || next >= chunks.size()) return;
            const size_t i = next++;
            lock.unlock();
            std::vector<uint8_t> &buf = slots[i % window];
            const bool ok = gen.run(chunks[i], &buf, &scratch);
            lock.lock();
            if (!ok) failed = true;
            ready[i % window] = static_cast<int64_t>(i);
            cv.notify_all();
        }
    };
    std::vector<std::thread> threads;
    for (size_t t = 0; t < n_threads; ++t)
        threads.emplace_back(worker);

    Status status = Status::ok();
    for (size_t i = 0; i < chunks.size() && status.is_ok(); ++i) {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return failed || ready[i % window] == static_cast<int64_t>(i); });
        if (failed) {
            status = make_error(INFER_ERR_INTERNAL, "generating tensor '%s' failed",
                                plan[chunks[i].tensor].name.c_str());
            break;
        }
        lock.unlock();
        status = w.write_data(slots[i % window].data(), slots[i % window].size());
        lock.lock();
        ready[i % window] = -1;
        ++written;
        if (!status.is_ok()) failed = true;
        cv.notify_all();
    }
    {
        std::lock_guard<std::mutex> lock(mu);
        if (!status.is_ok()) failed = true;
        cv.notify_all();
    }
    for (std::thread &t : threads)
        t.join();
    INFER_TRY(status);
    INFER_TRY(w.finish());

    st.n_tensors = plan.size();
    st.n_bytes = w.file_size();
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (stats) *stats = std::move(st);
    return Status::ok();
}

} // namespace infer::synth
