/* sinks/s3_remote.c -- objects into an external S3 endpoint (AWS S3,
 * MinIO, Ceph RGW, another hydrant) through libcurl.
 *
 * Purpose: the sink for every bucket destinations.c places on an external
 * endpoint. delivery.c retries (backoff, retry window, dead letters); this
 * file makes one attempt per call and says what went wrong.
 *
 * Design:
 * - Signing is libcurl's (CURLOPT_AWS_SIGV4 "aws:amz:<region>:s3"). The
 *   payload's SHA-256 is sent in x-amz-content-sha256 (curl signs that
 *   value; Ceph RGW refuses a request without the header), and every body
 *   carries Content-MD5, so the endpoint refuses a corrupted upload
 *   (BadDigest). A single-part ETag that is an MD5 (32 hex digits) must
 *   equal the body's, a multipart ETag md5(part md5s)-N; a mismatch is
 *   S3.BadDigest and the object is written again.
 * - Up to S3R_MULTIPART_THRESHOLD an object is one PutObject; above it a
 *   multipart upload of S3R_PART_SIZE parts: CreateMultipartUpload,
 *   UploadPart (each with its Content-MD5 and ETag check),
 *   CompleteMultipartUpload (whose 200 answer may still hold an <Error>,
 *   as AWS documents). Any failure after the create aborts the upload.
 * - Exactly-once keys: delivery fixes the key before the first attempt
 *   (SEAL) and retries the same key until it is confirmed. An incomplete
 *   multipart upload is invisible to readers, so a crash mid-upload leaves
 *   no object; before a multipart upload starts, uploads of exactly that
 *   key left by an earlier attempt or process (ListMultipartUploads with
 *   the key as prefix) are aborted, so they do not hold storage. A retry
 *   after a lost Complete answer writes the same key again: one object.
 * - Connections: a pool of curl easy handles (a handle keeps its
 *   connections alive between requests; curl_easy_reset keeps them), so a
 *   worker reuses a kept-alive connection to the endpoint instead of a new
 *   TCP and TLS handshake per object.
 * - Timeouts: connect 10 s; a transfer slower than 1 byte/s for 60 s is
 *   cut; no request takes more than 15 minutes. A down endpoint costs a
 *   worker at most that, never forever, and the batch waits in delivery's
 *   retry list, parked, while other streams deliver.
 * - Errors: the S3 error <Code> becomes AWS's Firehose error code
 *   "S3.<Code>" for the codes in s3r_codes (else by status); transport
 *   failures are "S3.ConnectionError" (hydrant's: AWS's own S3 is never
 *   unreachable from Firehose). Credentials and permission errors are
 *   reported as not retryable (an operator must act), the rest retryable.
 * - Under --iam=strict the stream's RoleARN must allow s3:PutObject on the
 *   object first (sinks_check_role), as for the embedded store.
 *
 * Threading: s3_remote_put runs on delivery workers, several at once;
 * each call takes its own handle from the pool (under pool.lock) and
 * returns it; nothing else is shared.
 */
#include "sinks/sinks.h"

#include <curl/curl.h>
#include <expat.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S3R_POOL_MAX 8
#define S3R_RESPONSE_MAX ((size_t)1 << 20)
#define S3R_STALE_PAGES 8

static struct {
    pthread_mutex_t lock;
    CURL *idle[S3R_POOL_MAX];
    size_t nidle;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static CURL *pool_get(void)
{
    CURL *h = NULL;
    pthread_mutex_lock(&pool.lock);
    if (pool.nidle)
        h = pool.idle[--pool.nidle];
    pthread_mutex_unlock(&pool.lock);
    return h ? h : curl_easy_init();
}

static void pool_put(CURL *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&pool.lock);
    if (pool.nidle < S3R_POOL_MAX) {
        pool.idle[pool.nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&pool.lock);
    if (h)
        curl_easy_cleanup(h);
}

void s3_remote_shutdown(void)
{
    pthread_mutex_lock(&pool.lock);
    while (pool.nidle)
        curl_easy_cleanup(pool.idle[--pool.nidle]);
    pthread_mutex_unlock(&pool.lock);
}

/* ---- the XML answers ---------------------------------------------------- */

struct xml_state {
    struct s3r_xml *out;
    char path[4][48];         /* element names from the root, depth <= 4 kept */
    int depth;
    char text[1100];
    size_t ntext;
    bool text_overflow;
    XML_Parser p;
};

static void copy_text(char *dst, size_t cap, const struct xml_state *st)
{
    size_t n = st->ntext < cap - 1 ? st->ntext : cap - 1;
    memcpy(dst, st->text, n);
    dst[n] = 0;
}

static void XMLCALL xml_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct xml_state *st = ud;
    (void)attrs;
    if (st->depth < 4)
        snprintf(st->path[st->depth], sizeof st->path[0], "%s", name);
    if (st->depth == 0)
        snprintf(st->out->root, sizeof st->out->root, "%s", name);
    st->depth++;
    st->ntext = 0;
    st->text_overflow = false;
}

static bool at(const struct xml_state *st, const char *a, const char *b, const char *c)
{
    int want = c ? 3 : 2;
    return st->depth == want && !strcmp(st->path[0], a) && !strcmp(st->path[1], b) &&
           (!c || !strcmp(st->path[2], c));
}

static void XMLCALL xml_end(void *ud, const XML_Char *name)
{
    struct xml_state *st = ud;
    struct s3r_xml *o = st->out;
    (void)name;
    if (at(st, "Error", "Code", NULL))
        copy_text(o->code, sizeof o->code, st);
    else if (at(st, "Error", "Message", NULL))
        copy_text(o->message, sizeof o->message, st);
    else if (at(st, "InitiateMultipartUploadResult", "UploadId", NULL))
        copy_text(o->upload_id, sizeof o->upload_id, st);
    else if (at(st, "CompleteMultipartUploadResult", "ETag", NULL))
        copy_text(o->etag, sizeof o->etag, st);
    else if (at(st, "ListMultipartUploadsResult", "IsTruncated", NULL))
        o->truncated = st->ntext == 4 && !memcmp(st->text, "true", 4);
    else if (at(st, "ListMultipartUploadsResult", "NextKeyMarker", NULL))
        copy_text(o->next_key, sizeof o->next_key, st);
    else if (at(st, "ListMultipartUploadsResult", "NextUploadIdMarker", NULL))
        copy_text(o->next_upload, sizeof o->next_upload, st);
    else if (o->nuploads < S3R_MAX_UPLOADS &&
             at(st, "ListMultipartUploadsResult", "Upload", "Key"))
        copy_text(o->uploads[o->nuploads].key, sizeof o->uploads[0].key, st);
    else if (o->nuploads < S3R_MAX_UPLOADS &&
             at(st, "ListMultipartUploadsResult", "Upload", "UploadId"))
        copy_text(o->uploads[o->nuploads].id, sizeof o->uploads[0].id, st);
    else if (o->nuploads < S3R_MAX_UPLOADS && at(st, "ListMultipartUploadsResult", "Upload", NULL))
        o->nuploads++;
    st->depth--;
    st->ntext = 0;
}

static void XMLCALL xml_chars(void *ud, const XML_Char *s, int len)
{
    struct xml_state *st = ud;
    if (len <= 0)
        return;
    size_t room = sizeof st->text - st->ntext;
    size_t n = (size_t)len < room ? (size_t)len : room;
    memcpy(st->text + st->ntext, s, n);
    st->ntext += n;
    if (n < (size_t)len)
        st->text_overflow = true;
}

/* S3 answers have no DTD; one that declares a doctype is not S3's. */
static void XMLCALL xml_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                const XML_Char *pubid, int has_internal)
{
    struct xml_state *st = ud;
    (void)name, (void)sysid, (void)pubid, (void)has_internal;
    XML_StopParser(st->p, XML_FALSE);
}

int s3r_xml_parse(const char *body, size_t len, struct s3r_xml *out)
{
    memset(out, 0, sizeof *out);
    if (len > S3R_RESPONSE_MAX || len > (size_t)0x7fffffff)
        return HY_EINVAL;
    XML_Parser p = XML_ParserCreate("UTF-8");
    if (!p)
        return HY_ENOMEM;
    struct xml_state *st = calloc(1, sizeof *st);
    if (!st) {
        XML_ParserFree(p);
        return HY_ENOMEM;
    }
    st->out = out;
    st->p = p;
    XML_SetUserData(p, st);
    XML_SetElementHandler(p, xml_start, xml_end);
    XML_SetCharacterDataHandler(p, xml_chars);
    XML_SetStartDoctypeDeclHandler(p, xml_doctype);
    int ok = XML_Parse(p, body ? body : "", (int)len, XML_TRUE) == XML_STATUS_OK;
    XML_ParserFree(p);
    free(st);
    if (!ok) {
        /* what was read before the error is not to be trusted */
        memset(out, 0, sizeof *out);
        return HY_EINVAL;
    }
    return HY_OK;
}

/* ---- one HTTP request ----------------------------------------------------- */

struct s3r_resp {
    long status;
    struct buf body;
    char etag[80];
};

struct s3r_upload {
    const unsigned char *p;
    size_t len, off;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct s3r_resp *r = ud;
    size_t len = size * n;
    /* an answer past the ceiling is cut (kept: what fits), not a failure */
    if (r->body.len + len > r->body.max)
        return len;
    return buf_append(&r->body, p, len) == HY_OK ? len : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct s3r_resp *r = ud;
    size_t len = size * n;
    if (len > 5 && !strncasecmp(p, "ETag:", 5)) {
        const char *v = p + 5;
        size_t vl = len - 5;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl >= sizeof r->etag)
            vl = sizeof r->etag - 1;
        memcpy(r->etag, v, vl);
        r->etag[vl] = 0;
    }
    return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
    struct s3r_upload *u = ud;
    size_t want = size * n, left = u->len - u->off;
    if (want > left)
        want = left;
    memcpy(p, u->p + u->off, want);
    u->off += want;
    return want;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    struct s3r_upload *u = ud;
    if (origin != SEEK_SET || off < 0 || (size_t)off > u->len)
        return CURL_SEEKFUNC_CANTSEEK;
    u->off = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

/* The URL of bucket/key (key may be NULL: the bucket) with query (may be
 * NULL; canonical already: names sorted, values encoded). */
static int make_url(const struct s3_endpoint *ep, const char *bucket, const char *key,
                    const char *query, struct buf *url)
{
    int rc;
    if (ep->path_style) {
        rc = buf_printf(url, "%s/%s/", ep->endpoint, bucket);
    } else {
        const char *host = strstr(ep->endpoint, "://");
        host = host ? host + 3 : ep->endpoint;
        rc = buf_printf(url, "%.*s%s.%s/", (int)(host - ep->endpoint), ep->endpoint, bucket,
                        host);
    }
    if (rc == HY_OK && key)
        rc = url_encode(url, key, strlen(key), true);
    if (rc == HY_OK && query && *query)
        rc = buf_printf(url, "?%s", query);
    return rc;
}

/* One signed request. body/len: the payload (PUT when put, else POST when
 * body is non-NULL; method overrides). HY_OK when it got an HTTP answer
 * (any status, in r), HY_EIO when the transport failed (*curl_rc, err). */
static int s3r_send(CURL *h, const struct s3_endpoint *ep, const char *method,
                    const char *bucket, const char *key, const char *query, const void *body,
                    size_t len, const char *content_type, struct s3r_resp *r,
                    char *err, size_t err_len)
{
    struct buf url;
    struct curl_slist *hdrs = NULL, *t;
    char sigv4[128], line[256], hash[65];
    struct s3r_upload up = {body, len, 0};
    int rc = HY_OK;

    buf_init(&url, 8192);
    buf_reset(&r->body);
    r->status = 0;
    r->etag[0] = 0;
    if ((rc = make_url(ep, bucket, key, query, &url)))
        goto out_free_url;
    curl_easy_reset(h);
    snprintf(sigv4, sizeof sigv4, "aws:amz:%s:s3", ep->region);
    sha256_hex(hash, body ? body : "", body ? len : 0);
    snprintf(line, sizeof line, "x-amz-content-sha256: %s", hash);
    if (!(t = curl_slist_append(hdrs, line)))
        goto out_nomem;
    hdrs = t;
    /* no "Expect:" to suppress 100-continue: curl would sign the empty
     * header without sending it (RGW: SignatureDoesNotMatch) */
    if (body) {
        unsigned char md[16];
        unsigned int mdlen = 0;
        char b64[32];
        EVP_Digest(body, len, md, &mdlen, EVP_md5(), NULL);
        base64_encode(b64, md, 16);
        snprintf(line, sizeof line, "Content-MD5: %s", b64);
        if (!(t = curl_slist_append(hdrs, line)))
            goto out_nomem;
        hdrs = t;
    }
    if (content_type) {
        snprintf(line, sizeof line, "Content-Type: %.200s", content_type);
        if (!(t = curl_slist_append(hdrs, line)))
            goto out_nomem;
        hdrs = t;
    }
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, ep->access_key_id);
    curl_easy_setopt(h, CURLOPT_PASSWORD, ep->secret_access_key);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 900L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (ep->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, ep->ca_file);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    if (!strcmp(method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &up);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &up);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
    } else if (!strcmp(method, "DELETE")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    } /* GET: the default */
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        snprintf(err, err_len, "%s %s: %s", method, url.data, curl_easy_strerror(cc));
        rc = HY_EIO;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    }
    goto out_free_url;

out_nomem:
    rc = HY_ENOMEM;
    snprintf(err, err_len, "out of memory");
out_free_url:
    curl_slist_free_all(hdrs);
    buf_free(&url);
    return rc;
}

/* ---- errors ---------------------------------------------------------------- */

static const struct {
    const char *s3;
    const char *code;
    bool retryable;
} s3r_codes[] = {
    {"NoSuchBucket", "S3.NoSuchBucket", true},
    {"AccessDenied", "S3.AccessDenied", false},
    {"InvalidAccessKeyId", "S3.InvalidAccessKeyId", false},
    {"SignatureDoesNotMatch", "S3.SignatureDoesNotMatch", false},
    {"AccountProblem", "S3.AccountProblem", false},
    {"AllAccessDisabled", "S3.AllAccessDisabled", false},
    {"InvalidBucketName", "S3.InvalidBucketName", false},
    {"SlowDown", "S3.SlowDown", true},
    {"ServiceUnavailable", "S3.ServiceUnavailable", true},
    {"InternalError", "S3.InternalError", true},
    {"RequestTimeout", "S3.RequestTimeout", true},
    {"BadDigest", "S3.BadDigest", true},
    {"InvalidDigest", "S3.InvalidDigest", true},
    {"NoSuchUpload", "S3.NoSuchUpload", true},
    {"InvalidPart", "S3.InvalidPart", true},
    {"InvalidPartOrder", "S3.InvalidPartOrder", true},
    {"EntityTooLarge", "S3.EntityTooLarge", false},
    {"EntityTooSmall", "S3.EntityTooSmall", true},
    {"QuotaExceeded", "S3.QuotaExceeded", true},
    {"XAmzContentSHA256Mismatch", "S3.XAmzContentSHA256Mismatch", true},
};

/* Fills the error outputs from an answer that is not a success. */
static int s3r_fail(const struct s3r_resp *r, const char *what, const char *bucket,
                    const char *key, const char **error_code, bool *retryable, char *why,
                    size_t why_len)
{
    struct s3r_xml *x = calloc(1, sizeof *x);
    const char *code = r->status == 503 ? "S3.ServiceUnavailable"
                       : r->status == 403 ? "S3.AccessDenied"
                       : r->status == 404 ? "S3.NoSuchBucket"
                       : r->status >= 500 ? "S3.InternalError"
                                          : "S3.InvalidRequest";
    bool retry = r->status != 403;
    if (x && r->body.len && s3r_xml_parse(r->body.data, r->body.len, x) == HY_OK &&
        x->code[0]) {
        for (size_t i = 0; i < sizeof s3r_codes / sizeof *s3r_codes; i++)
            if (!strcmp(s3r_codes[i].s3, x->code)) {
                code = s3r_codes[i].code;
                retry = s3r_codes[i].retryable;
            }
    }
    *error_code = code;
    *retryable = retry;
    snprintf(why, why_len, "%s s3://%s/%.100s: HTTP %ld %s%s%.120s", what, bucket, key,
             r->status, x && x->code[0] ? x->code : "", x && x->message[0] ? ": " : "",
             x ? x->message : "");
    free(x);
    return r->status == 404 ? HY_ENOTFOUND : HY_EIO;
}

static int s3r_transport_fail(int rc, const char *err, const char **error_code,
                              bool *retryable, char *why, size_t why_len)
{
    *error_code = rc == HY_ENOMEM ? "S3.InternalError" : "S3.ConnectionError";
    *retryable = true;
    snprintf(why, why_len, "%s", err);
    return rc;
}

/* An ETag that is a plain MD5 (32 hex digits, quoted or not) must be
 * want_hex; other forms (SSE-KMS, multipart) are not an MD5 of the body. */
static bool etag_mismatch(const char *etag, const char *want_hex)
{
    const char *e = etag;
    size_t n = strlen(e);
    if (n >= 2 && e[0] == '"' && e[n - 1] == '"')
        e++, n -= 2;
    if (n != 32)
        return false;
    for (size_t i = 0; i < 32; i++)
        if (!strchr("0123456789abcdefABCDEF", e[i]))
            return false;
    return strncasecmp(e, want_hex, 32) != 0;
}

/* ---- operations ------------------------------------------------------------- */

static int put_single(CURL *h, const struct s3_endpoint *ep, const struct sink_put *req,
                      struct s3r_resp *r, const char **error_code, bool *retryable,
                      char *why, size_t why_len)
{
    char err[512], md5[33];
    const void *data = req->len ? req->data : "";
    int rc = s3r_send(h, ep, "PUT", req->bucket, req->key, NULL, data, req->len,
                      req->content_type ? req->content_type : "application/octet-stream", r,
                      err, sizeof err);
    if (rc)
        return s3r_transport_fail(rc, err, error_code, retryable, why, why_len);
    if (r->status != 200)
        return s3r_fail(r, "PutObject", req->bucket, req->key, error_code, retryable, why,
                        why_len);
    md5_hex(md5, data, req->len);
    if (etag_mismatch(r->etag, md5)) {
        *error_code = "S3.BadDigest";
        *retryable = true;
        snprintf(why, why_len, "PutObject s3://%s/%.100s: the endpoint's ETag %s is not the "
                 "MD5 %s of what was sent", req->bucket, req->key, r->etag, md5);
        return HY_EIO;
    }
    return HY_OK;
}

/* Aborts every multipart upload of exactly req->key (left by an attempt
 * that died). Best effort: a failure here does not stop the new upload. */
static void abort_stale(CURL *h, const struct s3_endpoint *ep, const struct sink_put *req,
                        struct s3r_resp *r)
{
    struct s3r_xml *x = malloc(sizeof *x);
    struct buf q, enc;
    char err[256];
    char *key_marker = NULL, *id_marker = NULL;
    buf_init(&q, 16384);
    buf_init(&enc, 8192);
    if (!x)
        goto out_free;
    for (int page = 0; page < S3R_STALE_PAGES; page++) {
        buf_reset(&q);
        /* canonical order: key-marker, prefix, upload-id-marker, uploads */
        if (key_marker) {
            buf_reset(&enc);
            if (url_encode(&enc, key_marker, strlen(key_marker), false) ||
                buf_printf(&q, "key-marker=%s&", enc.data))
                break;
        }
        buf_reset(&enc);
        if (url_encode(&enc, req->key, strlen(req->key), false) ||
            buf_printf(&q, "prefix=%s&", enc.data))
            break;
        if (id_marker) {
            buf_reset(&enc);
            if (url_encode(&enc, id_marker, strlen(id_marker), false) ||
                buf_printf(&q, "upload-id-marker=%s&", enc.data))
                break;
        }
        if (buf_puts(&q, "uploads="))
            break;
        if (s3r_send(h, ep, "GET", req->bucket, NULL, q.data, NULL, 0, NULL, r, err,
                     sizeof err) || r->status != 200 ||
            s3r_xml_parse(r->body.data, r->body.len, x) != HY_OK)
            break;
        for (size_t i = 0; i < x->nuploads; i++) {
            if (strcmp(x->uploads[i].key, req->key) != 0 || !x->uploads[i].id[0])
                continue;
            struct buf aq;
            buf_init(&aq, 4096);
            if (buf_puts(&aq, "uploadId=") == HY_OK &&
                url_encode(&aq, x->uploads[i].id, strlen(x->uploads[i].id), false) == HY_OK &&
                s3r_send(h, ep, "DELETE", req->bucket, req->key, aq.data, NULL, 0, NULL, r,
                         err, sizeof err) == HY_OK)
                log_info("s3", "aborted a stale multipart upload %s of s3://%s/%s (HTTP %ld)",
                         x->uploads[i].id, req->bucket, req->key, r->status);
            buf_free(&aq);
        }
        if (!x->truncated || !x->next_key[0])
            break;
        free(key_marker);
        free(id_marker);
        key_marker = strdup(x->next_key);
        id_marker = x->next_upload[0] ? strdup(x->next_upload) : NULL;
        if (!key_marker)
            break;
    }
out_free:
    free(key_marker);
    free(id_marker);
    buf_free(&q);
    buf_free(&enc);
    free(x);
}

static int put_multipart(CURL *h, const struct s3_endpoint *ep, const struct sink_put *req,
                         struct s3r_resp *r, const char **error_code, bool *retryable,
                         char *why, size_t why_len)
{
    char err[512], upload_id[256];
    struct s3r_xml *x = malloc(sizeof *x);
    struct buf q, complete;
    size_t nparts = (req->len + S3R_PART_SIZE - 1) / S3R_PART_SIZE;
    unsigned char *md5s = malloc(nparts * 16 + 1);
    bool created = false;
    int rc = HY_OK;

    buf_init(&q, 4096);
    buf_init(&complete, 1 << 20);
    if (!x || !md5s) {
        rc = s3r_transport_fail(HY_ENOMEM, "out of memory", error_code, retryable, why,
                                why_len);
        goto out_free;
    }
    abort_stale(h, ep, req, r);

    rc = s3r_send(h, ep, "POST", req->bucket, req->key, "uploads=", NULL, 0,
                  req->content_type ? req->content_type : "application/octet-stream", r, err,
                  sizeof err);
    if (rc) {
        rc = s3r_transport_fail(rc, err, error_code, retryable, why, why_len);
        goto out_free;
    }
    if (r->status != 200 || s3r_xml_parse(r->body.data, r->body.len, x) != HY_OK ||
        !x->upload_id[0]) {
        if (r->status == 200)
            r->status = 502; /* 200 without an UploadId */
        rc = s3r_fail(r, "CreateMultipartUpload", req->bucket, req->key, error_code,
                      retryable, why, why_len);
        goto out_free;
    }
    snprintf(upload_id, sizeof upload_id, "%s", x->upload_id);
    created = true;

    rc = buf_puts(&complete, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < nparts && rc == HY_OK; i++) {
        size_t off = i * S3R_PART_SIZE;
        size_t n = req->len - off < S3R_PART_SIZE ? req->len - off : S3R_PART_SIZE;
        const unsigned char *part = (const unsigned char *)req->data + off;
        char md5[33];
        unsigned int mdlen = 0;
        EVP_Digest(part, n, md5s + 16 * i, &mdlen, EVP_md5(), NULL);
        hex_encode(md5, md5s + 16 * i, 16);
        buf_reset(&q);
        if ((rc = buf_printf(&q, "partNumber=%zu&uploadId=", i + 1)) ||
            (rc = url_encode(&q, upload_id, strlen(upload_id), false)))
            break;
        rc = s3r_send(h, ep, "PUT", req->bucket, req->key, q.data, part, n, NULL, r, err,
                      sizeof err);
        if (rc) {
            rc = s3r_transport_fail(rc, err, error_code, retryable, why, why_len);
            goto out_abort;
        }
        if (r->status != 200) {
            rc = s3r_fail(r, "UploadPart", req->bucket, req->key, error_code, retryable, why,
                          why_len);
            goto out_abort;
        }
        if (etag_mismatch(r->etag, md5)) {
            *error_code = "S3.BadDigest";
            *retryable = true;
            snprintf(why, why_len, "UploadPart %zu of s3://%s/%.100s: ETag %s is not the MD5 "
                     "%s of the part", i + 1, req->bucket, req->key, r->etag, md5);
            rc = HY_EIO;
            goto out_abort;
        }
        rc = buf_printf(&complete, "<Part><PartNumber>%zu</PartNumber><ETag>\"%s\"</ETag></Part>",
                        i + 1, md5);
    }
    if (rc == HY_OK)
        rc = buf_puts(&complete, "</CompleteMultipartUpload>");
    if (rc) {
        rc = s3r_transport_fail(rc, "out of memory", error_code, retryable, why, why_len);
        goto out_abort;
    }
    buf_reset(&q);
    if ((rc = buf_puts(&q, "uploadId=")) ||
        (rc = url_encode(&q, upload_id, strlen(upload_id), false))) {
        rc = s3r_transport_fail(rc, "out of memory", error_code, retryable, why, why_len);
        goto out_abort;
    }
    rc = s3r_send(h, ep, "POST", req->bucket, req->key, q.data, complete.data, complete.len,
                  "application/xml", r, err, sizeof err);
    if (rc) {
        /* the upload may have completed: the retry writes the same key */
        rc = s3r_transport_fail(rc, err, error_code, retryable, why, why_len);
        goto out_abort;
    }
    /* a 200 may still carry an <Error> (AWS: check the body) */
    int prc = s3r_xml_parse(r->body.data, r->body.len, x);
    if (r->status != 200 || prc != HY_OK || strcmp(x->root, "CompleteMultipartUploadResult")) {
        if (r->status == 200)
            r->status = 500;
        rc = s3r_fail(r, "CompleteMultipartUpload", req->bucket, req->key, error_code,
                      retryable, why, why_len);
        goto out_abort;
    }
    /* md5 of the parts' binary md5s, "-N" */
    unsigned char md[16];
    unsigned int mdlen = 0;
    char want[48], got[80];
    EVP_Digest(md5s, nparts * 16, md, &mdlen, EVP_md5(), NULL);
    hex_encode(want, md, 16);
    snprintf(want + 32, sizeof want - 32, "-%zu", nparts);
    snprintf(got, sizeof got, "%s", x->etag);
    size_t gl = strlen(got);
    char *g = got;
    if (gl >= 2 && g[0] == '"' && g[gl - 1] == '"') {
        g[gl - 1] = 0;
        g++;
    }
    /* "&quot;" escaped quotes come out of expat as '"' already */
    if (strchr(g, '-') && strlen(g) == strlen(want) && strcasecmp(g, want) != 0) {
        *error_code = "S3.BadDigest";
        *retryable = true;
        snprintf(why, why_len, "CompleteMultipartUpload s3://%s/%.100s: ETag %s, expected %s",
                 req->bucket, req->key, g, want);
        rc = HY_EIO;
        goto out_free; /* completed: a retry rewrites it */
    }
    rc = HY_OK;
    goto out_free;

out_abort:
    if (created) {
        char aerr[256];
        buf_reset(&q);
        struct s3r_resp ar = {0};
        buf_init(&ar.body, 64 << 10);
        if (buf_puts(&q, "uploadId=") == HY_OK &&
            url_encode(&q, upload_id, strlen(upload_id), false) == HY_OK)
            s3r_send(h, ep, "DELETE", req->bucket, req->key, q.data, NULL, 0, NULL, &ar, aerr,
                     sizeof aerr);
        buf_free(&ar.body);
    }
out_free:
    free(md5s);
    free(x);
    buf_free(&q);
    buf_free(&complete);
    return rc;
}

int s3_remote_put(const struct s3_endpoint *ep, const struct sink_put *req,
                  const char **error_code, bool *retryable, char *why, size_t why_len)
{
    CURL *h = pool_get();
    struct s3r_resp r = {0};
    int rc;
    if (!h)
        return s3r_transport_fail(HY_ENOMEM, "out of memory (curl handle)", error_code,
                                  retryable, why, why_len);
    buf_init(&r.body, S3R_RESPONSE_MAX);
    if (req->len <= S3R_MULTIPART_THRESHOLD)
        rc = put_single(h, ep, req, &r, error_code, retryable, why, why_len);
    else
        rc = put_multipart(h, ep, req, &r, error_code, retryable, why, why_len);
    buf_free(&r.body);
    pool_put(h);
    return rc;
}

static int s3_remote_sink_put(const struct sink_put *req, const char **error_code,
                              bool *retryable, char *why, size_t why_len)
{
    const struct s3_endpoint *ep = destinations_find(req->bucket);
    int rc = sinks_check_role(req, error_code, retryable, why, why_len);
    if (rc)
        return rc;
    if (!ep) {
        *error_code = "S3.InternalError";
        *retryable = true;
        snprintf(why, why_len, "bucket %s has no external endpoint", req->bucket);
        return HY_EINVAL;
    }
    return s3_remote_put(ep, req, error_code, retryable, why, why_len);
}

const struct sink sink_s3_remote = {
    .name = "s3",
    .put = s3_remote_sink_put,
};
