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

/* The shared library exports these names only (built with
 * -fvisibility=hidden). */
#if defined(HYDRANT_BUILDING_SO) && defined(__GNUC__)
#define HYDRANT_API __attribute__((visibility("default")))
#else
#define HYDRANT_API
#endif

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
    HYDRANT_EDROPPED = -10, /* flush/close: records were rejected for good
                               by the service (see on_drop); *dropped says
                               how many */
};

/* How a spooled record is made durable (hydrant_config.spool_sync); only
 * with a spool_dir. Costs: docs/LIBHYDRANT.md, "Spool durability". */
enum hydrant_spool_sync {
    HYDRANT_SYNC_PUT = 0,  /* default: every record goes to the spool and is
                              fdatasynced before hydrant_put (or
                              hydrant_put_batch) returns: a record whose
                              put returned HYDRANT_OK survives kill -9 and
                              power loss (a vehicle's ignition off) */
    HYDRANT_SYNC_INTERVAL, /* to the spool at put, fdatasynced every
                              spool_sync_ms: survives kill -9; power loss
                              can take the last spool_sync_ms of puts */
    HYDRANT_SYNC_IDLE,     /* records stay in memory and are spooled only
                              when the endpoint is away or memory is full;
                              fdatasync when the sender goes idle and at
                              close (fastest; a crash loses what was in
                              memory) */
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
    int spool_sync;                /* enum hydrant_spool_sync; default
                                      HYDRANT_SYNC_PUT */
    unsigned spool_sync_ms;        /* HYDRANT_SYNC_INTERVAL's period;
                                      default 1000 */

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
    char last_error[512];  /* the latest failure, whole, "" if none */
};

typedef struct hydrant_producer hydrant_producer;

/* Fills *cfg with the defaults (all zero but endpoint/region NULL). */
HYDRANT_API void hydrant_config_init(struct hydrant_config *cfg);

/* Creates a producer and starts its sender thread. With a spool_dir,
 * records left in the spool by an earlier producer are queued for
 * sending first. On success *out is the producer (free it with
 * hydrant_close or hydrant_producer_free); on error *out is NULL. */
HYDRANT_API int hydrant_producer_new(const struct hydrant_config *cfg, hydrant_producer **out);

/* Queues one record (len bytes, 1..HYDRANT_MAX_RECORD_BYTES) for the
 * stream; copies it; never waits on the network. Records of one stream
 * reach it in the order of hydrant_put calls. Returns HYDRANT_OK,
 * HYDRANT_EINVAL, HYDRANT_ETOOBIG, HYDRANT_EFULL, HYDRANT_ENOMEM,
 * HYDRANT_EIO or HYDRANT_ECLOSED; on error the record was not taken. */
HYDRANT_API int hydrant_put(hydrant_producer *p, const char *stream, const void *data, size_t len);

/* Queues n records (data[i], lens[i] bytes) for the stream, in order, as
 * n hydrant_put calls would, with one spool fdatasync for all of them
 * under HYDRANT_SYNC_PUT. *taken (may be NULL) is how many were taken,
 * from the first; the result is that of the first one refused, or
 * HYDRANT_OK for all. */
HYDRANT_API int hydrant_put_batch(hydrant_producer *p, const char *stream, const void *const *data,
                      const size_t *lens, size_t n, size_t *taken);

/* Sends everything queued or spooled now, without waiting for the linger
 * time, and waits until all of it is acknowledged (or dropped), at most
 * timeout_ms. *dropped (may be NULL) gets the number of records rejected
 * for good since the previous hydrant_flush returned (or since the
 * producer was made). HYDRANT_ETIMEDOUT when records are still
 * unacknowledged, else HYDRANT_EDROPPED when *dropped > 0, else
 * HYDRANT_OK. */
HYDRANT_API int hydrant_flush(hydrant_producer *p, unsigned timeout_ms, uint64_t *dropped);

/* Copies the counters into *st. */
HYDRANT_API void hydrant_stats(hydrant_producer *p, struct hydrant_stats *st);

/* Flushes for at most timeout_ms, stops the sender thread, writes what is
 * still unacknowledged to the spool (if there is one) and frees the
 * producer. NULL is a no-op that returns HYDRANT_OK. *dropped (may be
 * NULL) gets the number of records that will never be delivered: those
 * rejected for good since the last hydrant_flush returned, plus those
 * lost at close. Returns HYDRANT_ELOST when records had to be lost at
 * close (no spool, or the spool failed), else HYDRANT_ETIMEDOUT when
 * records were kept in the spool for the next producer, else
 * HYDRANT_EDROPPED when records were rejected, else HYDRANT_OK. */
HYDRANT_API int hydrant_close(hydrant_producer *p, unsigned timeout_ms, uint64_t *dropped);

/* hydrant_close(p, 0, NULL): free without waiting. Accepts NULL. */
HYDRANT_API void hydrant_producer_free(hydrant_producer *p);

/* A static English description of a result code. */
HYDRANT_API const char *hydrant_strerror(int rc);

#ifdef __cplusplus
}
#endif

#endif /* HYDRANT_H */
