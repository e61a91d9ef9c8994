/* metrics.h -- counters of the data flow, with Firehose's CloudWatch
 * names, summed on scrape (metrics.c).
 *
 * Producers of numbers call the metrics_* hooks below from their own
 * threads (one call per event; each costs a few relaxed atomic adds on a
 * cache line of the calling thread's own shard). Readers are the
 * Prometheus page (GET /_hydrant/metrics) and the CloudWatch API
 * (cloudwatch.c), which reads the 1-minute history of the per-stream
 * metrics through metrics_query / metrics_list.
 */
#ifndef HYDRANT_METRICS_H
#define HYDRANT_METRICS_H

#include "server.h"

/* The per-stream metrics, by their CloudWatch names (namespace
 * AWS/Firehose, dimension DeliveryStreamName). */
enum metric_id {
    M_INCOMING_BYTES,
    M_INCOMING_RECORDS,
    M_INCOMING_PUT_REQUESTS,
    M_THROTTLED_RECORDS,
    M_PUT_RECORD_REQUESTS,
    M_PUT_RECORD_BATCH_REQUESTS,
    M_S3_BYTES,
    M_S3_RECORDS,
    M_S3_SUCCESS,
    M_S3_FRESHNESS,     /* values in ms, shown in seconds */
    M_BACKUP_BYTES,
    M_BACKUP_RECORDS,
    M_BACKUP_SUCCESS,
    M_SUCCEED_PROC_RECORDS,
    M_PARTITION_COUNT,
    M_COUNT
};
/* The CloudWatch name ("DeliveryToS3.DataFreshness") and unit
 * ("Seconds", "Bytes", "Count"). */
const char *metrics_name(int id);
const char *metrics_unit(int id);
/* The id of a CloudWatch name, -1 when none. */
int metrics_find(const char *cloudwatch_name);

/* Starts the bookkeeping (allocates the stream table). HY_OK or
 * HY_ENOMEM. Without it every hook is a no-op. */
int metrics_init(void);
void metrics_shutdown(void);

/* ---- hooks (one call each, from the file that sees the event) -------- */
struct stream_ingest;
struct stream_batch;
struct pl_objects;
/* firehose.c, for a put answered at once (nothing went to the log: every
 * record refused, or no log): its records' outcome (prc); in->name must
 * still be valid. batch: PutRecordBatch. */
void metrics_put(const struct stream_ingest *in, bool batch);
/* stream.c, on the WAL writer thread, once a put's records are durable:
 * the same for the stream of that numeric id (in->name is not read). */
void metrics_ingested(uint32_t stream_id, const struct stream_ingest *in);
/* delivery.c, once a batch is written: objs (NULL for a batch written as
 * one object of object_bytes bytes) says which objects it became. */
void metrics_delivered(const struct stream_batch *b, const struct pl_objects *objs,
                       size_t object_bytes);
/* delivery.c, when an attempt failed: counted (DeliveryToS3.Success 0)
 * and written to the stream's CloudWatch Logs destination when its
 * CloudWatchLoggingOptions say so (cloudwatch.c). err_code is AWS's
 * ("S3.NoSuchBucket"), why the message. */
void metrics_delivery_failed(const struct stream_batch *b, const char *err_code,
                             const char *why);
/* wal.c, once a group is durable: its frames and bytes. */
void metrics_wal_commit(size_t frames, size_t bytes);
/* http.c, when a request is answered: its status and how long since its
 * headers were in. */
void metrics_http_reply(const struct http_req *req, int status, int64_t latency_ms);

/* ---- readers ---------------------------------------------------------- */
/* One minute of one metric: the samples' sum, count, minimum, maximum. */
struct metrics_point {
    int64_t minute_ms;   /* start of the minute, ms since the epoch */
    double sum, n, min, max;
};
/* How many minutes are kept per metric and stream. */
#define METRICS_RING_MINUTES 180
/* The minutes of a stream's metric in [start_ms, end_ms) that have
 * samples, oldest first, into out[0..max). Returns how many. stream is
 * the catalog key ("<region>/<name>"). Values of M_S3_FRESHNESS are in
 * seconds. */
size_t metrics_query(const char *stream_key, int id, int64_t start_ms, int64_t end_ms,
                     struct metrics_point *out, size_t max);
/* Calls fn for each (stream, metric) with any sample in the kept window. */
typedef void (*metrics_list_fn)(void *ctx, const char *stream_key, int id);
void metrics_list(metrics_list_fn fn, void *ctx);

/* The Prometheus text exposition of everything (caller frees *out).
 * HY_OK or HY_ENOMEM. */
int metrics_render(char **out, size_t *len);

/* The unsigned page GET /_hydrant/metrics (a row of the router's table):
 * 401 without the bearer token when --metrics-token is set. */
void metrics_handle(struct http_req *req);
/* --metrics-token (main.c); NULL: the page is open. */
extern const char *metrics_token;

#endif
