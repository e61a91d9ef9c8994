/* fuzz_router.c -- libFuzzer target for the trust boundary (router.c):
 * the oracle is "no unauthenticated request reaches an API handler".
 *
 * The real router, SigV4 code, S3 target parsing (vhost buckets against a
 * real store in a temp dir) and every API are linked, but the API entry
 * points are wrapped (-Wl,--wrap=firehose_handle,iam_handle,s3_handle,
 * glue_handle,lambda_handle, see fuzz.mk): reaching one traps. The fuzzer does not know a
 * valid signature for any input (HMAC-SHA256 under the root secret), so
 * every request it makes is unauthenticated, and any path past the router
 * -- an early return on a body flag, an escape the classifier skips, a
 * framing that leaves verification out -- is a finding. The same binary
 * run with HYDRANT_FUZZ_SELFTEST=1 signs one request correctly first and
 * checks that it does reach its handler, so the oracle is not vacuous.
 *
 * Input layout (text):
 *   [flags]METHOD target\n        target = path[?query], as sent
 *   Name: value\n                 headers, up to 32, until an empty line
 *   \n
 *   body
 * flags, before the method (any order):
 *   '!'  the body grew past its ceiling while arriving (body_too_large)
 *   '#'  the global body budget was exhausted (body_rc = HY_EBUSY)
 *   '@'  the body is spooled to a file (body_path, MD5, SHA-256), as
 *        http.c does for S3 uploads the router allowed to spool
 *   '~'  router_handle is called without router_admit (as the unit
 *        tests do)
 * A header value "{now}" becomes the current X-Amz-Date, so the clock
 * check is no obstacle.
 *
 * Invariants (a violation traps): no wrapped handler runs; every request
 * is answered exactly once, by router_admit (when it returns false) or
 * router_handle; the status is 4xx or 5xx; a body is never read by the
 * router when router_admit refused it.
 *
 * Build and run: `make fuzz-build`, `make fuzz FUZZ_TARGETS=router`.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "objstore.h"
#include "sigv4.h"

struct hy_config hy_cfg = {
    .region = "us-east-1",
    .access_key_id = "test",
    .secret_access_key = "test",
    .max_streams = 8,
    .max_body = 64u << 20,
};

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz_router: invariant failed at line %d: %s\n",    \
                    __LINE__, #cond);                                            \
            __builtin_trap();                                                    \
        }                                                                        \
    } while (0)

#define MAX_HEADERS 32

static int replies, last_status;
static bool selftest; /* expecting a handler call */
static int handler_calls;

/* ---- the wrapped API entry points ------------------------------------- */
static void reached(struct http_req *req, const char *api)
{
    if (!selftest) {
        fprintf(stderr, "fuzz_router: an unauthenticated %s %s reached the %s handler\n",
                req->method, req->uri, api);
        __builtin_trap();
    }
    handler_calls++;
    http_reply(req, 200, "text/plain", "ok", 2);
}

void __wrap_firehose_handle(struct http_req *req, const char *op)
{
    (void)op;
    reached(req, "firehose");
}

void __wrap_iam_handle(struct http_req *req)
{
    reached(req, "iam");
}

void __wrap_s3_handle(struct http_req *req)
{
    reached(req, "s3");
}

void __wrap_glue_handle(struct http_req *req, const char *op)
{
    (void)op;
    reached(req, "glue");
}

void __wrap_s3_policy_handle(struct http_req *req, const char *op)
{
    (void)op;
    reached(req, "s3 bucket policy");
}

void __wrap_lambda_handle(struct http_req *req, const char *op)
{
    (void)op;
    reached(req, "lambda");
}

void __wrap_cloudwatch_handle(struct http_req *req, const char *op)
{
    (void)op;
    reached(req, "cloudwatch"); /* issue 17 */
}

void __wrap_logs_handle(struct http_req *req, const char *op)
{
    (void)op;
    reached(req, "logs"); /* issue 17 */
}

/* issue 17: the rows served unsigned by design (GET /_hydrant/metrics,
 * OPTIONS preflights answered from CORS rules, the console's static
 * files; its API wants its own session) may answer 2xx; they are
 * not API handlers, and reaching one of those still traps. */
static bool unsigned_row(const struct http_req *req)
{
    return strcmp(req->method, "OPTIONS") == 0 ||
           (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/_hydrant/metrics") == 0) ||
           /* the console: static pages, and its sign-in (the key pair is
            * its credential); its calls are signed again by the proxy */
           strncmp(req->path, "/_hydrant/console", 17) == 0;
}

/* ---- the http_* functions the router calls ----------------------------- */
const char *http_header(const struct http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

void http_add_header(struct http_req *req, const char *name, const char *value)
{
    CHECK(replies == 0);
    CHECK(name && *name && value && !strpbrk(name, "\r\n") && !strpbrk(value, "\r\n"));
}

void http_reply(struct http_req *req, int status, const char *content_type,
                const void *body, size_t len)
{
    replies++;
    last_status = status;
    CHECK(status >= 100 && status <= 599);
    CHECK(len == 0 || body);
}

void http_reply_fd(struct http_req *req, int status, const char *content_type, int fd,
                   uint64_t off, uint64_t len)
{
    close(fd);
    http_reply(req, status, content_type, "", 0);
}

const char *http_query_get(const struct http_req *req, const char *name)
{
    return url_query_get(req->arena, req->query, name, NULL);
}

bool http_query_has(const struct http_req *req, const char *name)
{
    bool present = false;
    url_query_get(req->arena, req->query, name, &present);
    return present;
}

/* ---- the store (vhost buckets are looked up in it) ---------------------- */
static char tmp_root[64], spool_path[128];

static void cleanup(void)
{
    objstore_close(hy_store);
    hy_store = NULL;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_router: could not remove %s\n", tmp_root);
}

static void amz_now(char out[17])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* ---- one request ---------------------------------------------------------- */
struct parsed {
    struct http_req req;
    struct http_header hdrs[MAX_HEADERS];
    bool too_large, busy, spool, no_admit;
};

static bool parse(const uint8_t *data, size_t size, struct parsed *p)
{
    struct arena *a = p->req.arena;
    const char *s = (const char *)data, *end = s + size;
    while (s < end && strchr("!#@~", *s)) {
        p->too_large |= *s == '!';
        p->busy |= *s == '#';
        p->spool |= *s == '@';
        p->no_admit |= *s == '~';
        s++;
    }
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl)
        return false;
    const char *sp = memchr(s, ' ', (size_t)(nl - s));
    if (!sp || sp == s)
        return false;
    char *method = arena_strndup(a, s, (size_t)(sp - s));
    char *uri = arena_strndup(a, sp + 1, (size_t)(nl - sp - 1));
    if (!method || !uri || memchr(uri, 0, strlen(uri)) != NULL)
        return false;
    p->req.method = method;
    p->req.uri = uri;
    char *qm = strchr(uri, '?');
    p->req.path = qm ? arena_strndup(a, uri, (size_t)(qm - uri)) : uri;
    p->req.query = qm ? qm + 1 : "";
    if (!p->req.path || !*p->req.path)
        p->req.path = "/";
    s = nl + 1;
    char now[17];
    amz_now(now);
    while (s < end && *s != '\n' && p->req.nheaders < MAX_HEADERS) {
        nl = memchr(s, '\n', (size_t)(end - s));
        const char *line_end = nl ? nl : end;
        const char *colon = memchr(s, ':', (size_t)(line_end - s));
        if (colon && colon > s) {
            const char *v = colon + 1;
            while (v < line_end && *v == ' ')
                v++;
            char *name = arena_strndup(a, s, (size_t)(colon - s));
            char *val = arena_strndup(a, v, (size_t)(line_end - v));
            if (!name || !val)
                return false;
            if (strcmp(val, "{now}") == 0)
                val = arena_strdup(a, now);
            p->hdrs[p->req.nheaders].name = name;
            p->hdrs[p->req.nheaders].value = val ? val : "";
            p->req.nheaders++;
        }
        s = nl ? nl + 1 : end;
    }
    if (s < end && *s == '\n')
        s++;
    p->req.headers = p->hdrs;
    size_t blen = (size_t)(end - s);
    char *body = arena_alloc(a, blen + 1);
    if (!body)
        return false;
    memcpy(body, s, blen);
    p->req.body = body;
    p->req.body_len = blen;
    p->req.remote_addr = "127.0.0.9";
    return true;
}

/* Spools the in-memory body to a file with its digests, as http.c does. */
static void spool(struct http_req *req)
{
    int fd = open(spool_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(write_all(fd, req->body, req->body_len) == HY_OK);
    close(fd);
    unsigned int n;
    EVP_Digest(req->body, req->body_len, req->body_md5, &n, EVP_md5(), NULL);
    EVP_Digest(req->body, req->body_len, req->body_sha256, &n, EVP_sha256(), NULL);
    req->body_path = spool_path;
    req->body_file_len = req->body_len;
    req->body = "";
    req->body_len = 0;
}

/* What http.c does with one request: admit, read the body within the
 * ceiling, hand it over. */
static void run(struct parsed *p)
{
    struct http_req *req = &p->req;
    replies = 0;
    if (!p->no_admit) {
        const char *body = req->body;
        size_t blen = req->body_len;
        req->body = "";
        req->body_len = 0;
        struct http_admit adm = {hy_cfg.max_body, false};
        bool go = router_admit(req, &adm);
        if (!go) {
            CHECK(replies == 1);
            CHECK(last_status >= 400 || unsigned_row(req));
            return;
        }
        CHECK(replies == 0);
        req->body = body;
        req->body_len = blen;
        if (!adm.spool && blen > adm.max_body)
            p->too_large = true;
        if (p->spool && adm.spool)
            spool(req);
    }
    if (p->too_large) {
        req->body_too_large = true;
        req->body = "";
        req->body_len = 0;
    }
    if (p->busy)
        req->body_rc = HY_EBUSY;
    router_handle(req);
    CHECK(replies == 1);
    if (!selftest)
        CHECK(last_status >= 400 || unsigned_row(req));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct parsed p;
    memset(&p, 0, sizeof p);
    p.req.arena = arena_new();
    if (!p.req.arena)
        return 0;
    if (parse(data, size, &p))
        run(&p);
    arena_free(p.req.arena);
    return 0;
}

/* One request signed right must reach its handler: the oracle works. */
static void self_test(void)
{
    char now[17], date8[9], scope[64], sig[65];
    amz_now(now);
    memcpy(date8, now, 8);
    date8[8] = 0;
    struct parsed p;
    memset(&p, 0, sizeof p);
    p.req.arena = arena_new();
    const char *body = "{\"DeliveryStreamName\":\"x\"}";
    char hash[65];
    sha256_hex(hash, body, strlen(body));
    p.hdrs[0] = (struct http_header){"Host", "127.0.0.1:4566"};
    p.hdrs[1] = (struct http_header){"X-Amz-Date", now};
    p.hdrs[2] = (struct http_header){"X-Amz-Target", "Firehose_20150804.DescribeDeliveryStream"};
    p.hdrs[3] = (struct http_header){"Content-Type", "application/x-amz-json-1.1"};
    p.req.headers = p.hdrs;
    p.req.nheaders = 4;
    p.req.method = "POST";
    p.req.uri = p.req.path = "/";
    p.req.query = "";
    p.req.body = body;
    p.req.body_len = strlen(body);
    struct sigv4_params params = {"content-type;host;x-amz-date;x-amz-target", hash, false,
                                  false};
    struct buf creq, sts;
    buf_init(&creq, 1 << 16);
    buf_init(&sts, 1 << 16);
    CHECK(sigv4_canonical_request(&p.req, &params, &creq) == SIGV4_OK);
    snprintf(scope, sizeof scope, "%.8s/us-east-1/firehose/aws4_request", now);
    CHECK(sigv4_string_to_sign(now, scope, creq.data, creq.len, &sts) == SIGV4_OK);
    unsigned char key[32];
    CHECK(sigv4_signing_key("test", date8, "us-east-1", "firehose", key) == SIGV4_OK);
    sigv4_sign(key, sts.data, sts.len, sig);
    char *auth = arena_printf(p.req.arena,
                              "AWS4-HMAC-SHA256 Credential=test/%s, SignedHeaders=content-type;"
                              "host;x-amz-date;x-amz-target, Signature=%s", scope, sig);
    p.hdrs[4] = (struct http_header){"Authorization", auth};
    p.req.nheaders = 5;
    selftest = true;
    run(&p);
    selftest = false;
    CHECK(handler_calls == 1);
    buf_free(&creq);
    buf_free(&sts);
    arena_free(p.req.arena);
    fprintf(stderr, "fuzz_router: self-test passed: a signed request reaches its handler\n");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    hy_log_level = HY_LOG_ERROR + 1;
    snprintf(tmp_root, sizeof tmp_root, "%s/hydrant-fuzz-router-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(tmp_root)) {
        perror("fuzz_router: mkdtemp");
        abort();
    }
    snprintf(spool_path, sizeof spool_path, "%s/spool.tmp", tmp_root);
    atexit(cleanup);
    if (objstore_open(tmp_root, &hy_store) != HY_OK ||
        objstore_bucket_create(hy_store, "fuzz-bucket", "us-east-1") != HY_OK) {
        fprintf(stderr, "fuzz_router: cannot open a store in %s\n", tmp_root);
        abort();
    }
    ops_set_ready(true); /* past recovery: otherwise every request is a 503 */
    if (getenv("HYDRANT_FUZZ_SELFTEST"))
        self_test();
    return 0;
}
