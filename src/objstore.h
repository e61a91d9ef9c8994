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

/* ---- limits (AWS's) ---------------------------------------------------- */
#define OBJSTORE_MAX_KEY 1024          /* bytes of UTF-8 in a key */
#define OBJSTORE_MAX_META 2048         /* user metadata, all pairs together */
#define OBJSTORE_MAX_CTYPE 1024        /* Content-Type */
#define OBJSTORE_MAX_REGION 63

/* What the catalog knows about one object. Fixed-size so callers can keep
 * it on the stack. meta holds the user metadata as "name:value\n" lines,
 * names lowercase without the x-amz-meta- prefix; it is "" in listings. */
struct objstore_obj {
    char key[OBJSTORE_MAX_KEY + 1];
    uint64_t size;
    char etag[40];                    /* quoted MD5 hex */
    char content_type[OBJSTORE_MAX_CTYPE + 1];
    char meta[OBJSTORE_MAX_META + 1];
    int64_t last_modified_ms;
};

/* ---- buckets ------------------------------------------------------------
 * All return HY_OK or an enum hy_rc; all are thread-safe. */

/* HY_EEXIST when the bucket is there already. region NULL = us-east-1. */
int objstore_bucket_create(struct objstore *os, const char *bucket,
                           const char *region);
/* HY_ENOTFOUND, or HY_ENOTEMPTY while it holds objects. */
int objstore_bucket_delete(struct objstore *os, const char *bucket);
/* The region given at creation; HY_ENOTFOUND when there is no bucket. */
int objstore_bucket_region(struct objstore *os, const char *bucket,
                           char region_out[OBJSTORE_MAX_REGION + 1]);
/* Calls fn for every bucket in name order; fn returns nonzero to stop.
 * The store's lock is held during fn: fn must not call the store. */
typedef int (*objstore_bucket_fn)(void *ctx, const char *name,
                                  const char *region, int64_t created_ms);
int objstore_bucket_list(struct objstore *os, objstore_bucket_fn fn, void *ctx);

/* ---- objects ----------------------------------------------------------- */

/* objstore_put with user metadata (meta: "name:value\n" lines, may be NULL)
 * and last-modified time out (may be NULL). HY_ETOOBIG when the key, the
 * metadata or the content type is over its limit. */
int objstore_put_meta(struct objstore *os, const char *bucket, const char *key,
                      const void *data, size_t len, const char *content_type,
                      const char *meta, char etag_out[40],
                      int64_t *last_modified_out);

/* Opens an object for reading: *fd_out is an open read-only descriptor of
 * its bytes (caller closes, or hands it to http_reply_fd), info gets its
 * metadata. The bytes stay readable through fd even if the object is
 * replaced or deleted meanwhile. HY_ENOTFOUND for no bucket or no key. */
int objstore_get(struct objstore *os, const char *bucket, const char *key,
                 int *fd_out, struct objstore_obj *info);
/* Metadata only. HY_ENOTFOUND for no bucket or no key. */
int objstore_head(struct objstore *os, const char *bucket, const char *key,
                  struct objstore_obj *info);
/* Removes an object and its file. HY_ENOTFOUND when there was none. */
int objstore_delete(struct objstore *os, const char *bucket, const char *key);

/* Calls fn, in key order (bytewise, as S3 sorts), for each object of
 * bucket whose key starts with prefix (NULL = all) and comes after `after`
 * (NULL = from the start; inclusive => key >= after, else key > after),
 * until fn returns nonzero or the keys run out. HY_ENOTFOUND when the
 * bucket does not exist. The store's lock is held during fn: fn must not
 * call the store. */
typedef int (*objstore_list_fn)(void *ctx, const struct objstore_obj *obj);
int objstore_list(struct objstore *os, const char *bucket, const char *prefix,
                  const char *after, bool inclusive, objstore_list_fn fn,
                  void *ctx);

#endif
