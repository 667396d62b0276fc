#include "dispatch/logstore/logstore.h"

#include "common/config.h"
#include "common/sha256.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct logstore {
    char *tmpl;
    CURL *curl; /* reused: keeps connections to an https store alive */
    char sigv4[128];
    char *userpwd;              /* key:secret, or NULL */
    struct curl_slist *headers; /* x-amz-security-token, when a session token is set */
    char *key, *secret, *token; /* for presigned URLs; NULL without credentials */
    char region[64];
    char *ca_file; /* DISPATCH_LOG_STORE_CA_FILE, or NULL */
};

typedef struct {
    const char *p;
    size_t left;
} upload_src;

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
    upload_src *s = arg;
    size_t n = size * nitems < s->left ? size * nitems : s->left;
    memcpy(buf, s->p, n);
    s->p += n;
    s->left -= n;
    return n;
}

logstore *logstore_open(const char *url_template, dp_err *err)
{
    if (dp_config_check_url("DISPATCH_LOG_STORE", url_template, "file,http,https", err) != DP_OK)
        return NULL;
    if (strstr(url_template, "{job_id}") == NULL) {
        dp_err_set(err, DP_EINVAL, "DISPATCH_LOG_STORE: '%.128s' must contain {job_id}",
                   url_template);
        return NULL;
    }
    logstore *ls = calloc(1, sizeof *ls);
    if (ls == NULL || (ls->tmpl = strdup(url_template)) == NULL ||
        (ls->curl = curl_easy_init()) == NULL) {
        logstore_close(ls);
        dp_err_set(err, DP_ENOMEM, "log store: out of memory");
        return NULL;
    }
    const char *key = getenv("DISPATCH_LOG_STORE_KEY");
    const char *secret = getenv("DISPATCH_LOG_STORE_SECRET");
    const char *token = getenv("DISPATCH_LOG_STORE_SESSION_TOKEN");
    key = key != NULL && key[0] != '\0' ? key : NULL;
    secret = secret != NULL && secret[0] != '\0' ? secret : NULL;
    token = token != NULL && token[0] != '\0' ? token : NULL;
    /* Credentials are all or nothing: a key without its secret would write
     * unsigned requests, which a store refuses or, worse, accepts. */
    const char *problem =
        (key != NULL) != (secret != NULL)
            ? "DISPATCH_LOG_STORE_KEY and DISPATCH_LOG_STORE_SECRET go together"
        : token != NULL && key == NULL
            ? "DISPATCH_LOG_STORE_SESSION_TOKEN needs DISPATCH_LOG_STORE_KEY and "
              "_SECRET (the instance role's temporary credentials)"
        : key != NULL && strncmp(url_template, "https://", 8) != 0
            ? "DISPATCH_LOG_STORE_KEY is set but DISPATCH_LOG_STORE is not https://"
            : NULL;
    if (problem != NULL) {
        logstore_close(ls);
        dp_err_set(err, DP_EINVAL, "%s", problem);
        return NULL;
    }
    if (token != NULL) {
        char h[4096];
        snprintf(h, sizeof h, "x-amz-security-token: %s", token);
        if ((ls->headers = curl_slist_append(NULL, h)) == NULL) {
            logstore_close(ls);
            dp_err_set(err, DP_ENOMEM, "log store: out of memory");
            return NULL;
        }
    }
    const char *ca = getenv("DISPATCH_LOG_STORE_CA_FILE");
    if (ca != NULL && ca[0] != '\0' && (ls->ca_file = strdup(ca)) == NULL) {
        logstore_close(ls);
        dp_err_set(err, DP_ENOMEM, "log store: out of memory");
        return NULL;
    }
    if (key != NULL) {
        const char *region = getenv("DISPATCH_LOG_STORE_REGION");
        region = region != NULL && region[0] != '\0' ? region : "us-east-1";
        if (strlen(region) >= sizeof ls->region || strcspn(region, "/:\n ") != strlen(region)) {
            logstore_close(ls);
            dp_err_set(err, DP_EINVAL, "DISPATCH_LOG_STORE_REGION: want a region name (us-east-1)");
            return NULL;
        }
        snprintf(ls->region, sizeof ls->region, "%s", region);
        snprintf(ls->sigv4, sizeof ls->sigv4, "aws:amz:%s:s3", region);
        ls->key = strdup(key);
        ls->secret = strdup(secret);
        ls->token = token != NULL ? strdup(token) : NULL;
        size_t n = strlen(key) + strlen(secret) + 2;
        ls->userpwd = malloc(n);
        if (ls->userpwd != NULL)
            snprintf(ls->userpwd, n, "%s:%s", key, secret);
        if (ls->userpwd == NULL || ls->key == NULL || ls->secret == NULL ||
            (token != NULL && ls->token == NULL)) {
            logstore_close(ls);
            dp_err_set(err, DP_ENOMEM, "log store: out of memory");
            return NULL;
        }
    }
    return ls;
}

void logstore_close(logstore *ls)
{
    if (ls == NULL)
        return;
    if (ls->curl != NULL)
        curl_easy_cleanup(ls->curl);
    free(ls->tmpl);
    curl_slist_free_all(ls->headers);
    free(ls->key);
    free(ls->ca_file);
    if (ls->secret != NULL) {
        memset(ls->secret, 0, strlen(ls->secret));
        free(ls->secret);
    }
    if (ls->token != NULL) {
        memset(ls->token, 0, strlen(ls->token));
        free(ls->token);
    }
    if (ls->userpwd != NULL) {
        memset(ls->userpwd, 0, strlen(ls->userpwd));
        free(ls->userpwd);
    }
    free(ls);
}

static int expand(const char *tmpl, const char *job_id, uint32_t attempt, char *out, size_t len)
{
    size_t pos = 0;
    for (const char *p = tmpl; *p != '\0';) {
        const char *sub = NULL;
        char num[16];
        size_t skip = 0;
        if (strncmp(p, "{job_id}", 8) == 0) {
            sub = job_id;
            skip = 8;
        } else if (strncmp(p, "{attempt}", 9) == 0) {
            snprintf(num, sizeof num, "%u", attempt);
            sub = num;
            skip = 9;
        }
        if (sub != NULL) {
            size_t n = strlen(sub);
            if (pos + n >= len)
                return -1;
            memcpy(out + pos, sub, n);
            pos += n;
            p += skip;
        } else {
            if (pos + 1 >= len)
                return -1;
            out[pos++] = *p++;
        }
    }
    out[pos] = '\0';
    return 0;
}

/* mkdir -p of the directory part of a file:// URL's path. */
static int make_parent_dirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    char *slash = strrchr(tmp, '/');
    if (slash == NULL || slash == tmp)
        return 0;
    *slash = '\0';
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

int logstore_put(logstore *ls, const char *job_id, uint32_t attempt, const void *data, size_t len,
                 char *url_out, size_t url_len, dp_err *err)
{
    if (expand(ls->tmpl, job_id, attempt, url_out, url_len) != 0)
        return dp_err_set(err, DP_EINVAL, "log store: URL for %s too long", job_id);
    if (strncmp(url_out, "file://", 7) == 0 && make_parent_dirs(url_out + 7) != 0)
        return dp_err_set(err, DP_EIO, "log store: cannot create the directory of %s: %s", url_out,
                          strerror(errno));
    CURL *c = ls->curl;
    curl_easy_reset(c);
    upload_src src = {data, len};
    curl_easy_setopt(c, CURLOPT_URL, url_out);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_NEW_FILE_PERMS, 0640L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (ls->ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, ls->ca_file);
    struct curl_slist *headers = NULL;
    if (ls->userpwd != NULL) {
        /* S3 requires x-amz-content-sha256, and libcurl 7.88 neither sends it
         * nor hashes an uploaded body: without it the signature covers the
         * empty payload and S3 refuses the write (e2e-s3log's server too).
         * Given here, libcurl signs it and takes it as the payload hash. */
        char sha[DP_SHA256_HEX_LEN + 1], h[96];
        dp_sha256_hex(data, len, sha);
        snprintf(h, sizeof h, "x-amz-content-sha256: %s", sha);
        headers = curl_slist_append(NULL, h);
        for (struct curl_slist *l = ls->headers; headers != NULL && l != NULL; l = l->next) {
            struct curl_slist *more = curl_slist_append(headers, l->data);
            if (more == NULL) {
                curl_slist_free_all(headers);
                headers = NULL;
            }
            headers = more;
        }
        if (headers == NULL)
            return dp_err_set(err, DP_ENOMEM, "log store: out of memory");
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, ls->sigv4);
        curl_easy_setopt(c, CURLOPT_USERPWD, ls->userpwd);
        /* signed with the rest (SigV4 covers x-amz-* headers) */
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK)
        return dp_err_set(err, DP_EUNAVAIL, "log store: writing %s: %s", url_out,
                          curl_easy_strerror(rc));
    if (strncmp(url_out, "http", 4) == 0 && (status < 200 || status >= 300))
        return dp_err_set(err, DP_EIO, "log store: writing %s: HTTP %ld", url_out, status);
    return DP_OK;
}

int logstore_signed(const logstore *ls)
{
    return ls != NULL && ls->key != NULL && ls->secret != NULL;
}

int logstore_presign_get(const logstore *ls, const char *url, unsigned expires_s, char *out,
                         size_t out_len, dp_err *err)
{
    if (!logstore_signed(ls))
        return dp_err_set(err, DP_EINVAL, "presign: the log store has no credentials");
    return logstore_sigv4_presign(url, ls->key, ls->secret, ls->region, ls->token, expires_s,
                                  time(NULL), out, out_len, err);
}

int logstore_url(const logstore *ls, const char *job_id, uint32_t attempt, char *url_out,
                 size_t url_len, dp_err *err)
{
    if (expand(ls->tmpl, job_id, attempt, url_out, url_len) != 0)
        return dp_err_set(err, DP_EINVAL, "log store: URL for %s too long", job_id);
    return DP_OK;
}
