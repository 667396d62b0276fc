#include "dispatch/qset.h"

#include <stdlib.h>
#include <string.h>

int qset_has(const qset *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], id) == 0)
            return 1;
    return 0;
}

int qset_add(qset *s, const char *id)
{
    if (qset_has(s, id))
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        char **v = realloc(s->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    if ((s->v[s->n] = strdup(id)) == NULL)
        return -1;
    s->n++;
    return 0;
}

void qset_take(qset *s, char **v, size_t n)
{
    qset_free(s);
    s->v = v;
    s->n = s->cap = v != NULL ? n : 0;
}

int qset_overlaps(const qset *a, const qset *b, const qset *except)
{
    for (size_t i = 0; i < a->n; i++)
        if (qset_has(b, a->v[i]) && (except == NULL || !qset_has(except, a->v[i])))
            return 1;
    return 0;
}

int qset_within(const qset *a, const qset *b)
{
    for (size_t i = 0; i < a->n; i++)
        if (!qset_has(b, a->v[i]))
            return 0;
    return 1;
}

void qset_free(qset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
