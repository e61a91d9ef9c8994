/* cloudwatch.h -- the CloudWatch metrics API over metrics.c's 1-minute
 * history (Query protocol, like IAM). cloudwatch_handle is in api.h. */
#ifndef HYDRANT_CLOUDWATCH_H
#define HYDRANT_CLOUDWATCH_H

#include "server.h"

int cloudwatch_open(const char *dir);
void cloudwatch_close(void);

/* The form-encoded body of a Query request, decoded once: n pairs in
 * arena a. HY_OK, HY_EINVAL (a malformed escape), HY_ELIMIT (more than
 * max pairs), HY_ENOMEM. The parser tests/fuzz/fuzz_cloudwatch.c drives. */
struct cw_pair {
    const char *name, *value;
};
int cw_form_parse(struct arena *a, const char *body, size_t len, size_t max,
                  struct cw_pair **out, size_t *n);
/* An ISO 8601 time as botocore sends it (2026-12-02T01:02:03Z, with
 * optional fraction and +hh:mm offset) or epoch seconds: ms since the
 * epoch. HY_OK or HY_EINVAL. */
int cw_parse_time(const char *s, int64_t *ms);
/* The answer to one CloudWatch operation, without HTTP (tests, fuzzing):
 * *status, and the XML body in *out (caller frees with buf_free). */
void cloudwatch_exec(struct arena *a, const char *region, const char *op, const char *body,
                     size_t len, int *status, struct buf *out);

/* ---- CloudWatch Logs (cloudwatch_logs.c) ------------------------------
 * logs_handle is in api.h; logs_exec is the same without HTTP (tests,
 * fuzzing): *out is malloc'd JSON (caller frees), NULL when out of memory.
 * Thread-safe. */
void logs_exec(const char *region, const char *op, const char *body, size_t len, int *status,
               char **out);
/* Forgets every group (cloudwatch_close; fuzzing). */
void cloudwatch_logs_reset(void);
/* delivery.c's failure path, through metrics_delivery_failed: one event,
 * in AWS's shape ({"deliveryStreamARN", "destination",
 * "deliveryStreamVersionId", "message", "errorCode"}), into the log group
 * and stream the batch's CloudWatchLoggingOptions name, when Enabled;
 * the group and stream are made when missing. */
struct stream_batch;
void cloudwatch_log_delivery_error(const struct stream_batch *b, const char *err_code,
                                   const char *why);
/* A FilterLogEvents filter pattern: terms (all must occur), "quoted
 * phrases", -term (must not), ?term (at least one of them). HY_OK, or
 * HY_EINVAL with why (JSON and space-delimited patterns are refused). */
#define LOGS_MAX_TERMS 32
struct pattern {
    struct {
        char text[256];
        char kind; /* '+' must, '-' must not, '?' one of */
    } t[LOGS_MAX_TERMS];
    size_t n;
};
int logs_pattern_parse(const char *s, struct pattern *p, char *why, size_t why_len);
bool logs_pattern_match(const struct pattern *p, const char *msg);

#endif
