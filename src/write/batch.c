/*
 * Group commit. The trees on touched paths are kept in memory as sorted entry lists, loaded from
 * the repository the first time a path goes through them; a commit rewrites the trees that
 * changed, names every object with twin's own SHA-1 and appends it to the pack being built. The
 * pack, its index and the branch are written at flush, in that order. twin_batch_set_libgit2
 * has a batch write its packs through libgit2 instead (twin_pack_writer_new_libgit2), the
 * baseline twin's pack writer replaced: the same commits either way.
 *
 * The trees are read through a tree cache on twin's pack reader, which the check of the new
 * commits then reads through too: the trees their parents hold are read, and hashed, once.
 * twin_batch_read_libgit2 has the batch read them through libgit2 instead (git_tree_lookup), the
 * baseline, the check then reading them again through its own.
 */
#include "twin/batch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "git/gitfmt.h"
#include "git/pack.h"
#include "git/treecache.h"
#include "base/sha1.h"
#include "base/util.h"
#include "twin/error.h"
#include "rules/checkrun.h"
#include "twin/store.h"
#include "twin/tree.h"
#include "twin/record.h"
#include "twin/sshsig.h"
#include "twin/store.h"
#include "twin/global.h"

#define MAX_PACKS        8
#define FLUSH_PACK_BYTES ((size_t)256 << 20)
#define MAX_PATH_DEPTH   8
#define MAX_STAGED       2000000

struct tnode;

struct tentry {
    char *name;
    size_t name_len;
    uint32_t mode;
    git_oid id;
    struct tnode *child; /* the subtree, once loaded */
};

/* A version of a tree written to the open pack, kept as a delta base for later versions. */
struct tversion {
    unsigned char *bytes;
    size_t len, cap;
    size_t pack_index;
    size_t number; /* the how-manieth version of this tree in the pack */
};

/* Version v of a tree in a pack is a delta against version v with its lowest set bit cleared:
 * chains are at most log2(versions) long, however many commits a pack holds, and each delta
 * spans few changes. The bases still needed form a stack of at most that many versions. */
#define MAX_VERSIONS 64

struct tnode {
    struct tentry *e;
    size_t n, cap;
    git_oid id;
    bool dirty;
    struct tversion stack[MAX_VERSIONS];
    size_t depth;      /* versions on the stack */
    size_t written;    /* versions written to the open pack */
    unsigned pack_gen; /* the stack belongs to the open pack when this is current */
};

struct change {
    char *path;
    git_oid blob;
    char *data; /* the content while staged; afterwards it is in the object set or the store */
    size_t len;
    bool has_old;
    git_oid old;
};

struct pending_commit {
    char *message;
    struct change *changes;
    size_t count;
};

/* Objects in the open pack (blobs keep their content, for reads and rebuilds). */
struct slot {
    git_oid id;
    bool used;
    char *data;
    size_t len;
};

struct objset {
    struct slot *slots;
    size_t cap, count;
};

struct twin_batch {
    twin_node *node;
    git_repository *repo;
    git_odb *odb;
    twin_batch_check_fn check;
    size_t flush_every;
    git_oid base; /* the flushed head the pending commits build on */
    git_oid tip;
    struct tnode *root;
    twin_packw *pack;
    bool libgit2_pack;     /* the pack is written through libgit2 (twin_batch_set_libgit2) */
    twin_treecache *trees; /* the trees read, NULL when read through libgit2 */
    unsigned pack_gen;
    struct objset objects;
    struct pending_commit *commits;
    size_t ncommits, commits_cap;
    struct change *staged;
    size_t nstaged, staged_cap;
    size_t *staged_index; /* open addressing by path: index + 1 into staged, 0 when empty */
    size_t staged_index_cap;
    char *name; /* the committer, from the node's settings */
    unsigned char *scratch;
    size_t scratch_cap;
};

/* ---- the object set ------------------------------------------------------------------------- */

static size_t slot_of(const struct objset *s, const git_oid *id)
{
    uint64_t h;
    memcpy(&h, id->id, sizeof(h));
    size_t i = (size_t)h & (s->cap - 1);
    while (s->slots[i].used && !git_oid_equal(&s->slots[i].id, id))
        i = (i + 1) & (s->cap - 1);
    return i;
}

static struct slot *objset_find(const struct objset *s, const git_oid *id)
{
    if (!s->cap)
        return NULL;
    struct slot *sl = &s->slots[slot_of(s, id)];
    return sl->used ? sl : NULL;
}

static int objset_add(struct objset *s, const git_oid *id, const void *data, size_t len)
{
    if ((s->count + 1) * 2 > s->cap) {
        struct objset bigger = {calloc(s->cap ? s->cap * 2 : 1024, sizeof(struct slot)),
                                s->cap ? s->cap * 2 : 1024, s->count};
        if (!bigger.slots)
            return twin_error(TWIN_ERROR, "out of memory");
        for (size_t i = 0; i < s->cap; i++)
            if (s->slots[i].used)
                bigger.slots[slot_of(&bigger, &s->slots[i].id)] = s->slots[i];
        free(s->slots);
        *s = bigger;
    }
    struct slot *sl = &s->slots[slot_of(s, id)];
    sl->used = true;
    sl->id = *id;
    sl->data = NULL;
    sl->len = len;
    if (data && !(sl->data = malloc(len ? len : 1))) {
        sl->used = false;
        return twin_error(TWIN_ERROR, "out of memory");
    }
    if (data)
        memcpy(sl->data, data, len);
    s->count++;
    return 0;
}

static void objset_clear(struct objset *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i].data);
    free(s->slots);
    memset(s, 0, sizeof(*s));
}

/* ---- the tree cache ------------------------------------------------------------------------- */

static void tnode_free(struct tnode *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->e[i].name);
        tnode_free(t->e[i].child);
    }
    free(t->e);
    for (size_t i = 0; i < MAX_VERSIONS; i++)
        free(t->stack[i].bytes);
    free(t);
}

/* Loads t's entries from tree, indexed in the tree cache. */
static int tnode_fill(struct tnode *t, const struct twin_treecache_tree *tree)
{
    int rc = twin_util_grow((void **)&t->e, &t->cap, tree->n ? tree->n : 1, sizeof(*t->e));
    for (size_t i = 0; rc == 0 && i < tree->n; i++) {
        struct twin_treecache_ent e;
        twin_treecache_ent_at(&e, tree, i);
        struct tentry *te = &t->e[t->n];
        memset(te, 0, sizeof(*te));
        if (!(te->name = strndup(e.name, e.len)))
            return twin_error(TWIN_ERROR, "out of memory");
        te->name_len = e.len;
        te->mode = (uint32_t)e.mode;
        te->id = e.id;
        t->n++;
    }
    return rc;
}

static int tnode_load(struct tnode **out, twin_batch *b, const git_oid *id)
{
    git_tree *tree = NULL;
    struct tnode *t = calloc(1, sizeof(*t));
    *out = NULL;
    if (!t)
        return twin_error(TWIN_ERROR, "out of memory");
    struct twin_treecache_tree *cached = NULL;
    int rc = b->trees ? twin_treecache_get(&cached, b->trees, id, NULL) : 0;
    if (rc == 0 && cached && cached->canonical) {
        t->id = *id;
        if ((rc = tnode_fill(t, cached))) {
            tnode_free(t);
            return rc;
        }
        *out = t;
        return 0;
    }
    if (rc) {
        free(t);
        return twin_error_wrap(rc, "a tree of the branch's head");
    }
    /* Not in a pack (a loose object), or not in git's canonical form: libgit2 reads it. */
    rc = twin_tree_open(&tree, b->repo, id, "a tree of the branch's head");
    if (rc) {
        free(t);
        return rc;
    }
    size_t n = git_tree_entrycount(tree);
    rc = twin_util_grow((void **)&t->e, &t->cap, n ? n : 1, sizeof(*t->e));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(tree, i);
        struct tentry *te = &t->e[t->n];
        memset(te, 0, sizeof(*te));
        if (!(te->name = strdup(git_tree_entry_name(e)))) {
            rc = twin_error(TWIN_ERROR, "out of memory");
            break;
        }
        te->name_len = strlen(te->name);
        te->mode = (uint32_t)git_tree_entry_filemode(e);
        te->id = *git_tree_entry_id(e);
        t->n++;
    }
    git_tree_free(tree);
    t->id = *id;
    if (rc) {
        tnode_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* The position of name in t, or where it would go (*found false). */
static size_t tnode_find(const struct tnode *t, const char *name, size_t len, bool dir, bool *found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct tentry *e = &t->e[mid];
        int c = twin_gitfmt_tree_order(e->name, e->name_len, e->mode == GIT_FILEMODE_TREE, name,
                                       len, dir);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* The blob id at path in the batch's tree (pending commits included); false when absent. */
static int tree_lookup(bool *present, git_oid *out, twin_batch *b, const char *path)
{
    struct tnode *t = b->root;
    *present = false;
    for (const char *p = path;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        bool found;
        size_t i = tnode_find(t, p, len, slash != NULL, &found);
        if (!found)
            return 0;
        struct tentry *e = &t->e[i];
        if (!slash) {
            if (e->mode == GIT_FILEMODE_TREE)
                return 0;
            *out = e->id;
            *present = true;
            return 0;
        }
        int rc;
        if (!e->child && (rc = tnode_load(&e->child, b, &e->id)))
            return rc;
        t = e->child;
        p = slash + 1;
    }
}

static int tree_put(twin_batch *b, const char *path, const git_oid *blob)
{
    struct tnode *t = b->root;
    for (const char *p = path;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        bool found;
        size_t i = tnode_find(t, p, len, slash != NULL, &found);
        t->dirty = true;
        if (!found) {
            if (twin_util_grow((void **)&t->e, &t->cap, t->n + 1, sizeof(*t->e)))
                return TWIN_ERROR;
            struct tentry ne = {0};
            if (!(ne.name = strndup(p, len)) ||
                (slash && !(ne.child = calloc(1, sizeof(*ne.child))))) {
                free(ne.name);
                return twin_error(TWIN_ERROR, "out of memory");
            }
            ne.name_len = len;
            ne.mode = slash ? GIT_FILEMODE_TREE : GIT_FILEMODE_BLOB;
            if (slash)
                ne.child->dirty = true;
            memmove(&t->e[i + 1], &t->e[i], (t->n - i) * sizeof(*t->e));
            t->e[i] = ne;
            t->n++;
        }
        struct tentry *e = &t->e[i];
        if (!slash) {
            e->id = *blob;
            return 0;
        }
        int rc;
        if (!e->child && (rc = tnode_load(&e->child, b, &e->id)))
            return rc;
        t = e->child;
        p = slash + 1;
    }
}

/* Adds an object to the open pack unless the pack or the repository has it already. A fresh
 * object cannot be in the repository (it names a record that never existed before), so the
 * repository is not asked: asking costs more than writing the object. */
static int add_object(twin_batch *b, size_t *index_out, bool *added, git_object_t type,
                      const git_oid *id, const void *data, size_t len, const struct tversion *base,
                      bool fresh)
{
    *added = false;
    if (objset_find(&b->objects, id) ||
        (!fresh && git_odb_exists_ext(b->odb, id, GIT_ODB_LOOKUP_NO_REFRESH)))
        return 0;
    int rc = twin_pack_writer_add(b->pack, index_out, type, id, data, len,
                                  base ? (long)base->pack_index : -1, base ? base->bytes : NULL,
                                  base ? base->len : 0);
    if (rc == 0)
        rc = objset_add(&b->objects, id, type == GIT_OBJECT_BLOB ? data : NULL, len);
    *added = rc == 0;
    return rc;
}

static int tnode_write(twin_batch *b, struct tnode *t, int depth, bool fresh)
{
    if (depth > MAX_PATH_DEPTH)
        return twin_error(TWIN_ELIMIT, "trees nested deeper than %d", MAX_PATH_DEPTH);
    size_t need = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct tentry *e = &t->e[i];
        int rc;
        if (e->child && e->child->dirty && (rc = tnode_write(b, e->child, depth + 1, fresh)))
            return rc;
        if (e->child)
            e->id = e->child->id;
        need += TWIN_GITFMT_TREE_ENTRY_MAX(e->name_len);
    }
    if (twin_util_grow((void **)&b->scratch, &b->scratch_cap, need ? need : 1, 1))
        return TWIN_ERROR;
    unsigned char *p = b->scratch;
    for (size_t i = 0; i < t->n; i++) {
        const struct tentry *e = &t->e[i];
        p += twin_gitfmt_tree_entry_put(p, e->mode, e->name, e->name_len, e->id.id);
    }
    size_t len = (size_t)(p - b->scratch);
    git_oid id;
    twin_sha1_object(id.id, "tree", b->scratch, len);
    t->dirty = false;
    if (git_oid_equal(&id, &t->id))
        return 0;
    t->id = id;
    if (t->pack_gen != b->pack_gen) {
        t->pack_gen = b->pack_gen;
        t->depth = t->written = 0;
    }
    size_t v = t->written, base_number = v & (v - 1);
    while (t->depth && t->stack[t->depth - 1].number > base_number)
        t->depth--;
    const struct tversion *base = v && t->depth ? &t->stack[t->depth - 1] : NULL;
    size_t index;
    bool added;
    int rc = add_object(b, &index, &added, GIT_OBJECT_TREE, &id, b->scratch, len, base, fresh);
    if (rc || !added || t->depth == MAX_VERSIONS)
        return rc;
    struct tversion *top = &t->stack[t->depth];
    if (twin_util_grow((void **)&top->bytes, &top->cap, len, 1))
        return TWIN_ERROR;
    memcpy(top->bytes, b->scratch, len);
    top->len = len;
    top->pack_index = index;
    top->number = v;
    t->depth++;
    t->written++;
    return 0;
}

/* ---- commits -------------------------------------------------------------------------------- */

static int build_commit(git_oid *out, twin_batch *b, const git_oid *tree, const char *message)
{
    char *text = NULL, *sig = NULL, *signed_text = NULL;
    size_t len, sig_len, signed_len;
    int rc =
        twin_gitfmt_commit_text(&text, &len, tree, &b->tip, 1, b->name, twin_node_org_id(b->node),
                                twin_util_commit_time_now(), message);
    if (rc == 0)
        rc = twin_sshsig_sign(&sig, &sig_len, twin_node_key(b->node), TWIN_SSHSIG_NAMESPACE_GIT,
                              text, len);
    if (rc == 0)
        rc = twin_gitfmt_commit_sign(&signed_text, &signed_len, text, len, sig, sig_len);
    if (rc == 0) {
        size_t index;
        bool added;
        twin_sha1_object(out->id, "commit", signed_text, signed_len);
        rc = add_object(b, &index, &added, GIT_OBJECT_COMMIT, out, signed_text, signed_len, NULL,
                        true);
    }
    free(signed_text);
    free(sig);
    free(text);
    return rc;
}

static void free_changes(struct change *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].path);
        free(c[i].data);
    }
}

/* Applies changes to the trees and commits them; their blobs go to the pack first. */
static int commit_changes(git_oid *out, twin_batch *b, struct change *changes, size_t n,
                          const char *message)
{
    int rc = 0;
    /* A commit that only creates records makes only new trees: each names a new record. */
    bool all_new = true;
    for (size_t i = 0; i < n; i++)
        all_new = all_new && !changes[i].has_old;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t index;
        bool added;
        if (changes[i].data) {
            rc = add_object(b, &index, &added, GIT_OBJECT_BLOB, &changes[i].blob, changes[i].data,
                            changes[i].len, NULL, !changes[i].has_old);
            free(changes[i].data);
            changes[i].data = NULL;
        }
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = tree_put(b, changes[i].path, &changes[i].blob);
    if (rc == 0)
        rc = tnode_write(b, b->root, 0, all_new);
    if (rc == 0)
        rc = build_commit(out, b, &b->root->id, message);
    if (rc == 0)
        b->tip = *out;
    return rc;
}

/* ---- the batch ------------------------------------------------------------------------------ */

static int new_pack(twin_batch *b)
{
    return b->libgit2_pack ? twin_pack_writer_new_libgit2(&b->pack)
                           : twin_pack_writer_new(&b->pack);
}

/* Starts the in-memory state over on head: an empty pack, trees loaded afresh. */
static int reset_on(twin_batch *b, const git_oid *head)
{
    git_commit *commit = NULL;
    tnode_free(b->root);
    b->root = NULL;
    twin_pack_writer_free(b->pack);
    b->pack = NULL;
    b->pack_gen++;
    b->base = b->tip = *head;
    int rc = new_pack(b);
    if (rc == 0 && git_commit_lookup(&commit, b->repo, head) < 0)
        rc = twin_error_git("reading the head commit");
    if (rc == 0)
        rc = tnode_load(&b->root, b, git_commit_tree_id(commit));
    if (rc == 0 && b->check) {
        git_tree *tree = NULL;
        if (git_commit_tree(&tree, commit) < 0)
            rc = twin_error_git("reading the head tree");
        else
            rc = b->check(b->node, tree);
        git_tree_free(tree);
    }
    git_commit_free(commit);
    return rc;
}

int twin_batch_begin(twin_batch **out, twin_node *n, twin_batch_check_fn check, size_t flush_every)
{
    twin_batch *b = calloc(1, sizeof(*b));
    git_oid head;
    *out = NULL;
    if (!b)
        return twin_error(TWIN_ERROR, "out of memory");
    b->node = n;
    b->repo = twin_node_repo(n);
    b->check = check;
    b->flush_every = flush_every;
    git_signature *who = NULL;
    int rc = twin_node_head(&head, n);
    if (rc == 0 && git_repository_odb(&b->odb, b->repo) < 0)
        rc = twin_error_git("opening the object store");
    if (rc == 0 && ((rc = twin_treecache_new(&b->trees)) == 0) &&
        (rc = twin_treecache_use(b->trees, b->repo, true)))
        rc = twin_error_wrap(rc, "reading the branch's trees");
    if (rc == 0)
        rc = twin_node_config_get(&b->name, n, "twin.name");
    /* The identity goes into the commit as libgit2 would write it: refused if malformed. */
    if (rc == 0 && git_signature_new(&who, b->name, twin_node_org_id(n), 0, 0) < 0)
        rc = twin_error_git("making the commit identity");
    if (rc == 0 && (strcmp(who->name, b->name) != 0 || strcmp(who->email, twin_node_org_id(n))))
        rc = twin_error(TWIN_EINVALID, "the node's name '%s' cannot be a commit identity", b->name);
    git_signature_free(who);
    if (rc == 0)
        rc = reset_on(b, &head);
    if (rc) {
        twin_batch_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int twin_batch_read_libgit2(twin_batch *b, bool libgit2)
{
    if (b->ncommits || b->nstaged)
        return twin_error(TWIN_EINVALID, "a batch changes how it reads trees only when nothing is "
                                         "pending");
    twin_treecache *was = b->trees;
    b->trees = NULL;
    int rc = 0;
    if (!libgit2 && ((rc = twin_treecache_new(&b->trees)) == 0) &&
        (rc = twin_treecache_use(b->trees, b->repo, true))) {
        twin_treecache_free(b->trees);
        b->trees = NULL;
    }
    git_oid base = b->base;
    if (rc == 0)
        rc = reset_on(b, &base); /* the trees loaded so far, read again the new way */
    if (rc) {
        twin_treecache_free(b->trees);
        b->trees = was;
        return rc;
    }
    twin_treecache_free(was);
    return 0;
}

int twin_batch_set_libgit2(twin_batch *b, bool libgit2)
{
    if (b->ncommits || b->nstaged)
        return twin_error(TWIN_EINVALID, "a batch changes its pack writer only when nothing is "
                                         "pending");
    twin_packw *was = b->pack;
    bool was_libgit2 = b->libgit2_pack;
    b->libgit2_pack = libgit2;
    int rc = new_pack(b);
    if (rc) {
        b->pack = was;
        b->libgit2_pack = was_libgit2;
        return rc;
    }
    twin_pack_writer_free(was);
    b->pack_gen++; /* no tree version is a base in the new pack */
    return 0;
}

size_t twin_batch_pending(const twin_batch *b)
{
    return b->ncommits;
}

const git_oid *twin_batch_tip(const twin_batch *b)
{
    return &b->tip;
}

twin_node *twin_batch_node(twin_batch *b)
{
    return b->node;
}

static size_t path_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

/* The slot of path in the staged index: where it is, or the empty slot where it would go. */
static size_t staged_slot(const twin_batch *b, const char *path)
{
    size_t mask = b->staged_index_cap - 1, i = path_hash(path) & mask;
    while (b->staged_index[i] && strcmp(b->staged[b->staged_index[i] - 1].path, path) != 0)
        i = (i + 1) & mask;
    return i;
}

static const struct change *staged_change(const twin_batch *b, const char *path)
{
    if (!b->staged_index_cap)
        return NULL;
    size_t i = staged_slot(b, path);
    return b->staged_index[i] ? &b->staged[b->staged_index[i] - 1] : NULL;
}

/* Indexes staged[idx] (its path not indexed yet), growing the index to stay half empty. */
static int staged_index_add(twin_batch *b, size_t idx)
{
    if ((b->nstaged + 1) * 2 > b->staged_index_cap) {
        size_t cap = b->staged_index_cap ? b->staged_index_cap * 2 : 64;
        size_t *fresh = calloc(cap, sizeof(*fresh));
        if (!fresh)
            return twin_error(TWIN_ERROR, "out of memory");
        free(b->staged_index);
        b->staged_index = fresh;
        b->staged_index_cap = cap;
        for (size_t k = 0; k < b->nstaged; k++)
            if (k != idx)
                b->staged_index[staged_slot(b, b->staged[k].path)] = k + 1;
    }
    b->staged_index[staged_slot(b, b->staged[idx].path)] = idx + 1;
    return 0;
}

static void staged_index_clear(twin_batch *b)
{
    free(b->staged_index);
    b->staged_index = NULL;
    b->staged_index_cap = 0;
}

int twin_batch_read(char **out, size_t *out_len, twin_batch *b, const char *path, size_t max)
{
    *out = NULL;
    const struct change *c = staged_change(b, path);
    const char *data = NULL;
    size_t len = 0;
    git_oid id;
    if (c) {
        data = c->data;
        len = c->len;
    } else {
        bool present;
        int rc = tree_lookup(&present, &id, b, path);
        if (rc)
            return rc;
        if (!present)
            return twin_error(TWIN_ENOTFOUND, "%s: not found", path);
        struct slot *sl = objset_find(&b->objects, &id);
        if (!sl || !sl->data)
            return twin_tree_read_blob(out, out_len, b->repo, &id, max, path);
        data = sl->data;
        len = sl->len;
    }
    if (len > max)
        return twin_error(TWIN_ELIMIT, "%s: larger than %zu bytes", path, max);
    if (!(*out = malloc(len + 1)))
        return twin_error(TWIN_ERROR, "out of memory");
    memcpy(*out, data, len);
    (*out)[len] = '\0';
    *out_len = len;
    return 0;
}

bool twin_batch_staged(const twin_batch *b, const char *path)
{
    return staged_change(b, path) != NULL;
}

int twin_batch_exists(twin_batch *b, const char *path)
{
    bool present = false;
    git_oid id;
    if (staged_change(b, path))
        return 1;
    int rc = tree_lookup(&present, &id, b, path);
    return rc ? rc : present;
}

static bool path_allowed(const char *path)
{
    char type[32], id[TWIN_ID_LEN + 1];
    return twin_record_parse_path(type, id, path) == 0;
}

int twin_batch_put(twin_batch *b, const char *path, const void *data, size_t len)
{
    if (!path_allowed(path))
        return twin_error(TWIN_EINVALID, "%s: a batch writes records only", path);
    if (len > TWIN_RECORD_FILE_MAX_BYTES)
        return twin_error(TWIN_ELIMIT, "%s: larger than %d bytes", path,
                          TWIN_RECORD_FILE_MAX_BYTES);
    struct change c = {0};
    twin_sha1_object(c.blob.id, "blob", data, len);
    bool present = false;
    int rc = tree_lookup(&present, &c.old, b, path);
    if (rc)
        return rc;
    c.has_old = present;
    if (!(c.path = strdup(path)) || !(c.data = malloc(len ? len : 1))) {
        free(c.path);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    memcpy(c.data, data, len);
    c.len = len;
    const struct change *was = staged_change(b, path);
    if (was) {
        size_t i = (size_t)(was - b->staged);
        c.has_old = b->staged[i].has_old;
        c.old = b->staged[i].old;
        free_changes(&b->staged[i], 1);
        b->staged[i] = c;
        return 0;
    }
    if (b->nstaged >= MAX_STAGED ||
        twin_util_grow((void **)&b->staged, &b->staged_cap, b->nstaged + 1, sizeof(*b->staged))) {
        free_changes(&c, 1);
        return b->nstaged >= MAX_STAGED
                   ? twin_error(TWIN_ELIMIT, "more than %d changes in one commit", MAX_STAGED)
                   : TWIN_ERROR;
    }
    b->staged[b->nstaged] = c;
    if ((rc = staged_index_add(b, b->nstaged))) {
        free_changes(&c, 1);
        return rc;
    }
    b->nstaged++;
    return 0;
}

void twin_batch_drop_staged(twin_batch *b)
{
    free_changes(b->staged, b->nstaged);
    b->nstaged = 0;
    staged_index_clear(b);
}

static int rebuild(twin_batch *b, const git_oid *head);
static void drop_commits(twin_batch *b);

int twin_batch_commit(git_oid *out, twin_batch *b, const char *message)
{
    if (b->nstaged == 0)
        return twin_error(TWIN_EINVALID, "nothing to commit");
    if (twin_util_grow((void **)&b->commits, &b->commits_cap, b->ncommits + 1, sizeof(*b->commits)))
        return TWIN_ERROR;
    struct pending_commit *pc = &b->commits[b->ncommits];
    if (!(pc->message = strdup(message)))
        return twin_error(TWIN_ERROR, "out of memory");
    int rc = commit_changes(out, b, b->staged, b->nstaged, message);
    if (rc) {
        /* The trees may hold part of the change: make the pending commits again without it. */
        free(pc->message);
        twin_batch_drop_staged(b);
        git_oid base = b->base;
        int rc2 = rebuild(b, &base);
        if (rc2) {
            drop_commits(b);
            twin_error_wrap(rc2, "starting the batch over");
        }
        return rc;
    }
    pc->changes = b->staged;
    pc->count = b->nstaged;
    b->staged = NULL;
    b->nstaged = b->staged_cap = 0;
    staged_index_clear(b);
    b->ncommits++;
    if (b->flush_every &&
        (b->ncommits >= b->flush_every || twin_pack_writer_bytes(b->pack) >= FLUSH_PACK_BYTES))
        return twin_batch_flush(b);
    return 0;
}

static void drop_commits(twin_batch *b)
{
    for (size_t i = 0; i < b->ncommits; i++) {
        free_changes(b->commits[i].changes, b->commits[i].count);
        free(b->commits[i].changes);
        free(b->commits[i].message);
    }
    b->ncommits = 0;
}

/* Makes the pending commits again on head, which another writer moved the branch to. Each
 * change must find its record as it was when the change was made. */
static int rebuild(twin_batch *b, const git_oid *head)
{
    struct objset old = b->objects;
    memset(&b->objects, 0, sizeof(b->objects));
    int rc = reset_on(b, head);
    for (size_t i = 0; rc == 0 && i < b->ncommits; i++) {
        struct pending_commit *pc = &b->commits[i];
        for (size_t k = 0; rc == 0 && k < pc->count; k++) {
            struct change *c = &pc->changes[k];
            bool present;
            git_oid now;
            if ((rc = tree_lookup(&present, &now, b, c->path)))
                break;
            if (present != c->has_old || (present && !git_oid_equal(&now, &c->old))) {
                rc = twin_error(TWIN_ECONFLICT,
                                "%s was changed by another writer while this batch was open",
                                c->path);
                break;
            }
            struct slot *sl = objset_find(&old, &c->blob);
            if (sl && sl->data) {
                if (!(c->data = malloc(sl->len ? sl->len : 1)))
                    rc = twin_error(TWIN_ERROR, "out of memory");
                else
                    memcpy(c->data, sl->data, c->len = sl->len);
            }
        }
        git_oid id;
        if (rc == 0)
            rc = commit_changes(&id, b, pc->changes, pc->count, pc->message);
    }
    objset_clear(&old);
    return rc;
}

int twin_batch_flush(twin_batch *b)
{
    if (b->ncommits == 0)
        return 0;
    int fd, rc = twin_store_lock(&fd, b->repo);
    if (rc)
        return rc;
    git_oid head;
    if ((rc = twin_node_head(&head, b->node)) == 0 && !git_oid_equal(&head, &b->base))
        rc = rebuild(b, &head);
    bool durable = twin_global_durable();
    if (rc == 0)
        rc = twin_pack_writer_write(b->pack, b->repo, durable);
    /* The check reads the new pack through the trees this batch read, refreshed to hold it. */
    if (rc == 0 && b->trees && (rc = twin_treecache_refresh(b->trees)))
        rc = twin_error_wrap(rc, "reading the pack just written");
    if (rc == 0)
        rc = twin_checkrun_new_with(b->repo, b->trees, &b->base, &b->tip);
    if (rc == 0)
        rc = twin_store_advance_locked(b->repo, &b->base, &b->tip, "twin: commit");
    if (rc == 0)
        twin_pack_consolidate(b->repo, MAX_PACKS, durable); /* upkeep: a failure loses nothing */
    twin_store_unlock(fd);
    /* Flushed or failed, the pending commits are done with; on failure the state starts over
     * from the branch as it is. */
    drop_commits(b);
    objset_clear(&b->objects);
    if (rc == 0) {
        b->base = b->tip;
        twin_pack_writer_free(b->pack);
        b->pack = NULL;
        b->pack_gen++;
        rc = new_pack(b);
    } else if (twin_node_head(&head, b->node) == 0) {
        int rc2 = reset_on(b, &head);
        if (rc2)
            twin_error_wrap(rc2, "starting the batch over");
    }
    return rc;
}

void twin_batch_free(twin_batch *b)
{
    if (!b)
        return;
    twin_batch_drop_staged(b);
    free(b->staged);
    drop_commits(b);
    free(b->commits);
    objset_clear(&b->objects);
    tnode_free(b->root);
    twin_pack_writer_free(b->pack);
    twin_treecache_free(b->trees);
    git_odb_free(b->odb);
    free(b->name);
    free(b->scratch);
    free(b);
}

int twin_batch_repack(git_repository *repo)
{
    int fd, rc = twin_store_lock(&fd, repo);
    if (rc)
        return rc;
    rc = twin_pack_consolidate(repo, MAX_PACKS, twin_global_durable());
    twin_store_unlock(fd);
    return rc;
}
