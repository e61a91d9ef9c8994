/* test_pipeline.c -- records in flight (pipeline.c): appends carry a
 * record's source, arrival and partition keys from batch to batch; keys
 * are looked up by name and kind; failures are listed and carried; the
 * error record is AWS's JSON line, whatever bytes a message holds; the
 * ceiling bounds a batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "pipeline.h"

struct hy_config hy_cfg = {.region = "us-east-1"};

static void test_add_carries_source_and_keys(void **s)
{
    (void)s;
    struct pl_batch a, b;
    pl_batch_init(&a, 1 << 20);
    pl_batch_init(&b, 1 << 20);
    struct pl_rec like = {.src = 7, .arrival_ms = 1234};
    assert_int_equal(pl_add(&a, &a, &like, "hello", 5), HY_OK);
    const char *names[] = {"customer_id", "region"}, *values[] = {"42", "eu"};
    assert_int_equal(pl_set_keys(&a, &pl_recs(&a)[0], false, names, values, 2), HY_OK);
    const char *ln[] = {"kind"}, *lv[] = {"x"};
    assert_int_equal(pl_set_keys(&a, &pl_recs(&a)[0], true, ln, lv, 1), HY_OK);
    /* into another batch: a new body, the same source, arrival and keys */
    assert_int_equal(pl_add(&b, &a, &pl_recs(&a)[0], "HELLO!", 6), HY_OK);
    const struct pl_rec *r = &pl_recs(&b)[0];
    assert_int_equal(b.n, 1);
    assert_int_equal(r->src, 7);
    assert_int_equal(r->arrival_ms, 1234);
    assert_memory_equal(pl_data(&b, r), "HELLO!", 6);
    size_t len = 0;
    const char *v = pl_key_get(&b, r, false, "region", &len);
    assert_non_null(v);
    assert_int_equal(len, 2);
    assert_string_equal(v, "eu");
    assert_string_equal(pl_key_get(&b, r, false, "customer_id", NULL), "42");
    assert_null(pl_key_get(&b, r, false, "kind", NULL)); /* a Lambda key, not a query key */
    assert_string_equal(pl_key_get(&b, r, true, "kind", NULL), "x");
    assert_null(pl_key_get(&b, r, true, "customer_id", NULL));
    /* appending to itself: keys copied while the key buffer grows */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(pl_add(&b, &b, &pl_recs(&b)[0], "y", 1), HY_OK);
    assert_string_equal(pl_key_get(&b, &pl_recs(&b)[1000], false, "customer_id", NULL), "42");
    pl_batch_free(&a);
    pl_batch_free(&b);
}

static void test_fails_and_ceiling(void **s)
{
    (void)s;
    struct pl_batch a, b;
    pl_batch_init(&a, 8);
    pl_batch_init(&b, 8);
    struct pl_rec like = {.src = 1};
    assert_int_equal(pl_add(&a, &a, &like, "12345678", 8), HY_OK);
    assert_int_equal(pl_add(&a, &a, &like, "9", 1), HY_ETOOBIG);
    assert_int_equal(a.n, 1);
    assert_int_equal(pl_fail_add(&a, 3, "Lambda.FunctionError", "processing-failed", 4,
                                 "arn:aws:lambda:us-east-1:000000000000:function:f",
                                 "failed %d times", 4), HY_OK);
    assert_int_equal(pl_fails_copy(&b, &a), HY_OK);
    assert_int_equal(b.nfail, 1);
    const struct pl_fail *f = (const struct pl_fail *)(const void *)b.fails.data;
    assert_int_equal(f->src, 3);
    assert_string_equal(f->message, "failed 4 times");
    assert_string_equal(f->output_type, "processing-failed");
    assert_int_equal(f->attempts, 4);
    pl_batch_free(&a);
    pl_batch_free(&b);
}

static void test_error_record(void **s)
{
    (void)s;
    struct buf out;
    buf_init(&out, 1 << 20);
    struct pl_error_rec r = {.attempts = 4, .arrival_ms = 1700000000000LL,
                             .error_code = "Lambda.ProcessingFailedStatus",
                             .message = "bad \"quote\" and \xff byte", .ending_ms = 1700000001000LL,
                             .raw = "\x00\x01raw", .raw_len = 5,
                             .lambda_arn = "arn:aws:lambda:us-east-1:000000000000:function:f"};
    assert_int_equal(pl_error_record(&out, &r), HY_OK);
    assert_int_equal(out.data[out.len - 1], '\n');
    json_error_t e;
    json_t *o = json_loadb(out.data, out.len, 0, &e);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "attemptsMade")), 4);
    assert_int_equal(json_integer_value(json_object_get(o, "arrivalTimestamp")), 1700000000000LL);
    assert_string_equal(json_string_value(json_object_get(o, "errorCode")),
                        "Lambda.ProcessingFailedStatus");
    assert_int_equal(json_integer_value(json_object_get(o, "attemptEndingTimestamp")),
                     1700000001000LL);
    assert_string_equal(json_string_value(json_object_get(o, "rawData")), "AAFyYXc=");
    assert_string_equal(json_string_value(json_object_get(o, "lambdaArn")), r.lambda_arn);
    assert_null(json_object_get(o, "deliveryStreamName"));
    /* the byte that is not UTF-8 became U+FFFD; the quotes survive */
    assert_string_equal(json_string_value(json_object_get(o, "errorMessage")),
                        "bad \"quote\" and \xef\xbf\xbd byte");
    json_decref(o);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_carries_source_and_keys),
        cmocka_unit_test(test_fails_and_ceiling),
        cmocka_unit_test(test_error_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
