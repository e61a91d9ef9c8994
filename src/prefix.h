/* prefix.h -- S3 object key naming for delivered buffers: evaluation of
 * Prefix / ErrorOutputPrefix expressions (`!{timestamp:...}`,
 * `!{firehose:...}`) and AWS's object name format. Owned by prefix.c. */
#ifndef HYDRANT_PREFIX_H
#define HYDRANT_PREFIX_H

#include "server.h"
#include "stream.h"

#define PREFIX_MAX_EVALUATED 512 /* AWS: evaluated prefix at most 512 chars */

/* Appends the evaluated prefix to out. Timestamps use ts_ms (UTC); a prefix
 * with no timestamp expression gets `yyyy/MM/dd/HH/` appended by plain
 * concatenation, as AWS does. error_type is the value of
 * !{firehose:error-output-type} (NULL outside ErrorOutputPrefix).
 * HY_EINVAL with a message in err (when err_len > 0) for a bad expression. */
int prefix_eval(const char *prefix, int64_t ts_ms, const char *error_type,
                struct buf *out, char *err, size_t err_len);

/* Checks a Prefix / ErrorOutputPrefix the way CreateDeliveryStream does:
 * every expression well formed and allowed where it stands. HY_OK, or
 * HY_EINVAL with an AWS-style message in err. */
int prefix_validate(const char *prefix, bool is_error_prefix, char *err,
                    size_t err_len);

/* The full object key of a buffer:
 *   <evaluated prefix><stream>-<version>-yyyy-MM-dd-HH-mm-ss-<id><ext>
 * ts_ms is the oldest record's arrival time; id is a uuid-like string;
 * ext is FileExtension or the compression's (.gz, .zip, .snappy). */
int prefix_object_key(const struct stream_dest *d, int64_t ts_ms, const char *id,
                      struct buf *out);

/* The default file extension of a compression format ("" for none). */
const char *prefix_compression_ext(int compression);

#endif
