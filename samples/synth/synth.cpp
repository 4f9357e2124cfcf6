// infer-synth: writes a random-weight GGUF model of a supported architecture, shape and
// quantization recipe, deterministic from a seed. See synth_model.h for what is written.
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/types.h"
#include "synth/synth_model.h"

namespace {

void usage(FILE *out) {
    std::fprintf(
        out,
        "usage: infer-synth --arch llama|qwen2|qwen3|gemma3|qwen3moe|qwen2moe|olmoe|gpt-oss|\n"
        "                          deepseek2\n"
        "                   [--preset NAME] -o OUT.gguf | --dry-run\n"
        "                   [--n-vocab N] [--n-embd N] [--n-layer N] [--n-head N]\n"
        "                   [--n-head-kv N] [--n-ff N] [--head-dim N] [--ctx N] [--n-swa N]\n"
        "                   [--n-expert N] [--n-expert-used K] [--n-ff-exp N] [--n-ff-shexp N]\n"
        "                   [--router-skew S] [--rope-freqs] [--tied] [--quant RECIPE] [--seed N]\n"
        "                   [--random-blocks] [--threads N]\n"
        "                   deepseek2: [--q-lora-rank N] [--kv-lora-rank N] [--qk-nope N]\n"
        "                   [--qk-rope N] [--v-head-dim N] [--n-dense-lead N]\n"
        "                   [--n-expert-shared N] [--n-expert-groups N] [--n-group-used N]\n"
        "                   [--expert-gating 1|2] [--expert-weights-norm 0|1]\n"
        "                   [--expert-weights-scale X]\n"
        "experts: qwen3moe, qwen2moe (plus a shared expert, --n-ff-shexp), olmoe and gpt-oss\n"
        "         always have them; llama with --n-expert N --n-expert-used K is Mixtral.\n"
        "         --n-ff-exp is the expert FFN length of qwen3moe, qwen2moe and gpt-oss;\n"
        "         llama and olmoe experts use --n-ff. gpt-oss routes to at most half of its\n"
        "         experts (top-k <= n_expert / 2).\n"
        "         --router-skew S (0..8, default 0: every expert equally popular) makes each\n"
        "         layer's router pick experts with a Zipf-like popularity ~1/rank^S, in a random\n"
        "         order per layer, as real routers favour a few experts (1 is a strong skew).\n"
        "deepseek2: multi-head latent attention (--kv-lora-rank, --qk-nope, --qk-rope,\n"
        "         --v-head-dim; --q-lora-rank 0: attn_q, no q LoRA), --n-dense-lead leading\n"
        "         dense layers of --n-ff, then experts of --n-ff-exp with --n-expert-shared\n"
        "         shared ones; gating 1 softmax, 2 sigmoid with a selection bias that favours\n"
        "         some experts (groups: --n-expert-groups, --n-group-used). YaRN as DeepSeek's.\n"
        "         --arch deepseek2 --preset tiny: V2-Lite-like (no q LoRA, softmax, no groups);\n"
        "         --preset tiny-v3: V3-like (q LoRA, sigmoid with the bias, 4 groups of which 2\n"
        "         are kept, normalized weights scaled 2.5); deepseek-v2-lite and deepseek-v3:\n"
        "         the published shapes (tens to hundreds of GB: see --dry-run).\n"
        "--dry-run: print the tensors' count and bytes per type, write nothing.\n"
        "presets: %s (all but tiny set the arch; options after the preset override it)\n"
        "recipes: %s\n"
        "defaults: --preset tiny --quant F32 --seed 0 --threads <cores>\n",
        infer::synth::preset_names().c_str(), infer::synth::recipe_names().c_str());
}

bool parse_double(const char *s, double *out) {
    char *end = nullptr;
    errno = 0;
    const double v = std::strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0') return false;
    *out = v;
    return true;
}

bool parse_int(const char *s, int64_t *out) {
    char *end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') return false;
    *out = v;
    return true;
}

// --dry-run: what the file would hold (tensor data only; metadata and alignment add a little).
int print_plan(const infer::synth::Spec &spec) {
    std::vector<infer::synth::TensorPlan> plan;
    if (infer::Status s = infer::synth::plan_tensors(spec, &plan); !s.is_ok()) {
        std::fprintf(stderr, "infer-synth: %s\n", s.message().c_str());
        return 1;
    }
    std::map<std::string, uint64_t> bytes_by_type;
    uint64_t total = 0;
    for (const infer::synth::TensorPlan &t : plan) {
        uint64_t rows = 1, row_bytes = 0;
        for (size_t d = 1; d < t.dims.size(); ++d)
            rows *= t.dims[d];
        infer::type_row_bytes(t.type, t.dims[0], &row_bytes);
        bytes_by_type[infer::type_traits(t.type)->name] += rows * row_bytes;
        total += rows * row_bytes;
    }
    std::printf("infer-synth: %s %s %s: %zu tensors, %" PRIu64 " bytes of tensor data\n",
                spec.arch.c_str(), spec.preset.c_str(), spec.quant.c_str(), plan.size(), total);
    for (const auto &[type, bytes] : bytes_by_type)
        std::printf("  %-8s %" PRIu64 " bytes\n", type.c_str(), bytes);
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    infer::synth::Spec spec;
    std::string out_path, preset = "tiny";
    bool dry_run = false;
    const unsigned cores = std::thread::hardware_concurrency();
    spec.threads = cores > 0 ? static_cast<int>(cores) : 1;

    // Two passes: --arch and --preset first, so the other options override what they set
    // wherever they appear on the command line.
    for (int i = 1; i + 1 < argc; ++i) {
        if (!std::strcmp(argv[i], "--arch")) spec.arch = argv[i + 1];
        if (!std::strcmp(argv[i], "--preset")) preset = argv[i + 1];
    }
    infer::synth::apply_arch_defaults(&spec);
    if (infer::Status s = infer::synth::apply_preset(preset, &spec); !s.is_ok()) {
        std::fprintf(stderr, "infer-synth: %s\n", s.message().c_str());
        return 2;
    }

    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        auto flag = [&](const char *name) { return !std::strcmp(a, name); };
        if (flag("-h") || flag("--help")) {
            usage(stdout);
            return 0;
        }
        if (flag("--rope-freqs")) {
            spec.rope_freqs = true;
            continue;
        }
        if (flag("--tied")) {
            spec.tied = true;
            continue;
        }
        if (flag("--random-blocks")) {
            spec.random_blocks = true;
            continue;
        }
        if (flag("--dry-run")) {
            dry_run = true;
            continue;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "infer-synth: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        int64_t n = 0;
        if (flag("--arch") || flag("--preset")) continue; // handled above
        if (flag("-o") || flag("--output")) {
            out_path = v;
            continue;
        }
        if (flag("--quant")) {
            spec.quant = v;
            continue;
        }
        if (flag("--router-skew")) { // the range is validate()'s
            if (!parse_double(v, &spec.router_skew)) {
                std::fprintf(stderr, "infer-synth: %s needs a number, got '%s'\n", a, v);
                return 2;
            }
            continue;
        }
        if (flag("--expert-weights-scale")) {
            double x = 0;
            if (!parse_double(v, &x)) {
                std::fprintf(stderr, "infer-synth: %s needs a number, got '%s'\n", a, v);
                return 2;
            }
            spec.expert_weights_scale = static_cast<float>(x);
            continue;
        }
        int64_t *field = nullptr;
        if (flag("--n-vocab"))
            field = &spec.n_vocab;
        else if (flag("--n-embd"))
            field = &spec.n_embd;
        else if (flag("--n-layer"))
            field = &spec.n_layer;
        else if (flag("--n-head"))
            field = &spec.n_head;
        else if (flag("--n-head-kv"))
            field = &spec.n_head_kv;
        else if (flag("--n-ff"))
            field = &spec.n_ff;
        else if (flag("--head-dim"))
            field = &spec.head_dim;
        else if (flag("--ctx"))
            field = &spec.n_ctx;
        else if (flag("--n-swa"))
            field = &spec.n_swa;
        else if (flag("--n-expert"))
            field = &spec.n_expert;
        else if (flag("--n-expert-used"))
            field = &spec.n_expert_used;
        else if (flag("--n-ff-exp"))
            field = &spec.n_ff_exp;
        else if (flag("--n-ff-shexp"))
            field = &spec.n_ff_shexp;
        else if (flag("--q-lora-rank"))
            field = &spec.q_lora_rank;
        else if (flag("--kv-lora-rank"))
            field = &spec.kv_lora_rank;
        else if (flag("--qk-nope"))
            field = &spec.qk_nope_dim;
        else if (flag("--qk-rope"))
            field = &spec.qk_rope_dim;
        else if (flag("--v-head-dim"))
            field = &spec.v_head_dim;
        else if (flag("--n-dense-lead"))
            field = &spec.n_dense_lead;
        else if (flag("--n-expert-shared"))
            field = &spec.n_expert_shared;
        else if (flag("--n-expert-groups"))
            field = &spec.n_expert_groups;
        else if (flag("--n-group-used"))
            field = &spec.n_group_used;
        else if (!flag("--seed") && !flag("--threads") && !flag("--expert-gating") &&
                 !flag("--expert-weights-norm")) {
            std::fprintf(stderr, "infer-synth: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (!parse_int(v, &n) || n < 0) {
            std::fprintf(stderr, "infer-synth: %s needs a non-negative integer, got '%s'\n", a, v);
            return 2;
        }
        if (field)
            *field = n;
        else if (flag("--expert-gating"))
            spec.expert_gating = static_cast<int>(std::min<int64_t>(n, 1000)); // validate() checks
        else if (flag("--expert-weights-norm"))
            spec.expert_weights_norm = n != 0;
        else if (flag("--seed"))
            spec.seed = static_cast<uint64_t>(n);
        else
            spec.threads = static_cast<int>(n);
    }
    if (dry_run) return print_plan(spec);
    if (out_path.empty()) {
        std::fprintf(stderr, "infer-synth: -o OUT.gguf is required\n");
        usage(stderr);
        return 2;
    }

    infer::synth::Stats stats;
    if (infer::Status s = infer::synth::write_model(spec, out_path.c_str(), &stats); !s.is_ok()) {
        std::fprintf(stderr, "infer-synth: %s\n", s.message().c_str());
        return 1;
    }
    for (const std::string &note : stats.notes)
        std::fprintf(stderr, "infer-synth: note: %s\n", note.c_str());
    const double mb = static_cast<double>(stats.n_bytes) / 1e6;
    char skew[48] = "";
    if (spec.router_skew > 0) std::snprintf(skew, sizeof skew, " router-skew %g", spec.router_skew);
    std::printf("infer-synth: %s: %s %s %s seed %" PRIu64 "%s%s, %zu tensors, %" PRIu64
                " bytes, %.2f s, %.1f MB/s, %d threads\n",
                out_path.c_str(), spec.arch.c_str(), spec.preset.c_str(), spec.quant.c_str(),
                spec.seed, spec.random_blocks ? " random-blocks" : "", skew, stats.n_tensors,
                stats.n_bytes, stats.seconds, stats.seconds > 0 ? mb / stats.seconds : 0.0,
                spec.threads);
    return 0;
}
