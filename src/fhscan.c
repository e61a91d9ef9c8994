/* fhscan.c -- schema-specific scanner for PutRecord / PutRecordBatch bodies.
 *
 * Purpose: the two hot requests spent most of their CPU in jansson
 * (docs/perf/HISTORY.md: 66% of a 4 MiB batch, 34% of 500 x 100 B), which
 * builds a tree of 500 objects and strings only for firehose.c to walk it
 * and malloc + decode each Data. This file reads the one shape clients
 * send,
 *
 *     {"DeliveryStreamName":"s","Record":{"Data":"<base64>"}}
 *     {"DeliveryStreamName":"s","Records":[{"Data":"<base64>"},...]}
 *
 * in one pass and decodes each Data straight into one buffer.
 *
 * Design:
 * - Accept exactly, refuse the rest: members in any order, JSON
 *   whitespace (space, tab, CR, LF) anywhere jansson allows it. Everything
 *   else is FHSCAN_FALLBACK: an unknown, missing or repeated member, a
 *   null or a wrong type, any backslash in a string (so no escape needs
 *   decoding: base64 and stream names never need one), a stream name
 *   outside [A-Za-z0-9_.-]{1,64}, Data that util.c's base64_decode refuses,
 *   0 or more than 500 records, a record over 1,024,000 bytes, more than
 *   4 MiB in all (or more than firehose.c's estimate from the encoded
 *   sizes allows), bytes after the object. firehose.c then takes the
 *   jansson path, which produces every AWS error in its exact words, so
 *   the scanner never needs to word one.
 * - Equivalence: whatever this accepts, json_loadb + firehose.c's
 *   validation accepts with the same name and the same decoded bytes
 *   (tests/fuzz/fuzz_fhscan.c checks it). The decode is base64_decode
 *   itself, so padding and alphabet rules cannot drift apart.
 * - Memory: one malloc of body_len / 4 * 3 + 3 bytes up front, a bound on
 *   the decoded bytes of any body (every decoded 3 bytes need 4 body
 *   bytes), so the buffer never moves and records are (offset, length).
 *
 * Threading: no shared state (base64_decode's table is initialised
 * idempotently); one struct fhscan per call, owned by the caller.
 */
#include "fhscan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fhscan_cur {
    const char *p, *end;
};

static void fhscan_ws(struct fhscan_cur *k)
{
    while (k->p < k->end &&
           (*k->p == ' ' || *k->p == '\t' || *k->p == '\n' || *k->p == '\r'))
        k->p++;
}

/* Consumes c (after whitespace). */
static bool fhscan_eat(struct fhscan_cur *k, char c)
{
    fhscan_ws(k);
    if (k->p < k->end && *k->p == c) {
        k->p++;
        return true;
    }
    return false;
}

/* A string without any backslash: *s, *n point into the body. */
static bool fhscan_string(struct fhscan_cur *k, const char **s, size_t *n)
{
    if (!fhscan_eat(k, '"'))
        return false;
    const char *q = memchr(k->p, '"', (size_t)(k->end - k->p));
    if (!q || memchr(k->p, '\\', (size_t)(q - k->p)))
        return false;
    *s = k->p;
    *n = (size_t)(q - k->p);
    k->p = q + 1;
    return true;
}

static bool fhscan_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && !memcmp(s, lit, n);
}

/* firehose.c's S_NAME: 1..64 characters of [a-zA-Z0-9_.-]. */
static bool fhscan_name_ok(const char *s, size_t n)
{
    if (n < 1 || n > FHSCAN_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* {"Data":"<base64>"}: decodes to s->data + s->total as record s->n. */
static bool fhscan_record(struct fhscan *s, struct fhscan_cur *k)
{
    const char *key, *b64;
    size_t key_len, b64_len;

    if (s->n >= FHSCAN_MAX_RECORDS || !fhscan_eat(k, '{') || !fhscan_string(k, &key, &key_len) ||
        !fhscan_is(key, key_len, "Data") || !fhscan_eat(k, ':') ||
        !fhscan_string(k, &b64, &b64_len) || !fhscan_eat(k, '}'))
        return false;
    /* firehose.c first bounds a batch by the encoded sizes, padding
     * included ("QQ=====" counts more than it decodes to) */
    s->estimate += b64_len / 4 * 3 + (b64_len % 4 ? b64_len % 4 - 1 : 0);
    long got = base64_decode(s->data + s->total, b64, b64_len);
    if (got < 0 || (size_t)got > FHSCAN_MAX_RECORD)
        return false;
    s->off[s->n] = s->total;
    s->len[s->n] = (size_t)got;
    s->n++;
    s->total += (size_t)got;
    return true;
}

static bool fhscan_records(struct fhscan *s, struct fhscan_cur *k)
{
    if (!fhscan_eat(k, '['))
        return false;
    do {
        if (!fhscan_record(s, k))
            return false;
    } while (fhscan_eat(k, ','));
    return fhscan_eat(k, ']');
}

int fhscan_put(struct fhscan *s, const char *body, size_t len, bool batch)
{
    struct fhscan_cur k = {body, body + len};
    bool have_name = false, have_records = false;
    const char *key, *val;
    size_t key_len, val_len;

    s->n = 0;
    s->total = 0;
    s->estimate = 0;
    s->name[0] = 0;
    /* at most 3 bytes per 4 body bytes, plus a partial quantum */
    if (!(s->data = malloc(len / 4 * 3 + 3)))
        return HY_ENOMEM;
    if (!fhscan_eat(&k, '{'))
        goto out_fallback;
    do {
        if (!fhscan_string(&k, &key, &key_len) || !fhscan_eat(&k, ':'))
            goto out_fallback;
        if (fhscan_is(key, key_len, "DeliveryStreamName")) {
            if (have_name || !fhscan_string(&k, &val, &val_len) || !fhscan_name_ok(val, val_len))
                goto out_fallback;
            memcpy(s->name, val, val_len);
            s->name[val_len] = 0;
            have_name = true;
        } else if (fhscan_is(key, key_len, batch ? "Records" : "Record")) {
            if (have_records || !(batch ? fhscan_records(s, &k) : fhscan_record(s, &k)))
                goto out_fallback;
            have_records = true;
        } else {
            goto out_fallback;
        }
    } while (fhscan_eat(&k, ','));
    if (!fhscan_eat(&k, '}'))
        goto out_fallback;
    fhscan_ws(&k);
    if (k.p != k.end || !have_name || !have_records || s->total > FHSCAN_MAX_BATCH ||
        (batch && s->estimate > (size_t)FHSCAN_MAX_BATCH + 3 * s->n))
        goto out_fallback;
    return HY_OK;
out_fallback:
    fhscan_free(s);
    return FHSCAN_FALLBACK;
}

void fhscan_free(struct fhscan *s)
{
    free(s->data);
    s->data = NULL;
    s->n = 0;
    s->total = 0;
}
