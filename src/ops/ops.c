/*
 * Operations: each attempt starts a change set on the current head, checks authority and the
 * record against that head, and publishes by compare-and-swap. A lost race retries from the
 * new head with the same edit, so the edit lands on top of whatever the other writer did.
 */
#include "twin/ops.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rules/governance.h"
#include "twin/attachment.h"
#include "twin/network.h"
#include "base/util.h"
#include "twin/batch.h"
#include "twin/error.h"
#include "twin/tx.h"
#include "twin/key.h"
#include "twin/tree.h"
#include "twin/store.h"
#include "twin/validity.h"
#include "base/sha1.h"
#include "git/packread.h"
#include "ops/sealed.h"
#include "records/envelope.h"
#include "rules/domain.h"
#include "store/wraps.h"

#define MAX_ATTEMPTS 200

static void backoff(int attempt)
{
    /* Jittered, growing pause so racing writers spread out instead of colliding again. */
    long max_us = 1000L * (attempt < 10 ? attempt + 1 : 10);
    struct timespec ts = {0, (long)(randombytes_uniform((uint32_t)max_us) + 100) * 1000L};
    nanosleep(&ts, NULL);
}

/* What a change needs of this node's member, beyond an active key. */
enum writer_need { NEED_WRITER, NEED_ADMIN, NEED_MEMBER /* its own key rotation: any role */ };

static int require_key(twin_node *n, git_tree *tree, enum writer_need need);

static int require_writer(twin_node *n, git_tree *tree, bool need_admin)
{
    return require_key(n, tree, need_admin ? NEED_ADMIN : NEED_WRITER);
}

static int require_key(twin_node *n, git_tree *tree, enum writer_need need)
{
    struct twin_membership *m = NULL;
    int rc = twin_membership_load(&m, twin_node_repo(n), tree);
    if (rc)
        return twin_error_wrap(rc, "reading the membership");
    enum twin_key_state state;
    const struct twin_member *me = twin_membership_find_key(m, twin_node_key(n)->pk, &state);
    if (!me)
        rc = twin_error(TWIN_EDENIED,
                        "this node's key is not a member of network %s (an admin adds it with: "
                        "twin member add ... --key \"$(twin id | head -1)\")",
                        twin_node_network_id(n));
    else if (state == TWIN_KEY_MEMBER_REMOVED)
        rc = twin_error(TWIN_EDENIED, "%s was removed from network %s and may not write",
                        me->org_id, twin_node_network_id(n));
    else if (state != TWIN_KEY_ACTIVE)
        rc = twin_error(TWIN_EDENIED, "this node's key is %s for member %s",
                        twin_membership_key_state_name(state), me->org_id);
    else if (need == NEED_ADMIN && me->role != TWIN_ROLE_ADMIN)
        rc = twin_error(TWIN_EDENIED, "only an admin may do this; %s is %s", me->org_id,
                        twin_membership_role_name(me->role));
    else if (need == NEED_WRITER && me->role == TWIN_ROLE_OBSERVER)
        rc = twin_error(TWIN_EDENIED, "%s is an observer and may not write", me->org_id);
    if (me)
        twin_node_set_writer_limited(n, me->own_partnerships);
    twin_membership_free(m);
    return rc;
}

struct tx_lookup {
    twin_tx *tx;
};

static int lookup_tx(json_t **out, const char *type, const char *id, void *ctx)
{
    struct tx_lookup *l = ctx;
    char path[128], *text = NULL;
    size_t len;
    if (out)
        *out = NULL;
    if (twin_record_path(path, sizeof(path), type, id))
        return TWIN_ENOTFOUND;
    int rc = twin_tx_read(&text, &len, l->tx, path);
    if (rc == 0 && out)
        rc = twin_record_parse_canonical(out, text, len);
    free(text);
    return rc;
}

/* Finds the type of record id in the tree; TWIN_ENOTFOUND when no type has it, another code
 * when a tree on the way cannot be read. */
static int find_type(const char **type_out, git_repository *repo, git_tree *tree, const char *id)
{
    if (!twin_record_id_valid(id))
        return twin_error(TWIN_EINVALID, "'%s' is not a record id", id);
    for (const char *const *t = twin_record_types(); *t; t++) {
        char path[128];
        git_tree_entry *e = NULL;
        twin_record_path(path, sizeof(path), *t, id);
        int rc = twin_tree_entry_at(&e, repo, tree, path);
        git_tree_entry_free(e);
        if (rc == 0)
            *type_out = *t;
        if (rc != TWIN_ENOTFOUND)
            return rc;
    }
    return twin_error(TWIN_ENOTFOUND, "no record %s", id);
}

/* find_type as the change set sees it. */
static int find_type_tx(const char **type_out, twin_tx *tx, const char *id)
{
    if (!twin_record_id_valid(id))
        return twin_error(TWIN_EINVALID, "'%s' is not a record id", id);
    for (const char *const *t = twin_record_types(); *t; t++) {
        char path[128];
        twin_record_path(path, sizeof(path), *t, id);
        int present = twin_tx_exists(tx, path);
        if (present < 0)
            return present;
        if (present) {
            *type_out = *t;
            return 0;
        }
    }
    return twin_error(TWIN_ENOTFOUND, "no record %s", id);
}

/* Builds one change set on tx and names it in message; called again on each retry. */
typedef int (*change_fn)(twin_tx *tx, char *message, size_t message_size, void *ctx);

static int commit_with_retry(git_oid *commit_out, twin_node *n, change_fn fn, void *ctx)
{
    int rc = 0;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        twin_tx *tx = NULL;
        char message[600];
        if ((rc = twin_tx_begin(&tx, n)))
            return rc;
        if (!twin_tx_base(tx))
            rc = twin_node_head(&(git_oid){0}, n);
        else if ((rc = fn(tx, message, sizeof(message), ctx)) == 0)
            rc = twin_tx_commit(commit_out, tx, message);
        twin_tx_free(tx);
        if (rc != TWIN_ECONFLICT)
            return rc;
        backoff(attempt);
    }
    return twin_error(TWIN_ECONFLICT, "gave up after %d attempts: the branch kept moving",
                      MAX_ATTEMPTS);
}

static void after_commit(twin_node *n, const git_oid *commit);

/* commit_with_retry for changes that may erase records or change keys: the wrap store follows. */
static int commit_then_upkeep(git_oid *commit_out, twin_node *n, change_fn fn, void *ctx)
{
    git_oid commit;
    int rc = commit_with_retry(&commit, n, fn, ctx);
    if (rc == 0) {
        after_commit(n, &commit);
        if (commit_out)
            *commit_out = commit;
    }
    return rc;
}

struct record_change {
    twin_node *node;
    const char *type, *id, *verb;
    bool create;
    twin_record_edit_fn fn; /* NULL: the content stays (a widening, or a resolution) */
    void *ctx;
    const struct twin_audience *audience; /* NULL: as it was, or as the record's fields need */
    const struct twin_sealed_resolution *resolution; /* NULL: a sealed record's conflicts stay */
    /* An attachment written with the record (twin_ops_attach): a blob in the store and its
     * path, or NULL. */
    const git_oid *blob;
    const char *blob_path;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether a version can be sealed for member a: it is one, not removed, with an active key. */
static bool sealable_for(const struct twin_member *a)
{
    bool active = false;
    for (size_t k = 0; a && k < a->nkeys; k++)
        active = active || a->keys[k].state == TWIN_KEY_ACTIVE;
    return active && !a->removed;
}

/* The audience a sealed version is written for: the previous version's (old), the institutions
 * asked for (with "members": every member not removed that has an active key), those of also (an
 * array of org ids: the audience of a version set aside whose content is kept) that can still be
 * sealed for, and the writer's own, sorted and unique. The strings are m's, old's, want's or
 * also's. */
static int audience_for(const char ***out, size_t *nout, const struct twin_membership *m,
                        const struct twin_envelope *old, const struct twin_audience *want,
                        const json_t *also, const char *own)
{
    size_t cap =
        1 + (old ? old->naudience : 0) + (want ? want->n : 0) + json_array_size(also) + m->count;
    const char **list = calloc(cap, sizeof(*list));
    size_t n = 0;
    if (!list)
        return twin_error(TWIN_ERROR, "out of memory");
    list[n++] = own;
    for (size_t i = 0; old && i < old->naudience; i++)
        list[n++] = old->audience[i];
    for (size_t i = 0; i < json_array_size(also); i++) {
        const char *org = json_string_value(json_array_get(also, i));
        if (org && sealable_for(twin_membership_find(m, org)))
            list[n++] = org;
    }
    bool members = false;
    for (size_t i = 0; want && i < want->n; i++) {
        if (strcmp(want->orgs[i], TWIN_AUDIENCE_MEMBERS) == 0) {
            members = true;
            continue;
        }
        const struct twin_member *a = twin_membership_find(m, want->orgs[i]);
        if (!sealable_for(a)) {
            free(list);
            if (!a)
                return twin_error(TWIN_EINVALID, "%s is not a member of network %s", want->orgs[i],
                                  m->network_id);
            return twin_error(TWIN_EINVALID, "%s %s", want->orgs[i],
                              a->removed ? "has left the network"
                                         : "has no active key to seal for (an admin gives it one "
                                           "with twin member add-key)");
        }
        list[n++] = want->orgs[i];
    }
    for (size_t i = 0; members && i < m->count; i++)
        if (sealable_for(&m->members[i]))
            list[n++] = m->members[i].org_id;
    qsort(list, n, sizeof(*list), cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || strcmp(list[u - 1], list[i]) != 0)
            list[u++] = list[i];
    if (u > TWIN_ENVELOPE_MAX_AUDIENCE) {
        free(list);
        return twin_error(TWIN_ELIMIT, "an audience of %zu institutions (at most %d)", u,
                          TWIN_ENVELOPE_MAX_AUDIENCE);
    }
    *out = list;
    *nout = u;
    return 0;
}

/* Opens envelope env, whose file holds the len bytes of text, with this node's wraps: *plain is
 * its content (twin_sealed_open). */
static int open_envelope(json_t **plain, twin_node *n, const json_t *env, const char *text,
                         size_t len)
{
    unsigned char blob[TWIN_SEAL_BLOB_BYTES];
    twin_wraps *store = NULL;
    twin_sha1_object(blob, "blob", text, len);
    int rc = twin_node_wraps(&store, n);
    if (rc == 0)
        rc = twin_sealed_open(plain, env, blob, twin_node_network_id(n), store, twin_node_key(n));
    return rc;
}

/* TWIN_EDENIED when sealed record env was erased; 0 otherwise. */
static int refuse_erased(const json_t *env)
{
    const json_t *erased = json_object_get(env, "erased");
    if (!erased)
        return 0;
    return twin_error(TWIN_EDENIED, "%s %s was erased (%s) and never changes again",
                      json_string_value(json_object_get(env, "type")),
                      json_string_value(json_object_get(env, "id")),
                      json_string_value(json_object_get(erased, "reason")));
}

/* Opens the stored version old_text of a sealed record for a change: *plain is its content.
 * TWIN_EDENIED when this node cannot read it, or it was erased. */
static int open_for_change(json_t **plain, twin_node *n, const json_t *env, const char *text,
                           size_t len)
{
    int rc = refuse_erased(env);
    if (rc == 0)
        rc = open_envelope(plain, n, env, text, len);
    if (rc == TWIN_ENOTFOUND) {
        char why[512];
        snprintf(why, sizeof(why), "%s", twin_error_last());
        rc = twin_error(TWIN_EDENIED, "%s (only its audience changes it)", why);
    }
    return rc;
}

/* The entry of sealed record stored's conflicts that name (40 hex digits, or a prefix of at least
 * 8 that no other entry shares) names, into full. */
static int find_set_aside(char full[GIT_OID_HEXSZ + 1], const json_t *stored, const char *name)
{
    const char *type = json_string_value(json_object_get(stored, "type"));
    const char *id = json_string_value(json_object_get(stored, "id"));
    size_t len = strlen(name), found = 0;
    if (len < 8 || len > GIT_OID_HEXSZ || strspn(name, "0123456789abcdefABCDEF") != len)
        return twin_error(TWIN_EINVALID,
                          "'%s' is not a blob id (give 8 to 40 hex digits of one that twin "
                          "conflicts lists)",
                          name);
    const json_t *entry;
    size_t i;
    json_array_foreach(json_object_get(stored, "conflicts"), i, entry)
    {
        const char *hex = json_string_value(entry);
        if (hex && strncasecmp(hex, name, len) == 0 && found++ == 0)
            snprintf(full, GIT_OID_HEXSZ + 1, "%s", hex);
    }
    if (found == 0)
        return twin_error(TWIN_EINVALID,
                          "blob %s is not a version of %s %s that a merge set aside (see: twin "
                          "conflicts)",
                          name, type, id);
    if (found > 1)
        return twin_error(TWIN_EINVALID,
                          "blob %s names %zu versions of %s %s set aside; give more of its digits",
                          name, found, type, id);
    return 0;
}

/* Opens the version of sealed record stored (its envelope at the head) that a merge set aside
 * and name names (find_set_aside): *plain is its content, *env (when not NULL) its envelope. */
static int open_set_aside(json_t **plain, json_t **env, char full[GIT_OID_HEXSZ + 1], twin_node *n,
                          const json_t *stored, const char *name)
{
    const char *type = json_string_value(json_object_get(stored, "type"));
    const char *id = json_string_value(json_object_get(stored, "id"));
    json_t *version = NULL;
    git_blob *blob = NULL;
    git_oid oid;
    *plain = NULL;
    if (!twin_envelope_is(stored))
        return twin_error(TWIN_EINVALID,
                          "%s %s was written in the clear: a merge sets aside its fields' values, "
                          "not versions (see: twin conflicts)",
                          type, id);
    int rc = refuse_erased(stored);
    if (rc || (rc = find_set_aside(full, stored, name)))
        return rc;
    if (git_oid_fromstr(&oid, full) < 0 || git_blob_lookup(&blob, twin_node_repo(n), &oid) < 0)
        return twin_error(TWIN_ERROR,
                          "blob %s (a version of %s %s set aside) cannot be read, the store is "
                          "damaged: %s",
                          full, type, id,
                          git_error_last() ? git_error_last()->message : "libgit2 error");
    const char *text = git_blob_rawcontent(blob);
    size_t len = (size_t)git_blob_rawsize(blob);
    if (len > TWIN_RECORD_FILE_MAX_BYTES)
        rc = twin_error(TWIN_EINVALID, "blob %s is larger than a record file", full);
    else if ((rc = twin_record_parse_canonical(&version, text, len)) == 0 &&
             (!twin_envelope_is(version) || json_object_get(version, "erased") ||
              !json_equal(json_object_get(version, "id"), json_object_get(stored, "id")) ||
              !json_equal(json_object_get(version, "type"), json_object_get(stored, "type"))))
        rc = twin_error(TWIN_EINVALID, "blob %s is not a sealed version of %s %s", full, type, id);
    if (rc == 0)
        rc = open_envelope(plain, n, version, text, len);
    if (rc == TWIN_ENOTFOUND)
        rc = twin_error_wrap(TWIN_EDENIED, "the version set aside as blob %s", full);
    git_blob_free(blob);
    if (rc == 0 && env)
        *env = json_incref(version);
    json_decref(version);
    return rc;
}

int twin_ops_unseal_set_aside(json_t **out, char full[GIT_OID_HEXSZ + 1], twin_node *n,
                              const json_t *stored, const char *blob)
{
    char entry[GIT_OID_HEXSZ + 1];
    int rc = open_set_aside(out, NULL, entry, n, stored, blob);
    if (rc == 0 && full)
        memcpy(full, entry, sizeof(entry));
    return rc;
}

/* Removes the entry hex from conflicts, an array of blob ids. */
static void drop_entry(json_t *conflicts, const char *hex)
{
    for (size_t i = json_array_size(conflicts); i-- > 0;) {
        const char *entry = json_string_value(json_array_get(conflicts, i));
        if (entry && strcmp(entry, hex) == 0)
            json_array_remove(conflicts, i);
    }
}

/* Settles versions set aside in sealed record stored as r says (SEALED.md 9): *conflicts gets
 * the new version's conflicts (a new array, less the versions named), and with r->keep, *rec the
 * content of the version kept and *kept its envelope. */
static int settle(json_t **rec, json_t **conflicts, json_t **kept, twin_node *n,
                  const json_t *stored, const struct twin_sealed_resolution *r)
{
    const char *type = json_string_value(json_object_get(stored, "type"));
    const char *id = json_string_value(json_object_get(stored, "id"));
    const json_t *list = json_object_get(stored, "conflicts");
    char full[GIT_OID_HEXSZ + 1];
    int rc = 0;
    if (json_array_size(list) == 0)
        return twin_error(TWIN_EINVALID,
                          "%s %s has no versions a merge set aside: nothing to resolve", type, id);
    if (!r->keep && r->ndrop == 0 && !r->drop_all)
        return twin_error(TWIN_EINVALID,
                          "name the versions of %s %s to settle: one to keep, or those to drop",
                          type, id);
    if (!(*conflicts = r->drop_all ? json_array() : json_deep_copy(list)))
        return twin_error(TWIN_ERROR, "out of memory");
    if (r->keep) {
        json_t *theirs = NULL;
        if ((rc = open_set_aside(&theirs, kept, full, n, stored, r->keep)))
            return rc;
        json_decref(*rec);
        *rec = theirs;
        drop_entry(*conflicts, full);
    }
    for (size_t i = 0; rc == 0 && i < r->ndrop; i++)
        if ((rc = find_set_aside(full, stored, r->drop[i])) == 0)
            drop_entry(*conflicts, full);
    return rc;
}

/* Seals rec as the next version of a sealed record (old: the previous envelope, NULL for a new
 * record), with conflicts (old's when the change settles none) and for the audience audience_for
 * gives (also: the audience of a version set aside whose content rec is), checks it as the
 * validity predicate will, keeps its wraps in the node's store (before the commit: a wrap of a
 * version never written is harmless, a version without its wraps is lost to everyone) and puts
 * it in tx. */
static int put_sealed(twin_tx *tx, struct record_change *c, const json_t *rec, const json_t *old,
                      const char *path, bool same_content, const struct twin_audience *want,
                      const json_t *conflicts, const json_t *also)
{
    struct twin_membership *m = NULL;
    struct twin_envelope oe = {0};
    struct twin_sealed s = {0};
    const char **aud = NULL;
    size_t naud = 0;
    twin_wraps *store = NULL;
    bool have_old = false, erasure;
    int rc = twin_ops_members(&m, c->node, twin_tx_batched(tx) ? NULL : twin_tx_base(tx));
    if (rc)
        return rc;
    const struct twin_member *me = twin_membership_find_key(m, twin_node_key(c->node)->pk, NULL);
    if (!me) {
        rc = twin_error(TWIN_EDENIED, "this node's key is not a member's");
        goto cleanup;
    }
    if (old && (rc = twin_envelope_read(&oe, old)))
        goto cleanup;
    have_old = old != NULL;
    if ((rc = audience_for(&aud, &naud, m, have_old ? &oe : NULL, want, also, me->org_id)))
        goto cleanup;
    if (same_content && have_old && naud == oe.naudience) { /* it only ever widens */
        rc = twin_error(TWIN_EEXISTS, "%s %s: its audience holds these institutions already",
                        oe.type, oe.id);
        goto cleanup;
    }
    if ((rc = twin_sealed_seal(&s, rec, aud, naud, conflicts, m)))
        goto cleanup;
    char fault[600];
    if ((rc = twin_validity_check_sealed(fault, sizeof(fault), &erasure, s.envelope, old, me, m)))
        goto cleanup;
    if (fault[0]) {
        rc = twin_error(TWIN_EDENIED, "%s", fault);
        goto cleanup;
    }
    if ((rc = twin_node_wraps(&store, c->node)) == 0)
        rc = twin_wraps_add_own(store, s.wraps, s.nwraps);
    if (rc == 0)
        rc = twin_tx_put(tx, path, s.text, s.text_len);
cleanup:
    free(aud);
    if (have_old)
        twin_envelope_clear(&oe);
    twin_sealed_clear(&s);
    twin_membership_free(m);
    return rc;
}

/* For a record in the clear: the policy's rule on personal fields, as the predicate has it. */
static int check_clear(struct record_change *c, twin_tx *tx, const json_t *rec, const json_t *old)
{
    if (!twin_envelope_personal_change(rec, old))
        return 0;
    struct twin_membership *m = NULL;
    int rc = twin_ops_members(&m, c->node, twin_tx_batched(tx) ? NULL : twin_tx_base(tx));
    if (rc)
        return rc;
    const struct twin_member *me = twin_membership_find_key(m, twin_node_key(c->node)->pk, NULL);
    char fault[600] = "";
    bool erasure;
    if (me &&
        (rc = twin_validity_check_sealed(fault, sizeof(fault), &erasure, rec, old, me, m)) == 0 &&
        fault[0])
        rc = twin_error(TWIN_EDENIED, "%s", fault);
    twin_membership_free(m);
    return rc;
}

/* The record rules the network has put in force (rules/domain.h), checked here on the content
 * too, so that a record about to be sealed, which other nodes cannot check, is held to them. */
static int open_for_rules(json_t **plain, const json_t *env, const char *text, size_t len,
                          void *node)
{
    return open_envelope(plain, node, env, text, len);
}

static int check_network_rules(twin_tx *tx, twin_node *node, const json_t *rec, const json_t *old)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (!type || (strcmp(type, "health_check") != 0 && strcmp(type, "partnership") != 0))
        return 0;
    char *text = NULL, fault[600];
    size_t len;
    json_t *net = NULL;
    git_repository *repo = twin_node_repo(node);
    git_commit *head = NULL;
    git_tree *head_tree = NULL;
    const git_tree *tree = twin_tx_base_tree(tx);
    int rc = twin_tx_read(&text, &len, tx, TWIN_NETWORK_PATH);
    if (rc == 0)
        rc = twin_record_parse_canonical(&net, text, len);
    if (rc == 0 && !tree && strcmp(type, "health_check") == 0) {
        /* A batched writer's tip may not be in the store yet: other health checks are looked
         * for at the head, and the predicate checks the batch's commits again as they land. */
        git_oid at;
        rc = twin_node_head(&at, node);
        if (rc == 0 &&
            (git_commit_lookup(&head, repo, &at) < 0 || git_commit_tree(&head_tree, head) < 0))
            rc = twin_error_git("reading the head commit");
        else if (rc == TWIN_ENOHISTORY)
            rc = 0;
        tree = head_tree;
    }
    if (rc == 0) {
        struct tx_lookup l = {tx};
        struct twin_domain_env env = {lookup_tx, &l, repo, tree, open_for_rules, node};
        rc = twin_domain_check(fault, sizeof(fault), rec, old, twin_membership_rules(net), &env);
        if (rc == 0 && fault[0])
            rc = twin_error(TWIN_EINVALID, "%s", fault);
    }
    git_tree_free(head_tree);
    git_commit_free(head);
    json_decref(net);
    free(text);
    return rc;
}

int twin_ops_confirm_own(bool *changed, json_t *rec, const json_t *old, twin_node *n,
                         twin_record_lookup_fn lookup, void *ctx)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    const char *inst = json_string_value(json_object_get(rec, "institution"));
    json_t *status = json_object_get(rec, "status"), *ir = NULL;
    if (changed)
        *changed = false;
    if (!type || strcmp(type, "contribution") != 0 || twin_envelope_is(rec) || !inst ||
        !json_is_string(status))
        return 0;
    int rc = lookup(&ir, "institution", inst, ctx);
    if (rc == TWIN_ENOTFOUND) { /* left for validation to name */
        twin_error_clear();
        return 0;
    }
    if (rc)
        return rc;
    const char *org = json_string_value(json_object_get(ir, "org_id"));
    bool own = org && strcmp(org, twin_node_org_id(n)) == 0;
    json_decref(ir);
    json_t *now = json_object_get(rec, "confirmed");
    json_t *was = old ? json_object_get(old, "confirmed") : NULL;
    bool asked = now && !(was && json_equal(now, was));
    /* One given a "confirmed" other than its status is left as it is, for the rule to refuse.
     * An edit that leaves the status alone confirms nothing: a status another partner set stays
     * unconfirmed until the institution says so (twin confirm), not because it fixed a typo. */
    bool status_set = !old || !json_equal(status, json_object_get(old, "status"));
    if (!own || (asked && !json_equal(now, status)) || (now && json_equal(now, status)) ||
        (!asked && !status_set))
        return 0;
    if (json_object_set(rec, "confirmed", status))
        return twin_error(TWIN_ERROR, "out of memory");
    if (changed)
        *changed = true;
    return 0;
}

/* The predicate's rules for a field that is one institution's word (a contribution's
 * "confirmed", a recommendation's "response"), checked before anything is written: a change in
 * another institution's name is refused here, naming the rule, rather than after the commit. */
static int check_own_word(const json_t *rec, const json_t *old, twin_node *n, struct tx_lookup *l)
{
    char fault[600];
    const char *type = json_string_value(json_object_get(rec, "type"));
    int rc = 0;
    fault[0] = '\0';
    if (strcmp(type, "contribution") == 0)
        rc = twin_validity_check_confirmation(fault, sizeof(fault), old, rec, twin_node_org_id(n),
                                              lookup_tx, l);
    else if (strcmp(type, "recommendation") == 0)
        rc = twin_validity_check_response(fault, sizeof(fault), old, rec, twin_node_org_id(n),
                                          lookup_tx, l);
    if (rc == 0 && fault[0])
        rc = twin_error(TWIN_EDENIED, "%s", fault);
    return rc;
}

static int change_record(twin_tx *tx, char *message, size_t message_size, void *ctx)
{
    struct record_change *c = ctx;
    json_t *old = NULL, *rec = NULL, *stored = NULL, *conflicts = NULL, *kept = NULL;
    char *text = NULL, *old_text = NULL, path[128];
    size_t len, old_len = 0;
    const char *rtype = c->type;
    int rc;
    /* A batch checked the writer when it began (and checks again if it must rebuild). */
    if (!twin_tx_batched(tx) && (rc = require_writer(c->node, twin_tx_base_tree(tx), false)))
        return rc;
    if (!c->create && !rtype && (rc = find_type_tx(&rtype, tx, c->id)))
        return rc;
    if ((rc = twin_record_path(path, sizeof(path), rtype, c->id)))
        return rc;
    if (c->create) {
        rec = json_pack("{s:s, s:s}", "id", c->id, "type", rtype);
    } else {
        rc = twin_tx_read(&old_text, &old_len, tx, path);
        if (rc == TWIN_ENOTFOUND)
            rc = twin_error(TWIN_ENOTFOUND, "no %s %s", rtype, c->id);
        if (rc || (rc = twin_record_parse_canonical(&old, old_text, old_len)))
            goto cleanup;
        if (twin_envelope_is(old)) { /* a sealed record: its content is what changes */
            stored = old;
            old = NULL;
            if ((rc = open_for_change(&old, c->node, stored, old_text, old_len)))
                goto cleanup;
        } else if (c->audience) {
            rc = twin_error(TWIN_EINVALID,
                            "%s %s was written in the clear and cannot be sealed: what was "
                            "shared was shared",
                            rtype, c->id);
            goto cleanup;
        }
        rec = json_deep_copy(old);
    }
    if (!rec) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    if (c->resolution) {
        if (!stored) {
            rc = twin_error(TWIN_EINVALID,
                            "%s %s was written in the clear: a merge sets aside its fields' "
                            "values, not versions (settle them with twin resolve ID FIELD=VALUE)",
                            rtype, c->id);
            goto cleanup;
        }
        if ((rc = settle(&rec, &conflicts, &kept, c->node, stored, c->resolution)))
            goto cleanup;
    }
    if ((c->fn && (rc = c->fn(rec, c->ctx))) ||
        (c->create && (rc = twin_record_apply_defaults(rec))))
        goto cleanup;
    struct tx_lookup l = {tx};
    /* Contributions are never sealed (the predicate refuses it): one in an envelope is left for
     * that refusal. */
    bool contribution = strcmp(rtype, "contribution") == 0 && !stored && !c->audience;
    if (contribution && (rc = twin_ops_confirm_own(NULL, rec, old, c->node, lookup_tx, &l)))
        goto cleanup;
    if ((rc = twin_record_validate(rec, old, lookup_tx, &l)) ||
        (rc = twin_record_check_conflicts_kept(rec, old)) ||
        (rc = check_network_rules(tx, c->node, rec, old)) ||
        (!stored && !c->audience && (rc = check_own_word(rec, old, c->node, &l))))
        goto cleanup;
    bool seal = stored || c->audience || (c->create && twin_envelope_personal_field(rec));
    if (!seal && twin_node_writer_limited(c->node)) {
        char fault[600];
        if ((rc = twin_validity_check_scope(fault, sizeof(fault), old, rec,
                                            twin_node_org_id(c->node), lookup_tx, &l)))
            goto cleanup;
        if (fault[0]) {
            rc = twin_error(TWIN_EDENIED, "%s", fault);
            goto cleanup;
        }
    }
    if ((rc = twin_record_canonical(&text, &len, rec)))
        goto cleanup;
    if (seal) {
        /* Unchanged content with no one added to the audience is no change. */
        char *was = NULL;
        size_t was_len = 0;
        bool same = old && twin_record_canonical(&was, &was_len, old) == 0 && was_len == len &&
                    memcmp(was, text, len) == 0;
        free(was);
        if (same && !c->audience && !c->resolution) {
            rc = twin_error(TWIN_EEXISTS, "%s %s: nothing changed", rtype, c->id);
            goto cleanup;
        }
        /* A new record sealed for its personal fields is for every member (SEALED.md 8). */
        static const char *const members[] = {TWIN_AUDIENCE_MEMBERS};
        static const struct twin_audience everyone = {members, 1};
        const struct twin_audience *want = c->audience || stored ? c->audience : &everyone;
        const json_t *also = json_object_get(json_object_get(kept, "sealed"), "audience");
        if ((rc = put_sealed(tx, c, rec, stored, path, same && !c->resolution, want,
                             c->resolution ? conflicts : json_object_get(stored, "conflicts"),
                             also)) ||
            (c->blob && (rc = twin_tx_put_blob(tx, c->blob_path, c->blob))))
            goto cleanup;
        snprintf(message, message_size, "%s %s %s\n\nRecord: %s\n", c->verb, rtype, c->id, path);
        goto cleanup;
    }
    if ((rc = check_clear(c, tx, rec, old)))
        goto cleanup;
    /* Compared as stored bytes: a change the canonical form cannot hold is no change. */
    if (old_text && len == old_len && memcmp(text, old_text, len) == 0) {
        rc = twin_error(TWIN_EEXISTS, "%s %s: nothing changed", rtype, c->id);
        goto cleanup;
    }
    if ((rc = twin_tx_put(tx, path, text, len)) ||
        (c->blob && (rc = twin_tx_put_blob(tx, c->blob_path, c->blob))))
        goto cleanup;
    snprintf(message, message_size, "%s %s %s: %.200s\n\nRecord: %s\n", c->verb, rtype, c->id,
             twin_record_title(rec), path);
cleanup:
    if (text)
        sodium_memzero(text, len);
    free(text);
    free(old_text);
    json_decref(old);
    json_decref(stored);
    json_decref(rec);
    json_decref(conflicts);
    json_decref(kept);
    return rc;
}

static int write_batched(git_oid *commit_out, twin_batch *b, const struct record_change *change);
static int check_writer(twin_node *n, git_tree *head_tree);

/* One record change (its node aside) as its own batch of one: one pack, one compare-and-swap.
 * When another writer changed the same record meanwhile, the edit is made again on what they
 * wrote. */
static int write_record(git_oid *commit_out, twin_node *n, const struct record_change *change)
{
    int rc = 0;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        twin_batch *b = NULL;
        if ((rc = twin_batch_begin(&b, n, check_writer, 0)))
            return rc;
        if ((rc = write_batched(NULL, b, change)) == 0 && (rc = twin_batch_flush(b)) == 0 &&
            commit_out)
            *commit_out = *twin_batch_tip(b);
        twin_batch_free(b);
        if (rc != TWIN_ECONFLICT)
            return rc;
        backoff(attempt);
    }
    return twin_error(TWIN_ECONFLICT, "gave up after %d attempts: the branch kept moving",
                      MAX_ATTEMPTS);
}

/* The change that adds record id of type, built by fn (its node aside). */
static struct record_change new_record(const char *type, const char *id, twin_record_edit_fn fn,
                                       void *ctx, const struct twin_audience *audience)
{
    return (struct record_change){.type = type,
                                  .id = id,
                                  .verb = "add",
                                  .create = true,
                                  .fn = fn,
                                  .ctx = ctx,
                                  .audience = audience};
}

static int check_record_type(const char *type)
{
    if (!twin_record_type_known(type)) {
        char list[400] = "";
        size_t used = 0;
        for (const char *const *t = twin_record_types(); *t; t++)
            used +=
                (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *t);
        return twin_error(TWIN_EINVALID, "unknown record type '%s' (one of: %s)", type, list);
    }
    return 0;
}

int twin_ops_add(char id_out[static TWIN_ID_LEN + 1], git_oid *commit_out, twin_node *n,
                 const char *type, twin_record_edit_fn fn, void *ctx)
{
    return twin_ops_add_sealed(id_out, commit_out, n, type, NULL, fn, ctx);
}

int twin_ops_add_sealed(char id_out[static TWIN_ID_LEN + 1], git_oid *commit_out, twin_node *n,
                        const char *type, const struct twin_audience *audience,
                        twin_record_edit_fn fn, void *ctx)
{
    int rc = check_record_type(type);
    if (rc)
        return rc;
    char id[TWIN_ID_LEN + 1];
    twin_record_new_id(id);
    struct record_change c = new_record(type, id, fn, ctx, audience);
    rc = write_record(commit_out, n, &c);
    if (rc == 0)
        memcpy(id_out, id, sizeof(id));
    return rc;
}

int twin_ops_update(git_oid *commit_out, twin_node *n, const char *id, const char *verb,
                    twin_record_edit_fn fn, void *ctx)
{
    return write_record(commit_out, n,
                        &(struct record_change){.id = id, .verb = verb, .fn = fn, .ctx = ctx});
}

int twin_ops_share(git_oid *commit_out, twin_node *n, const char *id,
                   const struct twin_audience *audience)
{
    if (!audience || audience->n == 0)
        return twin_error(TWIN_EINVALID, "share with whom? name at least one institution");
    return write_record(commit_out, n,
                        &(struct record_change){.id = id, .verb = "share", .audience = audience});
}

static int tree_at(git_tree **tree, twin_node *n, const git_oid *at);

/* ---- attachments (README "Attachments") -------------------------------------------------------
 */

#define ATTACH_CHUNK (64 * 1024)

/* What twin_ops_attach sets as a document's file. */
struct attach_edit {
    json_t *file;
};

static int set_file(json_t *rec, void *ctx)
{
    struct attach_edit *a = ctx;
    const char *type = json_string_value(json_object_get(rec, "type"));
    const char *id = json_string_value(json_object_get(rec, "id"));
    if (!type || strcmp(type, "document") != 0)
        return twin_error(TWIN_EINVALID, "%s is a %s, not a document: only documents carry files",
                          id, type ? type : "record");
    const char *sha = json_string_value(json_object_get(rec, "sha256"));
    const char *fsha = json_string_value(json_object_get(a->file, "sha256"));
    if (sha && strcmp(sha, fsha) != 0)
        return twin_error(TWIN_EINVALID,
                          "document %s records sha256 %s, but the file's SHA-256 is %s: not the "
                          "document's file",
                          id, sha, fsha);
    json_object_set(rec, "file", a->file);
    return 0;
}

/* Reads up to want bytes, fewer only at the end of the file. */
static ssize_t read_full(int fd, unsigned char *buf, size_t want)
{
    size_t got = 0;
    while (got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* The size of a sealed file's blob for size bytes of plaintext: the secretstream header, then
 * each 64 KiB chunk (one empty chunk for an empty file) with its 17 bytes of tag and MAC. */
static size_t sealed_blob_size(size_t size)
{
    size_t chunks = size ? (size + ATTACH_CHUNK - 1) / ATTACH_CHUNK : 1;
    return crypto_secretstream_xchacha20poly1305_HEADERBYTES + size +
           chunks * crypto_secretstream_xchacha20poly1305_ABYTES;
}

static void hex_of(char hex[static TWIN_SHA256_HEX_LEN + 1], crypto_hash_sha256_state *h)
{
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(h, d);
    for (size_t i = 0; i < sizeof(d); i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* Copies fd's size bytes into a blob of the store as a stream, hashing them with SHA-256 on the
 * way (plain_hex): neither is held whole. With key, the blob is their ciphertext under libsodium's
 * secretstream (XChaCha20-Poly1305, 64 KiB chunks, the last tagged final), and cipher_hex the
 * SHA-256 of the blob's bytes; without, cipher_hex is plain_hex. */
static int stream_blob(git_oid *blob, char plain_hex[static TWIN_SHA256_HEX_LEN + 1],
                       char cipher_hex[static TWIN_SHA256_HEX_LEN + 1], twin_node *n, int fd,
                       size_t size, const char *name, const unsigned char *key)
{
    git_odb *odb = NULL;
    git_odb_stream *ws = NULL;
    unsigned char *buf = malloc(ATTACH_CHUNK + 1),
                  *out = malloc(ATTACH_CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES);
    unsigned char header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    crypto_secretstream_xchacha20poly1305_state st;
    crypto_hash_sha256_state hp, hc;
    size_t done = 0;
    int rc = 0;
    if (!buf || !out) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    crypto_hash_sha256_init(&hp);
    crypto_hash_sha256_init(&hc);
    size_t blob_size = key ? sealed_blob_size(size) : size;
    if (git_repository_odb(&odb, twin_node_repo(n)) < 0 ||
        git_odb_open_wstream(&ws, odb, (git_object_size_t)blob_size, GIT_OBJECT_BLOB) < 0) {
        rc = twin_error_git("writing an attachment");
        goto cleanup;
    }
    if (key) {
        crypto_secretstream_xchacha20poly1305_init_push(&st, header, key);
        crypto_hash_sha256_update(&hc, header, sizeof(header));
        if (git_odb_stream_write(ws, (const char *)header, sizeof(header)) < 0) {
            rc = twin_error_git("writing an attachment");
            goto cleanup;
        }
    }
    for (;;) {
        /* One byte more than a chunk tells whether the file grew. */
        size_t want = size - done < ATTACH_CHUNK ? size - done + 1 : ATTACH_CHUNK;
        ssize_t got = read_full(fd, buf, want);
        if (got < 0) {
            rc = twin_error(TWIN_ERROR, "%s: %s", name, strerror(errno));
            goto cleanup;
        }
        if ((size_t)got > size - done || ((size_t)got < want && done + (size_t)got != size)) {
            rc = twin_error(TWIN_EINVALID, "%s changed while it was read", name);
            goto cleanup;
        }
        done += (size_t)got;
        bool last = done == size;
        crypto_hash_sha256_update(&hp, buf, (size_t)got);
        const unsigned char *w = buf;
        size_t wlen = (size_t)got;
        if (key) {
            unsigned long long clen;
            crypto_secretstream_xchacha20poly1305_push(
                &st, out, &clen, buf, (unsigned long long)got, NULL, 0,
                last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
            w = out;
            wlen = (size_t)clen;
            crypto_hash_sha256_update(&hc, w, wlen);
        }
        if (wlen && git_odb_stream_write(ws, (const char *)w, wlen) < 0) {
            rc = twin_error_git("writing an attachment");
            goto cleanup;
        }
        if (last)
            break;
    }
    if (git_odb_stream_finalize_write(blob, ws) < 0) {
        rc = twin_error_git("writing an attachment");
        goto cleanup;
    }
    hex_of(plain_hex, &hp);
    if (key)
        hex_of(cipher_hex, &hc);
    else
        memcpy(cipher_hex, plain_hex, TWIN_SHA256_HEX_LEN + 1);
cleanup:
    sodium_memzero(&st, sizeof(st));
    git_odb_stream_free(ws);
    git_odb_free(odb);
    if (buf)
        sodium_memzero(buf, ATTACH_CHUNK + 1);
    free(buf);
    free(out);
    return rc;
}

/* The base name of path. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A media type for a file's name, from its extension; NULL when twin knows none. */
static const char *media_type_for(const char *name)
{
    static const char *const table[][2] = {
        {"pdf", "application/pdf"},
        {"txt", "text/plain"},
        {"md", "text/markdown"},
        {"csv", "text/csv"},
        {"json", "application/json"},
        {"xml", "application/xml"},
        {"html", "text/html"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"zip", "application/zip"},
        {"odt", "application/vnd.oasis.opendocument.text"},
        {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
        {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
        {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
        {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    };
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        return NULL;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcasecmp(dot + 1, table[i][0]) == 0)
            return table[i][1];
    return NULL;
}

/* Whether s looks like a media type: type/subtype in printable ASCII without blanks. */
static bool media_type_valid(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/') || strlen(s) > 255)
        return false;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p > '~')
            return false;
    return true;
}

/* The content of document id as this node reads it: *content, and *sealed when it is sealed.
 * TWIN_EINVALID when id is not a document or was erased; TWIN_EDENIED when it is sealed to others.
 */
static int document_content(json_t **content, bool *sealed, twin_node *n, const git_oid *at,
                            const char *id)
{
    json_t *stored = NULL;
    enum twin_sealing how;
    *content = NULL;
    int rc = twin_ops_get(&stored, n, at, NULL, id);
    if (rc == 0)
        rc = twin_ops_unseal(content, &how, n, stored);
    if (rc) {
        json_decref(stored);
        return rc;
    }
    const char *type = json_string_value(json_object_get(stored, "type"));
    *sealed = how != TWIN_SEALING_CLEAR;
    if (strcmp(type, "document") != 0)
        rc = twin_error(TWIN_EINVALID, "%s is a %s, not a document: only documents carry files", id,
                        type);
    else if (how == TWIN_SEALING_ERASED)
        rc =
            twin_error(TWIN_EINVALID,
                       "document %s was erased: its keys, and its file's, are gone everywhere", id);
    else if (how == TWIN_SEALING_CLOSED)
        rc = twin_error(TWIN_EDENIED,
                        "document %s is sealed, and this node cannot read it, nor its file", id);
    json_decref(stored);
    if (rc) {
        json_decref(*content);
        *content = NULL;
    }
    return rc;
}

int twin_ops_attach(git_oid *commit_out, json_t **file_out, twin_node *n, const char *id,
                    const char *path, const char *media_type)
{
    struct twin_membership *m = NULL;
    json_t *doc = NULL, *file = NULL;
    char hex[TWIN_SHA256_HEX_LEN + 1], cipher[TWIN_SHA256_HEX_LEN + 1];
    char blob_path[TWIN_ATTACHMENT_PATH_MAX], cap_text[32];
    unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    char key_b64[sodium_base64_ENCODED_LEN(sizeof(key), sodium_base64_VARIANT_ORIGINAL)];
    bool sealed = false;
    git_oid blob;
    struct stat st;
    int fd = -1, rc;
    if (file_out)
        *file_out = NULL;
    if (media_type && !media_type_valid(media_type))
        return twin_error(TWIN_EINVALID, "'%s' is not a media type (such as application/pdf)",
                          media_type);
    const char *name = base_name(path);
    if ((rc = document_content(&doc, &sealed, n, NULL, id)))
        return rc;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
        rc = twin_error(TWIN_EINVALID, "%s: %s", path, strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = twin_error(TWIN_EINVALID, "%s: not a regular file", path);
        goto cleanup;
    }
    if ((rc = twin_ops_members(&m, n, NULL)))
        goto cleanup;
    size_t cap = m->attachment_max ? m->attachment_max : TWIN_ATTACHMENT_MAX_BYTES;
    size_t stored_size = sealed ? sealed_blob_size((size_t)st.st_size) : (size_t)st.st_size;
    if ((uintmax_t)st.st_size > cap || stored_size > cap) {
        twin_attachment_size_text(cap_text, sizeof(cap_text), cap);
        rc = twin_error(TWIN_ELIMIT,
                        "%s: %jd bytes%s, over the network's cap on attachments (%s, %zu bytes)",
                        path, (intmax_t)st.st_size,
                        sealed ? " (sealed, with its encryption's overhead)" : "", cap_text, cap);
        goto cleanup;
    }
    if (sealed)
        crypto_secretstream_xchacha20poly1305_keygen(key);
    if ((rc =
             stream_blob(&blob, hex, cipher, n, fd, (size_t)st.st_size, path, sealed ? key : NULL)))
        goto cleanup;
    const char *sha = json_string_value(json_object_get(doc, "sha256"));
    if (sha && strcmp(sha, hex) != 0) {
        rc = twin_error(TWIN_EINVALID,
                        "%s: its SHA-256 is %s, but document %s records sha256 %s: not the "
                        "document's file",
                        path, hex, id, sha);
        goto cleanup;
    }
    twin_attachment_path(blob_path, cipher);
    if (!media_type)
        media_type = media_type_for(name);
    file =
        json_pack("{s:s, s:I, s:s}", "sha256", hex, "size", (json_int_t)st.st_size, "name", name);
    if (file && media_type)
        json_object_set_new(file, "media_type", json_string(media_type));
    if (file && sealed) {
        sodium_bin2base64(key_b64, sizeof(key_b64), key, sizeof(key),
                          sodium_base64_VARIANT_ORIGINAL);
        json_object_set_new(file, "key", json_string(key_b64));
        json_object_set_new(file, "blob", json_string(cipher));
    }
    if (!file) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    struct attach_edit edit = {file};
    struct record_change c = {.node = n,
                              .type = "document",
                              .id = id,
                              .verb = "attach",
                              .fn = set_file,
                              .ctx = &edit,
                              .blob = &blob,
                              .blob_path = blob_path};
    rc = commit_with_retry(commit_out, n, change_record, &c);
    if (rc == 0 && file_out && (*file_out = json_deep_copy(file)))
        json_object_del(*file_out, "key"); /* the file key stays with the record */
cleanup:
    sodium_memzero(key, sizeof(key));
    sodium_memzero(key_b64, sizeof(key_b64));
    if (fd >= 0)
        close(fd);
    json_decref(file);
    json_decref(doc);
    twin_membership_free(m);
    return rc;
}

/* Opens a sealed file's ciphertext (its blob's bytes) with key into size bytes at *out. */
static int open_sealed_file(unsigned char **out, const unsigned char *c, size_t clen,
                            const unsigned char *key, size_t size, const char *path)
{
    crypto_secretstream_xchacha20poly1305_state st;
    const size_t hb = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
    const size_t ab = crypto_secretstream_xchacha20poly1305_ABYTES;
    *out = NULL;
    if (clen != sealed_blob_size(size) ||
        crypto_secretstream_xchacha20poly1305_init_pull(&st, c, key) != 0)
        return twin_error(TWIN_EVERIFY, "%s does not open with the document's file key", path);
    unsigned char *p = malloc(size ? size : 1);
    if (!p)
        return twin_error(TWIN_ERROR, "out of memory");
    size_t at = hb, done = 0;
    unsigned char tag = 0;
    while (at < clen) {
        size_t chunk = clen - at < ATTACH_CHUNK + ab ? clen - at : ATTACH_CHUNK + ab;
        unsigned long long mlen;
        if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL ||
            crypto_secretstream_xchacha20poly1305_pull(&st, p + done, &mlen, &tag, c + at, chunk,
                                                       NULL, 0) != 0) {
            sodium_memzero(p, size);
            free(p);
            return twin_error(TWIN_EVERIFY, "%s does not open with the document's file key", path);
        }
        at += chunk;
        done += (size_t)mlen;
    }
    if (tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL || done != size) {
        sodium_memzero(p, size);
        free(p);
        return twin_error(TWIN_EVERIFY, "%s is cut short (no final chunk)", path);
    }
    *out = p;
    return 0;
}

int twin_ops_attachment(json_t **file_out, twin_attachment_fn fn, void *ctx, twin_node *n,
                        const git_oid *at, const char *id)
{
    json_t *doc = NULL;
    git_tree *tree = NULL;
    git_tree_entry *e = NULL;
    git_blob *blob = NULL;
    unsigned char *plain = NULL, key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    char path[TWIN_ATTACHMENT_PATH_MAX], hex[TWIN_SHA256_HEX_LEN + 1];
    bool sealed = false;
    size_t plen = 0;
    *file_out = NULL;
    int rc = document_content(&doc, &sealed, n, at, id);
    if (rc)
        return rc;
    const json_t *file = json_object_get(doc, "file");
    const char *sha = json_string_value(json_object_get(file, "sha256"));
    const char *name = json_string_value(json_object_get(file, sealed ? "blob" : "sha256"));
    json_int_t size = json_integer_value(json_object_get(file, "size"));
    if (!sha || !name || !twin_attachment_hex_valid(name)) {
        rc = twin_error(TWIN_ENOTFOUND, "document %s has no file (twin attach %s FILE adds one)",
                        id, id);
        goto cleanup;
    }
    twin_attachment_path(path, name);
    if ((rc = tree_at(&tree, n, at)))
        goto cleanup;
    rc = twin_tree_entry_at(&e, twin_node_repo(n), tree, path);
    if (rc == TWIN_ENOTFOUND ||
        (rc == 0 && git_blob_lookup(&blob, twin_node_repo(n), git_tree_entry_id(e)) < 0)) {
        rc = twin_error(TWIN_EVERIFY,
                        "the store is damaged: %s, the file of document %s, is missing or "
                        "unreadable (twin verify names the damage; restore from a backup or a "
                        "partner)",
                        path, id);
        goto cleanup;
    }
    if (rc)
        goto cleanup;
    const unsigned char *data = git_blob_rawcontent(blob);
    size_t len = (size_t)git_blob_rawsize(blob);
    twin_attachment_sha256_hex(hex, data, len);
    if (strcmp(hex, name) != 0) {
        rc = twin_error(TWIN_EVERIFY,
                        "the store is damaged: %s, the file of document %s, hashes to %s", path, id,
                        hex);
        goto cleanup;
    }
    if (sealed) {
        const char *b64 = json_string_value(json_object_get(file, "key"));
        size_t klen = 0;
        if (!b64 ||
            sodium_base642bin(key, sizeof(key), b64, strlen(b64), NULL, &klen, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            klen != sizeof(key)) {
            rc = twin_error(TWIN_EINVALID, "document %s: file.key is not base64 of %zu bytes", id,
                            sizeof(key));
            goto cleanup;
        }
        if (size < 0 || (rc = open_sealed_file(&plain, data, len, key, (size_t)size, path)))
            goto cleanup;
        data = plain;
        len = plen = (size_t)size;
        twin_attachment_sha256_hex(hex, data, len);
    }
    if (strcmp(hex, sha) != 0 || (json_int_t)len != size) {
        rc = twin_error(TWIN_EVERIFY,
                        "the store is damaged: %s, the file of document %s, gives bytes whose "
                        "SHA-256 is %s, not its file.sha256",
                        path, id, hex);
        goto cleanup;
    }
    json_t *shown = json_deep_copy(file);
    json_object_del(shown, "key"); /* the file key stays with the record */
    if ((rc = fn(data, len, ctx)) == 0)
        *file_out = shown;
    else
        json_decref(shown);
cleanup:
    sodium_memzero(key, sizeof(key));
    if (plain) {
        sodium_memzero(plain, plen);
        free(plain);
    }
    git_blob_free(blob);
    git_tree_entry_free(e);
    git_tree_free(tree);
    json_decref(doc);
    return rc;
}

static int check_writer(twin_node *n, git_tree *head_tree)
{
    return require_writer(n, head_tree, false);
}

int twin_ops_batch_begin(twin_batch **out, twin_node *n, size_t flush_every)
{
    return twin_batch_begin(out, n, check_writer, flush_every);
}

static int write_batched(git_oid *commit_out, twin_batch *b, const struct record_change *change)
{
    struct record_change c = *change;
    c.node = twin_batch_node(b);
    twin_tx *tx = NULL;
    char message[600];
    git_oid commit;
    int rc = twin_tx_begin_batch(&tx, b);
    if (rc == 0 && (rc = change_record(tx, message, sizeof(message), &c)) == 0)
        rc = twin_tx_commit(commit_out ? commit_out : &commit, tx, message);
    twin_tx_free(tx);
    return rc;
}

int twin_ops_batch_add(char id_out[static TWIN_ID_LEN + 1], git_oid *commit_out, twin_batch *b,
                       const char *type, twin_record_edit_fn fn, void *ctx)
{
    return twin_ops_batch_add_sealed(id_out, commit_out, b, type, NULL, fn, ctx);
}

int twin_ops_batch_add_sealed(char id_out[static TWIN_ID_LEN + 1], git_oid *commit_out,
                              twin_batch *b, const char *type, const struct twin_audience *audience,
                              twin_record_edit_fn fn, void *ctx)
{
    int rc = check_record_type(type);
    if (rc)
        return rc;
    char id[TWIN_ID_LEN + 1];
    twin_record_new_id(id);
    struct record_change c = new_record(type, id, fn, ctx, audience);
    rc = write_batched(commit_out, b, &c);
    if (rc == 0)
        memcpy(id_out, id, sizeof(id));
    return rc;
}

int twin_ops_batch_update(git_oid *commit_out, twin_batch *b, const char *id, const char *verb,
                          twin_record_edit_fn fn, void *ctx)
{
    return write_batched(commit_out, b,
                         &(struct record_change){.id = id, .verb = verb, .fn = fn, .ctx = ctx});
}

static int mark_withdrawn(json_t *rec, void *ctx)
{
    if (json_is_true(json_object_get(rec, "withdrawn")))
        return twin_error(TWIN_EEXISTS, "%s is already withdrawn",
                          json_string_value(json_object_get(rec, "id")));
    return json_object_set_new(rec, "withdrawn", json_true()) ? TWIN_ERROR : 0;
}

int twin_ops_withdraw(git_oid *commit_out, twin_node *n, const char *id)
{
    return write_record(
        commit_out, n, &(struct record_change){.id = id, .verb = "withdraw", .fn = mark_withdrawn});
}

int twin_ops_resolve_sealed(git_oid *commit_out, twin_node *n, const char *id,
                            const struct twin_sealed_resolution *resolution)
{
    return write_record(commit_out, n,
                        &(struct record_change){.id = id,
                                                .verb = "resolve",
                                                .fn = resolution->fn,
                                                .ctx = resolution->ctx,
                                                .resolution = resolution});
}

/* Whether this node may confirm rec, the record id at the head: a contribution in the name of
 * this node's institution, not confirmed at its status yet. */
static int confirmable(const json_t *rec, twin_node *n, const char *id)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (!type || strcmp(type, "contribution") != 0)
        return twin_error(TWIN_EINVALID,
                          "%s is a %s, not a contribution: only a contribution is "
                          "confirmed",
                          id, type ? type : "record of no type");
    if (twin_envelope_is(rec))
        return twin_error(TWIN_EINVALID, "contribution %s is sealed, which no contribution may be",
                          id);
    const char *inst = json_string_value(json_object_get(rec, "institution"));
    json_t *ir = NULL;
    int rc = inst ? twin_ops_get(&ir, n, NULL, "institution", inst) : TWIN_ENOTFOUND;
    if (rc == TWIN_ENOTFOUND)
        return twin_error(TWIN_EINVALID, "contribution %s names no institution that is there", id);
    if (rc)
        return rc;
    const char *name = json_string_value(json_object_get(ir, "name"));
    const char *org = json_string_value(json_object_get(ir, "org_id"));
    name = name ? name : "(no name)";
    if (!org)
        rc = twin_error(TWIN_EINVALID,
                        "contribution %s is in the name of %s (institution %s), which has no "
                        "org_id: no member can confirm for it until it has one (twin set %s "
                        "org_id=ORG-ID)",
                        id, name, inst, inst);
    else if (strcmp(org, twin_node_org_id(n)) != 0)
        rc = twin_error(TWIN_EDENIED,
                        "contribution %s is in the name of %s (%s): only that institution "
                        "confirms it, and this node is %s's",
                        id, name, org, twin_node_org_id(n));
    json_decref(ir);
    return rc;
}

static int mark_confirmed(json_t *rec, void *ctx)
{
    (void)ctx;
    json_t *status = json_object_get(rec, "status");
    if (!json_is_string(status))
        return twin_error(TWIN_EINVALID, "contribution %s has no status to confirm",
                          json_string_value(json_object_get(rec, "id")));
    if (json_equal(status, json_object_get(rec, "confirmed")))
        return twin_error(TWIN_EEXISTS, "contribution %s is confirmed as %s already",
                          json_string_value(json_object_get(rec, "id")), json_string_value(status));
    return json_object_set(rec, "confirmed", status) ? twin_error(TWIN_ERROR, "out of memory") : 0;
}

int twin_ops_confirm(git_oid *commit_out, twin_node *n, const char *id)
{
    json_t *rec = NULL;
    int rc = twin_ops_get(&rec, n, NULL, NULL, id);
    if (rc == 0)
        rc = confirmable(rec, n, id);
    if (rc == 0 && json_equal(json_object_get(rec, "status"), json_object_get(rec, "confirmed")))
        rc = twin_error(TWIN_EEXISTS, "contribution %s is confirmed as %s already", id,
                        json_string_value(json_object_get(rec, "status")));
    json_decref(rec);
    if (rc)
        return rc;
    return write_record(
        commit_out, n,
        &(struct record_change){
            .id = id, .type = "contribution", .verb = "confirm", .fn = mark_confirmed});
}

/* The tree of commit at, or of the head when at is NULL. */
static int tree_at(git_tree **tree, twin_node *n, const git_oid *at)
{
    git_oid head;
    git_commit *commit = NULL;
    int rc = 0;
    *tree = NULL;
    if (!at) {
        if ((rc = twin_node_head(&head, n)))
            return rc;
        at = &head;
    }
    if (git_commit_lookup(&commit, twin_node_repo(n), at) < 0) {
        char hex[GIT_OID_HEXSZ + 1];
        git_oid_tostr(hex, sizeof(hex), at);
        return twin_error(TWIN_ERROR, "commit %s cannot be read, the store is damaged: %s", hex,
                          git_error_last() ? git_error_last()->message : "libgit2 error");
    }
    rc = twin_tree_open(tree, twin_node_repo(n), git_commit_tree_id(commit), "the commit's tree");
    git_commit_free(commit);
    return rc;
}

int twin_ops_get(json_t **out, twin_node *n, const git_oid *at, const char *type, const char *id)
{
    git_tree *tree = NULL;
    char path[128], *text = NULL;
    size_t len;
    int rc;
    *out = NULL;
    if ((rc = tree_at(&tree, n, at)))
        return rc;
    if (!type && (rc = find_type(&type, twin_node_repo(n), tree, id)))
        goto cleanup;
    if ((rc = twin_record_path(path, sizeof(path), type, id)))
        goto cleanup;
    rc = twin_tree_read(&text, &len, twin_node_repo(n), tree, path);
    if (rc == TWIN_ENOTFOUND)
        rc = twin_error(TWIN_ENOTFOUND, "no %s %s", type, id);
    if (rc == 0)
        rc = twin_record_parse_canonical(out, text, len);
cleanup:
    free(text);
    git_tree_free(tree);
    return rc;
}

/* Whether p (lower case) can begin a record id: hex digits, with dashes where ids have them. */
static bool id_prefix_valid(const char *p, size_t len)
{
    if (len > TWIN_ID_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? p[i] != '-' : !((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return false;
    }
    return true;
}

struct id_matches {
    char ids[4][TWIN_ID_LEN + 1];
    const char *types[4];
    size_t count;
};

/* Adds to m every record in bucket whose name begins with prefix. Entries are in name order, so
 * the matches are found by bisection and lie side by side. */
static void bucket_matches(struct id_matches *m, const git_tree *bucket, const char *type,
                           const char *prefix, size_t len)
{
    size_t lo = 0, hi = git_tree_entrycount(bucket);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strncmp(git_tree_entry_name(git_tree_entry_byindex(bucket, mid)), prefix, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < git_tree_entrycount(bucket); i++) {
        const char *name = git_tree_entry_name(git_tree_entry_byindex(bucket, i));
        if (strncmp(name, prefix, len) != 0)
            break;
        if (strlen(name) != TWIN_ID_LEN + 5 || strcmp(name + TWIN_ID_LEN, ".json") != 0)
            continue;
        if (m->count < sizeof(m->ids) / sizeof(m->ids[0])) {
            memcpy(m->ids[m->count], name, TWIN_ID_LEN);
            m->ids[m->count][TWIN_ID_LEN] = '\0';
            m->types[m->count] = type;
        }
        m->count++;
    }
}

/* Adds to m the records of type in root whose ids begin with prefix. The bucket is an id's last
 * two characters, so a prefix shorter than an id looks in every bucket. A tree that cannot be
 * read is an error naming it: an id is never said to be unknown because its tree is damaged. */
static int type_matches(struct id_matches *m, git_repository *repo, git_tree *root,
                        const char *type, const char *prefix, size_t len)
{
    char dir[64];
    git_tree *type_tree = NULL;
    snprintf(dir, sizeof(dir), "records/%s", type);
    int rc = twin_tree_open_dir(&type_tree, repo, root, dir);
    for (size_t b = 0; rc == 0 && type_tree && b < git_tree_entrycount(type_tree); b++) {
        const git_tree_entry *be = git_tree_entry_byindex(type_tree, b);
        char where[128];
        git_tree *bucket = NULL;
        snprintf(where, sizeof(where), "%s/%s", dir, git_tree_entry_name(be));
        if (git_tree_entry_type(be) != GIT_OBJECT_TREE)
            rc = twin_error(TWIN_EINVALID, "%s: not a bucket", where);
        else if ((rc = twin_tree_open(&bucket, repo, git_tree_entry_id(be), where)) == 0)
            bucket_matches(m, bucket, type, prefix, len);
        git_tree_free(bucket);
    }
    git_tree_free(type_tree);
    return rc;
}

int twin_ops_resolve_id(char out[static TWIN_ID_LEN + 1], const char **type_out, twin_node *n,
                        const git_oid *at, const char *arg)
{
    char prefix[TWIN_ID_LEN + 1];
    size_t len = strlen(arg);
    if (type_out)
        *type_out = NULL;
    if (twin_record_id_valid(arg)) {
        memcpy(out, arg, TWIN_ID_LEN + 1);
        return 0;
    }
    for (size_t i = 0; i < len && i < TWIN_ID_LEN; i++)
        prefix[i] = (char)tolower((unsigned char)arg[i]);
    prefix[len < TWIN_ID_LEN ? len : TWIN_ID_LEN] = '\0';
    if (!id_prefix_valid(prefix, len))
        return twin_error(TWIN_EINVALID, "'%s' is not a record id", arg);
    if (len == TWIN_ID_LEN) { /* an id in capitals */
        memcpy(out, prefix, TWIN_ID_LEN + 1);
        return 0;
    }
    if (len < TWIN_ID_PREFIX_MIN)
        return twin_error(TWIN_EINVALID,
                          "'%s' is too short to name a record: give at least %d characters of "
                          "its id",
                          arg, TWIN_ID_PREFIX_MIN);
    git_tree *tree = NULL;
    struct id_matches m = {0};
    int rc = tree_at(&tree, n, at);
    for (const char *const *t = twin_record_types(); rc == 0 && *t; t++)
        rc = type_matches(&m, twin_node_repo(n), tree, *t, prefix, len);
    git_tree_free(tree);
    if (rc)
        return rc;
    if (m.count == 0)
        return twin_error(TWIN_ENOTFOUND, "no record's id begins with %s", arg);
    if (m.count > 1) {
        char list[256] = "";
        size_t shown = m.count < 3 ? m.count : 3;
        for (size_t i = 0; i < shown; i++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof(list) - used, "%s%s (%s)", i ? ", " : "", m.ids[i],
                     m.types[i]);
        }
        return twin_error(TWIN_EINVALID,
                          "'%s' begins the ids of %zu records: %s%s; give more of it", arg, m.count,
                          list, m.count > shown ? ", ..." : "");
    }
    memcpy(out, m.ids[0], TWIN_ID_LEN + 1);
    if (type_out)
        *type_out = m.types[0];
    return 0;
}

int twin_ops_members(struct twin_membership **out, twin_node *n, const git_oid *at)
{
    git_tree *tree = NULL;
    *out = NULL;
    int rc = tree_at(&tree, n, at);
    if (rc == 0)
        rc = twin_membership_load(out, twin_node_repo(n), tree);
    git_tree_free(tree);
    return rc;
}

struct member_change {
    twin_node *node;
    const struct twin_identity *who;
    const char *role;
    const unsigned char *pk;
    bool own_partnerships;
};

/* Writes a change to network.json or a member file: at once when the policy needs one admin,
 * otherwise as a proposal this node approves first (governance.h). summary names the change. */
static int put_governed(twin_tx *tx, twin_node *n, const struct twin_membership *m,
                        const char *path, const json_t *content, const char *summary, char *message,
                        size_t message_size)
{
    char *text = NULL;
    size_t len;
    int rc;
    twin_node_set_last_proposal(n, NULL);
    if (twin_governance_threshold(m) == 1) {
        if ((rc = twin_record_canonical(&text, &len, content)) == 0 &&
            (rc = twin_tx_put(tx, path, text, len)) == 0)
            snprintf(message, message_size, "%s\n\nFile: %s\n", summary, path);
        free(text);
        return rc;
    }
    char id[TWIN_ID_LEN + 1], ppath[160];
    twin_record_new_id(id);
    snprintf(ppath, sizeof(ppath), TWIN_PROPOSALS_DIR "/%s.json", id);
    json_t *p = json_pack("{s:s, s:s, s:s, s:[{s:s, s:O}], s:[s]}", "id", id, "summary", summary,
                          "proposed_by", twin_node_org_id(n), "changes", "path", path, "content",
                          content, "approvals", twin_node_org_id(n));
    if (!p)
        return twin_error(TWIN_ERROR, "out of memory");
    if ((rc = twin_governance_proposal_check(p, id)) == 0 &&
        (rc = twin_record_canonical(&text, &len, p)) == 0 &&
        (rc = twin_tx_put(tx, ppath, text, len)) == 0) {
        snprintf(message, message_size, "propose: %s (approved by %s, 1 of %d)\n\nProposal: %s\n",
                 summary, twin_node_org_id(n), twin_governance_threshold(m), ppath);
        twin_node_set_last_proposal(n, id);
    }
    free(text);
    json_decref(p);
    return rc;
}

static int change_member_add(twin_tx *tx, char *message, size_t message_size, void *ctx)
{
    struct member_change *c = ctx;
    struct twin_membership *m = NULL;
    json_t *member = NULL;
    char *text = NULL, path[160];
    int rc;
    if ((rc = require_writer(c->node, twin_tx_base_tree(tx), true)) ||
        (rc = twin_membership_load(&m, twin_node_repo(c->node), twin_tx_base_tree(tx))))
        goto cleanup;
    const struct twin_member *holder = twin_membership_find_key(m, c->pk, NULL);
    if (twin_membership_find(m, c->who->org_id)) {
        rc = twin_error(TWIN_EEXISTS, "%s is already a member", c->who->org_id);
        goto cleanup;
    }
    if (holder) {
        rc = twin_error(TWIN_EEXISTS, "that key already belongs to member %s", holder->org_id);
        goto cleanup;
    }
    if (!(member = twin_membership_member_json(c->who, c->role, c->pk))) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    if (c->own_partnerships)
        json_object_set_new(member, "scope", json_string(TWIN_SCOPE_OWN));
    snprintf(path, sizeof(path), "%s/%s.json", TWIN_MEMBERS_DIR, c->who->org_id);
    char summary[400];
    snprintf(summary, sizeof(summary), "add member %s: %s (%s)", c->who->org_id, c->who->name,
             c->role);
    if ((rc = twin_membership_check_member(member, c->who->org_id)) ||
        (rc = put_governed(tx, c->node, m, path, member, summary, message, message_size)))
        goto cleanup;
cleanup:
    free(text);
    json_decref(member);
    twin_membership_free(m);
    return rc;
}

int twin_ops_member_add(git_oid *commit_out, twin_node *n, const struct twin_identity *who,
                        const char *role, const unsigned char pk[static TWIN_PUBKEY_BYTES])
{
    return twin_ops_member_add_scoped(commit_out, n, who, role, pk, false);
}

int twin_ops_member_add_scoped(git_oid *commit_out, twin_node *n, const struct twin_identity *who,
                               const char *role, const unsigned char pk[static TWIN_PUBKEY_BYTES],
                               bool own_partnerships)
{
    enum twin_role r;
    int rc;
    if ((rc = twin_node_identity_check(who)) || (rc = twin_membership_role_parse(&r, role)))
        return rc;
    struct member_change c = {n, who, role, pk, own_partnerships};
    return commit_with_retry(commit_out, n, change_member_add, &c);
}

/* One record file's bytes: out of twin's pack reader where it is given and holds the blob (in
 * place, no copy), else out of libgit2. */
struct record_bytes {
    git_blob *blob;
    twin_pobj *pobj;
    const char *data;
    size_t size;
};

static int record_bytes_read(struct record_bytes *b, git_repository *repo, twin_packread *packs,
                             const git_oid *id, const char *where, const char *name)
{
    char hex[GIT_OID_HEXSZ + 1];
    memset(b, 0, sizeof(*b));
    git_oid_tostr(hex, sizeof(hex), id);
    int got = packs ? twin_packread_get(&b->pobj, packs, id) : 0;
    if (got < 0)
        return twin_error_wrap(got, "%s/%s", where, name);
    if (got) {
        if (b->pobj->type != GIT_OBJECT_BLOB) {
            twin_packread_release(b->pobj);
            b->pobj = NULL;
            return twin_error(TWIN_ERROR,
                              "blob %s (%s/%s) cannot be read, the store is damaged: "
                              "it is no blob",
                              hex, where, name);
        }
        b->data = (const char *)b->pobj->data;
        b->size = b->pobj->size;
        return 0;
    }
    if (git_blob_lookup(&b->blob, repo, id) < 0)
        return twin_error(TWIN_ERROR, "blob %s (%s/%s) cannot be read, the store is damaged: %s",
                          hex, where, name,
                          git_error_last() ? git_error_last()->message : "libgit2 error");
    b->data = git_blob_rawcontent(b->blob);
    b->size = (size_t)git_blob_rawsize(b->blob);
    return 0;
}

static void record_bytes_free(struct record_bytes *b)
{
    git_blob_free(b->blob);
    twin_packread_release(b->pobj);
    memset(b, 0, sizeof(*b));
}

/* Every record of one type in root, read through packs (twin's pack reader on the repository,
 * or NULL) where it holds them; with envelopes, only the envelopes: every file is read, but only
 * those whose bytes hold an envelope are parsed. A tree or record that cannot be read is an error
 * naming it, never a type, bucket or record left out: no partial list passes for a whole one. */
static int foreach_in_type(git_repository *repo, twin_packread *packs, git_tree *root,
                           const char *type, bool envelopes, int (*fn)(json_t *rec, void *ctx),
                           void *ctx)
{
    char dir[64];
    git_tree *type_tree = NULL;
    snprintf(dir, sizeof(dir), "records/%s", type);
    int rc = twin_tree_open_dir(&type_tree, repo, root, dir);
    if (rc || !type_tree)
        return rc; /* unreadable, or no record of this type */
    for (size_t b = 0; b < git_tree_entrycount(type_tree) && rc == 0; b++) {
        const git_tree_entry *be = git_tree_entry_byindex(type_tree, b);
        git_tree *bucket = NULL;
        char where[128];
        snprintf(where, sizeof(where), "%s/%s", dir, git_tree_entry_name(be));
        if (git_tree_entry_type(be) != GIT_OBJECT_TREE) {
            rc = twin_error(TWIN_EINVALID, "%s: not a bucket", where);
            break;
        }
        if ((rc = twin_tree_open(&bucket, repo, git_tree_entry_id(be), where)))
            break;
        for (size_t i = 0; i < git_tree_entrycount(bucket) && rc == 0; i++) {
            const git_tree_entry *e = git_tree_entry_byindex(bucket, i);
            struct record_bytes bytes;
            json_t *rec = NULL;
            if ((rc = record_bytes_read(&bytes, repo, packs, git_tree_entry_id(e), where,
                                        git_tree_entry_name(e))))
                break;
            /* Stored records passed the canonical check when they were committed (and verify
             * checks it again); reading them out only parses, and their canonical bytes tell an
             * envelope from a record in the clear without that. */
            if (envelopes && !twin_envelope_in_text(bytes.data, bytes.size)) {
                record_bytes_free(&bytes);
                continue;
            }
            rc = twin_record_parse(&rec, bytes.data, bytes.size);
            record_bytes_free(&bytes);
            if (rc) {
                rc = twin_error_wrap(rc, "%s/%s/%s", dir, git_tree_entry_name(be),
                                     git_tree_entry_name(e));
                break;
            }
            rc = fn(rec, ctx);
            json_decref(rec);
        }
        git_tree_free(bucket);
    }
    git_tree_free(type_tree);
    return rc;
}

/* One record file of a type, as twin_ops_foreach_by_id orders them. */
struct id_entry {
    const git_tree_entry *e;
    const char *bucket;
    size_t id_len; /* the name without ".json": the record's id */
};

static int by_entry_id(const void *a, const void *b)
{
    const struct id_entry *x = a, *y = b;
    int c = memcmp(git_tree_entry_name(x->e), git_tree_entry_name(y->e),
                   x->id_len < y->id_len ? x->id_len : y->id_len);
    return c ? c : (x->id_len > y->id_len) - (x->id_len < y->id_len);
}

/* Every record of one type in root, by id: the type's buckets are held open (their entries, not
 * their records) and their entries sorted, then each record is read and given in turn. */
static int foreach_in_type_by_id(git_repository *repo, git_tree *root, const char *type,
                                 int (*fn)(json_t *rec, void *ctx), void *ctx)
{
    char dir[64];
    git_tree *type_tree = NULL, **buckets = NULL;
    struct id_entry *entries = NULL;
    size_t nbuckets = 0, count = 0;
    snprintf(dir, sizeof(dir), "records/%s", type);
    int rc = twin_tree_open_dir(&type_tree, repo, root, dir);
    if (rc || !type_tree)
        return rc; /* unreadable, or no record of this type */
    nbuckets = git_tree_entrycount(type_tree);
    if (!(buckets = calloc(nbuckets ? nbuckets : 1, sizeof(*buckets)))) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    for (size_t b = 0; b < nbuckets && rc == 0; b++) {
        const git_tree_entry *be = git_tree_entry_byindex(type_tree, b);
        char where[128];
        snprintf(where, sizeof(where), "%s/%s", dir, git_tree_entry_name(be));
        if (git_tree_entry_type(be) != GIT_OBJECT_TREE)
            rc = twin_error(TWIN_EINVALID, "%s: not a bucket", where);
        else if ((rc = twin_tree_open(&buckets[b], repo, git_tree_entry_id(be), where)) == 0)
            count += git_tree_entrycount(buckets[b]);
    }
    if (rc == 0 && !(entries = twin_util_malloc_array(count ? count : 1, sizeof(*entries))))
        rc = twin_error(TWIN_ERROR, "out of memory");
    for (size_t b = 0, k = 0; rc == 0 && b < nbuckets; b++)
        for (size_t i = 0; i < git_tree_entrycount(buckets[b]); i++) {
            const git_tree_entry *e = git_tree_entry_byindex(buckets[b], i);
            size_t len = strlen(git_tree_entry_name(e));
            if (len > 5 && strcmp(git_tree_entry_name(e) + len - 5, ".json") == 0)
                len -= 5;
            entries[k++] = (struct id_entry){
                e, git_tree_entry_name(git_tree_entry_byindex(type_tree, b)), len};
        }
    if (rc == 0)
        qsort(entries, count, sizeof(*entries), by_entry_id);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const git_tree_entry *e = entries[i].e;
        struct record_bytes bytes;
        json_t *rec = NULL;
        char where[128];
        snprintf(where, sizeof(where), "%s/%s", dir, entries[i].bucket);
        if ((rc = record_bytes_read(&bytes, repo, NULL, git_tree_entry_id(e), where,
                                    git_tree_entry_name(e))))
            break;
        rc = twin_record_parse(&rec, bytes.data, bytes.size);
        record_bytes_free(&bytes);
        if (rc) {
            rc = twin_error_wrap(rc, "%s/%s", where, git_tree_entry_name(e));
            break;
        }
        rc = fn(rec, ctx);
        json_decref(rec);
    }
cleanup:
    free(entries);
    for (size_t b = 0; buckets && b < nbuckets; b++)
        git_tree_free(buckets[b]);
    free(buckets);
    git_tree_free(type_tree);
    return rc;
}

int twin_ops_selected(const struct twin_selection *sel, const json_t *rec)
{
    if (!sel->all && json_is_true(json_object_get(rec, "withdrawn")))
        return 0;
    for (size_t i = 0; i < sel->nwhere; i++) {
        const char *w = sel->where[i], *eq = strchr(w, '=');
        char path[256];
        if (!eq || (size_t)(eq - w) >= sizeof(path))
            return twin_error(TWIN_EINVALID, "--where %s: give FIELD=VALUE", w);
        memcpy(path, w, (size_t)(eq - w));
        path[eq - w] = '\0';
        if (!twin_record_field_is(rec, path, eq + 1))
            return 0;
    }
    return 1;
}

int twin_ops_foreach(twin_node *n, const git_oid *at, const char *type,
                     int (*fn)(json_t *rec, void *ctx), void *ctx)
{
    git_tree *tree = NULL;
    if (type && !twin_record_type_known(type))
        return twin_error(TWIN_EINVALID, "unknown record type '%s'", type);
    int rc = tree_at(&tree, n, at);
    for (const char *const *t = twin_record_types(); rc == 0 && *t; t++)
        if (!type || strcmp(type, *t) == 0)
            rc = foreach_in_type(twin_node_repo(n), NULL, tree, *t, false, fn, ctx);
    git_tree_free(tree);
    return rc;
}

static int cmp_type_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int twin_ops_foreach_by_id(twin_node *n, const git_oid *at, const char *type,
                           int (*fn)(json_t *rec, void *ctx), void *ctx)
{
    const char *types[32];
    size_t ntypes = 0;
    git_tree *tree = NULL;
    if (type && !twin_record_type_known(type))
        return twin_error(TWIN_EINVALID, "unknown record type '%s'", type);
    for (const char *const *t = twin_record_types(); *t && ntypes < 32; t++)
        if (!type || strcmp(type, *t) == 0)
            types[ntypes++] = *t;
    qsort(types, ntypes, sizeof(*types), cmp_type_name);
    int rc = tree_at(&tree, n, at);
    for (size_t i = 0; rc == 0 && i < ntypes; i++)
        rc = foreach_in_type_by_id(twin_node_repo(n), tree, types[i], fn, ctx);
    git_tree_free(tree);
    return rc;
}

int twin_ops_foreach_envelope(twin_node *n, const git_oid *at, int (*fn)(json_t *rec, void *ctx),
                              void *ctx)
{
    git_tree *tree = NULL;
    twin_packread *packs = NULL;
    int rc = tree_at(&tree, n, at);
    if (rc == 0)
        rc = twin_packread_open(&packs, twin_node_repo(n));
    for (const char *const *t = twin_record_types(); rc == 0 && *t; t++)
        rc = foreach_in_type(twin_node_repo(n), packs, tree, *t, true, fn, ctx);
    twin_packread_free(packs);
    git_tree_free(tree);
    return rc;
}

/* ---- changes to one member: revoke a key, remove the member, rotate this node's key ---------- */

enum member_edit_kind { EDIT_REVOKE, EDIT_REMOVE, EDIT_ROTATE, EDIT_ADD_KEY };

struct member_edit {
    twin_node *node;
    enum member_edit_kind kind;
    const char *org_id; /* the member (EDIT_ROTATE: this node's, found by its key) */
    unsigned char pk[TWIN_PUBKEY_BYTES]; /* the key revoked, or the new key (rotate, add-key) */
};

/* Whether an admin with an active key remains once member `org` has `pk` made inactive (or,
 * with pk NULL, is removed). */
static bool admin_remains(const struct twin_membership *m, const char *org, const unsigned char *pk)
{
    for (size_t i = 0; i < m->count; i++) {
        const struct twin_member *x = &m->members[i];
        if (x->role != TWIN_ROLE_ADMIN || x->removed || (!pk && strcmp(x->org_id, org) == 0))
            continue;
        for (size_t k = 0; k < x->nkeys; k++)
            if (x->keys[k].state == TWIN_KEY_ACTIVE &&
                !(pk && strcmp(x->org_id, org) == 0 &&
                  memcmp(x->keys[k].pk, pk, TWIN_PUBKEY_BYTES) == 0))
                return true;
    }
    return false;
}

/* The member file at path as the change set sees it (*old), and a copy of it to change (*cur). */
static int read_member_file(json_t **old, json_t **cur, twin_tx *tx, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    *old = *cur = NULL;
    int rc = twin_tx_read(&text, &len, tx, path);
    if (rc == 0)
        rc = twin_record_parse_canonical(old, text, len);
    free(text);
    if (rc == 0 && !(*cur = json_deep_copy(*old)))
        rc = twin_error(TWIN_ERROR, "out of memory");
    return rc;
}

static int change_member_edit(twin_tx *tx, char *message, size_t message_size, void *ctx)
{
    struct member_edit *c = ctx;
    struct twin_membership *m = NULL;
    json_t *old = NULL, *cur = NULL;
    char *text = NULL, path[160], line[TWIN_OPENSSH_PUB_MAX], fp[64];
    size_t len;
    int rc;
    git_tree *base = twin_tx_base_tree(tx);
    if ((rc = require_key(c->node, base, c->kind == EDIT_ROTATE ? NEED_MEMBER : NEED_ADMIN)) ||
        (rc = twin_membership_load(&m, twin_node_repo(c->node), base)))
        goto cleanup;
    const struct twin_member *who =
        c->kind == EDIT_ROTATE ? twin_membership_find_key(m, twin_node_key(c->node)->pk, NULL)
                               : twin_membership_find(m, c->org_id);
    if (!who) {
        rc = twin_error(TWIN_ENOTFOUND, "no member %s", c->org_id);
        goto cleanup;
    }
    if (who->removed) {
        rc = twin_error(TWIN_EEXISTS, "%s was already removed", who->org_id);
        goto cleanup;
    }
    snprintf(path, sizeof(path), "%s/%s.json", TWIN_MEMBERS_DIR, who->org_id);
    if ((rc = read_member_file(&old, &cur, tx, path)))
        goto cleanup;
    json_t *keys = json_object_get(cur, "keys");
    if (c->kind == EDIT_ADD_KEY) {
        char new_line[TWIN_OPENSSH_PUB_MAX];
        const struct twin_member *holder = twin_membership_find_key(m, c->pk, NULL);
        twin_key_fingerprint(fp, c->pk);
        if (holder) {
            rc = twin_error(TWIN_EEXISTS, "key %s already belongs to %s", fp, holder->org_id);
            goto cleanup;
        }
        twin_key_format_openssh(new_line, c->pk);
        json_array_append_new(keys, json_pack("{s:s, s:s}", "key", new_line, "state", "active"));
        snprintf(message, message_size, "add key of %s: %s\n\nMember: %s\n", who->org_id, fp, path);
    } else if (c->kind == EDIT_REMOVE) {
        if (who->role == TWIN_ROLE_ADMIN && !admin_remains(m, who->org_id, NULL)) {
            rc = twin_error(TWIN_EINVALID, "%s is the last admin: add another admin first",
                            who->org_id);
            goto cleanup;
        }
        json_object_set_new(cur, "removed", json_true());
        snprintf(message, message_size, "remove member %s: %s\n\nMember: %s\n", who->org_id,
                 who->name, path);
    } else {
        /* The key to take out of use: the one named (revoke), or this node's own (rotate). */
        const unsigned char *target = c->kind == EDIT_REVOKE ? c->pk : twin_node_key(c->node)->pk;
        twin_key_format_openssh(line, target);
        json_t *entry = NULL;
        for (size_t i = 0; i < json_array_size(keys); i++)
            if (strcmp(json_string_value(json_object_get(json_array_get(keys, i), "key")), line) ==
                0)
                entry = json_array_get(keys, i);
        twin_key_fingerprint(fp, target);
        if (!entry) {
            rc = twin_error(TWIN_ENOTFOUND, "%s has no key %s", who->org_id, fp);
            goto cleanup;
        }
        const char *state = json_string_value(json_object_get(entry, "state"));
        if (c->kind == EDIT_REVOKE && strcmp(state, "revoked") == 0) {
            rc = twin_error(TWIN_EEXISTS, "key %s of %s is already revoked", fp, who->org_id);
            goto cleanup;
        }
        if (who->role == TWIN_ROLE_ADMIN && strcmp(state, "active") == 0 &&
            c->kind == EDIT_REVOKE && !admin_remains(m, who->org_id, target)) {
            rc = twin_error(TWIN_EINVALID,
                            "that is the last active admin key: add another admin or key first");
            goto cleanup;
        }
        json_object_set_new(entry, "state",
                            json_string(c->kind == EDIT_REVOKE ? "revoked" : "retired"));
        if (c->kind == EDIT_ROTATE) {
            char new_line[TWIN_OPENSSH_PUB_MAX], new_fp[64];
            twin_key_format_openssh(new_line, c->pk);
            twin_key_fingerprint(new_fp, c->pk);
            if (twin_membership_find_key(m, c->pk, NULL)) {
                rc = twin_error(TWIN_EEXISTS, "the new key is already in the membership");
                goto cleanup;
            }
            json_array_append_new(keys,
                                  json_pack("{s:s, s:s}", "key", new_line, "state", "active"));
            snprintf(message, message_size,
                     "rotate key of %s: %s retired, %s active\n\nMember: %s\n", who->org_id, fp,
                     new_fp, path);
        } else {
            snprintf(message, message_size, "revoke key of %s: %s\n\nMember: %s\n", who->org_id, fp,
                     path);
        }
    }
    if ((rc = twin_membership_check_member(cur, who->org_id)) ||
        (rc = twin_membership_check_change(old, cur,
                                           c->kind != EDIT_ROTATE || who->role == TWIN_ROLE_ADMIN,
                                           twin_node_key(c->node)->pk)))
        goto cleanup;
    if (c->kind == EDIT_ROTATE) { /* a member's own rotation needs no approval */
        if ((rc = twin_record_canonical(&text, &len, cur)) == 0)
            rc = twin_tx_put(tx, path, text, len);
        goto cleanup;
    }
    char summary[600];
    snprintf(summary, sizeof(summary), "%.*s", (int)strcspn(message, "\n"), message);
    rc = put_governed(tx, c->node, m, path, cur, summary, message, message_size);
cleanup:
    free(text);
    json_decref(old);
    json_decref(cur);
    twin_membership_free(m);
    return rc;
}

int twin_ops_member_revoke_key(git_oid *commit_out, twin_node *n, const char *org_id,
                               const unsigned char pk[static TWIN_PUBKEY_BYTES])
{
    struct member_edit c = {n, EDIT_REVOKE, org_id, {0}};
    memcpy(c.pk, pk, TWIN_PUBKEY_BYTES);
    return commit_then_upkeep(commit_out, n, change_member_edit, &c);
}

int twin_ops_member_add_key(git_oid *commit_out, twin_node *n, const char *org_id,
                            const unsigned char pk[static TWIN_PUBKEY_BYTES])
{
    struct member_edit c = {n, EDIT_ADD_KEY, org_id, {0}};
    memcpy(c.pk, pk, TWIN_PUBKEY_BYTES);
    return commit_then_upkeep(commit_out, n, change_member_edit, &c);
}

int twin_ops_member_remove(git_oid *commit_out, twin_node *n, const char *org_id)
{
    struct member_edit c = {n, EDIT_REMOVE, org_id, {0}};
    return commit_then_upkeep(commit_out, n, change_member_edit, &c);
}

/* ---- a member's descriptive fields ---------------------------------------------------------- */

struct member_set {
    twin_node *node;
    const char *org_id;
    const struct twin_member_fields *fields;
};

/* Sets (or, with value NULL, leaves) one field of member file cur, noting its name in changed. */
static void set_field(json_t *cur, const char *key, const char *value, char *changed, size_t size)
{
    const char *was = json_string_value(json_object_get(cur, key));
    if (!value || (was && strcmp(was, value) == 0))
        return;
    json_object_set_new(cur, key, json_string(value));
    size_t len = strlen(changed);
    snprintf(changed + len, size - len, "%s%s", len ? ", " : "", key);
}

static int change_member_set(twin_tx *tx, char *message, size_t message_size, void *ctx)
{
    struct member_set *c = ctx;
    const struct twin_member_fields *f = c->fields;
    struct twin_membership *m = NULL;
    json_t *old = NULL, *cur = NULL;
    char *text = NULL, path[160], changed[80] = "";
    size_t len;
    int rc;
    git_tree *base = twin_tx_base_tree(tx);
    if ((rc = require_key(c->node, base, NEED_MEMBER)) ||
        (rc = twin_membership_load(&m, twin_node_repo(c->node), base)))
        goto cleanup;
    const struct twin_member *me = twin_membership_find_key(m, twin_node_key(c->node)->pk, NULL);
    const struct twin_member *who = twin_membership_find(m, c->org_id);
    bool own = who == me, admin = me->role == TWIN_ROLE_ADMIN;
    if (!who) {
        rc = twin_error(TWIN_ENOTFOUND, "no member %s (twin member list shows the members)",
                        c->org_id);
        goto cleanup;
    }
    if (who->removed) {
        rc = twin_error(TWIN_EINVALID,
                        "%s was removed from the network; its fields stay as they "
                        "were",
                        who->org_id);
        goto cleanup;
    }
    if (!admin && !own) {
        rc = twin_error(TWIN_EDENIED,
                        "only an admin may change another member's fields; %s is %s (a member "
                        "that is not an admin may correct only its own name and org type)",
                        me->org_id, twin_membership_role_name(me->role));
        goto cleanup;
    }
    if (!admin && (f->country || f->side)) {
        rc = twin_error(TWIN_EDENIED,
                        "only an admin may change a member's %s; %s is %s and may correct only "
                        "its own name and org type",
                        f->country && f->side ? "country and side"
                        : f->country          ? "country"
                                              : "side",
                        me->org_id, twin_membership_role_name(me->role));
        goto cleanup;
    }
    snprintf(path, sizeof(path), "%s/%s.json", TWIN_MEMBERS_DIR, who->org_id);
    if ((rc = read_member_file(&old, &cur, tx, path)))
        goto cleanup;
    set_field(cur, "name", f->name, changed, sizeof(changed));
    set_field(cur, "country", f->country, changed, sizeof(changed));
    set_field(cur, "org_type", f->org_type, changed, sizeof(changed));
    set_field(cur, "side", f->side, changed, sizeof(changed));
    if (!changed[0]) {
        rc = twin_error(TWIN_EINVALID, "nothing to change: %s has these values already",
                        who->org_id);
        goto cleanup;
    }
    if ((rc = twin_membership_check_member(cur, who->org_id)) ||
        (rc = twin_membership_check_change(old, cur, admin, twin_node_key(c->node)->pk)))
        goto cleanup;
    char summary[400];
    snprintf(summary, sizeof(summary), "set %s of member %s", changed, who->org_id);
    /* A member's correction of its own name and org type needs no approval (governance.h):
     * exactly what twin_membership_check_change lets a member that is not an admin do. */
    bool self_correction = own && !f->country && !f->side;
    if (self_correction) {
        twin_node_set_last_proposal(c->node, NULL);
        if ((rc = twin_record_canonical(&text, &len, cur)) == 0 &&
            (rc = twin_tx_put(tx, path, text, len)) == 0)
            snprintf(message, message_size, "%s\n\nMember: %s\n", summary, path);
        goto cleanup;
    }
    rc = put_governed(tx, c->node, m, path, cur, summary, message, message_size);
cleanup:
    free(text);
    json_decref(old);
    json_decref(cur);
    twin_membership_free(m);
    return rc;
}

int twin_ops_member_set(git_oid *commit_out, twin_node *n, const char *org_id,
                        const struct twin_member_fields *fields)
{
    if (!fields->name && !fields->country && !fields->org_type && !fields->side)
        return twin_error(TWIN_EINVALID,
                          "say what to change: --name, --country, --org-type or --side");
    /* Each value checked as at twin init, on an identity that is valid but for it. */
    struct twin_identity probe = {fields->name ? fields->name : "Example", "XE-EXAMPLE-PROBE",
                                  fields->country ? fields->country : "NL",
                                  fields->side ? fields->side : "north", fields->org_type};
    int rc = twin_node_identity_check(&probe);
    if (rc)
        return rc;
    struct member_set c = {n, org_id, fields};
    if ((rc = commit_with_retry(commit_out, n, change_member_set, &c)) ||
        twin_node_last_proposal(n) || strcmp(org_id, twin_node_org_id(n)) != 0)
        return rc;
    /* This node's own settings follow its member file, so that its commits carry the new name. */
    const char *const keys[] = {"twin.name", "twin.country", "twin.orgtype", "twin.side"};
    const char *const values[] = {fields->name, fields->country, fields->org_type, fields->side};
    for (size_t i = 0; i < 4; i++)
        if (values[i] && twin_node_config_set(n, keys[i], values[i]) != 0)
            twin_error_clear(); /* the change is made: only the label of later commits lags */
    return 0;
}

/* ---- key rotation ----------------------------------------------------------------------------
 * A rotation holds the rotation lock (flock on node.key.lock in the node's directory) from before
 * node.key.new is written until that key has replaced node.key or been removed. A process that
 * finds node.key.new (or a temporary key file) settles it only while it holds that lock, and
 * then by what history says: a key the membership at the head names for this node's member was
 * committed and is put in place; a key it does not name was never published and is removed.
 * When history cannot be read, nothing is touched. So no process ever removes a key that history
 * made active, whatever runs beside the rotation or however it was cut short. */

static char *node_file(twin_node *n, const char *name)
{
    size_t len = strlen(twin_node_dir(n)) + strlen(name) + 2;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s", twin_node_dir(n), name);
    return p;
}

/* Takes the rotation lock: TWIN_ECONFLICT, without waiting, when another process holds it and
 * wait is false. A rotation creates the lock file; others open it read-only (flock needs no
 * more), so a node in a read-only directory still opens, and TWIN_ENOTFOUND says that no
 * rotation ever ran. */
static int rotation_lock(int *fd_out, twin_node *n, bool rotating, bool wait)
{
    char *path = node_file(n, TWIN_NODE_KEY_LOCK);
    if (!path)
        return twin_error(TWIN_ERROR, "out of memory");
    int fd = rotating ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)
                      : open(path, O_RDONLY | O_CLOEXEC),
        rc = 0;
    if (fd < 0)
        rc = errno == ENOENT && !rotating
                 ? TWIN_ENOTFOUND
                 : twin_error(TWIN_ERROR, "cannot open the key lock %s: %s", path, strerror(errno));
    while (fd >= 0 && flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
        if (errno == EINTR)
            continue;
        rc = errno == EWOULDBLOCK
                 ? twin_error(TWIN_ECONFLICT, "a key rotation is in progress on this node")
                 : twin_error(TWIN_ERROR, "cannot take the key lock %s: %s", path, strerror(errno));
        close(fd);
        fd = -1;
    }
    free(path);
    *fd_out = fd;
    return rc;
}

/* Whether history names pk as a key of this node's member: 1 yes (in any state), 0 no, or an
 * error when the head or its membership cannot be read. */
static int history_names_key(twin_node *n, const unsigned char pk[static TWIN_PUBKEY_BYTES])
{
    struct twin_membership *m = NULL;
    int rc = twin_membership_at_head(&m, n);
    if (rc == TWIN_ENOHISTORY) {
        twin_error_clear();
        return 0; /* no commit at all, so none that names it */
    }
    if (rc == 0) {
        const struct twin_member *who = twin_membership_find_key(m, pk, NULL);
        rc = who && strcmp(who->org_id, twin_node_org_id(n)) == 0;
    }
    twin_membership_free(m);
    return rc;
}

/* Temporary key files a killed key writer left: secret key copies with no use. */
static void remove_key_temporaries(twin_node *n)
{
    DIR *d = opendir(twin_node_dir(n));
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "node.key", 8) != 0 || !strstr(e->d_name, ".tmp-"))
            continue;
        char *path = node_file(n, e->d_name);
        if (path)
            unlink(path);
        free(path);
    }
    closedir(d);
}

/* Settles what an earlier rotation left; the caller holds the rotation lock. */
static int settle_rotation(twin_node *n)
{
    remove_key_temporaries(n);
    char *path = node_file(n, TWIN_NODE_NEW_KEY);
    struct stat st;
    twin_keypair kp;
    int rc = 0;
    if (!path)
        return twin_error(TWIN_ERROR, "out of memory");
    if (lstat(path, &st) != 0)
        goto cleanup; /* nothing left */
    if ((rc = twin_key_load(&kp, path))) {
        rc = twin_error_wrap(rc,
                             "the key a rotation left in %s cannot be read, so twin cannot "
                             "tell whether history made it active; it is left as it is",
                             path);
        goto cleanup;
    }
    int named = history_names_key(n, kp.pk);
    twin_key_wipe(&kp);
    if (named < 0)
        rc = twin_error_wrap(named, "deciding on the key a rotation left in %s", path);
    else if (named)
        rc = twin_node_adopt_new_key(n); /* committed: finish the rotation */
    else if (unlink(path) != 0)          /* never published: undo it */
        rc = twin_error(TWIN_ERROR, "cannot remove %s: %s", path, strerror(errno));
cleanup:
    free(path);
    return rc;
}

int twin_ops_key_rotate(git_oid *commit_out, twin_node *n)
{
    int lock, rc = rotation_lock(&lock, n, true, true);
    if (rc)
        return rc;
    char *path = node_file(n, TWIN_NODE_NEW_KEY);
    twin_keypair kp;
    if (!path) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    /* What an earlier rotation left is settled first; and another rotation may have replaced
     * node.key since this handle read it. */
    if ((rc = settle_rotation(n)) || (rc = twin_node_reload_key(n)))
        goto cleanup;
    /* The new key is on disk before the commit names it, and replaces the old one only after. */
    if ((rc = twin_key_generate(&kp)))
        goto cleanup;
    rc = twin_key_save(path, &kp, twin_node_org_id(n));
    /* What the old key reads, the new one must too, before the old one's wraps go. */
    size_t rewrapped = 0;
    if (rc == 0)
        rc = twin_sealed_rewrap(n, &kp, &rewrapped);
    struct member_edit c = {n, EDIT_ROTATE, twin_node_org_id(n), {0}};
    memcpy(c.pk, kp.pk, TWIN_PUBKEY_BYTES);
    twin_key_wipe(&kp);
    if (rc)
        goto cleanup;
    twin_util_test_stop("rotate-saved");
    git_oid commit;
    rc = commit_with_retry(&commit, n, change_member_edit, &c);
    twin_util_test_stop("rotate-committed");
    if (rc == 0 && commit_out)
        *commit_out = commit;
    if (rc == 0) {
        rc = twin_node_adopt_new_key(n);
        if (rc == 0)
            after_commit(n, &commit);
    } else {
        /* Whether the commit reached the branch is for history to say, not this error. */
        int failure = rc;
        char why[512];
        snprintf(why, sizeof(why), "%s", twin_error_last());
        rc = settle_rotation(n);
        rc = rc ? rc : twin_error(failure, "%s", why);
    }
cleanup:
    free(path);
    close(lock);
    return rc;
}

/* Whether a key rotation left a file to settle: node.key.new, or a temporary key file. */
static bool rotation_left_files(twin_node *n)
{
    DIR *d = opendir(twin_node_dir(n));
    bool found = false;
    struct dirent *e;
    while (d && !found && (e = readdir(d)) != NULL)
        found = strcmp(e->d_name, TWIN_NODE_NEW_KEY) == 0 ||
                (strncmp(e->d_name, "node.key", 8) == 0 && strstr(e->d_name, ".tmp-"));
    if (d)
        closedir(d);
    return found;
}

int twin_ops_key_lock(int *fd_out, twin_node *n)
{
    return rotation_lock(fd_out, n, true, true);
}

int twin_ops_key_rotation_settle(twin_node *n, int wait_ms)
{
    int lock = -1, rc, waited = 0;
    for (;; waited += 20) {
        if ((rc = rotation_lock(&lock, n, false, false)) != TWIN_ECONFLICT || waited >= wait_ms)
            break;
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (rc == TWIN_ECONFLICT) {
        twin_error_clear();
        return 0; /* the rotation in progress finishes or undoes itself */
    }
    if (rc == TWIN_ENOTFOUND) { /* no rotation ever ran here, unless files say otherwise */
        if (!rotation_left_files(n))
            return 0;
        rc = rotation_lock(&lock, n, true, false);
    }
    if (rc)
        return rc;
    /* node.key is read again only when this handle waited for another process's rotation,
     * not on every open; one that ended in the few milliseconds before the first try leaves
     * this handle with the retired key, and its writes fail cleanly on it. */
    if ((rc = settle_rotation(n)) == 0 && waited > 0)
        rc = twin_node_reload_key(n);
    close(lock);
    return rc;
}

/* How long opening a node waits for a key rotation in progress elsewhere (it takes
 * milliseconds); past that the node opens with the key on disk. */
#define ROTATION_WAIT_MS 2000

int twin_ops_open(twin_node **out, const char *dir)
{
    int rc = twin_node_open(out, dir, twin_network_settings_from_history);
    if (rc)
        return rc;
    /* A rotation in progress is given a moment, so this handle signs with the key it leaves;
     * one cut short is completed or undone by what history says. Should that fail (history
     * unreadable), the node still opens with the key it has, and says why. */
    if (twin_ops_key_rotation_settle(*out, ROTATION_WAIT_MS) != 0)
        fprintf(stderr, "twin: warning: %s\n", twin_error_last());
    twin_error_clear();
    return 0;
}

/* ---- approvals and the policy ------------------------------------------------------------ */

struct approval {
    twin_node *node;
    const char *id;
    bool applied;
    int approvals, needed;
};

struct erasure {
    twin_node *node;
    const char *id, *reason;
};

/* Writes a sealed record's erased envelope, as a governed change (SEALED.md 6). */
static int change_erase(twin_tx *tx, char *message, size_t message_size, void *ctx)
{
    struct erasure *e = ctx;
    struct twin_membership *m = NULL;
    json_t *old = NULL, *erased = NULL;
    char path[128], *text = NULL, summary[200];
    size_t len;
    const char *type = NULL;
    git_tree *base = twin_tx_base_tree(tx);
    int rc;
    if ((rc = require_writer(e->node, base, true)) ||
        (rc = twin_membership_load(&m, twin_node_repo(e->node), base)) ||
        (rc = find_type_tx(&type, tx, e->id)) ||
        (rc = twin_record_path(path, sizeof(path), type, e->id)) ||
        (rc = twin_tx_read(&text, &len, tx, path)) ||
        (rc = twin_record_parse_canonical(&old, text, len)))
        goto cleanup;
    if (!twin_envelope_is(old)) {
        rc = twin_error(TWIN_EINVALID,
                        "%s %s was written in the clear: only sealed records can be erased (a "
                        "record in the clear is in every copy of the history for good)",
                        type, e->id);
        goto cleanup;
    }
    if ((rc = twin_envelope_erase(&erased, old, e->reason)))
        goto cleanup;
    snprintf(summary, sizeof(summary), "erase %s %s", type, e->id);
    rc = put_governed(tx, e->node, m, path, erased, summary, message, message_size);
cleanup:
    free(text);
    json_decref(old);
    json_decref(erased);
    twin_membership_free(m);
    return rc;
}

/* After a commit that may have erased records or changed keys: the wrap store follows. Upkeep
 * the next sync, verify or write repeats, so a failure is only reported. */
static void after_commit(twin_node *n, const git_oid *commit)
{
    git_commit *c = NULL;
    if (git_commit_lookup(&c, twin_node_repo(n), commit) == 0 && git_commit_parentcount(c) > 0 &&
        twin_sealed_upkeep(n, git_commit_parent_id(c, 0), commit))
        fprintf(stderr, "twin: warning: the wrap store lags the history: %s\n", twin_error_last());
    git_commit_free(c);
}

int twin_ops_erase(git_oid *commit_out, twin_node *n, const char *id, const char *reason)
{
    struct erasure e = {n, id, reason};
    return commit_then_upkeep(commit_out, n, change_erase, &e);
}

static int change_approve(twin_tx *tx, char *message, size_t message_size, void *ctx)
{
    struct approval *a = ctx;
    struct twin_membership *m = NULL;
    json_t *p = NULL;
    char path[160], *text = NULL;
    size_t len;
    int rc;
    git_tree *base = twin_tx_base_tree(tx);
    if ((rc = require_writer(a->node, base, true)) ||
        (rc = twin_membership_load(&m, twin_node_repo(a->node), base)))
        goto cleanup;
    if (!twin_record_id_valid(a->id)) {
        rc = twin_error(TWIN_EINVALID, "'%s' is not a proposal id", a->id);
        goto cleanup;
    }
    snprintf(path, sizeof(path), TWIN_PROPOSALS_DIR "/%s.json", a->id);
    rc = twin_tx_read(&text, &len, tx, path);
    if (rc == TWIN_ENOTFOUND)
        rc = twin_error(TWIN_ENOTFOUND, "no proposal %s", a->id);
    if (rc || (rc = twin_record_parse_canonical(&p, text, len)))
        goto cleanup;
    free(text);
    text = NULL;
    json_t *approvals = json_object_get(p, "approvals");
    const char *me = twin_node_org_id(a->node);
    for (size_t i = 0; i < json_array_size(approvals); i++)
        if (strcmp(json_string_value(json_array_get(approvals, i)), me) == 0) {
            rc = twin_error(TWIN_EEXISTS, "%s approved proposal %s already", me, a->id);
            goto cleanup;
        }
    int k = twin_governance_threshold(m);
    if (twin_governance_proposal_in_effect(json_array_size(approvals), m)) {
        rc = twin_error(TWIN_EEXISTS, "proposal %s is in effect already", a->id);
        goto cleanup;
    }
    json_array_append_new(approvals, json_string(me));
    a->approvals = (int)json_array_size(approvals);
    a->needed = k;
    a->applied = twin_governance_proposal_in_effect(json_array_size(approvals), m);
    if ((rc = twin_record_canonical(&text, &len, p)) || (rc = twin_tx_put(tx, path, text, len)))
        goto cleanup;
    /* The approval that reaches the threshold writes what the proposal says, exactly. */
    const json_t *changes = json_object_get(p, "changes");
    for (size_t i = 0; a->applied && rc == 0 && i < json_array_size(changes); i++) {
        const json_t *ch = json_array_get(changes, i);
        char *ctext = NULL;
        size_t clen;
        if ((rc = twin_record_canonical(&ctext, &clen, json_object_get(ch, "content"))) == 0)
            rc = twin_tx_put(tx, json_string_value(json_object_get(ch, "path")), ctext, clen);
        free(ctext);
    }
    snprintf(message, message_size, "%s proposal %s (%d of %d): %.300s\n\nProposal: %s\n",
             a->applied ? "approve and apply" : "approve", a->id, a->approvals, k,
             json_string_value(json_object_get(p, "summary")), path);
cleanup:
    free(text);
    json_decref(p);
    twin_membership_free(m);
    return rc;
}

int twin_ops_approve(git_oid *commit_out, bool *applied, twin_node *n, const char *proposal_id)
{
    struct approval a = {n, proposal_id, false, 0, 0};
    int rc = commit_then_upkeep(commit_out, n, change_approve, &a);
    if (applied)
        *applied = a.applied;
    return rc;
}

struct policy_change {
    twin_node *node;
    int threshold; /* 0: seal personal data, or set the rules */
    int rules;
    size_t attachment_max; /* set: the cap on attachments */
};

static int change_policy(twin_tx *tx, char *message, size_t message_size, void *ctx)
{
    struct policy_change *pc = ctx;
    struct twin_membership *m = NULL;
    json_t *net = NULL;
    char *text = NULL;
    size_t len;
    git_tree *base = twin_tx_base_tree(tx);
    int rc;
    if ((rc = require_writer(pc->node, base, true)) ||
        (rc = twin_membership_load(&m, twin_node_repo(pc->node), base)) ||
        (rc = twin_tx_read(&text, &len, tx, TWIN_NETWORK_PATH)) ||
        (rc = twin_record_parse_canonical(&net, text, len)))
        goto cleanup;
    char summary[200];
    if (pc->attachment_max) {
        char cap_text[32];
        if (pc->attachment_max == m->attachment_max) {
            rc = twin_error(TWIN_EEXISTS, "the cap on attachments is %zu bytes already",
                            pc->attachment_max);
            goto cleanup;
        }
        twin_attachment_size_text(cap_text, sizeof(cap_text), pc->attachment_max);
        if (pc->attachment_max == TWIN_ATTACHMENT_MAX_BYTES)
            json_object_del(json_object_get(net, "policy"), "attachment_max_bytes");
        else
            json_object_set_new(json_object_get(net, "policy"), "attachment_max_bytes",
                                json_integer((json_int_t)pc->attachment_max));
        snprintf(summary, sizeof(summary), "set policy: attachments of at most %s", cap_text);
        goto put;
    }
    if (pc->rules) {
        if (pc->rules == m->rules) {
            rc = twin_error(TWIN_EEXISTS, "record rules %d are in force already", pc->rules);
            goto cleanup;
        }
        if (pc->rules < m->rules || pc->rules > TWIN_RULES_CURRENT) {
            rc = twin_error(TWIN_EINVALID,
                            "record rules %d: rules %d are in force, and rules never go back "
                            "(this twin knows up to %d)",
                            pc->rules, m->rules, TWIN_RULES_CURRENT);
            goto cleanup;
        }
        json_object_set_new(json_object_get(net, "policy"), "rules", json_integer(pc->rules));
        snprintf(summary, sizeof(summary), "set policy: record rules %d", pc->rules);
        goto put;
    }
    if (pc->threshold == 0) { /* sealing personal data */
        if (m->sealed_personal) {
            rc = twin_error(TWIN_EEXISTS, "the policy seals personal data already");
            goto cleanup;
        }
        json_object_set_new(json_object_get(net, "policy"), "sealed_personal", json_true());
        snprintf(summary, sizeof(summary), "set policy: personal data only in sealed records");
        goto put;
    }
    size_t admins = 0;
    for (size_t i = 0; i < m->count; i++)
        admins += m->members[i].role == TWIN_ROLE_ADMIN && !m->members[i].removed;
    if (pc->threshold < 1 || (size_t)pc->threshold > admins) {
        rc = twin_error(TWIN_EINVALID,
                        "admin threshold %d: must be from 1 to the number of admins (%zu)",
                        pc->threshold, admins);
        goto cleanup;
    }
    if (pc->threshold == m->admin_threshold) {
        rc = twin_error(TWIN_EEXISTS, "the admin threshold is %d already", pc->threshold);
        goto cleanup;
    }
    json_object_set_new(json_object_get(net, "policy"), "admin_threshold",
                        json_integer(pc->threshold));
    snprintf(summary, sizeof(summary), "set policy: %d admin approvals for membership and policy",
             pc->threshold);
put:
    if ((rc = twin_membership_check_descriptor(net)) == 0)
        rc = put_governed(tx, pc->node, m, TWIN_NETWORK_PATH, net, summary, message, message_size);
cleanup:
    free(text);
    json_decref(net);
    twin_membership_free(m);
    return rc;
}

int twin_ops_set_admin_threshold(git_oid *commit_out, twin_node *n, int threshold)
{
    if (threshold == 0)
        return twin_error(TWIN_EINVALID,
                          "admin threshold 0: must be from 1 to the number of admins");
    struct policy_change pc = {n, threshold, 0};
    return commit_with_retry(commit_out, n, change_policy, &pc);
}

int twin_ops_seal_personal(git_oid *commit_out, twin_node *n)
{
    struct policy_change pc = {n, 0, 0};
    return commit_with_retry(commit_out, n, change_policy, &pc);
}

int twin_ops_set_rules(git_oid *commit_out, twin_node *n, int rules)
{
    if (rules < 1)
        return twin_error(TWIN_EINVALID, "record rules %d: versions start at 1", rules);
    struct policy_change pc = {n, 0, rules};
    return commit_with_retry(commit_out, n, change_policy, &pc);
}

int twin_ops_set_attachment_max(git_oid *commit_out, twin_node *n, size_t bytes)
{
    if (bytes < 1 || bytes > TWIN_ATTACHMENT_MAX_BYTES)
        return twin_error(TWIN_EINVALID,
                          "a cap on attachments of %zu bytes: from 1 byte to 25 MiB (%d bytes)",
                          bytes, TWIN_ATTACHMENT_MAX_BYTES);
    struct policy_change pc = {n, 0, 0, bytes};
    return commit_with_retry(commit_out, n, change_policy, &pc);
}

int twin_ops_unseal(json_t **out, enum twin_sealing *how, twin_node *n, json_t *stored)
{
    *out = NULL;
    if (!twin_envelope_is(stored)) {
        *how = TWIN_SEALING_CLEAR;
        *out = json_incref(stored);
        return 0;
    }
    if (json_object_get(stored, "erased")) {
        *how = TWIN_SEALING_ERASED;
        *out = json_incref(stored);
        return 0;
    }
    char *text = NULL;
    size_t len;
    int rc = twin_record_canonical(&text, &len, stored); /* the file's bytes: it was canonical */
    if (rc == 0)
        rc = open_envelope(out, n, stored, text, len);
    free(text);
    if (rc == 0) {
        *how = TWIN_SEALING_OPENED;
        return 0;
    }
    if (rc != TWIN_ENOTFOUND && rc != TWIN_EINVALID)
        return rc;
    /* Not for this node, or what opens is not the record it names (a finding for verify). */
    twin_error_clear();
    *how = TWIN_SEALING_CLOSED;
    *out = json_incref(stored);
    return 0;
}

int twin_ops_erased_keys(size_t *held, twin_node *n, const char *id, bool drop)
{
    twin_wraps *store = NULL;
    bool known = false;
    *held = 0;
    int rc = twin_node_wraps(&store, n);
    if (rc == 0)
        rc = twin_wraps_count_record(held, store, id);
    if (rc == 0 && drop && (rc = twin_wraps_erased(&known, store, id)) == 0 && (*held || !known))
        rc = twin_wraps_erase(store, id, NULL);
    return rc;
}

struct head_upkeep {
    twin_node *n;
    size_t deleted;
};

static int erased_at_head(json_t *rec, void *ctx)
{
    struct head_upkeep *u = ctx;
    size_t held = 0;
    if (!json_object_get(rec, "erased"))
        return 0;
    int rc = twin_ops_erased_keys(&held, u->n, json_string_value(json_object_get(rec, "id")), true);
    u->deleted += held;
    return rc;
}

int twin_ops_upkeep_head(twin_node *n, size_t *deleted)
{
    struct head_upkeep u = {n, 0};
    struct twin_membership *m = NULL;
    twin_wraps *store = NULL;
    git_oid head;
    size_t inactive = 0;
    *deleted = 0;
    int rc = twin_node_head(&head, n);
    if (rc == TWIN_ENOHISTORY) {
        twin_error_clear();
        return 0; /* no history: nothing erased, no key inactive */
    }
    if (rc || (rc = twin_node_wraps(&store, n)) ||
        (rc = twin_ops_foreach_envelope(n, &head, erased_at_head, &u)) ||
        (rc = twin_ops_members(&m, n, &head)) ||
        (rc = twin_sealed_drop_inactive(store, m, &inactive)))
        goto cleanup;
    *deleted = u.deleted + inactive;
cleanup:
    twin_membership_free(m);
    return rc;
}
