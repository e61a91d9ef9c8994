/* cloudwatch_logs.c -- the CloudWatch Logs API (JSON 1.1, X-Amz-Target
 * Logs_20140328.*) and the writer of Firehose's error logs into it.
 *
 * Why: a stream with CloudWatchLoggingOptions {Enabled, LogGroupName,
 * LogStreamName} has its delivery errors written there, with AWS's error
 * codes (S3.NoSuchBucket, Lambda.FunctionError, ...), where Firehose
 * users look for them: `aws logs tail`, logs.filter_log_events.
 *
 * Operations: CreateLogGroup, CreateLogStream, DeleteLogGroup,
 * DescribeLogGroups, DescribeLogStreams, GetLogEvents (forward and
 * backward tokens "f/<seq>" / "b/<seq>", the same token again when there
 * is nothing new, as the CLI's pagination expects), FilterLogEvents
 * (interleaved by time; filter patterns of terms, "quoted phrases",
 * -exclusions and ?alternatives; JSON and space-delimited patterns are
 * refused by name), PutLogEvents. Errors are JSON {__type, message}
 * with the Logs API's types (ResourceNotFoundException,
 * ResourceAlreadyExistsException, InvalidParameterException).
 *
 * Store: in memory, per region, bounded: LOGS_MAX_GROUPS groups,
 * LOGS_MAX_STREAMS streams a group, LOGS_MAX_EVENTS events a stream (the
 * oldest are dropped first, as a retention period would), a message at
 * most 256 KiB (AWS's event size). The log does not survive a restart:
 * it is the errors of this run; the durable record of a failed batch is
 * the batch itself (spill file, then the dead-letter bucket). Firehose
 * writes into a group or stream that does not exist yet by creating it
 * (AWS would drop the entry; a missing error log is worse than an extra
 * group).
 *
 * Threading: one mutex over the store; the HTTP threads (API) and the
 * delivery workers (cloudwatch_log_delivery_error) take it briefly.
 */
#include "cloudwatch.h"
#include "api.h"
#include "stream.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGS_MAX_GROUPS 1000
#define LOGS_MAX_STREAMS 1000
#define LOGS_MAX_EVENTS 10000
#define LOGS_MAX_MESSAGE (256u << 10)
#define LOGS_MAX_LIMIT 10000

struct log_event {
    int64_t ts, ingested;
    uint64_t seq;
    char *msg;
};

struct log_stream {
    char *name;
    int64_t created, first_ts, last_ts, last_ingest;
    struct log_event *ev;     /* ring of LOGS_MAX_EVENTS, oldest at head */
    size_t n, head;
    uint64_t next_seq;
    uint64_t stored;
};

struct log_group {
    char region[64];
    char *name;
    int64_t created;
    struct log_stream **streams;
    size_t n, cap;
};

static struct {
    pthread_mutex_t lock;
    struct log_group **groups;
    size_t n, cap;
} L = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- the store (caller holds L.lock) ------------------------------------------ */

static struct log_group *group_find(const char *region, const char *name)
{
    for (size_t i = 0; i < L.n; i++)
        if (strcmp(L.groups[i]->region, region) == 0 && strcmp(L.groups[i]->name, name) == 0)
            return L.groups[i];
    return NULL;
}

static struct log_stream *lstream_find(const struct log_group *g, const char *name)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->streams[i]->name, name) == 0)
            return g->streams[i];
    return NULL;
}

static int group_create(const char *region, const char *name, int64_t now,
                        struct log_group **out)
{
    if (group_find(region, name))
        return HY_EEXIST;
    if (L.n >= LOGS_MAX_GROUPS)
        return HY_ELIMIT;
    if (hy_grow((void **)&L.groups, &L.cap, L.n + 1, sizeof *L.groups))
        return HY_ENOMEM;
    struct log_group *g = calloc(1, sizeof *g);
    if (!g || !(g->name = strdup(name))) {
        free(g);
        return HY_ENOMEM;
    }
    snprintf(g->region, sizeof g->region, "%s", region);
    g->created = now;
    L.groups[L.n++] = g;
    if (out)
        *out = g;
    return HY_OK;
}

static int lstream_create(struct log_group *g, const char *name, int64_t now,
                          struct log_stream **out)
{
    if (lstream_find(g, name))
        return HY_EEXIST;
    if (g->n >= LOGS_MAX_STREAMS)
        return HY_ELIMIT;
    if (hy_grow((void **)&g->streams, &g->cap, g->n + 1, sizeof *g->streams))
        return HY_ENOMEM;
    struct log_stream *s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(name))) {
        free(s);
        return HY_ENOMEM;
    }
    s->created = now;
    g->streams[g->n++] = s;
    if (out)
        *out = s;
    return HY_OK;
}

static void lstream_free(struct log_stream *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->ev[(s->head + i) % LOGS_MAX_EVENTS].msg);
    free(s->ev);
    free(s->name);
    free(s);
}

static void group_free(struct log_group *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        lstream_free(g->streams[i]);
    free(g->streams);
    free(g->name);
    free(g);
}

static const struct log_event *event_at(const struct log_stream *s, size_t i)
{
    return &s->ev[(s->head + i) % LOGS_MAX_EVENTS];
}

static int event_append(struct log_stream *s, int64_t ts, int64_t now, const char *msg,
                        size_t len)
{
    if (!s->ev && !(s->ev = calloc(LOGS_MAX_EVENTS, sizeof *s->ev)))
        return HY_ENOMEM;
    char *copy = malloc(len + 1);
    if (!copy)
        return HY_ENOMEM;
    memcpy(copy, msg, len);
    copy[len] = 0;
    if (s->n == LOGS_MAX_EVENTS) { /* the oldest goes */
        struct log_event *old = &s->ev[s->head];
        s->stored -= strlen(old->msg);
        free(old->msg);
        s->head = (s->head + 1) % LOGS_MAX_EVENTS;
        s->n--;
    }
    s->ev[(s->head + s->n) % LOGS_MAX_EVENTS] = (struct log_event){ts, now, s->next_seq++, copy};
    s->n++;
    s->stored += len;
    if (!s->first_ts || ts < s->first_ts)
        s->first_ts = ts;
    if (ts > s->last_ts)
        s->last_ts = ts;
    s->last_ingest = now;
    return HY_OK;
}

void cloudwatch_logs_reset(void)
{
    pthread_mutex_lock(&L.lock);
    for (size_t i = 0; i < L.n; i++)
        group_free(L.groups[i]);
    free(L.groups);
    L.groups = NULL;
    L.n = L.cap = 0;
    pthread_mutex_unlock(&L.lock);
}

/* ---- Firehose's error log -------------------------------------------------------- */

/* AWS's message for the error codes hydrant's sinks give. */
static const char *aws_message(const char *code, const char *why)
{
    if (code && strcmp(code, "S3.NoSuchBucket") == 0)
        return "The specified bucket does not exist. Create the bucket or use a different "
               "bucket that does exist and try again.";
    if (code && strcmp(code, "S3.AccessDenied") == 0)
        return "Access was denied. Ensure that the trust policy for the provided IAM role "
               "allows Firehose to assume the role, and the access policy allows access to "
               "the S3 bucket.";
    return why && *why ? why : "Delivery failed.";
}

void cloudwatch_log_delivery_error(const struct stream_batch *b, const char *err_code,
                                   const char *why)
{
    const json_t *cw = json_object_get(b->dest.config, "CloudWatchLoggingOptions");
    if (!json_is_true(json_object_get(cw, "Enabled")))
        return;
    const char *gname = json_string_value(json_object_get(cw, "LogGroupName"));
    const char *sname = json_string_value(json_object_get(cw, "LogStreamName"));
    if (!gname || !*gname || !sname || !*sname)
        return; /* refused at create: cannot happen */
    char region[64] = "";
    const char *r = b->dest.arn;
    for (int i = 0; i < 3 && r; i++)
        r = strchr(r + 1, ':');
    const char *end = r ? strchr(r + 1, ':') : NULL;
    if (r && end && (size_t)(end - r - 1) < sizeof region)
        snprintf(region, sizeof region, "%.*s", (int)(end - r - 1), r + 1);
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s}", "deliveryStreamARN", b->dest.arn,
                          "destination", "", "deliveryStreamVersionId", (int)b->dest.version,
                          "message", aws_message(err_code, why), "errorCode",
                          err_code ? err_code : "InternalError");
    char dest[128];
    snprintf(dest, sizeof dest, "arn:aws:s3:::%s", b->dest.bucket);
    if (o)
        json_object_set_new(o, "destination", json_string(dest));
    char *msg = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!msg)
        return;
    int64_t now = hy_now_ms();
    pthread_mutex_lock(&L.lock);
    struct log_group *g = group_find(region[0] ? region : hy_cfg.region, gname);
    int rc = g ? HY_OK : group_create(region[0] ? region : hy_cfg.region, gname, now, &g);
    struct log_stream *s = g ? lstream_find(g, sname) : NULL;
    if (rc == HY_OK && !s)
        rc = lstream_create(g, sname, now, &s);
    if (rc == HY_OK)
        rc = event_append(s, now, now, msg, strlen(msg));
    pthread_mutex_unlock(&L.lock);
    if (rc)
        log_warn("logs", "stream %s: cannot write its error to log group %s: %s",
                 b->dest.name, gname, hy_strerror(rc));
    free(msg);
}

/* ---- the API ------------------------------------------------------------------------- */

struct lx {
    const char *region;
    json_t *in, *out;
    int status;
    const char *type;
    char msg[300];
};

static int fail(struct lx *x, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct lx *x, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg, sizeof x->msg, fmt, ap);
    va_end(ap);
    x->status = status;
    x->type = type;
    return HY_EINVAL;
}

static const char *str_member(struct lx *x, const char *name, bool required, int *rc)
{
    json_t *v = json_object_get(x->in, name);
    if (!v && !required)
        return NULL;
    if (!json_is_string(v) || !*json_string_value(v) || json_string_length(v) > 512) {
        *rc = fail(x, 400, "InvalidParameterException",
                   "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                   "Member must have length between 1 and 512", name);
        return NULL;
    }
    return json_string_value(v);
}

/* An optional integer member in [lo, hi]; def when absent. */
static int int_member(struct lx *x, const char *name, int64_t lo, int64_t hi, int64_t def,
                      int64_t *out)
{
    json_t *v = json_object_get(x->in, name);
    if (!v || json_is_null(v)) {
        *out = def;
        return HY_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return fail(x, 400, "InvalidParameterException",
                    "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                    "Member must have value between %lld and %lld", name, (long long)lo,
                    (long long)hi);
    *out = json_integer_value(v);
    return HY_OK;
}

static const char *group_arn(char out[700], const char *region, const char *name)
{
    snprintf(out, 700, "arn:aws:logs:%s:%s:log-group:%s:*", region, HY_ACCOUNT_ID, name);
    return out;
}

static int need_group(struct lx *x, const char *name, struct log_group **g)
{
    *g = group_find(x->region, name);
    if (!*g)
        return fail(x, 400, "ResourceNotFoundException", "The specified log group does not "
                    "exist.");
    return HY_OK;
}

static int op_create_group(struct lx *x)
{
    int rc = HY_OK;
    const char *name = str_member(x, "logGroupName", true, &rc);
    if (!name)
        return rc;
    rc = group_create(x->region, name, hy_now_ms(), NULL);
    if (rc == HY_EEXIST)
        return fail(x, 400, "ResourceAlreadyExistsException",
                    "The specified log group already exists");
    if (rc == HY_ELIMIT)
        return fail(x, 400, "LimitExceededException", "Resource limit exceeded.");
    return rc;
}

static int op_create_stream(struct lx *x)
{
    int rc = HY_OK;
    const char *gname = str_member(x, "logGroupName", true, &rc);
    const char *sname = gname ? str_member(x, "logStreamName", true, &rc) : NULL;
    struct log_group *g;
    if (!sname)
        return rc;
    if ((rc = need_group(x, gname, &g)))
        return rc;
    rc = lstream_create(g, sname, hy_now_ms(), NULL);
    if (rc == HY_EEXIST)
        return fail(x, 400, "ResourceAlreadyExistsException",
                    "The specified log stream already exists");
    if (rc == HY_ELIMIT)
        return fail(x, 400, "LimitExceededException", "Resource limit exceeded.");
    return rc;
}

static int op_delete_group(struct lx *x)
{
    int rc = HY_OK;
    const char *name = str_member(x, "logGroupName", true, &rc);
    struct log_group *g;
    if (!name)
        return rc;
    if ((rc = need_group(x, name, &g)))
        return rc;
    for (size_t i = 0; i < L.n; i++)
        if (L.groups[i] == g) {
            memmove(&L.groups[i], &L.groups[i + 1], (L.n - i - 1) * sizeof *L.groups);
            L.n--;
            break;
        }
    group_free(g);
    return HY_OK;
}

/* A "<n>" token: an offset into a listing. */
static int offset_token(struct lx *x, size_t *off)
{
    json_t *t = json_object_get(x->in, "nextToken");
    *off = 0;
    if (!t)
        return HY_OK;
    const char *s = json_string_value(t);
    char *end;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || !*s || *end)
        return fail(x, 400, "InvalidParameterException", "The specified nextToken is invalid.");
    *off = (size_t)v;
    return HY_OK;
}

static int op_describe_groups(struct lx *x)
{
    int rc = HY_OK;
    const char *prefix = str_member(x, "logGroupNamePrefix", false, &rc);
    int64_t limit;
    size_t off;
    if (rc || (rc = int_member(x, "limit", 1, 50, 50, &limit)) || (rc = offset_token(x, &off)))
        return rc;
    json_t *arr = json_array();
    size_t seen = 0, added = 0;
    bool more = false;
    for (size_t i = 0; i < L.n && arr; i++) {
        const struct log_group *g = L.groups[i];
        if (strcmp(g->region, x->region) != 0 ||
            (prefix && strncmp(g->name, prefix, strlen(prefix)) != 0))
            continue;
        if (seen++ < off)
            continue;
        if ((int64_t)added == limit) {
            more = true;
            break;
        }
        uint64_t stored = 0;
        for (size_t k = 0; k < g->n; k++)
            stored += g->streams[k]->stored;
        char arn[700];
        json_array_append_new(arr, json_pack("{s:s, s:I, s:i, s:s, s:I}", "logGroupName",
                                             g->name, "creationTime", (json_int_t)g->created,
                                             "metricFilterCount", 0, "arn",
                                             group_arn(arn, g->region, g->name), "storedBytes",
                                             (json_int_t)stored));
        added++;
    }
    if (!arr)
        return HY_ENOMEM;
    json_object_set_new(x->out, "logGroups", arr);
    if (more)
        json_object_set_new(x->out, "nextToken", json_sprintf("%zu", off + added));
    return HY_OK;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(struct log_stream *const *)a)->name, (*(struct log_stream *const *)b)->name);
}

static int cmp_last(const void *a, const void *b)
{
    int64_t x = (*(struct log_stream *const *)a)->last_ts, y = (*(struct log_stream *const *)b)->last_ts;
    return x < y ? -1 : x > y;
}

static int op_describe_streams(struct lx *x)
{
    int rc = HY_OK;
    const char *gname = str_member(x, "logGroupName", true, &rc);
    if (!gname)
        return rc;
    const char *prefix = str_member(x, "logStreamNamePrefix", false, &rc);
    const char *order = json_string_value(json_object_get(x->in, "orderBy"));
    bool desc = json_is_true(json_object_get(x->in, "descending"));
    int64_t limit;
    size_t off;
    struct log_group *g;
    if (rc || (rc = int_member(x, "limit", 1, 50, 50, &limit)) || (rc = offset_token(x, &off)) ||
        (rc = need_group(x, gname, &g)))
        return rc;
    if (order && strcmp(order, "LogStreamName") != 0 && strcmp(order, "LastEventTime") != 0)
        return fail(x, 400, "InvalidParameterException",
                    "1 validation error detected: Value '%.64s' at 'orderBy' failed to satisfy "
                    "constraint: Member must satisfy enum value set: [LastEventTime, "
                    "LogStreamName]", order);
    bool by_time = order && strcmp(order, "LastEventTime") == 0;
    if (by_time && prefix)
        return fail(x, 400, "InvalidParameterException",
                    "Cannot order by LastEventTime with a logStreamNamePrefix.");
    struct log_stream **v = malloc((g->n ? g->n : 1) * sizeof *v);
    if (!v)
        return HY_ENOMEM;
    if (g->n)
        memcpy(v, g->streams, g->n * sizeof *v);
    qsort(v, g->n, sizeof *v, by_time ? cmp_last : cmp_name);
    json_t *arr = json_array();
    size_t seen = 0, added = 0;
    bool more = false;
    for (size_t j = 0; j < g->n && arr; j++) {
        const struct log_stream *s = v[desc ? g->n - 1 - j : j];
        if (prefix && strncmp(s->name, prefix, strlen(prefix)) != 0)
            continue;
        if (seen++ < off)
            continue;
        if ((int64_t)added == limit) {
            more = true;
            break;
        }
        char arn[1400];
        snprintf(arn, sizeof arn, "arn:aws:logs:%s:%s:log-group:%s:log-stream:%s", g->region,
                 HY_ACCOUNT_ID, g->name, s->name);
        json_t *o = json_pack("{s:s, s:I, s:s, s:I}", "logStreamName", s->name,
                              "creationTime", (json_int_t)s->created, "arn", arn,
                              "storedBytes", (json_int_t)s->stored);
        if (o && s->n) {
            json_object_set_new(o, "firstEventTimestamp", json_integer(s->first_ts));
            json_object_set_new(o, "lastEventTimestamp", json_integer(s->last_ts));
            json_object_set_new(o, "lastIngestionTime", json_integer(s->last_ingest));
            json_object_set_new(o, "uploadSequenceToken",
                                json_sprintf("%llu", (unsigned long long)s->next_seq));
        }
        json_array_append_new(arr, o);
        added++;
    }
    free(v);
    if (!arr)
        return HY_ENOMEM;
    json_object_set_new(x->out, "logStreams", arr);
    if (more)
        json_object_set_new(x->out, "nextToken", json_sprintf("%zu", off + added));
    return HY_OK;
}

static json_t *event_json(const struct log_event *e, const char *stream)
{
    json_t *o = json_pack("{s:I, s:s, s:I}", "timestamp", (json_int_t)e->ts, "message", e->msg,
                          "ingestionTime", (json_int_t)e->ingested);
    if (o && stream) {
        json_object_set_new(o, "logStreamName", json_string(stream));
        json_object_set_new(o, "eventId", json_sprintf("%020llu%08llu",
                                                       (unsigned long long)e->ts,
                                                       (unsigned long long)e->seq));
    }
    return o;
}

static int op_get_events(struct lx *x)
{
    int rc = HY_OK;
    const char *gname = str_member(x, "logGroupName", true, &rc);
    const char *sname = gname ? str_member(x, "logStreamName", true, &rc) : NULL;
    int64_t start, end, limit;
    struct log_group *g;
    if (!sname)
        return rc;
    if ((rc = int_member(x, "startTime", 0, INT64_MAX, 0, &start)) ||
        (rc = int_member(x, "endTime", 0, INT64_MAX, INT64_MAX, &end)) ||
        (rc = int_member(x, "limit", 1, LOGS_MAX_LIMIT, LOGS_MAX_LIMIT, &limit)) ||
        (rc = need_group(x, gname, &g)))
        return rc;
    struct log_stream *s = lstream_find(g, sname);
    if (!s)
        return fail(x, 400, "ResourceNotFoundException",
                    "The specified log stream does not exist.");
    const char *tok = json_string_value(json_object_get(x->in, "nextToken"));
    bool head = json_is_true(json_object_get(x->in, "startFromHead"));
    bool forward = true;
    uint64_t at = 0;
    if (json_object_get(x->in, "nextToken")) {
        char *e;
        if (!tok || (tok[0] != 'f' && tok[0] != 'b') || tok[1] != '/' || !tok[2] ||
            (at = strtoull(tok + 2, &e, 10), *e))
            return fail(x, 400, "InvalidParameterException",
                        "The specified nextToken is invalid.");
        forward = tok[0] == 'f';
    }
    /* the events in range, by position: [lo, hi) of the ring */
    size_t lo = 0, hi = 0;
    size_t *idx = malloc((s->n ? s->n : 1) * sizeof *idx), m = 0;
    if (!idx)
        return HY_ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        const struct log_event *e = event_at(s, i);
        if (e->ts < start || e->ts >= end)
            continue;
        if (tok && forward && e->seq < at)
            continue;
        if (tok && !forward && e->seq >= at)
            continue;
        idx[m++] = i;
    }
    /* forward from a token or from the head: the first `limit`; else the last */
    if ((tok && forward) || (!tok && head)) {
        lo = 0;
        hi = m < (size_t)limit ? m : (size_t)limit;
    } else {
        hi = m;
        lo = m > (size_t)limit ? m - (size_t)limit : 0;
    }
    json_t *arr = json_array();
    for (size_t k = lo; k < hi && arr; k++)
        json_array_append_new(arr, event_json(event_at(s, idx[k]), NULL));
    uint64_t fwd = hi > lo ? event_at(s, idx[hi - 1])->seq + 1
                   : tok && forward ? at : s->next_seq;
    uint64_t back = hi > lo ? event_at(s, idx[lo])->seq : tok && !forward ? at : s->next_seq;
    free(idx);
    if (!arr)
        return HY_ENOMEM;
    json_object_set_new(x->out, "events", arr);
    json_object_set_new(x->out, "nextForwardToken",
                        json_sprintf("f/%020llu", (unsigned long long)fwd));
    json_object_set_new(x->out, "nextBackwardToken",
                        json_sprintf("b/%020llu", (unsigned long long)back));
    return HY_OK;
}

/* ---- filter patterns -------------------------------------------------------------- */

int logs_pattern_parse(const char *s, struct pattern *p, char *why, size_t why_len)
{
    p->n = 0;
    while (s && *s) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        if (*s == '{' || *s == '[') {
            snprintf(why, why_len, "JSON ('{ $.field = value }') and space-delimited ('[...]') "
                     "filter patterns are not supported by this server: use terms, "
                     "\"phrases\", -exclusions and ?alternatives.");
            return HY_EINVAL;
        }
        if (p->n == LOGS_MAX_TERMS) {
            snprintf(why, why_len, "A filter pattern has at most %d terms here.",
                     LOGS_MAX_TERMS);
            return HY_EINVAL;
        }
        char kind = '+';
        if (*s == '-' || *s == '?')
            kind = *s++;
        size_t n = 0;
        char *out = p->t[p->n].text;
        if (*s == '"') {
            s++;
            while (*s && *s != '"') {
                if (n + 1 >= sizeof p->t[0].text) {
                    snprintf(why, why_len, "A filter term is at most 255 characters.");
                    return HY_EINVAL;
                }
                out[n++] = *s++;
            }
            if (*s != '"') {
                snprintf(why, why_len, "Invalid filter pattern: unterminated quote.");
                return HY_EINVAL;
            }
            s++;
        } else {
            while (*s && *s != ' ' && *s != '\t') {
                if (n + 1 >= sizeof p->t[0].text) {
                    snprintf(why, why_len, "A filter term is at most 255 characters.");
                    return HY_EINVAL;
                }
                out[n++] = *s++;
            }
        }
        out[n] = 0;
        if (!n)
            continue;
        p->t[p->n++].kind = kind;
    }
    return HY_OK;
}

bool logs_pattern_match(const struct pattern *p, const char *msg)
{
    bool any_alt = false, alt_hit = false;
    for (size_t i = 0; i < p->n; i++) {
        bool hit = strstr(msg, p->t[i].text) != NULL;
        if (p->t[i].kind == '+' && !hit)
            return false;
        if (p->t[i].kind == '-' && hit)
            return false;
        if (p->t[i].kind == '?') {
            any_alt = true;
            alt_hit |= hit;
        }
    }
    return !any_alt || alt_hit;
}

struct hit {
    const struct log_stream *s;
    const struct log_event *e;
};

static int cmp_hit(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    if (x->e->ts != y->e->ts)
        return x->e->ts < y->e->ts ? -1 : 1;
    int c = strcmp(x->s->name, y->s->name);
    return c ? c : (x->e->seq < y->e->seq ? -1 : x->e->seq > y->e->seq);
}

static int op_filter_events(struct lx *x)
{
    int rc = HY_OK;
    const char *gname = str_member(x, "logGroupName", true, &rc);
    if (!gname)
        return rc;
    const char *prefix = str_member(x, "logStreamNamePrefix", false, &rc);
    const char *fp = json_string_value(json_object_get(x->in, "filterPattern"));
    json_t *names = json_object_get(x->in, "logStreamNames");
    int64_t start, end, limit;
    size_t off;
    struct log_group *g;
    if (rc || (rc = int_member(x, "startTime", 0, INT64_MAX, 0, &start)) ||
        (rc = int_member(x, "endTime", 0, INT64_MAX, INT64_MAX, &end)) ||
        (rc = int_member(x, "limit", 1, LOGS_MAX_LIMIT, LOGS_MAX_LIMIT, &limit)) ||
        (rc = offset_token(x, &off)) || (rc = need_group(x, gname, &g)))
        return rc;
    if (names && prefix)
        return fail(x, 400, "InvalidParameterException",
                    "logStreamNames and logStreamNamePrefix are mutually exclusive");
    if (names && (!json_is_array(names) || json_array_size(names) > 100))
        return fail(x, 400, "InvalidParameterException",
                    "logStreamNames is a list of at most 100 names.");
    struct pattern pat;
    char why[256];
    if (logs_pattern_parse(fp, &pat, why, sizeof why))
        return fail(x, 400, "InvalidParameterException", "%s", why);
    size_t total = 0;
    for (size_t i = 0; i < g->n; i++)
        total += g->streams[i]->n;
    struct hit *hits = malloc((total ? total : 1) * sizeof *hits);
    if (!hits)
        return HY_ENOMEM;
    size_t nh = 0;
    json_t *searched = json_array();
    for (size_t i = 0; i < g->n; i++) {
        const struct log_stream *s = g->streams[i];
        if (prefix && strncmp(s->name, prefix, strlen(prefix)) != 0)
            continue;
        if (names) {
            bool listed = false;
            size_t k;
            json_t *v;
            json_array_foreach(names, k, v) listed |= json_is_string(v) &&
                                                      strcmp(json_string_value(v), s->name) == 0;
            if (!listed)
                continue;
        }
        json_array_append_new(searched, json_pack("{s:s, s:b}", "logStreamName", s->name,
                                                  "searchedCompletely", 1));
        for (size_t k = 0; k < s->n; k++) {
            const struct log_event *e = event_at(s, k);
            if (e->ts >= start && e->ts < end && logs_pattern_match(&pat, e->msg))
                hits[nh++] = (struct hit){s, e};
        }
    }
    qsort(hits, nh, sizeof *hits, cmp_hit);
    json_t *arr = json_array();
    size_t k = off;
    for (; k < nh && (int64_t)(k - off) < limit && arr; k++)
        json_array_append_new(arr, event_json(hits[k].e, hits[k].s->name));
    free(hits);
    if (!arr || !searched) {
        json_decref(arr);
        json_decref(searched);
        return HY_ENOMEM;
    }
    json_object_set_new(x->out, "events", arr);
    json_object_set_new(x->out, "searchedLogStreams", searched);
    if (k < nh)
        json_object_set_new(x->out, "nextToken", json_sprintf("%zu", k));
    return HY_OK;
}

static int op_put_events(struct lx *x)
{
    int rc = HY_OK;
    const char *gname = str_member(x, "logGroupName", true, &rc);
    const char *sname = gname ? str_member(x, "logStreamName", true, &rc) : NULL;
    struct log_group *g;
    if (!sname)
        return rc;
    if ((rc = need_group(x, gname, &g)))
        return rc;
    struct log_stream *s = lstream_find(g, sname);
    if (!s)
        return fail(x, 400, "ResourceNotFoundException",
                    "The specified log stream does not exist.");
    json_t *evs = json_object_get(x->in, "logEvents");
    if (!json_is_array(evs) || !json_array_size(evs) || json_array_size(evs) > 10000)
        return fail(x, 400, "InvalidParameterException",
                    "1 validation error detected: Value at 'logEvents' failed to satisfy "
                    "constraint: Member must have length between 1 and 10000");
    size_t i;
    json_t *e;
    int64_t prev = INT64_MIN;
    json_array_foreach(evs, i, e) {
        json_t *ts = json_object_get(e, "timestamp"), *m = json_object_get(e, "message");
        if (!json_is_integer(ts) || json_integer_value(ts) < 0 || !json_is_string(m) ||
            !json_string_length(m) || json_string_length(m) > LOGS_MAX_MESSAGE)
            return fail(x, 400, "InvalidParameterException",
                        "Each log event needs a timestamp (ms, >= 0) and a message of 1 to "
                        "262144 bytes (event %zu).", i);
        if (json_integer_value(ts) < prev)
            return fail(x, 400, "InvalidParameterException",
                        "Log events in a single PutLogEvents request must be in chronological "
                        "order.");
        prev = json_integer_value(ts);
    }
    int64_t now = hy_now_ms();
    json_array_foreach(evs, i, e) {
        json_t *m = json_object_get(e, "message");
        if ((rc = event_append(s, json_integer_value(json_object_get(e, "timestamp")), now,
                               json_string_value(m), json_string_length(m))))
            return rc;
    }
    json_object_set_new(x->out, "nextSequenceToken",
                        json_sprintf("%llu", (unsigned long long)s->next_seq));
    return HY_OK;
}

void logs_exec(const char *region, const char *op, const char *body, size_t len, int *status,
               char **out)
{
    struct lx x = {region, NULL, json_object(), 200, NULL, ""};
    json_error_t err;
    int rc = HY_OK;
    x.in = json_loadb(len ? body : "{}", len ? len : 2, JSON_REJECT_DUPLICATES, &err);
    if (!x.out)
        rc = HY_ENOMEM;
    else if (!json_is_object(x.in))
        rc = fail(&x, 400, "SerializationException", "The request body is not a JSON object.");
    else {
        pthread_mutex_lock(&L.lock);
        if (!strcmp(op, "CreateLogGroup"))
            rc = op_create_group(&x);
        else if (!strcmp(op, "CreateLogStream"))
            rc = op_create_stream(&x);
        else if (!strcmp(op, "DeleteLogGroup"))
            rc = op_delete_group(&x);
        else if (!strcmp(op, "DescribeLogGroups"))
            rc = op_describe_groups(&x);
        else if (!strcmp(op, "DescribeLogStreams"))
            rc = op_describe_streams(&x);
        else if (!strcmp(op, "GetLogEvents"))
            rc = op_get_events(&x);
        else if (!strcmp(op, "FilterLogEvents"))
            rc = op_filter_events(&x);
        else if (!strcmp(op, "PutLogEvents"))
            rc = op_put_events(&x);
        else
            rc = fail(&x, 400, "UnknownOperationException", "The operation is not supported.");
        pthread_mutex_unlock(&L.lock);
    }
    json_t *doc = x.out;
    if (rc && x.type) {
        doc = json_pack("{s:s, s:s}", "__type", x.type, "message", x.msg);
        *status = x.status;
    } else if (rc) {
        doc = json_pack("{s:s, s:s}", "__type", "ServiceUnavailableException", "message",
                        hy_strerror(rc));
        *status = 500;
    } else {
        json_incref(doc);
        *status = 200;
    }
    *out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (!*out)
        *status = 500;
    json_decref(doc);
    json_decref(x.out);
    json_decref(x.in);
}

void logs_handle(struct http_req *req, const char *op)
{
    int status;
    char *body = NULL;
    logs_exec(req->region ? req->region : hy_cfg.region, op, req->body, req->body_len,
              &status, &body);
    char rid[37];
    hy_uuid4(rid);
    http_add_header(req, "x-amzn-RequestId", rid);
    if (status != 200 && body) {
        json_t *o = json_loads(body, 0, NULL);
        const char *t = json_string_value(json_object_get(o, "__type"));
        if (t)
            http_add_header(req, "x-amzn-ErrorType", t);
        json_decref(o);
    }
    static const char oom[] = "{\"__type\":\"ServiceUnavailableException\",\"message\":\"out "
                              "of memory\"}";
    http_reply(req, status, "application/x-amz-json-1.1", body ? body : oom,
               body ? strlen(body) : sizeof oom - 1);
    free(body);
}
