#include "placement_args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

// clang-format off
const char placement_args_help[] =
"      --backend cpu|cuda|vulkan\n"
"                       where the model runs (default cpu); a device backend uploads the\n"
"                       weights it holds at load\n"
"      --device N       which device of that backend (default 0)\n"
"  -ngl, --n-gpu-layers N|all|auto\n"
"                       layers the device holds, the rest running on the CPU: the last N\n"
"                       repeating layers (N above the layer count: the output layer too),\n"
"                       all (default), or auto (as many as fit its free memory); needs a\n"
"                       device --backend\n"
"  -ot, --override PATTERN=BACKEND\n"
"                       weights whose name the regex PATTERN matches live on BACKEND (cpu,\n"
"                       or the device backend; any case): exps=cpu keeps MoE experts on the\n"
"                       CPU. Repeatable, the first match wins. llama.cpp's list a=CPU,b=CPU\n"
"                       works too: a comma ends an entry only right after =BACKEND, so\n"
"                       regexes such as [0-9]{1,2} keep theirs\n"
"      --device-budget SIZE\n"
"                       most device memory for weights and contexts (bytes, or with K, M, G:\n"
"                       8G); default: the device's memory\n"
"      --experts layer|popularity\n"
"                       routed experts follow their layers (default, as llama.cpp), or the\n"
"                       device keeps the most popular (layer, expert) pairs that fit the budget\n"
"                       and the CPU computes the rest (CPU-GPU expert offload)\n"
"      --expert-popularity FILE\n"
"                       popularity from infer-bench --expert-stats output (implies --experts\n"
"                       popularity)\n"
"      --calibrate TEXT popularity from running TEXT through the model at load (implies\n"
"                       --experts popularity; without either: every expert equally likely)\n"
"      --expert-prefill auto|cpu|stream\n"
"                       with experts off the device, how prompts (prefill) compute them: by\n"
"                       the cost model per expert (auto, default), on the CPU, or copied to\n"
"                       the device (stream)\n";
// clang-format on

static const struct {
    const char *name;
    int32_t backend;
} kBackends[] = {
    {"cpu", INFER_BACKEND_CPU}, {"cuda", INFER_BACKEND_CUDA}, {"vulkan", INFER_BACKEND_VULKAN}};

/* A backend name at the start of `text`, any case, followed by `end` or the string's end: its id
 * and length, or 0. */
static int backend_at(const char *text, char end, int32_t *backend, size_t *length) {
    for (size_t k = 0; k < sizeof kBackends / sizeof *kBackends; ++k) {
        const char *name = kBackends[k].name;
        size_t n = 0;
        while (name[n] && (text[n] | 0x20) == name[n])
            ++n; /* ASCII letters: | 0x20 lowers */
        if (name[n] || (text[n] != end && text[n] != '\0')) continue;
        *backend = kBackends[k].backend;
        *length = n;
        return 1;
    }
    return 0;
}

void placement_args_init(placement_args *p) {
    memset(p, 0, sizeof *p);
    p->backend = INFER_BACKEND_CPU;
    p->n_gpu_layers = INFER_GPU_LAYERS_ALL;
}

static int parse_count(const char *text, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    const long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 0 || v > hi) return 0;
    *out = v;
    return 1;
}

/* One --override value: PATTERN=BACKEND, or several joined by commas. `option` is the spelling
 * used, for the messages. */
static int parse_overrides(placement_args *p, const char *option, const char *value, char *error,
                           size_t capacity) {
    const char *entry = value;
    for (;;) {
        /* The entry ends at the first '=' that a backend name and then ',' or the end follow. */
        const char *eq = strchr(entry, '=');
        int32_t backend = 0;
        size_t name_length = 0;
        while (eq && !backend_at(eq + 1, ',', &backend, &name_length))
            eq = strchr(eq + 1, '=');
        if (!eq) {
            snprintf(error, capacity,
                     "%s %s: expected PATTERN=BACKEND (BACKEND cpu, cuda or vulkan)", option,
                     value);
            return -1;
        }
        const size_t pattern_length = (size_t)(eq - entry);
        if (pattern_length == 0) {
            snprintf(error, capacity, "%s %s: empty pattern before '='", option, value);
            return -1;
        }
        if (pattern_length >= PLACEMENT_MAX_PATTERN || p->n_overrides == PLACEMENT_MAX_OVERRIDES) {
            snprintf(error, capacity, "%s %s: at most %d patterns of %d characters", option, value,
                     PLACEMENT_MAX_OVERRIDES, PLACEMENT_MAX_PATTERN - 1);
            return -1;
        }
        char *pattern = p->patterns[p->n_overrides];
        memcpy(pattern, entry, pattern_length);
        pattern[pattern_length] = '\0';
        p->overrides[p->n_overrides].pattern = pattern;
        p->overrides[p->n_overrides].backend = backend;
        p->n_overrides++;
        const char *next = eq + 1 + name_length;
        if (*next == '\0') return 1;
        entry = next + 1; /* past the comma */
        if (*entry == '\0') {
            snprintf(error, capacity, "%s %s: nothing after the last comma", option, value);
            return -1;
        }
    }
}

/* Bytes, or a number with a K, M or G suffix (powers of 1024). */
static int parse_size(const char *text, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    const unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || text[0] == '-') return 0;
    int shift = 0;
    if (*end == 'K' || *end == 'k') shift = 10;
    if (*end == 'M' || *end == 'm') shift = 20;
    if (*end == 'G' || *end == 'g') shift = 30;
    if (shift) ++end;
    if (*end || v > (UINT64_MAX >> shift)) return 0;
    *out = (uint64_t)v << shift;
    return 1;
}

static int is(const char *arg, const char *a, const char *b) {
    return !strcmp(arg, a) || (b && !strcmp(arg, b));
}

int placement_args_parse(placement_args *p, int argc, char **argv, int *i, char *error,
                         size_t capacity) {
    const char *a = argv[*i];
    if (!is(a, "--backend", NULL) && !is(a, "--device", NULL) && !is(a, "-ngl", "--n-gpu-layers") &&
        !is(a, "-ot", "--override") && !is(a, "--override-tensor", NULL) &&
        !is(a, "--device-budget", NULL) && !is(a, "--experts", NULL) &&
        !is(a, "--expert-popularity", NULL) && !is(a, "--calibrate", NULL) &&
        !is(a, "--expert-prefill", NULL))
        return 0;
    if (*i + 1 >= argc) {
        snprintf(error, capacity, "%s needs a value", a);
        return -1;
    }
    const char *v = argv[++*i];
    long n = 0;
    if (is(a, "--backend", NULL)) {
        size_t length = 0;
        if (!backend_at(v, '\0', &p->backend, &length)) {
            snprintf(error, capacity, "--backend %s: not one of cpu, cuda, vulkan", v);
            return -1;
        }
    } else if (is(a, "--device", NULL)) {
        if (!parse_count(v, 1024, &n)) {
            snprintf(error, capacity, "--device %s: not a device index", v);
            return -1;
        }
        p->device = (int32_t)n;
    } else if (is(a, "-ngl", "--n-gpu-layers")) {
        if (!strcmp(v, "all"))
            p->n_gpu_layers = INFER_GPU_LAYERS_ALL;
        else if (!strcmp(v, "auto"))
            p->n_gpu_layers = INFER_GPU_LAYERS_AUTO;
        else if (parse_count(v, 1000000, &n))
            p->n_gpu_layers = (int32_t)n;
        else {
            snprintf(error, capacity, "%s %s: expected a layer count (0 or more), all or auto", a,
                     v);
            return -1;
        }
        p->n_gpu_layers_set = 1;
    } else if (is(a, "--device-budget", NULL)) {
        if (!parse_size(v, &p->device_budget)) {
            snprintf(error, capacity, "--device-budget %s: expected bytes, or a size like 512M or 8G", v);
            return -1;
        }
    } else if (is(a, "--experts", NULL)) {
        if (!strcmp(v, "layer"))
            p->expert_placement = INFER_EXPERTS_BY_LAYER;
        else if (!strcmp(v, "popularity"))
            p->expert_placement = INFER_EXPERTS_BY_POPULARITY;
        else {
            snprintf(error, capacity, "--experts %s: not one of layer, popularity", v);
            return -1;
        }
    } else if (is(a, "--expert-prefill", NULL)) {
        if (!strcmp(v, "auto"))
            p->expert_prefill = INFER_EXPERT_PREFILL_AUTO;
        else if (!strcmp(v, "cpu"))
            p->expert_prefill = INFER_EXPERT_PREFILL_CPU;
        else if (!strcmp(v, "stream"))
            p->expert_prefill = INFER_EXPERT_PREFILL_STREAM;
        else {
            snprintf(error, capacity, "--expert-prefill %s: not one of auto, cpu, stream", v);
            return -1;
        }
    } else if (is(a, "--expert-popularity", NULL) || is(a, "--calibrate", NULL)) {
        *(is(a, "--calibrate", NULL) ? &p->calibration : &p->expert_stats) = v;
        p->expert_placement = INFER_EXPERTS_BY_POPULARITY;
    } else {
        return parse_overrides(p, a, v, error, capacity);
    }
    return 1;
}

int placement_args_check(const placement_args *p, char *error, size_t capacity) {
    if (p->n_gpu_layers_set && p->backend == INFER_BACKEND_CPU) {
        snprintf(error, capacity,
                 "--n-gpu-layers places layers on a device: add --backend cuda (or vulkan)");
        return 0;
    }
    if (p->expert_placement == INFER_EXPERTS_BY_POPULARITY && p->backend == INFER_BACKEND_CPU) {
        snprintf(error, capacity,
                 "--experts popularity shares experts between a device and the CPU: add "
                 "--backend cuda");
        return 0;
    }
    return 1;
}

void placement_args_apply(const placement_args *p, infer_model_params *params) {
    params->backend = p->backend;
    params->device = p->device;
    params->n_gpu_layers = p->n_gpu_layers;
    params->overrides = p->n_overrides ? p->overrides : NULL;
    params->n_overrides = p->n_overrides;
    params->device_memory_budget = p->device_budget;
    params->expert_placement = p->expert_placement;
    params->expert_stats_path = p->expert_stats;
    params->calibration_text = p->calibration;
}

void placement_args_apply_context(const placement_args *p, infer_context_params *params) {
    params->expert_prefill = p->expert_prefill;
}

const char *placement_backend_name(int32_t backend) {
    switch (backend) {
    case INFER_BACKEND_CPU:
        return "CPU";
    case INFER_BACKEND_CUDA:
        return "CUDA";
    case INFER_BACKEND_VULKAN:
        return "Vulkan";
    default:
        return "?";
    }
}

void placement_args_overrides_text(const placement_args *p, char *buf, size_t capacity) {
    size_t used = 0;
    if (capacity) buf[0] = '\0';
    if (p->n_overrides == 0) snprintf(buf, capacity, "-");
    for (int32_t k = 0; k < p->n_overrides && used < capacity; ++k)
        used += (size_t)snprintf(buf + used, capacity - used, "%s%s=%s", k ? "," : "",
                                 p->overrides[k].pattern,
                                 placement_backend_name(p->overrides[k].backend));
}

int placement_print(const infer_model *model, FILE *out, const char *program) {
    size_t length = 0;
    char probe[1];
    char *text = NULL;
    infer_status status = infer_model_placement_text(model, probe, sizeof probe, &length);
    if (status == INFER_OK && !(text = malloc(length + 1))) {
        fprintf(stderr, "%s: placement: %s\n", program,
                infer_status_string(INFER_ERR_OUT_OF_MEMORY));
        return 0;
    }
    if (status == INFER_OK) status = infer_model_placement_text(model, text, length + 1, &length);
    if (status != INFER_OK) {
        fprintf(stderr, "%s: placement: %s: %s\n", program, infer_status_string(status),
                infer_last_error());
        free(text);
        return 0;
    }
    fputs(text, out);
    free(text);
    return 1;
}
