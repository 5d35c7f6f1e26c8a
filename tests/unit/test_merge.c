#define _XOPEN_SOURCE 700
/* The record-aware three-way merge: what merges cleanly, the conflict rule, symmetry, and that
 * the validity predicate re-derives merges; sealed records' envelopes merge whole (SEALED.md 9). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "twin/error.h"
#include "twin/network.h"
#include "twin/merge.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/store.h"
#include "twin/global.h"
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
    assert_int_equal(twin_network_create(&f->node, node_dir, &who, "Merge test"), 0);
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

/* The rule twin merges by, for a merge made now. */
static const struct twin_merge_rule *rule_now(void)
{
    static struct twin_merge_rule rule;
    rule = (struct twin_merge_rule){.version = TWIN_MERGE_RULE, .time = (int64_t)time(NULL)};
    return &rule;
}

static void merge_both_ways(struct fixture *f, const struct lines *l, struct twin_merge_result *r)
{
    struct twin_merge_result back;
    assert_int_equal(twin_merge_compute(r, twin_node_repo(f->node), &l->a, &l->b, rule_now()), 0);
    assert_int_equal(twin_merge_compute(&back, twin_node_repo(f->node), &l->b, &l->a, rule_now()),
                     0);
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
    assert_int_equal(twin_validity_check_commit(&chk, twin_node_repo(f->node), &merge, NULL), 0);
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
    assert_int_equal(twin_merge_compute(&r, repo, &l.a, &extra_head, rule_now()), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &r.tree), 0);
    assert_int_equal(git_commit_lookup(&pa, repo, &l.a), 0);
    assert_int_equal(git_commit_lookup(&pb, repo, &l.b), 0);
    const git_commit *parents[2] = {pa, pb};
    assert_int_equal(twin_store_write_commit(&forged, repo, twin_node_key(f->node),
                                             "North Ministry", "XE-EXAMPLE-NORTH", tree, parents, 2,
                                             "merge\n"),
                     0);
    struct twin_check chk;
    assert_int_equal(twin_validity_check_commit(&chk, repo, &forged, NULL), 0);
    assert_false(chk.valid);
    assert_non_null(strstr(chk.reason, "does not match its re-derivation"));
    git_tree_free(tree);
    git_commit_free(pa);
    git_commit_free(pb);
    git_commit_free(smuggle);
}

/* ---- dates: rule 2 ----------------------------------------------------------------------------
 */

#define TEN_YEARS 315576000

/* Sets the title of note n with this node's clock moved by skew seconds; returns the commit. */
static git_oid set_title_at(struct fixture *f, const char *n, const char *title, long skew)
{
    char text[32];
    snprintf(text, sizeof(text), "%ld", skew);
    assert_int_equal(setenv("TWIN_TEST_CLOCK_SKEW", text, 1), 0);
    set(f, n, (const char *[]){"title", title, NULL});
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    return head(f);
}

/* Two lines from one note, each setting its title at its own clock's skew. */
static void rival_titles(struct fixture *f, char n[static 40], struct lines *l, long skew_a,
                         long skew_b)
{
    add(f, n, "note", (const char *[]){"title", "Kick-off", NULL});
    git_oid base = head(f);
    l->a = set_title_at(f, n, "A's title", skew_a);
    back_to(f, &l->a, &base);
    l->b = set_title_at(f, n, "B's title", skew_b);
}

static const char *merged_title(struct fixture *f, const git_oid *tree, const char *n)
{
    static char title[64];
    json_t *rec = record_in_tree(f, tree, "note", n);
    snprintf(title, sizeof(title), "%s", json_string_value(json_object_get(rec, "title")));
    json_decref(rec);
    return title;
}

static git_oid tree_of_commit(struct fixture *f, const git_oid *commit)
{
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(f->node), commit), 0);
    git_oid t = *git_commit_tree_id(c);
    git_commit_free(c);
    return t;
}

static void a_change_dated_over_a_day_after_the_merge_never_wins_by_its_date(void **state)
{
    struct fixture *f = *state;
    char n[40];
    struct lines l;
    rival_titles(f, n, &l, TEN_YEARS, 0);
    /* Merged now, in either order: B's change, dated now, wins over A's ten years ahead. */
    git_oid merge;
    struct twin_merge_result r;
    assert_int_equal(twin_merge_commit(&merge, &r, f->node, NULL, &l.a, &l.b), 0);
    git_oid tree = tree_of_commit(f, &merge);
    assert_string_equal(merged_title(f, &tree, n), "B's title");
    json_t *rec = record_in_tree(f, &tree, "note", n);
    json_t *c = json_array_get(json_object_get(rec, "conflicts"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "value")), "A's title");
    assert_string_equal(json_string_value(json_object_get(c, "from")), git_oid_tostr_s(&l.a));
    json_decref(rec);
    struct twin_merge_result back;
    struct twin_merge_rule rule = {.version = 2, .time = (int64_t)time(NULL)};
    assert_int_equal(twin_merge_compute(&back, twin_node_repo(f->node), &l.b, &l.a, &rule), 0);
    assert_true(git_oid_equal(&back.tree, &tree));
    struct twin_check chk;
    assert_int_equal(twin_validity_check_commit(&chk, twin_node_repo(f->node), &merge, NULL), 0);
    if (!chk.valid)
        fail_msg("merge rejected: %s", chk.reason);
    /* Compared as they are (rule 1), the date ten years ahead won. */
    rule.version = 1;
    assert_int_equal(twin_merge_compute(&back, twin_node_repo(f->node), &l.b, &l.a, &rule), 0);
    assert_string_equal(merged_title(f, &back.tree, n), "A's title");
}

static void a_change_dated_within_a_day_of_the_merge_wins_by_its_date(void **state)
{
    struct fixture *f = *state;
    char n[40];
    struct lines l;
    rival_titles(f, n, &l, 0, 20 * 3600);
    struct twin_merge_result r;
    merge_both_ways(f, &l, &r);
    assert_string_equal(merged_title(f, &r.tree, n), "B's title");
    /* The bound is the merge's own time plus a day, inclusive: a merge dated earlier than B by
     * more than a day does not let B's date count. */
    int64_t b_time = 0;
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(f->node), &l.b), 0);
    b_time = (int64_t)git_commit_time(c);
    git_commit_free(c);
    struct twin_merge_rule rule = {.version = 2, .time = b_time - TWIN_MERGE_AHEAD_SECONDS};
    assert_int_equal(twin_merge_compute(&r, twin_node_repo(f->node), &l.a, &l.b, &rule), 0);
    assert_string_equal(merged_title(f, &r.tree, n), "B's title");
    rule.time--;
    assert_int_equal(twin_merge_compute(&r, twin_node_repo(f->node), &l.a, &l.b, &rule), 0);
    assert_string_equal(merged_title(f, &r.tree, n), "A's title");
}

static void two_changes_dated_far_ahead_fall_to_the_greater_commit_id(void **state)
{
    struct fixture *f = *state;
    char n[40];
    struct lines l;
    /* B is the later of the two, yet neither date counts: the greater id wins. */
    rival_titles(f, n, &l, TEN_YEARS, 2 * TEN_YEARS);
    struct twin_merge_result r;
    merge_both_ways(f, &l, &r);
    const char *want = git_oid_cmp(&l.a, &l.b) > 0 ? "A's title" : "B's title";
    assert_string_equal(merged_title(f, &r.tree, n), want);
}

/* Writes a merge of a and b whose tree is derived by rule (at time when) and whose message is
 * message, signed by the node. */
static git_oid merge_by(struct fixture *f, const struct lines *l, int version, int64_t when,
                        const char *message)
{
    git_repository *repo = twin_node_repo(f->node);
    struct twin_merge_rule rule = {.version = version, .time = when};
    struct twin_merge_result r;
    git_commit *pa = NULL, *pb = NULL;
    git_tree *tree = NULL;
    git_oid out;
    assert_int_equal(twin_merge_compute(&r, repo, &l->a, &l->b, &rule), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &r.tree), 0);
    assert_int_equal(git_commit_lookup(&pa, repo, &l->a), 0);
    assert_int_equal(git_commit_lookup(&pb, repo, &l->b), 0);
    const git_commit *parents[2] = {pa, pb};
    assert_int_equal(twin_store_write_commit_at(&out, repo, twin_node_key(f->node),
                                                "North Ministry", "XE-EXAMPLE-NORTH", tree, parents,
                                                2, message, when),
                     0);
    git_tree_free(tree);
    git_commit_free(pa);
    git_commit_free(pb);
    return out;
}

static void a_merge_is_checked_by_the_rule_its_message_names(void **state)
{
    struct fixture *f = *state;
    char n[40];
    struct lines l;
    rival_titles(f, n, &l, TEN_YEARS, 0);
    int64_t now = (int64_t)time(NULL);
    struct {
        int version;
        const char *message;
        bool valid;
    } cases[] = {
        /* A merge made before rule 2 (no rule line) stays valid as it was made. */
        {1, "merge a and b\n\nBase: x\n", true},
        {2, "merge a and b\n\nBase: x\n", false},
        /* A merge that names rule 2 is held to it. */
        {2, "merge a and b\n\nBase: x\n" TWIN_MERGE_RULE_LINE "\n", true},
        {1, "merge a and b\n\nBase: x\n" TWIN_MERGE_RULE_LINE "\n", false},
        {2, "merge a and b\n\n" TWIN_MERGE_RULE_LINE, true},
        /* Only the exact line names it. */
        {2, "merge a and b\n\n" TWIN_MERGE_RULE_LINE " \n", false},
        {1, "merge a and b\n\n" TWIN_MERGE_RULE_LINE "1\n", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        git_oid m = merge_by(f, &l, cases[i].version, now, cases[i].message);
        struct twin_check chk;
        assert_int_equal(twin_validity_check_commit(&chk, twin_node_repo(f->node), &m, NULL), 0);
        if (chk.valid != cases[i].valid)
            fail_msg("case %zu: %s (%s)", i, chk.valid ? "valid" : "invalid", chk.reason);
        if (!chk.valid)
            assert_non_null(strstr(chk.reason, "does not match its re-derivation"));
    }
}

static void the_rule_line_is_read_from_the_message_only(void **state)
{
    (void)state;
    static const char head[] = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
                               "author A <XE-EXAMPLE-A> 1 +0000\n"
                               "committer A <XE-EXAMPLE-A> 1 +0000\n";
    char buf[512];
    snprintf(buf, sizeof(buf), "%s\nmerge\n\n%s\n", head, TWIN_MERGE_RULE_LINE);
    assert_int_equal(twin_merge_rule_of(buf, strlen(buf)), 2);
    snprintf(buf, sizeof(buf), "%s\n%s", head, TWIN_MERGE_RULE_LINE);
    assert_int_equal(twin_merge_rule_of(buf, strlen(buf)), 2);
    snprintf(buf, sizeof(buf), "%s\nmerge\n", head);
    assert_int_equal(twin_merge_rule_of(buf, strlen(buf)), 1);
    /* A header without a message, and a header line that looks like the rule. */
    assert_int_equal(twin_merge_rule_of(head, strlen(head)), 1);
    snprintf(buf, sizeof(buf), "%s%s\n\nmerge\n", head, TWIN_MERGE_RULE_LINE);
    assert_int_equal(twin_merge_rule_of(buf, strlen(buf)), 1);
}

/* ---- sealed records (proto/SEALED.md 9): envelopes merge whole, without being opened ----------
 */

static const char *const north_only[] = {"XE-EXAMPLE-NORTH"};
static const struct twin_audience north_audience = {north_only, 1};

static void add_sealed(struct fixture *f, char id[static TWIN_ID_LEN + 1], const char *title)
{
    git_oid c;
    if (twin_ops_add_sealed(id, &c, f->node, "note", &north_audience, set_fields,
                            (void *)(const char *[]){"title", title, NULL}))
        fail_msg("add sealed: %s", twin_error_last());
}

/* The blob id of a note in a tree, as 40 hex. */
static void note_blob(char hex[static GIT_OID_HEXSZ + 1], struct fixture *f, const git_oid *tree_id,
                      const char *id)
{
    git_tree *tree = NULL;
    git_tree_entry *e = NULL;
    char path[128];
    assert_int_equal(twin_record_path(path, sizeof(path), "note", id), 0);
    assert_int_equal(git_tree_lookup(&tree, twin_node_repo(f->node), tree_id), 0);
    assert_int_equal(git_tree_entry_bypath(&e, tree, path), 0);
    git_oid_tostr(hex, GIT_OID_HEXSZ + 1, git_tree_entry_id(e));
    git_tree_entry_free(e);
    git_tree_free(tree);
}

/* The record's envelope without its conflicts (a new reference). */
static json_t *without_conflicts(const json_t *env)
{
    json_t *copy = json_deep_copy(env);
    json_object_del(copy, "conflicts");
    return copy;
}

/* Moves the branch to a commit, dated when, that writes rec as note id: for envelopes that only
 * a merge would make (a hand-written conflicts list), which the merge must still join. */
static git_oid commit_note_at(struct fixture *f, const char *id, json_t *rec, int64_t when)
{
    git_repository *repo = twin_node_repo(f->node);
    git_oid h = head(f), tree_id, c;
    git_commit *parent = NULL;
    git_tree *base = NULL, *tree = NULL;
    char path[128], *text = NULL;
    size_t len;
    assert_int_equal(twin_record_path(path, sizeof(path), "note", id), 0);
    assert_int_equal(twin_record_canonical(&text, &len, rec), 0);
    git_tree_update up = {
        .action = GIT_TREE_UPDATE_UPSERT, .filemode = GIT_FILEMODE_BLOB, .path = path};
    assert_int_equal(git_blob_create_from_buffer(&up.id, repo, text, len), 0);
    assert_int_equal(git_commit_lookup(&parent, repo, &h), 0);
    assert_int_equal(git_commit_tree(&base, parent), 0);
    assert_int_equal(git_tree_create_updated(&tree_id, repo, base, 1, &up), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &tree_id), 0);
    const git_commit *parents[] = {parent};
    assert_int_equal(twin_store_write_commit_at(&c, repo, twin_node_key(f->node), "North Ministry",
                                                "XE-EXAMPLE-NORTH", tree, parents, 1,
                                                "set a note\n", when),
                     0);
    assert_int_equal(twin_store_advance(repo, &h, &c, "test"), 0);
    free(text);
    git_tree_free(tree);
    git_tree_free(base);
    git_commit_free(parent);
    return c;
}

static json_t *strings(const char *const *items, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_string(items[i]));
    return list;
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What SEALED.md 9 says a merged conflicts list is: the union, sorted, each once, the first 64. */
static json_t *expected_conflicts(const char **all, size_t n)
{
    qsort(all, n, sizeof(*all), cmp_text);
    json_t *list = json_array();
    for (size_t i = 0; i < n && json_array_size(list) < 64; i++)
        if (i == 0 || strcmp(all[i - 1], all[i]) != 0)
            json_array_append_new(list, json_string(all[i]));
    return list;
}

/* The merge r put note n's winning envelope, winner, whole but for its conflicts, which are the
 * first of all (n_all ids, sorted and each once): want of them. */
static void assert_merged_into(struct fixture *f, const struct twin_merge_result *r, const char *n,
                               const json_t *winner, const char **all, size_t n_all, size_t want)
{
    json_t *conflicts = expected_conflicts(all, n_all);
    assert_int_equal(json_array_size(conflicts), want);
    json_t *merged = record_in_tree(f, &r->tree, "note", n);
    if (!json_equal(json_object_get(merged, "conflicts"), conflicts)) {
        char *got = json_dumps(json_object_get(merged, "conflicts"), JSON_COMPACT);
        fail_msg("conflicts %s", got);
    }
    json_t *bare = without_conflicts(merged), *winner_bare = without_conflicts(winner);
    assert_true(json_equal(bare, winner_bare));
    json_decref(winner_bare);
    json_decref(bare);
    json_decref(merged);
    json_decref(conflicts);
}

static void the_later_envelope_wins_and_the_other_is_set_aside(void **state)
{
    struct fixture *f = *state;
    char n[TWIN_ID_LEN + 1], a_blob[GIT_OID_HEXSZ + 1];
    struct lines l;
    add_sealed(f, n, "Kick-off");
    git_oid base = head(f);
    l.a = set_title_at(f, n, "A's title", 0);
    back_to(f, &l.a, &base);
    l.b = set_title_at(f, n, "B's title", 3600); /* later, within a day of the merge */
    struct twin_merge_result r;
    merge_both_ways(f, &l, &r);
    assert_int_equal(r.conflicts, 1);
    git_oid a_tree = tree_of_commit(f, &l.a), b_tree = tree_of_commit(f, &l.b);
    note_blob(a_blob, f, &a_tree, n);
    json_t *merged = record_in_tree(f, &r.tree, "note", n);
    json_t *b_env = record_in_tree(f, &b_tree, "note", n);
    json_t *bare = without_conflicts(merged);
    assert_true(json_equal(bare, b_env)); /* B's envelope, whole */
    json_t *want = json_pack("[s]", a_blob);
    assert_true(json_equal(json_object_get(merged, "conflicts"), want));
    /* The winner still opens to B's content, the merged envelope too (no wrap names its blob:
     * B's key opens it), and the version set aside to A's. */
    json_t *open = NULL, *a_env = record_in_tree(f, &a_tree, "note", n);
    enum twin_sealing how;
    assert_int_equal(twin_ops_unseal(&open, &how, f->node, b_env), 0);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    assert_string_equal(json_string_value(json_object_get(open, "title")), "B's title");
    json_decref(open);
    assert_int_equal(twin_ops_unseal(&open, &how, f->node, merged), 0);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    assert_string_equal(json_string_value(json_object_get(open, "title")), "B's title");
    json_decref(open);
    assert_int_equal(twin_ops_unseal(&open, &how, f->node, a_env), 0);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    assert_string_equal(json_string_value(json_object_get(open, "title")), "A's title");
    json_decref(open);
    /* The merge commit is valid: every node re-derives the same envelope. */
    git_oid merge;
    struct twin_merge_result mr;
    assert_int_equal(twin_merge_commit(&merge, &mr, f->node, NULL, &l.a, &l.b), 0);
    assert_true(git_oid_equal(&mr.tree, &r.tree));
    struct twin_check chk;
    assert_int_equal(twin_validity_check_commit(&chk, twin_node_repo(f->node), &merge, NULL), 0);
    if (!chk.valid)
        fail_msg("merge rejected: %s", chk.reason);
    json_decref(a_env);
    json_decref(want);
    json_decref(bare);
    json_decref(b_env);
    json_decref(merged);
}

/* Each side kept versions aside already: the merge joins both lists and the loser. */
static void both_sides_conflicts_are_joined_sorted_and_unique(void **state)
{
    struct fixture *f = *state;
    char n[TWIN_ID_LEN + 1], a_blob[GIT_OID_HEXSZ + 1];
    struct lines l;
    add_sealed(f, n, "Kick-off");
    git_oid base = head(f), base_tree = tree_of_commit(f, &base);
    json_t *e0 = record_in_tree(f, &base_tree, "note", n);
    int64_t now = (int64_t)time(NULL);
    const char *a_ids[] = {"ffff000000000000000000000000000000000003",
                           "1111000000000000000000000000000000000001",
                           "5555000000000000000000000000000000000002"};
    const char *b_ids[] = {"5555000000000000000000000000000000000002",
                           "0000000000000000000000000000000000000009"};
    json_t *ea = json_deep_copy(e0), *eb = json_deep_copy(e0);
    const char *sorted_a[] = {a_ids[1], a_ids[2], a_ids[0]};
    json_object_set_new(ea, "conflicts", strings(sorted_a, 3));
    json_object_set_new(eb, "conflicts", strings((const char *[]){b_ids[1], b_ids[0]}, 2));
    l.a = commit_note_at(f, n, ea, now);
    back_to(f, &l.a, &base);
    l.b = commit_note_at(f, n, eb, now + 60); /* B wins */
    struct twin_merge_result r;
    merge_both_ways(f, &l, &r);
    git_oid a_tree = tree_of_commit(f, &l.a);
    note_blob(a_blob, f, &a_tree, n);
    const char *all[] = {a_ids[0], a_ids[1], a_ids[2], b_ids[0], b_ids[1], a_blob};
    assert_merged_into(f, &r, n, eb, all, 6, 5); /* the shared one once */
    json_decref(ea);
    json_decref(eb);
    json_decref(e0);
}

/* More than 64 versions set aside: the first 64 in sort order stay. */
static void joined_conflicts_keep_the_first_64_in_sort_order(void **state)
{
    struct fixture *f = *state;
    char n[TWIN_ID_LEN + 1], a_blob[GIT_OID_HEXSZ + 1], a_ids[40][41], b_ids[40][41];
    struct lines l;
    add_sealed(f, n, "Kick-off");
    git_oid base = head(f), base_tree = tree_of_commit(f, &base);
    json_t *e0 = record_in_tree(f, &base_tree, "note", n);
    const char *pa[40], *pb[40], *all[81];
    size_t nall = 0;
    /* A's ids and B's interleave in sort order, and ten are on both sides. */
    for (unsigned i = 0; i < 40; i++) {
        snprintf(a_ids[i], sizeof(a_ids[i]), "%02x%038u", 2 * i, i);
        snprintf(b_ids[i], sizeof(b_ids[i]), "%02x%038u", i < 10 ? 2 * i : 2 * i + 1,
                 i < 10 ? i : 100 + i);
        pa[i] = a_ids[i], pb[i] = b_ids[i];
        all[nall++] = a_ids[i];
        all[nall++] = b_ids[i];
    }
    json_t *ea = json_deep_copy(e0), *eb = json_deep_copy(e0);
    json_object_set_new(ea, "conflicts", strings(pa, 40));
    json_object_set_new(eb, "conflicts", strings(pb, 40));
    int64_t now = (int64_t)time(NULL);
    l.a = commit_note_at(f, n, ea, now + 60); /* A wins this time */
    back_to(f, &l.a, &base);
    l.b = commit_note_at(f, n, eb, now);
    struct twin_merge_result r;
    merge_both_ways(f, &l, &r);
    git_oid b_tree = tree_of_commit(f, &l.b);
    note_blob(a_blob, f, &b_tree, n); /* the loser's blob */
    all[nall++] = a_blob;
    assert_merged_into(f, &r, n, ea, all, nall, 64);
    json_decref(ea);
    json_decref(eb);
    json_decref(e0);
}

static void an_erased_side_wins_without_conflicts(void **state)
{
    struct fixture *f = *state;
    char n[TWIN_ID_LEN + 1];
    struct lines l;
    git_oid c;
    add_sealed(f, n, "Kick-off");
    git_oid base = head(f);
    /* The other side changed it later; the erasure still wins. (That side first: once erased,
     * this node holds no key to change it with.) */
    l.b = set_title_at(f, n, "Changed later", 3600);
    back_to(f, &l.b, &base);
    assert_int_equal(twin_ops_erase(&c, f->node, n, "Asked by the person"), 0);
    l.a = head(f);
    struct twin_merge_result r;
    merge_both_ways(f, &l, &r);
    assert_int_equal(r.conflicts, 0);
    git_oid a_tree = tree_of_commit(f, &l.a);
    json_t *merged = record_in_tree(f, &r.tree, "note", n),
           *erased = record_in_tree(f, &a_tree, "note", n);
    assert_non_null(json_object_get(erased, "erased"));
    assert_true(json_equal(merged, erased));
    assert_null(json_object_get(merged, "conflicts"));
    json_decref(erased);
    json_decref(merged);
    /* Erased on both sides: the later erasure. */
    back_to(f, &l.a, &base);
    assert_int_equal(setenv("TWIN_TEST_CLOCK_SKEW", "3600", 1), 0);
    int rc = twin_ops_erase(&c, f->node, n, "Asked again");
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    assert_int_equal(rc, 0);
    l.b = head(f);
    merge_both_ways(f, &l, &r);
    git_oid b_tree = tree_of_commit(f, &l.b);
    merged = record_in_tree(f, &r.tree, "note", n);
    erased = record_in_tree(f, &b_tree, "note", n);
    assert_true(json_equal(merged, erased));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(merged, "erased"), "reason")),
        "Asked again");
    json_decref(erased);
    json_decref(merged);
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
        cmocka_unit_test_setup_teardown(
            a_change_dated_over_a_day_after_the_merge_never_wins_by_its_date, setup, teardown),
        cmocka_unit_test_setup_teardown(a_change_dated_within_a_day_of_the_merge_wins_by_its_date,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(two_changes_dated_far_ahead_fall_to_the_greater_commit_id,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_merge_is_checked_by_the_rule_its_message_names, setup,
                                        teardown),
        cmocka_unit_test(the_rule_line_is_read_from_the_message_only),
        cmocka_unit_test_setup_teardown(the_later_envelope_wins_and_the_other_is_set_aside, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(both_sides_conflicts_are_joined_sorted_and_unique, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(joined_conflicts_keep_the_first_64_in_sort_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_erased_side_wins_without_conflicts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
