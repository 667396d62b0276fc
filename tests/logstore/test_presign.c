/* SigV4 query signing (dispatch/logstore/logstore_sigv4.c) against the
 * example of AWS's "Authenticating Requests: Using Query Parameters" page:
 * GET https://examplebucket.s3.amazonaws.com/test.txt, 2013-05-24T00:00:00Z,
 * 86400 s, us-east-1, the documentation's example key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dispatch/logstore/logstore.h"

static void test_aws_example(void **state)
{
    (void)state;
    char out[2048];
    dp_err err = {0};
    time_t t = 1369353600; /* 2013-05-24T00:00:00Z */
    assert_int_equal(logstore_sigv4_presign("https://examplebucket.s3.amazonaws.com/test.txt",
                                            "AKIAIOSFODNN7EXAMPLE",
                                            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1",
                                            NULL, 86400, t, out, sizeof out, &err),
                     DP_OK);
    assert_string_equal(
        out, "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
             "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
             "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
             "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

static void test_refusals(void **state)
{
    (void)state;
    char out[2048];
    dp_err err = {0};
    assert_int_equal(
        logstore_sigv4_presign("file:///x.log", "k", "s", "r", NULL, 1, 0, out, sizeof out, &err),
        DP_EINVAL);
    assert_int_equal(
        logstore_sigv4_presign("https://h/x?a=1", "k", "s", "r", NULL, 1, 0, out, sizeof out, &err),
        DP_EINVAL);
    assert_int_equal(
        logstore_sigv4_presign("https://h/x", "k", "s", "r", "tok", 1, 0, out, 40, &err),
        DP_EINVAL); /* does not fit */
    /* a session token travels as X-Amz-Security-Token, signed with the rest */
    assert_int_equal(
        logstore_sigv4_presign("https://h/x", "k", "s", "r", "a/b+c", 1, 0, out, sizeof out, &err),
        DP_OK);
    assert_non_null(strstr(out, "&X-Amz-Security-Token=a%2Fb%2Bc&X-Amz-SignedHeaders=host"));
    /* without credentials there is nothing to presign with */
    setenv("DISPATCH_LOG_STORE_KEY", "", 1);
    logstore *ls = logstore_open("file:///tmp/x/{job_id}.log", &err);
    assert_non_null(ls);
    assert_int_equal(logstore_signed(ls), 0);
    assert_int_equal(logstore_presign_get(ls, "https://h/x", 1, out, sizeof out, &err), DP_EINVAL);
    logstore_close(ls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_example),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
