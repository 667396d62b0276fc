/* One HTTP request's life (dispatch/http_impl.h). */
#include "dispatch/http_impl.h"

#include "common/log.h"
#include "dispatch/event_sinks.h"
#include "dispatch/stasher.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void http_req_free(http_req *r)
{
    if (r == NULL)
        return;
    if (r->listening)
        event_sinks_want(r->srv->events_name, -1);
    if (r->timer != NULL)
        nng_aio_free(r->timer);
    if (r->reply_msg != NULL)
        nng_msg_free(r->reply_msg);
    json_decref(r->scratch);
    free(r->body);
    free(r->answer);
    free(r->location);
    free(r);
}

static void set_answer(http_req *r, unsigned status, const char *type, char *text, size_t len)
{
    free(r->answer);
    r->status = status;
    r->content_type = type;
    r->answer = text;
    r->answer_len = len;
}

void http_answer_text(http_req *r, unsigned status, const char *type, const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        set_answer(r, 500, "text/plain", NULL, 0);
        return;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    set_answer(r, status, type, copy, len);
}

void http_answer_redirect(http_req *r, const char *url)
{
    free(r->location);
    if ((r->location = strdup(url)) == NULL) {
        http_answer_error(r, 500, "internal", "out of memory");
        return;
    }
    http_answer_json(r, 302, json_pack("{s:s}", "url", url));
}

void http_answer_json(http_req *r, unsigned status, json_t *json)
{
    char *text = json != NULL ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    if (text == NULL) {
        http_answer_error(r, 500, "internal", "out of memory");
        return;
    }
    size_t len = strlen(text);
    text[len] = '\0';
    char *nl = realloc(text, len + 2); /* a newline: curl output stays readable */
    if (nl != NULL) {
        text = nl;
        text[len++] = '\n';
        text[len] = '\0';
    }
    set_answer(r, status, "application/json", text, len);
}

void http_answer_json_with(http_req *r, unsigned status, json_t *json, const char *key,
                           const char *raw, size_t raw_len)
{
    char *head = json_is_object(json) ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    size_t head_len = head != NULL ? strlen(head) : 0, key_len = strlen(key);
    /* head ends with '}': "{...}" -> "{...,"key":raw}\n" ("{}" has no comma) */
    char *text = head_len >= 2 ? malloc(head_len + key_len + raw_len + 8) : NULL;
    if (text == NULL) {
        free(head);
        http_answer_error(r, 500, "internal", "out of memory");
        return;
    }
    size_t n = head_len - 1;
    memcpy(text, head, n);
    if (head_len > 2)
        text[n++] = ',';
    text[n++] = '"';
    memcpy(text + n, key, key_len); /* our own names: nothing to escape */
    n += key_len;
    memcpy(text + n, "\":", 2);
    n += 2;
    memcpy(text + n, raw, raw_len);
    n += raw_len;
    memcpy(text + n, "}\n", 3); /* with the NUL */
    n += 2;
    free(head);
    set_answer(r, status, "application/json", text, n);
}

void http_answer_error(http_req *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[DP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL) {
        set_answer(r, 500, "text/plain", NULL, 0);
        return;
    }
    set_answer(r, status, "application/json", text, strlen(text));
}

/* The reply codes (messages/msg.h, dp_code_name) as HTTP statuses. */
static unsigned status_of_code(const char *code)
{
    static const struct {
        const char *code;
        unsigned status;
    } map[] = {
        {"invalid", 400},   {"protocol", 400}, {"unauthorized", 401}, {"forbidden", 403},
        {"not_found", 404}, {"conflict", 409}, {"unavailable", 503},  {"full", 503},
        {"closed", 503},    {"timeout", 504},  {"unsupported", 405},  {"quota", 429},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (code != NULL && strcmp(code, map[i].code) == 0)
            return map[i].status;
    return 500;
}

void http_answer_reply_error(http_req *r, const dp_msg *rep)
{
    if (rep->type == DP_MSG_NOT_FOUND)
        http_answer_error(r, 404, "not_found", "%s",
                          rep->not_found.message != NULL ? rep->not_found.message : "no such job");
    else if (rep->type == DP_MSG_CONFLICT)
        http_answer_error(r, 409, "conflict", "%s",
                          rep->conflict.message != NULL ? rep->conflict.message : "conflict");
    else if (rep->type == DP_MSG_ERROR && rep->error.code != NULL &&
             strcmp(rep->error.code, DP_MSG_ERR_QUOTA) == 0) {
        r->retry_after = rep->error.retry_s > 0 ? rep->error.retry_s : 1;
        http_answer_error(r, 429, DP_MSG_ERR_QUOTA, "%s",
                          rep->error.message != NULL ? rep->error.message : "quota");
    } else if (rep->type == DP_MSG_ERROR)
        http_answer_error(r, status_of_code(rep->error.code), rep->error.code, "%s",
                          rep->error.message != NULL ? rep->error.message : rep->error.code);
    else
        http_answer_error(r, 502, "internal", "unexpected reply '%s'", dp_msg_type_name(rep->type));
}

void http_answer_item_error(http_req *r, const dp_submit_item *it)
{
    const char *msg = it->error != NULL ? it->error : "refused";
    if (it->code != NULL && strcmp(it->code, DP_MSG_ERR_QUOTA) == 0) {
        r->retry_after = it->retry_s > 0 ? it->retry_s : 1;
        http_answer_error(r, 429, DP_MSG_ERR_QUOTA, "%s", msg);
    } else {
        http_answer_error(r, 503, "unavailable", "%s", msg);
    }
}

/* On the polling thread (or, as a no-op, on the thread a suspended
 * request belongs to): the request waits for a reply or a timer. Only the
 * polling thread writes r->suspended and srv->suspended; the thread that
 * finishes the step only disarms and resumes (http_resume). */
static void suspend(http_req *r)
{
    if (r->suspended)
        return;
    r->suspended = 1;
    r->srv->suspended++;
    atomic_store(&r->armed, 1);
    MHD_suspend_connection(r->conn);
}

void http_resume(http_req *r)
{
    struct MHD_Connection *conn = r->conn;
    /* r belongs to the polling thread again once the connection resumes:
     * nothing here touches it afterwards */
    if (atomic_exchange(&r->armed, 0))
        MHD_resume_connection(conn);
}

void http_resumed(http_req *r)
{
    if (!r->suspended)
        return;
    r->suspended = 0;
    r->srv->suspended--; /* stop waits for this before stopping the daemon */
}

/* A reply, on whichever thread answered: kept for the polling thread, which
 * decodes it and runs the route's on_reply (http_take_reply). The gateway
 * answers calls from this process on the answering actor's own thread (the
 * reporter's, mostly: actors/actor_local.c), so nothing more than this may
 * run here. */
static void on_call(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    http_req *r = arg;
    r->reply_code = code;
    r->reply_msg = reply;
    snprintf(r->reply_err, sizeof r->reply_err, "%s", errmsg != NULL ? errmsg : "no answer");
    atomic_store(&r->has_reply, 1);
    http_resume(r);
}

void http_take_reply(http_req *r)
{
    nng_msg *reply = r->reply_msg;
    r->reply_msg = NULL;
    dp_msg rep;
    dp_err err = {0};
    int pending = 0;
    if (r->reply_code != 0 || reply == NULL) {
        http_answer_error(r, r->reply_code == DP_ETIMEOUT ? 504 : 503,
                          dp_code_name(r->reply_code != 0 ? r->reply_code : DP_EUNAVAIL),
                          "dispatcher: %s", r->reply_err);
    } else if (dp_msg_decode_nng(reply, &rep, &err) != DP_OK) {
        http_answer_error(r, 502, "protocol", "dispatcher reply: %s", err.msg);
    } else {
        pending = r->on_reply(r, &rep);
        dp_msg_free(&rep);
    }
    if (reply != NULL)
        nng_msg_free(reply);
    /* Not pending but suspended: a step that suspended and then failed at
     * once (http_park while stopping) set its answer: send it. */
    if (!pending)
        http_resume(r);
}

int http_forward(http_req *r, dp_msg *m, http_reply_fn on_reply)
{
    char *saved = m->auth;
    m->auth = r->key[0] != '\0' ? r->key : NULL;
    int rc = http_forward_via(r, r->srv->gateway, r->srv->call_timeout_ms, m, on_reply);
    m->auth = saved;
    return rc;
}

int http_forward_via(http_req *r, actor_client *to, int timeout_ms, dp_msg *m,
                     http_reply_fn on_reply)
{
    if (r->srv->stopping) {
        http_answer_error(r, 503, "unavailable", "dispatcher shutting down");
        return 0;
    }
    dp_err err = {0};
    nng_msg *msg = NULL;
    int rc = dp_msg_encode(m, &msg, &err);
    if (rc != DP_OK) {
        http_answer_error(r, rc == DP_EINVAL ? 400 : 500, dp_code_name(rc), "%s", err.msg);
        return 0;
    }
    int was = r->suspended;
    suspend(r); /* before the call: its reply may come at once */
    r->on_reply = on_reply;
    if (actor_client_call_async(to, msg, timeout_ms, on_call, r, &err) != 0) {
        http_answer_error(r, 503, "unavailable", "dispatcher: %s", err.msg);
        if (!was)
            http_resume(r);
        return 0;
    }
    return 1;
}

/* ---- inline files: stored by the stasher, then the submit goes on ---- */

typedef struct {
    http_req *r;
    nng_msg *next; /* the encoded message to forward once stored */
    http_reply_fn on_reply;
} stash_call;

static void on_stashed(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    stash_call *c = arg;
    http_req *r = c->r;
    dp_err err = {0};
    const uint8_t *b = reply != NULL ? nng_msg_body(reply) : NULL;
    size_t len = reply != NULL ? nng_msg_len(reply) : 0;
    if (code != 0 || b == NULL || len < 1) {
        http_answer_error(r, code == DP_ETIMEOUT ? 504 : 503, "unavailable",
                          "log store (inline files): %s", errmsg != NULL ? errmsg : "no answer");
    } else if (b[0] != 1) {
        http_answer_error(r, 503, "unavailable", "log store (inline files): %.*s",
                          (int)(len - 1 < 400 ? len - 1 : 400), (const char *)b + 1);
    } else if (r->srv->stopping) {
        http_answer_error(r, 503, "unavailable", "dispatcher shutting down");
    } else {
        r->on_reply = c->on_reply;
        nng_msg *next = c->next;
        c->next = NULL;
        if (actor_client_call_async(r->srv->gateway, next, r->srv->call_timeout_ms, on_call, r,
                                    &err) != 0)
            http_answer_error(r, 503, "unavailable", "dispatcher: %s", err.msg);
        else
            r = NULL; /* on_call answers and resumes */
    }
    if (reply != NULL)
        nng_msg_free(reply);
    if (c->next != NULL)
        nng_msg_free(c->next);
    free(c);
    if (r != NULL)
        http_resume(r);
}

int http_forward_stored(http_req *r, http_uploads *up, dp_msg *m, http_reply_fn on_reply)
{
    if (up->n == 0)
        return http_forward(r, m, on_reply);
    if (r->srv->stopping) {
        http_answer_error(r, 503, "unavailable", "dispatcher shutting down");
        return 0;
    }
    dp_err err = {0};
    stash_call *c = calloc(1, sizeof *c);
    nng_msg *req = NULL;
    char *saved = m->auth;
    m->auth = r->key[0] != '\0' ? r->key : NULL;
    int rc = c == NULL ? DP_ENOMEM : dp_msg_encode(m, &c->next, &err);
    m->auth = saved;
    if (rc == DP_OK && nng_msg_alloc(&req, 0) != 0)
        rc = DP_ENOMEM;
    for (size_t i = 0; rc == DP_OK && i < up->n; i++)
        if (stasher_frame_add(req, up->items[i].name, up->items[i].data, up->items[i].len) != 0)
            rc = DP_ENOMEM;
    if (rc != DP_OK) {
        if (req != NULL)
            nng_msg_free(req);
        if (c != NULL && c->next != NULL)
            nng_msg_free(c->next);
        free(c);
        http_answer_error(r, rc == DP_EINVAL ? 400 : 500, dp_code_name(rc), "%s",
                          rc == DP_ENOMEM ? "out of memory" : err.msg);
        return 0;
    }
    c->r = r;
    c->on_reply = on_reply;
    int was = r->suspended;
    suspend(r);
    /* an S3 PUT per archive, each up to the log store's 30 s */
    if (actor_client_call_async(r->srv->stash, req, 65000, on_stashed, c, &err) != 0) {
        nng_msg_free(c->next);
        free(c);
        http_answer_error(r, 503, "unavailable", "log store (inline files): %s", err.msg);
        if (!was)
            http_resume(r);
        return 0;
    }
    return 1;
}

static void on_status(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    http_req *r = arg;
    if (code != 0 || reply == NULL || nng_msg_len(reply) < 1) {
        char text[300];
        snprintf(text, sizeof text, "unavailable: %s\n", errmsg != NULL ? errmsg : "no answer");
        http_answer_text(r, 503, "text/plain", text, strlen(text));
    } else {
        const uint8_t *b = nng_msg_body(reply);
        int metrics = nng_msg_len(reply) > 1 && b[1] == '#';
        http_answer_text(r, b[0] || metrics ? 200 : 503,
                         metrics ? "text/plain; version=0.0.4" : "text/plain", (const char *)b + 1,
                         nng_msg_len(reply) - 1);
    }
    if (reply != NULL)
        nng_msg_free(reply);
    http_resume(r);
}

void http_ask_status(http_req *r, char kind)
{
    nng_msg *req = NULL;
    dp_err err = {0};
    if (nng_msg_alloc(&req, 0) != 0 || nng_msg_append(req, &kind, 1) != 0) {
        if (req != NULL)
            nng_msg_free(req);
        http_answer_error(r, 500, "internal", "out of memory");
        return;
    }
    suspend(r);
    if (actor_client_call_async(r->srv->status, req, 2000, on_status, r, &err) != 0) {
        http_answer_text(r, 503, "text/plain", err.msg, strlen(err.msg));
        http_resume(r);
    }
}

/* ---- long-poll timers ---- */

static void unlink_parked(http_req *r)
{
    http_server *s = r->srv;
    pthread_mutex_lock(&s->mu);
    if (r->park_prev != NULL)
        r->park_prev->park_next = r->park_next;
    else if (s->parked == r)
        s->parked = r->park_next;
    if (r->park_next != NULL)
        r->park_next->park_prev = r->park_prev;
    r->park_next = r->park_prev = NULL;
    pthread_mutex_unlock(&s->mu);
}

static void on_timer(void *arg)
{
    http_req *r = arg;
    unlink_parked(r);
    int pending = 0;
    int rv = nng_aio_result(r->timer); /* NNG_ECANCELED: woken early (an event), or stopping */
    if ((rv != 0 && rv != NNG_ECANCELED) || r->srv->stopping)
        http_answer_error(r, 503, "unavailable", "dispatcher shutting down");
    else
        pending = r->again(r);
    if (!pending)
        http_resume(r);
}

int http_park(http_req *r, uint32_t ms, int (*again)(http_req *r))
{
    http_server *s = r->srv;
    suspend(r); /* from the polling thread after a reply; already, from a timer */
    if (r->timer == NULL && nng_aio_alloc(&r->timer, on_timer, r) != 0) {
        http_answer_error(r, 500, "internal", "out of memory");
        return 0;
    }
    r->again = again;
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        http_answer_error(r, 503, "unavailable", "dispatcher shutting down");
        return 0;
    }
    r->park_next = s->parked;
    r->park_prev = NULL;
    if (s->parked != NULL)
        s->parked->park_prev = r;
    s->parked = r;
    nng_sleep_aio((nng_duration)ms, r->timer);
    pthread_mutex_unlock(&s->mu);
    return 1;
}

void http_wake_parked(http_server *s, const dp_msg_event *evs, size_t n)
{
    pthread_mutex_lock(&s->mu);
    for (http_req *r = s->parked; r != NULL; r = r->park_next)
        for (size_t i = 0; i < n; i++)
            if (strcmp(r->id, evs[i].job_id) == 0) {
                nng_aio_cancel(r->timer); /* its callback asks again now */
                break;
            }
    pthread_mutex_unlock(&s->mu);
}

void http_unpark_all(http_server *s)
{
    pthread_mutex_lock(&s->mu);
    for (http_req *r = s->parked; r != NULL; r = r->park_next)
        nng_aio_cancel(r->timer); /* its callback runs later, on nng's thread */
    pthread_mutex_unlock(&s->mu);
}
