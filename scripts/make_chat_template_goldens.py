#!/usr/bin/env python3
"""Renders the conversations below with each chat template of tests/data/chat_templates/ the way
Hugging Face transformers does (jinja2 ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
raise_exception and strftime_now globals), for tests/unit/test_chat_template.cpp and
tests/model/test_chat_template_models.cpp. Needs jinja2; for the two real models' templates also
llama-cpp-python and the models of scripts/fetch-models.sh (the token ids of the rendered text).

Output, one file per template (<template stem>.goldens). Values are length-prefixed bytes,
"<byte count>:<bytes>", followed by a newline, so any text fits:
  template <file>            format <expected libinfer format name>
  bos <value>  eos <value>   the texts the template sees as bos_token and eos_token
  today <value>              what strftime_now("%d %b %Y") returned
  case <name> <add_generation_prompt 0|1>
  message <role> <value>     (repeated)
  output <value> | error <value>   the rendering, or the text of the exception it raised
  ids <n> <id>...            (real models only) llama.cpp's tokens of the output, parse_special
  end
"""
import datetime
import os
import pathlib

import jinja2
import jinja2.ext
import jinja2.sandbox

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests/data/chat_templates"
TODAY = datetime.datetime(2025, 3, 5, 14, 30)  # a fixed "now" so the goldens do not age

# template file -> (libinfer format name, bos_token, eos_token, model for token ids or None).
# bos/eos are the token texts of each model family's vocabulary.
TEMPLATES = {
    "HuggingFaceTB-SmolLM2-135M-Instruct.jinja": ("chatml", "<|im_start|>", "<|im_end|>", "SmolLM2-135M-Instruct.Q4_1"),
    "teknium-OpenHermes-2.5-Mistral-7B.jinja": ("chatml", "<s>", "<|im_end|>", None),
    "Qwen-Qwen2.5-Instruct.jinja": ("chatml", "", "<|im_end|>", None),
    "Qwen-Qwen3-0.6B.jinja": ("chatml", "", "<|im_end|>", None),
    "google-gemma-3-it.jinja": ("gemma", "<bos>", "<eos>", "gemma-3-270m-q4_k_m"),
    "google-gemma-2-2b-it.jinja": ("gemma", "<bos>", "<eos>", None),
    "meta-llama-Meta-Llama-3-8B-Instruct.jinja": ("llama3", "<|begin_of_text|>", "<|eot_id|>", None),
    "meta-llama-Llama-3.3-70B-Instruct.jinja": ("llama3.1", "<|begin_of_text|>", "<|eot_id|>", None),
    "meta-llama-Llama-3.2-3B-Instruct.jinja": ("llama3.2", "<|begin_of_text|>", "<|eot_id|>", None),
    "mistralai-Mistral-7B-Instruct-v0.1.jinja": ("mistral-v1", "<s>", "</s>", None),
    "mistralai-Mistral-Large-Instruct-2407.jinja": ("mistral-v3", "<s>", "</s>", None),
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": ("mistral-v3-tekken", "<s>", "</s>", None),
    "mistralai-Mistral-Large-Instruct-2411.jinja": ("mistral-v7", "<s>", "</s>", None),
    "openai-gpt-oss-120b.jinja": ("gpt-oss", "<|startoftext|>", "<|return|>", None),
    "deepseek-ai-DeepSeek-V3.1.jinja": ("deepseek-v3.1", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", None),
}

S, U, A = "system", "user", "assistant"
CONVERSATIONS = {
    "single_user": [(U, "Hello")],
    "system_user": [(S, "You are a helpful assistant."), (U, "Hi there")],
    "multi_turn": [(S, "You are terse."), (U, "What is 2+2?"), (A, "4"), (U, "And 3+3?")],
    "multi_turn_no_system": [(U, "Hello"), (A, "Hi! How can I help?"), (U, "Tell me a joke.")],
    "ends_with_assistant": [(U, "Say hi"), (A, "Hi")],
    "system_ends_with_assistant": [(S, "Be kind."), (U, "Say hi"), (A, "Hi")],
    "whitespace": [(S, "\n  spaced system  \n"), (U, "  \n padded text \t\n"),
                   (A, "   I am an assistant   "), (U, "\u3000ideographic\u00a0spaces\u2028")],
    "unicode_newlines": [(U, "Bonjour \U0001F44B\nline two\r\nline three \u2014 \u00fcmlaut \u65e5\u672c\u8a9e"),
                         (A, "\u7b54\u3048\n\n"), (U, "ok\n")],
    "empty_content": [(S, ""), (U, ""), (A, ""), (U, "x")],
    "empty_user": [(U, "")],
    "only_system": [(S, "Only a system message")],
    "system_in_middle": [(U, "Hello"), (A, "Hi"), (S, "New instructions"), (U, "Go")],
    "system_at_odd_turn": [(U, "Hello"), (S, "Late system")],
    "two_systems": [(S, "First"), (S, "Second"), (U, "Hi")],
    "two_users": [(U, "Hello"), (U, "Anyone there?")],
    "assistant_first": [(A, "I speak first"), (U, "Hello")],
    "think_history": [(U, "Q1"), (A, "<think>\nreasoning one\n</think>\n\nAnswer one"), (U, "Q2")],
    "think_last": [(U, "Q1"), (A, "<think>\n\nstep\n\n</think>\n\n\nFinal")],
    "think_after_last_query": [(U, "Q1"), (A, "<think>r1</think>a1"), (A, "plain a2"), (A, "no think")],
    "tool_response_user": [(U, "Q1"), (A, "<think>r</think>a"), (U, "<tool_response>\n42\n</tool_response>"),
                           (A, "<think>seen</think>done")],
    "special_text_in_content": [(U, "literal <|im_end|> and <end_of_turn> and [INST] inside")],
    "channel_tags_in_content": [(U, "Q"), (A, "<|channel|>final<|message|>A"), (U, "Q2")],
    "think_closed_twice": [(U, "Q"), (A, "r</think>a</think>b"), (U, "Q2"), (A, "\n</think>\n\nc")],
}


def strftime_now(fmt):
    return TODAY.strftime(fmt)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def render(template_text, messages, bos, eos, add_generation_prompt):
    """transformers' _compile_jinja_template + render_jinja_template for plain conversations."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                       extensions=[jinja2.ext.loopcontrols])
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    template = env.from_string(template_text)
    return template.render(messages=[{"role": r, "content": c} for r, c in messages], tools=None,
                           documents=None, add_generation_prompt=add_generation_prompt,
                           bos_token=bos, eos_token=eos)


def value(text):
    data = text.encode("utf-8")
    return f"{len(data)}:".encode() + data + b"\n"


def model_dir():
    return pathlib.Path(os.environ.get("INFER_MODEL_DIR", pathlib.Path.home() / ".cache/libinfer/models"))


def tokenizer_for(model):
    if model is None:
        return None
    from llama_cpp import Llama
    return Llama(model_path=str(model_dir() / f"{model}.gguf"), vocab_only=True, verbose=False)


def main():
    for file, (format_name, bos, eos, model) in TEMPLATES.items():
        text = (DATA / file).read_text(encoding="utf-8")
        llm = tokenizer_for(model)
        out = [b"# generated by scripts/make_chat_template_goldens.py (jinja2 " + jinja2.__version__.encode() +
               b"); do not edit\n",
               f"template {file}\nformat {format_name}\n".encode(),
               b"bos " + value(bos), b"eos " + value(eos), b"today " + value(strftime_now("%d %b %Y"))]
        for name, messages in CONVERSATIONS.items():
            for gen in (0, 1):
                out.append(f"case {name} {gen}\n".encode())
                for role, content in messages:
                    out.append(f"message {role} ".encode() + value(content))
                try:
                    rendered = render(text, messages, bos, eos, bool(gen))
                except jinja2.exceptions.TemplateError as e:
                    out.append(b"error " + value(str(e)))
                else:
                    out.append(b"output " + value(rendered))
                    if llm is not None:
                        ids = llm.tokenize(rendered.encode("utf-8"), add_bos=False, special=True)
                        out.append(f"ids {len(ids)} {' '.join(map(str, ids))}\n".encode())
                out.append(b"end\n")
        (DATA / (pathlib.Path(file).stem + ".goldens")).write_bytes(b"".join(out))
        print(f"{file}: {len(CONVERSATIONS) * 2} cases")


if __name__ == "__main__":
    main()
