/* dispatchctl: the admin CLI (README.md). Every command takes --json,
 * --help and --url (default $DISPATCH_ADMIN_URL).
 * Exit codes: 0 ok, 64 usage, 65 bad input, 69 dispatcher unreachable,
 * 70 internal, 75 a submit over the API key's quota (retry later), 77 refused
 * (API key missing, wrong, revoked or without the scope), 78 configuration
 * (the environment);
 * `wait`: 0 AC, 1 other verdict, 2 failed/cancelled, 3 timeout. */
#include "cmd/dispatchctl.h"

#include "actors/actor.h"
#include "actors/actor_urls.h"
#include "cmd/dispatchctl_keys.h"
#include "common/config.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    /* --json anywhere: every error, usage ones too, is JSON on stderr */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            ctl_errors_as_json(1);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(ctl_usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? EX_USAGE_ : EX_OK_;
    }
    if (strcmp(argv[1], "--version") == 0) {
        puts("dispatchctl " DP_VERSION);
        return EX_OK_;
    }
    const char *cmd = argv[1];
    static const char *const commands[] = {"submit",  "status", "wait",   "watch",
                                           "runners", "queue",  "cancel", "requeue",
                                           "drain",   "apikey", "jobs",   "profiles"};
    int known = 0;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        known |= strcmp(cmd, commands[i]) == 0;
    if (!known)
        return ctl_usage_error(cmd[0] == '-' ? "'%s' before the command: dispatchctl COMMAND "
                                               "[options]"
                                             : "unknown command '%s'",
                               cmd);
    cli_args a = {0};
    int rc = ctl_parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    ctl_errors_as_json(a.json);
    dp_err err = {0};
    if (dp_log_configure(&err) != DP_OK)
        return ctl_config_error(&err);
    if (a.url == NULL) {
        if (dp_config_url("DISPATCH_ADMIN_URL", NULL, "ipc,tcp,tls+tcp,inproc", &a.url, &err) !=
            DP_OK) {
            size_t l = strlen(err.msg);
            snprintf(err.msg + l, sizeof err.msg - l, " (or pass --url)");
            return ctl_config_error(&err);
        }
    } else if (dp_config_check_url("--url", a.url, "ipc,tcp,tls+tcp,inproc", &err) != DP_OK) {
        return ctl_usage_error("%s", err.msg);
    }
    if (strncmp(a.url, "tls+tcp", 7) == 0) {
        const char *ca = NULL, *name = NULL;
        if (dp_config_file("DISPATCH_TLS_CA_FILE", NULL, &ca, &err) != DP_OK ||
            dp_config_string("DISPATCH_TLS_SERVER_NAME", "", &name, &err) != DP_OK ||
            actor_tls_configure(NULL, ca, name[0] ? name : NULL, &err) != DP_OK)
            return ctl_config_error(&err);
    }
    char *key = NULL;
    if (ctl_key_from_env(&key, &err) != DP_OK)
        return err.code == DP_ENOMEM ? ctl_fail(err.code, &err) : ctl_config_error(&err);
    dpc *c = dpc_open(a.url, 10000, &err);
    if (c != NULL && dpc_set_key(c, key, &err) != DP_OK) {
        dpc_close(c);
        c = NULL;
    }
    if (key != NULL) {
        memset(key, 0, strlen(key));
        free(key);
    }
    if (c == NULL)
        return ctl_fail(err.code, &err);
    if (strcmp(cmd, "submit") == 0)
        rc = ctl_submit(c, &a);
    else if (strcmp(cmd, "status") == 0)
        rc = ctl_status(c, &a);
    else if (strcmp(cmd, "wait") == 0)
        rc = ctl_wait(c, &a);
    else if (strcmp(cmd, "watch") == 0)
        rc = ctl_watch(c, &a);
    else if (strcmp(cmd, "runners") == 0)
        rc = ctl_runners(c, &a);
    else if (strcmp(cmd, "queue") == 0)
        rc = ctl_queue(c, &a);
    else if (strcmp(cmd, "jobs") == 0)
        rc = ctl_jobs(c, &a);
    else if (strcmp(cmd, "profiles") == 0)
        rc = ctl_profiles(c, &a);
    else if (strcmp(cmd, "apikey") == 0) {
        ctl_apikey_args ka = {a.n_positional > 0 ? a.positional[0] : NULL,
                              a.n_positional > 1 ? a.positional[1] : NULL,
                              a.scope,
                              a.max_queued,
                              a.per_minute,
                              a.json};
        int r = ctl_apikey(c, &ka, &err);
        rc = r == DP_OK ? EX_OK_ : ctl_fail(r, &err);
    } else
        rc = ctl_admin(c, cmd, &a);
    dpc_close(c);
    return rc;
}
