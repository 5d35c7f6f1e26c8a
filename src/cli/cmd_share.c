/* twin share: widens the audience of a sealed record (proto/SEALED.md); it never narrows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/ops.h"

int cmd_share(struct cli *c, int argc, char **argv)
{
    const char *with = NULL;
    char *id = NULL, idbuf[TWIN_ID_LEN + 1];
    for (int i = 1; i < argc; i++) {
        int m = cli_option(&with, &i, argc, argv, "--with");
        if (m < 0)
            return CLI_USAGE;
        if (m)
            continue;
        if (id || argv[i][0] == '-')
            return cli_usage_error("share", "unexpected argument '%s'", argv[i]);
        id = argv[i];
    }
    if (!id)
        return cli_usage_error("share", "give the id of a sealed record");
    if (!with)
        return cli_usage_error("share", "say with whom: --with ORG-ID[,ORG-ID...]");
    struct twin_audience audience = {0};
    char *buf = NULL;
    const char **list = NULL;
    int code = cli_audience_parse(&audience, &buf, &list, "share", "--with", with);
    if (code == CLI_OK)
        code = cli_open(c);
    if (code == CLI_OK)
        code = cli_record_id(idbuf, &id, c->node, NULL);
    git_oid commit;
    int rc = code == CLI_OK ? cli_sealed_open(NULL, c->node, id, "share") : 0;
    if (code == CLI_OK && rc == 0)
        rc = twin_ops_share(&commit, c->node, id, &audience);
    if (code == CLI_OK && rc == TWIN_EEXISTS) {
        /* Nothing to write: say so plainly, and succeed. */
        if (c->json) {
            json_t *j = json_pack("{s:s, s:b}", "id", id, "changed", 0);
            cli_print_json(j);
            json_decref(j);
        } else {
            printf("Everyone named can read %s already; nothing was written.\n", id);
        }
    } else if (code == CLI_OK && rc) {
        code = cli_fail(rc);
    } else if (code == CLI_OK) {
        cli_report_change(c, "Shared", id, &commit);
    }
    free(buf);
    free(list);
    return code;
}
