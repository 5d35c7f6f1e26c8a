/* The validity check of many commits on many threads (src/rules/checkrun.c): the same verdicts
 * on one thread as on several, every commit checked once, errors that stop the run, and the check
 * of a line of new commits before it is published, which names the oldest one refused. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "helpers.h"
#include "rules/checkrun.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/record.h"
#include "twin/store.h"
#include "twin/global.h"
#include "twin/validity.h"

static const struct twin_identity north = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                           "NL", "north", "10"};

struct node_fixture {
    struct fixture *tmp;
    twin_node *node;
    git_oid genesis;
};

static int setup_node(void **state)
{
    struct node_fixture *f = calloc(1, sizeof(*f));
    char path[192];
    void *tmp = NULL;
    if (!f || fixture_setup(&tmp))
        return -1;
    f->tmp = tmp;
    snprintf(path, sizeof(path), "%s/north", f->tmp->dir);
    if (twin_network_create(&f->node, path, &north, "Example Tax Twinning") ||
        twin_node_head(&f->genesis, f->node)) {
        print_error("setup: %s\n", twin_error_last());
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown_node(void **state)
{
    struct node_fixture *f = *state;
    void *tmp = f->tmp;
    twin_node_free(f->node);
    fixture_teardown(&tmp);
    free(f);
    return 0;
}

/* ---- a line of commits ---------------------------------------------------------------------- */

/* One commit on parent adding a note, or, when bad, a file the validity predicate refuses
 * (stray-<i>.txt: not a place twin keeps anything). Not published. */
static git_oid commit_on(struct node_fixture *f, const git_oid *parent_id, size_t i, bool bad)
{
    git_repository *repo = twin_node_repo(f->node);
    git_commit *parent = NULL;
    git_tree *base = NULL, *tree = NULL;
    git_tree_update u = {0};
    git_oid tree_id, id;
    char path[128], note_id[TWIN_ID_LEN + 1], title[32], *text = NULL;
    size_t len;
    snprintf(title, sizeof(title), "Note %zu", i);
    if (bad) {
        snprintf(path, sizeof(path), "stray-%zu.txt", i);
        text = strdup("stray\n");
        len = strlen(text);
    } else {
        twin_record_new_id(note_id);
        assert_int_equal(twin_record_path(path, sizeof(path), "note", note_id), 0);
        json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "id", note_id, "type", "note", "kind",
                                "note", "title", title);
        assert_int_equal(twin_record_canonical(&text, &len, rec), 0);
        json_decref(rec);
    }
    assert_int_equal(git_commit_lookup(&parent, repo, parent_id), 0);
    assert_int_equal(git_commit_tree(&base, parent), 0);
    u.action = GIT_TREE_UPDATE_UPSERT;
    u.filemode = GIT_FILEMODE_BLOB;
    u.path = path;
    assert_int_equal(git_blob_create_from_buffer(&u.id, repo, text, len), 0);
    assert_int_equal(git_tree_create_updated(&tree_id, repo, base, 1, &u), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &tree_id), 0);
    const git_commit *parents[] = {parent};
    if (twin_store_write_commit(&id, repo, twin_node_key(f->node), north.name, north.org_id, tree,
                                parents, 1, title))
        fail_msg("write commit: %s", twin_error_last());
    free(text);
    git_tree_free(tree);
    git_tree_free(base);
    git_commit_free(parent);
    return id;
}

/* n commits on the genesis, oldest first; those whose index is in bad are refused. */
static git_oid *line(struct node_fixture *f, size_t n, const size_t *bad, size_t nbad)
{
    git_oid *ids = calloc(n, sizeof(*ids));
    git_oid at = f->genesis;
    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) {
        bool is_bad = false;
        for (size_t k = 0; k < nbad; k++)
            is_bad = is_bad || bad[k] == i;
        ids[i] = at = commit_on(f, &at, i, is_bad);
    }
    return ids;
}

/* ---- twin_checkrun -------------------------------------------------------------------------- */

struct verdict {
    atomic_int calls;
    bool valid;
    char reason[600];
    char org_id[128];
    size_t changes;
};

struct run_ctx {
    const char *repo_path;
    struct verdict *verdicts;
    atomic_int opens, closes, binds;
    atomic_int mismatched; /* calls that handed back something else than expected */
    const char *fail_open; /* when set, open fails with this message */
    int progress_calls;
    size_t progress_done;
    int progress_rc;
};

static int open_repo(git_repository **repo, void **extra, void *ctx)
{
    struct run_ctx *c = ctx;
    *extra = c;
    atomic_fetch_add(&c->opens, 1);
    if (c->fail_open)
        return twin_error(TWIN_ERROR, "%s", c->fail_open);
    return git_repository_open_bare(repo, c->repo_path) < 0 ? twin_error_git("opening") : 0;
}

static void close_repo(git_repository *repo, void *extra, void *ctx)
{
    struct run_ctx *c = ctx;
    if (extra != c) /* what open handed over comes back (no cmocka assertion off the main thread) */
        atomic_fetch_add(&c->mismatched, 1);
    atomic_fetch_add(&c->closes, 1);
    git_repository_free(repo);
}

static int bind_cache(twin_check_cache *cache, git_repository *repo, void *ctx)
{
    struct run_ctx *c = ctx;
    if (!cache || !repo)
        atomic_fetch_add(&c->mismatched, 1);
    atomic_fetch_add(&c->binds, 1);
    return 0;
}

static void record(size_t index, const struct twin_check *check, void *ctx)
{
    struct run_ctx *c = ctx;
    struct verdict *v = &c->verdicts[index];
    atomic_fetch_add(&v->calls, 1);
    v->valid = check->valid;
    v->changes = check->changes;
    snprintf(v->reason, sizeof(v->reason), "%s", check->reason);
    snprintf(v->org_id, sizeof(v->org_id), "%s", check->org_id);
}

static int progress(size_t done, void *ctx)
{
    struct run_ctx *c = ctx;
    c->progress_calls++;
    c->progress_done = done;
    return c->progress_rc;
}

/* Runs twin_checkrun over ids on threads; the verdicts (calloc'd, free() them) and *rc. */
static struct verdict *run_on(struct node_fixture *f, const git_oid *ids, size_t n, int threads,
                              size_t *done, int *rc, struct run_ctx *c)
{
    c->repo_path = git_repository_path(twin_node_repo(f->node));
    c->verdicts = calloc(n ? n : 1, sizeof(*c->verdicts));
    assert_non_null(c->verdicts);
    struct twin_checkrun run = {.ids = ids,
                                .count = n,
                                .threads = threads,
                                .open = open_repo,
                                .close = close_repo,
                                .bind = bind_cache,
                                .result = record,
                                .ctx = c};
    *rc = twin_checkrun(done, &run);
    return c->verdicts;
}

static const size_t bad_in_200[] = {0, 63, 64, 130, 199};

static void one_and_several_threads_reach_the_same_verdicts(void **state)
{
    struct node_fixture *f = *state;
    const size_t n = 200;
    git_oid *ids = line(f, n, bad_in_200, 5);
    const int threads[] = {1, 4, 0};
    struct verdict *first = NULL;
    for (size_t t = 0; t < 3; t++) {
        struct run_ctx c = {0};
        size_t done = 0;
        int rc = -100;
        struct verdict *v = run_on(f, ids, n, threads[t], &done, &rc, &c);
        if (rc)
            fail_msg("%d threads: %s", threads[t], twin_error_last());
        assert_int_equal(done, n);
        /* Each thread opened, bound and closed its own repository. */
        assert_int_equal(atomic_load(&c.opens), atomic_load(&c.closes));
        assert_int_equal(atomic_load(&c.opens), atomic_load(&c.binds));
        assert_int_equal(atomic_load(&c.mismatched), 0);
        assert_in_range(atomic_load(&c.opens), 1, threads[t] ? threads[t] : 16);
        if (threads[t] == 1)
            assert_int_equal(atomic_load(&c.opens), 1);
        for (size_t i = 0; i < n; i++) {
            bool bad = false;
            for (size_t k = 0; k < 5; k++)
                bad = bad || bad_in_200[k] == i;
            if (atomic_load(&v[i].calls) != 1)
                fail_msg("%d threads: commit %zu reported %d times", threads[t], i,
                         atomic_load(&v[i].calls));
            if (v[i].valid == bad)
                fail_msg("%d threads: commit %zu is %s: %s", threads[t], i,
                         v[i].valid ? "valid" : "refused", v[i].reason);
            assert_int_equal(v[i].changes, 1);
            assert_string_equal(v[i].org_id, north.org_id);
            if (bad)
                assert_non_null(strstr(v[i].reason, "not a place twin keeps anything"));
            if (first) {
                assert_int_equal(v[i].valid, first[i].valid);
                assert_string_equal(v[i].reason, first[i].reason);
            }
        }
        if (first)
            free(v);
        else
            first = v;
    }
    free(first);
    free(ids);
}

static void several_threads_are_used_only_for_long_runs(void **state)
{
    struct node_fixture *f = *state;
    git_oid *ids = line(f, 64, NULL, 0);
    struct run_ctx c = {0};
    size_t done = 0;
    int rc;
    /* Fewer than 64 commits are one thread's work, however many are allowed. */
    free(run_on(f, ids, 63, 8, &done, &rc, &c));
    assert_int_equal(rc, 0);
    assert_int_equal(done, 63);
    assert_int_equal(atomic_load(&c.opens), 1);
    /* One more thread for every 64 commits. */
    struct run_ctx c2 = {0};
    free(run_on(f, ids, 64, 8, &done, &rc, &c2));
    assert_int_equal(rc, 0);
    assert_int_equal(done, 64);
    assert_int_equal(atomic_load(&c2.opens), 2);
    free(ids);
}

/* Runs kept across calls, as the log checks a window at a time: each thread's repository is
 * opened and its cache bound once, whatever the number of runs, and closed only when the kept set
 * is freed; the verdicts are those of runs that keep nothing. */
static void kept_threads_open_once_across_runs(void **state)
{
    struct node_fixture *f = *state;
    const size_t n = 200, windows[][2] = {{100, 200}, {0, 100}, {150, 200}};
    git_oid *ids = line(f, n, bad_in_200, 5);
    struct run_ctx plain = {0}, c = {0};
    size_t done = 0;
    int rc = -100;
    struct verdict *want = run_on(f, ids, n, 2, &done, &rc, &plain);
    assert_int_equal(rc, 0);
    twin_checkrun_kept *kept = NULL;
    assert_int_equal(twin_checkrun_kept_new(&kept), 0);
    c.repo_path = git_repository_path(twin_node_repo(f->node));
    for (size_t w = 0; w < 3; w++) {
        size_t from = windows[w][0], count = windows[w][1] - from;
        c.verdicts = calloc(count, sizeof(*c.verdicts));
        assert_non_null(c.verdicts);
        struct twin_checkrun run = {.ids = ids + from,
                                    .count = count,
                                    .threads = 2,
                                    .open = open_repo,
                                    .close = close_repo,
                                    .bind = bind_cache,
                                    .result = record,
                                    .ctx = &c,
                                    .kept = kept};
        rc = twin_checkrun(&done, &run);
        if (rc)
            fail_msg("window %zu: %s", w, twin_error_last());
        assert_int_equal(done, count);
        for (size_t i = 0; i < count; i++) {
            assert_int_equal(atomic_load(&c.verdicts[i].calls), 1);
            assert_int_equal(c.verdicts[i].valid, want[from + i].valid);
            assert_string_equal(c.verdicts[i].reason, want[from + i].reason);
        }
        free(c.verdicts);
        c.verdicts = NULL;
    }
    /* Two threads for 100 commits and more: two repositories, opened in the first window. */
    assert_int_equal(atomic_load(&c.opens), 2);
    assert_int_equal(atomic_load(&c.binds), 2);
    assert_int_equal(atomic_load(&c.closes), 0);
    twin_checkrun_kept_free(kept);
    assert_int_equal(atomic_load(&c.closes), 2);
    assert_int_equal(atomic_load(&c.mismatched), 0);
    free(want);
    free(ids);
}

static void an_empty_run_checks_nothing(void **state)
{
    struct node_fixture *f = *state;
    struct run_ctx c = {0};
    size_t done = 99;
    int rc = -100;
    free(run_on(f, NULL, 0, 4, &done, &rc, &c));
    assert_int_equal(rc, 0);
    assert_int_equal(done, 0);
    assert_int_equal(atomic_load(&c.opens), 0);
}

static void a_repository_that_cannot_be_opened_stops_the_run(void **state)
{
    struct node_fixture *f = *state;
    git_oid *ids = line(f, 130, NULL, 0);
    const int threads[] = {1, 3};
    for (size_t t = 0; t < 2; t++) {
        struct run_ctx c = {.fail_open = "no repository here"};
        size_t done = 99;
        int rc = 0;
        struct verdict *v = run_on(f, ids, 130, threads[t], &done, &rc, &c);
        assert_error(rc, TWIN_ERROR, "no repository here");
        assert_int_equal(done, 0);
        assert_int_equal(atomic_load(&c.closes), 0); /* nothing was opened to close */
        for (size_t i = 0; i < 130; i++)
            assert_int_equal(atomic_load(&v[i].calls), 0);
        free(v);
    }
    free(ids);
}

static void a_commit_that_cannot_be_read_stops_the_run_and_is_named(void **state)
{
    struct node_fixture *f = *state;
    git_oid *ids = line(f, 3, NULL, 0);
    git_oid missing;
    char message[128];
    assert_int_equal(git_oid_fromstr(&missing, "1234567890123456789012345678901234567890"), 0);
    ids[1] = missing;
    struct run_ctx c = {0};
    size_t done = 99;
    int rc = 0;
    struct verdict *v = run_on(f, ids, 3, 1, &done, &rc, &c);
    snprintf(message, sizeof(message), "checking commit %s", git_oid_tostr_s(&missing));
    assert_true(rc < 0);
    assert_error(rc, rc, message);
    assert_int_equal(done, 1);
    assert_int_equal(atomic_load(&v[0].calls), 1);
    assert_int_equal(atomic_load(&v[1].calls), 0);
    assert_int_equal(atomic_load(&v[2].calls), 0);
    assert_int_equal(atomic_load(&c.closes), 1);
    free(v);
    free(ids);
}

static void progress_on_one_thread_is_told_the_total_and_can_stop_it(void **state)
{
    struct node_fixture *f = *state;
    git_oid *ids = line(f, 5, NULL, 0);
    struct run_ctx c = {0};
    size_t done = 0;
    c.repo_path = git_repository_path(twin_node_repo(f->node));
    c.verdicts = calloc(5, sizeof(*c.verdicts));
    assert_non_null(c.verdicts);
    struct twin_checkrun run = {.ids = ids,
                                .count = 5,
                                .threads = 1,
                                .open = open_repo,
                                .close = close_repo,
                                .result = record,
                                .progress = progress,
                                .ctx = &c};
    assert_int_equal(twin_checkrun(&done, &run), 0);
    assert_int_equal(c.progress_calls, 1);
    assert_int_equal(c.progress_done, 5);
    assert_int_equal(atomic_load(&c.binds), 0); /* bind is optional */
    /* What progress returns comes back. */
    c.progress_rc = 42;
    assert_int_equal(twin_checkrun(&done, &run), 42);
    assert_int_equal(done, 5);
    free(c.verdicts);
    free(ids);
}

/* ---- twin_checkrun_new ---------------------------------------------------------------------- */

static void a_valid_new_line_may_be_published(void **state)
{
    struct node_fixture *f = *state;
    git_oid *ids = line(f, 4, NULL, 0);
    git_repository *repo = twin_node_repo(f->node);
    assert_int_equal(twin_checkrun_new(repo, &f->genesis, &ids[3]), 0);
    assert_int_equal(twin_checkrun_new(repo, &ids[1], &ids[3]), 0);
    /* No new commit: nothing to refuse. */
    assert_int_equal(twin_checkrun_new(repo, &ids[3], &ids[3]), 0);
    free(ids);
}

static void assert_refused_naming(struct node_fixture *f, const git_oid *base, const git_oid *tip,
                                  const git_oid *oldest_bad, size_t bad_index)
{
    char message[300];
    snprintf(message, sizeof(message),
             "this node made commit %s, which the validity predicate refuses (stray-%zu.txt: not "
             "a place twin keeps anything); it was not published",
             git_oid_tostr_s(oldest_bad), bad_index);
    assert_error(twin_checkrun_new(twin_node_repo(f->node), base, tip), TWIN_EVERIFY, message);
}

static void a_new_line_with_refused_commits_is_refused_naming_the_oldest(void **state)
{
    struct node_fixture *f = *state;
    const size_t bad[] = {2, 4};
    git_oid *ids = line(f, 6, bad, 2);
    assert_refused_naming(f, &f->genesis, &ids[5], &ids[2], 2);
    /* From just after it, the next one is the oldest. */
    assert_refused_naming(f, &ids[2], &ids[5], &ids[4], 4);
    /* A line that ends before the first is fine. */
    assert_int_equal(twin_checkrun_new(twin_node_repo(f->node), &f->genesis, &ids[1]), 0);
    free(ids);
}

/* From 512 new commits on, the line is checked on several threads: the oldest refused commit is
 * still the one named, wherever the threads' chunks fall. */
static void a_long_new_line_checked_on_threads_names_the_oldest_refused(void **state)
{
    struct node_fixture *f = *state;
    const size_t bad[] = {517, 301, 302, 40};
    git_oid *ids = line(f, 520, bad, 4);
    assert_refused_naming(f, &f->genesis, &ids[519], &ids[40], 40);
    assert_refused_naming(f, &ids[40], &ids[519], &ids[301], 301);
    free(ids);
}

static void a_tip_that_does_not_build_on_the_base_is_an_error(void **state)
{
    struct node_fixture *f = *state;
    git_oid *ids = line(f, 3, NULL, 0);
    git_oid side = commit_on(f, &f->genesis, 99, false); /* a sibling of ids[0] */
    git_oid missing;
    char message[200], root[GIT_OID_HEXSZ + 1], base[GIT_OID_HEXSZ + 1];
    git_oid_tostr(root, sizeof(root), &f->genesis);
    git_oid_tostr(base, sizeof(base), &side);
    assert_int_equal(git_oid_fromstr(&missing, "1234567890123456789012345678901234567890"), 0);
    assert_error(twin_checkrun_new(twin_node_repo(f->node), &f->genesis, &missing), TWIN_ERROR,
                 "reading a new commit");
    /* The walk down from the tip reaches the root without meeting the base. */
    int rc = twin_checkrun_new(twin_node_repo(f->node), &side, &ids[2]);
    free(ids);
    assert_error(rc, TWIN_ERROR, " does not build on ");
    /* Both ids named, each once: the root reached and the base it should have met. */
    snprintf(message, sizeof(message), "new commit %s does not build on %s", root, base);
    assert_string_equal(twin_error_last(), message);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

#define NODE_TEST(t) cmocka_unit_test_setup_teardown(t, setup_node, teardown_node)

int main(void)
{
    const struct CMUnitTest tests[] = {
        NODE_TEST(one_and_several_threads_reach_the_same_verdicts),
        NODE_TEST(several_threads_are_used_only_for_long_runs),
        NODE_TEST(kept_threads_open_once_across_runs),
        NODE_TEST(an_empty_run_checks_nothing),
        NODE_TEST(a_repository_that_cannot_be_opened_stops_the_run),
        NODE_TEST(a_commit_that_cannot_be_read_stops_the_run_and_is_named),
        NODE_TEST(progress_on_one_thread_is_told_the_total_and_can_stop_it),
        NODE_TEST(a_valid_new_line_may_be_published),
        NODE_TEST(a_new_line_with_refused_commits_is_refused_naming_the_oldest),
        NODE_TEST(a_long_new_line_checked_on_threads_names_the_oldest_refused),
        NODE_TEST(a_tip_that_does_not_build_on_the_base_is_an_error),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
