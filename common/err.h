/* Error reporting shared by every module.
 *
 * Functions return 0 (DP_OK) or a negative dp_code, and fill a caller-owned
 * dp_err with a one-line message the caller can print. A NULL dp_err is
 * allowed everywhere: the message is then dropped. */
#ifndef DP_ERR_H
#define DP_ERR_H

#include <stddef.h>

typedef enum {
    DP_OK = 0,
    DP_EINVAL = -1,     /* bad input: names what is wrong */
    DP_ENOMEM = -2,     /* allocation failed */
    DP_EIO = -3,        /* I/O or server error */
    DP_ECONFLICT = -4,  /* stale owner or attempt */
    DP_ENOTFOUND = -5,  /* unknown job or runner */
    DP_EAUTH = -6,      /* bad token */
    DP_ETIMEOUT = -7,   /* deadline passed */
    DP_EUNAVAIL = -8,   /* peer or server unreachable: retry later */
    DP_EPROTO = -9,     /* malformed message */
    DP_EFULL = -10,     /* bounded queue full: back-pressure */
    DP_ECLOSED = -11,   /* actor or socket closed */
    DP_EINTERNAL = -12, /* a bug: should not happen */
    DP_EFORBIDDEN = -13 /* a valid credential without the scope this needs */
} dp_code;

#define DP_ERR_MSG_MAX 512

typedef struct dp_err {
    int code;
    char msg[DP_ERR_MSG_MAX];
} dp_err;

/* Sets *err (when non-NULL) and returns code, so callers can write
 * `return dp_err_set(err, DP_EINVAL, "bad %s", what);`. */
int dp_err_set(dp_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Clears *err (when non-NULL). */
void dp_err_clear(dp_err *err);

/* Stable lower-case name of a code ("invalid", "conflict", ...). */
const char *dp_code_name(int code);

#endif
