#include <stdio.h>

#include "cli.h"
#include "fields.h"
#include "twin/ops.h"

struct set_input {
    int n;
    char **assign;
};

static int apply(json_t *rec, void *ctx)
{
    struct set_input *in = ctx;
    return cli_apply_assignments(rec, in->n, in->assign);
}

int cmd_set(struct cli *c, int argc, char **argv)
{
    if (argc < 3)
        return cli_usage_error("set", "give a record id and at least one FIELD=VALUE");
    struct set_input in = {argc - 2, argv + 2};
    int code = cli_open(c);
    if (code)
        return code;
    git_oid commit;
    int rc = twin_ops_update(&commit, c->node, argv[1], "set", apply, &in);
    if (rc)
        return cli_fail(rc);
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s}", "id", argv[1], "commit", git_oid_tostr_s(&commit));
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("Changed %s in commit %.12s.\n", argv[1], git_oid_tostr_s(&commit));
    }
    return CLI_OK;
}
