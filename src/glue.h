/* glue.h -- the Glue Data Catalog (glue.c): the JSON 1.1 API router.c
 * dispatches to, and the one question the format stage asks of it: the
 * columns of a table version, with their Hive types parsed into a tree.
 * Owned by glue.c. */
#ifndef HYDRANT_GLUE_H
#define HYDRANT_GLUE_H

#include "server.h"

/* Hive's type names, as Glue's Column.Type spells them. */
enum glue_kind {
    GLUE_STRING, GLUE_CHAR, GLUE_VARCHAR, GLUE_BOOLEAN, GLUE_TINYINT, GLUE_SMALLINT,
    GLUE_INT, GLUE_BIGINT, GLUE_FLOAT, GLUE_DOUBLE, GLUE_DECIMAL, GLUE_DATE,
    GLUE_TIMESTAMP, GLUE_BINARY, GLUE_STRUCT, GLUE_ARRAY, GLUE_MAP
};

/* One node of a parsed type. A column is a node with a name; a struct's
 * fields are its children (named); an array has one child (its element),
 * a map two (key, value). */
struct glue_type {
    enum glue_kind kind;
    char *name;              /* column or field name (lowercase, as Hive keeps
                                them); NULL for elements, keys, values */
    int length;              /* char(n) / varchar(n) */
    int precision, scale;    /* decimal(p,s); decimal alone is (10,0) */
    size_t nchild;
    struct glue_type *child;
};

struct glue_schema {
    size_t ncols;
    struct glue_type *cols;  /* the table's StorageDescriptor.Columns */
    char version_id[24];     /* the version it was read from */
};

/* The deepest nesting a type may have (struct<array<map<...>>> counts 3). */
#define GLUE_MAX_DEPTH 32

/* Parses one Hive type string ("struct<a:int,b:array<string>>") into out
 * (its name left NULL). HY_OK, HY_EINVAL (a sentence in msg), HY_ENOMEM.
 * Free with glue_type_free. */
int glue_type_parse(const char *s, struct glue_type *out, char *msg, size_t msg_len);
void glue_type_free(struct glue_type *t);   /* the node's contents, not t */

/* The columns of db.table at version ("LATEST" or a decimal VersionId) of
 * the default catalog; *out is the caller's (glue_schema_free).
 * HY_OK; HY_ENOTFOUND (no such database, table or version; msg says
 * which); HY_EINVAL (a column type that cannot be parsed; msg); HY_EDB,
 * HY_ENOMEM. Thread-safe. */
int glue_table_schema(const char *db, const char *table, const char *version,
                      struct glue_schema **out, char *msg, size_t msg_len);
void glue_schema_free(struct glue_schema *s);  /* accepts NULL */

/* The catalog <dir>/glue.db. glue_handle and glue_table_schema open it
 * from hy_cfg.data_dir on first use when glue_open was not called. */
int glue_open(const char *dir);
void glue_close(void);

#endif
