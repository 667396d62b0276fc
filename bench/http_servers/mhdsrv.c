/* libmicrohttpd server for bench/http_servers/run.sh: /hold suspends (a long-poll), 413 above 64
 * KiB, 10 s idle timeout. */
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
static enum MHD_Result h(void *cls, struct MHD_Connection *c, const char *url, const char *m,
                         const char *v, const char *up, size_t *ups, void **cc)
{
    if (*cc == NULL) {
        *cc = c;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && atoll(cl) > 65536) {
            struct MHD_Response *r =
                MHD_create_response_from_buffer(4, "big\n", MHD_RESPMEM_PERSISTENT);
            enum MHD_Result rc = MHD_queue_response(c, 413, r);
            MHD_destroy_response(r);
            return rc;
        }
        return MHD_YES;
    }
    if (*ups) {
        *ups = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/hold") == 0) {
        MHD_suspend_connection(c);
        return MHD_YES;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(3, "ok\n", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return rc;
}
int main(int argc, char **argv)
{
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME, atoi(argv[1]),
                         NULL, NULL, h, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                         MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_END);
    if (!d)
        return 1;
    printf("ready\n");
    fflush(stdout);
    pause();
}
