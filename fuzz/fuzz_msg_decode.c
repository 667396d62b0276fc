/* libFuzzer harness for the message decoder: any input must decode cleanly
 * or be refused cleanly; a message that decodes must re-encode, decode to
 * the same message, and encode to the same bytes again (the encoding is
 * canonical). Any violation aborts so libFuzzer records the input. */
#include "messages/msg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dp_msg m;
    dp_err err;
    if (dp_msg_decode(data, size, &m, &err) != DP_OK) {
        if (m.type != DP_MSG_INVALID || err.msg[0] == '\0')
            abort();
        return 0;
    }
    void *buf;
    size_t len;
    if (dp_msg_encode_buf(&m, &buf, &len, &err) != DP_OK)
        abort();
    dp_msg again;
    if (dp_msg_decode(buf, len, &again, &err) != DP_OK || !dp_msg_equal(&m, &again))
        abort();
    nng_msg *nm;
    if (dp_msg_encode(&again, &nm, &err) != DP_OK || nng_msg_len(nm) != len ||
        memcmp(nng_msg_body(nm), buf, len) != 0)
        abort();
    nng_msg_free(nm);
    free(buf);
    dp_msg_free(&again);
    dp_msg_free(&m);
    return 0;
}
