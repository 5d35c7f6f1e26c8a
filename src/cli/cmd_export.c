#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../network.h"
#include "cli.h"
#include "twin/error.h"

/* One line per member key: "<org-id> namespaces="git" ssh-ed25519 AAAA...", the format of
 * git's gpg.ssh.allowedSignersFile (ssh-keygen's ALLOWED SIGNERS). */
static int allowed_signers(struct cli *c, FILE *out)
{
    git_oid head;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    struct twin_membership *m = NULL;
    int rc = twin_node_head(&head, c->node);
    if (rc)
        return rc;
    if (git_commit_lookup(&commit, twin_node_repo(c->node), &head) < 0 ||
        git_commit_tree(&tree, commit) < 0) {
        rc = twin_error_git("reading the head");
        goto cleanup;
    }
    if ((rc = twin_membership_load(&m, twin_node_repo(c->node), tree)))
        goto cleanup;
    for (size_t i = 0; i < m->count; i++)
        for (size_t k = 0; k < m->members[i].nkeys; k++) {
            char line[TWIN_OPENSSH_PUB_MAX];
            twin_key_format_openssh(line, m->members[i].keys[k].pk);
            fprintf(out, "%s namespaces=\"git\" %s\n", m->members[i].org_id, line);
        }
cleanup:
    twin_membership_free(m);
    git_tree_free(tree);
    git_commit_free(commit);
    return rc;
}

int cmd_export(struct cli *c, int argc, char **argv)
{
    const char *what = NULL, *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        int m = cli_option(&out_path, &i, argc, argv, "--out");
        if (m < 0)
            return CLI_USAGE;
        if (m)
            continue;
        if (what)
            return cli_usage_error("export", "unexpected argument '%s'", argv[i]);
        what = argv[i];
    }
    if (!what || strcmp(what, "allowed-signers") != 0)
        return cli_usage_error("export", "say what to export: allowed-signers");
    int code = cli_open(c);
    if (code)
        return code;
    FILE *out = out_path ? fopen(out_path, "w") : stdout;
    if (!out) {
        fprintf(stderr, "twin: cannot write %s: %s\n", out_path, strerror(errno));
        return CLI_CHECK_FAILED;
    }
    int rc = allowed_signers(c, out);
    if (out != stdout && fclose(out) != 0 && rc == 0)
        rc = twin_error(TWIN_ERROR, "writing %s failed", out_path);
    return rc ? cli_fail(rc) : CLI_OK;
}
