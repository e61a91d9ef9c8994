/* fuzz_s3r_xml.c -- libFuzzer target: the external S3 sink's response
 * parser (sinks/s3_remote.c, s3r_xml_parse, expat), what an S3 endpoint
 * sends back: Error, InitiateMultipartUploadResult,
 * CompleteMultipartUploadResult, ListMultipartUploadsResult.
 *
 * Input: the response body. Invariants: the parse never crashes; every
 * string field is NUL-terminated inside its buffer; nuploads is at most
 * S3R_MAX_UPLOADS; an HY_OK parse names a root element and parsing the
 * same bytes again gives the same result (no hidden state); a failed parse
 * leaves the result zeroed (nothing half-read is trusted).
 *
 * Build and run: `make fuzz FUZZ_TARGETS=s3r_xml`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/sinks.h"

struct hy_config hy_cfg;

/* sinks.c's, called on the put path only (never reached here: only the
 * parser is fuzzed), defined so that s3_remote.c links without sinks.c
 * and the IAM store behind it */
int sinks_check_role(const struct sink_put *req, const char **error_code, bool *retryable,
                     char *why, size_t why_len)
{
    (void)req, (void)error_code, (void)retryable, (void)why, (void)why_len;
    __builtin_trap();
}

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz_s3r_xml: invariant failed at line %d: %s\n",   \
                    __LINE__, #cond);                                            \
            __builtin_trap();                                                    \
        }                                                                        \
    } while (0)

#define TERMINATED(f) CHECK(memchr((f), 0, sizeof(f)) != NULL)

static struct s3r_xml a, b, zero;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int rc = s3r_xml_parse((const char *)data, size, &a);
    CHECK(rc == HY_OK || rc == HY_EINVAL || rc == HY_ENOMEM);
    TERMINATED(a.root);
    TERMINATED(a.code);
    TERMINATED(a.message);
    TERMINATED(a.upload_id);
    TERMINATED(a.etag);
    TERMINATED(a.next_key);
    TERMINATED(a.next_upload);
    CHECK(a.nuploads <= S3R_MAX_UPLOADS);
    for (size_t i = 0; i < S3R_MAX_UPLOADS; i++) {
        TERMINATED(a.uploads[i].key);
        TERMINATED(a.uploads[i].id);
    }
    if (rc == HY_EINVAL)
        CHECK(memcmp(&a, &zero, sizeof a) == 0);
    if (rc == HY_OK) {
        CHECK(a.root[0] != 0);
        CHECK(s3r_xml_parse((const char *)data, size, &b) == HY_OK);
        CHECK(memcmp(&a, &b, sizeof a) == 0);
    }
    return 0;
}
