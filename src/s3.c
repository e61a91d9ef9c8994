/* s3.c -- the S3 REST API's operations over the embedded store
 * (objstore.c). The wire layer -- bucket and key from the target, bodies,
 * XML in and out, the error document -- is s3_wire.c (s3_wire.h).
 *
 * Once s3_wire.c has split the target into bucket and key, method +
 * subresource pick the operation:
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
 * Bodies arrive as payloads (aws-chunked ones decoded and their chunk
 * signatures checked by the router, sigv4_dechunk_request); s3.c never
 * parses chunk framing.
 *
 * Errors: handlers answer through s3_wire.c's s3__error*, the one place
 * that writes the S3 XML error document. Every answer carries
 * x-amz-request-id.
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
#include "s3_cors.h"
#include "s3_wire.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- ListBuckets -------------------------------------------------------- */
static int s3_list_buckets_cb(void *ctx, const char *name, const char *region,
                              int64_t created_ms)
{
    (void)region;
    struct s3_xml *w = ctx;
    s3__xml_raw(w, "<Bucket>");
    s3__xml_elem(w, "Name", name);
    s3__xml_elem_time(w, "CreationDate", created_ms);
    s3__xml_raw(w, "</Bucket>");
    return w->rc != HY_OK;
}

static void s3_list_buckets(struct s3_ctx *c)
{
    struct s3_xml w;
    s3__xml_init(&w);
    s3__xml_raw(&w, "<ListAllMyBucketsResult xmlns=\"" S3_XMLNS "\"><Owner><ID>"
                   S3_OWNER_ID "</ID><DisplayName>" S3_OWNER_NAME
                   "</DisplayName></Owner><Buckets>");
    int rc = objstore_bucket_list(hy_store, s3_list_buckets_cb, &w);
    if (rc) {
        buf_free(&w.b);
        s3__internal(c, rc);
        return;
    }
    s3__xml_raw(&w, "</Buckets></ListAllMyBucketsResult>");
    s3__reply_xml(c, 200, &w);
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
    if (!s3__bucket_name_ok(c->bucket)) {
        s3__error(c, 400, "InvalidBucketName", "The specified bucket is not valid.");
        return;
    }
    struct s3_create_cfg cfg = {.arena = req->arena};
    if (!s3__xml_body_ok(c))
        return;
    if (req->body_len > 0) {
        int rc = s3__xml_parse(req, req->body, req->body_len, s3_create_cfg_end, &cfg);
        if (rc == HY_ENOMEM) {
            s3__internal(c, rc);
            return;
        }
        if (rc || !cfg.root_ok) {
            s3__malformed_xml(c);
            return;
        }
    }
    const char *region = cfg.location && *cfg.location ? cfg.location : "us-east-1";
    if (strlen(region) > OBJSTORE_MAX_REGION) {
        s3__error(c, 400, "InvalidLocationConstraint",
                 "The specified location-constraint is not valid");
        return;
    }
    int rc = objstore_bucket_create(hy_store, c->bucket, region);
    if (rc == HY_EEXIST) {
        /* AWS's legacy us-east-1 behaviour: creating a bucket you already
         * own there, through a us-east-1 endpoint (the credential scope),
         * answers 200; every other region answers 409 */
        char have[OBJSTORE_MAX_REGION + 1];
        if (strcmp(router_region(req), "us-east-1") == 0 && strcmp(region, "us-east-1") == 0 &&
            objstore_bucket_region(hy_store, c->bucket, have) == HY_OK &&
            strcmp(have, "us-east-1") == 0)
            goto out_created;
        s3__error(c, 409, "BucketAlreadyOwnedByYou",
                 "Your previous request to create the named bucket succeeded "
                 "and you already own it.");
        return;
    }
    if (rc) {
        s3__internal(c, rc);
        return;
    }
out_created:;
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
        s3__no_such_bucket(c);
        return;
    }
    if (rc) {
        s3__internal(c, rc);
        return;
    }
    http_add_header(c->req, "x-amz-bucket-region", region);
    http_reply(c->req, 200, NULL, NULL, 0);
}

static void s3_delete_bucket(struct s3_ctx *c)
{
    int rc = objstore_bucket_delete(hy_store, c->bucket);
    if (rc == HY_ENOTFOUND)
        s3__no_such_bucket(c);
    else if (rc == HY_ENOTEMPTY)
        s3__error(c, 409, "BucketNotEmpty", "The bucket you tried to delete is not empty");
    else if (rc)
        s3__internal(c, rc);
    else
        http_reply(c->req, 204, NULL, NULL, 0);
}

static void s3_get_bucket_location(struct s3_ctx *c)
{
    char region[OBJSTORE_MAX_REGION + 1];
    int rc = objstore_bucket_region(hy_store, c->bucket, region);
    if (rc == HY_ENOTFOUND) {
        s3__no_such_bucket(c);
        return;
    }
    if (rc) {
        s3__internal(c, rc);
        return;
    }
    struct s3_xml w;
    s3__xml_init(&w);
    if (strcmp(region, "us-east-1") == 0) {
        /* AWS's legacy answer for us-east-1: an empty constraint */
        s3__xml_raw(&w, "<LocationConstraint xmlns=\"" S3_XMLNS "\"/>");
    } else {
        s3__xml_raw(&w, "<LocationConstraint xmlns=\"" S3_XMLNS "\">");
        s3__xml_text(&w, region);
        s3__xml_raw(&w, "</LocationConstraint>");
    }
    s3__reply_xml(c, 200, &w);
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
    bool versions;            /* ListObjectVersions: <Version> entries */
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
                s3__xml_raw(&l->prefixes, "<CommonPrefixes>");
                s3__xml_elem_enc(&l->prefixes, "Prefix", cp, l->url);
                s3__xml_raw(&l->prefixes, "</CommonPrefixes>");
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
    s3__xml_raw(w, l->versions ? "<Version>" : "<Contents>");
    s3__xml_elem_enc(w, "Key", key, l->url);
    if (l->versions)
        s3__xml_raw(w, "<VersionId>null</VersionId><IsLatest>true</IsLatest>");
    s3__xml_elem_time(w, "LastModified", obj->last_modified_ms);
    s3__xml_elem(w, "ETag", obj->etag);
    s3__xml_elem_u64(w, "Size", obj->size);
    if (l->owner)
        s3__xml_raw(w, "<Owner><ID>" S3_OWNER_ID "</ID><DisplayName>" S3_OWNER_NAME
                      "</DisplayName></Owner>");
    s3__xml_raw(w, l->versions ? "<StorageClass>STANDARD</StorageClass></Version>"
                              : "<StorageClass>STANDARD</StorageClass></Contents>");
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

enum s3_list_mode { S3_LIST_V1, S3_LIST_V2, S3_LIST_VERSIONS };

/* ListObjects (v1), ListObjectsV2, and ListObjectVersions, which on our
 * unversioned buckets lists each object once as version "null". */
static void s3_list_objects(struct s3_ctx *c, enum s3_list_mode mode)
{
    struct http_req *req = c->req;
    struct s3_list l = {0};
    bool v2 = mode == S3_LIST_V2;
    const char *enc = http_query_get(req, "encoding-type");
    const char *max_keys = http_query_get(req, "max-keys");
    const char *token = v2 ? http_query_get(req, "continuation-token") : NULL;
    const char *start_after = v2 ? http_query_get(req, "start-after")
                            : mode == S3_LIST_VERSIONS ? http_query_get(req, "key-marker")
                                                       : http_query_get(req, "marker");
    l.versions = mode == S3_LIST_VERSIONS;
    const char *fetch_owner = http_query_get(req, "fetch-owner");
    int rc;

    if (enc && *enc && strcmp(enc, "url") != 0) {
        s3__error(c, 400, "InvalidArgument", "Invalid Encoding Method specified in Request");
        return;
    }
    l.url = enc && strcmp(enc, "url") == 0;
    l.max = S3_MAX_LIST_KEYS;
    if (max_keys && *max_keys) {
        char *end;
        errno = 0;
        long v = strtol(max_keys, &end, 10);
        if (errno || *end || v < 0) {
            s3__error(c, 400, "InvalidArgument",
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
            s3__error(c, 400, "InvalidArgument",
                     "The continuation token provided is incorrect");
            return;
        }
        dec[n] = 0;
        l.marker = dec;
    }
    s3__xml_init(&l.contents);
    buf_reset(&l.contents.b); /* no XML declaration in the parts */
    s3__xml_init(&l.prefixes);
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
        s3__no_such_bucket(c);
        return;
    }
    if (rc || l.contents.rc || l.prefixes.rc) {
        s3_list_free(&l);
        s3__internal(c, rc ? rc : l.contents.rc ? l.contents.rc : l.prefixes.rc);
        return;
    }

    struct s3_xml w;
    s3__xml_init(&w);
    s3__xml_raw(&w, l.versions ? "<ListVersionsResult xmlns=\"" S3_XMLNS "\">"
                              : "<ListBucketResult xmlns=\"" S3_XMLNS "\">");
    s3__xml_elem(&w, "Name", c->bucket);
    s3__xml_elem_enc(&w, "Prefix", l.prefix, l.url);
    if (l.versions) {
        s3__xml_elem_enc(&w, "KeyMarker", start_after ? start_after : "", l.url);
        s3__xml_elem(&w, "VersionIdMarker", "");
    } else if (v2) {
        if (token)
            s3__xml_elem(&w, "ContinuationToken", token);
        if (start_after)
            s3__xml_elem_enc(&w, "StartAfter", start_after, l.url);
        s3__xml_elem_u64(&w, "KeyCount", (uint64_t)l.count);
    } else {
        s3__xml_elem_enc(&w, "Marker", start_after ? start_after : "", l.url);
    }
    s3__xml_elem_u64(&w, "MaxKeys", (uint64_t)l.max);
    if (l.delim)
        s3__xml_elem_enc(&w, "Delimiter", l.delim, l.url);
    if (l.url)
        s3__xml_elem(&w, "EncodingType", "url");
    s3__xml_elem(&w, "IsTruncated", l.truncated ? "true" : "false");
    if (l.truncated && l.last.len > 0) {
        if (l.versions) {
            s3__xml_elem_enc(&w, "NextKeyMarker", l.last.data, l.url);
            s3__xml_elem(&w, "NextVersionIdMarker", "null");
        } else if (v2) {
            char *tok = arena_alloc(req->arena, base64_encoded_len(l.last.len) + 1);
            if (!tok) {
                w.rc = HY_ENOMEM;
            } else {
                base64_encode(tok, l.last.data, l.last.len);
                s3__xml_elem(&w, "NextContinuationToken", tok);
            }
        } else {
            s3__xml_elem_enc(&w, "NextMarker", l.last.data, l.url);
        }
    }
    if (w.rc == HY_OK && l.contents.b.len)
        w.rc = buf_append(&w.b, l.contents.b.data, l.contents.b.len);
    if (w.rc == HY_OK && l.prefixes.b.len)
        w.rc = buf_append(&w.b, l.prefixes.b.data, l.prefixes.b.len);
    s3__xml_raw(&w, l.versions ? "</ListVersionsResult>" : "</ListBucketResult>");
    s3_list_free(&l);
    s3__reply_xml(c, 200, &w);
}

/* ---- objects ------------------------------------------------------------ */
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
        s3__error(c, 400, "MetadataTooLarge",
                 "Your metadata headers exceed the maximum allowed metadata size.");
    else if (rc == HY_EINVAL)
        s3__error(c, 400, "InvalidArgument", "Invalid metadata header.");
    else
        s3__internal(c, rc);
}

static bool s3_key_too_long(struct s3_ctx *c)
{
    if (strlen(c->key) <= OBJSTORE_MAX_KEY)
        return false;
    s3__error(c, 400, "KeyTooLongError", "Your key is too long");
    return true;
}

/* ---- tags: x-amz-tagging form <-> pairs --------------------------------- */
struct s3_tags {
    const char *keys[S3_MAX_TAGS_PARSE];
    const char *values[S3_MAX_TAGS_PARSE];
    int n;
    bool overflow;
    const char *cur_key, *cur_value;
    bool root_ok;
    struct arena *arena;
};

/* AWS's rules: at most 10 tags, keys 1-128 and values 0-256 characters,
 * keys unique. Replies and returns false when broken. */
static bool s3_tags_valid(struct s3_ctx *c, const struct s3_tags *t)
{
    if (t->overflow || t->n > OBJSTORE_MAX_TAG_COUNT) {
        s3__error(c, 400, "BadRequest", "Object tags cannot be greater than 10");
        return false;
    }
    for (int i = 0; i < t->n; i++) {
        size_t kl = strlen(t->keys[i]), vl = strlen(t->values[i]);
        if (kl == 0 || kl > 128 * 4 || vl > 256 * 4) {
            s3__error(c, 400, "InvalidTag", "The TagKey you have provided is invalid");
            return false;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(t->keys[i], t->keys[j]) == 0) {
                s3__error(c, 400, "InvalidTag", "Cannot provide multiple Tags with the same key");
                return false;
            }
        }
    }
    return true;
}

/* Parses "k=v&k2=v2" (percent-encoded) into t. HY_EINVAL when malformed. */
static int s3_tags_parse_form(struct arena *a, const char *form, struct s3_tags *t)
{
    const char *p = form;
    t->n = 0;
    while (*p) {
        size_t seg = strcspn(p, "&");
        const char *eq = memchr(p, '=', seg);
        size_t kl = eq ? (size_t)(eq - p) : seg;
        size_t vl = eq ? seg - kl - 1 : 0;
        if (seg > 0) {
            if (t->n >= S3_MAX_TAGS_PARSE) {
                t->overflow = true;
                return HY_OK;
            }
            char *k = arena_alloc(a, kl + 1), *v = arena_alloc(a, vl + 1);
            if (!k || !v)
                return HY_ENOMEM;
            long kd = url_decode(k, p, kl, true);
            long vd = eq ? url_decode(v, eq + 1, vl, true) : 0;
            if (kd < 0 || vd < 0)
                return HY_EINVAL;
            k[kd] = 0;
            v[vd] = 0;
            t->keys[t->n] = k;
            t->values[t->n] = v;
            t->n++;
        }
        p += seg;
        if (*p == '&')
            p++;
    }
    return HY_OK;
}

static int s3_tags_form(const struct s3_tags *t, struct buf *out)
{
    int rc = HY_OK;
    for (int i = 0; i < t->n && rc == HY_OK; i++) {
        if (i > 0)
            rc = buf_puts(out, "&");
        if (rc == HY_OK)
            rc = url_encode(out, t->keys[i], strlen(t->keys[i]), false);
        if (rc == HY_OK)
            rc = buf_puts(out, "=");
        if (rc == HY_OK)
            rc = url_encode(out, t->values[i], strlen(t->values[i]), false);
    }
    if (rc == HY_OK && !out->data)
        rc = buf_puts(out, "");
    return rc;
}

/* The x-amz-tagging header, validated and re-encoded into out; *has set
 * when the header is there. False after replying. */
static bool s3_header_tags(struct s3_ctx *c, struct buf *out, bool *has)
{
    struct http_req *req = c->req;
    const char *h = http_header(req, "x-amz-tagging");
    *has = h != NULL;
    if (!h)
        return true;
    struct s3_tags *t = arena_alloc(req->arena, sizeof *t);
    int rc = t ? s3_tags_parse_form(req->arena, h, t) : HY_ENOMEM;
    if (rc == HY_EINVAL) {
        s3__error(c, 400, "InvalidArgument", "The header 'x-amz-tagging' shall be encoded "
                 "as UTF-8 then URLEncoded URL query parameters without tag name duplicates.");
        return false;
    }
    if (rc) {
        s3__internal(c, rc);
        return false;
    }
    if (!s3_tags_valid(c, t))
        return false;
    if ((rc = s3_tags_form(t, out))) {
        s3__internal(c, rc);
        return false;
    }
    return true;
}

/* ---- attributes: metadata, stored headers, tags ------------------------- */
/* The standard headers stored with an object and sent back on GET/HEAD. */
static const char *const s3_stored_headers[] = {
    "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
    "Expires",
};

/* Content-Encoding without the aws-chunked token (it describes the
 * transfer, not the object). NULL when nothing is left. */
static const char *s3_content_encoding(struct http_req *req, const char *v)
{
    struct buf b;
    buf_init(&b, 4096);
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t tl = n;
        while (tl && p[tl - 1] == ' ')
            tl--;
        if (tl && !(tl == 11 && strncasecmp(p, "aws-chunked", 11) == 0)) {
            if ((b.len && buf_puts(&b, ",") != HY_OK) || buf_append(&b, p, tl) != HY_OK)
                break;
        }
        p += n;
    }
    const char *out = b.len ? arena_strdup(req->arena, b.data) : NULL;
    buf_free(&b);
    return out;
}

static int s3_collect_headers(struct http_req *req, struct buf *out)
{
    for (size_t i = 0; i < sizeof s3_stored_headers / sizeof s3_stored_headers[0]; i++) {
        const char *v = http_header(req, s3_stored_headers[i]);
        if (v && strcmp(s3_stored_headers[i], "Content-Encoding") == 0)
            v = s3_content_encoding(req, v);
        if (!v)
            continue;
        if (strchr(v, '\n'))
            return HY_EINVAL;
        int rc = buf_printf(out, "%s:%s\n", s3_stored_headers[i], v);
        if (rc)
            return rc;
    }
    if (!out->data)
        return buf_puts(out, "");
    return HY_OK;
}

/* Sends stored headers back, except those a response-* override set. */
static void s3_emit_headers(struct http_req *req, const char *lines)
{
    while (*lines) {
        const char *nl = strchr(lines, '\n');
        size_t len = nl ? (size_t)(nl - lines) : strlen(lines);
        const char *colon = memchr(lines, ':', len);
        if (colon) {
            char *name = arena_strndup(req->arena, lines, (size_t)(colon - lines));
            char *value = arena_strndup(req->arena, colon + 1,
                                        len - (size_t)(colon - lines) - 1);
            char qname[64];
            snprintf(qname, sizeof qname, "response-%s", name ? name : "");
            for (char *q = qname; *q; q++)
                *q = (char)tolower((unsigned char)*q);
            if (name && value && !http_query_get(req, qname))
                http_add_header(req, name, value);
        }
        lines += len + (nl ? 1 : 0);
    }
}

/* Everything a PUT, a Copy with REPLACE or CreateMultipartUpload says about
 * the object besides its bytes. The bufs hold the strings a points into.
 * False after replying. */
struct s3_attr_bufs {
    struct buf meta, headers, tags;
};

static void s3_attr_bufs_free(struct s3_attr_bufs *ab)
{
    buf_free(&ab->meta);
    buf_free(&ab->headers);
    buf_free(&ab->tags);
}

static bool s3_request_attrs(struct s3_ctx *c, struct s3_attr_bufs *ab,
                             struct objstore_attrs *a)
{
    struct http_req *req = c->req;
    bool has_tags;
    int rc;
    buf_init(&ab->meta, OBJSTORE_MAX_META + 256);
    buf_init(&ab->headers, OBJSTORE_MAX_HEADERS + 256);
    buf_init(&ab->tags, OBJSTORE_MAX_TAGS);
    if ((rc = s3_collect_meta(req, &ab->meta))) {
        s3_bad_meta(c, rc);
        return false;
    }
    if ((rc = s3_collect_headers(req, &ab->headers))) {
        if (rc == HY_ETOOBIG)
            s3__error(c, 400, "InvalidArgument", "The stored headers are too long.");
        else
            s3__internal(c, rc);
        return false;
    }
    if (!s3_header_tags(c, &ab->tags, &has_tags))
        return false;
    const char *ctype = http_header(req, "Content-Type");
    if (ctype && strlen(ctype) > OBJSTORE_MAX_CTYPE) {
        s3__error(c, 400, "InvalidArgument", "Content-Type is too long.");
        return false;
    }
    a->content_type = ctype;
    a->meta = ab->meta.data ? ab->meta.data : "";
    a->headers = ab->headers.data ? ab->headers.data : "";
    a->tags = has_tags ? (ab->tags.data ? ab->tags.data : "") : NULL;
    return true;
}

/* Maps a failed write of bucket/key to its S3 error. */
static void s3_write_failed(struct s3_ctx *c, int rc)
{
    if (rc == HY_ENOTFOUND)
        s3__no_such_bucket(c);
    else if (rc == HY_ETOOBIG)
        s3__error(c, 400, "InvalidArgument", "Content-Type is too long.");
    else
        s3__internal(c, rc);
}

static void s3_put_object(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    struct s3_body b;
    struct s3_attr_bufs ab;
    struct objstore_attrs a = {0};
    char etag[OBJSTORE_ETAG_MAX];
    int rc;

    if (s3_key_too_long(c))
        return;
    if (!s3__body_prepare(c, &b)) {
        s3__body_free(&b);
        return;
    }
    if (!s3_request_attrs(c, &ab, &a)) {
        s3_attr_bufs_free(&ab);
        s3__body_free(&b);
        return;
    }
    if (b.path)
        rc = objstore_put_file(hy_store, c->bucket, c->key, b.path, b.len, b.md5, &a,
                               etag, NULL);
    else
        rc = objstore_put_attrs(hy_store, c->bucket, c->key, b.data, (size_t)b.len, &a,
                                etag, NULL);
    s3_attr_bufs_free(&ab);
    s3__body_free(&b);
    if (rc) {
        s3_write_failed(c, rc);
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
        s3__internal(c, HY_ENOMEM);
        return;
    }
    int rc = objstore_get(hy_store, c->bucket, c->key, &fd, info);
    if (rc == HY_ENOTFOUND) {
        s3__not_found(c);
        return;
    }
    if (rc) {
        s3__internal(c, rc);
        return;
    }
    /* the catalog's size is the truth; a short file is corruption */
    struct stat stb;
    if (fstat(fd, &stb) != 0 || (uint64_t)stb.st_size < info->size) {
        close(fd);
        s3__internal(c, HY_EIO);
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
        s3__error(c, 412, "PreconditionFailed",
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
        s3__error_extra(c, 416, "InvalidRange", "The requested range is not satisfiable",
                       extra);
        return;
    }
    http_add_header(req, "Accept-Ranges", "bytes");
    s3_emit_meta(req, info->meta);
    s3_emit_headers(req, info->headers);
    if (info->tag_count > 0) {
        char n[16];
        snprintf(n, sizeof n, "%d", info->tag_count);
        http_add_header(req, "x-amz-tagging-count", n);
    }

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
            s3__no_such_bucket(c);
            return;
        }
    }
    if (rc) {
        s3__internal(c, rc);
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
        s3__internal(c, HY_ENOMEM);
        return;
    }
    d->arena = req->arena;
    if (!s3__xml_body_ok(c))
        return;
    int rc = s3__xml_parse(req, req->body, req->body_len, s3_delete_req_end, d);
    if (rc == HY_ENOMEM) {
        s3__internal(c, rc);
        return;
    }
    if (rc || !d->root_ok || d->nkeys == 0) {
        s3__malformed_xml(c);
        return;
    }
    if ((rc = objstore_bucket_exists(hy_store, c->bucket))) {
        if (rc == HY_ENOTFOUND)
            s3__no_such_bucket(c);
        else
            s3__internal(c, rc);
        return;
    }
    struct s3_xml w;
    s3__xml_init(&w);
    s3__xml_raw(&w, "<DeleteResult xmlns=\"" S3_XMLNS "\">");
    for (int i = 0; i < d->nkeys; i++) {
        const char *key = d->keys[i];
        rc = strlen(key) > OBJSTORE_MAX_KEY || !*key
                 ? HY_ENOTFOUND
                 : objstore_delete(hy_store, c->bucket, key);
        if (rc == HY_OK || rc == HY_ENOTFOUND) {
            if (!d->quiet) {
                s3__xml_raw(&w, "<Deleted>");
                s3__xml_elem(&w, "Key", key);
                s3__xml_raw(&w, "</Deleted>");
            }
        } else {
            log_error(S3_TAG, "delete %s/%s: %s", c->bucket, key, hy_strerror(rc));
            s3__xml_raw(&w, "<Error>");
            s3__xml_elem(&w, "Key", key);
            s3__xml_elem(&w, "Code", "InternalError");
            s3__xml_elem(&w, "Message", "We encountered an internal error. Please try again.");
            s3__xml_raw(&w, "</Error>");
        }
    }
    s3__xml_raw(&w, "</DeleteResult>");
    s3__reply_xml(c, 200, &w);
}

/* ---- CopyObject and UploadPartCopy sources ----------------------------- */
/* Parses x-amz-copy-source "[/]bucket/key[?versionId=null]". False after
 * replying. */
static bool s3_copy_source(struct s3_ctx *c, const char *source,
                           const char **bucket_out, const char **key_out)
{
    size_t n = strcspn(source, "?");
    if (source[n]) {
        const char *q = source + n + 1;
        if (strncmp(q, "versionId=", 10) != 0 || strcmp(q + 10, "null") != 0) {
            s3__error(c, 400, "InvalidArgument", "Invalid version id specified");
            return false;
        }
    }
    char *src = s3__decode(c->req, source, n);
    if (!src) {
        s3__error(c, 400, "InvalidArgument", "Invalid copy source encoding");
        return false;
    }
    if (*src == '/')
        src++;
    char *slash = strchr(src, '/');
    if (!slash || slash == src || !slash[1]) {
        s3__error(c, 400, "InvalidArgument",
                 "Copy Source must mention the source bucket and key: "
                 "sourcebucket/sourcekey");
        return false;
    }
    *slash = 0;
    *bucket_out = src;
    *key_out = slash + 1;
    return true;
}

static void s3_copy_source_missing(struct s3_ctx *c, const char *bucket, const char *key)
{
    struct s3_ctx sc = {.req = c->req, .bucket = bucket, .key = key, .head = c->head};
    memcpy(sc.request_id, c->request_id, sizeof sc.request_id);
    s3__not_found(&sc);
}

static void s3_copy_object(struct s3_ctx *c, const char *source)
{
    struct http_req *req = c->req;
    const char *src_bucket, *src_key;
    if (s3_key_too_long(c) || !s3_copy_source(c, source, &src_bucket, &src_key))
        return;
    const char *directive = http_header(req, "x-amz-metadata-directive");
    bool replace = directive && strcasecmp(directive, "REPLACE") == 0;
    if (directive && !replace && strcasecmp(directive, "COPY") != 0) {
        s3__error(c, 400, "InvalidArgument", "Unknown metadata directive.");
        return;
    }
    const char *tdirective = http_header(req, "x-amz-tagging-directive");
    bool replace_tags = tdirective && strcasecmp(tdirective, "REPLACE") == 0;
    if (tdirective && !replace_tags && strcasecmp(tdirective, "COPY") != 0) {
        s3__error(c, 400, "InvalidArgument", "Unknown tagging directive.");
        return;
    }
    if (!replace && !replace_tags && strcmp(src_bucket, c->bucket) == 0 &&
        strcmp(src_key, c->key) == 0) {
        s3__error(c, 400, "InvalidRequest",
                 "This copy request is illegal because it is trying to copy an "
                 "object to itself without changing the object's metadata, storage "
                 "class, website redirect location or encryption attributes.");
        return;
    }
    struct s3_attr_bufs ab;
    struct objstore_attrs a = {0};
    struct objstore_attrs *ap = NULL;
    struct objstore_obj *src_info = NULL;
    char etag[OBJSTORE_ETAG_MAX];
    int64_t lm = 0;
    bool src_missing = false;
    int rc;
    if (!s3_request_attrs(c, &ab, &a))
        goto out_free;
    if (replace || replace_tags) {
        if (!replace) {
            /* new tags, the source's metadata */
            src_info = arena_alloc(req->arena, sizeof *src_info);
            if (!src_info) {
                s3__internal(c, HY_ENOMEM);
                goto out_free;
            }
            rc = objstore_head(hy_store, src_bucket, src_key, src_info);
            if (rc == HY_ENOTFOUND) {
                s3_copy_source_missing(c, src_bucket, src_key);
                goto out_free;
            }
            if (rc) {
                s3__internal(c, rc);
                goto out_free;
            }
            a.content_type = src_info->content_type;
            a.meta = src_info->meta;
            a.headers = src_info->headers;
        }
        if (!replace_tags)
            a.tags = NULL; /* keep the source's */
        else if (!a.tags)
            a.tags = "";
        ap = &a;
    }
    rc = objstore_copy(hy_store, src_bucket, src_key, c->bucket, c->key, ap,
                       &src_missing, etag, &lm);
    if (rc == HY_ENOTFOUND && src_missing) {
        s3_copy_source_missing(c, src_bucket, src_key);
        goto out_free;
    }
    if (rc) {
        s3_write_failed(c, rc);
        goto out_free;
    }
    struct s3_xml w;
    s3__xml_init(&w);
    s3__xml_raw(&w, "<CopyObjectResult xmlns=\"" S3_XMLNS "\">");
    s3__xml_elem_time(&w, "LastModified", lm);
    s3__xml_elem(&w, "ETag", etag);
    s3__xml_raw(&w, "</CopyObjectResult>");
    s3__reply_xml(c, 200, &w);
out_free:
    s3_attr_bufs_free(&ab);
}

/* ---- multipart uploads -------------------------------------------------- */
static void s3_no_such_upload(struct s3_ctx *c, const char *upload_id)
{
    struct s3_xml x;
    s3__xml_init(&x);
    buf_reset(&x.b);
    s3__xml_elem(&x, "UploadId", upload_id);
    s3__error_extra(c, 404, "NoSuchUpload",
                   "The specified upload does not exist. The upload ID may be invalid, "
                   "or the upload may have been aborted or completed.",
                   x.rc == HY_OK && x.b.data ? arena_strdup(c->req->arena, x.b.data) : NULL);
    buf_free(&x.b);
}

/* The uploadId parameter when it has our shape, else NULL. */
static const char *s3_upload_id(struct http_req *req)
{
    const char *id = http_query_get(req, "uploadId");
    if (!id || strlen(id) != OBJSTORE_UPLOAD_ID_LEN)
        return NULL;
    for (const char *p = id; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return NULL;
    return id;
}

static void s3_create_multipart(struct s3_ctx *c)
{
    struct s3_attr_bufs ab;
    struct objstore_attrs a = {0};
    char id[OBJSTORE_UPLOAD_ID_LEN + 1];
    if (s3_key_too_long(c))
        return;
    if (!s3_request_attrs(c, &ab, &a)) {
        s3_attr_bufs_free(&ab);
        return;
    }
    int rc = objstore_mpu_create(hy_store, c->bucket, c->key, &a, id);
    s3_attr_bufs_free(&ab);
    if (rc) {
        s3_write_failed(c, rc);
        return;
    }
    struct s3_xml w;
    s3__xml_init(&w);
    s3__xml_raw(&w, "<InitiateMultipartUploadResult xmlns=\"" S3_XMLNS "\">");
    s3__xml_elem(&w, "Bucket", c->bucket);
    s3__xml_elem(&w, "Key", c->key);
    s3__xml_elem(&w, "UploadId", id);
    s3__xml_raw(&w, "</InitiateMultipartUploadResult>");
    s3__reply_xml(c, 200, &w);
}

/* partNumber, 1..10000; 0 after replying InvalidArgument. */
static int s3_part_number(struct s3_ctx *c)
{
    const char *pn = http_query_get(c->req, "partNumber");
    char *end;
    errno = 0;
    long n = pn && *pn ? strtol(pn, &end, 10) : 0;
    if (!pn || !*pn || errno || *end || n < 1 || n > OBJSTORE_MAX_PARTS) {
        s3__error(c, 400, "InvalidArgument",
                 "Part number must be an integer between 1 and 10000, inclusive");
        return 0;
    }
    return (int)n;
}

/* x-amz-copy-source-range "bytes=first-last" (both required). */
static bool s3_copy_range(const char *h, uint64_t *first, uint64_t *len)
{
    unsigned long long a, b;
    char tail;
    if (sscanf(h, "bytes=%llu-%llu%c", &a, &b, &tail) != 2 || b < a)
        return false;
    *first = a;
    *len = b - a + 1;
    return true;
}

static void s3_upload_part(struct s3_ctx *c, const char *upload_id)
{
    struct http_req *req = c->req;
    char etag[OBJSTORE_ETAG_MAX];
    int64_t lm = 0;
    int rc, number = s3_part_number(c);
    if (!number)
        return;
    const char *source = http_header(req, "x-amz-copy-source");
    if (source) {
        const char *src_bucket, *src_key;
        const char *range = http_header(req, "x-amz-copy-source-range");
        uint64_t first = 0, len = UINT64_MAX;
        bool src_missing = false;
        if (!s3_copy_source(c, source, &src_bucket, &src_key))
            return;
        if (range && !s3_copy_range(range, &first, &len)) {
            s3__error(c, 400, "InvalidArgument",
                     "The x-amz-copy-source-range value must be of the form "
                     "bytes=first-last where first and last are the zero-based "
                     "offsets of the first and last bytes to copy");
            return;
        }
        rc = objstore_mpu_copy_part(hy_store, c->bucket, c->key, upload_id, number,
                                    src_bucket, src_key, first, len, &src_missing,
                                    etag, &lm);
        if (rc == HY_ENOTFOUND && src_missing)
            s3_copy_source_missing(c, src_bucket, src_key);
        else if (rc == HY_ENOTFOUND)
            s3_no_such_upload(c, upload_id);
        else if (rc == HY_EINVAL)
            s3__error(c, 400, "InvalidRange", "The requested range is not satisfiable");
        else if (rc)
            s3__internal(c, rc);
        if (rc)
            return;
        struct s3_xml w;
        s3__xml_init(&w);
        s3__xml_raw(&w, "<CopyPartResult xmlns=\"" S3_XMLNS "\">");
        s3__xml_elem_time(&w, "LastModified", lm);
        s3__xml_elem(&w, "ETag", etag);
        s3__xml_raw(&w, "</CopyPartResult>");
        s3__reply_xml(c, 200, &w);
        return;
    }
    struct s3_body b;
    if (!s3__body_prepare(c, &b)) {
        s3__body_free(&b);
        return;
    }
    rc = s3__body_to_file(&b);
    if (rc == HY_OK)
        rc = objstore_mpu_put_part(hy_store, c->bucket, c->key, upload_id, number,
                                   b.path, b.len, b.md5, etag, &lm);
    s3__body_free(&b);
    if (rc == HY_ENOTFOUND)
        s3_no_such_upload(c, upload_id);
    else if (rc)
        s3__internal(c, rc);
    else {
        http_add_header(req, "ETag", etag);
        http_reply(req, 200, NULL, NULL, 0);
    }
}

struct s3_complete_req {
    struct objstore_part_ref *refs;
    int n;
    int cur_number;           /* -1 = none yet */
    const char *cur_etag;
    bool root_ok;
    bool too_many;
    bool bad_number;
    struct arena *arena;
};

static int s3_complete_end(void *ctx, int depth, const char *name,
                           const char *parent, const char *text)
{
    struct s3_complete_req *r = ctx;
    if (depth == 1) {
        r->root_ok = strcmp(name, "CompleteMultipartUpload") == 0;
        return !r->root_ok;
    }
    if (depth == 3 && strcmp(parent, "Part") == 0) {
        if (strcmp(name, "PartNumber") == 0) {
            char *end;
            errno = 0;
            long v = strtol(text, &end, 10);
            if (!*text || errno || *end || v < 1 || v > OBJSTORE_MAX_PARTS)
                r->bad_number = true;
            r->cur_number = (int)v;
        } else if (strcmp(name, "ETag") == 0) {
            r->cur_etag = arena_strdup(r->arena, text);
            if (!r->cur_etag)
                return 1;
        }
    } else if (depth == 2 && strcmp(name, "Part") == 0) {
        if (r->cur_number < 0 || !r->cur_etag)
            return 1;
        if (r->n >= OBJSTORE_MAX_PARTS) {
            r->too_many = true;
            return 1;
        }
        r->refs[r->n].number = r->cur_number;
        r->refs[r->n].etag = r->cur_etag;
        r->n++;
        r->cur_number = -1;
        r->cur_etag = NULL;
    }
    return 0;
}

static void s3_complete_multipart(struct s3_ctx *c, const char *upload_id)
{
    struct http_req *req = c->req;
    struct s3_complete_req r = {.cur_number = -1, .arena = req->arena};
    char etag[OBJSTORE_ETAG_MAX];
    int bad = -1;
    if (!s3__xml_body_ok(c))
        return;
    r.refs = malloc(OBJSTORE_MAX_PARTS * sizeof *r.refs);
    if (!r.refs) {
        s3__internal(c, HY_ENOMEM);
        return;
    }
    int rc = s3__xml_parse(req, req->body, req->body_len, s3_complete_end, &r);
    if (rc == HY_ENOMEM) {
        s3__internal(c, rc);
        goto out_free;
    }
    if (rc || !r.root_ok || r.n == 0) {
        s3__malformed_xml(c);
        goto out_free;
    }
    if (r.bad_number) {
        s3__error(c, 400, "InvalidArgument",
                 "Part number must be an integer between 1 and 10000, inclusive");
        goto out_free;
    }
    for (int i = 1; i < r.n; i++) {
        if (r.refs[i].number <= r.refs[i - 1].number) {
            s3__error(c, 400, "InvalidPartOrder",
                     "The list of parts was not in ascending order. Parts must be "
                     "ordered by part number.");
            goto out_free;
        }
    }
    rc = objstore_mpu_complete(hy_store, c->bucket, c->key, upload_id, r.refs, r.n,
                               &bad, etag, NULL);
    if (rc == HY_ENOTFOUND) {
        s3_no_such_upload(c, upload_id);
        goto out_free;
    }
    if (rc == HY_EINVAL && bad >= 0) {
        struct s3_xml x;
        s3__xml_init(&x);
        buf_reset(&x.b);
        s3__xml_elem(&x, "UploadId", upload_id);
        s3__xml_elem_u64(&x, "PartNumber", (uint64_t)r.refs[bad].number);
        s3__xml_elem(&x, "ETag", r.refs[bad].etag);
        s3__error_extra(c, 400, "InvalidPart",
                       "One or more of the specified parts could not be found. The part "
                       "may not have been uploaded, or the specified entity tag may not "
                       "match the part's entity tag.",
                       x.rc == HY_OK && x.b.data ? arena_strdup(req->arena, x.b.data) : NULL);
        buf_free(&x.b);
        goto out_free;
    }
    if (rc == HY_ELIMIT && bad >= 0) {
        const char *extra = arena_printf(
            req->arena, "<MinSizeAllowed>%u</MinSizeAllowed><PartNumber>%d</PartNumber>",
            OBJSTORE_MIN_PART, r.refs[bad].number);
        s3__error_extra(c, 400, "EntityTooSmall",
                       "Your proposed upload is smaller than the minimum allowed object size.",
                       extra);
        goto out_free;
    }
    if (rc) {
        s3_write_failed(c, rc);
        goto out_free;
    }
    struct s3_xml w;
    s3__xml_init(&w);
    s3__xml_raw(&w, "<CompleteMultipartUploadResult xmlns=\"" S3_XMLNS "\">");
    struct buf loc;
    buf_init(&loc, OBJSTORE_MAX_KEY * 3 + 512);
    const char *host = http_header(req, "Host");
    if (buf_printf(&loc, "http%s://%s/%s/", req->tls ? "s" : "", host ? host : "localhost",
                   c->bucket) == HY_OK &&
        url_encode(&loc, c->key, strlen(c->key), true) == HY_OK)
        s3__xml_elem(&w, "Location", loc.data);
    buf_free(&loc);
    s3__xml_elem(&w, "Bucket", c->bucket);
    s3__xml_elem(&w, "Key", c->key);
    s3__xml_elem(&w, "ETag", etag);
    s3__xml_raw(&w, "</CompleteMultipartUploadResult>");
    s3__reply_xml(c, 200, &w);
out_free:
    free(r.refs);
}

static void s3_abort_multipart(struct s3_ctx *c, const char *upload_id)
{
    int rc = objstore_mpu_abort(hy_store, c->bucket, c->key, upload_id);
    if (rc == HY_ENOTFOUND)
        s3_no_such_upload(c, upload_id);
    else if (rc)
        s3__internal(c, rc);
    else
        http_reply(c->req, 204, NULL, NULL, 0);
}

/* A listing's max-* parameter: default and ceiling max; -1 after replying. */
static int s3_max_param(struct s3_ctx *c, const char *name, int max)
{
    const char *v = http_query_get(c->req, name);
    if (!v || !*v)
        return max;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < 0) {
        const char *msg = arena_printf(c->req->arena,
                                       "Provided %s not an integer or within integer range",
                                       name);
        s3__error(c, 400, "InvalidArgument", msg ? msg : "Invalid argument");
        return -1;
    }
    return n > max ? max : (int)n;
}

struct s3_parts_list {
    struct s3_xml *w;
    int max, count, last;
    bool truncated;
};

static int s3_list_parts_cb(void *ctx, const struct objstore_part *p)
{
    struct s3_parts_list *l = ctx;
    if (l->count >= l->max) {
        l->truncated = true;
        return 1;
    }
    s3__xml_raw(l->w, "<Part>");
    s3__xml_elem_u64(l->w, "PartNumber", (uint64_t)p->number);
    s3__xml_elem_time(l->w, "LastModified", p->last_modified_ms);
    s3__xml_elem(l->w, "ETag", p->etag);
    s3__xml_elem_u64(l->w, "Size", p->size);
    s3__xml_raw(l->w, "</Part>");
    l->count++;
    l->last = p->number;
    return l->w->rc != HY_OK;
}

#define S3_OWNER_XML "<ID>" S3_OWNER_ID "</ID><DisplayName>" S3_OWNER_NAME "</DisplayName>"

static void s3_list_parts(struct s3_ctx *c, const char *upload_id)
{
    struct s3_xml parts;
    struct s3_parts_list l = {.w = &parts};
    const char *marker = http_query_get(c->req, "part-number-marker");
    long after = 0;
    if ((l.max = s3_max_param(c, "max-parts", S3_MAX_LIST_PARTS)) < 0)
        return;
    if (marker && *marker) {
        char *end;
        errno = 0;
        after = strtol(marker, &end, 10);
        if (errno || *end || after < 0 || after > OBJSTORE_MAX_PARTS) {
            s3__error(c, 400, "InvalidArgument", "Invalid part-number-marker");
            return;
        }
    }
    s3__xml_init(&parts);
    buf_reset(&parts.b);
    int rc = l.max > 0 ? objstore_mpu_list_parts(hy_store, c->bucket, c->key, upload_id,
                                                 (int)after, s3_list_parts_cb, &l)
                       : objstore_mpu_list_parts(hy_store, c->bucket, c->key, upload_id,
                                                 OBJSTORE_MAX_PARTS, s3_list_parts_cb, &l);
    if (rc == HY_ENOTFOUND) {
        buf_free(&parts.b);
        s3_no_such_upload(c, upload_id);
        return;
    }
    if (rc || parts.rc) {
        buf_free(&parts.b);
        s3__internal(c, rc ? rc : parts.rc);
        return;
    }
    struct s3_xml w;
    s3__xml_init(&w);
    s3__xml_raw(&w, "<ListPartsResult xmlns=\"" S3_XMLNS "\">");
    s3__xml_elem(&w, "Bucket", c->bucket);
    s3__xml_elem(&w, "Key", c->key);
    s3__xml_elem(&w, "UploadId", upload_id);
    s3__xml_elem_u64(&w, "PartNumberMarker", (uint64_t)after);
    if (l.truncated)
        s3__xml_elem_u64(&w, "NextPartNumberMarker", (uint64_t)l.last);
    s3__xml_elem_u64(&w, "MaxParts", (uint64_t)l.max);
    s3__xml_elem(&w, "IsTruncated", l.truncated ? "true" : "false");
    if (w.rc == HY_OK && parts.b.len)
        w.rc = buf_append(&w.b, parts.b.data, parts.b.len);
    s3__xml_raw(&w, "<Initiator>" S3_OWNER_XML "</Initiator><Owner>" S3_OWNER_XML
                   "</Owner><StorageClass>STANDARD</StorageClass></ListPartsResult>");
    buf_free(&parts.b);
    s3__reply_xml(c, 200, &w);
}

struct s3_uploads_list {
    struct s3_xml *w;
    int max, count;
    bool truncated;
    char last_key[OBJSTORE_MAX_KEY + 1];
    char last_id[OBJSTORE_UPLOAD_ID_LEN + 1];
};

static int s3_list_uploads_cb(void *ctx, const struct objstore_upload *up)
{
    struct s3_uploads_list *l = ctx;
    if (l->count >= l->max) {
        l->truncated = true;
        return 1;
    }
    s3__xml_raw(l->w, "<Upload>");
    s3__xml_elem(l->w, "Key", up->key);
    s3__xml_elem(l->w, "UploadId", up->upload_id);
    s3__xml_raw(l->w, "<Initiator>" S3_OWNER_XML "</Initiator><Owner>" S3_OWNER_XML
                     "</Owner><StorageClass>STANDARD</StorageClass>");
    s3__xml_elem_time(l->w, "Initiated", up->created_ms);
    s3__xml_raw(l->w, "</Upload>");
    l->count++;
    snprintf(l->last_key, sizeof l->last_key, "%s", up->key);
    snprintf(l->last_id, sizeof l->last_id, "%s", up->upload_id);
    return l->w->rc != HY_OK;
}

static void s3_list_uploads(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    struct s3_xml ups;
    struct s3_uploads_list *l = arena_alloc(req->arena, sizeof *l);
    const char *prefix = http_query_get(req, "prefix");
    const char *key_marker = http_query_get(req, "key-marker");
    const char *id_marker = http_query_get(req, "upload-id-marker");
    if (!l) {
        s3__internal(c, HY_ENOMEM);
        return;
    }
    l->w = &ups;
    if ((l->max = s3_max_param(c, "max-uploads", S3_MAX_LIST_UPLOADS)) < 0)
        return;
    s3__xml_init(&ups);
    buf_reset(&ups.b);
    int rc = l->max > 0 ? objstore_mpu_list(hy_store, c->bucket, prefix, key_marker,
                                            id_marker, s3_list_uploads_cb, l)
                        : objstore_bucket_exists(hy_store, c->bucket);
    if (rc == HY_ENOTFOUND) {
        buf_free(&ups.b);
        s3__no_such_bucket(c);
        return;
    }
    if (rc || ups.rc) {
        buf_free(&ups.b);
        s3__internal(c, rc ? rc : ups.rc);
        return;
    }
    struct s3_xml w;
    s3__xml_init(&w);
    s3__xml_raw(&w, "<ListMultipartUploadsResult xmlns=\"" S3_XMLNS "\">");
    s3__xml_elem(&w, "Bucket", c->bucket);
    s3__xml_elem(&w, "KeyMarker", key_marker ? key_marker : "");
    s3__xml_elem(&w, "UploadIdMarker", id_marker ? id_marker : "");
    if (l->truncated) {
        s3__xml_elem(&w, "NextKeyMarker", l->last_key);
        s3__xml_elem(&w, "NextUploadIdMarker", l->last_id);
    }
    if (prefix)
        s3__xml_elem(&w, "Prefix", prefix);
    s3__xml_elem_u64(&w, "MaxUploads", (uint64_t)l->max);
    s3__xml_elem(&w, "IsTruncated", l->truncated ? "true" : "false");
    if (w.rc == HY_OK && ups.b.len)
        w.rc = buf_append(&w.b, ups.b.data, ups.b.len);
    s3__xml_raw(&w, "</ListMultipartUploadsResult>");
    buf_free(&ups.b);
    s3__reply_xml(c, 200, &w);
}

/* ---- object tagging ----------------------------------------------------- */
static int s3_tagging_end(void *ctx, int depth, const char *name, const char *parent,
                          const char *text)
{
    struct s3_tags *t = ctx;
    if (depth == 1) {
        t->root_ok = strcmp(name, "Tagging") == 0;
        return !t->root_ok;
    }
    if (depth == 4 && strcmp(parent, "Tag") == 0) {
        const char *v = arena_strdup(t->arena, text);
        if (!v)
            return 1;
        if (strcmp(name, "Key") == 0)
            t->cur_key = v;
        else if (strcmp(name, "Value") == 0)
            t->cur_value = v;
    } else if (depth == 3 && strcmp(name, "Tag") == 0) {
        if (!t->cur_key)
            return 1;
        if (t->n >= S3_MAX_TAGS_PARSE) {
            t->overflow = true;
        } else {
            t->keys[t->n] = t->cur_key;
            t->values[t->n] = t->cur_value ? t->cur_value : "";
            t->n++;
        }
        t->cur_key = t->cur_value = NULL;
    }
    return 0;
}

static void s3_put_tagging(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    struct s3_tags *t = arena_alloc(req->arena, sizeof *t);
    struct buf form;
    if (!t) {
        s3__internal(c, HY_ENOMEM);
        return;
    }
    t->arena = req->arena;
    if (!s3__xml_body_ok(c))
        return;
    int rc = s3__xml_parse(req, req->body, req->body_len, s3_tagging_end, t);
    if (rc == HY_ENOMEM) {
        s3__internal(c, rc);
        return;
    }
    if (rc || !t->root_ok) {
        s3__malformed_xml(c);
        return;
    }
    if (!s3_tags_valid(c, t))
        return;
    buf_init(&form, OBJSTORE_MAX_TAGS);
    rc = s3_tags_form(t, &form);
    if (rc == HY_OK)
        rc = objstore_tags_set(hy_store, c->bucket, c->key, form.data);
    buf_free(&form);
    if (rc == HY_ENOTFOUND)
        s3__not_found(c);
    else if (rc)
        s3__internal(c, rc);
    else
        http_reply(req, 200, NULL, NULL, 0);
}

static void s3_get_tagging(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    char *form = arena_alloc(req->arena, OBJSTORE_MAX_TAGS + 1);
    struct s3_tags *t = arena_alloc(req->arena, sizeof *t);
    if (!form || !t) {
        s3__internal(c, HY_ENOMEM);
        return;
    }
    int rc = objstore_tags_get(hy_store, c->bucket, c->key, form);
    if (rc == HY_OK)
        rc = s3_tags_parse_form(req->arena, form, t);
    if (rc == HY_ENOTFOUND) {
        s3__not_found(c);
        return;
    }
    if (rc) {
        s3__internal(c, rc);
        return;
    }
    struct s3_xml w;
    s3__xml_init(&w);
    s3__xml_raw(&w, "<Tagging xmlns=\"" S3_XMLNS "\"><TagSet>");
    for (int i = 0; i < t->n; i++) {
        s3__xml_raw(&w, "<Tag>");
        s3__xml_elem(&w, "Key", t->keys[i]);
        s3__xml_elem(&w, "Value", t->values[i]);
        s3__xml_raw(&w, "</Tag>");
    }
    s3__xml_raw(&w, "</TagSet></Tagging>");
    s3__reply_xml(c, 200, &w);
}

static void s3_delete_tagging(struct s3_ctx *c)
{
    int rc = objstore_tags_set(hy_store, c->bucket, c->key, "");
    if (rc == HY_ENOTFOUND)
        s3__not_found(c);
    else if (rc)
        s3__internal(c, rc);
    else
        http_reply(c->req, 204, NULL, NULL, 0);
}

/* ---- versioning stubs and GetObjectAttributes --------------------------- */
static void s3_get_versioning(struct s3_ctx *c)
{
    int rc = objstore_bucket_exists(hy_store, c->bucket);
    if (rc == HY_ENOTFOUND) {
        s3__no_such_bucket(c);
        return;
    }
    if (rc) {
        s3__internal(c, rc);
        return;
    }
    /* never enabled: S3 then answers an empty configuration */
    struct s3_xml w;
    s3__xml_init(&w);
    s3__xml_raw(&w, "<VersioningConfiguration xmlns=\"" S3_XMLNS "\"/>");
    s3__reply_xml(c, 200, &w);
}

/* Whether a name is in the comma-separated x-amz-object-attributes list. */
static bool s3_attr_wanted(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, ",");
        size_t tl = len;
        while (tl && p[tl - 1] == ' ')
            tl--;
        if (tl == n && strncasecmp(p, name, n) == 0)
            return true;
        p += len;
    }
    return false;
}

static void s3_get_object_attributes(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    const char *want = http_header(req, "x-amz-object-attributes");
    struct objstore_obj *info = arena_alloc(req->arena, sizeof *info);
    char date[40];
    if (!want || !*want) {
        s3__error(c, 400, "InvalidArgument",
                 "The x-amz-object-attributes header specifying the attributes to be "
                 "retrieved is either missing or empty");
        return;
    }
    if (!info) {
        s3__internal(c, HY_ENOMEM);
        return;
    }
    int rc = objstore_head(hy_store, c->bucket, c->key, info);
    if (rc == HY_ENOTFOUND) {
        s3__not_found(c);
        return;
    }
    if (rc) {
        s3__internal(c, rc);
        return;
    }
    fmt_http_date(date, info->last_modified_ms);
    http_add_header(req, "Last-Modified", date);
    struct s3_xml w;
    s3__xml_init(&w);
    s3__xml_raw(&w, "<GetObjectAttributesResponse xmlns=\"" S3_XMLNS "\">");
    if (s3_attr_wanted(want, "ETag")) {
        /* unquoted here, as S3 sends it */
        size_t n = strlen(info->etag);
        char *bare = arena_strndup(req->arena, info->etag + (n >= 2),
                                   n >= 2 ? n - 2 : n);
        s3__xml_elem(&w, "ETag", bare ? bare : "");
    }
    if (s3_attr_wanted(want, "ObjectParts") && info->parts > 0) {
        s3__xml_raw(&w, "<ObjectParts>");
        s3__xml_elem_u64(&w, "PartsCount", (uint64_t)info->parts);
        s3__xml_raw(&w, "</ObjectParts>");
    }
    if (s3_attr_wanted(want, "StorageClass"))
        s3__xml_elem(&w, "StorageClass", "STANDARD");
    if (s3_attr_wanted(want, "ObjectSize"))
        s3__xml_elem_u64(&w, "ObjectSize", info->size);
    s3__xml_raw(&w, "</GetObjectAttributesResponse>");
    s3__reply_xml(c, 200, &w);
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
        "uploadId", "uploads", "versioning", "versions", "website",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (http_query_has(req, names[i]))
            return names[i];
    return NULL;
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
    if (strcmp(m, "GET") == 0 && http_query_has(req, "uploads")) {
        s3_list_uploads(c);
        return;
    }
    if (strcmp(m, "GET") == 0 && http_query_has(req, "versioning")) {
        s3_get_versioning(c);
        return;
    }
    if (strcmp(m, "GET") == 0 && http_query_has(req, "versions")) {
        s3_list_objects(c, S3_LIST_VERSIONS);
        return;
    }
    if (http_query_has(req, "cors")) {
        s3_cors_handle(c); /* issue 17: s3_cors.c */
        return;
    }
    if (s3_unsupported_subresource(req)) {
        s3__not_implemented(c);
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
            s3_list_objects(c, S3_LIST_V2);
        else if (lt && *lt)
            s3__error(c, 400, "InvalidArgument", "Invalid list-type.");
        else
            s3_list_objects(c, S3_LIST_V1);
    } else if (strcmp(m, "POST") == 0)
        s3__not_implemented(c);
    else
        s3__method_not_allowed(c);
}

/* Multipart operations on an object: true when the request was one. */
static bool s3_multipart_op(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    const char *m = req->method;
    if (strcmp(m, "POST") == 0 && http_query_has(req, "uploads")) {
        s3_create_multipart(c);
        return true;
    }
    if (!http_query_has(req, "uploadId"))
        return false;
    const char *id = s3_upload_id(req);
    if (!id) {
        const char *raw = http_query_get(req, "uploadId");
        s3_no_such_upload(c, raw ? raw : "");
        return true;
    }
    if (strcmp(m, "PUT") == 0)
        s3_upload_part(c, id);
    else if (strcmp(m, "POST") == 0)
        s3_complete_multipart(c, id);
    else if (strcmp(m, "DELETE") == 0)
        s3_abort_multipart(c, id);
    else if (strcmp(m, "GET") == 0)
        s3_list_parts(c, id);
    else
        s3__method_not_allowed(c);
    return true;
}

/* versionId: only "null", the version every object of an unversioned
 * bucket has. False after replying. */
static bool s3_version_ok(struct s3_ctx *c)
{
    const char *v = http_query_get(c->req, "versionId");
    if (!v || strcmp(v, "null") == 0)
        return true;
    s3__error(c, 400, "InvalidArgument", "Invalid version id specified");
    return false;
}

static void s3_object_op(struct s3_ctx *c)
{
    struct http_req *req = c->req;
    const char *m = req->method;
    if (s3_multipart_op(c) || !s3_version_ok(c))
        return;
    if (http_query_has(req, "tagging")) {
        if (strcmp(m, "PUT") == 0)
            s3_put_tagging(c);
        else if (strcmp(m, "GET") == 0)
            s3_get_tagging(c);
        else if (strcmp(m, "DELETE") == 0)
            s3_delete_tagging(c);
        else
            s3__method_not_allowed(c);
        return;
    }
    if (strcmp(m, "GET") == 0 && http_query_has(req, "attributes")) {
        s3_get_object_attributes(c);
        return;
    }
    if (s3_unsupported_subresource(req)) {
        s3__not_implemented(c);
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
        s3__not_implemented(c);
    else
        s3__method_not_allowed(c);
}

void s3_handle(struct http_req *req)
{
    struct s3_ctx c = {.req = req, .head = strcmp(req->method, "HEAD") == 0};
    s3__request_id(&c);
    if (!hy_store) {
        s3__internal(&c, HY_ESTATE);
        return;
    }
    if (!s3__parse_target(&c))
        return;
    if (!c.bucket) {
        if (strcmp(req->method, "GET") == 0)
            s3_list_buckets(&c);
        else
            s3__method_not_allowed(&c);
        return;
    }
    if (!c.key)
        s3_bucket_op(&c);
    else
        s3_object_op(&c);
}

/* ---- for the router ------------------------------------------------------ */

bool s3_has_subresource(const struct http_req *req)
{
    return s3_unsupported_subresource(req) != NULL;
}
