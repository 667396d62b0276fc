/* dispatchctl's API-key parts: which key it presents (DISPATCH_API_KEY or
 * DISPATCH_API_KEY_FILE, never a flag `ps` would show) and the `apikey`
 * command. */
#ifndef DP_DISPATCHCTL_KEYS_H
#define DP_DISPATCHCTL_KEYS_H

#include "client/dispatch_client.h"

/* The key from the environment into *key (heap, or NULL when none is
 * configured). DP_EINVAL naming the variable when the file cannot be read or
 * holds no key. */
int ctl_key_from_env(char **key, dp_err *err);

typedef struct {
    const char *sub, *arg; /* create NAME | list | revoke ID_OR_NAME */
    const char *scope, *max_queued, *per_minute;
    int json;
} ctl_apikey_args;

/* Runs `apikey ...`; prints the result; returns a dp code (err filled). */
int ctl_apikey(dpc *c, const ctl_apikey_args *a, dp_err *err);

#endif
