#!/usr/bin/env python3
"""Golden logits from llama.cpp (through llama-cpp-python) for libinfer's model tests.

For each model and prompt it writes tests/data/goldens/<model>/<prompt>.bin holding the prompt's
token ids (as llama.cpp tokenized them), the full logits of the last prompt position, the top-K
logits of every prompt position, optionally the full logits of every position (small synthetic
vocabularies), and a greedy continuation with the reference's top-1/top-2 margin at each step.

The reference is llama.cpp's default CPU configuration (no flash attention, F16 KV cache). The
same prompt is also run through llama.cpp's other attention paths (flash attention; F32 KV
cache), and the file records how far those land from the reference: the spread, per position,
of the normalized RMS error; their top-1 disagreements where the reference margin exceeds 0.25;
and how long their greedy continuations follow the reference's. Small models with large
activations (SmolLM2, Gemma 3 270M) differ from themselves by several percent between these
paths, so the tests hold libinfer to "as close to llama.cpp as llama.cpp is to itself".

File layout (little-endian):
    char[4] "IGLD", u32 version = 2
    u32 n_vocab, u32 n_prompt, u32 top_k, u32 n_gen, u32 has_all_logits
    i32 prompt[n_prompt]
    f16 last_logits[n_vocab]
    per prompt position: i32 ids[top_k], f32 values[top_k]      (descending)
    i32 gen[n_gen], f32 gen_margin[n_gen]   (margin of the logits that chose gen[i])
    f32 spread[n_prompt]                    (largest error of a variant path, per position)
    u32 variant_disagreements               (most decisive top-1 disagreements of a variant)
    u32 variant_greedy_matched              (fewest greedy steps a variant followed)
    if has_all_logits: f16 logits[n_prompt][n_vocab]

Usage: make_goldens.py [--only NAME] (models come from the model cache and infer-synth; see
MODELS below). Needs `pip install llama-cpp-python numpy`. Deterministic: greedy, one thread.
"""
import argparse
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "goldens"
MODEL_DIR = Path(os.environ.get("INFER_MODEL_DIR",
                                Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                                / "libinfer" / "models"))
TOP_K = 20
N_GEN = 64
DECISIVE = 0.25  # a top-1/top-2 margin above which the top-1 token must agree
# llama.cpp's other CPU attention paths, whose distance from the reference is recorded.
VARIANTS = [dict(flash_attn=True), dict(flash_attn=False, type_k=0, type_v=0)]

TEXT_PROMPTS = {
    "capital": "The capital of France is",
    "code": "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "story": "Once upon a time, in a small village by the sea, there lived an old fisherman who",
    # 400+ tokens: a long passage so attention runs over a long KV cache.
    "long": " ".join([
        "In the beginning of the nineteenth century, the small harbor town was known for its",
        "fishing fleet, its narrow cobbled streets, and the lighthouse that stood on the rocks",
        "at the mouth of the bay. Every morning the boats left before dawn and every evening",
        "they returned, heavy with herring and cod, while the children ran along the quay to",
        "greet their fathers. The town's records, kept in a leather-bound ledger at the harbor",
        "office, list the catches of each boat, the weather of each day, and the names of the",
        "men who sailed. Reading them today, one learns that the winter of 1816 was the",
        "hardest: ice closed the bay for six weeks, the price of bread doubled, and three",
        "boats were lost in a single storm in February.",
    ] * 4) + " Summarize the history of the town in one sentence:",
}

# Synthetic models: (name, infer-synth arguments). Prompts are seeded random token ids.
SYNTH_MODELS = {
    "synth-llama-ropefreqs-q8_0": ["--arch", "llama", "--preset", "tiny", "--rope-freqs",
                                    "--quant", "Q8_0", "--seed", "11"],
    "synth-qwen2-q8_0": ["--arch", "qwen2", "--preset", "tiny", "--quant", "Q8_0", "--seed", "12"],
    "synth-qwen3-q4_k_m": ["--arch", "qwen3", "--preset", "tiny", "--n-embd", "256", "--n-ff", "512",
                           "--head-dim", "64", "--quant", "Q4_K_M",
                           "--seed", "13"],
    # IQ4_XS, and IQ4_NL where rows are not whole IQ4_XS blocks (ffn_down's 352), as llama.cpp.
    "synth-llama-iq4_xs": ["--arch", "llama", "--preset", "tiny", "--n-embd", "256", "--n-ff", "352",
                           "--head-dim", "64", "--quant", "IQ4_XS", "--seed", "14"],
    # The lattice and ternary formats (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M,
    # TQ1_0, TQ2_0), a type per tensor kind, from random blocks (there is no quantizer here).
    "synth-llama-iq_mix": ["--arch", "llama", "--preset", "tiny", "--n-embd", "256", "--n-ff", "512",
                           "--head-dim", "64", "--quant", "IQ_MIX", "--random-blocks", "--seed", "15"],
    # Mixture of experts (issue 6): Q4_0, Q8_0 and Q4_K experts across the four MoE archs; the
    # Q4_K_M files have Q4_K gate/up experts and Q6_K/Q4_K down experts by layer.
    "synth-qwen3moe-q4_k_m": ["--arch", "qwen3moe", "--preset", "tiny", "--quant", "Q4_K_M",
                              "--seed", "21"],
    "synth-qwen2moe-q8_0": ["--arch", "qwen2moe", "--preset", "tiny", "--quant", "Q8_0",
                            "--seed", "22"],
    "synth-mixtral-q4_0": ["--arch", "llama", "--preset", "tiny", "--n-expert", "8",
                           "--n-expert-used", "2", "--quant", "Q4_0", "--seed", "23"],
    "synth-olmoe-q4_k_m": ["--arch", "olmoe", "--preset", "tiny", "--quant", "Q4_K_M",
                           "--seed", "24"],
    # gpt-oss (issue 17): MXFP4 experts (llama.cpp's MXFP4_MOE recipe: the rest Q8_0), biases
    # everywhere, attention sinks, alternating sliding-window layers (window 32), YaRN rope,
    # top-k-then-softmax routing, the clamped SwiGLU.
    "synth-gpt-oss-mxfp4": ["--arch", "gpt-oss", "--preset", "tiny", "--quant", "MXFP4_MOE",
                            "--seed", "26"],
    # DeepSeek-V2/V3 (issue 17): multi-head latent attention (absorbed, a cache of the latent
    # and the rope key), shared experts, a leading dense layer, DeepSeek's YaRN. V2-Lite-like:
    # no q LoRA, softmax routing; V3-like: q LoRA, sigmoid routing with a selection bias over 2
    # of 4 expert groups, normalized weights scaled 2.5.
    "synth-deepseek2-lite-q8_0": ["--arch", "deepseek2", "--preset", "tiny", "--quant", "Q8_0",
                                  "--seed", "27"],
    "synth-deepseek2-v3-q4_k_m": ["--arch", "deepseek2", "--preset", "tiny-v3", "--quant",
                                  "Q4_K_M", "--seed", "28"],
    # OLMoE's top-8 routing (of 32 experts here, 64 in OLMoE-1B-7B).
    "synth-olmoe-q8_0": ["--arch", "olmoe", "--preset", "tiny", "--n-expert", "32",
                         "--n-expert-used", "8", "--n-ff", "128", "--quant", "Q8_0",
                         "--seed", "25"],
}
SYNTH_PROMPT_LENGTHS = {"p8": 8, "p33": 33, "p120": 120, "p420": 420}

REAL_MODELS = {
    "smollm2-135m-q4_1": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3-270m-q4_k_m": "gemma-3-270m-q4_k_m.gguf",
}


def disable_extra_buffers():
    """Plain CPU weight buffers. Some CPUs (seen in our sandbox) advertise AMX but trap on it, so
    ggml's AMX/repacked "extra" buffers die with SIGILL; plain buffers compute the same thing."""
    import llama_cpp.llama_cpp as C
    default_params = C.llama_model_default_params

    def params():
        p = default_params()
        p.use_extra_bufts = False
        return p

    C.llama_model_default_params = params


def write_golden(path, n_vocab, prompt, all_logits, gen, margins, spread, disagreements, matched,
                 keep_all):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"IGLD" + struct.pack("<I", 2))
        f.write(struct.pack("<5I", n_vocab, len(prompt), TOP_K, len(gen), 1 if keep_all else 0))
        f.write(np.asarray(prompt, dtype="<i4").tobytes())
        f.write(all_logits[-1].astype("<f2").tobytes())
        for row in all_logits:
            ids = np.argsort(-row, kind="stable")[:TOP_K]
            f.write(ids.astype("<i4").tobytes())
            f.write(row[ids].astype("<f4").tobytes())
        f.write(np.asarray(gen, dtype="<i4").tobytes())
        f.write(np.asarray(margins, dtype="<f4").tobytes())
        f.write(np.asarray(spread, dtype="<f4").tobytes())
        f.write(struct.pack("<2I", disagreements, matched))
        if keep_all:
            f.write(all_logits.astype("<f2").tobytes())


def margin(row):
    top2 = np.sort(row)[-2:]
    return float(top2[1] - top2[0])


def nrms(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def open_model(model_path, n_ctx, **variant):
    from llama_cpp import Llama
    return Llama(model_path=str(model_path), n_ctx=n_ctx, n_batch=n_ctx, n_threads=2,
                 logits_all=True, verbose=False, seed=0, **variant)


def greedy(llm, tokens, gen=None, margins=None):
    """The reference's continuation (gen None), or how many of its steps `llm` follows."""
    llm.reset()
    llm.eval(tokens)
    out, out_margins = [], []
    for i in range(N_GEN):
        last = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        tok = int(np.argmax(last))
        if gen is not None:
            if margins[i] < DECISIVE or tok != gen[i]:
                return i
            tok = gen[i]
        out.append(tok)
        out_margins.append(margin(last))
        llm.eval([tok])
    return N_GEN if gen is not None else (out, out_margins)


def run(model_path, prompts, keep_all, out_dir):
    n_ctx = max(len(p) for p in prompts.values()) + N_GEN + 8
    llm = open_model(model_path, n_ctx)
    variants = [open_model(model_path, n_ctx, **v) for v in VARIANTS]
    n_vocab = llm.n_vocab()
    for name, tokens in prompts.items():
        gen, margins = greedy(llm, tokens)
        llm.reset()
        llm.eval(tokens)
        all_logits = np.array(llm.scores[: len(tokens)], dtype=np.float32)
        spread = np.zeros(len(tokens), dtype=np.float32)
        disagreements, matched = 0, N_GEN
        for v in variants:
            v.reset()
            v.eval(tokens)
            other = np.array(v.scores[: len(tokens)], dtype=np.float32)
            errors = [nrms(o, r) for o, r in zip(other, all_logits)]
            spread = np.maximum(spread, errors)
            decisive = [margin(r) > DECISIVE for r in all_logits]
            disagreements = max(disagreements, sum(
                int(d and np.argmax(o) != np.argmax(r)) for d, o, r in zip(decisive, other, all_logits)))
            matched = min(matched, greedy(v, tokens, gen, margins))
        write_golden(out_dir / f"{name}.bin", n_vocab, tokens, all_logits, gen, margins, spread,
                     disagreements, matched, keep_all)
        print(f"  {out_dir.name}/{name}: {len(tokens)} prompt tokens, vocab {n_vocab}; variants: "
              f"last-position spread {spread[-1]:.4f}, {disagreements} decisive disagreements, "
              f"greedy followed {matched}/{N_GEN}")


def synth_model(name, args, work):
    exe = ROOT / "build" / "release" / "samples" / "infer-synth"
    path = work / f"{name}.gguf"
    subprocess.run([str(exe), *args, "-o", str(path)], check=True, stdout=subprocess.DEVNULL)
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", help="one model name")
    parser.add_argument("--work", default="/tmp/libinfer-goldens")
    opts = parser.parse_args()
    from llama_cpp import Llama  # noqa: F401  (fail early if missing)
    disable_extra_buffers()
    work = Path(opts.work)
    work.mkdir(parents=True, exist_ok=True)

    for name, file in REAL_MODELS.items():
        if opts.only and opts.only != name:
            continue
        from llama_cpp import Llama as L
        vocab = L(model_path=str(MODEL_DIR / file), vocab_only=True, verbose=False)
        prompts = {p: vocab.tokenize(text.encode(), add_bos=True) for p, text in TEXT_PROMPTS.items()}
        del vocab
        run(MODEL_DIR / file, prompts, keep_all=False, out_dir=OUT / name)

    for name, args in SYNTH_MODELS.items():
        if opts.only and opts.only != name:
            continue
        path = synth_model(name, args, work)
        rng = np.random.default_rng(2024)
        from llama_cpp import Llama as L
        n_vocab = L(model_path=str(path), vocab_only=True, verbose=False).n_vocab()
        # Skip the special and byte tokens so every id is an ordinary piece.
        prompts = {p: [1] + rng.integers(259, n_vocab, n - 1).tolist()
                   for p, n in SYNTH_PROMPT_LENGTHS.items()}
        run(path, prompts, keep_all=True, out_dir=OUT / name)
        (OUT / name / "synth-args.txt").write_text(" ".join(args) + "\n")


if __name__ == "__main__":
    sys.exit(main())
