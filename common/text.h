/* Text from untrusted sources (a submission's output, archive entry names,
 * a server's error message) made safe for a terminal: control characters
 * (C0, DEL, and bytes 0x80-0x9f, which some terminals take as C1 controls)
 * become \xNN, invisible and reordering characters (zero-width, bidi
 * overrides and isolates, U+2028/2029, BOM) become \uNNNN, and a backslash
 * is doubled, so nothing untrusted can move the cursor, set the title, hide
 * or reorder text, or fake an escape. */
#ifndef DP_TEXT_H
#define DP_TEXT_H

#include <stddef.h>

/* Writes the escaped form of s (NULL: "-") into out (len bytes, always
 * NUL-terminated, cut with "..." when it does not fit); returns out. */
const char *dp_text_safe(const char *s, char *out, size_t len);

#endif
