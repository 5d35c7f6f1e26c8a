#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin/membership.h"
#include "cli.h"
#include "twin/error.h"
#include "twin/ops.h"
#include "twin/peers.h"

static int member_add(struct cli *c, int argc, char **argv)
{
    struct twin_identity who = {0};
    const char *key = NULL, *role = "editor";
    bool own = false;
    for (int i = 2; i < argc; i++) {
        int m;
        if (strcmp(argv[i], "--own-partnerships") == 0) {
            own = true;
            continue;
        }
        if ((m = cli_identity_option(&who, &i, argc, argv)) ||
            (m = cli_option(&key, &i, argc, argv, "--key")) ||
            (m = cli_option(&role, &i, argc, argv, "--role"))) {
            if (m < 0)
                return CLI_USAGE;
            continue;
        }
        return cli_usage_error("member", "unexpected argument '%s'", argv[i]);
    }
    if (!who.name || !who.org_id || !who.country || !who.side || !key)
        return cli_usage_error("member", "add needs --name, --org-id, --country, --side and --key");
    unsigned char pk[TWIN_PUBKEY_BYTES];
    int rc = twin_key_parse_any(pk, key);
    if (rc)
        return cli_fail_context(rc, "--key");
    int code = cli_open(c);
    if (code)
        return code;
    git_oid commit;
    if ((rc = twin_ops_member_add_scoped(&commit, c->node, &who, role, pk, own)))
        return cli_fail(rc);
    if (twin_node_last_proposal(c->node)) {
        cli_report_governed(c, "Added", who.org_id, &commit);
        return CLI_OK;
    }
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:s}", "org_id", who.org_id, "role", role, "commit",
                              git_oid_tostr_s(&commit));
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("Added %s (%s) as %s in commit %.12s.\n", who.name, who.org_id, role,
               git_oid_tostr_s(&commit));
    }
    return CLI_OK;
}

static int member_list(struct cli *c, int argc, char **argv)
{
    if (argc > 2)
        return cli_usage_error("member", "unexpected argument '%s'", argv[2]);
    int code = cli_open(c);
    if (code)
        return code;
    struct twin_membership *m = NULL;
    int rc = twin_ops_members(&m, c->node, NULL);
    if (rc)
        return cli_fail(rc);
    json_t *list = c->json ? json_array() : NULL;
    if (!c->json)
        printf("%-24s %-8s %-6s %-8s %-4s %s\n", "ORG-ID", "ROLE", "SIDE", "COUNTRY", "KEYS",
               "NAME");
    for (size_t i = 0; i < m->count; i++) {
        const struct twin_member *mm = &m->members[i];
        if (c->json) {
            json_t *keys = json_array();
            for (size_t k = 0; k < mm->nkeys; k++) {
                char line[TWIN_OPENSSH_PUB_MAX];
                twin_key_format_openssh(line, mm->keys[k].pk);
                json_array_append_new(keys,
                                      json_pack("{s:s, s:s}", "key", line, "state",
                                                twin_membership_key_state_name(mm->keys[k].state)));
            }
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:b}", "org_id",
                                                  mm->org_id, "name", mm->name, "role",
                                                  twin_membership_role_name(mm->role), "side",
                                                  mm->side, "country", mm->country, "keys", keys,
                                                  "removed", mm->removed));
        } else {
            size_t active = 0;
            for (size_t k = 0; k < mm->nkeys; k++)
                active += mm->keys[k].state == TWIN_KEY_ACTIVE;
            printf("%-24s %-8s %-6s %-8s %-4zu %s%s\n", mm->org_id,
                   mm->removed ? "removed" : twin_membership_role_name(mm->role), mm->side,
                   mm->country, mm->removed ? 0 : active, mm->name,
                   mm->removed ? " (left the network)" : "");
        }
    }
    if (c->json) {
        cli_print_json(list);
        json_decref(list);
    }
    twin_membership_free(m);
    return CLI_OK;
}

enum member_verb { VERB_ADD_KEY, VERB_REVOKE_KEY, VERB_REMOVE };

/* After a revocation (key given) or a removal (key NULL) of member org: the peer entries whose
 * key no longer syncs are dropped, or, while the change waits for approvals, named. */
static void drop_peers(struct cli *c, const char *org, const unsigned char *key, bool pending)
{
    struct twin_peer *peers = NULL;
    size_t count = 0;
    struct twin_membership *m = NULL;
    if (twin_peers_list(&peers, &count, c->node) != 0 || count == 0 ||
        twin_membership_at_head(&m, c->node) != 0) {
        twin_error_clear();
        goto cleanup;
    }
    for (size_t i = 0; i < count; i++) {
        const struct twin_member *who = twin_membership_find_key(m, peers[i].key, NULL);
        bool gone = key ? memcmp(peers[i].key, key, TWIN_PUBKEY_BYTES) == 0
                        : who && strcmp(who->org_id, org) == 0;
        if (!gone)
            continue;
        if (pending)
            fprintf(stderr,
                    "twin: once the change is approved this node stops syncing with peer %s; "
                    "drop it then with: twin peer remove %s\n",
                    peers[i].name, peers[i].name);
        else if (twin_peers_remove(c->node, peers[i].name) == 0)
            fprintf(stderr, "twin: dropped peer %s: its key no longer syncs with this network\n",
                    peers[i].name);
        else
            fprintf(stderr,
                    "twin: this node no longer syncs with peer %s; drop it with: twin peer "
                    "remove %s (%s)\n",
                    peers[i].name, peers[i].name, twin_error_last());
    }
cleanup:
    twin_membership_free(m);
    free(peers);
}

/* twin member add-key ORG KEY, revoke-key ORG KEY and remove ORG. */
static int member_edit(struct cli *c, int argc, char **argv, enum member_verb verb)
{
    bool with_key = verb != VERB_REMOVE;
    if (argc != (with_key ? 4 : 3))
        return cli_usage_error("member", "%s",
                               with_key ? "add-key and revoke-key take ORG-ID and KEY"
                                        : "remove takes one ORG-ID");
    unsigned char pk[TWIN_PUBKEY_BYTES];
    if (with_key && twin_key_parse_any(pk, argv[3]) != 0)
        return cli_usage_error("member", "'%s' is not a key (the ssh-ed25519 line, or a node id)",
                               argv[3]);
    int code = cli_open(c);
    if (code)
        return code;
    git_oid commit;
    int rc = verb == VERB_ADD_KEY      ? twin_ops_member_add_key(&commit, c->node, argv[2], pk)
             : verb == VERB_REVOKE_KEY ? twin_ops_member_revoke_key(&commit, c->node, argv[2], pk)
                                       : twin_ops_member_remove(&commit, c->node, argv[2]);
    if (rc)
        return cli_fail(rc);
    if (verb != VERB_ADD_KEY)
        drop_peers(c, argv[2], verb == VERB_REVOKE_KEY ? pk : NULL,
                   twin_node_last_proposal(c->node) != NULL);
    cli_report_governed(c,
                        verb == VERB_ADD_KEY      ? "Added a key to"
                        : verb == VERB_REVOKE_KEY ? "Revoked a key of"
                                                  : "Removed",
                        argv[2], &commit);
    return CLI_OK;
}

/* twin member set ORG-ID [--name NAME] [--country CC] [--org-type N] [--side SIDE] */
static int member_set(struct cli *c, int argc, char **argv)
{
    struct twin_member_fields f = {0};
    const char *org = NULL;
    for (int i = 2; i < argc; i++) {
        int m;
        if ((m = cli_option(&f.name, &i, argc, argv, "--name")) ||
            (m = cli_option(&f.country, &i, argc, argv, "--country")) ||
            (m = cli_option(&f.org_type, &i, argc, argv, "--org-type")) ||
            (m = cli_option(&f.side, &i, argc, argv, "--side"))) {
            if (m < 0)
                return CLI_USAGE;
            continue;
        }
        if (org || argv[i][0] == '-')
            return cli_usage_error("member", "unexpected argument '%s'", argv[i]);
        org = argv[i];
    }
    if (!org)
        return cli_usage_error("member", "set takes the ORG-ID of the member to change");
    if (!f.name && !f.country && !f.org_type && !f.side)
        return cli_usage_error("member", "set needs at least one of --name, --country, "
                                         "--org-type and --side");
    int code = cli_open(c);
    if (code)
        return code;
    git_oid commit;
    int rc = twin_ops_member_set(&commit, c->node, org, &f);
    if (rc)
        return cli_fail(rc);
    cli_report_governed(c, "Changed member", org, &commit);
    return CLI_OK;
}

int cmd_member(struct cli *c, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("member", "say add, add-key, list, set, revoke-key or remove");
    if (strcmp(argv[1], "add") == 0)
        return member_add(c, argc, argv);
    if (strcmp(argv[1], "list") == 0)
        return member_list(c, argc, argv);
    if (strcmp(argv[1], "set") == 0)
        return member_set(c, argc, argv);
    if (strcmp(argv[1], "add-key") == 0)
        return member_edit(c, argc, argv, VERB_ADD_KEY);
    if (strcmp(argv[1], "revoke-key") == 0)
        return member_edit(c, argc, argv, VERB_REVOKE_KEY);
    if (strcmp(argv[1], "remove") == 0)
        return member_edit(c, argc, argv, VERB_REMOVE);
    return cli_usage_error("member", "'%s' is not add, add-key, list, set, revoke-key or remove",
                           argv[1]);
}

/* twin key rotate */
int cmd_key(struct cli *c, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "rotate") != 0)
        return cli_usage_error("key", "say rotate");
    int code = cli_open(c);
    if (code)
        return code;
    git_oid commit;
    char before[TWIN_OPENSSH_PUB_MAX], after[TWIN_OPENSSH_PUB_MAX];
    twin_key_format_openssh(before, twin_node_key(c->node)->pk);
    int rc = twin_ops_key_rotate(&commit, c->node);
    if (rc)
        return cli_fail(rc);
    twin_key_format_openssh(after, twin_node_key(c->node)->pk);
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:s}", "commit", git_oid_tostr_s(&commit), "retired",
                              before, "key", after);
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("Rotated this node's key in commit %s.\nRetired: %s\nNew key: %s\n",
               git_oid_tostr_s(&commit), before, after);
        printf("Peers that list this node by key need the new one (twin peer add).\n");
    }
    return CLI_OK;
}
