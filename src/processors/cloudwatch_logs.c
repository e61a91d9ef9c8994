/* cloudwatch_logs.c -- the CloudWatchLogProcessing processor: reads the
 * (already decompressed) CloudWatch Logs subscription payload of each
 * record and, with DataMessageExtraction true, delivers the log events'
 * messages instead of the envelope.
 *
 * A subscription payload (CloudWatch Logs user guide, "Subscription
 * filters" / ValidateLogEventFlow.html) is one JSON object:
 *   {"messageType":"DATA_MESSAGE","owner":"111111111111",
 *    "logGroup":"...","logStream":"...","subscriptionFilters":["..."],
 *    "logEvents":[{"id":"...","timestamp":1432826855000,"message":"..."}]}
 * CloudWatch Logs also sends CONTROL_MESSAGE records (to check that the
 * destination is reachable) that carry no log events.
 *
 * AWS behaviour honoured:
 *   - Parameter DataMessageExtraction, "true" or "false" (AWS API
 *     reference ProcessorParameterName; the CDK's CloudWatchLogProcessor
 *     option dataMessageExtraction). It is required, and the only one.
 *   - "When you use message extraction, Firehose filters out all metadata
 *     such as owner, log group, log stream, and others from the
 *     decompressed CloudWatch Logs records and delivers only the content
 *     inside the message fields." (Firehose developer guide, "Extract
 *     message after decompression of CloudWatch Logs",
 *     Message_extraction.html). Its figure 2 shows the delivered object
 *     with one message per line, so each extracted message becomes one
 *     record followed by "\n".
 *   - CONTROL_MESSAGE records are dropped (they are not log data).
 *   - With extraction false, DATA_MESSAGE records pass unchanged.
 *   - A record that is not a subscription payload fails: "If you enable
 *     the decompression feature on a stream that is used to ingest both
 *     CloudWatch Logs and Vended Logs, the Vended Logs ingestion to
 *     Firehose fails." (writing-with-cloudwatch-logs.html). It goes to the
 *     error output as a failure of CloudWatch Logs decompression, output
 *     type "decompression-failed" (decomp-faq.html); the errorCode string
 *     CWL_ERROR_CODE is hydrant's (AWS documents none; unverified).
 *
 * Design: jansson parses each record (JSON_ALLOW_NUL: a message may hold
 * U+0000, kept with its length). Messages are copied with their "\n" into
 * one scratch buffer per run, then added with pl_add, keeping the source
 * record's src, arrival and keys. A record whose messages pass the batch's
 * ceiling fails whole (proc_rollback).
 *
 * Threading: no state outside a run; runs concurrently on any threads.
 */
#include "proc.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define CWL_TYPE "CloudWatchLogProcessing"
#define CWL_ERROR_CODE "CloudWatchLogProcessing.InvalidFormat"
#define CWL_OUTPUT_TYPE "decompression-failed"

static const char *const cwl_names[] = {"DataMessageExtraction"};

static int cwl_conf(const struct pl_param *p, size_t n, bool *extract, char *msg, size_t msg_len)
{
    int rc = proc_check_names(CWL_TYPE, p, n, cwl_names, 1, msg, msg_len);
    if (rc)
        return rc;
    const char *v = pl_param_get(p, n, "DataMessageExtraction");
    if (!v) {
        snprintf(msg, msg_len, "DataMessageExtraction is required for processor type '%s'.",
                 CWL_TYPE);
        return HY_EINVAL;
    }
    if (!strcmp(v, "true"))
        *extract = true;
    else if (!strcmp(v, "false"))
        *extract = false;
    else {
        snprintf(msg, msg_len,
                 "Invalid DataMessageExtraction '%.64s' for processor type '%s'. Valid values: "
                 "true, false.", v, CWL_TYPE);
        return HY_EINVAL;
    }
    return HY_OK;
}

static int cwl_check(const struct pl_param *p, size_t n, char *msg, size_t msg_len)
{
    bool extract;
    return cwl_conf(p, n, &extract, msg, msg_len);
}

/* One record: HY_OK (records added, or dropped), HY_EINVAL with why,
 * HY_ETOOBIG, HY_ENOMEM. */
static int cwl_one(struct pl_batch *out, const struct pl_batch *in, const struct pl_rec *r,
                   bool extract, struct buf *scratch, const char **why)
{
    json_error_t err;
    json_t *root = json_loadb((const char *)pl_data(in, r), r->len, JSON_ALLOW_NUL, &err);
    int rc = HY_EINVAL;
    if (!root || !json_is_object(root)) {
        *why = "the record is not a CloudWatch Logs subscription payload (not a JSON object)";
        goto out_free_root;
    }
    const char *type = json_string_value(json_object_get(root, "messageType"));
    if (!type) {
        *why = "the record has no messageType";
        goto out_free_root;
    }
    if (!strcmp(type, "CONTROL_MESSAGE")) {
        rc = HY_OK; /* dropped */
        goto out_free_root;
    }
    if (strcmp(type, "DATA_MESSAGE")) {
        *why = "messageType is neither DATA_MESSAGE nor CONTROL_MESSAGE";
        goto out_free_root;
    }
    json_t *events = json_object_get(root, "logEvents");
    if (!json_is_array(events)) {
        *why = "a DATA_MESSAGE without a logEvents array";
        goto out_free_root;
    }
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev) {
        if (!json_is_string(json_object_get(ev, "message"))) {
            *why = "a log event without a string message";
            goto out_free_root;
        }
    }
    if (!extract) {
        rc = pl_add(out, in, r, pl_data(in, r), r->len);
        goto out_free_root;
    }
    json_array_foreach(events, i, ev) {
        json_t *m = json_object_get(ev, "message");
        buf_reset(scratch);
        scratch->max = proc_room(out);
        if ((rc = buf_append(scratch, json_string_value(m), json_string_length(m))) ||
            (rc = buf_append(scratch, "\n", 1)) ||
            (rc = pl_add(out, in, r, scratch->data, scratch->len)))
            break;
    }
out_free_root:
    if (rc == HY_ETOOBIG)
        *why = "the records pass the batch's size ceiling";
    json_decref(root);
    return rc;
}

static int cwl_run(const struct pl_param *p, size_t n, const struct pl_ctx *ctx,
                   const struct pl_batch *in, struct pl_batch *out)
{
    bool extract;
    char msg[256];
    int rc = cwl_conf(p, n, &extract, msg, sizeof msg);
    if (rc) {
        log_error("cwlogs", "refusing to run with bad parameters: %s", msg);
        return rc;
    }
    struct buf scratch;
    buf_init(&scratch, 0);
    const struct pl_rec *recs = pl_recs(in);
    for (size_t i = 0; i < in->n; i++) {
        const struct pl_rec *r = &recs[i];
        const char *why = NULL;
        struct proc_mark m;
        proc_mark(out, &m);
        rc = cwl_one(out, in, r, extract, &scratch, &why);
        if (rc == HY_OK)
            continue;
        proc_rollback(out, &m);
        if (rc != HY_EINVAL && rc != HY_ETOOBIG)
            goto out_free_scratch;
        rc = pl_fail_add(out, r->src, CWL_ERROR_CODE, CWL_OUTPUT_TYPE, 1, NULL,
                         "CloudWatch Logs processing failed: %s.", why ? why : "error");
        if (rc)
            goto out_free_scratch;
    }
    rc = HY_OK;
out_free_scratch:
    buf_free(&scratch);
    return rc;
}

const struct processor processor_cloudwatch_logs = {
    .type = CWL_TYPE,
    .check = cwl_check,
    .run = cwl_run,
    .deterministic = true,
};
