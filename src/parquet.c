/* parquet.c -- a Parquet writer: JSON rows shredded by a Glue (Hive)
 * schema into column chunks, written to the Apache Parquet format
 * (apache/parquet-format: Parquet.md, Encodings.md, LogicalTypes.md and
 * parquet.thrift), with its footer in the Thrift compact protocol.
 *
 * Why it is hand-written: Debian 12 packages no Parquet library (no
 * Arrow, no parquet-mr), and Firehose's record format conversion is the
 * reason many use Firehose. Every file it writes is read back in the tests
 * by independent readers (DuckDB, hyparquet), never by this code.
 *
 * Input: rows as struct pq_jv trees (parquet.h), the JSON values format.c's
 * scanner builds; a struct pq_reader says how a field finds its member and
 * how a timestamp reads (the SerDe's rules live in format.c, not here).
 *
 * Design. A writer keeps, per leaf column, the definition levels, the
 * repetition levels and the PLAIN bytes of the non-null values of the row
 * group being built (Dremel's shredding: each optional node on the path
 * adds one definition level, each repeated node one repetition level).
 * A row is shredded at once; a value that does not convert ends the row
 * with HY_EINVAL and every column is cut back to where the row began, so
 * a record that does not fit leaves nothing behind. When the buffered
 * values reach block_size the row group is written: per column, a
 * dictionary is built when enabled (and kept only when it fits in one
 * page and has fewer entries than values), the values are cut into pages
 * of about page_size at row boundaries (a page always starts at
 * repetition level 0, so V2's num_rows is exact), pages are compressed,
 * and statistics are computed over the chunk.
 *
 * Byte-exact, what is written:
 *
 *   file     = "PAR1" row_group* footer le32(len(footer)) "PAR1"
 *   row_group= column_chunk* (the leaves in schema order)
 *   chunk    = [dictionary_page] data_page+
 *   page     = PageHeader (Thrift compact) body
 *   dictionary_page body = compress(PLAIN values); PageHeader type 2,
 *              dictionary_page_header{num_values, encoding PLAIN_DICTIONARY (2)
 *              for V1, PLAIN (0) for V2}
 *   V1 data page (type 0) body = compress(
 *              [le32 len, RLE-hybrid rep levels]  when max_rep > 0
 *              [le32 len, RLE-hybrid def levels]  when max_def > 0
 *              values)
 *        DataPageHeader{num_values = level entries, encoding PLAIN (0) or
 *              PLAIN_DICTIONARY (2), definition/repetition_level_encoding RLE (3)}
 *   V2 data page (type 3) body = RLE-hybrid rep levels, RLE-hybrid def
 *              levels (neither compressed nor length-prefixed; their
 *              lengths are in the header), compress(values)
 *        DataPageHeaderV2{num_values, num_nulls, num_rows, encoding PLAIN (0)
 *              or RLE_DICTIONARY (8), definition_levels_byte_length,
 *              repetition_levels_byte_length, is_compressed = codec != NONE}
 *   values   PLAIN: BOOLEAN bit-packed LSB first; INT32/INT64/FLOAT/DOUBLE
 *              little-endian; BYTE_ARRAY le32 length + bytes;
 *              FIXED_LEN_BYTE_ARRAY the bytes (decimal: big-endian two's
 *              complement). Dictionary indices: one byte bit width, then
 *              RLE-hybrid indices.
 *   RLE-hybrid = run*; run = varint(n << 1) value(ceil(bw/8) bytes LE)
 *              for n >= 8 equal values, else varint(groups << 1 | 1) and
 *              groups * 8 values bit-packed LSB first (the last group
 *              padded with zeros).
 *   compress = nothing (UNCOMPRESSED, 0), raw snappy block (SNAPPY, 1),
 *              gzip member, zlib level 6 (GZIP, 2).
 *   footer   = FileMetaData{1 version = 1, 2 schema, 3 num_rows,
 *              4 row_groups, 6 created_by "hydrant version 0.1.0",
 *              7 column_orders = TYPE_ORDER per leaf}
 *   RowGroup{1 columns, 2 total_byte_size (uncompressed), 3 num_rows,
 *              5 file_offset, 6 total_compressed_size, 7 ordinal}
 *   ColumnChunk{2 file_offset (its first page), 3 ColumnMetaData{1 type,
 *              2 encodings, 3 path_in_schema, 4 codec, 5 num_values,
 *              6 total_uncompressed_size, 7 total_compressed_size,
 *              9 data_page_offset, 11 dictionary_page_offset (when one),
 *              12 Statistics{3 null_count, 5 max_value, 6 min_value}}}
 *              (min/max: PLAIN bytes of the values, without a length
 *              prefix; omitted when a chunk has no non-null, non-NaN
 *              value or a byte-array extreme passes 1 KiB; signed order
 *              for integers and decimals, unsigned bytes for strings and
 *              binary, -0.0 as min and +0.0 as max for zeros)
 *
 * Schema (Hive type -> Parquet; every column and field OPTIONAL):
 *   string, char(n), varchar(n)  BYTE_ARRAY  STRING (UTF8)
 *   boolean BOOLEAN; tinyint / smallint INT32 INTEGER(8|16, signed)
 *   (INT_8 | INT_16); int INT32; bigint INT64; float FLOAT; double DOUBLE
 *   decimal(p,s)  INT32 (p <= 9), INT64 (p <= 18), else
 *                 FIXED_LEN_BYTE_ARRAY(minimal bytes); DECIMAL(s, p)
 *   date      INT32 DATE;  timestamp INT64 TIMESTAMP(MILLIS, not adjusted
 *             to UTC) (TIMESTAMP_MILLIS)   [AWS's Hive writer uses INT96]
 *   binary    BYTE_ARRAY
 *   struct<>  group;  array<T> the three-level LIST
 *             (group (LIST) { repeated group list { optional T element } })
 *   map<K,V>  group (MAP) { repeated group key_value { required K key;
 *             optional V value } }
 *
 * Memory: every buffer is bounded by the output's ceiling (out->max); a
 * row group is held until block_size, so a writer holds at most about
 * block_size + one row of column data plus the file being built.
 *
 * Threading: a writer belongs to one thread; writers share nothing.
 */
#include "parquet.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Parquet's enums (parquet.thrift) */
enum { T_BOOLEAN = 0, T_INT32 = 1, T_INT64 = 2, T_FLOAT = 4, T_DOUBLE = 5, T_BYTE_ARRAY = 6,
       T_FLBA = 7 };
enum { REP_REQUIRED = 0, REP_OPTIONAL = 1, REP_REPEATED = 2 };
enum { CT_UTF8 = 0, CT_MAP = 1, CT_LIST = 3, CT_DECIMAL = 5, CT_DATE = 6,
       CT_TIMESTAMP_MILLIS = 9, CT_INT_8 = 15, CT_INT_16 = 16 };
enum { ENC_PLAIN = 0, ENC_PLAIN_DICTIONARY = 2, ENC_RLE = 3, ENC_RLE_DICTIONARY = 8 };
enum { PAGE_DATA = 0, PAGE_DICTIONARY = 2, PAGE_DATA_V2 = 3 };
/* Thrift compact types */
enum { TC_TRUE = 1, TC_FALSE = 2, TC_BYTE = 3, TC_I16 = 4, TC_I32 = 5, TC_I64 = 6,
       TC_BINARY = 8, TC_LIST = 9, TC_STRUCT = 12 };

#define PQ_MAX_STAT 1024
#define PQ_MAX_LEVEL 250

/* ---- Thrift compact protocol writer ----------------------------------- */

struct tw {
    struct buf *b;
    int16_t last[GLUE_MAX_DEPTH * 3 + 16];
    int depth;
    int rc;
};

static void tw_byte(struct tw *t, uint8_t v)
{
    if (!t->rc)
        t->rc = buf_append(t->b, &v, 1);
}

static void tw_varint(struct tw *t, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        tmp[n++] = c | (v ? 0x80 : 0);
    } while (v);
    if (!t->rc)
        t->rc = buf_append(t->b, tmp, n);
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static void tw_field(struct tw *t, int id, int type)
{
    int delta = id - t->last[t->depth];
    if (delta > 0 && delta <= 15) {
        tw_byte(t, (uint8_t)(delta << 4 | type));
    } else {
        tw_byte(t, (uint8_t)type);
        tw_varint(t, zigzag(id));
    }
    t->last[t->depth] = (int16_t)id;
}

static void tw_i32(struct tw *t, int id, int32_t v)
{
    tw_field(t, id, TC_I32);
    tw_varint(t, zigzag(v));
}

static void tw_i64(struct tw *t, int id, int64_t v)
{
    tw_field(t, id, TC_I64);
    tw_varint(t, zigzag(v));
}

static void tw_i8(struct tw *t, int id, int8_t v)
{
    tw_field(t, id, TC_BYTE);
    tw_byte(t, (uint8_t)v);
}

static void tw_bool(struct tw *t, int id, bool v)
{
    tw_field(t, id, v ? TC_TRUE : TC_FALSE);
}

static void tw_bin(struct tw *t, int id, const void *p, size_t n)
{
    tw_field(t, id, TC_BINARY);
    tw_varint(t, n);
    if (!t->rc && n)
        t->rc = buf_append(t->b, p, n);
}

static void tw_begin(struct tw *t) /* a struct value: a new field-id scope */
{
    if (t->depth + 1 >= (int)(sizeof t->last / sizeof t->last[0])) {
        t->rc = HY_EINVAL;
        return;
    }
    t->last[++t->depth] = 0;
}

static void tw_end(struct tw *t)
{
    tw_byte(t, 0);
    if (t->depth > 0)
        t->depth--;
}

static void tw_struct(struct tw *t, int id)
{
    tw_field(t, id, TC_STRUCT);
    tw_begin(t);
}

static void tw_list(struct tw *t, int id, int elem_type, size_t n)
{
    tw_field(t, id, TC_LIST);
    if (n < 15) {
        tw_byte(t, (uint8_t)(n << 4 | elem_type));
    } else {
        tw_byte(t, (uint8_t)(0xf0 | elem_type));
        tw_varint(t, n);
    }
}

/* list elements */
static void tw_elem_i32(struct tw *t, int32_t v)
{
    tw_varint(t, zigzag(v));
}

static void tw_elem_bin(struct tw *t, const char *s)
{
    size_t n = strlen(s);
    tw_varint(t, n);
    if (!t->rc && n)
        t->rc = buf_append(t->b, s, n);
}

/* ---- the schema, as a tree with levels --------------------------------- */

struct pq_node {
    const struct glue_type *t;
    const char *name;            /* Parquet name: column, field, "element", "key", "value" */
    int def;                     /* definition level when this node is present */
    int rep;                     /* repetition level of its innermost repeated ancestor
                                    (for list/map: of its own repeated group) */
    int leaf;                    /* leaf index, or -1 */
    int first_leaf, nleaves;
    bool required;               /* map keys */
    struct pq_node *child;       /* struct: fields; array: 1; map: key, value */
    size_t nchild;
};

struct pq_stat {                 /* a column chunk's, kept until the footer */
    unsigned char *min, *max;
    size_t min_len, max_len;
    int64_t null_count;
    bool has_minmax;
};

struct pq_chunk {
    int64_t num_values, uncompressed, compressed, data_off, dict_off, first_off;
    bool dict;
    struct pq_stat st;
};

struct pq_leaf {
    const struct glue_type *t;
    int ptype, type_len;
    int max_def, max_rep;
    const char **path;           /* path_in_schema */
    size_t npath;
    struct buf def, rep;         /* one byte per level entry */
    struct buf vals;             /* PLAIN bytes (booleans: one byte each) */
    size_t nlevels, nvals;
};

struct pq_rowgroup {
    int64_t num_rows, total_bytes, total_compressed, file_offset;
    struct pq_chunk *chunks;     /* one per leaf */
};

struct pq_writer {
    const struct glue_schema *schema;
    struct pq_options opt;
    struct pq_reader rd;
    struct buf *out;
    struct pq_node *cols;        /* one per column */
    struct pq_leaf *leaves;
    size_t nleaves;
    struct pq_rowgroup *groups;
    size_t ngroups, groups_cap;
    uint64_t rows_total, rows_group;
    size_t group_bytes;          /* values + levels buffered */
    struct buf page, zbuf, lv;   /* scratch */
    bool started, broken;
};

static void node_free(struct pq_node *n)
{
    for (size_t i = 0; i < n->nchild; i++)
        node_free(&n->child[i]);
    free(n->child);
}

static int decimal_bytes(int precision)
{
    /* smallest n with 2^(8n-1) > 10^p */
    int n = 1;
    double lim = pow(10.0, precision);
    while (ldexp(1.0, 8 * n - 1) <= lim)
        n++;
    return n;
}

/* Counts leaves and sets levels; leaves are numbered in schema order. */
static int node_build(struct pq_writer *w, struct pq_node *n, const struct glue_type *t,
                      const char *name, int def_parent, int rep_parent, bool required,
                      int *next_leaf, int depth)
{
    n->t = t;
    n->name = name;
    n->required = required;
    n->def = def_parent + (required ? 0 : 1);
    n->rep = rep_parent;
    n->leaf = -1;
    n->first_leaf = *next_leaf;
    if (depth > GLUE_MAX_DEPTH || n->def + 2 > PQ_MAX_LEVEL)
        return HY_EINVAL;
    switch (t->kind) {
    case GLUE_STRUCT:
        n->child = calloc(t->nchild, sizeof *n->child);
        if (!n->child && t->nchild)
            return HY_ENOMEM;
        n->nchild = t->nchild;
        for (size_t i = 0; i < t->nchild; i++) {
            int rc = node_build(w, &n->child[i], &t->child[i], t->child[i].name, n->def,
                                rep_parent, false, next_leaf, depth + 1);
            if (rc)
                return rc;
        }
        break;
    case GLUE_ARRAY:
    case GLUE_MAP: {
        /* the repeated group: one more of each level */
        n->rep = rep_parent + 1;
        bool map = t->kind == GLUE_MAP;
        n->child = calloc(map ? 2 : 1, sizeof *n->child);
        if (!n->child)
            return HY_ENOMEM;
        n->nchild = map ? 2 : 1;
        for (size_t i = 0; i < n->nchild; i++) {
            int rc = node_build(w, &n->child[i], &t->child[i],
                                map ? (i ? "value" : "key") : "element", n->def + 1, n->rep,
                                map && i == 0, next_leaf, depth + 1);
            if (rc)
                return rc;
        }
        break;
    }
    default:
        n->leaf = (*next_leaf)++;
        break;
    }
    n->nleaves = *next_leaf - n->first_leaf;
    return HY_OK;
}

static void leaf_type(const struct glue_type *t, int *ptype, int *len)
{
    *len = 0;
    switch (t->kind) {
    case GLUE_BOOLEAN: *ptype = T_BOOLEAN; break;
    case GLUE_TINYINT: case GLUE_SMALLINT: case GLUE_INT: case GLUE_DATE: *ptype = T_INT32; break;
    case GLUE_BIGINT: case GLUE_TIMESTAMP: *ptype = T_INT64; break;
    case GLUE_FLOAT: *ptype = T_FLOAT; break;
    case GLUE_DOUBLE: *ptype = T_DOUBLE; break;
    case GLUE_DECIMAL:
        if (t->precision <= 9)
            *ptype = T_INT32;
        else if (t->precision <= 18)
            *ptype = T_INT64;
        else {
            *ptype = T_FLBA;
            *len = decimal_bytes(t->precision);
        }
        break;
    default: *ptype = T_BYTE_ARRAY; break;
    }
}

/* Fills the leaves' paths, types and max levels. */
static int leaves_fill(struct pq_writer *w, const struct pq_node *n, const char **path,
                       size_t npath)
{
    const char *mine[4];
    size_t nm = 0;
    mine[nm++] = n->name;
    if (n->t->kind == GLUE_ARRAY)
        mine[nm++] = "list";
    else if (n->t->kind == GLUE_MAP)
        mine[nm++] = "key_value";
    if (npath + nm > GLUE_MAX_DEPTH * 3)
        return HY_EINVAL;
    const char *p[GLUE_MAX_DEPTH * 3 + 4];
    if (npath)
        memcpy(p, path, npath * sizeof *p);
    memcpy(p + npath, mine, nm * sizeof *p);
    if (n->leaf >= 0) {
        struct pq_leaf *l = &w->leaves[n->leaf];
        l->t = n->t;
        leaf_type(n->t, &l->ptype, &l->type_len);
        l->max_def = n->def;
        l->max_rep = n->rep;
        l->npath = npath + 1;
        l->path = malloc(l->npath * sizeof *l->path);
        if (!l->path)
            return HY_ENOMEM;
        memcpy(l->path, p, l->npath * sizeof *l->path);
        return HY_OK;
    }
    for (size_t i = 0; i < n->nchild; i++) {
        int rc = leaves_fill(w, &n->child[i], p, npath + nm);
        if (rc)
            return rc;
    }
    return HY_OK;
}

int pq_writer_new(const struct glue_schema *schema, const struct pq_options *opt,
                  const struct pq_reader *reader, struct buf *out, struct pq_writer **wp,
                  char *msg, size_t msg_len)
{
    int rc = HY_ENOMEM, next = 0;
    struct pq_writer *w = calloc(1, sizeof *w);
    *wp = NULL;
    if (!w)
        goto out_fail;
    w->schema = schema;
    w->opt = *opt;
    if (w->opt.page_size < 1024)
        w->opt.page_size = 1024;
    if (w->opt.block_size < w->opt.page_size)
        w->opt.block_size = w->opt.page_size;
    if (reader)
        w->rd = *reader;
    w->out = out;
    buf_init(&w->page, out->max);
    buf_init(&w->zbuf, out->max);
    buf_init(&w->lv, out->max);
    w->cols = calloc(schema->ncols ? schema->ncols : 1, sizeof *w->cols);
    if (!w->cols)
        goto out_fail;
    for (size_t i = 0; i < schema->ncols; i++) {
        rc = node_build(w, &w->cols[i], &schema->cols[i], schema->cols[i].name, 0, 0, false,
                        &next, 0);
        if (rc) {
            snprintf(msg, msg_len, rc == HY_EINVAL ? "column %s is nested too deeply"
                                                   : "out of memory", schema->cols[i].name);
            goto out_fail;
        }
    }
    w->nleaves = (size_t)next;
    w->leaves = calloc(next ? (size_t)next : 1, sizeof *w->leaves);
    rc = HY_ENOMEM;
    if (!w->leaves)
        goto out_fail;
    for (size_t i = 0; i < w->nleaves; i++) {
        buf_init(&w->leaves[i].def, out->max);
        buf_init(&w->leaves[i].rep, out->max);
        buf_init(&w->leaves[i].vals, out->max);
    }
    for (size_t i = 0; i < schema->ncols; i++)
        if ((rc = leaves_fill(w, &w->cols[i], NULL, 0))) {
            snprintf(msg, msg_len, "column %s cannot be laid out", schema->cols[i].name);
            goto out_fail;
        }
    *wp = w;
    return HY_OK;
out_fail:
    if (rc == HY_ENOMEM)
        snprintf(msg, msg_len, "out of memory");
    pq_writer_free(w);
    return rc;
}

static void stat_free(struct pq_stat *s)
{
    free(s->min);
    free(s->max);
}

void pq_writer_free(struct pq_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; w->cols && i < w->schema->ncols; i++)
        node_free(&w->cols[i]);
    free(w->cols);
    for (size_t i = 0; w->leaves && i < w->nleaves; i++) {
        free(w->leaves[i].path);
        buf_free(&w->leaves[i].def);
        buf_free(&w->leaves[i].rep);
        buf_free(&w->leaves[i].vals);
    }
    free(w->leaves);
    for (size_t g = 0; g < w->ngroups; g++) {
        for (size_t i = 0; i < w->nleaves; i++)
            stat_free(&w->groups[g].chunks[i].st);
        free(w->groups[g].chunks);
    }
    free(w->groups);
    buf_free(&w->page);
    buf_free(&w->zbuf);
    buf_free(&w->lv);
    free(w);
}

uint64_t pq_rows(const struct pq_writer *w)
{
    return w->rows_total;
}

/* ---- values ------------------------------------------------------------ */

int64_t pq_days_from_civil(int64_t y, int m, int d)
{
    /* Howard Hinnant's days_from_civil */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int mdays(int64_t y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (*(*p)++ - '0');
    }
    *out = v;
    return 0;
}

/* "yyyy-MM-dd" at *p; advances. */
static int parse_date_at(const char **p, int64_t *days)
{
    int y, m, d;
    if (digits(p, 4, &y) || *(*p)++ != '-' || digits(p, 2, &m) || *(*p)++ != '-' ||
        digits(p, 2, &d))
        return HY_EINVAL;
    if (m < 1 || m > 12 || d < 1 || d > mdays(y, m))
        return HY_EINVAL;
    *days = pq_days_from_civil(y, m, d);
    return HY_OK;
}

int pq_parse_timestamp(const char *s, int64_t *ms)
{
    const char *p = s;
    int64_t days;
    int hh = 0, mi = 0, ss = 0, frac_ms = 0;
    while (*p == ' ')
        p++;
    if (parse_date_at(&p, &days))
        return HY_EINVAL;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (digits(&p, 2, &hh) || *p++ != ':' || digits(&p, 2, &mi))
            return HY_EINVAL;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &ss))
                return HY_EINVAL;
            if (*p == '.' || *p == ',') {
                p++;
                int nd = 0;
                if (!isdigit((unsigned char)*p))
                    return HY_EINVAL;
                while (isdigit((unsigned char)*p)) {
                    if (nd < 3)
                        frac_ms = frac_ms * 10 + (*p - '0');
                    nd++;
                    p++;
                }
                for (; nd < 3; nd++)
                    frac_ms *= 10;
            }
        }
        if (hh > 23 || mi > 59 || ss > 60)
            return HY_EINVAL;
    }
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && p != s) {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        if (digits(&p, 2, &oh))
            return HY_EINVAL;
        if (*p == ':')
            p++;
        if (isdigit((unsigned char)*p) && digits(&p, 2, &om))
            return HY_EINVAL;
        off_s = sign * (oh * 3600 + om * 60);
    }
    while (*p == ' ')
        p++;
    if (*p)
        return HY_EINVAL;
    *ms = ((days * 86400 + hh * 3600 + mi * 60 + ss) - off_s) * 1000 + frac_ms;
    return HY_OK;
}

const struct pq_jv *pq_jv_get(const struct pq_jv *o, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = o->len; i-- > 0;)
        if (o->key_lens[i] == n && memcmp(o->keys[i], name, n) == 0)
            return &o->kids[i];
    return NULL;
}

/* A JSON value as an integer in [lo, hi]: integers, integral reals and
 * decimal strings (Hive's JSON readers parse numbers out of strings). */
static int as_int(const struct pq_jv *v, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    if (v->type == PQ_JNUM && !v->is_int) {
        double d = strtod(v->s, &end);
        if (d != floor(d) || d < -9.2e18 || d > 9.2e18)
            return HY_EINVAL;
        *out = (int64_t)d;
    } else if (v->type == PQ_JNUM || v->type == PQ_JSTR) {
        const char *s = v->s;
        errno = 0;
        while (*s == ' ')
            s++;
        long long n = strtoll(s, &end, 10);
        while (*end == ' ')
            end++;
        if (end == s || *end || errno)
            return HY_EINVAL;
        *out = n;
    } else {
        return HY_EINVAL;
    }
    return *out < lo || *out > hi ? HY_EINVAL : HY_OK;
}

static int as_double(const struct pq_jv *v, double *out)
{
    if (v->type != PQ_JNUM && v->type != PQ_JSTR)
        return HY_EINVAL;
    char *end;
    errno = 0;
    *out = strtod(v->s, &end);
    if (end == v->s || *end)
        return HY_EINVAL;
    return HY_OK;
}

typedef __int128 pq_i128;

/* Decimal text -> unscaled integer at scale, rounding half up; HY_EINVAL
 * when it has more than precision digits. */
static int parse_decimal(const char *s, int precision, int scale, pq_i128 *out)
{
    bool neg = false;
    int ndig = 0, frac = 0, exp10 = 0;
    bool seen_dot = false, any = false;
    char dig[128];
    while (*s == ' ')
        s++;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    for (; *s; s++) {
        if (isdigit((unsigned char)*s)) {
            any = true;
            if (ndig == 0 && *s == '0') {
                if (seen_dot)
                    frac++;
                continue; /* leading zeros */
            }
            if (ndig >= (int)sizeof dig)
                return HY_EINVAL;
            dig[ndig++] = *s;
            if (seen_dot)
                frac++;
        } else if (*s == '.' && !seen_dot) {
            seen_dot = true;
        } else {
            break;
        }
    }
    if (!any)
        return HY_EINVAL;
    if (*s == 'e' || *s == 'E') {
        char *end;
        long e = strtol(s + 1, &end, 10);
        if (end == s + 1 || e < -100 || e > 100)
            return HY_EINVAL;
        exp10 = (int)e;
        s = end;
    }
    while (*s == ' ')
        s++;
    if (*s)
        return HY_EINVAL;
    /* value = dig * 10^(exp10 - frac); want dig * 10^(exp10 - frac + scale) */
    int shift = exp10 - frac + scale;
    int keep = ndig + (shift < 0 ? shift : 0);
    bool round_up = false;
    if (keep < 0) {
        keep = 0;
    } else if (keep < ndig) {
        round_up = dig[keep] >= '5';
    }
    if (keep + (shift > 0 ? shift : 0) > precision)
        return HY_EINVAL;
    pq_i128 v = 0;
    for (int i = 0; i < keep; i++)
        v = v * 10 + (dig[i] - '0');
    for (int i = 0; i < shift; i++)
        v *= 10;
    if (round_up)
        v += 1;
    pq_i128 lim = 1;
    for (int i = 0; i < precision; i++)
        lim *= 10;
    if (v >= lim)
        return HY_EINVAL;
    *out = neg ? -v : v;
    return HY_OK;
}

/* ---- shredding -------------------------------------------------------- */

struct mark {
    size_t def, rep, vals, nlevels, nvals;
};

static int push_level(struct pq_writer *w, struct pq_leaf *l, int rep, int def)
{
    uint8_t d = (uint8_t)def, r = (uint8_t)rep;
    int rc = buf_append(&l->def, &d, 1);
    if (!rc && l->max_rep)
        rc = buf_append(&l->rep, &r, 1);
    l->nlevels++;
    return rc;
}

static int emit_nulls(struct pq_writer *w, const struct pq_node *n, int rep, int def)
{
    for (int i = n->first_leaf; i < n->first_leaf + n->nleaves; i++) {
        int rc = push_level(w, &w->leaves[i], rep, def);
        if (rc)
            return rc;
    }
    return HY_OK;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Compact JSON text of v (for a string column given another value). */
static int jv_dump(const struct pq_jv *v, struct buf *b, int depth)
{
    static const char hex[] = "0123456789abcdef";
    int rc = HY_OK;
    if (depth > GLUE_MAX_DEPTH * 8)
        return HY_EINVAL;
    switch (v->type) {
    case PQ_JNULL: return buf_append(b, "null", 4);
    case PQ_JFALSE: return buf_append(b, "false", 5);
    case PQ_JTRUE: return buf_append(b, "true", 4);
    case PQ_JNUM: return buf_append(b, v->s, v->len);
    case PQ_JSTR: {
        rc = buf_append(b, "\"", 1);
        for (uint32_t i = 0; i < v->len && !rc; i++) {
            unsigned char c = (unsigned char)v->s[i];
            if (c == '"' || c == '\\') {
                char e[2] = {'\\', (char)c};
                rc = buf_append(b, e, 2);
            } else if (c < 0x20) {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                rc = buf_append(b, e, 6);
            } else {
                rc = buf_append(b, &v->s[i], 1);
            }
        }
        return rc ? rc : buf_append(b, "\"", 1);
    }
    case PQ_JARR:
    case PQ_JOBJ: {
        bool obj = v->type == PQ_JOBJ;
        rc = buf_append(b, obj ? "{" : "[", 1);
        for (uint32_t i = 0; i < v->len && !rc; i++) {
            if (i)
                rc = buf_append(b, ",", 1);
            if (!rc && obj) {
                struct pq_jv k = {.type = PQ_JSTR, .s = v->keys[i], .len = v->key_lens[i]};
                rc = jv_dump(&k, b, depth + 1);
                if (!rc)
                    rc = buf_append(b, ":", 1);
            }
            if (!rc)
                rc = jv_dump(&v->kids[i], b, depth + 1);
        }
        return rc ? rc : buf_append(b, obj ? "}" : "]", 1);
    }
    }
    return HY_EINVAL;
}

static int value_text(const struct pq_jv *v, struct buf *tmp, const char **s, size_t *n)
{
    if (v->type == PQ_JSTR || v->type == PQ_JNUM) {
        *s = v->s;
        *n = v->len;
        return HY_OK;
    }
    buf_reset(tmp);
    int rc = jv_dump(v, tmp, 0);
    *s = tmp->data ? tmp->data : "";
    *n = tmp->len;
    return rc;
}

static int fail(char *msg, size_t msg_len, const struct pq_node *n, const char *fmt)
{
    snprintf(msg, msg_len, fmt, n->name);
    return HY_EINVAL;
}

static int emit_value(struct pq_writer *w, const struct pq_node *n, const struct pq_jv *v,
                      int rep,
                      char *msg, size_t msg_len)
{
    struct pq_leaf *l = &w->leaves[n->leaf];
    const struct glue_type *t = n->t;
    unsigned char tmp[16];
    const void *p = tmp;
    size_t len = 0;
    int64_t iv;
    double dv;
    int rc;
    switch (t->kind) {
    case GLUE_BOOLEAN:
        if (v->type == PQ_JTRUE || v->type == PQ_JFALSE)
            tmp[0] = v->type == PQ_JTRUE;
        else if (v->type == PQ_JSTR && !strcasecmp(v->s, "true"))
            tmp[0] = 1;
        else if (v->type == PQ_JSTR && !strcasecmp(v->s, "false"))
            tmp[0] = 0;
        else
            return fail(msg, msg_len, n, "Cannot convert the value of '%s' to boolean.");
        len = 1;
        break;
    case GLUE_TINYINT:
    case GLUE_SMALLINT:
    case GLUE_INT: {
        int64_t lo = t->kind == GLUE_TINYINT ? -128 : t->kind == GLUE_SMALLINT ? -32768
                                                                             : INT32_MIN;
        int64_t hi = t->kind == GLUE_TINYINT ? 127 : t->kind == GLUE_SMALLINT ? 32767
                                                                            : INT32_MAX;
        if (as_int(v, lo, hi, &iv))
            return fail(msg, msg_len, n, t->kind == GLUE_TINYINT ?
                        "Cannot convert the value of '%s' to tinyint." :
                        t->kind == GLUE_SMALLINT ? "Cannot convert the value of '%s' to smallint."
                                                 : "Cannot convert the value of '%s' to int.");
        put_le(tmp, (uint64_t)iv, 4);
        len = 4;
        break;
    }
    case GLUE_BIGINT:
        if (as_int(v, INT64_MIN, INT64_MAX, &iv))
            return fail(msg, msg_len, n, "Cannot convert the value of '%s' to bigint.");
        put_le(tmp, (uint64_t)iv, 8);
        len = 8;
        break;
    case GLUE_FLOAT: {
        if (as_double(v, &dv))
            return fail(msg, msg_len, n, "Cannot convert the value of '%s' to float.");
        float f = (float)dv;
        memcpy(tmp, &f, 4);
        len = 4;
        break;
    }
    case GLUE_DOUBLE:
        if (as_double(v, &dv))
            return fail(msg, msg_len, n, "Cannot convert the value of '%s' to double.");
        memcpy(tmp, &dv, 8);
        len = 8;
        break;
    case GLUE_DECIMAL: {
        const char *s = v->s;
        pq_i128 d;
        if (v->type != PQ_JNUM && v->type != PQ_JSTR)
            return fail(msg, msg_len, n, "Cannot convert the value of '%s' to decimal.");
        if (parse_decimal(s, t->precision, t->scale, &d))
            return fail(msg, msg_len, n,
                        "The value of '%s' is not a decimal of the column's precision.");
        if (l->ptype == T_INT32) {
            put_le(tmp, (uint64_t)(int64_t)d, 4);
            len = 4;
        } else if (l->ptype == T_INT64) {
            put_le(tmp, (uint64_t)(int64_t)d, 8);
            len = 8;
        } else {
            len = (size_t)l->type_len;
            for (size_t i = 0; i < len; i++)
                tmp[len - 1 - i] = (unsigned char)(uint8_t)(d >> (8 * i));
        }
        break;
    }
    case GLUE_DATE: {
        int64_t days;
        if (v->type == PQ_JNUM) {
            int64_t nd;
            if (as_int(v, INT32_MIN, INT32_MAX, &nd))
                return fail(msg, msg_len, n, "Cannot convert the value of '%s' to date.");
            days = nd;
        } else {
            const char *s = v->type == PQ_JSTR ? v->s : NULL;
            if (!s || parse_date_at(&s, &days) || *s)
                return fail(msg, msg_len, n, "Cannot convert the value of '%s' to date.");
        }
        if (days < INT32_MIN || days > INT32_MAX)
            return fail(msg, msg_len, n, "The date of '%s' is out of range.");
        put_le(tmp, (uint64_t)days, 4);
        len = 4;
        break;
    }
    case GLUE_TIMESTAMP: {
        int64_t ms;
        if (w->rd.timestamp)
            rc = w->rd.timestamp(w->rd.ctx, v, &ms);
        else if (v->type == PQ_JNUM && v->is_int)
            rc = as_int(v, INT64_MIN, INT64_MAX, &ms);
        else
            rc = v->type == PQ_JSTR ? pq_parse_timestamp(v->s, &ms) : HY_EINVAL;
        if (rc)
            return fail(msg, msg_len, n, "Cannot convert the value of '%s' to timestamp.");
        put_le(tmp, (uint64_t)ms, 8);
        len = 8;
        break;
    }
    default: { /* string, char, varchar, binary */
        const char *s;
        if ((rc = value_text(v, &w->zbuf, &s, &len)))
            return rc;
        if (t->kind == GLUE_VARCHAR || t->kind == GLUE_CHAR) {
            /* Hive keeps at most n characters; char drops trailing blanks */
            size_t chars = 0, i = 0;
            while (i < len && chars < (size_t)t->length) {
                size_t cl = utf8_char_len(s + i);
                i += cl ? cl : 1;
                chars++;
            }
            len = i > len ? len : i;
            if (t->kind == GLUE_CHAR)
                while (len && s[len - 1] == ' ')
                    len--;
        }
        if (len > UINT32_MAX)
            return HY_ETOOBIG;
        put_le(tmp, len, 4);
        if ((rc = buf_append(&l->vals, tmp, 4)))
            return rc;
        p = s;
        break;
    }
    }
    if ((rc = buf_append(&l->vals, p, len)))
        return rc;
    l->nvals++;
    return push_level(w, l, rep, n->def);
}

static const struct pq_jv *find_field(struct pq_writer *w, const struct pq_jv *obj,
                                      const struct pq_node *f, int depth)
{
    if (w->rd.field)
        return w->rd.field(w->rd.ctx, obj, f->t, depth);
    return pq_jv_get(obj, f->name);
}

static int shred(struct pq_writer *w, const struct pq_node *n, const struct pq_jv *v, int rep,
                 int depth, char *msg, size_t msg_len)
{
    int rc;
    if (!v || v->type == PQ_JNULL) {
        if (n->required)
            return fail(msg, msg_len, n, "A map key of '%s' is null.");
        return emit_nulls(w, n, rep, n->def - 1);
    }
    switch (n->t->kind) {
    case GLUE_STRUCT:
        if (v->type != PQ_JOBJ)
            return fail(msg, msg_len, n, "The value of '%s' is not a JSON object.");
        for (size_t i = 0; i < n->nchild; i++)
            if ((rc = shred(w, &n->child[i], find_field(w, v, &n->child[i], depth + 1), rep,
                            depth + 1, msg, msg_len)))
                return rc;
        return HY_OK;
    case GLUE_ARRAY: {
        if (v->type != PQ_JARR)
            return fail(msg, msg_len, n, "The value of '%s' is not a JSON array.");
        size_t cnt = v->len;
        if (cnt == 0)
            return emit_nulls(w, n, rep, n->def);
        for (size_t i = 0; i < cnt; i++)
            if ((rc = shred(w, &n->child[0], &v->kids[i], i ? n->rep : rep, depth + 1,
                            msg, msg_len)))
                return rc;
        return HY_OK;
    }
    case GLUE_MAP: {
        if (v->type != PQ_JOBJ)
            return fail(msg, msg_len, n, "The value of '%s' is not a JSON object.");
        if (v->len == 0)
            return emit_nulls(w, n, rep, n->def);
        for (size_t i = 0; i < v->len; i++) {
            struct pq_jv k = {.type = PQ_JSTR, .s = v->keys[i], .len = v->key_lens[i]};
            int r = i ? n->rep : rep;
            if ((rc = shred(w, &n->child[0], &k, r, depth + 1, msg, msg_len)) ||
                (rc = shred(w, &n->child[1], &v->kids[i], r, depth + 1, msg, msg_len)))
                return rc;
        }
        return HY_OK;
    }
    default:
        return emit_value(w, n, v, rep, msg, msg_len);
    }
}

static int flush_group(struct pq_writer *w);
static int bit_width(uint32_t max);

int pq_write_row(struct pq_writer *w, const struct pq_jv *row, char *msg, size_t msg_len)
{
    int rc = HY_OK;
    if (w->broken)
        return HY_EINVAL;
    if (row->type != PQ_JOBJ) {
        snprintf(msg, msg_len, "The record is not a JSON object.");
        return HY_EINVAL;
    }
    struct mark stack[64], *marks = w->nleaves <= 64 ? stack : malloc(w->nleaves * sizeof *marks);
    if (!marks)
        return HY_ENOMEM;
    for (size_t i = 0; i < w->nleaves; i++) {
        struct pq_leaf *l = &w->leaves[i];
        marks[i] = (struct mark){l->def.len, l->rep.len, l->vals.len, l->nlevels, l->nvals};
    }
    for (size_t i = 0; i < w->schema->ncols && !rc; i++)
        rc = shred(w, &w->cols[i], find_field(w, row, &w->cols[i], 0), 0, 0, msg, msg_len);
    if (rc) {
        for (size_t i = 0; i < w->nleaves; i++) {
            struct pq_leaf *l = &w->leaves[i];
            l->def.len = marks[i].def;
            l->rep.len = marks[i].rep;
            l->vals.len = marks[i].vals;
            l->nlevels = marks[i].nlevels;
            l->nvals = marks[i].nvals;
        }
        if (rc == HY_ETOOBIG || rc == HY_ENOMEM) {
            snprintf(msg, msg_len, "%s", rc == HY_ENOMEM ? "out of memory"
                                                         : "the converted object is too large");
            w->broken = true;
        }
        goto out_free_marks;
    }
    w->rows_group++;
    w->rows_total++;
    /* the row group's size as written without compression: PLAIN values
     * plus the levels at their bit widths */
    size_t bytes = 0;
    for (size_t i = 0; i < w->nleaves; i++) {
        const struct pq_leaf *l = &w->leaves[i];
        size_t lv_bits = l->nlevels * (size_t)(bit_width((uint32_t)l->max_def) +
                                               bit_width((uint32_t)l->max_rep));
        bytes += (l->ptype == T_BOOLEAN ? l->nvals / 8 : l->vals.len) + lv_bits / 8;
    }
    w->group_bytes = bytes;
    if (bytes >= w->opt.block_size && (rc = flush_group(w))) {
        w->broken = true;
        snprintf(msg, msg_len, "%s", hy_strerror(rc));
    }
out_free_marks:
    if (marks != stack)
        free(marks);
    return rc;
}

/* ---- encodings ---------------------------------------------------------- */

static int bit_width(uint32_t max)
{
    int n = 0;
    while (max) {
        n++;
        max >>= 1;
    }
    return n;
}

static int put_varint(struct buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        tmp[n++] = c | (v ? 0x80 : 0);
    } while (v);
    return buf_append(b, tmp, n);
}

/* RLE / bit-packing hybrid of n values (get(i)) of width bw into out. */
static int rle_hybrid(struct buf *out, const void *src, bool wide, size_t n, int bw)
{
    const uint8_t *v8 = src;
    const uint32_t *v32 = src;
#define GET(i) (wide ? v32[i] : (uint32_t)v8[i])
    size_t i = 0;
    int rc = HY_OK;
    int vbytes = (bw + 7) / 8;
    while (i < n && !rc) {
        size_t j = i + 1;
        uint32_t x = GET(i);
        while (j < n && GET(j) == x)
            j++;
        if (j - i >= 8) {
            unsigned char tmp[4];
            rc = put_varint(out, (uint64_t)(j - i) << 1);
            put_le(tmp, x, vbytes);
            if (!rc && vbytes)
                rc = buf_append(out, tmp, (size_t)vbytes);
            i = j;
            continue;
        }
        /* bit-packed groups of 8 until a run of 8 begins at a group start */
        size_t hdr = out->len;
        if ((rc = buf_append(out, "", 1)))
            break;
        size_t groups = 0;
        while (i < n && groups < 63) {
            if (groups) {
                size_t k = i + 1;
                while (k < n && GET(k) == GET(i) && k - i < 8)
                    k++;
                if (k - i >= 8)
                    break;
            }
            uint64_t acc = 0;
            int nbits = 0;
            unsigned char packed[32];
            size_t np = 0;
            for (size_t g = 0; g < 8; g++) {
                uint64_t val = i + g < n ? GET(i + g) : 0;
                acc |= val << nbits;
                nbits += bw;
                while (nbits >= 8) {
                    packed[np++] = (unsigned char)acc;
                    acc >>= 8;
                    nbits -= 8;
                }
            }
            if ((rc = buf_append(out, packed, np)))
                break;
            i += 8;
            groups++;
        }
        out->data[hdr] = (char)(groups << 1 | 1);
    }
#undef GET
    return rc;
}

static int compress_to(enum pq_codec codec, const void *in, size_t n, struct buf *out)
{
    buf_reset(out);
    if (codec == PQ_UNCOMPRESSED)
        return buf_append(out, in, n);
    if (codec == PQ_SNAPPY) {
        size_t max = snappy_max_compressed_length(n);
        int rc = buf_reserve(out, max);
        if (rc)
            return rc;
        size_t clen = max;
        if (snappy_compress(in, n, out->data, &clen) != SNAPPY_OK)
            return HY_EIO;
        out->len = clen;
        return HY_OK;
    }
    z_stream zs = {0};
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return HY_ENOMEM;
    size_t bound = deflateBound(&zs, n);
    int rc = buf_reserve(out, bound);
    if (!rc) {
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = (uInt)n;
        zs.next_out = (Bytef *)out->data;
        zs.avail_out = (uInt)bound;
        rc = deflate(&zs, Z_FINISH) == Z_STREAM_END ? HY_OK : HY_EIO;
        out->len = zs.total_out;
    }
    deflateEnd(&zs);
    return rc;
}

/* ---- statistics --------------------------------------------------------- */

static int cmp_val(const struct pq_leaf *l, const unsigned char *a, size_t an,
                   const unsigned char *b, size_t bn)
{
    switch (l->ptype) {
    case T_BOOLEAN: return (int)a[0] - (int)b[0];
    case T_INT32: {
        int32_t x, y;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        return x < y ? -1 : x > y;
    }
    case T_INT64: {
        int64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        return x < y ? -1 : x > y;
    }
    case T_FLOAT: {
        float x, y;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        return x < y ? -1 : x > y;
    }
    case T_DOUBLE: {
        double x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        return x < y ? -1 : x > y;
    }
    case T_FLBA: /* signed big-endian */
        if ((a[0] ^ b[0]) & 0x80)
            return (a[0] & 0x80) ? -1 : 1;
        return memcmp(a, b, an);
    default: {
        int c = memcmp(a, b, an < bn ? an : bn);
        return c ? c : (an < bn ? -1 : an > bn);
    }
    }
}

static bool is_nan(const struct pq_leaf *l, const unsigned char *a)
{
    if (l->ptype == T_FLOAT) {
        float f;
        memcpy(&f, a, 4);
        return isnan(f);
    }
    if (l->ptype == T_DOUBLE) {
        double d;
        memcpy(&d, a, 8);
        return isnan(d);
    }
    return false;
}

static size_t fixed_width(const struct pq_leaf *l)
{
    switch (l->ptype) {
    case T_BOOLEAN: return 1;
    case T_INT32: case T_FLOAT: return 4;
    case T_INT64: case T_DOUBLE: return 8;
    case T_FLBA: return (size_t)l->type_len;
    default: return 0;
    }
}

/* The value at *off: its bytes and length; advances *off. */
static const unsigned char *next_val(const struct pq_leaf *l, size_t *off, size_t *len)
{
    const unsigned char *p = (const unsigned char *)l->vals.data + *off;
    size_t fw = fixed_width(l);
    if (fw) {
        *len = fw;
        *off += fw;
        return p;
    }
    uint32_t n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    *len = n;
    *off += 4 + n;
    return p + 4;
}

static int stats_compute(const struct pq_leaf *l, struct pq_stat *st)
{
    const unsigned char *mn = NULL, *mx = NULL;
    size_t mnl = 0, mxl = 0, off = 0;
    memset(st, 0, sizeof *st);
    st->null_count = (int64_t)(l->nlevels - l->nvals);
    for (size_t i = 0; i < l->nvals; i++) {
        size_t len;
        const unsigned char *v = next_val(l, &off, &len);
        if (is_nan(l, v))
            continue;
        if (!mn || cmp_val(l, v, len, mn, mnl) < 0)
            mn = v, mnl = len;
        if (!mx || cmp_val(l, v, len, mx, mxl) > 0)
            mx = v, mxl = len;
    }
    if (!mn || mnl > PQ_MAX_STAT || mxl > PQ_MAX_STAT)
        return HY_OK;
    st->min = malloc(mnl ? mnl : 1);
    st->max = malloc(mxl ? mxl : 1);
    if (!st->min || !st->max)
        return HY_ENOMEM;
    memcpy(st->min, mn, mnl);
    memcpy(st->max, mx, mxl);
    st->min_len = mnl;
    st->max_len = mxl;
    /* zeros: min -0.0, max +0.0 (the spec's rule for signed zeros) */
    if (l->ptype == T_FLOAT) {
        float f;
        memcpy(&f, st->min, 4);
        if (f == 0.0f) { f = -0.0f; memcpy(st->min, &f, 4); }
        memcpy(&f, st->max, 4);
        if (f == 0.0f) { f = 0.0f; memcpy(st->max, &f, 4); }
    } else if (l->ptype == T_DOUBLE) {
        double d;
        memcpy(&d, st->min, 8);
        if (d == 0.0) { d = -0.0; memcpy(st->min, &d, 8); }
        memcpy(&d, st->max, 8);
        if (d == 0.0) { d = 0.0; memcpy(st->max, &d, 8); }
    }
    st->has_minmax = true;
    return HY_OK;
}

/* ---- dictionary ----------------------------------------------------------- */

struct dict {
    uint32_t *slots;     /* index + 1 into entries; 0 empty */
    size_t nslots;
    size_t *entry_off;   /* offset of each distinct value's bytes in vals */
    size_t *entry_len;
    size_t n, cap;
    uint32_t *idx;       /* per value */
    size_t plain_bytes;
};

static void dict_free(struct dict *d)
{
    free(d->slots);
    free(d->entry_off);
    free(d->entry_len);
    free(d->idx);
    memset(d, 0, sizeof *d);
}

static uint64_t hash_bytes(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Builds the dictionary of l's values; *use false when it does not pay
 * (larger than a page, or no repeats). */
static int dict_build(const struct pq_writer *w, const struct pq_leaf *l, struct dict *d,
                      bool *use)
{
    *use = false;
    memset(d, 0, sizeof *d);
    if (l->nvals < 2)
        return HY_OK;
    d->nslots = 64;
    while (d->nslots < l->nvals * 2)
        d->nslots <<= 1;
    d->slots = calloc(d->nslots, sizeof *d->slots);
    d->idx = malloc(l->nvals * sizeof *d->idx);
    if (!d->slots || !d->idx)
        return HY_ENOMEM;
    size_t off = 0, fw = fixed_width(l);
    const unsigned char *base = (const unsigned char *)l->vals.data;
    for (size_t i = 0; i < l->nvals; i++) {
        size_t len;
        const unsigned char *v = next_val(l, &off, &len);
        uint64_t h = hash_bytes(v, len);
        size_t s = h & (d->nslots - 1);
        for (;;) {
            uint32_t e = d->slots[s];
            if (!e) {
                if (d->n == d->cap) {
                    size_t nc = d->cap ? d->cap * 2 : 256;
                    size_t *a = realloc(d->entry_off, nc * sizeof *a);
                    if (!a)
                        return HY_ENOMEM;
                    d->entry_off = a;
                    size_t *b = realloc(d->entry_len, nc * sizeof *b);
                    if (!b)
                        return HY_ENOMEM;
                    d->entry_len = b;
                    d->cap = nc;
                }
                d->entry_off[d->n] = (size_t)(v - base);
                d->entry_len[d->n] = len;
                d->slots[s] = (uint32_t)++d->n;
                d->idx[i] = (uint32_t)(d->n - 1);
                d->plain_bytes += len + (fw ? 0 : 4);
                break;
            }
            if (d->entry_len[e - 1] == len && !memcmp(base + d->entry_off[e - 1], v, len)) {
                d->idx[i] = e - 1;
                break;
            }
            s = (s + 1) & (d->nslots - 1);
        }
        if (d->plain_bytes > w->opt.page_size)
            return HY_OK; /* too large: PLAIN */
    }
    *use = d->n < l->nvals;
    return HY_OK;
}

/* ---- writing a row group ------------------------------------------------ */

static void write_stats(struct tw *t, int id, const struct pq_stat *st)
{
    tw_struct(t, id);
    tw_i64(t, 3, st->null_count);
    if (st->has_minmax) {
        tw_bin(t, 5, st->max, st->max_len);
        tw_bin(t, 6, st->min, st->min_len);
    }
    tw_end(t);
}

/* Appends a page: header then body (w->page holds the uncompressed body,
 * levels_len of it the V2 levels kept uncompressed). */
static int write_page(struct pq_writer *w, int type, int num_values, int num_nulls,
                      int num_rows, int encoding, size_t rep_len, size_t def_len,
                      struct pq_chunk *ch)
{
    size_t levels = type == PAGE_DATA_V2 ? rep_len + def_len : 0;
    int rc = compress_to(w->opt.codec, w->page.data + levels, w->page.len - levels, &w->zbuf);
    if (rc)
        return rc;
    size_t uncompressed = w->page.len, compressed = levels + w->zbuf.len;
    if (uncompressed > INT32_MAX || compressed > INT32_MAX)
        return HY_ETOOBIG;
    int64_t start = (int64_t)w->out->len;
    struct tw t = {.b = w->out};
    tw_i32(&t, 1, type);
    tw_i32(&t, 2, (int32_t)uncompressed);
    tw_i32(&t, 3, (int32_t)compressed);
    if (type == PAGE_DATA) {
        tw_struct(&t, 5);
        tw_i32(&t, 1, num_values);
        tw_i32(&t, 2, encoding);
        tw_i32(&t, 3, ENC_RLE);
        tw_i32(&t, 4, ENC_RLE);
        tw_end(&t);
    } else if (type == PAGE_DICTIONARY) {
        tw_struct(&t, 7);
        tw_i32(&t, 1, num_values);
        tw_i32(&t, 2, encoding);
        tw_end(&t);
    } else {
        tw_struct(&t, 8);
        tw_i32(&t, 1, num_values);
        tw_i32(&t, 2, num_nulls);
        tw_i32(&t, 3, num_rows);
        tw_i32(&t, 4, encoding);
        tw_i32(&t, 5, (int32_t)def_len);
        tw_i32(&t, 6, (int32_t)rep_len);
        tw_bool(&t, 7, w->opt.codec != PQ_UNCOMPRESSED);
        tw_end(&t);
    }
    tw_end(&t);
    if (t.rc)
        return t.rc;
    if (levels && (rc = buf_append(w->out, w->page.data, levels)))
        return rc;
    if ((rc = buf_append(w->out, w->zbuf.data, w->zbuf.len)))
        return rc;
    ch->uncompressed += (int64_t)(w->out->len - (size_t)start) - (int64_t)compressed +
                        (int64_t)uncompressed;
    ch->compressed += (int64_t)(w->out->len - (size_t)start);
    return HY_OK;
}

/* Appends levels [from, to) of one kind to w->page (V1: with le32 length). */
static int put_levels(struct pq_writer *w, const struct buf *lv, size_t from, size_t to,
                      int max, bool v1, size_t *len_out)
{
    size_t at = w->page.len;
    int rc;
    if (v1 && (rc = buf_append(&w->page, "\0\0\0\0", 4)))
        return rc;
    size_t body = w->page.len;
    rc = rle_hybrid(&w->page, lv->data + from, false, to - from, bit_width((uint32_t)max));
    if (rc)
        return rc;
    size_t n = w->page.len - body;
    if (v1)
        put_le((unsigned char *)w->page.data + at, n, 4);
    *len_out = w->page.len - at;
    return HY_OK;
}

static int write_chunk(struct pq_writer *w, struct pq_leaf *l, struct pq_chunk *ch)
{
    struct dict d;
    bool use_dict = false;
    int rc;
    bool v1 = w->opt.writer_version != 2;
    memset(ch, 0, sizeof *ch);
    ch->num_values = (int64_t)l->nlevels;
    if ((rc = stats_compute(l, &ch->st)))
        return rc;
    if (w->opt.dictionary && l->ptype != T_BOOLEAN && (rc = dict_build(w, l, &d, &use_dict)))
        goto out_free_dict;
    ch->first_off = (int64_t)w->out->len;
    int bw = 0;
    if (use_dict) {
        ch->dict = true;
        ch->dict_off = (int64_t)w->out->len;
        buf_reset(&w->page);
        size_t fw = fixed_width(l);
        for (size_t i = 0; i < d.n && !rc; i++) {
            if (!fw) {
                unsigned char tmp[4];
                put_le(tmp, d.entry_len[i], 4);
                rc = buf_append(&w->page, tmp, 4);
            }
            if (!rc)
                rc = buf_append(&w->page, l->vals.data + d.entry_off[i], d.entry_len[i]);
        }
        if (!rc)
            rc = write_page(w, PAGE_DICTIONARY, (int)d.n, 0, 0,
                            v1 ? ENC_PLAIN_DICTIONARY : ENC_PLAIN, 0, 0, ch);
        if (rc)
            goto out_free_dict;
        bw = bit_width((uint32_t)(d.n - 1));
        if (bw == 0)
            bw = 1;
    }
    ch->data_off = (int64_t)w->out->len;
    /* pages: cut at row starts once the values reach page_size */
    size_t lv = 0, vi = 0, voff = 0;
    const uint8_t *defs = (const uint8_t *)l->def.data;
    const uint8_t *reps = (const uint8_t *)l->rep.data;
    size_t fw = fixed_width(l);
    while (lv < l->nlevels || (lv == 0 && l->nlevels == 0)) {
        size_t end = lv, vend = vi, voff_end = voff, bytes = 0;
        int rows = 0;
        while (end < l->nlevels) {
            if (end > lv && (!l->max_rep || reps[end] == 0) && bytes >= w->opt.page_size)
                break;
            if (!l->max_rep || reps[end] == 0)
                rows++;
            if (defs[end] == l->max_def) {
                size_t len;
                if (use_dict) {
                    bytes += (size_t)(bw + 7) / 8;
                } else {
                    next_val(l, &voff_end, &len);
                    bytes += fw ? fw : len + 4;
                }
                vend++;
            }
            end++;
        }
        buf_reset(&w->page);
        size_t rep_len = 0, def_len = 0;
        if (l->max_rep && (rc = put_levels(w, &l->rep, lv, end, l->max_rep, v1, &rep_len)))
            goto out_free_dict;
        if (l->max_def && (rc = put_levels(w, &l->def, lv, end, l->max_def, v1, &def_len)))
            goto out_free_dict;
        if (use_dict) {
            unsigned char b = (unsigned char)bw;
            if ((rc = buf_append(&w->page, &b, 1)) ||
                (rc = rle_hybrid(&w->page, d.idx + vi, true, vend - vi, bw)))
                goto out_free_dict;
        } else if (l->ptype == T_BOOLEAN) {
            unsigned char acc = 0;
            size_t k;
            for (k = 0; k < vend - vi && !rc; k++) {
                if (l->vals.data[vi + k])
                    acc |= (unsigned char)(1u << (k % 8));
                if (k % 8 == 7) {
                    rc = buf_append(&w->page, &acc, 1);
                    acc = 0;
                }
            }
            if (!rc && k % 8)
                rc = buf_append(&w->page, &acc, 1);
            if (rc)
                goto out_free_dict;
        } else if (voff_end > voff &&
                   (rc = buf_append(&w->page, l->vals.data + voff, voff_end - voff))) {
            goto out_free_dict;
        }
        int enc = use_dict ? (v1 ? ENC_PLAIN_DICTIONARY : ENC_RLE_DICTIONARY) : ENC_PLAIN;
        rc = write_page(w, v1 ? PAGE_DATA : PAGE_DATA_V2, (int)(end - lv),
                        (int)((end - lv) - (vend - vi)), rows, enc, rep_len, def_len, ch);
        if (rc)
            goto out_free_dict;
        if (end == lv)
            break; /* the one empty page of an empty chunk */
        lv = end;
        vi = vend;
        voff = voff_end;
    }
out_free_dict:
    if (w->opt.dictionary && l->ptype != T_BOOLEAN)
        dict_free(&d);
    return rc;
}

static int start_file(struct pq_writer *w)
{
    if (w->started)
        return HY_OK;
    w->started = true;
    return buf_append(w->out, "PAR1", 4);
}

static int flush_group(struct pq_writer *w)
{
    int rc;
    if (w->rows_group == 0)
        return HY_OK;
    if ((rc = start_file(w)))
        return rc;
    if (w->ngroups == w->groups_cap) {
        size_t nc = w->groups_cap ? w->groups_cap * 2 : 4;
        struct pq_rowgroup *g = realloc(w->groups, nc * sizeof *g);
        if (!g)
            return HY_ENOMEM;
        w->groups = g;
        w->groups_cap = nc;
    }
    struct pq_rowgroup *g = &w->groups[w->ngroups];
    memset(g, 0, sizeof *g);
    g->chunks = calloc(w->nleaves ? w->nleaves : 1, sizeof *g->chunks);
    if (!g->chunks)
        return HY_ENOMEM;
    w->ngroups++;
    g->num_rows = (int64_t)w->rows_group;
    g->file_offset = (int64_t)w->out->len;
    for (size_t i = 0; i < w->nleaves; i++) {
        struct pq_leaf *l = &w->leaves[i];
        if ((rc = write_chunk(w, l, &g->chunks[i])))
            return rc;
        g->total_bytes += g->chunks[i].uncompressed;
        g->total_compressed += g->chunks[i].compressed;
        buf_reset(&l->def);
        buf_reset(&l->rep);
        buf_reset(&l->vals);
        l->nlevels = l->nvals = 0;
    }
    w->rows_group = 0;
    w->group_bytes = 0;
    return HY_OK;
}

static void elem_name(struct tw *t, const char *name)
{
    tw_bin(t, 4, name, strlen(name));
}

static void write_leaf_elem(struct tw *t, const struct pq_node *n)
{
    const struct glue_type *ty = n->t;
    int ptype, len;
    leaf_type(ty, &ptype, &len);
    tw_begin(t);
    tw_i32(t, 1, ptype);
    if (ptype == T_FLBA)
        tw_i32(t, 2, len);
    tw_i32(t, 3, n->required ? REP_REQUIRED : REP_OPTIONAL);
    elem_name(t, n->name);
    int ct = -1;
    switch (ty->kind) {
    case GLUE_STRING: case GLUE_CHAR: case GLUE_VARCHAR: ct = CT_UTF8; break;
    case GLUE_TINYINT: ct = CT_INT_8; break;
    case GLUE_SMALLINT: ct = CT_INT_16; break;
    case GLUE_DECIMAL: ct = CT_DECIMAL; break;
    case GLUE_DATE: ct = CT_DATE; break;
    case GLUE_TIMESTAMP: ct = CT_TIMESTAMP_MILLIS; break;
    default: break;
    }
    if (ct >= 0)
        tw_i32(t, 6, ct);
    if (ty->kind == GLUE_DECIMAL) {
        tw_i32(t, 7, ty->scale);
        tw_i32(t, 8, ty->precision);
    }
    /* logicalType (10), a union */
    switch (ty->kind) {
    case GLUE_STRING: case GLUE_CHAR: case GLUE_VARCHAR:
        tw_struct(t, 10);
        tw_struct(t, 1);
        tw_end(t);
        tw_end(t);
        break;
    case GLUE_TINYINT: case GLUE_SMALLINT:
        tw_struct(t, 10);
        tw_struct(t, 10);
        tw_i8(t, 1, ty->kind == GLUE_TINYINT ? 8 : 16);
        tw_bool(t, 2, true);
        tw_end(t);
        tw_end(t);
        break;
    case GLUE_DECIMAL:
        tw_struct(t, 10);
        tw_struct(t, 5);
        tw_i32(t, 1, ty->scale);
        tw_i32(t, 2, ty->precision);
        tw_end(t);
        tw_end(t);
        break;
    case GLUE_DATE:
        tw_struct(t, 10);
        tw_struct(t, 6);
        tw_end(t);
        tw_end(t);
        break;
    case GLUE_TIMESTAMP:
        tw_struct(t, 10);
        tw_struct(t, 8);
        tw_bool(t, 1, false);
        tw_struct(t, 2);
        tw_struct(t, 1); /* MILLIS */
        tw_end(t);
        tw_end(t);
        tw_end(t);
        tw_end(t);
        break;
    default:
        break;
    }
    tw_end(t);
}

static void group_elem(struct tw *t, const char *name, int rep, int nchild, int ct, int lt)
{
    tw_begin(t);
    tw_i32(t, 3, rep);
    elem_name(t, name);
    tw_i32(t, 5, nchild);
    if (ct >= 0)
        tw_i32(t, 6, ct);
    if (lt >= 0) {
        tw_struct(t, 10);
        tw_struct(t, lt);
        tw_end(t);
        tw_end(t);
    }
    tw_end(t);
}

static size_t count_elems(const struct pq_node *n)
{
    if (n->leaf >= 0)
        return 1;
    size_t c = n->t->kind == GLUE_STRUCT ? 1 : 2;
    for (size_t i = 0; i < n->nchild; i++)
        c += count_elems(&n->child[i]);
    return c;
}

static void write_elems(struct tw *t, const struct pq_node *n)
{
    if (n->leaf >= 0) {
        write_leaf_elem(t, n);
        return;
    }
    if (n->t->kind == GLUE_STRUCT) {
        group_elem(t, n->name, REP_OPTIONAL, (int)n->nchild, -1, -1);
    } else if (n->t->kind == GLUE_ARRAY) {
        group_elem(t, n->name, REP_OPTIONAL, 1, CT_LIST, 3);
        group_elem(t, "list", REP_REPEATED, 1, -1, -1);
    } else {
        group_elem(t, n->name, REP_OPTIONAL, 1, CT_MAP, 2);
        group_elem(t, "key_value", REP_REPEATED, 2, -1, -1);
    }
    for (size_t i = 0; i < n->nchild; i++)
        write_elems(t, &n->child[i]);
}

int pq_finish(struct pq_writer *w)
{
    int rc;
    if (w->broken)
        return HY_EINVAL;
    if ((rc = flush_group(w)) || (rc = start_file(w)))
        goto out_broken;
    size_t footer_at = w->out->len;
    struct tw t = {.b = w->out};
    tw_i32(&t, 1, 1);
    size_t nelems = 1;
    for (size_t i = 0; i < w->schema->ncols; i++)
        nelems += count_elems(&w->cols[i]);
    tw_list(&t, 2, TC_STRUCT, nelems);
    tw_begin(&t);
    elem_name(&t, "schema");
    tw_i32(&t, 5, (int32_t)w->schema->ncols);
    tw_end(&t);
    for (size_t i = 0; i < w->schema->ncols; i++)
        write_elems(&t, &w->cols[i]);
    tw_i64(&t, 3, (int64_t)w->rows_total);
    tw_list(&t, 4, TC_STRUCT, w->ngroups);
    for (size_t g = 0; g < w->ngroups; g++) {
        struct pq_rowgroup *rg = &w->groups[g];
        tw_begin(&t);
        tw_list(&t, 1, TC_STRUCT, w->nleaves);
        for (size_t i = 0; i < w->nleaves; i++) {
            struct pq_chunk *ch = &rg->chunks[i];
            struct pq_leaf *l = &w->leaves[i];
            tw_begin(&t);
            tw_i64(&t, 2, ch->first_off);
            tw_struct(&t, 3);
            tw_i32(&t, 1, l->ptype);
            if (ch->dict) {
                tw_list(&t, 2, TC_I32, w->opt.writer_version == 2 ? 3 : 2);
                if (w->opt.writer_version == 2) {
                    tw_elem_i32(&t, ENC_PLAIN);
                    tw_elem_i32(&t, ENC_RLE_DICTIONARY);
                } else {
                    tw_elem_i32(&t, ENC_PLAIN_DICTIONARY);
                }
                tw_elem_i32(&t, ENC_RLE);
            } else {
                tw_list(&t, 2, TC_I32, 2);
                tw_elem_i32(&t, ENC_PLAIN);
                tw_elem_i32(&t, ENC_RLE);
            }
            tw_list(&t, 3, TC_BINARY, l->npath);
            for (size_t k = 0; k < l->npath; k++)
                tw_elem_bin(&t, l->path[k]);
            tw_i32(&t, 4, (int32_t)w->opt.codec);
            tw_i64(&t, 5, ch->num_values);
            tw_i64(&t, 6, ch->uncompressed);
            tw_i64(&t, 7, ch->compressed);
            tw_i64(&t, 9, ch->data_off);
            if (ch->dict)
                tw_i64(&t, 11, ch->dict_off);
            write_stats(&t, 12, &ch->st);
            tw_end(&t); /* ColumnMetaData */
            tw_end(&t); /* ColumnChunk */
        }
        tw_i64(&t, 2, rg->total_bytes);
        tw_i64(&t, 3, rg->num_rows);
        tw_i64(&t, 5, rg->file_offset);
        tw_i64(&t, 6, rg->total_compressed);
        tw_field(&t, 7, TC_I16);
        tw_varint(&t, zigzag((int64_t)g));
        tw_end(&t);
    }
    static const char created_by[] = "hydrant version " HYDRANT_VERSION;
    tw_bin(&t, 6, created_by, sizeof created_by - 1);
    tw_list(&t, 7, TC_STRUCT, w->nleaves);
    for (size_t i = 0; i < w->nleaves; i++) {
        tw_begin(&t);
        tw_struct(&t, 1); /* TYPE_ORDER */
        tw_end(&t);
        tw_end(&t);
    }
    tw_end(&t);
    if ((rc = t.rc))
        goto out_broken;
    unsigned char tail[8];
    put_le(tail, w->out->len - footer_at, 4);
    memcpy(tail + 4, "PAR1", 4);
    if ((rc = buf_append(w->out, tail, 8)))
        goto out_broken;
    return HY_OK;
out_broken:
    w->broken = true;
    return rc;
}
