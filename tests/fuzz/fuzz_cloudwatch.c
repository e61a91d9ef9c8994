/* fuzz_cloudwatch.c -- libFuzzer target for the CloudWatch Query input
 * (cloudwatch.c): the form parser, the time parser and every operation's
 * reading of its members, against a metrics table that holds samples.
 *
 * Input: the first byte picks the operation (GetMetricStatistics,
 * GetMetricData, ListMetrics, or an unknown one); the rest is the
 * form-encoded body. A second pass gives the whole input to cw_parse_time.
 *
 * Invariants (a violation traps): an answer is always produced, with a
 * status of 200, 400 or 500; a 200 is a document of the operation's
 * response element, an error an <ErrorResponse>; the XML is well formed
 * as far as its one root goes (it starts and ends with it); the parsed
 * pairs never hold a NUL inside a name or value.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "cloudwatch.h"
#include "metrics.h"
#include "stream.h"

struct hy_config hy_cfg = {
    .region = "us-east-1",
    .max_streams = 8,
    .max_body = 64u << 20,
    .max_buffered = 1u << 30,
};

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz_cloudwatch: check failed: %s (line %d)\n", #cond, \
                    __LINE__);                                                   \
            __builtin_trap();                                                    \
        }                                                                        \
    } while (0)

/* http.c is not linked: cloudwatch_exec needs none of it, the rest of the
 * server only to link */
const char *http_header(const struct http_req *req, const char *name) { return NULL; }
void http_add_header(struct http_req *req, const char *name, const char *value) {}
void http_reply(struct http_req *req, int status, const char *ct, const void *b, size_t n) {}
void http_reply_fd(struct http_req *req, int status, const char *ct, int fd, uint64_t off,
                   uint64_t len) {}
const char *http_query_get(const struct http_req *req, const char *name) { return NULL; }
bool http_query_has(const struct http_req *req, const char *name) { return false; }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    hy_log_level = HY_LOG_ERROR + 1;
    if (metrics_init() != HY_OK)
        abort();
    /* samples for one stream, so the answers have datapoints to write */
    static unsigned char rec[] = "x";
    unsigned char *data[1] = {rec};
    size_t lens[1] = {1};
    int prc[1] = {HY_OK};
    struct stream_ingest in = {.name = "us-east-1/fz", .data = data, .lens = lens, .n = 1,
                               .prc = prc};
    for (int i = 0; i < 5; i++)
        metrics_put(&in, true);
    return 0;
}

static bool starts(const struct buf *b, const char *s)
{
    return b->len >= strlen(s) && memcmp(b->data, s, strlen(s)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ops[] = {"GetMetricStatistics", "GetMetricData", "ListMetrics",
                                      "PutMetricData"};
    if (!size)
        return 0;
    const char *op = ops[data[0] % 4];
    struct arena *a = arena_new();
    if (!a)
        return 0;
    char *body = malloc(size);
    if (!body) {
        arena_free(a);
        return 0;
    }
    memcpy(body, data + 1, size - 1);
    body[size - 1] = 0;
    struct buf out;
    buf_init(&out, 64u << 20);
    int status = 0;
    cloudwatch_exec(a, "us-east-1", op, body, size - 1, &status, &out);
    CHECK(status == 200 || status == 400 || status == 500);
    CHECK(out.len > 0 && out.data);
    if (status == 200) {
        char open[64];
        snprintf(open, sizeof open, "<%sResponse", op);
        CHECK(starts(&out, open));
        snprintf(open, sizeof open, "</%sResponse>", op);
        CHECK(out.len > strlen(open) &&
              memcmp(out.data + out.len - strlen(open), open, strlen(open)) == 0);
    } else {
        CHECK(starts(&out, "<ErrorResponse"));
        CHECK(out.len > 16 && memcmp(out.data + out.len - 16, "</ErrorResponse>", 16) == 0);
    }
    CHECK(strlen(out.data) == out.len); /* no NUL escaped into the document */
    struct cw_pair *pairs;
    size_t n;
    if (cw_form_parse(a, body, size - 1, 20000, &pairs, &n) == HY_OK)
        for (size_t i = 0; i < n; i++)
            CHECK(pairs[i].name && pairs[i].value && pairs[i].name[0]);
    int64_t ms;
    (void)cw_parse_time(body, &ms);
    buf_free(&out);
    free(body);
    arena_free(a);
    return 0;
}
