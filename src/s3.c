/* s3.c -- the S3 REST API (XML) over the embedded store (objstore.c).
 *
 * What a request means: the bucket comes from the Host header when it is
 * virtual-host style (bucket.localhost, bucket.s3[.region].amazonaws.com,
 * or <bucket>.<any host> when <bucket> exists), otherwise from the first
 * path segment; the rest of the percent-encoded path, decoded, is the key.
 * Then method + subresource pick the operation:
 *
 *   GET /                      ListBuckets
 *   PUT|HEAD|DELETE /b         CreateBucket, HeadBucket, DeleteBucket
 *   GET /b?location            GetBucketLocation
 *   GET /b?list-type=2         ListObjectsV2      GET /b   ListObjects (v1)
 *   POST /b?delete             DeleteObjects
 *   PUT /b/k                   PutObject, or CopyObject with x-amz-copy-source
 *   GET|HEAD|DELETE /b/k       GetObject, HeadObject, DeleteObject
 *
 * Any other subresource (?acl, ?uploads, ...) answers NotImplemented.
 *
 * Errors: handlers return through s3_error(), the one place that writes
 * the S3 XML error document (no body for HEAD, as S3 does). Every answer
 * carries x-amz-request-id.
 *
 * Listing walks the catalog in key order through objstore_list(). With a
 * delimiter, a key that rolls up into a CommonPrefix ends the walk and the
 * next walk starts past every key under that prefix, so a prefix holding
 * a million keys costs one row. Continuation tokens are base64 of the last
 * key or CommonPrefix returned: the next page starts after it.
 *
 * Threading: stateless; runs on the HTTP threads. The store is thread-safe.
 */
#include "api.h"
#include "objstore.h"

#include <ctype.h>
#include <errno.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S3_TAG "s3"
#define S3_XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"
#define S3_XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3_MAX_LIST_KEYS 1000
#define S3_MAX_DELETE_KEYS 1000
#define S3_MAX_XML_RESP (32u << 20)   /* a 1000-key listing fits many times */
#define S3_MAX_XML_TEXT (64u << 10)   /* one element's text in a request */
#define S3_MAX_XML_DEPTH 16
/* Canonical user ID of the single owner: hex of "hydrant" + account id */
#define S3_OWNER_ID "68796472616e7430303030303030303030303000000000000000000000000000"
#define S3_OWNER_NAME "hydrant"

/* One request as the S3 handlers see it. */
struct s3_ctx {
    struct http_req *req;
    const char *bucket;      /* decoded; NULL when the request names none */
    const char *key;         /* decoded; NULL when none */
    bool head;               /* HEAD: errors have no body */
    char request_id[17];     /* also sent as x-amz-request-id */
};

/* ---- XML output: a buf that remembers its first error ----------------- */
struct s3_xml {
    struct buf b;
    int rc;
};

static void s3_xml_init(struct s3_xml *w)
{
    buf_init(&w->b, S3_MAX_XML_RESP);
    w->rc = buf_puts(&w->b, S3_XML_DECL);
}

static void s3_xml_raw(struct s3_xml *w, const char *s)
{
    if (w->rc == HY_OK)
        w->rc = buf_puts(&w->b, s);
}

static void s3_xml_text(struct s3_xml *w, const char *s)
{
    if (w->rc == HY_OK)
        w->rc = buf_xml_escape(&w->b, s);
}

/* <name>escaped text</name> */
static void s3_xml_elem(struct s3_xml *w, const char *name, const char *text)
{
    if (w->rc == HY_OK)
        w->rc = buf_printf(&w->b, "<%s>", name);
    s3_xml_text(w, text);
    if (w->rc == HY_OK)
        w->rc = buf_printf(&w->b, "</%s>", name);
}

/* Like s3_xml_elem, but URL-encoded first when url (encoding-type=url). */
static void s3_xml_elem_enc(struct s3_xml *w, const char *name, const char *text,
                            bool url)
{
    if (!url) {
        s3_xml_elem(w, name, text);
        return;
    }
    struct buf enc;
    buf_init(&enc, S3_MAX_XML_TEXT);
    int rc = url_encode(&enc, text, strlen(text), true);
    if (rc == HY_OK)
        s3_xml_elem(w, name, enc.data ? enc.data : "");
    else if (w->rc == HY_OK)
        w->rc = rc;
    buf_free(&enc);
}

static void s3_xml_elem_u64(struct s3_xml *w, const char *name, uint64_t v)
{
    if (w->rc == HY_OK)
        w->rc = buf_printf(&w->b, "<%s>%llu</%s>", name, (unsigned long long)v, name);
}

static void s3_xml_elem_time(struct s3_xml *w, const char *name, int64_t ms)
{
    char ts[32];
    fmt_iso8601_ms(ts, ms);
    s3_xml_elem(w, name, ts);
}

/* ---- errors: the one place S3 errors are written ---------------------- */
static void s3_error_extra(struct s3_ctx *c, int status, const char *code,
                           const char *message, const char *extra_xml)
{
    struct http_req *req = c->req;
    if (c->head) {
        http_reply(req, status, NULL, NULL, 0);
        return;
    }
    struct s3_xml w;
    s3_xml_init(&w);
    s3_xml_raw(&w, "<Error>");
    s3_xml_elem(&w, "Code", code);
    s3_xml_elem(&w, "Message", message);
    if (c->bucket && (strcmp(code, "NoSuchBucket") == 0 || strncmp(code, "Bucket", 6) == 0 ||
                      strcmp(code, "InvalidBucketName") == 0))
        s3_xml_elem(&w, "BucketName", c->bucket);
    if (c->key && strcmp(code, "NoSuchKey") == 0)
        s3_xml_elem(&w, "Key", c->key);
    if (extra_xml)
        s3_xml_raw(&w, extra_xml);
    const char *resource = c->bucket ? arena_printf(req->arena, "/%s%s%s", c->bucket,
                                                    c->key ? "/" : "",
                                                    c->key ? c->key : "")
                                     : "/";
    s3_xml_elem(&w, "Resource", resource ? resource : "/");
    s3_xml_elem(&w, "RequestId", c->request_id);
    s3_xml_raw(&w, "</Error>");
    if (w.rc != HY_OK) {
        buf_free(&w.b);
        http_reply(req, 500, NULL, NULL, 0);
        return;
    }
    http_reply(req, status, "application/xml", w.b.data, w.b.len);
    buf_free(&w.b);
}

static void s3_error(struct s3_ctx *c, int status, const char *code,
                     const char *message)
{
    s3_error_extra(c, status, code, message, NULL);
}

static void s3_no_such_bucket(struct s3_ctx *c)
{
    s3_error(c, 404, "NoSuchBucket", "The specified bucket does not exist");
}

static void s3_no_such_key(struct s3_ctx *c)
{
    s3_error(c, 404, "NoSuchKey", "The specified key does not exist.");
}

static void s3_internal(struct s3_ctx *c, int rc)
{
    log_error(S3_TAG, "%s %s: %s", c->req->method, c->req->path, hy_strerror(rc));
    if (rc == HY_ENOSPC)
        s3_error(c, 507, "InsufficientStorage", "No space left on the server's disk.");
    else
        s3_error(c, 500, "InternalError",
                 "We encountered an internal error. Please try again.");
}

static void s3_not_implemented(struct s3_ctx *c)
{
    s3_error(c, 501, "NotImplemented",
             "A header you provided implies functionality that is not implemented");
}

static void s3_method_not_allowed(struct s3_ctx *c)
{
    const char *extra = arena_printf(
        c->req->arena, "<Method>%s</Method><ResourceType>%s</ResourceType>",
        c->req->method, c->key ? "OBJECT" : c->bucket ? "BUCKET" : "SERVICE");
    s3_error_extra(c, 405, "MethodNotAllowed",
                   "The specified method is not allowed against this resource.",
                   extra);
}

static void s3_malformed_xml(struct s3_ctx *c)
{
    s3_error(c, 400, "MalformedXML",
             "The XML you provided was not well-formed or did not validate "
             "against our published schema");
}

/* NoSuchBucket or NoSuchKey after a lookup said HY_ENOTFOUND. */
static void s3_not_found(struct s3_ctx *c)
{
    int rc = objstore_bucket_exists(hy_store, c->bucket);
    if (rc == HY_ENOTFOUND)
        s3_no_such_bucket(c);
    else if (rc != HY_OK)
        s3_internal(c, rc);
    else
        s3_no_such_key(c);
}

static void s3_reply_xml(struct s3_ctx *c, int status, struct s3_xml *w)
{
    if (w->rc != HY_OK) {
        buf_free(&w->b);
        s3_internal(c, w->rc);
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
static bool s3_bucket_name_ok(const char *n)
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

/* The bucket named by the Host header, or NULL for path-style. */
static const char *s3_vhost_bucket(struct http_req *req)
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
    if (!s3_bucket_name_ok(h))
        return NULL;
    if (objstore_bucket_exists(hy_store, h) == HY_OK)
        return h;
    if (strcmp(req->method, "PUT") == 0 && strcmp(req->path, "/") == 0)
        return h;
    return NULL;
}

/* Percent-decodes in[0..n) into the arena; NULL if malformed or it holds
 * a NUL byte. */
static char *s3_decode(struct http_req *req, const char *in, size_t n)
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
static int s3_xml_parse(struct http_req *req, const char *body, size_t len,
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

/* ---- ListBuckets -------------------------------------------------------- */
static int s3_list_buckets_cb(void *ctx, const char *name, const char *region,
                              int64_t created_ms)
{
    (void)region;
    struct s3_xml *w = ctx;
    s3_xml_raw(w, "<Bucket>");
    s3_xml_elem(w, "Name", name);
    s3_xml_elem_time(w, "CreationDate", created_ms);
    s3_xml_raw(w, "</Bucket>");
    return w->rc != HY_OK;
}

static void s3_list_buckets(struct s3_ctx *c)
{
    struct s3_xml w;
    s3_xml_init(&w);
    s3_xml_raw(&w, "<ListAllMyBucketsResult xmlns=\"" S3_XMLNS "\"><Owner><ID>"
                   S3_OWNER_ID "</ID><DisplayName>" S3_OWNER_NAME
                   "</DisplayName></Owner><Buckets>");
    int rc = objstore_bucket_list(hy_store, s3_list_buckets_cb, &w);
    if (rc) {
        buf_free(&w.b);
        s3_internal(c, rc);
        return;
    }
    s3_xml_raw(&w, "</Buckets></ListAllMyBucketsResult>");
    s3_reply_xml(c, 200, &w);
}

/* ---- bucket operations -------------------------------------------------- */
struct s3_create_cfg {
    const char *location;
    bool root_ok;
    struct arena *arena;
};

static int s3_create_cfg_end(void *ctx, int depth, const char *name,
                             const char *parent, const char *text)
{
    struct s3_create_cfg *cfg = ctx;
    if (depth == 1) {
        cfg->root_ok = strcmp(name, "CreateBucketConfiguration") == 0;
        return !cfg->root_ok;
    }
    if (depth == 2 && strcmp(name, "LocationConstraint") == 0) {
        cfg->location = arena_strdup(cfg->arena, text);
        return cfg->location == NULL;
    }
    return 0;
}

static void s3_create_bucket(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    if (!s3_bucket_name_ok(c->bucket)) {
        s3_error(c, 400, "InvalidBucketName", "The specified bucket is not valid.");
        return;
    }
    struct s3_create_cfg cfg = {.arena = req->arena};
    if (req->body_len > 0) {
        int rc = s3_xml_parse(req, req->body, req->body_len, s3_create_cfg_end, &cfg);
        if (rc == HY_ENOMEM) {
            s3_internal(c, rc);
            return;
        }
        if (rc || !cfg.root_ok) {
            s3_malformed_xml(c);
            return;
        }
    }
    const char *region = cfg.location && *cfg.location ? cfg.location : "us-east-1";
    if (strlen(region) > OBJSTORE_MAX_REGION) {
        s3_error(c, 400, "InvalidLocationConstraint",
                 "The specified location-constraint is not valid");
        return;
    }
    int rc = objstore_bucket_create(hy_store, c->bucket, region);
    if (rc == HY_EEXIST) {
        s3_error(c, 409, "BucketAlreadyOwnedByYou",
                 "Your previous request to create the named bucket succeeded "
                 "and you already own it.");
        return;
    }
    if (rc) {
        s3_internal(c, rc);
        return;
    }
    const char *loc = arena_printf(req->arena, "/%s", c->bucket);
    if (loc)
        http_add_header(req, "Location", loc);
    http_reply(req, 200, NULL, NULL, 0);
}

static void s3_head_bucket(struct s3_ctx *c)
{
    char region[OBJSTORE_MAX_REGION + 1];
    int rc = objstore_bucket_region(hy_store, c->bucket, region);
    if (rc == HY_ENOTFOUND) {
        s3_no_such_bucket(c);
        return;
    }
    if (rc) {
        s3_internal(c, rc);
        return;
    }
    http_add_header(c->req, "x-amz-bucket-region", region);
    http_reply(c->req, 200, NULL, NULL, 0);
}

static void s3_delete_bucket(struct s3_ctx *c)
{
    int rc = objstore_bucket_delete(hy_store, c->bucket);
    if (rc == HY_ENOTFOUND)
        s3_no_such_bucket(c);
    else if (rc == HY_ENOTEMPTY)
        s3_error(c, 409, "BucketNotEmpty", "The bucket you tried to delete is not empty");
    else if (rc)
        s3_internal(c, rc);
    else
        http_reply(c->req, 204, NULL, NULL, 0);
}

static void s3_get_bucket_location(struct s3_ctx *c)
{
    char region[OBJSTORE_MAX_REGION + 1];
    int rc = objstore_bucket_region(hy_store, c->bucket, region);
    if (rc == HY_ENOTFOUND) {
        s3_no_such_bucket(c);
        return;
    }
    if (rc) {
        s3_internal(c, rc);
        return;
    }
    struct s3_xml w;
    s3_xml_init(&w);
    if (strcmp(region, "us-east-1") == 0) {
        /* AWS's legacy answer for us-east-1: an empty constraint */
        s3_xml_raw(&w, "<LocationConstraint xmlns=\"" S3_XMLNS "\"/>");
    } else {
        s3_xml_raw(&w, "<LocationConstraint xmlns=\"" S3_XMLNS "\">");
        s3_xml_text(&w, region);
        s3_xml_raw(&w, "</LocationConstraint>");
    }
    s3_reply_xml(c, 200, &w);
}

/* ---- listing ------------------------------------------------------------ */
struct s3_list {
    const char *prefix;
    size_t plen;
    const char *delim;        /* NULL or "" = none */
    size_t dlen;
    const char *marker;       /* exclusive start, NULL = none */
    bool url;                 /* encoding-type=url */
    bool owner;               /* v1 always, v2 with fetch-owner */
    int max;
    int count;
    bool truncated;
    bool done;                /* stop walking */
    struct s3_xml contents, prefixes;
    struct buf last;          /* last key or CommonPrefix emitted */
    struct buf reseek;        /* next walk starts here (inclusive) */
    bool want_reseek;
    int rc;
};

/* The smallest string greater than every string that starts with s[0..n);
 * false when there is none (all 0xff). */
static bool s3_prefix_successor(struct buf *out, const char *s, size_t n)
{
    while (n > 0 && (unsigned char)s[n - 1] == 0xff)
        n--;
    if (n == 0)
        return false;
    buf_reset(out);
    if (buf_append(out, s, n) != HY_OK)
        return false;
    out->data[n - 1] = (char)((unsigned char)out->data[n - 1] + 1);
    return true;
}

static int s3_list_cb(void *ctx, const struct objstore_obj *obj)
{
    struct s3_list *l = ctx;
    const char *key = obj->key;
    if (l->dlen > 0) {
        const char *rest = key + l->plen;
        const char *d = strstr(rest, l->delim);
        if (d) {
            size_t cplen = (size_t)(d - key) + l->dlen;
            bool seen = false;
            if (l->marker) {
                /* a CommonPrefix at or before the marker was already given */
                size_t mlen = strlen(l->marker);
                int cmp = memcmp(key, l->marker, cplen < mlen ? cplen : mlen);
                seen = cmp < 0 || (cmp == 0 && cplen <= mlen);
            }
            if (!seen) {
                if (l->count >= l->max) {
                    l->truncated = true;
                    l->done = true;
                    return 1;
                }
                char *cp = strndup(key, cplen);
                if (!cp) {
                    l->rc = HY_ENOMEM;
                    l->done = true;
                    return 1;
                }
                s3_xml_raw(&l->prefixes, "<CommonPrefixes>");
                s3_xml_elem_enc(&l->prefixes, "Prefix", cp, l->url);
                s3_xml_raw(&l->prefixes, "</CommonPrefixes>");
                free(cp);
                buf_reset(&l->last);
                if (buf_append(&l->last, key, cplen) != HY_OK)
                    l->rc = HY_ENOMEM;
                l->count++;
            }
            /* skip every other key under this prefix */
            if (s3_prefix_successor(&l->reseek, key, cplen))
                l->want_reseek = true;
            else
                l->done = true;
            return 1;
        }
    }
    if (l->count >= l->max) {
        l->truncated = true;
        l->done = true;
        return 1;
    }
    struct s3_xml *w = &l->contents;
    s3_xml_raw(w, "<Contents>");
    s3_xml_elem_enc(w, "Key", key, l->url);
    s3_xml_elem_time(w, "LastModified", obj->last_modified_ms);
    s3_xml_elem(w, "ETag", obj->etag);
    s3_xml_elem_u64(w, "Size", obj->size);
    if (l->owner)
        s3_xml_raw(w, "<Owner><ID>" S3_OWNER_ID "</ID><DisplayName>" S3_OWNER_NAME
                      "</DisplayName></Owner>");
    s3_xml_raw(w, "<StorageClass>STANDARD</StorageClass></Contents>");
    buf_reset(&l->last);
    if (buf_puts(&l->last, key) != HY_OK)
        l->rc = HY_ENOMEM;
    l->count++;
    if (w->rc != HY_OK) {
        l->rc = w->rc;
        l->done = true;
        return 1;
    }
    return 0;
}

/* Walks the bucket from l->marker, filling l. */
static int s3_list_walk(struct s3_ctx *c, struct s3_list *l)
{
    const char *from = l->marker;
    bool inclusive = false;
    int rc;
    for (;;) {
        l->want_reseek = false;
        rc = objstore_list(hy_store, c->bucket, l->prefix, from, inclusive,
                           s3_list_cb, l);
        if (rc)
            return rc;
        if (l->rc)
            return l->rc;
        if (l->done || !l->want_reseek)
            return HY_OK;
        from = l->reseek.data;
        inclusive = true;
    }
}

static void s3_list_free(struct s3_list *l)
{
    buf_free(&l->contents.b);
    buf_free(&l->prefixes.b);
    buf_free(&l->last);
    buf_free(&l->reseek);
}

static void s3_list_objects(struct s3_ctx *c, bool v2)
{
    struct http_req *req = c->req;
    struct s3_list l = {0};
    const char *enc = http_query_get(req, "encoding-type");
    const char *max_keys = http_query_get(req, "max-keys");
    const char *token = v2 ? http_query_get(req, "continuation-token") : NULL;
    const char *start_after = v2 ? http_query_get(req, "start-after")
                                 : http_query_get(req, "marker");
    const char *fetch_owner = http_query_get(req, "fetch-owner");
    int rc;

    if (enc && *enc && strcmp(enc, "url") != 0) {
        s3_error(c, 400, "InvalidArgument", "Invalid Encoding Method specified in Request");
        return;
    }
    l.url = enc && strcmp(enc, "url") == 0;
    l.max = S3_MAX_LIST_KEYS;
    if (max_keys && *max_keys) {
        char *end;
        errno = 0;
        long v = strtol(max_keys, &end, 10);
        if (errno || *end || v < 0) {
            s3_error(c, 400, "InvalidArgument",
                     "Provided max-keys not an integer or within integer range");
            return;
        }
        l.max = v > S3_MAX_LIST_KEYS ? S3_MAX_LIST_KEYS : (int)v;
    }
    l.prefix = http_query_get(req, "prefix");
    if (!l.prefix)
        l.prefix = "";
    l.plen = strlen(l.prefix);
    l.delim = http_query_get(req, "delimiter");
    l.dlen = l.delim ? strlen(l.delim) : 0;
    l.owner = !v2 || (fetch_owner && strcmp(fetch_owner, "true") == 0);
    l.marker = start_after && *start_after ? start_after : NULL;
    if (token) {
        size_t tlen = strlen(token);
        char *dec = arena_alloc(req->arena, tlen + 1);
        long n = dec ? base64_decode(dec, token, tlen) : -1;
        if (!*token || n <= 0 || memchr(dec, 0, (size_t)n)) {
            s3_error(c, 400, "InvalidArgument",
                     "The continuation token provided is incorrect");
            return;
        }
        dec[n] = 0;
        l.marker = dec;
    }
    s3_xml_init(&l.contents);
    buf_reset(&l.contents.b); /* no XML declaration in the parts */
    s3_xml_init(&l.prefixes);
    buf_reset(&l.prefixes.b);
    buf_init(&l.last, OBJSTORE_MAX_KEY + 1);
    buf_init(&l.reseek, OBJSTORE_MAX_KEY + 1);

    if (l.max > 0) {
        rc = s3_list_walk(c, &l);
    } else {
        rc = objstore_bucket_exists(hy_store, c->bucket);
    }
    if (rc == HY_ENOTFOUND) {
        s3_list_free(&l);
        s3_no_such_bucket(c);
        return;
    }
    if (rc || l.contents.rc || l.prefixes.rc) {
        s3_list_free(&l);
        s3_internal(c, rc ? rc : l.contents.rc ? l.contents.rc : l.prefixes.rc);
        return;
    }

    struct s3_xml w;
    s3_xml_init(&w);
    s3_xml_raw(&w, "<ListBucketResult xmlns=\"" S3_XMLNS "\">");
    s3_xml_elem(&w, "Name", c->bucket);
    s3_xml_elem_enc(&w, "Prefix", l.prefix, l.url);
    if (v2) {
        if (token)
            s3_xml_elem(&w, "ContinuationToken", token);
        if (start_after)
            s3_xml_elem_enc(&w, "StartAfter", start_after, l.url);
        s3_xml_elem_u64(&w, "KeyCount", (uint64_t)l.count);
    } else {
        s3_xml_elem_enc(&w, "Marker", start_after ? start_after : "", l.url);
    }
    s3_xml_elem_u64(&w, "MaxKeys", (uint64_t)l.max);
    if (l.delim)
        s3_xml_elem_enc(&w, "Delimiter", l.delim, l.url);
    if (l.url)
        s3_xml_elem(&w, "EncodingType", "url");
    s3_xml_elem(&w, "IsTruncated", l.truncated ? "true" : "false");
    if (l.truncated && l.last.len > 0) {
        if (v2) {
            char *tok = arena_alloc(req->arena, base64_encoded_len(l.last.len) + 1);
            if (!tok) {
                w.rc = HY_ENOMEM;
            } else {
                base64_encode(tok, l.last.data, l.last.len);
                s3_xml_elem(&w, "NextContinuationToken", tok);
            }
        } else {
            s3_xml_elem_enc(&w, "NextMarker", l.last.data, l.url);
        }
    }
    if (w.rc == HY_OK && l.contents.b.len)
        w.rc = buf_append(&w.b, l.contents.b.data, l.contents.b.len);
    if (w.rc == HY_OK && l.prefixes.b.len)
        w.rc = buf_append(&w.b, l.prefixes.b.data, l.prefixes.b.len);
    s3_xml_raw(&w, "</ListBucketResult>");
    s3_list_free(&l);
    s3_reply_xml(c, 200, &w);
}

/* ---- objects ------------------------------------------------------------ */
/* Decodes an aws-chunked body ("<hex>[;ext]\r\n<data>\r\n ... 0\r\n...")
 * into the arena. HY_EINVAL when it is malformed. */
static int s3_dechunk(struct http_req *req, const char *in, size_t n,
                      const char **out, size_t *out_len)
{
    char *dst = arena_alloc(req->arena, n + 1);
    size_t o = 0, i = 0;
    if (!dst)
        return HY_ENOMEM;
    for (;;) {
        uint64_t size = 0;
        size_t digits = 0;
        while (i < n && isxdigit((unsigned char)in[i])) {
            int ch = tolower((unsigned char)in[i]);
            if (size > (UINT64_MAX >> 4))
                return HY_EINVAL;
            size = size * 16 + (uint64_t)(isdigit(ch) ? ch - '0' : ch - 'a' + 10);
            i++;
            digits++;
        }
        if (digits == 0)
            return HY_EINVAL;
        const char *eol = memmem(in + i, n - i, "\r\n", 2);
        if (!eol)
            return HY_EINVAL;
        i = (size_t)(eol - in) + 2;
        if (size == 0)
            break; /* trailers, if any, follow; nothing we keep */
        if (size > n - i || n - i - size < 2 || memcmp(in + i + size, "\r\n", 2) != 0)
            return HY_EINVAL;
        memcpy(dst + o, in + i, size);
        o += size;
        i += size + 2;
    }
    dst[o] = 0;
    *out = dst;
    *out_len = o;
    return HY_OK;
}

/* Collects x-amz-meta-* headers as "name:value\n" lines. */
static int s3_collect_meta(struct http_req *req, struct buf *meta)
{
    static const char pfx[] = "x-amz-meta-";
    size_t total = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *name = req->headers[i].name;
        if (strncasecmp(name, pfx, sizeof pfx - 1) != 0 || !name[sizeof pfx - 1])
            continue;
        const char *mname = name + sizeof pfx - 1;
        const char *value = req->headers[i].value;
        if (strpbrk(mname, ":\n") || strchr(value, '\n'))
            return HY_EINVAL;
        total += strlen(mname) + strlen(value);
        if (total > OBJSTORE_MAX_META)
            return HY_ETOOBIG;
        for (const char *p = mname; *p; p++) {
            char ch = (char)tolower((unsigned char)*p);
            int rc = buf_append(meta, &ch, 1);
            if (rc)
                return rc;
        }
        int rc = buf_printf(meta, ":%s\n", value);
        if (rc)
            return rc;
    }
    return HY_OK;
}

/* Adds x-amz-meta-* response headers from the stored lines. */
static void s3_emit_meta(struct http_req *req, const char *meta)
{
    while (*meta) {
        const char *nl = strchr(meta, '\n');
        size_t len = nl ? (size_t)(nl - meta) : strlen(meta);
        const char *colon = memchr(meta, ':', len);
        if (colon) {
            char *name = arena_printf(req->arena, "x-amz-meta-%.*s",
                                      (int)(colon - meta), meta);
            char *value = arena_strndup(req->arena, colon + 1,
                                        len - (size_t)(colon - meta) - 1);
            if (name && value)
                http_add_header(req, name, value);
        }
        meta += len + (nl ? 1 : 0);
    }
}

static void s3_bad_meta(struct s3_ctx *c, int rc)
{
    if (rc == HY_ETOOBIG)
        s3_error(c, 400, "MetadataTooLarge",
                 "Your metadata headers exceed the maximum allowed metadata size.");
    else if (rc == HY_EINVAL)
        s3_error(c, 400, "InvalidArgument", "Invalid metadata header.");
    else
        s3_internal(c, rc);
}

static bool s3_key_too_long(struct s3_ctx *c)
{
    if (strlen(c->key) <= OBJSTORE_MAX_KEY)
        return false;
    s3_error(c, 400, "KeyTooLongError", "Your key is too long");
    return true;
}

static void s3_put_object(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    const char *body = req->body;
    size_t body_len = req->body_len;
    char etag[40];
    int rc;

    if (req->body_too_large) {
        const char *extra = arena_printf(req->arena,
                                         "<MaxSizeAllowed>%zu</MaxSizeAllowed>",
                                         hy_cfg.max_body);
        s3_error_extra(c, 400, "EntityTooLarge",
                       "Your proposed upload exceeds the maximum allowed size", extra);
        return;
    }
    if (s3_key_too_long(c))
        return;
    const char *sha = http_header(req, "x-amz-content-sha256");
    const char *cenc = http_header(req, "Content-Encoding");
    if ((sha && strncmp(sha, "STREAMING-", 10) == 0) ||
        (cenc && strstr(cenc, "aws-chunked"))) {
        rc = s3_dechunk(req, req->body, req->body_len, &body, &body_len);
        if (rc == HY_ENOMEM) {
            s3_internal(c, rc);
            return;
        }
        const char *decoded = http_header(req, "x-amz-decoded-content-length");
        if (rc == HY_OK && decoded) {
            char *end;
            errno = 0;
            unsigned long long want = strtoull(decoded, &end, 10);
            if (errno || *end || want != body_len)
                rc = HY_EINVAL;
        }
        if (rc) {
            s3_error(c, 400, "IncompleteBody",
                     "The request body terminated unexpectedly");
            return;
        }
    }
    const char *md5_b64 = http_header(req, "Content-MD5");
    if (md5_b64) {
        unsigned char want[24];
        char want_hex[33], got_hex[33];
        size_t blen = strlen(md5_b64);
        long n = blen <= 24 ? base64_decode(want, md5_b64, blen) : -1;
        if (n != 16) {
            s3_error(c, 400, "InvalidDigest", "The Content-MD5 you specified is not valid.");
            return;
        }
        hex_encode(want_hex, want, 16);
        md5_hex(got_hex, body, body_len);
        if (strcmp(want_hex, got_hex) != 0) {
            s3_error(c, 400, "BadDigest",
                     "The Content-MD5 you specified did not match what we received.");
            return;
        }
    }
    struct buf meta;
    buf_init(&meta, OBJSTORE_MAX_META + 256);
    if ((rc = s3_collect_meta(req, &meta))) {
        buf_free(&meta);
        s3_bad_meta(c, rc);
        return;
    }
    rc = objstore_put_meta(hy_store, c->bucket, c->key, body, body_len,
                           http_header(req, "Content-Type"),
                           meta.data ? meta.data : "", etag, NULL);
    buf_free(&meta);
    if (rc == HY_ENOTFOUND) {
        s3_no_such_bucket(c);
        return;
    }
    if (rc == HY_ETOOBIG) {
        s3_error(c, 400, "InvalidArgument", "Content-Type is too long.");
        return;
    }
    if (rc) {
        s3_internal(c, rc);
        return;
    }
    http_add_header(req, "ETag", etag);
    http_reply(req, 200, NULL, NULL, 0);
}

/* Parses a single "bytes=" range against size. Returns 1 with [*first,
 * *last] set, 0 when there is no usable Range (serve it all, as S3 does for
 * syntax it ignores), -1 when unsatisfiable. */
static int s3_parse_range(const char *h, uint64_t size, uint64_t *first,
                          uint64_t *last)
{
    if (!h || strncmp(h, "bytes=", 6) != 0)
        return 0;
    const char *p = h + 6;
    if (strchr(p, ','))
        return 0; /* multiple ranges: S3 ignores them */
    char *end;
    if (*p == '-') {
        if (!isdigit((unsigned char)p[1]))
            return 0;
        errno = 0;
        unsigned long long n = strtoull(p + 1, &end, 10);
        if (errno || *end)
            return 0;
        if (n == 0 || size == 0)
            return -1;
        *first = n >= size ? 0 : size - n;
        *last = size - 1;
        return 1;
    }
    if (!isdigit((unsigned char)*p))
        return 0;
    errno = 0;
    unsigned long long a = strtoull(p, &end, 10);
    if (errno || *end != '-')
        return 0;
    p = end + 1;
    unsigned long long b = UINT64_MAX;
    if (*p) {
        if (!isdigit((unsigned char)*p))
            return 0;
        errno = 0;
        b = strtoull(p, &end, 10);
        if (errno || *end)
            return 0;
        if (b < a)
            return 0;
    }
    if (a >= size)
        return -1;
    *first = a;
    *last = b >= size ? size - 1 : b;
    return 1;
}

static bool s3_etag_matches(const char *list, const char *etag)
{
    /* a comma-separated list of quoted (or bare) ETags, or "*" */
    const char *bare = etag[0] == '"' ? etag + 1 : etag;
    size_t blen = strlen(bare);
    if (blen && bare[blen - 1] == '"')
        blen--;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, ",");
        const char *t = p;
        size_t tl = n;
        while (tl && t[tl - 1] == ' ')
            tl--;
        if (tl >= 2 && t[0] == 'W' && t[1] == '/') {
            t += 2;
            tl -= 2;
        }
        if (tl == 1 && *t == '*')
            return true;
        if (tl >= 2 && t[0] == '"' && t[tl - 1] == '"') {
            t++;
            tl -= 2;
        }
        if (tl == blen && memcmp(t, bare, blen) == 0)
            return true;
        p += n;
    }
    return false;
}

static int64_t s3_parse_http_date(const char *s)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end)
        return -1;
    return (int64_t)timegm(&tm) * 1000;
}

/* GetObject and HeadObject. */
static void s3_get_object(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    struct objstore_obj *info = arena_alloc(req->arena, sizeof *info);
    int fd = -1;
    char date[40];
    if (!info) {
        s3_internal(c, HY_ENOMEM);
        return;
    }
    int rc = objstore_get(hy_store, c->bucket, c->key, &fd, info);
    if (rc == HY_ENOTFOUND) {
        s3_not_found(c);
        return;
    }
    if (rc) {
        s3_internal(c, rc);
        return;
    }
    /* the catalog's size is the truth; a short file is corruption */
    struct stat stb;
    if (fstat(fd, &stb) != 0 || (uint64_t)stb.st_size < info->size) {
        close(fd);
        s3_internal(c, HY_EIO);
        return;
    }
    fmt_http_date(date, info->last_modified_ms);
    int64_t lm_s = info->last_modified_ms / 1000;

    /* conditionals, RFC 7232 order */
    const char *if_match = http_header(req, "If-Match");
    const char *if_none = http_header(req, "If-None-Match");
    const char *if_unmod = http_header(req, "If-Unmodified-Since");
    const char *if_mod = http_header(req, "If-Modified-Since");
    int64_t t;
    bool fail412 = false, not_mod = false;
    if (if_match)
        fail412 = !s3_etag_matches(if_match, info->etag);
    else if (if_unmod && (t = s3_parse_http_date(if_unmod)) >= 0)
        fail412 = lm_s > t / 1000;
    if (!fail412) {
        if (if_none)
            not_mod = s3_etag_matches(if_none, info->etag);
        else if (if_mod && (t = s3_parse_http_date(if_mod)) >= 0)
            not_mod = lm_s <= t / 1000;
    }
    if (fail412) {
        close(fd);
        s3_error(c, 412, "PreconditionFailed",
                 "At least one of the pre-conditions you specified did not hold");
        return;
    }
    http_add_header(req, "ETag", info->etag);
    http_add_header(req, "Last-Modified", date);
    if (not_mod) {
        close(fd);
        http_reply(req, 304, NULL, NULL, 0);
        return;
    }

    uint64_t first = 0, last = 0;
    int range = s3_parse_range(http_header(req, "Range"), info->size, &first, &last);
    if (range < 0) {
        close(fd);
        const char *extra = NULL;
        /* the requested range is client text: escape it */
        struct buf rb;
        buf_init(&rb, 4096);
        if (buf_puts(&rb, "<RangeRequested>") == HY_OK &&
            buf_xml_escape(&rb, http_header(req, "Range")) == HY_OK &&
            buf_printf(&rb, "</RangeRequested><ActualObjectSize>%llu</ActualObjectSize>",
                       (unsigned long long)info->size) == HY_OK)
            extra = arena_strdup(req->arena, rb.data);
        buf_free(&rb);
        const char *cr = arena_printf(req->arena, "bytes */%llu",
                                      (unsigned long long)info->size);
        if (cr)
            http_add_header(req, "Content-Range", cr);
        s3_error_extra(c, 416, "InvalidRange", "The requested range is not satisfiable",
                       extra);
        return;
    }
    http_add_header(req, "Accept-Ranges", "bytes");
    s3_emit_meta(req, info->meta);

    /* response-* query overrides (GetObject) */
    static const char *const overrides[][2] = {
        {"response-cache-control", "Cache-Control"},
        {"response-content-disposition", "Content-Disposition"},
        {"response-content-encoding", "Content-Encoding"},
        {"response-content-language", "Content-Language"},
        {"response-expires", "Expires"},
    };
    for (size_t i = 0; i < sizeof overrides / sizeof overrides[0]; i++) {
        const char *v = http_query_get(req, overrides[i][0]);
        if (v && !strpbrk(v, "\r\n"))
            http_add_header(req, overrides[i][1], v);
    }
    const char *ctype = http_query_get(req, "response-content-type");
    if (!ctype || strpbrk(ctype, "\r\n"))
        ctype = info->content_type;

    if (range > 0) {
        const char *cr = arena_printf(req->arena, "bytes %llu-%llu/%llu",
                                      (unsigned long long)first,
                                      (unsigned long long)last,
                                      (unsigned long long)info->size);
        if (cr)
            http_add_header(req, "Content-Range", cr);
        http_reply_fd(req, 206, ctype, fd, first, last - first + 1);
        return;
    }
    http_reply_fd(req, 200, ctype, fd, 0, info->size);
}

static void s3_delete_object(struct s3_ctx *c)
{
    int rc = objstore_delete(hy_store, c->bucket, c->key);
    if (rc == HY_ENOTFOUND) {
        /* S3 answers 204 for a missing key, but not for a missing bucket */
        rc = objstore_bucket_exists(hy_store, c->bucket);
        if (rc == HY_ENOTFOUND) {
            s3_no_such_bucket(c);
            return;
        }
    }
    if (rc) {
        s3_internal(c, rc);
        return;
    }
    http_reply(c->req, 204, NULL, NULL, 0);
}

/* ---- DeleteObjects ------------------------------------------------------ */
struct s3_delete_req {
    const char *keys[S3_MAX_DELETE_KEYS];
    int nkeys;
    const char *cur_key;
    bool quiet;
    bool root_ok;
    bool too_many;
    struct arena *arena;
};

static int s3_delete_req_end(void *ctx, int depth, const char *name,
                             const char *parent, const char *text)
{
    struct s3_delete_req *d = ctx;
    if (depth == 1) {
        d->root_ok = strcmp(name, "Delete") == 0;
        return !d->root_ok;
    }
    if (depth == 2 && strcmp(name, "Quiet") == 0) {
        d->quiet = strcmp(text, "true") == 0;
    } else if (depth == 3 && strcmp(name, "Key") == 0 && strcmp(parent, "Object") == 0) {
        d->cur_key = arena_strdup(d->arena, text);
        if (!d->cur_key)
            return 1;
    } else if (depth == 2 && strcmp(name, "Object") == 0) {
        if (!d->cur_key)
            return 1; /* an Object without a Key */
        if (d->nkeys >= S3_MAX_DELETE_KEYS) {
            d->too_many = true;
            return 1;
        }
        d->keys[d->nkeys++] = d->cur_key;
        d->cur_key = NULL;
    }
    return 0;
}

static void s3_delete_objects(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    struct s3_delete_req *d = arena_alloc(req->arena, sizeof *d);
    if (!d) {
        s3_internal(c, HY_ENOMEM);
        return;
    }
    d->arena = req->arena;
    int rc = s3_xml_parse(req, req->body, req->body_len, s3_delete_req_end, d);
    if (rc == HY_ENOMEM) {
        s3_internal(c, rc);
        return;
    }
    if (rc || !d->root_ok || d->nkeys == 0) {
        s3_malformed_xml(c);
        return;
    }
    if ((rc = objstore_bucket_exists(hy_store, c->bucket))) {
        if (rc == HY_ENOTFOUND)
            s3_no_such_bucket(c);
        else
            s3_internal(c, rc);
        return;
    }
    struct s3_xml w;
    s3_xml_init(&w);
    s3_xml_raw(&w, "<DeleteResult xmlns=\"" S3_XMLNS "\">");
    for (int i = 0; i < d->nkeys; i++) {
        const char *key = d->keys[i];
        rc = strlen(key) > OBJSTORE_MAX_KEY || !*key
                 ? HY_ENOTFOUND
                 : objstore_delete(hy_store, c->bucket, key);
        if (rc == HY_OK || rc == HY_ENOTFOUND) {
            if (!d->quiet) {
                s3_xml_raw(&w, "<Deleted>");
                s3_xml_elem(&w, "Key", key);
                s3_xml_raw(&w, "</Deleted>");
            }
        } else {
            log_error(S3_TAG, "delete %s/%s: %s", c->bucket, key, hy_strerror(rc));
            s3_xml_raw(&w, "<Error>");
            s3_xml_elem(&w, "Key", key);
            s3_xml_elem(&w, "Code", "InternalError");
            s3_xml_elem(&w, "Message", "We encountered an internal error. Please try again.");
            s3_xml_raw(&w, "</Error>");
        }
    }
    s3_xml_raw(&w, "</DeleteResult>");
    s3_reply_xml(c, 200, &w);
}

/* ---- CopyObject --------------------------------------------------------- */
static int s3_read_fd(int fd, uint64_t len, char **out)
{
    char *p = malloc(len ? len : 1);
    if (!p)
        return HY_ENOMEM;
    uint64_t off = 0;
    while (off < len) {
        ssize_t r = pread(fd, p + off, len - off, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(p);
            return HY_EIO;
        }
        off += (uint64_t)r;
    }
    *out = p;
    return HY_OK;
}

static void s3_copy_object(struct s3_ctx *c, const char *source)
{
    struct http_req *req = c->req;
    if (s3_key_too_long(c))
        return;
    /* "[/]bucket/key[?versionId=...]", percent-encoded */
    size_t n = strcspn(source, "?");
    char *src = s3_decode(req, source, n);
    if (!src) {
        s3_error(c, 400, "InvalidArgument", "Invalid copy source encoding");
        return;
    }
    if (*src == '/')
        src++;
    char *slash = strchr(src, '/');
    if (!slash || slash == src || !slash[1]) {
        s3_error(c, 400, "InvalidArgument",
                 "Copy Source must mention the source bucket and key: "
                 "sourcebucket/sourcekey");
        return;
    }
    *slash = 0;
    const char *src_bucket = src, *src_key = slash + 1;
    const char *directive = http_header(req, "x-amz-metadata-directive");
    bool replace = directive && strcasecmp(directive, "REPLACE") == 0;
    if (directive && !replace && strcasecmp(directive, "COPY") != 0) {
        s3_error(c, 400, "InvalidArgument", "Unknown metadata directive.");
        return;
    }
    if (!replace && strcmp(src_bucket, c->bucket) == 0 && strcmp(src_key, c->key) == 0) {
        s3_error(c, 400, "InvalidRequest",
                 "This copy request is illegal because it is trying to copy an "
                 "object to itself without changing the object's metadata, storage "
                 "class, website redirect location or encryption attributes.");
        return;
    }

    struct objstore_obj *info = arena_alloc(req->arena, sizeof *info);
    int fd = -1;
    char *data = NULL;
    char etag[40];
    int64_t lm = 0;
    if (!info) {
        s3_internal(c, HY_ENOMEM);
        return;
    }
    int rc = objstore_get(hy_store, src_bucket, src_key, &fd, info);
    if (rc == HY_ENOTFOUND) {
        struct s3_ctx sc = {.req = req, .bucket = src_bucket, .key = src_key};
        memcpy(sc.request_id, c->request_id, sizeof sc.request_id);
        s3_not_found(&sc);
        return;
    }
    if (rc) {
        s3_internal(c, rc);
        return;
    }
    if (info->size > hy_cfg.max_body) {
        close(fd);
        s3_error(c, 400, "EntityTooLarge",
                 "Your proposed upload exceeds the maximum allowed size");
        return;
    }
    rc = s3_read_fd(fd, info->size, &data);
    close(fd);
    if (rc) {
        s3_internal(c, rc);
        return;
    }
    const char *ctype = info->content_type;
    const char *meta = info->meta;
    struct buf mb;
    buf_init(&mb, OBJSTORE_MAX_META + 256);
    if (replace) {
        ctype = http_header(req, "Content-Type");
        if ((rc = s3_collect_meta(req, &mb))) {
            buf_free(&mb);
            free(data);
            s3_bad_meta(c, rc);
            return;
        }
        meta = mb.data ? mb.data : "";
    }
    rc = objstore_put_meta(hy_store, c->bucket, c->key, data, info->size, ctype, meta,
                           etag, &lm);
    buf_free(&mb);
    free(data);
    if (rc == HY_ENOTFOUND) {
        s3_no_such_bucket(c);
        return;
    }
    if (rc) {
        s3_internal(c, rc);
        return;
    }
    struct s3_xml w;
    s3_xml_init(&w);
    s3_xml_raw(&w, "<CopyObjectResult xmlns=\"" S3_XMLNS "\">");
    s3_xml_elem_time(&w, "LastModified", lm);
    s3_xml_elem(&w, "ETag", etag);
    s3_xml_raw(&w, "</CopyObjectResult>");
    s3_reply_xml(c, 200, &w);
}

/* ---- dispatch ----------------------------------------------------------- */
/* Subresources we do not serve yet: NotImplemented rather than a wrong
 * answer from the plain operation. */
static const char *s3_unsupported_subresource(const struct http_req *req)
{
    static const char *const names[] = {
        "acl", "accelerate", "analytics", "attributes", "cors", "encryption",
        "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "logging",
        "metrics", "notification", "object-lock", "ownershipControls", "partNumber",
        "policy", "policyStatus", "publicAccessBlock", "replication",
        "requestPayment", "restore", "retention", "select", "tagging", "torrent",
        "uploadId", "uploads", "versionId", "versioning", "versions", "website",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (http_query_has(req, names[i]))
            return names[i];
    return NULL;
}

static void s3_request_id(struct s3_ctx *c)
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

/* Splits the request into bucket and key; false after replying. */
static bool s3_parse_target(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    const char *path = req->path;
    if (*path != '/') {
        s3_error(c, 400, "InvalidURI", "Couldn't parse the specified URI.");
        return false;
    }
    const char *vb = s3_vhost_bucket(req);
    const char *rest;
    if (vb) {
        c->bucket = vb;
        rest = path + 1;
    } else {
        const char *seg = path + 1;
        size_t n = strcspn(seg, "/");
        if (n > 0) {
            c->bucket = s3_decode(req, seg, n);
            if (!c->bucket) {
                s3_error(c, 400, "InvalidURI", "Couldn't parse the specified URI.");
                return false;
            }
        }
        rest = seg[n] == '/' ? seg + n + 1 : seg + n;
    }
    if (c->bucket && *rest) {
        c->key = s3_decode(req, rest, strlen(rest));
        if (!c->key) {
            s3_error(c, 400, "InvalidURI", "Couldn't parse the specified URI.");
            return false;
        }
    }
    return true;
}

static void s3_bucket_op(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    const char *m = req->method;
    if (strcmp(m, "GET") == 0 && http_query_has(req, "location")) {
        s3_get_bucket_location(c);
        return;
    }
    if (strcmp(m, "POST") == 0 && http_query_has(req, "delete")) {
        s3_delete_objects(c);
        return;
    }
    if (s3_unsupported_subresource(req)) {
        s3_not_implemented(c);
        return;
    }
    if (strcmp(m, "PUT") == 0)
        s3_create_bucket(c);
    else if (strcmp(m, "HEAD") == 0)
        s3_head_bucket(c);
    else if (strcmp(m, "DELETE") == 0)
        s3_delete_bucket(c);
    else if (strcmp(m, "GET") == 0) {
        const char *lt = http_query_get(req, "list-type");
        if (lt && strcmp(lt, "2") == 0)
            s3_list_objects(c, true);
        else if (lt && *lt)
            s3_error(c, 400, "InvalidArgument", "Invalid list-type.");
        else
            s3_list_objects(c, false);
    } else if (strcmp(m, "POST") == 0)
        s3_not_implemented(c);
    else
        s3_method_not_allowed(c);
}

static void s3_object_op(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    const char *m = req->method;
    if (s3_unsupported_subresource(req)) {
        s3_not_implemented(c);
        return;
    }
    if (strcmp(m, "PUT") == 0) {
        const char *src = http_header(req, "x-amz-copy-source");
        if (src)
            s3_copy_object(c, src);
        else
            s3_put_object(c);
    } else if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
        s3_get_object(c);
    else if (strcmp(m, "DELETE") == 0)
        s3_delete_object(c);
    else if (strcmp(m, "POST") == 0)
        s3_not_implemented(c);
    else
        s3_method_not_allowed(c);
}

void s3_handle(struct http_req *req)
{
    struct s3_ctx c = {.req = req, .head = strcmp(req->method, "HEAD") == 0};
    s3_request_id(&c);
    if (!hy_store) {
        s3_internal(&c, HY_ESTATE);
        return;
    }
    if (!s3_parse_target(&c))
        return;
    if (!c.bucket) {
        if (strcmp(req->method, "GET") == 0)
            s3_list_buckets(&c);
        else
            s3_method_not_allowed(&c);
        return;
    }
    if (!c.key)
        s3_bucket_op(&c);
    else
        s3_object_op(&c);
}
