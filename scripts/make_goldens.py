#!/usr/bin/env python3
"""Golden logits from llama.cpp (through llama-cpp-python) for libinfer's model tests.

For each model and prompt it writes tests/data/goldens/<model>/<prompt>.bin holding the prompt's
token ids (as llama.cpp tokenized them), the full logits of the last prompt position, the top-K
logits of every prompt position, optionally the full logits of every position (small synthetic
vocabularies), and a greedy continuation with the reference's top-1/top-2 margin at each step.

File layout (little-endian):
    char[4] "IGLD", u32 version = 1
    u32 n_vocab, u32 n_prompt, u32 top_k, u32 n_gen, u32 has_all_logits
    i32 prompt[n_prompt]
    f16 last_logits[n_vocab]
    per prompt position: i32 ids[top_k], f32 values[top_k]      (descending)
    i32 gen[n_gen], f32 gen_margin[n_gen]   (margin of the logits that chose gen[i])
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
    "synth-qwen3-q4_k_m": ["--arch", "qwen3", "--preset", "tiny", "--quant", "Q4_K_M",
                           "--seed", "13"],
}
SYNTH_PROMPT_LENGTHS = {"p8": 8, "p33": 33, "p120": 120, "p420": 420}

REAL_MODELS = {
    "smollm2-135m-q4_1": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3-270m-q4_k_m": "gemma-3-270m-q4_k_m.gguf",
}


def write_golden(path, n_vocab, prompt, all_logits, gen, margins, keep_all):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"IGLD" + struct.pack("<I", 1))
        f.write(struct.pack("<5I", n_vocab, len(prompt), TOP_K, len(gen), 1 if keep_all else 0))
        f.write(np.asarray(prompt, dtype="<i4").tobytes())
        f.write(all_logits[-1].astype("<f2").tobytes())
        for row in all_logits:
            ids = np.argsort(-row, kind="stable")[:TOP_K]
            f.write(ids.astype("<i4").tobytes())
            f.write(row[ids].astype("<f4").tobytes())
        f.write(np.asarray(gen, dtype="<i4").tobytes())
        f.write(np.asarray(margins, dtype="<f4").tobytes())
        if keep_all:
            f.write(all_logits.astype("<f2").tobytes())


def margin(row):
    top2 = np.sort(row)[-2:]
    return float(top2[1] - top2[0])


def run(model_path, prompts, keep_all, out_dir):
    from llama_cpp import Llama
    longest = max(len(p) for p in prompts.values())
    llm = Llama(model_path=str(model_path), n_ctx=longest + N_GEN + 8, n_batch=512, n_threads=1,
                logits_all=True, verbose=False, seed=0)
    n_vocab = llm.n_vocab()
    for name, tokens in prompts.items():
        llm.reset()
        llm.eval(tokens)
        all_logits = np.array(llm.scores[: len(tokens)], dtype=np.float32)
        gen, margins = [], []
        last = all_logits[-1]
        for _ in range(N_GEN):
            tok = int(np.argmax(last))
            gen.append(tok)
            margins.append(margin(last))
            llm.eval([tok])
            last = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        write_golden(out_dir / f"{name}.bin", n_vocab, tokens, all_logits, gen, margins, keep_all)
        print(f"  {out_dir.name}/{name}: {len(tokens)} prompt tokens, vocab {n_vocab}")


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
