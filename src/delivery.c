/* delivery.c -- the delivery threads: buffers become S3 objects.
 *
 * Loop: take every buffer that is due (stream.c decides: SizeInMBs reached,
 * oldest record IntervalInSeconds old), compress it (compress.c), name it
 * (prefix.c: the key is fixed once, at the first attempt, so a retry
 * rewrites the same key instead of adding a second object) and write it to
 * the embedded store.
 *
 * Exactly-once objects across crashes: the id in the key is derived from
 * the data directory's node id, the stream id and the batch's first WAL
 * position, and before the object is written a SEAL frame naming the
 * range, bucket and key is made durable in the WAL. After the write a
 * DELIVERED frame follows. If the process dies in between, recovery finds
 * the SEAL without its DELIVERED and rewrites the same records under the
 * same key: the object is overwritten, never duplicated. After each
 * delivery, WAL segments below the lowest undelivered position are
 * released. The dispatcher sleeps until the next interval falls due or a
 * retry is due, or until stream.c wakes it because a buffer filled, or a
 * worker finished a batch.
 *
 * Failures, and one stuck stream among healthy ones: a write that fails
 * -- the bucket does not exist, the prefix cannot be evaluated, the disk
 * is full -- keeps the batch in a retry list (sorted by take order) with
 * exponential backoff (1 s doubling to 30 s, +-25% jitter), logged once
 * per attempt with what the stream holds ("stream X is stuck since ...:
 * N batches, M records, B bytes held"; delivery_stuck_get/_list give the
 * same numbers to callers). The failed batch is parked: written to a
 * spill file (stream.c, stream_spill_write: fsynced, directory fsynced)
 * and its memory freed, and a parked batch no longer counts for the log's
 * low water, so the stuck stream keeps only its own records, on disk, and
 * every other stream's segments are released. Later batches of a stuck
 * stream are parked behind it without an attempt: only the oldest batch
 * of a stream is retried, and a stream's batches are written in the order
 * they were taken. A parked batch is read back for each attempt; its key
 * is made durable by writing it into its spill file (not a SEAL: its
 * records may be gone from the log), and once written, its DELIVERED is
 * waited for before the spill file is deleted. After --retry-window
 * (hy_cfg.retry_window_s, or a dynamically partitioned stream's
 * RetryOptions.DurationInSeconds; AWS retries S3 delivery for 24 h, then drops
 * the data) the batch goes to the dead-letter bucket instead
 * (DELIVERY_DEAD_LETTER_BUCKET; key and format in delivery.h), then its
 * DELIVERED; nothing is dropped silently. Crash windows: between the
 * dead-letter write and its DELIVERED, the next start retries it (a
 * second dead-letter write overwrites the same key; if the destination
 * works by then, the records are in both places).
 *
 * Two batches are written at once: writing an object is CPU work (copying
 * it into the page cache, its MD5) followed by a wait for the disk (fsync),
 * and the SEAL before it waits for a WAL commit, so one batch's waits and
 * the second core are used by the other batch (recovery of 1 GiB in ~100
 * MiB objects is bound by this). The dispatcher takes due batches and
 * queues them; DELIVERY_WORKERS workers prepare (name, compress) and write
 * them. At most DELIVERY_WORKERS batches are taken and not yet written, so
 * buffers keep filling while the store is busy, as with one thread.
 *
 * Order within a stream: a worker never starts a batch while another
 * batch of the same stream is being written or waits in the retry list
 * (it is parked behind it instead), and the queue is first in, first out,
 * so a stream's SEALs reach the WAL in take order. Recovery no longer
 * depends on that order (stream.c sorts records by the SEAL ranges), but
 * objects keep arriving in order. Batches of different streams are
 * independent: their ranges, keys and SEALs never overlap.
 *
 * Releasing the log: a batch taken from stream.c is no longer counted by
 * stream_min_lsn(), so the take and its entry in the queue happen under
 * release_lock, which release_log also holds while it computes the low
 * water: no release can see a batch in neither place.
 *
 * Stop: one last forced pass delivers every non-empty buffer and tries
 * each pending retry still in memory once more; what still cannot be
 * written is reported (the write-ahead log or its spill file keeps it for
 * the next start).
 *
 * Threading: the dispatcher thread and the workers share the queue, the
 * busy list and the retry list under `lock` (a batch is on exactly one of
 * them while it is held here); a worker owns the batch it is writing.
 * Lock order: release_lock, then stream.c's locks, then lock.
 */
#include "delivery.h"
#include "compress.h"
#include "objstore.h"
#include "pipeline.h"
#include "prefix.h"
#include "sinks/sinks.h"
#include "stream.h"
#include "metrics.h"
#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 30000
#define IDLE_WAIT_MS 1000
#define DELIVERY_WORKERS 2

struct pending {
    struct pending *next;
    struct stream_batch *batch;
    uint64_t seq;           /* take order: a stream's batches go in this order */
    char *key;              /* fixed at the first attempt; NULL until prepared */
    struct buf body;        /* compressed bytes, made once per load */
    bool sealed;            /* its key is durable (SEAL in the WAL, or its spill) */
    int attempts;
    int64_t next_try_mono;
    const char *err_code;   /* last failure, AWS-style ("S3.NoSuchBucket") */
    char why[200];          /* last failure, for the log and delivery_stuck */
    struct pl_objects objs; /* a pipeline batch's objects, once run */
    bool planned;           /* objs are in its plan file (nondeterministic run) */
};

static struct {
    pthread_t thread;
    pthread_t workers[DELIVERY_WORKERS];
    int nworkers;
    pthread_mutex_t lock;
    pthread_mutex_t release_lock; /* a take + queueing vs. release_log */
    pthread_cond_t cond;    /* wakes the dispatcher */
    pthread_cond_t work;    /* wakes the workers: a job queued, a stream freed, quit */
    bool running, stop, kick, quit;
    struct pending *queue;  /* taken, not started; FIFO */
    struct pending *busy;   /* being prepared or written by a worker */
    struct pending *retry;  /* failed (or behind a failed batch of its
                               stream), waiting; sorted by seq */
    size_t njobs;           /* on queue + busy */
    uint64_t seq;
    struct delivery_stats stats;
} D = {.lock = PTHREAD_MUTEX_INITIALIZER, .release_lock = PTHREAD_MUTEX_INITIALIZER};

static void wake(void)
{
    pthread_mutex_lock(&D.lock);
    D.kick = true;
    pthread_cond_signal(&D.cond);
    pthread_mutex_unlock(&D.lock);
}

/* The id part of a key: a uuid-shaped hash of (node, stream, first LSN),
 * so the same records always get the same key; random without a WAL. */
static void batch_object_id(const struct stream_batch *b, char out[37])
{
    if (!b->first_lsn) {
        hy_uuid4(out);
        return;
    }
    unsigned char in[28], md[32];
    unsigned int mdlen = 0;
    memcpy(in, stream_node_id(), 16);
    for (int i = 0; i < 4; i++)
        in[16 + i] = (unsigned char)(b->stream_id >> (8 * i));
    for (int i = 0; i < 8; i++)
        in[20 + i] = (unsigned char)(b->first_lsn >> (8 * i));
    EVP_Digest(in, sizeof in, md, &mdlen, EVP_sha256(), NULL);
    md[6] = (md[6] & 0x0f) | 0x80; /* version 8: name-based, custom */
    md[8] = (md[8] & 0x3f) | 0x80;
    char hex[33];
    hex_encode(hex, md, 16);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
}

static void pending_free(struct pending *p)
{
    if (!p)
        return;
    stream_batch_free(p->batch);
    buf_free(&p->body);
    pl_objects_free(&p->objs);
    free(p->key);
    free(p);
}

/* ---- plan files: the objects of a nondeterministic run ------------------
 * A Lambda may answer differently the second time, so the objects of a
 * run with one are made durable before the first is written, and a retry
 * or a recovery writes exactly those:
 * <data_dir>/spill/<stream id, 8 hex>-<first LSN, 16 hex>.plan, integers
 * little-endian:
 *
 *   offset size  field
 *   0      8     magic "HYPLAN01"
 *   8      4     stream id
 *   12     4     N: objects
 *   16     8     first LSN of the batch
 *   then N times:
 *          1     B: bucket length (1..63)
 *          2     K: key length (1..1024)
 *          8     L: body length
 *          4     records in the object
 *          1     kind: 'd' data, 'e' error output, 'b' backup
 *          B+K+L bucket, key, body
 *   ..     4     CRC-32C of every byte before
 *
 * Written to <name>.tmp, fsynced, renamed, the directory fsynced (a .tmp
 * left by a crash is removed at start with the spill files' ones). It is
 * deleted once the batch's DELIVERED is durable. */
static void plan_path(const struct stream_batch *b, char *out, size_t n)
{
    snprintf(out, n, "%s/spill/%08x-%016llx.plan", hy_cfg.data_dir ? hy_cfg.data_dir : ".",
             b->stream_id, (unsigned long long)b->first_lsn);
}

static void put_le(struct buf *o, uint64_t v, int n)
{
    unsigned char c[8];
    for (int i = 0; i < n; i++)
        c[i] = (unsigned char)(v >> (8 * i));
    buf_append(o, c, (size_t)n);
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int plan_write(struct pending *p)
{
    const struct stream_batch *b = p->batch;
    char path[4096], tmp[4200], dir[4096];
    struct buf o;
    int rc = HY_OK, fd = -1;
    buf_init(&o, (size_t)1 << 36);
    buf_append(&o, "HYPLAN01", 8);
    put_le(&o, b->stream_id, 4);
    put_le(&o, p->objs.n, 4);
    put_le(&o, b->first_lsn, 8);
    for (size_t i = 0; i < p->objs.n; i++) {
        const struct pl_object *ob = &p->objs.v[i];
        put_le(&o, strlen(ob->bucket), 1);
        put_le(&o, strlen(ob->key), 2);
        put_le(&o, ob->body.len, 8);
        put_le(&o, ob->nrecords, 4);
        buf_append(&o, ob->kind[0] == 'e' ? "e" : ob->kind[0] == 'b' ? "b" : "d", 1);
        buf_puts(&o, ob->bucket);
        buf_puts(&o, ob->key);
        if (ob->body.len)
            buf_append(&o, ob->body.data, ob->body.len);
    }
    uint32_t crc = hy_crc32c(0, o.data, o.len);
    put_le(&o, crc, 4);
    if (o.len < 8 + 4 + 4 + 8 + 4 + p->objs.n * 16) { /* an append failed: no memory */
        buf_free(&o);
        return HY_ENOMEM;
    }
    plan_path(b, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(dir, sizeof dir, "%s/spill", hy_cfg.data_dir ? hy_cfg.data_dir : ".");
    mkdir(dir, 0700);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = errno == ENOSPC ? HY_ENOSPC : HY_EIO;
        goto out_free;
    }
    for (size_t off = 0; off < o.len;) {
        ssize_t w = write(fd, o.data + off, o.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = errno == ENOSPC ? HY_ENOSPC : HY_EIO;
            goto out_close;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = HY_EIO;
        goto out_close;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = HY_EIO;
        goto out_unlink;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = HY_EIO;
        goto out_unlink;
    }
    if ((rc = hy_fsync_dir(dir)) != HY_OK) {
        unlink(path); /* a name a power cut may take: not a plan to rely on */
        goto out_free;
    }
    goto out_free;
out_close:
    close(fd);
out_unlink:
    unlink(tmp);
out_free:
    buf_free(&o);
    if (rc)
        log_error("delivery", "stream %s: cannot write the plan file of its batch at lsn "
                  "%llu: %s", b->dest.name, (unsigned long long)b->first_lsn, hy_strerror(rc));
    return rc;
}

/* Reads p's plan file back into p->objs: HY_OK, HY_ENOTFOUND (none),
 * HY_EINVAL (damaged: the run is redone). */
static int plan_load(struct pending *p)
{
    const struct stream_batch *b = p->batch;
    char path[4096];
    plan_path(b, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? HY_ENOTFOUND : HY_EIO;
    struct buf in;
    buf_init(&in, (size_t)1 << 36);
    int rc = HY_OK;
    for (;;) {
        if ((rc = buf_reserve(&in, 1 << 20)))
            break;
        ssize_t r = read(fd, in.data + in.len, in.cap - in.len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = HY_EIO;
            break;
        }
        if (r == 0)
            break;
        in.len += (size_t)r;
    }
    close(fd);
    const unsigned char *d = (const unsigned char *)in.data;
    if (rc == HY_OK && (in.len < 28 || memcmp(d, "HYPLAN01", 8) ||
                        get_le(d + in.len - 4, 4) != hy_crc32c(0, d, in.len - 4) ||
                        get_le(d + 8, 4) != b->stream_id || get_le(d + 16, 8) != b->first_lsn))
        rc = HY_EINVAL;
    size_t n = rc == HY_OK ? (size_t)get_le(d + 12, 4) : 0, off = 24, end = in.len - 4;
    for (size_t i = 0; i < n && rc == HY_OK; i++) {
        if (end - off < 16) {
            rc = HY_EINVAL;
            break;
        }
        size_t bl = d[off], kl = (size_t)get_le(d + off + 1, 2);
        uint64_t bodyl = get_le(d + off + 3, 8);
        size_t nrec = (size_t)get_le(d + off + 11, 4);
        char kind = (char)d[off + 15];
        off += 16;
        if (bl == 0 || bl > 63 || kl == 0 || kl > 1024 || bodyl > end - off ||
            bl + kl > end - off - bodyl) {
            rc = HY_EINVAL;
            break;
        }
        if ((rc = hy_grow((void **)&p->objs.v, &p->objs.cap, p->objs.n + 1,
                          sizeof *p->objs.v)))
            break;
        struct pl_object *o = &p->objs.v[p->objs.n];
        memset(o, 0, sizeof *o);
        memcpy(o->bucket, d + off, bl);
        o->key = strndup((const char *)d + off + bl, kl);
        buf_init(&o->body, (size_t)1 << 34);
        o->kind = kind == 'e' ? "error" : kind == 'b' ? "backup" : "data";
        o->nrecords = nrec;
        if (!o->key || buf_append(&o->body, d + off + bl + kl, (size_t)bodyl)) {
            free(o->key);
            buf_free(&o->body);
            rc = HY_ENOMEM;
            break;
        }
        p->objs.n++;
        off += bl + kl + (size_t)bodyl;
    }
    buf_free(&in);
    if (rc)
        pl_objects_free(&p->objs);
    if (rc == HY_EINVAL)
        log_error("delivery", "stream %s: the plan file %s is damaged; the batch is "
                  "processed again", b->dest.name, path);
    return rc;
}

static void plan_remove(const struct stream_batch *b)
{
    char path[4096], dir[4096];
    plan_path(b, path, sizeof path);
    if (unlink(path) == 0) {
        snprintf(dir, sizeof dir, "%s/spill", hy_cfg.data_dir ? hy_cfg.data_dir : ".");
        hy_fsync_dir(dir);
    }
}

/* Names and compresses p's batch: sets p->key, p->body, p->sealed.
 * HY_OK, or an error with p as it was (p->key still NULL). */
static int prepare(struct pending *p)
{
    struct stream_batch *b = p->batch;
    struct buf key;
    buf_init(&key, 4096);
    char id[37];
    batch_object_id(b, id);
    int rc = b->key ? buf_puts(&key, b->key)
                    : prefix_object_key(&b->dest, b->oldest_ms, id, &key);
    if (rc) {
        log_error("delivery", "stream %s: cannot name the object (%s); prefix '%s'",
                  b->dest.name, hy_strerror(rc), b->dest.prefix);
        buf_free(&key);
        return rc;
    }
    char *name = buf_detach(&key, NULL);
    buf_init(&p->body, (size_t)1 << 31);
    if (b->dest.compression == COMP_UNCOMPRESSED) {
        /* deliver straight from the batch's buffer */
    } else {
        const char *base = strrchr(name, '/');
        base = base ? base + 1 : name;
        /* the entry inside a ZIP is the object name without ".zip" */
        char entry[1024];
        size_t blen = strlen(base);
        if (blen >= 4 && strcmp(base + blen - 4, ".zip") == 0)
            blen -= 4;
        if (blen >= sizeof entry)
            blen = sizeof entry - 1;
        memcpy(entry, base, blen);
        entry[blen] = 0;
        rc = compress_buffer(b->dest.compression, b->data.data ? b->data.data : "",
                             b->data.len, entry, &p->body);
        if (rc) {
            log_error("delivery", "stream %s: compression failed: %s", b->dest.name,
                      hy_strerror(rc));
            buf_free(&p->body);
            free(name);
            return rc;
        }
    }
    p->key = name;
    p->sealed = b->key != NULL; /* recovered: sealed before the crash */
    return HY_OK;
}

static void noop_done(void *arg, int rc, const struct wal_frame *f, size_t n)
{
    (void)arg;
    (void)rc;
    (void)f;
    (void)n;
}

/* Makes the key durable: from now on these records go under this key. A
 * parked batch's spill file is rewritten with the key (its records may be
 * gone from the log, and with them a SEAL's range); any other gets a SEAL. */
static int seal(struct pending *p)
{
    struct stream_batch *b = p->batch;
    if (!hy_wal || !b->first_lsn || p->sealed)
        return HY_OK;
    if (b->spill) {
        int rc = b->spill_keyed ? HY_OK : stream_spill_write(b, p->key);
        if (rc == HY_OK)
            p->sealed = true;
        return rc;
    }
    unsigned char payload[WAL_SEAL_MAX];
    struct wal_range r = {b->first_lsn, b->last_lsn};
    size_t n = wal_seal_encode(payload, &r, b->dest.bucket, p->key);
    struct wal_frame f = {WAL_SEAL, b->stream_id, 0, b->oldest_ms, payload, (uint32_t)n};
    int rc = wal_append_sync(hy_wal, &f, 1);
    if (rc == HY_OK)
        p->sealed = true;
    return rc;
}

/* Notes the delivery in the WAL and frees what it covered. No wait for
 * a batch from the log: a lost DELIVERED only means the same object is
 * rewritten after a crash. A parked batch waits for it, then deletes its
 * spill file: the DELIVERED is what tells recovery the spill is done. */
static void mark_delivered(struct pending *p)
{
    struct stream_batch *b = p->batch;
    if (!hy_wal || !b->first_lsn)
        return;
    unsigned char payload[16];
    struct wal_range r = {b->first_lsn, b->last_lsn};
    wal_range_encode(payload, &r);
    struct wal_frame f = {WAL_DELIVERED, b->stream_id, 0, hy_now_ms(), payload, 16};
    if (!b->spill && !p->planned) {
        wal_append(hy_wal, &f, 1, noop_done, NULL);
        return;
    }
    int rc = wal_append_sync(hy_wal, &f, 1);
    if (rc == HY_OK && p->planned)
        plan_remove(b);
    if (rc == HY_OK && b->spill)
        stream_spill_remove(b);
    else if (rc != HY_OK)
        log_warn("delivery", "stream %s: cannot log the delivery of parked batch %s (%s); "
                 "it is kept and written again (same key) at the next start", b->dest.name,
                 b->spill, hy_strerror(rc));
}

/* Parked batches do not count: their records are in their spill files. */
static uint64_t list_min_lsn(const struct pending *p, uint64_t m)
{
    for (; p; p = p->next)
        if (p->batch && p->batch->first_lsn && !p->batch->spill && p->batch->first_lsn < m)
            m = p->batch->first_lsn;
    return m;
}

/* Deletes WAL segments holding only delivered records. Any thread. */
static void release_log(void)
{
    if (!hy_wal)
        return;
    pthread_mutex_lock(&D.release_lock);
    uint64_t low = wal_safe_lsn(hy_wal); /* first: see wal.h */
    uint64_t m = stream_min_lsn();
    if (m < low)
        low = m;
    pthread_mutex_lock(&D.lock);
    low = list_min_lsn(D.queue, low);
    low = list_min_lsn(D.busy, low);
    low = list_min_lsn(D.retry, low);
    pthread_mutex_unlock(&D.lock);
    wal_release(hy_wal, low);
    pthread_mutex_unlock(&D.release_lock);
}

/* The wait before the next attempt, after p->attempts failures: 1 s
 * doubling to 30 s, each with +-25% jitter so that many stuck batches do
 * not retry in step. */
static int64_t backoff_ms(const struct pending *p)
{
    int64_t backoff = RETRY_FIRST_MS;
    for (int i = 1; i < p->attempts && backoff < RETRY_MAX_MS; i++)
        backoff *= 2;
    if (backoff > RETRY_MAX_MS)
        backoff = RETRY_MAX_MS;
    uint32_t r = 0;
    hy_random(&r, sizeof r);
    return backoff * 3 / 4 + (int64_t)(r % (uint32_t)(backoff / 2 + 1));
}

/* How long a batch is retried before it goes to the dead-letter bucket:
 * --retry-window, or for a stream with dynamic partitioning its
 * RetryOptions.DurationInSeconds (AWS: 300 s by default, 0..7200). */
static int retry_window_s(const struct stream_batch *b)
{
    if (http_endpoint_is(b->dest.config))
        return http_endpoint_retry_window_s(b->dest.config);
    if (!b->dest.dynamic)
        return hy_cfg.retry_window_s;
    const json_t *d = json_object_get(json_object_get(json_object_get(
        b->dest.config, "DynamicPartitioningConfiguration"), "RetryOptions"),
        "DurationInSeconds");
    return json_is_integer(d) ? (int)json_integer_value(d) : 300;
}

/* The dead-letter object of a batch: AWS's error-output record shape, one
 * JSON line per record, the record in rawData (base64). */
static int dead_letter_body(const struct pending *p, int64_t now_ms, struct buf *out)
{
    const struct stream_batch *b = p->batch;
    const uint32_t *lens = (const uint32_t *)(b->lens.data ? b->lens.data : "");
    size_t off = 0;
    int rc = HY_OK;
    for (size_t i = 0; i < b->nrecords && rc == HY_OK; i++) {
        uint32_t len = lens[i];
        if (len > b->data.len - off)
            return HY_EINVAL; /* lengths and bytes disagree: never write half of it */
        struct pl_error_rec er = {.attempts = p->attempts, .arrival_ms = b->oldest_ms,
                                  .error_code = p->err_code, .message = p->why,
                                  .ending_ms = now_ms, .raw = b->data.data + off,
                                  .raw_len = len, .stream = b->dest.name};
        rc = pl_error_record(out, &er);
        off += len;
    }
    return rc;
}

/* After the retry window: the batch goes to the dead-letter bucket, keyed
 * like AWS's error output, <stream>/yyyy/MM/dd/HH/<stream>-<version>-
 * yyyy-MM-dd-HH-mm-ss-<id> (the oldest record's arrival, UTC; the id as
 * in the object key, so a second try after a crash rewrites the same
 * object), and its DELIVERED is logged. HY_OK when it is there. */
static int dead_letter(struct pending *p)
{
    struct stream_batch *b = p->batch;
    char id[37], key[1024];
    struct buf body;
    int64_t now = hy_now_ms();
    time_t t = (time_t)(b->oldest_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    batch_object_id(b, id);
    snprintf(key, sizeof key, "%s/%04d/%02d/%02d/%02d/%s-%u-%04d-%02d-%02d-%02d-%02d-%02d-%s",
             b->dest.name, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             b->dest.name, b->dest.version, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, id);
    buf_init(&body, (size_t)1 << 34);
    int rc = dead_letter_body(p, now, &body);
    if (rc == HY_OK) {
        rc = objstore_bucket_create(hy_store, DELIVERY_DEAD_LETTER_BUCKET, NULL);
        if (rc == HY_EEXIST)
            rc = HY_OK;
    }
    if (rc == HY_OK)
        rc = objstore_put(hy_store, DELIVERY_DEAD_LETTER_BUCKET, key,
                          body.data ? body.data : "", body.len, "application/x-ndjson", NULL);
    buf_free(&body);
    if (rc) {
        log_error("delivery", "stream %s: cannot write %zu records to the dead-letter bucket "
                  "%s: %s; kept, tried again", b->dest.name, b->nrecords,
                  DELIVERY_DEAD_LETTER_BUCKET, hy_strerror(rc));
        return rc;
    }
    log_warn("delivery", "stream %s: %zu records (%zu bytes) not delivered within the retry "
             "window (%d s, %d attempts; last error: %s): moved to s3://%s/%s",
             b->dest.name, b->nrecords, b->nbytes, retry_window_s(b), p->attempts,
             p->why, DELIVERY_DEAD_LETTER_BUCKET, key);
    pthread_mutex_lock(&D.lock);
    D.stats.dead_lettered++;
    D.stats.dead_lettered_records += b->nrecords;
    pthread_mutex_unlock(&D.lock);
    mark_delivered(p);
    return HY_OK;
}

/* Whether p goes through the pipeline run: a batch sealed with an empty
 * key was sealed by it (its range is fixed, its objects named by the
 * run); one sealed with a key is written under that key as one object;
 * a fresh one as its stream's configuration says. */
static bool is_pipelined(const struct pending *p)
{
    const struct stream_batch *b = p->batch;
    return b->key ? !*b->key : pipeline_wanted(&b->dest);
}

/* A pipeline batch: its range sealed first (so that recovery rebuilds
 * the same batch), then run, its objects logged in a plan file when the
 * run may not repeat itself, then every object written. Each object's
 * key is fixed by the batch and its role, so writing them again after a
 * failure or a crash rewrites, never duplicates. */
static int attempt_objects(struct pending *p)
{
    struct stream_batch *b = p->batch;
    int rc;
    if (!p->key && !(p->key = strdup("")))
        return HY_ENOMEM;
    if ((rc = seal(p))) {
        snprintf(p->why, sizeof p->why, "cannot make its range durable: %s", hy_strerror(rc));
        return rc;
    }
    if (!p->objs.n) {
        bool det = pipeline_deterministic(&b->dest) || !hy_wal || !b->first_lsn;
        if (!det && (rc = plan_load(p)) == HY_OK) {
            p->planned = true;
            log_info("delivery", "stream %s: the %zu objects of its batch at lsn %llu come from "
                     "the batch's plan file (its Lambda is not called again)", b->dest.name,
                     p->objs.n, (unsigned long long)b->first_lsn);
        } else {
            p->err_code = "Hydrant.ProcessingFailed";
            if ((rc = pipeline_run(b, stream_node_id(), &p->objs, p->why, sizeof p->why)))
                return rc;
            if (!det) {
                if ((rc = plan_write(p))) {
                    snprintf(p->why, sizeof p->why, "cannot make its objects durable: %s",
                             hy_strerror(rc));
                    pl_objects_free(&p->objs);
                    return rc;
                }
                p->planned = true;
            }
            if (p->objs.records_failed || p->objs.records_dropped)
                log_info("delivery", "stream %s: %zu records in, %zu out, %zu dropped by "
                         "processing, %zu failed (to the error output)", b->dest.name,
                         p->objs.records_in, p->objs.records_out, p->objs.records_dropped,
                         p->objs.records_failed);
        }
    }
    for (size_t i = 0; i < p->objs.n; i++) {
        struct pl_object *o = &p->objs.v[i];
        if (o->written)
            continue;
        const struct sink *sink = sink_for(&b->dest, o->bucket);
        struct sink_put put = {.dest = &b->dest, .bucket = o->bucket, .key = o->key,
                               .data = o->body.data ? o->body.data : "", .len = o->body.len,
                               .content_type = "application/octet-stream"};
        bool retryable = true;
        p->err_code = "S3.InternalError";
        if ((rc = sink->put(&put, &p->err_code, &retryable, p->why, sizeof p->why)))
            return rc;
        o->written = true;
        log_info("delivery", "stream %s: %s object, %zu records, %zu bytes -> s3://%s/%s",
                  b->dest.name, o->kind, o->nrecords, o->body.len, o->bucket, o->key);
    }
    return HY_OK;
}

/* A batch that failed before and is now written: the operator sees the
 * stream recover, not only fail. */
static void note_recovered(const struct pending *p)
{
    const struct stream_batch *b = p->batch;
    if (p->attempts > 1)
        log_info("delivery", "stream %s recovered: %zu records delivered after %d attempts "
                 "(%.1f s after delivery first took them)", b->dest.name, b->nrecords,
                 p->attempts, (double)(hy_now_ms() - b->taken_ms) / 1000.0);
}

/* One attempt; HY_OK when the object is written (or, after the retry
 * window, is in the dead-letter bucket). Worker thread. */
static int attempt(struct pending *p)
{
    struct stream_batch *b = p->batch;
    int rc = HY_OK;
    size_t len = 0;
    p->err_code = "S3.InternalError";
    if (b->spill && !b->loaded && (rc = stream_spill_load(b))) {
        snprintf(p->why, sizeof p->why, "cannot read its spill file %s: %s", b->spill,
                 hy_strerror(rc));
        goto out_failed;
    }
    if (is_pipelined(p)) {
        if ((rc = attempt_objects(p)))
            goto out_failed;
        p->attempts++;
        b->attempts = p->attempts;
        pthread_mutex_lock(&D.lock);
        D.stats.objects += p->objs.n;
        D.stats.records += b->nrecords;
        D.stats.bytes += b->data.len;
        pthread_mutex_unlock(&D.lock);
        metrics_delivered(b, &p->objs, 0);
        note_recovered(p);
        mark_delivered(p);
        return HY_OK;
    }
    if (!p->key && (rc = prepare(p))) {
        /* cannot even name or compress it: keep it and try later */
        p->err_code = "Hydrant.KeyNamingFailed";
        snprintf(p->why, sizeof p->why, "cannot name or compress the object (%s); prefix '%.100s'",
                 hy_strerror(rc), b->dest.prefix);
        goto out_failed;
    }
    const void *data = b->dest.compression == COMP_UNCOMPRESSED
                           ? (const void *)(b->data.data ? b->data.data : "")
                           : (const void *)(p->body.data ? p->body.data : "");
    len = b->dest.compression == COMP_UNCOMPRESSED ? b->data.len : p->body.len;
    rc = seal(p);
    if (rc) {
        snprintf(p->why, sizeof p->why, "cannot make its key durable: %s", hy_strerror(rc));
        goto out_failed;
    }
    const struct sink *sink = sink_for(&b->dest, b->dest.bucket);
    struct sink_put put = {.dest = &b->dest, .bucket = b->dest.bucket, .key = p->key,
                           .data = data, .len = len,
                           .content_type = "application/octet-stream"};
    bool retryable = true;
    struct pl_batch recs;
    bool http = http_endpoint_is(b->dest.config);
    pl_batch_init(&recs, b->data.len + 1);
    if (http && (rc = pl_batch_from_stream(&recs, b))) {
        pl_batch_free(&recs);
        snprintf(p->why, sizeof p->why, "cannot list its records: %s", hy_strerror(rc));
        goto out_failed;
    }
    put.records = http ? &recs : NULL;
    rc = sink->put(&put, &p->err_code, &retryable, p->why, sizeof p->why);
    if (rc && http && b->loaded &&
        hy_now_ms() - b->taken_ms >= (int64_t)retry_window_s(b) * 1000) {
        const char *bcode = NULL;
        char bwhy[200];
        int brc = http_endpoint_backup_failed(&put, p->attempts + 1, p->err_code, p->why,
                                              &bcode, &retryable, bwhy, sizeof bwhy);
        if (brc == HY_OK) {
            pl_batch_free(&recs);
            log_warn("delivery", "stream %s: %zu records not delivered to the HTTP endpoint "
                     "within RetryOptions.DurationInSeconds (%d s; last error: %s): backed up "
                     "to s3://%s under http-endpoint-failed/", b->dest.name, b->nrecords,
                     retry_window_s(b), p->why, b->dest.bucket);
            p->attempts++;
            mark_delivered(p);
            return HY_OK;
        }
        snprintf(p->why, sizeof p->why, "backup to S3 failed: %.170s", bwhy);
        p->err_code = bcode;
    }
    pl_batch_free(&recs);
    if (rc)
        goto out_failed;
    p->attempts++;
    b->attempts = p->attempts;
    pthread_mutex_lock(&D.lock);
    D.stats.objects++;
    D.stats.records += b->nrecords;
    D.stats.bytes += b->data.len;
    pthread_mutex_unlock(&D.lock);
    log_info("delivery", "stream %s: %zu records, %zu bytes -> s3://%s/%s", b->dest.name,
              b->nrecords, len, b->dest.bucket, p->key);
    metrics_delivered(b, NULL, len);
    note_recovered(p);
    mark_delivered(p);
    return HY_OK;

out_failed:
    metrics_delivery_failed(b, p->err_code, p->why);
    p->attempts++;
    b->attempts = p->attempts;
    pthread_mutex_lock(&D.lock);
    D.stats.failures++;
    pthread_mutex_unlock(&D.lock);
    if (b->loaded && hy_now_ms() - b->taken_ms >= (int64_t)retry_window_s(b) * 1000 &&
        dead_letter(p) == HY_OK)
        return HY_OK;
    int64_t backoff = backoff_ms(p);
    p->next_try_mono = hy_mono_ms() + backoff;
    log_warn("delivery", "stream %s: %s; %zu records (%zu bytes) kept, attempt %d, next in "
             "%lld ms", b->dest.name, p->why, b->nrecords, b->nbytes, p->attempts,
             (long long)backoff);
    return rc;
}

/* Parks a batch that failed (or waits behind one that failed) in its
 * spill file, so that it no longer holds back the log, and frees its
 * memory; the next attempt reads it back. Without a log it stays in
 * memory. Worker thread, p not on any list. */
static void park(struct pending *p)
{
    struct stream_batch *b = p->batch;
    if (!hy_wal || !b->first_lsn || !b->loaded)
        return;
    if (!b->spill && stream_spill_write(b, p->key) != HY_OK)
        return; /* stays in memory and in the log; tried again next time */
    if (p->key && !b->key)
        b->key = strdup(p->key); /* its spill names it; NULL: named again */
    stream_spill_unload(b);
    buf_free(&p->body);
    pl_objects_free(&p->objs); /* rebuilt from the plan file, or by a rerun */
    p->planned = false;
    free(p->key);
    p->key = NULL; /* prepare() again on load, from b->key */
    p->sealed = false;
}

/* Logs what a stuck stream holds. Takes D.lock. */
static void log_stuck(uint32_t stream_id)
{
    struct delivery_stuck st;
    if (delivery_stuck_get(stream_id, &st) != HY_OK)
        return;
    char since[32];
    time_t t = (time_t)(st.since_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    log_warn("delivery", "stream %s is stuck since %s: %zu batches, %zu records, %llu bytes "
             "held (%zu parked in spill files, off the log); last error: %s; after the retry "
             "window (%d s) they go to s3://%s/%s/", st.stream, since, st.batches, st.records,
             (unsigned long long)st.bytes, st.parked, st.reason, hy_cfg.retry_window_s,
             DELIVERY_DEAD_LETTER_BUCKET, st.stream);
}

/* Appends p to *list (keeps arrival order). Caller holds D.lock. */
static void list_append(struct pending **list, struct pending *p)
{
    while (*list)
        list = &(*list)->next;
    p->next = NULL;
    *list = p;
}

static void list_remove(struct pending **list, struct pending *p)
{
    while (*list && *list != p)
        list = &(*list)->next;
    if (*list)
        *list = p->next;
    p->next = NULL;
}

/* Inserts p into the retry list in seq order. Caller holds D.lock. */
static void retry_insert(struct pending *p)
{
    struct pending **pp = &D.retry;
    while (*pp && (*pp)->seq < p->seq)
        pp = &(*pp)->next;
    p->next = *pp;
    *pp = p;
}

/* Whether an earlier batch of p's stream waits in the retry list: then p
 * must wait behind it (a stream's batches are written in take order).
 * Caller holds D.lock. */
static bool behind_retry(const struct pending *p)
{
    for (const struct pending *q = D.retry; q && q->seq < p->seq; q = q->next)
        if (q->batch->stream_id == p->batch->stream_id)
            return true;
    return false;
}

/* The first queued job whose stream has no batch being written, removed
 * from the queue; NULL when none. Caller holds D.lock. */
static struct pending *queue_pop_runnable(void)
{
    for (struct pending **pp = &D.queue; *pp; pp = &(*pp)->next) {
        struct pending *p = *pp;
        bool blocked = false;
        for (struct pending *q = D.busy; q && !blocked; q = q->next)
            blocked = q->batch->stream_id == p->batch->stream_id;
        /* nor before an older queued batch of its stream (take order per
         * stream: a retry queued after a newer batch still goes first) */
        for (struct pending *q = D.queue; q && !blocked; q = q->next)
            blocked = q != p && q->batch->stream_id == p->batch->stream_id &&
                      q->seq < p->seq;
        if (!blocked) {
            *pp = p->next;
            p->next = NULL;
            return p;
        }
    }
    return NULL;
}

static void *delivery_worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&D.lock);
    for (;;) {
        struct pending *p = queue_pop_runnable();
        if (!p) {
            if (D.quit)
                break;
            pthread_cond_wait(&D.work, &D.lock);
            continue;
        }
        p->next = D.busy;
        D.busy = p;
        bool behind = behind_retry(p);
        pthread_mutex_unlock(&D.lock);

        int rc;
        if (behind) {
            /* an earlier batch of its stream failed: wait behind it, parked */
            rc = HY_EBUSY;
            p->next_try_mono = 0;
            snprintf(p->why, sizeof p->why, "waiting behind an earlier batch of its stream");
        } else {
            rc = attempt(p);
        }
        if (rc != HY_OK)
            park(p);

        pthread_mutex_lock(&D.lock);
        list_remove(&D.busy, p);
        if (rc != HY_OK)
            retry_insert(p);
        D.njobs--;
        D.kick = true;
        pthread_cond_signal(&D.cond);
        pthread_cond_broadcast(&D.work); /* a batch of p's stream may wait */
        uint32_t sid = p->batch->stream_id;
        pthread_mutex_unlock(&D.lock);
        if (rc == HY_OK)
            pending_free(p);
        else if (!behind)
            log_stuck(sid);
        /* also after a failure: a batch parked stops holding back the log */
        release_log();
        pthread_mutex_lock(&D.lock);
    }
    pthread_mutex_unlock(&D.lock);
    return NULL;
}

/* Queues p for a worker. Caller holds D.lock. */
static void queue_push_locked(struct pending *p)
{
    list_append(&D.queue, p);
    D.njobs++;
    pthread_cond_signal(&D.work);
}

/* Takes one due buffer (any non-empty one, when force) and queues it.
 * HY_ENOTFOUND when none is due. */
static int take_one(bool force)
{
    /* allocated first: a batch once taken must not be dropped for memory */
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return HY_ENOMEM;
    struct stream_batch *b;
    pthread_mutex_lock(&D.release_lock);
    int rc = stream_take_due(hy_now_ms(), force, &b);
    if (rc == HY_OK) {
        p->batch = b;
        p->attempts = b->attempts;
        if (!b->taken_ms)
            b->taken_ms = hy_now_ms();
        pthread_mutex_lock(&D.lock);
        p->seq = ++D.seq;
        queue_push_locked(p);
        pthread_mutex_unlock(&D.lock);
    }
    pthread_mutex_unlock(&D.release_lock);
    if (rc != HY_OK)
        free(p);
    return rc;
}

/* Queues the retries whose time has come while a worker slot is free;
 * only the oldest batch of each stream is tried (the others wait behind
 * it). With force (the last pass at stop): every batch still in memory,
 * regardless of slots; parked ones stay in their spill files for the next
 * start. Returns ms until the next one is due, 0 when one is due but waits
 * for a slot, -1 when none is pending. Caller holds D.lock. */
static int64_t queue_retries_locked(bool force)
{
    int64_t now = hy_mono_ms(), next = -1;
    struct pending **pp = &D.retry;
    uint32_t seen[64];
    size_t nseen = 0;
    bool overflow = false;
    while (*pp) {
        struct pending *p = *pp;
        uint32_t sid = p->batch->stream_id;
        bool head = true;
        for (size_t i = 0; i < nseen && head; i++)
            head = seen[i] != sid;
        if (head && nseen < sizeof seen / sizeof *seen)
            seen[nseen++] = sid;
        else if (head)
            overflow = true; /* more stuck streams than slots: try them later */
        if (overflow || !head || (force && p->batch->spill)) {
            pp = &p->next;
            continue;
        }
        bool due = force || p->next_try_mono <= now;
        if (due && (force || D.njobs < DELIVERY_WORKERS)) {
            *pp = p->next;
            queue_push_locked(p);
            continue;
        }
        int64_t in = due ? 0 : p->next_try_mono - now;
        if (next < 0 || in < next)
            next = in;
        pp = &p->next;
    }
    return next;
}

static bool slot_free(void)
{
    pthread_mutex_lock(&D.lock);
    bool free_slot = D.njobs < DELIVERY_WORKERS;
    pthread_mutex_unlock(&D.lock);
    return free_slot;
}

/* Waits until no batch is queued or being written. */
static void wait_idle(void)
{
    pthread_mutex_lock(&D.lock);
    while (D.njobs)
        pthread_cond_wait(&D.cond, &D.lock);
    pthread_mutex_unlock(&D.lock);
}

/* Waits until fewer than DELIVERY_WORKERS batches are held. */
static void wait_slot(void)
{
    pthread_mutex_lock(&D.lock);
    while (D.njobs >= DELIVERY_WORKERS)
        pthread_cond_wait(&D.cond, &D.lock);
    pthread_mutex_unlock(&D.lock);
}

static void stop_workers(void)
{
    pthread_mutex_lock(&D.lock);
    D.quit = true;
    pthread_cond_broadcast(&D.work);
    pthread_mutex_unlock(&D.lock);
    for (int i = 0; i < D.nworkers; i++)
        pthread_join(D.workers[i], NULL);
    D.nworkers = 0;
}

static void *delivery_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&D.lock);
        bool stop = D.stop;
        D.kick = false;
        pthread_mutex_unlock(&D.lock);
        if (stop)
            break;

        int take_rc = HY_OK;
        while (slot_free() && (take_rc = take_one(false)) == HY_OK)
            ;
        pthread_mutex_lock(&D.lock);
        int64_t wait = queue_retries_locked(false);
        bool full = D.njobs >= DELIVERY_WORKERS;
        pthread_mutex_unlock(&D.lock);
        if (full) {
            /* a worker's kick brings us back as soon as a slot frees */
            wait = IDLE_WAIT_MS;
        } else {
            int64_t due = stream_next_due_ms(hy_now_ms());
            if (due >= 0 && (wait < 0 || due < wait))
                wait = due;
            if (take_rc == HY_ENOMEM)
                wait = RETRY_FIRST_MS;
        }
        if (wait < 0 || wait > IDLE_WAIT_MS)
            wait = IDLE_WAIT_MS;

        pthread_mutex_lock(&D.lock);
        size_t npending = 0;
        for (struct pending *p = D.retry; p; p = p->next)
            npending++;
        D.stats.pending = npending;
        if (!D.kick && !D.stop && wait > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&D.cond, &D.lock, &ts);
        }
        pthread_mutex_unlock(&D.lock);
    }

    /* last pass: everything buffered, then every pending retry, once */
    for (;;) {
        wait_slot();
        if (take_one(true) != HY_OK)
            break;
    }
    wait_idle();
    pthread_mutex_lock(&D.lock);
    queue_retries_locked(true);
    pthread_mutex_unlock(&D.lock);
    wait_idle();
    stop_workers();
    size_t left = 0, records = 0;
    while (D.retry) {
        struct pending *p = D.retry;
        D.retry = p->next;
        left++;
        records += p->batch ? p->batch->nrecords : 0;
        pending_free(p);
    }
    if (left)
        log_warn("delivery", "stopping with %zu undelivered objects (%zu records) "
                 "left to the next start", left, records);
    return NULL;
}

int delivery_start(void)
{
    sinks_records_passed = true; /* HTTP endpoint sinks get sink_put.records */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&D.cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&D.work, NULL);
    D.quit = false;
    for (int i = 0; i < DELIVERY_WORKERS; i++) {
        if (pthread_create(&D.workers[i], NULL, delivery_worker, NULL) != 0)
            goto out_stop_workers;
        D.nworkers++;
    }
    stream_set_wakeup(wake);
    if (pthread_create(&D.thread, NULL, delivery_main, NULL) != 0) {
        stream_set_wakeup(NULL);
        goto out_stop_workers;
    }
    D.running = true;
    return HY_OK;

out_stop_workers:
    stop_workers();
    return HY_ENOMEM;
}

void delivery_stop(void)
{
    if (!D.running)
        return;
    pthread_mutex_lock(&D.lock);
    D.stop = true;
    pthread_cond_signal(&D.cond);
    pthread_mutex_unlock(&D.lock);
    pthread_join(D.thread, NULL);
    D.running = false;
    stream_set_wakeup(NULL);
}

/* Sums up the batches of one stream in the retry list. Caller holds D.lock. */
static void stuck_sum(uint32_t stream_id, struct delivery_stuck *st)
{
    memset(st, 0, sizeof *st);
    for (const struct pending *p = D.retry; p; p = p->next) {
        const struct stream_batch *b = p->batch;
        if (b->stream_id != stream_id)
            continue;
        if (!st->batches) {
            snprintf(st->stream, sizeof st->stream, "%s", b->dest.name);
            snprintf(st->reason, sizeof st->reason, "%s", p->why);
            st->since_ms = b->taken_ms;
        }
        st->batches++;
        st->records += b->nrecords;
        st->bytes += b->nbytes;
        st->parked += b->spill != NULL;
        if (b->taken_ms && b->taken_ms < st->since_ms)
            st->since_ms = b->taken_ms;
    }
}

int delivery_stuck_get(uint32_t stream_id, struct delivery_stuck *st)
{
    pthread_mutex_lock(&D.lock);
    stuck_sum(stream_id, st);
    pthread_mutex_unlock(&D.lock);
    return st->batches ? HY_OK : HY_ENOTFOUND;
}

size_t delivery_stuck_list(struct delivery_stuck *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&D.lock);
    for (const struct pending *p = D.retry; p && n < max; p = p->next) {
        bool seen = false;
        for (const struct pending *q = D.retry; q != p && !seen; q = q->next)
            seen = q->batch->stream_id == p->batch->stream_id;
        if (!seen)
            stuck_sum(p->batch->stream_id, &out[n++]);
    }
    pthread_mutex_unlock(&D.lock);
    return n;
}

void delivery_get_stats(struct delivery_stats *st)
{
    pthread_mutex_lock(&D.lock);
    *st = D.stats;
    pthread_mutex_unlock(&D.lock);
}
