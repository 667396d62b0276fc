/* Runners over HTTP (docs/api.md, "Runners over HTTP"): the pull-based
 * runner protocol for runners written in any language. Each route builds the
 * message an nng runner sends (register, heartbeat, lease, complete,
 * deregister) and sends it to gateway-runner, so the registrar, the leaser
 * and the reporter decide exactly as they do for dispatch-runner: one
 * handler per operation. The runner token (Authorization: Bearer) is the
 * one the registrar handed out; no API key is involved.
 *
 * http_runners.c       the five routes and their answers;
 * http_runner_json.c   their JSON bodies -> message bodies, naming bad fields.
 *
 * Ownership: the *_from_json functions fill caller-provided structs whose
 * members become heap-owned by them (dp_msg_free on the enclosing message,
 * or dp_job_result_free); on error they are left zeroed. */
#ifndef DP_HTTP_RUNNERS_H
#define DP_HTTP_RUNNERS_H

#include "dispatch/http_impl.h"

#include <jansson.h>
#include <stdbool.h>

/* The routes (rows in http_routes.c's table). */
void http_runner_register(http_req *r);
void http_runner_heartbeat(http_req *r);
void http_runner_next_job(http_req *r);
void http_runner_complete(http_req *r);
void http_runner_deregister(http_req *r);

/* {"registration_token","name","labels":[..],"profiles":[..],"slots","version"}
 * -> a register body. Unknown fields are refused (a typo is an error).
 * DP_EINVAL naming the field, or DP_ENOMEM. */
int http_register_from_json(const json_t *doc, dp_msg_register *out, dp_err *err);

/* {"attempt","verdict","score","message","tests":[..],"log","retry"} for
 * job_id -> a result (the fields an nng complete carries; test objects as the
 * job view shows them: name, verdict, exit_code, signal, time_ms, wall_ms,
 * memory_kb, stdout, stderr, message). score defaults to 100 for AC, else 0.
 * DP_EINVAL naming the field, or DP_ENOMEM. */
int http_result_from_json(const json_t *doc, const char *job_id, dp_job_result *out, bool *retry,
                          dp_err *err);

#endif
