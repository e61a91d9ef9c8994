/* metrics_hooks.c -- what one counting hook costs (issue 17): times
 * metrics_put (a PutRecord's four samples: PutRecord.Requests,
 * IncomingPutRequests, IncomingRecords, IncomingBytes) and
 * metrics_http_reply in a loop on one thread, and metrics_put from four
 * threads at once (each on its own shard). Prints ns per call; asserts
 * nothing. `make bench-metrics` runs it and bench/bench_metrics.py.
 */
#include "api.h"
#include "metrics.h"
#include "stream.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

struct hy_config hy_cfg = {.region = "us-east-1", .max_buffered = 1u << 30};

#define N 2000000

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *loop(void *arg)
{
    static unsigned char rec[100];
    unsigned char *data[1] = {rec};
    size_t lens[1] = {100};
    int prc[1] = {HY_OK};
    struct stream_ingest in = {.name = arg, .data = data, .lens = lens, .n = 1, .prc = prc,
                               .stop_at_refusal = true, .now_ms = hy_now_ms()};
    for (int i = 0; i < N; i++)
        metrics_put(&in, false);
    return NULL;
}

int main(void)
{
    hy_log_level = HY_LOG_ERROR + 1;
    if (metrics_init() != HY_OK)
        return 1;
    double t0 = now_s();
    loop("us-east-1/bench");
    double t1 = now_s();
    printf("metrics_put, one thread:      %6.1f ns per PutRecord counted\n",
           (t1 - t0) / N * 1e9);
    pthread_t th[4];
    t0 = now_s();
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, loop, "us-east-1/bench");
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    t1 = now_s();
    printf("metrics_put, four threads:    %6.1f ns per PutRecord counted (wall / calls)\n",
           (t1 - t0) / (4.0 * N) * 1e9);
    struct http_req req = {0};
    t0 = now_s();
    for (int i = 0; i < N; i++)
        metrics_http_reply(&req, 200, 1);
    t1 = now_s();
    printf("metrics_http_reply, no route: %6.1f ns per reply\n", (t1 - t0) / N * 1e9);
    metrics_shutdown();
    return 0;
}
