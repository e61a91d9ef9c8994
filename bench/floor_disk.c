/* floor_disk.c -- the durability floor: sequential write + fdatasync.
 *
 * Appends to a new file in DIR (the data directory's filesystem) in writes
 * of SIZE bytes, each followed by fdatasync, the way the WAL's group
 * commit does (one pwrite of the whole pending batch, then one fdatasync),
 * and the way an object is written (write, fsync). hydrant's disk-bound
 * figures are reported as ratios to this one.
 *
 *   floor_disk DIR [SIZE ...]   default sizes 8K 64K 1M 4M; ~1 s or 256 MiB each
 *
 * FLOOR_SECONDS and FLOOR_BYTES change the ~1 s and the 256 MiB (append
 * runs): the recovery benchmark writes as many bytes as it delivers, so
 * its floor is the disk's sustained rate for that much, not a burst.
 *
 * A size written "p:8K" overwrites a file that was written and synced
 * beforehand (preallocated), so fdatasync has no inode (file size) to
 * write: what a WAL with preallocated segments would pay. Plain sizes
 * append, as the WAL does today.
 *
 * Prints per size: "size=N mode=append|prealloc mb_s=X syncs_s=Y" (one
 * line each), then the file is removed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t parse_size(const char *s)
{
    char *end;
    size_t v = strtoull(s, &end, 10);
    if (*end == 'K' || *end == 'k')
        v <<= 10;
    else if (*end == 'M' || *end == 'm')
        v <<= 20;
    return v;
}

static int run(const char *dir, size_t size, bool prealloc, double max_s, size_t max_bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/floor-disk-%d.tmp", dir, (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "floor_disk: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char *p = malloc(size);
    if (!p)
        return 1;
    for (size_t i = 0; i < size; i++)
        p[i] = (char)(i * 131 + 7);
    if (prealloc) {
        /* lay the whole file down first, synced, then write over it */
        size_t want = max_bytes;
        for (size_t done = 0; done < want; done += size)
            if (write(fd, p, size) != (ssize_t)size) {
                fprintf(stderr, "floor_disk: write: %s\n", strerror(errno));
                return 1;
            }
        if (fsync(fd) != 0 || lseek(fd, 0, SEEK_SET) != 0)
            return 1;
    }
    size_t total = 0, syncs = 0;
    double t0 = now_s(), t;
    do {
        size_t off = 0;
        while (off < size) {
            ssize_t n = write(fd, p + off, size - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                fprintf(stderr, "floor_disk: write: %s\n", strerror(errno));
                return 1;
            }
            off += (size_t)n;
        }
        if (fdatasync(fd) != 0) {
            fprintf(stderr, "floor_disk: fdatasync: %s\n", strerror(errno));
            return 1;
        }
        total += size;
        syncs++;
        t = now_s() - t0;
    } while (t < max_s && total < max_bytes);
    printf("size=%zu mode=%s mb_s=%.1f syncs_s=%.0f\n", size, prealloc ? "prealloc" : "append",
           total / t / 1e6, syncs / t);
    fflush(stdout);
    close(fd);
    unlink(path);
    free(p);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: floor_disk DIR [SIZE ...]\n");
        return 2;
    }
    const char *defaults[] = {"8K", "64K", "1M", "4M"};
    double max_s = getenv("FLOOR_SECONDS") ? atof(getenv("FLOOR_SECONDS")) : 1.0;
    int nsizes = argc > 2 ? argc - 2 : 4;
    for (int i = 0; i < nsizes; i++) {
        const char *arg = argc > 2 ? argv[i + 2] : defaults[i];
        bool prealloc = strncmp(arg, "p:", 2) == 0;
        size_t size = parse_size(prealloc ? arg + 2 : arg);
        /* preallocated runs write over at most 64 MiB (laid down first) */
        size_t max_bytes = prealloc ? (size_t)64 << 20 : (size_t)256 << 20;
        if (!prealloc && getenv("FLOOR_BYTES"))
            max_bytes = strtoull(getenv("FLOOR_BYTES"), NULL, 10);
        if (!size || run(argv[1], size, prealloc, max_s, max_bytes))
            return 1;
    }
    return 0;
}
