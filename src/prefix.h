/* prefix.h -- S3 object key naming for delivered buffers: evaluation of
 * Prefix / ErrorOutputPrefix expressions (`!{timestamp:...}`,
 * `!{firehose:...}`), the one validator of them (the same parser), and
 * AWS's object name format. Owned by prefix.c. */
#ifndef HYDRANT_PREFIX_H
#define HYDRANT_PREFIX_H

#include "server.h"
#include "stream.h"

#define PREFIX_MAX_EVALUATED 512 /* AWS: evaluated prefix at most 512 chars */
#define PREFIX_SEED_LEN 32       /* bytes of an object's seed (random-string) */
#define PREFIX_KEY_NAME_MAX 256  /* a partition key's name */

struct tz;
/* What an evaluation may depend on beyond the instant (NULL: UTC, no
 * partition keys, random random-strings):
 * - tz / tz_name: CustomTimeZone; timestamps and the object name's time
 *   are in that zone's local time, the zone letters print its offset;
 * - dynamic: partitionKeyFromQuery / partitionKeyFromLambda allowed
 *   (dynamic partitioning on); key() gives a key's value for the object
 *   being named (NULL key(): validation, a one-character stand-in);
 * - seed: !{firehose:random-string} is derived from it (the n-th one in a
 *   prefix from seed and n), so that the same object is always named
 *   the same, also after a crash. */
struct prefix_env {
    const struct tz *tz;
    const char *tz_name;
    bool dynamic;
    const char *(*key)(void *arg, bool from_lambda, const char *name, size_t *len);
    void *key_arg;
    const unsigned char *seed; /* PREFIX_SEED_LEN bytes */
};

/* Appends the evaluated prefix to out. Timestamps use ts_ms (UTC); a prefix
 * with no timestamp expression gets `yyyy/MM/dd/HH/` appended by plain
 * concatenation, as AWS does. error_type is the value of
 * !{firehose:error-output-type} (NULL outside ErrorOutputPrefix).
 * HY_EINVAL with a message in err (when err_len > 0) for a bad expression,
 * HY_ETOOBIG when the evaluation is longer than 512 characters. */
int prefix_eval(const char *prefix, int64_t ts_ms, const char *error_type,
                struct buf *out, char *err, size_t err_len);
/* The same in an environment; HY_ENOTFOUND (with err) when a partition
 * key the prefix names is not among the object's keys. */
int prefix_eval_env(const char *prefix, int64_t ts_ms, const char *error_type,
                    const struct prefix_env *env, struct buf *out, char *err, size_t err_len);

/* The one validator (the same parser as prefix_eval: it evaluates the
 * prefix at probe instants where every field is widest). HY_OK and *b
 * filled, or HY_EINVAL with an AWS-style message in err: an expression
 * that is malformed, in an unknown namespace, not allowed where it stands
 * (error-output-type outside ErrorOutputPrefix, partitionKeyFrom*), a
 * pattern Java's DateTimeFormatter refuses, or an evaluation longer than
 * 512 characters. */
struct prefix_bounds {
    size_t max_chars;        /* longest evaluation, UTF-16 units */
    size_t max_bytes;        /* longest evaluation, UTF-8 bytes */
    bool has_expr;           /* any !{...} */
    bool has_timestamp;      /* a !{timestamp:...} */
    bool has_error_type;     /* a !{firehose:error-output-type} */
    bool has_partition_key;  /* a !{partitionKeyFrom...:...} */
};
int prefix_check(const char *prefix, bool is_error_prefix, struct prefix_bounds *b,
                 char *err, size_t err_len);
int prefix_check_env(const char *prefix, bool is_error_prefix, const struct prefix_env *env,
                     struct prefix_bounds *b, char *err, size_t err_len);

/* A destination's naming, checked whole: both prefixes (prefix_check),
 * AWS's rules between them (ErrorOutputPrefix required when Prefix has
 * expressions; with expressions it must hold !{firehose:error-output-type})
 * and a dry run of the key: the longest evaluation plus
 * "<stream>-<10-digit version>-yyyy-MM-dd-HH-mm-ss-<36-char id><ext>" must
 * fit S3's 1024 bytes. ext is the object's extension (FileExtension or the
 * compression's). Used by CreateDeliveryStream and UpdateDestination.
 * HY_OK or HY_EINVAL with the message in err. */
int prefix_check_config(const char *stream, const char *prefix, const char *error_prefix,
                        const char *ext, char *err, size_t err_len);
int prefix_check_config_env(const char *stream, const char *prefix, const char *error_prefix,
                            const char *ext, const struct prefix_env *env, char *err,
                            size_t err_len);

/* The same check on a parsed destination, for recovery (stream.c): a
 * stream stored by an older hydrant may hold a prefix that can never be
 * evaluated. */
int prefix_check_dest(const struct stream_dest *d, char *err, size_t err_len);

/* The full object key of a buffer:
 *   <evaluated prefix><stream>-<version>-yyyy-MM-dd-HH-mm-ss-<id><ext>
 * ts_ms is the oldest record's arrival time; id is a uuid-like string;
 * ext is FileExtension or the compression's (.gz, .zip, .snappy). */
int prefix_object_key(const struct stream_dest *d, int64_t ts_ms, const char *id,
                      struct buf *out);
/* The same with another prefix (ErrorOutputPrefix with error_type, a
 * backup prefix) in an environment; err as prefix_eval_env. */
int prefix_object_key_env(const struct stream_dest *d, const char *prefix,
                          const char *error_type, int64_t ts_ms, const char *id,
                          const struct prefix_env *env, struct buf *out, char *err,
                          size_t err_len);

/* Java's String.length() of UTF-8 text (UTF-16 code units): how AWS
 * counts the characters of its length limits. One copy, used by
 * firehose.c's model constraints too. */
size_t prefix_java_length(const char *s, size_t n);

/* The default file extension of a compression format ("" for none). */
const char *prefix_compression_ext(int compression);

#endif
