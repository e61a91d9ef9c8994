/* test_wal.c -- the write-ahead log: round trip, group commit, rotation and
 * release, torn tail, corruption in the middle, older formats, and frames
 * forged inside record data (issue 11): after a torn or corrupt region the
 * resync must never take one for a real frame; the fsync discipline
 * (issue 12), with faults injected through wal_io: a failed fsync is
 * never retried on its descriptor, its group is not acknowledged, the log
 * goes on in a new segment or stops; the directory and file fsyncs that
 * make creation, deletion and truncation durable. Frame sizes below are
 * of the current format: a 32-byte segment header, 40-byte frame headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal.h"

#include <zlib.h>

struct hy_config hy_cfg = {.region = "us-east-1"};

static char *tmpdir(void)
{
    static char path[64];
    strcpy(path, "/tmp/hydrant-walXXXXXX");
    assert_non_null(mkdtemp(path));
    return strdup(path);
}

static void rm_rf(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

struct collected {
    size_t n;
    uint64_t lsn[4096];
    uint32_t stream[4096];
    char data[4096][32];
};

static void collect(void *ctx, const struct wal_frame *f)
{
    struct collected *c = ctx;
    assert_true(c->n < 4096);
    c->lsn[c->n] = f->lsn;
    c->stream[c->n] = f->stream_id;
    size_t l = f->len < 31 ? f->len : 31;
    memcpy(c->data[c->n], f->data, l);
    c->data[c->n][l] = 0;
    c->n++;
}

static struct wal *open_wal(const char *dir, size_t seg, struct collected *c,
                            struct wal_replay_stats *st)
{
    struct wal_config cfg = {dir, seg, true};
    struct wal *w;
    assert_int_equal(wal_open(&cfg, &w), HY_OK);
    memset(c, 0, sizeof *c);
    assert_int_equal(wal_replay(w, collect, c, st), HY_OK);
    assert_int_equal(wal_start(w), HY_OK);
    return w;
}

static void put_n(struct wal *w, int from, int n, uint32_t stream)
{
    for (int i = from; i < from + n; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "record-%d", i);
        struct wal_frame f = {WAL_RECORD, stream, 0, 1700000000000LL + i, msg,
                              (uint32_t)strlen(msg)};
        assert_int_equal(wal_append_sync(w, &f, 1), HY_OK);
        assert_true(f.lsn > 0);
    }
}

static void test_round_trip(void **s)
{
    (void)s;
    char *dir = tmpdir();
    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 0);
    put_n(w, 0, 10, 7);
    /* a batch of three frames in one append */
    struct wal_frame fs[3] = {
        {WAL_RECORD, 8, 0, 1, "a", 1}, {WAL_RECORD, 8, 0, 2, "b", 1}, {WAL_RECORD, 8, 0, 3, "", 0}};
    assert_int_equal(wal_append_sync(w, fs, 3), HY_OK);
    assert_true(fs[0].lsn + 1 == fs[1].lsn && fs[1].lsn + 1 == fs[2].lsn);
    wal_close(w);

    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 13);
    assert_int_equal(st.torn_bytes, 0);
    assert_int_equal(st.corrupt_regions, 0);
    for (size_t i = 0; i < 10; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "record-%zu", i);
        assert_string_equal(c->data[i], msg);
        assert_int_equal(c->stream[i], 7);
        assert_int_equal(c->lsn[i], i + 1);
    }
    assert_string_equal(c->data[11], "b");
    assert_string_equal(c->data[12], "");
    /* LSNs continue after a restart */
    struct wal_frame f = {WAL_RECORD, 1, 0, 0, "x", 1};
    assert_int_equal(wal_append_sync(w, &f, 1), HY_OK);
    assert_int_equal(f.lsn, 14);
    wal_close(w);
    rm_rf(dir);
    free(dir);
    free(c);
}

struct thread_arg {
    struct wal *w;
    int id;
};

static void *hammer(void *p)
{
    struct thread_arg *a = p;
    for (int i = 0; i < 200; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "t%d-%d", a->id, i);
        struct wal_frame f = {WAL_RECORD, (uint32_t)a->id, 0, i, msg, (uint32_t)strlen(msg)};
        if (wal_append_sync(a->w, &f, 1) != HY_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_group_commit(void **s)
{
    (void)s;
    char *dir = tmpdir();
    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 0, c, &st);
    pthread_t th[16];
    struct thread_arg args[16];
    for (int i = 0; i < 16; i++) {
        args[i] = (struct thread_arg){w, i};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 16; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    struct wal_stats ws;
    wal_get_stats(w, &ws);
    assert_int_equal(ws.frames, 3200);
    /* 16 writers waiting at once share fsyncs */
    assert_true(ws.fsyncs < 3200);
    print_message("group commit: 3200 appends, %llu fsyncs\n", (unsigned long long)ws.fsyncs);
    wal_close(w);
    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 3200);
    /* per writer, order is kept */
    int next[16] = {0};
    for (size_t i = 0; i < c->n; i++) {
        int t, k;
        assert_int_equal(sscanf(c->data[i], "t%d-%d", &t, &k), 2);
        assert_int_equal(k, next[t]);
        next[t]++;
    }
    wal_close(w);
    rm_rf(dir);
    free(dir);
    free(c);
}

static size_t count_segments(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".wal"))
            n++;
    closedir(d);
    return n;
}

static void test_rotation_and_release(void **s)
{
    (void)s;
    char *dir = tmpdir();
    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 200, c, &st); /* tiny segments */
    put_n(w, 0, 30, 1);
    size_t before = count_segments(dir);
    assert_true(before >= 5);
    wal_release(w, 20); /* frames 1..19 are delivered */
    size_t after = count_segments(dir);
    assert_true(after < before);
    wal_close(w);
    w = open_wal(dir, 200, c, &st);
    /* every frame from 20 on is still there */
    assert_true(c->n >= 11);
    assert_true(c->lsn[0] <= 20);
    assert_int_equal(c->lsn[c->n - 1], 30);
    wal_release(w, 31);
    assert_int_equal(count_segments(dir), 1); /* only the current one */
    wal_close(w);
    rm_rf(dir);
    free(dir);
    free(c);
}

static char *last_segment(const char *dir)
{
    static char path[512];
    DIR *d = opendir(dir);
    struct dirent *de;
    char best[64] = "";
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".wal") && strcmp(de->d_name, best) > 0)
            strcpy(best, de->d_name);
    closedir(d);
    snprintf(path, sizeof path, "%s/%s", dir, best);
    return path;
}

static char *segment_with_frames(const char *dir)
{
    /* the newest segment that holds more than a header */
    static char path[512];
    DIR *d = opendir(dir);
    struct dirent *de;
    char best[64] = "";
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".wal"))
            continue;
        char p[512];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (stat(p, &sb) == 0 && sb.st_size > WAL_SEGMENT_HEADER &&
            strcmp(de->d_name, best) > 0)
            strcpy(best, de->d_name);
    }
    closedir(d);
    snprintf(path, sizeof path, "%s/%s", dir, best);
    return path;
}

/* End of the last valid frame of a segment (wal_scan_file) */
static uint64_t frames_end(const char *seg)
{
    struct collected *c = calloc(1, sizeof *c);
    struct wal_scan_info info;
    assert_int_equal(wal_scan_file(seg, collect, NULL, c, &info), HY_OK);
    free(c);
    return info.valid_end;
}

static void test_torn_tail(void **s)
{
    (void)s;
    char *dir = tmpdir();
    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 0, c, &st);
    put_n(w, 0, 5, 1);
    wal_close(w);
    /* small commits laid zeros down ahead of the frames: a clean end */
    char *seg = last_segment(dir);
    struct stat sb;
    assert_int_equal(stat(seg, &sb), 0);
    uint64_t end = frames_end(seg);
    assert_int_equal(end, 32 + 5 * 48);
    assert_true((uint64_t)sb.st_size > end);
    /* a write torn at the end of the file (an appending commit) */
    assert_int_equal(truncate(seg, (off_t)end - 3), 0);
    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 4);
    assert_int_equal(st.torn_bytes, 45);
    assert_int_equal(st.corrupt_regions, 0);
    put_n(w, 100, 1, 1);
    wal_close(w);
    /* a write torn over the zeros laid ahead: the last 3 bytes of the
     * newest frame ("record-100", 50 bytes) never reached the disk */
    seg = last_segment(dir);
    end = frames_end(seg);
    assert_int_equal(end, 32 + 50);
    int fd = open(seg, O_RDWR);
    assert_int_equal(pwrite(fd, "\0\0\0", 3, (off_t)end - 3), 3);
    close(fd);
    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 4);
    assert_int_equal(st.torn_bytes, 47);
    put_n(w, 101, 1, 1);
    wal_close(w);
    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 5);
    assert_int_equal(st.torn_bytes, 0);
    assert_int_equal(st.corrupt_regions, 0);
    assert_string_equal(c->data[4], "record-101");
    wal_close(w);
    /* garbage after the frames of an older segment is corruption there:
     * reported, and every valid frame is still recovered */
    seg = segment_with_frames(dir);
    FILE *f = fopen(seg, "ab");
    fwrite("\x01\x02garbage-garbage-garbage-garbage-garbage", 1, 40, f);
    fclose(f);
    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 5);
    assert_int_equal(st.corrupt_regions, 1);
    wal_close(w);
    rm_rf(dir);
    free(dir);
    free(c);
}

static void test_corrupt_middle(void **s)
{
    (void)s;
    char *dir = tmpdir();
    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 0, c, &st);
    put_n(w, 0, 9, 1);
    wal_close(w);
    char *seg = segment_with_frames(dir);
    /* frames are 40 + len("record-N") = 48 bytes; flip a payload byte of frame 4 */
    int fd = open(seg, O_RDWR);
    off_t off = 32 + 4 * 48 + 43;
    char ch;
    assert_int_equal(pread(fd, &ch, 1, off), 1);
    ch ^= 0x40;
    assert_int_equal(pwrite(fd, &ch, 1, off), 1);
    close(fd);
    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 8);   /* all but the damaged one */
    assert_int_equal(st.corrupt_regions, 1);
    assert_int_equal(st.torn_bytes, 0);
    assert_string_equal(c->data[3], "record-3");
    assert_string_equal(c->data[4], "record-5");
    assert_string_equal(c->data[7], "record-8");
    wal_close(w);
    rm_rf(dir);
    free(dir);
    free(c);
}

static void test_scan_file(void **s)
{
    (void)s;
    char *dir = tmpdir();
    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 0, c, &st);
    put_n(w, 0, 3, 2);
    unsigned char range[16];
    struct wal_range r = {1, 3};
    wal_range_encode(range, &r);
    struct wal_frame f = {WAL_SEAL, 2, 0, 5, range, 16};
    assert_int_equal(wal_append_sync(w, &f, 1), HY_OK);
    wal_close(w);
    memset(c, 0, sizeof *c);
    struct wal_scan_info info;
    assert_int_equal(wal_scan_file(segment_with_frames(dir), collect, NULL, c, &info), HY_OK);
    assert_int_equal(c->n, 4);
    assert_int_equal(info.version, 3);
    assert_int_equal(info.valid_end, 32 + 3 * 48 + 40 + 16);
    struct wal_frame g = {WAL_SEAL, 2, 4, 5, range, 16};
    struct wal_range back;
    assert_int_equal(wal_range_decode(&g, &back), HY_OK);
    assert_int_equal(back.first_lsn, 1);
    assert_int_equal(back.last_lsn, 3);
    rm_rf(dir);
    free(dir);
    free(c);
}

static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> 8 * i);
}

static void le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> 8 * i);
}

/* One frame laid out as a writer of `version` lays it out, independently
 * of wal.c: 1 (HYDRWAL1: 32-byte header, zlib's CRC-32), 2 (HYDRWAL2:
 * 32-byte header, CRC-32C) or 3 (HYDRWAL3: 40-byte header ending with the
 * salt, CRC-32C over it). Returns its length. */
static size_t build_frame(unsigned char *out, int version, uint8_t type, uint32_t stream,
                          uint64_t lsn, uint64_t salt, const void *payload, uint32_t len)
{
    size_t hl = version >= 3 ? 40 : 32;
    memset(out, 0, hl);
    le32(out + 4, len);
    out[8] = type;
    le32(out + 12, stream);
    le64(out + 16, lsn);
    le64(out + 24, 1700000000000ULL);
    if (version >= 3)
        le64(out + 32, salt);
    if (len)
        memcpy(out + hl, payload, len);
    uint32_t c = version == 1
                     ? (uint32_t)crc32(crc32(0L, Z_NULL, 0), out + 4, (uInt)(hl - 4 + len))
                     : hy_crc32c_sw(0, out + 4, hl - 4 + len);
    le32(out, c);
    return hl + len;
}

/* A segment file of format 1 or 2, as those writers made them: records
 * "<tag>-<i>" for i < n from first_lsn on, then extra bytes (may be NULL). */
static void write_old_segment(const char *dir, uint64_t seq, int version, const char *tag,
                              uint64_t first_lsn, int n, const void *extra, size_t extra_len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%016llx.wal", dir, (unsigned long long)seq);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    unsigned char hdr[16];
    memcpy(hdr, version == 1 ? "HYDRWAL1" : "HYDRWAL2", 8);
    le64(hdr + 8, seq);
    fwrite(hdr, 1, 16, fp);
    for (int i = 0; i < n; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "%s-%d", tag, i);
        unsigned char fr[64];
        size_t fl = build_frame(fr, version, WAL_RECORD, 7, first_lsn + (uint64_t)i, 0, msg,
                                (uint32_t)len);
        fwrite(fr, 1, fl, fp);
    }
    if (extra_len)
        fwrite(extra, 1, extra_len, fp);
    fclose(fp);
}

/* Logs written before the salt: "HYDRWAL1" segments (zlib's CRC-32) and
 * "HYDRWAL2" segments (CRC-32C), 16-byte headers, 32-byte frame headers.
 * They still replay, in order with each other; what is written next is
 * HYDRWAL3. */
static void test_v1_segments_replay(void **s)
{
    (void)s;
    char *dir = tmpdir();
    write_old_segment(dir, 1, 1, "old", 1, 3, NULL, 0);
    write_old_segment(dir, 2, 2, "v2", 4, 3, NULL, 0);

    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 6);
    assert_int_equal(st.corrupt_regions, 0);
    assert_int_equal(st.torn_bytes, 0);
    assert_string_equal(c->data[2], "old-2");
    assert_int_equal(c->lsn[2], 3);
    assert_string_equal(c->data[5], "v2-2");
    assert_int_equal(c->lsn[5], 6);
    put_n(w, 0, 2, 7);
    wal_close(w);

    /* the new frames went to a HYDRWAL3 segment; all three formats replay together */
    char *seg = segment_with_frames(dir);
    struct wal_scan_info info;
    memset(c, 0, sizeof *c);
    assert_int_equal(wal_scan_file(seg, collect, NULL, c, &info), HY_OK);
    assert_int_equal(info.version, 3);
    assert_int_equal(info.seq, 3);
    assert_int_equal(c->n, 2);
    unsigned char magic[8] = {0};
    FILE *fp = fopen(seg, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(magic, 1, 8, fp), 8);
    fclose(fp);
    assert_memory_equal(magic, "HYDRWAL3", 8);
    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 8);
    assert_int_equal(c->lsn[7], 8);
    assert_string_equal(c->data[0], "old-0");
    assert_string_equal(c->data[3], "v2-0");
    assert_string_equal(c->data[7], "record-1");
    assert_int_equal(st.corrupt_regions, 0);
    wal_close(w);
    rm_rf(dir);
    free(dir);
    free(c);
}

/* ---- forged frames (issue 11) ------------------------------------------ */
#define FORGED_LSN 1000
#define N_GUESSES 6

/* A complete frame an attacker hides in a record's data, built the way
 * each format's writer builds one, with what a client can know or guess:
 * the stream id (1, the first stream), an LSN above every real one, and
 * for HYDRWAL3 a guessed salt. Each would be harmful if taken for real: a
 * SEAL sends records to a bucket and key the attacker names, a DELIVERED
 * drops them, a RECORD injects data. kind N_GUESSES: the segment's real
 * salt, which only someone who reads the data directory has. */
static size_t forged_frame(unsigned char *out, int kind, uint64_t real_salt)
{
    unsigned char seal[WAL_SEAL_MAX], range[16];
    struct wal_range r = {1, FORGED_LSN - 1};
    size_t sl = wal_seal_encode(seal, &r, "victim-bucket", "forged/key");
    wal_range_encode(range, &r);
    switch (kind) {
    case 0: /* as HYDRWAL2 writes frames: no salt, CRC-32C */
        return build_frame(out, 2, WAL_SEAL, 1, FORGED_LSN, 0, seal, (uint32_t)sl);
    case 1: /* as HYDRWAL1 writes them: no salt, zlib's CRC-32 */
        return build_frame(out, 1, WAL_RECORD, 1, FORGED_LSN, 0, "FORGED", 6);
    case 2: /* HYDRWAL3, the salt guessed as zero */
        return build_frame(out, 3, WAL_SEAL, 1, FORGED_LSN, 0, seal, (uint32_t)sl);
    case 3: /* HYDRWAL3, all ones */
        return build_frame(out, 3, WAL_DELIVERED, 1, FORGED_LSN, UINT64_MAX, range, 16);
    case 4: /* HYDRWAL3, some other guess */
        return build_frame(out, 3, WAL_RECORD, 1, FORGED_LSN, 0x0123456789abcdefULL,
                           "FORGED", 6);
    case 5: /* HYDRWAL3, the salt off by one bit */
        return build_frame(out, 3, WAL_SEAL, 1, FORGED_LSN, real_salt ^ 1, seal,
                           (uint32_t)sl);
    default:
        return build_frame(out, 3, WAL_SEAL, 1, FORGED_LSN, real_salt, seal, (uint32_t)sl);
    }
}

/* The attack record: a tag, the forged frame, then padding (so a tear can
 * cut the real frame after the forged one is complete). */
static size_t attack_record(unsigned char *out, int kind, uint64_t real_salt)
{
    size_t n = (size_t)sprintf((char *)out, "ATTACK%d:", kind);
    n += forged_frame(out + n, kind, real_salt);
    memcpy(out + n, "--padding--padding--", 20);
    return n + 20;
}

static void put_bytes(struct wal *w, const void *p, size_t n)
{
    struct wal_frame f = {WAL_RECORD, 1, 0, 1700000000000LL, p, (uint32_t)n};
    assert_int_equal(wal_append_sync(w, &f, 1), HY_OK);
}

struct typed {
    size_t n, forged;
    uint8_t type[64];
    uint64_t lsn[64];
    char data[64][16];
};

/* Counts what replay yields; a frame is forged when it is not a RECORD, its
 * LSN is the forged one or its data says FORGED. */
static void collect_typed(void *ctx, const struct wal_frame *f)
{
    struct typed *t = ctx;
    if (f->type != WAL_RECORD || f->lsn >= FORGED_LSN ||
        (f->len >= 6 && memcmp(f->data, "FORGED", 6) == 0))
        t->forged++;
    if (t->n < 64) {
        t->type[t->n] = f->type;
        t->lsn[t->n] = f->lsn;
        size_t l = f->len < 15 ? f->len : 15;
        memcpy(t->data[t->n], f->data, l);
        t->data[t->n][l] = 0;
    }
    t->n++;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)sz + 1);
    assert_int_equal(fread(p, 1, (size_t)sz, fp), (size_t)sz);
    fclose(fp);
    *n = (size_t)sz;
    return p;
}

/* Offset of the first occurrence of needle in the file. */
static size_t find_in_file(const char *path, const char *needle)
{
    size_t n, l = strlen(needle);
    unsigned char *p = slurp(path, &n);
    for (size_t i = 0; i + l <= n; i++)
        if (memcmp(p + i, needle, l) == 0) {
            free(p);
            return i;
        }
    fail_msg("%s not in %s", needle, path);
    return 0;
}

static struct wal *replay_typed(const char *dir, struct typed *t, struct wal_replay_stats *st)
{
    struct wal_config cfg = {dir, 0, true};
    struct wal *w;
    assert_int_equal(wal_open(&cfg, &w), HY_OK);
    memset(t, 0, sizeof *t);
    assert_int_equal(wal_replay(w, collect_typed, t, st), HY_OK);
    return w;
}

/* The salt of the newest segment, read as an operator could. */
static uint64_t current_salt(const char *dir)
{
    struct collected *c = calloc(1, sizeof *c);
    struct wal_scan_info info;
    assert_int_equal(wal_scan_file(last_segment(dir), collect, NULL, c, &info), HY_OK);
    free(c);
    assert_int_equal(info.version, 3);
    return info.salt;
}

/* Records whose data are complete frames, each right after a real frame
 * whose header is damaged (its CRC byte flipped): the resync walks through
 * the damaged frame's payload and must skip the forged frame in it,
 * resuming exactly at the next real frame. */
static void test_forged_frames_after_corruption(void **s)
{
    (void)s;
    char *dir = tmpdir();
    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 0, c, &st);
    uint64_t salt = current_salt(dir);
    size_t attack_frames = 0;
    for (int k = 0; k < N_GUESSES; k++) {
        char real[32];
        snprintf(real, sizeof real, "real-%d", k);
        put_bytes(w, real, strlen(real));
        unsigned char a[2048];
        size_t n = attack_record(a, k, salt);
        put_bytes(w, a, n);
        attack_frames += WAL_FRAME_HEADER + n;
    }
    put_bytes(w, "real-end", 8);
    wal_close(w);

    char *seg = segment_with_frames(dir);
    int fd = open(seg, O_RDWR);
    assert_true(fd >= 0);
    for (int k = 0; k < N_GUESSES; k++) {
        char tag[32];
        snprintf(tag, sizeof tag, "ATTACK%d:", k);
        off_t at = (off_t)(find_in_file(seg, tag) - WAL_FRAME_HEADER);
        unsigned char ch;
        assert_int_equal(pread(fd, &ch, 1, at), 1);
        ch ^= 0xff;
        assert_int_equal(pwrite(fd, &ch, 1, at), 1);
    }
    close(fd);

    struct typed *t = calloc(1, sizeof *t);
    w = replay_typed(dir, t, &st);
    assert_int_equal(t->forged, 0);
    assert_int_equal(t->n, N_GUESSES + 1);
    for (int k = 0; k < N_GUESSES; k++) {
        char real[32];
        snprintf(real, sizeof real, "real-%d", k);
        assert_string_equal(t->data[k], real);
    }
    assert_string_equal(t->data[N_GUESSES], "real-end");
    assert_int_equal(st.corrupt_regions, N_GUESSES);
    assert_int_equal(st.corrupt_bytes, attack_frames); /* the damaged frames, no more */
    assert_int_equal(st.torn_bytes, 0);
    /* and the log goes on after the real LSNs, not the forged one */
    assert_int_equal(wal_start(w), HY_OK);
    struct wal_frame f = {WAL_RECORD, 1, 0, 0, "x", 1};
    assert_int_equal(wal_append_sync(w, &f, 1), HY_OK);
    assert_int_equal(f.lsn, 2 * N_GUESSES + 2);
    wal_close(w);
    rm_rf(dir);
    free(dir);
    free(c);
    free(t);
}

/* Tears the last frame of the log (a record holding a forged frame) after
 * the forged frame is complete on disk: it lies in the torn tail, which
 * recovery must truncate without taking the forged frame for real. With
 * the segment's real salt (kind N_GUESSES) the forgery is accepted: that
 * is what the salt cannot stop, and shows this test sees a forgery. */
static void test_forged_frame_in_torn_tail(void **s)
{
    (void)s;
    for (int k = 0; k <= N_GUESSES; k++) {
        char *dir = tmpdir();
        struct collected *c = calloc(1, sizeof *c);
        struct wal_replay_stats st;
        struct wal *w = open_wal(dir, 0, c, &st);
        uint64_t salt = current_salt(dir);
        put_bytes(w, "real-0", 6);
        put_bytes(w, "real-1", 6);
        unsigned char a[2048];
        size_t n = attack_record(a, k, salt);
        put_bytes(w, a, n);
        wal_close(w);
        char *seg = segment_with_frames(dir);
        char tag[32];
        snprintf(tag, sizeof tag, "ATTACK%d:", k);
        size_t payload = find_in_file(seg, tag);
        size_t cut = payload + n - 10; /* in the padding: the frame is torn */
        assert_int_equal(truncate(seg, (off_t)cut), 0);

        struct typed *t = calloc(1, sizeof *t);
        w = replay_typed(dir, t, &st);
        if (k < N_GUESSES) {
            assert_int_equal(t->forged, 0);
            assert_int_equal(t->n, 2);
            assert_string_equal(t->data[1], "real-1");
            assert_int_equal(st.torn_bytes, cut - (payload - WAL_FRAME_HEADER));
            assert_int_equal(st.corrupt_regions, 0);
        } else {
            /* whoever reads the data directory can forge: documented */
            assert_int_equal(t->forged, 1);
            assert_int_equal(t->n, 3);
            assert_int_equal(t->type[2], WAL_SEAL);
            assert_int_equal(t->lsn[2], FORGED_LSN);
        }
        wal_close(w);
        rm_rf(dir);
        free(dir);
        free(c);
        free(t);
    }
}

/* The same attack on a segment of the previous format (HYDRWAL2, no salt)
 * succeeds: the reason for HYDRWAL3, and why an old segment is only as
 * safe as it was (docs/WAL.md). */
static void test_forged_frame_in_old_segment(void **s)
{
    (void)s;
    char *dir = tmpdir();
    unsigned char a[2048], fr[2100];
    size_t n = attack_record(a, 0, 0);
    size_t fl = build_frame(fr, 2, WAL_RECORD, 1, 3, 0, a, (uint32_t)n);
    write_old_segment(dir, 1, 2, "v2", 1, 2, fr, fl - 10); /* torn in the padding */
    struct typed *t = calloc(1, sizeof *t);
    struct wal_replay_stats st;
    struct wal *w = replay_typed(dir, t, &st);
    assert_int_equal(t->n, 3);
    assert_int_equal(t->forged, 1);
    assert_int_equal(t->type[2], WAL_SEAL);
    assert_int_equal(t->lsn[2], FORGED_LSN);
    wal_close(w);
    rm_rf(dir);
    free(dir);
    free(t);
}

/* Every segment draws its own salt, and every frame carries it. */
static void test_salt_per_segment(void **s)
{
    (void)s;
    char *dir = tmpdir();
    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 200, c, &st); /* tiny segments: rotation */
    uint64_t salts[8];
    size_t nsalts = 0;
    salts[nsalts++] = current_salt(dir);
    for (int i = 0; i < 12; i++) {
        put_n(w, i, 1, 1);
        uint64_t cur = current_salt(dir);
        if (cur != salts[nsalts - 1] && nsalts < 8)
            salts[nsalts++] = cur;
    }
    wal_close(w);
    assert_true(nsalts >= 3);
    for (size_t i = 0; i < nsalts; i++)
        for (size_t j = i + 1; j < nsalts; j++)
            assert_true(salts[i] != salts[j]);
    /* the salt is at 32..39 of every frame header of a segment */
    char *seg = segment_with_frames(dir);
    struct wal_scan_info info;
    memset(c, 0, sizeof *c);
    assert_int_equal(wal_scan_file(seg, collect, NULL, c, &info), HY_OK);
    size_t n;
    unsigned char *img = slurp(seg, &n);
    assert_int_equal(n >= info.valid_end, 1);
    size_t off = WAL_SEGMENT_HEADER, frames = 0;
    while (off < info.valid_end) {
        unsigned char want[8];
        le64(want, info.salt);
        assert_memory_equal(img + off + 32, want, 8);
        off += WAL_FRAME_HEADER + (img[off + 4] | (size_t)img[off + 5] << 8);
        frames++;
    }
    assert_int_equal(frames, c->n);
    assert_true(frames > 0);
    free(img);
    rm_rf(dir);
    free(dir);
    free(c);
}

static void test_seal_and_flush(void **s)
{
    (void)s;
    unsigned char p[WAL_SEAL_MAX];
    struct wal_range r = {5, 9}, back;
    size_t n = wal_seal_encode(p, &r, "sd-vehicle-data", "2026/11/25/08/gps-delivery-stream-1-x");
    struct wal_frame f = {WAL_SEAL, 3, 10, 0, p, (uint32_t)n};
    char bucket[64], key[1025];
    assert_int_equal(wal_seal_decode(&f, &back, bucket, key), HY_OK);
    assert_int_equal(back.first_lsn, 5);
    assert_int_equal(back.last_lsn, 9);
    assert_string_equal(bucket, "sd-vehicle-data");
    assert_string_equal(key, "2026/11/25/08/gps-delivery-stream-1-x");
    f.len = (uint32_t)n - 1; /* truncated payload */
    assert_int_equal(wal_seal_decode(&f, &back, bucket, key), HY_EINVAL);

    char *dir = tmpdir();
    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 0, c, &st);
    assert_int_equal(wal_safe_lsn(w), 1);
    put_n(w, 0, 3, 1);
    assert_int_equal(wal_flush(w), HY_OK);
    assert_int_equal(wal_safe_lsn(w), 4);
    wal_close(w);
    rm_rf(dir);
    free(dir);
    free(c);
}

struct release_arg {
    struct wal *w;
    volatile int stop;
    uint64_t low; /* the highest low water released */
};

static void *releaser(void *p)
{
    struct release_arg *a = p;
    for (unsigned i = 0; !a->stop; i++) {
        /* every other time everything applied, so a segment can go the
         * moment it stops being the current one; else keep the last 40 */
        uint64_t low = wal_safe_lsn(a->w);
        if (i % 2)
            low = low > 40 ? low - 40 : 1;
        wal_release(a->w, low);
        if (low > a->low)
            a->low = low;
        usleep(200);
    }
    return NULL;
}

/* wal_release deletes segments on one thread while the writer rotates
 * through tiny ones on another (under the sanitizer build this is where
 * a segment freed while still used would show): nothing at or above the
 * last low water is lost, and what replays is in order and undamaged. */
static void test_release_during_rotation(void **s)
{
    (void)s;
    char *dir = tmpdir();
    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 300, c, &st);
    struct release_arg ra = {w, 0, 0};
    pthread_t rel, th[4];
    struct thread_arg args[4];
    assert_int_equal(pthread_create(&rel, NULL, releaser, &ra), 0);
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){w, i};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    ra.stop = 1;
    pthread_join(rel, NULL);
    uint64_t low = ra.low;
    assert_true(low > 1);
    struct wal_stats ws;
    wal_get_stats(w, &ws);
    assert_int_equal(ws.frames, 800);
    assert_int_equal(wal_close(w), HY_OK);
    w = open_wal(dir, 300, c, &st);
    assert_int_equal(st.corrupt_regions, 0);
    assert_int_equal(st.torn_bytes, 0);
    assert_true(c->n > 0 && c->n < 800);     /* some segments were deleted */
    assert_int_equal(c->lsn[c->n - 1], 800); /* the newest are all there */
    assert_true(c->lsn[0] <= low);
    for (size_t i = 1; i < c->n; i++)
        assert_int_equal(c->lsn[i], c->lsn[i - 1] + 1);
    wal_close(w);
    rm_rf(dir);
    free(dir);
    free(c);
}

/* ---- fsync discipline, through the wal_io fault hooks (issue 12) -------- */
#define FAULT_FDS 1024
#define FAULT_EVENTS 512

static struct {
    pthread_mutex_t lock;
    char path[FAULT_FDS][256];  /* what each open descriptor is */
    bool poisoned[FAULT_FDS];   /* a sync failed on it */
    int syncs;                  /* fdatasync + fsync calls */
    int fail_sync_at;           /* that call (1-based) fails with EIO; 0: none */
    int fail_delay_ms;          /* the failing call first sleeps this long */
    volatile int in_failing_sync;
    bool fail_create;           /* creating a file fails with EIO */
    int pwrites, fail_pwrite_at; /* that pwrite fails with ENOSPC */
    bool fail_dir_fsync;        /* fsync of a directory fails with EIO */
    bool fail_close;            /* close succeeds but reports EIO */
    int retried;                /* syncs of a poisoned descriptor: must stay 0 */
    int nevents;
    char events[FAULT_EVENTS][600];
} fault = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void fault_event(const char *what, const char *path)
{
    char copy[512]; /* path may be one of fault.path[] */
    snprintf(copy, sizeof copy, "%s", path);
    if (fault.nevents < FAULT_EVENTS)
        snprintf(fault.events[fault.nevents++], sizeof fault.events[0], "%.60s %s", what,
                 copy);
}

static int fault_open(const char *path, int flags, mode_t mode)
{
    pthread_mutex_lock(&fault.lock);
    int fd = -1;
    if (fault.fail_create && (flags & O_CREAT)) {
        fault_event("open-FAIL", path);
        errno = EIO;
    } else if ((fd = open(path, flags, mode)) >= 0 && fd < FAULT_FDS) {
        snprintf(fault.path[fd], sizeof fault.path[0], "%s", path);
        fault.poisoned[fd] = false;
        fault_event("open", path);
    }
    pthread_mutex_unlock(&fault.lock);
    return fd;
}

static ssize_t fault_pwrite(int fd, const void *p, size_t n, off_t at)
{
    pthread_mutex_lock(&fault.lock);
    bool fail = ++fault.pwrites == fault.fail_pwrite_at;
    if (fail)
        fault_event("pwrite-FAIL", fault.path[fd]);
    pthread_mutex_unlock(&fault.lock);
    if (fail) {
        errno = ENOSPC;
        return -1;
    }
    return pwrite(fd, p, n, at);
}

static int fault_sync(int fd, bool data)
{
    pthread_mutex_lock(&fault.lock);
    const char *what = data ? "fdatasync" : "fsync";
    if (fault.poisoned[fd])
        fault.retried++;
    bool fail = ++fault.syncs == fault.fail_sync_at;
    struct stat sb;
    if (!fail && fault.fail_dir_fsync && fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode))
        fail = true;
    if (fail) {
        fault.poisoned[fd] = true;
        char ev[32];
        snprintf(ev, sizeof ev, "%s-FAIL", what);
        fault_event(ev, fault.path[fd]);
    } else {
        fault_event(what, fault.path[fd]);
    }
    int delay = fail ? fault.fail_delay_ms : 0;
    pthread_mutex_unlock(&fault.lock);
    if (fail) {
        fault.in_failing_sync = 1;
        if (delay)
            usleep((useconds_t)delay * 1000);
        fault.in_failing_sync = 0;
        errno = EIO;
        return -1;
    }
    return data ? fdatasync(fd) : fsync(fd);
}

static int fault_fdatasync(int fd)
{
    return fault_sync(fd, true);
}

static int fault_fsync(int fd)
{
    return fault_sync(fd, false);
}

static int fault_ftruncate(int fd, off_t len)
{
    pthread_mutex_lock(&fault.lock);
    fault_event("ftruncate", fault.path[fd]);
    pthread_mutex_unlock(&fault.lock);
    return ftruncate(fd, len);
}

static int fault_unlink(const char *path)
{
    pthread_mutex_lock(&fault.lock);
    fault_event("unlink", path);
    pthread_mutex_unlock(&fault.lock);
    return unlink(path);
}

static int fault_close(int fd)
{
    pthread_mutex_lock(&fault.lock);
    fault_event("close", fault.path[fd]);
    fault.path[fd][0] = 0;
    fault.poisoned[fd] = false; /* the number may be reused by a new open */
    bool fail = fault.fail_close;
    pthread_mutex_unlock(&fault.lock);
    int rc = close(fd);
    if (rc == 0 && fail) {
        errno = EIO;
        return -1;
    }
    return rc;
}

static void fault_on(void)
{
    pthread_mutex_lock(&fault.lock);
    memset(fault.path, 0, sizeof fault.path);
    memset(fault.poisoned, 0, sizeof fault.poisoned);
    fault.syncs = fault.fail_sync_at = fault.fail_delay_ms = 0;
    fault.fail_create = fault.fail_dir_fsync = fault.fail_close = false;
    fault.pwrites = fault.fail_pwrite_at = 0;
    fault.retried = fault.nevents = 0;
    pthread_mutex_unlock(&fault.lock);
    wal_io = (struct wal_io){fault_open, fault_pwrite, fault_fdatasync, fault_fsync,
                             fault_ftruncate, fault_unlink, fault_close};
}

static void fault_off(void)
{
    memset(&wal_io, 0, sizeof wal_io);
}

/* Index of the first event at or after from that equals "what path"; -1 if none. */
static int event_at(int from, const char *what, const char *path)
{
    char want[600];
    snprintf(want, sizeof want, "%.60s %.500s", what, path);
    for (int i = from < 0 ? 0 : from; i < fault.nevents; i++)
        if (strcmp(fault.events[i], want) == 0)
            return i;
    return -1;
}

static void dump_events(void)
{
    for (int i = 0; i < fault.nevents; i++)
        print_message("  event %d: %s\n", i, fault.events[i]);
}

static char *seg_name(const char *dir, uint64_t seq)
{
    static char path[8][600];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 600, "%.500s/%016llx.wal", dir, (unsigned long long)seq);
    return p;
}

struct async_put {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int rc;
};

static void async_done(void *arg, int rc, const struct wal_frame *f, size_t n)
{
    (void)f;
    (void)n;
    struct async_put *a = arg;
    pthread_mutex_lock(&a->lock);
    a->done = true;
    a->rc = rc;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

static void *put_lost(void *p)
{
    struct wal *w = p;
    struct wal_frame f = {WAL_RECORD, 1, 0, 1, "lost-0", 6};
    return (void *)(intptr_t)wal_append_sync(w, &f, 1);
}

/* The 6th sync of the log (the group of "lost-0") fails with EIO while
 * another group ("next-0", stamped with the old segment's salt) waits:
 * lost-0's put gets the error and is in no segment; the descriptor that
 * failed is never synced again; the waiting group and every later one go
 * to a new segment, whose creation is made durable first (header
 * fdatasync, then the directory); replay yields exactly the acknowledged
 * records. */
static void test_fsync_failure_switches_segment(void **s)
{
    (void)s;
    char *dir = tmpdir();
    fault_on();
    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 0, c, &st);
    put_n(w, 0, 5, 1);
    struct wal_stats ws;
    wal_get_stats(w, &ws);
    assert_int_equal(ws.fsync_errors, 0);

    pthread_mutex_lock(&fault.lock);
    fault.fail_sync_at = fault.syncs + 1;
    fault.fail_delay_ms = 200;
    int before = fault.nevents;
    pthread_mutex_unlock(&fault.lock);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, put_lost, w), 0);
    while (!fault.in_failing_sync)
        usleep(1000);
    /* the writer is inside the failing fdatasync: this group waits */
    struct async_put next = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, -1};
    struct wal_frame nf = {WAL_RECORD, 1, 0, 2, "next-0", 6};
    assert_int_equal(wal_append(w, &nf, 1, async_done, &next), HY_OK);
    void *ret;
    pthread_join(th, &ret);
    assert_int_equal((int)(intptr_t)ret, HY_EIO); /* not acknowledged */
    pthread_mutex_lock(&next.lock);
    while (!next.done)
        pthread_cond_wait(&next.cond, &next.lock);
    pthread_mutex_unlock(&next.lock);
    assert_int_equal(next.rc, HY_OK);
    put_n(w, 5, 5, 1);
    wal_get_stats(w, &ws);
    assert_int_equal(ws.fsync_errors, 1);
    assert_false(ws.failed);
    assert_int_equal(wal_close(w), HY_OK);
    fault_off();

    /* what the log did after the failure, in order */
    const char *s1 = seg_name(dir, 1), *s2 = seg_name(dir, 2);
    int failed = event_at(before, "fdatasync-FAIL", s1);
    int closed = event_at(failed, "close", s1);
    int cut = event_at(closed, "ftruncate", s1);
    int cut_sync = event_at(cut, "fsync", s1); /* the cut, on a new descriptor */
    int created = event_at(failed, "open", s2);
    int header = event_at(created, "fdatasync", s2);
    int dirsync = event_at(header, "fsync", dir);
    int first_group = event_at(dirsync + 1, "fdatasync", s2);
    if (failed < 0 || closed < 0 || cut < 0 || cut_sync < 0 || created < 0 || header < 0 ||
        dirsync < 0 || first_group < 0)
        dump_events();
    assert_true(failed >= 0 && closed > failed && cut > closed && cut_sync > cut);
    assert_true(created > cut_sync && header > created && dirsync > header);
    assert_true(first_group > dirsync);
    assert_int_equal(event_at(failed + 1, "fdatasync", s1), -1);
    assert_int_equal(fault.retried, 0);

    /* the old segment holds the five acknowledged records, the new one the rest */
    memset(c, 0, sizeof *c);
    struct wal_scan_info info;
    assert_int_equal(wal_scan_file(s1, collect, NULL, c, &info), HY_OK);
    assert_int_equal(c->n, 5);
    assert_string_equal(c->data[4], "record-4");
    uint64_t salt1 = info.salt;
    memset(c, 0, sizeof *c);
    assert_int_equal(wal_scan_file(s2, collect, NULL, c, &info), HY_OK);
    assert_int_equal(c->n, 6);
    assert_string_equal(c->data[0], "next-0"); /* stamped again with the new salt */
    assert_true(info.salt != salt1);

    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 11);
    assert_int_equal(st.corrupt_regions, 0);
    assert_int_equal(st.torn_bytes, 0);
    for (size_t i = 0; i < c->n; i++)
        assert_true(strcmp(c->data[i], "lost-0") != 0);
    assert_string_equal(c->data[5], "next-0");
    assert_string_equal(c->data[10], "record-9");
    assert_int_equal(wal_close(w), HY_OK);
    rm_rf(dir);
    free(dir);
    free(c);
}

/* An fdatasync fails and no new segment can be created: the log stops.
 * Every later put is refused at once, with no fsync attempted; after a
 * restart exactly the acknowledged records replay and puts work again. */
static void test_fsync_failure_without_new_segment_stops(void **s)
{
    (void)s;
    char *dir = tmpdir();
    fault_on();
    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 0, c, &st);
    put_n(w, 0, 3, 1);
    pthread_mutex_lock(&fault.lock);
    fault.fail_sync_at = fault.syncs + 1;
    fault.fail_create = true;
    pthread_mutex_unlock(&fault.lock);
    struct wal_frame f = {WAL_RECORD, 1, 0, 1, "lost-0", 6};
    assert_int_equal(wal_append_sync(w, &f, 1), HY_EIO);
    struct wal_stats ws;
    wal_get_stats(w, &ws);
    assert_true(ws.failed);
    int syncs = fault.syncs;
    for (int i = 0; i < 3; i++) {
        struct wal_frame g = {WAL_RECORD, 1, 0, 1, "refused", 7};
        assert_int_equal(wal_append_sync(w, &g, 1), HY_EIO);
    }
    assert_int_equal(fault.syncs, syncs); /* nothing retried */
    assert_int_equal(fault.retried, 0);
    wal_close(w);
    fault_off();

    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 3);
    assert_string_equal(c->data[2], "record-2");
    assert_int_equal(st.corrupt_regions, 0);
    put_n(w, 3, 1, 1);
    wal_close(w);
    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 4);
    assert_string_equal(c->data[3], "record-3");
    wal_close(w);
    rm_rf(dir);
    free(dir);
    free(c);
}

/* A write that hits a full disk: the put gets HY_ENOSPC, the segment is
 * cut back (and that cut fdatasynced: no fsync had failed) and keeps
 * taking groups, so puts resume by themselves. */
static void test_write_failure_keeps_segment(void **s)
{
    (void)s;
    char *dir = tmpdir();
    fault_on();
    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 0, c, &st);
    put_n(w, 0, 2, 1);
    pthread_mutex_lock(&fault.lock);
    fault.fail_pwrite_at = fault.pwrites + 1;
    int before = fault.nevents;
    pthread_mutex_unlock(&fault.lock);
    struct wal_frame f = {WAL_RECORD, 1, 0, 1, "full-0", 6};
    assert_int_equal(wal_append_sync(w, &f, 1), HY_ENOSPC);
    put_n(w, 2, 2, 1);
    assert_int_equal(wal_close(w), HY_OK);
    fault_off();
    const char *s1 = seg_name(dir, 1);
    int cut = event_at(before, "ftruncate", s1);
    assert_true(cut > before && event_at(cut, "fdatasync", s1) > cut);
    assert_int_equal(event_at(before, "open", seg_name(dir, 2)), -1); /* same segment */
    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 4);
    assert_string_equal(c->data[2], "record-2");
    assert_int_equal(st.corrupt_regions, 0);
    wal_close(w);
    rm_rf(dir);
    free(dir);
    free(c);
}

/* The other durability points: the wal directory's parent at open, the
 * directory after a segment is deleted, a torn tail's truncation fsynced
 * (file), a torn header's removal (directory); a failed directory fsync
 * makes segment creation fail; a failed close is reported by wal_close. */
static void test_durability_points(void **s)
{
    (void)s;
    char *root = tmpdir();
    char dir[256];
    snprintf(dir, sizeof dir, "%.200s/wal", root);
    fault_on();
    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 200, c, &st);
    assert_true(event_at(0, "fsync", root) >= 0); /* "wal" in its parent */
    put_n(w, 0, 20, 1); /* tiny segments */
    int before = fault.nevents;
    wal_release(w, 15);
    int gone = event_at(before, "unlink", seg_name(dir, 1));
    assert_true(gone >= 0);
    assert_true(event_at(gone, "fsync", dir) > gone);
    wal_close(w);

    /* a torn tail: truncated, then the file fsynced */
    char *seg = segment_with_frames(dir);
    char segpath[512];
    snprintf(segpath, sizeof segpath, "%s", seg);
    uint64_t end = frames_end(segpath);
    assert_int_equal(truncate(segpath, (off_t)end - 3), 0);
    /* and a torn header in a newer, last segment */
    char torn[600];
    snprintf(torn, sizeof torn, "%s/%016llx.wal", dir, 0x100ULL);
    FILE *fp = fopen(torn, "wb");
    fwrite("HYDRW", 1, 5, fp);
    fclose(fp);
    before = fault.nevents;
    struct wal_config cfg = {dir, 200, true};
    assert_int_equal(wal_open(&cfg, &w), HY_OK);
    memset(c, 0, sizeof *c);
    assert_int_equal(wal_replay(w, collect, c, &st), HY_OK);
    assert_int_equal(st.torn_bytes, 5); /* the header; the frame's tail is not last */
    int rm = event_at(before, "unlink", torn);
    assert_true(rm >= 0 && event_at(rm, "fsync", dir) > rm);
    wal_close(w);
    /* now the torn frame is at the end of the last segment */
    before = fault.nevents;
    w = open_wal(dir, 200, c, &st);
    assert_true(st.torn_bytes > 0);
    int cut = event_at(before, "ftruncate", segpath);
    assert_true(cut >= 0 && event_at(cut, "fsync", segpath) > cut);
    wal_close(w);

    /* a directory that cannot be fsynced: no segment is started */
    assert_int_equal(wal_open(&cfg, &w), HY_OK);
    assert_int_equal(wal_replay(w, collect, c, &st), HY_OK);
    fault.fail_dir_fsync = true;
    assert_int_equal(wal_start(w), HY_EIO);
    fault.fail_dir_fsync = false;
    wal_close(w);
    /* a close that reports an error */
    w = open_wal(dir, 200, c, &st);
    fault.fail_close = true;
    assert_int_equal(wal_close(w), HY_EIO);
    fault_off();
    rm_rf(root);
    free(root);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_rotation_and_release),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_corrupt_middle),
        cmocka_unit_test(test_scan_file),
        cmocka_unit_test(test_seal_and_flush),
        cmocka_unit_test(test_v1_segments_replay),
        cmocka_unit_test(test_forged_frames_after_corruption),
        cmocka_unit_test(test_forged_frame_in_torn_tail),
        cmocka_unit_test(test_forged_frame_in_old_segment),
        cmocka_unit_test(test_salt_per_segment),
        cmocka_unit_test(test_release_during_rotation),
        cmocka_unit_test(test_fsync_failure_switches_segment),
        cmocka_unit_test(test_fsync_failure_without_new_segment_stops),
        cmocka_unit_test(test_write_failure_keeps_segment),
        cmocka_unit_test(test_durability_points),
    };
    return cmocka_run_group_tests_name("wal", tests, NULL, NULL);
}
