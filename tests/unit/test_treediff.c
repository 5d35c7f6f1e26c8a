/* The tree comparison: on thousands of random pairs of trees, canonical or not (other modes, out
 * of order, a name twice, a file and a directory of one name, nested too deep, a subtree that is
 * missing), it finds exactly what a walk pairing entries by name through libgit2 finds: the
 * same changes in the same order, the same fault, the same failure. Its baseline, the option that
 * has libgit2's git_diff_tree_to_tree find the changes, finds the same on canonical trees. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2/sys/mempack.h>

#include "git/treediff.h"
#include "unit/helpers.h"

/* ---- the reference: entries paired by name, each tree read by libgit2 ----------------------- */

static int ref_diff_trees(struct twin_treediff *w, const git_tree *old_tree,
                          const git_tree *new_tree, const char *prefix, int depth);

static int ref_add(struct twin_treediff *w, const char *path, const git_tree_entry *o,
                   const git_tree_entry *n)
{
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        if (cap > TWIN_TREEDIFF_MAX_CHANGES) {
            snprintf(w->fault, sizeof(w->fault), "changes more than %d files",
                     TWIN_TREEDIFF_MAX_CHANGES);
            return 1;
        }
        w->changes = realloc(w->changes, cap * sizeof(*w->changes));
        assert_non_null(w->changes);
        w->cap = cap;
    }
    struct twin_change *c = &w->changes[w->count++];
    memset(c, 0, sizeof(*c));
    snprintf(c->path, sizeof(c->path), "%s", path);
    if (o) {
        c->has_old = true;
        c->old_id = *git_tree_entry_id(o);
    }
    if (n) {
        c->has_new = true;
        c->new_id = *git_tree_entry_id(n);
    }
    return 0;
}

static int ref_diff_entry(struct twin_treediff *w, const git_tree_entry *o, const git_tree_entry *n,
                          const char *prefix, int depth)
{
    char path[512];
    const char *name = git_tree_entry_name(o ? o : n);
    if ((size_t)snprintf(path, sizeof(path), "%s%s", prefix, name) >= sizeof(path)) {
        snprintf(w->fault, sizeof(w->fault), "path too long under %s", prefix);
        return 1;
    }
    git_filemode_t om = o ? git_tree_entry_filemode(o) : 0, nm = n ? git_tree_entry_filemode(n) : 0;
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
    if ((o ? om : nm) == GIT_FILEMODE_TREE) {
        git_tree *ot = NULL, *nt = NULL;
        int rc = 0;
        if ((o && git_tree_lookup(&ot, w->repo, git_tree_entry_id(o)) < 0) ||
            (n && git_tree_lookup(&nt, w->repo, git_tree_entry_id(n)) < 0))
            rc = -1;
        else {
            char sub[520];
            snprintf(sub, sizeof(sub), "%s/", path);
            rc = ref_diff_trees(w, ot, nt, sub, depth + 1);
        }
        git_tree_free(ot);
        git_tree_free(nt);
        return rc;
    }
    return ref_add(w, path, o, n);
}

static int ref_diff_trees(struct twin_treediff *w, const git_tree *old_tree,
                          const git_tree *new_tree, const char *prefix, int depth)
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
        if ((rc = ref_diff_entry(w, o, n, prefix, depth)))
            return rc;
    }
    for (size_t i = 0; i < on; i++) {
        const git_tree_entry *o = git_tree_entry_byindex(old_tree, i);
        if (new_tree && git_tree_entry_byname(new_tree, git_tree_entry_name(o)))
            continue;
        if ((rc = ref_diff_entry(w, o, NULL, prefix, depth)))
            return rc;
    }
    return 0;
}

/* ---- random trees, written as raw bytes so that anything goes ------------------------------- */

struct entry {
    unsigned mode;
    char name[16];
    git_oid id;
};

struct spec {
    size_t n;
    struct entry e[40];
};

/* Names chosen so that git's order and plain name order disagree ("a" as a directory sorts after
 * "a-b" and "a.b", before "a0"). */
static const char *const names[] = {"a",   "a-b", "a.b", "a0", "ab", "b",  "b.json",
                                    "b-c", "c",   "c0",  "d",  "e",  "e.f"};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static int git_order_cmp(const void *pa, const void *pb)
{
    const struct entry *a = pa, *b = pb;
    size_t al = strlen(a->name), bl = strlen(b->name), n = al < bl ? al : bl;
    int c = memcmp(a->name, b->name, n);
    if (c)
        return c;
    unsigned char ca = al > n ? (unsigned char)a->name[n] : (a->mode & 0170000) == 040000 ? '/' : 0;
    unsigned char cb = bl > n ? (unsigned char)b->name[n] : (b->mode & 0170000) == 040000 ? '/' : 0;
    return ca < cb ? -1 : ca > cb;
}

static git_oid write_spec(git_odb *odb, const struct spec *s, bool sort)
{
    struct spec t = *s;
    char buf[4096];
    size_t len = 0;
    git_oid id;
    if (sort)
        qsort(t.e, t.n, sizeof(t.e[0]), git_order_cmp);
    for (size_t i = 0; i < t.n; i++) {
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%o %s", t.e[i].mode, t.e[i].name);
        buf[len++] = '\0';
        memcpy(buf + len, t.e[i].id.id, GIT_OID_RAWSZ);
        len += GIT_OID_RAWSZ;
    }
    assert_int_equal(git_odb_write(&id, odb, buf, len, GIT_OBJECT_TREE), 0);
    return id;
}

static void random_oid(struct rng *r, git_oid *id)
{
    for (size_t i = 0; i < GIT_OID_RAWSZ; i++)
        id->id[i] = (unsigned char)rnd(r, 4); /* few values: equal ids happen */
}

static git_oid random_tree(struct rng *r, git_odb *odb, int depth, struct spec *out);

static void random_entry(struct rng *r, git_odb *odb, struct entry *e, int depth, bool odd)
{
    snprintf(e->name, sizeof(e->name), "%s", names[rnd(r, NNAMES)]);
    unsigned pick = rnd(r, 100);
    if (odd && pick < 4) {
        static const unsigned modes[] = {0100755, 0100664, 0120000, 0160000, 040755};
        e->mode = modes[rnd(r, 5)];
    } else {
        e->mode = pick < 30 && depth < 6 ? 040000 : 0100644;
    }
    if ((e->mode & 0170000) == 040000) {
        struct spec sub;
        if (odd && rnd(r, 40) == 0)
            random_oid(r, &e->id); /* a subtree that is not there */
        else
            e->id = random_tree(r, odb, depth + 1, &sub);
    } else {
        random_oid(r, &e->id);
    }
}

/* Only trees in git's canonical form (for the libgit2 baseline, which reads no other the same). */
static bool canonical_only;

static git_oid random_tree(struct rng *r, git_odb *odb, int depth, struct spec *out)
{
    bool odd = !canonical_only && rnd(r, 4) == 0;
    out->n = depth > 3 ? rnd(r, 3) : rnd(r, depth ? 12 : 30);
    if (canonical_only && depth > 0 && out->n == 0)
        out->n = 1; /* git writes no empty subtree, and libgit2's diff lists none */
    for (size_t i = 0; i < out->n; i++)
        random_entry(r, odb, &out->e[i], depth, odd);
    if (!odd) /* one entry per name, as a canonical tree has */
        for (size_t i = 0; i < out->n; i++)
            for (size_t k = i + 1; k < out->n; k++)
                if (strcmp(out->e[i].name, out->e[k].name) == 0)
                    out->e[k--] = out->e[--out->n];
    return write_spec(odb, out, !odd || rnd(r, 2));
}

/* A variant of a tree: some entries changed, added, removed or turned between file and
 * directory; most left alone. */
static git_oid mutate(struct rng *r, git_odb *odb, const struct spec *base, int depth)
{
    struct spec s = *base;
    bool odd = !canonical_only && rnd(r, 6) == 0;
    size_t edits = rnd(r, 4);
    for (size_t k = 0; k < edits; k++) {
        unsigned what = rnd(r, 4);
        if (what == 0 && s.n < 40) {
            random_entry(r, odb, &s.e[s.n++], depth, odd);
        } else if (what == 1 && s.n > 0) {
            size_t gone = rnd(r, (uint32_t)s.n);
            s.e[gone] = s.e[--s.n];
        } else if (s.n > 0) {
            struct entry *e = &s.e[rnd(r, (uint32_t)s.n)];
            if ((e->mode & 0170000) == 040000 && what == 2) {
                struct spec sub;
                e->id = random_tree(r, odb, depth + 1, &sub);
            } else if (what == 3) {
                random_entry(r, odb, e, depth, odd);
            } else {
                random_oid(r, &e->id);
            }
        }
    }
    if (!odd)
        for (size_t i = 0; i < s.n; i++)
            for (size_t k = i + 1; k < s.n; k++)
                if (strcmp(s.e[i].name, s.e[k].name) == 0)
                    s.e[k--] = s.e[--s.n];
    return write_spec(odb, &s, !odd || rnd(r, 2));
}

/* ---- the comparison ------------------------------------------------------------------------- */

static void assert_same(const struct twin_treediff *got, int got_rc,
                        const struct twin_treediff *want, int want_rc, unsigned seed)
{
    if ((got_rc < 0) != (want_rc < 0) || (want_rc >= 0 && got_rc != want_rc))
        fail_msg("case %u: returned %d, the by-name walk %d (%s / %s)", seed, got_rc, want_rc,
                 got->fault, want->fault);
    if (want_rc < 0)
        return;
    if (strcmp(got->fault, want->fault) != 0)
        fail_msg("case %u: fault \"%s\", the by-name walk \"%s\"", seed, got->fault, want->fault);
    if (got->count != want->count)
        fail_msg("case %u: %zu changes, the by-name walk %zu", seed, got->count, want->count);
    for (size_t i = 0; i < got->count; i++) {
        const struct twin_change *a = &got->changes[i], *b = &want->changes[i];
        if (strcmp(a->path, b->path) != 0 || a->has_old != b->has_old || a->has_new != b->has_new ||
            (a->has_old && !git_oid_equal(&a->old_id, &b->old_id)) ||
            (a->has_new && !git_oid_equal(&a->new_id, &b->new_id)))
            fail_msg("case %u: change %zu is %s, the by-name walk's %s", seed, i, a->path, b->path);
    }
}

static void compare(git_repository *repo, twin_treecache *cache, const git_oid *a, const git_oid *b,
                    unsigned seed)
{
    git_tree *ta = NULL, *tb = NULL;
    if ((a && git_tree_lookup(&ta, repo, a) < 0) || (b && git_tree_lookup(&tb, repo, b) < 0)) {
        git_tree_free(ta);
        return; /* libgit2 cannot read the root: no caller gets this far */
    }
    struct twin_treediff want = {.repo = repo}, got = {.repo = repo, .cache = cache};
    int want_rc = ref_diff_trees(&want, ta, tb, "", 0);
    int got_rc = twin_treediff_run(&got, ta, tb);
    assert_same(&got, got_rc, &want, want_rc, seed);
    twin_treediff_clear(&got);
    twin_treediff_clear(&want);
    git_tree_free(ta);
    git_tree_free(tb);
}

struct tally {
    size_t changes, trees, faults;
};

/* twin's comparison and its libgit2 baseline (the option libgit2) on the same trees, listing
 * directories or not, refusing trees not in canonical form or not: the same result. */
static void compare_libgit2(git_repository *repo, twin_treecache *cache, const git_oid *a,
                            const git_oid *b, unsigned seed, struct tally *t)
{
    for (int mode = 0; mode < 3; mode++) {
        struct twin_treediff own = {.repo = repo, .cache = cache}, lg = {.repo = repo};
        own.trees = lg.trees = mode == 1;
        own.canonical_trees = lg.canonical_trees = mode == 2;
        lg.libgit2 = true;
        int own_rc = twin_treediff_run_ids(&own, a, b);
        int lg_rc = twin_treediff_run_ids(&lg, a, b);
        assert_same(&lg, lg_rc, &own, own_rc, seed);
        for (size_t i = 0; i < own.count; i++) {
            assert_int_equal(lg.changes[i].is_tree, own.changes[i].is_tree);
            t->trees += own.changes[i].is_tree;
        }
        t->changes += own.count;
        t->faults += own_rc == 1;
        twin_treediff_clear(&own);
        twin_treediff_clear(&lg);
    }
}

/* A repository whose objects stay in memory. */
static void open_repo(git_repository **repo, git_odb **odb, const char *path)
{
    git_odb_backend *mem = NULL;
    assert_int_equal(git_repository_init(repo, path, 1), 0);
    assert_int_equal(git_repository_odb(odb, *repo), 0);
    assert_int_equal(git_mempack_new(&mem), 0);
    assert_int_equal(git_odb_add_backend(*odb, mem, 1000), 0);
}

static void random_pairs_give_what_the_by_name_walk_gives(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = NULL;
    git_odb *odb = NULL;
    twin_treecache *cache = NULL;
    char path[192];
    snprintf(path, sizeof(path), "%s/repo.git", f->dir);
    open_repo(&repo, &odb, path);
    assert_int_equal(twin_treecache_new(&cache), 0);
    for (unsigned seed = 1; seed <= 3000; seed++) {
        struct rng r = {seed};
        struct spec base;
        git_oid a = random_tree(&r, odb, 0, &base);
        git_oid b = mutate(&r, odb, &base, 0);
        /* With the cache kept between cases, and with one just for the call. */
        compare(repo, cache, &a, &b, seed);
        compare(repo, cache, &b, &a, seed);
        compare(repo, NULL, &a, &b, seed);
        compare(repo, cache, NULL, &b, seed);
        compare(repo, cache, &a, NULL, seed);
        compare(repo, cache, &a, &a, seed);
    }
    twin_treecache_free(cache);
    git_odb_free(odb);
    git_repository_free(repo);
}

static void random_canonical_pairs_give_the_same_through_libgit2(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = NULL;
    git_odb *odb = NULL;
    twin_treecache *cache = NULL;
    struct tally t = {0, 0, 0};
    char path[192];
    snprintf(path, sizeof(path), "%s/repo.git", f->dir);
    open_repo(&repo, &odb, path);
    assert_int_equal(twin_treecache_new(&cache), 0);
    canonical_only = true;
    for (unsigned seed = 1; seed <= 1500; seed++) {
        struct rng r = {seed};
        struct spec base;
        git_oid a = random_tree(&r, odb, 0, &base);
        git_oid b = mutate(&r, odb, &base, 0);
        compare_libgit2(repo, cache, &a, &b, seed, &t);
        compare_libgit2(repo, cache, &b, &a, seed, &t);
        compare_libgit2(repo, cache, NULL, &b, seed, &t);
        compare_libgit2(repo, cache, &a, NULL, seed, &t);
        compare_libgit2(repo, cache, &a, &a, seed, &t);
    }
    canonical_only = false;
    /* Not a vacuous agreement: changes of both kinds were found, and faults (nested too deep, a
     * file turned into a directory) too. */
    assert_true(t.changes > 10000);
    assert_true(t.trees > 1000);
    assert_true(t.faults > 100);
    twin_treecache_free(cache);
    git_odb_free(odb);
    git_repository_free(repo);
}

/* Records fanned out as twin keeps them: 256 buckets, one record added or changed per step, so
 * that most entries are skipped as alike at the start or end of the trees. */
static void a_long_walk_over_buckets_gives_what_the_by_name_walk_gives(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = NULL;
    git_odb *odb = NULL;
    twin_treecache *cache = NULL;
    git_treebuilder *buckets[16] = {NULL}, *top = NULL;
    git_oid prev, cur, blob;
    char path[192];
    struct rng r = {42};
    struct tally t = {0, 0, 0};
    snprintf(path, sizeof(path), "%s/repo.git", f->dir);
    open_repo(&repo, &odb, path);
    assert_int_equal(twin_treecache_new(&cache), 0);
    for (size_t b = 0; b < 16; b++)
        assert_int_equal(git_treebuilder_new(&buckets[b], repo, NULL), 0);
    assert_int_equal(git_treebuilder_new(&top, repo, NULL), 0);
    assert_int_equal(git_treebuilder_write(&prev, top), 0);
    for (unsigned step = 0; step < 2000; step++) {
        char name[64];
        size_t b = rnd(&r, 16);
        unsigned rec = rnd(&r, 400);
        snprintf(name, sizeof(name), "%08x-record.json", rec * 2654435761u);
        snprintf(path, sizeof(path), "blob %u", rnd(&r, 1000000));
        assert_int_equal(git_blob_create_from_buffer(&blob, repo, path, strlen(path)), 0);
        assert_int_equal(git_treebuilder_insert(NULL, buckets[b], name, &blob, GIT_FILEMODE_BLOB),
                         0);
        git_oid sub;
        char dir[3];
        snprintf(dir, sizeof(dir), "%02zx", b);
        assert_int_equal(git_treebuilder_write(&sub, buckets[b]), 0);
        assert_int_equal(git_treebuilder_insert(NULL, top, dir, &sub, GIT_FILEMODE_TREE), 0);
        assert_int_equal(git_treebuilder_write(&cur, top), 0);
        compare(repo, cache, &prev, &cur, step);
        compare_libgit2(repo, cache, &prev, &cur, step, &t);
        prev = cur;
    }
    assert_true(t.changes > 4000);
    for (size_t b = 0; b < 16; b++)
        git_treebuilder_free(buckets[b]);
    git_treebuilder_free(top);
    twin_treecache_free(cache);
    git_odb_free(odb);
    git_repository_free(repo);
}

int main(void)
{
    git_libgit2_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(random_pairs_give_what_the_by_name_walk_gives,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(random_canonical_pairs_give_the_same_through_libgit2,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(a_long_walk_over_buckets_gives_what_the_by_name_walk_gives,
                                        fixture_setup, fixture_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    git_libgit2_shutdown();
    return rc;
}
