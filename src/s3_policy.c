/* s3_policy.c -- S3 bucket policies: PutBucketPolicy, GetBucketPolicy and
 * DeleteBucketPolicy (?policy on a bucket), kept apart from s3.c (which is
 * already past what one head holds). The router dispatches the three
 * operations here; the documents live in iam.db (iam.c's
 * bucket_policies table) and are evaluated by policy.c as resource
 * policies for every S3 request on the bucket and its objects.
 *
 * Validation: policy.c's one parser, kind POLICY_RESOURCE (a Principal is
 * required); a malformed document is S3's 400 MalformedPolicy with the
 * parser's message. A bucket policy names only its own bucket: a Resource
 * outside it is refused ("Policy has invalid resource"), as S3 does.
 *
 * Threading: stateless; runs on the HTTP threads.
 */
#include "api.h"
#include "iam.h"
#include "s3_wire.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define S3_MAX_POLICY (20 * 1024) /* S3's bucket policy size limit */

int s3_policy_target(struct http_req *req, const char **bucket, const char **key)
{
    struct s3_ctx c = {.req = req};
    if (!s3__parse_target(&c))
        return HY_EINVAL;
    *bucket = c.bucket;
    *key = c.key;
    return HY_OK;
}

void s3_policy_bucket_gone(const char *bucket)
{
    if (objstore_bucket_exists(hy_store, bucket) == HY_ENOTFOUND)
        (void)iam_bucket_policy_delete(bucket);
}

/* Every Resource must be the bucket or inside it. */
static bool resources_in_bucket(const char *doc, const char *bucket)
{
    json_t *root = json_loads(doc, 0, NULL);
    json_t *sts = json_object_get(root, "Statement");
    size_t n = json_is_array(sts) ? json_array_size(sts) : 1;
    char arn[128];
    bool ok = true;
    snprintf(arn, sizeof arn, "arn:aws:s3:::%s", bucket);
    size_t alen = strlen(arn);
    for (size_t i = 0; i < n && ok; i++) {
        json_t *st = json_is_array(sts) ? json_array_get(sts, i) : sts;
        json_t *r = json_object_get(st, "Resource");
        if (!r)
            r = json_object_get(st, "NotResource");
        size_t m = json_is_array(r) ? json_array_size(r) : 1;
        for (size_t j = 0; j < m && ok; j++) {
            const char *s = json_string_value(json_is_array(r) ? json_array_get(r, j) : r);
            ok = s && strncmp(s, arn, alen) == 0 && (s[alen] == 0 || s[alen] == '/');
        }
    }
    json_decref(root);
    return ok;
}

void s3_policy_handle(struct http_req *req, const char *op)
{
    struct s3_ctx c = {.req = req};
    s3__request_id(&c);
    c.head = strcmp(req->method, "HEAD") == 0;
    if (!s3__parse_target(&c))
        return;
    if (!c.bucket || c.key) {
        s3__not_implemented(&c);
        return;
    }
    int rc = objstore_bucket_exists(hy_store, c.bucket);
    if (rc == HY_ENOTFOUND) {
        s3__no_such_bucket(&c);
        return;
    }
    if (rc) {
        s3__internal(&c, rc);
        return;
    }
    if (strcmp(op, "GetBucketPolicy") == 0) {
        char *doc = NULL;
        rc = iam_bucket_policy_get(c.bucket, &doc);
        if (rc == HY_ENOTFOUND) {
            s3__error_extra(&c, 404, "NoSuchBucketPolicy", "The bucket policy does not exist",
                            NULL);
        } else if (rc) {
            s3__internal(&c, rc);
        } else {
            http_reply(req, 200, "application/json", doc, strlen(doc));
        }
        free(doc);
        return;
    }
    if (strcmp(op, "DeleteBucketPolicy") == 0) {
        rc = iam_bucket_policy_delete(c.bucket);
        if (rc)
            s3__internal(&c, rc);
        else
            http_reply(req, 204, "application/xml", "", 0);
        return;
    }
    /* PutBucketPolicy: the body is the document */
    if (req->body_path || req->body_len > S3_MAX_POLICY) {
        s3__error(&c, 400, "PolicyTooLarge", "Policies must be no more than 20 KB");
        return;
    }
    char err[512];
    struct policy *p = NULL;
    rc = policy_parse(req->body, req->body_len, POLICY_RESOURCE, &p, err, sizeof err);
    policy_free(p);
    if (rc == HY_EINVAL) {
        s3__error(&c, 400, "MalformedPolicy", err);
        return;
    }
    if (rc) {
        s3__internal(&c, rc);
        return;
    }
    char *doc = strndup(req->body, req->body_len);
    if (!doc) {
        s3__internal(&c, HY_ENOMEM);
        return;
    }
    if (!resources_in_bucket(doc, c.bucket)) {
        free(doc);
        s3__error(&c, 400, "MalformedPolicy", "Policy has invalid resource");
        return;
    }
    rc = iam_bucket_policy_put(c.bucket, doc);
    free(doc);
    if (rc)
        s3__internal(&c, rc);
    else
        http_reply(req, 204, "application/xml", "", 0);
}
