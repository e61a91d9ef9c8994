/* lambda_worker.h -- hydrant's Lambda runtime (lambda_worker.c), for
 * lambda.c: worker processes per function that run the user's code. */
#ifndef HYDRANT_LAMBDA_WORKER_H
#define HYDRANT_LAMBDA_WORKER_H

#include "lambda.h"

/* One function's configuration, as lambda.c's catalog holds it and the
 * runtime runs it. */
struct lambda_fn {
    char region[33];
    char name[65];
    char runtime[33];
    char handler[129];
    char role[2049];
    char description[257];
    int timeout;           /* seconds */
    int memory;            /* MB */
    char *env;             /* JSON object text, malloc'd */
    char code_sha256[45];  /* base64 */
    char code_hex[65];
    long long code_size;
    long long last_modified;
    char revision[37];
};

void lambda_worker_fn_clear(struct lambda_fn *f);   /* frees env; keeps the rest */

/* lambda_open's findings: the code's root (<data>/lambda), the bootstrap
 * scripts' directory, and why functions cannot run here (NULL: they can;
 * static text). */
void lambda_worker_setup(const char *lambda_dir, const char *scripts, const char *unavailable);
const char *lambda_worker_unavailable(void);
/* <data>/lambda/<region>/<name>/<hex SHA-256>: a function's unpacked code. */
void lambda_worker_code_dir(char *out, size_t size, const char *region, const char *name,
                            const char *hex);
/* arn:aws:lambda:<region>:000000000000:function:<name> */
void lambda_worker_arn(char *out, size_t size, const char *region, const char *name);
/* One invocation of f with payload (JSON) on one of its workers (spawned
 * when none is free and the pool has room; waited for up to f's timeout
 * otherwise). HY_OK: *out has the answer, *function_error whether it is an
 * error object (an exception, a timeout, a crash, an answer over 6 MB);
 * log_tail (may be NULL) gets AWS's LogType Tail text, base64. Else
 * HY_EBUSY (no worker free in time), HY_ESTATE (the runtime is off), HY_EIO
 * (no worker could start), HY_ENOMEM; why says it. Thread-safe. */
int lambda_worker_invoke(const struct lambda_fn *f, const void *payload, size_t len,
                         struct buf *out, bool *function_error, struct buf *log_tail,
                         char *why, size_t why_len);
/* The function changed or is gone: its pool's idle workers are killed
 * now, busy ones when their invocation ends. */
void lambda_worker_retire(const char *region, const char *name);
/* SIGKILL to every worker (lambda_drain past its grace). */
void lambda_worker_kill_all(void);
/* Every pool retired, idle workers killed and reaped (lambda_close). */
void lambda_worker_close(void);
/* For a child between fork and exec: default signal mask and SIGPIPE. */
void lambda_worker_child_signals(void);

#endif
