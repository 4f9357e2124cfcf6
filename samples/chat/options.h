/* infer-chat's command line. */
#ifndef INFER_CHAT_OPTIONS_H
#define INFER_CHAT_OPTIONS_H

#include "infer.h"
#include "placement_args.h"

enum { OVERFLOW_STOP = 0, OVERFLOW_SHIFT = 1 };

typedef struct chat_options {
    char model_path[4096];     /* -m, or SmolLM2 in the model cache */
    int model_is_default;      /* no -m was given */
    const char *system_prompt; /* --system; NULL: the template's own default, if any */
    const char *prompt;        /* --prompt: answer this one message and exit */
    const char *template_name; /* --template; NULL: the model's own */
    int n_predict;             /* -n: most tokens per answer; -1: until end of turn */
    int n_threads;             /* --threads; 0: one per core */
    placement_args placement;  /* --backend, --device, --n-gpu-layers, --override */
    int no_mmap;               /* --no-mmap: read the model into memory (read_into_memory) */
    int cpu_weights;           /* --cpu-weights: INFER_CPU_WEIGHTS_REPACK (default) or _IN_PLACE */
    uint32_t n_ctx;            /* --ctx */
    int overflow;              /* --ctx-overflow: OVERFLOW_STOP or OVERFLOW_SHIFT */
    int verbose;               /* --verbose: statistics on stderr */
    infer_sampler_params sampling;
} chat_options;

/* Fills *o from argv. Returns -1 when the program should go on, otherwise the exit status (0
 * after --help, 2 after a usage error, which it has printed). */
int chat_options_parse(int argc, char **argv, chat_options *o);

#endif
