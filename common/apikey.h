/* API keys: the product's one credential (HTTP `Authorization: Bearer`,
 * dispatchctl over tcp, the events stream). A key is
 *     dpk_<16 hex: its id>_<64 hex: its secret>
 * The id finds the row; only the SHA-256 of the secret is stored
 * (PostgreSQL `api_keys`), compared in constant time. The plaintext is shown
 * once, when the key is created.
 *
 * Scopes: submit (submit jobs, read its own), read (read everything an
 * operator reads), admin (everything: cancel, requeue, drain, keys).
 * admin implies the other two. */
#ifndef DP_APIKEY_H
#define DP_APIKEY_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>

#define DP_APIKEY_ID_LEN 16
#define DP_APIKEY_SECRET_LEN 64
#define DP_APIKEY_LEN (4 + DP_APIKEY_ID_LEN + 1 + DP_APIKEY_SECRET_LEN) /* 85 */
#define DP_APIKEY_HASH_LEN 64

enum { DP_SCOPE_SUBMIT = 1u << 0, DP_SCOPE_READ = 1u << 1, DP_SCOPE_ADMIN = 1u << 2 };

/* "submit", "read", "admin", or a comma list of them. DP_EINVAL names the
 * word that is not a scope. */
int dp_scopes_parse(const char *text, unsigned *scopes, dp_err *err);

/* "submit,read" etc.; "" for none. */
void dp_scopes_format(unsigned scopes, char *out, size_t len);

/* Whether a key with scopes `have` may do what accepts any of the scopes in
 * `need` (0: any live key). admin allows everything. */
bool dp_scopes_allow(unsigned have, unsigned need);

/* A new random key: the plaintext (shown once), its id and the hash to
 * store. Buffers are the caller's. */
int dp_apikey_new(char key[DP_APIKEY_LEN + 1], char id[DP_APIKEY_ID_LEN + 1],
                  char hash[DP_APIKEY_HASH_LEN + 1], dp_err *err);

/* Splits a presented key into its id and the hash of its secret. DP_EAUTH
 * (never naming the key) when it is not shaped like a key. */
int dp_apikey_split(const char *key, char id[DP_APIKEY_ID_LEN + 1],
                    char hash[DP_APIKEY_HASH_LEN + 1], dp_err *err);

/* Constant-time equality of two hex hashes of DP_APIKEY_HASH_LEN. */
bool dp_apikey_hash_equal(const char *a, const char *b);

#endif
