/* twin_audit_verify over a history longer than the chunks its threads take: the same report on one
 * thread as on several, faults named at the commits that break the rules wherever they fall, and
 * every verdict the same as a check of each commit on its own, without any cache. And
 * twin_sealedcheck_run: sealed content that breaks its schema is the audience's finding, never a
 * refusal. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin/audit.h"
#include "twin/merge.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/store.h"
#include "twin/global.h"
#include "twin/validity.h"
#include "ops/sealed.h"
#include "unit/helpers.h"

static const struct twin_identity admin_who = {"Ministry of Finance of Exampleland",
                                               "XE-EXAMPLE-MOF", "NL", "north", "10"};

struct history {
    void *dir; /* the fixture: a temporary directory */
    twin_node *node;
    git_oid outsider_commit, stray_commit;
};

static int fill(json_t *rec, void *ctx)
{
    char title[32];
    snprintf(title, sizeof(title), "Note %u", *(unsigned *)ctx);
    return json_object_set_new(rec, "title", json_string(title)) ? TWIN_ERROR : 0;
}

static void add_notes(twin_node *node, unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        char id[TWIN_ID_LEN + 1];
        git_oid commit;
        if (twin_ops_add(id, &commit, node, "note", fill, &i))
            fail_msg("add: %s", twin_error_last());
    }
}

/* A signed commit on the head writing text at path, the branch moved on. */
static git_oid commit_file(twin_node *node, const twin_keypair *key, const char *path,
                           const char *text)
{
    git_repository *repo = twin_node_repo(node);
    git_oid head, tree_id, commit_id;
    git_commit *parent = NULL;
    git_tree *base = NULL, *tree = NULL;
    git_tree_update u = {
        .action = GIT_TREE_UPDATE_UPSERT, .path = path, .filemode = GIT_FILEMODE_BLOB};
    assert_int_equal(twin_node_head(&head, node), 0);
    assert_int_equal(git_commit_lookup(&parent, repo, &head), 0);
    assert_int_equal(git_commit_tree(&base, parent), 0);
    assert_int_equal(git_blob_create_from_buffer(&u.id, repo, text, strlen(text)), 0);
    assert_int_equal(git_tree_create_updated(&tree_id, repo, base, 1, &u), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &tree_id), 0);
    const git_commit *parents[] = {parent};
    if (twin_store_write_commit(&commit_id, repo, key, "Someone", twin_node_org_id(node), tree,
                                parents, 1, "test change\n"))
        fail_msg("write commit: %s", twin_error_last());
    assert_int_equal(twin_store_advance(repo, &head, &commit_id, "test"), 0);
    git_tree_free(tree);
    git_tree_free(base);
    git_commit_free(parent);
    return commit_id;
}

/* Two lines of n notes each from the head, then their merge on the branch: a merge that every
 * verify re-derives, writing the merged objects again. */
static void diverge_and_merge(twin_node *node, unsigned n)
{
    git_repository *repo = twin_node_repo(node);
    git_oid base, a, b, merge;
    struct twin_merge_result r;
    assert_int_equal(twin_node_head(&base, node), 0);
    add_notes(node, n);
    assert_int_equal(twin_node_head(&a, node), 0);
    assert_int_equal(twin_store_advance(repo, &a, &base, "test: second line"), 0);
    add_notes(node, n);
    assert_int_equal(twin_node_head(&b, node), 0);
    assert_int_equal(twin_merge_commit(&merge, &r, node, NULL, &b, &a), 0);
    assert_int_equal(twin_store_advance(repo, &b, &merge, "test: merge"), 0);
}

/* One history for every test: building it is the slow part. */
static int setup(void **state)
{
    struct history *h = calloc(1, sizeof(*h));
    char path[192], note[128];
    twin_keypair outsider;
    if (!h || fixture_setup(&h->dir))
        return -1;
    snprintf(path, sizeof(path), "%s/node", ((struct fixture *)h->dir)->dir);
    if (twin_network_create(&h->node, path, &admin_who, "Example Tax Twinning") ||
        twin_key_generate(&outsider))
        return -1;
    /* Faults in different chunks, valid commits around them. */
    add_notes(h->node, 300);
    assert_int_equal(
        twin_record_path(note, sizeof(note), "note", "0193a5c2-0000-7000-8000-000000000001"), 0);
    h->outsider_commit =
        commit_file(h->node, &outsider, note,
                    "{\n  \"id\": \"0193a5c2-0000-7000-8000-000000000001\",\n  \"kind\": "
                    "\"note\",\n  \"title\": \"Forged\",\n  \"type\": \"note\"\n}\n");
    add_notes(h->node, 100);
    diverge_and_merge(h->node, 40);
    add_notes(h->node, 100);
    diverge_and_merge(h->node, 30);
    add_notes(h->node, 50);
    h->stray_commit = commit_file(h->node, twin_node_key(h->node), "stray.txt", "stray\n");
    diverge_and_merge(h->node, 20);
    add_notes(h->node, 80);
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    struct history *h = *state;
    twin_node_free(h->node);
    fixture_teardown(&h->dir);
    free(h);
    return 0;
}

static struct twin_verify_report *verify(twin_node *node, int threads)
{
    struct twin_verify_report *r = NULL;
    if (twin_audit_verify(&r, node, threads))
        fail_msg("verify: %s", twin_error_last());
    return r;
}

static void assert_same_report(const struct twin_verify_report *a,
                               const struct twin_verify_report *b)
{
    assert_true(git_oid_equal(&a->head, &b->head));
    assert_int_equal(a->commits, b->commits);
    assert_int_equal(a->nfaults, b->nfaults);
    for (size_t i = 0; i < a->nfaults; i++) {
        assert_true(git_oid_equal(&a->faults[i].commit, &b->faults[i].commit));
        assert_string_equal(a->faults[i].reason, b->faults[i].reason);
    }
    assert_int_equal(a->nmembers, b->nmembers);
    for (size_t i = 0; i < a->nmembers; i++) {
        assert_string_equal(a->members[i].org_id, b->members[i].org_id);
        assert_int_equal(a->members[i].commits, b->members[i].commits);
        assert_int_equal(a->members[i].first, b->members[i].first);
        assert_int_equal(a->members[i].last, b->members[i].last);
    }
}

static void the_report_names_each_fault_on_any_number_of_threads(void **state)
{
    struct history *h = *state;
    struct twin_verify_report *one = verify(h->node, 1);
    assert_int_equal(one->commits, 816);
    assert_int_equal(one->nfaults, 2);
    assert_true(git_oid_equal(&one->faults[0].commit, &h->outsider_commit));
    assert_non_null(strstr(one->faults[0].reason, "signed by a key outside the membership"));
    assert_true(git_oid_equal(&one->faults[1].commit, &h->stray_commit));
    assert_string_equal(one->faults[1].reason, "stray.txt: not a place twin keeps anything");
    assert_int_equal(one->nmembers, 1);
    assert_string_equal(one->members[0].org_id, "XE-EXAMPLE-MOF");
    assert_int_equal(one->members[0].commits, 814);
    for (int threads = 0; threads <= 4; threads++) {
        struct twin_verify_report *r = verify(h->node, threads);
        assert_same_report(r, one);
        twin_audit_verify_report_free(r);
    }
    twin_audit_verify_report_free(one);
}

static void each_verdict_is_what_a_check_without_cache_gives(void **state)
{
    struct history *h = *state;
    git_repository *repo = twin_node_repo(h->node);
    twin_check_cache *cache = NULL;
    git_revwalk *walk = NULL;
    git_oid head, id;
    size_t n = 0;
    assert_int_equal(twin_validity_cache_new(&cache), 0);
    assert_int_equal(twin_node_head(&head, h->node), 0);
    assert_int_equal(git_revwalk_new(&walk, repo), 0);
    assert_int_equal(git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE), 0);
    assert_int_equal(git_revwalk_push(walk, &head), 0);
    while (git_revwalk_next(&id, walk) == 0) {
        struct twin_check cached, alone;
        assert_int_equal(twin_validity_check_commit(&cached, repo, &id, cache), 0);
        assert_int_equal(twin_validity_check_commit(&alone, repo, &id, NULL), 0);
        assert_int_equal(cached.valid, alone.valid);
        assert_string_equal(cached.reason, alone.reason);
        assert_string_equal(cached.org_id, alone.org_id);
        assert_int_equal(cached.changes, alone.changes);
        assert_int_equal(cached.time, alone.time);
        n++;
    }
    assert_int_equal(n, 816);
    git_revwalk_free(walk);
    twin_validity_cache_free(cache);
}

/* Where a small history stands: its head, the head's time and message, every commit counted,
 * the records per type and the withdrawn ones, and this node's member; a node that has joined
 * and holds no history yet has none to report. */
static void the_status_counts_what_the_history_holds(void **state)
{
    struct fixture *f = *state;
    char path[192], id[TWIN_ID_LEN + 1];
    twin_node *n = NULL, *joined = NULL;
    git_oid commit, head;
    snprintf(path, sizeof(path), "%s/small", f->dir);
    assert_int_equal(twin_network_create(&n, path, &admin_who, "Example Tax Twinning"), 0);
    add_notes(n, 3);
    assert_int_equal(twin_ops_add(id, &commit, n, "note", fill, &(unsigned){9}), 0);
    assert_int_equal(twin_ops_withdraw(&commit, n, id), 0);
    struct twin_status *s = NULL;
    assert_int_equal(twin_audit_status(&s, n), 0);
    assert_int_equal(twin_node_head(&head, n), 0);
    assert_true(git_oid_equal(&s->head, &head));
    size_t commits = 0;
    assert_int_equal(twin_audit_log_count(&commits, n, &head), 0);
    assert_int_equal(s->commits, commits);
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(n), &head), 0);
    assert_int_equal(s->time, (int64_t)git_commit_time(c));
    assert_string_equal(s->summary, git_commit_summary(c));
    git_commit_free(c);
    const char *const *types = twin_record_types();
    for (size_t i = 0; types[i]; i++)
        if (strcmp(types[i], "note") == 0)
            assert_int_equal(s->per_type[i], 4);
    assert_int_equal(s->withdrawn, 1);
    assert_non_null(s->me);
    assert_string_equal(s->me->org_id, admin_who.org_id);
    assert_int_equal(s->membership->count, 1);
    twin_audit_status_free(s);

    const struct twin_identity south = {"Revenue Authority of Samplestan", "XE-EXAMPLE-RA", "TZ",
                                        "south", NULL};
    snprintf(path, sizeof(path), "%s/joined", f->dir);
    assert_int_equal(twin_node_init(&joined, path, &south, NULL, NULL, twin_node_network_id(n)), 0);
    s = NULL;
    assert_int_equal(twin_audit_status(&s, joined), TWIN_ENOHISTORY);
    assert_null(s);
    twin_node_free(joined);
    twin_node_free(n);
}

/* ---- sealed records: what only the audience sees (proto/SEALED.md 7) ------------------------ */

/* Keeps a sealed version's wraps in node's store, as its writer or a sync would. */
static void keep_wraps(twin_node *node, const struct twin_sealed *s)
{
    twin_wraps *store = NULL;
    assert_int_equal(twin_node_wraps(&store, node), 0);
    for (size_t i = 0; i < s->nwraps; i++) {
        struct twin_wrap copy = s->wraps[i];
        bool added;
        assert_int_equal(twin_wraps_add(store, &copy, &added), 0);
    }
}

/* Seals rec for audience by hand and commits the envelope directly on north's branch: what a
 * member whose twin skipped its checks could write. */
static git_oid seal_and_commit(struct helper_nodes *p, json_t *rec, const char *const *audience,
                               size_t naudience, struct twin_sealed *s)
{
    struct twin_membership *m = NULL;
    char path[128];
    assert_int_equal(twin_ops_members(&m, p->north, NULL), 0);
    if (twin_sealed_seal(s, rec, audience, naudience, NULL, m))
        fail_msg("seal: %s", twin_error_last());
    twin_membership_free(m);
    keep_wraps(p->north, s);
    assert_int_equal(twin_record_path(path, sizeof(path),
                                      json_string_value(json_object_get(rec, "type")),
                                      json_string_value(json_object_get(rec, "id"))),
                     0);
    return helper_commit_file(p->north, "Ministry North", helper_north_who.org_id, path, s->text,
                              s->text_len);
}

static bool finding_names(const struct twin_sealed_report *r, const char *id, const char *what)
{
    for (size_t i = 0; i < r->nfindings; i++)
        if (strstr(r->findings[i].text, id) && strstr(r->findings[i].text, what))
            return true;
    return false;
}

static void sealed_content_that_breaks_its_schema_is_a_finding_not_a_refusal(void **state)
{
    struct helper_nodes *p = *state;
    char both[TWIN_ID_LEN + 1], north_only[TWIN_ID_LEN + 1], good[TWIN_ID_LEN + 1];
    const char *audience[] = {helper_north_who.org_id, helper_south_who.org_id};
    struct twin_sealed s1, s2, s3;
    /* Notes without the title every note needs: twin would never seal one. */
    twin_record_new_id(both);
    json_t *bad = json_pack("{s:s, s:s, s:s, s:s}", "id", both, "type", "note", "kind", "risk",
                            "body", "A note without a title.");
    assert_int_equal(twin_record_validate(bad, NULL, NULL, NULL), TWIN_EINVALID);
    git_oid c1 = seal_and_commit(p, bad, audience, 2, &s1);
    twin_record_new_id(north_only);
    json_object_set_new(bad, "id", json_string(north_only));
    git_oid c2 = seal_and_commit(p, bad, audience, 1, &s2);
    twin_record_new_id(good);
    json_t *fine = json_pack("{s:s, s:s, s:s, s:s}", "id", good, "type", "note", "kind", "risk",
                             "title", "A proper note");
    git_oid c3 = seal_and_commit(p, fine, audience, 2, &s3);
    /* The predicate, which never opens an envelope, accepts every one of them. */
    const git_oid *commits[] = {&c1, &c2, &c3};
    for (int i = 0; i < 3; i++) {
        struct twin_check chk;
        assert_int_equal(
            twin_validity_check_commit(&chk, twin_node_repo(p->north), commits[i], NULL), 0);
        if (!chk.valid)
            fail_msg("commit %d refused: %s", i, chk.reason);
    }
    struct twin_verify_report *v = verify(p->north, 1);
    assert_int_equal(v->nfaults, 0);
    twin_audit_verify_report_free(v);

    /* The audience opens them and says what is wrong. */
    struct twin_sealed_report *r = NULL;
    assert_int_equal(twin_sealedcheck_run(&r, p->north), 0);
    assert_int_equal(r->sealed, 3);
    assert_int_equal(r->opened, 3);
    assert_int_equal(r->nfindings, 2);
    assert_true(finding_names(r, both, "note.title"));
    assert_true(finding_names(r, north_only, "note.title"));
    assert_false(finding_names(r, good, ""));
    twin_sealedcheck_free(r);

    /* South, in the audience of two of them, sees the one it can open. */
    pull(p->south, p->north);
    keep_wraps(p->south, &s1);
    keep_wraps(p->south, &s3);
    assert_int_equal(twin_sealedcheck_run(&r, p->south), 0);
    assert_int_equal(r->sealed, 3);
    assert_int_equal(r->opened, 2);
    assert_int_equal(r->closed, 1);
    assert_int_equal(r->nfindings, 1);
    assert_true(finding_names(r, both, "note.title"));
    twin_sealedcheck_free(r);
    twin_sealed_clear(&s1);
    twin_sealed_clear(&s2);
    twin_sealed_clear(&s3);
    json_decref(fine);
    json_decref(bad);
}

/* ---- copies of the history outside any node: twin_audit_verify_repo ----------------------- */

/* A copy of node's history at path, as plain git would make it: node's objects in a repository
 * of its own (bare or with a working tree), its head under ref. */
static void copy_history(const char *path, bool bare, twin_node *node, const char *ref)
{
    git_repository *repo = NULL;
    struct helper_copy c = {NULL, NULL};
    git_reference *r = NULL;
    assert_int_equal(git_repository_init(&repo, path, bare), 0);
    assert_int_equal(git_repository_odb(&c.from, twin_node_repo(node)), 0);
    assert_int_equal(git_repository_odb(&c.to, repo), 0);
    assert_int_equal(git_odb_foreach(c.from, helper_copy_object, &c), 0);
    git_oid head = helper_head(node);
    assert_int_equal(git_reference_create(&r, repo, ref, &head, 0, "copy"), 0);
    git_reference_free(r);
    git_odb_free(c.to);
    git_odb_free(c.from);
    git_repository_free(repo);
}

/* Every file under dir with its content's checksum, one a line, sorted. */
static char *snapshot(const char *dir, const char *out)
{
    assert_int_equal(run("cd '%s' && find . -type f -exec cksum {} + | sort >'%s'", dir, out), 0);
    size_t len;
    return read_text(out, &len);
}

static void a_bare_clone_gives_the_nodes_report_and_is_left_unchanged(void **state)
{
    struct history *h = *state;
    char path[256], list[256];
    snprintf(path, sizeof(path), "%s/clone.git", ((struct fixture *)h->dir)->dir);
    snprintf(list, sizeof(list), "%s/files.txt", ((struct fixture *)h->dir)->dir);
    copy_history(path, true, h->node, TWIN_BRANCH);
    /* A bare clone by git has no reflog; libgit2 would make one where it is read. */
    assert_int_equal(run("rm -rf '%s/logs'", path), 0);
    char *before = snapshot(path, list);
    struct twin_verify_report *mine = verify(h->node, 0), *copy = NULL;
    if (twin_audit_verify_repo(&copy, path, NULL, 0))
        fail_msg("verify the clone: %s", twin_error_last());
    assert_same_report(copy, mine);
    assert_string_equal(copy->ref, TWIN_BRANCH);
    assert_string_equal(copy->network_id, twin_node_network_id(h->node));
    assert_string_equal(mine->network_id, twin_node_network_id(h->node));
    assert_true(copy->store_checked);
    char *after = snapshot(path, list);
    assert_string_equal(after, before);
    free(after);
    free(before);
    twin_audit_verify_report_free(copy);
    twin_audit_verify_report_free(mine);
}

static void a_clone_with_only_the_remotes_copy_of_the_branch_checks_that_copy(void **state)
{
    struct fixture *f = *state;
    char path[192];
    twin_node *n = NULL;
    snprintf(path, sizeof(path), "%s/node", f->dir);
    assert_int_equal(twin_network_create(&n, path, &admin_who, "Example Tax Twinning"), 0);
    add_notes(n, 3);
    snprintf(path, sizeof(path), "%s/worktree-clone", f->dir);
    copy_history(path, false, n, "refs/remotes/partners/main");
    struct twin_verify_report *r = NULL;
    if (twin_audit_verify_repo(&r, path, twin_node_network_id(n), 1))
        fail_msg("verify: %s", twin_error_last());
    assert_string_equal(r->ref, "refs/remotes/partners/main");
    assert_int_equal(r->commits, 4);
    assert_int_equal(r->nfaults, 0);
    twin_audit_verify_report_free(r);
    twin_node_free(n);
}

static void a_history_of_another_network_is_a_fault_naming_both(void **state)
{
    struct fixture *f = *state;
    char path[192];
    const char *other = "0123456789abcdef0123456789abcdef";
    twin_node *n = NULL;
    snprintf(path, sizeof(path), "%s/node", f->dir);
    assert_int_equal(twin_network_create(&n, path, &admin_who, "Example Tax Twinning"), 0);
    snprintf(path, sizeof(path), "%s/mirror.git", f->dir);
    copy_history(path, true, n, TWIN_BRANCH);
    struct twin_verify_report *r = NULL;
    assert_int_equal(twin_audit_verify_repo(&r, path, other, 1), 0);
    assert_int_equal(r->nfaults, 1);
    assert_true(git_oid_equal(&r->faults[0].commit, &r->head)); /* the genesis */
    char want[200];
    snprintf(want, sizeof(want),
             "the history belongs to network %s, not to the expected network %s",
             twin_node_network_id(n), other);
    assert_string_equal(r->faults[0].reason, want);
    twin_audit_verify_report_free(r);
    twin_node_free(n);
}

static void what_holds_no_twin_history_is_refused_by_name(void **state)
{
    struct fixture *f = *state;
    char path[192], file[192], empty[192];
    struct twin_verify_report *r = NULL;
    snprintf(path, sizeof(path), "%s/nowhere", f->dir);
    assert_error(twin_audit_verify_repo(&r, path, NULL, 1), TWIN_ENOTFOUND, "nowhere");
    assert_null(r);
    assert_error(twin_audit_verify_repo(&r, f->dir, NULL, 1), TWIN_EINVALID,
                 "is not a git repository");
    snprintf(file, sizeof(file), "%s/notes.txt", f->dir);
    write_text(file, "x\n", 2, 0644);
    assert_error(twin_audit_verify_repo(&r, file, NULL, 1), TWIN_EINVALID, "is a file");
    git_repository *repo = NULL;
    snprintf(empty, sizeof(empty), "%s/empty.git", f->dir);
    assert_int_equal(git_repository_init(&repo, empty, 1), 0);
    git_repository_free(repo);
    assert_error(twin_audit_verify_repo(&r, empty, NULL, 1), TWIN_ENOTFOUND,
                 "holds no twin history: no branch refs/heads/main");
    assert_error(twin_audit_verify_repo(&r, empty, "not-a-network", 1), TWIN_EINVALID,
                 "'not-a-network' is not a network id");

    /* Two remotes' copies and no branch of its own: which one is meant is not guessed. */
    twin_node *n = NULL;
    snprintf(path, sizeof(path), "%s/node", f->dir);
    assert_int_equal(twin_network_create(&n, path, &admin_who, "Example Tax Twinning"), 0);
    snprintf(path, sizeof(path), "%s/two.git", f->dir);
    copy_history(path, true, n, "refs/remotes/east/main");
    git_reference *ref = NULL;
    git_oid head = helper_head(n);
    assert_int_equal(git_repository_open(&repo, path), 0);
    assert_int_equal(git_reference_create(&ref, repo, "refs/remotes/west/main", &head, 0, "t"), 0);
    git_reference_free(ref);
    git_repository_free(repo);
    assert_error(twin_audit_verify_repo(&r, path, NULL, 1), TWIN_EINVALID,
                 "several copies of twin's branch (refs/remotes/east/main, "
                 "refs/remotes/west/main)");
    assert_null(r);
    twin_node_free(n);
}

int main(void)
{
    if (twin_global_init(false))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_report_names_each_fault_on_any_number_of_threads),
        cmocka_unit_test(each_verdict_is_what_a_check_without_cache_gives),
        cmocka_unit_test(a_bare_clone_gives_the_nodes_report_and_is_left_unchanged),
        cmocka_unit_test_setup_teardown(
            a_clone_with_only_the_remotes_copy_of_the_branch_checks_that_copy, fixture_setup,
            fixture_teardown),
        cmocka_unit_test_setup_teardown(a_history_of_another_network_is_a_fault_naming_both,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(what_holds_no_twin_history_is_refused_by_name,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(the_status_counts_what_the_history_holds, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(
            sealed_content_that_breaks_its_schema_is_a_finding_not_a_refusal, helper_nodes_setup,
            helper_nodes_teardown),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    twin_global_shutdown();
    return rc;
}
