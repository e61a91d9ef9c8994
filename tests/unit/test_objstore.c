/* test_objstore.c -- the embedded store (objstore.c) on a fresh temp dir:
 * put/get/overwrite/delete, listing order with prefix and start-after,
 * bucket lifecycle, keys that look like paths, and reopening; files handed
 * over whole (put_file), attributes and tags, hard-link copies, multipart
 * uploads (ETag, errors, restart, orphan sweep), the catalog migration
 * from the first schema, and file modes / fan-out directories. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objstore.h"

/* main.o is not linked into unit tests */
struct hy_config hy_cfg = {
    .host = "127.0.0.1",
    .port = 0,
    .data_dir = "/nonexistent",
    .region = "us-east-1",
    .max_body = 1u << 20,
    .threads = 1,
};

struct fixture {
    char dir[64];
    struct objstore *os;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/test_objstore.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char data[128];
    snprintf(data, sizeof data, "%s/data", f->dir);
    assert_int_equal(mkdir(data, 0755), 0);
    assert_int_equal(objstore_open(data, &f->os), HY_OK);
    *state = f;
    return 0;
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            rm_rf(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    objstore_close(f->os);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    char data[128];
    snprintf(data, sizeof data, "%s/data", f->dir);
    objstore_close(f->os);
    f->os = NULL;
    assert_int_equal(objstore_open(data, &f->os), HY_OK);
}

/* Reads a whole object through objstore_get into buf; returns its size. */
static size_t get_all(struct objstore *os, const char *bucket, const char *key,
                      char *out, size_t cap, struct objstore_obj *info)
{
    int fd = -1;
    assert_int_equal(objstore_get(os, bucket, key, &fd, info), HY_OK);
    assert_true(fd >= 0);
    ssize_t n = pread(fd, out, cap, 0);
    close(fd);
    assert_true(n >= 0);
    assert_int_equal((uint64_t)n, info->size);
    return (size_t)n;
}

/* Number of regular files under path (recursively). */
static int count_files(const char *path)
{
    int n = 0;
    DIR *d = opendir(path);
    struct dirent *de;
    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char sub[4096];
        struct stat st;
        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        if (lstat(sub, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            n += count_files(sub);
        else if (S_ISREG(st.st_mode))
            n++;
    }
    closedir(d);
    return n;
}

static void test_put_get_overwrite_delete(void **state)
{
    struct fixture *f = *state;
    struct objstore_obj info;
    char etag[40], got[64], objdir[128];
    snprintf(objdir, sizeof objdir, "%s/data/store/objects", f->dir);

    assert_int_equal(objstore_put(f->os, "nob", "k", "x", 1, NULL, etag), HY_ENOTFOUND);
    assert_int_equal(objstore_bucket_create(f->os, "b1", NULL), HY_OK);
    assert_int_equal(objstore_bucket_create(f->os, "b1", NULL), HY_EEXIST);
    assert_int_equal(objstore_bucket_exists(f->os, "b1"), HY_OK);
    assert_int_equal(objstore_bucket_exists(f->os, "b2"), HY_ENOTFOUND);

    assert_int_equal(objstore_put(f->os, "b1", "k", "hello world", 11, "text/plain", etag),
                     HY_OK);
    assert_string_equal(etag, "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"");
    size_t n = get_all(f->os, "b1", "k", got, sizeof got, &info);
    assert_int_equal(n, 11);
    assert_memory_equal(got, "hello world", 11);
    assert_string_equal(info.content_type, "text/plain");
    assert_string_equal(info.etag, etag);
    assert_string_equal(info.key, "k");
    assert_int_equal(count_files(objdir), 1);

    /* overwrite: new bytes, new etag, old file gone */
    assert_int_equal(objstore_put_meta(f->os, "b1", "k", "bye", 3, NULL, "color:red\n",
                                       etag, NULL),
                     HY_OK);
    n = get_all(f->os, "b1", "k", got, sizeof got, &info);
    assert_int_equal(n, 3);
    assert_memory_equal(got, "bye", 3);
    assert_string_equal(info.content_type, "binary/octet-stream");
    assert_string_equal(info.meta, "color:red\n");
    assert_int_equal(count_files(objdir), 1);

    /* an fd stays readable after the object is deleted */
    int fd = -1;
    assert_int_equal(objstore_get(f->os, "b1", "k", &fd, &info), HY_OK);
    assert_int_equal(objstore_delete(f->os, "b1", "k"), HY_OK);
    assert_int_equal(pread(fd, got, sizeof got, 0), 3);
    close(fd);
    assert_int_equal(count_files(objdir), 0);
    assert_int_equal(objstore_delete(f->os, "b1", "k"), HY_ENOTFOUND);
    assert_int_equal(objstore_head(f->os, "b1", "k", &info), HY_ENOTFOUND);
    assert_int_equal(objstore_get(f->os, "b1", "k", &fd, &info), HY_ENOTFOUND);

    /* empty object */
    assert_int_equal(objstore_put(f->os, "b1", "empty", "", 0, NULL, etag), HY_OK);
    assert_string_equal(etag, "\"d41d8cd98f00b204e9800998ecf8427e\"");
    assert_int_equal(objstore_head(f->os, "b1", "empty", &info), HY_OK);
    assert_int_equal(info.size, 0);
}

/* Objects larger than the pieces objstore_put hashes and writes in (256
 * KiB, writeback started every 8 MiB): sizes on, around and off those
 * boundaries read back byte for byte, with the MD5 of the whole as ETag. */
static void test_put_large_in_pieces(void **state)
{
    struct fixture *f = *state;
    static const size_t sizes[] = {(256u << 10) - 1, 256u << 10, (256u << 10) + 1,
                                   8u << 20, (8u << 20) + 1, (19u << 20) + 12345};
    size_t max = sizes[sizeof sizes / sizeof *sizes - 1];
    unsigned char *data = malloc(max), *got = malloc(max);
    assert_non_null(data);
    assert_non_null(got);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < max; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    assert_int_equal(objstore_bucket_create(f->os, "big", NULL), HY_OK);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t len = sizes[k];
        char etag[40], want[40], hex[33], key[32];
        unsigned char md[16];
        unsigned int mdlen = 0;
        assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL), 1);
        for (int i = 0; i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        snprintf(want, sizeof want, "\"%s\"", hex);
        snprintf(key, sizeof key, "obj-%zu", len);
        assert_int_equal(objstore_put(f->os, "big", key, data, len, NULL, etag), HY_OK);
        assert_string_equal(etag, want);
        struct objstore_obj info;
        size_t n = get_all(f->os, "big", key, (char *)got, max, &info);
        assert_int_equal(n, len);
        assert_memory_equal(got, data, len);
        assert_string_equal(info.etag, want);
    }
    free(data);
    free(got);
}

static void test_limits(void **state)
{
    struct fixture *f = *state;
    char key[OBJSTORE_MAX_KEY + 2];
    assert_int_equal(objstore_bucket_create(f->os, "b", NULL), HY_OK);
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = 0;
    assert_int_equal(objstore_put(f->os, "b", key, "x", 1, NULL, NULL), HY_ETOOBIG);
    key[OBJSTORE_MAX_KEY] = 0; /* exactly 1024 bytes is allowed */
    assert_int_equal(objstore_put(f->os, "b", key, "x", 1, NULL, NULL), HY_OK);
    struct objstore_obj info;
    assert_int_equal(objstore_head(f->os, "b", key, &info), HY_OK);
    assert_int_equal(strlen(info.key), OBJSTORE_MAX_KEY);
    assert_int_equal(objstore_put(f->os, "b", "", "x", 1, NULL, NULL), HY_EINVAL);
}

struct collect {
    char keys[64][64];
    int n;
    int stop_after;
};

static int collect_cb(void *ctx, const struct objstore_obj *obj)
{
    struct collect *c = ctx;
    if (c->n < 64)
        snprintf(c->keys[c->n++], sizeof c->keys[0], "%.63s", obj->key);
    return c->stop_after && c->n >= c->stop_after;
}

static void test_list(void **state)
{
    struct fixture *f = *state;
    static const char *const keys[] = {"b/2", "a", "b/1", "c", "b/10", "ab", "\xc3\xa9", "B"};
    assert_int_equal(objstore_bucket_create(f->os, "lb", NULL), HY_OK);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_int_equal(objstore_put(f->os, "lb", keys[i], "x", 1, NULL, NULL), HY_OK);

    struct collect c = {0};
    assert_int_equal(objstore_list(f->os, "lb", NULL, NULL, false, collect_cb, &c), HY_OK);
    /* bytewise order: uppercase before lowercase, UTF-8 last */
    static const char *const want[] = {"B", "a", "ab", "b/1", "b/10", "b/2", "c",
                                       "\xc3\xa9"};
    assert_int_equal(c.n, 8);
    for (int i = 0; i < 8; i++)
        assert_string_equal(c.keys[i], want[i]);

    memset(&c, 0, sizeof c);
    assert_int_equal(objstore_list(f->os, "lb", "b/", NULL, false, collect_cb, &c), HY_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.keys[0], "b/1");
    assert_string_equal(c.keys[2], "b/2");

    memset(&c, 0, sizeof c);
    assert_int_equal(objstore_list(f->os, "lb", NULL, "ab", false, collect_cb, &c), HY_OK);
    assert_int_equal(c.n, 5);
    assert_string_equal(c.keys[0], "b/1");

    memset(&c, 0, sizeof c);
    assert_int_equal(objstore_list(f->os, "lb", NULL, "ab", true, collect_cb, &c), HY_OK);
    assert_string_equal(c.keys[0], "ab");

    /* start-after before the prefix starts at the prefix */
    memset(&c, 0, sizeof c);
    assert_int_equal(objstore_list(f->os, "lb", "b/", "a", false, collect_cb, &c), HY_OK);
    assert_int_equal(c.n, 3);
    /* start-after inside the prefix range */
    memset(&c, 0, sizeof c);
    assert_int_equal(objstore_list(f->os, "lb", "b/", "b/10", false, collect_cb, &c),
                     HY_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.keys[0], "b/2");

    /* the callback stops the walk */
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    assert_int_equal(objstore_list(f->os, "lb", NULL, NULL, false, collect_cb, &c), HY_OK);
    assert_int_equal(c.n, 2);

    memset(&c, 0, sizeof c);
    assert_int_equal(objstore_list(f->os, "nope", NULL, NULL, false, collect_cb, &c),
                     HY_ENOTFOUND);
}

static int count_bucket_cb(void *ctx, const char *name, const char *region,
                           int64_t created_ms)
{
    (void)name;
    (void)region;
    assert_true(created_ms > 0);
    (*(int *)ctx)++;
    return 0;
}

static void test_buckets(void **state)
{
    struct fixture *f = *state;
    char region[OBJSTORE_MAX_REGION + 1];
    assert_int_equal(objstore_bucket_create(f->os, "eu", "eu-west-1"), HY_OK);
    assert_int_equal(objstore_bucket_create(f->os, "us", NULL), HY_OK);
    assert_int_equal(objstore_bucket_region(f->os, "eu", region), HY_OK);
    assert_string_equal(region, "eu-west-1");
    assert_int_equal(objstore_bucket_region(f->os, "us", region), HY_OK);
    assert_string_equal(region, "us-east-1");
    assert_int_equal(objstore_bucket_region(f->os, "xx", region), HY_ENOTFOUND);

    assert_int_equal(objstore_put(f->os, "eu", "k", "v", 1, NULL, NULL), HY_OK);
    assert_int_equal(objstore_bucket_delete(f->os, "eu"), HY_ENOTEMPTY);
    assert_int_equal(objstore_delete(f->os, "eu", "k"), HY_OK);
    assert_int_equal(objstore_bucket_delete(f->os, "eu"), HY_OK);
    assert_int_equal(objstore_bucket_delete(f->os, "eu"), HY_ENOTFOUND);
    int n = 0;
    assert_int_equal(objstore_bucket_list(f->os, count_bucket_cb, &n), HY_OK);
    assert_int_equal(n, 1);
}

static void test_path_keys_stay_inside(void **state)
{
    struct fixture *f = *state;
    static const char *const keys[] = {
        "../../etc/passwd", "../escape", "/", "//x", "a/../../b", "./.",
        "..", "\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x94\xa5",
    };
    char objdir[128], data[128];
    snprintf(objdir, sizeof objdir, "%s/data/store/objects", f->dir);
    snprintf(data, sizeof data, "%s/data", f->dir);
    assert_int_equal(objstore_bucket_create(f->os, "p", NULL), HY_OK);
    int before = count_files(f->dir);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_int_equal(objstore_put(f->os, "p", keys[i], keys[i], strlen(keys[i]),
                                      NULL, NULL),
                         HY_OK);
    /* every new file is an object file under objects/, and nothing was
     * written next to the data dir */
    assert_int_equal(count_files(objdir), (int)(sizeof keys / sizeof keys[0]));
    assert_int_equal(count_files(f->dir), before + (int)(sizeof keys / sizeof keys[0]));
    char outside[160];
    snprintf(outside, sizeof outside, "%s/escape", f->dir);
    assert_int_not_equal(access(outside, F_OK), 0);
    snprintf(outside, sizeof outside, "%s/data/escape", f->dir);
    assert_int_not_equal(access(outside, F_OK), 0);
    /* and each key reads back its own bytes */
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        struct objstore_obj info;
        char got[64];
        size_t n = get_all(f->os, "p", keys[i], got, sizeof got, &info);
        assert_int_equal(n, strlen(keys[i]));
        assert_memory_equal(got, keys[i], n);
    }
}

static void test_reopen_keeps_data(void **state)
{
    struct fixture *f = *state;
    char etag[40], got[16];
    struct objstore_obj info;
    assert_int_equal(objstore_bucket_create(f->os, "keep", "ap-south-1"), HY_OK);
    assert_int_equal(objstore_put_meta(f->os, "keep", "dir/obj", "persist", 7,
                                       "text/csv", "a:1\n", etag, NULL),
                     HY_OK);
    reopen(f);
    assert_int_equal(objstore_bucket_exists(f->os, "keep"), HY_OK);
    size_t n = get_all(f->os, "keep", "dir/obj", got, sizeof got, &info);
    assert_int_equal(n, 7);
    assert_memory_equal(got, "persist", 7);
    assert_string_equal(info.etag, etag);
    assert_string_equal(info.content_type, "text/csv");
    assert_string_equal(info.meta, "a:1\n");
    char region[OBJSTORE_MAX_REGION + 1];
    assert_int_equal(objstore_bucket_region(f->os, "keep", region), HY_OK);
    assert_string_equal(region, "ap-south-1");
}

static void test_tmp_cleaned_on_open(void **state)
{
    struct fixture *f = *state;
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s/data/store/tmp/0123.tmp", f->dir);
    FILE *fp = fopen(tmp, "w");
    assert_non_null(fp);
    fputs("half-written", fp);
    fclose(fp);
    reopen(f);
    assert_int_not_equal(access(tmp, F_OK), 0);
}

static void test_orphans_swept_on_open(void **state)
{
    struct fixture *f = *state;
    char objdir[128], orphan[256];
    snprintf(objdir, sizeof objdir, "%s/data/store/objects", f->dir);
    assert_int_equal(objstore_bucket_create(f->os, "o", NULL), HY_OK);
    assert_int_equal(objstore_put(f->os, "o", "live", "keep", 4, NULL, NULL), HY_OK);
    /* as if a crash hit between rename and commit */
    snprintf(orphan, sizeof orphan, "%s/ab", objdir);
    mkdir(orphan, 0755);
    snprintf(orphan, sizeof orphan, "%s/ab/abababababababababababababababab", objdir);
    FILE *fp = fopen(orphan, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(count_files(objdir), 2);
    reopen(f);
    assert_int_equal(count_files(objdir), 1);
    assert_int_not_equal(access(orphan, F_OK), 0);
    struct objstore_obj info;
    char got[8];
    assert_int_equal(get_all(f->os, "o", "live", got, sizeof got, &info), 4);
    assert_memory_equal(got, "keep", 4);
}

struct worker {
    struct objstore *os;
    int id;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char key[32], body[32];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "w%d/%d", w->id, i % 10);
        int n = snprintf(body, sizeof body, "%d-%d", w->id, i);
        if (objstore_put(w->os, "t", key, body, (size_t)n, NULL, NULL) != HY_OK)
            w->failures++;
        if (objstore_put(w->os, "t", "shared", body, (size_t)n, NULL, NULL) != HY_OK)
            w->failures++;
        if (i % 7 == 0 && objstore_delete(w->os, "t", key) != HY_OK)
            w->failures++;
    }
    return NULL;
}

static int count_cb(void *ctx, const struct objstore_obj *obj)
{
    (void)obj;
    (*(int *)ctx)++;
    return 0;
}

static void test_threads(void **state)
{
    struct fixture *f = *state;
    enum { NTHREADS = 6 };
    pthread_t th[NTHREADS];
    struct worker w[NTHREADS];
    char objdir[128];
    snprintf(objdir, sizeof objdir, "%s/data/store/objects", f->dir);
    assert_int_equal(objstore_bucket_create(f->os, "t", NULL), HY_OK);
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){.os = f->os, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    int rows = 0;
    assert_int_equal(objstore_list(f->os, "t", NULL, NULL, false, count_cb, &rows), HY_OK);
    /* key k is last written at i = 40 + k; the deletes at i = 42 (key 2)
     * and i = 49 (key 9) come after those writes, all others before: 8 keys
     * per thread live on, plus "shared" */
    assert_int_equal(rows, NTHREADS * 8 + 1);
    /* exactly one file per live object: no leaks, no lost files */
    assert_int_equal(count_files(objdir), rows);
}


/* ---- put_file, attributes, tags, copy ----------------------------------- */
static void make_tmp(struct objstore *os, const void *data, size_t len,
                     char path[OBJSTORE_PATH_MAX], unsigned char md5[16])
{
    int fd = -1;
    unsigned int n;
    assert_int_equal(objstore_tmp_create(os, path, &fd), HY_OK);
    assert_int_equal(write_all(fd, data, len), HY_OK);
    close(fd);
    assert_int_equal(EVP_Digest(data, len, md5, &n, EVP_md5(), NULL), 1);
}

static void test_put_file_attrs_tags(void **state)
{
    struct fixture *f = *state;
    char path[OBJSTORE_PATH_MAX], etag[OBJSTORE_ETAG_MAX], buf[64];
    unsigned char md5[16];
    struct objstore_obj *info = malloc(sizeof *info);
    char *tags = malloc(OBJSTORE_MAX_TAGS + 1);
    assert_non_null(info);
    assert_non_null(tags);
    assert_int_equal(objstore_bucket_create(f->os, "b", NULL), HY_OK);
    make_tmp(f->os, "spooled", 7, path, md5);
    struct objstore_attrs a = {.content_type = "text/plain", .meta = "m:1\n",
                               .headers = "Cache-Control:no-cache\n", .tags = "a=1&b=2"};
    /* no bucket: the file stays for the caller */
    assert_int_equal(objstore_put_file(f->os, "nob", "k", path, 7, md5, &a, etag, NULL),
                     HY_ENOTFOUND);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(objstore_put_file(f->os, "b", "k", path, 7, md5, &a, etag, NULL), HY_OK);
    assert_int_not_equal(access(path, F_OK), 0); /* renamed into objects/ */
    assert_int_equal(strlen(etag), 34);
    assert_int_equal(get_all(f->os, "b", "k", buf, sizeof buf, info), 7);
    assert_memory_equal(buf, "spooled", 7);
    assert_string_equal(info->content_type, "text/plain");
    assert_string_equal(info->meta, "m:1\n");
    assert_string_equal(info->headers, "Cache-Control:no-cache\n");
    assert_int_equal(info->tag_count, 2);
    assert_int_equal(info->parts, 0);

    assert_int_equal(objstore_tags_get(f->os, "b", "k", tags), HY_OK);
    assert_string_equal(tags, "a=1&b=2");
    assert_int_equal(objstore_tags_set(f->os, "b", "k", ""), HY_OK);
    assert_int_equal(objstore_head(f->os, "b", "k", info), HY_OK);
    assert_int_equal(info->tag_count, 0);
    assert_int_equal(objstore_tags_set(f->os, "b", "missing", "x=y"), HY_ENOTFOUND);
    assert_int_equal(objstore_tags_get(f->os, "b", "missing", tags), HY_ENOTFOUND);

    /* copy: a hard link, attributes kept; the source can go */
    bool missing = true;
    assert_int_equal(objstore_tags_set(f->os, "b", "k", "t=1"), HY_OK);
    assert_int_equal(objstore_copy(f->os, "b", "k", "b", "k2", NULL, &missing, etag, NULL),
                     HY_OK);
    assert_false(missing);
    assert_int_equal(objstore_delete(f->os, "b", "k"), HY_OK);
    assert_int_equal(get_all(f->os, "b", "k2", buf, sizeof buf, info), 7);
    assert_memory_equal(buf, "spooled", 7);
    assert_string_equal(info->headers, "Cache-Control:no-cache\n");
    assert_int_equal(info->tag_count, 1);
    struct objstore_attrs r = {.content_type = "x/y"};
    assert_int_equal(objstore_copy(f->os, "b", "k2", "b", "k3", &r, &missing, etag, NULL),
                     HY_OK);
    assert_int_equal(objstore_head(f->os, "b", "k3", info), HY_OK);
    assert_string_equal(info->content_type, "x/y");
    assert_string_equal(info->meta, "");
    assert_int_equal(info->tag_count, 1); /* tags NULL: kept */
    assert_int_equal(objstore_copy(f->os, "b", "gone", "b", "k4", NULL, &missing, etag, NULL),
                     HY_ENOTFOUND);
    assert_true(missing);
    char objdir[128];
    snprintf(objdir, sizeof objdir, "%s/data/store/objects", f->dir);
    assert_int_equal(count_files(objdir), 2);
    free(info);
    free(tags);
}

/* ---- multipart ---------------------------------------------------------- */
static void put_part(struct objstore *os, const char *id, int n, const void *data,
                     size_t len, char etag[OBJSTORE_ETAG_MAX])
{
    char path[OBJSTORE_PATH_MAX];
    unsigned char md5[16];
    make_tmp(os, data, len, path, md5);
    assert_int_equal(objstore_mpu_put_part(os, "b", "big", id, n, path, len, md5, etag,
                                           NULL), HY_OK);
}

static int part_count_cb(void *ctx, const struct objstore_part *p)
{
    (void)p;
    (*(int *)ctx)++;
    return 0;
}

static int upload_count_cb(void *ctx, const struct objstore_upload *u)
{
    (void)u;
    (*(int *)ctx)++;
    return 0;
}

static void test_multipart(void **state)
{
    struct fixture *f = *state;
    char id[OBJSTORE_UPLOAD_ID_LEN + 1], id2[OBJSTORE_UPLOAD_ID_LEN + 1];
    char e1[OBJSTORE_ETAG_MAX], e2[OBJSTORE_ETAG_MAX], etag[OBJSTORE_ETAG_MAX];
    char objdir[128];
    size_t big = OBJSTORE_MIN_PART;
    char *p1 = malloc(big);
    struct objstore_obj *info = malloc(sizeof *info);
    int bad = -1, n = 0;
    assert_non_null(p1);
    assert_non_null(info);
    memset(p1, 'a', big);
    snprintf(objdir, sizeof objdir, "%s/data/store/objects", f->dir);
    assert_int_equal(objstore_mpu_create(f->os, "b", "big", NULL, id), HY_ENOTFOUND);
    assert_int_equal(objstore_bucket_create(f->os, "b", NULL), HY_OK);
    struct objstore_attrs a = {.content_type = "application/x-big", .tags = "k=v"};
    assert_int_equal(objstore_mpu_create(f->os, "b", "big", &a, id), HY_OK);
    assert_int_equal(strlen(id), OBJSTORE_UPLOAD_ID_LEN);
    assert_int_equal(objstore_mpu_create(f->os, "b", "other", NULL, id2), HY_OK);
    put_part(f->os, id, 2, "tail", 4, e2);
    put_part(f->os, id, 1, "x", 1, e1);
    put_part(f->os, id, 1, p1, big, e1); /* replaces part 1 */
    assert_int_equal(count_files(objdir), 2);
    assert_int_equal(objstore_mpu_list_parts(f->os, "b", "big", id, 0, part_count_cb, &n),
                     HY_OK);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(objstore_mpu_list(f->os, "b", NULL, NULL, NULL, upload_count_cb, &n),
                     HY_OK);
    assert_int_equal(n, 2);
    /* the upload belongs to its key */
    assert_int_equal(objstore_mpu_list_parts(f->os, "b", "other", id, 0, part_count_cb, &n),
                     HY_ENOTFOUND);

    /* parts survive a restart and its orphan sweep */
    reopen(f);
    assert_int_equal(count_files(objdir), 2);

    struct objstore_part_ref wrong[] = {{1, e2}};
    assert_int_equal(objstore_mpu_complete(f->os, "b", "big", id, wrong, 1, &bad, etag, NULL),
                     HY_EINVAL);
    assert_int_equal(bad, 0);
    struct objstore_part_ref small_first[] = {{2, e2}, {3, e2}};
    assert_int_equal(objstore_mpu_complete(f->os, "b", "big", id, small_first, 2, &bad, etag,
                                           NULL), HY_EINVAL);
    assert_int_equal(bad, 1);
    char e3[OBJSTORE_ETAG_MAX];
    put_part(f->os, id, 3, "z", 1, e3);
    struct objstore_part_ref small_first2[] = {{2, e2}, {3, e3}};
    assert_int_equal(objstore_mpu_complete(f->os, "b", "big", id, small_first2, 2, &bad, etag,
                                           NULL), HY_ELIMIT);
    assert_int_equal(bad, 0);

    struct objstore_part_ref refs[] = {{1, e1}, {2, e2}};
    assert_int_equal(objstore_mpu_complete(f->os, "b", "big", id, refs, 2, &bad, etag, NULL),
                     HY_OK);
    /* ETag: MD5 of the parts' binary MD5s, "-2" */
    unsigned char d[32], md[16];
    unsigned int mdlen;
    char hex[33], want[OBJSTORE_ETAG_MAX];
    EVP_Digest(p1, big, d, &mdlen, EVP_md5(), NULL);
    EVP_Digest("tail", 4, d + 16, &mdlen, EVP_md5(), NULL);
    EVP_Digest(d, 32, md, &mdlen, EVP_md5(), NULL);
    hex_encode(hex, md, 16);
    snprintf(want, sizeof want, "\"%s-2\"", hex);
    assert_string_equal(etag, want);
    assert_int_equal(objstore_head(f->os, "b", "big", info), HY_OK);
    assert_int_equal(info->size, big + 4);
    assert_int_equal(info->parts, 2);
    assert_string_equal(info->etag, want);
    assert_string_equal(info->content_type, "application/x-big");
    assert_int_equal(info->tag_count, 1);
    /* the upload is gone, with every part file (part 3 too) */
    assert_int_equal(objstore_mpu_abort(f->os, "b", "big", id), HY_ENOTFOUND);
    assert_int_equal(count_files(objdir), 1);
    /* a pending upload keeps the bucket */
    assert_int_equal(objstore_delete(f->os, "b", "big"), HY_OK);
    assert_int_equal(objstore_bucket_delete(f->os, "b"), HY_ENOTEMPTY);
    assert_int_equal(objstore_mpu_abort(f->os, "b", "other", id2), HY_OK);
    assert_int_equal(objstore_bucket_delete(f->os, "b"), HY_OK);
    assert_int_equal(count_files(objdir), 0);
    free(p1);
    free(info);
}

static void test_copy_part_range(void **state)
{
    struct fixture *f = *state;
    char id[OBJSTORE_UPLOAD_ID_LEN + 1], etag[OBJSTORE_ETAG_MAX];
    bool missing;
    int bad;
    assert_int_equal(objstore_bucket_create(f->os, "b", NULL), HY_OK);
    assert_int_equal(objstore_put(f->os, "b", "src", "0123456789", 10, NULL, NULL), HY_OK);
    assert_int_equal(objstore_mpu_create(f->os, "b", "big", NULL, id), HY_OK);
    assert_int_equal(objstore_mpu_copy_part(f->os, "b", "big", id, 1, "b", "src", 3, 4,
                                            &missing, etag, NULL), HY_OK);
    assert_int_equal(objstore_mpu_copy_part(f->os, "b", "big", id, 2, "b", "src", 8, 3,
                                            &missing, etag, NULL), HY_EINVAL);
    assert_int_equal(objstore_mpu_copy_part(f->os, "b", "big", id, 2, "b", "nope", 0,
                                            UINT64_MAX, &missing, etag, NULL), HY_ENOTFOUND);
    assert_true(missing);
    struct objstore_part_ref refs[1] = {{1, NULL}};
    char e1[OBJSTORE_ETAG_MAX];
    unsigned char md[16];
    unsigned int n;
    char hex[33];
    EVP_Digest("3456", 4, md, &n, EVP_md5(), NULL);
    hex_encode(hex, md, 16);
    snprintf(e1, sizeof e1, "%s", hex); /* unquoted is accepted too */
    refs[0].etag = e1;
    assert_int_equal(objstore_mpu_complete(f->os, "b", "big", id, refs, 1, &bad, etag, NULL),
                     HY_OK);
    char buf[16];
    struct objstore_obj *info = malloc(sizeof *info);
    assert_non_null(info);
    assert_int_equal(get_all(f->os, "b", "big", buf, sizeof buf, info), 4);
    assert_memory_equal(buf, "3456", 4);
    free(info);
}

/* A catalog written by the first release (objects without headers, tags,
 * parts) opens, keeps its rows, and takes the new columns. */
static void test_migrates_old_catalog(void **state)
{
    struct fixture *f = *state;
    char db[160], objdir[160];
    sqlite3 *h;
    objstore_close(f->os);
    f->os = NULL;
    snprintf(db, sizeof db, "%s/data/store/catalog.db", f->dir);
    unlink(db);
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
        "CREATE TABLE buckets(name TEXT PRIMARY KEY, region TEXT NOT NULL,"
        " created_ms INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE objects(bucket TEXT NOT NULL, key TEXT NOT NULL,"
        " size INTEGER NOT NULL, etag TEXT NOT NULL, content_type TEXT NOT NULL,"
        " meta TEXT NOT NULL, last_modified_ms INTEGER NOT NULL, file TEXT NOT NULL,"
        " PRIMARY KEY(bucket, key)) WITHOUT ROWID;"
        "INSERT INTO buckets VALUES('old', 'us-east-1', 1);"
        "INSERT INTO objects VALUES('old', 'k', 2, '\"e\"', 'text/plain', '', 5,"
        " '00112233445566778899aabbccddeeff');", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    snprintf(objdir, sizeof objdir, "%s/data/store/objects/00", f->dir);
    mkdir(objdir, 0755);
    snprintf(objdir, sizeof objdir, "%s/data/store/objects/00/00112233445566778899aabbccddeeff",
             f->dir);
    int fd = open(objdir, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hi", 2), 2);
    close(fd);
    reopen(f);
    struct objstore_obj *info = malloc(sizeof *info);
    char buf[8];
    assert_non_null(info);
    assert_int_equal(get_all(f->os, "old", "k", buf, sizeof buf, info), 2);
    assert_string_equal(info->headers, "");
    assert_int_equal(info->tag_count, 0);
    assert_int_equal(objstore_tags_set(f->os, "old", "k", "a=b"), HY_OK);
    free(info);
}

/* Private and durable: every directory the store makes is 0700 and the
 * catalog 0600 (issue 11); the 256 fan-out directories exist from open on,
 * so no put has to make one; a missing one is made again at put. (That
 * commits are synchronous=FULL cannot be seen from outside the store's
 * connection without a power cut; bench/bench_s3.py shows its cost.) */
static void test_modes_fanout_and_sync(void **state)
{
    struct fixture *f = *state;
    char path[256];
    struct stat st;
    const char *dirs[] = {"store", "store/objects", "store/tmp", "store/objects/00",
                          "store/objects/7f", "store/objects/ff"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/data/%s", f->dir, dirs[i]);
        assert_int_equal(stat(path, &st), 0);
        if ((st.st_mode & 0777) != 0700)
            fail_msg("%s has mode %o", dirs[i], st.st_mode & 0777);
    }
    snprintf(path, sizeof path, "%s/data/store/catalog.db", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    char etag[40];
    assert_int_equal(objstore_bucket_create(f->os, "b1", NULL), HY_OK);
    /* a fan-out directory removed behind the store's back is made again */
    for (int i = 0; i < 256; i++) {
        snprintf(path, sizeof path, "%s/data/store/objects/%02x", f->dir, i);
        assert_int_equal(rmdir(path), 0);
    }
    assert_int_equal(objstore_put(f->os, "b1", "k", "hello", 5, NULL, etag), HY_OK);
    int found = 0;
    for (int i = 0; i < 256; i++) {
        snprintf(path, sizeof path, "%s/data/store/objects/%02x", f->dir, i);
        if (stat(path, &st) == 0) {
            found++;
            assert_int_equal(st.st_mode & 0777, 0700);
            DIR *d = opendir(path);
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                if (de->d_name[0] == '.')
                    continue;
                char file[512];
                snprintf(file, sizeof file, "%s/%s", path, de->d_name);
                assert_int_equal(stat(file, &st), 0);
                assert_int_equal(st.st_mode & 0777, 0600);
            }
            closedir(d);
        }
    }
    assert_int_equal(found, 1);

    /* the catalog is in WAL mode (read by a second connection), and the
     * -wal file SQLite made copied the catalog's 0600 */
    snprintf(path, sizeof path, "%s/data/store/catalog.db", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    sqlite3_close(db);
    snprintf(path, sizeof path, "%s/data/store/catalog.db-wal", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_overwrite_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_large_in_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buckets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_keys_stay_inside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmp_cleaned_on_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphans_swept_on_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_file_attrs_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multipart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_part_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrates_old_catalog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modes_fanout_and_sync, setup, teardown),
    };
    return cmocka_run_group_tests_name("objstore", tests, NULL, NULL);
}
