/*
 * libinfer: embedded on-device LLM inference. The whole public C API.
 *
 * Conventions (they hold for every function below unless its comment says otherwise):
 * - Every fallible call returns an infer_status. INFER_OK is 0; anything else is an error whose
 *   human-readable message is available from infer_last_error() on the calling thread.
 * - Handles are opaque. An infer_model is immutable once loaded and may be used from any number of
 *   threads at once. Free functions accept NULL.
 * - Parameter and result structs start with a `size` field and must be prepared with their
 *   *_init() function, so that later versions can add fields without breaking callers built
 *   against an older header.
 * - Text buffers follow snprintf: the call writes at most `capacity` bytes including the
 *   terminating NUL (nothing when capacity is 0) and stores the full length without the NUL in
 *   *out_length; the text was truncated exactly when *out_length >= capacity.
 * - Strings returned as `const char*` are owned by the object they came from and stay valid until
 *   it is freed.
 * - No exception or abort() crosses this API: bad input yields a status.
 */
#ifndef INFER_H
#define INFER_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define INFER_API __declspec(dllexport)
#elif defined(__GNUC__)
#define INFER_API __attribute__((visibility("default")))
#else
#define INFER_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ------------------------------------------------------------------------------ */

#define INFER_VERSION_MAJOR 0
#define INFER_VERSION_MINOR 1
#define INFER_VERSION_PATCH 0

/* The version of the library actually loaded, as "MAJOR.MINOR.PATCH"; compare with the macros
 * above to detect a header/library mismatch. */
INFER_API const char *infer_version(void);
/* The same as MAJOR * 10000 + MINOR * 100 + PATCH. */
INFER_API uint32_t infer_version_number(void);

/* ---- Status codes ------------------------------------------------------------------------- */

/* Grouped by range: 1-99 general, 100-199 GGUF container, 200-299 model binding,
 * 300-399 runtime. Values never change once released. */
typedef enum infer_status {
    INFER_OK = 0,

    INFER_ERR_INVALID_ARGUMENT = 1, /* NULL where a value is required, bad struct size, ... */
    INFER_ERR_OUT_OF_MEMORY = 2,
    INFER_ERR_IO = 3,               /* open/stat/mmap failed */
    INFER_ERR_CANCELLED = 4,        /* a progress or abort callback asked to stop */
    INFER_ERR_NOT_FOUND = 5,        /* no such key, tensor or index */
    INFER_ERR_UNSUPPORTED = 6,      /* valid request this build or machine cannot serve */
    INFER_ERR_INTERNAL = 7,         /* a bug in libinfer; please report it */
    INFER_ERR_TYPE_MISMATCH = 8,    /* a metadata value asked for as the wrong type */

    INFER_ERR_GGUF_BAD_MAGIC = 100,      /* not a GGUF file */
    INFER_ERR_GGUF_BAD_VERSION = 101,    /* version other than 2 or 3, or big-endian */
    INFER_ERR_GGUF_TRUNCATED = 102,      /* the header ends before a structure it announces */
    INFER_ERR_GGUF_LIMIT = 103,          /* a count or length beyond what the file can hold */
    INFER_ERR_GGUF_BAD_VALUE_TYPE = 104, /* unknown metadata value type */
    INFER_ERR_GGUF_BAD_TENSOR_TYPE = 105,/* unknown or retired tensor type id */
    INFER_ERR_GGUF_BAD_SHAPE = 106,      /* rank, zero or overflowing dimensions, partial blocks */
    INFER_ERR_GGUF_BAD_ALIGNMENT = 107,  /* general.alignment malformed, or misaligned tensor data */
    INFER_ERR_GGUF_OUT_OF_BOUNDS = 108,  /* tensor data past the end of the file */
    INFER_ERR_GGUF_OVERLAP = 109,        /* two tensors share bytes */
    INFER_ERR_GGUF_DUPLICATE = 110,      /* a key or tensor name appears twice */
    INFER_ERR_GGUF_BAD_STRING = 111,     /* empty key, or a key/name that is not valid UTF-8 */

    INFER_ERR_MODEL_UNKNOWN_ARCH = 200,   /* general.architecture missing or not supported */
    INFER_ERR_MODEL_MISSING_TENSOR = 201,
    INFER_ERR_MODEL_TENSOR_SHAPE = 202,
    INFER_ERR_MODEL_TENSOR_TYPE = 203,    /* a tensor type the model's op cannot use */
    INFER_ERR_MODEL_BAD_HPARAM = 204,     /* a hyperparameter missing or out of range */
    INFER_ERR_MODEL_BAD_VOCAB = 205,      /* tokenizer metadata missing, inconsistent or unsupported */

    INFER_ERR_CONTEXT_FULL = 300,  /* the tokens do not fit in the context; nothing was changed */
    INFER_ERR_BAD_TOKEN = 301,     /* a token id outside [0, n_vocab) */
    INFER_ERR_BAD_STATE = 302,     /* a saved state that does not fit this model and context */
    INFER_ERR_BUFFER_TOO_SMALL = 303 /* a caller-provided buffer is smaller than required */
} infer_status;

/* A short constant description of a status ("GGUF file truncated"); never NULL. */
INFER_API const char *infer_status_string(infer_status status);

/* The message of the last failed call made on this thread, naming the key, tensor or byte offset
 * where that applies; "" if none. Valid until the next libinfer call on this thread. */
INFER_API const char *infer_last_error(void);

/* ---- Logging ------------------------------------------------------------------------------ */

enum { INFER_LOG_ERROR = 0, INFER_LOG_WARN = 1, INFER_LOG_INFO = 2, INFER_LOG_DEBUG = 3 };

/* Receives one complete line (no trailing newline). May be called from any thread that runs a
 * libinfer call, concurrently. */
typedef void (*infer_log_fn)(int32_t level, const char *message, void *user_data);

/* Installs the process-wide log sink and the most verbose level passed to it. fn NULL restores
 * the default (warnings and errors to stderr). Thread-safe, but a sink must stay callable until it
 * has been replaced and every libinfer call that started before the replacement has returned. */
INFER_API void infer_set_log_callback(infer_log_fn fn, void *user_data, int32_t max_level);

/* ---- Backends ----------------------------------------------------------------------------- */

enum { INFER_BACKEND_CPU = 0, INFER_BACKEND_CUDA = 1, INFER_BACKEND_VULKAN = 2 };

/* Number of usable devices of a backend on this machine (the CPU backend has 1). A backend that
 * this build does not include returns INFER_ERR_UNSUPPORTED; one that is built in but finds no
 * device or driver stores 0 and returns INFER_OK, with the reason in infer_last_error(). */
INFER_API infer_status infer_backend_device_count(int32_t backend, int32_t *out_count);

/* One line naming device `device` of `backend` and what libinfer uses of it, for reports and logs:
 * the CPU's kernel level; a CUDA device's compute capability, multiprocessors and memory; a
 * Vulkan device's name, API version and type, the optional features the backend uses (after
 * INFER_VULKAN_DISABLE) and its kernel set. Text buffer rules as above. INFER_ERR_INVALID_ARGUMENT
 * for a device that does not exist; INFER_ERR_UNSUPPORTED for a backend this build lacks. */
INFER_API infer_status infer_backend_device_describe(int32_t backend, int32_t device, char *buf,
                                                     size_t capacity, size_t *out_length);

/* The instruction-set level the CPU backend's kernels use on this machine: "avx512vnni" or
 * "avx2" on x86, "i8mm", "dotprod" or "neon" on ARM, "scalar" (the portable kernels) anywhere.
 * Chosen once per process; never NULL. */
INFER_API const char *infer_cpu_kernel_level(void);

/* ---- Memory bandwidth --------------------------------------------------------------------- */

/* The streaming read bandwidth of this machine's memory as n_threads threads (0..1024; 0 = one
 * per core) see it, in bytes per second: the best of five reads of a 512 MiB buffer split into one
 * contiguous share per thread. It is the ceiling of every bandwidth-bound figure, such as a
 * decode step's weight bytes per second. A probe for tools: it allocates the buffer, starts its own
 * threads and takes about a second; run it while nothing else is busy, since whatever else runs
 * shares the bandwidth it measures. Thread-safe (touches no shared state). */
INFER_API infer_status infer_measure_read_bandwidth(int32_t n_threads, double *bytes_per_second);

/* ---- Models ------------------------------------------------------------------------------- */

typedef struct infer_model infer_model;

/* Called during loading with progress in [0, 1]; return 0 to cancel the load, which then fails
 * with INFER_ERR_CANCELLED. Runs on the loading thread. */
typedef int32_t (*infer_progress_fn)(float progress, void *user_data);

/* infer_model_params.n_gpu_layers besides a count. */
#define INFER_GPU_LAYERS_ALL (-1)
#define INFER_GPU_LAYERS_AUTO (-2)

/* infer_model_params.expert_placement. */
#define INFER_EXPERTS_BY_LAYER 0
#define INFER_EXPERTS_BY_POPULARITY 1

/* infer_model_params.cpu_weights */
#define INFER_CPU_WEIGHTS_REPACK 0
#define INFER_CPU_WEIGHTS_IN_PLACE 1

typedef struct infer_tensor_override {
    const char *pattern; /* regex (PCRE2 syntax), searched in each weight's name */
    int32_t backend;     /* INFER_BACKEND_* */
} infer_tensor_override;

typedef struct infer_model_params {
    uint32_t size; /* sizeof(infer_model_params), set by infer_model_params_init */
    /* Nonzero: parse and validate the GGUF container only, without binding an architecture, so
     * that any GGUF file can be inspected; such a model cannot create contexts. Default 0. */
    int32_t inspect_only;
    infer_progress_fn progress;
    void *progress_user_data;
    /* Where contexts of this model run: INFER_BACKEND_CPU (default) or INFER_BACKEND_CUDA. CUDA
     * uploads every weight to the device during the load (progress continues over the upload)
     * and keeps the KV cache and activations of each context on it. No CUDA device or driver,
     * or a build without CUDA: INFER_ERR_UNSUPPORTED (the CPU backend keeps working). A CUDA
     * context cannot use a caller-provided buffer (infer_context_params.buffer). */
    int32_t backend;
    int32_t device;                /* device index for CUDA (see infer_backend_device_count) */
    /* Most bytes of device memory the weights and all contexts of this model may use; 0 = no
     * limit but the card's. Exceeding it, or the card, is INFER_ERR_OUT_OF_MEMORY at load or at
     * context creation. */
    uint64_t device_memory_budget;
    /* How infer_model_load_file holds the file. 0 (default): map it. The mapping shares the OS
     * page cache (several processes share one copy), loads at once, and lets the OS evict cold
     * weights under memory pressure; but the file must stay unchanged while the model lives.
     * Nonzero: read the whole file into memory of the model's own at load (progress covers the
     * read): the model no longer depends on the file, which may then be changed or deleted, at
     * the cost of anonymous memory equal to the file size and a load as slow as reading it.
     * Ignored by infer_model_load_memory. */
    int32_t read_into_memory;
    /* Placement on the device named by `backend` (ignored for INFER_BACKEND_CPU). Layers the
     * device does not hold run on the CPU, reading their weights in place; activations cross
     * between the two at the boundaries, through pinned memory.
     * n_gpu_layers: INFER_GPU_LAYERS_ALL (the default: everything on the device), a count N
     * (llama.cpp's -ngl: the last N repeating layers, and the output layer too when N exceeds
     * the layer count; the token embedding goes with the first layer), or INFER_GPU_LAYERS_AUTO
     * (the most layers whose weights fit device_memory_budget, or the device's free memory,
     * leaving room for a default context). Weights of the chosen layers that exceed the budget:
     * INFER_ERR_OUT_OF_MEMORY at load, naming how many layers would fit. */
    int32_t n_gpu_layers;
    /* Per-tensor overrides, applied in order, the first match winning (llama.cpp's
     * --override-tensor): weights whose name the regex `pattern` (PCRE2, Perl syntax) finds a
     * match in live on `backend` (INFER_BACKEND_CPU or the model's device), and the nodes reading
     * them run there. {"exps", INFER_BACKEND_CPU} keeps every routed expert on the CPU. A pattern that
     * matches no weight, or is not a regex: INFER_ERR_INVALID_ARGUMENT. The array and its strings
     * are read during the load only. */
    const struct infer_tensor_override *overrides;
    int32_t n_overrides;
    /* Routed experts of a mixture-of-experts model on a device (ignored on the CPU and for dense
     * models). INFER_EXPERTS_BY_LAYER (default): experts follow their layers and the overrides,
     * as in llama.cpp. INFER_EXPERTS_BY_POPULARITY (CPU-GPU expert offload): every other weight
     * of the device's layers goes to the device, then routed experts one (layer, expert) pair at
     * a time, the most popular first, while device_memory_budget allows (after a reserve for a
     * default context; 0: the device's memory). The others are computed on the CPU from the
     * model file: a token's activation goes to the CPU and back, not the weights, and the CPU's
     * experts run while the device computes its own. Popularity comes from expert_stats_path
     * (the TSV infer-bench --expert-stats writes: a line "layer<TAB>expert<TAB>count" then one
     * line per pair; a file of a model with other layer or expert counts is
     * INFER_ERR_INVALID_ARGUMENT), else from running calibration_text through the model on the
     * CPU during the load, else every expert is equally likely. infer_model_placement_text shows
     * the result. The strings are read during the load only. */
    int32_t expert_placement;
    const char *expert_stats_path;
    const char *calibration_text;
    /* How the CPU holds the weights it alone multiplies (every weight of a CPU model; on a
     * device, those of the layers left to the CPU, except experts split between the two).
     * INFER_CPU_WEIGHTS_REPACK (default): on x86 with AVX2, at load it copies them into memory
     * of the model's own, in 2 MiB pages where the system grants them (decode streams those
     * faster), in an interleaved layout where its kernels read one faster (today Q4_0, Q8_0,
     * Q4_1, Q4_K and Q6_K; expert stacks of other types stay in place), and hands the file's
     * pages of them back, so resident memory stays about the file's size, but that memory is
     * the process's own rather than the shared page cache, and the load reads those weights
     * once (infer_model_info.cpu_repacked_bytes says how much). Results are bit-identical
     * either way. INFER_CPU_WEIGHTS_IN_PLACE: read every weight from the image as it is
     * (several processes mapping one file share it). A model loaded from caller memory
     * (infer_model_load_memory) always reads in place. */
    int32_t cpu_weights;
} infer_model_params;

INFER_API void infer_model_params_init(infer_model_params *params);

/* Maps the file read-only and validates it completely: the container, the architecture
 * (general.architecture must be one libinfer implements), every tensor the architecture needs
 * (name, shape, and a type the CPU backend can compute with). params may be NULL for defaults.
 * The path must name a regular file (a FIFO, device, directory or empty file: INFER_ERR_IO,
 * without blocking). Mapped (the default), the file must stay unchanged until infer_model_free:
 * weights are read from it on use, so truncating or rewriting it in place, even by another
 * process, can kill this process with SIGBUS at the next decode (replacing it by rename, or
 * deleting it, is safe). With params->read_into_memory the file is read once at load and may
 * then change freely; a file that changes size during that read fails with INFER_ERR_IO. */
INFER_API infer_status infer_model_load_file(const char *path, const infer_model_params *params,
                                             infer_model **out_model);

/* The same from a GGUF image in memory. The caller keeps [data, data + size) alive and unchanged
 * until infer_model_free; libinfer does not copy it. */
INFER_API infer_status infer_model_load_memory(const void *data, size_t size,
                                               const infer_model_params *params,
                                               infer_model **out_model);

INFER_API void infer_model_free(infer_model *model);

typedef struct infer_model_info {
    uint32_t size;                /* sizeof(infer_model_info), set by infer_model_info_init */
    uint32_t gguf_version;
    const char *architecture;     /* general.architecture, "" when absent */
    const char *name;             /* general.name, "" when absent */
    uint64_t n_metadata;
    uint64_t n_tensors;
    uint64_t n_elements;          /* sum over all tensors */
    uint64_t tensor_data_bytes;   /* sum of tensor sizes */
    uint64_t file_size;
    uint64_t data_offset;         /* where the tensor data section starts in the file */
    uint32_t alignment;           /* of tensor data, from general.alignment (default 32) */
    /* Mixture of experts (0 and 0 for a dense or inspect-only model): */
    uint32_t n_expert;            /* routed experts per layer */
    uint32_t n_expert_used;       /* experts each token runs through */
    /* Bytes of the CPU's repacked copies of weights (infer_model_params.cpu_weights), whose
     * pages of the file it handed back; 0 when it reads every weight in place. */
    uint64_t cpu_repacked_bytes;
    uint32_t cpu_repacked_weights; /* how many weights those are */
} infer_model_info;

INFER_API void infer_model_info_init(infer_model_info *info);
INFER_API infer_status infer_model_get_info(const infer_model *model, infer_model_info *info);

/* Where a loaded model runs, per backend (index 0 the CPU, 1 the device when there is one). */
typedef struct infer_placement_backend {
    int32_t backend;          /* INFER_BACKEND_* */
    uint64_t weight_bytes;    /* weights it reads: the device's copy, or the CPU's in place */
    int32_t n_nodes;          /* nodes of the one-token graph it runs */
    int32_t n_layers;         /* repeating layers it runs entirely */
} infer_placement_backend;

typedef struct infer_placement {
    uint32_t size;                       /* set by infer_placement_init */
    int32_t n_backends;                  /* 1 (CPU only) or 2 */
    infer_placement_backend backends[2];
    int32_t n_gpu_layers;                /* resolved: repeating layers on the device, +1 with the
                                            output layer */
    int32_t n_segments;                  /* runs of consecutive nodes on one backend, per step */
    int32_t n_copies;                    /* activations copied between backends per step */
    uint64_t copy_bytes_per_token;       /* their bytes for a one-token step */
    /* Per-expert offload (infer_model_params.expert_placement); zeros otherwise. */
    int32_t n_experts_resident;          /* (layer, expert) pairs the device holds */
    int32_t n_experts;                   /* pairs of the device's layers */
    uint64_t expert_bytes_resident;      /* their bytes on the device */
    uint64_t expert_bytes;               /* every expert of the device's layers, as uploaded */
    uint64_t context_reserve_bytes;      /* of the budget, kept free for contexts */
} infer_placement;

INFER_API void infer_placement_init(infer_placement *placement);
INFER_API infer_status infer_model_placement(const infer_model *model, infer_placement *out);
/* The same as readable text (one line per layer, the copies, every fallback), snprintf-style:
 * writes at most `capacity` bytes including the NUL and stores the full length. */
INFER_API infer_status infer_model_placement_text(const infer_model *model, char *buf,
                                                  size_t capacity, size_t *out_length);

/* ---- Metadata ----------------------------------------------------------------------------- */

/* GGUF metadata value types; the numbers are the file format's. */
enum {
    INFER_META_U8 = 0, INFER_META_I8 = 1, INFER_META_U16 = 2, INFER_META_I16 = 3,
    INFER_META_U32 = 4, INFER_META_I32 = 5, INFER_META_F32 = 6, INFER_META_BOOL = 7,
    INFER_META_STRING = 8, INFER_META_ARRAY = 9, INFER_META_U64 = 10, INFER_META_I64 = 11,
    INFER_META_F64 = 12
};

/* Keys are in file order, index 0 .. n_metadata-1. */
INFER_API infer_status infer_model_meta_key(const infer_model *model, uint64_t index,
                                            const char **out_key);

/* The value's type; for arrays also the element type and count (out pointers may be NULL). */
INFER_API infer_status infer_model_meta_type(const infer_model *model, const char *key,
                                             int32_t *out_type, int32_t *out_elem_type,
                                             uint64_t *out_count);

/* Scalar values. Any integer or bool type reads as int64 (a u64 above INT64_MAX is
 * INFER_ERR_TYPE_MISMATCH); float and integer types read as double; only strings as string. */
INFER_API infer_status infer_model_meta_int(const infer_model *model, const char *key,
                                            int64_t *out_value);
INFER_API infer_status infer_model_meta_float(const infer_model *model, const char *key,
                                              double *out_value);
INFER_API infer_status infer_model_meta_string(const infer_model *model, const char *key, char *buf,
                                               size_t capacity, size_t *out_length);

/* Elements of a (non-nested) array value, with the same conversions as the scalar getters. */
INFER_API infer_status infer_model_meta_array_int(const infer_model *model, const char *key,
                                                  uint64_t index, int64_t *out_value);
INFER_API infer_status infer_model_meta_array_float(const infer_model *model, const char *key,
                                                    uint64_t index, double *out_value);
INFER_API infer_status infer_model_meta_array_string(const infer_model *model, const char *key,
                                                     uint64_t index, char *buf, size_t capacity,
                                                     size_t *out_length);

/* Any value as text, the way infer-inspect prints it: arrays longer than max_array_elems show
 * their first elements followed by "... (N total)"; strings are quoted with C escapes. */
INFER_API infer_status infer_model_meta_format(const infer_model *model, const char *key,
                                               uint64_t max_array_elems, char *buf,
                                               size_t capacity, size_t *out_length);

/* ---- Tensors ------------------------------------------------------------------------------ */

#define INFER_MAX_DIMS 4

typedef struct infer_tensor_info {
    uint32_t size;            /* sizeof(infer_tensor_info), set by infer_tensor_info_init */
    uint32_t type;            /* ggml type id (0 F32, 1 F16, 2 Q4_0, ... see infer_type_name) */
    const char *name;
    uint32_t n_dims;
    uint64_t dims[INFER_MAX_DIMS]; /* dims[0] is the contiguous one; unused entries are 1 */
    uint64_t n_elements;
    uint64_t n_bytes;
    uint64_t offset;          /* absolute byte offset of the data in the file */
} infer_tensor_info;

INFER_API void infer_tensor_info_init(infer_tensor_info *info);
/* Tensors are in file order, index 0 .. n_tensors-1. */
INFER_API infer_status infer_model_tensor_info(const infer_model *model, uint64_t index,
                                               infer_tensor_info *info);
INFER_API infer_status infer_model_find_tensor(const infer_model *model, const char *name,
                                               uint64_t *out_index);

/* The ggml name of a tensor type id ("Q4_K"), or NULL for an unknown id. */
INFER_API const char *infer_type_name(uint32_t type);

/* ---- Tokens ------------------------------------------------------------------------------- */

/* Tokenization matches llama.cpp token for token. A model loaded inspect_only has no vocabulary:
 * these calls return INFER_ERR_UNSUPPORTED for it (and -1 / 0 from the int32_t getters). */

/* Token ids of text (UTF-8, `length` bytes). add_special: add BOS/EOS as the model's metadata says.
 * parse_special: recognize special-token text like "<|im_start|>". Writes at most `capacity` ids and
 * stores the full count in *out_count; INFER_ERR_BUFFER_TOO_SMALL when capacity is less (nothing else
 * changes). Thread-safe on a shared model. Extra memory is linear in the text (about 31 bytes per
 * byte at worst); one piece the tokenizer merges as a whole (a pre-tokenizer word, or for
 * SentencePiece the whole text with each space written as U+2581) of 2 GiB or more is
 * INFER_ERR_OUT_OF_MEMORY. Bytes that a byte-level BPE vocabulary has no token for are dropped,
 * as llama.cpp drops them. */
INFER_API infer_status infer_tokenize(const infer_model *model, const char *text, size_t length,
                                      int32_t add_special, int32_t parse_special, int32_t *tokens,
                                      size_t capacity, size_t *out_count);

/* The bytes of one token (snprintf rules; pieces may be partial UTF-8: a streaming caller holds
 * back an incomplete sequence until a later piece completes it). skip_special: "" for control
 * tokens. INFER_ERR_BAD_TOKEN for an id outside [0, n_vocab). */
INFER_API infer_status infer_token_to_piece(const infer_model *model, int32_t token,
                                            int32_t skip_special, char *buf, size_t capacity,
                                            size_t *out_length);

enum {
    INFER_TOKEN_BOS = 0,
    INFER_TOKEN_EOS = 1,
    INFER_TOKEN_EOT = 2, /* end of turn: tokenizer.ggml.eot_token_id, else found by its text */
    INFER_TOKEN_UNK = 3,
    INFER_TOKEN_PAD = 4
};

/* Special token ids, -1 when the model has none (or `which` is not one of INFER_TOKEN_*). */
INFER_API int32_t infer_model_special_token(const infer_model *model, int32_t which);
/* Tokens in the vocabulary; 0 for NULL or an inspect-only model. */
INFER_API int32_t infer_model_n_vocab(const infer_model *model);

/* ---- Chat templates ----------------------------------------------------------------------- */

/* A conversation turn. role is "system", "user" or "assistant"; both strings are UTF-8 and
 * NUL-terminated, and only read during the call. */
typedef struct infer_chat_message {
    const char *role;
    const char *content;
} infer_chat_message;

/* The name of the format the model's own template (tokenizer.chat_template) is recognized as, one
 * of those infer_chat_apply_template accepts:
 *   "chatml"            <|im_start|>role ... <|im_end|> (SmolLM2, Qwen2.5 with their default
 *                       system prompts, Qwen3 with its <think> handling of assistant history)
 *   "gemma"             <start_of_turn>user/model; Gemma 3 folds a system message into the first
 *                       user turn, Gemma 1 and 2 refuse one
 *   "llama3"            Llama 3.0 headers
 *   "llama3.1"          Llama 3.1/3.3: a system header with "Today Date: 26 Jul 2024"
 *   "llama3.2"          Llama 3.2: the same with today's local date
 *   "mistral-v1", "mistral-v3", "mistral-v3-tekken", "mistral-v7"   Mistral's [INST] spellings
 *   "gpt-oss"           gpt-oss's harmony: the default system header (today's local date,
 *                       reasoning "medium"), a leading system message as the developer's
 *                       "# Instructions", answers in the final channel
 *   "deepseek-v3.1"     DeepSeek-V3.1: system messages first, "<｜User｜>" turns, answers opened
 *                       by "<｜Assistant｜><think></think>" (thinking off) and reasoning before
 *                       "</think>" dropped
 * INFER_ERR_NOT_FOUND when the model has no template (INFER_ERR_TYPE_MISMATCH when it is not a
 * string); INFER_ERR_UNSUPPORTED when its text is not one libinfer recognizes (the message says so;
 * pass a name to infer_chat_apply_template to choose a format anyway). The string is static. Works
 * on inspect_only models. */
INFER_API infer_status infer_model_chat_template(const infer_model *model, const char **out_name);

/* Renders messages into the prompt text the model was trained on, byte for byte what the model's
 * Jinja template renders (with its bos_token/eos_token texts) for plain conversations; tool calls
 * and per-message extras (reasoning_content, images) are not part of this API. template_name
 * NULL: the model's own template, recognized as above; otherwise one of the names, which selects
 * the generic format -- unless the model's own template is recognized as that same name, whose
 * details (a default system prompt) are then kept. add_generation_prompt nonzero: end with the
 * opening of an assistant turn (Mistral templates write none: their text ends where the answer
 * goes). At least one message; a role other than system/user/assistant, a NULL role or content,
 * or an order the template refuses (Gemma and Mistral v1/v3 require user/assistant alternation
 * after an optional leading system message; Gemma 1/2 refuse a system message) is
 * INFER_ERR_INVALID_ARGUMENT with the template's own complaint. Needs the vocabulary (not
 * inspect_only). snprintf buffer rules. Thread-safe on a shared model. Tokenize the result with
 * parse_special = 1, and add_special = 0 when the text already starts with the BOS text. */
INFER_API infer_status infer_chat_apply_template(const infer_model *model, const char *template_name,
                                                 const infer_chat_message *messages,
                                                 size_t n_messages, int32_t add_generation_prompt,
                                                 char *buf, size_t capacity, size_t *out_length);

/* ---- Contexts ----------------------------------------------------------------------------- */

/* A context runs a model: it owns the KV cache of one sequence and the activation memory, both
 * allocated once at creation (sizes from the static memory plan) and, in host memory, written
 * then (zero-filled), so that every page is resident before the first token; decoding allocates
 * nothing and does not grow the resident set.
 * A context is used by one thread at a time; infer_context_cancel and infer_context_cancel_clear
 * alone may be called from any thread at any time. Several contexts may share one model. */
typedef struct infer_context infer_context;

/* Polled between graph nodes during a decode, on the thread that called infer_decode; return
 * nonzero to stop it (INFER_ERR_CANCELLED). Not polled after the last node: a decode whose graph
 * has run completes. */
typedef int32_t (*infer_abort_fn)(void *user_data);

typedef struct infer_context_params {
    uint32_t size;       /* sizeof(infer_context_params), set by infer_context_params_init */
    uint32_t n_ctx;      /* tokens the KV cache holds, 1..16777216; 0 = the model's training
                            length, at most 4096 */
    uint32_t n_batch;    /* most tokens per forward pass, 1..65536 after being lowered to n_ctx;
                            longer inputs run in chunks; 0 or default: 512 */
    int32_t n_threads;   /* CPU threads, 0..1024; 0 = one per core */
    uint32_t kv_type;    /* KV cache element type: 1 = F16 (default), 0 = F32 */
    int32_t logits_all;  /* nonzero: keep logits for every token of a decode call (then a call
                            takes at most n_batch tokens); default: the last token's only */
    infer_abort_fn abort_callback;
    void *abort_user_data;
    /* Optional caller memory for the whole context (KV cache and activations): at least
     * infer_memory_requirements.total_bytes, 64-byte aligned, kept alive until the context is
     * freed. NULL: libinfer allocates. */
    void *buffer;
    uint64_t buffer_size;
    /* A model with routed experts off the device (per-expert offload, INFER_EXPERTS_BY_*): how a
     * call of more than one token (prefill) computes the non-resident experts of the device's
     * layers. INFER_EXPERT_PREFILL_AUTO (default): per expert and chunk, whichever the offload
     * cost model predicts faster, computing it on the CPU or copying its weights to the device and
     * computing it there; the cost model reads this machine's CPU expert costs (measured the
     * first time, about a second per expert shape, then cached like infer-bench --offload-plan's)
     * and the device's copy rate (measured at context creation). _CPU: always on the CPU.
     * _STREAM: always copied to the device. Results agree within the device-versus-CPU bounds
     * either way; one-token calls never stream. Ignored otherwise. */
    int32_t expert_prefill;
} infer_context_params;

#define INFER_EXPERT_PREFILL_AUTO 0
#define INFER_EXPERT_PREFILL_CPU 1
#define INFER_EXPERT_PREFILL_STREAM 2

INFER_API void infer_context_params_init(infer_context_params *params);

typedef struct infer_memory_requirements {
    uint32_t size;                   /* set by infer_memory_requirements_init */
    uint64_t total_bytes;            /* what infer_context_create allocates (or needs in buffer) */
    uint64_t kv_cache_bytes;
    uint64_t activation_bytes;       /* the planned arena */
    uint64_t activation_lower_bound; /* peak of simultaneously live activation bytes */
    uint64_t weight_bytes;           /* weights are read in place from the model, not copied */
} infer_memory_requirements;

INFER_API void infer_memory_requirements_init(infer_memory_requirements *req);

/* Plans a context without creating it: exactly what infer_context_create would allocate. */
INFER_API infer_status infer_context_memory_requirements(const infer_model *model,
                                                         const infer_context_params *params,
                                                         infer_memory_requirements *out);

/* The model must outlive the context. params may be NULL for the defaults. */
INFER_API infer_status infer_context_create(const infer_model *model,
                                            const infer_context_params *params,
                                            infer_context **out_context);
INFER_API void infer_context_free(infer_context *context);

/* Runs the model over tokens appended at the current position, in chunks of at most n_batch.
 * On INFER_ERR_CONTEXT_FULL, INFER_ERR_BAD_TOKEN or INFER_ERR_INVALID_ARGUMENT (checked before
 * anything runs) nothing changes: not the position, not the logits, not a pending cancel.
 * On INFER_ERR_CANCELLED (or another error while running) the position is left where the last
 * completed chunk ended, so those tokens stay in the KV cache, and the call keeps no logits:
 * infer_context_logits then answers INFER_ERR_NOT_FOUND saying so (a cancelled chunk may have
 * overwritten part of the logits, so none are offered rather than stale ones). */
INFER_API infer_status infer_decode(infer_context *context, const int32_t *tokens,
                                    uint32_t n_tokens);

/* Logits of the last decode call, when it completed. index: position within that call's tokens,
 * 0..n_tokens-1, or -1 for its last token (which answers to both n_tokens-1 and -1). With
 * logits_all every index is kept; otherwise only the last token's, and any other index in range
 * is INFER_ERR_NOT_FOUND saying so. Also INFER_ERR_NOT_FOUND, with the reason: an index out of
 * range, nothing decoded yet, a last call that was cancelled or failed, or a reset, truncate or
 * state load since the last call. The pointer, to n_vocab floats, stays valid until the next
 * call that changes the context. */
INFER_API infer_status infer_context_logits(infer_context *context, int32_t index,
                                            const float **out_logits, uint32_t *out_n_vocab);

/* Safe from any thread at any time, and from a signal handler (it stores to a lock-free atomic
 * flag): sets the context's pending cancel. The running infer_decode, or else the next one, stops
 * with INFER_ERR_CANCELLED at its next node boundary, and that consumes the cancel. A decode that
 * completes before reaching a boundary after the cancel (it was in its last node) leaves the
 * cancel pending for the next decode; a decode refused before running leaves it pending too.
 * The context must stay alive until the call returns. */
INFER_API void infer_context_cancel(infer_context *context);

/* Drops a pending cancel, if any (for example one that arrived after the decode it was meant
 * for had finished). Safe from any thread at any time, like infer_context_cancel. */
INFER_API void infer_context_cancel_clear(infer_context *context);

/* Tokens currently in the KV cache, and the most it can hold. */
INFER_API uint32_t infer_context_position(const infer_context *context);
INFER_API uint32_t infer_context_n_ctx(const infer_context *context);

/* Forgets everything (position 0) or keeps only the first n_keep tokens. */
INFER_API infer_status infer_context_reset(infer_context *context);
INFER_API infer_status infer_context_truncate(infer_context *context, uint32_t n_keep);

/* The KV cache state: bytes needed, save into a buffer (snprintf-like: *out_size gets the size
 * needed, INFER_ERR_BUFFER_TOO_SMALL when capacity is less), and load into a context created for
 * the same model with at least the same n_ctx and the same kv_type. A state is checked in full
 * before anything is written: one refused with INFER_ERR_BAD_STATE leaves the context unchanged.
 * A loaded state sets the position to its token count and keeps no logits (decode next). */
INFER_API infer_status infer_context_state_size(const infer_context *context, uint64_t *out_size);
INFER_API infer_status infer_context_state_save(const infer_context *context, void *buf,
                                                uint64_t capacity, uint64_t *out_size);
INFER_API infer_status infer_context_state_load(infer_context *context, const void *buf,
                                                uint64_t size);

typedef struct infer_context_stats {
    uint32_t size;                 /* set by infer_context_stats_init */
    uint64_t prefill_tokens;       /* tokens processed in calls of more than one token */
    double prefill_seconds;
    uint64_t decode_tokens;        /* tokens processed one per call */
    double decode_seconds;
    uint64_t weight_bytes_per_token; /* weight bytes one decode step reads (of the routed experts
                                        only the n_expert_used a token selects) */
    uint64_t expert_bytes_per_token; /* the routed experts' part of weight_bytes_per_token */
    /* Device backends: bytes the model's weights and this context hold on the device (all of it
     * is allocated at load and creation, so this is also the peak). 0 on the CPU. */
    uint64_t device_memory_bytes;
    /* Seconds the CPU spent computing routed experts (its MoeFfn nodes, each to the barrier that
     * ends it): the CPU expert lane's share of decode_seconds and prefill_seconds. */
    double decode_cpu_expert_seconds;
    double prefill_cpu_expert_seconds;
    /* A model split across a device and the CPU: the times the CPU waited for the device's
     * copies before running its part of a step (one per CPU segment), and the seconds spent
     * waiting; with per-expert offload, the per-layer handoff's cost. 0 otherwise. */
    uint64_t handoffs;
    double handoff_wait_seconds;
    /* Prefill streaming (infer_context_params.expert_prefill): expert weight bytes copied to the
     * device, and the (layer, expert) copies, since creation or the last reset. */
    uint64_t prefill_streamed_bytes;
    uint64_t prefill_streamed_experts;
} infer_context_stats;

INFER_API void infer_context_stats_init(infer_context_stats *stats);
INFER_API infer_status infer_context_get_stats(const infer_context *context,
                                               infer_context_stats *stats);
INFER_API void infer_context_reset_stats(infer_context *context);

/* ---- Expert statistics -------------------------------------------------------------------- */

/* How often each routed expert of a mixture-of-experts model ran in this context since its
 * creation or the last infer_context_reset_expert_counts: counts[layer * n_expert + expert], one
 * per (token, selected expert), so a layer's counts sum to n_expert_used per token it ran. Every
 * layer runs every token, except that the last layer runs only the tokens whose logits are kept
 * (all of them with logits_all; otherwise the last token of each n_batch chunk of a decode call).
 * *out_n_layer and *out_n_expert (either may be NULL) receive the shape, 0 x 0 for a dense model.
 * snprintf-like: when capacity is less than n_layer * n_expert, nothing is written and the call
 * returns INFER_ERR_BUFFER_TOO_SMALL (counts may then be NULL). Counting happens inside the
 * kernels into memory allocated at creation; neither call allocates. */
INFER_API infer_status infer_context_expert_counts(const infer_context *context, uint64_t *counts,
                                                   size_t capacity, uint32_t *out_n_layer,
                                                   uint32_t *out_n_expert);
INFER_API void infer_context_reset_expert_counts(infer_context *context);

/* What offloading routed experts to a device would give, predicted by the cost model for this
 * model on this machine's CPU and a device that need not be present: per budget, the experts a
 * device holds per layer (by popularity, per expert; and layer-granular, llama.cpp's
 * --n-cpu-moe), the share of selected expert bytes served from the device, and the decode and
 * 512-token prefill speeds; beside everything on the CPU. The CPU constants are measured once per
 * machine and thread count (a few seconds, using every thread asked for) and cached in
 * cache_dir; the device's come from a profile. Safe to call from any thread; calls measuring at
 * the same time slow each other's measurement. */
typedef struct infer_offload_plan_params {
    uint32_t size;              /* set by infer_offload_plan_params_init */
    uint64_t budget_bytes;      /* device memory for the model and a context; 0: infer_model_
                                   offload_plan uses the budget holding half the experts, the text
                                   form shows 25, 50, 75 and 100% */
    const char *device_profile; /* a built-in profile ("h100-pcie", "h100-sxm", "h200-pcie",
                                   "h200-sxm", "rtx4090", "laptop-16gb", "jetson-orin") or a
                                   key = value file (README.md lists the keys); NULL: "rtx4090" */
    const char *expert_stats;   /* infer-bench --expert-stats TSV for the popularity; NULL:
                                   every expert equally likely */
    int32_t n_threads;          /* CPU threads of the CPU lane; 0: one per core */
    int32_t remeasure;          /* nonzero: measure the CPU again and rewrite the cache */
    const char *cache_dir;      /* NULL: $XDG_CACHE_HOME/libinfer, else ~/.cache/libinfer; "": no
                                   cache file is read or written */
} infer_offload_plan_params;

/* One placement's prediction. */
typedef struct infer_offload_prediction {
    double resident_share;            /* of selected expert bytes, served from the device */
    double decode_tokens_per_s;
    double prefill_tokens_per_s;      /* a 512-token batch */
    double cpu_lane_seconds_per_step; /* decode: the CPU experts' time per token */
    double cpu_expert_bytes_per_token;
    double ceiling_tokens_per_s;      /* DRAM read bandwidth / CPU expert bytes per token;
                                         infinity with none */
} infer_offload_prediction;

typedef struct infer_offload_plan {
    uint32_t size;                   /* set by infer_offload_plan_init */
    /* This machine's CPU, measured or read from the cache. */
    int32_t n_threads;
    int32_t costs_from_cache;        /* 1: read from the cache file, 0: measured by this call */
    double cpu_read_bytes_per_s;     /* streaming DRAM read bandwidth */
    double cpu_expert_bytes_per_s;   /* the CPU expert kernel's decode read rate over this
                                        model's expert weight mix */
    double cpu_layer_overhead_s;     /* fixed cost of a layer's CPU expert node (mean over
                                        the layers) */
    /* The device profile. */
    double device_h2d_bytes_per_s;   /* 0 with unified memory */
    double device_memory_bytes_per_s;
    double device_flops_per_s;
    double device_layer_overhead_s;
    double handoff_s;
    /* The budget and what the experts get of it. */
    uint64_t budget_bytes;
    uint64_t expert_budget_bytes;    /* the budget less the other weights and a context */
    uint64_t expert_bytes;           /* every routed expert, as a device would hold them */
    uint64_t other_weight_bytes;
    infer_offload_prediction per_expert, per_layer, all_cpu;
} infer_offload_plan;

INFER_API void infer_offload_plan_params_init(infer_offload_plan_params *params);
INFER_API void infer_offload_plan_init(infer_offload_plan *plan);
/* INFER_ERR_INVALID_ARGUMENT for a model without routed experts or an inspect-only one, a bad
 * profile or statistics file; params may be NULL (the defaults). */
INFER_API infer_status infer_model_offload_plan(const infer_model *model,
                                                const infer_offload_plan_params *params,
                                                infer_offload_plan *out);
/* The plan as text, the way infer-bench --offload-plan prints it: the constants, then a row per
 * budget and placement. snprintf-style, like infer_model_placement_text. */
INFER_API infer_status infer_model_offload_plan_text(const infer_model *model,
                                                     const infer_offload_plan_params *params,
                                                     char *buf, size_t capacity,
                                                     size_t *out_length);

/* ---- Sampling ----------------------------------------------------------------------------- */

/* A sampler turns a logits vector into the next token through a fixed chain:
 *   logit bias -> repetition/frequency/presence penalties -> temperature (0: greedy) ->
 *   top-k -> top-p -> min-p -> a draw from a seeded random generator.
 * Temperature is applied before the truncations, so top_p and min_p see the tempered
 * distribution. Penalties follow llama.cpp: for a token seen c > 0 times among the last
 * penalty_last_n accepted tokens, a positive logit is divided by repeat_penalty and a negative
 * one multiplied by it, then c * frequency_penalty + presence_penalty is subtracted.
 * Greedy picks the largest logit, the lowest id among equal ones, and uses no randomness.
 * A token whose logit is -INFINITY (after bias and penalties) is never drawn.
 *
 * Reproducible: the same seed, parameters, accepted tokens and logits give the same tokens; the
 * generator (xoshiro256**) and every ordering are exact integer or total-order operations, so
 * results agree across compilers and machines except, in principle, where a draw falls within
 * rounding of a boundary of the platform's exp().
 *
 * Memory: every buffer (about 16 bytes per vocabulary entry plus 4 per window token) is
 * allocated by infer_sampler_create; sampling and accepting allocate nothing.
 * Threads: a sampler is used by one thread at a time; different samplers are independent.
 * A sampler does not refer to a model or context: any logits of n_vocab floats will do. */
typedef struct infer_sampler infer_sampler;

typedef struct infer_sampler_params {
    uint32_t size;            /* sizeof(infer_sampler_params), set by infer_sampler_params_init */
    float temperature;        /* >= 0, finite; 0 = greedy; default 0.8 */
    int32_t top_k;            /* keep the k most probable; 0 = off; default 40 */
    float top_p;              /* keep the smallest set of probability >= top_p; in (0, 1];
                                 1 = off; default 0.95 */
    float min_p;              /* drop tokens less probable than min_p times the most probable;
                                 in [0, 1]; 0 = off; default 0.05 */
    int32_t min_keep;         /* top-k/top-p/min-p keep at least this many; 0 acts as 1;
                                 default 1 */
    float repeat_penalty;     /* > 0; 1 = off; default 1 */
    float frequency_penalty;  /* subtracted per occurrence in the window; default 0 */
    float presence_penalty;   /* subtracted once if present in the window; default 0 */
    int32_t penalty_last_n;   /* the window: most recent accepted tokens; 0 = penalties off;
                                 at most 1048576; default 64 */
    uint64_t seed;            /* default 0x5EED5EED5EED5EED */
} infer_sampler_params;

INFER_API void infer_sampler_params_init(infer_sampler_params *params);

/* Creates a sampler for logits of n_vocab entries (n_vocab > 0). params may be NULL for the
 * defaults. The caller owns *out and frees it with infer_sampler_free. Bad parameters give
 * INFER_ERR_INVALID_ARGUMENT naming the field. Thread-safe (touches no shared state). */
INFER_API infer_status infer_sampler_create(int32_t n_vocab, const infer_sampler_params *params,
                                            infer_sampler **out);
INFER_API void infer_sampler_free(infer_sampler *sampler);

/* Adds bias to a token's logit before every other step; 0 removes it, -INFINITY bans the token.
 * NaN and +INFINITY are INFER_ERR_INVALID_ARGUMENT; a token outside [0, n_vocab) is
 * INFER_ERR_BAD_TOKEN. Biases survive infer_sampler_reset. */
INFER_API infer_status infer_sampler_set_logit_bias(infer_sampler *sampler, int32_t token,
                                                    float bias);

/* Draws the next token from logits (n_vocab floats, read only, not kept). Allocates nothing.
 * A NaN or +INFINITY logit is INFER_ERR_INVALID_ARGUMENT naming its index, as is a vector in
 * which every token is -INFINITY. It does not record the token: call infer_sampler_accept. */
INFER_API infer_status infer_sampler_sample(infer_sampler *sampler, const float *logits,
                                            int32_t *out_token);

/* Tells the sampler a token was appended to the sequence, for the penalties. sample() does not
 * do it itself so that prompt tokens can be fed too. A token outside [0, n_vocab) is
 * INFER_ERR_BAD_TOKEN. Allocates nothing. */
INFER_API infer_status infer_sampler_accept(infer_sampler *sampler, int32_t token);

/* Forgets the accepted tokens and restarts the random sequence from the seed (logit biases
 * stay). After it, the sampler draws exactly what a freshly created one would. NULL is ignored. */
INFER_API void infer_sampler_reset(infer_sampler *sampler);

#ifdef __cplusplus
}
#endif

#endif /* INFER_H */
