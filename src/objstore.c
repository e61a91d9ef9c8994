/* objstore.c -- the embedded S3 store: object bytes in files, metadata in
 * a SQLite catalog.
 *
 * On disk, under <data_dir>/store/:
 *
 *   catalog.db           SQLite, WAL mode, synchronous=NORMAL
 *   tmp/<32 hex>.tmp     objects being written (removed at open)
 *   objects/<hh>/<32 hex>  object bytes, exactly as uploaded; files no row
 *                        names (a crash mid-write) are removed at open
 *
 * The file name is 16 random bytes in hex, fanned out by its first byte;
 * it never derives from the key, so no key ("../x", "/", 1024 bytes of
 * UTF-8) can name a path outside objects/. The catalog:
 *
 *   buckets(name PK, region, created_ms)
 *   objects(bucket, key, size, etag, content_type, meta, last_modified_ms,
 *           file, PRIMARY KEY(bucket, key)) WITHOUT ROWID
 *
 * Keys are TEXT under the BINARY collation, i.e. compared with memcmp, which
 * is S3's UTF-8 byte order; listing is a range scan of the primary key.
 *
 * Writing an object: temp file, write, fsync, rename into objects/, fsync
 * the directory, then (one transaction) upsert the row, and only after the
 * commit unlink the file of the object it replaced. A crash at any point
 * leaves either the old object or the new one; at worst an orphan file
 * that no row names (never a row naming a missing file).
 *
 * Threading: every function is safe from any thread. The connection is
 * opened with SQLITE_OPEN_FULLMUTEX, and a store mutex makes each
 * read-modify-write sequence atomic; file I/O on object bytes happens
 * outside the mutex.
 */
#include "objstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OBJSTORE_TAG "objstore"
#define OBJSTORE_PATH_MAX 4096
#define OBJSTORE_FILE_HEX 32 /* 16 random bytes */

struct objstore *hy_store;

struct objstore {
    sqlite3 *db;
    pthread_mutex_t lock;
    char root[OBJSTORE_PATH_MAX];   /* <dir>/store */
};

static const char objstore_schema[] =
    "CREATE TABLE IF NOT EXISTS buckets("
    " name TEXT PRIMARY KEY,"
    " region TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS objects("
    " bucket TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " etag TEXT NOT NULL,"
    " content_type TEXT NOT NULL,"
    " meta TEXT NOT NULL,"
    " last_modified_ms INTEGER NOT NULL,"
    " file TEXT NOT NULL,"
    " PRIMARY KEY(bucket, key)) WITHOUT ROWID;";

/* ---- small helpers ------------------------------------------------------ */
static int objstore_errno_rc(int err)
{
    return err == ENOSPC || err == EDQUOT ? HY_ENOSPC : HY_EIO;
}

static int objstore_db_rc(struct objstore *os, int src, const char *what)
{
    if (src == SQLITE_FULL)
        return HY_ENOSPC;
    log_error(OBJSTORE_TAG, "%s: %s", what, sqlite3_errmsg(os->db));
    return HY_EDB;
}

static int objstore_path(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int objstore_path(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= cap ? HY_EINVAL : HY_OK;
}

/* A file name is exactly 32 lowercase hex digits; anything else in a row
 * is corruption and must not reach unlink/open. */
static bool objstore_file_name_ok(const char *name)
{
    size_t i = 0;
    for (; name[i]; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    return i == OBJSTORE_FILE_HEX;
}

static int objstore_file_path(struct objstore *os, const char *name, char *out,
                              size_t cap)
{
    if (!objstore_file_name_ok(name))
        return HY_EIO;
    return objstore_path(out, cap, "%s/objects/%.2s/%s", os->root, name, name);
}

static void objstore_unlink_file(struct objstore *os, const char *name)
{
    char path[OBJSTORE_PATH_MAX];
    if (objstore_file_path(os, name, path, sizeof path) != HY_OK)
        return;
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn(OBJSTORE_TAG, "cannot remove %s: %s", path, strerror(errno));
}

static int objstore_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return objstore_errno_rc(errno);
    int rc = fsync(fd) == 0 ? HY_OK : objstore_errno_rc(errno);
    close(fd);
    return rc;
}

static void objstore_clean_tmp(struct objstore *os)
{
    char dir[OBJSTORE_PATH_MAX], path[OBJSTORE_PATH_MAX];
    if (objstore_path(dir, sizeof dir, "%s/tmp", os->root) != HY_OK)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (objstore_path(path, sizeof path, "%s/%s", dir, de->d_name) == HY_OK)
            unlink(path);
    }
    closedir(d);
}

/* ---- orphan sweep -------------------------------------------------------
 * A crash between rename and commit, or between commit and the unlink of a
 * replaced file, leaves a file no row names. At open, with no writer
 * running yet, every file under objects/ that the catalog does not name is
 * removed. The names are held in a sorted array for the walk; stores too
 * big for that skip the sweep (it only reclaims space). */
#define OBJSTORE_SWEEP_MAX (4u << 20)

static int objstore_cmp_name(const void *a, const void *b)
{
    return memcmp(a, b, OBJSTORE_FILE_HEX);
}

static void objstore_sweep_dir(const char *dir, const char *names, size_t n, size_t *removed)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[OBJSTORE_PATH_MAX];
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (objstore_file_name_ok(de->d_name) &&
            bsearch(de->d_name, names, n, OBJSTORE_FILE_HEX, objstore_cmp_name))
            continue;
        if (objstore_path(path, sizeof path, "%s/%s", dir, de->d_name) != HY_OK)
            continue;
        if (unlink(path) == 0)
            (*removed)++;
        else
            log_warn(OBJSTORE_TAG, "cannot remove orphan %s: %s", path, strerror(errno));
    }
    closedir(d);
}

static void objstore_sweep(struct objstore *os)
{
    sqlite3_stmt *st;
    char *names = NULL;
    size_t n = 0, cap = 0, removed = 0;
    char dir[OBJSTORE_PATH_MAX];
    int src = sqlite3_prepare_v2(os->db, "SELECT file FROM objects", -1, &st, NULL);
    if (src != SQLITE_OK)
        return;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *f = (const char *)sqlite3_column_text(st, 0);
        if (!f || !objstore_file_name_ok(f))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            char *p = ncap <= OBJSTORE_SWEEP_MAX
                          ? realloc(names, ncap * OBJSTORE_FILE_HEX) : NULL;
            if (!p)
                break;
            names = p;
            cap = ncap;
        }
        memcpy(names + n * OBJSTORE_FILE_HEX, f, OBJSTORE_FILE_HEX);
        n++;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE) {
        log_info(OBJSTORE_TAG, "orphan sweep skipped");
        free(names);
        return;
    }
    if (n > 0)
        qsort(names, n, OBJSTORE_FILE_HEX, objstore_cmp_name);
    for (int i = 0; i < 256; i++) {
        if (objstore_path(dir, sizeof dir, "%s/objects/%02x", os->root, i) == HY_OK)
            objstore_sweep_dir(dir, names, n, &removed);
    }
    if (removed)
        log_info(OBJSTORE_TAG, "removed %zu orphaned object file(s)", removed);
    free(names);
}

/* ---- open / close ------------------------------------------------------- */
int objstore_open(const char *dir, struct objstore **out)
{
    int rc, src;
    char path[OBJSTORE_PATH_MAX];
    struct objstore *os = calloc(1, sizeof *os);
    if (!os)
        return HY_ENOMEM;
    if ((rc = objstore_path(os->root, sizeof os->root, "%s/store", dir)))
        goto out_free_os;
    if ((rc = objstore_path(path, sizeof path, "%s/objects", os->root)) ||
        (rc = mkdir_p(path, 0755)))
        goto out_free_os;
    if ((rc = objstore_path(path, sizeof path, "%s/tmp", os->root)) ||
        (rc = mkdir_p(path, 0755)))
        goto out_free_os;
    objstore_clean_tmp(os);

    if ((rc = objstore_path(path, sizeof path, "%s/catalog.db", os->root)))
        goto out_free_os;
    src = sqlite3_open_v2(path, &os->db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                              SQLITE_OPEN_FULLMUTEX,
                          NULL);
    if (src != SQLITE_OK) {
        log_error(OBJSTORE_TAG, "cannot open %s: %s", path,
                  os->db ? sqlite3_errmsg(os->db) : sqlite3_errstr(src));
        rc = src == SQLITE_FULL ? HY_ENOSPC : HY_EDB;
        goto out_close_db;
    }
    sqlite3_busy_timeout(os->db, 5000);
    char *err = NULL;
    src = sqlite3_exec(os->db,
                       "PRAGMA journal_mode=WAL;"
                       "PRAGMA synchronous=NORMAL;",
                       NULL, NULL, &err);
    if (src == SQLITE_OK)
        src = sqlite3_exec(os->db, objstore_schema, NULL, NULL, &err);
    if (src != SQLITE_OK) {
        log_error(OBJSTORE_TAG, "cannot set up %s: %s", path, err ? err : "?");
        sqlite3_free(err);
        rc = src == SQLITE_FULL ? HY_ENOSPC : HY_EDB;
        goto out_close_db;
    }
    if (pthread_mutex_init(&os->lock, NULL) != 0) {
        rc = HY_ENOMEM;
        goto out_close_db;
    }
    objstore_sweep(os);
    *out = os;
    return HY_OK;

out_close_db:
    sqlite3_close(os->db);
out_free_os:
    if (rc != HY_OK && rc != HY_EDB)
        log_error(OBJSTORE_TAG, "cannot open the store in %s: %s", dir,
                  hy_strerror(rc));
    free(os);
    return rc;
}

void objstore_close(struct objstore *os)
{
    if (!os)
        return;
    sqlite3_close(os->db);
    pthread_mutex_destroy(&os->lock);
    free(os);
}

/* ---- buckets ------------------------------------------------------------ */
/* With os->lock held. */
static int objstore_bucket_exists_locked(struct objstore *os, const char *bucket)
{
    sqlite3_stmt *st;
    int src = sqlite3_prepare_v2(os->db, "SELECT 1 FROM buckets WHERE name=?1",
                                 -1, &st, NULL);
    if (src != SQLITE_OK)
        return objstore_db_rc(os, src, "bucket lookup");
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    int rc = src == SQLITE_ROW ? HY_OK
           : src == SQLITE_DONE ? HY_ENOTFOUND
           : objstore_db_rc(os, src, "bucket lookup");
    sqlite3_finalize(st);
    return rc;
}

int objstore_bucket_exists(struct objstore *os, const char *bucket)
{
    pthread_mutex_lock(&os->lock);
    int rc = objstore_bucket_exists_locked(os, bucket);
    pthread_mutex_unlock(&os->lock);
    return rc;
}

int objstore_bucket_create(struct objstore *os, const char *bucket,
                           const char *region)
{
    if (!region || !*region)
        region = "us-east-1";
    if (strlen(region) > OBJSTORE_MAX_REGION)
        return HY_EINVAL;
    sqlite3_stmt *st;
    pthread_mutex_lock(&os->lock);
    int rc = HY_OK;
    int src = sqlite3_prepare_v2(
        os->db, "INSERT INTO buckets(name, region, created_ms) VALUES(?1,?2,?3)",
        -1, &st, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "bucket create");
        goto out_unlock;
    }
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, region, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, hy_now_ms());
    src = sqlite3_step(st);
    if (src == SQLITE_CONSTRAINT)
        rc = HY_EEXIST;
    else if (src != SQLITE_DONE)
        rc = objstore_db_rc(os, src, "bucket create");
    sqlite3_finalize(st);
out_unlock:
    pthread_mutex_unlock(&os->lock);
    return rc;
}

int objstore_bucket_delete(struct objstore *os, const char *bucket)
{
    sqlite3_stmt *st = NULL;
    int rc, src;
    pthread_mutex_lock(&os->lock);
    if ((rc = objstore_bucket_exists_locked(os, bucket)))
        goto out_unlock;
    src = sqlite3_prepare_v2(os->db, "SELECT 1 FROM objects WHERE bucket=?1 LIMIT 1",
                             -1, &st, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "bucket delete");
        goto out_unlock;
    }
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src == SQLITE_ROW) {
        rc = HY_ENOTEMPTY;
        goto out_unlock;
    }
    if (src != SQLITE_DONE) {
        rc = objstore_db_rc(os, src, "bucket delete");
        goto out_unlock;
    }
    src = sqlite3_prepare_v2(os->db, "DELETE FROM buckets WHERE name=?1", -1, &st,
                             NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "bucket delete");
        goto out_unlock;
    }
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = objstore_db_rc(os, src, "bucket delete");
    sqlite3_finalize(st);
out_unlock:
    pthread_mutex_unlock(&os->lock);
    return rc;
}

static void objstore_copy_col(char *out, size_t cap, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, col) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(out, t, n);
    out[n] = 0;
}

int objstore_bucket_region(struct objstore *os, const char *bucket,
                           char region_out[OBJSTORE_MAX_REGION + 1])
{
    sqlite3_stmt *st;
    int rc;
    pthread_mutex_lock(&os->lock);
    int src = sqlite3_prepare_v2(os->db, "SELECT region FROM buckets WHERE name=?1",
                                 -1, &st, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "bucket region");
        goto out_unlock;
    }
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        objstore_copy_col(region_out, OBJSTORE_MAX_REGION + 1, st, 0);
        rc = HY_OK;
    } else {
        rc = src == SQLITE_DONE ? HY_ENOTFOUND
                                : objstore_db_rc(os, src, "bucket region");
    }
    sqlite3_finalize(st);
out_unlock:
    pthread_mutex_unlock(&os->lock);
    return rc;
}

int objstore_bucket_list(struct objstore *os, objstore_bucket_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = HY_OK;
    pthread_mutex_lock(&os->lock);
    int src = sqlite3_prepare_v2(
        os->db, "SELECT name, region, created_ms FROM buckets ORDER BY name", -1,
        &st, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "bucket list");
        goto out_unlock;
    }
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (fn(ctx, (const char *)sqlite3_column_text(st, 0),
               (const char *)sqlite3_column_text(st, 1),
               sqlite3_column_int64(st, 2)))
            break;
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = objstore_db_rc(os, src, "bucket list");
    sqlite3_finalize(st);
out_unlock:
    pthread_mutex_unlock(&os->lock);
    return rc;
}

/* ---- objects ------------------------------------------------------------ */
/* Writes data to a new temp file, fsyncs it and renames it into objects/.
 * name_out gets the file's name; md5 is computed on the way. */
static int objstore_write_file(struct objstore *os, const void *data, size_t len,
                               char name_out[OBJSTORE_FILE_HEX + 1],
                               char md5_out[33])
{
    unsigned char id[OBJSTORE_FILE_HEX / 2];
    char tmp[OBJSTORE_PATH_MAX], dir[OBJSTORE_PATH_MAX], dst[OBJSTORE_PATH_MAX];
    int rc = hy_random(id, sizeof id);
    if (rc)
        return rc;
    hex_encode(name_out, id, sizeof id);
    md5_hex(md5_out, data, len);
    if ((rc = objstore_path(tmp, sizeof tmp, "%s/tmp/%s.tmp", os->root, name_out)) ||
        (rc = objstore_path(dir, sizeof dir, "%s/objects/%.2s", os->root, name_out)) ||
        (rc = objstore_path(dst, sizeof dst, "%s/%s", dir, name_out)))
        return rc;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        rc = objstore_errno_rc(errno);
        log_error(OBJSTORE_TAG, "mkdir %s: %s", dir, strerror(errno));
        return rc;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = objstore_errno_rc(errno);
        log_error(OBJSTORE_TAG, "create %s: %s", tmp, strerror(errno));
        return rc;
    }
    rc = write_all(fd, data, len);
    if (rc == HY_OK && fsync(fd) != 0)
        rc = objstore_errno_rc(errno);
    if (close(fd) != 0 && rc == HY_OK)
        rc = objstore_errno_rc(errno);
    if (rc) {
        log_error(OBJSTORE_TAG, "write %s: %s", tmp, hy_strerror(rc));
        goto out_unlink_tmp;
    }
    if (rename(tmp, dst) != 0) {
        rc = objstore_errno_rc(errno);
        log_error(OBJSTORE_TAG, "rename %s: %s", tmp, strerror(errno));
        goto out_unlink_tmp;
    }
    if ((rc = objstore_fsync_dir(dir))) {
        log_error(OBJSTORE_TAG, "fsync %s: %s", dir, hy_strerror(rc));
        unlink(dst);
        return rc;
    }
    return HY_OK;

out_unlink_tmp:
    unlink(tmp);
    return rc;
}

int objstore_put_meta(struct objstore *os, const char *bucket, const char *key,
                      const void *data, size_t len, const char *content_type,
                      const char *meta, char etag_out[40],
                      int64_t *last_modified_out)
{
    char name[OBJSTORE_FILE_HEX + 1], md5[33], etag[40];
    char old[OBJSTORE_FILE_HEX + 1] = "";
    sqlite3_stmt *st = NULL;
    int rc, src;

    if (!content_type || !*content_type)
        content_type = "binary/octet-stream";
    if (!meta)
        meta = "";
    if (strlen(key) > OBJSTORE_MAX_KEY || strlen(meta) > OBJSTORE_MAX_META ||
        strlen(content_type) > OBJSTORE_MAX_CTYPE)
        return HY_ETOOBIG;
    if (!*key)
        return HY_EINVAL;
    /* fail fast, before writing bytes; checked again in the transaction */
    if ((rc = objstore_bucket_exists(os, bucket)))
        return rc;
    if ((rc = objstore_write_file(os, data, len, name, md5)))
        return rc;
    snprintf(etag, sizeof etag, "\"%s\"", md5);
    int64_t now = hy_now_ms();

    pthread_mutex_lock(&os->lock);
    src = sqlite3_exec(os->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "put begin");
        goto out_unlock;
    }
    if ((rc = objstore_bucket_exists_locked(os, bucket)))
        goto out_rollback;
    src = sqlite3_prepare_v2(os->db,
                             "SELECT file FROM objects WHERE bucket=?1 AND key=?2",
                             -1, &st, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "put lookup");
        goto out_rollback;
    }
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        objstore_copy_col(old, sizeof old, st, 0);
    else if (src != SQLITE_DONE)
        rc = objstore_db_rc(os, src, "put lookup");
    sqlite3_finalize(st);
    if (rc)
        goto out_rollback;
    src = sqlite3_prepare_v2(
        os->db,
        "INSERT OR REPLACE INTO objects(bucket, key, size, etag, content_type, meta,"
        " last_modified_ms, file) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
        -1, &st, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "put insert");
        goto out_rollback;
    }
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)len);
    sqlite3_bind_text(st, 4, etag, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, content_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, meta, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_text(st, 8, name, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_DONE) {
        rc = objstore_db_rc(os, src, "put insert");
        goto out_rollback;
    }
    src = sqlite3_exec(os->db, "COMMIT", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "put commit");
        goto out_rollback;
    }
    pthread_mutex_unlock(&os->lock);
    if (old[0])
        objstore_unlink_file(os, old);
    if (etag_out)
        memcpy(etag_out, etag, strlen(etag) + 1);
    if (last_modified_out)
        *last_modified_out = now;
    return HY_OK;

out_rollback:
    sqlite3_exec(os->db, "ROLLBACK", NULL, NULL, NULL);
out_unlock:
    pthread_mutex_unlock(&os->lock);
    objstore_unlink_file(os, name);
    return rc;
}

int objstore_put(struct objstore *os, const char *bucket, const char *key,
                 const void *data, size_t len, const char *content_type,
                 char etag_out[40])
{
    return objstore_put_meta(os, bucket, key, data, len, content_type, NULL,
                             etag_out, NULL);
}

/* Reads one object's row into info (and its file name into file), with
 * os->lock held. */
static int objstore_lookup_locked(struct objstore *os, const char *bucket,
                                  const char *key, struct objstore_obj *info,
                                  char file[OBJSTORE_FILE_HEX + 1])
{
    sqlite3_stmt *st;
    int src = sqlite3_prepare_v2(
        os->db,
        "SELECT size, etag, content_type, meta, last_modified_ms, file"
        " FROM objects WHERE bucket=?1 AND key=?2",
        -1, &st, NULL);
    if (src != SQLITE_OK)
        return objstore_db_rc(os, src, "object lookup");
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    int rc = HY_OK;
    if (src == SQLITE_ROW) {
        size_t klen = strlen(key);
        if (klen > OBJSTORE_MAX_KEY)
            klen = OBJSTORE_MAX_KEY;
        memcpy(info->key, key, klen);
        info->key[klen] = 0;
        info->size = (uint64_t)sqlite3_column_int64(st, 0);
        objstore_copy_col(info->etag, sizeof info->etag, st, 1);
        objstore_copy_col(info->content_type, sizeof info->content_type, st, 2);
        objstore_copy_col(info->meta, sizeof info->meta, st, 3);
        info->last_modified_ms = sqlite3_column_int64(st, 4);
        objstore_copy_col(file, OBJSTORE_FILE_HEX + 1, st, 5);
    } else {
        rc = src == SQLITE_DONE ? HY_ENOTFOUND
                                : objstore_db_rc(os, src, "object lookup");
    }
    sqlite3_finalize(st);
    return rc;
}

int objstore_head(struct objstore *os, const char *bucket, const char *key,
                  struct objstore_obj *info)
{
    char file[OBJSTORE_FILE_HEX + 1];
    pthread_mutex_lock(&os->lock);
    int rc = objstore_lookup_locked(os, bucket, key, info, file);
    pthread_mutex_unlock(&os->lock);
    return rc;
}

int objstore_get(struct objstore *os, const char *bucket, const char *key,
                 int *fd_out, struct objstore_obj *info)
{
    char file[OBJSTORE_FILE_HEX + 1], path[OBJSTORE_PATH_MAX];
    pthread_mutex_lock(&os->lock);
    int rc = objstore_lookup_locked(os, bucket, key, info, file);
    if (rc)
        goto out_unlock;
    if ((rc = objstore_file_path(os, file, path, sizeof path))) {
        log_error(OBJSTORE_TAG, "bad file name in the catalog for %s/%s", bucket, key);
        goto out_unlock;
    }
    /* opened under the lock: a concurrent replace unlinks only after its
     * commit, which needs the lock, so the file is still there */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = HY_EIO;
        log_error(OBJSTORE_TAG, "open %s (%s/%s): %s", path, bucket, key,
                  strerror(errno));
        goto out_unlock;
    }
    *fd_out = fd;
out_unlock:
    pthread_mutex_unlock(&os->lock);
    return rc;
}

int objstore_delete(struct objstore *os, const char *bucket, const char *key)
{
    struct objstore_obj *info = malloc(sizeof *info);
    char file[OBJSTORE_FILE_HEX + 1];
    sqlite3_stmt *st;
    int rc, src;
    if (!info)
        return HY_ENOMEM;
    pthread_mutex_lock(&os->lock);
    if ((rc = objstore_lookup_locked(os, bucket, key, info, file)))
        goto out_unlock;
    src = sqlite3_prepare_v2(os->db, "DELETE FROM objects WHERE bucket=?1 AND key=?2",
                             -1, &st, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "object delete");
        goto out_unlock;
    }
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        rc = objstore_db_rc(os, src, "object delete");
out_unlock:
    pthread_mutex_unlock(&os->lock);
    if (rc == HY_OK)
        objstore_unlink_file(os, file);
    free(info);
    return rc;
}

int objstore_list(struct objstore *os, const char *bucket, const char *prefix,
                  const char *after, bool inclusive, objstore_list_fn fn,
                  void *ctx)
{
    sqlite3_stmt *st = NULL;
    struct objstore_obj *obj = malloc(sizeof *obj);
    int rc, src;
    if (!obj)
        return HY_ENOMEM;
    if (!prefix)
        prefix = "";
    size_t plen = strlen(prefix);
    /* start at the larger of `after` and the prefix itself */
    const char *from = prefix;
    bool from_incl = true;
    if (after && strcmp(after, prefix) >= 0) {
        from = after;
        from_incl = inclusive;
    }
    pthread_mutex_lock(&os->lock);
    if ((rc = objstore_bucket_exists_locked(os, bucket)))
        goto out_unlock;
    src = sqlite3_prepare_v2(
        os->db,
        from_incl ? "SELECT key, size, etag, content_type, last_modified_ms"
                    " FROM objects WHERE bucket=?1 AND key>=?2 ORDER BY key"
                  : "SELECT key, size, etag, content_type, last_modified_ms"
                    " FROM objects WHERE bucket=?1 AND key>?2 ORDER BY key",
        -1, &st, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "object list");
        goto out_unlock;
    }
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        if (!k || strncmp(k, prefix, plen) != 0)
            break; /* sorted: past the prefix's range */
        objstore_copy_col(obj->key, sizeof obj->key, st, 0);
        obj->size = (uint64_t)sqlite3_column_int64(st, 1);
        objstore_copy_col(obj->etag, sizeof obj->etag, st, 2);
        objstore_copy_col(obj->content_type, sizeof obj->content_type, st, 3);
        obj->meta[0] = 0;
        obj->last_modified_ms = sqlite3_column_int64(st, 4);
        if (fn(ctx, obj))
            break;
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = objstore_db_rc(os, src, "object list");
    sqlite3_finalize(st);
out_unlock:
    pthread_mutex_unlock(&os->lock);
    free(obj);
    return rc;
}
