/* infer-bench --offload-plan: what offloading the routed experts to a device would give (the
 * cost model's plan, infer_model_offload_plan_text), and --verify: the predicted CPU expert lane
 * of a decode step beside the one measured running decode with every expert on the CPU. */
#ifndef INFER_BENCH_OFFLOAD_PLAN_H
#define INFER_BENCH_OFFLOAD_PLAN_H

#include "infer.h"

typedef struct offload_plan_args {
    int enabled;           /* --offload-plan */
    int verify;            /* --verify */
    uint64_t budget_bytes; /* --budget (0: the default budgets) */
    const char *device_profile, *expert_stats;
    int remeasure;
} offload_plan_args;

/* Parses one of the options above at argv[*i]: 1 taken (and *i advanced past its value), 0 not
 * one of them, -1 a bad value (message in error). */
int offload_plan_args_parse(offload_plan_args *args, int argc, char **argv, int *i, char *error,
                            size_t capacity);
extern const char offload_plan_args_help[];

/* Prints the plan (and with verify, the check) for a model loaded on the CPU; the exit code. */
int offload_plan_run(infer_model *model, const offload_plan_args *args, int threads, int n_gen,
                     int repeats);

#endif
