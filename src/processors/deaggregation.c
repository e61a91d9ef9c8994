/* deaggregation.c -- the RecordDeAggregation processor: one record that
 * aggregates several (consecutive JSON objects, or pieces between a custom
 * delimiter) becomes one record each.
 *
 * AWS behaviour honoured (Firehose developer guide, "Apply dynamic
 * partitioning to aggregated data", dynamic-partitioning-multirecord-
 * deaggergation.html, and its older copy in awsdocs/amazon-kinesis-data-
 * firehose-developer-guide doc_source/dynamic-partitioning.md):
 *   - SubRecordType JSON: records are separated "based on consecutive JSON
 *     objects": {"a":1}{"a":2} and {"a":1}\n{"a":2} are valid input, an
 *     array of objects [{"a":1},{"a":2}] is not. Whitespace between the
 *     objects is the only separator taken; each sub-record is the object's
 *     bytes exactly, without the newline ("multirecord deaggregation ...
 *     removes new lines from records as part of the parsing process").
 *   - SubRecordType DELIMITED: split on Delimiter, which "must be a base-64
 *     encoded string" (#### is given as IyMjIw==). Empty pieces (two
 *     delimiters in a row, a trailing delimiter) make no record; a record
 *     without any non-empty piece passes unchanged.
 *   - "Record deaggregation by JSON or by delimiter is capped at 500 per
 *     record." What AWS does past the cap is not documented; hydrant fails
 *     the whole record (never a silent truncation), as it does a record
 *     that is not consecutive JSON objects.
 *   - Parameters (botocore's ProcessorParameterName; AWS::KinesisFirehose
 *     CDK RecordDeAggregationProcessor): SubRecordType required, JSON or
 *     DELIMITED; Delimiter required with DELIMITED and refused with JSON
 *     (it would be ignored); nothing else.
 * Failures go to the error output with output type "partitioning-failed"
 * (deaggregation exists for dynamic partitioning, whose parse failures
 * "are delivered to the S3 error bucket prefix", dynamic-partitioning-
 * error-handling.html; aws-cdk's dynamic-partitioning integration test
 * lists error-output/partitioning-failed/). The errorCode string
 * DEAGG_ERROR_CODE is hydrant's: AWS does not document one for this
 * stage (unverified).
 *
 * Design: JSON objects are found with jansson (json_loadb with
 * JSON_DISABLE_EOF_CHECK stops after one object and reports the bytes it
 * read), so a sub-record is always a whole, valid JSON object (\u0000 in
 * strings allowed, as JSON allows it; invalid UTF-8 is not JSON and fails
 * the record). Every
 * sub-record keeps its source record's src, arrival and keys (pl_add).
 * A record whose sub-records pass the output's ceiling fails whole
 * (rolled back with proc_rollback).
 *
 * Threading: no state outside a run; runs concurrently on any threads.
 */
#include "proc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEAGG_TYPE "RecordDeAggregation"
#define DEAGG_MAX_SUBRECORDS 500
#define DEAGG_ERROR_CODE "DynamicPartitioning.DeAggregationFailed"
#define DEAGG_OUTPUT_TYPE "partitioning-failed"

enum deagg_kind { DEAGG_JSON, DEAGG_DELIMITED };

struct deagg_conf {
    enum deagg_kind kind;
    unsigned char delim[3840]; /* decoded Delimiter (ParameterValue <= 5120) */
    size_t delim_len;
};

static const char *const deagg_names[] = {"SubRecordType", "Delimiter"};

/* Parses and validates the parameters; msg gets AWS's sentence. */
static int deagg_conf(const struct pl_param *p, size_t n, struct deagg_conf *c, char *msg,
                      size_t msg_len)
{
    int rc = proc_check_names(DEAGG_TYPE, p, n, deagg_names, 2, msg, msg_len);
    if (rc)
        return rc;
    const char *type = pl_param_get(p, n, "SubRecordType");
    const char *delim = pl_param_get(p, n, "Delimiter");
    if (!type) {
        snprintf(msg, msg_len, "SubRecordType is required for processor type '%s'.", DEAGG_TYPE);
        return HY_EINVAL;
    }
    if (!strcmp(type, "JSON")) {
        c->kind = DEAGG_JSON;
        if (delim) {
            snprintf(msg, msg_len,
                     "Delimiter is only supported when SubRecordType is DELIMITED.");
            return HY_EINVAL;
        }
        c->delim_len = 0;
        return HY_OK;
    }
    if (strcmp(type, "DELIMITED")) {
        snprintf(msg, msg_len,
                 "Invalid SubRecordType '%s' for processor type '%s'. Valid values: JSON, "
                 "DELIMITED.", type, DEAGG_TYPE);
        return HY_EINVAL;
    }
    c->kind = DEAGG_DELIMITED;
    if (!delim || !*delim) {
        snprintf(msg, msg_len, "Delimiter is required when SubRecordType is DELIMITED.");
        return HY_EINVAL;
    }
    size_t dlen = strlen(delim);
    long got = dlen / 4 * 3 + 3 <= sizeof c->delim ? base64_decode(c->delim, delim, dlen) : -1;
    if (got <= 0) {
        snprintf(msg, msg_len,
                 "Delimiter '%.64s' must be a non-empty base64-encoded string.", delim);
        return HY_EINVAL;
    }
    c->delim_len = (size_t)got;
    return HY_OK;
}

static int deagg_check(const struct pl_param *p, size_t n, char *msg, size_t msg_len)
{
    struct deagg_conf c;
    return deagg_conf(p, n, &c, msg, msg_len);
}

static bool deagg_space(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Adds one sub-record; *count counts them against the cap. */
static int deagg_emit(struct pl_batch *out, const struct pl_batch *in, const struct pl_rec *r,
                      const unsigned char *p, size_t len, size_t *count, const char **why)
{
    if (++*count > DEAGG_MAX_SUBRECORDS) {
        *why = "more than 500 sub-records in one record";
        return HY_ELIMIT;
    }
    int rc = pl_add(out, in, r, p, len);
    if (rc == HY_ETOOBIG)
        *why = "the deaggregated records pass the batch's size ceiling";
    return rc;
}

/* The JSON objects of one record; HY_EINVAL (why set) when it is not a
 * run of whitespace-separated objects. */
static int deagg_json(struct pl_batch *out, const struct pl_batch *in, const struct pl_rec *r,
                      const char **why, char *detail, size_t detail_len)
{
    const unsigned char *p = pl_data(in, r);
    size_t len = r->len, off = 0, count = 0;
    int rc = HY_OK;
    for (;;) {
        while (off < len && deagg_space(p[off]))
            off++;
        if (off == len)
            break;
        if (p[off] != '{') {
            *why = p[off] == '[' ? "an array is not a valid input; send consecutive JSON objects"
                                 : "the record is not consecutive JSON objects";
            snprintf(detail, detail_len, "at byte %zu", off);
            return HY_EINVAL;
        }
        json_error_t err;
        json_t *obj = json_loadb((const char *)p + off, len - off,
                                 JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &err);
        if (!obj) {
            *why = "the record is not consecutive JSON objects";
            snprintf(detail, detail_len, "at byte %zu: %s", off + (size_t)(err.position > 0 ? err.position : 0),
                     err.text);
            return HY_EINVAL;
        }
        json_decref(obj);
        size_t used = err.position > 0 ? (size_t)err.position : 0;
        if (used == 0 || used > len - off) {
            *why = "the record is not consecutive JSON objects";
            snprintf(detail, detail_len, "at byte %zu", off);
            return HY_EINVAL;
        }
        if ((rc = deagg_emit(out, in, r, p + off, used, &count, why)))
            return rc;
        off += used;
    }
    if (count == 0) {
        *why = "the record holds no JSON object";
        snprintf(detail, detail_len, "(%u bytes)", r->len);
        return HY_EINVAL;
    }
    return HY_OK;
}

static int deagg_delimited(struct pl_batch *out, const struct pl_batch *in,
                           const struct pl_rec *r, const struct deagg_conf *c, const char **why)
{
    const unsigned char *p = pl_data(in, r);
    size_t len = r->len, start = 0, count = 0;
    int rc;
    while (start <= len) {
        const unsigned char *hit = NULL;
        if (len - start >= c->delim_len)
            hit = memmem(p + start, len - start, c->delim, c->delim_len);
        size_t end = hit ? (size_t)(hit - p) : len;
        if (end > start && (rc = deagg_emit(out, in, r, p + start, end - start, &count, why)))
            return rc;
        if (!hit)
            break;
        start = end + c->delim_len;
    }
    if (count == 0) /* nothing but delimiters, or empty: the record as it is */
        return pl_add(out, in, r, p, len);
    return HY_OK;
}

static int deagg_run(const struct pl_param *p, size_t n, const struct pl_ctx *ctx,
                     const struct pl_batch *in, struct pl_batch *out)
{
    struct deagg_conf c;
    char msg[256];
    int rc = deagg_conf(p, n, &c, msg, sizeof msg);
    if (rc) {
        log_error("deagg", "refusing to run with bad parameters: %s", msg);
        return rc;
    }
    const struct pl_rec *recs = pl_recs(in);
    for (size_t i = 0; i < in->n; i++) {
        const struct pl_rec *r = &recs[i];
        struct proc_mark m;
        const char *why = NULL;
        char detail[200] = "";
        proc_mark(out, &m);
        rc = c.kind == DEAGG_JSON ? deagg_json(out, in, r, &why, detail, sizeof detail)
                                  : deagg_delimited(out, in, r, &c, &why);
        if (rc == HY_OK)
            continue;
        proc_rollback(out, &m);
        if (rc == HY_ENOMEM)
            return rc;
        if (rc != HY_EINVAL && rc != HY_ELIMIT && rc != HY_ETOOBIG)
            return rc;
        rc = pl_fail_add(out, r->src, DEAGG_ERROR_CODE, DEAGG_OUTPUT_TYPE, 1, NULL,
                         "Record deaggregation (%s) failed: %s%s%s.",
                         c.kind == DEAGG_JSON ? "JSON" : "DELIMITED", why ? why : "error",
                         *detail ? " " : "", detail);
        if (rc)
            return rc;
    }
    return HY_OK;
}

const struct processor processor_deaggregation = {
    .type = DEAGG_TYPE,
    .check = deagg_check,
    .run = deagg_run,
    .deterministic = true,
};
