#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin/membership.h"
#include "cli.h"
#include "twin/checkpoint.h"
#include "twin/error.h"
#include "twin/util.h"

/* twin checkpoints [--out FILE]: the statements this node keeps, or a copy of them to share. */
int cmd_checkpoints(struct cli *c, int argc, char **argv)
{
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        int m = cli_option(&out, &i, argc, argv, "--out");
        if (m < 0)
            return CLI_USAGE;
        if (!m)
            return cli_usage_error("checkpoints", "unexpected argument '%s'", argv[i]);
    }
    int code = cli_open(c);
    if (code)
        return code;
    char path[4200];
    twin_checkpoint_path(path, sizeof(path), c->node);
    struct twin_checkpoint *cps = NULL;
    size_t n = 0;
    int rc = twin_checkpoint_read(&cps, &n, path);
    if (rc == TWIN_ENOTFOUND) { /* no session has ended here yet */
        twin_error_clear();
        rc = 0;
    }
    if (rc)
        return cli_fail(rc);
    if (out) {
        FILE *f = fopen(out, "wx");
        if (!f) {
            twin_checkpoint_free(cps, n);
            fprintf(stderr, "twin: cannot create %s (it must not exist yet)\n", out);
            return CLI_USAGE;
        }
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s%s\n", cps[i].text, cps[i].sig);
        int bad = fclose(f) != 0;
        twin_checkpoint_free(cps, n);
        if (bad) {
            fprintf(stderr, "twin: cannot write %s\n", out);
            return CLI_CHECK_FAILED;
        }
        printf("Wrote %zu statement%s to %s.\n", n, cli_s(n), out);
        return CLI_OK;
    }
    json_t *list = c->json ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        char signer[TWIN_NODE_ID_LEN + 1], peer[TWIN_NODE_ID_LEN + 1], when[32];
        char head[GIT_OID_HEXSZ + 1] = "none";
        twin_key_node_id(signer, cps[i].signer);
        twin_key_node_id(peer, cps[i].peer);
        if (cps[i].has_head)
            git_oid_tostr(head, sizeof(head), &cps[i].head);
        twin_util_format_time(when, cps[i].time);
        bool mine = memcmp(cps[i].signer, twin_node_key(c->node)->pk, TWIN_PUBKEY_BYTES) == 0;
        if (list)
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:I, s:b, s:s}", "signer",
                                                  signer, "peer", peer, "head", head, "time",
                                                  (json_int_t)cps[i].time, "own", mine, "statement",
                                                  cps[i].text));
        else
            printf("%s  %-6s node %.16s for node %.16s  head %.12s\n", when, mine ? "this" : "peer",
                   signer, peer, head);
    }
    if (list) {
        cli_print_json(list);
        json_decref(list);
    } else if (n == 0) {
        printf("No checkpoints yet: each sync session ends with one from each side.\n");
    }
    twin_checkpoint_free(cps, n);
    return CLI_OK;
}
