#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MODEL "SmolLM2-135M-Instruct.Q4_1.gguf"

/* The help text is laid out as it prints; the placement options are shared (placement_args.h). */
static void print_help(FILE *out) {
    // clang-format off
    fprintf(out,
"usage: infer-chat [-m MODEL.gguf] [options]\n"
"\n"
"Chats with a model in the terminal, answers streamed as they are generated. The conversation\n"
"stays in the model's KV cache: each turn only the new message is processed.\n"
"Ctrl-C stops the answer being written and returns to the prompt; Ctrl-C at the prompt, or\n"
"end of input (Ctrl-D), exits. A line \"/reset\" starts a new conversation.\n"
"\n"
"  -m, --model PATH     GGUF model; default: " DEFAULT_MODEL " in the model\n"
"                       cache ($INFER_MODEL_DIR, else ~/.cache/libinfer/models)\n"
"  -s, --system TEXT    system prompt (default: none, or the template's own default)\n"
"  -p, --prompt TEXT    answer TEXT once, print the answer and exit (no interactive prompt)\n"
"  -n, --n-predict N    most tokens per answer (default -1: until the model ends its turn)\n"
"  -t, --threads N      CPU threads (default 0: one per core)\n");
    fputs(placement_args_help, out);
    fprintf(out,
"      --no-mmap        read the model file into memory instead of mapping it: the file may\n"
"                       then change or go away while chatting; costs RAM of the file's size\n"
"                       and a slower start\n"
"      --cpu-weights repack|in-place\n"
"                       repack the weights the CPU multiplies into its kernels' layout at\n"
"                       load (default: faster, same answers), or read them in place\n"
"  -c, --ctx N          context length in tokens (default 2048; 0: the model's own, at most\n"
"                       4096). The whole conversation must fit in it.\n"
"      --ctx-overflow stop|shift\n"
"                       when the conversation no longer fits in the context:\n"
"                       stop  (default) end the answer there with a message; the next\n"
"                             message needs /reset or a larger --ctx\n"
"                       shift forget the oldest exchanges (user message and answer), keeping\n"
"                             the system prompt, until a quarter of the context is free;\n"
"                             then the kept conversation after the system prompt is\n"
"                             processed again (the system prompt stays in the cache), and\n"
"                             the answer goes on\n"
"      --template NAME  chat format instead of the model's own: chatml, gemma, llama3,\n"
"                       mistral-v1, mistral-v3, mistral-v7, gpt-oss,\n"
"                       deepseek-v3.1\n"
"      --temp T         sampling temperature (default 0.8; 0: greedy)\n"
"      --top-k K        (default 40; 0: off)\n"
"      --top-p P        (default 0.95; 1: off)\n"
"      --min-p P        (default 0.05; 0: off)\n"
"      --repeat-penalty R  (default 1: off)\n"
"      --repeat-last-n N   tokens the penalty looks back over (default 64)\n"
"      --seed S         random seed (default: fixed, so runs repeat)\n"
"  -v, --verbose        print tokens/s and memory on exit, per turn how many tokens the\n"
"                       KV cache already held, and with a device backend where each layer\n"
"                       runs\n"
"  -h, --help           this text\n");
    // clang-format on
}

/* The default model's path in the model cache (scripts/model-dir.sh defines the same place). */
static int default_model(char *buf, size_t capacity) {
    const char *dir = getenv("INFER_MODEL_DIR");
    const char *cache = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (dir && *dir)
        n = snprintf(buf, capacity, "%s/%s", dir, DEFAULT_MODEL);
    else if (cache && *cache)
        n = snprintf(buf, capacity, "%s/libinfer/models/%s", cache, DEFAULT_MODEL);
    else
        n = snprintf(buf, capacity, "%s/.cache/libinfer/models/%s", home ? home : "",
                     DEFAULT_MODEL);
    return n > 0 && (size_t)n < capacity;
}

static int parse_long(const char *text, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    const long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int parse_float(const char *text, float *out) {
    char *end = NULL;
    errno = 0;
    const float v = strtof(text, &end);
    if (errno || end == text || *end) return 0;
    *out = v;
    return 1;
}

static int usage_error(const char *fmt, const char *arg) {
    fputs("infer-chat: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(infer-chat --help lists the options)\n", stderr);
    return 2;
}

int chat_options_parse(int argc, char **argv, chat_options *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = -1;
    o->n_ctx = 2048;
    o->overflow = OVERFLOW_STOP;
    infer_sampler_params_init(&o->sampling);
    const char *model = NULL;

    placement_args_init(&o->placement);
    char error[512];

    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const int placement =
            placement_args_parse(&o->placement, argc, argv, &i, error, sizeof error);
        if (placement < 0) return usage_error("%s", error);
        if (placement > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_help(stdout);
            return 0;
        }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose = 1;
            continue;
        }
        if (!strcmp(a, "--no-mmap")) {
            o->no_mmap = 1;
            continue;
        }
        if (!strcmp(a, "--cpu-weights") && i + 1 < argc &&
            (!strcmp(argv[i + 1], "repack") || !strcmp(argv[i + 1], "in-place"))) {
            o->cpu_weights = !strcmp(argv[++i], "repack") ? INFER_CPU_WEIGHTS_REPACK
                                                          : INFER_CPU_WEIGHTS_IN_PLACE;
            continue;
        }
        static const char *const with_value[] = {
            "-m",        "--model",    "-s",      "--system",         "-p",
            "--prompt",  "--template", "-n",      "--n-predict",      "-t",
            "--threads", "-c",         "--ctx",   "--ctx-overflow",   "--temp",
            "--top-k",   "--top-p",    "--min-p", "--repeat-penalty", "--repeat-last-n",
            "--seed"};
        int known = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof *with_value; ++k)
            known |= !strcmp(a, with_value[k]);
        if (!known) return usage_error("unknown option %s", a);
        if (i + 1 >= argc) return usage_error("%s needs a value", a);
        const char *v = argv[++i];
        long n = 0;
        float f = 0;
        if (!strcmp(a, "-m") || !strcmp(a, "--model"))
            model = v;
        else if (!strcmp(a, "-s") || !strcmp(a, "--system"))
            o->system_prompt = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt"))
            o->prompt = v;
        else if (!strcmp(a, "--template"))
            o->template_name = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (!parse_long(v, -1, 1000000, &n)) return usage_error("-n: bad count %s", v);
            o->n_predict = (int)n;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!parse_long(v, 0, 1024, &n)) return usage_error("--threads: bad count %s", v);
            o->n_threads = (int)n;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
            if (!parse_long(v, 0, 1L << 20, &n)) return usage_error("--ctx: bad length %s", v);
            o->n_ctx = (uint32_t)n;
        } else if (!strcmp(a, "--ctx-overflow")) {
            if (!strcmp(v, "stop"))
                o->overflow = OVERFLOW_STOP;
            else if (!strcmp(v, "shift"))
                o->overflow = OVERFLOW_SHIFT;
            else
                return usage_error("--ctx-overflow: %s is neither stop nor shift", v);
        } else if (!strcmp(a, "--temp")) {
            if (!parse_float(v, &o->sampling.temperature)) return usage_error("--temp: %s", v);
        } else if (!strcmp(a, "--top-k")) {
            if (!parse_long(v, 0, 1L << 30, &n)) return usage_error("--top-k: %s", v);
            o->sampling.top_k = (int32_t)n;
        } else if (!strcmp(a, "--top-p")) {
            if (!parse_float(v, &o->sampling.top_p)) return usage_error("--top-p: %s", v);
        } else if (!strcmp(a, "--min-p")) {
            if (!parse_float(v, &o->sampling.min_p)) return usage_error("--min-p: %s", v);
        } else if (!strcmp(a, "--repeat-penalty")) {
            if (!parse_float(v, &f)) return usage_error("--repeat-penalty: %s", v);
            o->sampling.repeat_penalty = f;
        } else if (!strcmp(a, "--repeat-last-n")) {
            if (!parse_long(v, 0, 1L << 20, &n)) return usage_error("--repeat-last-n: %s", v);
            o->sampling.penalty_last_n = (int32_t)n;
        } else if (!strcmp(a, "--seed")) {
            char *end = NULL;
            errno = 0;
            const unsigned long long seed = strtoull(v, &end, 10);
            if (errno || end == v || *end) return usage_error("--seed: %s", v);
            o->sampling.seed = (uint64_t)seed;
        }
    }

    if (!placement_args_check(&o->placement, error, sizeof error)) return usage_error("%s", error);
    if (model) {
        if (strlen(model) >= sizeof o->model_path)
            return usage_error("-m: path too long: %s", model);
        strcpy(o->model_path, model);
    } else if (!default_model(o->model_path, sizeof o->model_path)) {
        return usage_error("%s", "the model cache path is too long; pass -m");
    } else {
        o->model_is_default = 1;
    }
    return -1;
}
