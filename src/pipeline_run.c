/* pipeline_run.c -- a taken batch becomes its objects, and the checks of
 * the configuration that drives it (pipeline.h: pipeline_wanted,
 * pipeline_deterministic, pipeline_run, pipeline_check).
 *
 * The run: the batch's records (pl_batch_from_stream) go through the
 * stream's processors in AWS's order (processor_table, whatever order the
 * configuration lists them in), each reading one pl_batch and writing the
 * next; then the records are grouped by their partition keys (dynamic
 * partitioning: at most --max-active-partitions groups, the records of
 * any further partition fail as activePartitionExceeded), each group is
 * converted (format.c, when DataFormatConversionConfiguration is on) or
 * concatenated, compressed and named (prefix.c, in the stream's zone,
 * with the group's keys and a random-string seeded by the object's id);
 * the failed records become error objects (one per error-output type, AWS's
 * error records with the source record as rawData) and, with S3BackupMode
 * Enabled, the source records one backup object. Object ids hash the data
 * directory, the stream, the batch's first LSN and the object's role and
 * keys, so a second run of the same batch names the same objects (what
 * delivery.c's exactly-once rewrite after a crash rests on).
 *
 * Threading: pipeline_run runs on delivery worker threads, two batches at
 * once; it keeps no state between calls (a jq program, a zone, a Glue
 * schema are loaded per run).
 */
#include "compress.h"
#include "format.h"
#include "pipeline.h"
#include "prefix.h"
#include "tz.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the run ------------------------------------------------------------ */

/* AWS's limit of active partitions per stream is 500 (raisable to 5,000
 * by request: --max-active-partitions); records of partitions past it go
 * to the error output, type activePartitionExceeded (developer guide,
 * "Buffer data for dynamic partitioning"). A run is one batch: hydrant's
 * partitions are those of the batch (see docs/ARCHITECTURE.md). */
#define PIPELINE_MAX_PARTITIONS                                                            \
    (hy_cfg.max_active_partitions > 0 ? hy_cfg.max_active_partitions : 500)
#define PIPELINE_SLOTS 8192 /* hash slots, a power of two above 5,000 */

static const json_t *pl_processing(const json_t *config)
{
    const json_t *proc = json_object_get(config, "ProcessingConfiguration");
    const json_t *on = json_object_get(proc, "Enabled");
    const json_t *list = json_object_get(proc, "Processors");
    /* without Enabled, processors given mean processing wanted */
    if (json_is_true(on) || (!json_is_boolean(on) && json_array_size(list) > 0))
        return list;
    return NULL;
}

static bool pl_backup_on(const json_t *config)
{
    const json_t *m = json_object_get(config, "S3BackupMode");
    return json_is_string(m) && !strcmp(json_string_value(m), "Enabled");
}

bool pipeline_wanted(const struct stream_dest *d)
{
    return json_array_size(pl_processing(d->config)) > 0 || d->dynamic ||
           pl_backup_on(d->config) || d->time_zone[0] ||
           format_enabled(json_object_get(d->config, "DataFormatConversionConfiguration"));
}

/* The configured processor entry of type, or NULL. */
static const json_t *pl_configured(const json_t *list, const char *type)
{
    size_t i;
    const json_t *pr;
    json_array_foreach(list, i, pr) {
        const json_t *t = json_object_get(pr, "Type");
        if (json_is_string(t) && !strcmp(json_string_value(t), type))
            return pr;
    }
    return NULL;
}

bool pipeline_deterministic(const struct stream_dest *d)
{
    const json_t *list = pl_processing(d->config);
    for (size_t i = 0; i < processor_count; i++)
        if (!processor_table[i]->deterministic && pl_configured(list, processor_table[i]->type))
            return false;
    return true;
}

/* A processor's Parameters as pl_params (borrowed from pr); *n set. The
 * array is malloc'd (caller frees); HY_EINVAL when a parameter is not a
 * name/value pair of strings. */
static int pl_params_of(const json_t *pr, struct pl_param **out, size_t *n)
{
    const json_t *list = json_object_get(pr, "Parameters");
    size_t cnt = json_array_size(list), i;
    const json_t *p;
    *out = calloc(cnt ? cnt : 1, sizeof **out);
    *n = 0;
    if (!*out)
        return HY_ENOMEM;
    json_array_foreach(list, i, p) {
        const json_t *name = json_object_get(p, "ParameterName");
        const json_t *value = json_object_get(p, "ParameterValue");
        if (!json_is_string(name) || !json_is_string(value)) {
            free(*out);
            *out = NULL;
            return HY_EINVAL;
        }
        (*out)[i].name = json_string_value(name);
        (*out)[i].value = json_string_value(value);
    }
    *n = cnt;
    return HY_OK;
}

/* The object id (uuid-like) and random-string seed of one object of a
 * batch: a hash of the data directory, the stream, the batch's first WAL
 * position and the object's role ("data" + partition keys, "error/" +
 * type, "backup"), so a rerun names the same objects. */
static void pl_object_id(const unsigned char *node, const struct stream_batch *b,
                         const char *role, const void *extra, size_t extra_len, char id[37],
                         unsigned char seed[PREFIX_SEED_LEN])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char head[28];
    memcpy(head, node, 16);
    for (int i = 0; i < 4; i++)
        head[16 + i] = (unsigned char)(b->stream_id >> (8 * i));
    for (int i = 0; i < 8; i++)
        head[20 + i] = (unsigned char)(b->first_lsn >> (8 * i));
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, head, sizeof head) ||
        !EVP_DigestUpdate(ctx, role, strlen(role) + 1) ||
        (extra_len && !EVP_DigestUpdate(ctx, extra, extra_len)) ||
        !EVP_DigestFinal_ex(ctx, md, &mdlen)) {
        /* no digest: a random id (the object may be written twice after a crash) */
        hy_random(md, sizeof md);
    }
    EVP_MD_CTX_free(ctx);
    memcpy(seed, md, PREFIX_SEED_LEN);
    md[6] = (md[6] & 0x0f) | 0x80; /* version 8: name-based, custom */
    md[8] = (md[8] & 0x3f) | 0x80;
    char hex[33];
    hex_encode(hex, md, 16);
    snprintf(id, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

static int pl_compress(int compression, const char *key, const void *data, size_t len,
                       struct buf *out)
{
    const char *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    /* the entry inside a ZIP is the object name without ".zip" */
    char entry[1024];
    size_t blen = strlen(base);
    if (blen >= 4 && strcmp(base + blen - 4, ".zip") == 0)
        blen -= 4;
    if (blen >= sizeof entry)
        blen = sizeof entry - 1;
    memcpy(entry, base, blen);
    entry[blen] = 0;
    return compress_buffer(compression, len ? data : "", len, entry, out);
}

/* Adds an object named (prefix, error_type) for role with the bytes
 * given, compressed by `compression`. */
static int pl_add_object(struct pl_objects *objs, const struct stream_batch *b,
                         const unsigned char *node, const char *bucket, const char *prefix,
                         const char *error_type, int compression, const char *ext,
                         const char *role, const void *extra, size_t extra_len,
                         struct prefix_env *env, const void *data, size_t len,
                         size_t nrecords, const char *kind, char *why, size_t why_len)
{
    char id[37];
    unsigned char seed[PREFIX_SEED_LEN];
    struct buf key;
    struct stream_dest d = b->dest;
    int rc;

    pl_object_id(node, b, role, extra, extra_len, id, seed);
    env->seed = seed;
    d.compression = compression;
    snprintf(d.file_ext, sizeof d.file_ext, "%s", ext ? ext : "");
    buf_init(&key, 4096);
    rc = prefix_object_key_env(&d, prefix, error_type, b->oldest_ms, id, env, &key, why,
                               why_len);
    env->seed = NULL;
    if (rc) {
        buf_free(&key);
        return rc;
    }
    if ((rc = hy_grow((void **)&objs->v, &objs->cap, objs->n + 1, sizeof *objs->v))) {
        buf_free(&key);
        return rc;
    }
    struct pl_object *o = &objs->v[objs->n];
    memset(o, 0, sizeof *o);
    snprintf(o->bucket, sizeof o->bucket, "%s", bucket);
    o->key = buf_detach(&key, NULL);
    o->kind = kind;
    o->nrecords = nrecords;
    buf_init(&o->body, (size_t)1 << 34);
    if (!o->key)
        return HY_ENOMEM;
    if ((rc = pl_compress(compression, o->key, data, len, &o->body))) {
        free(o->key);
        buf_free(&o->body);
        return rc;
    }
    objs->n++;
    return HY_OK;
}

/* Partitions: records with the same keys go together. */
struct pl_group {
    uint32_t *idx;           /* record indices, in order */
    size_t n, cap;
    uint64_t hash;
    size_t bytes;
};

struct pl_key_ctx {
    const struct pl_batch *b;
    const struct pl_rec *r;
};

static const char *pl_key_lookup(void *arg, bool from_lambda, const char *name, size_t *len)
{
    struct pl_key_ctx *k = arg;
    return pl_key_get(k->b, k->r, from_lambda, name, len);
}

static uint64_t pl_keys_hash(const struct pl_batch *b, const struct pl_rec *r)
{
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *q = (const unsigned char *)b->keys.data;
    for (uint32_t i = 0; q && i < r->query.len; i++)
        h = (h ^ q[r->query.off + i]) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (uint32_t i = 0; q && i < r->lambda.len; i++)
        h = (h ^ q[r->lambda.off + i]) * 1099511628211ULL;
    return h;
}

static bool pl_same_keys(const struct pl_batch *b, const struct pl_rec *x, const struct pl_rec *y)
{
    const char *k = b->keys.data;
    return x->query.len == y->query.len && x->lambda.len == y->lambda.len &&
           (!x->query.len || !memcmp(k + x->query.off, k + y->query.off, x->query.len)) &&
           (!x->lambda.len || !memcmp(k + x->lambda.off, k + y->lambda.off, x->lambda.len));
}

/* The error objects: one per error-output type, AWS's error records. */
static int pl_error_objects(struct pl_objects *objs, const struct stream_batch *b,
                            const unsigned char *node, const struct pl_batch *src,
                            const struct pl_batch *fin, struct prefix_env *env,
                            const char *region, char *why, size_t why_len)
{
    const struct pl_fail *f = (const struct pl_fail *)(const void *)fin->fails.data;
    const struct pl_rec *srec = pl_recs(src);
    const char *eprefix = b->dest.error_prefix[0] ? b->dest.error_prefix
                                                  : "!{firehose:error-output-type}/";
    bool *done = calloc(fin->nfail ? fin->nfail : 1, 1);
    int64_t now = hy_now_ms();
    int rc = done ? HY_OK : HY_ENOMEM;
    for (size_t i = 0; i < fin->nfail && rc == HY_OK; i++) {
        if (done[i])
            continue;
        const char *type = f[i].output_type ? f[i].output_type : "processing-failed";
        struct buf body;
        size_t n = 0;
        buf_init(&body, (size_t)1 << 34);
        for (size_t j = i; j < fin->nfail && rc == HY_OK; j++) {
            const char *t = f[j].output_type ? f[j].output_type : "processing-failed";
            if (done[j] || strcmp(t, type))
                continue;
            done[j] = true;
            const struct pl_rec *r = f[j].src < src->n ? &srec[f[j].src] : NULL;
            const json_t *dfc = json_object_get(b->dest.config,
                                                "DataFormatConversionConfiguration");
            struct pl_error_rec er = {
                .schema_config = !strcmp(type, "format-conversion-failed")
                                     ? json_object_get(dfc, "SchemaConfiguration") : NULL,
                .region = region,
                .attempts = f[j].attempts > 0 ? f[j].attempts : 1,
                .arrival_ms = r ? r->arrival_ms : b->oldest_ms,
                .error_code = f[j].error_code,
                .message = f[j].message,
                .ending_ms = now,
                .raw = r ? pl_data(src, r) : NULL,
                .raw_len = r ? r->len : 0,
                .lambda_arn = f[j].lambda_arn,
            };
            rc = pl_error_record(&body, &er);
            n++;
        }
        if (rc == HY_OK) {
            char role[96];
            snprintf(role, sizeof role, "error/%s", type);
            struct prefix_env eenv = *env;
            eenv.dynamic = false;
            rc = pl_add_object(objs, b, node, b->dest.bucket, eprefix, type,
                               b->dest.compression, b->dest.file_ext, role, NULL, 0, &eenv,
                               body.data, body.len, n, "error", why, why_len);
        }
        buf_free(&body);
    }
    free(done);
    return rc;
}

/* The backup of the source records (S3BackupMode Enabled): the batch as
 * put, to S3BackupConfiguration's bucket and prefix. */
static int pl_backup_object(struct pl_objects *objs, const struct stream_batch *b,
                            const unsigned char *node, struct prefix_env *env, char *why,
                            size_t why_len)
{
    static const char s3_arn[] = "arn:aws:s3:::";
    const json_t *bc = json_object_get(b->dest.config, "S3BackupConfiguration");
    const char *arn = json_string_value(json_object_get(bc, "BucketARN"));
    const char *prefix = json_string_value(json_object_get(bc, "Prefix"));
    const char *comp = json_string_value(json_object_get(bc, "CompressionFormat"));
    if (!arn || strncmp(arn, s3_arn, sizeof s3_arn - 1) != 0) {
        snprintf(why, why_len, "S3BackupConfiguration has no usable BucketARN");
        return HY_EINVAL;
    }
    int c = compress_format(comp);
    struct prefix_env benv = *env;
    benv.dynamic = false;
    return pl_add_object(objs, b, node, arn + sizeof s3_arn - 1, prefix ? prefix : "", NULL, c,
                         NULL, "backup", NULL, 0, &benv, b->data.data, b->data.len,
                         b->nrecords, "backup", why, why_len);
}

/* The stream's region, from its ARN arn:aws:firehose:REGION:... */
static void pl_region(const char *arn, char *out, size_t n)
{
    const char *p = arn;
    snprintf(out, n, "%s", hy_cfg.region ? hy_cfg.region : "us-east-1");
    for (int i = 0; i < 3 && p; i++)
        p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
    const char *end = p ? strchr(p, ':') : NULL;
    if (p && end && end > p && (size_t)(end - p) < n)
        snprintf(out, n, "%.*s", (int)(end - p), p);
}

int pipeline_run(const struct stream_batch *b, const unsigned char *node_id,
                 struct pl_objects *out, char *why, size_t why_len)
{
    const struct stream_dest *d = &b->dest;
    const json_t *list = pl_processing(d->config);
    size_t ceiling = (size_t)1 << 31;
    struct pl_batch src, stage[2];
    const struct pl_batch *cur = &src;
    struct pl_group *groups = NULL;
    size_t ngroups = 0, gcap = 0;
    int32_t *slots = malloc(PIPELINE_SLOTS * sizeof *slots);
    struct tz *tz = NULL;
    char region[64];
    const json_t *dfc = json_object_get(d->config, "DataFormatConversionConfiguration");
    int rc;

    memset(out, 0, sizeof *out);
    if (!format_enabled(dfc))
        dfc = NULL;
    if (!slots) {
        snprintf(why, why_len, "out of memory running the pipeline");
        return HY_ENOMEM;
    }
    pl_batch_init(&src, ceiling);
    pl_batch_init(&stage[0], ceiling);
    pl_batch_init(&stage[1], ceiling);
    why[0] = 0;
    if ((rc = pl_batch_from_stream(&src, b))) {
        snprintf(why, why_len, "cannot read the batch's records: %s", hy_strerror(rc));
        goto out_free;
    }
    out->records_in = src.n;
    if (d->time_zone[0] && (rc = tz_load(d->time_zone, &tz))) {
        snprintf(why, why_len, "cannot load CustomTimeZone %s: %s", d->time_zone,
                 hy_strerror(rc));
        goto out_free;
    }
    pl_region(d->arn, region, sizeof region);
    struct pl_ctx ctx = {d, d->arn, region, &src, hy_now_ms()};

    /* the processors, in AWS's order whatever the configuration's order */
    int which = 0;
    for (size_t i = 0; i < processor_count; i++) {
        const json_t *pr = pl_configured(list, processor_table[i]->type);
        if (!pr)
            continue;
        struct pl_param *params;
        size_t nparams;
        if ((rc = pl_params_of(pr, &params, &nparams))) {
            snprintf(why, why_len, "processor %s has unusable parameters",
                     processor_table[i]->type);
            goto out_free;
        }
        struct pl_batch *next = &stage[which];
        pl_batch_free(next);
        pl_batch_init(next, ceiling);
        rc = processor_table[i]->run(params, nparams, &ctx, cur, next);
        if (rc == HY_OK)
            rc = pl_fails_copy(next, cur);
        free(params);
        if (rc) {
            snprintf(why, why_len, "processor %s failed: %s", processor_table[i]->type,
                     hy_strerror(rc));
            goto out_free;
        }
        cur = next;
        which ^= 1;
    }

    /* partitions: with dynamic partitioning, one per distinct set of keys
     * (at most PIPELINE_MAX_PARTITIONS); else one for every record */
    struct pl_batch *fin = (struct pl_batch *)cur;
    const struct pl_rec *recs = pl_recs(fin);
    for (size_t i = 0; i < PIPELINE_SLOTS; i++)
        slots[i] = -1;
    for (size_t i = 0; i < fin->n; i++) {
        uint64_t h = d->dynamic ? pl_keys_hash(fin, &recs[i]) : 0;
        size_t s = (size_t)h & (PIPELINE_SLOTS - 1);
        int32_t g = -1;
        while (slots[s] >= 0) {
            struct pl_group *gr = &groups[slots[s]];
            /* without dynamic partitioning every record is in one object,
             * whatever keys a processor gave it */
            if (!d->dynamic ||
                (gr->hash == h && pl_same_keys(fin, &recs[gr->idx[0]], &recs[i]))) {
                g = slots[s];
                break;
            }
            s = (s + 1) & (PIPELINE_SLOTS - 1);
        }
        if (g < 0 && ngroups >= (size_t)PIPELINE_MAX_PARTITIONS) {
            rc = pl_fail_add(fin, recs[i].src, "DynamicPartitioning.ActivePartitionsLimitExceeded",
                             "activePartitionExceeded", 1, NULL,
                             "The number of active partitions exceeds the limit of %d for the "
                             "delivery stream", PIPELINE_MAX_PARTITIONS);
            recs = pl_recs(fin);
            if (rc)
                goto out_nomem;
            continue;
        }
        if (g < 0) {
            if ((rc = hy_grow((void **)&groups, &gcap, ngroups + 1, sizeof *groups)))
                goto out_nomem;
            g = (int32_t)ngroups++;
            memset(&groups[g], 0, sizeof *groups);
            groups[g].hash = h;
            slots[s] = g;
        }
        struct pl_group *gr = &groups[g];
        if ((rc = hy_grow((void **)&gr->idx, &gr->cap, gr->n + 1, sizeof *gr->idx)))
            goto out_nomem;
        gr->idx[gr->n++] = (uint32_t)i;
        gr->bytes += recs[i].len;
    }

    /* one object per partition */
    struct prefix_env env = {.tz = tz, .tz_name = d->time_zone, .dynamic = d->dynamic,
                             .key = pl_key_lookup};
    for (size_t g = 0; g < ngroups; g++) {
        struct pl_group *gr = &groups[g];
        struct pl_key_ctx kc = {fin, &recs[gr->idx[0]]};
        struct buf body;
        char ewhy[300];
        buf_init(&body, (size_t)1 << 34);
        if (dfc) {
            /* the format stage: the partition's records as one Parquet file
             * (the schema read from the Glue catalog now); records that do
             * not fit it go to the error output */
            struct pl_batch part;
            uint64_t rows = 0;
            pl_batch_init(&part, ceiling);
            for (size_t j = 0; j < gr->n && rc == HY_OK; j++)
                rc = pl_add(&part, fin, &recs[gr->idx[j]], pl_data(fin, &recs[gr->idx[j]]),
                            recs[gr->idx[j]].len);
            if (rc == HY_OK)
                rc = format_run(dfc, &part, &body, fin, &rows, why, why_len);
            recs = pl_recs(fin);
            pl_batch_free(&part);
            if (rc) {
                buf_free(&body);
                if (rc == HY_ENOMEM)
                    goto out_nomem;
                goto out_free; /* a missing table: the batch is tried again */
            }
            if (!rows) {
                buf_free(&body);
                continue; /* every record failed: no object */
            }
        } else {
            if ((rc = buf_reserve(&body, gr->bytes)))
                goto out_nomem;
            for (size_t j = 0; j < gr->n; j++)
                buf_append(&body, pl_data(fin, &recs[gr->idx[j]]), recs[gr->idx[j]].len);
        }
        env.key_arg = &kc;
        const struct pl_rec *r0 = &recs[gr->idx[0]];
        /* the object's id depends on its partition's keys (query keys,
         * 0xff, Lambda keys); without dynamic partitioning on nothing */
        size_t klen = d->dynamic ? (size_t)r0->query.len + 1 + r0->lambda.len : 0;
        char *kbuf = malloc(klen + 1);
        if (!kbuf) {
            buf_free(&body);
            goto out_nomem;
        }
        if (d->dynamic) {
            memcpy(kbuf, fin->keys.data ? fin->keys.data + r0->query.off : "", r0->query.len);
            kbuf[r0->query.len] = (char)0xff;
            memcpy(kbuf + r0->query.len + 1,
                   fin->keys.data ? fin->keys.data + r0->lambda.off : "", r0->lambda.len);
        }
        ewhy[0] = 0;
        rc = pl_add_object(out, b, node_id, d->bucket, d->prefix, NULL, d->compression,
                           d->file_ext, "data", kbuf, klen, &env, body.data, body.len,
                           gr->n, "data", ewhy, sizeof ewhy);
        free(kbuf);
        buf_free(&body);
        if (rc && d->dynamic && rc != HY_ENOMEM) {
            /* the keys do not evaluate the prefix: its records are errors */
            for (size_t j = 0; j < gr->n && rc != HY_ENOMEM; j++) {
                rc = pl_fail_add(fin, recs[gr->idx[j]].src,
                                 "DynamicPartitioning.PrefixEvaluationFailed",
                                 "partitioning-failed", 1, NULL, "%s", ewhy);
                recs = pl_recs(fin);
            }
            if (rc == HY_ENOMEM)
                goto out_nomem;
            continue;
        }
        if (rc) {
            snprintf(why, why_len, "cannot name the object (%s); prefix '%.200s'%s%s",
                     hy_strerror(rc), d->prefix, ewhy[0] ? ": " : "", ewhy);
            goto out_free;
        }
        out->records_out += gr->n;
    }
    out->records_failed = fin->nfail;
    out->records_dropped = out->records_in >= out->records_out + fin->nfail
                               ? out->records_in - out->records_out - fin->nfail : 0;
    if (fin->nfail &&
        (rc = pl_error_objects(out, b, node_id, &src, fin, &env, region, why, why_len)))
        goto out_free;
    if (pl_backup_on(d->config) && (rc = pl_backup_object(out, b, node_id, &env, why, why_len)))
        goto out_free;
    rc = HY_OK;
    goto out_free;

out_nomem:
    rc = HY_ENOMEM;
    snprintf(why, why_len, "out of memory running the pipeline");
out_free:
    for (size_t g = 0; g < ngroups; g++)
        free(groups[g].idx);
    free(groups);
    free(slots);
    tz_free(tz);
    pl_batch_free(&src);
    pl_batch_free(&stage[0]);
    pl_batch_free(&stage[1]);
    if (rc)
        pl_objects_free(out);
    return rc;
}

/* ---- configuration checks ------------------------------------------------ */

static int pl_msg(char *msg, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int pl_msg(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return HY_EINVAL;
}

/* Whether the prefix names a key of that namespace. */
static bool pl_prefix_uses(const char *prefix, const char *ns)
{
    char pat[40];
    snprintf(pat, sizeof pat, "!{%s:", ns);
    return prefix && strstr(prefix, pat);
}

int pipeline_check(const json_t *dest, const char *stream, char *msg, size_t msg_len)
{
    const json_t *proc = json_object_get(dest, "ProcessingConfiguration");
    const json_t *dyn = json_object_get(dest, "DynamicPartitioningConfiguration");
    const json_t *list = json_object_get(proc, "Processors");
    const char *prefix = json_string_value(json_object_get(dest, "Prefix"));
    const char *eprefix = json_string_value(json_object_get(dest, "ErrorOutputPrefix"));
    const char *tzname = json_string_value(json_object_get(dest, "CustomTimeZone"));
    bool dynamic = json_is_true(json_object_get(dyn, "Enabled"));
    struct tz *tz = NULL;
    size_t i;
    const json_t *pr;
    int rc;

    /* every processor is one hydrant runs, once, with parameters it honours */
    json_array_foreach(list, i, pr) {
        const char *type = json_string_value(json_object_get(pr, "Type"));
        if (!type)
            return pl_msg(msg, msg_len, "Processors[%zu] has no Type.", i);
        for (size_t j = i + 1; j < json_array_size(list); j++) {
            const char *other = json_string_value(
                json_object_get(json_array_get(list, j), "Type"));
            if (other && !strcmp(other, type))
                return pl_msg(msg, msg_len,
                              "Processor type %s is specified more than once; each type may "
                              "appear only once in ProcessingConfiguration.", type);
        }
        const struct processor *p = processor_find(type);
        if (!p) {
            char known[256] = "";
            size_t used = 0;
            for (size_t k = 0; k < processor_count && used < sizeof known; k++)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                         k ? ", " : "", processor_table[k]->type);
            return pl_msg(msg, msg_len,
                          "Processor type %s is not supported by this server: its records "
                          "would be delivered unprocessed. Supported here: %s.", type,
                          used ? known : "none");
        }
        struct pl_param *params;
        size_t n;
        if ((rc = pl_params_of(pr, &params, &n)))
            return rc == HY_ENOMEM ? rc
                                   : pl_msg(msg, msg_len,
                                            "Processor %s: every parameter needs a "
                                            "ParameterName and a ParameterValue.", type);
        rc = p->check(params, n, msg, msg_len);
        free(params);
        if (rc)
            return rc;
    }
    bool processing = json_array_size(pl_processing(dest)) > 0;
    bool has_meta = processing && pl_configured(pl_processing(dest), "MetadataExtraction");
    bool has_lambda = processing && pl_configured(pl_processing(dest), "Lambda");

    /* the prefixes first (their syntax), in the stream's zone and with
     * partition keys allowed */
    if (tzname && *tzname && strcmp(tzname, "UTC") != 0 && tz_load(tzname, &tz) != HY_OK)
        return pl_msg(msg, msg_len,
                      "CustomTimeZone %s is not a valid time zone: use an IANA name such as "
                      "Asia/Tokyo or UTC.", tzname);
    const char *ext = json_string_value(json_object_get(dest, "FileExtension"));
    const char *comp = json_string_value(json_object_get(dest, "CompressionFormat"));
    if (!ext || !*ext)
        ext = prefix_compression_ext(compress_format(comp));
    struct prefix_env env = {.tz = tz, .tz_name = tzname, .dynamic = dynamic};
    rc = prefix_check_config_env(stream, prefix, eprefix, ext, &env, msg, msg_len);
    tz_free(tz);
    if (rc)
        return rc;

    if (json_is_object(dyn)) {
        const json_t *retry = json_object_get(json_object_get(dyn, "RetryOptions"),
                                              "DurationInSeconds");
        if (retry && (!json_is_integer(retry) || json_integer_value(retry) < 0 ||
                      json_integer_value(retry) > 7200))
            return pl_msg(msg, msg_len,
                          "1 validation error detected: Value at "
                          "'dynamicPartitioningConfiguration.retryOptions.durationInSeconds' "
                          "failed to satisfy constraint: Member must have value between 0 "
                          "and 7200");
    }
    if (dynamic) {
        const json_t *hints = json_object_get(dest, "BufferingHints");
        const json_t *size = json_object_get(hints, "SizeInMBs");
        const json_t *interval = json_object_get(hints, "IntervalInSeconds");
        if (json_is_integer(size) && json_integer_value(size) < 64)
            return pl_msg(msg, msg_len,
                          "BufferingHints.SizeInMBs must be at least 64 when dynamic "
                          "partitioning is enabled (got %lld).",
                          (long long)json_integer_value(size));
        if (json_is_integer(interval) && json_integer_value(interval) < 60)
            return pl_msg(msg, msg_len,
                          "BufferingHints.IntervalInSeconds must be at least 60 when dynamic "
                          "partitioning is enabled: zero buffering is not available with "
                          "dynamic partitioning (got %lld).",
                          (long long)json_integer_value(interval));
        if (!eprefix || !*eprefix)
            return pl_msg(msg, msg_len,
                          "ErrorOutputPrefix cannot be null or empty when dynamic partitioning "
                          "is enabled.");
        if (!pl_prefix_uses(prefix, "partitionKeyFromQuery") &&
            !pl_prefix_uses(prefix, "partitionKeyFromLambda"))
            return pl_msg(msg, msg_len,
                          "When dynamic partitioning is enabled, Prefix must contain at least "
                          "one !{partitionKeyFromQuery:...} or !{partitionKeyFromLambda:...} "
                          "expression.");
        if (pl_prefix_uses(prefix, "partitionKeyFromQuery") && !has_meta)
            return pl_msg(msg, msg_len,
                          "Prefix uses partitionKeyFromQuery, which needs an enabled "
                          "MetadataExtraction processor in ProcessingConfiguration.");
        if (pl_prefix_uses(prefix, "partitionKeyFromLambda") && !has_lambda)
            return pl_msg(msg, msg_len,
                          "Prefix uses partitionKeyFromLambda, which needs an enabled Lambda "
                          "processor in ProcessingConfiguration.");
    } else if (has_meta) {
        return pl_msg(msg, msg_len,
                      "The MetadataExtraction processor extracts partition keys and is only "
                      "available when dynamic partitioning is enabled "
                      "(DynamicPartitioningConfiguration.Enabled true).");
    }
    const char *mode = json_string_value(json_object_get(dest, "S3BackupMode"));
    if (mode && !strcmp(mode, "Enabled") &&
        !json_is_object(json_object_get(dest, "S3BackupConfiguration")))
        return pl_msg(msg, msg_len,
                      "S3BackupConfiguration is required when S3BackupMode is Enabled.");

    return HY_OK;
}
