#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/governance.h"
#include "twin/ops.h"

void cli_report_governed(const struct cli *c, const char *done, const char *what,
                         const git_oid *commit)
{
    const char *proposal = twin_node_last_proposal(c->node);
    if (!proposal) {
        cli_report_change(c, done, what, commit);
        return;
    }
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:s}", "proposal", proposal, "about", what, "commit",
                              git_oid_tostr_s(commit));
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("Proposed (about %s) as proposal %s in commit %s.\n", what, proposal,
               git_oid_tostr_s(commit));
        printf("It takes effect when enough admin institutions approve it: twin approve %s\n",
               proposal);
    }
}

int cmd_approve(struct cli *c, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error("approve", "give one proposal id (twin proposals lists them)");
    int code = cli_open(c);
    if (code)
        return code;
    git_oid commit;
    bool applied = false;
    int rc = twin_ops_approve(&commit, &applied, c->node, argv[1]);
    if (rc)
        return cli_fail(rc);
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:b}", "proposal", argv[1], "commit",
                              git_oid_tostr_s(&commit), "applied", applied);
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("Approved proposal %s in commit %s%s\n", argv[1], git_oid_tostr_s(&commit),
               applied ? ": it had enough approvals and is now in effect." : ".");
    }
    return CLI_OK;
}

/* The proposals of the head, open ones first. */
int cmd_proposals(struct cli *c, int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error("proposals", "unexpected argument '%s'", argv[1]);
    int code = cli_open(c);
    if (code)
        return code;
    json_t *list = NULL;
    int k = 1;
    int rc = twin_governance_proposals_at_head(&list, &k, c->node);
    if (rc)
        return cli_fail(rc);
    if (c->json) {
        cli_print_json(list);
    } else {
        printf("Changes to the membership and policy need %d admin approval%s.\n", k,
               k == 1 ? "" : "s");
        size_t i;
        json_t *p;
        size_t shown = 0;
        for (int pass = 0; pass < 2; pass++)
            json_array_foreach(list, i, p)
            {
                bool done = json_is_true(json_object_get(p, "in_effect"));
                if (done != (pass == 1))
                    continue;
                printf("%s  %-10s %zu of %d  %s\n", json_string_value(json_object_get(p, "id")),
                       done ? "in effect" : "open",
                       json_array_size(json_object_get(p, "approvals")), k,
                       json_string_value(json_object_get(p, "summary")));
                shown++;
            }
        if (!shown)
            printf("No proposals.\n");
    }
    json_decref(list);
    return CLI_OK;
}

/* A size: bytes, or a number with KiB or MiB, from 1 byte to 25 MiB. */
static bool parse_size(size_t *out, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || s[0] == '-')
        return false;
    if (strcmp(end, "KiB") == 0)
        v = v <= (1ULL << 40) ? v * 1024 : 0;
    else if (strcmp(end, "MiB") == 0)
        v = v <= (1ULL << 30) ? v * 1024 * 1024 : 0;
    else if (*end)
        return false;
    if (v < 1 || v > 25ULL * 1024 * 1024)
        return false;
    *out = (size_t)v;
    return true;
}

int cmd_policy(struct cli *c, int argc, char **argv)
{
    const char *threshold = NULL, *rules = NULL, *attach = NULL;
    bool seal = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sealed-personal") == 0) {
            seal = true;
            continue;
        }
        int m = cli_option(&threshold, &i, argc, argv, "--admin-threshold");
        if (m == 0)
            m = cli_option(&rules, &i, argc, argv, "--rules");
        if (m == 0)
            m = cli_option(&attach, &i, argc, argv, "--attachment-max");
        if (m < 0)
            return CLI_USAGE;
        if (!m)
            return cli_usage_error("policy", "unexpected argument '%s'", argv[i]);
    }
    if ((threshold != NULL) + (rules != NULL) + (attach != NULL) + seal != 1)
        return cli_usage_error("policy", "say what to set, one at a time: --admin-threshold N, "
                                         "--rules N, --attachment-max SIZE or --sealed-personal");
    size_t cap = 0;
    if (attach && !parse_size(&cap, attach))
        return cli_usage_error("policy",
                               "--attachment-max takes a size from 1 byte to 25MiB: bytes, or a "
                               "number with KiB or MiB ('%s')",
                               attach);
    const char *number = threshold ? threshold : rules;
    long k = 0;
    if (number) {
        char *end;
        k = strtol(number, &end, 10);
        if (*end || end == number || k < 1 || k > 100)
            return cli_usage_error("policy", "%s takes a number from 1 to 100",
                                   threshold ? "--admin-threshold" : "--rules");
    }
    int code = cli_open(c);
    if (code)
        return code;
    git_oid commit;
    int rc = seal     ? twin_ops_seal_personal(&commit, c->node)
             : rules  ? twin_ops_set_rules(&commit, c->node, (int)k)
             : attach ? twin_ops_set_attachment_max(&commit, c->node, cap)
                      : twin_ops_set_admin_threshold(&commit, c->node, (int)k);
    if (rc)
        return cli_fail(rc);
    char what[64];
    if (seal)
        snprintf(what, sizeof(what), "policy that seals personal data");
    else if (rules)
        snprintf(what, sizeof(what), "record rules %ld", k);
    else if (attach)
        snprintf(what, sizeof(what), "cap on attachments, %zu bytes", cap);
    else
        snprintf(what, sizeof(what), "admin threshold %ld", k);
    cli_report_governed(c, "Set the", what, &commit);
    return CLI_OK;
}
