/* compress.h -- compression of delivered buffers (gzip, zip, snappy).
 * Owned by compress.c. */
#ifndef HYDRANT_COMPRESS_H
#define HYDRANT_COMPRESS_H

#include "server.h"

/* Compresses n bytes of in with the stream's format (enum compression in
 * stream.h) into out (appended). entry_name is the file name inside a ZIP
 * archive. COMP_UNCOMPRESSED copies. */
int compress_buffer(int compression, const void *in, size_t n,
                    const char *entry_name, struct buf *out);

/* enum compression of an AWS CompressionFormat name ("GZIP", "ZIP",
 * "Snappy", "HADOOP_SNAPPY"); anything else, NULL included, is
 * COMP_UNCOMPRESSED. The one mapping of the names. */
int compress_format(const char *name);

/* gzip only, for callers that know what they want. */
int compress_gzip(const void *in, size_t n, struct buf *out);

#endif
