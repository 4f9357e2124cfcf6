// What the architecture files in models/ share: hyperparameters, weight views, and the
// registry that maps general.architecture to a family. A family is a binder and a graph builder,
// not a subclass; what families add to the common shape are optional groups in Hparams.
#pragma once

#include "core/status.h"
#include "gguf/gguf.h"
#include "graph/graph.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace infer::models {

// A model's hyperparameters: the shape every decoder has, then one optional group per feature a
// family may add (sliding-window layers, a mixture of experts, latent attention). A family sets
// the groups it uses and leaves the others absent, so a group's fields mean something whenever
// it is there.
struct Hparams {
    std::string arch;
    int64_t n_vocab = 0;
    int64_t n_ctx_train = 0;
    int64_t n_embd = 0;
    int64_t n_layer = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;   // key/query head size
    int64_t head_dim_v = 0; // value head size
    int64_t n_ff = 0;       // dense FFN length
    float norm_eps = 1e-5f;
    graph::Rope rope;         // every layer's, or the full-attention layers' when there is a window
    float attn_scale = 0;     // multiplies q.k; 1/sqrt(head_dim) unless a family says otherwise
    float embed_scale = 1.0f; // gemma: sqrt(n_embd)
    graph::Activation ffn_act = graph::Activation::Silu;

    // Some layers attend to the last `window` positions alone (gemma3, gpt-oss).
    struct SlidingWindow {
        int64_t window = 0;
        int64_t pattern = 0; // every pattern-th layer is global (llama.cpp's swa pattern)
        graph::Rope rope;    // the sliding layers' rope (gemma3: its own base, unscaled)

        bool slides(int64_t layer) const { return layer % pattern < pattern - 1; }
    };
    std::optional<SlidingWindow> swa;

    // Mixture-of-experts FFNs (after the first n_layer_dense_lead layers).
    struct Moe {
        int64_t n_expert = 0;      // routed experts per layer
        int64_t n_expert_used = 0; // experts per token (k)
        int64_t n_ff_exp = 0;      // one routed expert's FFN length
        int64_t n_ff_shexp = 0;    // the shared expert's FFN length (qwen2moe, DeepSeek), 0 = none
        int64_t n_layer_dense_lead = 0;       // the first layers have dense FFNs (DeepSeek)
        graph::GraphBuilder::Routing routing; // its bias is per layer: LayerWeights::exp_probs_b
    };
    std::optional<Moe> moe;

    // Multi-head latent attention (DeepSeek-V2/V3). The cache holds one row per position,
    // kv_lora_rank latent elements then n_rot rope-key elements (head_dim = their sum, n_head_kv 1,
    // head_dim_v = kv_lora_rank, the values inside the keys); each query head has head_dim_qk =
    // nope + n_rot elements before absorption and gives head_dim_v value elements after.
    struct Mla {
        int64_t q_lora_rank = 0; // 0: a plain q projection (V2-Lite)
        int64_t kv_lora_rank = 0;
        int64_t head_dim_qk = 0; // key_length_mla
        int64_t head_dim_v = 0;  // value_length_mla
    };
    std::optional<Mla> mla;

    int64_t n_rot() const { return rope.n_rot; }
    int64_t n_expert() const { return moe ? moe->n_expert : 0; }
    int64_t n_expert_used() const { return moe ? moe->n_expert_used : 0; }
    bool layer_slides(int64_t layer) const { return swa && swa->slides(layer); }
    // The rope of a layer: the sliding layers' own, or the model's.
    const graph::Rope &layer_rope(int64_t layer) const {
        return layer_slides(layer) ? swa->rope : rope;
    }
    // Whether layer's FFN is a mixture of experts.
    bool layer_has_experts(int64_t layer) const { return moe && layer >= moe->n_layer_dense_lead; }
};

struct LayerWeights {
    graph::WeightRef attn_norm, wq, wk, wv, wo;
    graph::WeightRef bq, bk, bv;             // qwen2, gpt-oss
    graph::WeightRef bo;                     // gpt-oss
    graph::WeightRef attn_sinks;             // gpt-oss: [n_head] F32
    graph::WeightRef q_norm, k_norm;         // qwen3, gemma3
    graph::WeightRef post_attn_norm;         // gemma3
    graph::WeightRef ffn_norm, ffn_gate, ffn_up, ffn_down;
    graph::WeightRef post_ffn_norm;          // gemma3
    // Mixture of experts: router [n_embd, n_expert]; experts stacked along ne[2].
    graph::WeightRef ffn_gate_inp, ffn_gate_exps, ffn_up_exps, ffn_down_exps;
    graph::WeightRef ffn_gate_inp_b; // gpt-oss: router bias [n_expert]
    graph::WeightRef ffn_gate_exps_b, ffn_up_exps_b, ffn_down_exps_b; // gpt-oss: [n][n_expert]
    graph::WeightRef ffn_gate_inp_shexp;     // qwen2moe: [n_embd] -> the shared expert's gate
    graph::WeightRef ffn_gate_shexp, ffn_up_shexp, ffn_down_shexp;
    graph::WeightRef exp_probs_b; // DeepSeek-V3: [n_expert] selection bias
    // Multi-head latent attention (Hparams::Mla): q through a low-rank (wq_a, norm, wq_b) or
    // plain wq; the latent and rope key from wkv_a_mqa; per-head absorption matrices.
    graph::WeightRef wq_a, q_a_norm, wq_b, wkv_a_mqa, kv_a_norm, wk_b, wv_b;
};

struct ModelWeights {
    graph::WeightRef tok_embd, output_norm, output;
    graph::WeightRef rope_freqs; // llama3 frequency factors (F32, n_rot/2)
    std::vector<LayerWeights> layers;
};

struct Architecture {
    const char *name;
    // Reads hyperparameters and binds every tensor by name, checking shapes.
    Status (*bind)(const gguf::File &file, Hparams *hp, ModelWeights *w);
    // The forward pass for up to max_tokens tokens; logits for every token or the last one.
    graph::Graph (*build)(const Hparams &hp, const ModelWeights &w, int64_t max_tokens,
                          bool all_logits);
};

// nullptr for an architecture libinfer does not implement.
const Architecture *find_architecture(std::string_view name);
// "llama, qwen2, ..." for error messages.
std::string supported_architectures();

} // namespace infer::models
