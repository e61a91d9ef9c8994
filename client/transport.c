/* transport.c -- SigV4-signed Firehose requests over one libcurl handle.
 *
 * Purpose: POST a JSON 1.1 body to the endpoint with the Firehose headers
 * and an AWS Signature Version 4, and hand back status, body and error
 * type. Nothing here decides about retries.
 *
 * Design:
 * - libcurl signs (CURLOPT_AWS_SIGV4 "aws:amz:<region>:firehose" with the
 *   keys as user:password). curl 7.88 sends no x-amz-content-sha256
 *   header outside S3, and some servers require one, so it is set here
 *   from the body; curl then signs it as the payload hash.
 * - One easy handle, reused, keeps the connection alive between batches.
 * - The answer body has a ceiling (RESPONSE_MAX): a 500-record answer is
 *   about 100 KiB; anything larger is cut off and fails to parse.
 * - A progress callback aborts a transfer when *abort_flag is set, so
 *   hydrant_close does not wait out a request timeout.
 *
 * Threading: a transport belongs to the producer's sender thread.
 * curl_global_init runs once per process (pthread_once).
 */
#include "client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RESPONSE_MAX (1024 * 1024)

struct hydrant__transport {
    CURL *curl;
    char url[512];
    char sigv4[128];
    char userpwd[512];
    char token_header[2048];
    const int *abort_flag;
    unsigned connect_timeout_ms, request_timeout_ms;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int hydrant__transport_new(const struct hydrant_config *cfg, const int *abort_flag,
                           struct hydrant__transport **out)
{
    struct hydrant__transport *t;
    const char *region = cfg->region ? cfg->region : "us-east-1";
    int n;

    *out = NULL;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return HYDRANT_ECURL;
    if (!(t = calloc(1, sizeof *t)))
        return HYDRANT_ENOMEM;
    if (cfg->endpoint)
        n = snprintf(t->url, sizeof t->url, "%s/", cfg->endpoint);
    else
        n = snprintf(t->url, sizeof t->url, "https://firehose.%s.amazonaws.com/", region);
    /* "http://host:port/" + "/" would double the slash: keep one */
    if (n > 1 && n < (int)sizeof t->url && t->url[n - 2] == '/')
        t->url[n - 1] = '\0';
    if (n < 0 || n >= (int)sizeof t->url ||
        snprintf(t->sigv4, sizeof t->sigv4, "aws:amz:%s:firehose", region) >= (int)sizeof t->sigv4 ||
        snprintf(t->userpwd, sizeof t->userpwd, "%s:%s", cfg->access_key_id,
                 cfg->secret_access_key) >= (int)sizeof t->userpwd ||
        (cfg->session_token &&
         snprintf(t->token_header, sizeof t->token_header, "X-Amz-Security-Token: %s",
                  cfg->session_token) >= (int)sizeof t->token_header)) {
        free(t);
        return HYDRANT_EINVAL;
    }
    if (!(t->curl = curl_easy_init())) {
        free(t);
        return HYDRANT_ECURL;
    }
    t->abort_flag = abort_flag;
    t->connect_timeout_ms = cfg->connect_timeout_ms;
    t->request_timeout_ms = cfg->request_timeout_ms;
    *out = t;
    return HYDRANT_OK;
}

void hydrant__transport_free(struct hydrant__transport *t)
{
    if (!t)
        return;
    curl_easy_cleanup(t->curl);
    /* the secret lived here: do not leave it in freed memory */
    memset(t->userpwd, 0, sizeof t->userpwd);
    free(t);
}

struct sink {
    struct hydrant__response *res;
    size_t cap;
    bool oom;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb, room;
    struct hydrant__response *res = s->res;

    if (res->body_len >= RESPONSE_MAX)
        return n; /* over the ceiling: drop the rest, parsing will fail */
    room = RESPONSE_MAX - res->body_len;
    size_t take = n < room ? n : room;
    if (res->body_len + take + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        while (cap < res->body_len + take + 1)
            cap *= 2;
        char *nb = realloc(res->body, cap);
        if (!nb) {
            s->oom = true;
            return 0; /* makes curl fail the transfer */
        }
        res->body = nb;
        s->cap = cap;
    }
    memcpy(res->body + res->body_len, ptr, take);
    res->body_len += take;
    res->body[res->body_len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct hydrant__response *res = ud;
    size_t n = size * nmemb;
    static const char name[] = "x-amzn-errortype:";
    if (n > sizeof name - 1 && !strncasecmp(ptr, name, sizeof name - 1)) {
        size_t i = sizeof name - 1, k = 0;
        while (i < n && ptr[i] == ' ')
            i++;
        /* "ServiceUnavailableException:http://internal.amazon.com/..." */
        while (i < n && k + 1 < sizeof res->error_type && ptr[i] != ':' && ptr[i] != '\r' &&
               ptr[i] != '\n')
            res->error_type[k++] = ptr[i++];
        res->error_type[k] = '\0';
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    const int *abort_flag = ud;
    return abort_flag && __atomic_load_n(abort_flag, __ATOMIC_RELAXED) ? 1 : 0;
}

int hydrant__transport_post(struct hydrant__transport *t, const char *target, const char *body,
                            size_t len, struct hydrant__response *res)
{
    struct curl_slist *headers = NULL, *h;
    char target_header[128], sha_header[96], sha[65];
    struct sink sink = {res, 0, false};
    CURLcode cc;
    int rc = HYDRANT_OK;

    memset(res, 0, sizeof *res);
    hydrant__wire_sha256_hex(body, len, sha);
    snprintf(target_header, sizeof target_header, "X-Amz-Target: Firehose_20150804.%s", target);
    snprintf(sha_header, sizeof sha_header, "x-amz-content-sha256: %s", sha);
    const char *lines[] = {"Content-Type: application/x-amz-json-1.1", target_header, sha_header,
                           t->token_header[0] ? t->token_header : NULL};
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        if (!lines[i])
            continue;
        if (!(h = curl_slist_append(headers, lines[i]))) {
            curl_slist_free_all(headers);
            return HYDRANT_ENOMEM;
        }
        headers = h;
    }

    CURL *c = t->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, t->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, t->sigv4);
    curl_easy_setopt(c, CURLOPT_USERPWD, t->userpwd);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "libhydrant/" HYDRANT_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)t->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)t->request_timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, res);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)t->abort_flag);

    cc = curl_easy_perform(c);
    if (sink.oom) {
        rc = HYDRANT_ENOMEM;
    } else if (cc != CURLE_OK) {
        snprintf(res->error, sizeof res->error, "%s", curl_easy_strerror(cc));
        res->status = 0;
        rc = HYDRANT_EIO;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
    }
    curl_slist_free_all(headers);
    return rc;
}
