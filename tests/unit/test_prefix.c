/* test_prefix.c -- object key naming: AWS's key format, the static-prefix
 * concatenation rule, timestamp expressions (every DateTimeFormatter letter,
 * against OpenJDK 17's output), the one validator (Java's refusals, the
 * widest-evaluation dry run, the rules between Prefix and
 * ErrorOutputPrefix, the key's 1024 bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "prefix.h"
#include "tz.h"

struct hy_config hy_cfg = {.region = "us-east-1"};

/* 2026-08-22T14:05:33.250Z */
#define TS 1787407533250LL

static void dest_init(struct stream_dest *d, const char *prefix)
{
    memset(d, 0, sizeof *d);
    strcpy(d->name, "gps-delivery-stream");
    d->version = 1;
    strcpy(d->bucket, "b");
    strcpy(d->prefix, prefix);
}

static char *key_of(struct stream_dest *d, int64_t ts)
{
    static char out[2048];
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(prefix_object_key(d, ts, "1f0c2d3e-0000-4000-8000-000000000001", &b), HY_OK);
    strcpy(out, b.data);
    buf_free(&b);
    return out;
}

static void test_default_prefix(void **s)
{
    (void)s;
    struct stream_dest d;
    dest_init(&d, "");
    assert_string_equal(key_of(&d, TS),
        "2026/08/22/14/gps-delivery-stream-1-2026-08-22-14-05-33-1f0c2d3e-0000-4000-8000-000000000001");
}

static void test_static_prefix_concatenates(void **s)
{
    (void)s;
    struct stream_dest d;
    dest_init(&d, "legacy");
    /* no '/' added: AWS concatenates */
    assert_string_equal(key_of(&d, TS),
        "legacy2026/08/22/14/gps-delivery-stream-1-2026-08-22-14-05-33-1f0c2d3e-0000-4000-8000-000000000001");
    dest_init(&d, "raw/");
    assert_true(strncmp(key_of(&d, TS), "raw/2026/08/22/14/gps-delivery-stream-1-", 40) == 0);
}

static void test_timestamp_expressions(void **s)
{
    (void)s;
    struct stream_dest d;
    dest_init(&d, "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/");
    assert_string_equal(key_of(&d, TS),
        "year=2026/month=08/day=22/hour=14/gps-delivery-stream-1-2026-08-22-14-05-33-1f0c2d3e-0000-4000-8000-000000000001");
    dest_init(&d, "!{timestamp:yyyy-MM-dd'T'HH'h'}/x''y/");
    char *k = key_of(&d, TS);
    assert_true(strncmp(k, "2026-08-22T14h/x''y/gps", 23) == 0);
}

static void test_quotes_and_names(void **s)
{
    (void)s;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(prefix_eval("!{timestamp:'at' EEE MMM d, ''yy}/", TS, NULL, &b, NULL, 0), HY_OK);
    assert_string_equal(b.data, "at Sat Aug 22, '26/");
    buf_free(&b);
}

static void test_version_and_extension(void **s)
{
    (void)s;
    struct stream_dest d;
    dest_init(&d, "");
    d.version = 7;
    d.compression = COMP_GZIP;
    char *k = key_of(&d, TS);
    assert_non_null(strstr(k, "gps-delivery-stream-7-2026-08-22-14-05-33-"));
    assert_string_equal(k + strlen(k) - 3, ".gz");
    strcpy(d.file_ext, ".csv.gz");
    k = key_of(&d, TS);
    assert_string_equal(k + strlen(k) - 7, ".csv.gz");
    d.file_ext[0] = 0;
    d.compression = COMP_SNAPPY;
    k = key_of(&d, TS);
    assert_string_equal(k + strlen(k) - 7, ".snappy");
}

static void test_random_string(void **s)
{
    (void)s;
    struct buf a, b;
    buf_init(&a, 4096);
    buf_init(&b, 4096);
    assert_int_equal(prefix_eval("r=!{firehose:random-string}/!{timestamp:yyyy}/", TS, NULL, &a, NULL, 0), HY_OK);
    assert_int_equal(prefix_eval("r=!{firehose:random-string}/!{timestamp:yyyy}/", TS, NULL, &b, NULL, 0), HY_OK);
    assert_int_equal(a.len, strlen("r=") + 11 + strlen("/2026/"));
    assert_string_not_equal(a.data, b.data);
    buf_free(&a);
    buf_free(&b);
}

static void test_expression_without_timestamp_gets_default(void **s)
{
    (void)s;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(prefix_eval("x-!{firehose:random-string}-", TS, NULL, &b, NULL, 0), HY_OK);
    assert_string_equal(b.data + b.len - strlen("2026/08/22/14/"), "2026/08/22/14/");
    buf_free(&b);
}

static int check(const char *prefix, bool is_error, char *err, size_t err_len)
{
    struct prefix_bounds pb;
    return prefix_check(prefix, is_error, &pb, err, err_len);
}

static void test_validate(void **s)
{
    (void)s;
    char err[512];
    assert_int_equal(check("ok/!{timestamp:yyyy}/", false, err, sizeof err), HY_OK);
    assert_int_equal(check("bad/!{timestamp:yyyy", false, err, sizeof err), HY_EINVAL);
    assert_non_null(strstr(err, "not closed"));
    assert_int_equal(check("!{nope:x}", false, err, sizeof err), HY_EINVAL);
    assert_non_null(strstr(err, "unknown namespace"));
    assert_int_equal(check("!{firehose:error-output-type}", false, err, sizeof err), HY_EINVAL);
    assert_string_equal(err, "Ths supplied prefix(es) do not satisfy the following constraint: "
                             "Prefix cannot contain !{firehose:error-output-type}");
    assert_int_equal(check("err/!{firehose:error-output-type}/", true, err, sizeof err), HY_OK);
    assert_int_equal(check("!{timestamp:yyyy'x}", false, err, sizeof err), HY_EINVAL);
    assert_non_null(strstr(err, "Pattern ends with an incomplete string literal: yyyy'x"));
    assert_int_equal(check("!{timestamp:yyyy#Q}", false, err, sizeof err), HY_EINVAL);
    assert_non_null(strstr(err, "Pattern includes reserved character: '#'"));
    assert_int_equal(check("!{timestamp:}", false, err, sizeof err), HY_EINVAL);
    assert_int_equal(check("!{firehose:nope}", false, err, sizeof err), HY_EINVAL);
    /* dynamic partitioning is never on here: AWS's words for that case */
    assert_int_equal(check("!{partitionKeyFromQuery:}/", false, err, sizeof err), HY_EINVAL);
    assert_string_equal(err, "Dynamic Partitioning Namespaces can only be part of a prefix "
                             "expression when Dynamic Partitioning is enabled.");
    assert_int_equal(check("e/!{partitionKeyFromLambda:k}/!{firehose:error-output-type}", true,
                           err, sizeof err), HY_EINVAL);
}

/* Every DateTimeFormatter letter AWS accepts evaluates; the expected texts
 * are what OpenJDK 17's DateTimeFormatter.ofPattern(p, Locale.US) printed
 * for 2026-08-22T14:05:33.250Z in zone UTC. */
static void test_every_pattern_letter(void **s)
{
    (void)s;
    static const char *const cases[][2] = {
        {"G", "AD"}, {"GGGG", "Anno Domini"}, {"GGGGG", "A"},
        {"u", "2026"}, {"uu", "26"}, {"uuuuu", "02026"}, {"y", "2026"}, {"yyyy", "2026"},
        {"D", "234"}, {"DD", "234"}, {"DDD", "234"},
        {"M", "8"}, {"MM", "08"}, {"MMM", "Aug"}, {"MMMM", "August"}, {"MMMMM", "A"},
        {"L", "8"}, {"LLLL", "August"}, {"d", "22"}, {"dd", "22"},
        {"Q", "3"}, {"QQ", "03"}, {"QQQ", "Q3"}, {"QQQQ", "3rd quarter"}, {"QQQQQ", "3"},
        {"q", "3"}, {"qqqq", "3rd quarter"},
        {"Y", "2026"}, {"YY", "26"}, {"w", "34"}, {"ww", "34"}, {"W", "4"},
        {"E", "Sat"}, {"EEEE", "Saturday"}, {"EEEEE", "S"},
        {"e", "7"}, {"ee", "07"}, {"eee", "Sat"}, {"eeee", "Saturday"},
        {"c", "7"}, {"ccc", "Sat"}, {"cccc", "Saturday"}, {"F", "1"},
        {"a", "PM"}, {"h", "2"}, {"hh", "02"}, {"K", "2"}, {"k", "14"}, {"H", "14"},
        {"m", "5"}, {"mm", "05"}, {"s", "33"}, {"S", "2"}, {"SSS", "250"},
        {"SSSSSS", "250000"}, {"A", "50733250"}, {"n", "250000000"}, {"N", "50733250000000"},
        {"VV", "UTC"}, {"z", "UTC"}, {"zzzz", "Coordinated Universal Time"},
        {"v", "UTC"}, {"O", "GMT"}, {"OOOO", "GMT"},
        {"X", "Z"}, {"XXX", "Z"}, {"XXXXX", "Z"}, {"x", "+00"}, {"xx", "+0000"},
        {"xxx", "+00:00"}, {"xxxx", "+0000"}, {"xxxxx", "+00:00"},
        {"Z", "+0000"}, {"ZZZ", "+0000"}, {"ZZZZ", "GMT"}, {"ZZZZZ", "Z"},
        {"B", "in the afternoon"}, {"g", "61274"},
        {"ppH", "14"}, {"pppH", " 14"}, {"[yyyy]", "2026"}, {"'at' h", "at 2"},
        {"''", "'"}, {"yyyy'-'MM", "2026-08"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char expr[64], err[256] = "";
        snprintf(expr, sizeof expr, "!{timestamp:%s}", cases[i][0]);
        struct buf b;
        buf_init(&b, 4096);
        int rc = prefix_eval(expr, TS, NULL, &b, err, sizeof err);
        if (rc != HY_OK || strcmp(b.data, cases[i][1]) != 0)
            fail_msg("%s: rc %d, got '%s', want '%s' (%s)", cases[i][0], rc,
                     b.data ? b.data : "", cases[i][1], err);
        buf_free(&b);
        /* and the validator accepts exactly what evaluates */
        assert_int_equal(check(expr, false, err, sizeof err), HY_OK);
    }
}

/* Java's refusals: the validator refuses them, with Java's words. */
static void test_refused_patterns(void **s)
{
    (void)s;
    static const char *const cases[][2] = {
        {"ddd", "Too many pattern letters: d"},
        {"b", "Unknown pattern letter: b"},
        {"cc", "Invalid pattern \"cc\""},
        {"V", "Pattern letter count must be 2: V"},
        {"yyyy]", "Pattern invalid as it contains ] without previous ["},
        {"p", "Pad letter 'p' must be followed by valid pad pattern: p"},
        {"pMMMM", "characters exceeds pad width of 1"}, /* at the first probe */
        {"SSSSSSSSSS", "Minimum width must be from 0 to 9 inclusive but was 10"},
        {"OO", "Pattern letter count must be 1 or 4: O"},
        {"aa", "Too many pattern letters: a"},
        {"BB", "Wrong number of pattern letters: B"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char expr[64], err[512] = "";
        snprintf(expr, sizeof expr, "p/!{timestamp:%s}/", cases[i][0]);
        assert_int_equal(check(expr, false, err, sizeof err), HY_EINVAL);
        if (!strstr(err, cases[i][1]))
            fail_msg("%s: '%s' lacks '%s'", cases[i][0], err, cases[i][1]);
    }
}

/* Issue 12's stuck stream: quarter-of-year was accepted by the old
 * validator and failed at every delivery. Now it evaluates. */
static void test_quarter_evaluates(void **s)
{
    (void)s;
    struct stream_dest d;
    char err[256];
    dest_init(&d, "q=!{timestamp:Q}/");
    strcpy(d.error_prefix, "e/!{firehose:error-output-type}/");
    assert_int_equal(prefix_check_dest(&d, err, sizeof err), HY_OK);
    assert_true(strncmp(key_of(&d, TS), "q=3/gps-delivery-stream-1-", 26) == 0);
}

/* Week-based fields across a year end, against OpenJDK 17: Wednesday
 * 2025-12-31 is in week 1 of week-based year 2026 (Locale.US). */
static void test_week_based_year_end(void **s)
{
    (void)s;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(prefix_eval("!{timestamp:YYYY-ww-e yyyy-D}", 1767182400000LL, NULL, &b,
                                 NULL, 0), HY_OK);
    assert_string_equal(b.data, "2026-01-4 2025-365");
    buf_free(&b);
}

/* The 512-character cap is checked on the longest evaluation, not on
 * today's: 57 month names fit in August (342) but not in September (513). */
static void test_dry_run_takes_the_widest(void **s)
{
    (void)s;
    char p[1100] = "", err[512];
    for (int i = 0; i < 57; i++)
        strcat(p, "!{timestamp:MMMM}");
    struct buf b;
    buf_init(&b, 8192);
    assert_int_equal(prefix_eval(p, TS, NULL, &b, NULL, 0), HY_OK); /* August */
    assert_int_equal(b.len, 57 * 6);
    buf_free(&b);
    assert_int_equal(check(p, false, err, sizeof err), HY_EINVAL);
    assert_non_null(strstr(err, "cannot be greater than 512 characters"));
    p[strlen(p) - strlen("!{timestamp:MMMM}")] = 0; /* 56 * 9 = 504 fits */
    struct prefix_bounds pb;
    assert_int_equal(prefix_check(p, false, &pb, err, sizeof err), HY_OK);
    assert_int_equal(pb.max_chars, 56 * 9);
    assert_true(pb.has_expr && pb.has_timestamp && !pb.has_error_type);
}

static void test_literal_length_cap(void **s)
{
    (void)s;
    char p[600], err[512];
    memset(p, 'a', 512);
    p[512] = 0;
    /* 512 + the appended yyyy/MM/dd/HH/ is over the cap, as AWS counts it */
    assert_int_equal(check(p, false, err, sizeof err), HY_EINVAL);
    p[498] = 0; /* 498 + 14 = 512 */
    assert_int_equal(check(p, false, err, sizeof err), HY_OK);
}

/* The rules between the two prefixes and the key's byte length. */
static void test_check_config(void **s)
{
    (void)s;
    char err[512];
    assert_int_equal(prefix_check_config("st", "", "", "", err, sizeof err), HY_OK);
    assert_int_equal(prefix_check_config("st", "static/", "", ".gz", err, sizeof err), HY_OK);
    assert_int_equal(prefix_check_config("st", "p/!{timestamp:yyyy}/", "", "", err, sizeof err),
                     HY_EINVAL);
    assert_string_equal(err, "Ths supplied prefix(es) do not satisfy the following constraint: "
                             "ErrorOutputPrefix cannot be null or empty when Prefix contains "
                             "expressions");
    assert_int_equal(prefix_check_config("st", "r/!{firehose:random-string}/", "err/", "", err,
                                         sizeof err), HY_OK);
    assert_int_equal(prefix_check_config("st", "", "err/!{timestamp:yyyy}/", "", err,
                                         sizeof err), HY_EINVAL);
    assert_non_null(strstr(err, "ErrorOutputPrefix must contain !{firehose:error-output-type}"));
    assert_int_equal(prefix_check_config("st", "p/!{timestamp:yyyy}/",
                                         "e/!{firehose:error-output-type}/", "", err, sizeof err),
                     HY_OK);
    /* 320 euro signs: 320 characters (under 512) but 960 bytes, and the
     * key's tail (stream, version, time, id) takes it past 1024 bytes */
    char p[1100] = "";
    for (int i = 0; i < 320; i++)
        strcat(p, "\xe2\x82\xac");
    strcat(p, "!{timestamp:yyyy}");
    assert_int_equal(prefix_check_config("st", p, "e/!{firehose:error-output-type}", "", err,
                                         sizeof err), HY_EINVAL);
    assert_non_null(strstr(err, "longer than 1024 bytes"));
    p[200 * 3] = 0; /* 600 bytes fit */
    assert_int_equal(prefix_check_config("st", p, "", "", err, sizeof err), HY_OK);
}

static void test_error_prefix_eval(void **s)
{
    (void)s;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(prefix_eval("errors/!{firehose:error-output-type}/!{timestamp:yyyy}/", TS,
                                 "processing-failed", &b, NULL, 0), HY_OK);
    assert_string_equal(b.data, "errors/processing-failed/2026/");
    buf_free(&b);
}

static void test_too_long(void **s)
{
    (void)s;
    char p[700];
    memset(p, 'a', sizeof p - 1);
    p[sizeof p - 1] = 0;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(prefix_eval(p, TS, NULL, &b, NULL, 0), HY_ETOOBIG);
    buf_free(&b);
}

/* CustomTimeZone Asia/Jakarta (UTC+7, no DST): 16:59:59 UTC on Aug 22 is
 * still the 22nd there (23:59:59), 17:00:00 UTC is already the 23rd. */
static void test_time_zone_day_boundary(void **s)
{
    (void)s;
    struct tz *tz;
    assert_int_equal(tz_load("Asia/Jakarta", &tz), HY_OK);
    struct prefix_env env = {.tz = tz, .tz_name = "Asia/Jakarta"};
    struct stream_dest d;
    dest_init(&d, "");
    const int64_t before = 1787417999000LL, after = 1787418000000LL; /* 16:59:59, 17:00:00Z */
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(prefix_object_key_env(&d, "", NULL, before, "id", &env, &b, NULL, 0), HY_OK);
    assert_string_equal(b.data, "2026/08/22/23/gps-delivery-stream-1-2026-08-22-23-59-59-id");
    buf_reset(&b);
    assert_int_equal(prefix_object_key_env(&d, "", NULL, after, "id", &env, &b, NULL, 0), HY_OK);
    assert_string_equal(b.data, "2026/08/23/00/gps-delivery-stream-1-2026-08-23-00-00-00-id");
    buf_reset(&b);
    /* the zone letters print the zone */
    assert_int_equal(prefix_eval_env("!{timestamp:yyyy-MM-dd'T'HH:mmXXX VV O Z}/", after, NULL,
                                     &env, &b, NULL, 0), HY_OK);
    assert_string_equal(b.data, "2026-08-23T00:00+07:00 Asia/Jakarta GMT+7 +0700/");
    buf_reset(&b);
    /* zone names would need localized names: refused, not printed wrong */
    char err[256] = "";
    struct prefix_bounds pb;
    assert_int_equal(prefix_check_env("!{timestamp:z}/", false, &env, &pb, err, sizeof err),
                     HY_EINVAL);
    assert_non_null(strstr(err, "zone name"));
    buf_free(&b);
    tz_free(tz);
}

/* Partition keys and the seeded random-string: the same object, the same name. */
static const char *key_fn(void *arg, bool from_lambda, const char *name, size_t *len)
{
    (void)arg;
    if (!from_lambda && !strcmp(name, "customer_id")) {
        *len = 2;
        return "42";
    }
    return NULL;
}

static void test_partition_keys_and_seed(void **s)
{
    (void)s;
    unsigned char seed[PREFIX_SEED_LEN] = {1, 2, 3};
    struct prefix_env env = {.dynamic = true, .key = key_fn, .seed = seed};
    struct buf a, b;
    buf_init(&a, 4096);
    buf_init(&b, 4096);
    const char *p = "customer=!{partitionKeyFromQuery:customer_id}/!{firehose:random-string}/";
    assert_int_equal(prefix_eval_env(p, TS, NULL, &env, &a, NULL, 0), HY_OK);
    assert_int_equal(prefix_eval_env(p, TS, NULL, &env, &b, NULL, 0), HY_OK);
    assert_string_equal(a.data, b.data);
    assert_int_equal(strncmp(a.data, "customer=42/", 12), 0);
    assert_int_equal(strlen(a.data), strlen("customer=42/") + 11 + 1 + strlen("2026/08/22/14/"));
    char err[256] = "";
    buf_reset(&a);
    assert_int_equal(prefix_eval_env("k=!{partitionKeyFromLambda:customer_id}/", TS, NULL, &env,
                                     &a, err, sizeof err), HY_ENOTFOUND);
    assert_non_null(strstr(err, "customer_id"));
    /* without dynamic partitioning the namespaces are refused */
    env.dynamic = false;
    assert_int_equal(prefix_eval_env(p, TS, NULL, &env, &a, err, sizeof err), HY_EINVAL);
    buf_free(&a);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_prefix),
        cmocka_unit_test(test_static_prefix_concatenates),
        cmocka_unit_test(test_timestamp_expressions),
        cmocka_unit_test(test_quotes_and_names),
        cmocka_unit_test(test_version_and_extension),
        cmocka_unit_test(test_random_string),
        cmocka_unit_test(test_expression_without_timestamp_gets_default),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_every_pattern_letter),
        cmocka_unit_test(test_refused_patterns),
        cmocka_unit_test(test_quarter_evaluates),
        cmocka_unit_test(test_week_based_year_end),
        cmocka_unit_test(test_dry_run_takes_the_widest),
        cmocka_unit_test(test_literal_length_cap),
        cmocka_unit_test(test_check_config),
        cmocka_unit_test(test_error_prefix_eval),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_time_zone_day_boundary),
        cmocka_unit_test(test_partition_keys_and_seed),
    };
    return cmocka_run_group_tests_name("prefix", tests, NULL, NULL);
}
