/* twin confirm: the contributing institution confirms a contribution recorded in its name. */
#include <stdio.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/ops.h"

int cmd_confirm(struct cli *c, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage_error("confirm", "give exactly one contribution's id");
    int code = cli_open(c);
    if (code)
        return code;
    char idbuf[TWIN_ID_LEN + 1];
    if ((code = cli_record_id(idbuf, &argv[1], c->node, NULL)))
        return code;
    git_oid commit;
    int rc = twin_ops_confirm(&commit, c->node, argv[1]);
    if (rc == TWIN_EEXISTS) {
        /* Nothing to write: say so plainly, and succeed, as twin share does. */
        if (c->json) {
            json_t *j = json_pack("{s:s, s:b}", "id", argv[1], "changed", 0);
            cli_print_json(j);
            json_decref(j);
        } else {
            printf("%s; nothing was written.\n", twin_error_last());
        }
        return CLI_OK;
    }
    if (rc)
        return cli_fail(rc);
    cli_report_change(c, "Confirmed", argv[1], &commit);
    return CLI_OK;
}
