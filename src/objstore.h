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
#define OBJSTORE_MAX_HEADERS 4096      /* stored standard headers, all lines */
#define OBJSTORE_MAX_TAGS 16384        /* url-encoded tag set */
#define OBJSTORE_MAX_TAG_COUNT 10      /* tags per object */
#define OBJSTORE_MAX_PARTS 10000       /* parts per multipart upload */
#define OBJSTORE_MIN_PART (5u << 20)   /* every part but the last */
#define OBJSTORE_UPLOAD_ID_LEN 32      /* hex: 12 of time, 20 random */
#define OBJSTORE_PATH_MAX 4096
#define OBJSTORE_ETAG_MAX 48           /* "<32 hex>-10000" quoted, NUL */

/* What a writer says about an object besides its bytes. Any field may be
 * NULL (none; content_type NULL = binary/octet-stream).
 *   meta     user metadata, "name:value\n" lines, names lowercase without
 *            the x-amz-meta- prefix
 *   headers  the standard headers stored with the object and sent back on
 *            GET/HEAD (Cache-Control, Content-Disposition, Content-Encoding,
 *            Content-Language, Expires) as "Name:value\n" lines
 *   tags     the tag set as S3's x-amz-tagging form: k=v&k2=v2, each part
 *            percent-encoded */
struct objstore_attrs {
    const char *content_type;
    const char *meta;
    const char *headers;
    const char *tags;
};

/* What the catalog knows about one object. Fixed-size so callers can keep
 * it on the stack. meta holds the user metadata as "name:value\n" lines,
 * names lowercase without the x-amz-meta- prefix; it is "" in listings. */
struct objstore_obj {
    char key[OBJSTORE_MAX_KEY + 1];
    uint64_t size;
    char etag[OBJSTORE_ETAG_MAX];     /* quoted MD5 hex (multipart: "-N") */
    char content_type[OBJSTORE_MAX_CTYPE + 1];
    char meta[OBJSTORE_MAX_META + 1];
    char headers[OBJSTORE_MAX_HEADERS + 1]; /* "" in listings */
    int64_t last_modified_ms;
    int tag_count;                    /* 0 in listings */
    int parts;                        /* parts of a multipart object, else 0 */
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

/* objstore_put_meta with every attribute (attrs may be NULL). */
int objstore_put_attrs(struct objstore *os, const char *bucket, const char *key,
                       const void *data, size_t len,
                       const struct objstore_attrs *attrs, char etag_out[40],
                       int64_t *last_modified_out);

/* Makes a finished file the object's bytes: path must be on the store's
 * filesystem (the HTTP spool directory or objstore_tmp_create's), size
 * bytes long, md5 its digest. On HY_OK the file has been renamed away;
 * on failure it is still at path and the caller removes it. */
int objstore_put_file(struct objstore *os, const char *bucket, const char *key,
                      const char *path, uint64_t size, const unsigned char md5[16],
                      const struct objstore_attrs *attrs, char etag_out[40],
                      int64_t *last_modified_out);

/* A new empty temp file in the store's tmp/ directory, open for writing;
 * the caller closes fd and hands path to objstore_put_file or unlinks it. */
int objstore_tmp_create(struct objstore *os, char path_out[OBJSTORE_PATH_MAX],
                        int *fd_out);

/* CopyObject: dst gets src's bytes (a hard link: no byte is copied; object
 * files are never modified in place). attrs NULL keeps src's content type,
 * metadata, headers and tags; otherwise attrs replaces them (attrs->tags
 * NULL keeps src's tags). HY_ENOTFOUND names the missing side in
 * *src_missing. */
int objstore_copy(struct objstore *os, const char *src_bucket, const char *src_key,
                  const char *dst_bucket, const char *dst_key,
                  const struct objstore_attrs *attrs, bool *src_missing,
                  char etag_out[OBJSTORE_ETAG_MAX], int64_t *last_modified_out);

/* Object tagging: tags in the x-amz-tagging form (see objstore_attrs);
 * set with "" or NULL removes them. HY_ENOTFOUND for no bucket or key. */
int objstore_tags_get(struct objstore *os, const char *bucket, const char *key,
                      char tags_out[OBJSTORE_MAX_TAGS + 1]);
int objstore_tags_set(struct objstore *os, const char *bucket, const char *key,
                      const char *tags);

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

/* ---- multipart uploads ---------------------------------------------------
 * Parts are files like objects; the catalog keeps them per upload until
 * Complete concatenates the named parts into one new object file (ETag
 * "<md5 of the parts' binary MD5s>-<n>") or Abort drops them. An upload ID
 * names its bucket and key: a call naming another gets HY_ENOTFOUND
 * (NoSuchUpload). */
struct objstore_upload {
    char upload_id[OBJSTORE_UPLOAD_ID_LEN + 1];
    char key[OBJSTORE_MAX_KEY + 1];
    int64_t created_ms;
};

struct objstore_part {
    int number;
    uint64_t size;
    char etag[40];
    int64_t last_modified_ms;
};

/* What CompleteMultipartUpload names: part number and the ETag the client
 * got for it (quoted or not). */
struct objstore_part_ref {
    int number;
    const char *etag;
};

/* HY_ENOTFOUND: no bucket. */
int objstore_mpu_create(struct objstore *os, const char *bucket, const char *key,
                        const struct objstore_attrs *attrs,
                        char upload_id_out[OBJSTORE_UPLOAD_ID_LEN + 1]);
/* Stores part `number` (1..10000) from a finished file, as
 * objstore_put_file does; replaces an earlier part of that number. */
int objstore_mpu_put_part(struct objstore *os, const char *bucket, const char *key,
                          const char *upload_id, int number, const char *path,
                          uint64_t size, const unsigned char md5[16],
                          char etag_out[40], int64_t *last_modified_out);
/* UploadPartCopy: bytes [first, first+len) of src (len UINT64_MAX = to the
 * end). HY_EINVAL when the range is outside the object; HY_ENOTFOUND with
 * *src_missing set when the source is missing. */
int objstore_mpu_copy_part(struct objstore *os, const char *bucket, const char *key,
                           const char *upload_id, int number, const char *src_bucket,
                           const char *src_key, uint64_t first, uint64_t len,
                           bool *src_missing, char etag_out[40],
                           int64_t *last_modified_out);
/* Completes the upload from refs (ascending part numbers, checked by the
 * caller). HY_EINVAL: a part missing or its ETag differs (*bad_index says
 * which ref); HY_ELIMIT: a part before the last is under OBJSTORE_MIN_PART
 * (*bad_index again). */
int objstore_mpu_complete(struct objstore *os, const char *bucket, const char *key,
                          const char *upload_id,
                          const struct objstore_part_ref *refs, int nrefs,
                          int *bad_index, char etag_out[OBJSTORE_ETAG_MAX],
                          int64_t *last_modified_out);
int objstore_mpu_abort(struct objstore *os, const char *bucket, const char *key,
                       const char *upload_id);
/* Parts with number > after, in order, until fn returns nonzero. The
 * store's lock is held during fn: fn must not call the store. */
typedef int (*objstore_part_fn)(void *ctx, const struct objstore_part *part);
int objstore_mpu_list_parts(struct objstore *os, const char *bucket, const char *key,
                            const char *upload_id, int after,
                            objstore_part_fn fn, void *ctx);
/* Uploads of bucket whose key starts with prefix, ordered by key then by
 * initiation, strictly after (key_marker, upload_id_marker) (either may be
 * NULL), until fn returns nonzero. HY_ENOTFOUND: no bucket. */
typedef int (*objstore_upload_fn)(void *ctx, const struct objstore_upload *up);
int objstore_mpu_list(struct objstore *os, const char *bucket, const char *prefix,
                      const char *key_marker, const char *upload_id_marker,
                      objstore_upload_fn fn, void *ctx);

#endif
