#!/usr/bin/env python3
"""Golden chat answers from llama.cpp (through llama-cpp-python) for infer-chat's test.

For each model it plays a fixed conversation: every turn renders the whole conversation with the
model's own chat template (jinja2, configured as Hugging Face's apply_chat_template does), tokenizes
it as llama.cpp does (special tokens parsed; BOS added unless the text already starts with it), and
lets llama.cpp answer greedily until end-of-sequence/end-of-turn or N_PREDICT tokens. The answer
text goes into the conversation for the next turn, as infer-chat keeps it.

It writes tests/data/chat/<model>.json: the system prompt, and per turn the user message, the
rendered prompt's token ids, the answer's text and ids, and the reference's top-1/top-2 margin at
every step (the step that chose an end token included). The conversation below was chosen so that
every margin is large (see the check at the end): libinfer's logits differ from llama.cpp's by a
few percent, so only a decisive greedy answer can be compared exactly.

Usage: make_chat_golden.py (models from the model cache). Deterministic: greedy, one thread.
"""
import json
import sys
from pathlib import Path

import numpy as np
from jinja2.sandbox import ImmutableSandboxedEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_goldens import MODEL_DIR, disable_extra_buffers, margin  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "chat"
N_PREDICT = 48
MIN_MARGIN = 0.4  # below this a turn is not decisive enough to keep as a golden

CONVERSATIONS = {
    "smollm2-135m-q4_1": dict(
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
        system="You are a calculator.",
        users=["What is 1 + 1?", "What is 2 + 2?"]),
}


def render(template, messages, bos, eos):
    """What transformers' apply_chat_template renders."""
    def raise_exception(message):
        raise ValueError(message)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(messages=messages, add_generation_prompt=True,
                                            bos_token=bos, eos_token=eos)


def play(llm, system, users):
    template = llm.metadata["tokenizer.chat_template"]
    piece = lambda t: llm.detokenize([t], special=True).decode() if t >= 0 else ""  # noqa: E731
    bos, eos = piece(llm.token_bos()), piece(llm.token_eos())
    stops = {llm.token_eos(), llm._model.token_eot()} - {-1}
    messages = [{"role": "system", "content": system}] if system else []
    turns = []
    for user in users:
        messages.append({"role": "user", "content": user})
        text = render(template, messages, bos, eos)
        prompt = llm.tokenize(text.encode(), add_bos=not (bos and text.startswith(bos)),
                              special=True)
        llm.reset()
        llm.eval(prompt)
        ids, margins = [], []
        while len(ids) < N_PREDICT:
            row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            token = int(np.argmax(row))
            margins.append(round(margin(row), 4))
            if token in stops:
                break
            ids.append(token)
            llm.eval([token])
        answer = llm.detokenize(ids).decode()
        turns.append(dict(user=user, prompt_ids=prompt, answer=answer, answer_ids=ids,
                          margins=margins))
        messages.append({"role": "assistant", "content": answer})
        print(f"  {user!r} -> {answer!r}: {len(ids)} tokens, smallest margin {min(margins):.2f}")
    return turns


def main():
    disable_extra_buffers()
    from llama_cpp import Llama
    OUT.mkdir(parents=True, exist_ok=True)
    for name, c in CONVERSATIONS.items():
        llm = Llama(model_path=str(MODEL_DIR / c["file"]), n_ctx=1024, n_threads=1,
                    logits_all=True, verbose=False, seed=0)
        turns = play(llm, c["system"], c["users"])
        smallest = min(min(t["margins"]) for t in turns)
        if smallest < MIN_MARGIN:
            sys.exit(f"{name}: a greedy step has margin {smallest:.2f} < {MIN_MARGIN}: "
                     "choose another conversation")
        head = dict(model=c["file"], n_predict=N_PREDICT, system=c["system"])
        lines = [json.dumps(head, ensure_ascii=False)[:-1] + ', "turns": [']
        lines += [" " + json.dumps(t, ensure_ascii=False) + "," for t in turns]  # a turn a line
        lines[-1] = lines[-1][:-1]
        (OUT / f"{name}.json").write_text("\n".join(lines) + "\n]}\n")
        print(f"{name}: wrote {OUT / (name + '.json')}")


if __name__ == "__main__":
    main()
