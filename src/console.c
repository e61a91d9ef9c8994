/* console.c -- the web console under /_hydrant/console/ (issue 17).
 *
 * What: the static page (console/index.html, app.js, app.css from the
 * repository: plain HTML/CSS/JS, nothing from a CDN) and its small
 * backend: sign-in with an access key and secret, sign-out, and one
 * proxy endpoint through which the page calls the real APIs.
 *
 * Design -- the console has no privileges of its own. Sign-in checks the
 * key pair (the root pair of the configuration) and opens a session: a
 * random 256-bit id in a cookie (HttpOnly, SameSite=Strict, Path
 * /_hydrant/console/) and a random CSRF token the page keeps in memory.
 * Every call the page makes (POST .../api/call, JSON {service, method,
 * path, query, target, contentType, body}) must carry the session cookie
 * and the token in X-CSRF-Token, and is then *signed with the session's
 * own credentials* (libcurl's CURLOPT_AWS_SIGV4) and sent to this same
 * server over loopback: it meets the router, SigV4 and whatever policy
 * evaluation the APIs have, exactly like a boto3 call. A cross-site form
 * POST has neither the cookie (SameSite=Strict) nor the token and is
 * refused 403 before anything runs; a login from another origin is
 * refused by its Origin header. The proxy runs on console worker threads
 * (the HTTP thread suspends the request and returns, so no HTTP thread
 * waits on a request to its own server).
 *
 * Sessions live in memory (CONSOLE_MAX_SESSIONS, 12 h each): a restart
 * signs everyone out. Secrets are wiped when a session ends.
 *
 * Threading: the session table has one mutex; the job queue another;
 * CONSOLE_WORKERS threads run the proxied calls. Static files are read
 * per request (they are small).
 */
#include "console.h"
#include "api.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CONSOLE_PREFIX "/_hydrant/console/"
#define CONSOLE_MAX_SESSIONS 256
#define CONSOLE_SESSION_MS (12 * 3600 * 1000LL)
#define CONSOLE_WORKERS 2
#define CONSOLE_MAX_ANSWER (64u << 20)
#define COOKIE_NAME "hydrant_console"

const char *console_dir;

struct session {
    char id[65];          /* hex of 32 random bytes; "" when free */
    char csrf[65];
    char akid[129];
    char secret[129];
    int64_t expires_ms;
};

static struct {
    pthread_mutex_t lock;
    struct session s[CONSOLE_MAX_SESSIONS];
} S = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- parsing (fuzzed: tests/fuzz/fuzz_console.c) ----------------------------- */

int console_cookie_get(const char *header, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    const char *p = header;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1;
            const char *v = p + nl + 1;
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (vl >= size)
                return HY_ETOOBIG;
            memcpy(out, v, vl);
            out[vl] = 0;
            return HY_OK;
        }
        p = end;
    }
    return HY_ENOTFOUND;
}

static bool in_set(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

static bool printable(const char *s, size_t max)
{
    size_t n = 0;
    for (; *s; s++, n++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || n >= max)
            return false;
    return true;
}

int console_call_parse(const char *body, size_t len, struct console_call *c, char *why,
                       size_t why_len)
{
    static const char *const services[] = {"firehose", "s3", "iam", "monitoring", "logs",
                                           "sts", NULL};
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", NULL};
    memset(c, 0, sizeof *c);
    json_error_t err;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    int rc = HY_EINVAL;
    if (!json_is_object(o)) {
        snprintf(why, why_len, "the call is not a JSON object");
        goto out;
    }
    const char *service = json_string_value(json_object_get(o, "service"));
    const char *method = json_string_value(json_object_get(o, "method"));
    const char *path = json_string_value(json_object_get(o, "path"));
    const char *query = json_string_value(json_object_get(o, "query"));
    const char *target = json_string_value(json_object_get(o, "target"));
    const char *ctype = json_string_value(json_object_get(o, "contentType"));
    json_t *b = json_object_get(o, "body");
    if (!service || !in_set(service, services)) {
        snprintf(why, why_len, "service must be one of firehose, s3, iam, monitoring, logs, sts");
        goto out;
    }
    if (!method || !in_set(method, methods)) {
        snprintf(why, why_len, "method must be GET, POST, PUT, DELETE or HEAD");
        goto out;
    }
    if (!path || path[0] != '/' || strstr(path, "/_hydrant") == path ||
        !printable(path, 2048) || strchr(path, '?') || strchr(path, '#') ||
        strchr(path, ' ')) {
        snprintf(why, why_len, "path must start with / and be at most 2048 printable "
                 "characters, without ?, # or spaces, outside /_hydrant/");
        goto out;
    }
    if ((query && (!printable(query, 4096) || strchr(query, ' ') || strchr(query, '#'))) ||
        (target && (!printable(target, 128) || strchr(target, ':'))) ||
        (ctype && !printable(ctype, 128))) {
        snprintf(why, why_len, "query, target and contentType must be short printable text");
        goto out;
    }
    if (b && !json_is_string(b)) {
        snprintf(why, why_len, "body must be a string");
        goto out;
    }
    snprintf(c->service, sizeof c->service, "%s", service);
    snprintf(c->method, sizeof c->method, "%s", method);
    if (!(c->path = strdup(path)) || !(c->query = strdup(query ? query : "")) ||
        !(c->target = strdup(target ? target : "")) ||
        !(c->content_type = strdup(ctype ? ctype : ""))) {
        rc = HY_ENOMEM;
        goto out;
    }
    size_t bl = b ? json_string_length(b) : 0;
    if (!(c->body = malloc(bl + 1))) {
        rc = HY_ENOMEM;
        goto out;
    }
    memcpy(c->body, b ? json_string_value(b) : "", bl);
    c->body[bl] = 0;
    c->body_len = bl;
    rc = HY_OK;
out:
    json_decref(o);
    if (rc)
        console_call_free(c);
    return rc;
}

void console_call_free(struct console_call *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->query);
    free(c->target);
    free(c->content_type);
    free(c->body);
    c->path = c->query = c->target = c->content_type = c->body = NULL;
}

/* ---- sessions --------------------------------------------------------------------- */

static int random_hex(char out[65])
{
    unsigned char r[32];
    if (hy_random(r, sizeof r) != 0)
        return HY_EIO;
    hex_encode(out, r, sizeof r);
    OPENSSL_cleanse(r, sizeof r);
    return HY_OK;
}

/* Copies the session of req's cookie into *out: HY_OK, HY_ENOTFOUND. */
static int session_of(const struct http_req *req, struct session *out)
{
    const char *cookie = http_header(req, "Cookie");
    char id[65];
    if (!cookie || console_cookie_get(cookie, COOKIE_NAME, id, sizeof id) != HY_OK ||
        strlen(id) != 64)
        return HY_ENOTFOUND;
    int rc = HY_ENOTFOUND;
    int64_t now = hy_now_ms();
    pthread_mutex_lock(&S.lock);
    for (int i = 0; i < CONSOLE_MAX_SESSIONS; i++) {
        struct session *s = &S.s[i];
        if (s->id[0] && CRYPTO_memcmp(s->id, id, 64) == 0) {
            if (s->expires_ms > now) {
                *out = *s;
                rc = HY_OK;
            } else {
                OPENSSL_cleanse(s, sizeof *s);
            }
            break;
        }
    }
    pthread_mutex_unlock(&S.lock);
    return rc;
}

static int session_open(const char *akid, const char *secret, struct session *out)
{
    struct session n = {0};
    if (random_hex(n.id) || random_hex(n.csrf))
        return HY_EIO;
    snprintf(n.akid, sizeof n.akid, "%s", akid);
    snprintf(n.secret, sizeof n.secret, "%s", secret);
    int64_t now = hy_now_ms();
    n.expires_ms = now + CONSOLE_SESSION_MS;
    pthread_mutex_lock(&S.lock);
    int slot = -1;
    int64_t oldest = INT64_MAX;
    for (int i = 0; i < CONSOLE_MAX_SESSIONS; i++) {
        if (!S.s[i].id[0] || S.s[i].expires_ms <= now) {
            slot = i;
            break;
        }
        if (S.s[i].expires_ms < oldest) {
            oldest = S.s[i].expires_ms;
            slot = i; /* full: the oldest session ends */
        }
    }
    S.s[slot] = n;
    pthread_mutex_unlock(&S.lock);
    *out = n;
    OPENSSL_cleanse(&n, sizeof n);
    return HY_OK;
}

static void session_close(const char *id)
{
    pthread_mutex_lock(&S.lock);
    for (int i = 0; i < CONSOLE_MAX_SESSIONS; i++)
        if (S.s[i].id[0] && strcmp(S.s[i].id, id) == 0)
            OPENSSL_cleanse(&S.s[i], sizeof S.s[i]);
    pthread_mutex_unlock(&S.lock);
}

/* ---- answers ------------------------------------------------------------------------ */

static void security_headers(struct http_req *req)
{
    http_add_header(req, "Content-Security-Policy",
                    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                    "form-action 'self'; base-uri 'none'");
    http_add_header(req, "X-Frame-Options", "DENY");
    http_add_header(req, "X-Content-Type-Options", "nosniff");
    http_add_header(req, "Referrer-Policy", "no-referrer");
    http_add_header(req, "Cache-Control", "no-store");
}

static void reply_json(struct http_req *req, int status, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    security_headers(req);
    if (!s) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        http_reply(req, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    http_reply(req, status, "application/json", s, strlen(s));
    free(s);
}

static void reply_error(struct http_req *req, int status, const char *code, const char *msg)
{
    reply_json(req, status, json_pack("{s:s, s:s}", "error", code, "message", msg));
}

/* ---- static files --------------------------------------------------------------------- */

static const char *dir_of_console(char *buf, size_t n)
{
    if (console_dir)
        return console_dir;
    /* next to the binary: <repo>/build/hydrant -> <repo>/console */
    char exe[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l <= 0)
        return "console";
    exe[l] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    snprintf(buf, n, "%.*s/../console", (int)(n > 16 ? n - 16 : 0), exe);
    return buf;
}

static void serve_file(struct http_req *req, const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"}, {".svg", "image/svg+xml"},
        {".png", "image/png"}};
    const char *type = NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0] && !type; i++) {
        size_t el = strlen(types[i].ext), nl = strlen(name);
        if (nl > el && strcmp(name + nl - el, types[i].ext) == 0)
            type = types[i].type;
    }
    bool ok = type && strlen(name) < 64;
    for (const char *p = name; *p && ok; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
             (*p == '.' && p != name);
    if (!ok || strstr(name, "..")) {
        reply_error(req, 404, "NotFound", "No such page.");
        return;
    }
    char dbuf[PATH_MAX], path[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s", dir_of_console(dbuf, sizeof dbuf), name);
    size_t len = 0;
    char *data = hy_read_file(path, 4u << 20, &len);
    if (!data) {
        reply_error(req, 404, "NotFound", "No such page.");
        return;
    }
    security_headers(req);
    http_reply(req, 200, type, data, len);
    free(data);
}

/* ---- the proxied call ---------------------------------------------------------------------- */

struct job {
    struct http_req *req;
    struct console_call call;
    struct session sess;
    bool download;          /* answer the object's bytes as an attachment */
    char filename[256];
    struct job *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    struct job *head, *tail;
    bool stop;
    pthread_t th[CONSOLE_WORKERS];
    int nth;
} Q = {.lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

struct answer {
    struct buf body;
    json_t *headers;
};

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    struct answer *a = ctx;
    return buf_append(&a->body, p, size * n) == HY_OK ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    struct answer *a = ctx;
    size_t len = size * n;
    static const char *const keep[] = {"content-type", "etag", "content-length",
                                       "last-modified", "x-amzn-errortype",
                                       "x-amz-request-id", "content-range", NULL};
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return len;
    char name[64];
    size_t nl = (size_t)(colon - p);
    if (nl >= sizeof name)
        return len;
    for (size_t i = 0; i < nl; i++)
        name[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
    name[nl] = 0;
    if (!in_set(name, keep))
        return len;
    const char *v = colon + 1, *end = p + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    json_object_set_new(a->headers, name, json_stringn(v, (size_t)(end - v)));
    return len;
}

struct qparam {
    char *name, *value;
};

static int qcmp(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* The query in SigV4's canonical form (each name and value RFC 3986
 * encoded, sorted): libcurl 7.88 signs the query as it is given, so it
 * must be given canonical for the server to compute the same. HY_OK,
 * HY_EINVAL (a bad escape), HY_ENOMEM. */
int console_canonical_query(const char *q, struct buf *out)
{
    struct qparam *v = NULL;
    size_t n = 0, cap = 0;
    int rc = HY_OK;
    const char *p = q;
    while (rc == HY_OK && p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nl = eq ? (size_t)(eq - p) : len, vl = eq ? len - nl - 1 : 0;
        if (len) {
            char *name = malloc(nl + 1), *value = malloc(vl + 1);
            long dn = name ? url_decode(name, p, nl, false) : -1;
            long dv = value ? url_decode(value, eq ? eq + 1 : "", vl, false) : -1;
            if (!name || !value)
                rc = HY_ENOMEM;
            else if (dn < 0 || dv < 0)
                rc = HY_EINVAL;
            else if ((rc = hy_grow((void **)&v, &cap, n + 1, sizeof *v)) == HY_OK) {
                name[dn] = 0;
                value[dv] = 0;
                v[n++] = (struct qparam){name, value};
                name = value = NULL;
            }
            free(name);
            free(value);
        }
        p = amp ? amp + 1 : NULL;
    }
    struct buf tmp;
    buf_init(&tmp, 8192);
    for (size_t i = 0; i < n && rc == HY_OK; i++) {
        /* sorted by the encoded names: encode first */
        buf_reset(&tmp);
        if ((rc = url_encode(&tmp, v[i].name, strlen(v[i].name), false)) == HY_OK) {
            char *en = buf_detach(&tmp, NULL);
            if (!en) {
                rc = HY_ENOMEM;
                break;
            }
            buf_init(&tmp, 8192);
            if ((rc = url_encode(&tmp, v[i].value, strlen(v[i].value), false)) == HY_OK) {
                char *ev = buf_detach(&tmp, NULL);
                buf_init(&tmp, 8192);
                if (!ev) {
                    free(en);
                    rc = HY_ENOMEM;
                    break;
                }
                free(v[i].name);
                free(v[i].value);
                v[i] = (struct qparam){en, ev};
            } else {
                free(en);
            }
        }
    }
    buf_free(&tmp);
    if (rc == HY_OK && n)
        qsort(v, n, sizeof *v, qcmp);
    for (size_t i = 0; i < n && rc == HY_OK; i++)
        rc = buf_printf(out, "%s%s=%s", i ? "&" : "", v[i].name, v[i].value);
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].value);
    }
    free(v);
    return rc;
}

static void run_job(struct job *j)
{
    struct console_call *c = &j->call;
    struct answer a = {.headers = json_object()};
    buf_init(&a.body, CONSOLE_MAX_ANSWER);
    CURL *curl = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[8192], sigv4[160], userpwd[300], hdr[300];
    long status = 0;
    const char *host = hy_cfg.host && strcmp(hy_cfg.host, "0.0.0.0") != 0 &&
                               strcmp(hy_cfg.host, "::") != 0
                           ? hy_cfg.host : "127.0.0.1";
    struct buf cq;
    buf_init(&cq, 8192);
    if (console_canonical_query(c->query, &cq) != HY_OK) {
        buf_free(&cq);
        json_decref(a.headers);
        buf_free(&a.body);
        if (curl)
            curl_easy_cleanup(curl);
        reply_error(j->req, 400, "BadCall", "the query has a malformed escape");
        return;
    }
    snprintf(url, sizeof url, "%s://%s:%d%s%s%s", hy_cfg.tls_cert ? "https" : "http", host,
             hy_cfg.port, c->path, cq.len ? "?" : "", cq.data ? cq.data : "");
    buf_free(&cq);
    snprintf(sigv4, sizeof sigv4, "aws:amz:%s:%s", hy_cfg.region ? hy_cfg.region : "us-east-1",
             c->service);
    snprintf(userpwd, sizeof userpwd, "%s:%s", j->sess.akid, j->sess.secret);
    CURLcode cc = CURLE_FAILED_INIT;
    if (curl && a.headers) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4);
        curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, c->method);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        if (hy_cfg.tls_cert) { /* ourselves over loopback */
            curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (!strcmp(c->method, "HEAD"))
            curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        if (c->body_len || !strcmp(c->method, "POST") || !strcmp(c->method, "PUT")) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, c->body);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
        }
        if (c->target[0]) {
            snprintf(hdr, sizeof hdr, "X-Amz-Target: %s", c->target);
            h = curl_slist_append(h, hdr);
        }
        snprintf(hdr, sizeof hdr, "Content-Type: %s",
                 c->content_type[0] ? c->content_type : "application/octet-stream");
        h = curl_slist_append(h, hdr);
        if (!strcmp(c->service, "s3")) {
            char sha[65];
            sha256_hex(sha, c->body, c->body_len);
            snprintf(hdr, sizeof hdr, "x-amz-content-sha256: %s", sha);
            h = curl_slist_append(h, hdr);
        }
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a);
        cc = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    }
    OPENSSL_cleanse(userpwd, sizeof userpwd);
    curl_slist_free_all(h);
    if (curl)
        curl_easy_cleanup(curl);
    if (cc != CURLE_OK) {
        reply_error(j->req, 502, "CallFailed", curl_easy_strerror(cc));
    } else if (j->download) {
        if (status == 200) {
            char disp[400];
            snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", j->filename);
            http_add_header(j->req, "Content-Disposition", disp);
            security_headers(j->req);
            http_reply(j->req, 200, "application/octet-stream", a.body.data ? a.body.data : "",
                       a.body.len);
        } else {
            reply_error(j->req, (int)status, "DownloadFailed", "The object could not be read.");
        }
    } else {
        /* text as text; anything else (an object's bytes) as base64 */
        bool text = a.body.len == 0 || utf8_valid(a.body.data, a.body.len);
        json_t *o = json_pack("{s:i, s:o}", "status", (int)status, "headers", a.headers);
        a.headers = NULL;
        if (o && text)
            json_object_set_new(o, "body", json_stringn(a.body.data ? a.body.data : "",
                                                        a.body.len));
        else if (o) {
            char *b64 = malloc(base64_encoded_len(a.body.len) + 1);
            if (b64) {
                base64_encode(b64, a.body.data, a.body.len);
                json_object_set_new(o, "base64", json_string(b64));
                free(b64);
            }
        }
        reply_json(j->req, 200, o);
    }
    json_decref(a.headers);
    buf_free(&a.body);
}

bool utf8_valid(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (!s[i])
            return false;
        size_t l = utf8_char_len(s + i);
        if (!l || i + l > n)
            return false;
        i += l;
    }
    return true;
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&Q.lock);
        while (!Q.head && !Q.stop)
            pthread_cond_wait(&Q.cv, &Q.lock);
        struct job *j = Q.head;
        if (j) {
            Q.head = j->next;
            if (!Q.head)
                Q.tail = NULL;
        }
        bool stop = Q.stop && !j;
        pthread_mutex_unlock(&Q.lock);
        if (stop)
            return NULL;
        run_job(j);
        console_call_free(&j->call);
        OPENSSL_cleanse(&j->sess, sizeof j->sess);
        free(j);
    }
}

static int enqueue(struct job *j)
{
    pthread_mutex_lock(&Q.lock);
    if (Q.stop || !Q.nth) {
        pthread_mutex_unlock(&Q.lock);
        return HY_ESTATE;
    }
    if (Q.tail)
        Q.tail->next = j;
    else
        Q.head = j;
    Q.tail = j;
    pthread_cond_signal(&Q.cv);
    pthread_mutex_unlock(&Q.lock);
    return HY_OK;
}

int console_start(void)
{
    pthread_mutex_lock(&Q.lock);
    Q.stop = false;
    for (int i = 0; i < CONSOLE_WORKERS; i++) {
        if (pthread_create(&Q.th[i], NULL, worker, NULL) != 0)
            break;
        Q.nth++;
    }
    int n = Q.nth;
    pthread_mutex_unlock(&Q.lock);
    return n ? HY_OK : HY_ENOMEM;
}

void console_stop(void)
{
    pthread_mutex_lock(&Q.lock);
    Q.stop = true;
    pthread_cond_broadcast(&Q.cv);
    int n = Q.nth;
    pthread_mutex_unlock(&Q.lock);
    for (int i = 0; i < n; i++)
        pthread_join(Q.th[i], NULL);
    Q.nth = 0;
    pthread_mutex_lock(&S.lock);
    OPENSSL_cleanse(S.s, sizeof S.s);
    pthread_mutex_unlock(&S.lock);
}

/* ---- the endpoints ---------------------------------------------------------------------- */

/* A write's origin: the Origin header, when sent, must be this server. */
static bool same_origin(const struct http_req *req)
{
    const char *origin = http_header(req, "Origin"), *host = http_header(req, "Host");
    if (!origin)
        return true; /* not a browser's cross-origin request */
    if (!host)
        return false;
    const char *p = strstr(origin, "://");
    return p && strcmp(p + 3, host) == 0;
}

static void login(struct http_req *req)
{
    if (!same_origin(req)) {
        reply_error(req, 403, "Forbidden", "Sign-in from another origin is refused.");
        return;
    }
    const char *akid = url_query_get(req->arena, req->body, "access_key", NULL);
    const char *secret = url_query_get(req->arena, req->body, "secret", NULL);
    bool ok = akid && secret && hy_cfg.access_key_id && hy_cfg.secret_access_key &&
              strlen(akid) == strlen(hy_cfg.access_key_id) &&
              strlen(secret) == strlen(hy_cfg.secret_access_key) &&
              CRYPTO_memcmp(akid, hy_cfg.access_key_id, strlen(akid)) == 0 &&
              CRYPTO_memcmp(secret, hy_cfg.secret_access_key, strlen(secret)) == 0;
    if (!ok) {
        log_info("console", "sign-in refused for key %.32s from %s", akid ? akid : "-",
                 req->remote_addr ? req->remote_addr : "?");
        reply_error(req, 401, "InvalidCredentials",
                    "The access key ID or secret access key is not valid.");
        return;
    }
    struct session s;
    if (session_open(akid, secret, &s) != HY_OK) {
        reply_error(req, 500, "InternalError", "cannot open a session");
        return;
    }
    char cookie[200];
    snprintf(cookie, sizeof cookie, COOKIE_NAME "=%s; Path=" CONSOLE_PREFIX
             "; HttpOnly; SameSite=Strict; Max-Age=%lld%s", s.id,
             (long long)(CONSOLE_SESSION_MS / 1000), req->tls ? "; Secure" : "");
    http_add_header(req, "Set-Cookie", cookie);
    log_info("console", "signed in: key %s from %s", s.akid,
             req->remote_addr ? req->remote_addr : "?");
    reply_json(req, 200, json_pack("{s:s, s:s, s:s, s:s}", "csrf", s.csrf, "accessKeyId",
                                   s.akid, "account", HY_ACCOUNT_ID, "region",
                                   hy_cfg.region ? hy_cfg.region : "us-east-1"));
    OPENSSL_cleanse(&s, sizeof s);
}

/* The session of a write: the cookie's, and the X-CSRF-Token it was
 * given. false after answering. */
static bool write_session(struct http_req *req, struct session *s)
{
    if (session_of(req, s) != HY_OK) {
        reply_error(req, 401, "SignInRequired", "Sign in first.");
        return false;
    }
    const char *tok = http_header(req, "X-CSRF-Token");
    if (!tok || strlen(tok) != 64 || CRYPTO_memcmp(tok, s->csrf, 64) != 0 ||
        !same_origin(req)) {
        OPENSSL_cleanse(s, sizeof *s);
        log_info("console", "refused a write without its CSRF token from %s",
                 req->remote_addr ? req->remote_addr : "?");
        reply_error(req, 403, "Forbidden", "A console write needs its CSRF token.");
        return false;
    }
    return true;
}

static void call(struct http_req *req)
{
    struct session s;
    if (!write_session(req, &s))
        return;
    struct job *j = calloc(1, sizeof *j);
    char why[200];
    int rc = j ? console_call_parse(req->body, req->body_len, &j->call, why, sizeof why)
               : HY_ENOMEM;
    if (rc) {
        free(j);
        OPENSSL_cleanse(&s, sizeof s);
        if (rc == HY_ENOMEM)
            reply_error(req, 500, "InternalError", "out of memory");
        else
            reply_error(req, 400, "BadCall", why);
        return;
    }
    j->req = req;
    j->sess = s;
    OPENSSL_cleanse(&s, sizeof s);
    if (enqueue(j) != HY_OK) {
        console_call_free(&j->call);
        OPENSSL_cleanse(&j->sess, sizeof j->sess);
        free(j);
        reply_error(req, 503, "Unavailable", "The console is stopping.");
    }
    /* answered by a worker */
}

static void download(struct http_req *req)
{
    struct session s;
    if (session_of(req, &s) != HY_OK) {
        reply_error(req, 401, "SignInRequired", "Sign in first.");
        return;
    }
    const char *bucket = http_query_get(req, "bucket"), *key = http_query_get(req, "key");
    struct job *j = calloc(1, sizeof *j);
    struct buf path;
    buf_init(&path, 4096);
    int rc = j && bucket && key && *bucket && *key && s3_bucket_name_plain(bucket) &&
                     buf_printf(&path, "/%s/", bucket) == HY_OK &&
                     url_encode(&path, key, strlen(key), true) == HY_OK
                 ? HY_OK : HY_EINVAL;
    if (rc == HY_OK) {
        snprintf(j->call.service, sizeof j->call.service, "s3");
        snprintf(j->call.method, sizeof j->call.method, "GET");
        j->call.path = buf_detach(&path, NULL);
        j->call.query = strdup("");
        j->call.target = strdup("");
        j->call.content_type = strdup("");
        j->call.body = strdup("");
        if (!j->call.path || !j->call.query || !j->call.target || !j->call.content_type ||
            !j->call.body)
            rc = HY_ENOMEM;
        const char *base = strrchr(key, '/') ? strrchr(key, '/') + 1 : key;
        size_t k = 0;
        for (const char *p = base; *p && k < sizeof j->filename - 1; p++)
            j->filename[k++] = (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) ? '_' : *p;
        j->download = true;
        j->sess = s;
    }
    buf_free(&path);
    OPENSSL_cleanse(&s, sizeof s);
    if (rc == HY_OK && enqueue(j) == HY_OK)
        return;
    if (j) {
        console_call_free(&j->call);
        OPENSSL_cleanse(&j->sess, sizeof j->sess);
        free(j);
    }
    reply_error(req, 400, "BadRequest", "download needs bucket and key");
}

bool s3_bucket_name_plain(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return false;
    for (const char *p = b; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
            return false;
    return true;
}

void console_handle(struct http_req *req)
{
    const char *path = req->path;
    size_t pl = strlen(CONSOLE_PREFIX);
    if (strncmp(path, CONSOLE_PREFIX, pl) != 0) {
        if (strcmp(req->method, "GET") != 0) {
            reply_error(req, 404, "NotFound", "No such console endpoint.");
            return;
        }
        /* "/_hydrant/console": the page is one slash further */
        http_add_header(req, "Location", CONSOLE_PREFIX);
        http_reply(req, 302, "text/plain", "", 0);
        return;
    }
    const char *rest = path + pl;
    bool post = strcmp(req->method, "POST") == 0;
    if (post && strcmp(rest, "api/login") == 0)
        login(req);
    else if (post && strcmp(rest, "api/logout") == 0) {
        struct session s;
        if (write_session(req, &s)) {
            session_close(s.id);
            OPENSSL_cleanse(&s, sizeof s);
            http_add_header(req, "Set-Cookie", COOKIE_NAME "=; Path=" CONSOLE_PREFIX
                            "; HttpOnly; SameSite=Strict; Max-Age=0");
            reply_json(req, 200, json_pack("{s:b}", "signedOut", 1));
        }
    } else if (post && strcmp(rest, "api/call") == 0)
        call(req);
    else if (!post && strcmp(rest, "api/session") == 0) {
        struct session s;
        if (session_of(req, &s) != HY_OK) {
            reply_error(req, 401, "SignInRequired", "Sign in first.");
            return;
        }
        /* the page reloaded: it gets its token again from the cookie's session */
        reply_json(req, 200, json_pack("{s:s, s:s, s:s, s:s}", "csrf", s.csrf, "accessKeyId",
                                       s.akid, "account", HY_ACCOUNT_ID, "region",
                                       hy_cfg.region ? hy_cfg.region : "us-east-1"));
        OPENSSL_cleanse(&s, sizeof s);
    } else if (!post && strcmp(rest, "api/download") == 0)
        download(req);
    else if (post)
        reply_error(req, 404, "NotFound", "No such console endpoint.");
    else
        serve_file(req, *rest ? rest : "index.html");
}
