/* fuzz_firehose.c -- libFuzzer target for the Firehose JSON 1.1 API
 * (firehose.c: JSON parsing, model validation, the twelve operations) and
 * the stream catalog behind it (stream.c), driven through firehose_exec()
 * without HTTP.
 *
 * Input layout (text): up to 8 requests separated by a line "---":
 *   [flags]Operation[ Authorization-header-value]\n
 *   JSON body
 * flags, any of, before the operation name:
 *   '!'  the body was too large (req.body_too_large; body ignored)
 *   '~'  a write-ahead log is open (hy_wal): puts are deferred and
 *        answered from the WAL writer thread through http_reply
 * The text after the first space of the operation line, if any, is the
 * Authorization header (router_region reads the region from it).
 *
 * Every input starts from the same catalog: one ACTIVE stream "fuzz"
 * (ExtendedS3, bucket "fuzz-bucket"); after an input that changed the
 * catalog, every stream is deleted and "fuzz" created again, so PutRecord and friends reach the
 * buffers. Buffers are drained (stream_take_due with force) after each
 * request, so memory stays flat and the snapshot parser runs too.
 *
 * Invariants (a violation traps): every answer is a JSON object with a
 * status of 200, 400, 413 or 500; an error answer has "__type" equal to
 * the error type reported; a success has no error type; a deferred put is
 * answered exactly once once the log is flushed.
 *
 * The harness implements the http_* functions the code path calls (http.c
 * is not linked); everything else in src/ but main.c is.
 * Build and run: `make fuzz-build`, `make fuzz FUZZ_TARGETS=firehose`.
 */
#define _GNU_SOURCE /* mkdtemp, memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "stream.h"
#include "wal.h"
#include "policy.h"

struct hy_config hy_cfg = {
    .region = "us-east-1",
    .max_streams = 8,
    .create_delay_ms = 0,
    .max_body = 1u << 20,
    .max_buffered = 64u << 20,
};

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz_firehose: invariant failed at line %d: %s\n",  \
                    __LINE__, #cond);                                            \
            __builtin_trap();                                                    \
        }                                                                        \
    } while (0)

#define MAX_REQUESTS 8
#define MAX_HEADERS 4

/* ---- the http_* functions firehose.c and router.c call ---------------- */
/* A deferred answer, written by the WAL writer thread. */
static struct {
    int calls;
    int status;
    char *body;
    char error_type[128];
} reply;

const char *http_header(const struct http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

void http_add_header(struct http_req *req, const char *name, const char *value)
{
    CHECK(name && value);
    if (strcasecmp(name, "x-amzn-ErrorType") == 0)
        snprintf(reply.error_type, sizeof reply.error_type, "%s", value);
}

void http_reply(struct http_req *req, int status, const char *content_type,
                const void *body, size_t len)
{
    __atomic_add_fetch(&reply.calls, 1, __ATOMIC_SEQ_CST);
    reply.status = status;
    free(reply.body);
    reply.body = strndup(body ? body : "", len);
}

void http_reply_fd(struct http_req *req, int status, const char *content_type, int fd,
                   uint64_t off, uint64_t len)
{
    __builtin_trap(); /* Firehose never answers from a file */
}

/* No query string in Firehose requests: router_region asks for
 * X-Amz-Credential only when there is no Authorization header. */
const char *http_query_get(const struct http_req *req, const char *name)
{
    return NULL;
}

bool http_query_has(const struct http_req *req, const char *name)
{
    return false;
}

/* ---- setup ------------------------------------------------------------ */
static char data_dir[64];
static struct wal *wal;
static bool catalog_dirty = true; /* the catalog is not just the "fuzz" stream */

static void cleanup(void)
{
    char cmd[128];
    hy_wal = NULL;
    wal_close(wal);
    stream_catalog_close();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", data_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_firehose: could not remove %s\n", data_dir);
}

static void nothing(void *ctx, const struct wal_frame *f)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    hy_iam_mode = IAM_MODE_OFF; /* no IAM store here: RoleARNs are not looked up */
    hy_log_level = HY_LOG_ERROR + 1;
    /* tmpfs when there is one: the catalog is SQLite, written per create */
    snprintf(data_dir, sizeof data_dir, "%s/hydrant-fuzz-fh-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(data_dir) || stream_catalog_open(data_dir) != HY_OK) {
        perror("fuzz_firehose: setup");
        abort();
    }
    char wal_dir[128];
    snprintf(wal_dir, sizeof wal_dir, "%s/wal", data_dir);
    struct wal_config cfg = {.dir = wal_dir, .segment_bytes = 256u << 10, .fsync = false};
    if (wal_open(&cfg, &wal) != HY_OK || wal_replay(wal, nothing, NULL, NULL) != HY_OK ||
        wal_start(wal) != HY_OK) {
        fprintf(stderr, "fuzz_firehose: cannot start the WAL\n");
        abort();
    }
    atexit(cleanup);
    return 0;
}

static const char baseline[] =
    "{\"DeliveryStreamName\":\"fuzz\",\"DeliveryStreamType\":\"DirectPut\","
    "\"ExtendedS3DestinationConfiguration\":{"
    "\"RoleARN\":\"arn:aws:iam::000000000000:role/r\","
    "\"BucketARN\":\"arn:aws:s3:::fuzz-bucket\","
    "\"Prefix\":\"data/!{timestamp:yyyy/MM/dd}/\","
    "\"ErrorOutputPrefix\":\"err/!{firehose:error-output-type}/\","
    "\"BufferingHints\":{\"SizeInMBs\":1,\"IntervalInSeconds\":0}}}";

/* Runs one request and checks the answer. */
static void run(const char *op, const char *auth, const char *body, size_t body_len,
                bool too_large, bool logged)
{
    struct http_header hdrs[MAX_HEADERS];
    struct http_req req = {
        .method = "POST",
        .uri = "/",
        .path = "/",
        .query = "",
        .headers = hdrs,
        .body = body,
        .body_len = body_len,
        .body_too_large = too_large,
        .arena = arena_new(),
    };
    if (!req.arena)
        return;
    hdrs[req.nheaders++] = (struct http_header){"Content-Type", "application/x-amz-json-1.1"};
    if (auth)
        hdrs[req.nheaders++] = (struct http_header){"Authorization", auth};
    if (too_large) {
        req.body = "";
        req.body_len = 0;
    }

    hy_wal = logged ? wal : NULL;
    reply.calls = 0;
    reply.error_type[0] = 0;
    int status = -1;
    char *out = NULL;
    const char *type = NULL;
    firehose_exec(&req, op, &status, &out, &type);
    if (status == 0) {
        /* deferred: the WAL writer answers once the records are durable */
        CHECK(logged && out == NULL);
        CHECK(wal_flush(wal) == HY_OK);
        CHECK(__atomic_load_n(&reply.calls, __ATOMIC_SEQ_CST) == 1);
        status = reply.status;
        out = reply.body;
        reply.body = NULL;
        type = reply.error_type[0] ? reply.error_type : NULL;
    } else {
        CHECK(reply.calls == 0);
    }
    hy_wal = NULL;

#ifdef FUZZ_FIREHOSE_DEBUG
    fprintf(stderr, "%s -> %d %s\n", op, status, out ? out : "(null)");
#endif
    /* a successful change to the catalog means the next input must reset
     * it (puts change only the buffers, which are drained below) */
    if (status == 200 && strncmp(op, "Put", 3) != 0 && strncmp(op, "List", 4) != 0 &&
        strncmp(op, "Describe", 8) != 0)
        catalog_dirty = true;
    CHECK(status == 200 || status == 400 || status == 413 || status == 500);
    CHECK((status == 200) == (type == NULL));
    if (out) {
        json_error_t jerr;
        json_t *o = json_loads(out, 0, &jerr);
        CHECK(o && json_is_object(o));
        if (type) {
            const char *t = json_string_value(json_object_get(o, "__type"));
            CHECK(t && strcmp(t, type) == 0);
            CHECK(json_is_string(json_object_get(o, "message")));
        }
        json_decref(o);
    }
    free(out);
    arena_free(req.arena);

    /* drain the buffers as delivery would */
    struct stream_batch *b;
    while (stream_take_due(hy_now_ms(), true, &b) == HY_OK)
        stream_batch_free(b);
}

static void reset_catalog(void)
{
    if (!catalog_dirty)
        return;
    json_t *names = NULL;
    bool more = false;
    if (stream_list("us-east-1", NULL, NULL, 100, &names, &more) == HY_OK) {
        size_t i;
        json_t *n;
        char key[STREAM_KEY_MAX];
        json_array_foreach(names, i, n)
            if (stream_key(key, "us-east-1", json_string_value(n)) == HY_OK)
                (void)stream_delete(key);
        json_decref(names);
    }
    run("CreateDeliveryStream", NULL, baseline, sizeof baseline - 1, false, false);
    bool enc;
    CHECK(stream_accepts("us-east-1/fuzz", &enc) == HY_OK);
    catalog_dirty = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    reset_catalog();

    char *p = text, *end = text + size;
    for (int n = 0; n < MAX_REQUESTS && p < end; n++) {
        /* this request ends at the next "\n---\n" */
        char *sep = memmem(p, (size_t)(end - p), "\n---\n", 5);
        char *req_end = sep ? sep : end;
        *req_end = 0;
        char *nl = memchr(p, '\n', (size_t)(req_end - p));
        char *body = nl ? nl + 1 : req_end;
        if (nl)
            *nl = 0;
        bool too_large = false, logged = false;
        for (;; p++) {
            if (*p == '!')
                too_large = true;
            else if (*p == '~')
                logged = true;
            else
                break;
        }
        char *auth = strchr(p, ' ');
        if (auth)
            *auth++ = 0;
        run(p, auth, body, (size_t)(req_end - body), too_large, logged);
        p = sep ? sep + 5 : end;
    }
    free(text);
    /* the log only grows: release what the drained buffers no longer need */
    if (++iter % 64 == 0)
        wal_release(wal, wal_safe_lsn(wal));
    return 0;
}
