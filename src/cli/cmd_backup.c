/* twin backup and twin restore: a whole node in one file, and back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/backup.h"
#include "twin/error.h"

void cli_advise_backup(const char *dir)
{
    fprintf(stderr,
            "twin: back up this node now, and keep the copy as safe as the node: its key in "
            "%s/node.key exists nowhere else, and without it the node cannot sign. "
            "Run: twin --dir %s backup --out FILE\n",
            dir, dir);
}

int cmd_backup(struct cli *c, int argc, char **argv)
{
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        int m = cli_option(&out, &i, argc, argv, "--out");
        if (m < 0)
            return CLI_USAGE;
        if (m == 0)
            return cli_usage_error("backup", "unexpected argument '%s'", argv[i]);
    }
    if (!out)
        return cli_usage_error("backup", "give --out FILE");
    int code = cli_open(c);
    if (code)
        return code;
    size_t files;
    int rc = twin_backup_write(&files, c->node, out);
    if (rc)
        return cli_fail(rc);
    if (c->json) {
        json_t *j = json_pack("{s:s, s:I}", "backup", out, "files", (json_int_t)files);
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("Wrote a backup of this node (%zu files: history, key, settings, peers, the keys "
               "of sealed records) to %s.\n"
               "It holds the node's secret key: keep it as safe as the node itself.\n",
               files, out);
    }
    return CLI_OK;
}

int cmd_restore(struct cli *c, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("restore", "give the backup FILE");
    if (argc > 2)
        return cli_usage_error("restore", "unexpected argument '%s'", argv[2]);
    char *dir = twin_node_default_dir(c->dir_opt);
    if (!dir) {
        fprintf(stderr, "twin: no data directory: give --dir or set TWIN_DIR\n");
        return CLI_USAGE;
    }
    int rc = twin_backup_restore(&c->node, argv[1], dir);
    if (rc) {
        free(dir);
        return cli_fail(rc);
    }
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:s}", "dir", dir, "network_id",
                              twin_node_network_id(c->node), "org_id", twin_node_org_id(c->node));
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("Restored the node of %s (network %s) into %s.\n"
               "Check it with: twin --dir %s verify; then twin sync brings it up to date.\n",
               twin_node_org_id(c->node), twin_node_network_id(c->node), dir, dir);
    }
    free(dir);
    return CLI_OK;
}
