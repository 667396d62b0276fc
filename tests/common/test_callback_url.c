/* callback_url's rules (common/addr_policy.h) through the one spec check,
 * and HMAC-SHA256 (common/hmac.h) against RFC 4231's vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/addr_policy.h"
#include "common/hmac.h"
#include "common/job.h"
#include "common/job_json.h"

static void hmac_hex(const char *key, size_t klen, const char *msg, char out[65])
{
    uint8_t mac[DP_SHA256_LEN];
    dp_hmac_sha256(key, klen, msg, strlen(msg), mac);
    dp_hex_encode(mac, sizeof mac, out);
}

static void test_hmac_rfc4231(void **state)
{
    (void)state;
    char key[131], hex[65];
    memset(key, 0x0b, 20);
    hmac_hex(key, 20, "Hi There", hex); /* test case 1 */
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    hmac_hex("Jefe", 4, "what do ya want for nothing?", hex); /* test case 2 */
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key, 0xaa, 131); /* test case 6: a key longer than the block is hashed first */
    hmac_hex(key, 131, "Test Using Larger Than Block-Size Key - Hash Key First", hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* dp_job_spec_check's word on a spec with this callback_url ("" when valid). */
static const char *check(const char *url)
{
    static dp_err err;
    memset(&err, 0, sizeof err);
    dp_job_spec s = {
        .profile = "c", .archive = "https://example.com/a.zip", .callback_url = (char *)url};
    return dp_job_spec_check(&s, "", &err) == DP_OK ? "" : err.msg;
}

static void test_callback_url_form(void **state)
{
    (void)state;
    /* no policy set: what dispatchctl and runners see; only the form */
    assert_string_equal(check("https://hooks.example.com/x?a=1"), "");
    assert_string_equal(check("http://127.0.0.1:8080/x"), ""); /* the dispatcher judges */
    assert_non_null(strstr(check("ftp://example.com/x"), "callback_url: scheme"));
    assert_non_null(strstr(check("HTTPS://example.com/"), "callback_url: scheme"));
    assert_non_null(strstr(check("https://exa mple.com/"), "callback_url:"));
    assert_non_null(strstr(check("https://user:pw@example.com/"), "callback_url:"));
    assert_non_null(strstr(check("https:///path"), "callback_url:"));
    char longer[DP_CALLBACK_URL_MAX + 32] = "https://example.com/";
    memset(longer + 20, 'a', DP_CALLBACK_URL_MAX);
    longer[DP_CALLBACK_URL_MAX + 20] = '\0';
    assert_non_null(strstr(check(longer), "callback_url: longer than"));
}

static void test_callback_url_policy(void **state)
{
    (void)state;
    dp_callback_policy_set(1, NULL);
    assert_string_equal(check("https://hooks.example.com/x"), "");
    assert_string_equal(check("http://93.184.216.34/x"), "");
    const char *refused[] = {"http://127.0.0.1:9/x",      "http://localhost:9/",
                             "http://api.localhost./",    "http://[::1]:9/",
                             "http://10.1.2.3/",          "http://169.254.169.254/latest",
                             "http://[::ffff:127.0.0.1]/"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const char *why = check(refused[i]);
        assert_non_null(strstr(why, "callback_url: "));
        assert_non_null(strstr(why, "DISPATCH_CALLBACK_ALLOW_CIDRS"));
    }
    assert_non_null(strstr(check("http://169.254.169.254/"), "cloud metadata"));
    dp_addr_allow allow;
    dp_err err = {0};
    assert_int_equal(dp_addr_allow_parse("127.0.0.1", "X", &allow, &err), DP_OK);
    dp_callback_policy_set(1, &allow);
    assert_string_equal(check("http://127.0.0.1:9/x"), "");
    assert_string_equal(check("http://localhost:9/x"), "");
    assert_non_null(strstr(check("http://10.1.2.3/"), "callback_url:"));
    /* no secret: nothing is accepted, and the message says why */
    dp_callback_policy_set(0, NULL);
    assert_non_null(strstr(check("https://hooks.example.com/x"), "DISPATCH_CALLBACK_SECRET"));
    /* ... except a spec accepted before, read back (a rebuild): its form only */
    dp_callback_policy_trust(1);
    assert_string_equal(check("http://10.1.2.3/"), "");
    assert_non_null(strstr(check("ftp://example.com/x"), "callback_url: scheme"));
    dp_callback_policy_trust(0);
    assert_non_null(strstr(check("http://10.1.2.3/"), "DISPATCH_CALLBACK_SECRET"));
    /* the JSON path goes through the same check */
    json_t *j = json_pack("{s:s,s:s,s:s}", "profile", "c", "archive", "https://e.com/a.zip",
                          "callback_url", "https://hooks.example.com/x");
    dp_job_spec spec;
    assert_int_equal(dp_job_spec_from_json(j, &spec, &err), DP_EINVAL);
    assert_non_null(strstr(err.msg, "callback_url"));
    dp_callback_policy_set(1, NULL);
    assert_int_equal(dp_job_spec_from_json(j, &spec, &err), DP_OK);
    assert_string_equal(spec.callback_url, "https://hooks.example.com/x");
    json_t *back = dp_job_spec_to_json(&spec);
    assert_string_equal(json_string_value(json_object_get(back, "callback_url")),
                        "https://hooks.example.com/x");
    json_decref(back);
    dp_job_spec_free(&spec);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_callback_url_form),
        cmocka_unit_test(test_callback_url_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
