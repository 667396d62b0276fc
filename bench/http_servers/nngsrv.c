/* nng 1.5.2 HTTP server for bench/http_servers/run.sh: /hold never answers (a long-poll), /ok,
 * /post (64 KiB body cap). */
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
/* held long-polls: handler keeps the aio; never finished */
static void hold(nng_aio *aio)
{
    (void)aio;
}
static void ok(nng_aio *aio)
{
    nng_http_res *res;
    nng_http_res_alloc(&res);
    nng_http_res_copy_data(res, "ok\n", 3);
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}
int main(int argc, char **argv)
{
    nng_url *u;
    nng_http_server *s;
    nng_http_handler *h, *k, *p;
    nng_url_parse(&u, argv[1]);
    nng_http_server_hold(&s, u);
    nng_http_handler_alloc(&h, "/hold", hold);
    nng_http_server_add_handler(s, h);
    nng_http_handler_alloc(&k, "/ok", ok);
    nng_http_server_add_handler(s, k);
    nng_http_handler_alloc(&p, "/post", ok);
    nng_http_handler_set_method(p, "POST");
    nng_http_handler_collect_body(p, true, 65536);
    nng_http_server_add_handler(s, p);
    nng_http_server_start(s);
    printf("ready\n");
    fflush(stdout);
    pause();
}
