/* processors/lambda.c -- the Lambda processor: AWS's data transformation
 * with the user's own function.
 *
 * Parameters (AWS's ProcessorParameter names), checked at create/update:
 *   LambdaArn                required: arn:aws[-*]:lambda:<region>:<12 digits>:function:
 *                            <name>[:<qualifier>]
 *   NumberOfRetries          0..300, default 3 (retries after the first
 *                            attempt: attemptsMade is at most 1 + this)
 *   BufferSizeInMBs          0.2..3, a decimal, default 1 (MiB of record
 *                            data per invocation)
 *   BufferIntervalInSeconds  0..900, default 60 (delivery's buffering
 *                            already bounds a batch's age; accepted and
 *                            checked here, the batch is what delivery took)
 *   RoleArn                  an IAM role ARN (the role Firehose invokes with)
 * anything else, or a parameter given twice, is refused.
 *
 * run(): the batch goes out in invocations of at most BufferSizeInMBs of
 * record data and at most 6 MB (LAMBDA_MAX_REQUEST) of request. The event
 * is AWS's:
 *   {"invocationId":"<uuid>","deliveryStreamArn":"...","region":"...",
 *    "records":[{"recordId":"<id>","approximateArrivalTimestamp":<ms>,
 *                "data":"<base64>"}]}
 * recordIds are a per-invocation 20-digit prefix and the record's index
 * in the invocation, so the answer is mapped back without a search.
 *
 * Outcomes, as AWS writes them in its processing-failed error records
 * (errorCode / errorMessage):
 *   the invocation failed (not found, throttled, endpoint down) or the
 *   function failed (an exception, a crash, a response over 6 MB) or timed
 *   out: retried NumberOfRetries times, then every record of the
 *   invocation fails, attemptsMade = attempts made:
 *     Lambda.FunctionError  "The Lambda function was successfully invoked
 *                            but it returned an error result."
 *     Lambda.FunctionTimedOut "The Lambda function invocation timed out.
 *                            Increase the Timeout setting in the Lambda
 *                            function."
 *     Lambda.InvocationFailure  hydrant's name for an invocation that
 *                            never ran (unverified: AWS's code for it is
 *                            not documented); the reason as message
 *   the response is read once, not retried (AWS's captured error records
 *   of these carry attemptsMade 1):
 *     not JSON / no records array: every record Lambda.JsonProcessingException
 *     a record not returned  Lambda.MissingRecordId "One or more record Ids
 *                            were not returned. Ensure that the Lambda
 *                            function returns all received record Ids."
 *     a record returned twice Lambda.DuplicatedRecordId "Multiple records
 *                            were returned with the same record Id. Ensure
 *                            that the Lambda function returns a unique
 *                            record Id for each record."
 *     a result not Ok/Dropped/ProcessingFailed, Ok without base64 data,
 *     partition keys that are not strings or more than 50 of them:
 *     Lambda.JsonProcessingException
 *   per record: Ok -> the new data (and metadata.partitionKeys as the
 *   record's partitionKeyFromLambda keys); Dropped -> nothing;
 *   ProcessingFailed -> Lambda.ProcessingFailedStatus "ProcessingFailed
 *   status set for record". Every failure goes to the error output with
 *   output type processing-failed and lambdaArn set.
 *
 * Threading: run() is called on delivery threads, several at once; it
 * keeps no state (lambda_invoke is thread-safe).
 */
#include "lambda.h"
#include "pipeline.h"

/* The invoke client is lambda.c's. Referenced weakly so that a program
 * linking src/processors/ without it (fuzz_processors) still links: the
 * processor then fails its records (Lambda.InvocationFailure). */
#pragma weak lambda_invoke

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1u << 20)
#define ID_PREFIX_LEN 20
#define LAMBDA_MAX_KEYS 50   /* partition keys per record (dynamic partitioning) */

static const char FUNCTION_ERROR_MSG[] =
    "The Lambda function was successfully invoked but it returned an error result.";
static const char TIMED_OUT_MSG[] =
    "The Lambda function invocation timed out. Increase the Timeout setting in the Lambda "
    "function.";
static const char MISSING_MSG[] =
    "One or more record Ids were not returned. Ensure that the Lambda function returns all "
    "received record Ids.";
static const char DUPLICATED_MSG[] =
    "Multiple records were returned with the same record Id. Ensure that the Lambda function "
    "returns a unique record Id for each record.";
static const char FAILED_MSG[] = "ProcessingFailed status set for record";
static const char OUTPUT_TYPE[] = "processing-failed";

/* ---- parameters ----------------------------------------------------------- */

static bool lambda_arn_ok(const char *v)
{
    /* arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>] */
    char part[8][141];
    int np = 0;
    const char *p = v;
    if (strlen(v) > 512)
        return false;
    for (;;) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (np == 8 || n > 140)
            return false;
        memcpy(part[np], p, n);
        part[np++][n] = 0;
        if (!c)
            break;
        p = c + 1;
    }
    if ((np != 7 && np != 8) || strcmp(part[0], "arn") || strncmp(part[1], "aws", 3) ||
        strcmp(part[2], "lambda") || !part[3][0] || strlen(part[4]) != 12 ||
        strspn(part[4], "0123456789") != 12 || strcmp(part[5], "function") ||
        !part[6][0] || strlen(part[6]) > 64)
        return false;
    for (const char *c = part[6]; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return false;
    for (const char *c = part[3]; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
            return false;
    return np == 7 || part[7][0];
}

/* A decimal (digits, one optional point) in [lo, hi]: HY_OK and *out. */
static int parse_decimal(const char *v, double lo, double hi, double *out)
{
    size_t digits = 0, points = 0;
    for (const char *c = v; *c; c++) {
        if (*c >= '0' && *c <= '9')
            digits++;
        else if (*c == '.')
            points++;
        else
            return HY_EINVAL;
    }
    if (!digits || points > 1 || strlen(v) > 16)
        return HY_EINVAL;
    double d = strtod(v, NULL);
    if (!(d >= lo && d <= hi))
        return HY_EINVAL;
    *out = d;
    return HY_OK;
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
    if (!*v || strlen(v) > 9 || strspn(v, "0123456789") != strlen(v))
        return HY_EINVAL;
    long n = strtol(v, NULL, 10);
    if (n < lo || n > hi)
        return HY_EINVAL;
    *out = n;
    return HY_OK;
}

struct params {
    const char *arn;
    long retries;
    double buffer_mb;
    long interval;
    const char *role;
};

/* The parameters, checked: HY_OK, or HY_EINVAL with AWS's message. */
static int read_params(const struct pl_param *p, size_t n, struct params *out, char *msg,
                       size_t msg_len)
{
    static const char *const names[] = {"LambdaArn", "NumberOfRetries", "BufferSizeInMBs",
                                        "BufferIntervalInSeconds", "RoleArn"};
    memset(out, 0, sizeof *out);
    out->retries = 3;
    out->buffer_mb = 1;
    out->interval = 60;
    for (size_t i = 0; i < n; i++) {
        const char *name = p[i].name ? p[i].name : "", *v = p[i].value ? p[i].value : "";
        bool known = false;
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            known |= !strcmp(name, names[k]);
        if (!known) {
            snprintf(msg, msg_len, "Processor parameter %s is not valid for a processor of "
                     "type Lambda (valid: LambdaArn, NumberOfRetries, BufferSizeInMBs, "
                     "BufferIntervalInSeconds, RoleArn).", name);
            return HY_EINVAL;
        }
        for (size_t j = 0; j < i; j++)
            if (p[j].name && !strcmp(p[j].name, name)) {
                snprintf(msg, msg_len, "Processor parameter %s is specified more than once "
                         "for processor type Lambda.", name);
                return HY_EINVAL;
            }
        if (!*v) {
            snprintf(msg, msg_len, "Processor parameter %s must have a non-empty value.",
                     name);
            return HY_EINVAL;
        }
        if (!strcmp(name, "LambdaArn")) {
            if (!lambda_arn_ok(v)) {
                snprintf(msg, msg_len, "LambdaArn '%.200s' is not a Lambda function ARN "
                         "(arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]).",
                         v);
                return HY_EINVAL;
            }
            out->arn = v;
        } else if (!strcmp(name, "NumberOfRetries")) {
            if (parse_int(v, 0, 300, &out->retries)) {
                snprintf(msg, msg_len, "NumberOfRetries must be an integer from 0 to 300, "
                         "not '%.40s'.", v);
                return HY_EINVAL;
            }
        } else if (!strcmp(name, "BufferSizeInMBs")) {
            if (parse_decimal(v, 0.2, 3, &out->buffer_mb)) {
                snprintf(msg, msg_len, "BufferSizeInMBs must be a number from 0.2 to 3, "
                         "not '%.40s'.", v);
                return HY_EINVAL;
            }
        } else if (!strcmp(name, "BufferIntervalInSeconds")) {
            if (parse_int(v, 0, 900, &out->interval)) {
                snprintf(msg, msg_len, "BufferIntervalInSeconds must be an integer from 0 to "
                         "900, not '%.40s'.", v);
                return HY_EINVAL;
            }
        } else { /* RoleArn */
            if (strncmp(v, "arn:aws", 7) || !strstr(v, ":iam::") || !strstr(v, ":role/") ||
                strlen(v) > 512) {
                snprintf(msg, msg_len, "RoleArn '%.200s' is not an IAM role ARN.", v);
                return HY_EINVAL;
            }
            out->role = v;
        }
    }
    if (!out->arn) {
        snprintf(msg, msg_len, "Processor type Lambda requires the parameter LambdaArn.");
        return HY_EINVAL;
    }
    return HY_OK;
}

static int lambda_check(const struct pl_param *p, size_t n, char *msg, size_t msg_len)
{
    struct params prm;
    return read_params(p, n, &prm, msg, msg_len);
}

/* ---- the response parser -------------------------------------------------- */

void lambda_resp_free(struct lambda_resp *r)
{
    free(r->recs);
    r->recs = NULL;
    buf_free(&r->data);
    buf_free(&r->keys);
}

/* The index an id names (id_prefix + decimal index < n), or -1. */
static long id_index(const char *id, const char *prefix, size_t n)
{
    size_t pl = strlen(prefix);
    if (strncmp(id, prefix, pl) != 0)
        return -1;
    const char *d = id + pl;
    size_t nd = strlen(d);
    if (nd < 1 || nd > 9 || strspn(d, "0123456789") != nd || (nd > 1 && d[0] == '0'))
        return -1;
    long i = strtol(d, NULL, 10);
    return (size_t)i < n ? i : -1;
}

static int parse_one(json_t *e, const char *prefix, struct lambda_resp *out)
{
    const char *id = json_string_value(json_object_get(e, "recordId"));
    long i = id ? id_index(id, prefix, out->n) : -1;
    if (i < 0) {
        out->unknown_ids++;
        return HY_OK;
    }
    struct lambda_rec_result *r = &out->recs[i];
    if (r->state != LAMBDA_REC_MISSING) {
        r->state = LAMBDA_REC_DUPLICATED;
        return HY_OK;
    }
    const char *result = json_string_value(json_object_get(e, "result"));
    if (!result) {
        r->state = LAMBDA_REC_INVALID;
        return HY_OK;
    }
    if (!strcmp(result, "Dropped")) {
        r->state = LAMBDA_REC_DROPPED;
        return HY_OK;
    }
    if (!strcmp(result, "ProcessingFailed")) {
        r->state = LAMBDA_REC_FAILED;
        return HY_OK;
    }
    if (strcmp(result, "Ok") != 0) {
        r->state = LAMBDA_REC_INVALID;
        return HY_OK;
    }
    json_t *jd = json_object_get(e, "data");
    const char *b64 = json_string_value(jd);
    if (!b64) {
        r->state = LAMBDA_REC_INVALID;
        return HY_OK;
    }
    size_t blen = json_string_length(jd);
    int rc = buf_reserve(&out->data, blen / 4 * 3 + 3);
    if (rc)
        return rc;
    long got = base64_decode(out->data.data + out->data.len, b64, blen);
    if (got < 0 || out->data.len > UINT32_MAX - (size_t)got) {
        r->state = LAMBDA_REC_INVALID;
        return HY_OK;
    }
    /* partition keys: an object of strings */
    json_t *keys = json_object_get(json_object_get(e, "metadata"), "partitionKeys");
    size_t kstart = out->keys.len;
    uint32_t nkeys = 0;
    if (keys && !json_is_object(keys) && !json_is_null(keys)) {
        r->state = LAMBDA_REC_INVALID;
        return HY_OK;
    }
    if (json_is_object(keys)) {
        const char *k;
        json_t *v;
        json_object_foreach(keys, k, v) {
            if (!json_is_string(v) || !*k) {
                out->keys.len = kstart;
                if (out->keys.data)
                    out->keys.data[kstart] = 0;
                r->state = LAMBDA_REC_INVALID;
                return HY_OK;
            }
            if (nkeys == LAMBDA_MAX_KEYS) { /* more than dynamic partitioning takes */
                out->keys.len = kstart;
                out->keys.data[kstart] = 0;
                r->state = LAMBDA_REC_INVALID;
                return HY_OK;
            }
            if ((rc = buf_append(&out->keys, k, strlen(k) + 1)) ||
                (rc = buf_append(&out->keys, json_string_value(v),
                                 strlen(json_string_value(v)) + 1)))
                return rc;
            nkeys++;
        }
    }
    if (out->keys.len - kstart > UINT32_MAX || kstart > UINT32_MAX) {
        r->state = LAMBDA_REC_INVALID;
        return HY_OK;
    }
    r->state = LAMBDA_REC_OK;
    r->off = (uint32_t)out->data.len;
    r->len = (uint32_t)got;
    out->data.len += (size_t)got;
    out->data.data[out->data.len] = 0;
    r->keys_off = (uint32_t)kstart;
    r->keys_len = (uint32_t)(out->keys.len - kstart);
    r->nkeys = nkeys;
    return HY_OK;
}

int lambda_resp_parse(const char *body, size_t len, const char *id_prefix, size_t n,
                      struct lambda_resp *out)
{
    int rc = HY_OK;
    memset(out, 0, sizeof *out);
    out->n = n;
    buf_init(&out->data, (size_t)LAMBDA_MAX_RESPONSE);
    buf_init(&out->keys, (size_t)LAMBDA_MAX_RESPONSE);
    out->recs = calloc(n ? n : 1, sizeof *out->recs);
    if (!out->recs)
        return HY_ENOMEM;
    json_error_t e;
    json_t *doc = json_loadb(body, len, 0, &e);
    if (!doc) {
        snprintf(out->msg, sizeof out->msg, "The response of the Lambda function is not "
                 "JSON: %s (line %d, column %d).", e.text, e.line, e.column);
        return HY_EINVAL;
    }
    json_t *records = json_object_get(doc, "records");
    if (!json_is_array(records)) {
        snprintf(out->msg, sizeof out->msg, "The response of the Lambda function has no "
                 "records array: it must be {\"records\":[{\"recordId\",\"result\",\"data\"}]}.");
        rc = HY_EINVAL;
        goto out_decref;
    }
    size_t i;
    json_t *el;
    json_array_foreach(records, i, el) {
        if (!json_is_object(el)) {
            out->unknown_ids++;
            continue;
        }
        if ((rc = parse_one(el, id_prefix, out)) != HY_OK)
            goto out_decref;
    }
out_decref:
    json_decref(doc);
    return rc;
}

/* ---- run ------------------------------------------------------------------ */

/* Every record of in[first, first + count) fails with code. */
static int fail_all(struct pl_batch *out, const struct pl_batch *in, size_t first,
                    size_t count, const char *code, int attempts, const char *arn,
                    const char *msg)
{
    const struct pl_rec *recs = pl_recs(in);
    for (size_t i = first; i < first + count; i++) {
        int rc = pl_fail_add(out, recs[i].src, code, OUTPUT_TYPE, attempts, arn, "%s", msg);
        if (rc)
            return rc;
    }
    return HY_OK;
}

/* The request of one invocation: records in[first, first + count). */
static int build_event(const struct pl_ctx *ctx, const struct pl_batch *in, size_t first,
                       size_t count, const char *prefix, struct buf *ev)
{
    char uuid[37];
    int rc;
    hy_uuid4(uuid);
    json_t *head = json_pack("{s:s, s:s, s:s}", "invocationId", uuid, "deliveryStreamArn",
                             ctx->stream_arn ? ctx->stream_arn : "", "region",
                             ctx->region ? ctx->region : hy_cfg.region);
    char *hs = head ? json_dumps(head, JSON_COMPACT) : NULL;
    json_decref(head);
    if (!hs)
        return HY_ENOMEM;
    /* {"invocationId":...,"region":"..."} -> drop the closing brace */
    hs[strlen(hs) - 1] = 0;
    rc = buf_puts(ev, hs);
    free(hs);
    if (rc || (rc = buf_puts(ev, ",\"records\":[")))
        return rc;
    const struct pl_rec *recs = pl_recs(in);
    for (size_t i = 0; i < count; i++) {
        const struct pl_rec *r = &recs[first + i];
        if ((rc = buf_printf(ev, "%s{\"recordId\":\"%s%zu\",\"approximateArrivalTimestamp\":"
                             "%lld,\"data\":\"", i ? "," : "", prefix, i,
                             (long long)r->arrival_ms)) ||
            (rc = buf_reserve(ev, base64_encoded_len(r->len) + 4)))
            return rc;
        base64_encode(ev->data + ev->len, pl_data(in, r), r->len);
        ev->len += strlen(ev->data + ev->len);
        if ((rc = buf_puts(ev, "\"}")))
            return rc;
    }
    return buf_puts(ev, "]}");
}

/* An error payload that is a timeout (AWS's Sandbox.Timedout / "Task
 * timed out"). */
static bool is_timeout(const struct buf *payload)
{
    json_t *o = json_loadb(payload->data ? payload->data : "", payload->len, 0, NULL);
    const char *t = json_string_value(json_object_get(o, "errorType"));
    const char *m = json_string_value(json_object_get(o, "errorMessage"));
    bool yes = (t && !strcmp(t, "Sandbox.Timedout")) || (m && strstr(m, "Task timed out"));
    json_decref(o);
    return yes;
}

/* Applies a parsed response for records in[first, first + count). */
static int apply(const struct lambda_resp *resp, const struct pl_batch *in, size_t first,
                 size_t count, int attempts, const char *arn, struct pl_batch *out)
{
    const struct pl_rec *recs = pl_recs(in);
    for (size_t i = 0; i < count; i++) {
        const struct pl_rec *like = &recs[first + i];
        const struct lambda_rec_result *r = &resp->recs[i];
        int rc = HY_OK;
        switch (r->state) {
        case LAMBDA_REC_DROPPED:
            break;
        case LAMBDA_REC_FAILED:
            rc = pl_fail_add(out, like->src, "Lambda.ProcessingFailedStatus", OUTPUT_TYPE,
                             attempts, arn, "%s", FAILED_MSG);
            break;
        case LAMBDA_REC_MISSING:
            rc = pl_fail_add(out, like->src, "Lambda.MissingRecordId", OUTPUT_TYPE, attempts,
                             arn, "%s", MISSING_MSG);
            break;
        case LAMBDA_REC_DUPLICATED:
            rc = pl_fail_add(out, like->src, "Lambda.DuplicatedRecordId", OUTPUT_TYPE,
                             attempts, arn, "%s", DUPLICATED_MSG);
            break;
        case LAMBDA_REC_INVALID:
            rc = pl_fail_add(out, like->src, "Lambda.JsonProcessingException", OUTPUT_TYPE,
                             attempts, arn, "The record returned by the Lambda function is "
                             "not valid: its result must be Ok, Dropped or ProcessingFailed, "
                             "an Ok record needs base64 data, and partition keys are "
                             "strings.");
            break;
        case LAMBDA_REC_OK: {
            rc = pl_add(out, in, like, resp->data.data + r->off, r->len);
            if (rc == HY_ETOOBIG) {
                rc = pl_fail_add(out, like->src, "Lambda.FunctionError", OUTPUT_TYPE,
                                 attempts, arn, "The record returned by the Lambda function "
                                 "does not fit the batch's ceiling.");
                break;
            }
            if (rc)
                break;
            const char *names[LAMBDA_MAX_KEYS], *values[LAMBDA_MAX_KEYS];
            size_t nk = 0;
            const char *k = resp->keys.data ? resp->keys.data + r->keys_off : NULL;
            const char *end = k ? k + r->keys_len : NULL;
            while (k && k < end && nk < LAMBDA_MAX_KEYS) {
                names[nk] = k;
                k += strlen(k) + 1;
                values[nk++] = k;
                k += strlen(k) + 1;
            }
            struct pl_rec *added = &pl_recs(out)[out->n - 1];
            /* the function's keys replace any the record had from Lambda */
            rc = pl_set_keys(out, added, true, names, values, nk);
            break;
        }
        }
        if (rc)
            return rc;
    }
    return HY_OK;
}

/* One invocation for in[first, first + count), with its retries. */
static int invoke_chunk(const struct params *prm, const struct pl_ctx *ctx,
                        const struct pl_batch *in, size_t first, size_t count,
                        struct pl_batch *out)
{
    struct buf ev, resp;
    char why[512], prefix[ID_PREFIX_LEN + 1];
    int rc, attempts = 0;
    unsigned char rnd[8];
    hy_random(rnd, sizeof rnd);
    unsigned long long seed = 0;
    for (int i = 0; i < 8; i++)
        seed = seed << 8 | rnd[i];
    /* 20 digits, as AWS's recordIds are long decimal strings */
    snprintf(prefix, sizeof prefix, "%020llu", seed % 10000000000000000000ull);
    buf_init(&ev, LAMBDA_MAX_REQUEST + 1024);
    buf_init(&resp, LAMBDA_MAX_RESPONSE + 4096);
    if ((rc = build_event(ctx, in, first, count, prefix, &ev)) != HY_OK) {
        if (rc == HY_ETOOBIG)
            rc = fail_all(out, in, first, count, "Lambda.InvocationFailure", 0, prm->arn,
                          "The records do not fit one Lambda request (6 MB).");
        goto out_free;
    }
    const char *code = NULL, *msg = NULL;
    for (;;) {
        bool ferr = false;
        buf_reset(&resp);
        attempts++;
        if (!lambda_invoke) {
            rc = HY_EIO;
            snprintf(why, sizeof why, "this program has no Lambda invoke client");
        } else {
            rc = lambda_invoke(prm->arn, NULL, ev.data, ev.len, &resp, &ferr, why, sizeof why);
        }
        if (rc == HY_ENOMEM)
            goto out_free;
        if (rc == HY_OK && !ferr) {
            struct lambda_resp lr;
            int prc = lambda_resp_parse(resp.data ? resp.data : "", resp.len, prefix, count,
                                        &lr);
            if (prc == HY_OK)
                rc = apply(&lr, in, first, count, attempts, prm->arn, out);
            else if (prc == HY_EINVAL)
                rc = fail_all(out, in, first, count, "Lambda.JsonProcessingException",
                              attempts, prm->arn, lr.msg);
            else
                rc = prc;
            lambda_resp_free(&lr);
            goto out_free;
        }
        if (rc == HY_OK) {
            bool timeout = is_timeout(&resp);
            code = timeout ? "Lambda.FunctionTimedOut" : "Lambda.FunctionError";
            msg = timeout ? TIMED_OUT_MSG : FUNCTION_ERROR_MSG;
            log_info("lambda", "%s: attempt %d: %s: %.300s", prm->arn, attempts, code,
                     resp.data ? resp.data : "");
        } else {
            code = "Lambda.InvocationFailure";
            msg = why;
            log_info("lambda", "%s: attempt %d: %s", prm->arn, attempts, why);
        }
        if (attempts > prm->retries)
            break;
        /* a short backoff: throttling and cold starts pass */
        usleep((useconds_t)(attempts < 10 ? attempts : 10) * 100000u);
    }
    rc = fail_all(out, in, first, count, code, attempts, prm->arn, msg);
out_free:
    buf_free(&ev);
    buf_free(&resp);
    return rc;
}

static int lambda_run(const struct pl_param *p, size_t n, const struct pl_ctx *ctx,
                      const struct pl_batch *in, struct pl_batch *out)
{
    struct params prm;
    char msg[512];
    int rc = read_params(p, n, &prm, msg, sizeof msg);
    if (rc != HY_OK) {
        /* checked at create: a stored configuration that no longer passes
         * fails its records rather than being skipped */
        return fail_all(out, in, 0, in->n, "Lambda.InvocationFailure", 0, NULL, msg);
    }
    size_t budget = (size_t)llround(prm.buffer_mb * MIB);
    const struct pl_rec *recs = pl_recs(in);
    size_t first = 0;
    while (first < in->n) {
        /* the event's size, bounded from above: its head (invocationId,
         * the stream's ARN, region) and per record the JSON around the
         * data, a 29-digit recordId and a 20-digit timestamp */
        size_t count = 0, data = 0, req = 512 + (ctx->stream_arn ? strlen(ctx->stream_arn) : 0);
        while (first + count < in->n) {
            const struct pl_rec *r = &recs[first + count];
            size_t cost = base64_encoded_len(r->len) + 110;
            if (count && (data + r->len > budget || req + cost > LAMBDA_MAX_REQUEST))
                break;
            data += r->len;
            req += cost;
            count++;
        }
        if ((rc = invoke_chunk(&prm, ctx, in, first, count, out)) != HY_OK)
            return rc;
        first += count;
    }
    return HY_OK;
}

const struct processor processor_lambda = {
    .type = "Lambda",
    .check = lambda_check,
    .run = lambda_run,
    .deterministic = false,
};
