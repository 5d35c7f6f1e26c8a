/* twin attach: stores a file's bytes in the shared history as a document's file (README
 * "Attachments"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/ops.h"

int cmd_attach(struct cli *c, int argc, char **argv)
{
    const char *media = NULL, *file = NULL;
    char *id = NULL, idbuf[TWIN_ID_LEN + 1];
    for (int i = 1; i < argc; i++) {
        int m = cli_option(&media, &i, argc, argv, "--type");
        if (m < 0)
            return CLI_USAGE;
        if (m)
            continue;
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            return cli_usage_error("attach", "unexpected option '%s'", argv[i]);
        if (!id)
            id = argv[i];
        else if (!file)
            file = argv[i];
        else
            return cli_usage_error("attach", "unexpected argument '%s'", argv[i]);
    }
    if (!id || !file)
        return cli_usage_error("attach", "give a document's id and a file: twin attach ID FILE");
    int code = cli_open(c);
    if (code == CLI_OK)
        code = cli_record_id(idbuf, &id, c->node, NULL);
    if (code)
        return code;
    git_oid commit;
    json_t *f = NULL;
    int rc = twin_ops_attach(&commit, &f, c->node, id, file, media);
    if (rc == TWIN_EEXISTS) {
        if (c->json) {
            json_t *j = json_pack("{s:s, s:b}", "id", id, "changed", 0);
            cli_print_json(j);
            json_decref(j);
        } else {
            printf("Document %s carries this file already; nothing was written.\n", id);
        }
        return CLI_OK;
    }
    if (rc)
        return cli_fail(rc);
    if (c->json) {
        json_t *j =
            json_pack("{s:s, s:s, s:O}", "id", id, "commit", git_oid_tostr_s(&commit), "file", f);
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("Attached %s (%lld bytes, sha256 %s) to %s in commit %.12s.\n",
               json_string_value(json_object_get(f, "name")),
               (long long)json_integer_value(json_object_get(f, "size")),
               json_string_value(json_object_get(f, "sha256")), id, git_oid_tostr_s(&commit));
    }
    json_decref(f);
    return CLI_OK;
}
