/* fuzz_destinations.c -- libFuzzer target: the --destinations file parser
 * (destinations.c, destinations_parse, jansson).
 *
 * Input: the file's bytes. Byte 0 bit 0 (when present) says whether a
 * default endpoint supplies credentials; the whole input is the file.
 *
 * Invariants: no crash, no leak (ASan); HY_EINVAL comes with a
 * NUL-terminated reason; on HY_OK every entry is found by its bucket name
 * and is either embedded or has an http(s) endpoint, a region and both
 * credentials; a name not in the file is not found.
 *
 * Build and run: `make fuzz FUZZ_TARGETS=destinations`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "destinations.h"

struct hy_config hy_cfg;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "fuzz_destinations: invariant failed at line %d: %s\n", \
                    __LINE__, #cond);                                               \
            __builtin_trap();                                                       \
        }                                                                           \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s3_endpoint def = {.endpoint = "http://127.0.0.1:1", .region = "us-east-1",
                              .access_key_id = "AK", .secret_access_key = "SK"};
    struct destinations *d = NULL;
    char msg[500];
    memset(msg, 'x', sizeof msg);
    bool with_def = size && (data[0] & 1);
    int rc = destinations_parse((const char *)data, size, with_def ? &def : NULL, &d, msg,
                                sizeof msg);
    CHECK(rc == HY_OK || rc == HY_EINVAL || rc == HY_ENOMEM);
    if (rc != HY_OK) {
        CHECK(d == NULL);
        CHECK(memchr(msg, 0, sizeof msg));
        return 0;
    }
    json_error_t err;
    json_t *root = json_loadb((const char *)data, size, 0, &err);
    json_t *buckets = json_object_get(root, "buckets");
    const char *k;
    json_t *v;
    json_object_foreach(buckets, k, v) {
        const struct s3_endpoint *e = destinations_lookup(d, k);
        CHECK(e && !strcmp(e->bucket, k));
        if (!e->embedded) {
            CHECK(e->endpoint && (!strncmp(e->endpoint, "http://", 7) ||
                                  !strncmp(e->endpoint, "https://", 8)));
            CHECK(e->region && e->access_key_id && e->secret_access_key);
        }
    }
    CHECK(destinations_lookup(d, "not/a/bucket") == NULL);
    json_decref(root);
    destinations_free(d);
    return 0;
}
