/* pipeline.h -- the delivery pipeline's two seams: processors and sinks.
 *
 * delivery.c drives one taken batch (stream.c's struct stream_batch: the
 * records exactly as put) through the stages in AWS's order:
 *
 *   RecordDeAggregation -> Decompression -> CloudWatchLogProcessing
 *   -> Lambda -> MetadataExtraction -> AppendDelimiterToRecord
 *   -> (format conversion) -> compression -> name (prefix.c) -> SINK
 *
 * The way curl keeps its TLS backends behind `struct Curl_ssl` in
 * lib/vtls/: the core (delivery.c) calls a table of function pointers and
 * never names a backend. Each processor is one file in src/processors/
 * (one `const struct processor` each, listed in processors.c), each
 * destination one file in src/sinks/ (one `const struct sink`, chosen by
 * sinks.c). A new one is one file plus one line in its table.
 *
 * Records in flight are a struct pl_batch: the bytes of every record in
 * one buffer, and beside them a struct pl_rec per record saying where its
 * bytes are, which source record it came from (so that an error record
 * carries the record as the producer sent it, AWS's rawData), its arrival
 * time and its partition keys. A processor reads one pl_batch and writes
 * the next; records it fails are listed in the output's fails (with the
 * source index, AWS's errorCode and a message), records it drops are
 * simply not written.
 *
 * Threading: a processor's run and a sink's put are called on delivery
 * worker threads, several at once (for different batches); they keep no
 * state between calls except what they guard themselves.
 */
#ifndef HYDRANT_PIPELINE_H
#define HYDRANT_PIPELINE_H

#include "server.h"
#include "stream.h"

/* ---- records in flight ---------------------------------------------- */

/* Partition keys of a record are kept as "name\0value\0name\0value\0" in
 * the batch's keys buffer; len 0: none. Keys from MetadataExtraction
 * (partitionKeyFromQuery) and from Lambda (partitionKeyFromLambda) are
 * kept apart, as AWS's prefix namespaces are. */
struct pl_keys {
    uint32_t off, len;
};

struct pl_rec {
    size_t off;              /* its bytes: data.data + off */
    uint32_t len;
    uint32_t src;            /* index of the source record in the taken batch */
    int64_t arrival_ms;      /* approximateArrivalTimestamp */
    struct pl_keys query;    /* partitionKeyFromQuery */
    struct pl_keys lambda;   /* partitionKeyFromLambda */
};

/* A record that failed processing: goes to the error output
 * (ErrorOutputPrefix, !{firehose:error-output-type} = output_type) as
 * AWS's error record, with the source record's bytes as rawData. */
struct pl_fail {
    uint32_t src;
    const char *error_code;  /* static: "Lambda.ProcessingFailedStatus", ... */
    char *message;           /* malloc'd, owned by the batch */
    const char *output_type; /* static: "processing-failed", ... */
    int attempts;            /* attemptsMade (processing attempts) */
    const char *lambda_arn;  /* static or owned by the run's params; NULL */
};

struct pl_batch {
    struct buf data;         /* record bytes */
    struct buf recs;         /* struct pl_rec[n] */
    size_t n;
    struct buf keys;         /* partition key storage */
    struct buf fails;        /* struct pl_fail[nfail] */
    size_t nfail;
};

/* Empty batch; ceiling: the largest data it may hold (bytes). */
void pl_batch_init(struct pl_batch *b, size_t ceiling);
void pl_batch_free(struct pl_batch *b);   /* accepts a zeroed batch */
/* The records of a taken stream batch, src = i, arrival = the batch's
 * oldest record (stream.c keeps one arrival per batch), no keys. */
int pl_batch_from_stream(struct pl_batch *out, const struct stream_batch *sb);
static inline struct pl_rec *pl_recs(const struct pl_batch *b)
{
    return (struct pl_rec *)(void *)b->recs.data;
}
static inline const unsigned char *pl_data(const struct pl_batch *b, const struct pl_rec *r)
{
    return (const unsigned char *)b->data.data + r->off;
}
/* Appends a record to out with data/len as its bytes and like's src,
 * arrival and partition keys (like belongs to `in`, which may be out).
 * HY_OK, HY_ENOMEM, HY_ETOOBIG (out's ceiling). */
int pl_add(struct pl_batch *out, const struct pl_batch *in, const struct pl_rec *like,
           const void *data, size_t len);
/* Sets rec's keys of one kind (from_lambda or query) from n name/value
 * pairs, replacing what it had. */
int pl_set_keys(struct pl_batch *b, struct pl_rec *rec, bool from_lambda,
                const char *const *names, const char *const *values, size_t n);
/* The value of partition key `name` (from_lambda or query) of rec, with
 * its length in *len; NULL when rec has no such key. */
const char *pl_key_get(const struct pl_batch *b, const struct pl_rec *rec, bool from_lambda,
                       const char *name, size_t *len);
/* Lists a failed record in out (message printf-style). */
int pl_fail_add(struct pl_batch *out, uint32_t src, const char *error_code,
                const char *output_type, int attempts, const char *lambda_arn,
                const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* Copies in's fails to out (a processor passes earlier failures on). */
int pl_fails_copy(struct pl_batch *out, const struct pl_batch *in);

/* ---- processors ------------------------------------------------------ */

/* One processor's Parameters as the client gave them (AWS's
 * ParameterName / ParameterValue pairs, borrowed). */
struct pl_param {
    const char *name;
    const char *value;
};
const char *pl_param_get(const struct pl_param *p, size_t n, const char *name);

/* What a run knows of its stream. */
struct pl_ctx {
    const struct stream_dest *dest;   /* stream name, version, bucket, ... */
    const char *stream_arn;           /* deliveryStreamArn */
    const char *region;
    const struct pl_batch *source;    /* the records as put (rawData) */
    int64_t now_ms;
};

struct processor {
    const char *type;         /* AWS's ProcessorType: "RecordDeAggregation", ... */
    /* Checks the parameters at CreateDeliveryStream / UpdateDestination:
     * HY_OK, or HY_EINVAL with AWS's InvalidArgumentException message in
     * msg. Every parameter AWS defines for the type is either honoured or
     * refused here, never ignored. */
    int (*check)(const struct pl_param *p, size_t n, char *msg, size_t msg_len);
    /* in -> out (out is initialized, empty). Failures of single records go
     * to out's fails (and in's fails are carried over by the caller);
     * an rc other than HY_OK means the whole batch could not be processed
     * now (no memory, an endpoint down past its retries is NOT this: that
     * fails the records) and it is tried again later. */
    int (*run)(const struct pl_param *p, size_t n, const struct pl_ctx *ctx,
               const struct pl_batch *in, struct pl_batch *out);
    /* false when the same input may give a different output (Lambda):
     * delivery logs the output before any object is written, so that
     * recovery writes exactly the objects of the first run. */
    bool deterministic;
};

/* The processors in AWS's execution order (processors.c). */
extern const struct processor *const processor_table[];
extern const size_t processor_count;
/* By AWS type name; NULL when hydrant has none of that type. */
const struct processor *processor_find(const char *type);

/* ---- sinks ------------------------------------------------------------ */

struct sink_put {
    const struct stream_dest *dest;   /* whose object it is */
    const char *bucket;               /* dest's bucket, its backup's, ... */
    const char *key;
    const void *data;                 /* the object's bytes */
    size_t len;
    const char *content_type;
    /* the processed records the object holds (a destination that takes
     * records, not objects, reads them: HTTP endpoints); may be NULL */
    const struct pl_batch *records;
};

struct sink {
    const char *name;                 /* "store", "s3", "http" (logs) */
    /* Writes one object. Idempotent: the same key twice leaves one object
     * (a retry after a crash rewrites, never duplicates). HY_OK once the
     * destination confirmed it; else an rc, AWS's error code for the
     * error record in *error_code ("S3.NoSuchBucket", ...), a sentence in
     * why, and whether a later attempt may succeed in *retryable. */
    int (*put)(const struct sink_put *req, const char **error_code, bool *retryable,
               char *why, size_t why_len);
};

/* ---- the run: a taken batch becomes objects (pipeline.c) ------------- */

/* One object a batch becomes: its records after processing (one per
 * partition with dynamic partitioning), the error output of the records
 * that failed (one per error-output type), the backup of the source
 * records. Keys are fixed by the batch (its WAL position), the object's
 * role and partition: a second run names the same objects. */
struct pl_object {
    char bucket[64];
    char *key;               /* malloc'd */
    struct buf body;         /* its bytes, compressed as configured */
    const char *kind;        /* "data", "error", "backup" (logs) */
    size_t nrecords;
    bool written;            /* the sink confirmed it (delivery.c) */
};
struct pl_objects {
    struct pl_object *v;
    size_t n, cap;
    size_t records_in, records_out, records_failed, records_dropped;
};
void pl_objects_free(struct pl_objects *o);

/* Whether d's batches go through the run (processors enabled, dynamic
 * partitioning, source backup); the others are delivered as one object,
 * as they always were. */
bool pipeline_wanted(const struct stream_dest *d);
/* false when a processor of d may answer differently the second time
 * (Lambda): its objects are logged before they are written. */
bool pipeline_deterministic(const struct stream_dest *d);

/* Runs b through d's processors, partitions and names the output, and
 * builds the error and backup objects. node_id: 16 bytes naming the data
 * directory (object ids). HY_OK and *out; another rc (with why) when the
 * batch cannot be processed now (no memory, a prefix that cannot be
 * evaluated without partitioning): delivery tries again later. */
int pipeline_run(const struct stream_batch *b, const unsigned char *node_id,
                 struct pl_objects *out, char *why, size_t why_len);

/* Checks a destination's ProcessingConfiguration and
 * DynamicPartitioningConfiguration (and the prefixes against them) at
 * CreateDeliveryStream / UpdateDestination: HY_OK, or HY_EINVAL with the
 * InvalidArgumentException message in msg. */
int pipeline_check(const json_t *dest, const char *stream, char *msg, size_t msg_len);

/* One of AWS's error records (a JSON line) for a record that could not
 * be delivered or processed; lambda_arn may be NULL, stream may be NULL
 * (the dead-letter area names it). */
struct pl_error_rec {
    int attempts;
    int64_t arrival_ms;
    const char *error_code;
    const char *message;
    int64_t ending_ms;
    const void *raw;
    size_t raw_len;
    const char *lambda_arn;
    const char *stream;
    /* format-conversion-failed records are shaped differently by AWS:
     * ErrorCode / ErrorMessage and the dataCatalogTable they were checked
     * against (this SchemaConfiguration); NULL for every other type */
    const json_t *schema_config;
    const char *region;
};
int pl_error_record(struct buf *out, const struct pl_error_rec *r);

/* The sink that holds `bucket` for dest (sinks.c): the embedded store
 * unless the configuration names another. */
const struct sink *sink_for(const struct stream_dest *dest, const char *bucket);
extern const struct sink sink_store;  /* sinks/store.c: the embedded store */

#endif
