/* fuzz_lambda_response.c -- libFuzzer target for what a Firehose
 * transformation function sends back: the Lambda processor's response
 * parser (lambda_resp_parse) and the processor's run() that applies it
 * (src/processors/lambda.c), with src/pipeline.c's batches.
 *
 * The harness replaces lambda_invoke (-Wl,--wrap=lambda_invoke, see
 * fuzz.mk): it answers every invocation with the fuzz input, after
 * replacing each '@' with the invocation's recordId prefix (read from the
 * event it was sent), so inputs can name the records really sent ("@0",
 * "@1", ...). All of src/ but main.c and http.c is linked, as for
 * fuzz_firehose; the http_* functions the linked code names are stubs
 * here that no path of this harness calls.
 *
 * Input layout: byte 0 = flags: low 3 bits + 1 = records in the batch
 * (1..8); bit 3: the invocation reports a function error (X-Amz-Function-
 * Error) instead; bits 4 and 5 both: BufferSizeInMBs 0.2 with 30 kB
 * records (several invocations per batch, each answered with the same
 * input). The rest is the response body.
 *
 * Invariants (a violation traps): the processor's invocations reach this
 * stub; lambda_resp_parse gives every record
 * exactly one state and Ok data inside its data buffer; run() returns
 * HY_OK (or HY_ENOMEM); every output record and every failure names a
 * source record of the batch, no source is both delivered and failed
 * more than once, outputs + failures never exceed the records sent; a
 * failure carries a Lambda.* code, the processing-failed output type and
 * the function's ARN.
 *
 * Build and run: `make fuzz-build`, `make fuzz FUZZ_TARGETS=lambda_response`.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lambda.h"
#include "pipeline.h"

struct hy_config hy_cfg = {.region = "us-east-1"};
extern const struct processor processor_lambda;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz_lambda_response: invariant failed at line %d: %s\n",  \
                    __LINE__, #cond);                                                   \
            __builtin_trap();                                                           \
        }                                                                               \
    } while (0)

#define ARN "arn:aws:lambda:us-east-1:000000000000:function:fuzz"

static int invocations; /* the stub ran: the wrap took the processor's calls */
static const uint8_t *resp_body;
static size_t resp_len;
static bool resp_error;

/* ---- stubs: http.c is not linked, and nothing here serves HTTP ---- */
const char *http_header(const struct http_req *req, const char *name)
{
    (void)req, (void)name;
    __builtin_trap();
}
void http_add_header(struct http_req *req, const char *name, const char *value)
{
    (void)req, (void)name, (void)value;
    __builtin_trap();
}
void http_reply(struct http_req *req, int status, const char *content_type, const void *body,
                size_t len)
{
    (void)req, (void)status, (void)content_type, (void)body, (void)len;
    __builtin_trap();
}
void http_reply_fd(struct http_req *req, int status, const char *content_type, int fd,
                   uint64_t off, uint64_t len)
{
    (void)req, (void)status, (void)content_type, (void)fd, (void)off, (void)len;
    __builtin_trap();
}
const char *http_query_get(const struct http_req *req, const char *name)
{
    (void)req, (void)name;
    __builtin_trap();
}
bool http_query_has(const struct http_req *req, const char *name)
{
    (void)req, (void)name;
    __builtin_trap();
}
int http_start(http_handler_fn handler, http_admit_fn admit, struct http_server **out)
{
    (void)handler, (void)admit, (void)out;
    __builtin_trap();
}
void http_stop(struct http_server *s)
{
    (void)s;
    __builtin_trap();
}

int __wrap_lambda_invoke(const char *function, const char *region, const void *payload,
                         size_t len, struct buf *out, bool *function_error, char *why,
                         size_t why_len);
int __wrap_lambda_invoke(const char *function, const char *region, const void *payload,
                         size_t len, struct buf *out, bool *function_error, char *why,
                         size_t why_len)
{
    (void)region, (void)why, (void)why_len;
    invocations++;
    CHECK(!strcmp(function, ARN));
    /* the prefix: the first recordId's digits before its index "0" */
    const char *p = memmem(payload, len, "\"recordId\":\"", 12);
    CHECK(p);
    p += 12;
    const char *q = memchr(p, '"', len - (size_t)(p - (const char *)payload));
    CHECK(q && q > p && q[-1] == '0');
    size_t plen = (size_t)(q - p) - 1;
    *function_error = resp_error;
    for (size_t i = 0; i < resp_len; i++) {
        int rc = resp_body[i] == '@' ? buf_append(out, p, plen)
                                     : buf_append(out, resp_body + i, 1);
        if (rc)
            return rc == HY_ETOOBIG ? HY_ETOOBIG : rc;
    }
    return HY_OK;
}

static void check_parser(const uint8_t *data, size_t size, size_t n)
{
    struct lambda_resp r;
    int rc = lambda_resp_parse((const char *)data, size, "@", n, &r);
    CHECK(rc == HY_OK || rc == HY_EINVAL || rc == HY_ENOMEM);
    if (rc == HY_OK) {
        for (size_t i = 0; i < n; i++) {
            const struct lambda_rec_result *x = &r.recs[i];
            CHECK(x->state <= LAMBDA_REC_INVALID);
            if (x->state == LAMBDA_REC_OK) {
                CHECK((size_t)x->off + x->len <= r.data.len);
                CHECK((size_t)x->keys_off + x->keys_len <= r.keys.len);
                size_t pairs = 0;
                const char *k = r.keys.data ? r.keys.data + x->keys_off : NULL;
                const char *end = k ? k + x->keys_len : NULL;
                while (k && k < end) {
                    k += strlen(k) + 1;
                    CHECK(k < end);
                    k += strlen(k) + 1;
                    pairs++;
                }
                CHECK(pairs == x->nkeys && pairs <= 50);
            }
        }
    } else if (rc == HY_EINVAL) {
        CHECK(r.msg[0]);
    }
    lambda_resp_free(&r);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    hy_log_level = HY_LOG_WARN; /* the processor logs every failed attempt */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = (size_t)(data[0] & 7) + 1;
    resp_error = data[0] & 8;
    bool split = (data[0] & 48) == 48;
    resp_body = data + 1;
    resp_len = size - 1;
    check_parser(resp_body, resp_len, n);

    struct pl_batch in, out;
    pl_batch_init(&in, 16u << 20);
    char *rec = malloc(30001);
    CHECK(rec);
    for (size_t i = 0; i < n; i++) {
        struct pl_rec like;
        memset(&like, 0, sizeof like);
        like.src = (uint32_t)i;
        like.arrival_ms = 1787407533250LL;
        size_t len = split ? 30000 : 1 + i;
        memset(rec, 'a' + (int)i, len);
        CHECK(pl_add(&in, &in, &like, rec, len) == HY_OK);
    }
    free(rec);
    struct pl_param p[3] = {{"LambdaArn", ARN}, {"NumberOfRetries", "0"},
                            {"BufferSizeInMBs", split ? "0.2" : "1"}};
    char msg[256];
    CHECK(processor_lambda.check(p, 3, msg, sizeof msg) == HY_OK);
    struct pl_ctx ctx = {NULL, "arn:aws:firehose:us-east-1:000000000000:deliverystream/fuzz",
                         "us-east-1", &in, 0};
    pl_batch_init(&out, 16u << 20);
    invocations = 0;
    int rc = processor_lambda.run(p, 3, &ctx, &in, &out);
    CHECK(rc == HY_OK || rc == HY_ENOMEM);
    CHECK(rc != HY_OK || invocations >= 1);
    if (rc == HY_OK) {
        CHECK(out.n + out.nfail <= n);
        int seen[8] = {0};
        for (size_t i = 0; i < out.n; i++) {
            const struct pl_rec *r = &pl_recs(&out)[i];
            CHECK(r->src < n);
            CHECK(r->off + r->len <= out.data.len);
            seen[r->src]++;
        }
        const struct pl_fail *f = (const struct pl_fail *)(const void *)out.fails.data;
        for (size_t i = 0; i < out.nfail; i++) {
            CHECK(f[i].src < n);
            CHECK(!strncmp(f[i].error_code, "Lambda.", 7));
            CHECK(!strcmp(f[i].output_type, "processing-failed"));
            CHECK(f[i].lambda_arn && !strcmp(f[i].lambda_arn, ARN));
            CHECK(f[i].attempts == 1);
            CHECK(f[i].message);
            seen[f[i].src]++;
        }
        for (size_t i = 0; i < n; i++)
            CHECK(seen[i] <= 1);
        if (resp_error)
            CHECK(out.n == 0 && out.nfail == n);
    }
    pl_batch_free(&out);
    pl_batch_free(&in);
    return 0;
}
