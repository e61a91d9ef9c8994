/* fuzz_sigv4.c -- libFuzzer target for sigv4.c.
 *
 * Input layout (text, '\n'-separated), after one flags byte:
 *   method \n path \n query \n signed-header-list \n service \n
 *   (name:value \n)* \n body
 * flags bit 0: "self-sign": when the input has no Authorization header
 *   (and does not list "authorization" among the signed headers),
 *   the harness signs the request itself (canonical request -> string to
 *   sign -> key for AKIDEXAMPLE) and adds the header, so verification gets
 *   past the HMAC into the clock, body-hash and aws-chunked code. A
 *   mismatch there means canonicalization disagrees with itself: trap.
 * flags bits 1-2: the clock (the vectors' date, +16 min, -16 min, +8 days).
 * Every request also runs sigv4_canonical_request with the given list,
 * sigv4_error for every protocol, sigv4_scope_parse (trap: it disagrees
 * with a successful verification's scope), the SigV2 presigned check
 * when the query has that form (flags bit 7: a virtual-host bucket), and,
 * when the request verified (or flags bit 5) and is aws-chunked, both
 * entry points of the one chunked decoder (trap: sigv4_decode_chunked and
 * sigv4_dechunk_request disagree, or a failed decode changed the body).
 *
 * Build (from the repo root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *     tests/fuzz/fuzz_sigv4.c src/sigv4.c src/util.c \
 *     $(pkg-config --cflags --libs openssl) -lm -pthread -o fuzz_sigv4
 *   ./fuzz_sigv4 -max_total_time=300 tests/fuzz/corpus/sigv4/
 */
#define _GNU_SOURCE /* strcasestr */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server.h"
#include "sigv4.h"

/* http.c is not linked into the fuzzer; sigv4.c needs only this of it. */
const char *http_header(const struct http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

#define FUZZ_AKID "AKIDEXAMPLE"
#define FUZZ_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define FUZZ_NOW_MS 1440938160000LL /* 2015-08-30T12:36:00Z */
#define FUZZ_MAX_HDRS 40

static int lookup(const char *akid, char *secret, size_t size, void *ctx)
{
    (void)ctx;
    if (strcmp(akid, FUZZ_AKID) != 0 || size <= strlen(FUZZ_SECRET))
        return -1;
    strcpy(secret, FUZZ_SECRET);
    return 0;
}

/* Cuts the next '\n'-terminated line out of *p (NUL-terminating it). */
static char *next_line(char **p, char *end)
{
    if (*p >= end)
        return NULL;
    char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl) {
        *p = end;
        return s; /* the buffer has a NUL at end */
    }
    *nl = 0;
    *p = nl + 1;
    return s;
}

static void self_sign(struct http_req *req, struct http_header *hdrs,
                      const char *list, const char *service)
{
    const char *date = http_header(req, "X-Amz-Date");
    /* a signed Authorization header would have to contain its own
     * signature: such a list cannot be self-signed */
    if (strcasestr(list, "authorization"))
        return;
    if (!date || strlen(date) != 16 || req->nheaders >= FUZZ_MAX_HDRS ||
        strlen(service) == 0 || strlen(service) > 64 || strchr(service, '/'))
        return;
    const char *csha = http_header(req, "x-amz-content-sha256");
    char body_hash[65];
    if (!csha) {
        sha256_hex(body_hash, req->body, req->body_len);
        csha = body_hash;
    }
    struct sigv4_params p = {list, csha, strcmp(service, "s3") == 0, false};
    struct buf creq, sts;
    buf_init(&creq, 1 << 22);
    buf_init(&sts, 4096);
    char scope[128], date8[9];
    memcpy(date8, date, 8);
    date8[8] = 0;
    snprintf(scope, sizeof scope, "%s/us-east-1/%s/aws4_request", date8, service);
    unsigned char key[32];
    char sig[65];
    if (sigv4_canonical_request(req, &p, &creq) == SIGV4_OK &&
        sigv4_string_to_sign(date, scope, creq.data, creq.len, &sts) == SIGV4_OK &&
        sigv4_signing_key(FUZZ_SECRET, date8, "us-east-1", service, key) == SIGV4_OK) {
        sigv4_sign(key, sts.data, sts.len, sig);
        hdrs[req->nheaders].name = "Authorization";
        hdrs[req->nheaders].value =
            arena_printf(req->arena, "AWS4-HMAC-SHA256 Credential=" FUZZ_AKID
                         "/%s, SignedHeaders=%s, Signature=%s", scope, list, sig);
        if (hdrs[req->nheaders].value)
            req->nheaders++;
    }
    buf_free(&creq);
    buf_free(&sts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    struct arena *a = arena_new();
    if (!a)
        return 0;
    char *text = arena_strndup(a, (const char *)data + 1, size - 1);
    if (!text) {
        arena_free(a);
        return 0;
    }
    char *p = text, *end = text + (size - 1);
    struct http_header hdrs[FUZZ_MAX_HDRS + 1];
    struct http_req req;
    memset(&req, 0, sizeof req);
    req.arena = a;
    req.headers = hdrs;
    req.method = next_line(&p, end);
    req.path = next_line(&p, end);
    req.query = next_line(&p, end);
    const char *list = next_line(&p, end);
    const char *service = next_line(&p, end);
    if (!req.method || !req.path || !req.query || !list || !service)
        goto out;
    req.uri = req.path;
    char *line;
    while ((line = next_line(&p, end)) != NULL && line[0] &&
           req.nheaders < FUZZ_MAX_HDRS) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = 0;
        hdrs[req.nheaders].name = line;
        hdrs[req.nheaders].value = colon + 1;
        req.nheaders++;
    }
    req.body = p < end ? p : "";
    req.body_len = p < end ? (size_t)(end - p) : 0;

    /* canonical request on its own, both URI rule sets */
    struct buf creq;
    buf_init(&creq, 1 << 22);
    struct sigv4_params cp = {list, "UNSIGNED-PAYLOAD", (flags & 8) != 0,
                              (flags & 16) != 0};
    (void)sigv4_canonical_request(&req, &cp, &creq);
    buf_free(&creq);

    bool signed_here = false;
    if ((flags & 1) && !http_header(&req, "Authorization")) {
        size_t before = req.nheaders;
        self_sign(&req, hdrs, list, service);
        signed_here = req.nheaders > before;
    }

    static const int64_t offsets[] = {0, 16 * 60000, -16 * 60000,
                                      8LL * 86400000};
    int64_t now = FUZZ_NOW_MS + offsets[(flags >> 1) & 3];
    struct sigv4_auth auth;
    int rc = sigv4_verify(&req, lookup, NULL, now, &auth);
#ifdef FUZZ_SIGV4_DEBUG
    fprintf(stderr, "rc=%d signed_here=%d detail=%s\n", rc, signed_here,
            auth.detail);
#endif
    if (signed_here && rc == SIGV4_MISMATCH)
        __builtin_trap(); /* the verifier disagrees with its own canonical form */

    struct sigv4_error e;
    for (int proto = SIGV4_PROTO_JSON; proto <= SIGV4_PROTO_QUERY; proto++)
        sigv4_error(rc, (enum sigv4_proto)proto, &auth, now, &e);

    /* the one scope parser agrees with what verification read */
    struct sigv4_scope scope;
    int src = sigv4_scope_parse(&req, &scope);
    if (rc == SIGV4_OK &&
        (src != SIGV4_OK || strcmp(scope.access_key, auth.access_key) != 0 ||
         strcmp(scope.date, auth.scope_date) != 0 || strcmp(scope.region, auth.region) != 0 ||
         strcmp(scope.service, auth.service) != 0))
        __builtin_trap();

    if ((rc == SIGV4_OK || (flags & 32)) && auth.payload_hash[0] &&
        sigv4_is_chunked(&auth)) {
        /* both entry points of the one decoder: same verdict, same bytes */
        struct buf out;
        buf_init(&out, 1 << 20);
        int64_t dlen = (flags & 64) ? (int64_t)req.body_len : -1;
        int crc = sigv4_decode_chunked(&auth, http_header(&req, "x-amz-trailer"), req.body, req.body_len, dlen, &out);
        const char *raw = req.body;
        size_t raw_len = req.body_len;
        int rrc = sigv4_dechunk_request(&req, &auth, dlen);
        if (crc != SIGV4_TOO_LARGE &&
            (rrc != crc || (rrc == SIGV4_OK && (req.body_len != out.len ||
                                                 memcmp(req.body, out.data ? out.data : "",
                                                        out.len) != 0))))
            __builtin_trap();
        if (rrc != SIGV4_OK && (req.body != raw || req.body_len != raw_len))
            __builtin_trap(); /* a failed decode must leave the body alone */
        buf_free(&out);
    }

    /* SigV2 presigned, path-style and for a virtual-host bucket */
    if (sigv4_is_v2_presigned(&req)) {
        (void)sigv4_verify_v2_presigned(&req, (flags & 128) ? "fuzz-bucket" : NULL, lookup,
                                        NULL, now, &auth);
        sigv4_error(rc, SIGV4_PROTO_S3, &auth, now, &e);
    }
out:
    arena_free(a);
    return 0;
}
