/* Commits read without libgit2: a header's fields and its malformed forms, and the walk of a
 * whole history, which must give exactly the commits libgit2's walk gives, each after its parents,
 * whether they lie in packs or loose. The walk's libgit2 baseline (twin_history_walk_libgit2) is
 * held to it: the same commits, each after its parents and the head last, in the same order on a
 * line of commits (across merges the two orders may differ), and the same failures. */
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
#include "twin/merge.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/store.h"
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

/* A commit whose file holds stamp, dated 1700000000 + when. */
static git_oid commit_at(git_repository *repo, const git_oid *parents, size_t n, int stamp,
                         int when)
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
    assert_int_equal(git_signature_new(&sig, "Example", "XE-EXAMPLE-MOF", 1700000000 + when, 0), 0);
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

static git_oid commit_on(git_repository *repo, const git_oid *parents, size_t n, int stamp)
{
    return commit_at(repo, parents, n, stamp, stamp);
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

/* ids[0..count) holds every commit once, each after its parents, head last. */
static void assert_parents_first(git_repository *repo, const git_oid *ids, size_t count,
                                 const git_oid *head)
{
    assert_true(count > 0);
    assert_true(git_oid_equal(&ids[count - 1], head));
    for (size_t i = 0; i < count; i++) {
        git_commit *c = NULL;
        assert_int_equal(git_commit_lookup(&c, repo, &ids[i]), 0);
        assert_int_equal(position(ids, count, &ids[i]), i); /* not twice */
        for (unsigned p = 0; p < git_commit_parentcount(c); p++)
            assert_true(position(ids, count, git_commit_parent_id(c, p)) < i);
        git_commit_free(c);
    }
}

/* The walk from head and its libgit2 baseline: the same commits, none twice, each after its
 * parents, the head last; in the same order when same_order (a history with one order only). */
static void assert_walk(git_repository *repo, const git_oid *head, bool same_order)
{
    git_oid *ids = NULL, *theirs = NULL;
    size_t count = 0, ntheirs = 0;
    assert_int_equal(twin_history_walk(&ids, &count, repo, head), 0);
    assert_int_equal(twin_history_walk_libgit2(&theirs, &ntheirs, repo, head), 0);
    assert_int_equal(count, ntheirs);
    for (size_t i = 0; i < ntheirs; i++) {
        size_t at = position(ids, count, &theirs[i]);
        if (same_order)
            assert_int_equal(at, i);
    }
    assert_parents_first(repo, ids, count, head);
    assert_parents_first(repo, theirs, ntheirs, head);
    free(theirs);
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

/* twin's order is the depth-first one that takes first parents first, which libgit2's need not
 * be: head merges B (first) and M, M merged A and B. twin lists B before A; libgit2's list holds
 * the same commits, each after its parents, in an order of its own (A before B, in 1.5). */
static void a_merge_takes_its_first_parent_first(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = new_repo(f->dir);
    git_oid root = commit_on(repo, NULL, 0, 0), a = commit_on(repo, &root, 1, 1),
            b = commit_on(repo, &root, 1, 2);
    git_oid ab[2] = {a, b}, m = commit_on(repo, ab, 2, 3);
    git_oid bm[2] = {b, m}, head = commit_on(repo, bm, 2, 4);
    git_oid want[5] = {root, b, a, m, head}, *ids = NULL;
    size_t count = 0;
    assert_int_equal(twin_history_walk(&ids, &count, repo, &head), 0);
    assert_int_equal(count, 5);
    for (size_t i = 0; i < 5; i++)
        assert_true(git_oid_equal(&ids[i], &want[i]));
    free(ids);
    assert_walk(repo, &head, false);
    git_repository_free(repo);
}

static int noted(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "title", ctx);
}

static void add_notes(twin_node *n, int count)
{
    char id[TWIN_ID_LEN + 1], title[32];
    git_oid c;
    for (int i = 0; i < count; i++) {
        snprintf(title, sizeof(title), "Note %d", i);
        if (twin_ops_add(id, &c, n, "note", noted, title))
            fail_msg("add: %s", twin_error_last());
    }
}

/* A node's history of signed commits with three merges of two lines, made by the merge rule: both
 * walks list the same commits, parents first. */
static void a_nodes_history_with_merges_is_walked_alike_by_libgit2(void **state)
{
    struct helper_nodes *h = *state;
    twin_node *n = h->north;
    git_repository *repo = twin_node_repo(n);
    git_oid base, a, b, merge, head;
    struct twin_merge_result r;
    add_notes(n, 20);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(twin_node_head(&base, n), 0);
        add_notes(n, 5 + round);
        assert_int_equal(twin_node_head(&a, n), 0);
        assert_int_equal(twin_store_advance(repo, &a, &base, "test: second line"), 0);
        add_notes(n, 3 + 2 * round);
        assert_int_equal(twin_node_head(&b, n), 0);
        assert_int_equal(twin_merge_commit(&merge, &r, n, NULL, &b, &a), 0);
        assert_int_equal(twin_store_advance(repo, &b, &merge, "test: merge"), 0);
        add_notes(n, 4);
    }
    assert_int_equal(twin_node_head(&head, n), 0);
    git_oid *ids = NULL;
    size_t count = 0, merges = 0;
    assert_int_equal(twin_history_walk(&ids, &count, repo, &head), 0);
    for (size_t i = 0; i < count; i++) {
        git_commit *c = NULL;
        assert_int_equal(git_commit_lookup(&c, repo, &ids[i]), 0);
        merges += git_commit_parentcount(c) == 2;
        git_commit_free(c);
    }
    assert_int_equal(merges, 3);
    free(ids);
    assert_walk(repo, &head, false);
}

/* A history written by stock git (git fast-import), packed or loose, in the fixture's directory
 * `name`: 200 commits on main, a side branch of 30 from commit 60 merged at commit 120, and a
 * second side branch of 10 from commit 140 merged at 170 with the side as the first parent. */
static git_repository *git_history(struct fixture *f, const char *name, bool loose)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/%s.fi", f->dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    int mark = 0, main_tip = 0, side_tip = 0;
    for (int i = 1; i <= 200; i++) {
        int from = i == 60 || i == 140 ? mark : 0, side = i == 140 ? 10 : i == 60 ? 30 : 0;
        for (int j = 0; j < side; j++) {
            fprintf(fp, "commit refs/heads/side%d\nmark :%d\n", i, ++mark);
            fprintf(fp, "committer Git <git@example.org> %d +0000\ndata 5\nside\n",
                    1700000000 + mark);
            if (j == 0)
                fprintf(fp, "from :%d\n", from);
            fprintf(fp, "M 100644 inline s%d/n%d.txt\ndata <<END\nside %d\nEND\n\n", i, j % 4, j);
            side_tip = mark;
        }
        fprintf(fp, "commit refs/heads/main\nmark :%d\n", ++mark);
        fprintf(fp, "committer Git <git@example.org> %d +0000\ndata 5\nmain\n", 1700000000 + mark);
        if (i == 120)
            fprintf(fp, "merge :%d\n", side_tip);
        if (i == 170) /* the side first: main's own line comes second */
            fprintf(fp, "from :%d\nmerge :%d\n", side_tip, main_tip);
        fprintf(fp, "M 100644 inline f%d.txt\ndata <<END\nmain %d\nEND\n\n", i % 9, i);
        main_tip = mark;
    }
    assert_int_equal(fclose(fp), 0);
    return helper_fast_import(f->dir, name, path, loose);
}

static void a_plain_git_history_is_walked_alike_by_libgit2(void **state)
{
    struct fixture *f = *state;
    if (!have_tool("git"))
        skip();
    for (int loose = 0; loose <= 1; loose++) {
        git_repository *repo = git_history(f, loose ? "loose" : "packed", loose);
        git_oid head, *ids = NULL;
        size_t count = 0;
        assert_int_equal(git_reference_name_to_id(&head, repo, "refs/heads/main"), 0);
        assert_int_equal(twin_history_walk(&ids, &count, repo, &head), 0);
        assert_int_equal(count, 240);
        free(ids);
        assert_walk(repo, &head, false);
        git_repository_free(repo);
    }
}

/* twin_history_walk_libgit2 run in a child process: libgit2 1.5 leaks the commits a topological
 * walk has listed when the walk fails part way (in limit_list), which the sanitizer's leak check
 * would report. The child hands back the code, whether nothing was returned, and the message, and
 * leaves without the check. */
static int walk_libgit2_apart(bool *nothing, char *msg, size_t cap, git_repository *repo,
                              const git_oid *head)
{
    int fds[2], status = 0, rc = 0, empty = 0, at = 0;
    char buf[1024];
    size_t len = 0;
    ssize_t got;
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        git_oid *ids = NULL;
        size_t count = 0;
        close(fds[0]);
        rc = twin_history_walk_libgit2(&ids, &count, repo, head);
        int n = snprintf(buf, sizeof(buf), "%d %d %s", rc, ids == NULL && count == 0,
                         twin_error_last());
        _exit(write(fds[1], buf, (size_t)n) == n ? 0 : 1);
    }
    close(fds[1]);
    while (len + 1 < sizeof(buf) && (got = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)got;
    buf[len] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(sscanf(buf, "%d %d %n", &rc, &empty, &at), 2);
    *nothing = empty;
    snprintf(msg, cap, "%s", buf + at);
    return rc;
}

/* A commit deleted from the middle of a history (a loose object removed): both walks fail, each
 * naming the commit, and return nothing. */
static void a_missing_commit_fails_both_walks(void **state)
{
    struct fixture *f = *state;
    char cmd[800], hex[GIT_OID_HEXSZ + 1];
    if (!have_tool("git"))
        skip();
    git_repository *repo = git_history(f, "damaged", true);
    git_oid head, gone, *ids = NULL;
    size_t count = 0;
    git_object *o = NULL;
    assert_int_equal(git_reference_name_to_id(&head, repo, "refs/heads/main"), 0);
    assert_int_equal(git_revparse_single(&o, repo, "side60~10"), 0); /* reached by a merge */
    gone = *git_object_id(o);
    git_object_free(o);
    git_oid_tostr(hex, sizeof(hex), &gone);
    snprintf(cmd, sizeof(cmd), "rm '%s/damaged/objects/%.2s/%s'", f->dir, hex, hex + 2);
    assert_int_equal(system(cmd), 0);
    git_repository_free(repo);
    snprintf(cmd, sizeof(cmd), "%s/damaged", f->dir);
    assert_int_equal(git_repository_open(&repo, cmd), 0);
    assert_error(twin_history_walk(&ids, &count, repo, &head), TWIN_ERROR, hex);
    assert_non_null(strstr(twin_error_last(), "the store is damaged"));
    assert_null(ids);
    char msg[1024];
    bool nothing = false;
    assert_int_equal(walk_libgit2_apart(&nothing, msg, sizeof(msg), repo, &head), TWIN_ERROR);
    assert_true(nothing);
    if (!strstr(msg, hex) || !strstr(msg, "the store is damaged"))
        fail_msg("libgit2's walk failed with \"%s\"", msg);
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
    /* libgit2's walk fails the same way, naming the commit in its own words. */
    assert_error(twin_history_walk_libgit2(&ids, &count, repo, &id), TWIN_ERROR,
                 "the store is damaged: object not found - no match for id (" PARENT_HEX);
    assert_null(ids);
    assert_int_equal(count, 0);
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
    assert_error(twin_history_walk_libgit2(&ids, &count, repo, &blob), TWIN_EVERIFY,
                 "cannot be walked (the store is damaged)");
    assert_null(ids);
    git_repository_free(repo);
}

/* Every commit of the iterator from head, in its order. */
static size_t iterate(git_oid *out, size_t cap, git_repository *repo, const git_oid *head,
                      bool whole)
{
    twin_history_iter *it = NULL;
    size_t n = 0;
    git_oid id;
    int64_t t;
    int rc;
    assert_int_equal(twin_history_iter_new(&it, repo, head, whole), 0);
    while ((rc = twin_history_iter_next(&id, &t, it)) == 0) {
        assert_true(n < cap);
        out[n++] = id;
    }
    assert_int_equal(rc, 1);
    twin_history_iter_free(it);
    return n;
}

/* Merged lines whose commits share seconds and whose clocks disagree (a commit dated before its
 * parent): newest first as a whole gives libgit2's topological, time-sorted order exactly, and by
 * date gives every commit once, the head first. */
static void newest_first_is_libgit2s_order_and_by_date_gives_each_commit_once(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = new_repo(f->dir);
    enum { N = 400 };
    static git_oid all[N + 1], ours[N + 1], theirs[N + 1];
    static bool has_child[N];
    unsigned seed = 20261207;
    all[0] = commit_at(repo, NULL, 0, 0, 0);
    for (int i = 1; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = (seed >> 16) % 20 < 13 ? 1 : 2;
        git_oid ps[2];
        for (size_t k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pick = k == 0 ? (size_t)i - 1 - (seed >> 16) % (i < 6 ? (unsigned)i : 6u)
                                 : (seed >> 16) % (unsigned)i;
            ps[k] = all[pick];
            has_child[pick] = true;
            if (k == 1 && git_oid_equal(&ps[0], &ps[1]))
                n = 1;
        }
        seed = seed * 1103515245u + 12345u;
        int when = i / 5 - ((seed >> 16) % 10 == 0 ? 30 : 0); /* ties, and some clocks behind */
        all[i] = commit_at(repo, ps, n, i, when);
        if (i == N / 2)
            pack_up_to(repo, &all[i]);
    }
    git_oid tips[8];
    size_t ntips = 0;
    for (int i = N - 1; i >= 0 && ntips < 8; i--)
        if (!has_child[i])
            tips[ntips++] = all[i];
    all[N] = commit_at(repo, tips, ntips, N, N / 5);

    git_revwalk *walk = NULL;
    git_oid id;
    size_t nth = 0;
    assert_int_equal(git_revwalk_new(&walk, repo), 0);
    assert_int_equal(git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME), 0);
    assert_int_equal(git_revwalk_push(walk, &all[N]), 0);
    while (git_revwalk_next(&id, walk) == 0)
        theirs[nth++] = id;
    git_revwalk_free(walk);
    size_t n = iterate(ours, N + 1, repo, &all[N], true);
    assert_int_equal(n, nth);
    for (size_t i = 0; i < n; i++)
        assert_true(git_oid_equal(&ours[i], &theirs[i]));

    n = iterate(ours, N + 1, repo, &all[N], false);
    assert_int_equal(n, nth);
    assert_true(git_oid_equal(&ours[0], &all[N]));
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(position(theirs, nth, &ours[i]), nth);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            assert_false(git_oid_equal(&ours[i], &ours[j]));
    git_repository_free(repo);
}

/* By date, only what it gives is read: the newest of a long line comes out when the rest of the
 * line is gone from the store. */
static void by_date_reads_only_as_far_as_it_gives(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = new_repo(f->dir);
    git_oid line[30], id;
    int64_t t;
    for (int i = 0; i < 30; i++)
        line[i] = commit_on(repo, i ? &line[i - 1] : NULL, i ? 1 : 0, i);
    char path[4200], hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof(hex), &line[10]);
    snprintf(path, sizeof(path), "%s/objects/%.2s/%s", git_repository_path(repo), hex, hex + 2);
    assert_int_equal(unlink(path), 0);
    twin_history_iter *it = NULL;
    assert_int_equal(twin_history_iter_new(&it, repo, &line[29], false), 0);
    for (int i = 29; i >= 12; i--) {
        assert_int_equal(twin_history_iter_next(&id, &t, it), 0);
        assert_true(git_oid_equal(&id, &line[i]));
        assert_int_equal(t, 1700000000 + i);
    }
    assert_error(twin_history_iter_next(&id, &t, it), TWIN_ERROR, hex);
    twin_history_iter_free(it);
    assert_error(twin_history_iter_new(&it, repo, &line[29], true), TWIN_ERROR, hex);
    git_repository_free(repo);
}

/* A commit on parent (or none) with message, its tree empty. */
static git_oid commit_saying(git_repository *repo, const git_oid *parent, const char *message)
{
    git_treebuilder *tb = NULL;
    git_oid tree_id, id;
    git_tree *tree = NULL;
    git_signature *sig = NULL;
    git_commit *p = NULL;
    assert_int_equal(git_treebuilder_new(&tb, repo, NULL), 0);
    assert_int_equal(git_treebuilder_write(&tree_id, tb), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &tree_id), 0);
    assert_int_equal(git_signature_new(&sig, "Example", "XE-EXAMPLE-MOF", 1700000000, 0), 0);
    if (parent)
        assert_int_equal(git_commit_lookup(&p, repo, parent), 0);
    const git_commit *ps[] = {p};
    assert_int_equal(
        git_commit_create(&id, repo, NULL, sig, sig, NULL, message, tree, parent ? 1 : 0, ps), 0);
    git_commit_free(p);
    git_signature_free(sig);
    git_tree_free(tree);
    git_treebuilder_free(tb);
    return id;
}

/* The summary the walk reads is git's (git_commit_summary), for commits in a pack and loose;
 * a header read beside it is libgit2's. */
static void a_commits_summary_and_header_are_read_as_libgit2_reads_them(void **state)
{
    struct fixture *f = *state;
    static const char *const messages[] = {
        "Add a record\n",
        "\n\nAfter blank lines\nand a second line\n\nA body that is left out\n",
        "  Indented,  with  runs of spaces\n\tand a tab\n",
        "Trailing white space   \t\n",
        "",
        "No line end",
        "First line\n   \nafter a line of spaces\n",
        "A line\r\nwith a carriage return\n",
        "Ends in two\n\n",
        "\n",
    };
    enum { COUNT = sizeof(messages) / sizeof(messages[0]) };
    git_repository *repo = new_repo(f->dir);
    git_oid ids[COUNT];
    for (size_t i = 0; i < COUNT; i++) {
        ids[i] = commit_saying(repo, i ? &ids[i - 1] : NULL, messages[i]);
        if (i == COUNT / 2)
            pack_up_to(repo, &ids[i]); /* the first half packed, the rest loose */
    }
    git_odb *odb = NULL;
    twin_packread *packs = NULL;
    twin_history_iter *it = NULL;
    assert_int_equal(git_repository_odb(&odb, repo), 0);
    assert_int_equal(twin_packread_open(&packs, repo), 0);
    assert_int_equal(twin_history_iter_new(&it, repo, &ids[COUNT - 1], true), 0);
    for (size_t i = 0; i < COUNT; i++) {
        git_commit *c = NULL;
        char summary[300], cut[8];
        assert_int_equal(git_commit_lookup(&c, repo, &ids[i]), 0);
        assert_int_equal(twin_history_iter_summary(summary, sizeof(summary), it, &ids[i]), 0);
        assert_string_equal(summary, git_commit_summary(c) ? git_commit_summary(c) : "");
        assert_int_equal(twin_history_iter_summary(cut, sizeof(cut), it, &ids[i]), 0);
        assert_true(strlen(cut) < sizeof(cut));
        assert_int_equal(strncmp(cut, summary, strlen(cut)), 0);

        struct twin_commit_head h;
        assert_int_equal(twin_history_read_head(&h, packs, odb, &ids[i]), 0);
        assert_true(git_oid_equal(&h.tree, git_commit_tree_id(c)));
        assert_int_equal(h.nparents, git_commit_parentcount(c));
        if (i)
            assert_true(git_oid_equal(&h.parents[0], &ids[i - 1]));
        assert_int_equal(h.time, git_commit_time(c));
        assert_null(h.parent0);
        git_commit_free(c);
    }
    /* Not a commit: the tree. */
    char summary[64];
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, repo, &ids[0]), 0);
    assert_error(twin_history_iter_summary(summary, sizeof(summary), it, git_commit_tree_id(c)),
                 TWIN_EVERIFY, "is not a commit");
    git_commit_free(c);
    twin_history_iter_free(it);
    twin_packread_free(packs);
    git_odb_free(odb);
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
        cmocka_unit_test_setup_teardown(a_merge_takes_its_first_parent_first, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(a_nodes_history_with_merges_is_walked_alike_by_libgit2,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(a_plain_git_history_is_walked_alike_by_libgit2,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(a_missing_commit_fails_both_walks, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(a_missing_parent_is_named, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(an_object_that_is_not_a_commit_is_refused, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(
            newest_first_is_libgit2s_order_and_by_date_gives_each_commit_once, fixture_setup,
            fixture_teardown),
        cmocka_unit_test_setup_teardown(a_commits_summary_and_header_are_read_as_libgit2_reads_them,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(by_date_reads_only_as_far_as_it_gives, fixture_setup,
                                        fixture_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    git_libgit2_shutdown();
    return rc;
}
