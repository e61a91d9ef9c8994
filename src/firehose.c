/* firehose.c -- the Firehose JSON 1.1 API (X-Amz-Target Firehose_20150804.*).
 *
 * Purpose: parse and validate the twelve operations of the 2015-08-04
 * model, call the stream catalog (stream.c, the only owner of stream
 * state) and answer in AWS's shapes: compact JSON (Fluent Bit looks for
 * the bytes "FailedPutCount":0), Content-Type application/x-amz-json-1.1,
 * an x-amzn-RequestId on every answer.
 *
 * Design:
 * - Validation is table driven: each input shape of the model that
 *   hydrant honours is described below (type, min/max, pattern, enum,
 *   required members). One walk over the request reports a wrong JSON
 *   type as SerializationException and collects every constraint
 *   violation in Coral's words ("1 validation error detected: Value 'x' at
 *   'deliveryStreamName' failed to satisfy constraint: ..."), returned as
 *   ValidationException -- what AWS Firehose answers for model constraints
 *   (seen in the wild: "ValidationException: 1 validation error detected:
 *   Value 'NotLambda' at 'extendedS3DestinationConfiguration.processing
 *   Configuration.processors.1.member.type' ..."). Semantic rules beyond
 *   the model (one destination, BucketARN form, prefix expressions, batch
 *   bytes) are InvalidArgumentException, as AWS documents them.
 * - Two deliberate departures from Debian's botocore model, following AWS
 *   as it is today: BufferingHints.IntervalInSeconds accepts 0-900 (the
 *   model still says 60-900), and the enums carry the newer values
 *   (Decompression, CloudWatchLogProcessing, MSKAsSource, ...).
 * - Every handler returns an enum hy_rc; firehose_error() is the one
 *   place that turns it (plus an optional AWS type and message a handler
 *   recorded with fh_fail) into the JSON error. ServiceUnavailableException
 *   is a fault in the model, hence HTTP 500; everything else is 400.
 * - Only S3 and ExtendedS3 destinations and the DirectPut source are
 *   implemented; other destinations and sources are refused with
 *   InvalidArgumentException rather than stored and never delivered.
 *   So is every member of a destination that hydrant would store but not
 *   honour (fh_check_features): DataFormatConversionConfiguration unless
 *   Enabled false, EncryptionConfiguration.KMSEncryptionConfig.
 *   CloudWatchLoggingOptions with Enabled true is honoured (delivery
 *   errors go to that log group, cloudwatch_logs.c) and needs
 *   LogGroupName and LogStreamName. Each message names the
 *   feature; Enabled false / absent are accepted and described as given.
 *   The same checks run on the merged destination of UpdateDestination.
 * - ProcessingConfiguration (each processor's own check), dynamic
 *   partitioning, S3 backup and CustomTimeZone are checked by
 *   pipeline_check (pipeline.c), which runs them; dynamic partitioning is
 *   set at create only (UpdateDestination can neither enable nor disable
 *   it, as AWS).
 * - Prefix and ErrorOutputPrefix are checked by prefix_check_config_env
 *   (prefix.c, from pipeline_check), the same parser delivery evaluates them with: every
 *   pattern letter it accepts evaluates, the longest evaluation fits 512
 *   characters and the whole key 1024 bytes, and AWS's rules between the
 *   two prefixes hold (its messages, "Ths supplied prefix(es) do not
 *   satisfy the following constraint: ..." typo included).
 * - firehose_exec() runs an operation and hands back status and body
 *   without touching HTTP; firehose_handle() only adds the headers and
 *   replies. Unit tests and fuzzers drive firehose_exec().
 * - Puts go through stream_ingest (stream.c owns ingest: admit -> WAL
 *   append -> group commit -> apply -> ack); firehose.c never touches the
 *   log. With a WAL the call returns without answering (the HTTP layer
 *   suspends the connection) and fh_put_done answers on the WAL writer
 *   thread once the records are durable and buffered. A record is thus
 *   acknowledged only once it is on disk, and delivered only once it is
 *   acknowledged. A failed log write (disk full) answers
 *   ServiceUnavailableException. Without a WAL (unit tests, fuzzers) the
 *   records go straight into the buffers.
 * - The hot path: PutRecord and PutRecordBatch bodies go to fhscan.c
 *   first, which reads the common shape in one pass and decodes every
 *   record into one buffer. Anything it does not accept exactly (unknown
 *   members, escapes, any validation failure) falls back to jansson and
 *   the table-driven walk, so every error keeps its words; both paths end
 *   in fh_put_records. Member paths ("records.7.member.data") are built
 *   only when a record fails. The success answers are written by hand
 *   (fh_put_answer), byte-identical to jansson's compact output, and the
 *   x-amzn-RequestId comes from a per-thread generator, not RAND_bytes.
 *
 * Threading: stateless apart from the catalog and the per-thread request
 * id generator; runs on the HTTP threads, one request per call, all
 * request memory in jansson values or the scanner's buffer freed before
 * returning (plus the request arena). fh_put_done runs on the WAL writer
 * thread and owns its struct fh_put.
 */
#include "api.h"
#include "fhscan.h"
#include "format.h"
#include "pipeline.h"
#include "iam.h"
#include "prefix.h"
#include "metrics.h"
#include "sinks/sinks.h"
#include "stream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FH_CONTENT_TYPE "application/x-amz-json-1.1"
#define FH_BATCH_MAX_RECORDS 500
#define FH_BATCH_MAX_BYTES (4u * 1024 * 1024)
#define FH_DESTINATION_ID "destinationId-000000000001"
#define FH_VERR_MAX 8192 /* ceiling of the collected validation text */
/* A handler's "the answer comes later": the put waits for the WAL. */
#define FH_DEFERRED 1000

/* ---- request context ---------------------------------------------------- */
struct fh_ctx {
    struct http_req *req;
    json_t *in;              /* the request object */
    json_t *out;             /* the response object on success */
    char *answer;            /* or a put's answer, written by hand (malloc'd) */
    const char *name;        /* DeliveryStreamName, when the op has one */
    char key[STREAM_KEY_MAX]; /* "<region>/<name>": the catalog's key (stream.h) */
    const char *region;      /* the request's region: streams are per region */
    /* the error, when a handler names it (else derived from rc) */
    const char *err_type;
    const char *err_msg;
    /* validation */
    struct buf verr;
    int nverr;
    const char *serr;        /* first serialization problem */
};

static int fh_fail(struct fh_ctx *c, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Names the stream the request is about: its catalog key is the
 * request's region and the name (names are validated before: 1-64 of
 * [a-zA-Z0-9_.-], so the key always fits). */
static void fh_set_name(struct fh_ctx *c, const char *name)
{
    c->name = name;
    c->key[0] = 0;
    if (name && stream_key(c->key, c->region, name) != HY_OK)
        c->key[0] = 0;
}

static int fh_fail(struct fh_ctx *c, const char *type, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->err_type = type;
    c->err_msg = arena_strdup(c->req->arena, msg);
    return HY_EINVAL;
}

/* ---- the shapes ----------------------------------------------------------- */
enum fh_kind { K_STR, K_INT, K_BOOL, K_DOUBLE, K_BLOB, K_STRUCT, K_LIST, K_MAP, K_OBJECT };
enum fh_pat {
    P_NONE, P_NAME, P_ARN, P_LINE, P_DIGITS, P_DESTID, P_LOGGROUP, P_LOGSTREAM,
    P_NONEMPTY, P_NOSPACE, P_TAGKEY, P_TAGVALUE, P_FILEEXT,
};
static const char *const fh_pat_text[] = {
    [P_NONE] = "",
    [P_NAME] = "[a-zA-Z0-9_.-]+",
    [P_ARN] = "arn:.*",
    [P_LINE] = ".*",
    [P_DIGITS] = "[0-9]+",
    [P_DESTID] = "[a-zA-Z0-9-]+",
    [P_LOGGROUP] = "[\\.\\-_/#A-Za-z0-9]*",
    [P_LOGSTREAM] = "[^:*]*",
    [P_NONEMPTY] = "^(?!\\s*$).+",
    [P_NOSPACE] = "^\\S+$",
    [P_TAGKEY] = "^(?!aws:)[\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@%]*$",
    [P_TAGVALUE] = "^[\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@%]*$",
    [P_FILEEXT] = "^$|\\.[0-9a-z!\\-_.*'()]+",
};

#define NOLIM (-1LL)
struct fh_member;
struct fh_shape {
    enum fh_kind kind;
    long long min, max;              /* length, or value for K_INT */
    enum fh_pat pat;
    const char *const *enums;        /* NULL-terminated */
    const struct fh_member *members; /* K_STRUCT, {NULL}-terminated */
    const struct fh_shape *item;     /* K_LIST member, K_MAP value */
};
struct fh_member {
    const char *name;
    const struct fh_shape *shape;
    bool required;
};

#define STR(lo, hi, p) {.kind = K_STR, .min = (lo), .max = (hi), .pat = (p)}
#define INT(lo, hi) {.kind = K_INT, .min = (lo), .max = (hi)}
#define ENUM(list) {.kind = K_STR, .min = NOLIM, .max = NOLIM, .enums = (list)}
#define STRUCT(m) {.kind = K_STRUCT, .min = NOLIM, .max = NOLIM, .members = (m)}
#define LIST(lo, hi, it) {.kind = K_LIST, .min = (lo), .max = (hi), .item = (it)}

static const struct fh_shape S_BOOL = {.kind = K_BOOL, .min = NOLIM, .max = NOLIM};
static const struct fh_shape S_OBJECT = {.kind = K_OBJECT, .min = NOLIM, .max = NOLIM};
static const struct fh_shape S_NAME = STR(1, 64, P_NAME);
static const struct fh_shape S_ARN512 = STR(1, 512, P_ARN);
static const struct fh_shape S_BUCKET_ARN = STR(1, 2048, P_ARN);
static const struct fh_shape S_PREFIX = STR(0, 1024, P_LINE);
static const struct fh_shape S_SIZE_MB = INT(1, 128);
/* AWS accepts 0-900 since 2023; Debian's model still says 60-900. */
static const struct fh_shape S_INTERVAL = INT(0, 900);
static const struct fh_shape S_RETRY_S = INT(0, 7200);
static const struct fh_shape S_VERSION_ID = STR(1, 50, P_DIGITS);
static const struct fh_shape S_DEST_ID = STR(1, 100, P_DESTID);
static const struct fh_shape S_LOG_GROUP = STR(0, 512, P_LOGGROUP);
static const struct fh_shape S_LOG_STREAM = STR(0, 512, P_LOGSTREAM);
static const struct fh_shape S_PARAM_VALUE = STR(1, 5120, P_NONEMPTY);
static const struct fh_shape S_FILE_EXT = STR(0, 128, P_FILEEXT);
static const struct fh_shape S_TIME_ZONE = STR(0, 50, P_NONE);
static const struct fh_shape S_TAG_KEY = STR(1, 128, P_TAGKEY);
static const struct fh_shape S_TAG_VALUE = STR(0, 256, P_TAGVALUE);
static const struct fh_shape S_LIMIT_10000 = INT(1, 10000);
static const struct fh_shape S_LIMIT_50 = INT(1, 50);
static const struct fh_shape S_BLOB = {.kind = K_BLOB, .min = NOLIM, .max = NOLIM};

static const char *const E_COMPRESSION[] = {"UNCOMPRESSED", "GZIP", "ZIP", "Snappy",
                                            "HADOOP_SNAPPY", NULL};
static const char *const E_NOENC[] = {"NoEncryption", NULL};
static const char *const E_BACKUP[] = {"Disabled", "Enabled", NULL};
static const char *const E_TYPE[] = {"DirectPut", "KinesisStreamAsSource", "MSKAsSource",
                                     NULL};
static const char *const E_KEY_TYPE[] = {"AWS_OWNED_CMK", "CUSTOMER_MANAGED_CMK", NULL};
static const char *const E_PROC_TYPE[] = {
    "RecordDeAggregation", "Decompression", "CloudWatchLogProcessing", "Lambda",
    "MetadataExtraction", "AppendDelimiterToRecord", NULL};
static const char *const E_PARAM_NAME[] = {
    "LambdaArn", "NumberOfRetries", "MetadataExtractionQuery", "JsonParsingEngine",
    "RoleArn", "BufferSizeInMBs", "BufferIntervalInSeconds", "SubRecordType",
    "Delimiter", "CompressionFormat", "DataMessageExtraction", NULL};
static const struct fh_shape S_COMPRESSION = ENUM(E_COMPRESSION);
static const struct fh_shape S_NOENC = ENUM(E_NOENC);
static const struct fh_shape S_BACKUP_MODE = ENUM(E_BACKUP);
static const struct fh_shape S_TYPE = ENUM(E_TYPE);
static const struct fh_shape S_KEY_TYPE = ENUM(E_KEY_TYPE);
static const struct fh_shape S_PROC_TYPE = ENUM(E_PROC_TYPE);
static const struct fh_shape S_PARAM_NAME = ENUM(E_PARAM_NAME);

static const struct fh_member M_HINTS[] = {
    {"SizeInMBs", &S_SIZE_MB, false}, {"IntervalInSeconds", &S_INTERVAL, false}, {0}};
static const struct fh_shape S_HINTS = STRUCT(M_HINTS);
static const struct fh_member M_KMS[] = {{"AWSKMSKeyARN", &S_ARN512, true}, {0}};
static const struct fh_shape S_KMS = STRUCT(M_KMS);
static const struct fh_member M_ENC[] = {
    {"NoEncryptionConfig", &S_NOENC, false}, {"KMSEncryptionConfig", &S_KMS, false}, {0}};
static const struct fh_shape S_ENC = STRUCT(M_ENC);
static const struct fh_member M_CW[] = {{"Enabled", &S_BOOL, false},
                                        {"LogGroupName", &S_LOG_GROUP, false},
                                        {"LogStreamName", &S_LOG_STREAM, false},
                                        {0}};
static const struct fh_shape S_CW = STRUCT(M_CW);
static const struct fh_member M_PARAM[] = {{"ParameterName", &S_PARAM_NAME, true},
                                           {"ParameterValue", &S_PARAM_VALUE, true},
                                           {0}};
static const struct fh_shape S_PARAM = STRUCT(M_PARAM);
static const struct fh_shape S_PARAMS = LIST(NOLIM, NOLIM, &S_PARAM);
static const struct fh_member M_PROC[] = {
    {"Type", &S_PROC_TYPE, true}, {"Parameters", &S_PARAMS, false}, {0}};
static const struct fh_shape S_PROC = STRUCT(M_PROC);
static const struct fh_shape S_PROCS = LIST(NOLIM, NOLIM, &S_PROC);
static const struct fh_member M_PROC_CFG[] = {
    {"Enabled", &S_BOOL, false}, {"Processors", &S_PROCS, false}, {0}};
static const struct fh_shape S_PROC_CFG = STRUCT(M_PROC_CFG);
static const struct fh_member M_DFC[] = {{"SchemaConfiguration", &S_OBJECT, false},
                                         {"InputFormatConfiguration", &S_OBJECT, false},
                                         {"OutputFormatConfiguration", &S_OBJECT, false},
                                         {"Enabled", &S_BOOL, false},
                                         {0}};
static const struct fh_shape S_DFC = STRUCT(M_DFC);
static const struct fh_member M_RETRY[] = {{"DurationInSeconds", &S_RETRY_S, false}, {0}};
static const struct fh_shape S_RETRY = STRUCT(M_RETRY);
static const struct fh_member M_DYN[] = {
    {"RetryOptions", &S_RETRY, false}, {"Enabled", &S_BOOL, false}, {0}};
static const struct fh_shape S_DYN = STRUCT(M_DYN);

/* S3DestinationConfiguration and S3DestinationUpdate (required = config) */
#define S3_MEMBERS(req)                                                       \
    {"RoleARN", &S_ARN512, req}, {"BucketARN", &S_BUCKET_ARN, req},           \
        {"Prefix", &S_PREFIX, false}, {"ErrorOutputPrefix", &S_PREFIX, false}, \
        {"BufferingHints", &S_HINTS, false},                                  \
        {"CompressionFormat", &S_COMPRESSION, false},                         \
        {"EncryptionConfiguration", &S_ENC, false},                           \
        {"CloudWatchLoggingOptions", &S_CW, false}
static const struct fh_member M_S3_CFG[] = {S3_MEMBERS(true), {0}};
static const struct fh_shape S_S3_CFG = STRUCT(M_S3_CFG);
static const struct fh_member M_S3_UPD[] = {S3_MEMBERS(false), {0}};
static const struct fh_shape S_S3_UPD = STRUCT(M_S3_UPD);
#define EXT_MEMBERS                                                           \
    {"ProcessingConfiguration", &S_PROC_CFG, false},                          \
        {"S3BackupMode", &S_BACKUP_MODE, false},                              \
        {"DataFormatConversionConfiguration", &S_DFC, false},                 \
        {"DynamicPartitioningConfiguration", &S_DYN, false},                  \
        {"FileExtension", &S_FILE_EXT, false}, {"CustomTimeZone", &S_TIME_ZONE, false}
static const struct fh_member M_EXT_CFG[] = {
    S3_MEMBERS(true), EXT_MEMBERS, {"S3BackupConfiguration", &S_S3_CFG, false}, {0}};
static const struct fh_shape S_EXT_CFG = STRUCT(M_EXT_CFG);
static const struct fh_member M_EXT_UPD[] = {
    S3_MEMBERS(false), EXT_MEMBERS, {"S3BackupUpdate", &S_S3_UPD, false}, {0}};
static const struct fh_shape S_EXT_UPD = STRUCT(M_EXT_UPD);

static const struct fh_member M_KIN_SRC[] = {
    {"KinesisStreamARN", &S_ARN512, true}, {"RoleARN", &S_ARN512, true}, {0}};
static const struct fh_shape S_KIN_SRC = STRUCT(M_KIN_SRC);
static const struct fh_member M_SSE[] = {
    {"KeyARN", &S_ARN512, false}, {"KeyType", &S_KEY_TYPE, true}, {0}};
static const struct fh_shape S_SSE = STRUCT(M_SSE);
static const struct fh_member M_TAG[] = {
    {"Key", &S_TAG_KEY, true}, {"Value", &S_TAG_VALUE, false}, {0}};
static const struct fh_shape S_TAG = STRUCT(M_TAG);
static const struct fh_shape S_TAGS = LIST(1, 50, &S_TAG);
static const struct fh_shape S_TAG_KEYS = LIST(1, 50, &S_TAG_KEY);
static const struct fh_member M_RECORD[] = {{"Data", &S_BLOB, true}, {0}};
static const struct fh_shape S_RECORD = STRUCT(M_RECORD);
static const struct fh_shape S_RECORDS = LIST(1, FH_BATCH_MAX_RECORDS, &S_RECORD);

/* Destinations hydrant does not deliver to: type-checked as objects, then
 * refused by the handler. */
#define OTHER_DESTS(suffix)                                                   \
    {"RedshiftDestination" suffix, &S_OBJECT, false},                         \
        {"ElasticsearchDestination" suffix, &S_OBJECT, false},                \
        {"AmazonopensearchserviceDestination" suffix, &S_OBJECT, false},      \
        {"SplunkDestination" suffix, &S_OBJECT, false},                       \
        {"HttpEndpointDestination" suffix, &S_OBJECT, false},                 \
        {"AmazonOpenSearchServerlessDestination" suffix, &S_OBJECT, false},   \
        {"SnowflakeDestination" suffix, &S_OBJECT, false},                    \
        {"IcebergDestination" suffix, &S_OBJECT, false}

static const struct fh_member M_CREATE[] = {
    {"DeliveryStreamName", &S_NAME, true},
    {"DeliveryStreamType", &S_TYPE, false},
    {"KinesisStreamSourceConfiguration", &S_KIN_SRC, false},
    {"MSKSourceConfiguration", &S_OBJECT, false},
    {"DeliveryStreamEncryptionConfigurationInput", &S_SSE, false},
    {"S3DestinationConfiguration", &S_S3_CFG, false},
    {"ExtendedS3DestinationConfiguration", &S_EXT_CFG, false},
    OTHER_DESTS("Configuration"),
    {"Tags", &S_TAGS, false},
    {0}};
static const struct fh_member M_DELETE[] = {
    {"DeliveryStreamName", &S_NAME, true}, {"AllowForceDelete", &S_BOOL, false}, {0}};
static const struct fh_member M_DESCRIBE[] = {{"DeliveryStreamName", &S_NAME, true},
                                              {"Limit", &S_LIMIT_10000, false},
                                              {"ExclusiveStartDestinationId", &S_DEST_ID, false},
                                              {0}};
static const struct fh_member M_LIST[] = {{"Limit", &S_LIMIT_10000, false},
                                          {"DeliveryStreamType", &S_TYPE, false},
                                          {"ExclusiveStartDeliveryStreamName", &S_NAME, false},
                                          {0}};
static const struct fh_member M_PUT[] = {
    {"DeliveryStreamName", &S_NAME, true}, {"Record", &S_RECORD, true}, {0}};
static const struct fh_member M_PUT_BATCH[] = {
    {"DeliveryStreamName", &S_NAME, true}, {"Records", &S_RECORDS, true}, {0}};
static const struct fh_member M_UPDATE[] = {
    {"DeliveryStreamName", &S_NAME, true},
    {"CurrentDeliveryStreamVersionId", &S_VERSION_ID, true},
    {"DestinationId", &S_DEST_ID, true},
    {"S3DestinationUpdate", &S_S3_UPD, false},
    {"ExtendedS3DestinationUpdate", &S_EXT_UPD, false},
    OTHER_DESTS("Update"),
    {0}};
static const struct fh_member M_TAG_OP[] = {
    {"DeliveryStreamName", &S_NAME, true}, {"Tags", &S_TAGS, true}, {0}};
static const struct fh_member M_UNTAG[] = {
    {"DeliveryStreamName", &S_NAME, true}, {"TagKeys", &S_TAG_KEYS, true}, {0}};
static const struct fh_member M_LIST_TAGS[] = {{"DeliveryStreamName", &S_NAME, true},
                                               {"ExclusiveStartTagKey", &S_TAG_KEY, false},
                                               {"Limit", &S_LIMIT_50, false},
                                               {0}};
static const struct fh_member M_START_ENC[] = {
    {"DeliveryStreamName", &S_NAME, true},
    {"DeliveryStreamEncryptionConfigurationInput", &S_SSE, false},
    {0}};
static const struct fh_member M_STOP_ENC[] = {{"DeliveryStreamName", &S_NAME, true}, {0}};

/* ---- patterns ---------------------------------------------------------- */
/* Java's '.' stops at \n, \r, U+0085, U+2028 and U+2029. */
static bool fh_has_line_break(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n' || c == '\r')
            return true;
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0x85)
            return true;
        if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9))
            return true;
    }
    return false;
}

static bool fh_is_java_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool fh_all_in(const char *s, size_t n, const char *set, bool alnum)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (alnum && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9'))) ||
                  (c && strchr(set, c));
        if (!ok)
            return false;
    }
    return true;
}

/* [\p{L}\p{Z}\p{N}_.:/=+\-@%]*: ASCII exactly; beyond ASCII every code
 * point from U+00A0 up is taken as a letter, number or separator (an
 * approximation: hydrant carries no Unicode tables). */
static bool fh_tag_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (!fh_all_in((const char *)&c, 1, " _.:/=+-@%", true))
                return false;
        } else if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] < 0xA0) {
            return false; /* C1 controls U+0080..U+009F */
        }
    }
    return true;
}

static bool fh_pattern_ok(enum fh_pat p, const char *s, size_t n)
{
    switch (p) {
    case P_NONE: return true;
    case P_NAME: return n > 0 && fh_all_in(s, n, "_.-", true);
    case P_ARN: return n >= 4 && !memcmp(s, "arn:", 4) && !fh_has_line_break(s, n);
    case P_LINE: return !fh_has_line_break(s, n);
    case P_DIGITS: return n > 0 && fh_all_in(s, n, "0123456789", false);
    case P_DESTID: return n > 0 && fh_all_in(s, n, "-", true);
    case P_LOGGROUP: return fh_all_in(s, n, ".-_/#", true);
    case P_LOGSTREAM: return !memchr(s, ':', n) && !memchr(s, '*', n);
    case P_NONEMPTY: {
        if (n == 0 || fh_has_line_break(s, n))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!fh_is_java_space((unsigned char)s[i]))
                return true;
        return false;
    }
    case P_NOSPACE:
        for (size_t i = 0; i < n; i++)
            if (fh_is_java_space((unsigned char)s[i]))
                return false;
        return n > 0;
    case P_TAGKEY: return !(n >= 4 && !memcmp(s, "aws:", 4)) && fh_tag_chars(s, n);
    case P_TAGVALUE: return fh_tag_chars(s, n);
    case P_FILEEXT:
        /* [0-9a-z...]: lower case only */
        return n == 0 || (n >= 2 && s[0] == '.' &&
                          strspn(s + 1, "0123456789abcdefghijklmnopqrstuvwxyz!-_.*'()") ==
                              n - 1);
    }
    return false;
}

/* ---- the validation walk ------------------------------------------------- */
static void fh_verr_add(struct fh_ctx *c, const char *value, bool quote, const char *path,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fh_verr_add(struct fh_ctx *c, const char *value, bool quote, const char *path,
                        const char *fmt, ...)
{
    char constraint[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(constraint, sizeof constraint, fmt, ap);
    va_end(ap);
    c->nverr++;
    /* past the ceiling the count still grows; the text stops */
    (void)buf_printf(&c->verr, "%sValue %s%.300s%s at '%s' failed to satisfy constraint: %s",
                     c->verr.len ? "; " : "", quote ? "'" : "", value, quote ? "'" : "",
                     path, constraint);
}

static const char *fh_path_join(struct fh_ctx *c, const char *path, const char *member)
{
    /* Coral paths use the member names with a lower-case first letter */
    char first = member[0] >= 'A' && member[0] <= 'Z' ? (char)(member[0] - 'A' + 'a')
                                                      : member[0];
    return arena_printf(c->req->arena, "%s%s%c%s", path, *path ? "." : "", first,
                        member + 1);
}

static const char *fh_kind_name(enum fh_kind k)
{
    switch (k) {
    case K_STR: return "a string";
    case K_INT: return "an integer";
    case K_BOOL: return "a boolean";
    case K_DOUBLE: return "a number";
    case K_BLOB: return "a base64 string";
    case K_STRUCT: case K_OBJECT: case K_MAP: return "an object";
    case K_LIST: return "an array";
    }
    return "a value";
}

/* The start of a list as compact JSON, for a message: items are dumped
 * one by one until the text is full, so a 501-record batch costs little. */
static void fh_render_list(const json_t *list, char *out, size_t cap)
{
    size_t used = 0, i;
    const json_t *item;
    used += (size_t)snprintf(out, cap, "[");
    json_array_foreach(list, i, item) {
        if (used + 8 >= cap) {
            snprintf(out + used, cap - used, "...");
            return;
        }
        char *t = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY);
        int w = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", t ? t : "?");
        free(t);
        used = w < 0 || (size_t)w >= cap - used ? cap - 1 : used + (size_t)w;
    }
    if (used + 1 < cap)
        snprintf(out + used, cap - used, "]");
}

static void fh_check(struct fh_ctx *c, const struct fh_shape *sh, json_t *v, const char *path);

static void fh_check_struct(struct fh_ctx *c, const struct fh_member *m, json_t *obj,
                            const char *path)
{
    for (; m->name && !c->serr; m++) {
        json_t *v = json_object_get(obj, m->name);
        const char *sub = fh_path_join(c, path, m->name);
        if (!sub) {
            c->serr = "out of memory";
            return;
        }
        if (!v || json_is_null(v)) {
            if (m->required)
                fh_verr_add(c, "null", false, sub, "Member must not be null");
            continue;
        }
        fh_check(c, m->shape, v, sub);
    }
}

static void fh_check(struct fh_ctx *c, const struct fh_shape *sh, json_t *v, const char *path)
{
    bool type_ok;
    switch (sh->kind) {
    case K_STR: case K_BLOB: type_ok = json_is_string(v); break;
    case K_INT: type_ok = json_is_integer(v); break;
    case K_BOOL: type_ok = json_is_boolean(v); break;
    case K_DOUBLE: type_ok = json_is_number(v); break;
    case K_STRUCT: case K_OBJECT: case K_MAP: type_ok = json_is_object(v); break;
    case K_LIST: type_ok = json_is_array(v); break;
    default: type_ok = false;
    }
    if (!type_ok) {
        c->serr = arena_printf(c->req->arena, "Unexpected value type at '%s': expected %s",
                               path, fh_kind_name(sh->kind));
        if (!c->serr)
            c->serr = "Unexpected value type";
        return;
    }
    switch (sh->kind) {
    case K_STR: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), len = prefix_java_length(s, n);
        if (sh->enums) {
            bool found = false;
            for (const char *const *e = sh->enums; *e && !found; e++)
                found = strlen(*e) == n && !memcmp(*e, s, n);
            if (!found) {
                char set[512] = "";
                size_t used = 0;
                for (const char *const *e = sh->enums; *e && used < sizeof set; e++)
                    used += (size_t)snprintf(set + used, sizeof set - used, "%s%s",
                                             e == sh->enums ? "" : ", ", *e);
                fh_verr_add(c, s, true, path, "Member must satisfy enum value set: [%s]", set);
            }
            break;
        }
        if (sh->max != NOLIM && len > (size_t)sh->max)
            fh_verr_add(c, s, true, path, "Member must have length less than or equal to %lld",
                        sh->max);
        if (sh->min != NOLIM && len < (size_t)sh->min)
            fh_verr_add(c, s, true, path,
                        "Member must have length greater than or equal to %lld", sh->min);
        if (!fh_pattern_ok(sh->pat, s, n))
            fh_verr_add(c, s, true, path,
                        "Member must satisfy regular expression pattern: %s",
                        fh_pat_text[sh->pat]);
        break;
    }
    case K_INT: {
        long long x = (long long)json_integer_value(v);
        char text[32];
        snprintf(text, sizeof text, "%lld", x);
        if (sh->max != NOLIM && x > sh->max)
            fh_verr_add(c, text, true, path, "Member must have value less than or equal to %lld",
                        sh->max);
        if (sh->min != NOLIM && x < sh->min)
            fh_verr_add(c, text, true, path,
                        "Member must have value greater than or equal to %lld", sh->min);
        break;
    }
    case K_STRUCT:
        fh_check_struct(c, sh->members, v, path);
        break;
    case K_LIST: {
        size_t n = json_array_size(v), i;
        if ((sh->max != NOLIM && n > (size_t)sh->max) ||
            (sh->min != NOLIM && n < (size_t)sh->min)) {
            char text[320];
            bool over = sh->max != NOLIM && n > (size_t)sh->max;
            fh_render_list(v, text, sizeof text);
            fh_verr_add(c, text, true, path,
                        "Member must have length %s than or equal to %lld",
                        over ? "less" : "greater", over ? sh->max : sh->min);
        }
        json_t *item;
        json_array_foreach(v, i, item) {
            if (c->serr)
                break;
            const char *sub = arena_printf(c->req->arena, "%s.%zu.member", path, i + 1);
            if (!sub) {
                c->serr = "out of memory";
                break;
            }
            if (json_is_null(item))
                fh_verr_add(c, "null", false, sub, "Member must not be null");
            else
                fh_check(c, sh->item, item, sub);
        }
        break;
    }
    default:
        break;
    }
}

/* Runs the walk over the whole request. HY_OK, or HY_EINVAL with the
 * error recorded (SerializationException or ValidationException). */
static int fh_validate(struct fh_ctx *c, const struct fh_member *members)
{
    buf_init(&c->verr, FH_VERR_MAX);
    fh_check_struct(c, members, c->in, "");
    if (c->serr) {
        buf_free(&c->verr);
        return fh_fail(c, "SerializationException", "%s", c->serr);
    }
    if (c->nverr) {
        int rc = fh_fail(c, "ValidationException", "%d validation error%s detected: %s",
                         c->nverr, c->nverr == 1 ? "" : "s",
                         c->verr.data ? c->verr.data : "");
        buf_free(&c->verr);
        return rc;
    }
    buf_free(&c->verr);
    return HY_OK;
}

/* ---- small helpers ----------------------------------------------------- */
static const char *fh_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int fh_not_found(struct fh_ctx *c)
{
    return fh_fail(c, "ResourceNotFoundException", "Firehose %s under account %s not found.",
                   c->name, HY_ACCOUNT_ID);
}

/* Coral's path of a record's Data: index 0 is PutRecord's one record,
 * 1.. a batch's. Built only for a message, never on the success path. */
static const char *fh_data_path(struct fh_ctx *c, size_t index)
{
    const char *path = index ? arena_printf(c->req->arena, "records.%zu.member.data", index)
                             : "record.data";
    return path ? path : "records.member.data";
}

/* Record bytes from the base64 in Data; out is malloc'd (caller frees).
 * HY_EINVAL (recorded SerializationException) when not base64. */
static int fh_decode_data(struct fh_ctx *c, const json_t *record, size_t index,
                          unsigned char **out, size_t *len)
{
    const json_t *d = json_object_get(record, "Data");
    size_t n = json_string_length(d);
    unsigned char *p = malloc(n / 4 * 3 + 3);
    if (!p)
        return HY_ENOMEM;
    long got = base64_decode(p, json_string_value(d), n);
    if (got < 0) {
        free(p);
        return fh_fail(c, "SerializationException",
                       "Value at '%s' is not valid base64: Record.Data must be the record "
                       "bytes encoded in base64", fh_data_path(c, index));
    }
    *out = p;
    *len = (size_t)got;
    return HY_OK;
}

static void fh_verr_record(struct fh_ctx *c, size_t len, size_t index)
{
    char text[96];
    snprintf(text, sizeof text, "java.nio.HeapByteBuffer[pos=0 lim=%zu cap=%zu]", len, len);
    fh_verr_add(c, text, true, fh_data_path(c, index),
                "Member must have length less than or equal to %d", STREAM_MAX_RECORD);
}

/* Members hydrant stores but cannot honour: refused by name, never stored
 * and silently ignored (a user whose processors are ignored gets wrong
 * data with no error). Enabled false, "Disabled" and absent stay accepted
 * and are described as given. */
static int fh_check_features(struct fh_ctx *c, const json_t *dest)
{
    const json_t *dfc = json_object_get(dest, "DataFormatConversionConfiguration");
    const json_t *cw = json_object_get(dest, "CloudWatchLoggingOptions");
    const json_t *enc = json_object_get(dest, "EncryptionConfiguration");

    /* record format conversion (format.c): AWS's rules, ORC refused */
    char why[1024];
    (void)dfc;
    if (format_check_destination(dest, why, sizeof why) != HY_OK)
        return fh_fail(c, "InvalidArgumentException", "%s", why);
    /* issue 17: delivery errors go to CloudWatch Logs (cloudwatch_logs.c) */
    if (json_is_true(json_object_get(cw, "Enabled")) &&
        (!json_string_length(json_object_get(cw, "LogGroupName")) ||
         !json_string_length(json_object_get(cw, "LogStreamName"))))
        return fh_fail(c, "InvalidArgumentException",
                       "CloudWatchLoggingOptions with Enabled true needs LogGroupName and "
                       "LogStreamName.");
    if (json_is_object(json_object_get(enc, "KMSEncryptionConfig")))
        return fh_fail(c, "InvalidArgumentException",
                       "KMS encryption of delivered objects "
                       "(EncryptionConfiguration.KMSEncryptionConfig) is not supported by "
                       "this server: it has no KMS, objects would be stored unencrypted. "
                       "Use NoEncryptionConfig NoEncryption.");
    return HY_OK;
}

/* Rules on a complete S3/ExtendedS3 destination beyond the model. */
static int fh_check_destination(struct fh_ctx *c, const json_t *dest)
{
    static const char s3_arn[] = "arn:aws:s3:::";
    const char *bucket_arn = fh_str(dest, "BucketARN");
    char why[1024];
    int rc;

    if (!bucket_arn || strncmp(bucket_arn, s3_arn, sizeof s3_arn - 1) != 0 ||
        strlen(bucket_arn) == sizeof s3_arn - 1 || strchr(bucket_arn + sizeof s3_arn - 1, '/') ||
        strlen(bucket_arn + sizeof s3_arn - 1) > 63)
        return fh_fail(c, "InvalidArgumentException",
                       "BucketARN %s is not a valid S3 bucket ARN: expected "
                       "arn:aws:s3:::<bucket-name>", bucket_arn ? bucket_arn : "null");
    if ((rc = fh_check_features(c, dest)))
        return rc;
    /* Firehose assumes RoleARN: it must exist and trust firehose (iam.c) */
    if ((rc = iam_delivery_role_check(fh_str(dest, "RoleARN"), why, sizeof why)) == HY_EINVAL)
        return fh_fail(c, "InvalidArgumentException", "%s", why);
    if (rc)
        return rc;
    /* processors, partitioning, the zone, and the prefixes with the one
     * prefix validator (the same parser delivery evaluates with) */
    if ((rc = pipeline_check(dest, c->name, why, sizeof why)) == HY_EINVAL)
        return fh_fail(c, "InvalidArgumentException", "%s", why);
    if (rc)
        return rc;
    const json_t *backup = json_object_get(dest, "S3BackupConfiguration");
    if (json_is_object(backup)) {
        const char *barn = fh_str(backup, "BucketARN");
        if (!barn || strncmp(barn, s3_arn, sizeof s3_arn - 1) != 0)
            return fh_fail(c, "InvalidArgumentException",
                           "S3BackupConfiguration.BucketARN %s is not a valid S3 bucket ARN",
                           barn ? barn : "null");
    }
    return HY_OK;
}

/* CUSTOMER_MANAGED_CMK needs KeyARN; AWS_OWNED_CMK takes none. */
static int fh_check_sse(struct fh_ctx *c, const json_t *sse)
{
    const char *type = fh_str(sse, "KeyType"), *arn = fh_str(sse, "KeyARN");
    if (type && !strcmp(type, "CUSTOMER_MANAGED_CMK") && !arn)
        return fh_fail(c, "InvalidArgumentException",
                       "KeyARN must be specified when KeyType is CUSTOMER_MANAGED_CMK.");
    if (type && !strcmp(type, "AWS_OWNED_CMK") && arn)
        return fh_fail(c, "InvalidArgumentException",
                       "KeyARN must not be specified when KeyType is AWS_OWNED_CMK.");
    return HY_OK;
}

/* ---- operations ------------------------------------------------------------- */
static int fh_create(struct fh_ctx *c)
{
    static const char *const others[] = {
        "RedshiftDestinationConfiguration", "ElasticsearchDestinationConfiguration",
        "AmazonopensearchserviceDestinationConfiguration", "SplunkDestinationConfiguration",
        "AmazonOpenSearchServerlessDestinationConfiguration",
        "SnowflakeDestinationConfiguration", "IcebergDestinationConfiguration", NULL};
    const char *type = fh_str(c->in, "DeliveryStreamType");
    json_t *s3 = json_object_get(c->in, "S3DestinationConfiguration");
    json_t *ext = json_object_get(c->in, "ExtendedS3DestinationConfiguration");
    json_t *sse = json_object_get(c->in, "DeliveryStreamEncryptionConfigurationInput");
    /* sinks/http_endpoint.c checks and describes it */
    json_t *http = json_object_get(c->in, "HttpEndpointDestinationConfiguration");
    const char *other = NULL;
    int ndest = json_is_object(s3) + json_is_object(ext) + json_is_object(http);
    int rc;

    for (const char *const *o = others; *o; o++) {
        if (json_is_object(json_object_get(c->in, *o))) {
            ndest++;
            other = *o;
        }
    }
    if (ndest != 1)
        return fh_fail(c, "InvalidArgumentException",
                       "Exactly one destination configuration is supported for a Firehose");
    if (other)
        return fh_fail(c, "InvalidArgumentException",
                       "%s is not supported by this server: only S3DestinationConfiguration, "
                       "ExtendedS3DestinationConfiguration and "
                       "HttpEndpointDestinationConfiguration are", other);
    if (!type)
        type = "DirectPut";
    if (strcmp(type, "DirectPut") != 0)
        return fh_fail(c, "InvalidArgumentException",
                       "DeliveryStreamType %s is not supported by this server: only DirectPut "
                       "streams are", type);
    if (json_is_object(json_object_get(c->in, "KinesisStreamSourceConfiguration")) ||
        json_is_object(json_object_get(c->in, "MSKSourceConfiguration")))
        return fh_fail(c, "InvalidArgumentException",
                       "A source configuration is not allowed for a DirectPut Firehose.");
    json_t *dest = s3 ? s3 : ext ? ext : http;
    char http_msg[600];
    if (http && http_endpoint_check(http, http_msg, sizeof http_msg) != HY_OK)
        return fh_fail(c, "InvalidArgumentException", "%s", http_msg);
    if (!http && (rc = fh_check_destination(c, dest)))
        return rc;
    if (json_is_object(sse) && (rc = fh_check_sse(c, sse)))
        return rc;

    json_t *tags = json_object(), *tag;
    size_t i;
    if (!tags)
        return HY_ENOMEM;
    json_array_foreach(json_object_get(c->in, "Tags"), i, tag) {
        const char *value = fh_str(tag, "Value");
        json_object_set_new(tags, fh_str(tag, "Key"), json_string(value ? value : ""));
    }
    const char *arn = arena_printf(c->req->arena,
                                   "arn:aws:firehose:%s:%s:deliverystream/%s",
                                   c->region, HY_ACCOUNT_ID, c->name);
    struct stream_new sn = {
        .region = c->region,
        .name = c->name,
        .arn = arn,
        .type = type,
        .dest_kind = s3 ? "S3" : ext ? "ExtendedS3" : "HttpEndpoint",
        .dest = dest,
        .tags = tags,
        .encryption = json_is_object(sse) ? sse : NULL,
    };
    rc = arn ? stream_create(&sn, hy_now_ms()) : HY_ENOMEM;
    json_decref(tags);
    switch (rc) {
    case HY_OK:
        c->out = json_pack("{s:s}", "DeliveryStreamARN", arn);
        return c->out ? HY_OK : HY_ENOMEM;
    case HY_EEXIST:
        return fh_fail(c, "ResourceInUseException", "Firehose %s under account %s already exists.",
                       c->name, HY_ACCOUNT_ID);
    case HY_ELIMIT:
        return fh_fail(c, "LimitExceededException",
                       "You have already reached the limit of %d Firehose streams in this "
                       "account and region.", hy_cfg.max_streams);
    case HY_EINVAL:
        return fh_fail(c, "InvalidArgumentException",
                       "The destination configuration is not usable: BucketARN must be "
                       "arn:aws:s3:::<bucket-name>.");
    default:
        return rc;
    }
}

static int fh_delete(struct fh_ctx *c)
{
    int rc = stream_delete(c->key);
    if (rc == HY_ENOTFOUND)
        return fh_not_found(c);
    if (rc == HY_ESTATE)
        return fh_fail(c, "ResourceInUseException",
                       "Firehose %s under account %s is in CREATING state and cannot be "
                       "deleted until it is ACTIVE.", c->name, HY_ACCOUNT_ID);
    if (rc)
        return rc;
    c->out = json_object();
    return c->out ? HY_OK : HY_ENOMEM;
}

/* The S3DestinationDescription members, defaults filled as AWS shows them. */
static json_t *fh_s3_description(const json_t *dest)
{
    const json_t *hints = json_object_get(dest, "BufferingHints");
    const json_t *size = json_object_get(hints, "SizeInMBs");
    const json_t *interval = json_object_get(hints, "IntervalInSeconds");
    const json_t *enc = json_object_get(dest, "EncryptionConfiguration");
    const json_t *cw = json_object_get(dest, "CloudWatchLoggingOptions");
    const char *prefix = fh_str(dest, "Prefix"), *err = fh_str(dest, "ErrorOutputPrefix");
    const char *comp = fh_str(dest, "CompressionFormat");

    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:{s:I, s:I}, s:s, s:o, s:o}", "RoleARN", fh_str(dest, "RoleARN"),
        "BucketARN", fh_str(dest, "BucketARN"), "Prefix", prefix ? prefix : "",
        "BufferingHints", "SizeInMBs",
        (json_int_t)(json_is_integer(size) ? json_integer_value(size) : 5),
        "IntervalInSeconds",
        (json_int_t)(json_is_integer(interval) ? json_integer_value(interval) : 300),
        "CompressionFormat", comp ? comp : "UNCOMPRESSED", "EncryptionConfiguration",
        json_is_object(enc) ? json_deep_copy(enc)
                            : json_pack("{s:s}", "NoEncryptionConfig", "NoEncryption"),
        "CloudWatchLoggingOptions",
        json_is_object(cw) ? json_deep_copy(cw) : json_pack("{s:b}", "Enabled", 0));
    if (o && err)
        json_object_set_new(o, "ErrorOutputPrefix", json_string(err));
    return o;
}

static json_t *fh_ext_description(const json_t *dest)
{
    static const char *const as_given[] = {"ProcessingConfiguration",
                                           "DynamicPartitioningConfiguration",
                                           "FileExtension", "CustomTimeZone", NULL};
    json_t *o = fh_s3_description(dest);
    if (!o)
        return NULL;
    for (const char *const *k = as_given; *k; k++) {
        json_t *v = json_object_get(dest, *k);
        if (v && !json_is_null(v))
            json_object_set_new(o, *k, json_deep_copy(v));
    }
    const char *mode = fh_str(dest, "S3BackupMode");
    json_object_set_new(o, "S3BackupMode", json_string(mode ? mode : "Disabled"));
    const json_t *backup = json_object_get(dest, "S3BackupConfiguration");
    if (json_is_object(backup))
        json_object_set_new(o, "S3BackupDescription", fh_s3_description(backup));
    const json_t *dfc = json_object_get(dest, "DataFormatConversionConfiguration");
    json_object_set_new(o, "DataFormatConversionConfiguration",
                        json_is_object(dfc) ? json_deep_copy(dfc)
                                            : json_pack("{s:b}", "Enabled", 0));
    return o;
}

static json_t *fh_timestamp(int64_t ms)
{
    /* epoch seconds, as the JSON protocol sends timestamps */
    return json_real((double)ms / 1000.0);
}

static int fh_describe(struct fh_ctx *c)
{
    json_t *st = NULL;
    int rc = stream_describe(c->key, &st);
    if (rc == HY_ENOTFOUND)
        return fh_not_found(c);
    if (rc)
        return rc;

    const json_t *dest = json_object_get(st, "Dest");
    const char *after = fh_str(c->in, "ExclusiveStartDestinationId");
    json_t *dests = json_array();
    /* one destination: it is listed unless the client paged past it */
    bool http = !strcmp(fh_str(st, "DestKind"), "HttpEndpoint"); /* sinks/http_endpoint.c */
    if (dests && (!after || strcmp(after, FH_DESTINATION_ID) < 0)) {
        json_t *http_desc = http ? http_endpoint_describe(dest) : NULL;
        if (http_desc)
            json_object_set_new(http_desc, "S3DestinationDescription",
                                fh_s3_description(json_object_get(dest, "S3Configuration")));
        json_t *d = http ? json_pack("{s:s, s:o}", "DestinationId", FH_DESTINATION_ID,
                                     "HttpEndpointDestinationDescription", http_desc)
                         : json_pack("{s:s, s:o, s:o}", "DestinationId", FH_DESTINATION_ID,
                              "ExtendedS3DestinationDescription", fh_ext_description(dest),
                              "S3DestinationDescription", fh_s3_description(dest));
        if (!d || json_array_append_new(dests, d) != 0) {
            json_decref(dests);
            dests = NULL;
        }
    }
    const json_t *enc = json_object_get(st, "Encryption");
    json_t *desc = json_pack(
        "{s:s, s:s, s:s, s:O, s:s, s:s, s:o, s:o, s:b}", "DeliveryStreamName", c->name,
        "DeliveryStreamARN", fh_str(st, "ARN"), "DeliveryStreamStatus", fh_str(st, "Status"),
        "DeliveryStreamEncryptionConfiguration", enc, "DeliveryStreamType",
        fh_str(st, "Type"), "VersionId",
        arena_printf(c->req->arena, "%lld",
                     (long long)json_integer_value(json_object_get(st, "VersionId"))),
        "CreateTimestamp",
        fh_timestamp(json_integer_value(json_object_get(st, "CreateMs"))), "Destinations",
        dests, "HasMoreDestinations", 0);
    int64_t update_ms = json_integer_value(json_object_get(st, "UpdateMs"));
    if (desc && update_ms)
        json_object_set_new(desc, "LastUpdateTimestamp", fh_timestamp(update_ms));
    json_decref(st);
    if (!desc)
        return HY_ENOMEM;
    c->out = json_pack("{s:o}", "DeliveryStreamDescription", desc);
    return c->out ? HY_OK : HY_ENOMEM;
}

static int fh_list(struct fh_ctx *c)
{
    const json_t *limit = json_object_get(c->in, "Limit");
    json_t *names = NULL;
    bool more = false;
    int rc = stream_list(c->region, fh_str(c->in, "DeliveryStreamType"),
                         fh_str(c->in, "ExclusiveStartDeliveryStreamName"),
                         json_is_integer(limit) ? (size_t)json_integer_value(limit) : 10,
                         &names, &more);
    if (rc)
        return rc;
    c->out = json_pack("{s:o, s:b}", "DeliveryStreamNames", names, "HasMoreDeliveryStreams",
                       more);
    return c->out ? HY_OK : HY_ENOMEM;
}

/* A put waiting for the WAL: what its answer needs, owned by the callback. */
/* A put waiting for its records to be durable (stream_ingest). */
struct fh_put {
    struct stream_ingest in; /* first: done gets it back */
    struct http_req *req;
    bool batch;
};

static void fh_send(struct http_req *req, int status, char *body, const char *error_type);
static int fh_put_error(struct fh_ctx *c, int rc);

/* The ErrorCode / ErrorMessage of a record that was not stored, as the
 * JSON members of its RequestResponses entry. logged: the record went
 * through the WAL, whose failures (disk full, I/O, memory) are the
 * retryable ServiceUnavailableException; without a WAL they are an
 * InternalFailure, as stream_put reports them. */
static int fh_record_error(struct buf *b, int prc, bool logged)
{
    const char *code = "InternalFailure", *msg = hy_strerror(prc);

    if (prc == HY_ENOTFOUND || prc == HY_ESTATE) {
        code = "ResourceNotFoundException";
        msg = "Firehose is not ACTIVE.";
    } else if (prc == HY_EBUSY) {
        code = "ServiceUnavailableException";
        msg = "Slow down.";
    } else if (logged && (prc == HY_ENOSPC || prc == HY_EIO || prc == HY_ENOMEM)) {
        code = "ServiceUnavailableException";
        msg = prc == HY_ENOSPC ? "Slow down. (disk full)" : "Slow down.";
    }
    /* the texts above and hy_strerror's need no JSON escape */
    return buf_printf(b, "{\"ErrorCode\":\"%s\",\"ErrorMessage\":\"%s\"}", code, msg);
}

/* The success answer of a put as compact JSON, written by hand in the
 * member order json_pack + json_dumps gave it (tests/unit/test_fhscan.c
 * compares the bytes):
 *   {"RecordId":"..","Encrypted":false}
 *   {"FailedPutCount":0,"Encrypted":false,"RequestResponses":[{"RecordId":".."},..]}
 * prc[i] is HY_OK for a stored record. ids: the n RecordIds, 129 bytes
 * apart, or NULL to make them here (stream_record_id at now_ms). Returns
 * the malloc'd body (caller frees), NULL when out of memory. */
static char *fh_put_answer(bool batch, bool encrypted, const int *prc, size_t n,
                           const char *ids, int64_t now_ms, bool logged)
{
    /* the longest entry is an error (~90 bytes) or a RecordId (<= 144) */
    static const char rid_open[] = "{\"RecordId\":\"";
    const char *enc = encrypted ? "true" : "false";
    struct buf b;
    char id[129];
    int rc, failed = 0;

    buf_init(&b, 128 + n * 160);
    if ((rc = buf_reserve(&b, 64 + n * 112)))
        goto out_free;
    for (size_t i = 0; i < n; i++)
        failed += prc[i] != HY_OK;
    if (batch)
        rc = buf_printf(&b, "{\"FailedPutCount\":%d,\"Encrypted\":%s,\"RequestResponses\":[",
                        failed, enc);
    /* no printf per record: a batch answer is 500 of these */
    for (size_t i = 0; i < n && rc == HY_OK; i++) {
        if (i)
            rc = buf_append(&b, ",", 1);
        if (rc == HY_OK && prc[i] != HY_OK) {
            rc = fh_record_error(&b, prc[i], logged);
            continue;
        }
        const char *rid = ids ? ids + i * 129 : id;
        if (!ids)
            stream_record_id(id, now_ms);
        if (rc == HY_OK)
            rc = buf_append(&b, rid_open, sizeof rid_open - 1);
        if (rc == HY_OK)
            rc = buf_append(&b, rid, strlen(rid));
        if (rc == HY_OK && batch)
            rc = buf_append(&b, "\"}", 2);
        else if (rc == HY_OK)
            rc = buf_printf(&b, "\",\"Encrypted\":%s}", enc);
    }
    if (rc == HY_OK && batch)
        rc = buf_append(&b, "]}", 2);
    if (rc == HY_OK)
        return buf_detach(&b, NULL);
out_free:
    buf_free(&b);
    return NULL;
}

/* WAL writer thread: the records of one put are durable and buffered,
 * or not (their prc say why): answer now. */
static void fh_put_done(struct stream_ingest *in)
{
    struct fh_put *p = (struct fh_put *)(void *)in;
    char *body;

    if (!p->batch && in->prc[0] != HY_OK) {
        json_t *out = json_pack("{s:s, s:s}", "__type", "ServiceUnavailableException",
                                "message",
                                in->prc[0] == HY_ENOSPC ? "Slow down. (disk full)" : "Slow down.");
        body = out ? json_dumps(out, JSON_COMPACT) : NULL;
        json_decref(out);
        fh_send(p->req, 500, body, "ServiceUnavailableException");
        free(body);
        goto out_free;
    }
    body = fh_put_answer(p->batch, in->encrypted, in->prc, in->n, NULL, in->now_ms, true);
    fh_send(p->req, body ? 200 : 500, body, body ? NULL : "ServiceUnavailableException");
    free(body);
out_free:
    free(in->prc);
    free(p);
}

static int fh_put_state(struct fh_ctx *c, bool *encrypted)
{
    int rc = stream_accepts(c->key, encrypted);
    if (rc == HY_ENOTFOUND)
        return fh_not_found(c);
    if (rc == HY_ESTATE)
        /* PutRecord's model has no ResourceInUseException: AWS reports a
         * stream that is not ACTIVE (yet) as not found. */
        return fh_fail(c, "ResourceNotFoundException",
                       "Firehose %s under account %s is not ACTIVE yet (status CREATING).",
                       c->name, HY_ACCOUNT_ID);
    return rc;
}

static int fh_put_error(struct fh_ctx *c, int rc)
{
    if (rc == HY_ENOTFOUND || rc == HY_ESTATE)
        return fh_put_state(c, &(bool){false});
    if (rc == HY_EBUSY)
        return fh_fail(c, "ServiceUnavailableException", "Slow down.");
    return rc;
}

/* Stores the records of a valid put (data[i], lens[i]: borrowed) and
 * answers, whichever parser read them: stream_ingest logs them and the
 * answer follows from fh_put_done (FH_DEFERRED), or, without a log, they
 * went straight into the buffers and the answer is in c->answer. */
static int fh_put_records(struct fh_ctx *c, bool batch, unsigned char *const *data,
                          const size_t *lens, size_t n)
{
    bool encrypted;
    int rc;

    if ((rc = fh_put_state(c, &encrypted)))
        return rc;
    struct fh_put *p = calloc(1, sizeof *p);
    int *prc = calloc(n ? n : 1, sizeof *prc);
    if (!p || !prc) {
        rc = HY_ENOMEM;
        goto out_free;
    }
    p->req = c->req;
    p->batch = batch;
    p->in = (struct stream_ingest){.name = c->key, .data = data, .lens = lens, .n = n,
                                   .now_ms = hy_now_ms(), .stop_at_refusal = !batch,
                                   .prc = prc, .encrypted = encrypted, .done = fh_put_done};
    rc = stream_ingest(&p->in);
    if (rc == STREAM_DEFERRED)
        return FH_DEFERRED;
    if (rc) {
        rc = fh_fail(c, "ServiceUnavailableException", "Slow down.");
        goto out_free;
    }
    metrics_put(&p->in, batch);
    if (!batch && prc[0] != HY_OK) {
        rc = fh_put_error(c, prc[0]);
        goto out_free;
    }
    /* a batch answers 200 all the same: the client resends the failed ones */
    c->answer = fh_put_answer(batch, p->in.encrypted, prc, n, NULL, p->in.now_ms, false);
    rc = c->answer ? HY_OK : HY_ENOMEM;
out_free:
    free(prc);
    free(p);
    return rc;
}

/* The scanner's path (fhscan.c): FHSCAN_FALLBACK when the body is not its
 * simple shape, then the jansson path reads (and words the errors of) it. */
static int fh_put_scanned(struct fh_ctx *c, bool batch)
{
    struct fhscan scan;
    unsigned char *data[FHSCAN_MAX_RECORDS];
    int rc = fhscan_put(&scan, c->req->body, c->req->body_len, batch);

    if (rc)
        return rc;
    /* the name outlives scan: firehose_error may log it */
    fh_set_name(c, arena_strdup(c->req->arena, scan.name));
    if (!c->name) {
        rc = HY_ENOMEM;
        goto out_free;
    }
    for (size_t i = 0; i < scan.n; i++)
        data[i] = scan.data + scan.off[i];
    rc = fh_put_records(c, batch, data, scan.len, scan.n);
out_free:
    fhscan_free(&scan);
    return rc;
}

static int fh_put_record(struct fh_ctx *c)
{
    json_t *record = json_object_get(c->in, "Record");
    unsigned char *data = NULL;
    size_t len = 0;
    int rc;

    if ((rc = fh_decode_data(c, record, 0, &data, &len)))
        return rc;
    if (len > STREAM_MAX_RECORD) {
        buf_init(&c->verr, FH_VERR_MAX);
        fh_verr_record(c, len, 0);
        rc = fh_fail(c, "ValidationException", "1 validation error detected: %s",
                     c->verr.data ? c->verr.data : "");
        buf_free(&c->verr);
        goto out_free;
    }
    rc = fh_put_records(c, false, &data, &len, 1);
out_free:
    free(data);
    return rc;
}

static int fh_put_record_batch(struct fh_ctx *c)
{
    json_t *records = json_object_get(c->in, "Records"), *record;
    size_t n = json_array_size(records), i, total = 0;
    unsigned char **data = calloc(n, sizeof *data);
    size_t *lens = calloc(n, sizeof *lens);
    int rc = HY_OK;

    if (!data || !lens) {
        rc = HY_ENOMEM;
        goto out_free;
    }
    /* the 4 MiB ceiling first, from the encoded sizes, before decoding */
    json_array_foreach(records, i, record) {
        size_t enc = json_string_length(json_object_get(record, "Data"));
        total += enc / 4 * 3 + (enc % 4 ? enc % 4 - 1 : 0);
    }
    if (total > (size_t)FH_BATCH_MAX_BYTES + 3 * n) {
        rc = fh_fail(c, "InvalidArgumentException",
                     "Records size exceeds the PutRecordBatch limit of 4 MiB (4194304 bytes).");
        goto out_free;
    }
    total = 0;
    buf_init(&c->verr, FH_VERR_MAX);
    json_array_foreach(records, i, record) {
        if ((rc = fh_decode_data(c, record, i + 1, &data[i], &lens[i])))
            break;
        if (lens[i] > STREAM_MAX_RECORD)
            fh_verr_record(c, lens[i], i + 1);
        total += lens[i];
    }
    if (rc == HY_OK && c->nverr)
        rc = fh_fail(c, "ValidationException", "%d validation error%s detected: %s", c->nverr,
                     c->nverr == 1 ? "" : "s", c->verr.data ? c->verr.data : "");
    buf_free(&c->verr);
    if (rc)
        goto out_free;
    if (total > FH_BATCH_MAX_BYTES) {
        rc = fh_fail(c, "InvalidArgumentException",
                     "Records size exceeds the PutRecordBatch limit of 4 MiB (4194304 bytes).");
        goto out_free;
    }
    rc = fh_put_records(c, true, data, lens, n);
out_free:
    if (data)
        for (i = 0; i < n; i++)
            free(data[i]);
    free(data);
    free(lens);
    return rc;
}

/* Merges an update into a destination: members replace members, except
 * BufferingHints, whose two fields merge one by one, and S3BackupUpdate,
 * which merges into S3BackupConfiguration the same way. */
static int fh_merge_update(json_t *dest, json_t *upd)
{
    const char *key;
    json_t *v;
    json_object_foreach(upd, key, v) {
        if (json_is_null(v))
            continue;
        if (!strcmp(key, "BufferingHints") || !strcmp(key, "S3BackupUpdate")) {
            const char *target = key[0] == 'B' ? key : "S3BackupConfiguration";
            json_t *cur = json_object_get(dest, target);
            if (!json_is_object(cur)) {
                cur = json_object();
                if (!cur || json_object_set_new(dest, target, cur) != 0)
                    return HY_ENOMEM;
            }
            int rc = key[0] == 'B' ? (json_object_update(cur, v) ? HY_ENOMEM : HY_OK)
                                   : fh_merge_update(cur, v);
            if (rc)
                return rc;
            continue;
        }
        if (json_object_set_new(dest, key, json_deep_copy(v)) != 0)
            return HY_ENOMEM;
    }
    return HY_OK;
}

static int fh_update(struct fh_ctx *c)
{
    static const char *const others[] = {
        "RedshiftDestinationUpdate", "ElasticsearchDestinationUpdate",
        "AmazonopensearchserviceDestinationUpdate", "SplunkDestinationUpdate",
        "AmazonOpenSearchServerlessDestinationUpdate",
        "SnowflakeDestinationUpdate", "IcebergDestinationUpdate", NULL};
    const char *version_text = fh_str(c->in, "CurrentDeliveryStreamVersionId");
    const char *dest_id = fh_str(c->in, "DestinationId");
    json_t *s3 = json_object_get(c->in, "S3DestinationUpdate");
    json_t *ext = json_object_get(c->in, "ExtendedS3DestinationUpdate");
    json_t *st = NULL, *dest = NULL;
    int rc;

    for (const char *const *o = others; *o; o++)
        if (json_is_object(json_object_get(c->in, *o)))
            return fh_fail(c, "InvalidArgumentException",
                           "%s is not supported by this server: only S3DestinationUpdate, "
                           "ExtendedS3DestinationUpdate and HttpEndpointDestinationUpdate "
                           "are", *o);
    if (json_is_object(s3) && json_is_object(ext))
        return fh_fail(c, "InvalidArgumentException",
                       "Exactly one destination update is supported for a Firehose");
    if ((rc = stream_describe(c->key, &st)) == HY_ENOTFOUND)
        return fh_not_found(c);
    if (rc)
        return rc;
    if (strcmp(fh_str(st, "Status"), "ACTIVE") != 0) {
        rc = fh_fail(c, "ResourceInUseException",
                     "Firehose %s under account %s is not ACTIVE; its destination cannot be "
                     "updated yet.", c->name, HY_ACCOUNT_ID);
        goto out_free;
    }
    if (strcmp(dest_id, FH_DESTINATION_ID) != 0) {
        rc = fh_fail(c, "InvalidArgumentException",
                     "Destination Id %s not found for Firehose %s.", dest_id, c->name);
        goto out_free;
    }
    /* digits only (checked); a number too long to parse never matches */
    errno = 0;
    char *end;
    unsigned long long version = strtoull(version_text, &end, 10);
    if (errno || version > 0xffffffffull)
        version = 0;
    if (version != (unsigned long long)json_integer_value(json_object_get(st, "VersionId"))) {
        rc = HY_ECONFLICT;
        goto out_free;
    }
    if (!(dest = json_deep_copy(json_object_get(st, "Dest")))) {
        rc = HY_ENOMEM;
        goto out_free;
    }
    json_t *upd = json_is_object(ext) ? ext : s3;
    if (json_is_object(upd)) {
        bool was_dyn = json_is_true(json_object_get(
            json_object_get(dest, "DynamicPartitioningConfiguration"), "Enabled"));
        bool want_dyn = json_is_true(json_object_get(
            json_object_get(upd, "DynamicPartitioningConfiguration"), "Enabled"));
        if (want_dyn && !was_dyn) {
            rc = fh_fail(c, "InvalidArgumentException",
                         "Dynamic partitioning can be enabled only when a Firehose is created.");
            goto out_free;
        }
        const json_t *dyn_upd = json_object_get(
            json_object_get(upd, "DynamicPartitioningConfiguration"), "Enabled");
        if (was_dyn && json_is_false(dyn_upd)) {
            rc = fh_fail(c, "InvalidArgumentException",
                         "Dynamic partitioning cannot be disabled on a Firehose that was "
                         "created with it.");
            goto out_free;
        }
        if ((rc = fh_merge_update(dest, upd)))
            goto out_free;
    }
    /* an HTTP endpoint stream takes HttpEndpointDestinationUpdate only
     * (sinks/http_endpoint.c checks the merged configuration) */
    json_t *http = json_object_get(c->in, "HttpEndpointDestinationUpdate");
    bool is_http = !strcmp(fh_str(st, "DestKind"), "HttpEndpoint");
    if (json_is_object(http) ? !is_http || json_is_object(upd) : is_http && json_is_object(upd)) {
        rc = fh_fail(c, "InvalidArgumentException", "Changing the destination type of "
                     "Firehose %s is not supported by this server.", c->name);
        goto out_free;
    }
    if (json_is_object(http)) {
        json_t *top = json_deep_copy(http), *s3u = json_object_get(http, "S3Update");
        json_t *s3cfg = json_object_get(dest, "S3Configuration");
        json_object_del(top, "S3Update");
        rc = !top ? HY_ENOMEM : fh_merge_update(dest, top);
        json_decref(top);
        if (rc == HY_OK && json_is_object(s3u) && json_is_object(s3cfg))
            rc = fh_merge_update(s3cfg, s3u);
        if (rc)
            goto out_free;
    }
    char http_msg[600];
    if (is_http && http_endpoint_check(dest, http_msg, sizeof http_msg) != HY_OK) {
        rc = fh_fail(c, "InvalidArgumentException", "%s", http_msg);
        goto out_free;
    }
    if (!is_http && (rc = fh_check_destination(c, dest)))
        goto out_free;
    rc = stream_update_dest(c->key, (unsigned)version, dest, hy_now_ms());
    if (rc == HY_ENOTFOUND) {
        rc = fh_not_found(c);
    } else if (rc == HY_EINVAL) {
        rc = fh_fail(c, "InvalidArgumentException",
                     "The updated destination configuration is not usable.");
    } else if (rc == HY_OK) {
        c->out = json_object();
        rc = c->out ? HY_OK : HY_ENOMEM;
    }
out_free:
    if (rc == HY_ECONFLICT)
        rc = fh_fail(c, "ConcurrentModificationException",
                     "Cannot update Firehose %s: the current version id is %lld and the "
                     "specified version id is %s.", c->name,
                     (long long)json_integer_value(json_object_get(st, "VersionId")),
                     version_text);
    json_decref(dest);
    json_decref(st);
    return rc;
}

static int fh_tag(struct fh_ctx *c)
{
    json_t *tags = json_object(), *tag;
    size_t i;
    if (!tags)
        return HY_ENOMEM;
    json_array_foreach(json_object_get(c->in, "Tags"), i, tag) {
        const char *value = fh_str(tag, "Value");
        json_object_set_new(tags, fh_str(tag, "Key"), json_string(value ? value : ""));
    }
    int rc = stream_tag(c->key, tags);
    json_decref(tags);
    if (rc == HY_ENOTFOUND)
        return fh_not_found(c);
    if (rc == HY_ELIMIT)
        return fh_fail(c, "LimitExceededException",
                       "A Firehose can have at most %d tags; this request would exceed it.",
                       STREAM_MAX_TAGS);
    if (rc)
        return rc;
    c->out = json_object();
    return c->out ? HY_OK : HY_ENOMEM;
}

static int fh_untag(struct fh_ctx *c)
{
    int rc = stream_untag(c->key, json_object_get(c->in, "TagKeys"));
    if (rc == HY_ENOTFOUND)
        return fh_not_found(c);
    if (rc)
        return rc;
    c->out = json_object();
    return c->out ? HY_OK : HY_ENOMEM;
}

static int fh_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int fh_list_tags(struct fh_ctx *c)
{
    const char *after = fh_str(c->in, "ExclusiveStartTagKey");
    const json_t *limit_v = json_object_get(c->in, "Limit");
    size_t limit = json_is_integer(limit_v) ? (size_t)json_integer_value(limit_v) : 50;
    json_t *st = NULL, *list = NULL;
    const char **keys = NULL;
    bool more = false;
    int rc = stream_describe(c->key, &st);
    if (rc == HY_ENOTFOUND)
        return fh_not_found(c);
    if (rc)
        return rc;

    json_t *tags = json_object_get(st, "Tags"), *v;
    size_t n = 0, i;
    const char *key;
    keys = calloc(json_object_size(tags) + 1, sizeof *keys);
    if (!keys || !(list = json_array())) {
        rc = HY_ENOMEM;
        goto out_free;
    }
    json_object_foreach(tags, key, v)
        keys[n++] = key;
    qsort(keys, n, sizeof *keys, fh_cmp_str);
    for (i = 0; i < n; i++) {
        if (after && strcmp(keys[i], after) <= 0)
            continue;
        if (json_array_size(list) == limit) {
            more = true;
            break;
        }
        json_t *t = json_pack("{s:s, s:O}", "Key", keys[i], "Value",
                              json_object_get(tags, keys[i]));
        if (!t || json_array_append_new(list, t) != 0) {
            rc = HY_ENOMEM;
            goto out_free;
        }
    }
    c->out = json_pack("{s:O, s:b}", "Tags", list, "HasMoreTags", more);
    rc = c->out ? HY_OK : HY_ENOMEM;
out_free:
    json_decref(list);
    free(keys);
    json_decref(st);
    return rc;
}

static int fh_encryption_result(struct fh_ctx *c, int rc)
{
    if (rc == HY_ENOTFOUND)
        return fh_not_found(c);
    if (rc == HY_ESTATE)
        return fh_fail(c, "ResourceInUseException",
                       "Firehose %s under account %s is not ACTIVE.", c->name, HY_ACCOUNT_ID);
    if (rc)
        return rc;
    c->out = json_object();
    return c->out ? HY_OK : HY_ENOMEM;
}

static int fh_start_encryption(struct fh_ctx *c)
{
    json_t *sse = json_object_get(c->in, "DeliveryStreamEncryptionConfigurationInput");
    const char *type = json_is_object(sse) ? fh_str(sse, "KeyType") : NULL;
    const char *arn = json_is_object(sse) ? fh_str(sse, "KeyARN") : NULL;
    int rc;
    if (json_is_object(sse) && (rc = fh_check_sse(c, sse)))
        return rc;
    rc = stream_set_encryption(c->key, true, type ? type : "AWS_OWNED_CMK", arn,
                               hy_now_ms());
    return fh_encryption_result(c, rc);
}

static int fh_stop_encryption(struct fh_ctx *c)
{
    return fh_encryption_result(c, stream_set_encryption(c->key, false, NULL, NULL,
                                                         hy_now_ms()));
}

/* ---- dispatch and replies --------------------------------------------------- */
struct fh_op {
    const char *name;
    const struct fh_member *input;
    int (*fn)(struct fh_ctx *c);
};

static const struct fh_op fh_ops[] = {
    {"CreateDeliveryStream", M_CREATE, fh_create},
    {"DeleteDeliveryStream", M_DELETE, fh_delete},
    {"DescribeDeliveryStream", M_DESCRIBE, fh_describe},
    {"ListDeliveryStreams", M_LIST, fh_list},
    {"PutRecord", M_PUT, fh_put_record},
    {"PutRecordBatch", M_PUT_BATCH, fh_put_record_batch},
    {"UpdateDestination", M_UPDATE, fh_update},
    {"TagDeliveryStream", M_TAG_OP, fh_tag},
    {"UntagDeliveryStream", M_UNTAG, fh_untag},
    {"ListTagsForDeliveryStream", M_LIST_TAGS, fh_list_tags},
    {"StartDeliveryStreamEncryption", M_START_ENC, fh_start_encryption},
    {"StopDeliveryStreamEncryption", M_STOP_ENC, fh_stop_encryption},
};

/* The one place where a result code becomes an AWS JSON error: fills
 * *status, *body (malloc'd) and *type. */
static void firehose_error(struct fh_ctx *c, int rc, int *status, char **body,
                           const char **type_out)
{
    const char *type = c->err_type, *msg = c->err_msg;

    if (!type) {
        switch (rc) {
        case HY_ENOTFOUND:
            type = "ResourceNotFoundException";
            msg = "The requested resource was not found.";
            break;
        case HY_EEXIST: case HY_ESTATE:
            type = "ResourceInUseException";
            msg = "The resource is in use.";
            break;
        case HY_ELIMIT:
            type = "LimitExceededException";
            msg = "A limit was exceeded.";
            break;
        case HY_ECONFLICT:
            type = "ConcurrentModificationException";
            msg = "Another modification has already happened.";
            break;
        case HY_EINVAL:
            type = "InvalidArgumentException";
            msg = "Invalid argument.";
            break;
        case HY_EBUSY:
            type = "ServiceUnavailableException";
            msg = "Slow down.";
            break;
        default:
            /* ENOMEM, EDB, EIO, ENOSPC: ours, not the client's; retryable */
            type = "ServiceUnavailableException";
            msg = arena_printf(c->req->arena, "The service is unavailable: %s.",
                               hy_strerror(rc));
            log_error("firehose", "%s: %s", c->name ? c->name : "-", hy_strerror(rc));
            break;
        }
    }
    *status = 400;
    if (!strcmp(type, "ServiceUnavailableException"))
        *status = 500; /* a fault in the model */
    else if (!strcmp(type, "RequestEntityTooLargeException"))
        *status = 413;
    json_t *o = json_pack("{s:s, s:s}", "__type", type, "message", msg ? msg : "");
    *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    *type_out = type;
}

/* Runs one operation without answering: *status, *body (malloc'd, caller
 * frees; NULL when out of memory) and *error_type (NULL on success). The
 * HTTP-free seam that unit tests and fuzzers drive; req needs only body,
 * body_len, body_too_large, arena and (for the region) headers. */
void firehose_exec(struct http_req *req, const char *op, int *status, char **body,
                   const char **error_type)
{
    struct fh_ctx c = {.req = req, .region = req->region ? req->region : hy_cfg.region};
    const struct fh_op *o = NULL;
    json_error_t jerr;
    int rc;

    *error_type = NULL;
    *body = NULL;
    for (size_t i = 0; i < sizeof fh_ops / sizeof fh_ops[0] && !o; i++)
        if (!strcmp(fh_ops[i].name, op))
            o = &fh_ops[i];
    if (!o) {
        rc = fh_fail(&c, "UnknownOperationException", "Operation %.100s is not supported.", op);
        goto out_reply;
    }
    if (req->body_too_large) {
        /* The body was not kept, so nothing can be parsed. AWS's front
         * door answers an oversized request with 413 before Firehose sees
         * it; botocore reads the __type below as the error code. */
        rc = fh_fail(&c, "RequestEntityTooLargeException",
                     "Request body of the %s request is larger than %zu bytes.", o->name,
                     hy_cfg.max_body);
        goto out_reply;
    }
    /* the two hot puts: the scanner first, jansson for anything else */
    if ((o->fn == fh_put_record || o->fn == fh_put_record_batch) && req->body_len) {
        rc = fh_put_scanned(&c, o->fn == fh_put_record_batch);
        if (rc == FH_DEFERRED) {
            *status = 0; /* fh_put_done answers */
            return;
        }
        if (rc != FHSCAN_FALLBACK)
            goto out_reply;
        c.name = NULL;
    }
    /* botocore always sends a body; an empty one is an empty request */
    c.in = req->body_len ? json_loadb(req->body, req->body_len, 0, &jerr) : json_object();
    if (!c.in) {
        rc = fh_fail(&c, "SerializationException",
                     "The request body is not valid JSON: %s (line %d, column %d)", jerr.text,
                     jerr.line, jerr.column);
        goto out_reply;
    }
    if (!json_is_object(c.in)) {
        rc = fh_fail(&c, "SerializationException", "The request body must be a JSON object.");
        goto out_reply;
    }
    if ((rc = fh_validate(&c, o->input)))
        goto out_reply;
    fh_set_name(&c, fh_str(c.in, "DeliveryStreamName"));
    rc = o->fn(&c);
    if (rc == FH_DEFERRED) {
        *status = 0; /* fh_put_done answers */
        json_decref(c.in);
        return;
    }
out_reply:
    if (rc == HY_OK && c.answer) {
        *body = c.answer; /* the caller frees it */
        c.answer = NULL;
        *status = 200;
    } else if (rc == HY_OK) {
        /* 13 significant digits: epoch seconds with milliseconds */
        *body = json_dumps(c.out, JSON_COMPACT | JSON_REAL_PRECISION(13));
        *status = 200;
        if (!*body)
            rc = HY_ENOMEM;
    }
    if (rc != HY_OK)
        firehose_error(&c, rc, status, body, error_type);
    free(c.answer);
    json_decref(c.out);
    json_decref(c.in);
}

void firehose_handle(struct http_req *req, const char *op)
{
    const char *error_type;
    char *body;
    int status;

    firehose_exec(req, op, &status, &body, &error_type);
    if (status == 0)
        return; /* a put waiting for the WAL: fh_put_done answers */
    fh_send(req, status, body, error_type);
    free(body);
}

/* x-amzn-RequestId: a v4 UUID from a per-thread splitmix64 generator
 * seeded once from hy_random. The id names a request in logs and is no
 * secret, so RAND_bytes on every answer (3% of PutRecord's CPU) buys
 * nothing. */
static void fh_request_id(char out[37])
{
    static __thread uint64_t state;
    static __thread bool seeded;
    static const char hex[] = "0123456789abcdef";
    unsigned char u[16];

    if (!seeded) {
        if (hy_random(&state, sizeof state) != HY_OK)
            state = (uint64_t)hy_now_ms() ^ (uint64_t)(uintptr_t)&state;
        seeded = true;
    }
    for (size_t half = 0; half < 2; half++) {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        for (size_t i = 0; i < 8; i++)
            u[half * 8 + i] = (unsigned char)(z >> (i * 8));
    }
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    for (size_t i = 0, o = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[u[i] >> 4];
        out[o++] = hex[u[i] & 15];
    }
    out[36] = 0;
}

/* Adds the headers every answer has and replies; body is borrowed. */
static void fh_send(struct http_req *req, int status, char *body, const char *error_type)
{
    static const char oom[] = "{\"__type\":\"ServiceUnavailableException\","
                              "\"message\":\"out of memory\"}";
    char request_id[37];

    fh_request_id(request_id);
    http_add_header(req, "x-amzn-RequestId", request_id);
    if (!body) {
        status = 500;
        error_type = "ServiceUnavailableException";
    }
    if (error_type)
        http_add_header(req, "x-amzn-ErrorType", error_type);
    http_reply(req, status, FH_CONTENT_TYPE, body ? body : oom,
               body ? strlen(body) : sizeof oom - 1);
}
