/* stream.c -- delivery streams: the catalog and the per-stream buffers.
 *
 * Purpose: the single owner of stream state. firehose.c validates requests
 * and calls the catalog functions here; delivery.c takes due buffers.
 *
 * Design:
 * - The catalog is an array of struct stream sorted by name (binary search
 *   for lookups, sorted order for ListDeliveryStreams), mirrored in
 *   <data_dir>/streams.db (SQLite, WAL mode, synchronous=FULL), one row per
 *   stream:
 *
 *     CREATE TABLE streams(
 *       name TEXT PRIMARY KEY,  -- DeliveryStreamName
 *       type TEXT,              -- DeliveryStreamType
 *       arn TEXT,               -- DeliveryStreamARN as created
 *       dest_kind TEXT,         -- "ExtendedS3" or "S3"
 *       config TEXT,            -- destination configuration, JSON
 *       version INTEGER,        -- VersionId
 *       create_ms INTEGER,      -- CreateTimestamp, ms since the epoch
 *       update_ms INTEGER,      -- LastUpdateTimestamp, 0 = never
 *       tags TEXT,              -- JSON object Key -> Value
 *       encryption TEXT,        -- JSON {Status, KeyType?, KeyARN?}
 *       status TEXT,            -- CREATING or ACTIVE
 *       id INTEGER);            -- numeric id carried by WAL frames
 *     CREATE TABLE meta(k TEXT PRIMARY KEY, v BLOB);
 *       -- 'next_id': the next stream id (ids are never reused, so WAL
 *       --   frames of a deleted stream never land in a new one)
 *       -- 'node_id': 16 random bytes naming this data directory
 *
 *   Every mutation is written to the database first and only then made
 *   visible in memory, so a failed write changes nothing. A stream that
 *   was CREATING when the process stopped is ACTIVE after a restart.
 * - CREATING -> ACTIVE is not a timer: a stream is ACTIVE once the
 *   monotonic clock passes its active_mono.
 * - Each stream has one in-memory buffer (struct buf) holding its records
 *   concatenated exactly as sent. Its ceiling is SizeInMBs plus room for
 *   one full PutRecordBatch, and all buffers together are capped by
 *   STREAM_MAX_BUFFERED; past either, puts get HY_EBUSY (the client sees
 *   ServiceUnavailableException and retries), so memory stays bounded when
 *   delivery falls behind.
 * - A buffer is due when it holds SizeInMBs or its oldest record is
 *   IntervalInSeconds old (0: at once). stream_take_due moves the bytes
 *   out (no copy) together with a snapshot of the destination.
 *
 * Threading: one rwlock guards the catalog (array, configurations, the
 * database handle): puts, takes and reads hold it shared, mutations hold
 * it exclusively; it prefers writers, so no read is ever taken
 * recursively. Each stream's buffer has its own mutex, taken under the
 * shared catalog lock, so puts to different streams never contend. The
 * wakeup callback is called with no lock held.
 */
#include "stream.h"
#include "wal.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024u * 1024u)
/* Room above SizeInMBs so that a batch arriving on a nearly full buffer
 * still fits: one PutRecordBatch (4 MiB) plus one record. */
#define STREAM_BUF_SLACK (4u * MIB + STREAM_MAX_RECORD)

struct stream {
    char name[65];
    char *arn;
    char *type;
    char *dest_kind;
    json_t *dest;            /* destination configuration as given */
    json_t *tags;            /* object Key -> Value */
    json_t *enc;             /* {Status, KeyType?, KeyARN?} */
    unsigned version;
    int64_t create_ms, update_ms;
    int64_t active_mono;     /* ACTIVE once hy_mono_ms() reaches this */
    struct stream_dest snap; /* what delivery needs, parsed from dest */

    uint32_t id;             /* numeric id, never reused (WAL frames carry it) */

    pthread_mutex_t lock;    /* guards the buffer fields below */
    struct buf data;
    size_t nrecords;
    int64_t oldest_ms;
    uint64_t first_lsn, last_lsn; /* WAL positions in the buffer (0: none) */
    size_t reserved;         /* admitted bytes not yet applied */
    /* recovery only: where each buffered record starts */
    struct rec_idx *idx;
    size_t nidx, cap_idx, head, head_off;
};

/* Recovery's index of a buffered record. */
struct rec_idx {
    uint64_t lsn;
    int64_t arrival_ms;
    uint32_t len;
};

static struct {
    pthread_rwlock_t lock;
    struct stream **v;       /* sorted by name */
    size_t n, cap;
    sqlite3 *db;
    size_t next_take;        /* round robin start for stream_take_due */
    size_t buffered;         /* bytes in all buffers (atomic) */
    uint64_t seq;            /* RecordId counter (atomic) */
    uint64_t node_seed;
    char node[33];           /* per-process random part of RecordIds */
    unsigned char node_id[16]; /* per data directory, from streams.db */
    struct stream_batch **recovered; /* sealed batches found by recovery */
    size_t nrecovered, cap_recovered;
} cat = {
    /* writers first: a steady stream of puts must not starve CreateDeliveryStream */
    .lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP,
};

static void (*stream_wakeup)(void);

/* ---- helpers ---------------------------------------------------------- */
static bool stream_is_active(const struct stream *s)
{
    return hy_mono_ms() >= s->active_mono;
}

static size_t stream_size_bytes(const struct stream *s)
{
    return (size_t)s->snap.size_mb * MIB;
}

/* Index of name in cat.v, or where it would go (*found false). */
static size_t stream_find_pos(const char *name, bool *found)
{
    size_t lo = 0, hi = cat.n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(cat.v[mid]->name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct stream *stream_find(const char *name)
{
    bool found;
    size_t i = stream_find_pos(name, &found);
    return found ? cat.v[i] : NULL;
}

/* The stream that takes data: HY_ENOTFOUND, or HY_ESTATE while it is
 * CREATING. Caller holds the catalog lock. */
static int stream_find_active(const char *name, struct stream **out)
{
    struct stream *s = stream_find(name);
    if (!s)
        return HY_ENOTFOUND;
    if (!stream_is_active(s))
        return HY_ESTATE;
    *out = s;
    return HY_OK;
}

static const char *json_str_member(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static int stream_copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return HY_EINVAL;
    memcpy(dst, src, n + 1);
    return HY_OK;
}

/* Parses what delivery needs out of a destination configuration. */
static int stream_parse_dest(const char *name, unsigned version, const json_t *dest,
                             struct stream_dest *out)
{
    static const char arn_prefix[] = "arn:aws:s3:::";
    const char *arn = json_str_member(dest, "BucketARN");
    const char *comp = json_str_member(dest, "CompressionFormat");
    const json_t *hints = json_object_get(dest, "BufferingHints");
    const json_t *size = json_object_get(hints, "SizeInMBs");
    const json_t *interval = json_object_get(hints, "IntervalInSeconds");
    int rc;

    memset(out, 0, sizeof *out);
    if (strncmp(arn, arn_prefix, sizeof arn_prefix - 1) != 0)
        return HY_EINVAL;
    const char *bucket = arn + sizeof arn_prefix - 1;
    if (*bucket == 0 || strchr(bucket, '/'))
        return HY_EINVAL;
    if ((rc = stream_copy_str(out->name, sizeof out->name, name)) ||
        (rc = stream_copy_str(out->bucket, sizeof out->bucket, bucket)) ||
        (rc = stream_copy_str(out->prefix, sizeof out->prefix,
                              json_str_member(dest, "Prefix"))) ||
        (rc = stream_copy_str(out->error_prefix, sizeof out->error_prefix,
                              json_str_member(dest, "ErrorOutputPrefix"))) ||
        (rc = stream_copy_str(out->file_ext, sizeof out->file_ext,
                              json_str_member(dest, "FileExtension"))))
        return rc;
    out->version = version;
    if (!strcmp(comp, "GZIP"))
        out->compression = COMP_GZIP;
    else if (!strcmp(comp, "ZIP"))
        out->compression = COMP_ZIP;
    else if (!strcmp(comp, "Snappy"))
        out->compression = COMP_SNAPPY;
    else if (!strcmp(comp, "HADOOP_SNAPPY"))
        out->compression = COMP_HADOOP_SNAPPY;
    else
        out->compression = COMP_UNCOMPRESSED;
    out->size_mb = json_is_integer(size) ? (int)json_integer_value(size) : 5;
    out->interval_s = json_is_integer(interval) ? (int)json_integer_value(interval) : 300;
    if (out->size_mb < 1 || out->size_mb > 128 || out->interval_s < 0 ||
        out->interval_s > 900)
        return HY_EINVAL;
    return HY_OK;
}

static void stream_free(struct stream *s)
{
    if (!s)
        return;
    free(s->arn);
    free(s->type);
    free(s->dest_kind);
    json_decref(s->dest);
    json_decref(s->tags);
    json_decref(s->enc);
    buf_free(&s->data);
    free(s->idx);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* A stream object without a buffer yet; takes references to the JSON. */
static struct stream *stream_alloc(const char *name, const char *arn, const char *type,
                                   const char *kind)
{
    struct stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    buf_init(&s->data, 0);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->arn = strdup(arn);
    s->type = strdup(type);
    s->dest_kind = strdup(kind);
    if (!s->arn || !s->type || !s->dest_kind) {
        stream_free(s);
        return NULL;
    }
    return s;
}

static int stream_insert_at(size_t pos, struct stream *s)
{
    if (cat.n == cat.cap) {
        size_t cap = cat.cap ? cat.cap * 2 : 16;
        struct stream **v = realloc(cat.v, cap * sizeof *v);
        if (!v)
            return HY_ENOMEM;
        cat.v = v;
        cat.cap = cap;
    }
    memmove(cat.v + pos + 1, cat.v + pos, (cat.n - pos) * sizeof *cat.v);
    cat.v[pos] = s;
    cat.n++;
    return HY_OK;
}

/* ---- persistence ------------------------------------------------------ */
static int stream_db_exec(const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(cat.db, sql, NULL, NULL, &err) != SQLITE_OK) {
        log_error("stream", "sqlite: %s: %s", sql, err ? err : "?");
        sqlite3_free(err);
        return HY_EDB;
    }
    return HY_OK;
}

static int stream_bind_json(sqlite3_stmt *st, int col, const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return HY_ENOMEM;
    int r = sqlite3_bind_text(st, col, text, -1, free);
    return r == SQLITE_OK ? HY_OK : HY_EDB;
}

/* Writes the whole row of s as it is now. Caller holds the write lock. */
static int stream_db_save(const struct stream *s)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO streams(name,type,arn,dest_kind,config,version,"
        "create_ms,update_ms,tags,encryption,status,id) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)";
    sqlite3_stmt *st = NULL;
    int rc = HY_EDB;

    if (sqlite3_prepare_v2(cat.db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out_log;
    sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, s->arn, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, s->dest_kind, -1, SQLITE_STATIC);
    if ((rc = stream_bind_json(st, 5, s->dest)))
        goto out_finalize;
    sqlite3_bind_int64(st, 6, s->version);
    sqlite3_bind_int64(st, 7, s->create_ms);
    sqlite3_bind_int64(st, 8, s->update_ms);
    if ((rc = stream_bind_json(st, 9, s->tags)) || (rc = stream_bind_json(st, 10, s->enc)))
        goto out_finalize;
    sqlite3_bind_text(st, 11, stream_is_active(s) ? "ACTIVE" : "CREATING", -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 12, s->id);
    rc = sqlite3_step(st) == SQLITE_DONE ? HY_OK : HY_EDB;
out_finalize:
    sqlite3_finalize(st);
out_log:
    if (rc == HY_EDB)
        log_error("stream", "cannot save stream %s: %s", s->name, sqlite3_errmsg(cat.db));
    return rc;
}

static int stream_db_delete(const char *name)
{
    sqlite3_stmt *st = NULL;
    int rc = HY_EDB;
    if (sqlite3_prepare_v2(cat.db, "DELETE FROM streams WHERE name=?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? HY_OK : HY_EDB;
    }
    sqlite3_finalize(st);
    if (rc)
        log_error("stream", "cannot delete stream %s: %s", name, sqlite3_errmsg(cat.db));
    return rc;
}

static json_t *stream_column_json(sqlite3_stmt *st, int col, const char *name)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    json_error_t err;
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, &err) : NULL;
    if (!v || !json_is_object(v)) {
        log_error("stream", "streams.db: stream %s: column %d is not a JSON object", name,
                  col);
        json_decref(v);
        return NULL;
    }
    return v;
}

/* Reads (or makes, the first time) the data directory's node id. */
static int stream_db_node_id(void)
{
    sqlite3_stmt *st = NULL;
    int rc = HY_EDB;
    if (sqlite3_prepare_v2(cat.db, "SELECT v FROM meta WHERE k='node_id'", -1, &st, NULL) !=
        SQLITE_OK)
        return HY_EDB;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 16) {
        memcpy(cat.node_id, sqlite3_column_blob(st, 0), 16);
        sqlite3_finalize(st);
        return HY_OK;
    }
    sqlite3_finalize(st);
    if (hy_random(cat.node_id, sizeof cat.node_id) != HY_OK)
        return HY_EIO;
    if (sqlite3_prepare_v2(cat.db, "INSERT OR REPLACE INTO meta(k,v) VALUES('node_id',?)", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_blob(st, 1, cat.node_id, 16, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? HY_OK : HY_EDB;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Takes the next stream id, persisted before it is used. Write lock held. */
static int stream_db_next_id(uint32_t *id)
{
    sqlite3_stmt *st = NULL;
    int64_t next = 1;
    int rc = HY_EDB;
    if (sqlite3_prepare_v2(cat.db,
                           "SELECT max(coalesce((SELECT v FROM meta WHERE k='next_id'),1),"
                           " coalesce((SELECT max(id)+1 FROM streams),1))",
                           -1, &st, NULL) != SQLITE_OK)
        return HY_EDB;
    if (sqlite3_step(st) == SQLITE_ROW)
        next = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (next < 1 || next > UINT32_MAX)
        return HY_ELIMIT;
    if (sqlite3_prepare_v2(cat.db, "INSERT OR REPLACE INTO meta(k,v) VALUES('next_id',?)", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, next + 1);
        rc = sqlite3_step(st) == SQLITE_DONE ? HY_OK : HY_EDB;
    }
    sqlite3_finalize(st);
    if (rc == HY_OK)
        *id = (uint32_t)next;
    return rc;
}

static int stream_db_load(void)
{
    static const char sql[] =
        "SELECT name,type,arn,dest_kind,config,version,create_ms,update_ms,tags,"
        "encryption,id FROM streams ORDER BY name";
    sqlite3_stmt *st = NULL;
    int rc = HY_OK, r;

    if (sqlite3_prepare_v2(cat.db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("stream", "streams.db: %s", sqlite3_errmsg(cat.db));
        return HY_EDB;
    }
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 1);
        const char *arn = (const char *)sqlite3_column_text(st, 2);
        const char *kind = (const char *)sqlite3_column_text(st, 3);
        if (!name || !type || !arn || !kind || strlen(name) > 64) {
            log_error("stream", "streams.db: a row has a missing or bad name/type/arn");
            rc = HY_EDB;
            break;
        }
        struct stream *s = stream_alloc(name, arn, type, kind);
        if (!s) {
            rc = HY_ENOMEM;
            break;
        }
        s->version = (unsigned)sqlite3_column_int64(st, 5);
        s->id = (uint32_t)sqlite3_column_int64(st, 10);
        s->create_ms = sqlite3_column_int64(st, 6);
        s->update_ms = sqlite3_column_int64(st, 7);
        s->dest = stream_column_json(st, 4, name);
        s->tags = stream_column_json(st, 8, name);
        s->enc = stream_column_json(st, 9, name);
        if (!s->dest || !s->tags || !s->enc ||
            stream_parse_dest(s->name, s->version, s->dest, &s->snap) != HY_OK) {
            log_error("stream", "streams.db: stream %s has an unusable configuration",
                      name);
            stream_free(s);
            rc = HY_EDB;
            break;
        }
        s->active_mono = 0; /* it finished creating before the restart */
        s->data.max = stream_size_bytes(s) + STREAM_BUF_SLACK;
        if ((rc = stream_insert_at(cat.n, s))) {
            stream_free(s);
            break;
        }
    }
    if (rc == HY_OK && r != SQLITE_DONE) {
        log_error("stream", "streams.db: %s", sqlite3_errmsg(cat.db));
        rc = HY_EDB;
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- open / close ----------------------------------------------------- */
static void stream_clear(void)
{
    for (size_t i = 0; i < cat.nrecovered; i++)
        stream_batch_free(cat.recovered[i]);
    free(cat.recovered);
    cat.recovered = NULL;
    cat.nrecovered = cat.cap_recovered = 0;
    for (size_t i = 0; i < cat.n; i++)
        stream_free(cat.v[i]);
    free(cat.v);
    cat.v = NULL;
    cat.n = cat.cap = 0;
    __atomic_store_n(&cat.buffered, 0, __ATOMIC_RELAXED);
}

int stream_catalog_open(const char *dir)
{
    char path[4096];
    unsigned char seed[24];
    int rc;

    if ((size_t)snprintf(path, sizeof path, "%s/streams.db", dir) >= sizeof path)
        return HY_EINVAL;
    if (hy_random(seed, sizeof seed) != HY_OK)
        return HY_EIO;
    hex_encode(cat.node, seed, 16);
    memcpy(&cat.node_seed, seed + 16, sizeof cat.node_seed);

    pthread_rwlock_wrlock(&cat.lock);
    if (sqlite3_open_v2(path, &cat.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        log_error("stream", "cannot open %s: %s", path,
                  cat.db ? sqlite3_errmsg(cat.db) : "out of memory");
        rc = HY_EDB;
        goto out_close;
    }
    sqlite3_busy_timeout(cat.db, 5000);
    if ((rc = stream_db_exec("PRAGMA journal_mode=WAL")) ||
        (rc = stream_db_exec("PRAGMA synchronous=FULL")) ||
        (rc = stream_db_exec(
             "CREATE TABLE IF NOT EXISTS streams(name TEXT PRIMARY KEY, type TEXT NOT NULL,"
             " arn TEXT NOT NULL, dest_kind TEXT NOT NULL, config TEXT NOT NULL,"
             " version INTEGER NOT NULL, create_ms INTEGER NOT NULL,"
             " update_ms INTEGER NOT NULL DEFAULT 0, tags TEXT NOT NULL DEFAULT '{}',"
             " encryption TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL,"
             " id INTEGER NOT NULL)")) ||
        (rc = stream_db_exec("CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v BLOB)")) ||
        (rc = stream_db_node_id()) ||
        (rc = stream_db_exec("UPDATE streams SET status='ACTIVE' WHERE status<>'ACTIVE'")))
        goto out_close;
    if ((rc = stream_db_load())) {
        stream_clear();
        goto out_close;
    }
    log_info("stream", "catalog %s: %zu stream(s)", path, cat.n);
    pthread_rwlock_unlock(&cat.lock);
    return HY_OK;

out_close:
    sqlite3_close(cat.db);
    cat.db = NULL;
    pthread_rwlock_unlock(&cat.lock);
    return rc;
}

void stream_catalog_close(void)
{
    pthread_rwlock_wrlock(&cat.lock);
    stream_clear();
    if (cat.db)
        sqlite3_close(cat.db);
    cat.db = NULL;
    pthread_rwlock_unlock(&cat.lock);
}

/* ---- records ------------------------------------------------------------ */
static uint64_t stream_mix(uint64_t x)
{
    /* splitmix64 finaliser: makes consecutive ids look unrelated */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static char *stream_hex64(char *out, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
    return out + 16;
}

/* 96 hex digits: process nonce (32), arrival ms, sequence, and a mix of
 * them (16 each). Unique per process by the sequence, across processes
 * by the nonce. Written digit by digit: a batch makes 500 of them. */
void stream_record_id(char out[129], int64_t now_ms)
{
    uint64_t seq = __atomic_add_fetch(&cat.seq, 1, __ATOMIC_RELAXED);
    uint64_t a = stream_mix(seq ^ cat.node_seed), b = stream_mix(a ^ (uint64_t)now_ms);
    char *o = out;
    memcpy(o, cat.node, 32);
    o = stream_hex64(o + 32, (uint64_t)now_ms);
    o = stream_hex64(o, seq);
    o = stream_hex64(o, a);
    o = stream_hex64(o, b);
    *o = 0;
}

int stream_put(const char *name, const void *data, size_t len, int64_t now_ms,
               char record_id[129])
{
    bool wake = false;
    int rc = HY_OK;

    if (len > STREAM_MAX_RECORD)
        return HY_ETOOBIG;
    pthread_rwlock_rdlock(&cat.lock);
    struct stream *s;
    if ((rc = stream_find_active(name, &s)))
        goto out_unlock;
    if (__atomic_load_n(&cat.buffered, __ATOMIC_RELAXED) + len > hy_cfg.max_buffered) {
        rc = HY_EBUSY;
        goto out_unlock;
    }
    pthread_mutex_lock(&s->lock);
    size_t before = s->data.len, threshold = stream_size_bytes(s);
    rc = buf_append(&s->data, data, len);
    if (rc == HY_ETOOBIG)
        rc = HY_EBUSY; /* delivery is behind: the client backs off and retries */
    if (rc == HY_OK) {
        if (s->nrecords++ == 0) {
            s->oldest_ms = now_ms;
            wake = s->snap.interval_s == 0;
        }
        if (before < threshold && s->data.len >= threshold)
            wake = true;
        __atomic_add_fetch(&cat.buffered, len, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&s->lock);
out_unlock:
    pthread_rwlock_unlock(&cat.lock);
    if (rc == HY_OK) {
        stream_record_id(record_id, now_ms);
        void (*fn)(void) = __atomic_load_n(&stream_wakeup, __ATOMIC_ACQUIRE);
        if (wake && fn)
            fn();
    }
    return rc;
}

/* ---- the write-ahead path ---------------------------------------------- */
/* Caller holds at least the shared catalog lock. */
static struct stream *stream_find_id(uint32_t id)
{
    for (size_t i = 0; i < cat.n; i++)
        if (cat.v[i]->id == id)
            return cat.v[i];
    return NULL;
}

const unsigned char *stream_node_id(void)
{
    return cat.node_id;
}

int stream_admit(const char *name, size_t len, uint32_t *id, bool *encrypted)
{
    int rc = HY_OK;
    if (len > STREAM_MAX_RECORD)
        return HY_ETOOBIG;
    pthread_rwlock_rdlock(&cat.lock);
    struct stream *s;
    if ((rc = stream_find_active(name, &s)))
        goto out_unlock;
    size_t total = __atomic_add_fetch(&cat.buffered, len, __ATOMIC_RELAXED);
    pthread_mutex_lock(&s->lock);
    if (total > hy_cfg.max_buffered || s->data.len + s->reserved + len > s->data.max) {
        rc = HY_EBUSY; /* delivery is behind: the client backs off and retries */
    } else {
        s->reserved += len;
        if (id)
            *id = s->id;
        if (encrypted) {
            const char *st = json_string_value(json_object_get(s->enc, "Status"));
            *encrypted = st && !strcmp(st, "ENABLED");
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (rc)
        __atomic_sub_fetch(&cat.buffered, len, __ATOMIC_RELAXED);
out_unlock:
    pthread_rwlock_unlock(&cat.lock);
    return rc;
}

void stream_unadmit(uint32_t id, size_t len)
{
    pthread_rwlock_rdlock(&cat.lock);
    struct stream *s = stream_find_id(id);
    if (s) {
        pthread_mutex_lock(&s->lock);
        s->reserved = s->reserved >= len ? s->reserved - len : 0;
        pthread_mutex_unlock(&s->lock);
    }
    __atomic_sub_fetch(&cat.buffered, len, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&cat.lock);
}

/* Appends one record to a locked stream's buffer; true when it should
 * wake delivery. */
static bool stream_append_locked(struct stream *s, const struct wal_frame *f, int *rc)
{
    size_t before = s->data.len, threshold = stream_size_bytes(s);
    bool wake = false;
    *rc = buf_append(&s->data, f->data, f->len);
    if (*rc)
        return false;
    if (s->nrecords++ == 0) {
        s->oldest_ms = f->arrival_ms;
        s->first_lsn = f->lsn;
        wake = s->snap.interval_s == 0;
    }
    s->last_lsn = f->lsn;
    if (before < threshold && s->data.len >= threshold)
        wake = true;
    return wake;
}

void stream_apply(const struct wal_frame *frames, size_t n)
{
    bool wake = false;
    pthread_rwlock_rdlock(&cat.lock);
    for (size_t i = 0; i < n;) {
        uint32_t id = frames[i].stream_id;
        size_t j = i;
        while (j < n && frames[j].stream_id == id)
            j++;
        struct stream *s = stream_find_id(id);
        if (!s) {
            /* deleted while its records were in flight: AWS drops them too */
            for (size_t k = i; k < j; k++)
                __atomic_sub_fetch(&cat.buffered, frames[k].len, __ATOMIC_RELAXED);
            i = j;
            continue;
        }
        pthread_mutex_lock(&s->lock);
        for (size_t k = i; k < j; k++) {
            if (frames[k].type != WAL_RECORD)
                continue;
            int rc;
            /* admitted bytes always fit: the reservation held their room */
            size_t max = s->data.max;
            s->data.max = (size_t)-1 / 2;
            wake |= stream_append_locked(s, &frames[k], &rc);
            s->data.max = max;
            s->reserved = s->reserved >= frames[k].len ? s->reserved - frames[k].len : 0;
            if (rc) {
                __atomic_sub_fetch(&cat.buffered, frames[k].len, __ATOMIC_RELAXED);
                log_error("stream", "%s: cannot buffer the durable record lsn %llu: %s; "
                          "it is redelivered from the log at the next start", s->name,
                          (unsigned long long)frames[k].lsn, hy_strerror(rc));
            }
        }
        pthread_mutex_unlock(&s->lock);
        i = j;
    }
    pthread_rwlock_unlock(&cat.lock);
    void (*fn)(void) = __atomic_load_n(&stream_wakeup, __ATOMIC_ACQUIRE);
    if (wake && fn)
        fn();
}

uint64_t stream_min_lsn(void)
{
    uint64_t m = UINT64_MAX;
    pthread_rwlock_rdlock(&cat.lock);
    for (size_t i = 0; i < cat.n; i++) {
        struct stream *s = cat.v[i];
        pthread_mutex_lock(&s->lock);
        if (s->nrecords && s->first_lsn && s->first_lsn < m)
            m = s->first_lsn;
        pthread_mutex_unlock(&s->lock);
    }
    for (size_t i = 0; i < cat.nrecovered; i++)
        if (cat.recovered[i]->first_lsn < m)
            m = cat.recovered[i]->first_lsn;
    pthread_rwlock_unlock(&cat.lock);
    return m;
}

/* ---- recovery ------------------------------------------------------------
 * Replay sees, per stream, RECORD frames in LSN order; a SEAL cuts the
 * records of its range off the front of the stream's buffer into a batch
 * that keeps the sealed bucket and key; a DELIVERED drops that batch. An
 * index of each buffered record (lsn, arrival, length) makes the cut
 * exact; it lives only during replay. */
static struct stream_recovery recov;

static int recover_push_batch(struct stream_batch *b)
{
    if (cat.nrecovered == cat.cap_recovered) {
        size_t cap = cat.cap_recovered ? cat.cap_recovered * 2 : 16;
        struct stream_batch **v = realloc(cat.recovered, cap * sizeof *v);
        if (!v)
            return HY_ENOMEM;
        cat.recovered = v;
        cat.cap_recovered = cap;
    }
    cat.recovered[cat.nrecovered++] = b;
    return HY_OK;
}

static void recover_record(struct stream *s, const struct wal_frame *f)
{
    if (s->nidx == s->cap_idx) {
        size_t cap = s->cap_idx ? s->cap_idx * 2 : 1024;
        struct rec_idx *v = realloc(s->idx, cap * sizeof *v);
        if (!v) {
            log_error("stream", "%s: out of memory recovering lsn %llu", s->name,
                      (unsigned long long)f->lsn);
            return;
        }
        s->idx = v;
        s->cap_idx = cap;
    }
    if (buf_append(&s->data, f->data, f->len) != HY_OK) {
        log_error("stream", "%s: out of memory recovering lsn %llu", s->name,
                  (unsigned long long)f->lsn);
        return;
    }
    s->idx[s->nidx++] = (struct rec_idx){f->lsn, f->arrival_ms, f->len};
    __atomic_add_fetch(&cat.buffered, f->len, __ATOMIC_RELAXED);
}

static void recover_seal(struct stream *s, const struct wal_frame *f)
{
    struct wal_range r;
    char bucket[64], key[1025];
    if (wal_seal_decode(f, &r, bucket, key) != HY_OK) {
        log_error("stream", "%s: unreadable SEAL at lsn %llu ignored; its records are "
                  "delivered again under a new key", s->name, (unsigned long long)f->lsn);
        return;
    }
    size_t j = s->head, bytes = 0;
    while (j < s->nidx && s->idx[j].lsn <= r.last_lsn) {
        if (s->idx[j].lsn < r.first_lsn) {
            /* older than the range and not delivered: leave it buffered
             * (cannot happen with whole-buffer seals; kept safe anyway) */
            break;
        }
        bytes += s->idx[j].len;
        j++;
    }
    if (j == s->head)
        return; /* nothing of it is here (e.g. a repeated seal) */
    struct stream_batch *b = calloc(1, sizeof *b);
    if (b) {
        buf_init(&b->data, (size_t)-1 / 2);
        if (buf_append(&b->data, s->data.data + s->head_off, bytes) != HY_OK ||
            !(b->key = strdup(key)) || recover_push_batch(b) != HY_OK) {
            buf_free(&b->data);
            free(b->key);
            free(b);
            b = NULL;
        }
    }
    if (!b) {
        log_error("stream", "%s: out of memory recovering a sealed batch; its records "
                  "stay buffered", s->name);
        return;
    }
    b->dest = s->snap;
    b->dest.version = s->version;
    snprintf(b->dest.bucket, sizeof b->dest.bucket, "%s", bucket);
    b->nrecords = j - s->head;
    b->oldest_ms = s->idx[s->head].arrival_ms;
    b->stream_id = s->id;
    b->first_lsn = r.first_lsn;
    b->last_lsn = r.last_lsn;
    b->accounted = bytes; /* moved from the buffer's count */
    s->head = j;
    s->head_off += bytes;
}

static void recover_delivered(struct stream *s, const struct wal_frame *f)
{
    struct wal_range r;
    if (wal_range_decode(f, &r) != HY_OK)
        return;
    for (size_t i = 0; i < cat.nrecovered; i++) {
        struct stream_batch *b = cat.recovered[i];
        if (b->stream_id == s->id && b->first_lsn == r.first_lsn) {
            recov.delivered_skipped += b->nrecords;
            memmove(cat.recovered + i, cat.recovered + i + 1,
                    (cat.nrecovered - i - 1) * sizeof *cat.recovered);
            cat.nrecovered--;
            stream_batch_free(b);
            return;
        }
    }
}

void stream_recover_frame(void *ctx, const struct wal_frame *f)
{
    (void)ctx;
    struct stream *s = stream_find_id(f->stream_id);
    if (!s) {
        if (f->type == WAL_RECORD)
            recov.orphan_records++;
        return;
    }
    s->data.max = (size_t)-1 / 2; /* restored by stream_recover_finish */
    switch (f->type) {
    case WAL_RECORD: recover_record(s, f); break;
    case WAL_SEAL: recover_seal(s, f); break;
    case WAL_DELIVERED: recover_delivered(s, f); break;
    }
}

void stream_recover_finish(struct stream_recovery *st)
{
    pthread_rwlock_wrlock(&cat.lock);
    for (size_t i = 0; i < cat.n; i++) {
        struct stream *s = cat.v[i];
        if (s->head_off) {
            memmove(s->data.data, s->data.data + s->head_off, s->data.len - s->head_off);
            s->data.len -= s->head_off;
            s->data.data[s->data.len] = 0;
        }
        if (s->head < s->nidx) {
            s->nrecords = s->nidx - s->head;
            s->first_lsn = s->idx[s->head].lsn;
            s->last_lsn = s->idx[s->nidx - 1].lsn;
            s->oldest_ms = s->idx[s->head].arrival_ms;
            recov.records += s->nrecords;
            recov.bytes += s->data.len;
        }
        free(s->idx);
        s->idx = NULL;
        s->nidx = s->cap_idx = s->head = s->head_off = 0;
        s->data.max = stream_size_bytes(s) + STREAM_BUF_SLACK;
        if (s->data.max < s->data.len)
            s->data.max = s->data.len;
    }
    for (size_t i = 0; i < cat.nrecovered; i++) {
        recov.records += cat.recovered[i]->nrecords;
        recov.bytes += cat.recovered[i]->data.len;
    }
    recov.sealed_batches = cat.nrecovered;
    /* hand them out oldest first (stream_take_due pops from the end) */
    for (size_t i = 0, j = cat.nrecovered; i + 1 < j; i++, j--) {
        struct stream_batch *t = cat.recovered[i];
        cat.recovered[i] = cat.recovered[j - 1];
        cat.recovered[j - 1] = t;
    }
    pthread_rwlock_unlock(&cat.lock);
    if (st)
        *st = recov;
    memset(&recov, 0, sizeof recov);
}

/* Caller holds s->lock. */
static bool stream_due(const struct stream *s, int64_t now_ms, bool force)
{
    if (s->nrecords == 0)
        return false;
    return force || s->data.len >= stream_size_bytes(s) ||
           now_ms - s->oldest_ms >= (int64_t)s->snap.interval_s * 1000;
}

int stream_take_due(int64_t now_ms, bool force, struct stream_batch **out)
{
    int rc = HY_ENOTFOUND;

    *out = NULL;
    struct stream_batch *b = calloc(1, sizeof *b);
    if (!b)
        return HY_ENOMEM;
    pthread_rwlock_rdlock(&cat.lock);
    if (cat.nrecovered) {
        /* sealed before a crash: rewrite them first, under their keys */
        pthread_rwlock_unlock(&cat.lock);
        pthread_rwlock_wrlock(&cat.lock);
        if (cat.nrecovered) {
            free(b);
            *out = cat.recovered[--cat.nrecovered];
            pthread_rwlock_unlock(&cat.lock);
            return HY_OK;
        }
    }
    size_t start = __atomic_load_n(&cat.next_take, __ATOMIC_RELAXED);
    for (size_t k = 0; k < cat.n; k++) {
        size_t i = (start + k) % cat.n;
        struct stream *s = cat.v[i];
        pthread_mutex_lock(&s->lock);
        if (stream_due(s, now_ms, force)) {
            b->dest = s->snap;
            b->dest.version = s->version;
            b->data = s->data;
            b->nrecords = s->nrecords;
            b->oldest_ms = s->oldest_ms;
            b->stream_id = s->id;
            b->first_lsn = s->first_lsn;
            b->last_lsn = s->last_lsn;
            b->accounted = b->data.len; /* still counted until delivered */
            buf_init(&s->data, b->data.max);
            s->nrecords = 0;
            s->oldest_ms = 0;
            s->first_lsn = s->last_lsn = 0;
            __atomic_store_n(&cat.next_take, i + 1, __ATOMIC_RELAXED);
            rc = HY_OK;
        }
        pthread_mutex_unlock(&s->lock);
        if (rc == HY_OK)
            break;
    }
    pthread_rwlock_unlock(&cat.lock);
    if (rc == HY_OK)
        *out = b;
    else
        free(b);
    return rc;
}

void stream_batch_free(struct stream_batch *b)
{
    if (!b)
        return;
    if (b->accounted)
        __atomic_sub_fetch(&cat.buffered, b->accounted, __ATOMIC_RELAXED);
    buf_free(&b->data);
    free(b->key);
    free(b);
}

int64_t stream_next_due_ms(int64_t now_ms)
{
    int64_t best = -1;
    pthread_rwlock_rdlock(&cat.lock);
    for (size_t i = 0; i < cat.n && best != 0; i++) {
        struct stream *s = cat.v[i];
        pthread_mutex_lock(&s->lock);
        if (s->nrecords > 0) {
            int64_t d = s->data.len >= stream_size_bytes(s)
                            ? 0
                            : s->oldest_ms + (int64_t)s->snap.interval_s * 1000 - now_ms;
            if (d < 0)
                d = 0;
            if (best < 0 || d < best)
                best = d;
        }
        pthread_mutex_unlock(&s->lock);
    }
    pthread_rwlock_unlock(&cat.lock);
    return best;
}

void stream_set_wakeup(void (*fn)(void))
{
    __atomic_store_n(&stream_wakeup, fn, __ATOMIC_RELEASE);
}

/* ---- catalog operations ----------------------------------------------- */
int stream_create(const struct stream_new *sn, int64_t now_ms)
{
    struct stream *s = NULL;
    bool found;
    int rc;

    if (strlen(sn->name) > 64 || !json_is_object(sn->dest))
        return HY_EINVAL;
    pthread_rwlock_wrlock(&cat.lock);
    size_t pos = stream_find_pos(sn->name, &found);
    if (found) {
        rc = HY_EEXIST;
        goto out_unlock;
    }
    if (cat.n >= (size_t)(hy_cfg.max_streams > 0 ? hy_cfg.max_streams : 0)) {
        rc = HY_ELIMIT;
        goto out_unlock;
    }
    if (!(s = stream_alloc(sn->name, sn->arn, sn->type, sn->dest_kind))) {
        rc = HY_ENOMEM;
        goto out_unlock;
    }
    s->version = 1;
    s->create_ms = now_ms;
    s->active_mono = hy_mono_ms() + hy_cfg.create_delay_ms;
    s->dest = json_deep_copy(sn->dest);
    s->tags = sn->tags ? json_deep_copy(sn->tags) : json_object();
    if (sn->encryption) {
        s->enc = json_deep_copy(sn->encryption);
        if (s->enc)
            json_object_set_new(s->enc, "Status", json_string("ENABLED"));
    } else {
        s->enc = json_pack("{s:s}", "Status", "DISABLED");
    }
    if (!s->dest || !s->tags || !s->enc) {
        rc = HY_ENOMEM;
        goto out_free;
    }
    if ((rc = stream_parse_dest(s->name, s->version, s->dest, &s->snap)))
        goto out_free;
    s->data.max = stream_size_bytes(s) + STREAM_BUF_SLACK;
    if ((rc = stream_db_next_id(&s->id)) || (rc = stream_db_save(s)))
        goto out_free;
    if ((rc = stream_insert_at(pos, s))) {
        stream_db_delete(s->name);
        goto out_free;
    }
    log_info("stream", "created %s (%s, bucket %s)", s->name, s->dest_kind, s->snap.bucket);
    pthread_rwlock_unlock(&cat.lock);
    return HY_OK;

out_free:
    stream_free(s);
out_unlock:
    pthread_rwlock_unlock(&cat.lock);
    return rc;
}

int stream_describe(const char *name, json_t **out)
{
    int rc = HY_OK;
    *out = NULL;
    pthread_rwlock_rdlock(&cat.lock);
    const struct stream *s = stream_find(name);
    if (!s) {
        rc = HY_ENOTFOUND;
        goto out_unlock;
    }
    /* deep copies: the caller may keep them after the lock is gone */
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:o, s:o, s:o}",
                          "Name", s->name, "ARN", s->arn, "Type", s->type, "Status",
                          stream_is_active(s) ? "ACTIVE" : "CREATING", "VersionId",
                          (json_int_t)s->version, "CreateMs", (json_int_t)s->create_ms,
                          "UpdateMs", (json_int_t)s->update_ms, "DestKind", s->dest_kind,
                          "Dest", json_deep_copy(s->dest), "Tags", json_deep_copy(s->tags),
                          "Encryption", json_deep_copy(s->enc));
    if (!o)
        rc = HY_ENOMEM;
    *out = o;
out_unlock:
    pthread_rwlock_unlock(&cat.lock);
    return rc;
}

int stream_update_dest(const char *name, unsigned expect_version, json_t *dest,
                       int64_t now_ms)
{
    struct stream_dest snap;
    int rc;

    pthread_rwlock_wrlock(&cat.lock);
    struct stream *s;
    if ((rc = stream_find_active(name, &s)))
        goto out_unlock;
    if (s->version != expect_version) {
        rc = HY_ECONFLICT;
        goto out_unlock;
    }
    if ((rc = stream_parse_dest(s->name, s->version + 1, dest, &snap)))
        goto out_unlock;
    json_t *copy = json_deep_copy(dest), *old = s->dest;
    if (!copy) {
        rc = HY_ENOMEM;
        goto out_unlock;
    }
    int64_t old_update = s->update_ms;
    s->dest = copy;
    s->version++;
    s->update_ms = now_ms;
    if ((rc = stream_db_save(s))) {
        s->dest = old;
        s->version--;
        s->update_ms = old_update;
        json_decref(copy);
        goto out_unlock;
    }
    json_decref(old);
    pthread_mutex_lock(&s->lock);
    s->snap = snap;
    s->data.max = stream_size_bytes(s) + STREAM_BUF_SLACK;
    if (s->data.max < s->data.len)
        s->data.max = s->data.len;
    pthread_mutex_unlock(&s->lock);
    log_info("stream", "updated %s to version %u", s->name, s->version);
out_unlock:
    pthread_rwlock_unlock(&cat.lock);
    if (rc == HY_OK) {
        /* a shorter interval or size may make the buffer due now */
        void (*fn)(void) = __atomic_load_n(&stream_wakeup, __ATOMIC_ACQUIRE);
        if (fn)
            fn();
    }
    return rc;
}

int stream_delete(const char *name)
{
    bool found;
    int rc;

    pthread_rwlock_wrlock(&cat.lock);
    size_t pos = stream_find_pos(name, &found);
    if (!found) {
        rc = HY_ENOTFOUND;
        goto out_unlock;
    }
    struct stream *s = cat.v[pos];
    if (!stream_is_active(s)) {
        rc = HY_ESTATE;
        goto out_unlock;
    }
    if ((rc = stream_db_delete(name)))
        goto out_unlock;
    memmove(cat.v + pos, cat.v + pos + 1, (cat.n - pos - 1) * sizeof *cat.v);
    cat.n--;
    __atomic_sub_fetch(&cat.buffered, s->data.len, __ATOMIC_RELAXED);
    if (s->nrecords)
        log_info("stream", "deleted %s, dropping %zu buffered record(s)", name,
                 s->nrecords);
    else
        log_info("stream", "deleted %s", name);
    stream_free(s);
out_unlock:
    pthread_rwlock_unlock(&cat.lock);
    return rc;
}

int stream_list(const char *type, const char *after, size_t limit, json_t **names,
                bool *has_more)
{
    bool found;
    *has_more = false;
    if (!(*names = json_array()))
        return HY_ENOMEM;
    pthread_rwlock_rdlock(&cat.lock);
    size_t i = after ? stream_find_pos(after, &found) : 0;
    if (after && found)
        i++;
    for (; i < cat.n; i++) {
        if (type && strcmp(cat.v[i]->type, type) != 0)
            continue;
        if (json_array_size(*names) == limit) {
            *has_more = true;
            break;
        }
        json_array_append_new(*names, json_string(cat.v[i]->name));
    }
    pthread_rwlock_unlock(&cat.lock);
    return HY_OK;
}

/* Replaces s->tags or s->enc (*slot) by v after saving; takes v. */
static int stream_replace_json(struct stream *s, json_t **slot, json_t *v)
{
    if (!v)
        return HY_ENOMEM;
    json_t *old = *slot;
    *slot = v;
    int rc = stream_db_save(s);
    if (rc) {
        *slot = old;
        json_decref(v);
        return rc;
    }
    json_decref(old);
    return HY_OK;
}

int stream_tag(const char *name, json_t *tags)
{
    int rc;
    pthread_rwlock_wrlock(&cat.lock);
    struct stream *s = stream_find(name);
    if (!s) {
        rc = HY_ENOTFOUND;
        goto out_unlock;
    }
    json_t *merged = json_deep_copy(s->tags);
    if (merged && json_object_update(merged, tags) != 0) {
        json_decref(merged);
        merged = NULL;
    }
    if (merged && json_object_size(merged) > STREAM_MAX_TAGS) {
        json_decref(merged);
        rc = HY_ELIMIT;
        goto out_unlock;
    }
    rc = stream_replace_json(s, &s->tags, merged);
out_unlock:
    pthread_rwlock_unlock(&cat.lock);
    return rc;
}

int stream_untag(const char *name, json_t *keys)
{
    int rc;
    pthread_rwlock_wrlock(&cat.lock);
    struct stream *s = stream_find(name);
    if (!s) {
        rc = HY_ENOTFOUND;
        goto out_unlock;
    }
    json_t *left = json_deep_copy(s->tags), *key;
    size_t i;
    json_array_foreach(keys, i, key) {
        if (left && json_is_string(key))
            json_object_del(left, json_string_value(key));
    }
    rc = stream_replace_json(s, &s->tags, left);
out_unlock:
    pthread_rwlock_unlock(&cat.lock);
    return rc;
}

int stream_set_encryption(const char *name, bool enable, const char *key_type,
                          const char *key_arn, int64_t now_ms)
{
    int rc;
    pthread_rwlock_wrlock(&cat.lock);
    struct stream *s;
    if ((rc = stream_find_active(name, &s)))
        goto out_unlock;
    json_t *enc = json_pack("{s:s}", "Status", enable ? "ENABLED" : "DISABLED");
    if (enc && enable && key_type)
        json_object_set_new(enc, "KeyType", json_string(key_type));
    if (enc && enable && key_arn)
        json_object_set_new(enc, "KeyARN", json_string(key_arn));
    int64_t old_update = s->update_ms;
    s->update_ms = now_ms;
    if ((rc = stream_replace_json(s, &s->enc, enc)))
        s->update_ms = old_update;
out_unlock:
    pthread_rwlock_unlock(&cat.lock);
    return rc;
}

int stream_accepts(const char *name, bool *encrypted)
{
    int rc = HY_OK;
    *encrypted = false;
    pthread_rwlock_rdlock(&cat.lock);
    const struct stream *s = stream_find(name);
    if (!s)
        rc = HY_ENOTFOUND;
    else if (!stream_is_active(s))
        rc = HY_ESTATE;
    else
        *encrypted = !strcmp(json_str_member(s->enc, "Status"), "ENABLED");
    pthread_rwlock_unlock(&cat.lock);
    return rc;
}
