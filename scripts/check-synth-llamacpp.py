#!/usr/bin/env python3
"""Loads GGUF files with llama.cpp (llama-cpp-python) and evaluates a few tokens in each: the check
that infer-synth's models are what llama.cpp expects. Exit status 1 if any file fails.

usage: infer-synth --arch qwen3 --quant Q4_K_M -o /tmp/m.gguf && scripts/check-synth-llamacpp.py /tmp/m.gguf
"""
import sys
from pathlib import Path

import numpy as np
from llama_cpp import Llama

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_goldens import disable_extra_buffers  # noqa: E402

disable_extra_buffers()  # see make_goldens.py: some CPUs advertise AMX but trap on it

failed = 0
for path in sys.argv[1:]:
    try:
        m = Llama(path, n_ctx=64, verbose=False, logits_all=True)
        toks = m.tokenize(b"hello world abc", add_bos=True)
        m.eval(toks)
        logits = np.array(m.scores[: len(toks)])
        if not np.isfinite(logits).all():
            raise RuntimeError("non-finite logits")
        print(f"{path}: ok, n_vocab {m.n_vocab()}, {len(toks)} tokens, logits std {logits.std():.3f}")
    except Exception as e:  # report every file, then fail
        failed += 1
        print(f"{path}: FAILED: {e}")
sys.exit(1 if failed else 0)
