// libFuzzer target for infer_context_state_load on a small context (n_ctx 8, F16 KV) of a tiny
// synthetic llama (2 layers, 2 KV heads of 32: 512 state bytes per token, so whole saved states
// are seeds, and a decode takes microseconds; SmolLM2's would take ~1 s under the sanitizers).
//
// Input: [control byte][state bytes ...]. Control bit 0 clear: the state bytes are loaded as
// they are. Set: the bytes after the 72-byte header are tiled to the length the header's n_past
// asks for, plus (control >> 1) - 64 bytes, so that small seeds reach the KV payload of every
// n_past with both exact and near-miss sizes. Properties:
//   - a load never crashes; a refused load (BAD_STATE or INVALID_ARGUMENT) leaves the position
//     (1, from a one-token state loaded first);
//   - a load that returns OK sets the position to n_past, saving again gives back the same bytes,
//     and the context stays usable: a one-token decode works (after truncating a full context).
// Seeds: FUZZ_STATE_WRITE_SEEDS=DIR fuzz_state -runs=0 writes seeds cut from a real saved state.
#include "fuzz_models.h"
#include "synth/synth_model.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using infer::fuzz::check;

namespace {

// magic, version, kv_type, n_past, n_layer (24 bytes); per layer n_head_kv, head_dim, head_dim_v
constexpr size_t kHeaderBytes = 24 + 2 * 24;
constexpr uint32_t kCtx = 8;

infer_model *g_model = nullptr; // globals for the process's life: LeakSanitizer sees them held
infer_context *g_ctx = nullptr;
uint64_t g_bytes_per_token = 0;
std::vector<uint8_t> g_model_image; // the synthetic GGUF; kept alive for the model
std::vector<uint8_t> g_one_token;   // a saved state of one token: the position before each load
uint64_t g_loads = 0, g_accepted = 0; // printed at exit: a run whose loads all fail tests little

infer_model *synthetic_model() {
    infer::synth::Spec spec; // llama, n_vocab 512, n_embd 128, 2 layers, 4 heads, 2 KV heads
    spec.seed = 11;
    FILE *f = std::tmpfile();
    check(f != nullptr, "tmpfile failed");
    infer::synth::Stats stats;
    check(infer::synth::write_model(spec, f, &stats).is_ok(), "synthetic model failed");
    g_model_image.resize(static_cast<size_t>(std::ftell(f)));
    std::rewind(f);
    check(std::fread(g_model_image.data(), 1, g_model_image.size(), f) == g_model_image.size(),
          "reading the synthetic model back failed");
    std::fclose(f);
    infer_model *model = nullptr;
    check(infer_model_load_memory(g_model_image.data(), g_model_image.size(), nullptr, &model) == INFER_OK,
          "loading the synthetic model failed");
    return model;
}

std::vector<uint8_t> save(infer_context *ctx) {
    uint64_t size = 0;
    check(infer_context_state_size(ctx, &size) == INFER_OK, "state_size failed");
    std::vector<uint8_t> state(size);
    uint64_t written = 0;
    check(infer_context_state_save(ctx, state.data(), state.size(), &written) == INFER_OK &&
              written == size,
          "state_save failed");
    return state;
}

void write_seed(const std::string &dir, const char *name, const std::vector<uint8_t> &bytes) {
    const std::string path = dir + "/" + name;
    FILE *f = std::fopen(path.c_str(), "wb");
    check(f && std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size(), "cannot write a seed");
    std::fclose(f);
}

// Seeds: a control byte and real states, whole or as a header with a slice of its KV payload.
void write_seeds(const char *dir, const std::vector<uint8_t> &empty, const std::vector<uint8_t> &three) {
    std::vector<uint8_t> raw_empty{0};
    raw_empty.insert(raw_empty.end(), empty.begin(), empty.end());
    write_seed(dir, "empty-state", raw_empty);
    std::vector<uint8_t> raw_three{0};
    raw_three.insert(raw_three.end(), three.begin(), three.end());
    write_seed(dir, "three-tokens", raw_three);
    std::vector<uint8_t> tiled{1 | (64 << 1)}; // exact size
    tiled.insert(tiled.end(), three.begin(), three.begin() + kHeaderBytes + 200);
    write_seed(dir, "three-tokens-tiled", tiled);
    std::vector<uint8_t> full = tiled;
    std::memcpy(full.data() + 1 + 12, &kCtx, sizeof kCtx); // n_past = n_ctx: a full context
    write_seed(dir, "full-context-tiled", full);
    std::vector<uint8_t> short_by_one = tiled;
    short_by_one[0] = 1 | (63 << 1);
    write_seed(dir, "three-tokens-short", short_by_one);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = kCtx;
    p.n_batch = kCtx;
    p.n_threads = 1;
    g_model = synthetic_model();
    check(infer_context_create(g_model, &p, &g_ctx) == INFER_OK, "context_create failed");
    const std::vector<uint8_t> empty = save(g_ctx);
    check(empty.size() == kHeaderBytes, "the state header is not 72 bytes: update fuzz_state.cpp");
    const int32_t prompt[3] = {1, 200, 300};
    check(infer_decode(g_ctx, prompt, 1) == INFER_OK, "decode failed");
    g_one_token = save(g_ctx);
    check(infer_decode(g_ctx, prompt + 1, 2) == INFER_OK, "decode failed");
    const std::vector<uint8_t> three = save(g_ctx);
    g_bytes_per_token = (three.size() - kHeaderBytes) / 3;
    if (const char *dir = std::getenv("FUZZ_STATE_WRITE_SEEDS")) write_seeds(dir, empty, three);
    std::atexit([] {
        std::fprintf(stderr, "fuzz_state: %llu loads, %llu accepted\n",
                     static_cast<unsigned long long>(g_loads), static_cast<unsigned long long>(g_accepted));
    });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    std::vector<uint8_t> state(data + 1, data + size);
    if ((data[0] & 1) && state.size() > kHeaderBytes) {
        uint32_t n_past = 0;
        std::memcpy(&n_past, state.data() + 12, sizeof n_past);
        const int64_t want = static_cast<int64_t>(kHeaderBytes) +
                             static_cast<int64_t>(n_past % (2 * kCtx)) * static_cast<int64_t>(g_bytes_per_token) +
                             (data[0] >> 1) - 64;
        if (want > static_cast<int64_t>(kHeaderBytes)) {
            const size_t payload = state.size() - kHeaderBytes;
            const size_t old = state.size();
            state.resize(static_cast<size_t>(want));
            for (size_t i = old; i < state.size(); ++i)
                state[i] = state[kHeaderBytes + (i - kHeaderBytes) % payload];
        }
    }

    check(infer_context_state_load(g_ctx, g_one_token.data(), g_one_token.size()) == INFER_OK &&
              infer_context_position(g_ctx) == 1,
          "loading the one-token state failed");
    const infer_status st = infer_context_state_load(g_ctx, state.data(), state.size());
    ++g_loads;
    if (st != INFER_OK) {
        check(st == INFER_ERR_BAD_STATE || st == INFER_ERR_INVALID_ARGUMENT, "load failed with an unexpected status");
        check(infer_context_position(g_ctx) == 1, "a refused load moved the position");
        return 0;
    }
    ++g_accepted;
    uint32_t n_past = 0;
    std::memcpy(&n_past, state.data() + 12, sizeof n_past);
    check(infer_context_position(g_ctx) == n_past, "position is not the state's n_past");
    check(save(g_ctx) == state, "saving a loaded state gives other bytes");
    if (n_past == kCtx) check(infer_context_truncate(g_ctx, kCtx - 1) == INFER_OK, "truncate failed");
    const int32_t next = 300;
    check(infer_decode(g_ctx, &next, 1) == INFER_OK, "decode after a load failed");
    const float *logits = nullptr;
    uint32_t n_vocab = 0;
    check(infer_context_logits(g_ctx, -1, &logits, &n_vocab) == INFER_OK && logits && n_vocab > 0,
          "no logits after a decode");
    return 0;
}
