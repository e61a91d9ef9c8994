/* hydrant-load.c -- a load generator for Firehose PutRecord / PutRecordBatch.
 *
 * What it does: keeps N HTTP/1.1 keep-alive connections to a server, each
 * with one request in flight, and drives PutRecord (one record a request)
 * or PutRecordBatch (--batch records a request) with records of
 * --record-size bytes, for --duration seconds or --requests requests,
 * flat out or paced to --rate requests/s. Every request carries a real
 * SigV4 signature (access key test / secret test by default, region
 * us-east-1, service firehose), computed with the server's own sigv4.c
 * functions. At the end it prints requests/s, records/s, payload MB/s,
 * latency p50/p99/p99.9/max, errors, the records and bytes acknowledged
 * (what a delivery check must find), and the server's peak RSS
 * (/proc/PID/status VmHWM of --server-pid).
 *
 * Design:
 * - One epoll loop per thread (--threads), connections spread evenly.
 *   HTTP is written by hand: the request is a header block plus a body
 *   shared by every connection, sent with writev; responses are parsed
 *   just enough to find the status, Content-Length and, for batches,
 *   "FailedPutCount". libcurl costs more per request than the server
 *   under test does, which would make the client the bottleneck.
 * - Records are identical within a run: each is --record-size bytes of
 *   printable text ending in '\n', so a delivery check can count records
 *   by counting newlines. The body (and its SHA-256) is therefore fixed
 *   per stream, and the signature changes only with X-Amz-Date, so each
 *   thread re-signs a stream's header block once a second instead of per
 *   request -- exactly what a client would compute, at a fraction of the
 *   cost, leaving the cores to the server. --sign-each signs every request.
 * - Several streams (--streams a,b,c or --stream-prefix p --nstreams K):
 *   requests go round-robin over them.
 * - Latency is measured from the first byte written to the last byte of
 *   the response; every sample is kept (4 bytes each) and sorted at the end.
 * - Paced mode: a thread sends when a connection is idle and the schedule
 *   (one request every threads/rate seconds) says so; epoll_pwait2 gives
 *   the loop microsecond timeouts.
 * - --self-check builds the first request as the server would see it and
 *   runs sigv4_verify on it (so a signing bug shows before the run), then
 *   times sigv4_verify for that request: what signature checking costs the
 *   server per request, printed as verify_us.
 *
 * Output: a human table on stderr and one "key=value ..." line on stdout
 * for bench/run.py.
 *
 * Threading: each thread owns its connections, its samples and its
 * counters; the main thread joins and sums them.
 */
#include "server.h"
#include "sigv4.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOAD_MAX_CONNS 4096
#define LOAD_RBUF_START 4096
#define LOAD_RBUF_MAX (16u << 20)
#define LOAD_HDR_MAX 2048

struct hy_config hy_cfg; /* main.c's; the linked server objects refer to it */

static struct {
    const char *host;
    int port;
    const char *op;          /* "PutRecord" or "PutRecordBatch" */
    size_t record_size;
    size_t batch;
    int conns, threads;
    double duration_s;
    uint64_t requests;       /* 0: run for duration_s */
    double rate;             /* req/s over all threads; 0 = flat out */
    char **streams;
    size_t nstreams;
    int server_pid;
    const char *access_key, *secret_key, *region;
    bool sign_each, self_check, quiet;
    const char *target;      /* "trivial": label only */
} opt = {
    .host = "127.0.0.1",
    .op = "PutRecord",
    .record_size = 100,
    .batch = 500,
    .conns = 64,
    .threads = 1,
    .duration_s = 5,
    .access_key = "test",
    .secret_key = "test",
    .region = "us-east-1",
};

/* One stream's request body, shared read-only by every thread. */
struct body {
    const char *stream;
    char *data;
    size_t len;
    char sha256[65];
};
static struct body *bodies;
static size_t records_per_req;

struct hdr_cache {
    time_t sec;
    size_t len;
    char text[LOAD_HDR_MAX];
};

struct conn {
    int fd;
    struct worker *w;
    bool busy;
    /* the request being sent */
    size_t stream;
    struct iovec iov[2];
    size_t sent, total;
    char hdr[LOAD_HDR_MAX];
    int64_t t0_ns;
    /* the response being read */
    char *rbuf;
    size_t rlen, rcap;
    struct conn *next_idle;
};

struct worker {
    pthread_t thread;
    int id, epfd;
    struct conn *conns;
    int nconns;
    struct conn *idle;
    size_t next_stream;
    struct hdr_cache *hdrs;       /* one per stream */
    /* budget */
    uint64_t quota;               /* requests this thread may start; 0 = none */
    uint64_t started;
    int64_t end_ns, interval_ns, next_due_ns;
    /* results */
    uint64_t ok, errors, failed_records, ok_records, ok_bytes, bytes_sent;
    uint64_t status_other, conn_errors;
    uint32_t *lat_us;
    size_t nlat, cap_lat;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hydrant-load: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* ---- request bodies ------------------------------------------------------ */
static void make_bodies(void)
{
    bool batch = strcmp(opt.op, "PutRecordBatch") == 0;
    records_per_req = batch ? opt.batch : 1;
    unsigned char *rec = malloc(opt.record_size);
    if (!rec)
        die("out of memory");
    for (size_t i = 0; i < opt.record_size; i++)
        rec[i] = (unsigned char)('a' + i % 26);
    if (opt.record_size)
        rec[opt.record_size - 1] = '\n';
    size_t b64len = base64_encoded_len(opt.record_size);
    char *b64 = malloc(b64len + 1);
    if (!b64)
        die("out of memory");
    base64_encode(b64, rec, opt.record_size);
    bodies = calloc(opt.nstreams, sizeof *bodies);
    if (!bodies)
        die("out of memory");
    for (size_t s = 0; s < opt.nstreams; s++) {
        struct buf b;
        buf_init(&b, (size_t)1 << 30);
        int rc = buf_printf(&b, "{\"DeliveryStreamName\":\"%s\",", opt.streams[s]);
        if (batch) {
            rc |= buf_puts(&b, "\"Records\":[");
            for (size_t i = 0; i < opt.batch; i++) {
                rc |= buf_puts(&b, i ? ",{\"Data\":\"" : "{\"Data\":\"");
                rc |= buf_append(&b, b64, b64len);
                rc |= buf_puts(&b, "\"}");
            }
            rc |= buf_puts(&b, "]}");
        } else {
            rc |= buf_puts(&b, "\"Record\":{\"Data\":\"");
            rc |= buf_append(&b, b64, b64len);
            rc |= buf_puts(&b, "\"}}");
        }
        if (rc)
            die("out of memory building the body");
        bodies[s].stream = opt.streams[s];
        bodies[s].len = b.len;
        bodies[s].data = buf_detach(&b, NULL);
        sha256_hex(bodies[s].sha256, bodies[s].data, bodies[s].len);
    }
    free(b64);
    free(rec);
}

/* The header block of a request to stream s, signed for time now. */
static size_t build_header(size_t s, time_t now, char *out, size_t cap)
{
    struct tm tm;
    char amz_date[17], date8[9], host[300], scope[200], sig[65];
    unsigned char key[32];
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    memcpy(date8, amz_date, 8);
    date8[8] = 0;
    snprintf(host, sizeof host, "%s:%d", opt.host, opt.port);
    snprintf(scope, sizeof scope, "%s/%s/firehose/aws4_request", date8, opt.region);

    struct buf creq, sts;
    buf_init(&creq, 1 << 16);
    buf_init(&sts, 1 << 16);
    int rc = buf_printf(&creq,
                        "POST\n/\n\n"
                        "content-type:application/x-amz-json-1.1\n"
                        "host:%s\n"
                        "x-amz-date:%s\n"
                        "x-amz-target:Firehose_20150804.%s\n\n"
                        "content-type;host;x-amz-date;x-amz-target\n%s",
                        host, amz_date, opt.op, bodies[s].sha256);
    if (rc || sigv4_string_to_sign(amz_date, scope, creq.data, creq.len, &sts) ||
        sigv4_signing_key(opt.secret_key, date8, opt.region, "firehose", key))
        die("cannot sign");
    sigv4_sign(key, sts.data, sts.len, sig);
    buf_free(&creq);
    buf_free(&sts);
    int n = snprintf(out, cap,
                     "POST / HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Content-Type: application/x-amz-json-1.1\r\n"
                     "X-Amz-Target: Firehose_20150804.%s\r\n"
                     "X-Amz-Date: %s\r\n"
                     "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, "
                     "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                     "Signature=%s\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     host, opt.op, amz_date, opt.access_key, scope, sig, bodies[s].len);
    if (n < 0 || (size_t)n >= cap)
        die("header too long");
    return (size_t)n;
}

/* ---- self check: the server's verifier accepts our signature ------------- */
static int self_secret(const char *akid, char *secret, size_t size, void *ctx)
{
    (void)ctx;
    if (strcmp(akid, opt.access_key) != 0)
        return -1;
    snprintf(secret, size, "%s", opt.secret_key);
    return 0;
}

/* Parses our own header block into a struct http_req, as http.c would. */
static double self_check(void)
{
    char hdr[LOAD_HDR_MAX];
    time_t now = time(NULL);
    build_header(0, now, hdr, sizeof hdr);
    struct http_header hs[16];
    size_t nh = 0;
    char *line = strstr(hdr, "\r\n") + 2;
    while (nh < 16 && line[0] != '\r') {
        char *eol = strstr(line, "\r\n");
        *eol = 0;
        char *colon = strchr(line, ':');
        *colon = 0;
        hs[nh].name = line;
        hs[nh].value = colon + 2;
        nh++;
        line = eol + 2;
    }
    struct http_req req = {
        .method = "POST", .uri = "/", .path = "/", .query = "",
        .headers = hs, .nheaders = nh,
        .body = bodies[0].data, .body_len = bodies[0].len,
        .remote_addr = "127.0.0.1",
    };
    struct sigv4_auth auth;
    req.arena = arena_new();
    int rc = sigv4_verify(&req, self_secret, NULL, hy_now_ms(), &auth);
    arena_free(req.arena);
    if (rc != SIGV4_OK)
        die("self-check: sigv4_verify says %d (%s)", rc, auth.detail);
    /* time it: long enough for a stable figure, short enough for big bodies */
    int64_t t0 = mono_ns();
    int iters = 0;
    while (iters < 20000 && (iters < 5 || mono_ns() - t0 < 300000000)) {
        req.arena = arena_new();
        sigv4_verify(&req, self_secret, NULL, hy_now_ms(), &auth);
        arena_free(req.arena);
        iters++;
    }
    return (double)(mono_ns() - t0) / iters / 1000.0;
}

/* ---- connections ---------------------------------------------------------- */
static int conn_open(struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1)
        die("bad host %s", opt.host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->fd = fd;
    c->rlen = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void conn_reopen(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    c->w->conn_errors++;
    for (int tries = 0; tries < 50 && conn_open(c) != 0; tries++)
        usleep(20000);
}

static void conn_make_idle(struct conn *c)
{
    c->busy = false;
    c->next_idle = c->w->idle;
    c->w->idle = c;
}

static void conn_want_out(struct conn *c, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what it can of the request; arms EPOLLOUT when the socket is full. */
static void conn_flush(struct conn *c)
{
    while (c->sent < c->total) {
        struct iovec v[2];
        int nv = 0;
        size_t off = c->sent;
        for (int i = 0; i < 2; i++) {
            if (off >= c->iov[i].iov_len) {
                off -= c->iov[i].iov_len;
                continue;
            }
            v[nv].iov_base = (char *)c->iov[i].iov_base + off;
            v[nv].iov_len = c->iov[i].iov_len - off;
            nv++;
            off = 0;
        }
        ssize_t n = writev(c->fd, v, nv);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_want_out(c, true);
            return;
        }
        if (n <= 0) {
            c->w->errors++;
            conn_reopen(c);
            conn_make_idle(c);
            return;
        }
        c->sent += (size_t)n;
        c->w->bytes_sent += (uint64_t)n;
    }
}

static void conn_send(struct conn *c)
{
    struct worker *w = c->w;
    size_t s = w->next_stream++ % opt.nstreams;
    struct hdr_cache *h = &w->hdrs[s];
    time_t now = time(NULL);
    if (opt.sign_each || h->sec != now) {
        h->len = build_header(s, now, h->text, sizeof h->text);
        h->sec = now;
    }
    c->stream = s;
    c->busy = true;
    memcpy(c->hdr, h->text, h->len);
    c->iov[0] = (struct iovec){c->hdr, h->len};
    c->iov[1] = (struct iovec){bodies[s].data, bodies[s].len};
    c->sent = 0;
    c->total = h->len + bodies[s].len;
    c->rlen = 0;
    c->t0_ns = mono_ns();
    w->started++;
    conn_flush(c);
}

static void record_latency(struct worker *w, int64_t ns)
{
    if (w->nlat == w->cap_lat) {
        size_t cap = w->cap_lat ? w->cap_lat * 2 : 1 << 16;
        uint32_t *p = realloc(w->lat_us, cap * sizeof *p);
        if (!p)
            return;
        w->lat_us = p;
        w->cap_lat = cap;
    }
    int64_t us = ns / 1000;
    w->lat_us[w->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* A whole response is in rbuf[0..end): account for it. */
static void conn_done(struct conn *c, int status, const char *body, size_t body_len)
{
    struct worker *w = c->w;
    record_latency(w, mono_ns() - c->t0_ns);
    if (status != 200) {
        w->errors++;
        w->status_other++;
        if (!opt.quiet && w->status_other <= 3)
            fprintf(stderr, "hydrant-load: HTTP %d: %.*s\n", status,
                    (int)(body_len > 300 ? 300 : body_len), body);
        return;
    }
    uint64_t failed = 0;
    if (records_per_req > 1 || strcmp(opt.op, "PutRecordBatch") == 0) {
        const char *f = memmem(body, body_len, "\"FailedPutCount\":", 17);
        if (f)
            failed = strtoull(f + 17, NULL, 10);
        else if (opt.target == NULL)
            failed = records_per_req; /* not a Firehose answer */
    }
    if (failed > records_per_req)
        failed = records_per_req;
    w->ok++;
    w->failed_records += failed;
    w->ok_records += records_per_req - failed;
    w->ok_bytes += (records_per_req - failed) * opt.record_size;
    if (failed)
        w->errors++;
}

/* Reads and parses; returns true when a full response was consumed. */
static bool conn_read(struct conn *c)
{
    for (;;) {
        if (c->rcap - c->rlen < 1024) {
            size_t cap = c->rcap ? c->rcap * 2 : LOAD_RBUF_START;
            if (cap > LOAD_RBUF_MAX)
                die("response larger than %u bytes", LOAD_RBUF_MAX);
            char *p = realloc(c->rbuf, cap);
            if (!p)
                die("out of memory");
            c->rbuf = p;
            c->rcap = cap;
        }
        ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        if (n <= 0) {
            if (c->busy) {
                c->w->errors++;
                conn_reopen(c);
                conn_make_idle(c);
            } else {
                conn_reopen(c);
            }
            return false;
        }
        c->rlen += (size_t)n;
        c->rbuf[c->rlen] = 0;
        char *eoh = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
        if (!eoh)
            continue;
        int status = 0;
        if (sscanf(c->rbuf, "HTTP/1.%*d %d", &status) != 1)
            status = 0;
        size_t clen = 0;
        bool close_after = false;
        for (char *l = strstr(c->rbuf, "\r\n") + 2; l < eoh; l = strstr(l, "\r\n") + 2) {
            if (strncasecmp(l, "Content-Length:", 15) == 0)
                clen = strtoull(l + 15, NULL, 10);
            else if (strncasecmp(l, "Connection: close", 17) == 0)
                close_after = true;
        }
        size_t hlen = (size_t)(eoh + 4 - c->rbuf);
        if (c->rlen < hlen + clen)
            continue;
        if (c->sent < c->total) {
            /* answered before the body was sent (an early error): this
             * connection is unusable for keep-alive */
            close_after = true;
        }
        conn_done(c, status, c->rbuf + hlen, clen);
        c->rlen = 0;
        if (close_after) {
            conn_reopen(c);
            c->w->conn_errors--; /* a close the server asked for */
        } else if (c->sent < c->total) {
            conn_want_out(c, false);
        }
        conn_make_idle(c);
        return true;
    }
}

/* ---- the loop --------------------------------------------------------------- */
static bool may_start(struct worker *w, int64_t now)
{
    if (w->quota) {
        if (w->started >= w->quota)
            return false;
    } else if (now >= w->end_ns) {
        return false;
    }
    return true;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[256];
    for (int i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        c->w = w;
        c->fd = -1;
        if (conn_open(c) != 0)
            die("cannot connect to %s:%d: %s", opt.host, opt.port, strerror(errno));
        conn_make_idle(c);
    }
    int64_t start = mono_ns();
    w->end_ns = start + (int64_t)(opt.duration_s * 1e9);
    w->next_due_ns = start;
    int inflight = 0;
    int64_t drain_deadline = 0;
    for (;;) {
        int64_t now = mono_ns();
        /* start requests on idle connections the budget allows */
        while (w->idle && may_start(w, now)) {
            if (w->interval_ns) {
                if (w->next_due_ns > now)
                    break;
                w->next_due_ns += w->interval_ns;
            }
            struct conn *c = w->idle;
            w->idle = c->next_idle;
            inflight++;
            conn_send(c);
            if (!c->busy) /* failed at once */
                inflight--;
        }
        if (!may_start(w, now)) {
            if (inflight == 0)
                break;
            if (!drain_deadline)
                drain_deadline = now + 30000000000LL;
            else if (now > drain_deadline)
                break;
        }
        struct timespec ts = {0, 100000000};
        if (w->interval_ns && w->idle && may_start(w, now)) {
            int64_t d = w->next_due_ns - now;
            if (d < 0)
                d = 0;
            ts.tv_sec = d / 1000000000;
            ts.tv_nsec = d % 1000000000;
        }
        int n = epoll_pwait2(w->epfd, evs, 256, &ts, NULL);
        if (n < 0 && errno != EINTR)
            die("epoll: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if ((evs[i].events & EPOLLOUT) && c->busy && c->sent < c->total) {
                conn_flush(c);
                if (c->sent >= c->total)
                    conn_want_out(c, false);
                if (!c->busy) /* the write failed: conn_flush made it idle */
                    inflight--;
            }
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                bool was_busy = c->busy;
                conn_read(c);
                if (was_busy && !c->busy)
                    inflight--;
            }
        }
    }
    /* stop: close everything */
    for (int i = 0; i < w->nconns; i++)
        if (w->conns[i].fd >= 0)
            close(w->conns[i].fd);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static long read_status_kb(int pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            v = strtol(line + fl + 1, NULL, 10);
    fclose(f);
    return v;
}

/* utime + stime of a process, in seconds (fields 14 and 15 of stat). */
static double read_cpu_s(int pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    double v = -1;
    if (fgets(line, sizeof line, f)) {
        char *p = strrchr(line, ')');
        unsigned long long ut, st;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                        &ut, &st) == 2)
            v = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    fclose(f);
    return v;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: hydrant-load --port N [options]\n"
            "  --host ADDR          server address (default 127.0.0.1)\n"
            "  --port N             server port\n"
            "  --op OP              PutRecord (default) or PutRecordBatch\n"
            "  --record-size B      bytes per record, last one '\\n' (default 100)\n"
            "  --batch N            records per PutRecordBatch (default 500)\n"
            "  --conns N            keep-alive connections (default 64)\n"
            "  --threads N          client threads (default 1)\n"
            "  --duration S         seconds to run (default 5)\n"
            "  --requests N         run N requests instead of a duration\n"
            "  --rate R             pace to R requests/s in total (default: flat out)\n"
            "  --streams A,B,...    delivery streams (round-robin)\n"
            "  --stream-prefix P --nstreams K   streams P0 .. P{K-1}\n"
            "  --server-pid PID     report that process's peak RSS (VmHWM)\n"
            "  --access-key ID --secret-key S --region R   credentials (test/test/us-east-1)\n"
            "  --sign-each          sign every request (default: once a second per stream)\n"
            "  --self-check         check our signature with the server's sigv4_verify\n"
            "                       and time it (prints verify_us)\n"
            "  --target trivial     the server is the trivial floor: any 200 is a success\n"
            "  --quiet              no human table on stderr\n");
}

int main(int argc, char **argv)
{
    enum { O_HOST = 256, O_PORT, O_OP, O_RSIZE, O_BATCH, O_CONNS, O_THREADS, O_DUR,
           O_REQS, O_RATE, O_STREAMS, O_PREFIX, O_NSTREAMS, O_PID, O_AK, O_SK, O_REGION,
           O_SIGN_EACH, O_SELF, O_TARGET, O_QUIET, O_HELP };
    static const struct option longopts[] = {
        {"host", 1, 0, O_HOST}, {"port", 1, 0, O_PORT}, {"op", 1, 0, O_OP},
        {"record-size", 1, 0, O_RSIZE}, {"batch", 1, 0, O_BATCH},
        {"conns", 1, 0, O_CONNS}, {"threads", 1, 0, O_THREADS},
        {"duration", 1, 0, O_DUR}, {"requests", 1, 0, O_REQS}, {"rate", 1, 0, O_RATE},
        {"streams", 1, 0, O_STREAMS}, {"stream-prefix", 1, 0, O_PREFIX},
        {"nstreams", 1, 0, O_NSTREAMS}, {"server-pid", 1, 0, O_PID},
        {"access-key", 1, 0, O_AK}, {"secret-key", 1, 0, O_SK}, {"region", 1, 0, O_REGION},
        {"sign-each", 0, 0, O_SIGN_EACH}, {"self-check", 0, 0, O_SELF},
        {"target", 1, 0, O_TARGET}, {"quiet", 0, 0, O_QUIET}, {"help", 0, 0, O_HELP},
        {0, 0, 0, 0}};
    const char *streams_arg = "bench", *prefix = NULL;
    char *stream_list = NULL; /* --streams, split in place */
    size_t nprefix = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (o) {
        case O_HOST: opt.host = optarg; break;
        case O_PORT: opt.port = atoi(optarg); break;
        case O_OP: opt.op = optarg; break;
        case O_RSIZE: opt.record_size = strtoull(optarg, NULL, 10); break;
        case O_BATCH: opt.batch = strtoull(optarg, NULL, 10); break;
        case O_CONNS: opt.conns = atoi(optarg); break;
        case O_THREADS: opt.threads = atoi(optarg); break;
        case O_DUR: opt.duration_s = atof(optarg); break;
        case O_REQS: opt.requests = strtoull(optarg, NULL, 10); break;
        case O_RATE: opt.rate = atof(optarg); break;
        case O_STREAMS: streams_arg = optarg; break;
        case O_PREFIX: prefix = optarg; break;
        case O_NSTREAMS: nprefix = strtoull(optarg, NULL, 10); break;
        case O_PID: opt.server_pid = atoi(optarg); break;
        case O_AK: opt.access_key = optarg; break;
        case O_SK: opt.secret_key = optarg; break;
        case O_REGION: opt.region = optarg; break;
        case O_SIGN_EACH: opt.sign_each = true; break;
        case O_SELF: opt.self_check = true; break;
        case O_TARGET: opt.target = optarg; break;
        case O_QUIET: opt.quiet = true; break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (opt.port <= 0) {
        usage(stderr);
        return 2;
    }
    if (strcmp(opt.op, "PutRecord") && strcmp(opt.op, "PutRecordBatch"))
        die("--op is PutRecord or PutRecordBatch");
    if (opt.conns < 1 || opt.conns > LOAD_MAX_CONNS || opt.threads < 1 ||
        opt.threads > opt.conns || opt.record_size < 1)
        die("bad --conns / --threads / --record-size");
    if (prefix) {
        if (!nprefix)
            die("--stream-prefix needs --nstreams");
        opt.streams = calloc(nprefix, sizeof *opt.streams);
        if (!opt.streams)
            die("out of memory");
        for (size_t i = 0; i < nprefix; i++) {
            char name[80];
            snprintf(name, sizeof name, "%s%zu", prefix, i);
            opt.streams[i] = strdup(name);
        }
        opt.nstreams = nprefix;
    } else {
        char *save = NULL;
        stream_list = strdup(streams_arg);
        if (!stream_list)
            die("out of memory");
        opt.streams = calloc(strlen(stream_list) + 1, sizeof *opt.streams);
        for (char *t = strtok_r(stream_list, ",", &save); t; t = strtok_r(NULL, ",", &save))
            opt.streams[opt.nstreams++] = t;
        if (!opt.nstreams)
            die("--streams names no stream");
    }
    signal(SIGPIPE, SIG_IGN);
    make_bodies();
    double verify_us = opt.self_check ? self_check() : -1;

    struct worker *ws = calloc((size_t)opt.threads, sizeof *ws);
    struct conn *conns = calloc((size_t)opt.conns, sizeof *conns);
    if (!ws || !conns)
        die("out of memory");
    int given = 0;
    for (int t = 0; t < opt.threads; t++) {
        struct worker *w = &ws[t];
        w->id = t;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->nconns = opt.conns / opt.threads + (t < opt.conns % opt.threads);
        w->conns = conns + given;
        given += w->nconns;
        w->hdrs = calloc(opt.nstreams, sizeof *w->hdrs);
        w->next_stream = (size_t)t;
        if (opt.requests)
            w->quota = opt.requests / (uint64_t)opt.threads +
                       ((uint64_t)t < opt.requests % (uint64_t)opt.threads);
        if (opt.rate > 0)
            w->interval_ns = (int64_t)(1e9 * opt.threads / opt.rate);
        if (!w->hdrs || w->epfd < 0)
            die("out of memory");
    }
    double cpu0 = opt.server_pid ? read_cpu_s(opt.server_pid) : -1;
    double self0 = read_cpu_s(getpid());
    int64_t t0 = mono_ns();
    for (int t = 0; t < opt.threads; t++)
        pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]);
    for (int t = 0; t < opt.threads; t++)
        pthread_join(ws[t].thread, NULL);
    double secs = (double)(mono_ns() - t0) / 1e9;
    double cpu1 = opt.server_pid ? read_cpu_s(opt.server_pid) : -1;
    double server_cpu = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
    double client_cpu = read_cpu_s(getpid()) - self0;

    struct worker sum = {0};
    size_t nlat = 0;
    for (int t = 0; t < opt.threads; t++) {
        sum.ok += ws[t].ok;
        sum.errors += ws[t].errors;
        sum.failed_records += ws[t].failed_records;
        sum.ok_records += ws[t].ok_records;
        sum.ok_bytes += ws[t].ok_bytes;
        sum.bytes_sent += ws[t].bytes_sent;
        sum.conn_errors += ws[t].conn_errors;
        nlat += ws[t].nlat;
    }
    uint32_t *lat = malloc((nlat ? nlat : 1) * sizeof *lat);
    size_t k = 0;
    for (int t = 0; t < opt.threads; t++) {
        memcpy(lat + k, ws[t].lat_us, ws[t].nlat * sizeof *lat);
        k += ws[t].nlat;
    }
    qsort(lat, nlat, sizeof *lat, cmp_u32);
#define PCT(p) (nlat ? lat[(size_t)((double)(nlat - 1) * (p))] / 1000.0 : 0.0)
    double p50 = PCT(0.50), p99 = PCT(0.99), p999 = PCT(0.999);
    double pmax = nlat ? lat[nlat - 1] / 1000.0 : 0;
    long hwm = opt.server_pid ? read_status_kb(opt.server_pid, "VmHWM") : -1;
    long rss = opt.server_pid ? read_status_kb(opt.server_pid, "VmRSS") : -1;
    double reqs = (double)sum.ok / secs, recs = (double)sum.ok_records / secs;
    double mbs = (double)sum.ok_bytes / secs / 1e6;

    if (!opt.quiet) {
        fprintf(stderr,
                "%s %s: %zu B records x %zu, %d conns, %d threads, %.2f s\n"
                "  requests/s   %12.0f   (%llu ok, %llu errors, %llu reconnects)\n"
                "  records/s    %12.0f   (%llu failed records)\n"
                "  payload MB/s %12.1f   (wire %.1f MB/s sent)\n"
                "  latency ms   p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n"
                "  server RSS   peak %ld KiB, now %ld KiB\n"
                "  CPU          server %.2f s (%.1f us/request), client %.2f s\n",
                opt.target ? opt.target : "hydrant", opt.op, opt.record_size,
                records_per_req, opt.conns, opt.threads, secs, reqs,
                (unsigned long long)sum.ok, (unsigned long long)sum.errors,
                (unsigned long long)sum.conn_errors, recs,
                (unsigned long long)sum.failed_records, mbs,
                (double)sum.bytes_sent / secs / 1e6, p50, p99, p999, pmax, hwm, rss,
                server_cpu, sum.ok && server_cpu >= 0 ? server_cpu * 1e6 / (double)sum.ok : 0,
                client_cpu);
        if (verify_us >= 0)
            fprintf(stderr, "  sigv4_verify %.2f us per request (%zu-byte body)\n", verify_us,
                    bodies[0].len);
    }
    printf("secs=%.3f requests=%llu errors=%llu reconnects=%llu failed_records=%llu "
           "ok_records=%llu ok_bytes=%llu req_s=%.1f rec_s=%.1f mb_s=%.3f "
           "p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f rss_peak_kb=%ld rss_kb=%ld "
           "verify_us=%.2f body_bytes=%zu server_cpu_s=%.3f client_cpu_s=%.3f\n",
           secs, (unsigned long long)sum.ok, (unsigned long long)sum.errors,
           (unsigned long long)sum.conn_errors, (unsigned long long)sum.failed_records,
           (unsigned long long)sum.ok_records, (unsigned long long)sum.ok_bytes, reqs, recs,
           mbs, p50, p99, p999, pmax, hwm, rss, verify_us, bodies[0].len, server_cpu, client_cpu);
    for (int t = 0; t < opt.threads; t++) {
        for (int i = 0; i < ws[t].nconns; i++)
            free(ws[t].conns[i].rbuf);
        free(ws[t].lat_us);
        free(ws[t].hdrs);
        close(ws[t].epfd);
    }
    for (size_t s = 0; s < opt.nstreams; s++)
        free(bodies[s].data);
    if (prefix)
        for (size_t s = 0; s < opt.nstreams; s++)
            free(opt.streams[s]);
    free(stream_list);
    free(opt.streams);
    free(bodies);
    free(lat);
    free(conns);
    free(ws);
    return sum.errors ? 3 : 0;
}
