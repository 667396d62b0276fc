/* Builders shared by the store tests and fault tests. Everything they fill
 * is heap-owned by the struct (dp_job_spec_free / dp_job_result_free). */
#ifndef DP_TESTS_STORE_TESTUTIL_H
#define DP_TESTS_STORE_TESTUTIL_H

#include "dispatch/store/store.h"
#include "tests/store/pg_fixture.h"

/* Profile "c", archive file:///tmp/sub.zip, submission_id "sub-<id>",
 * max_attempts 3, n_tests tests named t1.. with stdin "in <k>\n". */
void tu_make_spec(dp_job_spec *spec, const char *job_id, size_t n_tests);

/* Inserts n jobs "<prefix>-0".."<prefix>-(n-1)" with 2 tests each in one
 * batch; fails the test on error. */
void tu_insert_jobs(store_db *s, const char *prefix, int n);

/* A result with n_tests tests: all AC (score 100), except with 3 or more
 * tests the last is WA (message "test tN failed"). Test k has memory_kb
 * 1000+k and stdout "out\xff<k+1>" (invalid UTF-8 on purpose). */
void tu_make_result(dp_job_result *res, const char *job_id, uint32_t attempt, size_t n_tests);

/* The first column of the first row of sql on dsn, as a number; fails the
 * test on error. */
long tu_query_long(const char *dsn, const char *sql);

/* A private database with the store open on it (cmocka setup/teardown):
 * *state becomes a heap tu_store_fixture; teardown closes, drops, frees. */
typedef struct {
    pgfix_db db;
    store_db *s;
} tu_store_fixture;
int tu_store_setup(void **state);
int tu_store_teardown(void **state);

#endif
