/* mkapikey DSN NAME SCOPES: creates an API key the way dispatchd stores one
 * (common/apikey.h, store_apikey_create) and prints the plaintext once. The
 * HTTP tests use it until `dispatchctl apikey create` is there. */
#include "common/apikey.h"
#include "dispatch/store/store.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mkapikey DSN NAME submit|read|admin[,...]\n");
        return 2;
    }
    dp_err err = {0};
    store_apikey k = {0};
    char key[DP_APIKEY_LEN + 1], id[DP_APIKEY_ID_LEN + 1], hash[DP_APIKEY_HASH_LEN + 1];
    if (dp_scopes_parse(argv[3], &k.scopes, &err) != DP_OK ||
        dp_apikey_new(key, id, hash, &err) != DP_OK) {
        fprintf(stderr, "mkapikey: %s\n", err.msg);
        return 1;
    }
    snprintf(k.id, sizeof k.id, "%s", id);
    snprintf(k.name, sizeof k.name, "%s", argv[2]);
    snprintf(k.hash, sizeof k.hash, "%s", hash);
    store_db *db = store_open(argv[1], &err);
    if (db == NULL || store_apikey_create(db, &k, &err) != DP_OK) {
        fprintf(stderr, "mkapikey: %s\n", err.msg);
        store_close(db);
        return 1;
    }
    store_close(db);
    printf("%s\n", key);
    return 0;
}
