/* lambda.h -- hydrant's AWS Lambda: the API it serves (a minimal subset),
 * the local function runtime behind it, and the invoke client the
 * delivery pipeline's Lambda processor calls (see lambda.c).
 */
#ifndef HYDRANT_LAMBDA_H
#define HYDRANT_LAMBDA_H

#include "server.h"

/* AWS's synchronous invocation limits: a request payload of at most
 * 6 MB (6291456 bytes, "Request must be smaller than 6291456 bytes for
 * the InvokeFunction operation") and a response of at most 6291556 bytes
 * (Function.ResponseSizeTooLarge quotes that number). */
#define LAMBDA_MAX_REQUEST 6291456u
#define LAMBDA_MAX_RESPONSE 6291556u

/* Filled by main.c from the --lambda-* flags (defaults in lambda.c). */
struct lambda_config {
    bool runtime;                  /* --lambda-runtime=on|off (default on) */
    const char *runtime_dir;       /* --lambda-runtime-dir: bootstrap.py,
                                    * bootstrap.js, unzip.py; NULL: found
                                    * next to the binary (lambda_open) */
    int workers;                   /* --lambda-workers: pool per function (2) */
    const char *python;            /* interpreter paths (/usr/bin/python3, */
    const char *node;              /*   /usr/bin/node) */
    /* --lambda-endpoint: when set, lambda_invoke calls that endpoint's
     * Lambda Invoke API (libcurl, SigV4 "aws:amz:<region>:lambda") with
     * these credentials (--lambda-access-key-id / --lambda-secret-access-key,
     * else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN) */
    const char *endpoint;
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;
};
extern struct lambda_config lambda_cfg;

/* Opens (creating) <data_dir>/lambda/: the function catalog lambda.db and
 * the unpacked code. With the runtime on, finds the bootstrap scripts:
 * HY_ENOTFOUND when --lambda-runtime-dir names a directory without them;
 * none next to the binary only logs a warning (functions are then refused
 * with a message naming the flag). lambda_close kills and reaps every
 * worker and closes the catalog. */
int lambda_open(const char *data_dir);
void lambda_close(void);
/* At shutdown, before http_stop: refuses new Invoke requests (503) and
 * waits up to grace_ms for those in flight (each answers from its own
 * thread; Event invocations waiting for a retry give it up), then kills
 * the workers of any still running, so every suspended Invoke connection
 * has its answer before the listener stops. */
void lambda_drain(int grace_ms);

/* The router's classification of a Lambda REST path (raw, percent-
 * encoded): whether it is one of Lambda's (/2015-03-31/functions...),
 * and which operation method + path name, or NULL. Pure parsing; no
 * handler code runs. */
bool lambda_is_path(const char *path);
const char *lambda_route(const char *method, const char *path);
/* For the router's authorization, once the request is authenticated: the
 * ARN of the function it acts on (the path's, or CreateFunction's
 * FunctionName), "arn:aws:lambda:<region>:000000000000:function:<name>",
 * in req's arena; "...:function:*" when no name can be read; NULL when out
 * of memory. */
const char *lambda_resource_arn(struct http_req *req, const char *region);

/* Invokes `function` (a name, a partial ARN "000000000000:function:name"
 * or a full ARN; qualifier $LATEST or none) synchronously with the event
 * payload[0..len) (JSON), in `region` unless the ARN names one.
 *
 * Without --lambda-endpoint: hydrant's own runtime, directly (no HTTP).
 * With it: that endpoint's Invoke API over HTTP(S), SigV4-signed.
 *
 * HY_OK: *out holds the function's response payload (at most
 * LAMBDA_MAX_RESPONSE bytes) and *function_error says whether it is an
 * error object (X-Amz-Function-Error: Unhandled -- an exception, a
 * timeout: {"errorType":"Sandbox.Timedout",...}, a crash). Otherwise the
 * invocation did not happen or its answer was lost, a sentence in why:
 * HY_ENOTFOUND no such function, HY_ETOOBIG payload over 6 MB, HY_EBUSY
 * every worker busy past the function's timeout (429), HY_ESTATE the
 * runtime is off, HY_EIO the endpoint failed, HY_ENOMEM. Thread-safe;
 * blocks for up to the function's timeout. out is appended to (its
 * ceiling applies). */
int lambda_invoke(const char *function, const char *region, const void *payload, size_t len,
                  struct buf *out, bool *function_error, char *why, size_t why_len);

/* ---- the Lambda processor's response parser (processors/lambda.c) ----
 * Exposed for its fuzzer (tests/fuzz/fuzz_lambda_response.c) and tests.
 *
 * A Firehose transformation function answers
 *   {"records":[{"recordId":..., "result":"Ok"|"Dropped"|"ProcessingFailed",
 *                "data":"<base64>", "metadata":{"partitionKeys":{...}}}]}
 * for the n records it was sent, whose recordIds were id_prefix followed
 * by the record's index in decimal. Each record gets a state: */
enum lambda_rec_state {
    LAMBDA_REC_MISSING = 0,   /* not returned: Lambda.MissingRecordId */
    LAMBDA_REC_OK,            /* data (and partition keys) in the result */
    LAMBDA_REC_DROPPED,
    LAMBDA_REC_FAILED,        /* ProcessingFailed: Lambda.ProcessingFailedStatus */
    LAMBDA_REC_DUPLICATED,    /* returned twice: Lambda.DuplicatedRecordId */
    LAMBDA_REC_INVALID,       /* a result or data AWS rejects:
                               * Lambda.JsonProcessingException */
};
struct lambda_rec_result {
    uint8_t state;            /* enum lambda_rec_state */
    uint32_t off, len;        /* OK: decoded data in resp->data */
    uint32_t keys_off, keys_len;  /* OK: "name\0value\0..." in resp->keys */
    uint32_t nkeys;
};
struct lambda_resp {
    size_t n;
    struct lambda_rec_result *recs;   /* n of them */
    struct buf data;
    struct buf keys;
    size_t unknown_ids;               /* returned ids of no record sent */
    char msg[256];                    /* why the whole response was refused */
};
/* HY_OK (every record has its state), HY_EINVAL (not a response at all:
 * not JSON, no records array; msg says why; the invocation's records
 * fail with Lambda.JsonProcessingException), HY_ENOMEM. Free with
 * lambda_resp_free (also after an error). */
int lambda_resp_parse(const char *body, size_t len, const char *id_prefix, size_t n,
                      struct lambda_resp *out);
void lambda_resp_free(struct lambda_resp *r);

#endif
