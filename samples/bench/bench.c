/*
 * infer-bench: prompt processing and generation speed, like llama.cpp's llama-bench.
 *
 *   infer-bench -m MODEL.gguf [-p 512] [-n 128] [-t THREADS] [-r REPEATS] [-b N_BATCH]
 *               [--backend cpu|cuda|vulkan] [--device N] [-ngl N|all|auto]
 *               [--override PATTERN=BACKEND]... [--expert-stats FILE] [--membw] [--profile]
 *               [--no-mmap] [-v]
 *   infer-bench -m MODEL.gguf --offload-plan [--budget BYTES] [--device-profile NAME|FILE]
 *               [--expert-stats FILE] [--remeasure] [--verify [-n N] [-r R]] [-t THREADS]
 *
 * pp<P>: one decode call of P tokens from an empty context (tokens/s).
 * tg<N>: N single-token decode calls from an empty context (tokens/s), with the weight bytes a
 *        step reads and the achieved GB/s.
 * Each test runs once to warm up, then REPEATS times; the table shows mean +- standard deviation,
 * and the peak resident memory of the process (and, on a device, the device memory the model and
 * context hold, all of it allocated up front, so also the peak). A device --backend uploads the
 * weights it holds to device --device at load.
 * Placement (samples/common/placement_args.h): the table's ngl column is the resolved count of
 * layers on the device (the layer count + 1 when the output layer is there too), an ot column
 * lists the --override patterns when there are any, and a placement line under the table gives
 * each side's weights, layers and nodes and the copies between them; --verbose prints the plan
 * layer by layer before the table.
 * Mixture-of-experts models: a step reads only the experts its token selects; the expert weight
 * bytes per token are printed with the rate at which tg read them, over the whole step and over
 * the time the CPU spent in the expert FFN (the expert lane's own rate, which the rest of the step
 * does not dilute), and --expert-stats writes how often each (layer, expert) ran over all the
 * runs, as TSV (layer, expert, count).
 * --membw measures the streaming read bandwidth of memory on the same threads before and after
 * the tests and prints tg's weight and expert byte rates as percentages of their mean: how close
 * decode comes to the bandwidth limit.
 * --profile sets INFER_PROFILE=1: the CPU backend prints, to stderr after the table, each kind of
 * node's calls, time and share over every run (warm-ups included) and, for matmuls and expert
 * FFNs, the weight bytes they read per second (backends/cpu/node_profile.h).
 * --offload-plan (samples/bench/offload_plan.h) prints the cost model's expert offload plan
 * instead of benchmarking; there --expert-stats names the TSV to read the popularity from.
 */
#include "infer.h"
#include "offload_plan.h"
#include "placement_args.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int check(infer_status status, const char *what) {
    if (status == INFER_OK) return 1;
    fprintf(stderr, "infer-bench: %s: %s: %s\n", what, infer_status_string(status),
            infer_last_error());
    return 0;
}

/* Deterministic tokens spread over the vocabulary (the speed does not depend on which). */
static void fill_tokens(int32_t *tokens, int n, uint32_t n_vocab) {
    uint32_t x = 12345;
    for (int i = 0; i < n; ++i) {
        x = x * 1664525u + 1013904223u;
        tokens[i] = (int32_t)(x % n_vocab);
    }
}

/* One timed run: tokens per second, or a negative value on error. */
static double run_once(infer_context *ctx, const int32_t *tokens, int n, int prompt) {
    if (!check(infer_context_reset(ctx), "reset")) return -1;
    const double start = now_seconds();
    if (prompt) {
        if (!check(infer_decode(ctx, tokens, (uint32_t)n), "decode")) return -1;
    } else {
        for (int i = 0; i < n; ++i)
            if (!check(infer_decode(ctx, tokens + i, 1), "decode")) return -1;
    }
    return n / (now_seconds() - start);
}

static int bench(infer_context *ctx, const int32_t *tokens, int n, int prompt, int repeats,
                 double *mean, double *stddev) {
    double sum = 0, sum2 = 0;
    if (run_once(ctx, tokens, n, prompt) < 0) return 0; /* warm-up */
    infer_context_reset_stats(ctx); /* the context's timings then cover the timed runs only */
    for (int r = 0; r < repeats; ++r) {
        const double tps = run_once(ctx, tokens, n, prompt);
        if (tps < 0) return 0;
        sum += tps;
        sum2 += tps * tps;
    }
    *mean = sum / repeats;
    *stddev = repeats > 1 ? sqrt(fmax(0.0, (sum2 - sum * sum / repeats) / (repeats - 1))) : 0.0;
    return 1;
}

/* The context's expert counts as TSV; 1 on success. */
static int write_expert_stats(infer_context *ctx, const char *file) {
    uint32_t n_layer = 0, n_expert = 0;
    infer_context_expert_counts(ctx, NULL, 0, &n_layer, &n_expert);
    const size_t n = (size_t)n_layer * n_expert;
    uint64_t *counts = malloc(sizeof(uint64_t) * (n ? n : 1));
    if (!counts) return 0;
    int ok = check(infer_context_expert_counts(ctx, counts, n, NULL, NULL), "expert counts");
    FILE *out = ok ? fopen(file, "w") : NULL;
    if (ok && !out) {
        fprintf(stderr, "infer-bench: cannot write %s\n", file);
        ok = 0;
    }
    if (out) {
        fprintf(out, "layer\texpert\tcount\n");
        for (size_t i = 0; i < n; ++i)
            fprintf(out, "%zu\t%zu\t%llu\n", i / n_expert, i % n_expert,
                    (unsigned long long)counts[i]);
        ok = fclose(out) == 0;
    }
    free(counts);
    return ok;
}

/* Bytes per second the CPU's expert FFN read while it ran (0 when not measured). */
static double expert_lane_rate(const infer_context_stats *stats) {
    if (stats->decode_cpu_expert_seconds <= 0) return 0;
    return (double)stats->decode_tokens * (double)stats->expert_bytes_per_token /
           stats->decode_cpu_expert_seconds;
}

/* The memory read bandwidth probe on the tests' threads, before the tests (`before`) and now, and
 * the tg test's byte rates against the mean of the two: on a shared machine the bandwidth left to
 * us drifts, and the two figures show by how much. */
static int print_membw(int threads, double before, double tg_per_second,
                       const infer_context_stats *stats) {
    double after = 0;
    if (!check(infer_measure_read_bandwidth(threads, &after), "memory bandwidth")) return 0;
    const double probe = 0.5 * (before + after);
    printf("\nmembw: streaming read %.1f GB/s (%.1f before the tests, %.1f after)", probe / 1e9,
           before / 1e9, after / 1e9);
    if (tg_per_second > 0 && probe > 0) {
        const double all = tg_per_second * (double)stats->weight_bytes_per_token;
        const double experts = tg_per_second * (double)stats->expert_bytes_per_token;
        printf("; tg reads weights at %.1f GB/s (%.1f%%)", all / 1e9, 100.0 * all / probe);
        if (experts > 0)
            printf(", expert weights at %.1f GB/s (%.1f%%)", experts / 1e9, 100.0 * experts / probe);
        const double lane = expert_lane_rate(stats);
        if (lane > 0)
            printf("; the expert FFN reads at %.1f GB/s (%.1f%%)", lane / 1e9, 100.0 * lane / probe);
    }
    printf("\n");
    return 1;
}

static void usage(FILE *out) {
    // clang-format off
    fprintf(out,
"usage: infer-bench -m MODEL.gguf [options]\n"
"\n"
"  -m PATH              the GGUF model (required)\n"
"  -p N                 prompt tokens of the pp test (default 512; 0: no pp test)\n"
"  -n N                 generated tokens of the tg test (default 128; 0: no tg test)\n"
"  -t N                 CPU threads (default 0: one per core)\n"
"  -r N                 timed repeats of each test, after one warm-up (default 3)\n"
"  -b N                 most tokens per batch (default 512)\n");
    fputs(placement_args_help, out);
    fputs(offload_plan_args_help, out);
    fprintf(out,
"      --no-mmap        read the model into memory instead of mapping it\n"
"      --cpu-weights repack|in-place\n"
"                       repack the weights the CPU multiplies into its kernels' layout at\n"
"                       load (default), or read every weight in place from the file\n"
"      --expert-stats FILE  write how often each (layer, expert) ran, as TSV\n"
"      --membw          measure memory read bandwidth on the same threads; compare tg with it\n"
"      --profile        print each kind of CPU node's time and GB/s after the table\n"
"  -v, --verbose        print the placement (where each layer runs) before the table\n"
"  -h, --help           this text\n");
    // clang-format on
}

static int usage_error(const char *message) {
    fprintf(stderr, "infer-bench: %s\n(infer-bench --help lists the options)\n", message);
    return 2;
}

/* The row's columns up to the test's name, the same for every test. */
static void print_row_start(const char *name, const infer_model_info *info, const char *backend,
                            const infer_placement *placement, const char *overrides, int threads) {
    const double gib = 1024.0 * 1024.0 * 1024.0;
    printf("| %s | %.2f GiB | %.2f B | %s | %d | ", name, info->tensor_data_bytes / gib,
           info->n_elements / 1e9, backend, placement->n_gpu_layers);
    if (overrides) { /* a '|' of a regex would end the markdown cell: escape it */
        for (const char *c = overrides; *c; ++c)
            printf("%s%c", *c == '|' ? "\\" : "", *c);
        printf(" | ");
    }
    printf("%d | ", threads);
}

/* One line under the table: each side's share and the traffic between them. */
static void print_placement_line(const infer_placement *p) {
    printf("placement:");
    for (int32_t b = 0; b < p->n_backends; ++b)
        printf("%s %s %.1f MiB of weights, %d layers, %d nodes", b ? ";" : "",
               placement_backend_name(p->backends[b].backend),
               p->backends[b].weight_bytes / 1048576.0, p->backends[b].n_layers,
               p->backends[b].n_nodes);
    printf("; %d segments, %d copies per step (%.1f KiB per token)\n", p->n_segments, p->n_copies,
           p->copy_bytes_per_token / 1024.0);
}

int main(int argc, char **argv) {
    const char *path = NULL, *expert_stats = NULL;
    int n_prompt = 512, n_gen = 128, threads = 0, repeats = 3, n_batch = 512;
    int no_mmap = 0, verbose = 0, membw = 0, cpu_weights = INFER_CPU_WEIGHTS_REPACK;
    placement_args placement_choice;
    placement_args_init(&placement_choice);
    offload_plan_args offload_plan;
    memset(&offload_plan, 0, sizeof offload_plan);
    char error[512];
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const int taken =
            placement_args_parse(&placement_choice, argc, argv, &i, error, sizeof error);
        if (taken < 0) return usage_error(error);
        if (taken > 0) continue;
        const int offload_taken =
            offload_plan_args_parse(&offload_plan, argc, argv, &i, error, sizeof error);
        if (offload_taken < 0) return usage_error(error);
        if (offload_taken > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "-m") && v) path = argv[++i];
        else if (!strcmp(a, "-p") && v) n_prompt = atoi(argv[++i]);
        else if (!strcmp(a, "-n") && v) n_gen = atoi(argv[++i]);
        else if (!strcmp(a, "-t") && v) threads = atoi(argv[++i]);
        else if (!strcmp(a, "-r") && v) repeats = atoi(argv[++i]);
        else if (!strcmp(a, "-b") && v) n_batch = atoi(argv[++i]);
        else if (!strcmp(a, "--expert-stats") && v) expert_stats = argv[++i];
        else if (!strcmp(a, "--no-mmap")) no_mmap = 1;
        else if (!strcmp(a, "--cpu-weights") && v && !strcmp(v, "repack") && ++i)
            cpu_weights = INFER_CPU_WEIGHTS_REPACK;
        else if (!strcmp(a, "--cpu-weights") && v && !strcmp(v, "in-place") && ++i)
            cpu_weights = INFER_CPU_WEIGHTS_IN_PLACE;
        else if (!strcmp(a, "--membw")) membw = 1;
        else if (!strcmp(a, "--profile"))
            setenv("INFER_PROFILE", "1", 1);
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) verbose = 1;
        else {
            snprintf(error, sizeof error, "unknown option %s, or it needs a value", a);
            return usage_error(error);
        }
    }
    if (!placement_args_check(&placement_choice, error, sizeof error)) return usage_error(error);
    if (!path || n_prompt < 0 || n_gen < 0 || repeats < 1 || n_batch < 1)
        return usage_error("-m MODEL is required; counts must be positive");

    infer_model *model = NULL;
    infer_model_params model_params;
    infer_model_params_init(&model_params);
    placement_args_apply(&placement_choice, &model_params);
    model_params.read_into_memory = no_mmap;
    model_params.cpu_weights = cpu_weights;
    if (!check(infer_model_load_file(path, &model_params, &model), path)) return 1;
    if (offload_plan.enabled) {
        offload_plan.expert_stats = expert_stats;
        const int status = offload_plan_run(model, &offload_plan, threads, n_gen, repeats);
        infer_model_free(model);
        return status;
    }
    /* The CPU's kernel level goes with every row: it decides the CPU's figures. */
    char backend_name[64];
    if (placement_choice.backend == INFER_BACKEND_CPU)
        snprintf(backend_name, sizeof backend_name, "CPU %s", infer_cpu_kernel_level());
    else
        snprintf(backend_name, sizeof backend_name, "%s + CPU %s",
                 placement_backend_name(placement_choice.backend), infer_cpu_kernel_level());
    infer_placement placement;
    infer_placement_init(&placement);
    if (!check(infer_model_placement(model, &placement), "placement")) return 1;
    if (verbose && !placement_print(model, stdout, "infer-bench")) return 1;
    char overrides[1024];
    placement_args_overrides_text(&placement_choice, overrides, sizeof overrides);
    const char *ot = placement_choice.n_overrides ? overrides : NULL; /* a column only when used */
    infer_model_info info;
    infer_model_info_init(&info);
    if (!check(infer_model_get_info(model, &info), "model info")) return 1;

    infer_context_params params;
    infer_context_params_init(&params);
    params.n_ctx = (uint32_t)(n_prompt > n_gen ? n_prompt : n_gen) + 1;
    params.n_batch = (uint32_t)n_batch;
    params.n_threads = threads;
    placement_args_apply_context(&placement_choice, &params);
    infer_context *ctx = NULL;
    if (!check(infer_context_create(model, &params, &ctx), "context")) return 1;
    infer_memory_requirements req;
    infer_memory_requirements_init(&req);
    if (!check(infer_context_memory_requirements(model, &params, &req), "memory")) return 1;

    int32_t max_vocab_token = 0;
    {
        const float *logits = NULL;
        uint32_t n_vocab = 0;
        const int32_t first = 0;
        if (!check(infer_decode(ctx, &first, 1), "decode") ||
            !check(infer_context_logits(ctx, -1, &logits, &n_vocab), "logits"))
            return 1;
        max_vocab_token = (int32_t)n_vocab;
    }
    const int n_tokens = n_prompt > n_gen ? n_prompt : n_gen;
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)(n_tokens > 0 ? n_tokens : 1));
    if (!tokens) return 1;
    fill_tokens(tokens, n_tokens, (uint32_t)max_vocab_token);
    infer_context_reset_expert_counts(ctx);
    double membw_before = 0;
    if (membw && !check(infer_measure_read_bandwidth(threads, &membw_before), "memory bandwidth"))
        return 1;

    if (placement_choice.backend != INFER_BACKEND_CPU) {
        /* What the device is and what the backend uses of it: figures mean little without it. */
        char device[512];
        if (!check(infer_backend_device_describe(placement_choice.backend, placement_choice.device,
                                                 device, sizeof device, NULL),
                   "device"))
            return 1;
        printf("device: %s\n\n", device);
    }
    printf("| model | size | params | backend | ngl | %sthreads | test | t/s | GB/s |\n",
           ot ? "ot | " : "");
    printf("| --- | ---: | ---: | --- | ---: | %s---: | --- | ---: | ---: |\n", ot ? "--- | " : "");
    char name[96];
    snprintf(name, sizeof name, "%s %s", info.architecture, info.name[0] ? info.name : "");
    double mean = 0, sd = 0, tg_mean = 0;
    infer_context_stats pp_stats; /* the timed prompt runs' (bench resets the stats first) */
    infer_context_stats_init(&pp_stats);
    if (n_prompt > 0) {
        if (!bench(ctx, tokens, n_prompt, 1, repeats, &mean, &sd) ||
            !check(infer_context_get_stats(ctx, &pp_stats), "stats"))
            return 1;
        print_row_start(name, &info, backend_name, &placement, ot, threads);
        printf("pp%d | %.2f ± %.2f | |\n", n_prompt, mean, sd);
    }
    infer_context_stats stats;
    infer_context_stats_init(&stats);
    if (n_gen > 0) {
        if (!bench(ctx, tokens, n_gen, 0, repeats, &mean, &sd)) return 1;
        tg_mean = mean;
        if (!check(infer_context_get_stats(ctx, &stats), "stats")) return 1;
        print_row_start(name, &info, backend_name, &placement, ot, threads);
        printf("tg%d | %.2f ± %.2f | %.2f |\n", n_gen, mean, sd,
               mean * (double)stats.weight_bytes_per_token / 1e9);
        if (info.n_expert > 0)
            printf("\nexperts: %u per layer, %u per token; a decode step reads %.2f MiB of weights, "
                   "%.2f MiB of them expert weights (%.1f%% of all expert bytes): tg reads expert "
                   "weights at %.1f GB/s\n",
                   info.n_expert, info.n_expert_used, stats.weight_bytes_per_token / 1048576.0,
                   stats.expert_bytes_per_token / 1048576.0, 100.0 * info.n_expert_used / info.n_expert,
                   tg_mean * (double)stats.expert_bytes_per_token / 1e9);
        if (stats.decode_cpu_expert_seconds > 0)
            printf("expert FFN: %.1f%% of the tg time, reading expert weights at %.1f GB/s\n",
                   100.0 * stats.decode_cpu_expert_seconds / stats.decode_seconds,
                   expert_lane_rate(&stats) / 1e9);
        if (stats.handoffs > 0)
            printf("split: the CPU waited for the device %llu times, %.1f us each on average; CPU "
                   "experts %.2f ms per decode step\n",
                   (unsigned long long)stats.handoffs, 1e6 * stats.handoff_wait_seconds / stats.handoffs,
                   stats.decode_tokens ? 1e3 * stats.decode_cpu_expert_seconds / stats.decode_tokens : 0.0);
    }
    if (pp_stats.prefill_streamed_experts > 0)
        printf("prefill streaming: %.1f experts (%.1f MiB) copied to the device per pp%d run\n",
               (double)pp_stats.prefill_streamed_experts / repeats,
               pp_stats.prefill_streamed_bytes / 1048576.0 / repeats, n_prompt);
    if (membw && !print_membw(threads, membw_before, tg_mean, &stats)) return 1;
    if (!check(infer_context_get_stats(ctx, &stats), "stats")) return 1;
    if (expert_stats && !write_expert_stats(ctx, expert_stats)) return 1;
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("\nmemory: peak RSS %.1f MiB; context %.1f MiB (KV cache %.1f MiB, activations %.2f MiB, "
           "planned lower bound %.2f MiB); weights %.1f MiB %s, %.1f MiB of them (%u weights) "
           "repacked for the CPU%s\n",
           usage.ru_maxrss / 1024.0, req.total_bytes / 1048576.0, req.kv_cache_bytes / 1048576.0,
           req.activation_bytes / 1048576.0, req.activation_lower_bound / 1048576.0,
           info.tensor_data_bytes / 1048576.0, no_mmap ? "read into memory" : "mapped from the file",
           info.cpu_repacked_bytes / 1048576.0, info.cpu_repacked_weights,
           membw ? " (the peak includes --membw's buffer)" : "");
    print_placement_line(&placement);
    if (placement_choice.backend != INFER_BACKEND_CPU)
        printf("device memory: %.1f MiB (weights, KV cache, activations, workspace; the peak)\n",
               stats.device_memory_bytes / 1048576.0);
    free(tokens);
    infer_context_free(ctx);
    infer_model_free(model);
    return 0;
}
