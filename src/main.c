/* main.c -- flags, configuration, start and stop.
 *
 * Start: parse flags (environment for credentials; limits that cannot be
 * honoured are refused here), raise the open-files limit to what the
 * connection limit needs, make the data directory (0700) and lock it
 * (datadir.c: a second server on the same directory exits with status 2
 * and "data directory DIR in use by PID N" on stderr), open the store,
 * the stream catalog and IAM, start delivery, then the listener. Stop
 * (SIGTERM/SIGINT): stop the listener, let delivery make a last pass over
 * every buffer, close everything, exit 0.
 *
 * Threading: the main thread only waits for a signal; work happens on the
 * HTTP threads (http.c), the WAL writer (wal.c) and the delivery threads
 * (delivery.c).
 */
#include "api.h"
#include "datadir.h"
#include "policy.h"
#include "delivery.h"
#include "destinations.h"
#include "sinks/sinks.h"
#include "objstore.h"
#include "stream.h"
#include "wal.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

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
};

static void usage(FILE *f)
{
    fprintf(f,
"Usage: hydrant [options]\n"
"A Firehose-compatible delivery stream server with an embedded S3 store.\n"
"\n"
"  --host ADDR            listen address (default 127.0.0.1)\n"
"  --port N               listen port (default 4566; 0 picks a free one)\n"
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
"  --log-level LEVEL      debug, info, warn or error (default info)\n"
"  --operations           print the router's operation table (JSON lines) and exit\n"
"  --version              print the version and exit\n"
"  --help                 this text\n");
}

/* The router's table, one JSON object a line, for tests and operators. */
static void print_operations(void)
{
    static const char *const res[] = {"none", "stream", "bucket", "object", "role", "user",
                                      "group", "policy"};
    static const char *const body[] = {"none", "small", "upload"};
    static const char *const level[] = {"service", "bucket", "object"};
    for (size_t i = 0; i < router_nops; i++) {
        const struct router_op *o = &router_ops[i];
        printf("{\"api\":\"%s\",\"name\":\"%s\",\"action\":\"%s\",\"resource\":\"%s\","
               "\"body\":\"%s\"", router_api_name(o->api), o->name, o->action, res[o->res],
               body[o->body]);
        if (o->api == ROUTER_S3)
            printf(",\"method\":\"%s\",\"level\":\"%s\",\"sub\":%s%s%s,\"copy\":%s",
                   o->method, level[o->level], o->sub ? "\"" : "", o->sub ? o->sub : "null",
                   o->sub ? "\"" : "", (o->flags & ROUTER_S3_COPY) ? "true" : "false");
        printf("}\n");
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

static void parse_flags(int argc, char **argv)
{
    enum { O_HOST = 256, O_PORT, O_DATA, O_REGION, O_CERT, O_KEY, O_AKID, O_SECRET,
           O_MAXS, O_DELAY, O_BODY, O_MAXOBJ, O_THREADS, O_LOG, O_VERSION, O_HELP,
           O_DURABILITY, O_MAXBUF, O_WALSEG, O_OPS, O_INFLIGHT, O_HDRTIME, O_IDLETIME,
           O_MAXCONNS, O_PERIP, O_RETRYWIN, O_MAXPARTS, O_IAM,
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
        {"s3-endpoint", required_argument, 0, O_S3_ENDPOINT},
        {"s3-access-key-id", required_argument, 0, O_S3_AKID},
        {"s3-secret-access-key", required_argument, 0, O_S3_SECRET},
        {"s3-region", required_argument, 0, O_S3_REGION},
        {"s3-path-style", no_argument, 0, O_S3_PATH},
        {"s3-ca-file", required_argument, 0, O_S3_CA},
        {"destinations", required_argument, 0, O_DESTFILE},
        {"http-endpoint-timeout", required_argument, 0, O_HE_TIMEOUT},
        {"http-endpoint-ca-file", required_argument, 0, O_HE_CA},
        {"log-level", required_argument, 0, O_LOG},
        {"iam", required_argument, 0, O_IAM},
        {"operations", no_argument, 0, O_OPS},
        {"version", no_argument, 0, O_VERSION},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    const char *env;
    if ((env = getenv("HYDRANT_ACCESS_KEY_ID")) && *env)
        hy_cfg.access_key_id = env;
    if ((env = getenv("HYDRANT_SECRET_ACCESS_KEY")) && *env)
        hy_cfg.secret_access_key = env;

    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
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
            if (!strcmp(optarg, "debug")) hy_log_level = HY_LOG_DEBUG;
            else if (!strcmp(optarg, "info")) hy_log_level = HY_LOG_INFO;
            else if (!strcmp(optarg, "warn")) hy_log_level = HY_LOG_WARN;
            else if (!strcmp(optarg, "error")) hy_log_level = HY_LOG_ERROR;
            else {
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
    bool loopback = strncmp(hy_cfg.host, "127.", 4) == 0 || !strcmp(hy_cfg.host, "::1") ||
                    !strcmp(hy_cfg.host, "localhost");
    if (!loopback && !strcmp(hy_cfg.access_key_id, "test") &&
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

int main(int argc, char **argv)
{
    parse_flags(argc, argv);
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
        (rc = iam_open(hy_cfg.data_dir))) {
        log_error("main", "cannot open the data directory %s: %s", hy_cfg.data_dir,
                  hy_strerror(rc));
        return 1;
    }
    if ((rc = open_wal()))
        return 1;
    if ((rc = delivery_start())) {
        log_error("main", "cannot start delivery: %s", hy_strerror(rc));
        return 1;
    }
    struct http_server *srv;
    if ((rc = http_start(router_handle, router_admit, &srv)))
        return 1;
    log_info("main", "hydrant %s listening on %s://%s:%d, data in %s",
             HYDRANT_VERSION, hy_cfg.tls_cert ? "https" : "http", hy_cfg.host,
             hy_cfg.port, hy_cfg.data_dir);
    /* a line for scripts that started us with --port 0 */
    printf("listening %s %d\n", hy_cfg.host, hy_cfg.port);
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    log_info("main", "signal %d: stopping", sig);
    http_stop(srv);        /* no new puts; waiting ones are answered below */
    wal_flush(hy_wal);     /* every logged put applied to its buffer */
    delivery_stop();       /* a last pass delivers what is buffered */
    wal_close(hy_wal);
    hy_wal = NULL;
    iam_close();
    stream_catalog_close();
    objstore_close(hy_store);
    s3_remote_shutdown();
    destinations_shutdown();
    log_info("main", "stopped");
    return 0;
}
