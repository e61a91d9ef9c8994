/* router.c -- which API a request is for.
 *
 *   X-Amz-Target: Firehose_20150804.<Op>        -> firehose.c
 *   form-encoded POST (or GET ?Action=) on "/"  -> iam.c (IAM and STS)
 *   anything else                               -> s3.c
 *
 * router_spool() tells http.c which bodies may go to a spool file: S3
 * PUT/POST, i.e. not Firehose and not IAM.
 *
 * The SigV4 credential scope names the service too; the checks above are
 * what the wire format itself guarantees, so they come first.
 *
 * Authentication: every request is verified here (sigv4.c), before any
 * API sees it, and a failure is answered in the shape of the API the
 * request was for (Firehose JSON, S3 XML, IAM/STS query XML). The only
 * credentials today are the root pair from the configuration. A body
 * that was too large to keep cannot be hashed, so it goes straight to its
 * API, which refuses it with its own error. S3 aws-chunked uploads are
 * decoded here (sigv4_dechunk_request: every chunk signature checked as
 * it decodes, in memory or from their spool file); s3.c gets the payload,
 * never the chunks. S3 presigned URLs of the older SigV2 query form (what
 * Debian's boto3 1.26 makes by default) are verified too, path- and
 * virtual-host style (the signed resource names the bucket s3.c serves).
 *
 * Threading: stateless; runs on the HTTP threads.
 */
#include "api.h"
#include "sigv4.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FIREHOSE_TARGET_PREFIX "Firehose_20150804."

const char *router_region(const struct http_req *req)
{
    /* Authorization: AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request, ... */
    const char *auth = http_header(req, "Authorization");
    const char *cred = auth ? strstr(auth, "Credential=") : NULL;
    if (!cred) {
        const char *q = http_query_get(req, "X-Amz-Credential");
        cred = q ? q : NULL;
        if (!cred)
            return hy_cfg.region;
    } else {
        cred += strlen("Credential=");
    }
    const char *p = cred;
    for (int slash = 0; slash < 2; slash++) {
        p = strchr(p, '/');
        if (!p)
            return hy_cfg.region;
        p++;
    }
    const char *end = strchr(p, '/');
    if (!end || end == p || end - p > 32)
        return hy_cfg.region;
    char *r = arena_strndup(req->arena, p, (size_t)(end - p));
    return r ? r : hy_cfg.region;
}

static bool is_query_api(const struct http_req *req)
{
    if (strcmp(req->path, "/") != 0)
        return false;
    if (strcmp(req->method, "POST") == 0) {
        const char *ct = http_header(req, "Content-Type");
        return ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
    }
    return strcmp(req->method, "GET") == 0 && http_query_has(req, "Action");
}

bool router_spool(const struct http_req *req)
{
    /* S3 object bodies (PutObject, UploadPart) may be up to 5 GiB; every
     * Firehose and IAM body stays in memory under hy_cfg.max_body */
    if (strcmp(req->method, "PUT") != 0 && strcmp(req->method, "POST") != 0)
        return false;
    if (http_header(req, "X-Amz-Target"))
        return false;
    return !is_query_api(req);
}

static int router_secret(const char *akid, char *secret, size_t size, void *ctx)
{
    (void)ctx;
    if (hy_cfg.access_key_id && strcmp(akid, hy_cfg.access_key_id) == 0 &&
        strlen(hy_cfg.secret_access_key) < size) {
        strcpy(secret, hy_cfg.secret_access_key);
        return 0;
    }
    return -1;
}

/* Answers an authentication failure in the API's own shape. */
static void router_deny(struct http_req *req, enum sigv4_proto proto,
                        const struct sigv4_error *e)
{
    char rid[37];
    struct buf b;
    hy_uuid4(rid);
    buf_init(&b, 4096);
    if (proto == SIGV4_PROTO_JSON) {
        json_t *o = json_pack("{s:s, s:s}", "__type", e->code, "message", e->message);
        char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        http_add_header(req, "x-amzn-RequestId", rid);
        http_add_header(req, "x-amzn-ErrorType", e->code);
        http_reply(req, e->status, "application/x-amz-json-1.1", body ? body : "{}",
                   body ? strlen(body) : 2);
        free(body);
        return;
    }
    if (proto == SIGV4_PROTO_S3) {
        buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        buf_xml_escape(&b, e->code);
        buf_puts(&b, "</Code><Message>");
        buf_xml_escape(&b, e->message);
        buf_printf(&b, "</Message><RequestId>%s</RequestId></Error>", rid);
        http_add_header(req, "x-amz-request-id", rid);
        /* HEAD answers carry no body; the status says it */
        bool head = strcmp(req->method, "HEAD") == 0;
        http_reply(req, e->status, "application/xml", head ? "" : b.data,
                   head ? 0 : b.len);
    } else {
        buf_puts(&b, "<ErrorResponse><Error><Type>Sender</Type><Code>");
        buf_xml_escape(&b, e->code);
        buf_puts(&b, "</Code><Message>");
        buf_xml_escape(&b, e->message);
        buf_printf(&b, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>", rid);
        http_reply(req, e->status, "text/xml", b.data, b.len);
    }
    buf_free(&b);
}

/* HY_OK when the request is signed by a known key; else answers it. */
static bool bad_escape(const char *p)
{
    for (; *p; p++)
        if (*p == '%' && (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2])))
            return true;
    return false;
}

static int router_authenticate(struct http_req *req, enum sigv4_proto proto)
{
    if (req->body_too_large)
        return HY_OK; /* its API refuses it: nothing was kept to hash */
    if (proto == SIGV4_PROTO_S3 && bad_escape(req->path))
        return HY_OK; /* S3 answers InvalidURI before looking at anything */
    struct sigv4_auth auth;
    struct sigv4_error e;
    int64_t now = hy_now_ms();
    int rc = proto == SIGV4_PROTO_S3 && sigv4_is_v2_presigned(req)
                 ? sigv4_verify_v2_presigned(req, s3_vhost_bucket(req), router_secret,
                                             NULL, now, &auth)
                 : sigv4_verify(req, router_secret, NULL, now, &auth);
    if (rc == SIGV4_OK && proto == SIGV4_PROTO_S3 && sigv4_is_chunked(&auth)) {
        const char *dl = http_header(req, "x-amz-decoded-content-length");
        char *end = NULL;
        long long dlen = dl ? strtoll(dl, &end, 10) : -1;
        if (dl && (*end || dlen < 0))
            dlen = -1;
        rc = sigv4_dechunk_request(req, &auth, dlen);
    }
    if (rc == SIGV4_OK)
        return HY_OK;
    if (rc == SIGV4_BAD_CONTENT_SHA256 && proto == SIGV4_PROTO_S3)
        return HY_OK; /* signed right; s3.c answers XAmzContentSHA256Mismatch
                         with both hashes, as S3 does */
    sigv4_error(rc, proto, &auth, now, &e);
    log_info("auth", "%s %s from %s: %s (%s)", req->method, req->path,
             req->remote_addr ? req->remote_addr : "?", e.code, e.message);
    router_deny(req, proto, &e);
    return HY_EINVAL;
}

void router_handle(struct http_req *req)
{
    const char *target = http_header(req, "X-Amz-Target");
    if (target && strncmp(target, FIREHOSE_TARGET_PREFIX,
                          strlen(FIREHOSE_TARGET_PREFIX)) == 0) {
        if (router_authenticate(req, SIGV4_PROTO_JSON) == HY_OK)
            firehose_handle(req, target + strlen(FIREHOSE_TARGET_PREFIX));
        return;
    }
    if (is_query_api(req)) {
        if (router_authenticate(req, SIGV4_PROTO_QUERY) == HY_OK)
            iam_handle(req);
        return;
    }
    if (router_authenticate(req, SIGV4_PROTO_S3) == HY_OK)
        s3_handle(req);
}
