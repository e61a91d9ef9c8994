/* client.h -- private declarations shared by the files of libhydrant.
 *
 * Not installed, not part of the API: the names carry the `hydrant__`
 * prefix (two underscores) so they cannot collide with a program that
 * links libhydrant.a. Prototypes are grouped under the file that owns them.
 */
#ifndef HYDRANT_CLIENT_H
#define HYDRANT_CLIENT_H

#include "hydrant.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One record, owned by whichever list holds it. */
struct hydrant__rec {
    struct hydrant__rec *next;
    uint32_t len;
    unsigned char data[];
};

struct hydrant__rec *hydrant__rec_new(const void *data, size_t len); /* NULL: ENOMEM */

/* ---- wire.c: request bodies and response parsing (pure, no I/O) -------- */

/* What the service said about one record of a batch. */
struct hydrant__rec_result {
    bool failed;
    char code[64];     /* ErrorCode, "" when accepted */
    char message[256]; /* ErrorMessage */
};

/* Builds the PutRecordBatch body for n records. *body is malloc'd (caller
 * frees), NUL-terminated, *len bytes. HYDRANT_OK or HYDRANT_ENOMEM. */
int hydrant__wire_batch_body(const char *stream, struct hydrant__rec *const *recs, size_t n,
                             char **body, size_t *len);

/* Parses a PutRecordBatch answer (HTTP 200) for a batch of n records into
 * results[0..n-1]; *failed is the number of failed entries. HYDRANT_EINVAL
 * when the body is not such an answer (or has a different count). */
int hydrant__wire_parse_batch(const char *body, size_t len, size_t n,
                              struct hydrant__rec_result *results, size_t *failed);

/* Extracts __type (without any "namespace#" part) and message from an
 * error answer; empty strings when absent. */
void hydrant__wire_parse_error(const char *body, size_t len, char *type, size_t type_cap,
                               char *message, size_t message_cap);

/* true when a record or request failing with this AWS error code is worth
 * sending again (throttling, service faults, credentials); false for
 * errors about the request itself (validation, missing stream). */
bool hydrant__wire_retryable(const char *code);

/* Lowercase hex SHA-256 of data into out[65]. */
void hydrant__wire_sha256_hex(const void *data, size_t len, char out[65]);

/* ---- transport.c: one libcurl handle, SigV4-signed POSTs ---------------- */

struct hydrant__transport;

struct hydrant__response {
    long status;           /* HTTP status, 0 when no answer arrived */
    char *body;            /* malloc'd, NUL-terminated; caller frees */
    size_t body_len;
    char error_type[64];   /* x-amzn-ErrorType header, "" if none */
    char error[256];       /* transport error text when status == 0 */
};

int hydrant__transport_new(const struct hydrant_config *cfg, const int *abort_flag,
                           struct hydrant__transport **out);
void hydrant__transport_free(struct hydrant__transport *t);
/* POSTs a Firehose JSON 1.1 request (target e.g. "PutRecordBatch").
 * Returns HYDRANT_OK when an HTTP answer arrived (any status),
 * HYDRANT_ETIMEDOUT-style network failures as HYDRANT_EIO with res->error
 * set, HYDRANT_ENOMEM. res is filled either way; free res->body. */
int hydrant__transport_post(struct hydrant__transport *t, const char *target, const char *body,
                            size_t len, struct hydrant__response *res);

/* ---- spool.c: the on-disk store-and-forward queue of one stream --------- */

struct hydrant__spool;

struct hydrant__spool_pos {
    uint64_t seq; /* segment */
    uint64_t off; /* byte offset in it */
};

/* Opens (creating nothing yet) the spool of one stream under dir,
 * recovering what an earlier producer left. */
int hydrant__spool_open(const char *dir, const char *stream, struct hydrant__spool **out);
void hydrant__spool_free(struct hydrant__spool *sp);
/* Stream names that have a spool under dir: calls fn for each. */
int hydrant__spool_list(const char *dir, void (*fn)(const char *stream, void *ctx), void *ctx);
bool hydrant__spool_empty(const struct hydrant__spool *sp);
uint64_t hydrant__spool_bytes(const struct hydrant__spool *sp);
uint64_t hydrant__spool_frame_bytes(size_t len); /* disk cost of a record */
/* Appends records at the tail, in order. */
int hydrant__spool_append(struct hydrant__spool *sp, struct hydrant__rec *const *recs, size_t n);
/* Puts records before everything in the spool (they are older). */
int hydrant__spool_prepend(struct hydrant__spool *sp, struct hydrant__rec *const *recs, size_t n);
/* Reads up to max_records / max_bytes from the head without consuming
 * them; recs[] get new records (caller frees), *end is where they stop. */
int hydrant__spool_read(struct hydrant__spool *sp, size_t max_records, size_t max_bytes,
                        struct hydrant__rec **recs, size_t *n, struct hydrant__spool_pos *end);
/* Consumes everything before pos. When the spool is then empty its files
 * are removed. */
int hydrant__spool_commit(struct hydrant__spool *sp, struct hydrant__spool_pos pos);
/* fdatasync of the tail segment if it was written since the last call. */
int hydrant__spool_sync(struct hydrant__spool *sp);

#endif /* HYDRANT_CLIENT_H */
