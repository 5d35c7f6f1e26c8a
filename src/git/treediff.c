#include "git/treediff.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git/gitfmt.h"
#include "git/packread.h"
#include "git/treecache.h"
#include "base/sha1.h"
#include "twin/error.h"
#include "twin/tree.h"
#include "base/util.h"

static void ent_of(struct twin_treecache_ent *e, const git_tree_entry *te)
{
    e->name = git_tree_entry_name(te);
    e->len = strlen(e->name);
    e->mode = git_tree_entry_filemode(te);
    git_oid_cpy(&e->id, git_tree_entry_id(te));
}

/* ---- the walk ------------------------------------------------------------------------------- */

static int add_change(struct twin_treediff *w, const char *path, const struct twin_treecache_ent *o,
                      const struct twin_treecache_ent *n)
{
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        if (cap > TWIN_TREEDIFF_MAX_CHANGES) {
            snprintf(w->fault, sizeof(w->fault), "changes more than %d files",
                     TWIN_TREEDIFF_MAX_CHANGES);
            return 1;
        }
        struct twin_change *c = realloc(w->changes, cap * sizeof(*c));
        if (!c)
            return twin_error(TWIN_ERROR, "out of memory");
        w->changes = c;
        w->cap = cap;
    }
    struct twin_change *c = &w->changes[w->count++];
    size_t len = strlen(path);
    if (len >= sizeof(c->path))
        len = sizeof(c->path) - 1;
    memcpy(c->path, path, len);
    c->path[len] = '\0';
    c->has_old = o != NULL;
    c->has_new = n != NULL;
    c->is_tree = false;
    memset(&c->old_id, 0, sizeof(c->old_id));
    memset(&c->new_id, 0, sizeof(c->new_id));
    if (o)
        c->old_id = o->id;
    if (n)
        c->new_id = n->id;
    return 0;
}

static int diff_trees(struct twin_treediff *w, const git_tree *old_tree, const git_tree *new_tree,
                      const char *prefix, int depth);
static int diff_raw(struct twin_treediff *w, struct twin_treecache_tree *ot,
                    struct twin_treecache_tree *nt, const char *prefix, int depth);

/* 0 when the new tree id (read into nt, or NULL when the cache had no slot for it) is in git's
 * canonical form; else 1 with the fault set, or an error. */
static int check_canonical(struct twin_treediff *w, const struct twin_treecache_tree *nt,
                           const git_oid *id, const char *path)
{
    char why[300];
    if (nt && nt->canonical)
        return 0;
    if (nt) {
        twin_treecache_fault(why, sizeof(why), nt->data, nt->size);
    } else {
        git_odb *odb = NULL;
        git_odb_object *obj = NULL;
        int missing = git_repository_odb(&odb, w->repo) < 0 || git_odb_read(&obj, odb, id) < 0;
        git_odb_free(odb);
        if (missing)
            return 0; /* the walk below names it */
        twin_treecache_fault(why, sizeof(why), git_odb_object_data(obj), git_odb_object_size(obj));
        git_odb_object_free(obj);
    }
    if (!why[0])
        return 0;
    snprintf(w->fault, sizeof(w->fault), "%s%s: tree %.12s is not in git's canonical form: %s",
             path[0] ? "" : "the root tree", path, git_oid_tostr_s(id), why);
    return 1;
}

/* Compares two subtrees (either may be absent): on their bytes when both are canonical, else
 * as libgit2 reads them. */
static int diff_subtrees(struct twin_treediff *w, const git_oid *o, const git_oid *n,
                         const char *path, const char *prefix, int depth)
{
    struct twin_treecache_tree *ot = NULL, *nt = NULL;
    int rc;
    if (o && (rc = twin_treecache_get(&ot, w->cache, o, NULL)) < 0)
        return rc;
    if (ot && !ot->canonical)
        ot = NULL;
    /* Read the new side only when the old one can be compared on its bytes (the old one pinned
     * meanwhile, so that the read cannot take its slot); else read it once anyway, so that it is
     * hashed before libgit2 reads it below. */
    if (ot)
        ot->pinned++;
    rc = (ot || !o || w->canonical_trees) && n ? twin_treecache_get(&nt, w->cache, n, ot) : 0;
    if (ot)
        ot->pinned--;
    if (rc < 0)
        return rc;
    /* Every tree a commit changes must be in git's canonical form, so that every git reads it
     * the same way (and git fsck passes): sorted, unique names, modes 40000 and 100644 only,
     * no empty, '.', '..' or '.git' names. */
    if (n && w->canonical_trees && (rc = check_canonical(w, nt, n, path)))
        return rc;
    /* A new side that libgit2 reads below is read through the cache first, which hashes it:
     * libgit2 may not (gitopts.h). */
    struct twin_treecache_tree *probe = NULL;
    if (!(ot || !o) && n && !w->canonical_trees &&
        (rc = twin_treecache_get(&probe, w->cache, n, NULL)) < 0)
        return rc;
    if ((!o || ot) && (!n || (nt && nt->canonical))) {
        rc = diff_raw(w, ot, nt, prefix, depth);
        /* The new version replaces the old one on this path: the old one is the first to go
         * when a slot is wanted. */
        if (ot && n)
            twin_treecache_replaced(w->cache, ot);
        return rc;
    }
    git_tree *a = NULL, *b = NULL;
    rc = o ? twin_tree_open(&a, w->repo, o, *path ? path : "a commit's tree") : 0;
    if (rc == 0 && n)
        rc = twin_tree_open(&b, w->repo, n, *path ? path : "a commit's tree");
    if (rc == 0)
        rc = diff_trees(w, a, b, prefix, depth);
    git_tree_free(a);
    git_tree_free(b);
    return rc;
}

/* The path of a changed entry, prefix then name, in path (512 bytes); 1 with w->fault set when it
 * is too long, is neither a plain file nor a directory, or changes between the two. */
static int entry_path(struct twin_treediff *w, char path[512], const char *prefix, const char *name,
                      size_t len, const struct twin_treecache_ent *o,
                      const struct twin_treecache_ent *n)
{
    size_t plen = strlen(prefix);
    if (plen + len >= 512) {
        snprintf(w->fault, sizeof(w->fault), "path too long under %s", prefix);
        return 1;
    }
    memcpy(path, prefix, plen);
    memcpy(path + plen, name, len);
    path[plen + len] = '\0';
    git_filemode_t om = o ? o->mode : 0, nm = n ? n->mode : 0;
    if ((o && om != GIT_FILEMODE_TREE && om != GIT_FILEMODE_BLOB) ||
        (n && nm != GIT_FILEMODE_TREE && nm != GIT_FILEMODE_BLOB)) {
        snprintf(w->fault, sizeof(w->fault), "%s: only plain files and directories are allowed",
                 path);
        return 1;
    }
    if (o && n && om != nm) {
        snprintf(w->fault, sizeof(w->fault), "%s: changes between file and directory", path);
        return 1;
    }
    return 0;
}

static int diff_entry(struct twin_treediff *w, const struct twin_treecache_ent *o,
                      const struct twin_treecache_ent *n, const char *prefix, int depth)
{
    char path[512];
    const struct twin_treecache_ent *e = o ? o : n;
    size_t plen = strlen(prefix);
    if (entry_path(w, path, prefix, e->name, e->len, o, n))
        return 1;
    git_filemode_t om = o ? o->mode : 0, nm = n ? n->mode : 0;
    if ((o ? om : nm) == GIT_FILEMODE_TREE) {
        char sub[520];
        int rc;
        if (w->trees && n && (rc = add_change(w, path, o, n)))
            return rc;
        if (w->trees && n)
            w->changes[w->count - 1].is_tree = true;
        memcpy(sub, path, plen + e->len);
        sub[plen + e->len] = '/';
        sub[plen + e->len + 1] = '\0';
        return diff_subtrees(w, o ? &o->id : NULL, n ? &n->id : NULL, path, sub, depth + 1);
    }
    return add_change(w, path, o, n);
}

/* Entry by entry, pairing by name: the order libgit2 gives, whatever the trees hold. */
static int diff_trees(struct twin_treediff *w, const git_tree *old_tree, const git_tree *new_tree,
                      const char *prefix, int depth)
{
    if (depth > TWIN_TREEDIFF_MAX_DEPTH) {
        snprintf(w->fault, sizeof(w->fault), "%s: directories nested too deep", prefix);
        return 1;
    }
    size_t nn = new_tree ? git_tree_entrycount(new_tree) : 0;
    size_t on = old_tree ? git_tree_entrycount(old_tree) : 0;
    int rc;
    for (size_t i = 0; i < nn; i++) {
        const git_tree_entry *n = git_tree_entry_byindex(new_tree, i);
        const git_tree_entry *o =
            old_tree ? git_tree_entry_byname(old_tree, git_tree_entry_name(n)) : NULL;
        if (o && git_oid_equal(git_tree_entry_id(o), git_tree_entry_id(n)) &&
            git_tree_entry_filemode(o) == git_tree_entry_filemode(n))
            continue;
        struct twin_treecache_ent oe, ne;
        if (o)
            ent_of(&oe, o);
        ent_of(&ne, n);
        if ((rc = diff_entry(w, o ? &oe : NULL, &ne, prefix, depth)))
            return rc;
    }
    for (size_t i = 0; i < on; i++) {
        const git_tree_entry *o = git_tree_entry_byindex(old_tree, i);
        if (new_tree && git_tree_entry_byname(new_tree, git_tree_entry_name(o)))
            continue;
        struct twin_treecache_ent oe;
        ent_of(&oe, o);
        if ((rc = diff_entry(w, &oe, NULL, prefix, depth)))
            return rc;
    }
    return 0;
}

/* The index of the first byte where a and b differ, or n. */
/* Two canonical trees (either may be absent): names are unique, so pairing entries by name is
 * a merge of the two sorted lists, and entries identical in both are unchanged. The changes come
 * in the order the by-name walk gives them: the new tree's entries, then the removed ones. */
static int diff_raw_pinned(struct twin_treediff *w, const struct twin_treecache_tree *ot,
                           const struct twin_treecache_tree *nt, const char *prefix, int depth)
{
    if (depth > TWIN_TREEDIFF_MAX_DEPTH) {
        snprintf(w->fault, sizeof(w->fault), "%s: directories nested too deep", prefix);
        return 1;
    }
    size_t on = ot ? ot->n : 0, nn = nt ? nt->n : 0, lo = 0, ohi = on, nhi = nn;
    if (ot && nt) {
        /* Whole entries alike at the start, then at the end. */
        size_t min = ot->size < nt->size ? ot->size : nt->size;
        size_t same = twin_treecache_common_prefix(ot->data, nt->data, min);
        lo = twin_treecache_entry_at_or_after(ot, same);
        if (lo > 0 && ot->offsets[lo] > same)
            lo--;
        if (lo > on || lo > nn)
            lo = on < nn ? on : nn;
        size_t start = ot->offsets[lo] > nt->offsets[lo] ? ot->offsets[lo] : nt->offsets[lo];
        size_t tail =
            twin_treecache_common_suffix(ot->data, ot->size, nt->data, nt->size, min - start);
        size_t oe = twin_treecache_entry_at_or_after(ot, ot->size - tail);
        size_t ne = nn - (on - oe);
        if (oe >= lo && oe <= on && on - oe <= nn && ne >= lo &&
            nt->offsets[ne] == nt->size - (ot->size - ot->offsets[oe])) {
            ohi = oe;
            nhi = ne;
        }
    }
    int rc;
    struct twin_treecache_ent o, n;
    size_t i = lo;
    for (size_t j = lo; j < nhi; j++) {
        twin_treecache_ent_at(&n, nt, j);
        int c = 1;
        while (i < ohi) {
            twin_treecache_ent_at(&o, ot, i);
            c = twin_gitfmt_tree_order(o.name, o.len, o.mode == GIT_FILEMODE_TREE, n.name, n.len,
                                       n.mode == GIT_FILEMODE_TREE);
            if (c >= 0)
                break;
            i++;
        }
        if (i < ohi && c == 0) {
            i++;
            if (git_oid_equal(&o.id, &n.id))
                continue; /* same mode: the keys differ between file and directory */
            if ((rc = diff_entry(w, &o, &n, prefix, depth)))
                return rc;
            continue;
        }
        long other = twin_treecache_find(ot, n.name, n.len, n.mode != GIT_FILEMODE_TREE);
        if (other >= 0)
            twin_treecache_ent_at(&o, ot, (size_t)other);
        if ((rc = diff_entry(w, other >= 0 ? &o : NULL, &n, prefix, depth)))
            return rc;
    }
    size_t j = lo;
    for (i = lo; i < ohi; i++) {
        twin_treecache_ent_at(&o, ot, i);
        int c = 1;
        while (j < nhi) {
            twin_treecache_ent_at(&n, nt, j);
            c = twin_gitfmt_tree_order(n.name, n.len, n.mode == GIT_FILEMODE_TREE, o.name, o.len,
                                       o.mode == GIT_FILEMODE_TREE);
            if (c >= 0)
                break;
            j++;
        }
        if ((j < nhi && c == 0) ||
            twin_treecache_find(nt, o.name, o.len, o.mode != GIT_FILEMODE_TREE) >= 0)
            continue;
        if ((rc = diff_entry(w, &o, NULL, prefix, depth)))
            return rc;
    }
    return 0;
}

static int diff_raw(struct twin_treediff *w, struct twin_treecache_tree *ot,
                    struct twin_treecache_tree *nt, const char *prefix, int depth)
{
    if (ot)
        ot->pinned++;
    if (nt)
        nt->pinned++;
    int rc = diff_raw_pinned(w, ot, nt, prefix, depth);
    if (ot)
        ot->pinned--;
    if (nt)
        nt->pinned--;
    return rc;
}

/* ---- the baseline: libgit2's diff ------------------------------------------------------------ */

/* libgit2 names the changed files (git_diff_tree_to_tree); they are then put in the order of
 * twin's walk, and its rules applied, by walking down only the directories they lie in, each
 * level's names looked up in both trees as libgit2 parses them. */
struct lg_walk {
    struct twin_treediff *w;
    const char **paths; /* the changed files' paths, in byte order */
    size_t n;
};

struct lg_name {
    const char *name; /* not terminated: len bytes, in a path */
    size_t len;
    size_t lo, hi;         /* the paths under name/ */
    git_tree_entry *o, *n; /* the entries of that name in the old and the new tree */
};

static int lg_path_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names on the new side first, in git's order of the new tree; then those only on the old side,
 * in the order of the old tree: the order twin's walk gives. */
static int lg_name_cmp(const void *pa, const void *pb)
{
    const struct lg_name *a = pa, *b = pb;
    if (!a->n != !b->n)
        return a->n ? -1 : 1;
    const git_tree_entry *ea = a->n ? a->n : a->o, *eb = b->n ? b->n : b->o;
    return twin_gitfmt_tree_order(a->name, a->len, git_tree_entry_filemode(ea) == GIT_FILEMODE_TREE,
                                  b->name, b->len,
                                  git_tree_entry_filemode(eb) == GIT_FILEMODE_TREE);
}

static int lg_level(struct lg_walk *g, size_t lo, size_t hi, const char *prefix,
                    const git_tree *old_tree, const git_tree *new_tree, int depth);

/* One name of a level, as diff_entry takes it. */
static int lg_entry(struct lg_walk *g, const struct lg_name *e, const char *prefix, int depth)
{
    struct twin_treediff *w = g->w;
    struct twin_treecache_ent oe, ne;
    const struct twin_treecache_ent *o = e->o ? &oe : NULL, *n = e->n ? &ne : NULL;
    if (e->o)
        ent_of(&oe, e->o);
    if (e->n)
        ent_of(&ne, e->n);
    if (o && n && o->mode == n->mode && git_oid_equal(&o->id, &n->id))
        return 0;
    char path[512];
    size_t plen = strlen(prefix);
    if (entry_path(w, path, prefix, e->name, e->len, o, n))
        return 1;
    git_filemode_t om = o ? o->mode : 0, nm = n ? n->mode : 0;
    if ((o ? om : nm) != GIT_FILEMODE_TREE)
        return add_change(w, path, o, n);
    int rc;
    if (w->trees && n && (rc = add_change(w, path, o, n)))
        return rc;
    if (w->trees && n)
        w->changes[w->count - 1].is_tree = true;
    if (n && w->canonical_trees && (rc = check_canonical(w, NULL, &n->id, path)))
        return rc;
    git_tree *a = NULL, *b = NULL;
    rc = o ? twin_tree_open(&a, w->repo, &o->id, path) : 0;
    if (rc == 0 && n)
        rc = twin_tree_open(&b, w->repo, &n->id, path);
    if (rc == 0) {
        char sub[520];
        memcpy(sub, path, plen + e->len);
        sub[plen + e->len] = '/';
        sub[plen + e->len + 1] = '\0';
        rc = lg_level(g, e->lo, e->hi, sub, a, b, depth + 1);
    }
    git_tree_free(a);
    git_tree_free(b);
    return rc;
}

/* The changed paths lo..hi, all under prefix, in the trees of that directory. */
static int lg_level(struct lg_walk *g, size_t lo, size_t hi, const char *prefix,
                    const git_tree *old_tree, const git_tree *new_tree, int depth)
{
    struct twin_treediff *w = g->w;
    if (depth > TWIN_TREEDIFF_MAX_DEPTH) {
        snprintf(w->fault, sizeof(w->fault), "%s: directories nested too deep", prefix);
        return 1;
    }
    size_t plen = strlen(prefix), count = 0, cap = 0;
    struct lg_name *names = NULL;
    int rc = 0;
    for (size_t i = lo; i < hi && rc == 0;) {
        const char *name = g->paths[i] + plen, *slash = strchr(name, '/');
        size_t len = slash ? (size_t)(slash - name) : strlen(name), end = i + 1;
        if (slash) /* the paths under name/ follow each other */
            while (end < hi && strncmp(g->paths[end] + plen, name, len + 1) == 0)
                end++;
        /* A file and a directory of one name are one name: between them in byte order lie only
         * names that start with it. */
        struct lg_name *e = NULL;
        for (size_t k = count;
             k-- > 0 && names[k].len >= len && memcmp(names[k].name, name, len) == 0;)
            if (names[k].len == len)
                e = &names[k];
        if (!e) {
            if (twin_util_grow((void **)&names, &cap, count + 1, sizeof(*names))) {
                rc = TWIN_ERROR;
                break;
            }
            e = &names[count++];
            *e = (struct lg_name){.name = name, .len = len};
            char key[256];
            if (len < sizeof(key)) {
                memcpy(key, name, len);
                key[len] = '\0';
                const git_tree_entry *te;
                if (old_tree && (te = git_tree_entry_byname(old_tree, key)) &&
                    git_tree_entry_dup(&e->o, te) < 0)
                    rc = twin_error(TWIN_ERROR, "out of memory");
                if (new_tree && (te = git_tree_entry_byname(new_tree, key)) &&
                    git_tree_entry_dup(&e->n, te) < 0)
                    rc = twin_error(TWIN_ERROR, "out of memory");
            }
        }
        if (slash) {
            e->lo = i;
            e->hi = end;
        }
        i = end;
    }
    size_t kept = 0;
    for (size_t k = 0; k < count; k++)
        if (names[k].o || names[k].n)
            names[kept++] = names[k];
    if (rc == 0 && kept > 1)
        qsort(names, kept, sizeof(*names), lg_name_cmp);
    for (size_t k = 0; k < kept && rc == 0; k++)
        rc = lg_entry(g, &names[k], prefix, depth);
    for (size_t k = 0; k < kept; k++) {
        git_tree_entry_free(names[k].o);
        git_tree_entry_free(names[k].n);
    }
    free(names);
    return rc;
}

static int lg_diff(struct twin_treediff *d, const git_oid *old_id, const git_oid *new_id)
{
    git_tree *a = NULL, *b = NULL;
    git_diff *diff = NULL;
    struct lg_walk g = {.w = d};
    int rc = old_id ? twin_tree_open(&a, d->repo, old_id, "a commit's tree") : 0;
    if (rc == 0 && new_id)
        rc = twin_tree_open(&b, d->repo, new_id, "a commit's tree");
    if (rc == 0 && new_id && d->canonical_trees)
        rc = check_canonical(d, NULL, new_id, "");
    git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
    opts.flags = GIT_DIFF_SKIP_BINARY_CHECK;
    if (rc == 0 && git_diff_tree_to_tree(&diff, d->repo, a, b, &opts) < 0)
        rc = twin_error_git("comparing two trees with libgit2");
    size_t n = diff ? git_diff_num_deltas(diff) : 0;
    if (rc == 0 && n > 0 && !(g.paths = malloc(n * sizeof(*g.paths))))
        rc = twin_error(TWIN_ERROR, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const git_diff_delta *delta = git_diff_get_delta(diff, i);
        g.paths[g.n++] =
            delta->status == GIT_DELTA_ADDED ? delta->new_file.path : delta->old_file.path;
    }
    if (rc == 0 && g.n > 1)
        qsort(g.paths, g.n, sizeof(*g.paths), lg_path_cmp);
    if (rc == 0)
        rc = lg_level(&g, 0, g.n, "", a, b, 0);
    free(g.paths);
    git_diff_free(diff);
    git_tree_free(a);
    git_tree_free(b);
    return rc;
}

int twin_treediff_run(struct twin_treediff *d, const git_tree *old_tree, const git_tree *new_tree)
{
    return twin_treediff_run_ids(d, old_tree ? git_tree_id(old_tree) : NULL,
                                 new_tree ? git_tree_id(new_tree) : NULL);
}

int twin_treediff_run_ids(struct twin_treediff *d, const git_oid *old_tree, const git_oid *new_tree)
{
    twin_treecache *own = NULL;
    int rc;
    if (d->libgit2)
        return lg_diff(d, old_tree, new_tree);
    if (!d->cache) {
        if ((rc = twin_treecache_new(&own)))
            return rc;
        d->cache = own;
    }
    if ((rc = twin_treecache_use(d->cache, d->repo, !own)))
        goto done;
    rc = diff_subtrees(d, old_tree, new_tree, "", "", 0);
    if (rc == TWIN_EVERIFY) { /* a damaged object is a verdict on the commit */
        snprintf(d->fault, sizeof(d->fault), "%s", twin_error_last());
        rc = 1;
    }
done:
    if (own) {
        twin_treecache_free(own);
        d->cache = NULL;
    }
    return rc;
}

void twin_treediff_clear(struct twin_treediff *d)
{
    free(d->changes);
    d->changes = NULL;
    d->count = d->cap = 0;
    d->fault[0] = '\0';
}

/* Whether tree id holds path: 1 with *e, 0 when not, <0 when a tree on the way cannot be read. */
static int holds_path(git_tree_entry **e, git_repository *repo, const git_oid *id, const char *path)
{
    git_tree *tree = NULL;
    int rc = twin_tree_open(&tree, repo, id, "a commit's tree");
    if (rc == 0)
        rc = twin_tree_entry_at(e, repo, tree, path);
    git_tree_free(tree);
    if (rc == TWIN_ENOTFOUND) {
        twin_error_clear();
        return 0;
    }
    return rc ? rc : 1;
}

int twin_treediff_changed_path(const git_commit *c, const char *path)
{
    git_repository *repo = git_commit_owner(c);
    git_tree_entry *a = NULL;
    int has = holds_path(&a, repo, git_commit_tree_id(c), path), changed = has;
    unsigned int np = git_commit_parentcount(c);
    /* Changed when it differs from every parent (a merge that takes one side unchanged is not a
     * change of this record); a root commit changed what it holds. */
    if (has >= 0 && np > 0)
        changed = 1;
    for (unsigned int i = 0; has >= 0 && i < np && changed == 1; i++) {
        const git_oid *pid = git_commit_parent_id(c, i);
        git_commit *parent = NULL;
        git_tree_entry *b = NULL;
        if (git_commit_lookup(&parent, repo, pid) < 0) {
            char hex[GIT_OID_HEXSZ + 1];
            git_oid_tostr(hex, sizeof(hex), pid);
            changed = twin_error(TWIN_ERROR, "commit %s cannot be read, the store is damaged: %s",
                                 hex, git_error_last() ? git_error_last()->message : "");
            break;
        }
        int phas = holds_path(&b, repo, git_commit_tree_id(parent), path);
        if (phas < 0)
            changed = phas;
        else if (phas == has && (!has || git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b))))
            changed = 0;
        git_tree_entry_free(b);
        git_commit_free(parent);
    }
    git_tree_entry_free(a);
    return changed;
}
