/* wal.h -- the write-ahead log: every accepted record is in a segment file
 * and fsynced before its put is acknowledged. Owned by wal.c; the format
 * is documented at the top of wal.c and in docs/WAL.md. */
#ifndef HYDRANT_WAL_H
#define HYDRANT_WAL_H

#include "server.h"

#include <sys/types.h>

enum wal_type {
    WAL_RECORD = 1,    /* a producer's record: payload = its bytes */
    WAL_SEAL = 2,      /* a buffer about to be delivered: payload = range */
    WAL_DELIVERED = 3, /* that buffer is in S3: payload = range */
};

/* Byte sizes of the current format (HYDRWAL3, wal.c's header comment):
 * a segment header, and a frame header (it ends with the segment's salt).
 * Segments of the older formats (HYDRWAL1, HYDRWAL2) have a 16-byte
 * segment header and 32-byte frame headers without a salt. */
#define WAL_SEGMENT_HEADER 32
#define WAL_FRAME_HEADER 40
#define WAL_SEGMENT_HEADER_OLD 16
#define WAL_FRAME_HEADER_OLD 32
#define WAL_SALT_BYTES 8
#define WAL_MAX_PAYLOAD (16u << 20) /* sanity bound when reading */

struct wal_frame {
    uint8_t type;
    uint32_t stream_id;
    uint64_t lsn;        /* assigned by wal_append */
    int64_t arrival_ms;  /* wall clock */
    const void *data;
    uint32_t len;
};

/* Payload of WAL_SEAL and WAL_DELIVERED: the records [first, last] of one
 * stream that make one object. A SEAL also names where that object goes
 * (bucket and key), so recovery rewrites exactly the same object. */
struct wal_range {
    uint64_t first_lsn, last_lsn;
};
void wal_range_encode(unsigned char out[16], const struct wal_range *r);
/* Reads the range at the start of a SEAL or DELIVERED payload. */
int wal_range_decode(const struct wal_frame *f, struct wal_range *r);

#define WAL_SEAL_MAX (16 + 2 + 63 + 2 + 1024)
/* SEAL payload: range, u16 bucket length, bucket, u16 key length, key.
 * Returns the payload length written to out (at least WAL_SEAL_MAX bytes). */
size_t wal_seal_encode(unsigned char *out, const struct wal_range *r,
                       const char *bucket, const char *key);
/* Decodes a SEAL; bucket (64) and key (1025) receive NUL-terminated copies. */
int wal_seal_decode(const struct wal_frame *f, struct wal_range *r, char bucket[64],
                    char key[1025]);

struct wal_config {
    const char *dir;          /* segment directory, created if missing */
    size_t segment_bytes;     /* rotate past this (default 64 MiB) */
    bool fsync;               /* false: --durability=os, no fdatasync */
};

struct wal;

/* Called on the writer thread once the frames of one wal_append are
 * durable (rc HY_OK) or could not be made durable (rc HY_ENOSPC / HY_EIO:
 * they must not be acknowledged; they were cut off the log, though after
 * a crash at that moment they may still replay). frames point into the
 * writer's buffer and are valid only during the call. */
typedef void (*wal_done_fn)(void *arg, int rc, const struct wal_frame *frames,
                            size_t n);

/* Called once per valid frame, in log order, by wal_replay. */
typedef void (*wal_replay_fn)(void *ctx, const struct wal_frame *f);

struct wal_replay_stats {
    uint64_t segments, frames, bytes;
    uint64_t torn_bytes;       /* truncated from the tail of the last segment */
    uint64_t corrupt_regions;  /* bad regions skipped in the middle */
    uint64_t corrupt_bytes;
};

int wal_open(const struct wal_config *cfg, struct wal **out);
/* Reads every segment in order, calling fn for each valid frame; truncates
 * a torn tail, reports (logs) and skips corrupt regions. Call once, before
 * wal_start. */
int wal_replay(struct wal *w, wal_replay_fn fn, void *ctx,
               struct wal_replay_stats *st);
/* Starts the writer thread on a new segment. */
int wal_start(struct wal *w);

/* Appends n frames as one unit (their lsn fields are filled in, in order)
 * and returns at once; done(arg, ...) runs on the writer thread after the
 * group commit. Thread-safe. HY_ESTATE after wal_close began; HY_EIO
 * once the log has stopped (an fsync failed and no new segment could be
 * made: wal_stats.failed). */
int wal_append(struct wal *w, struct wal_frame *frames, size_t n, wal_done_fn done,
               void *arg);

/* Appends and waits for the commit; returns its rc. Not on the writer thread. */
int wal_append_sync(struct wal *w, struct wal_frame *frames, size_t n);

/* Deletes closed segments whose frames all have lsn < low_water. */
void wal_release(struct wal *w, uint64_t low_water);

/* The lowest LSN whose done callback may not have run yet: every frame
 * below it has been handed to its appender. Read it BEFORE looking at the
 * buffers that the callbacks fill, then release below
 * min(this, lowest LSN still buffered or undelivered). */
uint64_t wal_safe_lsn(struct wal *w);

/* Waits until everything appended before the call is written and its
 * callbacks have run. */
int wal_flush(struct wal *w);

/* The process-wide log main.c opens (NULL in tools and unit tests that do
 * not open one). */
extern struct wal *hy_wal;

struct wal_stats {
    uint64_t commits, frames, bytes, fsyncs, write_errors;
    uint64_t fsync_errors;  /* of them, failed fdatasyncs (each gave a segment up) */
    uint64_t next_lsn;
    size_t segments;
    bool failed;            /* no segment after a failed fsync: puts refused */
};
void wal_get_stats(struct wal *w, struct wal_stats *st);

/* Writes out everything appended, stops the writer, closes. NULL ok.
 * HY_OK, or the error of closing the segment (logged). */
int wal_close(struct wal *w);

/* What wal_scan_file learnt of a segment file. */
struct wal_scan_info {
    int version;        /* 1, 2 or 3 (HYDRWALn); 0: not a segment */
    uint64_t seq;       /* from the segment header */
    uint64_t salt;      /* version 3: the salt every frame must carry */
    uint64_t valid_end; /* end of the last valid frame */
};

/* Reads one segment file and calls fn per valid frame, with no repair:
 * for tools/wal-dump. bad_fn (may be NULL) is told of each bad region.
 * info may be NULL. HY_EINVAL when the file is not a segment. */
typedef void (*wal_bad_fn)(void *ctx, uint64_t offset, uint64_t len, const char *why);
int wal_scan_file(const char *path, wal_replay_fn fn, wal_bad_fn bad_fn, void *ctx,
                  struct wal_scan_info *info);

/* The WAL's file system calls, as one table: the seed of the fault
 * injection layer design.md plans (SQLite's test VFS, curl's torture
 * mode). A NULL member is the real call, and the server sets none, so
 * production pays one well-predicted branch per call. Tests set members
 * before wal_open (never while a log is open) to make, say, the Nth
 * fdatasync fail with EIO; a member behaves as the call it replaces
 * (-1 and errno on failure). Recovery's reads (mmap, read) are not in it.
 * Member names follow SQLite's VFS (xOpen...), so that none is taken for
 * a libc macro. */
struct wal_io {
    int (*xopen)(const char *path, int flags, mode_t mode);
    ssize_t (*xpwrite)(int fd, const void *buf, size_t len, off_t at);
    int (*xfdatasync)(int fd);  /* segment data, after each group */
    int (*xfsync)(int fd);      /* directories, truncated segments */
    int (*xftruncate)(int fd, off_t len);
    int (*xunlink)(const char *path);
    int (*xclose)(int fd);
};
extern struct wal_io wal_io;

/* ---- added by the stuck-stream work (issue 12) ---------------------------
 * Reads one segment (mapped) and calls fn per valid frame, with no repair
 * and no reports: recovery's second pass in stream.c, after wal_replay
 * has repaired and reported. HY_EIO (cannot read), HY_EINVAL (not a
 * segment). */
int wal_scan_segment(const char *path, wal_replay_fn fn, void *ctx);

#endif
