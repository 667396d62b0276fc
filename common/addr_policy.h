/* Which addresses an outgoing connection chosen by a job may reach. A job
 * chooses its archive URL (the runner fetches it) and its callback_url
 * (dispatchd POSTs to it), both from inside the operator's network: without
 * a check a job could reach cloud metadata (169.254.169.254) or internal
 * services (SSRF). The runner's exec_fetch and dispatchd's callbacker call
 * dp_addr_check on every address libcurl is about to connect to, after DNS
 * and after each redirect; dp_job_spec_check refuses a callback_url whose
 * host is written as a refused address at submit (dp_callback_policy_set).
 *
 * Refused unless an allow-list entry covers them: loopback, private
 * (RFC 1918, CGNAT 100.64/10, ULA fc00::/7), link-local (169.254/16,
 * fe80::/10) and with them the metadata addresses 169.254.169.254 and
 * fd00:ec2::254, unspecified and "this network" (0/8, ::), multicast,
 * reserved and broadcast (240/4), IETF special-purpose 192.0.0/24,
 * benchmarking 198.18/15, deprecated site-local fec0::/10, and the same IPv4
 * ranges written as IPv6 (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible
 * ::a.b.c.d, NAT64 64:ff9b::a.b.c.d). */
#ifndef DP_ADDR_POLICY_H
#define DP_ADDR_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/err.h"

#define DP_ADDR_ALLOW_MAX 32

typedef struct {
    uint8_t addr[16]; /* IPv4 stored IPv4-mapped (::ffff:a.b.c.d) */
    unsigned bits;    /* prefix length over the 128-bit form */
} dp_cidr;

typedef struct {
    dp_cidr nets[DP_ADDR_ALLOW_MAX];
    size_t n;
} dp_addr_allow;

/* Parses "127.0.0.1/32, ::1, 10.0.0.0/8" (comma or space separated, a bare
 * address is a single host; NULL or "" is the empty list) into *out. what
 * names the setting in messages. DP_EINVAL names the bad entry. */
int dp_addr_allow_parse(const char *list, const char *what, dp_addr_allow *out, dp_err *err);

/* 0 when sa (AF_INET or AF_INET6) may be connected to; otherwise -1 with
 * why (why_len bytes) saying which address and which range, e.g.
 * "169.254.169.254 is cloud metadata". allow may be NULL. */
int dp_addr_check(const struct sockaddr *sa, const dp_addr_allow *allow, char *why, size_t why_len);

/* The callback policy of this process, for dp_job_spec_check's callback_url
 * rule. Until dp_callback_policy_set is called (dispatchctl, the runner: they
 * do not know the dispatcher's settings) only the URL's form is checked.
 * dispatchd calls it once at start, before any thread: enabled 0 refuses
 * every callback_url (no DISPATCH_CALLBACK_SECRET); allow (copied; NULL: none)
 * exempts nets from the address rule (DISPATCH_CALLBACK_ALLOW_CIDRS). */
void dp_callback_policy_set(int enabled, const dp_addr_allow *allow);

/* On this thread only: 1 judges callback_url by its form alone, 0 restores
 * the policy. For specs the dispatcher accepted before (stored rows read
 * back for a Redis rebuild): a secret removed or an allow list narrowed
 * since must not make them unreadable. */
void dp_callback_policy_trust(int on);

/* NULL when url may be a callback_url under this process's policy, else why
 * not (a static string or why_buf, why_len bytes): http:// or https:// only
 * (lower case), at most DP_CALLBACK_URL_MAX bytes, no spaces, control
 * characters or user:password@, a host; with a policy set, callbacks enabled
 * and a host written as an IP address (or "localhost") outside the refused
 * ranges unless allowed. Host names are checked when dialled. */
const char *dp_callback_url_problem(const char *url, char *why_buf, size_t why_len);

#define DP_CALLBACK_URL_MAX 2048

#endif
