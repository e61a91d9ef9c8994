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

/* glue.c: the Glue Data Catalog, JSON 1.1; op is the part of X-Amz-Target
 * after "AWSGlue.". glue_exec is the same without HTTP (tests, fuzzing):
 * *body malloc'd (caller frees), *error_type NULL on success. */
void glue_handle(struct http_req *req, const char *op);
void glue_exec(const char *op, const char *body, size_t body_len, int *status, char **out,
               const char **error_type);
/* s3_policy.c: GetBucketPolicy / PutBucketPolicy / DeleteBucketPolicy, and
 * the bucket and key a request names (for the router's resource ARN). */
void s3_policy_handle(struct http_req *req, const char *op);
int s3_policy_target(struct http_req *req, const char **bucket, const char **key);
/* After DeleteBucket: the policy goes with the bucket (a new bucket of the
 * same name starts without one, as in S3). */
void s3_policy_bucket_gone(const char *bucket);

/* lambda.c: Lambda REST-JSON (/2015-03-31/functions...); op is the
 * router's operation name (see lambda.h for the rest of Lambda). */
void lambda_handle(struct http_req *req, const char *op);

/* router.c: the operation table and the trust boundary */
enum router_api { ROUTER_FIREHOSE, ROUTER_S3, ROUTER_IAM, ROUTER_STS,
                  ROUTER_JSON, /* a JSON service hydrant does not serve */
                  ROUTER_GLUE, /* Glue Data Catalog: X-Amz-Target AWSGlue.* */
                  ROUTER_OPS,  /* the reserved, unsigned operator endpoints
                                * under /_hydrant/ (ops.c) */
                  ROUTER_LAMBDA, /* the Lambda API, REST-JSON (lambda.c) */
                  /* issue 17 (metrics.c, cloudwatch.c, console.c, s3_cors.c) */
                  ROUTER_CLOUDWATCH, /* CloudWatch metrics, Query (monitoring) */
                  ROUTER_LOGS,       /* CloudWatch Logs, JSON 1.1 (Logs_20140328) */
                  ROUTER_PAGES,      /* hydrant's unsigned pages under /_hydrant/ */
                  ROUTER_PREFLIGHT   /* CORS preflights (OPTIONS), unsigned */ };
enum router_res { ROUTER_RES_NONE, ROUTER_RES_STREAM, ROUTER_RES_BUCKET,
                  ROUTER_RES_OBJECT, ROUTER_RES_ROLE, ROUTER_RES_USER, ROUTER_RES_GROUP,
                  ROUTER_RES_POLICY,
                  ROUTER_RES_FUNCTION };
enum router_body { ROUTER_BODY_NONE, ROUTER_BODY_SMALL, /* parsed in memory */
                   ROUTER_BODY_UPLOAD /* object bytes: may be spooled */ };
enum router_s3_level { ROUTER_S3_SERVICE, ROUTER_S3_BUCKET, ROUTER_S3_OBJECT };
#define ROUTER_S3_COPY 1u /* needs x-amz-copy-source */
struct router_op {
    enum router_api api;
    const char *name;     /* AWS's operation name */
    const char *action;   /* the IAM action it is authorized as */
    enum router_res res;  /* what its resource ARN names */
    enum router_body body;
    /* S3 and Lambda: how it is recognised (Lambda: method only, the
     * path is lambda_route's) */
    const char *method;
    int level;            /* enum router_s3_level */
    const char *sub;      /* a query subresource it needs, or NULL */
    unsigned flags;
    /* ROUTER_OPS: the exact path (method is `method`); ROUTER_PAGES: the
     * path (a prefix with ROUTER_PATH_PREFIX); with ROUTER_PREFLIGHT these
     * are the only rows served without a signature */
    const char *path;
};
#define ROUTER_PATH_PREFIX 2u /* ROUTER_PAGES: path is a prefix */
extern const struct router_op router_ops[];
extern const size_t router_nops;
const char *router_api_name(enum router_api api);
const struct router_op *router_find(enum router_api api, const char *name);
/* http_admit_fn: classifies, sets the body's ceiling, refuses what the
 * headers condemn (S3: verifies the signature in full). */
bool router_admit(struct http_req *req, struct http_admit *out);
/* http_handler_fn: authenticates with the body, then dispatches. */
void router_handle(struct http_req *req);
/* http_reply_hook_fn (main.c installs it): logs, at info, an API's
 * refusal with its operation, stream/bucket/role, access key id and
 * error type; refusals the router made itself it logged already. */
void router_log_refusal(struct http_req *req, int status, const void *body, size_t len);
/* The region of the request's SigV4 credential scope, else hy_cfg.region. */
const char *router_region(const struct http_req *req);
/* Replaces the root key pair (SIGHUP); both strings are copied. Requests
 * verified after it returns use the new pair. HY_OK or HY_ENOMEM. */
int router_set_root_key(const char *access_key_id, const char *secret_access_key);

/* ops.c: the operator endpoints (rows of api ROUTER_OPS in the table).
 * ops_handle answers one without touching the log; op NULL: a path under
 * /_hydrant/ that is no endpoint (404, JSON). */
#define OPS_PREFIX "/_hydrant/"
void ops_handle(struct http_req *req, const struct router_op *op);
/* Readiness: false until main.c says recovery is done (and again while
 * stopping); the other conditions are checked at each probe. */
void ops_set_ready(bool ready);
bool ops_ready(void);

/* ---- issue 17: metrics, CloudWatch, CORS, the console -------------------
 * router.c: the metrics' label of a request's operation: a slot number
 * (its row, or one per API for an unknown operation), -1 before it was
 * classified; router_slot_label names a slot (false: no such slot). */
int router_op_slot(const struct http_req *req);
bool router_slot_label(int slot, const char **api, const char **op);
/* cloudwatch.c: CloudWatch metrics (Query protocol, XML) and CloudWatch
 * Logs (JSON 1.1); op is the operation's row name. */
void cloudwatch_handle(struct http_req *req, const char *op);
void logs_handle(struct http_req *req, const char *op);
/* console.c: the web console under /_hydrant/console/. */
void console_handle(struct http_req *req);
/* s3_cors.c: CORS. cors_preflight answers an OPTIONS preflight from the
 * CORS rules alone (the APIs' fixed rules; for S3 the bucket's); cors_
 * response_headers adds the CORS headers of the real, signed request's
 * answer when it comes from an allowed origin. */
void cors_preflight(struct http_req *req, bool s3);
void cors_response_headers(struct http_req *req, bool s3);
/* (PutBucketCors / GetBucketCors / DeleteBucketCors: s3_cors.h, for s3.c) */

/* s3.c, for the router: what the target names without answering --
 * enum router_s3_level, or -1 when S3 cannot parse it (InvalidURI) -- and
 * whether it carries a subresource hydrant does not serve. */
int s3_target_level(struct http_req *req);
bool s3_has_subresource(const struct http_req *req);

#endif
