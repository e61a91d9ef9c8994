/* server.h -- shared definitions of the hydrant server.
 *
 * What lives here: the project-wide result codes, logging, the small
 * memory helpers every module uses (request arena, growable buffer with a
 * ceiling), the HTTP request/response object that http.c hands to the
 * APIs, the global configuration, and the utility functions of util.c.
 * Each subsystem with a public interface has its own header next to its
 * .c file (objstore.h, stream.h, ...); this one holds only what all of
 * them share.
 */
#ifndef HYDRANT_SERVER_H
#define HYDRANT_SERVER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HYDRANT_VERSION "0.1.0"
#define HY_ACCOUNT_ID "000000000000"

/* ---- result codes (every fallible call returns one as `int rc`) ----- */
enum hy_rc {
    HY_OK = 0,
    HY_ENOMEM,     /* allocation failed */
    HY_EINVAL,     /* bad input */
    HY_ENOTFOUND,  /* no such bucket / key / stream / role */
    HY_EEXIST,     /* already exists */
    HY_ENOTEMPTY,  /* bucket not empty */
    HY_EIO,        /* I/O error */
    HY_ENOSPC,     /* disk full */
    HY_ETOOBIG,    /* over a size ceiling */
    HY_ELIMIT,     /* over a count limit */
    HY_ESTATE,     /* wrong state for the operation (resource in use) */
    HY_EBUSY,      /* try again later (backpressure) */
    HY_EDB,        /* SQLite error */
    HY_ECONFLICT,  /* concurrent modification */
};
const char *hy_strerror(int rc);

/* ---- logging: one line per event, tagged by subsystem ---------------- */
enum { HY_LOG_DEBUG, HY_LOG_INFO, HY_LOG_WARN, HY_LOG_ERROR };
extern int hy_log_level;
void hy_log(int level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define log_debug(tag, ...) hy_log(HY_LOG_DEBUG, tag, __VA_ARGS__)
#define log_info(tag, ...) hy_log(HY_LOG_INFO, tag, __VA_ARGS__)
#define log_warn(tag, ...) hy_log(HY_LOG_WARN, tag, __VA_ARGS__)
#define log_error(tag, ...) hy_log(HY_LOG_ERROR, tag, __VA_ARGS__)

/* ---- configuration (main.c fills it from flags and environment) ------ */
struct hy_config {
    const char *host;          /* listen address, default 127.0.0.1 */
    int port;                  /* default 4566 */
    const char *data_dir;      /* default ./hydrant-data */
    const char *region;        /* default region when a request names none */
    const char *tls_cert;      /* PEM files; both set => HTTPS */
    const char *tls_key;
    const char *access_key_id; /* root credentials */
    const char *secret_access_key;
    int max_streams;           /* LimitExceededException past this */
    int create_delay_ms;       /* CREATING -> ACTIVE delay */
    size_t max_body;           /* largest request body accepted in memory */
    /* per-API ceilings of bodies read before authentication (0: AWS's
     * default); each is capped by max_body */
    size_t max_body_firehose;  /* 8 MiB: a 4 MiB PutRecordBatch is 5.4 MiB of JSON */
    size_t max_body_query;     /* 1 MiB: IAM / STS forms */
    size_t max_body_s3;        /* 16 MiB: S3 XML bodies (uploads are spooled) */
    uint64_t max_object;       /* largest single PUT (0 = S3's 5 GiB) */
    /* listener limits, all applied before authentication (docs/SECURITY.md) */
    uint64_t max_inflight_bytes; /* body bytes held in memory by requests in
                                  * flight, all together; past it: 503 */
    int header_timeout_s;      /* request line + headers must be in by then */
    int idle_timeout_s;        /* keep-alive idle time, and silence mid-request */
    int max_conns;             /* connections open at once */
    int max_conns_per_ip;      /* from one client address; 0: no cap */
    int threads;               /* HTTP worker threads */
    size_t max_buffered;       /* backpressure ceiling on buffered bytes */
    bool fsync;                /* --durability=fsync (true) or os (false) */
    size_t wal_segment_bytes;  /* WAL segment size */
    int retry_window_s;        /* S3 delivery retried this long, then the
                                  dead-letter bucket (--retry-window) */
    int max_active_partitions; /* partitions of one dynamically partitioned
                                  batch (--max-active-partitions, AWS: 500) */
};
extern struct hy_config hy_cfg;

/* ---- request arena: everything request-scoped, freed in one go ------- */
struct arena;
struct arena *arena_new(void);
void arena_free(struct arena *a); /* accepts NULL */
void *arena_alloc(struct arena *a, size_t n);  /* zeroed; NULL on ENOMEM */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- growable byte buffer with a ceiling (curl's dynbuf idea) -------- */
struct buf {
    char *data;   /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max;   /* appends past this fail with HY_ETOOBIG */
};
void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);   /* releases memory, keeps max */
void buf_reset(struct buf *b);  /* len = 0, keeps memory */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as XML 1.0 text or attribute value: &<>"' and CR escaped;
 * what XML cannot carry (C0 controls but tab/LF/CR, invalid UTF-8,
 * U+FFFE/U+FFFF) becomes U+FFFD per byte. The one XML escaper. */
int buf_xml_escape(struct buf *b, const char *s);
/* Length (1-4) of the valid UTF-8 character at s, or 0 when the bytes
 * there are not one (overlong, surrogate, past U+10FFFF, truncated): the
 * one UTF-8 validator. Reads no further than the first byte that breaks
 * the sequence, so a NUL-terminated s is never read past its end. */
size_t utf8_char_len(const char *s);
/* Takes the bytes out of b (caller frees), leaving b empty. */
char *buf_detach(struct buf *b, size_t *len);

/* ---- HTTP request/response (implemented in http.c) ------------------- */
struct http_header {
    const char *name;
    const char *value;
};

struct http_req {
    const char *method;       /* "GET", "PUT", ... */
    const char *uri;          /* raw request-target: path[?query] */
    const char *path;         /* raw path, still percent-encoded */
    const char *query;        /* raw query without '?', "" when none */
    const struct http_header *headers; /* as received, in order */
    size_t nheaders;
    const char *body;         /* NUL-terminated; "" when none */
    size_t body_len;
    struct arena *arena;      /* request-scoped memory */
    const char *remote_addr;
    bool tls;
    bool body_too_large;      /* body over its ceiling: not kept */
    bool headers_too_many;    /* more headers than http.c keeps (100): only
                               * the first are in headers; the admission
                               * hook refuses the request in its shape */
    /* Spooled bodies (see http_admit_fn): the body is in the file
     * body_path, body_file_len bytes, with its MD5 and SHA-256 computed
     * while it was written; body and body_len then describe an empty
     * in-memory body ("" and 0), so code that hashes body/body_len never
     * reads past it. The file lives in the spool directory
     * (<data_dir>/store/tmp) and is unlinked when the request completes,
     * unless the handler renamed it away first. body_rc is HY_EIO or
     * HY_ENOSPC when the spool write failed (nothing kept), HY_EBUSY when
     * the body would pass --max-inflight-bytes (not read, or dropped). */
    const char *body_path;    /* NULL when the body is in memory */
    uint64_t body_file_len;
    unsigned char body_md5[16];
    unsigned char body_sha256[32];
    int body_rc;
    /* Set by sigv4_dechunk_request once it replaced an aws-chunked body
     * (in memory or in body_path) with its verified payload; an API that
     * finds a STREAMING-* body without it refuses to read it. */
    bool body_dechunked;
    /* The region of the request's credential scope (else hy_cfg.region),
     * set by router.c once the request is authenticated; NULL before
     * (and for requests that never went through the router: tests). */
    const char *region;
    void *priv;               /* http.c's */
    void *route;              /* router.c's per-request state (arena) */
};

/* Bodies larger than this go to a spool file when the admission hook
 * allows it; smaller ones stay in memory. */
#define HTTP_SPOOL_THRESHOLD (1u << 20)
/* The ceiling of a spooled body is the object ceiling (hy_cfg.max_object,
 * S3's 5 GiB by default) plus aws-chunked framing: a chunk header per
 * 8 KiB at worst is under 1/64 of the data, plus 1 MiB of slack. */

/* First header of that name (case-insensitive), or NULL. */
const char *http_header(const struct http_req *req, const char *name);
/* Adds a response header (copied); call before http_reply*. */
void http_add_header(struct http_req *req, const char *name, const char *value);
/* Sends the response. Exactly once per request, from any thread; the body
 * is copied. After it returns, req and its arena may be gone. */
void http_reply(struct http_req *req, int status, const char *content_type,
                const void *body, size_t len);
/* Sends len bytes of fd from offset off; takes ownership of fd. */
void http_reply_fd(struct http_req *req, int status, const char *content_type,
                   int fd, uint64_t off, uint64_t len);
/* Decoded query parameter (NULL when absent; "" when present without '='). */
const char *http_query_get(const struct http_req *req, const char *name);
bool http_query_has(const struct http_req *req, const char *name);

typedef void (*http_handler_fn)(struct http_req *req);
/* What the admission hook decides once the request line and headers are
 * in, before any body byte is read (see http_admit_fn). */
struct http_admit {
    uint64_t max_body; /* ceiling of this request's body held in memory */
    bool spool;        /* a body past HTTP_SPOOL_THRESHOLD may go to a spool
                        * file instead, under the spool ceiling */
};
/* Called once the headers are in, body not yet read (req->body is "").
 * Returns true to read the body within *out and then run the handler;
 * false when it has answered the request itself (http_reply, before it
 * returns): the body is then never read and the handler never runs.
 * A body found larger than its ceiling is not kept: the handler runs with
 * body_too_large set. Runs on the HTTP threads. */
typedef bool (*http_admit_fn)(struct http_req *req, struct http_admit *out);
struct http_server;
/* admit may be NULL: every body in memory under hy_cfg.max_body. */
int http_start(http_handler_fn handler, http_admit_fn admit,
               struct http_server **out);
void http_stop(struct http_server *s); /* stops accepting, waits, frees */

/* ---- utilities (util.c) ---------------------------------------------- */
int64_t hy_now_ms(void);      /* wall clock, ms since the epoch */
int64_t hy_mono_ms(void);     /* monotonic clock, ms */
int hy_random(void *p, size_t n);
void hy_uuid4(char out[37]);  /* random RFC 4122 v4, lowercase */
/* Percent-decoding in place-safe form: writes at most strlen(in) bytes to
 * out (which may be in); '+' becomes ' ' only when plus_is_space. Returns
 * the decoded length, or -1 on a malformed escape. */
long url_decode(char *out, const char *in, size_t in_len, bool plus_is_space);
/* The first parameter of a raw query or form string ("a=1&b&c=%20") whose
 * decoded name is name: its value decoded with url_decode ('+' is a
 * space) into arena a, "" for a name without '='; a decoded NUL ends the
 * value. NULL when absent, and when the value has a malformed escape or
 * memory runs out; *present (may be NULL) tells the name was there. The
 * one query lookup: http_query_get and sigv4.c use it. */
const char *url_query_get(struct arena *a, const char *query, const char *name,
                          bool *present);
/* RFC 3986 encoding (unreserved kept); '/' kept when keep_slash. */
int url_encode(struct buf *b, const char *s, size_t n, bool keep_slash);
size_t base64_encoded_len(size_t n);
void base64_encode(char *out, const void *in, size_t n); /* NUL-terminates */
/* Strict RFC 4648 decode (padding optional, no whitespace); -1 if bad. */
long base64_decode(void *out, const char *in, size_t n);
void hex_encode(char *out, const void *in, size_t n);   /* NUL-terminates */
/* CRC-32C (Castagnoli), chainable: hy_crc32c(hy_crc32c(0, a, n), b, m) is
 * the CRC of a then b. _sw is the portable table version, for tests. */
uint32_t hy_crc32c(uint32_t crc, const void *p, size_t n);
uint32_t hy_crc32c_sw(uint32_t crc, const void *p, size_t n);
/* CRC-64/NVME (S3's CRC64NVME checksum), chainable the same way. */
uint64_t hy_crc64nvme(uint64_t crc, const void *p, size_t n);
/* S3's checksum algorithms, as x-amz-checksum-<alg> headers and trailers
 * name them; the one implementation (aws-chunked trailers and request
 * headers). Values on the wire: base64 of the big-endian CRC or digest. */
enum { HY_CKSUM_CRC32, HY_CKSUM_CRC32C, HY_CKSUM_CRC64NVME, HY_CKSUM_SHA1,
       HY_CKSUM_SHA256, HY_CKSUM_COUNT };
struct evp_md_ctx_st;
struct hy_cksum {
    int alg;
    uint64_t crc;
    struct evp_md_ctx_st *md;  /* the SHA ones */
};
/* The algorithm name[0..n) names ("x-amz-checksum-crc32", any case), -1
 * when it is no checksum name, -2 for another x-amz-checksum-* name. */
int hy_cksum_alg(const char *name, size_t n);
const char *hy_cksum_name(int alg);   /* "x-amz-checksum-crc32" */
size_t hy_cksum_len(int alg);         /* bytes of the binary value */
int hy_cksum_init(struct hy_cksum *c, int alg);
int hy_cksum_update(struct hy_cksum *c, const void *p, size_t n);
/* Writes hy_cksum_len bytes to out and frees c. */
int hy_cksum_final(struct hy_cksum *c, unsigned char out[32]);
void hy_cksum_free(struct hy_cksum *c);  /* accepts NULL; idempotent */
void sha256_hex(char out[65], const void *p, size_t n);
/* SHA-256 fetched once from OpenSSL (an EVP_MD *), for incremental use. */
struct evp_md_st;
const struct evp_md_st *hy_evp_sha256(void);
void md5_hex(char out[33], const void *p, size_t n);
/* Time in UTC formats S3 and IAM use. */
void fmt_iso8601_ms(char out[32], int64_t ms);   /* 2026-11-25T12:00:00.000Z */
void fmt_http_date(char out[40], int64_t ms);     /* Wed, 25 Nov 2026 ... GMT */
int mkdir_p(const char *path, int mode);
/* A file's bytes, at most max of them, NUL-terminated ("" for an empty
 * file), malloc'd; *len (when given) gets the length. NULL when it cannot
 * be opened or out of memory. */
char *hy_read_file(const char *path, size_t max, size_t *len);
/* write(2) until done; fsync and atomic rename helpers for the store. */
int write_all(int fd, const void *p, size_t n);
/* fsync(2) of a directory, so the names made or removed in it are
 * durable: HY_OK, HY_EIO or HY_ENOSPC (EINVAL, a file system that cannot
 * sync directories, counts as done). The one directory sync of the store,
 * the catalogs and the spill files. */
int hy_fsync_dir(const char *path);
/* Grows the array *p of *cap elements of elem bytes to hold need, doubling
 * (64 at first); HY_OK or HY_ENOMEM (then *p and *cap are unchanged). */
int hy_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif
