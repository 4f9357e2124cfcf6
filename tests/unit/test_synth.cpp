// Synthetic models (samples/synth): every architecture parses and binds through the model
// registry; recipes choose the types llama.cpp's would; files are byte-identical for a seed,
// whatever the thread count, and differ across seeds. Mixture-of-experts files carry the keys and
// tensors llama.cpp loads, and their random routers spread tokens over all experts (gpt-oss's over
// the even half its router bias favours; deepseek2's V3-like sigmoid routing over the experts its
// selection bias favours, the same ones at any hidden-state scale).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "core/dequant.h"
#include "core/types.h"
#include "gguf/gguf.h"
#include "models/transformer.h"
#include "synth/synth_model.h"

using namespace infer;

namespace {

std::vector<uint8_t> synth_to_memory(const synth::Spec &spec) {
    FILE *f = std::tmpfile();
    REQUIRE(f);
    synth::Stats stats;
    const Status s = synth::write_model(spec, f, &stats);
    REQUIRE_MESSAGE(s.is_ok(), s.message());
    std::vector<uint8_t> image(static_cast<size_t>(std::ftell(f)));
    CHECK(image.size() == stats.n_bytes);
    std::rewind(f);
    REQUIRE(std::fread(image.data(), 1, image.size(), f) == image.size());
    std::fclose(f);
    return image;
}

synth::Spec tiny(const char *arch, const char *quant, uint64_t seed = 7,
                 const char *preset = "tiny") {
    synth::Spec spec;
    spec.arch = arch;
    synth::apply_arch_defaults(&spec);
    REQUIRE(synth::apply_preset(preset, &spec).is_ok());
    spec.quant = quant;
    spec.seed = seed;
    spec.threads = 2;
    return spec;
}

const char *type_name(uint32_t t) { return type_traits(t)->name; }

std::unique_ptr<gguf::File> parse(const std::vector<uint8_t> &image) {
    std::unique_ptr<gguf::File> file;
    const Status s = gguf::File::parse(image, nullptr, &file);
    REQUIRE_MESSAGE(s.is_ok(), s.message());
    return file;
}

int64_t key_int(const gguf::File &file, const std::string &key) {
    const gguf::Value *v = file.find(key);
    REQUIRE_MESSAGE(v, key);
    int64_t out = 0;
    REQUIRE(v->get_int(&out));
    return out;
}

// The bytes of every tensor a plan writes.
uint64_t plan_bytes(const std::vector<synth::TensorPlan> &plan) {
    uint64_t bytes = 0;
    for (const synth::TensorPlan &t : plan) {
        uint64_t rows = 1, row_bytes = 0;
        for (size_t d = 1; d < t.dims.size(); ++d)
            rows *= t.dims[d];
        REQUIRE(type_row_bytes(t.type, t.dims[0], &row_bytes));
        bytes += rows * row_bytes;
    }
    return bytes;
}

// Layer l's tensor `suffix`, which must exist with these dims.
const gguf::TensorInfo *layer_tensor_of(const gguf::File &file, int64_t l,
                                        const std::string &suffix,
                                        const std::vector<uint64_t> &dims) {
    const std::string name = "blk." + std::to_string(l) + "." + suffix;
    CAPTURE(name);
    const gguf::TensorInfo *t = file.find_tensor(name);
    REQUIRE(t);
    REQUIRE(t->n_dims == dims.size());
    for (size_t d = 0; d < dims.size(); ++d)
        CHECK(t->dims[d] == dims[d]);
    return t;
}

// The tiny MoE model of each arch; llama with experts is Mixtral.
synth::Spec tiny_moe(const char *arch, const char *quant, uint64_t seed = 7) {
    synth::Spec spec = tiny(arch, quant, seed);
    if (spec.arch == "llama") {
        spec.n_expert = 8;
        spec.n_expert_used = 2;
    }
    return spec;
}

// A tensor's values, all rows.
std::vector<float> dequantize(const gguf::File &file, const gguf::TensorInfo &t) {
    std::vector<float> out(t.n_elements);
    const uint64_t rows = t.n_elements / t.dims[0];
    uint64_t row_bytes = 0;
    REQUIRE(type_row_bytes(t.type, t.dims[0], &row_bytes));
    for (uint64_t r = 0; r < rows; ++r)
        REQUIRE(dequantize_row_ref(t.type, file.tensor_data(t) + r * row_bytes,
                                   out.data() + r * t.dims[0], static_cast<int64_t>(t.dims[0])));
    return out;
}

struct Routing {
    std::vector<int64_t> load; // tokens routed to each expert
    double logit_std = 0;
    double top1_share = 0; // mean weight of the first choice among the k, renormalized
};

// Routes every token of the vocabulary through one layer's router as written. The router reads
// only the residual dimensions that hold the token's embedding (checked by check_router_dims), so
// its input there is the embedding row times the FFN input norm (ffn_norm; gpt-oss's
// post_attention_norm), divided by the hidden state's RMS: the choice of experts does not depend
// on that RMS, the logits' scale does (`rms`). gpt-oss's router bias is added to the logits
// (logit_std is without it).
Routing route_vocabulary(const gguf::File &file, int64_t layer, int64_t k, double rms) {
    const std::string b = "blk." + std::to_string(layer) + ".";
    const gguf::TensorInfo *router = file.find_tensor(b + "ffn_gate_inp.weight");
    const gguf::TensorInfo *bias = file.find_tensor(b + "ffn_gate_inp.bias");
    const gguf::TensorInfo *norm = file.find_tensor(b + "ffn_norm.weight");
    if (!norm) norm = file.find_tensor(b + "post_attention_norm.weight");
    const gguf::TensorInfo *embd = file.find_tensor("token_embd.weight");
    REQUIRE(router);
    REQUIRE(norm);
    REQUIRE(embd);
    const size_t n_embd = router->dims[0], n_expert = router->dims[1], n_vocab = embd->dims[1];
    const std::vector<float> w = dequantize(file, *router), g = dequantize(file, *norm),
                             emb = dequantize(file, *embd);
    const std::vector<float> bias_values =
        bias ? dequantize(file, *bias) : std::vector<float>(n_expert, 0.0f);
    Routing r;
    r.load.assign(n_expert, 0);
    std::vector<double> logits(n_expert);
    std::vector<size_t> order(n_expert);
    double sum_sq = 0;
    for (size_t t = 0; t < n_vocab; ++t) {
        for (size_t e = 0; e < n_expert; ++e) {
            float dot = 0;
            for (size_t i = 0; i < n_embd; ++i)
                dot += w[e * n_embd + i] * g[i] * emb[t * n_embd + i];
            logits[e] = dot / rms;
            sum_sq += logits[e] * logits[e];
            logits[e] += bias_values[e];
        }
        for (size_t e = 0; e < n_expert; ++e)
            order[e] = e;
        std::partial_sort(order.begin(), order.begin() + k, order.end(),
                          [&](size_t a, size_t c) { return logits[a] > logits[c]; });
        double denom = 0; // softmax restricted to the k: the renormalized weights
        for (int64_t j = 0; j < k; ++j) {
            ++r.load[order[static_cast<size_t>(j)]];
            denom += std::exp(logits[order[static_cast<size_t>(j)]] - logits[order[0]]);
        }
        r.top1_share += 1.0 / denom;
    }
    r.logit_std = std::sqrt(sum_sq / static_cast<double>(n_vocab * n_expert));
    r.top1_share /= static_cast<double>(n_vocab);
    return r;
}

// The first router_dims residual dimensions hold the token embedding alone: no attention or
// expert output writes them (those rows are exactly zero, the others not; so are the elements of
// gpt-oss's output biases there), and the routers read nothing else. gpt-oss's router bias is
// +16 on even experts and 0 on odd ones.
void check_router_dims(const gguf::File &file, const synth::Spec &spec) {
    const uint64_t r_dims = static_cast<uint64_t>(synth::router_dims(spec));
    size_t output_biases = 0, router_biases = 0;
    for (const gguf::TensorInfo &t : file.tensors()) {
        const std::string name(t.name);
        if (name.ends_with("attn_output.bias") || name.ends_with("ffn_down_exps.bias")) {
            CAPTURE(name);
            const std::vector<float> v = dequantize(file, t);
            size_t zero = 0, nonzero = 0; // in the router dimensions, elsewhere
            for (size_t i = 0; i < v.size(); ++i) {
                if (i % t.dims[0] < r_dims)
                    zero += v[i] == 0.0f;
                else
                    nonzero += v[i] != 0.0f;
            }
            const size_t rows = v.size() / t.dims[0];
            CHECK(zero == rows * r_dims);
            CHECK(nonzero == rows * (t.dims[0] - r_dims));
            ++output_biases;
        }
        if (name.ends_with("ffn_gate_inp.bias")) {
            CAPTURE(name);
            const std::vector<float> v = dequantize(file, t);
            for (size_t e = 0; e < v.size(); ++e)
                CHECK(v[e] == (e % 2 == 0 ? synth::kRouterBiasFavoured : 0.0f));
            ++router_biases;
        }
        if (name.ends_with("exp_probs_b.bias")) { // deepseek2's selection bias, exactly
            CAPTURE(name);
            const int64_t layer = std::stoll(name.substr(4));
            CHECK(dequantize(file, t) == synth::selection_bias(spec, layer - spec.n_dense_lead));
            ++router_biases;
        }
        // deepseek2's leading dense layers write the residual through ffn_down too.
        const bool writes =
            name.ends_with("attn_output.weight") || name.ends_with("ffn_down_exps.weight") ||
            name.ends_with("ffn_down_shexp.weight") || name.ends_with("ffn_down.weight");
        const bool router = name.ends_with("ffn_gate_inp.weight");
        if (!writes && !router) continue;
        CAPTURE(name);
        const std::vector<float> v = dequantize(file, t);
        const uint64_t ne0 = t.dims[0];
        size_t zero = 0, nonzero_rows = 0, rows = v.size() / ne0;
        for (uint64_t row = 0; row < rows; ++row) {
            bool any = false;
            for (uint64_t i = 0; i < ne0; ++i) {
                const bool must_be_zero = writes ? row % t.dims[1] < r_dims : i >= r_dims;
                const float x = v[row * ne0 + i];
                if (must_be_zero) zero += x == 0.0f;
                if (!must_be_zero) any |= x != 0.0f;
            }
            nonzero_rows += any;
        }
        const size_t want_zero = writes ? (rows / t.dims[1]) * r_dims * ne0 : rows * (ne0 - r_dims);
        CHECK(zero == want_zero);
        CHECK(nonzero_rows == (writes ? rows - (rows / t.dims[1]) * r_dims : rows));
    }
    const size_t n_layer = static_cast<size_t>(spec.n_layer);
    const size_t moe_layers = n_layer - static_cast<size_t>(spec.n_dense_lead);
    CHECK(output_biases == (spec.arch == "gpt-oss" ? 2 * n_layer : 0));
    CHECK(router_biases == (spec.arch == "gpt-oss"                                ? n_layer
                            : spec.arch == "deepseek2" && spec.expert_gating == 2 ? moe_layers
                                                                                  : 0));
}

} // namespace

TEST_CASE("synth: every arch and recipe parses and binds") {
    for (const char *arch : {"llama", "qwen2", "qwen3", "gemma3"}) {
        for (const char *quant : {"F32", "F16", "Q8_0", "Q4_K_M", "Q6_K"}) {
            for (bool k_shape : {false, true}) {
                CAPTURE(arch);
                CAPTURE(quant);
                CAPTURE(k_shape);
                synth::Spec spec = tiny(arch, quant);
                if (k_shape) { // rows of 256: the k-quants apply without fallbacks
                    spec.n_embd = 256;
                    spec.n_ff = 512;
                    spec.head_dim = 64;
                }
                if (std::string(arch) == "llama") spec.rope_freqs = true;
                const std::vector<uint8_t> image = synth_to_memory(spec);
                std::unique_ptr<gguf::File> file;
                const Status ps = gguf::File::parse(image, nullptr, &file);
                REQUIRE_MESSAGE(ps.is_ok(), ps.message());

                const models::Architecture *a = models::find_architecture(arch);
                REQUIRE(a);
                models::Hparams hp;
                models::ModelWeights w;
                const Status bs = a->bind(*file, &hp, &w);
                REQUIRE_MESSAGE(bs.is_ok(), bs.message());
                CHECK(hp.n_vocab == spec.n_vocab);
                CHECK(hp.n_embd == spec.n_embd);
                CHECK(hp.n_layer == spec.n_layer);
                CHECK(hp.head_dim == spec.head_dim);
                CHECK(hp.n_head_kv == spec.n_head_kv);
                CHECK(w.layers.size() == static_cast<size_t>(spec.n_layer));
                if (std::string(arch) == "gemma3") {
                    CHECK(hp.swa->window == spec.n_swa);
                    CHECK(w.output.data == w.tok_embd.data); // tied
                }
                if (std::string(arch) == "llama") CHECK(w.rope_freqs.data != nullptr);

                // Every tensor's data decodes to finite values.
                for (const gguf::TensorInfo &t : file->tensors()) {
                    CAPTURE(t.name);
                    std::vector<float> row(t.dims[0]);
                    REQUIRE(dequantize_row_ref(t.type, file->tensor_data(t), row.data(),
                                               static_cast<int64_t>(t.dims[0])));
                    for (float v : row)
                        REQUIRE(std::isfinite(v));
                }

                std::string_view s;
                REQUIRE(file->find("tokenizer.ggml.model")->get_string(&s));
                CHECK(s == "llama");
                CHECK(file->find("tokenizer.ggml.tokens")->array_size() ==
                      static_cast<uint64_t>(spec.n_vocab));
                REQUIRE(file->find("tokenizer.ggml.tokens")->array_string(3 + 10, &s));
                CHECK(s == "<0x0A>");
            }
        }
    }
}

TEST_CASE("synth: Q4_K_M follows llama.cpp's choices") {
    // The gemma3-270m shape, against the real gemma-3-270m Q4_K_M file's types
    // (tests/data/listings/gemma-3-270m-q4_k_m.tsv).
    synth::Spec spec;
    REQUIRE(synth::apply_preset("gemma3-270m", &spec).is_ok());
    spec.quant = "Q4_K_M";
    std::vector<synth::TensorPlan> plan;
    REQUIRE(synth::plan_tensors(spec, &plan).is_ok());
    auto type_of = [&](const std::string &name) -> std::string {
        for (const auto &t : plan)
            if (t.name == name) return type_name(t.type);
        return "missing";
    };
    CHECK(type_of("token_embd.weight") == "Q8_0");
    CHECK(type_of("output.weight") == "missing");
    const int more_bits[] = {0, 1, 4, 7, 10, 13, 15, 16, 17};
    for (int l = 0; l < 18; ++l) {
        CAPTURE(l);
        const bool more =
            std::find(std::begin(more_bits), std::end(more_bits), l) != std::end(more_bits);
        const std::string b = "blk." + std::to_string(l) + ".";
        CHECK(type_of(b + "attn_v.weight") == (more ? "Q8_0" : "Q5_0"));
        CHECK(type_of(b + "ffn_down.weight") == (more ? "Q6_K" : "Q4_K"));
        CHECK(type_of(b + "attn_q.weight") == "Q5_0");
        CHECK(type_of(b + "attn_output.weight") == "Q4_K");
        CHECK(type_of(b + "attn_norm.weight") == "F32");
    }

    // llama-8b: untied, everything in whole Q4_K blocks.
    synth::Spec big;
    REQUIRE(synth::apply_preset("llama-8b", &big).is_ok());
    big.quant = "Q4_K_M";
    REQUIRE(synth::plan_tensors(big, &plan).is_ok());
    CHECK(type_of("token_embd.weight") == "Q4_K");
    CHECK(type_of("output.weight") == "Q6_K");
    CHECK(type_of("rope_freqs.weight") == "F32");
    CHECK(type_of("blk.0.attn_v.weight") == "Q6_K");
    CHECK(type_of("blk.4.attn_v.weight") == "Q4_K");
    CHECK(type_of("blk.6.ffn_down.weight") == "Q6_K"); // (6 - 4) % 3 == 2
    CHECK(type_of("blk.31.ffn_down.weight") == "Q6_K");
    CHECK(type_of("blk.10.attn_q.weight") == "Q4_K");
}

TEST_CASE("synth: Q3_K_M follows llama.cpp's choices") {
    // llama_tensor_get_type_impl for LLAMA_FTYPE_MOSTLY_Q3_K_M, on the published shapes.
    std::vector<synth::TensorPlan> plan;
    auto type_of = [&](const std::string &name) -> std::string {
        for (const auto &t : plan)
            if (t.name == name) return type_name(t.type);
        return "missing";
    };
    auto plan_preset = [&](const char *preset) {
        synth::Spec spec;
        REQUIRE(synth::apply_preset(preset, &spec).is_ok());
        spec.quant = "Q3_K_M";
        const Status s = synth::plan_tensors(spec, &plan);
        REQUIRE_MESSAGE(s.is_ok(), s.message());
    };
    CHECK(synth::recipe_file_type("Q3_K_M") == 12);

    plan_preset("llama-8b"); // 32 layers: ffn_down Q5_K in layers 0-1
    CHECK(type_of("token_embd.weight") == "Q3_K");
    CHECK(type_of("output.weight") == "Q6_K");
    CHECK(type_of("blk.0.attn_v.weight") == "Q5_K");
    CHECK(type_of("blk.1.attn_v.weight") == "Q5_K");
    CHECK(type_of("blk.2.attn_v.weight") == "Q4_K");
    CHECK(type_of("blk.5.attn_output.weight") == "Q4_K");
    CHECK(type_of("blk.5.attn_q.weight") == "Q3_K");
    CHECK(type_of("blk.5.attn_k.weight") == "Q3_K");
    CHECK(type_of("blk.1.ffn_down.weight") == "Q5_K");
    CHECK(type_of("blk.2.ffn_down.weight") == "Q4_K");
    CHECK(type_of("blk.31.ffn_down.weight") == "Q4_K");
    CHECK(type_of("blk.31.ffn_gate.weight") == "Q3_K");

    plan_preset("mixtral-8x7b"); // eight experts: llama.cpp's Mixtral rules
    CHECK(type_of("blk.10.attn_k.weight") == "Q8_0");
    CHECK(type_of("blk.10.attn_v.weight") == "Q8_0");
    CHECK(type_of("blk.10.attn_output.weight") == "Q5_K");
    CHECK(type_of("blk.0.ffn_down_exps.weight") == "Q5_K");
    CHECK(type_of("blk.12.ffn_down_exps.weight") == "Q4_K");
    CHECK(type_of("blk.12.ffn_gate_exps.weight") == "Q3_K");
    CHECK(type_of("blk.12.ffn_gate_inp.weight") == "F32");
}

TEST_CASE("synth: deterministic in the seed, independent of threads") {
    for (bool fast : {false, true}) {
        CAPTURE(fast);
        synth::Spec spec = tiny("qwen3", "Q4_K_M", 42);
        spec.n_embd = 256; // k-quant rows
        spec.random_blocks = fast;
        spec.threads = 1;
        const std::vector<uint8_t> one = synth_to_memory(spec);
        spec.threads = 3;
        CHECK(synth_to_memory(spec) == one);
        spec.threads = 1;
        CHECK(synth_to_memory(spec) == one);
        spec.seed = 43;
        CHECK(synth_to_memory(spec) != one);
    }
    // A tensor bigger than one generation chunk (vocab 4096 x 512 = 2 Mi elements) across threads.
    synth::Spec spec = tiny("llama", "Q8_0", 3);
    spec.n_vocab = 4096;
    spec.n_embd = 512;
    spec.threads = 1;
    const std::vector<uint8_t> one = synth_to_memory(spec);
    spec.threads = 4;
    CHECK(synth_to_memory(spec) == one);
}

TEST_CASE("synth: rejects bad specs") {
    synth::Spec spec = tiny("llama", "F32");
    spec.arch = "gpt2";
    CHECK_FALSE(synth::validate(spec).is_ok());
    spec = tiny("llama", "Q4_K_XL");
    CHECK_FALSE(synth::validate(spec).is_ok());
    spec = tiny("llama", "F32");
    spec.n_head_kv = 3;
    CHECK_FALSE(synth::validate(spec).is_ok());
    spec = tiny("llama", "F32");
    spec.n_vocab = 100;
    CHECK_FALSE(synth::validate(spec).is_ok());
    spec = tiny("qwen2", "F32");
    spec.rope_freqs = true;
    CHECK_FALSE(synth::validate(spec).is_ok());
    synth::Spec p;
    CHECK_FALSE(synth::apply_preset("llama-70b", &p).is_ok());
}

TEST_CASE("synth: MoE archs write the keys and tensors llama.cpp loads") {
    // llama.cpp (llama-cpp-python 0.3.36) src/models/{qwen3moe,qwen2moe,olmoe,llama,
    // openai-moe}.cpp: load_arch_tensors' names and shapes; it rejects files with tensors it did
    // not ask for.
    for (const char *arch : {"qwen3moe", "qwen2moe", "olmoe", "llama", "gpt-oss"}) {
        CAPTURE(arch);
        const synth::Spec spec = tiny_moe(arch, "Q8_0");
        const std::vector<uint8_t> image = synth_to_memory(spec);
        const std::unique_ptr<gguf::File> file = parse(image);
        const std::string a = arch;
        const bool gpt_oss = a == "gpt-oss";
        const bool own_ff_key = a == "qwen3moe" || a == "qwen2moe" || gpt_oss;
        CHECK(key_int(*file, a + ".expert_count") == spec.n_expert);
        CHECK(key_int(*file, a + ".expert_used_count") == spec.n_expert_used);
        // gpt-oss has no dense FFN: its feed_forward_length is the experts'.
        CHECK(key_int(*file, a + ".feed_forward_length") == (gpt_oss ? spec.n_ff_exp : spec.n_ff));
        CHECK((file->find(a + ".expert_feed_forward_length") != nullptr) == own_ff_key);
        if (own_ff_key) CHECK(key_int(*file, a + ".expert_feed_forward_length") == spec.n_ff_exp);
        // gpt-oss: sliding window on even layers (llama.cpp's default pattern), YaRN rope.
        CHECK((file->find(a + ".attention.sliding_window") != nullptr) == gpt_oss);
        CHECK((file->find(a + ".rope.scaling.type") != nullptr) == gpt_oss);
        if (gpt_oss) {
            CHECK(key_int(*file, a + ".attention.sliding_window") == spec.n_swa);
            std::string_view type;
            REQUIRE(file->find(a + ".rope.scaling.type")->get_string(&type));
            CHECK(type == "yarn");
            double factor = 0, base = 0;
            REQUIRE(file->find(a + ".rope.scaling.factor")->get_float(&factor));
            CHECK(factor == 32.0);
            CHECK(key_int(*file, a + ".rope.scaling.original_context_length") == 4096);
            REQUIRE(file->find(a + ".rope.freq_base")->get_float(&base));
            CHECK(base == 150000.0);
            CHECK(file->find(a + ".attention.sliding_window_pattern") == nullptr);
        }
        CHECK((file->find(a + ".expert_shared_feed_forward_length") != nullptr) ==
              (a == "qwen2moe"));
        if (a == "qwen2moe")
            CHECK(key_int(*file, a + ".expert_shared_feed_forward_length") == spec.n_ff_shexp);

        const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
        const uint64_t embd = u(spec.n_embd), q = u(spec.n_head * spec.head_dim),
                       kv = u(spec.n_head_kv * spec.head_dim), n_exp = u(spec.n_expert);
        const uint64_t ff = u(own_ff_key ? spec.n_ff_exp : spec.n_ff), sh = u(spec.n_ff_shexp);
        std::vector<std::pair<std::string, std::vector<uint64_t>>> want = {
            {"attn_norm.weight", {embd}},
            {"attn_q.weight", {embd, q}},
            {"attn_k.weight", {embd, kv}},
            {"attn_v.weight", {embd, kv}},
            {"attn_output.weight", {q, embd}},
            {gpt_oss ? "post_attention_norm.weight" : "ffn_norm.weight", {embd}},
            {"ffn_gate_inp.weight", {embd, n_exp}},
            {"ffn_gate_exps.weight", {embd, ff, n_exp}},
            {"ffn_up_exps.weight", {embd, ff, n_exp}},
            {"ffn_down_exps.weight", {ff, embd, n_exp}},
        };
        if (a == "qwen3moe") { // per-head norms
            want.push_back({"attn_q_norm.weight", {u(spec.head_dim)}});
            want.push_back({"attn_k_norm.weight", {u(spec.head_dim)}});
        }
        if (a == "olmoe") { // norms over the whole projection
            want.push_back({"attn_q_norm.weight", {embd}});
            want.push_back({"attn_k_norm.weight", {embd}});
        }
        if (gpt_oss) { // biases everywhere but the norms, and a sink per head
            want.push_back({"attn_q.bias", {q}});
            want.push_back({"attn_k.bias", {kv}});
            want.push_back({"attn_v.bias", {kv}});
            want.push_back({"attn_output.bias", {embd}});
            want.push_back({"attn_sinks.weight", {u(spec.n_head)}});
            want.push_back({"ffn_gate_inp.bias", {n_exp}});
            want.push_back({"ffn_gate_exps.bias", {ff, n_exp}});
            want.push_back({"ffn_up_exps.bias", {ff, n_exp}});
            want.push_back({"ffn_down_exps.bias", {embd, n_exp}});
        }
        if (a == "qwen2moe") {
            want.push_back({"attn_q.bias", {q}});
            want.push_back({"attn_k.bias", {kv}});
            want.push_back({"attn_v.bias", {kv}});
            want.push_back({"ffn_gate_inp_shexp.weight", {embd}});
            want.push_back({"ffn_gate_shexp.weight", {embd, sh}});
            want.push_back({"ffn_up_shexp.weight", {embd, sh}});
            want.push_back({"ffn_down_shexp.weight", {sh, embd}});
        }
        for (int64_t l = 0; l < spec.n_layer; ++l) {
            for (const auto &[suffix, dims] : want) {
                const gguf::TensorInfo *t = layer_tensor_of(*file, l, suffix, dims);
                if (suffix.starts_with("ffn_gate_inp") || dims.size() == 1 ||
                    suffix.ends_with(".bias"))
                    CHECK(type_name(t->type) == std::string("F32"));
            }
        }
        const size_t globals = 3; // token_embd, output_norm, output
        CHECK(file->tensors().size() == globals + want.size() * static_cast<size_t>(spec.n_layer));
        CHECK(file->find_tensor("output.weight"));
        for (const gguf::TensorInfo &t : file->tensors()) { // every value decodes, finite
            CAPTURE(t.name);
            const std::vector<float> values = dequantize(*file, t);
            CHECK(std::all_of(values.begin(), values.end(),
                              [](float v) { return std::isfinite(v); }));
        }
    }
}

TEST_CASE("synth: Q4_K_M on experts follows llama.cpp's choices") {
    // Checked against llama.cpp's own quantizer on small shapes of every MoE arch with
    // scripts/check-synth-llamacpp.py --types; here on the published shapes.
    std::vector<synth::TensorPlan> plan;
    auto type_of = [&](const std::string &name) -> std::string {
        for (const auto &t : plan)
            if (t.name == name) return type_name(t.type);
        return "missing";
    };
    auto plan_preset = [&](const char *preset) {
        synth::Spec spec;
        REQUIRE(synth::apply_preset(preset, &spec).is_ok());
        spec.quant = "Q4_K_M";
        const Status s = synth::plan_tensors(spec, &plan);
        REQUIRE_MESSAGE(s.is_ok(), s.message());
        return spec;
    };

    const synth::Spec qwen3 = plan_preset("qwen3-30b-a3b"); // 48 layers: more bits in 0-5, 8, ...
    CHECK(qwen3.arch == "qwen3moe");
    CHECK(type_of("output.weight") == "Q6_K");
    CHECK(type_of("blk.0.ffn_gate_inp.weight") == "F32");
    CHECK(type_of("blk.0.ffn_down_exps.weight") == "Q6_K");
    CHECK(type_of("blk.6.ffn_down_exps.weight") == "Q4_K");
    CHECK(type_of("blk.8.ffn_down_exps.weight") == "Q6_K");
    CHECK(type_of("blk.8.ffn_gate_exps.weight") == "Q4_K");
    CHECK(type_of("blk.47.ffn_up_exps.weight") == "Q4_K");
    CHECK(type_of("blk.7.attn_v.weight") == "Q4_K");
    CHECK(type_of("blk.7.attn_k.weight") == "Q4_K");

    plan_preset("mixtral-8x7b"); // eight experts: llama.cpp's Mixtral rules
    CHECK(type_of("blk.10.attn_k.weight") == "Q8_0");
    CHECK(type_of("blk.10.attn_v.weight") == "Q8_0");
    CHECK(type_of("blk.10.attn_output.weight") == "Q5_K");
    CHECK(type_of("blk.10.attn_q.weight") == "Q4_K");
    CHECK(type_of("blk.11.ffn_down_exps.weight") == "Q4_K");
    CHECK(type_of("blk.12.ffn_down_exps.weight") == "Q6_K"); // (12 - 4) % 3 == 2

    plan_preset("qwen2-moe-a2.7b"); // expert rows of 1408: not whole k-quant blocks
    CHECK(type_of("blk.0.ffn_down_exps.weight") == "Q8_0");
    CHECK(type_of("blk.4.ffn_down_exps.weight") == "Q5_0");
    CHECK(type_of("blk.4.ffn_gate_exps.weight") == "Q4_K");
    CHECK(type_of("blk.4.ffn_down_shexp.weight") == "Q4_K");
    CHECK(type_of("blk.0.ffn_down_shexp.weight") == "Q6_K");
    CHECK(type_of("blk.4.ffn_gate_inp_shexp.weight") == "F32");
    CHECK(type_of("blk.4.attn_q.bias") == "F32");

    plan_preset("olmoe-1b-7b");
    CHECK(type_of("blk.3.attn_q_norm.weight") == "F32");
    CHECK(type_of("blk.15.ffn_down_exps.weight") == "Q6_K");
    CHECK(type_of("blk.3.ffn_down_exps.weight") == "Q4_K");
}

TEST_CASE("synth: routers read only the embedding's dimensions") {
    for (const char *arch : {"qwen3moe", "qwen2moe", "olmoe", "llama", "gpt-oss"}) {
        for (bool fast : {false, true}) {
            CAPTURE(arch);
            CAPTURE(fast);
            // gpt-oss in its own recipe: zero rows in MXFP4 experts, quantized and drawn.
            const bool gpt_oss = std::string(arch) == "gpt-oss";
            synth::Spec spec = tiny_moe(arch, gpt_oss ? "MXFP4_MOE" : (fast ? "Q4_K_M" : "Q8_0"));
            spec.random_blocks = fast;
            const std::vector<uint8_t> image = synth_to_memory(spec);
            check_router_dims(*parse(image), spec);
        }
    }
}

TEST_CASE("synth: routers spread the vocabulary over all experts") {
    struct Case {
        const char *arch;
        int64_t n_embd, n_head, n_expert, n_expert_used, n_vocab; // 0: the tiny preset's
    };
    const Case cases[] = {
        {"qwen3moe", 0, 0, 0, 0, 0},
        {"qwen2moe", 0, 0, 0, 0, 0},
        {"olmoe", 0, 0, 0, 0, 0},
        {"llama", 0, 0, 0, 0, 0},
        {"gpt-oss", 0, 0, 0, 0, 0},
        // The routers of Qwen3-30B-A3B and OLMoE-1B-7B (one small expert layer), over a vocabulary
        // large enough for a fair share of 256 tokens per expert.
        {"qwen3moe", 2048, 32, 128, 8, 4096},
        {"olmoe", 2048, 16, 64, 8, 2048},
    };
    for (const Case &c : cases) {
        synth::Spec spec = tiny_moe(c.arch, "Q4_0");
        if (c.n_embd) {
            spec.n_embd = c.n_embd;
            spec.n_head = spec.n_head_kv = c.n_head;
            spec.n_expert = c.n_expert;
            spec.n_expert_used = c.n_expert_used;
            spec.n_vocab = c.n_vocab;
            spec.n_layer = 1;
            spec.head_dim = c.n_embd / c.n_head;
            if (spec.arch == "qwen3moe") spec.n_ff_exp = 32;
            if (spec.arch == "olmoe") spec.n_ff = 32;
            spec.random_blocks = true; // the router is drawn the same way either way
        }
        const std::vector<uint8_t> image = synth_to_memory(spec);
        const std::unique_ptr<gguf::File> file = parse(image);
        for (int64_t l = 0; l < spec.n_layer; ++l) {
            // At the hidden-state RMS the router weights are drawn for.
            const Routing r = route_vocabulary(*file, l, spec.n_expert_used, synth::router_rms(l));
            // gpt-oss's router bias gives every token to the even experts, never the odd ones.
            const bool halves = spec.arch == "gpt-oss";
            std::vector<int64_t> load;
            for (size_t e = 0; e < r.load.size(); ++e) {
                if (!halves || e % 2 == 0)
                    load.push_back(r.load[e]);
                else
                    CHECK(r.load[e] == 0);
            }
            const double fair = static_cast<double>(spec.n_vocab * spec.n_expert_used) /
                                static_cast<double>(load.size());
            const auto [lo, hi] = std::minmax_element(load.begin(), load.end());
            MESSAGE(spec.arch << " " << spec.n_expert << " experts top-" << spec.n_expert_used
                              << " layer " << l << ": load " << *lo / fair << ".." << *hi / fair
                              << " of fair, logit std " << r.logit_std << ", top-1 weight "
                              << r.top1_share);
            CAPTURE(c.arch);
            CAPTURE(spec.n_expert);
            CAPTURE(l);
            // Every expert gets its share within 30% (a degenerate router starves most of them).
            CHECK(static_cast<double>(*lo) > 0.7 * fair);
            CHECK(static_cast<double>(*hi) < 1.3 * fair);
            // Logits of std ~1: the weights among the k are neither equal nor one-hot.
            CHECK(r.logit_std > 0.7);
            CHECK(r.logit_std < 1.4);
            CHECK(r.top1_share > 1.0 / static_cast<double>(spec.n_expert_used) + 0.05);
            CHECK(r.top1_share < 0.9);
        }
    }
}

TEST_CASE("synth: rejects bad MoE specs") {
    auto rejects = [](synth::Spec spec) { return !synth::validate(spec).is_ok(); };
    CHECK_FALSE(rejects(tiny_moe("qwen3moe", "F32")));
    synth::Spec spec = tiny_moe("qwen3moe", "F32");
    spec.n_expert = 0;
    spec.n_expert_used = 0;
    CHECK(rejects(spec)); // qwen3moe needs experts
    spec = tiny_moe("qwen3moe", "F32");
    spec.n_expert_used = spec.n_expert + 1;
    CHECK(rejects(spec));
    spec = tiny_moe("qwen3moe", "F32");
    spec.n_ff_exp = 0;
    CHECK(rejects(spec));
    spec = tiny_moe("qwen3moe", "F32");
    spec.n_ff_shexp = 64; // a shared expert is qwen2moe's
    CHECK(rejects(spec));
    spec = tiny_moe("qwen2moe", "F32");
    spec.n_ff_shexp = 0;
    CHECK(rejects(spec));
    spec = tiny_moe("qwen2moe", "F32");
    spec.tied = true;
    CHECK(rejects(spec));
    spec = tiny_moe("olmoe", "F32");
    spec.n_head_kv = 2;
    CHECK(rejects(spec)); // k norm spans n_embd
    spec = tiny_moe("olmoe", "F32");
    spec.n_ff_exp = 128; // olmoe's expert length is n_ff
    CHECK(rejects(spec));
    spec = tiny_moe("llama", "F32");
    spec.n_expert = 2000;
    CHECK(rejects(spec));
    spec = tiny("qwen3", "F32");
    spec.n_expert = 4;
    spec.n_expert_used = 2;
    CHECK(rejects(spec)); // dense arch
    spec = tiny("llama", "F32");
    spec.n_expert_used = 2;
    CHECK(rejects(spec)); // top-k without experts
    CHECK_FALSE(rejects(tiny_moe("gpt-oss", "MXFP4_MOE")));
    spec = tiny_moe("gpt-oss", "F32");
    spec.n_expert_used = spec.n_expert / 2 + 1;
    CHECK(rejects(spec)); // the router bias favours half of the experts
    spec.n_expert_used = spec.n_expert / 2;
    CHECK_FALSE(rejects(spec));
    spec = tiny_moe("gpt-oss", "F32");
    spec.n_swa = 0;
    CHECK(rejects(spec));
    spec = tiny_moe("gpt-oss", "F32");
    spec.tied = true;
    CHECK(rejects(spec));
    spec = tiny_moe("gpt-oss", "F32");
    spec.n_ff_exp = 0;
    CHECK(rejects(spec));
    spec = tiny_moe("gpt-oss", "F32");
    spec.rope_yarn_factor = 0;
    CHECK(rejects(spec)); // gpt-oss's rope is YaRN
    spec = tiny("qwen3", "F32");
    spec.rope_yarn_factor = 4;
    spec.rope_yarn_orig_ctx = 1024;
    CHECK(rejects(spec)); // and only gpt-oss's
}

TEST_CASE("synth: gpt-oss presets and MXFP4_MOE follow llama.cpp") {
    // LLAMA_FTYPE_MOSTLY_MXFP4_MOE (llama-quant.cpp): 3-D expert tensors MXFP4, every other
    // quantizable weight Q8_0, output and token_embd included; routers, norms, biases and sinks
    // stay F32.
    std::vector<synth::TensorPlan> plan;
    auto type_of = [&](const std::string &name) -> std::string {
        for (const auto &t : plan)
            if (t.name == name) return type_name(t.type);
        return "missing";
    };
    CHECK(synth::recipe_file_type("MXFP4_MOE") == 38);
    synth::Spec spec;
    REQUIRE(synth::apply_preset("gpt-oss-20b", &spec).is_ok());
    CHECK(spec.arch == "gpt-oss");
    CHECK(spec.n_swa == 128);
    CHECK(spec.rope_yarn_factor == 32.0f);
    CHECK(spec.rope_yarn_orig_ctx == 4096);
    CHECK(spec.n_head * spec.head_dim == 4096); // q is wider than the 2880 residual
    spec.quant = "MXFP4_MOE";
    Status st = synth::plan_tensors(spec, &plan);
    REQUIRE_MESSAGE(st.is_ok(), st.message());
    // 19 per layer (as the released GGUF), plus token_embd, output_norm and output.
    CHECK(plan.size() == 3 + 19 * 24);
    CHECK(plan_bytes(plan) == 12096558336u); // ~12.1 GB, as ggml-org's gpt-oss-20b-mxfp4.gguf
    CHECK(type_of("token_embd.weight") == "Q8_0");
    CHECK(type_of("output.weight") == "Q8_0");
    for (const char *b : {"blk.0.", "blk.23."}) {
        const std::string l = b;
        CAPTURE(l);
        CHECK(type_of(l + "ffn_gate_exps.weight") == "MXFP4");
        CHECK(type_of(l + "ffn_up_exps.weight") == "MXFP4");
        CHECK(type_of(l + "ffn_down_exps.weight") == "MXFP4");
        CHECK(type_of(l + "attn_q.weight") == "Q8_0");
        CHECK(type_of(l + "attn_v.weight") == "Q8_0");
        CHECK(type_of(l + "attn_output.weight") == "Q8_0");
        CHECK(type_of(l + "ffn_gate_inp.weight") == "F32");
        CHECK(type_of(l + "ffn_gate_inp.bias") == "F32");
        CHECK(type_of(l + "ffn_down_exps.bias") == "F32");
        CHECK(type_of(l + "attn_sinks.weight") == "F32");
        CHECK(type_of(l + "post_attention_norm.weight") == "F32");
        CHECK(type_of(l + "ffn_norm.weight") == "missing");
    }
    synth::Spec big;
    REQUIRE(synth::apply_preset("gpt-oss-120b", &big).is_ok());
    CHECK(big.n_layer == 36);
    CHECK(big.n_expert == 128);
    CHECK(big.n_expert_used == 4);

    // Expert rows that are not whole 32-element blocks fall back to F16, as llama.cpp's
    // tensor_type_fallback does for a 32-element type.
    spec = tiny_moe("gpt-oss", "MXFP4_MOE");
    spec.n_ff_exp = 80;
    REQUIRE(synth::plan_tensors(spec, &plan).is_ok());
    CHECK(type_of("blk.0.ffn_gate_exps.weight") == "MXFP4");
    CHECK(type_of("blk.0.ffn_down_exps.weight") == "F16");
    // Dense archs and the other experts: the same rule.
    REQUIRE(synth::plan_tensors(tiny("llama", "MXFP4_MOE"), &plan).is_ok());
    CHECK(type_of("blk.0.ffn_down.weight") == "Q8_0");
    CHECK(type_of("token_embd.weight") == "Q8_0");
    REQUIRE(synth::plan_tensors(tiny_moe("qwen2moe", "MXFP4_MOE"), &plan).is_ok());
    CHECK(type_of("blk.0.ffn_down_exps.weight") == "MXFP4");
    CHECK(type_of("blk.0.ffn_down_shexp.weight") == "Q8_0");

    // The tiny gpt-oss: four layers (two of each attention kind) over a window of 32.
    spec = tiny_moe("gpt-oss", "MXFP4_MOE");
    CHECK(spec.n_layer == 4);
    CHECK(spec.n_swa == 32);
    CHECK(spec.rope_base == 150000.0f);
    CHECK(spec.norm_eps == 1e-5f);
    for (bool fast : {false, true}) { // MXFP4 blocks decode to finite values either way
        CAPTURE(fast);
        spec.random_blocks = fast;
        const std::vector<uint8_t> image = synth_to_memory(spec);
        const std::unique_ptr<gguf::File> file = parse(image);
        CHECK(key_int(*file, "general.file_type") == 38);
        const gguf::TensorInfo *t = file->find_tensor("blk.1.ffn_up_exps.weight");
        REQUIRE(t);
        CHECK(type_name(t->type) == std::string("MXFP4"));
        const std::vector<float> v = dequantize(*file, *t);
        CHECK(std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); }));
        double sum_sq = 0;
        for (float x : v)
            sum_sq += static_cast<double>(x) * x;
        const double rms = std::sqrt(sum_sq / static_cast<double>(v.size()));
        CHECK(rms == doctest::Approx(1.0 / 16).epsilon(0.15)); // 1 / sqrt(n_embd)
    }
}

namespace {

// The share of a layer's selections that its most selected tenth of the experts (rounded up) take.
double top_tenth_share(std::vector<int64_t> load) {
    std::sort(load.begin(), load.end(), std::greater<>());
    const size_t top = (load.size() + 9) / 10;
    int64_t sum_top = 0, sum = 0;
    for (size_t e = 0; e < load.size(); ++e) {
        sum += load[e];
        if (e < top) sum_top += load[e];
    }
    return static_cast<double>(sum_top) / static_cast<double>(sum);
}

} // namespace

TEST_CASE("synth: router skew changes only the routers and one embedding column") {
    const synth::Spec even = tiny_moe("olmoe", "F32");
    synth::Spec skewed = even;
    skewed.router_skew = 1.0;
    // Skew 0 is the recipe as it was: no fixed column, routers over every router dimension.
    std::vector<synth::TensorPlan> plan;
    REQUIRE(synth::plan_tensors(even, &plan).is_ok());
    for (const synth::TensorPlan &t : plan) {
        CAPTURE(t.name);
        CHECK(t.fixed_values.empty());
        if (t.name.ends_with("ffn_gate_inp.weight"))
            CHECK(t.cols == static_cast<uint64_t>(synth::router_dims(even)));
    }

    const std::vector<uint8_t> even_image = synth_to_memory(even),
                               skewed_image = synth_to_memory(skewed);
    const std::unique_ptr<gguf::File> a = parse(even_image), b = parse(skewed_image);
    check_router_dims(*b, skewed); // the routers still read only the router dimensions
    const uint64_t dim = static_cast<uint64_t>(synth::router_skew_dim(skewed));
    for (const gguf::TensorInfo &t : a->tensors()) {
        const std::string name(t.name);
        CAPTURE(name);
        const gguf::TensorInfo *u = b->find_tensor(name);
        REQUIRE(u);
        const std::vector<float> x = dequantize(*a, t), y = dequantize(*b, *u);
        if (name == "token_embd.weight") { // only the column set apart, constant there
            for (size_t i = 0; i < x.size(); ++i)
                if (i % t.dims[0] != dim) REQUIRE(x[i] == y[i]);
            for (size_t i = dim; i < y.size(); i += t.dims[0])
                REQUIRE(y[i] == y[dim]);
            CHECK(y[dim] > 0);
        } else if (!name.ends_with("ffn_gate_inp.weight")) {
            CHECK(x == y);
        }
    }

    const int64_t k = skewed.n_expert_used;
    for (int64_t l = 0; l < skewed.n_layer; ++l) {
        CAPTURE(l);
        const Routing r_even = route_vocabulary(*a, l, k, synth::router_rms(l));
        const Routing r_skew = route_vocabulary(*b, l, k, synth::router_rms(l));
        const double share_even = top_tenth_share(r_even.load),
                     share_skew = top_tenth_share(r_skew.load);
        MESSAGE("olmoe " << skewed.n_expert << " experts top-" << k << " layer " << l
                         << ": top tenth of the experts take " << share_even
                         << " of the vocabulary's "
                         << "selections at skew 0, " << share_skew << " at skew 1; top-1 weight "
                         << r_skew.top1_share);
        // Exact Zipf(1) sampling of 4 of 16 gives the top two experts 0.34; even routers ~0.15.
        CHECK(share_even < 0.2);
        CHECK(share_skew > 0.28);
        // The most popular expert is the ranking's first, whose offset is 0.
        const std::vector<double> offsets = synth::router_skew_offsets(skewed, l);
        const size_t first =
            static_cast<size_t>(std::max_element(offsets.begin(), offsets.end()) - offsets.begin());
        CHECK(offsets[first] == 0.0);
        CHECK(r_skew.load[first] == *std::max_element(r_skew.load.begin(), r_skew.load.end()));
        // Still decisive per token: the weights among the k are neither equal nor one-hot.
        CHECK(r_skew.top1_share > 1.0 / static_cast<double>(k) + 0.05);
        CHECK(r_skew.top1_share < 0.9);
    }
    CHECK(synth::router_skew_offsets(skewed, 0) != synth::router_skew_offsets(skewed, 1));

    auto rejects = [](synth::Spec spec, double skew) {
        spec.router_skew = skew;
        return !synth::validate(spec).is_ok();
    };
    CHECK(rejects(even, -0.5));
    CHECK(rejects(even, 8.5));
    CHECK(rejects(even, std::nan("")));
    CHECK(rejects(tiny("llama", "F32"), 1.0)); // no experts
    synth::Spec narrow = even;
    narrow.n_embd = narrow.n_head * 2;
    narrow.head_dim = 2; // n_embd 8: one router dimension, none to set apart
    CHECK(rejects(narrow, 1.0));
    CHECK_FALSE(rejects(narrow, 0.0));
}

namespace {

synth::Spec deepseek2(const char *preset, const char *quant, uint64_t seed = 7) {
    return tiny("deepseek2", quant, seed, preset);
}

double key_float(const gguf::File &file, const std::string &key) {
    const gguf::Value *v = file.find(key);
    REQUIRE_MESSAGE(v, key);
    double out = 0;
    REQUIRE(v->get_float(&out));
    return out;
}

// The experts deepseek2's router picks for one token, as llama.cpp's build_moe_ffn does: scores
// (softmax or sigmoid of the logits), plus the selection bias; with groups, the n_group_used
// groups with the largest sums of their top two, then the top k within them. `use_bias` and
// `use_groups` off: what an implementation that forgets them would pick.
std::vector<size_t> deepseek2_choice(const std::vector<double> &logits,
                                     const std::vector<float> &bias, const synth::Spec &spec,
                                     bool use_bias = true, bool use_groups = true) {
    const size_t n = logits.size(), k = static_cast<size_t>(spec.n_expert_used);
    std::vector<double> sel(n);
    double max = logits[0], sum = 0;
    for (double x : logits)
        max = std::max(max, x);
    for (double x : logits)
        sum += std::exp(x - max);
    for (size_t e = 0; e < n; ++e) {
        sel[e] = spec.expert_gating == 2 ? 1 / (1 + std::exp(-logits[e]))
                                         : std::exp(logits[e] - max) / sum;
        if (use_bias && !bias.empty()) sel[e] += bias[e];
    }
    if (use_groups && spec.n_expert_groups > 1) {
        const size_t groups = static_cast<size_t>(spec.n_expert_groups), per = n / groups;
        std::vector<std::pair<double, size_t>> score;
        for (size_t g = 0; g < groups; ++g) {
            std::vector<double> v(sel.begin() + g * per, sel.begin() + (g + 1) * per);
            std::partial_sort(v.begin(), v.begin() + 2, v.end(), std::greater<>());
            score.push_back({v[0] + v[1], g});
        }
        std::sort(score.begin(), score.end(), std::greater<>());
        for (size_t i = static_cast<size_t>(spec.n_group_used); i < groups; ++i)
            for (size_t j = 0; j < per; ++j)
                sel[score[i].second * per + j] = -INFINITY;
    }
    std::vector<size_t> order(n);
    for (size_t e = 0; e < n; ++e)
        order[e] = e;
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](size_t a, size_t b) { return sel[a] > sel[b]; });
    order.resize(k);
    std::sort(order.begin(), order.end());
    return order;
}

} // namespace

TEST_CASE("synth: deepseek2 writes llama.cpp's keys and tensors") {
    // llama.cpp (llama-cpp-python 0.3.36) src/models/deepseek2.cpp: load_arch_hparams' keys,
    // load_arch_tensors' names and shapes (MLA with the split attn_k_b / attn_v_b).
    for (const char *preset : {"tiny", "tiny-v3"}) {
        CAPTURE(preset);
        const bool v3 = std::string(preset) == "tiny-v3";
        const synth::Spec spec = deepseek2(preset, "Q8_0");
        CHECK(spec.arch == "deepseek2");
        CHECK(spec.n_layer == 4);
        CHECK(spec.n_dense_lead == 1);
        CHECK(spec.n_embd == 256);
        CHECK(spec.n_head == 4);
        CHECK(spec.n_expert == 16);
        CHECK(spec.n_expert_used == 4);
        const std::vector<uint8_t> image = synth_to_memory(spec);
        const std::unique_ptr<gguf::File> file = parse(image);
        const std::string a = "deepseek2.";
        std::string_view str;
        REQUIRE(file->find("general.architecture")->get_string(&str));
        CHECK(str == "deepseek2");
        const int64_t kv_lora = 128, nope = 32, rope = 32, v_head = 32, q_lora = v3 ? 128 : 0;
        CHECK(key_int(*file, a + "block_count") == 4);
        CHECK(key_int(*file, a + "embedding_length") == 256);
        CHECK(key_int(*file, a + "feed_forward_length") == 512);
        CHECK(key_int(*file, a + "attention.head_count") == 4);
        CHECK(key_int(*file, a + "attention.head_count_kv") == 1);
        CHECK(key_int(*file, a + "attention.key_length") == kv_lora + rope);
        CHECK(key_int(*file, a + "attention.value_length") == kv_lora);
        CHECK(key_int(*file, a + "attention.key_length_mla") == nope + rope);
        CHECK(key_int(*file, a + "attention.value_length_mla") == v_head);
        CHECK(key_int(*file, a + "attention.q_lora_rank") == q_lora); // 0: attn_q
        CHECK(key_int(*file, a + "attention.kv_lora_rank") == kv_lora);
        CHECK(key_int(*file, a + "rope.dimension_count") == rope);
        CHECK(key_int(*file, a + "leading_dense_block_count") == 1);
        CHECK(key_int(*file, a + "expert_count") == 16);
        CHECK(key_int(*file, a + "expert_used_count") == 4);
        CHECK(key_int(*file, a + "expert_feed_forward_length") == 128);
        CHECK(key_int(*file, a + "expert_shared_count") == (v3 ? 1 : 2));
        CHECK(key_int(*file, a + "expert_gating_func") == (v3 ? 2 : 1));
        CHECK(key_float(*file, a + "expert_weights_scale") == (v3 ? 2.5 : 1.0));
        CHECK((file->find(a + "expert_weights_norm") != nullptr) == v3);
        if (v3) {
            const gguf::Value *norm = file->find(a + "expert_weights_norm");
            CHECK(norm->type() == gguf::ValueType::BOOL);
            CHECK(key_int(*file, a + "expert_weights_norm") == 1); // true
            CHECK(key_int(*file, a + "expert_group_count") == 4);
            CHECK(key_int(*file, a + "expert_group_used_count") == 2);
        } else {
            CHECK(file->find(a + "expert_group_count") == nullptr);
            CHECK(file->find(a + "expert_group_used_count") == nullptr);
        }
        REQUIRE(file->find(a + "rope.scaling.type")->get_string(&str));
        CHECK(str == "yarn");
        CHECK(key_float(*file, a + "rope.scaling.factor") == 40.0);
        CHECK(key_int(*file, a + "rope.scaling.original_context_length") == 4096);
        // 0.1 * mscale_all_dim (0.707 V2-Lite, 1.0 V3), as convert_hf_to_gguf.py writes it.
        CHECK(key_float(*file, a + "rope.scaling.yarn_log_multiplier") ==
              doctest::Approx(v3 ? 0.1 : 0.0707).epsilon(1e-6));
        CHECK(key_float(*file, a + "rope.freq_base") == 10000.0);
        CHECK(key_float(*file, a + "attention.layer_norm_rms_epsilon") ==
              doctest::Approx(1e-6).epsilon(1e-6));
        CHECK(file->find(a + "expert_shared_feed_forward_length") == nullptr);
        CHECK(file->find(a + "attention.sliding_window") == nullptr);
        // The synthetic SentencePiece vocabulary, with DeepSeek-V3's pre-tokenizer name (inert).
        REQUIRE(file->find("tokenizer.ggml.model")->get_string(&str));
        CHECK(str == "llama");
        REQUIRE(file->find("tokenizer.ggml.pre")->get_string(&str));
        CHECK(str == "deepseek-v3");

        const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
        const uint64_t embd = 256, heads = 4, n_exp = 16, ff_exp = 128, ff = 512;
        const uint64_t sh = ff_exp * u(spec.n_expert_shared);
        using Want = std::vector<std::pair<std::string, std::vector<uint64_t>>>;
        Want attn = {
            {"attn_norm.weight", {embd}},
            {"attn_kv_a_mqa.weight", {embd, u(kv_lora + rope)}},
            {"attn_kv_a_norm.weight", {u(kv_lora)}},
            {"attn_k_b.weight", {u(nope), u(kv_lora), heads}},
            {"attn_v_b.weight", {u(kv_lora), u(v_head), heads}},
            {"attn_output.weight", {heads * u(v_head), embd}},
            {"ffn_norm.weight", {embd}},
        };
        if (v3) {
            attn.push_back({"attn_q_a.weight", {embd, u(q_lora)}});
            attn.push_back({"attn_q_a_norm.weight", {u(q_lora)}});
            attn.push_back({"attn_q_b.weight", {u(q_lora), heads * u(nope + rope)}});
        } else {
            attn.push_back({"attn_q.weight", {embd, heads * u(nope + rope)}});
        }
        const Want dense = {
            {"ffn_gate.weight", {embd, ff}},
            {"ffn_up.weight", {embd, ff}},
            {"ffn_down.weight", {ff, embd}},
        };
        Want moe = {
            {"ffn_gate_inp.weight", {embd, n_exp}},
            {"ffn_gate_exps.weight", {embd, ff_exp, n_exp}},
            {"ffn_up_exps.weight", {embd, ff_exp, n_exp}},
            {"ffn_down_exps.weight", {ff_exp, embd, n_exp}},
            {"ffn_gate_shexp.weight", {embd, sh}},
            {"ffn_up_shexp.weight", {embd, sh}},
            {"ffn_down_shexp.weight", {sh, embd}},
        };
        if (v3) moe.push_back({"exp_probs_b.bias", {n_exp}});
        size_t expected = 3; // token_embd, output_norm, output
        for (int64_t l = 0; l < spec.n_layer; ++l) {
            Want want = attn;
            const Want &ffn = l < spec.n_dense_lead ? dense : moe;
            want.insert(want.end(), ffn.begin(), ffn.end());
            expected += want.size();
            for (const auto &[suffix, dims] : want) {
                const gguf::TensorInfo *t = layer_tensor_of(*file, l, suffix, dims);
                const bool f32 = suffix.starts_with("ffn_gate_inp") || dims.size() == 1;
                CHECK((type_name(t->type) == std::string("F32")) == f32);
            }
            // Neither the other query form nor a dense FFN in expert layers, nor the reverse.
            const std::string b = "blk." + std::to_string(l) + ".";
            CHECK((file->find_tensor(b + "attn_q.weight") == nullptr) == v3);
            CHECK((file->find_tensor(b + "ffn_gate_inp.weight") == nullptr) ==
                  (l < spec.n_dense_lead));
            CHECK(file->find_tensor(b + "attn_kv_b.weight") == nullptr);
            CHECK(file->find_tensor(b + "ffn_gate_inp_shexp.weight") == nullptr);
        }
        CHECK(file->tensors().size() == expected);
        CHECK(file->find_tensor("output.weight"));
        for (const gguf::TensorInfo &t : file->tensors()) { // every value decodes, finite
            CAPTURE(t.name);
            const std::vector<float> values = dequantize(*file, t);
            CHECK(std::all_of(values.begin(), values.end(),
                              [](float v) { return std::isfinite(v); }));
        }
        check_router_dims(*file, spec);
    }
}

TEST_CASE("synth: deepseek2 routing is exact and needs the bias and the groups") {
    // V2-Lite-like (softmax, no bias): any RMS ranks the experts as the logits do, as the other
    // archs. V3-like: sigmoid plus the selection bias, in groups. At hidden-state RMS from a
    // quarter to four times the one the routers are drawn for, every token of the vocabulary
    // picks the same experts (those of the favoured groups with the largest logits); leaving out
    // the bias or the groups changes the choice.
    for (const char *preset : {"tiny", "tiny-v3"}) {
        CAPTURE(preset);
        const synth::Spec spec = deepseek2(preset, "Q4_0");
        const bool v3 = spec.expert_gating == 2;
        const std::vector<uint8_t> image = synth_to_memory(spec);
        const std::unique_ptr<gguf::File> file = parse(image);
        const gguf::TensorInfo *embd = file->find_tensor("token_embd.weight");
        REQUIRE(embd);
        const std::vector<float> emb = dequantize(*file, *embd);
        const size_t n_embd = embd->dims[0], n_vocab = embd->dims[1];
        const size_t n_expert = static_cast<size_t>(spec.n_expert);
        for (int64_t l = spec.n_dense_lead; l < spec.n_layer; ++l) {
            CAPTURE(l);
            const std::string b = "blk." + std::to_string(l) + ".";
            const std::vector<float> w = dequantize(*file,
                                                    *file->find_tensor(b + "ffn_gate_inp.weight")),
                                     g = dequantize(*file,
                                                    *file->find_tensor(b + "ffn_norm.weight"));
            const std::vector<float> bias = synth::selection_bias(spec, l - spec.n_dense_lead);
            std::vector<int64_t> load(n_expert, 0);
            size_t bias_changes = 0, groups_change = 0;
            for (size_t t = 0; t < n_vocab; ++t) {
                std::vector<double> base(n_expert);
                for (size_t e = 0; e < n_expert; ++e) {
                    double dot = 0;
                    for (size_t i = 0; i < n_embd; ++i)
                        dot += w[e * n_embd + i] * g[i] * emb[t * n_embd + i];
                    base[e] = dot;
                }
                std::vector<size_t> first;
                for (double scale : {0.25, 1.0, 4.0}) {
                    std::vector<double> logits(n_expert);
                    for (size_t e = 0; e < n_expert; ++e)
                        logits[e] = base[e] / (scale * synth::router_rms(l));
                    const std::vector<size_t> c =
                        deepseek2_choice(logits, v3 ? bias : std::vector<float>{}, spec);
                    if (first.empty()) {
                        first = c;
                        bias_changes += deepseek2_choice(logits, bias, spec, false) != c;
                        groups_change += deepseek2_choice(logits, bias, spec, true, false) != c;
                    }
                    REQUIRE(c == first);
                }
                for (size_t e : first) {
                    ++load[e];
                    if (v3) CHECK(bias[e] == synth::kSelectionBias); // a favoured group's
                }
            }
            // The favoured experts share the tokens (the others get none under V3's bias).
            std::vector<int64_t> used;
            for (size_t e = 0; e < n_expert; ++e)
                if (!v3 || bias[e] == synth::kSelectionBias) used.push_back(load[e]);
            const double fair =
                static_cast<double>(n_vocab * static_cast<size_t>(spec.n_expert_used)) /
                static_cast<double>(used.size());
            const auto [lo, hi] = std::minmax_element(used.begin(), used.end());
            MESSAGE(std::string(preset)
                    << " layer " << l << ": " << used.size() << " candidate experts, load "
                    << *lo / fair << ".." << *hi / fair << " of fair; without the bias "
                    << bias_changes << ", without the groups " << groups_change << " of " << n_vocab
                    << " tokens choose otherwise");
            CHECK(static_cast<double>(*lo) > 0.7 * fair);
            CHECK(static_cast<double>(*hi) < 1.3 * fair);
            if (v3) {
                CHECK(groups_change == n_vocab); // the other groups' leaders
                // Without the bias (the groups by the sigmoids alone) ~83% of them.
                CHECK(bias_changes > n_vocab * 3 / 4);
            }
        }
        // The bias favours 2 of the 4 groups, other ones in each layer; one leader elsewhere.
        if (v3) {
            const std::vector<float> b0 = synth::selection_bias(spec, 0),
                                     b1 = synth::selection_bias(spec, 1);
            CHECK(b0 != b1);
            CHECK(std::count(b0.begin(), b0.end(), synth::kSelectionBias) == 8);
            CHECK(std::count(b0.begin(), b0.end(), synth::kSelectionBias + 2) == 2);
        }
    }
}

TEST_CASE("synth: deepseek2 published presets and recipes follow llama.cpp") {
    std::vector<synth::TensorPlan> plan;
    auto type_of = [&](const std::string &name) -> std::string {
        for (const auto &t : plan)
            if (t.name == name) return type_name(t.type);
        return "missing";
    };
    synth::Spec lite;
    REQUIRE(synth::apply_preset("deepseek-v2-lite", &lite).is_ok());
    CHECK(lite.arch == "deepseek2");
    CHECK(lite.n_layer == 27);
    CHECK(lite.q_lora_rank == 0);
    CHECK(lite.n_expert_groups == 1); // as convert_hf_to_gguf.py writes config.json's n_group
    lite.quant = "Q4_K_M";
    Status st = synth::plan_tensors(lite, &plan);
    REQUIRE_MESSAGE(st.is_ok(), st.message());
    // 11 tensors in the dense layer, 15 in each of the 26 expert layers.
    CHECK(plan.size() == 3 + 11 + 15 * 26);
    CHECK(type_of("blk.5.attn_q.weight") == "Q4_K");
    CHECK(type_of("blk.5.attn_kv_a_mqa.weight") == "Q4_K");
    CHECK(type_of("blk.5.attn_k_b.weight") == "Q5_0"); // rows of qk_nope 128
    CHECK(type_of("blk.5.attn_v_b.weight") == "Q4_K"); // rows of kv_lora 512
    CHECK(type_of("blk.5.attn_output.weight") == "Q4_K");
    // use_more_bits(i, 27): layers 0-2, 5, 8, ..., 23-26.
    CHECK(type_of("blk.0.ffn_down.weight") == "Q8_0"); // Q6_K on rows of 10944
    CHECK(type_of("blk.0.ffn_gate.weight") == "Q4_K");
    CHECK(type_of("blk.6.ffn_down_exps.weight") == "Q5_0");  // Q4_K on rows of 1408
    CHECK(type_of("blk.5.ffn_down_exps.weight") == "Q8_0");  // Q6_K on rows of 1408
    CHECK(type_of("blk.6.ffn_down_shexp.weight") == "Q4_K"); // rows of 2816: whole blocks
    CHECK(type_of("blk.5.ffn_down_shexp.weight") == "Q6_K");
    CHECK(type_of("blk.5.ffn_gate_inp.weight") == "F32");
    CHECK(type_of("blk.5.exp_probs_b.bias") == "missing"); // softmax: no selection bias
    CHECK(type_of("blk.5.attn_kv_a_norm.weight") == "F32");

    synth::Spec v3;
    REQUIRE(synth::apply_preset("deepseek-v3", &v3).is_ok());
    CHECK(v3.n_layer == 61);
    CHECK(v3.n_dense_lead == 3);
    CHECK(v3.n_expert == 256);
    CHECK(v3.n_expert_groups == 8);
    CHECK(v3.n_group_used == 4);
    CHECK(v3.expert_weights_scale == 2.5f);
    v3.quant = "Q8_0";
    st = synth::plan_tensors(v3, &plan);
    REQUIRE_MESSAGE(st.is_ok(), st.message());
    // 13 tensors per dense layer, 18 per expert layer (the bias included).
    CHECK(plan.size() == 3 + 13 * 3 + 18 * 58);
    CHECK(type_of("blk.3.exp_probs_b.bias") == "F32");
    CHECK(type_of("blk.3.attn_q_a.weight") == "Q8_0");
    CHECK(type_of("blk.3.attn_q_b.weight") == "Q8_0");
    CHECK(type_of("blk.3.attn_q_a_norm.weight") == "F32");
    const uint64_t v3_bytes = plan_bytes(plan);
    MESSAGE("deepseek-v3 Q8_0: " << v3_bytes << " bytes of tensor data");
    CHECK(v3_bytes > 700'000'000'000u); // ~671B parameters at 8.5 bits (no MTP layer)
    CHECK(v3_bytes < 720'000'000'000u);
    v3.quant = "MXFP4_MOE"; // llama.cpp: every 3-D tensor of several matrices, MLA's included
    REQUIRE(synth::plan_tensors(v3, &plan).is_ok());
    CHECK(type_of("blk.3.ffn_up_exps.weight") == "MXFP4");
    CHECK(type_of("blk.3.attn_k_b.weight") == "MXFP4");
    CHECK(type_of("blk.3.attn_v_b.weight") == "MXFP4");
    CHECK(type_of("blk.3.attn_kv_a_mqa.weight") == "Q8_0");
    CHECK(type_of("blk.3.ffn_down_shexp.weight") == "Q8_0");
    CHECK(type_of("blk.0.ffn_down.weight") == "Q8_0");

    // The tiny ones under Q4_K_M: rows of 32 and 128 fall back to Q5_0 (Q6_K to Q8_0); more
    // bits in layers 2 and 3 of 4.
    REQUIRE(synth::plan_tensors(deepseek2("tiny-v3", "Q4_K_M"), &plan).is_ok());
    CHECK(type_of("blk.1.attn_k_b.weight") == "Q5_0");
    CHECK(type_of("blk.1.attn_v_b.weight") == "Q5_0");
    CHECK(type_of("blk.1.attn_kv_a_mqa.weight") == "Q4_K");
    CHECK(type_of("blk.1.attn_q_a.weight") == "Q4_K");
    CHECK(type_of("blk.1.attn_q_b.weight") == "Q5_0");
    CHECK(type_of("blk.0.ffn_down.weight") == "Q4_K");
    CHECK(type_of("blk.1.ffn_down_exps.weight") == "Q5_0");
    CHECK(type_of("blk.2.ffn_down_exps.weight") == "Q8_0");
    CHECK(type_of("blk.2.ffn_down_shexp.weight") == "Q8_0"); // rows of 128
    CHECK(type_of("output.weight") == "Q6_K");
}

TEST_CASE("synth: rejects bad deepseek2 specs") {
    auto rejects = [](synth::Spec spec) { return !synth::validate(spec).is_ok(); };
    CHECK_FALSE(rejects(deepseek2("tiny", "F32")));
    CHECK_FALSE(rejects(deepseek2("tiny-v3", "Q4_K_M")));
    synth::Spec spec = deepseek2("tiny", "F32");
    spec.kv_lora_rank = 0;
    CHECK(rejects(spec));
    spec = deepseek2("tiny", "F32");
    spec.qk_rope_dim = 31;
    CHECK(rejects(spec));
    spec = deepseek2("tiny", "F32");
    spec.n_dense_lead = spec.n_layer;
    CHECK(rejects(spec));
    spec = deepseek2("tiny", "F32");
    spec.n_expert_shared = 0;
    CHECK(rejects(spec));
    spec = deepseek2("tiny", "F32");
    spec.expert_gating = 3;
    CHECK(rejects(spec));
    spec = deepseek2("tiny", "F32");
    spec.n_expert_groups = 4;
    spec.n_group_used = 2;
    CHECK(rejects(spec)); // softmax groups are not exact
    spec = deepseek2("tiny-v3", "F32");
    spec.n_group_used = 4;
    CHECK(rejects(spec)); // must keep fewer groups than there are
    spec = deepseek2("tiny-v3", "F32");
    spec.n_expert_groups = 3;
    CHECK(rejects(spec)); // 16 experts in 3 groups
    spec = deepseek2("tiny-v3", "F32");
    spec.n_expert_used = 9;
    CHECK(rejects(spec)); // 2 groups of 4 hold 8
    spec = deepseek2("tiny-v3", "F32");
    spec.n_expert_groups = spec.n_group_used = 0;
    CHECK_FALSE(rejects(spec)); // sigmoid without groups: even experts favoured
    spec.n_expert_used = 9;
    CHECK(rejects(spec));
    spec = deepseek2("tiny-v3", "F32");
    spec.n_layer = 27; // llama.cpp reads no q_lora_rank for 27 layers
    CHECK(rejects(spec));
    spec = deepseek2("tiny", "F32");
    spec.n_head_kv = 2;
    CHECK(rejects(spec));
    spec = deepseek2("tiny", "F32");
    spec.rope_yarn_factor = spec.rope_yarn_mscale_all_dim = 0;
    spec.rope_yarn_orig_ctx = 0;
    CHECK_FALSE(rejects(spec)); // YaRN is optional here
    spec.rope_yarn_mscale_all_dim = 1;
    CHECK(rejects(spec));
    spec = tiny_moe("qwen3moe", "F32");
    spec.kv_lora_rank = 64;
    CHECK(rejects(spec)); // MLA is deepseek2's
    spec = tiny_moe("qwen3moe", "F32");
    spec.expert_gating = 2;
    CHECK(rejects(spec));
    // Another arch's preset after deepseek2 clears its fields.
    spec = deepseek2("tiny-v3", "F32");
    REQUIRE(synth::apply_preset("qwen3-30b-a3b", &spec).is_ok());
    CHECK_FALSE(rejects(spec));
}
