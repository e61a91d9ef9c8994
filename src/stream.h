/* stream.h -- delivery streams: the catalog (definitions that survive a
 * restart) and each stream's in-memory buffer. Owned by stream.c;
 * firehose.c creates/describes/updates streams and puts records through
 * it, delivery.c takes due buffers from it. */
#ifndef HYDRANT_STREAM_H
#define HYDRANT_STREAM_H

#include "server.h"

#include <jansson.h>

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
    char arn[192];            /* DeliveryStreamARN */
    bool dynamic;             /* DynamicPartitioningConfiguration.Enabled */
    char time_zone[64];       /* CustomTimeZone; "" or "UTC": UTC */
    /* The destination configuration as stored (AWS spelling): processors,
     * partitioning, backup, ... are read from it by the pipeline. A
     * batch's snapshot holds a reference (json_incref when copied,
     * released by stream_batch_free); never modified once stored. */
    json_t *config;
};

/* A buffer detached for delivery. */
struct stream_batch {
    struct stream_dest dest;
    struct buf data;          /* the records concatenated exactly as sent */
    struct buf lens;          /* nrecords uint32_t: each record's length, in order */
    size_t nrecords;
    size_t nbytes;            /* data.len, also while the data is parked out */
    int64_t oldest_ms;        /* arrival time (wall clock) of the oldest record */
    int64_t taken_ms;         /* wall clock when delivery first took it: the
                                 retry window runs from here */
    uint32_t stream_id;       /* the stream's numeric id (WAL frames carry it) */
    uint64_t first_lsn, last_lsn; /* WAL positions of its records; 0 without a WAL */
    char *key;                /* malloc'd; set when its key is fixed durably
                                 (recovery found its SEAL, or its spill names
                                 it): deliver to dest.bucket under exactly this key */
    size_t accounted;         /* bytes counted in the buffered total until freed */
    char *spill;              /* malloc'd path of its spill file once parked
                                 (see stream_spill_write); NULL before */
    bool spill_keyed;         /* the spill file holds the key */
    bool loaded;              /* data and lens are in memory */
    bool recovered;           /* handed out by recovery (see stream_recover_finish) */
    int attempts;             /* delivery attempts so far (kept in the spill) */
};

/* Streams are per region, as in AWS: the catalog is keyed by
 * "<region>/<name>" (STREAM_KEY_MAX bytes with its NUL), and every
 * function below that takes a stream's `name` takes that key, made by
 * stream_key. HY_EINVAL when region is empty or holds '/'. */
#define STREAM_KEY_MAX 100
int stream_key(char out[STREAM_KEY_MAX], const char *region, const char *name);

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

/* ---- parking a batch that cannot be delivered (delivery.c) -------------
 * A batch whose delivery failed is written to a spill file in
 * <data-dir>/spill/ (temp file, fsync, rename, directory fsync; format at
 * the top of stream.c) so that it no longer holds back the write-ahead
 * log: one stuck stream keeps only its own records, on disk, not every
 * stream's segments. Recovery hands spilled batches out again before
 * anything else (parked: data not loaded). All need a WAL (first_lsn). */

/* Writes (or rewrites, e.g. once its key is known: key may be NULL) b's
 * spill file durably; sets b->spill and b->spill_keyed. b must be loaded. */
int stream_spill_write(struct stream_batch *b, const char *key);
/* Frees b's data and lens (they are in the spill file) and its share of
 * the buffered total. */
void stream_spill_unload(struct stream_batch *b);
/* Reads b's records back from its spill file (checksum verified); counts
 * them in the buffered total again. HY_EIO / HY_EINVAL (damaged file). */
int stream_spill_load(struct stream_batch *b);
/* Deletes b's spill file (after its DELIVERED is durable) and syncs the
 * directory. */
int stream_spill_remove(struct stream_batch *b);

/* ---- the write-ahead path (firehose.c, wal.c's writer thread) ----------
 * A put is admitted first (the stream takes data and the bytes fit under
 * the buffered ceiling: they are reserved), then appended to the WAL, and
 * applied to the buffer only once the log is fsynced. */

/* Ingest, the one path of a put: admit every record (stream_admit),
 * append the admitted ones to the WAL, apply them to the buffer once the
 * log is fsynced, then call done -- the answer is sent only then, so a
 * record is acknowledged only once it is on disk. The caller owns `in`
 * and its prc array (n entries) until done has run. */
struct stream_ingest {
    const char *name;
    unsigned char *const *data;   /* borrowed; the WAL copies */
    const size_t *lens;
    size_t n;
    int64_t now_ms;
    bool stop_at_refusal;         /* PutRecord: a refused record ends it */
    /* per record: HY_OK (durable and buffered) or why it was not taken
     * (HY_ENOTFOUND, HY_ESTATE, HY_EBUSY, HY_ENOSPC, HY_EIO) */
    int *prc;
    bool encrypted;               /* server-side encryption on */
    /* WAL writer thread, once the admitted records are durable (or the
     * log write failed: their prc say so) */
    void (*done)(struct stream_ingest *in);
};
#define STREAM_DEFERRED 1000 /* stream_ingest: done will be called */
/* STREAM_DEFERRED: done follows. HY_OK: finished now (no WAL, or nothing
 * admitted: prc say why; with stop_at_refusal prc[0] is the refusal);
 * done is not called. Another rc: nothing was taken (the log append
 * failed), done is not called. Thread-safe. */
int stream_ingest(struct stream_ingest *in);

/* Reserves len bytes for a record of the stream: under the buffered
 * ceiling and in the buffer's memory, so that stream_apply never needs
 * to allocate. HY_ENOTFOUND, HY_ESTATE (not ACTIVE), HY_EBUSY (ceiling
 * reached, or no memory for the room). *id gets the stream id,
 * *encrypted whether server-side encryption is on (both may be NULL). */
int stream_admit(const char *name, size_t len, uint32_t *id, bool *encrypted);
/* Gives a reservation back (the WAL append failed). */
void stream_unadmit(uint32_t id, size_t len);
struct wal_frame;
/* Appends durable WAL_RECORD frames to their streams' buffers, into the
 * room stream_admit reserved (no allocation). Frames of a stream deleted
 * meanwhile are dropped. Called on the WAL writer thread. */
void stream_apply(const struct wal_frame *frames, size_t n);
/* The lowest LSN held in any buffer or undelivered recovered batch (not
 * counting parked ones: their records are in spill files), or not yet read
 * back by a recovery still under way; UINT64_MAX when none. */
uint64_t stream_min_lsn(void);
/* A RecordId for a record (unique per process and restart). */
void stream_record_id(char out[129], int64_t now_ms);
/* 16 random bytes made once per data directory (in streams.db): object
 * keys of different nodes never collide. */
const unsigned char *stream_node_id(void);

/* Recovery, in two passes over the log. wal_replay hands every frame to
 * stream_recover_frame (ctx unused), which keeps only the SEAL and
 * DELIVERED ranges (no record bytes). stream_recover_finish then loads the
 * spill files and reads the segments again (wal_scan_segment), putting each
 * record that is neither delivered nor parked into its sealed batch, or
 * into batches of SizeInMBs; it stops at --max-buffered and, if the log is
 * not read to its end by then, goes on in a thread of its own, waiting for
 * delivery to free memory (stream_take_due hands out what it loads first).
 * Call both before wal_start and delivery_start; stream_catalog_close
 * stops that thread. */
void stream_recover_frame(void *ctx, const struct wal_frame *f);
struct stream_recovery {
    uint64_t records, bytes;       /* records put back in buffers or batches
                                      (so far, when background is set) */
    uint64_t sealed_batches;       /* objects to rewrite under their sealed keys */
    uint64_t delivered_skipped;    /* records already delivered */
    uint64_t orphan_records;       /* records of streams deleted since */
    uint64_t parked_batches;       /* spill files handed out again */
    bool background;               /* the rest is read as memory frees */
};
void stream_recover_finish(struct stream_recovery *st);

/* Milliseconds from now_ms until the next buffer falls due by interval;
 * -1 when no buffer holds data. */
int64_t stream_next_due_ms(int64_t now_ms);

/* Called (from any thread) when a buffer becomes due by size, or by an
 * interval of 0, or a destination was updated, so delivery wakes early
 * instead of at its next check. Set by delivery.c. */
void stream_set_wakeup(void (*fn)(void));

/* ---- catalog operations (firehose.c) --------------------------------
 * firehose.c validates requests and shapes responses; stream.c owns the
 * state. Every mutation is written through to streams.db before it is
 * visible. JSON values are borrowed; the catalog keeps its own copies. */
#include <jansson.h>

/* A stream to create. dest is the validated S3 or ExtendedS3 destination
 * configuration exactly as the client gave it (members in AWS spelling);
 * tags an object Key -> Value (or NULL); encryption NULL or an object
 * {"KeyType":..., "KeyARN":...} meaning server-side encryption is on. */
struct stream_new {
    const char *region;       /* its namespace (the request's region) */
    const char *name;         /* DeliveryStreamName */
    const char *arn;
    const char *type;         /* "DirectPut" */
    const char *dest_kind;    /* "ExtendedS3" or "S3" */
    json_t *dest;
    json_t *tags;
    json_t *encryption;
};

/* HY_EEXIST (name taken in the region), HY_ELIMIT (hy_cfg.max_streams
 * reached in the region),
 * HY_EINVAL (BucketARN not arn:aws:s3:::NAME), HY_EDB. The stream is
 * CREATING for hy_cfg.create_delay_ms, then ACTIVE. */
int stream_create(const struct stream_new *sn, int64_t now_ms);

/* A snapshot of one stream as a new JSON object (caller json_decref's):
 *   Name, ARN, Type, Status ("CREATING"|"ACTIVE"), VersionId (integer),
 *   CreateMs, UpdateMs (0 before the first change), DestKind, Dest,
 *   Tags (object), Encryption {Status:"ENABLED"|"DISABLED", KeyType?, KeyARN?}
 * HY_ENOTFOUND when there is no such stream. */
int stream_describe(const char *name, json_t **out);

/* Replaces the destination configuration if the stream's VersionId is
 * still expect_version, and bumps VersionId. HY_ENOTFOUND, HY_ESTATE (not
 * ACTIVE), HY_ECONFLICT (stale version), HY_EINVAL (bad BucketARN), HY_EDB. */
int stream_update_dest(const char *name, unsigned expect_version,
                       json_t *dest, int64_t now_ms);

/* Removes the stream and drops its buffer. HY_ENOTFOUND; HY_ESTATE while
 * CREATING (AWS deletes only streams that finished creating). */
int stream_delete(const char *name);

/* Names (bare) of the region's streams in byte order after `after`
 * (a bare name; NULL: from the start), at most limit, only of type (NULL:
 * any). *names is a new JSON array of strings. */
int stream_list(const char *region, const char *type, const char *after, size_t limit,
                json_t **names, bool *has_more);

#define STREAM_MAX_TAGS 50
/* Adds or replaces tags (object Key -> Value). HY_ELIMIT past 50 tags. */
int stream_tag(const char *name, json_t *tags);
/* Removes the keys (array of strings) that exist. */
int stream_untag(const char *name, json_t *keys);
/* Server-side encryption on (key_type "AWS_OWNED_CMK" or
 * "CUSTOMER_MANAGED_CMK" with key_arn) or off. */
int stream_set_encryption(const char *name, bool enable, const char *key_type,
                          const char *key_arn, int64_t now_ms);
/* HY_OK when the stream takes data (ACTIVE), HY_ESTATE while CREATING,
 * HY_ENOTFOUND. *encrypted tells whether server-side encryption is on. */
int stream_accepts(const char *name, bool *encrypted);

/* The catalog key of the stream with that numeric id (metrics). */
int stream_key_of(uint32_t id, char out[STREAM_KEY_MAX]);
/* The buffered total against hy_cfg.max_buffered (metrics). */
size_t stream_buffered_bytes(void);

/* Largest record (decoded bytes) PutRecord/PutRecordBatch accept. */
#define STREAM_MAX_RECORD 1024000
/* Buffered bytes over all streams past which puts get HY_EBUSY: buffers,
 * batches waiting for delivery, and reservations (hy_cfg.max_buffered). */

#endif
