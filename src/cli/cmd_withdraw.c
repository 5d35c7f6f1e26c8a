#include <stdio.h>

#include "cli.h"
#include "twin/ops.h"

int cmd_withdraw(struct cli *c, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error("withdraw", "give exactly one record id");
    int code = cli_open(c);
    if (code)
        return code;
    git_oid commit;
    int rc = twin_ops_withdraw(&commit, c->node, argv[1]);
    if (rc)
        return cli_fail(rc);
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s}", "id", argv[1], "commit", git_oid_tostr_s(&commit));
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("Withdrew %s in commit %.12s; its history stays.\n", argv[1],
               git_oid_tostr_s(&commit));
    }
    return CLI_OK;
}
