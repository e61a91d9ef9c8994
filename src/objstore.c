/* objstore.c -- the embedded S3 store: object bytes in files, metadata in
 * a SQLite catalog.
 *
 * On disk, under <data_dir>/store/:
 *
 *   catalog.db           SQLite, WAL mode, synchronous=FULL; mode 0600
 *                        (made by us before SQLite opens it; its -wal and
 *                        -shm files copy that mode)
 *   tmp/<32 hex>.tmp     objects being written (removed at open); 0600
 *   tmp/spool-<16 hex>.tmp  request bodies the HTTP layer spooled
 *   objects/<hh>/<32 hex>  object bytes, exactly as uploaded, 0600; files
 *                        no row names (a crash mid-write) are removed at open
 *
 * store/, tmp/, objects/ and the 256 objects/<hh>/ are made 0700 at open
 * (an older store's 0755 directories and 0644 catalog are narrowed).
 *
 * The file name is 16 random bytes in hex, fanned out by its first byte;
 * it never derives from the key, so no key ("../x", "/", 1024 bytes of
 * UTF-8) can name a path outside objects/. The catalog:
 *
 *   buckets(name PK, region, created_ms)
 *   objects(bucket, key, size, etag, content_type, meta, last_modified_ms,
 *           file, headers, tags, parts, PRIMARY KEY(bucket, key)) WITHOUT ROWID
 *   uploads(upload_id PK, bucket, key, content_type, meta, headers, tags,
 *           created_ms)  + index (bucket, key, upload_id)
 *   parts(upload_id, number, size, etag, file, last_modified_ms,
 *         PRIMARY KEY(upload_id, number)) WITHOUT ROWID
 *
 * headers, tags and parts were added after the first release: a catalog
 * without them gets them by ALTER TABLE at open (defaults '', '', 0).
 * meta is "name:value\n" lines; headers the same with the standard header
 * names; tags the x-amz-tagging form (k=v&k2=v2, percent-encoded).
 *
 * Keys are TEXT under the BINARY collation, i.e. compared with memcmp, which
 * is S3's UTF-8 byte order; listing is a range scan of the primary key.
 *
 * Writing an object: temp file, write, fsync, rename into objects/, fsync
 * the directory, then (one transaction) upsert the row, and only after the
 * commit unlink the file of the object it replaced. A crash at any point
 * leaves either the old object or the new one; at worst an orphan file
 * that no row names (never a row naming a missing file). Large bodies
 * arrive already in a file (the HTTP layer spools them into tmp/, with
 * their MD5): objstore_put_file only fchmods (0600), fsyncs and renames it.
 *
 * Durability points -- when a put (or complete, or copy) returns HY_OK,
 * a power cut cannot take the object back, because each of these came
 * first, in this order:
 *   1. fsync(temp file)            its bytes (objstore_adopt)
 *   2. rename + fsync(objects/hh)  its name (objstore_adopt; CopyObject's
 *                                  link() the same)
 *   3. fsync(objects/), fsync(store/), fsync(<data_dir>)  the directories
 *      above it, once, when they are made (objstore_mkdir_durable,
 *      objstore_make_fanout at open; objstore_new_name if objects/hh went
 *      missing since)
 *   4. the catalog commit: synchronous=FULL fsyncs SQLite's WAL file at
 *      every commit, so the row is on disk before the put returns. With
 *      NORMAL (before) the commit was durable only at the next checkpoint:
 *      a delivery could write DELIVERED, release its WAL segment, and a
 *      power cut roll the row back -- the next open would then sweep the
 *      object file as an orphan and the records were gone.
 * Unlinks (replaced objects, completed parts, orphans) are not synced: a
 * power cut can bring such a file back, and the next open's sweep removes
 * it again.
 *
 * Multipart: each part is a file in objects/ named by a parts row.
 * Complete concatenates the named parts into a temp file, renames it in,
 * and in one transaction upserts the object row and drops the upload's
 * rows; the part files are unlinked after the commit. CopyObject
 * hard-links the source file under a new name: object files are never
 * written after their rename, so sharing the inode is safe, and each row
 * still names a file of its own.
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
    " headers TEXT NOT NULL DEFAULT '',"
    " tags TEXT NOT NULL DEFAULT '',"
    " parts INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(bucket, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS uploads("
    " upload_id TEXT PRIMARY KEY,"
    " bucket TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " content_type TEXT NOT NULL,"
    " meta TEXT NOT NULL,"
    " headers TEXT NOT NULL,"
    " tags TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads(bucket, key, upload_id);"
    "CREATE TABLE IF NOT EXISTS parts("
    " upload_id TEXT NOT NULL,"
    " number INTEGER NOT NULL,"
    " size INTEGER NOT NULL,"
    " etag TEXT NOT NULL,"
    " file TEXT NOT NULL,"
    " last_modified_ms INTEGER NOT NULL,"
    " PRIMARY KEY(upload_id, number)) WITHOUT ROWID;";

/* Columns added to objects since the first release. */
static const char *const objstore_added_columns[][2] = {
    {"headers", "ALTER TABLE objects ADD COLUMN headers TEXT NOT NULL DEFAULT ''"},
    {"tags", "ALTER TABLE objects ADD COLUMN tags TEXT NOT NULL DEFAULT ''"},
    {"parts", "ALTER TABLE objects ADD COLUMN parts INTEGER NOT NULL DEFAULT 0"},
};

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

/* Prepares sql on the store's connection: HY_OK, or the error (logged once). */
static int objstore_prepare(struct objstore *os, sqlite3_stmt **st, const char *what,
                            const char *sql)
{
    int src = sqlite3_prepare_v2(os->db, sql, -1, st, NULL);
    return src == SQLITE_OK ? HY_OK : objstore_db_rc(os, src, what);
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
    return hy_fsync_dir(path);
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
    int src = sqlite3_prepare_v2(os->db,
                                 "SELECT file FROM objects UNION ALL SELECT file FROM parts",
                                 -1, &st, NULL);
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

/* ---- directories and modes ---------------------------------------------
 * Everything the store makes is private: directories 0700, files 0600
 * (whatever the umask lets through of that). A directory made here is
 * fsynced into its parent, so a power cut cannot take away a directory
 * whose files were already reported durable. */

/* mkdir path 0700 (an existing one is narrowed to 0700); when it was made
 * now, fsync parent so the new entry survives a power cut. */
static int objstore_mkdir_durable(const char *path, const char *parent)
{
    if (mkdir(path, 0700) == 0)
        return objstore_fsync_dir(parent);
    if (errno != EEXIST) {
        int rc = objstore_errno_rc(errno);
        log_error(OBJSTORE_TAG, "mkdir %s: %s", path, strerror(errno));
        return rc;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 077))
        (void)chmod(path, 0700); /* made by an older hydrant with 0755 */
    return HY_OK;
}

/* The 256 fan-out directories objects/00 .. objects/ff, made at open (and
 * objects/ fsynced once) so that a put never races another put's mkdir:
 * a directory seen as existing was made durable by this open or an
 * earlier one. objstore_new_name makes one again only if it went missing. */
static int objstore_make_fanout(struct objstore *os)
{
    char objects[OBJSTORE_PATH_MAX], dir[OBJSTORE_PATH_MAX];
    bool made = false;
    int rc = objstore_path(objects, sizeof objects, "%s/objects", os->root);
    for (int i = 0; rc == HY_OK && i < 256; i++) {
        if ((rc = objstore_path(dir, sizeof dir, "%s/%02x", objects, i)))
            break;
        if (mkdir(dir, 0700) == 0) {
            made = true;
        } else if (errno != EEXIST) {
            rc = objstore_errno_rc(errno);
            log_error(OBJSTORE_TAG, "mkdir %s: %s", dir, strerror(errno));
        }
    }
    if (rc == HY_OK && made)
        rc = objstore_fsync_dir(objects);
    return rc;
}

/* Creates the catalog file 0600 before SQLite opens it (SQLite would make
 * it 0644, and its -wal and -shm files copy the database file's mode);
 * when made now, fsyncs it and its directory. An existing catalog is
 * narrowed to 0600. */
static int objstore_precreate(const char *path, const char *dir)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) {
            struct stat st;
            if (stat(path, &st) == 0 && (st.st_mode & 077))
                (void)chmod(path, 0600);
            return HY_OK;
        }
        int rc = objstore_errno_rc(errno);
        log_error(OBJSTORE_TAG, "create %s: %s", path, strerror(errno));
        return rc;
    }
    int rc = fsync(fd) == 0 ? HY_OK : objstore_errno_rc(errno);
    close(fd);
    return rc ? rc : objstore_fsync_dir(dir);
}

/* ---- open / close ------------------------------------------------------- */
int objstore_open(const char *dir, struct objstore **out)
{
    int rc, src;
    char path[OBJSTORE_PATH_MAX];
    struct objstore *os = calloc(1, sizeof *os);
    if (!os)
        return HY_ENOMEM;
    if ((rc = objstore_path(os->root, sizeof os->root, "%s/store", dir)) ||
        (rc = objstore_mkdir_durable(os->root, dir)))
        goto out_free_os;
    if ((rc = objstore_path(path, sizeof path, "%s/objects", os->root)) ||
        (rc = objstore_mkdir_durable(path, os->root)) ||
        (rc = objstore_make_fanout(os)))
        goto out_free_os;
    if ((rc = objstore_path(path, sizeof path, "%s/tmp", os->root)) ||
        (rc = objstore_mkdir_durable(path, os->root)))
        goto out_free_os;
    objstore_clean_tmp(os);

    if ((rc = objstore_path(path, sizeof path, "%s/catalog.db", os->root)) ||
        (rc = objstore_precreate(path, os->root)))
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
                       "PRAGMA synchronous=FULL;",
                       NULL, NULL, &err);
    /* an old catalog: add the new columns before the schema's CREATEs */
    for (size_t i = 0; src == SQLITE_OK &&
                       i < sizeof objstore_added_columns / sizeof objstore_added_columns[0];
         i++) {
        sqlite3_stmt *probe = NULL;
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT %s FROM objects LIMIT 0",
                 objstore_added_columns[i][0]);
        int psrc = sqlite3_prepare_v2(os->db, sql, -1, &probe, NULL);
        sqlite3_finalize(probe);
        if (psrc == SQLITE_OK)
            continue;
        /* no such table (a new catalog) or no such column: only the latter
         * needs the ALTER */
        probe = NULL;
        psrc = sqlite3_prepare_v2(os->db, "SELECT 1 FROM objects LIMIT 0", -1, &probe,
                                  NULL);
        sqlite3_finalize(probe);
        if (psrc == SQLITE_OK)
            src = sqlite3_exec(os->db, objstore_added_columns[i][1], NULL, NULL, &err);
    }
    if (src == SQLITE_OK)
        src = sqlite3_exec(os->db, objstore_schema, NULL, NULL, &err);
    if (src != SQLITE_OK) {
        log_error(OBJSTORE_TAG, "cannot set up %s: %s", path, err ? err : "?");
        sqlite3_free(err);
        rc = src == SQLITE_FULL ? HY_ENOSPC : HY_EDB;
        goto out_close_db;
    }
    /* SQLite syncs store/ after making catalog.db-wal but ignores a
     * failure of that sync; without this one a power cut could take the
     * -wal file, and every commit in it, away */
    if ((rc = objstore_fsync_dir(os->root))) {
        log_error(OBJSTORE_TAG, "fsync of %s failed: %s", os->root, hy_strerror(rc));
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
    int src, rc;
    rc = objstore_prepare(os, &st, "bucket lookup", "SELECT 1 FROM buckets WHERE name=?1");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    rc = src == SQLITE_ROW ? HY_OK
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
    int src;
    rc = objstore_prepare(os, &st, "bucket create",
                          "INSERT INTO buckets(name, region, created_ms) VALUES(?1,?2,?3)");
    if (rc)
        goto out_unlock;
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
    /* an unfinished multipart upload keeps the bucket too: its parts are
     * bytes in the bucket */
    rc = objstore_prepare(os, &st, "bucket delete",
                          "SELECT 1 FROM objects WHERE bucket=?1 UNION ALL"
                          " SELECT 1 FROM uploads WHERE bucket=?1 LIMIT 1");
    if (rc)
        goto out_unlock;
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
    rc = objstore_prepare(os, &st, "bucket delete", "DELETE FROM buckets WHERE name=?1");
    if (rc)
        goto out_unlock;
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
    int src;
    rc = objstore_prepare(os, &st, "bucket region",
                          "SELECT region FROM buckets WHERE name=?1");
    if (rc)
        goto out_unlock;
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
    int src;
    rc = objstore_prepare(os, &st, "bucket list",
                          "SELECT name, region, created_ms FROM buckets ORDER BY name");
    if (rc)
        goto out_unlock;
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
static const char *objstore_str(const char *s)
{
    return s ? s : "";
}

/* Checks attrs against the limits; fills defaults into out. */
static int objstore_attrs_norm(const struct objstore_attrs *in,
                               struct objstore_attrs *out)
{
    static const struct objstore_attrs none;
    if (!in)
        in = &none;
    out->content_type = in->content_type && *in->content_type ? in->content_type
                                                               : "binary/octet-stream";
    out->meta = objstore_str(in->meta);
    out->headers = objstore_str(in->headers);
    out->tags = in->tags;
    if (strlen(out->meta) > OBJSTORE_MAX_META ||
        strlen(out->content_type) > OBJSTORE_MAX_CTYPE ||
        strlen(out->headers) > OBJSTORE_MAX_HEADERS ||
        (out->tags && strlen(out->tags) > OBJSTORE_MAX_TAGS))
        return HY_ETOOBIG;
    return HY_OK;
}

static int objstore_key_check(const char *key)
{
    if (strlen(key) > OBJSTORE_MAX_KEY)
        return HY_ETOOBIG;
    return *key ? HY_OK : HY_EINVAL;
}

int objstore_tmp_create(struct objstore *os, char path_out[OBJSTORE_PATH_MAX],
                        int *fd_out)
{
    unsigned char id[OBJSTORE_FILE_HEX / 2];
    char hex[OBJSTORE_FILE_HEX + 1];
    int rc = hy_random(id, sizeof id);
    if (rc)
        return rc;
    hex_encode(hex, id, sizeof id);
    if ((rc = objstore_path(path_out, OBJSTORE_PATH_MAX, "%s/tmp/%s.tmp", os->root, hex)))
        return rc;
    int fd = open(path_out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = objstore_errno_rc(errno);
        log_error(OBJSTORE_TAG, "create %s: %s", path_out, strerror(errno));
        return rc;
    }
    *fd_out = fd;
    return HY_OK;
}

/* Picks a new random object file name and makes its fan-out directory;
 * dst and dir get the paths. */
static int objstore_new_name(struct objstore *os, char name_out[OBJSTORE_FILE_HEX + 1],
                             char dir[OBJSTORE_PATH_MAX], char dst[OBJSTORE_PATH_MAX])
{
    unsigned char id[OBJSTORE_FILE_HEX / 2];
    int rc = hy_random(id, sizeof id);
    if (rc)
        return rc;
    hex_encode(name_out, id, sizeof id);
    if ((rc = objstore_path(dir, OBJSTORE_PATH_MAX, "%s/objects/%.2s", os->root, name_out)) ||
        (rc = objstore_path(dst, OBJSTORE_PATH_MAX, "%s/%s", dir, name_out)))
        return rc;
    /* made at open; again here only if it went missing since */
    char objects[OBJSTORE_PATH_MAX];
    if ((rc = objstore_path(objects, sizeof objects, "%s/objects", os->root)))
        return rc;
    if (mkdir(dir, 0700) == 0)
        return objstore_fsync_dir(objects);
    if (errno != EEXIST) {
        rc = objstore_errno_rc(errno);
        log_error(OBJSTORE_TAG, "mkdir %s: %s", dir, strerror(errno));
        return rc;
    }
    return HY_OK;
}

/* Moves the finished file tmp into objects/ under a new name: fsync the
 * file, rename, fsync the directory. On failure tmp is left in place. */
static int objstore_adopt(struct objstore *os, const char *tmp,
                          char name_out[OBJSTORE_FILE_HEX + 1])
{
    char dir[OBJSTORE_PATH_MAX], dst[OBJSTORE_PATH_MAX];
    int rc = objstore_new_name(os, name_out, dir, dst);
    if (rc)
        return rc;
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = objstore_errno_rc(errno);
        log_error(OBJSTORE_TAG, "open %s: %s", tmp, strerror(errno));
        return rc;
    }
    /* spooled bodies arrive with the HTTP layer's mode: objects are 0600 */
    rc = fchmod(fd, 0600) == 0 && fsync(fd) == 0 ? HY_OK : objstore_errno_rc(errno);
    close(fd);
    if (rc) {
        log_error(OBJSTORE_TAG, "fsync %s: %s", tmp, hy_strerror(rc));
        return rc;
    }
    if (rename(tmp, dst) != 0) {
        rc = objstore_errno_rc(errno);
        log_error(OBJSTORE_TAG, "rename %s: %s", tmp, strerror(errno));
        return rc;
    }
    if ((rc = objstore_fsync_dir(dir))) {
        log_error(OBJSTORE_TAG, "fsync %s: %s", dir, hy_strerror(rc));
        unlink(dst);
        return rc;
    }
    return HY_OK;
}

/* Writes data to a new temp file; md5_out gets its digest.
 *
 * In pieces of OBJSTORE_PIECE: each is hashed and then written while it is
 * still in the CPU cache (one pass over memory instead of two), and every
 * OBJSTORE_FLUSH_EVERY bytes writeback of what was written is started
 * (sync_file_range starts it and does not wait for it), so the disk works
 * while the rest is hashed and copied, and the fsync in objstore_adopt
 * finds little left to write. Durability is unchanged: that fsync still
 * comes before the rename. */
#define OBJSTORE_PIECE ((size_t)256 << 10)
#define OBJSTORE_FLUSH_EVERY ((size_t)8 << 20)
static int objstore_tmp_write(struct objstore *os, const void *data, size_t len,
                              char path_out[OBJSTORE_PATH_MAX],
                              unsigned char md5_out[16])
{
    int fd, rc;
    unsigned int mdlen;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return HY_ENOMEM;
    if (EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return HY_ENOMEM;
    }
    if ((rc = objstore_tmp_create(os, path_out, &fd))) {
        EVP_MD_CTX_free(md);
        return rc;
    }
    const char *p = data;
    size_t done = 0, flushed = 0;
    while (rc == HY_OK && done < len) {
        size_t n = len - done < OBJSTORE_PIECE ? len - done : OBJSTORE_PIECE;
        if (EVP_DigestUpdate(md, p + done, n) != 1) {
            rc = HY_ENOMEM;
            break;
        }
        rc = write_all(fd, p + done, n);
        done += n;
        if (rc == HY_OK && done - flushed >= OBJSTORE_FLUSH_EVERY) {
            /* only a hint: an error here shows again at the fsync */
            (void)sync_file_range(fd, (off_t)flushed, (off_t)(done - flushed),
                                  SYNC_FILE_RANGE_WRITE);
            flushed = done;
        }
    }
    if (close(fd) != 0 && rc == HY_OK)
        rc = objstore_errno_rc(errno);
    if (rc == HY_OK && EVP_DigestFinal_ex(md, md5_out, &mdlen) != 1)
        rc = HY_ENOMEM;
    EVP_MD_CTX_free(md);
    if (rc) {
        log_error(OBJSTORE_TAG, "write %s: %s", path_out, hy_strerror(rc));
        unlink(path_out);
    }
    return rc;
}

/* Inside a transaction: replaces the row of bucket/key, reporting the file
 * of the row it replaced in old_out ("" when none). */
struct objstore_row {
    const char *file;
    uint64_t size;
    const char *etag;
    const struct objstore_attrs *attrs; /* normalized */
    const char *tags;                   /* used when attrs->tags is NULL */
    int parts;
    int64_t now;
};

static int objstore_upsert_locked(struct objstore *os, const char *bucket,
                                  const char *key, const struct objstore_row *row,
                                  char old_out[OBJSTORE_FILE_HEX + 1])
{
    sqlite3_stmt *st;
    int rc = HY_OK;
    old_out[0] = 0;
    if ((rc = objstore_bucket_exists_locked(os, bucket)))
        return rc;
    int src;
    rc = objstore_prepare(os, &st, "put lookup",
                          "SELECT file FROM objects WHERE bucket=?1 AND key=?2");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        objstore_copy_col(old_out, OBJSTORE_FILE_HEX + 1, st, 0);
    else if (src != SQLITE_DONE)
        rc = objstore_db_rc(os, src, "put lookup");
    sqlite3_finalize(st);
    if (rc)
        return rc;
    rc = objstore_prepare(os, &st, "put insert",
                          "INSERT OR REPLACE INTO objects(bucket, key, size, etag, content_type, meta,"
                          " last_modified_ms, file, headers, tags, parts)"
                          " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
    if (rc)
        return rc;
    const char *tags = row->attrs->tags ? row->attrs->tags : objstore_str(row->tags);
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)row->size);
    sqlite3_bind_text(st, 4, row->etag, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, row->attrs->content_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, row->attrs->meta, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, row->now);
    sqlite3_bind_text(st, 8, row->file, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, row->attrs->headers, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, tags, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 11, row->parts);
    src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return objstore_db_rc(os, src, "put insert");
    return HY_OK;
}

/* One transaction: the row for a file already in objects/. On failure the
 * file is removed (no row names it). */
static int objstore_commit_file(struct objstore *os, const char *bucket,
                                const char *key, const struct objstore_row *row,
                                char *etag_out, int64_t *last_modified_out)
{
    char old[OBJSTORE_FILE_HEX + 1] = "";
    int rc;
    pthread_mutex_lock(&os->lock);
    int src = sqlite3_exec(os->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "put begin");
        goto out_unlock;
    }
    if ((rc = objstore_upsert_locked(os, bucket, key, row, old)))
        goto out_rollback;
    src = sqlite3_exec(os->db, "COMMIT", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "put commit");
        goto out_rollback;
    }
    pthread_mutex_unlock(&os->lock);
    if (old[0] && strcmp(old, row->file) != 0)
        objstore_unlink_file(os, old);
    if (etag_out)
        memcpy(etag_out, row->etag, strlen(row->etag) + 1);
    if (last_modified_out)
        *last_modified_out = row->now;
    return HY_OK;

out_rollback:
    sqlite3_exec(os->db, "ROLLBACK", NULL, NULL, NULL);
out_unlock:
    pthread_mutex_unlock(&os->lock);
    objstore_unlink_file(os, row->file);
    return rc;
}

int objstore_put_file(struct objstore *os, const char *bucket, const char *key,
                      const char *path, uint64_t size, const unsigned char md5[16],
                      const struct objstore_attrs *attrs, char etag_out[40],
                      int64_t *last_modified_out)
{
    struct objstore_attrs a;
    char name[OBJSTORE_FILE_HEX + 1], hex[33], etag[40];
    int rc;
    if ((rc = objstore_key_check(key)) || (rc = objstore_attrs_norm(attrs, &a)))
        return rc;
    /* fail fast, before moving bytes; checked again in the transaction */
    if ((rc = objstore_bucket_exists(os, bucket)))
        return rc;
    if ((rc = objstore_adopt(os, path, name)))
        return rc;
    hex_encode(hex, md5, 16);
    snprintf(etag, sizeof etag, "\"%s\"", hex);
    struct objstore_row row = {.file = name, .size = size, .etag = etag,
                               .attrs = &a, .now = hy_now_ms()};
    return objstore_commit_file(os, bucket, key, &row, etag_out, last_modified_out);
}

int objstore_put_attrs(struct objstore *os, const char *bucket, const char *key,
                       const void *data, size_t len,
                       const struct objstore_attrs *attrs, char etag_out[40],
                       int64_t *last_modified_out)
{
    char tmp[OBJSTORE_PATH_MAX];
    unsigned char md5[16];
    struct objstore_attrs a;
    int rc;
    if ((rc = objstore_key_check(key)) || (rc = objstore_attrs_norm(attrs, &a)))
        return rc;
    if ((rc = objstore_bucket_exists(os, bucket)))
        return rc;
    if ((rc = objstore_tmp_write(os, data, len, tmp, md5)))
        return rc;
    rc = objstore_put_file(os, bucket, key, tmp, len, md5, attrs, etag_out,
                           last_modified_out);
    if (rc)
        unlink(tmp);
    return rc;
}

int objstore_put_meta(struct objstore *os, const char *bucket, const char *key,
                      const void *data, size_t len, const char *content_type,
                      const char *meta, char etag_out[40],
                      int64_t *last_modified_out)
{
    struct objstore_attrs a = {.content_type = content_type, .meta = meta};
    return objstore_put_attrs(os, bucket, key, data, len, &a, etag_out,
                              last_modified_out);
}

int objstore_put(struct objstore *os, const char *bucket, const char *key,
                 const void *data, size_t len, const char *content_type,
                 char etag_out[40])
{
    return objstore_put_meta(os, bucket, key, data, len, content_type, NULL,
                             etag_out, NULL);
}

static int objstore_count_tags(const char *tags)
{
    if (!tags || !*tags)
        return 0;
    int n = 1;
    for (; *tags; tags++)
        n += *tags == '&';
    return n;
}

/* Reads one object's row into info (and its file name into file, its tags
 * into tags when not NULL), with os->lock held. */
static int objstore_lookup_locked(struct objstore *os, const char *bucket,
                                  const char *key, struct objstore_obj *info,
                                  char file[OBJSTORE_FILE_HEX + 1], char *tags)
{
    sqlite3_stmt *st;
    int src, rc;
    rc = objstore_prepare(os, &st, "object lookup",
                          "SELECT size, etag, content_type, meta, last_modified_ms, file, headers,"
                          " tags, parts FROM objects WHERE bucket=?1 AND key=?2");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    rc = HY_OK;
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
        objstore_copy_col(info->headers, sizeof info->headers, st, 6);
        info->tag_count = objstore_count_tags((const char *)sqlite3_column_text(st, 7));
        if (tags)
            objstore_copy_col(tags, OBJSTORE_MAX_TAGS + 1, st, 7);
        info->parts = sqlite3_column_int(st, 8);
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
    int rc = objstore_lookup_locked(os, bucket, key, info, file, NULL);
    pthread_mutex_unlock(&os->lock);
    return rc;
}

/* Opens the file of bucket/key under the lock (a concurrent replace
 * unlinks only after its commit, which needs the lock). */
static int objstore_open_locked(struct objstore *os, const char *bucket,
                                const char *key, struct objstore_obj *info,
                                char file[OBJSTORE_FILE_HEX + 1], char *tags,
                                int *fd_out)
{
    char path[OBJSTORE_PATH_MAX];
    int rc = objstore_lookup_locked(os, bucket, key, info, file, tags);
    if (rc)
        return rc;
    if ((rc = objstore_file_path(os, file, path, sizeof path))) {
        log_error(OBJSTORE_TAG, "bad file name in the catalog for %s/%s", bucket, key);
        return rc;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_error(OBJSTORE_TAG, "open %s (%s/%s): %s", path, bucket, key,
                  strerror(errno));
        return HY_EIO;
    }
    *fd_out = fd;
    return HY_OK;
}

int objstore_get(struct objstore *os, const char *bucket, const char *key,
                 int *fd_out, struct objstore_obj *info)
{
    char file[OBJSTORE_FILE_HEX + 1];
    pthread_mutex_lock(&os->lock);
    int rc = objstore_open_locked(os, bucket, key, info, file, NULL, fd_out);
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
    if ((rc = objstore_lookup_locked(os, bucket, key, info, file, NULL)))
        goto out_unlock;
    rc = objstore_prepare(os, &st, "object delete",
                          "DELETE FROM objects WHERE bucket=?1 AND key=?2");
    if (rc)
        goto out_unlock;
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

/* ---- copy and tags ------------------------------------------------------ */
int objstore_copy(struct objstore *os, const char *src_bucket, const char *src_key,
                  const char *dst_bucket, const char *dst_key,
                  const struct objstore_attrs *attrs, bool *src_missing,
                  char etag_out[OBJSTORE_ETAG_MAX], int64_t *last_modified_out)
{
    struct objstore_obj *info = malloc(sizeof *info);
    char *tags = malloc(OBJSTORE_MAX_TAGS + 1);
    char file[OBJSTORE_FILE_HEX + 1], name[OBJSTORE_FILE_HEX + 1];
    char from[OBJSTORE_PATH_MAX], dir[OBJSTORE_PATH_MAX], dst[OBJSTORE_PATH_MAX];
    struct objstore_attrs a;
    int rc;
    *src_missing = false;
    if (!info || !tags) {
        rc = HY_ENOMEM;
        goto out_free;
    }
    if ((rc = objstore_key_check(dst_key)) || (attrs && (rc = objstore_attrs_norm(attrs, &a))))
        goto out_free;
    if ((rc = objstore_bucket_exists(os, dst_bucket)))
        goto out_free;
    /* link under the lock: the source file cannot be unlinked meanwhile */
    if ((rc = objstore_new_name(os, name, dir, dst)))
        goto out_free;
    pthread_mutex_lock(&os->lock);
    rc = objstore_lookup_locked(os, src_bucket, src_key, info, file, tags);
    if (rc == HY_OK && (rc = objstore_file_path(os, file, from, sizeof from)) == HY_OK &&
        link(from, dst) != 0) {
        rc = objstore_errno_rc(errno);
        log_error(OBJSTORE_TAG, "link %s: %s", from, strerror(errno));
    }
    pthread_mutex_unlock(&os->lock);
    if (rc == HY_ENOTFOUND)
        *src_missing = true;
    if (rc)
        goto out_free;
    if ((rc = objstore_fsync_dir(dir))) {
        unlink(dst);
        goto out_free;
    }
    if (!attrs) {
        a.content_type = info->content_type;
        a.meta = info->meta;
        a.headers = info->headers;
        a.tags = NULL;
    }
    struct objstore_row row = {.file = name, .size = info->size, .etag = info->etag,
                               .attrs = &a, .tags = tags, .parts = info->parts,
                               .now = hy_now_ms()};
    rc = objstore_commit_file(os, dst_bucket, dst_key, &row, etag_out,
                              last_modified_out);
out_free:
    free(info);
    free(tags);
    return rc;
}

int objstore_tags_get(struct objstore *os, const char *bucket, const char *key,
                      char tags_out[OBJSTORE_MAX_TAGS + 1])
{
    struct objstore_obj *info = malloc(sizeof *info);
    char file[OBJSTORE_FILE_HEX + 1];
    if (!info)
        return HY_ENOMEM;
    pthread_mutex_lock(&os->lock);
    int rc = objstore_lookup_locked(os, bucket, key, info, file, tags_out);
    pthread_mutex_unlock(&os->lock);
    free(info);
    return rc;
}

int objstore_tags_set(struct objstore *os, const char *bucket, const char *key,
                      const char *tags)
{
    sqlite3_stmt *st;
    int rc = HY_OK;
    tags = objstore_str(tags);
    if (strlen(tags) > OBJSTORE_MAX_TAGS)
        return HY_ETOOBIG;
    pthread_mutex_lock(&os->lock);
    int src;
    rc = objstore_prepare(os, &st, "tags set",
                          "UPDATE objects SET tags=?3 WHERE bucket=?1 AND key=?2");
    if (rc)
        goto out_unlock;
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, tags, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        rc = objstore_db_rc(os, src, "tags set");
    else if (sqlite3_changes(os->db) == 0)
        rc = HY_ENOTFOUND;
out_unlock:
    pthread_mutex_unlock(&os->lock);
    return rc;
}

/* ---- listing ------------------------------------------------------------ */
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
        from_incl ? "SELECT key, size, etag, content_type, last_modified_ms, parts"
                    " FROM objects WHERE bucket=?1 AND key>=?2 ORDER BY key"
                  : "SELECT key, size, etag, content_type, last_modified_ms, parts"
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
        obj->headers[0] = 0;
        obj->tag_count = 0;
        obj->last_modified_ms = sqlite3_column_int64(st, 4);
        obj->parts = sqlite3_column_int(st, 5);
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

/* ---- multipart uploads -------------------------------------------------- */
/* With the lock held: HY_OK when upload_id is an upload of bucket/key;
 * attrs_out (may be NULL) gets its stored attributes, copied into a. */
struct objstore_upload_row {
    char content_type[OBJSTORE_MAX_CTYPE + 1];
    char meta[OBJSTORE_MAX_META + 1];
    char headers[OBJSTORE_MAX_HEADERS + 1];
    char tags[OBJSTORE_MAX_TAGS + 1];
};

static int objstore_upload_locked(struct objstore *os, const char *bucket,
                                  const char *key, const char *upload_id,
                                  struct objstore_upload_row *row)
{
    sqlite3_stmt *st;
    int src, rc;
    rc = objstore_prepare(os, &st, "upload lookup",
                          "SELECT content_type, meta, headers, tags FROM uploads"
                          " WHERE upload_id=?1 AND bucket=?2 AND key=?3");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, bucket, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    rc = HY_OK;
    if (src == SQLITE_ROW) {
        if (row) {
            objstore_copy_col(row->content_type, sizeof row->content_type, st, 0);
            objstore_copy_col(row->meta, sizeof row->meta, st, 1);
            objstore_copy_col(row->headers, sizeof row->headers, st, 2);
            objstore_copy_col(row->tags, sizeof row->tags, st, 3);
        }
    } else {
        rc = src == SQLITE_DONE ? HY_ENOTFOUND : objstore_db_rc(os, src, "upload lookup");
    }
    sqlite3_finalize(st);
    return rc;
}

int objstore_mpu_create(struct objstore *os, const char *bucket, const char *key,
                        const struct objstore_attrs *attrs,
                        char upload_id_out[OBJSTORE_UPLOAD_ID_LEN + 1])
{
    struct objstore_attrs a;
    unsigned char rnd[10];
    sqlite3_stmt *st;
    int rc;
    if ((rc = objstore_key_check(key)) || (rc = objstore_attrs_norm(attrs, &a)) ||
        (rc = hy_random(rnd, sizeof rnd)))
        return rc;
    /* time first, so IDs sort by initiation */
    int64_t now = hy_now_ms();
    snprintf(upload_id_out, OBJSTORE_UPLOAD_ID_LEN + 1, "%012llx",
             (unsigned long long)now & 0xffffffffffffull);
    hex_encode(upload_id_out + 12, rnd, sizeof rnd);
    pthread_mutex_lock(&os->lock);
    if ((rc = objstore_bucket_exists_locked(os, bucket)))
        goto out_unlock;
    int src;
    rc = objstore_prepare(os, &st, "upload create",
                          "INSERT INTO uploads(upload_id, bucket, key, content_type, meta, headers,"
                          " tags, created_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)");
    if (rc)
        goto out_unlock;
    sqlite3_bind_text(st, 1, upload_id_out, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, bucket, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a.content_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, a.meta, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, a.headers, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, objstore_str(a.tags), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, now);
    src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        rc = objstore_db_rc(os, src, "upload create");
out_unlock:
    pthread_mutex_unlock(&os->lock);
    return rc;
}

/* Records part `number` for a file already in objects/; removes the file
 * on failure, and the file of the part it replaced on success. */
static int objstore_part_commit(struct objstore *os, const char *bucket,
                                const char *key, const char *upload_id, int number,
                                const char *name, uint64_t size, const char *etag,
                                char etag_out[40], int64_t *last_modified_out)
{
    char old[OBJSTORE_FILE_HEX + 1] = "";
    sqlite3_stmt *st;
    int64_t now = hy_now_ms();
    int rc, src;
    pthread_mutex_lock(&os->lock);
    src = sqlite3_exec(os->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "part begin");
        goto out_unlock;
    }
    if ((rc = objstore_upload_locked(os, bucket, key, upload_id, NULL)))
        goto out_rollback;
    rc = objstore_prepare(os, &st, "part lookup",
                          "SELECT file FROM parts WHERE upload_id=?1 AND number=?2");
    if (rc)
        goto out_rollback;
    sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, number);
    if (sqlite3_step(st) == SQLITE_ROW)
        objstore_copy_col(old, sizeof old, st, 0);
    sqlite3_finalize(st);
    rc = objstore_prepare(os, &st, "part insert",
                          "INSERT OR REPLACE INTO parts(upload_id, number, size, etag,"
                          " file, last_modified_ms) VALUES(?1,?2,?3,?4,?5,?6)");
    if (rc)
        goto out_rollback;
    sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, number);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)size);
    sqlite3_bind_text(st, 4, etag, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, now);
    src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_DONE) {
        rc = objstore_db_rc(os, src, "part insert");
        goto out_rollback;
    }
    src = sqlite3_exec(os->db, "COMMIT", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "part commit");
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

static int objstore_part_check(struct objstore *os, const char *bucket,
                               const char *key, const char *upload_id, int number)
{
    if (number < 1 || number > OBJSTORE_MAX_PARTS)
        return HY_EINVAL;
    pthread_mutex_lock(&os->lock);
    int rc = objstore_upload_locked(os, bucket, key, upload_id, NULL);
    pthread_mutex_unlock(&os->lock);
    return rc;
}

int objstore_mpu_put_part(struct objstore *os, const char *bucket, const char *key,
                          const char *upload_id, int number, const char *path,
                          uint64_t size, const unsigned char md5[16],
                          char etag_out[40], int64_t *last_modified_out)
{
    char name[OBJSTORE_FILE_HEX + 1], hex[33], etag[40];
    int rc;
    if ((rc = objstore_part_check(os, bucket, key, upload_id, number)))
        return rc;
    if ((rc = objstore_adopt(os, path, name)))
        return rc;
    hex_encode(hex, md5, 16);
    snprintf(etag, sizeof etag, "\"%s\"", hex);
    return objstore_part_commit(os, bucket, key, upload_id, number, name, size, etag,
                                etag_out, last_modified_out);
}

/* Copies len bytes of in from off to out, feeding md (may be NULL). */
static int objstore_copy_range(int in, uint64_t off, uint64_t len, int out,
                               EVP_MD_CTX *md)
{
    char *chunk = malloc(1u << 20);
    int rc = HY_OK;
    if (!chunk)
        return HY_ENOMEM;
    while (len > 0) {
        size_t want = len < (1u << 20) ? (size_t)len : (1u << 20);
        ssize_t r = pread(in, chunk, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = HY_EIO;
            break;
        }
        if (md && EVP_DigestUpdate(md, chunk, (size_t)r) != 1) {
            rc = HY_ENOMEM;
            break;
        }
        if ((rc = write_all(out, chunk, (size_t)r)))
            break;
        off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    free(chunk);
    return rc;
}

int objstore_mpu_copy_part(struct objstore *os, const char *bucket, const char *key,
                           const char *upload_id, int number, const char *src_bucket,
                           const char *src_key, uint64_t first, uint64_t len,
                           bool *src_missing, char etag_out[40],
                           int64_t *last_modified_out)
{
    struct objstore_obj *info = malloc(sizeof *info);
    char file[OBJSTORE_FILE_HEX + 1], tmp[OBJSTORE_PATH_MAX], hex[33];
    unsigned char md5[16];
    unsigned int mdlen;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int in = -1, out = -1, rc;
    *src_missing = false;
    if (!info || !md) {
        rc = HY_ENOMEM;
        goto out_free;
    }
    if ((rc = objstore_part_check(os, bucket, key, upload_id, number)))
        goto out_free;
    pthread_mutex_lock(&os->lock);
    rc = objstore_open_locked(os, src_bucket, src_key, info, file, NULL, &in);
    pthread_mutex_unlock(&os->lock);
    if (rc == HY_ENOTFOUND)
        *src_missing = true;
    if (rc)
        goto out_free;
    if (len == UINT64_MAX) {
        if (first > info->size) {
            rc = HY_EINVAL;
            goto out_close_in;
        }
        len = info->size - first;
    } else if (first >= info->size || len > info->size - first) {
        rc = HY_EINVAL;
        goto out_close_in;
    }
    if ((rc = objstore_tmp_create(os, tmp, &out)))
        goto out_close_in;
    if (EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1)
        rc = HY_ENOMEM;
    if (rc == HY_OK)
        rc = objstore_copy_range(in, first, len, out, md);
    if (close(out) != 0 && rc == HY_OK)
        rc = objstore_errno_rc(errno);
    if (rc == HY_OK && EVP_DigestFinal_ex(md, md5, &mdlen) != 1)
        rc = HY_ENOMEM;
    if (rc == HY_OK) {
        char name[OBJSTORE_FILE_HEX + 1], etag[40];
        if ((rc = objstore_adopt(os, tmp, name)) == HY_OK) {
            hex_encode(hex, md5, 16);
            snprintf(etag, sizeof etag, "\"%s\"", hex);
            rc = objstore_part_commit(os, bucket, key, upload_id, number, name, len,
                                      etag, etag_out, last_modified_out);
        }
    }
    if (rc)
        unlink(tmp);
out_close_in:
    close(in);
out_free:
    EVP_MD_CTX_free(md);
    free(info);
    return rc;
}

/* The stored parts of an upload, in number order (caller frees). */
struct objstore_part_row {
    int number;
    uint64_t size;
    char etag[40];
    char file[OBJSTORE_FILE_HEX + 1];
};

static int objstore_parts_locked(struct objstore *os, const char *upload_id,
                                 struct objstore_part_row **out, int *n_out)
{
    sqlite3_stmt *st;
    struct objstore_part_row *rows = NULL;
    int n = 0, cap = 0, rc = HY_OK;
    int src;
    rc = objstore_prepare(os, &st, "parts",
                          "SELECT number, size, etag, file FROM parts"
                          " WHERE upload_id=?1 ORDER BY number");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            int ncap = cap ? cap * 2 : 16;
            struct objstore_part_row *p =
                ncap <= OBJSTORE_MAX_PARTS * 2 ? realloc(rows, (size_t)ncap * sizeof *rows)
                                               : NULL;
            if (!p) {
                rc = HY_ENOMEM;
                break;
            }
            rows = p;
            cap = ncap;
        }
        rows[n].number = sqlite3_column_int(st, 0);
        rows[n].size = (uint64_t)sqlite3_column_int64(st, 1);
        objstore_copy_col(rows[n].etag, sizeof rows[n].etag, st, 2);
        objstore_copy_col(rows[n].file, sizeof rows[n].file, st, 3);
        n++;
    }
    if (rc == HY_OK && src != SQLITE_DONE)
        rc = objstore_db_rc(os, src, "parts");
    sqlite3_finalize(st);
    if (rc) {
        free(rows);
        return rc;
    }
    *out = rows;
    *n_out = n;
    return HY_OK;
}

/* Whether a client's ETag (quoted or not) names the stored quoted one. */
static bool objstore_etag_eq(const char *client, const char *stored)
{
    size_t cl = strlen(client);
    if (cl >= 2 && client[0] == '"' && client[cl - 1] == '"') {
        client++;
        cl -= 2;
    }
    size_t sl = strlen(stored);
    return sl == cl + 2 && memcmp(stored + 1, client, cl) == 0;
}

/* Deletes the upload's rows inside a transaction. */
static int objstore_upload_drop_locked(struct objstore *os, const char *upload_id)
{
    static const char *const sql[] = {
        "DELETE FROM parts WHERE upload_id=?1",
        "DELETE FROM uploads WHERE upload_id=?1",
    };
    for (size_t i = 0; i < 2; i++) {
        sqlite3_stmt *st;
        int src, rc;
        rc = objstore_prepare(os, &st, "upload drop", sql[i]);
        if (rc)
            return rc;
        sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
        src = sqlite3_step(st);
        sqlite3_finalize(st);
        if (src != SQLITE_DONE)
            return objstore_db_rc(os, src, "upload drop");
    }
    return HY_OK;
}

int objstore_mpu_complete(struct objstore *os, const char *bucket, const char *key,
                          const char *upload_id,
                          const struct objstore_part_ref *refs, int nrefs,
                          int *bad_index, char etag_out[OBJSTORE_ETAG_MAX],
                          int64_t *last_modified_out)
{
    struct objstore_upload_row *up = malloc(sizeof *up);
    struct objstore_part_row *rows = NULL, *final = NULL;
    struct objstore_attrs a;
    char tmp[OBJSTORE_PATH_MAX], name[OBJSTORE_FILE_HEX + 1], path[OBJSTORE_PATH_MAX];
    char old[OBJSTORE_FILE_HEX + 1] = "", etag[OBJSTORE_ETAG_MAX], hex[33];
    unsigned char md5[16];
    unsigned int mdlen;
    uint64_t total = 0;
    int nrows = 0, out = -1, rc, src;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    *bad_index = -1;
    if (!up || !md || nrefs <= 0 ||
        !(final = calloc((size_t)nrefs, sizeof *final))) {
        rc = nrefs <= 0 ? HY_EINVAL : HY_ENOMEM;
        goto out_free;
    }
    /* 1. under the lock: the upload and its parts, matched against refs */
    pthread_mutex_lock(&os->lock);
    rc = objstore_upload_locked(os, bucket, key, upload_id, up);
    if (rc == HY_OK)
        rc = objstore_parts_locked(os, upload_id, &rows, &nrows);
    pthread_mutex_unlock(&os->lock);
    if (rc)
        goto out_free;
    for (int i = 0, j = 0; i < nrefs; i++) {
        while (j < nrows && rows[j].number < refs[i].number)
            j++;
        if (j >= nrows || rows[j].number != refs[i].number ||
            !objstore_etag_eq(refs[i].etag ? refs[i].etag : "", rows[j].etag)) {
            *bad_index = i;
            rc = HY_EINVAL;
            goto out_free;
        }
        final[i] = rows[j];
        total += rows[j].size;
    }
    /* sizes only once every part is known to exist, as S3 reports */
    for (int i = 0; i < nrefs - 1; i++) {
        if (final[i].size < OBJSTORE_MIN_PART) {
            *bad_index = i;
            rc = HY_ELIMIT;
            goto out_free;
        }
    }
    /* 2. outside the lock: concatenate, and the ETag from the parts' MD5s */
    if (EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) {
        rc = HY_ENOMEM;
        goto out_free;
    }
    if ((rc = objstore_tmp_create(os, tmp, &out)))
        goto out_free;
    for (int i = 0; i < nrefs && rc == HY_OK; i++) {
        unsigned char pmd5[16];
        const char *e = final[i].etag + 1;
        for (int b = 0; b < 16; b++) {
            unsigned v;
            if (sscanf(e + 2 * b, "%2x", &v) != 1) {
                rc = HY_EIO;
                break;
            }
            pmd5[b] = (unsigned char)v;
        }
        if (rc == HY_OK && EVP_DigestUpdate(md, pmd5, 16) != 1)
            rc = HY_ENOMEM;
        if (rc == HY_OK)
            rc = objstore_file_path(os, final[i].file, path, sizeof path);
        if (rc)
            break;
        int in = open(path, O_RDONLY | O_CLOEXEC);
        if (in < 0) {
            log_error(OBJSTORE_TAG, "open part %s: %s", path, strerror(errno));
            rc = HY_EIO;
            break;
        }
        rc = objstore_copy_range(in, 0, final[i].size, out, NULL);
        close(in);
    }
    if (close(out) != 0 && rc == HY_OK)
        rc = objstore_errno_rc(errno);
    if (rc == HY_OK && EVP_DigestFinal_ex(md, md5, &mdlen) != 1)
        rc = HY_ENOMEM;
    if (rc == HY_OK)
        rc = objstore_adopt(os, tmp, name);
    if (rc) {
        unlink(tmp);
        goto out_free;
    }
    hex_encode(hex, md5, 16);
    snprintf(etag, sizeof etag, "\"%s-%d\"", hex, nrefs);
    a.content_type = up->content_type;
    a.meta = up->meta;
    a.headers = up->headers;
    a.tags = up->tags;
    struct objstore_row row = {.file = name, .size = total, .etag = etag,
                               .attrs = &a, .parts = nrefs, .now = hy_now_ms()};
    /* 3. one transaction: the object row in, the upload out; the upload
     * must still be there (a concurrent Abort or Complete wins) */
    free(rows);
    rows = NULL;
    pthread_mutex_lock(&os->lock);
    src = sqlite3_exec(os->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "complete begin");
        goto out_unlock;
    }
    if ((rc = objstore_upload_locked(os, bucket, key, upload_id, NULL)) ||
        (rc = objstore_parts_locked(os, upload_id, &rows, &nrows)) ||
        (rc = objstore_upsert_locked(os, bucket, key, &row, old)) ||
        (rc = objstore_upload_drop_locked(os, upload_id)))
        goto out_rollback;
    src = sqlite3_exec(os->db, "COMMIT", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "complete commit");
        goto out_rollback;
    }
    pthread_mutex_unlock(&os->lock);
    if (old[0])
        objstore_unlink_file(os, old);
    for (int i = 0; i < nrows; i++)
        objstore_unlink_file(os, rows[i].file);
    if (etag_out)
        snprintf(etag_out, OBJSTORE_ETAG_MAX, "%s", etag);
    if (last_modified_out)
        *last_modified_out = row.now;
    goto out_free;

out_rollback:
    sqlite3_exec(os->db, "ROLLBACK", NULL, NULL, NULL);
out_unlock:
    pthread_mutex_unlock(&os->lock);
    objstore_unlink_file(os, name);
out_free:
    EVP_MD_CTX_free(md);
    free(final);
    free(rows);
    free(up);
    return rc;
}

int objstore_mpu_abort(struct objstore *os, const char *bucket, const char *key,
                       const char *upload_id)
{
    struct objstore_part_row *rows = NULL;
    int nrows = 0, rc, src;
    pthread_mutex_lock(&os->lock);
    src = sqlite3_exec(os->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "abort begin");
        goto out_unlock;
    }
    if ((rc = objstore_upload_locked(os, bucket, key, upload_id, NULL)) ||
        (rc = objstore_parts_locked(os, upload_id, &rows, &nrows)) ||
        (rc = objstore_upload_drop_locked(os, upload_id)))
        goto out_rollback;
    src = sqlite3_exec(os->db, "COMMIT", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = objstore_db_rc(os, src, "abort commit");
        goto out_rollback;
    }
    pthread_mutex_unlock(&os->lock);
    for (int i = 0; i < nrows; i++)
        objstore_unlink_file(os, rows[i].file);
    free(rows);
    return HY_OK;

out_rollback:
    sqlite3_exec(os->db, "ROLLBACK", NULL, NULL, NULL);
out_unlock:
    pthread_mutex_unlock(&os->lock);
    free(rows);
    return rc;
}

int objstore_mpu_list_parts(struct objstore *os, const char *bucket, const char *key,
                            const char *upload_id, int after,
                            objstore_part_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    struct objstore_part part;
    pthread_mutex_lock(&os->lock);
    int rc = objstore_upload_locked(os, bucket, key, upload_id, NULL);
    if (rc)
        goto out_unlock;
    int src;
    rc = objstore_prepare(os, &st, "list parts",
                          "SELECT number, size, etag, last_modified_ms FROM parts"
                          " WHERE upload_id=?1 AND number>?2 ORDER BY number");
    if (rc)
        goto out_unlock;
    sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, after);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        part.number = sqlite3_column_int(st, 0);
        part.size = (uint64_t)sqlite3_column_int64(st, 1);
        objstore_copy_col(part.etag, sizeof part.etag, st, 2);
        part.last_modified_ms = sqlite3_column_int64(st, 3);
        if (fn(ctx, &part))
            break;
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = objstore_db_rc(os, src, "list parts");
    sqlite3_finalize(st);
out_unlock:
    pthread_mutex_unlock(&os->lock);
    return rc;
}

int objstore_mpu_list(struct objstore *os, const char *bucket, const char *prefix,
                      const char *key_marker, const char *upload_id_marker,
                      objstore_upload_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    struct objstore_upload *up = malloc(sizeof *up);
    int rc;
    if (!up)
        return HY_ENOMEM;
    prefix = objstore_str(prefix);
    size_t plen = strlen(prefix);
    key_marker = objstore_str(key_marker);
    upload_id_marker = objstore_str(upload_id_marker);
    pthread_mutex_lock(&os->lock);
    if ((rc = objstore_bucket_exists_locked(os, bucket)))
        goto out_unlock;
    /* without an upload-id-marker, everything of key-marker itself is past */
    int src;
    rc = objstore_prepare(os, &st, "list uploads",
                          "SELECT upload_id, key, created_ms FROM uploads WHERE bucket=?1 AND key>=?2"
                          " AND (key>?3 OR (key=?3 AND ?4<>'' AND upload_id>?4))"
                          " ORDER BY key, upload_id");
    if (rc)
        goto out_unlock;
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, key_marker, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, upload_id_marker, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 1);
        if (!k || strncmp(k, prefix, plen) != 0)
            break;
        objstore_copy_col(up->upload_id, sizeof up->upload_id, st, 0);
        objstore_copy_col(up->key, sizeof up->key, st, 1);
        up->created_ms = sqlite3_column_int64(st, 2);
        if (fn(ctx, up))
            break;
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = objstore_db_rc(os, src, "list uploads");
    sqlite3_finalize(st);
out_unlock:
    pthread_mutex_unlock(&os->lock);
    free(up);
    return rc;
}
