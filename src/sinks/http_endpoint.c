/* sinks/http_endpoint.c -- the HTTP endpoint destination
 * (HttpEndpointDestinationConfiguration): its checks, its describe shape,
 * its sink, and its error records.
 *
 * The wire contract is AWS's "HTTP endpoint delivery request and response
 * specifications" (docs.aws.amazon.com/firehose/latest/dev/
 * httpdeliveryrequestresponse.html):
 * - POST to the configured Url, sent as configured (https only, as AWS:
 *   the model's pattern is https://.*; AWS also allows only port 443,
 *   hydrant any port, so that tests and private receivers work).
 * - Headers: X-Amz-Firehose-Protocol-Version: 1.0; X-Amz-Firehose-Request-
 *   Id: an opaque GUID, the same for every attempt of the same request
 *   (here derived from the stream ARN and the object key, which delivery
 *   fixes durably before the first attempt, so it also survives a crash);
 *   Content-Type: application/json; Content-Encoding: gzip when
 *   RequestConfiguration.ContentEncoding is GZIP, absent otherwise;
 *   X-Amz-Firehose-Source-Arn: the stream's ARN; X-Amz-Firehose-Access-
 *   Key: EndpointConfiguration.AccessKey verbatim (absent when none);
 *   X-Amz-Firehose-Common-Attributes: {"commonAttributes":{name:value}}
 *   when RequestConfiguration.CommonAttributes has any.
 * - Body: {"requestId":..., "timestamp": ms since the epoch,
 *   "records":[{"data": base64}, ...]}, one request per delivered object,
 *   its records taken from sink_put.records. A put without records is an
 *   object for the S3Configuration bucket (error output, backup) and goes
 *   to that bucket's S3 sink (sink_for_bucket).
 * - Success only when the answer is 200 and its body is a JSON object
 *   whose requestId is the request's. Anything else is a failure, retried
 *   by delivery: another status (2xx other than 200 included, 3xx not
 *   followed) is HttpEndpoint.DestinationException (the troubleshooting
 *   page, docs.aws.amazon.com/firehose/latest/dev/http_troubleshooting.html,
 *   shows a 413 reported so); a 200 whose body is not that JSON, or
 *   names another requestId, HttpEndpoint.InvalidResponseFromDestination;
 *   an answer body over 1 MiB HttpEndpoint.ResponseTooLarge; no answer
 *   within the timeout (AWS: 3 minutes; --http-endpoint-timeout)
 *   HttpEndpoint.RequestTimeout; no connection
 *   HttpEndpoint.ConnectionFailed; a connection cut
 *   HttpEndpoint.ConnectionReset; TLS HttpEndpoint.SSLHandshakeFailure.
 *   (The codes after DestinationException are those of AWS's error log
 *   for HTTP endpoints as peers reported them; unverified against the
 *   live service.)
 * - Certificates are verified (system CAs, or --http-endpoint-ca-file).
 *
 * Configuration rules (http_endpoint_check), beyond firehose.c's model
 * walk: Url https:// of at most 1000 characters, Name 1-256, AccessKey at
 * most 4096 bytes and, like attribute names and values, no line breaks
 * (they go into headers); ContentEncoding NONE|GZIP; at most 50
 * CommonAttributes, names unique; BufferingHints SizeInMBs 1-64,
 * IntervalInSeconds 0-900; RetryOptions.DurationInSeconds 0-7200;
 * S3BackupMode FailedDataOnly (AllData is refused: delivery does not
 * write the all-data copy yet); S3Configuration required, with a valid
 * BucketARN. ProcessingConfiguration and CloudWatchLoggingOptions with
 * Enabled true are refused, as for S3 destinations. Last, the whole
 * destination is refused while delivery does not pass records to sinks
 * (sinks_records_passed, sinks.h).
 *
 * Threading: the sink's put runs on delivery workers, several at once,
 * each with its own curl handle; the rest is pure functions.
 */
#include "compress.h"
#include "prefix.h"
#include "sinks/sinks.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HE_RESPONSE_MAX ((size_t)1 << 20)
#define HE_BODY_MAX ((size_t)160 << 20)  /* 64 MiB of records, base64, JSON */

int http_endpoint_timeout_s = 180;
const char *http_endpoint_ca_file;

static const char *he_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

bool http_endpoint_is(const json_t *cfg)
{
    return json_is_object(json_object_get(cfg, "EndpointConfiguration"));
}

const char *http_endpoint_backup_bucket(const json_t *cfg)
{
    static const char pfx[] = "arn:aws:s3:::";
    const char *arn = he_str(json_object_get(cfg, "S3Configuration"), "BucketARN");
    if (!arn || strncmp(arn, pfx, sizeof pfx - 1) != 0)
        return NULL;
    return arn + sizeof pfx - 1;
}

int http_endpoint_retry_window_s(const json_t *cfg)
{
    const json_t *d = json_object_get(json_object_get(cfg, "RetryOptions"), "DurationInSeconds");
    return json_is_integer(d) ? (int)json_integer_value(d) : 300;
}

bool http_endpoint_backup_all(const json_t *cfg)
{
    const char *m = he_str(cfg, "S3BackupMode");
    return m && !strcmp(m, "AllData");
}

/* ---- checks ------------------------------------------------------------------ */

#define FAIL(...) do { snprintf(msg, msg_len, __VA_ARGS__); return HY_EINVAL; } while (0)

static bool has_line_break(const char *s)
{
    return strchr(s, '\r') || strchr(s, '\n');
}

static int check_string(const json_t *o, const char *k, const char *path, bool required,
                        size_t min, size_t max, char *msg, size_t msg_len)
{
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) {
        if (required)
            FAIL("%s is required.", path);
        return HY_OK;
    }
    if (!json_is_string(v))
        FAIL("%s must be a string.", path);
    size_t n = json_string_length(v);
    if (strlen(json_string_value(v)) != n)
        FAIL("%s must not contain NUL characters.", path);
    if (n < min || n > max)
        FAIL("%s must have a length from %zu to %zu.", path, min, max);
    if (has_line_break(json_string_value(v)))
        FAIL("%s must not contain line breaks.", path);
    return HY_OK;
}

static int check_int(const json_t *o, const char *k, const char *path, long lo, long hi,
                     char *msg, size_t msg_len)
{
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        return HY_OK;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        FAIL("%s must be an integer from %ld to %ld.", path, lo, hi);
    return HY_OK;
}

static int check_object(const json_t *o, const char *k, const char *path, char *msg,
                        size_t msg_len)
{
    const json_t *v = json_object_get(o, k);
    if (v && !json_is_null(v) && !json_is_object(v))
        FAIL("%s must be an object.", path);
    return HY_OK;
}

int http_endpoint_check(const json_t *cfg, char *msg, size_t msg_len)
{
    static const char s3_arn[] = "arn:aws:s3:::";
    static const char *const known[] = {
        "EndpointConfiguration", "BufferingHints", "CloudWatchLoggingOptions",
        "RequestConfiguration", "ProcessingConfiguration", "RoleARN", "RetryOptions",
        "S3BackupMode", "S3Configuration", "SecretsManagerConfiguration", NULL};
    const char *k;
    json_t *v;
    int rc;

    if (!json_is_object(cfg))
        FAIL("HttpEndpointDestinationConfiguration must be an object.");
    json_object_foreach((json_t *)cfg, k, v) {
        size_t i;
        for (i = 0; known[i] && strcmp(known[i], k); i++)
            ;
        if (!known[i])
            FAIL("HttpEndpointDestinationConfiguration has no member %.64s.", k);
    }
    const json_t *sm = json_object_get(cfg, "SecretsManagerConfiguration");
    if (json_is_true(json_object_get(sm, "Enabled")))
        FAIL("SecretsManagerConfiguration with Enabled true is not supported by this server: "
             "it has no Secrets Manager. Give EndpointConfiguration.AccessKey instead.");
    const json_t *ec = json_object_get(cfg, "EndpointConfiguration");
    if (!json_is_object(ec))
        FAIL("EndpointConfiguration is required.");
    if ((rc = check_string(ec, "Url", "EndpointConfiguration.Url", true, 1, 1000, msg, msg_len)) ||
        (rc = check_string(ec, "Name", "EndpointConfiguration.Name", false, 1, 256, msg,
                           msg_len)) ||
        (rc = check_string(ec, "AccessKey", "EndpointConfiguration.AccessKey", false, 0, 4096,
                           msg, msg_len)))
        return rc;
    json_object_foreach((json_t *)ec, k, v)
        if (strcmp(k, "Url") && strcmp(k, "Name") && strcmp(k, "AccessKey"))
            FAIL("EndpointConfiguration has no member %.64s.", k);
    const char *url = he_str(ec, "Url");
    if (strncmp(url, "https://", 8) != 0 || !url[8] || url[8] == '/' || strchr(url, ' '))
        FAIL("EndpointConfiguration.Url %.200s is not supported: only https destinations are "
             "supported (https://host[:port][/path]).", url);

    if ((rc = check_object(cfg, "RequestConfiguration", "RequestConfiguration", msg, msg_len)))
        return rc;
    const json_t *rq = json_object_get(cfg, "RequestConfiguration");
    const char *enc = he_str(rq, "ContentEncoding");
    if (json_object_get(rq, "ContentEncoding") &&
        (!enc || (strcmp(enc, "NONE") != 0 && strcmp(enc, "GZIP") != 0)))
        FAIL("RequestConfiguration.ContentEncoding must be NONE or GZIP.");
    const json_t *attrs = json_object_get(rq, "CommonAttributes");
    if (attrs && !json_is_null(attrs)) {
        if (!json_is_array(attrs) || json_array_size(attrs) > 50)
            FAIL("RequestConfiguration.CommonAttributes must be a list of at most 50 "
                 "attributes.");
        size_t i;
        json_array_foreach(attrs, i, v) {
            if (!json_is_object(v))
                FAIL("RequestConfiguration.CommonAttributes.%zu must be an object.", i + 1);
            if ((rc = check_string(v, "AttributeName", "CommonAttributes.AttributeName", true,
                                   1, 256, msg, msg_len)) ||
                (rc = check_string(v, "AttributeValue", "CommonAttributes.AttributeValue",
                                   true, 0, 1024, msg, msg_len)))
                return rc;
            for (size_t j = 0; j < i; j++)
                if (!strcmp(he_str(json_array_get(attrs, j), "AttributeName"),
                            he_str(v, "AttributeName")))
                    FAIL("RequestConfiguration.CommonAttributes names must be unique: %.64s "
                         "appears twice.", he_str(v, "AttributeName"));
        }
    }
    if ((rc = check_object(cfg, "BufferingHints", "BufferingHints", msg, msg_len)) ||
        (rc = check_int(json_object_get(cfg, "BufferingHints"), "SizeInMBs",
                        "BufferingHints.SizeInMBs", 1, 64, msg, msg_len)) ||
        (rc = check_int(json_object_get(cfg, "BufferingHints"), "IntervalInSeconds",
                        "BufferingHints.IntervalInSeconds", 0, 900, msg, msg_len)) ||
        (rc = check_object(cfg, "RetryOptions", "RetryOptions", msg, msg_len)) ||
        (rc = check_int(json_object_get(cfg, "RetryOptions"), "DurationInSeconds",
                        "RetryOptions.DurationInSeconds", 0, 7200, msg, msg_len)))
        return rc;
    const char *mode = he_str(cfg, "S3BackupMode");
    if (json_object_get(cfg, "S3BackupMode") &&
        (!mode || (strcmp(mode, "FailedDataOnly") != 0 && strcmp(mode, "AllData") != 0)))
        FAIL("S3BackupMode must be FailedDataOnly or AllData.");
    if (mode && !strcmp(mode, "AllData"))
        FAIL("S3BackupMode AllData is not supported by this server: the copy of all data to "
             "S3Configuration's bucket is not written. Use FailedDataOnly.");
    const json_t *proc = json_object_get(cfg, "ProcessingConfiguration");
    if (json_is_true(json_object_get(proc, "Enabled")) ||
        (json_is_object(proc) && !json_is_boolean(json_object_get(proc, "Enabled")) &&
         json_array_size(json_object_get(proc, "Processors")) > 0))
        FAIL("Data processing (ProcessingConfiguration with Enabled true) is not supported by "
             "this server for HTTP endpoint destinations: records would be delivered "
             "unprocessed. Set ProcessingConfiguration.Enabled to false or leave it out.");
    if (json_is_true(json_object_get(json_object_get(cfg, "CloudWatchLoggingOptions"),
                                     "Enabled")))
        FAIL("CloudWatch error logging (CloudWatchLoggingOptions with Enabled true) is not "
             "supported by this server: it has no CloudWatch Logs. Set Enabled to false.");
    const json_t *s3 = json_object_get(cfg, "S3Configuration");
    if (!json_is_object(s3))
        FAIL("S3Configuration is required: the bucket that receives the data that could not "
             "be delivered.");
    const char *barn = he_str(s3, "BucketARN");
    if (!barn || strncmp(barn, s3_arn, sizeof s3_arn - 1) != 0 ||
        !barn[sizeof s3_arn - 1] || strchr(barn + sizeof s3_arn - 1, '/') ||
        strlen(barn + sizeof s3_arn - 1) > 63)
        FAIL("S3Configuration.BucketARN %.200s is not a valid S3 bucket ARN: expected "
             "arn:aws:s3:::<bucket-name>", barn ? barn : "null");
    const char *eprefix = he_str(s3, "ErrorOutputPrefix");
    if (eprefix && *eprefix) {
        struct prefix_bounds b;
        char err[300];
        if (prefix_check(eprefix, true, &b, err, sizeof err) != HY_OK)
            FAIL("S3Configuration.ErrorOutputPrefix: %s", err);
    }
    if (!sinks_records_passed)
        FAIL("HttpEndpointDestinationConfiguration is not supported by this server yet: its "
             "delivery does not hand the batch's records to the HTTP endpoint sink "
             "(sink_put.records), so nothing could be delivered.");
    return HY_OK;
}

#undef FAIL

/* ---- describe ------------------------------------------------------------------ */

json_t *http_endpoint_describe(const json_t *cfg)
{
    const json_t *ec = json_object_get(cfg, "EndpointConfiguration");
    const json_t *hints = json_object_get(cfg, "BufferingHints");
    const json_t *size = json_object_get(hints, "SizeInMBs");
    const json_t *interval = json_object_get(hints, "IntervalInSeconds");
    const json_t *rq = json_object_get(cfg, "RequestConfiguration");
    const json_t *cw = json_object_get(cfg, "CloudWatchLoggingOptions");
    const json_t *proc = json_object_get(cfg, "ProcessingConfiguration");
    const char *enc = he_str(rq, "ContentEncoding");
    const char *mode = he_str(cfg, "S3BackupMode");
    json_t *endpoint = json_pack("{s:s}", "Url", he_str(ec, "Url") ? he_str(ec, "Url") : "");
    if (endpoint && he_str(ec, "Name"))
        json_object_set_new(endpoint, "Name", json_string(he_str(ec, "Name")));
    json_t *request = json_pack("{s:s}", "ContentEncoding", enc ? enc : "NONE");
    const json_t *attrs = json_object_get(rq, "CommonAttributes");
    if (request && json_is_array(attrs))
        json_object_set_new(request, "CommonAttributes", json_deep_copy(attrs));
    json_t *o = json_pack(
        "{s:o, s:{s:I, s:I}, s:o, s:o, s:{s:I}, s:s}", "EndpointConfiguration", endpoint,
        "BufferingHints", "SizeInMBs",
        (json_int_t)(json_is_integer(size) ? json_integer_value(size) : 5),
        "IntervalInSeconds",
        (json_int_t)(json_is_integer(interval) ? json_integer_value(interval) : 300),
        "CloudWatchLoggingOptions",
        json_is_object(cw) ? json_deep_copy(cw) : json_pack("{s:b}", "Enabled", 0),
        "RequestConfiguration", request, "RetryOptions", "DurationInSeconds",
        (json_int_t)http_endpoint_retry_window_s(cfg), "S3BackupMode",
        mode ? mode : "FailedDataOnly");
    if (!o)
        return NULL;
    if (he_str(cfg, "RoleARN"))
        json_object_set_new(o, "RoleARN", json_string(he_str(cfg, "RoleARN")));
    if (json_is_object(proc))
        json_object_set_new(o, "ProcessingConfiguration", json_deep_copy(proc));
    return o;
}

/* ---- the request ---------------------------------------------------------------- */

/* The request id: uuid-shaped SHA-256 of the stream ARN and the key, so
 * every attempt of the same object carries the same id. */
static void request_id(const struct sink_put *req, char out[37])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char md[32];
    unsigned int n = 0;
    if (!c) {
        hy_uuid4(out);
        return;
    }
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, req->dest->arn, strlen(req->dest->arn));
    EVP_DigestUpdate(c, "\n", 1);
    EVP_DigestUpdate(c, req->key, strlen(req->key));
    EVP_DigestFinal_ex(c, md, &n);
    EVP_MD_CTX_free(c);
    md[6] = (md[6] & 0x0f) | 0x80;
    md[8] = (md[8] & 0x3f) | 0x80;
    char hex[33];
    hex_encode(hex, md, 16);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* {"requestId":..., "timestamp":..., "records":[{"data":...}]} */
static int request_body(const struct pl_batch *b, const char *id, int64_t now_ms,
                        struct buf *out)
{
    int rc = buf_printf(out, "{\"requestId\":\"%s\",\"timestamp\":%lld,\"records\":[", id,
                        (long long)now_ms);
    const struct pl_rec *recs = pl_recs(b);
    for (size_t i = 0; i < b->n && rc == HY_OK; i++) {
        size_t n = base64_encoded_len(recs[i].len);
        if ((rc = buf_printf(out, "%s{\"data\":\"", i ? "," : "")) ||
            (rc = buf_reserve(out, n + 1)))
            break;
        base64_encode(out->data + out->len, pl_data(b, &recs[i]), recs[i].len);
        out->len += n;
        rc = buf_puts(out, "\"}");
    }
    if (rc == HY_OK)
        rc = buf_puts(out, "]}");
    return rc;
}

int http_endpoint_check_response(long status, const char *body, size_t len, bool truncated,
                                 const char *id, const char **code, char *why, size_t why_len)
{
    if (truncated) {
        *code = "HttpEndpoint.ResponseTooLarge";
        snprintf(why, why_len, "the endpoint's response is larger than 1 MiB (HTTP %ld)",
                 status);
        return HY_EIO;
    }
    if (status != 200) {
        *code = "HttpEndpoint.DestinationException";
        snprintf(why, why_len, "The following response was received from the endpoint "
                 "destination. %ld: %.*s", status, len > 120 ? 120 : (int)len, body ? body : "");
        return HY_EIO;
    }
    json_error_t err;
    json_t *o = json_loadb(body ? body : "", len, 0, &err);
    const char *got = json_string_value(json_object_get(o, "requestId"));
    const json_t *ts = json_object_get(o, "timestamp");
    int rc = HY_OK;
    if (!json_is_object(o)) {
        *code = "HttpEndpoint.InvalidResponseFromDestination";
        snprintf(why, why_len, "the endpoint answered 200 without a JSON object body");
        rc = HY_EIO;
    } else if (!got || strcmp(got, id) != 0) {
        *code = "HttpEndpoint.InvalidResponseFromDestination";
        snprintf(why, why_len, "the endpoint answered 200 with requestId %.60s%s%s%s, not %s",
                 got ? "'" : "", got ? got : "(none)", got ? "'" : "", "", id);
        rc = HY_EIO;
    } else if (ts && !json_is_integer(ts)) {
        *code = "HttpEndpoint.InvalidResponseFromDestination";
        snprintf(why, why_len, "the endpoint answered 200 with a timestamp that is not a "
                 "number of milliseconds");
        rc = HY_EIO;
    }
    json_decref(o);
    return rc;
}

struct he_resp {
    struct buf body;
    bool truncated;
};

static size_t he_on_body(char *p, size_t size, size_t n, void *ud)
{
    struct he_resp *r = ud;
    size_t len = size * n;
    if (r->body.len + len > HE_RESPONSE_MAX) {
        r->truncated = true;
        return len; /* read on, keep nothing more */
    }
    return buf_append(&r->body, p, len) == HY_OK ? len : 0;
}

static const char *curl_code(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT: return "HttpEndpoint.RequestTimeout";
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST: return "HttpEndpoint.ConnectionFailed";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE: return "HttpEndpoint.SSLHandshakeFailure";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return "HttpEndpoint.ConnectionReset";
    default: return "HttpEndpoint.DestinationException";
    }
}

static int he_put(const struct sink_put *req, const char **error_code, bool *retryable,
                  char *why, size_t why_len)
{
    const json_t *cfg = req->dest ? req->dest->config : NULL;
    const json_t *ec = json_object_get(cfg, "EndpointConfiguration");
    const json_t *rq = json_object_get(cfg, "RequestConfiguration");
    const char *url = he_str(ec, "Url"), *akey = he_str(ec, "AccessKey");
    const char *enc = he_str(rq, "ContentEncoding");
    bool gzip = enc && !strcmp(enc, "GZIP");
    struct buf body, gz, hdr;
    struct curl_slist *hdrs = NULL, *t;
    struct he_resp resp = {0};
    char id[37];
    CURL *h = NULL;
    int rc = HY_OK;

    *retryable = true;
    buf_init(&body, HE_BODY_MAX);
    buf_init(&gz, HE_BODY_MAX);
    buf_init(&hdr, 64 << 10);
    buf_init(&resp.body, HE_RESPONSE_MAX);
    if (!url) {
        *error_code = "HttpEndpoint.DestinationException";
        snprintf(why, why_len, "the stream has no EndpointConfiguration.Url");
        rc = HY_EINVAL;
        goto out_free;
    }
    if (!req->records) {
        /* not records for the endpoint but an object for S3Configuration's
         * bucket (error output, backup): the S3 sink of that bucket */
        rc = sink_for_bucket(req->bucket)->put(req, error_code, retryable, why, why_len);
        goto out_free;
    }
    request_id(req, id);
    if ((rc = request_body(req->records, id, hy_now_ms(), &body)) ||
        (gzip && (rc = compress_gzip(body.data, body.len, &gz)))) {
        *error_code = "HttpEndpoint.DestinationException";
        snprintf(why, why_len, "cannot build the request body: %s", hy_strerror(rc));
        goto out_free;
    }
    const struct buf *send = gzip ? &gz : &body;

    static const char *const fixed[] = {"X-Amz-Firehose-Protocol-Version: 1.0",
                                        "Content-Type: application/json", "Expect:", NULL};
    for (const char *const *f = fixed; *f; f++) {
        if (!(t = curl_slist_append(hdrs, *f)))
            goto out_nomem;
        hdrs = t;
    }
    buf_reset(&hdr);
    if (buf_printf(&hdr, "X-Amz-Firehose-Request-Id: %s", id) ||
        !(t = curl_slist_append(hdrs, hdr.data)))
        goto out_nomem;
    hdrs = t;
    buf_reset(&hdr);
    if (buf_printf(&hdr, "X-Amz-Firehose-Source-Arn: %s", req->dest->arn) ||
        !(t = curl_slist_append(hdrs, hdr.data)))
        goto out_nomem;
    hdrs = t;
    if (gzip) {
        if (!(t = curl_slist_append(hdrs, "Content-Encoding: gzip")))
            goto out_nomem;
        hdrs = t;
    }
    if (akey) {
        buf_reset(&hdr);
        if (buf_printf(&hdr, "X-Amz-Firehose-Access-Key: %s", akey) ||
            !(t = curl_slist_append(hdrs, hdr.data)))
            goto out_nomem;
        hdrs = t;
    }
    const json_t *attrs = json_object_get(rq, "CommonAttributes");
    if (json_array_size(attrs) > 0) {
        json_t *m = json_object(), *a;
        size_t i;
        json_array_foreach(attrs, i, a) {
            const char *n = he_str(a, "AttributeName"), *v = he_str(a, "AttributeValue");
            if (m && n && v)
                json_object_set_new(m, n, json_string(v));
        }
        json_t *wrap = m ? json_pack("{s:o}", "commonAttributes", m) : NULL;
        char *text = wrap ? json_dumps(wrap, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        json_decref(wrap);
        buf_reset(&hdr);
        if (!text || buf_printf(&hdr, "X-Amz-Firehose-Common-Attributes: %s", text) ||
            !(t = curl_slist_append(hdrs, hdr.data))) {
            free(text);
            goto out_nomem;
        }
        free(text);
        hdrs = t;
    }
    if (!(h = curl_easy_init()))
        goto out_nomem;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, send->data ? send->data : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)send->len);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)http_endpoint_timeout_s);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (http_endpoint_ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, http_endpoint_ca_file);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, he_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        *error_code = curl_code(cc);
        snprintf(why, why_len, "POST %.100s: %s", url, curl_easy_strerror(cc));
        rc = HY_EIO;
        goto out_free;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    rc = http_endpoint_check_response(status, resp.body.data, resp.body.len, resp.truncated, id,
                                      error_code, why, why_len);
    goto out_free;

out_nomem:
    rc = HY_ENOMEM;
    *error_code = "HttpEndpoint.DestinationException";
    snprintf(why, why_len, "out of memory");
out_free:
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    buf_free(&body);
    buf_free(&gz);
    buf_free(&hdr);
    buf_free(&resp.body);
    return rc;
}

const struct sink sink_http_endpoint = {
    .name = "http",
    .put = he_put,
};

/* ---- failed data, backed up to S3 ------------------------------------------- */

int http_endpoint_backup_failed(const struct sink_put *req, int attempts,
                                const char *error_code, const char *message,
                                const char **out_code, bool *retryable, char *why,
                                size_t why_len)
{
    const json_t *cfg = req->dest->config;
    const char *bucket = http_endpoint_backup_bucket(cfg);
    const char *eprefix = he_str(json_object_get(cfg, "S3Configuration"), "ErrorOutputPrefix");
    struct buf body, key;
    int64_t now = hy_now_ms();
    int rc = HY_OK;
    *retryable = true;
    *out_code = "S3.InternalError";
    if (!bucket || !req->records) {
        snprintf(why, why_len, "no S3Configuration bucket or no records to back up");
        return HY_EINVAL;
    }
    const struct pl_batch *b = req->records;
    const struct pl_rec *recs = pl_recs(b);
    int64_t oldest = b->n ? recs[0].arrival_ms : now;
    buf_init(&body, (size_t)1 << 34);
    buf_init(&key, 2048);
    for (size_t i = 0; i < b->n && rc == HY_OK; i++) {
        struct pl_error_rec er = {.attempts = attempts, .arrival_ms = recs[i].arrival_ms,
                                  .error_code = error_code, .message = message,
                                  .ending_ms = now, .raw = pl_data(b, &recs[i]),
                                  .raw_len = recs[i].len};
        rc = pl_error_record(&body, &er);
    }
    if (rc == HY_OK) {
        if (eprefix && *eprefix)
            rc = prefix_eval(eprefix, oldest, "http-endpoint-failed", &key, NULL, 0);
        else if ((rc = buf_puts(&key, "http-endpoint-failed/")) == HY_OK)
            rc = prefix_eval("", oldest, NULL, &key, NULL, 0);
    }
    if (rc == HY_OK) {
        const char *base = strrchr(req->key, '/');
        rc = buf_puts(&key, base ? base + 1 : req->key);
    }
    if (rc) {
        snprintf(why, why_len, "cannot build the backup object: %s", hy_strerror(rc));
        goto out_free;
    }
    struct sink_put put = {.dest = req->dest, .bucket = bucket, .key = key.data,
                           .data = body.data ? body.data : "", .len = body.len,
                           .content_type = "application/octet-stream", .records = NULL};
    rc = sink_for_bucket(bucket)->put(&put, out_code, retryable, why, why_len);
out_free:
    buf_free(&body);
    buf_free(&key);
    return rc;
}
