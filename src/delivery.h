/* delivery.h -- delivery: a dispatcher thread takes due buffers from
 * stream.c, and two workers compress them, name them (prefix.c) and write
 * them to the store (two batches at once, never two of one stream),
 * retrying failures with backoff so that nothing is dropped. */
#ifndef HYDRANT_DELIVERY_H
#define HYDRANT_DELIVERY_H

#include "server.h"

int delivery_start(void);
/* Stops the threads after one last forced pass over every buffer. */
void delivery_stop(void);
/* Counters, for logs and tests. */
struct delivery_stats {
    uint64_t objects, records, bytes, failures;
    size_t pending;           /* batches waiting for a retry */
};
void delivery_get_stats(struct delivery_stats *st);

#endif
