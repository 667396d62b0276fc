/* The callbacker actor; see callbacker.h. */
#include "dispatch/callbacker.h"

#include "common/clock.h"
#include "common/hmac.h"
#include "common/job_json.h"
#include "common/log.h"
#include "dispatch/store/store.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CB_TICK_MS 50
#define CB_CLAIM_EVERY_MS 250 /* how late a due delivery may start (when idle) */
#define CB_MAX_INFLIGHT 32
#define CB_LEASE_SLACK_MS 5000 /* past the attempt's timeout: the outcome's one statement */
#define CB_BACKOFF_MAX_MS 3600000

typedef struct cb_state cb_state;

typedef struct {
    int used;
    cb_state *owner;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char delivery_id[64], job_id[DP_ID_MAX];
    uint32_t attempt;
    char refused[192]; /* the address the policy refused, and why */
    char curl_msg[CURL_ERROR_SIZE];
} cb_slot;

struct cb_state {
    char pg_dsn[2048], secret[512];
    dp_addr_allow allow;
    uint32_t max_attempts, backoff_ms, timeout_ms;
    store_db *db;
    CURLM *multi;
    cb_slot slots[CB_MAX_INFLIGHT];
    size_t inflight;
    int64_t next_claim_ms;
};

void callbacker_sign(const char *secret, const void *body, size_t len, char out[72])
{
    uint8_t mac[DP_SHA256_LEN];
    dp_hmac_sha256(secret, strlen(secret), body, len, mac);
    memcpy(out, "sha256=", 7);
    dp_hex_encode(mac, sizeof mac, out + 7);
}

/* Every connection a delivery opens (after DNS): the one place the address
 * actually dialled is known, so DNS rebinding cannot slip past. */
static curl_socket_t cb_open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *a)
{
    cb_slot *slot = user;
    if (purpose != CURLSOCKTYPE_IPCXN ||
        dp_addr_check(&a->addr, &slot->owner->allow, slot->refused, sizeof slot->refused) != 0)
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* The receiver's answer is not kept. */
static size_t cb_discard(char *data, size_t size, size_t nmemb, void *user)
{
    (void)data;
    (void)user;
    return size * nmemb;
}

static void slot_release(cb_state *s, cb_slot *slot)
{
    if (slot->easy != NULL) {
        curl_multi_remove_handle(s->multi, slot->easy);
        curl_easy_cleanup(slot->easy);
    }
    curl_slist_free_all(slot->headers);
    free(slot->body);
    memset(slot, 0, sizeof *slot);
    s->inflight--;
}

/* The next attempt's delay after attempt n failed (n >= 1). */
static int64_t backoff_ms(const cb_state *s, uint32_t n)
{
    int64_t d = s->backoff_ms;
    for (uint32_t i = 1; i < n && d < CB_BACKOFF_MAX_MS; i++)
        d *= 2;
    return d > CB_BACKOFF_MAX_MS ? CB_BACKOFF_MAX_MS : d;
}

/* Records attempt `attempt` of a delivery; a store that cannot take it
 * leaves the lease to run out (the row comes due again: at least once, and
 * the X-Dispatch-Delivery id lets the receiver drop the repeat). */
static void record(cb_state *s, const char *delivery_id, const char *job_id, uint32_t attempt,
                   const char *error)
{
    dp_err err = {0};
    char n[16];
    snprintf(n, sizeof n, "%u", attempt);
    int rc;
    if (error == NULL) {
        rc = store_callback_delivered(s->db, delivery_id, attempt, NULL, &err);
        dp_log(DP_LOG_INFO, "callback_delivered", "job_id", job_id, "delivery", delivery_id,
               "attempt", n, (char *)NULL);
    } else {
        int last = attempt >= s->max_attempts;
        rc = store_callback_failed(s->db, delivery_id, attempt, error,
                                   last ? -1 : backoff_ms(s, attempt), NULL, &err);
        dp_log(last ? DP_LOG_WARN : DP_LOG_INFO, last ? "callback_failed" : "callback_retry",
               "job_id", job_id, "delivery", delivery_id, "attempt", n, "error", error,
               (char *)NULL);
    }
    if (rc != DP_OK)
        dp_log(DP_LOG_WARN, "callback_record_failed", "delivery", delivery_id, "error", err.msg,
               (char *)NULL);
}

static void finish(cb_state *s, cb_slot *slot, CURLcode cc)
{
    long status = 0;
    curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &status);
    char why[400];
    const char *error = NULL;
    if (cc == CURLE_COULDNT_CONNECT && slot->refused[0] != '\0') {
        snprintf(why, sizeof why, "refused to connect to %s (DISPATCH_CALLBACK_ALLOW_CIDRS)",
                 slot->refused);
        error = why;
    } else if (cc != CURLE_OK) {
        snprintf(why, sizeof why, "%s",
                 slot->curl_msg[0] != '\0' ? slot->curl_msg : curl_easy_strerror(cc));
        error = why;
    } else if (status < 200 || status > 299) {
        snprintf(why, sizeof why, "HTTP %ld", status);
        error = why;
    }
    record(s, slot->delivery_id, slot->job_id, slot->attempt, error);
    slot_release(s, slot);
}

/* The body (the job JSON), signature and headers of one claimed delivery,
 * added to the multi handle. An error is recorded as this attempt's. */
static void start(cb_state *s, const store_callback *c)
{
    cb_slot *slot = NULL;
    for (size_t i = 0; slot == NULL && i < CB_MAX_INFLIGHT; i++)
        if (!s->slots[i].used)
            slot = &s->slots[i];
    if (slot == NULL)
        return; /* cannot happen: claims never exceed the free slots; the lease runs out */
    s->inflight++;
    slot->used = 1;
    slot->owner = s;
    slot->attempt = c->attempt;
    snprintf(slot->delivery_id, sizeof slot->delivery_id, "%s", c->delivery_id);
    snprintf(slot->job_id, sizeof slot->job_id, "%s", c->job_id);
    dp_err err = {0};
    dp_job_view v;
    if (store_get_job(s->db, c->job_id, &v, &err) != DP_OK) {
        record(s, c->delivery_id, c->job_id, c->attempt, err.msg);
        slot_release(s, slot);
        return;
    }
    json_t *j = dp_job_view_to_json(&v);
    dp_job_view_free(&v);
    slot->body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    char sig[72 + 32], hjob[DP_ID_MAX + 32], hdel[96], hsig[128];
    if (slot->body != NULL)
        callbacker_sign(s->secret, slot->body, strlen(slot->body), sig);
    snprintf(hsig, sizeof hsig, "X-Dispatch-Signature: %s", sig);
    snprintf(hjob, sizeof hjob, "X-Dispatch-Job: %s", c->job_id);
    snprintf(hdel, sizeof hdel, "X-Dispatch-Delivery: %s", c->delivery_id);
    const char *lines[] = {"Content-Type: application/json", "Expect:", hsig, hjob, hdel};
    for (size_t i = 0; slot->body != NULL && i < sizeof lines / sizeof lines[0]; i++) {
        struct curl_slist *h = curl_slist_append(slot->headers, lines[i]);
        if (h == NULL)
            break;
        slot->headers = h;
    }
    if (slot->body == NULL || slot->headers == NULL || (slot->easy = curl_easy_init()) == NULL) {
        record(s, c->delivery_id, c->job_id, c->attempt, "out of memory");
        slot_release(s, slot);
        return;
    }
    CURL *e = slot->easy;
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is an answer, not a 2xx */
    curl_easy_setopt(e, CURLOPT_PROXY, "");          /* else the proxy is all we check */
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, cb_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, slot);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, slot->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, slot->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(slot->body));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "dispatchd-callback");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, cb_discard);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, slot->curl_msg);
    curl_easy_setopt(e, CURLOPT_PRIVATE, slot);
    if (curl_multi_add_handle(s->multi, e) != CURLM_OK) {
        record(s, c->delivery_id, c->job_id, c->attempt, "cannot start the request");
        slot_release(s, slot);
    }
}

static void claim(cb_state *s)
{
    store_callback *due = NULL;
    size_t n = 0;
    dp_err err = {0};
    uint32_t lease = s->timeout_ms + CB_LEASE_SLACK_MS;
    if (store_callbacks_claim(s->db, CB_MAX_INFLIGHT - s->inflight, lease, s->max_attempts, &due,
                              &n, &err) != DP_OK) {
        dp_log(DP_LOG_WARN, "callback_claim_failed", "error", err.msg, (char *)NULL);
        return;
    }
    for (size_t i = 0; i < n; i++)
        start(s, &due[i]);
    store_callbacks_free(due, n);
}

/* Moves transfers on without waiting (the multi handle is non-blocking),
 * records what finished, then claims what is due into the free slots. */
static void cb_tick(void *state, actor_ctx *ctx)
{
    cb_state *s = state;
    (void)ctx;
    int running = 0;
    curl_multi_perform(s->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(s->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        cb_slot *slot = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&slot);
        CURLcode cc = m->data.result;
        if (slot != NULL)
            finish(s, slot, cc);
    }
    int64_t now = dp_now_ms();
    if (s->inflight < CB_MAX_INFLIGHT && now >= s->next_claim_ms) {
        s->next_claim_ms = now + CB_CLAIM_EVERY_MS;
        claim(s);
        curl_multi_perform(s->multi, &running); /* start the new ones now */
    }
}

static int cb_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    (void)state;
    (void)ctx;
    (void)reply;
    nng_msg_free(msg);
    return DP_EINVAL; /* takes no requests: it works from its table */
}

static int cb_start(void *state, actor_ctx *ctx, dp_err *err)
{
    cb_state *s = state;
    (void)ctx;
    if ((s->multi = curl_multi_init()) == NULL)
        return dp_err_set(err, DP_ENOMEM, "callbacker: curl_multi_init failed");
    if ((s->db = store_open(s->pg_dsn, err)) == NULL)
        return DP_EUNAVAIL;
    return DP_OK;
}

/* In-flight deliveries are dropped: their leases run out and another
 * attempt (here after a restart, or on a replica) delivers them. */
static void cb_stop(void *state, actor_ctx *ctx)
{
    cb_state *s = state;
    (void)ctx;
    for (size_t i = 0; i < CB_MAX_INFLIGHT; i++)
        if (s->slots[i].used)
            slot_release(s, &s->slots[i]);
    if (s->multi != NULL)
        curl_multi_cleanup(s->multi);
    store_close(s->db);
    memset(s->secret, 0, sizeof s->secret);
    free(s);
}

actor *callbacker_spawn(const callbacker_config *cfg, dp_err *err)
{
    cb_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        dp_err_set(err, DP_ENOMEM, "callbacker: out of memory");
        return NULL;
    }
    snprintf(s->pg_dsn, sizeof s->pg_dsn, "%s", cfg->pg_dsn);
    snprintf(s->secret, sizeof s->secret, "%s", cfg->secret);
    if (cfg->allow != NULL)
        s->allow = *cfg->allow;
    s->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : 1;
    s->backoff_ms = cfg->backoff_ms;
    s->timeout_ms = cfg->timeout_ms;
    actor_opts o = {
        .name = "callbacker",
        .state = s,
        .handler = cb_handle,
        .on_start = cb_start,
        .on_stop = cb_stop,
        .on_tick = cb_tick,
        .tick_ms = CB_TICK_MS,
        .mailbox = 4,
    };
    return actor_spawn_owned(&o, err);
}
