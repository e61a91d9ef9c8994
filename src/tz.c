/* tz.c -- IANA time zones for CustomTimeZone: a reader of the compiled
 * tz database (TZif files under /usr/share/zoneinfo, Debian's tzdata)
 * that answers "what is the UTC offset of this zone at this instant"
 * without touching the process's TZ (setenv/tzset are not thread-safe).
 *
 * Format read (RFC 8536, "The Time Zone Information Format (TZif)"):
 *
 *   header   "TZif" version(1: 0, '2', '3' or '4') unused(15)
 *            isutcnt timecnt... six big-endian uint32 counts, in the
 *            order isutcnt isstdcnt leapcnt timecnt typecnt charcnt
 *   v1 data  timecnt x int32 transition times (ascending)
 *            timecnt x uint8 local time type index
 *            typecnt x { int32 utoff; uint8 isdst; uint8 desigidx }
 *            charcnt bytes of designations, leapcnt x (int32, int32),
 *            isstdcnt x uint8, isutcnt x uint8
 *   v2+      a second header and data block, the same with 64-bit
 *            transition times and leap second times, then the footer:
 *            "\n" POSIX TZ string "\n"
 *
 * Version 1 files are read from their v1 block; version 2 and later from
 * the 64-bit block (the v1 block is skipped, only bounds-checked). Local
 * time before the first transition is time type 0 (RFC 8536 section 3.2);
 * after the last transition, or for a file without transitions, the
 * footer's TZ string (POSIX.1-2017 section 8.3 "TZ", with RFC 8536's
 * extensions: <+07>-7 quoted names, rule hours -167..167) decides; with an
 * empty footer the last transition's type stays. A DST rule's year is the
 * UTC year of the instant and each change is taken in the local time in
 * force before it (standard time for the start, DST for the end), as
 * glibc's tzset computes them; a TZ string with a DST name and no rule
 * takes glibc's default, M3.2.0,M11.1.0.
 *
 * Every count, offset and index is checked against the input's length
 * before it is read: tz_parse reads nothing outside [data, data+len) for
 * any input (fuzzed: tests/fuzz/fuzz_tz.c). Zone names are checked before
 * any file is opened: IANA characters only (letters, digits, '/', '_',
 * '-', '+', '.'), no "..", no leading '/', at most 255 bytes.
 *
 * Threading: a loaded struct tz is immutable; tz_offset_s on one zone is
 * safe from any number of threads. tz_load allocates and reads a file, no
 * shared state.
 */
#include "tz.h"

#include <stdlib.h>
#include <string.h>

#define TZ_DIR "/usr/share/zoneinfo"
#define TZ_FILE_MAX (1u << 20)   /* tzdata files are < 100 KiB */
#define TZ_NAME_MAX 255

enum tz_date_kind { TZ_JULIAN1, TZ_JULIAN0, TZ_MONTH };

struct tz_date {
    enum tz_date_kind kind;
    int n;            /* Jn 1..365, n 0..365 */
    int m, w, d;      /* Mm.w.d */
    int32_t secs;     /* local time of day of the change, -167h..167h */
};

struct tz_rule {
    int32_t std_utoff;   /* seconds east of UTC */
    int32_t dst_utoff;
    bool has_dst;
    struct tz_date start, end;
};

struct tz {
    size_t ntrans;
    int64_t *trans;      /* ascending */
    uint8_t *trans_type; /* index into utoff */
    size_t ntypes;
    int32_t *utoff;
    bool has_rule;       /* a non-empty footer */
    struct tz_rule rule;
};

/* ---- reading ------------------------------------------------------------ */

static uint32_t tz_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t tz_be64(const unsigned char *p)
{
    uint64_t v = (uint64_t)tz_be32(p) << 32 | tz_be32(p + 4);
    return (int64_t)v;
}

struct tz_hdr {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

/* Reads a 44-byte header at p (len bytes left). */
static int tz_read_hdr(const unsigned char *p, size_t len, struct tz_hdr *h)
{
    if (len < 44 || memcmp(p, "TZif", 4))
        return HY_EINVAL;
    h->version = (char)p[4];
    if (h->version != 0 && h->version != '2' && h->version != '3' && h->version != '4')
        return HY_EINVAL;
    h->isutcnt = tz_be32(p + 20);
    h->isstdcnt = tz_be32(p + 24);
    h->leapcnt = tz_be32(p + 28);
    h->timecnt = tz_be32(p + 32);
    h->typecnt = tz_be32(p + 36);
    h->charcnt = tz_be32(p + 40);
    /* RFC 8536 3.1: typecnt and charcnt non-zero, isutcnt / isstdcnt zero
     * or typecnt; a time type index is one byte, so typecnt <= 256 */
    if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0)
        return HY_EINVAL;
    if ((h->isutcnt && h->isutcnt != h->typecnt) || (h->isstdcnt && h->isstdcnt != h->typecnt))
        return HY_EINVAL;
    return HY_OK;
}

/* The size of the data block after a header (tsize: 4 or 8), or 0 when it
 * would not fit in 64 bits (never, with 32-bit counts). */
static uint64_t tz_block_size(const struct tz_hdr *h, unsigned tsize)
{
    return (uint64_t)h->timecnt * tsize + h->timecnt + (uint64_t)h->typecnt * 6 + h->charcnt +
           (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

static bool tz_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool tz_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A decimal number of at most max_digits; -1 if none. */
static long tz_num(const char **sp, const char *end, int max_digits)
{
    const char *s = *sp;
    long v = 0;
    int nd = 0;
    while (s < end && tz_digit(*s) && nd < max_digits) {
        v = v * 10 + (*s - '0');
        s++;
        nd++;
    }
    if (nd == 0 || (s < end && tz_digit(*s)))
        return -1;
    *sp = s;
    return v;
}

/* [+-]hh[:mm[:ss]] with hh <= max_h; seconds into *out (sign applied). */
static int tz_hms(const char **sp, const char *end, long max_h, int32_t *out)
{
    const char *s = *sp;
    int sign = 1;
    if (s < end && (*s == '+' || *s == '-')) {
        sign = *s == '-' ? -1 : 1;
        s++;
    }
    long h = tz_num(&s, end, 3), m = 0, sec = 0;
    if (h < 0 || h > max_h)
        return HY_EINVAL;
    if (s < end && *s == ':') {
        s++;
        if ((m = tz_num(&s, end, 2)) < 0 || m > 59)
            return HY_EINVAL;
        if (s < end && *s == ':') {
            s++;
            if ((sec = tz_num(&s, end, 2)) < 0 || sec > 59)
                return HY_EINVAL;
        }
    }
    *out = (int32_t)(sign * (h * 3600 + m * 60 + sec));
    *sp = s;
    return HY_OK;
}

/* A zone abbreviation: three or more letters, or <...> of letters, digits,
 * '+' and '-'. */
static int tz_name(const char **sp, const char *end)
{
    const char *s = *sp;
    if (s < end && *s == '<') {
        s++;
        const char *start = s;
        while (s < end && (tz_alpha(*s) || tz_digit(*s) || *s == '+' || *s == '-'))
            s++;
        if (s >= end || *s != '>' || s - start < 3)
            return HY_EINVAL;
        *sp = s + 1;
        return HY_OK;
    }
    const char *start = s;
    while (s < end && tz_alpha(*s))
        s++;
    if (s - start < 3)
        return HY_EINVAL;
    *sp = s;
    return HY_OK;
}

/* ,date[/time] */
static int tz_date(const char **sp, const char *end, struct tz_date *d)
{
    const char *s = *sp;
    long v;
    if (s >= end || *s != ',')
        return HY_EINVAL;
    s++;
    if (s < end && *s == 'J') {
        s++;
        if ((v = tz_num(&s, end, 3)) < 1 || v > 365)
            return HY_EINVAL;
        d->kind = TZ_JULIAN1;
        d->n = (int)v;
    } else if (s < end && *s == 'M') {
        s++;
        long m = tz_num(&s, end, 2), w = -1, wd = -1;
        if (m >= 1 && m <= 12 && s < end && *s == '.') {
            s++;
            w = tz_num(&s, end, 1);
            if (w >= 1 && w <= 5 && s < end && *s == '.') {
                s++;
                wd = tz_num(&s, end, 1);
            }
        }
        if (wd < 0 || wd > 6)
            return HY_EINVAL;
        d->kind = TZ_MONTH;
        d->m = (int)m;
        d->w = (int)w;
        d->d = (int)wd;
    } else {
        if ((v = tz_num(&s, end, 3)) < 0 || v > 365)
            return HY_EINVAL;
        d->kind = TZ_JULIAN0;
        d->n = (int)v;
    }
    d->secs = 2 * 3600;
    if (s < end && *s == '/') {
        s++;
        if (tz_hms(&s, end, 167, &d->secs))
            return HY_EINVAL;
    }
    *sp = s;
    return HY_OK;
}

/* The footer's TZ string s[0..len) into r. */
static int tz_parse_rule(const char *s, size_t len, struct tz_rule *r)
{
    const char *end = s + len;
    int32_t off;
    memset(r, 0, sizeof *r);
    if (tz_name(&s, end) || tz_hms(&s, end, 24, &off))
        return HY_EINVAL;
    r->std_utoff = -off; /* POSIX offsets are west of UTC */
    if (s == end)
        return HY_OK;
    if (tz_name(&s, end))
        return HY_EINVAL;
    r->has_dst = true;
    r->dst_utoff = r->std_utoff + 3600;
    if (s < end && *s != ',') {
        if (tz_hms(&s, end, 24, &off))
            return HY_EINVAL;
        r->dst_utoff = -off;
    }
    if (s == end) { /* glibc's default rule (the US one) */
        r->start = (struct tz_date){TZ_MONTH, 0, 3, 2, 0, 7200};
        r->end = (struct tz_date){TZ_MONTH, 0, 11, 1, 0, 7200};
        return HY_OK;
    }
    if (tz_date(&s, end, &r->start) || tz_date(&s, end, &r->end) || s != end)
        return HY_EINVAL;
    return HY_OK;
}

int tz_parse(const void *data, size_t len, struct tz **out)
{
    const unsigned char *p = data;
    struct tz_hdr h;
    *out = NULL;
    if (!data || tz_read_hdr(p, len, &h))
        return HY_EINVAL;
    size_t off = 44;
    unsigned tsize = 4;
    uint64_t v1 = tz_block_size(&h, 4);
    if (v1 > len - off)
        return HY_EINVAL;
    if (h.version != 0) { /* skip to the 64-bit header and block */
        off += (size_t)v1;
        if (tz_read_hdr(p + off, len - off, &h))
            return HY_EINVAL;
        off += 44;
        tsize = 8;
        if (tz_block_size(&h, 8) > len - off)
            return HY_EINVAL;
    }
    const unsigned char *times = p + off;
    const unsigned char *idx = times + (size_t)h.timecnt * tsize;
    const unsigned char *types = idx + h.timecnt;
    size_t block = (size_t)tz_block_size(&h, tsize);

    /* one allocation: the struct, then transitions, offsets, type indices */
    size_t bytes = sizeof(struct tz) + (size_t)h.timecnt * sizeof(int64_t) +
                   (size_t)h.typecnt * sizeof(int32_t) + h.timecnt;
    struct tz *tz = calloc(1, bytes);
    if (!tz)
        return HY_ENOMEM;
    tz->trans = (int64_t *)(void *)(tz + 1);
    tz->utoff = (int32_t *)(void *)(tz->trans + h.timecnt);
    tz->trans_type = (uint8_t *)(tz->utoff + h.typecnt);
    tz->ntrans = h.timecnt;
    tz->ntypes = h.typecnt;
    for (uint32_t i = 0; i < h.typecnt; i++) {
        int32_t u = (int32_t)tz_be32(types + 6 * (size_t)i);
        /* RFC 8536: never -2^31; offsets beyond +-26 h are damage */
        if (u < -93600 || u > 93600 || types[6 * (size_t)i + 4] > 1 ||
            types[6 * (size_t)i + 5] >= h.charcnt)
            goto out_free_tz;
        tz->utoff[i] = u;
    }
    for (uint32_t i = 0; i < h.timecnt; i++) {
        int64_t t = tsize == 8 ? tz_be64(times + 8 * (size_t)i)
                               : (int64_t)(int32_t)tz_be32(times + 4 * (size_t)i);
        if (i > 0 && t <= tz->trans[i - 1])
            goto out_free_tz;
        if (idx[i] >= h.typecnt)
            goto out_free_tz;
        tz->trans[i] = t;
        tz->trans_type[i] = idx[i];
    }
    if (tsize == 8) { /* the footer: "\n" TZ string "\n" */
        const char *f = (const char *)p + off + block;
        size_t left = len - off - block;
        const char *nl = left >= 2 && f[0] == '\n' ? memchr(f + 1, '\n', left - 1) : NULL;
        if (!nl)
            goto out_free_tz;
        size_t slen = (size_t)(nl - (f + 1));
        if (slen) {
            if (tz_parse_rule(f + 1, slen, &tz->rule))
                goto out_free_tz;
            tz->has_rule = true;
        }
    }
    *out = tz;
    return HY_OK;
out_free_tz:
    free(tz);
    return HY_EINVAL;
}

/* ---- names and files ------------------------------------------------------ */

static bool tz_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!(tz_alpha(c) || tz_digit(c) || c == '/' || c == '_' || c == '-' || c == '+' ||
              c == '.'))
            return false;
    }
    return name[n - 1] != '/';
}

int tz_load(const char *name, struct tz **out)
{
    *out = NULL;
    if (!name || !tz_name_ok(name))
        return HY_ENOTFOUND;
    char path[sizeof TZ_DIR + 1 + TZ_NAME_MAX + 1];
    memcpy(path, TZ_DIR "/", sizeof TZ_DIR);
    memcpy(path + sizeof TZ_DIR, name, strlen(name) + 1);
    size_t len = 0;
    char *data = hy_read_file(path, TZ_FILE_MAX, &len);
    if (!data)
        return HY_ENOTFOUND; /* no such zone (or a directory) */
    int rc;
    if (len < 4 || memcmp(data, "TZif", 4))
        rc = HY_ENOTFOUND;   /* zone.tab, tzdata.zi, ...: not a zone */
    else
        rc = tz_parse(data, len, out);
    free(data);
    return rc;
}

void tz_free(struct tz *tz)
{
    free(tz);
}

/* ---- offsets -------------------------------------------------------------- */

static int64_t tz_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t tz_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = tz_floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t tz_year_of_days(int64_t z)
{
    z += 719468;
    int64_t era = tz_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    return yoe + era * 400 + (m <= 2);
}

static bool tz_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int tz_mdays(int64_t y, int m)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && tz_leap(y) ? 29 : md[m - 1];
}

/* UTC instant of a rule's change in year y; before: the offset in force
 * before the change. */
static int64_t tz_change(const struct tz_date *d, int64_t y, int32_t before)
{
    int64_t jan1 = tz_days_from_civil(y, 1, 1), day;
    if (d->kind == TZ_JULIAN1)
        day = jan1 + d->n - 1 + (tz_leap(y) && d->n >= 60);
    else if (d->kind == TZ_JULIAN0)
        day = jan1 + d->n;
    else {
        int64_t first = tz_days_from_civil(y, d->m, 1);
        int wday = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
        int dom = 1 + (d->d - wday + 7) % 7 + (d->w - 1) * 7;
        while (dom > tz_mdays(y, d->m))
            dom -= 7;
        day = first + dom - 1;
    }
    return day * 86400 + d->secs - before;
}

static int32_t tz_rule_offset(const struct tz_rule *r, int64_t utc_s)
{
    if (!r->has_dst)
        return r->std_utoff;
    int64_t y = tz_year_of_days(tz_floor_div(utc_s, 86400));
    int64_t start = tz_change(&r->start, y, r->std_utoff);
    int64_t end = tz_change(&r->end, y, r->dst_utoff);
    bool dst = start < end ? (utc_s >= start && utc_s < end) : (utc_s < end || utc_s >= start);
    return dst ? r->dst_utoff : r->std_utoff;
}

int32_t tz_offset_s(const struct tz *tz, int64_t utc_s)
{
    if (!tz)
        return 0;
    /* keep the civil arithmetic far from int64 overflow */
    const int64_t lim = (int64_t)1 << 50;
    if (utc_s > lim)
        utc_s = lim;
    if (utc_s < -lim)
        utc_s = -lim;
    if (tz->ntrans == 0)
        return tz->has_rule ? tz_rule_offset(&tz->rule, utc_s) : tz->utoff[0];
    if (utc_s < tz->trans[0])
        return tz->utoff[0];
    if (utc_s >= tz->trans[tz->ntrans - 1] && tz->has_rule)
        return tz_rule_offset(&tz->rule, utc_s);
    size_t lo = 0, hi = tz->ntrans; /* last transition <= utc_s */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= utc_s)
            lo = mid;
        else
            hi = mid;
    }
    return tz->utoff[tz->trans_type[lo]];
}
