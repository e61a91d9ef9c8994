/* delivery.c -- the delivery thread: buffers become S3 objects.
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
 * released. A write that fails -- the bucket does not exist, the
 * disk is full -- keeps the batch in a retry list with exponential backoff
 * (1 s doubling to 30 s) and is logged once per attempt with what is kept;
 * nothing is dropped. The thread sleeps until the next interval falls due
 * or a retry is due, or until stream.c wakes it because a buffer filled.
 *
 * Stop: one last forced pass delivers every non-empty buffer and tries
 * each pending retry once more; what still cannot be written is reported
 * (the write-ahead log keeps it for the next start).
 *
 * Threading: one thread owns the retry list; the mutex guards only the
 * wake-up flag and the counters.
 */
#include "delivery.h"
#include "compress.h"
#include "objstore.h"
#include "prefix.h"
#include "stream.h"
#include "wal.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 30000
#define IDLE_WAIT_MS 1000

struct pending {
    struct pending *next;
    struct stream_batch *batch;
    char *key;              /* fixed at the first attempt */
    struct buf body;        /* compressed bytes, made once */
    bool sealed;            /* its SEAL is durable in the WAL */
    int attempts;
    int64_t next_try_mono;
};

static struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool running, stop, kick;
    struct pending *retry;  /* owned by the delivery thread */
    struct delivery_stats stats;
} D = {.lock = PTHREAD_MUTEX_INITIALIZER};

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
    free(p->key);
    free(p);
}

/* Names and compresses a batch; takes ownership of b. NULL on failure
 * (then b is still owned by the caller). */
static struct pending *prepare(struct stream_batch *b)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
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
        free(p);
        return NULL;
    }
    p->key = buf_detach(&key, NULL);
    buf_init(&p->body, (size_t)1 << 31);
    if (b->dest.compression == COMP_UNCOMPRESSED) {
        /* deliver straight from the batch's buffer */
    } else {
        const char *base = strrchr(p->key, '/');
        base = base ? base + 1 : p->key;
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
            free(p->key);
            free(p);
            return NULL;
        }
    }
    p->batch = b;
    p->sealed = b->key != NULL; /* recovered: sealed before the crash */
    return p;
}

static void noop_done(void *arg, int rc, const struct wal_frame *f, size_t n)
{
    (void)arg;
    (void)rc;
    (void)f;
    (void)n;
}

/* Makes the SEAL durable: from now on these records go under this key. */
static int seal(struct pending *p)
{
    struct stream_batch *b = p->batch;
    if (!hy_wal || !b->first_lsn || p->sealed)
        return HY_OK;
    unsigned char payload[WAL_SEAL_MAX];
    struct wal_range r = {b->first_lsn, b->last_lsn};
    size_t n = wal_seal_encode(payload, &r, b->dest.bucket, p->key);
    struct wal_frame f = {WAL_SEAL, b->stream_id, 0, b->oldest_ms, payload, (uint32_t)n};
    int rc = wal_append_sync(hy_wal, &f, 1);
    if (rc == HY_OK)
        p->sealed = true;
    return rc;
}

/* Notes the delivery in the WAL (no wait: a lost DELIVERED only means the
 * same object is rewritten after a crash) and frees what it covered. */
static void mark_delivered(struct pending *p)
{
    struct stream_batch *b = p->batch;
    if (!hy_wal || !b->first_lsn)
        return;
    unsigned char payload[16];
    struct wal_range r = {b->first_lsn, b->last_lsn};
    wal_range_encode(payload, &r);
    struct wal_frame f = {WAL_DELIVERED, b->stream_id, 0, hy_now_ms(), payload, 16};
    wal_append(hy_wal, &f, 1, noop_done, NULL);
}

static uint64_t pending_min_lsn(void)
{
    uint64_t m = UINT64_MAX;
    for (struct pending *p = D.retry; p; p = p->next)
        if (p->batch && p->batch->first_lsn && p->batch->first_lsn < m)
            m = p->batch->first_lsn;
    return m;
}

/* Deletes WAL segments holding only delivered records. Delivery thread. */
static void release_log(uint64_t extra_min)
{
    if (!hy_wal)
        return;
    uint64_t low = wal_safe_lsn(hy_wal); /* first: see wal.h */
    uint64_t m = stream_min_lsn();
    if (m < low)
        low = m;
    m = pending_min_lsn();
    if (m < low)
        low = m;
    if (extra_min < low)
        low = extra_min;
    wal_release(hy_wal, low);
}

/* One attempt; HY_OK when the object is written. */
static int attempt(struct pending *p)
{
    struct stream_batch *b = p->batch;
    const void *data = b->dest.compression == COMP_UNCOMPRESSED
                           ? (const void *)(b->data.data ? b->data.data : "")
                           : (const void *)(p->body.data ? p->body.data : "");
    size_t len = b->dest.compression == COMP_UNCOMPRESSED ? b->data.len : p->body.len;
    int rc = seal(p);
    if (rc == HY_OK)
        rc = objstore_put(hy_store, b->dest.bucket, p->key, data, len,
                          "application/octet-stream", NULL);
    p->attempts++;
    pthread_mutex_lock(&D.lock);
    if (rc == HY_OK) {
        D.stats.objects++;
        D.stats.records += b->nrecords;
        D.stats.bytes += b->data.len;
    } else {
        D.stats.failures++;
    }
    pthread_mutex_unlock(&D.lock);
    if (rc == HY_OK) {
        log_debug("delivery", "stream %s: %zu records, %zu bytes -> s3://%s/%s",
                  b->dest.name, b->nrecords, len, b->dest.bucket, p->key);
        mark_delivered(p);
        return HY_OK;
    }
    int64_t backoff = RETRY_FIRST_MS;
    for (int i = 1; i < p->attempts && backoff < RETRY_MAX_MS; i++)
        backoff *= 2;
    if (backoff > RETRY_MAX_MS)
        backoff = RETRY_MAX_MS;
    p->next_try_mono = hy_mono_ms() + backoff;
    log_warn("delivery",
             "stream %s: cannot write s3://%s/%s: %s%s; %zu records (%zu bytes) kept, "
             "attempt %d, next in %lld ms",
             b->dest.name, b->dest.bucket, p->key, hy_strerror(rc),
             rc == HY_ENOTFOUND ? " (the bucket does not exist)"
             : p->sealed      ? ""
                              : " (sealing it in the write-ahead log failed)",
             b->nrecords,
             b->data.len, p->attempts, (long long)backoff);
    return rc;
}

static void retry_push(struct pending *p)
{
    /* keep arrival order: append */
    struct pending **pp = &D.retry;
    while (*pp)
        pp = &(*pp)->next;
    p->next = NULL;
    *pp = p;
}

static void deliver_new(struct stream_batch *b)
{
    struct pending *p = prepare(b);
    if (!p) {
        /* cannot even name or compress it: keep it and try later */
        log_error("delivery", "stream %s: %zu records kept for a later attempt",
                  b->dest.name, b->nrecords);
        p = calloc(1, sizeof *p);
        if (!p) {
            log_error("delivery", "out of memory: %zu records of stream %s lost",
                      b->nrecords, b->dest.name);
            stream_batch_free(b);
            return;
        }
        /* a batch without key is re-prepared on retry */
        p->batch = b;
        p->attempts = 1;
        p->next_try_mono = hy_mono_ms() + RETRY_FIRST_MS;
        retry_push(p);
        return;
    }
    if (attempt(p) == HY_OK) {
        pending_free(p);
        release_log(UINT64_MAX);
    } else {
        retry_push(p);
    }
}

/* Tries every pending batch whose time has come (all, when force). */
static int64_t run_retries(bool force)
{
    int64_t now = hy_mono_ms(), next = -1;
    struct pending **pp = &D.retry;
    while (*pp) {
        struct pending *p = *pp;
        if (!force && p->next_try_mono > now) {
            if (next < 0 || p->next_try_mono < next)
                next = p->next_try_mono;
            pp = &p->next;
            continue;
        }
        if (!p->key) {
            struct pending *fresh = prepare(p->batch);
            if (fresh) {
                fresh->attempts = p->attempts;
                fresh->next = p->next;
                p->batch = NULL;
                pending_free(p);
                *pp = p = fresh;
            } else {
                p->next_try_mono = now + RETRY_MAX_MS;
                pp = &p->next;
                continue;
            }
        }
        if (attempt(p) == HY_OK) {
            *pp = p->next;
            pending_free(p);
            release_log(UINT64_MAX);
        } else {
            if (next < 0 || p->next_try_mono < next)
                next = p->next_try_mono;
            pp = &p->next;
        }
    }
    return next < 0 ? -1 : next - now;
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

        struct stream_batch *b;
        while (stream_take_due(hy_now_ms(), false, &b) == HY_OK)
            deliver_new(b);
        int64_t wait = run_retries(false);
        int64_t due = stream_next_due_ms(hy_now_ms());
        if (due >= 0 && (wait < 0 || due < wait))
            wait = due;
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

    /* last pass: everything buffered, every pending retry, once */
    struct stream_batch *b;
    while (stream_take_due(hy_now_ms(), true, &b) == HY_OK)
        deliver_new(b);
    run_retries(true);
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
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&D.cond, &ca);
    pthread_condattr_destroy(&ca);
    stream_set_wakeup(wake);
    if (pthread_create(&D.thread, NULL, delivery_main, NULL) != 0)
        return HY_ENOMEM;
    D.running = true;
    return HY_OK;
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

void delivery_get_stats(struct delivery_stats *st)
{
    pthread_mutex_lock(&D.lock);
    *st = D.stats;
    pthread_mutex_unlock(&D.lock);
}
