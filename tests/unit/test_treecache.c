/* The index of a tree's entries, made from a similar tree's (twin_treecache_index_like), is exactly
 * the one made by reading every entry (twin_treecache_index): the same verdict on whether the tree
 * is canonical, the same entries at the same offsets. Checked on random trees and random edits of
 * them: a changed id, an entry added, removed or renamed, entries swapped, a file and a directory
 * of one name, names continuing with characters below '/', broken bytes.
 *
 * Entries read by path or name through the cache give what its libgit2 baseline gives
 * (twin_treecache_set_libgit2: git_tree_lookup, git_tree_entry_bypath), on every commit of a
 * node's history with merges and of a history written by git fast-import (with trees twin leaves
 * to libgit2), for paths that are there and paths that are not; on a store missing a tree, both
 * fail. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git/gitfmt.h"
#include "git/history.h"
#include "git/treecache.h"
#include "twin/merge.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/store.h"
#include "unit/helpers.h"

struct entry {
    bool dir;
    char name[24];
    unsigned char id[20];
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return twin_gitfmt_tree_order(x->name, strlen(x->name), x->dir, y->name, strlen(y->name),
                                  y->dir);
}

static void random_entry(struct rng *r, struct entry *e, unsigned names)
{
    static const char alphabet[] = "ab-.0z";
    e->dir = rnd(r, 3) == 0;
    unsigned n = rnd(r, names);
    size_t len = 1 + n % 6;
    for (size_t i = 0; i < len; i++)
        e->name[i] = alphabet[(n >> (3 * i + 3)) % 6];
    e->name[len] = '\0';
    if (strspn(e->name, ".") == len && len <= 2)
        e->name[0] = 'a'; /* "." and ".." are never canonical; other names with dots are */
    for (size_t i = 0; i < 20; i++)
        e->id[i] = (unsigned char)rnd(r, 256);
}

static size_t serialise(unsigned char *out, const struct entry *e, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        len +=
            (size_t)sprintf((char *)out + len, "%s %s", e[i].dir ? "40000" : "100644", e[i].name);
        out[len++] = '\0';
        memcpy(out + len, e[i].id, 20);
        len += 20;
    }
    return len;
}

/* Sorted entries, names mostly unique (sorting ties are left: a name twice is not canonical). */
static size_t random_entries(struct rng *r, struct entry *e, size_t max)
{
    size_t n = rnd(r, (unsigned)max + 1);
    for (size_t i = 0; i < n; i++)
        random_entry(r, &e[i], 1u << 21);
    qsort(e, n, sizeof(*e), entry_cmp);
    return n;
}

static void edit(struct rng *r, struct entry *e, size_t *n, size_t max)
{
    unsigned kind = rnd(r, 6);
    if (*n == 0 || (kind == 0 && *n < max)) { /* add, kept in order */
        random_entry(r, &e[*n], 1u << 21);
        (*n)++;
        qsort(e, *n, sizeof(*e), entry_cmp);
    } else if (kind == 1) { /* remove */
        size_t i = rnd(r, (unsigned)*n);
        memmove(&e[i], &e[i + 1], (*n - i - 1) * sizeof(*e));
        (*n)--;
    } else if (kind == 2) { /* rename, maybe out of order or onto another name */
        random_entry(r, &e[rnd(r, (unsigned)*n)], 64);
    } else if (kind == 3 && *n > 1) { /* swap two */
        size_t i = rnd(r, (unsigned)*n), j = rnd(r, (unsigned)*n);
        struct entry t = e[i];
        e[i] = e[j];
        e[j] = t;
    } else if (kind == 4) { /* a file and a directory of one name, side by side */
        size_t i = rnd(r, (unsigned)*n);
        if (*n < max) {
            e[*n] = e[i];
            e[*n].dir = !e[i].dir;
            (*n)++;
            qsort(e, *n, sizeof(*e), entry_cmp);
        }
    } else { /* a changed id */
        e[rnd(r, (unsigned)*n)].id[rnd(r, 20)] ^= (unsigned char)(1 + rnd(r, 255));
    }
}

static void assert_same_index(struct twin_treecache_tree *like, unsigned char *data, size_t size,
                              unsigned seed)
{
    struct twin_treecache_tree full = {.data = data, .size = size},
                               quick = {.data = data, .size = size};
    assert_int_equal(twin_treecache_index(&full), 0);
    assert_int_equal(twin_treecache_index_like(&quick, like), 0);
    if (full.canonical != quick.canonical)
        fail_msg("seed %u: canonical %d from every entry, %d from the similar tree", seed,
                 full.canonical, quick.canonical);
    if (full.canonical) {
        assert_int_equal(full.n, quick.n);
        for (size_t i = 0; i <= full.n; i++)
            if (full.offsets[i] != quick.offsets[i])
                fail_msg("seed %u: entry %zu at %zu, not %zu", seed, i, quick.offsets[i],
                         full.offsets[i]);
    }
    free(full.offsets);
    free(quick.offsets);
}

static void an_index_made_from_a_similar_tree_is_the_full_index(void **state)
{
    (void)state;
    enum { MAX = 120 };
    static struct entry a[MAX], b[MAX];
    static unsigned char da[MAX * 64], db[MAX * 64];
    size_t canonical = 0, cases = 0;
    for (unsigned seed = 1; seed <= 20000; seed++) {
        struct rng r = {seed};
        size_t na = random_entries(&r, a, rnd(&r, 2) ? MAX - 20 : 8), nb = na;
        memcpy(b, a, sizeof(a));
        size_t edits = 1 + rnd(&r, 3);
        for (size_t k = 0; k < edits; k++)
            edit(&r, b, &nb, MAX);
        size_t la = serialise(da, a, na), lb = serialise(db, b, nb);
        if (rnd(&r, 10) == 0 && lb > 0) /* broken bytes */
            db[rnd(&r, (unsigned)lb)] = (unsigned char)rnd(&r, 256);
        if (rnd(&r, 20) == 0 && lb > 0)
            lb -= 1 + rnd(&r, lb < 30 ? (unsigned)lb : 30u);
        struct twin_treecache_tree like = {.data = da, .size = la};
        assert_int_equal(twin_treecache_index(&like), 0);
        assert_same_index(&like, db, lb, seed);
        canonical += like.canonical;
        cases++;
        free(like.offsets);
    }
    print_message("%zu of %zu similar trees canonical\n", canonical, cases);
    /* Both kinds of similar tree were met, many times. */
    assert_true(canonical > cases / 2 && canonical < cases);
}

/* ---- reading entries, and libgit2's baseline ------------------------------------------------ */

struct paths {
    char (*v)[256];
    size_t n, cap;
};

static void paths_add(struct paths *p, const char *a, const char *b, const char *c)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 256;
        p->v = realloc(p->v, p->cap * sizeof(*p->v));
        assert_non_null(p->v);
    }
    snprintf(p->v[p->n++], sizeof(p->v[0]), "%s%s%s", a, b, c);
}

/* Every file of a tree, and near misses: the path with a name changed, under the file as if it
 * were a directory, its directory as if it were a file, an empty name in it. */
static int collect_path(const char *root, const git_tree_entry *e, void *payload)
{
    struct paths *p = payload;
    const char *name = git_tree_entry_name(e);
    if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
        paths_add(p, root, name, ""); /* a directory, asked for as a file */
        return 0;
    }
    paths_add(p, root, name, "");
    paths_add(p, root, name, "~");
    paths_add(p, root, name, "/x");
    paths_add(p, root, "/", name);
    return 0;
}

/* What a caller gets for path in tree through c: 1 with *out, 0 when there is no such file, <0
 * when a tree cannot be read. A tree twin leaves to libgit2 (TWIN_ENOTFOUND) is asked of libgit2,
 * as the validity check asks it; *asked counts those. */
static int outcome(git_oid *out, twin_treecache *c, git_repository *repo, const git_oid *tree,
                   const char *path, size_t *asked)
{
    int rc = twin_treecache_path(out, c, repo, tree, path);
    if (rc != TWIN_ENOTFOUND)
        return rc;
    (*asked)++;
    git_tree *t = NULL;
    git_tree_entry *e = NULL;
    if (git_tree_lookup(&t, repo, tree) < 0)
        return TWIN_ERROR;
    int err = git_tree_entry_bypath(&e, t, path);
    rc = err == GIT_ENOTFOUND ? 0 : err < 0 ? TWIN_ERROR : 1;
    if (rc == 1 && git_tree_entry_type(e) == GIT_OBJECT_TREE)
        rc = 0;
    if (rc == 1)
        *out = *git_tree_entry_id(e);
    git_tree_entry_free(e);
    git_tree_free(t);
    return rc;
}

/* Every path of every commit's tree from head, and its near misses, read through a cache kept
 * across the commits and through one switched to libgit2: the same answers. Returns how many
 * twin left to libgit2. */
static size_t assert_same_entries(git_repository *repo, const git_oid *head, size_t *found)
{
    twin_treecache *ours = NULL, *theirs = NULL;
    git_oid *ids = NULL;
    size_t count = 0, asked = 0, never = 0;
    assert_int_equal(twin_treecache_new(&ours), 0);
    assert_int_equal(twin_treecache_new(&theirs), 0);
    twin_treecache_set_libgit2(theirs, true);
    assert_int_equal(twin_history_walk(&ids, &count, repo, head), 0);
    *found = 0;
    for (size_t i = 0; i < count; i++) {
        git_commit *c = NULL;
        git_tree *tree = NULL;
        struct paths p = {0};
        assert_int_equal(git_commit_lookup(&c, repo, &ids[i]), 0);
        assert_int_equal(git_commit_tree(&tree, c), 0);
        assert_int_equal(git_tree_walk(tree, GIT_TREEWALK_PRE, collect_path, &p), 0);
        paths_add(&p, "a//b", "", "");
        const git_oid *tid = git_tree_id(tree);
        for (size_t k = 0; k < p.n; k++) {
            git_oid a, b;
            int x = outcome(&a, ours, repo, tid, p.v[k], &asked);
            int y = twin_treecache_path(&b, theirs, repo, tid, p.v[k]);
            if (x != y || (x == 1 && !git_oid_equal(&a, &b)))
                fail_msg("%s in commit %zu: %d through the cache, %d through libgit2", p.v[k], i, x,
                         y);
            *found += x == 1;
        }
        /* Entries by name in the root tree, each asked for as a file and as a directory. */
        for (size_t k = 0; k < git_tree_entrycount(tree); k++)
            for (int dir = 0; dir <= 1; dir++) {
                const char *name = git_tree_entry_name(git_tree_entry_byindex(tree, k));
                git_oid a, b;
                int x = twin_treecache_entry(&a, ours, repo, tid, name, dir);
                int y = twin_treecache_entry(&b, theirs, repo, tid, name, dir);
                if (x == TWIN_ENOTFOUND) {
                    never++;
                    continue;
                }
                if (x != y || (x == 1 && !git_oid_equal(&a, &b)))
                    fail_msg("%s (dir %d) in commit %zu: %d, libgit2 %d", name, dir, i, x, y);
            }
        free(p.v);
        git_tree_free(tree);
        git_commit_free(c);
    }
    assert_true(*found > count); /* many paths were found, not only missed */
    free(ids);
    twin_treecache_free(theirs);
    twin_treecache_free(ours);
    return asked + never;
}

static int titled(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "title", ctx);
}

static void add_notes(twin_node *n, char (*ids)[TWIN_ID_LEN + 1], int count)
{
    git_oid c;
    for (int i = 0; i < count; i++) {
        char title[32];
        snprintf(title, sizeof(title), "Note %d", i);
        if (twin_ops_add(ids[i], &c, n, "note", titled, title))
            fail_msg("add: %s", twin_error_last());
    }
}

static void a_nodes_history_with_merges_reads_entries_as_libgit2_does(void **state)
{
    struct helper_nodes *h = *state;
    twin_node *n = h->north;
    git_repository *repo = twin_node_repo(n);
    char ids[20][TWIN_ID_LEN + 1];
    git_oid base, a, b, merge, head;
    struct twin_merge_result r;
    add_notes(n, ids, 20);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(twin_node_head(&base, n), 0);
        add_notes(n, ids, 6);
        assert_int_equal(twin_node_head(&a, n), 0);
        assert_int_equal(twin_store_advance(repo, &a, &base, "test: second line"), 0);
        add_notes(n, ids, 4);
        assert_int_equal(twin_node_head(&b, n), 0);
        assert_int_equal(twin_merge_commit(&merge, &r, n, NULL, &b, &a), 0);
        assert_int_equal(twin_store_advance(repo, &b, &merge, "test: merge"), 0);
    }
    assert_int_equal(twin_node_head(&head, n), 0);
    size_t found = 0;
    assert_int_equal(assert_same_entries(repo, &head, &found), 0); /* twin reads every tree */
    print_message("%zu paths found\n", found);
}

/* A history written by git fast-import in the fixture's directory `name`, loose or packed: 80
 * commits on main and a side branch of 15 merged at commit 50, files in directories some levels
 * deep, and in half the commits an executable under bin/, a tree twin leaves to libgit2. */
static git_repository *git_history(struct fixture *f, const char *name, bool loose)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/%s.fi", f->dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    int mark = 0, side_tip = 0;
    for (int i = 1; i <= 80; i++) {
        for (int j = 0; i == 30 && j < 15; j++) {
            fprintf(fp, "commit refs/heads/side\nmark :%d\n", ++mark);
            fprintf(fp, "committer Git <git@example.org> %d +0000\ndata 5\nside\n",
                    1700000000 + mark);
            if (j == 0)
                fprintf(fp, "from :%d\n", mark - 1);
            fprintf(fp, "M 100644 inline side/s%d.txt\ndata <<END\nside %d\nEND\n\n", j % 4, j);
            side_tip = mark;
        }
        fprintf(fp, "commit refs/heads/main\nmark :%d\n", ++mark);
        fprintf(fp, "committer Git <git@example.org> %d +0000\ndata 5\nmain\n", 1700000000 + mark);
        if (i == 50)
            fprintf(fp, "merge :%d\n", side_tip);
        fprintf(fp, "M 100644 inline f%d.txt\ndata <<END\nmain %d\nEND\n", i % 5, i);
        fprintf(fp, "M 100644 inline d%d/e/g%d.txt\ndata <<END\ndeep %d\nEND\n", i % 3, i % 4, i);
        if (i % 2)
            fprintf(fp, "M 100755 inline bin/run.sh\ndata <<END\n#!/bin/sh\n# %d\nEND\n", i);
        else if (i > 1)
            fprintf(fp, "D bin/run.sh\n");
        fprintf(fp, "\n");
    }
    assert_int_equal(fclose(fp), 0);
    return helper_fast_import(f->dir, name, path, loose);
}

static void a_plain_git_history_reads_entries_as_libgit2_does(void **state)
{
    struct fixture *f = *state;
    if (!have_tool("git"))
        skip();
    for (int loose = 0; loose <= 1; loose++) {
        git_repository *repo = git_history(f, loose ? "loose" : "packed", loose);
        git_oid head;
        size_t found = 0;
        assert_int_equal(git_reference_name_to_id(&head, repo, "refs/heads/main"), 0);
        size_t asked = assert_same_entries(repo, &head, &found);
        assert_true(asked > 0); /* the trees with an executable went to libgit2 */
        print_message("%zu paths found, %zu left to libgit2\n", found, asked);
        git_repository_free(repo);
    }
}

/* A tree removed from the store: the cache leaves it to libgit2, which cannot read it either, and
 * the baseline fails at once; the tree above it still answers for other paths either way. */
static void a_missing_tree_fails_both_ways(void **state)
{
    struct fixture *f = *state;
    char cmd[800], hex[GIT_OID_HEXSZ + 1];
    if (!have_tool("git"))
        skip();
    git_repository *repo = git_history(f, "damaged", true);
    git_object *o = NULL;
    git_oid root, gone, id;
    size_t asked = 0;
    assert_int_equal(git_revparse_single(&o, repo, "main~3^{tree}"), 0);
    root = *git_object_id(o);
    git_object_free(o);
    assert_int_equal(git_revparse_single(&o, repo, "main~3:d1/e"), 0);
    gone = *git_object_id(o);
    git_object_free(o);
    git_oid_tostr(hex, sizeof(hex), &gone);
    git_repository_free(repo);
    snprintf(cmd, sizeof(cmd), "rm '%s/damaged/objects/%.2s/%s'", f->dir, hex, hex + 2);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s/damaged", f->dir);
    assert_int_equal(git_repository_open(&repo, cmd), 0);
    twin_treecache *ours = NULL, *theirs = NULL;
    assert_int_equal(twin_treecache_new(&ours), 0);
    assert_int_equal(twin_treecache_new(&theirs), 0);
    twin_treecache_set_libgit2(theirs, true);
    assert_true(outcome(&id, ours, repo, &root, "d1/e/g0.txt", &asked) < 0);
    assert_int_equal(asked, 1);
    assert_int_equal(twin_treecache_path(&id, theirs, repo, &root, "d1/e/g0.txt"), TWIN_ERROR);
    assert_error(twin_treecache_path(&id, theirs, repo, &gone, "g0.txt"), TWIN_ERROR, hex);
    assert_int_equal(twin_treecache_entry(&id, theirs, repo, &root, "d1", true), 1);
    assert_int_equal(twin_treecache_entry(&id, ours, repo, &root, "d1", true), 1);
    twin_treecache_free(theirs);
    twin_treecache_free(ours);
    git_repository_free(repo);
}

/* The slots of the trees read, for the root trees of main, main~1 and main~2, in a cache told to
 * keep trees (0: as made). */
static size_t distinct_slots(git_repository *repo, size_t trees, size_t keep_after)
{
    twin_treecache *c = NULL;
    struct twin_treecache_tree *got[3];
    size_t distinct = 0;
    assert_int_equal(twin_treecache_new(&c), 0);
    if (trees)
        twin_treecache_keep(c, trees);
    assert_int_equal(twin_treecache_use(c, repo, true), 0);
    for (size_t i = 0; i < 3; i++) {
        char spec[32];
        git_object *o = NULL;
        snprintf(spec, sizeof(spec), "main~%zu^{tree}", i);
        assert_int_equal(git_revparse_single(&o, repo, spec), 0);
        assert_int_equal(twin_treecache_get(&got[i], c, git_object_id(o), NULL), 0);
        assert_non_null(got[i]);
        assert_memory_equal(got[i]->id.id, git_object_id(o)->id, GIT_OID_RAWSZ);
        git_object_free(o);
        if (i == 0 && keep_after) /* too late: the cache has read a tree */
            twin_treecache_keep(c, keep_after);
        bool seen = false;
        for (size_t k = 0; k < i; k++)
            seen = seen || got[k] == got[i];
        distinct += !seen;
    }
    twin_treecache_free(c);
    return distinct;
}

/* A cache told to keep two trees reads a third into the slot of one of them; one told after its
 * first read keeps its 512. */
static void a_cache_keeps_as_many_trees_as_it_is_told(void **state)
{
    struct fixture *f = *state;
    if (!have_tool("git"))
        skip();
    git_repository *repo = git_history(f, "kept", false);
    assert_int_equal(distinct_slots(repo, 0, 0), 3);
    assert_int_equal(distinct_slots(repo, 2, 0), 2);
    assert_int_equal(distinct_slots(repo, 1, 0), 1);
    assert_int_equal(distinct_slots(repo, 0, 2), 3);
    git_repository_free(repo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_index_made_from_a_similar_tree_is_the_full_index),
        cmocka_unit_test_setup_teardown(a_nodes_history_with_merges_reads_entries_as_libgit2_does,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(a_plain_git_history_reads_entries_as_libgit2_does,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(a_missing_tree_fails_both_ways, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(a_cache_keeps_as_many_trees_as_it_is_told, fixture_setup,
                                        fixture_teardown),
    };
    git_libgit2_init();
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    git_libgit2_shutdown();
    return rc;
}
