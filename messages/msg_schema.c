/* The wire keys and bounds of every message body (docs/messages.md mirrors
 * these tables). Keys are short to keep hot messages (heartbeat, lease,
 * complete) small; they never change meaning, new fields get new keys. */
#include "messages/msg_schema.h"

#include "common/addr_policy.h"

#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define F_STR(k, T, f, mx)                                                                         \
    {                                                                                              \
        k, DP_F_STR, offsetof(T, f), 0, mx, NULL                                                   \
    }
#define F_ID(k, T, f)                                                                              \
    {                                                                                              \
        k, DP_F_ID, offsetof(T, f), 0, DP_ID_MAX, NULL                                             \
    }
#define F_BIN(k, T, f, n, mx)                                                                      \
    {                                                                                              \
        k, DP_F_BIN, offsetof(T, f), offsetof(T, n), mx, NULL                                      \
    }
#define F_SCALAR(k, kind, T, f)                                                                    \
    {                                                                                              \
        k, kind, offsetof(T, f), 0, 0, NULL                                                        \
    }
#define F_STRS(k, T, f, n, mx)                                                                     \
    {                                                                                              \
        k, DP_F_STRS, offsetof(T, f), offsetof(T, n), mx, NULL                                     \
    }
#define F_ARR(k, T, f, n, mx, sub)                                                                 \
    {                                                                                              \
        k, DP_F_ARR, offsetof(T, f), offsetof(T, n), mx, sub                                       \
    }
#define F_OBJ(k, T, f, sub)                                                                        \
    {                                                                                              \
        k, DP_F_OBJ, offsetof(T, f), 0, 0, sub                                                     \
    }
#define F_OBJ_PACKED(k, T, f, packed, sub)                                                         \
    {                                                                                              \
        k, DP_F_OBJ, offsetof(T, f), offsetof(T, packed), 0, sub                                   \
    }
#define SCHEMA(var, T, fields)                                                                     \
    {                                                                                              \
#var, sizeof(T), fields, N(fields)                                                         \
    }

/* ---- domain types from common/job.h ---- */

static const dp_field limits_fields[] = {
    F_SCALAR("time", DP_F_U32, dp_limits, time_ms),
    F_SCALAR("wall", DP_F_U32, dp_limits, wall_ms),
    F_SCALAR("mem", DP_F_U64, dp_limits, memory_kb),
    F_SCALAR("proc", DP_F_U32, dp_limits, processes),
    F_SCALAR("out", DP_F_U64, dp_limits, output_kb),
};
static const dp_schema limits_schema = SCHEMA(limits, dp_limits, limits_fields);

static const dp_field test_case_fields[] = {
    F_STR("name", dp_test_case, name, DP_MSG_MAX_NAME),
    F_STR("in", dp_test_case, stdin_data, DP_MSG_MAX_STR),
    F_STR("out", dp_test_case, expected_stdout, DP_MSG_MAX_STR),
    F_SCALAR("tmo", DP_F_U32, dp_test_case, timeout_ms),
    F_SCALAR("cmp", DP_F_COMPARE, dp_test_case, compare),
    F_SCALAR("atol", DP_F_F64, dp_test_case, abs_tol),
    F_SCALAR("rtol", DP_F_F64, dp_test_case, rel_tol),
    F_SCALAR("w", DP_F_F64, dp_test_case, score),
};
static const dp_schema test_case_schema = SCHEMA(test, dp_test_case, test_case_fields);

static const dp_field spec_fields[] = {
    F_ID("jid", dp_job_spec, job_id),
    F_STR("prof", dp_job_spec, profile, DP_MSG_MAX_NAME),
    F_STR("url", dp_job_spec, archive, DP_MSG_MAX_URL),
    F_STR("sha", dp_job_spec, archive_sha256, 64),
    F_STR("sid", dp_job_spec, submission_id, DP_ID_MAX),
    F_ARR("tests", dp_job_spec, tests, n_tests, DP_MAX_TESTS, &test_case_schema),
    F_OBJ("lim", dp_job_spec, limits, &limits_schema),
    F_SCALAR("maxa", DP_F_U32, dp_job_spec, max_attempts),
    F_SCALAR("atol", DP_F_F64, dp_job_spec, abs_tol),
    F_SCALAR("rtol", DP_F_F64, dp_job_spec, rel_tol),
    F_STR("cb", dp_job_spec, callback_url, DP_CALLBACK_URL_MAX),
    F_STRS("labels", dp_job_spec, labels, n_labels, DP_JOB_LABELS_MAX),
    F_SCALAR("prio", DP_F_U32, dp_job_spec, priority),
};
static const dp_schema spec_schema = SCHEMA(spec, dp_job_spec, spec_fields);

static const dp_field test_result_fields[] = {
    F_STR("name", dp_test_result, name, DP_MSG_MAX_NAME),
    F_SCALAR("vd", DP_F_VERDICT, dp_test_result, verdict),
    F_SCALAR("exit", DP_F_I32, dp_test_result, exit_code),
    F_SCALAR("sig", DP_F_I32, dp_test_result, signal),
    F_SCALAR("time", DP_F_U32, dp_test_result, time_ms),
    F_SCALAR("wall", DP_F_U32, dp_test_result, wall_ms),
    F_SCALAR("mem", DP_F_U64, dp_test_result, memory_kb),
    F_STR("out", dp_test_result, stdout_excerpt, DP_MSG_MAX_STR),
    F_STR("err", dp_test_result, stderr_excerpt, DP_MSG_MAX_STR),
    F_STR("msg", dp_test_result, message, DP_MSG_MAX_STR),
};
static const dp_schema test_result_schema = SCHEMA(test_result, dp_test_result, test_result_fields);

static const dp_field result_fields[] = {
    F_ID("jid", dp_job_result, job_id),
    F_SCALAR("att", DP_F_U32, dp_job_result, attempt),
    F_SCALAR("vd", DP_F_VERDICT, dp_job_result, verdict),
    F_SCALAR("score", DP_F_F64, dp_job_result, score),
    F_STR("msg", dp_job_result, message, DP_MSG_MAX_STR),
    F_ARR("tests", dp_job_result, tests, n_tests, DP_MAX_TESTS, &test_result_schema),
    F_BIN("log", dp_job_result, log, log_len, DP_MSG_MAX_LOG),
};
static const dp_schema result_schema = SCHEMA(result, dp_job_result, result_fields);

static const dp_field view_fields[] = {
    F_ID("jid", dp_job_view, job_id),
    F_STR("sid", dp_job_view, submission_id, DP_ID_MAX),
    F_STR("prof", dp_job_view, profile, DP_MSG_MAX_NAME),
    F_SCALAR("st", DP_F_STATE, dp_job_view, state),
    F_SCALAR("vd", DP_F_VERDICT, dp_job_view, verdict),
    F_SCALAR("score", DP_F_F64, dp_job_view, score),
    F_SCALAR("att", DP_F_U32, dp_job_view, attempts),
    F_ID("rid", dp_job_view, runner_id),
    F_STR("msg", dp_job_view, message, DP_MSG_MAX_STR),
    F_ARR("tests", dp_job_view, tests, n_tests, DP_MAX_TESTS, &test_result_schema),
    F_STR("log", dp_job_view, log_url, DP_MSG_MAX_URL),
    F_STR("cat", dp_job_view, created_at, DP_MSG_MAX_TS),
    F_STR("sat", dp_job_view, started_at, DP_MSG_MAX_TS),
    F_STR("fat", dp_job_view, finished_at, DP_MSG_MAX_TS),
    F_STR("cbst", dp_job_view, callback_state, DP_MSG_MAX_NAME),
    F_SCALAR("cbatt", DP_F_U32, dp_job_view, callback_attempts),
    F_STR("cberr", dp_job_view, callback_error, DP_MSG_MAX_STR),
    F_STR("lbl", dp_job_view, labels, DP_MSG_MAX_STR),
    F_STR("prio", dp_job_view, priority, DP_MSG_MAX_NAME),
};
static const dp_schema view_schema = SCHEMA(job, dp_job_view, view_fields);

static const dp_field runner_info_fields[] = {
    F_ID("rid", dp_runner_info, runner_id),
    F_STR("name", dp_runner_info, name, DP_MSG_MAX_NAME),
    F_SCALAR("alive", DP_F_INTBOOL, dp_runner_info, alive),
    F_SCALAR("drain", DP_F_INTBOOL, dp_runner_info, draining),
    F_SCALAR("cap", DP_F_U32, dp_runner_info, capacity),
    F_SCALAR("leased", DP_F_U32, dp_runner_info, leased_jobs),
    F_STRS("labels", dp_runner_info, labels, n_labels, DP_MSG_MAX_LABELS),
    F_STR("ver", dp_runner_info, version, DP_MSG_MAX_NAME),
    F_STR("seen", dp_runner_info, last_seen, DP_MSG_MAX_TS),
};
static const dp_schema runner_info_schema = SCHEMA(runner, dp_runner_info, runner_info_fields);

static const dp_field queue_depth_fields[] = {
    F_STR("prof", dp_queue_depth, profile, DP_MSG_MAX_NAME),
    F_STR("labels", dp_queue_depth, labels, DP_MSG_MAX_STR),
    F_STR("prio", dp_queue_depth, priority, 16),
    F_SCALAR("depth", DP_F_U64, dp_queue_depth, depth),
    F_SCALAR("runners", DP_F_U32, dp_queue_depth, runners),
};
static const dp_schema queue_depth_schema = SCHEMA(queue, dp_queue_depth, queue_depth_fields);

static const dp_field queue_stats_fields[] = {
    F_SCALAR("pending", DP_F_U64, dp_queue_stats, pending),
    F_SCALAR("leased", DP_F_U64, dp_queue_stats, leased),
    F_SCALAR("dead", DP_F_U64, dp_queue_stats, dead),
    F_SCALAR("done", DP_F_U64, dp_queue_stats, completed),
    F_SCALAR("alive", DP_F_U64, dp_queue_stats, runners_alive),
    F_SCALAR("draining", DP_F_U64, dp_queue_stats, runners_draining),
    F_ARR("queues", dp_queue_stats, queues, n_queues, DP_QUEUES_MAX, &queue_depth_schema),
};
static const dp_schema queue_stats_schema = SCHEMA(queue_stats, dp_queue_stats, queue_stats_fields);

/* ---- message bodies ---- */

static const dp_field register_fields[] = {
    F_STR("tok", dp_msg_register, registration_token, DP_MSG_MAX_TOKEN),
    F_STR("name", dp_msg_register, name, DP_MSG_MAX_NAME),
    F_STRS("labels", dp_msg_register, labels, n_labels, DP_MSG_MAX_LABELS),
    F_SCALAR("cap", DP_F_U32, dp_msg_register, capacity),
    F_STR("ver", dp_msg_register, version, DP_MSG_MAX_NAME),
    F_STRS("profs", dp_msg_register, profiles, n_profiles, DP_MSG_MAX_LABELS),
};
static const dp_schema register_schema = SCHEMA(register, dp_msg_register, register_fields);

static const dp_field registered_fields[] = {
    F_ID("rid", dp_msg_registered, runner_id),
    F_STR("rtok", dp_msg_registered, runner_token, DP_MSG_MAX_TOKEN),
    F_SCALAR("hb", DP_F_U32, dp_msg_registered, heartbeat_ms),
    F_SCALAR("ttl", DP_F_U32, dp_msg_registered, alive_ttl_ms),
};
static const dp_schema registered_schema = SCHEMA(registered, dp_msg_registered, registered_fields);

static const dp_field heartbeat_fields[] = {
    F_ID("rid", dp_msg_heartbeat, runner_id),
    F_STR("rtok", dp_msg_heartbeat, runner_token, DP_MSG_MAX_TOKEN),
    F_SCALAR("free", DP_F_U32, dp_msg_heartbeat, free_slots),
    F_SCALAR("drain", DP_F_BOOL, dp_msg_heartbeat, draining),
};
static const dp_schema heartbeat_schema = SCHEMA(heartbeat, dp_msg_heartbeat, heartbeat_fields);

static const dp_field ack_fields[] = {
    F_SCALAR("n", DP_F_U32, dp_msg_ack, count),
    F_SCALAR("drain", DP_F_BOOL, dp_msg_ack, draining),
};
static const dp_schema ack_schema = SCHEMA(ack, dp_msg_ack, ack_fields);

static const dp_field error_fields[] = {
    F_STR("code", dp_msg_error, code, DP_MSG_MAX_NAME),
    F_STR("msg", dp_msg_error, message, DP_MSG_MAX_STR),
    F_SCALAR("retry", DP_F_U32, dp_msg_error, retry_s),
};
static const dp_schema error_schema = SCHEMA(error, dp_msg_error, error_fields);

static const dp_field lease_fields[] = {
    F_ID("rid", dp_msg_lease, runner_id),
    F_STR("rtok", dp_msg_lease, runner_token, DP_MSG_MAX_TOKEN),
    F_SCALAR("max", DP_F_U32, dp_msg_lease, max_jobs),
    F_SCALAR("wait", DP_F_U32, dp_msg_lease, wait_ms),
    F_ID("req", dp_msg_lease, request_id),
};
static const dp_schema lease_schema = SCHEMA(lease, dp_msg_lease, lease_fields);

static const dp_field leased_job_fields[] = {
    F_ID("jid", dp_leased_job, job_id),
    F_SCALAR("att", DP_F_U32, dp_leased_job, attempt),
    F_OBJ_PACKED("spec", dp_leased_job, spec, spec_packed, &spec_schema),
};
static const dp_schema leased_job_schema = SCHEMA(leased_job, dp_leased_job, leased_job_fields);

static const dp_field leased_fields[] = {
    F_ARR("jobs", dp_msg_leased, jobs, n_jobs, DP_MSG_MAX_LEASE, &leased_job_schema),
};
static const dp_schema leased_schema = SCHEMA(leased, dp_msg_leased, leased_fields);

static const dp_field none_fields[] = {
    F_STR("why", dp_msg_none, reason, DP_MSG_MAX_NAME),
};
static const dp_schema none_schema = SCHEMA(none, dp_msg_none, none_fields);

static const dp_field complete_fields[] = {
    F_ID("rid", dp_msg_complete, runner_id),
    F_STR("rtok", dp_msg_complete, runner_token, DP_MSG_MAX_TOKEN),
    F_OBJ("res", dp_msg_complete, result, &result_schema),
    F_SCALAR("retry", DP_F_BOOL, dp_msg_complete, retry),
};
static const dp_schema complete_schema = SCHEMA(complete, dp_msg_complete, complete_fields);

static const dp_field conflict_fields[] = {
    F_ID("jid", dp_msg_conflict, job_id),
    F_STR("msg", dp_msg_conflict, message, DP_MSG_MAX_STR),
};
static const dp_schema conflict_schema = SCHEMA(conflict, dp_msg_conflict, conflict_fields);

static const dp_field not_found_fields[] = {
    F_STR("what", dp_msg_not_found, what, DP_MSG_MAX_NAME),
    F_STR("msg", dp_msg_not_found, message, DP_MSG_MAX_STR),
};
static const dp_schema not_found_schema = SCHEMA(not_found, dp_msg_not_found, not_found_fields);

static const dp_field deregister_fields[] = {
    F_ID("rid", dp_msg_deregister, runner_id),
    F_STR("rtok", dp_msg_deregister, runner_token, DP_MSG_MAX_TOKEN),
    F_SCALAR("rel", DP_F_BOOL, dp_msg_deregister, release),
};
static const dp_schema deregister_schema = SCHEMA(deregister, dp_msg_deregister, deregister_fields);

static const dp_field submit_fields[] = {
    F_ARR("specs", dp_msg_submit, specs, n_specs, DP_MSG_MAX_SPECS, &spec_schema),
};
static const dp_schema submit_schema = SCHEMA(submit, dp_msg_submit, submit_fields);

static const dp_field submit_item_fields[] = {
    F_SCALAR("i", DP_F_U32, dp_submit_item, index),
    F_ID("jid", dp_submit_item, job_id),
    F_STR("err", dp_submit_item, error, DP_MSG_MAX_STR),
    F_STR("code", dp_submit_item, code, DP_MSG_MAX_NAME),
    F_SCALAR("retry", DP_F_U32, dp_submit_item, retry_s),
    F_STR("warn", dp_submit_item, warning, DP_MSG_MAX_STR),
};
static const dp_schema submit_item_schema = SCHEMA(item, dp_submit_item, submit_item_fields);

static const dp_field submitted_fields[] = {
    F_ARR("items", dp_msg_submitted, items, n_items, DP_MSG_MAX_SPECS, &submit_item_schema),
};
static const dp_schema submitted_schema = SCHEMA(submitted, dp_msg_submitted, submitted_fields);

static const dp_field job_ref_fields[] = {
    F_ID("jid", dp_msg_job_ref, job_id),
};
static const dp_schema job_ref_schema = SCHEMA(job_ref, dp_msg_job_ref, job_ref_fields);

static const dp_field runners_fields[] = {
    F_ARR("runners", dp_msg_runners, runners, n_runners, DP_MSG_MAX_RUNNERS, &runner_info_schema),
};
static const dp_schema runners_schema = SCHEMA(runners, dp_msg_runners, runners_fields);

static const dp_field requeue_fields[] = {
    F_ID("jid", dp_msg_requeue, job_id),
    F_SCALAR("dead", DP_F_BOOL, dp_msg_requeue, dead),
};
static const dp_schema requeue_schema = SCHEMA(requeue, dp_msg_requeue, requeue_fields);

static const dp_field drain_fields[] = {
    F_ID("rid", dp_msg_drain, runner_id),
};
static const dp_schema drain_schema = SCHEMA(drain, dp_msg_drain, drain_fields);

static const dp_field wait_fields[] = {
    F_ID("jid", dp_msg_wait, job_id),
    F_SCALAR("tmo", DP_F_U32, dp_msg_wait, timeout_ms),
};
static const dp_schema wait_schema = SCHEMA(wait, dp_msg_wait, wait_fields);

static const dp_field event_fields[] = {
    F_ID("jid", dp_msg_event, job_id),
    F_SCALAR("st", DP_F_STATE, dp_msg_event, state),
    F_SCALAR("vd", DP_F_VERDICT, dp_msg_event, verdict),
    F_ID("rid", dp_msg_event, runner_id),
    F_SCALAR("att", DP_F_U32, dp_msg_event, attempt),
    F_STR("ts", dp_msg_event, ts, DP_MSG_MAX_TS),
    F_STR("msg", dp_msg_event, message, DP_MSG_MAX_STR),
    F_STR("eid", dp_msg_event, eid, 47),
};
static const dp_schema event_schema = SCHEMA(event, dp_msg_event, event_fields);

static const dp_field events_fields[] = {
    F_ARR("evs", dp_msg_events, events, n_events, DP_MSG_MAX_EVENTS, &event_schema),
};
static const dp_schema events_schema = SCHEMA(events, dp_msg_events, events_fields);

static const dp_field wake_fields[] = {
    F_STRS("queues", dp_msg_wake, queues, n_queues, 64),
};
static const dp_schema wake_schema = SCHEMA(wake, dp_msg_wake, wake_fields);

static const dp_field peers_fields[] = {
    F_STRS("urls", dp_msg_peers, urls, n_urls, DP_MSG_MAX_LABELS),
};
static const dp_schema peers_schema = SCHEMA(peers, dp_msg_peers, peers_fields);

static const dp_field key_info_fields[] = {
    F_ID("kid", dp_key_info, key_id),
    F_STR("name", dp_key_info, name, DP_MSG_MAX_NAME),
    F_SCALAR("scopes", DP_F_U32, dp_key_info, scopes),
    F_SCALAR("maxq", DP_F_U32, dp_key_info, max_queued),
    F_SCALAR("rate", DP_F_U32, dp_key_info, per_minute),
    F_STR("key", dp_key_info, key, DP_MSG_MAX_TOKEN),
    F_STR("ts", dp_key_info, created_at, DP_MSG_MAX_TS),
    F_SCALAR("revoked", DP_F_BOOL, dp_key_info, revoked),
};
static const dp_schema key_info_schema = SCHEMA(key, dp_key_info, key_info_fields);

static const dp_field key_create_fields[] = {
    F_STR("name", dp_msg_key_create, name, DP_MSG_MAX_NAME),
    F_SCALAR("scopes", DP_F_U32, dp_msg_key_create, scopes),
    F_SCALAR("maxq", DP_F_U32, dp_msg_key_create, max_queued),
    F_SCALAR("rate", DP_F_U32, dp_msg_key_create, per_minute),
};
static const dp_schema key_create_schema = SCHEMA(key_create, dp_msg_key_create, key_create_fields);

static const dp_field keys_fields[] = {
    F_ARR("keys", dp_msg_keys, keys, n_keys, DP_MSG_MAX_RUNNERS, &key_info_schema),
};
static const dp_schema keys_schema = SCHEMA(keys, dp_msg_keys, keys_fields);

static const dp_field key_revoke_fields[] = {
    F_STR("key", dp_msg_key_revoke, key, DP_MSG_MAX_NAME),
};
static const dp_schema key_revoke_schema = SCHEMA(key_revoke, dp_msg_key_revoke, key_revoke_fields);

static const dp_field job_list_fields[] = {
    F_STR("st", dp_msg_job_list, state, DP_MSG_MAX_NAME),
    F_STR("prof", dp_msg_job_list, profile, DP_MSG_MAX_NAME),
    F_SCALAR("lim", DP_F_U32, dp_msg_job_list, limit),
    F_STR("after", dp_msg_job_list, after, DP_MSG_MAX_NAME),
};
static const dp_schema job_list_schema = SCHEMA(job_list, dp_msg_job_list, job_list_fields);

static const dp_field jobs_fields[] = {
    F_ARR("jobs", dp_msg_jobs, jobs, n_jobs, DP_JOB_LIST_MAX, &view_schema),
    F_STR("next", dp_msg_jobs, next, DP_MSG_MAX_NAME),
};
static const dp_schema jobs_schema = SCHEMA(jobs, dp_msg_jobs, jobs_fields);

static const dp_field profile_info_fields[] = {
    F_STR("name", dp_profile_info, name, DP_MSG_MAX_NAME),
    F_SCALAR("n", DP_F_U32, dp_profile_info, runners),
    F_SCALAR("cap", DP_F_U32, dp_profile_info, capacity),
    F_STR("seen", dp_profile_info, last_seen, DP_MSG_MAX_TS),
};
static const dp_schema profile_info_schema = SCHEMA(profile, dp_profile_info, profile_info_fields);

static const dp_field profiles_fields[] = {
    F_ARR("profs", dp_msg_profiles, profiles, n_profiles, DP_MSG_MAX_RUNNERS, &profile_info_schema),
};
static const dp_schema profiles_schema = SCHEMA(profiles, dp_msg_profiles, profiles_fields);

static const dp_field result_item_fields[] = {
    F_OBJ("res", dp_result_item, result, &result_schema),
    F_SCALAR("retry", DP_F_BOOL, dp_result_item, retry),
};
static const dp_schema result_item_schema = SCHEMA(result_item, dp_result_item, result_item_fields);

static const dp_field slot_free_fields[] = {
    F_SCALAR("slot", DP_F_U32, dp_msg_slot_free, slot),
    F_ARR("res", dp_msg_slot_free, results, n_results, 1, &result_item_schema),
};
static const dp_schema slot_free_schema = SCHEMA(slot_free, dp_msg_slot_free, slot_free_fields);

static const dp_field complete_lease_fields[] = {
    F_ID("rid", dp_msg_complete_lease, runner_id),
    F_STR("rtok", dp_msg_complete_lease, runner_token, DP_MSG_MAX_TOKEN),
    F_ARR("res", dp_msg_complete_lease, results, n_results, DP_MSG_MAX_RESULTS,
          &result_item_schema),
    F_SCALAR("max", DP_F_U32, dp_msg_complete_lease, max_jobs),
    F_SCALAR("wait", DP_F_U32, dp_msg_complete_lease, wait_ms),
    F_ID("req", dp_msg_complete_lease, request_id),
    F_SCALAR("early", DP_F_BOOL, dp_msg_complete_lease, early),
};
static const dp_schema complete_lease_schema =
    SCHEMA(complete_lease, dp_msg_complete_lease, complete_lease_fields);

static const dp_field outcome_fields[] = {
    F_ID("jid", dp_result_outcome, job_id),
    F_SCALAR("att", DP_F_U32, dp_result_outcome, attempt),
    F_STR("o", dp_result_outcome, outcome, DP_MSG_MAX_NAME),
    F_STR("msg", dp_result_outcome, message, DP_MSG_MAX_STR),
};
static const dp_schema outcome_schema = SCHEMA(outcome, dp_result_outcome, outcome_fields);

static const dp_field completed_leased_fields[] = {
    F_ARR("outs", dp_msg_completed_leased, outcomes, n_outcomes, DP_MSG_MAX_RESULTS,
          &outcome_schema),
    F_ARR("jobs", dp_msg_completed_leased, jobs, n_jobs, DP_MSG_MAX_LEASE, &leased_job_schema),
};
static const dp_schema completed_leased_schema =
    SCHEMA(completed_leased, dp_msg_completed_leased, completed_leased_fields);

static const dp_field owner_check_fields[] = {
    F_SCALAR("c", DP_F_U32, dp_owner_check, code),
};
static const dp_schema owner_check_schema = SCHEMA(owner_check, dp_owner_check, owner_check_fields);

static const dp_field lease_for_fields[] = {
    F_SCALAR("gw", DP_F_U32, dp_msg_lease_for, gateway),
    F_SCALAR("rq", DP_F_U64, dp_msg_lease_for, req),
    F_SCALAR("id", DP_F_U64, dp_msg_lease_for, reply_id),
    F_OBJ("lease", dp_msg_lease_for, lease, &complete_lease_schema),
    F_OBJ("ans", dp_msg_lease_for, answer, &completed_leased_schema),
    F_STR("back", dp_msg_lease_for, back, DP_MSG_MAX_URL),
    F_ARR("chk", dp_msg_lease_for, checks, n_checks, DP_MSG_MAX_RESULTS, &owner_check_schema),
    F_SCALAR("chkms", DP_F_U64, dp_msg_lease_for, checked_ms),
};
static const dp_schema lease_for_schema = SCHEMA(lease_for, dp_msg_lease_for, lease_for_fields);

static const dp_field outcomes_fields[] = {
    F_ID("rid", dp_msg_outcomes, runner_id),
    F_ARR("outs", dp_msg_outcomes, outcomes, n_outcomes, DP_MSG_MAX_RESULTS, &outcome_schema),
};
static const dp_schema outcomes_schema = SCHEMA(outcomes, dp_msg_outcomes, outcomes_fields);

static const dp_field answer_fields[] = {
    F_BIN("b", dp_msg_answer, bytes, len, DP_MSG_MAX_SIZE),
};
static const dp_schema answer_schema = SCHEMA(answer, dp_msg_answer, answer_fields);

static const dp_schema empty_schema = {"empty", 0, NULL, 0};

static const struct {
    const char *name;
    const dp_schema *schema;
} types[DP_MSG_TYPE_COUNT] = {
    [DP_MSG_INVALID] = {NULL, &empty_schema},
    [DP_MSG_REGISTER] = {"register", &register_schema},
    [DP_MSG_REGISTERED] = {"registered", &registered_schema},
    [DP_MSG_HEARTBEAT] = {"heartbeat", &heartbeat_schema},
    [DP_MSG_ACK] = {"ack", &ack_schema},
    [DP_MSG_ERROR] = {"error", &error_schema},
    [DP_MSG_LEASE] = {"lease", &lease_schema},
    [DP_MSG_LEASED] = {"leased", &leased_schema},
    [DP_MSG_NONE] = {"none", &none_schema},
    [DP_MSG_COMPLETE] = {"complete", &complete_schema},
    [DP_MSG_CONFLICT] = {"conflict", &conflict_schema},
    [DP_MSG_NOT_FOUND] = {"not_found", &not_found_schema},
    [DP_MSG_DEREGISTER] = {"deregister", &deregister_schema},
    [DP_MSG_SUBMIT] = {"submit", &submit_schema},
    [DP_MSG_SUBMITTED] = {"submitted", &submitted_schema},
    [DP_MSG_STATUS] = {"status", &job_ref_schema},
    [DP_MSG_JOB] = {"job", &view_schema},
    [DP_MSG_LIST_RUNNERS] = {"list_runners", &empty_schema},
    [DP_MSG_RUNNERS] = {"runners", &runners_schema},
    [DP_MSG_QUEUE] = {"queue", &empty_schema},
    [DP_MSG_QUEUE_STATS] = {"queue_stats", &queue_stats_schema},
    [DP_MSG_CANCEL] = {"cancel", &job_ref_schema},
    [DP_MSG_REQUEUE] = {"requeue", &requeue_schema},
    [DP_MSG_DRAIN] = {"drain", &drain_schema},
    [DP_MSG_WAIT] = {"wait", &wait_schema},
    [DP_MSG_EVENT] = {"event", &event_schema},
    [DP_MSG_KEY_CREATE] = {"key_create", &key_create_schema},
    [DP_MSG_KEY] = {"key", &key_info_schema},
    [DP_MSG_KEY_LIST] = {"key_list", &empty_schema},
    [DP_MSG_KEYS] = {"keys", &keys_schema},
    [DP_MSG_KEY_REVOKE] = {"key_revoke", &key_revoke_schema},
    [DP_MSG_JOB_LIST] = {"job_list", &job_list_schema},
    [DP_MSG_JOBS] = {"jobs", &jobs_schema},
    [DP_MSG_PROFILE_LIST] = {"list_profiles", &empty_schema},
    [DP_MSG_PROFILES] = {"profiles", &profiles_schema},
    [DP_MSG_COMPLETE_LEASE] = {"complete_lease", &complete_lease_schema},
    [DP_MSG_COMPLETED_LEASED] = {"completed_leased", &completed_leased_schema},
    /* the in-process catalogue (dp_msg_encode_internal) */
    [DP_MSG_WAKE] = {"wake", &wake_schema},
    [DP_MSG_EVENTS] = {"events", &events_schema},
    [DP_MSG_SLOT_FREE] = {"slot_free", &slot_free_schema},
    [DP_MSG_PEERS] = {"peers", &peers_schema},
    [DP_MSG_STOPPING] = {"stopping", &empty_schema},
    [DP_MSG_LEAVE] = {"leave", &empty_schema},
    [DP_MSG_LEASE_FOR] = {"lease_for", &lease_for_schema},
    [DP_MSG_OUTCOMES] = {"outcomes", &outcomes_schema},
    [DP_MSG_REBUILD] = {"rebuild", &empty_schema},
    [DP_MSG_ANSWER] = {"answer", &answer_schema},
};

const char *dp_msg_type_name(dp_msg_type t)
{
    if ((unsigned)t >= DP_MSG_TYPE_COUNT)
        return NULL;
    return types[t].name;
}

bool dp_msg_is_internal(dp_msg_type t)
{
    return t >= DP_MSG_WIRE_COUNT && t < DP_MSG_TYPE_COUNT;
}

dp_msg_type dp_msg_type_parse(const char *name)
{
    for (int t = 1; name != NULL && t < DP_MSG_TYPE_COUNT; t++)
        if (strcmp(types[t].name, name) == 0)
            return (dp_msg_type)t;
    return DP_MSG_INVALID;
}

const dp_schema *dp_msg_body_schema(dp_msg_type t)
{
    if ((unsigned)t >= DP_MSG_TYPE_COUNT)
        return &empty_schema;
    return types[t].schema;
}

void *dp_msg_body(dp_msg *m)
{
    /* Every union member starts at the same address. */
    return &m->reg;
}

const void *dp_msg_body_const(const dp_msg *m)
{
    return &m->reg;
}

const char *dp_compare_wire_name(dp_compare c)
{
    return dp_compare_name(c);
}

const dp_schema *dp_spec_schema(void)
{
    return &spec_schema;
}
