/* test_glue.c -- the Glue catalog below the HTTP layer: Hive type strings
 * parsed into trees (glue_type_parse), and glue_table_schema, the one call
 * the format stage makes, against a catalog filled through glue_exec (the
 * API without HTTP): LATEST and pinned versions, the errors for a missing
 * database, table or version, unusable column types. The API itself is
 * tested with boto3 in tests/integration/test_glue.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "glue.h"
#include "parquet.h"

struct hy_config hy_cfg = {.region = "us-east-1"};

static void parses(const char *s, enum glue_kind kind, size_t nchild)
{
    struct glue_type t;
    char msg[200];
    int rc = glue_type_parse(s, &t, msg, sizeof msg);
    if (rc)
        fail_msg("%s: %s", s, msg);
    assert_int_equal(t.kind, kind);
    assert_int_equal(t.nchild, nchild);
    glue_type_free(&t);
}

static void refused(const char *s)
{
    struct glue_type t;
    char msg[200] = "";
    assert_int_equal(glue_type_parse(s, &t, msg, sizeof msg), HY_EINVAL);
    assert_true(msg[0] != 0);
}

static void test_type_parse(void **state)
{
    (void)state;
    parses("string", GLUE_STRING, 0);
    parses("  BIGINT ", GLUE_BIGINT, 0);
    parses("integer", GLUE_INT, 0);
    parses("varchar(10)", GLUE_VARCHAR, 0);
    parses("char(3)", GLUE_CHAR, 0);
    parses("decimal", GLUE_DECIMAL, 0);
    parses("array<struct<a:int,b:map<string,array<date>>>>", GLUE_ARRAY, 1);
    parses("map<int,timestamp>", GLUE_MAP, 2);
    parses("struct<`weird name`:binary, b : double>", GLUE_STRUCT, 2);

    struct glue_type t;
    char msg[200];
    assert_int_equal(glue_type_parse("struct<Lat:double,pos:struct<x:decimal(38,6)>>", &t, msg,
                                     sizeof msg), HY_OK);
    assert_string_equal(t.child[0].name, "lat"); /* Hive keeps names in lowercase */
    assert_int_equal(t.child[1].child[0].kind, GLUE_DECIMAL);
    assert_int_equal(t.child[1].child[0].precision, 38);
    assert_int_equal(t.child[1].child[0].scale, 6);
    glue_type_free(&t);

    refused("");
    refused("strin");
    refused("decimal(39,2)");
    refused("decimal(5,6)");
    refused("varchar(0)");
    refused("char(256)");
    refused("array<int");
    refused("map<array<int>,int>"); /* keys are primitive */
    refused("struct<a:int,a:string>");
    refused("struct<:int>");
    refused("int int");
    char deep[4096] = "";
    for (int i = 0; i < GLUE_MAX_DEPTH + 1; i++)
        strcat(deep, "array<");
    strcat(deep, "int");
    for (int i = 0; i < GLUE_MAX_DEPTH + 1; i++)
        strcat(deep, ">");
    refused(deep);
}

static void call(const char *op, const char *body, int want_status, const char *want_type)
{
    int status;
    char *out;
    const char *type;
    glue_exec(op, body, strlen(body), &status, &out, &type);
    if (status != want_status || (want_type ? !type || strcmp(type, want_type) : type != NULL))
        fail_msg("%s %s: %d %s", op, body, status, out ? out : "(null)");
    free(out);
}

static void test_table_schema(void **state)
{
    (void)state;
    char dir[] = "/tmp/hydrant-glueXXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(glue_open(dir), HY_OK);
    char msg[300];
    struct glue_schema *s = NULL;

    assert_int_equal(glue_table_schema("fleet", "t", "LATEST", &s, msg, sizeof msg),
                     HY_ENOTFOUND);
    assert_non_null(strstr(msg, "Database fleet"));
    call("CreateDatabase", "{\"DatabaseInput\":{\"Name\":\"Fleet\"}}", 200, NULL);
    assert_int_equal(glue_table_schema("fleet", "t", "LATEST", &s, msg, sizeof msg),
                     HY_ENOTFOUND);
    assert_non_null(strstr(msg, "Table t"));
    call("CreateTable", "{\"DatabaseName\":\"fleet\",\"TableInput\":{\"Name\":\"T\","
         "\"StorageDescriptor\":{\"Columns\":[{\"Name\":\"Vehicle_Id\",\"Type\":\"string\"},"
         "{\"Name\":\"pos\",\"Type\":\"struct<lat:double,lon:double>\"}]}}}", 200, NULL);
    call("CreateTable", "{\"DatabaseName\":\"fleet\",\"TableInput\":{\"Name\":\"t\"}}", 400,
         "AlreadyExistsException");
    assert_int_equal(glue_table_schema("FLEET", "T", "LATEST", &s, msg, sizeof msg), HY_OK);
    assert_int_equal(s->ncols, 2);
    assert_string_equal(s->cols[0].name, "vehicle_id");
    assert_int_equal(s->cols[1].kind, GLUE_STRUCT);
    assert_string_equal(s->version_id, "0");
    glue_schema_free(s);

    call("UpdateTable", "{\"DatabaseName\":\"fleet\",\"TableInput\":{\"Name\":\"t\","
         "\"StorageDescriptor\":{\"Columns\":[{\"Name\":\"speed\",\"Type\":\"float\"}]}}}",
         200, NULL);
    assert_int_equal(glue_table_schema("fleet", "t", "LATEST", &s, msg, sizeof msg), HY_OK);
    assert_int_equal(s->ncols, 1);
    assert_int_equal(s->cols[0].kind, GLUE_FLOAT);
    assert_string_equal(s->version_id, "1");
    glue_schema_free(s);
    assert_int_equal(glue_table_schema("fleet", "t", "0", &s, msg, sizeof msg), HY_OK);
    assert_int_equal(s->ncols, 2);
    glue_schema_free(s);
    assert_int_equal(glue_table_schema("fleet", "t", "5", &s, msg, sizeof msg), HY_ENOTFOUND);
    assert_int_equal(glue_table_schema("fleet", "t", "x", &s, msg, sizeof msg), HY_EINVAL);

    /* a type the catalog stores but conversion cannot use */
    call("UpdateTable", "{\"DatabaseName\":\"fleet\",\"TableInput\":{\"Name\":\"t\","
         "\"StorageDescriptor\":{\"Columns\":[{\"Name\":\"u\",\"Type\":\"uniontype<int>\"}]}}}",
         200, NULL);
    assert_int_equal(glue_table_schema("fleet", "t", "LATEST", &s, msg, sizeof msg), HY_EINVAL);
    assert_non_null(strstr(msg, "Column u"));
    assert_null(s);

    call("GetTable", "{\"DatabaseName\":\"fleet\"}", 400, "InvalidInputException");
    call("Nope", "{}", 400, "UnknownOperationException");
    call("GetDatabases", "[1]", 400, "SerializationException");
    glue_close();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_timestamps(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(pq_parse_timestamp("1970-01-01T00:00:00Z", &ms), HY_OK);
    assert_int_equal(ms, 0);
    assert_int_equal(pq_parse_timestamp("2017-02-07T15:13:01.39256Z", &ms), HY_OK);
    assert_int_equal(ms, 1486480381392LL);
    assert_int_equal(pq_parse_timestamp("2017-02-07 15:13:01", &ms), HY_OK);
    assert_int_equal(ms, 1486480381000LL);
    assert_int_equal(pq_parse_timestamp("2017-02-07T16:13:01+01:00", &ms), HY_OK);
    assert_int_equal(ms, 1486480381000LL);
    assert_int_equal(pq_parse_timestamp("1969-12-31T23:59:59.999Z", &ms), HY_OK);
    assert_int_equal(ms, -1);
    assert_int_equal(pq_parse_timestamp("2017-02-30 00:00:00", &ms), HY_EINVAL);
    assert_int_equal(pq_parse_timestamp("2017-02-07T25:00:00", &ms), HY_EINVAL);
    assert_int_equal(pq_parse_timestamp("yesterday", &ms), HY_EINVAL);
    assert_int_equal(pq_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(pq_days_from_civil(1900, 1, 1), -25567);
}

int main(void)
{
    hy_log_level = HY_LOG_ERROR + 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_parse),
        cmocka_unit_test(test_table_schema),
        cmocka_unit_test(test_timestamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
