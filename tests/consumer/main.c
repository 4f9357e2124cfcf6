/* Links against an installed libinfer and checks the header matches the library. */
#include <infer.h>
#include <stdio.h>

int main(void) {
    const uint32_t expected =
        INFER_VERSION_MAJOR * 10000u + INFER_VERSION_MINOR * 100u + INFER_VERSION_PATCH;
    infer_model *model = NULL;
    infer_status status = infer_model_load_memory("nope", 4, NULL, &model);
    if (infer_version_number() != expected || status != INFER_ERR_GGUF_BAD_MAGIC || model) {
        fprintf(stderr, "consumer: unexpected result (version %s, status %d)\n", infer_version(),
                (int)status);
        return 1;
    }
    printf("consumer: libinfer %s, bad magic rejected: %s\n", infer_version(), infer_last_error());
    return 0;
}
