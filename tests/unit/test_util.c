/* test_util.c -- buffers with ceilings, base64, CRC-32C, URL coding, arena,
 * compression round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>

#include "compress.h"
#include "server.h"
#include "stream.h"

struct hy_config hy_cfg = {.region = "us-east-1"};

static void test_buf_ceiling(void **s)
{
    (void)s;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "0123456789", 10), HY_OK);
    assert_int_equal(buf_append(&b, "x", 1), HY_ETOOBIG);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "0123456789");
    buf_reset(&b);
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "ab"), HY_OK);
    assert_string_equal(b.data, "42-ab");
    buf_free(&b);
}

static void test_xml_escape(void **s)
{
    (void)s;
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_xml_escape(&b, "a<b>&\"c'"), HY_OK);
    assert_string_equal(b.data, "a&lt;b&gt;&amp;&quot;c&apos;");
    buf_reset(&b);
    /* invalid UTF-8 and control characters cannot appear in XML */
    assert_int_equal(buf_xml_escape(&b, "a\xff\x01" "b\xc3\xa9\xe2\x82"), HY_OK);
    assert_string_equal(b.data, "a\xef\xbf\xbd\xef\xbf\xbd" "b\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
    buf_reset(&b);
    /* XML 1.0 has no U+FFFE / U+FFFF (each is three bytes it cannot
     * carry); U+FFFD itself, tab, LF and the top code point pass; CR is a
     * reference; a surrogate is three bad bytes */
    assert_int_equal(buf_xml_escape(&b, "\xef\xbf\xbe|\xef\xbf\xbf|\xef\xbf\xbd|\t\n\r|"
                                        "\xf4\x8f\xbf\xbf|\xed\xa0\x80"), HY_OK);
    assert_string_equal(b.data, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                                "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd|\t\n&#13;|"
                                "\xf4\x8f\xbf\xbf|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    buf_free(&b);
}

static void test_utf8(void **s)
{
    (void)s;
    static const struct {
        const char *in;
        size_t want;
    } cases[] = {
        {"a", 1}, {"\x7f", 1}, {"\xc2\x80", 2}, {"\xdf\xbf", 2}, {"\xe0\xa0\x80", 3},
        {"\xef\xbf\xbf", 3}, {"\xf0\x90\x80\x80", 4}, {"\xf4\x8f\xbf\xbf", 4},
        {"\xc0\x80", 0},          /* overlong NUL */
        {"\xc1\xbf", 0},          /* overlong */
        {"\xe0\x9f\xbf", 0},      /* overlong 3-byte */
        {"\xf0\x8f\xbf\xbf", 0},  /* overlong 4-byte */
        {"\xed\xa0\x80", 0},      /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 0},  /* past U+10FFFF */
        {"\xf5\x80\x80\x80", 0}, {"\x80", 0}, {"\xbf", 0},
        {"\xe2\x82", 0},          /* truncated by the NUL */
        {"\xe2\x82(", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        if (utf8_char_len(cases[i].in) != cases[i].want)
            fail_msg("case %zu: %zu, want %zu", i, utf8_char_len(cases[i].in), cases[i].want);
}

/* S3's checksum engine on "123456789": the catalogue check values (big-
 * endian, as S3 sends them) and the well-known digests; chained updates;
 * the names. */
static void test_cksum(void **s)
{
    (void)s;
    static const char *const want[HY_CKSUM_COUNT] = {
        [HY_CKSUM_CRC32] = "cbf43926",
        [HY_CKSUM_CRC32C] = "e3069283",
        [HY_CKSUM_CRC64NVME] = "ae8b14860a799888",
        [HY_CKSUM_SHA1] = "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
        [HY_CKSUM_SHA256] = "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
    };
    for (int alg = 0; alg < HY_CKSUM_COUNT; alg++) {
        struct hy_cksum c;
        unsigned char out[32];
        char hex[65];
        assert_int_equal(hy_cksum_init(&c, alg), HY_OK);
        assert_int_equal(hy_cksum_update(&c, "1234", 4), HY_OK);
        assert_int_equal(hy_cksum_update(&c, "56789", 5), HY_OK);
        assert_int_equal(hy_cksum_final(&c, out), HY_OK);
        hex_encode(hex, out, hy_cksum_len(alg));
        assert_string_equal(hex, want[alg]);
        hy_cksum_free(&c); /* again: harmless */
        const char *name = hy_cksum_name(alg);
        assert_int_equal(hy_cksum_alg(name, strlen(name)), alg);
    }
    assert_int_equal(hy_cksum_alg("X-Amz-Checksum-CRC32C", 21), HY_CKSUM_CRC32C);
    assert_int_equal(hy_cksum_alg("x-amz-checksum-md7", 18), -2);
    assert_int_equal(hy_cksum_alg("x-amz-checksum-crc32", 19), -2); /* "...crc3" */
    assert_int_equal(hy_cksum_alg("content-md5", 11), -1);
    struct hy_cksum c;
    assert_int_not_equal(hy_cksum_init(&c, HY_CKSUM_COUNT), HY_OK);
}

static void test_query_get(void **s)
{
    (void)s;
    struct arena *a = arena_new();
    bool present;
    const char *q = "a=1&b&c=x+y%2Bz&X%2DAmz=enc&bad=%zz&a=2&nul=p%00q&&e=";
    assert_string_equal(url_query_get(a, q, "a", &present), "1"); /* the first wins */
    assert_true(present);
    assert_string_equal(url_query_get(a, q, "b", &present), "");
    assert_true(present);
    assert_string_equal(url_query_get(a, q, "c", NULL), "x y+z");
    assert_string_equal(url_query_get(a, q, "X-Amz", NULL), "enc"); /* names decode too */
    assert_null(url_query_get(a, q, "bad", &present)); /* there, but unreadable */
    assert_true(present);
    assert_string_equal(url_query_get(a, q, "nul", NULL), "p"); /* a NUL ends it */
    assert_string_equal(url_query_get(a, q, "e", &present), "");
    assert_true(present);
    assert_null(url_query_get(a, q, "missing", &present));
    assert_false(present);
    assert_null(url_query_get(a, "", "a", &present));
    assert_false(present);
    assert_null(url_query_get(a, NULL, "a", &present));
    arena_free(a);
}

static void test_base64(void **s)
{
    (void)s;
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[16], dec[16];
        base64_encode(out, plain[i], strlen(plain[i]));
        assert_string_equal(out, enc[i]);
        long n = base64_decode(dec, enc[i], strlen(enc[i]));
        assert_int_equal(n, (long)strlen(plain[i]));
        assert_memory_equal(dec, plain[i], (size_t)n);
    }
    char dec[16];
    assert_int_equal(base64_decode(dec, "Zm9v!", 5), -1);
    assert_int_equal(base64_decode(dec, "Z", 1), -1);
    assert_int_equal(base64_decode(dec, "Zm 9v", 5), -1);
}

/* The decoder before it read four characters at a time: one character
 * at a time into a bit accumulator. The fast one must agree with it on
 * every input, valid or not. */
static long base64_decode_ref(unsigned char *o, const char *in, size_t n)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t olen = 0;
    uint32_t acc = 0;
    int bits = 0;
    while (n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *c = in[i] ? strchr(al, in[i]) : NULL;
        if (!c)
            return -1;
        acc = acc << 6 | (uint32_t)(c - al);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[olen++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)olen;
}

static void test_base64_against_reference(void **s)
{
    (void)s;
    static const char pool[] = "AZaz09+/=Qw-_ \0";
    unsigned seed = 12345;
    char in[64];
    unsigned char a[64], b[64];
    for (int round = 0; round < 200000; round++) {
        size_t n = (seed = seed * 1103515245u + 12345u) >> 16 & 31;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            /* mostly valid characters, sometimes one of the others */
            in[i] = (seed >> 16) % 8 ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789+/"[(seed >> 20) % 64]
                                     : pool[(seed >> 20) % (sizeof pool - 1)];
        }
        long want = base64_decode_ref(a, in, n);
        long got = base64_decode(b, in, n);
        assert_int_equal(got, want);
        if (want > 0)
            assert_memory_equal(a, b, (size_t)want);
    }
}

static void test_crc32c(void **s)
{
    (void)s;
    /* the check value of CRC-32C (RFC 3720 B.4 and the usual catalogue) */
    /* CRC-64/NVME's catalogue check value, and chaining */
    assert_true(hy_crc64nvme(0, "123456789", 9) == 0xAE8B14860A799888ull);
    assert_true(hy_crc64nvme(hy_crc64nvme(0, "1234", 4), "56789", 5) == 0xAE8B14860A799888ull);
    assert_true(hy_crc64nvme(0, "", 0) == 0);
    assert_int_equal(hy_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(hy_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    unsigned char zeros[32] = {0};
    assert_int_equal(hy_crc32c(0, zeros, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
    assert_int_equal(hy_crc32c(0, "", 0), 0);
    /* hardware (where there is one) and table agree at every length and
     * alignment, and chaining equals one pass */
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 151 + 7);
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n + off <= sizeof buf; n += 13) {
            uint32_t one = hy_crc32c(0, buf + off, n);
            assert_int_equal(one, hy_crc32c_sw(0, buf + off, n));
            assert_int_equal(one, hy_crc32c(hy_crc32c(0, buf + off, n / 3), buf + off + n / 3,
                                            n - n / 3));
        }
}

static void test_url(void **s)
{
    (void)s;
    char out[64];
    long n = url_decode(out, "a%20b+c%2Fd", 11, true);
    assert_int_equal(n, 7);
    out[n] = 0;
    assert_string_equal(out, "a b c/d");
    assert_int_equal(url_decode(out, "bad%2", 5, false), -1);
    assert_int_equal(url_decode(out, "bad%zz", 6, false), -1);
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(url_encode(&b, "a b/~é", strlen("a b/~é"), true), HY_OK);
    assert_string_equal(b.data, "a%20b/~%C3%A9");
    buf_free(&b);
}

static void test_arena(void **s)
{
    (void)s;
    struct arena *a = arena_new();
    char *big = arena_alloc(a, 100000);
    assert_non_null(big);
    memset(big, 1, 100000);
    char *p = arena_printf(a, "%s=%d", "x", 5);
    assert_string_equal(p, "x=5");
    for (int i = 0; i < 1000; i++)
        assert_non_null(arena_strdup(a, "hello"));
    arena_free(a);
    arena_free(NULL);
}

static void test_gzip_roundtrip(void **s)
{
    (void)s;
    const char *text = "1 2026-08-22T14:05:33 1HGCM82633A004352 40.7 -74.0 55\n";
    struct buf z;
    buf_init(&z, 1 << 20);
    assert_int_equal(compress_buffer(COMP_GZIP, text, strlen(text), NULL, &z), HY_OK);
    assert_true((unsigned char)z.data[0] == 0x1f && (unsigned char)z.data[1] == 0x8b);
    z_stream zs = {0};
    char out[256];
    assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)z.data;
    zs.avail_in = (uInt)z.len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = sizeof out;
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.total_out, strlen(text));
    assert_memory_equal(out, text, strlen(text));
    inflateEnd(&zs);
    buf_free(&z);
}

static void test_snappy_framed(void **s)
{
    (void)s;
    /* 200 KiB: several 64 KiB chunks */
    size_t n = 200 * 1024;
    char *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)('a' + i % 7);
    struct buf z;
    buf_init(&z, 1 << 22);
    assert_int_equal(compress_buffer(COMP_SNAPPY, in, n, NULL, &z), HY_OK);
    assert_memory_equal(z.data, "\xff\x06\x00\x00sNaPpY", 10);
    size_t off = 10, total = 0;
    char *out = malloc(65536);
    while (off < z.len) {
        assert_int_equal((unsigned char)z.data[off], 0);
        size_t len = (unsigned char)z.data[off + 1] | (unsigned char)z.data[off + 2] << 8 |
                     (size_t)(unsigned char)z.data[off + 3] << 16;
        size_t olen = 65536;
        assert_int_equal(snappy_uncompress(z.data + off + 8, len - 4, out, &olen), SNAPPY_OK);
        assert_memory_equal(out, in + total, olen);
        total += olen;
        off += 4 + len;
    }
    assert_int_equal(total, n);
    free(out);
    free(in);
    buf_free(&z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_ceiling),
        cmocka_unit_test(test_xml_escape),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_cksum),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_base64_against_reference),
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_gzip_roundtrip),
        cmocka_unit_test(test_snappy_framed),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
