/* wire.c -- what libhydrant puts on the wire and reads back.
 *
 * Purpose: the PutRecordBatch request body (JSON 1.1, record data in
 * base64) and the parsing of the two answers that matter: the batch result
 * (FailedPutCount, RequestResponses with RecordId or ErrorCode per record,
 * in the order sent) and an error ({"__type": ..., "message": ...}).
 *
 * Design: the library depends on libcurl and OpenSSL only, so there is no
 * JSON library; the answers have a fixed, shallow shape, read by a small
 * bounded cursor parser (depth ceiling, strings copied with truncation
 * into caller buffers). Anything unexpected is HYDRANT_EINVAL and the
 * caller treats the batch as not acknowledged (it is sent again).
 *
 * Threading: pure functions, no state.
 */
#include "client.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 32

struct hydrant__rec *hydrant__rec_new(const void *data, size_t len)
{
    struct hydrant__rec *r = malloc(sizeof *r + len);
    if (!r)
        return NULL;
    r->next = NULL;
    r->len = (uint32_t)len;
    memcpy(r->data, data, len);
    return r;
}

int hydrant__wire_batch_body(const char *stream, struct hydrant__rec *const *recs, size_t n,
                             char **body, size_t *len)
{
    static const char head[] = "{\"DeliveryStreamName\":\"";
    static const char mid[] = "\",\"Records\":[";
    size_t cap = sizeof head + strlen(stream) + sizeof mid + 4, i, at;
    char *out;

    for (i = 0; i < n; i++)
        cap += 4 * ((recs[i]->len + 2) / 3) + sizeof "{\"Data\":\"\"},";
    if (!(out = malloc(cap)))
        return HYDRANT_ENOMEM;
    /* stream names are [a-zA-Z0-9_.-] (checked by hydrant_put): no escaping */
    at = (size_t)snprintf(out, cap, "%s%s%s", head, stream, mid);
    for (i = 0; i < n; i++) {
        memcpy(out + at, i ? ",{\"Data\":\"" : "{\"Data\":\"", i ? 10 : 9);
        at += i ? 10 : 9;
        at += (size_t)EVP_EncodeBlock((unsigned char *)out + at, recs[i]->data, (int)recs[i]->len);
        memcpy(out + at, "\"}", 2);
        at += 2;
    }
    memcpy(out + at, "]}", 3);
    at += 2;
    *body = out;
    *len = at;
    return HYDRANT_OK;
}

void hydrant__wire_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    unsigned int md_len = 0;
    EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

/* ---- a bounded cursor JSON reader --------------------------------------- */

struct jcur {
    const char *p, *end;
    int depth;
};

static void j_ws(struct jcur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool j_lit(struct jcur *c, char ch)
{
    j_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* A string; copied (truncated, NUL-terminated) into out when out != NULL.
 * \u escapes outside ASCII become '?': only codes and messages are read. */
static bool j_string(struct jcur *c, char *out, size_t cap)
{
    size_t n = 0;
    if (!j_lit(c, '"'))
        return false;
    while (c->p < c->end && *c->p != '"') {
        char ch = *c->p++;
        if ((unsigned char)ch < 0x20)
            return false;
        if (ch == '\\') {
            if (c->p >= c->end)
                return false;
            ch = *c->p++;
            switch (ch) {
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            case '"': case '\\': case '/': break;
            case 'u': {
                int v = 0;
                for (int k = 0; k < 4; k++) {
                    int h = c->p < c->end ? hexval(*c->p++) : -1;
                    if (h < 0)
                        return false;
                    v = v * 16 + h;
                }
                ch = v < 0x80 ? (char)v : '?';
                break;
            }
            default:
                return false;
            }
        }
        if (out && n + 1 < cap)
            out[n++] = ch;
    }
    if (out && cap)
        out[n] = '\0';
    return c->p < c->end && *c->p++ == '"';
}

static bool j_number(struct jcur *c, long long *v)
{
    char *endp;
    char tmp[32];
    size_t n = 0;
    j_ws(c);
    while (c->p + n < c->end && n < sizeof tmp - 1 && strchr("+-0123456789.eE", c->p[n]))
        n++;
    if (!n)
        return false;
    memcpy(tmp, c->p, n);
    tmp[n] = '\0';
    *v = strtoll(tmp, &endp, 10);
    c->p += n;
    return endp != tmp;
}

static bool j_skip(struct jcur *c)
{
    long long ignored;
    j_ws(c);
    if (c->p >= c->end)
        return false;
    switch (*c->p) {
    case '"':
        return j_string(c, NULL, 0);
    case '{':
    case '[': {
        char close = *c->p == '{' ? '}' : ']';
        bool object = *c->p == '{';
        if (++c->depth > JSON_MAX_DEPTH)
            return false;
        c->p++;
        if (j_lit(c, close)) {
            c->depth--;
            return true;
        }
        do {
            if (object && (!j_string(c, NULL, 0) || !j_lit(c, ':')))
                return false;
            if (!j_skip(c))
                return false;
        } while (j_lit(c, ','));
        c->depth--;
        return j_lit(c, close);
    }
    case 't':
    case 'f':
    case 'n': {
        const char *w = *c->p == 't' ? "true" : *c->p == 'f' ? "false" : "null";
        size_t wl = strlen(w);
        if ((size_t)(c->end - c->p) < wl || memcmp(c->p, w, wl))
            return false;
        c->p += wl;
        return true;
    }
    default:
        return j_number(c, &ignored);
    }
}

/* One entry of RequestResponses. */
static bool parse_entry(struct jcur *c, struct hydrant__rec_result *r)
{
    char key[32];
    memset(r, 0, sizeof *r);
    if (!j_lit(c, '{'))
        return false;
    if (j_lit(c, '}'))
        return true;
    do {
        if (!j_string(c, key, sizeof key) || !j_lit(c, ':'))
            return false;
        if (!strcmp(key, "ErrorCode")) {
            if (!j_string(c, r->code, sizeof r->code))
                return false;
        } else if (!strcmp(key, "ErrorMessage")) {
            if (!j_string(c, r->message, sizeof r->message))
                return false;
        } else if (!j_skip(c)) {
            return false;
        }
    } while (j_lit(c, ','));
    r->failed = r->code[0] != '\0';
    return j_lit(c, '}');
}

int hydrant__wire_parse_batch(const char *body, size_t len, size_t n,
                              struct hydrant__rec_result *results, size_t *failed)
{
    struct jcur c = {body, body + len, 0};
    char key[32];
    size_t seen = 0, nfailed = 0;
    long long reported = -1;
    bool have_responses = false;

    if (!body || !j_lit(&c, '{'))
        return HYDRANT_EINVAL;
    if (!j_lit(&c, '}')) {
        do {
            if (!j_string(&c, key, sizeof key) || !j_lit(&c, ':'))
                return HYDRANT_EINVAL;
            if (!strcmp(key, "FailedPutCount")) {
                if (!j_number(&c, &reported))
                    return HYDRANT_EINVAL;
            } else if (!strcmp(key, "RequestResponses")) {
                have_responses = true;
                if (!j_lit(&c, '['))
                    return HYDRANT_EINVAL;
                if (!j_lit(&c, ']')) {
                    do {
                        if (seen >= n || !parse_entry(&c, &results[seen]))
                            return HYDRANT_EINVAL;
                        nfailed += results[seen].failed;
                        seen++;
                    } while (j_lit(&c, ','));
                    if (!j_lit(&c, ']'))
                        return HYDRANT_EINVAL;
                }
            } else if (!j_skip(&c)) {
                return HYDRANT_EINVAL;
            }
        } while (j_lit(&c, ','));
        if (!j_lit(&c, '}'))
            return HYDRANT_EINVAL;
    }
    /* one entry per record, and a count that agrees: else nothing is known */
    if (!have_responses || seen != n || reported < 0 || (size_t)reported != nfailed)
        return HYDRANT_EINVAL;
    *failed = nfailed;
    return HYDRANT_OK;
}

void hydrant__wire_parse_error(const char *body, size_t len, char *type, size_t type_cap,
                               char *message, size_t message_cap)
{
    struct jcur c = {body, body + len, 0};
    char key[32];
    if (type_cap)
        type[0] = '\0';
    if (message_cap)
        message[0] = '\0';
    if (!body || !j_lit(&c, '{') || j_lit(&c, '}'))
        return;
    do {
        if (!j_string(&c, key, sizeof key) || !j_lit(&c, ':'))
            return;
        if (!strcmp(key, "__type")) {
            if (!j_string(&c, type, type_cap))
                return;
        } else if (!strcmp(key, "message") || !strcmp(key, "Message")) {
            if (!j_string(&c, message, message_cap))
                return;
        } else if (!j_skip(&c)) {
            return;
        }
    } while (j_lit(&c, ','));
    /* "com.amazonaws.firehose#ServiceUnavailableException" -> the name */
    char *hash = type_cap ? strrchr(type, '#') : NULL;
    if (hash)
        memmove(type, hash + 1, strlen(hash + 1) + 1);
}

bool hydrant__wire_retryable(const char *code)
{
    /* errors about the request itself: sending it again cannot help */
    static const char *const permanent[] = {
        "ValidationException",        "InvalidArgumentException",
        "SerializationException",     "ResourceNotFoundException",
        "InvalidKMSResourceException", "InvalidSourceException",
        "RequestEntityTooLargeException",
    };
    for (size_t i = 0; i < sizeof permanent / sizeof *permanent; i++)
        if (!strcmp(code, permanent[i]))
            return false;
    /* ServiceUnavailableException, InternalFailure, ThrottlingException,
     * credential and signature errors (a clock or key fixed later), and
     * anything unknown: keep the data and try again */
    return true;
}
