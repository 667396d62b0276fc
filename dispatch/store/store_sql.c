/* Every SQL statement the store runs, prepared on each connection. Batches
 * arrive as one jsonb parameter and are expanded server side, so one round
 * trip carries any number of rows. Static storage. */
#include "dispatch/store/store_internal.h"

/* RFC 3339 UTC with milliseconds, as the Job object shows timestamps. */
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* Batches join their input to jobs. Each statement is planned once per
 * connection (a generic plan: planning cost more than running a small
 * batch) with seq scans disfavoured, so the plan probes the indexes
 * whatever the table's statistics said when it was made (store_conn.c). */

/* Row-by-id updates say "not terminal" by state, not by finished_at IS
 * NULL: the planner cannot match it to the partial index
 * jobs_unfinished_idx, so it probes the primary key per input row instead of
 * scanning the whole backlog (which it does with stale statistics). Every
 * statement that makes a job terminal sets finished_at, and one that makes
 * it open again clears it: a CHECK of migration 7 holds them to it. */
#define NOT_TERMINAL(col) col " NOT IN ('completed', 'failed', 'cancelled')"

/* The batch arrives as one typed array per column (unnest, see
 * store_results.c). A result lands only on a non-terminal job whose current attempt is the
 * result's (fenced on attempt as well as state): a stale attempt's result
 * is refused here even when its Redis owner check passed just before a
 * reclaim, because the newer lease has raised jobs.attempts. The UPDATE's
 * WHERE is re-checked after the row lock, so of two concurrent writers
 * exactly one wins. When a batch holds several results for one job, the
 * newest attempt is tried. Test rows are inserted only for jobs this
 * statement completed, fed by the UPDATE's RETURNING (no join back to the
 * input); the `completed` history row is the job row itself (the view
 * job_history, migration 10). The final SELECT gives each input
 * its outcome (see store_outcome): a recorded one is known from the UPDATE
 * alone; only the others (duplicates, stale, unknown: rare) look further,
 * through scalar subqueries that run for those rows only (another input of
 * the same job that was recorded, else the job row). Every part reads the
 * statement's snapshot, i.e. the jobs as they were before this batch. The
 * earlier form joined every input to the UPDATE's output by job id and to
 * jobs: a nested loop over the CTE (n x n comparisons in a generic plan)
 * and an index probe per row, in the common case of nothing to find. */
static const char sql_record_results[] =
    "WITH inp AS ("
    "  SELECT x.i::integer AS i, x.job_id, x.attempt, x.verdict, x.score, x.message,"
    "    x.runner_id, x.log_url, x.leased_us"
    "  FROM unnest($1::text[], $2::integer[], $3::text[], $4::float8[], $5::text[], $6::text[],"
    "    $7::text[], $8::bigint[]) WITH ORDINALITY"
    "    AS x(job_id, attempt, verdict, score, message, runner_id, log_url, leased_us, i)"
    "), upd AS ("
    "  UPDATE jobs j SET state = 'completed', verdict = f.verdict, score = f.score,"
    "    message = f.message, runner_id = coalesce(f.runner_id, j.runner_id),"
    "    log_url = f.log_url, result_attempt = f.attempt,"
    /* a folded lease (store_result_in.leased_us) starts the attempt, unless
     * its mark was written after all (a lease told twice) */
    "    started_at = coalesce(CASE WHEN j.state = 'leased' AND j.attempts = f.attempt"
    "      THEN j.started_at END,"
    "      'epoch'::timestamptz + f.leased_us * interval '1 microsecond', j.started_at),"
    "    attempts = greatest(j.attempts, f.attempt), finished_at = now()"
    "  FROM (SELECT DISTINCT ON (job_id) * FROM inp ORDER BY job_id, attempt DESC, i) f"
    "  WHERE j.id = f.job_id"
    "    AND j.state NOT IN ('completed', 'failed', 'cancelled') AND j.attempts <= f.attempt"
    "  RETURNING j.id, f.i, f.attempt, j.profile,"
    "    extract(epoch FROM clock_timestamp() - j.created_at)::float8 AS age"
    "), tr AS ("
    "  INSERT INTO test_results (job_id, attempt, idx, name, verdict, exit_code, signal,"
    "    time_ms, wall_ms, memory_kb, stdout, stderr, message)"
    "  SELECT u.id, u.attempt, t.idx, t.name, t.verdict, t.exit_code, t.signal, t.time_ms,"
    "    t.wall_ms, t.memory_kb, t.stdout, t.stderr, t.message"
    "  FROM upd u JOIN unnest($9::integer[], $10::integer[], $11::text[], $12::text[],"
    "    $13::integer[], $14::integer[], $15::bigint[], $16::bigint[], $17::bigint[],"
    "    $18::text[], $19::text[], $20::text[]) AS t(r, idx, name, verdict, exit_code, signal,"
    "    time_ms, wall_ms, memory_kb, stdout, stderr, message) ON t.r = u.i"
    "  ON CONFLICT DO NOTHING"
    ")"
    " SELECT n.i, CASE WHEN u.i IS NOT NULL THEN 0 ELSE coalesce("
    /* another input of this job was recorded: the same attempt is a
     * duplicate, an older one stale (the newest is the one tried) */
    "   (SELECT CASE WHEN u2.attempt = n.attempt THEN 1 WHEN u2.attempt > n.attempt THEN 4"
    "     ELSE 2 END FROM upd u2 WHERE u2.id = n.job_id),"
    "   (SELECT CASE WHEN j.state = 'completed' AND j.result_attempt = n.attempt THEN 1"
    "     WHEN j.state NOT IN ('completed', 'failed', 'cancelled') THEN 4 ELSE 2 END"
    "    FROM jobs j WHERE j.id = n.job_id),"
    "   3) END,"
    /* for metrics: the recorded job's profile and its age (submit to now) */
    " u.profile, u.age"
    " FROM inp n LEFT JOIN upd u ON u.i = n.i"
    " ORDER BY n.i";

/* clang-format off */
/* The job view's routing columns (0006): its labels comma-joined, its priority. */
#define VIEW_ROUTING                                                                       \
    "array_to_string(ARRAY(SELECT jsonb_array_elements_text(labels)), ','), priority"

static const char sql_list_jobs[] =
    "SELECT id, submission_id, profile, state, verdict, score, attempts, runner_id, message,"
    "  log_url, " TS("created_at") ", " TS("started_at") ", " TS("finished_at") ","
    "  (extract(epoch FROM created_at) * 1000000)::bigint, " VIEW_ROUTING ","
    "  (SELECT json_build_array(c.state, c.attempts, c.last_error)::text"
    "   FROM callbacks c WHERE c.job_id = jobs.id ORDER BY c.created_at DESC LIMIT 1)"
    " FROM jobs"
    " WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR profile = $2)"
    /* queued or leased: folds to the predicate of jobs_unfinished_idx (0007) */
    "  AND ($1::text IS NULL OR $1 NOT IN ('queued', 'leased') OR finished_at IS NULL)"
    "  AND ($3::text IS NULL OR owner_key = $3)"
    "  AND ($4::bigint IS NULL"
    "   OR (created_at, id) < ('epoch'::timestamptz + $4::bigint * interval '1 microsecond',"
    "     $5::text))"
    " ORDER BY created_at DESC, id DESC LIMIT $6::integer";
/* clang-format on */

const store_statement store_statements[] = {
    /* no history row: a job's `queued` row is made from created_at by the
     * view job_history (migration 10) */
    {ST_INSERT_JOBS,
     "INSERT INTO jobs (id, submission_id, profile, spec, max_attempts, owner_key)"
     " SELECT s->>'job_id', s->>'submission_id', s->>'profile', s,"
     "   (s->>'max_attempts')::integer, $2"
     " FROM jsonb_array_elements($1::jsonb) AS s"
     " ON CONFLICT (id) DO NOTHING",
     2},
    {ST_JOB_OWNER, "SELECT owner_key FROM jobs WHERE id = $1", 1},
    {ST_RECORD_RESULTS, sql_record_results, 20},
    /* The lease mark and its history row in one statement (only for leases
     * that changed the job: stale and terminal ones leave no row). The batch
     * is one typed array per column (store_marks.c): unnest is cheaper to
     * expand than jsonb_to_recordset (docs/store.md). */
    {ST_MARK_LEASED,
     "WITH u AS (UPDATE jobs j SET state = 'leased', attempts = x.attempt,"
     "  runner_id = x.runner_id,"
     "  started_at = coalesce('epoch'::timestamptz + x.at_us * interval '1 microsecond', now())"
     /* of two attempts of one job in a batch, the newest: an UPDATE takes
      * one input row per job, and an arbitrary one would leave the job at
      * the older (its `leased` row then missing, the attempt fence low) */
     " FROM (SELECT DISTINCT ON (job_id) * FROM unnest($1::text[], $2::integer[], $3::text[],"
     "   $4::bigint[]) AS x(job_id, attempt, runner_id, at_us) ORDER BY job_id, attempt DESC) x"
     " WHERE j.id = x.job_id AND j.state NOT IN ('completed', 'failed', 'cancelled')"
     /* Only a newer attempt than the job's: the same lease told twice (a
      * lease retried with its request id, on this replica or another,
      * answers the same jobs again) is no change, so one `leased` row per
      * (job, attempt); and a mark that comes after its attempt was requeued
      * (a runner-side failure told within a millisecond of the lease can
      * reach the reporter before the lease's event) leaves the job queued
      * with that attempt counted, not leased to a runner that gave it up. */
     "   AND j.attempts < x.attempt"
     " RETURNING j.id, x.attempt, x.runner_id, j.started_at)"
     " INSERT INTO job_events (job_id, state, attempt, runner_id, ts)"
     " SELECT id, 'leased', attempt, runner_id, started_at FROM u",
     4},
    /* Each transition writes its history row in its own statement: a crash
     * can lose neither without the other. */
    {ST_MARK_FAILED,
     "WITH u AS (UPDATE jobs j SET state = 'failed', verdict = 'SE', score = 0,"
     "  message = x.message, finished_at = now(),"
     "  attempts = greatest(j.attempts, coalesce(x.attempts, 0))"
     " FROM unnest($1::text[], $2::integer[], $3::text[]) AS x(job_id, attempts, message)"
     " WHERE j.id = x.job_id AND " NOT_TERMINAL(
         "j.state") ""
                    " RETURNING j.id, j.attempts, j.runner_id, x.message)"
                    " INSERT INTO job_events (job_id, state, attempt, runner_id, message)"
                    " SELECT id, 'failed', attempts, runner_id, message FROM u",
     3},
    {ST_MARK_CANCELLED,
     "WITH u AS (UPDATE jobs SET state = 'cancelled', finished_at = now(), message = $2"
     "  WHERE id = $1 AND " NOT_TERMINAL(
         "state") " RETURNING id, attempts),"
                  " ev AS (INSERT INTO job_events (job_id, state, attempt, message)"
                  "  SELECT id, 'cancelled', attempts, $2 FROM u)"
                  " SELECT (SELECT count(*) FROM u), (SELECT state FROM jobs WHERE id = $1)",
     2},
    {ST_REQUEUE,
     "WITH u AS (UPDATE jobs SET state = 'queued', verdict = NULL, score = NULL,"
     "  message = NULL, runner_id = NULL, started_at = NULL, finished_at = NULL,"
     "  attempts = CASE WHEN $2::boolean THEN 0 ELSE attempts END"
     "  WHERE id = $1 AND state IN ('leased', 'failed', 'cancelled') RETURNING id, attempts),"
     " ev AS (INSERT INTO job_events (job_id, state, attempt, message)"
     "  SELECT id, 'requeued', attempts, 'requeued by an operator' FROM u)"
     " SELECT (SELECT count(*) FROM u), (SELECT state FROM jobs WHERE id = $1)",
     2},
    /* Jobs a reclaim requeued (their runner was lost): back to queued, and
     * one `requeued` row per (job, attempt) whatever the order in which the
     * replicas' reporters hear of it. */
    {ST_MARK_REQUEUED,
     "WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb)"
     "   AS x(job_id text, attempt integer, runner_id text, message text) LIMIT $2),"
     " u AS (UPDATE jobs j SET state = 'queued', runner_id = NULL, started_at = NULL FROM x"
     "  WHERE j.id = x.job_id AND j.state = 'leased' AND j.attempts = x.attempt RETURNING j.id)"
     " INSERT INTO job_events (job_id, state, attempt, runner_id, message)"
     " SELECT x.job_id, 'requeued', x.attempt, x.runner_id, x.message FROM x"
     " WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.id = x.job_id)"
     "  AND NOT EXISTS (SELECT 1 FROM job_events e WHERE e.job_id = x.job_id"
     "   AND e.state = 'requeued' AND e.attempt = x.attempt)",
     2},
    /* A runner-side failure with attempts left: back to queued with its
     * `requeued` row; told twice (a retried complete), it changes nothing. */
    {ST_REQUEUE_RETRY,
     "WITH u AS (UPDATE jobs SET state = 'queued', runner_id = NULL, started_at = NULL,"
     "  attempts = $2::integer"
     "  WHERE id = $1 AND attempts <= $2::integer AND (state = 'leased'"
     "   OR (state = 'queued' AND attempts < $2::integer)) RETURNING id)"
     " INSERT INTO job_events (job_id, state, attempt, runner_id, message)"
     " SELECT id, 'requeued', $2::integer, $3, $4 FROM u",
     4},
    {ST_GET_JOB,
     "SELECT id, submission_id, profile, state, verdict, score, attempts, runner_id, message,"
     "  log_url, " TS("created_at") ", " TS("started_at") ", " TS(
         "finished_at") ","
                        "  result_attempt,"
                        "  (SELECT json_build_array(c.state, c.attempts, c.last_error)::text"
                        "   FROM callbacks c WHERE c.job_id = jobs.id"
                        "   ORDER BY c.created_at DESC LIMIT 1),"
                        "  " VIEW_ROUTING " FROM jobs WHERE id = $1",
     1},
    {ST_GET_TESTS,
     "SELECT name, verdict, exit_code, signal, time_ms, wall_ms, memory_kb, stdout, stderr,"
     " message"
     " FROM test_results WHERE job_id = $1 AND attempt = $2 ORDER BY idx",
     2},
    {ST_LIST_UNFINISHED,
     "SELECT id, state, attempts, runner_id, spec::text, " TS(
         "created_at") ","
                       "  to_char(created_at AT TIME ZONE 'UTC', "
                       "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
                       " FROM jobs WHERE finished_at IS NULL" /* jobs_unfinished_idx (0007) */
                       "  AND (created_at, id) > ($1::timestamptz, $2::text)"
                       " ORDER BY created_at, id LIMIT $3",
     3},
    {ST_COUNT_COMPLETED, "SELECT count(*) FROM jobs WHERE state = 'completed'", 0},
    {ST_KEY_CREATE,
     "INSERT INTO api_keys (id, name, secret_sha256, scopes, max_queued, submits_per_minute)"
     " VALUES ($1, $2, $3, $4::integer, $5::integer, $6::integer)"
     " ON CONFLICT DO NOTHING",
     6},
    {ST_KEY_GET,
     "SELECT name, secret_sha256, scopes, max_queued, submits_per_minute,"
     " revoked_at IS NOT NULL, " TS("created_at") " FROM api_keys WHERE id = $1",
     1},
    {ST_KEY_LIST,
     "SELECT id, name, scopes, max_queued, submits_per_minute, revoked_at IS NOT NULL, " TS(
         "created_at") " FROM api_keys ORDER BY created_at, id",
     0},
    {ST_KEY_REVOKE,
     "UPDATE api_keys SET revoked_at = now() WHERE (id = $1 OR name = $1) AND revoked_at IS NULL",
     1},
    {ST_UPSERT_RUNNER,
     "INSERT INTO runners (id, name, labels, capacity, version, state)"
     " VALUES ($1, $2, $3::jsonb, $4::integer, $5, $6)"
     " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, labels = EXCLUDED.labels,"
     "  capacity = EXCLUDED.capacity, version = EXCLUDED.version, state = EXCLUDED.state,"
     "  last_seen = now()",
     6},
    {ST_ADD_EVENTS,
     "INSERT INTO job_events (job_id, ts, state, attempt, runner_id, message)"
     " SELECT x.job_id,"
     "  CASE WHEN x.ts_ms > 0 THEN to_timestamp(x.ts_ms / 1000.0) ELSE now() END,"
     "  x.state, coalesce(x.attempt, 0), x.runner_id, x.message"
     " FROM jsonb_to_recordset($1::jsonb) AS x(job_id text, ts_ms bigint, state text,"
     "  attempt integer, runner_id text, message text)",
     1},
    /* GET /api/v1/jobs (store_list.c): keyset paging newest first. A custom
     * plan (store_call_custom) folds the absent filters away, so the planner
     * sees exactly the conditions given: an owner walks jobs_owner_idx,
     * everyone's jobs walk jobs_list_idx (0005), queued/leased ones
     * jobs_unfinished_idx backwards. The cursor's created_at is exact
     * (microseconds as integers, no float round trip). */
    {ST_LIST_JOBS, sql_list_jobs, 6},
    /* Max-queued quotas (store_quota.c): a transaction serialised per key
     * (an advisory lock on the key id), so the count it reads includes
     * every job another replica's reporter inserted for that key. */
    {ST_QUOTA_BEGIN, "BEGIN", 0},
    {ST_QUOTA_LOCK, "SELECT pg_advisory_xact_lock(1684107377, hashtext($1))", 1},
    /* Counts no further than the quota: a key far over it costs no more. */
    {ST_QUOTA_COUNT,
     "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE owner_key = $1"
     " AND finished_at IS NULL LIMIT $2::integer) q", /* queued or leased (0007) */
     2},
    {ST_QUOTA_COMMIT, "COMMIT", 0},
    /* Callback deliveries (store_callbacks.c). $1 rows at most, leased for
     * $2 ms (next_at moves past the attempt: a replica that dies mid-attempt
     * leaves it due again then), $3 attempts at most: a due row that used
     * them all (its last attempt cut off) fails in the same statement. */
    {ST_CB_CLAIM,
     "WITH spent AS ("
     "  UPDATE callbacks SET state = 'failed', last_error = coalesce(last_error || '; ', '')"
     "   || 'attempt ' || attempts || ' was cut off (dispatchd stopped during it)'"
     "  WHERE state = 'pending' AND next_at <= now() AND attempts >= $3::integer),"
     " due AS (SELECT delivery_id FROM callbacks"
     "  WHERE state = 'pending' AND next_at <= now() AND attempts < $3::integer"
     "  ORDER BY next_at LIMIT $1::integer FOR UPDATE SKIP LOCKED)"
     " UPDATE callbacks c SET attempts = c.attempts + 1,"
     "  next_at = now() + $2::integer * interval '1 millisecond'"
     " FROM due WHERE c.delivery_id = due.delivery_id"
     " RETURNING c.delivery_id, c.job_id, c.url, c.attempts",
     3},
    /* Fenced on the attempt: a replica whose lease ran out cannot overwrite
     * a later attempt's outcome; delivered at most once. */
    {ST_CB_DELIVERED,
     "UPDATE callbacks SET state = 'delivered', delivered_at = now()"
     " WHERE delivery_id = $1 AND attempts = $2::integer AND state = 'pending'",
     2},
    {ST_CB_FAILED,
     "UPDATE callbacks SET last_error = $3,"
     "  state = CASE WHEN $4::integer < 0 THEN 'failed' ELSE 'pending' END,"
     "  next_at = now() + greatest($4::integer, 0) * interval '1 millisecond'"
     " WHERE delivery_id = $1 AND attempts = $2::integer AND state = 'pending'",
     4},
    {ST_PROFILES_ADD,
     "INSERT INTO offered_profiles (profile) SELECT jsonb_array_elements_text($1::jsonb)"
     " ON CONFLICT (profile) DO NOTHING",
     1},
    {ST_PROFILES_LIST, "SELECT profile FROM offered_profiles ORDER BY profile", 0},
};

const size_t store_statements_count = sizeof store_statements / sizeof store_statements[0];
