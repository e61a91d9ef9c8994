/* spool.c -- the on-disk store-and-forward queue of one stream.
 *
 * Purpose: when the endpoint cannot be reached (a tunnel, a car park) or
 * memory is full, records of a stream are kept on disk, in put order, and
 * read back from the oldest when the endpoint answers. A new producer on
 * the same directory finds them and sends them first.
 *
 * On-disk format (integers little-endian)
 * ---------------------------------------
 * <spool_dir>/s-<stream>/ holds the spool of one stream (the "s-" keeps
 * the stream names "." and "..", which Firehose allows, from being path
 * tricks). In it, segment files named by a 16-digit lowercase hex
 * sequence number, "0000010000000000.seg", ..., read in sequence order.
 * A segment starts with a 16-byte header:
 *
 *   offset size  field
 *   0      8     magic "HYSPOOL1"
 *   8      8     segment sequence number (same as the file name)
 *
 * followed by frames, back to back:
 *
 *   offset size  field
 *   0      4     len: record length in bytes (1 .. 1,024,000)
 *   4      4     CRC-32 (IEEE, as zlib's crc32) of the record bytes
 *   8      len   the record, exactly as given to hydrant_put
 *
 * The file "head" holds the position of the first record not yet
 * acknowledged, as text: "<seq hex> <offset decimal>\n". It is replaced
 * by write-to-"head.tmp" + rename after each acknowledged batch. No head
 * file means "from the start of the first segment".
 *
 * Segments grow to SEG_MAX bytes (a bigger record gets a segment of its
 * own); segments wholly before the head are deleted, and when the head
 * reaches the end of the last segment the directory is removed.
 * Appends never cross this order; records that are older than everything
 * on disk (an in-memory batch still being retried when the spool started)
 * are "prepended": written to a new segment numbered one below the first,
 * together with the unconsumed rest of the first segment, which is then
 * deleted. Sequence numbers start at 2^40, leaving room below.
 *
 * Crash safety: at least once, never out of order. Appends are plain
 * writes, durable at hydrant__spool_sync (the producer calls it before a
 * put returns, every spool_sync_ms, or when its sender goes idle: its
 * spool_sync setting). Every name a record depends on is durable before
 * the record can be: a directory made is fsynced into its parent, a new
 * segment's name into the stream's directory, a prepended segment's
 * rename too. Recovery reads the head, deletes segments below it,
 * checks every frame, and truncates the last segment at the first frame
 * that is torn or fails its CRC; a bad frame in an earlier segment ends
 * that segment (reported by a shorter spool, never a crash). A stale head
 * (the rename not yet durable) only means records are sent again.
 *
 * Threading: none inside; the producer calls all of this under its lock.
 */
#include "client.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SEG_MAGIC "HYSPOOL1"
#define SEG_HDR 16u
#define FRAME_HDR 8u
#define SEG_MAX (4u * 1024 * 1024)
#define SEQ_BASE (UINT64_C(1) << 40)
#define MAX_SEGS 65536u /* 256 GiB of 4 MiB segments: beyond any cap */

struct seg {
    uint64_t seq;
    uint64_t end; /* bytes of valid data, header included */
};

struct hydrant__spool {
    char dir[PATH_MAX];
    struct seg *segs; /* in sequence order; segs[0] holds the head */
    size_t nsegs, cap;
    struct hydrant__spool_pos head;
    int tail_fd; /* open on segs[nsegs-1] for appends, or -1 */
    uint64_t tail_seq;
    int read_fd; /* open on read_seq for reads, or -1 */
    uint64_t read_seq;
    bool dirty;
};

/* ---- CRC-32 (IEEE 802.3, reflected, as zlib) --------------------------- */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_ieee(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    pthread_once(&crc_once, crc_init);
    while (n--)
        c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---- paths and small file helpers --------------------------------------- */

static int seg_path(const struct hydrant__spool *sp, uint64_t seq, const char *ext, char *out,
                    size_t cap)
{
    int n = snprintf(out, cap, "%s/%016" PRIx64 "%s", sp->dir, seq, ext);
    return n < 0 || (size_t)n >= cap ? HYDRANT_EINVAL : HYDRANT_OK;
}

static void close_fds(struct hydrant__spool *sp)
{
    if (sp->tail_fd >= 0)
        close(sp->tail_fd);
    if (sp->read_fd >= 0)
        close(sp->read_fd);
    sp->tail_fd = sp->read_fd = -1;
}

static int write_all(int fd, const void *buf, size_t n, off_t off)
{
    const unsigned char *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return HYDRANT_EIO;
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return HYDRANT_OK;
}

static int read_all(int fd, void *buf, size_t n, off_t off)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return HYDRANT_EIO;
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return HYDRANT_OK;
}

static int write_head(struct hydrant__spool *sp)
{
    char path[PATH_MAX + 16], tmp[PATH_MAX + 16], text[64];
    int fd, rc;
    snprintf(path, sizeof path, "%s/head", sp->dir);
    snprintf(tmp, sizeof tmp, "%s/head.tmp", sp->dir);
    int n = snprintf(text, sizeof text, "%016" PRIx64 " %" PRIu64 "\n", sp->head.seq, sp->head.off);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        return HYDRANT_EIO;
    rc = write_all(fd, text, (size_t)n, 0);
    close(fd);
    if (rc == HYDRANT_OK && rename(tmp, path) != 0)
        rc = HYDRANT_EIO;
    return rc;
}

/* fsync(2) of a directory, so the names made in it survive power loss
 * (EINVAL: a file system that cannot sync directories, counts as done). */
static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return HYDRANT_EIO;
    int rc = fsync(fd) == 0 || errno == EINVAL ? HYDRANT_OK : HYDRANT_EIO;
    close(fd);
    return rc;
}

/* fsync of the directory that holds path's last component */
static int fsync_parent(char *path)
{
    char *slash = strrchr(path, '/');
    if (!slash)
        return fsync_dir(".");
    if (slash == path)
        return fsync_dir("/");
    *slash = '\0';
    int rc = fsync_dir(path);
    *slash = '/';
    return rc;
}

/* mkdir -p of the stream's directory (the spool directory included);
 * each directory made is synced into its parent */
static int make_dir(struct hydrant__spool *sp)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", sp->dir);
    for (char *at = path + 1; *at; at++) {
        if (*at != '/')
            continue;
        *at = '\0';
        if (mkdir(path, 0755) == 0) {
            if (fsync_parent(path) != HYDRANT_OK)
                return HYDRANT_EIO;
        } else if (errno != EEXIST) {
            return HYDRANT_EIO;
        }
        *at = '/';
    }
    if (mkdir(path, 0755) == 0)
        return fsync_parent(path);
    if (errno != EEXIST)
        return HYDRANT_EIO;
    return HYDRANT_OK;
}

/* Everything consumed: remove the files and the directory. */
static void remove_all(struct hydrant__spool *sp)
{
    char path[PATH_MAX + 32];
    close_fds(sp);
    for (size_t i = 0; i < sp->nsegs; i++)
        if (seg_path(sp, sp->segs[i].seq, ".seg", path, sizeof path) == HYDRANT_OK)
            unlink(path);
    snprintf(path, sizeof path, "%s/head", sp->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/head.tmp", sp->dir);
    unlink(path);
    rmdir(sp->dir);
    sp->nsegs = 0;
    sp->head.seq = 0;
    sp->head.off = 0;
    sp->dirty = false;
}

static int segs_reserve(struct hydrant__spool *sp, size_t n)
{
    if (n <= sp->cap)
        return HYDRANT_OK;
    if (n > MAX_SEGS)
        return HYDRANT_EFULL;
    size_t cap = sp->cap ? sp->cap * 2 : 8;
    while (cap < n)
        cap *= 2;
    struct seg *ns = realloc(sp->segs, cap * sizeof *ns);
    if (!ns)
        return HYDRANT_ENOMEM;
    sp->segs = ns;
    sp->cap = cap;
    return HYDRANT_OK;
}

static int cmp_seg(const void *a, const void *b)
{
    uint64_t x = ((const struct seg *)a)->seq, y = ((const struct seg *)b)->seq;
    return x < y ? -1 : x > y;
}

/* Drops segments before the head; moves the head past finished segments. */
static void normalize(struct hydrant__spool *sp)
{
    char path[PATH_MAX + 32];
    size_t drop = 0;
    while (drop < sp->nsegs &&
           (sp->segs[drop].seq < sp->head.seq ||
            (sp->segs[drop].seq == sp->head.seq && sp->head.off >= sp->segs[drop].end &&
             drop + 1 < sp->nsegs))) {
        if (sp->segs[drop].seq == sp->head.seq)
            sp->head = (struct hydrant__spool_pos){sp->segs[drop + 1].seq, SEG_HDR};
        if (sp->read_fd >= 0 && sp->read_seq == sp->segs[drop].seq) {
            close(sp->read_fd);
            sp->read_fd = -1;
        }
        if (seg_path(sp, sp->segs[drop].seq, ".seg", path, sizeof path) == HYDRANT_OK)
            unlink(path);
        drop++;
    }
    if (drop) {
        memmove(sp->segs, sp->segs + drop, (sp->nsegs - drop) * sizeof *sp->segs);
        sp->nsegs -= drop;
    }
    if (sp->nsegs && sp->head.seq < sp->segs[0].seq)
        sp->head = (struct hydrant__spool_pos){sp->segs[0].seq, SEG_HDR};
}

/* Checks the frames of one segment; returns the end of the valid ones. */
static uint64_t scan_segment(int fd, uint64_t seq, uint64_t size, unsigned char *buf)
{
    unsigned char hdr[SEG_HDR];
    uint64_t off = SEG_HDR;
    if (size < SEG_HDR || read_all(fd, hdr, SEG_HDR, 0) != HYDRANT_OK ||
        memcmp(hdr, SEG_MAGIC, 8) != 0 || get_u64(hdr + 8) != seq)
        return 0;
    while (off + FRAME_HDR <= size) {
        unsigned char fh[FRAME_HDR];
        if (read_all(fd, fh, FRAME_HDR, (off_t)off) != HYDRANT_OK)
            break;
        uint32_t len = get_u32(fh);
        if (len == 0 || len > HYDRANT_MAX_RECORD_BYTES || off + FRAME_HDR + len > size)
            break;
        if (read_all(fd, buf, len, (off_t)(off + FRAME_HDR)) != HYDRANT_OK ||
            crc32_ieee(buf, len) != get_u32(fh + 4))
            break;
        off += FRAME_HDR + len;
    }
    return off;
}

int hydrant__spool_open(const char *dir, const char *stream, struct hydrant__spool **out)
{
    struct hydrant__spool *sp;
    unsigned char *buf = NULL;
    DIR *d;
    struct dirent *de;
    char path[PATH_MAX + 32];
    int rc = HYDRANT_OK;

    *out = NULL;
    if (!(sp = calloc(1, sizeof *sp)))
        return HYDRANT_ENOMEM;
    sp->tail_fd = sp->read_fd = -1;
    int n = snprintf(sp->dir, sizeof sp->dir, "%s/s-%s", dir, stream);
    if (n < 0 || (size_t)n >= sizeof sp->dir) {
        free(sp);
        return HYDRANT_EINVAL;
    }
    if (!(d = opendir(sp->dir))) {
        *out = sp; /* nothing on disk yet */
        return HYDRANT_OK;
    }
    while ((de = readdir(d))) {
        char *end;
        size_t len = strlen(de->d_name);
        if (len != 20 || strcmp(de->d_name + 16, ".seg"))
            continue;
        uint64_t seq = strtoull(de->d_name, &end, 16);
        if (end != de->d_name + 16)
            continue;
        if ((rc = segs_reserve(sp, sp->nsegs + 1)))
            break;
        sp->segs[sp->nsegs++] = (struct seg){seq, 0};
    }
    closedir(d);
    if (rc)
        goto out_free_spool;
    qsort(sp->segs, sp->nsegs, sizeof *sp->segs, cmp_seg);

    /* the head; missing or unreadable means "from the start" */
    sp->head = (struct hydrant__spool_pos){sp->nsegs ? sp->segs[0].seq : 0, SEG_HDR};
    snprintf(path, sizeof path, "%s/head", sp->dir);
    FILE *hf = fopen(path, "re");
    if (hf) {
        uint64_t hseq, hoff;
        if (fscanf(hf, "%" SCNx64 " %" SCNu64, &hseq, &hoff) == 2 && hoff >= SEG_HDR)
            sp->head = (struct hydrant__spool_pos){hseq, hoff};
        fclose(hf);
    }

    if (!(buf = malloc(HYDRANT_MAX_RECORD_BYTES))) {
        rc = HYDRANT_ENOMEM;
        goto out_free_spool;
    }
    for (size_t i = 0; i < sp->nsegs; i++) {
        struct stat st;
        if (sp->segs[i].seq < sp->head.seq)
            continue; /* consumed; normalize() deletes it */
        if (seg_path(sp, sp->segs[i].seq, ".seg", path, sizeof path) != HYDRANT_OK)
            continue;
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) != 0) {
            if (fd >= 0)
                close(fd);
            continue; /* end stays 0: treated as empty */
        }
        sp->segs[i].end = scan_segment(fd, sp->segs[i].seq, (uint64_t)st.st_size, buf);
        if (i + 1 == sp->nsegs && sp->segs[i].end < (uint64_t)st.st_size) {
            /* a torn tail: cut it so appends continue after valid frames */
            if (sp->segs[i].end < SEG_HDR)
                sp->segs[i].end = 0;
            if (ftruncate(fd, (off_t)sp->segs[i].end) != 0)
                rc = HYDRANT_EIO;
        }
        close(fd);
        if (sp->segs[i].end < SEG_HDR)
            sp->segs[i].end = SEG_HDR; /* unreadable header: nothing in it */
    }
    free(buf);
    buf = NULL;
    if (rc)
        goto out_free_spool;
    normalize(sp);
    if (sp->nsegs && sp->head.off > sp->segs[0].end)
        sp->head.off = sp->segs[0].end;
    if (hydrant__spool_empty(sp))
        remove_all(sp);
    *out = sp;
    return HYDRANT_OK;

out_free_spool:
    free(buf);
    hydrant__spool_free(sp);
    return rc;
}

void hydrant__spool_free(struct hydrant__spool *sp)
{
    if (!sp)
        return;
    close_fds(sp);
    free(sp->segs);
    free(sp);
}

int hydrant__spool_list(const char *dir, void (*fn)(const char *stream, void *ctx), void *ctx)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    if (!d)
        return errno == ENOENT ? HYDRANT_OK : HYDRANT_EIO;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, "s-", 2) && de->d_name[2] &&
            strlen(de->d_name + 2) <= HYDRANT_MAX_STREAM_NAME)
            fn(de->d_name + 2, ctx);
    closedir(d);
    return HYDRANT_OK;
}

bool hydrant__spool_empty(const struct hydrant__spool *sp)
{
    for (size_t i = 0; i < sp->nsegs; i++) {
        uint64_t start = sp->segs[i].seq == sp->head.seq ? sp->head.off : SEG_HDR;
        if (sp->segs[i].seq >= sp->head.seq && sp->segs[i].end > start)
            return false;
    }
    return true;
}

uint64_t hydrant__spool_bytes(const struct hydrant__spool *sp)
{
    uint64_t total = 0;
    for (size_t i = 0; i < sp->nsegs; i++)
        total += sp->segs[i].end;
    return total;
}

uint64_t hydrant__spool_frame_bytes(size_t len)
{
    return FRAME_HDR + (uint64_t)len;
}

static int open_seg_fd(struct hydrant__spool *sp, uint64_t seq, bool create, int *fd)
{
    char path[PATH_MAX + 32];
    if (seg_path(sp, seq, ".seg", path, sizeof path) != HYDRANT_OK)
        return HYDRANT_EINVAL;
    *fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0644);
    return *fd < 0 ? HYDRANT_EIO : HYDRANT_OK;
}

static int write_seg_header(int fd, uint64_t seq)
{
    unsigned char hdr[SEG_HDR];
    memcpy(hdr, SEG_MAGIC, 8);
    put_u64(hdr + 8, seq);
    return write_all(fd, hdr, SEG_HDR, 0);
}

/* Writes one frame at off; on failure nothing after off is kept. */
static int write_frame(int fd, const struct hydrant__rec *r, uint64_t off)
{
    unsigned char fh[FRAME_HDR];
    struct iovec iov[2] = {{fh, FRAME_HDR}, {(void *)r->data, r->len}};
    size_t want = FRAME_HDR + r->len;
    put_u32(fh, r->len);
    put_u32(fh + 4, crc32_ieee(r->data, r->len));
    ssize_t w;
    do
        w = pwritev(fd, iov, 2, (off_t)off);
    while (w < 0 && errno == EINTR);
    if (w == (ssize_t)want)
        return HYDRANT_OK;
    if (w > 0) {
        /* short write: finish it the slow way */
        size_t done = (size_t)w;
        if (done < FRAME_HDR) {
            if (write_all(fd, fh + done, FRAME_HDR - done, (off_t)(off + done)) != HYDRANT_OK ||
                write_all(fd, r->data, r->len, (off_t)(off + FRAME_HDR)) != HYDRANT_OK)
                goto fail;
        } else if (write_all(fd, r->data + (done - FRAME_HDR), want - done, (off_t)(off + done)) !=
                   HYDRANT_OK) {
            goto fail;
        }
        return HYDRANT_OK;
    }
fail:
    if (ftruncate(fd, (off_t)off) != 0) {
        /* the torn frame stays; recovery cuts it (its CRC cannot match) */
    }
    return HYDRANT_EIO;
}

static int new_segment(struct hydrant__spool *sp, uint64_t seq)
{
    int fd, rc;
    if ((rc = segs_reserve(sp, sp->nsegs + 1)))
        return rc;
    if ((rc = open_seg_fd(sp, seq, true, &fd)))
        return rc;
    /* the new name is durable before a record in it is called durable */
    if ((rc = write_seg_header(fd, seq)) || (rc = fsync_dir(sp->dir))) {
        char path[PATH_MAX + 32];
        close(fd);
        if (seg_path(sp, seq, ".seg", path, sizeof path) == HYDRANT_OK)
            unlink(path);
        return rc;
    }
    if (sp->tail_fd >= 0) {
        if (sp->dirty)
            fdatasync(sp->tail_fd); /* the old tail is final now */
        close(sp->tail_fd);
    }
    sp->tail_fd = fd;
    sp->tail_seq = seq;
    sp->segs[sp->nsegs++] = (struct seg){seq, SEG_HDR};
    if (sp->nsegs == 1)
        sp->head = (struct hydrant__spool_pos){seq, SEG_HDR};
    return HYDRANT_OK;
}

int hydrant__spool_append(struct hydrant__spool *sp, struct hydrant__rec *const *recs, size_t n)
{
    int rc;
    if (n && (rc = make_dir(sp)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        uint64_t fb = FRAME_HDR + recs[i]->len;
        struct seg *last = sp->nsegs ? &sp->segs[sp->nsegs - 1] : NULL;
        if (!last || (last->end + fb > SEG_MAX && last->end > SEG_HDR)) {
            if ((rc = new_segment(sp, last ? last->seq + 1 : SEQ_BASE)))
                return rc;
            last = &sp->segs[sp->nsegs - 1];
        }
        if (sp->tail_fd < 0 || sp->tail_seq != last->seq) {
            if (sp->tail_fd >= 0)
                close(sp->tail_fd);
            sp->tail_fd = -1;
            if ((rc = open_seg_fd(sp, last->seq, false, &sp->tail_fd)))
                return rc;
            sp->tail_seq = last->seq;
        }
        if ((rc = write_frame(sp->tail_fd, recs[i], last->end)))
            return rc;
        last->end += fb;
        sp->dirty = true;
    }
    return HYDRANT_OK;
}

int hydrant__spool_prepend(struct hydrant__spool *sp, struct hydrant__rec *const *recs, size_t n)
{
    char tmp[PATH_MAX + 32], path[PATH_MAX + 32];
    unsigned char *buf = NULL;
    int fd = -1, rc;

    if (!n)
        return HYDRANT_OK;
    if (hydrant__spool_empty(sp)) {
        remove_all(sp);
        return hydrant__spool_append(sp, recs, n);
    }
    struct seg first = sp->segs[0];
    uint64_t seq = first.seq - 1, off = SEG_HDR;
    if ((rc = segs_reserve(sp, sp->nsegs + 1)))
        return rc;
    if ((rc = seg_path(sp, seq, ".seg.tmp", tmp, sizeof tmp)) ||
        (rc = seg_path(sp, seq, ".seg", path, sizeof path)))
        return rc;
    if ((fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        return HYDRANT_EIO;
    if ((rc = write_seg_header(fd, seq)))
        goto out_close;
    for (size_t i = 0; i < n; i++) {
        if ((rc = write_frame(fd, recs[i], off)))
            goto out_close;
        off += FRAME_HDR + recs[i]->len;
    }
    /* the unconsumed rest of the first segment follows, so that segment
     * can go and the head need not remember where it was in it */
    uint64_t rest = first.end - sp->head.off;
    if (rest) {
        int src;
        if ((rc = open_seg_fd(sp, first.seq, false, &src)))
            goto out_close;
        if (!(buf = malloc(rest))) {
            close(src);
            rc = HYDRANT_ENOMEM;
            goto out_close;
        }
        rc = read_all(src, buf, rest, (off_t)sp->head.off);
        close(src);
        if (rc || (rc = write_all(fd, buf, rest, (off_t)off)))
            goto out_close;
        off += rest;
    }
    if (fdatasync(fd) != 0 || rename(tmp, path) != 0 || fsync_dir(sp->dir) != HYDRANT_OK) {
        rc = HYDRANT_EIO;
        goto out_close;
    }
    close(fd);
    fd = -1;
    /* the new segment replaces the old first one */
    if (sp->tail_fd >= 0 && sp->tail_seq == first.seq) {
        close(sp->tail_fd);
        sp->tail_fd = -1;
    }
    if (sp->read_fd >= 0 && sp->read_seq == first.seq) {
        close(sp->read_fd);
        sp->read_fd = -1;
    }
    sp->segs[0] = (struct seg){seq, off};
    sp->head = (struct hydrant__spool_pos){seq, SEG_HDR};
    if ((rc = write_head(sp)))
        goto out_free;
    if (seg_path(sp, first.seq, ".seg", path, sizeof path) == HYDRANT_OK)
        unlink(path);
    goto out_free;

out_close:
    close(fd);
    unlink(tmp);
out_free:
    free(buf);
    return rc;
}

int hydrant__spool_read(struct hydrant__spool *sp, size_t max_records, size_t max_bytes,
                        struct hydrant__rec **recs, size_t *n, struct hydrant__spool_pos *end)
{
    struct hydrant__spool_pos pos = sp->head;
    size_t count = 0, bytes = 0, i = 0;
    int rc = HYDRANT_OK;

    while (i < sp->nsegs && sp->segs[i].seq != pos.seq)
        i++;
    while (i < sp->nsegs && count < max_records) {
        if (pos.off >= sp->segs[i].end) {
            if (++i < sp->nsegs)
                pos = (struct hydrant__spool_pos){sp->segs[i].seq, SEG_HDR};
            continue;
        }
        if (sp->read_fd < 0 || sp->read_seq != pos.seq) {
            if (sp->read_fd >= 0)
                close(sp->read_fd);
            sp->read_fd = -1;
            if ((rc = open_seg_fd(sp, pos.seq, false, &sp->read_fd)))
                break;
            sp->read_seq = pos.seq;
        }
        unsigned char fh[FRAME_HDR];
        if ((rc = read_all(sp->read_fd, fh, FRAME_HDR, (off_t)pos.off)))
            break;
        uint32_t len = get_u32(fh);
        if (len == 0 || len > HYDRANT_MAX_RECORD_BYTES || pos.off + FRAME_HDR + len > sp->segs[i].end) {
            rc = HYDRANT_EIO;
            break;
        }
        if (count && bytes + len > max_bytes)
            break;
        struct hydrant__rec *r = malloc(sizeof *r + len);
        if (!r) {
            rc = HYDRANT_ENOMEM;
            break;
        }
        r->next = NULL;
        r->len = len;
        if ((rc = read_all(sp->read_fd, r->data, len, (off_t)(pos.off + FRAME_HDR))) ||
            crc32_ieee(r->data, len) != get_u32(fh + 4)) {
            free(r);
            rc = HYDRANT_EIO;
            break;
        }
        recs[count++] = r;
        bytes += len;
        pos.off += FRAME_HDR + len;
    }
    if (rc) {
        while (count)
            free(recs[--count]);
    }
    *n = count;
    *end = pos;
    return rc;
}

int hydrant__spool_commit(struct hydrant__spool *sp, struct hydrant__spool_pos pos)
{
    sp->head = pos;
    normalize(sp);
    if (hydrant__spool_empty(sp)) {
        remove_all(sp);
        return HYDRANT_OK;
    }
    return write_head(sp);
}

int hydrant__spool_sync(struct hydrant__spool *sp)
{
    if (!sp->dirty || sp->tail_fd < 0)
        return HYDRANT_OK;
    sp->dirty = false;
    return fdatasync(sp->tail_fd) == 0 ? HYDRANT_OK : HYDRANT_EIO;
}
