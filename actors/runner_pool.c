#include "actors/runner_pool.h"

#include "actors/client.h"
#include "actors/executor.h"
#include "actors/lease_loop.h"
#include "actors/runner_client.h"
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
    actor *client;
    actor *loop;
    actor **slots;
    size_t n_slots;
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
    runner_client_config rcc = {cfg->dispatch_url, cfg->registration_token, cfg->name,
                                cfg->labels,       cfg->n_labels,           profiles,
                                n_profiles,        cfg->concurrency,        "0.1.0"};
    if ((p->client = runner_client_spawn(&rcc, err)) == NULL) {
        free(p->slots);
        free(p);
        return NULL;
    }
    const char *require = cfg->sandbox_require; /* "none" too: the sandbox warns about it */
    lease_loop_config lc = {cfg->dispatch_url, cfg->concurrency, cfg->lease_wait_ms, &p->stopping,
                            p->client};
    if ((p->loop = lease_loop_spawn(&lc, err)) == NULL ||
        runner_client_add_slot(p->client, p->loop, err) != DP_OK) {
        runner_pool_stop(p, 0);
        return NULL;
    }
    for (uint32_t i = 0; i < cfg->concurrency; i++) {
        executor_config ec = {
            .slot = (int)(cfg->slot_base + i),
            .index = i,
            .lease_loop = p->loop,
            .dispatch_url = cfg->dispatch_url,
            .exec = {.profiles_dir = cfg->profiles_dir,
                     .workdir = cfg->workdir,
                     .slot = (int)(cfg->slot_base + i),
                     .noop = cfg->noop,
                     .sandbox_require = require},
            .stopping = &p->stopping,
        };
        actor *slot = executor_spawn(&ec, err);
        if (slot == NULL) {
            runner_pool_stop(p, 0);
            return NULL;
        }
        p->slots[p->n_slots++] = slot;
        if (runner_client_add_slot(p->client, slot, err) != DP_OK) {
            runner_pool_stop(p, 0);
            return NULL;
        }
    }
    /* Executors are in place: the loop may start handing out jobs. */
    if (lease_loop_set_executors(p->loop, p->slots, (uint32_t)p->n_slots, err) != DP_OK) {
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
    runner_client_stopping(p->client, NULL);
    int64_t deadline = dp_now_ms() + grace_ms;
    int idle = 1;
    for (size_t i = 0; i < p->n_slots; i++) {
        int64_t left = deadline - dp_now_ms();
        nng_msg *m = NULL, *r = NULL;
        /* An executor answers only between jobs: a reply means it is idle for good. */
        if (left <= 0 || nng_msg_alloc(&m, 0) != 0 ||
            actor_call(p->slots[i], m, &r, (int)left, NULL) != DP_OK)
            idle = 0;
        if (r != NULL)
            nng_msg_free(r);
    }
    runner_client_deregister(p->client, NULL); /* releases what is still leased */
    /* The loop may hand out a job it got just before the drain: it is
     * released above (deregister) and the executors are no longer asked. */
    if (!idle) {
        dp_log(DP_LOG_WARN, "runner_grace_expired", (char *)NULL);
        return 0; /* slots still inside a job cannot be joined: the caller exits */
    }
    actor_destroy(p->loop);
    for (size_t i = 0; i < p->n_slots; i++)
        actor_destroy(p->slots[i]);
    actor_destroy(p->client);
    free(p->slots);
    free(p);
    return 1;
}
