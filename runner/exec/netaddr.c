/* The fetch address policy is the shared one (common/addr_policy.c). */
#include "runner/exec/netaddr.h"

int exec_addr_allow_parse(const char *list, const char *what, exec_addr_allow *out, dp_err *err)
{
    return dp_addr_allow_parse(list, what, out, err);
}

int exec_addr_check(const struct sockaddr *sa, const exec_addr_allow *allow, char *why,
                    size_t why_len)
{
    return dp_addr_check(sa, allow, why, why_len);
}
