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
 * released. A write that fails -- the bucket does not exist, the
 * disk is full -- keeps the batch in a retry list with exponential backoff
 * (1 s doubling to 30 s) and is logged once per attempt with what is kept;
 * nothing is dropped. The dispatcher sleeps until the next interval falls
 * due or a retry is due, or until stream.c wakes it because a buffer
 * filled, or a worker finished a batch.
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
 * batch of the same stream is being written, and the queue is first in,
 * first out, so a stream's SEALs reach the WAL in LSN order, the order
 * recovery (stream.c, recover_seal) cuts them out of the buffer in.
 * Batches of different streams are independent: their ranges, keys and
 * SEALs never overlap.
 *
 * Releasing the log: a batch taken from stream.c is no longer counted by
 * stream_min_lsn(), so the take and its entry in the queue happen under
 * release_lock, which release_log also holds while it computes the low
 * water: no release can see a batch in neither place.
 *
 * Stop: one last forced pass delivers every non-empty buffer and tries
 * each pending retry once more; what still cannot be written is reported
 * (the write-ahead log keeps it for the next start).
 *
 * Threading: the dispatcher thread and the workers share the queue, the
 * busy list and the retry list under `lock` (a batch is on exactly one of
 * them while it is held here); a worker owns the batch it is writing.
 * Lock order: release_lock, then stream.c's locks, then lock.
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
#define DELIVERY_WORKERS 2

struct pending {
    struct pending *next;
    struct stream_batch *batch;
    char *key;              /* fixed at the first attempt; NULL until prepared */
    struct buf body;        /* compressed bytes, made once */
    bool sealed;            /* its SEAL is durable in the WAL */
    int attempts;
    int64_t next_try_mono;
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
    struct pending *retry;  /* failed, waiting for next_try_mono */
    size_t njobs;           /* on queue + busy */
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
    free(p->key);
    free(p);
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

static uint64_t list_min_lsn(const struct pending *p, uint64_t m)
{
    for (; p; p = p->next)
        if (p->batch && p->batch->first_lsn && p->batch->first_lsn < m)
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

/* The wait before the next attempt, after p->attempts failures. */
static int64_t backoff_ms(const struct pending *p)
{
    int64_t backoff = RETRY_FIRST_MS;
    for (int i = 1; i < p->attempts && backoff < RETRY_MAX_MS; i++)
        backoff *= 2;
    return backoff > RETRY_MAX_MS ? RETRY_MAX_MS : backoff;
}

/* One attempt; HY_OK when the object is written. Worker thread. */
static int attempt(struct pending *p)
{
    struct stream_batch *b = p->batch;
    if (!p->key) {
        int rc = prepare(p);
        if (rc) {
            /* cannot even name or compress it: keep it and try later */
            log_error("delivery", "stream %s: %zu records kept for a later attempt",
                      b->dest.name, b->nrecords);
            p->next_try_mono = hy_mono_ms() + (p->attempts ? RETRY_MAX_MS : RETRY_FIRST_MS);
            p->attempts++;
            return rc;
        }
    }
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
    int64_t backoff = backoff_ms(p);
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

/* The first queued job whose stream has no batch being written, removed
 * from the queue; NULL when none. Caller holds D.lock. */
static struct pending *queue_pop_runnable(void)
{
    for (struct pending **pp = &D.queue; *pp; pp = &(*pp)->next) {
        struct pending *p = *pp;
        bool blocked = false;
        for (struct pending *q = D.busy; q && !blocked; q = q->next)
            blocked = q->batch->stream_id == p->batch->stream_id;
        /* nor behind an earlier queued batch of its stream (FIFO per stream) */
        for (struct pending *q = D.queue; q != p && !blocked; q = q->next)
            blocked = q->batch->stream_id == p->batch->stream_id;
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
        pthread_mutex_unlock(&D.lock);

        int rc = attempt(p);

        pthread_mutex_lock(&D.lock);
        list_remove(&D.busy, p);
        if (rc != HY_OK)
            list_append(&D.retry, p);
        D.njobs--;
        D.kick = true;
        pthread_cond_signal(&D.cond);
        pthread_cond_broadcast(&D.work); /* a batch of p's stream may wait */
        if (rc == HY_OK) {
            pthread_mutex_unlock(&D.lock);
            pending_free(p);
            release_log();
            pthread_mutex_lock(&D.lock);
        }
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
        pthread_mutex_lock(&D.lock);
        queue_push_locked(p);
        pthread_mutex_unlock(&D.lock);
    }
    pthread_mutex_unlock(&D.release_lock);
    if (rc != HY_OK)
        free(p);
    return rc;
}

/* Queues the retries whose time has come (all, when force) while a worker
 * slot is free (regardless, when force); returns ms until the next one is
 * due, 0 when one is due but waits for a slot, -1 when none is pending.
 * Caller holds D.lock. */
static int64_t queue_retries_locked(bool force)
{
    int64_t now = hy_mono_ms(), next = -1;
    struct pending **pp = &D.retry;
    while (*pp) {
        struct pending *p = *pp;
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

void delivery_get_stats(struct delivery_stats *st)
{
    pthread_mutex_lock(&D.lock);
    *st = D.stats;
    pthread_mutex_unlock(&D.lock);
}
