/*
 * twin's entry point: global options (--dir, --json, --help), then one subcommand from the table.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/ops.h"
#include "twin/global.h"

/* The commands. Their help, man pages and completion come from doc/cli/ (tools/gendocs), whose
 * twin.txt orders them for the overview: a command added here needs its page there
 * (doc/cli/README.md). */
static const struct cli_command commands[] = {
    {"init", cmd_init},
    {"id", cmd_id},
    {"invite", cmd_invite},
    {"join", cmd_join},
    {"member", cmd_member},
    {"proposals", cmd_proposals},
    {"approve", cmd_approve},
    {"policy", cmd_policy},
    {"key", cmd_key},
    {"backup", cmd_backup},
    {"restore", cmd_restore},
    {"add", cmd_add},
    {"share", cmd_share},
    {"attach", cmd_attach},
    {"get", cmd_get},
    {"set", cmd_set},
    {"edit", cmd_edit},
    {"confirm", cmd_confirm},
    {"show", cmd_show},
    {"list", cmd_list},
    {"search", cmd_search},
    {"withdraw", cmd_withdraw},
    {"erase", cmd_erase},
    {"log", cmd_log},
    {"blame", cmd_blame},
    {"report", cmd_report},
    {"status", cmd_status},
    {"schema", cmd_schema},
    {"checkpoints", cmd_checkpoints},
    {"verify", cmd_verify},
    {"import", cmd_import},
    {"export", cmd_export},
    {"peer", cmd_peer},
    {"sync", cmd_sync},
    {"serve", cmd_serve},
    {"config", cmd_config},
    {"conflicts", cmd_conflicts},
    {"resolve", cmd_resolve},
};

_Static_assert(sizeof(commands) / sizeof(commands[0]) == TWIN_CLI_PAGES,
               "one page in doc/cli/ for each command, and one command for each page");

const struct cli_command *cli_find(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_overview(FILE *f)
{
    fputs(cli_help_overview, f);
}

void cli_print_help(const struct cli_command *cmd)
{
    for (size_t i = 0; i < cli_help_count; i++) {
        if (strcmp(cli_help_pages[i].name, cmd->name) == 0) {
            fputs(cli_help_pages[i].text, stdout);
            return;
        }
    }
    /* Cannot happen while the table and doc/cli/ agree (integration.cli_docs checks). */
    fprintf(stderr, "twin: no help for '%s' in this build (doc/cli/twin-%s.txt)\n", cmd->name,
            cmd->name);
}

char *cli_node_dir(const struct cli *c)
{
    char *dir = twin_node_default_dir(c->dir_opt);
    if (!dir)
        fprintf(stderr, "twin: no data directory: give --dir or set TWIN_DIR\n");
    return dir;
}

int cli_open(struct cli *c)
{
    char *dir = cli_node_dir(c);
    if (!dir)
        return CLI_USAGE;
    int rc = twin_ops_open(&c->node, dir);
    free(dir);
    return rc ? cli_fail(rc) : CLI_OK;
}

static int exit_code(int rc)
{
    switch (rc) {
    case TWIN_OK:
        return CLI_OK;
    case TWIN_EINVALID:
    case TWIN_ENOTFOUND:
    case TWIN_EEXISTS:
    case TWIN_ELIMIT:
    case TWIN_ENOHISTORY:
    case TWIN_EDENIED:
        return CLI_USAGE;
    default:
        return CLI_CHECK_FAILED;
    }
}

int cli_fail(int rc)
{
    fprintf(stderr, "twin: %s\n", twin_error_last()[0] ? twin_error_last() : "failed");
    return exit_code(rc);
}

int cli_fail_context(int rc, const char *context)
{
    fprintf(stderr, "twin: %s: %s\n", context, twin_error_last());
    return exit_code(rc);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "twin %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see: twin %s --help)\n", cmd);
    return CLI_USAGE;
}

int cli_option(const char **value, int *i, int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "twin: %s needs a value\n", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

void cli_print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
}

void cli_report_change(const struct cli *c, const char *done, const char *id, const git_oid *commit)
{
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s}", "id", id, "commit", git_oid_tostr_s(commit));
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("%s %s in commit %.12s.\n", done, id, git_oid_tostr_s(commit));
    }
}

int cli_identity_option(struct twin_identity *who, int *i, int argc, char **argv)
{
    int m;
    if ((m = cli_option(&who->name, i, argc, argv, "--name")) ||
        (m = cli_option(&who->org_id, i, argc, argv, "--org-id")) ||
        (m = cli_option(&who->country, i, argc, argv, "--country")) ||
        (m = cli_option(&who->side, i, argc, argv, "--side")) ||
        (m = cli_option(&who->org_type, i, argc, argv, "--org-type")))
        return m;
    return 0;
}

int main(int argc, char **argv)
{
    struct cli c = {0};
    char **rest = calloc((size_t)argc + 1, sizeof(*rest));
    int nrest = 0, code;
    if (!rest)
        return CLI_CHECK_FAILED;
    /* Global options may stand anywhere before "--"; the rest goes to the command. */
    bool passthrough = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int m;
        if (!passthrough && strcmp(argv[i], "--") == 0) {
            passthrough = true;
            rest[nrest++] = argv[i];
            continue;
        }
        if (!passthrough && (m = cli_option(&v, &i, argc, argv, "--dir")) != 0) {
            if (m < 0) {
                free(rest);
                return CLI_USAGE;
            }
            c.dir_opt = v;
            continue;
        }
        if (!passthrough && strcmp(argv[i], "--json") == 0) {
            c.json = true;
            continue;
        }
        if (!passthrough && strcmp(argv[i], "--quiet") == 0) {
            c.quiet = true;
            continue;
        }
        rest[nrest++] = argv[i];
    }
    if (nrest == 0 || strcmp(rest[0], "help") == 0 || strcmp(rest[0], "--help") == 0 ||
        strcmp(rest[0], "-h") == 0) {
        const struct cli_command *cmd = nrest > 1 ? cli_find(rest[1]) : NULL;
        if (cmd)
            cli_print_help(cmd);
        else
            print_overview(nrest == 0 ? stderr : stdout);
        free(rest);
        return nrest == 0 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(rest[0], "--version") == 0 || strcmp(rest[0], "version") == 0) {
        printf("twin %s\n", twin_global_version());
        free(rest);
        return CLI_OK;
    }
    const struct cli_command *cmd = cli_find(rest[0]);
    if (!cmd) {
        fprintf(stderr, "twin: '%s' is not a twin command (see: twin --help)\n", rest[0]);
        free(rest);
        return CLI_USAGE;
    }
    if (cli_wants_help(nrest, rest)) {
        cli_print_help(cmd);
        free(rest);
        return CLI_OK;
    }
    if (cli_start_libgit2()) {
        fprintf(stderr, "twin: %s\n", twin_error_last());
        free(rest);
        return CLI_CHECK_FAILED;
    }
    /* serve runs until stopped; it logs and draws nothing. Every other command ends once it has
     * done its work: the packs it has read stay mapped, and its repository is left as it is, all
     * of it let go at its end at once. */
    bool short_lived = strcmp(cmd->name, "serve") != 0;
    if (short_lived) {
        twin_global_short_lived();
        cli_progress_begin(&c);
    }
    code = cmd->run(&c, nrest, rest);
    cli_progress_end();
    if (short_lived) {
        twin_node_leave(c.node);
    } else {
        twin_node_free(c.node);
        twin_global_shutdown();
    }
    free(rest);
    return code;
}
