#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/network.h"

int cmd_init(struct cli *c, int argc, char **argv)
{
    struct twin_identity who = {0};
    const char *network = NULL, *join = NULL;
    for (int i = 1; i < argc; i++) {
        int m;
        if ((m = cli_identity_option(&who, &i, argc, argv)) ||
            (m = cli_option(&network, &i, argc, argv, "--network")) ||
            (m = cli_option(&join, &i, argc, argv, "--join"))) {
            if (m < 0)
                return CLI_USAGE;
            continue;
        }
        return cli_usage_error("init", "unexpected argument '%s'", argv[i]);
    }
    if (!who.name || !who.org_id || !who.country || !who.side)
        return cli_usage_error("init", "--name, --org-id, --country and --side are required");
    if ((network != NULL) == (join != NULL))
        return cli_usage_error("init", "give --network NAME to found a network, or --join "
                                       "NETWORK_ID to join one");
    char *dir = twin_node_default_dir(c->dir_opt);
    if (!dir) {
        fprintf(stderr, "twin: no data directory: give --dir or set TWIN_DIR\n");
        return CLI_USAGE;
    }
    int rc = network ? twin_network_create(&c->node, dir, &who, network)
                     : twin_node_init(&c->node, dir, &who, NULL, NULL, join);
    if (rc) {
        free(dir);
        return cli_fail(rc);
    }
    char key[TWIN_OPENSSH_PUB_MAX], node_id[TWIN_NODE_ID_LEN + 1];
    twin_key_format_openssh(key, twin_node_key(c->node)->pk);
    twin_key_node_id(node_id, twin_node_key(c->node)->pk);
    if (c->json) {
        json_t *j =
            json_pack("{s:s, s:s, s:s, s:s, s:b}", "dir", dir, "key", key, "node_id", node_id,
                      "network_id", twin_node_network_id(c->node), "founded", network != NULL);
        cli_print_json(j);
        json_decref(j);
    } else if (network) {
        printf("Founded network \"%s\" (network id %s).\n", network, twin_node_network_id(c->node));
        printf("This node: %s (%s), admin, in %s.\n", who.name, who.org_id, dir);
        printf("Its key, to give to partners:\n%s\n", key);
    } else {
        printf("Created a node for %s (%s) in %s, joining network %s.\n", who.name, who.org_id, dir,
               join);
        printf("It holds no history until a member adds this key and the two nodes sync:\n%s\n",
               key);
    }
    cli_advise_backup(dir);
    free(dir);
    return CLI_OK;
}
