#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "twin/syncrun.h"
#include "twin/error.h"

int cmd_sync(struct cli *c, int argc, char **argv)
{
    int code = cli_open(c);
    if (code)
        return code;
    struct twin_peer *peers = NULL;
    size_t n = 0;
    int rc;
    if (argc > 1) {
        if (!(peers = calloc((size_t)argc - 1, sizeof(*peers))))
            return CLI_CHECK_FAILED;
        for (int i = 1; i < argc; i++)
            if ((rc = twin_peers_get(&peers[n++], c->node, argv[i]))) {
                free(peers);
                return cli_fail(rc);
            }
    } else if ((rc = twin_peers_list(&peers, &n, c->node))) {
        return cli_fail(rc);
    }
    if (n == 0) {
        free(peers);
        fprintf(stderr, "twin: no peers to sync with (add one with: twin peer add NAME HOST:PORT "
                        "NODEKEY)\n");
        return CLI_USAGE;
    }
    int failed = 0;
    json_t *list = c->json ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        char line[1200];
        rc = twin_syncrun_peer(line, sizeof(line), c->node, &peers[i], NULL);
        failed += rc != 0;
        if (c->json)
            json_array_append_new(list, json_pack("{s:s, s:b, s:s}", "peer", peers[i].name, "ok",
                                                  rc == 0, "result", line));
        else
            fprintf(rc ? stderr : stdout, "%s%s\n", rc ? "twin: " : "", line);
    }
    if (c->json) {
        cli_print_json(list);
        json_decref(list);
    }
    free(peers);
    return failed ? CLI_CHECK_FAILED : CLI_OK;
}
