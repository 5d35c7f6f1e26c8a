#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/audit.h"
#include "twin/membership.h"
#include "twin/global.h"
#include "twin/error.h"
#include "twin/tree.h"
#include "twin/ops.h"
#include "twin/peers.h"
#include "twin/store.h"
#include "twin/util.h"

struct counts {
    size_t per_type[16];
    size_t withdrawn;
};

static int count(json_t *rec, void *ctx)
{
    struct counts *k = ctx;
    const char *type = json_string_value(json_object_get(rec, "type"));
    const char *const *t = twin_record_types();
    for (size_t i = 0; t[i]; i++)
        if (strcmp(t[i], type) == 0)
            k->per_type[i]++;
    if (json_is_true(json_object_get(rec, "withdrawn")))
        k->withdrawn++;
    return 0;
}

static json_t *peers_json(twin_node *n)
{
    struct twin_peer *peers = NULL;
    size_t count = 0;
    json_t *list = json_array();
    if (twin_peers_list(&peers, &count, n) == 0)
        for (size_t i = 0; i < count; i++)
            json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:s}", "name", peers[i].name,
                                                  "address", peers[i].host, "last_time",
                                                  (json_int_t)peers[i].last_time, "last_result",
                                                  peers[i].last_result));
    free(peers);
    return list;
}

static void print_peers(twin_node *n)
{
    struct twin_peer *peers = NULL;
    size_t count = 0;
    if (twin_peers_list(&peers, &count, n) != 0)
        return;
    printf("peers:   %s\n",
           count ? "" : " none (add one with: twin peer add NAME HOST:PORT NODEKEY)");
    for (size_t i = 0; i < count; i++) {
        char when[TWIN_UTIL_TIME_BYTES] = "never synced";
        if (peers[i].last_time)
            twin_util_format_time(when, peers[i].last_time);
        printf("  %-16s %s:%s  %s%s%s\n", peers[i].name, peers[i].host, peers[i].port, when,
               peers[i].last_result[0] ? "  " : "", peers[i].last_result);
    }
    free(peers);
}

int cmd_status(struct cli *c, int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error("status", "unexpected argument '%s'", argv[1]);
    int code = cli_open(c);
    if (code)
        return code;
    twin_node_read_out(c->node); /* reading out, as git does: twin verify checks hashes */
    git_oid head;
    int rc = twin_node_head(&head, c->node);
    char node_id[TWIN_NODE_ID_LEN + 1];
    twin_key_node_id(node_id, twin_node_key(c->node)->pk);
    if (rc == TWIN_ENOHISTORY) {
        if (c->json) {
            json_t *j =
                json_pack("{s:s, s:s, s:s, s:n}", "network_id", twin_node_network_id(c->node),
                          "node_id", node_id, "org_id", twin_node_org_id(c->node), "head");
            cli_print_json(j);
            json_decref(j);
        } else {
            printf("network:  %s (no history yet)\nnode:     %s (%s)\n%s\n",
                   twin_node_network_id(c->node), twin_node_org_id(c->node), node_id,
                   twin_error_last());
        }
        return CLI_OK;
    }
    if (rc)
        return cli_fail(rc);
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    struct twin_membership *m = NULL;
    struct counts k = {0};
    size_t commits = 0;
    if ((rc = twin_audit_log_count(&commits, c->node, &head)))
        goto cleanup;
    if (git_commit_lookup(&commit, twin_node_repo(c->node), &head) < 0) {
        rc = twin_error(TWIN_ERROR, "commit %s cannot be read, the store is damaged: %s",
                        git_oid_tostr_s(&head),
                        git_error_last() ? git_error_last()->message : "libgit2 error");
        goto cleanup;
    }
    if ((rc = twin_tree_open(&tree, twin_node_repo(c->node), git_commit_tree_id(commit),
                             "the head's tree")) ||
        (rc = twin_membership_load(&m, twin_node_repo(c->node), tree)) ||
        (rc = twin_ops_foreach(c->node, &head, NULL, count, &k)))
        goto cleanup;
    enum twin_key_state state;
    const struct twin_member *me = twin_membership_find_key(m, twin_node_key(c->node)->pk, &state);
    const char *role = me ? twin_membership_role_name(me->role) : "not a member";
    const char *const *types = twin_record_types();
    if (c->json) {
        json_t *records = json_object();
        for (size_t i = 0; types[i]; i++)
            if (k.per_type[i])
                json_object_set_new(records, types[i], json_integer((json_int_t)k.per_type[i]));
        json_t *j =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:I, s:o}", "network_id",
                      m->network_id, "network_name", m->network_name, "node_id", node_id, "org_id",
                      twin_node_org_id(c->node), "role", role, "head", git_oid_tostr_s(&head),
                      "commits", (json_int_t)commits, "members", (json_int_t)m->count, "records",
                      records, "withdrawn", (json_int_t)k.withdrawn, "peers", peers_json(c->node));
        cli_print_json(j);
        json_decref(j);
    } else {
        char when[TWIN_UTIL_TIME_BYTES];
        twin_util_format_time(when, (long long)git_commit_time(commit));
        printf("network:  %s (%s)\n", m->network_name, m->network_id);
        printf("node:     %s, %s\n", twin_node_org_id(c->node), role);
        printf("head:     %s  %s\n          %s\n", git_oid_tostr_s(&head), when,
               git_commit_summary(commit));
        printf("history:  %zu commits, %zu members\n", commits, m->count);
        printf("records: ");
        size_t total = 0;
        for (size_t i = 0; types[i]; i++)
            if (k.per_type[i]) {
                printf(" %s %zu", types[i], k.per_type[i]);
                total += k.per_type[i];
            }
        printf("%s (%zu withdrawn)\n", total ? "" : " none", k.withdrawn);
        print_peers(c->node);
    }
cleanup:
    twin_membership_free(m);
    git_tree_free(tree);
    git_commit_free(commit);
    return rc ? cli_fail(rc) : CLI_OK;
}
