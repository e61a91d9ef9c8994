/* sinks/sinks.h -- what the sinks in src/sinks/ share beyond pipeline.h:
 * the external S3 sink's pieces (its response parser, for the fuzzer; a
 * put to a named endpoint, for the HTTP endpoint's S3 backup) and the
 * HTTP endpoint destination's functions that firehose.c, stream.c and
 * delivery.c call. */
#ifndef HYDRANT_SINKS_H
#define HYDRANT_SINKS_H

#include "destinations.h"
#include "pipeline.h"

#include <jansson.h>

extern const struct sink sink_s3_remote;     /* sinks/s3_remote.c */
extern const struct sink sink_http_endpoint; /* sinks/http_endpoint.c */

/* Set to true by delivery.c (in delivery_start, before streams deliver)
 * once it hands every sink the batch's processed records in
 * sink_put.records. Until then HTTP endpoint destinations are refused at
 * CreateDeliveryStream / UpdateDestination (http_endpoint_check): their
 * sink needs the records, and a stream that can never deliver must not be
 * accepted. Read on HTTP threads, written once before the listener starts. */
extern bool sinks_records_passed;

/* The sink that holds an S3 bucket (destinations_find: external S3 or the
 * embedded store), whatever the stream's destination kind: for backups. */
const struct sink *sink_for_bucket(const char *bucket);

/* Under --iam=strict, whether the stream's RoleARN allows s3:PutObject on
 * req's object (as sinks/store.c checks it, AWS's Firehose assuming the
 * role): HY_OK, or S3.AccessDenied (retryable: the policy may be fixed)
 * with the reason. HY_OK in the other modes. */
int sinks_check_role(const struct sink_put *req, const char **error_code, bool *retryable,
                     char *why, size_t why_len);

/* ---- external S3 (s3_remote.c) ---------------------------------------- */

/* What an S3 XML response says, as far as delivery needs it. Strings are
 * NUL-terminated and truncated to their buffers. */
#define S3R_MAX_UPLOADS 64
struct s3r_xml {
    char root[48];            /* the root element's name: "Error", ... */
    char code[64];            /* Error/Code */
    char message[256];        /* Error/Message */
    char upload_id[256];      /* InitiateMultipartUploadResult/UploadId */
    char etag[80];            /* CompleteMultipartUploadResult/ETag */
    bool truncated;           /* ListMultipartUploadsResult/IsTruncated */
    char next_key[1025];      /* NextKeyMarker */
    char next_upload[256];    /* NextUploadIdMarker */
    size_t nuploads;          /* ListMultipartUploadsResult/Upload */
    struct { char key[1025]; char id[256]; } uploads[S3R_MAX_UPLOADS];
};
/* Parses an S3 XML body (expat). HY_OK, or HY_EINVAL when it is not
 * well-formed XML. Any input is safe (fuzzed: tests/fuzz/fuzz_s3r_xml.c). */
int s3r_xml_parse(const char *body, size_t len, struct s3r_xml *out);

/* Writes one object to endpoint ep (the external S3 sink's put, with the
 * endpoint chosen by the caller). Same contract as struct sink's put. */
int s3_remote_put(const struct s3_endpoint *ep, const struct sink_put *req,
                  const char **error_code, bool *retryable, char *why, size_t why_len);
/* Objects above this size go up as multipart uploads of this part size. */
#define S3R_MULTIPART_THRESHOLD ((size_t)16 << 20)
#define S3R_PART_SIZE ((size_t)16 << 20)
/* Frees the pooled connections (main.c at stop). */
void s3_remote_shutdown(void);

/* ---- HTTP endpoint destination (http_endpoint.c) --------------------- */

/* Whether a stored destination configuration is an HTTP endpoint's. */
bool http_endpoint_is(const json_t *cfg);
/* Checks HttpEndpointDestinationConfiguration (or, merged, an update)
 * beyond the model's shapes: HY_OK, or HY_EINVAL with AWS's
 * InvalidArgumentException message in msg. */
int http_endpoint_check(const json_t *cfg, char *msg, size_t msg_len);
/* HttpEndpointDestinationDescription of a stored configuration, defaults
 * filled as AWS describes them; AccessKey and attribute values are not
 * echoed (AWS marks them sensitive and does not return the key). New
 * reference; NULL without memory. */
json_t *http_endpoint_describe(const json_t *cfg);
/* The bucket of the S3Configuration (backup), for stream.c's dest.bucket:
 * the name after arn:aws:s3:::, or NULL. Borrowed from cfg. */
const char *http_endpoint_backup_bucket(const json_t *cfg);
/* RetryOptions.DurationInSeconds (default 300, AWS's). */
int http_endpoint_retry_window_s(const json_t *cfg);
/* S3BackupMode: true for AllData (every object also goes to the S3
 * backup), false for FailedDataOnly (the default). */
bool http_endpoint_backup_all(const json_t *cfg);
/* The backup object after the retry window: every record of req->records
 * as AWS's error record (pl_error_record, errorCode e.g.
 * HttpEndpoint.DestinationException, rawData the record) under
 * <ErrorOutputPrefix or "">http-endpoint-failed/yyyy/MM/dd/HH/<key's base>
 * in the S3Configuration bucket, through sink_for_bucket. HY_OK when the
 * backup store confirmed it; else as a sink's put. */
int http_endpoint_backup_failed(const struct sink_put *req, int attempts,
                                const char *error_code, const char *message,
                                const char **out_code, bool *retryable, char *why,
                                size_t why_len);
/* Whether an endpoint's answer is a success for request id: HY_OK, or
 * HY_EIO with AWS's error code in *code and a sentence in why. truncated:
 * the body was cut at 1 MiB. Any input is safe (fuzzed:
 * tests/fuzz/fuzz_http_response.c). */
int http_endpoint_check_response(long status, const char *body, size_t len, bool truncated,
                                 const char *id, const char **code, char *why, size_t why_len);
/* Per-request timeout (AWS: 3 minutes) and the CA file that verifies
 * endpoints (NULL: the system's), from main.c's flags. */
extern int http_endpoint_timeout_s;
extern const char *http_endpoint_ca_file;

#endif
