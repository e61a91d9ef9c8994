/* s3_wire.c -- the S3 wire layer: what a request's bytes mean and how the
 * answer's bytes look, for the operations in s3.c (see s3_wire.h).
 *
 * What a request means: the bucket comes from the Host header when it is
 * virtual-host style (bucket.localhost, bucket.s3[.region].amazonaws.com,
 * or <bucket>.<any host> when <bucket> exists: s3_vhost_bucket, the one
 * decision, which the router also hands to the SigV2 check), otherwise
 * from the first path segment; the rest of the percent-encoded path,
 * decoded, is the key. A malformed escape is InvalidURI.
 *
 * Bodies arrive as payloads: an aws-chunked upload has been decoded, its
 * chunk signatures checked, by the router (sigv4_dechunk_request) before
 * s3_handle runs; nothing here parses chunk framing. s3__body_prepare
 * checks x-amz-content-sha256, Content-MD5, the x-amz-checksum-<alg>
 * headers (util.c's hy_cksum: crc32, crc32c, crc64nvme, sha1, sha256; a
 * spooled body is read back once per checksum header) and the size
 * ceiling; XML bodies are parsed with expat, depth and text bounded.
 *
 * Answers: XML built in a struct s3_xml (a buf with a ceiling that keeps
 * its first error), text through util.c's buf_xml_escape; errors only
 * through s3__error_extra, the one place the S3 error document is written
 * (no body for HEAD, as S3 does).
 *
 * Threading: stateless; runs on the HTTP threads.
 */
#include "api.h"
#include "s3_wire.h"

#include <ctype.h>
#include <errno.h>
#include <expat.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- XML output: a buf that remembers its first error ----------------- */
void s3__xml_init(struct s3_xml *w)
{
    buf_init(&w->b, S3_MAX_XML_RESP);
    w->rc = buf_puts(&w->b, S3_XML_DECL);
}

void s3__xml_raw(struct s3_xml *w, const char *s)
{
    if (w->rc == HY_OK)
        w->rc = buf_puts(&w->b, s);
}

void s3__xml_text(struct s3_xml *w, const char *s)
{
    if (w->rc == HY_OK)
        w->rc = buf_xml_escape(&w->b, s);
}

/* <name>escaped text</name> */
void s3__xml_elem(struct s3_xml *w, const char *name, const char *text)
{
    if (w->rc == HY_OK)
        w->rc = buf_printf(&w->b, "<%s>", name);
    s3__xml_text(w, text);
    if (w->rc == HY_OK)
        w->rc = buf_printf(&w->b, "</%s>", name);
}

/* Like s3__xml_elem, but URL-encoded first when url (encoding-type=url). */
void s3__xml_elem_enc(struct s3_xml *w, const char *name, const char *text,
                            bool url)
{
    if (!url) {
        s3__xml_elem(w, name, text);
        return;
    }
    struct buf enc;
    buf_init(&enc, S3_MAX_XML_TEXT);
    int rc = url_encode(&enc, text, strlen(text), true);
    if (rc == HY_OK)
        s3__xml_elem(w, name, enc.data ? enc.data : "");
    else if (w->rc == HY_OK)
        w->rc = rc;
    buf_free(&enc);
}

void s3__xml_elem_u64(struct s3_xml *w, const char *name, uint64_t v)
{
    if (w->rc == HY_OK)
        w->rc = buf_printf(&w->b, "<%s>%llu</%s>", name, (unsigned long long)v, name);
}

void s3__xml_elem_time(struct s3_xml *w, const char *name, int64_t ms)
{
    char ts[32];
    fmt_iso8601_ms(ts, ms);
    s3__xml_elem(w, name, ts);
}

/* ---- errors: the one place S3 errors are written ---------------------- */
void s3__error_extra(struct s3_ctx *c, int status, const char *code,
                           const char *message, const char *extra_xml)
{
    struct http_req *req = c->req;
    if (c->head) {
        http_reply(req, status, NULL, NULL, 0);
        return;
    }
    struct s3_xml w;
    s3__xml_init(&w);
    s3__xml_raw(&w, "<Error>");
    s3__xml_elem(&w, "Code", code);
    s3__xml_elem(&w, "Message", message);
    if (c->bucket && (strcmp(code, "NoSuchBucket") == 0 || strncmp(code, "Bucket", 6) == 0 ||
                      strcmp(code, "InvalidBucketName") == 0))
        s3__xml_elem(&w, "BucketName", c->bucket);
    if (c->key && strcmp(code, "NoSuchKey") == 0)
        s3__xml_elem(&w, "Key", c->key);
    if (extra_xml)
        s3__xml_raw(&w, extra_xml);
    const char *resource = c->bucket ? arena_printf(req->arena, "/%s%s%s", c->bucket,
                                                    c->key ? "/" : "",
                                                    c->key ? c->key : "")
                                     : "/";
    s3__xml_elem(&w, "Resource", resource ? resource : "/");
    s3__xml_elem(&w, "RequestId", c->request_id);
    s3__xml_raw(&w, "</Error>");
    if (w.rc != HY_OK) {
        buf_free(&w.b);
        http_reply(req, 500, NULL, NULL, 0);
        return;
    }
    http_reply(req, status, "application/xml", w.b.data, w.b.len);
    buf_free(&w.b);
}

void s3__error(struct s3_ctx *c, int status, const char *code,
                     const char *message)
{
    s3__error_extra(c, status, code, message, NULL);
}

void s3__no_such_bucket(struct s3_ctx *c)
{
    s3__error(c, 404, "NoSuchBucket", "The specified bucket does not exist");
}

static void s3_no_such_key(struct s3_ctx *c)
{
    s3__error(c, 404, "NoSuchKey", "The specified key does not exist.");
}

void s3__internal(struct s3_ctx *c, int rc)
{
    log_error(S3_TAG, "%s %s: %s", c->req->method, c->req->path, hy_strerror(rc));
    if (rc == HY_ENOSPC)
        s3__error(c, 507, "InsufficientStorage", "No space left on the server's disk.");
    else
        s3__error(c, 500, "InternalError",
                 "We encountered an internal error. Please try again.");
}

void s3__not_implemented(struct s3_ctx *c)
{
    s3__error(c, 501, "NotImplemented",
             "A header you provided implies functionality that is not implemented");
}

void s3__method_not_allowed(struct s3_ctx *c)
{
    struct s3_xml x;
    s3__xml_init(&x);
    buf_reset(&x.b);
    s3__xml_elem(&x, "Method", c->req->method);
    s3__xml_elem(&x, "ResourceType", c->key ? "OBJECT" : c->bucket ? "BUCKET" : "SERVICE");
    s3__error_extra(c, 405, "MethodNotAllowed",
                   "The specified method is not allowed against this resource.",
                   x.rc == HY_OK && x.b.data ? arena_strdup(c->req->arena, x.b.data) : NULL);
    buf_free(&x.b);
}

void s3__malformed_xml(struct s3_ctx *c)
{
    s3__error(c, 400, "MalformedXML",
             "The XML you provided was not well-formed or did not validate "
             "against our published schema");
}

/* NoSuchBucket or NoSuchKey after a lookup said HY_ENOTFOUND. */
void s3__not_found(struct s3_ctx *c)
{
    int rc = objstore_bucket_exists(hy_store, c->bucket);
    if (rc == HY_ENOTFOUND)
        s3__no_such_bucket(c);
    else if (rc != HY_OK)
        s3__internal(c, rc);
    else
        s3_no_such_key(c);
}

void s3__reply_xml(struct s3_ctx *c, int status, struct s3_xml *w)
{
    if (w->rc != HY_OK) {
        buf_free(&w->b);
        s3__internal(c, w->rc);
        return;
    }
    http_reply(c->req, status, "application/xml", w->b.data, w->b.len);
    buf_free(&w->b);
}

/* ---- names -------------------------------------------------------------- */
static bool s3_is_ipv4(const char *s)
{
    int dots = 0, digits = 0;
    for (; *s; s++) {
        if (*s == '.') {
            if (digits == 0)
                return false;
            dots++;
            digits = 0;
        } else if (isdigit((unsigned char)*s)) {
            digits++;
        } else {
            return false;
        }
    }
    return dots == 3 && digits > 0;
}

/* AWS's bucket naming rules (general purpose buckets). */
bool s3__bucket_name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len < 3 || len > 63)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = n[i];
        if (!(islower((unsigned char)ch) || isdigit((unsigned char)ch) ||
              ch == '.' || ch == '-'))
            return false;
    }
    if (!isalnum((unsigned char)n[0]) || !isalnum((unsigned char)n[len - 1]))
        return false;
    if (strstr(n, "..") || strstr(n, ".-") || strstr(n, "-."))
        return false;
    if (s3_is_ipv4(n))
        return false;
    if (strncmp(n, "xn--", 4) == 0 || strncmp(n, "sthree-", 7) == 0)
        return false;
    if (len > 8 && strcmp(n + len - 8, "-s3alias") == 0)
        return false;
    if (len > 7 && strcmp(n + len - 7, "--ol-s3") == 0)
        return false;
    return true;
}

/* The bucket named by the Host header, or NULL for path-style (api.h):
 * the one decision both s3.c's addressing and the SigV2 signed resource
 * use. */
const char *s3_vhost_bucket(struct http_req *req)
{
    const char *host = http_header(req, "Host");
    if (!host || !*host || host[0] == '[')
        return NULL;
    size_t n = strcspn(host, ":");
    char *h = arena_strndup(req->arena, host, n);
    if (!h)
        return NULL;
    for (char *p = h; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    while (n > 0 && h[n - 1] == '.') /* fully qualified "name." */
        h[--n] = 0;
    if (s3_is_ipv4(h) || strcmp(h, "localhost") == 0 || !strchr(h, '.'))
        return NULL;

    static const char local_suffix[] = ".localhost";
    size_t ls = sizeof local_suffix - 1;
    if (n > ls && strcmp(h + n - ls, local_suffix) == 0) {
        h[n - ls] = 0;
        return h;
    }
    /* AWS names: [bucket.]s3[.-]<region>.amazonaws.com[.cn] */
    if (strstr(h, ".amazonaws.com")) {
        if (strncmp(h, "s3.", 3) == 0 || strncmp(h, "s3-", 3) == 0)
            return NULL;
        /* the last ".s3." / ".s3-": bucket names may contain either */
        char *s3 = NULL;
        for (char *p = h; (p = strstr(p, ".s3")) != NULL; p++)
            if (p[3] == '.' || p[3] == '-')
                s3 = p;
        if (s3) {
            *s3 = 0;
            return h;
        }
        return NULL;
    }
    /* <bucket>.<some host>: only when that bucket exists, or to create it
     * (PUT / names nothing path-style) */
    char *dot = strchr(h, '.');
    *dot = 0;
    if (!s3__bucket_name_ok(h))
        return NULL;
    if (objstore_bucket_exists(hy_store, h) == HY_OK)
        return h;
    if (strcmp(req->method, "PUT") == 0 && strcmp(req->path, "/") == 0)
        return h;
    return NULL;
}

/* Percent-decodes in[0..n) into the arena; NULL if malformed or it holds
 * a NUL byte. */
char *s3__decode(struct http_req *req, const char *in, size_t n)
{
    char *out = arena_alloc(req->arena, n + 1);
    if (!out)
        return NULL;
    long d = url_decode(out, in, n, false);
    if (d < 0 || memchr(out, 0, (size_t)d))
        return NULL;
    out[d] = 0;
    return out;
}

/* ---- XML input (expat): calls back at each element's end -------------- */
struct s3_xml_in {
    XML_Parser parser;
    const char *stack[S3_MAX_XML_DEPTH];
    int depth;
    struct buf text;          /* text of the innermost open element */
    int rc;
    /* called with the element's local name, its depth (root = 1) and the
     * parent's name; returns nonzero to fail the document */
    int (*on_end)(void *ctx, int depth, const char *name, const char *parent,
                  const char *text);
    void *ctx;
    struct arena *arena;
};

static const char *s3_local_name(const char *name)
{
    /* with namespace processing names come as "uri<sep>local" */
    const char *sep = strrchr(name, '\x01');
    return sep ? sep + 1 : name;
}

static void XMLCALL s3_xml_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    struct s3_xml_in *x = ud;
    if (x->depth >= S3_MAX_XML_DEPTH) {
        x->rc = HY_EINVAL;
        XML_StopParser(x->parser, XML_FALSE);
        return;
    }
    x->stack[x->depth] = arena_strdup(x->arena, s3_local_name(name));
    if (!x->stack[x->depth]) {
        x->rc = HY_ENOMEM;
        XML_StopParser(x->parser, XML_FALSE);
        return;
    }
    x->depth++;
    buf_reset(&x->text);
}

static void XMLCALL s3_xml_end(void *ud, const XML_Char *name)
{
    (void)name;
    struct s3_xml_in *x = ud;
    if (x->depth <= 0)
        return;
    const char *parent = x->depth >= 2 ? x->stack[x->depth - 2] : "";
    if (x->on_end(x->ctx, x->depth, x->stack[x->depth - 1], parent,
                  x->text.data ? x->text.data : "") != 0) {
        x->rc = HY_EINVAL;
        XML_StopParser(x->parser, XML_FALSE);
    }
    x->depth--;
    buf_reset(&x->text);
}

static void XMLCALL s3_xml_chars(void *ud, const XML_Char *s, int len)
{
    struct s3_xml_in *x = ud;
    if (x->rc == HY_OK && buf_append(&x->text, s, (size_t)len) != HY_OK) {
        x->rc = HY_ETOOBIG;
        XML_StopParser(x->parser, XML_FALSE);
    }
}

/* Parses body; HY_EINVAL when malformed or on_end refused it. */
int s3__xml_parse(struct http_req *req, const char *body, size_t len,
                        int (*on_end)(void *, int, const char *, const char *,
                                      const char *),
                        void *ctx)
{
    struct s3_xml_in x = {.on_end = on_end, .ctx = ctx, .arena = req->arena};
    if (len > INT32_MAX)
        return HY_ETOOBIG;
    x.parser = XML_ParserCreateNS("UTF-8", '\x01');
    if (!x.parser)
        return HY_ENOMEM;
    buf_init(&x.text, S3_MAX_XML_TEXT);
    XML_SetUserData(x.parser, &x);
    XML_SetElementHandler(x.parser, s3_xml_start, s3_xml_end);
    XML_SetCharacterDataHandler(x.parser, s3_xml_chars);
    if (XML_Parse(x.parser, body, (int)len, XML_TRUE) != XML_STATUS_OK && x.rc == HY_OK)
        x.rc = HY_EINVAL;
    int rc = x.rc == HY_ENOMEM ? HY_ENOMEM : x.rc ? HY_EINVAL : HY_OK;
    XML_ParserFree(x.parser);
    buf_free(&x.text);
    return rc;
}

/* XML request bodies (DeleteObjects, CompleteMultipartUpload, tagging,
 * CreateBucket) are parsed from memory. A large one was spooled like an
 * object body; up to S3_MAX_XML_BODY it is read back into the arena. */
static int s3_xml_body(struct http_req *req)
{
    if (!req->body_path)
        return HY_OK;
    if (req->body_file_len > S3_MAX_XML_BODY)
        return HY_ETOOBIG;
    size_t len = (size_t)req->body_file_len;
    char *data = arena_alloc(req->arena, len + 1);
    if (!data)
        return HY_ENOMEM;
    FILE *f = fopen(req->body_path, "rb");
    if (!f)
        return HY_EIO;
    size_t n = fread(data, 1, len, f);
    fclose(f);
    if (n != len)
        return HY_EIO;
    data[n] = 0;
    req->body = data;
    req->body_len = n;
    req->body_path = NULL; /* http.c still unlinks its file */
    return HY_OK;
}

/* s3_xml_body for a handler: false after replying. */
bool s3__xml_body_ok(struct s3_ctx *c)
{
    int rc = s3_xml_body(c->req);
    if (rc == HY_ETOOBIG)
        s3__malformed_xml(c);
    else if (rc)
        s3__internal(c, rc);
    return rc == HY_OK;
}

/* ---- request bodies: memory or spool file, checked ------------------------ */
static uint64_t s3_max_object(void)
{
    return hy_cfg.max_object ? hy_cfg.max_object : S3_MAX_OBJECT;
}

static void s3_entity_too_large(struct s3_ctx *c, uint64_t max)
{
    const char *extra = arena_printf(c->req->arena, "<MaxSizeAllowed>%llu</MaxSizeAllowed>",
                                     (unsigned long long)max);
    s3__error_extra(c, 400, "EntityTooLarge",
                   "Your proposed upload exceeds the maximum allowed size", extra);
}

void s3__body_free(struct s3_body *b)
{
    if (b->tmp[0])
        unlink(b->tmp); /* ENOENT when the store took it */
}

/* Whether s is 64 hex digits (a payload hash, not UNSIGNED-PAYLOAD or a
 * STREAMING-* marker). */
static bool s3_is_sha256_hex(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return i == 64;
}

/* The x-amz-checksum-<alg> header value (base64) against b's bytes, as
 * S3 checks it; false after replying. */
static bool s3_checksum_ok(struct s3_ctx *c, const struct s3_body *b, int alg,
                           const char *name, const char *value)
{
    unsigned char want[48], got[32];
    size_t size = hy_cksum_len(alg), vlen = strlen(value);
    struct hy_cksum ck;
    int rc;
    if (vlen > 4 * ((size + 2) / 3) || base64_decode(want, value, vlen) != (long)size) {
        s3__error(c, 400, "InvalidRequest",
                  arena_printf(c->req->arena, "Value for %s header is invalid.", name));
        return false;
    }
    if ((rc = hy_cksum_init(&ck, alg))) {
        s3__internal(c, rc);
        return false;
    }
    if (b->path) {
        FILE *f = fopen(b->path, "rb");
        char *block = malloc(256u << 10);
        size_t n;
        rc = f && block ? HY_OK : f ? HY_ENOMEM : HY_EIO;
        while (rc == HY_OK && (n = fread(block, 1, 256u << 10, f)) > 0)
            rc = hy_cksum_update(&ck, block, n);
        if (rc == HY_OK && ferror(f))
            rc = HY_EIO;
        if (f)
            fclose(f);
        free(block);
    } else {
        rc = hy_cksum_update(&ck, b->data, (size_t)b->len);
    }
    if (rc == HY_OK)
        rc = hy_cksum_final(&ck, got);
    hy_cksum_free(&ck);
    if (rc) {
        s3__internal(c, rc);
        return false;
    }
    if (memcmp(want, got, size) != 0) {
        char alg_name[16];
        snprintf(alg_name, sizeof alg_name, "%s", name + strlen("x-amz-checksum-"));
        for (char *p = alg_name; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        s3__error(c, 400, "BadDigest",
                  arena_printf(c->req->arena, "The %s you specified did not match the "
                               "calculated checksum.", alg_name));
        return false;
    }
    return true;
}

/* Every x-amz-checksum-<alg> header of the request checked against b; one
 * naming an algorithm hydrant does not know is refused, not ignored. */
static bool s3_checksums_ok(struct s3_ctx *c, const struct s3_body *b)
{
    static const char *const not_sums[] = {"x-amz-checksum-mode", "x-amz-checksum-type",
                                           "x-amz-checksum-algorithm"};
    const struct http_req *req = c->req;
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *name = req->headers[i].name;
        int alg = name ? hy_cksum_alg(name, strlen(name)) : -1;
        bool other = false;
        for (size_t k = 0; k < sizeof not_sums / sizeof *not_sums; k++)
            other |= strcasecmp(name ? name : "", not_sums[k]) == 0;
        if (alg == -1 || other)
            continue;
        if (alg == -2) {
            s3__error(c, 400, "InvalidRequest",
                      arena_printf(req->arena, "%s is not a checksum algorithm hydrant "
                                   "can verify (CRC32, CRC32C, CRC64NVME, SHA1, SHA256).",
                                   name));
            return false;
        }
        if (!s3_checksum_ok(c, b, alg, hy_cksum_name(alg), req->headers[i].value))
            return false;
    }
    return true;
}

/* Turns the request body into b (an aws-chunked one arrives decoded):
 * x-amz-content-sha256, the size ceiling, Content-MD5 and x-amz-checksum-*
 * checked. False after replying. */
bool s3__body_prepare(struct s3_ctx *c, struct s3_body *b)
{
    struct http_req *req = c->req;
    unsigned int mdlen;
    memset(b, 0, sizeof *b);
    if (req->body_rc) {
        s3__internal(c, req->body_rc);
        return false;
    }
    if (req->body_too_large) {
        s3_entity_too_large(c, s3_max_object());
        return false;
    }
    const char *sha = http_header(req, "x-amz-content-sha256");
    if (sha && s3_is_sha256_hex(sha)) {
        char got[65];
        if (req->body_path)
            hex_encode(got, req->body_sha256, 32);
        else
            sha256_hex(got, req->body, req->body_len);
        if (strcasecmp(got, sha) != 0) {
            const char *extra = arena_printf(
                req->arena,
                "<ClientComputedContentSHA256>%s</ClientComputedContentSHA256>"
                "<S3ComputedContentSHA256>%s</S3ComputedContentSHA256>", sha, got);
            s3__error_extra(c, 400, "XAmzContentSHA256Mismatch",
                           "The provided 'x-amz-content-sha256' header does not match "
                           "what was computed.", extra);
            return false;
        }
    }
    /* aws-chunked bodies reach s3.c decoded (sigv4_dechunk_request, in
     * the router): the payload, its signatures checked. A STREAMING-* body
     * nobody decoded is refused rather than stored with its framing. */
    const char *cenc = http_header(req, "Content-Encoding");
    bool streaming = sha && strncmp(sha, "STREAMING-", 10) == 0;
    if (streaming && !req->body_dechunked) {
        log_error(S3_TAG, "aws-chunked body not decoded before dispatch");
        s3__internal(c, HY_ESTATE);
        return false;
    }
    if (!streaming && cenc && strcasestr(cenc, "aws-chunked")) {
        s3__error(c, 400, "InvalidArgument",
                 "Content-Encoding aws-chunked needs an x-amz-content-sha256 of "
                 "STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] or "
                 "STREAMING-UNSIGNED-PAYLOAD-TRAILER.");
        return false;
    }
    if (req->body_path) {
        b->path = req->body_path;
        b->len = req->body_file_len;
        memcpy(b->md5, req->body_md5, 16);
    } else {
        b->data = req->body;
        b->len = req->body_len;
        if (EVP_Digest(b->data, req->body_len, b->md5, &mdlen, EVP_md5(), NULL) != 1) {
            s3__internal(c, HY_ENOMEM);
            return false;
        }
    }
    if (b->len > s3_max_object()) {
        s3_entity_too_large(c, s3_max_object());
        return false;
    }
    const char *md5_b64 = http_header(req, "Content-MD5");
    if (md5_b64) {
        unsigned char want[24];
        size_t blen = strlen(md5_b64);
        long n = blen <= 24 ? base64_decode(want, md5_b64, blen) : -1;
        if (n != 16) {
            s3__error(c, 400, "InvalidDigest", "The Content-MD5 you specified is not valid.");
            return false;
        }
        if (memcmp(want, b->md5, 16) != 0) {
            s3__error(c, 400, "BadDigest",
                     "The Content-MD5 you specified did not match what we received.");
            return false;
        }
    }
    return s3_checksums_ok(c, b);
}

/* Makes sure the body is in a file (parts are stored from files). */
int s3__body_to_file(struct s3_body *b)
{
    int fd, rc;
    if (b->path)
        return HY_OK;
    if ((rc = objstore_tmp_create(hy_store, b->tmp, &fd)))
        return rc;
    rc = write_all(fd, b->data, (size_t)b->len);
    if (close(fd) != 0 && rc == HY_OK)
        rc = HY_EIO;
    if (rc == HY_OK)
        b->path = b->tmp;
    return rc;
}

/* ---- target and request id ---------------------------------------------- */
void s3__request_id(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    unsigned char r[8];
    char *hex = c->request_id, id2[64];
    if (hy_random(r, sizeof r) != HY_OK)
        memset(r, 0, sizeof r);
    hex_encode(hex, r, sizeof r);
    for (char *p = hex; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    http_add_header(req, "x-amz-request-id", hex);
    base64_encode(id2, r, sizeof r);
    http_add_header(req, "x-amz-id-2", id2);
}

/* The one split of a target into bucket and key: enum router_s3_level,
 * or -1 when it cannot be parsed (*bucket and *key NULL when absent). */
static int s3_split_target(struct http_req *req, const char **bucket, const char **key)
{
    const char *path = req->path;
    *bucket = *key = NULL;
    if (*path != '/')
        return -1;
    const char *vb = s3_vhost_bucket(req);
    const char *rest;
    if (vb) {
        *bucket = vb;
        rest = path + 1;
    } else {
        const char *seg = path + 1;
        size_t n = strcspn(seg, "/");
        if (n > 0 && !(*bucket = s3__decode(req, seg, n)))
            return -1;
        rest = seg[n] == '/' ? seg + n + 1 : seg + n;
    }
    if (!*bucket)
        return ROUTER_S3_SERVICE;
    if (!*rest)
        return ROUTER_S3_BUCKET;
    return (*key = s3__decode(req, rest, strlen(rest))) ? ROUTER_S3_OBJECT : -1;
}

/* Splits the request into bucket and key; false after replying. */
bool s3__parse_target(struct s3_ctx *c)
{
    if (s3_split_target(c->req, &c->bucket, &c->key) < 0) {
        s3__error(c, 400, "InvalidURI", "Couldn't parse the specified URI.");
        return false;
    }
    return true;
}

int s3_target_level(struct http_req *req)
{
    const char *bucket, *key;
    return s3_split_target(req, &bucket, &key);
}
