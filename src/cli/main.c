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

static const struct cli_command commands[] = {
    {"init", cmd_init,
     "twin init --name NAME --org-id ORGID --country CC --side north|south|donor|broker\n"
     "          [--org-type CODE] (--network NETWORK_NAME | --join NETWORK_ID)",
     "create this institution's node: found a network, or join one"},
    {"id", cmd_id, "twin id", "print this node's public key, node id and network id"},
    {"invite", cmd_invite,
     "twin invite [--role admin|editor|observer] [--expires DURATION] "
     "[--address HOST:PORT]\n"
     "twin invite --member ORGID [--expires DURATION] [--address HOST:PORT]",
     "make a one-use invite for a new partner institution, or for a new node of an existing "
     "member that lost its key (admins)"},
    {"join", cmd_join,
     "twin join TOKEN --name NAME --org-id ORGID --country CC --side north|south|donor|broker "
     "[--org-type N] [--address HOST:PORT]\n"
     "twin join TOKEN [--address HOST:PORT]    (an invite made with --member carries the "
     "member's identity)\n"
     "--address: where partners will reach this node (twin serve --listen); the inviter adds "
     "it as its peer there",
     "create this institution's node from an invite, be admitted, and take the history"},
    {"member", cmd_member,
     "twin member add --name NAME --org-id ORGID --country CC --side SIDE\n"
     "                --key 'ssh-ed25519 AAAA...' [--role admin|editor|observer] [--org-type "
     "CODE]\n"
     "                [--own-partnerships]\n"
     "twin member list\n"
     "twin member set ORGID [--name NAME] [--country CC] [--org-type CODE] [--side SIDE]\n"
     "twin member add-key ORGID KEY\n"
     "twin member revoke-key ORGID KEY\n"
     "twin member remove ORGID",
     "add a partner institution, list the members, change a member's name, country, org type "
     "or side (admins; any member its own name and org type), give a member another key (one "
     "that lost its key gets back in), revoke a key, or remove a member (admins)"},
    {"proposals", cmd_proposals, "twin proposals",
     "membership and policy changes waiting for admin approvals, and those in effect"},
    {"approve", cmd_approve, "twin approve PROPOSAL",
     "approve a proposed membership or policy change (admins)"},
    {"policy", cmd_policy, "twin policy --admin-threshold N | --sealed-personal",
     "set how many admin institutions must approve membership and policy changes"},
    {"key", cmd_key, "twin key rotate",
     "give this node a new key, signed in by the old one, which is retired"},
    {"backup", cmd_backup, "twin backup --out FILE",
     "write one file that restores this node whole: history, key, settings and peers"},
    {"restore", cmd_restore, "twin restore FILE [--dir DIR]",
     "bring a node back from its backup, into a new directory"},
    {"add", cmd_add,
     "twin add TYPE [FIELD=VALUE ...] [--from FILE|-] [--audience ORGID[,ORGID...]|members]",
     "add a record and print its id; --audience seals it, readable only by those institutions "
     "and yours"},
    {"share", cmd_share, "twin share ID --with ORGID[,ORGID...]|members",
     "let more institutions read a sealed record (an audience only ever widens)"},
    {"set", cmd_set, "twin set ID FIELD=VALUE ...",
     "change fields of a record (VALUE null removes)"},
    {"edit", cmd_edit, "twin edit ID", "change a record in $EDITOR"},
    {"show", cmd_show, "twin show ID [--at COMMIT]", "print a record"},
    {"list", cmd_list, "twin list [TYPE] [--where FIELD=VALUE ...] [--all]",
     "list records (withdrawn ones only with --all)"},
    {"withdraw", cmd_withdraw, "twin withdraw ID", "withdraw a record (a tombstone in history)"},
    {"erase", cmd_erase, "twin erase ID --reason TEXT",
     "erase a sealed record's content on every node (admins)"},
    {"log", cmd_log, "twin log [ID]", "list changes with member, key, time and signature status"},
    {"blame", cmd_blame, "twin blame ID",
     "show which commit, member and key last changed each field of a record"},
    {"status", cmd_status, "twin status", "summarise this node"},
    {"schema", cmd_schema, "twin schema [TYPE]",
     "the record types and, for each field, whether it is required, its kind and its values"},
    {"checkpoints", cmd_checkpoints, "twin checkpoints [--out FILE]",
     "list the signed head statements of past sync sessions, or write them to share"},
    {"verify", cmd_verify,
     "twin verify [--since COMMIT] [--checkpoints FILE...]\n"
     "twin verify --repo PATH [--network ID]    (a clone of a network's history, no node needed)",
     "check every commit's signature, authority and records; exit 1 on any fault"},
    {"import", cmd_import, "twin import FILE [--format csv|json|iati] [--type TYPE] [--dry-run]",
     "add or change many records in one signed commit; all rows valid, or nothing"},
    {"export", cmd_export,
     "twin export --format json|csv|iati [--type TYPE] [--where FIELD=VALUE ...] [--all] [--out "
     "FILE]\n"
     "twin export --format csv --out DIR (one file per record type)\n"
     "twin export allowed-signers [--out FILE]",
     "records as JSON or CSV, or the allowed-signers file for git verify-commit"},
    {"peer", cmd_peer,
     "twin peer add NAME HOST:PORT NODEKEY\ntwin peer list\ntwin peer remove NAME",
     "the nodes this node syncs with (NODEKEY: the line `twin id` prints, or the node id)"},
    {"sync", cmd_sync, "twin sync [PEER ...]",
     "one session with each peer named, or with every peer; exit 1 if one failed"},
    {"serve", cmd_serve,
     "twin serve [--listen HOST:PORT] [--interval SECONDS] [--log-level error|warn|info|debug]\n"
     "    each option overrides the node's setting of the same name (twin config)",
     "run the node: serve peers, sync on a schedule and soon after each local change; stops on "
     "SIGTERM"},
    {"config", cmd_config,
     "twin config [KEY [VALUE]]\ntwin config --unset KEY\n"
     "    KEY: listen, interval, log-level, address; name, org-id, network (read-only)",
     "the node's settings: list them, print one, set one (checked first) or return it to its "
     "default"},
    {"conflicts", cmd_conflicts, "twin conflicts [TYPE]",
     "values merges set aside when two partners changed the same field (of a sealed record, "
     "whole versions)"},
    {"resolve", cmd_resolve,
     "twin resolve ID FIELD=VALUE ...\n"
     "twin resolve ID [--keep BLOB] [--drop BLOB|all ...] [FIELD=VALUE ...]  (a sealed record)\n"
     "    --keep: take the content of the version set aside as BLOB; --drop: keep the head's\n"
     "    (repeatable; all: every one). BLOB: 8 or more hex digits of a blob id twin conflicts "
     "lists",
     "settle a conflict with a signed edit"},
};

const struct cli_command *cli_find(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_overview(FILE *f)
{
    fprintf(f, "usage: twin [--dir DIR] [--json] COMMAND [ARGS]\n\n"
               "A signed, shared record of what a partnership does, kept in git.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nglobal options:\n"
               "  --dir DIR  the node's data directory (default: $TWIN_DIR, else "
               "$XDG_DATA_HOME/twin)\n"
               "  --json     machine-readable output on commands that read\n"
               "  --help     help for twin or for a command\n"
               "\nexit status: 0 success, 1 a check failed, 2 usage or input error\n");
}

void cli_print_help(const struct cli_command *cmd)
{
    printf("usage: %s\n\n%s\n", cmd->usage, cmd->summary);
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
    if (twin_global_init(true)) {
        fprintf(stderr, "twin: %s\n", twin_error_last());
        free(rest);
        return CLI_CHECK_FAILED;
    }
    code = cmd->run(&c, nrest, rest);
    twin_node_free(c.node);
    twin_global_shutdown();
    free(rest);
    return code;
}
