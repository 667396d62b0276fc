/* callback_url's rules (addr_policy.h): its form everywhere, the address
 * policy where the dispatcher set one. */
#include "common/addr_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Set once by dispatchd before any thread starts, read-only afterwards. */
static struct {
    int set, enabled;
    dp_addr_allow allow;
} policy;

static _Thread_local int trusted;

void dp_callback_policy_trust(int on)
{
    trusted = on;
}

void dp_callback_policy_set(int enabled, const dp_addr_allow *allow)
{
    policy.set = 1;
    policy.enabled = enabled;
    if (allow != NULL)
        policy.allow = *allow;
    else
        memset(&policy.allow, 0, sizeof policy.allow);
}

/* The host of an http(s) URL (after "://", before the port or path) into
 * host (len bytes), brackets of an IPv6 literal removed. -1 when it has no
 * host, holds userinfo or is too long. */
static int url_host(const char *rest, char *host, size_t len)
{
    size_t auth = strcspn(rest, "/?#");
    if (memchr(rest, '@', auth) != NULL)
        return -1;
    size_t n;
    const char *h = rest;
    if (rest[0] == '[') {
        const char *end = memchr(rest, ']', auth);
        if (end == NULL)
            return -1;
        h = rest + 1;
        n = (size_t)(end - h);
    } else {
        n = strcspn(rest, ":/?#");
    }
    if (n == 0 || n >= len)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    return 0;
}

/* "localhost" and its subdomains resolve to loopback (RFC 6761). */
static int is_localhost(const char *host)
{
    size_t n = strlen(host);
    if (n > 0 && host[n - 1] == '.')
        n--; /* the root dot */
    return (n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           (n > 10 && strncasecmp(host + n - 10, ".localhost", 10) == 0);
}

const char *dp_callback_url_problem(const char *url, char *why_buf, size_t why_len)
{
    if (strlen(url) > DP_CALLBACK_URL_MAX)
        return "longer than 2048 bytes";
    const char *rest;
    if (strncmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    else
        return "scheme must be http:// or https:// (lower case)";
    for (const unsigned char *p = (const unsigned char *)url; *p != 0; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return "URL must not contain spaces or control characters";
    char host[256];
    if (url_host(rest, host, sizeof host) != 0)
        return "want a host (at most 255 bytes) and no user:password@";
    if (!policy.set || trusted)
        return NULL; /* the dispatcher's policy is its own to apply, at submit */
    if (!policy.enabled)
        return "callbacks are not enabled on this dispatcher (its operator sets "
               "DISPATCH_CALLBACK_SECRET)";
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    const struct sockaddr *sa = NULL;
    if (inet_pton(AF_INET, host, &s4.sin_addr) == 1)
        sa = (const struct sockaddr *)&s4;
    else if (inet_pton(AF_INET6, host, &s6.sin6_addr) == 1)
        sa = (const struct sockaddr *)&s6;
    else if (is_localhost(host)) {
        inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
        sa = (const struct sockaddr *)&s4;
    }
    char why[160];
    if (sa != NULL && dp_addr_check(sa, &policy.allow, why, sizeof why) != 0) {
        snprintf(why_buf, why_len,
                 "%s: not reachable for callbacks (the operator can allow it with "
                 "DISPATCH_CALLBACK_ALLOW_CIDRS)",
                 why);
        return why_buf;
    }
    return NULL;
}
