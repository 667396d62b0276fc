/* Configuration from environment variables (flags override by setenv before
 * reading). Every getter validates and, on a bad value, fills err with one line
 * that names the variable and what is wrong, e.g.
 *   "DISPATCH_HEARTBEAT_MS: 'abc' is not an integer in 100..600000".
 * Returned strings point into the environment or the given default: do not free. */
#ifndef DP_CONFIG_H
#define DP_CONFIG_H

#include <stdint.h>

struct dp_err;

/* Unset or empty -> def (which may be NULL: then the variable is required and
 * its absence is an error). */
int dp_config_string(const char *name, const char *def, const char **out, struct dp_err *err);

/* An integer in [min, max]. */
int dp_config_uint(const char *name, uint64_t def, uint64_t min, uint64_t max, uint64_t *out,
                   struct dp_err *err);

/* A URL whose scheme is one of the comma-separated list `schemes`
 * (e.g. "tcp,tls+tcp,ipc"); the part after "://" must be non-empty. */
int dp_config_url(const char *name, const char *def, const char *schemes, const char **out,
                  struct dp_err *err);

/* Checks that a URL has one of the schemes; used for flags too. */
int dp_config_check_url(const char *what, const char *url, const char *schemes, struct dp_err *err);

/* A readable file named by a variable (required: def NULL means it must be
 * set). */
int dp_config_file(const char *name, const char *def, const char **out, struct dp_err *err);

#endif
