/* Which addresses an archive fetch may connect to: the shared address policy
 * (common/addr_policy.h, also dispatchd's for callback URLs) under the
 * runner's names. exec_fetch calls exec_addr_check on every address libcurl
 * is about to connect to, after DNS and after each redirect. */
#ifndef EXEC_NETADDR_H
#define EXEC_NETADDR_H

#include "common/addr_policy.h"

#define EXEC_ADDR_ALLOW_MAX DP_ADDR_ALLOW_MAX

typedef dp_cidr exec_cidr;
typedef dp_addr_allow exec_addr_allow;

/* dp_addr_allow_parse. */
int exec_addr_allow_parse(const char *list, const char *what, exec_addr_allow *out, dp_err *err);

/* dp_addr_check. */
int exec_addr_check(const struct sockaddr *sa, const exec_addr_allow *allow, char *why,
                    size_t why_len);

#endif
