#include "dispatch/http_inline.h"

#include "common/job_json.h"
#include "common/sha256.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

typedef struct {
    const char *name; /* borrowed from the spec */
    unsigned char *data;
    size_t len;
} inline_file;

static int name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > HTTP_INLINE_NAME_MAX || n[0] == '/')
        return 0;
    for (const unsigned char *p = (const unsigned char *)n; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '\\')
            return 0;
    const char *seg = n;
    while (1) { /* no empty, "." or ".." segment */
        size_t sl = strcspn(seg, "/");
        if (sl == 0 || (sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
        if (seg[sl] == '\0')
            return 1;
        seg += sl + 1;
    }
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Strict base64 (padded); *out malloc'd. */
static int b64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len)
{
    size_t pad = len >= 1 && in[len - 1] == '=' ? (len >= 2 && in[len - 2] == '=' ? 2 : 1) : 0;
    if (len % 4 != 0)
        return -1;
    unsigned char *o = malloc(len / 4 * 3 + 1);
    if (o == NULL)
        return -1;
    size_t n = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < len - pad; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0) {
            free(o);
            return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            o[n++] = (unsigned char)(acc >> 16);
            o[n++] = (unsigned char)(acc >> 8);
            o[n++] = (unsigned char)acc;
            acc = 0;
        }
    }
    if (pad == 1) { /* 3 chars left: 18 bits, 2 bytes */
        o[n++] = (unsigned char)(acc >> 10);
        o[n++] = (unsigned char)(acc >> 2);
    } else if (pad == 2) { /* 2 chars left: 12 bits, 1 byte */
        o[n++] = (unsigned char)(acc >> 4);
    }
    *out = o;
    *out_len = n;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const inline_file *)a)->name, ((const inline_file *)b)->name);
}

/* Collects one map into files[*n]; checks names, count, total. */
static int collect(const json_t *map, int base64, const char *key, inline_file *files, size_t *n,
                   size_t *total, size_t max_total, const char *where, dp_err *err)
{
    if (map == NULL)
        return DP_OK;
    if (!json_is_object(map))
        return dp_err_set(err, DP_EINVAL, "%s%s: want an object of name: content", where, key);
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)map, name, v)
    {
        if (*n >= HTTP_INLINE_MAX_FILES)
            return dp_err_set(err, DP_EINVAL, "%s%s: more than %d files", where, key,
                              HTTP_INLINE_MAX_FILES);
        if (!name_ok(name))
            return dp_err_set(err, DP_EINVAL,
                              "%s%s[\"%.100s\"]: not a safe relative file name (no '..', '.', "
                              "empty segments, leading '/', backslash or control characters)",
                              where, key, name);
        for (size_t i = 0; i < *n; i++)
            if (strcmp(files[i].name, name) == 0)
                return dp_err_set(err, DP_EINVAL, "%s%s[\"%.100s\"]: given twice", where, key,
                                  name);
        if (!json_is_string(v))
            return dp_err_set(err, DP_EINVAL, "%s%s[\"%.100s\"]: want a string", where, key, name);
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        inline_file *f = &files[*n];
        f->name = name;
        if (base64) {
            if (b64_decode(s, len, &f->data, &f->len) != 0)
                return dp_err_set(err, DP_EINVAL, "%s%s[\"%.100s\"]: not base64", where, key, name);
        } else {
            if ((f->data = malloc(len + 1)) == NULL)
                return dp_err_set(err, DP_ENOMEM, "out of memory");
            memcpy(f->data, s, len);
            f->len = len;
        }
        (*n)++;
        *total += f->len;
        if (*total > max_total)
            return dp_err_set(err, DP_EINVAL, "%s%s: inline files total more than %zu bytes", where,
                              key, max_total);
    }
    return DP_OK;
}

/* The zip of files (sorted, fixed times: the same files give the same bytes). */
static int build_zip(inline_file *files, size_t n, void **out, size_t *out_len, dp_err *err)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = src != NULL ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    int rc = za != NULL ? DP_OK : dp_err_set(err, DP_ENOMEM, "inline files: cannot make a zip");
    for (size_t i = 0; rc == DP_OK && i < n; i++) {
        zip_source_t *fs = zip_source_buffer(za, files[i].data, files[i].len, 0);
        zip_int64_t idx = fs != NULL ? zip_file_add(za, files[i].name, fs, ZIP_FL_ENC_UTF_8) : -1;
        if (idx < 0) {
            zip_source_free(fs);
            rc = dp_err_set(err, DP_EINVAL, "files[\"%.100s\"]: %s", files[i].name,
                            zip_strerror(za));
        } else {
            zip_file_set_mtime(za, (zip_uint64_t)idx, 315532800, 0); /* 1980-01-01 */
        }
    }
    if (rc != DP_OK) {
        if (za != NULL)
            zip_discard(za);
        else
            zip_source_free(src);
        return rc;
    }
    zip_source_keep(src);
    if (zip_close(za) != 0) {
        zip_discard(za);
        zip_source_free(src);
        return dp_err_set(err, DP_EIO, "inline files: cannot write the zip");
    }
    zip_stat_t st;
    unsigned char *buf = NULL;
    if (zip_source_stat(src, &st) != 0 || zip_source_open(src) != 0 ||
        (buf = malloc(st.size + 1)) == NULL ||
        zip_source_read(src, buf, st.size) != (zip_int64_t)st.size) {
        free(buf);
        zip_source_free(src);
        return dp_err_set(err, DP_EIO, "inline files: cannot read the zip back");
    }
    zip_source_close(src);
    zip_source_free(src);
    *out = buf;
    *out_len = st.size;
    return DP_OK;
}

void http_uploads_free(http_uploads *up)
{
    for (size_t i = 0; i < up->n; i++)
        free(up->items[i].data);
    free(up->items);
    memset(up, 0, sizeof *up);
}

/* Takes zip (the archive named name) into up, unless up holds it already. */
static int upload_add(http_uploads *up, const char *name, void **zip, size_t len, dp_err *err)
{
    for (size_t i = 0; i < up->n; i++)
        if (strcmp(up->items[i].name, name) == 0)
            return DP_OK; /* the same bytes: stored once */
    if (up->n == up->cap) {
        size_t cap = up->cap ? up->cap * 2 : 4;
        struct http_upload *more = realloc(up->items, cap * sizeof *more);
        if (more == NULL)
            return dp_err_set(err, DP_ENOMEM, "out of memory");
        up->items = more;
        up->cap = cap;
    }
    struct http_upload *u = &up->items[up->n++];
    snprintf(u->name, sizeof u->name, "%s", name);
    u->data = *zip;
    u->len = len;
    *zip = NULL;
    return DP_OK;
}

int http_inline_store(json_t *spec, const logstore *ls, http_uploads *up, size_t max_total,
                      const char *where, dp_err *err)
{
    json_t *text = json_object_get(spec, "files"), *bin = json_object_get(spec, "files_base64");
    if (text == NULL && bin == NULL)
        return DP_OK;
    if (json_object_get(spec, "archive") != NULL)
        return dp_err_set(err, DP_EINVAL, "%sarchive: give an archive or inline files, not both",
                          where);
    inline_file *files = calloc(HTTP_INLINE_MAX_FILES, sizeof *files);
    if (files == NULL)
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    size_t n = 0, total = 0;
    void *zip = NULL;
    size_t zip_len = 0;
    int rc = collect(text, 0, "files", files, &n, &total, max_total, where, err);
    if (rc == DP_OK)
        rc = collect(bin, 1, "files_base64", files, &n, &total, max_total, where, err);
    if (rc == DP_OK && n == 0)
        rc = dp_err_set(err, DP_EINVAL, "%sfiles: empty", where);
    if (rc == DP_OK) {
        qsort(files, n, sizeof *files, by_name);
        rc = build_zip(files, n, &zip, &zip_len, err);
    }
    if (rc == DP_OK) {
        char sha[DP_SHA256_HEX_LEN + 1], name[DP_SHA256_HEX_LEN + 8], url[4096];
        dp_sha256_hex(zip, zip_len, sha);
        snprintf(name, sizeof name, "src-%s", sha); /* content-addressed */
        rc = logstore_url(ls, name, 0, url, sizeof url, err);
        if (rc == DP_OK && (json_object_set_new(spec, "archive", json_string(url)) != 0 ||
                            json_object_set_new(spec, "archive_sha256", json_string(sha)) != 0))
            rc = dp_err_set(err, DP_ENOMEM, "out of memory");
        if (rc == DP_OK)
            rc = upload_add(up, name, &zip, zip_len, err);
    }
    if (rc == DP_OK) {
        json_object_del(spec, "files");
        json_object_del(spec, "files_base64");
    }
    for (size_t i = 0; i < n; i++)
        free(files[i].data);
    /* a failing collect may have decoded one more before refusing it */
    if (n < HTTP_INLINE_MAX_FILES)
        free(files[n].data);
    free(files);
    free(zip);
    return rc;
}

int http_inline_spec(json_t *obj, const logstore *ls, http_uploads *up, size_t max_total,
                     const char *where, dp_job_spec *out, dp_err *err)
{
    if (!json_is_object(obj))
        return dp_err_set(err, DP_EINVAL, "%sbody: want a job spec object", where);
    int has_files =
        json_object_get(obj, "files") != NULL || json_object_get(obj, "files_base64") != NULL;
    if (has_files) { /* the rest of the spec first: nothing is stored for a bad one */
        json_t *probe = json_deep_copy(obj);
        if (probe == NULL)
            return dp_err_set(err, DP_ENOMEM, "out of memory");
        json_object_del(probe, "files");
        json_object_del(probe, "files_base64");
        int rc = json_object_get(probe, "archive") != NULL
                     ? dp_err_set(err, DP_EINVAL,
                                  "%sarchive: give an archive or inline files, not both", where)
                     : json_object_set_new(probe, "archive", json_string("file:///inline.zip"));
        dp_job_spec tmp = {0};
        if (rc == DP_OK && (rc = dp_job_spec_from_json(probe, &tmp, err)) == DP_OK)
            dp_job_spec_free(&tmp);
        json_decref(probe);
        if (rc != DP_OK)
            return rc;
        size_t before = up->n;
        if ((rc = http_inline_store(obj, ls, up, max_total, where, err)) == DP_OK &&
            (rc = dp_job_spec_from_json(obj, out, err)) != DP_OK) {
            while (up->n > before) /* refused after all: nothing of it is stored */
                free(up->items[--up->n].data);
        }
        return rc;
    }
    return dp_job_spec_from_json(obj, out, err);
}
