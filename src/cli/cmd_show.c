#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "twin/global.h"
#include "twin/error.h"
#include "twin/ops.h"

int cmd_show(struct cli *c, int argc, char **argv)
{
    const char *id = NULL, *at = NULL;
    for (int i = 1; i < argc; i++) {
        int m = cli_option(&at, &i, argc, argv, "--at");
        if (m < 0)
            return CLI_USAGE;
        if (m)
            continue;
        if (id)
            return cli_usage_error("show", "unexpected argument '%s'", argv[i]);
        id = argv[i];
    }
    if (!id)
        return cli_usage_error("show", "give a record id");
    int code = cli_open(c);
    if (code)
        return code;
    twin_node_read_out(c->node); /* reading out, as git does: twin verify checks hashes */
    git_oid at_oid;
    if (at && twin_node_commit(&at_oid, c->node, at)) {
        fprintf(stderr, "twin: --at %s\n", twin_error_last());
        return CLI_USAGE;
    }
    json_t *rec = NULL;
    int rc = twin_ops_get(&rec, c->node, at ? &at_oid : NULL, NULL, id);
    if (rc)
        return cli_fail(rc);
    char *text = NULL;
    size_t len;
    if ((rc = twin_record_canonical(&text, &len, rec)) == 0)
        fwrite(text, 1, len, stdout);
    free(text);
    json_decref(rec);
    return rc ? cli_fail(rc) : CLI_OK;
}
