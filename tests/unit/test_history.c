/* Commits read without libgit2: a header's fields and its malformed forms, and the walk of a
 * whole history, which must give exactly the commits libgit2's walk gives, each after its parents,
 * whether they lie in packs or loose. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git/history.h"
#include "git/packread.h"
#include "unit/helpers.h"

#define TREE_HEX   "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
#define PARENT_HEX "0123456789abcdef0123456789abcdef01234567"

static void a_header_gives_its_tree_parents_and_committer_time(void **state)
{
    (void)state;
    const char *text = "tree " TREE_HEX "\n"
                       "parent " PARENT_HEX "\n"
                       "parent 1111111111111111111111111111111111111111\n"
                       "parent 2222222222222222222222222222222222222222\n"
                       "author Example Author <XE-EXAMPLE-MOF> 1700000000 +0100\n"
                       "committer Example Committer <XE-EXAMPLE-RA> 1767225600 -0500\n"
                       "gpgsig -----BEGIN SSH SIGNATURE-----\n -----END SSH SIGNATURE-----\n"
                       "\n"
                       "message with committer 1 +0000\n";
    struct twin_commit_head h;
    assert_int_equal(twin_history_head_parse(&h, text, strlen(text)), 0);
    assert_string_equal(git_oid_tostr_s(&h.tree), TREE_HEX);
    assert_int_equal(h.nparents, 3);
    assert_string_equal(git_oid_tostr_s(&h.parents[0]), PARENT_HEX);
    assert_string_equal(git_oid_tostr_s(&h.parents[1]), "1111111111111111111111111111111111111111");
    git_oid third;
    twin_history_head_parent(&third, &h, 2);
    assert_string_equal(git_oid_tostr_s(&third), "2222222222222222222222222222222222222222");
    assert_int_equal(h.time, 1767225600);

    const char *root = "tree " TREE_HEX "\nauthor A <a> 1 +0000\ncommitter C <c> 42 +0000\n\nm\n";
    assert_int_equal(twin_history_head_parse(&h, root, strlen(root)), 0);
    assert_int_equal(h.nparents, 0);
    assert_int_equal(h.time, 42);
}

static void malformed_headers_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "tree " TREE_HEX,                             /* no newline */
        "tree 4b825dc642cb6eb9a060e54bf8d69288fbee490\n", /* short id */
        "tree 4b825dc642cb6eb9a060e54bf8d69288fbee49zz\ncommitter C <c> 1 +0000\n",
        "parent " PARENT_HEX "\ntree " TREE_HEX "\ncommitter C <c> 1 +0000\n",  /* order */
        "tree " TREE_HEX "\nparent 0123\ncommitter C <c> 1 +0000\n",            /* short parent */
        "tree " TREE_HEX "\nauthor A <a> 1 +0000\n\ncommitter C <c> 1 +0000\n", /* in the body */
        "tree " TREE_HEX "\ncommitter C <c>\n\n",                               /* no time */
        "tree " TREE_HEX "\ncommitter C <c> 12\n\n",                            /* no zone */
        "tree " TREE_HEX "\ncommitter C <c> x1 +0000\n\n",
        "tree " TREE_HEX "\ncommitter C c 1 +0000\n\n", /* no email */
        "tree " TREE_HEX "\ncommitter C <c> 99999999999999999999 +0000\n\n",
        "tree " TREE_HEX "\ncommitter C <c> 1 +0000", /* no end of line */
        /* Forms libgit2 would not read, or would read as another commit: */
        "tree " TREE_HEX "\nparent " PARENT_HEX "\ncommitter C <c> 1 +0000\n\n", /* no author */
        "tree " TREE_HEX "\nparent " PARENT_HEX "\ngpgsig x\nparent " PARENT_HEX
        "\nauthor A <a> 1 +0000\ncommitter C <c> 1 +0000\n\n", /* a header among the parents */
        "tree " TREE_HEX "\nauthor A <a> 1 +0000\nencoding UTF-8\ncommitter C <c> 1 +0000\n\n",
        "tree " TREE_HEX "\nauthor A a> 1 +0000\ncommitter C <c> 1 +0000\n\n",
        "tree " TREE_HEX "\nauthor A <a> 1 +0000\ncommitter C c> 1 +0000\n\n",
        "tree " TREE_HEX "\nauthor A <a> 1 +0000\ncommitter C >c< 1 +0000\n\n",
        "tree " TREE_HEX "\nauthor A <a> 1 +0000\ncommitter C <c>  +0000\n\n", /* no digits */
        "tree " TREE_HEX
        "\nauthor A <a> 1 +0000\nauthor B <b> 2 +0000\ncommitter C <c> 7 +0000\n\n",
        "tree " TREE_HEX "\nauthor A <a>\ncommitter C <c> 7 +0000\n\n",       /* no time */
        "tree " TREE_HEX "\nauthor A <a> +a0 1\ncommitter C <c> 7 +0000\n\n", /* not a time */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct twin_commit_head h;
        if (twin_history_head_parse(&h, bad[i], strlen(bad[i])) != -1)
            fail_msg("accepted header %zu: %s", i, bad[i]);
    }
}

/* ---- the walk ------------------------------------------------------------------------------ */

static git_repository *new_repo(const char *dir)
{
    git_repository *repo = NULL;
    assert_int_equal(git_repository_init(&repo, dir, 1), 0);
    return repo;
}

static git_oid commit_on(git_repository *repo, const git_oid *parents, size_t n, int stamp)
{
    git_treebuilder *tb = NULL;
    git_oid tree_id, blob, id;
    git_tree *tree = NULL;
    git_signature *sig = NULL;
    char text[32];
    snprintf(text, sizeof(text), "%d\n", stamp);
    assert_int_equal(git_blob_create_from_buffer(&blob, repo, text, strlen(text)), 0);
    assert_int_equal(git_treebuilder_new(&tb, repo, NULL), 0);
    assert_int_equal(git_treebuilder_insert(NULL, tb, "n", &blob, GIT_FILEMODE_BLOB), 0);
    assert_int_equal(git_treebuilder_write(&tree_id, tb), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &tree_id), 0);
    assert_int_equal(git_signature_new(&sig, "Example", "XE-EXAMPLE-MOF", 1700000000 + stamp, 0),
                     0);
    const git_commit *ps[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(git_commit_lookup((git_commit **)&ps[i], repo, &parents[i]), 0);
    assert_int_equal(git_commit_create(&id, repo, NULL, sig, sig, NULL, "c\n", tree, n, ps), 0);
    for (size_t i = 0; i < n; i++)
        git_commit_free((git_commit *)ps[i]);
    git_signature_free(sig);
    git_tree_free(tree);
    git_treebuilder_free(tb);
    return id;
}

/* Packs the history up to tip (what libgit2 sends for it), leaving the loose copies. */
static void pack_up_to(git_repository *repo, const git_oid *tip)
{
    git_packbuilder *pb = NULL;
    git_revwalk *walk = NULL;
    assert_int_equal(git_packbuilder_new(&pb, repo), 0);
    assert_int_equal(git_revwalk_new(&walk, repo), 0);
    assert_int_equal(git_revwalk_push(walk, tip), 0);
    assert_int_equal(git_packbuilder_insert_walk(pb, walk), 0);
    assert_int_equal(git_packbuilder_write(pb, NULL, 0, NULL, NULL), 0);
    git_revwalk_free(walk);
    git_packbuilder_free(pb);
}

static size_t position(const git_oid *ids, size_t count, const git_oid *id)
{
    for (size_t i = 0; i < count; i++)
        if (git_oid_equal(&ids[i], id))
            return i;
    fail_msg("%s is missing from the walk", git_oid_tostr_s(id));
    return 0;
}

/* The walk from head: the same commits as libgit2's walk, none twice, each after its parents. */
static void assert_walk(git_repository *repo, const git_oid *head, bool same_order)
{
    git_oid *ids = NULL, id;
    size_t count = 0, theirs = 0;
    assert_int_equal(twin_history_walk(&ids, &count, repo, head), 0);
    git_revwalk *walk = NULL;
    assert_int_equal(git_revwalk_new(&walk, repo), 0);
    assert_int_equal(git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE), 0);
    assert_int_equal(git_revwalk_push(walk, head), 0);
    while (git_revwalk_next(&id, walk) == 0) {
        size_t at = position(ids, count, &id);
        if (same_order)
            assert_int_equal(at, theirs);
        theirs++;
    }
    assert_int_equal(count, theirs);
    assert_true(git_oid_equal(&ids[count - 1], head));
    for (size_t i = 0; i < count; i++) {
        git_commit *c = NULL;
        assert_int_equal(git_commit_lookup(&c, repo, &ids[i]), 0);
        for (unsigned p = 0; p < git_commit_parentcount(c); p++)
            assert_true(position(ids, count, git_commit_parent_id(c, p)) < i);
        git_commit_free(c);
    }
    git_revwalk_free(walk);
    free(ids);
}

static void a_line_of_commits_comes_oldest_first(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = new_repo(f->dir);
    git_oid tip = commit_on(repo, NULL, 0, 0);
    for (int i = 1; i < 200; i++) {
        tip = commit_on(repo, &tip, 1, i);
        if (i == 120)
            pack_up_to(repo, &tip);
    }
    assert_walk(repo, &tip, true);
    git_repository_free(repo);
}

/* Random merges, octopus merges among them, partly packed. */
static void merged_histories_come_each_commit_after_its_parents(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = new_repo(f->dir);
    enum { N = 300 };
    static git_oid all[N + 1];
    static bool has_child[N];
    unsigned seed = 20261130;
    all[0] = commit_on(repo, NULL, 0, 0);
    for (int i = 1; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = (seed >> 16) % 20 < 14 ? 1 : (seed >> 16) % 20 < 19 ? 2 : 3;
        git_oid ps[3];
        for (size_t k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pick = k == 0 ? (size_t)i - 1 - (seed >> 16) % (i < 5 ? (unsigned)i : 5u)
                                 : (seed >> 16) % (unsigned)i;
            ps[k] = all[pick];
            has_child[pick] = true;
            for (size_t j = 0; j < k; j++)
                if (git_oid_equal(&ps[j], &ps[k]))
                    n = k; /* a parent twice: fewer parents instead */
        }
        all[i] = commit_on(repo, ps, n, i);
        if (i == N / 2)
            pack_up_to(repo, &all[i]);
    }
    git_oid tips[8];
    size_t ntips = 0;
    for (int i = N - 1; i >= 0 && ntips < 8; i--)
        if (!has_child[i])
            tips[ntips++] = all[i];
    all[N] = commit_on(repo, tips, ntips, N);
    assert_walk(repo, &all[N], false);
    git_repository_free(repo);
}

/* Over a pack of the newest commits alone: those, oldest first, and the commit below them where
 * the walk stops. */
static void a_walk_over_packs_stops_at_what_they_do_not_hold(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = new_repo(f->dir);
    git_oid line[50];
    line[0] = commit_on(repo, NULL, 0, 0);
    for (int i = 1; i < 50; i++)
        line[i] = commit_on(repo, &line[i - 1], 1, i);
    git_packbuilder *pb = NULL;
    git_revwalk *walk = NULL;
    assert_int_equal(git_packbuilder_new(&pb, repo), 0);
    assert_int_equal(git_revwalk_new(&walk, repo), 0);
    assert_int_equal(git_revwalk_push(walk, &line[49]), 0);
    assert_int_equal(git_revwalk_hide(walk, &line[29]), 0);
    assert_int_equal(git_packbuilder_insert_walk(pb, walk), 0);
    assert_int_equal(git_packbuilder_write(pb, NULL, 0, NULL, NULL), 0);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/objects/pack", f->dir);
    const char *dirs[] = {dir};
    twin_packread *packs = NULL;
    assert_int_equal(twin_packread_open_dirs(&packs, dirs, 1), 0);
    git_oid *ids = NULL, *stops = NULL;
    size_t count = 0, nstops = 0;
    assert_int_equal(twin_history_walk_packed(&ids, &count, &stops, &nstops, packs, &line[49]), 0);
    assert_int_equal(count, 20);
    for (size_t i = 0; i < count; i++)
        assert_true(git_oid_equal(&ids[i], &line[30 + i]));
    assert_int_equal(nstops, 1);
    assert_true(git_oid_equal(&stops[0], &line[29]));
    free(ids);
    free(stops);
    /* A head the packs do not hold is itself where the walk stops. */
    assert_int_equal(twin_history_walk_packed(&ids, &count, &stops, &nstops, packs, &line[10]), 0);
    assert_int_equal(count, 0);
    assert_int_equal(nstops, 1);
    free(ids);
    free(stops);
    twin_packread_free(packs);
    git_revwalk_free(walk);
    git_packbuilder_free(pb);
    git_repository_free(repo);
}

/* A commit whose header twin's check would refuse (two authors, here) is still walked: the check,
 * not the walk, says what is wrong with it. */
static void a_commit_the_check_refuses_is_still_walked(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = new_repo(f->dir);
    git_odb *odb = NULL;
    git_oid root = commit_on(repo, NULL, 0, 0), odd, tip, *ids = NULL;
    size_t count = 0;
    char text[512];
    assert_int_equal(git_repository_odb(&odb, repo), 0);
    snprintf(text, sizeof(text),
             "tree " TREE_HEX "\nparent %s\nauthor A <a> 1 +0000\nauthor B <b> 2 +0000\n"
             "committer C <c> 3 +0000\n\ntwo authors\n",
             git_oid_tostr_s(&root));
    assert_int_equal(git_odb_write(&odd, odb, text, strlen(text), GIT_OBJECT_COMMIT), 0);
    struct twin_commit_head h;
    assert_int_equal(twin_history_head_parse(&h, text, strlen(text)), -1);
    tip = commit_on(repo, &odd, 1, 4);
    assert_int_equal(twin_history_walk(&ids, &count, repo, &tip), 0);
    assert_int_equal(count, 3);
    assert_true(git_oid_equal(&ids[0], &root));
    assert_true(git_oid_equal(&ids[1], &odd));
    assert_true(git_oid_equal(&ids[2], &tip));
    free(ids);
    git_odb_free(odb);
    git_repository_free(repo);
}

static void a_missing_parent_is_named(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = new_repo(f->dir);
    git_odb *odb = NULL;
    git_oid id, *ids = NULL;
    size_t count = 0;
    const char *text = "tree " TREE_HEX "\nparent " PARENT_HEX "\n"
                       "author A <a> 1 +0000\ncommitter C <c> 1 +0000\n\nm\n";
    assert_int_equal(git_repository_odb(&odb, repo), 0);
    assert_int_equal(git_odb_write(&id, odb, text, strlen(text), GIT_OBJECT_COMMIT), 0);
    /* A parent the store lacks is a damaged store (git fsck: a broken link), not a usage error. */
    assert_error(twin_history_walk(&ids, &count, repo, &id), TWIN_ERROR,
                 "commit " PARENT_HEX " cannot be read, the store is damaged: object not found");
    assert_null(ids);
    git_odb_free(odb);
    git_repository_free(repo);
}

static void an_object_that_is_not_a_commit_is_refused(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = new_repo(f->dir);
    git_oid blob, *ids = NULL;
    size_t count = 0;
    assert_int_equal(git_blob_create_from_buffer(&blob, repo, "x\n", 2), 0);
    assert_error(twin_history_walk(&ids, &count, repo, &blob), TWIN_EVERIFY,
                 "is not a commit in git's form");
    git_repository_free(repo);
}

int main(void)
{
    git_libgit2_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_header_gives_its_tree_parents_and_committer_time),
        cmocka_unit_test(malformed_headers_are_refused),
        cmocka_unit_test_setup_teardown(a_line_of_commits_comes_oldest_first, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(merged_histories_come_each_commit_after_its_parents,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(a_walk_over_packs_stops_at_what_they_do_not_hold,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(a_commit_the_check_refuses_is_still_walked, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(a_missing_parent_is_named, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(an_object_that_is_not_a_commit_is_refused, fixture_setup,
                                        fixture_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    git_libgit2_shutdown();
    return rc;
}
