/* objstore.h -- the embedded S3 store: object bytes in files, metadata in
 * SQLite. Owned by objstore.c; s3.c serves it over the S3 REST API and
 * delivery.c writes delivered objects into it. */
#ifndef HYDRANT_OBJSTORE_H
#define HYDRANT_OBJSTORE_H

#include "server.h"

struct objstore;

/* The process-wide store main.c opens at start. */
extern struct objstore *hy_store;

/* Opens (creating if needed) the store under dir. */
int objstore_open(const char *dir, struct objstore **out);
void objstore_close(struct objstore *os); /* accepts NULL */

/* Writes a whole object atomically (temp file, fsync, rename, then the
 * catalog row), replacing any object of that key. HY_ENOTFOUND when the
 * bucket does not exist. etag_out (may be NULL) gets the quoted MD5 ETag,
 * e.g. "\"d41d8cd98f00b204e9800998ecf8427e\"". Thread-safe. */
int objstore_put(struct objstore *os, const char *bucket, const char *key,
                 const void *data, size_t len, const char *content_type,
                 char etag_out[40]);

/* Whether a bucket exists (HY_OK) or not (HY_ENOTFOUND). */
int objstore_bucket_exists(struct objstore *os, const char *bucket);

#endif
