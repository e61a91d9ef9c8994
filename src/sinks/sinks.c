/* sinks/sinks.c -- which sink holds a bucket.
 *
 * A stream whose destination is an HTTP endpoint
 * (HttpEndpointDestinationConfiguration) delivers to sinks/http_endpoint.c,
 * which sends a put that carries records (sink_put.records) to the
 * endpoint and hands one without records (its error output or backup
 * objects, for the S3Configuration bucket) to sink_for_bucket.
 * Any S3 bucket -- an S3 or ExtendedS3 stream's, or a backup's -- goes to
 * the endpoint destinations.c chooses: the --destinations file's entry,
 * else the default --s3-endpoint, else the embedded store (sinks/store.c).
 * delivery.c never names a sink.
 *
 * Threading: reads only what destinations_init fixed before delivery
 * started; any thread.
 */
#include "sinks/sinks.h"
#include "iam.h"
#include "policy.h"

#include <stdio.h>

bool sinks_records_passed;

const struct sink *sink_for_bucket(const char *bucket)
{
    return destinations_find(bucket) ? &sink_s3_remote : &sink_store;
}

const struct sink *sink_for(const struct stream_dest *dest, const char *bucket)
{
    if (dest && http_endpoint_is(dest->config))
        return &sink_http_endpoint;
    return sink_for_bucket(bucket);
}

int sinks_check_role(const struct sink_put *req, const char **error_code, bool *retryable,
                     char *why, size_t why_len)
{
    if (hy_iam_mode != IAM_MODE_STRICT)
        return HY_OK;
    const char *role = json_string_value(json_object_get(req->dest->config, "RoleARN"));
    char arn[1200];
    snprintf(arn, sizeof arn, "arn:aws:s3:::%s/%s", req->bucket, req->key);
    int ok = iam_role_allows(role, "s3:PutObject", arn, why, why_len);
    if (ok == 1)
        return HY_OK;
    *retryable = true;
    *error_code = ok == 0 ? "S3.AccessDenied" : "S3.InternalError";
    if (ok < 0)
        snprintf(why, why_len, "cannot read the IAM store to check role %s",
                 role ? role : "null");
    return ok == 0 ? HY_EINVAL : HY_EDB;
}
