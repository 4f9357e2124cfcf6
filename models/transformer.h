// What the architecture files in models/ share: hyperparameters, weight views, and the
// registry that maps general.architecture to a family. Variants are flags in Hparams (calm's
// way), not subclasses; a family's graph builder reads like its forward pass.
#pragma once

#include "core/status.h"
#include "gguf/gguf.h"
#include "graph/graph.h"

#include <memory>
#include <string>
#include <vector>

namespace infer::models {

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
    bool kv_v_in_k = false; // the cached values are the keys' first head_dim_v elements (MLA)
    int64_t n_ff = 0;
    int64_t n_rot = 0;
    float norm_eps = 1e-5f;
    graph::RopeMode rope_mode = graph::RopeMode::Normal;
    float rope_base = 10000.0f;
    float rope_scale = 1.0f;        // freq_scale = 1 / scaling factor (linear or YaRN)
    float rope_base_swa = 10000.0f; // sliding-window layers (gemma3)
    float rope_scale_swa = 1.0f;    // their freq_scale (gemma3: unscaled; gpt-oss: rope_scale)
    // YaRN (rope.scaling.type "yarn"): the blend and magnitude scale on top of rope_scale, as
    // llama.cpp's context computes them (beta_fast 32, beta_slow 1; it reads no keys for those).
    bool rope_yarn = false;
    int64_t rope_yarn_orig_ctx = 0; // rope.scaling.original_context_length
    float rope_attn_factor = 1.0f;  // multiplies cos and sin (llama.cpp's cparams.yarn_attn_factor)
    int64_t n_swa = 0;             // sliding window, 0 = none
    int64_t swa_pattern = 0;       // every swa_pattern-th layer is global; 0 = all global
    float attn_scale = 0;          // multiplies q.k; 1/sqrt(head_dim) unless a family says otherwise
    float embed_scale = 1.0f;      // gemma: sqrt(n_embd)
    float attn_softcap = 0;
    float final_softcap = 0;
    graph::Activation ffn_act = graph::Activation::Silu;

    // Mixture of experts; n_expert == 0: every layer has a dense FFN.
    int64_t n_expert = 0;       // routed experts per layer
    int64_t n_expert_used = 0;  // experts per token (k)
    int64_t n_ff_exp = 0;       // one routed expert's FFN length
    int64_t n_ff_shexp = 0;     // the shared expert's FFN length (qwen2moe), 0 = none
    bool expert_weights_norm = false; // renormalize the k routing weights (qwen3moe, Mixtral)
    graph::RouteFn route_fn = graph::RouteFn::Softmax;
    float expert_weights_scale = 1.0f; // multiplies the routing weights (DeepSeek)
    int64_t n_expert_group = 0;        // group-limited routing (DeepSeek-V3); 0: none
    int64_t n_expert_group_used = 0;
    int64_t n_layer_dense_lead = 0; // the first layers have dense FFNs (DeepSeek)

    // Multi-head latent attention (DeepSeek-V2/V3). The cache holds one row per position,
    // kv_lora_rank latent elements then n_rot rope-key elements (head_dim = their sum, n_head_kv 1,
    // head_dim_v = kv_lora_rank, kv_v_in_k); each query head has head_dim_qk = nope + n_rot
    // elements before absorption and gives head_dim_v_mla value elements after.
    struct Mla {
        int64_t q_lora_rank = 0; // 0: a plain q projection (V2-Lite)
        int64_t kv_lora_rank = 0;
        int64_t head_dim_qk = 0; // key_length_mla
        int64_t head_dim_v = 0;  // value_length_mla
    } mla;

    // KV cache elements one position costs in one layer (K and V).
    int64_t kv_token_elems() const {
        return n_head_kv * (head_dim + (kv_v_in_k ? 0 : (head_dim_v ? head_dim_v : head_dim)));
    }

    bool layer_is_swa(int64_t layer) const {
        return n_swa > 0 && swa_pattern > 0 && (layer % swa_pattern) < swa_pattern - 1;
    }
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
