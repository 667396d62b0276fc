#include "common/text.h"

#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (1..4), 0 when invalid. */
static size_t utf8_len(const unsigned char *p)
{
    size_t n = p[0] < 0x80                    ? 1
               : p[0] >= 0xc2 && p[0] <= 0xdf ? 2
               : p[0] >= 0xe0 && p[0] <= 0xef ? 3
               : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                              : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0)))
        return 0; /* overlong, or a surrogate */
    if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90)))
        return 0;
    return n;
}

/* Invisible or reordering characters (zero-width, bidi embeddings and
 * isolates, the line and paragraph separators, the BOM): shown, not obeyed. */
static unsigned format_char(const unsigned char *p, size_t n)
{
    if (n != 3)
        return 0;
    unsigned cp = ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
    if ((cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
        (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff)
        return cp;
    return 0;
}

const char *dp_text_safe(const char *s, char *out, size_t len)
{
    if (len == 0)
        return out;
    if (s == NULL)
        s = "-";
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p != '\0') {
        size_t n = utf8_len(p);
        /* C0, DEL, C1 (U+0080..U+009F = C2 80..C2 9F) and invalid bytes. */
        int control = n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f)) ||
                      (n == 2 && p[0] == 0xc2 && p[1] <= 0x9f);
        unsigned hidden = control ? 0 : format_char(p, n);
        int backslash = n == 1 && *p == '\\'; /* doubled, so \xNN is unambiguous */
        size_t take = control ? 1 : n;
        size_t need = control ? 4 : hidden ? 6 : backslash ? 2 : n;
        if (o + need + 4 > len) { /* keep room for "..." and the NUL */
            snprintf(out + o, len - o, "%s", len - o >= 4 ? "..." : "");
            return out;
        }
        if (control)
            snprintf(out + o, 5, "\\x%02x", *p);
        else if (hidden)
            snprintf(out + o, 7, "\\u%04x", hidden & 0xffffu);
        else if (backslash)
            memcpy(out + o, "\\\\", 2);
        else
            memcpy(out + o, p, n);
        o += need;
        p += take;
    }
    out[o] = '\0';
    return out;
}
