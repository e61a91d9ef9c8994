/* sigv4.h -- AWS Signature Version 4 verification (see sigv4.c).
 *
 * Typical use, from the router, once per request:
 *
 *     struct sigv4_auth auth;
 *     int rc = sigv4_verify(req, lookup, ctx, hy_now_ms(), &auth);
 *     if (rc == SIGV4_OK && sigv4_is_chunked(&auth))   // S3 aws-chunked upload
 *         rc = sigv4_dechunk_request(req, &auth, decoded_len);
 *     if (rc != SIGV4_OK) {
 *         struct sigv4_error e;
 *         sigv4_error(rc, SIGV4_PROTO_S3, &auth, hy_now_ms(), &e);
 *         ... answer e.status with e.code / e.message in the API's format
 *     }
 *
 * After sigv4_dechunk_request the API sees an ordinary body: the chunk
 * framing is gone and every chunk signature has been checked.
 */
#ifndef HYDRANT_SIGV4_H
#define HYDRANT_SIGV4_H

#include "server.h"

enum sigv4_rc {
    SIGV4_OK = 0,
    SIGV4_MISSING,          /* no Authorization header, no X-Amz-* query auth */
    SIGV4_MALFORMED,        /* bad Authorization / credential / query params */
    SIGV4_UNKNOWN_KEY,      /* access key id not known to lookup */
    SIGV4_MISMATCH,         /* signature (or a chunk signature) differs */
    SIGV4_SKEWED,           /* |request time - now| > 15 min */
    SIGV4_EXPIRED,          /* presigned URL past X-Amz-Date + X-Amz-Expires */
    SIGV4_BAD_CONTENT_SHA256,     /* x-amz-content-sha256 != SHA-256(body) */
    SIGV4_INVALID_CONTENT_SHA256, /* x-amz-content-sha256 not hex nor keyword */
    SIGV4_INTERNAL,         /* out of memory, or the request is too big */
    SIGV4_TOO_LARGE,        /* decoded aws-chunked payload over out's ceiling */
    SIGV4_INCOMPLETE_BODY,  /* aws-chunked framing broken, or the payload is not
                               x-amz-decoded-content-length bytes (S3:
                               400 IncompleteBody) */
    SIGV4_BAD_CHECKSUM,     /* an aws-chunked checksum trailer differs from the
                               payload's (S3: 400 BadDigest) */
};

/* The wire protocol an error is reported in (pick by API, see router). */
enum sigv4_proto {
    SIGV4_PROTO_JSON,  /* Firehose and other awsJson services */
    SIGV4_PROTO_S3,    /* S3 REST-XML */
    SIGV4_PROTO_QUERY, /* IAM / STS query protocol */
};

#define SIGV4_MAX_SKEW_MS (15 * 60 * 1000)
#define SIGV4_MAX_EXPIRES 604800 /* 7 days, X-Amz-Expires ceiling */

/* What a verified (or partly parsed) request claims. Filled as far as
 * parsing got, so error messages can quote it; valid in full only on
 * SIGV4_OK. Holds no pointers into the request. */
struct sigv4_auth {
    bool presigned;            /* query-string form */
    char access_key[129];
    char scope_date[9];        /* YYYYMMDD from the credential scope */
    char region[65];
    char service[65];
    char amz_date[17];         /* YYYYMMDDTHHMMSSZ used in the string to sign */
    int64_t date_ms;           /* amz_date as ms since the epoch */
    int64_t expires_s;         /* presigned: X-Amz-Expires; else 0 */
    char signature[65];        /* the request's (seed) signature, lowercase */
    char payload_hash[72];     /* hex SHA-256, UNSIGNED-PAYLOAD, STREAMING-... */
    unsigned char signing_key[32];
    bool has_security_token;   /* X-Amz-Security-Token header or query */
    char detail[200];          /* why MALFORMED, for the error message */
};

/* The credential scope a request claims:
 * "Credential=AKID/YYYYMMDD/REGION/SERVICE/aws4_request". */
struct sigv4_scope {
    char access_key[129];
    char date[9];      /* YYYYMMDD */
    char region[65];
    char service[65];
};

/* Reads the scope from the Authorization header (AWS4-HMAC-SHA256
 * Credential=...) or, without one, the X-Amz-Credential query parameter,
 * with the parser sigv4_verify uses; verifies nothing (the router picks
 * the API and region by it before authenticating). Returns SIGV4_OK,
 * SIGV4_MISSING (neither there: unsigned, or SigV2) or SIGV4_MALFORMED
 * (out then holds what parsed, possibly nothing). */
int sigv4_scope_parse(const struct http_req *req, struct sigv4_scope *out);

/* Copies the secret for akid into secret (NUL-terminated, at most size-1
 * bytes) and returns 0, or returns -1 when the key is unknown. Called on
 * the HTTP threads, so it must be thread-safe; copying out (instead of
 * returning a pointer) lets the key be deleted concurrently. */
typedef int (*sigv4_secret_fn)(const char *akid, char *secret, size_t size,
                               void *ctx);

/* Verifies req's SigV4 signature, header or presigned form. now_ms is the
 * wall clock (hy_now_ms()). out is always written. Returns enum sigv4_rc.
 * Does not decode aws-chunked bodies: see sigv4_dechunk_request. */
int sigv4_verify(const struct http_req *req, sigv4_secret_fn lookup, void *ctx,
                 int64_t now_ms, struct sigv4_auth *out);

/* S3's older presigned form, which boto3 1.26 still makes by default:
 * ?AWSAccessKeyId=..&Expires=<epoch s>&Signature=<base64 HMAC-SHA1>
 * (SigV2 query authentication). True when the query has that form. */
bool sigv4_is_v2_presigned(const struct http_req *req);
/* Verifies it. vhost_bucket is the bucket a virtual-host Host header
 * names, as s3_vhost_bucket (api.h) decides it, or NULL for path-style:
 * the signed resource is then "/" + vhost_bucket + path, so a URL signed
 * for one bucket does not open another. Expires past now is
 * SIGV4_EXPIRED; more than SIGV4_MAX_EXPIRES (7 days) ahead of now is
 * SIGV4_MALFORMED (AuthorizationQueryParametersError). Returns SIGV4_OK,
 * SIGV4_MALFORMED, SIGV4_UNKNOWN_KEY, SIGV4_MISMATCH, SIGV4_EXPIRED or
 * SIGV4_TOO_LARGE. out gets the access key (for logs and errors). */
int sigv4_verify_v2_presigned(const struct http_req *req, const char *vhost_bucket,
                              sigv4_secret_fn lookup, void *ctx, int64_t now_ms,
                              struct sigv4_auth *out);

/* True when the body is aws-chunked (x-amz-content-sha256 STREAMING-*). */
bool sigv4_is_chunked(const struct sigv4_auth *auth);

/* Decodes req's aws-chunked body in place of the raw one, checking every
 * chunk (and trailer) signature as it decodes; auth is what sigv4_verify
 * filled for req (SIGV4_OK, sigv4_is_chunked). This is the only chunked
 * decoder: APIs never see the raw chunks.
 * In memory: req->body/body_len become the decoded payload (arena memory,
 * NUL-terminated). Spooled (req->body_path): the decoded payload is
 * written to a new file next to it (mode 0600, named like a spool file)
 * and renamed over req->body_path, so http.c's unlink at completion still
 * cleans it; body_file_len, body_md5 and body_sha256 then describe the
 * decoded bytes. On success req->body_dechunked is set; on failure the
 * request is left as it was. decoded_len is x-amz-decoded-content-length
 * (-1 if absent); when given the payload must be that long. The checksum
 * trailers req's x-amz-trailer header declares (crc32, crc32c, crc64nvme,
 * sha1, sha256) are computed and compared.
 * Returns SIGV4_OK, SIGV4_INCOMPLETE_BODY (framing, length, a trailer
 * missing, undeclared or of an unknown algorithm), SIGV4_MISMATCH (a chunk
 * or trailer signature), SIGV4_BAD_CHECKSUM (a checksum trailer),
 * SIGV4_TOO_LARGE (req->body_too_large) or SIGV4_INTERNAL (memory, I/O,
 * the spool write had failed). */
int sigv4_dechunk_request(struct http_req *req, const struct sigv4_auth *auth,
                          int64_t decoded_len);
/* The same decoder on a body in memory, for tests and fuzzing: appends the
 * payload to out (out's ceiling: SIGV4_TOO_LARGE); trailer_decl is the
 * x-amz-trailer value (NULL: none). Same return values. */
int sigv4_decode_chunked(const struct sigv4_auth *auth, const char *trailer_decl,
                         const char *body, size_t len, int64_t decoded_len,
                         struct buf *out);

/* ---- error mapping: the one place SigV4 results become AWS errors ---- */
struct sigv4_error {
    const char *code;  /* AWS error code, e.g. "SignatureDoesNotMatch" */
    int status;        /* HTTP status */
    char message[400];
};
void sigv4_error(int rc, enum sigv4_proto proto, const struct sigv4_auth *auth,
                 int64_t now_ms, struct sigv4_error *err);

/* Whether the request's SignedHeaders (Authorization header or
 * X-Amz-SignedHeaders query) names this header (case-insensitive). */
bool sigv4_signs_header(const struct http_req *req, const char *name);

/* ---- lower level, exposed for tests and fuzzing ---------------------- */
struct sigv4_params {
    const char *signed_headers; /* "host;x-amz-date", as in the request */
    const char *payload_hash;   /* last line of the canonical request */
    bool s3;                    /* S3 canonical URI rules (no normalization) */
    bool presigned;             /* leave X-Amz-Signature out of the query */
};
/* Appends the canonical request to out. Returns SIGV4_OK, SIGV4_MALFORMED
 * (bad signed-header list, a malformed %-escape in the query) or
 * SIGV4_INTERNAL (memory, out's ceiling). */
int sigv4_canonical_request(const struct http_req *req,
                            const struct sigv4_params *p, struct buf *out);
/* Appends "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(creq)>". */
int sigv4_string_to_sign(const char *amz_date, const char *scope,
                         const char *creq, size_t creq_len, struct buf *out);
/* HMAC chain kSecret -> kDate -> kRegion -> kService -> kSigning, through
 * a small thread-safe cache. Returns SIGV4_OK or SIGV4_INTERNAL. */
int sigv4_signing_key(const char *secret, const char *date8, const char *region,
                      const char *service, unsigned char key[32]);
/* hex(HMAC-SHA256(key, msg)) */
void sigv4_sign(const unsigned char key[32], const char *msg, size_t len,
                char hex[65]);

#endif
