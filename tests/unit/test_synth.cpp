// Synthetic models (samples/synth): every architecture parses and binds through the model
// registry; recipes choose the types llama.cpp's would; files are byte-identical for a seed,
// whatever the thread count, and differ across seeds.
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

synth::Spec tiny(const char *arch, const char *quant, uint64_t seed = 7) {
    synth::Spec spec;
    spec.arch = arch;
    synth::apply_arch_defaults(&spec);
    REQUIRE(synth::apply_preset("tiny", &spec).is_ok());
    spec.quant = quant;
    spec.seed = seed;
    spec.threads = 2;
    return spec;
}

const char *type_name(uint32_t t) { return type_traits(t)->name; }

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
                    CHECK(hp.n_swa == spec.n_swa);
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
