/* Where a model runs, from the command line: --backend, --device, --n-gpu-layers and --override,
 * parsed one way for infer-chat, infer-bench and infer-inspect, and the placement they print. */
#ifndef INFER_SAMPLES_PLACEMENT_ARGS_H
#define INFER_SAMPLES_PLACEMENT_ARGS_H

#include "infer.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { PLACEMENT_MAX_OVERRIDES = 32, PLACEMENT_MAX_PATTERN = 256 };

typedef struct placement_args {
    int32_t backend;      /* --backend: INFER_BACKEND_* (default CPU) */
    int32_t device;       /* --device */
    int32_t n_gpu_layers; /* --n-gpu-layers: a count, INFER_GPU_LAYERS_ALL or _AUTO */
    int n_gpu_layers_set; /* given on the command line (it means nothing on the CPU) */
    /* --override, in command-line order; each pattern points into `patterns`, so a copy of the
     * struct must re-point them (or be parsed into directly) */
    infer_tensor_override overrides[PLACEMENT_MAX_OVERRIDES];
    int32_t n_overrides;
    char patterns[PLACEMENT_MAX_OVERRIDES][PLACEMENT_MAX_PATTERN];
    uint64_t device_budget;      /* --device-budget: bytes, 0 = the device's memory */
    int32_t expert_placement;    /* --experts: INFER_EXPERTS_BY_LAYER or _BY_POPULARITY */
    const char *expert_stats;    /* --expert-popularity FILE (argv's string), or NULL */
    const char *calibration;     /* --calibrate TEXT (argv's string), or NULL */
    int32_t expert_prefill;      /* --expert-prefill: INFER_EXPERT_PREFILL_* (a context's) */
} placement_args;

/* The defaults: CPU, device 0, all layers on the device, no overrides. */
void placement_args_init(placement_args *p);

/* If argv[*i] is a placement option, takes it and its value (advancing *i) and returns 1; returns
 * 0 for any other argument. A bad or missing value returns -1 with the reason in `error` (a
 * sentence without the program's name). */
int placement_args_parse(placement_args *p, int argc, char **argv, int *i, char *error,
                         size_t error_capacity);

/* After all arguments: 0, with the reason in `error`, for a choice that means nothing
 * (--n-gpu-layers without a device backend). */
int placement_args_check(const placement_args *p, char *error, size_t error_capacity);

/* Copies the choice into params (prepared with infer_model_params_init). The overrides point into
 * *p, which must outlive the load. */
void placement_args_apply(const placement_args *p, infer_model_params *params);

/* Copies the context's share of the choice (--expert-prefill) into params (prepared with
 * infer_context_params_init). */
void placement_args_apply_context(const placement_args *p, infer_context_params *params);

/* "CPU", "CUDA", "Vulkan". */
const char *placement_backend_name(int32_t backend);

/* The overrides as given, "exps=CPU,ffn_up=CPU", into buf (snprintf-style); "-" when none. */
void placement_args_overrides_text(const placement_args *p, char *buf, size_t capacity);

/* The options' lines for a --help text, laid out as they print (two-space indent, the description
 * at column 23). */
extern const char placement_args_help[];

/* Writes the loaded model's placement (infer_model_placement_text) to out; 0 on failure, with the
 * reason printed to stderr after `program`. */
int placement_print(const infer_model *model, FILE *out, const char *program);

#ifdef __cplusplus
}
#endif

#endif
