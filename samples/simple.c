/*
 * simple: the smallest complete use of libinfer, in plain C99.
 *
 *   simple MODEL.gguf [N_TOKENS] [PROMPT]
 *
 * Loads a model, tokenizes the prompt (default "The capital of France is"), and generates up to
 * N_TOKENS (default 16) tokens greedily, stopping early at an end-of-sequence or end-of-turn
 * token. The prompt and continuation are streamed to stdout; the last line lists the generated
 * token ids ("ids: 1 2 3"), which the Python example's test compares with its own.
 *
 * Every call's status is checked; on failure the program prints infer_last_error() and frees what
 * it created before returning 1.
 */
#include "infer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints the failure of `what` and returns 0, or returns 1 when status is INFER_OK. */
static int ok(infer_status status, const char *what) {
    if (status == INFER_OK) return 1;
    fprintf(stderr, "simple: %s: %s: %s\n", what, infer_status_string(status), infer_last_error());
    return 0;
}

/* Writes the bytes of one token to stdout. Pieces may end inside a UTF-8 sequence; written one
 * after another, the bytes still form the right text. */
static int print_token(const infer_model *model, int32_t token) {
    char piece[256];
    size_t length = 0;
    if (!ok(infer_token_to_piece(model, token, 1, piece, sizeof piece, &length), "token_to_piece"))
        return 0;
    if (length >= sizeof piece) {
        fprintf(stderr, "simple: token %ld is longer than %u bytes\n", (long)token,
                (unsigned)sizeof piece);
        return 0;
    }
    fwrite(piece, 1, length, stdout);
    fflush(stdout);
    return 1;
}

/* Generates up to n_gen tokens after the prompt into out[]; stores how many in *n_out. */
static int generate(const infer_model *model, infer_context *ctx, infer_sampler *sampler,
                    const int32_t *prompt, size_t n_prompt, int n_gen, int32_t *out, int *n_out) {
    const int32_t eos = infer_model_special_token(model, INFER_TOKEN_EOS);
    const int32_t eot = infer_model_special_token(model, INFER_TOKEN_EOT);
    if (!ok(infer_decode(ctx, prompt, (uint32_t)n_prompt), "decode prompt")) return 0;
    *n_out = 0;
    while (*n_out < n_gen) {
        const float *logits = NULL;
        uint32_t n_vocab = 0;
        int32_t next = 0;
        if (!ok(infer_context_logits(ctx, -1, &logits, &n_vocab), "logits") ||
            !ok(infer_sampler_sample(sampler, logits, &next), "sample") ||
            !ok(infer_sampler_accept(sampler, next), "accept"))
            return 0;
        if (next == eos || next == eot) break;
        out[(*n_out)++] = next;
        if (!print_token(model, next)) return 0;
        if (!ok(infer_decode(ctx, &next, 1), "decode")) return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : NULL;
    const int n_gen = argc > 2 ? atoi(argv[2]) : 16;
    const char *text = argc > 3 ? argv[3] : "The capital of France is";
    if (!path || argc > 4 || n_gen < 1 || n_gen > 4096) {
        fprintf(stderr, "usage: simple MODEL.gguf [N_TOKENS (1-4096, default 16)] [PROMPT]\n");
        return 2;
    }

    int status = 1;
    infer_model *model = NULL;
    infer_context *ctx = NULL;
    infer_sampler *sampler = NULL;
    int32_t *tokens = NULL;
    int32_t *generated = NULL;
    size_t n_prompt = 0;
    int n_generated = 0;

    if (!ok(infer_model_load_file(path, NULL, &model), path)) goto done;

    /* Ask for the count first (capacity 0), then tokenize into a buffer of that size. */
    {
        const infer_status counted =
            infer_tokenize(model, text, strlen(text), 1, 0, NULL, 0, &n_prompt);
        if (counted != INFER_ERR_BUFFER_TOO_SMALL && !ok(counted, "tokenize")) goto done;
    }
    tokens = malloc(sizeof *tokens * (n_prompt ? n_prompt : 1));
    generated = malloc(sizeof *generated * (size_t)n_gen);
    if (!tokens || !generated) {
        fprintf(stderr, "simple: out of memory\n");
        goto done;
    }
    if (!ok(infer_tokenize(model, text, strlen(text), 1, 0, tokens, n_prompt, &n_prompt),
            "tokenize"))
        goto done;
    if (n_prompt == 0) {
        fprintf(stderr, "simple: the prompt has no tokens\n");
        goto done;
    }

    {
        infer_context_params params;
        infer_context_params_init(&params);
        params.n_ctx = (uint32_t)(n_prompt + (size_t)n_gen);
        if (!ok(infer_context_create(model, &params, &ctx), "context")) goto done;
    }
    {
        infer_sampler_params params;
        infer_sampler_params_init(&params);
        params.temperature = 0.0f; /* greedy: the largest logit, no randomness */
        if (!ok(infer_sampler_create(infer_model_n_vocab(model), &params, &sampler), "sampler"))
            goto done;
    }

    fputs(text, stdout);
    if (!generate(model, ctx, sampler, tokens, n_prompt, n_gen, generated, &n_generated)) {
        fputc('\n', stdout);
        goto done;
    }
    fputs("\nids:", stdout);
    for (int i = 0; i < n_generated; ++i)
        printf(" %ld", (long)generated[i]);
    fputc('\n', stdout);
    status = 0;

done:
    free(generated);
    free(tokens);
    infer_sampler_free(sampler);
    infer_context_free(ctx);
    infer_model_free(model);
    return status;
}
