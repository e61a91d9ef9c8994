/* fuzz_cors.c -- libFuzzer target for the CORS configuration parser
 * (s3_cors.c, through s3_wire.c's expat reader) and the rule matcher.
 *
 * Input: the first line is "origin method headers" (space-separated, for
 * cors_match); the rest is a CORSConfiguration document.
 *
 * Invariants (a violation traps): a parse that succeeds has 1..100 rules,
 * each with an origin and a method, every method one of S3's five, no
 * origin or allowed header with two wildcards; a failed parse names an
 * error code and a message; a match returns one of the parsed rules.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "s3_cors.h"

struct hy_config hy_cfg = {
    .region = "us-east-1",
    .max_streams = 8,
    .max_body = 64u << 20,
};

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz_cors: check failed: %s (line %d)\n", #cond, __LINE__); \
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

static int stars(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '*';
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    char *nl = memchr(text, '\n', size);
    const char *doc = nl ? nl + 1 : text;
    size_t doc_len = nl ? size - (size_t)(nl + 1 - text) : size;
    char origin[256] = "", method[16] = "", hdrs[512] = "";
    if (nl) {
        *nl = 0;
        sscanf(text, "%255s %15s %511s", origin, method, hdrs);
    }
    struct http_req req;
    memset(&req, 0, sizeof req);
    req.arena = arena_new();
    if (!req.arena) {
        free(text);
        return 0;
    }
    struct cors_config cfg;
    const char *code = NULL;
    char msg[300] = "";
    int rc = cors_parse(&req, doc, doc_len, &cfg, &code, msg, sizeof msg);
    if (rc == HY_OK) {
        CHECK(cfg.n >= 1 && cfg.n <= CORS_MAX_RULES);
        for (size_t i = 0; i < cfg.n; i++) {
            const struct cors_rule *r = &cfg.rules[i];
            CHECK(r->norigins >= 1 && r->nmethods >= 1);
            for (size_t k = 0; k < r->nmethods; k++)
                CHECK(!strcmp(r->methods[k], "GET") || !strcmp(r->methods[k], "PUT") ||
                      !strcmp(r->methods[k], "HEAD") || !strcmp(r->methods[k], "POST") ||
                      !strcmp(r->methods[k], "DELETE"));
            for (size_t k = 0; k < r->norigins; k++)
                CHECK(stars(r->origins[k]) <= 1);
            for (size_t k = 0; k < r->nheaders; k++)
                CHECK(stars(r->headers[k]) <= 1);
        }
        const struct cors_rule *m = cors_match(&cfg, origin, method, hdrs[0] ? hdrs : NULL);
        CHECK(!m || (m >= cfg.rules && m < cfg.rules + cfg.n));
    } else if (rc == HY_EINVAL) {
        CHECK(code && *code && msg[0]);
    }
    arena_free(req.arena);
    free(text);
    return 0;
}
