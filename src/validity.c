/*
 * The validity predicate. It compares a commit's tree with its parent's by walking only the
 * subtrees whose ids differ, and checks every changed file against the rules for its place:
 * network.json and members/ are the admins', records/ the editors' and admins'.
 */
#include "twin/validity.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "network.h"
#include "treediff.h"
#include "twin/merge.h"
#include "governance.h"
#include "packread.h"
#include "sha1.h"
#include "twin/error.h"
#include "twin/record.h"
#include "twin/sshsig.h"
#include "twin/twin.h"

/* The membership is keyed by the ids of network.json and members/, which change far less often
 * than the root. The trees of one commit are the parent trees of the next. */
struct twin_check_cache {
    git_oid network, members;
    bool valid;
    struct twin_membership *membership;
    twin_tree_cache *trees;
    /* The last commit checked and its tree: most often the parent of the next one. */
    git_repository *last_repo;
    git_commit *last_commit;
    git_tree *last_tree;
};

static void remember_last(twin_check_cache *c, git_repository *repo, git_commit *commit,
                          git_tree *tree)
{
    git_commit_free(c->last_commit);
    git_tree_free(c->last_tree);
    c->last_commit = NULL;
    c->last_tree = NULL;
    if (commit && tree &&
        git_object_dup((git_object **)&c->last_commit, (git_object *)commit) == 0 &&
        git_object_dup((git_object **)&c->last_tree, (git_object *)tree) == 0) {
        c->last_repo = repo;
    } else {
        git_commit_free(c->last_commit);
        c->last_commit = NULL;
    }
}

int twin_check_cache_new(twin_check_cache **out)
{
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return twin_error(TWIN_ERROR, "out of memory");
    int rc = twin_tree_cache_new(&(*out)->trees);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

void twin_check_cache_free(twin_check_cache *c)
{
    if (!c)
        return;
    twin_membership_free(c->membership);
    remember_last(c, NULL, NULL, NULL);
    twin_tree_cache_free(c->trees);
    free(c);
}

int twin_check_cache_pack_dirs(twin_check_cache *c, git_repository *repo, const char *const *dirs,
                               size_t ndirs)
{
    return twin_tree_cache_bind_dirs(c->trees, repo, dirs, ndirs);
}

void twin_check_cache_trust_packs(twin_check_cache *c)
{
    twin_tree_cache_trust_store(c->trees);
}

static int verdict(struct twin_check *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int verdict(struct twin_check *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
    va_end(ap);
    out->valid = false;
    return 0;
}

/* Whether data hashes to id as an object of type: the check libgit2 makes on every read unless
 * told not to (twin_global_hash_reads), made here with the processor's SHA extensions. */
static bool object_matches(const git_oid *id, const char *type, const void *data, size_t len)
{
    git_oid actual;
    twin_sha1_object(actual.id, type, data, len);
    return git_oid_equal(&actual, id);
}

/* An object as stored: from twin's pack reader where it holds it, else from libgit2. */
struct stored {
    twin_pobj *pobj;
    git_odb_object *obj;
    git_object_t type;
    const unsigned char *data;
    size_t size;
    bool intact; /* it hashes to its id (checked here unless libgit2 checked it) */
};

/* 0 with s filled; TWIN_EVERIFY when a pack holding it is damaged; <0 when it cannot be read. */
static int stored_read(struct stored *s, git_repository *repo, twin_packread *packs,
                       const git_oid *id)
{
    memset(s, 0, sizeof(*s));
    int got = packs ? twin_packread_get(&s->pobj, packs, id) : 0;
    if (got < 0)
        return got;
    if (got) {
        s->type = s->pobj->type;
        s->data = s->pobj->data;
        s->size = s->pobj->size;
    } else {
        git_odb *odb = NULL;
        int err = git_repository_odb(&odb, repo) < 0 || git_odb_read(&s->obj, odb, id) < 0;
        git_odb_free(odb);
        if (err)
            return twin_error_git(git_oid_tostr_s(id));
        s->type = git_odb_object_type(s->obj);
        s->data = git_odb_object_data(s->obj);
        s->size = git_odb_object_size(s->obj);
    }
    s->intact = (s->pobj && twin_packread_trusted(packs)) ||
                (!s->pobj && twin_global_hash_reads_enabled()) ||
                object_matches(id, git_object_type2string(s->type), s->data, s->size);
    return 0;
}

static void stored_free(struct stored *s)
{
    twin_pobj_release(s->pobj);
    git_odb_object_free(s->obj);
}

static int check_signature(unsigned char signer[static TWIN_PUBKEY_BYTES], char *reason,
                           size_t reason_size, git_repository *repo, twin_packread *packs,
                           const git_oid *commit)
{
    struct stored obj;
    char *sig = NULL, *payload = NULL;
    size_t sig_len, payload_len;
    reason[0] = '\0';
    int rc = stored_read(&obj, repo, packs, commit);
    if (rc == TWIN_EVERIFY) { /* a damaged pack: a verdict on the commit */
        snprintf(reason, reason_size, "%s", twin_error_last());
        return 0;
    }
    if (rc)
        return rc;
    if (obj.type != GIT_OBJECT_COMMIT) {
        rc = twin_error(TWIN_EINVALID, "%s is not a commit", git_oid_tostr_s(commit));
        goto cleanup;
    }
    if (!obj.intact) {
        snprintf(reason, reason_size,
                 "the commit's content does not match its id (the store is damaged or was "
                 "altered)");
        goto cleanup;
    }
    int err = twin_sshsig_split_commit(&sig, &sig_len, &payload, &payload_len,
                                       (const char *)obj.data, obj.size);
    if (err == TWIN_ENOTFOUND) {
        snprintf(reason, reason_size, "unsigned commit");
        goto cleanup;
    }
    if (err) {
        snprintf(reason, reason_size, "malformed commit: %s", twin_error_last());
        goto cleanup;
    }
    err = twin_sshsig_verify(signer, sig, sig_len, TWIN_SSHSIG_NAMESPACE_GIT, payload, payload_len);
    if (err)
        snprintf(reason, reason_size, "bad signature: %s", twin_error_last());
cleanup:
    free(sig);
    free(payload);
    stored_free(&obj);
    return rc;
}

int twin_check_signature(unsigned char signer[static TWIN_PUBKEY_BYTES], char *reason,
                         size_t reason_size, git_repository *repo, const git_oid *commit)
{
    return check_signature(signer, reason, reason_size, repo, NULL, commit);
}

/* ---- checking changes ----------------------------------------------------------------------- */

struct lookup_ctx {
    git_repository *repo;
    const git_tree *tree;
};

static int lookup_in_tree(json_t **out, const char *type, const char *id, void *ctx)
{
    struct lookup_ctx *l = ctx;
    char path[128];
    git_tree_entry *e = NULL;
    if (out)
        *out = NULL;
    if (twin_record_path(path, sizeof(path), type, id))
        return TWIN_ENOTFOUND;
    int err = git_tree_entry_bypath(&e, l->tree, path);
    if (err == GIT_ENOTFOUND)
        return TWIN_ENOTFOUND;
    if (err < 0)
        return twin_error_git("looking up a record");
    git_tree_entry_free(e);
    if (out) {
        char *text = NULL;
        size_t len;
        int rc = twin_tree_read(&text, &len, l->repo, l->tree, path);
        if (rc == 0)
            rc = twin_record_parse_canonical(out, text, len);
        free(text);
        return rc;
    }
    return 0;
}

/* The partnership a record belongs to (its own id for a partnership, its "partnership" field,
 * or for an indicator its result's), read in tree; NULL when it belongs to none. */
static int record_partnership(char out[TWIN_ID_LEN + 1], const json_t *rec,
                              twin_record_lookup_fn lookup, void *l)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    const char *p = NULL;
    json_t *result = NULL;
    out[0] = '\0';
    if (type && strcmp(type, "partnership") == 0)
        p = json_string_value(json_object_get(rec, "id"));
    else if (type && strcmp(type, "indicator") == 0) {
        const char *rid = json_string_value(json_object_get(rec, "result"));
        int rc = rid ? lookup(&result, "result", rid, l) : TWIN_ENOTFOUND;
        if (rc && rc != TWIN_ENOTFOUND)
            return rc;
        p = json_string_value(json_object_get(result, "partnership"));
    } else
        p = json_string_value(json_object_get(rec, "partnership"));
    if (p)
        snprintf(out, TWIN_ID_LEN + 1, "%s", p);
    json_decref(result);
    return 0;
}

/* Whether institution org takes part in partnership pid, as the partnership's members list in
 * tree says (each member names an institution record, whose org_id is compared). */
static int takes_part(bool *yes, const char *pid, const char *org, twin_record_lookup_fn lookup,
                      void *l)
{
    json_t *p = NULL;
    *yes = false;
    int rc = lookup(&p, "partnership", pid, l);
    if (rc == TWIN_ENOTFOUND)
        return 0;
    const json_t *members = json_object_get(p, "members");
    for (size_t i = 0; rc == 0 && !*yes && i < json_array_size(members); i++) {
        const char *inst =
            json_string_value(json_object_get(json_array_get(members, i), "institution"));
        json_t *rec = NULL;
        int err = inst ? lookup(&rec, "institution", inst, l) : TWIN_ENOTFOUND;
        if (err && err != TWIN_ENOTFOUND)
            rc = err;
        const char *o = json_string_value(json_object_get(rec, "org_id"));
        *yes = o && strcmp(o, org) == 0;
        json_decref(rec);
    }
    twin_error_clear();
    json_decref(p);
    return rc == TWIN_ENOTFOUND ? 0 : rc;
}

/* For an editor limited to its own partnerships: each version of the record (as it was, and as
 * it becomes) must belong to a partnership the member took part in before this commit. */
int twin_check_scope(char *fault, size_t fault_size, const json_t *old, const json_t *cur,
                     const char *org_id, twin_record_lookup_fn lookup, void *before)
{
    fault[0] = '\0';
    const json_t *versions[2] = {old, cur};
    for (int v = 0; v < 2; v++) {
        char pid[TWIN_ID_LEN + 1];
        bool yes = false;
        if (!versions[v])
            continue;
        int rc = record_partnership(pid, versions[v], lookup, before);
        if (rc == 0 && pid[0])
            rc = takes_part(&yes, pid, org_id, lookup, before);
        if (rc)
            return rc;
        if (!yes) {
            snprintf(fault, fault_size,
                     "%s may write only in the partnerships it takes part in, and %s %s is %s",
                     org_id, json_string_value(json_object_get(versions[v], "type")),
                     json_string_value(json_object_get(versions[v], "id")),
                     pid[0] ? "in another" : "in none");
            return 0;
        }
    }
    return 0;
}

static int read_blob_json(json_t **out, char *fault, size_t fault_size, git_repository *repo,
                          twin_packread *packs, const git_oid *id, const char *path)
{
    struct stored blob;
    *out = NULL;
    int rc = stored_read(&blob, repo, packs, id);
    if (rc == TWIN_EVERIFY) { /* a damaged pack: a verdict on the commit */
        snprintf(fault, fault_size, "%s: %s", path, twin_error_last());
        return 0;
    }
    if (rc)
        return rc;
    if (blob.type != GIT_OBJECT_BLOB)
        snprintf(fault, fault_size, "%s is not a file", path);
    else if (!blob.intact)
        snprintf(fault, fault_size,
                 "%s: its content does not match its id (the store is damaged or was altered)",
                 path);
    else if (twin_record_parse_canonical(out, (const char *)blob.data, blob.size))
        snprintf(fault, fault_size, "%s: %s", path, twin_error_last());
    stored_free(&blob);
    return 0;
}

static bool same_field(const json_t *a, const json_t *b, const char *key)
{
    return json_equal(json_object_get(a, key), json_object_get(b, key));
}

/* Checks one changed file. Returns <0 on an internal error; otherwise leaves fault empty when
 * the change is allowed. */
static int check_change(char *fault, size_t fault_size, git_repository *repo, twin_packread *packs,
                        const struct twin_change *c, const struct twin_member *who,
                        const unsigned char signer[TWIN_PUBKEY_BYTES], const git_tree *new_tree,
                        const git_tree *old_tree)
{
    json_t *old = NULL, *cur = NULL;
    int rc = 0;
    fault[0] = '\0';
    if (strcmp(c->path, TWIN_NETWORK_PATH) == 0) {
        if (who->role != TWIN_ROLE_ADMIN) {
            snprintf(fault, fault_size, "%s (%s) changed the network policy without being an admin",
                     who->org_id, twin_role_name(who->role));
            goto cleanup;
        }
        if (!c->has_new || !c->has_old) {
            snprintf(fault, fault_size, "network.json was %s", c->has_new ? "added" : "removed");
            goto cleanup;
        }
        if ((rc = read_blob_json(&old, fault, fault_size, repo, packs, &c->old_id, c->path)) ||
            fault[0] ||
            (rc = read_blob_json(&cur, fault, fault_size, repo, packs, &c->new_id, c->path)) ||
            fault[0])
            goto cleanup;
        if (twin_network_check_descriptor(cur)) {
            snprintf(fault, fault_size, "%s", twin_error_last());
            goto cleanup;
        }
        static const char *const fixed[] = {"id",    "name",        "created",
                                            "nonce", "founder_key", "format"};
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
            if (!same_field(old, cur, fixed[i])) {
                snprintf(fault, fault_size, "network.%s can never change", fixed[i]);
                goto cleanup;
            }
        goto cleanup;
    }
    if (strncmp(c->path, TWIN_MEMBERS_DIR "/", 8) == 0) {
        const char *fname = c->path + 8;
        size_t flen = strlen(fname);
        char org[128];
        bool own_file = flen == strlen(who->org_id) + 5 &&
                        strncmp(fname, who->org_id, strlen(who->org_id)) == 0;
        /* An admin changes the membership; anyone else only its own file, to rotate its key. */
        if (who->role != TWIN_ROLE_ADMIN && (!own_file || !c->has_old)) {
            snprintf(fault, fault_size, "%s (%s) changed the membership without being an admin",
                     who->org_id, twin_role_name(who->role));
            goto cleanup;
        }
        if (flen < 6 || flen - 5 >= sizeof(org) || strcmp(fname + flen - 5, ".json") != 0 ||
            strchr(fname, '/')) {
            snprintf(fault, fault_size, "%s: not a member file", c->path);
            goto cleanup;
        }
        if (!c->has_new) {
            snprintf(fault, fault_size, "%s: members are never deleted from the registry", c->path);
            goto cleanup;
        }
        memcpy(org, fname, flen - 5);
        org[flen - 5] = '\0';
        if ((rc = read_blob_json(&cur, fault, fault_size, repo, packs, &c->new_id, c->path)) ||
            fault[0])
            goto cleanup;
        if (twin_member_check(cur, org)) {
            snprintf(fault, fault_size, "%s: %s", c->path, twin_error_last());
            goto cleanup;
        }
        if (c->has_old &&
            ((rc = read_blob_json(&old, fault, fault_size, repo, packs, &c->old_id, c->path)) ||
             fault[0]))
            goto cleanup;
        if (c->has_old &&
            twin_member_check_change(old, cur, who->role == TWIN_ROLE_ADMIN, signer)) {
            if (who->role != TWIN_ROLE_ADMIN)
                snprintf(fault, fault_size,
                         "%s (%s) changed the membership without being an admin: %s", who->org_id,
                         twin_role_name(who->role), twin_error_last());
            else
                snprintf(fault, fault_size, "%s: %s", c->path, twin_error_last());
        }
        goto cleanup;
    }
    if (strncmp(c->path, "records/", 8) == 0) {
        char type[32], id[TWIN_ID_LEN + 1];
        if (who->role == TWIN_ROLE_OBSERVER) {
            snprintf(fault, fault_size, "%s is an observer and may not write records", who->org_id);
            goto cleanup;
        }
        if (twin_record_parse_path(type, id, c->path)) {
            snprintf(fault, fault_size, "%s", twin_error_last());
            goto cleanup;
        }
        if (!c->has_new) {
            snprintf(fault, fault_size, "%s: records are never deleted (withdraw them instead)",
                     c->path);
            goto cleanup;
        }
        if ((rc = read_blob_json(&cur, fault, fault_size, repo, packs, &c->new_id, c->path)) ||
            fault[0])
            goto cleanup;
        if (c->has_old &&
            ((rc = read_blob_json(&old, fault, fault_size, repo, packs, &c->old_id, c->path)) ||
             fault[0]))
            goto cleanup;
        const char *rtype = json_string_value(json_object_get(cur, "type"));
        const char *rid = json_string_value(json_object_get(cur, "id"));
        if (!rtype || !rid || strcmp(rtype, type) != 0 || strcmp(rid, id) != 0) {
            snprintf(fault, fault_size, "%s: the record's type and id do not match its path",
                     c->path);
            goto cleanup;
        }
        struct lookup_ctx l = {repo, new_tree};
        int err = twin_record_validate(cur, old, lookup_in_tree, &l);
        if (err == TWIN_EINVALID || err == TWIN_ELIMIT)
            snprintf(fault, fault_size, "%s", twin_error_last());
        else
            rc = err;
        if (rc == 0 && !fault[0] && who->own_partnerships) {
            struct lookup_ctx before = {repo, old_tree};
            rc =
                twin_check_scope(fault, fault_size, old, cur, who->org_id, lookup_in_tree, &before);
        }
        goto cleanup;
    }
    if (strncmp(c->path, TWIN_PROPOSALS_DIR "/", strlen(TWIN_PROPOSALS_DIR) + 1) == 0)
        goto cleanup; /* proposals are checked with the whole commit (governance.c) */
    snprintf(fault, fault_size, "%s: not a place twin keeps anything", c->path);
cleanup:
    json_decref(old);
    json_decref(cur);
    return rc;
}

static int membership_key(git_oid *network, git_oid *members, const git_tree *tree)
{
    const git_tree_entry *a = git_tree_entry_byname(tree, TWIN_NETWORK_PATH);
    const git_tree_entry *b = git_tree_entry_byname(tree, TWIN_MEMBERS_DIR);
    if (!a || !b)
        return -1;
    *network = *git_tree_entry_id(a);
    *members = *git_tree_entry_id(b);
    return 0;
}

static int membership_for(struct twin_membership **out, bool *owned, git_repository *repo,
                          const git_tree *tree, twin_check_cache *cache)
{
    git_oid network, members;
    bool keyed = membership_key(&network, &members, tree) == 0;
    *owned = false;
    if (cache && keyed && cache->valid && git_oid_equal(&cache->network, &network) &&
        git_oid_equal(&cache->members, &members)) {
        *out = cache->membership;
        return 0;
    }
    int rc = twin_membership_load(out, repo, tree);
    if (rc)
        return rc;
    if (cache && keyed) {
        twin_membership_free(cache->membership);
        cache->membership = *out;
        cache->network = network;
        cache->members = members;
        cache->valid = true;
    } else {
        *owned = true;
    }
    return 0;
}

static int check_genesis(struct twin_check *out, git_repository *repo, const git_tree *tree,
                         twin_check_cache *cache)
{
    struct twin_membership *m = NULL;
    bool owned;
    int err = membership_for(&m, &owned, repo, tree, cache);
    if (err == TWIN_EINVALID || err == TWIN_ENOTFOUND || err == TWIN_ELIMIT)
        return verdict(out, "genesis: %s", twin_error_last());
    if (err)
        return err;
    size_t entries = git_tree_entrycount(tree);
    const struct twin_member *founder = m->count == 1 ? &m->members[0] : NULL;
    unsigned char founder_key[TWIN_PUBKEY_BYTES];
    char *net_text = NULL;
    size_t net_len;
    json_t *net = NULL;
    if (twin_tree_read(&net_text, &net_len, repo, tree, TWIN_NETWORK_PATH) == 0 &&
        twin_record_parse_canonical(&net, net_text, net_len) == 0)
        twin_key_parse_openssh(founder_key, json_string_value(json_object_get(net, "founder_key")));
    else
        memset(founder_key, 0, sizeof(founder_key));
    free(net_text);
    json_decref(net);
    if (entries != 2)
        verdict(out, "genesis: must hold only network.json and members/");
    else if (!founder || founder->role != TWIN_ROLE_ADMIN || founder->nkeys != 1 ||
             founder->keys[0].state != TWIN_KEY_ACTIVE)
        verdict(out, "genesis: must hold exactly one member, an admin with one active key");
    else if (memcmp(founder->keys[0].pk, out->signer, TWIN_PUBKEY_BYTES) != 0 ||
             memcmp(founder_key, out->signer, TWIN_PUBKEY_BYTES) != 0)
        verdict(out, "genesis: not signed by the founder's key");
    else {
        snprintf(out->org_id, sizeof(out->org_id), "%s", founder->org_id);
        out->valid = true;
        out->changes = 2;
    }
    if (owned)
        twin_membership_free(m);
    return 0;
}

/* A merge is valid when its tree is exactly the re-derived merge of its parents (it adds nothing)
 * and an active member who may write signed it, in the membership the merge produces. */
static int check_merge(struct twin_check *out, git_repository *repo, const git_commit *commit,
                       twin_check_cache *cache)
{
    struct twin_merge_result mr;
    struct twin_membership *m = NULL;
    git_tree *tree = NULL;
    bool owned = false;
    int err = twin_merge_compute(&mr, repo, git_commit_parent_id(commit, 0),
                                 git_commit_parent_id(commit, 1));
    if (err == TWIN_EINVALID || err == TWIN_ELIMIT)
        return verdict(out, "merge cannot be re-derived: %s", twin_error_last());
    if (err)
        return err;
    if (!git_oid_equal(&mr.tree, git_commit_tree_id(commit)))
        return verdict(out, "merge does not match its re-derivation from its parents: it adds, "
                            "drops or changes something");
    if (git_tree_lookup(&tree, repo, &mr.tree) < 0)
        return twin_error_git("reading the merged tree");
    err = membership_for(&m, &owned, repo, tree, cache);
    git_tree_free(tree);
    if (err == TWIN_EINVALID || err == TWIN_ENOTFOUND || err == TWIN_ELIMIT)
        return verdict(out, "the merged membership is unreadable: %s", twin_error_last());
    if (err)
        return err;
    enum twin_key_state state;
    const struct twin_member *who = twin_membership_find_key(m, out->signer, &state);
    if (!who) {
        char line[TWIN_OPENSSH_PUB_MAX];
        twin_key_format_openssh(line, out->signer);
        verdict(out, "merge signed by a key outside the membership (%s)", line);
    } else if (state != TWIN_KEY_ACTIVE) {
        snprintf(out->org_id, sizeof(out->org_id), "%s", who->org_id);
        verdict(out, "merge signed by %s's %s key", who->org_id, twin_key_state_name(state));
    } else if (who->role == TWIN_ROLE_OBSERVER) {
        snprintf(out->org_id, sizeof(out->org_id), "%s", who->org_id);
        verdict(out, "%s is an observer and may not write", who->org_id);
    } else {
        snprintf(out->org_id, sizeof(out->org_id), "%s", who->org_id);
        out->changes = mr.merged_files;
        out->valid = true;
    }
    if (owned)
        twin_membership_free(m);
    return 0;
}

int twin_check_commit(struct twin_check *out, git_repository *repo, const git_oid *commit_id,
                      twin_check_cache *cache)
{
    git_commit *commit = NULL, *parent = NULL;
    git_tree *tree = NULL, *parent_tree = NULL;
    struct twin_membership *m = NULL, *after = NULL;
    bool owned = false;
    struct twin_treediff w = {.repo = repo, .cache = cache ? cache->trees : NULL};
    int rc = 0;
    memset(out, 0, sizeof(*out));

    twin_packread *packs = twin_tree_cache_packs(cache ? cache->trees : NULL, repo);
    if ((rc = check_signature(out->signer, out->reason, sizeof(out->reason), repo, packs,
                              commit_id)))
        return rc;
    if (out->reason[0])
        return 0;
    out->has_signer = true;
    if (git_commit_lookup(&commit, repo, commit_id) < 0) {
        rc = twin_error_git("reading a commit");
        goto cleanup;
    }
    out->time = (int64_t)git_commit_time(commit);
    unsigned int nparents = git_commit_parentcount(commit);
    if (nparents > 2) {
        verdict(out, "a commit with %u parents: twin merges two lines at a time", nparents);
        goto cleanup;
    }
    if (nparents == 2) {
        /* A merge's tree need not be sent: it is re-derived here from the parents. */
        out->is_merge = true;
        rc = check_merge(out, repo, commit, cache);
        goto cleanup;
    }
    if (git_commit_tree(&tree, commit) < 0) {
        rc = twin_error_git("reading a commit's tree");
        goto cleanup;
    }
    if (nparents == 0) {
        rc = check_genesis(out, repo, tree, cache);
        goto cleanup;
    }
    if (cache && cache->last_commit && cache->last_repo == repo &&
        git_oid_equal(git_commit_parent_id(commit, 0), git_commit_id(cache->last_commit))) {
        if (git_object_dup((git_object **)&parent, (git_object *)cache->last_commit) < 0 ||
            git_object_dup((git_object **)&parent_tree, (git_object *)cache->last_tree) < 0) {
            rc = twin_error(TWIN_ERROR, "out of memory");
            goto cleanup;
        }
    } else if (git_commit_parent(&parent, commit, 0) < 0 ||
               git_commit_tree(&parent_tree, parent) < 0) {
        rc = twin_error_git("reading a parent commit");
        goto cleanup;
    }
    int err = membership_for(&m, &owned, repo, parent_tree, cache);
    if (err == TWIN_EINVALID || err == TWIN_ENOTFOUND || err == TWIN_ELIMIT) {
        verdict(out, "the parent's membership is unreadable: %s", twin_error_last());
        goto cleanup;
    }
    if ((rc = err))
        goto cleanup;
    enum twin_key_state state;
    const struct twin_member *who = twin_membership_find_key(m, out->signer, &state);
    if (!who) {
        char line[TWIN_OPENSSH_PUB_MAX];
        twin_key_format_openssh(line, out->signer);
        verdict(out, "signed by a key outside the membership (%s)", line);
        goto cleanup;
    }
    snprintf(out->org_id, sizeof(out->org_id), "%s", who->org_id);
    if (state == TWIN_KEY_MEMBER_REMOVED) {
        verdict(out, "signed by %s, which had been removed from the network", who->org_id);
        goto cleanup;
    }
    if (state != TWIN_KEY_ACTIVE) {
        verdict(out, "signed by %s's %s key", who->org_id, twin_key_state_name(state));
        goto cleanup;
    }
    if (who->role == TWIN_ROLE_OBSERVER) {
        verdict(out, "%s is an observer and may not write", who->org_id);
        goto cleanup;
    }
    if ((rc = twin_treediff_run(&w, parent_tree, tree)) < 0)
        goto cleanup;
    rc = 0; /* a tree that breaks a rule is a verdict, not a failure to check */
    if (w.fault[0]) {
        verdict(out, "%s", w.fault);
        goto cleanup;
    }
    if (w.count == 0) {
        verdict(out, "the commit changes nothing");
        goto cleanup;
    }
    out->changes = w.count;
    bool members_changed = false, governed = false;
    for (size_t i = 0; i < w.count; i++) {
        char fault[500];
        if ((rc = check_change(fault, sizeof(fault), repo, packs, &w.changes[i], who, out->signer,
                               tree, parent_tree)))
            goto cleanup;
        if (fault[0]) {
            verdict(out, "%s", fault);
            goto cleanup;
        }
        members_changed = members_changed || strncmp(w.changes[i].path, "members/", 8) == 0;
        governed =
            governed || twin_governed_path(w.changes[i].path) ||
            strncmp(w.changes[i].path, TWIN_PROPOSALS_DIR "/", strlen(TWIN_PROPOSALS_DIR) + 1) == 0;
    }
    if (governed) {
        char fault[600];
        if ((rc = twin_governance_check(fault, sizeof(fault), repo, &w, who, out->signer, m)))
            goto cleanup;
        if (fault[0]) {
            verdict(out, "%s", fault);
            goto cleanup;
        }
    }
    if (members_changed) {
        /* The registry as a whole must still hold together: one key per member, an admin left. */
        err = twin_membership_load(&after, repo, tree);
        if (err == TWIN_EINVALID || err == TWIN_ELIMIT) {
            verdict(out, "membership after the change: %s", twin_error_last());
            goto cleanup;
        }
        if ((rc = err))
            goto cleanup;
        bool admin_left = false;
        for (size_t i = 0; i < after->count; i++)
            for (size_t k = 0; k < after->members[i].nkeys; k++)
                admin_left = admin_left || (after->members[i].role == TWIN_ROLE_ADMIN &&
                                            !after->members[i].removed &&
                                            after->members[i].keys[k].state == TWIN_KEY_ACTIVE);
        if (!admin_left) {
            verdict(out, "membership after the change has no admin with an active key");
            goto cleanup;
        }
    }
    out->valid = true;
cleanup:
    if (cache && commit && tree)
        remember_last(cache, repo, commit, tree);
    if (owned)
        twin_membership_free(m);
    twin_membership_free(after);
    twin_treediff_clear(&w);
    git_tree_free(tree);
    git_tree_free(parent_tree);
    git_commit_free(parent);
    git_commit_free(commit);
    return rc;
}
