/* The keymaster actor: creates, lists and revokes API keys (admin
 * requests: key_create, key_list, key_revoke). It owns its PostgreSQL
 * connection; the plaintext of a new key leaves it once, in the reply. */
#ifndef DP_KEYMASTER_H
#define DP_KEYMASTER_H

#include "dispatch/dd_actor.h"

/* Its messages and where they may come from. */
extern const dd_actor_def keymaster_actor;

/* pg_dsn is copied. */
actor *keymaster_spawn(const char *pg_dsn, dp_err *err);

#endif
