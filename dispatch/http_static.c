/* The web dashboard's files (dispatch/web/, embedded at build time by
 * dispatch/web/web_embed.py): GET / is index.html, GET /ui/NAME the rest.
 * Every answer carries a strict Content-Security-Policy (scripts, styles and
 * connections from this origin only, no inline script or style, no frames,
 * no forms posting elsewhere), nosniff, no referrer, and
 * `Cache-Control: no-cache` with a strong ETag: a browser revalidates and
 * gets 304 until the binary serves other bytes. No key is needed: the files
 * hold no data; the page asks for a key and calls the API with it. */
#include "dispatch/http_impl.h"

#include "web_assets.h"

#include <string.h>

#define HTTP_STATIC_CSP                                                                            \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "                \
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* name, value pairs: on every file */
/* clang-format off */
static const char *const static_headers[] = {
    "Content-Security-Policy", HTTP_STATIC_CSP,
    "X-Content-Type-Options", "nosniff",
    "Referrer-Policy", "no-referrer",
    "X-Frame-Options", "DENY",
    NULL,
};
/* clang-format on */

static const web_asset *asset_find(const char *name)
{
    for (size_t i = 0; i < web_n_assets; i++)
        if (strcmp(web_assets[i].name, name) == 0)
            return &web_assets[i];
    return NULL;
}

/* The answer, made whole here (send_answer queues r->response as it is):
 * the bytes are the binary's own (MHD_RESPMEM_PERSISTENT: not copied). */
static void serve(http_req *r, const char *name)
{
    const web_asset *a = asset_find(name);
    if (a == NULL) {
        http_answer_error(r, 404, "not_found", "no file %.100s", name);
        return;
    }
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    int fresh = inm != NULL && strstr(inm, a->etag) != NULL;
    struct MHD_Response *res = MHD_create_response_from_buffer(
        fresh ? 0 : a->len, fresh ? (void *)"" : (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (res == NULL) {
        http_answer_error(r, 500, "internal", "out of memory");
        return;
    }
    MHD_add_response_header(res, "Content-Type", a->type);
    MHD_add_response_header(res, "Cache-Control", "no-cache");
    MHD_add_response_header(res, "ETag", a->etag);
    for (const char *const *h = static_headers; h[0] != NULL; h += 2)
        MHD_add_response_header(res, h[0], h[1]);
    r->response = res;
    r->status = fresh ? 304 : 200;
}

void http_static_index(http_req *r)
{
    serve(r, "index.html");
}

void http_static_file(http_req *r)
{
    serve(r, r->id);
}
