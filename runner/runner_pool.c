#include "runner/runner_pool.h"

#include "runner/runner_link.h"

#include "actors/actor.h"
#include "runner/executor.h"
#include "runner/job_feeder.h"
#include "runner/runner_session.h"
#include "runner/runner_http.h"
#include "runner/runner_status.h"
#include "common/clock.h"
#include "common/log.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_MAX_PROFILES 64

struct runner_pool {
    atomic_int stopping; /* the stop flag the executors read */
    actor *session;
    actor *feeder;
    actor **slots;
    size_t n_slots;
    actor_group *executors; /* the slots' shared work queue (actors/actor_group.h) */
    actor *status;          /* with RUNNER_HTTP_LISTEN: the metrics (runner_status.h) */
    runner_http *http;      /* its HTTP server */
};

/* The profiles installed here: every *.json name in the profiles dir. */
static size_t list_profiles(const char *dir, char names[][64], size_t max)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while (d != NULL && n < max && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && len < 64 && strcmp(e->d_name + len - 5, ".json") == 0) {
            snprintf(names[n], 64, "%.*s", (int)(len - 5), e->d_name);
            n++;
        }
    }
    if (d != NULL)
        closedir(d);
    return n;
}

runner_pool *runner_pool_start(const runner_pool_config *cfg, dp_err *err)
{
    runner_pool *p = calloc(1, sizeof *p);
    if (p == NULL || (p->slots = calloc(cfg->concurrency, sizeof *p->slots)) == NULL) {
        free(p);
        dp_err_set(err, DP_ENOMEM, "runner: out of memory");
        return NULL;
    }
    atomic_init(&p->stopping, 0);
    char names[POOL_MAX_PROFILES][64];
    const char *profiles[POOL_MAX_PROFILES];
    size_t n_profiles = list_profiles(cfg->profiles_dir, names, POOL_MAX_PROFILES);
    for (size_t i = 0; i < n_profiles; i++)
        profiles[i] = names[i];
    if (cfg->http_listen != NULL && cfg->http_listen[0] != '\0') {
        if ((p->status = runner_status_spawn(cfg->concurrency, cfg->dispatch_url, err)) == NULL ||
            (p->http = runner_http_start(cfg->http_listen, p->status, err)) == NULL) {
            actor_destroy(p->status);
            free(p->slots);
            free(p);
            return NULL;
        }
    }
    runner_session_config rcc = {cfg->dispatch_url, cfg->registration_token, cfg->name,
                                 cfg->labels,       cfg->n_labels,           profiles,
                                 n_profiles,        cfg->concurrency,        DP_VERSION,
                                 p->status};
    if ((p->session = runner_session_spawn(&rcc, err)) == NULL) {
        runner_http_stop(p->http);
        actor_destroy(p->status);
        free(p->slots);
        free(p);
        return NULL;
    }
    const char *require = cfg->sandbox_require; /* "none" too: the sandbox warns about it */
    /* Room for every slot's job and a few handed out in a stop's race. */
    if ((p->executors = actor_group_new(cfg->concurrency + 16, cfg->concurrency, err)) == NULL) {
        runner_pool_stop(p, 0);
        return NULL;
    }
    job_feeder_config lc = {cfg->dispatch_url,  cfg->concurrency, p->executors,
                            cfg->lease_wait_ms, &p->stopping,     p->session};
    if ((p->feeder = job_feeder_spawn(&lc, err)) == NULL ||
        runner_session_add_slot(p->session, p->feeder, err) != DP_OK) {
        runner_pool_stop(p, 0);
        return NULL;
    }
    for (uint32_t i = 0; i < cfg->concurrency; i++) {
        executor_config ec = {
            .slot = (int)(cfg->slot_base + i),
            .index = i,
            .job_feeder = p->feeder,
            .group = p->executors,
            .exec = {.profiles_dir = cfg->profiles_dir,
                     .workdir = cfg->workdir,
                     .slot = (int)(cfg->slot_base + i),
                     .noop = cfg->noop,
                     .sweep_stale = 1, /* slots are this runner's alone */
                     .sandbox_require = require,
                     .fetch_allow_file = cfg->fetch_allow_file,
                     .fetch_allow_cidrs = cfg->fetch_allow_cidrs,
                     .workspace_bytes = cfg->workspace_bytes},
            .status = p->status,
        };
        actor *slot = executor_spawn(&ec, err);
        if (slot == NULL) {
            runner_pool_stop(p, 0);
            return NULL;
        }
        p->slots[p->n_slots++] = slot;
        if (runner_session_add_slot(p->session, slot, err) != DP_OK) {
            runner_pool_stop(p, 0);
            return NULL;
        }
    }
    /* Executors are in place: the loop may start handing out jobs. */
    if (job_feeder_set_executors(p->feeder, p->slots, (uint32_t)p->n_slots, err) != DP_OK) {
        runner_pool_stop(p, 0);
        return NULL;
    }
    return p;
}

int runner_pool_stop(runner_pool *p, uint32_t grace_ms)
{
    if (p == NULL)
        return 1;
    atomic_store(&p->stopping, 1);
    /* The dispatcher ends our waiting leases; running jobs finish within the grace. */
    runner_session_stopping(p->session, NULL);
    int64_t deadline = dp_now_ms() + grace_ms;
    int idle = 1;
    for (size_t i = 0; i < p->n_slots; i++) {
        int64_t left = deadline - dp_now_ms();
        /* An executor answers only between jobs: a reply means it is idle for good. */
        dp_msg stopping = {.type = DP_MSG_STOPPING};
        if (left <= 0 || runner_link_command(p->slots[i], &stopping, (int)left, NULL) != DP_OK)
            idle = 0;
    }
    /* The results the executors handed in reach the dispatcher before the
     * runner leaves: deregistering would release (and rerun) their jobs. */
    if (p->feeder != NULL)
        job_feeder_flush(p->feeder, NULL);       /* undelivered ones: their jobs are reclaimed */
    runner_session_deregister(p->session, NULL); /* releases what is still leased */
    /* The loop may hand out a job it got just before the drain: it is
     * released above (deregister) and the executors are no longer asked. */
    if (!idle) {
        dp_log(DP_LOG_WARN, "runner_grace_expired", (char *)NULL);
        return 0; /* slots still inside a job cannot be joined: the caller exits */
    }
    actor_destroy(p->feeder);
    for (size_t i = 0; i < p->n_slots; i++)
        actor_destroy(p->slots[i]);
    actor_group_free(p->executors); /* after its members */
    actor_destroy(p->session);
    runner_http_stop(p->http); /* before the actor it asks */
    actor_destroy(p->status);
    free(p->slots);
    free(p);
    return 1;
}
