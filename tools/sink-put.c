/* tools/sink-put.c -- one object through one sink, outside the server: the
 * sink the server would choose for a bucket (sink_for), called once, with
 * its answer printed as a JSON line. For tests and operators: check that
 * an external S3 endpoint or an HTTP endpoint takes hydrant's requests
 * before streams depend on it.
 *
 *   sink-put [--s3-endpoint URL --s3-access-key-id ID ... | --destinations F]
 *            --bucket B --key K (--file F | --records-file F)
 *            [--dest-config JSON --arn ARN] [--backup-failed CODE]
 *            [--http-endpoint-ca-file F] [--http-endpoint-timeout S]
 *
 * --records-file: one record per line (its '\n' kept), the object being
 * their concatenation; --dest-config: the destination configuration as
 * stored (e.g. an HttpEndpointDestinationConfiguration), which picks the
 * HTTP endpoint sink; --backup-failed CODE: instead of a put, the
 * http-endpoint-failed backup of the records (http_endpoint_backup_failed).
 * Prints {"rc":..,"error":..,"retryable":..,"why":..,"ms":..}; exit status
 * 0 when the sink confirmed, 1 when it did not, 2 for bad usage.
 *
 * Threading: one thread.
 */
#include "destinations.h"
#include "pipeline.h"
#include "sinks/sinks.h"
#include "stream.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hy_config hy_cfg = {.region = "us-east-1"}; /* main.c's; the server objects use it */

static void usage(void)
{
    fprintf(stderr, "usage: sink-put [--s3-* flags | --destinations F] --bucket B --key K "
            "(--file F | --records-file F) [--dest-config JSON --arn ARN] "
            "[--backup-failed CODE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"s3-endpoint", required_argument, 0, 1},
        {"s3-access-key-id", required_argument, 0, 1},
        {"s3-secret-access-key", required_argument, 0, 1},
        {"s3-region", required_argument, 0, 1},
        {"s3-path-style", no_argument, 0, 1},
        {"s3-ca-file", required_argument, 0, 1},
        {"destinations", required_argument, 0, 1},
        {"bucket", required_argument, 0, 'b'},
        {"key", required_argument, 0, 'k'},
        {"file", required_argument, 0, 'f'},
        {"records-file", required_argument, 0, 'r'},
        {"dest-config", required_argument, 0, 'c'},
        {"arn", required_argument, 0, 'a'},
        {"backup-failed", required_argument, 0, 'B'},
        {"http-endpoint-ca-file", required_argument, 0, 'C'},
        {"http-endpoint-timeout", required_argument, 0, 'T'},
        {0, 0, 0, 0},
    };
    const char *bucket = NULL, *key = NULL, *file = NULL, *records = NULL, *cfg_text = NULL;
    const char *arn = "arn:aws:firehose:us-east-1:000000000000:deliverystream/sink-put";
    const char *backup_code = NULL;
    int c, idx = 0;
    while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
        switch (c) {
        case 1: destinations_flag(opts[idx].name, optarg); break;
        case 'b': bucket = optarg; break;
        case 'k': key = optarg; break;
        case 'f': file = optarg; break;
        case 'r': records = optarg; break;
        case 'c': cfg_text = optarg; break;
        case 'a': arn = optarg; break;
        case 'B': backup_code = optarg; break;
        case 'C': http_endpoint_ca_file = optarg; break;
        case 'T': http_endpoint_timeout_s = atoi(optarg); break;
        default: usage();
        }
    }
    if (!bucket || !key || !file == !records)
        usage();
    sinks_records_passed = true; /* this tool hands the sink its records */
    char msg[600];
    if (destinations_init(msg, sizeof msg) != HY_OK) {
        fprintf(stderr, "sink-put: %s\n", msg);
        return 2;
    }
    size_t len = 0;
    char *data = hy_read_file(file ? file : records, (size_t)6 << 30, &len);
    if (!data) {
        fprintf(stderr, "sink-put: cannot read %s\n", file ? file : records);
        return 2;
    }
    struct stream_dest dest;
    memset(&dest, 0, sizeof dest);
    snprintf(dest.name, sizeof dest.name, "sink-put");
    snprintf(dest.bucket, sizeof dest.bucket, "%s", bucket);
    snprintf(dest.arn, sizeof dest.arn, "%s", arn);
    if (cfg_text) {
        json_error_t err;
        if (!(dest.config = json_loads(cfg_text, 0, &err))) {
            fprintf(stderr, "sink-put: --dest-config: %s\n", err.text);
            return 2;
        }
    }
    struct pl_batch batch;
    bool have_batch = false;
    pl_batch_init(&batch, (size_t)1 << 31);
    if (records) {
        struct stream_batch sb;
        memset(&sb, 0, sizeof sb);
        sb.data.data = data;
        sb.data.len = len;
        buf_init(&sb.lens, (size_t)1 << 30);
        sb.oldest_ms = hy_now_ms();
        for (size_t off = 0; off < len;) {
            char *nl = memchr(data + off, '\n', len - off);
            uint32_t n = (uint32_t)(nl ? (size_t)(nl - data - off) + 1 : len - off);
            buf_append(&sb.lens, &n, sizeof n);
            sb.nrecords++;
            off += n;
        }
        if (pl_batch_from_stream(&batch, &sb) != HY_OK) {
            fprintf(stderr, "sink-put: cannot build the records\n");
            return 2;
        }
        buf_free(&sb.lens);
        have_batch = true;
    }
    struct sink_put put = {.dest = &dest, .bucket = dest.bucket, .key = key, .data = data,
                           .len = len, .content_type = "application/octet-stream",
                           .records = have_batch ? &batch : NULL};
    const char *code = NULL;
    bool retryable = false;
    char why[400] = "";
    int64_t t0 = hy_mono_ms();
    int rc = backup_code
                 ? http_endpoint_backup_failed(&put, 1, backup_code, "sink-put backup", &code,
                                               &retryable, why, sizeof why)
                 : sink_for(&dest, dest.bucket)->put(&put, &code, &retryable, why, sizeof why);
    json_t *out = json_pack("{s:i, s:s?, s:b, s:s, s:I, s:s}", "rc", rc, "error", rc ? code : NULL,
                            "retryable", retryable, "why", rc ? why : "", "ms",
                            (json_int_t)(hy_mono_ms() - t0), "sink",
                            backup_code ? "backup" : sink_for(&dest, dest.bucket)->name);
    char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    printf("%s\n", text ? text : "{}");
    free(text);
    json_decref(out);
    json_decref(dest.config);
    pl_batch_free(&batch);
    free(data);
    s3_remote_shutdown();
    destinations_shutdown();
    return rc == HY_OK ? 0 : 1;
}
