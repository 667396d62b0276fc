/* Which addresses an archive fetch may connect to. A job chooses its archive
 * URL, and the runner fetches it from inside the operator's network: without
 * a check a job could reach cloud metadata (169.254.169.254) or internal
 * services (SSRF). exec_fetch calls exec_addr_check on every address libcurl
 * is about to connect to, after DNS and after each redirect.
 *
 * Refused unless an allow-list entry covers them: loopback, private
 * (RFC 1918, CGNAT 100.64/10, ULA fc00::/7), link-local (169.254/16,
 * fe80::/10) and with them the metadata addresses 169.254.169.254 and
 * fd00:ec2::254, unspecified and "this network" (0/8, ::), multicast,
 * reserved and broadcast (240/4), IETF special-purpose 192.0.0/24,
 * benchmarking 198.18/15, deprecated site-local fec0::/10, and the same IPv4
 * ranges written as IPv6 (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible
 * ::a.b.c.d, NAT64 64:ff9b::a.b.c.d). */
#ifndef EXEC_NETADDR_H
#define EXEC_NETADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/err.h"

#define EXEC_ADDR_ALLOW_MAX 32

typedef struct {
    uint8_t addr[16]; /* IPv4 stored IPv4-mapped (::ffff:a.b.c.d) */
    unsigned bits;    /* prefix length over the 128-bit form */
} exec_cidr;

typedef struct {
    exec_cidr nets[EXEC_ADDR_ALLOW_MAX];
    size_t n;
} exec_addr_allow;

/* Parses "127.0.0.1/32, ::1, 10.0.0.0/8" (comma or space separated, a bare
 * address is a single host; NULL or "" is the empty list) into *out. what
 * names the setting in messages. DP_EINVAL names the bad entry. */
int exec_addr_allow_parse(const char *list, const char *what, exec_addr_allow *out, dp_err *err);

/* 0 when sa (AF_INET or AF_INET6) may be connected to; otherwise -1 with
 * why (why_len bytes) saying which address and which range, e.g.
 * "169.254.169.254 is cloud metadata". allow may be NULL. */
int exec_addr_check(const struct sockaddr *sa, const exec_addr_allow *allow, char *why,
                    size_t why_len);

#endif
