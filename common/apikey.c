#include "common/apikey.h"

#include "common/sha256.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned bit;
} scope_names[] = {{"submit", DP_SCOPE_SUBMIT}, {"read", DP_SCOPE_READ}, {"admin", DP_SCOPE_ADMIN}};

#define N_SCOPES (sizeof scope_names / sizeof scope_names[0])

int dp_scopes_parse(const char *text, unsigned *scopes, dp_err *err)
{
    *scopes = 0;
    if (text == NULL || text[0] == '\0')
        return dp_err_set(err, DP_EINVAL, "scope: empty (submit, read or admin)");
    const char *p = text;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        size_t i = 0;
        while (i < N_SCOPES &&
               !(strlen(scope_names[i].name) == n && strncmp(scope_names[i].name, p, n) == 0))
            i++;
        if (i == N_SCOPES)
            return dp_err_set(err, DP_EINVAL, "scope: '%.*s' is not submit, read or admin",
                              (int)(n > 32 ? 32 : n), p);
        *scopes |= scope_names[i].bit;
        p += n;
        if (*p == ',')
            p++;
    }
    return DP_OK;
}

void dp_scopes_format(unsigned scopes, char *out, size_t len)
{
    size_t used = 0;
    if (len > 0)
        out[0] = '\0';
    for (size_t i = 0; i < N_SCOPES; i++)
        if ((scopes & scope_names[i].bit) != 0 && used < len) {
            int k = snprintf(out + used, len - used, "%s%s", used ? "," : "", scope_names[i].name);
            used += k > 0 ? (size_t)k : 0;
        }
}

bool dp_scopes_allow(unsigned have, unsigned need)
{
    if ((have & DP_SCOPE_ADMIN) != 0 || need == 0)
        return true;
    return (have & need) != 0;
}

static bool hex_only(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int dp_apikey_new(char key[DP_APIKEY_LEN + 1], char id[DP_APIKEY_ID_LEN + 1],
                  char hash[DP_APIKEY_HASH_LEN + 1], dp_err *err)
{
    unsigned char raw_id[DP_APIKEY_ID_LEN / 2], raw_secret[DP_APIKEY_SECRET_LEN / 2];
    if (dp_random_bytes(raw_id, sizeof raw_id) != 0 ||
        dp_random_bytes(raw_secret, sizeof raw_secret) != 0)
        return dp_err_set(err, DP_EIO, "api key: no randomness from the kernel");
    char secret[DP_APIKEY_SECRET_LEN + 1];
    dp_hex_encode(raw_id, sizeof raw_id, id);
    id[DP_APIKEY_ID_LEN] = '\0';
    dp_hex_encode(raw_secret, sizeof raw_secret, secret);
    secret[DP_APIKEY_SECRET_LEN] = '\0';
    snprintf(key, DP_APIKEY_LEN + 1, "dpk_%s_%s", id, secret);
    dp_sha256_hex(secret, DP_APIKEY_SECRET_LEN, hash);
    explicit_bzero(secret, sizeof secret);
    explicit_bzero(raw_secret, sizeof raw_secret);
    return DP_OK;
}

int dp_apikey_split(const char *key, char id[DP_APIKEY_ID_LEN + 1],
                    char hash[DP_APIKEY_HASH_LEN + 1], dp_err *err)
{
    if (key == NULL || strlen(key) != DP_APIKEY_LEN || strncmp(key, "dpk_", 4) != 0 ||
        key[4 + DP_APIKEY_ID_LEN] != '_' || !hex_only(key + 4, DP_APIKEY_ID_LEN) ||
        !hex_only(key + 4 + DP_APIKEY_ID_LEN + 1, DP_APIKEY_SECRET_LEN))
        return dp_err_set(err, DP_EAUTH, "not an API key (dpk_<id>_<secret>)");
    const char *secret = key + 4 + DP_APIKEY_ID_LEN + 1;
    memcpy(id, key + 4, DP_APIKEY_ID_LEN);
    id[DP_APIKEY_ID_LEN] = '\0';
    dp_sha256_hex(secret, DP_APIKEY_SECRET_LEN, hash);
    return DP_OK;
}

bool dp_apikey_hash_equal(const char *a, const char *b)
{
    return dp_ct_equal(a, b, DP_APIKEY_HASH_LEN) != 0;
}
