/*
 * The command line: argument parsing and printing only; the library does the work.
 */
#ifndef TWIN_CLI_H
#define TWIN_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "twin/node.h"
#include "twin/ops.h"

struct cli {
    const char *dir_opt; /* --dir as given, or NULL */
    bool json;           /* --json */
    bool quiet;          /* --quiet: no progress display */
    twin_node *node;     /* opened by cli_open */
};

struct cli_command {
    const char *name;
    int (*run)(struct cli *c, int argc, char **argv);
};

/* A command's help, generated from its page in doc/cli/ by tools/gendocs (doc/cli/README.md). */
struct cli_help {
    const char *name;
    const char *summary;
    const char *text; /* what twin NAME --help and twin help NAME print */
};

extern const struct cli_help cli_help_pages[];
extern const size_t cli_help_count;
/* What twin --help prints: usage, every command with its summary, the global options. */
extern const char cli_help_overview[];

/* Exit codes: 0 success, 1 a check failed (or an unexpected error), 2 usage or input error. */
enum { CLI_OK = 0, CLI_CHECK_FAILED = 1, CLI_USAGE = 2 };

const struct cli_command *cli_find(const char *name);

/* Opens the node in the chosen directory; prints the error and returns an exit code on failure. */
int cli_open(struct cli *c);

/* The chosen directory (malloc'd), for a command whose library call opens the node itself; prints
 * the error and returns NULL when there is none (exit code CLI_USAGE). */
char *cli_node_dir(const struct cli *c);

/* Prints "twin: <message>" for a library error and returns its exit code. */
int cli_fail(int rc);
int cli_fail_context(int rc, const char *context);

/* Replaces *arg, a record id or a prefix of one (twin_ops_resolve_id, at commit at or the head),
 * by the whole id, kept in buf; prints the error and returns its exit code when it names no one
 * record. */
int cli_record_id(char buf[static TWIN_ID_LEN + 1], char **arg, twin_node *n, const git_oid *at);

/* The progress display (src/cli/display.c): on standard error when it is a terminal, but not
 * with --json or --quiet. begin before a command runs, end after it; a command's own long loops
 * report as the library does, with twin_progress_report. */
void cli_progress_begin(const struct cli *c);
void cli_progress_end(void);
/* For a command that streams its findings to standard output: no display when that is a
 * terminal, where the output shows the progress itself and a redrawn line would cut into it. */
void cli_progress_off_on_terminal_output(void);

/* Sets the process up for twin (twin_global_init), without libgit2's loading of the system's CA
 * certificates, which twin never uses (src/cli/startup.c). 0, or an error. */
int cli_start_libgit2(void);

/* Prints a usage error for cmd and returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the help of a command (its usage, summary and options) on stdout. */
void cli_print_help(const struct cli_command *cmd);

/* Matches --name VALUE or --name=VALUE at argv[*i]; on a match sets *value, advances *i past the
 * value and returns 1. Returns -1 (after printing an error) when the value is missing. */
int cli_option(const char **value, int *i, int argc, char **argv, const char *name);

/* True when argv asks for help anywhere. */
bool cli_wants_help(int argc, char **argv);

/* Prints a JSON value on stdout with two-space indentation and a newline. */
void cli_print_json(const json_t *j);

/* Reports a change to record id made in commit: JSON {id, commit}, or "<Done> <id> in commit X." */
void cli_report_change(const struct cli *c, const char *done, const char *id,
                       const git_oid *commit);

/* Matches the options that name an institution (--name, --org-id, --country, --side,
 * --org-type) like cli_option. */
int cli_identity_option(struct twin_identity *who, int *i, int argc, char **argv);

/* Sealed records (proto/SEALED.md) on the command line: src/cli/sealing.c. */

/* Reads ORG-ID[,ORG-ID...] (or "members") given to option opt of cmd into *aud; its strings live
 * in *buf and *list (free both). Prints a usage error and returns CLI_USAGE for an empty name. */
int cli_audience_parse(struct twin_audience *aud, char **buf, const char ***list, const char *cmd,
                       const char *opt, const char *arg);

/* The audience of an envelope as "A, B" (malloc'd; NULL when out of memory). */
char *cli_audience_text(const json_t *envelope);

/* What every node may see of a sealed record it cannot read (closed or erased): {"id", "type",
 * "sealed": {"audience": [...], "readable": false, "conflicts": N (when any)}, "withdrawn": true
 * (when withdrawn), "erased": {"reason": ...} (when erased)}. NULL when out of memory. */
json_t *cli_sealed_public(const json_t *envelope);

/* Reads record id for a change named verb ("edit"): *out (when out is not NULL) is the record,
 * or a sealed record's opened content. TWIN_EDENIED, saying so plainly, when it is sealed and
 * this node cannot read it, or erased. */
int cli_sealed_open(json_t **out, twin_node *n, const char *id, const char *verb);

int cmd_init(struct cli *c, int argc, char **argv);
/* s when n is not 1, for a count's noun: "1 record", "2 records", "0 records". */
static inline const char *cli_s(size_t n)
{
    return n == 1 ? "" : "s";
}

int cmd_id(struct cli *c, int argc, char **argv);
int cmd_schema(struct cli *c, int argc, char **argv);
int cmd_member(struct cli *c, int argc, char **argv);
int cmd_add(struct cli *c, int argc, char **argv);
int cmd_set(struct cli *c, int argc, char **argv);
int cmd_edit(struct cli *c, int argc, char **argv);
int cmd_show(struct cli *c, int argc, char **argv);
int cmd_list(struct cli *c, int argc, char **argv);
int cmd_search(struct cli *c, int argc, char **argv);
int cmd_withdraw(struct cli *c, int argc, char **argv);
int cmd_erase(struct cli *c, int argc, char **argv);
int cmd_log(struct cli *c, int argc, char **argv);
int cmd_blame(struct cli *c, int argc, char **argv);
int cmd_invite(struct cli *c, int argc, char **argv);
int cmd_key(struct cli *c, int argc, char **argv);
int cmd_backup(struct cli *c, int argc, char **argv);
/* Tells the admin of a new node to back it up: its key exists nowhere else. */
void cli_advise_backup(const char *dir);
int cmd_restore(struct cli *c, int argc, char **argv);
int cmd_approve(struct cli *c, int argc, char **argv);
int cmd_proposals(struct cli *c, int argc, char **argv);
int cmd_policy(struct cli *c, int argc, char **argv);

/* Like cli_report_change, for a membership or policy change that may have become a proposal. */
void cli_report_governed(const struct cli *c, const char *done, const char *what,
                         const git_oid *commit);
int cmd_checkpoints(struct cli *c, int argc, char **argv);
int cmd_join(struct cli *c, int argc, char **argv);
int cmd_status(struct cli *c, int argc, char **argv);
int cmd_verify(struct cli *c, int argc, char **argv);
int cmd_export(struct cli *c, int argc, char **argv);
int cmd_import(struct cli *c, int argc, char **argv);
int cmd_peer(struct cli *c, int argc, char **argv);
int cmd_sync(struct cli *c, int argc, char **argv);
int cmd_serve(struct cli *c, int argc, char **argv);
int cmd_config(struct cli *c, int argc, char **argv);
int cmd_conflicts(struct cli *c, int argc, char **argv);
int cmd_resolve(struct cli *c, int argc, char **argv);
int cmd_share(struct cli *c, int argc, char **argv);
int cmd_confirm(struct cli *c, int argc, char **argv);
int cmd_report(struct cli *c, int argc, char **argv);
int cmd_attach(struct cli *c, int argc, char **argv);
int cmd_get(struct cli *c, int argc, char **argv);

#endif
