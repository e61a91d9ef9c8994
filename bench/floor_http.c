/* floor_http.c -- the HTTP floor: a trivial libmicrohttpd server that reads
 * each request body and answers a fixed 200, in the same thread mode as
 * src/http.c (MHD_USE_EPOLL_INTERNAL_THREAD with a pool of --threads
 * threads, 2 by default). hydrant's PutRecord rate is reported as a ratio
 * to this server's: what the HTTP library and the kernel allow on this
 * machine, with no parsing, signing, logging or disk.
 *
 * The answer is the size of a PutRecord answer (a RecordId and
 * "Encrypted"), with the same Content-Type, so the bytes on the wire match.
 *
 *   floor_http [--port N] [--threads N] [--memory-limit BYTES]
 *                                         prints "listening 127.0.0.1 PORT"
 *
 * --memory-limit is MHD_OPTION_CONNECTION_MEMORY_LIMIT (default 32 KiB,
 * as in http.c); MHD zeroes that pool on every request, so the option
 * shows what a smaller pool would save hydrant.
 *
 * Threading: MHD's threads only; the handler is stateless.
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char answer[] =
    "{\"RecordId\":\"0000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000\","
    "\"Encrypted\":false}";

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload_data;
    if (!*req_cls) { /* headers are in */
        *req_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_data_size) { /* a piece of the body: read and dropped */
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(
        sizeof answer - 1, (void *)answer, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/x-amz-json-1.1");
    MHD_add_response_header(r, "Server", "floor");
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

int main(int argc, char **argv)
{
    unsigned port = 0, threads = 2;
    size_t memory_limit = 32 * 1024; /* as src/http.c */
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--memory-limit"))
            memory_limit = (size_t)strtoull(argv[i + 1], NULL, 10);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL,
        on_request, NULL, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_CONNECTION_LIMIT, 4096u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory_limit,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "floor_http: cannot listen\n");
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening 127.0.0.1 %u\n", di ? di->port : port);
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
