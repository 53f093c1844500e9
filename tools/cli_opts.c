/*
 * cli_opts.c — the option parser the subcommands share (cli.h cli_parse_opts): a table of
 * options, each with a long name, an optional alias (a second long name or a one-letter short
 * name), a kind and where its value goes.
 */
#include "cli.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* "true"/"false" in any case (Python's str2bool in openai's CLI), also yes/no/1/0/on/off. */
static int parse_bool(const char *s, int *out)
{
    static const char *yes[] = { "true", "yes", "1", "on" }, *no[] = { "false", "no", "0", "off" };
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i]))
            return *out = 1, 0;
        if (!strcasecmp(s, no[i]))
            return *out = 0, 0;
    }
    return -1;
}

/* A finite float; CLI_OPT_FLOAT also takes "none" (NAN). */
static int parse_float(const char *s, int allow_none, float *out)
{
    if (allow_none && !strcasecmp(s, "none"))
        return *out = NAN, 0;
    char *end;
    float v = strtof(s, &end);
    if (!*s || *end || !isfinite(v))
        return -1;
    return *out = v, 0;
}

static int store_value(const cli_opt *o, const char *v)
{
    switch (o->kind) {
    case CLI_STR:
        *(const char **)o->dst = v;
        return 0;
    case CLI_LONG:
        return (*(long *)o->dst = cli_long(v)) < 0 ? -1 : 0;
    case CLI_FLOAT:
    case CLI_OPT_FLOAT:
        return parse_float(v, o->kind == CLI_OPT_FLOAT, o->dst);
    case CLI_BOOL:
        return parse_bool(v, o->dst);
    case CLI_STRS: {
        cli_strs *l = o->dst;
        if (l->n >= l->max)
            return -2;
        l->v[l->n++] = v;
        return 0;
    }
    case CLI_FLAG:
        break;
    }
    return -1;
}

/* Matches "--name", "--name=value" (with '-' or '_' between words) or "-x" against name. Sets
 * *inline_value to the part after '=' when there is one. */
static int opt_matches(const char *arg, const char *name, const char **inline_value)
{
    if (!name)
        return 0;
    *inline_value = NULL;
    if (strlen(name) == 1)
        return arg[0] == '-' && arg[1] == name[0] && arg[2] == '\0';
    if (arg[0] != '-' || arg[1] != '-')
        return 0;
    const char *a = arg + 2;
    size_t i = 0;
    for (; name[i]; i++)
        if (a[i] != name[i] && !(name[i] == '-' && a[i] == '_'))
            return 0;
    if (a[i] == '=')
        *inline_value = a + i + 1;
    return a[i] == '\0' || a[i] == '=';
}

static int opts_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hark %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 2;
}

/* See cli.h. */
int cli_parse_opts(const char *cmd, int argc, char **argv, const cli_opt *opts, int n_opts,
                   const char **pos, int max_pos, int *n_pos)
{
    *n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return 1;
        if (a[0] != '-' || !a[1] || !strcmp(a, "--")) {
            if (!strcmp(a, "--"))
                a = ++i < argc ? argv[i] : NULL;
            if (!a)
                continue;
            if (*n_pos >= max_pos)
                return opts_error(cmd, "unexpected argument '%s'", a);
            pos[(*n_pos)++] = a;
            continue;
        }
        const cli_opt *o = NULL;
        const char *v = NULL;
        for (int k = 0; k < n_opts && !o; k++)
            if (opt_matches(a, opts[k].name, &v) || opt_matches(a, opts[k].alias, &v))
                o = &opts[k];
        if (!o)
            return opts_error(cmd, "unknown option '%s'", a);
        if (o->kind == CLI_FLAG) {
            if (v)
                return opts_error(cmd, "%s takes no value", a);
            *(int *)o->dst = 1;
            continue;
        }
        if (!v && (v = i + 1 < argc ? argv[++i] : NULL) == NULL)
            return opts_error(cmd, "%s needs a value", a);
        const int e = store_value(o, v);
        if (e == -2)
            return opts_error(cmd, "%s given more than %d times", a,
                              ((const cli_strs *)o->dst)->max);
        if (e != 0)
            return opts_error(cmd, "bad value '%s' for --%s", v, o->name);
    }
    return 0;
}
