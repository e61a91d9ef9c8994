/* test_lambda_processor.c -- processor_lambda (src/processors/lambda.c)
 * against real functions run by hydrant's runtime, both ways the
 * pipeline can reach them:
 *
 *  1. over HTTP: a hydrant binary started here (the one next to this test,
 *     ../hydrant) serves the Lambda API; the functions are created with
 *     signed CreateFunction requests (libcurl, SigV4) and the processor
 *     invokes them with lambda_cfg.endpoint set (lambda_invoke's libcurl
 *     client);
 *  2. in process: once that server has stopped, this test opens the same
 *     data directory with lambda_open and the processor invokes the same
 *     functions through the local runtime (no HTTP).
 *
 * Checked each way: Ok records carry the function's data and its
 * partition keys (partitionKeyFromLambda), Dropped ones vanish,
 * ProcessingFailed ones are fails with Lambda.ProcessingFailedStatus;
 * a raising function fails every record with Lambda.FunctionError after
 * 1 + NumberOfRetries attempts; a slow one with Lambda.FunctionTimedOut;
 * a function that returns a record twice and forgets others gives
 * Lambda.DuplicatedRecordId and Lambda.MissingRecordId; a non-JSON answer
 * Lambda.JsonProcessingException; a missing function
 * Lambda.InvocationFailure; BufferSizeInMBs and the 6 MB request cap
 * split the batch. And
 * check() refuses what AWS refuses. Zips are made with Python's zipfile.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "lambda.h"
#include "pipeline.h"

struct hy_config hy_cfg = {.region = "us-east-1"};
extern const struct processor processor_lambda;

#define ARN(name) "arn:aws:lambda:us-east-1:000000000000:function:" name
#define STREAM_ARN "arn:aws:firehose:us-east-1:000000000000:deliverystream/orders"

static char datadir[128];
static char endpoint[64];
static pid_t server = -1;

static const char TRANSFORM[] =
    "import base64\n"
    "calls = 0\n"
    "def handler(event, context):\n"
    "    global calls\n"
    "    calls += 1\n"
    "    assert event['deliveryStreamArn'].endswith('/orders'), event\n"
    "    assert event['region'] == 'us-east-1' and event['invocationId']\n"
    "    out = []\n"
    "    for r in event['records']:\n"
    "        assert r['approximateArrivalTimestamp'] == 1787407533250\n"
    "        d = base64.b64decode(r['data']).decode()\n"
    "        if d.startswith('drop'):\n"
    "            out.append({'recordId': r['recordId'], 'result': 'Dropped', 'data': r['data']})\n"
    "        elif d.startswith('fail'):\n"
    "            out.append({'recordId': r['recordId'], 'result': 'ProcessingFailed',\n"
    "                        'data': r['data']})\n"
    "        else:\n"
    "            out.append({'recordId': r['recordId'], 'result': 'Ok',\n"
    "                        'data': base64.b64encode(d[:8].upper().encode()).decode(),\n"
    "                        'metadata': {'partitionKeys': {'first': d[:1],\n"
    "                            'n': str(len(event['records']))}}})\n"
    "    return {'records': out}\n";
static const char RAISES[] =
    "calls = 0\n"
    "def handler(event, context):\n"
    "    global calls\n"
    "    calls += 1\n"
    "    raise RuntimeError('attempt %d' % calls)\n";
static const char SLOW[] =
    "import time\n"
    "def handler(event, context):\n"
    "    time.sleep(5)\n";
static const char DUPS[] =
    "def handler(event, context):\n"
    "    r = event['records'][0]\n"
    "    first = {'recordId': r['recordId'], 'result': 'Ok', 'data': r['data']}\n"
    "    return {'records': [first, first, {'recordId': 'stranger', 'result': 'Ok',\n"
    "                                       'data': r['data']}]}\n";
static const char COUNT[] =
    "import base64\n"
    "def handler(event, context):\n"
    "    n = base64.b64encode(str(len(event['records'])).encode()).decode()\n"
    "    return {'records': [{'recordId': r['recordId'], 'result': 'Ok', 'data': n}\n"
    "                        for r in event['records']]}\n";
static const char NOT_JSON[] =
    "def handler(event, context):\n"
    "    return 'hello'\n";

/* ---- helpers --------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The zip of {app.py: source}, base64, malloc'd. */
static char *zip_b64(const char *source)
{
    char py[256], zip[256], cmd[1024];
    snprintf(py, sizeof py, "%s/src.py", datadir);
    snprintf(zip, sizeof zip, "%s/code.zip", datadir);
    write_file(py, source);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import zipfile; "
             "zipfile.ZipFile('%s', 'w').write('%s', 'app.py')\"", zip, py);
    assert_int_equal(system(cmd), 0);
    size_t len = 0;
    char *bytes = hy_read_file(zip, 1 << 20, &len);
    assert_non_null(bytes);
    char *out = malloc(base64_encoded_len(len) + 1);
    assert_non_null(out);
    base64_encode(out, bytes, len);
    free(bytes);
    unlink(py);
    unlink(zip);
    return out;
}

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    buf_append(b, p, size * n);
    return size * n;
}

/* A signed request to the server; returns the HTTP status. */
static long call(const char *service, const char *method, const char *path,
                 const char *ctype, const char *body)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[512], sig[64];
    struct buf out;
    buf_init(&out, 1 << 20);
    snprintf(url, sizeof url, "%s%s", endpoint, path);
    snprintf(sig, sizeof sig, "aws:amz:us-east-1:%s", service);
    struct curl_slist *h = curl_slist_append(NULL, ctype);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sig);
    curl_easy_setopt(c, CURLOPT_USERPWD, "test:test");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 300)
        fprintf(stderr, "%s %s: %ld %s\n", method, path, status, out.data ? out.data : "");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    buf_free(&out);
    return status;
}

static void create_function(const char *name, const char *source, int timeout)
{
    char *zip = zip_b64(source);
    struct buf body;
    buf_init(&body, 8 << 20);
    assert_int_equal(buf_printf(&body, "{\"FunctionName\":\"%s\",\"Runtime\":\"python3.11\","
                                "\"Role\":\"arn:aws:iam::000000000000:role/firehose\","
                                "\"Handler\":\"app.handler\",\"Timeout\":%d,"
                                "\"Code\":{\"ZipFile\":\"%s\"}}", name, timeout, zip), HY_OK);
    assert_int_equal(call("lambda", "POST", "/2015-03-31/functions",
                          "Content-Type: application/json", body.data), 201);
    buf_free(&body);
    free(zip);
}

static void start_server(void)
{
    char exe[4096], bin[4200];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = 0;
    *strrchr(exe, '/') = 0;
    snprintf(bin, sizeof bin, "%s/../hydrant", exe);
    int out[2];
    assert_int_equal(pipe(out), 0);
    server = fork();
    assert_true(server >= 0);
    if (server == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(bin, bin, "--port", "0", "--data-dir", datadir, "--log-level", "warn",
              (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[128] = "";
    size_t got = 0;
    while (got < sizeof line - 1 && read(out[0], line + got, 1) == 1 && line[got] != '\n')
        got++;
    line[got] = 0;
    close(out[0]);
    int port = 0;
    assert_int_equal(sscanf(line, "listening %*s %d", &port), 1);
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
}

static void stop_server(void)
{
    int status = 0;
    kill(server, SIGTERM);
    assert_int_equal(waitpid(server, &status, 0), server);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    server = -1;
}

/* ---- the batch ----------------------------------------------------------- */

static void batch_of(struct pl_batch *b, const char *const *data, size_t n)
{
    pl_batch_init(b, 64 << 20);
    for (size_t i = 0; i < n; i++) {
        struct pl_rec like;
        memset(&like, 0, sizeof like);
        like.src = (uint32_t)i;
        like.arrival_ms = 1787407533250LL;
        assert_int_equal(pl_add(b, b, &like, data[i], strlen(data[i])), HY_OK);
    }
}

static int run(const char *arn, const char *retries, const char *bufsize,
               const struct pl_batch *in, struct pl_batch *out)
{
    struct pl_param p[3] = {{"LambdaArn", arn}, {"NumberOfRetries", retries},
                            {"BufferSizeInMBs", bufsize}};
    size_t np = bufsize ? 3 : 2;
    char msg[256] = "";
    assert_int_equal(processor_lambda.check(p, np, msg, sizeof msg), HY_OK);
    struct pl_ctx ctx = {NULL, STREAM_ARN, "us-east-1", in, 0};
    pl_batch_init(out, 64 << 20);
    return processor_lambda.run(p, np, &ctx, in, out);
}

static const struct pl_fail *fails(const struct pl_batch *b)
{
    return (const struct pl_fail *)(const void *)b->fails.data;
}

static void expect_all_failed(const struct pl_batch *out, size_t n, const char *code,
                              int attempts, const char *arn)
{
    assert_int_equal(out->n, 0);
    assert_int_equal(out->nfail, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(fails(out)[i].error_code, code);
        assert_string_equal(fails(out)[i].output_type, "processing-failed");
        assert_int_equal(fails(out)[i].attempts, attempts);
        assert_string_equal(fails(out)[i].lambda_arn, arn);
        assert_int_equal(fails(out)[i].src, i);
    }
}

/* Every behaviour, through whichever path lambda_cfg selects. */
static void check_processor(void)
{
    static const char *const recs[] = {"alpha one", "drop me", "fail me", "beta two",
                                       "gamma three"};
    struct pl_batch in, out;
    batch_of(&in, recs, 5);

    assert_int_equal(run(ARN("transform"), "3", NULL, &in, &out), HY_OK);
    assert_int_equal(out.n, 3);
    const char *want[] = {"ALPHA ON", "BETA TWO", "GAMMA TH"};
    const uint32_t src[] = {0, 3, 4};
    for (size_t i = 0; i < 3; i++) {
        const struct pl_rec *r = &pl_recs(&out)[i];
        assert_int_equal(r->src, src[i]);
        assert_int_equal(r->len, strlen(want[i]));
        assert_memory_equal(pl_data(&out, r), want[i], r->len);
        assert_int_equal(r->arrival_ms, 1787407533250LL);
        size_t klen = 0;
        const char *first = pl_key_get(&out, r, true, "first", &klen);
        assert_non_null(first);
        assert_int_equal(klen, 1);
        assert_int_equal(first[0], recs[src[i]][0]);
        const char *nrec = pl_key_get(&out, r, true, "n", &klen);
        assert_non_null(nrec);
        assert_string_equal(nrec, "5"); /* one invocation for the batch */
        assert_null(pl_key_get(&out, r, false, "first", &klen));
    }
    assert_int_equal(out.nfail, 1);
    assert_int_equal(fails(&out)[0].src, 2);
    assert_string_equal(fails(&out)[0].error_code, "Lambda.ProcessingFailedStatus");
    assert_string_equal(fails(&out)[0].message, "ProcessingFailed status set for record");
    assert_int_equal(fails(&out)[0].attempts, 1);
    assert_string_equal(fails(&out)[0].lambda_arn, ARN("transform"));
    pl_batch_free(&out);
    pl_batch_free(&in);

    /* BufferSizeInMBs 0.2: 100 kB records go two per invocation */
    char *big[5];
    for (int i = 0; i < 5; i++) {
        big[i] = malloc(100001);
        memset(big[i], 'a' + i, 100000);
        big[i][100000] = 0;
    }
    batch_of(&in, (const char *const *)big, 5);
    assert_int_equal(run(ARN("transform"), "0", "0.2", &in, &out), HY_OK);
    assert_int_equal(out.n, 5);
    for (size_t i = 0; i < 5; i++) {
        size_t klen;
        const char *nrec = pl_key_get(&out, &pl_recs(&out)[i], true, "n", &klen);
        assert_non_null(nrec);
        assert_string_equal(nrec, i < 4 ? "2" : "1");
    }
    pl_batch_free(&out);
    pl_batch_free(&in);
    for (int i = 0; i < 5; i++)
        free(big[i]);

    /* many small records: the 6 MB request cap splits the batch before
     * BufferSizeInMBs does (60,000 records of 10 bytes: 600 kB of data,
     * 7 MB of JSON) */
    {
        size_t many = 60000;
        const char **small = malloc(many * sizeof *small);
        assert_non_null(small);
        for (size_t i = 0; i < many; i++)
            small[i] = "ok-record!";
        batch_of(&in, small, many);
        free(small);
        assert_int_equal(run(ARN("count"), "0", "3", &in, &out), HY_OK);
        assert_int_equal(out.n, many);
        assert_int_equal(out.nfail, 0);
        char nbuf[16];
        const struct pl_rec *r0 = &pl_recs(&out)[0], *rl = &pl_recs(&out)[many - 1];
        snprintf(nbuf, sizeof nbuf, "%.*s", (int)r0->len, (const char *)pl_data(&out, r0));
        long first_n = atol(nbuf);
        snprintf(nbuf, sizeof nbuf, "%.*s", (int)rl->len, (const char *)pl_data(&out, rl));
        long last_n = atol(nbuf);
        assert_true(first_n > 0 && first_n < (long)many);  /* split */
        assert_int_equal(first_n + last_n, many);           /* in two */
        pl_batch_free(&out);
        pl_batch_free(&in);
    }

    batch_of(&in, recs, 2);
    assert_int_equal(run(ARN("raises"), "1", NULL, &in, &out), HY_OK);
    expect_all_failed(&out, 2, "Lambda.FunctionError", 2, ARN("raises"));
    assert_string_equal(fails(&out)[0].message, "The Lambda function was successfully "
                        "invoked but it returned an error result.");
    pl_batch_free(&out);

    assert_int_equal(run(ARN("slow"), "0", NULL, &in, &out), HY_OK);
    expect_all_failed(&out, 2, "Lambda.FunctionTimedOut", 1, ARN("slow"));
    pl_batch_free(&out);

    assert_int_equal(run(ARN("notjson"), "2", NULL, &in, &out), HY_OK);
    expect_all_failed(&out, 2, "Lambda.JsonProcessingException", 1, ARN("notjson"));
    pl_batch_free(&out);

    assert_int_equal(run(ARN("nosuchfunction"), "1", NULL, &in, &out), HY_OK);
    expect_all_failed(&out, 2, "Lambda.InvocationFailure", 2, ARN("nosuchfunction"));
    assert_non_null(strstr(fails(&out)[0].message, "not found"));
    pl_batch_free(&out);
    pl_batch_free(&in);

    batch_of(&in, recs, 3);
    assert_int_equal(run(ARN("dups"), "3", NULL, &in, &out), HY_OK);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.nfail, 3);
    assert_string_equal(fails(&out)[0].error_code, "Lambda.DuplicatedRecordId");
    assert_string_equal(fails(&out)[1].error_code, "Lambda.MissingRecordId");
    assert_string_equal(fails(&out)[2].error_code, "Lambda.MissingRecordId");
    assert_int_equal(fails(&out)[1].src, 1);
    assert_int_equal(fails(&out)[1].attempts, 1);
    pl_batch_free(&out);
    pl_batch_free(&in);
}

static void test_over_http_then_in_process(void **state)
{
    (void)state;
    strcpy(datadir, "/tmp/hydrant-lambdaprocXXXXXX");
    assert_non_null(mkdtemp(datadir));
    start_server();
    assert_int_equal(call("iam", "POST", "/", "Content-Type: application/x-www-form-urlencoded",
                          "Action=CreateRole&Version=2010-05-08&RoleName=firehose&"
                          "AssumeRolePolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22"
                          "Statement%22%3A%5B%5D%7D"), 200);
    create_function("transform", TRANSFORM, 10);
    create_function("raises", RAISES, 10);
    create_function("slow", SLOW, 1);
    create_function("dups", DUPS, 10);
    create_function("notjson", NOT_JSON, 10);
    create_function("count", COUNT, 30);

    /* 1: the HTTP client against the server */
    lambda_cfg.endpoint = endpoint;
    lambda_cfg.access_key_id = "test";
    lambda_cfg.secret_access_key = "test";
    check_processor();
    stop_server();

    /* 2: the local runtime on the same catalog */
    char exe[4096], scripts[4300];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n] = 0;
    *strrchr(exe, '/') = 0;
    snprintf(scripts, sizeof scripts, "%s/../../src/lambda_runtime", exe);
    lambda_cfg.endpoint = NULL;
    lambda_cfg.runtime_dir = scripts;
    assert_int_equal(lambda_open(datadir), HY_OK);
    check_processor();
    lambda_close();

    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", datadir);
    assert_int_equal(system(cmd), 0);
}

static void test_check_refuses_what_aws_refuses(void **state)
{
    (void)state;
    char msg[512];
    struct {
        struct pl_param p[3];
        size_t n;
        int rc;
    } cases[] = {
        {{{"LambdaArn", ARN("f")}}, 1, HY_OK},
        {{{"LambdaArn", ARN("f") ":$LATEST"}, {"NumberOfRetries", "300"}}, 2, HY_OK},
        {{{"LambdaArn", ARN("f")}, {"BufferSizeInMBs", "0.2"}, {"BufferIntervalInSeconds", "0"}},
         3, HY_OK},
        {{{"LambdaArn", ARN("f")}, {"BufferSizeInMBs", "3"},
          {"RoleArn", "arn:aws:iam::000000000000:role/firehose"}}, 3, HY_OK},
        {{{"NumberOfRetries", "3"}}, 1, HY_EINVAL},                      /* no LambdaArn */
        {{{"LambdaArn", "my-function"}}, 1, HY_EINVAL},                  /* not an ARN */
        {{{"LambdaArn", "arn:aws:s3:::bucket"}}, 1, HY_EINVAL},
        {{{"LambdaArn", "arn:aws:lambda:us-east-1:12345:function:f"}}, 1, HY_EINVAL},
        {{{"LambdaArn", ARN("f")}, {"NumberOfRetries", "301"}}, 2, HY_EINVAL},
        {{{"LambdaArn", ARN("f")}, {"NumberOfRetries", "-1"}}, 2, HY_EINVAL},
        {{{"LambdaArn", ARN("f")}, {"NumberOfRetries", "2.5"}}, 2, HY_EINVAL},
        {{{"LambdaArn", ARN("f")}, {"BufferSizeInMBs", "0.1"}}, 2, HY_EINVAL},
        {{{"LambdaArn", ARN("f")}, {"BufferSizeInMBs", "3.5"}}, 2, HY_EINVAL},
        {{{"LambdaArn", ARN("f")}, {"BufferSizeInMBs", "1e0"}}, 2, HY_EINVAL},
        {{{"LambdaArn", ARN("f")}, {"BufferIntervalInSeconds", "901"}}, 2, HY_EINVAL},
        {{{"LambdaArn", ARN("f")}, {"RoleArn", "firehose"}}, 2, HY_EINVAL},
        {{{"LambdaArn", ARN("f")}, {"MetadataExtractionQuery", "{a:.a}"}}, 2, HY_EINVAL},
        {{{"LambdaArn", ARN("f")}, {"LambdaArn", ARN("g")}}, 2, HY_EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msg[0] = 0;
        int rc = processor_lambda.check(cases[i].p, cases[i].n, msg, sizeof msg);
        if (rc != cases[i].rc)
            fprintf(stderr, "case %zu: rc %d (%s)\n", i, rc, msg);
        assert_int_equal(rc, cases[i].rc);
        if (rc != HY_OK)
            assert_true(strlen(msg) > 10);
    }
    assert_string_equal(processor_lambda.type, "Lambda");
    assert_false(processor_lambda.deterministic);
    assert_ptr_equal(processor_find("Lambda"), &processor_lambda);
}

static void test_response_parser(void **state)
{
    (void)state;
    struct lambda_resp r;
    const char *body =
        "{\"records\":[{\"recordId\":\"p1\",\"result\":\"Ok\",\"data\":\"eHl6\","
        "\"metadata\":{\"partitionKeys\":{\"a\":\"1\",\"b\":\"2\"}}},"
        "{\"recordId\":\"p0\",\"result\":\"Dropped\"},"
        "{\"recordId\":\"p2\",\"result\":\"Maybe\",\"data\":\"eA==\"},"
        "{\"recordId\":\"p3\",\"result\":\"Ok\",\"data\":\"not base64!\"},"
        "{\"recordId\":\"p4\",\"result\":\"Ok\",\"data\":\"eA==\","
        "\"metadata\":{\"partitionKeys\":{\"a\":1}}},"
        "{\"recordId\":\"p05\",\"result\":\"Ok\",\"data\":\"eA==\"},"
        "{\"recordId\":\"p9\",\"result\":\"Ok\",\"data\":\"eA==\"},"
        "{\"recordId\":\"p6\",\"result\":\"ProcessingFailed\"},"
        "{\"recordId\":\"p6\",\"result\":\"Ok\",\"data\":\"eA==\"}]}";
    assert_int_equal(lambda_resp_parse(body, strlen(body), "p", 8, &r), HY_OK);
    assert_int_equal(r.recs[0].state, LAMBDA_REC_DROPPED);
    assert_int_equal(r.recs[1].state, LAMBDA_REC_OK);
    assert_int_equal(r.recs[1].len, 3);
    assert_memory_equal(r.data.data + r.recs[1].off, "xyz", 3);
    assert_int_equal(r.recs[1].nkeys, 2);
    assert_memory_equal(r.keys.data + r.recs[1].keys_off, "a\0" "1\0" "b\0" "2", 8);
    assert_int_equal(r.recs[2].state, LAMBDA_REC_INVALID);
    assert_int_equal(r.recs[3].state, LAMBDA_REC_INVALID);
    assert_int_equal(r.recs[4].state, LAMBDA_REC_INVALID);
    assert_int_equal(r.recs[5].state, LAMBDA_REC_MISSING);   /* "p05" names none */
    assert_int_equal(r.recs[6].state, LAMBDA_REC_DUPLICATED);
    assert_int_equal(r.recs[7].state, LAMBDA_REC_MISSING);
    assert_int_equal(r.unknown_ids, 2);                      /* p05, p9 */
    lambda_resp_free(&r);
    const char *bad[] = {"", "[]", "{\"records\":{}}", "{\"records\":[", "null", "\"x\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(lambda_resp_parse(bad[i], strlen(bad[i]), "p", 2, &r), HY_EINVAL);
        assert_true(strlen(r.msg) > 10);
        lambda_resp_free(&r);
    }
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    hy_log_level = HY_LOG_WARN;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_refuses_what_aws_refuses),
        cmocka_unit_test(test_response_parser),
        cmocka_unit_test(test_over_http_then_in_process),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (server > 0)
        kill(server, SIGKILL);
    curl_global_cleanup();
    return rc;
}
