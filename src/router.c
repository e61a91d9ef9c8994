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
 * Threading: stateless; runs on the HTTP threads.
 */
#include "api.h"

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

void router_handle(struct http_req *req)
{
    const char *target = http_header(req, "X-Amz-Target");
    if (target && strncmp(target, FIREHOSE_TARGET_PREFIX,
                          strlen(FIREHOSE_TARGET_PREFIX)) == 0) {
        firehose_handle(req, target + strlen(FIREHOSE_TARGET_PREFIX));
        return;
    }
    if (is_query_api(req)) {
        iam_handle(req);
        return;
    }
    s3_handle(req);
}
