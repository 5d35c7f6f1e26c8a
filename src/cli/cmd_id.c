#include <stdio.h>

#include "cli.h"

int cmd_id(struct cli *c, int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error("id", "unexpected argument '%s'", argv[1]);
    int code = cli_open(c);
    if (code)
        return code;
    char key[TWIN_OPENSSH_PUB_MAX], node_id[TWIN_NODE_ID_LEN + 1];
    twin_key_format_openssh(key, twin_node_key(c->node)->pk);
    twin_key_node_id(node_id, twin_node_key(c->node)->pk);
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:s}", "key", key, "node_id", node_id, "network_id",
                              twin_node_network_id(c->node));
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("%s\nnode id:    %s\nnetwork id: %s\n", key, node_id, twin_node_network_id(c->node));
    }
    return CLI_OK;
}
