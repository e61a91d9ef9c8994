/* objstore.c -- PLACEHOLDER until the S3 helper lands it. */
#include "objstore.h"
struct objstore *hy_store;
int objstore_open(const char *dir, struct objstore **out) { (void)dir; *out = NULL; return HY_OK; }
void objstore_close(struct objstore *os) { (void)os; }
int objstore_put(struct objstore *os, const char *bucket, const char *key,
                 const void *data, size_t len, const char *content_type, char etag_out[40])
{ (void)os; (void)bucket; (void)key; (void)data; (void)len; (void)content_type; (void)etag_out; return HY_ENOTFOUND; }
int objstore_bucket_exists(struct objstore *os, const char *bucket) { (void)os; (void)bucket; return HY_ENOTFOUND; }
