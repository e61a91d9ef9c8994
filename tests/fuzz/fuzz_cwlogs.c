/* fuzz_cwlogs.c -- libFuzzer target for the CloudWatch Logs API input
 * (cloudwatch_logs.c): each operation's reading of its JSON body, tokens
 * and limits, and the filter-pattern parser, over a store that the inputs
 * themselves fill (CreateLogGroup, PutLogEvents...) and that is reset
 * every 256 runs so it stays small.
 *
 * Input: the first byte picks the operation; the rest is its JSON body.
 * A second pass gives the rest to logs_pattern_parse / logs_pattern_match.
 *
 * Invariants (a violation traps): an answer is always produced (200, 400
 * or 500) and is a JSON object; an error has __type and message; a 200 of
 * GetLogEvents has both tokens; a parsed pattern has at most
 * LOGS_MAX_TERMS non-empty terms of a known kind.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cloudwatch.h"

struct hy_config hy_cfg = {
    .region = "us-east-1",
    .max_streams = 8,
    .max_body = 64u << 20,
};

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz_cwlogs: check failed: %s (line %d)\n", #cond, __LINE__); \
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
    static const char *const ops[] = {"CreateLogGroup", "CreateLogStream", "DeleteLogGroup",
                                      "DescribeLogGroups", "DescribeLogStreams",
                                      "FilterLogEvents", "GetLogEvents", "PutLogEvents",
                                      "TagLogGroup"};
    static unsigned long iter;
    if (!size)
        return 0;
    if (++iter % 256 == 0)
        cloudwatch_logs_reset();
    const char *op = ops[data[0] % 9];
    char *body = malloc(size);
    if (!body)
        return 0;
    memcpy(body, data + 1, size - 1);
    body[size - 1] = 0;
    int status = 0;
    char *out = NULL;
    logs_exec("us-east-1", op, body, size - 1, &status, &out);
    CHECK(status == 200 || status == 400 || status == 500);
    if (out) {
        json_t *o = json_loads(out, 0, NULL);
        CHECK(json_is_object(o));
        if (status != 200) {
            CHECK(json_is_string(json_object_get(o, "__type")));
            CHECK(json_is_string(json_object_get(o, "message")));
        } else if (!strcmp(op, "GetLogEvents")) {
            CHECK(json_is_string(json_object_get(o, "nextForwardToken")));
            CHECK(json_is_string(json_object_get(o, "nextBackwardToken")));
        }
        json_decref(o);
        free(out);
    }
    struct pattern p;
    char why[256];
    if (logs_pattern_parse(body, &p, why, sizeof why) == HY_OK) {
        CHECK(p.n <= LOGS_MAX_TERMS);
        for (size_t i = 0; i < p.n; i++)
            CHECK(p.t[i].text[0] && (p.t[i].kind == '+' || p.t[i].kind == '-' ||
                                     p.t[i].kind == '?'));
        (void)logs_pattern_match(&p, body);
    }
    free(body);
    return 0;
}
