/* fhscan.h -- schema-specific scanner for PutRecord / PutRecordBatch bodies.
 *
 * fhscan_put() reads the common shape of the two hot request bodies in one
 * pass, without jansson, and base64-decodes every Data straight into one
 * buffer. It accepts only bodies that jansson + firehose.c's validation
 * would accept unchanged; anything else returns FHSCAN_FALLBACK and the
 * caller takes the jansson path, which words every AWS error. See fhscan.c.
 */
#ifndef HYDRANT_FHSCAN_H
#define HYDRANT_FHSCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "server.h"

#define FHSCAN_MAX_RECORDS 500               /* PutRecordBatch's 1..500 */
#define FHSCAN_MAX_RECORD 1024000            /* STREAM_MAX_RECORD */
#define FHSCAN_MAX_BATCH (4u * 1024 * 1024)  /* 4 MiB of decoded bytes */
#define FHSCAN_NAME_MAX 64

/* "not handled": outside enum hy_rc, like firehose.c's FH_DEFERRED */
#define FHSCAN_FALLBACK (-1)

struct fhscan {
    char name[FHSCAN_NAME_MAX + 1]; /* DeliveryStreamName, NUL-terminated */
    size_t n;                       /* records */
    unsigned char *data;            /* every record's bytes, back to back */
    size_t total;                   /* decoded bytes in data */
    size_t estimate;                /* firehose.c's bound from encoded sizes */
    /* record i is data[off[i] .. off[i] + len[i]) */
    size_t off[FHSCAN_MAX_RECORDS];
    size_t len[FHSCAN_MAX_RECORDS];
};

/* Scans body (len bytes, need not be NUL-terminated) as a PutRecord
 * (batch false) or PutRecordBatch (batch true) request. HY_OK: s is filled
 * and s->data is malloc'd (release with fhscan_free). FHSCAN_FALLBACK:
 * not the simple shape, or not valid; s holds nothing to free. HY_ENOMEM.
 * Thread-safe: s is the caller's. */
int fhscan_put(struct fhscan *s, const char *body, size_t len, bool batch);

/* Releases s->data; accepts a zeroed or already freed s. */
void fhscan_free(struct fhscan *s);

#endif
