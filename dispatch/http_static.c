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

/* name, value pairs */
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

static void serve(http_req *r, const char *name)
{
    const web_asset *a = asset_find(name);
    r->headers = static_headers; /* on the 404 too: it is HTML-free JSON, but still */
    if (a == NULL) {
        http_answer_error(r, 404, "not_found", "no file %.100s", name);
        return;
    }
    r->cache_control = "no-cache";
    r->etag = a->etag;
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    if (inm != NULL && strstr(inm, a->etag) != NULL) {
        http_answer_text(r, 304, a->type, "", 0);
        return;
    }
    http_answer_text(r, 200, a->type, (const char *)a->data, a->len);
}

void http_static_index(http_req *r)
{
    serve(r, "index.html");
}

void http_static_file(http_req *r)
{
    serve(r, r->id);
}
