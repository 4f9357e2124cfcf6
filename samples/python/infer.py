"""libinfer from Python through ctypes: a thin binding of the C API in include/infer.h.

Only the standard library is needed. The shared library is found, in order, at:
  1. the path in the environment variable INFER_LIBRARY;
  2. libinfer.so in the repository's build trees (build/release, build/dev), for a checkout;
  3. wherever the system linker finds libinfer (an installed library).

Every failing call raises InferError, which carries the status code, its name and the message of
infer_last_error(). Objects free their handles in close() (or on garbage collection); Model,
Context and Sampler are context managers.

    import infer
    with infer.Model("SmolLM2-135M-Instruct.Q4_1.gguf") as model:
        print(model.generate("The capital of France is", 16))
"""
import ctypes
import ctypes.util
import os
from dataclasses import dataclass
from pathlib import Path

# ---- Loading the library ----------------------------------------------------------------------


def _find_library():
    if os.environ.get("INFER_LIBRARY"):
        return os.environ["INFER_LIBRARY"]
    root = Path(__file__).resolve().parent.parent.parent
    for build in ("release", "dev"):
        candidate = root / "build" / build / "libinfer.so"
        if candidate.exists():
            return str(candidate)
    found = ctypes.util.find_library("infer")
    if found:
        return found
    raise OSError("libinfer not found: set INFER_LIBRARY to the path of libinfer.so")


_lib = ctypes.CDLL(_find_library())

_c_int32_p = ctypes.POINTER(ctypes.c_int32)
_c_float_p = ctypes.POINTER(ctypes.c_float)


class _TensorOverride(ctypes.Structure):
    _fields_ = [("pattern", ctypes.c_char_p), ("backend", ctypes.c_int32)]


class _ModelParams(ctypes.Structure):
    # Every field of infer_model_params, in its order: infer_model_params_init writes the whole
    # struct (sizeof in C), so a missing field here is a buffer overrun there.
    _fields_ = [("size", ctypes.c_uint32), ("inspect_only", ctypes.c_int32),
                ("progress", ctypes.c_void_p), ("progress_user_data", ctypes.c_void_p),
                ("backend", ctypes.c_int32), ("device", ctypes.c_int32),
                ("device_memory_budget", ctypes.c_uint64), ("read_into_memory", ctypes.c_int32),
                ("n_gpu_layers", ctypes.c_int32), ("overrides", ctypes.POINTER(_TensorOverride)),
                ("n_overrides", ctypes.c_int32), ("expert_placement", ctypes.c_int32),
                ("expert_stats_path", ctypes.c_char_p), ("calibration_text", ctypes.c_char_p),
                ("cpu_weights", ctypes.c_int32)]


class _PlacementBackend(ctypes.Structure):
    _fields_ = [("backend", ctypes.c_int32), ("weight_bytes", ctypes.c_uint64),
                ("n_nodes", ctypes.c_int32), ("n_layers", ctypes.c_int32)]


class _Placement(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("n_backends", ctypes.c_int32),
                ("backends", _PlacementBackend * 2), ("n_gpu_layers", ctypes.c_int32),
                ("n_segments", ctypes.c_int32), ("n_copies", ctypes.c_int32),
                ("copy_bytes_per_token", ctypes.c_uint64), ("n_experts_resident", ctypes.c_int32),
                ("n_experts", ctypes.c_int32), ("expert_bytes_resident", ctypes.c_uint64),
                ("expert_bytes", ctypes.c_uint64), ("context_reserve_bytes", ctypes.c_uint64)]


class _ContextParams(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("n_ctx", ctypes.c_uint32), ("n_batch", ctypes.c_uint32),
                ("n_threads", ctypes.c_int32), ("kv_type", ctypes.c_uint32),
                ("logits_all", ctypes.c_int32), ("abort_callback", ctypes.c_void_p),
                ("abort_user_data", ctypes.c_void_p), ("buffer", ctypes.c_void_p),
                ("buffer_size", ctypes.c_uint64), ("expert_prefill", ctypes.c_int32)]

_EXPERT_PREFILL = {"auto": 0, "cpu": 1, "stream": 2}


class _SamplerParams(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("temperature", ctypes.c_float),
                ("top_k", ctypes.c_int32), ("top_p", ctypes.c_float), ("min_p", ctypes.c_float),
                ("min_keep", ctypes.c_int32), ("repeat_penalty", ctypes.c_float),
                ("frequency_penalty", ctypes.c_float), ("presence_penalty", ctypes.c_float),
                ("penalty_last_n", ctypes.c_int32), ("seed", ctypes.c_uint64)]


class _ChatMessage(ctypes.Structure):
    _fields_ = [("role", ctypes.c_char_p), ("content", ctypes.c_char_p)]


def _declare(name, restype, *argtypes):
    function = getattr(_lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_status = ctypes.c_int
_p = ctypes.c_void_p
_size_p = ctypes.POINTER(ctypes.c_size_t)

_declare("infer_version", ctypes.c_char_p)
_declare("infer_version_number", ctypes.c_uint32)
_declare("infer_status_string", ctypes.c_char_p, _status)
_declare("infer_last_error", ctypes.c_char_p)
_declare("infer_model_params_init", None, ctypes.POINTER(_ModelParams))
_declare("infer_model_load_file", _status, ctypes.c_char_p, ctypes.POINTER(_ModelParams),
         ctypes.POINTER(_p))
_declare("infer_model_free", None, _p)
_declare("infer_backend_device_count", _status, ctypes.c_int32, _c_int32_p)
_declare("infer_backend_device_describe", _status, ctypes.c_int32, ctypes.c_int32,
         ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t))
_declare("infer_placement_init", None, ctypes.POINTER(_Placement))
_declare("infer_model_placement", _status, _p, ctypes.POINTER(_Placement))
_declare("infer_model_placement_text", _status, _p, ctypes.c_char_p, ctypes.c_size_t, _size_p)
_declare("infer_tokenize", _status, _p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int32,
         ctypes.c_int32, _c_int32_p, ctypes.c_size_t, _size_p)
_declare("infer_token_to_piece", _status, _p, ctypes.c_int32, ctypes.c_int32, ctypes.c_char_p,
         ctypes.c_size_t, _size_p)
_declare("infer_model_special_token", ctypes.c_int32, _p, ctypes.c_int32)
_declare("infer_model_n_vocab", ctypes.c_int32, _p)
_declare("infer_model_chat_template", _status, _p, ctypes.POINTER(ctypes.c_char_p))
_declare("infer_chat_apply_template", _status, _p, ctypes.c_char_p, ctypes.POINTER(_ChatMessage),
         ctypes.c_size_t, ctypes.c_int32, ctypes.c_char_p, ctypes.c_size_t, _size_p)
_declare("infer_context_params_init", None, ctypes.POINTER(_ContextParams))
_declare("infer_context_create", _status, _p, ctypes.POINTER(_ContextParams), ctypes.POINTER(_p))
_declare("infer_context_free", None, _p)
_declare("infer_decode", _status, _p, _c_int32_p, ctypes.c_uint32)
_declare("infer_context_logits", _status, _p, ctypes.c_int32, ctypes.POINTER(_c_float_p),
         ctypes.POINTER(ctypes.c_uint32))
_declare("infer_context_position", ctypes.c_uint32, _p)
_declare("infer_context_n_ctx", ctypes.c_uint32, _p)
_declare("infer_context_reset", _status, _p)
_declare("infer_context_truncate", _status, _p, ctypes.c_uint32)
_declare("infer_sampler_params_init", None, ctypes.POINTER(_SamplerParams))
_declare("infer_sampler_create", _status, ctypes.c_int32, ctypes.POINTER(_SamplerParams),
         ctypes.POINTER(_p))
_declare("infer_sampler_free", None, _p)
_declare("infer_sampler_sample", _status, _p, _c_float_p, _c_int32_p)
_declare("infer_sampler_accept", _status, _p, ctypes.c_int32)
_declare("infer_sampler_reset", None, _p)

# ---- Errors -----------------------------------------------------------------------------------

OK = 0
ERR_BUFFER_TOO_SMALL = 303
TOKEN_BOS, TOKEN_EOS, TOKEN_EOT, TOKEN_UNK, TOKEN_PAD = range(5)
BACKEND_CPU, BACKEND_CUDA, BACKEND_VULKAN = range(3)
GPU_LAYERS_ALL, GPU_LAYERS_AUTO = -1, -2
_BACKEND_NAMES = {"cpu": BACKEND_CPU, "cuda": BACKEND_CUDA, "vulkan": BACKEND_VULKAN}


class InferError(Exception):
    """A failed libinfer call: status (the infer_status number), name (infer_status_string) and
    message (infer_last_error at the time of the failure)."""

    def __init__(self, status, message):
        self.status = status
        self.name = _lib.infer_status_string(status).decode()
        self.message = message
        super().__init__(f"{self.name} ({status}): {message}")


def _check(status):
    if status != OK:
        raise InferError(status, _lib.infer_last_error().decode(errors="replace"))


def version():
    """The loaded library's version string, e.g. "0.1.0"."""
    return _lib.infer_version().decode()


def device_count(backend):
    """Usable devices of a backend (BACKEND_* or its name); raises InferError (UNSUPPORTED) for a
    backend this build lacks."""
    count = ctypes.c_int32(0)
    _check(_lib.infer_backend_device_count(_backend_id(backend), ctypes.byref(count)))
    return count.value


def device_describe(backend, device=0):
    """One line naming a backend's device and what libinfer uses of it ("CPU avx2"; a Vulkan
    device's features and kernel set); raises InferError for a device that does not exist."""
    return _call_text(_lib.infer_backend_device_describe, _backend_id(backend),
                      int(device)).decode(errors="replace")


def _backend_id(backend):
    """BACKEND_* from a number or a name in any case ("cpu", "CUDA", "vulkan")."""
    if isinstance(backend, str):
        if backend.lower() not in _BACKEND_NAMES:
            raise ValueError(f"unknown backend {backend!r}: one of {', '.join(_BACKEND_NAMES)}")
        return _BACKEND_NAMES[backend.lower()]
    return int(backend)


def _gpu_layers(n_gpu_layers):
    """infer_model_params.n_gpu_layers from a count, "all" or "auto"."""
    words = {"all": GPU_LAYERS_ALL, "auto": GPU_LAYERS_AUTO}
    if isinstance(n_gpu_layers, str):
        if n_gpu_layers not in words:
            raise ValueError(f"n_gpu_layers {n_gpu_layers!r}: a count, 'all' or 'auto'")
        return words[n_gpu_layers]
    return int(n_gpu_layers)


def _override_array(overrides):
    """A C array of infer_tensor_override from [(pattern, backend), ...] or {pattern: backend}.
    The patterns' bytes are kept alive by the array (ctypes keeps c_char_p sources in _objects).
    A pattern None goes through as NULL, for the library to refuse."""
    items = list(overrides.items()) if isinstance(overrides, dict) else list(overrides)
    array = (_TensorOverride * max(len(items), 1))()
    for slot, (pattern, backend) in zip(array, items):
        slot.pattern = pattern.encode() if isinstance(pattern, str) else pattern
        slot.backend = _backend_id(backend)
    return array, len(items)


@dataclass
class PlacementBackend:
    backend: int       # BACKEND_*
    weight_bytes: int  # weights it reads: the device's copy, or the CPU's in place
    n_nodes: int       # nodes of the one-token graph it runs
    n_layers: int      # repeating layers it runs entirely


@dataclass
class Placement:
    """Where a loaded model runs (infer_placement), with the readable plan in `text`."""
    backends: list     # PlacementBackend: the CPU first, then the device if any
    n_gpu_layers: int  # resolved: repeating layers on the device, +1 with the output layer
    n_segments: int
    n_copies: int
    copy_bytes_per_token: int
    n_experts_resident: int     # per-expert offload: (layer, expert) pairs the device holds
    n_experts: int              # of the pairs of the device's layers
    expert_bytes_resident: int
    expert_bytes: int
    text: str


def _call_text(function, *args):
    """Calls a snprintf-style function twice when needed: once for the length, once to fill."""
    length = ctypes.c_size_t(0)
    buf = ctypes.create_string_buffer(256)
    status = function(*args, buf, len(buf), ctypes.byref(length))
    if status == OK and length.value >= len(buf):  # truncated: the length is now known
        buf = ctypes.create_string_buffer(length.value + 1)
        status = function(*args, buf, len(buf), ctypes.byref(length))
    _check(status)
    return buf.raw[:length.value]


class _Handle:
    """Owns one C handle and frees it exactly once."""
    _free = None

    def __init__(self):
        self._handle = _p()

    def close(self):
        if self._handle:
            type(self)._free(self._handle)
            self._handle = _p()

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- Models -----------------------------------------------------------------------------------


class Model(_Handle):
    _free = _lib.infer_model_free

    def __init__(self, path, read_into_memory=False, backend=BACKEND_CPU, device=0,
                 n_gpu_layers=GPU_LAYERS_ALL, overrides=(), device_memory_budget=0,
                 experts="layer", expert_stats=None, calibration_text=None, cpu_repack=True):
        """read_into_memory: read the file into memory rather than map it, so that it may
        change or be deleted while the model lives (costs RAM of the file's size).
        backend, device: where contexts run (BACKEND_* or "cpu", "cuda", "vulkan"); a backend
        this build or machine lacks raises InferError UNSUPPORTED.
        n_gpu_layers: with a device backend, a count (the last N repeating layers), "all"
        (GPU_LAYERS_ALL, the default) or "auto" (GPU_LAYERS_AUTO).
        overrides: [(regex, backend), ...] or {regex: backend}, applied in order, the first
        match winning: weights whose name the regex matches live on that backend
        ({"exps": "cpu"} keeps MoE experts on the CPU).
        device_memory_budget: bytes of device memory for weights and contexts (0: the device's).
        experts: "layer" (routed experts follow their layers) or "popularity" (CPU-GPU expert
        offload: the device keeps the most popular (layer, expert) pairs the budget allows, the
        CPU computes the rest), with popularity from expert_stats (a file infer-bench
        --expert-stats wrote) or calibration_text (run through the model at load), else
        uniform.
        cpu_repack: repack the weights the CPU multiplies into its kernels' layout at load
        (the default; same results, faster), or False to read every weight in place."""
        super().__init__()
        params = _ModelParams()
        _lib.infer_model_params_init(ctypes.byref(params))
        params.read_into_memory = 1 if read_into_memory else 0
        params.cpu_weights = 0 if cpu_repack else 1  # INFER_CPU_WEIGHTS_REPACK / _IN_PLACE
        params.backend = _backend_id(backend)
        params.device = device
        params.n_gpu_layers = _gpu_layers(n_gpu_layers)
        array, params.n_overrides = _override_array(overrides)
        if params.n_overrides:
            params.overrides = array
        params.device_memory_budget = int(device_memory_budget)
        if experts not in ("layer", "popularity"):
            raise ValueError(f"experts {experts!r}: 'layer' or 'popularity'")
        params.expert_placement = 1 if experts == "popularity" else 0
        params.expert_stats_path = os.fsencode(expert_stats) if expert_stats else None
        params.calibration_text = calibration_text.encode() if calibration_text else None
        _check(_lib.infer_model_load_file(os.fsencode(path), ctypes.byref(params),
                                          ctypes.byref(self._handle)))

    def placement(self):
        """Where the model runs: a Placement with per-backend numbers and the plan as text."""
        raw = _Placement()
        _lib.infer_placement_init(ctypes.byref(raw))
        _check(_lib.infer_model_placement(self._handle, ctypes.byref(raw)))
        backends = [PlacementBackend(b.backend, b.weight_bytes, b.n_nodes, b.n_layers)
                    for b in raw.backends[:raw.n_backends]]
        text = _call_text(_lib.infer_model_placement_text, self._handle).decode()
        return Placement(backends, raw.n_gpu_layers, raw.n_segments, raw.n_copies,
                         raw.copy_bytes_per_token, raw.n_experts_resident, raw.n_experts,
                         raw.expert_bytes_resident, raw.expert_bytes, text)

    @property
    def n_vocab(self):
        return _lib.infer_model_n_vocab(self._handle)

    def special_token(self, which):
        """The id of TOKEN_BOS, TOKEN_EOS, ...; -1 when the model has none."""
        return _lib.infer_model_special_token(self._handle, which)

    def tokenize(self, text, add_special=True, parse_special=False):
        data = text.encode() if isinstance(text, str) else bytes(text)
        count = ctypes.c_size_t(0)
        status = _lib.infer_tokenize(self._handle, data, len(data), int(add_special),
                                     int(parse_special), None, 0, ctypes.byref(count))
        if status != ERR_BUFFER_TOO_SMALL:
            _check(status)
        ids = (ctypes.c_int32 * max(count.value, 1))()
        _check(_lib.infer_tokenize(self._handle, data, len(data), int(add_special),
                                   int(parse_special), ids, count.value, ctypes.byref(count)))
        return list(ids[:count.value])

    def token_to_piece(self, token, skip_special=True):
        """The bytes of one token (possibly part of a UTF-8 sequence)."""
        return _call_text(_lib.infer_token_to_piece, self._handle, token, int(skip_special))

    def detokenize(self, tokens, skip_special=True):
        return b"".join(self.token_to_piece(t, skip_special) for t in tokens).decode(
            errors="replace")

    def chat_template(self):
        """The name of the format of the model's own chat template ("chatml", ...)."""
        name = ctypes.c_char_p()
        _check(_lib.infer_model_chat_template(self._handle, ctypes.byref(name)))
        return name.value.decode()

    def apply_chat_template(self, messages, add_generation_prompt=True, template=None):
        """Renders [{"role": ..., "content": ...}, ...] into the model's prompt text."""
        array = (_ChatMessage * max(len(messages), 1))()
        for slot, message in zip(array, messages):
            slot.role = message["role"].encode()
            slot.content = message["content"].encode()
        name = template.encode() if template else None
        return _call_text(_lib.infer_chat_apply_template, self._handle, name, array,
                          len(messages), int(add_generation_prompt)).decode()

    def generate(self, prompt, n_tokens, **sampler_args):
        """Convenience: the token ids that follow `prompt` (text or ids), at most n_tokens, ending
        early at an end-of-sequence or end-of-turn token; greedy unless sampler_args say else."""
        ids = self.tokenize(prompt) if isinstance(prompt, str) else list(prompt)
        stops = {self.special_token(TOKEN_EOS), self.special_token(TOKEN_EOT)} - {-1}
        sampler_args.setdefault("temperature", 0.0)
        with Context(self, n_ctx=len(ids) + n_tokens) as ctx, \
                Sampler(self.n_vocab, **sampler_args) as sampler:
            ctx.decode(ids)
            out = []
            while len(out) < n_tokens:
                token = sampler.sample(ctx.logits())
                sampler.accept(token)
                if token in stops:
                    break
                out.append(token)
                ctx.decode([token])
            return out


# ---- Contexts ---------------------------------------------------------------------------------


class Context(_Handle):
    _free = _lib.infer_context_free

    def __init__(self, model, n_ctx=0, n_batch=0, n_threads=0, expert_prefill="auto"):
        """expert_prefill: with experts off the device (Model(experts="popularity")), how prompts
        compute them: "auto" (the cost model, per expert), "cpu", or "stream" (copied to the
        device)."""
        super().__init__()
        self._model = model  # the model must outlive the context
        if expert_prefill not in _EXPERT_PREFILL:
            raise ValueError(f"expert_prefill must be one of {sorted(_EXPERT_PREFILL)}, "
                             f"not {expert_prefill!r}")
        params = _ContextParams()
        _lib.infer_context_params_init(ctypes.byref(params))
        params.n_ctx = n_ctx
        if n_batch:
            params.n_batch = n_batch
        params.n_threads = n_threads
        params.expert_prefill = _EXPERT_PREFILL[expert_prefill]
        _check(_lib.infer_context_create(model._handle, ctypes.byref(params),
                                         ctypes.byref(self._handle)))

    def decode(self, tokens):
        ids = (ctypes.c_int32 * max(len(tokens), 1))(*tokens)
        _check(_lib.infer_decode(self._handle, ids, len(tokens)))

    def logits(self, index=-1):
        """The logits of the last decode call as a ctypes float array (valid until the next call
        that changes the context: copy with list() to keep them)."""
        data = _c_float_p()
        n_vocab = ctypes.c_uint32(0)
        _check(_lib.infer_context_logits(self._handle, index, ctypes.byref(data),
                                         ctypes.byref(n_vocab)))
        return ctypes.cast(data, ctypes.POINTER(ctypes.c_float * n_vocab.value)).contents

    @property
    def position(self):
        return _lib.infer_context_position(self._handle)

    @property
    def n_ctx(self):
        return _lib.infer_context_n_ctx(self._handle)

    def reset(self):
        _check(_lib.infer_context_reset(self._handle))

    def truncate(self, n_keep):
        _check(_lib.infer_context_truncate(self._handle, n_keep))


# ---- Samplers ---------------------------------------------------------------------------------


class Sampler(_Handle):
    _free = _lib.infer_sampler_free

    def __init__(self, n_vocab, **params):
        """params: any infer_sampler_params field (temperature, top_k, top_p, min_p, seed, ...);
        the others keep the library's defaults."""
        super().__init__()
        self.n_vocab = n_vocab
        p = _SamplerParams()
        _lib.infer_sampler_params_init(ctypes.byref(p))
        for name, value in params.items():
            if name == "size" or name not in dict(_SamplerParams._fields_):
                raise TypeError(f"unknown sampler parameter {name!r}")
            setattr(p, name, value)
        _check(_lib.infer_sampler_create(n_vocab, ctypes.byref(p), ctypes.byref(self._handle)))

    def sample(self, logits):
        if len(logits) != self.n_vocab:
            raise ValueError(f"{len(logits)} logits for a sampler of {self.n_vocab}")
        if not isinstance(logits, ctypes.Array):
            logits = (ctypes.c_float * len(logits))(*logits)
        token = ctypes.c_int32(0)
        _check(_lib.infer_sampler_sample(self._handle, ctypes.cast(logits, _c_float_p),
                                         ctypes.byref(token)))
        return token.value

    def accept(self, token):
        _check(_lib.infer_sampler_accept(self._handle, token))

    def reset(self):
        _lib.infer_sampler_reset(self._handle)
