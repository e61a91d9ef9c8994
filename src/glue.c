/* glue.c -- the Glue Data Catalog API: databases, tables and the versions
 * of every table, as Firehose's record format conversion reads them.
 *
 * What it is for: a user sets up the schema of converted records the way
 * they do on AWS (`boto3.client("glue").create_table(...)`, `aws glue
 * create-table`), names it in DataFormatConversionConfiguration, and
 * format.c reads the columns of the named version at delivery time
 * (glue_table_schema), so a table update applies to the next object.
 *
 * Wire format (JSON 1.1, as botocore's glue 2017-03-31 model): POST /,
 * X-Amz-Target: AWSGlue.<Operation>, SigV4 service "glue". Answers are
 * JSON; errors are HTTP 400 with {"__type":"EntityNotFoundException",
 * "Message":"..."} and the x-amzn-ErrorType header (Glue's error
 * structures name their member Message). Operations: CreateDatabase,
 * GetDatabase, GetDatabases, DeleteDatabase, CreateTable, GetTable,
 * GetTables, UpdateTable, DeleteTable, GetTableVersion, GetTableVersions.
 *
 * Glue keeps database and table names in lowercase (a CreateTable of
 * "Events" makes "events", and lookups of any case find it). A table's
 * first version is "0"; UpdateTable adds the next (SkipArchive: the
 * previous one is not kept), and with a VersionId it must name the latest
 * (else ConcurrentModificationException). DeleteDatabase deletes its
 * tables. Pages: NextToken is the decimal offset of the next item.
 *
 * Storage: SQLite <data_dir>/glue.db, mode 0600, WAL journal,
 * synchronous=FULL (a change is on disk when its answer leaves):
 *
 *   databases(catalog, name, doc, PK(catalog, name))
 *       doc: the Database structure as GetDatabase returns it (JSON)
 *   tables(catalog, db, name, latest, PK(catalog, db, name))
 *   table_versions(catalog, db, name, version, doc,
 *                  PK(catalog, db, name, version))
 *       doc: the Table structure of that version (JSON, VersionId included)
 *
 * Threading: glue_handle runs on several HTTP threads and
 * glue_table_schema on delivery threads; glue_lock serialises every use
 * of the one connection (a control-plane API; one at a time is plenty).
 */
#include "glue.h"
#include "api.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define GLUE_TAG "glue"
#define GLUE_CONTENT_TYPE "application/x-amz-json-1.1"
#define GLUE_MAX_TYPE_LEN 131072   /* ColumnTypeString's max */
#define GLUE_MAX_NAME 255

static pthread_mutex_t glue_lock = PTHREAD_MUTEX_INITIALIZER;
static sqlite3 *glue_db;

static const char glue_sql_schema[] =
    "CREATE TABLE IF NOT EXISTS databases(catalog TEXT NOT NULL, name TEXT NOT NULL,"
    " doc TEXT NOT NULL, PRIMARY KEY(catalog, name));"
    "CREATE TABLE IF NOT EXISTS tables(catalog TEXT NOT NULL, db TEXT NOT NULL,"
    " name TEXT NOT NULL, latest INTEGER NOT NULL, PRIMARY KEY(catalog, db, name));"
    "CREATE TABLE IF NOT EXISTS table_versions(catalog TEXT NOT NULL, db TEXT NOT NULL,"
    " name TEXT NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL,"
    " PRIMARY KEY(catalog, db, name, version));";

/* ---- Hive type strings ------------------------------------------------ */

struct tparse {
    const char *p;
    char *msg;
    size_t msg_len;
    int depth;
};

static void skip_ws(struct tparse *t)
{
    while (*t->p == ' ' || *t->p == '\t' || *t->p == '\n' || *t->p == '\r')
        t->p++;
}

static int tp_fail(struct tparse *t, const char *what)
{
    snprintf(t->msg, t->msg_len, "%s at '%.40s'", what, t->p);
    return HY_EINVAL;
}

static bool tp_word(struct tparse *t, const char *w)
{
    size_t n = strlen(w);
    if (strncasecmp(t->p, w, n) != 0)
        return false;
    char c = t->p[n];
    if (isalnum((unsigned char)c) || c == '_')
        return false;
    t->p += n;
    return true;
}

static int tp_int(struct tparse *t, int *out)
{
    skip_ws(t);
    if (!isdigit((unsigned char)*t->p))
        return tp_fail(t, "a number expected");
    long v = 0;
    while (isdigit((unsigned char)*t->p)) {
        v = v * 10 + (*t->p++ - '0');
        if (v > 1000000)
            return tp_fail(t, "number too large");
    }
    *out = (int)v;
    skip_ws(t);
    return HY_OK;
}

void glue_type_free(struct glue_type *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nchild; i++)
        glue_type_free(&t->child[i]);
    free(t->child);
    free(t->name);
    t->child = NULL;
    t->name = NULL;
    t->nchild = 0;
}

static int tp_type(struct tparse *t, struct glue_type *out);

/* struct<name:type,...> after "struct" */
static int tp_struct(struct tparse *t, struct glue_type *out)
{
    size_t cap = 0;
    skip_ws(t);
    if (*t->p != '<')
        return tp_fail(t, "'<' expected");
    t->p++;
    for (;;) {
        skip_ws(t);
        const char *s = t->p;
        /* Hive field names: anything up to ':' (backquoted names allowed) */
        bool quoted = *s == '`';
        if (quoted) {
            s++;
            t->p++;
            while (*t->p && *t->p != '`')
                t->p++;
        } else {
            while (*t->p && *t->p != ':' && *t->p != ',' && *t->p != '<' && *t->p != '>')
                t->p++;
        }
        size_t n = (size_t)(t->p - s);
        while (!quoted && n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (quoted) {
            if (*t->p != '`')
                return tp_fail(t, "unterminated `name`");
            t->p++;
            skip_ws(t);
        }
        if (n == 0 || n > GLUE_MAX_NAME)
            return tp_fail(t, "a field name expected");
        if (*t->p != ':')
            return tp_fail(t, "':' expected");
        t->p++;
        if (out->nchild == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            if (ncap > 100000)
                return tp_fail(t, "too many fields");
            struct glue_type *c = realloc(out->child, ncap * sizeof *c);
            if (!c)
                return HY_ENOMEM;
            out->child = c;
            cap = ncap;
        }
        struct glue_type *f = &out->child[out->nchild];
        memset(f, 0, sizeof *f);
        out->nchild++;
        f->name = strndup(s, n);
        if (!f->name)
            return HY_ENOMEM;
        for (char *q = f->name; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        for (size_t i = 0; i + 1 < out->nchild; i++)
            if (strcmp(out->child[i].name, f->name) == 0)
                return tp_fail(t, "a field name used twice");
        int rc = tp_type(t, f);
        if (rc)
            return rc;
        skip_ws(t);
        if (*t->p == ',') {
            t->p++;
            continue;
        }
        if (*t->p == '>') {
            t->p++;
            return HY_OK;
        }
        return tp_fail(t, "',' or '>' expected");
    }
}

static int tp_type(struct tparse *t, struct glue_type *out)
{
    static const struct { const char *w; enum glue_kind k; } simple[] = {
        {"string", GLUE_STRING}, {"boolean", GLUE_BOOLEAN}, {"tinyint", GLUE_TINYINT},
        {"smallint", GLUE_SMALLINT}, {"integer", GLUE_INT}, {"int", GLUE_INT},
        {"bigint", GLUE_BIGINT}, {"float", GLUE_FLOAT}, {"double", GLUE_DOUBLE},
        {"date", GLUE_DATE}, {"timestamp", GLUE_TIMESTAMP}, {"binary", GLUE_BINARY},
    };
    int rc;
    if (++t->depth > GLUE_MAX_DEPTH)
        return tp_fail(t, "type nested too deeply");
    skip_ws(t);
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (tp_word(t, simple[i].w)) {
            out->kind = simple[i].k;
            if (out->kind == GLUE_DOUBLE) {
                skip_ws(t);
                (void)tp_word(t, "precision"); /* "double precision" */
            }
            goto out_ok;
        }
    bool is_varchar = false;
    if ((is_varchar = tp_word(t, "varchar")) || tp_word(t, "char")) {
        out->kind = is_varchar ? GLUE_VARCHAR : GLUE_CHAR;
        skip_ws(t);
        if (*t->p != '(')
            return tp_fail(t, "'(' expected");
        t->p++;
        if ((rc = tp_int(t, &out->length)))
            return rc;
        if (*t->p != ')')
            return tp_fail(t, "')' expected");
        t->p++;
        if (out->length < 1 || out->length > (out->kind == GLUE_CHAR ? 255 : 65535))
            return tp_fail(t, "length out of range");
        goto out_ok;
    }
    if (tp_word(t, "decimal") || tp_word(t, "numeric")) {
        out->kind = GLUE_DECIMAL;
        out->precision = 10;
        out->scale = 0;
        skip_ws(t);
        if (*t->p == '(') {
            t->p++;
            if ((rc = tp_int(t, &out->precision)))
                return rc;
            if (*t->p == ',') {
                t->p++;
                if ((rc = tp_int(t, &out->scale)))
                    return rc;
            }
            if (*t->p != ')')
                return tp_fail(t, "')' expected");
            t->p++;
        }
        if (out->precision < 1 || out->precision > 38 || out->scale < 0 ||
            out->scale > out->precision)
            return tp_fail(t, "decimal precision must be 1-38 and scale 0-precision");
        goto out_ok;
    }
    if (tp_word(t, "struct")) {
        out->kind = GLUE_STRUCT;
        if ((rc = tp_struct(t, out)))
            return rc;
        goto out_ok;
    }
    bool is_map = false;
    if (tp_word(t, "array") || (is_map = tp_word(t, "map"))) {
        out->kind = is_map ? GLUE_MAP : GLUE_ARRAY;
        skip_ws(t);
        if (*t->p != '<')
            return tp_fail(t, "'<' expected");
        t->p++;
        size_t n = is_map ? 2 : 1;
        out->child = calloc(n, sizeof *out->child);
        if (!out->child)
            return HY_ENOMEM;
        out->nchild = n;
        for (size_t i = 0; i < n; i++) {
            if ((rc = tp_type(t, &out->child[i])))
                return rc;
            skip_ws(t);
            if (i + 1 < n) {
                if (*t->p != ',')
                    return tp_fail(t, "',' expected");
                t->p++;
            }
        }
        if (*t->p != '>')
            return tp_fail(t, "'>' expected");
        t->p++;
        if (is_map && out->child[0].kind >= GLUE_STRUCT)
            return tp_fail(t, "a map key must be a primitive type");
        goto out_ok;
    }
    return tp_fail(t, "unknown type");
out_ok:
    t->depth--;
    return HY_OK;
}

int glue_type_parse(const char *s, struct glue_type *out, char *msg, size_t msg_len)
{
    struct tparse t = {.p = s, .msg = msg, .msg_len = msg_len};
    memset(out, 0, sizeof *out);
    if (strlen(s) > GLUE_MAX_TYPE_LEN) {
        snprintf(msg, msg_len, "type longer than %d characters", GLUE_MAX_TYPE_LEN);
        return HY_EINVAL;
    }
    int rc = tp_type(&t, out);
    if (!rc) {
        skip_ws(&t);
        if (*t.p)
            rc = tp_fail(&t, "unexpected text after the type");
    }
    if (rc) {
        if (rc == HY_ENOMEM)
            snprintf(msg, msg_len, "out of memory");
        glue_type_free(out);
    }
    return rc;
}

void glue_schema_free(struct glue_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ncols; i++)
        glue_type_free(&s->cols[i]);
    free(s->cols);
    free(s);
}

/* ---- the catalog ------------------------------------------------------ */

/* Creates path 0600 before SQLite opens it (SQLite would make it 0644 and
 * its -wal/-shm files copy that mode); narrows an existing one. */
static int glue_precreate(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == ENOSPC ? HY_ENOSPC : HY_EIO;
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077))
        (void)fchmod(fd, 0600);
    int rc = fsync(fd) == 0 ? HY_OK : HY_EIO;
    close(fd);
    return rc;
}

static int glue_open_locked(const char *dir)
{
    char path[4096];
    sqlite3 *db = NULL;
    char *err = NULL;
    if (glue_db)
        return HY_OK;
    int n = snprintf(path, sizeof path, "%s/glue.db", dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return HY_EINVAL;
    int rc = glue_precreate(path);
    if (rc) {
        log_error(GLUE_TAG, "cannot create %s: %s", path, hy_strerror(rc));
        return rc;
    }
    int src = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                             SQLITE_OPEN_FULLMUTEX, NULL);
    if (src != SQLITE_OK)
        goto out_close_db;
    sqlite3_busy_timeout(db, 5000);
    src = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                       &err);
    if (src == SQLITE_OK)
        src = sqlite3_exec(db, glue_sql_schema, NULL, NULL, &err);
    if (src != SQLITE_OK)
        goto out_close_db;
    rc = hy_fsync_dir(dir);
    if (rc) {
        log_error(GLUE_TAG, "fsync of %s failed: %s", dir, hy_strerror(rc));
        sqlite3_close(db);
        return rc;
    }
    glue_db = db;
    log_debug(GLUE_TAG, "opened %s", path);
    return HY_OK;

out_close_db:
    log_error(GLUE_TAG, "cannot open %s: %s", path,
              err ? err : db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
    sqlite3_free(err);
    sqlite3_close(db);
    return src == SQLITE_NOMEM ? HY_ENOMEM : HY_EDB;
}

int glue_open(const char *dir)
{
    pthread_mutex_lock(&glue_lock);
    int rc = glue_open_locked(dir);
    pthread_mutex_unlock(&glue_lock);
    return rc;
}

void glue_close(void)
{
    pthread_mutex_lock(&glue_lock);
    sqlite3_close(glue_db);
    glue_db = NULL;
    pthread_mutex_unlock(&glue_lock);
}

/* Called with glue_lock held. */
static int glue_ready(void)
{
    if (glue_db)
        return HY_OK;
    return glue_open_locked(hy_cfg.data_dir ? hy_cfg.data_dir : ".");
}

static int db_rc(int src)
{
    return src == SQLITE_NOMEM ? HY_ENOMEM : src == SQLITE_FULL ? HY_ENOSPC : HY_EDB;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* The doc of a table version (version < 0: the latest), as a new JSON
 * object in *out. HY_ENOTFOUND with why (which one is missing). */
static int load_table(const char *catalog, const char *db, const char *name, long version,
                      json_t **out, const char **why)
{
    sqlite3_stmt *st = NULL;
    int rc = HY_OK, src;
    *out = NULL;
    src = sqlite3_prepare_v2(glue_db, "SELECT 1 FROM databases WHERE catalog=?1 AND name=?2",
                             -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_rc(src);
    sqlite3_bind_text(st, 1, catalog, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, db, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    sqlite3_finalize(st);
    st = NULL;
    if (src == SQLITE_DONE) {
        *why = "database";
        return HY_ENOTFOUND;
    }
    if (src != SQLITE_ROW)
        return db_rc(src);
    src = sqlite3_prepare_v2(glue_db,
                             "SELECT latest FROM tables WHERE catalog=?1 AND db=?2 AND name=?3",
                             -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_rc(src);
    sqlite3_bind_text(st, 1, catalog, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, db, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        *why = "table";
        rc = HY_ENOTFOUND;
        goto out_finalize;
    }
    if (src != SQLITE_ROW) {
        rc = db_rc(src);
        goto out_finalize;
    }
    if (version < 0)
        version = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    src = sqlite3_prepare_v2(glue_db,
                             "SELECT doc FROM table_versions WHERE catalog=?1 AND db=?2 AND "
                             "name=?3 AND version=?4", -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_rc(src);
    sqlite3_bind_text(st, 1, catalog, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, db, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, version);
    src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        *why = "version";
        rc = HY_ENOTFOUND;
        goto out_finalize;
    }
    if (src != SQLITE_ROW) {
        rc = db_rc(src);
        goto out_finalize;
    }
    *out = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    rc = *out ? HY_OK : HY_ENOMEM;
out_finalize:
    sqlite3_finalize(st);
    return rc;
}

static int parse_version(const char *v, long *out)
{
    char *end;
    if (!v || !*v)
        return HY_EINVAL;
    if (strcmp(v, "LATEST") == 0) {
        *out = -1;
        return HY_OK;
    }
    errno = 0;
    long n = strtol(v, &end, 10);
    if (*end || errno || n < 0 || !isdigit((unsigned char)*v))
        return HY_EINVAL;
    *out = n;
    return HY_OK;
}

int glue_table_schema(const char *db, const char *table, const char *version,
                      struct glue_schema **out, char *msg, size_t msg_len)
{
    char dbl[GLUE_MAX_NAME + 1], tl[GLUE_MAX_NAME + 1];
    json_t *doc = NULL;
    const char *why = "";
    long v;
    int rc;
    *out = NULL;
    if (!db || !table || strlen(db) > GLUE_MAX_NAME || strlen(table) > GLUE_MAX_NAME) {
        snprintf(msg, msg_len, "Database or table name missing or too long.");
        return HY_EINVAL;
    }
    if (parse_version(version ? version : "LATEST", &v)) {
        snprintf(msg, msg_len, "VersionId must be LATEST or a number.");
        return HY_EINVAL;
    }
    snprintf(dbl, sizeof dbl, "%s", db);
    snprintf(tl, sizeof tl, "%s", table);
    lower(dbl);
    lower(tl);
    pthread_mutex_lock(&glue_lock);
    rc = glue_ready();
    if (!rc)
        rc = load_table(HY_ACCOUNT_ID, dbl, tl, v, &doc, &why);
    pthread_mutex_unlock(&glue_lock);
    if (rc == HY_ENOTFOUND) {
        if (strcmp(why, "database") == 0)
            snprintf(msg, msg_len, "Database %s not found.", dbl);
        else if (strcmp(why, "table") == 0)
            snprintf(msg, msg_len, "Table %s not found in database %s.", tl, dbl);
        else
            snprintf(msg, msg_len, "Version %s of table %s.%s not found.", version, dbl, tl);
        return rc;
    }
    if (rc) {
        snprintf(msg, msg_len, "The Glue catalog cannot be read: %s", hy_strerror(rc));
        return rc;
    }
    struct glue_schema *s = calloc(1, sizeof *s);
    if (!s) {
        rc = HY_ENOMEM;
        goto out_free_doc;
    }
    snprintf(s->version_id, sizeof s->version_id, "%s",
             json_string_value(json_object_get(doc, "VersionId")) ?
                 json_string_value(json_object_get(doc, "VersionId")) : "0");
    json_t *cols = json_object_get(json_object_get(doc, "StorageDescriptor"), "Columns");
    size_t n = json_array_size(cols);
    s->cols = n ? calloc(n, sizeof *s->cols) : NULL;
    if (n && !s->cols) {
        rc = HY_ENOMEM;
        goto out_free_schema;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cols, i);
        const char *cname = json_string_value(json_object_get(c, "Name"));
        const char *ctype = json_string_value(json_object_get(c, "Type"));
        char why2[200];
        if (!cname || !ctype) {
            snprintf(msg, msg_len, "Column %zu of %s.%s has no Name or Type.", i, dbl, tl);
            rc = HY_EINVAL;
            goto out_free_schema;
        }
        rc = glue_type_parse(ctype, &s->cols[i], why2, sizeof why2);
        if (rc) {
            snprintf(msg, msg_len, "Column %s of %s.%s has a type that cannot be used: %s",
                     cname, dbl, tl, why2);
            goto out_free_schema;
        }
        s->ncols = i + 1;
        s->cols[i].name = strdup(cname);
        if (!s->cols[i].name) {
            rc = HY_ENOMEM;
            goto out_free_schema;
        }
        lower(s->cols[i].name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->cols[j].name, s->cols[i].name) == 0) {
                snprintf(msg, msg_len, "Column %s of %s.%s is listed twice.", cname, dbl, tl);
                rc = HY_EINVAL;
                goto out_free_schema;
            }
    }
    if (n == 0) {
        snprintf(msg, msg_len, "Table %s.%s has no columns.", dbl, tl);
        rc = HY_EINVAL;
        goto out_free_schema;
    }
    json_decref(doc);
    *out = s;
    return HY_OK;
out_free_schema:
    glue_schema_free(s);
out_free_doc:
    json_decref(doc);
    if (rc == HY_ENOMEM)
        snprintf(msg, msg_len, "out of memory");
    return rc;
}

/* ---- the API ------------------------------------------------------------ */

struct gcall {
    json_t *in;
    json_t *out;
    const char *err_type;
    char msg[512];
    char catalog[GLUE_MAX_NAME + 1];
};

static int gfail(struct gcall *c, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int gfail(struct gcall *c, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    c->err_type = type;
    return HY_EINVAL;
}

/* A required or optional name member: lowercased copy into out. */
static int get_name(struct gcall *c, json_t *obj, const char *member, const char *path,
                    bool required, char *out)
{
    json_t *v = json_object_get(obj, member);
    out[0] = 0;
    if (!v || json_is_null(v)) {
        if (!required)
            return HY_OK;
        return gfail(c, "InvalidInputException",
                     "1 validation error detected: Value null at '%s' failed to satisfy "
                     "constraint: Member must not be null", path);
    }
    const char *s = json_string_value(v);
    if (!s)
        return gfail(c, "InvalidInputException", "%s must be a string.", member);
    size_t n = strlen(s);
    if (n < 1 || n > GLUE_MAX_NAME)
        return gfail(c, "InvalidInputException",
                     "1 validation error detected: Value '%.64s' at '%s' failed to satisfy "
                     "constraint: Member must have length %s", s, path,
                     n < 1 ? "greater than or equal to 1" : "less than or equal to 255");
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return gfail(c, "InvalidInputException",
                         "1 validation error detected: Value at '%s' failed to satisfy "
                         "constraint: Member must satisfy regular expression pattern: "
                         "[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*",
                         path);
    memcpy(out, s, n + 1);
    lower(out);
    return HY_OK;
}

static int set_catalog(struct gcall *c)
{
    json_t *v = json_object_get(c->in, "CatalogId");
    const char *s = v ? json_string_value(v) : HY_ACCOUNT_ID;
    if (!s || !*s || strlen(s) > GLUE_MAX_NAME)
        return gfail(c, "InvalidInputException", "CatalogId must be 1-255 characters.");
    snprintf(c->catalog, sizeof c->catalog, "%s", s);
    return HY_OK;
}

static double now_s(void)
{
    return (double)hy_now_ms() / 1000.0;
}

static int exec_sql(const char *sql)
{
    int src = sqlite3_exec(glue_db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? HY_OK : db_rc(src);
}

static int page_args(struct gcall *c, long *offset, long *max)
{
    json_t *mr = json_object_get(c->in, "MaxResults");
    *max = 100;
    *offset = 0;
    if (mr) {
        if (!json_is_integer(mr) || json_integer_value(mr) < 1 || json_integer_value(mr) > 100)
            return gfail(c, "InvalidInputException",
                         "1 validation error detected: Value at 'maxResults' failed to "
                         "satisfy constraint: Member must have value between 1 and 100");
        *max = (long)json_integer_value(mr);
    }
    const char *tok = json_string_value(json_object_get(c->in, "NextToken"));
    if (tok && *tok) {
        char *end;
        errno = 0;
        *offset = strtol(tok, &end, 10);
        if (*end || errno || *offset < 0)
            return gfail(c, "InvalidInputException", "The NextToken is not valid.");
    }
    return HY_OK;
}

static int glue_create_database(struct gcall *c)
{
    char name[GLUE_MAX_NAME + 1];
    json_t *input = json_object_get(c->in, "DatabaseInput");
    int rc;
    if (!json_is_object(input))
        return gfail(c, "InvalidInputException",
                     "1 validation error detected: Value null at 'databaseInput' failed to "
                     "satisfy constraint: Member must not be null");
    if ((rc = get_name(c, input, "Name", "databaseInput.name", true, name)))
        return rc;
    json_t *doc = json_deep_copy(input);
    if (!doc)
        return HY_ENOMEM;
    json_object_set_new(doc, "Name", json_string(name));
    json_object_set_new(doc, "CreateTime", json_real(now_s()));
    json_object_set_new(doc, "CatalogId", json_string(c->catalog));
    if (!json_object_get(doc, "CreateTableDefaultPermissions"))
        json_object_set_new(doc, "CreateTableDefaultPermissions", json_pack(
            "[{s:{s:s},s:[s]}]", "Principal", "DataLakePrincipalIdentifier",
            "IAM_ALLOWED_PRINCIPALS", "Permissions", "ALL"));
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(13));
    json_decref(doc);
    if (!text)
        return HY_ENOMEM;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(glue_db, "INSERT INTO databases(catalog,name,doc) "
                                          "VALUES(?1,?2,?3)", -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, c->catalog, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    free(text);
    if (src == SQLITE_CONSTRAINT)
        return gfail(c, "AlreadyExistsException", "Database already exists.");
    return src == SQLITE_DONE ? HY_OK : db_rc(src);
}

static int glue_get_database(struct gcall *c)
{
    char name[GLUE_MAX_NAME + 1];
    int rc;
    if ((rc = get_name(c, c->in, "Name", "name", true, name)))
        return rc;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(glue_db, "SELECT doc FROM databases WHERE catalog=?1 AND "
                                          "name=?2", -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_rc(src);
    sqlite3_bind_text(st, 1, c->catalog, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        json_t *doc = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        rc = doc ? HY_OK : HY_ENOMEM;
        if (doc)
            json_object_set_new(c->out, "Database", doc);
    } else if (src == SQLITE_DONE) {
        rc = gfail(c, "EntityNotFoundException", "Database %s not found.", name);
    } else {
        rc = db_rc(src);
    }
    sqlite3_finalize(st);
    return rc;
}

static int glue_get_databases(struct gcall *c)
{
    long off, max;
    int rc;
    if ((rc = page_args(c, &off, &max)))
        return rc;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(glue_db, "SELECT doc FROM databases WHERE catalog=?1 "
                                          "ORDER BY name LIMIT ?2 OFFSET ?3", -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_rc(src);
    sqlite3_bind_text(st, 1, c->catalog, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, max + 1);
    sqlite3_bind_int64(st, 3, off);
    json_t *list = json_array();
    long n = 0;
    rc = list ? HY_OK : HY_ENOMEM;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == max) {
            char tok[32];
            snprintf(tok, sizeof tok, "%ld", off + max);
            json_object_set_new(c->out, "NextToken", json_string(tok));
            break;
        }
        json_t *doc = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        if (!doc || json_array_append_new(list, doc))
            rc = HY_ENOMEM;
    }
    if (!rc && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = db_rc(src);
    sqlite3_finalize(st);
    if (list)
        json_object_set_new(c->out, "DatabaseList", list);
    return rc;
}

static int run_stmt(const char *sql, const char *a, const char *b, const char *d, int *changes)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(glue_db, sql, -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
        if (b)
            sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
        if (d)
            sqlite3_bind_text(st, 3, d, -1, SQLITE_STATIC);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (changes)
        *changes = sqlite3_changes(glue_db);
    return src == SQLITE_DONE ? HY_OK : db_rc(src);
}

static int glue_delete_database(struct gcall *c)
{
    char name[GLUE_MAX_NAME + 1];
    int rc, changes = 0;
    if ((rc = get_name(c, c->in, "Name", "name", true, name)))
        return rc;
    if ((rc = exec_sql("BEGIN IMMEDIATE")))
        return rc;
    rc = run_stmt("DELETE FROM databases WHERE catalog=?1 AND name=?2", c->catalog, name,
                  NULL, &changes);
    if (!rc && changes == 0)
        rc = gfail(c, "EntityNotFoundException", "Database %s not found.", name);
    if (!rc)
        rc = run_stmt("DELETE FROM tables WHERE catalog=?1 AND db=?2", c->catalog, name, NULL,
                      NULL);
    if (!rc)
        rc = run_stmt("DELETE FROM table_versions WHERE catalog=?1 AND db=?2", c->catalog,
                      name, NULL, NULL);
    if (!rc && (rc = exec_sql("COMMIT")) == HY_OK)
        return HY_OK;
    exec_sql("ROLLBACK");
    return rc;
}

/* Checks a TableInput's columns (Name and a parseable Type each). */
static int check_columns(struct gcall *c, json_t *cols, const char *path)
{
    if (!cols)
        return HY_OK;
    if (!json_is_array(cols))
        return gfail(c, "InvalidInputException", "%s must be a list.", path);
    for (size_t i = 0; i < json_array_size(cols); i++) {
        json_t *col = json_array_get(cols, i);
        char name[GLUE_MAX_NAME + 1];
        int rc = get_name(c, col, "Name", "tableInput.storageDescriptor.columns.member.name",
                          true, name);
        if (rc)
            return rc;
        json_t *t = json_object_get(col, "Type");
        if (t && !json_is_string(t))
            return gfail(c, "InvalidInputException", "Column %s: Type must be a string.", name);
        if (t && json_string_length(t) > GLUE_MAX_TYPE_LEN)
            return gfail(c, "InvalidInputException",
                         "1 validation error detected: Value at "
                         "'tableInput.storageDescriptor.columns.%zu.member.type' failed to "
                         "satisfy constraint: Member must have length less than or equal to "
                         "131072", i + 1);
    }
    return HY_OK;
}

/* The Table doc stored for a TableInput. */
static json_t *table_doc(struct gcall *c, json_t *input, const char *db, const char *name,
                         long version, double create_time)
{
    json_t *doc = json_deep_copy(input);
    char v[24];
    if (!doc)
        return NULL;
    snprintf(v, sizeof v, "%ld", version);
    json_object_set_new(doc, "Name", json_string(name));
    json_object_set_new(doc, "DatabaseName", json_string(db));
    json_object_set_new(doc, "CreateTime", json_real(create_time));
    json_object_set_new(doc, "UpdateTime", json_real(now_s()));
    if (!json_object_get(doc, "Retention"))
        json_object_set_new(doc, "Retention", json_integer(0));
    json_object_set_new(doc, "CreatedBy",
                        json_string("arn:aws:iam::" HY_ACCOUNT_ID ":root"));
    json_object_set_new(doc, "IsRegisteredWithLakeFormation", json_false());
    json_object_set_new(doc, "CatalogId", json_string(c->catalog));
    json_object_set_new(doc, "VersionId", json_string(v));
    return doc;
}

static int db_exists(struct gcall *c, const char *db)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(glue_db, "SELECT 1 FROM databases WHERE catalog=?1 AND "
                                          "name=?2", -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, c->catalog, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, db, -1, SQLITE_STATIC);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src == SQLITE_ROW)
        return HY_OK;
    if (src == SQLITE_DONE)
        return gfail(c, "EntityNotFoundException", "Database %s not found.", db);
    return db_rc(src);
}

/* Upserts the tables row (insert_table: a new table, AlreadyExists when
 * it is there) and inserts the version's doc. */
static int put_version(struct gcall *c, const char *db, const char *name, long version,
                       json_t *doc, bool insert_table)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(glue_db, insert_table ?
                             "INSERT INTO tables(catalog,db,name,latest) VALUES(?1,?2,?3,?4)" :
                             "UPDATE tables SET latest=?4 WHERE catalog=?1 AND db=?2 AND name=?3",
                             -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, c->catalog, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, db, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, version);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src == SQLITE_CONSTRAINT)
        return gfail(c, "AlreadyExistsException", "Table already exists.");
    if (src != SQLITE_DONE)
        return db_rc(src);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(13));
    if (!text)
        return HY_ENOMEM;
    st = NULL;
    src = sqlite3_prepare_v2(glue_db, "INSERT OR REPLACE INTO table_versions(catalog,db,name,"
                                      "version,doc) VALUES(?1,?2,?3,?4,?5)", -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, c->catalog, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, db, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, version);
        sqlite3_bind_text(st, 5, text, -1, SQLITE_STATIC);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    free(text);
    return src == SQLITE_DONE ? HY_OK : db_rc(src);
}

static int table_input(struct gcall *c, char *db, char *name, json_t **input)
{
    int rc;
    if ((rc = get_name(c, c->in, "DatabaseName", "databaseName", true, db)))
        return rc;
    *input = json_object_get(c->in, "TableInput");
    if (!json_is_object(*input))
        return gfail(c, "InvalidInputException",
                     "1 validation error detected: Value null at 'tableInput' failed to "
                     "satisfy constraint: Member must not be null");
    if ((rc = get_name(c, *input, "Name", "tableInput.name", true, name)))
        return rc;
    json_t *sd = json_object_get(*input, "StorageDescriptor");
    if ((rc = check_columns(c, json_object_get(sd, "Columns"), "StorageDescriptor.Columns")))
        return rc;
    return check_columns(c, json_object_get(*input, "PartitionKeys"), "PartitionKeys");
}

static int glue_create_table(struct gcall *c)
{
    char db[GLUE_MAX_NAME + 1], name[GLUE_MAX_NAME + 1];
    json_t *input;
    int rc;
    if ((rc = table_input(c, db, name, &input)))
        return rc;
    if ((rc = exec_sql("BEGIN IMMEDIATE")))
        return rc;
    if ((rc = db_exists(c, db)))
        goto out_rollback;
    json_t *doc = table_doc(c, input, db, name, 0, now_s());
    if (!doc) {
        rc = HY_ENOMEM;
        goto out_rollback;
    }
    rc = put_version(c, db, name, 0, doc, true);
    json_decref(doc);
    if (!rc && (rc = exec_sql("COMMIT")) == HY_OK)
        return HY_OK;
out_rollback:
    exec_sql("ROLLBACK");
    return rc;
}

static int not_found(struct gcall *c, int rc, const char *why, const char *db,
                     const char *name)
{
    if (rc != HY_ENOTFOUND)
        return rc;
    if (strcmp(why, "database") == 0)
        return gfail(c, "EntityNotFoundException", "Database %s not found.", db);
    if (strcmp(why, "table") == 0)
        return gfail(c, "EntityNotFoundException", "Table %s not found.", name);
    return gfail(c, "EntityNotFoundException", "Version not found.");
}

static int glue_get_table(struct gcall *c)
{
    char db[GLUE_MAX_NAME + 1], name[GLUE_MAX_NAME + 1];
    const char *why = "";
    json_t *doc;
    int rc;
    if ((rc = get_name(c, c->in, "DatabaseName", "databaseName", true, db)) ||
        (rc = get_name(c, c->in, "Name", "name", true, name)))
        return rc;
    rc = load_table(c->catalog, db, name, -1, &doc, &why);
    if (rc)
        return not_found(c, rc, why, db, name);
    json_object_set_new(c->out, "Table", doc);
    return HY_OK;
}

/* Glue's GetTables Expression: a regular expression the whole table name
 * must match (case-insensitive). A small matcher of its own, not POSIX
 * regcomp: libonig (linked for libjq) exports regcomp/regexec symbols of
 * its own that take glibc's place at run time. Supported: literals, '.',
 * [classes] with ranges and ^, the quantifiers * + ?, '|' between whole
 * alternatives, '\\' escapes. HY_EINVAL for anything else. */
struct rx_atom {
    const char *p;   /* the atom's text */
    size_t n;
    char quant;      /* 0, '*', '+', '?' */
};

static int rx_atom_len(const char *p, size_t *n)
{
    if (*p == '\\') {
        if (!p[1])
            return HY_EINVAL;
        *n = 2;
        return HY_OK;
    }
    if (*p == '[') {
        const char *q = p + 1;
        if (*q == '^')
            q++;
        if (*q == ']')
            q++;
        while (*q && *q != ']')
            q++;
        if (!*q)
            return HY_EINVAL;
        *n = (size_t)(q - p) + 1;
        return HY_OK;
    }
    if (strchr("*+?(){}^$", *p))
        return HY_EINVAL;
    *n = 1;
    return HY_OK;
}

static bool rx_atom_match(const char *a, size_t n, char c)
{
    c = (char)tolower((unsigned char)c);
    if (n == 1)
        return *a == '.' || tolower((unsigned char)*a) == c;
    if (*a == '\\')
        return tolower((unsigned char)a[1]) == c;
    /* [class] */
    const char *q = a + 1, *end = a + n - 1;
    bool neg = *q == '^', hit = false;
    if (neg)
        q++;
    for (; q < end; q++) {
        char lo = (char)tolower((unsigned char)*q), hi = lo;
        if (q + 2 < end && q[1] == '-') {
            hi = (char)tolower((unsigned char)q[2]);
            q += 2;
        }
        if (c >= lo && c <= hi)
            hit = true;
    }
    return hit != neg;
}

static bool rx_match_here(const struct rx_atom *at, size_t na, const char *s)
{
    if (na == 0)
        return *s == 0;
    const struct rx_atom *a = &at[0];
    if (a->quant == 0)
        return *s && rx_atom_match(a->p, a->n, *s) && rx_match_here(at + 1, na - 1, s + 1);
    size_t min = a->quant == '+' ? 1 : 0, max = a->quant == '?' ? 1 : (size_t)-1, k = 0;
    while (k < max && s[k] && rx_atom_match(a->p, a->n, s[k]))
        k++;
    for (;;) { /* greedy, backing off */
        if (k >= min && rx_match_here(at + 1, na - 1, s + k))
            return true;
        if (k == 0 || k <= min)
            return false;
        k--;
    }
}

/* HY_OK and *match, or HY_EINVAL for a pattern outside the subset. */
static int rx_match(const char *pat, const char *name, bool *match)
{
    struct rx_atom at[256];
    *match = false;
    const char *p = pat;
    while (true) {
        size_t na = 0;
        while (*p && *p != '|') {
            size_t n;
            if (na == sizeof at / sizeof at[0] || rx_atom_len(p, &n))
                return HY_EINVAL;
            at[na] = (struct rx_atom){p, n, 0};
            p += n;
            if (*p == '*' || *p == '+' || *p == '?')
                at[na].quant = *p++;
            na++;
        }
        if (!*match && rx_match_here(at, na, name))
            *match = true;
        if (!*p)
            return HY_OK;
        p++; /* '|' */
    }
}

static int glue_get_tables(struct gcall *c)
{
    char db[GLUE_MAX_NAME + 1];
    long off, max;
    int rc;
    if ((rc = get_name(c, c->in, "DatabaseName", "databaseName", true, db)) ||
        (rc = page_args(c, &off, &max)) || (rc = db_exists(c, db)))
        return rc;
    const char *expr = json_string_value(json_object_get(c->in, "Expression"));
    bool m;
    if (expr && *expr && rx_match(expr, "", &m))
        return gfail(c, "InvalidInputException", "Expression is not a valid pattern.");
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(glue_db,
                                 "SELECT v.doc, t.name FROM tables t JOIN table_versions v ON "
                                 "v.catalog=t.catalog AND v.db=t.db AND v.name=t.name AND "
                                 "v.version=t.latest WHERE t.catalog=?1 AND t.db=?2 ORDER BY "
                                 "t.name", -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_rc(src);
    sqlite3_bind_text(st, 1, c->catalog, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, db, -1, SQLITE_STATIC);
    json_t *list = json_array();
    long seen = 0, n = 0;
    rc = list ? HY_OK : HY_ENOMEM;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (expr && *expr &&
            (rx_match(expr, (const char *)sqlite3_column_text(st, 1), &m) || !m))
            continue;
        if (seen++ < off)
            continue;
        if (n++ == max) {
            char tok[32];
            snprintf(tok, sizeof tok, "%ld", off + max);
            json_object_set_new(c->out, "NextToken", json_string(tok));
            break;
        }
        json_t *doc = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        if (!doc || json_array_append_new(list, doc))
            rc = HY_ENOMEM;
    }
    if (!rc && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = db_rc(src);
    sqlite3_finalize(st);
    if (list)
        json_object_set_new(c->out, "TableList", list);
    return rc;
}

static int glue_update_table(struct gcall *c)
{
    char db[GLUE_MAX_NAME + 1], name[GLUE_MAX_NAME + 1];
    const char *why = "";
    json_t *input, *old = NULL;
    int rc;
    if ((rc = table_input(c, db, name, &input)))
        return rc;
    json_t *vid = json_object_get(c->in, "VersionId");
    if (vid && !json_is_string(vid))
        return gfail(c, "InvalidInputException", "VersionId must be a string.");
    if ((rc = exec_sql("BEGIN IMMEDIATE")))
        return rc;
    rc = load_table(c->catalog, db, name, -1, &old, &why);
    if (rc) {
        rc = not_found(c, rc, why, db, name);
        goto out_rollback;
    }
    long latest = strtol(json_string_value(json_object_get(old, "VersionId")) ?
                         json_string_value(json_object_get(old, "VersionId")) : "0", NULL, 10);
    if (vid && strcmp(json_string_value(vid), json_string_value(json_object_get(old,
                                                                               "VersionId")))) {
        rc = gfail(c, "ConcurrentModificationException",
                   "Update table failed due to concurrent modifications.");
        goto out_rollback;
    }
    json_t *ct = json_object_get(old, "CreateTime");
    json_t *doc = table_doc(c, input, db, name, latest + 1,
                            ct ? json_number_value(ct) : now_s());
    if (!doc) {
        rc = HY_ENOMEM;
        goto out_rollback;
    }
    rc = put_version(c, db, name, latest + 1, doc, false);
    json_decref(doc);
    if (!rc && json_is_true(json_object_get(c->in, "SkipArchive"))) {
        char v[24];
        snprintf(v, sizeof v, "%ld", latest);
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(glue_db, "DELETE FROM table_versions WHERE catalog=?1 "
                                              "AND db=?2 AND name=?3 AND version=?4", -1, &st,
                                     NULL);
        if (src == SQLITE_OK) {
            sqlite3_bind_text(st, 1, c->catalog, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, db, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, latest);
            src = sqlite3_step(st);
        }
        sqlite3_finalize(st);
        rc = src == SQLITE_DONE ? HY_OK : db_rc(src);
    }
    if (!rc && (rc = exec_sql("COMMIT")) == HY_OK)
        goto out_free_old;
out_rollback:
    exec_sql("ROLLBACK");
out_free_old:
    json_decref(old);
    return rc;
}

static int glue_delete_table(struct gcall *c)
{
    char db[GLUE_MAX_NAME + 1], name[GLUE_MAX_NAME + 1];
    int rc, changes = 0;
    if ((rc = get_name(c, c->in, "DatabaseName", "databaseName", true, db)) ||
        (rc = get_name(c, c->in, "Name", "name", true, name)))
        return rc;
    if ((rc = exec_sql("BEGIN IMMEDIATE")))
        return rc;
    if ((rc = db_exists(c, db)))
        goto out_rollback;
    rc = run_stmt("DELETE FROM tables WHERE catalog=?1 AND db=?2 AND name=?3", c->catalog, db,
                  name, &changes);
    if (!rc && changes == 0)
        rc = gfail(c, "EntityNotFoundException", "Table %s not found.", name);
    if (!rc)
        rc = run_stmt("DELETE FROM table_versions WHERE catalog=?1 AND db=?2 AND name=?3",
                      c->catalog, db, name, NULL);
    if (!rc && (rc = exec_sql("COMMIT")) == HY_OK)
        return HY_OK;
out_rollback:
    exec_sql("ROLLBACK");
    return rc;
}

static int glue_get_table_version(struct gcall *c)
{
    char db[GLUE_MAX_NAME + 1], name[GLUE_MAX_NAME + 1];
    const char *why = "";
    json_t *doc;
    long v = -1;
    int rc;
    if ((rc = get_name(c, c->in, "DatabaseName", "databaseName", true, db)) ||
        (rc = get_name(c, c->in, "TableName", "tableName", true, name)))
        return rc;
    json_t *vid = json_object_get(c->in, "VersionId");
    if (vid) {
        const char *s = json_string_value(vid);
        if (!s || parse_version(s, &v) || v < 0)
            return gfail(c, "InvalidInputException", "Version ID is not a valid number.");
    }
    rc = load_table(c->catalog, db, name, v, &doc, &why);
    if (rc)
        return not_found(c, rc, why, db, name);
    json_t *tv = json_pack("{s:O,s:O}", "Table", doc, "VersionId",
                           json_object_get(doc, "VersionId"));
    json_decref(doc);
    if (!tv)
        return HY_ENOMEM;
    json_object_set_new(c->out, "TableVersion", tv);
    return HY_OK;
}

static int glue_get_table_versions(struct gcall *c)
{
    char db[GLUE_MAX_NAME + 1], name[GLUE_MAX_NAME + 1];
    const char *why = "";
    json_t *latest;
    long off, max;
    int rc;
    if ((rc = get_name(c, c->in, "DatabaseName", "databaseName", true, db)) ||
        (rc = get_name(c, c->in, "TableName", "tableName", true, name)) ||
        (rc = page_args(c, &off, &max)))
        return rc;
    rc = load_table(c->catalog, db, name, -1, &latest, &why);
    if (rc)
        return not_found(c, rc, why, db, name);
    json_decref(latest);
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(glue_db, "SELECT doc FROM table_versions WHERE catalog=?1 AND "
                                          "db=?2 AND name=?3 ORDER BY version DESC LIMIT ?4 "
                                          "OFFSET ?5", -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_rc(src);
    sqlite3_bind_text(st, 1, c->catalog, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, db, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, max + 1);
    sqlite3_bind_int64(st, 5, off);
    json_t *list = json_array();
    long n = 0;
    rc = list ? HY_OK : HY_ENOMEM;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == max) {
            char tok[32];
            snprintf(tok, sizeof tok, "%ld", off + max);
            json_object_set_new(c->out, "NextToken", json_string(tok));
            break;
        }
        json_t *doc = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        json_t *tv = doc ? json_pack("{s:O,s:O}", "Table", doc, "VersionId",
                                     json_object_get(doc, "VersionId")) : NULL;
        json_decref(doc);
        if (!tv || json_array_append_new(list, tv))
            rc = HY_ENOMEM;
    }
    if (!rc && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = db_rc(src);
    sqlite3_finalize(st);
    if (list)
        json_object_set_new(c->out, "TableVersions", list);
    return rc;
}

static const struct {
    const char *name;
    int (*fn)(struct gcall *);
} glue_ops[] = {
    {"CreateDatabase", glue_create_database},
    {"GetDatabase", glue_get_database},
    {"GetDatabases", glue_get_databases},
    {"DeleteDatabase", glue_delete_database},
    {"CreateTable", glue_create_table},
    {"GetTable", glue_get_table},
    {"GetTables", glue_get_tables},
    {"UpdateTable", glue_update_table},
    {"DeleteTable", glue_delete_table},
    {"GetTableVersion", glue_get_table_version},
    {"GetTableVersions", glue_get_table_versions},
};

void glue_exec(const char *op, const char *body, size_t body_len, int *status, char **out,
               const char **error_type)
{
    struct gcall c = {0};
    int (*fn)(struct gcall *) = NULL;
    json_error_t jerr;
    int rc;

    *out = NULL;
    *error_type = NULL;
    for (size_t i = 0; i < sizeof glue_ops / sizeof glue_ops[0]; i++)
        if (strcmp(glue_ops[i].name, op) == 0)
            fn = glue_ops[i].fn;
    if (!fn) {
        rc = gfail(&c, "UnknownOperationException", "Operation %.100s is not supported.", op);
        goto out_reply;
    }
    c.in = body_len ? json_loadb(body, body_len, 0, &jerr) : json_object();
    if (!json_is_object(c.in)) {
        rc = gfail(&c, "SerializationException", "The request body must be a JSON object.");
        goto out_reply;
    }
    c.out = json_object();
    if (!c.out) {
        rc = HY_ENOMEM;
        goto out_reply;
    }
    if ((rc = set_catalog(&c)))
        goto out_reply;
    pthread_mutex_lock(&glue_lock);
    rc = glue_ready();
    if (!rc)
        rc = fn(&c);
    pthread_mutex_unlock(&glue_lock);
out_reply:
    if (rc == HY_OK) {
        *out = json_dumps(c.out, JSON_COMPACT | JSON_REAL_PRECISION(13));
        *status = 200;
        if (!*out)
            rc = HY_ENOMEM;
    }
    if (rc != HY_OK) {
        if (!c.err_type) {
            log_error(GLUE_TAG, "%s: %s", op, hy_strerror(rc));
            c.err_type = "InternalServiceException";
            snprintf(c.msg, sizeof c.msg, "Internal service error: %s", hy_strerror(rc));
            *status = 500;
        } else {
            *status = 400;
        }
        json_t *e = json_pack("{s:s,s:s}", "__type", c.err_type, "Message", c.msg);
        *out = e ? json_dumps(e, JSON_COMPACT) : NULL;
        json_decref(e);
        *error_type = c.err_type;
    }
    json_decref(c.in);
    json_decref(c.out);
}

void glue_handle(struct http_req *req, const char *op)
{
    static const char oom[] = "{\"__type\":\"InternalServiceException\","
                              "\"Message\":\"out of memory\"}";
    const char *error_type;
    char *body, rid[37];
    int status;
    glue_exec(op, req->body, req->body_len, &status, &body, &error_type);
    hy_uuid4(rid);
    http_add_header(req, "x-amzn-RequestId", rid);
    if (!body) {
        status = 500;
        error_type = "InternalServiceException";
    }
    if (error_type)
        http_add_header(req, "x-amzn-ErrorType", error_type);
    http_reply(req, status, GLUE_CONTENT_TYPE, body ? body : oom,
               body ? strlen(body) : sizeof oom - 1);
    free(body);
}
