/*
 * The pack of the commits a peer lacks, built and streamed as it is made: the sending side of
 * moving history between nodes (the receiving side is the quarantine, src/sync/quarantine.c).
 */
#define _XOPEN_SOURCE 700
#include "git/packbuild.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "git/gitfmt.h"
#include "git/gitopts.h"
#include "git/history.h"
#include "git/pack.h"
#include "git/packread.h"
#include "base/sha1.h"
#include "git/treecache.h"
#include "git/treediff.h"
#include "base/util.h"
#include "twin/error.h"
#include "twin/tree.h"
#include "twin/global.h"

/* ---- libgit2 settings for sending history ---------------------------------------------------- *
 * Sending a long history reads every object once or twice, in order: small pack windows and a
 * small object cache serve that in bounded memory. The objects read here have ids that were
 * computed from their content as they entered the store, and the receiver hashes every object it is
 * sent: like git, which verifies object hashes only in fsck, the build does not have libgit2 hash
 * them again on each read, and keeps no object cache of libgit2's: the walks keep what they need
 * themselves (the last commit and tree, twin's tree cache), and libgit2's eviction scans its whole
 * table each time it runs. The settings are libgit2's, for the whole process: they are taken for as
 * long as the build lasts (gitopts.h). */
#define BUILD_OPTS (TWIN_GITOPTS_UNHASHED | TWIN_GITOPTS_UNCACHED | TWIN_GITOPTS_SMALL_WINDOWS)

static int build_settings(void)
{
    return twin_gitopts_begin(BUILD_OPTS);
}

/* ---- building ------------------------------------------------------------------------------- */

/* Whether this node holds any of the commits the receiver has (they would end the walk). */
static bool holds_any(git_repository *repo, const git_oid *haves, size_t nhaves)
{
    git_odb *odb = NULL;
    bool any = nhaves > 0 && git_repository_odb(&odb, repo) < 0; /* unsure: let libgit2 walk */
    for (size_t i = 0; odb && !any && i < nhaves; i++)
        any = git_odb_exists_ext(odb, &haves[i], GIT_ODB_LOOKUP_NO_REFRESH);
    git_odb_free(odb);
    return any;
}

static int setup_walk(git_revwalk **out, git_repository *repo, const git_oid *wants, size_t nwants,
                      const git_oid *haves, size_t nhaves)
{
    git_revwalk *walk = NULL;
    git_odb *odb = NULL;
    int rc = 0;
    if (git_revwalk_new(&walk, repo) < 0 || git_repository_odb(&odb, repo) < 0) {
        rc = twin_error_git("preparing a pack");
        goto cleanup;
    }
    for (size_t i = 0; i < nwants; i++)
        if (git_revwalk_push(walk, &wants[i]) < 0) {
            rc = twin_error(TWIN_ENOTFOUND, "this node does not have commit %s",
                            git_oid_tostr_s(&wants[i]));
            goto cleanup;
        }
    /* Hiding an object we lack fails, so only ids present here are hidden. */
    for (size_t i = 0; i < nhaves; i++)
        if (git_odb_exists_ext(odb, &haves[i], GIT_ODB_LOOKUP_NO_REFRESH) &&
            git_revwalk_hide(walk, &haves[i]) < 0) {
            rc = twin_error_git("preparing a pack");
            goto cleanup;
        }
    *out = walk;
    walk = NULL;
cleanup:
    git_odb_free(odb);
    git_revwalk_free(walk);
    return rc;
}

/* ---- the pack writer ------------------------------------------------------------------------
 * libgit2's packbuilder searches a window of candidates for every object's delta and reuses no
 * delta already stored, which made building a pack of a long history take minutes. Here the
 * objects of each commit are written oldest commit first, and a tree or file is written as a
 * delta against an earlier version of the same path already in the pack (struct base_slot): a
 * few entries changed in a tree of hundreds make a delta of a few dozen bytes, found in one pass
 * over the two versions (entry by entry). Chains stay short, so the receiver's indexer resolves
 * each object in a few steps. What no delta pays for is written whole.
 * The pack streams out as it is made, so the receiver indexes while the sender reads.
 *
 * The object data is not compressed: each object's zlib stream is made of stored blocks, which
 * the receiver inflates at memory speed; deltas keep the pack near git's size for trees. */

#define TREE_SLOTS    4096 /* last version per path, for trees: a few hundred paths */
#define BLOB_SLOTS    1024 /* and for files, fewer kept: most files have one version */
#define OUT_BUF_BYTES (256 * 1024)

/* A growable byte buffer. */
struct bytes {
    unsigned char *p;
    size_t len, cap;
};

static int bytes_reserve(struct bytes *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p)
        return twin_error(TWIN_ERROR, "out of memory");
    b->p = p;
    b->cap = cap;
    return 0;
}

static void bytes_put(struct bytes *b, const void *p, size_t n)
{
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* The objects of a pack, in writing order, and a set of their ids. */
struct pack_obj {
    git_oid id;
    uint32_t path_hash; /* 0: no path (commits) */
};

struct pack_list {
    struct pack_obj *v;
    size_t n, cap;
    uint32_t *set; /* open addressing: index + 1, 0 empty */
    size_t set_cap;
};

static size_t oid_slot(const git_oid *id, size_t mask)
{
    uint64_t x;
    memcpy(&x, id->id, sizeof(x));
    return (size_t)x & mask;
}

static int list_grow_set(struct pack_list *l)
{
    size_t cap = l->set_cap ? l->set_cap * 2 : 1024;
    uint32_t *set = calloc(cap, sizeof(*set));
    if (!set)
        return twin_error(TWIN_ERROR, "out of memory");
    for (size_t i = 0; i < l->n; i++) {
        size_t k = oid_slot(&l->v[i].id, cap - 1);
        while (set[k])
            k = (k + 1) & (cap - 1);
        set[k] = (uint32_t)i + 1;
    }
    free(l->set);
    l->set = set;
    l->set_cap = cap;
    return 0;
}

/* Adds an object once; a second sighting of the same id is ignored. */
static int list_add(struct pack_list *l, const git_oid *id, uint32_t path_hash)
{
    int rc;
    if (l->n >= TWIN_PACK_MAX_OBJECTS)
        return twin_error(TWIN_ELIMIT, "a pack would hold more than %zu objects",
                          (size_t)TWIN_PACK_MAX_OBJECTS);
    if ((l->n + 1) * 2 > l->set_cap && (rc = list_grow_set(l)))
        return rc;
    size_t k = oid_slot(id, l->set_cap - 1);
    for (; l->set[k]; k = (k + 1) & (l->set_cap - 1))
        if (git_oid_equal(&l->v[l->set[k] - 1].id, id))
            return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        struct pack_obj *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return twin_error(TWIN_ERROR, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n] = (struct pack_obj){*id, path_hash};
    l->set[k] = (uint32_t)++l->n;
    return 0;
}

static uint32_t path_hash(const char *path)
{
    uint32_t h = 2166136261u; /* FNV-1a; never 0 for a path, 0 marks "no path" */
    for (; *path; path++)
        h = (h ^ (unsigned char)*path) * 16777619u;
    return h ? h : 1;
}

/* git's order of two entries of trees libgit2 read. */
static int entry_cmp(const git_tree_entry *a, const git_tree_entry *b)
{
    const char *x = git_tree_entry_name(a), *y = git_tree_entry_name(b);
    return twin_gitfmt_tree_order(x, strlen(x), git_tree_entry_type(a) == GIT_OBJECT_TREE, y,
                                  strlen(y), git_tree_entry_type(b) == GIT_OBJECT_TREE);
}

/* What a worker thread of the walk found in its commits, in the order found: the pack's list
 * takes them later, in commit order (see "the walk on several threads" below). */
struct obj_recs {
    struct pack_obj *v;
    size_t n, cap;
};

static int recs_add(struct obj_recs *r, const git_oid *id, uint32_t path_hash)
{
    int rc;
    /* The list could not take more either, even with repeats left out. */
    if (r->n >= TWIN_PACK_MAX_OBJECTS)
        return twin_error(TWIN_ELIMIT, "a pack would hold more than %zu objects",
                          (size_t)TWIN_PACK_MAX_OBJECTS);
    if ((rc = twin_util_grow((void **)&r->v, &r->cap, r->n + 1, sizeof(*r->v))))
        return rc;
    r->v[r->n++] = (struct pack_obj){*id, path_hash};
    return 0;
}

struct changed_walk {
    git_repository *repo;
    struct pack_list *list; /* what is found goes to the list; or, when NULL, to recs */
    struct obj_recs *recs;
    char path[4096];
    struct twin_treediff diff; /* its cache keeps the trees of the last commits */
    git_oid last_commit, last_tree;
    bool have_last;
};

static int walk_add(struct changed_walk *w, const git_oid *id, uint32_t path_hash)
{
    return w->list ? list_add(w->list, id, path_hash) : recs_add(w->recs, id, path_hash);
}

/* Adds every object of tree `now` (at path, of length len) that differs from its version in
 * `before` (NULL: every object). Walking the two trees side by side in git's order costs one
 * comparison per entry; unchanged subtrees are never opened. */
static int add_changed(struct changed_walk *w, const git_tree *before, const git_tree *now,
                       size_t len)
{
    size_t n = git_tree_entrycount(now), m = before ? git_tree_entrycount(before) : 0, j = 0;
    for (size_t i = 0; i < n; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(now, i), *old = NULL;
        while (j < m) {
            const git_tree_entry *o = git_tree_entry_byindex(before, j);
            int c = entry_cmp(o, e);
            if (c > 0)
                break;
            j++;
            if (c == 0) {
                old = o;
                break;
            }
        }
        if (old && git_oid_equal(git_tree_entry_id(old), git_tree_entry_id(e)))
            continue;
        git_object_t type = git_tree_entry_type(e);
        if (type != GIT_OBJECT_TREE && type != GIT_OBJECT_BLOB)
            continue; /* a submodule's commit lives elsewhere */
        const char *name = git_tree_entry_name(e);
        size_t nlen = strlen(name), sub = len + (len ? 1 : 0) + nlen;
        if (sub >= sizeof(w->path))
            return twin_error(TWIN_ELIMIT, "a path in the history is too long");
        if (len)
            w->path[len] = '/';
        memcpy(w->path + len + (len ? 1 : 0), name, nlen + 1);
        int rc = walk_add(w, git_tree_entry_id(e), path_hash(w->path));
        if (rc == 0 && type == GIT_OBJECT_TREE) {
            git_tree *t = NULL, *ot = NULL;
            if ((rc = twin_tree_open(&t, w->repo, git_tree_entry_id(e), w->path)) == 0 && old &&
                git_tree_entry_type(old) == GIT_OBJECT_TREE)
                rc = twin_tree_open(&ot, w->repo, git_tree_entry_id(old), w->path);
            if (rc == 0)
                rc = add_changed(w, ot, t, sub);
            git_tree_free(ot);
            git_tree_free(t);
        }
        if (rc)
            return rc;
        w->path[len] = '\0';
    }
    return 0;
}

/* The objects tree `now` changed against `before` (NULL: every object), by libgit2's reading of
 * the two trees: for trees that twin's diff does not take (see treediff.h). */
static int add_changed_git(struct changed_walk *w, const git_oid *before, const git_oid *now)
{
    git_tree *a = NULL, *b = NULL;
    int rc = before ? twin_tree_open(&a, w->repo, before, "a commit's tree") : 0;
    if (rc == 0)
        rc = twin_tree_open(&b, w->repo, now, "a commit's tree");
    w->path[0] = '\0';
    if (rc == 0)
        rc = add_changed(w, a, b, 0);
    git_tree_free(a);
    git_tree_free(b);
    return rc;
}

/* Adds a commit, its tree, and whatever its tree changed against its first parent's. Every
 * commit of the set is added, and a first parent outside the set is one the receiver holds, so by
 * induction the receiver ends up with every object of every commit. */
/* A commit's tree and first parents: out of the walk's pack reader where it holds the commit
 * (the store's own objects, not hashed again: the receiver hashes them), else from libgit2. */
static int commit_head(struct twin_commit_head *h, struct changed_walk *w, const git_oid *id)
{
    twin_packread *packs = twin_treecache_packs(w->diff.cache, w->repo);
    twin_pobj *o = NULL;
    int got = packs ? twin_packread_get(&o, packs, id) : 0;
    if (got < 0)
        return got;
    if (got) {
        bool bad = o->type != GIT_OBJECT_COMMIT ||
                   twin_history_links_parse(h, (const char *)o->data, o->size) != 0;
        h->parent0 = NULL; /* points into o */
        twin_packread_release(o);
        return bad ? twin_error(TWIN_EINVALID, "%s is not a commit in git's form",
                                git_oid_tostr_s(id))
                   : 0;
    }
    git_commit *c = NULL;
    if (git_commit_lookup(&c, w->repo, id) < 0)
        return twin_error(TWIN_ERROR, "commit %s cannot be read, the store is damaged: %s",
                          git_oid_tostr_s(id),
                          git_error_last() ? git_error_last()->message : "libgit2 error");
    memset(h, 0, sizeof(*h));
    h->tree = *git_commit_tree_id(c);
    h->nparents = git_commit_parentcount(c);
    for (unsigned i = 0; i < h->nparents && i < 2; i++)
        h->parents[i] = *git_commit_parent_id(c, i);
    git_commit_free(c);
    return 0;
}

static int add_commit(struct changed_walk *w, const git_oid *id)
{
    struct twin_commit_head head, parent;
    git_oid tree, before;
    bool has_before = false;
    int rc = commit_head(&head, w, id);
    if (rc)
        goto done;
    tree = head.tree;
    if (head.nparents > 0) {
        /* Oldest first, the first parent is most often the commit just added. */
        if (w->have_last && git_oid_equal(&head.parents[0], &w->last_commit))
            before = w->last_tree;
        else if ((rc = commit_head(&parent, w, &head.parents[0])))
            goto done;
        else
            before = parent.tree;
        has_before = true;
    }
    w->last_commit = *id;
    w->last_tree = tree;
    w->have_last = true;
    if ((rc = walk_add(w, id, 0)))
        goto done;
    if (has_before && git_oid_equal(&before, &tree))
        goto done;
    if ((rc = walk_add(w, &tree, path_hash("/"))))
        goto done;
    w->diff.count = 0;
    w->diff.fault[0] = '\0';
    twin_error_damage_reset();
    rc = twin_treediff_run_ids(&w->diff, has_before ? &before : NULL, &tree);
    if (rc == 1 && twin_error_damage_seen()) { /* nothing is sent that cannot be read */
        rc = twin_error(TWIN_EVERIFY, "%s", w->diff.fault);
        goto done;
    }
    if (rc == 1) { /* trees twin's diff does not take: libgit2 reads them */
        rc = add_changed_git(w, has_before ? &before : NULL, &tree);
        goto done;
    }
    for (size_t i = 0; rc == 0 && i < w->diff.count; i++) {
        const struct twin_change *ch = &w->diff.changes[i];
        if (ch->has_new)
            rc = walk_add(w, &ch->new_id, path_hash(ch->path));
    }
done:
    return rc;
}

/* The versions of a path already in the pack that later versions take as bases. Version n (from
 * 0, in writing order) is a delta against version n with its lowest set bit cleared, as the store
 * keeps them (pack.c): a chain is never longer than the number of bits set in n, and the
 * receiver resolves each version in a few steps, however many there are. The stack holds version
 * n and every version obtained by clearing n's lowest set bits in turn: the bases of all the
 * versions after it. */
#define BASE_LEVELS 33
struct base_version {
    uint32_t index;
    uint64_t offset;
    git_oid id;
};

struct base_slot {
    uint32_t path_hash;
    git_object_t type;
    uint32_t versions; /* of this path written so far */
    unsigned n;
    struct base_version stack[BASE_LEVELS];
};

/* An object read from twin's pack reader, or else from libgit2. */
struct obj_read {
    twin_pobj *pobj;
    git_odb_object *obj;
    const unsigned char *data;
    size_t len;
    git_object_t type;
};

static int obj_read(struct obj_read *r, git_odb *odb, twin_packread *packs, const git_oid *id)
{
    *r = (struct obj_read){0};
    int got = packs ? twin_packread_get(&r->pobj, packs, id) : 0;
    if (got < 0)
        return got;
    if (!got && git_odb_read(&r->obj, odb, id) < 0)
        return twin_error(TWIN_ERROR, "object %s cannot be read, the store is damaged: %s",
                          git_oid_tostr_s(id),
                          git_error_last() ? git_error_last()->message : "libgit2 error");
    r->data = r->pobj ? r->pobj->data : git_odb_object_data(r->obj);
    r->len = r->pobj ? r->pobj->size : git_odb_object_size(r->obj);
    r->type = r->pobj ? r->pobj->type : git_odb_object_type(r->obj);
    return 0;
}

static void obj_done(struct obj_read *r)
{
    twin_packread_release(r->pobj);
    git_odb_object_free(r->obj);
    *r = (struct obj_read){0};
}

struct pack_out {
    twin_packbuild_sink sink;
    void *ctx;
    twin_sha1_ctx sha;
    struct bytes buf;
    uint64_t offset; /* bytes written so far */
    struct bytes delta;
};

static int out_flush(struct pack_out *o)
{
    if (o->buf.len == 0)
        return 0;
    int rc = o->sink(o->buf.p, o->buf.len, o->ctx);
    o->buf.len = 0;
    return rc;
}

static int out_write(struct pack_out *o, const void *p, size_t n)
{
    const unsigned char *c = p;
    twin_sha1_update(&o->sha, c, n);
    o->offset += n;
    while (n > 0) {
        size_t take = OUT_BUF_BYTES - o->buf.len < n ? OUT_BUF_BYTES - o->buf.len : n;
        bytes_put(&o->buf, c, take);
        c += take;
        n -= take;
        int rc;
        if (o->buf.len == OUT_BUF_BYTES && (rc = out_flush(o)))
            return rc;
    }
    return 0;
}

static int out_put(const void *p, size_t n, void *ctx)
{
    return out_write(ctx, p, n);
}

/* One pack entry: header, the base's distance for a delta, then the data as a zlib stream of
 * stored blocks with its Adler-32. */
static int write_entry(struct pack_out *o, int type, const unsigned char *data, size_t len,
                       uint64_t base_distance)
{
    return twin_gitfmt_entry_stored_write(type, base_distance, data, len, out_put, o);
}

static int write_object(struct pack_out *o, git_odb *odb, twin_packread *packs,
                        const struct pack_obj *po, struct base_slot *trees, struct base_slot *blobs)
{
    struct obj_read obj, base = {0};
    int rc = obj_read(&obj, odb, packs, &po->id);
    if (rc)
        return rc;
    uint64_t at = o->offset;
    struct base_slot *slot = NULL;
    if (po->path_hash && obj.type == GIT_OBJECT_TREE)
        slot = &trees[po->path_hash % TREE_SLOTS];
    else if (po->path_hash && obj.type == GIT_OBJECT_BLOB)
        slot = &blobs[po->path_hash % BLOB_SLOTS];
    if (slot && (slot->path_hash != po->path_hash || slot->type != obj.type ||
                 slot->versions == UINT32_MAX)) {
        slot->path_hash = po->path_hash; /* another path took the slot: start over */
        slot->type = obj.type;
        slot->versions = 0;
        slot->n = 0;
    }
    const struct base_version *from = NULL;
    if (slot && slot->versions > 0) {
        uint32_t v = slot->versions, b = v & (v - 1);
        while (slot->n > 0 && slot->stack[slot->n - 1].index > b)
            slot->n--;
        if (slot->n > 0 && slot->stack[slot->n - 1].index == b)
            from = &slot->stack[slot->n - 1];
    }
    bool delta = false;
    if (from && obj.len >= 64 && (rc = obj_read(&base, odb, packs, &from->id)) == 0 &&
        base.type == obj.type) {
        o->delta.len = twin_pack_delta_make(&o->delta.p, &o->delta.cap, obj.type, base.data,
                                            base.len, obj.data, obj.len);
        delta = o->delta.len > 0;
    }
    if (rc == 0)
        rc = delta ? write_entry(o, TWIN_GITFMT_OFS_DELTA, o->delta.p, o->delta.len,
                                 at - from->offset)
                   : write_entry(o, obj.type, obj.data, obj.len, 0);
    if (rc == 0 && slot) {
        if (slot->n == BASE_LEVELS) /* cannot happen: n's bits number at most 32 */
            slot->n = 0;
        slot->stack[slot->n++] = (struct base_version){slot->versions, at, po->id};
        slot->versions++;
    }
    obj_done(&base);
    obj_done(&obj);
    return rc;
}

static int write_pack(git_repository *repo, const struct pack_list *l, twin_packread *packs,
                      twin_packbuild_sink sink, void *ctx)
{
    struct pack_out o = {.sink = sink, .ctx = ctx};
    struct base_slot *trees = calloc(TREE_SLOTS, sizeof(*trees)),
                     *blobs = calloc(BLOB_SLOTS, sizeof(*blobs));
    git_odb *odb = NULL;
    int rc = 0;
    twin_sha1_init(&o.sha);
    if (!trees || !blobs || bytes_reserve(&o.buf, OUT_BUF_BYTES))
        rc = twin_error(TWIN_ERROR, "out of memory");
    else if (git_repository_odb(&odb, repo) < 0)
        rc = twin_error_git("building a pack");
    if (rc == 0) {
        unsigned char hdr[TWIN_GITFMT_PACK_HEADER];
        twin_gitfmt_pack_header_put(hdr, (uint32_t)l->n);
        rc = out_write(&o, hdr, sizeof(hdr));
    }
    for (size_t i = 0; rc == 0 && i < l->n; i++)
        rc = write_object(&o, odb, packs, &l->v[i], trees, blobs);
    if (rc == 0) {
        unsigned char trailer[20];
        twin_sha1_final(&o.sha, trailer);
        if ((rc = out_flush(&o)) == 0)
            rc = sink(trailer, sizeof(trailer), ctx);
    }
    free(trees);
    free(blobs);
    free(o.buf.p);
    free(o.delta.p);
    git_odb_free(odb);
    return rc;
}

/* ---- the walk on several threads ------------------------------------------------------------
 * Finding the objects of every commit is most of what the sender does before the first byte can
 * go, and what a commit adds depends only on the commit and its first parent's tree. So the
 * commits, oldest first, are cut into contiguous chunks that threads take in turn, each with its
 * own repository handle (libgit2 wants one per thread), tree cache and pack reader; within a chunk
 * the first parent is most often the commit before, as on one thread. A thread keeps what each
 * commit adds as (id, path hash) records, in the order add_commit finds them, and the calling
 * thread hands a chunk's records to the pack's list once every earlier chunk's are in: the list,
 * which leaves out repeats, then holds the same objects in the same order as a walk on one thread
 * makes, and the pack is the same byte for byte. No more than a window of chunks is out at a
 * time, so the records waiting for the list stay few. A short history, or a machine with one
 * core, is walked on the calling thread. */
#define WALK_THREADS_MAX 4
#define WALK_MIN_COMMITS 256               /* fewer: the calling thread walks them */
#define WALK_CHUNK_MIN   32                /* commits */
#define WALK_CHUNK_MAX   4096              /* about a megabyte of records */
#define WALK_WINDOW      4                 /* chunks out at a time, per thread */
#define WALK_RECS_KEEP   ((size_t)1 << 16) /* a slot keeps this many records' room for reuse */

struct walk_chunk {
    struct obj_recs recs;
    bool done; /* under the lock: recs, or rc and error, are ready for the list */
    int rc;
    char error[512];
};

struct par_walk {
    const char *repo_path;
    const git_oid *ids;
    size_t count, threads, window;
    struct walk_chunk *slots; /* chunk k in slot k % window */
    pthread_mutex_t lock;
    pthread_cond_t chunk_done, slot_free;
    /* Under lock: the first commit no chunk has taken yet, the chunks taken, and those handed to
     * the list. */
    size_t next, taken, consumed;
    /* Chunks from this one on are not wanted (an earlier one failed): none is taken, and those
     * being walked are left where they are. */
    atomic_size_t wanted;
};

/* Lowers p->wanted to at most n. */
static void walk_want_below(struct par_walk *p, size_t n)
{
    size_t now = atomic_load(&p->wanted);
    while (n < now && !atomic_compare_exchange_weak(&p->wanted, &now, n))
        ;
}

/* Commits [from, to) of chunk k: as on one thread, with no previous commit at the start. */
static int walk_chunk(struct changed_walk *w, struct par_walk *p, size_t k, size_t from, size_t to)
{
    int rc = 0;
    w->have_last = false;
    for (size_t i = from; rc == 0 && i < to && k < atomic_load(&p->wanted); i++)
        rc = add_commit(w, &p->ids[i]);
    return rc;
}

static void *walk_thread(void *arg)
{
    struct par_walk *p = arg;
    git_repository *repo = NULL;
    struct changed_walk w = {.diff = {.trees = true}};
    char setup_error[512] = "";
    int setup = 0;
    if (git_repository_open_bare(&repo, p->repo_path) < 0)
        setup = twin_error_git("opening the repository for a pack");
    else if ((setup = twin_treecache_new(&w.diff.cache)) == 0)
        twin_treecache_trust_store(w.diff.cache); /* as on one thread: the receiver hashes */
    if (setup)
        snprintf(setup_error, sizeof(setup_error), "%s", twin_error_last());
    w.repo = w.diff.repo = repo;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->taken < atomic_load(&p->wanted) && p->next < p->count &&
               p->taken >= p->consumed + p->window)
            pthread_cond_wait(&p->slot_free, &p->lock);
        if (p->taken >= atomic_load(&p->wanted) || p->next >= p->count)
            break;
        /* A quarter of this thread's share of what is left: long chunks first, so that each
         * thread's caches serve many commits, and shorter ones towards the end, so that the
         * threads finish together. */
        size_t from = p->next, len = (p->count - from) / (p->threads * 4);
        len = len < WALK_CHUNK_MIN ? WALK_CHUNK_MIN : len > WALK_CHUNK_MAX ? WALK_CHUNK_MAX : len;
        size_t to = p->count - from > len ? from + len : p->count;
        size_t k = p->taken++;
        struct walk_chunk *c = &p->slots[k % p->window];
        p->next = to;
        pthread_mutex_unlock(&p->lock);
        c->recs.n = 0;
        w.recs = &c->recs;
        if ((c->rc = setup) != 0)
            snprintf(c->error, sizeof(c->error), "%s", setup_error);
        else if ((c->rc = walk_chunk(&w, p, k, from, to)) != 0)
            snprintf(c->error, sizeof(c->error), "%s", twin_error_last());
        pthread_mutex_lock(&p->lock);
        c->done = true;
        if (c->rc)
            walk_want_below(p, k + 1); /* the chunks before this one are still finished */
        pthread_cond_signal(&p->chunk_done);
    }
    pthread_mutex_unlock(&p->lock);
    twin_treediff_clear(&w.diff);
    twin_treecache_free(w.diff.cache);
    git_repository_free(repo);
    return NULL;
}

/* Adds the objects of commits ids[0..count) to list on `threads` threads. The first error in
 * commit order is the one returned, as on one thread: the chunks are taken in order, and those
 * before a chunk that failed are still finished, while those after it stop at once. */
static int walk_parallel(struct pack_list *list, git_repository *repo, const git_oid *ids,
                         size_t count, size_t threads)
{
    struct par_walk p = {.repo_path = git_repository_path(repo),
                         .ids = ids,
                         .count = count,
                         .threads = threads,
                         .window = threads * WALK_WINDOW};
    atomic_init(&p.wanted, SIZE_MAX);
    pthread_t tids[WALK_THREADS_MAX];
    size_t started = 0;
    int rc = 0;
    if (!(p.slots = calloc(p.window, sizeof(*p.slots))))
        return twin_error(TWIN_ERROR, "out of memory");
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.chunk_done, NULL);
    pthread_cond_init(&p.slot_free, NULL);
    /* Fewer threads than asked for take every chunk all the same. */
    for (; started < threads; started++)
        if (pthread_create(&tids[started], NULL, walk_thread, &p) != 0)
            break;
    if (started == 0)
        rc = twin_error(TWIN_ERROR, "cannot start a thread to walk the commits for a pack");
    for (size_t k = 0; rc == 0; k++) {
        struct walk_chunk *c = &p.slots[k % p.window];
        pthread_mutex_lock(&p.lock);
        while (!c->done && !(k == p.taken && p.next == p.count))
            pthread_cond_wait(&p.chunk_done, &p.lock);
        bool finished = !c->done;
        pthread_mutex_unlock(&p.lock);
        if (finished) /* every chunk is in the list */
            break;
        /* The slot is the calling thread's until it is counted as consumed. */
        if (c->rc)
            rc = twin_error(c->rc, "%s", c->error);
        for (size_t i = 0; rc == 0 && i < c->recs.n; i++)
            rc = list_add(list, &c->recs.v[i].id, c->recs.v[i].path_hash);
        if (c->recs.cap > WALK_RECS_KEEP) {
            free(c->recs.v);
            c->recs = (struct obj_recs){0};
        }
        pthread_mutex_lock(&p.lock);
        c->done = false;
        p.consumed++;
        pthread_cond_broadcast(&p.slot_free);
        pthread_mutex_unlock(&p.lock);
    }
    pthread_mutex_lock(&p.lock);
    walk_want_below(&p, 0); /* all consumed, or the first error found: the threads stop */
    pthread_cond_broadcast(&p.slot_free);
    pthread_mutex_unlock(&p.lock);
    for (size_t t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    for (size_t i = 0; i < p.window; i++)
        free(p.slots[i].recs.v);
    free(p.slots);
    pthread_cond_destroy(&p.slot_free);
    pthread_cond_destroy(&p.chunk_done);
    pthread_mutex_destroy(&p.lock);
    return rc;
}

/* The threads to walk count commits on: `asked`, or 0 for one per core, at most
 * WALK_THREADS_MAX; one for a short history, or for a repository with no directory to open again
 * on other threads. */
static size_t walk_threads(int asked, size_t count, git_repository *repo)
{
    size_t n = asked > 0 ? (size_t)asked : 0;
    if (n == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (size_t)cores : 1;
    }
    if (n > WALK_THREADS_MAX)
        n = WALK_THREADS_MAX;
    if (count < WALK_MIN_COMMITS || !git_repository_path(repo))
        n = 1;
    return n;
}

int twin_packbuild_stream(size_t *commits, git_repository *repo, const git_oid *wants,
                          size_t nwants, const git_oid *haves, size_t nhaves,
                          twin_packbuild_sink sink, void *ctx)
{
    return twin_packbuild_stream_threads(commits, repo, wants, nwants, haves, nhaves, 0, sink, ctx);
}

int twin_packbuild_stream_threads(size_t *commits, git_repository *repo, const git_oid *wants,
                                  size_t nwants, const git_oid *haves, size_t nhaves, int threads,
                                  twin_packbuild_sink sink, void *ctx)
{
    git_revwalk *walk = NULL;
    git_oid *ids = NULL, id;
    size_t cap = 0;
    struct pack_list list = {0};
    struct changed_walk w = {.repo = repo, .list = &list, .diff = {.repo = repo, .trees = true}};
    int rc;
    *commits = 0;
    if ((rc = build_settings()))
        return rc;
    if ((rc = twin_treecache_new(&w.diff.cache))) {
        twin_gitopts_end(BUILD_OPTS);
        return rc;
    }
    /* The receiver hashes every object it is sent, as the store hashed each one on its way in. */
    twin_treecache_trust_store(w.diff.cache);
    /* Oldest first, so every path's earlier versions are in the pack before its later ones. A
     * reversed walk has every commit before it gives the first, so the ids are gathered first and
     * the threads share them out. A whole history (one head, nothing the receiver holds) is
     * listed by twin's own walk, which reads each commit once out of the packs. */
    if (nwants == 1 && !holds_any(repo, haves, nhaves)) {
        if ((rc = twin_history_walk(&ids, commits, repo, &wants[0])))
            goto cleanup;
        goto walked;
    }
    if ((rc = setup_walk(&walk, repo, wants, nwants, haves, nhaves)))
        goto cleanup;
    if (git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0) {
        rc = twin_error_git("walking the commits for a pack");
        goto cleanup;
    }
    while ((rc = git_revwalk_next(&id, walk)) == 0) {
        if ((rc = twin_util_grow((void **)&ids, &cap, *commits + 1, sizeof(*ids))))
            goto cleanup;
        ids[(*commits)++] = id;
    }
    if (rc != GIT_ITEROVER) {
        rc = twin_error_git("walking the commits for a pack");
        goto cleanup;
    }
    git_revwalk_free(walk);
    walk = NULL;
walked:;
    size_t n = walk_threads(threads, *commits, repo);
    rc = 0;
    if (n > 1)
        rc = walk_parallel(&list, repo, ids, *commits, n);
    for (size_t i = 0; n == 1 && rc == 0 && i < *commits; i++)
        rc = add_commit(&w, &ids[i]);
    free(ids);
    ids = NULL;
    if (rc == 0)
        rc = write_pack(repo, &list, twin_treecache_packs(w.diff.cache, repo), sink, ctx);
cleanup:
    twin_treediff_clear(&w.diff);
    twin_treecache_free(w.diff.cache);
    free(ids);
    free(list.v);
    free(list.set);
    git_revwalk_free(walk);
    twin_gitopts_end(BUILD_OPTS);
    return rc;
}

/* ---- libgit2's pack, the baseline ------------------------------------------------------------
 * The switch back to the library: libgit2's packbuilder packs the same commits, with the trees
 * and blobs of each that the haves' trees do not hold, and searches a window of candidates for
 * every object's delta, on every core. Its walk gives no count of the commits, so a walk of their
 * own counts them first. It reads with the same trust as twin's build (the receiver hashes what
 * it is sent) and keeps libgit2's object cache, which its walk leans on: it looks every subtree
 * of every commit up before it finds the subtree was packed already. */

struct git_sink {
    twin_packbuild_sink sink;
    void *ctx;
    int rc;
};

static int git_sink_chunk(void *buf, size_t size, void *payload)
{
    struct git_sink *s = payload;
    s->rc = s->sink(buf, size, s->ctx);
    return s->rc;
}

int twin_packbuild_stream_libgit2(size_t *commits, git_repository *repo, const git_oid *wants,
                                  size_t nwants, const git_oid *haves, size_t nhaves,
                                  twin_packbuild_sink sink, void *ctx)
{
    git_revwalk *walk = NULL;
    git_packbuilder *pb = NULL;
    struct git_sink s = {sink, ctx, 0};
    git_oid id;
    *commits = 0;
    const unsigned opts = TWIN_GITOPTS_UNHASHED | TWIN_GITOPTS_SMALL_WINDOWS;
    int rc = twin_gitopts_begin(opts);
    if (rc)
        return rc;
    if ((rc = setup_walk(&walk, repo, wants, nwants, haves, nhaves)))
        goto cleanup;
    while ((rc = git_revwalk_next(&id, walk)) == 0)
        (*commits)++;
    git_revwalk_free(walk);
    walk = NULL;
    if (rc != GIT_ITEROVER) {
        rc = twin_error_git("walking the commits for a pack");
        goto cleanup;
    }
    if ((rc = setup_walk(&walk, repo, wants, nwants, haves, nhaves)))
        goto cleanup;
    if (git_packbuilder_new(&pb, repo) < 0) {
        rc = twin_error_git("building a pack with libgit2");
        goto cleanup;
    }
    git_packbuilder_set_threads(pb, 0); /* one per core */
    if (git_packbuilder_insert_walk(pb, walk) < 0) {
        rc = twin_error_git("building a pack with libgit2");
        goto cleanup;
    }
    rc = git_packbuilder_foreach(pb, git_sink_chunk, &s);
    if (s.rc)
        rc = s.rc; /* the sink's own code, as twin's build hands it back */
    else if (rc < 0)
        rc = twin_error_git("building a pack with libgit2");
cleanup:
    git_packbuilder_free(pb);
    git_revwalk_free(walk);
    twin_gitopts_end(opts);
    return rc;
}
