#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>

int dp_err_set(dp_err *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void dp_err_clear(dp_err *err)
{
    if (err != NULL) {
        err->code = DP_OK;
        err->msg[0] = '\0';
    }
}

const char *dp_code_name(int code)
{
    switch (code) {
    case DP_OK:
        return "ok";
    case DP_EINVAL:
        return "invalid";
    case DP_ENOMEM:
        return "no_memory";
    case DP_EIO:
        return "io";
    case DP_ECONFLICT:
        return "conflict";
    case DP_ENOTFOUND:
        return "not_found";
    case DP_EAUTH:
        return "unauthorized";
    case DP_ETIMEOUT:
        return "timeout";
    case DP_EUNAVAIL:
        return "unavailable";
    case DP_EPROTO:
        return "protocol";
    case DP_EFULL:
        return "full";
    case DP_ECLOSED:
        return "closed";
    case DP_EINTERNAL:
        return "internal";
    case DP_EFORBIDDEN:
        return "forbidden";
    default:
        return "unknown";
    }
}
