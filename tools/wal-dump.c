/* wal-dump -- prints the frames of hydrant WAL segment files, for people
 * debugging a data directory.
 *
 *   wal-dump [-d] SEGMENT...       one line per frame
 *   wal-dump [-d] DATA_DIR/wal     every segment in the directory, in order
 *
 * -d also prints each record's payload (printable bytes as-is, others as
 * \xNN, at most 200 bytes). Bad regions (checksum, length, type) and torn
 * tails are printed as such; nothing is modified. After each segment's
 * frames a line gives its format (HYDRWAL1..3), sequence number, salt
 * (HYDRWAL3) and where its valid frames end.
 *
 * It only reads (segments are opened read-only and never locked), so it is
 * safe on the directory of a running server; when a server holds the data
 * directory (its LOCK, see datadir.c), wal-dump says so first, since the
 * active segment may grow while it is read.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datadir.h"
#include "wal.h"

struct hy_config hy_cfg;

static int show_data;
static unsigned long long nframes, nrecords, nbytes, nbad;

static void print_frame(void *ctx, const struct wal_frame *f)
{
    (void)ctx;
    static const char *names[] = {"?", "RECORD", "SEAL", "DELIVERED"};
    char when[32];
    fmt_iso8601_ms(when, f->arrival_ms);
    printf("lsn=%llu type=%s stream=%u arrival=%s len=%u", (unsigned long long)f->lsn,
           names[f->type <= 3 ? f->type : 0], f->stream_id, when, f->len);
    nframes++;
    if (f->type == WAL_RECORD) {
        nrecords++;
        nbytes += f->len;
    } else {
        struct wal_range r;
        if (wal_range_decode(f, &r) == HY_OK)
            printf(" range=%llu..%llu", (unsigned long long)r.first_lsn,
                   (unsigned long long)r.last_lsn);
    }
    if (show_data && f->type == WAL_RECORD) {
        printf(" data=\"");
        const unsigned char *p = f->data;
        for (uint32_t i = 0; i < f->len && i < 200; i++) {
            if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
                putchar(p[i]);
            else
                printf("\\x%02x", p[i]);
        }
        printf(f->len > 200 ? "\"..." : "\"");
    }
    putchar('\n');
}

static void print_bad(void *ctx, uint64_t off, uint64_t len, const char *why)
{
    printf("BAD %s: %llu bytes at offset %llu: %s\n", (const char *)ctx,
           (unsigned long long)len, (unsigned long long)off, why);
    nbad++;
}

static int dump_file(const char *path)
{
    printf("# segment %s\n", path);
    struct wal_scan_info info;
    int rc = wal_scan_file(path, print_frame, print_bad, (void *)path, &info);
    if (rc && rc != HY_EINVAL) {
        fprintf(stderr, "wal-dump: cannot read %s: %s\n", path, hy_strerror(rc));
        return 1;
    }
    if (rc == HY_OK) {
        printf("# HYDRWAL%d seq=%llu", info.version, (unsigned long long)info.seq);
        if (info.version >= 3)
            printf(" salt=%016llx", (unsigned long long)info.salt);
        printf(" frames end at %llu\n", (unsigned long long)info.valid_end);
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dump_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return 1;
    }
    char *names[65536];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 65536) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".wal") == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        rc |= dump_file(path);
        free(names[i]);
    }
    return rc;
}

int main(int argc, char **argv)
{
    int i = 1;
    if (i < argc && strcmp(argv[i], "-d") == 0) {
        show_data = 1;
        i++;
    }
    if (i >= argc || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
        fprintf(i >= argc ? stderr : stdout,
                "usage: wal-dump [-d] SEGMENT.wal... | DATA_DIR/wal\n"
                "Prints every frame of hydrant WAL segments; -d shows record payloads.\n");
        return i >= argc ? 2 : 0;
    }
    int rc = 0;
    for (; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            rc = 1;
        } else if (S_ISDIR(st.st_mode)) {
            /* DATA_DIR/wal: the lock lives in DATA_DIR */
            char data_dir[4096];
            snprintf(data_dir, sizeof data_dir, "%s/..", argv[i]);
            pid_t pid = 0;
            if (datadir_holder(data_dir, &pid) == HY_OK && pid > 0)
                printf("# %s is in use by PID %d: reading it read-only, the active "
                       "segment may still grow\n", argv[i], (int)pid);
            rc |= dump_dir(argv[i]);
        } else {
            rc |= dump_file(argv[i]);
        }
    }
    printf("# %llu frames, %llu records, %llu record bytes, %llu bad regions\n", nframes,
           nrecords, nbytes, nbad);
    return rc;
}
