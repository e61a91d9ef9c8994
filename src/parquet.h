/* parquet.h -- the Parquet writer (parquet.c): rows shredded from JSON
 * values by a Glue (Hive) schema, written as one Parquet file into a
 * buffer. Owned by parquet.c; format.c is its user. */
#ifndef HYDRANT_PARQUET_H
#define HYDRANT_PARQUET_H

#include "glue.h"
#include "server.h"

enum pq_codec { PQ_UNCOMPRESSED = 0, PQ_SNAPPY = 1, PQ_GZIP = 2 }; /* Parquet's ids */

/* A parsed JSON value, as format.c's scanner gives it (its memory is the
 * scanner's arena; the writer only reads it). */
enum pq_jtype { PQ_JNULL, PQ_JFALSE, PQ_JTRUE, PQ_JNUM, PQ_JSTR, PQ_JARR, PQ_JOBJ };
struct pq_jv {
    uint8_t type;            /* enum pq_jtype */
    bool is_int;             /* PQ_JNUM: an integer literal (no '.', no exponent) */
    uint32_t len;            /* PQ_JSTR: bytes of s; PQ_JNUM: of s; containers: members */
    const char *s;           /* PQ_JSTR: the unescaped text, PQ_JNUM: the literal,
                                both NUL-terminated; NULL otherwise */
    struct pq_jv *kids;      /* PQ_JARR: elements; PQ_JOBJ: member values */
    const char **keys;       /* PQ_JOBJ: member names (unescaped, NUL-terminated) */
    uint32_t *key_lens;
};
/* The member of object o named name (the last one, as JSON parsers that
 * keep one value do), or NULL. */
const struct pq_jv *pq_jv_get(const struct pq_jv *o, const char *name);

struct pq_options {
    enum pq_codec codec;
    int writer_version;      /* 1: DataPageHeader, 2: DataPageHeaderV2 */
    bool dictionary;         /* dictionary-encode a column chunk when it pays */
    size_t block_size;       /* a row group is closed once its data reach this */
    size_t page_size;        /* a page is closed once its values reach this */
};

/* How the values of a record are found: the SerDe's rules (format.c). */
struct pq_reader {
    /* The member of JSON object obj for struct field / column f (depth 0:
     * a top-level column), or NULL when it has none. */
    const struct pq_jv *(*field)(void *ctx, const struct pq_jv *obj, const struct glue_type *f,
                                 int depth);
    /* A timestamp value as milliseconds since the epoch: HY_OK or
     * HY_EINVAL. NULL: ISO-8601 / java.sql.Timestamp text and epoch
     * milliseconds (parquet.c's default). */
    int (*timestamp)(void *ctx, const struct pq_jv *v, int64_t *ms);
    void *ctx;
};

struct pq_writer;

/* A writer appending one Parquet file to out (whose ceiling bounds the
 * file). schema and reader are borrowed for the writer's life.
 * HY_OK, HY_ENOMEM, HY_EINVAL (a schema Parquet cannot hold; msg). */
int pq_writer_new(const struct glue_schema *schema, const struct pq_options *opt,
                  const struct pq_reader *reader, struct buf *out, struct pq_writer **w,
                  char *msg, size_t msg_len);
void pq_writer_free(struct pq_writer *w);   /* accepts NULL */

/* Adds the JSON object row as one row. HY_EINVAL with a sentence in msg
 * when it does not fit the schema: nothing of it is kept, the writer goes
 * on. HY_ENOMEM / HY_ETOOBIG: the writer is unusable. */
int pq_write_row(struct pq_writer *w, const struct pq_jv *row, char *msg, size_t msg_len);

/* Writes what is buffered and the footer. HY_OK, HY_ENOMEM, HY_ETOOBIG. */
int pq_finish(struct pq_writer *w);

/* Rows written so far (kept rows only). */
uint64_t pq_rows(const struct pq_writer *w);

/* Days since 1970-01-01 of a proleptic Gregorian date; the inverse of
 * what readers do with DATE. */
int64_t pq_days_from_civil(int64_t y, int m, int d);

/* Default timestamp text: "yyyy-MM-dd[ T]HH:mm:ss[.fff...][Z|+hh:mm]" or
 * "yyyy-MM-dd" -> ms since the epoch. HY_OK or HY_EINVAL. */
int pq_parse_timestamp(const char *s, int64_t *ms);

#endif
