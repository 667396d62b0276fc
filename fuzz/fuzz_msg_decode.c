/* libFuzzer harness for the message decoder: any input must decode cleanly
 * or be refused cleanly; a message that decodes must re-encode, decode to
 * the same message, and encode to the same bytes again (the encoding is
 * canonical). The envelope alone (what a gateway reads) must agree: refused
 * only when the whole message is, with the same code and id, and with the
 * same type, id and credential when it is not. Any violation aborts so
 * libFuzzer records the input. */
#include "messages/msg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The envelope decode of data (*env filled, or only its id when refused). */
static int envelope(const uint8_t *data, size_t size, dp_msg *env)
{
    nng_msg *nm;
    dp_err err;
    if (nng_msg_alloc(&nm, 0) != 0 || nng_msg_append(nm, data, size) != 0)
        abort();
    int rc = dp_msg_decode_envelope_nng(nm, env, &err);
    nng_msg_free(nm);
    if (rc != DP_OK && (env->type != DP_MSG_INVALID || env->auth != NULL || err.msg[0] == '\0'))
        abort();
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dp_msg m, env;
    dp_err err;
    int env_rc = envelope(data, size, &env);
    int rc = dp_msg_decode(data, size, &m, &err);
    /* an envelope refused is the whole message refused, alike: the same
     * code and id decide the client's error reply either way */
    if (env_rc != DP_OK && (rc != env_rc || m.id != env.id))
        abort();
    if (rc != DP_OK) {
        if (m.type != DP_MSG_INVALID || err.msg[0] == '\0')
            abort();
        dp_msg_free(&env);
        return 0;
    }
    if (env_rc != DP_OK || env.type != m.type || env.id != m.id ||
        (env.auth == NULL) != (m.auth == NULL) ||
        (env.auth != NULL && strcmp(env.auth, m.auth) != 0))
        abort();
    dp_msg_free(&env);
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
