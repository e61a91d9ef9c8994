/* hydrant-parquet -- JSON lines in, one Parquet file out, through the
 * server's own format stage (format.c + parquet.c), for tests that read
 * the file back with independent readers (DuckDB, hyparquet) and for
 * looking at what a schema gives.
 *
 *   hydrant-parquet --schema 'struct<a:int,b:array<string>>' -o out.parquet
 *       [--dfc '<DataFormatConversionConfiguration JSON>']
 *       [--codec UNCOMPRESSED|SNAPPY|GZIP] [--writer V1|V2] [--dictionary]
 *       [--block-size N] [--page-size N] < records.jsonl
 *   hydrant-parquet --glue-dir DATA_DIR --dfc '<JSON>' -o out.parquet < records.jsonl
 *
 * With --glue-dir the schema is not given: the stage runs as delivery
 * runs it (format_run), reading the table named in the dfc's
 * SchemaConfiguration from DATA_DIR/glue.db at that moment -- the catalog
 * of a hydrant that may be running (SQLite lets both at it).
 *
 * Each input line is one record (a record may hold several JSON objects).
 * The top-level struct's fields are the table's columns. --dfc gives the
 * SerDe settings exactly as a stream would (it is checked by
 * format_check); the flags after it override the ParquetSerDe values, and
 * --block-size / --page-size may go below AWS's minimums (64 MiB, 64 KiB)
 * so that tests can see several row groups and pages in a small file.
 * Prints one JSON line: {"rows":N,"failed":[{"record":i,"errorCode":...,
 * "message":...}]}. Exit 0 when the file was written, 1 on a usage or
 * schema error, 2 when nothing could be written.
 */
#include "format.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hy_config hy_cfg;

static void usage(void)
{
    fprintf(stderr, "usage: hydrant-parquet --schema TYPE -o FILE [--dfc JSON] [--codec C] "
                    "[--writer V1|V2] [--dictionary] [--block-size N] [--page-size N] "
                    "< records.jsonl\n");
    exit(1);
}

int main(int argc, char **argv)
{
    const char *schema_s = NULL, *outpath = NULL, *dfc_s = NULL, *codec = NULL,
               *writer = NULL, *glue_dir = NULL;
    long long block = -1, page = -1;
    int dictionary = -1;
    char msg[512];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--dictionary")) {
            dictionary = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--schema")) schema_s = v;
        else if (!strcmp(a, "-o")) outpath = v;
        else if (!strcmp(a, "--dfc")) dfc_s = v;
        else if (!strcmp(a, "--glue-dir")) glue_dir = v;
        else if (!strcmp(a, "--codec")) codec = v;
        else if (!strcmp(a, "--writer")) writer = v;
        else if (!strcmp(a, "--block-size")) block = atoll(v);
        else if (!strcmp(a, "--page-size")) page = atoll(v);
        else usage();
    }
    if ((!schema_s && !glue_dir) || !outpath)
        usage();
    hy_log_level = HY_LOG_ERROR;

    struct glue_type top = {.kind = GLUE_STRUCT};
    if (glue_dir) {
        if (glue_open(glue_dir)) {
            fprintf(stderr, "hydrant-parquet: cannot open %s/glue.db\n", glue_dir);
            return 1;
        }
    } else if (glue_type_parse(schema_s, &top, msg, sizeof msg) || top.kind != GLUE_STRUCT) {
        fprintf(stderr, "hydrant-parquet: bad schema: %s\n",
                top.kind != GLUE_STRUCT ? "the schema must be struct<...>" : msg);
        return 1;
    }
    struct glue_schema schema = {.ncols = top.nchild, .cols = top.child};
    json_error_t jerr;
    json_t *dfc = dfc_s ? json_loads(dfc_s, 0, &jerr) : json_pack(
        "{s:{s:s,s:s},s:{s:{s:{}}},s:{s:{s:{}}}}", "SchemaConfiguration", "DatabaseName",
        "tool", "TableName", "tool", "InputFormatConfiguration", "Deserializer",
        "OpenXJsonSerDe", "OutputFormatConfiguration", "Serializer", "ParquetSerDe");
    if (!dfc) {
        fprintf(stderr, "hydrant-parquet: --dfc is not JSON: %s\n", jerr.text);
        return 1;
    }
    struct format_params p;
    if (format_params_from(dfc, &p, msg, sizeof msg)) {
        fprintf(stderr, "hydrant-parquet: %s\n", msg);
        return 1;
    }
    if (codec)
        p.pq.codec = !strcmp(codec, "GZIP") ? PQ_GZIP : !strcmp(codec, "SNAPPY") ? PQ_SNAPPY
                                                                               : PQ_UNCOMPRESSED;
    if (writer)
        p.pq.writer_version = !strcmp(writer, "V2") ? 2 : 1;
    if (dictionary >= 0)
        p.pq.dictionary = dictionary;
    if (block > 0)
        p.pq.block_size = (size_t)block;
    if (page > 0)
        p.pq.page_size = (size_t)page;

    struct pl_batch in, fails;
    pl_batch_init(&in, 1u << 30);
    pl_batch_init(&fails, 1u << 30);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    struct pl_rec like = {0};
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (n && line[n - 1] == '\n')
            n--;
        like.src = (uint32_t)in.n;
        if (pl_add(&in, &in, &like, line, (size_t)n)) {
            fprintf(stderr, "hydrant-parquet: input too large\n");
            return 2;
        }
    }
    free(line);
    struct buf out;
    buf_init(&out, 1u << 30);
    uint64_t rows = 0;
    int rc;
    if (glue_dir) {
        rc = format_run(dfc, &in, &out, &fails, &rows, msg, sizeof msg);
        glue_close();
    } else {
        rc = format_convert(&schema, &p, &in, &out, &fails, &rows);
        snprintf(msg, sizeof msg, "%s", hy_strerror(rc));
    }
    int status = 0;
    if (rc) {
        fprintf(stderr, "hydrant-parquet: %s\n", msg);
        status = 2;
        goto out_free;
    }
    FILE *f = fopen(outpath, "wb");
    if (!f || (out.len && fwrite(out.data, 1, out.len, f) != out.len) || fclose(f)) {
        perror(outpath);
        status = 2;
        goto out_free;
    }
    json_t *failed = json_array();
    const struct pl_fail *fl = (const struct pl_fail *)(void *)fails.fails.data;
    for (size_t i = 0; i < fails.nfail; i++)
        json_array_append_new(failed, json_pack("{s:i,s:s,s:s,s:s}", "record", (int)fl[i].src,
                                                "errorCode", fl[i].error_code, "outputType",
                                                fl[i].output_type, "message",
                                                fl[i].message ? fl[i].message : ""));
    json_t *res = json_pack("{s:I,s:o,s:I}", "rows", (json_int_t)rows, "failed", failed,
                            "bytes", (json_int_t)out.len);
    char *text = json_dumps(res, JSON_COMPACT);
    printf("%s\n", text);
    free(text);
    json_decref(res);
out_free:
    json_decref(dfc);
    buf_free(&out);
    pl_batch_free(&in);
    pl_batch_free(&fails);
    glue_type_free(&top);
    return status;
}
