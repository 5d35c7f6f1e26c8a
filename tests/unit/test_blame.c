/* Blame: for every leaf field and list item of a record, the commit, member, key and time of the
 * change that last set it, over a history of edits by two members (clocks set days apart, so every
 * time is its own); a field set back to an old value, a field removed, a withdrawn record, a change
 * signed by a key outside the membership, and ids that name no record. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"
#include "twin/blame.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/store.h"
#include "twin/global.h"

#define DAY 86400

static const struct twin_identity admin_who = {"Ministry of Finance of Exampleland",
                                               "XE-EXAMPLE-MOF", "NL", "north", "10"};
static const struct twin_identity editor_who = {"Revenue Authority of Samplestan", "XE-EXAMPLE-RA",
                                                "TZ", "south", NULL};

/* The partnership's history, oldest first:
 *   c1  admin   4 days ago  title, partnership_type, dates.planned_start, objectives, summary
 *   c2  editor  3 days ago  title, dates.planned_end, objectives (a second item)
 *   c3  admin   2 days ago  dates.planned_start; summary removed
 *   c4  editor  1 day ago   title set back to c1's
 * with a note written between c2 and c3 that does not touch the partnership. */
struct history {
    struct fixture *f;
    twin_node *admin, *editor;
    char id[TWIN_ID_LEN + 1];
    git_oid c1, c2, c3, c4, other;
};

static void skew(long long seconds)
{
    char text[32];
    snprintf(text, sizeof(text), "%lld", seconds);
    setenv("TWIN_TEST_CLOCK_SKEW", text, 1);
}

static int set_fields(json_t *rec, void *ctx)
{
    for (const char *const *f = ctx; *f; f += 2) {
        int rc = twin_record_set_path(rec, f[0], f[1]);
        if (rc)
            return rc;
    }
    return 0;
}
#define FIELDS(...) ((void *)(const char *const[]){__VA_ARGS__, NULL})

static git_oid update(twin_node *n, const char *id, void *fields)
{
    git_oid commit;
    if (twin_ops_update(&commit, n, id, "set", set_fields, fields))
        fail_msg("update: %s", twin_error_last());
    return commit;
}

static int setup(void **state)
{
    struct history *h = calloc(1, sizeof(*h));
    char dir[192], note[TWIN_ID_LEN + 1];
    git_oid commit;
    if (!h || fixture_setup((void **)&h->f))
        return -1;
    skew(-5 * DAY);
    snprintf(dir, sizeof(dir), "%s/north", h->f->dir);
    if (twin_network_create(&h->admin, dir, &admin_who, "Example Tax Twinning"))
        return -1;
    snprintf(dir, sizeof(dir), "%s/south", h->f->dir);
    if (twin_node_init(&h->editor, dir, &editor_who, NULL, NULL, twin_node_network_id(h->admin)) ||
        twin_ops_member_add(&commit, h->admin, &editor_who, "editor", twin_node_key(h->editor)->pk))
        return -1;
    skew(-4 * DAY);
    if (twin_ops_add(h->id, &h->c1, h->admin, "partnership", set_fields,
                     FIELDS("title", "Tax twinning", "partnership_type", "twinning",
                            "dates.planned_start", "2026-01-01", "objectives", "[\"Audit manual\"]",
                            "summary", "First draft"))) {
        print_error("add: %s\n", twin_error_last());
        return -1;
    }
    pull(h->editor, h->admin);
    skew(-3 * DAY);
    h->c2 = update(h->editor, h->id,
                   FIELDS("title", "Tax administration twinning", "dates.planned_end", "2027-06-30",
                          "objectives", "[\"Audit manual\", \"Risk register\"]"));
    if (twin_ops_add(note, &h->other, h->editor, "note", set_fields, FIELDS("title", "Aside")))
        return -1;
    pull(h->admin, h->editor);
    skew(-2 * DAY);
    h->c3 = update(h->admin, h->id, FIELDS("dates.planned_start", "2026-02-01", "summary", "null"));
    pull(h->editor, h->admin);
    skew(-1 * DAY);
    h->c4 = update(h->editor, h->id, FIELDS("title", "Tax twinning"));
    pull(h->admin, h->editor);
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    struct history *h = *state;
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    twin_node_free(h->admin);
    twin_node_free(h->editor);
    void *f = h->f;
    fixture_teardown(&f);
    free(h);
    return 0;
}

static struct twin_blame *blame(twin_node *n, const char *id)
{
    struct twin_blame *b = NULL;
    if (twin_blame(&b, n, id))
        fail_msg("blame: %s", twin_error_last());
    assert_non_null(b);
    return b;
}

static int64_t commit_time(twin_node *n, const git_oid *id)
{
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(n), id), 0);
    int64_t t = (int64_t)git_commit_time(c);
    git_commit_free(c);
    return t;
}

static const struct twin_blame_line *line_of(const struct twin_blame *b, const char *field)
{
    for (size_t i = 0; i < b->count; i++)
        if (strcmp(b->lines[i].field, field) == 0)
            return &b->lines[i];
    fail_msg("no blame line for %s", field);
    return NULL;
}

/* The field was last set by commit, signed by org's node n (its key), to value (JSON text). */
static void assert_line(twin_node *any, const struct twin_blame *b, const char *field,
                        const char *value_json, const git_oid *commit, const char *org,
                        const twin_node *signer)
{
    const struct twin_blame_line *l = line_of(b, field);
    json_t *want = json_loads(value_json, JSON_DECODE_ANY, NULL);
    assert_non_null(want);
    if (!json_equal(l->value, want)) {
        char *got = json_dumps(l->value, JSON_ENCODE_ANY);
        fail_msg("%s: value %s, not %s", field, got, value_json);
    }
    json_decref(want);
    if (!git_oid_equal(&l->commit, commit)) {
        char got[GIT_OID_HEXSZ + 1], exp[GIT_OID_HEXSZ + 1];
        git_oid_tostr(got, sizeof(got), &l->commit);
        git_oid_tostr(exp, sizeof(exp), commit);
        fail_msg("%s: credited to %s, not %s", field, got, exp);
    }
    assert_int_equal(l->time, commit_time(any, commit));
    assert_string_equal(l->org_id, org);
    char key[TWIN_OPENSSH_PUB_MAX];
    twin_key_format_openssh(key, twin_node_key(signer)->pk);
    assert_string_equal(l->key, key);
    assert_int_equal(l->valid, 1);
}

/* ---- blame ---------------------------------------------------------------------------------- */

static void each_field_is_credited_to_the_change_that_last_set_it(void **state)
{
    struct history *h = *state;
    struct twin_blame *b = blame(h->admin, h->id);
    assert_string_equal(b->type, "partnership");
    assert_int_equal(b->changes, 4); /* c1-c4; the note's commit did not change it */

    /* Every leaf field and list item, fields by name and items in order; nested fields as dotted
     * paths, items as LIST[N]. */
    const char *fields[] = {"dates.planned_end", "dates.planned_start", "id",    "objectives[0]",
                            "objectives[1]",     "partnership_type",    "title", "type"};
    assert_int_equal(b->count, sizeof(fields) / sizeof(fields[0]));
    for (size_t i = 0; i < b->count; i++)
        assert_string_equal(b->lines[i].field, fields[i]);

    char id_json[64];
    snprintf(id_json, sizeof(id_json), "\"%s\"", h->id);
    assert_line(h->admin, b, "id", id_json, &h->c1, "XE-EXAMPLE-MOF", h->admin);
    assert_line(h->admin, b, "type", "\"partnership\"", &h->c1, "XE-EXAMPLE-MOF", h->admin);
    assert_line(h->admin, b, "partnership_type", "\"twinning\"", &h->c1, "XE-EXAMPLE-MOF",
                h->admin);
    assert_line(h->admin, b, "dates.planned_end", "\"2027-06-30\"", &h->c2, "XE-EXAMPLE-RA",
                h->editor);
    /* c2 replaced the list, but its first item is the one c1 gave it. */
    assert_line(h->admin, b, "objectives[0]", "\"Audit manual\"", &h->c1, "XE-EXAMPLE-MOF",
                h->admin);
    assert_line(h->admin, b, "objectives[1]", "\"Risk register\"", &h->c2, "XE-EXAMPLE-RA",
                h->editor);
    assert_line(h->admin, b, "dates.planned_start", "\"2026-02-01\"", &h->c3, "XE-EXAMPLE-MOF",
                h->admin);
    /* Set back to the value c1 gave it: c4 is the change that last set it. */
    assert_line(h->admin, b, "title", "\"Tax twinning\"", &h->c4, "XE-EXAMPLE-RA", h->editor);
    twin_blame_free(b);

    /* The same answer on the other node, which holds the same history. */
    b = blame(h->editor, h->id);
    assert_int_equal(b->count, sizeof(fields) / sizeof(fields[0]));
    assert_line(h->editor, b, "title", "\"Tax twinning\"", &h->c4, "XE-EXAMPLE-RA", h->editor);
    assert_line(h->editor, b, "dates.planned_start", "\"2026-02-01\"", &h->c3, "XE-EXAMPLE-MOF",
                h->admin);
    twin_blame_free(b);
}

static void a_withdrawn_record_is_blamed_with_its_withdrawal(void **state)
{
    struct history *h = *state;
    git_oid w;
    assert_int_equal(twin_ops_withdraw(&w, h->admin, h->id), 0);
    struct twin_blame *b = blame(h->admin, h->id);
    assert_int_equal(b->changes, 5);
    assert_int_equal(b->count, 9);
    assert_line(h->admin, b, "withdrawn", "true", &w, "XE-EXAMPLE-MOF", h->admin);
    /* The rest keeps its credit. */
    assert_line(h->admin, b, "title", "\"Tax twinning\"", &h->c4, "XE-EXAMPLE-RA", h->editor);
    assert_line(h->admin, b, "dates.planned_end", "\"2027-06-30\"", &h->c2, "XE-EXAMPLE-RA",
                h->editor);
    twin_blame_free(b);
}

/* An item is credited to the change that made it what it is, and each of its fields to the change
 * that set that field; items keep their credit when an item before them is removed. */
static void list_items_keep_their_credit_when_items_before_them_go(void **state)
{
    struct history *h = *state;
    git_oid c5 = update(h->admin, h->id,
                        FIELDS("agreements", "[{\"kind\":\"mou\",\"reference\":\"M-1\"},"
                                             "{\"kind\":\"agreement\",\"reference\":\"A-2\"},"
                                             "{\"kind\":\"contract\",\"reference\":\"C-3\"}]"));
    pull(h->editor, h->admin);
    git_oid c6 = update(h->editor, h->id, FIELDS("agreements[2].reference", "C-7"));
    pull(h->admin, h->editor);
    git_oid c7 = update(h->admin, h->id, FIELDS("agreements[0]", "null"));
    (void)c7;
    struct twin_blame *b = blame(h->admin, h->id);
    assert_int_equal(b->changes, 7);
    assert_line(h->admin, b, "agreements[0]", "{\"kind\":\"agreement\",\"reference\":\"A-2\"}", &c5,
                "XE-EXAMPLE-MOF", h->admin);
    assert_line(h->admin, b, "agreements[0].reference", "\"A-2\"", &c5, "XE-EXAMPLE-MOF", h->admin);
    assert_line(h->admin, b, "agreements[1]", "{\"kind\":\"contract\",\"reference\":\"C-7\"}", &c6,
                "XE-EXAMPLE-RA", h->editor);
    assert_line(h->admin, b, "agreements[1].reference", "\"C-7\"", &c6, "XE-EXAMPLE-RA", h->editor);
    assert_line(h->admin, b, "agreements[1].kind", "\"contract\"", &c5, "XE-EXAMPLE-MOF", h->admin);
    for (size_t i = 0; i < b->count; i++)
        assert_true(strncmp(b->lines[i].field, "agreements[2]", 13) != 0);
    twin_blame_free(b);
}

/* A change signed by a key outside the membership is still the change that set the field, and
 * blame says it is not valid, by whom it was signed and that no member signed it. */
static void a_change_by_a_key_outside_the_membership_is_marked_invalid(void **state)
{
    struct history *h = *state;
    git_repository *repo = twin_node_repo(h->admin);
    twin_keypair outsider;
    keypair_from_seed(&outsider, 0x0f);
    json_t *rec = NULL;
    assert_int_equal(twin_ops_get(&rec, h->admin, NULL, "partnership", h->id), 0);
    assert_int_equal(twin_record_set_path(rec, "title", "Forged title"), 0);
    char *text = NULL, path[128];
    size_t len;
    assert_int_equal(twin_record_canonical(&text, &len, rec), 0);
    json_decref(rec);
    assert_int_equal(twin_record_path(path, sizeof(path), "partnership", h->id), 0);

    git_oid head, forged, tree_id;
    git_commit *parent = NULL;
    git_tree *base = NULL, *tree = NULL;
    git_tree_update u = {
        .action = GIT_TREE_UPDATE_UPSERT, .path = path, .filemode = GIT_FILEMODE_BLOB};
    assert_int_equal(twin_node_head(&head, h->admin), 0);
    assert_int_equal(git_commit_lookup(&parent, repo, &head), 0);
    assert_int_equal(git_commit_tree(&base, parent), 0);
    assert_int_equal(git_blob_create_from_buffer(&u.id, repo, text, len), 0);
    assert_int_equal(git_tree_create_updated(&tree_id, repo, base, 1, &u), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &tree_id), 0);
    const git_commit *parents[] = {parent};
    assert_int_equal(twin_store_write_commit(&forged, repo, &outsider, "Someone", "XE-EXAMPLE-MOF",
                                             tree, parents, 1, "set title\n"),
                     0);
    assert_int_equal(twin_store_advance(repo, &head, &forged, "test: forged"), 0);
    git_tree_free(tree);
    git_tree_free(base);
    git_commit_free(parent);
    free(text);

    struct twin_blame *b = blame(h->admin, h->id);
    const struct twin_blame_line *l = line_of(b, "title");
    assert_true(git_oid_equal(&l->commit, &forged));
    assert_int_equal(l->valid, 0);
    assert_string_equal(l->org_id, "");
    char key[TWIN_OPENSSH_PUB_MAX];
    twin_key_format_openssh(key, outsider.pk);
    assert_string_equal(l->key, key);
    assert_string_equal(json_string_value(l->value), "Forged title");
    /* The fields it did not change keep their valid credit. */
    assert_line(h->admin, b, "dates.planned_start", "\"2026-02-01\"", &h->c3, "XE-EXAMPLE-MOF",
                h->admin);
    twin_blame_free(b);
}

static void an_id_that_names_no_record_is_not_found(void **state)
{
    struct history *h = *state;
    char missing[TWIN_ID_LEN + 1], expect[64];
    struct twin_blame *b = (struct twin_blame *)&b;
    twin_record_new_id(missing);
    snprintf(expect, sizeof(expect), "no record %s", missing);
    assert_error(twin_blame(&b, h->admin, missing), TWIN_ENOTFOUND, expect);
    assert_null(b);
    b = (struct twin_blame *)&b;
    assert_error(twin_blame(&b, h->admin, "kick-off"), TWIN_EINVALID,
                 "'kick-off' is not a record id");
    assert_null(b);
    twin_blame_free(NULL); /* accepted */
}

static void a_node_without_history_has_nothing_to_blame(void **state)
{
    struct history *h = *state;
    twin_node *fresh = NULL;
    char dir[192];
    snprintf(dir, sizeof(dir), "%s/fresh", h->f->dir);
    assert_int_equal(
        twin_node_init(&fresh, dir, &editor_who, NULL, NULL, twin_node_network_id(h->admin)), 0);
    struct twin_blame *b = (struct twin_blame *)&b;
    assert_int_equal(twin_blame(&b, fresh, h->id), TWIN_ENOHISTORY);
    assert_null(b);
    twin_node_free(fresh);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

static int teardown_global(void **state)
{
    twin_global_shutdown();
    return 0;
}

#define HISTORY_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        HISTORY_TEST(each_field_is_credited_to_the_change_that_last_set_it),
        HISTORY_TEST(a_withdrawn_record_is_blamed_with_its_withdrawal),
        HISTORY_TEST(list_items_keep_their_credit_when_items_before_them_go),
        HISTORY_TEST(a_change_by_a_key_outside_the_membership_is_marked_invalid),
        HISTORY_TEST(an_id_that_names_no_record_is_not_found),
        HISTORY_TEST(a_node_without_history_has_nothing_to_blame),
    };
    return cmocka_run_group_tests(tests, setup_global, teardown_global);
}
