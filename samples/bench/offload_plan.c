#include "offload_plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char offload_plan_args_help[] =
    "      --offload-plan   print the expert offload plan: for device budgets, the experts a\n"
    "                       device holds per layer and the predicted decode and pp512 t/s (per\n"
    "                       expert, per layer, all on the CPU); the CPU side is measured here once\n"
    "                       and cached, the device side comes from a profile\n"
    "      --budget BYTES   one device budget (suffix K, M, G: binary units), else several\n"
    "      --device-profile NAME|FILE  h100-pcie, h100-sxm, h200-pcie, h200-sxm, rtx4090\n"
    "                       (default), laptop-16gb, jetson-orin, or a key = value file\n"
    "      --expert-stats FILE  with --offload-plan: read the popularity from this TSV\n"
    "      --remeasure      measure the CPU constants again\n"
    "      --verify         with --offload-plan: decode -n tokens with every expert on the CPU,\n"
    "                       -r times, and print the predicted and measured CPU expert time per step\n";

static int parse_bytes(const char *text, uint64_t *out) {
    char *end = NULL;
    const double v = strtod(text, &end);
    double scale = 1;
    if (end == text || !(v > 0)) return 0;
    if (*end == 'K' || *end == 'k') scale = 1024.0, ++end;
    else if (*end == 'M' || *end == 'm') scale = 1048576.0, ++end;
    else if (*end == 'G' || *end == 'g') scale = 1073741824.0, ++end;
    if (*end == 'i' && end[1] == 'B') end += 2;
    else if (*end == 'B') ++end;
    if (*end || v * scale >= 1.8e19) return 0;
    *out = (uint64_t)(v * scale);
    return 1;
}

int offload_plan_args_parse(offload_plan_args *args, int argc, char **argv, int *i, char *error,
                            size_t capacity) {
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(a, "--offload-plan")) args->enabled = 1;
    else if (!strcmp(a, "--verify")) args->verify = 1;
    else if (!strcmp(a, "--remeasure")) args->remeasure = 1;
    else if (!strcmp(a, "--device-profile") && v) args->device_profile = argv[++*i];
    else if (!strcmp(a, "--budget") && v) {
        if (!parse_bytes(v, &args->budget_bytes)) {
            snprintf(error, capacity, "--budget %s: expected bytes such as 8G or 512M", v);
            return -1;
        }
        ++*i;
    } else
        return 0;
    return 1;
}

static int failed(infer_status status, const char *what) {
    if (status == INFER_OK) return 0;
    fprintf(stderr, "infer-bench: %s: %s: %s\n", what, infer_status_string(status),
            infer_last_error());
    return 1;
}

static int compare_doubles(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Decodes n_gen tokens, `repeats` times, all experts on the CPU; prints each run's measured CPU
 * expert seconds per step and the median beside the prediction. */
static int verify(infer_model *model, const infer_offload_plan *plan, int threads, int n_gen,
                  int repeats) {
    infer_context_params params;
    infer_context_params_init(&params);
    params.n_ctx = (uint32_t)n_gen + 1;
    params.n_threads = threads;
    infer_context *ctx = NULL;
    if (failed(infer_context_create(model, &params, &ctx), "context")) return 1;
    double *lane = calloc((size_t)repeats, sizeof *lane), *step = calloc((size_t)repeats, sizeof *step);
    int status = lane && step ? 0 : 1;
    for (int r = -1; r < repeats && !status; ++r) { /* run -1 warms up */
        infer_context_reset(ctx);
        infer_context_reset_stats(ctx);
        for (int t = 0; t < n_gen && !status; ++t) {
            const int32_t token = (int32_t)((t * 7919u + 13u) % 1000u);
            status = failed(infer_decode(ctx, &token, 1), "decode");
        }
        infer_context_stats stats;
        infer_context_stats_init(&stats);
        if (status || failed(infer_context_get_stats(ctx, &stats), "stats")) status = 1;
        if (status || r < 0) continue;
        lane[r] = stats.decode_cpu_expert_seconds / (double)stats.decode_tokens;
        step[r] = stats.decode_seconds / (double)stats.decode_tokens;
        printf("verify run %d: CPU expert lane %.3f ms/step, step %.3f ms (%.2f t/s)\n", r + 1,
               1e3 * lane[r], 1e3 * step[r], 1.0 / step[r]);
    }
    if (!status) {
        qsort(lane, (size_t)repeats, sizeof *lane, compare_doubles);
        qsort(step, (size_t)repeats, sizeof *step, compare_doubles);
        const double m = lane[repeats / 2], predicted = plan->all_cpu.cpu_lane_seconds_per_step;
        printf("\nverify (all experts on the CPU, %d threads, %d steps x %d runs):\n"
               "  CPU expert lane per step: predicted %.3f ms, measured median %.3f ms "
               "(min %.3f, max %.3f): predicted/measured %.3f\n"
               "  decode: predicted %.2f t/s, measured median %.2f t/s\n",
               plan->n_threads, n_gen, repeats, 1e3 * predicted, 1e3 * m, 1e3 * lane[0],
               1e3 * lane[repeats - 1], predicted / m, plan->all_cpu.decode_tokens_per_s,
               1.0 / step[repeats / 2]);
    }
    free(lane);
    free(step);
    infer_context_free(ctx);
    return status;
}

int offload_plan_run(infer_model *model, const offload_plan_args *args, int threads, int n_gen,
                     int repeats) {
    infer_offload_plan_params params;
    infer_offload_plan_params_init(&params);
    params.budget_bytes = args->budget_bytes;
    params.device_profile = args->device_profile;
    params.expert_stats = args->expert_stats;
    params.n_threads = threads;
    params.remeasure = args->remeasure;
    /* One call that fits (a second would find the constants the first measured in the cache,
     * and say so); again with the full length only when cut. */
    size_t capacity = 1 << 16, length = 0;
    char *text = malloc(capacity);
    int status = text ? failed(infer_model_offload_plan_text(model, &params, text, capacity, &length),
                               "offload plan")
                      : 1;
    if (!status && length >= capacity) {
        free(text);
        capacity = length + 1;
        text = malloc(capacity);
        status = text ? failed(infer_model_offload_plan_text(model, &params, text, capacity, &length),
                               "offload plan")
                      : 1;
    }
    params.remeasure = 0; /* measured by the call above */
    if (!status) fputs(text, stdout);
    free(text);
    if (status || !args->verify) return status;
    infer_offload_plan plan;
    infer_offload_plan_init(&plan);
    if (failed(infer_model_offload_plan(model, &params, &plan), "offload plan")) return 1;
    return verify(model, &plan, threads, n_gen > 0 ? n_gen : 64, repeats);
}
