/* prefix.c -- object key naming for delivered buffers, and the one
 * validator of Prefix / ErrorOutputPrefix.
 *
 * A delivered object's key is
 *
 *   <evaluated Prefix><stream>-<version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<id><ext>
 *
 * with every time taken from the arrival of the buffer's oldest record, in
 * UTC. The Prefix may hold expressions:
 *
 *   !{timestamp:PATTERN}        a java.time DateTimeFormatter pattern
 *   !{firehose:random-string}   11 random lowercase letters and digits
 *   !{firehose:error-output-type}  ErrorOutputPrefix only
 *
 * Every timestamp in one prefix shows the same instant. A prefix without a
 * timestamp expression gets `yyyy/MM/dd/HH/` appended by plain
 * concatenation (so "legacy" gives "legacy2026/07/13/14/"), which is what
 * AWS does. partitionKeyFromQuery / partitionKeyFromLambda need dynamic
 * partitioning, which hydrant does not do: they are refused with AWS's
 * words for a stream without it.
 *
 * Patterns: every letter java.time.format.DateTimeFormatter.ofPattern
 * knows (as Java 17 has them, checked letter by letter against OpenJDK 17
 * at 1,345 instants, 160 patterns valid and not), with its letter-count
 * rules and the same errors
 * ("Too many pattern letters: d", "Unknown pattern letter: b", reserved
 * '#' '{' '}', "Pattern ends with an incomplete string literal"):
 *   G era            AD / Anno Domini / A (1-3, 4, 5 letters)
 *   u y              year (yy: two digits; else padded to the count)
 *   Y                week-based year (Locale.US weeks: Sunday first,
 *                    week 1 holds January 1st), w its week (1-2), W week
 *                    of month (1)
 *   D                day of year (1-3), d day of month (1-2)
 *   M L              month: 8, 08, Aug, August, A (1..5)
 *   Q q              quarter: 3, 03, Q3, 3rd quarter, 3 (1..5)
 *   E                Sat (1-3), Saturday (4), S (5)
 *   e c              day of week, Locale.US numbering (Sunday = 1) for
 *                    1-2 letters (c: 1 only), then text as E
 *   F                aligned day of week in month ((day-1) % 7 + 1; the
 *                    Java 8-17 meaning), 1 letter
 *   a                AM/PM (1); h K k H hours (1-2); m s (1-2)
 *   B                day period: midnight, noon, in the morning, in the
 *                    afternoon, in the evening, at night (1, 4, 5)
 *   g                modified Julian day
 *   S                fraction of second, count digits (1-9)
 *   A n N            milli of day, nano of second, nano of day
 *   V v z O X x Z    the zone: VV "UTC", v and z "UTC", vvvv and zzzz "Coordinated
 *                    Universal Time", O/OOOO "GMT", X* "Z", x "+00",
 *                    "+0000", "+00:00", Z(1-3) "+0000", ZZZZ "GMT", ZZZZZ "Z"
 *   p                pads the next field to the count with spaces (a
 *                    longer field is an error, as in Java)
 *   'text'           literal; '' is a quote, inside or outside quotes
 *   [ ]              optional sections: every field is available, so
 *                    their content is always printed; a ] without [ is
 *                    an error
 * Other characters are literal.
 *
 * One parser for evaluation and validation: prefix_check evaluates the
 * prefix with the same code delivery uses (prefix_eval), at 367 probe
 * instants (23:59:59.999 of every day of the leap year 2024, where every
 * field takes its widest value: September, Wednesday, day 366, hour 23,
 * .999; and 2024-01-01T00:00:00.000), with the longest error-output-type
 * ("format-conversion-failed"). So whatever evaluation would refuse,
 * validation refuses, and the longest evaluation is measured, not
 * estimated. prefix_check_config adds AWS's rules between the two
 * prefixes and the key length dry run; CreateDeliveryStream,
 * UpdateDestination (firehose.c) and recovery (prefix_check_dest) all
 * call it.
 *
 * Threading: pure functions.
 */
#include "prefix.h"
#include "tz.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const month_short[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const month_long[] = {"January", "February", "March", "April",
                                         "May", "June", "July", "August",
                                         "September", "October", "November",
                                         "December"};
static const char *const day_short[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const day_long[] = {"Sunday", "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
static const char *const quarter_long[] = {"1st quarter", "2nd quarter", "3rd quarter",
                                           "4th quarter"};

/* The error types hydrant can write under ErrorOutputPrefix; the longest
 * is what the length dry run uses. */
#define PREFIX_LONGEST_ERROR_TYPE "format-conversion-failed"

#define PREFIX_S3_KEY_MAX 1024   /* bytes */
#define PREFIX_ID_LEN 36         /* the uuid-like object id */
#define PREFIX_VERSION_DIGITS 10 /* VersionId as an unsigned 32-bit number */

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || !err_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* The instant, split into what the pattern letters print, in the
 * stream's zone (UTC unless CustomTimeZone names another). */
struct ptime {
    int year, month, mday, yday, wday; /* month 1-12, yday 1-366, wday 0 = Sunday */
    int hour, min, sec, ms;
    int wb_year, wb_week;              /* Locale.US week-based year and week */
    int week_of_month;
    long long epoch_day;               /* days since 1970-01-01 */
    int32_t off_s;                     /* the zone's offset from UTC then */
    const char *zone;                  /* its IANA name; NULL: UTC */
};

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static void ptime_of(int64_t ts_ms, struct ptime *t)
{
    t->off_s = 0;
    t->zone = NULL;
    int64_t secs = ts_ms >= 0 ? ts_ms / 1000 : (ts_ms - 999) / 1000;
    time_t tt = (time_t)secs;
    struct tm tm;
    gmtime_r(&tt, &tm);
    t->year = tm.tm_year + 1900;
    t->month = tm.tm_mon + 1;
    t->mday = tm.tm_mday;
    t->yday = tm.tm_yday + 1;
    t->wday = tm.tm_wday;
    t->hour = tm.tm_hour;
    t->min = tm.tm_min;
    t->sec = tm.tm_sec;
    t->ms = (int)(ts_ms - secs * 1000);
    t->epoch_day = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    /* Locale.US: weeks Sunday..Saturday, week 1 is the one holding Jan 1,
     * so a week belongs to the year of its Saturday */
    int sat_yday = t->yday + (6 - t->wday); /* 1-based, may pass the year */
    int days = is_leap(t->year) ? 366 : 365;
    t->wb_year = t->year;
    if (sat_yday > days) {
        t->wb_year = t->year + 1;
        sat_yday -= days;
    }
    t->wb_week = (sat_yday - 1) / 7 + 1;
    int first_wday = ((t->wday - (t->mday - 1)) % 7 + 7) % 7; /* of the 1st */
    t->week_of_month = (t->mday - 1 + first_wday) / 7 + 1;
}

/* The instant in env's zone: the fields of the local time, the offset. */
static void ptime_in(int64_t ts_ms, const struct prefix_env *env, struct ptime *t)
{
    int32_t off = env && env->tz ? tz_offset_s(env->tz, ts_ms / 1000) : 0;
    ptime_of(ts_ms + (int64_t)off * 1000, t);
    t->off_s = off;
    t->zone = env && env->tz ? env->tz_name : NULL;
}

/* An offset as java.time prints it: sep ':' or 0, minutes always or only
 * when not zero, "Z"/"GMT"-style zero handled by the callers. */
static int put_offset(struct buf *out, int32_t off, bool colon, bool always_min)
{
    int a = off < 0 ? -off : off;
    int h = a / 3600, m = a / 60 % 60;
    if (!always_min && !m)
        return buf_printf(out, "%c%02d", off < 0 ? '-' : '+', h);
    return buf_printf(out, "%c%02d%s%02d", off < 0 ? '-' : '+', h, colon ? ":" : "", m);
}

/* The zone letters in a zone other than UTC: VV is the zone's id, the
 * offset letters print its offset at that instant. Zone names (z, v)
 * would need the zone's localized names, which hydrant does not have:
 * refused, so the stream is refused at create rather than named wrong. */
static int format_zone(struct buf *out, char c, int count, const struct ptime *t,
                       char *err, size_t err_len)
{
    int32_t off = t->off_s;
    switch (c) {
    case 'z':
    case 'v':
        set_err(err, err_len,
                "Pattern letter %c (zone name) is not supported by this server with a "
                "CustomTimeZone other than UTC; use VV (zone id) or an offset (x, X, Z, O)",
                c);
        return HY_EINVAL;
    case 'V':
        if (count != 2) {
            set_err(err, err_len, "Pattern letter count must be 2: V");
            return HY_EINVAL;
        }
        return buf_puts(out, t->zone);
    case 'O':
        if (count != 1 && count != 4) {
            set_err(err, err_len, "Pattern letter count must be 1 or 4: O");
            return HY_EINVAL;
        }
        if (!off)
            return buf_puts(out, "GMT");
        if (count == 4)
            return buf_puts(out, "GMT") ? HY_ENOMEM : put_offset(out, off, true, true);
        {
            int a = off < 0 ? -off : off;
            if (a / 60 % 60)
                return buf_printf(out, "GMT%c%d:%02d", off < 0 ? '-' : '+', a / 3600,
                                  a / 60 % 60);
            return buf_printf(out, "GMT%c%d", off < 0 ? '-' : '+', a / 3600);
        }
    case 'X':
    case 'x':
        if (count > 5)
            break;
        if (!off && c == 'X')
            return buf_puts(out, "Z");
        return put_offset(out, off, count == 3 || count == 5, count != 1);
    case 'Z':
        if (count > 5)
            break;
        if (count < 4)
            return put_offset(out, off, false, true);
        if (count == 4)
            return !off ? buf_puts(out, "GMT")
                        : (buf_puts(out, "GMT") ? HY_ENOMEM : put_offset(out, off, true, true));
        return !off ? buf_puts(out, "Z") : put_offset(out, off, true, true);
    }
    set_err(err, err_len, "Too many pattern letters: %c", c);
    return HY_EINVAL;
}

static int put_num(struct buf *out, long long v, int width)
{
    return buf_printf(out, "%0*lld", width, v);
}

/* One run of a pattern letter (e.g. "yyyy": 'y', 4) at t, as Java's
 * DateTimeFormatterBuilder.parsePattern/parseField build and print it.
 * HY_EINVAL with Java's words in err for a letter or count Java refuses. */
static int format_field(struct buf *out, char c, int count, const struct ptime *t,
                        char *err, size_t err_len)
{
    long long frac_ns = (long long)t->ms * 1000000LL;
    long long ms_of_day = ((t->hour * 60LL + t->min) * 60 + t->sec) * 1000 + t->ms;

    if (t->zone && strchr("zvVOXxZ", c))
        return format_zone(out, c, count, t, err, err_len);

    switch (c) {
    case 'G':
        if (count > 5)
            break;
        return buf_puts(out, count == 4 ? "Anno Domini" : count == 5 ? "A" : "AD");
    case 'u':
    case 'y':
    case 'Y': {
        int year = c == 'Y' ? t->wb_year : t->year;
        if (count > 19 && c != 'Y') { /* Java pads Y to any count */
            set_err(err, err_len,
                    "The minimum width must be from 1 to 19 inclusive but was %d", count);
            return HY_EINVAL;
        }
        if (count == 2)
            return put_num(out, year % 100, 2);
        return put_num(out, year, count);
    }
    case 'c':
        if (count == 2) {
            set_err(err, err_len, "Invalid pattern \"cc\"");
            return HY_EINVAL;
        }
        /* fall through */
    case 'M': case 'L': case 'Q': case 'q': case 'E': case 'e':
        if (count > 5)
            break;
        if (count <= 2 && c != 'E') {
            int v = c == 'M' || c == 'L' ? t->month
                  : c == 'Q' || c == 'q' ? (t->month - 1) / 3 + 1
                  : t->wday + 1; /* e, c: Locale.US, Sunday = 1 */
            return put_num(out, v, count);
        }
        if (c == 'M' || c == 'L') {
            const char *name = month_long[t->month - 1];
            if (count == 3)
                return buf_puts(out, month_short[t->month - 1]);
            return count == 4 ? buf_puts(out, name) : buf_append(out, name, 1);
        }
        if (c == 'Q' || c == 'q') {
            int q = (t->month - 1) / 3 + 1;
            if (count == 3)
                return buf_printf(out, "Q%d", q);
            return count == 4 ? buf_puts(out, quarter_long[q - 1]) : put_num(out, q, 1);
        }
        /* E (any count up to 3 is short), e, c */
        if (count <= 3)
            return buf_puts(out, day_short[t->wday]);
        return count == 4 ? buf_puts(out, day_long[t->wday])
                          : buf_append(out, day_long[t->wday], 1);
    case 'a':
        if (count > 1)
            break;
        return buf_puts(out, t->hour < 12 ? "AM" : "PM");
    case 'B': { /* day period (Java 16+), by minute of day as CLDR's English */
        int mod = t->hour * 60 + t->min;
        if (count != 1 && count != 4 && count != 5) {
            set_err(err, err_len, "Wrong number of pattern letters: B");
            return HY_EINVAL;
        }
        if (mod == 0)
            return buf_puts(out, count == 5 ? "mi" : "midnight");
        if (mod == 720)
            return buf_puts(out, count == 5 ? "n" : "noon");
        return buf_puts(out, mod >= 360 && mod < 720 ? "in the morning"
                             : mod > 720 && mod < 1080 ? "in the afternoon"
                             : mod >= 1080 && mod < 1260 ? "in the evening" : "at night");
    }
    case 'g': /* modified Julian day (Java 9+) */
        if (count > 19) {
            set_err(err, err_len,
                    "The minimum width must be from 1 to 19 inclusive but was %d", count);
            return HY_EINVAL;
        }
        return put_num(out, t->epoch_day + 40587, count);
    case 'S':
        if (count > 9) {
            set_err(err, err_len, "Minimum width must be from 0 to 9 inclusive but was %d",
                    count);
            return HY_EINVAL;
        } else {
            char digits[32];
            snprintf(digits, sizeof digits, "%09lld", frac_ns);
            return buf_append(out, digits, (size_t)count);
        }
    case 'F':
        if (count > 1)
            break;
        return put_num(out, (t->mday - 1) % 7 + 1, 1);
    case 'd': case 'h': case 'H': case 'k': case 'K': case 'm': case 's': {
        if (count > 2)
            break;
        int v = c == 'd' ? t->mday
              : c == 'H' ? t->hour
              : c == 'k' ? (t->hour == 0 ? 24 : t->hour)
              : c == 'K' ? t->hour % 12
              : c == 'h' ? (t->hour % 12 == 0 ? 12 : t->hour % 12)
              : c == 'm' ? t->min : t->sec;
        return put_num(out, v, count);
    }
    case 'D':
        if (count > 3)
            break;
        return put_num(out, t->yday, count);
    case 'A': case 'n': case 'N':
        if (count > 19) {
            set_err(err, err_len,
                    "The minimum width must be from 1 to 19 inclusive but was %d", count);
            return HY_EINVAL;
        }
        return put_num(out, c == 'A' ? ms_of_day : c == 'n' ? frac_ns
                                                            : ms_of_day * 1000000LL,
                       count);
    case 'w':
        if (count > 2)
            break;
        return put_num(out, t->wb_week, count);
    case 'W':
        if (count > 1)
            break;
        return put_num(out, t->week_of_month, 1);
    case 'z':
        if (count > 4)
            break;
        return buf_puts(out, count == 4 ? "Coordinated Universal Time" : "UTC");
    case 'v': /* generic zone name (Java 9+) */
        if (count != 1 && count != 4) {
            set_err(err, err_len, "Wrong number of pattern letters: v");
            return HY_EINVAL;
        }
        return buf_puts(out, count == 4 ? "Coordinated Universal Time" : "UTC");
    case 'V':
        if (count != 2) {
            set_err(err, err_len, "Pattern letter count must be 2: V");
            return HY_EINVAL;
        }
        return buf_puts(out, "UTC");
    case 'O':
        if (count != 1 && count != 4) {
            set_err(err, err_len, "Pattern letter count must be 1 or 4: O");
            return HY_EINVAL;
        }
        return buf_puts(out, "GMT");
    case 'X':
        if (count > 5)
            break;
        return buf_puts(out, "Z");
    case 'x':
        if (count > 5)
            break;
        return buf_puts(out, count == 1 ? "+00" : count % 2 == 0 ? "+0000" : "+00:00");
    case 'Z':
        if (count > 5)
            break;
        return buf_puts(out, count < 4 ? "+0000" : count == 4 ? "GMT" : "Z");
    default:
        set_err(err, err_len, "Unknown pattern letter: %c", c);
        return HY_EINVAL;
    }
    set_err(err, err_len, "Too many pattern letters: %c", c);
    return HY_EINVAL;
}

static bool is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Formats a DateTimeFormatter pattern (pat, n bytes) at t. */
static int format_timestamp(struct buf *out, const char *pat, size_t n,
                            const struct ptime *t, char *err, size_t err_len)
{
    int depth = 0; /* open optional sections */
    int rc = HY_OK;

    for (size_t i = 0; i < n && rc == HY_OK;) {
        char c = pat[i];
        if (is_letter(c)) {
            size_t j = i;
            while (j < n && pat[j] == c)
                j++;
            int count = (int)(j - i), pad = 0;
            if (c == 'p') {
                /* padding: the count pads the letter run that follows */
                if (j >= n || !is_letter(pat[j])) {
                    set_err(err, err_len,
                            "Pad letter 'p' must be followed by valid pad pattern: %.*s",
                            (int)n, pat);
                    return HY_EINVAL;
                }
                pad = count;
                c = pat[j];
                i = j;
                while (j < n && pat[j] == c)
                    j++;
                count = (int)(j - i);
            }
            size_t start = out->len;
            if ((rc = format_field(out, c, count, t, err, err_len)))
                return rc;
            size_t width = out->len - start;
            if (pad && width > (size_t)pad) {
                set_err(err, err_len,
                        "Cannot print as output of %zu characters exceeds pad width of %d",
                        width, pad);
                return HY_EINVAL;
            }
            if (pad && width < (size_t)pad) {
                size_t fill = (size_t)pad - width;
                if ((rc = buf_reserve(out, fill)))
                    return rc;
                memmove(out->data + start + fill, out->data + start, width);
                memset(out->data + start, ' ', fill);
                out->len += fill;
                out->data[out->len] = 0;
            }
            i = j;
        } else if (c == '\'') {
            /* quoted literal; '' inside or alone is a quote */
            if (i + 1 < n && pat[i + 1] == '\'') {
                rc = buf_append(out, "'", 1);
                i += 2;
                continue;
            }
            size_t j = i + 1;
            for (;;) {
                if (j >= n) {
                    set_err(err, err_len,
                            "Pattern ends with an incomplete string literal: %.*s", (int)n,
                            pat);
                    return HY_EINVAL;
                }
                if (pat[j] == '\'') {
                    if (j + 1 < n && pat[j + 1] == '\'') {
                        if ((rc = buf_append(out, "'", 1)))
                            return rc;
                        j += 2;
                        continue;
                    }
                    break;
                }
                if ((rc = buf_append(out, &pat[j], 1)))
                    return rc;
                j++;
            }
            i = j + 1;
        } else if (c == '[') {
            depth++;
            i++;
        } else if (c == ']') {
            if (depth == 0) {
                set_err(err, err_len, "Pattern invalid as it contains ] without previous [");
                return HY_EINVAL;
            }
            depth--;
            i++;
        } else if (c == '{' || c == '}' || c == '#') {
            set_err(err, err_len, "Pattern includes reserved character: '%c'", c);
            return HY_EINVAL;
        } else {
            rc = buf_append(out, &c, 1);
            i++;
        }
    }
    return rc;
}

/* 11 lowercase letters and digits: random, or derived from the object's
 * seed (so that a rewrite after a crash names the same key). */
static int random_string(struct buf *out, const struct prefix_env *env, unsigned *nth)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[32];
    char s[11];
    if (env && env->seed) {
        unsigned char in[PREFIX_SEED_LEN + 4];
        unsigned int mdlen = 0;
        memcpy(in, env->seed, PREFIX_SEED_LEN);
        for (int i = 0; i < 4; i++)
            in[PREFIX_SEED_LEN + i] = (unsigned char)(*nth >> (8 * i));
        (*nth)++;
        if (!EVP_Digest(in, sizeof in, r, &mdlen, EVP_sha256(), NULL))
            return HY_ENOMEM;
    } else if (hy_random(r, 11) != HY_OK) {
        return HY_EIO;
    }
    for (size_t i = 0; i < sizeof s; i++)
        s[i] = chars[r[i] % (sizeof chars - 1)];
    return buf_append(out, s, sizeof s);
}

/* What a walk saw, for the rules between the two prefixes. */
struct walk_info {
    bool has_expr, has_timestamp, has_error_type, has_partition_key;
};

/* Evaluates prefix at t into out (the one parser: evaluation and
 * validation both run this). member names the field in messages. */
static int walk(const char *prefix, const char *member, const struct ptime *t,
                const char *error_type, bool is_error_prefix, const struct prefix_env *env,
                struct buf *out, struct walk_info *wi, char *err, size_t err_len)
{
    const char *p = prefix;
    char why[160];
    int rc = HY_OK;
    unsigned nth = 0;
    memset(wi, 0, sizeof *wi);
    while (*p && rc == HY_OK) {
        const char *ex = strstr(p, "!{");
        if (!ex)
            return buf_puts(out, p);
        if ((rc = buf_append(out, p, (size_t)(ex - p))))
            return rc;
        const char *end = strchr(ex + 2, '}');
        if (!end) {
            set_err(err, err_len,
                    "%s %s has an expression that is not closed with '}': the sequence !{ "
                    "can only appear in !{namespace:value} expressions.", member, prefix);
            return HY_EINVAL;
        }
        int exlen = (int)(end - ex + 1);
        const char *body = ex + 2;
        size_t blen = (size_t)(end - body);
        const char *colon = memchr(body, ':', blen);
        wi->has_expr = true;
        if (!colon) {
            set_err(err, err_len,
                    "%s has the expression %.*s, which is not of the form "
                    "!{namespace:value}.", member, exlen, ex);
            return HY_EINVAL;
        }
        size_t nslen = (size_t)(colon - body);
        const char *val = colon + 1;
        size_t vlen = blen - nslen - 1;

        if (nslen == 9 && memcmp(body, "timestamp", 9) == 0) {
            wi->has_timestamp = true;
            if (vlen == 0) {
                set_err(err, err_len, "%s has the expression %.*s, which has no pattern.",
                        member, exlen, ex);
                return HY_EINVAL;
            }
            why[0] = 0;
            rc = format_timestamp(out, val, vlen, t, why, sizeof why);
            if (rc == HY_EINVAL) {
                set_err(err, err_len,
                        "%s has the expression %.*s, which is not a valid DateTimeFormatter "
                        "pattern: %s", member, exlen, ex, why);
                return rc;
            }
        } else if (nslen == 8 && memcmp(body, "firehose", 8) == 0) {
            if (vlen == 13 && memcmp(val, "random-string", 13) == 0) {
                rc = random_string(out, env, &nth);
            } else if (vlen == 17 && memcmp(val, "error-output-type", 17) == 0) {
                if (!is_error_prefix) {
                    set_err(err, err_len,
                            "Ths supplied prefix(es) do not satisfy the following constraint: "
                            "Prefix cannot contain !{firehose:error-output-type}");
                    return HY_EINVAL;
                }
                wi->has_error_type = true;
                rc = buf_puts(out, error_type ? error_type : "processing-failed");
            } else {
                set_err(err, err_len,
                        "%s has the expression %.*s: the firehose namespace takes "
                        "random-string or error-output-type.", member, exlen, ex);
                return HY_EINVAL;
            }
        } else if ((nslen == 21 && memcmp(body, "partitionKeyFromQuery", 21) == 0) ||
                   (nslen == 22 && memcmp(body, "partitionKeyFromLambda", 22) == 0)) {
            bool from_lambda = nslen == 22;
            if (!env || !env->dynamic) {
                set_err(err, err_len,
                        "Dynamic Partitioning Namespaces can only be part of a prefix "
                        "expression when Dynamic Partitioning is enabled.");
                return HY_EINVAL;
            }
            if (is_error_prefix) {
                set_err(err, err_len,
                        "Ths supplied prefix(es) do not satisfy the following constraint: "
                        "ErrorOutputPrefix cannot contain dynamic partitioning namespaces");
                return HY_EINVAL;
            }
            char name[PREFIX_KEY_NAME_MAX + 1];
            if (vlen == 0 || vlen > PREFIX_KEY_NAME_MAX) {
                set_err(err, err_len,
                        "%s has the expression %.*s, which names no partition key (or one "
                        "longer than %d characters).", member, exlen, ex, PREFIX_KEY_NAME_MAX);
                return HY_EINVAL;
            }
            memcpy(name, val, vlen);
            name[vlen] = 0;
            wi->has_partition_key = true;
            if (!env->key) {
                /* validation: the value is not known; one character stands in */
                rc = buf_append(out, "x", 1);
            } else {
                size_t klen = 0;
                const char *v = env->key(env->key_arg, from_lambda, name, &klen);
                if (!v) {
                    set_err(err, err_len, "The partition key %s (%s) is missing from the "
                            "record's %s", name, from_lambda ? "partitionKeyFromLambda"
                                                             : "partitionKeyFromQuery",
                            from_lambda ? "Lambda metadata" : "extracted metadata");
                    return HY_ENOTFOUND;
                }
                rc = buf_append(out, v, klen);
            }
        } else {
            set_err(err, err_len,
                    "%s has the expression %.*s with an unknown namespace: the namespaces "
                    "are timestamp, firehose, partitionKeyFromQuery and "
                    "partitionKeyFromLambda.", member, exlen, ex);
            return HY_EINVAL;
        }
        p = end + 1;
    }
    return rc;
}

size_t prefix_java_length(const char *s, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) != 0x80)
            len += c >= 0xF0 ? 2 : 1;
    }
    return len;
}

/* UTF-16 length of what out holds from start (out->data may be NULL). */
static size_t evaluated_len(const struct buf *out, size_t start)
{
    return out->data ? prefix_java_length(out->data + start, out->len - start) : 0;
}

/* Evaluates at t; HY_ETOOBIG past the 512-character cap. */
static int eval_at(const char *prefix, const char *member, const struct ptime *t,
                   const char *error_type, bool is_error_prefix, const struct prefix_env *env,
                   struct buf *out, struct walk_info *wi, char *err, size_t err_len)
{
    size_t start = out->len;
    int rc = walk(prefix, member, t, error_type, is_error_prefix, env, out, wi, err,
                  err_len);
    if (rc == HY_OK && !wi->has_timestamp)
        rc = format_timestamp(out, "yyyy/MM/dd/HH/", 14, t, err, err_len);
    if (rc == HY_OK && evaluated_len(out, start) > PREFIX_MAX_EVALUATED) {
        set_err(err, err_len,
                "Ths supplied prefix(es) do not satisfy the following constraint: %s cannot "
                "be greater than 512 characters after it is evaluated ('%.64s...' evaluates "
                "to %zu).", member, prefix, evaluated_len(out, start));
        rc = HY_ETOOBIG;
    }
    return rc;
}

int prefix_eval_env(const char *prefix, int64_t ts_ms, const char *error_type,
                    const struct prefix_env *env, struct buf *out, char *err, size_t err_len)
{
    struct ptime t;
    struct walk_info wi;
    ptime_in(ts_ms, env, &t);
    return eval_at(prefix ? prefix : "", error_type ? "ErrorOutputPrefix" : "Prefix", &t,
                   error_type, error_type != NULL, env, out, &wi, err, err_len);
}

int prefix_eval(const char *prefix, int64_t ts_ms, const char *error_type,
                struct buf *out, char *err, size_t err_len)
{
    return prefix_eval_env(prefix, ts_ms, error_type, NULL, out, err, err_len);
}

/* 2024-01-01T00:00:00Z, a leap year: its days at 23:59:59.999 are the probes. */
#define PROBE_YEAR_START_MS 1704067200000LL
#define PROBE_DAY_MS 86400000LL

int prefix_check(const char *prefix, bool is_error_prefix, struct prefix_bounds *b,
                 char *err, size_t err_len)
{
    return prefix_check_env(prefix, is_error_prefix, NULL, b, err, err_len);
}

int prefix_check_env(const char *prefix, bool is_error_prefix, const struct prefix_env *env,
                     struct prefix_bounds *b, char *err, size_t err_len)
{
    const char *member = is_error_prefix ? "ErrorOutputPrefix" : "Prefix";
    const char *etype = is_error_prefix ? PREFIX_LONGEST_ERROR_TYPE : NULL;
    struct buf scratch;
    struct walk_info wi;
    int rc = HY_OK;

    memset(b, 0, sizeof *b);
    if (!prefix)
        prefix = "";
    buf_init(&scratch, 64 * 1024);
    for (int i = 0; i <= 366 && rc == HY_OK; i++) {
        struct ptime t;
        ptime_in(i == 366 ? PROBE_YEAR_START_MS
                          : PROBE_YEAR_START_MS + i * PROBE_DAY_MS + PROBE_DAY_MS - 1,
                 env, &t);
        buf_reset(&scratch);
        rc = eval_at(prefix, member, &t, etype, is_error_prefix, env, &scratch, &wi, err,
                     err_len);
        if (rc == HY_OK) {
            size_t chars = evaluated_len(&scratch, 0);
            if (chars > b->max_chars)
                b->max_chars = chars;
            if (scratch.len > b->max_bytes)
                b->max_bytes = scratch.len;
        }
    }
    buf_free(&scratch);
    if (rc == HY_ETOOBIG)
        rc = HY_EINVAL;
    if (rc == HY_OK) {
        b->has_expr = wi.has_expr;
        b->has_timestamp = wi.has_timestamp;
        b->has_error_type = wi.has_error_type;
        b->has_partition_key = wi.has_partition_key;
    }
    return rc;
}

int prefix_check_config(const char *stream, const char *prefix, const char *error_prefix,
                        const char *ext, char *err, size_t err_len)
{
    return prefix_check_config_env(stream, prefix, error_prefix, ext, NULL, err, err_len);
}

int prefix_check_config_env(const char *stream, const char *prefix, const char *error_prefix,
                            const char *ext, const struct prefix_env *env, char *err,
                            size_t err_len)
{
    struct prefix_bounds pb, eb;
    int rc;
    if (!prefix)
        prefix = "";
    if (!error_prefix)
        error_prefix = "";
    if ((rc = prefix_check_env(prefix, false, env, &pb, err, err_len)) ||
        (rc = prefix_check_env(error_prefix, true, env, &eb, err, err_len)))
        return rc;
    if (pb.has_expr && !*error_prefix) {
        set_err(err, err_len,
                "Ths supplied prefix(es) do not satisfy the following constraint: "
                "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions");
        return HY_EINVAL;
    }
    if (eb.has_expr && !eb.has_error_type) {
        set_err(err, err_len,
                "Ths supplied prefix(es) do not satisfy the following constraint: "
                "ErrorOutputPrefix must contain !{firehose:error-output-type} when it "
                "contains expressions");
        return HY_EINVAL;
    }
    /* the whole key: <prefix><stream>-<version>-yyyy-MM-dd-HH-mm-ss-<id><ext> */
    size_t suffix = strlen(stream ? stream : "") + 1 + PREFIX_VERSION_DIGITS + 1 + 19 + 1 +
                    PREFIX_ID_LEN + strlen(ext ? ext : "");
    size_t longest = pb.max_bytes > eb.max_bytes ? pb.max_bytes : eb.max_bytes;
    if (longest + suffix > PREFIX_S3_KEY_MAX) {
        set_err(err, err_len,
                "%s can evaluate to %zu bytes; with the object name after it (%zu bytes) "
                "the S3 object key would be longer than %d bytes.",
                pb.max_bytes >= eb.max_bytes ? "Prefix" : "ErrorOutputPrefix", longest,
                suffix, PREFIX_S3_KEY_MAX);
        return HY_EINVAL;
    }
    return HY_OK;
}

int prefix_check_dest(const struct stream_dest *d, char *err, size_t err_len)
{
    const char *ext = d->file_ext[0] ? d->file_ext : prefix_compression_ext(d->compression);
    struct prefix_env env = {.dynamic = d->dynamic};
    int rc = HY_OK;
    if (d->time_zone[0] && (rc = tz_load(d->time_zone, (struct tz **)&env.tz))) {
        snprintf(err, err_len, "CustomTimeZone %s is not a time zone of this system's tz "
                 "database", d->time_zone);
        return HY_EINVAL;
    }
    env.tz_name = d->time_zone;
    rc = prefix_check_config_env(d->name, d->prefix, d->error_prefix, ext, &env, err, err_len);
    tz_free((struct tz *)env.tz);
    return rc;
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
    return prefix_object_key_env(d, d->prefix, NULL, ts_ms, id, NULL, out, NULL, 0);
}

int prefix_object_key_env(const struct stream_dest *d, const char *prefix,
                          const char *error_type, int64_t ts_ms, const char *id,
                          const struct prefix_env *env, struct buf *out, char *err,
                          size_t err_len)
{
    int rc = prefix_eval_env(prefix, ts_ms, error_type, env, out, err, err_len);
    if (rc)
        return rc;
    char when[32];
    struct ptime pt;
    ptime_in(ts_ms, env, &pt);
    snprintf(when, sizeof when, "%04d-%02d-%02d-%02d-%02d-%02d", pt.year, pt.month, pt.mday,
             pt.hour, pt.min, pt.sec);
    const char *ext = d->file_ext[0] ? d->file_ext : prefix_compression_ext(d->compression);
    return buf_printf(out, "%s-%u-%s-%s%s", d->name, d->version, when, id, ext);
}
