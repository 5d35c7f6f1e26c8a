#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fields.h"
#include "twin/error.h"
#include "twin/names.h"
#include "twin/ops.h"

struct add_input {
    json_t *from; /* fields from --from, or NULL */
    int nassign;
    char **assign;
    twin_node *node;
};

static int build(json_t *rec, void *ctx)
{
    struct add_input *in = ctx;
    int rc = 0;
    if (in->from && (rc = cli_merge_fields(rec, in->from)))
        return rc;
    if ((rc = cli_apply_assignments(rec, in->nassign, in->assign, in->node)))
        return rc;
    return twin_names_resolve_refs(rec, in->node); /* partnership=01a2b3c4 */
}

int cmd_add(struct cli *c, int argc, char **argv)
{
    const char *type = NULL, *from = NULL, *audience_arg = NULL;
    char **assign = calloc((size_t)argc, sizeof(*assign)), *audience_buf = NULL;
    const char **audience_list = NULL;
    struct twin_audience audience = {0};
    int nassign = 0, code = CLI_OK;
    struct add_input in = {0};
    if (!assign)
        return CLI_CHECK_FAILED;
    for (int i = 1; i < argc; i++) {
        int m = cli_option(&from, &i, argc, argv, "--from");
        if (m == 0)
            m = cli_option(&audience_arg, &i, argc, argv, "--audience");
        if (m < 0) {
            code = CLI_USAGE;
            goto done;
        }
        if (m)
            continue;
        if (!type && !strchr(argv[i], '='))
            type = argv[i];
        else if (strchr(argv[i], '='))
            assign[nassign++] = argv[i];
        else {
            code = cli_usage_error("add", "unexpected argument '%s'", argv[i]);
            goto done;
        }
    }
    if (!type) {
        code = cli_usage_error("add", "name the record type (note, partnership, activity, ...)");
        goto done;
    }
    if (audience_arg && (code = cli_audience_parse(&audience, &audience_buf, &audience_list, "add",
                                                   "--audience", audience_arg)))
        goto done;
    if (from) {
        char *text = NULL;
        size_t len;
        int rc = cli_read_input(&text, &len, from);
        if (rc == 0)
            rc = twin_record_parse(&in.from, text, len);
        free(text);
        if (rc) {
            code = cli_fail_context(rc, from);
            goto done;
        }
    }
    in.nassign = nassign;
    in.assign = assign;
    if ((code = cli_open(c)))
        goto done;
    in.node = c->node;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    int rc = twin_ops_add_sealed(id, &commit, c->node, type, audience_arg ? &audience : NULL, build,
                                 &in);
    if (rc) {
        code = cli_fail(rc);
        goto done;
    }
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:s}", "id", id, "type", type, "commit",
                              git_oid_tostr_s(&commit));
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("%s\n", id);
    }
done:
    json_decref(in.from);
    free(assign);
    free(audience_buf);
    free(audience_list);
    return code;
}
