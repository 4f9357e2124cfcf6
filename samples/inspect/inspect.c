/*
 * infer-inspect: prints a GGUF model's metadata, its tensors and per-type totals, using only the
 * public C API. On a file libinfer rejects it prints one line naming the problem and exits 1.
 *
 *   infer-inspect [--tensors] [--max-array N] [--no-mmap] MODEL.gguf
 *   infer-inspect --placement [--backend B] [--device N] [-ngl N|all|auto]
 *                 [--override PATTERN=BACKEND]... [--no-mmap] MODEL.gguf
 *
 * --tensors prints only the tensor listing, one tab-separated line per tensor:
 *   name  type  shape(dims joined by 'x', contiguous first)  bytes  absolute-offset
 * --placement loads the model for real, as infer-chat and infer-bench would with the same
 * placement options (samples/common/placement_args.h), and prints only where each layer runs
 * (infer_model_placement_text). Without it any GGUF file can be inspected, even of an
 * architecture libinfer cannot run.
 */
#include "infer.h"
#include "placement_args.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TYPES 64

static const char *g_program = "infer-inspect";

static int fail(const char *path, infer_status status) {
    fprintf(stderr, "%s: %s: %s: %s\n", g_program, path, infer_status_string(status),
            infer_last_error());
    return 1;
}

static void format_shape(const infer_tensor_info *t, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t d = 0; d < t->n_dims && used < cap; ++d)
        used += (size_t)snprintf(buf + used, cap - used, "%s%" PRIu64, d ? "x" : "", t->dims[d]);
}

static int print_metadata(const infer_model *model, uint64_t n_keys, uint64_t max_array) {
    static const char *const kTypeNames[] = {"u8",  "i8",  "u16",  "i16", "u32", "i32", "f32",
                                             "bool", "str", "arr", "u64", "i64", "f64"};
    size_t cap = 4096;
    char *buf = malloc(cap);
    if (!buf) return 0;
    printf("metadata: %" PRIu64 " keys\n", n_keys);
    for (uint64_t i = 0; i < n_keys; ++i) {
        const char *key = NULL;
        int32_t type = 0, elem_type = 0;
        uint64_t count = 0;
        size_t length = 0;
        if (infer_model_meta_key(model, i, &key) != INFER_OK ||
            infer_model_meta_type(model, key, &type, &elem_type, &count) != INFER_OK ||
            infer_model_meta_format(model, key, max_array, buf, cap, &length) != INFER_OK) {
            free(buf);
            return 0;
        }
        if (length >= cap) { /* grow once to the exact size and render again */
            char *bigger = realloc(buf, length + 1);
            if (!bigger) break;
            buf = bigger;
            cap = length + 1;
            infer_model_meta_format(model, key, max_array, buf, cap, &length);
        }
        if (type == INFER_META_ARRAY)
            printf("  %-44s arr[%s,%" PRIu64 "] %s\n", key,
                   elem_type >= 0 && elem_type <= 12 ? kTypeNames[elem_type] : "?", count, buf);
        else
            printf("  %-44s %-4s %s\n", key, kTypeNames[type], buf);
    }
    free(buf);
    return 1;
}

static void print_help(void) {
    // clang-format off
    printf(
"usage: infer-inspect [options] MODEL.gguf\n"
"\n"
"Prints a GGUF file's metadata, tensors and totals; any GGUF file, even of an architecture\n"
"libinfer cannot run.\n"
"\n"
"      --tensors        only the tensor listing, tab-separated: name, type, shape, bytes,\n"
"                       offset\n"
"      --max-array N    array elements shown per metadata value (default 8)\n"
"      --no-mmap        read the file into memory instead of mapping it\n"
"      --placement      load the model for real and print only where each layer runs, with\n"
"                       the placement options below (as infer-chat and infer-bench take them)\n");
    fputs(placement_args_help, stdout);
    printf(
"  -h, --help           this text\n");
    // clang-format on
}

static int usage_error(const char *error) {
    fprintf(stderr, "%s: %s\n(%s --help lists the options)\n", g_program, error, g_program);
    return 2;
}

/* Loads the model as it would run and prints its placement. */
static int print_placement(const char *path, const placement_args *choice, int no_mmap) {
    infer_model_params params;
    infer_model_params_init(&params);
    placement_args_apply(choice, &params);
    params.read_into_memory = no_mmap;
    infer_model *model = NULL;
    const infer_status status = infer_model_load_file(path, &params, &model);
    if (status != INFER_OK) return fail(path, status);
    const int ok = placement_print(model, stdout, g_program);
    infer_model_free(model);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    int tensors_only = 0, no_mmap = 0, placement = 0, placement_options = 0;
    uint64_t max_array = 8;
    const char *path = NULL;
    placement_args choice;
    placement_args_init(&choice);
    char error[512];
    for (int i = 1; i < argc; ++i) {
        const int taken = placement_args_parse(&choice, argc, argv, &i, error, sizeof error);
        if (taken < 0) return usage_error(error);
        if (taken > 0) {
            placement_options = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            print_help();
            return 0;
        } else if (strcmp(argv[i], "--tensors") == 0) {
            tensors_only = 1;
        } else if (strcmp(argv[i], "--placement") == 0) {
            placement = 1;
        } else if (strcmp(argv[i], "--no-mmap") == 0) {
            no_mmap = 1; /* read the file into memory instead of mapping it */
        } else if (strcmp(argv[i], "--max-array") == 0 && i + 1 < argc) {
            max_array = strtoull(argv[++i], NULL, 10);
        } else if (argv[i][0] == '-' || path) {
            snprintf(error, sizeof error, "unexpected argument %s", argv[i]);
            return usage_error(error);
        } else {
            path = argv[i];
        }
    }
    if (!path) return usage_error("no MODEL.gguf given");
    if (placement_options && !placement)
        return usage_error("--backend, --device, --n-gpu-layers and --override need --placement");
    if (placement && tensors_only)
        return usage_error("--placement and --tensors exclude each other");
    if (!placement_args_check(&choice, error, sizeof error)) return usage_error(error);
    if (placement) return print_placement(path, &choice, no_mmap);

    /* Inspect any GGUF file, even of an architecture libinfer cannot run. */
    infer_model_params params;
    infer_model_params_init(&params);
    params.inspect_only = 1;
    params.read_into_memory = no_mmap;
    infer_model *model = NULL;
    infer_status status = infer_model_load_file(path, &params, &model);
    if (status != INFER_OK) return fail(path, status);

    infer_model_info info;
    infer_model_info_init(&info);
    if ((status = infer_model_get_info(model, &info)) != INFER_OK) {
        infer_model_free(model);
        return fail(path, status);
    }

    if (!tensors_only) {
        printf("file: %s\n", path);
        printf("gguf: version %u, %" PRIu64 " bytes, tensor data at %" PRIu64 ", alignment %u\n",
               info.gguf_version, info.file_size, info.data_offset, info.alignment);
        printf("model: architecture '%s', name '%s'\n", info.architecture, info.name);
        if (!print_metadata(model, info.n_metadata, max_array)) {
            infer_model_free(model);
            return fail(path, INFER_ERR_INTERNAL);
        }
        printf("tensors: %" PRIu64 "\n", info.n_tensors);
    }

    uint64_t count_by_type[MAX_TYPES] = {0}, bytes_by_type[MAX_TYPES] = {0};
    for (uint64_t i = 0; i < info.n_tensors; ++i) {
        infer_tensor_info t;
        infer_tensor_info_init(&t);
        if ((status = infer_model_tensor_info(model, i, &t)) != INFER_OK) {
            infer_model_free(model);
            return fail(path, status);
        }
        char shape[128];
        format_shape(&t, shape, sizeof shape);
        if (tensors_only)
            printf("%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\n", t.name, infer_type_name(t.type),
                   shape, t.n_bytes, t.offset);
        else
            printf("  %-40s %-6s %-20s %12" PRIu64 " bytes at %" PRIu64 "\n", t.name,
                   infer_type_name(t.type), shape, t.n_bytes, t.offset);
        if (t.type < MAX_TYPES) {
            count_by_type[t.type] += 1;
            bytes_by_type[t.type] += t.n_bytes;
        }
    }

    if (!tensors_only) {
        printf("totals by type:\n");
        for (uint32_t type = 0; type < MAX_TYPES; ++type)
            if (count_by_type[type])
                printf("  %-6s %5" PRIu64 " tensors %14" PRIu64 " bytes (%.1f MiB)\n",
                       infer_type_name(type), count_by_type[type], bytes_by_type[type],
                       (double)bytes_by_type[type] / (1024.0 * 1024.0));
        printf("  %-6s %5" PRIu64 " tensors %14" PRIu64 " bytes, %" PRIu64 " parameters\n", "all",
               info.n_tensors, info.tensor_data_bytes, info.n_elements);
    }
    infer_model_free(model);
    return 0;
}
