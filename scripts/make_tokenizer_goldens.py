#!/usr/bin/env python3
"""Writes llama.cpp's tokenization of tests/data/tokenizer/corpus.json for each real model, for
tests/model/test_tokenizer_goldens.cpp, and for SmolLM2's vocabulary under other pre-tokenizers
(DERIVED: the file with its tokenizer.ggml.pre value replaced, as the test does in memory), so
that a pre-tokenizer no fetched model uses is held to llama.cpp's splits with a real byte-level
BPE vocabulary. Needs llama-cpp-python and the models of
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
# golden name -> (model, the tokenizer.ggml.pre value that replaces the model's)
DERIVED = {
    "SmolLM2-135M-Instruct.Q4_1+gpt-4o": ("SmolLM2-135M-Instruct.Q4_1", "gpt-4o"),
    "SmolLM2-135M-Instruct.Q4_1+deepseek-v3": ("SmolLM2-135M-Instruct.Q4_1", "deepseek-v3"),
}
SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUF types


def skip_value(data, at, kind):
    """The offset after a GGUF value of type `kind` (8: string, 9: array) that starts at `at`."""
    if kind == 8:
        return at + 8 + struct.unpack_from("<Q", data, at)[0]
    if kind != 9:
        return at + SCALAR_BYTES[kind]
    elem, count = struct.unpack_from("<IQ", data, at)
    at += 12
    if elem in SCALAR_BYTES:
        return at + count * SCALAR_BYTES[elem]
    for _ in range(count):
        at = skip_value(data, at, elem)
    return at


def with_pre(model, pre):
    """The model's bytes with tokenizer.ggml.pre replaced by `pre` (any length): the header grows or
    shrinks and the padding before the data section is redone; tensor offsets are relative to it."""
    data = (model_dir() / f"{model}.gguf").read_bytes()
    n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)
    at, alignment, value = 24, 32, None
    for _ in range(n_kv):
        key_len = struct.unpack_from("<Q", data, at)[0]
        key = data[at + 8:at + 8 + key_len]
        kind = struct.unpack_from("<I", data, at + 8 + key_len)[0]
        at += 12 + key_len
        if key == b"tokenizer.ggml.pre":
            value = (at, skip_value(data, at, kind))
        elif key == b"general.alignment":
            alignment = struct.unpack_from("<I", data, at)[0]
        at = skip_value(data, at, kind)
    for _ in range(n_tensors):  # name, n_dims, dims, type, offset
        at = skip_value(data, at, 8)
        at += 4 + 8 * struct.unpack_from("<I", data, at)[0] + 4 + 8
    data_offset = (at + alignment - 1) // alignment * alignment
    encoded = pre.encode()
    header = data[:value[0]] + struct.pack("<Q", len(encoded)) + encoded + data[value[1]:at]
    return header + bytes(-len(header) % alignment) + data[data_offset:]


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
    for name, (model, pre) in DERIVED.items():
        paths[name] = pathlib.Path(tmp.name) / f"{name}.gguf"
        paths[name].write_bytes(with_pre(model, pre))
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
