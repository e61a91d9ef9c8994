/* sinks/store.c -- the embedded store as a sink: objects go into
 * objstore.c (temp file, fsync, rename; SQLite catalog), which replaces an
 * object of the same key, so a second put of a key is idempotent.
 *
 * Errors: a missing bucket is S3.NoSuchBucket (AWS retries it for the
 * retry window, a bucket may appear), a full disk S3.InternalError; all
 * are retryable: the store may recover, nothing here is permanent.
 * Under --iam=strict the stream's RoleARN must allow s3:PutObject on the
 * object (iam_role_allows, as AWS's Firehose assumes the role): a denial
 * is S3.AccessDenied, retryable, so the batch is delivered once the
 * role's policy is fixed.
 */
#include "iam.h"
#include "objstore.h"
#include "pipeline.h"
#include "stream.h"

#include <jansson.h>
#include <stdio.h>

static int store_put(const struct sink_put *req, const char **error_code, bool *retryable,
                     char *why, size_t why_len)
{
    if (hy_iam_mode == IAM_MODE_STRICT) {
        const char *role = json_string_value(json_object_get(req->dest->config, "RoleARN"));
        char arn[1200];
        snprintf(arn, sizeof arn, "arn:aws:s3:::%s/%s", req->bucket, req->key);
        int ok = iam_role_allows(role, "s3:PutObject", arn, why, why_len);
        if (ok != 1) {
            *retryable = true;
            *error_code = ok == 0 ? "S3.AccessDenied" : "S3.InternalError";
            if (ok < 0)
                snprintf(why, why_len, "cannot read the IAM store to check role %s",
                         role ? role : "null");
            return ok == 0 ? HY_EINVAL : HY_EDB;
        }
    }
    int rc = objstore_put(hy_store, req->bucket, req->key, req->len ? req->data : "", req->len,
                          req->content_type ? req->content_type : "application/octet-stream",
                          NULL);
    if (rc == HY_OK)
        return HY_OK;
    *retryable = true;
    *error_code = rc == HY_ENOTFOUND ? "S3.NoSuchBucket" : "S3.InternalError";
    snprintf(why, why_len, "cannot write s3://%s/%.80s: %s%s", req->bucket, req->key,
             hy_strerror(rc), rc == HY_ENOTFOUND ? " (the bucket does not exist)" : "");
    return rc;
}

const struct sink sink_store = {
    .name = "store",
    .put = store_put,
};
