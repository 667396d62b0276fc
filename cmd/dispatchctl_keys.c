#include "cmd/dispatchctl_keys.h"

#include "common/apikey.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_key_from_env(char **key, dp_err *err)
{
    *key = NULL;
    const char *k = getenv("DISPATCH_API_KEY");
    if (k != NULL && k[0] != '\0') {
        *key = strdup(k);
        return *key != NULL ? DP_OK : dp_err_set(err, DP_ENOMEM, "out of memory");
    }
    const char *path = getenv("DISPATCH_API_KEY_FILE");
    if (path == NULL || path[0] == '\0')
        return DP_OK;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return dp_err_set(err, DP_EINVAL, "DISPATCH_API_KEY_FILE: cannot read %s", path);
    char buf[DP_APIKEY_LEN + 8] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    if (n == 0)
        return dp_err_set(err, DP_EINVAL, "DISPATCH_API_KEY_FILE: %s holds no key", path);
    *key = strdup(buf);
    explicit_bzero(buf, sizeof buf);
    return *key != NULL ? DP_OK : dp_err_set(err, DP_ENOMEM, "out of memory");
}

static int parse_u32(const char *flag, const char *s, uint32_t *out, dp_err *err)
{
    *out = 0;
    if (s == NULL)
        return DP_OK;
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end != '\0' || v > 1000000000ul)
        return dp_err_set(err, DP_EINVAL, "%s: '%s' is not a number", flag, s);
    *out = (uint32_t)v;
    return DP_OK;
}

static json_t *key_json(const dp_key_info *k)
{
    char scopes[32];
    dp_scopes_format(k->scopes, scopes, sizeof scopes);
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:i, s:i, s:b}", "id", k->key_id, "name", k->name ? k->name : "",
                  "scopes", scopes, "max_queued", (json_int_t)k->max_queued, "submits_per_minute",
                  (json_int_t)k->per_minute, "revoked", k->revoked);
    if (o != NULL && k->created_at != NULL)
        json_object_set_new(o, "created_at", json_string(k->created_at));
    if (o != NULL && k->key != NULL)
        json_object_set_new(o, "key", json_string(k->key));
    return o;
}

static void print_json(json_t *j)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (s != NULL)
        puts(s);
    free(s);
    json_decref(j);
}

static int create(dpc *c, const ctl_apikey_args *a, dp_err *err)
{
    unsigned scopes = 0;
    uint32_t max_queued, per_minute;
    int rc;
    if (a->arg == NULL)
        return dp_err_set(err, DP_EINVAL, "apikey create needs a NAME");
    if ((rc = dp_scopes_parse(a->scope, &scopes, err)) != DP_OK ||
        (rc = parse_u32("--max-queued", a->max_queued, &max_queued, err)) != DP_OK ||
        (rc = parse_u32("--per-minute", a->per_minute, &per_minute, err)) != DP_OK)
        return rc;
    dp_key_info k;
    if ((rc = dpc_key_create(c, a->arg, scopes, max_queued, per_minute, &k, err)) != DP_OK)
        return rc;
    if (a->json) {
        print_json(key_json(&k));
    } else {
        char s[32];
        dp_scopes_format(k.scopes, s, sizeof s);
        printf("%s\n", k.key);
        fprintf(stderr, "api key %s ('%s', %s): shown once, keep it secret\n", k.key_id, k.name, s);
    }
    dp_msg m = {.type = DP_MSG_KEY, .key = k}; /* frees the strings, wipes nothing else */
    if (k.key != NULL)
        explicit_bzero(k.key, strlen(k.key));
    dp_msg_free(&m);
    return DP_OK;
}

static int list(dpc *c, const ctl_apikey_args *a, dp_err *err)
{
    dp_key_info *keys = NULL;
    size_t n = 0;
    int rc = dpc_key_list(c, &keys, &n, err);
    if (rc != DP_OK)
        return rc;
    json_t *arr = a->json ? json_array() : NULL;
    if (!a->json)
        printf("%-16s  %-24s  %-18s  %-10s  %-10s  %s\n", "ID", "NAME", "SCOPES", "MAX-QUEUED",
               "PER-MINUTE", "STATE");
    for (size_t i = 0; i < n; i++) {
        if (arr != NULL) {
            json_array_append_new(arr, key_json(&keys[i]));
            continue;
        }
        char s[32];
        dp_scopes_format(keys[i].scopes, s, sizeof s);
        char q[16] = "-", pm[16] = "-"; /* 0: no quota */
        if (keys[i].max_queued > 0)
            snprintf(q, sizeof q, "%u", keys[i].max_queued);
        if (keys[i].per_minute > 0)
            snprintf(pm, sizeof pm, "%u", keys[i].per_minute);
        printf("%-16s  %-24s  %-18s  %-10s  %-10s  %s\n", keys[i].key_id,
               keys[i].name ? keys[i].name : "", s, q, pm, keys[i].revoked ? "revoked" : "live");
    }
    if (arr != NULL)
        print_json(arr);
    dpc_keys_free(keys, n);
    return DP_OK;
}

int ctl_apikey(dpc *c, const ctl_apikey_args *a, dp_err *err)
{
    if (a->sub == NULL)
        return dp_err_set(err, DP_EINVAL, "apikey needs create NAME, list or revoke KEY");
    if (strcmp(a->sub, "create") == 0)
        return create(c, a, err);
    if (strcmp(a->sub, "list") == 0)
        return list(c, a, err);
    if (strcmp(a->sub, "revoke") == 0) {
        if (a->arg == NULL)
            return dp_err_set(err, DP_EINVAL, "apikey revoke needs a key id or name");
        int rc = dpc_key_revoke(c, a->arg, err);
        if (rc == DP_OK && !a->json)
            printf("revoked %s\n", a->arg);
        return rc;
    }
    return dp_err_set(err, DP_EINVAL, "apikey: '%s' is not create, list or revoke", a->sub);
}
