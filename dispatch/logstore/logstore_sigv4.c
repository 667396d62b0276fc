/* AWS Signature Version 4, query-string form (a presigned GET), as
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
 * describes; test_logstore checks it against that page's example. */
#include "dispatch/logstore/logstore.h"

#include "common/hmac.h"
#include "common/sha256.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Appends s URI-encoded (RFC 3986 unreserved kept; '/' kept when keep_slash)
 * to out at *pos. -1 when it does not fit. */
static int enc(char *out, size_t len, size_t *pos, const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/');
        if (*pos + (plain ? 1 : 3) >= len)
            return -1;
        if (plain) {
            out[(*pos)++] = (char)c;
        } else {
            out[(*pos)++] = '%';
            out[(*pos)++] = hex[c >> 4];
            out[(*pos)++] = hex[c & 15];
        }
    }
    out[*pos] = '\0';
    return 0;
}

static int put(char *out, size_t len, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (*pos + n >= len)
        return -1;
    memcpy(out + *pos, s, n + 1);
    *pos += n;
    return 0;
}

static void hmac(const uint8_t *key, size_t klen, const char *msg, uint8_t out[DP_SHA256_LEN])
{
    dp_hmac_sha256(key, klen, msg, strlen(msg), out);
}

int logstore_sigv4_presign(const char *url, const char *key, const char *secret, const char *region,
                           const char *token, unsigned expires_s, time_t now, char *out,
                           size_t out_len, dp_err *err)
{
    const char *scheme_end = strstr(url, "://");
    if (scheme_end == NULL || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
        return dp_err_set(err, DP_EINVAL, "presign: '%.200s' is not an http(s) URL", url);
    const char *host = scheme_end + 3;
    size_t host_len = strcspn(host, "/?#");
    const char *path = host + host_len;
    size_t path_len = strcspn(path, "?#");
    if (host_len == 0 || host_len > 255 || path[path_len] != '\0')
        return dp_err_set(err, DP_EINVAL, "presign: '%.200s': want a host and a path, no query",
                          url);
    struct tm tm;
    gmtime_r(&now, &tm);
    char amz_date[20], day[12], scope[128], cred[512];
    strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    strftime(day, sizeof day, "%Y%m%d", &tm);
    snprintf(scope, sizeof scope, "%s/%s/s3/aws4_request", day, region);
    snprintf(cred, sizeof cred, "%s/%s", key, scope);

    /* the canonical query: names sorted (X-Amz-Security-Token sorts last) */
    char query[4096], expires[16];
    size_t q = 0;
    snprintf(expires, sizeof expires, "%u", expires_s);
    int bad =
        put(query, sizeof query, &q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=") ||
        enc(query, sizeof query, &q, cred, strlen(cred), 0) ||
        put(query, sizeof query, &q, "&X-Amz-Date=") || put(query, sizeof query, &q, amz_date) ||
        put(query, sizeof query, &q, "&X-Amz-Expires=") || put(query, sizeof query, &q, expires);
    if (!bad && token != NULL)
        bad = put(query, sizeof query, &q, "&X-Amz-Security-Token=") ||
              enc(query, sizeof query, &q, token, strlen(token), 0);
    bad = bad || put(query, sizeof query, &q, "&X-Amz-SignedHeaders=host");

    char creq[8192];
    size_t c = 0;
    bad = bad || put(creq, sizeof creq, &c, "GET\n") ||
          (path_len == 0 ? put(creq, sizeof creq, &c, "/")
                         : enc(creq, sizeof creq, &c, path, path_len, 1)) ||
          put(creq, sizeof creq, &c, "\n") || put(creq, sizeof creq, &c, query) ||
          put(creq, sizeof creq, &c, "\nhost:");
    if (!bad && c + host_len < sizeof creq) {
        memcpy(creq + c, host, host_len);
        c += host_len;
        creq[c] = '\0';
    } else {
        bad = 1;
    }
    bad = bad || put(creq, sizeof creq, &c, "\n\nhost\nUNSIGNED-PAYLOAD");
    if (bad)
        return dp_err_set(err, DP_EINVAL, "presign: '%.200s': too long", url);

    char creq_hash[DP_SHA256_HEX_LEN + 1], to_sign[512];
    dp_sha256_hex(creq, c, creq_hash);
    snprintf(to_sign, sizeof to_sign, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, creq_hash);
    char ksecret[600];
    snprintf(ksecret, sizeof ksecret, "AWS4%s", secret);
    uint8_t k[DP_SHA256_LEN], sig[DP_SHA256_LEN];
    hmac((const uint8_t *)ksecret, strlen(ksecret), day, k);
    hmac(k, sizeof k, region, k);
    hmac(k, sizeof k, "s3", k);
    hmac(k, sizeof k, "aws4_request", k);
    hmac(k, sizeof k, to_sign, sig);
    memset(ksecret, 0, sizeof ksecret);
    memset(k, 0, sizeof k);
    char sig_hex[DP_SHA256_HEX_LEN + 1];
    dp_hex_encode(sig, sizeof sig, sig_hex);
    int n = snprintf(out, out_len, "%.*s?%s&X-Amz-Signature=%s", (int)(path + path_len - url), url,
                     query, sig_hex);
    if (n < 0 || (size_t)n >= out_len)
        return dp_err_set(err, DP_EINVAL, "presign: the signed URL is longer than %zu", out_len);
    return DP_OK;
}
