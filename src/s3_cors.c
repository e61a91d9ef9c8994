/* s3_cors.c -- CORS: browsers as producers.
 *
 * Two kinds of rules:
 * - The APIs on "/" (Firehose, CloudWatch, IAM, ...): the fixed answer a
 *   browser needs to call them with the AWS SDK for JavaScript v3. Any
 *   origin may ask (every real request is signed all the same); the
 *   headers it may send are those the SDK sends (authorization,
 *   content-type, x-amz-*, amz-sdk-*), the methods GET and POST; the
 *   answer exposes x-amzn-RequestId, x-amzn-ErrorType,
 *   x-amzn-ErrorMessage and Date, so the SDK can read errors.
 * - S3: the bucket's own CORSConfiguration (PutBucketCors / GetBucketCors
 *   / DeleteBucketCors), evaluated as S3 does: the first rule whose
 *   AllowedOrigin, AllowedMethod and AllowedHeader (each with at most one
 *   '*' wildcard; headers case-insensitive) cover the request wins; a
 *   preflight no rule allows is 403 CORSResponse; a bucket without a
 *   configuration answers every preflight 403 "CORS is not enabled".
 *
 * A preflight (OPTIONS) is answered here from these rules alone: the
 * router classifies it as a row of its own and never hands it to an API
 * handler, signed or not. Real (signed) requests that carry an Origin get
 * the same evaluation and, when it allows them, the CORS headers on their
 * answer, whatever the answer is.
 *
 * Storage: <data_dir>/cors/<bucket>, written to a temp file, fsynced,
 * renamed, the directory fsynced. Its first line is the bucket's creation
 * time (ms), so a configuration outlives neither its bucket nor a bucket
 * deleted and made again under the same name (S3 forgets it too); the
 * rest is the document as it was put, parsed again when read (so there is
 * one parser: cors_parse, fuzzed by tests/fuzz/fuzz_cors.c).
 *
 * Threading: stateless; files are replaced atomically, so a reader sees
 * the old or the new document. Runs on the HTTP threads.
 */
#include "s3_cors.h"
#include "api.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CORS_MAX_DOC (64u << 10) /* S3: a CORS configuration is at most 64 KB */
#define API_ALLOW_METHODS "GET, POST"
#define API_EXPOSE "x-amzn-RequestId, x-amzn-ErrorType, x-amzn-ErrorMessage, Date"
#define API_MAX_AGE "86400"

/* ---- parsing ---------------------------------------------------------------- */

struct cors_parse_ctx {
    struct http_req *req;
    struct cors_config *cfg;
    size_t cap;
    const char *code;
    char *msg;
    size_t msg_len;
    bool root_seen;
};

static int cors_fail(struct cors_parse_ctx *p, const char *code, const char *msg)
{
    if (!p->code) {
        p->code = code;
        snprintf(p->msg, p->msg_len, "%s", msg);
    }
    return 1;
}

static int add_item(struct cors_parse_ctx *p, const char **v, size_t *n, const char *text)
{
    if (*n >= CORS_MAX_ITEMS)
        return cors_fail(p, "InvalidRequest", "Too many values in one CORSRule.");
    const char *t = arena_strdup(p->req->arena, text);
    if (!t)
        return cors_fail(p, "InternalError", "out of memory");
    v[(*n)++] = t;
    return 0;
}

static int count_stars(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '*';
    return n;
}

static int cors_end(void *ctx, int depth, const char *name, const char *parent,
                    const char *text)
{
    struct cors_parse_ctx *p = ctx;
    struct cors_config *cfg = p->cfg;
    if (depth == 1) {
        if (strcmp(name, "CORSConfiguration") != 0)
            return cors_fail(p, "MalformedXML", "The XML you provided was not well-formed "
                             "or did not validate against our published schema");
        p->root_seen = true;
        return 0;
    }
    if (depth == 2) {
        if (strcmp(name, "CORSRule") != 0)
            return cors_fail(p, "MalformedXML", "The XML you provided was not well-formed "
                             "or did not validate against our published schema");
        if (cfg->n >= CORS_MAX_RULES)
            return cors_fail(p, "InvalidRequest",
                             "The number of CORS rules should not exceed allowed limit of 100 "
                             "rules.");
        struct cors_rule *r = &cfg->rules[cfg->n];
        if (!r->norigins || !r->nmethods)
            return cors_fail(p, "MalformedXML", "The XML you provided was not well-formed "
                             "or did not validate against our published schema");
        cfg->n++;
        cfg->rules[cfg->n].max_age = -1;
        return 0;
    }
    if (depth != 3 || strcmp(parent, "CORSRule") != 0)
        return cors_fail(p, "MalformedXML", "The XML you provided was not well-formed or "
                         "did not validate against our published schema");
    if (cfg->n >= CORS_MAX_RULES)
        return cors_fail(p, "InvalidRequest", "The number of CORS rules should not exceed "
                         "allowed limit of 100 rules.");
    struct cors_rule *r = &cfg->rules[cfg->n];
    if (strcmp(name, "AllowedOrigin") == 0) {
        if (count_stars(text) > 1) {
            char m[256];
            snprintf(m, sizeof m, "AllowedOrigin \"%.128s\" can not have more than one "
                     "wildcard.", text);
            return cors_fail(p, "InvalidRequest", m);
        }
        return add_item(p, r->origins, &r->norigins, text);
    }
    if (strcmp(name, "AllowedMethod") == 0) {
        static const char *const ok[] = {"GET", "PUT", "HEAD", "POST", "DELETE"};
        bool found = false;
        for (size_t i = 0; i < 5; i++)
            found |= strcmp(text, ok[i]) == 0;
        if (!found) {
            char m[256];
            snprintf(m, sizeof m, "Found unsupported HTTP method in CORS config. Unsupported "
                     "method is %.64s", text);
            return cors_fail(p, "InvalidRequest", m);
        }
        return add_item(p, r->methods, &r->nmethods, text);
    }
    if (strcmp(name, "AllowedHeader") == 0) {
        if (count_stars(text) > 1) {
            char m[256];
            snprintf(m, sizeof m, "AllowedHeader \"%.128s\" can not have more than one "
                     "wildcard.", text);
            return cors_fail(p, "InvalidRequest", m);
        }
        return add_item(p, r->headers, &r->nheaders, text);
    }
    if (strcmp(name, "ExposeHeader") == 0)
        return add_item(p, r->expose, &r->nexpose, text);
    if (strcmp(name, "ID") == 0) {
        if (strlen(text) > 255)
            return cors_fail(p, "InvalidArgument", "The ID of a CORSRule is at most 255 "
                             "characters long.");
        r->id = arena_strdup(p->req->arena, text);
        return r->id ? 0 : cors_fail(p, "InternalError", "out of memory");
    }
    if (strcmp(name, "MaxAgeSeconds") == 0) {
        char *end;
        errno = 0;
        long v = strtol(text, &end, 10);
        if (!*text || *end || errno || v < 0)
            return cors_fail(p, "MalformedXML", "The XML you provided was not well-formed or "
                             "did not validate against our published schema");
        r->max_age = v;
        return 0;
    }
    return cors_fail(p, "MalformedXML", "The XML you provided was not well-formed or did not "
                     "validate against our published schema");
}

int cors_parse(struct http_req *req, const char *body, size_t len, struct cors_config *out,
               const char **code, char *msg, size_t msg_len)
{
    struct cors_parse_ctx p = {req, out, CORS_MAX_RULES + 1, NULL, msg, msg_len, false};
    out->n = 0;
    out->rules = arena_alloc(req->arena, (CORS_MAX_RULES + 1) * sizeof *out->rules);
    if (!out->rules) {
        *code = "InternalError";
        snprintf(msg, msg_len, "out of memory");
        return HY_ENOMEM;
    }
    out->rules[0].max_age = -1;
    if (len > CORS_MAX_DOC) {
        *code = "MalformedXML";
        snprintf(msg, msg_len, "The CORS configuration is larger than 64 KB.");
        return HY_EINVAL;
    }
    int rc = s3__xml_parse(req, body, len, cors_end, &p);
    if (p.code || rc || !p.root_seen || !out->n) {
        *code = p.code ? p.code : "MalformedXML";
        if (!p.code)
            snprintf(msg, msg_len, "The XML you provided was not well-formed or did not "
                     "validate against our published schema");
        return rc == HY_ENOMEM ? HY_ENOMEM : HY_EINVAL;
    }
    return HY_OK;
}

/* ---- matching --------------------------------------------------------------- */

/* s against a pattern with at most one '*' (case-insensitive when icase). */
static bool wild_match(const char *pat, const char *s, bool icase)
{
    const char *star = strchr(pat, '*');
    int (*cmp)(const char *, const char *, size_t) = icase ? strncasecmp : strncmp;
    if (!star)
        return icase ? strcasecmp(pat, s) == 0 : strcmp(pat, s) == 0;
    size_t pre = (size_t)(star - pat), post = strlen(star + 1), n = strlen(s);
    return n >= pre + post && cmp(pat, s, pre) == 0 &&
           cmp(star + 1, s + n - post, post) == 0;
}

static bool rule_allows_header(const struct cors_rule *r, const char *h, size_t len)
{
    char name[256];
    if (len >= sizeof name)
        return false;
    memcpy(name, h, len);
    name[len] = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        if (wild_match(r->headers[i], name, true))
            return true;
    return false;
}

/* Calls fn for each name of a comma-separated list, trimmed; stops at the
 * first false. */
static bool each_header(const char *list, bool (*fn)(const void *, const char *, size_t),
                        const void *ctx)
{
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t > p && !fn(ctx, p, (size_t)(t - p)))
            return false;
        p = e;
    }
    return true;
}

static bool rule_header_cb(const void *ctx, const char *h, size_t len)
{
    return rule_allows_header(ctx, h, len);
}

const struct cors_rule *cors_match(const struct cors_config *cfg, const char *origin,
                                   const char *method, const char *req_headers)
{
    for (size_t i = 0; i < cfg->n; i++) {
        const struct cors_rule *r = &cfg->rules[i];
        bool o = false, m = false;
        for (size_t k = 0; k < r->norigins && !o; k++)
            o = wild_match(r->origins[k], origin, false);
        for (size_t k = 0; k < r->nmethods && !m; k++)
            m = strcmp(r->methods[k], method) == 0;
        if (o && m && each_header(req_headers, rule_header_cb, r))
            return r;
    }
    return NULL;
}

/* ---- storage ------------------------------------------------------------------- */

/* <data_dir>/cors; false without a data directory (unit tests, fuzzers:
 * nothing is stored, nothing read). */
static bool cors_dir(char *out, size_t n)
{
    if (!hy_cfg.data_dir)
        return false;
    snprintf(out, n, "%s/cors", hy_cfg.data_dir);
    return true;
}

struct created_ctx {
    const char *bucket;
    int64_t created;
    bool found;
};

static int created_cb(void *ctx, const char *name, const char *region, int64_t created_ms)
{
    (void)region;
    struct created_ctx *c = ctx;
    if (strcmp(name, c->bucket) != 0)
        return 0;
    c->created = created_ms;
    c->found = true;
    return 1;
}

/* The bucket's creation time: HY_OK, HY_ENOTFOUND. */
static int bucket_created(const char *bucket, int64_t *created)
{
    struct created_ctx c = {bucket, 0, false};
    if (!hy_store)
        return HY_ENOTFOUND;
    objstore_bucket_list(hy_store, created_cb, &c);
    *created = c.created;
    return c.found ? HY_OK : HY_ENOTFOUND;
}

/* The stored document of an existing bucket (arena), or NULL. */
static const char *cors_load(struct http_req *req, const char *bucket, size_t *len)
{
    char path[4096];
    int64_t created;
    if (!s3__bucket_name_ok(bucket) || bucket_created(bucket, &created) != HY_OK ||
        !cors_dir(path, sizeof path))
        return NULL;
    size_t dl = strlen(path);
    snprintf(path + dl, sizeof path - dl, "/%s", bucket);
    size_t n = 0;
    char *doc = hy_read_file(path, CORS_MAX_DOC + 64, &n);
    if (!doc)
        return NULL;
    char *nl = memchr(doc, '\n', n);
    char *copy = NULL;
    if (nl && strtoll(doc, NULL, 10) == created) {
        size_t rest = n - (size_t)(nl + 1 - doc);
        copy = arena_strndup(req->arena, nl + 1, rest);
        *len = rest;
    }
    free(doc);
    return copy;
}

static int cors_store(const char *bucket, int64_t created, const char *doc, size_t len)
{
    char dir[4096], path[4200], tmp[4300];
    if (!cors_dir(dir, sizeof dir))
        return HY_ESTATE;
    if (mkdir_p(dir, 0700) != 0)
        return HY_EIO;
    snprintf(path, sizeof path, "%s/%s", dir, bucket);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == ENOSPC ? HY_ENOSPC : HY_EIO;
    char head[32];
    int hl = snprintf(head, sizeof head, "%lld\n", (long long)created);
    int rc = write_all(fd, head, (size_t)hl);
    if (rc == HY_OK)
        rc = write_all(fd, doc, len);
    if (rc == HY_OK && fsync(fd) != 0)
        rc = errno == ENOSPC ? HY_ENOSPC : HY_EIO;
    if (close(fd) != 0 && rc == HY_OK)
        rc = HY_EIO;
    if (rc == HY_OK && rename(tmp, path) != 0)
        rc = HY_EIO;
    if (rc == HY_OK)
        rc = hy_fsync_dir(dir);
    if (rc)
        unlink(tmp);
    return rc;
}

static int cors_remove(const char *bucket)
{
    char dir[4096], path[4200];
    if (!cors_dir(dir, sizeof dir))
        return HY_OK; /* nothing can be stored: nothing to delete */
    snprintf(path, sizeof path, "%s/%s", dir, bucket);
    if (unlink(path) != 0)
        return errno == ENOENT ? HY_OK : HY_EIO; /* none: deleting it is a success */
    return hy_fsync_dir(dir);
}

/* ---- the API: PutBucketCors / GetBucketCors / DeleteBucketCors ------------------ */

static void put_cors(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    int64_t created;
    if (!s3__xml_body_ok(c))
        return;
    if (bucket_created(c->bucket, &created) != HY_OK) {
        s3__no_such_bucket(c);
        return;
    }
    struct cors_config cfg;
    const char *code = NULL;
    char msg[300];
    int rc = cors_parse(req, req->body, req->body_len, &cfg, &code, msg, sizeof msg);
    if (rc == HY_ENOMEM) {
        s3__internal(c, rc);
        return;
    }
    if (rc) {
        s3__error(c, 400, code, msg);
        return;
    }
    if ((rc = cors_store(c->bucket, created, req->body, req->body_len))) {
        s3__internal(c, rc);
        return;
    }
    http_reply(req, 200, NULL, "", 0);
}

static void xml_list(struct s3_xml *w, const char *tag, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s3__xml_elem(w, tag, v[i]);
}

static void get_cors(struct s3_ctx *c)
{
    size_t len = 0;
    int64_t created;
    if (bucket_created(c->bucket, &created) != HY_OK) {
        s3__no_such_bucket(c);
        return;
    }
    const char *doc = cors_load(c->req, c->bucket, &len);
    struct cors_config cfg;
    const char *code;
    char msg[300];
    if (!doc || cors_parse(c->req, doc, len, &cfg, &code, msg, sizeof msg) != HY_OK) {
        s3__error(c, 404, "NoSuchCORSConfiguration", "The CORS configuration does not exist");
        return;
    }
    struct s3_xml w;
    s3__xml_init(&w);
    s3__xml_raw(&w, "<CORSConfiguration xmlns=\"" S3_XMLNS "\">");
    for (size_t i = 0; i < cfg.n; i++) {
        const struct cors_rule *r = &cfg.rules[i];
        s3__xml_raw(&w, "<CORSRule>");
        if (r->id)
            s3__xml_elem(&w, "ID", r->id);
        xml_list(&w, "AllowedHeader", r->headers, r->nheaders);
        xml_list(&w, "AllowedMethod", r->methods, r->nmethods);
        xml_list(&w, "AllowedOrigin", r->origins, r->norigins);
        xml_list(&w, "ExposeHeader", r->expose, r->nexpose);
        if (r->max_age >= 0)
            s3__xml_elem_u64(&w, "MaxAgeSeconds", (uint64_t)r->max_age);
        s3__xml_raw(&w, "</CORSRule>");
    }
    s3__xml_raw(&w, "</CORSConfiguration>");
    s3__reply_xml(c, 200, &w);
}

static void delete_cors(struct s3_ctx *c)
{
    int64_t created;
    if (bucket_created(c->bucket, &created) != HY_OK) {
        s3__no_such_bucket(c);
        return;
    }
    int rc = cors_remove(c->bucket);
    if (rc) {
        s3__internal(c, rc);
        return;
    }
    http_reply(c->req, 204, NULL, "", 0);
}

void s3_cors_handle(struct s3_ctx *c)
{
    const char *m = c->req->method;
    if (strcmp(m, "PUT") == 0)
        put_cors(c);
    else if (strcmp(m, "GET") == 0)
        get_cors(c);
    else if (strcmp(m, "DELETE") == 0)
        delete_cors(c);
    else
        s3__method_not_allowed(c);
}

/* ---- preflights and response headers (the router's) ----------------------------- */

/* The bucket a request names, decoded, in the arena: virtual-host or the
 * first path segment. */
static const char *request_bucket(struct http_req *req)
{
    const char *vb = s3_vhost_bucket(req);
    if (vb)
        return vb;
    const char *p = req->path + (req->path[0] == '/');
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (!n || n > 255)
        return NULL;
    char *b = arena_strndup(req->arena, p, n);
    if (!b)
        return NULL;
    long dl = url_decode(b, b, n, false);
    if (dl < 0)
        return NULL;
    b[dl] = 0;
    return b;
}

static void reply_cors_error(struct http_req *req, int status, const char *code,
                             const char *message)
{
    struct buf b;
    char rid[37];
    hy_uuid4(rid);
    buf_init(&b, 4096);
    buf_puts(&b, S3_XML_DECL "<Error><Code>");
    buf_xml_escape(&b, code);
    buf_puts(&b, "</Code><Message>");
    buf_xml_escape(&b, message);
    buf_printf(&b, "</Message><RequestId>%.16s</RequestId></Error>", rid);
    http_reply(req, status, "application/xml", b.data ? b.data : "", b.len);
    buf_free(&b);
}

static bool api_header_ok(const void *ctx, const char *h, size_t len)
{
    (void)ctx;
    static const char *const exact[] = {"authorization", "content-type", "x-amz-target",
                                        "x-amz-date", "x-amz-user-agent",
                                        "x-amz-security-token", "x-amz-content-sha256",
                                        "amz-sdk-invocation-id", "amz-sdk-request",
                                        "content-encoding", "x-amz-json-version"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strlen(exact[i]) == len && strncasecmp(exact[i], h, len) == 0)
            return true;
    return (len > 6 && strncasecmp(h, "x-amz-", 6) == 0) ||
           (len > 8 && strncasecmp(h, "amz-sdk-", 8) == 0);
}

static void join(struct buf *b, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(b, ", ");
        buf_puts(b, v[i]);
    }
}

/* The rules of an S3 request's bucket: HY_OK and *cfg, HY_ENOTFOUND
 * (no bucket, or no configuration: *none says which). */
static int bucket_rules(struct http_req *req, struct cors_config *cfg, bool *no_bucket)
{
    const char *bucket = request_bucket(req);
    int64_t created;
    *no_bucket = !bucket || bucket_created(bucket, &created) != HY_OK;
    if (*no_bucket)
        return HY_ENOTFOUND;
    size_t len = 0;
    const char *doc = cors_load(req, bucket, &len);
    const char *code;
    char msg[300];
    if (!doc || cors_parse(req, doc, len, cfg, &code, msg, sizeof msg) != HY_OK)
        return HY_ENOTFOUND;
    return HY_OK;
}

void cors_preflight(struct http_req *req, bool s3)
{
    const char *origin = http_header(req, "Origin");
    const char *method = http_header(req, "Access-Control-Request-Method");
    const char *hdrs = http_header(req, "Access-Control-Request-Headers");
    if (!origin) {
        reply_cors_error(req, 400, "BadRequest",
                         "Insufficient information. Origin request header needed.");
        return;
    }
    if (!method) {
        reply_cors_error(req, 400, "BadRequest", "Invalid Access-Control-Request-Method: null");
        return;
    }
    http_add_header(req, "Vary", "Origin, Access-Control-Request-Headers, "
                                 "Access-Control-Request-Method");
    if (!s3) {
        if ((strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0) ||
            !each_header(hdrs, api_header_ok, NULL)) {
            reply_cors_error(req, 403, "CORSResponse",
                             "This CORS request is not allowed: the APIs take GET and POST "
                             "with the AWS SDK's headers (authorization, content-type, "
                             "x-amz-*, amz-sdk-*).");
            return;
        }
        http_add_header(req, "Access-Control-Allow-Origin", "*");
        http_add_header(req, "Access-Control-Allow-Methods", API_ALLOW_METHODS);
        if (hdrs)
            http_add_header(req, "Access-Control-Allow-Headers", hdrs);
        http_add_header(req, "Access-Control-Expose-Headers", API_EXPOSE);
        http_add_header(req, "Access-Control-Max-Age", API_MAX_AGE);
        http_reply(req, 200, NULL, "", 0);
        return;
    }
    struct cors_config cfg;
    bool no_bucket;
    if (bucket_rules(req, &cfg, &no_bucket) != HY_OK) {
        reply_cors_error(req, 403, "CORSResponse", no_bucket
                         ? "CORSResponse: Bucket not found"
                         : "CORSResponse: CORS is not enabled for this bucket.");
        return;
    }
    const struct cors_rule *r = cors_match(&cfg, origin, method, hdrs);
    if (!r) {
        reply_cors_error(req, 403, "CORSResponse",
                         "CORSResponse: This CORS request is not allowed. This is usually "
                         "because the evalution of Origin, request method / "
                         "Access-Control-Request-Method or Access-Control-Request-Headers "
                         "are not whitelisted by the resource's CORS spec.");
        return;
    }
    bool any = r->norigins == 1 && strcmp(r->origins[0], "*") == 0;
    http_add_header(req, "Access-Control-Allow-Origin", any ? "*" : origin);
    if (!any)
        http_add_header(req, "Access-Control-Allow-Credentials", "true");
    struct buf b;
    buf_init(&b, 16384);
    join(&b, r->methods, r->nmethods);
    http_add_header(req, "Access-Control-Allow-Methods", b.data ? b.data : "");
    if (hdrs && *hdrs)
        http_add_header(req, "Access-Control-Allow-Headers", hdrs);
    if (r->nexpose) {
        buf_reset(&b);
        join(&b, r->expose, r->nexpose);
        http_add_header(req, "Access-Control-Expose-Headers", b.data ? b.data : "");
    }
    if (r->max_age >= 0) {
        char age[32];
        snprintf(age, sizeof age, "%ld", r->max_age);
        http_add_header(req, "Access-Control-Max-Age", age);
    }
    buf_free(&b);
    http_reply(req, 200, NULL, "", 0);
}

void cors_response_headers(struct http_req *req, bool s3)
{
    const char *origin = http_header(req, "Origin");
    if (!origin)
        return;
    if (!s3) {
        http_add_header(req, "Access-Control-Allow-Origin", "*");
        http_add_header(req, "Access-Control-Expose-Headers", API_EXPOSE);
        return;
    }
    struct cors_config cfg;
    bool no_bucket;
    if (bucket_rules(req, &cfg, &no_bucket) != HY_OK)
        return;
    const struct cors_rule *r = cors_match(&cfg, origin, req->method, NULL);
    if (!r)
        return;
    bool any = r->norigins == 1 && strcmp(r->origins[0], "*") == 0;
    http_add_header(req, "Access-Control-Allow-Origin", any ? "*" : origin);
    if (!any)
        http_add_header(req, "Access-Control-Allow-Credentials", "true");
    http_add_header(req, "Vary", "Origin, Access-Control-Request-Headers, "
                                 "Access-Control-Request-Method");
    struct buf b;
    buf_init(&b, 16384);
    join(&b, r->methods, r->nmethods);
    http_add_header(req, "Access-Control-Allow-Methods", b.data ? b.data : "");
    if (r->nexpose) {
        buf_reset(&b);
        join(&b, r->expose, r->nexpose);
        http_add_header(req, "Access-Control-Expose-Headers", b.data ? b.data : "");
    }
    buf_free(&b);
}
