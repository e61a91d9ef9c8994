/* s3_cors.h -- S3 bucket CORS configuration (PutBucketCors, GetBucketCors,
 * DeleteBucketCors), for s3.c; the preflight and response-header entry
 * points the router calls are in api.h. */
#ifndef HYDRANT_S3_CORS_H
#define HYDRANT_S3_CORS_H

#include "s3_wire.h"

/* ?cors on a bucket: PUT / GET / DELETE; answers c. */
void s3_cors_handle(struct s3_ctx *c);

/* One rule of a CORS configuration, as parsed (arena strings). */
#define CORS_MAX_RULES 100   /* S3's limit */
#define CORS_MAX_ITEMS 32    /* origins, methods, headers per rule */
struct cors_rule {
    const char *id;
    const char *origins[CORS_MAX_ITEMS];
    size_t norigins;
    const char *methods[CORS_MAX_ITEMS];
    size_t nmethods;
    const char *headers[CORS_MAX_ITEMS];
    size_t nheaders;
    const char *expose[CORS_MAX_ITEMS];
    size_t nexpose;
    long max_age;            /* -1: none */
};
struct cors_config {
    struct cors_rule *rules; /* arena */
    size_t n;
};
/* Parses a CORSConfiguration document (expat, through s3_wire.c) into
 * *out and checks it as S3 does: HY_OK, or HY_EINVAL with S3's error code
 * and message in *code / msg (MalformedXML or InvalidRequest). The parser
 * tests/fuzz/fuzz_cors.c drives. */
int cors_parse(struct http_req *req, const char *body, size_t len, struct cors_config *out,
               const char **code, char *msg, size_t msg_len);
/* Whether a rule allows origin, method and the comma-separated requested
 * headers (NULL: none): the first rule that does, or NULL. */
const struct cors_rule *cors_match(const struct cors_config *cfg, const char *origin,
                                   const char *method, const char *req_headers);

#endif
