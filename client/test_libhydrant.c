/* test_libhydrant.c -- tests of libhydrant, and a driver for the
 * end-to-end tests in tests/integration/test_client.py.
 *
 *   test_libhydrant unit
 *       white-box tests that need no server: the wire format and its
 *       parser, the retry classification, the spool (append, read, commit,
 *       prepend, recovery of a torn tail and of a bad CRC), argument
 *       checks, the memory ceiling, close without an endpoint.
 *   test_libhydrant drive --endpoint URL [--spool DIR] [--linger-ms N]
 *                   [--batch-records N] [--memory BYTES] [--backoff-base-ms N]
 *                   [--backoff-max-ms N]
 *       reads commands on stdin, answers one line each on stdout:
 *         put STREAM COUNT [SIZE]  COUNT records "STREAM SEQ PAD\n" with
 *                                   SEQ counting per stream from 1 (or
 *                                   from `seq`), padded to SIZE bytes
 *                                   -> "put OK|<error> <accepted>"
 *         seq STREAM N             next SEQ of STREAM is N -> "seq N"
 *         flush MS                 -> "flush OK|<error>"
 *         stats                    -> "stats put=.. sent=.. acked=.. ..."
 *         close MS                 -> "close OK|<error>", then exits
 *
 * Threading: unit tests are single-threaded apart from the producer's own
 * sender thread; one test puts from several threads at once.
 */
#include "client.h"
#include "hydrant.h"

#include <dirent.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures, checks;

#define CHECK(cond)                                                              \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

static struct hydrant__rec *mkrec(const char *s)
{
    return hydrant__rec_new(s, strlen(s));
}

static void free_recs(struct hydrant__rec **recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(recs[i]);
}

/* ---- wire --------------------------------------------------------------- */

static void test_wire_body(void)
{
    struct hydrant__rec *recs[3] = {mkrec("a"), mkrec("hello\n"), mkrec("xyz")};
    char *body;
    size_t len;
    CHECK(hydrant__wire_batch_body("gps-delivery-stream", recs, 3, &body, &len) == HYDRANT_OK);
    const char *want = "{\"DeliveryStreamName\":\"gps-delivery-stream\",\"Records\":["
                       "{\"Data\":\"YQ==\"},{\"Data\":\"aGVsbG8K\"},{\"Data\":\"eHl6\"}]}";
    CHECK(len == strlen(want));
    CHECK(!strcmp(body, want));
    free(body);
    free_recs(recs, 3);

    char hex[65];
    hydrant__wire_sha256_hex("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

static void test_wire_parse(void)
{
    struct hydrant__rec_result res[3];
    size_t failed = 99;
    const char *ok = "{\"FailedPutCount\":0,\"Encrypted\":false,\"RequestResponses\":"
                     "[{\"RecordId\":\"1\"},{\"RecordId\":\"2\"},{\"RecordId\":\"3\"}]}";
    CHECK(hydrant__wire_parse_batch(ok, strlen(ok), 3, res, &failed) == HYDRANT_OK);
    CHECK(failed == 0 && !res[0].failed && !res[2].failed);

    const char *partial = " { \"RequestResponses\" : [ {\"RecordId\":\"1\"},"
                          "{\"ErrorCode\":\"ServiceUnavailableException\",\"ErrorMessage\":\"Slow \\\"down\\\".\\u00e9\"},"
                          "{\"RecordId\":\"3\",\"x\":[1,{\"y\":null}]} ], \"FailedPutCount\" : 1 } ";
    CHECK(hydrant__wire_parse_batch(partial, strlen(partial), 3, res, &failed) == HYDRANT_OK);
    CHECK(failed == 1 && !res[0].failed && res[1].failed && !res[2].failed);
    CHECK(!strcmp(res[1].code, "ServiceUnavailableException"));
    CHECK(!strcmp(res[1].message, "Slow \"down\".?"));

    /* counts that disagree, wrong lengths, truncation: not an answer */
    const char *bad[] = {
        "{\"FailedPutCount\":1,\"RequestResponses\":[{\"RecordId\":\"1\"},{\"RecordId\":\"2\"},{\"RecordId\":\"3\"}]}",
        "{\"FailedPutCount\":0,\"RequestResponses\":[{\"RecordId\":\"1\"}]}",
        "{\"FailedPutCount\":0,\"RequestResponses\":[{\"RecordId\":\"1\"},{\"RecordId\":\"2\"},{\"RecordId\":\"3\"},{}]}",
        "{\"FailedPutCount\":0,\"RequestResponses\":[{\"RecordId\":\"1\"},{\"Reco",
        "{\"FailedPutCount\":0}",
        "",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(hydrant__wire_parse_batch(bad[i], strlen(bad[i]), 3, res, &failed) == HYDRANT_EINVAL);
    CHECK(hydrant__wire_parse_batch(NULL, 0, 3, res, &failed) == HYDRANT_EINVAL);

    char type[64], msg[64];
    const char *err = "{\"__type\":\"com.amazonaws.firehose#ResourceNotFoundException\","
                      "\"message\":\"Firehose x not found.\"}";
    hydrant__wire_parse_error(err, strlen(err), type, sizeof type, msg, sizeof msg);
    CHECK(!strcmp(type, "ResourceNotFoundException"));
    CHECK(!strcmp(msg, "Firehose x not found."));
    hydrant__wire_parse_error("not json", 8, type, sizeof type, msg, sizeof msg);
    CHECK(type[0] == '\0' && msg[0] == '\0');
    /* a message longer than the buffer is cut, not overrun */
    char small[8];
    hydrant__wire_parse_error(err, strlen(err), small, sizeof small, msg, sizeof msg);
    CHECK(strlen(small) == 7);

    CHECK(hydrant__wire_retryable("ServiceUnavailableException"));
    CHECK(hydrant__wire_retryable("InternalFailure"));
    CHECK(hydrant__wire_retryable("ThrottlingException"));
    CHECK(!hydrant__wire_retryable("ValidationException"));
    CHECK(!hydrant__wire_retryable("ResourceNotFoundException"));
    CHECK(!hydrant__wire_retryable("InvalidArgumentException"));
}

/* ---- spool -------------------------------------------------------------- */

static char tmpdir[256];

static void rm_rf(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: %s failed\n", cmd);
}

static void put_n(struct hydrant__spool *sp, int from, int to)
{
    for (int i = from; i < to; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "rec-%04d", i);
        struct hydrant__rec *r = mkrec(buf);
        CHECK(hydrant__spool_append(sp, &r, 1) == HYDRANT_OK);
        free(r);
    }
}

/* Reads everything; checks it is rec-<from> .. rec-<to-1>; consumes it. */
static void expect_range(struct hydrant__spool *sp, int from, int to, size_t batch)
{
    int next = from;
    for (;;) {
        struct hydrant__rec *recs[64];
        struct hydrant__spool_pos end;
        size_t n = 0;
        CHECK(hydrant__spool_read(sp, batch, 1 << 20, recs, &n, &end) == HYDRANT_OK);
        if (!n)
            break;
        for (size_t i = 0; i < n; i++) {
            char want[32];
            snprintf(want, sizeof want, "rec-%04d", next++);
            CHECK(recs[i]->len == strlen(want) && !memcmp(recs[i]->data, want, recs[i]->len));
        }
        free_recs(recs, n);
        CHECK(hydrant__spool_commit(sp, end) == HYDRANT_OK);
    }
    CHECK(next == to);
    CHECK(hydrant__spool_empty(sp));
}

static char *seg_file(const char *stream)
{
    static char path[800];
    char dir[400];
    snprintf(dir, sizeof dir, "%s/s-%s", tmpdir, stream);
    DIR *d = opendir(dir);
    struct dirent *de;
    path[0] = '\0';
    while (d && (de = readdir(d)))
        if (strstr(de->d_name, ".seg") && strlen(de->d_name) == 20)
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (d)
        closedir(d);
    return path;
}

static void test_spool(void)
{
    struct hydrant__spool *sp;
    char dir[400];
    struct stat st;

    CHECK(hydrant__spool_open(tmpdir, "a", &sp) == HYDRANT_OK);
    CHECK(hydrant__spool_empty(sp));
    put_n(sp, 0, 100);
    CHECK(!hydrant__spool_empty(sp));
    CHECK(hydrant__spool_bytes(sp) == 16 + 100 * (8 + 8));
    expect_range(sp, 0, 100, 7);
    snprintf(dir, sizeof dir, "%s/s-a", tmpdir);
    CHECK(stat(dir, &st) != 0); /* drained: the directory is gone */
    hydrant__spool_free(sp);

    /* a second opener finds what the first left, after a partial commit */
    CHECK(hydrant__spool_open(tmpdir, "b", &sp) == HYDRANT_OK);
    put_n(sp, 0, 50);
    struct hydrant__rec *recs[500];
    struct hydrant__spool_pos end;
    size_t n;
    CHECK(hydrant__spool_read(sp, 20, 1 << 20, recs, &n, &end) == HYDRANT_OK && n == 20);
    free_recs(recs, n);
    CHECK(hydrant__spool_commit(sp, end) == HYDRANT_OK);
    hydrant__spool_free(sp);
    CHECK(hydrant__spool_open(tmpdir, "b", &sp) == HYDRANT_OK);
    expect_range(sp, 20, 50, 64);
    hydrant__spool_free(sp);

    /* a torn tail is cut: the last frame loses 3 bytes */
    CHECK(hydrant__spool_open(tmpdir, "c", &sp) == HYDRANT_OK);
    put_n(sp, 0, 10);
    hydrant__spool_free(sp);
    const char *seg = seg_file("c");
    CHECK(stat(seg, &st) == 0 && truncate(seg, st.st_size - 3) == 0);
    CHECK(hydrant__spool_open(tmpdir, "c", &sp) == HYDRANT_OK);
    put_n(sp, 9, 12); /* appends continue after the last valid frame */
    expect_range(sp, 0, 12, 5);
    hydrant__spool_free(sp);

    /* a flipped byte in the last record fails its CRC and is cut too */
    CHECK(hydrant__spool_open(tmpdir, "d", &sp) == HYDRANT_OK);
    put_n(sp, 0, 5);
    hydrant__spool_free(sp);
    seg = seg_file("d");
    FILE *f = fopen(seg, "r+b");
    CHECK(f && fseek(f, -1, SEEK_END) == 0 && fputc('#', f) != EOF);
    if (f)
        fclose(f);
    CHECK(hydrant__spool_open(tmpdir, "d", &sp) == HYDRANT_OK);
    expect_range(sp, 0, 4, 64);
    hydrant__spool_free(sp);

    /* prepend: older records go before everything, even mid-segment */
    CHECK(hydrant__spool_open(tmpdir, "e", &sp) == HYDRANT_OK);
    put_n(sp, 10, 20);
    CHECK(hydrant__spool_read(sp, 3, 1 << 20, recs, &n, &end) == HYDRANT_OK && n == 3);
    free_recs(recs, n);
    CHECK(hydrant__spool_commit(sp, end) == HYDRANT_OK); /* 10..12 consumed */
    struct hydrant__rec *old[3] = {mkrec("rec-0010"), mkrec("rec-0011"), mkrec("rec-0012")};
    CHECK(hydrant__spool_prepend(sp, old, 3) == HYDRANT_OK);
    free_recs(old, 3);
    put_n(sp, 20, 25);
    hydrant__spool_free(sp); /* and it survives a reopen */
    CHECK(hydrant__spool_open(tmpdir, "e", &sp) == HYDRANT_OK);
    expect_range(sp, 10, 25, 4);
    hydrant__spool_free(sp);

    /* many segments: 5000 records of 2 KiB cross the 4 MiB segment size */
    CHECK(hydrant__spool_open(tmpdir, "f", &sp) == HYDRANT_OK);
    char *big = malloc(2048);
    memset(big, 'x', 2048);
    for (int i = 0; i < 5000; i++) {
        snprintf(big, 16, "%08d", i);
        struct hydrant__rec *r = hydrant__rec_new(big, 2048);
        CHECK(hydrant__spool_append(sp, &r, 1) == HYDRANT_OK);
        free(r);
    }
    hydrant__spool_free(sp);
    CHECK(hydrant__spool_open(tmpdir, "f", &sp) == HYDRANT_OK);
    int next = 0;
    while (!hydrant__spool_empty(sp)) {
        CHECK(hydrant__spool_read(sp, 500, 4u << 20, recs, &n, &end) == HYDRANT_OK);
        for (size_t i = 0; i < n; i++) {
            snprintf(big, 16, "%08d", next++);
            CHECK(recs[i]->len == 2048 && !memcmp(recs[i]->data, big, 8));
            free(recs[i]);
        }
        CHECK(hydrant__spool_commit(sp, end) == HYDRANT_OK);
        if (!n)
            break;
    }
    CHECK(next == 5000);
    free(big);
    hydrant__spool_free(sp);
}

/* ---- the API without a server ------------------------------------------- */

static void base_config(struct hydrant_config *cfg)
{
    hydrant_config_init(cfg);
    cfg->endpoint = "http://127.0.0.1:1"; /* nothing listens: connection refused */
    cfg->access_key_id = "test";
    cfg->secret_access_key = "test";
    cfg->backoff_base_ms = 10;
    cfg->backoff_max_ms = 50;
    cfg->linger_ms = 10;
}

static void test_api_args(void)
{
    struct hydrant_config cfg;
    hydrant_producer *p = (hydrant_producer *)&cfg;

    CHECK(hydrant_close(NULL, 100, NULL) == HYDRANT_OK);
    hydrant_producer_free(NULL);
    CHECK(hydrant_producer_new(NULL, &p) == HYDRANT_EINVAL && p == NULL);
    base_config(&cfg);
    cfg.secret_access_key = NULL;
    CHECK(hydrant_producer_new(&cfg, &p) == HYDRANT_EINVAL);
    base_config(&cfg);
    cfg.max_batch_records = 501;
    CHECK(hydrant_producer_new(&cfg, &p) == HYDRANT_EINVAL);
    base_config(&cfg);
    cfg.max_batch_bytes = HYDRANT_MAX_BATCH_BYTES + 1;
    CHECK(hydrant_producer_new(&cfg, &p) == HYDRANT_EINVAL);
    for (int rc = 0; rc >= -10; rc--)
        CHECK(hydrant_strerror(rc) && *hydrant_strerror(rc));

    base_config(&cfg);
    CHECK(hydrant_producer_new(&cfg, &p) == HYDRANT_OK);
    CHECK(hydrant_put(p, "", "x", 1) == HYDRANT_EINVAL);
    CHECK(hydrant_put(p, "bad name", "x", 1) == HYDRANT_EINVAL);
    CHECK(hydrant_put(p, "../etc", "x", 1) == HYDRANT_EINVAL);
    char longname[70];
    memset(longname, 'a', 65);
    longname[65] = '\0';
    CHECK(hydrant_put(p, longname, "x", 1) == HYDRANT_EINVAL);
    longname[64] = '\0';
    CHECK(hydrant_put(p, longname, "x", 1) == HYDRANT_OK);
    CHECK(hydrant_put(p, "s", "x", 0) == HYDRANT_EINVAL);
    CHECK(hydrant_put(p, "s", NULL, 1) == HYDRANT_EINVAL);
    char *big = calloc(1, HYDRANT_MAX_RECORD_BYTES + 1);
    CHECK(hydrant_put(p, "s", big, HYDRANT_MAX_RECORD_BYTES + 1) == HYDRANT_ETOOBIG);
    CHECK(hydrant_put(p, "s", big, HYDRANT_MAX_RECORD_BYTES) == HYDRANT_OK);
    free(big);
    CHECK(hydrant_flush(p, 50, NULL) == HYDRANT_ETIMEDOUT); /* nobody answers */
    struct hydrant_stats st;
    hydrant_stats(p, &st);
    CHECK(st.put == 2 && st.acked == 0 && st.queued == 2);
    CHECK(st.failed_requests > 0 && st.last_error[0]);
    /* no spool: what is not acknowledged is lost, and close says so */
    CHECK(hydrant_close(p, 0, NULL) == HYDRANT_ELOST);
}

static void test_memory_ceiling(void)
{
    struct hydrant_config cfg;
    hydrant_producer *p;
    char rec[100];
    int accepted = 0, rc = HYDRANT_OK;

    base_config(&cfg);
    cfg.max_memory_bytes = 1000;
    cfg.linger_ms = 60000;
    CHECK(hydrant_producer_new(&cfg, &p) == HYDRANT_OK);
    memset(rec, 'r', sizeof rec);
    for (int i = 0; i < 50 && rc == HYDRANT_OK; i++)
        if ((rc = hydrant_put(p, "s", rec, sizeof rec)) == HYDRANT_OK)
            accepted++;
    CHECK(rc == HYDRANT_EFULL);
    CHECK(accepted == 10);
    struct hydrant_stats st;
    hydrant_stats(p, &st);
    CHECK(st.queued_bytes <= 1000);
    hydrant_producer_free(p);
}

struct put_thread {
    hydrant_producer *p;
    int id;
};

static void *put_thread_main(void *arg)
{
    struct put_thread *t = arg;
    char stream[16], rec[32];
    snprintf(stream, sizeof stream, "t%d", t->id);
    for (int i = 0; i < 500; i++) {
        int n = snprintf(rec, sizeof rec, "rec-%04d", i);
        if (hydrant_put(t->p, stream, rec, (size_t)n) != HYDRANT_OK)
            return (void *)1;
    }
    return NULL;
}

/* Unreachable endpoint + spool: records go to disk from several threads,
 * in order per stream, and a second producer finds them all. */
static void test_spool_unreachable(void)
{
    struct hydrant_config cfg;
    hydrant_producer *p;
    char spool[300];
    pthread_t th[4];
    struct put_thread args[4];

    snprintf(spool, sizeof spool, "%s/var/spool/obd2", tmpdir); /* created on demand */
    base_config(&cfg);
    cfg.spool_dir = spool;
    cfg.max_memory_bytes = 4096; /* also pushes puts to the spool early */
    CHECK(hydrant_producer_new(&cfg, &p) == HYDRANT_OK);
    for (int i = 0; i < 4; i++) {
        args[i] = (struct put_thread){p, i};
        CHECK(pthread_create(&th[i], NULL, put_thread_main, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        CHECK(ret == NULL);
    }
    struct hydrant_stats st;
    hydrant_stats(p, &st);
    CHECK(st.put == 2000);
    /* nothing acknowledged, nothing lost: all of it is kept for later */
    CHECK(hydrant_close(p, 100, NULL) == HYDRANT_ETIMEDOUT);

    /* the next "boot" of the device: a producer on the same spool */
    CHECK(hydrant_producer_new(&cfg, &p) == HYDRANT_OK);
    CHECK(hydrant_put(p, "t0", "rec-0500", 8) == HYDRANT_OK);
    CHECK(hydrant_close(p, 0, NULL) == HYDRANT_ETIMEDOUT);

    for (int i = 0; i < 4; i++) {
        char stream[16];
        struct hydrant__spool *sp;
        snprintf(stream, sizeof stream, "t%d", i);
        CHECK(hydrant__spool_open(spool, stream, &sp) == HYDRANT_OK);
        expect_range(sp, 0, i == 0 ? 501 : 500, 64);
        hydrant__spool_free(sp);
    }
}

static int run_unit(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_libhydrant.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"wire_body", test_wire_body},
        {"wire_parse", test_wire_parse},
        {"spool", test_spool},
        {"api_args", test_api_args},
        {"memory_ceiling", test_memory_ceiling},
        {"spool_unreachable", test_spool_unreachable},
    };
    int failed_tests = 0;
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
        int before = failures;
        tests[i].fn();
        printf("%s %s\n", failures == before ? "ok  " : "FAIL", tests[i].name);
        failed_tests += failures != before;
    }
    rm_rf(tmpdir);
    printf("%zu tests, %d failed (%d checks, %d failed)\n", sizeof tests / sizeof *tests,
           failed_tests, checks, failures);
    return failures ? 1 : 0;
}

/* ---- the driver --------------------------------------------------------- */

#define DRIVE_MAX_STREAMS 64

struct seqs {
    char name[DRIVE_MAX_STREAMS][HYDRANT_MAX_STREAM_NAME + 1];
    unsigned long long next[DRIVE_MAX_STREAMS];
    int n;
};

static unsigned long long *seq_of(struct seqs *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->name[i], name))
            return &s->next[i];
    if (s->n == DRIVE_MAX_STREAMS || strlen(name) > HYDRANT_MAX_STREAM_NAME)
        return NULL;
    snprintf(s->name[s->n], sizeof s->name[s->n], "%s", name);
    s->next[s->n] = 1;
    return &s->next[s->n++];
}

static const char *rc_name(int rc)
{
    switch (rc) {
    case HYDRANT_OK: return "OK";
    case HYDRANT_EINVAL: return "EINVAL";
    case HYDRANT_ENOMEM: return "ENOMEM";
    case HYDRANT_ETOOBIG: return "ETOOBIG";
    case HYDRANT_EFULL: return "EFULL";
    case HYDRANT_ETIMEDOUT: return "ETIMEDOUT";
    case HYDRANT_EIO: return "EIO";
    case HYDRANT_ECURL: return "ECURL";
    case HYDRANT_ELOST: return "ELOST";
    case HYDRANT_ECLOSED: return "ECLOSED";
    case HYDRANT_EDROPPED: return "EDROPPED";
    default: return "E?";
    }
}

static int run_drive(int argc, char **argv)
{
    struct hydrant_config cfg;
    static const struct option opts[] = {
        {"endpoint", required_argument, 0, 'e'},      {"spool", required_argument, 0, 's'},
        {"linger-ms", required_argument, 0, 'l'},     {"batch-records", required_argument, 0, 'r'},
        {"memory", required_argument, 0, 'm'},        {"backoff-base-ms", required_argument, 0, 'b'},
        {"backoff-max-ms", required_argument, 0, 'B'}, {"batch-bytes", required_argument, 0, 'y'},
        {"sync", required_argument, 0, 'S'},          {"sync-ms", required_argument, 0, 'M'},
        {0, 0, 0, 0}};
    int c;

    hydrant_config_init(&cfg);
    cfg.access_key_id = "test";
    cfg.secret_access_key = "test";
    cfg.region = "us-east-1";
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'e': cfg.endpoint = optarg; break;
        case 's': cfg.spool_dir = optarg; break;
        case 'l': cfg.linger_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'r': cfg.max_batch_records = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'y': cfg.max_batch_bytes = strtoul(optarg, NULL, 10); break;
        case 'm': cfg.max_memory_bytes = strtoul(optarg, NULL, 10); break;
        case 'b': cfg.backoff_base_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'B': cfg.backoff_max_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'S':
            cfg.spool_sync = !strcmp(optarg, "put") ? HYDRANT_SYNC_PUT
                           : !strcmp(optarg, "interval") ? HYDRANT_SYNC_INTERVAL
                           : !strcmp(optarg, "idle") ? HYDRANT_SYNC_IDLE : -1;
            break;
        case 'M': cfg.spool_sync_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    hydrant_producer *p;
    int rc = hydrant_producer_new(&cfg, &p);
    if (rc) {
        printf("new %s\n", rc_name(rc));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);

    struct seqs seqs = {.n = 0};
    char line[512], *buf = malloc(HYDRANT_MAX_RECORD_BYTES + 1);
    while (buf && fgets(line, sizeof line, stdin)) {
        char cmd[16], stream[128];
        unsigned long long a = 0, b = 0;
        int nf = sscanf(line, "%15s", cmd);
        if (nf != 1)
            continue;
        if (!strcmp(cmd, "put") && sscanf(line, "%*s %127s %llu %llu", stream, &a, &b) >= 2) {
            unsigned long long *next = seq_of(&seqs, stream), accepted = 0;
            rc = next ? HYDRANT_OK : HYDRANT_EINVAL;
            for (unsigned long long i = 0; rc == HYDRANT_OK && i < a; i++) {
                int n = snprintf(buf, 256, "%s %08llu ", stream, *next);
                size_t len = (size_t)n;
                while (len + 1 < b && len < HYDRANT_MAX_RECORD_BYTES - 1) {
                    buf[len] = (char)('a' + (*next + len) % 26);
                    len++;
                }
                buf[len++] = '\n';
                if ((rc = hydrant_put(p, stream, buf, len)) == HYDRANT_OK) {
                    (*next)++;
                    accepted++;
                }
            }
            printf("put %s %llu\n", rc_name(rc), accepted);
        } else if (!strcmp(cmd, "seq") && sscanf(line, "%*s %127s %llu", stream, &a) == 2) {
            unsigned long long *next = seq_of(&seqs, stream);
            if (next)
                *next = a;
            printf("seq %llu\n", a);
        } else if (!strcmp(cmd, "flush") && sscanf(line, "%*s %llu", &a) == 1) {
            uint64_t dropped = 0;
            rc = hydrant_flush(p, (unsigned)a, &dropped);
            printf("flush %s %llu\n", rc_name(rc), (unsigned long long)dropped);
        } else if (!strcmp(cmd, "stats")) {
            struct hydrant_stats st;
            hydrant_stats(p, &st);
            printf("stats put=%llu sent=%llu acked=%llu retried=%llu spooled=%llu dropped=%llu "
                   "requests=%llu failed_requests=%llu queued=%llu queued_bytes=%llu "
                   "spool_bytes=%llu last_error=%s\n",
                   (unsigned long long)st.put, (unsigned long long)st.sent,
                   (unsigned long long)st.acked, (unsigned long long)st.retried,
                   (unsigned long long)st.spooled, (unsigned long long)st.dropped,
                   (unsigned long long)st.requests, (unsigned long long)st.failed_requests,
                   (unsigned long long)st.queued, (unsigned long long)st.queued_bytes,
                   (unsigned long long)st.spool_bytes, st.last_error[0] ? st.last_error : "-");
        } else if (!strcmp(cmd, "close") && sscanf(line, "%*s %llu", &a) == 1) {
            uint64_t dropped = 0;
            rc = hydrant_close(p, (unsigned)a, &dropped);
            printf("close %s %llu\n", rc_name(rc), (unsigned long long)dropped);
            fflush(stdout);
            free(buf);
            return 0;
        } else {
            printf("error unknown command\n");
        }
        fflush(stdout);
    }
    free(buf);
    hydrant_close(p, 0, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "unit"))
        return run_unit();
    if (argc >= 2 && !strcmp(argv[1], "drive"))
        return run_drive(argc - 1, argv + 1);
    fprintf(stderr, "usage: test_libhydrant unit | drive --endpoint URL [...] < commands\n");
    return 2;
}
