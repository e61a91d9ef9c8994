/* destinations.c -- which S3 endpoint holds a bucket.
 *
 * Purpose: one hydrant can write some buckets into its embedded store and
 * others to an external S3 (AWS S3, MinIO, Ceph RGW). The choice, in
 * order: the bucket's entry in the --destinations file, else the
 * server-wide default (--s3-endpoint with its --s3-* flags), else the
 * embedded store. sinks.c asks destinations_find() for every object.
 *
 * The destinations file is JSON (jansson), one object per bucket:
 *
 *   {
 *     "buckets": {
 *       "archive": {
 *         "endpoint": "https://rgw.example.net:7480",   required
 *         "region": "eu-west-1",                 default: --s3-region
 *         "access_key_id": "AK...",              default: the --s3-* pair
 *         "secret_access_key": "...",            (both or neither)
 *         "path_style": true,                    default false (virtual host),
 *                                                true for an IP or localhost
 *         "ca_file": "/etc/ssl/rgw.pem"          default: the system's CAs
 *       },
 *       "scratch": {"endpoint": "embedded"}      stays in the embedded store
 *     }
 *   }
 *
 * Any other member, a wrong type, a missing endpoint or missing credentials
 * is refused at start with a sentence naming it: a bucket silently written
 * to the wrong place is worse than a server that does not start.
 *
 * Threading: flags and the file are read once by main.c before delivery
 * starts (destinations_init also runs libcurl's global init then, on the
 * main thread, as libcurl asks); afterwards the table is read-only and shared by every delivery
 * worker without a lock.
 */
#include "destinations.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEST_FILE_MAX (4u << 20)

struct destinations {
    struct s3_endpoint *v;
    size_t n;
    char **owned;
    size_t nowned, owned_cap;
};

static struct {
    struct s3_endpoint def;        /* from the flags */
    bool have_def;
    const char *file;
    struct destinations *table;
} G;

int destinations_flag(const char *name, const char *value)
{
    if (!strcmp(name, "s3-endpoint"))
        G.def.endpoint = value;
    else if (!strcmp(name, "s3-region"))
        G.def.region = value;
    else if (!strcmp(name, "s3-access-key-id"))
        G.def.access_key_id = value;
    else if (!strcmp(name, "s3-secret-access-key"))
        G.def.secret_access_key = value;
    else if (!strcmp(name, "s3-path-style"))
        G.def.path_style = true;
    else if (!strcmp(name, "s3-ca-file"))
        G.def.ca_file = value;
    else if (!strcmp(name, "destinations"))
        G.file = value;
    else
        return HY_EINVAL;
    return HY_OK;
}

static bool ip_or_localhost(const char *endpoint)
{
    const char *h = strstr(endpoint, "://");
    h = h ? h + 3 : endpoint;
    if (*h == '[' || !strncmp(h, "localhost", 9))
        return true;
    for (; *h && *h != ':' && *h != '/'; h++)
        if ((*h < '0' || *h > '9') && *h != '.')
            return false;
    return true;
}

/* An endpoint URL hydrant can use: http(s)://host[:port], no path. */
static int check_endpoint(const char *what, const char *url, char *msg, size_t msg_len)
{
    const char *h = NULL;
    if (!strncmp(url, "https://", 8))
        h = url + 8;
    else if (!strncmp(url, "http://", 7))
        h = url + 7;
    if (!h || !*h || strchr(h, '/') || strchr(h, '?') || strchr(h, '@') ||
        strlen(url) > 512) {
        snprintf(msg, msg_len, "%s '%.200s' is not an S3 endpoint URL: expected "
                 "http(s)://host[:port] without a path", what, url);
        return HY_EINVAL;
    }
    return HY_OK;
}

static char *own(struct destinations *d, const char *s)
{
    if (!s)
        return NULL;
    if (d->nowned == d->owned_cap &&
        hy_grow((void **)&d->owned, &d->owned_cap, d->nowned + 1, sizeof *d->owned))
        return NULL;
    char *c = strdup(s);
    if (c)
        d->owned[d->nowned++] = c;
    return c;
}

void destinations_free(struct destinations *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nowned; i++)
        free(d->owned[i]);
    free(d->owned);
    free(d->v);
    free(d);
}

const struct s3_endpoint *destinations_lookup(const struct destinations *d, const char *bucket)
{
    if (!d || !bucket)
        return NULL;
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->v[i].bucket, bucket))
            return &d->v[i];
    return NULL;
}

/* One bucket entry; e is zeroed. */
static int parse_entry(struct destinations *d, const char *bucket, const json_t *o,
                       const struct s3_endpoint *def, struct s3_endpoint *e, char *msg,
                       size_t msg_len)
{
    static const char *const strs[] = {"endpoint", "region", "access_key_id",
                                       "secret_access_key", "ca_file", NULL};
    const char *vals[5] = {0};
    const char *k;
    json_t *v;
    if (!json_is_object(o)) {
        snprintf(msg, msg_len, "destinations: bucket '%.64s' must be an object", bucket);
        return HY_EINVAL;
    }
    json_object_foreach((json_t *)o, k, v) {
        size_t i;
        for (i = 0; strs[i] && strcmp(strs[i], k); i++)
            ;
        if (strs[i]) {
            if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
                snprintf(msg, msg_len, "destinations: bucket '%.64s': %s must be a string",
                         bucket, k);
                return HY_EINVAL;
            }
            vals[i] = json_string_value(v);
        } else if (!strcmp(k, "path_style")) {
            if (!json_is_boolean(v)) {
                snprintf(msg, msg_len, "destinations: bucket '%.64s': path_style must be "
                         "true or false", bucket);
                return HY_EINVAL;
            }
            e->path_style = json_is_true(v);
        } else {
            snprintf(msg, msg_len, "destinations: bucket '%.64s': unknown member '%.64s' "
                     "(known: endpoint, region, access_key_id, secret_access_key, "
                     "path_style, ca_file)", bucket, k);
            return HY_EINVAL;
        }
    }
    if (!vals[0]) {
        snprintf(msg, msg_len, "destinations: bucket '%.64s' has no endpoint (a URL, or "
                 "\"embedded\" for the embedded store)", bucket);
        return HY_EINVAL;
    }
    if (!(e->bucket = own(d, bucket)))
        return HY_ENOMEM;
    if (!strcmp(vals[0], "embedded")) {
        e->embedded = true;
        return HY_OK;
    }
    char what[128];
    snprintf(what, sizeof what, "destinations: bucket '%.64s': endpoint", bucket);
    if (check_endpoint(what, vals[0], msg, msg_len))
        return HY_EINVAL;
    if (!vals[2] != !vals[3]) {
        snprintf(msg, msg_len, "destinations: bucket '%.64s' gives %s without %s", bucket,
                 vals[2] ? "access_key_id" : "secret_access_key",
                 vals[2] ? "secret_access_key" : "access_key_id");
        return HY_EINVAL;
    }
    const char *akid = vals[2] ? vals[2] : def ? def->access_key_id : NULL;
    const char *secret = vals[3] ? vals[3] : def ? def->secret_access_key : NULL;
    if (!akid || !secret) {
        snprintf(msg, msg_len, "destinations: bucket '%.64s' has no credentials: give "
                 "access_key_id and secret_access_key, or --s3-access-key-id and "
                 "--s3-secret-access-key (env HYDRANT_S3_ACCESS_KEY_ID / "
                 "HYDRANT_S3_SECRET_ACCESS_KEY)", bucket);
        return HY_EINVAL;
    }
    const char *region = vals[1] ? vals[1] : def && def->region ? def->region : "us-east-1";
    size_t nbucket = strlen(bucket);
    if (nbucket < 3 || nbucket > 63) {
        snprintf(msg, msg_len, "destinations: '%.64s' is not a bucket name (3-63 characters)",
                 bucket);
        return HY_EINVAL;
    }
    char *ep = own(d, vals[0]);
    if (!ep || !(e->region = own(d, region)) || !(e->access_key_id = own(d, akid)) ||
        !(e->secret_access_key = own(d, secret)) || (vals[4] && !(e->ca_file = own(d, vals[4]))))
        return HY_ENOMEM;
    e->endpoint = ep;
    if (ip_or_localhost(ep))
        e->path_style = true;  /* no bucket.host for an address */
    return HY_OK;
}

int destinations_parse(const char *text, size_t len, const struct s3_endpoint *def,
                       struct destinations **out, char *msg, size_t msg_len)
{
    json_error_t err;
    int rc = HY_OK;
    *out = NULL;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        snprintf(msg, msg_len, "destinations: not valid JSON at line %d, column %d: %.120s",
                 err.line, err.column, err.text);
        return HY_EINVAL;
    }
    struct destinations *d = calloc(1, sizeof *d);
    if (!d) {
        rc = HY_ENOMEM;
        goto out_free_root;
    }
    const char *k;
    json_t *v, *buckets = NULL;
    if (!json_is_object(root)) {
        snprintf(msg, msg_len, "destinations: the file must hold one JSON object");
        rc = HY_EINVAL;
        goto out_free_root;
    }
    json_object_foreach(root, k, v) {
        if (strcmp(k, "buckets") != 0) {
            snprintf(msg, msg_len, "destinations: unknown member '%.64s' (known: buckets)", k);
            rc = HY_EINVAL;
            goto out_free_root;
        }
        buckets = v;
    }
    if (!json_is_object(buckets)) {
        snprintf(msg, msg_len, "destinations: \"buckets\" must be an object of bucket "
                 "name -> endpoint");
        rc = HY_EINVAL;
        goto out_free_root;
    }
    size_t n = json_object_size(buckets);
    if (n && !(d->v = calloc(n, sizeof *d->v))) {
        rc = HY_ENOMEM;
        goto out_free_root;
    }
    json_object_foreach(buckets, k, v) {
        if (strlen(k) > 63 || strchr(k, '/')) {
            snprintf(msg, msg_len, "destinations: '%.64s' is not a bucket name", k);
            rc = HY_EINVAL;
            goto out_free_root;
        }
        if ((rc = parse_entry(d, k, v, def, &d->v[d->n], msg, msg_len)))
            goto out_free_root;
        d->n++;
    }
out_free_root:
    json_decref(root);
    if (rc) {
        if (rc == HY_ENOMEM)
            snprintf(msg, msg_len, "destinations: out of memory");
        destinations_free(d);
        return rc;
    }
    *out = d;
    return HY_OK;
}

int destinations_init(char *msg, size_t msg_len)
{
    const char *env;
    /* libcurl's global state, once, before any delivery thread makes a
     * handle (the external S3 and HTTP endpoint sinks) */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(msg, msg_len, "cannot initialize libcurl");
        return HY_EINVAL;
    }
    struct s3_endpoint *def = &G.def;
    if (!def->access_key_id) {
        if ((env = getenv("HYDRANT_S3_ACCESS_KEY_ID")) && *env)
            def->access_key_id = env;
        else if ((env = getenv("AWS_ACCESS_KEY_ID")) && *env)
            def->access_key_id = env;
    }
    if (!def->secret_access_key) {
        if ((env = getenv("HYDRANT_S3_SECRET_ACCESS_KEY")) && *env)
            def->secret_access_key = env;
        else if ((env = getenv("AWS_SECRET_ACCESS_KEY")) && *env)
            def->secret_access_key = env;
    }
    if (!def->region)
        def->region = hy_cfg.region ? hy_cfg.region : "us-east-1";
    if (def->endpoint) {
        if (check_endpoint("--s3-endpoint", def->endpoint, msg, msg_len))
            return HY_EINVAL;
        if (!def->access_key_id || !def->secret_access_key) {
            snprintf(msg, msg_len, "--s3-endpoint %.200s needs credentials: "
                     "--s3-access-key-id and --s3-secret-access-key (or env "
                     "HYDRANT_S3_ACCESS_KEY_ID / HYDRANT_S3_SECRET_ACCESS_KEY, or "
                     "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)", def->endpoint);
            return HY_EINVAL;
        }
        if (ip_or_localhost(def->endpoint))
            def->path_style = true;
        G.have_def = true;
    } else if (def->ca_file || def->path_style) {
        snprintf(msg, msg_len, "--s3-ca-file and --s3-path-style apply to --s3-endpoint, "
                 "which is not given");
        return HY_EINVAL;
    }
    if (!G.file)
        return HY_OK;
    size_t len = 0;
    char *text = hy_read_file(G.file, DEST_FILE_MAX, &len);
    if (!text) {
        snprintf(msg, msg_len, "--destinations %.200s: cannot read the file", G.file);
        return HY_EINVAL;
    }
    char why[400];
    int rc = destinations_parse(text, len, def, &G.table, why, sizeof why);
    free(text);
    if (rc)
        snprintf(msg, msg_len, "--destinations %.200s: %s", G.file, why);
    return rc;
}

void destinations_shutdown(void)
{
    destinations_free(G.table);
    G.table = NULL;
}

const struct s3_endpoint *destinations_find(const char *bucket)
{
    const struct s3_endpoint *e = destinations_lookup(G.table, bucket);
    if (e)
        return e->embedded ? NULL : e;
    return G.have_def ? &G.def : NULL;
}
