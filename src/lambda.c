/* lambda.c -- a minimal AWS Lambda served by hydrant: the function
 * catalog, the REST-JSON API (CreateFunction, GetFunction,
 * GetFunctionConfiguration, UpdateFunctionCode,
 * UpdateFunctionConfiguration, DeleteFunction, ListFunctions, Invoke:
 * RequestResponse, DryRun and Event), and lambda_invoke, the client the
 * Lambda processor calls (hydrant's runtime, or --lambda-endpoint over
 * HTTP). The runtime itself -- worker processes, the pipe protocol -- is
 * lambda_worker.c.
 *
 * Catalog: <data>/lambda/lambda.db (SQLite, WAL, synchronous=FULL, like
 * iam.c), one row per (region, name). Code: the uploaded zip is unpacked
 * by Python's zipfile (src/lambda_runtime/unzip.py: path traversal and
 * symbolic links refused, 250 MB unzipped at most, as AWS) into
 * <data>/lambda/<region>/<name>/<hex SHA-256 of the zip>/ (hex, because
 * AWS's base64 CodeSha256 may hold a '/'), renamed into place before the
 * catalog row names it; a function survives a restart.
 *
 * Trust: the runtime runs the user's code as hydrant's own user. Only a
 * principal allowed lambda:CreateFunction / lambda:UpdateFunctionCode
 * (the router's action column; today the root key only) can upload code;
 * --lambda-runtime=off refuses CreateFunction, UpdateFunctionCode and
 * Invoke.
 *
 * Threading: the catalog has one connection (FULLMUTEX) and a mutex for
 * read-modify-write sequences. An Invoke request is answered from a
 * thread of its own (at most LAMBDA_MAX_INFLIGHT, then 429), the HTTP
 * connection suspended meanwhile, so a function running for minutes holds
 * no HTTP thread; lambda_drain (at SIGTERM, before the listener stops)
 * waits for them, then kills their workers. The Lambda processor calls
 * lambda_invoke on delivery threads.
 */
#include "lambda.h"
#include "api.h"
#include "lambda_worker.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB (1ull << 20)
#define LAMBDA_MAX_ZIP (50ull * MIB)          /* AWS: 50 MB zipped, direct upload */
#define LAMBDA_MAX_UNZIPPED 262144000ull       /* AWS: 250 MB unzipped */
#define LAMBDA_MAX_ENV 4096                    /* AWS: 4 KB of environment */

struct lambda_config lambda_cfg = {
    .runtime = true,
    .workers = 2,
    .python = "/usr/bin/python3",
    .node = "/usr/bin/node",
};

/* Copies s into d[size], truncated: the one bounded string copy here. */
static void scopy(char *d, size_t size, const char *s)
{
    size_t n = strnlen(s, size - 1);
    memmove(d, s, n);
    d[n] = 0;
}

/* ---- the catalog --------------------------------------------------------- */

static sqlite3 *lambda_db;
static pthread_mutex_t db_lock = PTHREAD_MUTEX_INITIALIZER;
static char lambda_dir[4096];  /* <data>/lambda */
static char runtime_dir[4096]; /* the bootstrap scripts */


static const char lambda_schema[] =
    "CREATE TABLE IF NOT EXISTS functions ("
    " region TEXT NOT NULL, name TEXT NOT NULL, runtime TEXT NOT NULL,"
    " handler TEXT NOT NULL, role TEXT NOT NULL, description TEXT NOT NULL,"
    " timeout INTEGER NOT NULL, memory INTEGER NOT NULL, env TEXT NOT NULL,"
    " code_sha256 TEXT NOT NULL, code_hex TEXT NOT NULL, code_size INTEGER NOT NULL,"
    " last_modified INTEGER NOT NULL, revision TEXT NOT NULL,"
    " PRIMARY KEY (region, name));";

static void copy_col(char *dst, size_t size, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(dst, size, "%s", t ? (const char *)t : "");
}

static int fn_from_row(sqlite3_stmt *st, struct lambda_fn *f)
{
    memset(f, 0, sizeof *f);
    copy_col(f->region, sizeof f->region, st, 0);
    copy_col(f->name, sizeof f->name, st, 1);
    copy_col(f->runtime, sizeof f->runtime, st, 2);
    copy_col(f->handler, sizeof f->handler, st, 3);
    copy_col(f->role, sizeof f->role, st, 4);
    copy_col(f->description, sizeof f->description, st, 5);
    f->timeout = sqlite3_column_int(st, 6);
    f->memory = sqlite3_column_int(st, 7);
    const unsigned char *env = sqlite3_column_text(st, 8);
    f->env = strdup(env ? (const char *)env : "{}");
    copy_col(f->code_sha256, sizeof f->code_sha256, st, 9);
    copy_col(f->code_hex, sizeof f->code_hex, st, 10);
    f->code_size = sqlite3_column_int64(st, 11);
    f->last_modified = sqlite3_column_int64(st, 12);
    copy_col(f->revision, sizeof f->revision, st, 13);
    return f->env ? HY_OK : HY_ENOMEM;
}

#define FN_COLS "region, name, runtime, handler, role, description, timeout, memory, env," \
                " code_sha256, code_hex, code_size, last_modified, revision"

/* HY_OK (f filled; fn_clear it), HY_ENOTFOUND, HY_EDB, HY_ENOMEM. */
static int db_get(const char *region, const char *name, struct lambda_fn *f)
{
    sqlite3_stmt *st = NULL;
    int rc = HY_EDB;
    pthread_mutex_lock(&db_lock);
    if (!lambda_db)
        goto out_unlock;
    if (sqlite3_prepare_v2(lambda_db, "SELECT " FN_COLS " FROM functions WHERE region = ?"
                           " AND name = ?", -1, &st, NULL) != SQLITE_OK)
        goto out_unlock;
    sqlite3_bind_text(st, 1, region, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        rc = fn_from_row(st, f);
    else if (src == SQLITE_DONE)
        rc = HY_ENOTFOUND;
out_unlock:
    if (rc == HY_EDB && lambda_db)
        log_error("lambda", "catalog read: %s", sqlite3_errmsg(lambda_db));
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db_lock);
    return rc;
}

/* Inserts (insert) or replaces the code/config of f. Caller holds db_lock.
 * HY_OK, HY_EEXIST (insert of an existing name), HY_EDB. */
static int db_put_locked(const struct lambda_fn *f, bool insert)
{
    sqlite3_stmt *st = NULL;
    const char *sql = insert
        ? "INSERT INTO functions (" FN_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        : "INSERT OR REPLACE INTO functions (" FN_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    if (!lambda_db || sqlite3_prepare_v2(lambda_db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out_db;
    sqlite3_bind_text(st, 1, f->region, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, f->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, f->runtime, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, f->handler, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, f->role, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, f->description, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 7, f->timeout);
    sqlite3_bind_int(st, 8, f->memory);
    sqlite3_bind_text(st, 9, f->env ? f->env : "{}", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 10, f->code_sha256, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 11, f->code_hex, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 12, f->code_size);
    sqlite3_bind_int64(st, 13, f->last_modified);
    sqlite3_bind_text(st, 14, f->revision, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src == SQLITE_DONE)
        return HY_OK;
    if (src == SQLITE_CONSTRAINT)
        return HY_EEXIST;
out_db:
    if (lambda_db)
        log_error("lambda", "catalog write: %s", sqlite3_errmsg(lambda_db));
    else
        sqlite3_finalize(st);
    return HY_EDB;
}

void lambda_close(void)
{
    lambda_worker_close();
    pthread_mutex_lock(&db_lock);
    sqlite3_close(lambda_db);
    lambda_db = NULL;
    pthread_mutex_unlock(&db_lock);
}

int lambda_open(const char *data_dir)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    char path[4200];
    int rc;
    int n = snprintf(lambda_dir, sizeof lambda_dir, "%s/lambda", data_dir);
    if (n < 0 || (size_t)n >= sizeof lambda_dir - 200)
        return HY_EINVAL;
    if (mkdir_p(lambda_dir, 0700) != 0)
        return HY_EIO;
    snprintf(path, sizeof path, "%s/tmp", lambda_dir);
    if (mkdir_p(path, 0700) != 0)
        return HY_EIO;
    snprintf(path, sizeof path, "%s/lambda.db", lambda_dir);
    int src = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                             SQLITE_OPEN_FULLMUTEX, NULL);
    if (src != SQLITE_OK)
        goto out_close_db;
    sqlite3_busy_timeout(db, 5000);
    src = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                       &err);
    if (src == SQLITE_OK)
        src = sqlite3_exec(db, lambda_schema, NULL, NULL, &err);
    if (src != SQLITE_OK)
        goto out_close_db;
    if ((rc = hy_fsync_dir(lambda_dir))) {
        sqlite3_close(db);
        return rc;
    }
    /* the bootstrap scripts: the flag, else next to the binary (build
     * tree: build/hydrant -> src/lambda_runtime; installed:
     * bin/hydrant -> share/hydrant/lambda_runtime) */
    runtime_dir[0] = 0;
    if (lambda_cfg.runtime_dir) {
        scopy(runtime_dir, sizeof runtime_dir, lambda_cfg.runtime_dir);
    } else {
        char exe[4096];
        ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (len > 0) {
            exe[len] = 0;
            char *slash = strrchr(exe, '/');
            if (slash)
                *slash = 0;
            static const char *const rel[] = {"/../src/lambda_runtime",
                                              "/../share/hydrant/lambda_runtime",
                                              "/lambda_runtime"};
            for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
                char cand[4200], probe[4300];
                snprintf(cand, sizeof cand, "%s%s", exe, rel[i]);
                snprintf(probe, sizeof probe, "%s/bootstrap.py", cand);
                if (access(probe, R_OK) == 0) {
                    scopy(runtime_dir, sizeof runtime_dir, cand);
                    break;
                }
            }
        }
    }
    const char *unavailable = NULL;
    if (!lambda_cfg.runtime) {
        unavailable = "the Lambda runtime is off on this server (--lambda-runtime=off)";
    } else {
        char probe[4300];
        snprintf(probe, sizeof probe, "%s/bootstrap.py", runtime_dir);
        if (!runtime_dir[0] || access(probe, R_OK) != 0) {
            if (lambda_cfg.runtime_dir) {
                /* the operator named a directory: a mistake to say at once */
                log_error("lambda", "--lambda-runtime-dir %s has no bootstrap.py",
                          lambda_cfg.runtime_dir);
                sqlite3_close(db);
                return HY_ENOTFOUND;
            }
            /* a server that never runs functions still starts */
            log_warn("lambda", "no Lambda bootstrap scripts next to the binary: functions "
                     "cannot run until --lambda-runtime-dir names them (src/lambda_runtime)");
            unavailable = "the Lambda runtime's bootstrap scripts were not found next to "
                          "hydrant's binary (set --lambda-runtime-dir)";
        }
    }
    lambda_worker_setup(lambda_dir, runtime_dir, unavailable);
    pthread_mutex_lock(&db_lock);
    lambda_db = db;
    pthread_mutex_unlock(&db_lock);
    log_debug("lambda", "opened %s (runtime %s, scripts in %s)", path,
              lambda_cfg.runtime ? "on" : "off", runtime_dir[0] ? runtime_dir : "-");
    return HY_OK;

out_close_db:
    log_error("lambda", "cannot open %s: %s", path,
              err ? err : db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
    sqlite3_free(err);
    sqlite3_close(db);
    return src == SQLITE_NOMEM ? HY_ENOMEM : HY_EDB;
}

/* ---- names and ARNs --------------------------------------------------- */

static bool name_ok(const char *s, size_t n)
{
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bool region_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* A FunctionName as AWS takes it: "name", "name:qualifier",
 * "000000000000:function:name[:q]" or "arn:aws:lambda:region:acct:function:name[:q]".
 * Fills name (and region when the ARN names one) and *qualifier (in q,
 * "" when none). HY_OK or HY_EINVAL. */
struct fn_ref {
    char name[65];
    char region[33];
    char account[13];
    char qualifier[129];
};

static int parse_ref(const char *in, const char *default_region, struct fn_ref *ref)
{
    memset(ref, 0, sizeof *ref);
    char parts[8][170];
    int np = 0;
    size_t len = strlen(in);
    if (len < 1 || len > 170)
        return HY_EINVAL;
    const char *p = in;
    while (np < 8) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n >= sizeof parts[0])
            return HY_EINVAL;
        memcpy(parts[np], p, n);
        parts[np][n] = 0;
        np++;
        if (!c)
            break;
        p = c + 1;
        if (np == 8)
            return HY_EINVAL;
    }
    const char *name = NULL, *qual = NULL, *region = NULL, *acct = NULL;
    if (np >= 7 && strcmp(parts[0], "arn") == 0) {
        if (strncmp(parts[1], "aws", 3) != 0 || strcmp(parts[2], "lambda") != 0 ||
            strcmp(parts[5], "function") != 0 || np > 8)
            return HY_EINVAL;
        region = parts[3], acct = parts[4], name = parts[6];
        qual = np == 8 ? parts[7] : NULL;
    } else if (np >= 3 && strcmp(parts[1], "function") == 0) {
        if (np > 4)
            return HY_EINVAL;
        acct = parts[0], name = parts[2], qual = np == 4 ? parts[3] : NULL;
    } else if (np <= 2) {
        name = parts[0], qual = np == 2 ? parts[1] : NULL;
    } else {
        return HY_EINVAL;
    }
    if (!name_ok(name, strlen(name)))
        return HY_EINVAL;
    if (acct && (strlen(acct) != 12 || strspn(acct, "0123456789") != 12))
        return HY_EINVAL;
    if (region && !region_ok(region))
        return HY_EINVAL;
    scopy(ref->name, sizeof ref->name, name);
    scopy(ref->region, sizeof ref->region, region ? region : default_region);
    scopy(ref->account, sizeof ref->account, acct ? acct : HY_ACCOUNT_ID);
    scopy(ref->qualifier, sizeof ref->qualifier, qual ? qual : "");
    return region_ok(ref->region) ? HY_OK : HY_EINVAL;
}

/* ---- the REST paths (the router classifies with these) ---------------- */

#define LAMBDA_PREFIX "/2015-03-31/functions"

bool lambda_is_path(const char *path)
{
    size_t n = strlen(LAMBDA_PREFIX);
    return strncmp(path, LAMBDA_PREFIX, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* The operation, and the raw (encoded) function-name segment [*seg, +*seg_len). */
static const char *route(const char *method, const char *path, const char **seg,
                         size_t *seg_len)
{
    if (!lambda_is_path(path))
        return NULL;
    const char *rest = path + strlen(LAMBDA_PREFIX);
    if (*rest == '/')
        rest++;
    if (!*rest) {
        if (!strcmp(method, "POST"))
            return "CreateFunction";
        if (!strcmp(method, "GET"))
            return "ListFunctions";
        return NULL;
    }
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    if (seg) {
        *seg = rest;
        *seg_len = n;
    }
    const char *sub = slash ? slash + 1 : "";
    if (!*sub) {
        if (!strcmp(method, "GET"))
            return "GetFunction";
        if (!strcmp(method, "DELETE"))
            return "DeleteFunction";
        return NULL;
    }
    if (!strcmp(sub, "configuration") && !strcmp(method, "GET"))
        return "GetFunctionConfiguration";
    if (!strcmp(sub, "configuration") && !strcmp(method, "PUT"))
        return "UpdateFunctionConfiguration";
    if (!strcmp(sub, "code") && !strcmp(method, "PUT"))
        return "UpdateFunctionCode";
    if (!strcmp(sub, "invocations") && !strcmp(method, "POST"))
        return "Invoke";
    return NULL;
}

const char *lambda_route(const char *method, const char *path)
{
    return route(method, path, NULL, NULL);
}

const char *lambda_resource_arn(struct http_req *req, const char *region)
{
    const char *seg = NULL;
    size_t seg_len = 0;
    char raw[512], name[512];
    struct fn_ref ref;
    const char *op = route(req->method, req->path, &seg, &seg_len);
    name[0] = 0;
    if (op && !strcmp(op, "CreateFunction")) {
        json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
        const char *n = json_string_value(json_object_get(body, "FunctionName"));
        if (n && strlen(n) < sizeof name)
            scopy(name, sizeof name, n);
        json_decref(body);
    } else if (op && seg && seg_len < sizeof raw) {
        memcpy(raw, seg, seg_len);
        raw[seg_len] = 0;
        long n = url_decode(name, raw, seg_len, false);
        name[n < 0 || memchr(name, 0, n > 0 ? (size_t)n : 0) ? 0 : n] = 0;
    }
    if (!name[0] || parse_ref(name, region, &ref) != HY_OK)
        return arena_printf(req->arena, "arn:aws:lambda:%s:%s:function:*", region,
                            HY_ACCOUNT_ID);
    return arena_printf(req->arena, "arn:aws:lambda:%s:%s:function:%s", ref.region,
                        ref.account, ref.name);
}

/* ---- code: hashing, unpacking, removal -------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static void rm_tree(const char *path)
{
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        log_warn("lambda", "cannot remove %s: %s", path, strerror(errno));
}

/* Runs argv (NULL-terminated) to completion with stdin from /dev/null and
 * stderr into err[0..err_len); returns its exit status, -1 when it could
 * not run or died of a signal. */
static int run_child(char *const argv[], char *err, size_t err_len)
{
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0)
        return -1;
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t pid = fork();
    if (pid == 0) {
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        dup2(ep[1], 2);
        close_range(3, ~0U, 0);
        lambda_worker_child_signals();
        execv(argv[0], argv);
        _exit(127);
    }
    if (devnull >= 0)
        close(devnull);
    close(ep[1]);
    size_t got = 0;
    if (err_len)
        err[0] = 0;
    if (pid > 0) {
        char tmp[512];
        ssize_t n;
        while ((n = read(ep[0], tmp, sizeof tmp)) > 0 || (n < 0 && errno == EINTR)) {
            for (ssize_t i = 0; i < n && got + 1 < err_len; i++)
                err[got++] = tmp[i] == '\n' ? ' ' : tmp[i];
        }
        if (err_len)
            err[got] = 0;
    }
    close(ep[0]);
    if (pid < 0)
        return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Stores zip[0..len): its SHA-256 in sha_b64 / hex, unpacked into the
 * function's code directory. HY_OK, HY_EINVAL (msg: AWS's words), HY_EIO. */
static int store_code(const char *region, const char *name, const unsigned char *zip,
                      size_t len, char sha_b64[45], char hex[65], char *msg, size_t msg_len)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    char tmpzip[4300], tmpdir[4300], final[4400], parent[4400], uuid[37];
    char limit[32], err[512];
    int rc = HY_EIO;
    if (EVP_Digest(zip, len, md, &mdlen, EVP_sha256(), NULL) != 1)
        return HY_ENOMEM;
    base64_encode(sha_b64, md, 32);
    hex_encode(hex, md, 32);
    hy_uuid4(uuid);
    snprintf(tmpzip, sizeof tmpzip, "%s/tmp/%s.zip", lambda_dir, uuid);
    snprintf(tmpdir, sizeof tmpdir, "%s/tmp/%s", lambda_dir, uuid);
    int fd = open(tmpzip, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(msg, msg_len, "cannot store the code: %s", strerror(errno));
        return errno == ENOSPC ? HY_ENOSPC : HY_EIO;
    }
    int wrc = write_all(fd, zip, len);
    close(fd);
    if (wrc != HY_OK) {
        snprintf(msg, msg_len, "cannot store the code: %s", hy_strerror(wrc));
        rc = wrc;
        goto out_unlink_zip;
    }
    if (mkdir(tmpdir, 0700) != 0) {
        snprintf(msg, msg_len, "cannot store the code: %s", strerror(errno));
        goto out_unlink_zip;
    }
    char script[4200];
    snprintf(script, sizeof script, "%s/unzip.py", runtime_dir);
    snprintf(limit, sizeof limit, "%llu", LAMBDA_MAX_UNZIPPED);
    char *argv[] = {(char *)lambda_cfg.python, "-I", script, tmpzip, tmpdir, limit, NULL};
    int st = run_child(argv, err, sizeof err);
    if (st != 0) {
        if (st == 2)
            snprintf(msg, msg_len, "Could not unzip uploaded file. Please check your file, "
                     "then try to upload again.");
        else if (st == 3)
            snprintf(msg, msg_len, "Could not unzip uploaded file: %s", err);
        else if (st == 4)
            snprintf(msg, msg_len, "Unzipped size must be smaller than %llu bytes",
                     LAMBDA_MAX_UNZIPPED);
        else
            snprintf(msg, msg_len, "cannot unpack the code (%s, status %d): %s",
                     lambda_cfg.python, st, err);
        rc = st >= 2 && st <= 4 ? HY_EINVAL : HY_EIO;
        goto out_rm_dir;
    }
    snprintf(parent, sizeof parent, "%s/%s/%s", lambda_dir, region, name);
    if (mkdir_p(parent, 0700) != 0) {
        snprintf(msg, msg_len, "cannot store the code: %s", strerror(errno));
        goto out_rm_dir;
    }
    lambda_worker_code_dir(final, sizeof final, region, name, hex);
    if (access(final, F_OK) == 0) {
        rm_tree(tmpdir); /* the same code again: already unpacked */
    } else if (rename(tmpdir, final) != 0) {
        snprintf(msg, msg_len, "cannot store the code: %s", strerror(errno));
        goto out_rm_dir;
    }
    if ((rc = hy_fsync_dir(parent)) != HY_OK) {
        snprintf(msg, msg_len, "cannot store the code: %s", hy_strerror(rc));
        goto out_unlink_zip;
    }
    rc = HY_OK;
    goto out_unlink_zip;
out_rm_dir:
    rm_tree(tmpdir);
out_unlink_zip:
    unlink(tmpzip);
    return rc;
}

/* ---- the invoke client -------------------------------------------------- */

struct curl_out {
    struct buf *out;
    bool function_error;
    bool too_big;
};

static size_t curl_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct curl_out *c = ud;
    size_t n = size * nmemb;
    if (c->out->len + n > LAMBDA_MAX_RESPONSE + 4096 || buf_append(c->out, ptr, n) != HY_OK) {
        c->too_big = true;
        return 0;
    }
    return n;
}

static size_t curl_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct curl_out *c = ud;
    size_t n = size * nmemb;
    static const char name[] = "x-amz-function-error:";
    if (n > sizeof name - 1 && strncasecmp(ptr, name, sizeof name - 1) == 0)
        c->function_error = true;
    return n;
}

static int remote_invoke(const struct fn_ref *ref, const char *function, const void *payload,
                         size_t len, struct buf *out, bool *function_error, char *why,
                         size_t why_len)
{
    int rc = HY_EIO;
    struct buf url, sig;
    struct curl_slist *hdrs = NULL;
    char userpwd[1024], tok[2200];
    buf_init(&url, 16384);
    buf_init(&sig, 256);
    size_t base = out->len;
    const char *akid = lambda_cfg.access_key_id ? lambda_cfg.access_key_id
                                                : getenv("AWS_ACCESS_KEY_ID");
    const char *secret = lambda_cfg.secret_access_key ? lambda_cfg.secret_access_key
                                                      : getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = lambda_cfg.session_token ? lambda_cfg.session_token
                                                 : getenv("AWS_SESSION_TOKEN");
    if (!akid || !secret) {
        snprintf(why, why_len, "no credentials for --lambda-endpoint: set "
                 "--lambda-access-key-id/--lambda-secret-access-key or AWS_ACCESS_KEY_ID/"
                 "AWS_SECRET_ACCESS_KEY");
        return HY_EINVAL;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(why, why_len, "out of memory");
        return HY_ENOMEM;
    }
    bool qualified = ref->qualifier[0] && strcmp(ref->qualifier, "$LATEST") != 0;
    if (qualified && strspn(ref->qualifier, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "0123456789-_") != strlen(ref->qualifier)) {
        snprintf(why, why_len, "not a function qualifier: %s", ref->qualifier);
        rc = HY_EINVAL;
        goto out_cleanup;
    }
    const char *ep = lambda_cfg.endpoint;
    size_t eplen = strlen(ep);
    while (eplen && ep[eplen - 1] == '/')
        eplen--;
    /* the path names the function by its bare name (the region is the
     * signing scope's, the account the caller's) and the qualifier goes
     * in ?Qualifier=: names and qualifiers are [A-Za-z0-9_-], so the path
     * has nothing to escape. libcurl's SigV4 does not encode the path
     * again as AWS's canonical request does for Lambda, so a '%' escape
     * (an ARN's ':') would break the signature. A cross-account ARN is
     * not supported this way. */
    if (buf_append(&url, ep, eplen) || buf_puts(&url, LAMBDA_PREFIX "/") ||
        buf_puts(&url, ref->name) ||
        buf_puts(&url, "/invocations") ||
        (qualified && buf_printf(&url, "?Qualifier=%s", ref->qualifier)) ||
        buf_printf(&sig, "aws:amz:%s:lambda", ref->region)) {
        rc = HY_ENOMEM;
        goto out_cleanup;
    }
    snprintf(userpwd, sizeof userpwd, "%s:%s", akid, secret);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "X-Amz-Invocation-Type: RequestResponse");
    if (token && *token) {
        snprintf(tok, sizeof tok, "X-Amz-Security-Token: %s", token);
        hdrs = curl_slist_append(hdrs, tok);
    }
    struct curl_out co = {out, false, false};
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, len ? payload : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sig.data);
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &co);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, curl_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &co);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 960L); /* Lambda's 900 s and some */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        snprintf(why, why_len, "%s: %s", co.too_big ? "response over 6 MB" : "invoke failed",
                 curl_easy_strerror(cc));
        rc = co.too_big ? HY_ETOOBIG : HY_EIO;
        goto out_cleanup;
    }
    if (status != 200) {
        /* AWS's error: x-amzn-ErrorType and {"message": ...} */
        json_t *e = json_loadb(out->data + base, out->len - base, 0, NULL);
        const char *m = e ? json_string_value(json_object_get(e, "message")) : NULL;
        if (!m && e)
            m = json_string_value(json_object_get(e, "Message"));
        snprintf(why, why_len, "Lambda answered %ld: %s", status, m ? m : "(no message)");
        json_decref(e);
        rc = status == 404 ? HY_ENOTFOUND : status == 413 ? HY_ETOOBIG
           : status == 429 ? HY_EBUSY : HY_EIO;
        goto out_cleanup;
    }
    *function_error = co.function_error;
    rc = HY_OK;
out_cleanup:
    if (rc != HY_OK) {
        out->len = base;
        if (out->data)
            out->data[base] = 0;
    }
    OPENSSL_cleanse(userpwd, sizeof userpwd);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    buf_free(&url);
    buf_free(&sig);
    return rc;
}

int lambda_invoke(const char *function, const char *region, const void *payload, size_t len,
                  struct buf *out, bool *function_error, char *why, size_t why_len)
{
    struct fn_ref ref;
    struct lambda_fn f;
    if (why_len)
        why[0] = 0;
    *function_error = false;
    if (parse_ref(function, region ? region : hy_cfg.region, &ref) != HY_OK) {
        snprintf(why, why_len, "not a function name or ARN: %s", function);
        return HY_EINVAL;
    }
    if (len > LAMBDA_MAX_REQUEST) {
        snprintf(why, why_len, "Request must be smaller than %u bytes for the "
                 "InvokeFunction operation", LAMBDA_MAX_REQUEST);
        return HY_ETOOBIG;
    }
    if (lambda_cfg.endpoint)
        return remote_invoke(&ref, function, payload, len, out, function_error, why, why_len);
    if (ref.qualifier[0] && strcmp(ref.qualifier, "$LATEST") != 0) {
        snprintf(why, why_len, "Function not found: arn:aws:lambda:%s:%s:function:%s:%s",
                 ref.region, ref.account, ref.name, ref.qualifier);
        return HY_ENOTFOUND;
    }
    int rc = db_get(ref.region, ref.name, &f);
    if (rc == HY_ENOTFOUND || (rc == HY_OK && strcmp(ref.account, HY_ACCOUNT_ID) != 0)) {
        if (rc == HY_OK)
            lambda_worker_fn_clear(&f);
        snprintf(why, why_len, "Function not found: arn:aws:lambda:%s:%s:function:%s",
                 ref.region, ref.account, ref.name);
        return HY_ENOTFOUND;
    }
    if (rc != HY_OK) {
        snprintf(why, why_len, "the function catalog: %s", hy_strerror(rc));
        return rc;
    }
    rc = lambda_worker_invoke(&f, payload, len, out, function_error, NULL, why, why_len);
    lambda_worker_fn_clear(&f);
    return rc;
}

/* ---- the API ------------------------------------------------------------ */

/* AWS's error shape for Lambda: x-amzn-ErrorType + {"Type":"User",
 * "message": ...}; the model names the member "Message" for
 * ResourceNotFoundException and ServiceException, "message" elsewhere
 * (botocore reads either). */
static void reply_error(struct http_req *req, int status, const char *type,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void reply_error(struct http_req *req, int status, const char *type, const char *fmt,
                        ...)
{
    char msg[1024], rid[37];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    bool upper = !strcmp(type, "ResourceNotFoundException") ||
                 !strcmp(type, "ServiceException");
    json_t *o = json_pack("{s:s, s:s}", "Type", status >= 500 ? "Service" : "User",
                          upper ? "Message" : "message", msg);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    hy_uuid4(rid);
    http_add_header(req, "x-amzn-RequestId", rid);
    http_add_header(req, "x-amzn-ErrorType", type);
    http_reply(req, status, "application/json", body ? body : "{}", body ? strlen(body) : 2);
    free(body);
}

static void reply_json(struct http_req *req, int status, json_t *o)
{
    char rid[37];
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (!body) {
        reply_error(req, 500, "ServiceException", "out of memory");
        return;
    }
    hy_uuid4(rid);
    http_add_header(req, "x-amzn-RequestId", rid);
    http_reply(req, status, "application/json", body, strlen(body));
    free(body);
}

static void fmt_last_modified(char out[40], long long ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03d+0000", (int)(ms % 1000));
}

/* AWS's FunctionConfiguration of f. */
static json_t *fn_config_json(const struct lambda_fn *f)
{
    char arn[200], lm[40];
    lambda_worker_arn(arn, sizeof arn, f->region, f->name);
    fmt_last_modified(lm, f->last_modified);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:i, s:i, s:s, s:s, s:s, s:{s:s}, s:s,"
        " s:s, s:s, s:s, s:[s], s:{s:i}, s:{s:s, s:s}}",
        "FunctionName", f->name, "FunctionArn", arn, "Runtime", f->runtime, "Role", f->role,
        "Handler", f->handler, "CodeSize", (json_int_t)f->code_size, "Description",
        f->description, "Timeout", f->timeout, "MemorySize", f->memory, "LastModified", lm,
        "CodeSha256", f->code_sha256, "Version", "$LATEST", "TracingConfig", "Mode",
        "PassThrough", "RevisionId", f->revision, "State", "Active", "LastUpdateStatus",
        "Successful", "PackageType", "Zip", "Architectures", "x86_64", "EphemeralStorage",
        "Size", 512, "SnapStart", "ApplyOn", "None", "OptimizationStatus", "Off");
    json_t *vars = f->env ? json_loads(f->env, 0, NULL) : NULL;
    if (o && json_is_object(vars) && json_object_size(vars))
        json_object_set_new(o, "Environment", json_pack("{s:O}", "Variables", vars));
    json_decref(vars);
    return o;
}

static const char *const runtimes[] = {
    "python3.8", "python3.9", "python3.10", "python3.11", "python3.12", "python3.13",
    "nodejs16.x", "nodejs18.x", "nodejs20.x", "nodejs22.x",
};
static const char *const reserved_env[] = {
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
};

/* Validation failures of the model's constraints, in AWS's words. */
#define VALIDATION(req, fmt, ...)                                                         \
    reply_error(req, 400, "ValidationException", "1 validation error detected: " fmt,    \
                __VA_ARGS__)

/* Decodes Code.ZipFile / ZipFile (base64) into *zip (malloc'd). Answers
 * and returns false on error. */
static bool decode_zip(struct http_req *req, json_t *zf, unsigned char **zip, size_t *len)
{
    const char *b64 = json_string_value(zf);
    if (!b64) {
        reply_error(req, 400, "InvalidParameterValueException",
                    "hydrant takes function code as a ZipFile only (S3Bucket/S3Key and "
                    "ImageUri are not supported)");
        return false;
    }
    size_t n = json_string_length(zf);
    *zip = malloc(n / 4 * 3 + 4);
    if (!*zip) {
        reply_error(req, 500, "ServiceException", "out of memory");
        return false;
    }
    long got = base64_decode(*zip, b64, n);
    if (got < 0) {
        free(*zip);
        *zip = NULL;
        reply_error(req, 400, "InvalidRequestContentException",
                    "Could not parse request body into json: ZipFile is not valid base64");
        return false;
    }
    if ((unsigned long long)got > LAMBDA_MAX_ZIP) {
        free(*zip);
        *zip = NULL;
        reply_error(req, 413, "RequestEntityTooLargeException",
                    "Request must be smaller than %llu bytes for the CreateFunction "
                    "operation", LAMBDA_MAX_ZIP + 19922944ull);
        return false;
    }
    *len = (size_t)got;
    return true;
}

/* Answers a code-storage failure. */
static void reply_store_error(struct http_req *req, int rc, const char *msg)
{
    if (rc == HY_EINVAL)
        reply_error(req, 400, "InvalidParameterValueException", "%s", msg);
    else
        reply_error(req, 500, "ServiceException", "%s", msg);
}

static json_t *parse_body(struct http_req *req)
{
    json_error_t e;
    json_t *o = json_loadb(req->body, req->body_len, 0, &e);
    if (!json_is_object(o)) {
        json_decref(o);
        reply_error(req, 400, "InvalidRequestContentException",
                    "Could not parse request body into json: %s", e.text);
        return NULL;
    }
    return o;
}

/* Members hydrant cannot honour are refused, never stored and ignored. */
static bool refuse_unsupported(struct http_req *req, json_t *body)
{
    static const char *const ok[] = {"FunctionName", "Runtime", "Role", "Handler", "Code",
                                     "Description", "Timeout", "MemorySize", "Environment",
                                     "Publish", "PackageType", "Architectures"};
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        bool known = false;
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
            known |= !strcmp(k, ok[i]);
        if (!known && !json_is_null(v)) {
            reply_error(req, 400, "InvalidParameterValueException",
                        "hydrant's Lambda does not support %s", k);
            return true;
        }
    }
    if (json_is_true(json_object_get(body, "Publish"))) {
        reply_error(req, 400, "InvalidParameterValueException",
                    "hydrant's Lambda does not publish versions (Publish must be false): "
                    "functions run as $LATEST");
        return true;
    }
    json_t *pt = json_object_get(body, "PackageType");
    if (pt && (!json_is_string(pt) || strcmp(json_string_value(pt), "Zip"))) {
        reply_error(req, 400, "InvalidParameterValueException",
                    "hydrant's Lambda runs .zip packages only (PackageType Zip)");
        return true;
    }
    json_t *arch = json_object_get(body, "Architectures");
    if (arch && (!json_is_array(arch) || json_array_size(arch) != 1 ||
                 !json_is_string(json_array_get(arch, 0)) ||
                 strcmp(json_string_value(json_array_get(arch, 0)), "x86_64"))) {
        reply_error(req, 400, "InvalidParameterValueException",
                    "hydrant's Lambda runs x86_64 functions only");
        return true;
    }
    return false;
}

/* The configuration members of body (CreateFunction, or
 * UpdateFunctionConfiguration when !creating: only those present) checked
 * as AWS checks them and set in f. Answers and returns false on error. */
static bool apply_config(struct http_req *req, json_t *body, struct lambda_fn *f, bool creating)
{
    const char *runtime = json_string_value(json_object_get(body, "Runtime"));
    const char *role = json_string_value(json_object_get(body, "Role"));
    const char *handler = json_string_value(json_object_get(body, "Handler"));
    const char *desc = json_string_value(json_object_get(body, "Description"));
    json_t *jt = json_object_get(body, "Timeout"), *jm = json_object_get(body, "MemorySize");
    if (!creating && !runtime)
        runtime = f->runtime;
    if (!creating && !handler)
        handler = f->handler;
    if (!creating && !role)
        role = f->role;
    if (creating && !role) {
        reply_error(req, 400, "InvalidParameterValueException", "Role is required");
        return false;
    }
    if (!runtime) {
        reply_error(req, 400, "InvalidParameterValueException",
                    "The Runtime parameter is required: hydrant runs python3.* and nodejs* "
                    "functions from a .zip");
        return false;
    }
    bool known = false;
    for (size_t i = 0; i < sizeof runtimes / sizeof runtimes[0]; i++)
        known |= !strcmp(runtime, runtimes[i]);
    if (!known) {
        reply_error(req, 400, "InvalidParameterValueException",
                    "The runtime parameter of %s is not supported by hydrant, which runs "
                    "python3.8-python3.13 (on Debian's /usr/bin/python3) and nodejs16.x-"
                    "nodejs22.x (on Debian's /usr/bin/node)", runtime);
        return false;
    }
    if (!handler || !*handler || strlen(handler) > 128 || strpbrk(handler, " \t\r\n")) {
        if (handler && strlen(handler) > 128)
            VALIDATION(req, "Value '%s' at 'handler' failed to satisfy constraint: Member "
                       "must have length less than or equal to 128", handler);
        else if (handler && *handler)
            VALIDATION(req, "Value '%s' at 'handler' failed to satisfy constraint: Member "
                       "must satisfy regular expression pattern: [^\\s]+", handler);
        else
            reply_error(req, 400, "InvalidParameterValueException",
                        "The Handler parameter is required for a .zip function");
        return false;
    }
    if (strncmp(role, "arn:aws:iam::", 13) != 0 || !strstr(role, ":role/") ||
        strlen(role) > 2048) {
        VALIDATION(req, "Value '%s' at 'role' failed to satisfy constraint: Member must "
                   "satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:"
                   "role/?[a-zA-Z_0-9+=,.@\\-_/]+", role);
        return false;
    }
    if ((creating || strcmp(role, f->role)) && iam_role_exists(role) == HY_ENOTFOUND) {
        reply_error(req, 400, "InvalidParameterValueException",
                    "The role defined for the function cannot be assumed by Lambda.");
        return false;
    }
    if (creating) {
        f->timeout = 3;
        f->memory = 128;
    }
    if (jt && (!json_is_integer(jt) || json_integer_value(jt) < 1 ||
               json_integer_value(jt) > 900)) {
        if (json_is_integer(jt) && json_integer_value(jt) < 1)
            VALIDATION(req, "Value '%lld' at 'timeout' failed to satisfy constraint: Member "
                       "must have value greater than or equal to 1",
                       (long long)json_integer_value(jt));
        else
            reply_error(req, 400, "InvalidParameterValueException",
                        "Timeout must be an integer from 1 to 900 (seconds)");
        return false;
    }
    if (jt)
        f->timeout = (int)json_integer_value(jt);
    if (jm && (!json_is_integer(jm) || json_integer_value(jm) < 128 ||
               json_integer_value(jm) > 10240)) {
        long long v = json_is_integer(jm) ? (long long)json_integer_value(jm) : 0;
        VALIDATION(req, "Value '%lld' at 'memorySize' failed to satisfy constraint: Member "
                   "must have value %s", v, v > 10240 ? "less than or equal to 10240"
                                                      : "greater than or equal to 128");
        return false;
    }
    if (jm)
        f->memory = (int)json_integer_value(jm);
    if (desc && strlen(desc) > 256) {
        VALIDATION(req, "Value at 'description' failed to satisfy constraint: Member must "
                   "have length less than or equal to %d", 256);
        return false;
    }
    /* Environment.Variables: strings, no reserved keys, 4 KB in all */
    json_t *env = json_object_get(body, "Environment");
    json_t *vars = json_is_object(env) ? json_object_get(env, "Variables") : NULL;
    if (vars && !json_is_object(vars)) {
        reply_error(req, 400, "InvalidParameterValueException",
                    "Environment.Variables must be a map of strings");
        return false;
    }
    if (vars) {
        const char *k;
        json_t *v;
        json_object_foreach(vars, k, v) {
            if (!json_is_string(v) || !*k || strchr(k, '=')) {
                reply_error(req, 400, "InvalidParameterValueException",
                            "Environment variable %s: names are non-empty without '=', values "
                            "are strings", k);
                return false;
            }
            for (size_t i = 0; i < sizeof reserved_env / sizeof reserved_env[0]; i++)
                if (!strcmp(k, reserved_env[i])) {
                    reply_error(req, 400, "InvalidParameterValueException",
                                "Lambda was unable to configure your environment variables "
                                "because the environment variables you have provided contains "
                                "reserved keys that are currently not supported for "
                                "modification. Reserved keys used in this request: %s", k);
                    return false;
                }
        }
    }
    if (!creating && !env)
        goto out_keep_env;
    free(f->env);
    f->env = vars ? json_dumps(vars, JSON_COMPACT) : strdup("{}");
    if (!f->env) {
        reply_error(req, 500, "ServiceException", "out of memory");
        return false;
    }
    if (strlen(f->env) > LAMBDA_MAX_ENV) {
        reply_error(req, 400, "InvalidParameterValueException",
                    "Lambda was unable to configure your environment variables because the "
                    "environment variables you have provided exceeded the 4KB limit. String "
                    "measured: %.200s", f->env);
        return false;
    }
out_keep_env:
    scopy(f->runtime, sizeof f->runtime, runtime);
    scopy(f->handler, sizeof f->handler, handler);
    scopy(f->role, sizeof f->role, role);
    if (creating || desc)
        scopy(f->description, sizeof f->description, desc ? desc : "");
    return true;
}

static void op_create(struct http_req *req, const char *region)
{
    struct lambda_fn f;
    unsigned char *zip = NULL;
    size_t zlen = 0;
    char msg[600];
    memset(&f, 0, sizeof f);
    if (lambda_worker_unavailable()) {
        reply_error(req, 400, "InvalidParameterValueException",
                    "%s: hydrant does not accept function code", lambda_worker_unavailable());
        return;
    }
    json_t *body = parse_body(req);
    if (!body)
        return;
    if (refuse_unsupported(req, body))
        goto out_free;
    const char *name = json_string_value(json_object_get(body, "FunctionName"));
    json_t *code = json_object_get(body, "Code");
    if (!name || !json_is_object(json_object_get(body, "Code"))) {
        reply_error(req, 400, "InvalidParameterValueException", "%s is required",
                    !name ? "FunctionName" : "Code");
        goto out_free;
    }
    struct fn_ref ref;
    if (parse_ref(name, region, &ref) != HY_OK || ref.qualifier[0]) {
        VALIDATION(req, "Value '%s' at 'functionName' failed to satisfy constraint: Member "
                   "must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?"
                   "([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)"
                   "(:(\\$LATEST|[a-zA-Z0-9-_]+))?", name);
        goto out_free;
    }
    if (!apply_config(req, body, &f, true))
        goto out_free;
    if (json_object_get(code, "S3Bucket") || json_object_get(code, "ImageUri")) {
        reply_error(req, 400, "InvalidParameterValueException",
                    "hydrant takes function code as Code.ZipFile only (S3Bucket/S3Key and "
                    "ImageUri are not supported)");
        goto out_free;
    }
    if (!decode_zip(req, json_object_get(code, "ZipFile"), &zip, &zlen))
        goto out_free;
    scopy(f.region, sizeof f.region, ref.region);
    scopy(f.name, sizeof f.name, ref.name);
    f.code_size = (long long)zlen;
    f.last_modified = hy_now_ms();
    hy_uuid4(f.revision);
    struct lambda_fn existing;
    if (db_get(f.region, f.name, &existing) == HY_OK) {
        lambda_worker_fn_clear(&existing);
        reply_error(req, 409, "ResourceConflictException", "Function already exist: %s",
                    f.name);
        goto out_free;
    }
    int rc = store_code(f.region, f.name, zip, zlen, f.code_sha256, f.code_hex, msg,
                        sizeof msg);
    if (rc != HY_OK) {
        reply_store_error(req, rc, msg);
        goto out_free;
    }
    pthread_mutex_lock(&db_lock);
    rc = db_put_locked(&f, true);
    pthread_mutex_unlock(&db_lock);
    if (rc == HY_EEXIST) {
        /* lost a race with another CreateFunction of that name: its code
         * stays, ours goes (unless it is the same code) */
        struct lambda_fn winner;
        if (db_get(f.region, f.name, &winner) == HY_OK) {
            if (strcmp(winner.code_hex, f.code_hex)) {
                char dir[4400];
                lambda_worker_code_dir(dir, sizeof dir, f.region, f.name, f.code_hex);
                rm_tree(dir);
            }
            lambda_worker_fn_clear(&winner);
        }
        reply_error(req, 409, "ResourceConflictException", "Function already exist: %s",
                    f.name);
        goto out_free;
    }
    if (rc != HY_OK) {
        reply_error(req, 500, "ServiceException", "the function catalog: %s",
                    hy_strerror(rc));
        goto out_free;
    }
    lambda_worker_retire(f.region, f.name); /* a pool of an earlier function of that name */
    log_info("lambda", "created %s (%s, %s, %lld bytes of code)", f.name, f.runtime,
             f.handler, f.code_size);
    json_t *out = fn_config_json(&f);
    reply_json(req, 201, out);
    json_decref(out);
out_free:
    free(zip);
    lambda_worker_fn_clear(&f);
    json_decref(body);
}

/* The function the path names; answers and returns false when not found. */
static bool lookup(struct http_req *req, const char *region, struct lambda_fn *f,
                   struct fn_ref *ref)
{
    const char *seg;
    size_t seg_len;
    char raw[512], name[512];
    if (!route(req->method, req->path, &seg, &seg_len) || seg_len >= sizeof raw) {
        reply_error(req, 400, "InvalidParameterValueException", "bad function name");
        return false;
    }
    memcpy(raw, seg, seg_len);
    raw[seg_len] = 0;
    long n = url_decode(name, raw, seg_len, false);
    if (n < 0 || memchr(name, 0, (size_t)n)) {
        reply_error(req, 400, "InvalidParameterValueException", "bad function name");
        return false;
    }
    name[n] = 0;
    if (parse_ref(name, region, ref) != HY_OK) {
        VALIDATION(req, "Value '%s' at 'functionName' failed to satisfy constraint: Member "
                   "must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?"
                   "([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?"
                   "([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?", name);
        return false;
    }
    const char *q = http_query_get(req, "Qualifier");
    if (q && *q && !ref->qualifier[0])
        scopy(ref->qualifier, sizeof ref->qualifier, q);
    if (ref->qualifier[0] && strcmp(ref->qualifier, "$LATEST") != 0) {
        reply_error(req, 404, "ResourceNotFoundException",
                    "Function not found: arn:aws:lambda:%s:%s:function:%s:%s", ref->region,
                    ref->account, ref->name, ref->qualifier);
        return false;
    }
    int rc = strcmp(ref->account, HY_ACCOUNT_ID) ? HY_ENOTFOUND
                                                 : db_get(ref->region, ref->name, f);
    if (rc == HY_ENOTFOUND) {
        reply_error(req, 404, "ResourceNotFoundException",
                    "Function not found: arn:aws:lambda:%s:%s:function:%s", ref->region,
                    ref->account, ref->name);
        return false;
    }
    if (rc != HY_OK) {
        reply_error(req, 500, "ServiceException", "the function catalog: %s",
                    hy_strerror(rc));
        return false;
    }
    return true;
}

static void op_get(struct http_req *req, const char *region, bool config_only)
{
    struct lambda_fn f;
    struct fn_ref ref;
    if (!lookup(req, region, &f, &ref))
        return;
    json_t *conf = fn_config_json(&f);
    json_t *out = config_only ? json_incref(conf)
                              : json_pack("{s:O, s:{s:s}}", "Configuration", conf, "Code",
                                          "RepositoryType", "S3");
    reply_json(req, 200, out);
    json_decref(out);
    json_decref(conf);
    lambda_worker_fn_clear(&f);
}

static void op_delete(struct http_req *req, const char *region)
{
    struct lambda_fn f;
    struct fn_ref ref;
    char dir[4400];
    if (!lookup(req, region, &f, &ref))
        return;
    pthread_mutex_lock(&db_lock);
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(lambda_db, "DELETE FROM functions WHERE region = ? AND "
                                 "name = ?", -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, f.region, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, f.name, -1, SQLITE_TRANSIENT);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db_lock);
    if (src != SQLITE_DONE) {
        reply_error(req, 500, "ServiceException", "the function catalog: %s",
                    sqlite3_errstr(src));
        lambda_worker_fn_clear(&f);
        return;
    }
    lambda_worker_retire(f.region, f.name);
    snprintf(dir, sizeof dir, "%s/%s/%s", lambda_dir, f.region, f.name);
    rm_tree(dir);
    log_info("lambda", "deleted %s", f.name);
    lambda_worker_fn_clear(&f);
    http_reply(req, 204, "application/json", "", 0);
}

static void op_list(struct http_req *req, const char *region)
{
    const char *marker = http_query_get(req, "Marker");
    const char *max = http_query_get(req, "MaxItems");
    long limit = 50;
    if (max) {
        char *end;
        limit = strtol(max, &end, 10);
        if (!*max || *end || limit < 1 || limit > 10000) {
            VALIDATION(req, "Value '%s' at 'maxItems' failed to satisfy constraint: Member "
                       "must have value between 1 and 10000", max);
            return;
        }
    }
    json_t *list = json_array();
    json_t *out = json_object();
    sqlite3_stmt *st = NULL;
    char last[65] = "";
    bool more = false;
    pthread_mutex_lock(&db_lock);
    int src = sqlite3_prepare_v2(lambda_db, "SELECT " FN_COLS " FROM functions WHERE region "
                                 "= ? AND name > ? ORDER BY name LIMIT ?", -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, region, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, marker ? marker : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, limit + 1);
        long count = 0;
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            if (count++ == limit) {
                more = true;
                continue;
            }
            struct lambda_fn f;
            if (fn_from_row(st, &f) == HY_OK && list)
                json_array_append_new(list, fn_config_json(&f));
            scopy(last, sizeof last, f.name);
            lambda_worker_fn_clear(&f);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db_lock);
    if (src != SQLITE_DONE || !list || !out) {
        reply_error(req, 500, "ServiceException", "the function catalog: %s",
                    sqlite3_errstr(src));
        json_decref(list);
        json_decref(out);
        return;
    }
    json_object_set_new(out, "Functions", list);
    if (more)
        json_object_set_new(out, "NextMarker", json_string(last));
    reply_json(req, 200, out);
    json_decref(out);
}

static void op_update_code(struct http_req *req, const char *region)
{
    struct lambda_fn f, old;
    struct fn_ref ref;
    unsigned char *zip = NULL;
    size_t zlen = 0;
    char msg[600];
    if (lambda_worker_unavailable()) {
        reply_error(req, 400, "InvalidParameterValueException",
                    "%s: hydrant does not accept function code", lambda_worker_unavailable());
        return;
    }
    json_t *body = parse_body(req);
    if (!body)
        return;
    if (!lookup(req, region, &f, &ref)) {
        json_decref(body);
        return;
    }
    memset(&old, 0, sizeof old);
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (strcmp(k, "ZipFile") && strcmp(k, "DryRun") && strcmp(k, "RevisionId") &&
            strcmp(k, "Publish") && strcmp(k, "Architectures") && !json_is_null(v)) {
            reply_error(req, 400, "InvalidParameterValueException",
                        "hydrant's Lambda does not support %s (code comes as ZipFile)", k);
            goto out_free;
        }
    }
    if (json_is_true(json_object_get(body, "Publish"))) {
        reply_error(req, 400, "InvalidParameterValueException",
                    "hydrant's Lambda does not publish versions (Publish must be false)");
        goto out_free;
    }
    const char *rev = json_string_value(json_object_get(body, "RevisionId"));
    if (rev && strcmp(rev, f.revision)) {
        reply_error(req, 412, "PreconditionFailedException",
                    "The Revision Id provided does not match the latest Revision Id. Call the "
                    "GetFunction/GetAlias API to retrieve the latest Revision Id");
        goto out_free;
    }
    if (!decode_zip(req, json_object_get(body, "ZipFile"), &zip, &zlen))
        goto out_free;
    old = f;
    old.env = NULL;
    int rc = store_code(f.region, f.name, zip, zlen, f.code_sha256, f.code_hex, msg,
                        sizeof msg);
    if (rc != HY_OK) {
        reply_store_error(req, rc, msg);
        goto out_free;
    }
    f.code_size = (long long)zlen;
    if (json_is_true(json_object_get(body, "DryRun"))) {
        /* validated and unpacked; nothing changes (the unpacked copy of a
         * code the catalog does not name is removed) */
        if (strcmp(old.code_hex, f.code_hex)) {
            char dir[4400];
            lambda_worker_code_dir(dir, sizeof dir, f.region, f.name, f.code_hex);
            rm_tree(dir);
        }
        json_t *out = fn_config_json(&f);
        reply_json(req, 200, out);
        json_decref(out);
        goto out_free;
    }
    f.last_modified = hy_now_ms();
    hy_uuid4(f.revision);
    pthread_mutex_lock(&db_lock);
    rc = db_put_locked(&f, false);
    pthread_mutex_unlock(&db_lock);
    if (rc != HY_OK) {
        reply_error(req, 500, "ServiceException", "the function catalog: %s",
                    hy_strerror(rc));
        goto out_free;
    }
    lambda_worker_retire(f.region, f.name); /* the next invocation runs the new code */
    if (strcmp(old.code_hex, f.code_hex)) {
        char dir[4400];
        lambda_worker_code_dir(dir, sizeof dir, old.region, old.name, old.code_hex);
        rm_tree(dir);
    }
    log_info("lambda", "updated the code of %s (%lld bytes)", f.name, f.code_size);
    json_t *out = fn_config_json(&f);
    reply_json(req, 200, out);
    json_decref(out);
out_free:
    free(zip);
    lambda_worker_fn_clear(&f);
    json_decref(body);
}

/* ---- Invoke: one thread per invocation in flight ----------------------- */

#define LAMBDA_MAX_INFLIGHT 256   /* HTTP invocations at once; past it 429 */

static pthread_mutex_t inv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t inv_cond = PTHREAD_COND_INITIALIZER;
static int inv_running;
static bool inv_stopping;

struct async_invoke {
    struct http_req *req;   /* NULL for an Event invocation (answered 202) */
    struct lambda_fn f;
    char *payload;          /* Event: a copy of the payload */
    size_t len;
};

#define LAMBDA_MAX_EVENT 262144u  /* AWS: 256 KB for asynchronous invocation */

/* Waits ms unless hydrant is stopping: true when it is. */
static bool stop_wait(int64_t ms)
{
    int64_t deadline = hy_mono_ms() + ms;
    pthread_mutex_lock(&inv_lock);
    while (!inv_stopping && hy_mono_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&inv_cond, &inv_lock, &ts);
    }
    bool stopping = inv_stopping;
    pthread_mutex_unlock(&inv_lock);
    return stopping;
}

/* An Event invocation: run, and on a function error retried twice after
 * one and two minutes, as AWS does; the outcome goes to the log only
 * (hydrant has no event queue, destinations or DLQ: an event still
 * waiting for a retry at SIGTERM, or at a crash, is lost, and logged). */
static void event_invoke(const struct lambda_fn *f, const char *payload, size_t len)
{
    for (int attempt = 1;; attempt++) {
        struct buf out;
        char why[512] = "";
        bool ferr = false;
        buf_init(&out, LAMBDA_MAX_RESPONSE + 4096);
        int rc = lambda_worker_invoke(f, payload, len, &out, &ferr, NULL, why, sizeof why);
        if (rc == HY_OK && !ferr) {
            buf_free(&out);
            return;
        }
        log_warn("lambda", "%s: asynchronous invocation, attempt %d of 3 failed: %.300s",
                 f->name, attempt, rc == HY_OK ? (out.data ? out.data : "") : why);
        buf_free(&out);
        if (attempt == 3)
            return;
        if (stop_wait(attempt * 60000)) {
            log_warn("lambda", "%s: stopping: an asynchronous invocation's retry is dropped",
                     f->name);
            return;
        }
    }
}

/* Runs f on req's payload and answers req (from any thread). */
static void invoke_and_reply(struct http_req *req, const struct lambda_fn *f)
{
    struct buf out, tail;
    char why[512];
    bool ferr = false;
    const char *log_type = http_header(req, "X-Amz-Log-Type");
    bool want_tail = log_type && !strcmp(log_type, "Tail");
    buf_init(&out, LAMBDA_MAX_RESPONSE + 4096);
    buf_init(&tail, 8192);
    why[0] = 0;
    int rc = lambda_worker_invoke(f, req->body, req->body_len, &out, &ferr, want_tail ? &tail : NULL,
                          why, sizeof why);
    if (rc == HY_OK) {
        char rid[37];
        hy_uuid4(rid);
        http_add_header(req, "x-amzn-RequestId", rid);
        http_add_header(req, "X-Amz-Executed-Version", "$LATEST");
        if (want_tail && tail.len)
            http_add_header(req, "X-Amz-Log-Result", tail.data);
        if (ferr)
            http_add_header(req, "X-Amz-Function-Error", "Unhandled");
        http_reply(req, 200, "application/json", out.data ? out.data : "", out.len);
    } else if (rc == HY_EBUSY) {
        reply_error(req, 429, "TooManyRequestsException", "Rate Exceeded.");
    } else if (rc == HY_ESTATE) {
        reply_error(req, 409, "ResourceConflictException", "%s", why);
    } else {
        reply_error(req, 500, "ServiceException", "%s", why[0] ? why : hy_strerror(rc));
    }
    buf_free(&out);
    buf_free(&tail);
}

static void *invoke_main(void *arg)
{
    struct async_invoke *a = arg;
    if (a->req)
        invoke_and_reply(a->req, &a->f);
    else
        event_invoke(&a->f, a->payload, a->len);
    lambda_worker_fn_clear(&a->f);
    free(a->payload);
    free(a);
    pthread_mutex_lock(&inv_lock);
    inv_running--;
    pthread_cond_broadcast(&inv_cond);
    pthread_mutex_unlock(&inv_lock);
    return NULL;
}

/* Starts f's invocation for req on a thread: HY_OK (it answers req; *f
 * is taken, left zeroed), or the request was answered here (stopping, too
 * many in flight, no thread) and *f stays the caller's. */
static int invoke_async(struct http_req *req, struct lambda_fn *f, bool event)
{
    pthread_mutex_lock(&inv_lock);
    bool stopping = inv_stopping, full = inv_running >= LAMBDA_MAX_INFLIGHT;
    if (!stopping && !full)
        inv_running++;
    pthread_mutex_unlock(&inv_lock);
    if (stopping) {
        reply_error(req, 503, "ServiceException", "hydrant is stopping");
        return HY_ESTATE;
    }
    if (full) {
        reply_error(req, 429, "TooManyRequestsException", "Rate Exceeded.");
        return HY_EBUSY;
    }
    struct async_invoke *a = calloc(1, sizeof *a);
    pthread_attr_t attr;
    pthread_t t;
    int rc = HY_ENOMEM;
    if (a && event) {
        a->len = req->body_len;
        if (!(a->payload = malloc(req->body_len + 1))) {
            free(a);
            a = NULL;
        } else {
            memcpy(a->payload, req->body, req->body_len);
        }
    }
    if (a && pthread_attr_init(&attr) == 0) {
        a->req = event ? NULL : req;
        a->f = *f;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, invoke_main, a) == 0)
            rc = HY_OK;
        pthread_attr_destroy(&attr);
    }
    if (rc == HY_OK) {
        memset(f, 0, sizeof *f); /* the thread owns f's env now */
        if (event) {
            char rid[37];
            hy_uuid4(rid);
            http_add_header(req, "x-amzn-RequestId", rid);
            http_reply(req, 202, "application/json", "", 0);
        }
        return HY_OK;
    }
    if (a)
        free(a->payload);
    free(a);
    pthread_mutex_lock(&inv_lock);
    inv_running--;
    pthread_cond_broadcast(&inv_cond);
    pthread_mutex_unlock(&inv_lock);
    reply_error(req, 500, "ServiceException", "cannot start the invocation: out of resources");
    return rc;
}

void lambda_drain(int grace_ms)
{
    pthread_mutex_lock(&inv_lock);
    inv_stopping = true;
    pthread_cond_broadcast(&inv_cond); /* Event retries waiting: give up */
    int64_t deadline = hy_mono_ms() + grace_ms;
    while (inv_running > 0 && hy_mono_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&inv_cond, &inv_lock, &ts);
    }
    int left = inv_running;
    pthread_mutex_unlock(&inv_lock);
    if (left) {
        /* still running past the grace: their workers are killed, each
         * invocation answers (Runtime.ExitError) and its thread ends */
        log_warn("lambda", "stopping: %d invocations still running after %d ms; killing "
                 "their workers", left, grace_ms);
        lambda_worker_kill_all();
        pthread_mutex_lock(&inv_lock);
        while (inv_running > 0)
            pthread_cond_wait(&inv_cond, &inv_lock);
        pthread_mutex_unlock(&inv_lock);
    }
}

static void op_update_config(struct http_req *req, const char *region)
{
    struct lambda_fn f;
    struct fn_ref ref;
    json_t *body = parse_body(req);
    if (!body)
        return;
    if (!lookup(req, region, &f, &ref)) {
        json_decref(body);
        return;
    }
    static const char *const ok[] = {"Role", "Handler", "Description", "Timeout",
                                     "MemorySize", "Environment", "Runtime", "RevisionId"};
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        bool known = false;
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
            known |= !strcmp(k, ok[i]);
        if (!known && !json_is_null(v)) {
            reply_error(req, 400, "InvalidParameterValueException",
                        "hydrant's Lambda does not support %s", k);
            goto out_free;
        }
    }
    const char *rev = json_string_value(json_object_get(body, "RevisionId"));
    if (rev && strcmp(rev, f.revision)) {
        reply_error(req, 412, "PreconditionFailedException",
                    "The Revision Id provided does not match the latest Revision Id. Call the "
                    "GetFunction/GetAlias API to retrieve the latest Revision Id");
        goto out_free;
    }
    if (!apply_config(req, body, &f, false))
        goto out_free;
    f.last_modified = hy_now_ms();
    hy_uuid4(f.revision);
    pthread_mutex_lock(&db_lock);
    int rc = db_put_locked(&f, false);
    pthread_mutex_unlock(&db_lock);
    if (rc != HY_OK) {
        reply_error(req, 500, "ServiceException", "the function catalog: %s",
                    hy_strerror(rc));
        goto out_free;
    }
    lambda_worker_retire(f.region, f.name); /* new workers get the new configuration */
    log_info("lambda", "updated the configuration of %s", f.name);
    json_t *out = fn_config_json(&f);
    reply_json(req, 200, out);
    json_decref(out);
out_free:
    lambda_worker_fn_clear(&f);
    json_decref(body);
}

static void op_invoke(struct http_req *req, const char *region)
{
    struct lambda_fn f;
    struct fn_ref ref;
    const char *type = http_header(req, "X-Amz-Invocation-Type");
    const char *log_type = http_header(req, "X-Amz-Log-Type");
    if (type && strcmp(type, "RequestResponse") && strcmp(type, "DryRun") &&
        strcmp(type, "Event")) {
        VALIDATION(req, "Value '%s' at 'invocationType' failed to satisfy constraint: Member "
                   "must satisfy enum value set: [Event, RequestResponse, DryRun]", type);
        return;
    }
    if (log_type && strcmp(log_type, "None") && strcmp(log_type, "Tail")) {
        VALIDATION(req, "Value '%s' at 'logType' failed to satisfy constraint: Member must "
                   "satisfy enum value set: [Tail, None]", log_type);
        return;
    }
    if (!lookup(req, region, &f, &ref))
        return;
    bool event = type && !strcmp(type, "Event");
    if (req->body_len > LAMBDA_MAX_REQUEST || (event && req->body_len > LAMBDA_MAX_EVENT)) {
        reply_error(req, 413, "RequestTooLargeException",
                    "Request must be smaller than %u bytes for the %s operation",
                    event ? LAMBDA_MAX_EVENT : LAMBDA_MAX_REQUEST,
                    event ? "InvokeAsync" : "InvokeFunction");
        goto out_clear;
    }
    if (req->body_len) {
        json_error_t e;
        json_t *ev = json_loadb(req->body, req->body_len, JSON_DECODE_ANY, &e);
        if (!ev) {
            reply_error(req, 400, "InvalidRequestContentException",
                        "Could not parse request body into json: Could not parse payload "
                        "into json: %s", e.text);
            goto out_clear;
        }
        json_decref(ev);
    }
    if (type && !strcmp(type, "DryRun")) {
        http_add_header(req, "X-Amz-Executed-Version", "$LATEST");
        http_reply(req, 204, "application/json", "", 0);
        goto out_clear;
    }
    /* the invocation runs on a thread of its own and answers from there
     * (http.c suspends the connection until then), so a long function
     * does not hold one of the few HTTP threads */
    if (event && lambda_worker_unavailable()) {
        reply_error(req, 409, "ResourceConflictException", "%s", lambda_worker_unavailable());
        goto out_clear;
    }
    if (invoke_async(req, &f, event) == HY_OK)
        return;
out_clear:
    lambda_worker_fn_clear(&f);
}

void lambda_handle(struct http_req *req, const char *op)
{
    const char *region = req->region ? req->region : hy_cfg.region;
    if (!region_ok(region)) {
        reply_error(req, 400, "InvalidParameterValueException", "bad region '%s'", region);
        return;
    }
    if (!lambda_db) {
        reply_error(req, 500, "ServiceException", "the Lambda catalog is not open");
        return;
    }
    if (!strcmp(op, "CreateFunction"))
        op_create(req, region);
    else if (!strcmp(op, "GetFunction"))
        op_get(req, region, false);
    else if (!strcmp(op, "GetFunctionConfiguration"))
        op_get(req, region, true);
    else if (!strcmp(op, "DeleteFunction"))
        op_delete(req, region);
    else if (!strcmp(op, "ListFunctions"))
        op_list(req, region);
    else if (!strcmp(op, "UpdateFunctionCode"))
        op_update_code(req, region);
    else if (!strcmp(op, "UpdateFunctionConfiguration"))
        op_update_config(req, region);
    else if (!strcmp(op, "Invoke"))
        op_invoke(req, region);
    else
        reply_error(req, 400, "UnknownOperationException", "The operation is not supported.");
}
