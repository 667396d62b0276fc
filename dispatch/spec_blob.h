/* The form a job's spec takes in Redis (the job hash's `spec` field, which
 * the lease script hands back): the msgpack of a one-spec `submit` message
 * (messages/), so the leaser hands its spec out as those bytes
 * (dp_msg_spec_span), instead of parsing JSON for every job it leases (a
 * profile put that parse at 11 % of dispatchd's CPU) or decoding and
 * encoding it again; spec_blob_unpack reads any other form.
 * PostgreSQL keeps the spec as JSON. A spec written by an older dispatchd
 * is JSON, and is read as such (its first byte is '{'; a msgpack map's
 * never is). */
#ifndef DP_DISPATCH_SPEC_BLOB_H
#define DP_DISPATCH_SPEC_BLOB_H

#include "common/err.h"
#include "common/job.h"

#include <stddef.h>

/* Encodes spec (borrowed) into *buf (malloc'd, the caller frees) of *len
 * bytes; DP_EINVAL when the spec does not pass the message's checks. */
int spec_blob_pack(const dp_job_spec *spec, void **buf, size_t *len, dp_err *err);

/* Reads a blob of either form into *out (the caller's: dp_job_spec_free);
 * DP_EINVAL naming what is wrong, *out then empty. */
int spec_blob_unpack(const void *buf, size_t len, dp_job_spec *out, dp_err *err);

#endif
