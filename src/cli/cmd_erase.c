#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "twin/ops.h"

int cmd_erase(struct cli *c, int argc, char **argv)
{
    const char *reason = NULL;
    char *id = NULL, idbuf[TWIN_ID_LEN + 1];
    for (int i = 1; i < argc; i++) {
        int m = cli_option(&reason, &i, argc, argv, "--reason");
        if (m < 0)
            return CLI_USAGE;
        if (m)
            continue;
        if (id)
            return cli_usage_error("erase", "unexpected argument '%s'", argv[i]);
        id = argv[i];
    }
    if (!id)
        return cli_usage_error("erase", "give the id of the sealed record to erase");
    if (!reason)
        return cli_usage_error("erase", "say why with --reason TEXT (it stays in the history)");
    int code = cli_open(c);
    if (code || (code = cli_record_id(idbuf, &id, c->node, NULL)))
        return code;
    git_oid commit;
    int rc = twin_ops_erase(&commit, c->node, id, reason);
    if (rc)
        return cli_fail(rc);
    cli_report_governed(c, "Erased", id, &commit);
    return CLI_OK;
}
