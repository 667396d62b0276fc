/* libFuzzer harness for the message decoder: any input must decode cleanly
 * or be refused cleanly; a message that decodes must re-encode, decode to
 * the same message, and encode to the same bytes again (the encoding is
 * canonical). The envelope alone (what a gateway reads) must agree: refused
 * only when the whole message is, with the same code and id, and with the
 * same type, id and credential when it is not. The span of a stored spec
 * (dp_msg_spec_span) must lie inside the input, and for a one-spec submit
 * whose spec passes its checks, stored as dispatchd stores it (encoded
 * again: canonical, no unknown keys), a leased job carrying the span of
 * those bytes must encode to the bytes of the job carrying the spec. Any violation aborts so
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

/* The stored-spec span of data, checked against the decoded message m
 * (rc: its decode's result). */
static void spec_span(const uint8_t *data, size_t size, const dp_msg *m, int rc)
{
    const dp_job_spec *spec = rc == DP_OK && m->type == DP_MSG_SUBMIT && m->submit.n_specs == 1
                                  ? &m->submit.specs[0]
                                  : NULL;
    const char *jid =
        spec != NULL && spec->job_id != NULL && spec->job_id[0] != '\0' ? spec->job_id : "j-1";
    const uint8_t *p;
    size_t n;
    dp_err err;
    if (dp_msg_spec_span(data, size, jid, &p, &n, &err) != DP_OK) {
        if (p != NULL || n != 0 || err.msg[0] == '\0')
            abort();
        return;
    }
    if (p < data || n == 0 || n > size || (size_t)(p - data) > size - n)
        abort();
    if (spec == NULL || dp_msg_validate_spec(spec, NULL) != DP_OK)
        return; /* not what a leaser's store holds: the span's walk is what is tried */
    void *stored, *abuf, *bbuf;
    size_t stored_len, alen, blen;
    if (dp_msg_encode_buf(m, &stored, &stored_len, &err) != DP_OK ||
        dp_msg_spec_span(stored, stored_len, jid, &p, &n, &err) != DP_OK)
        abort();
    dp_leased_job plain = {.job_id = (char *)jid, .attempt = 1, .spec = *spec};
    dp_leased_job packed = {.job_id = (char *)jid, .attempt = 1, .spec_packed = {p, n}};
    dp_msg a = {.type = DP_MSG_LEASED, .leased = {&plain, 1}};
    dp_msg b = {.type = DP_MSG_LEASED, .leased = {&packed, 1}};
    if (dp_msg_encode_buf(&a, &abuf, &alen, &err) != DP_OK ||
        dp_msg_encode_buf(&b, &bbuf, &blen, &err) != DP_OK || alen != blen ||
        memcmp(abuf, bbuf, alen) != 0)
        abort();
    free(stored);
    free(abuf);
    free(bbuf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dp_msg m, env;
    dp_err err;
    int env_rc = envelope(data, size, &env);
    int rc = dp_msg_decode(data, size, &m, &err);
    spec_span(data, size, &m, rc);
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
