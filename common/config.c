#include "common/config.h"

#include "common/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int dp_config_string(const char *name, const char *def, const char **out, dp_err *err)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0')
        v = def;
    if (v == NULL)
        return dp_err_set(err, DP_EINVAL, "%s: required but not set", name);
    *out = v;
    return DP_OK;
}

int dp_config_uint(const char *name, uint64_t def, uint64_t min, uint64_t max, uint64_t *out,
                   dp_err *err)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        *out = def;
        return DP_OK;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (v[0] == '-' || errno != 0 || end == v || *end != '\0' || n < min || n > max)
        return dp_err_set(err, DP_EINVAL, "%s: '%.64s' is not an integer in %llu..%llu", name, v,
                          (unsigned long long)min, (unsigned long long)max);
    *out = n;
    return DP_OK;
}

int dp_config_check_url(const char *what, const char *url, const char *schemes, dp_err *err)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL || sep == url || sep[3] == '\0')
        return dp_err_set(err, DP_EINVAL, "%s: '%.128s' is not a URL (want %s://...)", what, url,
                          schemes);
    size_t slen = (size_t)(sep - url);
    const char *p = schemes;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (n == slen && strncmp(p, url, n) == 0)
            return DP_OK;
        p += n;
        if (*p == ',')
            p++;
    }
    return dp_err_set(err, DP_EINVAL, "%s: scheme of '%.128s' must be one of %s", what, url,
                      schemes);
}

int dp_config_url(const char *name, const char *def, const char *schemes, const char **out,
                  dp_err *err)
{
    int rc = dp_config_string(name, def, out, err);
    if (rc != DP_OK)
        return rc;
    return dp_config_check_url(name, *out, schemes, err);
}

int dp_config_file(const char *name, const char *def, const char **out, dp_err *err)
{
    int rc = dp_config_string(name, def, out, err);
    if (rc != DP_OK)
        return rc;
    if (access(*out, R_OK) != 0)
        return dp_err_set(err, DP_EINVAL, "%s: %.256s: not a readable file", name, *out);
    return DP_OK;
}
