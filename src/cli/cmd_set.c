#include <stdio.h>

#include "cli.h"
#include "fields.h"
#include "twin/names.h"
#include "twin/ops.h"

struct set_input {
    int n;
    char **assign;
    twin_node *node;
};

static int apply(json_t *rec, void *ctx)
{
    struct set_input *in = ctx;
    int rc = cli_apply_assignments(rec, in->n, in->assign, in->node);
    return rc ? rc : twin_names_resolve_refs(rec, in->node); /* partnership=01a2b3c4 */
}

int cmd_set(struct cli *c, int argc, char **argv)
{
    if (argc < 3)
        return cli_usage_error("set", "give a record id and at least one FIELD=VALUE");
    struct set_input in = {argc - 2, argv + 2};
    int code = cli_open(c);
    if (code)
        return code;
    char idbuf[TWIN_ID_LEN + 1];
    if ((code = cli_record_id(idbuf, &argv[1], c->node, NULL)))
        return code;
    in.node = c->node;
    git_oid commit;
    /* The library refuses too; this names the reason plainly. */
    int rc = cli_sealed_open(NULL, c->node, argv[1], "change");
    if (rc == 0)
        rc = twin_ops_update(&commit, c->node, argv[1], "set", apply, &in);
    if (rc)
        return cli_fail(rc);
    cli_report_change(c, "Changed", argv[1], &commit);
    return CLI_OK;
}
