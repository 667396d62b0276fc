/* A growable string for bench_results_sql: PostgreSQL array literals
 * (text format, every string quoted and escaped) and COPY text fields.
 * Header-only, bench use only; the buffer owns s (sqlbuf_free). Allocation
 * failure aborts: a benchmark has nothing sensible to fall back to. */
#ifndef DP_BENCH_SQLBUF_H
#define DP_BENCH_SQLBUF_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *s;
    size_t len, cap;
    int first; /* no element yet in the current array */
} sqlbuf;

static void sqlbuf_put(sqlbuf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (s == NULL)
            abort();
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sqlbuf_add(sqlbuf *b, const char *s)
{
    sqlbuf_put(b, s, strlen(s));
}

static void sqlbuf_free(sqlbuf *b)
{
    free(b->s);
    *b = (sqlbuf){0};
}

static void sqlbuf_array_begin(sqlbuf *b)
{
    b->len = 0;
    b->first = 1;
    sqlbuf_add(b, "{");
}

static void sqlbuf_array_sep(sqlbuf *b)
{
    if (!b->first)
        sqlbuf_add(b, ",");
    b->first = 0;
}

static void sqlbuf_array_raw(sqlbuf *b, const char *v)
{
    sqlbuf_array_sep(b);
    sqlbuf_add(b, v);
}

static void sqlbuf_array_null(sqlbuf *b)
{
    sqlbuf_array_raw(b, "NULL");
}

static void sqlbuf_array_str(sqlbuf *b, const char *v)
{
    sqlbuf_array_sep(b);
    sqlbuf_add(b, "\"");
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            sqlbuf_put(b, "\\", 1);
        sqlbuf_put(b, p, 1);
    }
    sqlbuf_add(b, "\"");
}

static void sqlbuf_array_end(sqlbuf *b)
{
    sqlbuf_add(b, "}");
}

/* One COPY text-format field: backslash, tab, newline and CR escaped. */
static void sqlbuf_copy_field(sqlbuf *b, const char *v)
{
    for (const char *p = v; *p; p++) {
        switch (*p) {
        case '\\':
            sqlbuf_add(b, "\\\\");
            break;
        case '\t':
            sqlbuf_add(b, "\\t");
            break;
        case '\n':
            sqlbuf_add(b, "\\n");
            break;
        case '\r':
            sqlbuf_add(b, "\\r");
            break;
        default:
            sqlbuf_put(b, p, 1);
        }
    }
}

/* dsn with dbname replaced, as key='value' pairs (heap). */
static char *bench_dsn_for(const char *dsn, const char *dbname)
{
    PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
    if (opts == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = calloc(1, cap);
    for (PQconninfoOption *o = opts; buf != NULL && o->keyword != NULL; o++) {
        const char *v = strcmp(o->keyword, "dbname") == 0 ? dbname : o->val;
        if (v != NULL && *v != 0 && strchr(v, '\'') == NULL && strchr(v, '\\') == NULL)
            len += (size_t)snprintf(buf + len, cap - len, "%s='%s' ", o->keyword, v);
    }
    if (buf != NULL && strstr(buf, "dbname=") == NULL)
        snprintf(buf + len, cap - len, "dbname='%s'", dbname);
    PQconninfoFree(opts);
    return buf;
}

#endif
