/* datadir.c -- one process per data directory.
 *
 * Two servers on one --data-dir would each replay, deliver and delete the
 * other's write-ahead log: acknowledged records lost. So before anything
 * in the directory is read or written, main.c takes an exclusive lock on
 *
 *   <data_dir>/LOCK      mode 0600; content: the holder's PID in decimal
 *                        and "\n" (e.g. "4711\n"); informational only --
 *                        the lock, not the content, is the truth
 *
 * The lock is a POSIX record lock (fcntl F_SETLK, F_WRLCK, whole file)
 * held by a descriptor that stays open until the process ends; the kernel
 * releases it on any death, kill -9 included, so a stale LOCK file never
 * blocks a restart and is simply reused. F_GETLK names the holder's PID
 * from the kernel even before the holder has written the file (a start
 * racing another start still gets a PID to print). POSIX locks belong to
 * the process and vanish when the process closes ANY descriptor of the
 * file: nothing else in hydrant opens LOCK, and datadir_holder() answers
 * for its own process without opening it.
 *
 * The directory itself is created 0700 (the store, the log and the
 * catalogs under it hold users' data); an existing one keeps its mode.
 *
 * Threading: datadir_lock runs once on the main thread before any other
 * thread exists; datadir_holder is safe from any thread.
 */
#include "datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATADIR_LOCK_NAME "LOCK"

static int datadir_lock_fd = -1; /* held for the life of the process */
static dev_t datadir_lock_dev;
static ino_t datadir_lock_ino;

static int datadir_errno_rc(int e)
{
    return e == ENOSPC || e == EDQUOT ? HY_ENOSPC : HY_EIO;
}

/* The PID the LOCK file names, 0 when unreadable. */
static pid_t datadir_read_pid(int fd)
{
    char text[32];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    if (n <= 0)
        return 0;
    text[n] = 0;
    char *end;
    long v = strtol(text, &end, 10);
    return v > 0 && (*end == '\n' || *end == 0) ? (pid_t)v : 0;
}

/* The kernel's view of who holds fd's file; 0 when nobody does. */
static pid_t datadir_kernel_holder(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_GETLK, &fl) != 0 || fl.l_type == F_UNLCK)
        return 0;
    return fl.l_pid > 0 ? fl.l_pid : datadir_read_pid(fd);
}

int datadir_lock(const char *dir, pid_t *holder)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/" DATADIR_LOCK_NAME, dir);
    *holder = 0;
    if (n < 0 || (size_t)n >= sizeof path)
        return HY_EINVAL;

    /* parents as any directory; the data directory itself private */
    char parent[4096];
    memcpy(parent, dir, strlen(dir) + 1);
    char *slash = strrchr(parent, '/');
    while (slash && slash > parent && slash[1] == 0) { /* "a/b/" */
        *slash = 0;
        slash = strrchr(parent, '/');
    }
    if (slash && slash > parent) {
        *slash = 0;
        int rc = mkdir_p(parent, 0755);
        if (rc)
            return rc;
    }
    if (mkdir(dir, 0700) == 0) {
        /* a new directory: its entry made durable in the parent */
        int pfd = open(slash && slash > parent ? parent : (dir[0] == '/' ? "/" : "."),
                       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd >= 0) {
            (void)fsync(pfd);
            close(pfd);
        }
    } else if (errno != EEXIST) {
        return datadir_errno_rc(errno);
    }

    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return datadir_errno_rc(errno);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int e = errno;
        if (e == EAGAIN || e == EACCES) {
            *holder = datadir_kernel_holder(fd);
            close(fd);
            return HY_EBUSY;
        }
        close(fd);
        return HY_EIO;
    }
    /* ours now: record the PID (a failure here leaves the lock valid) */
    char text[32];
    int len = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len)
        log_warn("datadir", "cannot write the PID into %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0) {
        datadir_lock_dev = st.st_dev;
        datadir_lock_ino = st.st_ino;
    }
    datadir_lock_fd = fd; /* never closed: the lock lives as long as we do */
    return HY_OK;
}

int datadir_holder(const char *dir, pid_t *pid)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/" DATADIR_LOCK_NAME, dir);
    *pid = 0;
    if (n < 0 || (size_t)n >= sizeof path)
        return HY_EINVAL;
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? HY_OK : HY_EIO;
    if (datadir_lock_fd >= 0 && st.st_dev == datadir_lock_dev &&
        st.st_ino == datadir_lock_ino) {
        *pid = getpid(); /* opening and closing it here would drop our lock */
        return HY_OK;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? HY_OK : HY_EIO;
    *pid = datadir_kernel_holder(fd);
    close(fd);
    return HY_OK;
}
