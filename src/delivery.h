/* delivery.h -- delivery: a dispatcher thread takes due buffers from
 * stream.c, and two workers compress them, name them (prefix.c) and write
 * them to the store (two batches at once, never two of one stream),
 * retrying failures with backoff for the retry window, parking failed
 * batches off the log, then moving them to the dead-letter bucket, so
 * that nothing is dropped. */
#ifndef HYDRANT_DELIVERY_H
#define HYDRANT_DELIVERY_H

#include "server.h"

int delivery_start(void);
/* Stops the threads after one last forced pass over every buffer. */
void delivery_stop(void);
/* Counters, for logs and tests. */
struct delivery_stats {
    uint64_t objects, records, bytes, failures;
    uint64_t dead_lettered, dead_lettered_records; /* objects / records moved
                                                      to the dead-letter bucket */
    size_t pending;           /* batches waiting for a retry */
};
void delivery_get_stats(struct delivery_stats *st);

/* Batches that were not delivered within --retry-window (hy_cfg.
 * retry_window_s, 24 h by default, as AWS retries S3 delivery) go to this
 * bucket of the embedded store, keyed <stream>/yyyy/MM/dd/HH/<stream>-
 * <version>-yyyy-MM-dd-HH-mm-ss-<id>, one JSON line per record (AWS's
 * error-output shape, the record base64 in rawData). tools/hydrant-redrive
 * puts them back into a stream. */
#define DELIVERY_DEAD_LETTER_BUCKET "hydrant-dead-letter"

/* What a stuck stream holds: the batches of one stream waiting for a
 * retry (failed, or behind one that failed). For logs and metrics. */
struct delivery_stuck {
    char stream[65];
    char reason[200];         /* the last failure */
    size_t batches, records;
    uint64_t bytes;           /* record bytes */
    size_t parked;            /* of the batches, parked in spill files */
    int64_t since_ms;         /* wall clock: when the oldest was taken */
};
/* HY_OK and *st for a stream with batches waiting, else HY_ENOTFOUND. */
int delivery_stuck_get(uint32_t stream_id, struct delivery_stuck *st);
/* Fills out[0..max) with every stuck stream; returns how many. */
size_t delivery_stuck_list(struct delivery_stuck *out, size_t max);

#endif
