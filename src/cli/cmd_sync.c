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
        struct twin_sync_stats st;
        rc = twin_syncrun_peer_stats(line, sizeof(line), c->node, &peers[i], NULL, &st);
        failed += rc != 0;
        /* The line names the wraps when any moved; JSON always gives them (exchanged: whether
         * both nodes speak wraps/1). */
        if (c->json)
            json_array_append_new(
                list, json_pack("{s:s, s:b, s:s, s:{s:b, s:I, s:I, s:I, s:I}}", "peer",
                                peers[i].name, "ok", rc == 0, "result", line, "wraps", "exchanged",
                                st.wraps, "received", (json_int_t)st.wraps_received, "kept",
                                (json_int_t)st.wraps_kept, "dropped", (json_int_t)st.wraps_dropped,
                                "sent", (json_int_t)st.wraps_sent));
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
