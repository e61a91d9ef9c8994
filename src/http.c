/* http.c -- the listener: HTTP/1.1 and HTTPS over libmicrohttpd.
 *
 * This is the only file that touches libmicrohttpd (MHD). It turns each
 * request into a struct http_req (raw URI, headers, whole body, arena) and
 * hands it to one handler; the handler answers with http_reply*(), either
 * before it returns or later from any thread.
 *
 * Design:
 * - MHD runs a pool of internal threads, each with its own epoll loop
 *   (MHD_USE_EPOLL_INTERNAL_THREAD + MHD_OPTION_THREAD_POOL_SIZE).
 * - The raw request-target comes from MHD's URI log callback, which also
 *   allocates our per-request state; MHD's own unescaping is switched off
 *   (a no-op unescape callback) so paths reach the APIs as sent, which S3
 *   keys and SigV4 canonical URIs need.
 * - Admission: once the request line and headers are in, the server's
 *   admission hook (the router) sees the request before any body byte is
 *   read: it may answer at once (an unauthenticated request is refused
 *   without its body ever being read), and it sets the body's ceiling.
 * - Bodies are gathered into a struct buf with that ceiling. A body
 *   declared or found larger is not kept: the handler runs with
 *   body_too_large set and answers with its API's own error.
 * - Spooling: when the admission hook allows it for a request
 *   (S3 PUT/POST: object bodies up to 5 GiB), a body that passes
 *   HTTP_SPOOL_THRESHOLD moves from memory to a file in the spool
 *   directory (<data_dir>/store/tmp, on the store's filesystem, so the
 *   store can rename it into place), named spool-<16 hex>.tmp. MD5 and
 *   SHA-256 are computed as the bytes arrive, so no one reads the file
 *   back to check a digest. The ceiling is then the object ceiling plus
 *   aws-chunked framing. The file is unlinked when the request completes;
 *   a handler that renamed it away leaves nothing to unlink.
 * - Deferred answers: if the handler returns without replying, the
 *   connection is suspended (MHD_suspend_connection); http_reply() from
 *   another thread stores the response and resumes it, and MHD calls the
 *   access handler again, which queues it. A mutex per request orders the
 *   two sides, so a reply that races the suspend is never lost.
 *
 * Limits before authentication (docs/SECURITY.md lists them with flags):
 * - Connections: --max-conns at once, --max-conns-per-ip from one client
 *   address (MHD's own limits: a connection past them is closed at
 *   accept, with no answer), --idle-timeout of silence (MHD's timeout).
 * - In-flight body budget (--max-inflight-bytes): every body held in
 *   memory is counted in one atomic total: reserved by its declared
 *   Content-Length once it is admitted (only the in-memory part,
 *   HTTP_SPOOL_THRESHOLD, of a body that may spool), or as the bytes
 *   arrive when no length is declared; released when the request
 *   completes. Bodies over HTTP_SMALL_BODY may use seven eighths of the
 *   budget, smaller ones all of it, so large bodies held by clients that
 *   have not proven a secret cannot starve PutRecord and the other small
 *   calls. A declared body that would pass the budget is dispatched
 *   at once with body_rc = HY_EBUSY and its body unread (the router
 *   answers 503 in its API's shape); an undeclared one that passes it
 *   mid-way is dropped as it arrives and answered so at its end (MHD
 *   cannot queue an answer while a body is coming in). The hot path pays
 *   one atomic add and one subtract.
 * - Header deadline (--header-timeout): the request line and headers must
 *   be in within that many seconds, however slowly they trickle (MHD's
 *   idle timeout restarts at every byte, so it cannot stop slowloris).
 *   Each connection is tracked from MHD's NOTIFY_CONNECTION STARTED to
 *   CLOSED in a list (struct http_conn: its socket and a phase word). Its
 *   phase is HEADERS (deadline running) from accept, BUSY once
 *   on_request sees the headers, IDLE once the request completed. An
 *   IDLE connection is a keep-alive connection between requests: it is
 *   left to --idle-timeout, as clients expect (SDK pools keep connections
 *   idle for a minute and more), until the kernel reports data received
 *   after the request completed (TCP_INFO tcpi_last_data_recv), i.e. the
 *   next request has begun; it is then HEADERS again, its deadline
 *   counted from when that byte was first seen (at most one sweep late).
 *   A reaper thread sweeps the list (every quarter of the deadline, at
 *   most every second) and shutdown(2)s the socket of a connection past
 *   its deadline; MHD then sees the end of the stream and closes it. The
 *   sweep holds the list's mutex, which CLOSED also takes before MHD
 *   closes the socket, so the reaper never touches a descriptor that was
 *   closed and reused.
 *
 * What MHD answers itself, with its own HTML and no callback to change it
 * (a header block over HTTP_HEADER_MEMORY: 431; a request line over it:
 * 414; a malformed request line or header, a bad Content-Length: 400; an
 * unknown HTTP version: 505), is a known limit (docs/SECURITY.md). More
 * than HTTP_MAX_REQ_HEADERS headers is hydrant's own check: the admission
 * hook sees the first ones with headers_too_many set and refuses the
 * request in its API's shape.
 *
 * Threading: handlers run on MHD's threads; http_reply may be called from
 * any thread, exactly once per request. The connection list is under
 * conns_lock; a connection's phase word is written by its MHD thread and
 * moved IDLE -> HEADERS only by the reaper, with a compare-and-swap, so a
 * request that began meanwhile is never given a deadline.
 */
#include "metrics.h"
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HTTP_MAX_RESP_HEADERS 32
#define HTTP_HEADER_MEMORY (32 * 1024) /* per connection: URL + headers */
#define HTTP_MAX_REQ_HEADERS 100       /* more: 431 */
/* Slow requests: silent connections time out after --idle-timeout (MHD);
 * headers must be in by --header-timeout (the reaper); a body still
 * arriving after HTTP_SLOW_GRACE_S must average HTTP_SLOW_MIN_RATE
 * bytes/s, or the connection is dropped (slowloris on the body). */
#define HTTP_SLOW_GRACE_S 30
#define HTTP_SLOW_MIN_RATE (16 * 1024)
#define HTTP_PATH_MAX 4096
/* The in-flight budget keeps its last eighth for bodies up to this size
 * (PutRecord, IAM calls, small S3 XML): large bodies held by clients that
 * have not proven a secret yet cannot starve the small requests that most
 * producers send. */
#define HTTP_SMALL_BODY (64 * 1024)

enum req_state { RS_NEW, RS_READING, RS_WAITING, RS_SUSPENDED, RS_DONE };

/* A connection's phase (low 2 bits of http_conn.phase; the rest counts
 * completed requests, so the reaper's compare-and-swap cannot mistake one
 * idle period for the next). */
enum { CONN_HEADERS = 0, CONN_BUSY = 1, CONN_IDLE = 2 };
#define CONN_PHASE(w) ((w) & 3u)

/* One open connection, from NOTIFY_CONNECTION STARTED to CLOSED. */
struct http_conn {
    struct http_conn *prev, *next; /* the server's list, under conns_lock */
    int fd;
    uint32_t phase;       /* atomic: CONN_* | completed requests << 2 */
    int64_t idle_since;   /* atomic: hy_mono_ms() when a request completed */
    int64_t deadline;     /* the reaper's: headers due by then (ms) */
    bool shut;            /* the reaper shut it down */
};

struct resp_header {
    char *name, *value;
};

struct req_priv {
    struct http_req req; /* first: the handler's view */
    struct MHD_Connection *conn;
    pthread_mutex_t lock;
    enum req_state state;
    bool dispatched;        /* the handler has it: a reply is owed */
    bool was_suspended;     /* counted in the server's nsuspended */
    bool active;            /* counted in the server's nactive */
    int64_t start_mono;     /* when the headers were in */
    uint64_t received;      /* body bytes so far */
    uint64_t reserved;      /* counted in the server's in-flight budget */
    bool declared;          /* the body's length was declared (reserved) */
    struct http_conn *conn_track; /* valid while MHD has the connection */
    struct http_server *server;
    bool orphaned;          /* MHD is done with it before the reply came */
    struct buf body;
    /* spooling */
    bool spool_ok;              /* the predicate allowed it */
    int spool_fd;               /* open while the body is written, else -1 */
    uint64_t spool_len;
    uint64_t spool_max;
    EVP_MD_CTX *md5, *sha256;
    char spool_path[HTTP_PATH_MAX]; /* "" when not spooled */
    /* the response, once given */
    bool replied;
    int status;
    char *content_type;
    void *resp_body;
    size_t resp_len;
    int resp_fd;
    uint64_t fd_off, fd_len;
    struct resp_header hdrs[HTTP_MAX_RESP_HEADERS];
    int nhdrs;
};

struct http_server {
    struct MHD_Daemon *daemon;
    int nsuspended;          /* connections suspended for a deferred reply */
    int nactive;             /* requests past their headers, not completed */
    bool stopping;           /* http_stop began: new requests get 503 */
    http_handler_fn handler;
    http_admit_fn admit;
    char spool_dir[HTTP_PATH_MAX];
    uint64_t spool_max;
    char *tls_key, *tls_cert;
    /* in-flight body budget */
    uint64_t inflight;       /* atomic: bytes reserved by requests */
    uint64_t inflight_max;
    uint64_t inflight_refused; /* atomic: requests answered 503 for it */
    int64_t inflight_warned; /* atomic: last log line about it (ms) */
    /* header deadline */
    pthread_mutex_t conns_lock;
    pthread_cond_t reaper_cv; /* CLOCK_MONOTONIC */
    struct http_conn *conns;  /* open connections */
    bool reaper_stop;         /* under conns_lock */
    bool reaper_running;
    pthread_t reaper;
    int64_t header_timeout_ms;
    uint64_t reaped;          /* connections closed at the deadline */
};

/* ---- request object helpers ----------------------------------------- */
const char *http_header(const struct http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

void http_add_header(struct http_req *req, const char *name, const char *value)
{
    struct req_priv *p = (struct req_priv *)req;
    if (p->nhdrs >= HTTP_MAX_RESP_HEADERS) {
        log_warn("http", "too many response headers, dropping %s", name);
        return;
    }
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return;
    }
    p->hdrs[p->nhdrs].name = n;
    p->hdrs[p->nhdrs].value = v;
    p->nhdrs++;
}

/* Looks name up in the raw query; decodes into the arena (util.c's one
 * query lookup). */
static const char *query_lookup(const struct http_req *req, const char *name,
                                bool *present)
{
    return url_query_get(req->arena, req->query, name, present);
}

const char *http_query_get(const struct http_req *req, const char *name)
{
    bool present;
    return query_lookup(req, name, &present);
}

bool http_query_has(const struct http_req *req, const char *name)
{
    bool present;
    query_lookup(req, name, &present);
    return present;
}

/* ---- responses -------------------------------------------------------- */
static enum MHD_Result queue_reply(struct req_priv *p)
{
    struct MHD_Response *r;
    if (p->resp_fd >= 0) {
        r = MHD_create_response_from_fd_at_offset64(p->fd_len, p->resp_fd,
                                                    p->fd_off);
        if (r)
            p->resp_fd = -1; /* MHD closes it now */
    } else {
        r = MHD_create_response_from_buffer(p->resp_len, p->resp_body,
                                            MHD_RESPMEM_MUST_COPY);
    }
    if (!r)
        return MHD_NO;
    if (p->content_type && *p->content_type)
        MHD_add_response_header(r, "Content-Type", p->content_type);
    for (int i = 0; i < p->nhdrs; i++)
        MHD_add_response_header(r, p->hdrs[i].name, p->hdrs[i].value);
    MHD_add_response_header(r, "Server", "hydrant");
    enum MHD_Result ret = MHD_queue_response(p->conn, (unsigned)p->status, r);
    MHD_destroy_response(r);
    p->state = RS_DONE;
    return ret;
}

static void req_free(struct req_priv *p);

static void store_reply(struct http_req *req, int status, const char *ctype)
{
    struct req_priv *p = (struct req_priv *)req;
    pthread_mutex_lock(&p->lock);
    if (p->orphaned) {
        /* the client went away, or the server is stopping: nobody to
         * answer; the request was kept alive for this call only */
        pthread_mutex_unlock(&p->lock);
        req_free(p);
        return;
    }
    if (p->replied) {
        pthread_mutex_unlock(&p->lock);
        log_error("http", "second reply to one request ignored");
        return;
    }
    p->replied = true;
    p->status = status;
    metrics_http_reply(req, status, hy_mono_ms() - p->start_mono);
    p->content_type = ctype ? strdup(ctype) : NULL;
    if (p->state == RS_SUSPENDED) {
        p->state = RS_WAITING;
        MHD_resume_connection(p->conn);
    }
    pthread_mutex_unlock(&p->lock);
}

static http_reply_hook_fn reply_hook;

void http_set_reply_hook(http_reply_hook_fn fn)
{
    reply_hook = fn;
}

void http_reply(struct http_req *req, int status, const char *content_type,
                const void *body, size_t len)
{
    struct req_priv *p = (struct req_priv *)req;
    if (reply_hook && status >= 400)
        reply_hook(req, status, body, len); /* before req may be gone */
    if (len > 0) {
        p->resp_body = malloc(len);
        if (p->resp_body) {
            memcpy(p->resp_body, body, len);
            p->resp_len = len;
        } else {
            status = 500;
            p->resp_len = 0;
        }
    }
    store_reply(req, status, content_type);
}

void http_reply_fd(struct http_req *req, int status, const char *content_type,
                   int fd, uint64_t off, uint64_t len)
{
    struct req_priv *p = (struct req_priv *)req;
    p->resp_fd = fd;
    p->fd_off = off;
    p->fd_len = len;
    store_reply(req, status, content_type);
}

/* ---- MHD callbacks ---------------------------------------------------- */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct req_priv *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->req.arena = arena_new();
    if (!p->req.arena) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    p->conn = conn;
    p->server = cls;
    p->resp_fd = -1;
    p->spool_fd = -1;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    p->conn_track = ci ? ci->socket_context : NULL;
    buf_init(&p->body, hy_cfg.max_body);
    char *u = arena_strdup(p->req.arena, uri);
    if (!u)
        u = "/";
    p->req.uri = u;
    char *qm = strchr(u, '?');
    if (qm) {
        p->req.path = arena_strndup(p->req.arena, u, (size_t)(qm - u));
        p->req.query = qm + 1;
    } else {
        p->req.path = u;
        p->req.query = "";
    }
    if (!p->req.path)
        p->req.path = "/";
    return p;
}

static void inflight_release(struct req_priv *p);
static void conn_set_phase(struct http_conn *c, unsigned phase);

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct req_priv *p = *req_cls;
    if (!p)
        return;
    *req_cls = NULL;
    if (p->active) {
        p->active = false;
        __atomic_sub_fetch(&p->server->nactive, 1, __ATOMIC_SEQ_CST);
    }
    /* the request is over for the budget even when a deferred reply is
     * still to come: that put's bytes are under the WAL's own ceiling */
    inflight_release(p);
    if (p->conn_track)
        conn_set_phase(p->conn_track, CONN_IDLE);
    pthread_mutex_lock(&p->lock);
    if (p->dispatched && !p->replied) {
        /* a deferred reply (a put waiting for its fsync) is still coming
         * from another thread: it frees the request then */
        p->orphaned = true;
        pthread_mutex_unlock(&p->lock);
        return;
    }
    pthread_mutex_unlock(&p->lock);
    req_free(p);
}

static void req_free(struct req_priv *p)
{
    buf_free(&p->body);
    if (p->spool_fd >= 0)
        close(p->spool_fd);
    if (p->spool_path[0] && unlink(p->spool_path) != 0 && errno != ENOENT)
        log_warn("http", "cannot remove %s: %s", p->spool_path, strerror(errno));
    EVP_MD_CTX_free(p->md5);
    EVP_MD_CTX_free(p->sha256);
    free(p->resp_body);
    free(p->content_type);
    if (p->resp_fd >= 0)
        close(p->resp_fd);
    for (int i = 0; i < p->nhdrs; i++) {
        free(p->hdrs[i].name);
        free(p->hdrs[i].value);
    }
    pthread_mutex_destroy(&p->lock);
    arena_free(p->req.arena);
    free(p);
}

static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

struct hdr_collect {
    struct http_header *h;
    size_t n, cap;
    struct arena *a;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value)
{
    (void)kind;
    struct hdr_collect *c = cls;
    if (c->n >= c->cap)
        return MHD_NO;
    c->h[c->n].name = arena_strdup(c->a, key);
    c->h[c->n].value = arena_strdup(c->a, value ? value : "");
    if (!c->h[c->n].name || !c->h[c->n].value)
        return MHD_NO;
    c->n++;
    return MHD_YES;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind,
                                    const char *key, const char *value)
{
    (void)kind;
    (void)key;
    (void)value;
    (*(size_t *)cls)++;
    return MHD_YES;
}

/* ---- connections and the header deadline ------------------------------ */

/* Called by the connection's MHD thread only (the reaper moves IDLE to
 * HEADERS with a compare-and-swap; a plain store here wins over it, which
 * is right: a request's headers are in, or it completed). */
static void conn_set_phase(struct http_conn *c, unsigned phase)
{
    uint32_t w = __atomic_load_n(&c->phase, __ATOMIC_RELAXED);
    if (phase == CONN_IDLE) {
        __atomic_store_n(&c->idle_since, hy_mono_ms(), __ATOMIC_RELAXED);
        w += 4; /* one more request completed */
    }
    __atomic_store_n(&c->phase, (w & ~3u) | phase, __ATOMIC_RELEASE);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *s = cls;
    struct http_conn *c = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(c = calloc(1, sizeof *c))) {
            /* the connection lives on, without a header deadline: only
             * its idle timeout applies */
            log_warn("http", "cannot track a new connection: no header deadline for it");
            return;
        }
        c->fd = ci->connect_fd;
        c->phase = CONN_HEADERS;
        c->deadline = hy_mono_ms() + s->header_timeout_ms;
        pthread_mutex_lock(&s->conns_lock);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        pthread_mutex_unlock(&s->conns_lock);
        *socket_context = c;
        return;
    }
    if (!c)
        return;
    /* CLOSED comes before MHD closes the socket: once the entry is out of
     * the list, the reaper cannot shut down a reused descriptor */
    pthread_mutex_lock(&s->conns_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&s->conns_lock);
    *socket_context = NULL;
    free(c);
}

/* The idle connection has received data since its last request completed:
 * the next request has begun. Returns when that data was first seen. */
static bool conn_next_request_began(struct http_conn *c, int64_t now, int64_t *began)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_last_data_recv) + sizeof ti.tcpi_last_data_recv)
        return false;
    int64_t last_data = now - (int64_t)ti.tcpi_last_data_recv;
    /* the kernel's clock ticks in jiffies: data within a few ms of the
     * completion belongs to the request that completed */
    if (last_data <= __atomic_load_n(&c->idle_since, __ATOMIC_RELAXED) + 10)
        return false;
    *began = now; /* first seen now; it arrived at most one sweep ago */
    return true;
}

/* One sweep: shut down the connections past their header deadline. */
static void reaper_sweep(struct http_server *s)
{
    int64_t now = hy_mono_ms();
    unsigned shut = 0;
    for (struct http_conn *c = s->conns; c; c = c->next) {
        if (c->shut)
            continue;
        uint32_t w = __atomic_load_n(&c->phase, __ATOMIC_ACQUIRE);
        if (CONN_PHASE(w) == CONN_IDLE) {
            int64_t began;
            if (conn_next_request_began(c, now, &began) &&
                __atomic_compare_exchange_n(&c->phase, &w, (w & ~3u) | CONN_HEADERS, false,
                                            __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
                c->deadline = began + s->header_timeout_ms;
            continue;
        }
        if (CONN_PHASE(w) != CONN_HEADERS || now < c->deadline)
            continue;
        /* MHD sees the end of the stream on its next read and closes the
         * connection itself; a shut-down socket cannot trickle more */
        shutdown(c->fd, SHUT_RDWR);
        c->shut = true;
        shut++;
    }
    if (shut) {
        s->reaped += shut;
        log_info("http", "closed %u connections that had not sent a request's headers "
                 "within %lld s (%llu so far)", shut, (long long)(s->header_timeout_ms / 1000),
                 (unsigned long long)s->reaped);
    }
}

static void *reaper_main(void *arg)
{
    struct http_server *s = arg;
    int64_t period = s->header_timeout_ms / 4;
    if (period > 1000)
        period = 1000;
    if (period < 50)
        period = 50;
    pthread_mutex_lock(&s->conns_lock);
    while (!s->reaper_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += period / 1000;
        ts.tv_nsec += (period % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->reaper_cv, &s->conns_lock, &ts);
        if (!s->reaper_stop)
            reaper_sweep(s);
    }
    pthread_mutex_unlock(&s->conns_lock);
    return NULL;
}

/* ---- the in-flight body budget ----------------------------------------- */

static bool inflight_reserve(struct http_server *s, struct req_priv *p, uint64_t n)
{
    uint64_t limit = p->reserved + n > HTTP_SMALL_BODY ? s->inflight_max - s->inflight_max / 8
                                                       : s->inflight_max;
    uint64_t total = __atomic_add_fetch(&s->inflight, n, __ATOMIC_RELAXED);
    if (total <= limit) {
        p->reserved += n;
        return true;
    }
    __atomic_sub_fetch(&s->inflight, n, __ATOMIC_RELAXED);
    uint64_t refused = __atomic_add_fetch(&s->inflight_refused, 1, __ATOMIC_RELAXED);
    /* one line per 10 s at most: an attack must not flood the log */
    int64_t now = hy_mono_ms(), last = __atomic_load_n(&s->inflight_warned, __ATOMIC_RELAXED);
    if (now - last >= 10000 &&
        __atomic_compare_exchange_n(&s->inflight_warned, &last, now, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
        log_warn("http", "request bodies in flight would pass --max-inflight-bytes %llu: "
                 "%s %s from %s answered 503 (%llu such requests so far)",
                 (unsigned long long)s->inflight_max, p->req.method, p->req.path,
                 p->req.remote_addr ? p->req.remote_addr : "?", (unsigned long long)refused);
    return false;
}

static void inflight_release(struct req_priv *p)
{
    if (p->reserved) {
        __atomic_sub_fetch(&p->server->inflight, p->reserved, __ATOMIC_RELAXED);
        p->reserved = 0;
    }
}

/* ---- spooling --------------------------------------------------------- */
static int http_errno_rc(int err)
{
    return err == ENOSPC || err == EDQUOT ? HY_ENOSPC : HY_EIO;
}

/* Drops a spooled body after a failure or over the ceiling. */
static void spool_drop(struct req_priv *p)
{
    if (p->spool_fd >= 0) {
        close(p->spool_fd);
        p->spool_fd = -1;
    }
    if (p->spool_path[0]) {
        unlink(p->spool_path);
        p->spool_path[0] = 0;
    }
}

static int spool_write(struct req_priv *p, const char *data, size_t n)
{
    if (EVP_DigestUpdate(p->md5, data, n) != 1 ||
        EVP_DigestUpdate(p->sha256, data, n) != 1)
        return HY_ENOMEM;
    while (n > 0) {
        ssize_t w = write(p->spool_fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return http_errno_rc(errno);
        data += w;
        n -= (size_t)w;
    }
    return HY_OK;
}

/* Moves the body from memory to a new spool file. */
static int spool_begin(struct http_server *s, struct req_priv *p)
{
    unsigned char id[8];
    char hex[17];
    int rc = hy_random(id, sizeof id);
    if (rc)
        return rc;
    hex_encode(hex, id, sizeof id);
    int n = snprintf(p->spool_path, sizeof p->spool_path, "%s/spool-%s.tmp",
                     s->spool_dir, hex);
    if (n < 0 || (size_t)n >= sizeof p->spool_path) {
        p->spool_path[0] = 0;
        return HY_EINVAL;
    }
    p->md5 = EVP_MD_CTX_new();
    p->sha256 = EVP_MD_CTX_new();
    if (!p->md5 || !p->sha256 || EVP_DigestInit_ex(p->md5, EVP_md5(), NULL) != 1 ||
        EVP_DigestInit_ex(p->sha256, EVP_sha256(), NULL) != 1) {
        p->spool_path[0] = 0;
        return HY_ENOMEM;
    }
    /* object bytes before authentication is complete: the owner's alone */
    p->spool_fd = open(p->spool_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (p->spool_fd < 0) {
        rc = http_errno_rc(errno);
        log_error("http", "cannot create %s: %s", p->spool_path, strerror(errno));
        p->spool_path[0] = 0;
        return rc;
    }
    if (p->body.len > 0 && (rc = spool_write(p, p->body.data, p->body.len)))
        return rc;
    p->spool_len = p->body.len;
    buf_free(&p->body);
    return HY_OK;
}

/* One piece of the body: memory, or the spool file past the threshold. */
static void body_append(struct http_server *s, struct req_priv *p,
                        const char *data, size_t n)
{
    int rc;
    if (p->req.body_too_large || p->req.body_rc)
        return;
    if (p->spool_fd < 0 && p->spool_ok && p->body.len + n > HTTP_SPOOL_THRESHOLD) {
        if ((rc = spool_begin(s, p))) {
            p->req.body_rc = rc;
            spool_drop(p);
            buf_free(&p->body);
            return;
        }
    }
    if (p->spool_fd >= 0) {
        if (n > p->spool_max - p->spool_len) {
            p->req.body_too_large = true;
            spool_drop(p);
            return;
        }
        if ((rc = spool_write(p, data, n))) {
            log_error("http", "spool write %s: %s", p->spool_path, hy_strerror(rc));
            p->req.body_rc = rc;
            spool_drop(p);
            return;
        }
        p->spool_len += n;
        return;
    }
    if (!p->body.data && p->declared && p->reserved > n && p->reserved <= p->body.max) {
        /* the declared length, allocated once: growing by doubling would
         * copy the body several times and leave freed chunks behind */
        p->body.data = malloc(p->reserved + 1);
        if (p->body.data) {
            p->body.cap = p->reserved + 1;
            p->body.data[0] = 0;
        }
    }
    if (buf_append(&p->body, data, n) != HY_OK) {
        p->req.body_too_large = true;
        buf_free(&p->body);
    }
}

/* The body is complete: close the spool file and finish the digests. */
static void spool_end(struct req_priv *p)
{
    unsigned int len;
    if (p->spool_fd < 0)
        return;
    if (close(p->spool_fd) != 0 && !p->req.body_rc)
        p->req.body_rc = http_errno_rc(errno);
    p->spool_fd = -1;
    if (p->req.body_rc ||
        EVP_DigestFinal_ex(p->md5, p->req.body_md5, &len) != 1 ||
        EVP_DigestFinal_ex(p->sha256, p->req.body_sha256, &len) != 1) {
        if (!p->req.body_rc)
            p->req.body_rc = HY_ENOMEM;
        spool_drop(p);
        return;
    }
    p->req.body_path = p->spool_path;
}

static void dispatch(struct http_server *s, struct req_priv *p)
{
    spool_end(p);
    if (p->req.body_path) {
        p->req.body = "";
        p->req.body_len = 0;
        p->req.body_file_len = p->spool_len;
    } else if (p->body.data) {
        p->req.body = p->body.data;
        p->req.body_len = p->body.len;
    } else {
        p->req.body = "";
        p->req.body_len = 0;
    }
    p->dispatched = true;
    s->handler(&p->req);
}

/* After the handler: queue the reply now, or suspend until it comes. */
/* Answers from http.c itself, before any API sees the request. */
static enum MHD_Result reply_now(struct req_priv *p, int status, const char *msg)
{
    size_t len = strlen(msg);
    p->replied = true;
    p->status = status;
    p->content_type = strdup("text/plain");
    p->resp_body = malloc(len);
    if (p->resp_body) {
        memcpy(p->resp_body, msg, len);
        p->resp_len = len;
    }
    p->state = RS_READING;
    return queue_reply(p);
}

static enum MHD_Result after_dispatch(struct req_priv *p)
{
    pthread_mutex_lock(&p->lock);
    if (p->replied) {
        pthread_mutex_unlock(&p->lock);
        return queue_reply(p);
    }
    p->state = RS_SUSPENDED;
    p->was_suspended = true;
    __atomic_add_fetch(&p->server->nsuspended, 1, __ATOMIC_SEQ_CST);
    MHD_suspend_connection(p->conn);
    pthread_mutex_unlock(&p->lock);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)url;
    (void)version;
    struct http_server *s = cls;
    struct req_priv *p = *req_cls;
    if (!p)
        return MHD_NO; /* out of memory in on_uri: drop the connection */

    switch (p->state) {
    case RS_NEW: {
        if (p->conn_track)
            conn_set_phase(p->conn_track, CONN_BUSY); /* the headers are in */
        p->req.method = arena_strdup(p->req.arena, method);
        size_t n = 0;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &n);
        if (n > HTTP_MAX_REQ_HEADERS) {
            /* the first ones are enough for the router to tell the API
             * and refuse in its shape */
            if (!s->admit)
                return reply_now(p, 431, "Request Header Fields Too Large: at most 100 headers\n");
            p->req.headers_too_many = true;
            n = HTTP_MAX_REQ_HEADERS;
        }
        /* counted before stopping is read, and http_stop sets stopping
         * before it reads the count (both seq_cst): a request either sees
         * stopping and is refused, or http_stop waits for it to complete,
         * so none is suspended after MHD_stop_daemon (which aborts then) */
        __atomic_add_fetch(&s->nactive, 1, __ATOMIC_SEQ_CST);
        p->active = true;
        if (__atomic_load_n(&s->stopping, __ATOMIC_SEQ_CST))
            return reply_now(p, 503, "Service Unavailable: hydrant is shutting down\n");
        struct hdr_collect c = {arena_alloc(p->req.arena, (n + 1) * sizeof *c.h),
                                0, n, p->req.arena};
        if (!p->req.method || !c.h)
            return MHD_NO;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &c);
        p->req.headers = c.h;
        p->req.nheaders = c.n;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
            char ip[INET_ADDRSTRLEN];
            const struct sockaddr_in *sin = (const void *)ci->client_addr;
            inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
            p->req.remote_addr = arena_strdup(p->req.arena, ip);
        }
        p->req.tls = hy_cfg.tls_cert != NULL;
        p->req.body = "";
        p->state = RS_READING;
        p->start_mono = hy_mono_ms();
        struct http_admit adm = {hy_cfg.max_body, false};
        if (s->admit) {
            p->dispatched = true; /* the hook may answer */
            if (!s->admit(&p->req, &adm))
                return after_dispatch(p); /* answered; the body is never read */
            p->dispatched = false;
            if (p->req.headers_too_many) /* a hook that does not look */
                return reply_now(p, 431, "Request Header Fields Too Large: at most 100 headers\n");
        }
        p->spool_ok = adm.spool;
        p->spool_max = s->spool_max;
        p->body.max = p->spool_ok ? HTTP_SPOOL_THRESHOLD /* the rest goes to the file */
                                  : adm.max_body;
        const char *cl = http_header(&p->req, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || *end || v > (p->spool_ok ? p->spool_max : adm.max_body)) {
                /* answer now; MHD closes the connection after it */
                p->req.body_too_large = true;
                dispatch(s, p);
                return after_dispatch(p);
            }
            /* the whole declared body is counted now, before one byte of
             * it is read: a request the budget cannot hold is answered at
             * once (and gets no 100 Continue) */
            p->declared = true;
            uint64_t held = p->spool_ok && v > HTTP_SPOOL_THRESHOLD ? HTTP_SPOOL_THRESHOLD : v;
            if (held > 0 && !inflight_reserve(s, p, held)) {
                p->req.body_rc = HY_EBUSY;
                dispatch(s, p);
                return after_dispatch(p);
            }
        }
        return MHD_YES;
    }
    case RS_READING:
        if (*upload_data_size > 0 && !p->declared && p->spool_fd < 0 &&
            !p->req.body_rc && !p->req.body_too_large) {
            /* no declared length: counted as the bytes arrive. Past the
             * budget the bytes are dropped as they come (MHD cannot queue
             * an answer mid-body) and the 503 goes out at the body's end;
             * nothing is held meanwhile, and the slow-body rule and the
             * idle timeout bound how long that takes */
            uint64_t held = p->body.len + *upload_data_size;
            if (p->spool_ok && held > HTTP_SPOOL_THRESHOLD)
                held = HTTP_SPOOL_THRESHOLD;
            if (held > p->reserved && !inflight_reserve(s, p, held - p->reserved)) {
                p->req.body_rc = HY_EBUSY;
                buf_free(&p->body);
                inflight_release(p);
            }
        }
        if (*upload_data_size > 0) {
            p->received += *upload_data_size;
            int64_t secs = (hy_mono_ms() - p->start_mono) / 1000;
            if (secs > HTTP_SLOW_GRACE_S &&
                p->received / (uint64_t)secs < HTTP_SLOW_MIN_RATE) {
                log_warn("http", "%s %s from %s: body arrives at under %d KiB/s; "
                         "connection dropped", p->req.method, p->req.path,
                         p->req.remote_addr ? p->req.remote_addr : "?",
                         HTTP_SLOW_MIN_RATE / 1024);
                return MHD_NO;
            }
            body_append(s, p, upload_data, *upload_data_size);
            *upload_data_size = 0;
            return MHD_YES;
        }
        p->state = RS_WAITING;
        dispatch(s, p);
        return after_dispatch(p);
    case RS_WAITING:
    case RS_SUSPENDED:
        /* resumed: the reply is stored */
        pthread_mutex_lock(&p->lock);
        bool ready = p->replied;
        pthread_mutex_unlock(&p->lock);
        if (ready) {
            enum MHD_Result r = queue_reply(p);
            if (p->was_suspended) {
                /* MHD runs this only once it has really resumed it */
                p->was_suspended = false;
                __atomic_sub_fetch(&p->server->nsuspended, 1, __ATOMIC_SEQ_CST);
            }
            return r;
        }
        *upload_data_size = 0;
        return MHD_YES;
    case RS_DONE:
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_NO;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    log_debug("http", "mhd: %s", msg);
}

int http_start(http_handler_fn handler, http_admit_fn admit,
               struct http_server **out)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (!s)
        return HY_ENOMEM;
    s->handler = handler;
    s->admit = admit;
    uint64_t max_object = hy_cfg.max_object ? hy_cfg.max_object : 5ull << 30;
    s->spool_max = max_object + max_object / 64 + (1u << 20);
    int n = snprintf(s->spool_dir, sizeof s->spool_dir, "%s/store/tmp", hy_cfg.data_dir);
    /* 0700 even when an older hydrant made it 0755: unauthenticated
     * upload bytes wait here */
    if (n < 0 || (size_t)n >= sizeof s->spool_dir || mkdir_p(s->spool_dir, 0700) != HY_OK ||
        chmod(s->spool_dir, 0700) != 0) {
        log_error("http", "cannot use the spool directory %s/store/tmp", hy_cfg.data_dir);
        free(s);
        return HY_EIO;
    }
    s->inflight_max = hy_cfg.max_inflight_bytes ? hy_cfg.max_inflight_bytes : 256u << 20;
    s->header_timeout_ms = (int64_t)(hy_cfg.header_timeout_s > 0 ? hy_cfg.header_timeout_s : 20) *
                           1000;
    pthread_mutex_init(&s->conns_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->reaper_cv, &ca);
    pthread_condattr_destroy(&ca);

    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)hy_cfg.port);
    if (inet_pton(AF_INET, hy_cfg.host, &addr.sin_addr) != 1) {
        log_error("http", "listen address %s is not an IPv4 address", hy_cfg.host);
        free(s);
        return HY_EINVAL;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (hy_cfg.tls_cert || hy_cfg.tls_key) {
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
            log_error("http", "libmicrohttpd was built without TLS");
            free(s);
            return HY_EINVAL;
        }
        s->tls_cert = hy_cfg.tls_cert ? hy_read_file(hy_cfg.tls_cert, 1 << 20, NULL) : NULL;
        s->tls_key = hy_cfg.tls_key ? hy_read_file(hy_cfg.tls_key, 1 << 20, NULL) : NULL;
        if (!s->tls_cert || !s->tls_key || !*s->tls_cert || !*s->tls_key) {
            log_error("http", "cannot read --tls-cert %s / --tls-key %s",
                      hy_cfg.tls_cert ? hy_cfg.tls_cert : "(none)",
                      hy_cfg.tls_key ? hy_cfg.tls_key : "(none)");
            free(s->tls_cert);
            free(s->tls_key);
            free(s);
            return HY_EINVAL;
        }
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem no_opts[] = {{MHD_OPTION_END, 0, NULL}};

    s->daemon = MHD_start_daemon(
        flags, (uint16_t)hy_cfg.port, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first: MHD says so */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, s,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(hy_cfg.threads > 0 ? hy_cfg.threads : 2),
        MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(hy_cfg.idle_timeout_s > 0 ? hy_cfg.idle_timeout_s : 120),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(hy_cfg.max_conns > 0 ? hy_cfg.max_conns : 4096),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)(hy_cfg.max_conns_per_ip > 0 ? hy_cfg.max_conns_per_ip : 0),
        /* request line + headers must fit (AWS's own limits are smaller);
         * MHD zeroes this pool per request, so it is kept small: 128 KiB
         * cost 9 us more per request than 32 KiB (docs/perf/HISTORY.md) */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(HTTP_HEADER_MEMORY),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_ARRAY, s->tls_cert ? tls_opts : no_opts,
        MHD_OPTION_END);
    if (!s->daemon) {
        log_error("http", "cannot listen on %s:%d: %s", hy_cfg.host, hy_cfg.port,
                  strerror(errno));
        goto out_free_server;
    }
    if ((errno = pthread_create(&s->reaper, NULL, reaper_main, s)) != 0) {
        log_error("http", "cannot start the header-deadline thread: %s", strerror(errno));
        MHD_stop_daemon(s->daemon);
        goto out_free_server;
    }
    s->reaper_running = true;
    if (hy_cfg.port == 0) {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
        if (di)
            hy_cfg.port = di->port;
    }
    *out = s;
    return HY_OK;

out_free_server:
    pthread_cond_destroy(&s->reaper_cv);
    pthread_mutex_destroy(&s->conns_lock);
    free(s->tls_cert);
    free(s->tls_key);
    free(s);
    return HY_EIO;
}

static void reaper_stop(struct http_server *s)
{
    if (!s->reaper_running)
        return;
    pthread_mutex_lock(&s->conns_lock);
    s->reaper_stop = true;
    pthread_cond_signal(&s->reaper_cv);
    pthread_mutex_unlock(&s->conns_lock);
    pthread_join(s->reaper, NULL);
    s->reaper_running = false;
}

void http_stop(struct http_server *s)
{
    if (!s)
        return;
    /* libmicrohttpd must not be stopped with a suspended connection: stop
     * accepting, refuse new requests, and wait until every request already
     * past its headers has completed (a put reading its body now would be
     * suspended for its fsync later) and every put waiting for its fsync
     * has been answered */
    __atomic_store_n(&s->stopping, true, __ATOMIC_SEQ_CST);
    /* No MHD_quiesce_daemon: with a thread pool on epoll it races the
     * workers' own removal of the listen socket from their epoll sets
     * (at the connection limit) and MHD aborts ("Failed to remove listen
     * FD from epoll set", seen in CI). The listener stays open until
     * MHD_stop_daemon closes it; a request that arrives meanwhile gets
     * 503 (stopping). */
    int64_t deadline = hy_mono_ms() + 30000;
    while (__atomic_load_n(&s->nsuspended, __ATOMIC_SEQ_CST) > 0 ||
           __atomic_load_n(&s->nactive, __ATOMIC_SEQ_CST) > 0) {
        if (hy_mono_ms() > deadline) {
            log_error("http", "%d requests still waiting (%d in progress) after 30 s; "
                      "exiting without closing their connections", s->nsuspended,
                      s->nactive);
            return;
        }
        usleep(2000);
    }
    reaper_stop(s);
    MHD_stop_daemon(s->daemon);
    pthread_cond_destroy(&s->reaper_cv);
    pthread_mutex_destroy(&s->conns_lock);
    free(s->tls_cert);
    free(s->tls_key);
    free(s);
}
