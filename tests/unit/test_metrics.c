/* test_metrics.c -- issue 17's pieces below HTTP: the sharded counters and
 * their 1-minute history (metrics.c), the Prometheus text, the CloudWatch
 * input parsers (cloudwatch.c), the CORS matcher (s3_cors.c), the Logs
 * filter patterns (cloudwatch_logs.c) and the console's cookie and query
 * helpers (console.c). The wire is tested with real clients in
 * tests/integration/test_metrics.py, test_cors.py, test_cwlogs.py and
 * test_console.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cloudwatch.h"
#include "console.h"
#include "metrics.h"
#include "s3_cors.h"
#include "stream.h"

struct hy_config hy_cfg = {.region = "us-east-1", .max_buffered = 1u << 30};

static void put(const char *key, size_t nrec, size_t len, bool batch)
{
    static unsigned char rec[4096];
    unsigned char *data[16];
    size_t lens[16];
    int prc[16];
    assert_true(nrec <= 16 && len <= sizeof rec);
    for (size_t i = 0; i < nrec; i++) {
        data[i] = rec;
        lens[i] = len;
        prc[i] = HY_OK;
    }
    struct stream_ingest in = {.name = key, .data = data, .lens = lens, .n = nrec, .prc = prc};
    metrics_put(&in, batch);
}

struct threaded {
    const char *key;
    int n;
};

static void *put_many(void *arg)
{
    struct threaded *t = arg;
    for (int i = 0; i < t->n; i++)
        put(t->key, 2, 10, true);
    return NULL;
}

static void test_counts_sum_over_threads(void **state)
{
    (void)state;
    assert_int_equal(metrics_init(), HY_OK);
    pthread_t th[24]; /* more threads than shards: shared shards stay exact */
    struct threaded t = {"us-east-1/mt", 500};
    for (int i = 0; i < 24; i++)
        assert_int_equal(pthread_create(&th[i], NULL, put_many, &t), 0);
    for (int i = 0; i < 24; i++)
        pthread_join(th[i], NULL);
    struct metrics_point p[4];
    int64_t now = hy_now_ms();
    size_t n = metrics_query("us-east-1/mt", M_INCOMING_RECORDS, now - 3600000, now + 60000, p, 4);
    double sum = 0, samples = 0;
    for (size_t i = 0; i < n; i++) {
        sum += p[i].sum;
        samples += p[i].n;
        assert_true(p[i].min == 2 && p[i].max == 2);
    }
    assert_true(sum == 24 * 500 * 2);
    assert_true(samples == 24 * 500);
    n = metrics_query("us-east-1/mt", M_INCOMING_BYTES, now - 3600000, now + 60000, p, 4);
    sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += p[i].sum;
    assert_true(sum == 24 * 500 * 20);
    /* another stream, another region: apart */
    put("eu-west-1/mt", 1, 7, false);
    n = metrics_query("eu-west-1/mt", M_INCOMING_RECORDS, now - 3600000, now + 60000, p, 4);
    assert_int_equal(n, 1);
    assert_true(p[0].sum == 1);
    char *text;
    size_t len;
    assert_int_equal(metrics_render(&text, &len), HY_OK);
    assert_non_null(strstr(text, "hydrant_firehose_incoming_records_total{region=\"us-east-1\","
                                 "delivery_stream_name=\"mt\"} 24000\n"));
    assert_non_null(strstr(text, "hydrant_firehose_put_record_requests_total{region="
                                 "\"eu-west-1\",delivery_stream_name=\"mt\"} 1\n"));
    free(text);
    metrics_shutdown();
    /* off: hooks do nothing, queries find nothing */
    put("us-east-1/mt", 1, 1, false);
    assert_int_equal(metrics_query("us-east-1/mt", M_INCOMING_RECORDS, 0, now + 60000, p, 4), 0);
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(metrics_find("DeliveryToS3.DataFreshness"), M_S3_FRESHNESS);
    assert_string_equal(metrics_unit(M_S3_FRESHNESS), "Seconds");
    assert_string_equal(metrics_name(M_INCOMING_BYTES), "IncomingBytes");
    assert_int_equal(metrics_find("NoSuchMetric"), -1);
}

static void test_times(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(cw_parse_time("2026-12-02T01:02:03Z", &ms), HY_OK);
    assert_true(ms == 1796173323000LL);
    assert_int_equal(cw_parse_time("2026-12-02T01:02:03.5Z", &ms), HY_OK);
    assert_true(ms == 1796173323500LL);
    assert_int_equal(cw_parse_time("2026-12-02T02:02:03+01:00", &ms), HY_OK);
    assert_true(ms == 1796173323000LL);
    assert_int_equal(cw_parse_time("1796173323", &ms), HY_OK);
    assert_true(ms == 1796173323000LL);
    const char *bad[] = {"", "2026-13-02T01:02:03Z", "2026-12-02 01:02:03Z", "2026-12-02T01:02",
                         "2026-12-02T01:02:03Zjunk", "2026-12-02T01:02:03.Z", "abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(cw_parse_time(bad[i], &ms), HY_EINVAL);
}

static void test_form(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    struct cw_pair *v;
    size_t n;
    const char *f = "Action=GetMetricData&Namespace=AWS%2FFirehose&x&Label=a+b";
    assert_int_equal(cw_form_parse(a, f, strlen(f), 100, &v, &n), HY_OK);
    assert_int_equal(n, 4);
    assert_string_equal(v[1].value, "AWS/Firehose");
    assert_string_equal(v[2].name, "x");
    assert_string_equal(v[2].value, "");
    assert_string_equal(v[3].value, "a b");
    assert_int_equal(cw_form_parse(a, "a=%00", 5, 100, &v, &n), HY_EINVAL);
    assert_int_equal(cw_form_parse(a, "a=%zz", 5, 100, &v, &n), HY_EINVAL);
    assert_int_equal(cw_form_parse(a, "a&b&c", 5, 2, &v, &n), HY_ELIMIT);
    arena_free(a);
}

static void test_cors_match(void **state)
{
    (void)state;
    struct http_req req = {0};
    req.arena = arena_new();
    struct cors_config cfg;
    const char *code;
    char msg[300];
    const char *doc = "<CORSConfiguration><CORSRule><AllowedOrigin>http://*.example.com"
                      "</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedHeader>x-amz-*"
                      "</AllowedHeader><AllowedHeader>Content-Type</AllowedHeader></CORSRule>"
                      "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET"
                      "</AllowedMethod></CORSRule></CORSConfiguration>";
    assert_int_equal(cors_parse(&req, doc, strlen(doc), &cfg, &code, msg, sizeof msg), HY_OK);
    assert_int_equal(cfg.n, 2);
    assert_ptr_equal(cors_match(&cfg, "http://shop.example.com", "PUT",
                                "x-amz-date, content-type"), &cfg.rules[0]);
    assert_null(cors_match(&cfg, "http://shop.example.com", "PUT", "authorization"));
    assert_null(cors_match(&cfg, "https://shop.example.com", "PUT", NULL));
    assert_ptr_equal(cors_match(&cfg, "https://any.where", "GET", NULL), &cfg.rules[1]);
    assert_null(cors_match(&cfg, "https://any.where", "DELETE", NULL));
    const char *bad = "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
                      "<AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>";
    assert_int_equal(cors_parse(&req, bad, strlen(bad), &cfg, &code, msg, sizeof msg), HY_EINVAL);
    assert_string_equal(code, "InvalidRequest");
    assert_non_null(strstr(msg, "PATCH"));
    const char *empty = "<CORSConfiguration/>";
    assert_int_equal(cors_parse(&req, empty, strlen(empty), &cfg, &code, msg, sizeof msg),
                     HY_EINVAL);
    assert_string_equal(code, "MalformedXML");
    arena_free(req.arena);
}

static void test_patterns(void **state)
{
    (void)state;
    struct pattern p;
    char why[256];
    assert_int_equal(logs_pattern_parse("errorCode \"No Such\" -Lambda", &p, why, sizeof why),
                     HY_OK);
    assert_int_equal(p.n, 3);
    assert_true(logs_pattern_match(&p, "{\"errorCode\":\"S3.No Such Bucket\"}"));
    assert_false(logs_pattern_match(&p, "errorCode No Such Lambda"));
    assert_int_equal(logs_pattern_parse("?a ?b", &p, why, sizeof why), HY_OK);
    assert_true(logs_pattern_match(&p, "xbx"));
    assert_false(logs_pattern_match(&p, "xcx"));
    assert_int_equal(logs_pattern_parse("{ $.a = 1 }", &p, why, sizeof why), HY_EINVAL);
    assert_int_equal(logs_pattern_parse("\"open", &p, why, sizeof why), HY_EINVAL);
    assert_int_equal(logs_pattern_parse("", &p, why, sizeof why), HY_OK);
    assert_int_equal(p.n, 0);
    assert_true(logs_pattern_match(&p, "anything"));
}

static void test_console_helpers(void **state)
{
    (void)state;
    char v[65];
    assert_int_equal(console_cookie_get("a=1; hydrant_console=abc ; b=2", "hydrant_console", v,
                                        sizeof v), HY_OK);
    assert_string_equal(v, "abc");
    assert_int_equal(console_cookie_get("xhydrant_console=abc", "hydrant_console", v, sizeof v),
                     HY_ENOTFOUND);
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(console_canonical_query("list-type=2&delimiter=%2F&prefix=a/b c&k", &b),
                     HY_OK);
    assert_string_equal(b.data, "delimiter=%2F&k=&list-type=2&prefix=a%2Fb%20c");
    buf_reset(&b);
    assert_int_equal(console_canonical_query("a=%zz", &b), HY_EINVAL);
    buf_free(&b);
    struct console_call c;
    char why[200];
    const char *ok = "{\"service\":\"s3\",\"method\":\"GET\",\"path\":\"/b/k\",\"body\":\"x\"}";
    assert_int_equal(console_call_parse(ok, strlen(ok), &c, why, sizeof why), HY_OK);
    assert_string_equal(c.path, "/b/k");
    assert_int_equal(c.body_len, 1);
    console_call_free(&c);
    const char *inside = "{\"service\":\"s3\",\"method\":\"GET\",\"path\":\"/_hydrant/metrics\"}";
    assert_int_equal(console_call_parse(inside, strlen(inside), &c, why, sizeof why), HY_EINVAL);
    const char *svc = "{\"service\":\"ec2\",\"method\":\"GET\",\"path\":\"/\"}";
    assert_int_equal(console_call_parse(svc, strlen(svc), &c, why, sizeof why), HY_EINVAL);
}

int main(void)
{
    hy_log_level = HY_LOG_ERROR + 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_sum_over_threads),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_cors_match),
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_console_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
