/* Test output parsers; see parse.h. */
#include "runner/exec/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void exec_cases_free(exec_cases *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].name);
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* Appends a case named by the n bytes at name (copied). */
static void cases_add(exec_cases *c, const char *name, size_t n, dp_verdict v)
{
    if (c->n >= DP_MAX_TESTS) {
        c->dropped++;
        return;
    }
    if (n > 200)
        n = 200;
    if (c->n == c->alloc) {
        size_t alloc = c->alloc ? c->alloc * 2 : 16;
        exec_case *nv = realloc(c->v, alloc * sizeof *nv);
        if (nv == NULL) {
            c->nomem = 1;
            return;
        }
        c->v = nv;
        c->alloc = alloc;
    }
    char *s = malloc(n + 1);
    if (s == NULL) {
        c->nomem = 1;
        return;
    }
    memcpy(s, name, n);
    s[n] = '\0';
    c->v[c->n].name = s;
    c->v[c->n].verdict = v;
    c->n++;
}

static int has_prefix(const char *s, size_t n, const char *p)
{
    size_t pl = strlen(p);
    return n >= pl && memcmp(s, p, pl) == 0;
}

/* Status words after " ... " in unittest -v output, and their verdicts. */
static const struct {
    const char *word;
    dp_verdict verdict;
} unittest_status[] = {{"ok", DP_VERDICT_AC},
                       {"FAIL", DP_VERDICT_WA},
                       {"ERROR", DP_VERDICT_RE},
                       {"skipped", DP_VERDICT_AC},
                       {"expected failure", DP_VERDICT_AC},
                       {"unexpected success", DP_VERDICT_WA}};

/* If line [s, s+n) starts "method (id)", writes the test's full id into
 * name (cap bytes) and returns 1. */
static int unittest_head(const char *s, size_t n, char *name, size_t cap)
{
    const char *sp = memchr(s, ' ', n);
    if (sp == NULL || sp == s || (size_t)(sp - s) + 2 >= n || sp[1] != '(')
        return 0;
    const char *close = memchr(sp + 2, ')', n - (size_t)(sp + 2 - s));
    if (close == NULL)
        return 0;
    size_t ml = (size_t)(sp - s), il = (size_t)(close - sp - 2);
    const char *id = sp + 2;
    /* Python >= 3.11 prints the full id; older versions only module.Class */
    if (il > ml && id[il - ml - 1] == '.' && memcmp(id + il - ml, s, ml) == 0)
        snprintf(name, cap, "%.*s", (int)il, id);
    else
        snprintf(name, cap, "%.*s.%.*s", (int)il, id, (int)ml, s);
    return 1;
}

void exec_parse_unittest(const char *text, size_t len, exec_cases *out)
{
    const char *p = text, *end = text + len;
    char pending[256] = "";
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end;
        size_t n = (size_t)(le - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        char head[256];
        int is_head = unittest_head(p, n, head, sizeof head);
        if (is_head)
            snprintf(pending, sizeof pending, "%s", head);
        const char *dots = NULL;
        for (const char *q = p; q + 5 <= p + n; q++) {
            if (memcmp(q, " ... ", 5) == 0)
                dots = q; /* the last one: a docstring may contain " ... " */
        }
        if (dots != NULL && pending[0] != '\0') {
            const char *st = dots + 5;
            size_t sl = (size_t)(p + n - st);
            for (size_t i = 0; i < sizeof unittest_status / sizeof unittest_status[0]; i++) {
                if (has_prefix(st, sl, unittest_status[i].word)) {
                    cases_add(out, pending, strlen(pending), unittest_status[i].verdict);
                    pending[0] = '\0';
                    break;
                }
            }
        }
        p = nl != NULL ? nl + 1 : end;
    }
}

/* Next occurrence of needle (nl bytes) in [s, e), or e. */
static const char *find_n(const char *s, const char *e, const char *needle, size_t nl)
{
    for (; s + nl <= e; s++) {
        if (memcmp(s, needle, nl) == 0)
            return s;
    }
    return e;
}

int exec_unittest_section(const char *text, size_t len, const char *name, size_t *start, size_t *n)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end;
        size_t ll = (size_t)(le - p);
        size_t skip = has_prefix(p, ll, "FAIL: ") ? 6 : has_prefix(p, ll, "ERROR: ") ? 7 : 0;
        char head[256];
        if (skip > 0 && unittest_head(p + skip, ll - skip, head, sizeof head) &&
            strcmp(head, name) == 0) {
            const char *body = nl != NULL ? nl + 1 : end;
            /* skip the dashes under the header, then stop at the next separator */
            const char *b = memchr(body, '\n', (size_t)(end - body));
            b = b != NULL ? b + 1 : end;
            const char *stop = find_n(b, end, "\n=====", 6);
            const char *ran = find_n(b, end, "\nRan ", 5);
            if (ran < stop) {
                /* back up over the dashes line that precedes "Ran" */
                const char *q = ran;
                while (q > b && q[-1] != '\n')
                    q--;
                stop = q > b ? q - 1 : ran;
            }
            *start = (size_t)(p - text);
            *n = (size_t)(stop - p) + (stop < end ? 1 : 0);
            return 1;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    return 0;
}

void exec_parse_tap(const char *text, size_t len, exec_cases *out, int *bailed)
{
    const char *p = text, *end = text + len;
    *bailed = 0;
    size_t count = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end;
        size_t n = (size_t)(le - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        int ok = has_prefix(p, n, "ok") && (n == 2 || p[2] == ' ');
        int notok = has_prefix(p, n, "not ok") && (n == 6 || p[6] == ' ');
        if (has_prefix(p, n, "Bail out!"))
            *bailed = 1;
        if (ok || notok) {
            count++;
            const char *s = p + (ok ? 2 : 6), *e = p + n;
            while (s < e && *s == ' ')
                s++;
            while (s < e && *s >= '0' && *s <= '9')
                s++;
            while (s < e && (*s == ' ' || *s == '-'))
                s++;
            const char *hash = memchr(s, '#', (size_t)(e - s));
            int directive = 0;
            if (hash != NULL) {
                const char *d = hash + 1;
                while (d < e && *d == ' ')
                    d++;
                directive = (size_t)(e - d) >= 4 &&
                            (strncasecmp(d, "SKIP", 4) == 0 || strncasecmp(d, "TODO", 4) == 0);
                e = hash;
            }
            while (e > s && e[-1] == ' ')
                e--;
            char name[64];
            if (e == s) {
                snprintf(name, sizeof name, "test %zu", count);
                cases_add(out, name, strlen(name), ok || directive ? DP_VERDICT_AC : DP_VERDICT_WA);
            } else {
                cases_add(out, s, (size_t)(e - s), ok || directive ? DP_VERDICT_AC : DP_VERDICT_WA);
            }
        }
        p = nl != NULL ? nl + 1 : end;
    }
}

/* Finds needle in [s, e) or returns NULL. */
static const char *find(const char *s, const char *e, const char *needle)
{
    size_t nl = strlen(needle);
    for (; s + nl <= e; s++) {
        if (memcmp(s, needle, nl) == 0)
            return s;
    }
    return NULL;
}

/* Copies attribute attr of the tag [s, e) into out (entities decoded). */
static int xml_attr(const char *s, const char *e, const char *attr, char *out, size_t cap)
{
    char pat[32];
    snprintf(pat, sizeof pat, " %s=", attr);
    const char *a = find(s, e, pat);
    if (a == NULL || a + strlen(pat) >= e)
        return 0;
    a += strlen(pat);
    char q = *a++;
    if (q != '"' && q != '\'')
        return 0;
    size_t o = 0;
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    while (a < e && *a != q && o + 1 < cap) {
        char c = *a++;
        for (size_t i = 0; c == '&' && i < 5; i++) {
            size_t l = strlen(ents[i].ent) - 1;
            if ((size_t)(e - a) >= l && memcmp(a, ents[i].ent + 1, l) == 0) {
                c = ents[i].c;
                a += l;
                break;
            }
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 1;
}

void exec_parse_junit(const char *xml, size_t len, exec_cases *out)
{
    const char *p = xml, *end = xml + len;
    const char *t;
    while ((t = find(p, end, "<testcase")) != NULL) {
        const char *gt = memchr(t, '>', (size_t)(end - t));
        if (gt == NULL)
            break;
        char name[160] = "", cls[160] = "", full[330];
        xml_attr(t, gt, "name", name, sizeof name);
        xml_attr(t, gt, "classname", cls, sizeof cls);
        snprintf(full, sizeof full, "%s%s%s", cls, cls[0] != '\0' ? "." : "", name);
        dp_verdict v = DP_VERDICT_AC;
        p = gt + 1;
        if (gt[-1] != '/') {
            const char *close = find(p, end, "</testcase>");
            const char *body_end = close != NULL ? close : end;
            if (find(p, body_end, "<failure") != NULL)
                v = DP_VERDICT_WA;
            else if (find(p, body_end, "<error") != NULL)
                v = DP_VERDICT_RE;
            p = close != NULL ? close + 11 : end;
        }
        cases_add(out, full, strlen(full), v);
    }
}
