#define _XOPEN_SOURCE 700
/* The record-aware three-way merge: what merges cleanly, the conflict rule, symmetry, and that
 * the validity predicate re-derives merges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "twin/error.h"
#include "twin/merge.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/store.h"
#include "twin/twin.h"
#include "twin/validity.h"

struct fixture {
    char dir[256];
    twin_node *node;
    git_oid base;
};

static int rm_entry(const char *p, const struct stat *s, int f, struct FTW *w)
{
    return remove(p);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(twin_global_init(false), 0);
    snprintf(f->dir, sizeof(f->dir), "%s/twin-merge-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    char node_dir[300];
    snprintf(node_dir, sizeof(node_dir), "%s/node", f->dir);
    struct twin_identity who = {"North Ministry", "XE-EXAMPLE-NORTH", "NL", "north", "10"};
    assert_int_equal(twin_node_init(&f->node, node_dir, &who, "Merge test", NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    twin_node_free(f->node);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    twin_global_shutdown();
    return 0;
}

static int set_fields(json_t *rec, void *ctx)
{
    const char *const *kv = ctx;
    for (; kv[0]; kv += 2)
        if (twin_record_set_path(rec, kv[0], kv[1]))
            return TWIN_EINVALID;
    return 0;
}

static void add(struct fixture *f, char id[static TWIN_ID_LEN + 1], const char *type,
                const char *const *kv)
{
    git_oid c;
    int rc = twin_ops_add(id, &c, f->node, type, set_fields, (void *)kv);
    if (rc)
        fail_msg("add %s: %s", type, twin_error_last());
}

static void set(struct fixture *f, const char *id, const char *const *kv)
{
    git_oid c;
    int rc = twin_ops_update(&c, f->node, id, "set", set_fields, (void *)kv);
    if (rc)
        fail_msg("set %s: %s", id, twin_error_last());
}

static git_oid head(struct fixture *f)
{
    git_oid h;
    assert_int_equal(twin_node_head(&h, f->node), 0);
    return h;
}

/* Moves the branch back to base so the next writes start a second line. */
static void back_to(struct fixture *f, const git_oid *from, const git_oid *to)
{
    assert_int_equal(twin_store_advance(twin_node_repo(f->node), from, to, "test: second line"), 0);
}

static json_t *record_in_tree(struct fixture *f, const git_oid *tree_id, const char *type,
                              const char *id)
{
    git_tree *tree = NULL;
    git_tree_entry *e = NULL;
    git_blob *blob = NULL;
    char path[128];
    json_t *rec = NULL;
    assert_int_equal(twin_record_path(path, sizeof(path), type, id), 0);
    assert_int_equal(git_tree_lookup(&tree, twin_node_repo(f->node), tree_id), 0);
    if (git_tree_entry_bypath(&e, tree, path) == 0) {
        assert_int_equal(git_blob_lookup(&blob, twin_node_repo(f->node), git_tree_entry_id(e)), 0);
        assert_int_equal(twin_record_parse_canonical(&rec, git_blob_rawcontent(blob),
                                                     (size_t)git_blob_rawsize(blob)),
                         0);
    }
    git_blob_free(blob);
    git_tree_entry_free(e);
    git_tree_free(tree);
    return rec;
}

/* Two lines from one base: returns the heads of each. */
struct lines {
    git_oid a, b;
};

static void merge_both_ways(struct fixture *f, const struct lines *l, struct twin_merge_result *r)
{
    struct twin_merge_result back;
    assert_int_equal(twin_merge_compute(r, twin_node_repo(f->node), &l->a, &l->b), 0);
    assert_int_equal(twin_merge_compute(&back, twin_node_repo(f->node), &l->b, &l->a), 0);
    assert_true(git_oid_equal(&r->tree, &back.tree));
}

static void different_records_merge_cleanly(void **state)
{
    struct fixture *f = *state;
    char n1[40], n2[40];
    struct lines l;
    git_oid base = head(f);
    add(f, n1, "note", (const char *[]){"title", "North's note", NULL});
    l.a = head(f);
    back_to(f, &l.a, &base);
    add(f, n2, "note", (const char *[]){"title", "South's note", NULL});
    l.b = head(f);
    struct twin_merge_result r;
    merge_both_ways(f, &l, &r);
    assert_int_equal(r.conflicts, 0);
    json_t *x = record_in_tree(f, &r.tree, "note", n1), *y = record_in_tree(f, &r.tree, "note", n2);
    assert_non_null(x);
    assert_non_null(y);
    json_decref(x);
    json_decref(y);
}

static void different_fields_of_one_record_are_both_kept(void **state)
{
    struct fixture *f = *state;
    char p[40];
    struct lines l;
    add(f, p, "partnership",
        (const char *[]){"title", "Water twinning", "partnership_type", "twinning",
                         "dates.planned_start", "2026-01-01", "dates.planned_end", "2027-12-31",
                         NULL});
    git_oid base = head(f);
    set(f, p,
        (const char *[]){"summary", "From the North", "dates.planned_start", "2026-02-01", NULL});
    l.a = head(f);
    back_to(f, &l.a, &base);
    set(f, p, (const char *[]){"status", "2", "dates.planned_end", "2027-06-30", NULL});
    l.b = head(f);
    struct twin_merge_result r;
    merge_both_ways(f, &l, &r);
    assert_int_equal(r.conflicts, 0);
    assert_int_equal(r.merged_files, 1);
    json_t *rec = record_in_tree(f, &r.tree, "partnership", p);
    assert_string_equal(json_string_value(json_object_get(rec, "summary")), "From the North");
    assert_string_equal(json_string_value(json_object_get(rec, "status")), "2");
    assert_string_equal(json_string_value(twin_record_get_path(rec, "dates.planned_start")),
                        "2026-02-01");
    assert_string_equal(json_string_value(twin_record_get_path(rec, "dates.planned_end")),
                        "2027-06-30");
    assert_null(json_object_get(rec, "conflicts"));
    json_decref(rec);
}

static void same_field_keeps_one_value_and_lists_the_other(void **state)
{
    struct fixture *f = *state;
    char n[40];
    struct lines l;
    add(f, n, "note", (const char *[]){"title", "Kick-off", NULL});
    git_oid base = head(f);
    set(f, n, (const char *[]){"title", "Kick-off (North)", NULL});
    l.a = head(f);
    back_to(f, &l.a, &base);
    set(f, n, (const char *[]){"title", "Kick-off (South)", NULL});
    l.b = head(f);
    struct twin_merge_result r;
    merge_both_ways(f, &l, &r);
    assert_int_equal(r.conflicts, 1);
    json_t *rec = record_in_tree(f, &r.tree, "note", n);
    const char *title = json_string_value(json_object_get(rec, "title"));
    json_t *conflicts = json_object_get(rec, "conflicts");
    assert_int_equal(json_array_size(conflicts), 1);
    json_t *c = json_array_get(conflicts, 0);
    assert_string_equal(json_string_value(json_object_get(c, "field")), "title");
    const char *lost = json_string_value(json_object_get(c, "value"));
    /* Both values survive: one in the field, the other in the conflict list. */
    assert_true((strcmp(title, "Kick-off (North)") == 0 && strcmp(lost, "Kick-off (South)") == 0) ||
                (strcmp(title, "Kick-off (South)") == 0 && strcmp(lost, "Kick-off (North)") == 0));
    const git_oid *loser = strcmp(lost, "Kick-off (North)") == 0 ? &l.a : &l.b;
    assert_string_equal(json_string_value(json_object_get(c, "from")), git_oid_tostr_s(loser));
    assert_int_equal(twin_record_validate(rec, NULL, NULL, NULL), 0);
    json_decref(rec);
}

static void fields_that_break_a_rule_together_fall_back_to_one_side(void **state)
{
    struct fixture *f = *state;
    char p[40];
    struct lines l;
    add(f, p, "partnership",
        (const char *[]){"title", "Water twinning", "partnership_type", "twinning",
                         "dates.planned_start", "2026-01-01", "dates.planned_end", "2026-12-31",
                         NULL});
    git_oid base = head(f);
    set(f, p, (const char *[]){"dates.planned_start", "2026-09-01", NULL});
    l.a = head(f);
    back_to(f, &l.a, &base);
    set(f, p, (const char *[]){"dates.planned_end", "2026-06-30", NULL});
    l.b = head(f);
    struct twin_merge_result r;
    merge_both_ways(f, &l, &r);
    json_t *rec = record_in_tree(f, &r.tree, "partnership", p);
    assert_int_equal(twin_record_validate(rec, NULL, NULL, NULL), 0);
    assert_int_equal(json_array_size(json_object_get(rec, "conflicts")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(rec, "conflicts"), 0), "field")),
                        "dates");
    json_decref(rec);
}

static void a_signed_merge_passes_the_validity_check(void **state)
{
    struct fixture *f = *state;
    char n1[40], n2[40];
    struct lines l;
    git_oid base = head(f), merge;
    add(f, n1, "note", (const char *[]){"title", "One", NULL});
    l.a = head(f);
    back_to(f, &l.a, &base);
    add(f, n2, "note", (const char *[]){"title", "Two", NULL});
    l.b = head(f);
    struct twin_merge_result r;
    assert_int_equal(twin_merge_commit(&merge, &r, f->node, NULL, &l.b, &l.a), 0);
    struct twin_check chk;
    assert_int_equal(twin_check_commit(&chk, twin_node_repo(f->node), &merge, NULL), 0);
    if (!chk.valid)
        fail_msg("merge rejected: %s", chk.reason);
    assert_true(chk.is_merge);
    assert_string_equal(chk.org_id, "XE-EXAMPLE-NORTH");
}

static void a_merge_that_adds_something_is_refused(void **state)
{
    struct fixture *f = *state;
    char n1[40], n2[40], n3[40];
    struct lines l;
    git_oid base = head(f), extra_head, forged;
    add(f, n1, "note", (const char *[]){"title", "One", NULL});
    l.a = head(f);
    back_to(f, &l.a, &base);
    add(f, n2, "note", (const char *[]){"title", "Two", NULL});
    l.b = head(f);
    add(f, n3, "note", (const char *[]){"title", "Smuggled", NULL});
    extra_head = head(f);
    /* A "merge" of a and b whose tree also holds the smuggled note. */
    git_repository *repo = twin_node_repo(f->node);
    git_commit *pa = NULL, *pb = NULL, *smuggle = NULL;
    git_tree *tree = NULL;
    struct twin_merge_result r;
    assert_int_equal(twin_merge_compute(&r, repo, &l.a, &extra_head), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &r.tree), 0);
    assert_int_equal(git_commit_lookup(&pa, repo, &l.a), 0);
    assert_int_equal(git_commit_lookup(&pb, repo, &l.b), 0);
    const git_commit *parents[2] = {pa, pb};
    assert_int_equal(twin_store_write_commit(&forged, repo, twin_node_key(f->node),
                                             "North Ministry", "XE-EXAMPLE-NORTH", tree, parents, 2,
                                             "merge\n"),
                     0);
    struct twin_check chk;
    assert_int_equal(twin_check_commit(&chk, repo, &forged, NULL), 0);
    assert_false(chk.valid);
    assert_non_null(strstr(chk.reason, "does not match its re-derivation"));
    git_tree_free(tree);
    git_commit_free(pa);
    git_commit_free(pb);
    git_commit_free(smuggle);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(different_records_merge_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(different_fields_of_one_record_are_both_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(same_field_keeps_one_value_and_lists_the_other, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(fields_that_break_a_rule_together_fall_back_to_one_side,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_signed_merge_passes_the_validity_check, setup, teardown),
        cmocka_unit_test_setup_teardown(a_merge_that_adds_something_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
