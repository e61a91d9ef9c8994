/* fuzz_fhscan.c -- libFuzzer target: fhscan.c against jansson.
 *
 * The input is a request body, scanned both as PutRecord and as
 * PutRecordBatch. Whenever fhscan_put accepts it, the oracle below must
 * agree: json_loadb parses it, the checks firehose.c makes on the jansson
 * path (fh_validate with M_PUT / M_PUT_BATCH, then fh_put_record /
 * fh_put_record_batch's decode, record and batch limits) all pass, and
 * the stream name and every decoded record are the same bytes. fhscan
 * refusing is always allowed (the server then takes the jansson path).
 *
 * The oracle is written from firehose.c's rules, on jansson's tree, not
 * from fhscan.c's code: the same base64_decode (util.c) is the one thing
 * both share, since both paths of the server call it.
 *
 * Build and run: `make fuzz FUZZ_TARGETS=fhscan`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fhscan.h"
#include "server.h"

struct hy_config hy_cfg;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "fuzz_fhscan: invariant failed at line %d: %s\n",   \
                    __LINE__, #cond);                                           \
            __builtin_trap();                                                   \
        }                                                                       \
    } while (0)

/* firehose.c's S_NAME: 1..64 UTF-16 units of [a-zA-Z0-9_.-]. */
static bool name_valid(const json_t *v)
{
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* A record that fh_validate passes and whose Data decodes within the
 * record limit; compares it with fhscan's record i. */
static void check_record(const struct fhscan *s, size_t i, const json_t *rec, size_t *estimate)
{
    CHECK(json_is_object(rec));
    const json_t *d = json_object_get(rec, "Data");
    CHECK(json_is_string(d));
    size_t enc = json_string_length(d);
    *estimate += enc / 4 * 3 + (enc % 4 ? enc % 4 - 1 : 0);
    unsigned char *p = malloc(enc / 4 * 3 + 3);
    CHECK(p);
    long got = base64_decode(p, json_string_value(d), enc);
    CHECK(got >= 0);
    CHECK((size_t)got <= 1024000);
    CHECK(s->len[i] == (size_t)got);
    CHECK(got == 0 || memcmp(s->data + s->off[i], p, (size_t)got) == 0);
    free(p);
}

static void check(const uint8_t *data, size_t size, bool batch)
{
    struct fhscan s;
    int rc = fhscan_put(&s, (const char *)data, size, batch);
    CHECK(rc == HY_OK || rc == FHSCAN_FALLBACK || rc == HY_ENOMEM);
    if (rc != HY_OK)
        return;

    json_error_t err;
    json_t *root = json_loadb((const char *)data, size, 0, &err);
    CHECK(root);
    CHECK(json_is_object(root));
    const json_t *name = json_object_get(root, "DeliveryStreamName");
    CHECK(name_valid(name));
    CHECK(strcmp(json_string_value(name), s.name) == 0);
    if (!batch) {
        CHECK(s.n == 1);
        check_record(&s, 0, json_object_get(root, "Record"), &(size_t){0});
        CHECK(s.total == s.len[0]);
    } else {
        const json_t *records = json_object_get(root, "Records"), *rec;
        size_t n = json_array_size(records), i, estimate = 0, total = 0;
        CHECK(json_is_array(records));
        CHECK(n >= 1 && n <= 500);
        CHECK(s.n == n);
        json_array_foreach(records, i, rec) {
            check_record(&s, i, rec, &estimate);
            CHECK(s.off[i] == total); /* back to back, in order */
            total += s.len[i];
        }
        CHECK(estimate <= 4u * 1024 * 1024 + 3 * n);
        CHECK(total <= 4u * 1024 * 1024);
        CHECK(s.total == total);
    }
    json_decref(root);
    fhscan_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, false);
    check(data, size, true);
    return 0;
}
