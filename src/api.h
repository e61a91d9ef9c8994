/* api.h -- the entry points router.c dispatches to, one per API. Each
 * answers the request (http_reply*) in its own protocol's shape. */
#ifndef HYDRANT_API_H
#define HYDRANT_API_H

#include "server.h"

/* firehose.c: JSON 1.1; op is the part of X-Amz-Target after the dot. */
void firehose_handle(struct http_req *req, const char *op);
/* The same without HTTP (tests, fuzzing): *body is malloc'd (caller frees);
 * *error_type is the AWS error type or NULL on success. */
void firehose_exec(struct http_req *req, const char *op, int *status, char **body,
                   const char **error_type);

/* s3.c: S3 REST + XML, path-style and virtual-host-style. */
void s3_handle(struct http_req *req);
/* The bucket a virtual-host Host header names (bucket.localhost,
 * bucket.s3[.region].amazonaws.com, <existing bucket>.<any host>), in
 * req's arena, or NULL for a path-style request. s3_handle addresses by
 * it; the router passes it to sigv4_verify_v2_presigned so the signed
 * resource is the bucket served. */
const char *s3_vhost_bucket(struct http_req *req);

/* iam.c: IAM and STS Query API (form-encoded Action=..., XML). */
int iam_open(const char *dir);
void iam_close(void);
void iam_handle(struct http_req *req);
/* Whether a role with exactly this ARN exists: HY_OK, HY_ENOTFOUND, or
 * HY_EDB when the store is not open. Thread-safe. */
int iam_role_exists(const char *role_arn);

/* router.c */
void router_handle(struct http_req *req);
/* http_spool_fn: whether a request's body may be spooled to a file. */
bool router_spool(const struct http_req *req);
/* The region of the request's SigV4 credential scope, else hy_cfg.region. */
const char *router_region(const struct http_req *req);

#endif
