/* test_datadir.c -- the data directory lock: a second locker is refused
 * with the holder's PID, datadir_holder names the holder without
 * disturbing it, and the kernel frees the lock when the holder dies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datadir.h"

struct hy_config hy_cfg = {.region = "us-east-1"};

/* A child that takes the lock, says so through a pipe and waits to die. */
static pid_t spawn_holder(const char *dir)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pid_t other;
        char ok = datadir_lock(dir, &other) == HY_OK ? 'y' : 'n';
        if (write(p[1], &ok, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char ok = 0;
    assert_int_equal(read(p[0], &ok, 1), 1);
    assert_int_equal(ok, 'y');
    close(p[0]);
    close(p[1]);
    return pid;
}

static void test_lock_holder_and_release(void **s)
{
    (void)s;
    char tmpl[] = "/tmp/hydrant-datadir-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char dir[256];
    snprintf(dir, sizeof dir, "%s/a/data", tmpl); /* parents made too */

    pid_t pid = 0;
    assert_int_equal(datadir_holder(dir, &pid), HY_OK);
    assert_int_equal(pid, 0); /* nothing there yet */

    pid_t child = spawn_holder(dir);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    /* asked twice: asking must not drop the holder's lock */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(datadir_holder(dir, &pid), HY_OK);
        assert_int_equal(pid, child);
    }
    pid_t holder = 0;
    assert_int_equal(datadir_lock(dir, &holder), HY_EBUSY);
    assert_int_equal(holder, child);

    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_int_equal(datadir_holder(dir, &pid), HY_OK);
    assert_int_equal(pid, 0); /* released by the kernel; the file stays */

    /* now ours: the holder query answers for this process without
     * touching the file, and a child is refused with our PID */
    assert_int_equal(datadir_lock(dir, &holder), HY_OK);
    assert_int_equal(datadir_holder(dir, &pid), HY_OK);
    assert_int_equal(pid, getpid());
    pid_t c2 = fork();
    if (c2 == 0) {
        pid_t h = 0;
        _exit(datadir_lock(dir, &h) == HY_EBUSY && h == getppid() ? 0 : 1);
    }
    int status = -1;
    waitpid(c2, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    char path[300];
    snprintf(path, sizeof path, "%s/LOCK", dir);
    unlink(path);
    rmdir(dir);
    snprintf(path, sizeof path, "%s/a", tmpl);
    rmdir(path);
    rmdir(tmpl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_holder_and_release),
    };
    return cmocka_run_group_tests_name("datadir", tests, NULL, NULL);
}
