/* Schema-driven free, equality and bounds checks. */
#include "messages/msg_schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AT(obj, off, T) ((T *)((char *)(obj) + (off)))
#define CAT(obj, off, T) ((const T *)((const char *)(obj) + (off)))

void dp_schema_free(const dp_schema *s, void *obj)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const dp_field *f = &s->fields[i];
        switch (f->kind) {
        case DP_F_STR:
        case DP_F_ID:
        case DP_F_BIN:
            free(*AT(obj, f->off, char *));
            *AT(obj, f->off, char *) = NULL;
            if (f->kind == DP_F_BIN)
                *AT(obj, f->off_n, size_t) = 0;
            break;
        case DP_F_STRS: {
            char **v = *AT(obj, f->off, char **);
            size_t n = *AT(obj, f->off_n, size_t);
            for (size_t k = 0; v != NULL && k < n; k++)
                free(v[k]);
            free(v);
            *AT(obj, f->off, char **) = NULL;
            *AT(obj, f->off_n, size_t) = 0;
            break;
        }
        case DP_F_ARR: {
            char *v = *AT(obj, f->off, char *);
            size_t n = *AT(obj, f->off_n, size_t);
            for (size_t k = 0; v != NULL && k < n; k++)
                dp_schema_free(f->sub, v + k * f->sub->size);
            free(v);
            *AT(obj, f->off, char *) = NULL;
            *AT(obj, f->off_n, size_t) = 0;
            break;
        }
        case DP_F_OBJ:
            dp_schema_free(f->sub, AT(obj, f->off, char));
            if (f->off_n != 0) /* borrowed bytes: forgotten, not freed */
                *AT(obj, f->off_n, dp_packed) = (dp_packed){0};
            break;
        default:
            break;
        }
    }
}

static bool str_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

bool dp_schema_equal(const dp_schema *s, const void *a, const void *b)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const dp_field *f = &s->fields[i];
        bool same = true;
        switch (f->kind) {
        case DP_F_STR:
        case DP_F_ID:
            same = str_equal(*CAT(a, f->off, char *), *CAT(b, f->off, char *));
            break;
        case DP_F_BIN: {
            const char *x = *CAT(a, f->off, char *), *y = *CAT(b, f->off, char *);
            size_t n = *CAT(a, f->off_n, size_t);
            same = n == *CAT(b, f->off_n, size_t) && (x == NULL) == (y == NULL) &&
                   (n == 0 || memcmp(x, y, n) == 0);
            break;
        }
        case DP_F_U32:
            same = *CAT(a, f->off, uint32_t) == *CAT(b, f->off, uint32_t);
            break;
        case DP_F_U64:
            same = *CAT(a, f->off, uint64_t) == *CAT(b, f->off, uint64_t);
            break;
        case DP_F_I32:
            same = *CAT(a, f->off, int) == *CAT(b, f->off, int);
            break;
        case DP_F_BOOL:
            same = *CAT(a, f->off, bool) == *CAT(b, f->off, bool);
            break;
        case DP_F_INTBOOL:
            same = !*CAT(a, f->off, int) == !*CAT(b, f->off, int);
            break;
        case DP_F_F64:
            same = *CAT(a, f->off, double) == *CAT(b, f->off, double);
            break;
        case DP_F_VERDICT:
            same = *CAT(a, f->off, dp_verdict) == *CAT(b, f->off, dp_verdict);
            break;
        case DP_F_STATE:
            same = *CAT(a, f->off, dp_job_state) == *CAT(b, f->off, dp_job_state);
            break;
        case DP_F_COMPARE:
            same = *CAT(a, f->off, dp_compare) == *CAT(b, f->off, dp_compare);
            break;
        case DP_F_STRS: {
            size_t n = *CAT(a, f->off_n, size_t);
            char *const *x = *(char **const *)((const char *)a + f->off);
            char *const *y = *(char **const *)((const char *)b + f->off);
            same = n == *CAT(b, f->off_n, size_t);
            for (size_t k = 0; same && k < n; k++)
                same = str_equal(x[k], y[k]);
            break;
        }
        case DP_F_ARR: {
            size_t n = *CAT(a, f->off_n, size_t);
            const char *x = *CAT(a, f->off, char *), *y = *CAT(b, f->off, char *);
            same = n == *CAT(b, f->off_n, size_t);
            for (size_t k = 0; same && k < n; k++)
                same = dp_schema_equal(f->sub, x + k * f->sub->size, y + k * f->sub->size);
            break;
        }
        case DP_F_OBJ: {
            const dp_packed *x = f->off_n != 0 ? CAT(a, f->off_n, dp_packed) : NULL;
            const dp_packed *y = f->off_n != 0 ? CAT(b, f->off_n, dp_packed) : NULL;
            if (x != NULL && (x->bytes != NULL || y->bytes != NULL))
                same = x->len == y->len && x->bytes != NULL && y->bytes != NULL &&
                       memcmp(x->bytes, y->bytes, x->len) == 0;
            else
                same = dp_schema_equal(f->sub, CAT(a, f->off, char), CAT(b, f->off, char));
            break;
        }
        }
        if (!same)
            return false;
    }
    return true;
}

/* The path to the value being checked, formatted only when there is an
 * error (checks run on every encode and decode: keep them cheap). */
typedef struct check_path {
    const struct check_path *parent;
    const char *key; /* NULL for an array index */
    size_t index;
} check_path;

static size_t path_format(const check_path *p, char *out, size_t size)
{
    size_t used = p->parent ? path_format(p->parent, out, size) : 0;
    int k;
    if (used >= size)
        return used;
    if (p->key != NULL)
        k = snprintf(out + used, size - used, "%s%s", used ? "." : "", p->key);
    else
        k = snprintf(out + used, size - used, "[%zu]", p->index);
    return k < 0 ? used : used + (size_t)k;
}

static int check_fail(dp_err *err, const check_path *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int check_fail(dp_err *err, const check_path *p, const char *fmt, ...)
{
    if (err == NULL)
        return DP_EINVAL;
    char path[256] = "";
    char msg[DP_ERR_MSG_MAX];
    path_format(p, path, sizeof path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dp_err_set(err, DP_EINVAL, "%s: %s", path, msg);
}

static int check_obj(const dp_schema *s, const void *obj, const check_path *parent, dp_err *err)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const dp_field *f = &s->fields[i];
        const check_path here = {parent, f->key, 0};
        switch (f->kind) {
        case DP_F_STR:
        case DP_F_ID: {
            const char *v = *CAT(obj, f->off, char *);
            if (v != NULL && strnlen(v, f->max + 1) > f->max)
                return check_fail(err, &here, "longer than %zu bytes", f->max);
            /* Ids end up in Redis keys, logs and file names. */
            for (const char *c = v; f->kind == DP_F_ID && c != NULL && *c != '\0'; c++)
                if (*c < 0x21 || *c > 0x7e)
                    return check_fail(err, &here, "ids are printable ASCII without spaces");
            break;
        }
        case DP_F_BIN: {
            const char *v = *CAT(obj, f->off, char *);
            size_t n = *CAT(obj, f->off_n, size_t);
            if (v == NULL && n != 0)
                return check_fail(err, &here, "length %zu without data", n);
            if (n > f->max)
                return check_fail(err, &here, "longer than %zu bytes", f->max);
            break;
        }
        case DP_F_F64:
            if (!isfinite(*CAT(obj, f->off, double)))
                return check_fail(err, &here, "not a finite number");
            break;
        case DP_F_VERDICT:
            if ((unsigned)*CAT(obj, f->off, dp_verdict) > DP_VERDICT_SE)
                return check_fail(err, &here, "verdict out of range");
            break;
        case DP_F_STATE:
            if ((unsigned)*CAT(obj, f->off, dp_job_state) > DP_JOB_CANCELLED)
                return check_fail(err, &here, "state out of range");
            break;
        case DP_F_COMPARE:
            if ((unsigned)*CAT(obj, f->off, dp_compare) > DP_COMPARE_CUSTOM)
                return check_fail(err, &here, "compare mode out of range");
            break;
        case DP_F_STRS:
        case DP_F_ARR: {
            size_t n = *CAT(obj, f->off_n, size_t);
            const char *v = *CAT(obj, f->off, char *);
            if (n > f->max)
                return check_fail(err, &here, "%zu elements, at most %zu", n, f->max);
            if (n > 0 && v == NULL)
                return check_fail(err, &here, "%zu elements but no array", n);
            for (size_t k = 0; k < n; k++) {
                const check_path elem = {&here, NULL, k};
                if (f->kind == DP_F_STRS) {
                    const char *e = ((char *const *)(const void *)v)[k];
                    if (e == NULL)
                        return check_fail(err, &elem, "missing");
                    if (strnlen(e, DP_MSG_MAX_NAME + 1) > DP_MSG_MAX_NAME)
                        return check_fail(err, &elem, "longer than %d bytes", DP_MSG_MAX_NAME);
                } else {
                    int rc = check_obj(f->sub, v + k * f->sub->size, &elem, err);
                    if (rc != DP_OK)
                        return rc;
                }
            }
            break;
        }
        case DP_F_OBJ: {
            const dp_packed *packed = f->off_n != 0 ? CAT(obj, f->off_n, dp_packed) : NULL;
            if (packed != NULL && packed->bytes != NULL) { /* checked when it was encoded */
                if (packed->len == 0 || packed->len > DP_MSG_MAX_SIZE)
                    return check_fail(err, &here, "packed value of %zu bytes", packed->len);
                break;
            }
            int rc = check_obj(f->sub, CAT(obj, f->off, char), &here, err);
            if (rc != DP_OK)
                return rc;
            break;
        }
        default:
            break;
        }
    }
    return DP_OK;
}

int dp_schema_check(const dp_schema *s, const void *obj, const char *what, dp_err *err)
{
    const check_path root = {NULL, what, 0};
    return check_obj(s, obj, &root, err);
}
