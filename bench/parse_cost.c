/* parse_cost.c -- what parsing a PutRecordBatch body costs, by method.
 *
 * Builds the body hydrant-load sends (N records of SIZE bytes, base64 in
 * "Data") and times, single-threaded, in this process:
 *   json_loadb   jansson building the whole tree, as firehose.c does today
 *   scan         finding each "Data" value and base64-decoding it into one
 *                buffer: the least a schema-specific scanner has to do
 * The ratio of the two bounds what a scanner (issue 6's lever) can gain.
 *
 *   parse_cost SIZE N      prints "body_bytes=.. jansson_ms=.. scan_ms=.."
 *
 * Linked against util.o for base64 (the server's own coder).
 */
#include "server.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hy_config hy_cfg; /* util.o refers to it */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: parse_cost SIZE N\n");
        return 2;
    }
    size_t size = strtoull(argv[1], NULL, 10), n = strtoull(argv[2], NULL, 10);
    unsigned char *rec = malloc(size ? size : 1);
    char *b64 = malloc(base64_encoded_len(size) + 1);
    struct buf body;
    if (!rec || !b64 || !size || !n)
        return 1;
    for (size_t i = 0; i < size; i++)
        rec[i] = (unsigned char)('a' + i % 26);
    base64_encode(b64, rec, size);
    size_t b64len = strlen(b64);
    buf_init(&body, (size_t)1 << 30);
    int rc = buf_puts(&body, "{\"DeliveryStreamName\":\"bench\",\"Records\":[");
    for (size_t i = 0; i < n; i++) {
        rc |= buf_puts(&body, i ? ",{\"Data\":\"" : "{\"Data\":\"");
        rc |= buf_append(&body, b64, b64len);
        rc |= buf_puts(&body, "\"}");
    }
    rc |= buf_puts(&body, "]}");
    unsigned char *out = malloc(body.len);
    if (rc || !out)
        return 1;

    int iters = 0;
    double t0 = now_s();
    do {
        json_error_t err;
        json_t *j = json_loadb(body.data, body.len, 0, &err);
        if (!j)
            return 1;
        json_decref(j);
        iters++;
    } while (now_s() - t0 < 0.5 || iters < 3);
    double jansson = (now_s() - t0) / iters;

    iters = 0;
    size_t decoded = 0;
    t0 = now_s();
    do {
        const char *p = body.data, *end = body.data + body.len;
        decoded = 0;
        while ((p = memmem(p, (size_t)(end - p), "\"Data\":\"", 8))) {
            p += 8;
            const char *q = memchr(p, '"', (size_t)(end - p));
            if (!q)
                return 1;
            long got = base64_decode(out + decoded, p, (size_t)(q - p));
            if (got < 0)
                return 1;
            decoded += (size_t)got;
            p = q;
        }
        iters++;
    } while (now_s() - t0 < 0.5 || iters < 3);
    double scan = (now_s() - t0) / iters;
    if (decoded != size * n)
        return 1;
    printf("body_bytes=%zu records=%zu jansson_ms=%.6f jansson_mb_s=%.1f scan_ms=%.6f "
           "scan_mb_s=%.1f\n", body.len, n, jansson * 1e3, body.len / jansson / 1e6,
           scan * 1e3, body.len / scan / 1e6);
    buf_free(&body);
    free(out);
    free(b64);
    free(rec);
    return 0;
}
