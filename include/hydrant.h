/* hydrant.h -- libhydrant, a small producer library for Firehose endpoints.
 *
 * Purpose: let a device that runs C (an OBD2 reader in a vehicle, a log
 * shipper) put records into Firehose delivery streams -- hydrant or real
 * AWS -- without losing them when the network goes away and without
 * flooding the service when it comes back.
 *
 * Model:
 *   hydrant_put() copies a record into an in-memory queue and returns; a
 *   background thread batches the queue into PutRecordBatch requests
 *   (at most 500 records, 4 MiB, or the linger time, whichever comes
 *   first), signs them with SigV4 and sends them. Records that fail
 *   (FailedPutCount > 0, ServiceUnavailableException, network errors) are
 *   resent with exponential backoff and jitter, in order within a stream.
 *   When the endpoint is unreachable, or memory is full, records spill to
 *   an on-disk spool (if configured) and drain from it, oldest first, when
 *   the endpoint answers again; a new producer on the same spool directory
 *   resends what a previous one left behind.
 *
 * Ownership: every pointer argument is borrowed for the duration of the
 * call; the library keeps copies of what it needs.
 *
 * Threading: hydrant_put, hydrant_flush and hydrant_stats may be called
 * from any number of threads at once. hydrant_close (or
 * hydrant_producer_free) must be the last call on a producer and must not
 * race with other calls on it.
 *
 * Reference: docs/LIBHYDRANT.md, one section per function.
 */
#ifndef HYDRANT_H
#define HYDRANT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HYDRANT_VERSION "0.1.0"

/* Firehose's limits (AWS API reference) */
#define HYDRANT_MAX_RECORD_BYTES 1024000u         /* one record, before base64 */
#define HYDRANT_MAX_BATCH_RECORDS 500u            /* PutRecordBatch */
#define HYDRANT_MAX_BATCH_BYTES (4u * 1024 * 1024) /* PutRecordBatch */
#define HYDRANT_MAX_STREAM_NAME 64u

/* Result codes: 0 is success, errors are negative. */
enum hydrant_result {
    HYDRANT_OK = 0,
    HYDRANT_EINVAL = -1,    /* bad argument or configuration */
    HYDRANT_ENOMEM = -2,    /* out of memory */
    HYDRANT_ETOOBIG = -3,   /* record longer than HYDRANT_MAX_RECORD_BYTES */
    HYDRANT_EFULL = -4,     /* memory queue full and no room in the spool */
    HYDRANT_ETIMEDOUT = -5, /* records still unacknowledged at the deadline */
    HYDRANT_EIO = -6,       /* the spool could not be read or written */
    HYDRANT_ECURL = -7,     /* libcurl could not be initialised */
    HYDRANT_ELOST = -8,     /* close: records dropped (no spool to keep them) */
    HYDRANT_ECLOSED = -9,   /* the producer is closing */
};

/* Settings for hydrant_producer_new. Fill with hydrant_config_init, then
 * change what you need; zero means "the default" for every number. */
struct hydrant_config {
    const char *endpoint;          /* "http://127.0.0.1:4566"; NULL: AWS,
                                      https://firehose.<region>.amazonaws.com */
    const char *region;            /* SigV4 region; default "us-east-1" */
    const char *access_key_id;     /* required */
    const char *secret_access_key; /* required */
    const char *session_token;     /* optional (temporary credentials) */

    unsigned max_batch_records;    /* 1..500; default 500 */
    size_t max_batch_bytes;        /* 1..4 MiB of record bytes; default 4 MiB */
    unsigned linger_ms;            /* longest a record waits for company;
                                      default 200 */
    size_t max_memory_bytes;       /* ceiling of queued + in-flight record
                                      bytes; default 16 MiB */
    unsigned max_streams;          /* distinct stream names; default 64 */

    const char *spool_dir;         /* on-disk spool; NULL: none */
    uint64_t spool_max_bytes;      /* spool ceiling; default 256 MiB */

    unsigned backoff_base_ms;      /* first retry delay; default 100 */
    unsigned backoff_max_ms;       /* delay ceiling; default 20000 */
    unsigned connect_timeout_ms;   /* default 3000 */
    unsigned request_timeout_ms;   /* whole request; default 15000 */

    /* Called on the sender thread for each record the service rejected
     * for good (ValidationException, ResourceNotFoundException, ...);
     * such records are not retried. May be NULL. Must not call back into
     * the producer. */
    void (*on_drop)(const char *stream, const void *data, size_t len, const char *error_code,
                    const char *error_message, void *ctx);
    void *on_drop_ctx;
};

/* Counters since hydrant_producer_new; a consistent snapshot. */
struct hydrant_stats {
    uint64_t put;          /* records accepted by hydrant_put */
    uint64_t sent;         /* records sent, counting every attempt */
    uint64_t acked;        /* records the service acknowledged */
    uint64_t retried;      /* records sent again after a failure */
    uint64_t spooled;      /* records written to the spool */
    uint64_t dropped;      /* records rejected for good (see on_drop) */
    uint64_t requests;     /* PutRecordBatch requests made */
    uint64_t failed_requests; /* of those, not answered with HTTP 200 */
    uint64_t queued;       /* records in memory now, queued or in flight */
    uint64_t queued_bytes; /* their bytes */
    uint64_t spool_bytes;  /* bytes in the spool now */
    char last_error[160];  /* the latest failure, "" if none */
};

typedef struct hydrant_producer hydrant_producer;

/* Fills *cfg with the defaults (all zero but endpoint/region NULL). */
void hydrant_config_init(struct hydrant_config *cfg);

/* Creates a producer and starts its sender thread. With a spool_dir,
 * records left in the spool by an earlier producer are queued for
 * sending first. On success *out is the producer (free it with
 * hydrant_close or hydrant_producer_free); on error *out is NULL. */
int hydrant_producer_new(const struct hydrant_config *cfg, hydrant_producer **out);

/* Queues one record (len bytes, 1..HYDRANT_MAX_RECORD_BYTES) for the
 * stream; copies it; never waits on the network. Records of one stream
 * reach it in the order of hydrant_put calls. Returns HYDRANT_OK,
 * HYDRANT_EINVAL, HYDRANT_ETOOBIG, HYDRANT_EFULL, HYDRANT_ENOMEM,
 * HYDRANT_EIO or HYDRANT_ECLOSED; on error the record was not taken. */
int hydrant_put(hydrant_producer *p, const char *stream, const void *data, size_t len);

/* Sends everything queued or spooled now, without waiting for the linger
 * time, and waits until all of it is acknowledged (or dropped), at most
 * timeout_ms. HYDRANT_OK or HYDRANT_ETIMEDOUT. */
int hydrant_flush(hydrant_producer *p, unsigned timeout_ms);

/* Copies the counters into *st. */
void hydrant_stats(hydrant_producer *p, struct hydrant_stats *st);

/* Flushes for at most timeout_ms, stops the sender thread, writes what is
 * still unacknowledged to the spool (if there is one) and frees the
 * producer. NULL is a no-op that returns HYDRANT_OK. Returns HYDRANT_OK
 * when everything was acknowledged, HYDRANT_ETIMEDOUT when records were
 * kept in the spool for the next producer, HYDRANT_ELOST when records
 * had to be dropped (no spool, or the spool failed). */
int hydrant_close(hydrant_producer *p, unsigned timeout_ms);

/* hydrant_close(p, 0): free without waiting. Accepts NULL. */
void hydrant_producer_free(hydrant_producer *p);

/* A static English description of a result code. */
const char *hydrant_strerror(int rc);

#ifdef __cplusplus
}
#endif

#endif /* HYDRANT_H */
