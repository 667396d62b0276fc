/* The job domain types every module shares: the spec a producer submits and
 * the result a runner reports. All strings are NUL-terminated and heap-owned
 * by the struct that holds them; dp_job_spec_free / dp_job_result_free release
 * everything (and accept NULL). A NULL optional string means "not given". */
#ifndef DP_JOB_H
#define DP_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef enum {
    DP_VERDICT_NONE = 0, /* not judged yet (JSON null) */
    DP_VERDICT_AC,       /* accepted */
    DP_VERDICT_WA,       /* wrong answer */
    DP_VERDICT_TLE,      /* time limit exceeded */
    DP_VERDICT_MLE,      /* memory limit exceeded */
    DP_VERDICT_RE,       /* runtime error */
    DP_VERDICT_OLE,      /* output limit exceeded */
    DP_VERDICT_CE,       /* setup (compile) failed, missing file, bad archive */
    DP_VERDICT_SE        /* system error: ours, not the submission's */
} dp_verdict;

typedef enum {
    DP_JOB_QUEUED = 0,
    DP_JOB_LEASED,
    DP_JOB_COMPLETED,
    DP_JOB_FAILED,
    DP_JOB_CANCELLED
} dp_job_state;

typedef enum {
    DP_COMPARE_DEFAULT = 0, /* the profile's choice (exact unless it says) */
    DP_COMPARE_EXACT,
    DP_COMPARE_LINES,  /* trailing whitespace per line, trailing blank lines ignored */
    DP_COMPARE_TOKENS, /* the whitespace-separated tokens must be equal */
    DP_COMPARE_FLOAT,  /* tokens; numbers equal within abs_tol or rel_tol */
    DP_COMPARE_CUSTOM  /* the profile's checker program (default ./checker from the archive) */
} dp_compare;

/* Tolerances of the float comparison when neither the test nor the job sets
 * one; a token pair matches when |a-b| <= abs_tol or |a-b| <= rel_tol*|b|. */
#define DP_FLOAT_TOL_DEFAULT 1e-6
#define DP_FLOAT_TOL_MAX 1e9  /* abs_tol, rel_tol */
#define DP_TEST_SCORE_MAX 1e6 /* tests[].score (a weight) */

/* Limits: 0 means "not set here" (the profile's value applies). */
typedef struct {
    uint32_t time_ms;   /* CPU time per test */
    uint32_t wall_ms;   /* wall time per test */
    uint64_t memory_kb; /* address space / cgroup memory */
    uint32_t processes; /* processes and threads */
    uint64_t output_kb; /* stdout+stderr per test */
} dp_limits;

typedef struct {
    char *name;
    char *stdin_data;      /* may be NULL: empty stdin */
    char *expected_stdout; /* may be NULL: only the exit status counts */
    uint32_t timeout_ms;   /* 0: the job's or profile's time limit */
    dp_compare compare;
    double abs_tol, rel_tol; /* float compare; both 0: the job's, else DP_FLOAT_TOL_DEFAULT */
    double score;            /* weight in the job's score (JSON default 1); when every
                              * test's is 0, the tests weigh the same */
} dp_test_case;

#define DP_MAX_TESTS 1024
#define DP_MAX_ATTEMPTS_LIMIT 100
#define DP_ID_MAX 128 /* job, runner and submission ids */

/* Bounds of a job spec (dp_job_spec_check; the JSON parser and the message
 * decoder both enforce them). */
#define DP_SPEC_TEXT_MAX (16u << 20)   /* whole JSON text of one submit */
#define DP_SPEC_BATCH_MAX 10000        /* specs in one JSON array */
#define DP_PROFILE_NAME_MAX 64         /* [A-Za-z0-9_.-] */
#define DP_URL_MAX 4096                /* archive URL */
#define DP_TEST_NAME_MAX 128           /* printable, no control chars */
#define DP_TEST_DATA_MAX (1u << 20)    /* stdin and expected_stdout, each */
#define DP_TIMEOUT_MS_MAX 600000u      /* tests[].timeout_ms, limits.time_ms */
#define DP_WALL_MS_MAX 3600000u        /* limits.wall_ms */
#define DP_MEMORY_KB_MAX (64ull << 20) /* limits.memory_kb: 64 GiB */
#define DP_PROCESSES_MAX 4096u         /* limits.processes */
#define DP_OUTPUT_KB_MAX (1ull << 20)  /* limits.output_kb: 1 GiB */
#define DP_JOB_LABELS_MAX 16           /* labels a job may require */
#define DP_LABEL_MAX 64                /* [A-Za-z0-9_.-], starting alphanumeric */

/* A job's priority: a runner takes higher first, with a fair share for lower
 * ones (docs/redis.md, "Priorities"). NORMAL is 0 so a spec without one is
 * normal. */
typedef enum { DP_PRIORITY_NORMAL = 0, DP_PRIORITY_HIGH = 1, DP_PRIORITY_LOW = 2 } dp_priority;

typedef struct {
    char *job_id; /* set by the dispatcher at submit; NULL in a producer's spec */
    char *profile;
    char *archive;        /* URL: file://, http://, https:// */
    char *archive_sha256; /* 64 lower-case hex chars, or NULL */
    char *submission_id;  /* the producer's own id, or NULL */
    dp_test_case *tests;
    size_t n_tests;
    dp_limits limits;
    uint32_t max_attempts;   /* 0: the dispatcher's default */
    double abs_tol, rel_tol; /* float compare for tests that set neither; 0 = default */
    char *callback_url;      /* http(s):// POSTed the job JSON when it ends, or NULL */
    char **labels;           /* runner labels the job requires (all of them); may be NULL */
    size_t n_labels;
    uint32_t priority; /* a dp_priority */
} dp_job_spec;

typedef struct {
    char *name;
    dp_verdict verdict;
    int exit_code; /* -1 when killed by a signal or not run */
    int signal;    /* 0 when none */
    uint32_t time_ms;
    uint32_t wall_ms;
    uint64_t memory_kb;
    char *stdout_excerpt; /* head and tail, with a marker when cut */
    char *stderr_excerpt;
    char *message; /* the checker's word on it (why not AC, a partial score); may be NULL */
} dp_test_result;

typedef struct {
    char *job_id;
    uint32_t attempt;
    dp_verdict verdict;
    double score;  /* weighted share of AC tests x 100 (tests[].score weights) */
    char *message; /* why, when not AC; may be NULL */
    dp_test_result *tests;
    size_t n_tests;
    char *log; /* the whole capped log; may be NULL */
    size_t log_len;
} dp_job_result;

/* What `dispatchctl status` shows: the job as PostgreSQL records it.
 * Timestamps are RFC 3339 UTC strings, NULL when not reached. */
typedef struct {
    char *job_id;
    char *submission_id;
    char *profile;
    dp_job_state state;
    dp_verdict verdict; /* NONE until terminal */
    double score;
    uint32_t attempts;
    char *runner_id;
    char *message;
    dp_test_result *tests;
    size_t n_tests;
    char *log_url;
    char *created_at;
    char *started_at;
    char *finished_at;
    /* The job's latest callback delivery (docs/api.md), NULL state when none */
    char *callback_state; /* "pending", "delivered", "failed" */
    uint32_t callback_attempts;
    char *callback_error; /* the last failure, or NULL */
    /* Routing, from the spec: the runner labels it requires (comma-joined,
     * "" or NULL for none) and its priority ("high", "normal", "low"; NULL
     * reads as normal). */
    char *labels;
    char *priority;
} dp_job_view;

/* One row of `dispatchctl runners`. */
typedef struct {
    char *runner_id;
    char *name;
    int alive;
    int draining;
    uint32_t capacity;
    uint32_t leased_jobs;
    char **labels;
    size_t n_labels;
    char *version;
    char *last_seen; /* RFC 3339 UTC */
} dp_runner_info;

/* One queue's depth: the pending jobs of one profile x label set x priority,
 * and how many live runners can take them (0: they wait for such a runner). */
typedef struct {
    char *profile;
    char *labels;   /* sorted, comma-joined; "" for none */
    char *priority; /* "high", "normal" or "low" */
    uint64_t depth;
    uint32_t runners; /* live, not draining runners that can take the queue */
} dp_queue_depth;

#define DP_QUEUES_MAX 4096 /* queue rows in one queue_stats reply */

/* `dispatchctl queue`. queues: heap array (members heap too), NULL when not
 * asked for: dp_queue_stats_free. */
typedef struct {
    uint64_t pending;
    uint64_t leased;
    uint64_t dead;
    uint64_t completed;
    uint64_t runners_alive;
    uint64_t runners_draining; /* live and draining; counted only with the queue rows */
    dp_queue_depth *queues;
    size_t n_queues;
} dp_queue_stats;

void dp_job_view_free(dp_job_view *v);       /* frees members */
void dp_runner_info_free(dp_runner_info *r); /* frees members */
void dp_queue_stats_free(dp_queue_stats *s); /* frees the queue rows, not s */

const char *dp_priority_name(uint32_t p);            /* "high", "normal", "low"; NULL if unknown */
int dp_priority_parse(const char *s, uint32_t *out); /* 0, or DP_EINVAL */
/* Whether a label is [A-Za-z0-9_.-], 1..DP_LABEL_MAX chars, starting alphanumeric. */
int dp_label_ok(const char *s);

/* A new id: prefix followed by 32 lower-case hex chars, the wall clock's
 * milliseconds (48 bits) then 80 random bits (getrandom). Time first, so
 * ids made later sort after (to the millisecond; at random within one):
 * a new job's key goes to the right edge of the jobs table's primary key,
 * where PostgreSQL's insert skips the descent and finds the pages it just
 * wrote in memory, instead of a random leaf of an ever larger index (the
 * insert 16.1 -> 13.6 us a row, docs/bench.md, twenty-eighth session). Ids
 * are names, never secrets. out must hold strlen(prefix) + 33 bytes.
 * Returns 0 or -1. */
int dp_new_id(const char *prefix, char *out, size_t out_len);

const char *dp_verdict_name(dp_verdict v);            /* "AC"...; NULL for NONE */
int dp_verdict_parse(const char *s, dp_verdict *out); /* 0, or DP_EINVAL */
const char *dp_job_state_name(dp_job_state s);
int dp_job_state_parse(const char *s, dp_job_state *out);
const char *dp_compare_name(dp_compare c);            /* "exact"...; NULL for DEFAULT */
int dp_compare_parse(const char *s, dp_compare *out); /* 0, or DP_EINVAL */
int dp_job_state_terminal(dp_job_state s);

/* The one check of a job spec's meaning, wherever it came from (a producer's
 * JSON, a submit message, a stored row): profile [A-Za-z0-9_.-] starting
 * alphanumeric; archive http://, https:// or file:// with an absolute path
 * (scheme in lower case), no spaces or control characters; archive_sha256 64
 * lower-case hex; ids [A-Za-z0-9_.:-]; names without control characters;
 * counts and limits within the bounds above; callback_url as
 * dp_callback_url_problem (common/addr_policy.h) says. DP_EINVAL naming the field,
 * prefixed with `what` and a dot when what is not empty ("spec.profile"). */
int dp_job_spec_check(const dp_job_spec *spec, const char *what, dp_err *err);

void dp_job_spec_free(dp_job_spec *spec);     /* frees members, not spec itself */
void dp_job_result_free(dp_job_result *res);  /* frees members, not res itself */
void dp_test_case_free(dp_test_case *tc);     /* frees members */
void dp_test_result_free(dp_test_result *tr); /* frees members */

#endif
