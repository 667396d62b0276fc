/* Constructors for the common replies. */
#include "messages/msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* strdup that keeps NULL as NULL; *ok turns false on allocation failure. */
static char *dup_or_null(const char *s, bool *ok)
{
    if (s == NULL)
        return NULL;
    char *c = strdup(s);
    if (c == NULL)
        *ok = false;
    return c;
}

static int finish(dp_msg *out, bool ok)
{
    if (!ok) {
        dp_msg_free(out);
        return DP_ENOMEM;
    }
    return DP_OK;
}

int dp_msg_make_error(dp_msg *out, uint64_t id, const char *code, const char *fmt, ...)
{
    memset(out, 0, sizeof *out);
    out->type = DP_MSG_ERROR;
    out->id = id;
    bool ok = true;
    out->error.code = dup_or_null(code != NULL ? code : DP_MSG_ERR_INTERNAL, &ok);
    va_list ap;
    va_start(ap, fmt);
    ok = ok && vasprintf(&out->error.message, fmt, ap) >= 0;
    va_end(ap);
    if (!ok)
        out->error.message = NULL; /* vasprintf leaves it undefined on failure */
    return finish(out, ok);
}

int dp_msg_make_error_from(dp_msg *out, uint64_t id, const dp_err *e)
{
    if (e == NULL)
        return dp_msg_make_error(out, id, DP_MSG_ERR_INTERNAL, "unknown error");
    return dp_msg_make_error(out, id, dp_code_name(e->code), "%s", e->msg);
}

int dp_msg_make_ack(dp_msg *out, uint64_t id, uint32_t count)
{
    memset(out, 0, sizeof *out);
    out->type = DP_MSG_ACK;
    out->id = id;
    out->ack.count = count;
    return DP_OK;
}

int dp_msg_make_conflict(dp_msg *out, uint64_t id, const char *job_id, const char *message)
{
    memset(out, 0, sizeof *out);
    out->type = DP_MSG_CONFLICT;
    out->id = id;
    bool ok = true;
    out->conflict.job_id = dup_or_null(job_id, &ok);
    out->conflict.message = dup_or_null(message, &ok);
    return finish(out, ok);
}

int dp_msg_make_not_found(dp_msg *out, uint64_t id, const char *what, const char *message)
{
    memset(out, 0, sizeof *out);
    out->type = DP_MSG_NOT_FOUND;
    out->id = id;
    bool ok = true;
    out->not_found.what = dup_or_null(what, &ok);
    out->not_found.message = dup_or_null(message, &ok);
    return finish(out, ok);
}
