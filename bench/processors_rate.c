/* processors_rate.c -- records per second of each processor of
 * src/processors/, on one core, in-process (no HTTP, no disk).
 *
 * MetadataExtraction: 1,000,000 JSON records of ~150 bytes with 100
 * distinct customer_id values, query {customer_id:.customer_id}, run in
 * batches the way delivery.c hands them over (one run() per batch, so one
 * jq compile per batch; the batch size is the first argument, default
 * 100,000 records). The others on records of their own kind:
 * RecordDeAggregation (JSON, 5 objects per record), Decompression (each
 * record gzip'd), CloudWatchLogProcessing (a 10-event DATA_MESSAGE per
 * record, extraction on), AppendDelimiterToRecord (the JSON records).
 *
 * Prints numbers; never passes or fails on them (bench/README rule).
 *   make bench-processors            or   build/bench/processors_rate [batch]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include <jq.h>
#include <jv.h>

#include "pipeline.h"

struct hy_config hy_cfg = {.region = "us-east-1"};

/* CPU time of this thread: "records per second on one core" even when
 * other processes share the machine (wall time is printed beside it) */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ~150-byte JSON record i */
static int json_record(char *out, size_t cap, long i)
{
    return snprintf(out, cap,
                    "{\"customer_id\":\"customer-%03ld\",\"event\":\"page_view\",\"ts\":%ld,"
                    "\"device\":{\"type\":\"mobile\",\"os\":\"android\"},\"url\":\"/p/%06ld\","
                    "\"n\":%ld}",
                    i % 100, 1765000000L + i, i % 1000000, i * 7);
}

static size_t gz(const void *data, size_t len, unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    size_t n = deflate(&z, Z_FINISH) == Z_STREAM_END ? z.total_out : 0;
    deflateEnd(&z);
    return n;
}

typedef int (*make_fn)(char *out, size_t cap, long i);

static int make_json(char *out, size_t cap, long i)
{
    return json_record(out, cap, i);
}

static int make_agg(char *out, size_t cap, long i)
{
    int n = 0;
    for (int k = 0; k < 5; k++)
        n += json_record(out + n, cap - (size_t)n, i * 5 + k);
    return n;
}

static int make_gzip(char *out, size_t cap, long i)
{
    char rec[256];
    int n = json_record(rec, sizeof rec, i);
    return (int)gz(rec, (size_t)n, (unsigned char *)out, cap);
}

static int make_cwl(char *out, size_t cap, long i)
{
    int n = snprintf(out, cap,
                     "{\"messageType\":\"DATA_MESSAGE\",\"owner\":\"111111111111\",\"logGroup\":"
                     "\"/aws/app\",\"logStream\":\"s-%ld\",\"subscriptionFilters\":[\"f\"],"
                     "\"logEvents\":[",
                     i % 10);
    for (int k = 0; k < 10; k++)
        n += snprintf(out + n, cap - (size_t)n,
                      "%s{\"id\":\"%ld\",\"timestamp\":%ld,\"message\":\"GET /p/%ld 200 %d ms\"}",
                      k ? "," : "", i * 10 + k, 1765000000000L + i, i, k);
    n += snprintf(out + n, cap - (size_t)n, "]}");
    return n;
}

/* Runs type over nrec records made by make, in batches; prints the rate. */
static void bench(const char *label, const char *type, const struct pl_param *p, size_t np,
                  make_fn make, long nrec, long batch_size, double *rate_out)
{
    const struct processor *proc = processor_find(type);
    char msg[512];
    if (!proc || proc->check(p, np, msg, sizeof msg) != HY_OK) {
        fprintf(stderr, "%s: bad configuration: %s\n", label, msg);
        exit(1);
    }
    static char rec[8192];
    double busy = 0, wall = 0;
    long done = 0, outputs = 0, fails = 0;
    size_t in_bytes = 0;
    while (done < nrec) {
        long n = nrec - done < batch_size ? nrec - done : batch_size;
        struct pl_batch in, out;
        pl_batch_init(&in, (size_t)1 << 31);
        for (long i = 0; i < n; i++) {
            int len = make(rec, sizeof rec, done + i);
            struct pl_rec like = {.src = (uint32_t)i, .arrival_ms = 1};
            if (len <= 0 || pl_add(&in, &in, &like, rec, (size_t)len) != HY_OK) {
                fprintf(stderr, "%s: cannot build the input\n", label);
                exit(1);
            }
        }
        in_bytes += in.data.len;
        struct pl_ctx ctx = {.source = &in};
        pl_batch_init(&out, (size_t)1 << 31);
        double t0 = cpu_s(), w0 = now_s();
        int rc = proc->run(p, np, &ctx, &in, &out);
        busy += cpu_s() - t0;
        wall += now_s() - w0;
        if (rc != HY_OK) {
            fprintf(stderr, "%s: run: %s\n", label, hy_strerror(rc));
            exit(1);
        }
        outputs += (long)out.n;
        fails += (long)out.nfail;
        pl_batch_free(&in);
        pl_batch_free(&out);
        done += n;
    }
    double rate = (double)nrec / busy;
    printf("%-34s %8ld rec %6.1f B/rec  cpu %7.3f s  wall %7.3f s  %9.0f rec/s  (%ld out, %ld "
           "failed)\n",
           label, nrec, (double)in_bytes / (double)nrec, busy, wall, rate, outputs, fails);
    if (rate_out)
        *rate_out = rate;
}

/* The floor: libjq alone on the same records (parse, start, first
 * output), what MetadataExtraction cannot beat. */
static void jq_floor(long nrec)
{
    jq_state *jq = jq_init();
    if (!jq || !jq_compile(jq, "{customer_id:.customer_id}"))
        exit(1);
    char rec[256];
    double t0 = cpu_s();
    for (long i = 0; i < nrec; i++) {
        int len = json_record(rec, sizeof rec, i);
        jq_start(jq, jv_parse_sized(rec, len), 0);
        jv_free(jq_next(jq));
    }
    double busy = cpu_s() - t0;
    printf("%-34s %8ld rec               cpu %7.3f s                  %9.0f rec/s\n",
           "floor: libjq parse+start+next", nrec, busy, (double)nrec / busy);
    jq_teardown(&jq);
}

int main(int argc, char **argv)
{
    long batch = argc > 1 ? atol(argv[1]) : 100000;
    if (batch < 1)
        batch = 100000;
    hy_log_level = HY_LOG_ERROR;
    printf("processors_rate: one core, batches of %ld records\n", batch);
    struct pl_param mx[] = {{"MetadataExtractionQuery", "{customer_id:.customer_id}"},
                            {"JsonParsingEngine", "JQ-1.6"}};
    struct pl_param mx3[] = {
        {"MetadataExtractionQuery",
         "{customer_id:.customer_id, os:.device.os, day:(.ts|strftime(\"%Y-%m-%d\"))}"},
        {"JsonParsingEngine", "JQ-1.6"}};
    struct pl_param deagg[] = {{"SubRecordType", "JSON"}};
    struct pl_param decomp[] = {{"CompressionFormat", "GZIP"}};
    struct pl_param cwl[] = {{"DataMessageExtraction", "true"}};
    double rate;
    jq_floor(1000000);
    bench("MetadataExtraction (1 key)", "MetadataExtraction", mx, 2, make_json, 1000000, batch,
          &rate);
    bench("MetadataExtraction (3 keys)", "MetadataExtraction", mx3, 2, make_json, 1000000, batch,
          NULL);
    bench("RecordDeAggregation JSON (5/rec)", "RecordDeAggregation", deagg, 1, make_agg, 200000,
          batch, NULL);
    bench("Decompression GZIP", "Decompression", decomp, 1, make_gzip, 1000000, batch, NULL);
    bench("CloudWatchLogProcessing (10 ev)", "CloudWatchLogProcessing", cwl, 1, make_cwl, 200000,
          batch, NULL);
    bench("AppendDelimiterToRecord", "AppendDelimiterToRecord", NULL, 0, make_json, 1000000,
          batch, NULL);
    /* the cost of one jq compile (paid once per run) */
    struct pl_batch one, out;
    char rec[256];
    int len = json_record(rec, sizeof rec, 1);
    pl_batch_init(&one, 1 << 20);
    struct pl_rec like = {0};
    pl_add(&one, &one, &like, rec, (size_t)len);
    struct pl_ctx ctx = {.source = &one};
    double t0 = cpu_s();
    for (int i = 0; i < 200; i++) {
        pl_batch_init(&out, 1 << 20);
        processor_find("MetadataExtraction")->run(mx, 2, &ctx, &one, &out);
        pl_batch_free(&out);
    }
    printf("%-34s %10.2f ms per run() (a batch of one record)\n", "MetadataExtraction compile",
           (cpu_s() - t0) / 200 * 1000);
    pl_batch_free(&one);
    return 0;
}
