/* Archive download with libcurl; see fetch.h. */
#include "runner/exec/fetch.h"

#include "common/sha256.h"
#include "runner/exec/netaddr.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static pthread_mutex_t fetch_global_mu = PTHREAD_MUTEX_INITIALIZER;
static int fetch_global_users;

int exec_fetch_global_acquire(dp_err *err)
{
    int rc = DP_OK;
    pthread_mutex_lock(&fetch_global_mu);
    if (fetch_global_users == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        rc = dp_err_set(err, DP_EINTERNAL, "curl_global_init failed");
    if (rc == DP_OK)
        fetch_global_users++;
    pthread_mutex_unlock(&fetch_global_mu);
    return rc;
}

void exec_fetch_global_release(void)
{
    pthread_mutex_lock(&fetch_global_mu);
    if (fetch_global_users > 0 && --fetch_global_users == 0)
        curl_global_cleanup();
    pthread_mutex_unlock(&fetch_global_mu);
}

typedef struct {
    int fd;
    uint64_t size;
    uint64_t cap;
    int too_big;
    int write_errno;
    dp_sha256_ctx sha;
    const exec_addr_allow *allow;
    char refused[160]; /* the last address the policy refused, and why */
} fetch_sink;

/* libcurl calls this for every connection it opens, with the address DNS
 * gave (and again after each redirect): the one place where the address
 * actually dialled can be checked, so DNS rebinding cannot slip past. */
static curl_socket_t fetch_open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *a)
{
    fetch_sink *s = user;
    if (purpose != CURLSOCKTYPE_IPCXN ||
        exec_addr_check(&a->addr, s->allow, s->refused, sizeof s->refused) != 0)
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t fetch_write(char *data, size_t size, size_t nmemb, void *user)
{
    fetch_sink *s = user;
    size_t n = size * nmemb;
    if ((uint64_t)n > s->cap - s->size) {
        s->too_big = 1;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(s->fd, data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            s->write_errno = errno;
            return 0;
        }
        off += (size_t)w;
    }
    dp_sha256_update(&s->sha, data, n);
    s->size += n;
    return n;
}

/* Maps a failed transfer to a dp_code and message. */
static int fetch_fail(CURLcode cc, long http, const fetch_sink *s, const char *url,
                      const char *curl_msg, dp_err *err)
{
    if (s->too_big || cc == CURLE_FILESIZE_EXCEEDED)
        return dp_err_set(err, DP_EINVAL, "fetch %s: larger than the cap of %llu bytes", url,
                          (unsigned long long)s->cap);
    if (s->write_errno != 0)
        return dp_err_set(err, DP_EIO, "fetch %s: writing the archive: %s", url,
                          strerror(s->write_errno));
    if (cc == CURLE_COULDNT_CONNECT && s->refused[0] != '\0')
        return dp_err_set(err, DP_EINVAL,
                          "fetch %s: refused to connect to %s (the runner's operator can allow "
                          "it with RUNNER_FETCH_ALLOW_CIDRS)",
                          url, s->refused);
    const char *why = curl_msg[0] != '\0' ? curl_msg : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return dp_err_set(err, DP_ETIMEOUT, "fetch %s: timed out: %s", url, why);
    case CURLE_HTTP_RETURNED_ERROR:
        if (http >= 500 || http == 408 || http == 429)
            return dp_err_set(err, DP_EUNAVAIL, "fetch %s: HTTP %ld", url, http);
        return dp_err_set(err, DP_EINVAL, "fetch %s: HTTP %ld", url, http);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_FILE_COULDNT_READ_FILE:
    case CURLE_TOO_MANY_REDIRECTS:
        return dp_err_set(err, DP_EINVAL, "fetch %s: %s", url, why);
    default:
        return dp_err_set(err, DP_EUNAVAIL, "fetch %s: %s", url, why);
    }
}

static int sha_check(const fetch_sink *s, const char *url, const char *want, dp_err *err)
{
    dp_sha256_ctx ctx = s->sha;
    uint8_t d[DP_SHA256_LEN];
    char got[DP_SHA256_HEX_LEN + 1];
    dp_sha256_final(&ctx, d);
    dp_hex_encode(d, sizeof d, got);
    char lower[DP_SHA256_HEX_LEN + 1];
    size_t n = strlen(want);
    for (size_t i = 0; i < n && i < DP_SHA256_HEX_LEN; i++)
        lower[i] = (char)tolower((unsigned char)want[i]);
    lower[n < DP_SHA256_HEX_LEN ? n : DP_SHA256_HEX_LEN] = '\0';
    if (n != DP_SHA256_HEX_LEN || !dp_ct_equal(lower, got, DP_SHA256_HEX_LEN))
        return dp_err_set(err, DP_EINVAL, "fetch %s: sha256 mismatch: expected %.64s, got %s", url,
                          want, got);
    return DP_OK;
}

/* 1 when url's scheme is file (any case). */
static int is_file_url(const char *url)
{
    size_t n = strcspn(url, ":/?#");
    return url[n] == ':' && n == 4 && strncasecmp(url, "file", 4) == 0;
}

int exec_fetch(const char *url, const char *sha256_hex, const char *dest_path,
               const exec_fetch_limits *limits, uint64_t *size_out, dp_err *err)
{
    if (url == NULL || url[0] == '\0')
        return dp_err_set(err, DP_EINVAL, "fetch: no archive URL");
    if (!limits->allow_file && is_file_url(url))
        return dp_err_set(err, DP_EINVAL,
                          "fetch %s: file:// URLs are disabled on this runner (its operator can "
                          "enable them with RUNNER_FETCH_ALLOW_FILE=1)",
                          url);
    fetch_sink s = {.fd = -1, .cap = limits->max_bytes, .allow = limits->allow};
    dp_sha256_init(&s.sha);
    s.fd = open(dest_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (s.fd < 0)
        return dp_err_set(err, DP_EIO, "fetch %s: create %s: %s", url, dest_path, strerror(errno));
    CURL *c = curl_easy_init();
    if (c == NULL) {
        close(s.fd);
        return dp_err_set(err, DP_ENOMEM, "fetch %s: curl_easy_init failed", url);
    }
    char curl_msg[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR,
                     limits->allow_file ? "file,http,https" : "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)EXEC_FETCH_MAX_REDIRECTS);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, fetch_open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &s);
    /* a proxy from the environment would be the only address checked: none */
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)limits->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)limits->timeout_ms);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)limits->max_bytes);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_msg);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "dispatch-runner");
    CURLcode cc = curl_easy_perform(c);
    long http = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_cleanup(c);
    int rc = DP_OK;
    if (cc != CURLE_OK)
        rc = fetch_fail(cc, http, &s, url, curl_msg, err);
    if (close(s.fd) != 0 && rc == DP_OK)
        rc = dp_err_set(err, DP_EIO, "fetch %s: writing the archive: %s", url, strerror(errno));
    if (rc == DP_OK && sha256_hex != NULL)
        rc = sha_check(&s, url, sha256_hex, err);
    if (rc == DP_OK && size_out != NULL)
        *size_out = s.size;
    return rc;
}
