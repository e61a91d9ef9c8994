/* test_firehose.c -- unit tests of firehose.c (validation in AWS's words,
 * driven through firehose_exec without HTTP) and stream.c (the catalog and
 * the buffering triggers, with explicit clocks).
 *
 * Each test gets a fresh data directory and catalog.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "api.h"
#include "stream.h"
#include "policy.h"

struct hy_config hy_cfg = {
    .region = "us-east-1",
    .max_streams = 5,
    .create_delay_ms = 0,
    .max_body = 64u << 20,
    .max_buffered = (size_t)1 << 30,
};


static char data_dir[64];
static int wakeups;

static void count_wakeup(void)
{
    __atomic_add_fetch(&wakeups, 1, __ATOMIC_RELAXED); /* producer threads call it too */
}

static int setup(void **state)
{
    (void)state;
    snprintf(data_dir, sizeof data_dir, "/tmp/hydrant-test-firehose-XXXXXX");
    if (!mkdtemp(data_dir))
        return -1;
    hy_cfg.create_delay_ms = 0;
    hy_cfg.max_streams = 5;
    wakeups = 0;
    stream_set_wakeup(count_wakeup);
    return stream_catalog_open(data_dir) == HY_OK ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    stream_set_wakeup(NULL);
    stream_catalog_close();
    snprintf(cmd, sizeof cmd, "rm -rf %s", data_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* One operation; returns the body (caller frees), *status, *type. */
static char *run(const char *op, const char *json, int *status, const char **type)
{
    struct http_req req = {
        .method = "POST",
        .uri = "/",
        .path = "/",
        .query = "",
        .body = json,
        .body_len = strlen(json),
        .arena = arena_new(),
    };
    char *body = NULL;
    assert_non_null(req.arena);
    firehose_exec(&req, op, status, &body, type);
    arena_free(req.arena);
    assert_non_null(body);
    return body;
}

/* Expects an error of that type whose message contains want. */
static void expect_error(const char *op, const char *json, int want_status,
                         const char *want_type, const char *want)
{
    int status;
    const char *type;
    char *body = run(op, json, &status, &type);
    if (!type || strcmp(type, want_type) != 0 || status != want_status ||
        (want && !strstr(body, want)))
        fail_msg("%s %s: got %d %s %s", op, json, status, type ? type : "(none)", body);
    free(body);
}

static void expect_ok(const char *op, const char *json)
{
    int status;
    const char *type;
    char *body = run(op, json, &status, &type);
    if (type || status != 200)
        fail_msg("%s %s: got %d %s", op, json, status, body);
    free(body);
}

static char *create_json(const char *name, const char *hints)
{
    static char json[1024];
    snprintf(json, sizeof json,
             "{\"DeliveryStreamName\":\"%s\",\"ExtendedS3DestinationConfiguration\":"
             "{\"RoleARN\":\"arn:aws:iam::000000000000:role/r\","
             "\"BucketARN\":\"arn:aws:s3:::bkt\"%s%s}}",
             name, hints ? ",\"BufferingHints\":" : "", hints ? hints : "");
    return json;
}

/* ---- names ----------------------------------------------------------------- */
static void test_name_valid(void **state)
{
    (void)state;
    char name64[65];
    memset(name64, 'a', 64);
    name64[64] = 0;
    expect_ok("CreateDeliveryStream", create_json("ok-Name_1.x", NULL));
    expect_ok("CreateDeliveryStream", create_json(name64, NULL));
}

static void test_name_too_long(void **state)
{
    (void)state;
    char name65[66], want[256];
    memset(name65, 'a', 65);
    name65[65] = 0;
    snprintf(want, sizeof want,
             "1 validation error detected: Value '%s' at 'deliveryStreamName' failed to "
             "satisfy constraint: Member must have length less than or equal to 64",
             name65);
    expect_error("CreateDeliveryStream", create_json(name65, NULL), 400,
                 "ValidationException", want);
}

static void test_name_bad_chars(void **state)
{
    (void)state;
    expect_error("CreateDeliveryStream", create_json("bad name", NULL), 400,
                 "ValidationException",
                 "1 validation error detected: Value 'bad name' at 'deliveryStreamName' "
                 "failed to satisfy constraint: Member must satisfy regular expression "
                 "pattern: [a-zA-Z0-9_.-]+");
    expect_error("DescribeDeliveryStream", "{\"DeliveryStreamName\":\"a/b\"}", 400,
                 "ValidationException", "regular expression pattern: [a-zA-Z0-9_.-]+");
    /* empty: too short and not matching the pattern -> two errors */
    expect_error("DescribeDeliveryStream", "{\"DeliveryStreamName\":\"\"}", 400,
                 "ValidationException", "2 validation errors detected");
}

static void test_name_missing_and_wrong_type(void **state)
{
    (void)state;
    expect_error("DescribeDeliveryStream", "{}", 400, "ValidationException",
                 "Value null at 'deliveryStreamName' failed to satisfy constraint: Member "
                 "must not be null");
    expect_error("DescribeDeliveryStream", "{\"DeliveryStreamName\":5}", 400,
                 "SerializationException", "deliveryStreamName");
    expect_error("DescribeDeliveryStream", "{\"DeliveryStreamName\":", 400,
                 "SerializationException", NULL);
    expect_error("NoSuchOperation", "{}", 400, "UnknownOperationException", NULL);
    expect_error("PutRecordBatch", "{\"DeliveryStreamName\":\"s\",\"Records\":[null]}", 400,
                 "ValidationException",
                 "Value null at 'records.1.member' failed to satisfy constraint: Member must "
                 "not be null");
    expect_error("PutRecordBatch", "{\"DeliveryStreamName\":\"s\",\"Records\":[{}]}", 400,
                 "ValidationException", "Value null at 'records.1.member.data'");
}

/* ---- buffering hints ----------------------------------------------------------- */
static void test_hint_bounds(void **state)
{
    (void)state;
    expect_ok("CreateDeliveryStream",
              create_json("h1", "{\"SizeInMBs\":1,\"IntervalInSeconds\":0}"));
    expect_ok("CreateDeliveryStream",
              create_json("h2", "{\"SizeInMBs\":128,\"IntervalInSeconds\":900}"));
    expect_error("CreateDeliveryStream", create_json("h3", "{\"SizeInMBs\":0}"), 400,
                 "ValidationException",
                 "Value '0' at 'extendedS3DestinationConfiguration.bufferingHints.sizeInMBs' "
                 "failed to satisfy constraint: Member must have value greater than or equal "
                 "to 1");
    expect_error("CreateDeliveryStream", create_json("h4", "{\"SizeInMBs\":129}"), 400,
                 "ValidationException", "Member must have value less than or equal to 128");
    expect_error("CreateDeliveryStream", create_json("h5", "{\"IntervalInSeconds\":901}"),
                 400, "ValidationException",
                 "Value '901' at "
                 "'extendedS3DestinationConfiguration.bufferingHints.intervalInSeconds' failed "
                 "to satisfy constraint: Member must have value less than or equal to 900");
    expect_error("CreateDeliveryStream", create_json("h6", "{\"IntervalInSeconds\":-1}"),
                 400, "ValidationException", "greater than or equal to 0");
    /* none of the rejected ones exists */
    expect_error("DescribeDeliveryStream", "{\"DeliveryStreamName\":\"h3\"}", 400,
                 "ResourceNotFoundException", "h3");
}

static void test_create_rules(void **state)
{
    (void)state;
    expect_error("CreateDeliveryStream", "{\"DeliveryStreamName\":\"none\"}", 400,
                 "InvalidArgumentException",
                 "Exactly one destination configuration is supported for a Firehose");
    expect_error("CreateDeliveryStream",
                 "{\"DeliveryStreamName\":\"x\",\"ExtendedS3DestinationConfiguration\":"
                 "{\"RoleARN\":\"arn:r\",\"BucketARN\":\"arn:aws:s3:::b\","
                 "\"Prefix\":\"p/!{timestamp:yyyy}/\"}}",
                 400, "InvalidArgumentException", "ErrorOutputPrefix");
    expect_error("CreateDeliveryStream",
                 "{\"DeliveryStreamName\":\"x\",\"S3DestinationConfiguration\":"
                 "{\"RoleARN\":\"arn:r\",\"BucketARN\":\"arn:aws:s3:::b/k\"}}",
                 400, "InvalidArgumentException", "BucketARN");
    expect_ok("CreateDeliveryStream", create_json("dup", NULL));
    expect_error("CreateDeliveryStream", create_json("dup", NULL), 400,
                 "ResourceInUseException", "dup");
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        expect_ok("CreateDeliveryStream", create_json(name, NULL));
    }
    expect_error("CreateDeliveryStream", create_json("sixth", NULL), 400,
                 "LimitExceededException", NULL);
}

/* What hydrant cannot deliver is refused by name (fh_check_features and
 * prefix.c's validator); the same setting turned off is accepted. */
static void test_create_refusals(void **state)
{
    (void)state;
#define EXT(name, members)                                                          \
    "{\"DeliveryStreamName\":\"" name "\",\"ExtendedS3DestinationConfiguration\":"        \
    "{\"RoleARN\":\"arn:r\",\"BucketARN\":\"arn:aws:s3:::b\"," members "}}"
    expect_error("CreateDeliveryStream",
                 EXT("r1", "\"ProcessingConfiguration\":{\"Enabled\":true,\"Processors\":"
                           "[{\"Type\":\"Lambda\"},{\"Type\":\"Lambda\"}]}"),
                 400, "InvalidArgumentException",
                 "Processor type Lambda is specified more than once");
    expect_error("CreateDeliveryStream",
                 EXT("r2", "\"DynamicPartitioningConfiguration\":{\"Enabled\":true},"
                           "\"BufferingHints\":{\"SizeInMBs\":64,\"IntervalInSeconds\":60},"
                           "\"Prefix\":\"!{partitionKeyFromQuery:}/\","
                           "\"ErrorOutputPrefix\":\"e/!{firehose:error-output-type}/\""),
                 400, "InvalidArgumentException", "which names no partition key");
    expect_error("CreateDeliveryStream",
                 EXT("r3", "\"Prefix\":\"!{partitionKeyFromQuery:}/\","
                           "\"ErrorOutputPrefix\":\"e/!{firehose:error-output-type}/\""),
                 400, "InvalidArgumentException",
                 "Dynamic Partitioning Namespaces can only be part of a prefix expression "
                 "when Dynamic Partitioning is enabled.");
    expect_error("CreateDeliveryStream", EXT("r4", "\"DataFormatConversionConfiguration\":{}"),
                 400, "InvalidArgumentException",
                 "SchemaConfiguration is required when data format conversion is enabled.");
    expect_error("CreateDeliveryStream",
                 EXT("r5", "\"Prefix\":\"p/!{timestamp:yyyy}/\",\"ErrorOutputPrefix\":"
                           "\"e/!{timestamp:yyyy}/\""),
                 400, "InvalidArgumentException",
                 "Ths supplied prefix(es) do not satisfy the following constraint: "
                 "ErrorOutputPrefix must contain !{firehose:error-output-type}");
    /* quarter-of-year now evaluates, so it is accepted; turned-off features too */
    expect_ok("CreateDeliveryStream",
              EXT("ok", "\"Prefix\":\"q=!{timestamp:Q}/\",\"ErrorOutputPrefix\":"
                        "\"e/!{firehose:error-output-type}/\",\"ProcessingConfiguration\":"
                        "{\"Enabled\":false},\"DataFormatConversionConfiguration\":"
                        "{\"Enabled\":false},\"S3BackupMode\":\"Disabled\""));
#undef EXT
    expect_error("DescribeDeliveryStream", "{\"DeliveryStreamName\":\"r1\"}", 400,
                 "ResourceNotFoundException", "r1");
}

static void test_put_batch_shape(void **state)
{
    (void)state;
    int status;
    const char *type;
    expect_ok("CreateDeliveryStream", create_json("pb", NULL));
    char *body = run("PutRecordBatch",
                     "{\"DeliveryStreamName\":\"pb\",\"Records\":[{\"Data\":\"aGk=\"},"
                     "{\"Data\":\"\"}]}",
                     &status, &type);
    assert_int_equal(status, 200);
    assert_null(type);
    assert_non_null(strstr(body, "{\"FailedPutCount\":0,\"Encrypted\":false,"));
    free(body);
    expect_error("PutRecord", "{\"DeliveryStreamName\":\"pb\",\"Record\":{\"Data\":\"@@@\"}}",
                 400, "SerializationException", "base64");
    expect_error("PutRecord", "{\"DeliveryStreamName\":\"zz\",\"Record\":{\"Data\":\"\"}}",
                 400, "ResourceNotFoundException", "Firehose zz under account");
}

static void test_update_version(void **state)
{
    (void)state;
    expect_ok("CreateDeliveryStream", create_json("up", NULL));
    const char *upd =
        "{\"DeliveryStreamName\":\"up\",\"CurrentDeliveryStreamVersionId\":\"1\","
        "\"DestinationId\":\"destinationId-000000000001\","
        "\"ExtendedS3DestinationUpdate\":{\"BufferingHints\":{\"SizeInMBs\":7}}}";
    expect_ok("UpdateDestination", upd);
    expect_error("UpdateDestination", upd, 400, "ConcurrentModificationException", NULL);
    json_t *st = NULL;
    assert_int_equal(stream_describe("us-east-1/up", &st), HY_OK);
    assert_int_equal(json_integer_value(json_object_get(st, "VersionId")), 2);
    json_t *hints = json_object_get(json_object_get(st, "Dest"), "BufferingHints");
    assert_int_equal(json_integer_value(json_object_get(hints, "SizeInMBs")), 7);
    json_decref(st);
}

/* ---- buffering triggers -------------------------------------------------------- */
static void make_stream(const char *name, int size_mb, int interval_s)
{
    json_t *dest = json_pack("{s:s, s:s, s:s, s:{s:i, s:i}}", "RoleARN", "arn:aws:iam::0:role/r",
                             "BucketARN", "arn:aws:s3:::bkt", "Prefix", "p/", "BufferingHints",
                             "SizeInMBs", size_mb, "IntervalInSeconds", interval_s);
    struct stream_new sn = {.region = "us-east-1", .name = name, .arn = "arn:test",
                            .type = "DirectPut",
                            .dest_kind = "ExtendedS3", .dest = dest};
    assert_non_null(dest);
    assert_int_equal(stream_create(&sn, 1000), HY_OK);
    json_decref(dest);
}

static void test_trigger_interval(void **state)
{
    (void)state;
    char id[129];
    struct stream_batch *b = NULL;
    make_stream("iv", 1, 60);
    assert_int_equal(stream_next_due_ms(1000), -1);
    assert_int_equal(stream_put("us-east-1/iv", "hello\n", 6, 1000, id), HY_OK);
    assert_true(strlen(id) >= 56);
    assert_int_equal(stream_put("us-east-1/iv", "world\n", 6, 2000, id), HY_OK);
    assert_int_equal(wakeups, 0);
    /* not due before the interval of the oldest record */
    assert_int_equal(stream_take_due(1000 + 59999, false, &b), HY_ENOTFOUND);
    assert_null(b);
    assert_int_equal(stream_next_due_ms(31000), 30000);
    /* due once it is 60 s old */
    assert_int_equal(stream_take_due(61000, false, &b), HY_OK);
    assert_non_null(b);
    assert_int_equal(b->nrecords, 2);
    assert_int_equal(b->data.len, 12);
    assert_memory_equal(b->data.data, "hello\nworld\n", 12);
    assert_int_equal(b->oldest_ms, 1000);
    assert_string_equal(b->dest.bucket, "bkt");
    assert_string_equal(b->dest.prefix, "p/");
    assert_int_equal(b->dest.version, 1);
    assert_int_equal(b->dest.size_mb, 1);
    assert_int_equal(b->dest.interval_s, 60);
    assert_int_equal(b->dest.compression, COMP_UNCOMPRESSED);
    stream_batch_free(b);
    /* the buffer is empty again */
    assert_int_equal(stream_take_due(999999, false, &b), HY_ENOTFOUND);
    assert_int_equal(stream_next_due_ms(999999), -1);
}

static void test_trigger_size(void **state)
{
    (void)state;
    char id[129], id2[129];
    struct stream_batch *b = NULL;
    char *big = calloc(1, STREAM_MAX_RECORD);
    assert_non_null(big);
    make_stream("sz", 1, 900);
    assert_int_equal(stream_put("us-east-1/sz", big, STREAM_MAX_RECORD, 5000, id), HY_OK);
    assert_int_equal(stream_take_due(5000, false, &b), HY_ENOTFOUND);
    assert_int_equal(wakeups, 0);
    /* 1,024,000 + 24,576 = 1 MiB exactly: due by size, at once */
    assert_int_equal(stream_put("us-east-1/sz", big, 1048576 - STREAM_MAX_RECORD, 5001, id2), HY_OK);
    assert_string_not_equal(id, id2);
    assert_int_equal(wakeups, 1);
    assert_int_equal(stream_next_due_ms(5001), 0);
    assert_int_equal(stream_take_due(5001, false, &b), HY_OK);
    assert_int_equal(b->data.len, 1048576);
    assert_int_equal(b->nrecords, 2);
    stream_batch_free(b);
    /* one byte too many for a record */
    assert_int_equal(stream_put("us-east-1/sz", big, STREAM_MAX_RECORD + 1, 5002, id), HY_ETOOBIG);
    free(big);
}

static void test_trigger_interval_zero_and_force(void **state)
{
    (void)state;
    char id[129];
    struct stream_batch *b = NULL;
    make_stream("z", 5, 0);
    make_stream("f", 5, 300);
    assert_int_equal(stream_put("us-east-1/f", "x", 1, 7000, id), HY_OK);
    assert_int_equal(wakeups, 0);
    assert_int_equal(stream_put("us-east-1/z", "y", 1, 7000, id), HY_OK);
    assert_int_equal(wakeups, 1);
    assert_int_equal(stream_take_due(7000, false, &b), HY_OK);
    assert_string_equal(b->dest.name, "z");
    stream_batch_free(b);
    /* "f" is not due, except when forced (shutdown) */
    assert_int_equal(stream_take_due(7000, false, &b), HY_ENOTFOUND);
    assert_int_equal(stream_take_due(7000, true, &b), HY_OK);
    assert_string_equal(b->dest.name, "f");
    stream_batch_free(b);
}

static void test_states_and_restart(void **state)
{
    (void)state;
    char id[129];
    bool enc;
    hy_cfg.create_delay_ms = 600000;
    make_stream("slow", 1, 60);
    assert_int_equal(stream_put("us-east-1/slow", "x", 1, 1, id), HY_ESTATE);
    assert_int_equal(stream_put("us-east-1/nope", "x", 1, 1, id), HY_ENOTFOUND);
    assert_int_equal(stream_delete("us-east-1/slow"), HY_ESTATE);
    /* after a restart it is ACTIVE */
    stream_catalog_close();
    assert_int_equal(stream_catalog_open(data_dir), HY_OK);
    assert_int_equal(stream_accepts("us-east-1/slow", &enc), HY_OK);
    assert_false(enc);
    assert_int_equal(stream_put("us-east-1/slow", "x", 1, 1, id), HY_OK);
    assert_int_equal(stream_delete("us-east-1/slow"), HY_OK);
    assert_int_equal(stream_accepts("us-east-1/slow", &enc), HY_ENOTFOUND);
    stream_catalog_close();
    assert_int_equal(stream_catalog_open(data_dir), HY_OK);
    assert_int_equal(stream_accepts("us-east-1/slow", &enc), HY_ENOTFOUND);
}

static void test_list_and_tags(void **state)
{
    (void)state;
    json_t *names = NULL, *tags, *keys;
    bool more;
    make_stream("b", 1, 60);
    make_stream("a", 1, 60);
    make_stream("c", 1, 60);
    assert_int_equal(stream_list("us-east-1", NULL, NULL, 2, &names, &more), HY_OK);
    assert_int_equal(json_array_size(names), 2);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "a");
    assert_true(more);
    json_decref(names);
    assert_int_equal(stream_list("us-east-1", NULL, "b", 10, &names, &more), HY_OK);
    assert_int_equal(json_array_size(names), 1);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "c");
    assert_false(more);
    json_decref(names);

    tags = json_object();
    for (int i = 0; i < STREAM_MAX_TAGS; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        json_object_set_new(tags, k, json_string("v"));
    }
    assert_int_equal(stream_tag("us-east-1/a", tags), HY_OK);
    json_decref(tags);
    tags = json_pack("{s:s}", "one-more", "v");
    assert_int_equal(stream_tag("us-east-1/a", tags), HY_ELIMIT);
    keys = json_pack("[s]", "k0");
    assert_int_equal(stream_untag("us-east-1/a", keys), HY_OK);
    assert_int_equal(stream_tag("us-east-1/a", tags), HY_OK);
    json_decref(keys);
    json_decref(tags);
}

/* ---- threads: puts on several threads, takes on another, nothing lost ---- */
#define PUT_THREADS 4
#define PUTS_PER_THREAD 2000
#define RECORD_BYTES 100

static volatile int producers_left;

static void *producer(void *arg)
{
    char name[STREAM_KEY_MAX], rec[RECORD_BYTES], id[129];
    assert_int_equal(stream_key(name, "us-east-1", arg), HY_OK);
    memset(rec, 'r', sizeof rec);
    for (int i = 0; i < PUTS_PER_THREAD; i++)
        while (stream_put(name, rec, sizeof rec, 1000 + i, id) == HY_EBUSY)
            ;
    __atomic_sub_fetch(&producers_left, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_concurrent_put_take(void **state)
{
    (void)state;
    pthread_t th[PUT_THREADS];
    size_t bytes = 0, records = 0;
    struct stream_batch *b;
    make_stream("t0", 1, 0);
    make_stream("t1", 1, 900);
    producers_left = PUT_THREADS;
    for (int i = 0; i < PUT_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, producer, i % 2 ? "t1" : "t0"), 0);
    while (__atomic_load_n(&producers_left, __ATOMIC_SEQ_CST) > 0) {
        if (stream_take_due(hy_now_ms(), false, &b) == HY_OK) {
            bytes += b->data.len;
            records += b->nrecords;
            stream_batch_free(b);
        }
    }
    for (int i = 0; i < PUT_THREADS; i++)
        pthread_join(th[i], NULL);
    while (stream_take_due(hy_now_ms(), true, &b) == HY_OK) {
        bytes += b->data.len;
        records += b->nrecords;
        stream_batch_free(b);
    }
    assert_int_equal(records, PUT_THREADS * PUTS_PER_THREAD);
    assert_int_equal(bytes, (size_t)PUT_THREADS * PUTS_PER_THREAD * RECORD_BYTES);
    assert_int_equal(stream_next_due_ms(hy_now_ms()), -1);
}

int main(void)
{
    hy_iam_mode = IAM_MODE_OFF; /* no IAM store here: RoleARNs are not looked up */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_name_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_bad_chars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_missing_and_wrong_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hint_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_batch_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trigger_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trigger_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trigger_interval_zero_and_force, setup, teardown),
        cmocka_unit_test_setup_teardown(test_states_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_and_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_put_take, setup, teardown),
    };
    hy_log_level = HY_LOG_WARN;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
