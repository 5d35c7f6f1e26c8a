#include <stdio.h>

#include "cli.h"
#include "twin/audit.h"

int cmd_verify(struct cli *c, int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error("verify", "unexpected argument '%s'", argv[1]);
    int code = cli_open(c);
    if (code)
        return code;
    struct twin_verify_report *r = NULL;
    int rc = twin_verify(&r, c->node, 0);
    if (rc)
        return cli_fail(rc);
    if (c->json) {
        json_t *members = json_array(), *faults = json_array();
        for (size_t i = 0; i < r->nmembers; i++)
            json_array_append_new(members,
                                  json_pack("{s:s, s:I, s:I, s:I}", "org_id", r->members[i].org_id,
                                            "commits", (json_int_t)r->members[i].commits, "first",
                                            (json_int_t)r->members[i].first, "last",
                                            (json_int_t)r->members[i].last));
        for (size_t i = 0; i < r->nfaults; i++)
            json_array_append_new(faults, json_pack("{s:s, s:s}", "commit",
                                                    git_oid_tostr_s(&r->faults[i].commit), "reason",
                                                    r->faults[i].reason));
        json_t *j =
            json_pack("{s:s, s:s, s:I, s:b, s:o, s:o}", "network_id", twin_node_network_id(c->node),
                      "head", git_oid_tostr_s(&r->head), "commits", (json_int_t)r->commits, "valid",
                      r->nfaults == 0, "members", members, "faults", faults);
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("Checked %zu commits up to %s.\n", r->commits, git_oid_tostr_s(&r->head));
        for (size_t i = 0; i < r->nmembers; i++) {
            char first[32], last[32];
            cli_format_time(first, r->members[i].first);
            cli_format_time(last, r->members[i].last);
            printf("  %-24s %6zu valid commits, %s .. %s\n", r->members[i].org_id,
                   r->members[i].commits, first, last);
        }
        if (r->nfaults == 0)
            printf("All commits are valid.\n");
        else
            printf("%zu fault%s:\n", r->nfaults, r->nfaults == 1 ? "" : "s");
        for (size_t i = 0; i < r->nfaults; i++)
            printf("  commit %s: %s\n", git_oid_tostr_s(&r->faults[i].commit), r->faults[i].reason);
    }
    code = r->nfaults ? CLI_CHECK_FAILED : CLI_OK;
    twin_verify_report_free(r);
    return code;
}
