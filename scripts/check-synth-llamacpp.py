#!/usr/bin/env python3
"""Checks infer-synth's models against llama.cpp (llama-cpp-python). Exit status 1 if any check fails.

    check-synth-llamacpp.py FILE.gguf...
        Loads each file with llama.cpp and evaluates a few tokens: the files are what llama.cpp
        expects (metadata keys, tensor names and shapes, no unused tensors) and run to finite logits.
    check-synth-llamacpp.py --types F32.gguf Q4_K_M.gguf
        Quantizes the first file (an F32 model) with llama.cpp's own quantizer to Q4_K_M and
        compares every tensor's type with the second (infer-synth's Q4_K_M of the same spec):
        infer-synth's recipe must choose what llama.cpp's llama_tensor_get_type does.

usage: infer-synth --arch qwen3moe --quant Q4_K_M -o /tmp/m.gguf && scripts/check-synth-llamacpp.py /tmp/m.gguf
"""
import sys
import tempfile
from pathlib import Path

import numpy as np
from llama_cpp import Llama

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_goldens import disable_extra_buffers  # noqa: E402

LLAMA_FTYPE_MOSTLY_Q4_K_M = 15


def check_runs(path):
    m = Llama(path, n_ctx=64, verbose=False, logits_all=True)
    toks = m.tokenize(b"hello world abc", add_bos=True)
    m.eval(toks)
    logits = np.array(m.scores[: len(toks)])
    if not np.isfinite(logits).all():
        raise RuntimeError("non-finite logits")
    print(f"{path}: ok, n_vocab {m.n_vocab()}, {len(toks)} tokens, logits std {logits.std():.3f}")


def tensor_types(path):
    from gguf import GGUFReader
    return {t.name: t.tensor_type.name for t in GGUFReader(path).tensors}


def check_types(source, ours):
    import llama_cpp.llama_cpp as C
    with tempfile.TemporaryDirectory() as tmp:
        theirs = str(Path(tmp) / "q4_k_m.gguf")
        params = C.llama_model_quantize_default_params()
        params.ftype = LLAMA_FTYPE_MOSTLY_Q4_K_M
        params.nthread = 2
        if C.llama_model_quantize(source.encode(), theirs.encode(), params) != 0:
            raise RuntimeError("llama_model_quantize failed")
        expected = tensor_types(theirs)
    got = tensor_types(ours)
    if set(got) != set(expected):
        raise RuntimeError(f"tensor names differ: {sorted(set(got) ^ set(expected))}")
    wrong = [f"{n}: infer-synth {got[n]}, llama.cpp {expected[n]}" for n in sorted(got)
             if got[n] != expected[n]]
    if wrong:
        raise RuntimeError("types differ:\n  " + "\n  ".join(wrong))
    print(f"{ours}: ok, all {len(got)} tensor types match llama.cpp's Q4_K_M of {source}")


def main():
    disable_extra_buffers()  # see make_goldens.py: some CPUs advertise AMX but trap on it
    args = sys.argv[1:]
    checks = [lambda: check_types(args[1], args[2])] if args[:1] == ["--types"] and len(args) == 3 \
        else [lambda p=p: check_runs(p) for p in args]
    failed = 0
    for check in checks:
        try:
            check()
        except Exception as e:  # report every file, then fail
            failed += 1
            print(f"FAILED: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
