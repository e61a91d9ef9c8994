/* fuzz_wal.c -- libFuzzer target for the WAL reader (wal.c: wal_scan_file,
 * wal_open + wal_replay, the SEAL/range decoders), and for forgery: no
 * damage to a log the writer wrote makes recovery yield a frame it did
 * not write (issue 11).
 *
 * Input layout: one flags byte, two bytes of split offset, then the
 * segment bytes (or, with bit 7, the forgery input below).
 *   flags bit 0: prefix each segment with a valid header, so the frame
 *                scanner is reached on most inputs: 16 bytes "HYDRWAL1"
 *                (or "HYDRWAL2" with bit 5) + its sequence number, or with
 *                bit 6 the 32-byte HYDRWAL3 header (magic, sequence
 *                number, the fixed salt FUZZ_SALT, CRC-32C); without it
 *                the bytes are the whole file, header included.
 *   flags bit 1: two segments: the bytes are split at (offset % len); the
 *                first becomes 0000000000000001.wal, the second ...2.wal
 *                (or ...9.wal with bit 4: a gap in the sequence).
 *   flags bit 2: "fix CRCs": walking the frames by their length fields,
 *                the harness writes the correct checksum (CRC-32, or
 *                CRC-32C with bit 5 or 6) into each frame
 *                header, so valid frames (and the resync after damage)
 *                are reached without libFuzzer having to find checksums.
 *                In HYDRWAL3 frames (40-byte headers) it also writes
 *                FUZZ_SALT into a salt field that is all zeros, and keeps
 *                any other salt, so frames with a good CRC and a wrong
 *                salt are reached too.
 *   flags bit 5: HYDRWAL2 (CRC-32C, no salt); without it and bit 6, the
 *                HYDRWAL1 format of logs older than CRC-32C.
 *   flags bit 6: HYDRWAL3, the format written now (salted frames).
 *   flags bit 3: after the replay, start the log, append one record
 *                synchronously, close, and replay again: the new record
 *                must come back with the next LSN.
 *   flags bit 7: forgery mode. The rest of the input is a damage spec (8
 *                bytes: u32 offset, u16 length, u8 kind, u8 segment) and
 *                then records, each a u16 length and its bytes (the
 *                fuzzer may put whole frames in them, with any salt it
 *                guesses; with bit 2 the harness computes their CRCs, as
 *                an attacker would: from byte 1 + (byte 0 & 15) of each
 *                record, frames as bit 6 says, HYDRWAL3 or HYDRWAL2,
 *                salts kept as given). The harness writes them with the real writer
 *                (wal_append; bit 1: 512-byte segments, so rotation and
 *                the re-stamp of a group are reached), closes the log,
 *                damages one segment file (kind % 4: truncate at offset;
 *                flip length bytes at offset; zero them; truncate at
 *                offset and append the spec's first length bytes of the
 *                records as garbage) and replays.
 *
 * Invariants checked (a violation traps):
 *   - every frame handed to a callback has a type of 1..3, len at most
 *     WAL_MAX_PAYLOAD, and its payload is readable (ASan checks the read);
 *   - LSNs are strictly increasing within a scan and across a replay;
 *   - wal_scan_file's valid_end lies in [segment header size, file size]
 *     on success;
 *   - replay never fails on a readable directory, and a second replay of
 *     the same directory reports no torn bytes and the same frames;
 *   - with bit 3, the appended record is replayed with LSN last + 1;
 *   - with bit 7, every frame replayed is one the writer wrote: a RECORD
 *     of stream 1 whose LSN, length and bytes are those it was given
 *     (damage may drop frames, never invent or alter one).
 *
 * Build and run: `make fuzz-build`, `make fuzz FUZZ_TARGETS=wal`
 * (tests/fuzz/fuzz.mk); by hand, from the repo root:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_wal.c src/wal.c src/util.c \
 *     $(pkg-config --cflags --libs openssl zlib) -lm -pthread -o fuzz_wal
 *   ./fuzz_wal -max_total_time=300 tests/fuzz/corpus/wal/
 */
#define _GNU_SOURCE /* mkdtemp */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "server.h"
#include "wal.h"
#include "metrics.h"

/* the WAL counts its commits for metrics.c, which this target does not
 * link (it needs the whole server): the count is dropped here */
void metrics_wal_commit(size_t frames, size_t bytes)
{
    (void)frames;
    (void)bytes;
}

struct hy_config hy_cfg = {.region = "us-east-1"};

/* The salt of the HYDRWAL3 segments the harness builds (bit 6). */
#define FUZZ_SALT 0x5a17c0ffee5a17c0ULL

static char tmp_root[64];
static char seg_dir[128];
static char scan_path[128];

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz_wal: invariant failed at line %d: %s\n",       \
                    __LINE__, #cond);                                            \
            __builtin_trap();                                                    \
        }                                                                        \
    } while (0)

struct seen {
    uint64_t frames, last_lsn, sum;
    uint64_t lsn_of_marker; /* the bit-3 record, when seen */
    int bad_calls;
};

static const char marker[] = "fuzz-wal-appended-record";

static void on_frame(void *ctx, const struct wal_frame *f)
{
    struct seen *s = ctx;
    CHECK(f->type >= WAL_RECORD && f->type <= WAL_DELIVERED);
    CHECK(f->len <= WAL_MAX_PAYLOAD);
    CHECK(f->len == 0 || f->data != NULL);
    CHECK(s->frames == 0 || f->lsn > s->last_lsn);
    const unsigned char *p = f->data;
    for (uint32_t i = 0; i < f->len; i++) /* every payload byte is readable */
        s->sum += p[i];
    if (f->type == WAL_RECORD && f->len == sizeof marker - 1 &&
        memcmp(f->data, marker, f->len) == 0)
        s->lsn_of_marker = f->lsn;
    /* the payload decoders see whatever the log holds */
    struct wal_range r;
    if (wal_range_decode(f, &r) == HY_OK)
        CHECK(r.first_lsn <= r.last_lsn);
    char bucket[64], key[1025];
    if (wal_seal_decode(f, &r, bucket, key) == HY_OK) {
        CHECK(f->type == WAL_SEAL);
        CHECK(strlen(bucket) <= 63 && strlen(key) <= 1024);
        /* a decoded SEAL encodes back to the same bytes unless the names
         * held NULs (the encoder stops at the first one) */
        if (strlen(bucket) + strlen(key) + 20 == f->len) {
            unsigned char out[WAL_SEAL_MAX];
            size_t n = wal_seal_encode(out, &r, bucket, key);
            CHECK(n == f->len && memcmp(out, f->data, n) == 0);
        }
    }
    s->frames++;
    s->last_lsn = f->lsn;
}

static void on_bad(void *ctx, uint64_t off, uint64_t len, const char *why)
{
    struct seen *s = ctx;
    CHECK(why != NULL);
    s->bad_calls++;
}

static void rm_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char path[512];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

static void cleanup(void)
{
    rm_files(seg_dir);
    rmdir(seg_dir);
    unlink(scan_path);
    rmdir(tmp_root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    hy_log_level = HY_LOG_ERROR + 1; /* recovery logs every bad region */
    snprintf(tmp_root, sizeof tmp_root, "/tmp/hydrant-fuzz-wal-XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        abort();
    }
    snprintf(seg_dir, sizeof seg_dir, "%s/wal", tmp_root);
    snprintf(scan_path, sizeof scan_path, "%s/scan.wal", tmp_root);
    if (mkdir_p(seg_dir, 0755) != HY_OK)
        abort();
    atexit(cleanup);
    return 0;
}

static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Writes the correct CRC into every frame the length fields lead to, from
 * off on, in format version 1, 2 or 3; stamp: give HYDRWAL3 frames whose
 * salt is zero FUZZ_SALT (see bit 2). */
static void fix_frames(unsigned char *img, size_t size, size_t off, int version, bool stamp)
{
    size_t hl = version == 3 ? WAL_FRAME_HEADER : WAL_FRAME_HEADER_OLD;
    while (off + hl <= size) {
        unsigned char *p = img + off;
        uint32_t len = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                       (uint32_t)p[7] << 24;
        if (len > size - off - hl)
            break;
        if (stamp && version == 3 && rd64(p + 32) == 0)
            le64(p + 32, FUZZ_SALT);
        uint32_t c;
        if (version == 1) {
            uLong z = crc32(0L, Z_NULL, 0);
            z = crc32(z, p + 4, (uInt)(hl - 4));
            c = (uint32_t)crc32(z, p + hl, len);
        } else {
            c = hy_crc32c(hy_crc32c(0, p + 4, hl - 4), p + hl, len);
        }
        le32(p, c);
        off += hl + len;
    }
}

static void fix_crcs(unsigned char *img, size_t size, int version)
{
    fix_frames(img, size, version == 3 ? WAL_SEGMENT_HEADER : WAL_SEGMENT_HEADER_OLD, version,
               true);
}

/* Builds one segment image from bytes: header (when asked) + bytes. */
static unsigned char *make_segment(const uint8_t *data, size_t n, uint64_t seq,
                                   unsigned flags, size_t *out_len)
{
    int version = (flags & 64) ? 3 : (flags & 32) ? 2 : 1;
    size_t hdr = !(flags & 1) ? 0 : version == 3 ? WAL_SEGMENT_HEADER : WAL_SEGMENT_HEADER_OLD;
    unsigned char *img = malloc(hdr + n + 1);
    if (!img)
        return NULL;
    if (hdr) {
        memset(img, 0, hdr);
        memcpy(img, version == 3 ? "HYDRWAL3" : version == 2 ? "HYDRWAL2" : "HYDRWAL1", 8);
        le64(img + 8, seq);
        if (version == 3) {
            le64(img + 16, FUZZ_SALT);
            le32(img + 24, hy_crc32c(0, img, 24));
        }
    }
    if (n)
        memcpy(img + hdr, data, n);
    if (flags & 4)
        fix_crcs(img, hdr + n, version);
    *out_len = hdr + n;
    return img;
}

static void write_file(const char *path, const unsigned char *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write_all(fd, p, n) == HY_OK);
    close(fd);
}

static void replay(struct seen *s, struct wal_replay_stats *st, struct wal **keep)
{
    struct wal_config cfg = {.dir = seg_dir, .segment_bytes = 1 << 20, .fsync = false};
    struct wal *w = NULL;
    CHECK(wal_open(&cfg, &w) == HY_OK);
    memset(s, 0, sizeof *s);
    CHECK(wal_replay(w, on_frame, s, st) == HY_OK);
    CHECK(st->frames == s->frames);
    if (keep)
        *keep = w;
    else
        wal_close(w);
}

/* ---- bit 7: forgery ----------------------------------------------------- */
#define FORGE_MAX_RECORDS 256

struct written {
    size_t n;
    uint64_t lsn[FORGE_MAX_RECORDS];
    const uint8_t *data[FORGE_MAX_RECORDS];
    uint32_t len[FORGE_MAX_RECORDS];
    uint64_t replayed;
};

/* Every replayed frame must be one the writer wrote, unaltered. */
static void on_forge_frame(void *ctx, const struct wal_frame *f)
{
    struct written *w = ctx;
    size_t lo = 0, hi = w->n; /* lsn[] is increasing */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (w->lsn[mid] < f->lsn)
            lo = mid + 1;
        else
            hi = mid;
    }
    CHECK(lo < w->n && w->lsn[lo] == f->lsn); /* an LSN the writer gave out */
    CHECK(f->type == WAL_RECORD && f->stream_id == 1);
    CHECK(f->len == w->len[lo] && (f->len == 0 || memcmp(f->data, w->data[lo], f->len) == 0));
    w->replayed++;
}

static char *forge_segment_path(int pick, char *out, size_t n)
{
    /* the pick-th segment file (by name) that holds more than a header */
    char names[64][32];
    int k = 0;
    DIR *d = opendir(seg_dir);
    if (!d)
        return NULL;
    struct dirent *de;
    while ((de = readdir(d)) && k < 64)
        if (strlen(de->d_name) == 20 && strstr(de->d_name, ".wal"))
            snprintf(names[k++], sizeof names[0], "%s", de->d_name);
    closedir(d);
    if (!k)
        return NULL;
    for (int i = 1; i < k; i++) /* insertion sort: names are fixed-width hex */
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[32];
            memcpy(t, names[j], 32);
            memcpy(names[j], names[j - 1], 32);
            memcpy(names[j - 1], t, 32);
        }
    snprintf(out, n, "%s/%s", seg_dir, names[pick % k]);
    return out;
}

static void forge(unsigned flags, const uint8_t *data, size_t size)
{
    if (size < 8)
        return;
    uint32_t at = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                  (uint32_t)data[3] << 24;
    size_t dlen = (size_t)data[4] | (size_t)data[5] << 8;
    int kind = data[6] % 4, pick = data[7];
    data += 8;
    size -= 8;

    static struct written wr;
    memset(&wr, 0, sizeof wr);
    unsigned char *copy = malloc(size + 1); /* records the harness may edit */
    if (!copy)
        return;
    memcpy(copy, data, size);
    data = copy;
    struct wal_config cfg = {.dir = seg_dir, .segment_bytes = (flags & 2) ? 512 : 1 << 20,
                             .fsync = false};
    struct wal *w = NULL;
    struct seen s;
    struct wal_replay_stats st;
    CHECK(wal_open(&cfg, &w) == HY_OK);
    memset(&s, 0, sizeof s);
    CHECK(wal_replay(w, on_frame, &s, &st) == HY_OK && s.frames == 0);
    CHECK(wal_start(w) == HY_OK);
    size_t off = 0;
    while (off + 2 <= size && wr.n < FORGE_MAX_RECORDS) {
        size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8;
        off += 2;
        if (len > size - off)
            len = size - off;
        if ((flags & 4) && len > 1)
            fix_frames(copy + off, len, 1 + (copy[off] & 15u), (flags & 64) ? 3 : 2, false);
        struct wal_frame f = {.type = WAL_RECORD, .stream_id = 1, .arrival_ms = 1,
                              .data = data + off, .len = (uint32_t)len};
        CHECK(wal_append_sync(w, &f, 1) == HY_OK);
        wr.lsn[wr.n] = f.lsn;
        wr.data[wr.n] = data + off;
        wr.len[wr.n] = (uint32_t)len;
        wr.n++;
        off += len;
    }
    wal_close(w);

    char path[256];
    if (forge_segment_path(pick, path, sizeof path)) {
        size_t n;
        unsigned char *img = NULL;
        FILE *fp = fopen(path, "rb");
        CHECK(fp != NULL);
        fseek(fp, 0, SEEK_END);
        n = (size_t)ftell(fp);
        fseek(fp, 0, SEEK_SET);
        img = malloc(n + dlen + 1);
        CHECK(img && fread(img, 1, n, fp) == n);
        fclose(fp);
        size_t pos = n ? at % (n + 1) : 0;
        switch (kind) {
        case 0: /* torn: the file ends at pos */
            n = pos;
            break;
        case 1: /* flipped bits */
        case 2: /* zeroed */
            for (size_t i = pos; i < pos + dlen && i < n; i++)
                img[i] = kind == 1 ? (unsigned char)~img[i] : 0;
            break;
        default: /* torn, then garbage chosen by the fuzzer */
            n = pos;
            if (dlen > size)
                dlen = size;
            memcpy(img + n, data, dlen);
            n += dlen;
            break;
        }
        write_file(path, img, n);
        free(img);
    }

    CHECK(wal_open(&cfg, &w) == HY_OK);
    CHECK(wal_replay(w, on_forge_frame, &wr, &st) == HY_OK);
    CHECK(st.frames == wr.replayed && wr.replayed <= wr.n);
    wal_close(w);
    rm_files(seg_dir);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned flags = data[0];
    size_t split = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (flags & 128) {
        forge(flags, data, size);
        return 0;
    }

    /* 1. the whole input as one file, through the tool's scanner */
    size_t len;
    unsigned char *img = make_segment(data, size, 1, flags, &len);
    if (!img)
        return 0;
    write_file(scan_path, img, len);
    struct seen s;
    memset(&s, 0, sizeof s);
    struct wal_scan_info info;
    int rc = wal_scan_file(scan_path, on_frame, on_bad, &s, &info);
    CHECK(rc == HY_OK || rc == HY_EINVAL);
    if (rc == HY_OK) {
        size_t hdr = info.version == 3 ? WAL_SEGMENT_HEADER : WAL_SEGMENT_HEADER_OLD;
        CHECK(info.version >= 1 && info.version <= 3);
        CHECK(info.valid_end >= hdr && info.valid_end <= len);
    }
    free(img);
    unlink(scan_path);

    /* 2. the same bytes as a log directory of one or two segments */
    size_t cut = (flags & 2) && size ? split % size : size;
    uint64_t seqs[2] = {1, (flags & 16) ? 9 : 2};
    const uint8_t *parts[2] = {data, data + cut};
    size_t lens[2] = {cut, size - cut};
    int nseg = (flags & 2) ? 2 : 1;
    for (int i = 0; i < nseg; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%016llx.wal", seg_dir, (unsigned long long)seqs[i]);
        img = make_segment(parts[i], lens[i], seqs[i], flags, &len);
        if (!img) {
            rm_files(seg_dir);
            return 0;
        }
        write_file(path, img, len);
        free(img);
    }

    struct wal_replay_stats st1, st2;
    struct seen s1, s2;
    struct wal *w = NULL;
    replay(&s1, &st1, (flags & 8) ? &w : NULL);
    /* When replay removed a torn-header last segment, the one before it
     * becomes the last: a second replay without a wal_start in between
     * (never the case in the server, which always starts a new segment)
     * may then truncate that one's bad tail as torn. */
    char last_path[256];
    snprintf(last_path, sizeof last_path, "%s/%016llx.wal", seg_dir,
             (unsigned long long)seqs[nseg - 1]);
    bool last_removed = access(last_path, F_OK) != 0;
#ifdef FUZZ_WAL_DEBUG
    fprintf(stderr, "replay 1: frames=%llu last_lsn=%llu torn=%llu corrupt=%llu/%llu\n",
            (unsigned long long)st1.frames, (unsigned long long)s1.last_lsn,
            (unsigned long long)st1.torn_bytes, (unsigned long long)st1.corrupt_regions,
            (unsigned long long)st1.corrupt_bytes);
#endif
    if (w && s1.last_lsn == UINT64_MAX && !getenv("FUZZ_WAL_NOSKIP")) {
        /* Known bug, reported: after a frame with LSN 2^64-1 the next LSN
         * wraps to 0 and the appended record is dropped by the next
         * replay (tests/unit/test_fuzz_regressions.c). Skipped so the run
         * goes on; remove once wal.c refuses or handles it. */
        wal_close(w);
        w = NULL;
        flags &= ~8u;
    }
    if (w) {
        /* recovery leaves a log that takes new records after the old ones */
        CHECK(wal_start(w) == HY_OK);
        struct wal_frame f = {.type = WAL_RECORD, .stream_id = 1, .arrival_ms = 1,
                              .data = marker, .len = sizeof marker - 1};
        CHECK(wal_append_sync(w, &f, 1) == HY_OK);
        CHECK(f.lsn == s1.last_lsn + 1 || (s1.frames == 0 && f.lsn == 1));
        wal_close(w);
    }
    replay(&s2, &st2, NULL);
#ifdef FUZZ_WAL_DEBUG
    fprintf(stderr, "replay 2: frames=%llu last_lsn=%llu torn=%llu corrupt=%llu/%llu\n",
            (unsigned long long)st2.frames, (unsigned long long)s2.last_lsn,
            (unsigned long long)st2.torn_bytes, (unsigned long long)st2.corrupt_regions,
            (unsigned long long)st2.corrupt_bytes);
#endif
    CHECK(st2.torn_bytes == 0 || (last_removed && !(flags & 8)));
    if (flags & 8) {
        CHECK(s2.frames == s1.frames + 1);
        CHECK(s2.lsn_of_marker != 0 && s2.lsn_of_marker == s2.last_lsn);
    } else {
        CHECK(s2.frames == s1.frames && s2.last_lsn == s1.last_lsn && s2.sum == s1.sum);
    }
    rm_files(seg_dir);
    return 0;
}
