/* test_sinks.c -- unit tests of the external destinations: the
 * destinations file (destinations.c), the S3 XML answers the external S3
 * sink reads (sinks/s3_remote.c), the HTTP endpoint's answer rules and
 * configuration (sinks/http_endpoint.c), and the HTTP endpoint
 * stream through firehose_exec once delivery passes records (the flag
 * delivery.c sets, set here as delivery would).
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
#include "sinks/sinks.h"
#include "stream.h"

struct hy_config hy_cfg = {
    .region = "us-east-1",
    .max_streams = 5,
    .create_delay_ms = 0,
    .max_body = 64u << 20,
    .max_buffered = (size_t)1 << 30,
};

static const struct s3_endpoint def = {.endpoint = "http://127.0.0.1:7480",
                                       .region = "eu-west-1",
                                       .access_key_id = "AK",
                                       .secret_access_key = "SK"};

static int parse(const char *text, const struct s3_endpoint *d, struct destinations **out,
                 char *msg)
{
    return destinations_parse(text, strlen(text), d, out, msg, 400);
}

static void test_destinations_file(void **state)
{
    (void)state;
    struct destinations *d = NULL;
    char msg[400] = "";
    assert_int_equal(parse("{\"buckets\":{\"archive\":{\"endpoint\":\"https://rgw.example:7480\","
                           "\"path_style\":true,\"ca_file\":\"/x.pem\"},"
                           "\"local\":{\"endpoint\":\"embedded\"},"
                           "\"own\":{\"endpoint\":\"http://10.1.2.3\",\"region\":\"r1\","
                           "\"access_key_id\":\"a\",\"secret_access_key\":\"s\"}}}",
                           &def, &d, msg),
                     HY_OK);
    const struct s3_endpoint *e = destinations_lookup(d, "archive");
    assert_non_null(e);
    assert_string_equal(e->endpoint, "https://rgw.example:7480");
    assert_string_equal(e->region, "eu-west-1");        /* from the default */
    assert_string_equal(e->access_key_id, "AK");
    assert_true(e->path_style);
    assert_string_equal(e->ca_file, "/x.pem");
    assert_true(destinations_lookup(d, "local")->embedded);
    e = destinations_lookup(d, "own");
    assert_string_equal(e->region, "r1");
    assert_string_equal(e->secret_access_key, "s");
    assert_true(e->path_style);                         /* an IP address */
    assert_null(destinations_lookup(d, "other"));
    destinations_free(d);

    static const struct { const char *text; const char *why; } bad[] = {
        {"[]", "one JSON object"},
        {"{\"buckets\":[]}", "must be an object"},
        {"{\"buckets\":{\"abc\":{\"endpoint\":\"ftp://x\"}}}", "not an S3 endpoint URL"},
        {"{\"buckets\":{\"abc\":{\"endpoint\":\"http://x/path\"}}}", "without a path"},
        {"{\"buckets\":{\"abc\":{}}}", "has no endpoint"},
        {"{\"buckets\":{\"abc\":{\"endpoint\":\"http://x\",\"access_key_id\":\"a\"}}}",
         "without secret_access_key"},
        {"{\"buckets\":{\"abc\":{\"endpoint\":\"http://x\",\"path_style\":1}}}",
         "true or false"},
        {"{\"buckets\":{\"abc\":{\"endpoint\":\"http://x\",\"x\":1}}}", "unknown member 'x'"},
        {"{\"buckets\":{\"abc\":{\"endpoint\":\"http://x\"},\"abc\":{}}}", "not valid JSON"},
        {"{\"buckets\":{\"a/b\":{\"endpoint\":\"embedded\"}}}", "not a bucket name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        d = (struct destinations *)1;
        assert_int_equal(parse(bad[i].text, &def, &d, msg), HY_EINVAL);
        assert_null(d);
        if (!strstr(msg, bad[i].why))
            fail_msg("%s: '%s' lacks '%s'", bad[i].text, msg, bad[i].why);
    }
    /* no credentials anywhere */
    assert_int_equal(parse("{\"buckets\":{\"abc\":{\"endpoint\":\"http://x\"}}}", NULL, &d, msg),
                     HY_EINVAL);
    assert_non_null(strstr(msg, "has no credentials"));
}

static void test_s3_xml(void **state)
{
    (void)state;
    struct s3r_xml *x = malloc(sizeof *x);
    assert_non_null(x);
    const char *err = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code>"
                      "<Message>Please reduce your request rate.</Message></Error>";
    assert_int_equal(s3r_xml_parse(err, strlen(err), x), HY_OK);
    assert_string_equal(x->root, "Error");
    assert_string_equal(x->code, "SlowDown");
    assert_string_equal(x->message, "Please reduce your request rate.");
    const char *list = "<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/"
                       "2006-03-01/\"><IsTruncated>true</IsTruncated><NextKeyMarker>k&amp;1"
                       "</NextKeyMarker><Upload><Key>k&amp;1</Key><UploadId>u1</UploadId>"
                       "</Upload><Upload><Key>k2</Key><UploadId>u2</UploadId></Upload>"
                       "</ListMultipartUploadsResult>";
    assert_int_equal(s3r_xml_parse(list, strlen(list), x), HY_OK);
    assert_int_equal(x->nuploads, 2);
    assert_string_equal(x->uploads[0].key, "k&1");
    assert_string_equal(x->uploads[1].id, "u2");
    assert_true(x->truncated);
    assert_string_equal(x->next_key, "k&1");
    const char *done = "<CompleteMultipartUploadResult><ETag>&quot;abc-2&quot;</ETag>"
                       "</CompleteMultipartUploadResult>";
    assert_int_equal(s3r_xml_parse(done, strlen(done), x), HY_OK);
    assert_string_equal(x->etag, "\"abc-2\"");
    /* an <Error> nested elsewhere is not the answer's error */
    const char *nested = "<CompleteMultipartUploadResult><Error><Code>X</Code></Error>"
                         "</CompleteMultipartUploadResult>";
    assert_int_equal(s3r_xml_parse(nested, strlen(nested), x), HY_OK);
    assert_string_equal(x->code, "");
    const char *bad = "<Error><Code>X</Code>";
    assert_int_equal(s3r_xml_parse(bad, strlen(bad), x), HY_EINVAL);
    assert_string_equal(x->code, "");                   /* nothing half-read kept */
    const char *dtd = "<!DOCTYPE Error [<!ENTITY a \"b\">]><Error><Code>&a;</Code></Error>";
    assert_int_equal(s3r_xml_parse(dtd, strlen(dtd), x), HY_EINVAL);
    free(x);
}

static void test_http_response_rules(void **state)
{
    (void)state;
    const char *id = "1f0c0000-0000-8000-8000-000000000001";
    const char *code = NULL;
    char why[300];
    char ok[200];
    snprintf(ok, sizeof ok, "{\"requestId\":\"%s\",\"timestamp\":1578090903599}", id);
    assert_int_equal(http_endpoint_check_response(200, ok, strlen(ok), false, id, &code, why,
                                                  sizeof why), HY_OK);
    assert_int_equal(http_endpoint_check_response(201, ok, strlen(ok), false, id, &code, why,
                                                  sizeof why), HY_EIO);
    assert_string_equal(code, "HttpEndpoint.DestinationException");
    assert_int_equal(http_endpoint_check_response(413, ok, strlen(ok), false, id, &code, why,
                                                  sizeof why), HY_EIO);
    assert_string_equal(code, "HttpEndpoint.DestinationException");
    assert_non_null(strstr(why, "413"));
    assert_int_equal(http_endpoint_check_response(200, ok, strlen(ok), true, id, &code, why,
                                                  sizeof why), HY_EIO);
    assert_string_equal(code, "HttpEndpoint.ResponseTooLarge");
    const char *other = "{\"requestId\":\"other\",\"timestamp\":1}";
    assert_int_equal(http_endpoint_check_response(200, other, strlen(other), false, id, &code,
                                                  why, sizeof why), HY_EIO);
    assert_string_equal(code, "HttpEndpoint.InvalidResponseFromDestination");
    assert_int_equal(http_endpoint_check_response(200, "OK", 2, false, id, &code, why,
                                                  sizeof why), HY_EIO);
    assert_string_equal(code, "HttpEndpoint.InvalidResponseFromDestination");
    assert_int_equal(http_endpoint_check_response(200, "", 0, false, id, &code, why,
                                                  sizeof why), HY_EIO);
}

static const char *CFG =
    "{\"EndpointConfiguration\":{\"Url\":\"https://receiver.example/in\",\"Name\":\"r\","
    "\"AccessKey\":\"secret\"},\"RequestConfiguration\":{\"ContentEncoding\":\"GZIP\"},"
    "\"BufferingHints\":{\"SizeInMBs\":2,\"IntervalInSeconds\":0},"
    "\"S3Configuration\":{\"RoleARN\":\"arn:aws:iam::000000000000:role/r\","
    "\"BucketARN\":\"arn:aws:s3:::backup-bucket\"}}";

static void test_http_config_accessors(void **state)
{
    (void)state;
    json_error_t e;
    json_t *cfg = json_loads(CFG, 0, &e);
    char msg[600];
    assert_non_null(cfg);
    sinks_records_passed = false;
    assert_int_equal(http_endpoint_check(cfg, msg, sizeof msg), HY_EINVAL);
    assert_non_null(strstr(msg, "sink_put.records"));
    sinks_records_passed = true;
    assert_int_equal(http_endpoint_check(cfg, msg, sizeof msg), HY_OK);
    assert_true(http_endpoint_is(cfg));
    assert_string_equal(http_endpoint_backup_bucket(cfg), "backup-bucket");
    assert_int_equal(http_endpoint_retry_window_s(cfg), 300);  /* AWS's default */
    assert_false(http_endpoint_backup_all(cfg));
    json_t *d = http_endpoint_describe(cfg);
    char *text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    assert_null(strstr(text, "secret"));
    assert_non_null(strstr(text, "\"S3BackupMode\":\"FailedDataOnly\""));
    assert_non_null(strstr(text, "\"RetryOptions\":{\"DurationInSeconds\":300}"));
    free(text);
    json_decref(d);
    json_decref(cfg);
}

static char data_dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(data_dir, sizeof data_dir, "/tmp/hydrant-test-sinks-XXXXXX");
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

static char *run(const char *op, const char *json, int *status)
{
    struct http_req req = {.method = "POST", .uri = "/", .path = "/", .query = "",
                           .body = json, .body_len = strlen(json), .arena = arena_new()};
    char *body = NULL;
    const char *type = NULL;
    firehose_exec(&req, op, status, &body, &type);
    arena_free(req.arena);
    assert_non_null(body);
    return body;
}

static void test_http_stream_create_describe_update(void **state)
{
    (void)state;
    int status = 0;
    char req[2048];
    sinks_records_passed = true;
    snprintf(req, sizeof req, "{\"DeliveryStreamName\":\"he\","
             "\"HttpEndpointDestinationConfiguration\":%s}", CFG);
    free(run("CreateDeliveryStream", req, &status));
    assert_int_equal(status, 200);
    usleep(20000);
    char *body = run("DescribeDeliveryStream", "{\"DeliveryStreamName\":\"he\"}", &status);
    assert_int_equal(status, 200);
    json_error_t e;
    json_t *o = json_loads(body, 0, &e);
    free(body);
    json_t *dest = json_array_get(json_object_get(json_object_get(o, "DeliveryStreamDescription"),
                                                  "Destinations"), 0);
    json_t *h = json_object_get(dest, "HttpEndpointDestinationDescription");
    assert_non_null(h);
    assert_null(json_object_get(dest, "ExtendedS3DestinationDescription"));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(h, "EndpointConfiguration"), "Url")),
                        "https://receiver.example/in");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(h, "S3DestinationDescription"), "BucketARN")),
                        "arn:aws:s3:::backup-bucket");
    json_decref(o);
    /* an update: the URL and the backup bucket change, the rest stays */
    free(run("UpdateDestination",
             "{\"DeliveryStreamName\":\"he\",\"CurrentDeliveryStreamVersionId\":\"1\","
             "\"DestinationId\":\"destinationId-000000000001\",\"HttpEndpointDestinationUpdate\":"
             "{\"EndpointConfiguration\":{\"Url\":\"https://other.example/\"},"
             "\"S3Update\":{\"BucketARN\":\"arn:aws:s3:::backup-two\"}}}",
             &status));
    assert_int_equal(status, 200);
    body = run("DescribeDeliveryStream", "{\"DeliveryStreamName\":\"he\"}", &status);
    assert_non_null(strstr(body, "https://other.example/"));
    assert_non_null(strstr(body, "arn:aws:s3:::backup-two"));
    assert_non_null(strstr(body, "\"ContentEncoding\":\"GZIP\""));
    free(body);
    /* an S3 update on an HTTP endpoint stream is refused */
    body = run("UpdateDestination",
               "{\"DeliveryStreamName\":\"he\",\"CurrentDeliveryStreamVersionId\":\"2\","
               "\"DestinationId\":\"destinationId-000000000001\","
               "\"ExtendedS3DestinationUpdate\":{\"Prefix\":\"x/\"}}",
               &status);
    assert_int_equal(status, 400);
    assert_non_null(strstr(body, "Changing the destination type"));
    free(body);
    /* two destinations at once */
    snprintf(req, sizeof req, "{\"DeliveryStreamName\":\"two\","
             "\"HttpEndpointDestinationConfiguration\":%s,"
             "\"S3DestinationConfiguration\":{\"RoleARN\":\"arn:aws:iam::000000000000:role/r\","
             "\"BucketARN\":\"arn:aws:s3:::b\"}}", CFG);
    body = run("CreateDeliveryStream", req, &status);
    assert_int_equal(status, 400);
    assert_non_null(strstr(body, "Exactly one destination"));
    free(body);
    sinks_records_passed = false;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_destinations_file),
        cmocka_unit_test(test_s3_xml),
        cmocka_unit_test(test_http_response_rules),
        cmocka_unit_test(test_http_config_accessors),
        cmocka_unit_test_setup_teardown(test_http_stream_create_describe_update, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
