/* wal.c -- the write-ahead log, its group commit and its recovery scan.
 *
 * Every record a producer puts is framed into the log and made durable
 * (write + fdatasync) before the put is acknowledged. Appenders never touch
 * the disk: they encode their frames into the pending batch under a mutex
 * and return; one writer thread swaps the pending batch out, writes it with
 * one pwrite and one fdatasync, and then calls each appender's done
 * callback. One fsync thus covers every request that arrived while the
 * previous one ran (group commit), so the fsync rate does not cap the
 * request rate. Appenders also compute each frame's CRC, with the salt of
 * the segment being written (below); when the writer starts a new
 * segment, it stamps the group it is about to write again with the new
 * salt (batch_restamp: once per segment, off the common path).
 *
 * On-disk format (all integers little-endian)
 * -------------------------------------------
 * The log is a directory of segment files named by a 16-digit lowercase
 * hex sequence number, "0000000000000001.wal", "...2.wal", ... in order.
 * A segment written now (HYDRWAL3) starts with a 32-byte header:
 *
 *   offset size  field
 *   0      8     magic "HYDRWAL3"
 *   8      8     segment sequence number (same as the file name)
 *   16     8     salt: 8 random bytes (hy_random), new for every segment
 *   24     4     CRC-32C of bytes 0 .. 23
 *   28     4     zero
 *
 * followed by frames, back to back, no padding:
 *
 *   offset size  field
 *   0      4     CRC-32C (Castagnoli; util.c's hy_crc32c) of bytes
 *                 4 .. 40+len-1: the rest of the header, salt included,
 *                 and the payload
 *   4      4     len: payload length in bytes (at most 16 MiB)
 *   8      1     type: 1 RECORD, 2 SEAL, 3 DELIVERED
 *   9      3     zero
 *   12     4     stream id (streams.db's numeric id of the stream)
 *   16     8     LSN: log sequence number, +1 per frame, never reused
 *   24     8     arrival time, ms since the epoch (UTC wall clock)
 *   32     8     salt: the segment header's, byte for byte
 *   40     len   payload
 *
 * Why the salt: RECORD payloads are bytes a producer chose, and they may
 * hold a complete, well-checksummed frame. After a torn or corrupt region
 * the scan resyncs at the next offset where a valid frame starts, which
 * may be inside a payload; without a salt it would take a frame a client
 * wrote for a real SEAL (an object under a key the client names),
 * DELIVERED (records dropped) or RECORD. A frame is valid here only when
 * it carries its segment's salt, which no client can know: it is drawn
 * at the segment's creation, never leaves the data directory and is not
 * in any answer or object, so a frame embedded in record data is accepted
 * with probability 2^-64. The CRC covers the salt, so a frame whose salt
 * bytes were damaged is rejected like any other damage. What the salt
 * does not do: anyone who can read the data directory can read the salt
 * and forge frames (the log is not authenticated against its own
 * operator), and segments of the older formats below have no salt.
 *
 * Older formats, still replayed (one log may hold them during an
 * upgrade; what is written next is always HYDRWAL3): HYDRWAL2 and
 * HYDRWAL1 segments have a 16-byte header (magic, sequence number) and
 * 32-byte frame headers: the layout above without the salt (bytes 32..39),
 * the CRC covering bytes 4 .. 32+len-1. HYDRWAL2 checks it with CRC-32C,
 * HYDRWAL1 with zlib's CRC-32 (IEEE polynomial; it was 7% of the server's
 * CPU at 560,000 100-byte records a second, CRC-32C has a CPU
 * instruction).
 *
 * RECORD payloads are the record's bytes exactly as the producer sent them
 * (base64-decoded). DELIVERED payloads are 16 bytes: the first and last
 * LSN of the records that make one object; SEAL payloads start with the
 * same 16 bytes, then name the object's bucket and key (u16 length and
 * bytes each, wal_seal_encode). A SEAL is made durable
 * before its object is written, a DELIVERED after; recovery rebuilds a
 * sealed range into the same object (same key), so a crash between the two
 * rewrites that object instead of adding a duplicate.
 *
 * Recovery (wal_replay): segments are read in order and every valid frame
 * is handed to the caller. A frame is valid when its header is plausible,
 * it fits in the file, it carries its segment's salt (HYDRWAL3) and its
 * CRC matches. Zeros from the last valid
 * frame to the end of a segment are space laid ahead (lay_ahead), its
 * clean end. Other bad bytes at the end of the
 * last segment are a torn write: they are truncated and reported. Bad
 * bytes anywhere else are reported as corruption, and the scan resyncs at
 * the next offset where a valid frame with a higher LSN starts, so
 * everything after the damage is still recovered. Nothing is silently
 * skipped and nothing aborts.
 *
 * Disk full / I/O errors (docs/WAL.md lists every durability point):
 * - a failed pwrite of a group (disk full): the segment is cut back to
 *   where the group began (ftruncate + fdatasync), every appender of the
 *   group gets HY_ENOSPC / HY_EIO, and the segment takes the next group,
 *   so the log resumes by itself when space returns;
 * - a failed fdatasync is never retried on its descriptor (after EIO the
 *   kernel may have dropped the pages, and a second fsync can succeed
 *   without them: PostgreSQL's "fsyncgate"). The group's appenders get
 *   the error; the segment is closed, its unacknowledged tail cut off
 *   through a new descriptor (ftruncate + fsync, which persists the size,
 *   not the lost pages), and a new segment takes the next group. If that
 *   segment cannot be made, the log stops: every append gets HY_EIO
 *   until a restart, with one clear error logged.
 * - a segment is used only once its header is fdatasynced and the
 *   directory fsynced; a deletion (wal_release), a torn tail cut and a
 *   torn header removed at recovery are fsynced too (directory or file).
 *   close and directory fsync errors are logged; wal_close returns them.
 * All of it goes through wal_io (wal.h), so tests inject these faults.
 *
 * Segments are deleted by wal_release once every frame in them is below
 * the callers' low-water LSN (everything older is delivered).
 *
 * Threading: wal_append / wal_append_sync / wal_release / wal_get_stats
 * from any thread; done callbacks run on the writer thread, one at a time,
 * in LSN order.
 */
#include "metrics.h"
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SEG_MAGIC "HYDRWAL3"    /* salted frames checked with CRC-32C */
#define SEG_MAGIC_V2 "HYDRWAL2" /* frames checked with CRC-32C, no salt */
#define SEG_MAGIC_V1 "HYDRWAL1" /* frames checked with zlib's CRC-32, no salt */
#define SALT_OFF 32             /* of the salt in a HYDRWAL3 frame header */

struct wal *hy_wal;
#define SEG_HEADER WAL_SEGMENT_HEADER
#define DEFAULT_SEGMENT_BYTES (64u << 20)
/* Zeros laid down ahead of small commits (see lay_ahead) */
#define AHEAD_BYTES ((uint64_t)1 << 20)
#define AHEAD_SMALL_COMMIT ((size_t)64 << 10)
/* LSNs above this are never written (2^62: a million years at 100M
 * frames/s), so one read as such is corruption and the counter never wraps. */
#define WAL_MAX_LSN ((uint64_t)1 << 62)

struct frame_ref {
    uint8_t type;
    uint32_t stream_id;
    uint64_t lsn;
    int64_t arrival_ms;
    size_t off;      /* payload offset in the batch's bytes */
    uint32_t len;
};

struct waiter {
    wal_done_fn done;
    void *arg;
    size_t first, n; /* refs[first .. first+n) */
};

struct batch {
    struct buf bytes;
    struct frame_ref *refs;
    size_t nrefs, cap_refs;
    struct waiter *waiters;
    size_t nwaiters, cap_waiters;
    uint64_t salt;   /* the salt its first frame was stamped with */
    bool mixed;      /* a later frame got another one (a new segment began) */
};

struct segment {
    struct segment *next;
    uint64_t seq;
    uint64_t first_lsn, last_lsn; /* 0 when it holds no frame */
};

struct wal {
    char *dir;
    size_t segment_bytes;
    bool fsync;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct batch pending, writing;
    uint64_t next_lsn;
    uint64_t safe_lsn;   /* every frame below has had its callback run */
    bool started, stopping;
    pthread_t thread;

    /* writer-thread state (segments list also read by wal_release under lock) */
    int fd;
    uint64_t salt;       /* the current segment's; appenders read it under lock */
    uint64_t seg_size;   /* end of the last frame written */
    uint64_t seg_alloc;  /* bytes of the file laid down: frames, then zeros */
    struct segment *segs, *cur;
    uint64_t next_seq;

    struct wal_stats stats;
};

/* ---- little-endian helpers ------------------------------------------ */
static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void wal_range_encode(unsigned char out[16], const struct wal_range *r)
{
    put_u64(out, r->first_lsn);
    put_u64(out + 8, r->last_lsn);
}

int wal_range_decode(const struct wal_frame *f, struct wal_range *r)
{
    if (f->len < 16)
        return HY_EINVAL;
    r->first_lsn = get_u64(f->data);
    r->last_lsn = get_u64((const unsigned char *)f->data + 8);
    return r->first_lsn <= r->last_lsn ? HY_OK : HY_EINVAL;
}

size_t wal_seal_encode(unsigned char *out, const struct wal_range *r,
                       const char *bucket, const char *key)
{
    size_t bl = strnlen(bucket, 63), kl = strnlen(key, 1024);
    wal_range_encode(out, r);
    out[16] = (unsigned char)bl;
    out[17] = (unsigned char)(bl >> 8);
    memcpy(out + 18, bucket, bl);
    out[18 + bl] = (unsigned char)kl;
    out[19 + bl] = (unsigned char)(kl >> 8);
    memcpy(out + 20 + bl, key, kl);
    return 20 + bl + kl;
}

int wal_seal_decode(const struct wal_frame *f, struct wal_range *r, char bucket[64],
                    char key[1025])
{
    const unsigned char *p = f->data;
    if (f->type != WAL_SEAL || wal_range_decode(f, r) != HY_OK || f->len < 20)
        return HY_EINVAL;
    size_t bl = (size_t)p[16] | (size_t)p[17] << 8;
    if (bl > 63 || 20 + bl > f->len)
        return HY_EINVAL;
    size_t kl = (size_t)p[18 + bl] | (size_t)p[19 + bl] << 8;
    if (kl > 1024 || 20 + bl + kl != f->len)
        return HY_EINVAL;
    memcpy(bucket, p + 18, bl);
    bucket[bl] = 0;
    memcpy(key, p + 20 + bl, kl);
    key[kl] = 0;
    return HY_OK;
}

/* A segment's format, from its header. */
struct seg_fmt {
    int version;          /* 1, 2, 3 (HYDRWALn); 0: not a segment */
    size_t header;        /* bytes of the segment header */
    size_t frame_header;  /* bytes of each frame header */
    uint64_t seq, salt;   /* salt: version 3 only */
};

/* The CRC of a frame: header bytes 4 .. hlen-1, then the payload.
 * v1: a HYDRWAL1 segment (zlib's CRC-32); else CRC-32C. */
static uint32_t frame_crc(const unsigned char *hdr, size_t hlen, const void *payload,
                          uint32_t len, bool v1)
{
    if (v1) {
        uLong c = crc32(0L, Z_NULL, 0);
        c = crc32(c, hdr + 4, (uInt)(hlen - 4));
        if (len)
            c = crc32(c, payload, len);
        return (uint32_t)c;
    }
    uint32_t c = hy_crc32c(0, hdr + 4, hlen - 4);
    return len ? hy_crc32c(c, payload, len) : c;
}

/* Reads a segment header; fmt->version 0 when img does not start with a
 * valid one (unknown magic, short, or a HYDRWAL3 header whose CRC fails). */
static void seg_format(const unsigned char *img, size_t size, struct seg_fmt *fmt)
{
    memset(fmt, 0, sizeof *fmt);
    if (size >= SEG_HEADER && memcmp(img, SEG_MAGIC, 8) == 0) {
        if (get_u32(img + 24) != hy_crc32c(0, img, 24) || get_u32(img + 28) != 0)
            return;
        *fmt = (struct seg_fmt){3, SEG_HEADER, WAL_FRAME_HEADER, get_u64(img + 8),
                                get_u64(img + 16)};
        return;
    }
    if (size < WAL_SEGMENT_HEADER_OLD)
        return;
    int v = memcmp(img, SEG_MAGIC_V2, 8) == 0 ? 2 : memcmp(img, SEG_MAGIC_V1, 8) == 0 ? 1 : 0;
    if (v)
        *fmt = (struct seg_fmt){v, WAL_SEGMENT_HEADER_OLD, WAL_FRAME_HEADER_OLD,
                                get_u64(img + 8), 0};
}

/* Writes salt into a HYDRWAL3 frame header and its CRC over it. */
static void frame_stamp(unsigned char *hdr, const void *payload, uint32_t len, uint64_t salt)
{
    put_u64(hdr + SALT_OFF, salt);
    put_u32(hdr, frame_crc(hdr, WAL_FRAME_HEADER, payload, len, false));
}

/* ---- batches ---------------------------------------------------------- */
static void batch_init(struct batch *b)
{
    memset(b, 0, sizeof *b);
    buf_init(&b->bytes, (size_t)1 << 34);
}

static void batch_reset(struct batch *b)
{
    buf_reset(&b->bytes);
    b->nrefs = 0;
    b->nwaiters = 0;
    b->mixed = false;
}

static void batch_free(struct batch *b)
{
    buf_free(&b->bytes);
    free(b->refs);
    free(b->waiters);
}

/* ---- segments --------------------------------------------------------- */
static void seg_path(const struct wal *w, uint64_t seq, char *out, size_t n)
{
    snprintf(out, n, "%s/%016llx.wal", w->dir, (unsigned long long)seq);
}

static int errno_rc(int e)
{
    return e == ENOSPC || e == EDQUOT ? HY_ENOSPC : HY_EIO;
}

/* ---- file system calls, through wal_io (wal.h) ------------------------- */
struct wal_io wal_io;

static int io_open(const char *path, int flags, mode_t mode)
{
    return wal_io.xopen ? wal_io.xopen(path, flags, mode) : open(path, flags, mode);
}

static ssize_t io_pwrite(int fd, const void *p, size_t n, off_t at)
{
    return wal_io.xpwrite ? wal_io.xpwrite(fd, p, n, at) : pwrite(fd, p, n, at);
}

static int io_fdatasync(int fd)
{
    return wal_io.xfdatasync ? wal_io.xfdatasync(fd) : fdatasync(fd);
}

static int io_fsync(int fd)
{
    return wal_io.xfsync ? wal_io.xfsync(fd) : fsync(fd);
}

static int io_ftruncate(int fd, off_t len)
{
    return wal_io.xftruncate ? wal_io.xftruncate(fd, len) : ftruncate(fd, len);
}

static int io_unlink(const char *path)
{
    return wal_io.xunlink ? wal_io.xunlink(path) : unlink(path);
}

/* close(2), its error reported: some file systems (NFS) report a failed
 * write-back only there. EINTR is not an error (Linux has closed the
 * descriptor). */
static int close_checked(int fd, const char *what)
{
    if ((wal_io.xclose ? wal_io.xclose(fd) : close(fd)) == 0 || errno == EINTR)
        return HY_OK;
    int e = errno;
    log_error("wal", "close of %s failed: %s", what, strerror(e));
    return errno_rc(e);
}

/* fsyncs a directory, so that the names created or removed in it are
 * durable. A file system that cannot fsync a directory at all (EINVAL,
 * EBADF) is not an error, as PostgreSQL treats it. */
static int fsync_dir(const char *dir)
{
    int dfd = io_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd < 0) {
        int e = errno;
        log_error("wal", "cannot open directory %s to fsync it: %s", dir, strerror(e));
        return errno_rc(e);
    }
    int rc = HY_OK;
    if (io_fsync(dfd) != 0 && errno != EINVAL && errno != EBADF) {
        int e = errno;
        log_error("wal", "fsync of directory %s failed: %s", dir, strerror(e));
        rc = errno_rc(e);
    }
    int crc = close_checked(dfd, dir);
    return rc ? rc : crc;
}

/* pwrite(2) until done, from at */
static int pwrite_all(int fd, const void *buf, size_t left, uint64_t at)
{
    const char *p = buf;
    while (left > 0) {
        ssize_t n = io_pwrite(fd, p, left, (off_t)at);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno_rc(errno);
        }
        p += n;
        left -= (size_t)n;
        at += (uint64_t)n;
    }
    return HY_OK;
}

/* ---- segments --------------------------------------------------------- */
/* Writer thread: stops using the current segment's descriptor for good
 * (after a failed fdatasync it must never be fsynced again; after a
 * failed cut its contents are unknown). The segment stays in the list
 * with the frames acknowledged in it, until wal_release deletes it. */
static void seg_abandon(struct wal *w)
{
    char path[4096];
    seg_path(w, w->cur ? w->cur->seq : 0, path, sizeof path);
    close_checked(w->fd, path);
    w->fd = -1;
}

/* Writer thread: starts a new segment file. It is used only once its
 * header is durable and its name is (fdatasync, then fsync of the
 * directory): a segment the log writes frames into never vanishes with
 * a power loss. */
static int seg_new(struct wal *w)
{
    char path[4096];
    uint64_t seq = w->next_seq;
    struct segment *s = calloc(1, sizeof *s);
    if (!s)
        return HY_ENOMEM;
    int fd;
    /* O_EXCL: a name already taken is never truncated (it would be log) */
    for (int tries = 0;; tries++, seq++) {
        seg_path(w, seq, path, sizeof path);
        fd = io_open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST || tries == 16)
            break;
        log_warn("wal", "segment %s exists already; taking the next number", path);
    }
    if (fd < 0) {
        int e = errno;
        log_error("wal", "cannot create segment %s: %s", path, strerror(e));
        free(s);
        return errno_rc(e);
    }
    w->next_seq = seq + 1; /* even if this one fails: gaps are fine */
    unsigned char hdr[SEG_HEADER] = {0};
    uint64_t salt;
    int rc = hy_random(&salt, sizeof salt);
    memcpy(hdr, SEG_MAGIC, 8);
    put_u64(hdr + 8, seq);
    put_u64(hdr + 16, salt);
    put_u32(hdr + 24, hy_crc32c(0, hdr, 24));
    if (rc == HY_OK)
        rc = pwrite_all(fd, hdr, sizeof hdr, 0);
    if (rc == HY_OK && w->fsync && io_fdatasync(fd) != 0)
        rc = errno_rc(errno);
    if (rc)
        log_error("wal", "cannot write segment header %s: %s", path, hy_strerror(rc));
    if (rc == HY_OK && w->fsync)
        rc = fsync_dir(w->dir); /* logged there */
    if (rc) {
        /* never used: whether its name survives a crash does not matter */
        close_checked(fd, path);
        io_unlink(path);
        free(s);
        return rc;
    }
    s->seq = seq;
    pthread_mutex_lock(&w->lock);
    struct segment **pp = &w->segs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = s;
    /* its number, not the struct: once it is not current, wal_release may
     * free it from another thread */
    uint64_t old_seq = w->cur ? w->cur->seq : 0;
    w->cur = s;
    w->salt = salt; /* frames appended from now on carry it */
    w->stats.segments++;
    pthread_mutex_unlock(&w->lock);
    if (w->fd >= 0) {
        /* every group in it was fdatasynced: a close error loses nothing
         * acknowledged, but is worth knowing about */
        char old_path[4096];
        seg_path(w, old_seq, old_path, sizeof old_path);
        close_checked(w->fd, old_path);
    }
    w->fd = fd;
    w->seg_size = SEG_HEADER;
    w->seg_alloc = SEG_HEADER;
    return HY_OK;
}

/* Writer thread, after a small commit: when the next commits would
 * extend the file, lay AHEAD_BYTES of zeros down past the last frame
 * first. fdatasync after a write that changes the file's size also
 * writes the inode; over blocks already written it writes only the data.
 * Measured on this machine's disk, 8 KiB write + fdatasync: p50 0.40 ms /
 * p99 1.0-2.8 ms appending, 0.17 / 0.3 ms writing over (docs/WAL.md).
 * Large commits (batches of records) skip this: their size change is
 * paid once per many bytes, and zeros would cost disk bandwidth. The
 * zeros reach the disk with the next commit's fdatasync; recovery reads
 * an all-zero tail after the last frame as the clean end of a segment.
 * A failed write of zeros is not an error: the commits simply append. */
static void lay_ahead(struct wal *w, size_t last_commit)
{
    static const unsigned char zeros[64 << 10];
    if (!w->fsync || w->fd < 0 || last_commit >= AHEAD_SMALL_COMMIT ||
        w->seg_alloc >= w->seg_size + AHEAD_BYTES / 2 || w->seg_alloc >= w->segment_bytes)
        return;
    uint64_t at = w->seg_alloc > w->seg_size ? w->seg_alloc : w->seg_size;
    uint64_t end = w->seg_size + AHEAD_BYTES;
    while (at < end) {
        size_t n = end - at < sizeof zeros ? (size_t)(end - at) : sizeof zeros;
        if (pwrite_all(w->fd, zeros, n, at) != HY_OK)
            break;
        at += n;
    }
    w->seg_alloc = at;
}

/* Writer thread: gives every frame of b the current segment's salt.
 * Appenders stamp frames with the salt of the segment being written when
 * they append; a group that reaches a newer segment (rotation, or a new
 * segment after a failure) is stamped again here: one CRC pass over it,
 * once per segment, never on the common path. */
static void batch_restamp(struct wal *w, struct batch *b)
{
    if (!b->nrefs || (!b->mixed && b->salt == w->salt))
        return;
    for (size_t i = 0; i < b->nrefs; i++) {
        const struct frame_ref *r = &b->refs[i];
        unsigned char *payload = (unsigned char *)b->bytes.data + r->off;
        frame_stamp(payload - WAL_FRAME_HEADER, payload, r->len, w->salt);
    }
    b->salt = w->salt;
    b->mixed = false;
}

/* Writer thread: the pwrite of a group failed (disk full, quota, I/O
 * error); nothing of it was fsynced. The segment is cut back to where the
 * group began, so no partial frame stays, and the cut is made durable
 * (an fdatasync after a failed write, not after a failed fsync). The
 * segment then takes the next group, so puts resume by themselves when
 * space returns. If the cut or its fdatasync fails, the segment is given
 * up and the next group starts a new one. */
static void write_failed(struct wal *w, const struct batch *b, uint64_t off, int rc)
{
    char path[4096];
    seg_path(w, w->cur->seq, path, sizeof path);
    w->stats.write_errors++;
    log_error("wal", "write of %zu frames (%zu bytes) to %s failed: %s; the puts get an error",
              b->nrefs, b->bytes.len, path, hy_strerror(rc));
    w->seg_alloc = off;
    if (io_ftruncate(w->fd, (off_t)off) != 0) {
        log_error("wal", "cannot cut %s back after the failed write: %s; the next group "
                  "starts a new segment", path, strerror(errno));
        seg_abandon(w);
    } else if (w->fsync && io_fdatasync(w->fd) != 0) {
        w->stats.fsync_errors++;
        log_error("wal", "fdatasync of %s after cutting it back failed: %s; it is never "
                  "fsynced again, the next group starts a new segment", path, strerror(errno));
        seg_abandon(w);
    }
}

static int truncate_durably(struct wal *w, const char *path, uint64_t len);

/* Writer thread: the fdatasync of a group failed. After a failed fsync
 * the kernel may have dropped the group's dirty pages or marked them
 * clean, so a second fsync of the same descriptor can succeed although
 * the data never reached the disk (PostgreSQL's "fsyncgate", 2018). So
 * the error is final: the group's puts get it, the descriptor is closed
 * without another fsync, and the next group goes to a new segment
 * (stamped with its salt there). The group's frames are cut off the old
 * segment, through a new descriptor that is fsynced: that fsync asks for
 * the file's new size, not for the lost pages (they are cut off), so it
 * is no retry; it keeps the unacknowledged frames from coming back after
 * a crash, where a restart could otherwise reuse their LSNs. The frames
 * acknowledged before them were fsynced by earlier commits. If no new
 * segment can be made, the log stops: every later put gets an error until
 * hydrant is restarted. */
static void sync_failed(struct wal *w, const struct batch *b, uint64_t off, int e)
{
    char path[4096];
    seg_path(w, w->cur->seq, path, sizeof path);
    w->stats.write_errors++;
    w->stats.fsync_errors++;
    log_error("wal", "fdatasync of %s failed: %s; the %zu frames of this group are not "
              "acknowledged (their puts get an error), and the segment is never fsynced "
              "again", path, strerror(e), b->nrefs);
    w->seg_alloc = off;
    seg_abandon(w);
    if (truncate_durably(w, path, off) != HY_OK) /* logged there */
        log_warn("wal", "the unacknowledged frames may stay in %s: recovery would deliver "
                 "them although their puts got an error", path);
    int rc = seg_new(w);
    if (rc) {
        pthread_mutex_lock(&w->lock);
        w->stats.failed = true;
        pthread_mutex_unlock(&w->lock);
        log_error("wal", "the log cannot go on: fdatasync failed and no new segment could "
                  "be started (%s); every put is refused from now on; check the disk "
                  "under %s and restart hydrant", hy_strerror(rc), w->dir);
        return;
    }
    log_warn("wal", "the log goes on in segment %016llx.wal",
             (unsigned long long)w->cur->seq);
}

/* Writer thread: one group commit. */
static int write_batch(struct wal *w, struct batch *b)
{
    int rc;
    if (w->stats.failed)
        return HY_EIO;
    if (w->fd < 0 || (w->seg_size > SEG_HEADER &&
                      w->seg_size + b->bytes.len > w->segment_bytes)) {
        if ((rc = seg_new(w)))
            return rc;
    }
    batch_restamp(w, b);
    uint64_t off = w->seg_size;
    rc = pwrite_all(w->fd, b->bytes.data, b->bytes.len, off);
    if (rc) {
        write_failed(w, b, off, rc);
        return rc;
    }
    if (w->fsync) {
        w->stats.fsyncs++;
        if (io_fdatasync(w->fd) != 0) {
            int e = errno;
            sync_failed(w, b, off, e);
            return errno_rc(e);
        }
    }
    w->seg_size += b->bytes.len;
    if (w->seg_alloc < w->seg_size)
        w->seg_alloc = w->seg_size;
    pthread_mutex_lock(&w->lock);
    if (b->nrefs) {
        if (!w->cur->first_lsn)
            w->cur->first_lsn = b->refs[0].lsn;
        w->cur->last_lsn = b->refs[b->nrefs - 1].lsn;
    }
    w->stats.commits++;
    metrics_wal_commit(b->nrefs, b->bytes.len);
    w->stats.frames += b->nrefs;
    w->stats.bytes += b->bytes.len;
    pthread_mutex_unlock(&w->lock);
    return HY_OK;
}

static void *writer_main(void *arg)
{
    struct wal *w = arg;
    struct wal_frame stack_frames[64];
    struct wal_frame *frames = stack_frames;
    size_t cap_frames = 64;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->pending.nwaiters == 0 && !w->stopping)
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->pending.nwaiters == 0 && w->stopping)
            break;
        struct batch tmp = w->writing;
        w->writing = w->pending;
        w->pending = tmp;
        pthread_mutex_unlock(&w->lock);

        struct batch *b = &w->writing;
        int rc = write_batch(w, b);
        if (b->nrefs > cap_frames) {
            struct wal_frame *nf = frames == stack_frames ? NULL : frames;
            nf = realloc(nf, b->nrefs * sizeof *nf);
            if (nf) {
                frames = nf;
                cap_frames = b->nrefs;
            }
        }
        bool have_frames = b->nrefs <= cap_frames;
        for (size_t i = 0; have_frames && i < b->nrefs; i++) {
            const struct frame_ref *r = &b->refs[i];
            frames[i] = (struct wal_frame){r->type, r->stream_id, r->lsn, r->arrival_ms,
                                           b->bytes.data + r->off, r->len};
        }
        for (size_t i = 0; i < b->nwaiters; i++) {
            struct waiter *wt = &b->waiters[i];
            /* out of memory for the view: report the batch failed */
            wt->done(wt->arg, have_frames ? rc : HY_ENOMEM,
                     have_frames ? frames + wt->first : NULL, wt->n);
        }
        if (rc == HY_OK)
            lay_ahead(w, b->bytes.len);
        pthread_mutex_lock(&w->lock);
        if (b->nrefs)
            w->safe_lsn = b->refs[b->nrefs - 1].lsn + 1;
        batch_reset(b);
    }
    pthread_mutex_unlock(&w->lock);
    if (frames != stack_frames)
        free(frames);
    return NULL;
}

/* ---- public: append ------------------------------------------------- */
int wal_append(struct wal *w, struct wal_frame *frames, size_t n, wal_done_fn done,
               void *arg)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (frames[i].len > WAL_MAX_PAYLOAD)
            return HY_ETOOBIG;
        bytes += WAL_FRAME_HEADER + frames[i].len;
    }
    pthread_mutex_lock(&w->lock);
    if (w->stopping || !w->started) {
        pthread_mutex_unlock(&w->lock);
        return HY_ESTATE;
    }
    if (w->stats.failed) { /* logged when it happened */
        pthread_mutex_unlock(&w->lock);
        return HY_EIO;
    }
    if (w->next_lsn + n > WAL_MAX_LSN) {
        pthread_mutex_unlock(&w->lock);
        log_error("wal", "the log sequence space is exhausted");
        return HY_ELIMIT;
    }
    struct batch *b = &w->pending;
    int rc = buf_reserve(&b->bytes, bytes);
    if (rc == HY_OK)
        rc = hy_grow((void **)&b->refs, &b->cap_refs, b->nrefs + n, sizeof *b->refs);
    if (rc == HY_OK)
        rc = hy_grow((void **)&b->waiters, &b->cap_waiters, b->nwaiters + 1,
                  sizeof *b->waiters);
    if (rc) {
        pthread_mutex_unlock(&w->lock);
        return rc;
    }
    b->waiters[b->nwaiters++] = (struct waiter){done, arg, b->nrefs, n};
    for (size_t i = 0; i < n; i++) {
        struct wal_frame *f = &frames[i];
        f->lsn = w->next_lsn++;
        unsigned char hdr[WAL_FRAME_HEADER] = {0};
        put_u32(hdr + 4, f->len);
        hdr[8] = f->type;
        put_u32(hdr + 12, f->stream_id);
        put_u64(hdr + 16, f->lsn);
        put_u64(hdr + 24, (uint64_t)f->arrival_ms);
        frame_stamp(hdr, f->data, f->len, w->salt);
        if (b->nrefs == 0)
            b->salt = w->salt;
        else if (b->salt != w->salt)
            b->mixed = true;
        size_t off = b->bytes.len;
        memcpy(b->bytes.data + off, hdr, sizeof hdr);
        if (f->len)
            memcpy(b->bytes.data + off + sizeof hdr, f->data, f->len);
        b->bytes.len += sizeof hdr + f->len;
        b->refs[b->nrefs++] = (struct frame_ref){f->type, f->stream_id, f->lsn,
                                                 f->arrival_ms, off + sizeof hdr, f->len};
    }
    b->bytes.data[b->bytes.len] = 0;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return HY_OK;
}

struct sync_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int rc;
};

static void sync_done(void *arg, int rc, const struct wal_frame *f, size_t n)
{
    (void)f;
    (void)n;
    struct sync_wait *sw = arg;
    pthread_mutex_lock(&sw->lock);
    sw->done = true;
    sw->rc = rc;
    pthread_cond_signal(&sw->cond);
    pthread_mutex_unlock(&sw->lock);
}

int wal_append_sync(struct wal *w, struct wal_frame *frames, size_t n)
{
    struct sync_wait sw = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};
    int rc = wal_append(w, frames, n, sync_done, &sw);
    if (rc)
        return rc;
    pthread_mutex_lock(&sw.lock);
    while (!sw.done)
        pthread_cond_wait(&sw.cond, &sw.lock);
    pthread_mutex_unlock(&sw.lock);
    pthread_mutex_destroy(&sw.lock);
    pthread_cond_destroy(&sw.cond);
    return sw.rc;
}

/* ---- public: release, stats ----------------------------------------- */
/* Segments to delete are taken off the list under the lock, and deleted
 * and the directory fsynced outside it: appenders never wait on the disk.
 * The directory fsync makes the deletions durable before the callers go
 * on (a deleted segment that came back after a power loss would deliver
 * its records a second time). */
void wal_release(struct wal *w, uint64_t low_water)
{
    char path[4096];
    struct segment *gone = NULL, **tail = &gone;
    pthread_mutex_lock(&w->lock);
    struct segment **pp = &w->segs;
    while (*pp) {
        struct segment *s = *pp;
        if (s != w->cur && (s->last_lsn == 0 || s->last_lsn < low_water)) {
            *pp = s->next;
            s->next = NULL;
            *tail = s;
            tail = &s->next;
            w->stats.segments--;
        } else {
            pp = &s->next;
        }
    }
    pthread_mutex_unlock(&w->lock);
    size_t deleted = 0;
    struct segment *s, *next;
    for (s = gone; s; s = next) {
        next = s->next;
        seg_path(w, s->seq, path, sizeof path);
        if (io_unlink(path) != 0 && errno != ENOENT) {
            log_warn("wal", "cannot delete delivered segment %s: %s", path, strerror(errno));
            /* back into the list, in order, to be tried again */
            pthread_mutex_lock(&w->lock);
            for (pp = &w->segs; *pp && (*pp)->seq < s->seq; pp = &(*pp)->next)
                ;
            s->next = *pp;
            *pp = s;
            w->stats.segments++;
            pthread_mutex_unlock(&w->lock);
            continue;
        }
        log_debug("wal", "deleted segment %s (lsn %llu..%llu)", path,
                  (unsigned long long)s->first_lsn, (unsigned long long)s->last_lsn);
        deleted++;
        free(s);
    }
    if (deleted && w->fsync)
        fsync_dir(w->dir); /* an error is logged there; the files are gone either way */
}

uint64_t wal_safe_lsn(struct wal *w)
{
    pthread_mutex_lock(&w->lock);
    /* nothing pending or being written: everything so far is applied */
    uint64_t v = w->pending.nrefs == 0 && w->writing.nrefs == 0 ? w->next_lsn : w->safe_lsn;
    pthread_mutex_unlock(&w->lock);
    return v;
}

int wal_flush(struct wal *w)
{
    return wal_append_sync(w, NULL, 0);
}

void wal_get_stats(struct wal *w, struct wal_stats *st)
{
    pthread_mutex_lock(&w->lock);
    *st = w->stats;
    st->next_lsn = w->next_lsn;
    pthread_mutex_unlock(&w->lock);
}

/* ---- scanning --------------------------------------------------------- */
/* Parses a frame at p (avail bytes) of a segment of format fmt.
 * 1 when valid. */
static int parse_frame(const unsigned char *p, size_t avail, const struct seg_fmt *fmt,
                       struct wal_frame *f)
{
    size_t hl = fmt->frame_header;
    if (avail < hl)
        return 0;
    uint32_t len = get_u32(p + 4);
    uint8_t type = p[8];
    if (len > WAL_MAX_PAYLOAD || type < WAL_RECORD || type > WAL_DELIVERED ||
        p[9] || p[10] || p[11] || (size_t)len > avail - hl)
        return 0;
    /* not this segment's salt: not one of its frames (whatever its CRC) */
    if (fmt->version == 3 && get_u64(p + SALT_OFF) != fmt->salt)
        return 0;
    if (get_u32(p) != frame_crc(p, hl, p + hl, len, fmt->version == 1))
        return 0;
    uint64_t lsn = get_u64(p + 16);
    if (lsn == 0 || lsn > WAL_MAX_LSN)
        return 0; /* a well-checksummed but impossible position: not ours */
    f->type = type;
    f->len = len;
    f->stream_id = get_u32(p + 12);
    f->lsn = lsn;
    f->arrival_ms = (int64_t)get_u64(p + 24);
    f->data = p + hl;
    return 1;
}

struct scan_result {
    uint64_t valid_end;      /* end of the last valid frame */
    uint64_t frames, last_lsn;
    uint64_t bad_regions, bad_bytes;
    bool tail_bad;           /* the bytes after valid_end are bad */
    uint64_t zero_tail;      /* or zeros laid down ahead, to the end */
    uint64_t bad_end;        /* tail_bad: just past its last non-zero byte */
};

/* Scans a segment image. Bad regions followed by a valid frame are
 * reported through bad_fn and skipped; bad bytes at the end are left to
 * the caller (tail_bad). */
static void scan_image(const unsigned char *img, size_t size, const struct seg_fmt *fmt,
                       uint64_t min_lsn, wal_replay_fn fn, wal_bad_fn bad_fn, void *ctx,
                       struct scan_result *r)
{
    memset(r, 0, sizeof *r);
    size_t off = fmt->header;
    r->valid_end = off;
    uint64_t last = min_lsn;
    while (off < size) {
        struct wal_frame f;
        if (parse_frame(img + off, size - off, fmt, &f) && f.lsn > last) {
            fn(ctx, &f);
            last = f.lsn;
            r->frames++;
            off += fmt->frame_header + f.len;
            r->valid_end = off;
            continue;
        }
        /* zeros to the end: the space lay_ahead laid down, not damage */
        size_t z = off;
        while (z < size && img[z] == 0)
            z++;
        if (z == size) {
            r->zero_tail = size - off;
            break;
        }
        /* resync: the next offset where a valid, later frame starts */
        size_t next = off + 1;
        for (; next + fmt->frame_header <= size; next++) {
            struct wal_frame g;
            if (parse_frame(img + next, size - next, fmt, &g) && g.lsn > last)
                break;
        }
        if (next + fmt->frame_header > size) {
            r->tail_bad = true;
            r->bad_end = size;
            while (r->bad_end > off && img[r->bad_end - 1] == 0)
                r->bad_end--;
            break;
        }
        r->bad_regions++;
        r->bad_bytes += next - off;
        if (bad_fn)
            bad_fn(ctx, off, next - off, "bad frame (checksum, length or type)");
        off = next;
    }
    r->last_lsn = last;
}

static unsigned char *read_whole(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    unsigned char *p = malloc(n ? n : 1);
    size_t got = 0;
    while (p && got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    *size = got;
    return p;
}

/* A segment for replay, mapped rather than read: replaying 1 GiB spent a
 * third of its time in read()'s copy to a fresh buffer and that buffer's
 * page faults (perf, 2026-11-25). The log is the server's own while it
 * replays, so nothing truncates a file under the mapping. Falls back to
 * read_whole when the file cannot be mapped (or is too small to be). */
struct seg_image {
    unsigned char *p;
    size_t size;
    bool mapped;
};

static int image_load(const char *path, struct seg_image *im)
{
    memset(im, 0, sizeof *im);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return HY_EIO;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size >= WAL_SEGMENT_HEADER_OLD) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (m != MAP_FAILED) {
            close(fd);
            madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
            im->p = m;
            im->size = (size_t)st.st_size;
            im->mapped = true;
            return HY_OK;
        }
    }
    close(fd);
    im->p = read_whole(path, &im->size);
    return im->p ? HY_OK : HY_EIO;
}

static void image_free(struct seg_image *im)
{
    if (im->mapped)
        munmap(im->p, im->size);
    else
        free(im->p);
    im->p = NULL;
}

int wal_scan_file(const char *path, wal_replay_fn fn, wal_bad_fn bad_fn, void *ctx,
                  struct wal_scan_info *info)
{
    size_t size;
    unsigned char *img = read_whole(path, &size);
    if (!img)
        return HY_EIO;
    struct seg_fmt fmt;
    seg_format(img, size, &fmt);
    if (info)
        *info = (struct wal_scan_info){fmt.version, fmt.seq, fmt.salt, 0};
    if (!fmt.version) {
        if (bad_fn)
            bad_fn(ctx, 0, size, "not a hydrant WAL segment (bad header)");
        free(img);
        return HY_EINVAL;
    }
    struct scan_result r;
    scan_image(img, size, &fmt, 0, fn, bad_fn, ctx, &r);
    if (r.tail_bad && bad_fn)
        bad_fn(ctx, r.valid_end, r.bad_end - r.valid_end, "torn or corrupt tail");
    if (info)
        info->valid_end = r.valid_end;
    free(img);
    return HY_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool parse_seg_name(const char *name, uint64_t *seq)
{
    if (strlen(name) != 20 || strcmp(name + 16, ".wal") != 0)
        return false;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *seq = v;
    return true;
}

/* Cuts a torn tail off a segment at recovery, and fsyncs the file, so
 * that the cut holds after a crash: else the torn bytes could come back
 * behind the segments written next, as corruption in the middle. */
static int truncate_durably(struct wal *w, const char *path, uint64_t len)
{
    int fd = io_open(path, O_WRONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        log_error("wal", "cannot open %s to truncate it: %s", path, strerror(e));
        return errno_rc(e);
    }
    int rc = HY_OK;
    if (io_ftruncate(fd, (off_t)len) != 0) {
        rc = errno_rc(errno);
        log_error("wal", "cannot truncate %s: %s", path, strerror(errno));
    } else if (w->fsync && io_fsync(fd) != 0) {
        rc = errno_rc(errno);
        log_error("wal", "fsync of %s after truncating it failed: %s", path, strerror(errno));
    }
    int crc = close_checked(fd, path);
    return rc ? rc : crc;
}

struct replay_ctx {
    const char *path;
    uint64_t first, last;
    wal_replay_fn fn;
    void *ctx;
};

static void replay_one(void *c, const struct wal_frame *f)
{
    struct replay_ctx *rc = c;
    if (!rc->first)
        rc->first = f->lsn;
    rc->last = f->lsn;
    rc->fn(rc->ctx, f);
}

static void report_bad(void *c, uint64_t off, uint64_t len, const char *why)
{
    struct replay_ctx *rc = c;
    log_error("wal", "segment %s: %s: %llu bytes at offset %llu skipped; "
              "recovery continues after them", rc->path, why, (unsigned long long)len,
              (unsigned long long)off);
}

int wal_replay(struct wal *w, wal_replay_fn fn, void *ctx, struct wal_replay_stats *st)
{
    struct wal_replay_stats local;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);

    DIR *d = opendir(w->dir);
    if (!d)
        return HY_EIO;
    uint64_t *seqs = NULL;
    size_t nseq = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        uint64_t seq;
        if (!parse_seg_name(de->d_name, &seq))
            continue;
        if (hy_grow((void **)&seqs, &cap, nseq + 1, sizeof *seqs)) {
            closedir(d);
            free(seqs);
            return HY_ENOMEM;
        }
        seqs[nseq++] = seq;
    }
    closedir(d);
    if (nseq)
        qsort(seqs, nseq, sizeof *seqs, cmp_u64);

    uint64_t last_lsn = 0;
    for (size_t i = 0; i < nseq; i++) {
        char path[4096];
        seg_path(w, seqs[i], path, sizeof path);
        bool is_last = i + 1 == nseq;
        struct seg_image im;
        if (image_load(path, &im) != HY_OK) {
            log_error("wal", "cannot read segment %s: %s", path, strerror(errno));
            continue;
        }
        unsigned char *img = im.p;
        size_t size = im.size;
        struct seg_fmt fmt;
        seg_format(img, size, &fmt);
        if (!fmt.version) {
            /* the last segment's header never reached the disk whole: the
             * writer uses a segment only once its header is durable, so it
             * holds nothing acknowledged */
            size_t nz = 0;
            while (nz < size && img[nz] == 0)
                nz++;
            if (is_last && (size < SEG_HEADER || nz == size)) {
                log_warn("wal", "segment %s: torn header (%zu bytes); removed", path, size);
                st->torn_bytes += size;
                if (io_unlink(path) != 0)
                    log_error("wal", "cannot remove %s: %s", path, strerror(errno));
                else if (w->fsync)
                    fsync_dir(w->dir);
            } else {
                log_error("wal", "segment %s: not a hydrant WAL segment (bad header); "
                          "left in place and skipped", path);
                st->corrupt_regions++;
                st->corrupt_bytes += size;
            }
            image_free(&im);
            if (seqs[i] >= w->next_seq)
                w->next_seq = seqs[i] + 1;
            continue;
        }
        struct replay_ctx rc = {path, 0, 0, fn, ctx};
        struct scan_result r;
        scan_image(img, size, &fmt, last_lsn, replay_one, report_bad, &rc, &r);
        image_free(&im); /* before any truncate below */
        st->segments++;
        st->frames += r.frames;
        st->bytes += r.valid_end;
        st->corrupt_regions += r.bad_regions;
        st->corrupt_bytes += r.bad_bytes;
        if (r.tail_bad) {
            uint64_t bad = r.bad_end - r.valid_end; /* zeros after it: laid ahead */
            if (is_last) {
                log_warn("wal", "segment %s: torn tail of %llu bytes after offset %llu "
                         "(an interrupted write, never acknowledged); truncated",
                         path, (unsigned long long)bad, (unsigned long long)r.valid_end);
                st->torn_bytes += bad;
                truncate_durably(w, path, r.valid_end);
            } else {
                log_error("wal", "segment %s: %llu corrupt bytes at offset %llu to its end "
                          "skipped; recovery continues with the next segment",
                          path, (unsigned long long)bad, (unsigned long long)r.valid_end);
                st->corrupt_regions++;
                st->corrupt_bytes += bad;
            }
        }
        if (r.last_lsn > last_lsn)
            last_lsn = r.last_lsn;
        struct segment *s = calloc(1, sizeof *s);
        if (!s) {
            free(seqs);
            return HY_ENOMEM;
        }
        s->seq = seqs[i];
        s->first_lsn = rc.first;
        s->last_lsn = rc.last;
        struct segment **pp = &w->segs;
        while (*pp)
            pp = &(*pp)->next;
        *pp = s;
        w->stats.segments++;
        if (seqs[i] >= w->next_seq)
            w->next_seq = seqs[i] + 1;
    }
    free(seqs);
    w->next_lsn = last_lsn + 1;
    w->safe_lsn = w->next_lsn;
    if (st->torn_bytes || st->corrupt_regions)
        log_warn("wal", "recovery: %llu frames in %llu segments; %llu torn bytes truncated, "
                 "%llu corrupt regions (%llu bytes) skipped",
                 (unsigned long long)st->frames, (unsigned long long)st->segments,
                 (unsigned long long)st->torn_bytes, (unsigned long long)st->corrupt_regions,
                 (unsigned long long)st->corrupt_bytes);
    return HY_OK;
}

/* ---- lifecycle -------------------------------------------------------- */
/* fsyncs the directory that holds dir, so that dir's own name is durable
 * (mkdir_p may just have made it). */
static int fsync_parent(const char *dir)
{
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dir);
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = 0;
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else
        slash[slash == parent ? 1 : 0] = 0;
    return fsync_dir(parent);
}

int wal_open(const struct wal_config *cfg, struct wal **out)
{
    /* 0700, segments 0600: the salts must stay unreadable to others */
    int rc = mkdir_p(cfg->dir, 0700);
    if (rc)
        return rc;
    if (cfg->fsync && (rc = fsync_parent(cfg->dir)))
        return rc;
    struct wal *w = calloc(1, sizeof *w);
    if (!w)
        return HY_ENOMEM;
    w->dir = strdup(cfg->dir);
    if (!w->dir) {
        free(w);
        return HY_ENOMEM;
    }
    w->segment_bytes = cfg->segment_bytes ? cfg->segment_bytes : DEFAULT_SEGMENT_BYTES;
    w->fsync = cfg->fsync;
    w->fd = -1;
    w->next_lsn = 1;
    w->safe_lsn = 1;
    w->next_seq = 1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    batch_init(&w->pending);
    batch_init(&w->writing);
    *out = w;
    return HY_OK;
}

int wal_start(struct wal *w)
{
    int rc = seg_new(w);
    if (rc)
        return rc;
    pthread_mutex_lock(&w->lock);
    w->started = true;
    pthread_mutex_unlock(&w->lock);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        w->started = false;
        return HY_ENOMEM;
    }
    return HY_OK;
}

int wal_close(struct wal *w)
{
    if (!w)
        return HY_OK;
    pthread_mutex_lock(&w->lock);
    bool started = w->started;
    w->stopping = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    if (started)
        pthread_join(w->thread, NULL);
    /* no fdatasync here: every group was fdatasynced before its callbacks
     * ran, and the zeros laid ahead need none */
    int rc = HY_OK;
    if (w->fd >= 0) {
        char path[4096];
        seg_path(w, w->cur ? w->cur->seq : 0, path, sizeof path);
        rc = close_checked(w->fd, path);
    }
    struct segment *s = w->segs, *next;
    for (; s; s = next) {
        next = s->next;
        free(s);
    }
    batch_free(&w->pending);
    batch_free(&w->writing);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w->dir);
    free(w);
    return rc;
}

/* ---- a second read for stream.c's recovery (issue 12) ------------------
 * Added by the stuck-stream work, kept apart from the rest: recovery's
 * second pass reads every segment again. Like wal_scan_file, with no
 * repair and no reports, but the segment is mapped (image_load) rather
 * than copied: the copy made the second pass cost as much as the first. */
int wal_scan_segment(const char *path, wal_replay_fn fn, void *ctx)
{
    struct seg_image im;
    if (image_load(path, &im) != HY_OK)
        return HY_EIO;
    struct seg_fmt fmt;
    seg_format(im.p, im.size, &fmt);
    if (!fmt.version) {
        image_free(&im);
        return HY_EINVAL;
    }
    struct scan_result r;
    scan_image(im.p, im.size, &fmt, 0, fn, NULL, ctx, &r);
    image_free(&im);
    return HY_OK;
}
