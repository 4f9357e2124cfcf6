#!/usr/bin/env python3
"""Tests of the ctypes binding (infer.py) against the C example (samples/simple.c).

Environment: INFER_LIBRARY, the libinfer.so to load; INFER_SIMPLE_OUTPUT, the output of
`infer-simple SmolLM2 16 "The capital of France is"` (ctest runs that first); INFER_MODEL_DIR or
the default model cache for SmolLM2. A missing input is a failure, not a skip.
"""
import json
import os
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import infer  # noqa: E402

PROMPT = "The capital of France is"
N_TOKENS = 16
SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"
ROOT = Path(__file__).resolve().parent.parent.parent


def model_path(file):
    cache = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    path = Path(os.environ.get("INFER_MODEL_DIR", Path(cache) / "libinfer" / "models")) / file
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run scripts/fetch-models.sh")
    return path


def simple_output():
    """simple's continuation text and ids: the lines between the prompt and the final "ids:"."""
    text = Path(os.environ["INFER_SIMPLE_OUTPUT"]).read_bytes().decode()
    body, _, ids_line = text.rstrip("\n").rpartition("\n")
    if not ids_line.startswith("ids:") or not body.startswith(PROMPT):
        raise ValueError(f"not the output of infer-simple: {text!r}")
    return body[len(PROMPT):], [int(t) for t in ids_line.split()[1:]]


class GreedyMatchesC(unittest.TestCase):
    def test_same_tokens_and_text_as_simple_c(self):
        expected_text, expected_ids = simple_output()
        self.assertEqual(len(expected_ids), N_TOKENS)
        with infer.Model(model_path(SMOLLM2)) as model:
            ids = model.generate(PROMPT, N_TOKENS)
            self.assertEqual(ids, expected_ids)
            self.assertEqual(model.detokenize(ids), expected_text)

    def test_step_by_step_with_context_and_sampler(self):
        """The same through the lower-level objects, truncating and redoing the last step."""
        _, expected_ids = simple_output()
        with infer.Model(model_path(SMOLLM2)) as model, \
                infer.Context(model, n_ctx=64) as ctx, \
                infer.Sampler(model.n_vocab, temperature=0.0) as sampler:
            prompt = model.tokenize(PROMPT)
            ctx.decode(prompt)
            first = sampler.sample(ctx.logits())
            ctx.decode([first])
            ctx.truncate(len(prompt))  # forget the step, then take it again
            self.assertEqual(ctx.position, len(prompt))
            ctx.decode([first])
            second = sampler.sample(ctx.logits())
            self.assertEqual([first, second], expected_ids[:2])


class ChatTemplate(unittest.TestCase):
    def test_renders_the_golden_conversation(self):
        """The conversation of infer-chat's golden (tests/data/chat), rendered by the model's own
        template and tokenized, is the token list llama.cpp was given."""
        golden = json.loads((ROOT / "tests" / "data" / "chat" / "smollm2-135m-q4_1.json")
                            .read_text())
        first, second = golden["turns"]
        messages = [{"role": "system", "content": golden["system"]},
                    {"role": "user", "content": first["user"]},
                    {"role": "assistant", "content": first["answer"]},
                    {"role": "user", "content": second["user"]}]
        with infer.Model(model_path(SMOLLM2)) as model:
            self.assertEqual(model.chat_template(), "chatml")
            text = model.apply_chat_template(messages)
            self.assertTrue(text.endswith("<|im_start|>assistant\n"))
            self.assertEqual(model.tokenize(text, add_special=True, parse_special=True),
                             second["prompt_ids"])
            with self.assertRaises(infer.InferError) as caught:
                model.apply_chat_template(messages, template="no-such-format")
            self.assertEqual(caught.exception.status, 1)  # INFER_ERR_INVALID_ARGUMENT


class PlacementAndParams(unittest.TestCase):
    """The placement parameters and report on a CPU-only model (tests/gpu covers devices)."""

    def test_structs_match_the_header(self):
        """The *_init functions write sizeof of the C struct into size: equal to ctypes' size, the
        field lists cover the structs (a short one would be overrun by init); the defaults read
        back through the fields show the offsets agree."""
        params = infer._ModelParams()
        infer._lib.infer_model_params_init(infer.ctypes.byref(params))
        self.assertEqual(params.size, infer.ctypes.sizeof(infer._ModelParams))
        self.assertEqual(params.n_gpu_layers, infer.GPU_LAYERS_ALL)
        self.assertEqual((params.backend, params.n_overrides, bool(params.overrides)),
                         (0, 0, False))
        placement = infer._Placement()
        infer._lib.infer_placement_init(infer.ctypes.byref(placement))
        self.assertEqual(placement.size, infer.ctypes.sizeof(infer._Placement))

    def test_cpu_model_runs_all_on_the_cpu(self):
        with infer.Model(model_path(SMOLLM2)) as model:
            p = model.placement()
        self.assertEqual(len(p.backends), 1)
        cpu = p.backends[0]
        self.assertEqual(cpu.backend, infer.BACKEND_CPU)
        self.assertGreater(cpu.n_nodes, 0)
        self.assertEqual(cpu.n_layers, 30)  # SmolLM2-135M
        self.assertGreater(cpu.weight_bytes, 50 << 20)
        self.assertEqual((p.n_gpu_layers, p.n_segments, p.n_copies, p.copy_bytes_per_token),
                         (0, 1, 0, 0))
        self.assertIn("placement:", p.text)

    def test_expert_placement_is_checked_and_means_nothing_on_the_cpu(self):
        """Per-expert offload shares experts with a device: on a CPU (and dense) model it is
        accepted and changes nothing; a misspelt choice is refused before the load."""
        with infer.Model(model_path(SMOLLM2), experts="popularity") as model:
            p = model.placement()
        self.assertEqual((len(p.backends), p.n_experts_resident, p.n_experts), (1, 0, 0))
        with self.assertRaises(ValueError):
            infer.Model(model_path(SMOLLM2), experts="per-expert")
        # So is prefill streaming: every mode runs a dense model on the CPU the same.
        with infer.Model(model_path(SMOLLM2)) as model:
            for mode in ("auto", "cpu", "stream"):
                with infer.Context(model, n_ctx=32, expert_prefill=mode) as ctx:
                    ctx.decode([1, 2, 3])
            with self.assertRaises(ValueError):
                infer.Context(model, n_ctx=32, expert_prefill="gpu")

    def test_device_backend_without_a_device_is_unsupported(self):
        for backend in ("cuda", infer.BACKEND_VULKAN):
            try:
                available = infer.device_count(backend) > 0
            except infer.InferError:
                available = False
            if available:
                continue  # tests/gpu loads on real devices
            with self.assertRaises(infer.InferError) as caught:
                infer.Model(model_path(SMOLLM2), backend=backend, n_gpu_layers=8)
            self.assertEqual(caught.exception.status, 6)  # INFER_ERR_UNSUPPORTED

    def test_cpu_overrides_are_checked_and_change_nothing(self):
        """On a CPU model an override to the CPU is accepted (its pattern must match a weight)
        and leaves the placement as it was; one naming a device is refused."""
        path = model_path(SMOLLM2)
        with infer.Model(path) as model:
            plain = model.placement()
        for overrides in ([("ffn_up", "CPU")], {"ffn_(up|down)": infer.BACKEND_CPU}):
            with infer.Model(path, n_gpu_layers="auto", overrides=overrides) as model:
                placed = model.placement()
            self.assertEqual(placed.backends, plain.backends)
            self.assertEqual(placed.n_segments, 1)
        for overrides, words in (([("exps", "cpu")], "matches no weight"),
                                 ([("ffn_up", "cuda")], "neither the CPU"),
                                 ([("ffn_(up", "cpu")], "not a regex"),
                                 ([(None, "cpu")], "pattern is NULL")):
            with self.assertRaises(infer.InferError) as caught:
                infer.Model(path, overrides=overrides)
            self.assertEqual(caught.exception.status, 1)  # INFER_ERR_INVALID_ARGUMENT
            self.assertIn(words, caught.exception.message)

    def test_bad_layer_counts_and_names(self):
        with self.assertRaises(infer.InferError) as caught:
            infer.Model(model_path(SMOLLM2), n_gpu_layers=-3)
        self.assertEqual(caught.exception.status, 1)  # INFER_ERR_INVALID_ARGUMENT
        self.assertIn("n_gpu_layers", caught.exception.message)
        with self.assertRaises(ValueError):
            infer.Model(model_path(SMOLLM2), n_gpu_layers="most")
        with self.assertRaises(ValueError):
            infer.Model(model_path(SMOLLM2), backend="metal")


class Errors(unittest.TestCase):
    def test_missing_file_raises_with_status_and_message(self):
        with self.assertRaises(infer.InferError) as caught:
            infer.Model("/nonexistent/model.gguf")
        self.assertEqual(caught.exception.status, 3)  # INFER_ERR_IO
        self.assertEqual(caught.exception.name, "I/O error")
        self.assertIn("/nonexistent/model.gguf", caught.exception.message)

    def test_not_gguf_raises_bad_magic(self):
        with tempfile.NamedTemporaryFile(suffix=".gguf") as f:
            f.write(b"this is not a GGUF file at all")
            f.flush()
            with self.assertRaises(infer.InferError) as caught:
                infer.Model(f.name)
        self.assertEqual(caught.exception.status, 100)  # INFER_ERR_GGUF_BAD_MAGIC

    def test_bad_token_and_sampler_parameter(self):
        with infer.Model(model_path(SMOLLM2)) as model:
            with self.assertRaises(infer.InferError) as caught:
                model.token_to_piece(model.n_vocab)
            self.assertEqual(caught.exception.status, 301)  # INFER_ERR_BAD_TOKEN
            with self.assertRaises(infer.InferError) as caught:
                infer.Sampler(model.n_vocab, temperature=-1.0)
            self.assertEqual(caught.exception.status, 1)  # INFER_ERR_INVALID_ARGUMENT
            self.assertIn("temperature", caught.exception.message)

    def test_devices_describe_themselves(self):
        self.assertTrue(infer.device_describe("cpu").startswith("CPU "))
        with self.assertRaises(infer.InferError) as caught:
            infer.device_describe("cpu", 1)
        self.assertEqual(caught.exception.status, 1)  # INFER_ERR_INVALID_ARGUMENT
        try:
            vulkan = infer.device_count("vulkan")
        except infer.InferError:
            vulkan = 0
        if vulkan:
            self.assertIn(" kernels)", infer.device_describe("vulkan", 0))

    def test_version(self):
        self.assertRegex(infer.version(), r"^\d+\.\d+\.\d+$")


if __name__ == "__main__":
    unittest.main()
