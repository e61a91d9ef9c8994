/* main.c -- flags, configuration, start and stop.
 *
 * Start: parse flags -- the config file (--config / HYDRANT_CONFIG, read
 * with inih) and HYDRANT_<FLAG> variables become --name=value arguments
 * ahead of the command line's, so one parser applies one set of checks
 * and flags > env > file > defaults; limits that cannot be honoured are
 * refused here -- open --log-file, raise the open-files limit to what the
 * connection limit needs, make the data directory (0700) and lock it
 * (datadir.c: a second server on the same directory exits with status 2
 * and "data directory DIR in use by PID N" on stderr), open the store,
 * the stream catalog and IAM, start the listener (probes answer; every
 * other request is 503 until ready), replay the log, start delivery, then
 * declare readiness (ops_set_ready, sd_notify READY=1, and for --port 0
 * "listening ADDR PORT" on stdout). SIGHUP: reload() (see there); the
 * server keeps serving. Stop (SIGTERM/SIGINT): STOPPING=1, stop the
 * listener, let delivery make a last pass over every buffer, close
 * everything, exit 0.
 *
 * Threading: the main thread only waits for a signal; work happens on the
 * HTTP threads (http.c), the WAL writer (wal.c) and the delivery threads
 * (delivery.c).
 */
#include "api.h"
#include "cloudwatch.h"
#include "console.h"
#include "datadir.h"
#include "policy.h"
#include "delivery.h"
#include "lambda.h"
#include "metrics.h"
#include "destinations.h"
#include "sinks/sinks.h"
#include "objstore.h"
#include "stream.h"
#include "wal.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

struct hy_config hy_cfg = {
    .host = "127.0.0.1",
    .port = 4566,
    .data_dir = "./hydrant-data",
    .region = "us-east-1",
    .access_key_id = "test",
    .secret_access_key = "test",
    .max_streams = 50,
    .create_delay_ms = 500,
    .max_body = 64u << 20,
    .max_inflight_bytes = 256u << 20,
    .header_timeout_s = 20,
    .idle_timeout_s = 120,
    .max_conns = 4096,
    .max_conns_per_ip = 128,
    .threads = 2,
    .max_buffered = (size_t)1 << 30,
    .fsync = true,
    .wal_segment_bytes = 64u << 20,
    .retry_window_s = 86400,
    .max_active_partitions = 500,
    .min_free_bytes = 256u << 20,
};

static void usage(FILE *f)
{
    fprintf(f,
"Usage: hydrant [options]\n"
"A Firehose-compatible delivery stream server with an embedded S3 store.\n"
"\n"
"  --host ADDR            listen address (default 127.0.0.1)\n"
"  --port N               listen port (default 4566; 0 picks a free one and\n"
"                         prints \"listening ADDR PORT\" on stdout once ready)\n"
"  --data-dir DIR         where streams, buckets and objects live\n"
"                         (default ./hydrant-data; made 0700); one server per\n"
"                         directory: a second exits with status 2\n"
"  --region NAME          region when a request names none (default us-east-1)\n"
"  --tls-cert FILE        PEM certificate: serve HTTPS instead of HTTP\n"
"  --tls-key FILE         PEM private key for --tls-cert\n"
"  --access-key-id ID     root access key (env HYDRANT_ACCESS_KEY_ID; default test)\n"
"  --secret-access-key S  root secret (env HYDRANT_SECRET_ACCESS_KEY; default test)\n"
"                         every request must be SigV4-signed with this pair; the\n"
"                         default test/test is refused on a non-loopback --host\n"
"  --max-streams N        delivery streams per region (default 50)\n"
"  --create-delay-ms N    time a new stream stays CREATING (default 500)\n"
"  --max-body BYTES       largest request body held in memory (default 64 MiB)\n"
"  --max-object-size BYTES  largest single S3 PUT (default 5 GiB)\n"
"  --max-inflight-bytes BYTES  request bodies held in memory by all requests\n"
"                         in flight together, before they are authenticated;\n"
"                         past it a request gets 503 Slow Down without its body\n"
"                         being read; bodies over 64 KiB may use 7/8 of it\n"
"                         (default 256 MiB; at least 18.3 MiB)\n"
"  --header-timeout SECONDS  a request line and headers must be in this long\n"
"                         after the connection opened (for a keep-alive request:\n"
"                         after its first byte), or the connection is closed,\n"
"                         however slowly they trickle (default 20)\n"
"  --idle-timeout SECONDS   a connection silent this long is closed, between\n"
"                         keep-alive requests or mid-request (default 120)\n"
"  --max-conns N          connections open at once (default 4096)\n"
"  --max-conns-per-ip N   connections open at once from one client address;\n"
"                         more are closed at accept (default 128; 0: no cap,\n"
"                         e.g. behind a load balancer)\n"
"  --threads N            HTTP threads (default 2)\n"
"  --durability MODE      fsync: a put is acknowledged once its records are\n"
"                         fsynced in the write-ahead log (default); os: once\n"
"                         they are written, leaving the flush to the OS\n"
"                         (faster; a power loss can lose acknowledged records)\n"
"  --max-buffered BYTES   buffered bytes past which puts get\n"
"                         ServiceUnavailableException \"Slow down.\" (default 1 GiB)\n"
"  --wal-segment-bytes N  write-ahead log segment size (default 64 MiB)\n"
"  --retry-window SECONDS how long a failing S3 delivery is retried before its\n"
"                         records go to the hydrant-dead-letter bucket (default\n"
"                         86400, as AWS)\n"
"  --max-active-partitions N  partitions a dynamically partitioned batch may\n"
"                         have; the rest go to the error output (default 500,\n"
"                         as AWS; AWS raises it to 5,000 on request)\n"
"  --iam MODE             default: every principal but the root key is\n"
"                         authorized by its IAM policies, and a stream's RoleARN\n"
"                         must exist and trust firehose.amazonaws.com; strict:\n"
"                         also the delivery role's permissions (s3:PutObject) at\n"
"                         delivery, as AWS; off: authenticate only\n"
"\n"
"Delivery to external S3 and HTTP endpoints (README: Delivering to MinIO, Ceph\n"
"or AWS S3); without them every bucket is in the embedded store:\n"
"  --s3-endpoint URL      default external S3 for every bucket (http(s)://host[:port])\n"
"  --s3-access-key-id ID  its key (env HYDRANT_S3_ACCESS_KEY_ID, else AWS_ACCESS_KEY_ID)\n"
"  --s3-secret-access-key S  its secret (env HYDRANT_S3_SECRET_ACCESS_KEY, else\n"
"                         AWS_SECRET_ACCESS_KEY)\n"
"  --s3-region NAME       its signing region (default --region)\n"
"  --s3-path-style        https://host/bucket/key instead of https://bucket.host/key\n"
"                         (always for an IP address or localhost)\n"
"  --s3-ca-file FILE      PEM bundle that verifies the endpoint's certificate\n"
"  --destinations FILE    per-bucket endpoints (JSON; format in src/destinations.c)\n"
"  --http-endpoint-timeout SECONDS  HTTP endpoint answer timeout (default 180, as AWS)\n"
"  --http-endpoint-ca-file FILE  PEM bundle that verifies HTTP endpoints\n"
"\n"
"  --lambda-runtime on|off  run uploaded Lambda functions (default on). The\n"
"                         runtime runs the user's code as hydrant's own user;\n"
"                         off refuses CreateFunction, UpdateFunctionCode, Invoke\n"
"  --lambda-runtime-dir DIR  bootstrap scripts (default: src/lambda_runtime or\n"
"                         share/hydrant/lambda_runtime next to the binary)\n"
"  --lambda-workers N     worker processes per function (default 2)\n"
"  --lambda-endpoint URL  the Lambda processor invokes functions at this Lambda\n"
"                         API endpoint (AWS or another hydrant) instead of\n"
"                         hydrant's own runtime\n"
"  --lambda-access-key-id ID  its credentials (default: AWS_ACCESS_KEY_ID /\n"
"                         AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN from the\n"
"                         environment)\n"
"  --lambda-secret-access-key S  its secret\n"
"  --min-free-bytes BYTES GET /_hydrant/ready answers 503 at or below this much\n"
"                         free space in the data directory (default 256 MiB)\n"
"  --log-level LEVEL      debug, info, warn or error (default info; SIGHUP\n"
"                         re-reads it from the config file)\n"
"  --log-file PATH        append the log there instead of stderr (reopened at\n"
"                         SIGHUP, for log rotation)\n"
"  --config FILE          read settings from FILE first (env HYDRANT_CONFIG):\n"
"                         'name = value' lines, one per long flag above;\n"
"                         every flag is also env HYDRANT_<NAME> (--data-dir:\n"
"                         HYDRANT_DATA_DIR); flags > env > file > defaults\n"
"  --print-config         print the effective settings as a config file\n"
"                         (secrets masked) and exit\n"
"  --metrics-token TOKEN  GET /_hydrant/metrics wants 'Authorization: Bearer TOKEN'\n"
"                         (also HYDRANT_METRICS_TOKEN; default: the page is open)\n"
"  --no-metrics           count nothing (the page and CloudWatch show no data)\n"
"  --console-dir DIR      the web console's files (default: ../console next to\n"
"                         the binary); served under /_hydrant/console/\n"
"  --operations           print the router's operation table (JSON lines) and exit\n"
"  --version              print the version and exit\n"
"  --help                 this text\n");
}

static bool no_metrics; /* issue 17: --no-metrics */

/* The router's table, one JSON object a line, for tests and operators. */
static void print_operations(void)
{
    static const char *const res[] = {"none", "stream", "bucket", "object", "role", "user",
                                      "group", "policy", "function"};
    static const char *const body[] = {"none", "small", "upload"};
    static const char *const level[] = {"service", "bucket", "object"};
    for (size_t i = 0; i < router_nops; i++) {
        const struct router_op *o = &router_ops[i];
        printf("{\"api\":\"%s\",\"name\":\"%s\",\"action\":\"%s\",\"resource\":\"%s\","
               "\"body\":\"%s\"", router_api_name(o->api), o->name, o->action, res[o->res],
               body[o->body]);
        if (o->api == ROUTER_OPS)
            printf(",\"method\":\"%s\",\"path\":\"%s\",\"unsigned\":true", o->method, o->path);
        if (o->api == ROUTER_S3)
            printf(",\"method\":\"%s\",\"level\":\"%s\",\"sub\":%s%s%s,\"copy\":%s",
                   o->method, level[o->level], o->sub ? "\"" : "", o->sub ? o->sub : "null",
                   o->sub ? "\"" : "", (o->flags & ROUTER_S3_COPY) ? "true" : "false");
        if (o->api == ROUTER_LAMBDA)
            printf(",\"method\":\"%s\"", o->method);
        /* issue 17: the unsigned rows (pages, preflights) say so */
        if (o->api == ROUTER_PAGES || o->api == ROUTER_PREFLIGHT)
            printf(",\"unsigned\":true,\"method\":\"%s\",\"path\":%s%s%s,\"prefix\":%s",
                   o->method, o->path ? "\"" : "", o->path ? o->path : "null",
                   o->path ? "\"" : "", (o->flags & ROUTER_PATH_PREFIX) ? "true" : "false");
        printf("}\n");
    }
}

/* ---- settings from a file and the environment -------------------------
 * They feed the one flag parser: each file key `name = value` becomes
 * `--name=value`, and so does each environment variable HYDRANT_<NAME>
 * (the flag's name upper-cased, '-' as '_'), placed before the command
 * line's own flags in the order file, environment, command line. getopt
 * keeps the last value of an option, so flags > env > file > defaults,
 * and a key means exactly what its flag means (same checks, same
 * errors). A key that is no flag is an error with its line number; an
 * optional [hydrant] section header is allowed, other sections are not.
 * Where each option's value came from is kept (cfg_source) for SIGHUP,
 * which re-reads the file but leaves what a flag or the environment set.
 */
enum cfg_source { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_FLAG };
#define CFG_MAX_OPTS 128
static enum cfg_source cfg_source[CFG_MAX_OPTS];
static const char *cfg_value[CFG_MAX_OPTS]; /* the value last given */
static int cfg_file_end = 1, cfg_env_end = 1; /* where file and env args end */
static bool print_config_asked;

struct cfg_kv {
    char *name, *value;
};
struct cfg_file {
    const struct option *opts;
    struct cfg_kv *kv;
    size_t n, cap;
    char bad[128]; /* the key or section that made the parse fail */
    bool oom;
};

static int cfg_opt_index(const struct option *opts, const char *name)
{
    for (int i = 0; opts[i].name; i++)
        if (strcmp(opts[i].name, name) == 0)
            return i;
    return -1;
}

/* keys that only make sense on a command line */
static bool cfg_key_ok(const struct option *opts, int i)
{
    return i >= 0 && opts[i].has_arg != no_argument && strcmp(opts[i].name, "config") != 0;
}

static int cfg_ini_cb(void *user, const char *section, const char *name, const char *value)
{
    struct cfg_file *cf = user;
    if (*section && strcmp(section, "hydrant") != 0) {
        snprintf(cf->bad, sizeof cf->bad, "[%s]", section);
        return 0;
    }
    if (!cfg_key_ok(cf->opts, cfg_opt_index(cf->opts, name))) {
        snprintf(cf->bad, sizeof cf->bad, "%s", name);
        return 0;
    }
    if (hy_grow((void **)&cf->kv, &cf->cap, cf->n + 1, sizeof *cf->kv) != HY_OK ||
        !(cf->kv[cf->n].name = strdup(name)) || !(cf->kv[cf->n].value = strdup(value))) {
        cf->oom = true;
        return 0;
    }
    cf->n++;
    return 1;
}

static void cfg_file_free(struct cfg_file *cf)
{
    for (size_t i = 0; i < cf->n; i++) {
        free(cf->kv[i].name);
        free(cf->kv[i].value);
    }
    free(cf->kv);
    cf->kv = NULL;
    cf->n = cf->cap = 0;
}

/* Reads path into cf: HY_OK, or HY_EINVAL with *msg saying why. */
static int cfg_file_read(const char *path, const struct option *opts, struct cfg_file *cf,
                         char *msg, size_t size)
{
    memset(cf, 0, sizeof *cf);
    cf->opts = opts;
    int line = ini_parse(path, cfg_ini_cb, cf);
    if (line == 0)
        return HY_OK;
    if (line == -1)
        snprintf(msg, size, "cannot open config file %s: %s", path, strerror(errno));
    else if (line == -2 || cf->oom)
        snprintf(msg, size, "out of memory reading %s", path);
    else if (cf->bad[0])
        snprintf(msg, size, "%s:%d: '%s' is no setting (the keys are the long flags of "
                 "hydrant --help, without --)", path, line, cf->bad);
    else
        snprintf(msg, size, "%s:%d: not a 'name = value' line", path, line);
    cfg_file_free(cf);
    return HY_EINVAL;
}

static char *cfg_arg(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 4;
    char *a = malloc(n);
    if (a)
        snprintf(a, n, "--%s=%s", name, value);
    return a;
}

static void cfg_die_oom(void)
{
    fprintf(stderr, "hydrant: out of memory\n");
    exit(1);
}

/* argv becomes: argv[0], the file's settings, the environment's, then the
 * command line's (allocated once, for the life of the process: hy_cfg's
 * strings point into it). */
static char **cfg_argv;

static void cfg_expand(int *argc, char ***argv, const struct option *opts)
{
    const char *path = NULL;
    for (int i = 1; i < *argc; i++) {
        const char *a = (*argv)[i];
        if (strcmp(a, "--") == 0)
            break;
        if (strcmp(a, "--config") == 0 && i + 1 < *argc)
            path = (*argv)[++i];
        else if (strncmp(a, "--config=", 9) == 0)
            path = a + 9;
    }
    if (!path && (path = getenv("HYDRANT_CONFIG")) && !*path)
        path = NULL;
    hy_cfg.config_file = path;

    struct cfg_file cf = {0};
    if (path) {
        char msg[600];
        if (cfg_file_read(path, opts, &cf, msg, sizeof msg) != HY_OK) {
            fprintf(stderr, "hydrant: %s\n", msg);
            exit(2);
        }
    }
    size_t nopts = 0;
    while (opts[nopts].name)
        nopts++;
    char **v = cfg_argv = calloc((size_t)*argc + cf.n + nopts + 1, sizeof *v);
    if (!v)
        cfg_die_oom();
    int n = 0;
    v[n++] = (*argv)[0];
    for (size_t i = 0; i < cf.n; i++)
        if (!(v[n++] = cfg_arg(cf.kv[i].name, cf.kv[i].value)))
            cfg_die_oom();
    cfg_file_end = n;
    for (size_t i = 0; i < nopts; i++) {
        if (!cfg_key_ok(opts, (int)i))
            continue;
        char env[96] = "HYDRANT_";
        size_t k = 8;
        for (const char *c = opts[i].name; *c && k < sizeof env - 1; c++)
            env[k++] = *c == '-' ? '_' : (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        env[k] = 0;
        const char *val = getenv(env);
        if (val && *val && !(v[n++] = cfg_arg(opts[i].name, val)))
            cfg_die_oom();
    }
    cfg_env_end = n;
    for (int i = 1; i < *argc; i++)
        v[n++] = (*argv)[i];
    v[n] = NULL;
    cfg_file_free(&cf);
    *argc = n;
    *argv = v;
}

/* At exit, once nothing reads hy_cfg: the arguments cfg_expand made. */
static void cfg_argv_free(void)
{
    if (!cfg_argv)
        return;
    for (int i = 1; i < cfg_env_end; i++)
        free(cfg_argv[i]);
    free(cfg_argv);
    cfg_argv = NULL;
}

/* getopt_long matched opts[li] at argv[at]: note where it came from. */
static void cfg_seen(int li, int at, const char *value)
{
    if (li < 0 || li >= CFG_MAX_OPTS)
        return;
    cfg_source[li] = at < cfg_file_end ? SRC_FILE : at < cfg_env_end ? SRC_ENV : SRC_FLAG;
    cfg_value[li] = value;
}

static bool cfg_secret_name(const char *name)
{
    return strstr(name, "secret") || strstr(name, "password") || strstr(name, "token");
}

/* The effective value of a setting, as its flag would take it; false when
 * it is unset (no value, no default to show). */
static bool cfg_effective(const char *name, char *out, size_t size)
{
#define STR(key, v) \
    if (strcmp(name, key) == 0) \
        return (v) ? (snprintf(out, size, "%s", (const char *)(v)), true) : false;
#define NUM(key, v) \
    if (strcmp(name, key) == 0) \
        return snprintf(out, size, "%llu", (unsigned long long)(v)), true;
    STR("host", hy_cfg.host)
    NUM("port", hy_cfg.port)
    STR("data-dir", hy_cfg.data_dir)
    STR("region", hy_cfg.region)
    STR("tls-cert", hy_cfg.tls_cert)
    STR("tls-key", hy_cfg.tls_key)
    STR("access-key-id", hy_cfg.access_key_id)
    STR("secret-access-key", hy_cfg.secret_access_key)
    NUM("max-streams", hy_cfg.max_streams)
    NUM("create-delay-ms", hy_cfg.create_delay_ms)
    NUM("max-body", hy_cfg.max_body)
    NUM("max-object-size", hy_cfg.max_object ? hy_cfg.max_object : 5ull << 30)
    NUM("max-inflight-bytes", hy_cfg.max_inflight_bytes)
    NUM("header-timeout", hy_cfg.header_timeout_s)
    NUM("idle-timeout", hy_cfg.idle_timeout_s)
    NUM("max-conns", hy_cfg.max_conns)
    NUM("max-conns-per-ip", hy_cfg.max_conns_per_ip)
    NUM("threads", hy_cfg.threads)
    STR("durability", hy_cfg.fsync ? "fsync" : "os")
    NUM("max-buffered", hy_cfg.max_buffered)
    NUM("wal-segment-bytes", hy_cfg.wal_segment_bytes)
    NUM("retry-window", hy_cfg.retry_window_s)
    NUM("max-active-partitions", hy_cfg.max_active_partitions)
    STR("iam", hy_iam_mode == IAM_MODE_STRICT ? "strict" : hy_iam_mode == IAM_MODE_OFF ? "off"
                                                                                     : "default")
    NUM("min-free-bytes", hy_cfg.min_free_bytes)
    STR("lambda-runtime", lambda_cfg.runtime ? "on" : "off")
    STR("lambda-runtime-dir", lambda_cfg.runtime_dir)
    NUM("lambda-workers", lambda_cfg.workers)
    STR("lambda-endpoint", lambda_cfg.endpoint)
    STR("lambda-access-key-id", lambda_cfg.access_key_id)
    STR("lambda-secret-access-key", lambda_cfg.secret_access_key)
    STR("log-level", hy_log_level_name(hy_log_level))
    STR("log-file", hy_cfg.log_file)
#undef STR
#undef NUM
    return false;
}

/* --print-config: every setting in config-file form, in --help's order;
 * a setting this function does not know (a flag added since) shows the
 * value it was given, or is commented out at its built-in default. */
static void print_config(const struct option *opts)
{
    printf("# hydrant %s: effective settings (flags > env HYDRANT_* > config file > "
           "defaults)\n[hydrant]\n", HYDRANT_VERSION);
    for (int i = 0; opts[i].name && i < CFG_MAX_OPTS; i++) {
        if (!cfg_key_ok(opts, i))
            continue;
        const char *name = opts[i].name;
        char val[4096];
        bool set = cfg_effective(name, val, sizeof val);
        if (!set && cfg_value[i]) {
            snprintf(val, sizeof val, "%s", cfg_value[i]);
            set = true;
        }
        if (set && cfg_secret_name(name))
            snprintf(val, sizeof val, "********");
        if (set)
            printf("%s = %s\n", name, val);
        else
            printf("# %s = (unset)\n", name);
    }
}

static long parse_num(const char *flag, const char *v, long lo, long hi)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == 0 || *end || n < lo || n > hi) {
        fprintf(stderr, "hydrant: %s wants a number from %ld to %ld, not '%s'\n",
                flag, lo, hi, v);
        exit(2);
    }
    return n;
}

static const struct option *reload_opts; /* parse_flags' table, for SIGHUP */
static bool is_loopback(const char *host);

static void parse_flags(int argc, char **argv)
{
    enum { O_HOST = 256, O_PORT, O_DATA, O_REGION, O_CERT, O_KEY, O_AKID, O_SECRET,
           O_MAXS, O_DELAY, O_BODY, O_MAXOBJ, O_THREADS, O_LOG, O_VERSION, O_HELP,
           O_DURABILITY, O_MAXBUF, O_WALSEG, O_OPS, O_INFLIGHT, O_HDRTIME, O_IDLETIME,
           O_MAXCONNS, O_PERIP, O_RETRYWIN, O_MAXPARTS, O_IAM, O_MINFREE, O_LOGFILE,
           O_CONFIG, O_PRINTCFG,
           /* Lambda (lambda.h) */
           O_LRUNTIME, O_LRUNDIR, O_LWORKERS, O_LENDPOINT, O_LAKID, O_LSECRET,
           O_METRICS_TOKEN, O_NO_METRICS, O_CONSOLE_DIR /* issue 17 */,
           /* external destinations (destinations.c, sinks/http_endpoint.c) */
           O_DEST_FIRST, O_S3_ENDPOINT = O_DEST_FIRST, O_S3_AKID, O_S3_SECRET, O_S3_REGION,
           O_S3_PATH, O_S3_CA, O_DESTFILE, O_DEST_LAST = O_DESTFILE, O_HE_TIMEOUT, O_HE_CA };
    static const struct option opts[] = {
        {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, O_PORT},
        {"data-dir", required_argument, 0, O_DATA},
        {"region", required_argument, 0, O_REGION},
        {"tls-cert", required_argument, 0, O_CERT},
        {"tls-key", required_argument, 0, O_KEY},
        {"access-key-id", required_argument, 0, O_AKID},
        {"secret-access-key", required_argument, 0, O_SECRET},
        {"max-streams", required_argument, 0, O_MAXS},
        {"create-delay-ms", required_argument, 0, O_DELAY},
        {"max-body", required_argument, 0, O_BODY},
        {"max-object-size", required_argument, 0, O_MAXOBJ},
        {"max-inflight-bytes", required_argument, 0, O_INFLIGHT},
        {"header-timeout", required_argument, 0, O_HDRTIME},
        {"idle-timeout", required_argument, 0, O_IDLETIME},
        {"max-conns", required_argument, 0, O_MAXCONNS},
        {"max-conns-per-ip", required_argument, 0, O_PERIP},
        {"threads", required_argument, 0, O_THREADS},
        {"durability", required_argument, 0, O_DURABILITY},
        {"max-buffered", required_argument, 0, O_MAXBUF},
        {"wal-segment-bytes", required_argument, 0, O_WALSEG},
        {"retry-window", required_argument, 0, O_RETRYWIN},
        {"max-active-partitions", required_argument, 0, O_MAXPARTS},
        {"lambda-runtime", required_argument, 0, O_LRUNTIME},
        {"lambda-runtime-dir", required_argument, 0, O_LRUNDIR},
        {"lambda-workers", required_argument, 0, O_LWORKERS},
        {"lambda-endpoint", required_argument, 0, O_LENDPOINT},
        {"lambda-access-key-id", required_argument, 0, O_LAKID},
        {"lambda-secret-access-key", required_argument, 0, O_LSECRET},
        {"s3-endpoint", required_argument, 0, O_S3_ENDPOINT},
        {"s3-access-key-id", required_argument, 0, O_S3_AKID},
        {"s3-secret-access-key", required_argument, 0, O_S3_SECRET},
        {"s3-region", required_argument, 0, O_S3_REGION},
        {"s3-path-style", no_argument, 0, O_S3_PATH},
        {"s3-ca-file", required_argument, 0, O_S3_CA},
        {"destinations", required_argument, 0, O_DESTFILE},
        {"http-endpoint-timeout", required_argument, 0, O_HE_TIMEOUT},
        {"http-endpoint-ca-file", required_argument, 0, O_HE_CA},
        {"iam", required_argument, 0, O_IAM},
        {"min-free-bytes", required_argument, 0, O_MINFREE},
        {"log-level", required_argument, 0, O_LOG},
        {"log-file", required_argument, 0, O_LOGFILE},
        {"config", required_argument, 0, O_CONFIG},
        {"print-config", no_argument, 0, O_PRINTCFG},
        {"metrics-token", required_argument, 0, O_METRICS_TOKEN}, /* issue 17 */
        {"no-metrics", no_argument, 0, O_NO_METRICS},
        {"console-dir", required_argument, 0, O_CONSOLE_DIR},
        {"operations", no_argument, 0, O_OPS},
        {"version", no_argument, 0, O_VERSION},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    _Static_assert(sizeof opts / sizeof opts[0] <= CFG_MAX_OPTS, "CFG_MAX_OPTS");
    cfg_expand(&argc, &argv, opts); /* config file and HYDRANT_* env first */

    int c, li, at; /* HYDRANT_METRICS_TOKEN is --metrics-token (cfg_expand) */
    while ((li = -1, at = optind, c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        cfg_seen(li, at, optarg);
        switch (c) {
        case O_HOST: hy_cfg.host = optarg; break;
        case O_PORT: hy_cfg.port = (int)parse_num("--port", optarg, 0, 65535); break;
        case O_DATA: hy_cfg.data_dir = optarg; break;
        case O_REGION: hy_cfg.region = optarg; break;
        case O_CERT: hy_cfg.tls_cert = optarg; break;
        case O_KEY: hy_cfg.tls_key = optarg; break;
        case O_AKID: hy_cfg.access_key_id = optarg; break;
        case O_SECRET: hy_cfg.secret_access_key = optarg; break;
        case O_MAXS: hy_cfg.max_streams = (int)parse_num("--max-streams", optarg, 1, 100000); break;
        case O_DELAY: hy_cfg.create_delay_ms = (int)parse_num("--create-delay-ms", optarg, 0, 600000); break;
        case O_BODY: hy_cfg.max_body = (size_t)parse_num("--max-body", optarg, 1 << 20, 1L << 40); break;
        case O_MAXOBJ: hy_cfg.max_object = (uint64_t)parse_num("--max-object-size", optarg, 1024, 5L << 30); break;
        case O_INFLIGHT: hy_cfg.max_inflight_bytes = (uint64_t)parse_num("--max-inflight-bytes", optarg, 1 << 20, 1L << 40); break;
        case O_HDRTIME: hy_cfg.header_timeout_s = (int)parse_num("--header-timeout", optarg, 1, 3600); break;
        case O_IDLETIME: hy_cfg.idle_timeout_s = (int)parse_num("--idle-timeout", optarg, 1, 86400); break;
        case O_MAXCONNS: hy_cfg.max_conns = (int)parse_num("--max-conns", optarg, 1, 1000000); break;
        case O_PERIP: hy_cfg.max_conns_per_ip = (int)parse_num("--max-conns-per-ip", optarg, 0, 1000000); break;
        case O_THREADS: hy_cfg.threads = (int)parse_num("--threads", optarg, 1, 256); break;
        case O_DURABILITY:
            if (!strcmp(optarg, "fsync")) hy_cfg.fsync = true;
            else if (!strcmp(optarg, "os")) hy_cfg.fsync = false;
            else {
                fprintf(stderr, "hydrant: --durability is fsync or os\n");
                exit(2);
            }
            break;
        case O_MAXBUF: hy_cfg.max_buffered = (size_t)parse_num("--max-buffered", optarg, 1, 1L << 40); break;
        case O_WALSEG: hy_cfg.wal_segment_bytes = (size_t)parse_num("--wal-segment-bytes", optarg, 4096, 1L << 32); break;
        case O_RETRYWIN: hy_cfg.retry_window_s = (int)parse_num("--retry-window", optarg, 0, 7 * 86400); break;
        case O_MAXPARTS: hy_cfg.max_active_partitions = (int)parse_num("--max-active-partitions", optarg, 1, 5000); break;
        case O_LOG:
            if ((hy_log_level = hy_log_level_parse(optarg)) < 0) {
                fprintf(stderr, "hydrant: --log-level is debug, info, warn or error\n");
                exit(2);
            }
            break;
        case O_IAM:
            /* IAM enforcement (policy.h, docs/IAM.md) */
            if (!strcmp(optarg, "default")) hy_iam_mode = IAM_MODE_DEFAULT;
            else if (!strcmp(optarg, "strict")) hy_iam_mode = IAM_MODE_STRICT;
            else if (!strcmp(optarg, "off")) hy_iam_mode = IAM_MODE_OFF;
            else {
                fprintf(stderr, "hydrant: --iam is default, strict or off\n");
                exit(2);
            }
            break;
        case O_LRUNTIME:
            if (!strcmp(optarg, "on")) lambda_cfg.runtime = true;
            else if (!strcmp(optarg, "off")) lambda_cfg.runtime = false;
            else {
                fprintf(stderr, "hydrant: --lambda-runtime is on or off\n");
                exit(2);
            }
            break;
        case O_LRUNDIR: lambda_cfg.runtime_dir = optarg; break;
        case O_LWORKERS: lambda_cfg.workers = (int)parse_num("--lambda-workers", optarg, 1, 64); break;
        case O_LENDPOINT: lambda_cfg.endpoint = optarg; break;
        case O_LAKID: lambda_cfg.access_key_id = optarg; break;
        case O_LSECRET: lambda_cfg.secret_access_key = optarg; break;
        case O_MINFREE: hy_cfg.min_free_bytes = (uint64_t)parse_num("--min-free-bytes", optarg, 0, 1L << 50); break;
        case O_LOGFILE: hy_cfg.log_file = optarg; break;
        case O_CONFIG:
            if (!hy_cfg.config_file || strcmp(optarg, hy_cfg.config_file) != 0) {
                fprintf(stderr, "hydrant: spell --config FILE in full, once\n");
                exit(2);
            }
            break;
        case O_PRINTCFG: print_config_asked = true; break;
        case O_METRICS_TOKEN: metrics_token = optarg; break; /* issue 17 */
        case O_NO_METRICS: no_metrics = true; break;
        case O_CONSOLE_DIR: console_dir = optarg; break;
        case O_HE_TIMEOUT: http_endpoint_timeout_s = (int)parse_num("--http-endpoint-timeout", optarg, 1, 3600); break;
        case O_HE_CA: http_endpoint_ca_file = optarg; break;
        case O_OPS: print_operations(); exit(0);
        case O_VERSION: printf("hydrant %s\n", HYDRANT_VERSION); exit(0);
        case O_HELP: usage(stdout); exit(0);
        default:
            if (c >= O_DEST_FIRST && c <= O_DEST_LAST) {
                const struct option *o = opts;
                while (o->name && o->val != c)
                    o++;
                destinations_flag(o->name, optarg);
                break;
            }
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hydrant: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        exit(2);
    }
    /* the well-known pair is for a developer's own machine only */
    if (!is_loopback(hy_cfg.host) && !strcmp(hy_cfg.access_key_id, "test") &&
        !strcmp(hy_cfg.secret_access_key, "test")) {
        fprintf(stderr,
                "hydrant: refusing to listen on %s with the well-known credentials test/test;\n"
                "set HYDRANT_ACCESS_KEY_ID and HYDRANT_SECRET_ACCESS_KEY (or the flags)\n",
                hy_cfg.host);
        exit(2);
    }
    if (!hy_cfg.tls_cert != !hy_cfg.tls_key) {
        fprintf(stderr, "hydrant: --tls-cert and --tls-key go together\n");
        exit(2);
    }
    /* one request of the largest kind must always fit the budget (large
     * bodies get seven eighths of it, see http.c), or its client would be
     * told to retry something that can never succeed */
    uint64_t largest = hy_cfg.max_body < (16u << 20) ? hy_cfg.max_body : (16u << 20);
    uint64_t need = (largest * 8 + 6) / 7;
    if (hy_cfg.max_inflight_bytes < need) {
        fprintf(stderr,
                "hydrant: --max-inflight-bytes %llu cannot hold the largest request body kept\n"
                "in memory (%llu bytes: S3 XML bodies, or --max-body when lower; large bodies\n"
                "may use 7/8 of the budget): give it at least %llu, or lower --max-body\n",
                (unsigned long long)hy_cfg.max_inflight_bytes, (unsigned long long)largest,
                (unsigned long long)need);
        exit(2);
    }
    if (print_config_asked) {
        print_config(opts);
        exit(0);
    }
    reload_opts = opts;
}

/* Every connection is a descriptor: raise the soft open-files limit to the
 * hard one (distributions start services at 1024), and say so when even
 * that cannot hold --max-conns (accept then fails with EMFILE instead of
 * the connection limit applying). */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    /* the store, the WAL, SQLite and spool files need some too */
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)hy_cfg.max_conns + 256)
        log_warn("main", "open-files limit %llu is below --max-conns %d + 256: connections "
                 "past it are refused by the kernel, not by the limit",
                 (unsigned long long)rl.rlim_cur, hy_cfg.max_conns);
}

/* Opens the write-ahead log, replays what was not delivered into the
 * stream buffers, and starts the log writer. */
static int open_wal(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/wal", hy_cfg.data_dir);
    struct wal_config wc = {dir, hy_cfg.wal_segment_bytes, hy_cfg.fsync};
    int rc = wal_open(&wc, &hy_wal);
    if (rc) {
        log_error("main", "cannot open the write-ahead log in %s: %s", dir, hy_strerror(rc));
        return rc;
    }
    struct wal_replay_stats ws;
    int64_t t0 = hy_mono_ms();
    if ((rc = wal_replay(hy_wal, stream_recover_frame, NULL, &ws))) {
        log_error("main", "cannot read the write-ahead log in %s: %s", dir, hy_strerror(rc));
        return rc;
    }
    struct stream_recovery sr;
    stream_recover_finish(&sr);
    if (sr.records || ws.torn_bytes || ws.corrupt_regions)
        log_info("main", "recovered %llu undelivered records (%llu bytes; %llu objects to "
                 "rewrite under their sealed keys) from %llu log frames in %lld ms; "
                 "%llu records of deleted streams skipped",
                 (unsigned long long)sr.records, (unsigned long long)sr.bytes,
                 (unsigned long long)sr.sealed_batches, (unsigned long long)ws.frames,
                 (long long)(hy_mono_ms() - t0), (unsigned long long)sr.orphan_records);
    if ((rc = wal_start(hy_wal))) {
        log_error("main", "cannot start the write-ahead log: %s", hy_strerror(rc));
        return rc;
    }
    if (!hy_cfg.fsync)
        log_warn("main", "--durability=os: puts are acknowledged before their records "
                 "reach the disk");
    return HY_OK;
}

static bool is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || !strcmp(host, "::1") || !strcmp(host, "localhost");
}

/* SIGHUP: reopen the log file, then re-read the config file and apply what
 * can change while serving -- log-level, log-file, access-key-id and
 * secret-access-key -- unless a flag or the environment set it (they keep
 * precedence). Anything else that changed in the file is named as
 * needing a restart; a file that no longer parses changes nothing. The
 * TLS certificate is not reloaded: libmicrohttpd keeps the one it started
 * with for the life of the listener. Never stops the server. */
static void reload(void)
{
    const struct option *opts = reload_opts;
    if (hy_cfg.log_file && hy_log_reopen(hy_cfg.log_file) != HY_OK)
        log_error("main", "SIGHUP: cannot reopen --log-file %s: %s; logging on", hy_cfg.log_file,
                  strerror(errno));
    if (!hy_cfg.config_file) {
        log_info("main", "SIGHUP: log reopened; no config file to re-read");
        return;
    }
    struct cfg_file cf;
    char msg[600];
    if (cfg_file_read(hy_cfg.config_file, opts, &cf, msg, sizeof msg) != HY_OK) {
        log_error("main", "SIGHUP: %s; nothing changed", msg);
        return;
    }
    const char *akid = NULL, *secret = NULL;
    int changed = 0;
    for (size_t i = 0; i < cf.n; i++) {
        const char *name = cf.kv[i].name, *value = cf.kv[i].value;
        int li = cfg_opt_index(opts, name);
        if (cfg_source[li] == SRC_FLAG || cfg_source[li] == SRC_ENV)
            continue; /* a flag or HYDRANT_* wins over the file, now as at start */
        char cur[4096];
        bool set = cfg_effective(name, cur, sizeof cur);
        if (!set && cfg_value[li]) {
            snprintf(cur, sizeof cur, "%s", cfg_value[li]);
            set = true;
        }
        if (!strcmp(name, "secret-access-key")) {
            if (strcmp(value, hy_cfg.secret_access_key) != 0)
                secret = value;
            continue;
        }
        if (set && strcmp(cur, value) == 0)
            continue;
        if (!strcmp(name, "log-level")) {
            int level = hy_log_level_parse(value);
            if (level < 0) {
                log_error("main", "SIGHUP: log-level '%s' is not debug, info, warn or error; "
                          "kept %s", value, hy_log_level_name(hy_log_level));
                continue;
            }
            hy_log_level = level;
            log_warn("main", "SIGHUP: log-level %s", value); /* seen at any level */
            changed++;
        } else if (!strcmp(name, "log-file")) {
            char *path = strdup(value);
            if (!path || hy_log_reopen(path) != HY_OK) {
                log_error("main", "SIGHUP: cannot open log-file %s; kept %s", value,
                          hy_cfg.log_file ? hy_cfg.log_file : "stderr");
                free(path);
                continue;
            }
            hy_cfg.log_file = path; /* the old string may be argv's: kept */
            log_info("main", "SIGHUP: log-file %s", path);
            changed++;
        } else if (!strcmp(name, "access-key-id")) {
            akid = value;
        } else if (!strcmp(name, "tls-cert") || !strcmp(name, "tls-key")) {
            log_warn("main", "SIGHUP: %s changed in %s: a TLS certificate or key is read at "
                     "start only; restart hydrant to serve it", name, hy_cfg.config_file);
        } else {
            log_warn("main", "SIGHUP: %s changed in %s (%s -> %s): takes effect at the next "
                     "start", name, hy_cfg.config_file, set ? cur : "unset", value);
        }
    }
    if (akid || secret) {
        const char *new_akid = akid ? akid : hy_cfg.access_key_id;
        const char *new_secret = secret ? secret : hy_cfg.secret_access_key;
        if (!*new_akid || !*new_secret ||
            (!is_loopback(hy_cfg.host) && !strcmp(new_akid, "test") && !strcmp(new_secret, "test")))
            log_error("main", "SIGHUP: refusing the new root key pair (empty, or the well-known "
                      "test/test on %s); kept key %s", hy_cfg.host, hy_cfg.access_key_id);
        else if (router_set_root_key(new_akid, new_secret) != HY_OK)
            log_error("main", "SIGHUP: out of memory replacing the root key pair");
        else
            log_info("main", "SIGHUP: root credentials replaced: key %s", new_akid), changed++;
    }
    if (hy_cfg.tls_cert)
        log_info("main", "SIGHUP: the TLS certificate is not reloaded (restart to renew it)");
    /* at warn, so that a reload is seen whatever the level it set */
    log_warn("main", "SIGHUP: re-read %s: %d setting%s changed", hy_cfg.config_file, changed,
             changed == 1 ? "" : "s");
    cfg_file_free(&cf);
}

int main(int argc, char **argv)
{
    parse_flags(argc, argv);
    if (hy_cfg.log_file && hy_log_reopen(hy_cfg.log_file) != HY_OK) {
        fprintf(stderr, "hydrant: cannot open --log-file %s: %s\n", hy_cfg.log_file,
                strerror(errno));
        return 2;
    }
    char dest_msg[600];
    if (destinations_init(dest_msg, sizeof dest_msg) != HY_OK) {
        fprintf(stderr, "hydrant: %s\n", dest_msg);
        return 2;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread inherits this */
    signal(SIGPIPE, SIG_IGN);

    raise_nofile();
    /* one process per data directory, before anything in it is read */
    pid_t holder = 0;
    int rc = datadir_lock(hy_cfg.data_dir, &holder);
    if (rc == HY_EBUSY) {
        if (holder > 0)
            fprintf(stderr, "hydrant: data directory %s in use by PID %ld\n",
                    hy_cfg.data_dir, (long)holder);
        else
            fprintf(stderr, "hydrant: data directory %s in use by another process\n",
                    hy_cfg.data_dir);
        return 2;
    }
    if (rc) {
        log_error("main", "cannot create or lock data directory %s: %s", hy_cfg.data_dir,
                  hy_strerror(rc));
        return 1;
    }
    if ((rc = objstore_open(hy_cfg.data_dir, &hy_store)) ||
        (rc = stream_catalog_open(hy_cfg.data_dir)) ||
        (rc = iam_open(hy_cfg.data_dir)) ||
        (rc = lambda_open(hy_cfg.data_dir))) {
        log_error("main", "cannot open the data directory %s: %s", hy_cfg.data_dir,
                  hy_strerror(rc));
        return 1;
    }
    /* the listener comes up before recovery so that probes see it: until
     * ops_set_ready, /_hydrant/health is 200, /_hydrant/ready 503 and
     * every other request 503 in its API's shape */
    bool port0 = hy_cfg.port == 0;
    struct http_server *srv;
    http_set_reply_hook(router_log_refusal);
    if ((rc = http_start(router_handle, router_admit, &srv)))
        return 1;
    log_info("main", "hydrant %s listening on %s://%s:%d, data in %s; recovering",
             HYDRANT_VERSION, hy_cfg.tls_cert ? "https" : "http", hy_cfg.host,
             hy_cfg.port, hy_cfg.data_dir);
    if ((rc = open_wal()))
        return 1;
    /* issue 17: counters and the CloudWatch Logs store */
    if ((!no_metrics && (rc = metrics_init())) || (rc = cloudwatch_open(hy_cfg.data_dir)) ||
        (rc = console_start())) {
        log_error("main", "cannot start metrics: %s", hy_strerror(rc));
        return 1;
    }
    if ((rc = delivery_start())) {
        log_error("main", "cannot start delivery: %s", hy_strerror(rc));
        return 1;
    }
    ops_set_ready(true);
    log_info("main", "ready: serving on %s://%s:%d", hy_cfg.tls_cert ? "https" : "http",
             hy_cfg.host, hy_cfg.port);
    sd_notify(0, "READY=1\nSTATUS=serving");
    /* --port 0: the port the kernel chose, on stdout, for the script that
     * started us (printed once ready, so it may send at once) */
    if (port0) {
        printf("listening %s %d\n", hy_cfg.host, hy_cfg.port);
        fflush(stdout);
    }

    int sig = 0;
    for (;;) {
        sigwait(&set, &sig);
        if (sig != SIGHUP)
            break;
        sd_notify(0, "RELOADING=1");
        reload();
        sd_notify(0, "READY=1\nSTATUS=serving");
    }
    log_info("main", "signal %d: stopping", sig);
    sd_notify(0, "STOPPING=1");
    ops_set_ready(false);
    lambda_drain(20000);   /* Invoke answers from its own threads: all in */
    http_stop(srv);        /* no new puts; waiting ones are answered below */
    wal_flush(hy_wal);     /* every logged put applied to its buffer */
    delivery_stop();       /* a last pass delivers what is buffered */
    wal_close(hy_wal);
    hy_wal = NULL;
    lambda_close();        /* after delivery: its Lambda processor invokes */
    iam_close();
    stream_catalog_close();
    objstore_close(hy_store);
    console_stop(); /* issue 17 */
    cloudwatch_close();
    metrics_shutdown();
    s3_remote_shutdown();
    destinations_shutdown();
    log_info("main", "stopped");
    cfg_argv_free();
    return 0;
}
