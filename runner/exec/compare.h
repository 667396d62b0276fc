/* Output comparison, excerpts and text sanitising for the executor.
 * Pure functions: inputs are caller-owned and only read; returned strings
 * are malloc'd and owned by the caller (free()). */
#ifndef EXEC_COMPARE_H
#define EXEC_COMPARE_H

#include <stddef.h>

#include "common/job.h"

/* 1 when actual matches expected under mode (DP_COMPARE_DEFAULT means
 * exact). DP_COMPARE_LINES ignores trailing spaces, tabs and '\r' on each
 * line and trailing blank lines at the end. */
int exec_output_matches(const char *expected, size_t expected_len, const char *actual,
                        size_t actual_len, dp_compare mode);

/* DP_COMPARE_TOKENS: the outputs split at whitespace (space, \t, \n, \r, \v,
 * \f) give equal token lists. DP_COMPARE_FLOAT: the same, except that a pair
 * of tokens that both parse whole as finite numbers (strtod) match when
 * |a - b| <= abs_tol or |a - b| <= rel_tol * |expected| (so -0.0 equals 0);
 * other tokens (nan, inf, words) must be equal as text. Tolerances of 0 (both)
 * mean DP_FLOAT_TOL_DEFAULT. On a mismatch, why (if not NULL, len bytes)
 * names the token: "token 3: expected 1.5, got 1.6". */
int exec_tokens_match(const char *expected, size_t expected_len, const char *actual,
                      size_t actual_len, int numeric, double abs_tol, double rel_tol, char *why,
                      size_t why_len);

/* Copies n bytes into out (room for n bytes) replacing NUL bytes and bytes
 * that are not valid UTF-8 with '?', so the text is safe for JSON and
 * PostgreSQL. Returns n. */
size_t exec_sanitize(const char *in, size_t n, char *out);

/* A NUL-terminated excerpt of buf: all of it when len <= cap, else the first
 * cap/2 and last cap/2 bytes around a marker line "[... N bytes cut ...]".
 * Sanitised as above. NULL only when out of memory. */
char *exec_excerpt(const char *buf, size_t len, size_t cap);

#endif
