/* Fully populated sample messages of every type, shared by the tests and
 * the fuzz seed generator. Every optional field is set to a value that
 * differs from its zero value, so a field lost on the wire shows up. */
#ifndef DP_TEST_MSG_SAMPLES_H
#define DP_TEST_MSG_SAMPLES_H

#include "messages/msg.h"

/* Fills *out (caller frees with dp_msg_free) with a sample of type t;
 * aborts on allocation failure (tests only). */
void msg_sample(dp_msg_type t, dp_msg *out);

/* A heap copy of s; aborts on allocation failure. */
char *msg_xstrdup(const char *s);

/* A populated job spec with n_tests tests (caller frees its members). */
void msg_sample_spec(dp_job_spec *spec, const char *job_id, size_t n_tests);

#endif
