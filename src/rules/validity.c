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

#include "twin/attachment.h"
#include "twin/membership.h"
#include "git/treecache.h"
#include "git/treediff.h"
#include "twin/merge.h"
#include "rules/governance.h"
#include "git/history.h"
#include "git/packread.h"
#include "base/sha1.h"
#include "twin/error.h"
#include "twin/tree.h"
#include "twin/record.h"
#include "twin/sshsig.h"
#include "twin/global.h"
#include "records/envelope.h"
#include "records/money.h"
#include "rules/domain.h"

/* The membership is keyed by the ids of network.json and members/, which change far less often
 * than the root. The trees of one commit are the parent trees of the next. */
struct twin_check_cache {
    git_oid network, members;
    bool valid;
    struct twin_membership *membership;
    twin_treecache *trees;
    bool trees_shared; /* the caller's (twin_validity_cache_share_trees), not freed here */
    /* The last commit checked and its tree: most often the parent of the next one. */
    git_repository *last_repo;
    git_oid last_commit, last_tree;
    /* The list of changes of the last diff, kept for the next one unless it grew large. */
    struct twin_change *changes;
    size_t changes_cap;
    struct sealed_hook {
        twin_validity_sealed_fn fn;
        void *ctx;
    } on_sealed;
};

#define KEPT_CHANGES 256

void twin_validity_cache_on_sealed(twin_check_cache *c, twin_validity_sealed_fn fn, void *ctx)
{
    c->on_sealed.fn = fn;
    c->on_sealed.ctx = ctx;
}

int twin_validity_cache_new(twin_check_cache **out)
{
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return twin_error(TWIN_ERROR, "out of memory");
    int rc = twin_treecache_new(&(*out)->trees);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

void twin_validity_cache_free(twin_check_cache *c)
{
    if (!c)
        return;
    twin_membership_free(c->membership);
    free(c->changes);
    if (!c->trees_shared)
        twin_treecache_free(c->trees);
    free(c);
}

void twin_validity_cache_share_trees(twin_check_cache *c, twin_treecache *trees)
{
    if (!c->trees_shared)
        twin_treecache_free(c->trees);
    c->trees = trees;
    c->trees_shared = true;
}

int twin_validity_cache_pack_dirs(twin_check_cache *c, git_repository *repo,
                                  const char *const *dirs, size_t ndirs)
{
    return twin_treecache_bind_dirs(c->trees, repo, dirs, ndirs);
}

void twin_validity_cache_trust_received(twin_check_cache *c)
{
    twin_treecache_trust_first_dir(c->trees);
}

void twin_validity_cache_lean(twin_check_cache *c)
{
    twin_treecache_lean(c->trees);
}

void twin_validity_cache_lean_to(twin_check_cache *c, size_t cache_bytes)
{
    twin_treecache_lean_to(c->trees, cache_bytes);
}

void twin_validity_cache_keep_trees(twin_check_cache *c, size_t trees)
{
    twin_treecache_keep(c->trees, trees);
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
 * told not to (gitopts.h), made here with the processor's SHA extensions, whatever libgit2 was
 * told. */
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
    bool intact; /* it hashes to its id (checked here unless read out of a trusted pack) */
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
    s->intact = (s->pobj && s->pobj->trusted) ||
                object_matches(id, git_object_type2string(s->type), s->data, s->size);
    if (!s->intact)
        twin_error_note_damage();
    return 0;
}

static void stored_free(struct stored *s)
{
    twin_packread_release(s->pobj);
    git_odb_object_free(s->obj);
}

/* A commit's tree, named by id, read by libgit2 only when a rule needs its entries. */
struct lazy_tree {
    git_repository *repo;
    git_oid id;
    git_tree *tree;
    /* Where files are looked up first, when not NULL. */
    twin_treecache *trees;
    twin_packread *packs;
};

static int lazy_get(const git_tree **out, struct lazy_tree *t)
{
    if (!t->tree && git_tree_lookup(&t->tree, t->repo, &t->id) < 0)
        return twin_error_git(git_oid_tostr_s(&t->id));
    *out = t->tree;
    return 0;
}

/* Verifies the commit's signature; with head, also reads its header (a malformed one is a
 * verdict in reason). */
/* Verifies the commit's signature; with head, also reads its header, and for a merge the rule it
 * names (head_rule). */
static int check_signature(unsigned char signer[static TWIN_PUBKEY_BYTES], char *reason,
                           size_t reason_size, git_repository *repo, twin_packread *packs,
                           const git_oid *commit, struct twin_commit_head *head, int *head_rule)
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
    if (head && twin_history_head_parse(head, (const char *)obj.data, obj.size)) {
        snprintf(reason, reason_size, "malformed commit: its header is not in git's form");
        goto cleanup;
    }
    if (head && head_rule)
        *head_rule = head->nparents == 2 ? twin_merge_rule_of((const char *)obj.data, obj.size) : 0;
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

int twin_validity_check_signature(unsigned char signer[static TWIN_PUBKEY_BYTES], char *reason,
                                  size_t reason_size, git_repository *repo, const git_oid *commit)
{
    return check_signature(signer, reason, reason_size, repo, NULL, commit, NULL, NULL);
}

/* ---- checking changes ----------------------------------------------------------------------- */

/* Looks records up in a lazy_tree (the ctx). */
static int lookup_in_tree(json_t **out, const char *type, const char *id, void *ctx)
{
    struct lazy_tree *l = ctx;
    const git_tree *tree = NULL;
    char path[128];
    git_tree_entry *e = NULL;
    if (out)
        *out = NULL;
    if (twin_record_path(path, sizeof(path), type, id))
        return TWIN_ENOTFOUND;
    if (l->trees) { /* through the trees the diff has just read, most often */
        git_oid blob;
        int rc = twin_treecache_path(&blob, l->trees, l->repo, &l->id, path);
        if (rc == 0)
            return TWIN_ENOTFOUND;
        if (rc == 1 && !out)
            return 0;
        if (rc == 1) {
            struct stored b;
            if ((rc = stored_read(&b, l->repo, l->packs, &blob)))
                return rc;
            if (b.type != GIT_OBJECT_BLOB || !b.intact)
                rc = twin_error(TWIN_EVERIFY,
                                "%s: its content does not match its id, or it is not a file", path);
            else
                rc = twin_record_parse_canonical(out, (const char *)b.data, b.size);
            stored_free(&b);
            return rc;
        }
        if (rc != TWIN_ENOTFOUND)
            return rc;
        twin_error_clear(); /* a tree twin does not read on its bytes: libgit2 reads it */
    }
    int rc = lazy_get(&tree, l);
    if (rc)
        return rc;
    int err = git_tree_entry_bypath(&e, tree, path);
    if (err == GIT_ENOTFOUND)
        return TWIN_ENOTFOUND;
    if (err < 0)
        return twin_error_git("looking up a record");
    git_tree_entry_free(e);
    if (out) {
        char *text = NULL;
        size_t len;
        rc = twin_tree_read(&text, &len, l->repo, tree, path);
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
int twin_validity_check_scope(char *fault, size_t fault_size, const json_t *old, const json_t *cur,
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

/* twin_validity_check_sealed, which leaves in *read the envelope cur as read when the change is
 * allowed and cur is one (for the caller to clear), else clears it. */
static int check_sealed(char *fault, size_t fault_size, bool *erasure, struct twin_envelope *read,
                        const json_t *cur, const json_t *old, const struct twin_member *who,
                        const struct twin_membership *m)
{
    const char *type = json_string_value(json_object_get(cur, "type"));
    const char *id = json_string_value(json_object_get(cur, "id"));
    fault[0] = '\0';
    *erasure = false;
    memset(read, 0, sizeof(*read));
    if (!twin_envelope_is(cur) && !(old && twin_envelope_is(old))) {
        const char *field = m->sealed_personal ? twin_envelope_personal_change(cur, old) : NULL;
        if (field)
            snprintf(fault, fault_size,
                     "%s %s holds %s in the clear, but the network's policy seals personal data: "
                     "write it sealed (to members, or a named audience)",
                     type ? type : "record", id ? id : "?", field);
        return 0;
    }
    struct twin_envelope e; /* its form is checked, its content with it */
    int err = twin_envelope_check_change(erasure, &e, cur, old);
    if (err == TWIN_EINVALID || err == TWIN_ELIMIT) {
        snprintf(fault, fault_size, "%s", twin_error_last());
        return 0;
    }
    if (err)
        return err;
    if (!twin_envelope_is(cur)) /* an envelope no more: refused above, as sealed for good */
        return 0;
    if (who->own_partnerships)
        snprintf(fault, fault_size,
                 "%s may write only in its own partnerships, and a sealed record hides its "
                 "partnership: it writes in the clear",
                 who->org_id);
    else if (*erasure && who->role != TWIN_ROLE_ADMIN)
        snprintf(fault, fault_size, "%s (%s) erased %s %s without being an admin", who->org_id,
                 twin_membership_role_name(who->role), e.type, e.id);
    /* Institutions a version adds to the audience must be members still there; those the
     * previous version had stay, even once they left (an audience never narrows), or a record
     * shared with a member who left could never change, be withdrawn or erased again. */
    const json_t *was = old ? json_object_get(json_object_get(old, "sealed"), "audience") : NULL;
    for (size_t i = 0; !fault[0] && i < e.naudience; i++) {
        bool carried = false;
        for (size_t k = 0; !carried && k < json_array_size(was); k++)
            carried = strcmp(json_string_value(json_array_get(was, k)), e.audience[i]) == 0;
        const struct twin_member *a = twin_membership_find(m, e.audience[i]);
        if (!carried && (!a || a->removed))
            snprintf(fault, fault_size, "sealed %s %s: its audience names %s, %s", e.type, e.id,
                     e.audience[i], a ? "which has left the network" : "which is not a member");
    }
    bool in = false;
    for (size_t i = 0; i < e.naudience; i++)
        in = in || strcmp(e.audience[i], who->org_id) == 0;
    if (!fault[0] && !*erasure && !in)
        snprintf(fault, fault_size, "%s wrote sealed %s %s for an audience it is not in",
                 who->org_id, e.type, e.id);
    if (fault[0])
        twin_envelope_clear(&e);
    else
        *read = e;
    return 0;
}

int twin_validity_check_sealed(char *fault, size_t fault_size, bool *erasure, const json_t *cur,
                               const json_t *old, const struct twin_member *who,
                               const struct twin_membership *m)
{
    struct twin_envelope e;
    int rc = check_sealed(fault, fault_size, erasure, &e, cur, old, who, m);
    twin_envelope_clear(&e);
    return rc;
}

/* A field that is one institution's word (a contribution's "confirmed", a recommendation's
 * "response"), and how faults name it. */
struct own_word {
    const char *field;      /* "confirmed" */
    const char *inst_field; /* the field naming the institution: "institution" */
    const char *what;       /* "contribution.confirmed" */
    const char *holder;     /* "the contributing institution" */
    const char *named;      /* "institution": how a fault names it by id */
    const char *verb;       /* "confirm" */
    const char *act;        /* "confirms its contribution" */
};

/* Only a member whose org id is the org_id of the institution cur names in w->inst_field, as
 * lookup shows it, sets, changes or removes w->field. org_out is that org id when the field
 * changed and org_id may change it, else empty. */
static int check_own_word(char *fault, size_t fault_size, char org_out[static 128],
                          const struct own_word *w, const json_t *old, const json_t *cur,
                          const char *org_id, twin_record_lookup_fn lookup, void *ctx)
{
    fault[0] = org_out[0] = '\0';
    const json_t *now = json_object_get(cur, w->field);
    const json_t *was = old ? json_object_get(old, w->field) : NULL;
    if ((!was && !now) || (was && now && json_equal((json_t *)was, (json_t *)now)))
        return 0;
    const char *inst = json_string_value(json_object_get(cur, w->inst_field));
    json_t *rec = NULL;
    int rc = inst ? lookup(&rec, "institution", inst, ctx) : TWIN_ENOTFOUND;
    if (rc && rc != TWIN_ENOTFOUND)
        return rc;
    twin_error_clear();
    const char *org = json_string_value(json_object_get(rec, "org_id"));
    if (!org)
        snprintf(fault, fault_size, "%s: %s %s has no org_id, so no member can %s for it", w->what,
                 w->named, inst ? inst : "(none)", w->verb);
    else if (strcmp(org, org_id) != 0)
        snprintf(fault, fault_size, "%s: only %s, %s, %s; %s may not", w->what, org, w->holder,
                 w->act, org_id);
    else
        snprintf(org_out, 128, "%s", org);
    json_decref(rec);
    return 0;
}

int twin_validity_check_confirmation(char *fault, size_t fault_size, const json_t *old,
                                     const json_t *cur, const char *org_id,
                                     twin_record_lookup_fn lookup, void *ctx)
{
    static const struct own_word w = {
        "confirmed",   "institution", "contribution.confirmed",   "the contributing institution",
        "institution", "confirm",     "confirms its contribution"};
    char org[128];
    int rc = check_own_word(fault, fault_size, org, &w, old, cur, org_id, lookup, ctx);
    const json_t *now = json_object_get(cur, "confirmed");
    if (rc == 0 && org[0] && now && !json_equal((json_t *)now, json_object_get(cur, "status")))
        snprintf(fault, fault_size,
                 "contribution.confirmed: confirms the status the contribution has (%s), not %s",
                 json_string_value(json_object_get(cur, "status")), json_string_value(now));
    return rc;
}

int twin_validity_check_response(char *fault, size_t fault_size, const json_t *old,
                                 const json_t *cur, const char *org_id,
                                 twin_record_lookup_fn lookup, void *ctx)
{
    static const struct own_word w = {
        "response",      "addressee", "recommendation.response",   "the addressee",
        "the addressee", "answer",    "answers the recommendation"};
    char org[128];
    return check_own_word(fault, fault_size, org, &w, old, cur, org_id, lookup, ctx);
}

static bool same_field(const json_t *a, const json_t *b, const char *key)
{
    return json_equal(json_object_get(a, key), json_object_get(b, key));
}

/* An attachment's bytes (README "Attachments"): a file added, never changed or removed, whose
 * SHA-256 is its name and whose size is within the policy's cap. The blob is read whole, as both
 * readers give it (twin's pack reader and libgit2's odb), and the cap keeps that bounded. Whether
 * a document names it is checked with the whole commit (check_attachments_named). */
static int check_attachment(char *fault, size_t fault_size, git_repository *repo,
                            twin_packread *packs, const struct twin_change *c,
                            const struct twin_member *who, const struct twin_membership *m)
{
    char hex[TWIN_SHA256_HEX_LEN + 1], got[TWIN_SHA256_HEX_LEN + 1], cap_text[32];
    if (who->role == TWIN_ROLE_OBSERVER) {
        snprintf(fault, fault_size, "%s is an observer and may not attach files", who->org_id);
        return 0;
    }
    if (!twin_attachment_parse_path(hex, c->path)) {
        snprintf(fault, fault_size,
                 "%s: not an attachment's path (attachments/<xx>/<sha256>: the lowercase hex "
                 "SHA-256 of its bytes, xx its first two digits)",
                 c->path);
        return 0;
    }
    if (!c->has_new) {
        snprintf(fault, fault_size, "%s: attachments are never removed", c->path);
        return 0;
    }
    if (c->has_old) {
        snprintf(fault, fault_size, "%s: attachments never change", c->path);
        return 0;
    }
    struct stored blob;
    int rc = stored_read(&blob, repo, packs, &c->new_id);
    if (rc == TWIN_EVERIFY) {
        snprintf(fault, fault_size, "%s: %s", c->path, twin_error_last());
        return 0;
    }
    if (rc)
        return rc;
    size_t cap = m->attachment_max ? m->attachment_max : TWIN_ATTACHMENT_MAX_BYTES;
    twin_attachment_size_text(cap_text, sizeof(cap_text), cap);
    if (blob.type != GIT_OBJECT_BLOB)
        snprintf(fault, fault_size, "%s is not a file", c->path);
    else if (!blob.intact)
        snprintf(fault, fault_size,
                 "%s: its content does not match its id (the store is damaged or was altered)",
                 c->path);
    else if (blob.size > cap)
        snprintf(fault, fault_size, "%s: %zu bytes, over the network's cap on attachments (%s)",
                 c->path, blob.size, cap_text);
    else {
        twin_attachment_sha256_hex(got, blob.data, blob.size);
        if (strcmp(got, hex) != 0)
            snprintf(fault, fault_size, "%s: its bytes' SHA-256 is %s, not its name", c->path, got);
    }
    stored_free(&blob);
    return 0;
}

/* A document in the clear that names a file: the attachment is in the commit's tree, of the size
 * the document gives. Checked when the document's file is set or changed. */
static int check_document_file(char *fault, size_t fault_size, git_repository *repo,
                               const json_t *cur, const json_t *old, struct lazy_tree *new_tree)
{
    const json_t *file = json_object_get(cur, "file");
    if (!file || (old && json_equal(file, json_object_get(old, "file"))))
        return 0;
    if (json_object_get(file, "key")) {
        snprintf(fault, fault_size,
                 "document %s is in the clear but its file has a key: only a sealed document's "
                 "file is encrypted, and its key is never written in the clear",
                 json_string_value(json_object_get(cur, "id")));
        return 0;
    }
    const char *hex = json_string_value(json_object_get(file, "sha256"));
    char path[TWIN_ATTACHMENT_PATH_MAX];
    twin_attachment_path(path, hex);
    const git_tree *tree = NULL;
    git_tree_entry *e = NULL;
    int rc = lazy_get(&tree, new_tree);
    if (rc)
        return rc;
    rc = twin_tree_entry_at(&e, repo, tree, path);
    if (rc == TWIN_ENOTFOUND) {
        twin_error_clear();
        snprintf(fault, fault_size, "document %s names file %s, which is not in the history (%s)",
                 json_string_value(json_object_get(cur, "id")), hex, path);
        return 0;
    }
    if (rc)
        return rc;
    size_t size = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    git_odb *odb = NULL;
    if (git_repository_odb(&odb, repo) < 0 ||
        git_odb_read_header(&size, &type, odb, git_tree_entry_id(e)) < 0)
        rc = twin_error_git(path);
    else if (type != GIT_OBJECT_BLOB ||
             (json_int_t)size != json_integer_value(json_object_get(file, "size")))
        snprintf(fault, fault_size, "document %s: file.size is %lld, but %s holds %zu bytes",
                 json_string_value(json_object_get(cur, "id")),
                 (long long)json_integer_value(json_object_get(file, "size")), path, size);
    git_odb_free(odb);
    git_tree_entry_free(e);
    return rc;
}

/* Checks one changed file. Returns <0 on an internal error; otherwise leaves fault empty when
 * the change is allowed. */
static int check_change(char *fault, size_t fault_size, git_repository *repo, twin_packread *packs,
                        const struct twin_change *c, const struct twin_member *who,
                        const struct twin_membership *m,
                        const unsigned char signer[TWIN_PUBKEY_BYTES], struct lazy_tree *new_tree,
                        struct lazy_tree *old_tree, bool *erasure,
                        const struct sealed_hook *on_sealed)
{
    json_t *old = NULL, *cur = NULL;
    int rc = 0;
    fault[0] = '\0';
    *erasure = false;
    if (strcmp(c->path, TWIN_NETWORK_PATH) == 0) {
        if (who->role != TWIN_ROLE_ADMIN) {
            snprintf(fault, fault_size, "%s (%s) changed the network policy without being an admin",
                     who->org_id, twin_membership_role_name(who->role));
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
        if (twin_membership_check_descriptor(cur)) {
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
        if (json_is_true(json_object_get(json_object_get(old, "policy"), "sealed_personal")) &&
            !json_is_true(json_object_get(json_object_get(cur, "policy"), "sealed_personal")))
            snprintf(fault, fault_size,
                     "network.policy.sealed_personal, once on, stays on: what it sealed stays "
                     "sealed");
        else if (twin_membership_rules(cur) < twin_membership_rules(old))
            snprintf(fault, fault_size,
                     "network.policy.rules goes from %d down to %d: record rules, once in force, "
                     "stay in force",
                     twin_membership_rules(old), twin_membership_rules(cur));
        goto cleanup;
    }
    if (strncmp(c->path, TWIN_MEMBERS_DIR "/", 8) == 0) {
        const char *fname = c->path + 8;
        size_t flen = strlen(fname);
        char org[128];
        bool own_file = flen == strlen(who->org_id) + 5 &&
                        strncmp(fname, who->org_id, strlen(who->org_id)) == 0;
        /* An admin changes the membership; anyone else only its own file: its name and org
         * type, and its key by a rotation (twin_membership_check_change). */
        if (who->role != TWIN_ROLE_ADMIN && (!own_file || !c->has_old)) {
            snprintf(fault, fault_size,
                     "%s (%s) changed the membership without being an admin: %s is not its own "
                     "(a member that is not an admin may change only its own name and org type, "
                     "and rotate its own key)",
                     who->org_id, twin_membership_role_name(who->role), c->path);
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
        if (twin_membership_check_member(cur, org)) {
            snprintf(fault, fault_size, "%s: %s", c->path, twin_error_last());
            goto cleanup;
        }
        if (c->has_old &&
            ((rc = read_blob_json(&old, fault, fault_size, repo, packs, &c->old_id, c->path)) ||
             fault[0]))
            goto cleanup;
        if (c->has_old &&
            twin_membership_check_change(old, cur, who->role == TWIN_ROLE_ADMIN, signer)) {
            if (who->role != TWIN_ROLE_ADMIN)
                snprintf(fault, fault_size,
                         "%s (%s) changed the membership without being an admin: %s", who->org_id,
                         twin_membership_role_name(who->role), twin_error_last());
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
        bool sealed = twin_envelope_is(cur) || (old && twin_envelope_is(old));
        if (sealed && twin_money_type(type)) {
            snprintf(fault, fault_size,
                     "%s: a %s is never sealed: every node checks that what it records never "
                     "changes",
                     c->path, type);
            goto cleanup;
        }
        struct twin_envelope e;
        if ((rc = check_sealed(fault, fault_size, erasure, &e, cur, old, who, m)) || fault[0])
            goto cleanup;
        if (e.id && on_sealed && on_sealed->fn)
            on_sealed->fn(&c->new_id, &e, on_sealed->ctx);
        twin_envelope_clear(&e);
        if (sealed)
            goto cleanup; /* an envelope's content is the audience's to check (SEALED.md 7) */
        int err = twin_record_validate(cur, old, lookup_in_tree, new_tree);
        if (err == 0)
            err = twin_record_check_conflicts_kept(cur, old);
        if (err == TWIN_EINVALID || err == TWIN_ELIMIT)
            snprintf(fault, fault_size, "%s", twin_error_last());
        else
            rc = err;
        if (rc == 0 && !fault[0] && strcmp(type, "contribution") == 0)
            rc = twin_validity_check_confirmation(fault, fault_size, old, cur, who->org_id,
                                                  lookup_in_tree, new_tree);
        if (rc == 0 && !fault[0] && strcmp(type, "recommendation") == 0)
            rc = twin_validity_check_response(fault, fault_size, old, cur, who->org_id,
                                              lookup_in_tree, new_tree);
        if (rc == 0 && !fault[0] && m->rules >= 2) {
            const git_tree *tree = NULL;
            if (strcmp(type, "health_check") != 0 || (rc = lazy_get(&tree, new_tree)) == 0) {
                struct twin_domain_env env = {lookup_in_tree, new_tree, repo, tree, NULL, NULL};
                rc = twin_domain_check(fault, fault_size, cur, old, m->rules, &env);
            }
        }
        if (rc == 0 && !fault[0] && strcmp(type, "document") == 0)
            rc = check_document_file(fault, fault_size, repo, cur, old, new_tree);
        if (rc == 0 && !fault[0] && who->own_partnerships) {
            rc = twin_validity_check_scope(fault, fault_size, old, cur, who->org_id, lookup_in_tree,
                                           old_tree);
        }
        goto cleanup;
    }
    if (strncmp(c->path, TWIN_PROPOSALS_DIR "/", strlen(TWIN_PROPOSALS_DIR) + 1) == 0)
        goto cleanup; /* proposals are checked with the whole commit (governance.c) */
    if (strncmp(c->path, TWIN_ATTACHMENTS_DIR "/", strlen(TWIN_ATTACHMENTS_DIR) + 1) == 0) {
        rc = check_attachment(fault, fault_size, repo, packs, c, who, m);
        goto cleanup;
    }
    snprintf(fault, fault_size, "%s: not a place twin keeps anything", c->path);
cleanup:
    json_decref(old);
    json_decref(cur);
    return rc;
}

/* Every attachment a commit adds is named by a document the same commit writes: in the clear, by
 * its file.sha256; a sealed document's names are hidden from the predicate, so a commit writing
 * one may add attachments it cannot tie to it (README "Attachments"). Sets fault otherwise. */
static int check_attachments_named(char *fault, size_t fault_size, git_repository *repo,
                                   twin_packread *packs, const struct twin_treediff *w)
{
    static const char docs[] = "records/document/";
    size_t ndocs = 0;
    bool sealed = false;
    char(*named)[TWIN_SHA256_HEX_LEN + 1] = NULL;
    int rc = 0;
    for (size_t i = 0; i < w->count; i++)
        ndocs += strncmp(w->changes[i].path, docs, sizeof(docs) - 1) == 0;
    if (ndocs && !(named = calloc(ndocs, sizeof(*named))))
        return twin_error(TWIN_ERROR, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < w->count && rc == 0 && !fault[0]; i++) {
        const struct twin_change *c = &w->changes[i];
        if (strncmp(c->path, docs, sizeof(docs) - 1) != 0 || !c->has_new)
            continue;
        json_t *doc = NULL;
        if ((rc = read_blob_json(&doc, fault, fault_size, repo, packs, &c->new_id, c->path)))
            break;
        const char *hex =
            json_string_value(json_object_get(json_object_get(doc, "file"), "sha256"));
        sealed = sealed || twin_envelope_is(doc);
        if (hex)
            snprintf(named[k++], sizeof(named[0]), "%s", hex);
        json_decref(doc);
    }
    for (size_t i = 0; i < w->count && rc == 0 && !fault[0] && !sealed; i++) {
        char hex[TWIN_SHA256_HEX_LEN + 1];
        if (!w->changes[i].has_new || !twin_attachment_parse_path(hex, w->changes[i].path))
            continue;
        bool found = false;
        for (size_t j = 0; !found && j < k; j++)
            found = strcmp(named[j], hex) == 0;
        if (!found)
            snprintf(fault, fault_size,
                     "%s: no document this commit writes names it (an attachment is added with "
                     "the document version whose file it is)",
                     w->changes[i].path);
    }
    free(named);
    return rc;
}

/* The ids of network.json and members/ in tree t: 0, 1 when either is missing, <0 when the tree
 * cannot be read (TWIN_EVERIFY: it does not match its id). Read through the tree cache where it
 * can (the parent's tree is most often there, as the last commit's), else by libgit2. */
static int membership_key(git_oid *network, git_oid *members, struct lazy_tree *t,
                          twin_treecache *trees)
{
    if (trees) {
        int a = twin_treecache_entry(network, trees, t->repo, &t->id, TWIN_NETWORK_PATH, false);
        int b = a == 1
                    ? twin_treecache_entry(members, trees, t->repo, &t->id, TWIN_MEMBERS_DIR, true)
                    : a;
        if (a >= 0 && b >= 0)
            return a == 1 && b == 1 ? 0 : 1;
        if ((a < 0 ? a : b) != TWIN_ENOTFOUND)
            return a < 0 ? a : b;
        twin_error_clear();
    }
    const git_tree *tree = NULL;
    int rc = lazy_get(&tree, t);
    if (rc)
        return rc;
    const git_tree_entry *ea = git_tree_entry_byname(tree, TWIN_NETWORK_PATH);
    const git_tree_entry *eb = git_tree_entry_byname(tree, TWIN_MEMBERS_DIR);
    if (!ea || !eb)
        return 1;
    *network = *git_tree_entry_id(ea);
    *members = *git_tree_entry_id(eb);
    return 0;
}

static int membership_for(struct twin_membership **out, bool *owned, struct lazy_tree *t,
                          twin_check_cache *cache)
{
    git_oid network, members;
    *owned = false;
    int key = membership_key(&network, &members, t, cache ? cache->trees : NULL);
    if (key < 0)
        return key;
    bool keyed = key == 0;
    if (cache && keyed && cache->valid && git_oid_equal(&cache->network, &network) &&
        git_oid_equal(&cache->members, &members)) {
        *out = cache->membership;
        return 0;
    }
    const git_tree *tree = NULL;
    int rc = lazy_get(&tree, t);
    if (rc == 0)
        rc = twin_membership_load(out, t->repo, tree);
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

/* Whether an error reading the membership is a verdict on the commit (the tree breaks a rule or
 * is damaged) rather than a failure to check. */
static bool membership_verdict(int err)
{
    return err == TWIN_EINVALID || err == TWIN_ENOTFOUND || err == TWIN_ELIMIT ||
           err == TWIN_EVERIFY;
}

/* Whether the commit names its signer as its writer: author and committer are one person, whose
 * email is the signing member's org id, as twin writes them (`Name <ORG-ID>`), so that plain
 * `git log` shows the institution that signed. Sets the verdict and returns true when not. */
static bool writer_verdict(struct twin_check *out, const struct twin_commit_head *h,
                           const char *org_id)
{
    if (h->author_email_len != strlen(org_id) || strcmp(h->author_email, org_id) != 0) {
        verdict(out, "the author is <%.100s%s>, not the signing member <%s>", h->author_email,
                h->author_email_len > 100 ? "..." : "", org_id);
        return true;
    }
    if (!h->committer_is_author) {
        verdict(out, "the committer is not the author <%s>", org_id);
        return true;
    }
    return false;
}

static int check_genesis(struct twin_check *out, const struct twin_commit_head *head,
                         struct lazy_tree *lt, twin_check_cache *cache)
{
    struct twin_membership *m = NULL;
    const git_tree *tree = NULL;
    git_repository *repo = lt->repo;
    bool owned = false;
    int err = membership_for(&m, &owned, lt, cache);
    if (membership_verdict(err))
        return verdict(out, "genesis: %s", twin_error_last());
    if (err || (err = lazy_get(&tree, lt))) {
        if (owned)
            twin_membership_free(m);
        return err;
    }
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
    else if (!writer_verdict(out, head, founder->org_id)) {
        snprintf(out->org_id, sizeof(out->org_id), "%s", founder->org_id);
        out->valid = true;
        out->changes = 2;
    }
    if (owned)
        twin_membership_free(m);
    return 0;
}

/* A merge is valid when its tree is exactly the re-derived merge of its parents (it adds nothing),
 * by the rule it names and its own committer time, and an active member who may write signed it,
 * in the membership the merge produces. */
static int check_merge(struct twin_check *out, git_repository *repo,
                       const struct twin_commit_head *head, int rule_version,
                       twin_check_cache *cache)
{
    struct twin_merge_result mr;
    struct twin_membership *m = NULL;
    bool owned = false;
    struct twin_merge_rule rule = {.version = rule_version, .time = head->time};
    int err = twin_merge_compute(&mr, repo, &head->parents[0], &head->parents[1], &rule);
    if (err == TWIN_EINVALID || err == TWIN_ELIMIT)
        return verdict(out, "merge cannot be re-derived: %s", twin_error_last());
    if (err)
        return err;
    if (!git_oid_equal(&mr.tree, &head->tree))
        return verdict(out, "merge does not match its re-derivation from its parents: it adds, "
                            "drops or changes something");
    struct lazy_tree merged = {.repo = repo, .id = mr.tree};
    err = membership_for(&m, &owned, &merged, cache);
    git_tree_free(merged.tree);
    if (membership_verdict(err))
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
        verdict(out, "merge signed by %s's %s key", who->org_id,
                twin_membership_key_state_name(state));
    } else if (!writer_verdict(out, head, who->org_id)) {
        /* Any member may sign a merge, observers too (one that rotated its key must join its
         * rotation to the others' history): a merge adds nothing of its own. */
        snprintf(out->org_id, sizeof(out->org_id), "%s", who->org_id);
        out->changes = mr.merged_files;
        out->valid = true;
    } else {
        snprintf(out->org_id, sizeof(out->org_id), "%s", who->org_id);
    }
    if (owned)
        twin_membership_free(m);
    return 0;
}

/* The tree of the commit with this id, read from its header: 0 with *tree, or with reason set
 * when the commit is damaged or not in git's form; <0 when it cannot be read. */
static int commit_tree(git_oid *tree, char *reason, size_t reason_size, git_repository *repo,
                       twin_packread *packs, const git_oid *id)
{
    struct stored obj;
    struct twin_commit_head h;
    int rc = stored_read(&obj, repo, packs, id);
    if (rc == TWIN_EVERIFY) {
        snprintf(reason, reason_size, "the parent commit: %s", twin_error_last());
        return 0;
    }
    if (rc)
        return rc;
    if (obj.type != GIT_OBJECT_COMMIT || !obj.intact ||
        twin_history_links_parse(&h, (const char *)obj.data, obj.size))
        snprintf(reason, reason_size, "the parent commit %s is damaged or not a commit",
                 git_oid_tostr_s(id));
    else
        *tree = h.tree;
    stored_free(&obj);
    return 0;
}

int twin_validity_check_commit(struct twin_check *out, git_repository *repo,
                               const git_oid *commit_id, twin_check_cache *cache)
{
    struct twin_commit_head head;
    struct lazy_tree tree = {.repo = repo}, parent_tree = {.repo = repo};
    struct twin_membership *m = NULL, *after = NULL;
    bool owned = false, remember = false, *erasures = NULL;
    struct twin_treediff w = {
        .repo = repo, .cache = cache ? cache->trees : NULL, .canonical_trees = true};
    int rc = 0;
    memset(out, 0, sizeof(*out));
    twin_error_damage_reset();
    if (cache) {
        w.changes = cache->changes, w.cap = cache->changes_cap;
        cache->changes = NULL, cache->changes_cap = 0;
    }

    twin_packread *packs = twin_treecache_packs(cache ? cache->trees : NULL, repo);
    tree.trees = parent_tree.trees = cache ? cache->trees : NULL;
    tree.packs = parent_tree.packs = packs;
    int rule = 0;
    if ((rc = check_signature(out->signer, out->reason, sizeof(out->reason), repo, packs, commit_id,
                              &head, &rule)) ||
        out->reason[0])
        goto cleanup;
    out->has_signer = true;
    out->time = head.time;
    if (head.nparents > 2) {
        verdict(out, "a commit with %u parents: twin merges two lines at a time", head.nparents);
        goto cleanup;
    }
    if (head.nparents == 2) {
        /* A merge's tree need not be sent: it is re-derived here from the parents. */
        out->is_merge = true;
        rc = check_merge(out, repo, &head, rule, cache);
        goto cleanup;
    }
    tree.id = head.tree;
    remember = true;
    if (head.nparents == 0) {
        rc = check_genesis(out, &head, &tree, cache);
        goto cleanup;
    }
    if (cache && cache->last_repo == repo && git_oid_equal(&head.parents[0], &cache->last_commit))
        parent_tree.id = cache->last_tree;
    else if ((rc = commit_tree(&parent_tree.id, out->reason, sizeof(out->reason), repo, packs,
                               &head.parents[0])) ||
             out->reason[0])
        goto cleanup;
    int err = membership_for(&m, &owned, &parent_tree, cache);
    if (membership_verdict(err)) {
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
        verdict(out, "signed by %s's %s key", who->org_id, twin_membership_key_state_name(state));
        goto cleanup;
    }
    if (writer_verdict(out, &head, who->org_id))
        goto cleanup;
    if ((rc = twin_treediff_run_ids(&w, &parent_tree.id, &tree.id)) < 0)
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
    /* An observer writes nothing but its own member file, where the rules for members allow it
     * only to correct its name and org type and to rotate its key. */
    if (who->role == TWIN_ROLE_OBSERVER) {
        char own[160];
        snprintf(own, sizeof(own), "%s/%s.json", TWIN_MEMBERS_DIR, who->org_id);
        if (w.count != 1 || strcmp(w.changes[0].path, own) != 0) {
            verdict(out,
                    "%s is an observer and may not write (beyond its own member file: its name, "
                    "org type and key)",
                    who->org_id);
            goto cleanup;
        }
    }
    out->changes = w.count;
    bool members_changed = false, governed = false, attachments = false;
    for (size_t i = 0; i < w.count; i++) {
        char fault[500];
        bool erasure = false;
        if ((rc =
                 check_change(fault, sizeof(fault), repo, packs, &w.changes[i], who, m, out->signer,
                              &tree, &parent_tree, &erasure, cache ? &cache->on_sealed : NULL)))
            goto cleanup;
        if (fault[0]) {
            verdict(out, "%s", fault);
            goto cleanup;
        }
        members_changed = members_changed || strncmp(w.changes[i].path, "members/", 8) == 0;
        attachments = attachments || strncmp(w.changes[i].path, TWIN_ATTACHMENTS_DIR "/",
                                             strlen(TWIN_ATTACHMENTS_DIR) + 1) == 0;
        if (erasure && !erasures && !(erasures = calloc(w.count, sizeof(*erasures)))) {
            rc = twin_error(TWIN_ERROR, "out of memory");
            goto cleanup;
        }
        if (erasure)
            erasures[i] = true;
        governed =
            governed || erasure || twin_governance_path_governed(w.changes[i].path) ||
            strncmp(w.changes[i].path, TWIN_PROPOSALS_DIR "/", strlen(TWIN_PROPOSALS_DIR) + 1) == 0;
    }
    if (attachments) {
        char fault[600] = "";
        if ((rc = check_attachments_named(fault, sizeof(fault), repo, packs, &w)))
            goto cleanup;
        if (fault[0]) {
            verdict(out, "%s", fault);
            goto cleanup;
        }
    }
    if (governed) {
        char fault[600];
        if ((rc = twin_governance_check(fault, sizeof(fault), repo, &w, erasures, who, out->signer,
                                        m)))
            goto cleanup;
        if (fault[0]) {
            verdict(out, "%s", fault);
            goto cleanup;
        }
    }
    if (members_changed) {
        /* The registry as a whole must still hold together: one key per member, an admin left. */
        const git_tree *t = NULL;
        if ((err = lazy_get(&t, &tree)) == 0)
            err = twin_membership_load(&after, repo, t);
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
    out->damaged = !out->valid && twin_error_damage_seen();
    if (cache && remember) {
        cache->last_repo = repo;
        cache->last_commit = *commit_id;
        cache->last_tree = tree.id;
    }
    if (owned)
        twin_membership_free(m);
    twin_membership_free(after);
    free(erasures);
    if (cache && w.cap <= KEPT_CHANGES) {
        cache->changes = w.changes, cache->changes_cap = w.cap;
        w.changes = NULL;
    }
    twin_treediff_clear(&w);
    git_tree_free(tree.tree);
    git_tree_free(parent_tree.tree);
    return rc;
}
