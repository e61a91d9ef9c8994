/* fuzz_tz.c -- libFuzzer target: tz.c's TZif reader.
 *
 * Input layout: byte 0 chooses the mode. Even: the rest is a TZif image,
 * given to tz_parse as it is. Odd: the rest is a POSIX TZ string (up to
 * the first newline), wrapped in a minimal well-formed version 2 image
 * (one transition, two types) as its footer, so the footer parser is
 * reached by every input rather than only by those that build a whole
 * valid file first.
 *
 * Invariants: tz_parse never reads outside its input (ASan), returns
 * HY_OK with a zone or HY_EINVAL with NULL; on a parsed zone tz_offset_s
 * at instants from the input and at the extremes of int64 returns an
 * offset within +-26 hours (what tz.c admits for a time type or a TZ
 * string) and never overflows (UBSan); nothing leaks.
 *
 * Build and run: `make fuzz FUZZ_TARGETS=tz`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tz.h"

struct hy_config hy_cfg;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "fuzz_tz: invariant failed at line %d: %s\n",   \
                    __LINE__, #cond);                                       \
            __builtin_trap();                                               \
        }                                                                   \
    } while (0)

static size_t put32(uint8_t *p, size_t n, uint32_t v)
{
    p[n] = (uint8_t)(v >> 24);
    p[n + 1] = (uint8_t)(v >> 16);
    p[n + 2] = (uint8_t)(v >> 8);
    p[n + 3] = (uint8_t)v;
    return n + 4;
}

static size_t header(uint8_t *p, size_t n)
{
    memcpy(p + n, "TZif2", 5);
    memset(p + n + 5, 0, 15);
    n += 20;
    n = put32(p, n, 0);
    n = put32(p, n, 0);
    n = put32(p, n, 0);
    n = put32(p, n, 1); /* timecnt */
    n = put32(p, n, 2); /* typecnt */
    return put32(p, n, 4);
}

static size_t block(uint8_t *p, size_t n, unsigned tsize)
{
    if (tsize == 8)
        n = put32(p, n, 0);
    n = put32(p, n, 1000000000u);
    p[n++] = 1;
    n = put32(p, n, 3600);
    p[n++] = 0;
    p[n++] = 0;
    n = put32(p, n, (uint32_t)-7200);
    p[n++] = 1;
    p[n++] = 0;
    memcpy(p + n, "AB\0\0", 4);
    return n + 4;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct tz *tz = (struct tz *)1;
    int rc;
    if (data[0] & 1) {
        const uint8_t *s = data + 1;
        size_t slen = size - 1;
        const uint8_t *nl = memchr(s, '\n', slen);
        if (nl)
            slen = (size_t)(nl - s);
        if (slen > 4096)
            slen = 4096;
        uint8_t *img = malloc(256 + slen);
        CHECK(img);
        size_t n = header(img, 0);
        n = block(img, n, 4);
        n = header(img, n);
        n = block(img, n, 8);
        img[n++] = '\n';
        memcpy(img + n, s, slen);
        n += slen;
        img[n++] = '\n';
        rc = tz_parse(img, n, &tz);
        free(img);
    } else {
        /* a copy of exactly size-1 bytes, so ASan sees any overread */
        uint8_t *copy = malloc(size - 1 ? size - 1 : 1);
        CHECK(copy);
        memcpy(copy, data + 1, size - 1);
        rc = tz_parse(copy, size - 1, &tz);
        free(copy);
    }
    CHECK(rc == HY_OK || rc == HY_EINVAL);
    CHECK(rc == HY_OK ? tz != NULL : tz == NULL);
    if (rc == HY_OK) {
        int64_t probes[16] = {INT64_MIN, INT64_MAX, 0, -1, 999999999, 1000000000,
                              2208988800LL, 4102444800LL, -2208988800LL, 1787407533};
        size_t np = 10;
        for (size_t i = 1; i + 8 <= size && np < 16; i += 8) {
            int64_t v;
            memcpy(&v, data + i, 8);
            probes[np++] = v;
        }
        for (size_t i = 0; i < np; i++) {
            int32_t off = tz_offset_s(tz, probes[i]);
            CHECK(off >= -93600 && off <= 93600);
        }
        tz_free(tz);
    }
    return 0;
}
