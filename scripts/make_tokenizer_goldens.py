#!/usr/bin/env python3
"""Writes llama.cpp's tokenization of tests/data/tokenizer/corpus.json for each real model, for
tests/model/test_tokenizer_goldens.cpp, and for SmolLM2's vocabulary under other pre-tokenizers
(DERIVED: the file with its tokenizer.ggml.pre value replaced by one of the same length, as the
test does in memory), so that a pre-tokenizer no fetched model uses is held to llama.cpp's splits
with a real byte-level BPE vocabulary. Needs llama-cpp-python and the models of
scripts/fetch-models.sh. Output, one file per model (tests/data/tokenizer/<model>.golden), lines:
  S <i> <hex>                          the corpus string (UTF-8 bytes; "-" when empty)
  T <i> <add_special> <parse_special> <ids...>   llama_tokenize
  D <i> <special> <hex>                concatenated llama_token_to_piece (lstrip 0) of the ids of
                                       T(add=0,parse=0) with special=0, of T(add=1,parse=1) with 1
"""
import ctypes
import json
import os
import pathlib
import struct
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from make_goldens import disable_extra_buffers  # noqa: E402

MODELS = ["SmolLM2-135M-Instruct.Q4_1", "gemma-3-270m-q4_k_m"]
# golden name -> (model, its tokenizer.ggml.pre value, the replacement of the same length)
DERIVED = {"SmolLM2-135M-Instruct.Q4_1+gpt-4o": ("SmolLM2-135M-Instruct.Q4_1", b"smollm", b"gpt-4o")}


def with_pre(model, old, new):
    """The model's bytes with tokenizer.ggml.pre = old (a GGUF string: u64 length, bytes) -> new."""
    data = (model_dir() / f"{model}.gguf").read_bytes()
    key = b"tokenizer.ggml.pre" + struct.pack("<IQ", 8, len(old))
    at = data.index(key) + len(key)
    assert data[at:at + len(old)] == old and len(new) == len(old)
    return data[:at] + new + data[at + len(old):]


def model_dir():
    return pathlib.Path(os.environ.get("INFER_MODEL_DIR", pathlib.Path.home() / ".cache/libinfer/models"))


def piece(C, vocab, token, special):
    size = 256
    while True:
        buf = (ctypes.c_char * size)()
        n = C.llama_token_to_piece(vocab, token, buf, size, 0, special)
        if n >= 0:
            return bytes(buf[:n])
        size = -n


def hexs(b):
    return b.hex() if b else "-"


def main():
    disable_extra_buffers()
    from llama_cpp import Llama
    import llama_cpp.llama_cpp as C

    corpus = json.loads((ROOT / "tests/data/tokenizer/corpus.json").read_text(encoding="utf-8"))
    tmp = tempfile.TemporaryDirectory()
    paths = {name: model_dir() / f"{name}.gguf" for name in MODELS}
    for name, (model, old, new) in DERIVED.items():
        paths[name] = pathlib.Path(tmp.name) / f"{name}.gguf"
        paths[name].write_bytes(with_pre(model, old, new))
    for name, path in paths.items():
        llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
        vocab = C.llama_model_get_vocab(llm.model)
        lines = [f"# llama.cpp (llama-cpp-python {__import__('llama_cpp').__version__}) tokenization "
                 f"of corpus.json by {name}; made by scripts/make_tokenizer_goldens.py"]
        for i, text in enumerate(corpus):
            data = text.encode("utf-8")
            lines.append(f"S {i} {hexs(data)}")
            ids = {}
            for add in (0, 1):
                for parse in (0, 1):
                    ids[add, parse] = llm.tokenize(data, add_bos=bool(add), special=bool(parse))
                    lines.append(f"T {i} {add} {parse} " + " ".join(map(str, ids[add, parse])))
            for special, key in ((0, (0, 0)), (1, (1, 1))):
                text_out = b"".join(piece(C, vocab, t, bool(special)) for t in ids[key])
                lines.append(f"D {i} {special} {hexs(text_out)}")
        out = ROOT / f"tests/data/tokenizer/{name}.golden"
        out.write_text("\n".join(lines) + "\n")
        print(f"{out}: {len(corpus)} strings")


if __name__ == "__main__":
    main()
