#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/audit.h"
#include "twin/error.h"
#include "twin/names.h"
#include "twin/record.h"
#include "twin/util.h"

struct log_ctx {
    bool json, oneline;
    size_t given;
    twin_node *node;
    twin_names *names; /* made at the first summary that needs a name */
};

/* The summary as printed: a change to a sealed record names it by id alone ("add person ID"),
 * as its commit must; where this node reads the record, its name (at the head) follows in
 * brackets, marked as added here. */
static void print_summary(struct log_ctx *l, const char *summary)
{
    char verb[16], type[32], id[TWIN_ID_LEN + 1], rest;
    const char *name = NULL;
    fputs(summary, stdout);
    if (sscanf(summary, "%15s %31s %36s%c", verb, type, id, &rest) != 3 ||
        !twin_record_type_known(type) || !twin_record_id_valid(id))
        return;
    if (!l->names && twin_names_new(&l->names, l->node, NULL)) {
        twin_error_clear();
        return;
    }
    if (twin_names_get(&name, l->names, type, id) == 0 && name && name[0]) {
        fputs(" (sealed: \"", stdout);
        for (const char *p = name; *p; p++)
            putchar((unsigned char)*p < 0x20 ? ' ' : *p);
        fputs("\")", stdout);
    }
    twin_error_clear(); /* a name is a help; the log goes on without one */
}

/* Each entry is printed as it comes, so a long history streams; --json prints an array the same
 * way, one element at a time. */
static int print_entry(const struct twin_log_entry *e, void *ctx)
{
    struct log_ctx *l = ctx;
    char when[TWIN_UTIL_TIME_BYTES], fp[64] = "";
    unsigned char pk[TWIN_PUBKEY_BYTES];
    twin_util_format_time(when, e->time);
    if (e->key[0] && twin_key_parse_openssh(pk, e->key) == 0)
        twin_key_fingerprint(fp, pk);
    if (l->json) {
        json_t *j = json_pack("{s:s, s:I, s:b, s:s, s:s, s:s, s:b, s:s}", "commit",
                              git_oid_tostr_s(&e->commit), "time", (json_int_t)e->time, "ahead",
                              e->ahead, "member", e->org_id, "key", e->key, "fingerprint", fp,
                              "valid", e->valid, "summary", e->summary);
        if (j && !e->valid)
            json_object_set_new(j, "fault", json_string(e->reason));
        char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        if (!text)
            return twin_error(TWIN_ERROR, "out of memory");
        /* Indented as one element of the array cli_print_json would print. */
        fputs(l->given++ ? ",\n  " : "[\n  ", stdout);
        for (const char *p = text; *p; p++) {
            putchar(*p);
            if (*p == '\n')
                fputs("  ", stdout);
        }
        free(text);
        return 0;
    }
    if (l->oneline) {
        char hex[GIT_OID_HEXSZ + 1];
        git_oid_tostr(hex, sizeof(hex), &e->commit);
        printf("%.12s %.10s %s %s%s ", hex, when, e->org_id[0] ? e->org_id : "-",
               e->valid ? "good" : "BAD", e->ahead ? " AHEAD" : "");
        print_summary(l, e->summary);
        putchar('\n');
        return 0;
    }
    printf("commit %s\n", git_oid_tostr_s(&e->commit));
    printf("  date:      %s%s\n", when,
           e->ahead ? " (AHEAD: more than a day ahead of this node's clock)" : "");
    printf("  member:    %s\n", e->org_id[0] ? e->org_id : "(not a member)");
    printf("  key:       %s\n", fp[0] ? fp : "(none)");
    printf("  signature: %s%s%s\n", e->valid ? "good" : "BAD", e->valid ? "" : ": ",
           e->valid ? "" : e->reason);
    fputs("  ", stdout);
    print_summary(l, e->summary);
    fputs("\n\n", stdout);
    return 0;
}

int cmd_log(struct cli *c, int argc, char **argv)
{
    struct twin_log_query q = {.since = INT64_MIN, .until = INT64_MAX};
    const char *count = NULL, *since = NULL, *until = NULL;
    struct log_ctx l = {c->json, false, 0};
    char idbuf[TWIN_ID_LEN + 1], *id = NULL;
    for (int i = 1; i < argc; i++) {
        int m;
        if ((m = cli_option(&count, &i, argc, argv, "-n")) ||
            (m = cli_option(&since, &i, argc, argv, "--since")) ||
            (m = cli_option(&until, &i, argc, argv, "--until")) ||
            (m = cli_option(&q.type, &i, argc, argv, "--type")) ||
            (m = cli_option(&q.member, &i, argc, argv, "--member"))) {
            if (m < 0)
                return CLI_USAGE;
            continue;
        }
        if (strcmp(argv[i], "--oneline") == 0) {
            l.oneline = true;
            continue;
        }
        if (argv[i][0] == '-')
            return cli_usage_error("log", "unknown option '%s'", argv[i]);
        if (id)
            return cli_usage_error("log", "give at most one record id");
        id = argv[i];
    }
    if (count) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(count, &end, 10);
        if (count[0] < '0' || count[0] > '9' || *end || errno || n == 0 || n > SIZE_MAX)
            return cli_usage_error("log", "-n: '%s' is not a count of changes (1 or more)", count);
        q.limit = (size_t)n;
    }
    if (since && twin_util_parse_date(&q.since, since, false))
        return cli_usage_error("log", "--since: %s", twin_error_last());
    if (until && twin_util_parse_date(&q.until, until, true))
        return cli_usage_error("log", "--until: %s", twin_error_last());
    if (q.type && !twin_record_type_known(q.type))
        return cli_usage_error("log", "--type: unknown record type '%s' (see: twin schema)",
                               q.type);
    if (q.member && !q.member[0])
        return cli_usage_error("log", "--member: give an org id");
    int code = cli_open(c);
    if (code || (id && (code = cli_record_id(idbuf, &id, c->node, NULL))))
        return code;
    q.id = id;
    l.node = c->node;
    cli_progress_off_on_terminal_output();
    int rc = twin_audit_log_query(c->node, &q, print_entry, &l);
    if (rc == 0 && c->json)
        fputs(l.given ? "\n]\n" : "[]\n", stdout);
    twin_names_free(l.names);
    return rc ? cli_fail(rc) : CLI_OK;
}
