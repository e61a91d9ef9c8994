/* cloudwatch.c -- the CloudWatch metrics API for the per-stream metrics:
 * GetMetricStatistics, GetMetricData, ListMetrics.
 *
 * Wire: botocore's cloudwatch model (2010-08-01) speaks the Query
 * protocol, as IAM does: a form-encoded POST / with Action and Version,
 * signed for the service "monitoring"; answers are XML in the
 * http://monitoring.amazonaws.com/doc/2010-08-01/ namespace, errors the
 * query <ErrorResponse>. The router classifies and authenticates; this
 * file parses the form once (cw_form_parse: every pair decoded into the
 * request arena, a ceiling on their number), reads the members it needs
 * from that list and answers.
 *
 * Data: metrics.c keeps 1-minute points per stream and metric for
 * METRICS_RING_MINUTES (3 h); the namespace is AWS/Firehose and the one
 * dimension DeliveryStreamName, the stream in the request's region.
 * A period is a multiple of 60 s; its buckets are aligned to the epoch
 * (as CloudWatch aligns periods that divide an hour). Another namespace
 * or dimension set has no data: empty answers, as CloudWatch gives for a
 * metric nobody published. What hydrant cannot compute is refused with
 * CloudWatch's error and a message naming it: ExtendedStatistics
 * (percentiles) and GetMetricData's metric math (Expression).
 *
 * Threading: stateless; runs on the HTTP threads; memory in the request
 * arena and one output buffer.
 */
#include "cloudwatch.h"
#include "api.h"
#include "metrics.h"
#include "stream.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CW_NS "http://monitoring.amazonaws.com/doc/2010-08-01/"
#define CW_MAX_PAIRS 20000
#define CW_MAX_QUERIES 500
#define CW_MAX_DATAPOINTS 1440 /* GetMetricStatistics: AWS's limit */

int cloudwatch_open(const char *dir)
{
    (void)dir;
    return HY_OK;
}

void cloudwatch_close(void)
{
    cloudwatch_logs_reset();
}

/* ---- input ---------------------------------------------------------------- */

int cw_form_parse(struct arena *a, const char *body, size_t len, size_t max,
                  struct cw_pair **out, size_t *n)
{
    size_t count = 1;
    for (size_t i = 0; i < len; i++)
        count += body[i] == '&';
    if (count > max)
        return HY_ELIMIT;
    struct cw_pair *v = arena_alloc(a, count * sizeof *v);
    if (!v)
        return HY_ENOMEM;
    size_t k = 0;
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *seg_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(seg_end - p));
        const char *name_end = eq ? eq : seg_end;
        if (name_end > p) {
            size_t nl = (size_t)(name_end - p);
            size_t vl = eq ? (size_t)(seg_end - eq - 1) : 0;
            char *name = arena_alloc(a, nl + 1), *value = arena_alloc(a, vl + 1);
            if (!name || !value)
                return HY_ENOMEM;
            long dn = url_decode(name, p, nl, true);
            long dv = eq ? url_decode(value, eq + 1, vl, true) : 0;
            if (dn < 0 || dv < 0)
                return HY_EINVAL;
            name[dn] = 0;
            value[dv] = 0;
            if (strlen(name) != (size_t)dn || strlen(value) != (size_t)dv)
                return HY_EINVAL; /* a decoded NUL */
            v[k++] = (struct cw_pair){name, value};
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    *out = v;
    *n = k;
    return HY_OK;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return HY_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return HY_OK;
}

/* days from 1970-01-01 to y-m-d (proleptic Gregorian) */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int cw_parse_time(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return HY_EINVAL;
    size_t len = strlen(s);
    bool numeric = true;
    for (size_t i = 0; i < len; i++)
        numeric &= isdigit((unsigned char)s[i]) || (s[i] == '.' && i);
    if (numeric) {
        if (len > 15)
            return HY_EINVAL;
        *ms = (int64_t)(strtod(s, NULL) * 1000);
        return HY_OK;
    }
    int y, mo, d, h, mi, sec;
    if (len < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':' || digits(s, 4, &y) || digits(s + 5, 2, &mo) ||
        digits(s + 8, 2, &d) || digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
        digits(s + 17, 2, &sec))
        return HY_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return HY_EINVAL;
    const char *p = s + 19;
    int frac_ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (isdigit((unsigned char)*p)) {
            if (nd < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (!nd || nd > 9)
            return HY_EINVAL;
        for (; nd < 3; nd++)
            frac_ms *= 10;
    }
    int off_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (strlen(p) != 6 || p[3] != ':' || digits(p + 1, 2, &oh) || digits(p + 4, 2, &om) ||
            oh > 23 || om > 59)
            return HY_EINVAL;
        off_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    }
    if (*p)
        return HY_EINVAL;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - off_min * 60) * 1000 + frac_ms;
    return HY_OK;
}

struct cw_in {
    struct arena *a;
    struct cw_pair *v;
    size_t n;
};

static const char *get(const struct cw_in *in, const char *name)
{
    for (size_t i = 0; i < in->n; i++)
        if (strcmp(in->v[i].name, name) == 0)
            return in->v[i].value;
    return NULL;
}

static const char *getf(const struct cw_in *in, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *getf(const struct cw_in *in, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return n > 0 && (size_t)n < sizeof name ? get(in, name) : NULL;
}

/* ---- answers ---------------------------------------------------------------- */

struct cw_out {
    int status;
    struct buf *b;
    const char *region;
};

static int cw_error(struct cw_out *o, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int cw_error(struct cw_out *o, int status, const char *code, const char *fmt, ...)
{
    char msg[512], rid[37];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hy_uuid4(rid);
    buf_reset(o->b);
    o->status = status;
    buf_puts(o->b, "<ErrorResponse xmlns=\"" CW_NS "\"><Error><Type>Sender</Type><Code>");
    buf_xml_escape(o->b, code);
    buf_puts(o->b, "</Code><Message>");
    buf_xml_escape(o->b, msg);
    buf_printf(o->b, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>", rid);
    return HY_EINVAL;
}

static void fmt_num(char out[48], double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, 48, "%.1f", v);
    else
        snprintf(out, 48, "%.17g", v);
}

static void fmt_time(char out[32], int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the metric a request names --------------------------------------------- */

enum stat { ST_SAMPLECOUNT, ST_AVERAGE, ST_SUM, ST_MINIMUM, ST_MAXIMUM, ST_COUNT };
static const char *const stat_names[ST_COUNT] = {"SampleCount", "Average", "Sum", "Minimum",
                                                  "Maximum"};

static int stat_find(const char *s)
{
    for (int i = 0; i < ST_COUNT; i++)
        if (s && strcmp(s, stat_names[i]) == 0)
            return i;
    return -1;
}

struct bucket {
    int64_t start_ms;
    double sum, n, min, max;
};

/* The stream a metric's dimensions name, as a catalog key in key[], or
 * false when namespace and dimensions name none hydrant has. */
static bool metric_stream(const char *ns, const char *const *dim_names,
                          const char *const *dim_values, size_t ndims, const char *region,
                          char key[STREAM_KEY_MAX])
{
    if (!ns || strcmp(ns, "AWS/Firehose") != 0 || ndims != 1 || !dim_names[0] ||
        strcmp(dim_names[0], "DeliveryStreamName") != 0 || !dim_values[0])
        return false;
    return stream_key(key, region, dim_values[0]) == HY_OK;
}

/* The points of [start, end) merged into buckets of period seconds. */
static size_t aggregate(const char *key, int id, int64_t start, int64_t end, int period,
                        struct bucket *out, size_t max)
{
    static _Thread_local struct metrics_point pts[METRICS_RING_MINUTES];
    size_t np = metrics_query(key, id, start, end, pts, METRICS_RING_MINUTES), nb = 0;
    int64_t pms = (int64_t)period * 1000;
    for (size_t i = 0; i < np; i++) {
        int64_t bstart = pts[i].minute_ms / pms * pms;
        if (bstart < start)
            bstart = start; /* the first bucket begins at StartTime */
        if (!nb || out[nb - 1].start_ms != bstart) {
            if (nb == max)
                break;
            out[nb++] = (struct bucket){bstart, 0, 0, pts[i].min, pts[i].max};
        }
        struct bucket *b = &out[nb - 1];
        b->sum += pts[i].sum;
        b->n += pts[i].n;
        if (pts[i].min < b->min)
            b->min = pts[i].min;
        if (pts[i].max > b->max)
            b->max = pts[i].max;
    }
    return nb;
}

static double stat_value(const struct bucket *b, int st)
{
    switch (st) {
    case ST_SAMPLECOUNT: return b->n;
    case ST_AVERAGE: return b->n ? b->sum / b->n : 0;
    case ST_SUM: return b->sum;
    case ST_MINIMUM: return b->min;
    default: return b->max;
    }
}

/* StartTime / EndTime / Period, checked as CloudWatch checks them. */
static int time_range(struct cw_out *o, const char *st, const char *et, int64_t *start,
                      int64_t *end)
{
    if (!st)
        return cw_error(o, 400, "MissingParameter",
                        "The parameter StartTime is required.");
    if (!et)
        return cw_error(o, 400, "MissingParameter", "The parameter EndTime is required.");
    if (cw_parse_time(st, start) != HY_OK)
        return cw_error(o, 400, "InvalidParameterValue",
                        "The parameter StartTime must be a valid ISO 8601 timestamp.");
    if (cw_parse_time(et, end) != HY_OK)
        return cw_error(o, 400, "InvalidParameterValue",
                        "The parameter EndTime must be a valid ISO 8601 timestamp.");
    if (*end <= *start)
        return cw_error(o, 400, "InvalidParameterValue",
                        "The parameter StartTime must be less than the parameter EndTime.");
    return HY_OK;
}

static int period_of(struct cw_out *o, const char *ps, const char *what, int *period)
{
    if (!ps)
        return cw_error(o, 400, "MissingParameter", "The parameter %s is required.", what);
    char *end;
    long v = strtol(ps, &end, 10);
    if (!*ps || *end || v < 1 || v > 86400 * 455)
        return cw_error(o, 400, "InvalidParameterValue",
                        "The parameter %s must be a positive integer.", what);
    if (v % 60)
        return cw_error(o, 400, "InvalidParameterValue",
                        "The parameter %s must be a multiple of 60: hydrant keeps 1-minute "
                        "resolution (no high-resolution metrics).", what);
    *period = (int)v;
    return HY_OK;
}

/* ---- GetMetricStatistics ---------------------------------------------------- */

static int get_metric_statistics(const struct cw_in *in, struct cw_out *o)
{
    const char *ns = get(in, "Namespace"), *name = get(in, "MetricName");
    if (!ns)
        return cw_error(o, 400, "MissingParameter", "The parameter Namespace is required.");
    if (!name)
        return cw_error(o, 400, "MissingParameter", "The parameter MetricName is required.");
    if (getf(in, "ExtendedStatistics.member.1"))
        return cw_error(o, 400, "InvalidParameterValue",
                        "ExtendedStatistics (percentiles) are not supported by this server: "
                        "it keeps sum, count, minimum and maximum per minute.");
    int64_t start, end;
    int period, rc;
    if ((rc = time_range(o, get(in, "StartTime"), get(in, "EndTime"), &start, &end)) ||
        (rc = period_of(o, get(in, "Period"), "Period", &period)))
        return rc;
    bool want[ST_COUNT] = {false};
    int nstats = 0;
    for (int i = 1; i <= 6; i++) {
        const char *s = getf(in, "Statistics.member.%d", i);
        if (!s)
            break;
        int st = stat_find(s);
        if (st < 0)
            return cw_error(o, 400, "InvalidParameterValue",
                            "The parameter Statistics.member.%d must be a value in the set "
                            "[ Maximum, Minimum, Average, SampleCount, Sum ].", i);
        want[st] = true;
        nstats++;
    }
    if (!nstats)
        return cw_error(o, 400, "MissingParameter",
                        "Must specify either Statistics or ExtendedStatistics.");
    const char *dn[11], *dv[11];
    size_t nd = 0;
    for (int i = 1; i <= 11; i++) {
        const char *n = getf(in, "Dimensions.member.%d.Name", i);
        if (!n)
            break;
        if (i > 10)
            return cw_error(o, 400, "InvalidParameterValue",
                            "The collection Dimensions must not have more than 30 members.");
        dn[nd] = n;
        dv[nd++] = getf(in, "Dimensions.member.%d.Value", i);
    }
    int id = metrics_find(name);
    const char *unit = get(in, "Unit");
    if ((end - start) / ((int64_t)period * 1000) > CW_MAX_DATAPOINTS)
        return cw_error(o, 400, "InvalidParameterCombination",
                        "You have requested up to %lld datapoints, which exceeds the limit of "
                        "%d. You may reduce the datapoints requested by increasing Period, "
                        "or decreasing the time range.",
                        (long long)((end - start) / ((int64_t)period * 1000)), CW_MAX_DATAPOINTS);
    char key[STREAM_KEY_MAX];
    static _Thread_local struct bucket bk[METRICS_RING_MINUTES];
    size_t nb = 0;
    if (id >= 0 && metric_stream(ns, dn, dv, nd, o->region, key) &&
        (!unit || strcmp(unit, metrics_unit(id)) == 0))
        nb = aggregate(key, id, start, end, period, bk, METRICS_RING_MINUTES);
    char rid[37];
    hy_uuid4(rid);
    struct buf *b = o->b;
    int r = buf_puts(b, "<GetMetricStatisticsResponse xmlns=\"" CW_NS "\">"
                        "<GetMetricStatisticsResult><Label>");
    r = r ? r : buf_xml_escape(b, name);
    r = r ? r : buf_puts(b, "</Label><Datapoints>");
    for (size_t i = 0; i < nb && !r; i++) {
        char ts[32], num[48];
        fmt_time(ts, bk[i].start_ms);
        r = buf_printf(b, "<member><Timestamp>%s</Timestamp>", ts);
        for (int st = 0; st < ST_COUNT && !r; st++) {
            if (!want[st])
                continue;
            fmt_num(num, stat_value(&bk[i], st));
            r = buf_printf(b, "<%s>%s</%s>", stat_names[st], num, stat_names[st]);
        }
        r = r ? r : buf_printf(b, "<Unit>%s</Unit></member>", metrics_unit(id));
    }
    r = r ? r : buf_printf(b, "</Datapoints></GetMetricStatisticsResult><ResponseMetadata>"
                              "<RequestId>%s</RequestId></ResponseMetadata>"
                              "</GetMetricStatisticsResponse>", rid);
    o->status = 200;
    return r;
}

/* ---- GetMetricData -------------------------------------------------------- */

static int get_metric_data(const struct cw_in *in, struct cw_out *o)
{
    int64_t start, end;
    int rc;
    if ((rc = time_range(o, get(in, "StartTime"), get(in, "EndTime"), &start, &end)))
        return rc;
    const char *scan = get(in, "ScanBy");
    bool ascending = scan && strcmp(scan, "TimestampAscending") == 0;
    if (scan && !ascending && strcmp(scan, "TimestampDescending") != 0)
        return cw_error(o, 400, "ValidationError",
                        "1 validation error detected: Value '%.64s' at 'scanBy' failed to "
                        "satisfy constraint: Member must satisfy enum value set: "
                        "[TimestampDescending, TimestampAscending]", scan);
    if (get(in, "NextToken"))
        return cw_error(o, 400, "InvalidNextToken", "The NextToken is not valid.");
    const char *mds = get(in, "MaxDatapoints");
    long max_dp = mds ? strtol(mds, NULL, 10) : 100800;
    if (max_dp < 1)
        max_dp = 100800;
    char rid[37];
    hy_uuid4(rid);
    struct buf *b = o->b;
    int nq = 0;
    int r = buf_puts(b, "<GetMetricDataResponse xmlns=\"" CW_NS "\"><GetMetricDataResult>"
                        "<MetricDataResults>");
    for (int q = 1; q <= CW_MAX_QUERIES + 1 && !r; q++) {
        const char *qid = getf(in, "MetricDataQueries.member.%d.Id", q);
        if (!qid)
            break;
        if (q > CW_MAX_QUERIES)
            return cw_error(o, 400, "ValidationError",
                            "The collection MetricDataQueries must not have more than 500 "
                            "members.");
        nq++;
        if (getf(in, "MetricDataQueries.member.%d.Expression", q))
            return cw_error(o, 400, "ValidationError",
                            "Metric math (MetricDataQueries.member.%d.Expression) is not "
                            "supported by this server: use MetricStat queries.", q);
        const char *rd = getf(in, "MetricDataQueries.member.%d.ReturnData", q);
        if (rd && strcmp(rd, "false") == 0)
            continue;
        const char *pre = arena_printf(in->a, "MetricDataQueries.member.%d.MetricStat.", q);
        if (!pre)
            return HY_ENOMEM;
        const char *ns = getf(in, "%sMetric.Namespace", pre);
        const char *name = getf(in, "%sMetric.MetricName", pre);
        const char *stat = getf(in, "%sStat", pre);
        if (!name || !stat)
            return cw_error(o, 400, "ValidationError",
                            "The parameter MetricDataQueries.member.%d.MetricStat must hold "
                            "Metric.MetricName, Period and Stat.", q);
        int st = stat_find(stat);
        if (st < 0)
            return cw_error(o, 400, "ValidationError",
                            "The statistic '%.64s' of MetricDataQueries.member.%d is not "
                            "supported by this server: use SampleCount, Average, Sum, Minimum "
                            "or Maximum.", stat, q);
        int period;
        char what[96];
        snprintf(what, sizeof what, "MetricDataQueries.member.%d.MetricStat.Period", q);
        if ((rc = period_of(o, getf(in, "%sPeriod", pre), what, &period)))
            return rc;
        const char *dn[11], *dv[11];
        size_t nd = 0;
        for (int i = 1; i <= 10; i++) {
            const char *n = getf(in, "%sMetric.Dimensions.member.%d.Name", pre, i);
            if (!n)
                break;
            dn[nd] = n;
            dv[nd++] = getf(in, "%sMetric.Dimensions.member.%d.Value", pre, i);
        }
        int id = metrics_find(name);
        const char *unit = getf(in, "%sUnit", pre);
        char key[STREAM_KEY_MAX];
        static _Thread_local struct bucket bk[METRICS_RING_MINUTES];
        size_t nb = 0;
        if (id >= 0 && metric_stream(ns, dn, dv, nd, o->region, key) &&
            (!unit || strcmp(unit, metrics_unit(id)) == 0))
            nb = aggregate(key, id, start, end, period, bk, METRICS_RING_MINUTES);
        if ((long)nb > max_dp)
            nb = (size_t)max_dp;
        const char *lbl = getf(in, "MetricDataQueries.member.%d.Label", q);
        r = buf_puts(b, "<member><Id>");
        r = r ? r : buf_xml_escape(b, qid);
        r = r ? r : buf_puts(b, "</Id><Label>");
        r = r ? r : buf_xml_escape(b, lbl ? lbl : name);
        r = r ? r : buf_puts(b, "</Label><Timestamps>");
        for (size_t k = 0; k < nb && !r; k++) {
            char ts[32];
            fmt_time(ts, bk[ascending ? k : nb - 1 - k].start_ms);
            r = buf_printf(b, "<member>%s</member>", ts);
        }
        r = r ? r : buf_puts(b, "</Timestamps><Values>");
        for (size_t k = 0; k < nb && !r; k++) {
            char num[48];
            fmt_num(num, stat_value(&bk[ascending ? k : nb - 1 - k], st));
            r = buf_printf(b, "<member>%s</member>", num);
        }
        r = r ? r : buf_puts(b, "</Values><StatusCode>Complete</StatusCode></member>");
    }
    if (!nq)
        return cw_error(o, 400, "MissingParameter",
                        "The parameter MetricDataQueries is required.");
    r = r ? r : buf_printf(b, "</MetricDataResults><Messages/></GetMetricDataResult>"
                              "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>"
                              "</GetMetricDataResponse>", rid);
    o->status = 200;
    return r;
}

/* ---- ListMetrics ------------------------------------------------------------- */

struct list_ctx {
    struct cw_out *o;
    const char *region, *name, *dim_value;
    bool dim_other;   /* a dimension filter hydrant has none of */
    int rc;
};

static void list_one(void *ctx, const char *key, int id)
{
    struct list_ctx *c = ctx;
    const char *slash = strchr(key, '/');
    size_t rl = strlen(c->region);
    if (c->rc || c->dim_other || !slash || (size_t)(slash - key) != rl ||
        strncmp(key, c->region, rl) != 0)
        return;
    if (c->name && strcmp(c->name, metrics_name(id)) != 0)
        return;
    if (c->dim_value && strcmp(c->dim_value, slash + 1) != 0)
        return;
    struct buf *b = c->o->b;
    int r = buf_printf(b, "<member><Namespace>AWS/Firehose</Namespace><MetricName>%s"
                          "</MetricName><Dimensions><member><Name>DeliveryStreamName</Name>"
                          "<Value>", metrics_name(id));
    r = r ? r : buf_xml_escape(b, slash + 1);
    r = r ? r : buf_puts(b, "</Value></member></Dimensions></member>");
    c->rc = r;
}

static int list_metrics(const struct cw_in *in, struct cw_out *o)
{
    const char *ns = get(in, "Namespace");
    if (get(in, "NextToken"))
        return cw_error(o, 400, "InvalidNextToken", "The NextToken is not valid.");
    struct list_ctx c = {o, o->region, get(in, "MetricName"), NULL, false, HY_OK};
    for (int i = 1; i <= 10; i++) {
        const char *n = getf(in, "Dimensions.member.%d.Name", i);
        if (!n)
            break;
        if (strcmp(n, "DeliveryStreamName") != 0)
            c.dim_other = true;
        else
            c.dim_value = getf(in, "Dimensions.member.%d.Value", i);
    }
    if (ns && strcmp(ns, "AWS/Firehose") != 0)
        c.dim_other = true;
    char rid[37];
    hy_uuid4(rid);
    int r = buf_puts(o->b, "<ListMetricsResponse xmlns=\"" CW_NS "\"><ListMetricsResult>"
                           "<Metrics>");
    if (!r)
        metrics_list(list_one, &c);
    r = r ? r : c.rc;
    r = r ? r : buf_printf(o->b, "</Metrics></ListMetricsResult><ResponseMetadata><RequestId>"
                                 "%s</RequestId></ResponseMetadata></ListMetricsResponse>", rid);
    o->status = 200;
    return r;
}

/* ---- entry points ------------------------------------------------------------- */

void cloudwatch_exec(struct arena *a, const char *region, const char *op, const char *body,
                     size_t len, int *status, struct buf *out)
{
    struct cw_out o = {500, out, region};
    struct cw_in in = {a, NULL, 0};
    int rc = cw_form_parse(a, body, len, CW_MAX_PAIRS, &in.v, &in.n);
    if (rc == HY_EINVAL)
        cw_error(&o, 400, "MalformedQueryString", "The request body is not a valid form.");
    else if (rc == HY_ELIMIT)
        cw_error(&o, 400, "InvalidParameterValue", "The request has more than %d parameters.",
                 CW_MAX_PAIRS);
    else if (rc == HY_OK) {
        const char *version = get(&in, "Version");
        if (version && strcmp(version, "2010-08-01") != 0)
            rc = cw_error(&o, 400, "InvalidParameterValue",
                          "Version %.32s is not supported: 2010-08-01 is.", version);
        else if (strcmp(op, "GetMetricStatistics") == 0)
            rc = get_metric_statistics(&in, &o);
        else if (strcmp(op, "GetMetricData") == 0)
            rc = get_metric_data(&in, &o);
        else if (strcmp(op, "ListMetrics") == 0)
            rc = list_metrics(&in, &o);
        else
            rc = cw_error(&o, 400, "InvalidAction", "The action %.64s is not valid.", op);
    }
    if (rc == HY_ENOMEM || rc == HY_ETOOBIG) {
        buf_reset(out);
        o.status = 500;
        buf_puts(out, "<ErrorResponse xmlns=\"" CW_NS "\"><Error><Type>Receiver</Type>"
                      "<Code>InternalFailure</Code><Message>out of memory</Message></Error>"
                      "</ErrorResponse>");
    }
    *status = o.status;
}

void cloudwatch_handle(struct http_req *req, const char *op)
{
    struct buf out;
    int status;
    buf_init(&out, 64u << 20);
    /* the Action may have come in the query (GET) */
    const char *body = req->body_len ? req->body : req->query;
    size_t len = req->body_len ? req->body_len : strlen(body);
    cloudwatch_exec(req->arena, req->region ? req->region : hy_cfg.region, op, body, len,
                    &status, &out);
    char rid[37];
    hy_uuid4(rid);
    http_add_header(req, "x-amzn-RequestId", rid);
    http_reply(req, status, "text/xml", out.data ? out.data : "", out.len);
    buf_free(&out);
}
