/* test_tz.c -- the TZif reader (src/tz.c): fixed-offset zones, DST changes
 * from the transition table (2026) and from the footer's POSIX rule
 * (2040, past the last transition of Debian's tzdata files), name
 * validation, damaged files, hand-built TZif images (v1, v2, footer
 * forms), and glibc's own localtime_r (setenv TZ, single-threaded here)
 * as the oracle over many random instants 1970..2100 for twenty zones
 * (Dublin's negative DST, Lord Howe's half hour, Nuuk's negative and Gaza's
 * 50-hour change times among them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tz.h"

struct hy_config hy_cfg = {.region = "us-east-1"};

/* seconds since the epoch of a UTC civil time */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm);
}

static struct tz *load(const char *name)
{
    struct tz *tz = NULL;
    assert_int_equal(tz_load(name, &tz), HY_OK);
    assert_non_null(tz);
    return tz;
}

static void test_jakarta_fixed(void **s)
{
    (void)s;
    struct tz *tz = load("Asia/Jakarta");
    int64_t probes[] = {0, utc(1990, 6, 1, 0, 0, 0), utc(2026, 1, 1, 0, 0, 0),
                        utc(2026, 7, 1, 12, 0, 0), utc(2040, 3, 10, 7, 0, 0),
                        utc(2099, 12, 31, 23, 59, 59)};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
        assert_int_equal(tz_offset_s(tz, probes[i]), 7 * 3600);
    tz_free(tz);
}

static void test_new_york_2026_table(void **s)
{
    (void)s;
    struct tz *tz = load("America/New_York");
    /* 2026: DST from Sun 8 March 02:00 EST (07:00Z) to Sun 1 November
     * 02:00 EDT (06:00Z) */
    assert_int_equal(tz_offset_s(tz, utc(2026, 3, 8, 6, 59, 59)), -5 * 3600);
    assert_int_equal(tz_offset_s(tz, utc(2026, 3, 8, 7, 0, 0)), -4 * 3600);
    assert_int_equal(tz_offset_s(tz, utc(2026, 7, 4, 16, 0, 0)), -4 * 3600);
    assert_int_equal(tz_offset_s(tz, utc(2026, 11, 1, 5, 59, 59)), -4 * 3600);
    assert_int_equal(tz_offset_s(tz, utc(2026, 11, 1, 6, 0, 0)), -5 * 3600);
    assert_int_equal(tz_offset_s(tz, utc(2026, 12, 25, 12, 0, 0)), -5 * 3600);
    tz_free(tz);
}

static void test_new_york_2040_footer(void **s)
{
    (void)s;
    struct tz *tz = load("America/New_York");
    /* 2040 is past the files' last transition (2037): the footer's rule
     * EST5EDT,M3.2.0,M11.1.0 -- 11 March and 4 November 2040 */
    assert_int_equal(tz_offset_s(tz, utc(2040, 3, 11, 6, 59, 59)), -5 * 3600);
    assert_int_equal(tz_offset_s(tz, utc(2040, 3, 11, 7, 0, 0)), -4 * 3600);
    assert_int_equal(tz_offset_s(tz, utc(2040, 11, 4, 5, 59, 59)), -4 * 3600);
    assert_int_equal(tz_offset_s(tz, utc(2040, 11, 4, 6, 0, 0)), -5 * 3600);
    assert_int_equal(tz_offset_s(tz, utc(2040, 1, 15, 0, 0, 0)), -5 * 3600);
    tz_free(tz);
}

static void test_london(void **s)
{
    (void)s;
    struct tz *tz = load("Europe/London");
    /* BST from the last Sunday of March 01:00Z to the last Sunday of
     * October 01:00Z: 29 March and 25 October 2026 */
    assert_int_equal(tz_offset_s(tz, utc(2026, 3, 29, 0, 59, 59)), 0);
    assert_int_equal(tz_offset_s(tz, utc(2026, 3, 29, 1, 0, 0)), 3600);
    assert_int_equal(tz_offset_s(tz, utc(2026, 10, 25, 0, 59, 59)), 3600);
    assert_int_equal(tz_offset_s(tz, utc(2026, 10, 25, 1, 0, 0)), 0);
    /* 2045 by the footer: 26 March, 29 October */
    assert_int_equal(tz_offset_s(tz, utc(2045, 3, 26, 0, 59, 59)), 0);
    assert_int_equal(tz_offset_s(tz, utc(2045, 3, 26, 1, 0, 0)), 3600);
    assert_int_equal(tz_offset_s(tz, utc(2045, 10, 29, 1, 0, 0)), 0);
    /* 1970: British Standard Time, +1 all year */
    assert_int_equal(tz_offset_s(tz, utc(1970, 1, 15, 0, 0, 0)), 3600);
    tz_free(tz);
}

static void test_utc_and_null(void **s)
{
    (void)s;
    struct tz *tz = load("UTC");
    assert_int_equal(tz_offset_s(tz, 0), 0);
    assert_int_equal(tz_offset_s(tz, utc(2050, 6, 1, 0, 0, 0)), 0);
    tz_free(tz);
    tz = load("Etc/UTC");
    assert_int_equal(tz_offset_s(tz, utc(2026, 6, 1, 0, 0, 0)), 0);
    tz_free(tz);
    assert_int_equal(tz_offset_s(NULL, 12345), 0);
    tz_free(NULL);
}

static void test_names_refused(void **s)
{
    (void)s;
    struct tz *tz = (struct tz *)1;
    const char *bad[] = {"Mars/Olympus_Mons", "", "/etc/passwd", "../../etc/passwd",
                         "America/../../../etc/passwd", "America/New York", "America/New_York/",
                         "America", "zone.tab", "tzdata.zi", "Europe/London\n", "A$B", NULL};
    for (size_t i = 0; bad[i]; i++) {
        assert_int_equal(tz_load(bad[i], &tz), HY_ENOTFOUND);
        assert_null(tz);
    }
    assert_int_equal(tz_load(NULL, &tz), HY_ENOTFOUND);
    char longname[400];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(tz_load(longname, &tz), HY_ENOTFOUND);
}

/* ---- hand-built images ---------------------------------------------------- */

struct img {
    unsigned char b[4096];
    size_t n;
};

static void put32(struct img *m, uint32_t v)
{
    m->b[m->n++] = (unsigned char)(v >> 24);
    m->b[m->n++] = (unsigned char)(v >> 16);
    m->b[m->n++] = (unsigned char)(v >> 8);
    m->b[m->n++] = (unsigned char)v;
}

static void put64(struct img *m, int64_t v)
{
    put32(m, (uint32_t)((uint64_t)v >> 32));
    put32(m, (uint32_t)v);
}

static void header(struct img *m, char version, uint32_t timecnt, uint32_t typecnt,
                   uint32_t charcnt)
{
    memcpy(m->b + m->n, "TZif", 4);
    m->n += 4;
    m->b[m->n++] = (unsigned char)version;
    memset(m->b + m->n, 0, 15);
    m->n += 15;
    put32(m, 0);       /* isutcnt */
    put32(m, 0);       /* isstdcnt */
    put32(m, 0);       /* leapcnt */
    put32(m, timecnt);
    put32(m, typecnt);
    put32(m, charcnt);
}

/* A v2 image: one transition at t1 from +1h (type 0) to -3h (type 1),
 * then footer. */
static void build_v2(struct img *m, int64_t t1, const char *footer)
{
    memset(m, 0, sizeof *m);
    header(m, '2', 1, 2, 8);
    /* v1 block with the same data (32-bit) */
    put32(m, (uint32_t)t1);
    m->b[m->n++] = 1;
    put32(m, 3600); m->b[m->n++] = 0; m->b[m->n++] = 0;
    put32(m, (uint32_t)-10800); m->b[m->n++] = 0; m->b[m->n++] = 4;
    memcpy(m->b + m->n, "AAA\0BBB\0", 8); m->n += 8;
    header(m, '2', 1, 2, 8);
    put64(m, t1);
    m->b[m->n++] = 1;
    put32(m, 3600); m->b[m->n++] = 0; m->b[m->n++] = 0;
    put32(m, (uint32_t)-10800); m->b[m->n++] = 0; m->b[m->n++] = 4;
    memcpy(m->b + m->n, "AAA\0BBB\0", 8); m->n += 8;
    size_t fl = strlen(footer);
    m->b[m->n++] = '\n';
    memcpy(m->b + m->n, footer, fl);
    m->n += fl;
    m->b[m->n++] = '\n';
}

static void test_image_v2_and_footers(void **s)
{
    (void)s;
    struct img m;
    struct tz *tz;
    build_v2(&m, 1000, "<+07>-7");
    assert_int_equal(tz_parse(m.b, m.n, &tz), HY_OK);
    assert_int_equal(tz_offset_s(tz, 999), 3600);          /* before: type 0 */
    assert_int_equal(tz_offset_s(tz, -5000000000LL), 3600);
    assert_int_equal(tz_offset_s(tz, 1000), 7 * 3600);     /* after: the footer */
    tz_free(tz);
    build_v2(&m, 1000, "");                                  /* no footer rule */
    assert_int_equal(tz_parse(m.b, m.n, &tz), HY_OK);
    assert_int_equal(tz_offset_s(tz, 5000), -10800);
    tz_free(tz);
    build_v2(&m, 1000, "EST5EDT,M3.2.0,M11.1.0");
    assert_int_equal(tz_parse(m.b, m.n, &tz), HY_OK);
    assert_int_equal(tz_offset_s(tz, utc(2030, 3, 10, 6, 59, 59)), -5 * 3600);
    assert_int_equal(tz_offset_s(tz, utc(2030, 3, 10, 7, 0, 0)), -4 * 3600);
    tz_free(tz);
    /* southern hemisphere, explicit DST offset and change times */
    build_v2(&m, 1000, "AEST-10AEDT,M10.1.0,M4.1.0/3");
    assert_int_equal(tz_parse(m.b, m.n, &tz), HY_OK);
    assert_int_equal(tz_offset_s(tz, utc(2030, 1, 15, 0, 0, 0)), 11 * 3600);
    assert_int_equal(tz_offset_s(tz, utc(2030, 7, 15, 0, 0, 0)), 10 * 3600);
    /* 6 Oct 2030 02:00 AEST = 5 Oct 16:00Z */
    assert_int_equal(tz_offset_s(tz, utc(2030, 10, 5, 15, 59, 59)), 10 * 3600);
    assert_int_equal(tz_offset_s(tz, utc(2030, 10, 5, 16, 0, 0)), 11 * 3600);
    tz_free(tz);
    /* Julian forms and a DST without rule (glibc's default US rule) */
    build_v2(&m, 1000, "XXX3YYY,J60/0,300/1:30");
    assert_int_equal(tz_parse(m.b, m.n, &tz), HY_OK);
    /* J60 = 1 March: 2031-03-01 00:00 local -3 = 03:00Z */
    assert_int_equal(tz_offset_s(tz, utc(2031, 3, 1, 2, 59, 59)), -3 * 3600);
    assert_int_equal(tz_offset_s(tz, utc(2031, 3, 1, 3, 0, 0)), -2 * 3600);
    tz_free(tz);
    build_v2(&m, 1000, "XXX3YYY");
    assert_int_equal(tz_parse(m.b, m.n, &tz), HY_OK);
    assert_int_equal(tz_offset_s(tz, utc(2031, 7, 1, 0, 0, 0)), -2 * 3600);
    tz_free(tz);
    /* permanent DST (RFC 8536's example form) */
    build_v2(&m, 1000, "XXX3EDT4,0/0,J365/25");
    assert_int_equal(tz_parse(m.b, m.n, &tz), HY_OK);
    assert_int_equal(tz_offset_s(tz, utc(2031, 1, 1, 12, 0, 0)), -4 * 3600);
    assert_int_equal(tz_offset_s(tz, utc(2031, 12, 31, 12, 0, 0)), -4 * 3600);
    tz_free(tz);
}

static void test_image_damage(void **s)
{
    (void)s;
    struct img m;
    struct tz *tz = (struct tz *)1;
    const char *bad_footers[] = {"E5", "EST", "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.6.0,M11.1.0",
                                 "EST5EDT,M3.2.7,M11.1.0", "EST5EDT,J0,J365", "EST5EDT,M3.2.0",
                                 "<+07-7", "EST25", "EST5EDT,M3.2.0/168,M11.1.0", "EST5x",
                                 NULL};
    for (size_t i = 0; bad_footers[i]; i++) {
        build_v2(&m, 1000, bad_footers[i]);
        assert_int_equal(tz_parse(m.b, m.n, &tz), HY_EINVAL);
        assert_null(tz);
    }
    build_v2(&m, 1000, "EST5");
    /* every truncation is refused */
    for (size_t cut = 0; cut < m.n; cut++) {
        tz = (struct tz *)1;
        assert_int_equal(tz_parse(m.b, cut, &tz), HY_EINVAL);
        assert_null(tz);
    }
    /* a type index past typecnt */
    struct img bad = m;
    bad.b[44 + 4] = 7;          /* v1 block's index */
    assert_int_equal(tz_parse(bad.b, bad.n, &tz), HY_OK); /* v1 block is skipped */
    tz_free(tz);
    size_t v2 = 44 + 4 + 1 + 12 + 8;
    bad = m;
    bad.b[v2 + 44 + 8] = 7;     /* v2 block's index */
    assert_int_equal(tz_parse(bad.b, bad.n, &tz), HY_EINVAL);
    bad = m;
    bad.b[4] = '9';             /* unknown version */
    assert_int_equal(tz_parse(bad.b, bad.n, &tz), HY_EINVAL);
    bad = m;
    bad.b[v2 + 36 + 3] = 0;     /* typecnt 0 */
    assert_int_equal(tz_parse(bad.b, bad.n, &tz), HY_EINVAL);
    bad = m;
    bad.b[v2 + 32] = 0x7f;      /* huge timecnt */
    assert_int_equal(tz_parse(bad.b, bad.n, &tz), HY_EINVAL);
    assert_int_equal(tz_parse("TZif", 4, &tz), HY_EINVAL);
    assert_int_equal(tz_parse(NULL, 0, &tz), HY_EINVAL);
}

static void test_image_v1(void **s)
{
    (void)s;
    struct img m;
    memset(&m, 0, sizeof m);
    header(&m, 0, 2, 2, 4);
    put32(&m, (uint32_t)-100);
    put32(&m, 500);
    m.b[m.n++] = 1;
    m.b[m.n++] = 0;
    put32(&m, 7200); m.b[m.n++] = 0; m.b[m.n++] = 0;
    put32(&m, (uint32_t)-3600); m.b[m.n++] = 1; m.b[m.n++] = 0;
    memcpy(m.b + m.n, "ABC\0", 4); m.n += 4;
    struct tz *tz;
    assert_int_equal(tz_parse(m.b, m.n, &tz), HY_OK);
    assert_int_equal(tz_offset_s(tz, -101), 7200);
    assert_int_equal(tz_offset_s(tz, -100), -3600);
    assert_int_equal(tz_offset_s(tz, 499), -3600);
    assert_int_equal(tz_offset_s(tz, 500), 7200);
    assert_int_equal(tz_offset_s(tz, INT64_MAX), 7200); /* v1: no footer, last type */
    assert_int_equal(tz_offset_s(tz, INT64_MIN), 7200);
    tz_free(tz);
    /* transitions out of order */
    m.b[44 + 3] = 0xff; m.b[44 + 2] = 0xff; m.b[44 + 1] = 0xff; m.b[44] = 0x7f;
    assert_int_equal(tz_parse(m.b, m.n, &tz), HY_EINVAL);
}

/* ---- glibc as the oracle -------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_against_glibc(void **s)
{
    (void)s;
    const char *zones[] = {"America/New_York", "Europe/London", "Asia/Jakarta", "UTC",
                           "Australia/Sydney", "America/Sao_Paulo", "Asia/Kolkata",
                           "Europe/Berlin", "America/Los_Angeles", "Pacific/Auckland",
                           "Asia/Tokyo", "Africa/Casablanca", "America/St_Johns",
                           "Asia/Tehran", "Pacific/Chatham",
                           /* footers with negative DST, half-hour DST, negative and
                            * >24 h change times, southern rules */
                           "Europe/Dublin", "Australia/Lord_Howe", "America/Nuuk", "Asia/Gaza",
                           "America/Santiago", NULL};
    const int64_t lo = utc(1970, 1, 1, 0, 0, 0), hi = utc(2100, 1, 1, 0, 0, 0);
    char *old_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    long checked = 0;
    for (size_t z = 0; zones[z]; z++) {
        struct tz *tz = load(zones[z]);
        setenv("TZ", zones[z], 1);
        tzset();
        for (int i = 0; i < 20000; i++) {
            int64_t t = lo + (int64_t)(next_rand() % (uint64_t)(hi - lo));
            time_t tt = (time_t)t;
            struct tm tm;
            assert_non_null(localtime_r(&tt, &tm));
            if (tz_offset_s(tz, t) != tm.tm_gmtoff)
                fail_msg("%s at %lld: tz.c %d, glibc %ld", zones[z], (long long)t,
                         tz_offset_s(tz, t), tm.tm_gmtoff);
            checked++;
        }
        /* and the seconds around every change of 2026 and 2040 */
        for (int year = 2026; year <= 2040; year += 14) {
            int64_t a = utc(year, 1, 1, 0, 0, 0), b = utc(year + 1, 1, 1, 0, 0, 0);
            int32_t prev = tz_offset_s(tz, a);
            for (int64_t t = a; t < b; t += 900) {
                int32_t cur = tz_offset_s(tz, t);
                if (cur != prev) {
                    for (int64_t u = t - 901; u <= t + 1; u++) {
                        time_t tt = (time_t)u;
                        struct tm tm;
                        localtime_r(&tt, &tm);
                        assert_int_equal(tz_offset_s(tz, u), tm.tm_gmtoff);
                        checked++;
                    }
                }
                prev = cur;
            }
        }
        tz_free(tz);
    }
    if (old_tz) {
        setenv("TZ", old_tz, 1);
        free(old_tz);
    } else {
        unsetenv("TZ");
    }
    tzset();
    assert_true(checked > 20 * 20000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jakarta_fixed),
        cmocka_unit_test(test_new_york_2026_table),
        cmocka_unit_test(test_new_york_2040_footer),
        cmocka_unit_test(test_london),
        cmocka_unit_test(test_utc_and_null),
        cmocka_unit_test(test_names_refused),
        cmocka_unit_test(test_image_v2_and_footers),
        cmocka_unit_test(test_image_damage),
        cmocka_unit_test(test_image_v1),
        cmocka_unit_test(test_against_glibc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
