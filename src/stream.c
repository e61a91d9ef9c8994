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
 *   concatenated exactly as sent, and beside it each record's length (a
 *   uint32_t array: the dead-letter area and spill files keep records
 *   apart). Its ceiling is SizeInMBs plus room for one full
 *   PutRecordBatch, and all buffers together are capped by --max-buffered
 *   (hy_cfg.max_buffered); past either, puts get HY_EBUSY (the client sees
 *   ServiceUnavailableException and retries), so memory stays bounded when
 *   delivery falls behind.
 * - stream_admit reserves a record's room in the buffer's memory, not only
 *   its bytes under the ceiling, so stream_apply (after the fsync, when the
 *   put is as good as acknowledged) never allocates: a durable record is
 *   always buffered. stream_take_due gives the next buffer the room of the
 *   reservations still waiting, or does not take. Should a record still
 *   fail to buffer, the stream pins the log from its LSN (lost_lsn) and
 *   the buffer is cut before it, so the next start delivers it.
 * - A buffer is due when it holds SizeInMBs or its oldest record is
 *   IntervalInSeconds old (0: at once). stream_take_due moves the bytes
 *   out (no copy) together with a snapshot of the destination.
 * - Spill files (stream_spill_*): a batch delivery could not write is
 *   parked in <data_dir>/spill/<stream id, 8 hex>-<first LSN, 16 hex>.spill
 *   so that it no longer holds back the write-ahead log. Byte-exact format,
 *   integers little-endian:
 *
 *     offset size  field
 *     0      8     magic "HYSPILL1"
 *     8      4     stream id
 *     12     4     delivery attempts so far
 *     16     8     first LSN of the batch
 *     24     8     last LSN
 *     32     8     arrival of the oldest record, ms since the epoch
 *     40     8     when delivery first took it, ms (the retry window
 *                  runs from here)
 *     48     8     N: records
 *     56     8     D: record bytes
 *     64     1     B: bucket length (1..63)
 *     65     1     zero
 *     66     2     K: key length (0: no key chosen yet)
 *     68     4     zero
 *     72     B     bucket
 *     72+B   K     object key: it is delivered under exactly this key
 *     ..     4*N   each record's length, uint32
 *     ..     D     the records, concatenated
 *     ..     4     CRC-32C of every byte before
 *
 *   Written to <name>.tmp, fsynced, renamed, the directory fsynced (and
 *   spill/'s own entry in the data directory), so a spill file is whole
 *   or absent (a .tmp left by a crash is deleted at start: the log still
 *   has those records); if a directory fsync fails the batch is not
 *   parked (it stays in memory and in the log). A spill file without a key
 *   is rewritten with the key before its object is written, so a
 *   redelivery after a crash keeps the key. It is deleted only after its
 *   DELIVERED frame is durable.
 * - Recovery reads the log twice: the first pass keeps only the SEAL and
 *   DELIVERED ranges, the second puts each undelivered record where those
 *   ranges say, within --max-buffered (see "recovery" below).
 *
 * Threading: one rwlock guards the catalog (array, configurations, the
 * database handle): puts, takes and reads hold it shared, mutations hold
 * it exclusively; it prefers writers, so no read is ever taken
 * recursively. Each stream's buffer has its own mutex, taken under the
 * shared catalog lock, so puts to different streams never contend. The
 * wakeup callback is called with no lock held. Recovery's second pass may
 * go on in a thread of its own after start (R below): its state has its
 * own mutex R.lock, never held while a catalog lock is taken (order:
 * catalog lock, then R.lock); spill files are written and read by delivery
 * workers, one batch each.
 */
#include "compress.h"
#include "prefix.h"
#include "metrics.h"
#include "sinks/sinks.h"
#include "stream.h"
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024u * 1024u)
/* Room above SizeInMBs so that a batch arriving on a nearly full buffer
 * still fits: one PutRecordBatch (4 MiB) plus one record. */
#define STREAM_BUF_SLACK (4u * MIB + STREAM_MAX_RECORD)

struct stream {
    char key[STREAM_KEY_MAX]; /* "<region>/<name>": the catalog's order and key */
    char name[65];           /* DeliveryStreamName */
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
    struct buf lens;         /* uint32_t per buffered record: its length */
    size_t nrecords;
    int64_t oldest_ms;
    uint64_t first_lsn, last_lsn; /* WAL positions in the buffer (0: none) */
    size_t reserved;         /* admitted bytes not yet applied; data and
                                lens have room for them already */
    size_t reserved_recs;    /* admitted records not yet applied */
    uint64_t lost_lsn;       /* lowest durable record that could not be
                                buffered (0: none): the log is kept from it */
    bool lost_gap;           /* a record was lost after the buffer's last:
                                nothing more joins it until it is taken, so
                                its range never spans the lost record */
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
    struct stream_batch **recovered; /* batches recovery hands out first */
    size_t nrecovered, cap_recovered;
    char dir[4096];          /* the data directory */
} cat = {
    /* writers first: a steady stream of puts must not starve CreateDeliveryStream */
    .lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP,
};

static void (*stream_wakeup)(void);
static void rec_stop(void);

/* ---- helpers ---------------------------------------------------------- */
static bool stream_is_active(const struct stream *s)
{
    return hy_mono_ms() >= s->active_mono;
}

static size_t stream_size_bytes(const struct stream *s)
{
    return (size_t)s->snap.size_mb * MIB;
}

/* Index of key (region/name) in cat.v, or where it would go (*found false). */
static size_t stream_find_pos(const char *name, bool *found)
{
    size_t lo = 0, hi = cat.n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(cat.v[mid]->key, name);
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

    /* an HTTP endpoint (sinks/http_endpoint.c): its bucket is the
     * S3Configuration's (failed data), its records go uncompressed */
    if (http_endpoint_is(dest)) {
        arn = json_str_member(json_object_get(dest, "S3Configuration"), "BucketARN");
        comp = "";
    }
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
    out->dynamic = json_is_true(json_object_get(
        json_object_get(dest, "DynamicPartitioningConfiguration"), "Enabled"));
    const char *tz = json_str_member(dest, "CustomTimeZone");
    if (strcmp(tz, "UTC") && (rc = stream_copy_str(out->time_zone, sizeof out->time_zone, tz)))
        return rc;
    out->compression = compress_format(comp);
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
    buf_free(&s->lens);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* A stream object without a buffer yet; takes references to the JSON. */
static struct stream *stream_alloc(const char *key, const char *arn, const char *type,
                                   const char *kind)
{
    struct stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    buf_init(&s->data, 0);
    buf_init(&s->lens, (size_t)-1 / 2);
    snprintf(s->key, sizeof s->key, "%s", key);
    const char *slash = strchr(key, '/');
    snprintf(s->name, sizeof s->name, "%s", slash ? slash + 1 : key);
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
    sqlite3_bind_text(st, 1, s->key, -1, SQLITE_STATIC);
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

/* Streams saved before regions were separate are keyed by their bare
 * name: they become "<region of their ARN>/<name>". */
static int stream_db_migrate_regions(void)
{
    sqlite3_stmt *st = NULL, *up = NULL;
    int rc = HY_OK;
    if (sqlite3_prepare_v2(cat.db, "SELECT name, arn FROM streams WHERE instr(name,'/')=0", -1,
                           &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(cat.db, "UPDATE streams SET name=? WHERE name=?", -1, &up, NULL) !=
            SQLITE_OK) {
        rc = HY_EDB;
        goto out_finalize;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *arn = (const char *)sqlite3_column_text(st, 1);
        char region[32] = "", key[STREAM_KEY_MAX];
        /* arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME */
        const char *p = arn;
        for (int i = 0; i < 3 && p; i++)
            p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
        const char *end = p ? strchr(p, ':') : NULL;
        if (p && end && end > p && (size_t)(end - p) < sizeof region)
            snprintf(region, sizeof region, "%.*s", (int)(end - p), p);
        if (!name || !region[0] || stream_key(key, region, name) != HY_OK) {
            rc = HY_EDB;
            break;
        }
        sqlite3_reset(up);
        sqlite3_bind_text(up, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(up, 2, name, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(up) != SQLITE_DONE) {
            rc = HY_EDB;
            break;
        }
        log_info("stream", "stream %s is now keyed by its region: %s", name, key);
    }
out_finalize:
    if (rc)
        log_error("stream", "streams.db: cannot key the streams by region: %s",
                  sqlite3_errmsg(cat.db));
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    return rc;
}

int stream_key(char out[STREAM_KEY_MAX], const char *region, const char *name)
{
    if (!region || !*region || strchr(region, '/') || !name ||
        strlen(region) + 1 + strlen(name) >= STREAM_KEY_MAX)
        return HY_EINVAL;
    size_t rl = strlen(region), nl = strlen(name);
    memcpy(out, region, rl);
    out[rl] = '/';
    memcpy(out + rl + 1, name, nl + 1);
    return HY_OK;
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
        const char *slash = name ? strchr(name, '/') : NULL;
        if (!name || !type || !arn || !kind || !slash || strlen(slash + 1) > 64) {
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
        s->snap.config = s->dest;
        snprintf(s->snap.arn, sizeof s->snap.arn, "%s", s->arn ? s->arn : "");
        s->active_mono = 0; /* it finished creating before the restart */
        s->data.max = stream_size_bytes(s) + STREAM_BUF_SLACK;
        bool found;
        size_t pos = stream_find_pos(s->key, &found);
        if (found || (rc = stream_insert_at(pos, s))) {
            stream_free(s);
            rc = rc ? rc : HY_EDB;
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

    if ((size_t)snprintf(path, sizeof path, "%s/streams.db", dir) >= sizeof path ||
        (size_t)snprintf(cat.dir, sizeof cat.dir, "%s", dir) >= sizeof cat.dir)
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
    /* SQLite ignores a failed sync of the directory after making
     * streams.db-wal; this one is checked */
    if ((rc = hy_fsync_dir(cat.dir))) {
        log_error("stream", "fsync of %s failed: %s", cat.dir, hy_strerror(rc));
        goto out_close;
    }
    if ((rc = stream_db_migrate_regions()) || (rc = stream_db_load())) {
        stream_clear();
        goto out_close;
    }
    log_info("stream", "catalog %s: %zu stream(s)", path, cat.n);
    /* the one validator, at recovery too: a stream stored by an older
     * hydrant (or written behind its back) that can never deliver is said
     * so now; its batches are parked and, after --retry-window, go to the
     * dead-letter bucket like any other that keeps failing */
    for (size_t i = 0; i < cat.n; i++) {
        char err[512];
        if (prefix_check_dest(&cat.v[i]->snap, err, sizeof err) != HY_OK)
            log_warn("stream", "stream %s cannot deliver: %s; its records will be parked "
                     "and, after --retry-window, moved to the dead-letter bucket",
                     cat.v[i]->name, err);
    }
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
    rec_stop(); /* before the catalog goes: recovery's thread reads it */
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
    uint32_t len32 = (uint32_t)len;
    rc = buf_reserve(&s->lens, sizeof len32);
    if (rc == HY_OK)
        rc = buf_append(&s->data, data, len);
    if (rc == HY_OK)
        buf_append(&s->lens, &len32, sizeof len32); /* room reserved above */
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

/* The WAL's answer for one ingest: apply (or give the room back), then done. */
struct ingest_wait {
    struct stream_ingest *in;
    uint32_t stream_id;
};

static void ingest_logged(void *arg, int rc, const struct wal_frame *frames, size_t nframes)
{
    struct ingest_wait *w = arg;
    struct stream_ingest *in = w->in;
    if (rc == HY_OK) {
        stream_apply(frames, nframes);
        metrics_ingested(w->stream_id, in); /* issue 17: in->name is gone by now */
    } else {
        for (size_t i = 0; i < in->n; i++)
            if (in->prc[i] == HY_OK) {
                stream_unadmit(w->stream_id, in->lens[i]);
                in->prc[i] = rc;
            }
    }
    free(w);
    in->done(in);
}

int stream_ingest(struct stream_ingest *in)
{
    struct wal_frame *frames = NULL;
    struct ingest_wait *w = NULL;
    size_t nf = 0;
    uint32_t id = 0;
    int rc = HY_OK;

    if (!hy_wal) {
        /* no log (unit tests, fuzzers): straight into the buffer */
        char rid[129];
        for (size_t i = 0; i < in->n; i++) {
            in->prc[i] = stream_put(in->name, in->data[i], in->lens[i], in->now_ms, rid);
            if (in->prc[i] == HY_OK)
                stream_accepts(in->name, &in->encrypted);
            if (in->stop_at_refusal && in->prc[i] != HY_OK)
                break;
        }
        return HY_OK;
    }
    if (!(frames = calloc(in->n ? in->n : 1, sizeof *frames)) ||
        !(w = calloc(1, sizeof *w))) {
        rc = HY_ENOMEM;
        goto out_free;
    }
    for (size_t i = 0; i < in->n; i++) {
        in->prc[i] = stream_admit(in->name, in->lens[i], &id, &in->encrypted);
        if (in->prc[i] != HY_OK) {
            if (in->stop_at_refusal)
                goto out_free; /* rc HY_OK: finished, prc[0] says why */
            continue;
        }
        frames[nf++] = (struct wal_frame){WAL_RECORD, id, 0, in->now_ms, in->data[i],
                                          (uint32_t)in->lens[i]};
    }
    if (!nf)
        goto out_free;
    w->in = in;
    w->stream_id = id;
    if ((rc = wal_append(hy_wal, frames, nf, ingest_logged, w))) {
        for (size_t i = 0; i < in->n; i++)
            if (in->prc[i] == HY_OK)
                stream_unadmit(id, in->lens[i]);
        goto out_free;
    }
    free(frames);
    return STREAM_DEFERRED;
out_free:
    free(frames);
    free(w);
    return rc;
}

int stream_key_of(uint32_t id, char out[STREAM_KEY_MAX])
{
    pthread_rwlock_rdlock(&cat.lock); /* issue 17: metrics */
    struct stream *s = stream_find_id(id);
    if (s)
        snprintf(out, STREAM_KEY_MAX, "%s", s->key);
    pthread_rwlock_unlock(&cat.lock);
    return s ? HY_OK : HY_ENOTFOUND;
}

size_t stream_buffered_bytes(void)
{
    return __atomic_load_n(&cat.buffered, __ATOMIC_RELAXED); /* issue 17: metrics */
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
    } else if (buf_reserve(&s->data, s->reserved + len) != HY_OK ||
               buf_reserve(&s->lens, (s->reserved_recs + 1) * sizeof(uint32_t)) != HY_OK) {
        /* the room is taken now, so that stream_apply, after the fsync,
         * never needs memory: a record that is acknowledged is buffered */
        rc = HY_EBUSY;
    } else {
        s->reserved += len;
        s->reserved_recs++;
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
        s->reserved_recs -= s->reserved_recs > 0;
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
    uint32_t len32 = f->len;
    *rc = s->lost_gap ? HY_ENOMEM : buf_reserve(&s->lens, sizeof len32);
    if (*rc == HY_OK)
        *rc = buf_append(&s->data, f->data, f->len);
    if (*rc)
        return false;
    buf_append(&s->lens, &len32, sizeof len32); /* room reserved above */
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
            /* admitted bytes always fit: stream_admit reserved their room
             * (bytes and memory), so nothing here allocates or fails */
            size_t max = s->data.max;
            s->data.max = (size_t)-1 / 2;
            wake |= stream_append_locked(s, &frames[k], &rc);
            s->data.max = max;
            s->reserved = s->reserved >= frames[k].len ? s->reserved - frames[k].len : 0;
            s->reserved_recs -= s->reserved_recs > 0;
            if (rc) {
                /* cannot happen (see above); if it did, the record must
                 * stay in the log: it pins it until the next start */
                __atomic_sub_fetch(&cat.buffered, frames[k].len, __ATOMIC_RELAXED);
                if (!s->lost_lsn || frames[k].lsn < s->lost_lsn)
                    s->lost_lsn = frames[k].lsn;
                s->lost_gap = s->nrecords > 0;
                log_error("stream", "%s: cannot buffer the durable record lsn %llu: %s; "
                          "the log keeps it and it is delivered at the next start",
                          s->name, (unsigned long long)frames[k].lsn, hy_strerror(rc));
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

/* ---- spill files ----------------------------------------------------------
 * A batch that could not be delivered is parked in a file of its own so
 * that it stops pinning the write-ahead log (format at the top of this
 * file). Written to "<name>.tmp", fsynced, renamed, the directory fsynced:
 * the file is either whole or absent. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "spill files store record lengths in host order, which must be little-endian"
#endif
#define SPILL_MAGIC "HYSPILL1"
#define SPILL_HEADER 72

static void spill_put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t spill_get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void spill_dir(char *out, size_t n)
{
    snprintf(out, n, "%s/spill", cat.dir);
}

static int spill_sync_dir(void)
{
    char dir[4200];
    spill_dir(dir, sizeof dir);
    int rc = hy_fsync_dir(dir);
    if (rc)
        log_error("stream", "fsync of %s failed: %s", dir, hy_strerror(rc));
    return rc;
}

int stream_spill_write(struct stream_batch *b, const char *key)
{
    char dir[4200], path[4300], tmp[4310];
    unsigned char hdr[SPILL_HEADER + 64 + 1024];
    int rc, fd;

    if (!b->first_lsn || !b->loaded)
        return HY_EINVAL;
    spill_dir(dir, sizeof dir);
    /* spill/ itself must survive a power cut: its entry in the data
     * directory is synced too (parking is rare: a failing destination) */
    if ((rc = mkdir_p(dir, 0700)) || (rc = hy_fsync_dir(cat.dir)))
        return rc;
    snprintf(path, sizeof path, "%s/%08x-%016llx.spill", dir, b->stream_id,
             (unsigned long long)b->first_lsn);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    size_t bl = strnlen(b->dest.bucket, 63), kl = key ? strnlen(key, 1024) : 0;
    memset(hdr, 0, SPILL_HEADER);
    memcpy(hdr, SPILL_MAGIC, 8);
    for (int i = 0; i < 4; i++) {
        hdr[8 + i] = (unsigned char)(b->stream_id >> (8 * i));
        hdr[12 + i] = (unsigned char)((uint32_t)b->attempts >> (8 * i));
    }
    spill_put_u64(hdr + 16, b->first_lsn);
    spill_put_u64(hdr + 24, b->last_lsn);
    spill_put_u64(hdr + 32, (uint64_t)b->oldest_ms);
    spill_put_u64(hdr + 40, (uint64_t)b->taken_ms);
    spill_put_u64(hdr + 48, b->nrecords);
    spill_put_u64(hdr + 56, b->data.len);
    hdr[64] = (unsigned char)bl;
    hdr[66] = (unsigned char)kl;
    hdr[67] = (unsigned char)(kl >> 8);
    memcpy(hdr + SPILL_HEADER, b->dest.bucket, bl);
    if (kl)
        memcpy(hdr + SPILL_HEADER + bl, key, kl);
    size_t hl = SPILL_HEADER + bl + kl;
    uint32_t crc = hy_crc32c(0, hdr, hl);
    crc = hy_crc32c(crc, b->lens.data ? b->lens.data : "", b->nrecords * 4);
    crc = hy_crc32c(crc, b->data.data ? b->data.data : "", b->data.len);
    unsigned char tail[4] = {(unsigned char)crc, (unsigned char)(crc >> 8),
                             (unsigned char)(crc >> 16), (unsigned char)(crc >> 24)};

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = errno == ENOSPC ? HY_ENOSPC : HY_EIO;
        goto out_log;
    }
    if ((rc = write_all(fd, hdr, hl)) ||
        (rc = write_all(fd, b->lens.data ? b->lens.data : "", b->nrecords * 4)) ||
        (rc = write_all(fd, b->data.data ? b->data.data : "", b->data.len)) ||
        (rc = write_all(fd, tail, 4)))
        goto out_close;
    if (fsync(fd) != 0) {
        rc = errno == ENOSPC ? HY_ENOSPC : HY_EIO;
        goto out_close;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = HY_EIO;
        goto out_unlink;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = HY_EIO;
        goto out_unlink;
    }
    if ((rc = spill_sync_dir())) {
        /* its name may not survive a power cut: not parked (the batch
         * stays in memory and in the log, and is parked again later) */
        unlink(path);
        goto out_log;
    }
    if (!b->spill && !(b->spill = strdup(path)))
        return HY_ENOMEM; /* the file is whole: recovery finds it */
    b->spill_keyed = kl > 0;
    return HY_OK;

out_close:
    close(fd);
out_unlink:
    unlink(tmp);
out_log:
    log_error("stream", "stream %s: cannot park %zu records in %s: %s", b->dest.name,
              b->nrecords, path, hy_strerror(rc));
    return rc;
}

void stream_spill_unload(struct stream_batch *b)
{
    if (!b->spill || !b->loaded)
        return;
    if (b->accounted)
        __atomic_sub_fetch(&cat.buffered, b->accounted, __ATOMIC_RELAXED);
    b->accounted = 0;
    buf_free(&b->data);
    buf_free(&b->lens);
    b->loaded = false;
}

/* Reads the fixed header and the bucket and key of a spill file. */
static int spill_read_header(int fd, struct stream_batch *b, char key[1025])
{
    unsigned char hdr[SPILL_HEADER + 64 + 1024];
    ssize_t n = pread(fd, hdr, sizeof hdr, 0);
    if (n < SPILL_HEADER || memcmp(hdr, SPILL_MAGIC, 8) != 0)
        return HY_EINVAL;
    size_t bl = hdr[64], kl = (size_t)hdr[66] | (size_t)hdr[67] << 8;
    if (bl == 0 || bl > 63 || kl > 1024 || (size_t)n < SPILL_HEADER + bl + kl)
        return HY_EINVAL;
    b->stream_id = (uint32_t)hdr[8] | (uint32_t)hdr[9] << 8 | (uint32_t)hdr[10] << 16 |
                   (uint32_t)hdr[11] << 24;
    b->attempts = (int)((uint32_t)hdr[12] | (uint32_t)hdr[13] << 8 |
                        (uint32_t)hdr[14] << 16 | (uint32_t)hdr[15] << 24);
    b->first_lsn = spill_get_u64(hdr + 16);
    b->last_lsn = spill_get_u64(hdr + 24);
    b->oldest_ms = (int64_t)spill_get_u64(hdr + 32);
    b->taken_ms = (int64_t)spill_get_u64(hdr + 40);
    b->nrecords = spill_get_u64(hdr + 48);
    b->nbytes = spill_get_u64(hdr + 56);
    memcpy(b->dest.bucket, hdr + SPILL_HEADER, bl);
    b->dest.bucket[bl] = 0;
    memcpy(key, hdr + SPILL_HEADER + bl, kl);
    key[kl] = 0;
    if (!b->first_lsn || b->first_lsn > b->last_lsn || b->nrecords > b->nbytes + 1 ||
        b->nrecords > ((uint64_t)1 << 32) || b->nbytes > ((uint64_t)1 << 34))
        return HY_EINVAL;
    return HY_OK;
}

static int spill_read_all(int fd, void *p, size_t n, off_t at)
{
    char *c = p;
    while (n) {
        ssize_t r = pread(fd, c, n, at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return HY_EIO;
        c += r;
        n -= (size_t)r;
        at += r;
    }
    return HY_OK;
}

int stream_spill_load(struct stream_batch *b)
{
    if (!b->spill)
        return HY_EINVAL;
    if (b->loaded)
        return HY_OK;
    int fd = open(b->spill, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return HY_EIO;
    struct stream_batch h;
    char key[1025];
    memset(&h, 0, sizeof h);
    int rc = spill_read_header(fd, &h, key);
    if (rc == HY_OK && (h.stream_id != b->stream_id || h.first_lsn != b->first_lsn ||
                        h.nrecords != b->nrecords || h.nbytes != b->nbytes))
        rc = HY_EINVAL;
    size_t hl = SPILL_HEADER + strlen(h.dest.bucket) + strlen(key);
    buf_init(&b->data, (size_t)-1 / 2);
    buf_init(&b->lens, (size_t)-1 / 2);
    unsigned char hdr[SPILL_HEADER + 64 + 1024], tail[4];
    if (rc == HY_OK)
        rc = spill_read_all(fd, hdr, hl, 0);
    if (rc == HY_OK && (rc = buf_reserve(&b->lens, b->nrecords * 4)) == HY_OK &&
        (rc = buf_reserve(&b->data, b->nbytes)) == HY_OK &&
        (rc = spill_read_all(fd, b->lens.data, b->nrecords * 4, (off_t)hl)) == HY_OK &&
        (rc = spill_read_all(fd, b->data.data, b->nbytes, (off_t)(hl + b->nrecords * 4))) ==
            HY_OK &&
        (rc = spill_read_all(fd, tail, 4, (off_t)(hl + b->nrecords * 4 + b->nbytes))) ==
            HY_OK) {
        uint32_t crc = hy_crc32c(0, hdr, hl);
        crc = hy_crc32c(crc, b->lens.data, b->nrecords * 4);
        crc = hy_crc32c(crc, b->data.data, b->nbytes);
        uint32_t want = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 |
                        (uint32_t)tail[2] << 16 | (uint32_t)tail[3] << 24;
        if (crc != want)
            rc = HY_EINVAL;
    }
    close(fd);
    if (rc) {
        buf_free(&b->data);
        buf_free(&b->lens);
        log_error("stream", "stream %s: cannot read the parked batch %s: %s", b->dest.name,
                  b->spill, rc == HY_EINVAL ? "damaged (checksum or header)" : hy_strerror(rc));
        return rc;
    }
    b->lens.len = b->nrecords * 4;
    b->data.len = b->nbytes;
    b->data.data[b->data.len] = 0;
    b->loaded = true;
    b->accounted = b->nbytes;
    __atomic_add_fetch(&cat.buffered, b->accounted, __ATOMIC_RELAXED);
    return HY_OK;
}

int stream_spill_remove(struct stream_batch *b)
{
    if (!b->spill)
        return HY_OK;
    if (unlink(b->spill) != 0 && errno != ENOENT) {
        log_error("stream", "cannot delete the delivered spill file %s: %s", b->spill,
                  strerror(errno));
        return HY_EIO;
    }
    (void)spill_sync_dir(); /* a spill file back after a power cut is done:
                               its DELIVERED says so */
    free(b->spill);
    b->spill = NULL;
    return HY_OK;
}

/* ---- recovery ------------------------------------------------------------
 * Pass 1 (stream_recover_frame, under wal_replay) keeps the ranges of every
 * SEAL and DELIVERED, never record bytes. stream_recover_finish lists the
 * spill files, then pass 2 reads the segments again and sorts each RECORD
 * frame of a live stream by its LSN:
 *   in a DELIVERED range       already in S3: skipped
 *   in a spill file's range    the spill file has it: skipped
 *   in a SEAL's range          into that sealed batch (its bucket and key)
 *   otherwise                  into the stream's open batch, handed out
 *                              when it reaches SizeInMBs
 * Ranges, not the order of frames, decide: a SEAL that overtook another
 * SEAL of its stream, or a record that never made it into its buffer,
 * recovers the same. An open batch ends before a sealed, delivered or
 * parked range of its stream, so the SEAL its delivery writes never spans
 * another range; ranges nested by older logs are still found (maxlast). A complete sealed batch is handed out as soon as its
 * last record is read. Pass 2 keeps the buffered total under --max-buffered:
 * when the next record does not fit, the largest open batch is handed out,
 * and pass 2 stops (before delivery runs) or waits until delivery frees
 * memory (in its thread, after). While records are still unread,
 * stream_min_lsn reports the lowest of them, so their segments stay. */
/* A range of one stream's LSNs; arrays of them are sorted by (id, first),
 * and maxlast is the highest last of the stream's ranges up to this one
 * (logs written before this version may hold nested ranges). */
struct rec_range {
    uint32_t id;
    uint64_t first, last, maxlast;
};

struct rec_seal {
    uint32_t id;
    uint64_t first, last, maxlast; /* as struct rec_range */
    char bucket[64];
    char *key;
    struct stream_batch *b; /* filled by pass 2; NULL before its first record */
    bool pushed;
};

struct rec_open {
    uint32_t id;
    struct stream_batch *b;
};

static struct {
    pthread_mutex_t lock;    /* floor state below, outstanding, cond */
    pthread_cond_t cond;     /* a recovered batch was freed; stop */
    struct rec_seal *seals;
    size_t nseals, cap_seals;
    struct rec_range *done;  /* DELIVERED ranges */
    size_t ndone, cap_done;
    struct rec_range *parked; /* spill files' ranges */
    size_t nparked, cap_parked;
    struct rec_open *open;
    size_t nopen, cap_open;
    char **segs;             /* segment files pass 2 reads, in order */
    size_t nsegs, seg_i;
    uint64_t max_lsn;        /* the last LSN pass 1 saw */
    uint64_t last_lsn;       /* pass 2 has handled every frame up to here */
    bool active;             /* pass 2 has records left to read */
    bool sync;               /* before delivery: stop at the ceiling */
    bool paused;             /* the sync pass stopped at the ceiling */
    bool stop;
    size_t outstanding;      /* recovered batches handed out, not freed yet */
    uint64_t pin_lsn;        /* records recovery lost for memory: the log is
                                kept from here until the next start */
    bool thread_started;
    pthread_t thread;
    int64_t t0;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static struct stream_recovery recov;

static int rec_cmp_range(const void *a, const void *b)
{
    const struct rec_range *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

static int rec_cmp_seal(const void *a, const void *b)
{
    const struct rec_seal *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Index of the last range with (id, first) <= (id, lsn), if it holds lsn;
 * -1 otherwise. v sorted by rec_cmp_range; elem is the element size and
 * each element starts like struct rec_range. */
static long rec_find(const void *v, size_t n, size_t elem, uint32_t id, uint64_t lsn)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct rec_range *r = (const void *)((const char *)v + mid * elem);
        if (r->id < id || (r->id == id && r->first <= lsn))
            lo = mid + 1;
        else
            hi = mid;
    }
    /* back over the ranges that may still reach lsn: one, unless nested */
    for (size_t i = lo; i-- > 0;) {
        const struct rec_range *r = (const void *)((const char *)v + i * elem);
        if (r->id != id || r->maxlast < lsn)
            break;
        if (r->first <= lsn && lsn <= r->last)
            return (long)i;
    }
    return -1;
}

/* Whether a range of stream id starts after lsn `after` and before `before`:
 * an open batch must not span it (its SEAL's range would nest). */
static bool rec_range_between(const void *v, size_t n, size_t elem, uint32_t id,
                              uint64_t after, uint64_t before)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct rec_range *r = (const void *)((const char *)v + mid * elem);
        if (r->id < id || (r->id == id && r->first <= after))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == n)
        return false;
    const struct rec_range *r = (const void *)((const char *)v + lo * elem);
    return r->id == id && r->first < before;
}

/* Sets maxlast over a sorted array. */
static void rec_fill_maxlast(void *v, size_t n, size_t elem)
{
    for (size_t i = 0; i < n; i++) {
        struct rec_range *r = (void *)((char *)v + i * elem);
        const struct rec_range *p = i ? (const void *)((char *)v + (i - 1) * elem) : NULL;
        r->maxlast = p && p->id == r->id && p->maxlast > r->last ? p->maxlast : r->last;
    }
}

void stream_recover_frame(void *ctx, const struct wal_frame *f)
{
    (void)ctx;
    if (f->lsn > R.max_lsn)
        R.max_lsn = f->lsn;
    if (f->type == WAL_SEAL) {
        struct wal_range r;
        char bucket[64], key[1025];
        if (wal_seal_decode(f, &r, bucket, key) != HY_OK) {
            log_error("stream", "stream id %u: unreadable SEAL at lsn %llu ignored; its "
                      "records are delivered again under a new key", f->stream_id,
                      (unsigned long long)f->lsn);
            return;
        }
        if (hy_grow((void **)&R.seals, &R.cap_seals, R.nseals + 1, sizeof *R.seals) ||
            !(R.seals[R.nseals].key = strdup(key))) {
            log_error("stream", "out of memory recovering the SEAL at lsn %llu; its "
                      "records are delivered again under a new key",
                      (unsigned long long)f->lsn);
            return;
        }
        struct rec_seal *s = &R.seals[R.nseals++];
        s->id = f->stream_id;
        s->first = r.first_lsn;
        s->last = r.last_lsn;
        snprintf(s->bucket, sizeof s->bucket, "%s", bucket);
        s->b = NULL;
        s->pushed = false;
    } else if (f->type == WAL_DELIVERED) {
        struct wal_range r;
        if (wal_range_decode(f, &r) != HY_OK)
            return;
        if (hy_grow((void **)&R.done, &R.cap_done, R.ndone + 1, sizeof *R.done)) {
            /* without it the range is delivered again: a rewrite, not a loss */
            log_error("stream", "out of memory recovering a DELIVERED range");
            return;
        }
        R.done[R.ndone++] = (struct rec_range){f->stream_id, r.first_lsn, r.last_lsn, 0};
    }
}

static int rec_push(struct stream_batch *b)
{
    pthread_rwlock_wrlock(&cat.lock);
    int rc = hy_grow((void **)&cat.recovered, &cat.cap_recovered, cat.nrecovered + 1,
                      sizeof *cat.recovered);
    if (rc == HY_OK) {
        /* stream_take_due pops from the end: keep the oldest there */
        memmove(cat.recovered + 1, cat.recovered, cat.nrecovered * sizeof *cat.recovered);
        cat.recovered[0] = b;
        cat.nrecovered++;
    }
    pthread_rwlock_unlock(&cat.lock);
    return rc;
}

/* Hands a batch pass 2 filled out to delivery. Not under R.lock. */
static void rec_hand_out(struct stream_batch *b)
{
    pthread_mutex_lock(&R.lock);
    R.outstanding++;
    pthread_mutex_unlock(&R.lock);
    b->recovered = true;
    recov.records += b->nrecords;
    recov.bytes += b->data.len;
    if (rec_push(b) != HY_OK) {
        /* its records stay in the log (the floor still covers them) */
        log_error("stream", "stream %s: out of memory handing out %zu recovered records; "
                  "they are delivered at the next start", b->dest.name, b->nrecords);
        pthread_mutex_lock(&R.lock);
        R.outstanding--;
        if (!R.pin_lsn || b->first_lsn < R.pin_lsn)
            R.pin_lsn = b->first_lsn; /* see stream_min_lsn */
        pthread_mutex_unlock(&R.lock);
        b->recovered = false;
        stream_batch_free(b);
    }
}

/* A new batch for stream s (catalog lock held). */
static struct stream_batch *rec_batch_new(const struct stream *s, uint64_t first,
                                          int64_t arrival, bool key_known)
{
    struct stream_batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    buf_init(&b->data, (size_t)-1 / 2);
    buf_init(&b->lens, (size_t)-1 / 2);
    b->dest = s->snap;
    json_incref(b->dest.config);
    b->dest.version = s->version;
    b->stream_id = s->id;
    b->first_lsn = first;
    b->oldest_ms = arrival;
    b->loaded = true;
    /* an open batch is cut at SizeInMBs: its memory in one allocation of
     * the same size each time, so that it never grows by copying and
     * malloc returns it to the system when it is freed (an allocation of
     * a size freed before stays above glibc's moving mmap threshold) */
    if (!key_known && buf_reserve(&b->data, (size_t)s->snap.size_mb * MIB + STREAM_MAX_RECORD)) {
        stream_batch_free(b);
        return NULL;
    }
    return b;
}

static int rec_append(struct stream_batch *b, const struct wal_frame *f)
{
    uint32_t len32 = f->len;
    int rc = buf_reserve(&b->lens, sizeof len32);
    if (rc == HY_OK)
        rc = buf_append(&b->data, f->data, f->len);
    if (rc)
        return rc;
    buf_append(&b->lens, &len32, sizeof len32);
    if (!b->nrecords++ || f->arrival_ms < b->oldest_ms)
        b->oldest_ms = f->arrival_ms;
    b->last_lsn = f->lsn;
    b->nbytes = b->data.len;
    b->accounted += f->len;
    __atomic_add_fetch(&cat.buffered, f->len, __ATOMIC_RELAXED);
    return HY_OK;
}

/* Hands out the largest open batch; false when there is none. */
static bool rec_cut_largest(void)
{
    /* only this thread changes R.open: the index stays valid unlocked */
    size_t best = R.nopen;
    for (size_t i = 0; i < R.nopen; i++)
        if (best == R.nopen || R.open[i].b->data.len > R.open[best].b->data.len)
            best = i;
    if (best == R.nopen)
        return false;
    rec_hand_out(R.open[best].b);
    pthread_mutex_lock(&R.lock);
    R.open[best] = R.open[--R.nopen];
    pthread_mutex_unlock(&R.lock);
    return true;
}

/* Waits (or, before delivery, stops) until len more bytes fit under the
 * ceiling; false when pass 2 must stop here. */
static bool rec_make_room(size_t len)
{
    for (;;) {
        if (__atomic_load_n(&cat.buffered, __ATOMIC_RELAXED) + len <= hy_cfg.max_buffered)
            return true;
        pthread_mutex_lock(&R.lock);
        size_t out = R.outstanding;
        bool stop = R.stop;
        pthread_mutex_unlock(&R.lock);
        if (stop)
            return false;
        if (!out) {
            if (rec_cut_largest())
                continue;
            /* nothing handed out, nothing to hand out: the memory is in
             * sealed batches still filling; go over rather than stall */
            return true;
        }
        if (R.sync)
            return false;
        pthread_mutex_lock(&R.lock);
        if (R.outstanding && !R.stop &&
            __atomic_load_n(&cat.buffered, __ATOMIC_RELAXED) + len > hy_cfg.max_buffered) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&R.cond, &R.lock, &ts);
        }
        pthread_mutex_unlock(&R.lock);
    }
}

static void rec_frame(void *ctx, const struct wal_frame *f)
{
    (void)ctx;
    if (R.paused || f->lsn <= R.last_lsn || f->lsn > R.max_lsn)
        return;
    if (f->type != WAL_RECORD) {
        __atomic_store_n(&R.last_lsn, f->lsn, __ATOMIC_RELEASE);
        return;
    }
    if (rec_find(R.done, R.ndone, sizeof *R.done, f->stream_id, f->lsn) >= 0) {
        recov.delivered_skipped++;
        __atomic_store_n(&R.last_lsn, f->lsn, __ATOMIC_RELEASE);
        return;
    }
    if (rec_find(R.parked, R.nparked, sizeof *R.parked, f->stream_id, f->lsn) >= 0) {
        __atomic_store_n(&R.last_lsn, f->lsn, __ATOMIC_RELEASE);
        return;
    }
    if (!rec_make_room(f->len)) {
        R.paused = true;
        return;
    }
    long si = rec_find(R.seals, R.nseals, sizeof *R.seals, f->stream_id, f->lsn);
    struct stream_batch *b = NULL, *full = NULL;
    size_t oi = R.nopen;
    if (si < 0)
        for (oi = 0; oi < R.nopen && R.open[oi].id != f->stream_id; oi++)
            ;
    if (si >= 0 && R.seals[si].b)
        b = R.seals[si].b;
    else if (si < 0 && oi < R.nopen)
        b = R.open[oi].b;
    if (b && si < 0 &&
        (rec_range_between(R.seals, R.nseals, sizeof *R.seals, f->stream_id, b->first_lsn,
                           f->lsn) ||
         rec_range_between(R.done, R.ndone, sizeof *R.done, f->stream_id, b->first_lsn,
                           f->lsn) ||
         rec_range_between(R.parked, R.nparked, sizeof *R.parked, f->stream_id,
                           b->first_lsn, f->lsn))) {
        /* a sealed, delivered or parked range of the stream lies between
         * the open batch and this record: the batch ends before it */
        rec_hand_out(b);
        pthread_mutex_lock(&R.lock);
        R.open[oi] = R.open[--R.nopen];
        pthread_mutex_unlock(&R.lock);
        b = NULL;
    }
    if (!b) {
        pthread_rwlock_rdlock(&cat.lock);
        struct stream *s = stream_find_id(f->stream_id);
        if (s)
            b = rec_batch_new(s, si >= 0 ? R.seals[si].first : f->lsn, f->arrival_ms,
                              si >= 0);
        pthread_rwlock_unlock(&cat.lock);
        if (!s) {
            recov.orphan_records++;
            __atomic_store_n(&R.last_lsn, f->lsn, __ATOMIC_RELEASE);
            return;
        }
        if (b && si >= 0) {
            snprintf(b->dest.bucket, sizeof b->dest.bucket, "%s", R.seals[si].bucket);
            b->key = R.seals[si].key;
            R.seals[si].key = NULL;
            b->last_lsn = R.seals[si].last;
        }
        pthread_mutex_lock(&R.lock);
        if (b && si >= 0) {
            R.seals[si].b = b;
        } else if (b && hy_grow((void **)&R.open, &R.cap_open, R.nopen + 1,
                                 sizeof *R.open) == HY_OK) {
            R.open[R.nopen++] = (struct rec_open){f->stream_id, b};
            oi = R.nopen - 1;
        } else {
            stream_batch_free(b);
            b = NULL;
        }
        pthread_mutex_unlock(&R.lock);
        if (!b) {
            log_error("stream", "stream id %u: out of memory recovering lsn %llu; it is "
                      "delivered at the next start", f->stream_id,
                      (unsigned long long)f->lsn);
            R.paused = true; /* pins the log from here (stream_min_lsn) */
            return;
        }
    }
    if (rec_append(b, f) != HY_OK) {
        log_error("stream", "stream id %u: out of memory recovering lsn %llu; it is "
                  "delivered at the next start", f->stream_id, (unsigned long long)f->lsn);
        R.paused = true;
        return;
    }
    if (si >= 0) {
        b->last_lsn = R.seals[si].last; /* its SEAL names the range */
        if (f->lsn == R.seals[si].last) {
            full = b;
            recov.sealed_batches++;
        }
    } else if (b->data.len >= (size_t)b->dest.size_mb * MIB) {
        full = b;
    }
    __atomic_store_n(&R.last_lsn, f->lsn, __ATOMIC_RELEASE);
    if (full) {
        /* handed out first, forgotten after: the floor never misses it */
        rec_hand_out(full);
        pthread_mutex_lock(&R.lock);
        if (si >= 0)
            R.seals[si].pushed = true;
        else
            R.open[oi] = R.open[--R.nopen];
        pthread_mutex_unlock(&R.lock);
    }
}

/* Reads the segments from R.seg_i on; true when all are read. */
static bool rec_read_segments(void)
{
    for (; R.seg_i < R.nsegs; R.seg_i++) {
        int rc = wal_scan_segment(R.segs[R.seg_i], rec_frame, NULL);
        if (rc && rc != HY_EINVAL)
            log_error("stream", "recovery: cannot read %s again: %s; its records are "
                      "delivered at the next start", R.segs[R.seg_i], hy_strerror(rc));
        if (R.paused)
            return false;
    }
    return true;
}

/* Pass 2 done: what is left is handed out (or, before delivery, becomes
 * the streams' buffers), and the floor is lifted. */
static void rec_finish_pass2(bool into_buffers)
{
    for (size_t i = 0; i < R.nseals; i++) {
        /* sealed ranges whose last record is missing (damaged log) */
        if (R.seals[i].b && !R.seals[i].pushed) {
            R.seals[i].pushed = true;
            recov.sealed_batches++;
            rec_hand_out(R.seals[i].b);
        }
    }
    pthread_rwlock_wrlock(&cat.lock);
    for (size_t i = 0; into_buffers && i < R.nopen; i++) {
        struct stream *s = stream_find_id(R.open[i].id);
        struct stream_batch *b = R.open[i].b;
        if (!s || s->nrecords || s->reserved)
            continue;
        buf_free(&s->data);
        buf_free(&s->lens);
        s->data = b->data;
        s->lens = b->lens;
        s->nrecords = b->nrecords;
        s->first_lsn = b->first_lsn;
        s->last_lsn = b->last_lsn;
        s->oldest_ms = b->oldest_ms;
        s->data.max = stream_size_bytes(s) + STREAM_BUF_SLACK;
        if (s->data.max < s->data.len)
            s->data.max = s->data.len;
        recov.records += b->nrecords;
        recov.bytes += b->data.len;
        json_decref(b->dest.config); /* the batch's reference; the stream keeps its own */
        free(b->key);
        free(b); /* its bytes stay counted: the buffer has them now */
        pthread_mutex_lock(&R.lock);
        R.open[i].b = NULL;
        pthread_mutex_unlock(&R.lock);
    }
    pthread_rwlock_unlock(&cat.lock);
    for (size_t i = 0; i < R.nopen; i++)
        if (R.open[i].b)
            rec_hand_out(R.open[i].b);
    pthread_mutex_lock(&R.lock);
    R.nopen = 0;
    R.active = false;
    pthread_mutex_unlock(&R.lock);
}

static void rec_free_state(void)
{
    for (size_t i = 0; i < R.nseals; i++) {
        free(R.seals[i].key);
        if (R.seals[i].b && !R.seals[i].pushed)
            stream_batch_free(R.seals[i].b);
    }
    for (size_t i = 0; i < R.nopen; i++)
        stream_batch_free(R.open[i].b);
    for (size_t i = 0; i < R.nsegs; i++)
        free(R.segs[i]);
    free(R.seals);
    free(R.done);
    free(R.parked);
    free(R.open);
    free(R.segs);
    R.seals = NULL;
    R.done = R.parked = NULL;
    R.open = NULL;
    R.segs = NULL;
    R.nseals = R.ndone = R.nparked = R.nopen = R.nsegs = R.seg_i = 0;
    R.cap_seals = R.cap_done = R.cap_parked = R.cap_open = 0;
}

static void *rec_thread(void *arg)
{
    (void)arg;
    R.paused = false;
    /* the segment it stopped in is read again from its start; frames up
     * to R.last_lsn are skipped */
    bool all = rec_read_segments();
    if (all) {
        rec_finish_pass2(false);
        log_info("stream", "recovery finished: %llu undelivered records (%llu bytes) read "
                 "back within --max-buffered in %lld ms; %llu already delivered, %llu of "
                 "deleted streams skipped",
                 (unsigned long long)recov.records, (unsigned long long)recov.bytes,
                 (long long)(hy_mono_ms() - R.t0),
                 (unsigned long long)recov.delivered_skipped,
                 (unsigned long long)recov.orphan_records);
    } else {
        log_warn("stream", "recovery stopped before the end of the log; the rest stays in "
                 "it for the next start");
    }
    return NULL;
}

static int rec_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The segment files pass 2 reads: every one there now (before the writer
 * starts a new one), in sequence order. */
static int rec_list_segments(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/wal", cat.dir);
    DIR *d = opendir(dir);
    if (!d)
        return HY_OK; /* no log yet */
    struct dirent *de;
    size_t cap = 0;
    int rc = HY_OK;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n != 20 || strcmp(de->d_name + 16, ".wal") != 0 ||
            strspn(de->d_name, "0123456789abcdef") != 16)
            continue;
        size_t plen = strlen(dir) + n + 2;
        char *p = malloc(plen);
        if (!p || hy_grow((void **)&R.segs, &cap, R.nsegs + 1, sizeof *R.segs)) {
            free(p);
            rc = HY_ENOMEM;
            break;
        }
        memcpy(p, dir, plen - n - 2);
        p[plen - n - 2] = '/';
        memcpy(p + plen - n - 1, de->d_name, n + 1);
        R.segs[R.nsegs++] = p;
    }
    closedir(d);
    if (R.nsegs)
        qsort(R.segs, R.nsegs, sizeof *R.segs, rec_cmp_str);
    return rc;
}

/* Spill files: each becomes a parked batch handed out first; its range is
 * skipped by pass 2. A spill whose range was DELIVERED meanwhile (the
 * process died before deleting it) is deleted. */
static void rec_load_spills(void)
{
    char dir[4200];
    spill_dir(dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[4200 + 256 + 2];
        size_t n = strlen(de->d_name);
        if (n < 6)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (n > 4 && !strcmp(de->d_name + n - 4, ".tmp")) {
            unlink(path); /* an interrupted write: the log still has those records */
            continue;
        }
        if (strcmp(de->d_name + n - 6, ".spill") != 0)
            continue;
        struct stream_batch *b = calloc(1, sizeof *b);
        char key[1025];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        int rc = !b ? HY_ENOMEM : fd < 0 ? HY_EIO : spill_read_header(fd, b, key);
        if (fd >= 0)
            close(fd);
        if (rc) {
            log_error("stream", "spill file %s: %s; left in place", path,
                      rc == HY_EINVAL ? "not a readable spill file" : hy_strerror(rc));
            free(b);
            continue;
        }
        buf_init(&b->data, (size_t)-1 / 2);
        buf_init(&b->lens, (size_t)-1 / 2);
        struct stream *s = stream_find_id(b->stream_id);
        if (!s || rec_find(R.done, R.ndone, sizeof *R.done, b->stream_id, b->first_lsn) >= 0) {
            if (!s)
                recov.orphan_records += b->nrecords;
            unlink(path);
            free(b);
            continue;
        }
        char bucket[64];
        snprintf(bucket, sizeof bucket, "%s", b->dest.bucket);
        b->dest = s->snap;
        json_incref(b->dest.config);
        b->dest.version = s->version;
        snprintf(b->dest.bucket, sizeof b->dest.bucket, "%s", bucket);
        b->spill = strdup(path);
        b->spill_keyed = key[0] != 0;
        b->key = key[0] ? strdup(key) : NULL;
        if (!key[0]) {
            /* keyless spill, but a SEAL named its key since: keep that key */
            long si = rec_find(R.seals, R.nseals, sizeof *R.seals, b->stream_id, b->first_lsn);
            if (si >= 0 && R.seals[si].first == b->first_lsn && R.seals[si].key)
                b->key = strdup(R.seals[si].key);
        }
        if (!b->spill || (key[0] && !b->key) ||
            hy_grow((void **)&R.parked, &R.cap_parked, R.nparked + 1, sizeof *R.parked) ||
            rec_push(b) != HY_OK) {
            log_error("stream", "out of memory loading spill file %s; it is loaded at the "
                      "next start", path);
            stream_batch_free(b);
            continue;
        }
        R.parked[R.nparked++] = (struct rec_range){b->stream_id, b->first_lsn, b->last_lsn, 0};
        recov.parked_batches++;
    }
    closedir(d);
}

void stream_recover_finish(struct stream_recovery *st)
{
    R.t0 = hy_mono_ms();
    if (R.ndone)
        qsort(R.done, R.ndone, sizeof *R.done, rec_cmp_range);
    rec_fill_maxlast(R.done, R.ndone, sizeof *R.done);
    if (R.nseals) /* sorted before the spills look their keys up */
        qsort(R.seals, R.nseals, sizeof *R.seals, rec_cmp_seal);
    rec_fill_maxlast(R.seals, R.nseals, sizeof *R.seals);
    rec_load_spills(); /* single-threaded still: no catalog lock needed */
    if (R.nparked)
        qsort(R.parked, R.nparked, sizeof *R.parked, rec_cmp_range);
    rec_fill_maxlast(R.parked, R.nparked, sizeof *R.parked);
    /* a SEAL whose range is delivered or parked needs nothing more */
    size_t k = 0;
    for (size_t i = 0; i < R.nseals; i++) {
        struct rec_seal *s = &R.seals[i];
        if (rec_find(R.done, R.ndone, sizeof *R.done, s->id, s->first) >= 0 ||
            rec_find(R.parked, R.nparked, sizeof *R.parked, s->id, s->first) >= 0) {
            free(s->key);
            continue;
        }
        R.seals[k++] = *s;
    }
    R.nseals = k; /* still sorted */
    rec_fill_maxlast(R.seals, R.nseals, sizeof *R.seals);
    R.active = true;
    R.sync = true;
    if (rec_list_segments() != HY_OK)
        log_error("stream", "recovery: out of memory listing the log");
    bool all = rec_read_segments();
    R.sync = false;
    if (all) {
        rec_finish_pass2(true);
        rec_free_state();
    } else {
        recov.background = true;
        log_info("stream", "recovery: --max-buffered (%zu bytes) reached after lsn %llu of "
                 "%llu; the rest of the log is read back as delivery frees memory",
                 hy_cfg.max_buffered, (unsigned long long)R.last_lsn,
                 (unsigned long long)R.max_lsn);
        if (pthread_create(&R.thread, NULL, rec_thread, NULL) == 0) {
            R.thread_started = true;
        } else {
            log_error("stream", "recovery: cannot start its thread; the rest of the log is "
                      "delivered at the next start");
        }
    }
    if (recov.parked_batches)
        log_info("stream", "recovery: %llu parked batches from %s/spill handed out again",
                 (unsigned long long)recov.parked_batches, cat.dir);
    if (st)
        *st = recov;
    if (!recov.background)
        memset(&recov, 0, sizeof recov);
}

/* Stops pass 2 if it still runs (stream_catalog_close). */
static void rec_stop(void)
{
    pthread_mutex_lock(&R.lock);
    R.stop = true;
    pthread_cond_broadcast(&R.cond);
    pthread_mutex_unlock(&R.lock);
    if (R.thread_started) {
        pthread_join(R.thread, NULL);
        R.thread_started = false;
    }
    rec_free_state();
    memset(&recov, 0, sizeof recov);
    R.active = false;
    R.stop = false;
    R.max_lsn = R.last_lsn = R.pin_lsn = 0;
    R.outstanding = 0;
}

uint64_t stream_min_lsn(void)
{
    uint64_t m = UINT64_MAX;
    /* recovery's unread records first: a batch it hands out is in
     * cat.recovered before it leaves this floor (see rec_hand_out) */
    pthread_mutex_lock(&R.lock);
    if (R.active) {
        m = __atomic_load_n(&R.last_lsn, __ATOMIC_ACQUIRE) + 1;
        for (size_t i = 0; i < R.nseals; i++)
            if (!R.seals[i].pushed && R.seals[i].first < m)
                m = R.seals[i].first;
        for (size_t i = 0; i < R.nopen; i++)
            if (R.open[i].b && R.open[i].b->first_lsn < m)
                m = R.open[i].b->first_lsn;
    }
    if (R.pin_lsn && R.pin_lsn < m)
        m = R.pin_lsn;
    pthread_mutex_unlock(&R.lock);
    pthread_rwlock_rdlock(&cat.lock);
    for (size_t i = 0; i < cat.n; i++) {
        struct stream *s = cat.v[i];
        pthread_mutex_lock(&s->lock);
        if (s->nrecords && s->first_lsn && s->first_lsn < m)
            m = s->first_lsn;
        if (s->lost_lsn && s->lost_lsn < m)
            m = s->lost_lsn;
        pthread_mutex_unlock(&s->lock);
    }
    for (size_t i = 0; i < cat.nrecovered; i++)
        if (!cat.recovered[i]->spill && cat.recovered[i]->first_lsn < m)
            m = cat.recovered[i]->first_lsn;
    pthread_rwlock_unlock(&cat.lock);
    return m;
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
        struct buf nd, nl;
        buf_init(&nd, s->data.max);
        buf_init(&nl, s->lens.max);
        /* the new buffer gets the room of the puts still waiting for
         * their fsync first (see stream_admit): if there is no memory for
         * it, the buffer stays until there is */
        if (stream_due(s, now_ms, force) &&
            (!s->reserved || (buf_reserve(&nd, s->reserved) == HY_OK &&
                              buf_reserve(&nl, s->reserved_recs * sizeof(uint32_t)) ==
                                  HY_OK))) {
            b->dest = s->snap;
            json_incref(b->dest.config);
            b->dest.version = s->version;
            b->data = s->data;
            b->lens = s->lens;
            b->nrecords = s->nrecords;
            b->nbytes = b->data.len;
            b->loaded = true;
            b->oldest_ms = s->oldest_ms;
            b->stream_id = s->id;
            b->first_lsn = s->first_lsn;
            b->last_lsn = s->last_lsn;
            b->accounted = b->data.len; /* still counted until delivered */
            s->data = nd;
            s->lens = nl;
            s->lost_gap = false;
            s->nrecords = 0;
            s->oldest_ms = 0;
            s->first_lsn = s->last_lsn = 0;
            __atomic_store_n(&cat.next_take, i + 1, __ATOMIC_RELAXED);
            rc = HY_OK;
        } else {
            buf_free(&nd);
            buf_free(&nl);
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
    if (b->recovered) {
        /* recovery may wait for this memory (rec_make_room) */
        pthread_mutex_lock(&R.lock);
        R.outstanding--;
        pthread_cond_broadcast(&R.cond);
        pthread_mutex_unlock(&R.lock);
    }
    json_decref(b->dest.config);
    buf_free(&b->data);
    buf_free(&b->lens);
    free(b->key);
    free(b->spill);
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

    char key[STREAM_KEY_MAX];
    if (strlen(sn->name) > 64 || !json_is_object(sn->dest) ||
        stream_key(key, sn->region, sn->name) != HY_OK)
        return HY_EINVAL;
    pthread_rwlock_wrlock(&cat.lock);
    size_t pos = stream_find_pos(key, &found);
    if (found) {
        rc = HY_EEXIST;
        goto out_unlock;
    }
    /* the quota is per region, as AWS's */
    size_t in_region = 0, rlen = strlen(sn->region);
    for (size_t i = 0; i < cat.n; i++)
        in_region += !strncmp(cat.v[i]->key, sn->region, rlen) && cat.v[i]->key[rlen] == '/';
    if (in_region >= (size_t)(hy_cfg.max_streams > 0 ? hy_cfg.max_streams : 0)) {
        rc = HY_ELIMIT;
        goto out_unlock;
    }
    if (!(s = stream_alloc(key, sn->arn, sn->type, sn->dest_kind))) {
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
    s->snap.config = s->dest; /* the stream's reference; batches take their own */
    snprintf(s->snap.arn, sizeof s->snap.arn, "%s", s->arn);
    s->data.max = stream_size_bytes(s) + STREAM_BUF_SLACK;
    if ((rc = stream_db_next_id(&s->id)) || (rc = stream_db_save(s)))
        goto out_free;
    if ((rc = stream_insert_at(pos, s))) {
        stream_db_delete(s->key);
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
    snap.config = s->dest;
    snprintf(snap.arn, sizeof snap.arn, "%s", s->arn);
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

int stream_list(const char *region, const char *type, const char *after, size_t limit,
                json_t **names, bool *has_more)
{
    bool found;
    char from[STREAM_KEY_MAX];
    size_t rlen = strlen(region);
    *has_more = false;
    if (stream_key(from, region, after ? after : "") != HY_OK)
        return HY_EINVAL;
    if (!(*names = json_array()))
        return HY_ENOMEM;
    pthread_rwlock_rdlock(&cat.lock);
    size_t i = stream_find_pos(from, &found);
    if (after && found)
        i++;
    for (; i < cat.n; i++) {
        if (strncmp(cat.v[i]->key, region, rlen) || cat.v[i]->key[rlen] != '/')
            break; /* past the region: keys are sorted */
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
