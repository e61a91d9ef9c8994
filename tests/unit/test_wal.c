/* test_wal.c -- the write-ahead log: round trip, group commit, rotation and
 * release, torn tail, corruption in the middle. */
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
        if (stat(p, &sb) == 0 && sb.st_size > 16 && strcmp(de->d_name, best) > 0)
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
    uint64_t end = 0;
    assert_int_equal(wal_scan_file(seg, collect, NULL, c, &end), HY_OK);
    free(c);
    return end;
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
    assert_int_equal(end, 16 + 5 * 40);
    assert_true((uint64_t)sb.st_size > end);
    /* a write torn at the end of the file (an appending commit) */
    assert_int_equal(truncate(seg, (off_t)end - 3), 0);
    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 4);
    assert_int_equal(st.torn_bytes, 37);
    assert_int_equal(st.corrupt_regions, 0);
    put_n(w, 100, 1, 1);
    wal_close(w);
    /* a write torn over the zeros laid ahead: the last 3 bytes of the
     * newest frame ("record-100", 42 bytes) never reached the disk */
    seg = last_segment(dir);
    end = frames_end(seg);
    assert_int_equal(end, 16 + 42);
    int fd = open(seg, O_RDWR);
    assert_int_equal(pwrite(fd, "\0\0\0", 3, (off_t)end - 3), 3);
    close(fd);
    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 4);
    assert_int_equal(st.torn_bytes, 39);
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
    /* frames are 32 + len("record-N") = 40 bytes; flip a payload byte of frame 4 */
    int fd = open(seg, O_RDWR);
    off_t off = 16 + 4 * 40 + 35;
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
    uint64_t end = 0;
    assert_int_equal(wal_scan_file(segment_with_frames(dir), collect, NULL, c, &end), HY_OK);
    assert_int_equal(c->n, 4);
    assert_int_equal(end, 16 + 3 * 40 + 32 + 16);
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

/* A log written before CRC-32C: "HYDRWAL1" segments whose frames carry
 * zlib's CRC-32. They still replay; what is written next is HYDRWAL2. */
static void test_v1_segments_replay(void **s)
{
    (void)s;
    char *dir = tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/%016llx.wal", dir, 1ULL);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    unsigned char hdr[16];
    memcpy(hdr, "HYDRWAL1", 8);
    le64(hdr + 8, 1);
    fwrite(hdr, 1, 16, fp);
    for (int i = 0; i < 3; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "old-%d", i);
        unsigned char fh[WAL_FRAME_HEADER] = {0};
        le32(fh + 4, (uint32_t)len);
        fh[8] = WAL_RECORD;
        le32(fh + 12, 7);
        le64(fh + 16, (uint64_t)i + 1);
        le64(fh + 24, 1700000000000ULL);
        uLong c = crc32(crc32(0L, Z_NULL, 0), fh + 4, WAL_FRAME_HEADER - 4);
        le32(fh, (uint32_t)crc32(c, (const unsigned char *)msg, (uInt)len));
        fwrite(fh, 1, sizeof fh, fp);
        fwrite(msg, 1, (size_t)len, fp);
    }
    fclose(fp);

    struct collected *c = calloc(1, sizeof *c);
    struct wal_replay_stats st;
    struct wal *w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 3);
    assert_int_equal(st.corrupt_regions, 0);
    assert_int_equal(st.torn_bytes, 0);
    assert_string_equal(c->data[2], "old-2");
    assert_int_equal(c->lsn[2], 3);
    put_n(w, 0, 2, 7);
    wal_close(w);

    /* the new frames went to a HYDRWAL2 segment; both replay together */
    unsigned char magic[8] = {0};
    fp = fopen(segment_with_frames(dir), "rb");
    assert_non_null(fp);
    assert_int_equal(fread(magic, 1, 8, fp), 8);
    fclose(fp);
    assert_memory_equal(magic, "HYDRWAL2", 8);
    w = open_wal(dir, 0, c, &st);
    assert_int_equal(c->n, 5);
    assert_int_equal(c->lsn[4], 5);
    assert_string_equal(c->data[0], "old-0");
    assert_string_equal(c->data[4], "record-1");
    assert_int_equal(st.corrupt_regions, 0);
    wal_close(w);
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
    };
    return cmocka_run_group_tests_name("wal", tests, NULL, NULL);
}
