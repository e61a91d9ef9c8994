/* router.c -- the trust boundary: one table of operations, and every
 * request authenticated before any API code runs.
 *
 * The table (router_ops[]) lists every operation hydrant serves: its API,
 * its name, the IAM action it maps to, the resource it acts on, how it is
 * recognised on the wire and what kind of body it reads. Nothing is
 * dispatched that the router did not first classify and authenticate;
 * the regression battery (tests/integration/test_trust_boundary.py) is
 * generated from this table (`hydrant --operations` prints it), so an
 * operation cannot be added without being covered.
 *
 * Which API a request is for:
 *   X-Amz-Target: Firehose_20150804.<Op>          Firehose (JSON 1.1)
 *   X-Amz-Target: AWSGlue.<Op>                    Glue Data Catalog (JSON 1.1)
 *   X-Amz-Target: anything else                   an unknown JSON service
 *   form-encoded POST / (or GET /?Action=)        IAM or STS (query), by the
 *                                                 credential scope's service
 *   "/", no target, credential scope "firehose"   Firehose (no operation)
 *   "/", credential scope "iam" / "sts"           IAM / STS
 *   /2015-03-31/functions[/...]                   Lambda (REST-JSON; lambda_route
 *                                                 names the operation)
 *   anything else                                 S3 (REST + XML)
 * Refusals come in that API's shape: Firehose JSON, S3 XML, IAM/STS XML,
 * Lambda JSON (x-amzn-ErrorType and {"Type":"User","message":...}).
 *
 * One exception to "every request authenticated": the operator endpoints
 * under /_hydrant/ (GET /_hydrant/health, GET /_hydrant/ready), rows of
 * api ROUTER_OPS in the table, answered unsigned by ops.c (no body kept).
 * No bucket can take the prefix (bucket names have no '_'); any other
 * request under it is a JSON 404, never S3's. Until main.c declares
 * recovery done (ops_set_ready), every other request is refused with 503
 * in its API's shape, after its credentials were checked.
 *
 * Two moments (http.c calls both):
 * - router_admit(), once the request line and headers are in and before
 *   one body byte is read. It classifies the request, sets the body's
 *   ceiling (AWS's limits: Firehose 8 MiB, IAM/STS 1 MiB, Lambda code
 *   uploads 70 MiB and Invoke 6 MiB, S3 XML bodies
 *   16 MiB, S3 uploads spooled up to the object ceiling) and refuses at
 *   once what the headers already condemn: too many headers (http.c keeps
 *   100), no credentials, an unknown key, a credential scope for another
 *   service, a payload hash the API does not allow, an unsigned
 *   X-Amz-Target, a declared length over the ceiling, an S3 path that
 *   cannot be parsed (InvalidURI, answered before anything else, as S3
 *   does). S3 requests are
 *   signed over their headers (the payload hash is the
 *   x-amz-content-sha256 header, or UNSIGNED-PAYLOAD when presigned), so
 *   their signature is verified here in full: an S3 upload is spooled to
 *   disk only after its seed signature checks.
 * - router_handle(), once the body is in. Firehose and IAM/STS sign a
 *   hash of their body, so they are verified now; every S3 body is
 *   checked against the payload hash that was signed; aws-chunked bodies
 *   have every chunk signature checked. A body that grew past its ceiling
 *   while arriving (413) or did not fit http.c's in-flight budget (503)
 *   is answered here too, in the API's shape. Then the request is
 *   authorized, and only then does the API handler run.
 *
 * Who signed: the access key is resolved once per request by
 * iam_principal_resolve (iam.c): the root pair from the configuration, an
 * IAM user's AKIA key, or temporary credentials (ASIA...) whose
 * X-Amz-Security-Token sts.c verifies (a tampered token, or one for
 * another key: UnrecognizedClientException / InvalidToken /
 * InvalidClientTokenId; an expired one: ExpiredTokenException /
 * ExpiredToken). The signature is then checked with that principal's
 * secret. Authorization (authorize()): the operation's IAM action from
 * the table, its resource ARN built from the request (stream name from the
 * body, bucket and key from the target, user / group / role / policy from
 * the form, a Lambda function from the path or CreateFunction's body), the
 * request's context keys, and for S3 the bucket's policy,
 * go to policy.c's evaluator; a denial is AccessDeniedException (Firehose,
 * 400) or AccessDenied (S3 and IAM/STS, 403) in AWS's words. The root,
 * --iam=off, and the STS actions that decide for themselves (AssumeRole:
 * the trust policy) pass. The principal holds a reference to its cached
 * identity: it is given back before any refusal is answered, and across
 * the API call router_handle holds it, so nothing reads the request once
 * it is answered (an API may answer from another thread).
 *
 * Payload rules: UNSIGNED-PAYLOAD and STREAMING-* only for S3 (S3 allows
 * them; the JSON and query APIs sign their body), STREAMING-* only for
 * the uploads (PutObject, UploadPart), and an S3 body that a handler
 * parses (DeleteObjects, CompleteMultipartUpload, tagging, CreateBucket)
 * under UNSIGNED-PAYLOAD only with a signed Content-MD5 that matches it.
 * aws-chunked bodies are decoded here, by sigv4.c's one decoder, which
 * checks every chunk (and trailer) signature as it decodes; the API reads
 * only its output.
 *
 * Threading: the table is constant; both entry points run on the HTTP
 * threads and keep their state in the request's arena (req->route); the
 * identity cache they read is iam.c's (its own locks).
 */
#include "api.h"
#include "iam.h"
#include "lambda.h"
#include "metrics.h"
#include "sigv4.h"

#include <ctype.h>
#include <pthread.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define FIREHOSE_TARGET_PREFIX "Firehose_20150804."
#define GLUE_TARGET_PREFIX "AWSGlue."
#define MIB (1ull << 20)

/* ---- the operation table ------------------------------------------------ */

#define A(api, name, action, res, body) \
    {api, name, action, res, body, NULL, 0, NULL, 0, NULL}
#define S3OP(name, action, res, body, method, level, sub, flags) \
    {ROUTER_S3, name, action, res, body, method, level, sub, flags, NULL}
/* operator endpoints: no IAM action, no signature (ops.c answers them) */
#define OPSOP(name, method, path) \
    {ROUTER_OPS, name, "-", ROUTER_RES_NONE, ROUTER_BODY_NONE, method, 0, NULL, 0, path}
#define LAMBDAOP(name, action, res, body, method) \
    {ROUTER_LAMBDA, name, action, res, body, method, 0, NULL, 0, NULL}
/* issue 17: hydrant's unsigned pages (metrics, console) and CORS
 * preflights: no IAM action, no signature */
#define PAGE(name, method, path, flags) \
    {ROUTER_PAGES, name, "-", ROUTER_RES_NONE, ROUTER_BODY_SMALL, method, 0, NULL, flags, path}
#define PREFLIGHT(name) \
    {ROUTER_PREFLIGHT, name, "-", ROUTER_RES_NONE, ROUTER_BODY_NONE, "OPTIONS", 0, NULL, 0, NULL}

const struct router_op router_ops[] = {
    /* operator endpoints under /_hydrant/, a prefix no bucket can take
     * (bucket names have no '_'): the only unsigned rows */
    OPSOP("Health", "GET", OPS_PREFIX "health"),
    OPSOP("Ready", "GET", OPS_PREFIX "ready"),
    /* Firehose: X-Amz-Target Firehose_20150804.<name> */
    A(ROUTER_FIREHOSE, "CreateDeliveryStream", "firehose:CreateDeliveryStream", ROUTER_RES_STREAM, ROUTER_BODY_SMALL),
    A(ROUTER_FIREHOSE, "DeleteDeliveryStream", "firehose:DeleteDeliveryStream", ROUTER_RES_STREAM, ROUTER_BODY_SMALL),
    A(ROUTER_FIREHOSE, "DescribeDeliveryStream", "firehose:DescribeDeliveryStream", ROUTER_RES_STREAM, ROUTER_BODY_SMALL),
    A(ROUTER_FIREHOSE, "ListDeliveryStreams", "firehose:ListDeliveryStreams", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_FIREHOSE, "ListTagsForDeliveryStream", "firehose:ListTagsForDeliveryStream", ROUTER_RES_STREAM, ROUTER_BODY_SMALL),
    A(ROUTER_FIREHOSE, "PutRecord", "firehose:PutRecord", ROUTER_RES_STREAM, ROUTER_BODY_SMALL),
    A(ROUTER_FIREHOSE, "PutRecordBatch", "firehose:PutRecordBatch", ROUTER_RES_STREAM, ROUTER_BODY_SMALL),
    A(ROUTER_FIREHOSE, "StartDeliveryStreamEncryption", "firehose:StartDeliveryStreamEncryption", ROUTER_RES_STREAM, ROUTER_BODY_SMALL),
    A(ROUTER_FIREHOSE, "StopDeliveryStreamEncryption", "firehose:StopDeliveryStreamEncryption", ROUTER_RES_STREAM, ROUTER_BODY_SMALL),
    A(ROUTER_FIREHOSE, "TagDeliveryStream", "firehose:TagDeliveryStream", ROUTER_RES_STREAM, ROUTER_BODY_SMALL),
    A(ROUTER_FIREHOSE, "UntagDeliveryStream", "firehose:UntagDeliveryStream", ROUTER_RES_STREAM, ROUTER_BODY_SMALL),
    A(ROUTER_FIREHOSE, "UpdateDestination", "firehose:UpdateDestination", ROUTER_RES_STREAM, ROUTER_BODY_SMALL),
    /* Glue Data Catalog: X-Amz-Target AWSGlue.<name> */
    A(ROUTER_GLUE, "CreateDatabase", "glue:CreateDatabase", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_GLUE, "GetDatabase", "glue:GetDatabase", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_GLUE, "GetDatabases", "glue:GetDatabases", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_GLUE, "DeleteDatabase", "glue:DeleteDatabase", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_GLUE, "CreateTable", "glue:CreateTable", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_GLUE, "GetTable", "glue:GetTable", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_GLUE, "GetTables", "glue:GetTables", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_GLUE, "UpdateTable", "glue:UpdateTable", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_GLUE, "DeleteTable", "glue:DeleteTable", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_GLUE, "GetTableVersion", "glue:GetTableVersion", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_GLUE, "GetTableVersions", "glue:GetTableVersions", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    /* IAM: Action=<name> */
    A(ROUTER_IAM, "AttachRolePolicy", "iam:AttachRolePolicy", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "CreateRole", "iam:CreateRole", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "DeleteRole", "iam:DeleteRole", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "DeleteRolePolicy", "iam:DeleteRolePolicy", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "DetachRolePolicy", "iam:DetachRolePolicy", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "GetRole", "iam:GetRole", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "GetRolePolicy", "iam:GetRolePolicy", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListAttachedRolePolicies", "iam:ListAttachedRolePolicies", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListRolePolicies", "iam:ListRolePolicies", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListRoleTags", "iam:ListRoleTags", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListRoles", "iam:ListRoles", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "PutRolePolicy", "iam:PutRolePolicy", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "TagRole", "iam:TagRole", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "UntagRole", "iam:UntagRole", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "UpdateAssumeRolePolicy", "iam:UpdateAssumeRolePolicy", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "UpdateRole", "iam:UpdateRole", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "AddUserToGroup", "iam:AddUserToGroup", ROUTER_RES_GROUP, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "AttachGroupPolicy", "iam:AttachGroupPolicy", ROUTER_RES_GROUP, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "AttachUserPolicy", "iam:AttachUserPolicy", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "CreateAccessKey", "iam:CreateAccessKey", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "CreateGroup", "iam:CreateGroup", ROUTER_RES_GROUP, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "CreatePolicy", "iam:CreatePolicy", ROUTER_RES_POLICY, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "CreatePolicyVersion", "iam:CreatePolicyVersion", ROUTER_RES_POLICY, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "CreateUser", "iam:CreateUser", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "DeleteAccessKey", "iam:DeleteAccessKey", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "DeleteGroup", "iam:DeleteGroup", ROUTER_RES_GROUP, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "DeleteGroupPolicy", "iam:DeleteGroupPolicy", ROUTER_RES_GROUP, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "DeletePolicy", "iam:DeletePolicy", ROUTER_RES_POLICY, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "DeletePolicyVersion", "iam:DeletePolicyVersion", ROUTER_RES_POLICY, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "DeleteUser", "iam:DeleteUser", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "DeleteUserPolicy", "iam:DeleteUserPolicy", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "DetachGroupPolicy", "iam:DetachGroupPolicy", ROUTER_RES_GROUP, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "DetachUserPolicy", "iam:DetachUserPolicy", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "GetAccessKeyLastUsed", "iam:GetAccessKeyLastUsed", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "GetGroup", "iam:GetGroup", ROUTER_RES_GROUP, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "GetGroupPolicy", "iam:GetGroupPolicy", ROUTER_RES_GROUP, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "GetPolicy", "iam:GetPolicy", ROUTER_RES_POLICY, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "GetPolicyVersion", "iam:GetPolicyVersion", ROUTER_RES_POLICY, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "GetUser", "iam:GetUser", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "GetUserPolicy", "iam:GetUserPolicy", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListAccessKeys", "iam:ListAccessKeys", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListAttachedGroupPolicies", "iam:ListAttachedGroupPolicies", ROUTER_RES_GROUP, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListAttachedUserPolicies", "iam:ListAttachedUserPolicies", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListGroupPolicies", "iam:ListGroupPolicies", ROUTER_RES_GROUP, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListGroups", "iam:ListGroups", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListGroupsForUser", "iam:ListGroupsForUser", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListPolicies", "iam:ListPolicies", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListPolicyVersions", "iam:ListPolicyVersions", ROUTER_RES_POLICY, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListUserPolicies", "iam:ListUserPolicies", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListUserTags", "iam:ListUserTags", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "ListUsers", "iam:ListUsers", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "PutGroupPolicy", "iam:PutGroupPolicy", ROUTER_RES_GROUP, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "PutUserPolicy", "iam:PutUserPolicy", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "RemoveUserFromGroup", "iam:RemoveUserFromGroup", ROUTER_RES_GROUP, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "SetDefaultPolicyVersion", "iam:SetDefaultPolicyVersion", ROUTER_RES_POLICY, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "SimulateCustomPolicy", "iam:SimulateCustomPolicy", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "SimulatePrincipalPolicy", "iam:SimulatePrincipalPolicy", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "TagUser", "iam:TagUser", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "UntagUser", "iam:UntagUser", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "UpdateAccessKey", "iam:UpdateAccessKey", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    A(ROUTER_IAM, "UpdateUser", "iam:UpdateUser", ROUTER_RES_USER, ROUTER_BODY_SMALL),
    /* STS: Action=<name> */
    A(ROUTER_STS, "AssumeRole", "sts:AssumeRole", ROUTER_RES_ROLE, ROUTER_BODY_SMALL),
    A(ROUTER_STS, "GetCallerIdentity", "sts:GetCallerIdentity", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_STS, "GetSessionToken", "sts:GetSessionToken", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    /* Lambda: REST paths under /2015-03-31/functions (lambda_route).
     * CreateFunction and UpdateFunctionCode upload code that hydrant's
     * runtime runs as hydrant's user: only principals allowed these two
     * actions may call them */
    LAMBDAOP("CreateFunction", "lambda:CreateFunction", ROUTER_RES_FUNCTION, ROUTER_BODY_SMALL, "POST"),
    LAMBDAOP("DeleteFunction", "lambda:DeleteFunction", ROUTER_RES_FUNCTION, ROUTER_BODY_NONE, "DELETE"),
    LAMBDAOP("GetFunction", "lambda:GetFunction", ROUTER_RES_FUNCTION, ROUTER_BODY_NONE, "GET"),
    LAMBDAOP("GetFunctionConfiguration", "lambda:GetFunctionConfiguration", ROUTER_RES_FUNCTION, ROUTER_BODY_NONE, "GET"),
    LAMBDAOP("Invoke", "lambda:InvokeFunction", ROUTER_RES_FUNCTION, ROUTER_BODY_SMALL, "POST"),
    LAMBDAOP("ListFunctions", "lambda:ListFunctions", ROUTER_RES_NONE, ROUTER_BODY_NONE, "GET"),
    LAMBDAOP("UpdateFunctionCode", "lambda:UpdateFunctionCode", ROUTER_RES_FUNCTION, ROUTER_BODY_SMALL, "PUT"),
    LAMBDAOP("UpdateFunctionConfiguration", "lambda:UpdateFunctionConfiguration", ROUTER_RES_FUNCTION, ROUTER_BODY_SMALL, "PUT"),
    /* S3: method, what the path names (service, bucket, object), a
     * required subresource; the first match wins, so the rows with a
     * subresource come before the plain ones */
    S3OP("ListBuckets", "s3:ListAllMyBuckets", ROUTER_RES_NONE, ROUTER_BODY_NONE, "GET", ROUTER_S3_SERVICE, NULL, 0),
    S3OP("GetBucketLocation", "s3:GetBucketLocation", ROUTER_RES_BUCKET, ROUTER_BODY_NONE, "GET", ROUTER_S3_BUCKET, "location", 0),
    S3OP("GetBucketPolicy", "s3:GetBucketPolicy", ROUTER_RES_BUCKET, ROUTER_BODY_NONE, "GET", ROUTER_S3_BUCKET, "policy", 0),
    S3OP("PutBucketPolicy", "s3:PutBucketPolicy", ROUTER_RES_BUCKET, ROUTER_BODY_SMALL, "PUT", ROUTER_S3_BUCKET, "policy", 0),
    S3OP("DeleteBucketPolicy", "s3:DeleteBucketPolicy", ROUTER_RES_BUCKET, ROUTER_BODY_NONE, "DELETE", ROUTER_S3_BUCKET, "policy", 0),
    /* issue 17: bucket CORS (s3_cors.c) */
    S3OP("PutBucketCors", "s3:PutBucketCORS", ROUTER_RES_BUCKET, ROUTER_BODY_SMALL, "PUT", ROUTER_S3_BUCKET, "cors", 0),
    S3OP("GetBucketCors", "s3:GetBucketCORS", ROUTER_RES_BUCKET, ROUTER_BODY_NONE, "GET", ROUTER_S3_BUCKET, "cors", 0),
    S3OP("DeleteBucketCors", "s3:PutBucketCORS", ROUTER_RES_BUCKET, ROUTER_BODY_NONE, "DELETE", ROUTER_S3_BUCKET, "cors", 0),
    S3OP("DeleteObjects", "s3:DeleteObject", ROUTER_RES_BUCKET, ROUTER_BODY_SMALL, "POST", ROUTER_S3_BUCKET, "delete", 0),
    S3OP("ListMultipartUploads", "s3:ListBucketMultipartUploads", ROUTER_RES_BUCKET, ROUTER_BODY_NONE, "GET", ROUTER_S3_BUCKET, "uploads", 0),
    S3OP("GetBucketVersioning", "s3:GetBucketVersioning", ROUTER_RES_BUCKET, ROUTER_BODY_NONE, "GET", ROUTER_S3_BUCKET, "versioning", 0),
    S3OP("ListObjectVersions", "s3:ListBucketVersions", ROUTER_RES_BUCKET, ROUTER_BODY_NONE, "GET", ROUTER_S3_BUCKET, "versions", 0),
    S3OP("ListObjectsV2", "s3:ListBucket", ROUTER_RES_BUCKET, ROUTER_BODY_NONE, "GET", ROUTER_S3_BUCKET, "list-type", 0),
    S3OP("ListObjects", "s3:ListBucket", ROUTER_RES_BUCKET, ROUTER_BODY_NONE, "GET", ROUTER_S3_BUCKET, NULL, 0),
    S3OP("CreateBucket", "s3:CreateBucket", ROUTER_RES_BUCKET, ROUTER_BODY_SMALL, "PUT", ROUTER_S3_BUCKET, NULL, 0),
    S3OP("HeadBucket", "s3:ListBucket", ROUTER_RES_BUCKET, ROUTER_BODY_NONE, "HEAD", ROUTER_S3_BUCKET, NULL, 0),
    S3OP("DeleteBucket", "s3:DeleteBucket", ROUTER_RES_BUCKET, ROUTER_BODY_NONE, "DELETE", ROUTER_S3_BUCKET, NULL, 0),
    S3OP("CreateMultipartUpload", "s3:PutObject", ROUTER_RES_OBJECT, ROUTER_BODY_NONE, "POST", ROUTER_S3_OBJECT, "uploads", 0),
    S3OP("UploadPartCopy", "s3:PutObject", ROUTER_RES_OBJECT, ROUTER_BODY_NONE, "PUT", ROUTER_S3_OBJECT, "uploadId", ROUTER_S3_COPY),
    S3OP("UploadPart", "s3:PutObject", ROUTER_RES_OBJECT, ROUTER_BODY_UPLOAD, "PUT", ROUTER_S3_OBJECT, "uploadId", 0),
    S3OP("CompleteMultipartUpload", "s3:PutObject", ROUTER_RES_OBJECT, ROUTER_BODY_SMALL, "POST", ROUTER_S3_OBJECT, "uploadId", 0),
    S3OP("AbortMultipartUpload", "s3:AbortMultipartUpload", ROUTER_RES_OBJECT, ROUTER_BODY_NONE, "DELETE", ROUTER_S3_OBJECT, "uploadId", 0),
    S3OP("ListParts", "s3:ListMultipartUploadParts", ROUTER_RES_OBJECT, ROUTER_BODY_NONE, "GET", ROUTER_S3_OBJECT, "uploadId", 0),
    S3OP("PutObjectTagging", "s3:PutObjectTagging", ROUTER_RES_OBJECT, ROUTER_BODY_SMALL, "PUT", ROUTER_S3_OBJECT, "tagging", 0),
    S3OP("GetObjectTagging", "s3:GetObjectTagging", ROUTER_RES_OBJECT, ROUTER_BODY_NONE, "GET", ROUTER_S3_OBJECT, "tagging", 0),
    S3OP("DeleteObjectTagging", "s3:DeleteObjectTagging", ROUTER_RES_OBJECT, ROUTER_BODY_NONE, "DELETE", ROUTER_S3_OBJECT, "tagging", 0),
    S3OP("GetObjectAttributes", "s3:GetObject", ROUTER_RES_OBJECT, ROUTER_BODY_NONE, "GET", ROUTER_S3_OBJECT, "attributes", 0),
    S3OP("CopyObject", "s3:PutObject", ROUTER_RES_OBJECT, ROUTER_BODY_NONE, "PUT", ROUTER_S3_OBJECT, NULL, ROUTER_S3_COPY),
    S3OP("PutObject", "s3:PutObject", ROUTER_RES_OBJECT, ROUTER_BODY_UPLOAD, "PUT", ROUTER_S3_OBJECT, NULL, 0),
    S3OP("GetObject", "s3:GetObject", ROUTER_RES_OBJECT, ROUTER_BODY_NONE, "GET", ROUTER_S3_OBJECT, NULL, 0),
    S3OP("HeadObject", "s3:GetObject", ROUTER_RES_OBJECT, ROUTER_BODY_NONE, "HEAD", ROUTER_S3_OBJECT, NULL, 0),
    S3OP("DeleteObject", "s3:DeleteObject", ROUTER_RES_OBJECT, ROUTER_BODY_NONE, "DELETE", ROUTER_S3_OBJECT, NULL, 0),
    /* ---- issue 17: CloudWatch, CloudWatch Logs, pages, preflights ---- */
    /* CloudWatch: Action=<name>, credential scope "monitoring" */
    A(ROUTER_CLOUDWATCH, "GetMetricStatistics", "cloudwatch:GetMetricStatistics", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_CLOUDWATCH, "GetMetricData", "cloudwatch:GetMetricData", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_CLOUDWATCH, "ListMetrics", "cloudwatch:ListMetrics", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    /* CloudWatch Logs: X-Amz-Target Logs_20140328.<name> */
    A(ROUTER_LOGS, "CreateLogGroup", "logs:CreateLogGroup", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_LOGS, "CreateLogStream", "logs:CreateLogStream", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_LOGS, "DeleteLogGroup", "logs:DeleteLogGroup", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_LOGS, "DescribeLogGroups", "logs:DescribeLogGroups", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_LOGS, "DescribeLogStreams", "logs:DescribeLogStreams", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_LOGS, "FilterLogEvents", "logs:FilterLogEvents", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_LOGS, "GetLogEvents", "logs:GetLogEvents", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    A(ROUTER_LOGS, "PutLogEvents", "logs:PutLogEvents", ROUTER_RES_NONE, ROUTER_BODY_SMALL),
    /* unsigned: the pages under /_hydrant/ (no bucket name has '_') */
    PAGE("Metrics", "GET", "/_hydrant/metrics", 0),
    PAGE("ConsoleGet", "GET", "/_hydrant/console/", ROUTER_PATH_PREFIX),
    PAGE("ConsolePost", "POST", "/_hydrant/console/", ROUTER_PATH_PREFIX),
    /* unsigned: CORS preflights, answered from CORS rules alone */
    PREFLIGHT("PreflightApi"),
    PREFLIGHT("PreflightS3"),
};
const size_t router_nops = sizeof router_ops / sizeof router_ops[0];

static const char *const api_names[] = {"firehose", "s3", "iam", "sts", "json", "glue",
                                        "ops", "lambda", "cloudwatch", "logs", "pages",
                                        "preflight"};

const char *router_api_name(enum router_api api)
{
    return api_names[api];
}

/* ---- per-request state ---------------------------------------------------- */

struct route {
    enum router_api api;
    const struct router_op *op; /* NULL: no operation of that name (answered
                                   after authentication) */
    const char *target_op;      /* Firehose: the part after the dot */
    bool verified;              /* signature checked from the headers (S3) */
    bool v2;                    /* SigV2 presigned (S3) */
    bool scoped;                /* the SigV4 credential scope could be read: */
    char key[129];              /* its access key id */
    char region[65];            /* its region */
    char service[65];           /* its service */
    bool logged;                /* the router logged its refusal itself */
    struct sigv4_auth auth;
    struct http_req *req;
    /* who the access key is (iam.c / sts.c), once looked up */
    bool resolved;
    int resolve_rc;             /* HY_OK, HY_ENOTFOUND, HY_EINVAL (bad token),
                                   HY_ESTATE (expired token) */
    struct iam_principal principal;
    char secret[256];
    bool handed_off;            /* the API handler's caller holds the reference */
};

static enum sigv4_proto api_proto(enum router_api api)
{
    switch (api) {
    case ROUTER_S3: return SIGV4_PROTO_S3;
    case ROUTER_IAM:
    case ROUTER_STS:
    case ROUTER_CLOUDWATCH: return SIGV4_PROTO_QUERY;
    default: return SIGV4_PROTO_JSON;
    }
}

/* ---- the credential scope ---------------------------------------------- */

const char *router_region(const struct http_req *req)
{
    struct route *r = req->route;
    if (r && r->scoped && r->region[0])
        return r->region;
    struct sigv4_scope sc;
    if (sigv4_scope_parse(req, &sc) != SIGV4_OK || !sc.region[0])
        return hy_cfg.region;
    char *region = arena_strdup(req->arena, sc.region);
    return region ? region : hy_cfg.region;
}

static const char *api_service(enum router_api api)
{
    switch (api) {
    case ROUTER_FIREHOSE: return "firehose";
    case ROUTER_S3: return "s3";
    case ROUTER_IAM: return "iam";
    case ROUTER_STS: return "sts";
    case ROUTER_GLUE: return "glue";
    case ROUTER_LAMBDA: return "lambda";
    case ROUTER_CLOUDWATCH: return "monitoring";
    case ROUTER_LOGS: return "logs";
    default: return NULL;
    }
}

/* ---- classification ---------------------------------------------------- */

static bool is_query_shape(const struct http_req *req)
{
    if (strcmp(req->path, "/") != 0)
        return false;
    if (strcmp(req->method, "POST") == 0) {
        const char *ct = http_header(req, "Content-Type");
        return ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
    }
    return strcmp(req->method, "GET") == 0 && http_query_has(req, "Action");
}

const struct router_op *router_find(enum router_api api, const char *name)
{
    for (size_t i = 0; i < router_nops; i++)
        if (router_ops[i].api == api && strcmp(router_ops[i].name, name) == 0)
            return &router_ops[i];
    return NULL;
}

static const struct router_op *s3_classify(struct http_req *req)
{
    int level = s3_target_level(req);
    if (level < 0)
        return NULL; /* s3.c answers InvalidURI, after authentication */
    bool copy = http_header(req, "x-amz-copy-source") != NULL;
    for (size_t i = 0; i < router_nops; i++) {
        const struct router_op *o = &router_ops[i];
        if (o->api != ROUTER_S3 || o->level != level || strcmp(o->method, req->method) != 0)
            continue;
        if (o->sub && !http_query_has(req, o->sub))
            continue;
        if ((o->flags & ROUTER_S3_COPY) && !copy)
            continue;
        if (!o->sub && o->level != ROUTER_S3_SERVICE && s3_has_subresource(req))
            return NULL; /* a subresource hydrant does not serve */
        return o;
    }
    return NULL;
}

/* The query API's operation: Action from the query, or from the form body
 * once it is in (IAM and STS share the shape; the scope says which). */
static void query_classify(struct http_req *req, struct route *r)
{
    if (r->scoped && strcmp(r->service, "monitoring") == 0)
        r->api = ROUTER_CLOUDWATCH; /* issue 17: CloudWatch shares the shape */
    else if (r->scoped && strcmp(r->service, "sts") == 0)
        r->api = ROUTER_STS;
    else
        r->api = ROUTER_IAM;
    const char *action = NULL;
    if (strcmp(req->method, "POST") == 0 && req->body_len) {
        /* Action=... in the form: a bounded scan, no allocation */
        const char *p = req->body, *end = req->body + req->body_len;
        while (p < end) {
            const char *amp = memchr(p, '&', (size_t)(end - p));
            const char *seg_end = amp ? amp : end;
            if (seg_end - p > 7 && memcmp(p, "Action=", 7) == 0) {
                action = arena_strndup(req->arena, p + 7, (size_t)(seg_end - p - 7));
                break;
            }
            p = seg_end + 1;
        }
    } else {
        action = http_query_get(req, "Action");
    }
    r->op = action ? router_find(r->api, action) : NULL;
    if (!r->op && action && r->api != ROUTER_CLOUDWATCH) {
        /* an STS action signed for iam (or the reverse) is still that
         * action; the scope check refuses it in the right shape */
        enum router_api other = r->api == ROUTER_IAM ? ROUTER_STS : ROUTER_IAM;
        const struct router_op *o = router_find(other, action);
        if (o && !r->scoped) {
            r->api = other;
            r->op = o;
        }
    }
}

/* The operator endpoint of a path under OPS_PREFIX (or the prefix without
 * its slash), NULL when there is none there. */
static bool ops_classify(struct http_req *req, struct route *r)
{
    size_t n = strlen(OPS_PREFIX);
    if (strncmp(req->path, OPS_PREFIX, n) != 0 && strncmp(req->path, OPS_PREFIX, n - 1) != 0)
        return false;
    if (req->path[n - 1] != '/' && req->path[n - 1] != 0)
        return false; /* "/_hydrantx": an (invalid) bucket name, S3's */
    r->api = ROUTER_OPS;
    for (size_t i = 0; i < router_nops; i++) {
        const struct router_op *o = &router_ops[i];
        if (o->api == ROUTER_OPS && strcmp(o->path, req->path) == 0 &&
            strcmp(o->method, req->method) == 0 && !*req->query) {
            r->op = o;
            break;
        }
    }
    return true;
}

/* ---- issue 17: pages, preflights, CloudWatch and Logs --------------------
 * Kept in one block (the operator endpoints under /_hydrant/ are
 * classified by their own). Unsigned by design, and only these: GET
 * /_hydrant/metrics (metrics.c; its own bearer token when configured),
 * /_hydrant/console/... (console.c: its own session cookie and CSRF
 * token, never a SigV4 credential) and OPTIONS preflights, which are
 * answered from CORS rules alone (s3_cors.c) and never reach an API
 * handler. CloudWatch (Query, scope "monitoring") and CloudWatch Logs
 * (X-Amz-Target Logs_20140328.*) are signed like every API. */
#define LOGS_TARGET_PREFIX "Logs_20140328."
#define API_COUNT (ROUTER_PREFLIGHT + 1) /* enum router_api: the last is PREFLIGHT */

static const struct router_op *page_find(const char *path, const char *method, bool *any)
{
    *any = false;
    for (size_t i = 0; i < router_nops; i++) {
        const struct router_op *o = &router_ops[i];
        if (o->api != ROUTER_PAGES)
            continue;
        size_t n = strlen(o->path);
        /* a prefix row ("/_hydrant/console/") also takes its name without
         * the slash */
        bool match = (o->flags & ROUTER_PATH_PREFIX)
                         ? strncmp(path, o->path, n) == 0 ||
                               (strlen(path) == n - 1 && strncmp(path, o->path, n - 1) == 0)
                         : strcmp(path, o->path) == 0;
        if (!match)
            continue;
        *any = true;
        if (strcmp(o->method, method) == 0)
            return o;
    }
    return NULL;
}

static bool own_classify(struct http_req *req, struct route *r, const char *target)
{
    bool any;
    const struct router_op *page = page_find(req->path, req->method, &any);
    if (any) {
        r->api = ROUTER_PAGES;
        r->op = page;
        return true;
    }
    if (strcmp(req->method, "OPTIONS") == 0) {
        /* a preflight: "/" is the APIs' (unless a virtual host names a
         * bucket), any other path S3's */
        r->api = ROUTER_PREFLIGHT;
        bool s3 = strcmp(req->path, "/") != 0 || s3_vhost_bucket(req) != NULL;
        r->op = router_find(ROUTER_PREFLIGHT, s3 ? "PreflightS3" : "PreflightApi");
        return true;
    }
    if (target && strncmp(target, LOGS_TARGET_PREFIX, strlen(LOGS_TARGET_PREFIX)) == 0) {
        r->api = ROUTER_LOGS;
        r->target_op = target + strlen(LOGS_TARGET_PREFIX);
        r->op = router_find(ROUTER_LOGS, r->target_op);
        return true;
    }
    return false;
}

/* Admission of the unsigned rows (true: admitted without a signature),
 * and the CORS headers of any request that names an Origin. */
static bool own_admit(struct http_req *req, struct route *r, struct http_admit *out)
{
    if (r->api == ROUTER_PAGES || r->api == ROUTER_PREFLIGHT) {
        /* answered by router_handle so the connection stays open; only a
         * console form keeps a (small) body */
        out->max_body = r->op && strcmp(r->op->method, "POST") == 0 ? 64 * 1024 : 1;
        out->spool = false;
        return true;
    }
    if (http_header(req, "Origin"))
        cors_response_headers(req, r->api == ROUTER_S3); /* on whatever answer follows */
    return false;
}

static void own_unsigned(struct http_req *req, struct route *r)
{
    if (r->api == ROUTER_PREFLIGHT) {
        cors_preflight(req, r->op && strcmp(r->op->name, "PreflightS3") == 0);
        return;
    }
    if (!r->op) {
        static const char body[] = "{\"__type\":\"NotFound\",\"message\":\"No such page here "
                                   "for this method.\"}";
        http_reply(req, 405, "application/json", body, sizeof body - 1);
        return;
    }
    if (req->body_too_large) {
        static const char body[] = "{\"__type\":\"RequestEntityTooLarge\",\"message\":"
                                   "\"Request body is too large.\"}";
        http_reply(req, 413, "application/json", body, sizeof body - 1);
        return;
    }
    if (strcmp(r->op->name, "Metrics") == 0)
        metrics_handle(req);
    else
        console_handle(req); /* its own session cookie and CSRF token */
}

int router_op_slot(const struct http_req *req)
{
    const struct route *r = req->route;
    if (!r)
        return -1;
    if (r->op)
        return (int)(r->op - router_ops);
    return (int)(router_nops + r->api);
}

bool router_slot_label(int slot, const char **api, const char **op)
{
    if (slot < 0)
        return false;
    if ((size_t)slot < router_nops) {
        *api = router_api_name(router_ops[slot].api);
        *op = router_ops[slot].name;
        return true;
    }
    if ((size_t)slot < router_nops + API_COUNT) {
        *api = router_api_name((enum router_api)(slot - (int)router_nops));
        *op = "-";
        return true;
    }
    return false;
}

static void classify(struct http_req *req, struct route *r)
{
    /* hydrant's pages (metrics, console) first: the rest of /_hydrant/ is
     * the operator endpoints' (ops.c), a 404 there when no row matches */
    bool any_page;
    const struct router_op *page = page_find(req->path, req->method, &any_page);
    if (any_page) {
        r->api = ROUTER_PAGES;
        r->op = page;
        return;
    }
    if (strcmp(req->method, "OPTIONS") != 0 && ops_classify(req, r))
        return;
    const char *target = http_header(req, "X-Amz-Target");
    struct sigv4_scope sc;
    r->scoped = sigv4_scope_parse(req, &sc) == SIGV4_OK && sc.service[0];
    if (r->scoped) {
        memcpy(r->key, sc.access_key, sizeof r->key);
        memcpy(r->region, sc.region, sizeof r->region);
        memcpy(r->service, sc.service, sizeof r->service);
    }
    r->v2 = !r->scoped && sigv4_is_v2_presigned(req);
    bool scoped = r->scoped;
    const char *service = r->service;
    if (own_classify(req, r, target))
        return; /* issue 17: pages, preflights, CloudWatch, Logs */
    if (target) {
        size_t n = strlen(FIREHOSE_TARGET_PREFIX);
        if (strncmp(target, FIREHOSE_TARGET_PREFIX, n) == 0) {
            r->api = ROUTER_FIREHOSE;
            r->target_op = target + n;
            r->op = router_find(ROUTER_FIREHOSE, r->target_op);
        } else if (strncmp(target, GLUE_TARGET_PREFIX, strlen(GLUE_TARGET_PREFIX)) == 0) {
            r->api = ROUTER_GLUE;
            r->target_op = target + strlen(GLUE_TARGET_PREFIX);
            r->op = router_find(ROUTER_GLUE, r->target_op);
        } else {
            r->api = ROUTER_JSON; /* a JSON service hydrant does not serve */
        }
        return;
    }
    /* Lambda's REST paths, whatever the scope (a scope for another
     * service is refused in Lambda's shape). AWS tells Lambda and S3 apart
     * by host; here a bucket named "2015-03-31" is reachable only
     * virtual-host style. */
    if (lambda_is_path(req->path)) {
        r->api = ROUTER_LAMBDA;
        const char *name = lambda_route(req->method, req->path);
        r->op = name ? router_find(ROUTER_LAMBDA, name) : NULL;
        return;
    }
    /* "/" is where the JSON and query APIs live and S3's ListBuckets too:
     * only there does the scope pick the API */
    bool root = strcmp(req->path, "/") == 0;
    if (is_query_shape(req) ||
        (root && scoped && (strcmp(service, "iam") == 0 || strcmp(service, "sts") == 0 ||
                            strcmp(service, "monitoring") == 0))) {
        query_classify(req, r);
        return;
    }
    if (root && scoped && strcmp(service, "firehose") == 0) {
        r->api = ROUTER_FIREHOSE; /* no X-Amz-Target: no operation */
        return;
    }
    r->api = ROUTER_S3;
    r->op = s3_classify(req);
}

/* ---- keys ---------------------------------------------------------------- */

/* The session token a request carries (header, or presigned query). */
static const char *security_token(struct http_req *req)
{
    const char *t = http_header(req, "X-Amz-Security-Token");
    return t ? t : http_query_get(req, "X-Amz-Security-Token");
}

/* Looks the access key up once per request: the root pair, an IAM user's
 * key, or temporary credentials with their token (iam.c, sts.c). */
static int resolve(struct route *r, const char *akid)
{
    if (r->resolved && strcmp(akid, r->principal.akid) == 0)
        return r->resolve_rc;
    if (r->resolved)
        iam_principal_release(&r->principal);
    r->resolve_rc = iam_principal_resolve(akid, security_token(r->req), &r->principal,
                                          r->secret, sizeof r->secret);
    r->resolved = true;
    return r->resolve_rc;
}

static void release(struct route *r)
{
    if (r && r->resolved && !r->handed_off) {
        iam_principal_release(&r->principal);
        OPENSSL_cleanse(r->secret, sizeof r->secret);
        r->resolved = false;
    }
}

static int router_secret(const char *akid, char *secret, size_t size, void *ctx)
{
    struct route *r = ctx;
    if (!r || resolve(r, akid) != HY_OK || strlen(r->secret) >= size)
        return -1;
    strcpy(secret, r->secret);
    return 0;
}

const struct iam_principal *router_principal(const struct http_req *req)
{
    const struct route *r = req->route;
    return r && r->verified && r->resolved && r->resolve_rc == HY_OK ? &r->principal : NULL;
}

/* The root pair can be replaced at SIGHUP while requests verify (iam.c
 * reads hy_cfg's pair for the root): the new strings are published with
 * atomic stores and the old ones are never freed (a reload is rare and
 * the pair small), so a reader holds either pair's pointer, valid. A
 * request signed across the instant of a reload may fail its check. */
int router_set_root_key(const char *access_key_id, const char *secret_access_key)
{
    char *akid = strdup(access_key_id), *secret = strdup(secret_access_key);
    if (!akid || !secret) {
        free(akid);
        free(secret);
        return HY_ENOMEM;
    }
    __atomic_store_n(&hy_cfg.secret_access_key, secret, __ATOMIC_RELEASE);
    __atomic_store_n(&hy_cfg.access_key_id, akid, __ATOMIC_RELEASE);
    return HY_OK;
}

/* ---- answers in the API's shape --------------------------------------- */

/* extra: more XML inside <Error> (S3 only), already escaped. */
static void release(struct route *r);

static void reply_error(struct http_req *req, enum router_api api, int status,
                        const char *code, const char *message, const char *extra)
{
    char rid[37];
    /* the principal's reference goes back before the answer: after
     * http_reply the request is not ours any more */
    release(req->route);
    struct buf b;
    hy_uuid4(rid);
    buf_init(&b, 64 * 1024);
    enum sigv4_proto proto = api_proto(api);
    if (api == ROUTER_LAMBDA) {
        /* Lambda's REST-JSON errors: the type in x-amzn-ErrorType, the
         * body {"Type":"User","message":...} (botocore reads both) */
        json_t *o = json_pack("{s:s, s:s}", "Type", status >= 500 ? "Service" : "User",
                              "message", message);
        char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        http_add_header(req, "x-amzn-RequestId", rid);
        http_add_header(req, "x-amzn-ErrorType", code);
        http_reply(req, status, "application/json", body ? body : "{}",
                   body ? strlen(body) : 2);
        free(body);
        buf_free(&b);
        return;
    }
    if (proto == SIGV4_PROTO_JSON) {
        json_t *o = json_pack("{s:s, s:s}", "__type", code, "message", message);
        char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        http_add_header(req, "x-amzn-RequestId", rid);
        http_add_header(req, "x-amzn-ErrorType", code);
        http_reply(req, status, "application/x-amz-json-1.1", body ? body : "{}",
                   body ? strlen(body) : 2);
        free(body);
        return;
    }
    if (proto == SIGV4_PROTO_S3) {
        buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        buf_xml_escape(&b, code);
        buf_puts(&b, "</Code><Message>");
        buf_xml_escape(&b, message);
        buf_puts(&b, "</Message>");
        if (extra)
            buf_puts(&b, extra);
        buf_printf(&b, "<RequestId>%s</RequestId></Error>", rid);
        http_add_header(req, "x-amz-request-id", rid);
        /* HEAD answers carry no body; the status says it */
        bool head = strcmp(req->method, "HEAD") == 0;
        http_reply(req, status, "application/xml", head ? "" : b.data, head ? 0 : b.len);
    } else {
        buf_puts(&b, "<ErrorResponse><Error><Type>Sender</Type><Code>");
        buf_xml_escape(&b, code);
        buf_puts(&b, "</Code><Message>");
        buf_xml_escape(&b, message);
        buf_printf(&b, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>", rid);
        http_reply(req, status, "text/xml", b.data, b.len);
    }
    buf_free(&b);
}

static const char *op_name(const struct route *r)
{
    return r->op ? r->op->name : r->target_op ? r->target_op : "-";
}

/* A SigV4 result other than SIGV4_OK, answered and logged. */
static void deny_sigv4(struct http_req *req, struct route *r, int rc)
{
    struct sigv4_error e;
    sigv4_error(rc, api_proto(r->api), &r->auth, hy_now_ms(), &e);
    log_info("auth", "%s %s %s from %s, key %s: %s (%s)", router_api_name(r->api),
             op_name(r), req->path, req->remote_addr ? req->remote_addr : "?",
             r->auth.access_key[0] ? r->auth.access_key : r->key[0] ? r->key : "-", e.code,
             e.message);
    r->logged = true;
    reply_error(req, r->api, e.status, e.code, e.message, NULL);
}

/* A refusal that is not a signature result. */
static void deny(struct http_req *req, struct route *r, int status, const char *code,
                 const char *message)
{
    log_info("auth", "%s %s %s from %s, key %s: %s (%s)", router_api_name(r->api),
             op_name(r), req->path, req->remote_addr ? req->remote_addr : "?",
             r->auth.access_key[0] ? r->auth.access_key : r->key[0] ? r->key : "-", code,
             message);
    r->logged = true;
    reply_error(req, r->api, status, code, message, NULL);
}

/* A session token that is not ours (tampered, for another key, its user
 * or role gone) or has expired, in each API's words. */
static void token_refused(struct http_req *req, struct route *r, bool expired)
{
    switch (r->api) {
    case ROUTER_FIREHOSE:
    case ROUTER_JSON:
        deny(req, r, 400, expired ? "ExpiredTokenException" : "UnrecognizedClientException",
             expired ? "The security token included in the request is expired"
                     : "The security token included in the request is invalid.");
        return;
    case ROUTER_S3:
        deny(req, r, 400, expired ? "ExpiredToken" : "InvalidToken",
             expired ? "The provided token has expired."
                     : "The provided token is malformed or otherwise invalid.");
        return;
    default:
        deny(req, r, expired ? 400 : 403, expired ? "ExpiredToken" : "InvalidClientTokenId",
             expired ? "The security token included in the request is expired"
                     : "The security token included in the request is invalid.");
        return;
    }
}

/* ---- authentication ------------------------------------------------------ */

static bool bad_escape(const char *p)
{
    for (; *p; p++)
        if (*p == '%' && (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2])))
            return true;
    return false;
}

static bool has_credentials(const struct http_req *req)
{
    return http_header(req, "Authorization") || http_query_has(req, "X-Amz-Credential") ||
           http_query_has(req, "X-Amz-Signature") || ((struct route *)req->route)->v2;
}

static uint64_t body_ceiling(const struct route *r)
{
    uint64_t c;
    switch (r->api) {
    case ROUTER_FIREHOSE: c = hy_cfg.max_body_firehose ? hy_cfg.max_body_firehose : 8 * MIB; break;
    case ROUTER_IAM:
    case ROUTER_STS:
    case ROUTER_CLOUDWATCH: c = hy_cfg.max_body_query ? hy_cfg.max_body_query : MIB; break;
    case ROUTER_LOGS: c = 2 * MIB; break; /* PutLogEvents: 1 MiB of events, as JSON */
    case ROUTER_S3: c = hy_cfg.max_body_s3 ? hy_cfg.max_body_s3 : 16 * MIB; break;
    case ROUTER_GLUE: c = 2 * MIB; break; /* a TableInput with 131072-char types */
    case ROUTER_LAMBDA:
        /* code uploads: AWS's 50 MB zip, base64 in JSON; Invoke: 6 MB
         * (past it, lambda.c answers RequestTooLargeException) */
        c = !r->op || r->op->body != ROUTER_BODY_SMALL ? 64 * 1024
            : strcmp(r->op->name, "Invoke") == 0 ? LAMBDA_MAX_REQUEST + 64 * 1024
            : strcmp(r->op->name, "UpdateFunctionConfiguration") == 0 ? MIB
            : 70 * MIB;
        break;
    default: c = 64 * 1024; break;
    }
    return hy_cfg.max_body && hy_cfg.max_body < c ? hy_cfg.max_body : c;
}

/* The payload hash the request signed, for the checks that follow. */
static bool payload_is(const struct route *r, const char *what)
{
    return strcmp(r->auth.payload_hash, what) == 0;
}

/* What the headers alone condemn, whatever the API: HY_OK or answered. */
static int check_headers(struct http_req *req, struct route *r)
{
    if (!has_credentials(req)) {
        deny_sigv4(req, r, SIGV4_MISSING);
        return HY_EINVAL;
    }
    const char *want = api_service(r->api);
    if (want && r->scoped && strcmp(r->service, want) != 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "Credential should be scoped to correct service: '%s'.",
                 want);
        deny(req, r, r->api == ROUTER_S3 ? 400 : 403,
             r->api == ROUTER_S3 ? "AuthorizationHeaderMalformed"
             : (r->api == ROUTER_FIREHOSE || r->api == ROUTER_GLUE) ? "InvalidSignatureException"
                                                                   : "SignatureDoesNotMatch",
             msg);
        return HY_EINVAL;
    }
    int krc = r->scoped ? resolve(r, r->key) : HY_OK;
    if (krc == HY_EINVAL || krc == HY_ESTATE) {
        token_refused(req, r, krc == HY_ESTATE);
        return HY_EINVAL;
    }
    if (krc != HY_OK) {
        snprintf(r->auth.access_key, sizeof r->auth.access_key, "%s", r->key);
        deny_sigv4(req, r, SIGV4_UNKNOWN_KEY);
        return HY_EINVAL;
    }
    if (r->api == ROUTER_S3)
        return HY_OK; /* verified in full from the headers next */
    const char *csha = http_header(req, "x-amz-content-sha256");
    if (csha && (strncmp(csha, "STREAMING-", 10) == 0 || strcmp(csha, "UNSIGNED-PAYLOAD") == 0)) {
        deny(req, r, 400, (r->api == ROUTER_FIREHOSE || r->api == ROUTER_GLUE ||
                           r->api == ROUTER_LOGS)
                              ? "InvalidSignatureException" : "InvalidRequest",
             "This API signs its request body: x-amz-content-sha256 must be the "
             "SHA-256 of the body.");
        return HY_EINVAL;
    }
    if ((r->api == ROUTER_FIREHOSE || r->api == ROUTER_GLUE || r->api == ROUTER_LOGS) &&
        !sigv4_signs_header(req, "x-amz-target")) {
        deny(req, r, 400, "InvalidSignatureException",
             "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.");
        return HY_EINVAL;
    }
    return HY_OK;
}

static int verify(struct http_req *req, struct route *r)
{
    int64_t now = hy_now_ms();
    if (r->v2)
        return sigv4_verify_v2_presigned(req, s3_vhost_bucket(req), router_secret, r, now,
                                         &r->auth);
    return sigv4_verify(req, router_secret, r, now, &r->auth);
}

/* The body of a request verified from its headers (S3) against what was
 * signed for it: HY_OK, or answered. */
static int check_s3_body(struct http_req *req, struct route *r)
{
    bool has_body = req->body_path ? true : req->body_len > 0;
    const struct sigv4_auth *a = &r->auth;
    if (!r->v2 && strncmp(a->payload_hash, "STREAMING-", 10) == 0) {
        if (!r->op || r->op->body != ROUTER_BODY_UPLOAD) {
            deny(req, r, 400, "InvalidRequest",
                 "aws-chunked payloads are accepted only for PutObject and UploadPart.");
            return HY_EINVAL;
        }
        const char *dl = http_header(req, "x-amz-decoded-content-length");
        char *end = NULL;
        errno = 0;
        long long dlen = dl ? strtoll(dl, &end, 10) : -1;
        if (dl && (!*dl || *end || dlen < 0 || errno)) {
            deny(req, r, 400, "InvalidArgument",
                 "x-amz-decoded-content-length must be a non-negative number.");
            return HY_EINVAL;
        }
        /* the one decoder: every chunk signature checked as it decodes,
         * and s3.c sees only the decoded payload */
        int rc = sigv4_dechunk_request(req, a, dlen);
        if (rc != SIGV4_OK) {
            deny_sigv4(req, r, rc);
            return HY_EINVAL;
        }
        return HY_OK;
    }
    if (!r->v2 && !payload_is(r, "UNSIGNED-PAYLOAD")) {
        /* a hex SHA-256 was signed: the body must be the one it names */
        char got[65];
        if (req->body_path)
            hex_encode(got, req->body_sha256, 32);
        else
            sha256_hex(got, req->body, req->body_len);
        if (strcasecmp(got, a->payload_hash) == 0)
            return HY_OK;
        const char *extra = arena_printf(
            req->arena,
            "<ClientComputedContentSHA256>%s</ClientComputedContentSHA256>"
            "<S3ComputedContentSHA256>%s</S3ComputedContentSHA256>", a->payload_hash, got);
        log_info("auth", "s3 %s %s from %s, key %s: XAmzContentSHA256Mismatch", op_name(r),
                 req->path, req->remote_addr ? req->remote_addr : "?", a->access_key);
        r->logged = true;
        reply_error(req, ROUTER_S3, 400, "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was "
                    "computed.", extra);
        return HY_EINVAL;
    }
    /* UNSIGNED-PAYLOAD (or SigV2): S3 lets an upload's bytes go unsigned;
     * a body that a handler parses must be bound by a signed Content-MD5 */
    if (!has_body || (r->op && r->op->body == ROUTER_BODY_UPLOAD))
        return HY_OK;
    const char *md5 = http_header(req, "Content-MD5");
    unsigned char want[18], got[16];
    if (!md5 || (!r->v2 && !sigv4_signs_header(req, "content-md5")) || strlen(md5) != 24 ||
        base64_decode(want, md5, 24) != 16) {
        deny(req, r, 400, "InvalidRequest",
             "A request body under UNSIGNED-PAYLOAD needs a signed Content-MD5 header.");
        return HY_EINVAL;
    }
    unsigned int n = 0;
    if (req->body_path)
        memcpy(got, req->body_md5, 16);
    else if (EVP_Digest(req->body, req->body_len, got, &n, EVP_md5(), NULL) != 1)
        return deny(req, r, 500, "InternalError", "out of memory"), HY_ENOMEM;
    if (memcmp(want, got, 16) != 0) {
        deny(req, r, 400, "BadDigest",
             "The Content-MD5 you specified did not match what we received.");
        return HY_EINVAL;
    }
    return HY_OK;
}

/* A body over its ceiling, answered as each API answers it. */
static void too_large(struct http_req *req, struct route *r)
{
    if (r->api == ROUTER_S3 && r->op && r->op->body == ROUTER_BODY_UPLOAD) {
        unsigned long long max = hy_cfg.max_object ? hy_cfg.max_object : 5ull << 30;
        log_info("auth", "s3 %s %s: body over %llu bytes", op_name(r), req->path, max);
        r->logged = true;
        reply_error(req, ROUTER_S3, 400, "EntityTooLarge",
                    "Your proposed upload exceeds the maximum allowed size",
                    arena_printf(req->arena, "<MaxSizeAllowed>%llu</MaxSizeAllowed>", max));
        return;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "Request body is larger than %llu bytes.",
             (unsigned long long)body_ceiling(r));
    if (r->api == ROUTER_S3)
        deny(req, r, 400, "MaxMessageLengthExceeded", msg);
    else if (r->api == ROUTER_LAMBDA)
        deny(req, r, 413, r->op && strcmp(r->op->name, "Invoke") == 0
                              ? "RequestTooLargeException" : "RequestEntityTooLargeException",
             msg);
    else
        deny(req, r, 413, r->api == ROUTER_FIREHOSE ? "RequestEntityTooLargeException"
                                                    : "RequestEntityTooLarge", msg);
}

/* ---- authorization -------------------------------------------------------- */

/* DeliveryStreamName of a Firehose body. The SDKs put it first; when the
 * body starts {"DeliveryStreamName":"<name>", holds no other occurrence
 * of the member and no escape, that is what jansson (firehose.c) reads
 * too, without parsing the records. Anything else: jansson, which keeps
 * the last of duplicate members exactly as firehose.c's parse does. */
static const char *stream_name(struct http_req *req)
{
    static const char head[] = "{\"DeliveryStreamName\":\"";
    const char *b = req->body;
    size_t n = req->body_len;
    if (n > sizeof head && memcmp(b, head, sizeof head - 1) == 0 && !memchr(b, '\\', n)) {
        const char *start = b + sizeof head - 1;
        const char *end = memchr(start, '"', n - (size_t)(start - b));
        if (end && (size_t)(end - start) <= 64 &&
            !memmem(end, n - (size_t)(end - b), "\"DeliveryStreamName\"", 20))
            return arena_strndup(req->arena, start, (size_t)(end - start));
    }
    json_t *o = json_loadb(b, n, 0, NULL);
    const char *name = json_string_value(json_object_get(o, "DeliveryStreamName"));
    const char *out = name ? arena_strdup(req->arena, name) : NULL;
    json_decref(o);
    return out;
}

static const char *form_param(struct http_req *req, const char *name)
{
    if (strcmp(req->method, "POST") == 0)
        return url_query_get(req->arena, req->body, name, NULL);
    return http_query_get(req, name);
}

/* The ARN an operation acts on, built from the request. */
static const char *resource_arn(struct http_req *req, const struct route *r, const char **bucket)
{
    const char *b = NULL, *key = NULL;
    *bucket = NULL;
    switch (r->op->res) {
    case ROUTER_RES_STREAM: {
        const char *name = stream_name(req);
        return arena_printf(req->arena, "arn:aws:firehose:%s:%s:deliverystream/%s",
                            router_region(req), HY_ACCOUNT_ID, name ? name : "");
    }
    case ROUTER_RES_BUCKET:
    case ROUTER_RES_OBJECT:
        if (s3_policy_target(req, &b, &key) != HY_OK || !b)
            return "arn:aws:s3:::*";
        *bucket = b;
        if (r->op->res == ROUTER_RES_OBJECT && key)
            return arena_printf(req->arena, "arn:aws:s3:::%s/%s", b, key);
        if (strcmp(r->op->name, "DeleteObjects") == 0)
            return arena_printf(req->arena, "arn:aws:s3:::%s/*", b);
        return arena_printf(req->arena, "arn:aws:s3:::%s", b);
    case ROUTER_RES_ROLE:
    case ROUTER_RES_USER:
    case ROUTER_RES_GROUP: {
        const char *kind = r->op->res == ROUTER_RES_ROLE ? "role"
                           : r->op->res == ROUTER_RES_USER ? "user" : "group";
        const char *param = r->op->res == ROUTER_RES_ROLE ? "RoleName"
                            : r->op->res == ROUTER_RES_USER ? "UserName" : "GroupName";
        const char *name = form_param(req, param);
        if (!name && r->op->res == ROUTER_RES_USER && r->principal.kind == IAM_USER)
            name = r->principal.name; /* their own keys, their own user */
        char *arn = iam_entity_arn(kind, name, form_param(req, "Path"));
        const char *out = arn ? arena_strdup(req->arena, arn) : NULL;
        free(arn);
        return out;
    }
    case ROUTER_RES_POLICY: {
        const char *arn = form_param(req, "PolicyArn");
        if (arn)
            return arn;
        const char *name = form_param(req, "PolicyName"), *path = form_param(req, "Path");
        return arena_printf(req->arena, "arn:aws:iam::%s:policy%s%s", HY_ACCOUNT_ID,
                            path ? path : "/", name ? name : "*");
    }
    case ROUTER_RES_FUNCTION:
        return lambda_resource_arn(req, router_region(req));
    default:
        return r->api == ROUTER_S3 ? "arn:aws:s3:::*" : "*";
    }
}

/* AccessDenied in the API's shape. */
static void access_denied(struct http_req *req, struct route *r, const char *message)
{
    switch (r->api) {
    case ROUTER_FIREHOSE:
        deny(req, r, 400, "AccessDeniedException", message);
        return;
    case ROUTER_S3:
        deny(req, r, 403, "AccessDenied", message);
        return;
    case ROUTER_LAMBDA:
        deny(req, r, 403, "AccessDeniedException", message);
        return;
    default:
        deny(req, r, 403, "AccessDenied", message);
        return;
    }
}

/* Whether the authenticated principal may run the operation (AWS's
 * evaluation, policy.c); false once answered. The root, --iam=off, an
 * operation not in the table (its API answers it) and the STS actions
 * that decide for themselves (AssumeRole: the trust policy;
 * GetCallerIdentity and GetSessionToken need no permission) pass. */
static bool authorize(struct http_req *req, struct route *r)
{
    const struct iam_principal *p = &r->principal;
    if (!r->resolved || r->resolve_rc != HY_OK || p->kind == IAM_ROOT ||
        hy_iam_mode == IAM_MODE_OFF || r->api == ROUTER_STS || r->api == ROUTER_JSON ||
        (!r->op && r->api == ROUTER_FIREHOSE))
        return true; /* (Firehose and JSON without an operation are refused
                        before dispatch) */
    if (!r->op) {
        /* fail closed: no table row, no action to authorize -- whatever
         * the API would make of it, a principal other than the root gets
         * no further */
        char msg[700];
        snprintf(msg, sizeof msg, "User: %s is not authorized to perform this operation: "
                                  "it has no IAM action on this server", p->arn);
        access_denied(req, r, msg);
        return false;
    }
    const char *bucket = NULL;
    const char *arn = resource_arn(req, r, &bucket);
    if (!arn) {
        deny(req, r, 500, "InternalError", "out of memory");
        return false;
    }
    struct policy_key keys[64];
    const char *vals[64];
    char scratch[96];
    size_t nkeys = iam_context_keys(p, req->remote_addr, req->tls, keys, 60, scratch, vals, 60);
    /* S3's own keys for listings */
    static const char *const s3keys[][2] = {{"s3:prefix", "prefix"},
                                             {"s3:delimiter", "delimiter"},
                                             {"s3:max-keys", "max-keys"}};
    size_t nv = nkeys;
    if (r->api == ROUTER_S3 && strncmp(r->op->name, "ListObjects", 11) == 0) {
        for (size_t i = 0; i < 3 && nkeys < 64 && nv < 64; i++) {
            const char *v = http_query_get(req, s3keys[i][1]);
            if (!v)
                continue;
            vals[nv] = v;
            keys[nkeys].name = s3keys[i][0];
            keys[nkeys].values = &vals[nv];
            keys[nkeys].nvalues = 1;
            nkeys++;
            nv++;
        }
    }
    struct policy *bp = NULL;
    void *bp_ref = NULL;
    if (bucket && iam_bucket_policy_parsed(bucket, &bp, &bp_ref) != HY_OK) {
        deny(req, r, 500, "InternalError", "cannot read the bucket policy");
        return false;
    }
    struct policy_result res;
    iam_authorize(p, r->op->action, arn, bp, keys, nkeys, &res);
    iam_bucket_policy_release(bp_ref);
    if (res.decision == POLICY_ALLOW)
        return true;
    char msg[1400];
    policy_denial_message(p->arn, r->op->action, arn, &res, msg, sizeof msg);
    access_denied(req, r, msg);
    return false;
}

/* ---- the log line of a refusal by an API -------------------------------- */

/* text of the first <tag>...</tag> in an XML answer, into out */
static void xml_text(const char *body, size_t len, const char *tag, char *out, size_t size)
{
    char open[32];
    snprintf(open, sizeof open, "<%s>", tag);
    out[0] = 0;
    const char *p = memmem(body, len, open, strlen(open));
    if (!p)
        return;
    p += strlen(open);
    const char *end = memchr(p, '<', len - (size_t)(p - body));
    size_t n = end ? (size_t)(end - p) : 0;
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
}

/* What the request acts on, as "stream NAME" / "bucket NAME" / "role
 * NAME", or "-": read again from the request only on this error path. */
static void refused_resource(struct http_req *req, struct route *r, char *out, size_t size)
{
    snprintf(out, size, "-");
    if (r->api == ROUTER_FIREHOSE && req->body_len && !req->body_path) {
        json_t *o = json_loadb(req->body, req->body_len, 0, NULL);
        const char *name = json_string_value(json_object_get(o, "DeliveryStreamName"));
        if (name)
            snprintf(out, size, "stream %.64s", name);
        json_decref(o);
    } else if (r->api == ROUTER_S3) {
        const char *bucket = s3_vhost_bucket(req);
        const char *p = req->path + 1, *slash = strchr(p, '/');
        size_t n = bucket ? strlen(bucket) : slash ? (size_t)(slash - p) : strlen(p);
        if (n)
            snprintf(out, size, "bucket %.*s", (int)(n < 64 ? n : 63), bucket ? bucket : p);
    } else if (r->api == ROUTER_IAM && req->body_len) {
        const char *role = url_query_get(req->arena, req->body, "RoleName", NULL);
        if (role)
            snprintf(out, size, "role %.64s", role);
    }
}

/* http_reply_hook_fn: an answer >= 400 the router did not log itself is
 * an API's refusal (no such stream, validation, a missing bucket...):
 * one info line with the operation, what it names, the principal (the
 * access key id) and AWS's error type. Operator endpoints are not
 * logged. */
void router_log_refusal(struct http_req *req, int status, const void *body, size_t len)
{
    struct route *r = req->route;
    if (!r || r->logged || r->api == ROUTER_OPS || hy_log_level > HY_LOG_INFO)
        return;
    char code[96] = "", message[200] = "", what[96];
    const char *b = body ? body : "";
    if (api_proto(r->api) == SIGV4_PROTO_JSON) {
        json_t *o = len ? json_loadb(b, len, 0, NULL) : NULL;
        const char *t = json_string_value(json_object_get(o, "__type"));
        const char *m = json_string_value(json_object_get(o, "message"));
        if (!m)
            m = json_string_value(json_object_get(o, "Message"));
        snprintf(code, sizeof code, "%s", t ? (strchr(t, '#') ? strchr(t, '#') + 1 : t) : "");
        snprintf(message, sizeof message, "%s", m ? m : "");
        json_decref(o);
    } else if (len) {
        xml_text(b, len, "Code", code, sizeof code);
        xml_text(b, len, "Message", message, sizeof message);
    }
    refused_resource(req, r, what, sizeof what);
    const char *key = r->auth.access_key[0] ? r->auth.access_key : r->key[0] ? r->key : "-";
    log_info("refused", "%s %s %s, key %s from %s: %d %s%s%s", router_api_name(r->api),
             op_name(r), what, key, req->remote_addr ? req->remote_addr : "?", status,
             code[0] ? code : "-", message[0] ? ": " : "", message);
}

/* ---- the two entry points --------------------------------------------- */

static struct route *route_of(struct http_req *req)
{
    struct route *r = req->route;
    if (!r) {
        r = arena_alloc(req->arena, sizeof *r);
        if (!r)
            return NULL;
        r->req = req;
        req->route = r;
    }
    return r;
}

static bool admit(struct http_req *req, struct http_admit *out)
{
    struct route *r = route_of(req);
    if (!r) {
        http_reply(req, 500, "text/plain", "out of memory\n", 14);
        return false;
    }
    classify(req, r);
    if (own_admit(req, r, out))
        return true; /* issue 17: unsigned pages and preflights */
    if (r->api == ROUTER_OPS) {
        /* unsigned by design, nothing logged (probes come every few
         * seconds); answered by router_handle so the connection stays
         * open (an answer before the body would close it): no body is
         * kept (a ceiling of 1 byte, never used) */
        out->max_body = 1;
        out->spool = false;
        return true;
    }
    if (r->api != ROUTER_S3)
        r->v2 = false; /* SigV2 is S3's only */
    out->max_body = body_ceiling(r);
    out->spool = r->api == ROUTER_S3 && r->op && r->op->body == ROUTER_BODY_UPLOAD;
    if (req->headers_too_many) {
        /* S3's answer is RequestHeaderSectionTooLarge, 400; the JSON and
         * query APIs document none: HTTP's 431 with the same code */
        deny(req, r, r->api == ROUTER_S3 ? 400 : 431, "RequestHeaderSectionTooLarge",
             "Your request header section exceeds the maximum allowed size.");
        return false;
    }
    if (r->api == ROUTER_S3 && (bad_escape(req->path) || s3_target_level(req) < 0)) {
        /* S3 cannot say what such a path names; it answers InvalidURI
         * before looking at anything else, and so do we -- without any
         * handler seeing the request */
        deny(req, r, 400, "InvalidURI", "Couldn't parse the specified URI.");
        return false;
    }
    /* a declared length over the ceiling: refused as AWS's front door
     * does, before anything else (http.c also stops a body that grows past
     * it while arriving) */
    const char *cl = http_header(req, "Content-Length");
    if (cl && !out->spool) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (!errno && !*end && *cl && v > out->max_body) {
            too_large(req, r);
            return false;
        }
    }
    if (check_headers(req, r) != HY_OK)
        return false;
    if (!ops_ready()) {
        /* still recovering (or stopping): nothing is served yet */
        deny(req, r, 503, r->api == ROUTER_S3 ? "SlowDown" : "ServiceUnavailableException",
             "hydrant is starting: recovery has not finished (see GET /_hydrant/ready).");
        return false;
    }
    if (r->api == ROUTER_S3) {
        int rc = verify(req, r);
        if (rc == SIGV4_BAD_CONTENT_SHA256)
            rc = SIGV4_OK; /* signed right; the body is checked once it is in */
        if (rc != SIGV4_OK) {
            deny_sigv4(req, r, rc);
            return false;
        }
        r->verified = true;
    }
    return true;
}

/* A refused request gives its principal back (the cache's reference). */
bool router_admit(struct http_req *req, struct http_admit *out)
{
    return admit(req, out); /* a refusal released the principal (reply_error) */
}

static void handle(struct http_req *req, struct iam_identity **held);

void router_handle(struct http_req *req)
{
    struct iam_identity *held = NULL;
    handle(req, &held);
    /* not req->route: once the API answered, the request is not ours */
    iam_identity_put(held);
}

static void handle(struct http_req *req, struct iam_identity **held)
{
    struct route *r = req->route;
    if (!r) {
        /* called without admission (tests, fuzzing): admit now */
        struct http_admit adm;
        if (!admit(req, &adm))
            return;
        r = req->route;
    }
    if (r->api == ROUTER_OPS) {
        ops_handle(req, r->op);
        return;
    }
    if (r->api == ROUTER_PAGES || r->api == ROUTER_PREFLIGHT) {
        own_unsigned(req, r); /* issue 17: no signature by design */
        return;
    }
    if (r->api == ROUTER_IAM || r->api == ROUTER_STS || r->api == ROUTER_CLOUDWATCH)
        query_classify(req, r); /* the Action may be in the body */
    if (req->body_too_large) {
        too_large(req, r);
        return;
    }
    if (req->body_rc == HY_EBUSY) {
        deny(req, r, 503, r->api == ROUTER_S3 ? "SlowDown" : "ServiceUnavailableException",
             "Please reduce your request rate.");
        return;
    }
    if (!r->verified) {
        int rc = verify(req, r);
        if (rc != SIGV4_OK) {
            deny_sigv4(req, r, rc);
            return;
        }
        r->verified = true;
    } else if (r->api == ROUTER_S3 && !req->body_rc && check_s3_body(req, r) != HY_OK) {
        return;
    }

    /* authenticated; authorized (policy.c) before any API code runs */
    if (!authorize(req, r))
        return;
    if (r->resolved && r->principal.kind == IAM_USER && !r->principal.expires_ms)
        iam_note_key_use(r->principal.akid, api_service(r->api), router_region(req));
    /* the handler may answer from another thread (a put waits for its
     * fsync): the reference is router_handle's from here on */
    if (r->resolved) {
        *held = r->principal.ident;
        r->handed_off = true;
        OPENSSL_cleanse(r->secret, sizeof r->secret);
    }
    /* the region the request was signed for reaches the API in req
     * (APIs never call back into the router) */
    req->region = router_region(req);
    switch (r->api) {
    case ROUTER_FIREHOSE:
        if (!r->op) {
            deny(req, r, 400, "UnknownOperationException",
                 r->target_op ? "The operation is not supported."
                              : "Missing X-Amz-Target: no operation named.");
            break;
        }
        firehose_handle(req, r->op->name);
        break;
    case ROUTER_IAM:
    case ROUTER_STS:
        iam_handle(req);
        break;
    case ROUTER_S3:
        if (r->op && strstr(r->op->name, "BucketPolicy")) {
            s3_policy_handle(req, r->op->name);
        } else if (r->op && strcmp(r->op->name, "DeleteBucket") == 0) {
            /* the bucket's policy goes with it (read before the answer) */
            char bucket[64] = "";
            const char *b = NULL, *k = NULL;
            if (s3_policy_target(req, &b, &k) == HY_OK && b && strlen(b) < sizeof bucket)
                strcpy(bucket, b);
            s3_handle(req);
            if (bucket[0])
                s3_policy_bucket_gone(bucket);
        } else {
            s3_handle(req);
        }
        break;
    case ROUTER_GLUE:
        if (!r->op) {
            deny(req, r, 400, "UnknownOperationException", "The operation is not supported.");
            break;
        }
        glue_handle(req, r->op->name);
        break;
    case ROUTER_JSON:
        deny(req, r, 400, "UnknownOperationException", "The operation is not supported.");
        break;
    case ROUTER_OPS:
        break; /* answered above, before any check */
    case ROUTER_LAMBDA:
        if (!r->op) {
            deny(req, r, 404, "UnknownOperationException", "The operation is not supported.");
            break;
        }
        lambda_handle(req, r->op->name);
        break;
    case ROUTER_CLOUDWATCH:
    case ROUTER_LOGS:
        if (!r->op) {
            if (r->api == ROUTER_CLOUDWATCH)
                deny(req, r, 400, "InvalidAction", "The action or operation requested is "
                     "invalid. Verify that the action is typed correctly.");
            else
                deny(req, r, 400, "UnknownOperationException", "The operation is not supported.");
            break;
        }
        if (r->api == ROUTER_CLOUDWATCH)
            cloudwatch_handle(req, r->op->name);
        else
            logs_handle(req, r->op->name);
        break;
    case ROUTER_PAGES:
    case ROUTER_PREFLIGHT:
        break; /* answered above, before any check */
    }
}
