/* test_fhscan.c -- unit tests of fhscan.c (the PutRecord / PutRecordBatch
 * scanner) and of the put answers firehose.c now writes by hand.
 *
 * - Shapes the scanner accepts, with the exact decoded bytes.
 * - Shapes it refuses (FHSCAN_FALLBACK), each one a way a body can differ
 *   from the simple shape or break a limit; the jansson path then answers.
 * - Through firehose_exec: answers are compact JSON byte-identical to what
 *   jansson would print for the same object, in the old member order, and
 *   bodies the scanner refuses still get the jansson path's errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api.h"
#include "fhscan.h"
#include "stream.h"
#include "policy.h"

struct hy_config hy_cfg = {
    .region = "us-east-1",
    .max_streams = 5,
    .create_delay_ms = 0,
    .max_body = 64u << 20,
    .max_buffered = (size_t)1 << 30,
};

static int scan(struct fhscan *s, const char *body, bool batch)
{
    return fhscan_put(s, body, strlen(body), batch);
}

static void expect_record(const struct fhscan *s, size_t i, const char *want, size_t want_len)
{
    assert_true(i < s->n);
    assert_int_equal(s->len[i], want_len);
    assert_memory_equal(s->data + s->off[i], want, want_len);
}

/* ---- accepted ------------------------------------------------------------ */
static void test_accept_put(void **state)
{
    (void)state;
    struct fhscan s;
    assert_int_equal(scan(&s, "{\"DeliveryStreamName\":\"s1\",\"Record\":{\"Data\":\"aGVsbG8K\"}}",
                          false), HY_OK);
    assert_string_equal(s.name, "s1");
    assert_int_equal(s.n, 1);
    expect_record(&s, 0, "hello\n", 6);
    fhscan_free(&s);
    fhscan_free(&s); /* twice is fine */

    /* member order, whitespace everywhere jansson allows it, no padding */
    assert_int_equal(scan(&s, " \r\n{ \"Record\" :\t{ \"Data\" : \"QUI\" } ,"
                              "\"DeliveryStreamName\" : \"a.b-C_9\" }\n", false), HY_OK);
    assert_string_equal(s.name, "a.b-C_9");
    expect_record(&s, 0, "AB", 2);
    fhscan_free(&s);

    /* an empty record is a record */
    assert_int_equal(scan(&s, "{\"DeliveryStreamName\":\"e\",\"Record\":{\"Data\":\"\"}}",
                          false), HY_OK);
    assert_int_equal(s.len[0], 0);
    fhscan_free(&s);
}

static void test_accept_batch(void **state)
{
    (void)state;
    struct fhscan s;
    assert_int_equal(scan(&s, "{\"DeliveryStreamName\":\"b\",\"Records\":[{\"Data\":\"QQ==\"},"
                              "{\"Data\":\"QUI=\"}, {\"Data\":\"QUJD\"},{\"Data\":\"\"},"
                              "{\"Data\":\"AP8=\"}]}", true), HY_OK);
    assert_int_equal(s.n, 5);
    expect_record(&s, 0, "A", 1);
    expect_record(&s, 1, "AB", 2);
    expect_record(&s, 2, "ABC", 3);
    expect_record(&s, 3, "", 0);
    expect_record(&s, 4, "\0\xff", 2);
    assert_int_equal(s.total, 8);
    assert_int_equal(s.off[4], 6); /* back to back */
    fhscan_free(&s);

    /* 500 records of 8 KiB: the whole legal size */
    size_t rec = 8192, enc = base64_encoded_len(rec);
    char *b64 = malloc(enc + 1), *body = malloc(500 * (enc + 16) + 64);
    unsigned char *raw = malloc(rec);
    assert_non_null(b64);
    assert_non_null(body);
    assert_non_null(raw);
    for (size_t i = 0; i < rec; i++)
        raw[i] = (unsigned char)(i * 7);
    base64_encode(b64, raw, rec);
    size_t used = (size_t)sprintf(body, "{\"DeliveryStreamName\":\"big\",\"Records\":[");
    for (int i = 0; i < 500; i++)
        used += (size_t)sprintf(body + used, "%s{\"Data\":\"%s\"}", i ? "," : "", b64);
    strcpy(body + used, "]}");
    assert_int_equal(scan(&s, body, true), HY_OK);
    assert_int_equal(s.n, 500);
    assert_int_equal(s.total, 500 * rec);
    expect_record(&s, 499, (const char *)raw, rec);
    fhscan_free(&s);
    free(b64);
    free(body);
    free(raw);
}

/* ---- refused ------------------------------------------------------------- */
static void test_refuse(void **state)
{
    (void)state;
    static const struct {
        bool batch;
        const char *body;
    } cases[] = {
        {false, ""},
        {false, "[]"},
        {false, "{}"},
        {false, "{\"DeliveryStreamName\":\"s\"}"},
        {false, "{\"Record\":{\"Data\":\"QQ==\"}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"QQ==\"},\"X\":1}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"DeliveryStreamName\":\"t\",\"Record\":{\"Data\":\"\"}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"\"},\"Record\":{\"Data\":\"\"}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"QQ==\",\"Data\":\"QQ==\"}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"QQ==\",\"X\":1}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":null}"},
        {false, "{\"DeliveryStreamName\":null,\"Record\":{\"Data\":\"QQ==\"}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":null}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":5}}"},
        {false, "{\"DeliveryStreamName\":5,\"Record\":{\"Data\":\"QQ==\"}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":[{\"Data\":\"QQ==\"}]}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"QQ==\"}]}"},
        {true, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"QQ==\"}}"},
        {false, "{\"DeliveryStreamName\":\"s\\u0074\",\"Record\":{\"Data\":\"QQ==\"}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"QQ\\u003d=\"}}"},
        {false, "{\"DeliveryStream\\u004eame\":\"s\",\"Record\":{\"Data\":\"QQ==\"}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"Q\"}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"@@@@\"}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"QQ=A\"}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"QQ ==\"}}"},
        {false, "{\"DeliveryStreamName\":\"\",\"Record\":{\"Data\":\"QQ==\"}}"},
        {false, "{\"DeliveryStreamName\":\"a b\",\"Record\":{\"Data\":\"QQ==\"}}"},
        {false, "{\"DeliveryStreamName\":\"\xc3\xa9\",\"Record\":{\"Data\":\"QQ==\"}}"},
        {false, "{\"DeliveryStreamName\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "aaaaaaaaaaaa\",\"Record\":{\"Data\":\"QQ==\"}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"QQ==\"}} x"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"QQ==\"}}{}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"QQ==\"},}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"QQ==\"}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"QQ=="},
        {false, "{\"DeliveryStreamName\":\"s\" \"Record\":{\"Data\":\"QQ==\"}}"},
        {false, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"QQ==\"}}\f"},
        {true, "{\"DeliveryStreamName\":\"s\",\"Records\":[]}"},
        {true, "{\"DeliveryStreamName\":\"s\",\"Records\":[null]}"},
        {true, "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"QQ==\"},]}"},
        {true, "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"QQ==\"}"},
        {true, "{\"DeliveryStreamName\":\"s\",\"Records\":{\"Data\":\"QQ==\"}}"},
        {true, "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"QQ==\"}],\"Records\":[]}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fhscan s;
        int rc = scan(&s, cases[i].body, cases[i].batch);
        if (rc != FHSCAN_FALLBACK)
            fail_msg("case %zu accepted: %s", i, cases[i].body);
        assert_null(s.data);
    }
}

/* Limits: 501 records, a record of 1,024,001 bytes, 4 MiB + 1 in all, and
 * padding that decodes to little but counts in the encoded estimate. */
static void test_refuse_limits(void **state)
{
    (void)state;
    struct fhscan s;
    size_t cap = 6u << 20;
    char *body = malloc(cap);
    assert_non_null(body);

    size_t used = (size_t)sprintf(body, "{\"DeliveryStreamName\":\"s\",\"Records\":[");
    for (int i = 0; i < 501; i++)
        used += (size_t)sprintf(body + used, "%s{\"Data\":\"QQ==\"}", i ? "," : "");
    strcpy(body + used, "]}");
    assert_int_equal(scan(&s, body, true), FHSCAN_FALLBACK);
    body[used - strlen(",{\"Data\":\"QQ==\"}")] = 0; /* 500 records */
    strcat(body, "]}");
    assert_int_equal(scan(&s, body, true), HY_OK);
    assert_int_equal(s.n, 500);
    fhscan_free(&s);

    /* 1,024,000 bytes = 341,333 quanta + 1 byte, 1,024,001 + 2 bytes */
    for (int rec_bytes = 1024000; rec_bytes <= 1024001; rec_bytes++) {
        used = (size_t)sprintf(body, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"");
        size_t enc = (size_t)rec_bytes / 3 * 4;
        memset(body + used, 'A', enc);
        used += enc;
        used += (size_t)sprintf(body + used, "%s\"}}", rec_bytes % 3 == 1 ? "AA==" : "AAA=");
        assert_int_equal(scan(&s, body, false),
                         rec_bytes == 1024000 ? HY_OK : FHSCAN_FALLBACK);
        fhscan_free(&s);
    }

    /* 5 records of 838,861 bytes: 4,194,305 in all */
    used = (size_t)sprintf(body, "{\"DeliveryStreamName\":\"s\",\"Records\":[");
    for (int i = 0; i < 5; i++) {
        used += (size_t)sprintf(body + used, "%s{\"Data\":\"", i ? "," : "");
        memset(body + used, 'A', 838860 / 3 * 4);
        used += 838860 / 3 * 4;
        used += (size_t)sprintf(body + used, "AA==\"}");
    }
    strcpy(body + used, "]}");
    assert_int_equal(scan(&s, body, true), FHSCAN_FALLBACK);

    /* one record "QQ" + 6 MB of '=': decodes to 1 byte, estimated at 4.5 MB */
    used = (size_t)sprintf(body, "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"QQ");
    memset(body + used, '=', 6000000);
    used += 6000000;
    strcpy(body + used, "\"}]}");
    assert_int_equal(scan(&s, body, true), FHSCAN_FALLBACK);
    free(body);
}

/* ---- through firehose_exec -------------------------------------------- */
static char data_dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(data_dir, sizeof data_dir, "/tmp/hydrant-test-fhscan-XXXXXX");
    if (!mkdtemp(data_dir))
        return -1;
    return stream_catalog_open(data_dir) == HY_OK ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    stream_catalog_close();
    snprintf(cmd, sizeof cmd, "rm -rf %s", data_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *run(const char *op, const char *json, int *status, const char **type)
{
    struct http_req req = {
        .method = "POST", .uri = "/", .path = "/", .query = "",
        .body = json, .body_len = strlen(json), .arena = arena_new(),
    };
    char *body = NULL;
    assert_non_null(req.arena);
    firehose_exec(&req, op, status, &body, type);
    arena_free(req.arena);
    assert_non_null(body);
    return body;
}

/* The answer is exactly what jansson prints for the object it holds. */
static void expect_compact(const char *body)
{
    json_error_t err;
    json_t *o = json_loads(body, 0, &err);
    assert_non_null(o);
    char *again = json_dumps(o, JSON_COMPACT);
    assert_non_null(again);
    assert_string_equal(again, body);
    free(again);
    json_decref(o);
}

static void test_answers(void **state)
{
    (void)state;
    int status;
    const char *type;
    char *body = run("CreateDeliveryStream",
                     "{\"DeliveryStreamName\":\"ans\",\"ExtendedS3DestinationConfiguration\":"
                     "{\"RoleARN\":\"arn:aws:iam::000000000000:role/r\","
                     "\"BucketARN\":\"arn:aws:s3:::bkt\"}}", &status, &type);
    assert_int_equal(status, 200);
    free(body);

    /* the scanner's path and, with an escaped name, jansson's: same shape */
    static const char *const puts[] = {
        "{\"DeliveryStreamName\":\"ans\",\"Record\":{\"Data\":\"aGk=\"}}",
        "{\"DeliveryStreamName\":\"an\\u0073\",\"Record\":{\"Data\":\"aGk=\"}}",
    };
    static const char *const batches[] = {
        "{\"DeliveryStreamName\":\"ans\",\"Records\":[{\"Data\":\"aGk=\"},{\"Data\":\"\"}]}",
        "{\"DeliveryStreamName\":\"an\\u0073\",\"Records\":[{\"Data\":\"aGk=\"},{\"Data\":\"\"}]}",
    };
    for (int i = 0; i < 2; i++) {
        body = run("PutRecord", puts[i], &status, &type);
        assert_int_equal(status, 200);
        assert_null(type);
        assert_int_equal(strncmp(body, "{\"RecordId\":\"", 13), 0);
        assert_non_null(strstr(body, "\",\"Encrypted\":false}"));
        expect_compact(body);
        free(body);

        body = run("PutRecordBatch", batches[i], &status, &type);
        assert_int_equal(status, 200);
        assert_null(type);
        static const char head[] = "{\"FailedPutCount\":0,\"Encrypted\":false,"
                                   "\"RequestResponses\":[{\"RecordId\":\"";
        assert_int_equal(strncmp(body, head, sizeof head - 1), 0);
        assert_non_null(strstr(body, "\"},{\"RecordId\":\""));
        assert_string_equal(body + strlen(body) - 4, "\"}]}");
        expect_compact(body);
        free(body);
    }
}

/* A batch with a failed record: FailedPutCount counts it and its entry
 * carries ErrorCode / ErrorMessage, in jansson's bytes. */
static void test_answer_failed_record(void **state)
{
    (void)state;
    int status;
    const char *type;
    size_t saved = hy_cfg.max_buffered;
    char *body = run("CreateDeliveryStream",
                     "{\"DeliveryStreamName\":\"full\",\"ExtendedS3DestinationConfiguration\":"
                     "{\"RoleARN\":\"arn:aws:iam::000000000000:role/r\","
                     "\"BucketARN\":\"arn:aws:s3:::bkt\"}}", &status, &type);
    assert_int_equal(status, 200);
    free(body);
    hy_cfg.max_buffered = 3; /* room for the first 2-byte record only */
    body = run("PutRecordBatch",
               "{\"DeliveryStreamName\":\"full\",\"Records\":[{\"Data\":\"aGk=\"},"
               "{\"Data\":\"aGk=\"}]}", &status, &type);
    hy_cfg.max_buffered = saved;
    assert_int_equal(status, 200);
    assert_null(type);
    static const char head[] = "{\"FailedPutCount\":1,\"Encrypted\":false,";
    if (strncmp(body, head, sizeof head - 1) != 0)
        fail_msg("got %s", body);
    assert_non_null(strstr(body, "\"},{\"ErrorCode\":\"ServiceUnavailableException\","
                                 "\"ErrorMessage\":\"Slow down.\"}]}"));
    expect_compact(body);
    free(body);
}

/* Bodies the scanner refuses still get the jansson path's words. */
static void test_fallback_errors(void **state)
{
    (void)state;
    int status;
    const char *type;
    char *body = run("PutRecordBatch", "{\"DeliveryStreamName\":\"nope\",\"Records\":[]}",
                     &status, &type);
    assert_int_equal(status, 400);
    assert_string_equal(type, "ValidationException");
    assert_non_null(strstr(body, "at 'records' failed to satisfy constraint: Member must have "
                                 "length greater than or equal to 1"));
    free(body);
    body = run("PutRecord", "{\"DeliveryStreamName\":\"nope\",\"Record\":{\"Data\":\"Q\"}}",
               &status, &type);
    assert_string_equal(type, "SerializationException");
    assert_non_null(strstr(body, "Value at 'record.data' is not valid base64"));
    free(body);
    body = run("PutRecordBatch",
               "{\"DeliveryStreamName\":\"nope\",\"Records\":[{\"Data\":\"QQ==\"},"
               "{\"Data\":\"Q\"}]}", &status, &type);
    assert_string_equal(type, "SerializationException");
    assert_non_null(strstr(body, "Value at 'records.2.member.data' is not valid base64"));
    free(body);
    /* accepted by the scanner, refused by the catalog: the same text */
    body = run("PutRecord", "{\"DeliveryStreamName\":\"nope\",\"Record\":{\"Data\":\"QQ==\"}}",
               &status, &type);
    assert_string_equal(type, "ResourceNotFoundException");
    assert_non_null(strstr(body, "Firehose nope under account"));
    free(body);
}

int main(void)
{
    hy_iam_mode = IAM_MODE_OFF; /* no IAM store here: RoleARNs are not looked up */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_put),
        cmocka_unit_test(test_accept_batch),
        cmocka_unit_test(test_refuse),
        cmocka_unit_test(test_refuse_limits),
        cmocka_unit_test_setup_teardown(test_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_failed_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallback_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
