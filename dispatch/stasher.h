/* The stasher: writes inline source archives (dispatch/http_inline.h) to the
 * log store on its own thread, so the HTTP API's polling thread never waits
 * on the store (an S3 PUT can take seconds). One request carries every
 * archive of one HTTP request; the reply says whether all were stored.
 *
 * Frames (internal to the HTTP API, like the status actor's one byte):
 *   request: repeated [u32 name length][name][u32 data length][data], big-endian;
 *            a name is what logstore_put takes as the job id (src-<sha256>),
 *            written with attempt 0
 *   reply:   [u8 1 ok / 0 failed][the error text, when failed]
 * The store is written with the same template the HTTP API used to name
 * the objects, so the URLs it put in the specs are the objects written.
 *
 * Ownership: the template is copied. */
#ifndef DP_STASHER_H
#define DP_STASHER_H

#include "actors/actor.h"
#include "common/err.h"

#include <nng/nng.h>
#include <stddef.h>

actor *stasher_spawn(const char *log_store, dp_err *err);

/* Appends one archive to a request frame. 0, or an nng error. */
int stasher_frame_add(nng_msg *req, const char *name, const void *data, size_t len);

#endif
