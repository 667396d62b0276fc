/* Output comparison and excerpts; see compare.h. */
#include "runner/exec/compare.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One line of [*p, end): its start and its length without the '\n' and
 * without trailing blanks; advances *p past the '\n'. */
static void line_next(const char **p, const char *end, const char **start, size_t *len)
{
    const char *s = *p;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *e = nl != NULL ? nl : end;
    *p = nl != NULL ? nl + 1 : end;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    *start = s;
    *len = (size_t)(e - s);
}

/* Number of lines up to and including the last one that is not blank. */
static size_t lines_significant(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    size_t n = 0, last = 0;
    while (p < end) {
        const char *s;
        size_t l;
        line_next(&p, end, &s, &l);
        n++;
        if (l > 0)
            last = n;
    }
    return last;
}

static int lines_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t na = lines_significant(a, alen);
    if (na != lines_significant(b, blen))
        return 0;
    const char *pa = a, *ea = a + alen, *pb = b, *eb = b + blen;
    for (size_t i = 0; i < na; i++) {
        const char *sa, *sb;
        size_t la, lb;
        line_next(&pa, ea, &sa, &la);
        line_next(&pb, eb, &sb, &lb);
        if (la != lb || memcmp(sa, sb, la) != 0)
            return 0;
    }
    return 1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The next token of [*p, end): start and length; 0 at the end. */
static int token_next(const char **p, const char *end, const char **start, size_t *len)
{
    const char *s = *p;
    while (s < end && is_space(*s))
        s++;
    const char *e = s;
    while (e < end && !is_space(*e))
        e++;
    *p = e;
    *start = s;
    *len = (size_t)(e - s);
    return e > s;
}

/* 1 with *out when tok (len bytes) is a finite number, whole. */
static int token_number(const char *tok, size_t len, double *out)
{
    char buf[128];
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, tok, len);
    buf[len] = '\0';
    char *endp;
    double d = strtod(buf, &endp);
    if (endp != buf + len || !isfinite(d))
        return 0;
    *out = d;
    return 1;
}

int exec_tokens_match(const char *expected, size_t expected_len, const char *actual,
                      size_t actual_len, int numeric, double abs_tol, double rel_tol, char *why,
                      size_t why_len)
{
    if (abs_tol == 0 && rel_tol == 0)
        abs_tol = rel_tol = DP_FLOAT_TOL_DEFAULT;
    const char *pe = expected != NULL ? expected : "", *pa = actual != NULL ? actual : "";
    const char *ee = pe + (expected != NULL ? expected_len : 0);
    const char *ea = pa + (actual != NULL ? actual_len : 0);
    for (size_t i = 1;; i++) {
        const char *se, *sa;
        size_t le, la;
        int he = token_next(&pe, ee, &se, &le), ha = token_next(&pa, ea, &sa, &la);
        if (!he && !ha)
            return 1;
        if (!he || !ha) {
            if (why != NULL)
                snprintf(why, why_len, "token %zu: expected %s, got %s", i,
                         he ? "more output" : "end of output", ha ? "more output" : "its end");
            return 0;
        }
        double x, y;
        int same = le == la && memcmp(se, sa, le) == 0;
        if (!same && numeric && token_number(se, le, &x) && token_number(sa, la, &y)) {
            double d = fabs(x - y);
            same = d <= abs_tol || d <= rel_tol * fabs(x);
        }
        if (!same) {
            if (why != NULL)
                snprintf(why, why_len, "token %zu: expected %.*s, got %.*s", i,
                         (int)(le > 40 ? 40 : le), se, (int)(la > 40 ? 40 : la), sa);
            return 0;
        }
    }
}

int exec_output_matches(const char *expected, size_t expected_len, const char *actual,
                        size_t actual_len, dp_compare mode)
{
    if (expected == NULL)
        expected = "";
    if (actual == NULL)
        actual = "";
    if (mode == DP_COMPARE_LINES)
        return lines_equal(expected, expected_len, actual, actual_len);
    if (mode == DP_COMPARE_TOKENS || mode == DP_COMPARE_FLOAT)
        return exec_tokens_match(expected, expected_len, actual, actual_len,
                                 mode == DP_COMPARE_FLOAT, 0, 0, NULL, 0);
    return expected_len == actual_len && memcmp(expected, actual, actual_len) == 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c >= 0x01 && c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* overlong, surrogate or beyond U+10FFFF */
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

size_t exec_sanitize(const char *in, size_t n, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0;
    while (i < n) {
        size_t l = utf8_seq(s + i, n - i);
        if (l == 0) {
            out[i++] = '?';
            continue;
        }
        memmove(out + i, in + i, l);
        i += l;
    }
    return n;
}

char *exec_excerpt(const char *buf, size_t len, size_t cap)
{
    if (buf == NULL)
        len = 0;
    if (len <= cap) {
        char *out = malloc(len + 1);
        if (out == NULL)
            return NULL;
        exec_sanitize(buf, len, out);
        out[len] = '\0';
        return out;
    }
    size_t head = cap / 2, tail = cap - head;
    char marker[64];
    int m = snprintf(marker, sizeof marker, "\n[... %zu bytes cut ...]\n", len - head - tail);
    size_t mlen = (size_t)m;
    char *out = malloc(head + mlen + tail + 1);
    if (out == NULL)
        return NULL;
    exec_sanitize(buf, head, out);
    memcpy(out + head, marker, mlen);
    exec_sanitize(buf + len - tail, tail, out + head + mlen);
    out[head + mlen + tail] = '\0';
    return out;
}
