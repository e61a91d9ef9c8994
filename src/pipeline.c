/* pipeline.c -- records in flight between the pipeline's stages (the
 * struct pl_batch of pipeline.h), the processor table's lookup, a run's
 * objects and AWS's error record. The run itself is pipeline_run.c.
 *
 * A batch is three growable buffers (record bytes, struct pl_rec per
 * record, partition keys) and a list of failed records; every append is
 * checked against the ceiling given at init, so a processor that expands
 * records (decompression, deaggregation, a Lambda) cannot take unbounded
 * memory: it gets HY_ETOOBIG and fails the batch's records instead.
 *
 * Threading: a batch belongs to the worker that made it; nothing here is
 * shared.
 */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pl_batch_init(struct pl_batch *b, size_t ceiling)
{
    memset(b, 0, sizeof *b);
    buf_init(&b->data, ceiling);
    /* the record table and the keys are bounded by the records' count,
     * which the data's ceiling bounds (empty records aside) */
    buf_init(&b->recs, (size_t)-1 / 2);
    buf_init(&b->keys, (size_t)-1 / 2);
    buf_init(&b->fails, (size_t)-1 / 2);
}

void pl_batch_free(struct pl_batch *b)
{
    struct pl_fail *f = (struct pl_fail *)(void *)b->fails.data;
    for (size_t i = 0; i < b->nfail; i++)
        free(f[i].message);
    buf_free(&b->data);
    buf_free(&b->recs);
    buf_free(&b->keys);
    buf_free(&b->fails);
    b->n = b->nfail = 0;
}

static int pl_copy_keys(struct pl_batch *out, const struct pl_batch *in, struct pl_keys *dst,
                        const struct pl_keys *src)
{
    dst->off = dst->len = 0;
    if (!src->len)
        return HY_OK;
    if (out->keys.len > UINT32_MAX - src->len)
        return HY_ETOOBIG;
    /* in may be out: the source bytes move when keys grows */
    int rc = buf_reserve(&out->keys, src->len);
    if (rc)
        return rc;
    uint32_t off = (uint32_t)out->keys.len;
    memmove(out->keys.data + off, in->keys.data + src->off, src->len);
    out->keys.len += src->len;
    out->keys.data[out->keys.len] = 0;
    dst->off = off;
    dst->len = src->len;
    return HY_OK;
}

int pl_add(struct pl_batch *out, const struct pl_batch *in, const struct pl_rec *like,
           const void *data, size_t len)
{
    if (len > UINT32_MAX)
        return HY_ETOOBIG;
    struct pl_rec r = *like;
    int rc;
    if ((rc = pl_copy_keys(out, in, &r.query, &like->query)) ||
        (rc = pl_copy_keys(out, in, &r.lambda, &like->lambda)))
        return rc;
    r.off = out->data.len;
    r.len = (uint32_t)len;
    if ((rc = buf_append(&out->data, len ? data : "", len)) ||
        (rc = buf_append(&out->recs, &r, sizeof r)))
        return rc;
    out->n++;
    return HY_OK;
}

int pl_batch_from_stream(struct pl_batch *out, const struct stream_batch *sb)
{
    const uint32_t *lens = (const uint32_t *)(void *)(sb->lens.data ? sb->lens.data : "");
    size_t off = 0;
    int rc = buf_reserve(&out->data, sb->data.len);
    if (rc == HY_OK)
        rc = buf_reserve(&out->recs, sb->nrecords * sizeof(struct pl_rec));
    for (size_t i = 0; i < sb->nrecords && rc == HY_OK; i++) {
        if (lens[i] > sb->data.len - off)
            return HY_EINVAL; /* lengths and bytes disagree */
        struct pl_rec like = {.src = (uint32_t)i, .arrival_ms = sb->oldest_ms};
        rc = pl_add(out, out, &like, sb->data.data + off, lens[i]);
        off += lens[i];
    }
    return rc;
}

int pl_set_keys(struct pl_batch *b, struct pl_rec *rec, bool from_lambda,
                const char *const *names, const char *const *values, size_t n)
{
    struct pl_keys *k = from_lambda ? &rec->lambda : &rec->query;
    size_t start = b->keys.len;
    int rc = HY_OK;
    for (size_t i = 0; i < n && rc == HY_OK; i++) {
        rc = buf_append(&b->keys, names[i], strlen(names[i]) + 1);
        if (rc == HY_OK)
            rc = buf_append(&b->keys, values[i], strlen(values[i]) + 1);
    }
    if (rc || b->keys.len - start > UINT32_MAX || start > UINT32_MAX) {
        b->keys.len = start;
        return rc ? rc : HY_ETOOBIG;
    }
    k->off = (uint32_t)start;
    k->len = (uint32_t)(b->keys.len - start);
    return HY_OK;
}

const char *pl_key_get(const struct pl_batch *b, const struct pl_rec *rec, bool from_lambda,
                       const char *name, size_t *len)
{
    const struct pl_keys *k = from_lambda ? &rec->lambda : &rec->query;
    const char *p = b->keys.data ? b->keys.data + k->off : NULL, *end = p ? p + k->len : NULL;
    while (p && p < end) {
        const char *value = p + strlen(p) + 1;
        if (value >= end)
            break;
        if (!strcmp(p, name)) {
            if (len)
                *len = strlen(value);
            return value;
        }
        p = value + strlen(value) + 1;
    }
    return NULL;
}

int pl_fail_add(struct pl_batch *out, uint32_t src, const char *error_code,
                const char *output_type, int attempts, const char *lambda_arn,
                const char *fmt, ...)
{
    struct pl_fail f = {src, error_code, NULL, output_type, attempts, lambda_arn};
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&f.message, fmt, ap);
    va_end(ap);
    if (n < 0)
        return HY_ENOMEM;
    int rc = buf_append(&out->fails, &f, sizeof f);
    if (rc) {
        free(f.message);
        return rc;
    }
    out->nfail++;
    return HY_OK;
}

int pl_fails_copy(struct pl_batch *out, const struct pl_batch *in)
{
    const struct pl_fail *f = (const struct pl_fail *)(const void *)in->fails.data;
    for (size_t i = 0; i < in->nfail; i++) {
        int rc = pl_fail_add(out, f[i].src, f[i].error_code, f[i].output_type, f[i].attempts,
                             f[i].lambda_arn, "%s", f[i].message ? f[i].message : "");
        if (rc)
            return rc;
    }
    return HY_OK;
}

const char *pl_param_get(const struct pl_param *p, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (p[i].name && !strcmp(p[i].name, name))
            return p[i].value;
    return NULL;
}

const struct processor *processor_find(const char *type)
{
    for (size_t i = 0; type && i < processor_count; i++)
        if (!strcmp(processor_table[i]->type, type))
            return processor_table[i];
    return NULL;
}

void pl_objects_free(struct pl_objects *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->v[i].key);
        buf_free(&o->v[i].body);
    }
    free(o->v);
    memset(o, 0, sizeof *o);
}

/* A JSON string of s with every byte that is not valid UTF-8 replaced by
 * U+FFFD: messages come from functions and from records' bytes. */
static json_t *pl_json_text(const char *s)
{
    struct buf b;
    buf_init(&b, (size_t)-1 / 2);
    for (s = s ? s : ""; *s;) {
        size_t n = utf8_char_len(s);
        if (buf_append(&b, n ? s : "\xef\xbf\xbd", n ? n : 3)) {
            buf_free(&b);
            return NULL;
        }
        s += n ? n : 1;
    }
    json_t *j = json_stringn(b.data ? b.data : "", b.len);
    buf_free(&b);
    return j;
}

int pl_error_record(struct buf *out, const struct pl_error_rec *r)
{
    json_t *o = json_object();
    char *b64 = malloc(base64_encoded_len(r->raw_len) + 1);
    int rc = HY_ENOMEM;
    if (!o || !b64)
        goto out_free;
    base64_encode(b64, r->raw_len ? r->raw : "", r->raw_len);
    if (json_object_set_new(o, "attemptsMade", json_integer(r->attempts)) ||
        json_object_set_new(o, "arrivalTimestamp", json_integer(r->arrival_ms)) ||
        json_object_set_new(o, r->schema_config ? "ErrorCode" : "errorCode",
                            pl_json_text(r->error_code)) ||
        json_object_set_new(o, r->schema_config ? "ErrorMessage" : "errorMessage",
                            pl_json_text(r->message)) ||
        json_object_set_new(o, "attemptEndingTimestamp", json_integer(r->ending_ms)) ||
        (r->stream && json_object_set_new(o, "deliveryStreamName", pl_json_text(r->stream))) ||
        json_object_set_new(o, "rawData", json_string(b64)) ||
        (r->lambda_arn && json_object_set_new(o, "lambdaArn", pl_json_text(r->lambda_arn))))
        goto out_free;
    if (r->schema_config) {
        /* AWS's record-format-conversion error record */
        const json_t *sc = r->schema_config;
        const char *cat = json_string_value(json_object_get(sc, "CatalogId"));
        const char *reg = json_string_value(json_object_get(sc, "Region"));
        const char *ver = json_string_value(json_object_get(sc, "VersionId"));
        char arn[128];
        snprintf(arn, sizeof arn, "arn:aws:glue:%s:%s:catalog", reg ? reg : r->region,
                 cat ? cat : HY_ACCOUNT_ID);
        json_t *t = json_pack("{s:s, s:s?, s:s?, s:s, s:s, s:s}", "catalogId",
                              cat ? cat : HY_ACCOUNT_ID, "databaseName",
                              json_string_value(json_object_get(sc, "DatabaseName")),
                              "tableName", json_string_value(json_object_get(sc, "TableName")),
                              "region", reg ? reg : r->region, "versionId",
                              ver ? ver : "LATEST", "catalogArn", arn);
        if (!t || json_object_set_new(o, "dataCatalogTable", t))
            goto out_free;
    }
    /* messages are ours or a function's: not always valid UTF-8 */
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (!line)
        goto out_free;
    rc = buf_puts(out, line);
    if (rc == HY_OK)
        rc = buf_append(out, "\n", 1);
    free(line);
out_free:
    free(b64);
    json_decref(o);
    return rc;
}

