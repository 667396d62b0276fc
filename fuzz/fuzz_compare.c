/* libFuzzer harness for the output comparators and sanitiser
 * (runner/exec/compare.c), which read a submission's output.
 *
 * Input layout: byte 0 picks the excerpt cap, byte 1 where the rest is split
 * into expected | actual (as a fraction of its length). Checked: exact and
 * line comparison are symmetric and reflexive, exact implies lines, lines
 * ignores trailing blanks and blank lines, the sanitiser keeps the length and
 * yields valid UTF-8 without NUL bytes, and an excerpt has the promised
 * length. */
#include "fuzz/fuzz_check.h"
#include "runner/exec/compare.h"

#include <string.h>

/* 1 when [s, s+n) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF)
 * without NUL bytes: written independently of compare.c on purpose. */
static int utf8_clean(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned cp;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            len = 2, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            len = 3, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            len = 4, cp = c & 0x07;
        else
            return 0;
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* a heap copy of exactly n bytes, so ASan sees reads past the end */
static char *dup_exact(const uint8_t *p, size_t n)
{
    char *s = malloc(n > 0 ? n : 1);
    if (s != NULL && n > 0)
        memcpy(s, p, n);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t cap = data[0];
    size_t rest = size - 2;
    size_t split = rest * data[1] / 255;
    char *exp = dup_exact(data + 2, split);
    char *act = dup_exact(data + 2 + split, rest - split);
    char *with_blanks = malloc(split + 4);
    if (exp == NULL || act == NULL || with_blanks == NULL)
        goto out;
    size_t alen = rest - split;

    int ex = exec_output_matches(exp, split, act, alen, DP_COMPARE_EXACT);
    int li = exec_output_matches(exp, split, act, alen, DP_COMPARE_LINES);
    FUZZ_CHECK(ex == 0 || ex == 1);
    FUZZ_CHECK(li == 0 || li == 1);
    FUZZ_CHECK(ex == exec_output_matches(act, alen, exp, split, DP_COMPARE_EXACT));
    FUZZ_CHECK(ex == exec_output_matches(exp, split, act, alen, DP_COMPARE_DEFAULT));
    FUZZ_CHECK(li == exec_output_matches(act, alen, exp, split, DP_COMPARE_LINES));
    FUZZ_CHECK(!ex || li);
    FUZZ_CHECK(exec_output_matches(exp, split, exp, split, DP_COMPARE_EXACT));
    FUZZ_CHECK(exec_output_matches(act, alen, act, alen, DP_COMPARE_LINES));
    /* trailing blanks and a trailing blank line do not matter to LINES */
    memcpy(with_blanks, exp, split);
    memcpy(with_blanks + split, " \t\r\n", 4);
    FUZZ_CHECK(exec_output_matches(exp, split, with_blanks, split + 4, DP_COMPARE_LINES));
    FUZZ_CHECK(exec_output_matches(NULL, 0, "", 0, DP_COMPARE_EXACT));

    char *clean = malloc(alen > 0 ? alen : 1);
    if (clean != NULL) {
        FUZZ_CHECK(exec_sanitize(act, alen, clean) == alen);
        FUZZ_CHECK(utf8_clean((const unsigned char *)clean, alen));
        /* text that is already clean passes unchanged */
        if (utf8_clean((const unsigned char *)act, alen))
            FUZZ_CHECK(alen == 0 || memcmp(clean, act, alen) == 0);
        free(clean);
    }
    char *ex_txt = exec_excerpt(act, alen, cap);
    if (ex_txt != NULL) {
        size_t l = strlen(ex_txt);
        if (alen <= cap)
            FUZZ_CHECK(l == alen);
        else
            FUZZ_CHECK(l > cap && strstr(ex_txt, " bytes cut ...]") != NULL);
        FUZZ_CHECK(utf8_clean((const unsigned char *)ex_txt, l));
        free(ex_txt);
    }
out:
    free(exp);
    free(act);
    free(with_blanks);
    return 0;
}
