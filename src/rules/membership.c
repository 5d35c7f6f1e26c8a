/*
 * The membership registry: the network descriptor (network.json: id, name, policy) and one file
 * per member institution (members/<org-id>.json) with its role and keys. The membership in force
 * for a commit is the one in its parent's tree, so authority is positional in history, never by
 * clock. The network id is derived from the descriptor's founding fields (name, creation time,
 * nonce, founder key), so anyone holding the genesis can recompute it.
 */
#include "twin/membership.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "twin/attachment.h"
#include "twin/codes.h"
#include "twin/error.h"
#include "twin/record.h"
#include "twin/tree.h"

static const char *const role_names[] = {"observer", "editor", "admin"};
static const char *const key_state_names[] = {"active", "revoked", "retired",
                                              "void (its member was removed)"};

const char *twin_membership_role_name(enum twin_role role)
{
    return role_names[role];
}

const char *twin_membership_key_state_name(enum twin_key_state state)
{
    return key_state_names[state];
}

int twin_membership_role_parse(enum twin_role *out, const char *name)
{
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, role_names[i]) == 0) {
            *out = (enum twin_role)i;
            return 0;
        }
    return twin_error(TWIN_EINVALID, "role '%s' is not one of admin | editor | observer",
                      name ? name : "");
}

static void hex_encode(char *out, const unsigned char *in, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void twin_membership_network_id(char out[static TWIN_NETWORK_ID_LEN + 1], const char *name,
                                const char *created, const char *nonce, const char *founder_key)
{
    crypto_hash_sha256_state st;
    unsigned char h[crypto_hash_sha256_BYTES];
    static const char domain[] = "twin network id v1\n";
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)domain, sizeof(domain) - 1);
    const char *parts[] = {name, created, nonce, founder_key};
    for (int i = 0; i < 4; i++) {
        crypto_hash_sha256_update(&st, (const unsigned char *)parts[i], strlen(parts[i]));
        crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    }
    crypto_hash_sha256_final(&st, h);
    hex_encode(out, h, TWIN_NETWORK_ID_LEN / 2);
}

json_t *twin_membership_member_json(const struct twin_identity *who, const char *role,
                                    const unsigned char pk[static TWIN_PUBKEY_BYTES])
{
    char line[TWIN_OPENSSH_PUB_MAX];
    twin_key_format_openssh(line, pk);
    json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s}]}", "name", who->name, "org_id",
                          who->org_id, "country", who->country, "side", who->side, "role", role,
                          "keys", "key", line, "state", "active");
    if (m && who->org_type)
        json_object_set_new(m, "org_type", json_string(who->org_type));
    return m;
}

static const char *get_str(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static int only_keys(const json_t *j, const char *what, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok = ok || strcmp(*a, key) == 0;
        if (!ok)
            return twin_error(TWIN_EINVALID, "%s.%s: unknown field", what, key);
    }
    return 0;
}

int twin_membership_rules(const json_t *net)
{
    const json_t *rules = json_object_get(json_object_get(net, "policy"), "rules");
    return json_is_integer(rules) ? (int)json_integer_value(rules) : 1;
}

int twin_membership_check_descriptor(const json_t *net)
{
    static const char *const fields[] = {"format", "id",          "name",   "created",
                                         "nonce",  "founder_key", "policy", NULL};
    static const char *const policy_fields[] = {"admin_threshold", "sealed_personal", "rules",
                                                "attachment_max_bytes", NULL};
    int rc;
    if (!json_is_object(net))
        return twin_error(TWIN_EINVALID, "network.json: not a JSON object");
    if ((rc = only_keys(net, "network", fields)))
        return rc;
    if (json_integer_value(json_object_get(net, "format")) != 1)
        return twin_error(TWIN_EINVALID, "network.format: this twin reads format 1 only");
    const char *id = get_str(net, "id"), *name = get_str(net, "name"),
               *created = get_str(net, "created"), *nonce = get_str(net, "nonce"),
               *founder = get_str(net, "founder_key");
    if (!id || !name || !created || !nonce || !founder)
        return twin_error(TWIN_EINVALID,
                          "network: id, name, created, nonce and founder_key are required");
    if (!twin_node_name_valid(name))
        return twin_error(TWIN_EINVALID, "network.name: not a valid name");
    unsigned char pk[TWIN_PUBKEY_BYTES];
    if (twin_key_parse_openssh(pk, founder))
        return twin_error_wrap(TWIN_EINVALID, "network.founder_key");
    char expect[TWIN_NETWORK_ID_LEN + 1];
    twin_membership_network_id(expect, name, created, nonce, founder);
    if (strcmp(expect, id) != 0)
        return twin_error(TWIN_EINVALID,
                          "network.id: %s is not derived from the founding fields (expected %s)",
                          id, expect);
    const json_t *policy = json_object_get(net, "policy");
    if (!policy)
        return twin_error(TWIN_EINVALID, "network.policy: required");
    if (!json_is_object(policy))
        return twin_error(TWIN_EINVALID, "network.policy: must be an object");
    if ((rc = only_keys(policy, "network.policy", policy_fields)))
        return rc;
    const json_t *k = json_object_get(policy, "admin_threshold");
    if (!json_is_integer(k) || json_integer_value(k) < 1 || json_integer_value(k) > 100)
        return twin_error(TWIN_EINVALID, "network.policy.admin_threshold: must be 1-100");
    const json_t *sp = json_object_get(policy, "sealed_personal");
    if (sp && !json_is_true(sp))
        return twin_error(TWIN_EINVALID,
                          "network.policy.sealed_personal: true when present (it never goes back)");
    const json_t *rules = json_object_get(policy, "rules");
    if (rules && (!json_is_integer(rules) || json_integer_value(rules) < 1 ||
                  json_integer_value(rules) > TWIN_RULES_CURRENT))
        return twin_error(TWIN_EINVALID,
                          "network.policy.rules: this twin knows record rules 1 to %d (a newer "
                          "twin may know more)",
                          TWIN_RULES_CURRENT);
    const json_t *cap = json_object_get(policy, "attachment_max_bytes");
    if (cap && (!json_is_integer(cap) || json_integer_value(cap) < 1 ||
                json_integer_value(cap) > TWIN_ATTACHMENT_MAX_BYTES))
        return twin_error(TWIN_EINVALID,
                          "network.policy.attachment_max_bytes: a number of bytes from 1 to %d "
                          "(25 MiB)",
                          TWIN_ATTACHMENT_MAX_BYTES);
    return 0;
}

int twin_membership_check_member(const json_t *m, const char *file_org_id)
{
    static const char *const fields[] = {"name", "org_id",   "country", "side",  "role",
                                         "keys", "org_type", "removed", "scope", NULL};
    int rc;
    if (!json_is_object(m))
        return twin_error(TWIN_EINVALID, "member: not a JSON object");
    if ((rc = only_keys(m, "member", fields)))
        return rc;
    struct twin_identity who = {get_str(m, "name"), get_str(m, "org_id"), get_str(m, "country"),
                                get_str(m, "side"), get_str(m, "org_type")};
    if (json_object_get(m, "org_type") && !who.org_type)
        return twin_error(TWIN_EINVALID, "member.org_type: must be a string");
    if ((rc = twin_node_identity_check(&who)))
        return twin_error_wrap(rc, "member");
    if (file_org_id && strcmp(who.org_id, file_org_id) != 0)
        return twin_error(TWIN_EINVALID, "member %s is stored under the name of %s", who.org_id,
                          file_org_id);
    enum twin_role role = TWIN_ROLE_OBSERVER;
    if ((rc = twin_membership_role_parse(&role, get_str(m, "role"))))
        return twin_error_wrap(rc, "member.role");
    if (json_object_get(m, "removed") && !json_is_true(json_object_get(m, "removed")))
        return twin_error(TWIN_EINVALID, "member.removed: true when present");
    const char *scope = get_str(m, "scope");
    if (json_object_get(m, "scope") && (!scope || strcmp(scope, TWIN_SCOPE_OWN) != 0))
        return twin_error(TWIN_EINVALID, "member.scope: \"%s\" when present", TWIN_SCOPE_OWN);
    if (scope && role != TWIN_ROLE_EDITOR)
        return twin_error(TWIN_EINVALID, "member.scope: only an editor's writing can be limited");
    const json_t *keys = json_object_get(m, "keys");
    if (!json_is_array(keys) || json_array_size(keys) == 0 ||
        json_array_size(keys) > TWIN_MEMBER_MAX_KEYS)
        return twin_error(TWIN_EINVALID, "member.keys: a list of 1-%d keys", TWIN_MEMBER_MAX_KEYS);
    for (size_t i = 0; i < json_array_size(keys); i++) {
        static const char *const key_fields[] = {"key", "state", NULL};
        const json_t *k = json_array_get(keys, i);
        unsigned char pk[TWIN_PUBKEY_BYTES];
        const char *state = get_str(k, "state");
        if (!json_is_object(k) || (rc = only_keys(k, "member.keys[]", key_fields)))
            return json_is_object(k)
                       ? rc
                       : twin_error(TWIN_EINVALID, "member.keys[%zu]: not an object", i);
        if (!get_str(k, "key") || twin_key_parse_openssh(pk, get_str(k, "key")))
            return twin_error(TWIN_EINVALID, "member.keys[%zu].key: not an ssh-ed25519 key", i);
        bool state_ok = false;
        for (int s = 0; s < 3; s++)
            state_ok = state_ok || (state && strcmp(state, key_state_names[s]) == 0);
        if (!state_ok)
            return twin_error(TWIN_EINVALID,
                              "member.keys[%zu].state: must be active | revoked | retired", i);
        for (size_t j = 0; j < i; j++)
            if (json_equal(json_object_get(json_array_get(keys, j), "key"),
                           json_object_get(k, "key")))
                return twin_error(TWIN_EINVALID, "member.keys[%zu]: the key is listed twice", i);
    }
    return 0;
}

/* What a member that is not an admin may change, for the messages that refuse anything more. */
#define NOT_ADMIN_RULE                                                                             \
    "a member that is not an admin may change only its own name and org type, and rotate its "     \
    "own key"

static const char *key_state_of(const json_t *keys, const json_t *key)
{
    for (size_t i = 0; i < json_array_size(keys); i++)
        if (json_equal(json_object_get(json_array_get(keys, i), "key"), key))
            return get_str(json_array_get(keys, i), "state");
    return NULL;
}

int twin_membership_check_change(const json_t *old, const json_t *cur, bool by_admin,
                                 const unsigned char signer[static TWIN_PUBKEY_BYTES])
{
    const json_t *old_keys = json_object_get(old, "keys"), *new_keys = json_object_get(cur, "keys");
    if (json_is_true(json_object_get(old, "removed")) &&
        !json_is_true(json_object_get(cur, "removed")))
        return twin_error(TWIN_EINVALID, "a removed member cannot be restored");
    /* Keys stay listed for ever, and a key that stopped being active never becomes so again:
     * allowed-signers windows and old signatures depend on both. */
    for (size_t i = 0; i < json_array_size(old_keys); i++) {
        const json_t *k = json_array_get(old_keys, i);
        const char *was = get_str(k, "state"),
                   *now = key_state_of(new_keys, json_object_get(k, "key"));
        if (!now)
            return twin_error(TWIN_EINVALID, "key %zu was removed from the member's list", i + 1);
        if (strcmp(was, "active") != 0 && strcmp(now, "active") == 0)
            return twin_error(TWIN_EINVALID, "a %s key cannot become active again", was);
        if (strcmp(was, "revoked") == 0 && strcmp(now, "revoked") != 0)
            return twin_error(TWIN_EINVALID, "a revoked key stays revoked");
    }
    if (by_admin)
        return 0;
    /* Anyone else changes only its own file (the caller sees to that), and there only what is
     * its own to say: it may correct its institution's name and IATI organisation type, and
     * rotate its key (one new active key added last in place of the signing one). Role, scope,
     * country and side place it in the partnership, so they stay the admins'. */
    static const char *const descriptive[] = {"name", "org_type"};
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)old, key, v)
    {
        bool own = strcmp(key, "keys") == 0;
        for (size_t i = 0; i < 2; i++)
            own = own || strcmp(key, descriptive[i]) == 0;
        if (!own && !json_equal(v, json_object_get(cur, key)))
            return twin_error(TWIN_EINVALID, "%s changed: %s", key, NOT_ADMIN_RULE);
    }
    json_object_foreach((json_t *)cur, key, v)
    {
        if (strcmp(key, "org_type") != 0 && !json_object_get(old, key))
            return twin_error(TWIN_EINVALID, "%s added: %s", key, NOT_ADMIN_RULE);
    }
    if (json_equal(old_keys, new_keys))
        return 0;
    char line[TWIN_OPENSSH_PUB_MAX];
    twin_key_format_openssh(line, signer);
    json_t *expect = json_deep_copy(old_keys);
    int rc = 0;
    for (size_t i = 0; i < json_array_size(expect); i++) {
        json_t *k = json_array_get(expect, i);
        if (strcmp(get_str(k, "key"), line) == 0)
            json_object_set_new(k, "state", json_string("retired"));
    }
    const json_t *added = json_array_get(new_keys, json_array_size(new_keys) - 1);
    if (json_array_size(new_keys) != json_array_size(old_keys) + 1)
        rc = twin_error(TWIN_EINVALID, "keys changed beyond a rotation: %s", NOT_ADMIN_RULE);
    else if (json_array_append(expect, (json_t *)added) != 0 || !json_equal(expect, new_keys) ||
             strcmp(get_str(added, "state"), "active") != 0)
        rc = twin_error(TWIN_EINVALID,
                        "keys changed beyond a rotation (one new active key added last, the "
                        "signing key retired): %s",
                        NOT_ADMIN_RULE);
    json_decref(expect);
    return rc;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void member_clear(struct twin_member *m)
{
    free(m->org_id);
    free(m->name);
    free(m->country);
    free(m->side);
    free(m->org_type);
}

void twin_membership_free(struct twin_membership *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->count; i++)
        member_clear(&m->members[i]);
    free(m->members);
    free(m->network_name);
    free(m);
}

static int load_json(json_t **out, git_repository *repo, const git_tree *root, const char *path)
{
    char *text = NULL;
    size_t len;
    int rc = twin_tree_read(&text, &len, repo, root, path);
    if (rc)
        return rc;
    rc = twin_record_parse_canonical(out, text, len);
    free(text);
    return rc ? twin_error_wrap(rc, "%s", path) : 0;
}

int twin_membership_load(struct twin_membership **out, git_repository *repo, const git_tree *root)
{
    *out = NULL;
    json_t *net = NULL, *mj = NULL;
    git_tree_entry *members_entry = NULL;
    git_tree *members = NULL;
    int rc;
    struct twin_membership *m = calloc(1, sizeof(*m));
    if (!m)
        return twin_error(TWIN_ERROR, "out of memory");
    if ((rc = load_json(&net, repo, root, TWIN_NETWORK_PATH)) ||
        (rc = twin_membership_check_descriptor(net)))
        goto cleanup;
    memcpy(m->network_id, get_str(net, "id"), TWIN_NETWORK_ID_LEN + 1);
    m->network_name = strdup(get_str(net, "name"));
    m->admin_threshold =
        (int)json_integer_value(json_object_get(json_object_get(net, "policy"), "admin_threshold"));
    m->sealed_personal =
        json_is_true(json_object_get(json_object_get(net, "policy"), "sealed_personal"));
    m->rules = twin_membership_rules(net);
    m->attachment_max = twin_attachment_cap(net);

    if (git_tree_entry_bypath(&members_entry, root, TWIN_MEMBERS_DIR) < 0 ||
        git_tree_entry_type(members_entry) != GIT_OBJECT_TREE) {
        rc = twin_error(TWIN_EINVALID, "members/: missing");
        goto cleanup;
    }
    if ((rc = twin_tree_open(&members, repo, git_tree_entry_id(members_entry), TWIN_MEMBERS_DIR)))
        goto cleanup;
    size_t n = git_tree_entrycount(members);
    if (n > TWIN_MEMBERS_MAX) {
        rc = twin_error(TWIN_ELIMIT, "members/: more than %d members", TWIN_MEMBERS_MAX);
        goto cleanup;
    }
    if (!(m->members = calloc(n ? n : 1, sizeof(*m->members)))) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(members, i);
        const char *fname = git_tree_entry_name(e);
        size_t flen = strlen(fname);
        char path[256], org[128];
        if (flen < 6 || flen - 5 >= sizeof(org) || strcmp(fname + flen - 5, ".json") != 0) {
            rc = twin_error(TWIN_EINVALID, "members/%s: not a member file", fname);
            goto cleanup;
        }
        memcpy(org, fname, flen - 5);
        org[flen - 5] = '\0';
        snprintf(path, sizeof(path), "%s/%s", TWIN_MEMBERS_DIR, fname);
        /* load_json names the file in its errors already; the check does not. */
        if ((rc = load_json(&mj, repo, root, path)))
            goto cleanup;
        if ((rc = twin_membership_check_member(mj, org))) {
            rc = twin_error_wrap(rc, "members/%s", fname);
            goto cleanup;
        }
        struct twin_member *mm = &m->members[m->count++];
        mm->org_id = dup_or_null(get_str(mj, "org_id"));
        mm->name = dup_or_null(get_str(mj, "name"));
        mm->country = dup_or_null(get_str(mj, "country"));
        mm->side = dup_or_null(get_str(mj, "side"));
        mm->org_type = dup_or_null(get_str(mj, "org_type"));
        twin_membership_role_parse(&mm->role, get_str(mj, "role"));
        mm->removed = json_is_true(json_object_get(mj, "removed"));
        mm->own_partnerships = get_str(mj, "scope") != NULL;
        const json_t *keys = json_object_get(mj, "keys");
        for (size_t k = 0; k < json_array_size(keys); k++) {
            const json_t *kj = json_array_get(keys, k);
            twin_key_parse_openssh(mm->keys[k].pk, get_str(kj, "key"));
            const char *state = get_str(kj, "state");
            mm->keys[k].state = strcmp(state, "active") == 0    ? TWIN_KEY_ACTIVE
                                : strcmp(state, "revoked") == 0 ? TWIN_KEY_REVOKED
                                                                : TWIN_KEY_RETIRED;
        }
        mm->nkeys = json_array_size(keys);
        json_decref(mj);
        mj = NULL;
    }
    /* A key belongs to one member only, or a signature could not say who made a change. */
    for (size_t a = 0; a < m->count; a++)
        for (size_t b = a + 1; b < m->count; b++)
            for (size_t i = 0; i < m->members[a].nkeys; i++)
                for (size_t j = 0; j < m->members[b].nkeys; j++)
                    if (memcmp(m->members[a].keys[i].pk, m->members[b].keys[j].pk,
                               TWIN_PUBKEY_BYTES) == 0) {
                        rc = twin_error(TWIN_EINVALID, "members %s and %s share a key",
                                        m->members[a].org_id, m->members[b].org_id);
                        goto cleanup;
                    }
    *out = m;
    m = NULL;
cleanup:
    json_decref(net);
    json_decref(mj);
    git_tree_free(members);
    git_tree_entry_free(members_entry);
    twin_membership_free(m);
    return rc;
}

const struct twin_member *twin_membership_find_key(const struct twin_membership *m,
                                                   const unsigned char pk[TWIN_PUBKEY_BYTES],
                                                   enum twin_key_state *state)
{
    for (size_t i = 0; i < m->count; i++)
        for (size_t k = 0; k < m->members[i].nkeys; k++)
            if (memcmp(m->members[i].keys[k].pk, pk, TWIN_PUBKEY_BYTES) == 0) { /* public */
                if (state)
                    *state = m->members[i].removed ? TWIN_KEY_MEMBER_REMOVED
                                                   : m->members[i].keys[k].state;
                return &m->members[i];
            }
    return NULL;
}

const struct twin_member *twin_membership_find(const struct twin_membership *m, const char *org_id)
{
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->members[i].org_id, org_id) == 0)
            return &m->members[i];
    return NULL;
}

int twin_membership_at_head(struct twin_membership **out, twin_node *n)
{
    git_oid head;
    git_commit *c = NULL;
    git_tree *tree = NULL;
    *out = NULL;
    int rc = twin_node_head(&head, n);
    if (rc == 0 &&
        (git_commit_lookup(&c, twin_node_repo(n), &head) < 0 || git_commit_tree(&tree, c) < 0))
        rc = twin_error_git("reading the head commit");
    if (rc == 0)
        rc = twin_membership_load(out, twin_node_repo(n), tree);
    git_tree_free(tree);
    git_commit_free(c);
    return rc;
}
