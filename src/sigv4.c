/* sigv4.c -- AWS Signature Version 4: canonical requests and signature
 * checks for every API hydrant serves (Firehose JSON, S3 REST, IAM/STS
 * query), in both the Authorization-header and the presigned-query form,
 * plus S3's aws-chunked bodies whose chunks carry their own signatures:
 * this file holds the one aws-chunked decoder (sigv4_dechunk_request),
 * which checks each chunk's signature as it decodes, in memory or from a
 * spool file, so the S3 code only ever sees the verified payload.
 *
 * Design. The server recomputes what the client signed and compares:
 *
 *   canonical request =
 *     METHOD \n CANONICAL_URI \n CANONICAL_QUERY \n
 *     (lowercase-name ":" value \n)* for each signed header, sorted \n
 *     SIGNED_HEADERS \n HASHED_PAYLOAD
 *   string to sign = "AWS4-HMAC-SHA256" \n AMZ_DATE \n SCOPE \n hex(SHA256(creq))
 *   signing key    = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region),
 *                    service), "aws4_request")
 *   signature      = hex(HMAC(signing key, string to sign))
 *
 * Canonicalization rules (all input is taken from the raw request as it
 * came off the wire, never from a decoded form):
 * - Canonical URI, service "s3": the path as sent, only brought to the one
 *   canonical encoding: every byte (a valid %XX counting as its byte) is
 *   re-encoded per RFC 3986 (unreserved A-Z a-z 0-9 -._~ kept, everything
 *   else %XX uppercase), a literal '/' stays '/', and an encoded "%2F"
 *   stays encoded. No dot-segment removal: S3 keys may contain "..".
 * - Canonical URI, every other service: dot segments removed and empty
 *   segments ("//") dropped, a trailing '/' kept, then the (already
 *   percent-encoded) path is encoded once more, '/' kept: the spec's
 *   "encode each path segment twice", since clients sign the encoded
 *   path they send.
 * - Canonical query: split on '&' (empty pieces skipped), name and value
 *   split at the first '=', each percent-decoded and re-encoded as above,
 *   sorted by encoded name then encoded value, joined "n=v&n=v".
 *   '+' is a literal plus (RFC 3986), as the SDKs sign it. A malformed
 *   escape (a '%' not followed by two hex digits) makes the request
 *   MALFORMED: the APIs read such a parameter as absent (util.c's
 *   url_query_get), so "%zz" and a signed "%25zz" must not verify alike.
 *   In the presigned form X-Amz-Signature is left out. (In an S3 path a
 *   malformed '%' is a literal '%': s3.c refuses such a path, InvalidURI,
 *   before it addresses anything.) All decoding is util.c's url_decode.
 * - Canonical headers: exactly the headers named in SignedHeaders, sorted;
 *   value = every received header of that name (case-insensitive), in
 *   received order, each trimmed with inner whitespace runs collapsed to
 *   one space, joined with ','. A signed header the request lacks counts
 *   as empty. "host" must be signed.
 * - Hashed payload: the x-amz-content-sha256 header when present (hex:
 *   then it must equal SHA-256 of the body, checked after the signature,
 *   like S3; or UNSIGNED-PAYLOAD / STREAMING-*); else UNSIGNED-PAYLOAD for
 *   presigned S3; else hex SHA-256 of the body.
 * - Date: X-Amz-Date (header or query), else the Date header (RFC 1123).
 *   The credential scope's date must equal its first 8 characters. Header
 *   form: |date - now| <= 15 min. Presigned: X-Amz-Expires in 1..604800,
 *   rejected once now > date + expires (or date > now + 15 min).
 * Check order: parse (MALFORMED) -> key lookup (UNKNOWN_KEY) -> signature
 * (MISMATCH) -> clock (SKEWED/EXPIRED) -> body hash (BAD_CONTENT_SHA256),
 * so only a correctly signed request learns about clock or body problems.
 *
 * Hostile input: every length is bounded (key id, scope parts, signed
 * header list, chunk headers); the canonical request is built in a struct
 * buf with a ceiling; no input aborts. Temporaries come from req->arena.
 *
 * Threading: all functions are reentrant; sigv4_dechunk_request reads and
 * writes the request's spool files on the calling (HTTP) thread, as the
 * store does with them. The signing-key cache (a small
 * direct-mapped table keyed by SHA-256 of secret/date/region/service, so
 * no secret is stored in it; an entry holds the derived key and its HMAC
 * pad states) is guarded by one mutex. Each thread that verifies keeps
 * its own three digest contexts (thread-specific data, freed when the
 * thread exits), so a request does not make and free its own.
 */
#include "sigv4.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SIGV4_ALGO "AWS4-HMAC-SHA256"
#define SIGV4_EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_MAX_SIGNED_HEADERS 64
#define SIGV4_MAX_HEADER_NAME 128
#define SIGV4_MAX_SIGNED_LIST 4096
#define SIGV4_MAX_SECRET 256
#define SIGV4_MAX_CREQ (8u << 20)   /* canonical request ceiling */
#define SIGV4_CACHE_SLOTS 64

/* ---- small helpers ---------------------------------------------------- */
/* hex digit value + 1, 0 for other bytes */
static const unsigned char hexval1[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
    ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* c's value as a hex digit (c an unsigned char value), or -1 */
static int sigv4__hexval(int c)
{
    return (unsigned)c < 256 ? (int)hexval1[c] - 1 : -1;
}

static bool is_hex64(const char *s, size_t n)
{
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (sigv4__hexval((unsigned char)s[i]) < 0)
            return false;
    return true;
}

static bool is_space(int c)
{
    return c == ' ' || (c >= '\t' && c <= '\r'); /* \t \n \v \f \r */
}

/* Bounded copy into a fixed array; false when it does not fit. */
static bool copy_field(char *dst, size_t dst_size, const char *s, size_t n)
{
    if (n >= dst_size)
        return false;
    memcpy(dst, s, n);
    dst[n] = 0;
    return true;
}

/* buf_append, with the common case (room already there) inlined: the
 * canonical request is built from many short pieces. */
static inline int buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->data && n < b->cap - b->len && b->len + n <= b->max) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
        return HY_OK;
    }
    return buf_append(b, p, n);
}

static inline int buf_add_str(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

static int rc_from_buf(int hy_rc)
{
    return hy_rc == HY_OK ? SIGV4_OK : SIGV4_INTERNAL;
}

/* ---- time ------------------------------------------------------------- */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    /* proleptic Gregorian, March-based year so Feb 29 falls last */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

static bool civil_to_ms(int y, int mo, int d, int h, int mi, int s,
                        int64_t *ms)
{
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 ||
        d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 || h < 0 ||
        mi < 0 || s < 0)
        return false;
    int64_t days = days_from_civil(y, mo, d);
    *ms = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)s * 1000;
    return true;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* YYYYMMDDTHHMMSSZ, exactly. */
static bool parse_amz_date(const char *s, int64_t *ms)
{
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return false;
    return civil_to_ms(digits(s, 4), digits(s + 4, 2), digits(s + 6, 2),
                       digits(s + 9, 2), digits(s + 11, 2), digits(s + 13, 2),
                       ms);
}

/* RFC 1123 "Sun, 30 Aug 2015 12:36:00 GMT" into YYYYMMDDTHHMMSSZ. */
static bool parse_http_date(const char *s, char amz[17], int64_t *ms)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *comma = strchr(s, ',');
    if (!comma || strlen(comma) != 26)
        return false;
    const char *p = comma + 2; /* "30 Aug 2015 12:36:00 GMT" */
    if (comma[1] != ' ' || p[2] != ' ' || p[6] != ' ' || p[11] != ' ' ||
        p[14] != ':' || p[17] != ':' || strcmp(p + 20, " GMT") != 0)
        return false;
    int mo = 0;
    for (int i = 0; i < 12; i++)
        if (memcmp(p + 3, months + 3 * i, 3) == 0)
            mo = i + 1;
    int y = digits(p + 7, 4), d = digits(p, 2), h = digits(p + 12, 2),
        mi = digits(p + 15, 2), sec = digits(p + 18, 2);
    if (!civil_to_ms(y, mo, d, h, mi, sec, ms))
        return false;
    char tmp[64]; /* the ranges are checked; the slack quiets -Wformat */
    snprintf(tmp, sizeof tmp, "%04d%02d%02dT%02d%02d%02dZ", y, mo, d, h, mi, sec);
    memcpy(amz, tmp, 16);
    amz[16] = 0;
    return true;
}

static void fmt_amz_date(char out[17], int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) == 0)
        snprintf(out, 17, "?");
}

/* ---- crypto -----------------------------------------------------------
 * HMAC-SHA256 by hand (RFC 2104) over EVP_MD_CTX with the SHA-256 fetched
 * once (hy_evp_sha256): OpenSSL 3's HMAC() and EVP_MAC set the digest up
 * on every call (EVP_MAC: 1.6 us per string to sign, measured here, where
 * the same HMAC by hand from saved pad states takes 0.4 us). A
 * verification does all its hashing with its thread's three contexts
 * (struct sigv4_work): OpenSSL 3.0 still allocates a digest state on
 * every init or copy, but no longer a context per hash. The signing-key
 * cache keeps each key's HMAC states after the inner and outer pad
 * blocks, so a request's signature costs two context copies and two
 * SHA-256 finishes instead of four more compressions. */
#define HMAC_BLOCK 64 /* SHA-256 block size */

struct sigv4_work {
    EVP_MD_CTX *md;              /* hashing */
    EVP_MD_CTX *inner, *outer;   /* HMAC keyed with the signing key */
};

/* Each thread's work contexts, made on its first verification and freed
 * when it exits. */
static pthread_key_t work_key;
static bool work_key_ok;
static pthread_once_t work_once = PTHREAD_ONCE_INIT;

static void work_free(void *p)
{
    struct sigv4_work *w = p;
    if (!w)
        return;
    EVP_MD_CTX_free(w->md);
    EVP_MD_CTX_free(w->inner);
    EVP_MD_CTX_free(w->outer);
    free(w);
}

static void work_key_make(void)
{
    work_key_ok = pthread_key_create(&work_key, work_free) == 0;
}

/* NULL when out of memory */
static struct sigv4_work *work_get(void)
{
    pthread_once(&work_once, work_key_make);
    if (!work_key_ok)
        return NULL;
    struct sigv4_work *w = pthread_getspecific(work_key);
    if (w)
        return w;
    w = malloc(sizeof *w);
    if (!w)
        return NULL;
    w->md = EVP_MD_CTX_new();
    w->inner = EVP_MD_CTX_new();
    w->outer = EVP_MD_CTX_new();
    if (!w->md || !w->inner || !w->outer ||
        pthread_setspecific(work_key, w) != 0) {
        work_free(w);
        return NULL;
    }
    return w;
}

/* hex SHA-256 of p[0..n) with md, or with util's own context when md is
 * NULL or fails (so no input is left unhashed). */
static void sha256_hex_md(EVP_MD_CTX *md, char hex[65], const void *p, size_t n)
{
    unsigned char h[32];
    unsigned int len = 0;
    if (md && EVP_DigestInit_ex(md, hy_evp_sha256(), NULL) &&
        EVP_DigestUpdate(md, p, n) && EVP_DigestFinal_ex(md, h, &len) && len == 32)
        hex_encode(hex, h, 32);
    else
        sha256_hex(hex, p, n);
}

/* The key's pad blocks: key_len <= HMAC_BLOCK, or it is hashed first. */
struct hmac_pads {
    unsigned char ipad[HMAC_BLOCK], opad[HMAC_BLOCK];
};

static bool hmac_pads(EVP_MD_CTX *md, const void *key, size_t key_len,
                      struct hmac_pads *p)
{
    unsigned char k[HMAC_BLOCK] = {0};
    unsigned int n = 0;
    if (key_len > HMAC_BLOCK) {
        if (!EVP_DigestInit_ex(md, hy_evp_sha256(), NULL) ||
            !EVP_DigestUpdate(md, key, key_len) || !EVP_DigestFinal_ex(md, k, &n))
            return false;
    } else if (key_len > 0) {
        memcpy(k, key, key_len);
    }
    for (size_t i = 0; i < HMAC_BLOCK; i++) {
        p->ipad[i] = k[i] ^ 0x36;
        p->opad[i] = k[i] ^ 0x5c;
    }
    OPENSSL_cleanse(k, sizeof k);
    return true;
}

/* inner and outer become SHA-256 states that absorbed the key's pads. */
static bool hmac_start(EVP_MD_CTX *inner, EVP_MD_CTX *outer, const void *key,
                       size_t key_len)
{
    struct hmac_pads p;
    bool ok = hmac_pads(inner, key, key_len, &p) &&
              EVP_DigestInit_ex(inner, hy_evp_sha256(), NULL) &&
              EVP_DigestUpdate(inner, p.ipad, HMAC_BLOCK) &&
              EVP_DigestInit_ex(outer, hy_evp_sha256(), NULL) &&
              EVP_DigestUpdate(outer, p.opad, HMAC_BLOCK);
    OPENSSL_cleanse(&p, sizeof p);
    return ok;
}

/* HMAC of msg from states made by hmac_start; consumes both. */
static bool hmac_finish(EVP_MD_CTX *inner, EVP_MD_CTX *outer, const void *msg,
                        size_t msg_len, unsigned char out[32])
{
    unsigned char ih[32];
    unsigned int n1 = 0, n2 = 0;
    return EVP_DigestUpdate(inner, msg, msg_len) &&
           EVP_DigestFinal_ex(inner, ih, &n1) && n1 == 32 &&
           EVP_DigestUpdate(outer, ih, 32) && EVP_DigestFinal_ex(outer, out, &n2) &&
           n2 == 32;
}

/* One-shot HMAC-SHA256 with the single context md. out may alias key. */
static bool hmac256(EVP_MD_CTX *md, const void *key, size_t key_len,
                    const void *msg, size_t msg_len, unsigned char out[32])
{
    struct hmac_pads p;
    unsigned char ih[32];
    unsigned int n1 = 0, n2 = 0;
    const EVP_MD *sha = hy_evp_sha256();
    bool ok = hmac_pads(md, key, key_len, &p) &&
              EVP_DigestInit_ex(md, sha, NULL) &&
              EVP_DigestUpdate(md, p.ipad, HMAC_BLOCK) &&
              EVP_DigestUpdate(md, msg, msg_len) &&
              EVP_DigestFinal_ex(md, ih, &n1) && n1 == 32 &&
              EVP_DigestInit_ex(md, sha, NULL) &&
              EVP_DigestUpdate(md, p.opad, HMAC_BLOCK) &&
              EVP_DigestUpdate(md, ih, 32) && EVP_DigestFinal_ex(md, out, &n2) &&
              n2 == 32;
    OPENSSL_cleanse(&p, sizeof p);
    return ok;
}

void sigv4_sign(const unsigned char key[32], const char *msg, size_t len,
                char hex[65])
{
    unsigned char mac[32];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !hmac256(md, key, 32, msg, len, mac))
        memset(mac, 0, sizeof mac); /* never matches a real signature */
    EVP_MD_CTX_free(md);
    hex_encode(hex, mac, 32);
}

/* Direct-mapped by the id's first byte. An entry's contexts are
 * replaced only under the lock and read (copied) only under it. */
struct key_cache_entry {
    bool used;
    unsigned char id[32];          /* SHA-256 of the four inputs */
    unsigned char key[32];         /* kSigning */
    EVP_MD_CTX *inner, *outer;     /* hmac_start(key) */
};
static struct key_cache_entry key_cache[SIGV4_CACHE_SLOTS];
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* kSigning into key, through the cache; md is a work context. When
 * inner/outer are given they are left as hmac_start(kSigning). */
static int signing_key(EVP_MD_CTX *md, const char *secret, const char *date8,
                       const char *region, const char *service,
                       unsigned char key[32], EVP_MD_CTX *inner,
                       EVP_MD_CTX *outer)
{
    size_t slen = strlen(secret);
    if (slen > SIGV4_MAX_SECRET || !md)
        return SIGV4_INTERNAL;

    /* cache id: SHA-256 over the four inputs, NUL-separated */
    unsigned char id[32];
    unsigned int idlen = 0;
    int ok = EVP_DigestInit_ex(md, hy_evp_sha256(), NULL) &&
             EVP_DigestUpdate(md, secret, slen + 1) &&
             EVP_DigestUpdate(md, date8, strlen(date8) + 1) &&
             EVP_DigestUpdate(md, region, strlen(region) + 1) &&
             EVP_DigestUpdate(md, service, strlen(service) + 1) &&
             EVP_DigestFinal_ex(md, id, &idlen);
    if (!ok)
        return SIGV4_INTERNAL;

    struct key_cache_entry *e = &key_cache[id[0] % SIGV4_CACHE_SLOTS];
    pthread_mutex_lock(&key_cache_lock);
    if (e->used && memcmp(e->id, id, 32) == 0) {
        memcpy(key, e->key, 32);
        ok = !inner || (EVP_MD_CTX_copy_ex(inner, e->inner) &&
                        EVP_MD_CTX_copy_ex(outer, e->outer));
        pthread_mutex_unlock(&key_cache_lock);
        return ok ? SIGV4_OK : SIGV4_INTERNAL;
    }
    pthread_mutex_unlock(&key_cache_lock);

    char k0[4 + SIGV4_MAX_SECRET + 1];
    unsigned char k[32];
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, slen);
    ok = hmac256(md, k0, 4 + slen, date8, strlen(date8), k) &&
         hmac256(md, k, 32, region, strlen(region), k) &&
         hmac256(md, k, 32, service, strlen(service), k) &&
         hmac256(md, k, 32, "aws4_request", 12, k);
    OPENSSL_cleanse(k0, sizeof k0);
    if (!ok)
        return SIGV4_INTERNAL;
    memcpy(key, k, 32);

    /* the cache's states, copied to the caller's; made directly when
     * they cannot be (the entry is then left as it was) */
    EVP_MD_CTX *ci = EVP_MD_CTX_new(), *co = EVP_MD_CTX_new();
    bool cacheable = ci && co && hmac_start(ci, co, k, 32);
    if (inner)
        ok = cacheable ? EVP_MD_CTX_copy_ex(inner, ci) && EVP_MD_CTX_copy_ex(outer, co)
                       : hmac_start(inner, outer, k, 32);
    if (cacheable) {
        pthread_mutex_lock(&key_cache_lock);
        EVP_MD_CTX *old_i = e->inner, *old_o = e->outer;
        e->used = true;
        memcpy(e->id, id, 32);
        memcpy(e->key, k, 32);
        e->inner = ci;
        e->outer = co;
        pthread_mutex_unlock(&key_cache_lock);
        ci = old_i;
        co = old_o;
    }
    EVP_MD_CTX_free(ci);
    EVP_MD_CTX_free(co);
    OPENSSL_cleanse(k, sizeof k);
    return ok ? SIGV4_OK : SIGV4_INTERNAL;
}

int sigv4_signing_key(const char *secret, const char *date8, const char *region,
                      const char *service, unsigned char key[32])
{
    if (strlen(secret) > SIGV4_MAX_SECRET)
        return SIGV4_INTERNAL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = signing_key(md, secret, date8, region, service, key, NULL, NULL);
    EVP_MD_CTX_free(md);
    return rc;
}

/* ---- canonical request ------------------------------------------------ */
static int canonical_uri_s3(const char *path, struct buf *out)
{
    size_t n = strlen(path);
    if (n == 0)
        return rc_from_buf(buf_add_str(out, "/"));
    for (size_t i = 0; i < n; i++) {
        char c = path[i], b;
        int rc;
        if (c == '/') {
            rc = buf_add(out, "/", 1);
        } else if (c == '%' && i + 2 < n && url_decode(&b, path + i, 3, false) == 1) {
            rc = url_encode(out, &b, 1, false);
            i += 2;
        } else {
            rc = url_encode(out, &c, 1, false);
        }
        if (rc)
            return SIGV4_INTERNAL;
    }
    return SIGV4_OK;
}

struct seg {
    const char *p;
    size_t n;
};

static int canonical_uri_normalized(struct arena *a, const char *path,
                                    struct buf *out)
{
    size_t n = strlen(path), nsegs = 1;
    if (n == 0)
        return rc_from_buf(buf_add_str(out, "/"));
    for (size_t i = 0; i < n; i++)
        nsegs += path[i] == '/';
    struct seg *segs = arena_alloc(a, nsegs * sizeof *segs);
    if (!segs)
        return SIGV4_INTERNAL;
    size_t kept = 0;
    const char *p = path, *end = path + n;
    while (p <= end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = slash ? slash : end;
        size_t len = (size_t)(stop - p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (kept > 0)
                kept--;
        } else if (len > 0 && !(len == 1 && p[0] == '.')) {
            segs[kept].p = p;
            segs[kept].n = len;
            kept++;
        }
        p = stop + 1;
    }
    int rc = HY_OK;
    if (path[0] == '/')
        rc = buf_add(out, "/", 1);
    for (size_t i = 0; i < kept && rc == HY_OK; i++) {
        if (i > 0)
            rc = buf_add(out, "/", 1);
        if (rc == HY_OK)
            rc = url_encode(out, segs[i].p, segs[i].n, false);
    }
    if (rc == HY_OK && kept > 0 && path[n - 1] == '/')
        rc = buf_add(out, "/", 1);
    if (rc == HY_OK && kept == 0 && path[0] != '/')
        rc = buf_add(out, "/", 1);
    return rc_from_buf(rc);
}

struct qpair {
    char *name;   /* encoded */
    char *value;  /* encoded */
};

static int qpair_cmp(const void *x, const void *y)
{
    const struct qpair *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c ? c : strcmp(a->value, b->value);
}

/* Decodes then re-encodes s[0..n) into an arena string; NULL when out of
 * memory or (*bad set) s holds a malformed escape. */
static char *reencode(struct arena *a, const char *s, size_t n, bool *bad)
{
    char *dec = arena_alloc(a, n + 1);
    if (!dec)
        return NULL;
    long dn = url_decode(dec, s, n, false);
    if (dn < 0) {
        *bad = true;
        return NULL;
    }
    struct buf b;
    buf_init(&b, SIGV4_MAX_CREQ);
    if (url_encode(&b, dec, (size_t)dn, false) != HY_OK) {
        buf_free(&b);
        return NULL;
    }
    char *r = arena_strndup(a, b.data ? b.data : "", b.len);
    buf_free(&b);
    return r;
}

static int canonical_query(struct arena *a, const char *query, bool presigned,
                           struct buf *out)
{
    size_t n = strlen(query), npairs = 1, count = 0;
    for (size_t i = 0; i < n; i++)
        npairs += query[i] == '&';
    struct qpair *pairs = arena_alloc(a, npairs * sizeof *pairs);
    if (!pairs)
        return SIGV4_INTERNAL;
    const char *p = query, *end = query + n;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        size_t len = (size_t)(stop - p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t nlen = eq ? (size_t)(eq - p) : len;
            const char *v = eq ? eq + 1 : stop;
            struct qpair *q = &pairs[count];
            bool bad = false;
            q->name = reencode(a, p, nlen, &bad);
            q->value = q->name ? reencode(a, v, (size_t)(stop - v), &bad) : NULL;
            if (!q->name || !q->value)
                return bad ? SIGV4_MALFORMED : SIGV4_INTERNAL;
            if (!(presigned && strcmp(q->name, "X-Amz-Signature") == 0))
                count++;
        }
        p = stop + 1;
    }
    qsort(pairs, count, sizeof *pairs, qpair_cmp);
    int rc = HY_OK;
    for (size_t i = 0; i < count && rc == HY_OK; i++) {
        if (i > 0)
            rc = buf_add(out, "&", 1);
        if (rc == HY_OK)
            rc = buf_add_str(out, pairs[i].name);
        if (rc == HY_OK)
            rc = buf_add(out, "=", 1);
        if (rc == HY_OK)
            rc = buf_add_str(out, pairs[i].value);
    }
    return rc_from_buf(rc);
}

static bool header_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || (c >= 'A' && c <= 'Z') || c == '!' ||
           c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' ||
           c == '*' || c == '+' || c == '^' || c == '`' || c == '|' ||
           c == '~';
}

/* Splits the SignedHeaders list into sorted lowercase names, cut out of
 * one arena copy of the list. */
static int parse_signed_headers(struct arena *a, const char *list,
                                char **names, size_t *count)
{
    size_t n = strlen(list);
    *count = 0;
    if (n == 0 || n > SIGV4_MAX_SIGNED_LIST)
        return SIGV4_MALFORMED;
    char *copy = arena_strndup(a, list, n);
    if (!copy)
        return SIGV4_INTERNAL;
    char *p = copy, *end = copy + n;
    while (p <= end) {
        char *semi = memchr(p, ';', (size_t)(end - p));
        char *stop = semi ? semi : end;
        size_t len = (size_t)(stop - p);
        if (len == 0 || len > SIGV4_MAX_HEADER_NAME ||
            *count >= SIGV4_MAX_SIGNED_HEADERS)
            return SIGV4_MALFORMED;
        *stop = 0;
        for (size_t i = 0; i < len; i++) {
            if (!header_name_char((unsigned char)p[i]))
                return SIGV4_MALFORMED;
            if (p[i] >= 'A' && p[i] <= 'Z')
                p[i] = (char)(p[i] - 'A' + 'a');
        }
        names[(*count)++] = p;
        p = stop + 1;
    }
    /* insertion sort: clients send the list sorted already */
    for (size_t i = 1; i < *count; i++) {
        char *x = names[i];
        size_t j = i;
        for (; j > 0 && strcmp(names[j - 1], x) > 0; j--)
            names[j] = names[j - 1];
        names[j] = x;
    }
    for (size_t i = 1; i < *count; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return SIGV4_MALFORMED;
    return SIGV4_OK;
}

/* Appends value trimmed, inner whitespace runs collapsed to one space. */
static int append_trimmed(struct buf *out, const char *v)
{
    size_t n = strlen(v), i = 0;
    while (n > 0 && is_space((unsigned char)v[n - 1]))
        n--;
    while (i < n && is_space((unsigned char)v[i]))
        i++;
    int rc = buf_reserve(out, n - i);
    if (rc)
        return rc;
    /* v[i] and v[n - 1] are not spaces: copy runs of non-spaces, one
     * space for each run of spaces between them */
    char *d = out->data + out->len;
    while (i < n) {
        size_t j = i;
        while (j < n && !is_space((unsigned char)v[j]))
            j++;
        memcpy(d, v + i, j - i);
        d += j - i;
        if (j == n)
            break;
        *d++ = ' ';
        while (is_space((unsigned char)v[j]))
            j++;
        i = j;
    }
    *d = 0;
    out->len = (size_t)(d - out->data);
    return HY_OK;
}

/* strcasecmp(name, lower) == 0 for a lowercase ASCII lower (the C
 * locale's rule), stopping at the first byte that differs. */
static bool name_is(const char *name, const char *lower)
{
    for (; *lower; name++, lower++) {
        unsigned char c = (unsigned char)*name;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (c != (unsigned char)*lower)
            return false;
    }
    return *name == 0;
}

static int canonical_headers(const struct http_req *req, char **names,
                             size_t count, struct buf *out)
{
    int rc = HY_OK;
    for (size_t k = 0; k < count && rc == HY_OK; k++) {
        rc = buf_add_str(out, names[k]);
        if (rc == HY_OK)
            rc = buf_add(out, ":", 1);
        bool first = true;
        for (size_t i = 0; i < req->nheaders && rc == HY_OK; i++) {
            const struct http_header *h = &req->headers[i];
            if (!h->name || !h->value || !name_is(h->name, names[k]))
                continue;
            if (!first)
                rc = buf_add(out, ",", 1);
            if (rc == HY_OK)
                rc = append_trimmed(out, h->value);
            first = false;
        }
        if (rc == HY_OK)
            rc = buf_add(out, "\n", 1);
    }
    return rc_from_buf(rc);
}

int sigv4_canonical_request(const struct http_req *req,
                            const struct sigv4_params *p, struct buf *out)
{
    char *names[SIGV4_MAX_SIGNED_HEADERS];
    size_t count = 0;
    if (!req->arena || !req->method || !req->path || !req->query ||
        !p->signed_headers || !p->payload_hash)
        return SIGV4_INTERNAL;
    int rc = parse_signed_headers(req->arena, p->signed_headers, names, &count);
    if (rc)
        return rc;
    rc = rc_from_buf(buf_add_str(out, req->method));
    if (rc == SIGV4_OK)
        rc = rc_from_buf(buf_add(out, "\n", 1));
    if (rc == SIGV4_OK)
        rc = p->s3 ? canonical_uri_s3(req->path, out)
                   : canonical_uri_normalized(req->arena, req->path, out);
    if (rc == SIGV4_OK)
        rc = rc_from_buf(buf_add(out, "\n", 1));
    if (rc == SIGV4_OK)
        rc = canonical_query(req->arena, req->query, p->presigned, out);
    if (rc == SIGV4_OK)
        rc = rc_from_buf(buf_add(out, "\n", 1));
    if (rc == SIGV4_OK)
        rc = canonical_headers(req, names, count, out);
    if (rc == SIGV4_OK)
        rc = rc_from_buf(buf_add(out, "\n", 1));
    if (rc == SIGV4_OK)
        rc = rc_from_buf(buf_add_str(out, p->signed_headers));
    if (rc == SIGV4_OK)
        rc = rc_from_buf(buf_add(out, "\n", 1));
    if (rc == SIGV4_OK)
        rc = rc_from_buf(buf_add_str(out, p->payload_hash));
    return rc;
}

/* Length of the string to sign (sizeof counts the algorithm's '\n'). */
static size_t sts_size(size_t date_len, size_t scope_len)
{
    return sizeof SIGV4_ALGO + date_len + 1 + scope_len + 1 + 64;
}

/* Writes the string to sign, NUL-terminated, into out (sts_size + 1
 * bytes), hashing creq with md (NULL: util's sha256_hex); returns its
 * length. */
static size_t string_to_sign(EVP_MD_CTX *md, char *out, const char *amz_date,
                             size_t date_len, const char *scope, size_t scope_len,
                             const char *creq, size_t creq_len)
{
    size_t n = sizeof SIGV4_ALGO - 1;
    memcpy(out, SIGV4_ALGO "\n", n + 1);
    n++;
    memcpy(out + n, amz_date, date_len);
    n += date_len;
    out[n++] = '\n';
    memcpy(out + n, scope, scope_len);
    n += scope_len;
    out[n++] = '\n';
    sha256_hex_md(md, out + n, creq, creq_len); /* NUL-terminates */
    return n + 64;
}

int sigv4_string_to_sign(const char *amz_date, const char *scope,
                         const char *creq, size_t creq_len, struct buf *out)
{
    size_t date_len = strlen(amz_date), scope_len = strlen(scope);
    size_t size = sts_size(date_len, scope_len);
    int rc = buf_reserve(out, size);
    if (rc)
        return SIGV4_INTERNAL;
    out->len += string_to_sign(NULL, out->data + out->len, amz_date, date_len,
                               scope, scope_len, creq, creq_len);
    return SIGV4_OK;
}

/* ---- request parsing -------------------------------------------------- */
static void set_detail(struct sigv4_auth *out, const char *msg)
{
    if (out)
        snprintf(out->detail, sizeof out->detail, "%s", msg);
}

/* The one credential-scope parser: AKID/YYYYMMDD/REGION/SERVICE/aws4_request
 * into s (filled as far as it parsed); why (may be NULL) gets the reason
 * on SIGV4_MALFORMED. */
static int scope_parse(const char *cred, size_t n, struct sigv4_scope *s,
                       struct sigv4_auth *why)
{
    const char *parts[5];
    size_t lens[5];
    const char *p = cred, *end = cred + n;
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 5; i++) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = (slash && i < 4) ? slash : end;
        parts[i] = p;
        lens[i] = (size_t)(stop - p);
        if (i < 4 && !slash)
            goto bad;
        p = stop + 1;
    }
    for (int i = 0; i < 5; i++)
        for (size_t j = 0; j < lens[i]; j++)
            if ((unsigned char)parts[i][j] <= 0x20 ||
                (unsigned char)parts[i][j] >= 0x7f || parts[i][j] == '/')
                goto bad;
    if (lens[0] == 0 ||
        !copy_field(s->access_key, sizeof s->access_key, parts[0], lens[0]) ||
        lens[1] != 8 || digits(parts[1], 8) < 0 ||
        !copy_field(s->date, sizeof s->date, parts[1], 8) ||
        !copy_field(s->region, sizeof s->region, parts[2], lens[2]) ||
        !copy_field(s->service, sizeof s->service, parts[3], lens[3]) ||
        lens[4] != 12 || memcmp(parts[4], "aws4_request", 12) != 0)
        goto bad;
    if (lens[2] == 0) {
        set_detail(why, "a non-empty region must be provided in the credential.");
        return SIGV4_MALFORMED;
    }
    if (lens[3] == 0)
        goto bad;
    return SIGV4_OK;
bad:
    set_detail(why, "the Credential is mal-formed; expecting "
                    "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
    return SIGV4_MALFORMED;
}

/* The scope into out's fields (as far as it parsed, for error messages). */
static int parse_credential(const char *cred, size_t n, struct sigv4_auth *out)
{
    struct sigv4_scope s;
    int rc = scope_parse(cred, n, &s, out);
    memcpy(out->access_key, s.access_key, sizeof out->access_key);
    memcpy(out->scope_date, s.date, sizeof out->scope_date);
    memcpy(out->region, s.region, sizeof out->region);
    memcpy(out->service, s.service, sizeof out->service);
    return rc;
}

static int parse_signature(const char *s, size_t n, struct sigv4_auth *out)
{
    if (!is_hex64(s, n)) {
        set_detail(out, "the Signature must be 64 hexadecimal characters.");
        return SIGV4_MALFORMED;
    }
    char sig[64]; /* a local copy lets the loop run without reloads */
    for (size_t i = 0; i < 64; i++)
        sig[i] = (char)((s[i] >= 'A' && s[i] <= 'F') ? s[i] + 32 : s[i]);
    memcpy(out->signature, sig, 64);
    out->signature[64] = 0;
    return SIGV4_OK;
}

/* The three components of an Authorization header, not yet parsed. */
struct authz_parts {
    const char *cred, *sh, *sig;
    size_t cred_n, sh_n, sig_n;
};

/* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
static int authz_split(const char *h, struct authz_parts *out, struct sigv4_auth *why)
{
    size_t alen = strlen(SIGV4_ALGO);
    memset(out, 0, sizeof *out);
    while (is_space((unsigned char)*h))
        h++;
    if (strncmp(h, SIGV4_ALGO, alen) != 0 || !is_space((unsigned char)h[alen])) {
        set_detail(why, "unsupported Authorization type; only "
                        "AWS4-HMAC-SHA256 is accepted.");
        return SIGV4_MALFORMED;
    }
    const char *p = h + alen, *end = p + strlen(p);
    while (p < end) {
        while (p < end && (is_space((unsigned char)*p) || *p == ','))
            p++;
        if (p >= end)
            break;
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        const char *e = stop;
        while (e > p && is_space((unsigned char)e[-1]))
            e--;
        size_t len = (size_t)(e - p);
        if (len > 11 && memcmp(p, "Credential=", 11) == 0 && !out->cred) {
            out->cred = p + 11;
            out->cred_n = len - 11;
        } else if (len > 14 && memcmp(p, "SignedHeaders=", 14) == 0 && !out->sh) {
            out->sh = p + 14;
            out->sh_n = len - 14;
        } else if (len > 10 && memcmp(p, "Signature=", 10) == 0 && !out->sig) {
            out->sig = p + 10;
            out->sig_n = len - 10;
        } else if (len > 0) {
            set_detail(why, "the authorization header has an unexpected or "
                            "repeated component.");
            return SIGV4_MALFORMED;
        }
        p = stop;
    }
    if (!out->cred || !out->sh || !out->sig) {
        if (why)
            snprintf(why->detail, sizeof why->detail,
                     "Authorization header requires %s parameter.",
                     !out->cred ? "'Credential'" : !out->sh ? "'SignedHeaders'"
                                                            : "'Signature'");
        return SIGV4_MALFORMED;
    }
    return SIGV4_OK;
}

static int parse_authorization(struct arena *a, const char *h,
                               struct sigv4_auth *out, char **signed_headers)
{
    struct authz_parts ap;
    int rc = authz_split(h, &ap, out);
    if (rc == SIGV4_OK)
        rc = parse_credential(ap.cred, ap.cred_n, out);
    if (rc == SIGV4_OK)
        rc = parse_signature(ap.sig, ap.sig_n, out);
    if (rc)
        return rc;
    if (ap.sh_n > SIGV4_MAX_SIGNED_LIST) {
        set_detail(out, "the SignedHeaders list is too long.");
        return SIGV4_MALFORMED;
    }
    *signed_headers = arena_strndup(a, ap.sh, ap.sh_n);
    return *signed_headers ? SIGV4_OK : SIGV4_INTERNAL;
}

/* Query parameter name of req, decoded (util.c's url_query_get); *seen is
 * set when the name is there, even if its value is malformed (NULL). */
static const char *query_param(const struct http_req *req, const char *name,
                               bool *seen)
{
    bool present = false;
    const char *v = url_query_get(req->arena, req->query, name, &present);
    if (present && seen)
        *seen = true;
    return v;
}

int sigv4_scope_parse(const struct http_req *req, struct sigv4_scope *out)
{
    memset(out, 0, sizeof *out);
    const char *authz = req ? http_header(req, "Authorization") : NULL;
    if (authz) {
        struct authz_parts ap;
        int rc = authz_split(authz, &ap, NULL);
        return rc ? rc : scope_parse(ap.cred, ap.cred_n, out, NULL);
    }
    bool present = false;
    const char *cred = req && req->query && req->arena
                           ? query_param(req, "X-Amz-Credential", &present) : NULL;
    if (!present)
        return SIGV4_MISSING;
    return cred ? scope_parse(cred, strlen(cred), out, NULL) : SIGV4_MALFORMED;
}

static bool signed_list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;
    while (*p) {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        if (len == n && strncasecmp(p, name, n) == 0)
            return true;
        if (!semi)
            break;
        p = semi + 1;
    }
    return false;
}

static bool known_streaming(const char *v)
{
    return strcmp(v, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 0 ||
           strcmp(v, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") == 0 ||
           strcmp(v, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") == 0;
}

bool sigv4_is_chunked(const struct sigv4_auth *auth)
{
    return strncmp(auth->payload_hash, "STREAMING-", 10) == 0;
}

/* The body's SHA-256 in hex: computed by http.c while spooling a large
 * body to a file, else hashed here. */
static void body_hash_hex(EVP_MD_CTX *md, const struct http_req *req, char out[65])
{
    if (req->body_path)
        hex_encode(out, req->body_sha256, 32);
    else
        sha256_hex_md(md, out, req->body ? req->body : "",
                      req->body ? req->body_len : 0);
}

/* The headers verify reads, each the first of its name as http_header
 * would find it, in one pass over the request's headers. */
enum { AH_AUTHORIZATION, AH_AMZ_DATE, AH_DATE, AH_SECURITY_TOKEN, AH_CONTENT_SHA256,
       AH_COUNT };

static void auth_headers(const struct http_req *req, const char *v[AH_COUNT])
{
    bool found[AH_COUNT] = {false};
    for (int k = 0; k < AH_COUNT; k++)
        v[k] = NULL;
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *name = req->headers[i].name;
        int k = -1;
        if (!name)
            continue;
        switch (name[0]) {
        case 'A': case 'a':
            k = name_is(name, "authorization") ? AH_AUTHORIZATION : -1;
            break;
        case 'D': case 'd':
            k = name_is(name, "date") ? AH_DATE : -1;
            break;
        case 'X': case 'x':
            k = name_is(name, "x-amz-date")             ? AH_AMZ_DATE
                : name_is(name, "x-amz-security-token") ? AH_SECURITY_TOKEN
                : name_is(name, "x-amz-content-sha256") ? AH_CONTENT_SHA256
                                                        : -1;
            break;
        }
        if (k >= 0 && !found[k]) {
            found[k] = true;
            v[k] = req->headers[i].value;
        }
    }
}

static int verify(const struct http_req *req, sigv4_secret_fn lookup, void *ctx,
                  int64_t now_ms, struct sigv4_auth *out, struct sigv4_work *w)
{
    memset(out, 0, sizeof *out);
    if (!req->arena || !req->query || !req->path || !req->method)
        return SIGV4_INTERNAL;
    struct arena *a = req->arena;
    bool query_form = false;
    char *signed_headers = NULL;
    int rc;

    const char *hdr[AH_COUNT];
    auth_headers(req, hdr);
    const char *authz = hdr[AH_AUTHORIZATION];
    const char *q_algo = query_param(req, "X-Amz-Algorithm", &query_form);
    const char *q_cred = query_param(req, "X-Amz-Credential", &query_form);
    const char *q_sig = query_param(req, "X-Amz-Signature", &query_form);
    if (!authz && !query_form)
        return SIGV4_MISSING;
    if (authz && query_form) {
        set_detail(out, "only one auth mechanism allowed; only the "
                        "X-Amz-Algorithm query parameter or the Authorization "
                        "header should be specified.");
        return SIGV4_MALFORMED;
    }

    if (authz) {
        rc = parse_authorization(a, authz, out, &signed_headers);
        if (rc)
            return rc;
        const char *xd = hdr[AH_AMZ_DATE];
        if (xd) {
            if (!parse_amz_date(xd, &out->date_ms)) {
                set_detail(out, "the X-Amz-Date header is not of the form "
                                "YYYYMMDD'T'HHMMSS'Z'.");
                return SIGV4_MALFORMED;
            }
            memcpy(out->amz_date, xd, 16);
        } else {
            const char *d = hdr[AH_DATE];
            if (!d || !parse_http_date(d, out->amz_date, &out->date_ms)) {
                set_detail(out, "Authorization header requires existence of "
                                "either a 'X-Amz-Date' or a 'Date' header.");
                return SIGV4_MALFORMED;
            }
        }
    } else {
        out->presigned = true;
        const char *q_date = query_param(req, "X-Amz-Date", NULL);
        const char *q_exp = query_param(req, "X-Amz-Expires", NULL);
        char *q_sh = (char *)query_param(req, "X-Amz-SignedHeaders", NULL);
        if (!q_algo || !q_cred || !q_sig || !q_date || !q_exp || !q_sh) {
            set_detail(out, "Query-string authentication version 4 requires "
                            "the X-Amz-Algorithm, X-Amz-Credential, "
                            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                            "and X-Amz-Expires parameters.");
            return SIGV4_MALFORMED;
        }
        if (strcmp(q_algo, SIGV4_ALGO) != 0) {
            set_detail(out, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\".");
            return SIGV4_MALFORMED;
        }
        rc = parse_credential(q_cred, strlen(q_cred), out);
        if (rc == SIGV4_OK)
            rc = parse_signature(q_sig, strlen(q_sig), out);
        if (rc)
            return rc;
        if (!parse_amz_date(q_date, &out->date_ms)) {
            set_detail(out, "X-Amz-Date must be in the ISO8601 Long Format "
                            "\"yyyyMMdd'T'HHmmss'Z'\".");
            return SIGV4_MALFORMED;
        }
        memcpy(out->amz_date, q_date, 16);
        size_t elen = strlen(q_exp);
        int exp = elen >= 1 && elen <= 7 ? digits(q_exp, (int)elen) : -1;
        if (exp < 1 || exp > SIGV4_MAX_EXPIRES) {
            set_detail(out, "X-Amz-Expires must be a number of seconds from "
                            "1 to 604800 (seven days).");
            return SIGV4_MALFORMED;
        }
        out->expires_s = exp;
        if (strlen(q_sh) > SIGV4_MAX_SIGNED_LIST) {
            set_detail(out, "the SignedHeaders list is too long.");
            return SIGV4_MALFORMED;
        }
        signed_headers = q_sh;
        (void)query_param(req, "X-Amz-Security-Token", &out->has_security_token);
    }
    if (hdr[AH_SECURITY_TOKEN])
        out->has_security_token = true;

    if (memcmp(out->scope_date, out->amz_date, 8) != 0) {
        snprintf(out->detail, sizeof out->detail,
                 "Date in Credential scope does not match YYYYMMDD from "
                 "ISO-8601 version of date from HTTP: '%s' != '%.8s', from "
                 "'%s'.", out->scope_date, out->amz_date, out->amz_date);
        return SIGV4_MALFORMED;
    }
    if (!signed_list_has(signed_headers, "host")) {
        set_detail(out, "'Host' must be a 'SignedHeader' in the AWS "
                        "Authorization.");
        return SIGV4_MALFORMED;
    }

    /* hashed payload */
    bool s3 = strcmp(out->service, "s3") == 0;
    const char *csha = hdr[AH_CONTENT_SHA256];
    bool check_body = false;
    if (csha) {
        size_t clen = strlen(csha);
        if (is_hex64(csha, clen)) {
            check_body = !req->body_too_large;
        } else if (strcmp(csha, "UNSIGNED-PAYLOAD") != 0 &&
                   !known_streaming(csha)) {
            return SIGV4_INVALID_CONTENT_SHA256;
        }
        if (!copy_field(out->payload_hash, sizeof out->payload_hash, csha, clen))
            return SIGV4_INVALID_CONTENT_SHA256;
    } else if (out->presigned && s3) {
        strcpy(out->payload_hash, "UNSIGNED-PAYLOAD");
    } else {
        body_hash_hex(w->md, req, out->payload_hash);
    }

    /* key, canonical request, string to sign, signature */
    char secret[SIGV4_MAX_SECRET + 1];
    if (!lookup || lookup(out->access_key, secret, sizeof secret, ctx) != 0)
        return SIGV4_UNKNOWN_KEY;
    secret[SIGV4_MAX_SECRET] = 0;
    rc = (!w->inner || !w->outer)
             ? SIGV4_INTERNAL
             : signing_key(w->md, secret, out->scope_date, out->region,
                           out->service, out->signing_key, w->inner, w->outer);
    OPENSSL_cleanse(secret, sizeof secret);
    if (rc)
        return rc;

    struct sigv4_params params = {signed_headers, out->payload_hash, s3,
                                  out->presigned};
    struct buf creq;
    buf_init(&creq, SIGV4_MAX_CREQ);
    (void)buf_reserve(&creq, 1024); /* one allocation for most requests */
    rc = sigv4_canonical_request(req, &params, &creq);
    if (rc == SIGV4_MALFORMED)
        set_detail(out, "the SignedHeaders list, or a %-escape in the query "
                        "string, is malformed.");
    if (rc == SIGV4_OK) {
        /* scope: parse_credential bounded its parts */
        char scope[8 + 1 + 64 + 1 + 64 + 14];
        size_t dl = strlen(out->scope_date), rl = strlen(out->region),
               sl = strlen(out->service), n = 0;
        memcpy(scope, out->scope_date, dl);
        n += dl;
        scope[n++] = '/';
        memcpy(scope + n, out->region, rl);
        n += rl;
        scope[n++] = '/';
        memcpy(scope + n, out->service, sl);
        n += sl;
        memcpy(scope + n, "/aws4_request", 13);
        n += 13;
        char sts[sizeof SIGV4_ALGO + 16 + 1 + sizeof scope + 1 + 65];
        size_t sts_len = string_to_sign(w->md, sts, out->amz_date, 16, scope, n,
                                        creq.data ? creq.data : "", creq.len);
        unsigned char mac[32];
        char expect[65];
        if (!hmac_finish(w->inner, w->outer, sts, sts_len, mac))
            memset(mac, 0, sizeof mac); /* never matches a real signature */
        hex_encode(expect, mac, 32);
        if (CRYPTO_memcmp(expect, out->signature, 64) != 0)
            rc = SIGV4_MISMATCH;
    }
    buf_free(&creq);
    if (rc)
        return rc;

    /* clock */
    if (out->presigned) {
        if (out->date_ms > now_ms + SIGV4_MAX_SKEW_MS)
            return SIGV4_SKEWED;
        if (now_ms > out->date_ms + out->expires_s * 1000)
            return SIGV4_EXPIRED;
    } else if (out->date_ms > now_ms + SIGV4_MAX_SKEW_MS ||
               out->date_ms < now_ms - SIGV4_MAX_SKEW_MS) {
        return SIGV4_SKEWED;
    }

    /* body */
    if (check_body) {
        char body_hash[65];
        body_hash_hex(w->md, req, body_hash);
        if (strncasecmp(body_hash, out->payload_hash, 64) != 0)
            return SIGV4_BAD_CONTENT_SHA256;
    }
    return SIGV4_OK;
}

int sigv4_verify(const struct http_req *req, sigv4_secret_fn lookup, void *ctx,
                 int64_t now_ms, struct sigv4_auth *out)
{
    /* on a failed allocation, hashing falls back to util's contexts and
     * the signing key step reports SIGV4_INTERNAL, as it always did */
    struct sigv4_work none = {NULL, NULL, NULL};
    struct sigv4_work *w = work_get();
    return verify(req, lookup, ctx, now_ms, out, w ? w : &none);
}

/* ---- SigV2 presigned URLs (S3 only) -----------------------------------
 * String to sign: VERB \n Content-MD5 \n Content-Type \n Expires \n
 * canonical x-amz-* headers ("name:value\n", sorted) then the resource:
 * "/" + the virtual-host bucket when the Host names one (the bucket S3
 * will serve, decided by s3.c's s3_vhost_bucket, passed in by the router),
 * then the path as sent, plus the sub-resources of the query that S3
 * signs, sorted, as "?a&b=v". Signature = base64(HMAC-SHA1(secret, that)).
 * Expires is seconds since the epoch; it may lie at most SIGV4_MAX_EXPIRES
 * (7 days, SigV4's presigned ceiling) ahead of now: SigV2 itself has no
 * ceiling, and a URL valid for decades is a leaked credential. */
static const char *const v2_subresources[] = {
    "acl", "cors", "delete", "lifecycle", "location", "logging", "notification",
    "partNumber", "policy", "requestPayment", "response-cache-control",
    "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires",
    "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning", "versions",
    "website",
};

bool sigv4_is_v2_presigned(const struct http_req *req)
{
    bool akid = false, sig = false, exp = false, v4 = false;
    (void)query_param(req, "AWSAccessKeyId", &akid);
    (void)query_param(req, "Signature", &sig);
    (void)query_param(req, "Expires", &exp);
    (void)query_param(req, "X-Amz-Signature", &v4);
    return akid && sig && exp && !v4;
}

static int cmp_hdr_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int sigv4_verify_v2_presigned(const struct http_req *req, const char *vhost_bucket,
                              sigv4_secret_fn lookup, void *ctx, int64_t now_ms,
                              struct sigv4_auth *out)
{
    memset(out, 0, sizeof *out);
    out->presigned = true;
    const char *akid = query_param(req, "AWSAccessKeyId", NULL);
    const char *sig = query_param(req, "Signature", NULL);
    const char *exp = query_param(req, "Expires", NULL);
    if (!akid || !sig || !exp || !*akid || strlen(akid) >= sizeof out->access_key) {
        set_detail(out, "Query-string authentication requires the Signature, "
                        "Expires and AWSAccessKeyId parameters.");
        return SIGV4_MALFORMED;
    }
    snprintf(out->access_key, sizeof out->access_key, "%s", akid);
    size_t exp_len = strlen(exp);
    int64_t expires = 0;
    for (size_t i = 0; i < exp_len && exp_len <= 12; i++)
        expires = exp[i] >= '0' && exp[i] <= '9' ? expires * 10 + (exp[i] - '0') : -1;
    if (exp_len == 0 || exp_len > 12 || expires < 0) {
        set_detail(out, "Expires must be a number of seconds since the epoch.");
        return SIGV4_MALFORMED;
    }
    out->expires_s = expires;

    struct buf sts;
    buf_init(&sts, SIGV4_MAX_CREQ);
    const char *md5 = http_header(req, "Content-MD5");
    const char *ctype = http_header(req, "Content-Type");
    int brc = buf_printf(&sts, "%s\n%s\n%s\n%s\n", req->method, md5 ? md5 : "",
                         ctype ? ctype : "", exp);
    /* x-amz-* headers, lowercase, sorted */
    const char *names[64];
    size_t nn = 0;
    for (size_t i = 0; i < req->nheaders && nn < 64; i++)
        if (strncasecmp(req->headers[i].name, "x-amz-", 6) == 0)
            names[nn++] = req->headers[i].name;
    qsort(names, nn, sizeof *names, cmp_hdr_name);
    for (size_t i = 0; i < nn && brc == HY_OK; i++) {
        for (const char *c = names[i]; *c && brc == HY_OK; c++) {
            char lc = (char)tolower((unsigned char)*c);
            brc = buf_append(&sts, &lc, 1);
        }
        if (brc == HY_OK)
            brc = buf_printf(&sts, ":%s\n", http_header(req, names[i]));
    }
    /* the resource S3 serves: a virtual-host bucket leads the path */
    if (brc == HY_OK && vhost_bucket)
        brc = buf_printf(&sts, "/%s", vhost_bucket);
    if (brc == HY_OK)
        brc = buf_puts(&sts, req->path);
    char sep = '?';
    for (size_t i = 0; i < sizeof v2_subresources / sizeof *v2_subresources && brc == HY_OK;
         i++) {
        bool present = false;
        const char *v = query_param(req, v2_subresources[i], &present);
        if (!present)
            continue;
        brc = buf_printf(&sts, "%c%s%s%s", sep, v2_subresources[i], v && *v ? "=" : "",
                         v ? v : "");
        sep = '&';
    }
    int rc = SIGV4_OK;
    char secret[SIGV4_MAX_SECRET + 1];
    if (brc != HY_OK)
        rc = brc == HY_ETOOBIG ? SIGV4_TOO_LARGE : SIGV4_INTERNAL;
    else if (!lookup || lookup(akid, secret, sizeof secret, ctx) != 0)
        rc = SIGV4_UNKNOWN_KEY;
    if (rc == SIGV4_OK) {
        secret[SIGV4_MAX_SECRET] = 0;
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)sts.data,
             sts.len, mac, &maclen);
        OPENSSL_cleanse(secret, sizeof secret);
        char expect[64];
        base64_encode(expect, mac, maclen);
        size_t el = strlen(expect);
        rc = strlen(sig) == el && CRYPTO_memcmp(expect, sig, el) == 0 ? SIGV4_OK
                                                                      : SIGV4_MISMATCH;
    }
    /* clock, once the signature holds: past Expires, or further ahead than
     * a SigV4 presigned URL may live */
    if (rc == SIGV4_OK && now_ms / 1000 > expires) {
        rc = SIGV4_EXPIRED;
    } else if (rc == SIGV4_OK && expires > now_ms / 1000 + SIGV4_MAX_EXPIRES) {
        set_detail(out, "Expires must be at most 604800 seconds (seven days) "
                        "from now.");
        rc = SIGV4_MALFORMED;
    }
    buf_free(&sts);
    return rc;
}

/* ---- aws-chunked bodies: the one decoder ------------------------------
 * Each chunk:  hex-size [";chunk-signature=" 64 hex] CRLF data CRLF,
 * then a zero-size chunk, then for *-TRAILER modes trailer lines
 * "name:value" CRLF (the signed mode ending with
 * "x-amz-trailer-signature:" 64 hex), then CRLF. Chunk string to sign:
 *   "AWS4-HMAC-SHA256-PAYLOAD" \n date \n scope \n previous signature \n
 *   hex(SHA256("")) \n hex(SHA256(chunk data))
 * (verified against the AWS sigv4-streaming example in the unit test).
 * Trailer string to sign (signed-trailer mode, from the AWS
 * sigv4-streaming-trailers page; not checked against a vector):
 *   "AWS4-HMAC-SHA256-TRAILER" \n date \n scope \n previous signature \n
 *   hex(SHA256(each trailer "name:value\n"))
 *
 * Strict, because it is the only decoder: whatever it accepts is what is
 * stored. The size is lowercase or uppercase hex without leading zeros
 * (a lone "0" ends the body), at most 10 digits; the signed modes carry
 * exactly one ";chunk-signature=" extension, the unsigned mode none; every
 * line ends in CRLF and holds no other CR; nothing may follow the final
 * CRLF; a trailer signature appears once, last, and only when signed.
 * Checksum trailers (x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1,
 * -sha256: base64 of the big-endian CRC or the digest) are computed over
 * the payload as it passes, for those the x-amz-trailer header declared,
 * and compared once the trailers (and their signature) are read: each
 * declared one must come exactly once, no undeclared one may, and a
 * mismatch is SIGV4_BAD_CHECKSUM (S3: BadDigest). In the unsigned mode
 * they are the payload's only integrity check; another x-amz-checksum-*
 * name is refused, never waved through.
 *
 * It is a push decoder (a state machine fed any slices of the body), so
 * the same code decodes a body in memory in one call and a spooled 5 GiB
 * body block by block; each chunk's SHA-256 is computed as its bytes pass
 * and its signature checked when its data ends. Decoded bytes go to an
 * emit callback as they pass, before their chunk's signature is known:
 * callers publish the output only when the whole body decoded (memory:
 * req->body is replaced at the end; spooled: a new file renamed over the
 * spool file at the end, unlinked on any failure). */
#define CHUNK_LINE_MAX 8192     /* a header or trailer line, CR excluded */
#define CHUNK_SIZE_DIGITS 10    /* 1 TiB; S3 objects stop at 5 TiB in parts */
#define CHUNK_TRAILERS_MAX 16384
#define CHUNK_SIG_TAG ";chunk-signature="
#define CHUNK_TRAILER_SIG "x-amz-trailer-signature"

enum chunk_state { CD_HEADER, CD_DATA, CD_DATA_CR, CD_DATA_LF, CD_TRAILER,
                   CD_END, CD_DONE };

typedef int (*chunk_emit_fn)(void *ctx, const char *p, size_t n);

struct chunk_dec {
    const struct sigv4_auth *auth;
    bool is_signed, trailer;
    enum chunk_state state;
    char scope[8 + 1 + 64 + 1 + 64 + 14];
    char prev[65];              /* the signature the next one chains from */
    char sig[65];               /* the current chunk's claimed signature */
    bool have_tsig;
    char line[CHUNK_LINE_MAX + 1];
    size_t line_len;
    uint64_t left;              /* data bytes still to come in this chunk */
    uint64_t decoded;
    EVP_MD_CTX *md;             /* SHA-256 of the current chunk's data */
    EVP_MD_CTX *mac;            /* HMAC of the strings to sign */
    struct buf trailers;        /* "name:value\n" per trailer, signed mode */
    unsigned ck_want, ck_seen;  /* checksum trailers declared / read (bits) */
    struct hy_cksum ck[HY_CKSUM_COUNT];           /* of the payload so far */
    unsigned char ck_value[HY_CKSUM_COUNT][32];   /* each one read, decoded */
    chunk_emit_fn emit;
    void *emit_ctx;
};

/* x-amz-trailer: "name[, name...]" -> d->ck_want; SIGV4_INCOMPLETE_BODY
 * for a checksum hydrant cannot compute. */
static int chunk_declare(struct chunk_dec *d, const char *decl)
{
    while (decl && *decl) {
        size_t n = strcspn(decl, ",");
        const char *p = decl, *e = decl + n;
        while (p < e && is_space((unsigned char)*p))
            p++;
        while (e > p && is_space((unsigned char)e[-1]))
            e--;
        int id = hy_cksum_alg(p, (size_t)(e - p));
        if (id == -2)
            return SIGV4_INCOMPLETE_BODY;
        if (id >= 0)
            d->ck_want |= 1u << id;
        decl += n + (decl[n] == ',');
    }
    for (int id = 0; id < HY_CKSUM_COUNT; id++)
        if ((d->ck_want & 1u << id) && hy_cksum_init(&d->ck[id], id) != HY_OK)
            return SIGV4_INTERNAL;
    return SIGV4_OK;
}

static int chunk_checksum_update(struct chunk_dec *d, const char *p, size_t n)
{
    for (int id = 0; id < HY_CKSUM_COUNT; id++)
        if ((d->ck_want & 1u << id) && hy_cksum_update(&d->ck[id], p, n) != HY_OK)
            return SIGV4_INTERNAL;
    return SIGV4_OK;
}

/* The trailer "x-amz-checksum-<id>:<base64>": kept for chunk_checksums_ok. */
static int chunk_checksum_read(struct chunk_dec *d, int id, const char *v, size_t n)
{
    size_t size = hy_cksum_len(id);
    unsigned char tmp[48];
    if (!(d->ck_want & 1u << id) || (d->ck_seen & 1u << id))
        return SIGV4_INCOMPLETE_BODY; /* undeclared, or twice */
    d->ck_seen |= 1u << id;
    if (n > 4 * ((size + 2) / 3) || base64_decode(tmp, v, n) != (long)size)
        return SIGV4_INCOMPLETE_BODY;
    memcpy(d->ck_value[id], tmp, size);
    return SIGV4_OK;
}

/* Every declared checksum was sent and matches the payload. */
static int chunk_checksums_ok(struct chunk_dec *d)
{
    if (d->ck_seen != d->ck_want)
        return SIGV4_INCOMPLETE_BODY;
    for (int id = 0; id < HY_CKSUM_COUNT; id++) {
        unsigned char got[32];
        size_t size = hy_cksum_len(id);
        if (!(d->ck_want & 1u << id))
            continue;
        if (hy_cksum_final(&d->ck[id], got) != HY_OK)
            return SIGV4_INTERNAL;
        if (memcmp(d->ck_value[id], got, size) != 0)
            return SIGV4_BAD_CHECKSUM;
    }
    return SIGV4_OK;
}

static void chunk_dec_free(struct chunk_dec *d)
{
    EVP_MD_CTX_free(d->md);
    EVP_MD_CTX_free(d->mac);
    d->md = d->mac = NULL;
    for (int id = 0; id < HY_CKSUM_COUNT; id++)
        hy_cksum_free(&d->ck[id]);
    buf_free(&d->trailers);
}

static int chunk_dec_init(struct chunk_dec *d, const struct sigv4_auth *auth,
                          const char *trailer_decl, chunk_emit_fn emit, void *emit_ctx)
{
    memset(d, 0, sizeof *d);
    buf_init(&d->trailers, CHUNK_TRAILERS_MAX);
    const char *mode = auth->payload_hash;
    if (!known_streaming(mode))
        return SIGV4_INTERNAL; /* verify let no other STREAMING-* through */
    d->auth = auth;
    d->is_signed = strncmp(mode, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", 34) == 0;
    d->trailer = strcmp(mode, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") == 0 ||
                 strcmp(mode, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") == 0;
    d->state = CD_HEADER;
    d->emit = emit;
    d->emit_ctx = emit_ctx;
    snprintf(d->scope, sizeof d->scope, "%s/%s/%s/aws4_request", auth->scope_date,
             auth->region, auth->service);
    memcpy(d->prev, auth->signature, 65);
    d->md = EVP_MD_CTX_new();
    d->mac = EVP_MD_CTX_new();
    if (!d->md || !d->mac) {
        chunk_dec_free(d);
        return SIGV4_INTERNAL;
    }
    int rc = d->trailer ? chunk_declare(d, trailer_decl) : SIGV4_OK;
    if (rc)
        chunk_dec_free(d);
    return rc;
}

/* Checks sig (64 hex) against the signature of the string to sign
 * "<algo>\n<date>\n<scope>\n<prev>\n<tail>"; on success it becomes prev. */
static int chunk_sig_check(struct chunk_dec *d, const char *algo, const char *tail,
                           const char *sig)
{
    char sts[400], expect[65];
    unsigned char mac[32];
    int len = snprintf(sts, sizeof sts, "%s\n%s\n%s\n%s\n%s", algo,
                       d->auth->amz_date, d->scope, d->prev, tail);
    if (len < 0 || (size_t)len >= sizeof sts)
        return SIGV4_INTERNAL;
    if (!hmac256(d->mac, d->auth->signing_key, 32, sts, (size_t)len, mac))
        return SIGV4_INTERNAL;
    hex_encode(expect, mac, 32);
    if (CRYPTO_memcmp(expect, sig, 64) != 0)
        return SIGV4_MISMATCH;
    memcpy(d->prev, sig, 65);
    return SIGV4_OK;
}

/* The data of the current chunk is complete: its signature. */
static int chunk_data_end(struct chunk_dec *d)
{
    if (!d->is_signed)
        return SIGV4_OK;
    unsigned char h[32];
    unsigned int n = 0;
    char tail[65 + 65];
    if (!EVP_DigestFinal_ex(d->md, h, &n) || n != 32)
        return SIGV4_INTERNAL;
    memcpy(tail, SIGV4_EMPTY_SHA256 "\n", 65);
    hex_encode(tail + 65, h, 32);
    return chunk_sig_check(d, "AWS4-HMAC-SHA256-PAYLOAD", tail, d->sig);
}

/* "<hex>[;chunk-signature=<64 hex>]" */
static int chunk_header(struct chunk_dec *d, const char *s, size_t n)
{
    size_t nd = 0;
    uint64_t size = 0;
    int v;
    while (nd < n && (v = sigv4__hexval((unsigned char)s[nd])) >= 0) {
        if (++nd > CHUNK_SIZE_DIGITS)
            return SIGV4_INCOMPLETE_BODY;
        size = size * 16 + (uint64_t)v;
    }
    if (nd == 0 || (s[0] == '0' && nd > 1))
        return SIGV4_INCOMPLETE_BODY;
    const char *ext = s + nd;
    size_t ext_len = n - nd, tl = sizeof CHUNK_SIG_TAG - 1;
    if (d->is_signed) {
        if (ext_len != tl + 64 || memcmp(ext, CHUNK_SIG_TAG, tl) != 0 ||
            !is_hex64(ext + tl, 64))
            return SIGV4_INCOMPLETE_BODY;
        memcpy(d->sig, ext + tl, 64);
        d->sig[64] = 0;
    } else if (ext_len != 0) {
        return SIGV4_INCOMPLETE_BODY;
    }
    if (size > 0) {
        if (d->is_signed && !EVP_DigestInit_ex(d->md, hy_evp_sha256(), NULL))
            return SIGV4_INTERNAL;
        d->left = size;
        d->state = CD_DATA;
        return SIGV4_OK;
    }
    /* the final chunk: its (empty) data is signed too */
    int rc = SIGV4_OK;
    if (d->is_signed) {
        rc = chunk_sig_check(d, "AWS4-HMAC-SHA256-PAYLOAD",
                             SIGV4_EMPTY_SHA256 "\n" SIGV4_EMPTY_SHA256, d->sig);
    }
    d->state = d->trailer ? CD_TRAILER : CD_END;
    return rc;
}

/* One trailer line, or the empty line that ends them. */
static int chunk_trailer(struct chunk_dec *d, const char *s, size_t n)
{
    if (n == 0) {
        if (d->is_signed && !d->have_tsig)
            return SIGV4_INCOMPLETE_BODY;
        d->state = CD_DONE;
        return chunk_checksums_ok(d); /* after the trailer signature */
    }
    if (d->have_tsig)
        return SIGV4_INCOMPLETE_BODY; /* the signature comes last */
    const char *colon = memchr(s, ':', n);
    if (!colon || colon == s)
        return SIGV4_INCOMPLETE_BODY;
    size_t nlen = (size_t)(colon - s), vlen = n - nlen - 1;
    for (size_t i = 0; i < nlen; i++)
        if (!header_name_char((unsigned char)s[i]))
            return SIGV4_INCOMPLETE_BODY;
    if (nlen == sizeof CHUNK_TRAILER_SIG - 1 &&
        strncasecmp(s, CHUNK_TRAILER_SIG, nlen) == 0) {
        if (!d->is_signed || !is_hex64(colon + 1, vlen))
            return SIGV4_INCOMPLETE_BODY;
        char tsig[65], th[65];
        memcpy(tsig, colon + 1, 64);
        tsig[64] = 0;
        sha256_hex(th, d->trailers.data ? d->trailers.data : "", d->trailers.len);
        d->have_tsig = true;
        return chunk_sig_check(d, "AWS4-HMAC-SHA256-TRAILER", th, tsig);
    }
    int id = hy_cksum_alg(s, nlen), rc;
    if (id == -2)
        return SIGV4_INCOMPLETE_BODY; /* a checksum hydrant cannot check */
    if (id >= 0 && (rc = chunk_checksum_read(d, id, colon + 1, vlen)))
        return rc;
    if (!d->is_signed)
        return SIGV4_OK; /* unsigned trailers: the checksums are all there is */
    if (buf_append(&d->trailers, s, n) != HY_OK || buf_append(&d->trailers, "\n", 1) != HY_OK)
        return SIGV4_INCOMPLETE_BODY;
    return SIGV4_OK;
}

static int chunk_line(struct chunk_dec *d, const char *s, size_t n)
{
    switch (d->state) {
    case CD_HEADER: return chunk_header(d, s, n);
    case CD_TRAILER: return chunk_trailer(d, s, n);
    case CD_END:
        if (n != 0)
            return SIGV4_INCOMPLETE_BODY;
        d->state = CD_DONE;
        return SIGV4_OK;
    default: return SIGV4_INTERNAL;
    }
}

/* Feeds the next n bytes of the body. */
static int chunk_dec_feed(struct chunk_dec *d, const char *p, size_t n)
{
    int rc;
    while (n > 0) {
        switch (d->state) {
        case CD_DATA: {
            size_t k = d->left < n ? (size_t)d->left : n;
            if (d->is_signed && !EVP_DigestUpdate(d->md, p, k))
                return SIGV4_INTERNAL;
            if (d->ck_want && (rc = chunk_checksum_update(d, p, k)))
                return rc;
            if ((rc = d->emit(d->emit_ctx, p, k)))
                return rc;
            d->decoded += k;
            d->left -= k;
            p += k;
            n -= k;
            if (d->left == 0) {
                if ((rc = chunk_data_end(d)))
                    return rc;
                d->state = CD_DATA_CR;
            }
            break;
        }
        case CD_DATA_CR:
        case CD_DATA_LF:
            if (*p != (d->state == CD_DATA_CR ? '\r' : '\n'))
                return SIGV4_INCOMPLETE_BODY;
            d->state = d->state == CD_DATA_CR ? CD_DATA_LF : CD_HEADER;
            p++;
            n--;
            break;
        case CD_DONE:
            return SIGV4_INCOMPLETE_BODY; /* bytes after the end */
        default: { /* a line: header, trailer or the final empty one */
            char c = *p++;
            n--;
            bool after_cr = d->line_len > 0 && d->line[d->line_len - 1] == '\r';
            if (c == '\n') {
                if (!after_cr)
                    return SIGV4_INCOMPLETE_BODY;
                size_t len = d->line_len - 1;
                d->line_len = 0;
                if ((rc = chunk_line(d, d->line, len)))
                    return rc;
            } else if (after_cr || d->line_len >= CHUNK_LINE_MAX) {
                return SIGV4_INCOMPLETE_BODY;
            } else {
                d->line[d->line_len++] = c;
            }
            break;
        }
        }
    }
    return SIGV4_OK;
}

static int chunk_dec_finish(struct chunk_dec *d, int64_t decoded_len)
{
    if (d->state != CD_DONE)
        return SIGV4_INCOMPLETE_BODY; /* the body stopped short */
    if (decoded_len >= 0 && d->decoded != (uint64_t)decoded_len)
        return SIGV4_INCOMPLETE_BODY;
    return SIGV4_OK;
}

static int emit_buf(void *ctx, const char *p, size_t n)
{
    int rc = buf_append(ctx, p, n);
    return rc == HY_OK ? SIGV4_OK : rc == HY_ETOOBIG ? SIGV4_TOO_LARGE : SIGV4_INTERNAL;
}

int sigv4_decode_chunked(const struct sigv4_auth *auth, const char *trailer_decl,
                         const char *body, size_t len, int64_t decoded_len,
                         struct buf *out)
{
    struct chunk_dec d;
    int rc = chunk_dec_init(&d, auth, trailer_decl, emit_buf, out);
    if (rc == SIGV4_OK)
        rc = chunk_dec_feed(&d, body, len);
    if (rc == SIGV4_OK)
        rc = chunk_dec_finish(&d, decoded_len);
    chunk_dec_free(&d);
    return rc;
}

/* In memory: the payload goes to arena memory no larger than the body. */
struct emit_mem {
    char *p;
    size_t len, cap;
};

static int emit_mem(void *ctx, const char *p, size_t n)
{
    struct emit_mem *m = ctx;
    if (n > m->cap - m->len)
        return SIGV4_INTERNAL; /* cannot happen: a payload is shorter than its framing */
    memcpy(m->p + m->len, p, n);
    m->len += n;
    return SIGV4_OK;
}

/* Spooled: the payload goes to a new file, hashed on the way. */
struct emit_file {
    int fd;
    EVP_MD_CTX *md5, *sha256;
    uint64_t len;
    int err;                  /* HY_* of a failed write, for the log */
};

static int emit_file(void *ctx, const char *p, size_t n)
{
    struct emit_file *f = ctx;
    if (!EVP_DigestUpdate(f->md5, p, n) || !EVP_DigestUpdate(f->sha256, p, n))
        return SIGV4_INTERNAL;
    if ((f->err = write_all(f->fd, p, n)) != HY_OK)
        return SIGV4_INTERNAL;
    f->len += n;
    return SIGV4_OK;
}

#define DECHUNK_BLOCK (256u << 10)

static int dechunk_file(struct http_req *req, const struct sigv4_auth *auth,
                        int64_t decoded_len)
{
    struct emit_file f = {-1, EVP_MD_CTX_new(), EVP_MD_CTX_new(), 0, HY_OK};
    struct chunk_dec d;
    char out_path[4096], *block = malloc(DECHUNK_BLOCK);
    int in = -1, rc;
    out_path[0] = 0;
    if ((rc = chunk_dec_init(&d, auth, http_header(req, "x-amz-trailer"), emit_file, &f)))
        goto out_free;
    rc = SIGV4_INTERNAL;
    if (!block || !f.md5 || !f.sha256 || !EVP_DigestInit_ex(f.md5, EVP_md5(), NULL) ||
        !EVP_DigestInit_ex(f.sha256, hy_evp_sha256(), NULL))
        goto out_free;
    /* the new file sits next to the spool file, named like one */
    const char *slash = strrchr(req->body_path, '/');
    unsigned char id[8];
    char hex[17];
    int dir_len = slash ? (int)(slash - req->body_path) : 1;
    if (hy_random(id, sizeof id) != HY_OK)
        goto out_free;
    hex_encode(hex, id, sizeof id);
    int pn = snprintf(out_path, sizeof out_path, "%.*s/spool-%s.tmp", dir_len,
                      slash ? req->body_path : ".", hex);
    if (pn < 0 || (size_t)pn >= sizeof out_path) {
        out_path[0] = 0;
        goto out_free;
    }
    in = open(req->body_path, O_RDONLY | O_CLOEXEC);
    f.fd = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (f.fd < 0)
        out_path[0] = 0;
    if (in < 0 || f.fd < 0) {
        log_error("sigv4", "dechunk %s: %s", req->body_path, strerror(errno));
        goto out_free;
    }
    uint64_t total = 0;
    rc = SIGV4_OK;
    while (rc == SIGV4_OK) {
        ssize_t r = read(in, block, DECHUNK_BLOCK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            log_error("sigv4", "read %s: %s", req->body_path, strerror(errno));
            rc = SIGV4_INTERNAL;
        } else if (r == 0) {
            break;
        } else {
            total += (uint64_t)r;
            rc = chunk_dec_feed(&d, block, (size_t)r);
        }
    }
    if (rc == SIGV4_OK && total != req->body_file_len)
        rc = SIGV4_INTERNAL; /* the spool file is not what http.c wrote */
    if (rc == SIGV4_OK)
        rc = chunk_dec_finish(&d, decoded_len);
    if (f.err != HY_OK)
        log_error("sigv4", "write %s: %s", out_path, hy_strerror(f.err));
    unsigned char md5[16], sha[32];
    unsigned int ml = 0, sl = 0;
    if (rc == SIGV4_OK &&
        (!EVP_DigestFinal_ex(f.md5, md5, &ml) || !EVP_DigestFinal_ex(f.sha256, sha, &sl)))
        rc = SIGV4_INTERNAL;
    if (close(f.fd) != 0 && rc == SIGV4_OK)
        rc = SIGV4_INTERNAL;
    f.fd = -1;
    if (rc == SIGV4_OK && rename(out_path, req->body_path) != 0) {
        log_error("sigv4", "rename %s: %s", out_path, strerror(errno));
        rc = SIGV4_INTERNAL;
    }
    if (rc == SIGV4_OK) {
        out_path[0] = 0; /* it is the spool file now */
        req->body_file_len = f.len;
        memcpy(req->body_md5, md5, 16);
        memcpy(req->body_sha256, sha, 32);
    }
out_free:
    if (f.fd >= 0)
        close(f.fd);
    if (out_path[0])
        unlink(out_path);
    if (in >= 0)
        close(in);
    chunk_dec_free(&d);
    EVP_MD_CTX_free(f.md5);
    EVP_MD_CTX_free(f.sha256);
    free(block);
    return rc;
}

int sigv4_dechunk_request(struct http_req *req, const struct sigv4_auth *auth,
                          int64_t decoded_len)
{
    if (req->body_rc)
        return SIGV4_INTERNAL;
    if (req->body_too_large)
        return SIGV4_TOO_LARGE;
    int rc;
    if (req->body_path) {
        rc = dechunk_file(req, auth, decoded_len);
    } else {
        struct emit_mem m = {arena_alloc(req->arena, req->body_len + 1), 0, req->body_len};
        struct chunk_dec d;
        if (!m.p)
            return SIGV4_INTERNAL;
        rc = chunk_dec_init(&d, auth, http_header(req, "x-amz-trailer"), emit_mem, &m);
        if (rc == SIGV4_OK)
            rc = chunk_dec_feed(&d, req->body ? req->body : "", req->body_len);
        if (rc == SIGV4_OK)
            rc = chunk_dec_finish(&d, decoded_len);
        chunk_dec_free(&d);
        if (rc == SIGV4_OK) {
            m.p[m.len] = 0;
            req->body = m.p;
            req->body_len = m.len;
        }
    }
    if (rc == SIGV4_OK)
        req->body_dechunked = true;
    return rc;
}

/* ---- AWS errors ------------------------------------------------------
 * Messages marked [v] were checked against real AWS responses quoted in
 * public issue trackers / AWS docs; [b] are best knowledge. */
static void skew_message(const struct sigv4_auth *auth, int64_t now_ms,
                         char *msg, size_t size)
{
    char now_s[17], edge[17];
    fmt_amz_date(now_s, now_ms);
    if (auth->date_ms < now_ms) {
        /* [v] "Signature expired: X is now earlier than Y (NOW - 15 min.)" */
        fmt_amz_date(edge, now_ms - SIGV4_MAX_SKEW_MS);
        snprintf(msg, size, "Signature expired: %s is now earlier than %s "
                 "(%s - 15 min.)", auth->amz_date, edge, now_s);
    } else {
        /* [b] the mirror image for a date in the future */
        fmt_amz_date(edge, now_ms + SIGV4_MAX_SKEW_MS);
        snprintf(msg, size, "Signature not yet current: %s is still later "
                 "than %s (%s + 15 min.)", auth->amz_date, edge, now_s);
    }
}

static void set_err(struct sigv4_error *err, const char *code, int status,
                    const char *msg)
{
    err->code = code;
    err->status = status;
    snprintf(err->message, sizeof err->message, "%s", msg);
}

static const char sig_mismatch_long[] =
    "The request signature we calculated does not match the signature you "
    "provided. Check your AWS Secret Access Key and signing method. Consult "
    "the service documentation for details."; /* [v] */
static const char content_sha_mismatch[] =
    "The provided 'x-amz-content-sha256' header does not match what was "
    "computed."; /* [v] S3 */
static const char content_sha_invalid[] =
    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 value."; /* [b] */

void sigv4_error(int rc, enum sigv4_proto proto, const struct sigv4_auth *auth,
                 int64_t now_ms, struct sigv4_error *err)
{
    char msg[400];
    const char *detail = auth && auth->detail[0] ? auth->detail
                                                 : "the authorization is malformed.";
    memset(err, 0, sizeof *err);

    if (proto == SIGV4_PROTO_S3) {
        switch (rc) {
        case SIGV4_OK: set_err(err, "", 200, ""); return;
        case SIGV4_MISSING: set_err(err, "AccessDenied", 403, "Access Denied"); return; /* [v] */
        case SIGV4_MALFORMED:
            if (auth && auth->presigned) { /* [b] code; message per case */
                snprintf(msg, sizeof msg, "%s", detail);
                if (msg[0] >= 'a' && msg[0] <= 'z')
                    msg[0] = (char)(msg[0] - 32);
                set_err(err, "AuthorizationQueryParametersError", 400, msg);
            } else { /* [v] "The authorization header is malformed; ..." */
                snprintf(msg, sizeof msg, "The authorization header is malformed; %s",
                         detail);
                set_err(err, "AuthorizationHeaderMalformed", 400, msg);
            }
            return;
        case SIGV4_UNKNOWN_KEY: /* [v] */
            set_err(err, "InvalidAccessKeyId", 403,
                    "The AWS Access Key Id you provided does not exist in our records.");
            return;
        case SIGV4_MISMATCH: /* [v] */
            set_err(err, "SignatureDoesNotMatch", 403,
                    "The request signature we calculated does not match the "
                    "signature you provided. Check your key and signing method.");
            return;
        case SIGV4_SKEWED: /* [v] */
            set_err(err, "RequestTimeTooSkewed", 403,
                    "The difference between the request time and the current "
                    "time is too large.");
            return;
        case SIGV4_EXPIRED: set_err(err, "AccessDenied", 403, "Request has expired"); return; /* [v] */
        case SIGV4_BAD_CONTENT_SHA256:
            set_err(err, "XAmzContentSHA256Mismatch", 400, content_sha_mismatch);
            return;
        case SIGV4_INVALID_CONTENT_SHA256:
            set_err(err, "InvalidArgument", 400, content_sha_invalid);
            return;
        case SIGV4_TOO_LARGE: /* [b] */
            set_err(err, "EntityTooLarge", 400,
                    "Your proposed upload exceeds the maximum allowed size");
            return;
        case SIGV4_BAD_CHECKSUM: /* [b] S3 names the algorithm */
            set_err(err, "BadDigest", 400,
                    "The checksum in the aws-chunked trailer did not match the "
                    "calculated checksum.");
            return;
        case SIGV4_INCOMPLETE_BODY: /* [v] what S3 answers a torn aws-chunked body */
            set_err(err, "IncompleteBody", 400, "The request body terminated unexpectedly");
            return;
        default:
            set_err(err, "InternalError", 500,
                    "We encountered an internal error. Please try again.");
            return;
        }
    }

    bool json = proto == SIGV4_PROTO_JSON;
    switch (rc) {
    case SIGV4_OK: set_err(err, "", 200, ""); return;
    case SIGV4_MISSING:
        if (json) /* [v] */
            set_err(err, "MissingAuthenticationTokenException", 400,
                    "Missing Authentication Token");
        else /* [v] STS */
            set_err(err, "MissingAuthenticationToken", 403,
                    "Request is missing Authentication Token");
        return;
    case SIGV4_MALFORMED: /* [b] code verified, message per case */
        snprintf(msg, sizeof msg, "%s", detail);
        if (msg[0] >= 'a' && msg[0] <= 'z')
            msg[0] = (char)(msg[0] - 32);
        set_err(err, json ? "IncompleteSignatureException" : "IncompleteSignature",
                400, msg);
        return;
    case SIGV4_UNKNOWN_KEY: /* [v] */
        set_err(err, json ? "UnrecognizedClientException" : "InvalidClientTokenId",
                json ? 400 : 403,
                "The security token included in the request is invalid.");
        return;
    case SIGV4_MISMATCH:
        set_err(err, json ? "InvalidSignatureException" : "SignatureDoesNotMatch",
                json ? 400 : 403, sig_mismatch_long);
        return;
    case SIGV4_SKEWED: /* [v] JSON; [b] query uses SignatureDoesNotMatch */
        if (auth)
            skew_message(auth, now_ms, msg, sizeof msg);
        else
            snprintf(msg, sizeof msg, "Signature expired");
        set_err(err, json ? "InvalidSignatureException" : "SignatureDoesNotMatch",
                json ? 400 : 403, msg);
        return;
    case SIGV4_EXPIRED: /* [b] */
        set_err(err, json ? "InvalidSignatureException" : "SignatureDoesNotMatch",
                json ? 400 : 403, "Signature expired: the presigned request has expired.");
        return;
    case SIGV4_BAD_CONTENT_SHA256: /* [b] */
        set_err(err, json ? "InvalidSignatureException" : "SignatureDoesNotMatch",
                json ? 400 : 403, content_sha_mismatch);
        return;
    case SIGV4_TOO_LARGE: /* [b] only S3 has aws-chunked bodies */
        set_err(err, json ? "SerializationException" : "InvalidParameterValue",
                400, "The request body is too large.");
        return;
    case SIGV4_BAD_CHECKSUM: /* [b] only S3 has aws-chunked bodies */
        set_err(err, json ? "SerializationException" : "InvalidParameterValue",
                400, "The checksum of the request body did not match.");
        return;
    case SIGV4_INCOMPLETE_BODY: /* [b] only S3 has aws-chunked bodies */
        set_err(err, json ? "SerializationException" : "InvalidParameterValue",
                400, "The request body terminated unexpectedly.");
        return;
    case SIGV4_INVALID_CONTENT_SHA256: /* [b] */
        set_err(err, json ? "InvalidSignatureException" : "IncompleteSignature",
                400, content_sha_invalid);
        return;
    default:
        set_err(err, json ? "InternalFailure" : "InternalFailure", 500,
                "The request processing has failed because of an unknown "
                "error, exception or failure.");
        return;
    }
}

/* ---- for the router ------------------------------------------------------ */

bool sigv4_signs_header(const struct http_req *req, const char *name)
{
    const char *auth = http_header(req, "Authorization");
    const char *list = auth ? strstr(auth, "SignedHeaders=") : NULL;
    if (list) {
        list += strlen("SignedHeaders=");
        size_t n = strcspn(list, ", ");
        char *copy = arena_strndup(req->arena, list, n);
        return copy && signed_list_has(copy, name);
    }
    list = url_query_get(req->arena, req->query, "X-Amz-SignedHeaders", NULL);
    return list && signed_list_has(list, name);
}
