/*
 * Record ids on the command line: a whole id, or a prefix of one as git takes a commit's.
 */
#include "cli.h"
#include "twin/error.h"

int cli_record_id(char buf[static TWIN_ID_LEN + 1], char **arg, twin_node *n, const git_oid *at)
{
    int rc = twin_ops_resolve_id(buf, NULL, n, at, *arg);
    if (rc)
        return cli_fail(rc);
    *arg = buf;
    return CLI_OK;
}
