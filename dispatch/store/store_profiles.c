/* Profiles runners have offered (table offered_profiles, migration 0006):
 * what a submit's profile is checked against when Redis lost its copy. */
#include "dispatch/store/store_internal.h"

#include <stdlib.h>
#include <string.h>

int store_profiles_add(store_db *db, const char *const *profiles, size_t n, dp_err *err)
{
    if (n == 0)
        return DP_OK;
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        if (json_array_append_new(arr, json_string(profiles[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    if (arr == NULL)
        return dp_err_set(err, DP_ENOMEM, "add offered profiles: out of memory");
    PGresult *res = NULL;
    int rc = store_call_json(db, ST_PROFILES_ADD, arr, "add offered profiles", &res, err);
    json_decref(arr);
    PQclear(res);
    return rc;
}

void store_profiles_free(char **list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        free(list[i]);
    free(list);
}

int store_profiles_list(store_db *db, char ***out, size_t *n, dp_err *err)
{
    *out = NULL;
    *n = 0;
    PGresult *res = NULL;
    int rc = store_call(db, ST_PROFILES_LIST, 0, NULL, "list offered profiles", &res, err);
    if (rc != DP_OK)
        return rc;
    int rows = PQntuples(res);
    char **list = calloc(rows > 0 ? (size_t)rows : 1, sizeof *list);
    int oom = list == NULL;
    for (int r = 0; !oom && r < rows; r++)
        list[r] = store_field_dup(res, r, 0, &oom);
    PQclear(res);
    if (oom) {
        store_profiles_free(list, rows > 0 ? (size_t)rows : 0);
        return dp_err_set(err, DP_ENOMEM, "list offered profiles: out of memory");
    }
    *out = list;
    *n = (size_t)rows;
    return DP_OK;
}
