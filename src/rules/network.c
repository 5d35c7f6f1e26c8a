/*
 * Founding a network: the genesis commit holds the descriptor and the founding admin; its id is
 * derived from the founding fields (twin_membership_network_id), so it never changes when the
 * policy does. And a node's settings taken back from history.
 */
#include "twin/network.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twin/codes.h"
#include "twin/error.h"
#include "twin/tree.h"
#include "twin/record.h"
#include "twin/store.h"
#include "base/util.h"

static int put_json(git_oid *blob, git_repository *repo, const json_t *j)
{
    char *text = NULL;
    size_t len;
    int rc = twin_record_canonical(&text, &len, j);
    if (rc)
        return rc;
    if (git_blob_create_from_buffer(blob, repo, text, len) < 0)
        rc = twin_error_git("writing a blob");
    free(text);
    return rc;
}

int twin_network_found(char id_out[static TWIN_NETWORK_ID_LEN + 1], git_repository *repo,
                       const twin_keypair *kp, const struct twin_identity *who, const char *name)
{
    int rc = 0;
    json_t *net = NULL, *member = NULL;
    git_treebuilder *root = NULL, *members = NULL;
    git_tree *tree = NULL;
    git_oid net_blob, member_blob, members_tree, root_tree, commit;
    char created[32], nonce_hex[33], founder[TWIN_OPENSSH_PUB_MAX], id[TWIN_NETWORK_ID_LEN + 1];
    unsigned char nonce[16];

    if (!twin_node_name_valid(name))
        return twin_error(TWIN_EINVALID, "network name: required, one line of at most 200 "
                                         "characters without '<' or '>'");
    time_t now = (time_t)twin_util_commit_time_now();
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
    randombytes_buf(nonce, sizeof(nonce));
    sodium_bin2hex(nonce_hex, sizeof(nonce_hex), nonce, sizeof(nonce));
    twin_key_format_openssh(founder, kp->pk);
    twin_membership_network_id(id, name, created, nonce_hex, founder);

    /* A new network seals personal data from its first commit (proto/SEALED.md 7), and keeps the
     * newest record rules. */
    net = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:{s:i, s:b, s:i}}", "format", 1, "id", id,
                    "name", name, "created", created, "nonce", nonce_hex, "founder_key", founder,
                    "policy", "admin_threshold", 1, "sealed_personal", 1, "rules",
                    TWIN_RULES_CURRENT);
    member = twin_membership_member_json(who, "admin", kp->pk);
    if (!net || !member) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    char member_file[160];
    snprintf(member_file, sizeof(member_file), "%s.json", who->org_id);
    if ((rc = put_json(&net_blob, repo, net)) || (rc = put_json(&member_blob, repo, member)))
        goto cleanup;
    if (git_treebuilder_new(&members, repo, NULL) < 0 ||
        git_treebuilder_insert(NULL, members, member_file, &member_blob, GIT_FILEMODE_BLOB) < 0 ||
        git_treebuilder_write(&members_tree, members) < 0 ||
        git_treebuilder_new(&root, repo, NULL) < 0 ||
        git_treebuilder_insert(NULL, root, TWIN_NETWORK_PATH, &net_blob, GIT_FILEMODE_BLOB) < 0 ||
        git_treebuilder_insert(NULL, root, TWIN_MEMBERS_DIR, &members_tree, GIT_FILEMODE_TREE) <
            0 ||
        git_treebuilder_write(&root_tree, root) < 0 ||
        git_tree_lookup(&tree, repo, &root_tree) < 0) {
        rc = twin_error_git("building the genesis tree");
        goto cleanup;
    }
    char message[512];
    snprintf(message, sizeof(message), "found network %s\n\nNetwork: %s\nFounder: %s (%s)\n", name,
             id, who->name, who->org_id);
    if ((rc = twin_store_write_commit(&commit, repo, kp, who->name, who->org_id, tree, NULL, 0,
                                      message)) ||
        (rc = twin_store_advance(repo, NULL, &commit, "twin: found network")))
        goto cleanup;
    memcpy(id_out, id, sizeof(id));
cleanup:
    json_decref(net);
    json_decref(member);
    git_treebuilder_free(root);
    git_treebuilder_free(members);
    git_tree_free(tree);
    return rc;
}

static int found_named(char id_out[static TWIN_NETWORK_ID_LEN + 1], git_repository *repo,
                       const twin_keypair *key, const struct twin_identity *who, void *ctx)
{
    return twin_network_found(id_out, repo, key, who, ctx);
}

int twin_network_create(twin_node **out, const char *dir, const struct twin_identity *who,
                        const char *name)
{
    *out = NULL;
    if (!twin_node_name_valid(name))
        return twin_error(TWIN_EINVALID, "network name: required, one line of at most 200 "
                                         "characters without '<' or '>'");
    return twin_node_init(out, dir, who, found_named, (void *)name, NULL);
}

/* A repository without twin's settings (rebuilt from a plain `git clone --mirror` of a node's
 * repo.git, with node.key beside it) takes them from history: the network id from the
 * network descriptor at the head, and this node's identity from the member file that holds its
 * key. Peers are not in history; the admin adds them again. */
int twin_network_settings_from_history(twin_node *n)
{
    struct twin_membership *m = NULL;
    int rc = twin_membership_at_head(&m, n);
    if (rc == TWIN_ENOHISTORY)
        return twin_error(TWIN_ENOTFOUND,
                          "node settings: twin.network is not set, and the repository holds no "
                          "history to take it from");
    if (rc)
        rc = twin_error_wrap(rc, "node settings: reading the membership");
    const struct twin_member *me =
        rc == 0 ? twin_membership_find_key(m, twin_node_key(n)->pk, NULL) : NULL;
    if (rc == 0 && !me)
        rc = twin_error(TWIN_ENOTFOUND,
                        "node settings are missing, and node.key belongs to no member of the "
                        "network in this repository");
    if (rc == 0 && ((rc = twin_node_config_set(n, "twin.network", m->network_id)) ||
                    (rc = twin_node_config_set(n, "twin.orgid", me->org_id)) ||
                    (rc = twin_node_config_set(n, "twin.name", me->name)) ||
                    (rc = twin_node_config_set(n, "twin.country", me->country)) ||
                    (rc = twin_node_config_set(n, "twin.side", me->side)) ||
                    (rc = twin_node_config_set(n, "twin.orgtype", me->org_type)) ||
                    (rc = twin_node_config_set(n, "core.logallrefupdates", "always"))))
        rc = twin_error_wrap(rc, "node settings");
    twin_membership_free(m);
    return rc;
}
