/* PostgreSQL array literals (text format) built element by element: how a
 * batch travels as one typed array per column, expanded server side with
 * unnest (store_results.c, store_jobs.c). */
#include "dispatch/store/store_internal.h"

#include "common/job_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(store_arr *b, const char *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 2 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 2)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (s == NULL) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sep(store_arr *b)
{
    put(b, b->n++ == 0 ? "{" : ",", 1);
}

void store_arr_raw(store_arr *b, const char *v)
{
    sep(b);
    put(b, v, strlen(v));
}

void store_arr_int(store_arr *b, long long v)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", v);
    store_arr_raw(b, num);
}

void store_arr_int_or_null(store_arr *b, long long v)
{
    if (v > 0)
        store_arr_int(b, v);
    else
        store_arr_raw(b, "NULL");
}

/* Invalid UTF-8 becomes U+FFFD (as the job view shows program output). */
void store_arr_str(store_arr *b, const char *v)
{
    if (v == NULL) {
        store_arr_raw(b, "NULL");
        return;
    }
    json_t *clean = dp_json_string_lossy(v, strlen(v));
    const char *p = clean != NULL ? json_string_value(clean) : NULL;
    if (p == NULL) {
        b->oom = 1;
        json_decref(clean);
        return;
    }
    sep(b);
    put(b, "\"", 1);
    for (const char *q = p; *q; q++) {
        if (*q == '"' || *q == '\\')
            put(b, "\\", 1);
        put(b, q, 1);
    }
    put(b, "\"", 1);
    json_decref(clean);
}

int store_arr_finish(store_arr *b)
{
    if (b->n == 0)
        put(b, "{", 1);
    put(b, "}", 1);
    return b->oom ? DP_ENOMEM : DP_OK;
}

void store_arr_free(store_arr *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}
