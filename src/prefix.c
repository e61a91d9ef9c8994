/* prefix.c -- object key naming for delivered buffers.
 *
 * A delivered object's key is
 *
 *   <evaluated Prefix><stream>-<version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<id><ext>
 *
 * with every time taken from the arrival of the buffer's oldest record, in
 * UTC. The Prefix may hold expressions:
 *
 *   !{timestamp:PATTERN}        a java.time DateTimeFormatter pattern;
 *                               'quoted' text is literal, '' is a quote
 *   !{firehose:random-string}   11 random lowercase letters and digits
 *   !{firehose:error-output-type}  ErrorOutputPrefix only
 *
 * Every timestamp in one prefix shows the same instant. A prefix without a
 * timestamp expression gets `yyyy/MM/dd/HH/` appended by plain
 * concatenation (so "legacy" gives "legacy2026/07/13/14/"), which is what
 * AWS does. partitionKeyFromQuery / partitionKeyFromLambda need dynamic
 * partitioning, which hydrant does not do yet: they are rejected by
 * prefix_validate with a clear message.
 *
 * Threading: pure functions.
 */
#include "prefix.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *month_short[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *month_long[] = {"January", "February", "March", "April",
                                   "May", "June", "July", "August",
                                   "September", "October", "November",
                                   "December"};
static const char *day_short[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *day_long[] = {"Sunday", "Monday", "Tuesday", "Wednesday",
                                 "Thursday", "Friday", "Saturday"};

static void set_err(char *err, size_t err_len, const char *fmt, const char *arg)
{
    if (err && err_len)
        snprintf(err, err_len, fmt, arg);
}

/* One run of a pattern letter, e.g. "yyyy" (count 4). */
static int format_field(struct buf *out, char letter, int count,
                        const struct tm *tm, int ms)
{
    int v;
    switch (letter) {
    case 'y':
    case 'u':
        if (count == 2)
            return buf_printf(out, "%02d", (tm->tm_year + 1900) % 100);
        return buf_printf(out, "%0*d", count, tm->tm_year + 1900);
    case 'M':
    case 'L':
        if (count == 3)
            return buf_puts(out, month_short[tm->tm_mon]);
        if (count >= 4)
            return buf_puts(out, month_long[tm->tm_mon]);
        return buf_printf(out, "%0*d", count, tm->tm_mon + 1);
    case 'd': v = tm->tm_mday; break;
    case 'D': v = tm->tm_yday + 1; break;
    case 'H': v = tm->tm_hour; break;
    case 'k': v = tm->tm_hour == 0 ? 24 : tm->tm_hour; break;
    case 'h': v = tm->tm_hour % 12 == 0 ? 12 : tm->tm_hour % 12; break;
    case 'K': v = tm->tm_hour % 12; break;
    case 'm': v = tm->tm_min; break;
    case 's': v = tm->tm_sec; break;
    case 'S': {
        /* fraction of second, to count digits */
        char frac[16];
        snprintf(frac, sizeof frac, "%03d000000", ms);
        return buf_append(out, frac, (size_t)(count > 9 ? 9 : count));
    }
    case 'a':
        return buf_puts(out, tm->tm_hour < 12 ? "AM" : "PM");
    case 'E':
        return buf_puts(out, count >= 4 ? day_long[tm->tm_wday] : day_short[tm->tm_wday]);
    case 'e':
        v = tm->tm_wday == 0 ? 7 : tm->tm_wday; /* ISO: Monday = 1 */
        break;
    default:
        return HY_EINVAL;
    }
    return buf_printf(out, "%0*d", count, v);
}

/* Formats a java.time pattern (pat, n bytes) at ts_ms, UTC. */
static int format_timestamp(struct buf *out, const char *pat, size_t n,
                            int64_t ts_ms, char *err, size_t err_len)
{
    time_t t = (time_t)(ts_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    int ms = (int)(ts_ms % 1000);
    int rc = HY_OK;

    for (size_t i = 0; i < n && rc == HY_OK;) {
        char c = pat[i];
        if (c == '\'') {
            /* quoted literal; '' inside or alone is a quote */
            if (i + 1 < n && pat[i + 1] == '\'') {
                rc = buf_append(out, "'", 1);
                i += 2;
                continue;
            }
            size_t j = i + 1;
            for (;;) {
                if (j >= n) {
                    set_err(err, err_len, "Unterminated quote in timestamp pattern '%s'.", "");
                    return HY_EINVAL;
                }
                if (pat[j] == '\'') {
                    if (j + 1 < n && pat[j + 1] == '\'') {
                        rc = buf_append(out, "'", 1);
                        j += 2;
                        continue;
                    }
                    break;
                }
                rc = buf_append(out, &pat[j], 1);
                j++;
                if (rc)
                    return rc;
            }
            i = j + 1;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            size_t j = i;
            while (j < n && pat[j] == c)
                j++;
            rc = format_field(out, c, (int)(j - i), &tm, ms);
            if (rc == HY_EINVAL) {
                char letter[2] = {c, 0};
                set_err(err, err_len,
                        "Unsupported pattern letter '%s' in a timestamp expression.",
                        letter);
            }
            i = j;
        } else {
            rc = buf_append(out, &c, 1);
            i++;
        }
    }
    return rc;
}

static int random_string(struct buf *out)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[11];
    char s[11];
    if (hy_random(r, sizeof r) != HY_OK)
        return HY_EIO;
    for (size_t i = 0; i < sizeof r; i++)
        s[i] = chars[r[i] % (sizeof chars - 1)];
    return buf_append(out, s, sizeof s);
}

/* Walks the prefix; evaluates into out when out is non-NULL, else only
 * checks. *has_timestamp tells whether a timestamp expression was seen. */
static int walk(const char *prefix, int64_t ts_ms, const char *error_type,
                bool is_error_prefix, struct buf *out, bool *has_timestamp,
                char *err, size_t err_len)
{
    const char *p = prefix;
    int rc = HY_OK;
    *has_timestamp = false;
    while (*p && rc == HY_OK) {
        const char *ex = strstr(p, "!{");
        if (!ex) {
            if (out)
                rc = buf_puts(out, p);
            break;
        }
        if (out)
            rc = buf_append(out, p, (size_t)(ex - p));
        if (rc)
            break;
        const char *end = strchr(ex + 2, '}');
        if (!end) {
            set_err(err, err_len, "The expression in '%s' is not closed with '}'.", prefix);
            return HY_EINVAL;
        }
        const char *body = ex + 2;
        size_t blen = (size_t)(end - body);
        const char *colon = memchr(body, ':', blen);
        if (!colon) {
            set_err(err, err_len,
                    "The expression in '%s' must be of the form !{namespace:value}.", prefix);
            return HY_EINVAL;
        }
        size_t nslen = (size_t)(colon - body);
        const char *val = colon + 1;
        size_t vlen = blen - nslen - 1;

        if (nslen == 9 && memcmp(body, "timestamp", 9) == 0) {
            *has_timestamp = true;
            if (vlen == 0) {
                set_err(err, err_len, "The timestamp expression in '%s' has no pattern.", prefix);
                return HY_EINVAL;
            }
            struct buf scratch;
            buf_init(&scratch, 4096);
            rc = format_timestamp(out ? out : &scratch, val, vlen, ts_ms, err, err_len);
            buf_free(&scratch);
        } else if (nslen == 8 && memcmp(body, "firehose", 8) == 0) {
            if (vlen == 13 && memcmp(val, "random-string", 13) == 0) {
                if (out)
                    rc = random_string(out);
            } else if (vlen == 17 && memcmp(val, "error-output-type", 17) == 0) {
                if (!is_error_prefix) {
                    set_err(err, err_len,
                            "The expression !{firehose:error-output-type} is only allowed in ErrorOutputPrefix ('%s').",
                            prefix);
                    return HY_EINVAL;
                }
                if (out)
                    rc = buf_puts(out, error_type ? error_type : "processing-failed");
            } else {
                set_err(err, err_len, "Unsupported firehose expression in '%s'.", prefix);
                return HY_EINVAL;
            }
        } else if ((nslen == 21 && memcmp(body, "partitionKeyFromQuery", 21) == 0) ||
                   (nslen == 22 && memcmp(body, "partitionKeyFromLambda", 22) == 0)) {
            set_err(err, err_len,
                    "Dynamic partitioning expressions are not supported by this server yet ('%s').",
                    prefix);
            return HY_EINVAL;
        } else {
            set_err(err, err_len, "Unsupported expression namespace in '%s'.", prefix);
            return HY_EINVAL;
        }
        p = end + 1;
    }
    return rc;
}

int prefix_eval(const char *prefix, int64_t ts_ms, const char *error_type,
                struct buf *out, char *err, size_t err_len)
{
    bool has_ts;
    size_t start = out->len;
    int rc = walk(prefix ? prefix : "", ts_ms, error_type, error_type != NULL, out,
                  &has_ts, err, err_len);
    if (rc == HY_OK && !has_ts)
        rc = format_timestamp(out, "yyyy/MM/dd/HH/", 14, ts_ms, err, err_len);
    if (rc == HY_OK && out->len - start > PREFIX_MAX_EVALUATED) {
        set_err(err, err_len, "The evaluated prefix of '%s' is longer than 512 characters.",
                prefix ? prefix : "");
        rc = HY_ETOOBIG;
    }
    return rc;
}

int prefix_validate(const char *prefix, bool is_error_prefix, char *err,
                    size_t err_len)
{
    bool has_ts;
    return walk(prefix ? prefix : "", 0, NULL, is_error_prefix, NULL, &has_ts,
                err, err_len);
}

const char *prefix_compression_ext(int compression)
{
    switch (compression) {
    case COMP_GZIP: return ".gz";
    case COMP_ZIP: return ".zip";
    case COMP_SNAPPY:
    case COMP_HADOOP_SNAPPY: return ".snappy";
    }
    return "";
}

int prefix_object_key(const struct stream_dest *d, int64_t ts_ms, const char *id,
                      struct buf *out)
{
    int rc = prefix_eval(d->prefix, ts_ms, NULL, out, NULL, 0);
    if (rc)
        return rc;
    char when[32];
    time_t t = (time_t)(ts_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d-%H-%M-%S", &tm);
    const char *ext = d->file_ext[0] ? d->file_ext : prefix_compression_ext(d->compression);
    return buf_printf(out, "%s-%u-%s-%s%s", d->name, d->version, when, id, ext);
}
