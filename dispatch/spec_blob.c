#include "dispatch/spec_blob.h"

#include "common/job_json.h"
#include "messages/msg.h"

#include <string.h>

int spec_blob_pack(const dp_job_spec *spec, void **buf, size_t *len, dp_err *err)
{
    /* The message only borrows the spec: nothing of it is freed here. */
    dp_msg m = {.type = DP_MSG_SUBMIT};
    m.submit.specs = (dp_job_spec *)spec;
    m.submit.n_specs = 1;
    return dp_msg_encode_buf(&m, buf, len, err);
}

int spec_blob_unpack(const void *buf, size_t len, dp_job_spec *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    if (len > 0 && ((const char *)buf)[0] == '{')
        return dp_job_spec_from_text(buf, len, out, err);
    dp_msg m;
    int rc = dp_msg_decode(buf, len, &m, err);
    if (rc != DP_OK)
        return rc;
    if (m.type != DP_MSG_SUBMIT || m.submit.n_specs != 1) {
        rc = dp_err_set(err, DP_EINVAL, "a stored spec is a submit of one spec, not a %s message",
                        dp_msg_type_name(m.type));
        dp_msg_free(&m);
        return rc;
    }
    rc = dp_msg_validate_spec(&m.submit.specs[0], err);
    if (rc == DP_OK) {
        *out = m.submit.specs[0]; /* moved out: the message forgets it */
        memset(&m.submit.specs[0], 0, sizeof m.submit.specs[0]);
    }
    dp_msg_free(&m);
    return rc;
}
