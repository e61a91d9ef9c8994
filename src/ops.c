/* ops.c -- the operator endpoints: liveness and readiness probes.
 *
 * Two rows of the router's table (api ROUTER_OPS), the only requests
 * hydrant answers without a signature, under /_hydrant/, a prefix no
 * bucket can take (bucket names have no '_'):
 *
 *   GET /_hydrant/health   200 {"status":"ok"} while the process serves
 *                          HTTP at all (liveness: restart it when this
 *                          fails)
 *   GET /_hydrant/ready    200 {"status":"ready"} once recovery finished,
 *                          the write-ahead log accepts appends and the
 *                          data directory's file system has more than
 *                          --min-free-bytes free; else 503
 *                          {"status":"not ready","reason":"..."} (take it
 *                          out of the load balancer): "recovering",
 *                          "stopping" (SIGTERM received, draining), "wal
 *                          failed: ...", "wal not writable: DIR", "disk
 *                          headroom: ..."
 *
 * Anything else under the prefix is 404 {"__type":"NotFound",...}. The
 * answers carry Cache-Control: no-store and never write a log line:
 * probes come every few seconds and would drown what an operator reads.
 * They read no request body and reveal nothing but the reason.
 *
 * Threading: runs on the HTTP threads; the ready flag is atomic, the WAL
 * statistics are read through wal_get_stats (thread-safe).
 */
#include "api.h"
#include "wal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

static atomic_bool ready, was_ready;

void ops_set_ready(bool r)
{
    if (r)
        atomic_store(&was_ready, true);
    atomic_store(&ready, r);
}

bool ops_ready(void)
{
    return atomic_load(&ready);
}

static void reply_json(struct http_req *req, int status, const char *body)
{
    http_add_header(req, "Cache-Control", "no-store");
    http_reply(req, status, "application/json", body, strlen(body));
}

/* NULL when ready, else why not, in reason[] */
static const char *not_ready(char *reason, size_t size)
{
    if (!ops_ready())
        return atomic_load(&was_ready) ? "stopping" : "recovering";
    if (!hy_wal)
        return "recovering";
    struct wal_stats ws;
    wal_get_stats(hy_wal, &ws);
    if (ws.failed)
        return "wal failed: a log fsync failed and no new segment could be made";
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/wal", hy_cfg.data_dir);
    if (access(dir, W_OK) != 0) {
        snprintf(reason, size, "wal not writable: %s", dir);
        return reason;
    }
    struct statvfs sv;
    if (statvfs(hy_cfg.data_dir, &sv) != 0) {
        snprintf(reason, size, "cannot stat the data directory's file system");
        return reason;
    }
    unsigned long long avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
    if (avail <= hy_cfg.min_free_bytes) {
        snprintf(reason, size, "disk headroom: %llu bytes free, --min-free-bytes %llu", avail,
                 (unsigned long long)hy_cfg.min_free_bytes);
        return reason;
    }
    return NULL;
}

void ops_handle(struct http_req *req, const struct router_op *op)
{
    if (!op) {
        reply_json(req, 404, "{\"__type\":\"NotFound\",\"message\":\"No operator endpoint "
                             "there: GET /_hydrant/health and GET /_hydrant/ready are.\"}");
        return;
    }
    if (strcmp(op->name, "Health") == 0) {
        reply_json(req, 200, "{\"status\":\"ok\"}");
        return;
    }
    char reason[4200];
    const char *why = not_ready(reason, sizeof reason);
    if (!why) {
        reply_json(req, 200, "{\"status\":\"ready\"}");
        return;
    }
    /* the reasons are ours: no quote or backslash to escape, bar the path */
    struct buf b;
    buf_init(&b, 8192);
    buf_puts(&b, "{\"status\":\"not ready\",\"reason\":\"");
    for (const char *p = why; *p; p++)
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            buf_append(&b, p, 1);
    int rc = buf_puts(&b, "\"}");
    reply_json(req, 503, rc == HY_OK ? b.data : "{\"status\":\"not ready\"}");
    buf_free(&b);
}
