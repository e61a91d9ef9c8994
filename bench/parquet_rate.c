/* parquet_rate.c -- record format conversion throughput: JSON MB/s in and
 * records/s through format_convert (format.c + parquet.c), one thread, for
 * the lesson's telematics records and a wide record with every Hive type,
 * per Parquet codec; and, for the ratio, the same records delivered
 * without conversion (concatenated as delivery does, and GZIP-compressed
 * as a typical non-converting stream does).
 *
 *   build/parquet_rate [MB of JSON per run, default 64] [runs, default 3]
 *
 * Prints one line per case (the best of the runs); never a pass/fail.
 */
#include "compress.h"
#include "format.h"
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hy_config hy_cfg;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int make_batch(struct pl_batch *b, size_t mb, bool wide)
{
    char rec[1024];
    struct pl_rec like = {0};
    size_t target = mb << 20, total = 0;
    pl_batch_init(b, target + (1u << 20));
    for (uint32_t i = 0; total < target; i++) {
        int n;
        if (wide)
            n = snprintf(rec, sizeof rec,
                         "{\"s\":\"event-%u\",\"c\":\"abc\",\"v\":\"v%u\",\"b\":%s,\"ti\":%d,"
                         "\"si\":%d,\"i\":%d,\"bi\":%llu,\"f\":%.3f,\"d\":%.6f,"
                         "\"dec\":\"%u.%02u\",\"dt\":\"2026-08-%02u\",\"ts\":%llu,"
                         "\"bin\":\"b%u\",\"st\":{\"x\":%u,\"y\":[\"a\",\"b\"]},"
                         "\"arr\":[{\"k\":\"p\",\"v\":1.5}],\"m\":{\"k1\":%u}}\n",
                         i % 1000, i % 7, i & 1 ? "true" : "false", (int)(i % 256) - 128,
                         (int)(i % 60000) - 30000, (int)next(), (unsigned long long)(next() >> 1),
                         (double)(next() % 100000) / 7.0, (double)(next() % 1000000) / 3.0,
                         i % 100000, i % 100, 1 + i % 28,
                         1786000000000ull + i * 250ull, i % 50, i % 10, i % 99);
        else
            n = snprintf(rec, sizeof rec,
                         "{\"vehicle_id\":\"truck-%03u\",\"lat\":%.6f,\"lon\":%.6f,"
                         "\"speed\":%.1f,\"timestamp\":\"2026-08-22T14:%02u:%02u.%03uZ\"}\n",
                         (unsigned)(next() % 200), 52.0 + (double)(next() % 1000000) / 1e6,
                         13.0 + (double)(next() % 1000000) / 1e6,
                         (double)(next() % 1300) / 10.0, (i / 60000) % 60, (i / 1000) % 60,
                         i % 1000);
        like.src = i;
        if (pl_add(b, b, &like, rec, (size_t)n))
            return 1;
        total += (size_t)n;
    }
    return 0;
}

static void run_case(const char *name, const char *schema_s, struct pl_batch *b, int codec,
                     bool dict, int writer, int runs)
{
    char msg[256];
    struct glue_type top;
    if (glue_type_parse(schema_s, &top, msg, sizeof msg)) {
        fprintf(stderr, "schema: %s\n", msg);
        exit(1);
    }
    struct glue_schema s = {.ncols = top.nchild, .cols = top.child};
    struct format_params p = {.case_insensitive = true};
    p.pq = (struct pq_options){.codec = codec, .writer_version = writer, .dictionary = dict,
                               .block_size = 256u << 20, .page_size = 1u << 20};
    double best = 1e9;
    size_t out_len = 0;
    uint64_t rows = 0;
    for (int r = 0; r < runs; r++) {
        struct buf out;
        struct pl_batch fails;
        buf_init(&out, 1u << 30);
        pl_batch_init(&fails, 1u << 30);
        double t0 = now_s();
        if (format_convert(&s, &p, b, &out, &fails, &rows)) {
            fprintf(stderr, "convert failed\n");
            exit(1);
        }
        double t = now_s() - t0;
        if (t < best)
            best = t;
        out_len = out.len;
        if (fails.nfail) {
            fprintf(stderr, "%zu records failed\n", fails.nfail);
            exit(1);
        }
        buf_free(&out);
        pl_batch_free(&fails);
    }
    double mb = (double)b->data.len / 1e6;
    printf("%-34s %8.1f MB/s JSON  %10.0f records/s  %6.1f MB -> %6.1f MB parquet\n", name,
           mb / best, (double)rows / best, mb, (double)out_len / 1e6);
    glue_type_free(&top);
}

static void run_plain(const char *name, struct pl_batch *b, bool gzip, int runs)
{
    double best = 1e9;
    size_t len = 0;
    for (int r = 0; r < runs; r++) {
        struct buf obj, z;
        buf_init(&obj, 1u << 30);
        buf_init(&z, 1u << 30);
        double t0 = now_s();
        const struct pl_rec *recs = pl_recs(b);
        for (size_t i = 0; i < b->n; i++)
            if (buf_append(&obj, pl_data(b, &recs[i]), recs[i].len))
                exit(1);
        if (gzip && compress_gzip(obj.data, obj.len, &z))
            exit(1);
        double t = now_s() - t0;
        if (t < best)
            best = t;
        len = gzip ? z.len : obj.len;
        buf_free(&obj);
        buf_free(&z);
    }
    double mb = (double)b->data.len / 1e6;
    printf("%-34s %8.1f MB/s JSON  %10.0f records/s  %6.1f MB -> %6.1f MB object\n", name,
           mb / best, (double)b->n / best, mb, (double)len / 1e6);
}

int main(int argc, char **argv)
{
    size_t mb = argc > 1 ? (size_t)atoi(argv[1]) : 64;
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    static const char tel[] =
        "struct<vehicle_id:string,lat:double,lon:double,speed:float,timestamp:timestamp>";
    static const char wide[] =
        "struct<s:string,c:char(3),v:varchar(4),b:boolean,ti:tinyint,si:smallint,i:int,"
        "bi:bigint,f:float,d:double,dec:decimal(10,2),dt:date,ts:timestamp,bin:binary,"
        "st:struct<x:int,y:array<string>>,arr:array<struct<k:string,v:double>>,"
        "m:map<string,int>>";
    hy_log_level = HY_LOG_ERROR;
    struct pl_batch t, w;
    if (make_batch(&t, mb, false) || make_batch(&w, mb, true))
        return 1;
    printf("record format conversion, one thread, %zu MB of JSON per run, best of %d\n", mb,
           runs);
    run_case("telematics SNAPPY V1", tel, &t, PQ_SNAPPY, false, 1, runs);
    run_case("telematics SNAPPY V1 dictionary", tel, &t, PQ_SNAPPY, true, 1, runs);
    run_case("telematics UNCOMPRESSED V2", tel, &t, PQ_UNCOMPRESSED, false, 2, runs);
    run_case("telematics GZIP V1", tel, &t, PQ_GZIP, false, 1, runs);
    run_plain("telematics no conversion (concat)", &t, false, runs);
    run_plain("telematics no conversion, GZIP", &t, true, runs);
    run_case("wide SNAPPY V1", wide, &w, PQ_SNAPPY, false, 1, runs);
    run_case("wide SNAPPY V2 dictionary", wide, &w, PQ_SNAPPY, true, 2, runs);
    run_case("wide GZIP V1", wide, &w, PQ_GZIP, false, 1, runs);
    run_plain("wide no conversion (concat)", &w, false, runs);
    run_plain("wide no conversion, GZIP", &w, true, runs);
    pl_batch_free(&t);
    pl_batch_free(&w);
    return 0;
}
