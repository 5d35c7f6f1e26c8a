#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/peers.h"
#include "twin/util.h"

int cmd_peer(struct cli *c, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("peer", "say add, list or remove");
    int code, rc;
    if (strcmp(argv[1], "add") == 0) {
        if (argc != 5)
            return cli_usage_error("peer", "add takes NAME HOST:PORT NODEKEY");
        if ((code = cli_open(c)))
            return code;
        if ((rc = twin_peers_add(c->node, argv[2], argv[3], argv[4])))
            return cli_fail(rc);
        if (!c->json)
            printf("Added peer %s at %s.\n", argv[2], argv[3]);
        return CLI_OK;
    }
    if (strcmp(argv[1], "remove") == 0) {
        if (argc != 3)
            return cli_usage_error("peer", "remove takes NAME");
        if ((code = cli_open(c)))
            return code;
        if ((rc = twin_peers_remove(c->node, argv[2])))
            return cli_fail(rc);
        if (!c->json)
            printf("Removed peer %s.\n", argv[2]);
        return CLI_OK;
    }
    if (strcmp(argv[1], "list") == 0) {
        if (argc != 2)
            return cli_usage_error("peer", "list takes no arguments");
        if ((code = cli_open(c)))
            return code;
        struct twin_peer *peers = NULL;
        size_t n = 0;
        if ((rc = twin_peers_list(&peers, &n, c->node)))
            return cli_fail(rc);
        json_t *list = c->json ? json_array() : NULL;
        if (n == 0 && !c->json)
            printf("no peers: add one with twin peer add NAME HOST:PORT NODEKEY (NODEKEY: the "
                   "line twin id prints on the peer's node)\n");
        for (size_t i = 0; i < n; i++) {
            char key[TWIN_OPENSSH_PUB_MAX], addr[300], when[32] = "never";
            twin_key_format_openssh(key, peers[i].key);
            snprintf(addr, sizeof(addr), strchr(peers[i].host, ':') ? "[%s]:%s" : "%s:%s",
                     peers[i].host, peers[i].port);
            if (peers[i].last_time)
                twin_util_format_time(when, peers[i].last_time);
            if (c->json)
                json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:I, s:s}", "name",
                                                      peers[i].name, "address", addr, "key", key,
                                                      "last_time", (json_int_t)peers[i].last_time,
                                                      "last_result", peers[i].last_result));
            else
                printf("%-16s %-22s %s\n  last sync: %s%s%s\n", peers[i].name, addr, key, when,
                       peers[i].last_result[0] ? ", " : "", peers[i].last_result);
        }
        if (c->json) {
            cli_print_json(list);
            json_decref(list);
        }
        free(peers);
        return CLI_OK;
    }
    return cli_usage_error("peer", "'%s' is not add, list or remove", argv[1]);
}
