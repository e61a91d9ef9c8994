/* fuzz_parquet.c -- libFuzzer target for the JSON -> row path and the
 * Parquet writer (format.c's format_convert, parquet.c), and for the Hive
 * type parser (glue.c's glue_type_parse).
 *
 * Input layout: one flags byte, one schema byte, then JSON lines (each
 * line one record; a record may hold several JSON values).
 *   flags bits 0-1: codec (0 UNCOMPRESSED, 1 SNAPPY, 2 GZIP, 3 SNAPPY)
 *   flags bit 2:    WriterVersion V2
 *   flags bit 3:    EnableDictionaryCompression
 *   flags bit 4:    tiny sizes: 2 KiB row groups, 1 KiB pages (many of each)
 *   flags bit 5:    HiveJsonSerDe (with TimestampFormats "millis" and
 *                   "dd/MM/yyyy HH:mm:ss"), else OpenX
 *   flags bit 6:    OpenX ConvertDotsInJsonKeysToUnderscores
 *   flags bit 7:    OpenX CaseInsensitive false
 *   schema byte:    one of the fixed schemas below (mod their count); 255:
 *                   the first line is the schema itself, a Hive type string
 *                   (fuzzing glue_type_parse; used when it is a struct).
 *
 * Oracle: never a crash, leak or UB (ASan + UBSan); format.c's JSON
 * scanner and jansson agree on every record (format_scan_check: both
 * refuse it, or the same tree ending at the same byte); every record is either
 * kept as rows or listed in the failures with format-conversion-failed;
 * when rows were kept, the output is a Parquet file whose structure an
 * independent walk accepts: "PAR1" at both ends, a footer length that fits,
 * the footer a complete Thrift compact struct ending exactly at the
 * length, FileMetaData.num_rows equal to the rows kept, and each row
 * group's column chunks' page headers walking within the file. The walk is
 * this harness's own Thrift reader, not parquet.c's writer.
 */
#define _GNU_SOURCE
#include "format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hy_config hy_cfg = {.region = "us-east-1", .data_dir = "/nonexistent"};

/* pipeline.c's processor lookup is not reached (processors.c is not
 * linked); nor is glue.c's HTTP entry. These satisfy the linker. */
const struct processor *const processor_table[] = {NULL};
const size_t processor_count = 0;

void http_add_header(struct http_req *req, const char *name, const char *value)
{
    (void)req, (void)name, (void)value;
}
void http_reply(struct http_req *req, int status, const char *content_type, const void *body,
                size_t len)
{
    (void)req, (void)status, (void)content_type, (void)body, (void)len;
}

static const char *const schemas[] = {
    ("struct<s:string,c:char(3),v:varchar(4),b:boolean,ti:tinyint,si:smallint,i:int,"
     "bi:bigint,f:float,d:double,dec:decimal(10,2),dec18:decimal(18,4),dec2:decimal(38,6),"
     "dt:date,ts:timestamp,bin:binary>"),
    "struct<vehicle_id:string,lat:double,lon:double,speed:float,timestamp:timestamp>",
    "struct<a:struct<b:array<struct<c:map<string,array<int>>,d:string>>>,e:array<array<bigint>>>",
    ("struct<m:map<int,struct<x:decimal(5,2),y:array<boolean>>>,k:map<date,string>,"
     "t:map<timestamp,double>>"),
};

/* ---- an independent Thrift compact walker --------------------------------- */

struct rd {
    const uint8_t *p, *end;
    int depth;
};

static int rd_byte(struct rd *r, uint8_t *b)
{
    if (r->p >= r->end)
        return -1;
    *b = *r->p++;
    return 0;
}

static int rd_varint(struct rd *r, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        uint8_t b;
        if (rd_byte(r, &b))
            return -1;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

static int skip_value(struct rd *r, int type, int64_t *ival);

/* Walks a struct; *want_field / *want_value: the i64/i32 value of field
 * want (of this struct) if present. */
static int skip_struct(struct rd *r, int want, int64_t *want_value)
{
    int16_t last = 0;
    if (++r->depth > 64)
        return -1;
    for (;;) {
        uint8_t b;
        if (rd_byte(r, &b))
            return -1;
        if (b == 0)
            break;
        int type = b & 15, delta = b >> 4;
        int id;
        if (delta) {
            id = last + delta;
        } else {
            uint64_t z;
            if (rd_varint(r, &z))
                return -1;
            id = (int)((z >> 1) ^ -(int64_t)(z & 1));
        }
        last = (int16_t)id;
        int64_t v = 0;
        if (skip_value(r, type, &v))
            return -1;
        if (id == want && want_value)
            *want_value = v;
    }
    r->depth--;
    return 0;
}

static int skip_value(struct rd *r, int type, int64_t *ival)
{
    uint64_t v;
    uint8_t b;
    switch (type) {
    case 1: case 2: return 0; /* bool in the type */
    case 3: return rd_byte(r, &b);
    case 4: case 5: case 6:
        if (rd_varint(r, &v))
            return -1;
        *ival = (int64_t)((v >> 1) ^ -(v & 1));
        return 0;
    case 7:
        if (r->end - r->p < 8)
            return -1;
        r->p += 8;
        return 0;
    case 8:
        if (rd_varint(r, &v) || v > (uint64_t)(r->end - r->p))
            return -1;
        r->p += v;
        return 0;
    case 9: case 10: {
        if (rd_byte(r, &b))
            return -1;
        uint64_t n = b >> 4;
        int et = b & 15;
        if (n == 15 && rd_varint(r, &n))
            return -1;
        if (n > (uint64_t)(r->end - r->p) + 1)
            return -1;
        for (uint64_t i = 0; i < n; i++) {
            int64_t x;
            if (et == 1 || et == 2) {
                if (rd_byte(r, &b))
                    return -1;
            } else if (skip_value(r, et, &x)) {
                return -1;
            }
        }
        return 0;
    }
    case 12: return skip_struct(r, -1, NULL);
    default: return -1;
    }
}

static void check_file(const uint8_t *f, size_t n, uint64_t rows)
{
    if (n < 12 || memcmp(f, "PAR1", 4) || memcmp(f + n - 4, "PAR1", 4))
        abort();
    uint32_t flen = (uint32_t)f[n - 8] | (uint32_t)f[n - 7] << 8 | (uint32_t)f[n - 6] << 16 |
                    (uint32_t)f[n - 5] << 24;
    if (flen > n - 12)
        abort();
    struct rd r = {.p = f + n - 8 - flen, .end = f + n - 8};
    int64_t num_rows = -1;
    if (skip_struct(&r, 3, &num_rows) || r.p != r.end)
        abort();
    if (num_rows != (int64_t)rows)
        abort();
    /* the data area: page headers, one after another, from byte 4 to the
     * footer (the writer leaves no gaps) */
    struct rd pg = {.p = f + 4, .end = f + n - 8 - flen};
    while (pg.p < pg.end) {
        int64_t compressed = -1;
        if (skip_struct(&pg, 3, &compressed) || compressed < 0 ||
            compressed > pg.end - pg.p)
            abort();
        pg.p += compressed;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t flags = data[0], which = data[1];
    const char *text = (const char *)data + 2;
    size_t len = size - 2;
    char msg[256];
    struct glue_type top = {0};
    struct glue_schema schema = {0};
    if (which == 255) {
        const char *nl = memchr(text, '\n', len);
        size_t tl = nl ? (size_t)(nl - text) : len;
        char *ts = strndup(text, tl);
        if (!ts)
            return 0;
        int rc = glue_type_parse(ts, &top, msg, sizeof msg);
        free(ts);
        if (rc || top.kind != GLUE_STRUCT || top.nchild == 0) {
            if (!rc)
                glue_type_free(&top);
            return 0;
        }
        text += tl + (nl ? 1 : 0);
        len -= tl + (nl ? 1 : 0);
    } else if (glue_type_parse(schemas[which % (sizeof schemas / sizeof schemas[0])], &top, msg,
                               sizeof msg)) {
        abort();
    }
    schema.ncols = top.nchild;
    schema.cols = top.child;

    struct format_params p = {0};
    p.pq.codec = (flags & 3) == 2 ? PQ_GZIP : (flags & 3) == 0 ? PQ_UNCOMPRESSED : PQ_SNAPPY;
    p.pq.writer_version = flags & 4 ? 2 : 1;
    p.pq.dictionary = flags & 8;
    p.pq.block_size = flags & 16 ? 2048 : 64u << 20;
    p.pq.page_size = flags & 16 ? 1024 : 1u << 20;
    p.hive = flags & 32;
    json_t *tf = json_pack("[s,s]", "millis", "dd/MM/yyyy HH:mm:ss");
    p.timestamp_formats = p.hive ? tf : NULL;
    p.dots_to_underscores = flags & 64;
    p.case_insensitive = !(flags & 128);

    struct pl_batch in, fails;
    pl_batch_init(&in, 1u << 24);
    pl_batch_init(&fails, 1u << 24);
    struct pl_rec like = {0};
    size_t off = 0;
    while (off <= len) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t l = nl ? (size_t)(nl - (text + off)) : len - off;
        like.src = (uint32_t)in.n;
        if (format_scan_check(text + off, l))
            abort();
        if (pl_add(&in, &in, &like, text + off, l))
            break;
        off += l + 1;
        if (!nl)
            break;
    }
    struct buf out;
    buf_init(&out, 1u << 26);
    uint64_t rows = 0;
    int rc = format_convert(&schema, &p, &in, &out, &fails, &rows);
    if (rc == HY_OK) {
        if (rows)
            check_file((const uint8_t *)out.data, out.len, rows);
        else if (out.len)
            abort();
        /* every record is accounted for: kept (some rows) or failed */
        if (fails.nfail > in.n)
            abort();
        const struct pl_fail *fl = (const struct pl_fail *)(void *)fails.fails.data;
        for (size_t i = 0; i < fails.nfail; i++)
            if (strcmp(fl[i].output_type, FORMAT_OUTPUT_TYPE) || fl[i].src >= in.n)
                abort();
    } else if (rc != HY_ENOMEM && rc != HY_ETOOBIG) {
        abort();
    }
    buf_free(&out);
    pl_batch_free(&in);
    pl_batch_free(&fails);
    json_decref(tf);
    glue_type_free(&top);
    return 0;
}
