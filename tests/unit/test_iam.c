/* test_iam.c -- the IAM store below the HTTP layer: opening iam.db in WAL
 * mode, the on-disk schema iam.c documents, and iam_role_exists() (the
 * lookup other modules use for a stream's RoleARN), also from several
 * threads at once. The Query API itself is tested with boto3 and the AWS
 * CLI in tests/integration/test_iam.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"

/* exported by iam.c; api.h gets the prototype from the lead */
int iam_role_exists(const char *role_arn);

struct hy_config hy_cfg = {.region = "us-east-1"};

#define ARN "arn:aws:iam::000000000000:role/service-role/FirehoseDeliveryRole"

static char *tmpdir(void)
{
    char path[64];
    strcpy(path, "/tmp/hydrant-iamXXXXXX");
    assert_non_null(mkdtemp(path));
    return strdup(path);
}

static void rm_rf(char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

/* A second connection, as an operator's sqlite3 shell would be. */
static sqlite3 *open_side(const char *dir)
{
    char path[128];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/iam.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

static void insert_role(sqlite3 *db, const char *name, const char *path, const char *arn)
{
    char *sql = sqlite3_mprintf(
        "INSERT INTO roles(name, path, role_id, arn, create_ms, trust_policy, max_session)"
        " VALUES (%Q, %Q, 'AROA%q', %Q, 0, '{}', 3600)", name, path, name, arn);
    char *err = NULL;
    int src = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (src != SQLITE_OK)
        fail_msg("insert: %s", err);
    sqlite3_free(sql);
}

static void test_open_creates_wal_db(void **state)
{
    (void)state;
    char *dir = tmpdir();
    assert_int_equal(iam_open(dir), HY_OK);

    sqlite3 *db = open_side(dir);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    /* every table of the documented schema is there */
    const char *tables[] = {"roles", "role_tags", "role_policies", "role_attached"};
    for (size_t i = 0; i < 4; i++) {
        char *sql = sqlite3_mprintf("SELECT count(*) FROM %s", tables[i]);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_free(sql);
    }
    sqlite3_close(db);
    iam_close();
    /* opening again keeps the store (CREATE TABLE IF NOT EXISTS) */
    assert_int_equal(iam_open(dir), HY_OK);
    iam_close();
    rm_rf(dir);
}

static void test_role_exists(void **state)
{
    (void)state;
    char *dir = tmpdir();
    assert_int_equal(iam_open(dir), HY_OK);
    assert_int_equal(iam_role_exists(ARN), HY_ENOTFOUND);
    assert_int_equal(iam_role_exists(NULL), HY_ENOTFOUND);

    sqlite3 *db = open_side(dir);
    insert_role(db, "FirehoseDeliveryRole", "/service-role/", ARN);
    sqlite3_close(db);

    assert_int_equal(iam_role_exists(ARN), HY_OK);
    /* exact ARNs only: path, account and name all count */
    assert_int_equal(iam_role_exists("arn:aws:iam::000000000000:role/FirehoseDeliveryRole"),
                     HY_ENOTFOUND);
    assert_int_equal(iam_role_exists("arn:aws:iam::111111111111:role/service-role/"
                                     "FirehoseDeliveryRole"), HY_ENOTFOUND);
    assert_int_equal(iam_role_exists(""), HY_ENOTFOUND);

    /* survives a reopen */
    iam_close();
    assert_int_equal(iam_role_exists(ARN), HY_EDB);
    assert_int_equal(iam_open(dir), HY_OK);
    assert_int_equal(iam_role_exists(ARN), HY_OK);
    iam_close();
    rm_rf(dir);
}

static void test_open_unusable_dir(void **state)
{
    (void)state;
    assert_int_equal(iam_open("/nonexistent-hydrant-dir/sub"), HY_EDB);
    assert_int_equal(iam_role_exists(ARN), HY_EDB);
    iam_close(); /* closing what failed to open is harmless */
}

struct lookup_job {
    int found, missing;
};

static void *lookup_many(void *arg)
{
    struct lookup_job *job = arg;
    for (int i = 0; i < 500; i++) {
        char arn[96];
        snprintf(arn, sizeof arn, "arn:aws:iam::000000000000:role/r%d", i % 20);
        if (iam_role_exists(arn) == HY_OK)
            job->found++;
        else
            job->missing++;
    }
    return NULL;
}

static void test_role_exists_from_threads(void **state)
{
    (void)state;
    char *dir = tmpdir();
    assert_int_equal(iam_open(dir), HY_OK);
    sqlite3 *db = open_side(dir);
    for (int i = 0; i < 10; i++) {
        char name[16], arn[96];
        snprintf(name, sizeof name, "r%d", i);
        snprintf(arn, sizeof arn, "arn:aws:iam::000000000000:role/r%d", i);
        insert_role(db, name, "/", arn);
    }
    sqlite3_close(db);

    pthread_t th[8];
    struct lookup_job jobs[8] = {{0, 0}};
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, lookup_many, &jobs[i]), 0);
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].found, 250);   /* r0..r9 of r0..r19 */
        assert_int_equal(jobs[i].missing, 250);
    }
    iam_close();
    rm_rf(dir);
}

int main(void)
{
    hy_log_level = HY_LOG_ERROR + 1; /* the failing open logs by design */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_creates_wal_db),
        cmocka_unit_test(test_role_exists),
        cmocka_unit_test(test_open_unusable_dir),
        cmocka_unit_test(test_role_exists_from_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
