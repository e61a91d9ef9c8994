/* fuzz_console.c -- libFuzzer target for the console's parsers
 * (console.c): the Cookie header reader, the JSON call the page sends to
 * api/call, and the query canonicalizer the proxy signs with.
 *
 * Input: the first byte picks the parser, the rest is its input.
 *
 * Invariants (a violation traps): a cookie value found fits its buffer
 * and holds no ';'; a call that parses has a known service and method, a
 * path that starts with '/' and is not under /_hydrant/, and a body of
 * the length it says; a canonical query is sorted by name, has no
 * character outside RFC 3986's unreserved set but '%', '=' and '&', and
 * canonicalizing it again gives the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "console.h"

struct hy_config hy_cfg = {
    .region = "us-east-1",
    .max_streams = 8,
    .max_body = 64u << 20,
};

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz_console: check failed: %s (line %d)\n", #cond, __LINE__); \
            __builtin_trap();                                                    \
        }                                                                        \
    } while (0)

const char *http_header(const struct http_req *req, const char *name) { return NULL; }
void http_add_header(struct http_req *req, const char *name, const char *value) {}
void http_reply(struct http_req *req, int status, const char *ct, const void *b, size_t n) {}
void http_reply_fd(struct http_req *req, int status, const char *ct, int fd, uint64_t off,
                   uint64_t len) {}
const char *http_query_get(const struct http_req *req, const char *name) { return NULL; }
bool http_query_has(const struct http_req *req, const char *name) { return false; }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    hy_log_level = HY_LOG_ERROR + 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size)
        return 0;
    char *in = malloc(size);
    if (!in)
        return 0;
    memcpy(in, data + 1, size - 1);
    in[size - 1] = 0;
    switch (data[0] % 3) {
    case 0: {
        char out[65];
        if (console_cookie_get(in, "hydrant_console", out, sizeof out) == HY_OK)
            CHECK(strlen(out) < sizeof out && !strchr(out, ';'));
        break;
    }
    case 1: {
        struct console_call c;
        char why[200];
        if (console_call_parse(in, size - 1, &c, why, sizeof why) == HY_OK) {
            CHECK(c.path[0] == '/' && strncmp(c.path, "/_hydrant", 9) != 0);
            CHECK(!strcmp(c.method, "GET") || !strcmp(c.method, "POST") ||
                  !strcmp(c.method, "PUT") || !strcmp(c.method, "DELETE") ||
                  !strcmp(c.method, "HEAD"));
            CHECK(c.body && c.query && c.target && c.content_type);
            console_call_free(&c);
        } else {
            CHECK(why[0]);
        }
        break;
    }
    default: {
        struct buf a, b;
        buf_init(&a, 1u << 20);
        buf_init(&b, 1u << 20);
        if (console_canonical_query(in, &a) == HY_OK) {
            const char *s = a.data ? a.data : "";
            for (const char *p = s; *p; p++)
                CHECK((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                      (*p >= '0' && *p <= '9') || strchr("-._~%=&", *p));
            CHECK(console_canonical_query(s, &b) == HY_OK);
            CHECK(a.len == b.len && (!a.len || memcmp(a.data, b.data, a.len) == 0));
        }
        buf_free(&a);
        buf_free(&b);
        break;
    }
    }
    free(in);
    return 0;
}
