#define _GNU_SOURCE /* memmem */
#include "ops/sealed.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/sha1.h"
#include "base/util.h"
#include "git/treediff.h"
#include "records/envelope.h"
#include "records/money.h"
#include "twin/error.h"
#include "twin/record.h"
#include "twin/tree.h"
#include "twin/noise.h"

void twin_sealed_clear(struct twin_sealed *s)
{
    json_decref(s->envelope);
    free(s->text);
    free(s->wraps);
    memset(s, 0, sizeof(*s));
}

/* The member org_id of m, when it is one that is not removed. */
static const struct twin_member *audience_member(const struct twin_membership *m,
                                                 const char *org_id)
{
    const struct twin_member *mm = twin_membership_find(m, org_id);
    return mm && !mm->removed ? mm : NULL;
}

int twin_sealed_seal(struct twin_sealed *out, const json_t *rec, const char *const *audience,
                     size_t naudience, const json_t *conflicts, const struct twin_membership *m)
{
    memset(out, 0, sizeof(*out));
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (!id || !type)
        return twin_error(TWIN_EINVALID, "a record to seal needs its id and type");
    if (twin_money_type(type))
        return twin_error(TWIN_EINVALID,
                          "a %s is never sealed: every node checks that what it records never "
                          "changes (write it without --audience)",
                          type);
    size_t nkeys = 0;
    for (size_t i = 0; i < naudience; i++) {
        const struct twin_member *mm = twin_membership_find(m, audience[i]);
        if (!mm)
            return twin_error(TWIN_EINVALID, "%s is not a member of network %s", audience[i],
                              m->network_id);
        /* A member who left, or has no active key, stays in the audience and gets no wrap. */
        for (size_t k = 0; !mm->removed && k < mm->nkeys; k++)
            nkeys += mm->keys[k].state == TWIN_KEY_ACTIVE;
    }
    if (nkeys == 0)
        return twin_error(TWIN_EINVALID, "no institution of the audience has an active key");
    if (nkeys > TWIN_ENVELOPE_MAX_WRAPS)
        return twin_error(TWIN_ELIMIT, "an audience of %zu active keys (at most %d)", nkeys,
                          TWIN_ENVELOPE_MAX_WRAPS);
    char *plain = NULL, *aad = NULL;
    size_t plain_len, aad_len, ct_len = 0;
    unsigned char key[TWIN_SEAL_KEY_BYTES], nonce[TWIN_SEAL_NONCE_BYTES], *ct = NULL;
    unsigned char(*digests)[TWIN_SEAL_DIGEST_BYTES] = calloc(nkeys ? nkeys : 1, sizeof(*digests));
    struct twin_wrap *wraps = calloc(nkeys ? nkeys : 1, sizeof(*wraps));
    int rc = digests && wraps ? 0 : twin_error(TWIN_ERROR, "out of memory");
    if (rc == 0 && (rc = twin_record_canonical(&plain, &plain_len, rec)) == 0 &&
        (rc = twin_seal_aad(&aad, &aad_len, m->network_id, type, id, audience, naudience)) == 0)
        rc = twin_seal_encrypt(&ct, &ct_len, key, nonce, plain, plain_len, aad, aad_len);
    size_t n = 0;
    for (size_t i = 0; rc == 0 && i < naudience; i++) {
        const struct twin_member *mm = audience_member(m, audience[i]);
        for (size_t k = 0; rc == 0 && mm && k < mm->nkeys; k++) {
            if (mm->keys[k].state != TWIN_KEY_ACTIVE)
                continue;
            struct twin_wrap *w = &wraps[n];
            snprintf(w->record, sizeof(w->record), "%s", id);
            memcpy(w->to, mm->keys[k].pk, TWIN_PUBKEY_BYTES);
            if ((rc = twin_seal_wrap(w->box, key, w->to)) == 0)
                twin_seal_wrap_digest(digests[n++], w->to, w->box);
        }
    }
    if (rc == 0)
        rc = twin_envelope_build(&out->envelope, id, type, audience, naudience, nonce, ct, ct_len,
                                 (const unsigned char(*)[TWIN_SEAL_DIGEST_BYTES])digests, n,
                                 json_is_true(json_object_get(rec, "withdrawn")));
    if (rc == 0 && json_array_size(conflicts) &&
        json_object_set_new(out->envelope, "conflicts", json_deep_copy(conflicts)))
        rc = twin_error(TWIN_ERROR, "out of memory");
    if (rc == 0 && (rc = twin_record_canonical(&out->text, &out->text_len, out->envelope)) == 0) {
        twin_sha1_object(out->blob, "blob", out->text, out->text_len);
        for (size_t i = 0; i < n; i++)
            memcpy(wraps[i].blob, out->blob, TWIN_SEAL_BLOB_BYTES);
        out->wraps = wraps;
        out->nwraps = n;
        wraps = NULL;
    }
    sodium_memzero(key, sizeof(key));
    if (plain)
        sodium_memzero(plain, plain_len);
    free(plain);
    free(aad);
    free(ct);
    free(digests);
    free(wraps);
    if (rc)
        twin_sealed_clear(out);
    return rc;
}

struct opening {
    const struct twin_envelope *e;
    const char *aad;
    size_t aad_len;
    const twin_keypair *kp;
    char *plain;
    size_t len;
    uint64_t *bad;
    size_t nbad;
    const unsigned char *blob; /* other versions' wraps: the blob whose own wraps were tried */
};

/* Tries one wrap (the store keeps only wraps checked as SEALED.md 3 says when they came); 1
 * (stop) once one opens the content. */
static int try_wrap(const struct twin_wrap *w, void *ctx)
{
    struct opening *o = ctx;
    unsigned char key[TWIN_SEAL_KEY_BYTES];
    if (o->blob && memcmp(w->blob, o->blob, TWIN_SEAL_BLOB_BYTES) == 0)
        return 0; /* tried already */
    int rc = twin_seal_unwrap(key, w->box, o->kp);
    if (rc == 0)
        rc = twin_seal_decrypt(&o->plain, &o->len, key, o->e->nonce, o->e->ciphertext,
                               o->e->ciphertext_len, o->aad, o->aad_len);
    sodium_memzero(key, sizeof(key));
    if (rc == 0)
        return 1;
    /* Deleted after the walk over them ends; another version's wrap stays: it opens its own. */
    if (!o->blob && o->nbad < 8)
        o->bad[o->nbad++] = w->seq;
    return 0;
}

int twin_sealed_open(json_t **rec, const json_t *envelope, const unsigned char *blob,
                     const char *network_id, twin_wraps *store, const twin_keypair *kp)
{
    *rec = NULL;
    struct twin_envelope e;
    int rc = twin_envelope_read(&e, envelope);
    if (rc)
        return rc;
    if (e.erased) {
        rc = twin_error(TWIN_ENOTFOUND, "%s %s was erased: %s", e.type, e.id, e.reason);
        twin_envelope_clear(&e);
        return rc;
    }
    uint64_t bad[8];
    struct opening o = {.e = &e, .kp = kp, .bad = bad};
    char *aad = NULL;
    if ((rc = twin_seal_aad(&aad, &o.aad_len, network_id, e.type, e.id, e.audience, e.naudience)) ==
        0) {
        o.aad = aad;
        rc = twin_wraps_each_for(store, e.id, blob, kp->pk, try_wrap, &o);
        /* A merged envelope is the version it kept with conflicts added (SEALED.md 9): no wrap
         * names its blob, and that version's content key opens it. */
        if (rc == 0) {
            o.blob = blob;
            rc = twin_wraps_each_of_record(store, e.id, kp->pk, try_wrap, &o);
        }
        if (rc == 1)
            rc = 0;
        else if (rc == 0)
            rc = twin_error(TWIN_ENOTFOUND,
                            "%s %s is sealed to %s%s, and this node holds no key that opens it",
                            e.type, e.id, e.audience[0], e.naudience > 1 ? " and others" : "");
    }
    for (size_t i = 0; i < o.nbad; i++)
        twin_wraps_delete(store, bad[i]); /* upkeep: a failure loses nothing */
    json_t *r = NULL;
    if (rc == 0 && (rc = twin_record_parse_canonical(&r, o.plain, o.len)) == 0) {
        const char *rid = json_string_value(json_object_get(r, "id"));
        const char *rtype = json_string_value(json_object_get(r, "type"));
        if (!rid || !rtype || strcmp(rid, e.id) != 0 || strcmp(rtype, e.type) != 0 ||
            twin_envelope_is(r))
            rc = twin_error(TWIN_EINVALID, "sealed %s %s opens to another record", e.type, e.id);
    }
    if (o.plain) {
        sodium_memzero(o.plain, o.len);
        free(o.plain);
    }
    free(aad);
    twin_envelope_clear(&e);
    if (rc)
        json_decref(r);
    else
        *rec = r;
    return rc;
}

/* The tree id of commit id. */
static int commit_tree_id(git_oid *out, git_repository *repo, const git_oid *id)
{
    git_commit *c = NULL;
    if (git_commit_lookup(&c, repo, id) < 0)
        return twin_error_git("reading a commit");
    *out = *git_commit_tree_id(c);
    git_commit_free(c);
    return 0;
}

int twin_sealed_drop_inactive(twin_wraps *store, const struct twin_membership *m, size_t *deleted)
{
    size_t n = 0, dropped = 0;
    for (size_t i = 0; i < m->count; i++)
        n += m->members[i].nkeys;
    unsigned char(*keys)[TWIN_PUBKEY_BYTES] = malloc((n ? n : 1) * sizeof(*keys));
    if (!keys)
        return twin_error(TWIN_ERROR, "out of memory");
    n = 0;
    for (size_t i = 0; i < m->count; i++)
        for (size_t k = 0; k < m->members[i].nkeys; k++)
            if (m->members[i].removed || m->members[i].keys[k].state != TWIN_KEY_ACTIVE)
                memcpy(keys[n++], m->members[i].keys[k].pk, TWIN_PUBKEY_BYTES);
    int rc = n ? twin_wraps_drop_recipients(store, keys, n, &dropped) : 0;
    free(keys);
    if (deleted)
        *deleted = dropped;
    return rc;
}

int twin_sealed_upkeep(twin_node *n, const git_oid *from, const git_oid *to)
{
    git_repository *repo = twin_node_repo(n);
    struct twin_treediff d = {.repo = repo};
    git_oid old_tree, new_tree;
    twin_wraps *store = NULL;
    bool members = false;
    if (!from)
        return 0; /* a store that held no history holds no wraps it must let go */
    int rc = twin_node_wraps(&store, n);
    if (rc || (rc = commit_tree_id(&old_tree, repo, from)) ||
        (rc = commit_tree_id(&new_tree, repo, to)))
        return rc;
    if ((rc = twin_treediff_run_ids(&d, &old_tree, &new_tree)) < 0)
        goto cleanup;
    rc = 0;
    for (size_t i = 0; rc == 0 && i < d.count; i++) {
        const struct twin_change *c = &d.changes[i];
        members = members || strncmp(c->path, TWIN_MEMBERS_DIR "/", 8) == 0;
        if (!c->has_new || strncmp(c->path, "records/", 8) != 0)
            continue;
        char *text = NULL;
        size_t len;
        json_t *rec = NULL;
        /* Canonical JSON puts a top-level member at an indent of two: only a file that holds
         * one named "erased" is parsed. */
        static const char erased_member[] = "\n  \"erased\": {";
        if ((rc = twin_tree_read_blob(&text, &len, repo, &c->new_id, TWIN_RECORD_FILE_MAX_BYTES,
                                      c->path)) == 0 &&
            memmem(text, len, erased_member, sizeof(erased_member) - 1) &&
            twin_record_parse_canonical(&rec, text, len) == 0 && twin_envelope_is(rec) &&
            json_object_get(rec, "erased"))
            rc = twin_wraps_erase(store, json_string_value(json_object_get(rec, "id")), NULL);
        if (rc == 0)
            twin_error_clear(); /* a file that is no envelope is no erasure */
        free(text);
        json_decref(rec);
    }
    if (rc == 0 && members) {
        struct twin_membership *m = NULL;
        git_tree *t = NULL;
        if ((rc = twin_tree_open(&t, repo, &new_tree, "the head's tree")) == 0 &&
            (rc = twin_membership_load(&m, repo, t)) == 0)
            rc = twin_sealed_drop_inactive(store, m, NULL);
        twin_membership_free(m);
        git_tree_free(t);
    }
cleanup:
    twin_treediff_clear(&d);
    return rc;
}

struct rewrap {
    struct twin_wrap *list;
    size_t n, cap;
};

static int collect_wrap(const struct twin_wrap *w, void *ctx)
{
    struct rewrap *r = ctx;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        struct twin_wrap *l = realloc(r->list, cap * sizeof(*l));
        if (!l)
            return twin_error(TWIN_ERROR, "out of memory");
        r->list = l, r->cap = cap;
    }
    r->list[r->n++] = *w;
    return 0;
}

int twin_sealed_rewrap(twin_node *n, const twin_keypair *next, size_t *made)
{
    twin_wraps *store = NULL;
    struct rewrap r = {0};
    unsigned char network[TWIN_SEAL_NETWORK_BYTES];
    const twin_keypair *kp = twin_node_key(n);
    *made = 0;
    int rc = twin_node_wraps(&store, n);
    if (rc == 0)
        rc = twin_noise_network_id_parse(network, twin_node_network_id(n));
    if (rc == 0)
        rc = twin_wraps_each_to(store, kp->pk, collect_wrap, &r);
    for (size_t i = 0; rc == 0 && i < r.n; i++) {
        unsigned char key[TWIN_SEAL_KEY_BYTES];
        struct twin_wrap w = r.list[i];
        if (twin_seal_unwrap(key, w.box, kp)) {
            twin_error_clear(); /* a wrap that does not open gives nothing to pass on */
            continue;
        }
        memcpy(w.to, next->pk, TWIN_PUBKEY_BYTES);
        rc = twin_seal_wrap(w.box, key, w.to);
        sodium_memzero(key, sizeof(key));
        if (rc)
            break;
        w.signed_by = true;
        w.from_peer = false; /* made here: for every peer */
        memcpy(w.by, next->pk, TWIN_PUBKEY_BYTES);
        twin_seal_wrap_sign(w.sig, next, network, w.blob, w.to, w.box);
        bool added = false;
        rc = twin_wraps_add(store, &w, &added);
        if (rc == TWIN_EDENIED) { /* its record was erased meanwhile */
            twin_error_clear();
            rc = 0;
        }
        *made += added;
    }
    free(r.list);
    return rc;
}
