/* test_prefix.c -- object key naming: AWS's key format, the static-prefix
 * concatenation rule, timestamp expressions, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "prefix.h"

struct hy_config hy_cfg = {.region = "us-east-1"};

/* 2026-08-22T14:05:33.250Z */
#define TS 1787407533250LL

static void dest_init(struct stream_dest *d, const char *prefix)
{
    memset(d, 0, sizeof *d);
    strcpy(d->name, "gps-delivery-stream");
    d->version = 1;
    strcpy(d->bucket, "b");
    strcpy(d->prefix, prefix);
}

static char *key_of(struct stream_dest *d, int64_t ts)
{
    static char out[2048];
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(prefix_object_key(d, ts, "1f0c2d3e-0000-4000-8000-000000000001", &b), HY_OK);
    strcpy(out, b.data);
    buf_free(&b);
    return out;
}

static void test_default_prefix(void **s)
{
    (void)s;
    struct stream_dest d;
    dest_init(&d, "");
    assert_string_equal(key_of(&d, TS),
        "2026/08/22/14/gps-delivery-stream-1-2026-08-22-14-05-33-1f0c2d3e-0000-4000-8000-000000000001");
}

static void test_static_prefix_concatenates(void **s)
{
    (void)s;
    struct stream_dest d;
    dest_init(&d, "legacy");
    /* no '/' added: AWS concatenates */
    assert_string_equal(key_of(&d, TS),
        "legacy2026/08/22/14/gps-delivery-stream-1-2026-08-22-14-05-33-1f0c2d3e-0000-4000-8000-000000000001");
    dest_init(&d, "raw/");
    assert_true(strncmp(key_of(&d, TS), "raw/2026/08/22/14/gps-delivery-stream-1-", 40) == 0);
}

static void test_timestamp_expressions(void **s)
{
    (void)s;
    struct stream_dest d;
    dest_init(&d, "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/");
    assert_string_equal(key_of(&d, TS),
        "year=2026/month=08/day=22/hour=14/gps-delivery-stream-1-2026-08-22-14-05-33-1f0c2d3e-0000-4000-8000-000000000001");
    dest_init(&d, "!{timestamp:yyyy-MM-dd'T'HH'h'}/x''y/");
    char *k = key_of(&d, TS);
    assert_true(strncmp(k, "2026-08-22T14h/x''y/gps", 23) == 0);
}

static void test_quotes_and_names(void **s)
{
    (void)s;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(prefix_eval("!{timestamp:'at' EEE MMM d, ''yy}/", TS, NULL, &b, NULL, 0), HY_OK);
    assert_string_equal(b.data, "at Sat Aug 22, '26/");
    buf_free(&b);
}

static void test_version_and_extension(void **s)
{
    (void)s;
    struct stream_dest d;
    dest_init(&d, "");
    d.version = 7;
    d.compression = COMP_GZIP;
    char *k = key_of(&d, TS);
    assert_non_null(strstr(k, "gps-delivery-stream-7-2026-08-22-14-05-33-"));
    assert_string_equal(k + strlen(k) - 3, ".gz");
    strcpy(d.file_ext, ".csv.gz");
    k = key_of(&d, TS);
    assert_string_equal(k + strlen(k) - 7, ".csv.gz");
    d.file_ext[0] = 0;
    d.compression = COMP_SNAPPY;
    k = key_of(&d, TS);
    assert_string_equal(k + strlen(k) - 7, ".snappy");
}

static void test_random_string(void **s)
{
    (void)s;
    struct buf a, b;
    buf_init(&a, 4096);
    buf_init(&b, 4096);
    assert_int_equal(prefix_eval("r=!{firehose:random-string}/!{timestamp:yyyy}/", TS, NULL, &a, NULL, 0), HY_OK);
    assert_int_equal(prefix_eval("r=!{firehose:random-string}/!{timestamp:yyyy}/", TS, NULL, &b, NULL, 0), HY_OK);
    assert_int_equal(a.len, strlen("r=") + 11 + strlen("/2026/"));
    assert_string_not_equal(a.data, b.data);
    buf_free(&a);
    buf_free(&b);
}

static void test_expression_without_timestamp_gets_default(void **s)
{
    (void)s;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(prefix_eval("x-!{firehose:random-string}-", TS, NULL, &b, NULL, 0), HY_OK);
    assert_string_equal(b.data + b.len - strlen("2026/08/22/14/"), "2026/08/22/14/");
    buf_free(&b);
}

static void test_validate(void **s)
{
    (void)s;
    char err[256];
    assert_int_equal(prefix_validate("ok/!{timestamp:yyyy}/", false, err, sizeof err), HY_OK);
    assert_int_equal(prefix_validate("bad/!{timestamp:yyyy", false, err, sizeof err), HY_EINVAL);
    assert_non_null(strstr(err, "not closed"));
    assert_int_equal(prefix_validate("!{nope:x}", false, err, sizeof err), HY_EINVAL);
    assert_int_equal(prefix_validate("!{firehose:error-output-type}", false, err, sizeof err), HY_EINVAL);
    assert_int_equal(prefix_validate("err/!{firehose:error-output-type}/", true, err, sizeof err), HY_OK);
    assert_int_equal(prefix_validate("!{timestamp:yyyy'x}", false, err, sizeof err), HY_EINVAL);
    assert_int_equal(prefix_validate("!{timestamp:yyyy#Q}", false, err, sizeof err), HY_EINVAL);
}

static void test_error_prefix_eval(void **s)
{
    (void)s;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(prefix_eval("errors/!{firehose:error-output-type}/!{timestamp:yyyy}/", TS,
                                 "processing-failed", &b, NULL, 0), HY_OK);
    assert_string_equal(b.data, "errors/processing-failed/2026/");
    buf_free(&b);
}

static void test_too_long(void **s)
{
    (void)s;
    char p[700];
    memset(p, 'a', sizeof p - 1);
    p[sizeof p - 1] = 0;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(prefix_eval(p, TS, NULL, &b, NULL, 0), HY_ETOOBIG);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_prefix),
        cmocka_unit_test(test_static_prefix_concatenates),
        cmocka_unit_test(test_timestamp_expressions),
        cmocka_unit_test(test_quotes_and_names),
        cmocka_unit_test(test_version_and_extension),
        cmocka_unit_test(test_random_string),
        cmocka_unit_test(test_expression_without_timestamp_gets_default),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_error_prefix_eval),
        cmocka_unit_test(test_too_long),
    };
    return cmocka_run_group_tests_name("prefix", tests, NULL, NULL);
}
