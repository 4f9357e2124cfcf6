#!/usr/bin/env python3
"""Checks infer-synth's models against llama.cpp (llama-cpp-python). Exit status 1 if any check fails.

    check-synth-llamacpp.py FILE.gguf...
        Loads each file with llama.cpp and evaluates a few tokens: the files are what llama.cpp
        expects (metadata keys, tensor names and shapes, no unused tensors) and run to finite logits.
    check-synth-llamacpp.py --types F32.gguf Q4_K_M.gguf
        Quantizes the first file (an F32 model) with llama.cpp's own quantizer to Q4_K_M and
        compares every tensor's type with the second (infer-synth's Q4_K_M of the same spec):
        infer-synth's recipe must choose what llama.cpp's llama_tensor_get_type does.
    check-synth-llamacpp.py --routing FILE.gguf...
        Mixture of experts: runs a 420-token random prompt and records llama.cpp's router logits
        (the graph's ffn_moe_logits tensors) in every layer, on its default CPU path and on its
        other attention paths (flash attention; F32 KV cache). Prints per layer the logits' std,
        each expert's load relative to a fair share, and how many tokens' top-k choice changes
        between llama.cpp's own paths. Fails if any choice changes or an expert's load is off its
        share by more than 50% (or four binomial standard deviations, for small shares).

usage: infer-synth --arch qwen3moe --quant Q4_K_M -o /tmp/m.gguf && scripts/check-synth-llamacpp.py /tmp/m.gguf
"""
import ctypes
import sys
import tempfile
from pathlib import Path

import numpy as np
from llama_cpp import Llama

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_goldens import VARIANTS, disable_extra_buffers  # noqa: E402

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


class GgmlTensor(ctypes.Structure):
    """The head of ggml.h's struct ggml_tensor, up to its name (GGML_MAX_DIMS 4, GGML_MAX_OP_PARAMS
    64 bytes, GGML_MAX_SRC 10, GGML_MAX_NAME 64), as in the vendored llama.cpp."""
    _fields_ = [("type", ctypes.c_int), ("buffer", ctypes.c_void_p), ("ne", ctypes.c_int64 * 4),
                ("nb", ctypes.c_size_t * 4), ("op", ctypes.c_int), ("op_params", ctypes.c_int32 * 16),
                ("flags", ctypes.c_int32), ("src", ctypes.c_void_p * 10),
                ("view_src", ctypes.c_void_p), ("view_offs", ctypes.c_size_t),
                ("data", ctypes.c_void_p), ("name", ctypes.c_char * 64)]


def router_logits(path, tokens, **variant):
    """{layer: [n_tokens, n_expert] router logits} from llama.cpp's graph callback."""
    import llama_cpp.llama_cpp as C
    captured = {}

    def observe(tensor, ask, _):
        t = ctypes.cast(tensor, ctypes.POINTER(GgmlTensor)).contents
        name = t.name.decode()
        if not name.startswith("ffn_moe_logits-"):
            return not ask  # not asked for; keep computing
        if ask:
            return True
        if t.type != 0:  # GGML_TYPE_F32 on the CPU backend: host memory
            raise RuntimeError(f"{name}: unexpected type {t.type}")
        rows = [np.ctypeslib.as_array((ctypes.c_float * t.ne[0]).from_address(t.data + i * t.nb[1]))
                for i in range(t.ne[1])]
        captured[int(name.split("-")[1])] = np.array(rows)
        return True

    callback = C.ggml_backend_sched_eval_callback(observe)
    default_params = C.llama_context_default_params

    def params():
        p = default_params()
        p.cb_eval = callback
        return p

    C.llama_context_default_params = params
    try:
        m = Llama(model_path=path, n_ctx=len(tokens) + 8, n_batch=len(tokens) + 8, n_threads=2,
                  logits_all=True, verbose=False, **variant)
        m.eval(tokens)
        del m
    finally:
        C.llama_context_default_params = default_params
    return captured


def check_routing(path):
    from gguf import GGUFReader
    reader = GGUFReader(path)
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    k = int(reader.fields[f"{arch}.expert_used_count"].parts[-1][0])
    n_vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    rng = np.random.default_rng(2024)
    tokens = [1] + rng.integers(259, n_vocab, 419).tolist()  # ordinary pieces, as the goldens
    chosen = lambda logits: np.sort(np.argsort(-logits, axis=1)[:, :k], axis=1)
    reference = router_logits(path, tokens)
    variants = [router_logits(path, tokens, **v) for v in VARIANTS]
    problems = []
    for layer, logits in sorted(reference.items()):
        ref = chosen(logits)
        load = np.bincount(ref.ravel(), minlength=logits.shape[1]) / (len(tokens) * k / logits.shape[1])
        flips = max(int((chosen(v[layer]) != ref).any(axis=1).sum()) for v in variants)
        print(f"{path} layer {layer}: {logits.shape[1]} experts top-{k}, logit std {logits.std():.2f}, "
              f"load {load.min():.2f}..{load.max():.2f} of fair, {flips}/{len(tokens)} tokens "
              "choose other experts on llama.cpp's other paths")
        fair = len(tokens) * k / logits.shape[1]
        allowed = max(0.5, 4 / np.sqrt(fair))  # and four binomial sigmas for small shares
        if flips or load.min() < 1 - allowed or load.max() > 1 + allowed:
            problems.append(f"layer {layer}")
    if problems:
        raise RuntimeError(f"{path}: routing unstable or unbalanced in " + ", ".join(problems))


def main():
    disable_extra_buffers()  # see make_goldens.py: some CPUs advertise AMX but trap on it
    args = sys.argv[1:]
    if args[:1] == ["--types"] and len(args) == 3:
        checks = [lambda: check_types(args[1], args[2])]
    elif args[:1] == ["--routing"]:
        checks = [lambda p=p: check_routing(p) for p in args[1:]]
    else:
        checks = [lambda p=p: check_runs(p) for p in args]
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
