/* datadir.h -- one process per data directory: the LOCK file. Owned by
 * datadir.c; main.c takes the lock before anything in the directory is
 * read or written; tools (wal-dump) ask who holds it. */
#ifndef HYDRANT_DATADIR_H
#define HYDRANT_DATADIR_H

#include "server.h"

#include <sys/types.h>

/* Creates dir if needed (mode 0700; missing parents 0755) and takes the
 * exclusive lock on <dir>/LOCK for the life of the process (the kernel
 * drops it on any exit, kill -9 included), writing the PID into the file.
 * HY_OK; HY_EBUSY when another process holds it (*holder gets its PID, 0
 * when it cannot be told); HY_EIO / HY_ENOSPC when the directory or the
 * file cannot be made. Call once, before any other thread starts. */
int datadir_lock(const char *dir, pid_t *holder);

/* Who holds the lock of dir: HY_OK with *pid the holder's PID, or 0 when
 * no process holds it (or dir has no LOCK file). Never takes the lock and
 * never disturbs a holder. In the process that holds the lock it answers
 * getpid() without opening the file (closing any descriptor of a locked
 * file would drop a POSIX lock). HY_EIO when the file cannot be read. */
int datadir_holder(const char *dir, pid_t *pid);

#endif
