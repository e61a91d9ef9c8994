/* producer.c -- a complete libhydrant program: put numbered records into a
 * delivery stream, with a spool that keeps them through outages, crashes
 * and power loss, and say what happened to each.
 *
 *   make                       builds build/example-producer
 *   build/example-producer --stream gps-delivery-stream --count 1000
 *
 * Records are text lines "<stream> <number> <padding>\n", numbered from
 * --start, so a reader of the delivered objects can check that every one
 * arrived. With --print-puts, "put <number>" goes to stdout (flushed)
 * once hydrant_put returned HYDRANT_OK for it: with the default spool
 * setting (sync on every put) each such record is on disk by then, and
 * the test suite kills this program (kill -9, or a simulated power cut)
 * at random points and checks that every printed record is delivered.
 *
 * Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (default
 * test/test, hydrant's development pair). The spool defaults to
 * $TMPDIR/hydrant-producer-spool (/tmp when TMPDIR is unset): no root
 * needed.
 *
 * Exit status: 0 everything acknowledged; 3 records left in the spool for
 * the next run (endpoint away); 4 records dropped for good (see the
 * on_drop lines on stderr) or lost; 1 an error; 2 bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, getopt_long under -std=c11 */
#endif
#include "hydrant.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: example-producer [options]\n"
            "  --endpoint URL     Firehose endpoint (default http://127.0.0.1:4566)\n"
            "  --region NAME      SigV4 region (default us-east-1)\n"
            "  --stream NAME      delivery stream (default example-stream)\n"
            "  --count N          records to put (default 10; 0: only send what the\n"
            "                     spool holds)\n"
            "  --start N          number of the first record (default 1)\n"
            "  --size BYTES       length of each record, padded (default 64)\n"
            "  --batch N          put N records per hydrant_put_batch call (default 1:\n"
            "                     hydrant_put)\n"
            "  --spool DIR        spool directory (default $TMPDIR/hydrant-producer-spool)\n"
            "  --sync MODE        put (default), interval or idle: when the spool is\n"
            "                     fdatasynced (docs/LIBHYDRANT.md, Spool durability)\n"
            "  --sync-ms N        the interval of --sync interval (default 1000)\n"
            "  --close-ms N       how long close waits for acknowledgements (default 10000)\n"
            "  --print-puts       print \"put N\" once record N's put returned\n"
            "  --help             this text\n");
}

/* on_drop: the service refused a record for good; say which and why */
static void on_drop(const char *stream, const void *data, size_t len, const char *code,
                    const char *message, void *ctx)
{
    unsigned long *ndropped = ctx;
    (*ndropped)++;
    int n = (int)(len > 40 ? 40 : len);
    fprintf(stderr, "dropped: %s: %s: %s (record \"%.*s...\")\n", stream, code, message, n,
            (const char *)data);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"endpoint", required_argument, 0, 'e'}, {"region", required_argument, 0, 'r'},
        {"stream", required_argument, 0, 's'},   {"count", required_argument, 0, 'n'},
        {"start", required_argument, 0, 'a'},    {"size", required_argument, 0, 'z'},
        {"batch", required_argument, 0, 'b'},    {"spool", required_argument, 0, 'd'},
        {"sync", required_argument, 0, 'y'},     {"sync-ms", required_argument, 0, 'm'},
        {"close-ms", required_argument, 0, 'c'}, {"print-puts", no_argument, 0, 'p'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0},
    };
    const char *stream = "example-stream", *spool = NULL;
    unsigned long long count = 10, start = 1;
    size_t size = 64, batch = 1;
    unsigned close_ms = 10000;
    int print_puts = 0, c, status = 0;
    unsigned long ndropped = 0;
    char spool_buf[4096];
    struct hydrant_config cfg;

    hydrant_config_init(&cfg);
    cfg.endpoint = "http://127.0.0.1:4566";
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'e': cfg.endpoint = optarg; break;
        case 'r': cfg.region = optarg; break;
        case 's': stream = optarg; break;
        case 'n': count = strtoull(optarg, NULL, 10); break;
        case 'a': start = strtoull(optarg, NULL, 10); break;
        case 'z': size = strtoul(optarg, NULL, 10); break;
        case 'b': batch = strtoul(optarg, NULL, 10); break;
        case 'd': spool = optarg; break;
        case 'y':
            if (!strcmp(optarg, "put")) cfg.spool_sync = HYDRANT_SYNC_PUT;
            else if (!strcmp(optarg, "interval")) cfg.spool_sync = HYDRANT_SYNC_INTERVAL;
            else if (!strcmp(optarg, "idle")) cfg.spool_sync = HYDRANT_SYNC_IDLE;
            else {
                fprintf(stderr, "example-producer: --sync is put, interval or idle\n");
                return 2;
            }
            break;
        case 'm': cfg.spool_sync_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'c': close_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'p': print_puts = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (size < 32 || size > HYDRANT_MAX_RECORD_BYTES || batch < 1 || batch > 500) {
        fprintf(stderr, "example-producer: --size is 32..%u, --batch 1..500\n",
                HYDRANT_MAX_RECORD_BYTES);
        return 2;
    }
    if (!spool) {
        const char *tmp = getenv("TMPDIR");
        snprintf(spool_buf, sizeof spool_buf, "%s/hydrant-producer-spool",
                 tmp && *tmp ? tmp : "/tmp");
        spool = spool_buf;
    }
    cfg.access_key_id = getenv("AWS_ACCESS_KEY_ID") ? getenv("AWS_ACCESS_KEY_ID") : "test";
    cfg.secret_access_key =
        getenv("AWS_SECRET_ACCESS_KEY") ? getenv("AWS_SECRET_ACCESS_KEY") : "test";
    cfg.spool_dir = spool;
    cfg.backoff_max_ms = 2000; /* an example: come back quickly */
    cfg.on_drop = on_drop;
    cfg.on_drop_ctx = &ndropped;

    hydrant_producer *p;
    int rc = hydrant_producer_new(&cfg, &p);
    if (rc != HYDRANT_OK) {
        fprintf(stderr, "example-producer: %s\n", hydrant_strerror(rc));
        return 1;
    }

    char *recs = malloc(batch * size);
    const void **data = malloc(batch * sizeof *data);
    size_t *lens = malloc(batch * sizeof *lens);
    if (!recs || !data || !lens) {
        fprintf(stderr, "example-producer: out of memory\n");
        status = 1;
        goto out_close;
    }
    double t0 = now_s();
    unsigned long long done = 0;
    while (done < count) {
        size_t n = count - done < batch ? (size_t)(count - done) : batch;
        for (size_t i = 0; i < n; i++) {
            char *r = recs + i * size;
            int k = snprintf(r, size, "%s %010llu ", stream, start + done + i);
            memset(r + k, 'x', size - (size_t)k - 1);
            r[size - 1] = '\n';
            data[i] = r;
            lens[i] = size;
        }
        size_t taken = 0;
        if (batch == 1) {
            rc = hydrant_put(p, stream, data[0], lens[0]);
            taken = rc == HYDRANT_OK;
        } else {
            rc = hydrant_put_batch(p, stream, data, lens, n, &taken);
        }
        if (print_puts) {
            for (size_t i = 0; i < taken; i++)
                printf("put %llu\n", start + done + i);
            fflush(stdout);
        }
        done += taken;
        if (rc != HYDRANT_OK) {
            fprintf(stderr, "example-producer: put %llu: %s\n", start + done,
                    hydrant_strerror(rc));
            status = 1;
            break;
        }
    }
    double dt = now_s() - t0;
    fprintf(stderr, "put %llu records of %zu bytes in %.3f s: %.0f puts/s\n", done, size, dt,
            dt > 0 ? (double)done / dt : 0.0);

out_close:
    free(recs);
    free(data);
    free(lens);
    uint64_t dropped = 0;
    struct hydrant_stats st;
    hydrant_stats(p, &st);
    rc = hydrant_close(p, close_ms, &dropped);
    fprintf(stderr, "close: %s (%llu dropped; acked %llu, spooled %llu)%s%s\n",
            hydrant_strerror(rc), (unsigned long long)dropped, (unsigned long long)st.acked,
            (unsigned long long)st.spooled, st.last_error[0] ? "; last error: " : "",
            st.last_error);
    if (status)
        return status;
    switch (rc) {
    case HYDRANT_OK: return 0;
    case HYDRANT_ETIMEDOUT: return 3;
    case HYDRANT_EDROPPED:
    case HYDRANT_ELOST: return 4;
    default: return 1;
    }
}
