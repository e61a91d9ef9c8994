/* fuzz_http_response.c -- libFuzzer target: what the HTTP endpoint sink
 * reads from the outside (sinks/http_endpoint.c): an endpoint's answer
 * (http_endpoint_check_response, jansson) and a destination
 * configuration (http_endpoint_check, then http_endpoint_describe and the
 * accessors on what it accepts).
 *
 * Input: byte 0 picks the status (bit 0: 200, else 413; bit 1: the body
 * was cut at 1 MiB), byte 1 the length n of the request id that follows,
 * then the id, then the answer body; the same bytes after the id are also
 * tried as a configuration.
 *
 * Invariants: no crash; a success only for status 200, not truncated, and
 * a body that is a JSON object whose requestId is exactly the id (checked
 * here on jansson's tree, not by the sink's code); every failure names an
 * HttpEndpoint.* code and a NUL-terminated reason; an accepted
 * configuration has an https Url, a backup bucket, a retry window in
 * 0..7200 and a describe shape that names the same Url.
 *
 * Build and run: `make fuzz FUZZ_TARGETS=http_response`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/sinks.h"

#include "iam.h"
#include "policy.h"

struct hy_config hy_cfg;

/* iam.c's and policy.c's, called by sinks.c on the put path only (never
 * reached here: the answer and configuration checks are fuzzed), defined
 * so that the sinks link without the IAM store and its API */
enum iam_mode hy_iam_mode;
int iam_role_allows(const char *role_arn, const char *action, const char *resource_arn,
                    char *why, size_t why_len)
{
    (void)role_arn, (void)action, (void)resource_arn, (void)why, (void)why_len;
    __builtin_trap();
}

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "fuzz_http_response: invariant failed at line %d: %s\n", \
                    __LINE__, #cond);                                               \
            __builtin_trap();                                                       \
        }                                                                           \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sinks_records_passed = true; /* reach every check */
    if (size < 2)
        return 0;
    long status = data[0] & 1 ? 200 : 413;
    bool truncated = data[0] & 2;
    size_t idlen = data[1];
    if (size < 2 + idlen)
        return 0;
    char id[256];
    memcpy(id, data + 2, idlen);
    id[idlen] = 0;
    if (strlen(id) != idlen)
        return 0; /* request ids are GUIDs: no NUL in them */
    const char *body = (const char *)data + 2 + idlen;
    size_t len = size - 2 - idlen;

    const char *code = NULL;
    char why[300];
    memset(why, 'x', sizeof why);
    int rc = http_endpoint_check_response(status, body, len, truncated, id, &code, why,
                                          sizeof why);
    json_error_t err;
    json_t *o = json_loadb(body, len, 0, &err);
    const char *got = json_string_value(json_object_get(o, "requestId"));
    bool oracle = status == 200 && !truncated && json_is_object(o) && got && !strcmp(got, id);
    if (rc == HY_OK) {
        CHECK(oracle);
    } else {
        CHECK(code && !strncmp(code, "HttpEndpoint.", 13));
        CHECK(memchr(why, 0, sizeof why));
        if (status != 200 || truncated)
            CHECK(!oracle);
    }
    json_decref(o);

    json_t *cfg = json_loadb(body, len, 0, &err);
    if (cfg) {
        char msg[700];
        memset(msg, 'x', sizeof msg);
        int crc = http_endpoint_check(cfg, msg, sizeof msg);
        CHECK(crc == HY_OK || crc == HY_EINVAL);
        if (crc == HY_OK) {
            const char *url = json_string_value(
                json_object_get(json_object_get(cfg, "EndpointConfiguration"), "Url"));
            CHECK(url && !strncmp(url, "https://", 8));
            CHECK(http_endpoint_is(cfg));
            CHECK(http_endpoint_backup_bucket(cfg) != NULL);
            int w = http_endpoint_retry_window_s(cfg);
            CHECK(w >= 0 && w <= 7200);
            json_t *d = http_endpoint_describe(cfg);
            if (d) {
                const char *durl = json_string_value(
                    json_object_get(json_object_get(d, "EndpointConfiguration"), "Url"));
                CHECK(durl && !strcmp(durl, url));
                CHECK(!json_object_get(json_object_get(d, "EndpointConfiguration"),
                                       "AccessKey"));
            }
            json_decref(d);
        } else {
            CHECK(memchr(msg, 0, sizeof msg));
        }
        json_decref(cfg);
    }
    return 0;
}
