/* append_delimiter.c -- the AppendDelimiterToRecord processor: a "\n"
 * after every record, so that an S3 object holds one record per line.
 *
 * AWS behaviour honoured:
 *   - "If you want to add a new line delimiter between records in objects
 *     that are delivered to Amazon S3, choose AppendDelimiterToRecord as a
 *     processor type. You don't have to put a processor parameter when you
 *     select AppendDelimiterToRecord." (AWS API reference, Processor). AWS
 *     documents no parameter for this type: the one ProcessorParameterName
 *     that could mean one, Delimiter, is documented for RecordDeAggregation
 *     only (dynamic-partitioning-multirecord-deaggergation.html), so any
 *     parameter is refused rather than stored and ignored.
 *   - The delimiter is a new line, "\n" (the console's "New line
 *     delimiter"; dynamic-partitioning.md "Adding a new line delimiter
 *     when delivering data to S3"). It is appended to every record,
 *     including the last of an object.
 *
 * Design: each record is copied with its "\n" into one scratch buffer per
 * run and added with pl_add (its data must not point into out). A record
 * that would pass the batch's ceiling fails (output type
 * "processing-failed"; the errorCode is hydrant's, AWS has none for a
 * stage that cannot fail in AWS).
 *
 * Threading: no state outside a run; runs concurrently on any threads.
 */
#include "proc.h"

#include <stdio.h>
#include <string.h>

#define DELIM_TYPE "AppendDelimiterToRecord"
#define DELIM_ERROR_CODE "AppendDelimiterToRecord.Failed"
#define DELIM_OUTPUT_TYPE "processing-failed"

static int delim_check(const struct pl_param *p, size_t n, char *msg, size_t msg_len)
{
    return proc_check_names(DELIM_TYPE, p, n, NULL, 0, msg, msg_len);
}

static int delim_run(const struct pl_param *p, size_t n, const struct pl_ctx *ctx,
                     const struct pl_batch *in, struct pl_batch *out)
{
    char msg[256];
    int rc = delim_check(p, n, msg, sizeof msg);
    if (rc) {
        log_error("delimiter", "refusing to run with bad parameters: %s", msg);
        return rc;
    }
    struct buf scratch;
    buf_init(&scratch, (size_t)UINT32_MAX + 1);
    /* one reservation for the whole batch's records and their newlines */
    rc = buf_reserve(&out->data, in->data.len + in->n <= proc_room(out) ? in->data.len + in->n : 0);
    if (rc == HY_ENOMEM)
        goto out_free_scratch;
    const struct pl_rec *recs = pl_recs(in);
    for (size_t i = 0; i < in->n; i++) {
        const struct pl_rec *r = &recs[i];
        buf_reset(&scratch);
        if ((rc = buf_append(&scratch, pl_data(in, r), r->len)) == HY_OK &&
            (rc = buf_append(&scratch, "\n", 1)) == HY_OK)
            rc = pl_add(out, in, r, scratch.data, scratch.len);
        if (rc == HY_OK)
            continue;
        if (rc != HY_ETOOBIG)
            goto out_free_scratch;
        rc = pl_fail_add(out, r->src, DELIM_ERROR_CODE, DELIM_OUTPUT_TYPE, 1, NULL,
                         "Appending the delimiter failed: the record passes the batch's size "
                         "ceiling.");
        if (rc)
            goto out_free_scratch;
    }
    rc = HY_OK;
out_free_scratch:
    buf_free(&scratch);
    return rc;
}

const struct processor processor_delimiter = {
    .type = DELIM_TYPE,
    .check = delim_check,
    .run = delim_run,
    .deterministic = true,
};
