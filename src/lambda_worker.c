/* lambda_worker.c -- hydrant's Lambda runtime: the worker processes that
 * run the user's functions, for lambda.c (its API and lambda_invoke).
 *
 * A pool of at most lambda_cfg.workers (--lambda-workers) processes per
 * function, spawned on the first invocation and reused across
 * invocations (module state survives, as on AWS), each running one
 * invocation at a time: /usr/bin/python3 -u bootstrap.py for python3.*,
 * /usr/bin/node --max-old-space-size=<90% of MemorySize> bootstrap.js for
 * nodejs*, in the code directory, in a process group of its own, with
 * AWS's environment (AWS_LAMBDA_FUNCTION_NAME, ..., the function's
 * Environment.Variables) and RLIMIT_AS = MemorySize + headroom for the
 * interpreter (measured on Debian 12: python3.11 starts in under 30 MiB
 * of address space, node 20 needs about 750 MiB of reservations before
 * running anything: 64 MiB and 1 GiB of headroom). A worker that times
 * out is killed (its whole group, SIGKILL) and reaped; one that died is
 * reaped and replaced on the next invocation. A pool whose function
 * changed (UpdateFunctionCode, UpdateFunctionConfiguration,
 * DeleteFunction) is retired: idle workers
 * are killed at once, busy ones when their invocation ends.
 *
 * Worker protocol (bootstrap.py and bootstrap.js speak it): frames on two
 * pipes, the worker's fd 3 (requests) and fd 4 (answers):
 *     u32 big-endian N | u8 type | N-1 bytes of body
 * 'I' (to the worker): one line of JSON {requestId, deadlineMs (epoch ms),
 *     functionArn, functionName, functionVersion, memoryLimitInMB,
 *     logGroupName, logStreamName}, "\n", then the event (JSON bytes).
 * 'R' (from it): the handler's result, JSON. 'E': AWS's error object for
 *     the runtime ({errorMessage, errorType, stackTrace} for Python,
 *     {errorType, errorMessage, trace} for Node.js).
 * An answer over LAMBDA_MAX_RESPONSE is read and dropped
 * (Function.ResponseSizeTooLarge); any other frame, a short read or EOF
 * kills the worker (Runtime.ExitError). The worker's stdout and stderr are
 * one pipe read by a thread per worker; every line is logged at info with
 * the tag "lambda:<function name>", and kept for the invocation when it
 * asked for LogType Tail (the bootstraps write their output unbuffered
 * before the answer frame; log_settle waits until the reader has it).
 *
 * Threading: the pools are guarded by pools_lock, each with a condition
 * variable that invokers wait on for a free worker; the I/O of an
 * invocation happens outside every lock; a log reader thread per worker.
 * Children are forked from a threaded process: between fork and exec
 * they make only async-signal-safe calls.
 */
#include "lambda_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB (1ull << 20)
#define LAMBDA_MAX_WORKERS 64
#define PY_HEADROOM (64ull * MIB)
#define NODE_HEADROOM (1024ull * MIB)

static char wk_root[4096];      /* <data>/lambda: the code */
static char wk_scripts[4096];   /* the bootstrap scripts */
static const char *wk_unavailable = "the Lambda runtime is not open on this server";

void lambda_worker_setup(const char *lambda_dir, const char *scripts, const char *unavailable)
{
    snprintf(wk_root, sizeof wk_root, "%s", lambda_dir);
    snprintf(wk_scripts, sizeof wk_scripts, "%s", scripts ? scripts : "");
    wk_unavailable = unavailable;
}

const char *lambda_worker_unavailable(void)
{
    return wk_unavailable;
}

void lambda_worker_fn_clear(struct lambda_fn *f)
{
    free(f->env);
    f->env = NULL;
}

void lambda_worker_code_dir(char *out, size_t size, const char *region, const char *name,
                            const char *hex)
{
    snprintf(out, size, "%s/%s/%s/%s", wk_root, region, name, hex);
}

void lambda_worker_arn(char *out, size_t size, const char *region, const char *name)
{
    snprintf(out, size, "arn:aws:lambda:%s:%s:function:%s", region, HY_ACCOUNT_ID, name);
}

/* In a child between fork and exec (async-signal-safe calls only): the
 * signal mask main.c set for its threads (SIGTERM, SIGINT, SIGHUP
 * blocked) and its ignored SIGPIPE would be inherited across exec; the
 * user's code gets the defaults. */
void lambda_worker_child_signals(void)
{
    sigset_t none;
    struct sigaction dfl;
    sigemptyset(&none);
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, NULL);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* ---- pools of workers ---------------------------------------------------- */

struct pool;

struct worker {
    pid_t pid;
    int to_fd, from_fd, log_fd;
    pthread_t log_thread;
    bool log_started;
    volatile bool log_stop;
    bool busy;
    char tag[80];           /* "lambda:<name>" */
    char log_stream[80];
    /* LogType Tail: the lines of the invocation in progress */
    pthread_mutex_t log_mu;
    bool capturing;
    bool in_poll;           /* the log reader is waiting: nothing half-read */
    struct buf captured;    /* ceiling LAMBDA_LOG_CAPTURE */
};

#define LAMBDA_LOG_CAPTURE (64u * 1024)
#define LAMBDA_LOG_TAIL 4096 /* AWS: the last 4 KB of the log */

struct pool {
    struct pool *next;
    char region[33], name[65], revision[37];
    struct lambda_fn conf;          /* a copy; conf.env owned */
    struct worker *w[LAMBDA_MAX_WORKERS];
    int nslots;              /* slots in use or being spawned */
    int refs;                /* invocations holding the pool */
    bool retired;
    pthread_cond_t cond;
};

static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool *pools;

/* One line of the function's output: to hydrant's log, and to the
 * invocation's captured log when LogType Tail asked for it (the newest
 * LAMBDA_LOG_CAPTURE bytes are kept). */
static void log_line(struct worker *w, const char *line)
{
    log_info(w->tag, "%s", line);
    pthread_mutex_lock(&w->log_mu);
    if (w->capturing) {
        size_t n = strlen(line);
        if (w->captured.len + n + 1 > LAMBDA_LOG_CAPTURE) {
            size_t drop = w->captured.len + n + 1 - LAMBDA_LOG_CAPTURE;
            if (drop > w->captured.len)
                drop = w->captured.len;
            memmove(w->captured.data, w->captured.data + drop, w->captured.len - drop);
            w->captured.len -= drop;
        }
        if (n + 1 <= LAMBDA_LOG_CAPTURE && buf_append(&w->captured, line, n) == HY_OK)
            buf_append(&w->captured, "\n", 1);
    }
    pthread_mutex_unlock(&w->log_mu);
}

static void *log_main(void *arg)
{
    struct worker *w = arg;
    char line[1024];
    size_t used = 0;
    for (;;) {
        struct pollfd pfd = {w->log_fd, POLLIN, 0};
        pthread_mutex_lock(&w->log_mu);
        w->in_poll = true;
        pthread_mutex_unlock(&w->log_mu);
        int pr = poll(&pfd, 1, 200);
        pthread_mutex_lock(&w->log_mu);
        w->in_poll = false;
        pthread_mutex_unlock(&w->log_mu);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0) {
            if (w->log_stop)
                break;
            continue;
        }
        char buf[4096];
        ssize_t n = read(w->log_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n' || used == sizeof line - 1) {
                line[used] = 0;
                log_line(w, line);
                used = 0;
                if (buf[i] == '\n')
                    continue;
            }
            line[used++] = buf[i];
        }
    }
    if (used) {
        line[used] = 0;
        log_line(w, line);
    }
    return NULL;
}

/* Waits (at most 200 ms) until the log reader has taken in everything the
 * worker wrote before its answer: the bootstraps write their output
 * unbuffered, before the answer frame, so once the pipe is empty and the
 * reader is back in poll() the invocation's lines are all captured. */
static void log_settle(struct worker *w)
{
    for (int i = 0; i < 200; i++) {
        int pending = 0;
        pthread_mutex_lock(&w->log_mu);
        bool idle = w->in_poll;
        pthread_mutex_unlock(&w->log_mu);
        if (ioctl(w->log_fd, FIONREAD, &pending) != 0 || (idle && pending == 0))
            return;
        usleep(1000);
    }
}

/* Kills the worker's process group, reaps it, closes its pipes, joins
 * its log reader and frees it. */
static void worker_destroy(struct worker *w)
{
    if (!w)
        return;
    if (w->pid > 0) {
        kill(-w->pid, SIGKILL);
        kill(w->pid, SIGKILL);
        while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (w->to_fd >= 0)
        close(w->to_fd);
    if (w->from_fd >= 0)
        close(w->from_fd);
    if (w->log_started) {
        w->log_stop = true;
        pthread_join(w->log_thread, NULL);
    }
    if (w->log_fd >= 0)
        close(w->log_fd);
    buf_free(&w->captured);
    pthread_mutex_destroy(&w->log_mu);
    free(w);
}

/* Whether the worker's process has exited (then it is reaped). */
static bool worker_dead(struct worker *w)
{
    int status;
    pid_t r = waitpid(w->pid, &status, WNOHANG);
    if (r == w->pid) {
        w->pid = -1; /* reaped */
        return true;
    }
    return r < 0 && errno == ECHILD;
}

static char *env_entry(const char *k, const char *v)
{
    size_t n = strlen(k) + strlen(v) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s=%s", k, v);
    return s;
}

static void free_strv(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

static bool is_python(const char *runtime)
{
    return strncmp(runtime, "python3", 7) == 0;
}

/* Spawns a worker for conf. HY_OK (*out), HY_ENOMEM, HY_EIO. */
static int worker_spawn(const struct lambda_fn *conf, struct worker **out)
{
    int rc = HY_ENOMEM;
    int req[2] = {-1, -1}, resp[2] = {-1, -1}, logp[2] = {-1, -1};
    char **envp = NULL, **argv = NULL;
    char dir[4400], script[4300], memflag[64], memstr[16], arn[200], logroup[100];
    struct worker *w = calloc(1, sizeof *w);
    if (!w)
        return HY_ENOMEM;
    w->pid = -1;
    w->to_fd = w->from_fd = w->log_fd = -1;
    pthread_mutex_init(&w->log_mu, NULL);
    buf_init(&w->captured, LAMBDA_LOG_CAPTURE);
    snprintf(w->tag, sizeof w->tag, "lambda:%s", conf->name);
    {
        unsigned char rnd[16];
        char h[33];
        hy_random(rnd, sizeof rnd);
        hex_encode(h, rnd, sizeof rnd);
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(w->log_stream, sizeof w->log_stream, "%04d/%02d/%02d/[$LATEST]%s",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, h);
    }
    lambda_worker_code_dir(dir, sizeof dir, conf->region, conf->name, conf->code_hex);
    bool py = is_python(conf->runtime);
    snprintf(script, sizeof script, "%s/%s", wk_scripts, py ? "bootstrap.py" : "bootstrap.js");
    snprintf(memstr, sizeof memstr, "%d", conf->memory);
    snprintf(memflag, sizeof memflag, "--max-old-space-size=%d", conf->memory * 9 / 10);
    lambda_worker_arn(arn, sizeof arn, conf->region, conf->name);
    snprintf(logroup, sizeof logroup, "/aws/lambda/%s", conf->name);

    /* the environment: the user's variables, then AWS's (reserved keys
     * were refused at create, so they cannot be overridden) */
    json_t *vars = json_loads(conf->env ? conf->env : "{}", 0, NULL);
    size_t nuser = json_is_object(vars) ? json_object_size(vars) : 0;
    envp = calloc(nuser + 24, sizeof *envp);
    argv = calloc(6, sizeof *argv);
    if (!envp || !argv)
        goto out_fail;
    size_t ne = 0;
    const char *k;
    json_t *v;
    if (nuser)
        json_object_foreach(vars, k, v) {
            if (json_is_string(v) && !(envp[ne++] = env_entry(k, json_string_value(v))))
                goto out_fail;
        }
    char execenv[64];
    snprintf(execenv, sizeof execenv, "AWS_Lambda_%s", conf->runtime);
    const char *fixed[][2] = {
        {"PATH", "/usr/local/bin:/usr/bin:/bin"},
        {"LANG", "C.UTF-8"},
        {"TZ", ":UTC"},
        {"LAMBDA_TASK_ROOT", dir},
        {"LAMBDA_RUNTIME_DIR", wk_scripts},
        {"_HANDLER", conf->handler},
        {"AWS_REGION", conf->region},
        {"AWS_DEFAULT_REGION", conf->region},
        {"AWS_EXECUTION_ENV", execenv},
        {"AWS_LAMBDA_FUNCTION_NAME", conf->name},
        {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memstr},
        {"AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"},
        {"AWS_LAMBDA_LOG_GROUP_NAME", logroup},
        {"AWS_LAMBDA_LOG_STREAM_NAME", w->log_stream},
        {"AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!(envp[ne++] = env_entry(fixed[i][0], fixed[i][1])))
            goto out_fail;
    size_t na = 0;
    if (!(argv[na++] = strdup(py ? lambda_cfg.python : lambda_cfg.node)))
        goto out_fail;
    if (py) {
        if (!(argv[na++] = strdup("-u")))
            goto out_fail;
    } else if (!(argv[na++] = strdup(memflag))) {
        goto out_fail;
    }
    if (!(argv[na++] = strdup(script)))
        goto out_fail;

    rc = HY_EIO;
    if (pipe2(req, O_CLOEXEC) || pipe2(resp, O_CLOEXEC) || pipe2(logp, O_CLOEXEC))
        goto out_fail;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct rlimit as;
    as.rlim_cur = as.rlim_max = (rlim_t)conf->memory * MIB + (py ? PY_HEADROOM : NODE_HEADROOM);
    pid_t pid = fork();
    if (pid == 0) {
        /* only async-signal-safe calls from here to exec */
        setpgid(0, 0);
        int a = fcntl(req[0], F_DUPFD, 10), b = fcntl(resp[1], F_DUPFD, 10),
            c = fcntl(logp[1], F_DUPFD, 10);
        if (a < 0 || b < 0 || c < 0)
            _exit(126);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(c, 1);
        dup2(c, 2);
        dup2(a, 3);
        dup2(b, 4);
        close_range(5, ~0U, 0);
        lambda_worker_child_signals();
        setrlimit(RLIMIT_AS, &as);
        if (chdir(dir) != 0)
            _exit(126);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    if (devnull >= 0)
        close(devnull);
    close(req[0]), req[0] = -1;
    close(resp[1]), resp[1] = -1;
    close(logp[1]), logp[1] = -1;
    if (pid < 0)
        goto out_fail;
    setpgid(pid, pid); /* also from here: no window where kill(-pid) misses */
    w->pid = pid;
    w->to_fd = req[1], req[1] = -1;
    w->from_fd = resp[0], resp[0] = -1;
    w->log_fd = logp[0], logp[0] = -1;
    if (pthread_create(&w->log_thread, NULL, log_main, w) == 0)
        w->log_started = true;
    log_info("lambda", "%s: worker %ld started (%s, %d MB, address space %llu MiB)",
             conf->name, (long)pid, conf->runtime, conf->memory,
             (unsigned long long)(as.rlim_cur / MIB));
    json_decref(vars);
    free_strv(envp);
    free_strv(argv);
    *out = w;
    return HY_OK;

out_fail:
    json_decref(vars);
    free_strv(envp);
    free_strv(argv);
    for (int i = 0; i < 2; i++) {
        if (req[i] >= 0)
            close(req[i]);
        if (resp[i] >= 0)
            close(resp[i]);
        if (logp[i] >= 0)
            close(logp[i]);
    }
    worker_destroy(w);
    return rc;
}

/* A slot being spawned holds the pool's own address (pool_acquire) until
 * its worker is in: not a worker. */
#define SPAWNING(p) ((struct worker *)(void *)(p))
static bool is_worker(const struct pool *p, const struct worker *w)
{
    return w && w != (const struct worker *)(const void *)p;
}

/* Frees a pool nobody holds. Caller holds pools_lock, pool unlinked. */
static void pool_free(struct pool *p)
{
    for (int i = 0; i < LAMBDA_MAX_WORKERS; i++)
        if (is_worker(p, p->w[i]))
            worker_destroy(p->w[i]);
    pthread_cond_destroy(&p->cond);
    lambda_worker_fn_clear(&p->conf);
    free(p);
}

static void pool_unlink(struct pool *p)
{
    for (struct pool **pp = &pools; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    p->next = NULL;
}

/* Retires region/name's pool: unlinked; idle workers killed; freed now
 * or when its last invocation ends. Caller holds pools_lock. */
static void pool_retire_locked(const char *region, const char *name)
{
    for (struct pool *p = pools; p; p = p->next) {
        if (strcmp(p->region, region) || strcmp(p->name, name))
            continue;
        pool_unlink(p);
        p->retired = true;
        for (int i = 0; i < LAMBDA_MAX_WORKERS; i++)
            if (is_worker(p, p->w[i]) && !p->w[i]->busy) {
                worker_destroy(p->w[i]);
                p->w[i] = NULL;
                p->nslots--;
            }
        pthread_cond_broadcast(&p->cond);
        if (p->refs == 0)
            pool_free(p);
        return;
    }
}

void lambda_worker_retire(const char *region, const char *name)
{
    pthread_mutex_lock(&pools_lock);
    pool_retire_locked(region, name);
    pthread_mutex_unlock(&pools_lock);
}

/* The pool for f (made when missing or stale), held (refs + 1).
 * Caller holds pools_lock. NULL when out of memory. */
static struct pool *pool_get_locked(const struct lambda_fn *f)
{
    for (struct pool *p = pools; p; p = p->next)
        if (!strcmp(p->region, f->region) && !strcmp(p->name, f->name)) {
            if (!strcmp(p->revision, f->revision)) {
                p->refs++;
                return p;
            }
            pool_retire_locked(f->region, f->name);
            break;
        }
    struct pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->conf = *f;
    p->conf.env = strdup(f->env ? f->env : "{}");
    if (!p->conf.env || pthread_cond_init(&p->cond, NULL) != 0) {
        free(p->conf.env);
        free(p);
        return NULL;
    }
    _Static_assert(sizeof p->region == sizeof f->region && sizeof p->name == sizeof f->name &&
                   sizeof p->revision == sizeof f->revision, "pool keys are lambda_fn's");
    memcpy(p->region, f->region, sizeof p->region);
    memcpy(p->name, f->name, sizeof p->name);
    memcpy(p->revision, f->revision, sizeof p->revision);
    p->next = pools;
    pools = p;
    p->refs = 1;
    return p;
}

/* Gives the worker back (dead: destroyed, its slot freed) and drops the
 * pool reference. */
static void pool_release(struct pool *p, int slot, bool dead)
{
    pthread_mutex_lock(&pools_lock);
    struct worker *w = slot >= 0 ? p->w[slot] : NULL;
    if (w && (dead || p->retired)) {
        p->w[slot] = NULL;
        p->nslots--;
        worker_destroy(w);
    } else if (w) {
        w->busy = false;
    }
    pthread_cond_signal(&p->cond);
    if (--p->refs == 0 && p->retired)
        pool_free(p);
    pthread_mutex_unlock(&pools_lock);
}

/* A worker of p, busy for the caller, in *slot. HY_OK, HY_EBUSY (none
 * free by deadline_mono), HY_ENOMEM, HY_EIO (spawn failed). */
static int pool_acquire(struct pool *p, int64_t deadline_mono, int *slot)
{
    int rc = HY_OK;
    int max = lambda_cfg.workers < 1 ? 1
              : lambda_cfg.workers > LAMBDA_MAX_WORKERS ? LAMBDA_MAX_WORKERS
              : lambda_cfg.workers;
    pthread_mutex_lock(&pools_lock);
    for (;;) {
        for (int i = 0; i < LAMBDA_MAX_WORKERS; i++) {
            struct worker *w = p->w[i];
            if (!is_worker(p, w) || w->busy)
                continue;
            if (worker_dead(w)) {
                /* died between invocations: replaced below */
                log_warn("lambda", "%s: idle worker exited; replacing it", p->name);
                p->w[i] = NULL;
                p->nslots--;
                worker_destroy(w);
                continue;
            }
            w->busy = true;
            *slot = i;
            goto out_unlock;
        }
        if (p->nslots < max && !p->retired) {
            int i = 0;
            while (p->w[i])
                i++;
            p->w[i] = SPAWNING(p); /* reserved while spawning */
            p->nslots++;
            pthread_mutex_unlock(&pools_lock);
            struct worker *w = NULL;
            rc = worker_spawn(&p->conf, &w);
            pthread_mutex_lock(&pools_lock);
            if (rc != HY_OK) {
                p->w[i] = NULL;
                p->nslots--;
                pthread_cond_signal(&p->cond);
                goto out_unlock;
            }
            w->busy = true;
            p->w[i] = w;
            *slot = i;
            goto out_unlock;
        }
        int64_t left = deadline_mono - hy_mono_ms();
        if (left <= 0) {
            rc = HY_EBUSY;
            goto out_unlock;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (left % 1000) * 1000000LL;
        ts.tv_sec += left / 1000 + ns / 1000000000LL;
        ts.tv_nsec = ns % 1000000000LL;
        pthread_cond_timedwait(&p->cond, &pools_lock, &ts);
    }
out_unlock:
    pthread_mutex_unlock(&pools_lock);
    return rc;
}

/* Reads exactly n bytes by deadline (mono ms): 0, -1 EOF/error, -2 timeout. */
static int read_full(int fd, void *p, size_t n, int64_t deadline)
{
    unsigned char *d = p;
    while (n) {
        int64_t left = deadline - hy_mono_ms();
        if (left <= 0)
            return -2;
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = poll(&pfd, 1, left > 1000000 ? 1000000 : (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return -1;
        if (pr == 0)
            continue;
        ssize_t got = read(fd, d, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        d += got;
        n -= (size_t)got;
    }
    return 0;
}

static int error_payload(struct buf *out, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int error_payload(struct buf *out, const char *type, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s, s:s}", "errorType", type, "errorMessage", msg);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        return HY_ENOMEM;
    int rc = buf_puts(out, s);
    free(s);
    return rc;
}

/* One invocation on hydrant's runtime (f from the catalog). */
/* The worker's peak resident memory in MB (AWS's "Max Memory Used"), 0
 * when unknown. */
static long peak_mb(pid_t pid)
{
    char path[64], line[256];
    long kb = 0;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *fp = pid > 0 ? fopen(path, "re") : NULL;
    if (!fp)
        return 0;
    while (fgets(line, sizeof line, fp))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(fp);
    return (kb + 1023) / 1024;
}

/* AWS's LogType Tail: START, the function's lines, END and REPORT; the
 * last 4 KB, base64, into tail. */
static void tail_log(struct worker *w, const struct lambda_fn *f, const char *rid, int64_t ms,
                     long mem, struct buf *tail)
{
    struct buf all;
    buf_init(&all, LAMBDA_LOG_CAPTURE + 1024);
    pthread_mutex_lock(&w->log_mu);
    w->capturing = false;
    buf_printf(&all, "START RequestId: %s Version: $LATEST\n", rid);
    if (w->captured.len)
        buf_append(&all, w->captured.data, w->captured.len);
    buf_reset(&w->captured);
    pthread_mutex_unlock(&w->log_mu);
    buf_printf(&all, "END RequestId: %s\nREPORT RequestId: %s\tDuration: %lld.00 ms\t"
               "Billed Duration: %lld ms\tMemory Size: %d MB\tMax Memory Used: %ld MB\t\n",
               rid, rid, (long long)ms, (long long)(ms ? ms : 1), f->memory, mem);
    size_t from = all.len > LAMBDA_LOG_TAIL ? all.len - LAMBDA_LOG_TAIL : 0;
    if (buf_reserve(tail, base64_encoded_len(all.len - from) + 1) == HY_OK) {
        base64_encode(tail->data + tail->len, all.data ? all.data + from : "", all.len - from);
        tail->len += strlen(tail->data + tail->len);
    }
    buf_free(&all);
}

int lambda_worker_invoke(const struct lambda_fn *f, const void *payload, size_t len, struct buf *out,
                        bool *function_error, struct buf *log_tail, char *why, size_t why_len)
{
    int rc, slot = -1;
    bool dead = false;
    char rid[37], arn[200];
    json_t *h = NULL;
    char *hs = NULL;
    unsigned char *frame = NULL;
    *function_error = false;
    if (wk_unavailable) {
        snprintf(why, why_len, "%s", wk_unavailable);
        return HY_ESTATE;
    }
    hy_uuid4(rid);
    lambda_worker_arn(arn, sizeof arn, f->region, f->name);
    int64_t t0 = hy_mono_ms();
    int64_t deadline = t0 + (int64_t)f->timeout * 1000;
    int64_t deadline_wall = hy_now_ms() + (int64_t)f->timeout * 1000;

    pthread_mutex_lock(&pools_lock);
    struct pool *p = pool_get_locked(f);
    pthread_mutex_unlock(&pools_lock);
    if (!p) {
        snprintf(why, why_len, "out of memory");
        return HY_ENOMEM;
    }
    rc = pool_acquire(p, deadline, &slot);
    if (rc != HY_OK) {
        snprintf(why, why_len, rc == HY_EBUSY ? "Rate Exceeded." :
                 "cannot start a worker for %s: %s", f->name, hy_strerror(rc));
        pool_release(p, -1, false);
        return rc;
    }
    /* the worker is ours until pool_release; its struct stays put */
    pthread_mutex_lock(&pools_lock);
    struct worker *w = p->w[slot];
    pthread_mutex_unlock(&pools_lock);
    log_info("lambda", "%s: START RequestId: %s Version: $LATEST (worker %ld)", f->name, rid,
             (long)w->pid);

    rc = HY_ENOMEM;
    h = json_pack("{s:s, s:I, s:s, s:s, s:s, s:i, s:s, s:s}", "requestId", rid, "deadlineMs",
                  (json_int_t)deadline_wall, "functionArn", arn, "functionName", f->name,
                  "functionVersion", "$LATEST", "memoryLimitInMB", f->memory,
                  "logGroupName", "", "logStreamName", w->log_stream);
    if (h) {
        char lg[100];
        snprintf(lg, sizeof lg, "/aws/lambda/%s", f->name);
        json_object_set_new(h, "logGroupName", json_string(lg));
    }
    hs = h ? json_dumps(h, JSON_COMPACT) : NULL;
    if (!hs)
        goto out_release;
    size_t hlen = strlen(hs);
    size_t body = 1 + hlen + 1 + len;
    frame = malloc(4 + body);
    if (!frame)
        goto out_release;
    frame[0] = (unsigned char)(body >> 24), frame[1] = (unsigned char)(body >> 16);
    frame[2] = (unsigned char)(body >> 8), frame[3] = (unsigned char)body;
    frame[4] = 'I';
    memcpy(frame + 5, hs, hlen);
    frame[5 + hlen] = '\n';
    if (len)
        memcpy(frame + 6 + hlen, payload, len);
    if (log_tail) {
        pthread_mutex_lock(&w->log_mu);
        buf_reset(&w->captured);
        w->capturing = true;
        pthread_mutex_unlock(&w->log_mu);
    }
    if (write_all(w->to_fd, frame, 4 + body) != HY_OK) {
        dead = true;
        rc = error_payload(out, "Runtime.ExitError",
                           "RequestId: %s Error: Runtime exited without providing a reason",
                           rid);
        *function_error = true;
        goto out_release;
    }
    unsigned char head[5];
    int r = read_full(w->from_fd, head, 5, deadline);
    if (r == -2) {
        dead = true;
        log_info("lambda", "%s: %s Task timed out after %d.00 seconds", f->name, rid,
                 f->timeout);
        rc = error_payload(out, "Sandbox.Timedout",
                           "RequestId: %s Error: Task timed out after %d.00 seconds", rid,
                           f->timeout);
        *function_error = true;
        goto out_release;
    }
    uint32_t n = r == 0 ? ((uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 |
                           (uint32_t)head[2] << 8 | head[3]) : 0;
    if (r != 0 || n < 1 || (head[4] != 'R' && head[4] != 'E')) {
        dead = true;
        int status = 0;
        bool exited = false;
        for (int i = 0; i < 50 && !exited; i++) {
            pid_t wr = waitpid(w->pid, &status, WNOHANG);
            if (wr == w->pid) {
                exited = true;
                w->pid = -1;
            } else {
                usleep(10000);
            }
        }
        char reason[64] = "Runtime exited without providing a reason";
        if (exited && WIFEXITED(status))
            snprintf(reason, sizeof reason, "Runtime exited with error: exit status %d",
                     WEXITSTATUS(status));
        else if (exited && WIFSIGNALED(status))
            snprintf(reason, sizeof reason, "Runtime exited with error: signal: %s",
                     WTERMSIG(status) == SIGKILL ? "killed" : strsignal(WTERMSIG(status)));
        log_info("lambda", "%s: %s %s", f->name, rid, reason);
        rc = error_payload(out, "Runtime.ExitError", "RequestId: %s Error: %s", rid, reason);
        *function_error = true;
        goto out_release;
    }
    size_t plen = n - 1;
    if (plen > LAMBDA_MAX_RESPONSE) {
        /* read and drop: the worker stays usable */
        char sink[65536];
        size_t left = plen;
        while (left && !dead) {
            size_t k = left < sizeof sink ? left : sizeof sink;
            if (read_full(w->from_fd, sink, k, deadline) != 0)
                dead = true;
            left -= k;
        }
        rc = error_payload(out, "Function.ResponseSizeTooLarge",
                           "Response payload size exceeded maximum allowed payload size "
                           "(%u bytes).", LAMBDA_MAX_RESPONSE);
        *function_error = true;
        goto out_release;
    }
    if ((rc = buf_reserve(out, plen)) != HY_OK) {
        /* the caller's ceiling: the answer cannot be kept, the worker
         * cannot be left mid-frame */
        dead = true;
        snprintf(why, why_len, "the response (%zu bytes) is over the caller's ceiling", plen);
        goto out_release;
    }
    r = read_full(w->from_fd, out->data + out->len, plen, deadline);
    if (r != 0) {
        dead = true;
        rc = error_payload(out, r == -2 ? "Sandbox.Timedout" : "Runtime.ExitError",
                           r == -2 ? "RequestId: %s Error: Task timed out" :
                           "RequestId: %s Error: Runtime exited without providing a reason",
                           rid);
        *function_error = true;
        goto out_release;
    }
    out->len += plen;
    out->data[out->len] = 0;
    *function_error = head[4] == 'E';
    rc = HY_OK;
out_release:
    log_info("lambda", "%s: END RequestId: %s Duration: %lld ms%s", f->name, rid,
             (long long)(hy_mono_ms() - t0), *function_error ? " (function error)" : "");
    if (log_tail && w) {
        long mem = dead ? 0 : peak_mb(w->pid);
        if (!dead)
            log_settle(w);
        tail_log(w, f, rid, hy_mono_ms() - t0, mem, log_tail);
    }
    if (rc == HY_ENOMEM && !why[0])
        snprintf(why, why_len, "out of memory");
    pool_release(p, slot, dead);
    json_decref(h);
    free(hs);
    free(frame);
    return rc;
}

void lambda_worker_kill_all(void)
{
    pthread_mutex_lock(&pools_lock);
    for (struct pool *p = pools; p; p = p->next)
        for (int i = 0; i < LAMBDA_MAX_WORKERS; i++)
            if (is_worker(p, p->w[i]) && p->w[i]->pid > 0)
                kill(-p->w[i]->pid, SIGKILL);
    pthread_mutex_unlock(&pools_lock);
}

void lambda_worker_close(void)
{
    pthread_mutex_lock(&pools_lock);
    while (pools) {
        struct pool *p = pools;
        pool_retire_locked(p->region, p->name);
    }
    pthread_mutex_unlock(&pools_lock);
}
