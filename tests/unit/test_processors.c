/* test_processors.c -- the processors of src/processors/: the table in
 * AWS's order, and for each type its check() (every AWS parameter, unknown
 * and duplicate names, bad values) and its run(): normal records, each
 * failure path with AWS's output type and hydrant's error code, records
 * passed through with their src, arrival and keys, and the batch ceiling
 * (a gzip bomb fails its record). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pipeline.h"

struct hy_config hy_cfg = {.region = "us-east-1"};

#define BIG ((size_t)64 << 20)

/* ---- helpers -------------------------------------------------------------- */

static const struct processor *find(const char *type)
{
    const struct processor *p = processor_find(type);
    assert_non_null(p);
    return p;
}

/* A batch of records (src = i, arrival 1000 + i); lens < 0: strlen. */
static void batch(struct pl_batch *b, const char *const *recs, const long *lens, size_t n)
{
    pl_batch_init(b, BIG);
    for (size_t i = 0; i < n; i++) {
        struct pl_rec like = {.src = (uint32_t)i, .arrival_ms = 1000 + (int64_t)i};
        size_t len = lens && lens[i] >= 0 ? (size_t)lens[i] : strlen(recs[i]);
        assert_int_equal(pl_add(b, b, &like, recs[i], len), HY_OK);
    }
}

static void batch1(struct pl_batch *b, const char *rec)
{
    batch(b, &rec, NULL, 1);
}

static int run(const char *type, const struct pl_param *p, size_t n, const struct pl_batch *in,
               struct pl_batch *out, size_t ceiling)
{
    struct pl_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.source = in;
    pl_batch_init(out, ceiling);
    return find(type)->run(p, n, &ctx, in, out);
}

static int check(const char *type, const struct pl_param *p, size_t n, char *msg)
{
    msg[0] = 0;
    return find(type)->check(p, n, msg, 512);
}

static void assert_rec(const struct pl_batch *b, size_t i, const void *data, size_t len)
{
    assert_true(i < b->n);
    const struct pl_rec *r = &pl_recs(b)[i];
    assert_int_equal(r->len, len);
    assert_memory_equal(pl_data(b, r), data, len);
}

static void assert_rec_str(const struct pl_batch *b, size_t i, const char *s)
{
    assert_rec(b, i, s, strlen(s));
}

static const struct pl_fail *fail_of(const struct pl_batch *b, size_t i)
{
    assert_true(i < b->nfail);
    return &((const struct pl_fail *)(const void *)b->fails.data)[i];
}

static void assert_fail(const struct pl_batch *b, size_t i, uint32_t src, const char *code,
                        const char *type, const char *msg_part)
{
    const struct pl_fail *f = fail_of(b, i);
    assert_int_equal(f->src, src);
    assert_string_equal(f->error_code, code);
    assert_string_equal(f->output_type, type);
    assert_non_null(f->message);
    if (msg_part && !strstr(f->message, msg_part))
        fail_msg("message '%s' lacks '%s'", f->message, msg_part);
}

/* gzip (one member) of data */
static size_t gz(const void *data, size_t len, unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = z.total_out;
    deflateEnd(&z);
    return n;
}

/* ---- the table ------------------------------------------------------------ */

static void test_table_in_aws_order(void **s)
{
    (void)s;
    /* AWS's order; Lambda (lambda.c, another file) may or may not be in
     * the table yet, the five of this folder's files must be */
    const char *order[] = {"RecordDeAggregation", "Decompression", "CloudWatchLogProcessing",
                           "Lambda", "MetadataExtraction", "AppendDelimiterToRecord"};
    size_t next = 0, mine = 0;
    for (size_t i = 0; i < processor_count; i++) {
        const char *type = processor_table[i]->type;
        while (next < 6 && strcmp(order[next], type))
            next++;
        if (next == 6)
            fail_msg("processor %s out of AWS's order (or unknown)", type);
        assert_ptr_equal(processor_find(type), processor_table[i]);
        if (strcmp(type, "Lambda")) {
            assert_true(processor_table[i]->deterministic);
            mine++;
        }
        next++;
    }
    assert_int_equal(mine, 5);
    assert_true(processor_count == 5 || processor_count == 6);
    assert_null(processor_find("recorddeaggregation"));
    assert_null(processor_find("Transform"));
    assert_null(processor_find(NULL));
}

static void test_unknown_and_duplicate_parameters(void **s)
{
    (void)s;
    char msg[512];
    const char *types[] = {"RecordDeAggregation", "Decompression", "CloudWatchLogProcessing",
                           "MetadataExtraction", "AppendDelimiterToRecord"};
    struct pl_param unknown[] = {{"LambdaArn", "arn:aws:lambda:us-east-1:000000000000:function:f"}};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(check(types[i], unknown, 1, msg), HY_EINVAL);
        assert_non_null(strstr(msg, "LambdaArn"));
        assert_non_null(strstr(msg, types[i]));
    }
    struct pl_param dup[] = {{"CompressionFormat", "GZIP"}, {"CompressionFormat", "GZIP"}};
    assert_int_equal(check("Decompression", dup, 2, msg), HY_EINVAL);
    assert_non_null(strstr(msg, "Duplicate"));
    struct pl_param novalue[] = {{"CompressionFormat", NULL}};
    assert_int_equal(check("Decompression", novalue, 1, msg), HY_EINVAL);
}

/* ---- RecordDeAggregation -------------------------------------------------- */

static void test_deagg_check(void **s)
{
    (void)s;
    char msg[512];
    struct pl_param json[] = {{"SubRecordType", "JSON"}};
    struct pl_param delim[] = {{"SubRecordType", "DELIMITED"}, {"Delimiter", "IyMjIw=="}};
    struct pl_param json_delim[] = {{"SubRecordType", "JSON"}, {"Delimiter", "IyMjIw=="}};
    struct pl_param delim_none[] = {{"SubRecordType", "DELIMITED"}};
    struct pl_param delim_bad[] = {{"SubRecordType", "DELIMITED"}, {"Delimiter", "####"}};
    struct pl_param bad_type[] = {{"SubRecordType", "json"}};
    assert_int_equal(check("RecordDeAggregation", json, 1, msg), HY_OK);
    assert_int_equal(check("RecordDeAggregation", delim, 2, msg), HY_OK);
    assert_int_equal(check("RecordDeAggregation", NULL, 0, msg), HY_EINVAL);
    assert_non_null(strstr(msg, "SubRecordType"));
    assert_int_equal(check("RecordDeAggregation", json_delim, 2, msg), HY_EINVAL);
    assert_int_equal(check("RecordDeAggregation", delim_none, 1, msg), HY_EINVAL);
    assert_non_null(strstr(msg, "Delimiter"));
    assert_int_equal(check("RecordDeAggregation", delim_bad, 2, msg), HY_EINVAL);
    assert_non_null(strstr(msg, "base64"));
    assert_int_equal(check("RecordDeAggregation", bad_type, 1, msg), HY_EINVAL);
    assert_non_null(strstr(msg, "JSON, DELIMITED"));
}

static void test_deagg_json(void **s)
{
    (void)s;
    struct pl_param p[] = {{"SubRecordType", "JSON"}};
    const char *recs[] = {
        "{\"a\":1}{\"a\":2}",
        "{\"a\":3}\n{\"s\":\"}{\\\"\"}\r\n  {\"n\":{\"m\":[1,2]}}\n",
        "[{\"a\":1},{\"a\":2}]",
        "{\"a\":1}{\"a\":",
        "{\"a\":1},{\"a\":2}",
        "",
        "{\"only\":true}",
        "{\"nul\":\"a\\u0000b\"}{\"x\":1}",
    };
    struct pl_batch in, out;
    batch(&in, recs, NULL, 8);
    /* keys on record 6 are carried to its sub-record */
    const char *kn[] = {"k"}, *kv[] = {"v"};
    assert_int_equal(pl_set_keys(&in, &pl_recs(&in)[6], true, kn, kv, 1), HY_OK);
    assert_int_equal(run("RecordDeAggregation", p, 1, &in, &out, BIG), HY_OK);
    assert_int_equal(out.n, 8);
    assert_rec_str(&out, 6, "{\"nul\":\"a\\u0000b\"}");
    assert_rec_str(&out, 7, "{\"x\":1}");
    assert_rec_str(&out, 0, "{\"a\":1}");
    assert_rec_str(&out, 1, "{\"a\":2}");
    assert_rec_str(&out, 2, "{\"a\":3}");
    assert_rec_str(&out, 3, "{\"s\":\"}{\\\"\"}");
    assert_rec_str(&out, 4, "{\"n\":{\"m\":[1,2]}}");
    assert_rec_str(&out, 5, "{\"only\":true}");
    uint32_t srcs[] = {0, 0, 1, 1, 1, 6};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(pl_recs(&out)[i].src, srcs[i]);
        assert_int_equal(pl_recs(&out)[i].arrival_ms, 1000 + srcs[i]);
    }
    size_t len;
    assert_string_equal(pl_key_get(&out, &pl_recs(&out)[5], true, "k", &len), "v");
    assert_null(pl_key_get(&out, &pl_recs(&out)[0], true, "k", &len));
    assert_int_equal(out.nfail, 4);
    assert_fail(&out, 0, 2, "DynamicPartitioning.DeAggregationFailed", "partitioning-failed",
                "array");
    assert_fail(&out, 1, 3, "DynamicPartitioning.DeAggregationFailed", "partitioning-failed",
                "not consecutive JSON objects");
    assert_fail(&out, 2, 4, "DynamicPartitioning.DeAggregationFailed", "partitioning-failed",
                NULL);
    assert_fail(&out, 3, 5, "DynamicPartitioning.DeAggregationFailed", "partitioning-failed",
                "no JSON object");
    /* a failed record leaves nothing of itself: record 3's first object
     * was rolled back */
    for (size_t i = 0; i < out.n; i++)
        assert_int_not_equal(pl_recs(&out)[i].src, 3);
    pl_batch_free(&in);
    pl_batch_free(&out);
}

static void test_deagg_cap_500(void **s)
{
    (void)s;
    struct pl_param p[] = {{"SubRecordType", "JSON"}};
    struct buf b;
    buf_init(&b, BIG);
    for (int i = 0; i < 500; i++)
        assert_int_equal(buf_printf(&b, "{\"i\":%d}\n", i), HY_OK);
    char *five_hundred = strdup(b.data);
    assert_int_equal(buf_puts(&b, "{\"i\":500}"), HY_OK);
    const char *recs[] = {five_hundred, b.data};
    struct pl_batch in, out;
    batch(&in, recs, NULL, 2);
    assert_int_equal(run("RecordDeAggregation", p, 1, &in, &out, BIG), HY_OK);
    assert_int_equal(out.n, 500);
    assert_rec_str(&out, 499, "{\"i\":499}");
    assert_int_equal(out.nfail, 1);
    assert_fail(&out, 0, 1, "DynamicPartitioning.DeAggregationFailed", "partitioning-failed",
                "500");
    pl_batch_free(&in);
    pl_batch_free(&out);
    /* the same cap for DELIMITED */
    struct pl_param d[] = {{"SubRecordType", "DELIMITED"}, {"Delimiter", "LA=="}}; /* "," */
    buf_reset(&b);
    for (int i = 0; i < 501; i++)
        assert_int_equal(buf_printf(&b, "%d,", i), HY_OK);
    batch1(&in, b.data);
    assert_int_equal(run("RecordDeAggregation", d, 2, &in, &out, BIG), HY_OK);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.nfail, 1);
    pl_batch_free(&in);
    pl_batch_free(&out);
    free(five_hundred);
    buf_free(&b);
}

static void test_deagg_delimited(void **s)
{
    (void)s;
    struct pl_param p[] = {{"SubRecordType", "DELIMITED"}, {"Delimiter", "IyMjIw=="}}; /* #### */
    const char *recs[] = {"a####bb####c", "####x########y####", "####", "", "no delimiter",
                          "a###b"};
    long lens[] = {-1, -1, -1, -1, -1, -1};
    struct pl_batch in, out;
    batch(&in, recs, lens, 6);
    assert_int_equal(run("RecordDeAggregation", p, 2, &in, &out, BIG), HY_OK);
    const char *want[] = {"a", "bb", "c", "x", "y", "####", "", "no delimiter", "a###b"};
    uint32_t srcs[] = {0, 0, 0, 1, 1, 2, 3, 4, 5};
    assert_int_equal(out.n, 9);
    assert_int_equal(out.nfail, 0);
    for (size_t i = 0; i < 9; i++) {
        assert_rec_str(&out, i, want[i]);
        assert_int_equal(pl_recs(&out)[i].src, srcs[i]);
    }
    pl_batch_free(&in);
    pl_batch_free(&out);
    /* a binary delimiter: "\r\n" */
    struct pl_param crlf[] = {{"SubRecordType", "DELIMITED"}, {"Delimiter", "DQo="}};
    batch1(&in, "l1\r\nl2\nstill l2\r\n");
    assert_int_equal(run("RecordDeAggregation", crlf, 2, &in, &out, BIG), HY_OK);
    assert_int_equal(out.n, 2);
    assert_rec_str(&out, 1, "l2\nstill l2");
    pl_batch_free(&in);
    pl_batch_free(&out);
}

static void test_deagg_ceiling_and_bad_params(void **s)
{
    (void)s;
    struct pl_param p[] = {{"SubRecordType", "JSON"}};
    struct pl_batch in, out;
    batch1(&in, "{\"a\":\"0123456789\"}{\"a\":\"0123456789\"}{\"a\":\"0123456789\"}");
    assert_int_equal(run("RecordDeAggregation", p, 1, &in, &out, 40), HY_OK);
    assert_int_equal(out.n, 0);                /* the first object fitted, rolled back */
    assert_int_equal(out.data.len, 0);
    assert_int_equal(out.nfail, 1);
    assert_fail(&out, 0, 0, "DynamicPartitioning.DeAggregationFailed", "partitioning-failed",
                "ceiling");
    pl_batch_free(&out);
    struct pl_param bad[] = {{"SubRecordType", "XML"}};
    assert_int_equal(run("RecordDeAggregation", bad, 1, &in, &out, BIG), HY_EINVAL);
    pl_batch_free(&in);
    pl_batch_free(&out);
}

/* ---- Decompression -------------------------------------------------------- */

static void test_decomp_check(void **s)
{
    (void)s;
    char msg[512];
    struct pl_param ok[] = {{"CompressionFormat", "GZIP"}};
    struct pl_param bad[] = {{"CompressionFormat", "ZIP"}};
    assert_int_equal(check("Decompression", ok, 1, msg), HY_OK);
    assert_int_equal(check("Decompression", bad, 1, msg), HY_EINVAL);
    assert_non_null(strstr(msg, "GZIP"));
    assert_int_equal(check("Decompression", NULL, 0, msg), HY_EINVAL);
    assert_non_null(strstr(msg, "CompressionFormat"));
}

static void test_decomp_run(void **s)
{
    (void)s;
    struct pl_param p[] = {{"CompressionFormat", "GZIP"}};
    static unsigned char g1[4096], g2[4096], cat[8192], trunc[4096], corrupt[4096], trail[4096];
    const char *t1 = "{\"messageType\":\"DATA_MESSAGE\"}", *t2 = "second member";
    size_t n1 = gz(t1, strlen(t1), g1, sizeof g1), n2 = gz(t2, strlen(t2), g2, sizeof g2);
    memcpy(cat, g1, n1);
    memcpy(cat + n1, g2, n2);
    memcpy(trunc, g1, n1 - 5);
    memcpy(corrupt, g1, n1);
    corrupt[12] ^= 0x55;
    corrupt[13] ^= 0x55;
    memcpy(trail, g1, n1);
    memcpy(trail + n1, "junk", 4);
    unsigned char zlib_stream[256];
    uLongf zn = sizeof zlib_stream;
    assert_int_equal(compress(zlib_stream, &zn, (const Bytef *)t1, strlen(t1)), Z_OK);
    static unsigned char empty_gz[64];
    size_t ne = gz("", 0, empty_gz, sizeof empty_gz);
    const char *recs[] = {(char *)g1, (char *)cat, "plain text", (char *)trunc,
                          (char *)corrupt, (char *)trail, (char *)zlib_stream,
                          (char *)empty_gz, ""};
    long lens[] = {(long)n1, (long)(n1 + n2), -1, (long)(n1 - 5), (long)n1, (long)(n1 + 4),
                   (long)zn, (long)ne, 0};
    struct pl_batch in, out;
    batch(&in, recs, lens, 9);
    const char *kn[] = {"customer"}, *kv[] = {"c1"};
    assert_int_equal(pl_set_keys(&in, &pl_recs(&in)[0], false, kn, kv, 1), HY_OK);
    assert_int_equal(run("Decompression", p, 1, &in, &out, BIG), HY_OK);
    assert_int_equal(out.n, 3);
    assert_rec_str(&out, 0, t1);
    assert_int_equal(pl_recs(&out)[0].src, 0);
    assert_int_equal(pl_recs(&out)[0].arrival_ms, 1000);
    assert_string_equal(pl_key_get(&out, &pl_recs(&out)[0], false, "customer", NULL), "c1");
    assert_rec_str(&out, 1, "{\"messageType\":\"DATA_MESSAGE\"}second member");
    assert_rec_str(&out, 2, "");
    assert_int_equal(pl_recs(&out)[2].src, 7);
    assert_int_equal(out.nfail, 6);
    uint32_t failed[] = {2, 3, 4, 5, 6, 8};
    for (size_t i = 0; i < 6; i++)
        assert_fail(&out, i, failed[i], "Decompression.Failed", "decompression-failed", NULL);
    assert_non_null(strstr(fail_of(&out, 0)->message, "not in GZIP format"));
    assert_non_null(strstr(fail_of(&out, 1)->message, "truncated"));
    assert_non_null(strstr(fail_of(&out, 3)->message, "trailing"));
    pl_batch_free(&in);
    pl_batch_free(&out);
}

static void test_decomp_bomb(void **s)
{
    (void)s;
    struct pl_param p[] = {{"CompressionFormat", "GZIP"}};
    size_t big = (size_t)100 << 20; /* 100 MiB of zeros: ~100 KiB of gzip */
    unsigned char *zeros = calloc(1, big);
    unsigned char *bomb = malloc(1 << 20);
    assert_non_null(zeros);
    assert_non_null(bomb);
    size_t nb = gz(zeros, big, bomb, 1 << 20);
    free(zeros);
    assert_true(nb < (1 << 20));
    unsigned char small[128];
    size_t ns = gz("fits", 4, small, sizeof small);
    const char *recs[] = {(char *)small, (char *)bomb, (char *)small};
    long lens[] = {(long)ns, (long)nb, (long)ns};
    struct pl_batch in, out;
    batch(&in, recs, lens, 3);
    assert_int_equal(run("Decompression", p, 1, &in, &out, 1 << 20), HY_OK);
    assert_int_equal(out.n, 2);
    assert_rec_str(&out, 0, "fits");
    assert_rec_str(&out, 1, "fits");
    assert_int_equal(out.nfail, 1);
    assert_fail(&out, 0, 1, "Decompression.Failed", "decompression-failed", "ceiling");
    /* the bomb never took more than the batch may hold */
    assert_true(out.data.cap <= (1 << 20) + 1);
    pl_batch_free(&in);
    pl_batch_free(&out);
    free(bomb);
}

/* ---- CloudWatchLogProcessing ---------------------------------------------- */

#define CWL_DATA                                                                             \
    "{\"messageType\":\"DATA_MESSAGE\",\"owner\":\"111111111111\",\"logGroup\":\"g\","     \
    "\"logStream\":\"s\",\"subscriptionFilters\":[\"f\"],\"logEvents\":["                   \
    "{\"id\":\"1\",\"timestamp\":1432826855000,\"message\":\"{\\\"type\\\":\\\"Root1\\\"}\"}," \
    "{\"id\":\"2\",\"timestamp\":1432826855001,\"message\":\"plain line\"}]}"
#define CWL_CONTROL                                                                          \
    "{\"messageType\":\"CONTROL_MESSAGE\",\"owner\":\"CloudwatchLogs\",\"logGroup\":\"\","  \
    "\"logStream\":\"\",\"subscriptionFilters\":[],\"logEvents\":[{\"id\":\"\","            \
    "\"timestamp\":1432826855000,\"message\":\"CWL CONTROL MESSAGE: Checking health of "    \
    "destination Firehose.\"}]}"

static void test_cwl_check(void **s)
{
    (void)s;
    char msg[512];
    struct pl_param t[] = {{"DataMessageExtraction", "true"}};
    struct pl_param f[] = {{"DataMessageExtraction", "false"}};
    struct pl_param bad[] = {{"DataMessageExtraction", "yes"}};
    assert_int_equal(check("CloudWatchLogProcessing", t, 1, msg), HY_OK);
    assert_int_equal(check("CloudWatchLogProcessing", f, 1, msg), HY_OK);
    assert_int_equal(check("CloudWatchLogProcessing", bad, 1, msg), HY_EINVAL);
    assert_non_null(strstr(msg, "true, false"));
    assert_int_equal(check("CloudWatchLogProcessing", NULL, 0, msg), HY_EINVAL);
}

static void test_cwl_extraction(void **s)
{
    (void)s;
    struct pl_param p[] = {{"DataMessageExtraction", "true"}};
    const char *recs[] = {CWL_DATA, CWL_CONTROL, "not json", "{\"messageType\":\"OTHER\"}",
                          "{\"messageType\":\"DATA_MESSAGE\"}",
                          "{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[{\"message\":7}]}",
                          "{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[{\"message\":"
                          "\"nul\\u0000inside\"}]}",
                          "[1]"};
    struct pl_batch in, out;
    batch(&in, recs, NULL, 8);
    assert_int_equal(run("CloudWatchLogProcessing", p, 1, &in, &out, BIG), HY_OK);
    assert_int_equal(out.n, 3);
    assert_rec_str(&out, 0, "{\"type\":\"Root1\"}\n");
    assert_rec_str(&out, 1, "plain line\n");
    assert_rec(&out, 2, "nul\0inside\n", 11);
    assert_int_equal(pl_recs(&out)[0].src, 0);
    assert_int_equal(pl_recs(&out)[1].src, 0);
    assert_int_equal(pl_recs(&out)[2].src, 6);
    /* CONTROL_MESSAGE (1) dropped: neither a record nor a failure */
    assert_int_equal(out.nfail, 5);
    uint32_t failed[] = {2, 3, 4, 5, 7};
    for (size_t i = 0; i < 5; i++)
        assert_fail(&out, i, failed[i], "CloudWatchLogProcessing.InvalidFormat",
                    "decompression-failed", NULL);
    pl_batch_free(&in);
    pl_batch_free(&out);
}

static void test_cwl_no_extraction(void **s)
{
    (void)s;
    struct pl_param p[] = {{"DataMessageExtraction", "false"}};
    const char *recs[] = {CWL_DATA, CWL_CONTROL, "nope"};
    struct pl_batch in, out;
    batch(&in, recs, NULL, 3);
    assert_int_equal(run("CloudWatchLogProcessing", p, 1, &in, &out, BIG), HY_OK);
    assert_int_equal(out.n, 1);
    assert_rec_str(&out, 0, CWL_DATA);
    assert_int_equal(out.nfail, 1);
    assert_fail(&out, 0, 2, "CloudWatchLogProcessing.InvalidFormat", "decompression-failed",
                "not a JSON object");
    pl_batch_free(&in);
    pl_batch_free(&out);
    /* over the ceiling: the record fails whole */
    struct pl_param t[] = {{"DataMessageExtraction", "true"}};
    batch1(&in, CWL_DATA);
    assert_int_equal(run("CloudWatchLogProcessing", t, 1, &in, &out, 20), HY_OK);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.nfail, 1);
    pl_batch_free(&in);
    pl_batch_free(&out);
}

/* ---- MetadataExtraction --------------------------------------------------- */

static void test_mx_check(void **s)
{
    (void)s;
    char msg[512];
    struct pl_param ok[] = {{"MetadataExtractionQuery", "{customer_id:.customer_id}"},
                            {"JsonParsingEngine", "JQ-1.6"}};
    struct pl_param noengine[] = {{"MetadataExtractionQuery", "{a:.a}"}};
    struct pl_param badq[] = {{"MetadataExtractionQuery", "{customer_id:.customer_id"},
                              {"JsonParsingEngine", "JQ-1.6"}};
    struct pl_param badfn[] = {{"MetadataExtractionQuery", "{a: nosuchfn}"}};
    struct pl_param env[] = {{"MetadataExtractionQuery", "{a: $ENV.HOME}"}};
    struct pl_param env2[] = {{"MetadataExtractionQuery", "{a: $ # hidden\n ENV.HOME}"}};
    struct pl_param import[] = {{"MetadataExtractionQuery", "import \"x\" as x; {a:1}"}};
    struct pl_param engine[] = {{"MetadataExtractionQuery", "{a:.a}"},
                                {"JsonParsingEngine", "JQ-1.7"}};
    struct pl_param noq[] = {{"JsonParsingEngine", "JQ-1.6"}};
    assert_int_equal(check("MetadataExtraction", ok, 2, msg), HY_OK);
    assert_int_equal(check("MetadataExtraction", noengine, 1, msg), HY_OK);
    assert_int_equal(check("MetadataExtraction", badq, 2, msg), HY_EINVAL);
    assert_non_null(strstr(msg, "Invalid MetadataExtractionQuery"));
    assert_non_null(strstr(msg, "syntax error"));
    assert_int_equal(check("MetadataExtraction", badfn, 1, msg), HY_EINVAL);
    assert_non_null(strstr(msg, "nosuchfn"));
    assert_int_equal(check("MetadataExtraction", env, 1, msg), HY_EINVAL);
    assert_non_null(strstr(msg, "$ENV"));
    assert_int_equal(check("MetadataExtraction", env2, 1, msg), HY_EINVAL);
    assert_int_equal(check("MetadataExtraction", import, 1, msg), HY_EINVAL);
    assert_int_equal(check("MetadataExtraction", engine, 2, msg), HY_EINVAL);
    assert_non_null(strstr(msg, "JQ-1.6"));
    assert_int_equal(check("MetadataExtraction", noq, 1, msg), HY_EINVAL);
    assert_non_null(strstr(msg, "MetadataExtractionQuery is required"));
}

static void test_mx_keys(void **s)
{
    (void)s;
    struct pl_param p[] = {
        {"MetadataExtractionQuery",
         "{customer_id:.customer_id, device:.type.device, year:.event_timestamp|strftime(\"%Y\"), "
         "n:.event_timestamp}"},
        {"JsonParsingEngine", "JQ-1.6"}};
    const char *recs[] = {
        "{\"type\":{\"device\":\"mobile\"},\"customer_id\":\"1234567890\","
        "\"event_timestamp\":1565382027}",
        "{\"type\":{\"device\":\"web\"},\"customer_id\":42,\"event_timestamp\":1.5}",
        "{\"type\":{\"device\":\"web\"},\"event_timestamp\":1565382027}", /* no customer_id */
        "not json",
        "{\"type\":{\"device\":true},\"customer_id\":\"c\",\"event_timestamp\":1565382027}",
        "{\"type\":{\"device\":[1]},\"customer_id\":\"c\",\"event_timestamp\":1565382027}",
        "{\"type\":\"str\",\"customer_id\":\"c\",\"event_timestamp\":1565382027}",
        "{\"a\":1}{\"a\":2}",
    };
    struct pl_batch in, out;
    batch(&in, recs, NULL, 8);
    const char *ln[] = {"from_lambda"}, *lv[] = {"kept"};
    assert_int_equal(pl_set_keys(&in, &pl_recs(&in)[0], true, ln, lv, 1), HY_OK);
    assert_int_equal(run("MetadataExtraction", p, 2, &in, &out, BIG), HY_OK);
    assert_int_equal(out.n, 2);
    const struct pl_rec *r0 = &pl_recs(&out)[0], *r1 = &pl_recs(&out)[1];
    assert_rec_str(&out, 0, recs[0]); /* the record itself is unchanged */
    assert_int_equal(r0->src, 0);
    assert_int_equal(r0->arrival_ms, 1000);
    assert_string_equal(pl_key_get(&out, r0, false, "customer_id", NULL), "1234567890");
    assert_string_equal(pl_key_get(&out, r0, false, "device", NULL), "mobile");
    assert_string_equal(pl_key_get(&out, r0, false, "year", NULL), "2019");
    assert_string_equal(pl_key_get(&out, r0, false, "n", NULL), "1565382027");
    assert_string_equal(pl_key_get(&out, r0, true, "from_lambda", NULL), "kept");
    assert_null(pl_key_get(&out, r0, true, "customer_id", NULL));
    assert_string_equal(pl_key_get(&out, r1, false, "customer_id", NULL), "42");
    assert_string_equal(pl_key_get(&out, r1, false, "n", NULL), "1.5");
    assert_int_equal(r1->src, 1);
    assert_int_equal(out.nfail, 6);
    const char *code = "DynamicPartitioning.MetadataExtractionFailed", *type = "partitioning-failed";
    assert_fail(&out, 0, 2, code, type, "customer_id");
    assert_fail(&out, 0, 2, code, type, "null");
    assert_fail(&out, 1, 3, code, type, "Non JSON record provided");
    assert_fail(&out, 2, 4, code, type, "boolean");
    assert_fail(&out, 3, 5, code, type, "array");
    assert_fail(&out, 4, 6, code, type, "Cannot index string");
    assert_fail(&out, 5, 7, code, type, "Non JSON record provided");
    pl_batch_free(&in);
    pl_batch_free(&out);
}

static void test_mx_results(void **s)
{
    (void)s;
    struct pl_batch in, out;
    struct {
        const char *query, *record, *fail_part;
    } cases[] = {
        {".a", "{\"a\":\"x\"}", "not an object"},
        {"empty", "{}", "no output"},
        {"error(\"boom\")", "{}", "boom"},
        {"{a: input}", "{}", "query failed"},
        {"{h: (env.HOME // \"none\")}", "{}", NULL}, /* env is {} */
        {"{a:.a} | .b = .a", "{\"a\":\"x\"}", NULL},
        {"[range(60)] | map({key:\"k\\(.)\", value:.}) | from_entries", "{}", "more than 50"},
        {"[range(50)] | map({key:\"k\\(.)\", value:.}) | from_entries", "{}", NULL},
        {"{a: \"x\\u0000y\"}", "{}", "NUL"},
        {"{a: .a}", "12", "Cannot index number"},
        /* values that make libjq 1.6 abort without the prelude's guards */
        {"{y:(.t|strftime(\"%Y\"))}", "{\"t\":1e300}", "time out of range"},
        {"{y:(.t|todate)}", "{\"t\":-1e300}", "time out of range"},
        {"{y:(.t|strflocaltime(\"%Y\"))}", "{\"t\":1e300}", "time out of range"},
        {"{y:(.t|gmtime|todate)}", "{\"t\":1e19}", "time out of range"},
        {"{y:(.t|implode)}", "{\"t\":[\"a\"]}", "codepoints"},
        {"{y:(.t|implode)}", "{\"t\":[-1]}", "codepoints"},
        {"{y:(.t|implode), d:(.t|implode|explode|implode)}", "{\"t\":[65,66]}", NULL},
        {"{y:(.t|todate), z:(.t|strftime(\"%H\"))}", "{\"t\":1565382027}", NULL},
        /* refused before libjq's parser, which leaks the string */
        {"{a:.a}", "{\"a\":1 \"b\":2}", "Non JSON record provided"},
        {"{a:.a}", "[\"x\" \"y\"]", "Non JSON record provided"},
        {"{a:.a}", "{\"a\":\"q\\\" \\\\\"}", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pl_param p[] = {{"MetadataExtractionQuery", cases[i].query}};
        char msg[512];
        assert_int_equal(check("MetadataExtraction", p, 1, msg), HY_OK);
        batch1(&in, cases[i].record);
        assert_int_equal(run("MetadataExtraction", p, 1, &in, &out, BIG), HY_OK);
        if (cases[i].fail_part) {
            assert_int_equal(out.n, 0);
            assert_int_equal(out.nfail, 1);
            assert_fail(&out, 0, 0, "DynamicPartitioning.MetadataExtractionFailed",
                        "partitioning-failed", cases[i].fail_part);
        } else {
            assert_int_equal(out.nfail, 0);
            assert_int_equal(out.n, 1);
        }
        if (i == 4)
            assert_string_equal(pl_key_get(&out, &pl_recs(&out)[0], false, "h", NULL), "none");
        if (i == 5) {
            assert_string_equal(pl_key_get(&out, &pl_recs(&out)[0], false, "a", NULL), "x");
            assert_string_equal(pl_key_get(&out, &pl_recs(&out)[0], false, "b", NULL), "x");
        }
        if (i == 7)
            assert_string_equal(pl_key_get(&out, &pl_recs(&out)[0], false, "k49", NULL), "49");
        if (i == 16)
            assert_string_equal(pl_key_get(&out, &pl_recs(&out)[0], false, "y", NULL), "AB");
        if (i == 17) {
            assert_string_equal(pl_key_get(&out, &pl_recs(&out)[0], false, "y", NULL),
                                "2019-08-09T20:20:27Z");
            assert_string_equal(pl_key_get(&out, &pl_recs(&out)[0], false, "z", NULL), "20");
        }
        pl_batch_free(&in);
        pl_batch_free(&out);
    }
    /* a stored query that no longer compiles fails the records, not the batch */
    struct pl_param bad[] = {{"MetadataExtractionQuery", "{a:"}};
    const char *two[] = {"{}", "{}"};
    batch(&in, two, NULL, 2);
    assert_int_equal(run("MetadataExtraction", bad, 1, &in, &out, BIG), HY_OK);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.nfail, 2);
    assert_fail(&out, 1, 1, "DynamicPartitioning.MetadataExtractionFailed", "partitioning-failed",
                "Invalid MetadataExtractionQuery");
    pl_batch_free(&in);
    pl_batch_free(&out);
}

/* one jq_state per run: runs on several threads at once give each the
 * same keys (ASan/UBSan would see a shared state's corruption) */
struct mx_thread {
    const struct pl_batch *in;
    struct pl_batch out;
    int rc;
};

static void *mx_thread_main(void *arg)
{
    struct mx_thread *t = arg;
    struct pl_param p[] = {{"MetadataExtractionQuery",
                            "{c:.c, day:(.t|strftime(\"%Y-%m-%d\")), m:(.c|test(\"^c[0-9]+$\")|tostring)}"}};
    struct pl_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    pl_batch_init(&t->out, BIG);
    t->rc = find("MetadataExtraction")->run(p, 1, &ctx, t->in, &t->out);
    return NULL;
}

static void test_mx_threads(void **s)
{
    (void)s;
    struct pl_batch in;
    pl_batch_init(&in, BIG);
    for (uint32_t i = 0; i < 3000; i++) {
        char rec[128];
        int n = snprintf(rec, sizeof rec, "{\"c\":\"c%u\",\"t\":%u}", i % 37, 1700000000u + i * 86400u);
        struct pl_rec like = {.src = i};
        assert_int_equal(pl_add(&in, &in, &like, rec, (size_t)n), HY_OK);
    }
    struct mx_thread t[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        t[i].in = &in;
        assert_int_equal(pthread_create(&th[i], NULL, mx_thread_main, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(t[i].rc, HY_OK);
        assert_int_equal(t[i].out.n, 3000);
        assert_int_equal(t[i].out.nfail, 0);
        for (size_t r = 0; r < 3000; r += 97) {
            const struct pl_rec *a = &pl_recs(&t[0].out)[r], *b = &pl_recs(&t[i].out)[r];
            assert_string_equal(pl_key_get(&t[0].out, a, false, "day", NULL),
                                pl_key_get(&t[i].out, b, false, "day", NULL));
            assert_string_equal(pl_key_get(&t[i].out, b, false, "m", NULL), "true");
        }
    }
    assert_string_equal(pl_key_get(&t[2].out, &pl_recs(&t[2].out)[1], false, "day", NULL),
                        "2023-11-15");
    for (int i = 0; i < 4; i++)
        pl_batch_free(&t[i].out);
    pl_batch_free(&in);
}

/* ---- AppendDelimiterToRecord ---------------------------------------------- */

static void test_delimiter(void **s)
{
    (void)s;
    char msg[512];
    assert_int_equal(check("AppendDelimiterToRecord", NULL, 0, msg), HY_OK);
    struct pl_param d[] = {{"Delimiter", "Cg=="}};
    assert_int_equal(check("AppendDelimiterToRecord", d, 1, msg), HY_EINVAL);
    assert_non_null(strstr(msg, "Delimiter"));
    const char *recs[] = {"a", "", "line\n", "bin\0ary"};
    long lens[] = {-1, 0, -1, 7};
    struct pl_batch in, out;
    batch(&in, recs, lens, 4);
    const char *kn[] = {"customer_id"}, *kv[] = {"c9"};
    assert_int_equal(pl_set_keys(&in, &pl_recs(&in)[3], false, kn, kv, 1), HY_OK);
    assert_int_equal(run("AppendDelimiterToRecord", NULL, 0, &in, &out, BIG), HY_OK);
    assert_int_equal(out.n, 4);
    assert_int_equal(out.nfail, 0);
    assert_rec_str(&out, 0, "a\n");
    assert_rec_str(&out, 1, "\n");
    assert_rec_str(&out, 2, "line\n\n");
    assert_rec(&out, 3, "bin\0ary\n", 8);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(pl_recs(&out)[i].src, i);
        assert_int_equal(pl_recs(&out)[i].arrival_ms, 1000 + i);
    }
    assert_string_equal(pl_key_get(&out, &pl_recs(&out)[3], false, "customer_id", NULL), "c9");
    pl_batch_free(&out);
    /* the ceiling: the fourth record does not fit */
    assert_int_equal(run("AppendDelimiterToRecord", NULL, 0, &in, &out, 12), HY_OK);
    assert_int_equal(out.n, 3);
    assert_int_equal(out.nfail, 1);
    assert_fail(&out, 0, 3, "AppendDelimiterToRecord.Failed", "processing-failed", "ceiling");
    pl_batch_free(&out);
    assert_int_equal(run("AppendDelimiterToRecord", d, 1, &in, &out, BIG), HY_EINVAL);
    pl_batch_free(&in);
    pl_batch_free(&out);
}

/* ---- the chain, as delivery runs it --------------------------------------- */

static void test_chain(void **s)
{
    (void)s;
    /* a gzip'd CloudWatch Logs payload whose messages are JSON: decompress,
     * extract, take keys, add newlines */
    static unsigned char g[4096];
    const char *payload =
        "{\"messageType\":\"DATA_MESSAGE\",\"owner\":\"1\",\"logGroup\":\"g\",\"logStream\":"
        "\"s\",\"subscriptionFilters\":[],\"logEvents\":[{\"id\":\"1\",\"timestamp\":1,"
        "\"message\":\"{\\\"customer_id\\\":\\\"a\\\"}\"},{\"id\":\"2\",\"timestamp\":2,"
        "\"message\":\"{\\\"customer_id\\\":\\\"b\\\"}\"}]}";
    size_t ng = gz(payload, strlen(payload), g, sizeof g);
    const char *recs[] = {(char *)g};
    long lens[] = {(long)ng};
    struct pl_batch a, b, c, d;
    batch(&a, recs, lens, 1);
    struct pl_param dp[] = {{"CompressionFormat", "GZIP"}};
    struct pl_param cp[] = {{"DataMessageExtraction", "true"}};
    struct pl_param mp[] = {{"MetadataExtractionQuery", "{customer_id:.customer_id}"},
                            {"JsonParsingEngine", "JQ-1.6"}};
    assert_int_equal(run("Decompression", dp, 1, &a, &b, BIG), HY_OK);
    assert_int_equal(run("CloudWatchLogProcessing", cp, 1, &b, &c, BIG), HY_OK);
    pl_batch_free(&b);
    assert_int_equal(run("MetadataExtraction", mp, 2, &c, &b, BIG), HY_OK);
    assert_int_equal(run("AppendDelimiterToRecord", NULL, 0, &b, &d, BIG), HY_OK);
    assert_int_equal(d.n, 2);
    assert_rec_str(&d, 0, "{\"customer_id\":\"a\"}\n\n");
    assert_string_equal(pl_key_get(&d, &pl_recs(&d)[1], false, "customer_id", NULL), "b");
    assert_int_equal(pl_recs(&d)[1].src, 0);
    pl_batch_free(&a);
    pl_batch_free(&b);
    pl_batch_free(&c);
    pl_batch_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_in_aws_order),
        cmocka_unit_test(test_unknown_and_duplicate_parameters),
        cmocka_unit_test(test_deagg_check),
        cmocka_unit_test(test_deagg_json),
        cmocka_unit_test(test_deagg_cap_500),
        cmocka_unit_test(test_deagg_delimited),
        cmocka_unit_test(test_deagg_ceiling_and_bad_params),
        cmocka_unit_test(test_decomp_check),
        cmocka_unit_test(test_decomp_run),
        cmocka_unit_test(test_decomp_bomb),
        cmocka_unit_test(test_cwl_check),
        cmocka_unit_test(test_cwl_extraction),
        cmocka_unit_test(test_cwl_no_extraction),
        cmocka_unit_test(test_mx_check),
        cmocka_unit_test(test_mx_keys),
        cmocka_unit_test(test_mx_results),
        cmocka_unit_test(test_mx_threads),
        cmocka_unit_test(test_delimiter),
        cmocka_unit_test(test_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
