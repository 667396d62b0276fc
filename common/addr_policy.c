/* Address policy for connections a job chooses; see addr_policy.h. */
#include "common/addr_policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t net; /* host byte order */
    unsigned bits;
    const char *what;
} v4_range;

/* Most specific first: the first match names the refusal. */
static const v4_range v4_refused[] = {
    {0xA9FEA9FEu, 32, "cloud metadata"}, /* 169.254.169.254 */
    {0x00000000u, 8, "unspecified (\"this network\")"},
    {0x7F000000u, 8, "loopback"},
    {0x0A000000u, 8, "private (RFC 1918)"},
    {0xAC100000u, 12, "private (RFC 1918)"},
    {0xC0A80000u, 16, "private (RFC 1918)"},
    {0x64400000u, 10, "shared address space (CGNAT, RFC 6598)"},
    {0xA9FE0000u, 16, "link-local"},
    {0xC0000000u, 24, "IETF special-purpose (192.0.0.0/24)"},
    {0xC6120000u, 15, "benchmarking (198.18.0.0/15)"},
    {0xE0000000u, 4, "multicast"},
    {0xF0000000u, 4, "reserved or broadcast (240.0.0.0/4)"},
};

typedef struct {
    uint8_t net[16];
    unsigned bits;
    const char *what;
} v6_range;

static const v6_range v6_refused[] = {
    {{0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54}, 128, "cloud metadata"},
    {{0}, 128, "unspecified"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "loopback"},
    {{0xfc}, 7, "unique local (fc00::/7)"},
    {{0xfe, 0x80}, 10, "link-local"},
    {{0xfe, 0xc0}, 10, "site-local (deprecated)"},
    {{0xff}, 8, "multicast"},
};

static int prefix_match(const uint8_t *a, const uint8_t *net, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, net, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
static const uint8_t compat_prefix[12] = {0};
static const uint8_t nat64_prefix[12] = {0x00, 0x64, 0xff, 0x9b};

/* The IPv4 address an IPv6 one stands for (mapped, compatible, NAT64), if
 * any, into *v4 (host order). :: and ::1 are IPv6's own. */
static int embedded_v4(const uint8_t a[16], uint32_t *v4)
{
    uint32_t x = (uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 | (uint32_t)a[14] << 8 | a[15];
    if (memcmp(a, mapped_prefix, 12) == 0 || memcmp(a, nat64_prefix, 12) == 0 ||
        (memcmp(a, compat_prefix, 12) == 0 && x > 1)) {
        *v4 = x;
        return 1;
    }
    return 0;
}

static void v4_to_mapped(uint32_t v4, uint8_t out[16])
{
    memcpy(out, mapped_prefix, 12);
    out[12] = (uint8_t)(v4 >> 24);
    out[13] = (uint8_t)(v4 >> 16);
    out[14] = (uint8_t)(v4 >> 8);
    out[15] = (uint8_t)v4;
}

static int allowed(const dp_addr_allow *allow, const uint8_t a[16])
{
    for (size_t i = 0; allow != NULL && i < allow->n; i++)
        if (prefix_match(a, allow->nets[i].addr, allow->nets[i].bits))
            return 1;
    return 0;
}

int dp_addr_check(const struct sockaddr *sa, const dp_addr_allow *allow, char *why, size_t why_len)
{
    uint8_t a[16];
    char text[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        v4_to_mapped(ntohl(s4->sin_addr.s_addr), a);
        inet_ntop(AF_INET, &s4->sin_addr, text, sizeof text);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        memcpy(a, &s6->sin6_addr, 16);
        inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof text);
    } else {
        snprintf(why, why_len, "address family %d is not IPv4 or IPv6", sa->sa_family);
        return -1;
    }
    uint32_t v4;
    int has_v4 = embedded_v4(a, &v4);
    uint8_t a4[16];
    if (has_v4)
        v4_to_mapped(v4, a4); /* an allowed IPv4 net covers its IPv6 spellings too */
    if (allowed(allow, a) || (has_v4 && allowed(allow, a4)))
        return 0;
    const char *what = NULL;
    if (has_v4) {
        for (size_t i = 0; what == NULL && i < sizeof v4_refused / sizeof v4_refused[0]; i++) {
            uint32_t mask = v4_refused[i].bits == 0 ? 0 : 0xFFFFFFFFu << (32 - v4_refused[i].bits);
            if ((v4 & mask) == v4_refused[i].net)
                what = v4_refused[i].what;
        }
    }
    for (size_t i = 0; what == NULL && i < sizeof v6_refused / sizeof v6_refused[0]; i++)
        if (prefix_match(a, v6_refused[i].net, v6_refused[i].bits))
            what = v6_refused[i].what;
    if (what == NULL)
        return 0;
    snprintf(why, why_len, "%s is %s", text, what);
    return -1;
}

/* One "addr" or "addr/bits" entry (NUL-terminated) into *c. */
static int parse_one(char *s, dp_cidr *c)
{
    char *slash = strchr(s, '/');
    long bits = -1;
    if (slash != NULL) {
        *slash = '\0';
        char *end;
        if (!isdigit((unsigned char)slash[1]))
            return -1;
        bits = strtol(slash + 1, &end, 10);
        if (*end != '\0')
            return -1;
    }
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, s, &v4) == 1) {
        if (bits > 32)
            return -1;
        v4_to_mapped(ntohl(v4.s_addr), c->addr);
        c->bits = bits < 0 ? 128 : 96 + (unsigned)bits;
    } else if (inet_pton(AF_INET6, s, &v6) == 1) {
        if (bits > 128)
            return -1;
        memcpy(c->addr, &v6, 16);
        c->bits = bits < 0 ? 128 : (unsigned)bits;
    } else {
        return -1;
    }
    return 0;
}

int dp_addr_allow_parse(const char *list, const char *what, dp_addr_allow *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    if (list == NULL)
        return DP_OK;
    char *buf = strdup(list);
    if (buf == NULL)
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    int rc = DP_OK;
    for (char *save = NULL, *t = strtok_r(buf, ", \t", &save); t != NULL;
         t = strtok_r(NULL, ", \t", &save)) {
        if (out->n == DP_ADDR_ALLOW_MAX) {
            rc = dp_err_set(err, DP_EINVAL, "%s: more than %d entries", what, DP_ADDR_ALLOW_MAX);
            break;
        }
        char entry[64];
        snprintf(entry, sizeof entry, "%s", t);
        if (strlen(t) >= sizeof entry || parse_one(t, &out->nets[out->n]) != 0) {
            rc = dp_err_set(err, DP_EINVAL,
                            "%s: '%.63s' is not an IP address or address/prefix-length", what,
                            entry);
            break;
        }
        out->n++;
    }
    free(buf);
    return rc;
}
