/* Schema-driven free, equality and bounds checks. */
#include "messages/msg_schema.h"

#include <math.h>
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
        case DP_F_OBJ:
            same = dp_schema_equal(f->sub, CAT(a, f->off, char), CAT(b, f->off, char));
            break;
        }
        if (!same)
            return false;
    }
    return true;
}

static int too_long(dp_err *err, const char *what, const char *key, size_t max)
{
    return dp_err_set(err, DP_EINVAL, "%s.%s: longer than %zu bytes", what, key, max);
}

int dp_schema_check(const dp_schema *s, const void *obj, const char *what, dp_err *err)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const dp_field *f = &s->fields[i];
        switch (f->kind) {
        case DP_F_STR:
        case DP_F_ID: {
            const char *v = *CAT(obj, f->off, char *);
            if (v != NULL && strnlen(v, f->max + 1) > f->max)
                return too_long(err, what, f->key, f->max);
            /* Ids end up in Redis keys, logs and file names. */
            for (const char *c = v; f->kind == DP_F_ID && c != NULL && *c != '\0'; c++)
                if (*c < 0x21 || *c > 0x7e)
                    return dp_err_set(err, DP_EINVAL,
                                      "%s.%s: ids are printable ASCII without spaces", what,
                                      f->key);
            break;
        }
        case DP_F_BIN: {
            const char *v = *CAT(obj, f->off, char *);
            size_t n = *CAT(obj, f->off_n, size_t);
            if (v == NULL && n != 0)
                return dp_err_set(err, DP_EINVAL, "%s.%s: length %zu without data", what, f->key,
                                  n);
            if (n > f->max)
                return too_long(err, what, f->key, f->max);
            break;
        }
        case DP_F_F64:
            if (!isfinite(*CAT(obj, f->off, double)))
                return dp_err_set(err, DP_EINVAL, "%s.%s: not a finite number", what, f->key);
            break;
        case DP_F_VERDICT:
            if ((unsigned)*CAT(obj, f->off, dp_verdict) > DP_VERDICT_SE)
                return dp_err_set(err, DP_EINVAL, "%s.%s: verdict out of range", what, f->key);
            break;
        case DP_F_STATE:
            if ((unsigned)*CAT(obj, f->off, dp_job_state) > DP_JOB_CANCELLED)
                return dp_err_set(err, DP_EINVAL, "%s.%s: state out of range", what, f->key);
            break;
        case DP_F_COMPARE:
            if ((unsigned)*CAT(obj, f->off, dp_compare) > DP_COMPARE_LINES)
                return dp_err_set(err, DP_EINVAL, "%s.%s: compare mode out of range", what, f->key);
            break;
        case DP_F_STRS:
        case DP_F_ARR: {
            size_t n = *CAT(obj, f->off_n, size_t);
            const char *v = *CAT(obj, f->off, char *);
            if (n > f->max)
                return dp_err_set(err, DP_EINVAL, "%s.%s: %zu elements, at most %zu", what, f->key,
                                  n, f->max);
            if (n > 0 && v == NULL)
                return dp_err_set(err, DP_EINVAL, "%s.%s: %zu elements but no array", what, f->key,
                                  n);
            for (size_t k = 0; k < n; k++) {
                char sub[128];
                snprintf(sub, sizeof sub, "%s.%s[%zu]", what, f->key, k);
                if (f->kind == DP_F_STRS) {
                    const char *e = ((char *const *)(const void *)v)[k];
                    if (e == NULL)
                        return dp_err_set(err, DP_EINVAL, "%s: missing", sub);
                    if (strnlen(e, DP_MSG_MAX_NAME + 1) > DP_MSG_MAX_NAME)
                        return dp_err_set(err, DP_EINVAL, "%s: longer than %d bytes", sub,
                                          DP_MSG_MAX_NAME);
                } else {
                    int rc = dp_schema_check(f->sub, v + k * f->sub->size, sub, err);
                    if (rc != DP_OK)
                        return rc;
                }
            }
            break;
        }
        case DP_F_OBJ: {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.%s", what, f->key);
            int rc = dp_schema_check(f->sub, CAT(obj, f->off, char), sub, err);
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
