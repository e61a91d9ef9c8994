/* producer.c -- the public API of libhydrant and its sender thread.
 *
 * Purpose: accept records without waiting (hydrant_put), batch them into
 * PutRecordBatch requests, resend what fails, spill to the spool when the
 * endpoint is away, and drain the spool when it is back.
 *
 * Design:
 * - Each stream name has a `struct stream` with three places a record can
 *   be, always in this age order (oldest first):
 *     pend   the batch being sent or waiting to be resent (<= 500
 *            records / 4 MiB), from memory or read from the spool;
 *     spool  records on disk (spool.c), present only while non-empty;
 *     queue  records in memory, in put order.
 *   The sender always sends pend, else reads the next batch from the
 *   spool, else takes one from the queue, so that order holds per stream.
 *   A put goes to the spool only when the stream has a spool and an empty
 *   queue, i.e. only behind everything older.
 * - Retries: a failed request, or the failed entries of a partly failed
 *   batch, stay in pend and are resent after a backoff of
 *   base * 2^(attempt-1), capped, with equal jitter (half fixed, half
 *   random), per stream. Nothing newer of that stream is sent meanwhile.
 *   Records rejected for good (ValidationException, ...) are dropped,
 *   counted and reported through on_drop.
 * - Store and forward: a network error (no HTTP answer) means the
 *   endpoint is away: every stream's memory-born pend is prepended to its
 *   spool and its queue appended, so a device that loses power keeps
 *   them. A put that would exceed max_memory_bytes spills that stream's
 *   queue the same way. Spool-born pend records stay on disk until their
 *   whole batch is acknowledged, then the spool head moves past them.
 * - Memory: queue + pend bytes of all streams <= max_memory_bytes (one
 *   spool batch per stream may go over it; it is bounded by the batch
 *   limits). Without a spool, a put beyond the ceiling is HYDRANT_EFULL.
 *
 * Threading: one mutex guards everything; one condition wakes the sender,
 * another wakes flushers. The HTTP request runs without the mutex, on the
 * sender thread, with pend of that stream marked in flight: while it is,
 * nothing else touches pend (a put that spills the stream leaves it). Spool I/O happens under the mutex: puts into the
 * spool and reads of one batch are short local file operations.
 */
#include "client.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEF_LINGER_MS 200u
#define DEF_MEMORY (16u * 1024 * 1024)
#define DEF_STREAMS 64u
#define MAX_STREAMS 4096u
#define DEF_SPOOL (256ull * 1024 * 1024)
#define DEF_BACKOFF_BASE 100u
#define DEF_BACKOFF_MAX 20000u
#define DEF_CONNECT_TIMEOUT 3000u
#define DEF_REQUEST_TIMEOUT 15000u
#define IDLE_WAIT_MS 1000
#define DEF_SPOOL_SYNC_MS 1000u

struct stream {
    char name[HYDRANT_MAX_STREAM_NAME + 1];
    struct hydrant__rec *qhead, *qtail; /* the queue */
    size_t qn;
    uint64_t qbytes;
    int64_t q_since_ms; /* when the queue's oldest record was put */
    struct hydrant__rec **pend;         /* [max_batch_records] */
    size_t npend;
    uint64_t pend_bytes;
    bool pend_from_spool; /* pend is also on disk, before pend_end */
    bool pend_sent;       /* pend went out at least once: resends count as retries */
    bool inflight;        /* the sender is using pend without the mutex: hands off */
    struct hydrant__spool_pos pend_end;
    unsigned attempts; /* consecutive failures */
    int64_t retry_at_ms;
    struct hydrant__spool *spool; /* NULL unless records of it are on disk */
};

struct hydrant_producer {
    struct hydrant_config cfg; /* strings point into owned copies below */
    char *endpoint, *region, *access_key_id, *secret_access_key, *session_token, *spool_dir;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* the sender: new work, flush, stop */
    pthread_cond_t done; /* flushers: a batch finished */
    pthread_t thread;
    bool thread_started;

    struct stream **streams;
    size_t nstreams, rr;
    uint64_t mem_bytes;
    int flushing;
    bool stopping;
    int abort_flag; /* read by the transport's progress callback */
    struct hydrant__transport *tr;
    struct hydrant_stats st;
    uint64_t dropped_reported; /* st.dropped when flush last reported it */
    int64_t synced_ms;         /* HYDRANT_SYNC_INTERVAL: the last spool sync */
    uint64_t rng;
};

/* ---- small helpers ------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void deadline_ts(int64_t at_ms, struct timespec *ts)
{
    ts->tv_sec = at_ms / 1000;
    ts->tv_nsec = (at_ms % 1000) * 1000000;
}

static uint64_t next_rand(struct hydrant_producer *p)
{
    /* xorshift64*: jitter only, nothing secret */
    p->rng ^= p->rng >> 12;
    p->rng ^= p->rng << 25;
    p->rng ^= p->rng >> 27;
    return p->rng * UINT64_C(2685821657736338717);
}

static void set_error(struct hydrant_producer *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->st.last_error, sizeof p->st.last_error, fmt, ap);
    va_end(ap);
}

static bool valid_stream_name(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return n >= 1 && n <= HYDRANT_MAX_STREAM_NAME;
}

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

const char *hydrant_strerror(int rc)
{
    switch (rc) {
    case HYDRANT_OK: return "success";
    case HYDRANT_EINVAL: return "invalid argument";
    case HYDRANT_ENOMEM: return "out of memory";
    case HYDRANT_ETOOBIG: return "record larger than 1,024,000 bytes";
    case HYDRANT_EFULL: return "queue and spool full";
    case HYDRANT_ETIMEDOUT: return "records still unacknowledged at the deadline";
    case HYDRANT_EIO: return "spool I/O error";
    case HYDRANT_ECURL: return "libcurl initialisation failed";
    case HYDRANT_ELOST: return "records dropped at close";
    case HYDRANT_ECLOSED: return "producer is closing";
    case HYDRANT_EDROPPED: return "records rejected for good by the service";
    default: return "unknown error";
    }
}

void hydrant_config_init(struct hydrant_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
}

/* ---- streams ------------------------------------------------------------ */

static void stream_free(struct stream *s)
{
    if (!s)
        return;
    for (struct hydrant__rec *r = s->qhead, *next; r; r = next) {
        next = r->next;
        free(r);
    }
    for (size_t i = 0; i < s->npend; i++)
        free(s->pend[i]);
    free(s->pend);
    hydrant__spool_free(s->spool);
    free(s);
}

static struct stream *stream_find(struct hydrant_producer *p, const char *name)
{
    for (size_t i = 0; i < p->nstreams; i++)
        if (!strcmp(p->streams[i]->name, name))
            return p->streams[i];
    return NULL;
}

static int stream_add(struct hydrant_producer *p, const char *name, struct stream **out)
{
    struct stream *s;
    if (p->nstreams >= p->cfg.max_streams)
        return HYDRANT_EFULL;
    if (!(s = calloc(1, sizeof *s)) ||
        !(s->pend = calloc(p->cfg.max_batch_records, sizeof *s->pend))) {
        free(s);
        return HYDRANT_ENOMEM;
    }
    snprintf(s->name, sizeof s->name, "%s", name);
    p->streams[p->nstreams++] = s;
    *out = s;
    return HYDRANT_OK;
}

static uint64_t spool_total(struct hydrant_producer *p)
{
    uint64_t total = 0;
    for (size_t i = 0; i < p->nstreams; i++)
        if (p->streams[i]->spool)
            total += hydrant__spool_bytes(p->streams[i]->spool);
    return total;
}

static int stream_spool(struct hydrant_producer *p, struct stream *s)
{
    if (s->spool)
        return HYDRANT_OK;
    return hydrant__spool_open(p->spool_dir, s->name, &s->spool);
}

/* A drained spool goes away: puts go to memory again. */
static void stream_spool_check(struct stream *s)
{
    if (s->spool && hydrant__spool_empty(s->spool)) {
        hydrant__spool_free(s->spool);
        s->spool = NULL;
    }
}

static void free_pend(struct hydrant_producer *p, struct stream *s)
{
    for (size_t i = 0; i < s->npend; i++)
        free(s->pend[i]);
    p->mem_bytes -= s->pend_bytes;
    s->npend = 0;
    s->pend_bytes = 0;
    s->pend_from_spool = false;
    s->pend_sent = false;
}

/* Moves a stream's memory-born pend and its queue to its spool (order
 * kept). ignore_cap at close: memory is about to go anyway. Leaves in
 * memory whatever could not be written. */
static int stream_spill(struct hydrant_producer *p, struct stream *s, bool ignore_cap)
{
    int rc;
    bool move_pend = s->npend && !s->pend_from_spool && !s->inflight;
    if (!p->spool_dir || (!move_pend && s->qn == 0))
        return HYDRANT_OK;
    if ((rc = stream_spool(p, s)))
        goto out_error;
    uint64_t room = p->cfg.spool_max_bytes > spool_total(p) ? p->cfg.spool_max_bytes - spool_total(p) : 0;
    if (move_pend) {
        uint64_t need = 0;
        for (size_t i = 0; i < s->npend; i++)
            need += hydrant__spool_frame_bytes(s->pend[i]->len);
        if (!ignore_cap && need > room)
            return HYDRANT_EFULL;
        if ((rc = hydrant__spool_prepend(s->spool, s->pend, s->npend)))
            goto out_error;
        room = need > room ? 0 : room - need;
        p->st.spooled += s->npend;
        free_pend(p, s);
    }
    while (s->qhead) {
        struct hydrant__rec *r = s->qhead;
        uint64_t need = hydrant__spool_frame_bytes(r->len);
        if (!ignore_cap && need > room)
            return HYDRANT_EFULL;
        if ((rc = hydrant__spool_append(s->spool, &r, 1)))
            goto out_error;
        room = need > room ? 0 : room - need;
        s->qhead = r->next;
        if (!s->qhead)
            s->qtail = NULL;
        s->qn--;
        s->qbytes -= r->len;
        p->mem_bytes -= r->len;
        p->st.spooled++;
        free(r);
    }
    return HYDRANT_OK;
out_error:
    set_error(p, "spool %s: %s", s->name, hydrant_strerror(rc));
    stream_spool_check(s);
    return rc;
}

/* With a spool and HYDRANT_SYNC_PUT or _INTERVAL, every record is written
 * to the spool at put (write-ahead): memory holds only what is being sent. */
static bool write_ahead(const struct hydrant_producer *p)
{
    return p->spool_dir && p->cfg.spool_sync != HYDRANT_SYNC_IDLE;
}

/* ---- the sender thread -------------------------------------------------- */

static unsigned backoff_ms(struct hydrant_producer *p, unsigned attempts)
{
    uint64_t d = p->cfg.backoff_base_ms;
    for (unsigned i = 1; i < attempts && d < p->cfg.backoff_max_ms; i++)
        d *= 2;
    if (d > p->cfg.backoff_max_ms)
        d = p->cfg.backoff_max_ms;
    return (unsigned)(d / 2 + next_rand(p) % (d / 2 + 1));
}

static void stream_backoff(struct hydrant_producer *p, struct stream *s)
{
    s->attempts++;
    s->retry_at_ms = now_ms() + backoff_ms(p, s->attempts);
}

static bool stream_idle(const struct stream *s)
{
    return s->qn == 0 && s->npend == 0 && !s->spool;
}

static bool all_idle(struct hydrant_producer *p)
{
    for (size_t i = 0; i < p->nstreams; i++)
        if (!stream_idle(p->streams[i]))
            return false;
    return true;
}

/* The next stream with something due, round robin; else how long to wait. */
static struct stream *pick_stream(struct hydrant_producer *p, int64_t now, int64_t *wait_ms)
{
    *wait_ms = IDLE_WAIT_MS;
    for (size_t k = 0; k < p->nstreams; k++) {
        size_t i = (p->rr + k) % p->nstreams;
        struct stream *s = p->streams[i];
        int64_t due;
        if (stream_idle(s))
            continue;
        if (s->retry_at_ms > now) {
            due = s->retry_at_ms;
        } else if (s->npend || s->spool || p->flushing || s->qn >= p->cfg.max_batch_records ||
                   s->qbytes >= p->cfg.max_batch_bytes) {
            p->rr = i + 1;
            return s;
        } else {
            due = s->q_since_ms + p->cfg.linger_ms;
            if (due <= now) {
                p->rr = i + 1;
                return s;
            }
        }
        if (due - now < *wait_ms)
            *wait_ms = due - now;
    }
    return NULL;
}

/* Fills pend when it is empty: from the spool first, else the queue. */
static int fill_pend(struct hydrant_producer *p, struct stream *s)
{
    int rc;
    if (s->npend)
        return HYDRANT_OK;
    if (s->spool) {
        struct hydrant__spool_pos end;
        size_t n = 0;
        if ((rc = hydrant__spool_read(s->spool, p->cfg.max_batch_records, p->cfg.max_batch_bytes,
                                      s->pend, &n, &end)))
            return rc;
        if (n == 0) {
            /* nothing readable left: the rest of the file is damaged */
            if ((rc = hydrant__spool_commit(s->spool, end)) == HYDRANT_OK)
                stream_spool_check(s);
            return rc;
        }
        s->npend = n;
        for (size_t i = 0; i < n; i++)
            s->pend_bytes += s->pend[i]->len;
        p->mem_bytes += s->pend_bytes;
        s->pend_from_spool = true;
        s->pend_end = end;
        s->pend_sent = false;
        return HYDRANT_OK;
    }
    while (s->qhead && s->npend < p->cfg.max_batch_records &&
           (s->npend == 0 || s->pend_bytes + s->qhead->len <= p->cfg.max_batch_bytes)) {
        struct hydrant__rec *r = s->qhead;
        s->qhead = r->next;
        r->next = NULL;
        s->qn--;
        s->qbytes -= r->len;
        s->pend[s->npend++] = r;
        s->pend_bytes += r->len;
    }
    if (!s->qhead)
        s->qtail = NULL;
    s->q_since_ms = now_ms(); /* the rest waits at most linger from now */
    s->pend_from_spool = false;
    s->pend_sent = false;
    return HYDRANT_OK;
}

/* Everything of pend is resolved (acknowledged or dropped). */
static void pend_finished(struct hydrant_producer *p, struct stream *s)
{
    if (s->pend_from_spool && s->spool) {
        int rc = hydrant__spool_commit(s->spool, s->pend_end);
        if (rc)
            set_error(p, "spool %s: %s", s->name, hydrant_strerror(rc));
        stream_spool_check(s);
    }
    free_pend(p, s);
    s->attempts = 0;
    s->retry_at_ms = 0;
}

static void drop_record(struct hydrant_producer *p, struct stream *s, struct hydrant__rec *r,
                        const char *code, const char *msg)
{
    p->st.dropped++;
    if (p->cfg.on_drop)
        p->cfg.on_drop(s->name, r->data, r->len, code, msg, p->cfg.on_drop_ctx);
}

/* Applies the answer to a batch. Called with the mutex held. */
static void handle_result(struct hydrant_producer *p, struct stream *s, int rc,
                          struct hydrant__response *res, struct hydrant__rec_result *results)
{
    size_t failed = 0, keep = 0, n = s->npend;

    if (rc == HYDRANT_OK && res->status == 200 && results &&
        hydrant__wire_parse_batch(res->body, res->body_len, s->npend, results, &failed) ==
            HYDRANT_OK) {
        for (size_t i = 0; i < s->npend; i++) {
            struct hydrant__rec *r = s->pend[i];
            if (!results[i].failed) {
                p->st.acked++;
            } else if (hydrant__wire_retryable(results[i].code)) {
                s->pend[keep++] = r;
                continue;
            } else {
                drop_record(p, s, r, results[i].code, results[i].message);
            }
            s->pend_bytes -= r->len;
            p->mem_bytes -= r->len;
            free(r);
        }
        s->npend = keep;
        if (keep == 0) {
            pend_finished(p, s);
        } else {
            for (size_t i = 0; i < n; i++)
                if (results[i].failed && hydrant__wire_retryable(results[i].code)) {
                    set_error(p, "%s: %zu of %zu records failed: %s: %s", s->name, failed, n,
                              results[i].code, results[i].message);
                    break;
                }
            stream_backoff(p, s);
        }
        return;
    }

    p->st.failed_requests++;
    if (rc == HYDRANT_EIO) {
        /* no answer at all: the endpoint is away; keep everything on disk */
        set_error(p, "%s: %s", s->name, res->error);
        stream_backoff(p, s);
        for (size_t i = 0; i < p->nstreams; i++)
            stream_spill(p, p->streams[i], false);
        return;
    }
    if (rc != HYDRANT_OK) {
        set_error(p, "%s: %s", s->name, hydrant_strerror(rc));
        stream_backoff(p, s);
        return;
    }
    char type[64], msg[256];
    hydrant__wire_parse_error(res->body, res->body_len, type, sizeof type, msg, sizeof msg);
    if (res->error_type[0])
        snprintf(type, sizeof type, "%s", res->error_type);
    if (res->status == 200)
        snprintf(type, sizeof type, "MalformedResponse");
    set_error(p, "%s: HTTP %ld %s: %s", s->name, res->status, type[0] ? type : "-", msg);
    if (type[0] && res->status >= 400 && res->status < 500 && !hydrant__wire_retryable(type)) {
        for (size_t i = 0; i < s->npend; i++)
            drop_record(p, s, s->pend[i], type, msg);
        pend_finished(p, s);
        return;
    }
    stream_backoff(p, s);
}

static void sync_spools(struct hydrant_producer *p)
{
    for (size_t i = 0; i < p->nstreams; i++)
        if (p->streams[i]->spool && hydrant__spool_sync(p->streams[i]->spool) != HYDRANT_OK)
            set_error(p, "spool %s: fdatasync failed", p->streams[i]->name);
    p->synced_ms = now_ms();
}

/* HYDRANT_SYNC_INTERVAL: sync when the period is over; else how long
 * until it is (for the sender's sleep). */
static int64_t sync_due(struct hydrant_producer *p)
{
    if (!p->spool_dir || p->cfg.spool_sync != HYDRANT_SYNC_INTERVAL)
        return IDLE_WAIT_MS;
    int64_t left = p->synced_ms + p->cfg.spool_sync_ms - now_ms();
    if (left <= 0) {
        sync_spools(p);
        left = p->cfg.spool_sync_ms;
    }
    return left;
}

static void *sender_main(void *arg)
{
    struct hydrant_producer *p = arg;

    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        int64_t now = now_ms(), wait;
        struct stream *s = pick_stream(p, now, &wait);
        int64_t sync_wait = sync_due(p);
        if (!s) {
            struct timespec ts;
            sync_spools(p);
            if (sync_wait < wait)
                wait = sync_wait;
            deadline_ts(now_ms() + wait, &ts);
            pthread_cond_timedwait(&p->wake, &p->mu, &ts);
            continue;
        }
        int rc = fill_pend(p, s);
        if (rc) {
            set_error(p, "spool %s: %s", s->name, hydrant_strerror(rc));
            stream_backoff(p, s);
            continue;
        }
        if (s->npend == 0) {
            pthread_cond_broadcast(&p->done);
            continue;
        }
        /* the request, without the mutex; only this thread touches pend */
        size_t n = s->npend;
        p->st.requests++;
        p->st.sent += n;
        if (s->pend_sent)
            p->st.retried += n;
        s->pend_sent = true;
        s->inflight = true;
        pthread_mutex_unlock(&p->mu);

        struct hydrant__response res;
        struct hydrant__rec_result *results = malloc(n * sizeof *results);
        char *body = NULL;
        size_t body_len = 0;
        memset(&res, 0, sizeof res);
        rc = results ? hydrant__wire_batch_body(s->name, s->pend, n, &body, &body_len)
                     : HYDRANT_ENOMEM;
        if (rc == HYDRANT_OK)
            rc = hydrant__transport_post(p->tr, "PutRecordBatch", body, body_len, &res);
        free(body);

        pthread_mutex_lock(&p->mu);
        s->inflight = false;
        handle_result(p, s, rc, &res, results);
        free(res.body);
        free(results);
        pthread_cond_broadcast(&p->done);
    }
    sync_spools(p);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- the API ------------------------------------------------------------ */

struct recover_ctx {
    struct hydrant_producer *p;
    int rc;
};

static void recover_stream(const char *name, void *ud)
{
    struct recover_ctx *rc = ud;
    struct stream *s;
    if (rc->rc || !valid_stream_name(name) || stream_find(rc->p, name))
        return;
    if ((rc->rc = stream_add(rc->p, name, &s)))
        return;
    if ((rc->rc = hydrant__spool_open(rc->p->spool_dir, name, &s->spool)))
        return;
    stream_spool_check(s);
}

int hydrant_producer_new(const struct hydrant_config *cfg, hydrant_producer **out)
{
    struct hydrant_producer *p;
    bool oom = false;
    int rc;

    if (!out)
        return HYDRANT_EINVAL;
    *out = NULL;
    if (!cfg || !cfg->access_key_id || !cfg->secret_access_key ||
        cfg->max_batch_records > HYDRANT_MAX_BATCH_RECORDS ||
        cfg->max_batch_bytes > HYDRANT_MAX_BATCH_BYTES || cfg->max_streams > MAX_STREAMS ||
        cfg->spool_sync < HYDRANT_SYNC_PUT || cfg->spool_sync > HYDRANT_SYNC_IDLE)
        return HYDRANT_EINVAL;
    if (!(p = calloc(1, sizeof *p)))
        return HYDRANT_ENOMEM;
    p->cfg = *cfg;
    p->endpoint = dup_or_null(cfg->endpoint, &oom);
    p->region = dup_or_null(cfg->region ? cfg->region : "us-east-1", &oom);
    p->access_key_id = dup_or_null(cfg->access_key_id, &oom);
    p->secret_access_key = dup_or_null(cfg->secret_access_key, &oom);
    p->session_token = dup_or_null(cfg->session_token, &oom);
    p->spool_dir = dup_or_null(cfg->spool_dir, &oom);
    p->cfg.endpoint = p->endpoint;
    p->cfg.region = p->region;
    p->cfg.access_key_id = p->access_key_id;
    p->cfg.secret_access_key = p->secret_access_key;
    p->cfg.session_token = p->session_token;
    p->cfg.spool_dir = p->spool_dir;
#define DEFAULT(field, v) \
    if (!p->cfg.field)    \
    p->cfg.field = (v)
    DEFAULT(max_batch_records, HYDRANT_MAX_BATCH_RECORDS);
    DEFAULT(max_batch_bytes, HYDRANT_MAX_BATCH_BYTES);
    DEFAULT(linger_ms, DEF_LINGER_MS);
    DEFAULT(max_memory_bytes, DEF_MEMORY);
    DEFAULT(max_streams, DEF_STREAMS);
    DEFAULT(spool_max_bytes, DEF_SPOOL);
    DEFAULT(spool_sync_ms, DEF_SPOOL_SYNC_MS);
    DEFAULT(backoff_base_ms, DEF_BACKOFF_BASE);
    DEFAULT(backoff_max_ms, DEF_BACKOFF_MAX);
    DEFAULT(connect_timeout_ms, DEF_CONNECT_TIMEOUT);
    DEFAULT(request_timeout_ms, DEF_REQUEST_TIMEOUT);
#undef DEFAULT
    if (p->cfg.backoff_max_ms < p->cfg.backoff_base_ms)
        p->cfg.backoff_max_ms = p->cfg.backoff_base_ms;
    p->rng = (uint64_t)now_ms() * UINT64_C(0x9E3779B97F4A7C15) ^ (uintptr_t)p;
    if (!p->rng)
        p->rng = 1;
    if (oom || !(p->streams = calloc(p->cfg.max_streams, sizeof *p->streams))) {
        rc = HYDRANT_ENOMEM;
        goto out_free;
    }
    if ((rc = hydrant__transport_new(&p->cfg, &p->abort_flag, &p->tr)))
        goto out_free;

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, &ca);
    pthread_cond_init(&p->done, &ca);
    pthread_condattr_destroy(&ca);

    if (p->spool_dir) {
        struct recover_ctx ctx = {p, HYDRANT_OK};
        if ((rc = hydrant__spool_list(p->spool_dir, recover_stream, &ctx)) || (rc = ctx.rc))
            goto out_destroy;
    }
    if (pthread_create(&p->thread, NULL, sender_main, p) != 0) {
        rc = HYDRANT_ENOMEM;
        goto out_destroy;
    }
    p->thread_started = true;
    p->synced_ms = now_ms();
    *out = p;
    return HYDRANT_OK;

out_destroy:
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
out_free:
    for (size_t i = 0; i < p->nstreams; i++)
        stream_free(p->streams[i]);
    free(p->streams);
    hydrant__transport_free(p->tr);
    free(p->endpoint);
    free(p->region);
    free(p->access_key_id);
    free(p->secret_access_key);
    free(p->session_token);
    free(p->spool_dir);
    free(p);
    return rc;
}

/* Takes one record (r, owned: freed or kept) for stream s. Called with
 * the mutex held. */
static int put_locked(struct hydrant_producer *p, struct stream *s, struct hydrant__rec *r)
{
    int rc = HYDRANT_OK;
    size_t len = r->len;
    if (write_ahead(p) && !s->spool && (rc = stream_spool(p, s))) {
        set_error(p, "spool %s: %s", s->name, hydrant_strerror(rc));
        goto out_free;
    }
    if (write_ahead(p) && s->spool && s->qn)
        stream_spill(p, s, false); /* older records in memory go first */
    if (!s->spool && p->mem_bytes + len > p->cfg.max_memory_bytes && p->spool_dir) {
        /* memory is full: this stream goes to disk, behind what it has */
        stream_spill(p, s, false);
        if (s->qn == 0 && stream_spool(p, s) != HYDRANT_OK)
            stream_spool_check(s);
    }
    if (s->spool && s->qn == 0) {
        /* behind everything on disk: to the spool too */
        if (spool_total(p) + hydrant__spool_frame_bytes(len) > p->cfg.spool_max_bytes) {
            rc = HYDRANT_EFULL;
            goto out_check;
        }
        if ((rc = hydrant__spool_append(s->spool, &r, 1))) {
            set_error(p, "spool %s: %s", s->name, hydrant_strerror(rc));
            goto out_check;
        }
        free(r);
        p->st.spooled++;
    } else {
        if (p->mem_bytes + len > p->cfg.max_memory_bytes) {
            rc = HYDRANT_EFULL;
            goto out_free;
        }
        if (!s->qhead)
            s->q_since_ms = now_ms();
        if (s->qtail)
            s->qtail->next = r;
        else
            s->qhead = r;
        s->qtail = r;
        s->qn++;
        s->qbytes += len;
        p->mem_bytes += len;
        /* the sender sleeps until a linger ends; wake it when a batch is full */
        if (s->qn == 1 || s->qn >= p->cfg.max_batch_records || s->qbytes >= p->cfg.max_batch_bytes)
            pthread_cond_signal(&p->wake);
    }
    p->st.put++;
    if (s->spool)
        pthread_cond_signal(&p->wake);
    return HYDRANT_OK;
out_check:
    stream_spool_check(s); /* a spool opened for this record stays empty */
out_free:
    free(r);
    return rc;
}

/* HYDRANT_SYNC_PUT: what this put wrote is durable before it returns. */
static int put_sync(struct hydrant_producer *p, struct stream *s)
{
    if (!write_ahead(p) || p->cfg.spool_sync != HYDRANT_SYNC_PUT || !s->spool)
        return HYDRANT_OK;
    if (hydrant__spool_sync(s->spool) != HYDRANT_OK) {
        set_error(p, "spool %s: fdatasync failed", s->name);
        return HYDRANT_EIO;
    }
    return HYDRANT_OK;
}

int hydrant_put_batch(hydrant_producer *p, const char *stream, const void *const *data,
                      const size_t *lens, size_t n, size_t *taken)
{
    struct stream *s;
    size_t i = 0;
    int rc = HYDRANT_OK;

    if (taken)
        *taken = 0;
    if (!p || !stream || (n && (!data || !lens)) || !valid_stream_name(stream))
        return HYDRANT_EINVAL;
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        rc = HYDRANT_ECLOSED;
        goto out_unlock;
    }
    if (!(s = stream_find(p, stream)) && (rc = stream_add(p, stream, &s)))
        goto out_unlock;
    for (; i < n; i++) {
        struct hydrant__rec *r;
        if (lens[i] == 0 || !data[i]) {
            rc = HYDRANT_EINVAL;
            break;
        }
        if (lens[i] > HYDRANT_MAX_RECORD_BYTES) {
            rc = HYDRANT_ETOOBIG;
            break;
        }
        if (!(r = hydrant__rec_new(data[i], lens[i]))) {
            rc = HYDRANT_ENOMEM;
            break;
        }
        if ((rc = put_locked(p, s, r)))
            break;
    }
    /* what was taken is durable (HYDRANT_SYNC_PUT) before anyone hears so;
     * a failed sync takes the whole call back as far as the caller knows */
    if (i && put_sync(p, s) != HYDRANT_OK) {
        rc = HYDRANT_EIO;
        i = 0;
    }
out_unlock:
    pthread_mutex_unlock(&p->mu);
    if (taken)
        *taken = i;
    return rc;
}

int hydrant_put(hydrant_producer *p, const char *stream, const void *data, size_t len)
{
    struct stream *s;
    struct hydrant__rec *r;
    int rc = HYDRANT_OK;

    if (!p || !stream || (!data && len) || len == 0 || !valid_stream_name(stream))
        return HYDRANT_EINVAL;
    if (len > HYDRANT_MAX_RECORD_BYTES)
        return HYDRANT_ETOOBIG;
    /* copy before taking the mutex: malloc and memcpy need no lock */
    if (!(r = hydrant__rec_new(data, len)))
        return HYDRANT_ENOMEM;

    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        rc = HYDRANT_ECLOSED;
        free(r);
        goto out_unlock;
    }
    if (!(s = stream_find(p, stream)) && (rc = stream_add(p, stream, &s))) {
        free(r);
        goto out_unlock;
    }
    if ((rc = put_locked(p, s, r)) == HYDRANT_OK)
        rc = put_sync(p, s);
out_unlock:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Records rejected since the last report; reports them. Mutex held. */
static uint64_t take_dropped(struct hydrant_producer *p)
{
    uint64_t n = p->st.dropped - p->dropped_reported;
    p->dropped_reported = p->st.dropped;
    return n;
}

int hydrant_flush(hydrant_producer *p, unsigned timeout_ms, uint64_t *dropped)
{
    int rc = HYDRANT_OK;
    int64_t deadline = now_ms() + timeout_ms;
    struct timespec ts;

    if (dropped)
        *dropped = 0;
    if (!p)
        return HYDRANT_EINVAL;
    deadline_ts(deadline, &ts);
    pthread_mutex_lock(&p->mu);
    p->flushing++;
    pthread_cond_signal(&p->wake);
    while (!all_idle(p)) {
        if (now_ms() >= deadline ||
            pthread_cond_timedwait(&p->done, &p->mu, &ts) == ETIMEDOUT) {
            if (!all_idle(p))
                rc = HYDRANT_ETIMEDOUT;
            break;
        }
    }
    p->flushing--;
    uint64_t n = take_dropped(p);
    pthread_mutex_unlock(&p->mu);
    if (dropped)
        *dropped = n;
    return rc == HYDRANT_OK && n ? HYDRANT_EDROPPED : rc;
}

void hydrant_stats(hydrant_producer *p, struct hydrant_stats *st)
{
    if (!p || !st)
        return;
    pthread_mutex_lock(&p->mu);
    *st = p->st;
    st->queued = 0;
    for (size_t i = 0; i < p->nstreams; i++)
        st->queued += p->streams[i]->qn + p->streams[i]->npend;
    st->queued_bytes = p->mem_bytes;
    st->spool_bytes = spool_total(p);
    pthread_mutex_unlock(&p->mu);
}

int hydrant_close(hydrant_producer *p, unsigned timeout_ms, uint64_t *dropped)
{
    uint64_t lost = 0, rejected = 0;
    bool spooled = false;

    if (dropped)
        *dropped = 0;
    if (!p)
        return HYDRANT_OK;
    if (timeout_ms)
        hydrant_flush(p, timeout_ms, &rejected);

    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    __atomic_store_n(&p->abort_flag, 1, __ATOMIC_RELAXED); /* cut a request short */
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    if (p->thread_started)
        pthread_join(p->thread, NULL);
    rejected += take_dropped(p); /* the sender is gone: no lock needed */

    /* the sender is gone: what is left goes to disk, or is lost */
    for (size_t i = 0; i < p->nstreams; i++) {
        struct stream *s = p->streams[i];
        stream_spill(p, s, true);
        if (s->spool)
            hydrant__spool_sync(s->spool);
        if (!s->pend_from_spool)
            lost += s->npend;
        lost += s->qn;
        if (s->spool && !hydrant__spool_empty(s->spool))
            spooled = true;
        stream_free(s);
    }
    free(p->streams);
    hydrant__transport_free(p->tr);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    if (p->secret_access_key)
        memset(p->secret_access_key, 0, strlen(p->secret_access_key));
    free(p->endpoint);
    free(p->region);
    free(p->access_key_id);
    free(p->secret_access_key);
    free(p->session_token);
    free(p->spool_dir);
    free(p);
    if (dropped)
        *dropped = lost + rejected;
    return lost ? HYDRANT_ELOST : spooled ? HYDRANT_ETIMEDOUT
                                : rejected ? HYDRANT_EDROPPED : HYDRANT_OK;
}

void hydrant_producer_free(hydrant_producer *p)
{
    hydrant_close(p, 0, NULL);
}
