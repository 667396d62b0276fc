/* Profile parsing, validation and the mtime-checked cache; see profile.h. */
#include "runner/exec/profile.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROFILE_LIST_MAX 256

static void command_free(exec_command *c)
{
    for (size_t i = 0; c->argv != NULL && c->argv[i] != NULL; i++)
        free(c->argv[i]);
    free(c->argv);
    free(c->text);
    c->argv = NULL;
    c->text = NULL;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void exec_profile_free(exec_profile *p)
{
    if (p == NULL)
        return;
    free(p->name);
    free(p->language);
    strv_free(p->required_files, p->n_required);
    for (size_t i = 0; i < p->n_setup; i++)
        command_free(&p->setup[i]);
    free(p->setup);
    command_free(&p->test_command);
    command_free(&p->run_command);
    command_free(&p->checker);
    strv_free(p->env, p->n_env);
    free(p->junit_file);
    free(p->oom_message);
    free(p);
}

int exec_profile_name_ok(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > 64 || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/* Parsing context: the profile name and field path for messages. */
typedef struct {
    const char *name;
    dp_err *err;
} pctx;

#define PFAIL(pc, ...) pfail((pc), __VA_ARGS__)
__attribute__((format(printf, 2, 3))) static int pfail(pctx *pc, const char *fmt, ...);

static int pfail(pctx *pc, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return dp_err_set(pc->err, DP_EINVAL, "profile %s: %s", pc->name, what);
}

static int parse_command(pctx *pc, const char *field, json_t *v, exec_command *out)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (s[0] == '\0')
            return PFAIL(pc, "field %s: empty command", field);
        out->argv = calloc(4, sizeof *out->argv);
        out->text = strdup(s);
        if (out->argv == NULL || out->text == NULL)
            return dp_err_set(pc->err, DP_ENOMEM, "out of memory");
        out->argv[0] = strdup("/bin/sh");
        out->argv[1] = strdup("-c");
        out->argv[2] = strdup(s);
        if (out->argv[0] == NULL || out->argv[1] == NULL || out->argv[2] == NULL)
            return dp_err_set(pc->err, DP_ENOMEM, "out of memory");
        return DP_OK;
    }
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > PROFILE_LIST_MAX)
        return PFAIL(pc, "field %s: must be a string or a non-empty array of strings", field);
    size_t n = json_array_size(v);
    out->argv = calloc(n + 1, sizeof *out->argv);
    if (out->argv == NULL)
        return dp_err_set(pc->err, DP_ENOMEM, "out of memory");
    size_t text_len = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(v, i);
        if (!json_is_string(a))
            return PFAIL(pc, "field %s[%zu]: must be a string", field, i);
        out->argv[i] = strdup(json_string_value(a));
        if (out->argv[i] == NULL)
            return dp_err_set(pc->err, DP_ENOMEM, "out of memory");
        text_len += strlen(out->argv[i]) + 1;
    }
    if (out->argv[0][0] == '\0')
        return PFAIL(pc, "field %s[0]: empty program", field);
    out->text = malloc(text_len);
    if (out->text == NULL)
        return dp_err_set(pc->err, DP_ENOMEM, "out of memory");
    out->text[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strcat(out->text, " ");
        strcat(out->text, out->argv[i]);
    }
    return DP_OK;
}

static int parse_strings(pctx *pc, const char *field, json_t *v, char ***out, size_t *n_out)
{
    if (!json_is_array(v) || json_array_size(v) > PROFILE_LIST_MAX)
        return PFAIL(pc, "field %s: must be an array of at most %d strings", field,
                     PROFILE_LIST_MAX);
    size_t n = json_array_size(v);
    *out = calloc(n + 1, sizeof **out);
    if (*out == NULL)
        return dp_err_set(pc->err, DP_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(v, i);
        if (!json_is_string(a) || json_string_length(a) == 0)
            return PFAIL(pc, "field %s[%zu]: must be a non-empty string", field, i);
        (*out)[i] = strdup(json_string_value(a));
        if ((*out)[i] == NULL)
            return dp_err_set(pc->err, DP_ENOMEM, "out of memory");
        *n_out = i + 1;
    }
    return DP_OK;
}

static int parse_uint(pctx *pc, const char *field, json_t *v, uint64_t max, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || (uint64_t)json_integer_value(v) > max)
        return PFAIL(pc, "field %s: must be an integer from 1 to %llu", field,
                     (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return DP_OK;
}

static int parse_limits(pctx *pc, const char *field, json_t *v, dp_limits *out)
{
    if (!json_is_object(v))
        return PFAIL(pc, "field %s: must be an object", field);
    static const char *const keys[] = {"time_ms", "wall_ms", "memory_kb", "processes", "output_kb"};
    static const uint64_t maxes[] = {86400000, 86400000, 1ULL << 40, 1000000, 1ULL << 30};
    uint64_t vals[5];
    const char *key;
    json_t *item;
    json_object_foreach(v, key, item)
    {
        size_t k = 0;
        while (k < 5 && strcmp(key, keys[k]) != 0)
            k++;
        if (k == 5)
            return PFAIL(pc, "field %s.%s: unknown key", field, key);
    }
    for (size_t k = 0; k < 5; k++) {
        char f[64];
        snprintf(f, sizeof f, "%s.%s", field, keys[k]);
        json_t *x = json_object_get(v, keys[k]);
        if (x == NULL)
            return PFAIL(pc, "field %s: missing", f);
        int rc = parse_uint(pc, f, x, maxes[k], &vals[k]);
        if (rc != DP_OK)
            return rc;
    }
    out->time_ms = (uint32_t)vals[0];
    out->wall_ms = (uint32_t)vals[1];
    out->memory_kb = vals[2];
    out->processes = (uint32_t)vals[3];
    out->output_kb = vals[4];
    return DP_OK;
}

static int parse_env(pctx *pc, json_t *v, exec_profile *p)
{
    if (!json_is_object(v) || json_object_size(v) > PROFILE_LIST_MAX)
        return PFAIL(pc, "field environment: must be an object of at most %d strings",
                     PROFILE_LIST_MAX);
    p->env = calloc(json_object_size(v) + 1, sizeof *p->env);
    if (p->env == NULL)
        return dp_err_set(pc->err, DP_ENOMEM, "out of memory");
    const char *key;
    json_t *item;
    json_object_foreach(v, key, item)
    {
        if (key[0] == '\0' || strchr(key, '=') != NULL)
            return PFAIL(pc, "field environment: bad variable name '%s'", key);
        if (!json_is_string(item))
            return PFAIL(pc, "field environment.%s: must be a string", key);
        size_t n = strlen(key) + json_string_length(item) + 2;
        char *kv = malloc(n);
        if (kv == NULL)
            return dp_err_set(pc->err, DP_ENOMEM, "out of memory");
        snprintf(kv, n, "%s=%s", key, json_string_value(item));
        p->env[p->n_env++] = kv;
    }
    return DP_OK;
}

static int parse_enum(pctx *pc, const char *field, json_t *v, const char *const *names, size_t n,
                      int *out)
{
    const char *s = json_string_value(v);
    for (size_t i = 0; s != NULL && i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return DP_OK;
        }
    }
    char list[128] = "";
    for (size_t i = 0; i < n; i++) {
        strcat(list, i > 0 ? ", " : "");
        strcat(list, names[i]);
    }
    return PFAIL(pc, "field %s: must be one of %s", field, list);
}

static const char *const profile_keys[] = {
    "language",       "description",  "requiredFiles", "setupCommands", "testCommand",
    "runCommand",     "environment",  "maxTimeoutMs",  "limits",        "setupLimits",
    "compare",        "testFormat",   "junitFile",     "network",       "outOfMemoryMessage",
    "checkerCommand", "checkerLimits"};

static int parse_fields(pctx *pc, json_t *root, exec_profile *p)
{
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        size_t k = 0, nk = sizeof profile_keys / sizeof profile_keys[0];
        while (k < nk && strcmp(key, profile_keys[k]) != 0)
            k++;
        if (k == nk)
            return PFAIL(pc, "field %s: unknown key", key);
    }
    int rc;
    v = json_object_get(root, "language");
    if (!json_is_string(v) || json_string_length(v) == 0)
        return PFAIL(pc, "field language: missing or not a non-empty string");
    if ((p->language = strdup(json_string_value(v))) == NULL)
        return dp_err_set(pc->err, DP_ENOMEM, "out of memory");
    if ((v = json_object_get(root, "requiredFiles")) != NULL &&
        (rc = parse_strings(pc, "requiredFiles", v, &p->required_files, &p->n_required)) != 0)
        return rc;
    if ((v = json_object_get(root, "setupCommands")) != NULL) {
        if (!json_is_array(v) || json_array_size(v) > PROFILE_LIST_MAX)
            return PFAIL(pc, "field setupCommands: must be an array of commands");
        p->setup = calloc(json_array_size(v) + 1, sizeof *p->setup);
        if (p->setup == NULL)
            return dp_err_set(pc->err, DP_ENOMEM, "out of memory");
        for (size_t i = 0; i < json_array_size(v); i++) {
            char f[48];
            snprintf(f, sizeof f, "setupCommands[%zu]", i);
            p->n_setup = i + 1;
            if ((rc = parse_command(pc, f, json_array_get(v, i), &p->setup[i])) != 0)
                return rc;
        }
    }
    if ((v = json_object_get(root, "testCommand")) != NULL &&
        (rc = parse_command(pc, "testCommand", v, &p->test_command)) != 0)
        return rc;
    if ((v = json_object_get(root, "runCommand")) != NULL &&
        (rc = parse_command(pc, "runCommand", v, &p->run_command)) != 0)
        return rc;
    if (p->test_command.argv == NULL && p->run_command.argv == NULL)
        return PFAIL(pc, "field testCommand: missing (give testCommand or runCommand)");
    if ((v = json_object_get(root, "environment")) != NULL && (rc = parse_env(pc, v, p)) != 0)
        return rc;
    if (p->env == NULL && (p->env = calloc(1, sizeof *p->env)) == NULL)
        return dp_err_set(pc->err, DP_ENOMEM, "out of memory");
    uint64_t t = 0;
    if ((v = json_object_get(root, "maxTimeoutMs")) == NULL)
        return PFAIL(pc, "field maxTimeoutMs: missing");
    if ((rc = parse_uint(pc, "maxTimeoutMs", v, 86400000, &t)) != 0)
        return rc;
    p->max_timeout_ms = (uint32_t)t;
    if ((v = json_object_get(root, "limits")) == NULL)
        return PFAIL(pc, "field limits: missing");
    if ((rc = parse_limits(pc, "limits", v, &p->limits)) != 0)
        return rc;
    p->setup_limits = p->limits;
    if ((v = json_object_get(root, "setupLimits")) != NULL &&
        (rc = parse_limits(pc, "setupLimits", v, &p->setup_limits)) != 0)
        return rc;
    static const char *const compares[] = {"exact", "lines", "tokens", "float", "custom"};
    int idx = 0;
    if ((v = json_object_get(root, "compare")) != NULL &&
        (rc = parse_enum(pc, "compare", v, compares, 5, &idx)) != 0)
        return rc;
    p->compare = (dp_compare)(DP_COMPARE_EXACT + idx); /* the enum's order */
    static const char *const formats[] = {"exit", "tap", "junit", "unittest"};
    idx = 0;
    if ((v = json_object_get(root, "testFormat")) != NULL &&
        (rc = parse_enum(pc, "testFormat", v, formats, 4, &idx)) != 0)
        return rc;
    p->format = (exec_test_format)idx;
    v = json_object_get(root, "junitFile");
    if (p->format == EXEC_FORMAT_JUNIT) {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_value(v)[0] == '/' ||
            strstr(json_string_value(v), "..") != NULL)
            return PFAIL(pc, "field junitFile: testFormat junit needs a relative path here");
        if ((p->junit_file = strdup(json_string_value(v))) == NULL)
            return dp_err_set(pc->err, DP_ENOMEM, "out of memory");
    } else if (v != NULL) {
        return PFAIL(pc, "field junitFile: only with testFormat junit");
    }
    if ((v = json_object_get(root, "network")) != NULL) {
        if (!json_is_boolean(v))
            return PFAIL(pc, "field network: must be true or false");
        p->network = json_is_true(v);
    }
    json_t *dflt = json_pack("[s]", "./checker");
    v = json_object_get(root, "checkerCommand");
    rc = dflt == NULL ? dp_err_set(pc->err, DP_ENOMEM, "out of memory")
                      : parse_command(pc, "checkerCommand", v != NULL ? v : dflt, &p->checker);
    json_decref(dflt);
    if (rc != DP_OK)
        return rc;
    p->checker_limits = p->limits;
    if ((v = json_object_get(root, "checkerLimits")) != NULL &&
        (rc = parse_limits(pc, "checkerLimits", v, &p->checker_limits)) != 0)
        return rc;
    if ((v = json_object_get(root, "outOfMemoryMessage")) != NULL) {
        if (!json_is_string(v) || json_string_length(v) == 0)
            return PFAIL(pc, "field outOfMemoryMessage: must be a non-empty string");
        if ((p->oom_message = strdup(json_string_value(v))) == NULL)
            return dp_err_set(pc->err, DP_ENOMEM, "out of memory");
    }
    if ((v = json_object_get(root, "description")) != NULL && !json_is_string(v))
        return PFAIL(pc, "field description: must be a string");
    return DP_OK;
}

int exec_profile_parse(const char *name, const char *json, size_t len, exec_profile **out,
                       dp_err *err)
{
    *out = NULL;
    pctx pc = {name, err};
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return PFAIL(&pc, "bad JSON at line %d column %d: %s", je.line, je.column, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return PFAIL(&pc, "must be a JSON object");
    }
    exec_profile *p = calloc(1, sizeof *p);
    int rc = p == NULL || (p->name = strdup(name)) == NULL
                 ? dp_err_set(err, DP_ENOMEM, "out of memory")
                 : parse_fields(&pc, root, p);
    json_decref(root);
    if (rc != DP_OK) {
        exec_profile_free(p);
        return rc;
    }
    *out = p;
    return DP_OK;
}
