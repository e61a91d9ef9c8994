/* stream.h -- delivery streams: the catalog (definitions that survive a
 * restart) and each stream's in-memory buffer. Owned by stream.c;
 * firehose.c creates/describes/updates streams and puts records through
 * it, delivery.c takes due buffers from it. */
#ifndef HYDRANT_STREAM_H
#define HYDRANT_STREAM_H

#include "server.h"

enum compression {
    COMP_UNCOMPRESSED = 0,
    COMP_GZIP,
    COMP_ZIP,
    COMP_SNAPPY,
    COMP_HADOOP_SNAPPY,
};

/* What delivery needs of one stream's S3 destination: a snapshot copied
 * out of the catalog when a buffer is detached. */
struct stream_dest {
    char name[65];            /* DeliveryStreamName */
    unsigned version;         /* VersionId at the time of the snapshot */
    char bucket[64];          /* from BucketARN arn:aws:s3:::NAME */
    char prefix[1025];        /* Prefix, "" when none */
    char error_prefix[1025];  /* ErrorOutputPrefix, "" when none */
    char file_ext[129];       /* FileExtension; "" => by compression */
    int compression;          /* enum compression */
    int size_mb;              /* BufferingHints.SizeInMBs */
    int interval_s;           /* BufferingHints.IntervalInSeconds */
};

/* A buffer detached for delivery. */
struct stream_batch {
    struct stream_dest dest;
    struct buf data;          /* the records concatenated exactly as sent */
    size_t nrecords;
    int64_t oldest_ms;        /* arrival time (wall clock) of the oldest record */
};

/* Loads the catalog from dir (streams.db), creating it if needed. */
int stream_catalog_open(const char *dir);
void stream_catalog_close(void);

/* Appends one record to the stream's buffer. HY_ENOTFOUND (no such
 * stream), HY_ESTATE (not ACTIVE), HY_ETOOBIG (over 1,000 KiB). record_id
 * receives the RecordId returned to the client. Thread-safe. */
int stream_put(const char *name, const void *data, size_t len, int64_t now_ms,
               char record_id[129]);

/* Detaches the buffer of one stream that is due: its size reached
 * SizeInMBs or its oldest record is IntervalInSeconds old; with force,
 * any non-empty buffer. HY_OK and *out (free with stream_batch_free), or
 * HY_ENOTFOUND when none is due. Thread-safe. */
int stream_take_due(int64_t now_ms, bool force, struct stream_batch **out);
void stream_batch_free(struct stream_batch *b); /* accepts NULL */

/* Milliseconds from now_ms until the next buffer falls due by interval;
 * -1 when no buffer holds data. */
int64_t stream_next_due_ms(int64_t now_ms);

/* Called (from any thread) when a buffer becomes due by size, or by an
 * interval of 0, so the delivery thread wakes early. Set by delivery.c. */
void stream_set_wakeup(void (*fn)(void));

#endif
