/* libhyfault.c -- fault injection at the file-system boundary, for tests.
 *
 * An LD_PRELOAD library that sits between hydrant (and the SQLite inside
 * it) and libc for every file under one directory, the data directory:
 * it counts their mutating I/O calls and can make the Nth one fail (EIO,
 * ENOSPC, a short write) or "lose power" there: every byte and directory
 * entry not yet made durable is taken back, and the process dies at once.
 * It is the test VFS (SQLite's test_vfs.c) and torture mode (curl) of this
 * project, placed where it also covers SQLite's own I/O; nothing in src/
 * knows it exists, so production pays nothing.
 *
 * Environment:
 *   HYFAULT_DIR=DIR     only paths under DIR are tracked (absolute, or
 *                       relative to the working directory at start)
 *   HYFAULT_MODE=count  count the calls; the total goes to HYFAULT_COUNT_FILE
 *                       at exit (and at a cut)
 *   HYFAULT_MODE=fail   call HYFAULT_N fails with HYFAULT_ERR = EIO (default),
 *                       ENOSPC or SHORT (a write writes half and says so);
 *                       HYFAULT_STICKY=1 fails every call from N on
 *   HYFAULT_MODE=cut    at call HYFAULT_N, power is lost: see below; the
 *                       process exits with status 86 (HYFAULT_EXIT_CUT)
 *   HYFAULT_VERBOSE=1   name the faulty call (op and path) on stderr; 2: every call
 *   HYFAULT_CUT_AT_EXIT=1  lose power when the process exits normally too
 *                       (so "acknowledged" can be checked against what an
 *                       fsync really made durable after a clean stop)
 *
 * Calls counted (tracked paths and descriptors only): open/openat/creat
 * that create or truncate, write, pwrite, writev, pwritev, ftruncate,
 * fallocate, fsync, fdatasync, sync_file_range, rename, renameat,
 * unlink, unlinkat, mkdir, link.
 *
 * The durability model ("power loss" = everything the kernel was not
 * asked to persist is gone, the strictest POSIX reading):
 * - File data: for each file, the size at its last successful fsync or
 *   fdatasync, and the old bytes of every later write (or truncation)
 *   that overwrote bytes below that size. A cut truncates the file back
 *   to that size and puts the old bytes back, newest first.
 * - A failed fsync/fdatasync loses the unsynced data for good (the
 *   PostgreSQL "fsyncgate" lesson: the kernel may drop the dirty pages
 *   and report success next time): the bytes written since the last good
 *   sync move to a "lost" list (their old bytes, zeros past the old end)
 *   that a later successful sync does not clear; a cut, or the exit of a
 *   fail run, puts them back. Reads during the run still see the new
 *   bytes, as they would from the page cache. A range written again after
 *   the failure is the file's again (dirty anew): it leaves the lost list
 *   and follows the normal rules.
 * - Directory entries: creating, renaming, linking or unlinking a name
 *   (and mkdir) is durable once the directory holding the new name is
 *   fsynced. A cut undoes the pending ones, newest first: created names
 *   are removed, renames moved back (an overwritten target was kept by a
 *   hard link in DIR/.hyfault/ and comes back), unlinked files come back
 *   from their hard link, directories made are removed with what is in
 *   them.
 * - SQLite's -shm files are shared memory, never durable: a cut removes
 *   them, as a reboot would.
 * - mmap'd writes are not seen (hydrant maps files read-only).
 *
 * Threading: one mutex around every tracked call and the cut, so a cut
 * sees no half-done call and no other thread's call runs after it.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define HYFAULT_EXIT_CUT 86
#define MAX_FDS 65536

enum mode { M_OFF, M_COUNT, M_FAIL, M_CUT };
enum errkind { E_EIO, E_ENOSPC, E_SHORT };

/* ---- the real calls ------------------------------------------------------ */
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_creat)(const char *, mode_t);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_sync_file_range)(int, off_t, off_t, unsigned int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_link)(const char *, const char *);

/* ---- state ---------------------------------------------------------------- */
struct undo {
    off_t off;
    size_t len;
    char *old;          /* the bytes that were there; NULL: zeros (a region
                           lost to a failed sync past the old end) */
    struct undo *next;  /* older */
};

struct ufile {
    char *path;         /* where the file is now (NULL: slot free) */
    bool is_dir;
    bool known;         /* synced_size is valid */
    off_t synced_size;  /* size at the last successful sync (or first sight) */
    struct undo *undo;  /* since the last sync, newest first */
    struct undo *lost;  /* lost to a failed sync, newest first */
};

enum dop { D_CREATE, D_RENAME, D_UNLINK, D_MKDIR, D_LINK };
struct dirop {
    enum dop op;
    char *path;         /* the new name (create, rename target, link, mkdir) or
                           the removed one (unlink) */
    char *from;         /* rename: the old name */
    char *stash;        /* an overwritten or unlinked file, kept */
    char *parent;       /* the directory whose fsync makes it durable */
    struct dirop *next; /* older */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static enum mode mode;
static enum errkind errkind;
static bool sticky, cut_at_exit;
static int verbose; /* HYFAULT_VERBOSE: 1 the faulty call, 2 every call */
static long target_n, ncalls;
static char root[2 * PATH_MAX + 2];
static size_t root_len;
static char stash_dir[2 * PATH_MAX + 16];
static long stash_seq;
static struct ufile *files;
static size_t nfiles, files_cap;
static int fd_file[MAX_FDS]; /* index + 1 into files, 0 = untracked */
static struct dirop *dirops;
static const char *count_file;

static void die(const char *what)
{
    fprintf(stderr, "libhyfault: %s: %s\n", what, strerror(errno));
    _exit(97);
}

/* ---- paths ---------------------------------------------------------------- */
static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        die("malloc");
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* An absolute form of path (relative to dirfd), malloc'd, or NULL when it
 * is not under the tracked root. No symlink resolution: hydrant's paths
 * are plain. */
static char *tracked_path(int dirfd, const char *path)
{
    if (!root_len || !path)
        return NULL;
    char *abs;
    if (path[0] == '/') {
        abs = strdup(path);
    } else if (dirfd == AT_FDCWD) {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return NULL;
        abs = join(cwd, path);
    } else if (dirfd >= 0 && dirfd < MAX_FDS && fd_file[dirfd]) {
        abs = join(files[fd_file[dirfd] - 1].path, path);
    } else {
        return NULL;
    }
    if (!abs)
        die("malloc");
    /* drop "/./" and a trailing "/." */
    char *d;
    while ((d = strstr(abs, "/./")))
        memmove(d, d + 2, strlen(d + 2) + 1);
    size_t n = strlen(abs);
    while (n > 1 && abs[n - 1] == '/')
        abs[--n] = 0;
    /* SQLite's -shm is shared memory (mapped, never synced): not tracked,
     * removed at a cut */
    if (strncmp(abs, root, root_len) != 0 || (abs[root_len] && abs[root_len] != '/') ||
        strncmp(abs, stash_dir, strlen(stash_dir)) == 0 ||
        (n > 4 && strcmp(abs + n - 4, "-shm") == 0)) {
        free(abs);
        return NULL;
    }
    return abs;
}

static char *parent_of(const char *path)
{
    char *p = strdup(path);
    if (!p)
        die("malloc");
    char *s = strrchr(p, '/');
    if (s && s != p)
        *s = 0;
    return p;
}

static struct ufile *file_by_path(const char *path)
{
    for (size_t i = 0; i < nfiles; i++)
        if (files[i].path && strcmp(files[i].path, path) == 0)
            return &files[i];
    return NULL;
}

static struct ufile *file_get(const char *path, bool is_dir)
{
    struct ufile *f = file_by_path(path);
    if (f)
        return f;
    for (size_t i = 0; i < nfiles; i++)
        if (!files[i].path) {
            f = &files[i];
            break;
        }
    if (!f) {
        if (nfiles == files_cap) {
            files_cap = files_cap ? files_cap * 2 : 256;
            files = realloc(files, files_cap * sizeof *files);
            if (!files)
                die("realloc");
        }
        f = &files[nfiles++];
    }
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    f->is_dir = is_dir;
    return f;
}

static struct ufile *file_of_fd(int fd)
{
    if (fd < 0 || fd >= MAX_FDS || !fd_file[fd])
        return NULL;
    return &files[fd_file[fd] - 1];
}

static void free_undo(struct undo *u)
{
    while (u) {
        struct undo *n = u->next;
        free(u->old);
        free(u);
        u = n;
    }
}

/* The durable size of f, learned from the file when first needed. */
static void file_know(struct ufile *f, int fd)
{
    if (f->known)
        return;
    struct stat st;
    f->synced_size = fstat(fd, &st) == 0 ? st.st_size : 0;
    f->known = true;
}

static struct undo *undo_piece(const struct undo *u, off_t from, off_t to)
{
    struct undo *p = calloc(1, sizeof *p);
    if (!p)
        die("malloc");
    p->off = from;
    p->len = (size_t)(to - from);
    if (u->old) {
        p->old = malloc(p->len ? p->len : 1);
        if (!p->old)
            die("malloc");
        memcpy(p->old, u->old + (from - u->off), p->len);
    }
    return p;
}

/* A new write over a range lost to a failed sync makes it the file's
 * again: the pages are dirty anew, and a later good sync keeps them. */
static void lost_trim(struct ufile *f, off_t off, size_t len)
{
    off_t end = off + (off_t)len;
    struct undo **pp = &f->lost;
    while (*pp) {
        struct undo *u = *pp;
        off_t uend = u->off + (off_t)u->len;
        if (uend <= off || u->off >= end) {
            pp = &u->next;
            continue;
        }
        struct undo *left = u->off < off ? undo_piece(u, u->off, off) : NULL;
        struct undo *right = uend > end ? undo_piece(u, end, uend) : NULL;
        struct undo *next = u->next;
        free(u->old);
        free(u);
        *pp = next;
        if (right) {
            right->next = *pp;
            *pp = right;
            pp = &right->next;
        }
        if (left) {
            left->next = *pp;
            *pp = left;
            pp = &left->next;
        }
    }
}

/* Keeps the old bytes of [off, off+len) that lie below the durable size. */
static void save_old(struct ufile *f, int fd, off_t off, size_t len)
{
    file_know(f, fd);
    if (f->lost)
        lost_trim(f, off, len);
    if (off >= f->synced_size || len == 0)
        return;
    size_t n = (size_t)(f->synced_size - off) < len ? (size_t)(f->synced_size - off) : len;
    struct undo *u = calloc(1, sizeof *u);
    char *old = malloc(n);
    if (!u || !old)
        die("malloc");
    int rfd = real_open(f->path, O_RDONLY | O_CLOEXEC);
    ssize_t got = rfd >= 0 ? pread(rfd, old, n, off) : -1;
    if (rfd >= 0)
        real_close(rfd);
    if (got < 0)
        got = 0;
    u->off = off;
    u->len = (size_t)got;
    u->old = old;
    u->next = f->undo;
    f->undo = u;
}

static void add_dirop(enum dop op, const char *path, const char *from, char *stash)
{
    struct dirop *d = calloc(1, sizeof *d);
    if (!d)
        die("malloc");
    d->op = op;
    d->path = strdup(path);
    d->from = from ? strdup(from) : NULL;
    d->stash = stash;
    d->parent = parent_of(path);
    d->next = dirops;
    dirops = d;
}

/* A hard link to path in the stash, malloc'd, or NULL if path is absent. */
static char *stash_file(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0 || S_ISDIR(st.st_mode))
        return NULL;
    char name[64];
    snprintf(name, sizeof name, "%ld", ++stash_seq);
    char *s = join(stash_dir, name);
    if (real_link(path, s) != 0)
        die("link into the stash");
    return s;
}

static void rename_tracked(const char *from, const char *to)
{
    struct ufile *f = file_by_path(from);
    if (f) {
        free(f->path);
        f->path = strdup(to);
    }
}

/* ---- the cut ----------------------------------------------------------- */
/* Puts back what the undo entries held, newest first, within the file's
 * present size (a region past it is gone already). */
static void restore(const char *path, struct undo *u)
{
    int fd = real_open(path, O_WRONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return;
    if (fstat(fd, &st) != 0)
        st.st_size = 0;
    static const char zeros[65536];
    for (; u; u = u->next) {
        if (u->off >= st.st_size || !u->len)
            continue;
        size_t n = (size_t)(st.st_size - u->off) < u->len ? (size_t)(st.st_size - u->off)
                                                        : u->len;
        for (size_t done = 0; done < n;) {
            size_t k = u->old ? n - done : (n - done < sizeof zeros ? n - done : sizeof zeros);
            if (real_pwrite(fd, u->old ? u->old + done : zeros, k, u->off + (off_t)done) < 0)
                die("restore");
            done += k;
        }
    }
    real_close(fd);
}

static void rm_tree(const char *path)
{
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char *p = join(path, e->d_name);
            rm_tree(p);
            free(p);
        }
        closedir(dir);
        rmdir(path);
    } else {
        real_unlink(path);
    }
}

static void remove_shm(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, ".hyfault"))
            continue;
        char *p = join(dir, e->d_name);
        size_t n = strlen(e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_shm(p);
        else if (n > 4 && strcmp(e->d_name + n - 4, "-shm") == 0)
            real_unlink(p);
        free(p);
    }
    closedir(d);
}

static void cut_fault(int sig)
{
    (void)sig;
    _exit(HYFAULT_EXIT_CUT);
}

/* Takes back everything not durable. Called with mu held. */
static void lose_power(void)
{
    /* another thread reading a mapped file we shorten dies of SIGBUS: it
     * is part of the cut, not a crash of its own */
    signal(SIGBUS, cut_fault);
    signal(SIGSEGV, cut_fault);
    for (size_t i = 0; i < nfiles; i++) {
        struct ufile *f = &files[i];
        if (!f->path || f->is_dir || !f->known)
            continue;
        if (truncate(f->path, f->synced_size) != 0 && errno != ENOENT)
            die("truncate");
        restore(f->path, f->undo);
        restore(f->path, f->lost); /* what a failed sync lost stays lost */
    }
    for (struct dirop *d = dirops; d; d = d->next) {
        switch (d->op) {
        case D_CREATE:
        case D_LINK:
            real_unlink(d->path);
            break;
        case D_MKDIR:
            rm_tree(d->path);
            break;
        case D_RENAME:
            real_rename(d->path, d->from);
            if (d->stash)
                real_rename(d->stash, d->path);
            break;
        case D_UNLINK:
            if (d->stash)
                real_rename(d->stash, d->path);
            break;
        }
    }
    remove_shm(root);
    rm_tree(stash_dir);
}

static void write_count(void)
{
    if (!count_file)
        return;
    FILE *f = fopen(count_file, "w");
    if (f) {
        fprintf(f, "%ld\n", ncalls);
        fclose(f);
    }
}

/* ---- the decision at each call --------------------------------------------- */
enum verdict { GO, FAIL, SHORT };

/* One more tracked call (op on path, for HYFAULT_VERBOSE); with mu held.
 * May not return (a cut). */
static enum verdict step(const char *op, const char *path)
{
    ncalls++;
    if (verbose && (ncalls == target_n || verbose > 1))
        fprintf(stderr, "libhyfault: call %ld: %s %s\n", ncalls, op, path ? path : "?");
    if (mode == M_CUT && ncalls == target_n) {
        lose_power();
        write_count();
        fprintf(stderr, "libhyfault: power cut at call %ld\n", ncalls);
        _exit(HYFAULT_EXIT_CUT);
    }
    if (mode == M_FAIL && (ncalls == target_n || (sticky && ncalls > target_n))) {
        if (errkind == E_SHORT)
            return SHORT;
        errno = errkind == E_ENOSPC ? ENOSPC : EIO;
        return FAIL;
    }
    return GO;
}

#define LOCK() pthread_mutex_lock(&mu)
#define UNLOCK() pthread_mutex_unlock(&mu)

/* ---- opening and closing ------------------------------------------------- */
static int after_open(int fd, char *abs, bool created, bool is_dir)
{
    if (fd >= 0 && fd < MAX_FDS) {
        struct ufile *f = file_get(abs, is_dir);
        fd_file[fd] = (int)(f - files) + 1;
        if (created) {
            f->known = true;
            f->synced_size = 0;
            free_undo(f->undo);
            f->undo = NULL;
            add_dirop(D_CREATE, abs, NULL, NULL);
        }
    }
    free(abs);
    return fd;
}

static int do_open(int dirfd, const char *path, int flags, mode_t m, bool at)
{
    char *abs = tracked_path(dirfd, path);
    if (!abs)
        return at ? real_openat(dirfd, path, flags, m) : real_open(path, flags, m);
    LOCK();
    struct stat st;
    bool existed = stat(abs, &st) == 0;
    bool is_dir = existed && S_ISDIR(st.st_mode);
    bool mutating = (flags & O_CREAT && !existed) || (flags & O_TRUNC && existed);
    if (mutating) {
        enum verdict v = step("open", abs);
        if (v != GO) {
            if (v == SHORT)
                errno = EIO;
            UNLOCK();
            free(abs);
            return -1;
        }
        if (flags & O_TRUNC && existed) {
            struct ufile *f = file_get(abs, false);
            int rfd = real_open(abs, O_RDONLY | O_CLOEXEC);
            if (rfd >= 0) {
                save_old(f, rfd, 0, (size_t)st.st_size);
                real_close(rfd);
            }
        }
    }
    int fd = at ? real_openat(dirfd, path, flags, m) : real_open(path, flags, m);
    fd = after_open(fd, abs, fd >= 0 && (flags & O_CREAT) && !existed, is_dir);
    UNLOCK();
    return fd;
}

static mode_t open_mode(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = open_mode(flags, ap);
    va_end(ap);
    return do_open(AT_FDCWD, path, flags, m, false);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = open_mode(flags, ap);
    va_end(ap);
    return do_open(AT_FDCWD, path, flags, m, false);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = open_mode(flags, ap);
    va_end(ap);
    return do_open(dirfd, path, flags, m, true);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = open_mode(flags, ap);
    va_end(ap);
    return do_open(dirfd, path, flags, m, true);
}

int creat(const char *path, mode_t m)
{
    return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, m, false);
}

int close(int fd)
{
    if (fd >= 0 && fd < MAX_FDS && fd_file[fd]) {
        LOCK();
        fd_file[fd] = 0;
        UNLOCK();
    }
    return real_close(fd);
}

/* ---- data ------------------------------------------------------------------- */
static ssize_t do_write(int fd, const void *buf, size_t n, off_t off, bool positioned,
                        ssize_t (*real)(int, const void *, size_t, off_t))
{
    LOCK();
    struct ufile *f = file_of_fd(fd);
    if (!f) {
        UNLOCK();
        return positioned ? real(fd, buf, n, off) : real_write(fd, buf, n);
    }
    enum verdict v = step("write", f->path);
    if (v == FAIL) {
        UNLOCK();
        return -1;
    }
    if (v == SHORT && n > 1)
        n /= 2;
    if (!positioned) {
        int fl = fcntl(fd, F_GETFL);
        struct stat st;
        off = (fl >= 0 && (fl & O_APPEND) && fstat(fd, &st) == 0) ? st.st_size
                                                                 : lseek(fd, 0, SEEK_CUR);
    }
    save_old(f, fd, off, n);
    ssize_t r = positioned ? real(fd, buf, n, off) : real_write(fd, buf, n);
    UNLOCK();
    return r;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    if (fd < 0 || fd >= MAX_FDS || !fd_file[fd])
        return real_write(fd, buf, n);
    return do_write(fd, buf, n, 0, false, NULL);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (fd < 0 || fd >= MAX_FDS || !fd_file[fd])
        return real_pwrite(fd, buf, n, off);
    return do_write(fd, buf, n, off, true, real_pwrite);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    if (fd < 0 || fd >= MAX_FDS || !fd_file[fd])
        return real_pwrite64(fd, buf, n, off);
    return do_write(fd, buf, n, off, true, real_pwrite64);
}

static ssize_t do_writev(int fd, const struct iovec *iov, int cnt, off_t off, bool positioned)
{
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    char *flat = malloc(total ? total : 1);
    if (!flat)
        die("malloc");
    size_t at = 0;
    for (int i = 0; i < cnt; i++) {
        memcpy(flat + at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
    }
    ssize_t r = positioned ? do_write(fd, flat, total, off, true, real_pwrite)
                           : do_write(fd, flat, total, 0, false, NULL);
    free(flat);
    return r;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    if (fd < 0 || fd >= MAX_FDS || !fd_file[fd])
        return real_writev(fd, iov, cnt);
    return do_writev(fd, iov, cnt, 0, false);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    if (fd < 0 || fd >= MAX_FDS || !fd_file[fd])
        return real_pwritev(fd, iov, cnt, off);
    return do_writev(fd, iov, cnt, off, true);
}

static int do_ftruncate(int fd, off_t len, int (*real)(int, off_t))
{
    LOCK();
    struct ufile *f = file_of_fd(fd);
    if (!f) {
        UNLOCK();
        return real(fd, len);
    }
    if (step("ftruncate", f->path) != GO) {
        errno = errno == ENOSPC ? ENOSPC : EIO;
        UNLOCK();
        return -1;
    }
    file_know(f, fd);
    struct stat st;
    if (fstat(fd, &st) == 0 && len < st.st_size)
        save_old(f, fd, len, (size_t)(st.st_size - len));
    int r = real(fd, len);
    UNLOCK();
    return r;
}

int ftruncate(int fd, off_t len)
{
    return do_ftruncate(fd, len, real_ftruncate);
}

int ftruncate64(int fd, off_t len)
{
    return do_ftruncate(fd, len, real_ftruncate64);
}

int fallocate(int fd, int m, off_t off, off_t len)
{
    LOCK();
    struct ufile *f = file_of_fd(fd);
    if (f && step("fallocate", f->path) != GO) {
        UNLOCK();
        return -1;
    }
    if (f)
        file_know(f, fd);
    int r = real_fallocate(fd, m, off, len);
    UNLOCK();
    return r;
}

int sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
    LOCK();
    struct ufile *f = file_of_fd(fd);
    if (f && step("sync_file_range", f->path) != GO) {
        UNLOCK();
        return -1;
    }
    int r = real_sync_file_range(fd, off, n, flags); /* not a durability point */
    UNLOCK();
    return r;
}

static int do_sync(int fd, int (*real)(int))
{
    LOCK();
    struct ufile *f = file_of_fd(fd);
    if (!f) {
        UNLOCK();
        return real(fd);
    }
    enum verdict v = step(f->is_dir ? "fsync(dir)" : "fsync", f->path);
    if (v != GO) {
        /* what was pending is gone for good, whatever a later sync says:
         * the bytes written since the last good sync revert to what the
         * disk held (old bytes, zeros past the old end) */
        if (!f->is_dir) {
            file_know(f, fd);
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_size > f->synced_size) {
                struct undo *hole = calloc(1, sizeof *hole);
                if (!hole)
                    die("malloc");
                hole->off = f->synced_size;
                hole->len = (size_t)(st.st_size - f->synced_size);
                hole->next = f->lost;
                f->lost = hole;
            }
            struct undo **tail = &f->undo;
            while (*tail)
                tail = &(*tail)->next;
            *tail = f->lost; /* the older losses stay older */
            f->lost = f->undo;
            f->undo = NULL;
        }
        errno = EIO;
        UNLOCK();
        return -1;
    }
    int r = real(fd);
    if (r == 0) {
        if (f->is_dir) {
            /* the names in this directory are durable now */
            struct dirop **pp = &dirops;
            while (*pp) {
                struct dirop *d = *pp;
                if (strcmp(d->parent, f->path) == 0) {
                    *pp = d->next;
                    if (d->stash)
                        real_unlink(d->stash);
                    free(d->path);
                    free(d->from);
                    free(d->stash);
                    free(d->parent);
                    free(d);
                } else {
                    pp = &d->next;
                }
            }
        } else {
            struct stat st;
            f->synced_size = fstat(fd, &st) == 0 ? st.st_size : f->synced_size;
            f->known = true;
            free_undo(f->undo);
            f->undo = NULL;
        }
    }
    UNLOCK();
    return r;
}

int fsync(int fd)
{
    return do_sync(fd, real_fsync);
}

int fdatasync(int fd)
{
    return do_sync(fd, real_fdatasync);
}

/* ---- names --------------------------------------------------------------- */
static int do_rename(int ofd, const char *from, int nfd, const char *to, bool at)
{
    char *a = tracked_path(ofd, from), *b = tracked_path(nfd, to);
    if (!a || !b) {
        free(a);
        free(b);
        return at ? real_renameat(ofd, from, nfd, to) : real_rename(from, to);
    }
    LOCK();
    if (step("rename", b) != GO) {
        UNLOCK();
        free(a);
        free(b);
        return -1;
    }
    char *stash = stash_file(b);
    int r = at ? real_renameat(ofd, from, nfd, to) : real_rename(from, to);
    if (r == 0) {
        if (stash)
            rename_tracked(b, stash);
        rename_tracked(a, b);
        add_dirop(D_RENAME, b, a, stash);
    } else if (stash) {
        real_unlink(stash);
        free(stash);
    }
    UNLOCK();
    free(a);
    free(b);
    return r;
}

int rename(const char *from, const char *to)
{
    return do_rename(AT_FDCWD, from, AT_FDCWD, to, false);
}

int renameat(int ofd, const char *from, int nfd, const char *to)
{
    return do_rename(ofd, from, nfd, to, true);
}

static int do_unlink(int dirfd, const char *path, int flags, bool at)
{
    char *a = tracked_path(dirfd, path);
    if (!a)
        return at ? real_unlinkat(dirfd, path, flags) : real_unlink(path);
    LOCK();
    if (step("unlink", a) != GO) {
        UNLOCK();
        free(a);
        return -1;
    }
    char *stash = (flags & AT_REMOVEDIR) ? NULL : stash_file(a);
    int r = at ? real_unlinkat(dirfd, path, flags) : real_unlink(path);
    if (r == 0) {
        if (stash)
            rename_tracked(a, stash);
        add_dirop(D_UNLINK, a, NULL, stash);
    } else if (stash) {
        real_unlink(stash);
        free(stash);
    }
    UNLOCK();
    free(a);
    return r;
}

int unlink(const char *path)
{
    return do_unlink(AT_FDCWD, path, 0, false);
}

int unlinkat(int dirfd, const char *path, int flags)
{
    return do_unlink(dirfd, path, flags, true);
}

int mkdir(const char *path, mode_t m)
{
    char *a = tracked_path(AT_FDCWD, path);
    if (!a)
        return real_mkdir(path, m);
    LOCK();
    if (step("mkdir", a) != GO) {
        UNLOCK();
        free(a);
        return -1;
    }
    int r = real_mkdir(path, m);
    if (r == 0)
        add_dirop(D_MKDIR, a, NULL, NULL);
    UNLOCK();
    free(a);
    return r;
}

int link(const char *from, const char *to)
{
    char *b = tracked_path(AT_FDCWD, to);
    if (!b)
        return real_link(from, to);
    LOCK();
    if (step("link", b) != GO) {
        UNLOCK();
        free(b);
        return -1;
    }
    int r = real_link(from, to);
    if (r == 0)
        add_dirop(D_LINK, b, NULL, NULL);
    UNLOCK();
    free(b);
    return r;
}

/* ---- start and exit ------------------------------------------------------ */
#define RESOLVE(name) real_##name = dlsym(RTLD_NEXT, #name)

static void at_exit(void)
{
    LOCK();
    if (cut_at_exit || mode == M_FAIL) {
        /* a failed sync's losses reach the disk's image at exit; with
         * HYFAULT_CUT_AT_EXIT everything unsynced does */
        if (cut_at_exit) {
            lose_power();
        } else {
            for (size_t i = 0; i < nfiles; i++) {
                struct ufile *f = &files[i];
                if (!f->path || f->is_dir || !f->lost)
                    continue;
                restore(f->path, f->lost);
            }
            rm_tree(stash_dir);
        }
    } else if (mode != M_OFF) {
        rm_tree(stash_dir);
    }
    write_count();
    UNLOCK();
}

__attribute__((constructor)) static void hyfault_init(void)
{
    RESOLVE(open); RESOLVE(open64); RESOLVE(openat); RESOLVE(openat64); RESOLVE(creat);
    RESOLVE(close); RESOLVE(write); RESOLVE(pwrite); RESOLVE(pwrite64); RESOLVE(writev);
    RESOLVE(pwritev); RESOLVE(ftruncate); RESOLVE(ftruncate64); RESOLVE(fallocate);
    RESOLVE(fsync); RESOLVE(fdatasync); RESOLVE(sync_file_range); RESOLVE(rename);
    RESOLVE(renameat); RESOLVE(unlink); RESOLVE(unlinkat); RESOLVE(mkdir); RESOLVE(link);
    const char *dir = getenv("HYFAULT_DIR");
    const char *m = getenv("HYFAULT_MODE");
    if (!dir || !*dir || !m)
        return;
    mode = !strcmp(m, "count") ? M_COUNT : !strcmp(m, "fail") ? M_FAIL
         : !strcmp(m, "cut") ? M_CUT : M_OFF;
    if (mode == M_OFF)
        return;
    const char *n = getenv("HYFAULT_N"), *e = getenv("HYFAULT_ERR");
    target_n = n ? atol(n) : 0;
    errkind = e && !strcmp(e, "ENOSPC") ? E_ENOSPC : e && !strcmp(e, "SHORT") ? E_SHORT : E_EIO;
    sticky = getenv("HYFAULT_STICKY") && !strcmp(getenv("HYFAULT_STICKY"), "1");
    cut_at_exit = getenv("HYFAULT_CUT_AT_EXIT") && !strcmp(getenv("HYFAULT_CUT_AT_EXIT"), "1");
    count_file = getenv("HYFAULT_COUNT_FILE");
    verbose = getenv("HYFAULT_VERBOSE") ? atoi(getenv("HYFAULT_VERBOSE")) : 0;
    if (dir[0] == '/') {
        snprintf(root, sizeof root, "%s", dir);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            die("getcwd");
        snprintf(root, sizeof root, "%s/%s", cwd, dir);
    }
    root_len = strlen(root);
    while (root_len > 1 && root[root_len - 1] == '/')
        root[--root_len] = 0;
    snprintf(stash_dir, sizeof stash_dir, "%s/.hyfault", root);
    real_mkdir(root, 0700);
    rm_tree(stash_dir);
    if (real_mkdir(stash_dir, 0700) != 0 && errno != EEXIST)
        die("mkdir stash");
    atexit(at_exit);
}
