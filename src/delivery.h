/* delivery.h -- the delivery thread: takes due buffers from stream.c,
 * compresses them, names them (prefix.c) and writes them to the store,
 * retrying failures with backoff so that nothing is dropped. */
#ifndef HYDRANT_DELIVERY_H
#define HYDRANT_DELIVERY_H

#include "server.h"

int delivery_start(void);
/* Stops the thread after one last forced pass over every buffer. */
void delivery_stop(void);
/* Counters, for logs and tests. */
struct delivery_stats {
    uint64_t objects, records, bytes, failures;
    size_t pending;           /* batches waiting for a retry */
};
void delivery_get_stats(struct delivery_stats *st);

#endif
