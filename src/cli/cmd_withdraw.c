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
    char idbuf[TWIN_ID_LEN + 1];
    if ((code = cli_record_id(idbuf, &argv[1], c->node, NULL)))
        return code;
    git_oid commit;
    /* The library refuses too; this names the reason plainly. */
    int rc = cli_sealed_open(NULL, c->node, argv[1], "withdraw");
    if (rc == 0)
        rc = twin_ops_withdraw(&commit, c->node, argv[1]);
    if (rc)
        return cli_fail(rc);
    cli_report_change(c, "Withdrew", argv[1], &commit);
    return CLI_OK;
}
