/* metrics.c -- counters of the data flow, with Firehose's CloudWatch
 * names, summed on scrape.
 *
 * What is counted: per delivery stream, the metrics Firehose publishes to
 * CloudWatch (namespace AWS/Firehose, dimension DeliveryStreamName:
 * IncomingBytes, IncomingRecords, IncomingPutRequests, ThrottledRecords,
 * PutRecord.Requests, PutRecordBatch.Requests, DeliveryToS3.Bytes /
 * Records / Success / DataFreshness, BackupToS3.Bytes / Records /
 * Success, SucceedProcessing.Records, PartitionCount); and the server's
 * own: requests by API, operation and status with a latency histogram,
 * the WAL (bytes, frames, group commits and their sizes, fsyncs,
 * segments), buffered bytes against --max-buffered, delivery and the
 * dead-letter bucket.
 *
 * Design: counting must cost the hot path nothing measurable, so nothing
 * shared is written per event. Each thread that counts gets a shard
 * index once (a thread-local, taken from a global counter) and adds to
 * its own cache-line-aligned cells with relaxed atomics; readers sum the
 * shards. With more counting threads than shards (METRICS_SHARDS) two
 * threads share a shard; the adds stay exact (atomic), only the minute a
 * sample lands in can be off by one at a minute's edge.
 *
 * Per stream and metric each shard holds the running totals (Prometheus
 * counters: never reset) and one cell of the current minute (sum, count,
 * minimum, maximum of the samples). When a thread's next sample falls in
 * a new minute it moves its cell into the stream's ring of 1-minute
 * points (METRICS_RING_MINUTES, 3 h) under the ring's lock: once per
 * minute per thread and metric. Readers (CloudWatch) take the same lock
 * and add the cells not yet moved, so the open minute is seen at once.
 *
 * A stream's entry is found by its catalog key ("<region>/<name>") in an
 * open-addressing table; entries are never freed (a stream deleted and
 * created again continues its counters, as a Prometheus counter must),
 * so a thread may cache the pointer: each thread keeps the last few
 * lookups. The table holds METRICS_MAX_STREAMS entries; past it new
 * streams are not counted and that is logged once.
 *
 * Threading: every hook is safe from any thread. metrics_init runs
 * before the threads start, metrics_shutdown after they stop.
 */
#include "metrics.h"
#include "api.h"
#include "cloudwatch.h"
#include "delivery.h"
#include "pipeline.h"
#include "stream.h"
#include "wal.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_SHARDS 16
#define METRICS_MAX_STREAMS 1024
#define METRICS_TABLE 2048 /* power of two, twice the entries */
#define MAX_OP_SLOTS 192

const char *metrics_token;

static const struct {
    const char *cw;     /* CloudWatch name */
    const char *unit;
    const char *prom;   /* Prometheus base name */
    const char *help;
} mdef[M_COUNT] = {
    [M_INCOMING_BYTES] = {"IncomingBytes", "Bytes", "incoming_bytes",
                          "IncomingBytes: bytes ingested successfully into the stream"},
    [M_INCOMING_RECORDS] = {"IncomingRecords", "Count", "incoming_records",
                            "IncomingRecords: records ingested successfully into the stream"},
    [M_INCOMING_PUT_REQUESTS] = {"IncomingPutRequests", "Count", "incoming_put_requests",
                                 "IncomingPutRequests: successful PutRecord and PutRecordBatch requests"},
    [M_THROTTLED_RECORDS] = {"ThrottledRecords", "Count", "throttled_records",
                             "ThrottledRecords: records refused with ServiceUnavailableException"},
    [M_PUT_RECORD_REQUESTS] = {"PutRecord.Requests", "Count", "put_record_requests",
                               "PutRecord.Requests: PutRecord requests"},
    [M_PUT_RECORD_BATCH_REQUESTS] = {"PutRecordBatch.Requests", "Count",
                                     "put_record_batch_requests",
                                     "PutRecordBatch.Requests: PutRecordBatch requests"},
    [M_S3_BYTES] = {"DeliveryToS3.Bytes", "Bytes", "delivery_to_s3_bytes",
                    "DeliveryToS3.Bytes: bytes delivered to S3"},
    [M_S3_RECORDS] = {"DeliveryToS3.Records", "Count", "delivery_to_s3_records",
                      "DeliveryToS3.Records: records delivered to S3"},
    [M_S3_SUCCESS] = {"DeliveryToS3.Success", "Count", "delivery_to_s3_success",
                      "DeliveryToS3.Success: successful S3 puts (the _attempts counter has all)"},
    [M_S3_FRESHNESS] = {"DeliveryToS3.DataFreshness", "Seconds", "delivery_to_s3_data_freshness",
                        "DeliveryToS3.DataFreshness: age of the oldest record of the last delivery"},
    [M_BACKUP_BYTES] = {"BackupToS3.Bytes", "Bytes", "backup_to_s3_bytes",
                        "BackupToS3.Bytes: bytes of source records backed up to S3"},
    [M_BACKUP_RECORDS] = {"BackupToS3.Records", "Count", "backup_to_s3_records",
                          "BackupToS3.Records: source records backed up to S3"},
    [M_BACKUP_SUCCESS] = {"BackupToS3.Success", "Count", "backup_to_s3_success",
                          "BackupToS3.Success: successful backup puts"},
    [M_SUCCEED_PROC_RECORDS] = {"SucceedProcessing.Records", "Count",
                                "succeed_processing_records",
                                "SucceedProcessing.Records: records processed successfully"},
    [M_PARTITION_COUNT] = {"PartitionCount", "Count", "partition_count",
                           "PartitionCount: partitions of the last delivered batch"},
};

const char *metrics_name(int id)
{
    return id >= 0 && id < M_COUNT ? mdef[id].cw : NULL;
}

const char *metrics_unit(int id)
{
    return id >= 0 && id < M_COUNT ? mdef[id].unit : NULL;
}

int metrics_find(const char *name)
{
    for (int i = 0; i < M_COUNT; i++)
        if (name && strcmp(mdef[i].cw, name) == 0)
            return i;
    return -1;
}

/* ---- per stream ----------------------------------------------------------- */

struct cell {            /* one minute of one metric in one shard */
    int64_t minute;      /* minutes since the epoch; 0: empty */
    uint64_t sum, n, min, max;
};
struct shard_metric {
    uint64_t total_sum, total_n;
    struct cell cell;
};
struct shard {
    struct shard_metric m[M_COUNT];
} __attribute__((aligned(64)));

struct point {           /* one minute in the ring */
    int64_t minute;
    uint64_t sum, n, min, max;
};

struct mstream {
    char key[STREAM_KEY_MAX];
    uint64_t hash;
    uint64_t last[M_COUNT];       /* last sample (gauges) */
    struct shard shard[METRICS_SHARDS];
    pthread_mutex_t ring_lock;
    struct point *ring[M_COUNT];  /* METRICS_RING_MINUTES each, on first use */
};

static struct {
    bool on;
    pthread_rwlock_t lock;        /* the table's slots */
    struct mstream *slot[METRICS_TABLE];
    size_t n;
    bool full_logged;
    unsigned next_shard;
    uint64_t gen;                 /* bumped by shutdown: thread caches drop */
} T = {.lock = PTHREAD_RWLOCK_INITIALIZER};

static _Thread_local int my_shard = -1;
static _Thread_local struct {
    uint64_t gen;
    struct mstream *e[4];
    unsigned next;
} tcache;

static int shard_index(void)
{
    if (my_shard < 0)
        my_shard = (int)(__atomic_fetch_add(&T.next_shard, 1, __ATOMIC_RELAXED) %
                         METRICS_SHARDS);
    return my_shard;
}

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Caller holds T.lock (either way). */
static struct mstream *table_find(const char *key, uint64_t h, size_t *free_slot)
{
    for (size_t i = 0; i < METRICS_TABLE; i++) {
        size_t at = (h + i) & (METRICS_TABLE - 1);
        struct mstream *e = T.slot[at];
        if (!e) {
            if (free_slot)
                *free_slot = at;
            return NULL;
        }
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    }
    return NULL;
}

/* The entry of a stream, made on first use; NULL when off, full or out
 * of memory. */
static struct mstream *stream_entry(const char *key)
{
    if (!__atomic_load_n(&T.on, __ATOMIC_ACQUIRE) || !key || strlen(key) >= STREAM_KEY_MAX)
        return NULL;
    uint64_t gen = __atomic_load_n(&T.gen, __ATOMIC_ACQUIRE);
    if (tcache.gen != gen) {
        memset(&tcache, 0, sizeof tcache);
        tcache.gen = gen;
    }
    for (int i = 0; i < 4; i++)
        if (tcache.e[i] && strcmp(tcache.e[i]->key, key) == 0)
            return tcache.e[i];
    uint64_t h = hash_key(key);
    pthread_rwlock_rdlock(&T.lock);
    struct mstream *e = table_find(key, h, NULL);
    pthread_rwlock_unlock(&T.lock);
    if (!e) {
        pthread_rwlock_wrlock(&T.lock);
        size_t at = METRICS_TABLE;
        e = table_find(key, h, &at);
        void *mem = NULL;
        if (!e && T.n < METRICS_MAX_STREAMS && at < METRICS_TABLE &&
            posix_memalign(&mem, 64, sizeof *e) == 0) {
            e = mem;
            memset(e, 0, sizeof *e);
            snprintf(e->key, sizeof e->key, "%s", key);
            e->hash = h;
            pthread_mutex_init(&e->ring_lock, NULL);
            T.slot[at] = e;
            T.n++;
        } else if (!e && !T.full_logged) {
            T.full_logged = true;
            log_warn("metrics", "%zu streams counted (the most, or out of memory): %s and "
                     "later ones are not", T.n, key);
        }
        pthread_rwlock_unlock(&T.lock);
        if (!e)
            return NULL;
    }
    tcache.e[tcache.next++ & 3] = e;
    return e;
}

/* Caller holds e->ring_lock. */
static void ring_add(struct mstream *e, int id, int64_t minute, uint64_t sum, uint64_t n,
                     uint64_t min, uint64_t max)
{
    if (!n)
        return;
    if (!e->ring[id] && !(e->ring[id] = calloc(METRICS_RING_MINUTES, sizeof *e->ring[id])))
        return; /* out of memory: this minute is lost from the history only */
    struct point *p = &e->ring[id][minute % METRICS_RING_MINUTES];
    if (p->minute != minute) {
        if (p->minute > minute)
            return; /* older than the window */
        *p = (struct point){minute, 0, 0, UINT64_MAX, 0};
    }
    p->sum += sum;
    p->n += n;
    if (min < p->min)
        p->min = min;
    if (max > p->max)
        p->max = max;
}

static void atomic_min(uint64_t *p, uint64_t v)
{
    uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v < cur && !__atomic_compare_exchange_n(p, &cur, v, true, __ATOMIC_RELAXED,
                                                   __ATOMIC_RELAXED))
        ;
}

static void atomic_max(uint64_t *p, uint64_t v)
{
    uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v > cur && !__atomic_compare_exchange_n(p, &cur, v, true, __ATOMIC_RELAXED,
                                                   __ATOMIC_RELAXED))
        ;
}

/* One sample of value v (n events of it summed: v is their total). */
static void sample(struct mstream *e, int id, uint64_t v, int64_t now_ms)
{
    struct shard_metric *m = &e->shard[shard_index()].m[id];
    int64_t minute = now_ms / 60000;
    __atomic_fetch_add(&m->total_sum, v, __ATOMIC_RELAXED);
    __atomic_fetch_add(&m->total_n, 1, __ATOMIC_RELAXED);
    if (id == M_S3_FRESHNESS || id == M_PARTITION_COUNT) /* gauges; rare (deliveries) */
        __atomic_store_n(&e->last[id], v, __ATOMIC_RELAXED); /* shared line: not per put */
    if (__atomic_load_n(&m->cell.minute, __ATOMIC_RELAXED) != minute) {
        /* a new minute for this shard: the old one goes to the ring */
        pthread_mutex_lock(&e->ring_lock);
        struct cell *c = &m->cell;
        if (c->minute != minute) {
            if (c->minute)
                ring_add(e, id, c->minute, c->sum, c->n, c->min, c->max);
            __atomic_store_n(&c->sum, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&c->n, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&c->min, UINT64_MAX, __ATOMIC_RELAXED);
            __atomic_store_n(&c->max, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&c->minute, minute, __ATOMIC_RELAXED);
        }
        pthread_mutex_unlock(&e->ring_lock);
    }
    __atomic_fetch_add(&m->cell.sum, v, __ATOMIC_RELAXED);
    __atomic_fetch_add(&m->cell.n, 1, __ATOMIC_RELAXED);
    atomic_min(&m->cell.min, v);
    atomic_max(&m->cell.max, v);
}

/* ---- the server's own (requests, WAL group commits) -------------------- */

static const int code_list[] = {200, 204, 206, 301, 304, 307, 400, 401, 403, 404, 405,
                                409, 411, 412, 413, 416, 431, 500, 501, 503};
#define NCODES (sizeof code_list / sizeof code_list[0] + 1) /* + other */
/* latency buckets, seconds */
static const double lat_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                0.25, 0.5, 1, 2.5, 5, 10};
#define NLAT (sizeof lat_le / sizeof lat_le[0])
/* group commit sizes, frames */
static const double group_le[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
#define NGROUP (sizeof group_le / sizeof group_le[0])

struct req_shard {
    uint64_t count[MAX_OP_SLOTS][NCODES];
    uint64_t lat[MAX_OP_SLOTS][NLAT + 1]; /* last: over the largest bucket */
    uint64_t lat_sum_us[MAX_OP_SLOTS];
    uint64_t group[NGROUP + 1];
    uint64_t group_sum, group_n, group_bytes;
} __attribute__((aligned(64)));
static struct req_shard *R; /* METRICS_SHARDS of them */

static size_t code_index(int status)
{
    for (size_t i = 0; i < NCODES - 1; i++)
        if (code_list[i] == status)
            return i;
    return NCODES - 1;
}

void metrics_http_reply(const struct http_req *req, int status, int64_t latency_ms)
{
    struct req_shard *r = __atomic_load_n(&R, __ATOMIC_ACQUIRE);
    if (!r)
        return;
    int slot = router_op_slot(req);
    if (slot < 0 || slot >= MAX_OP_SLOTS)
        return;
    r += shard_index();
    __atomic_fetch_add(&r->count[slot][code_index(status)], 1, __ATOMIC_RELAXED);
    double s = (double)(latency_ms < 0 ? 0 : latency_ms) / 1000.0;
    size_t b = 0;
    while (b < NLAT && s > lat_le[b])
        b++;
    __atomic_fetch_add(&r->lat[slot][b], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->lat_sum_us[slot], (uint64_t)(latency_ms < 0 ? 0 : latency_ms) * 1000,
                       __ATOMIC_RELAXED);
}

void metrics_wal_commit(size_t frames, size_t bytes)
{
    struct req_shard *r = __atomic_load_n(&R, __ATOMIC_ACQUIRE);
    if (!r)
        return;
    r += shard_index();
    size_t b = 0;
    while (b < NGROUP && (double)frames > group_le[b])
        b++;
    __atomic_fetch_add(&r->group[b], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->group_sum, frames, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->group_n, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->group_bytes, bytes, __ATOMIC_RELAXED);
}

/* ---- hooks of the data flow ------------------------------------------- */

static void count_put(struct mstream *e, const struct stream_ingest *in, bool batch)
{
    uint64_t ok = 0, bytes = 0, throttled = 0;
    for (size_t i = 0; i < in->n; i++) {
        if (in->prc[i] == HY_OK) {
            ok++;
            bytes += in->lens[i];
        } else if (in->prc[i] == HY_EBUSY || in->prc[i] == HY_ENOSPC ||
                   in->prc[i] == HY_EIO || in->prc[i] == HY_ENOMEM) {
            throttled++;
        }
        if (!batch)
            break; /* PutRecord: one record */
    }
    int64_t now = in->now_ms ? in->now_ms : hy_now_ms(); /* the put's own arrival */
    sample(e, batch ? M_PUT_RECORD_BATCH_REQUESTS : M_PUT_RECORD_REQUESTS, 1, now);
    if (ok) {
        sample(e, M_INCOMING_PUT_REQUESTS, 1, now);
        sample(e, M_INCOMING_RECORDS, ok, now);
        sample(e, M_INCOMING_BYTES, bytes, now);
    }
    if (throttled)
        sample(e, M_THROTTLED_RECORDS, throttled, now);
}

void metrics_put(const struct stream_ingest *in, bool batch)
{
    struct mstream *e = stream_entry(in->name);
    if (e)
        count_put(e, in, batch);
}

void metrics_ingested(uint32_t stream_id, const struct stream_ingest *in)
{
    /* the WAL writer's cache of stream ids: a stream's id never changes */
    static _Thread_local struct {
        uint64_t gen;
        uint32_t id[4];
        struct mstream *e[4];
        unsigned next;
    } ids;
    if (!__atomic_load_n(&T.on, __ATOMIC_ACQUIRE))
        return;
    uint64_t gen = __atomic_load_n(&T.gen, __ATOMIC_ACQUIRE);
    if (ids.gen != gen) {
        memset(&ids, 0, sizeof ids);
        ids.gen = gen;
    }
    struct mstream *e = NULL;
    for (int i = 0; i < 4 && !e; i++)
        if (ids.e[i] && ids.id[i] == stream_id)
            e = ids.e[i];
    if (!e) {
        char key[STREAM_KEY_MAX];
        if (stream_key_of(stream_id, key) != HY_OK || !(e = stream_entry(key)))
            return;
        unsigned k = ids.next++ & 3;
        ids.id[k] = stream_id;
        ids.e[k] = e;
    }
    count_put(e, in, !in->stop_at_refusal);
}

/* The catalog key of a batch's stream: its region is in its ARN
 * (arn:aws:firehose:<region>:...). */
static struct mstream *batch_entry(const struct stream_batch *b)
{
    char region[64] = "", key[STREAM_KEY_MAX];
    const char *p = b->dest.arn;
    if (strncmp(p, "arn:", 4) == 0) {
        const char *r = p;
        for (int i = 0; i < 3 && r; i++)
            r = strchr(r + 1, ':');
        const char *end = r ? strchr(r + 1, ':') : NULL;
        if (r && end && (size_t)(end - r - 1) < sizeof region)
            snprintf(region, sizeof region, "%.*s", (int)(end - r - 1), r + 1);
    }
    if (stream_key(key, region[0] ? region : hy_cfg.region, b->dest.name) != HY_OK)
        return NULL;
    return stream_entry(key);
}

void metrics_delivered(const struct stream_batch *b, const struct pl_objects *objs,
                       size_t object_bytes)
{
    struct mstream *e = batch_entry(b);
    if (!e)
        return;
    int64_t now = hy_now_ms();
    uint64_t data_bytes = 0, data_records = 0, partitions = 0;
    if (!objs) {
        data_bytes = object_bytes;
        data_records = b->nrecords;
    } else {
        for (size_t i = 0; i < objs->n; i++) {
            const struct pl_object *o = &objs->v[i];
            if (strcmp(o->kind, "data") == 0) {
                data_bytes += o->body.len;
                data_records += o->nrecords;
                partitions++;
            } else if (strcmp(o->kind, "backup") == 0) {
                sample(e, M_BACKUP_BYTES, o->body.len, now);
                sample(e, M_BACKUP_RECORDS, o->nrecords, now);
                sample(e, M_BACKUP_SUCCESS, 1, now);
            }
        }
        sample(e, M_SUCCEED_PROC_RECORDS, objs->records_out, now);
        if (b->dest.dynamic)
            sample(e, M_PARTITION_COUNT, partitions, now);
    }
    sample(e, M_S3_BYTES, data_bytes, now);
    sample(e, M_S3_RECORDS, data_records, now);
    sample(e, M_S3_SUCCESS, 1, now);
    sample(e, M_S3_FRESHNESS, (uint64_t)(now > b->oldest_ms ? now - b->oldest_ms : 0), now);
}

void metrics_delivery_failed(const struct stream_batch *b, const char *err_code,
                             const char *why)
{
    struct mstream *e = batch_entry(b);
    if (e)
        sample(e, M_S3_SUCCESS, 0, hy_now_ms());
    cloudwatch_log_delivery_error(b, err_code, why);
}

/* ---- readers ------------------------------------------------------------ */

/* Caller holds e->ring_lock: the live cells of every shard in point form. */
static void merge_cells(const struct mstream *e, int id, int64_t minute, struct point *p)
{
    for (int s = 0; s < METRICS_SHARDS; s++) {
        const struct cell *c = &e->shard[s].m[id].cell;
        if (__atomic_load_n(&c->minute, __ATOMIC_RELAXED) != minute)
            continue;
        uint64_t n = __atomic_load_n(&c->n, __ATOMIC_RELAXED);
        if (!n)
            continue;
        uint64_t mn = __atomic_load_n(&c->min, __ATOMIC_RELAXED);
        uint64_t mx = __atomic_load_n(&c->max, __ATOMIC_RELAXED);
        if (!p->n)
            p->min = UINT64_MAX;
        p->sum += __atomic_load_n(&c->sum, __ATOMIC_RELAXED);
        p->n += n;
        if (mn < p->min)
            p->min = mn;
        if (mx > p->max)
            p->max = mx;
    }
}

static struct mstream *lookup(const char *key)
{
    if (!key)
        return NULL;
    pthread_rwlock_rdlock(&T.lock);
    struct mstream *e = T.on ? table_find(key, hash_key(key), NULL) : NULL;
    pthread_rwlock_unlock(&T.lock);
    return e;
}

size_t metrics_query(const char *stream_key, int id, int64_t start_ms, int64_t end_ms,
                     struct metrics_point *out, size_t max)
{
    struct mstream *e = lookup(stream_key);
    if (!e || id < 0 || id >= M_COUNT)
        return 0;
    int64_t now_min = hy_now_ms() / 60000;
    int64_t first = start_ms / 60000, last = (end_ms - 1) / 60000;
    if (first < now_min - METRICS_RING_MINUTES + 1)
        first = now_min - METRICS_RING_MINUTES + 1;
    if (last > now_min)
        last = now_min;
    size_t n = 0;
    double scale = id == M_S3_FRESHNESS ? 1000.0 : 1.0;
    pthread_mutex_lock(&e->ring_lock);
    for (int64_t m = first; m <= last && n < max; m++) {
        if (m * 60000 < start_ms)
            continue;
        struct point p = {m, 0, 0, UINT64_MAX, 0};
        if (e->ring[id]) {
            const struct point *q = &e->ring[id][m % METRICS_RING_MINUTES];
            if (q->minute == m)
                p = *q;
        }
        merge_cells(e, id, m, &p);
        if (!p.n)
            continue;
        out[n++] = (struct metrics_point){m * 60000, (double)p.sum / scale, (double)p.n,
                                          (double)p.min / scale, (double)p.max / scale};
    }
    pthread_mutex_unlock(&e->ring_lock);
    return n;
}

void metrics_list(metrics_list_fn fn, void *ctx)
{
    int64_t now_min = hy_now_ms() / 60000;
    pthread_rwlock_rdlock(&T.lock);
    for (size_t i = 0; i < METRICS_TABLE; i++) {
        struct mstream *e = T.slot[i];
        if (!e)
            continue;
        for (int id = 0; id < M_COUNT; id++) {
            bool any = false;
            pthread_mutex_lock(&e->ring_lock);
            for (int s = 0; s < METRICS_SHARDS && !any; s++) {
                const struct cell *c = &e->shard[s].m[id].cell;
                any = c->n && c->minute > now_min - METRICS_RING_MINUTES;
            }
            for (int k = 0; e->ring[id] && k < METRICS_RING_MINUTES && !any; k++)
                any = e->ring[id][k].n && e->ring[id][k].minute > now_min - METRICS_RING_MINUTES;
            pthread_mutex_unlock(&e->ring_lock);
            if (any)
                fn(ctx, e->key, id);
        }
    }
    pthread_rwlock_unlock(&T.lock);
}

/* ---- the Prometheus text exposition --------------------------------------- */

/* A label value: backslash, double quote and newline escaped. */
static int label(struct buf *b, const char *s)
{
    int rc = HY_OK;
    for (; *s && rc == HY_OK; s++) {
        if (*s == '\\')
            rc = buf_puts(b, "\\\\");
        else if (*s == '"')
            rc = buf_puts(b, "\\\"");
        else if (*s == '\n')
            rc = buf_puts(b, "\\n");
        else
            rc = buf_append(b, s, 1);
    }
    return rc;
}

static int stream_labels(struct buf *b, const char *key)
{
    const char *slash = strchr(key, '/');
    int rc = buf_puts(b, "{region=\"");
    if (rc == HY_OK)
        rc = buf_printf(b, "%.*s", (int)(slash ? slash - key : 0), key);
    if (rc == HY_OK)
        rc = buf_puts(b, "\",delivery_stream_name=\"");
    if (rc == HY_OK)
        rc = label(b, slash ? slash + 1 : key);
    return rc ? rc : buf_puts(b, "\"}");
}

/* The streams, in table order, snapshotted under the lock. */
static size_t streams_snapshot(struct mstream **v, size_t max)
{
    size_t n = 0;
    pthread_rwlock_rdlock(&T.lock);
    for (size_t i = 0; i < METRICS_TABLE && n < max; i++)
        if (T.slot[i])
            v[n++] = T.slot[i];
    pthread_rwlock_unlock(&T.lock);
    return n;
}

static void totals(const struct mstream *e, int id, uint64_t *sum, uint64_t *n)
{
    *sum = *n = 0;
    for (int s = 0; s < METRICS_SHARDS; s++) {
        *sum += __atomic_load_n(&e->shard[s].m[id].total_sum, __ATOMIC_RELAXED);
        *n += __atomic_load_n(&e->shard[s].m[id].total_n, __ATOMIC_RELAXED);
    }
}

static int render_streams(struct buf *b)
{
    static struct mstream *v[METRICS_MAX_STREAMS];
    static pthread_mutex_t v_lock = PTHREAD_MUTEX_INITIALIZER;
    int rc = HY_OK;
    pthread_mutex_lock(&v_lock);
    size_t n = streams_snapshot(v, METRICS_MAX_STREAMS);
    for (int id = 0; id < M_COUNT && rc == HY_OK; id++) {
        const char *base = mdef[id].prom;
        bool gauge = id == M_S3_FRESHNESS || id == M_PARTITION_COUNT;
        bool ratio = id == M_S3_SUCCESS || id == M_BACKUP_SUCCESS;
        if (gauge) {
            const char *unit = id == M_S3_FRESHNESS ? "_seconds" : "";
            rc = buf_printf(b, "# HELP hydrant_firehose_%s%s %s\n# TYPE hydrant_firehose_%s%s gauge\n",
                            base, unit, mdef[id].help, base, unit);
            for (size_t i = 0; i < n && rc == HY_OK; i++) {
                uint64_t s, c;
                totals(v[i], id, &s, &c);
                if (!c)
                    continue;
                uint64_t last = __atomic_load_n(&v[i]->last[id], __ATOMIC_RELAXED);
                rc = buf_printf(b, "hydrant_firehose_%s%s", base, unit);
                if (rc == HY_OK)
                    rc = stream_labels(b, v[i]->key);
                if (rc == HY_OK)
                    rc = id == M_S3_FRESHNESS ? buf_printf(b, " %.3f\n", (double)last / 1000)
                                              : buf_printf(b, " %llu\n", (unsigned long long)last);
            }
            continue;
        }
        rc = buf_printf(b, "# HELP hydrant_firehose_%s_total %s\n# TYPE hydrant_firehose_%s_total counter\n",
                        base, mdef[id].help, base);
        for (size_t i = 0; i < n && rc == HY_OK; i++) {
            uint64_t s, c;
            totals(v[i], id, &s, &c);
            rc = buf_printf(b, "hydrant_firehose_%s_total", base);
            if (rc == HY_OK)
                rc = stream_labels(b, v[i]->key);
            if (rc == HY_OK)
                rc = buf_printf(b, " %llu\n", (unsigned long long)s);
        }
        if (ratio && rc == HY_OK) {
            rc = buf_printf(b, "# HELP hydrant_firehose_%s_attempts_total %s (every attempt)\n"
                            "# TYPE hydrant_firehose_%s_attempts_total counter\n",
                            base, mdef[id].cw, base);
            for (size_t i = 0; i < n && rc == HY_OK; i++) {
                uint64_t s, c;
                totals(v[i], id, &s, &c);
                rc = buf_printf(b, "hydrant_firehose_%s_attempts_total", base);
                if (rc == HY_OK)
                    rc = stream_labels(b, v[i]->key);
                if (rc == HY_OK)
                    rc = buf_printf(b, " %llu\n", (unsigned long long)c);
            }
        }
    }
    pthread_mutex_unlock(&v_lock);
    return rc;
}

static void req_sum(int slot, uint64_t counts[NCODES], uint64_t lat[NLAT + 1], uint64_t *lat_us)
{
    memset(counts, 0, NCODES * sizeof *counts);
    memset(lat, 0, (NLAT + 1) * sizeof *lat);
    *lat_us = 0;
    for (int s = 0; s < METRICS_SHARDS; s++) {
        const struct req_shard *r = &R[s];
        for (size_t c = 0; c < NCODES; c++)
            counts[c] += __atomic_load_n(&r->count[slot][c], __ATOMIC_RELAXED);
        for (size_t k = 0; k <= NLAT; k++)
            lat[k] += __atomic_load_n(&r->lat[slot][k], __ATOMIC_RELAXED);
        *lat_us += __atomic_load_n(&r->lat_sum_us[slot], __ATOMIC_RELAXED);
    }
}

static int render_requests(struct buf *b)
{
    int rc = buf_puts(b, "# HELP hydrant_requests_total Requests answered, by API, operation "
                         "and HTTP status\n# TYPE hydrant_requests_total counter\n");
    uint64_t counts[NCODES], lat[NLAT + 1], lat_us;
    for (int slot = 0; slot < MAX_OP_SLOTS && rc == HY_OK; slot++) {
        const char *api, *op;
        if (!router_slot_label(slot, &api, &op))
            continue;
        req_sum(slot, counts, lat, &lat_us);
        for (size_t c = 0; c < NCODES && rc == HY_OK; c++)
            if (counts[c])
                rc = c < NCODES - 1
                         ? buf_printf(b, "hydrant_requests_total{api=\"%s\",operation=\"%s\","
                                      "code=\"%d\"} %llu\n", api, op, code_list[c],
                                      (unsigned long long)counts[c])
                         : buf_printf(b, "hydrant_requests_total{api=\"%s\",operation=\"%s\","
                                      "code=\"other\"} %llu\n", api, op,
                                      (unsigned long long)counts[c]);
    }
    if (rc == HY_OK)
        rc = buf_puts(b, "# HELP hydrant_request_duration_seconds Time from a request's "
                         "headers to its answer\n# TYPE hydrant_request_duration_seconds "
                         "histogram\n");
    for (int slot = 0; slot < MAX_OP_SLOTS && rc == HY_OK; slot++) {
        const char *api, *op;
        if (!router_slot_label(slot, &api, &op))
            continue;
        req_sum(slot, counts, lat, &lat_us);
        uint64_t total = 0;
        for (size_t k = 0; k <= NLAT; k++)
            total += lat[k];
        if (!total)
            continue;
        uint64_t cum = 0;
        for (size_t k = 0; k < NLAT && rc == HY_OK; k++) {
            cum += lat[k];
            rc = buf_printf(b, "hydrant_request_duration_seconds_bucket{api=\"%s\",operation="
                            "\"%s\",le=\"%g\"} %llu\n", api, op, lat_le[k],
                            (unsigned long long)cum);
        }
        if (rc == HY_OK)
            rc = buf_printf(b, "hydrant_request_duration_seconds_bucket{api=\"%s\",operation="
                            "\"%s\",le=\"+Inf\"} %llu\n"
                            "hydrant_request_duration_seconds_sum{api=\"%s\",operation=\"%s\"} "
                            "%.6f\nhydrant_request_duration_seconds_count{api=\"%s\",operation="
                            "\"%s\"} %llu\n", api, op, (unsigned long long)total, api, op,
                            (double)lat_us / 1e6, api, op, (unsigned long long)total);
    }
    return rc;
}

static int render_server(struct buf *b)
{
    int rc = HY_OK;
    uint64_t group[NGROUP + 1] = {0}, gsum = 0, gn = 0, gbytes = 0;
    for (int s = 0; s < METRICS_SHARDS; s++) {
        for (size_t k = 0; k <= NGROUP; k++)
            group[k] += __atomic_load_n(&R[s].group[k], __ATOMIC_RELAXED);
        gsum += __atomic_load_n(&R[s].group_sum, __ATOMIC_RELAXED);
        gn += __atomic_load_n(&R[s].group_n, __ATOMIC_RELAXED);
        gbytes += __atomic_load_n(&R[s].group_bytes, __ATOMIC_RELAXED);
    }
    rc = buf_puts(b, "# HELP hydrant_wal_group_commit_frames Frames written and fsynced "
                     "together (group commit size)\n# TYPE hydrant_wal_group_commit_frames "
                     "histogram\n");
    uint64_t cum = 0;
    for (size_t k = 0; k < NGROUP && rc == HY_OK; k++) {
        cum += group[k];
        rc = buf_printf(b, "hydrant_wal_group_commit_frames_bucket{le=\"%g\"} %llu\n",
                        group_le[k], (unsigned long long)cum);
    }
    if (rc == HY_OK)
        rc = buf_printf(b, "hydrant_wal_group_commit_frames_bucket{le=\"+Inf\"} %llu\n"
                        "hydrant_wal_group_commit_frames_sum %llu\n"
                        "hydrant_wal_group_commit_frames_count %llu\n",
                        (unsigned long long)gn, (unsigned long long)gsum,
                        (unsigned long long)gn);
    if (rc == HY_OK && hy_wal) {
        struct wal_stats ws;
        wal_get_stats(hy_wal, &ws);
        rc = buf_printf(
            b,
            "# HELP hydrant_wal_bytes_total Bytes written to the write-ahead log\n"
            "# TYPE hydrant_wal_bytes_total counter\nhydrant_wal_bytes_total %llu\n"
            "# HELP hydrant_wal_frames_total Frames written to the write-ahead log\n"
            "# TYPE hydrant_wal_frames_total counter\nhydrant_wal_frames_total %llu\n"
            "# HELP hydrant_wal_commits_total Group commits of the write-ahead log\n"
            "# TYPE hydrant_wal_commits_total counter\nhydrant_wal_commits_total %llu\n"
            "# HELP hydrant_wal_fsyncs_total fsyncs of write-ahead log segments\n"
            "# TYPE hydrant_wal_fsyncs_total counter\nhydrant_wal_fsyncs_total %llu\n"
            "# HELP hydrant_wal_write_errors_total Failed writes or fsyncs of the log\n"
            "# TYPE hydrant_wal_write_errors_total counter\nhydrant_wal_write_errors_total %llu\n"
            "# HELP hydrant_wal_segments Segment files of the write-ahead log\n"
            "# TYPE hydrant_wal_segments gauge\nhydrant_wal_segments %zu\n"
            "# HELP hydrant_wal_group_commit_bytes_total Bytes of the group commits\n"
            "# TYPE hydrant_wal_group_commit_bytes_total counter\n"
            "hydrant_wal_group_commit_bytes_total %llu\n",
            (unsigned long long)ws.bytes, (unsigned long long)ws.frames,
            (unsigned long long)ws.commits, (unsigned long long)ws.fsyncs,
            (unsigned long long)ws.write_errors, ws.segments, (unsigned long long)gbytes);
    }
    if (rc == HY_OK)
        rc = buf_printf(b,
                        "# HELP hydrant_buffered_bytes Record bytes held in memory (buffers, "
                        "batches, reservations)\n# TYPE hydrant_buffered_bytes gauge\n"
                        "hydrant_buffered_bytes %zu\n"
                        "# HELP hydrant_buffered_bytes_ceiling --max-buffered: puts are refused "
                        "past it\n# TYPE hydrant_buffered_bytes_ceiling gauge\n"
                        "hydrant_buffered_bytes_ceiling %zu\n",
                        stream_buffered_bytes(), hy_cfg.max_buffered);
    struct delivery_stats ds;
    delivery_get_stats(&ds);
    if (rc == HY_OK)
        rc = buf_printf(
            b,
            "# HELP hydrant_delivery_objects_total Objects delivered\n"
            "# TYPE hydrant_delivery_objects_total counter\nhydrant_delivery_objects_total %llu\n"
            "# HELP hydrant_delivery_records_total Records delivered\n"
            "# TYPE hydrant_delivery_records_total counter\nhydrant_delivery_records_total %llu\n"
            "# HELP hydrant_delivery_bytes_total Record bytes delivered\n"
            "# TYPE hydrant_delivery_bytes_total counter\nhydrant_delivery_bytes_total %llu\n"
            "# HELP hydrant_delivery_failures_total Failed delivery attempts\n"
            "# TYPE hydrant_delivery_failures_total counter\nhydrant_delivery_failures_total %llu\n"
            "# HELP hydrant_delivery_pending_batches Batches waiting for a retry\n"
            "# TYPE hydrant_delivery_pending_batches gauge\nhydrant_delivery_pending_batches %zu\n"
            "# HELP hydrant_dead_letter_objects_total Batches moved to the dead-letter bucket\n"
            "# TYPE hydrant_dead_letter_objects_total counter\n"
            "hydrant_dead_letter_objects_total %llu\n"
            "# HELP hydrant_dead_letter_records_total Records moved to the dead-letter bucket\n"
            "# TYPE hydrant_dead_letter_records_total counter\n"
            "hydrant_dead_letter_records_total %llu\n",
            (unsigned long long)ds.objects, (unsigned long long)ds.records,
            (unsigned long long)ds.bytes, (unsigned long long)ds.failures, ds.pending,
            (unsigned long long)ds.dead_lettered, (unsigned long long)ds.dead_lettered_records);
    return rc;
}

int metrics_render(char **out, size_t *len)
{
    struct buf b;
    buf_init(&b, 64u << 20);
    int rc = METRICS_SHARDS && R ? HY_OK : HY_EINVAL;
    if (rc == HY_OK)
        rc = render_streams(&b);
    if (rc == HY_OK)
        rc = render_requests(&b);
    if (rc == HY_OK)
        rc = render_server(&b);
    if (rc) {
        buf_free(&b);
        return rc == HY_EINVAL ? HY_EINVAL : HY_ENOMEM;
    }
    *out = buf_detach(&b, len);
    return *out ? HY_OK : HY_ENOMEM;
}

/* ---- the page -------------------------------------------------------------- */

void metrics_handle(struct http_req *req)
{
    if (metrics_token) {
        const char *auth = http_header(req, "Authorization");
        size_t tl = strlen(metrics_token);
        bool ok = auth && strncmp(auth, "Bearer ", 7) == 0 && strlen(auth + 7) == tl &&
                  CRYPTO_memcmp(auth + 7, metrics_token, tl) == 0;
        if (!ok) {
            static const char msg[] = "unauthorized: this page needs its bearer token\n";
            http_add_header(req, "WWW-Authenticate", "Bearer realm=\"hydrant metrics\"");
            http_reply(req, 401, "text/plain; charset=utf-8", msg, sizeof msg - 1);
            return;
        }
    }
    char *body = NULL;
    size_t len = 0;
    if (metrics_render(&body, &len) != HY_OK) {
        static const char msg[] = "metrics unavailable\n";
        http_reply(req, 503, "text/plain; charset=utf-8", msg, sizeof msg - 1);
        return;
    }
    http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
    free(body);
}

/* ---- start and stop ------------------------------------------------------- */

int metrics_init(void)
{
    struct req_shard *r = NULL;
    if (posix_memalign((void **)&r, 64, METRICS_SHARDS * sizeof *r))
        return HY_ENOMEM;
    memset(r, 0, METRICS_SHARDS * sizeof *r);
    __atomic_store_n(&R, r, __ATOMIC_RELEASE);
    pthread_rwlock_wrlock(&T.lock);
    T.on = true;
    pthread_rwlock_unlock(&T.lock);
    return HY_OK;
}

void metrics_shutdown(void)
{
    pthread_rwlock_wrlock(&T.lock);
    T.on = false;
    __atomic_add_fetch(&T.gen, 1, __ATOMIC_RELEASE);
    for (size_t i = 0; i < METRICS_TABLE; i++) {
        struct mstream *e = T.slot[i];
        if (!e)
            continue;
        for (int id = 0; id < M_COUNT; id++)
            free(e->ring[id]);
        pthread_mutex_destroy(&e->ring_lock);
        free(e);
        T.slot[i] = NULL;
    }
    T.n = 0;
    pthread_rwlock_unlock(&T.lock);
    struct req_shard *r = __atomic_exchange_n(&R, NULL, __ATOMIC_ACQ_REL);
    free(r);
}
