/* destinations.h -- where a bucket lives: the embedded store, the
 * server-wide external S3 endpoint (--s3-endpoint ...), or the endpoint a
 * --destinations file names for that bucket. Owned by destinations.c;
 * sinks.c asks it, main.c feeds it flags. */
#ifndef HYDRANT_DESTINATIONS_H
#define HYDRANT_DESTINATIONS_H

#include "server.h"

/* One external S3 endpoint as configured (strings owned by the table). */
struct s3_endpoint {
    const char *bucket;            /* the bucket it is for; NULL: the default */
    bool embedded;                 /* the bucket stays in the embedded store */
    const char *endpoint;          /* "https://host[:port]", no trailing '/' */
    const char *region;
    const char *access_key_id;
    const char *secret_access_key;
    bool path_style;               /* https://host/bucket/key, not bucket.host */
    const char *ca_file;           /* PEM bundle to verify the endpoint; NULL: system's */
};

struct destinations;

/* main.c: one of the --s3-* or --destinations flags (name without the
 * dashes, e.g. "s3-endpoint"; value NULL for --s3-path-style). HY_OK, or
 * HY_EINVAL when name is not one of them. */
int destinations_flag(const char *name, const char *value);
/* After the flags: credentials from the environment when no flag gave
 * them (HYDRANT_S3_ACCESS_KEY_ID / HYDRANT_S3_SECRET_ACCESS_KEY, else
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), default region
 * (hy_cfg.region), then the --destinations file. HY_OK, or HY_EINVAL with
 * a sentence naming what is wrong or missing in msg. Call once, before
 * delivery starts; the table is read-only afterwards. */
int destinations_init(char *msg, size_t msg_len);
void destinations_shutdown(void);

/* Parses a destinations file's text (JSON, format in destinations.c) into
 * a table; def (may be NULL) supplies credentials and region a bucket
 * entry leaves out. HY_OK and *out (free with destinations_free), or
 * HY_EINVAL / HY_ENOMEM with the reason in msg. Never crashes on any
 * input (fuzzed: tests/fuzz/fuzz_destinations.c). */
int destinations_parse(const char *text, size_t len, const struct s3_endpoint *def,
                       struct destinations **out, char *msg, size_t msg_len);
void destinations_free(struct destinations *d);   /* accepts NULL */
/* The entry of bucket in d, or NULL. */
const struct s3_endpoint *destinations_lookup(const struct destinations *d, const char *bucket);

/* The endpoint that holds bucket: the file's entry, else the default
 * --s3-endpoint, else NULL (the embedded store). An entry with embedded
 * set also means the embedded store. Any thread, after init. */
const struct s3_endpoint *destinations_find(const char *bucket);

#endif
