/*
 * infer-chat: a terminal chat with a model, on the public C API only.
 *
 *   infer-chat [-m MODEL.gguf] [--system TEXT] [--prompt TEXT] [-n N] [--ctx N] ... (--help)
 *
 * Reads one user message a line, streams the answer as it is generated, and keeps the
 * conversation in the KV cache (conversation.h). Ctrl-C stops an answer (or a long prompt being
 * processed) and returns to the prompt; Ctrl-C at the prompt or end of input exits.
 */
#define _POSIX_C_SOURCE 200809L /* sigaction, getline, isatty */

#include "conversation.h"
#include "options.h"
#include "utf8_stream.h"

#include "infer.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- Ctrl-C ------------------------------------------------------------------------------- */

/* Set by the SIGINT handler; cleared when an answer has stopped. */
static volatile sig_atomic_t g_interrupted;
/* Set while the program waits for the user's message, where Ctrl-C means "exit". */
static volatile sig_atomic_t g_at_prompt;
/* The context while it runs a turn, so that the handler can stop a decode in progress.
 * infer_context_cancel only stores to an atomic flag, which is async-signal-safe; the pointer is
 * written by the main thread only between turns. */
static infer_context *volatile g_running;

static void on_sigint(int signal_number) {
    (void)signal_number;
    g_interrupted = 1;
    infer_context *ctx = g_running;
    if (ctx) infer_context_cancel(ctx);
    /* At the prompt: end the input. A read in progress returns (EINTR, no SA_RESTART) and one
     * about to start fails (EBADF), so the prompt loop ends even when the signal comes between
     * its last check and the read. close() is async-signal-safe. */
    if (g_at_prompt) close(STDIN_FILENO);
}

static void install_sigint_handler(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
}

/* ---- Loading ------------------------------------------------------------------------------ */

static int32_t show_progress(float progress, void *user_data) {
    (void)user_data;
    if (g_interrupted) return 0; /* Ctrl-C while loading cancels the load */
    enum { WIDTH = 30 };
    const int filled = (int)(progress * WIDTH + 0.5f);
    fprintf(stderr, "\rloading [");
    for (int i = 0; i < WIDTH; ++i)
        fputc(i < filled ? '#' : ' ', stderr);
    fprintf(stderr, "] %3d%%", (int)(progress * 100 + 0.5f));
    if (progress >= 1.0f) fprintf(stderr, "\r%*s\r", WIDTH + 16, "");
    fflush(stderr);
    return 1;
}

static int32_t check_interrupt(float progress, void *user_data) {
    (void)progress;
    (void)user_data;
    return !g_interrupted;
}

/* ---- The chat ------------------------------------------------------------------------------ */

typedef struct chat {
    chat_options options;
    infer_model *model;
    infer_context *ctx;
    infer_sampler *sampler;
    conversation conv;
    utf8_stream answer_text;
    token_list answer; /* the current answer's tokens */
    int32_t stop_tokens[2];
} chat;

static void report(const char *what, infer_status status) {
    fprintf(stderr, "infer-chat: %s: %s", what, infer_status_string(status));
    if (status != INFER_ERR_OUT_OF_MEMORY && *infer_last_error())
        fprintf(stderr, ": %s", infer_last_error());
    fputc('\n', stderr);
}

/* What the user can do about a full context. */
static void print_full_context_advice(const chat *c) {
    fprintf(stderr, "Type /reset to start a new conversation, or run with a larger --ctx%s.\n",
            c->options.overflow == OVERFLOW_STOP ? " or --ctx-overflow shift" : "");
}

/* mid_answer: the answer's text so far is on the current line. */
static void report_sync(const chat *c, int mid_answer) {
    if (c->conv.last_dropped)
        fprintf(stderr, "%sinfer-chat: context full: dropped the %zu oldest exchange%s\n",
                mid_answer ? "\n" : "", c->conv.last_dropped, c->conv.last_dropped == 1 ? "" : "s");
    if (c->options.verbose)
        fprintf(stderr, "[kv cache: %zu tokens reused, %zu processed]\n", c->conv.last_reused,
                c->conv.last_processed);
}

typedef enum { ANSWER_DONE, ANSWER_INTERRUPTED, ANSWER_CONTEXT_FULL, ANSWER_FAILED } answer_end;

static int is_stop_token(const chat *c, int32_t token) {
    return token == c->stop_tokens[0] || token == c->stop_tokens[1];
}

/* Samples, streams and processes tokens until the answer ends. The KV cache holds the prompt. */
static answer_end generate(chat *c) {
    const int shift = c->options.overflow == OVERFLOW_SHIFT;
    for (;;) {
        if (g_interrupted) return ANSWER_INTERRUPTED;
        if (c->options.n_predict >= 0 && c->answer.count >= (size_t)c->options.n_predict)
            return ANSWER_DONE;
        const float *logits = NULL;
        uint32_t n_vocab = 0;
        int32_t token = 0;
        infer_status status = infer_context_logits(c->ctx, -1, &logits, &n_vocab);
        if (status == INFER_OK) status = infer_sampler_sample(c->sampler, logits, &token);
        if (status == INFER_OK) status = infer_sampler_accept(c->sampler, token);
        if (status != INFER_OK) {
            report("sampling", status);
            return ANSWER_FAILED;
        }
        if (is_stop_token(c, token)) return ANSWER_DONE;

        char piece[256];
        size_t length = 0;
        status = infer_token_to_piece(c->model, token, 1, piece, sizeof piece, &length);
        if (status != INFER_OK || length >= sizeof piece) {
            report("token text", status == INFER_OK ? INFER_ERR_BUFFER_TOO_SMALL : status);
            return ANSWER_FAILED;
        }
        if (!token_list_push(&c->answer, token) ||
            !utf8_stream_write(&c->answer_text, piece, length)) {
            report("answer", INFER_ERR_OUT_OF_MEMORY);
            return ANSWER_FAILED;
        }

        if (infer_context_position(c->ctx) < infer_context_n_ctx(c->ctx)) {
            status = conversation_decode(&c->conv, token);
        } else { /* no room for this token */
            if (!shift) return ANSWER_CONTEXT_FULL;
            status = conversation_sync(&c->conv, c->answer.ids, c->answer.count, 1);
            if (status == INFER_ERR_CONTEXT_FULL) return ANSWER_CONTEXT_FULL;
            if (status == INFER_OK) report_sync(c, 1);
        }
        if (status == INFER_ERR_CANCELLED) return ANSWER_INTERRUPTED;
        if (status != INFER_OK) {
            report("decode", status);
            return ANSWER_FAILED;
        }
    }
}

typedef enum { TURN_ANSWERED, TURN_SKIPPED, TURN_FATAL } turn_result;

/* Processes the conversation up to the new message. */
static infer_status process_message(chat *c) {
    return conversation_sync(&c->conv, NULL, 0, c->options.overflow == OVERFLOW_SHIFT);
}

/* One exchange: the user's message, then the answer. */
static turn_result turn(chat *c, const char *message) {
    infer_status status = conversation_add(&c->conv, "user", message);
    if (status != INFER_OK) {
        report("message", status);
        return TURN_FATAL;
    }
    c->answer.count = 0;
    utf8_stream_clear(&c->answer_text);
    /* A Ctrl-C that came after the previous turn's last decode had finished left a cancel
     * pending; it was meant for that turn, not this one. */
    infer_context_cancel_clear(c->ctx);
    g_running = c->ctx;
    status = process_message(c);
    answer_end end = ANSWER_FAILED;
    if (status == INFER_OK) {
        report_sync(c, 0);
        end = generate(c);
    }
    g_running = NULL;
    utf8_stream_finish(&c->answer_text);

    if (status != INFER_OK) { /* the message could not even be processed */
        conversation_pop(&c->conv);
        if (status == INFER_ERR_CONTEXT_FULL) {
            fprintf(stderr,
                    "infer-chat: this message does not fit: the conversation would need %zu "
                    "tokens, the context holds %u. ",
                    c->conv.target.count, (unsigned)infer_context_n_ctx(c->ctx));
            print_full_context_advice(c);
            return TURN_SKIPPED;
        }
        if (status == INFER_ERR_CANCELLED) {
            fprintf(stderr, "\n[interrupted]\n");
            return TURN_SKIPPED;
        }
        report("processing the conversation", status);
        return TURN_FATAL;
    }
    fputc('\n', stdout);
    fflush(stdout);
    if (end == ANSWER_INTERRUPTED) fprintf(stderr, "[interrupted]\n");
    if (end == ANSWER_CONTEXT_FULL) {
        fprintf(stderr, "infer-chat: the context is full (%u tokens): the answer stops here. ",
                (unsigned)infer_context_n_ctx(c->ctx));
        print_full_context_advice(c);
    }
    /* The answer as far as it went stays in the conversation, as the user saw it. */
    status = conversation_add(&c->conv, "assistant",
                              c->answer_text.text.data ? c->answer_text.text.data : "");
    if (status != INFER_OK) {
        report("answer", status);
        return TURN_FATAL;
    }
    return end == ANSWER_FAILED ? TURN_FATAL : TURN_ANSWERED;
}

/* ---- Set-up and the prompt loop ----------------------------------------------------------- */

static int open_chat(chat *c) {
    const chat_options *o = &c->options;
    if (access(o->model_path, R_OK) != 0 && o->model_is_default) {
        fprintf(stderr,
                "infer-chat: no model given (-m) and the default one, %s, is missing.\n"
                "Fetch it with scripts/fetch-models.sh (from the libinfer sources), or pass "
                "-m MODEL.gguf.\n",
                o->model_path);
        return 0;
    }
    infer_model_params model_params;
    infer_model_params_init(&model_params);
    model_params.progress = isatty(STDERR_FILENO) ? show_progress : check_interrupt;
    placement_args_apply(&o->placement, &model_params);
    model_params.read_into_memory = o->no_mmap;
    model_params.cpu_weights = o->cpu_weights;
    infer_status status = infer_model_load_file(o->model_path, &model_params, &c->model);
    if (status != INFER_OK) {
        report(o->model_path, status);
        return 0;
    }
    /* A split between the CPU and a device is worth seeing: it decides the speed. */
    if (o->verbose && o->placement.backend != INFER_BACKEND_CPU &&
        !placement_print(c->model, stderr, "infer-chat"))
        return 0;
    if (!o->template_name) { /* say now, not at the first message, that --template is needed */
        const char *format = NULL;
        status = infer_model_chat_template(c->model, &format);
        if (status != INFER_OK) {
            report("chat template", status);
            fprintf(stderr, "Choose a format with --template (chatml, gemma, llama3, mistral-v1, "
                            "mistral-v3, mistral-v7, gpt-oss, deepseek-v3.1).\n");
            return 0;
        }
    }
    infer_context_params params;
    infer_context_params_init(&params);
    params.n_ctx = o->n_ctx;
    params.n_threads = o->n_threads;
    placement_args_apply_context(&o->placement, &params);
    status = infer_context_create(c->model, &params, &c->ctx);
    if (status == INFER_OK)
        status = infer_sampler_create(infer_model_n_vocab(c->model), &o->sampling, &c->sampler);
    if (status == INFER_OK)
        status = conversation_init(&c->conv, c->model, c->ctx, o->template_name, o->system_prompt);
    if (status != INFER_OK) {
        report("setting up", status);
        return 0;
    }
    c->answer_text.out = stdout;
    c->stop_tokens[0] = infer_model_special_token(c->model, INFER_TOKEN_EOS);
    c->stop_tokens[1] = infer_model_special_token(c->model, INFER_TOKEN_EOT);
    if (c->stop_tokens[1] < 0) c->stop_tokens[1] = c->stop_tokens[0];
    return 1;
}

static void print_statistics(const chat *c) {
    infer_context_stats stats;
    infer_context_stats_init(&stats);
    infer_memory_requirements req;
    infer_memory_requirements_init(&req);
    infer_context_params params;
    infer_context_params_init(&params);
    params.n_ctx = infer_context_n_ctx(c->ctx);
    params.n_threads = c->options.n_threads;
    if (infer_context_get_stats(c->ctx, &stats) != INFER_OK ||
        infer_context_memory_requirements(c->model, &params, &req) != INFER_OK) {
        report("statistics", INFER_ERR_INTERNAL);
        return;
    }
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    const double mib = 1024.0 * 1024.0;
    fprintf(stderr, "infer-chat: prompt processing: %llu tokens, %.2f s, %.1f tokens/s\n",
            (unsigned long long)stats.prefill_tokens, stats.prefill_seconds,
            stats.prefill_seconds > 0 ? (double)stats.prefill_tokens / stats.prefill_seconds : 0);
    fprintf(stderr, "infer-chat: generation: %llu tokens, %.2f s, %.1f tokens/s\n",
            (unsigned long long)stats.decode_tokens, stats.decode_seconds,
            stats.decode_seconds > 0 ? (double)stats.decode_tokens / stats.decode_seconds : 0);
    fprintf(stderr,
            "infer-chat: memory: context %.1f MiB (KV cache %.1f MiB, activations %.1f MiB), "
            "weights %.1f MiB %s, peak RSS %.1f MiB\n",
            req.total_bytes / mib, req.kv_cache_bytes / mib, req.activation_bytes / mib,
            req.weight_bytes / mib, c->options.no_mmap ? "read into memory" : "mapped from the file",
            usage.ru_maxrss / 1024.0);
}

static void close_chat(chat *c) {
    conversation_free(&c->conv);
    text_buffer_free(&c->answer_text.text);
    token_list_free(&c->answer);
    infer_sampler_free(c->sampler);
    infer_context_free(c->ctx);
    infer_model_free(c->model);
}

/* Reads messages until end of input or a Ctrl-C at the prompt. Returns the exit status. */
static int prompt_loop(chat *c) {
    const int interactive = isatty(STDIN_FILENO);
    char *line = NULL;
    size_t capacity = 0;
    int status = 0;
    for (;;) {
        g_at_prompt = 1; /* before clearing: a Ctrl-C in between still ends the input */
        g_interrupted = 0;
        if (interactive) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        errno = 0;
        const ssize_t n = getline(&line, &capacity, stdin);
        g_at_prompt = 0;
        if (n < 0 || g_interrupted) {
            if (interactive) fputc('\n', stdout);
            if (n < 0 && !g_interrupted && errno && errno != EINTR && errno != EBADF) {
                perror("infer-chat: reading the prompt");
                status = 1;
            }
            break;
        }
        if (n > 0 && line[n - 1] == '\n') line[n - 1] = '\0';
        if (line[0] == '\0') continue;
        if (strcmp(line, "/reset") == 0) {
            const infer_status reset = conversation_reset(&c->conv);
            if (reset != INFER_OK) {
                report("reset", reset);
                status = 1;
                break;
            }
            fprintf(stderr, "[new conversation]\n");
            continue;
        }
        if (turn(c, line) == TURN_FATAL) {
            status = 1;
            break;
        }
    }
    free(line);
    return status;
}

int main(int argc, char **argv) {
    chat c;
    memset(&c, 0, sizeof c);
    const int parsed = chat_options_parse(argc, argv, &c.options);
    if (parsed >= 0) return parsed;
    install_sigint_handler();

    int status = 1;
    if (open_chat(&c)) {
        if (c.options.prompt) {
            status = turn(&c, c.options.prompt) == TURN_ANSWERED ? 0 : 1;
            if (g_interrupted) status = 130; /* stopped by Ctrl-C */
        } else {
            status = prompt_loop(&c);
        }
        if (c.options.verbose) print_statistics(&c);
    } else if (g_interrupted) {
        status = 130;
    }
    close_chat(&c);
    return status;
}
