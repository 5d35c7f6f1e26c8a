/* Operations on real nodes: adding, changing and withdrawing records, adding members, who may
 * do which, and that every commit an operation writes is valid by the validity predicate; sealed
 * records written, read, shared, erased and kept readable across a key rotation; versions of a
 * sealed record that a merge set aside, opened, kept or dropped, and never added back. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers.h"
#include "twin/error.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/global.h"
#include "twin/validity.h"
#include "ops/sealed.h"
#include "store/wraps.h"

/* ---- a network of four institutions --------------------------------------------------------- */

static const struct twin_identity admin_who = {"Ministry of Finance of Exampleland",
                                               "XE-EXAMPLE-MOF", "NL", "north", "10"};
static const struct twin_identity editor_who = {"Revenue Authority of Samplestan", "XE-EXAMPLE-RA",
                                                "TZ", "south", NULL};
static const struct twin_identity observer_who = {"Example Development Fund", "XE-EXAMPLE-FUND",
                                                  "SE", "donor", NULL};
static const struct twin_identity outsider_who = {"Unlisted Institute", "XE-EXAMPLE-OUT", "KE",
                                                  "south", NULL};

struct net {
    char dir[128];
    twin_node *admin, *editor, *observer, *outsider; /* the outsider joined but is no member */
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static twin_node *make_node(struct net *n, const char *name, const struct twin_identity *who,
                            const char *network_name, const char *join)
{
    char path[192];
    twin_node *node = NULL;
    snprintf(path, sizeof(path), "%s/%s", n->dir, name);
    if ((network_name ? twin_network_create(&node, path, who, network_name)
                      : twin_node_init(&node, path, who, NULL, NULL, join)))
        fail_msg("twin_node_init %s: %s", name, twin_error_last());
    return node;
}

static void assert_commit_valid(twin_node *node, const git_oid *commit, const char *org_id)
{
    struct twin_check c;
    assert_int_equal(twin_validity_check_commit(&c, twin_node_repo(node), commit, NULL), 0);
    if (!c.valid)
        fail_msg("commit %s is not valid: %s", git_oid_tostr_s(commit), c.reason);
    assert_string_equal(c.org_id, org_id);
}

static int setup_net(void **state)
{
    struct net *n = calloc(1, sizeof(*n));
    const char *tmp = getenv("TMPDIR");
    git_oid commit;
    if (!n)
        return -1;
    snprintf(n->dir, sizeof(n->dir), "%s/twin-ops-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(n->dir))
        return -1;
    n->admin = make_node(n, "north", &admin_who, "Example Tax Twinning", NULL);
    const char *id = twin_node_network_id(n->admin);
    n->editor = make_node(n, "south", &editor_who, NULL, id);
    n->observer = make_node(n, "fund", &observer_who, NULL, id);
    n->outsider = make_node(n, "out", &outsider_who, NULL, id);
    if (twin_ops_member_add(&commit, n->admin, &editor_who, "editor",
                            twin_node_key(n->editor)->pk) ||
        twin_ops_member_add(&commit, n->admin, &observer_who, "observer",
                            twin_node_key(n->observer)->pk)) {
        print_error("member add: %s\n", twin_error_last());
        return -1;
    }
    pull(n->editor, n->admin);
    pull(n->observer, n->admin);
    pull(n->outsider, n->admin);
    *state = n;
    return 0;
}

static int teardown_net(void **state)
{
    struct net *n = *state;
    twin_node_free(n->admin);
    twin_node_free(n->editor);
    twin_node_free(n->observer);
    twin_node_free(n->outsider);
    nftw(n->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(n);
    return 0;
}

/* An edit that sets field paths: {"title", "Kick-off", "kind", "decision", NULL}. */
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

static git_oid head_of(twin_node *node)
{
    git_oid head;
    assert_int_equal(twin_node_head(&head, node), 0);
    return head;
}

static void add_ok(char id[static TWIN_ID_LEN + 1], twin_node *node, const char *type, void *fields)
{
    git_oid commit;
    int rc = twin_ops_add(id, &commit, node, type, set_fields, fields);
    if (rc)
        fail_msg("add %s: %d %s", type, rc, twin_error_last());
    assert_commit_valid(node, &commit, twin_node_org_id(node));
}

static json_t *get(twin_node *node, const char *id)
{
    json_t *rec = NULL;
    int rc = twin_ops_get(&rec, node, NULL, NULL, id);
    if (rc)
        fail_msg("get %s: %d %s", id, rc, twin_error_last());
    return rec;
}

/* ---- adding --------------------------------------------------------------------------------- */

static void add_writes_one_valid_commit_on_the_head_and_the_record_reads_back(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid before = head_of(n->admin), commit;
    git_commit *c = NULL;
    assert_int_equal(twin_ops_add(id, &commit, n->admin, "note", set_fields,
                                  FIELDS("title", "Meet monthly", "kind", "decision")),
                     0);
    assert_true(twin_record_id_valid(id));
    git_oid after = head_of(n->admin);
    assert_true(git_oid_equal(&after, &commit));
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(n->admin), &commit), 0);
    assert_int_equal(git_commit_parentcount(c), 1);
    assert_true(git_oid_equal(git_commit_parent_id(c, 0), &before));
    assert_non_null(strstr(git_commit_message(c), "Meet monthly"));
    git_commit_free(c);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");

    json_t *rec = get(n->admin, id);
    assert_string_equal(json_string_value(json_object_get(rec, "id")), id);
    assert_string_equal(json_string_value(json_object_get(rec, "type")), "note");
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "Meet monthly");
    assert_string_equal(json_string_value(json_object_get(rec, "kind")), "decision");
    json_decref(rec);
}

static void add_fills_in_defaults(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    add_ok(id, n->admin, "note", FIELDS("title", "Kick-off held"));
    json_t *rec = get(n->admin, id);
    assert_string_equal(json_string_value(json_object_get(rec, "kind")), "note");
    json_decref(rec);
}

static void add_refuses_an_invalid_record_and_leaves_the_head(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid before = head_of(n->admin), commit;
    assert_int_equal(twin_ops_add(id, &commit, n->admin, "partnership", set_fields,
                                  FIELDS("partnership_type", "twinning")),
                     TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "partnership.title: required");
    git_oid after = head_of(n->admin);
    assert_true(git_oid_equal(&before, &after));
}

static void add_refuses_an_unknown_type(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    assert_int_equal(twin_ops_add(id, &commit, n->admin, "meeting", set_fields, FIELDS("a", "b")),
                     TWIN_EINVALID);
    assert_string_equal(twin_error_last(),
                        "unknown record type 'meeting' (one of: institution, partnership, "
                        "activity, person, post, assignment, handover, people_link, result, "
                        "indicator, health_check, document, note, contribution, budget, "
                        "transaction, recommendation)");
}

static void add_refuses_a_reference_to_a_missing_record(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], missing[TWIN_ID_LEN + 1], expect[128];
    git_oid commit;
    twin_record_new_id(missing);
    assert_int_equal(
        twin_ops_add(id, &commit, n->admin, "activity", set_fields,
                     FIELDS("partnership", missing, "kind", "workshop", "title", "Kick-off")),
        TWIN_EINVALID);
    snprintf(expect, sizeof(expect), "activity.partnership: no partnership %s", missing);
    assert_string_equal(twin_error_last(), expect);
}

static void add_accepts_a_reference_to_an_earlier_record(void **state)
{
    struct net *n = *state;
    char part[TWIN_ID_LEN + 1], act[TWIN_ID_LEN + 1];
    add_ok(part, n->admin, "partnership",
           FIELDS("title", "Tax twinning", "partnership_type", "twinning"));
    add_ok(act, n->admin, "activity",
           FIELDS("partnership", part, "kind", "workshop", "title", "Kick-off"));
    json_t *rec = get(n->admin, act);
    assert_string_equal(json_string_value(json_object_get(rec, "partnership")), part);
    json_decref(rec);
}

static int refuse_edit(json_t *rec, void *ctx)
{
    return twin_error(TWIN_EINVALID, "the editor was closed without saving");
}

static void an_edit_function_error_is_passed_on(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    assert_int_equal(twin_ops_add(id, &commit, n->admin, "note", refuse_edit, NULL), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "the editor was closed without saving");
}

/* ---- changing ------------------------------------------------------------------------------- */

static void update_changes_a_field_in_a_new_valid_commit(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    add_ok(id, n->admin, "note", FIELDS("title", "Meet monthly"));
    git_oid first = head_of(n->admin);
    assert_int_equal(
        twin_ops_update(&commit, n->admin, id, "set", set_fields, FIELDS("title", "Meet weekly")),
        0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    json_t *rec = get(n->admin, id);
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "Meet weekly");
    json_decref(rec);
    assert_int_equal(twin_ops_get(&rec, n->admin, &first, "note", id), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "Meet monthly");
    json_decref(rec);
}

static void update_of_a_missing_id_is_not_found(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], expect[64];
    git_oid commit;
    twin_record_new_id(id);
    assert_int_equal(
        twin_ops_update(&commit, n->admin, id, "set", set_fields, FIELDS("title", "x")),
        TWIN_ENOTFOUND);
    snprintf(expect, sizeof(expect), "no record %s", id);
    assert_string_equal(twin_error_last(), expect);
}

static void update_of_a_malformed_id_is_invalid(void **state)
{
    struct net *n = *state;
    git_oid commit;
    assert_int_equal(
        twin_ops_update(&commit, n->admin, "kick-off", "set", set_fields, FIELDS("title", "x")),
        TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "'kick-off' is not a record id");
}

static void a_set_that_changes_nothing_is_refused_as_existing(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], expect[96];
    git_oid commit;
    add_ok(id, n->admin, "note", FIELDS("title", "Meet monthly"));
    git_oid before = head_of(n->admin);
    assert_int_equal(
        twin_ops_update(&commit, n->admin, id, "set", set_fields, FIELDS("title", "Meet monthly")),
        TWIN_EEXISTS);
    snprintf(expect, sizeof(expect), "note %s: nothing changed", id);
    assert_string_equal(twin_error_last(), expect);
    git_oid after = head_of(n->admin);
    assert_true(git_oid_equal(&before, &after));
}

/* 0.30000000000000004 and 0.3 are different numbers but the same canonical text, so the change
 * would write the same blob: a commit that changes nothing, which the predicate refuses. */
static void a_change_lost_in_the_canonical_form_is_no_change(void **state)
{
    struct net *n = *state;
    char result[TWIN_ID_LEN + 1], part[TWIN_ID_LEN + 1], id[TWIN_ID_LEN + 1];
    git_oid commit;
    add_ok(part, n->admin, "partnership", FIELDS("title", "T", "partnership_type", "twinning"));
    add_ok(result, n->admin, "result",
           FIELDS("partnership", part, "result_type", "1", "title", "Manual adopted"));
    add_ok(id, n->admin, "indicator",
           FIELDS("result", result, "title", "Audits", "measure", "1", "baseline.value", "0.3"));
    int rc = twin_ops_update(&commit, n->admin, id, "set", set_fields,
                             FIELDS("baseline.value", "0.30000000000000004"));
    if (rc == 0) {
        struct twin_check c;
        assert_int_equal(twin_validity_check_commit(&c, twin_node_repo(n->admin), &commit, NULL),
                         0);
        fail_msg("the update was committed (commit %s, %s%s) instead of TWIN_EEXISTS",
                 git_oid_tostr_s(&commit), c.valid ? "valid" : "invalid: ", c.reason);
    }
    assert_int_equal(rc, TWIN_EEXISTS);
}

static int change_id(json_t *rec, void *ctx)
{
    char id[TWIN_ID_LEN + 1];
    twin_record_new_id(id);
    return json_object_set_new(rec, "id", json_string(id));
}

static void update_cannot_change_a_record_id(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    add_ok(id, n->admin, "note", FIELDS("title", "Meet monthly"));
    assert_int_equal(twin_ops_update(&commit, n->admin, id, "edit", change_id, NULL),
                     TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "note.id: a record's id and type never change");
}

static void an_update_is_validated_against_the_schema(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    add_ok(id, n->admin, "partnership", FIELDS("title", "T", "partnership_type", "twinning"));
    assert_int_equal(
        twin_ops_update(&commit, n->admin, id, "set", set_fields, FIELDS("status", "9")),
        TWIN_EINVALID);
    assert_string_equal(twin_error_last(),
                        "partnership.status: 9 is not an IATI activity status (1-6)");
}

static void a_recorded_indicator_actual_cannot_be_edited(void **state)
{
    struct net *n = *state;
    char part[TWIN_ID_LEN + 1], result[TWIN_ID_LEN + 1], id[TWIN_ID_LEN + 1];
    git_oid commit;
    add_ok(part, n->admin, "partnership", FIELDS("title", "T", "partnership_type", "twinning"));
    add_ok(result, n->admin, "result",
           FIELDS("partnership", part, "result_type", "1", "title", "Manual adopted"));
    add_ok(
        id, n->admin, "indicator",
        FIELDS("result", result, "title", "Audits", "measure", "1", "periods",
               "[{\"start\":\"2026-01-01\",\"end\":\"2026-12-31\",\"actuals\":[{\"value\":3}]}]"));
    assert_int_equal(
        twin_ops_update(&commit, n->admin, id, "set", set_fields,
                        FIELDS("periods", "[{\"start\":\"2026-01-01\",\"end\":\"2026-12-31\","
                                          "\"actuals\":[{\"value\":3},{\"value\":7}]}]")),
        0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    assert_int_equal(
        twin_ops_update(&commit, n->admin, id, "set", set_fields,
                        FIELDS("periods", "[{\"start\":\"2026-01-01\",\"end\":\"2026-12-31\","
                                          "\"actuals\":[{\"value\":4},{\"value\":7}]}]")),
        TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "indicator.periods[0].actuals: recorded actual 0 "
                                           "cannot be edited; add a new one instead");
}

/* ---- withdrawing ---------------------------------------------------------------------------- */

static void withdraw_keeps_the_record_marked_withdrawn(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    add_ok(id, n->admin, "note", FIELDS("title", "Meet monthly"));
    assert_int_equal(twin_ops_withdraw(&commit, n->admin, id), 0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    json_t *rec = get(n->admin, id);
    assert_true(json_is_true(json_object_get(rec, "withdrawn")));
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "Meet monthly");
    json_decref(rec);
}

static void withdrawing_twice_is_refused_as_existing(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], expect[96];
    git_oid commit;
    add_ok(id, n->admin, "note", FIELDS("title", "Meet monthly"));
    assert_int_equal(twin_ops_withdraw(&commit, n->admin, id), 0);
    git_oid before = head_of(n->admin);
    assert_int_equal(twin_ops_withdraw(&commit, n->admin, id), TWIN_EEXISTS);
    snprintf(expect, sizeof(expect), "%s is already withdrawn", id);
    assert_string_equal(twin_error_last(), expect);
    git_oid after = head_of(n->admin);
    assert_true(git_oid_equal(&before, &after));
}

static void a_withdrawn_record_cannot_be_changed(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    add_ok(id, n->admin, "note", FIELDS("title", "Meet monthly"));
    assert_int_equal(twin_ops_withdraw(&commit, n->admin, id), 0);
    assert_int_equal(
        twin_ops_update(&commit, n->admin, id, "set", set_fields, FIELDS("title", "Meet weekly")),
        TWIN_EINVALID);
    assert_string_equal(twin_error_last(),
                        "note.withdrawn: the record is withdrawn and can no longer change");
    assert_int_equal(
        twin_ops_update(&commit, n->admin, id, "set", set_fields, FIELDS("withdrawn", "false")),
        TWIN_EINVALID);
}

static void withdrawing_a_missing_record_is_not_found(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    twin_record_new_id(id);
    assert_int_equal(twin_ops_withdraw(&commit, n->admin, id), TWIN_ENOTFOUND);
}

/* ---- who may do what ------------------------------------------------------------------------ */

static void an_editor_can_add_change_and_withdraw_records(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    add_ok(id, n->editor, "note", FIELDS("title", "Counterpart named"));
    assert_int_equal(
        twin_ops_update(&commit, n->editor, id, "set", set_fields, FIELDS("body", "Ada Example")),
        0);
    assert_commit_valid(n->editor, &commit, "XE-EXAMPLE-RA");
    assert_int_equal(twin_ops_withdraw(&commit, n->editor, id), 0);
    assert_commit_valid(n->editor, &commit, "XE-EXAMPLE-RA");
}

static void an_editor_cannot_add_members(void **state)
{
    struct net *n = *state;
    git_oid commit, before = head_of(n->editor);
    assert_int_equal(twin_ops_member_add(&commit, n->editor, &outsider_who, "editor",
                                         twin_node_key(n->outsider)->pk),
                     TWIN_EDENIED);
    assert_string_equal(twin_error_last(), "only an admin may do this; XE-EXAMPLE-RA is editor");
    git_oid after = head_of(n->editor);
    assert_true(git_oid_equal(&before, &after));
}

static void an_observer_cannot_write(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], note[TWIN_ID_LEN + 1];
    git_oid commit;
    assert_int_equal(
        twin_ops_add(id, &commit, n->observer, "note", set_fields, FIELDS("title", "Visit")),
        TWIN_EDENIED);
    assert_string_equal(twin_error_last(), "XE-EXAMPLE-FUND is an observer and may not write");

    add_ok(note, n->admin, "note", FIELDS("title", "Meet monthly"));
    pull(n->observer, n->admin);
    assert_int_equal(
        twin_ops_update(&commit, n->observer, note, "set", set_fields, FIELDS("title", "x")),
        TWIN_EDENIED);
    assert_int_equal(twin_ops_withdraw(&commit, n->observer, note), TWIN_EDENIED);
    assert_int_equal(twin_ops_member_add(&commit, n->observer, &outsider_who, "editor",
                                         twin_node_key(n->outsider)->pk),
                     TWIN_EDENIED);
}

static void a_node_outside_the_membership_is_told_how_to_be_added(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], expect[256];
    git_oid commit;
    assert_int_equal(
        twin_ops_add(id, &commit, n->outsider, "note", set_fields, FIELDS("title", "Hello")),
        TWIN_EDENIED);
    snprintf(expect, sizeof(expect),
             "this node's key is not a member of network %s (an admin adds it with: twin member "
             "add ... --key \"$(twin id | head -1)\")",
             twin_node_network_id(n->outsider));
    assert_string_equal(twin_error_last(), expect);
}

static void a_node_without_history_cannot_write_yet(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    twin_node *fresh = make_node(n, "late", &outsider_who, NULL, twin_node_network_id(n->admin));
    assert_int_equal(twin_ops_add(id, &commit, fresh, "note", set_fields, FIELDS("title", "Hello")),
                     TWIN_ENOHISTORY);
    assert_non_null(strstr(twin_error_last(), "twin sync"));
    twin_node_free(fresh);
}

/* ---- members -------------------------------------------------------------------------------- */

static void an_added_member_can_write_once_it_has_the_history(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    assert_int_equal(twin_ops_member_add(&commit, n->admin, &outsider_who, "editor",
                                         twin_node_key(n->outsider)->pk),
                     0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    pull(n->outsider, n->admin);
    add_ok(id, n->outsider, "note", FIELDS("title", "Joined the partnership"));
}

static void adding_an_existing_member_is_refused(void **state)
{
    struct net *n = *state;
    git_oid commit;
    assert_int_equal(twin_ops_member_add(&commit, n->admin, &editor_who, "admin",
                                         twin_node_key(n->outsider)->pk),
                     TWIN_EEXISTS);
    assert_string_equal(twin_error_last(), "XE-EXAMPLE-RA is already a member");
}

/* The membership at the head, and at an earlier commit: the founding one holds the founder. */
static void members_are_read_at_the_head_or_at_a_commit(void **state)
{
    struct net *n = *state;
    struct twin_membership *m = NULL;
    git_oid head, first;
    assert_int_equal(twin_ops_members(&m, n->admin, NULL), 0);
    assert_int_equal(m->count, 3);
    assert_non_null(twin_membership_find(m, editor_who.org_id));
    assert_non_null(twin_membership_find(m, observer_who.org_id));
    assert_null(twin_membership_find(m, outsider_who.org_id));
    twin_membership_free(m);
    assert_int_equal(twin_node_head(&head, n->admin), 0);
    git_revwalk *w = NULL;
    assert_int_equal(git_revwalk_new(&w, twin_node_repo(n->admin)), 0);
    git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
    assert_int_equal(git_revwalk_push(w, &head), 0);
    assert_int_equal(git_revwalk_next(&first, w), 0);
    git_revwalk_free(w);
    assert_int_equal(twin_ops_members(&m, n->admin, &first), 0);
    assert_int_equal(m->count, 1);
    assert_string_equal(m->members[0].org_id, admin_who.org_id);
    twin_membership_free(m);
    git_oid none;
    memset(&none, 0x5a, sizeof(none));
    assert_int_not_equal(twin_ops_members(&m, n->admin, &none), 0);
    assert_null(m);
}

static void adding_a_member_with_a_key_already_held_is_refused(void **state)
{
    struct net *n = *state;
    git_oid commit;
    assert_int_equal(twin_ops_member_add(&commit, n->admin, &outsider_who, "editor",
                                         twin_node_key(n->editor)->pk),
                     TWIN_EEXISTS);
    assert_string_equal(twin_error_last(), "that key already belongs to member XE-EXAMPLE-RA");
}

static void adding_a_member_checks_identity_and_role(void **state)
{
    struct net *n = *state;
    git_oid commit;
    struct twin_identity who = outsider_who;
    assert_int_equal(
        twin_ops_member_add(&commit, n->admin, &who, "chief", twin_node_key(n->outsider)->pk),
        TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "role 'chief' is not one of admin | editor | observer");
    who.country = "XX";
    assert_int_equal(
        twin_ops_member_add(&commit, n->admin, &who, "editor", twin_node_key(n->outsider)->pk),
        TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "country 'XX' is not an ISO 3166-1 code (e.g. NL, TZ)");
}

/* ---- reading -------------------------------------------------------------------------------- */

/* The member org as the membership at node's head holds it (free with twin_membership_free). */
static const struct twin_member *member_at_head(struct twin_membership **m, twin_node *node,
                                                const char *org)
{
    assert_int_equal(twin_ops_members(m, node, NULL), 0);
    const struct twin_member *who = twin_membership_find(*m, org);
    assert_non_null(who);
    return who;
}

static void an_admin_sets_any_members_fields_in_one_valid_commit(void **state)
{
    struct net *n = *state;
    git_oid commit;
    struct twin_membership *m = NULL;
    const struct twin_member_fields f = {.country = "KE", .side = "broker", .org_type = "21"};
    assert_int_equal(twin_ops_member_set(&commit, n->admin, "XE-EXAMPLE-RA", &f), 0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    const struct twin_member *ra = member_at_head(&m, n->admin, "XE-EXAMPLE-RA");
    assert_string_equal(ra->country, "KE");
    assert_string_equal(ra->side, "broker");
    assert_string_equal(ra->org_type, "21");
    assert_string_equal(ra->name, editor_who.name);
    twin_membership_free(m);
}

static void a_member_corrects_its_own_name_and_org_type(void **state)
{
    struct net *n = *state;
    git_oid commit;
    struct twin_membership *m = NULL;
    const struct twin_member_fields f = {.name = "Revenue Authority of Samplestan (RAS)",
                                         .org_type = "10"};
    assert_int_equal(twin_ops_member_set(&commit, n->editor, "XE-EXAMPLE-RA", &f), 0);
    assert_commit_valid(n->editor, &commit, "XE-EXAMPLE-RA");
    const struct twin_member *ra = member_at_head(&m, n->editor, "XE-EXAMPLE-RA");
    assert_string_equal(ra->name, "Revenue Authority of Samplestan (RAS)");
    assert_string_equal(ra->org_type, "10");
    twin_membership_free(m);
    /* An observer too. */
    const struct twin_member_fields g = {.name = "Example Development Fund Foundation"};
    assert_int_equal(twin_ops_member_set(&commit, n->observer, "XE-EXAMPLE-FUND", &g), 0);
    assert_commit_valid(n->observer, &commit, "XE-EXAMPLE-FUND");
}

static void a_member_may_not_set_another_members_fields_nor_its_own_country_or_side(void **state)
{
    struct net *n = *state;
    git_oid commit, before = head_of(n->editor);
    const struct twin_member_fields name = {.name = "Ministry of Nothing"};
    assert_int_equal(twin_ops_member_set(&commit, n->editor, "XE-EXAMPLE-MOF", &name),
                     TWIN_EDENIED);
    assert_string_equal(twin_error_last(),
                        "only an admin may change another member's fields; XE-EXAMPLE-RA is "
                        "editor (a member that is not an admin may correct only its own name and "
                        "org type)");
    const struct twin_member_fields country = {.country = "KE"};
    assert_int_equal(twin_ops_member_set(&commit, n->editor, "XE-EXAMPLE-RA", &country),
                     TWIN_EDENIED);
    assert_string_equal(twin_error_last(),
                        "only an admin may change a member's country; XE-EXAMPLE-RA is editor "
                        "and may correct only its own name and org type");
    const struct twin_member_fields side = {.side = "north", .name = "Revenue Authority"};
    assert_int_equal(twin_ops_member_set(&commit, n->editor, "XE-EXAMPLE-RA", &side), TWIN_EDENIED);
    assert_string_equal(twin_error_last(),
                        "only an admin may change a member's side; XE-EXAMPLE-RA is editor and "
                        "may correct only its own name and org type");
    git_oid after = head_of(n->editor);
    assert_true(git_oid_equal(&before, &after));
}

static void member_set_names_a_bad_value_an_unknown_member_and_no_change(void **state)
{
    struct net *n = *state;
    git_oid commit;
    const struct twin_member_fields none = {0};
    assert_error(twin_ops_member_set(&commit, n->admin, "XE-EXAMPLE-RA", &none), TWIN_EINVALID,
                 "say what to change: --name, --country, --org-type or --side");
    const struct twin_member_fields country = {.country = "XX"};
    assert_error(twin_ops_member_set(&commit, n->admin, "XE-EXAMPLE-RA", &country), TWIN_EINVALID,
                 "country 'XX' is not an ISO 3166-1 code");
    const struct twin_member_fields type = {.org_type = "99"};
    assert_error(twin_ops_member_set(&commit, n->admin, "XE-EXAMPLE-RA", &type), TWIN_EINVALID,
                 "org-type '99' is not an IATI organisation type code");
    const struct twin_member_fields side = {.side = "east"};
    assert_error(twin_ops_member_set(&commit, n->admin, "XE-EXAMPLE-RA", &side), TWIN_EINVALID,
                 "side 'east' is not one of north | south | donor | broker");
    const struct twin_member_fields name = {.name = "Line one\nline two"};
    assert_error(twin_ops_member_set(&commit, n->admin, "XE-EXAMPLE-RA", &name), TWIN_EINVALID,
                 "name: required, one line");
    const struct twin_member_fields same = {.country = editor_who.country};
    assert_error(twin_ops_member_set(&commit, n->admin, "XE-EXAMPLE-NOBODY", &same), TWIN_ENOTFOUND,
                 "no member XE-EXAMPLE-NOBODY (twin member list shows the members)");
    assert_error(twin_ops_member_set(&commit, n->admin, "XE-EXAMPLE-RA", &same), TWIN_EINVALID,
                 "nothing to change: XE-EXAMPLE-RA has these values already");
}

static int count_by_type(json_t *rec, void *ctx)
{
    size_t *counts = ctx;
    counts[strcmp(json_string_value(json_object_get(rec, "type")), "note") == 0 ? 0 : 1]++;
    return 0;
}

static void foreach_visits_every_record_of_a_type_or_of_all_types(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    size_t counts[2] = {0, 0};
    for (int i = 0; i < 3; i++)
        add_ok(id, n->admin, "note", FIELDS("title", "Minutes"));
    add_ok(id, n->admin, "document", FIELDS("title", "MoU", "kind", "mou"));
    assert_int_equal(twin_ops_foreach(n->admin, NULL, "note", count_by_type, counts), 0);
    assert_int_equal(counts[0], 3);
    assert_int_equal(counts[1], 0);
    counts[0] = counts[1] = 0;
    assert_int_equal(twin_ops_foreach(n->admin, NULL, NULL, count_by_type, counts), 0);
    assert_int_equal(counts[0], 3);
    assert_int_equal(counts[1], 1);
    assert_int_equal(twin_ops_foreach(n->admin, NULL, "meeting", count_by_type, counts),
                     TWIN_EINVALID);
}

static void get_of_a_missing_record_is_not_found(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    json_t *rec = NULL;
    twin_record_new_id(id);
    assert_int_equal(twin_ops_get(&rec, n->admin, NULL, NULL, id), TWIN_ENOTFOUND);
    assert_int_equal(twin_ops_get(&rec, n->admin, NULL, "note", id), TWIN_ENOTFOUND);
    assert_null(rec);
}

static void resolve_id_takes_a_whole_id_or_a_prefix_that_begins_one(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], got[TWIN_ID_LEN + 1], arg[TWIN_ID_LEN + 1], unknown[TWIN_ID_LEN + 1];
    const char *type = "unset";
    add_ok(id, n->admin, "note", FIELDS("kind", "note", "title", "Kick-off"));
    /* A whole id is taken as it is, with no lookup. */
    twin_record_new_id(unknown);
    assert_int_equal(twin_ops_resolve_id(got, &type, n->admin, NULL, unknown), 0);
    assert_string_equal(got, unknown);
    assert_null(type);
    /* A prefix one character short of the id names it, in any case. */
    memcpy(arg, id, TWIN_ID_LEN - 1);
    arg[TWIN_ID_LEN - 1] = '\0';
    assert_int_equal(twin_ops_resolve_id(got, &type, n->admin, NULL, arg), 0);
    assert_string_equal(got, id);
    assert_string_equal(type, "note");
    for (char *p = arg; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(twin_ops_resolve_id(got, NULL, n->admin, NULL, arg), 0);
    assert_string_equal(got, id);
    /* Too short, not the start of an id, and the start of none. */
    assert_int_equal(twin_ops_resolve_id(got, NULL, n->admin, NULL, "0190abc"), TWIN_EINVALID);
    assert_non_null(strstr(twin_error_last(), "too short"));
    assert_int_equal(twin_ops_resolve_id(got, NULL, n->admin, NULL, "0190abcdx"), TWIN_EINVALID);
    assert_int_equal(twin_ops_resolve_id(got, NULL, n->admin, NULL, "0190abcd7"), TWIN_EINVALID);
    assert_int_equal(twin_ops_resolve_id(got, NULL, n->admin, NULL, ""), TWIN_EINVALID);
    assert_int_equal(twin_ops_resolve_id(got, NULL, n->admin, NULL, "ffffffff-ffff"),
                     TWIN_ENOTFOUND);
    /* At a commit before the record, the prefix names nothing. */
    git_oid first;
    assert_int_equal(twin_node_commit(&first, n->admin, "HEAD~1"), 0);
    memcpy(arg, id, 12);
    arg[12] = '\0';
    assert_int_equal(twin_ops_resolve_id(got, NULL, n->admin, &first, arg), TWIN_ENOTFOUND);
}

/* ---- concurrent writers --------------------------------------------------------------------- */

#define WRITES_PER_THREAD 12

struct writer {
    twin_node *node;
    int failures;
    char last_error[256];
};

static void *write_notes(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < WRITES_PER_THREAD; i++) {
        char id[TWIN_ID_LEN + 1];
        git_oid commit;
        if (twin_ops_add(id, &commit, w->node, "note", set_fields, FIELDS("title", "Parallel"))) {
            w->failures++;
            snprintf(w->last_error, sizeof(w->last_error), "%s", twin_error_last());
        }
    }
    return NULL;
}

static int count_notes(json_t *rec, void *ctx)
{
    (*(size_t *)ctx)++;
    return 0;
}

static void two_writers_on_one_node_lose_no_update(void **state)
{
    struct net *n = *state;
    struct writer w[2] = {{0}};
    pthread_t t[2];
    size_t notes = 0;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(twin_ops_open(&w[i].node, twin_node_dir(n->admin)), 0);
        assert_int_equal(pthread_create(&t[i], NULL, write_notes, &w[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        twin_node_free(w[i].node);
        if (w[i].failures)
            fail_msg("writer %d failed %d times: %s", i, w[i].failures, w[i].last_error);
    }
    assert_int_equal(twin_ops_foreach(n->admin, NULL, "note", count_notes, &notes), 0);
    assert_int_equal(notes, 2 * WRITES_PER_THREAD);

    /* The history is a straight line of valid commits. */
    git_oid id = head_of(n->admin);
    twin_check_cache *cache = NULL;
    assert_int_equal(twin_validity_cache_new(&cache), 0);
    size_t commits = 0;
    for (;;) {
        git_commit *c = NULL;
        struct twin_check check;
        assert_int_equal(twin_validity_check_commit(&check, twin_node_repo(n->admin), &id, cache),
                         0);
        if (!check.valid)
            fail_msg("%s: %s", git_oid_tostr_s(&id), check.reason);
        commits++;
        assert_int_equal(git_commit_lookup(&c, twin_node_repo(n->admin), &id), 0);
        unsigned int parents = git_commit_parentcount(c);
        if (parents)
            id = *git_commit_parent_id(c, 0);
        git_commit_free(c);
        if (!parents)
            break;
    }
    twin_validity_cache_free(cache);
    assert_int_equal(commits, 1 + 2 + 2 * WRITES_PER_THREAD); /* genesis, two members, notes */
}

/* ---- sealed records: the write path (proto/SEALED.md) --------------------------------------- */

#define ORGS(...)                                                                                  \
    (&(const struct twin_audience){(const char *const[]){__VA_ARGS__},                             \
                                   sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *)})

static void add_sealed_ok(char id[static TWIN_ID_LEN + 1], twin_node *node,
                          const struct twin_audience *audience, void *fields)
{
    git_oid commit;
    int rc = twin_ops_add_sealed(id, &commit, node, "note", audience, set_fields, fields);
    if (rc)
        fail_msg("add sealed: %d %s", rc, twin_error_last());
    assert_commit_valid(node, &commit, twin_node_org_id(node));
}

/* The content of record id as node reads it, and how. */
static json_t *unseal(twin_node *node, const char *id, enum twin_sealing *how)
{
    json_t *stored = get(node, id), *out = NULL;
    int rc = twin_ops_unseal(&out, how, node, stored);
    if (rc)
        fail_msg("unseal %s: %d %s", id, rc, twin_error_last());
    json_decref(stored);
    return out;
}

static const char *title_of(const json_t *rec)
{
    return json_string_value(json_object_get(rec, "title"));
}

/* The envelope's audience, joined by commas. */
static const char *audience_of(twin_node *node, const char *id)
{
    static char text[400];
    json_t *env = get(node, id);
    size_t i, used = 0;
    json_t *org;
    text[0] = '\0';
    json_array_foreach(json_object_get(json_object_get(env, "sealed"), "audience"), i, org) used +=
        (size_t)snprintf(text + used, sizeof(text) - used, "%s%s", i ? "," : "",
                         json_string_value(org));
    json_decref(env);
    return text;
}

/* The head commit's message. */
static const char *head_message(twin_node *node)
{
    static char text[700];
    git_oid h = head_of(node);
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(node), &h), 0);
    snprintf(text, sizeof(text), "%s", git_commit_message(c));
    git_commit_free(c);
    return text;
}

static int count_wrap(const struct twin_wrap *w, void *ctx)
{
    (*(size_t *)ctx)++;
    return 0;
}

/* How many wraps node holds to key pk. */
static size_t wraps_to(twin_node *node, const unsigned char *pk)
{
    twin_wraps *store = NULL;
    size_t count = 0;
    assert_int_equal(twin_node_wraps(&store, node), 0);
    assert_int_equal(twin_wraps_each_to(store, pk, count_wrap, &count), 0);
    return count;
}

static void a_sealed_record_reads_back_for_its_audience_only(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    enum twin_sealing how;
    add_sealed_ok(id, n->admin, ORGS("XE-EXAMPLE-RA"),
                  FIELDS("title", "Budget risk", "kind", "risk", "body", "A cut in March."));
    /* The writer's institution is always in it. */
    assert_string_equal(audience_of(n->admin, id), "XE-EXAMPLE-MOF,XE-EXAMPLE-RA");
    assert_null(strstr(head_message(n->admin), "Budget"));
    json_t *rec = unseal(n->admin, id, &how);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    assert_string_equal(title_of(rec), "Budget risk");
    assert_string_equal(json_string_value(json_object_get(rec, "id")), id);
    json_decref(rec);
    /* The other institution of the audience, with the history and the wraps a sync brings. */
    pull(n->editor, n->admin);
    helper_pass_wraps(n->editor, n->admin);
    rec = unseal(n->editor, id, &how);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    assert_string_equal(title_of(rec), "Budget risk");
    json_decref(rec);
    /* An institution outside it, even with every wrap there is, reads the envelope only. */
    pull(n->observer, n->admin);
    helper_pass_wraps(n->observer, n->admin);
    rec = unseal(n->observer, id, &how);
    assert_int_equal(how, TWIN_SEALING_CLOSED);
    assert_non_null(json_object_get(rec, "sealed"));
    assert_null(json_object_get(rec, "title"));
    json_decref(rec);
}

/* A sealed record whose wraps cannot be kept (a trigger refuses them here, as a full disk would)
 * is not written: a version without its wraps would be lost to everyone. */
static void a_sealed_record_whose_wraps_cannot_be_kept_is_not_written(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[300];
    git_oid before = head_of(n->admin), commit;
    twin_wraps *store = NULL;
    sqlite3 *db = NULL;
    assert_int_equal(twin_node_wraps(&store, n->admin), 0);
    snprintf(path, sizeof(path), "%s/%s", twin_node_dir(n->admin), TWIN_WRAPS_FILE);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TRIGGER full BEFORE INSERT ON wraps"
                                  " BEGIN SELECT RAISE(FAIL, 'the disk is full'); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_error(twin_ops_add_sealed(id, &commit, n->admin, "note", ORGS("XE-EXAMPLE-RA"),
                                     set_fields, FIELDS("title", "Budget risk", "kind", "risk")),
                 TWIN_ERROR, "the disk is full");
    git_oid after = head_of(n->admin);
    assert_true(git_oid_equal(&before, &after));
    assert_int_equal(sqlite3_exec(db, "DROP TRIGGER full", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    add_sealed_ok(id, n->admin, ORGS("XE-EXAMPLE-RA"),
                  FIELDS("title", "Budget risk", "kind", "risk"));
}

static void share_widens_the_audience_and_only_that(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], clear[TWIN_ID_LEN + 1];
    git_oid commit, before;
    enum twin_sealing how;
    add_sealed_ok(id, n->admin, ORGS("XE-EXAMPLE-MOF"),
                  FIELDS("title", "Counterpart's view", "kind", "note"));
    assert_string_equal(audience_of(n->admin, id), "XE-EXAMPLE-MOF");
    assert_int_equal(twin_ops_share(&commit, n->admin, id, ORGS("XE-EXAMPLE-RA")), 0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    assert_string_equal(audience_of(n->admin, id), "XE-EXAMPLE-MOF,XE-EXAMPLE-RA");
    json_t *rec = unseal(n->admin, id, &how);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    assert_string_equal(title_of(rec), "Counterpart's view");
    json_decref(rec);
    pull(n->editor, n->admin);
    helper_pass_wraps(n->editor, n->admin);
    rec = unseal(n->editor, id, &how);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    json_decref(rec);
    /* Nothing to widen: every institution named reads it already. */
    before = head_of(n->admin);
    assert_error(twin_ops_share(&commit, n->admin, id, ORGS("XE-EXAMPLE-RA")), TWIN_EEXISTS,
                 "its audience holds these institutions already");
    assert_error(twin_ops_share(&commit, n->admin, id, ORGS("XE-EXAMPLE-MOF", "XE-EXAMPLE-RA")),
                 TWIN_EEXISTS, "already");
    git_oid after = head_of(n->admin);
    assert_true(git_oid_equal(&before, &after));
    /* A record in the clear was shared with everyone already: it cannot be sealed now. */
    add_ok(clear, n->admin, "note", FIELDS("title", "Public note"));
    before = head_of(n->admin);
    assert_error(twin_ops_share(&commit, n->admin, clear, ORGS("XE-EXAMPLE-RA")), TWIN_EINVALID,
                 "was written in the clear and cannot be sealed");
    after = head_of(n->admin);
    assert_true(git_oid_equal(&before, &after));
}

static void update_of_a_sealed_record_keeps_its_audience(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    enum twin_sealing how;
    add_sealed_ok(id, n->admin, ORGS("XE-EXAMPLE-RA"), FIELDS("title", "Draft", "kind", "note"));
    json_t *was = get(n->admin, id);
    assert_int_equal(
        twin_ops_update(&commit, n->admin, id, "set", set_fields, FIELDS("title", "Second draft")),
        0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    assert_null(strstr(head_message(n->admin), "draft"));
    assert_string_equal(audience_of(n->admin, id), "XE-EXAMPLE-MOF,XE-EXAMPLE-RA");
    json_t *now = get(n->admin, id);
    assert_false(json_equal(json_object_get(json_object_get(now, "sealed"), "ciphertext"),
                            json_object_get(json_object_get(was, "sealed"), "ciphertext")));
    json_t *rec = unseal(n->admin, id, &how);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    assert_string_equal(title_of(rec), "Second draft");
    json_decref(rec);
    /* The editor of the audience changes it too, with the wraps it was given. */
    pull(n->editor, n->admin);
    helper_pass_wraps(n->editor, n->admin);
    assert_int_equal(
        twin_ops_update(&commit, n->editor, id, "set", set_fields, FIELDS("title", "Final")), 0);
    assert_commit_valid(n->editor, &commit, "XE-EXAMPLE-RA");
    assert_string_equal(audience_of(n->editor, id), "XE-EXAMPLE-MOF,XE-EXAMPLE-RA");
    json_decref(now);
    json_decref(was);
}

static void a_node_outside_the_audience_cannot_change_it(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    add_sealed_ok(id, n->admin, ORGS("XE-EXAMPLE-MOF"), FIELDS("title", "Ours", "kind", "note"));
    pull(n->editor, n->admin);
    helper_pass_wraps(n->editor, n->admin);
    git_oid before = head_of(n->editor);
    int rc = twin_ops_update(&commit, n->editor, id, "set", set_fields, FIELDS("title", "Theirs"));
    assert_error(rc, TWIN_EDENIED, id);
    assert_error(twin_ops_withdraw(&commit, n->editor, id), TWIN_EDENIED, id);
    assert_error(twin_ops_share(&commit, n->editor, id, ORGS("XE-EXAMPLE-RA")), TWIN_EDENIED, id);
    git_oid after = head_of(n->editor);
    assert_true(git_oid_equal(&before, &after));
}

static void erase_takes_only_sealed_records_and_leaves_no_key(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], clear[TWIN_ID_LEN + 1];
    git_oid commit;
    size_t held = 0;
    enum twin_sealing how;
    add_ok(clear, n->admin, "note", FIELDS("title", "Public note"));
    assert_error(twin_ops_erase(&commit, n->admin, clear, "Asked by the person"), TWIN_EINVALID,
                 "only sealed records can be erased");
    add_sealed_ok(id, n->admin, ORGS("XE-EXAMPLE-RA"),
                  FIELDS("title", "Sensitive", "kind", "note"));
    assert_int_equal(twin_ops_update(&commit, n->admin, id, "set", set_fields,
                                     FIELDS("title", "Sensitive, revised")),
                     0);
    assert_int_equal(twin_ops_erased_keys(&held, n->admin, id, false), 0);
    assert_int_equal(held, 4); /* two versions, two institutions each */
    /* Only an admin erases. */
    pull(n->editor, n->admin);
    helper_pass_wraps(n->editor, n->admin);
    assert_error(twin_ops_erase(&commit, n->editor, id, "Asked by the person"), TWIN_EDENIED,
                 "only an admin");
    assert_int_equal(twin_ops_erase(&commit, n->admin, id, "Asked by the person"), 0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    assert_int_equal(twin_ops_erased_keys(&held, n->admin, id, false), 0);
    assert_int_equal(held, 0);
    json_t *rec = unseal(n->admin, id, &how);
    assert_int_equal(how, TWIN_SEALING_ERASED);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(rec, "erased"), "reason")),
        "Asked by the person");
    json_decref(rec);
    assert_error(twin_ops_erase(&commit, n->admin, id, "Again"), TWIN_EINVALID, "erased already");
    assert_error(twin_ops_update(&commit, n->admin, id, "set", set_fields, FIELDS("title", "Back")),
                 TWIN_EDENIED, "was erased");
    /* Another node that held keys drops them when it sees the erasure. */
    pull(n->editor, n->admin);
    assert_int_equal(twin_ops_erased_keys(&held, n->editor, id, true), 0);
    assert_int_equal(held, 4);
    assert_int_equal(twin_ops_erased_keys(&held, n->editor, id, false), 0);
    assert_int_equal(held, 0);
}

struct ids {
    char list[8][TWIN_ID_LEN + 1];
    size_t n;
};

static int collect_id(json_t *rec, void *ctx)
{
    struct ids *ids = ctx;
    if (ids->n == 8)
        return twin_error(TWIN_ERROR, "more records than the test wrote");
    snprintf(ids->list[ids->n++], TWIN_ID_LEN + 1, "%s",
             json_string_value(json_object_get(rec, "id")));
    return 0;
}

static bool ids_hold(const struct ids *ids, const char *id)
{
    for (size_t i = 0; i < ids->n; i++)
        if (strcmp(ids->list[i], id) == 0)
            return true;
    return false;
}

static void foreach_envelope_gives_the_envelopes_and_nothing_else(void **state)
{
    struct net *n = *state;
    char clear[TWIN_ID_LEN + 1], quoting[TWIN_ID_LEN + 1], sealed[TWIN_ID_LEN + 1],
        erased[TWIN_ID_LEN + 1], loose[TWIN_ID_LEN + 1], path[128];
    git_oid commit;
    add_ok(clear, n->admin, "note", FIELDS("title", "Public note"));
    /* A note in the clear whose text holds an envelope's member line. */
    add_ok(quoting, n->admin, "note",
           FIELDS("title", "How an envelope looks", "body", "{\n  \"sealed\": {\n  }\n}"));
    add_sealed_ok(sealed, n->admin, ORGS("XE-EXAMPLE-RA"), FIELDS("title", "Sensitive"));
    add_sealed_ok(erased, n->admin, ORGS("XE-EXAMPLE-RA"), FIELDS("title", "To be erased"));
    assert_int_equal(twin_ops_erase(&commit, n->admin, erased, "Asked by the person"), 0);
    /* An envelope written as a loose object, which twin's pack reader does not hold. */
    struct twin_membership *m = NULL;
    struct twin_sealed s;
    twin_record_new_id(loose);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "id", loose, "type", "note", "kind", "note",
                            "title", "Written loose");
    const char *audience[] = {admin_who.org_id};
    assert_int_equal(twin_ops_members(&m, n->admin, NULL), 0);
    assert_int_equal(twin_sealed_seal(&s, rec, audience, 1, NULL, m), 0);
    assert_int_equal(twin_record_path(path, sizeof(path), "note", loose), 0);
    commit =
        helper_commit_file(n->admin, admin_who.name, admin_who.org_id, path, s.text, s.text_len);
    assert_commit_valid(n->admin, &commit, admin_who.org_id);

    struct ids all = {0}, envelopes = {0};
    assert_int_equal(twin_ops_foreach(n->admin, NULL, NULL, collect_id, &all), 0);
    assert_int_equal(all.n, 5);
    assert_int_equal(twin_ops_foreach_envelope(n->admin, NULL, collect_id, &envelopes), 0);
    assert_int_equal(envelopes.n, 3);
    assert_true(ids_hold(&envelopes, sealed));
    assert_true(ids_hold(&envelopes, erased));
    assert_true(ids_hold(&envelopes, loose));
    /* At an earlier commit: before the loose one. */
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(n->admin), &commit), 0);
    envelopes.n = 0;
    assert_int_equal(
        twin_ops_foreach_envelope(n->admin, git_commit_parent_id(c, 0), collect_id, &envelopes), 0);
    assert_int_equal(envelopes.n, 2);
    assert_false(ids_hold(&envelopes, loose));
    git_commit_free(c);
    twin_sealed_clear(&s);
    twin_membership_free(m);
    json_decref(rec);
}

static void upkeep_of_the_head_catches_up_a_wrap_store_that_lagged(void **state)
{
    struct net *n = *state;
    char erased[TWIN_ID_LEN + 1], kept[TWIN_ID_LEN + 1];
    git_oid commit;
    size_t held = 0, deleted = 9;
    add_sealed_ok(erased, n->admin, ORGS("XE-EXAMPLE-RA"), FIELDS("title", "To be erased"));
    add_sealed_ok(kept, n->admin, ORGS("XE-EXAMPLE-FUND", "XE-EXAMPLE-RA"),
                  FIELDS("title", "Shared with the fund"));
    pull(n->editor, n->admin);
    helper_pass_wraps(n->editor, n->admin);
    assert_int_equal(twin_ops_upkeep_head(n->editor, &deleted), 0);
    assert_int_equal(deleted, 0); /* nothing erased, every key active */
    /* The admin erases one record and removes the fund; the editor takes the history without the
     * upkeep a session does. */
    assert_int_equal(twin_ops_erase(&commit, n->admin, erased, "Asked by the person"), 0);
    assert_int_equal(twin_ops_member_remove(&commit, n->admin, "XE-EXAMPLE-FUND"), 0);
    pull(n->editor, n->admin);
    assert_int_equal(twin_ops_erased_keys(&held, n->editor, erased, false), 0);
    assert_int_equal(held, 2); /* to the admin's key and the editor's */
    assert_int_equal(wraps_to(n->editor, twin_node_key(n->observer)->pk), 1);
    assert_int_equal(twin_ops_upkeep_head(n->editor, &deleted), 0);
    assert_int_equal(deleted, 3);
    assert_int_equal(twin_ops_erased_keys(&held, n->editor, erased, false), 0);
    assert_int_equal(held, 0);
    assert_int_equal(wraps_to(n->editor, twin_node_key(n->observer)->pk), 0);
    enum twin_sealing how;
    json_t *rec = unseal(n->editor, kept, &how);
    assert_int_equal(how, TWIN_SEALING_OPENED); /* the rest stays readable */
    json_decref(rec);
    assert_int_equal(twin_ops_upkeep_head(n->editor, &deleted), 0);
    assert_int_equal(deleted, 0);
}

static void a_person_is_sealed_for_every_member(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], note[TWIN_ID_LEN + 1];
    git_oid commit;
    enum twin_sealing how;
    assert_int_equal(twin_ops_add(id, &commit, n->editor, "person", set_fields,
                                  FIELDS("name", "Amina Example", "email", "amina@example.org")),
                     0);
    assert_commit_valid(n->editor, &commit, "XE-EXAMPLE-RA");
    /* Every member with an active key, the observer too. */
    assert_string_equal(audience_of(n->editor, id), "XE-EXAMPLE-FUND,XE-EXAMPLE-MOF,XE-EXAMPLE-RA");
    const char *message = head_message(n->editor);
    assert_null(strstr(message, "Amina"));
    assert_non_null(strstr(message, "add person"));
    assert_non_null(strstr(message, id));
    json_t *env = get(n->editor, id);
    char *text = json_dumps(env, JSON_SORT_KEYS);
    assert_null(strstr(text, "Amina"));
    assert_null(strstr(text, "example.org"));
    free(text);
    json_decref(env);
    json_t *rec = unseal(n->editor, id, &how);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    assert_string_equal(json_string_value(json_object_get(rec, "name")), "Amina Example");
    json_decref(rec);
    /* A record without a personal field stays in the clear. */
    add_ok(note, n->editor, "note", FIELDS("title", "Kick-off"));
    rec = unseal(n->editor, note, &how);
    assert_int_equal(how, TWIN_SEALING_CLEAR);
    json_decref(rec);
}

static void key_rotation_keeps_every_sealed_record_readable(void **state)
{
    struct net *n = *state;
    char ours[TWIN_ID_LEN + 1], shared[TWIN_ID_LEN + 1], person[TWIN_ID_LEN + 1];
    unsigned char old[TWIN_PUBKEY_BYTES];
    git_oid commit;
    enum twin_sealing how;
    add_sealed_ok(ours, n->admin, ORGS("XE-EXAMPLE-MOF"), FIELDS("title", "Ours", "kind", "note"));
    add_sealed_ok(shared, n->admin, ORGS("XE-EXAMPLE-RA"), FIELDS("title", "One", "kind", "note"));
    assert_int_equal(
        twin_ops_update(&commit, n->admin, shared, "set", set_fields, FIELDS("title", "Two")), 0);
    assert_int_equal(twin_ops_add(person, &commit, n->admin, "person", set_fields,
                                  FIELDS("name", "Baraka Sample")),
                     0);
    memcpy(old, twin_node_key(n->admin)->pk, sizeof(old));
    size_t before = wraps_to(n->admin, old);
    assert_int_equal(before, 4); /* one for each version this institution reads */
    assert_int_equal(twin_ops_key_rotate(&commit, n->admin), 0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    assert_memory_not_equal(twin_node_key(n->admin)->pk, old, sizeof(old));
    /* The retired key's wraps are gone; the new key has one for every version it had. */
    assert_int_equal(wraps_to(n->admin, old), 0);
    assert_int_equal(wraps_to(n->admin, twin_node_key(n->admin)->pk), before);
    json_t *rec = unseal(n->admin, ours, &how);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    assert_string_equal(title_of(rec), "Ours");
    json_decref(rec);
    rec = unseal(n->admin, shared, &how);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    assert_string_equal(title_of(rec), "Two");
    json_decref(rec);
    rec = unseal(n->admin, person, &how);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    assert_string_equal(json_string_value(json_object_get(rec, "name")), "Baraka Sample");
    json_decref(rec);
    /* And the node goes on writing sealed records with its new key. */
    assert_int_equal(
        twin_ops_update(&commit, n->admin, ours, "set", set_fields, FIELDS("title", "Ours, 2")), 0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    rec = unseal(n->admin, ours, &how);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    assert_string_equal(title_of(rec), "Ours, 2");
    json_decref(rec);
}

/* ---- sealed records: versions a merge set aside, opened and settled (SEALED.md 9) ----------- */

/* A note sealed by the admin for itself and the editor, on both nodes with every wrap. */
static void add_shared_note(char id[static TWIN_ID_LEN + 1], struct net *n, void *fields)
{
    add_sealed_ok(id, n->admin, ORGS("XE-EXAMPLE-RA"), fields);
    pull(n->editor, n->admin);
    helper_pass_wraps(n->editor, n->admin);
}

/* The head envelope's conflicts of record id on node. */
static json_t *conflicts_of(twin_node *node, const char *id)
{
    json_t *env = get(node, id), *list = json_incref(json_object_get(env, "conflicts"));
    json_decref(env);
    return list;
}

/* The admin and the editor change sealed note id at the same time, each on its own node (admin
 * with fields_a, editor with fields_b); the admin merges the two as a sync session would, and the
 * editor takes the merge, with every wrap either made. The blob id the merge set aside goes to
 * set_aside. */
static void change_concurrently(char set_aside[GIT_OID_HEXSZ + 1], struct net *n, const char *id,
                                void *fields_a, void *fields_b)
{
    git_oid commit;
    json_t *before = conflicts_of(n->admin, id);
    if (twin_ops_update(&commit, n->admin, id, "set", set_fields, fields_a) ||
        twin_ops_update(&commit, n->editor, id, "set", set_fields, fields_b))
        fail_msg("set: %s", twin_error_last());
    helper_merge(n->admin, n->editor);
    git_oid merge = helper_head(n->admin);
    assert_commit_valid(n->admin, &merge, "XE-EXAMPLE-MOF");
    pull(n->editor, n->admin);
    helper_pass_wraps(n->admin, n->editor);
    helper_pass_wraps(n->editor, n->admin);
    json_t *after = conflicts_of(n->admin, id), *entry;
    size_t i, added = 0;
    assert_int_equal(json_array_size(after), json_array_size(before) + 1);
    json_array_foreach(after, i, entry)
    {
        bool had = false;
        for (size_t k = 0; k < json_array_size(before); k++)
            had = had || json_equal(entry, json_array_get(before, k));
        if (!had && added++ == 0)
            snprintf(set_aside, GIT_OID_HEXSZ + 1, "%s", json_string_value(entry));
    }
    assert_int_equal(added, 1);
    json_decref(after);
    json_decref(before);
}

/* The content of the version of record id set aside as blob, as node opens it. */
static json_t *set_aside_content(twin_node *node, const char *id, const char *blob)
{
    json_t *stored = get(node, id), *out = NULL;
    char full[GIT_OID_HEXSZ + 1];
    int rc = twin_ops_unseal_set_aside(&out, full, node, stored, blob);
    if (rc)
        fail_msg("open %s of %s: %d %s", blob, id, rc, twin_error_last());
    assert_int_equal(strncmp(full, blob, strlen(blob)), 0);
    assert_int_equal(strlen(full), GIT_OID_HEXSZ);
    json_decref(stored);
    return out;
}

static void a_version_set_aside_opens_and_keeping_it_takes_its_content(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], blob[GIT_OID_HEXSZ + 1], prefix[9];
    git_oid commit;
    enum twin_sealing how;
    add_shared_note(id, n, FIELDS("title", "Work plan", "kind", "decision", "body", "Draft"));
    change_concurrently(blob, n, id, FIELDS("title", "Work plan, North's"),
                        FIELDS("title", "Work plan, South's", "body", "Agreed in Dodoma"));
    /* Each side reads both versions: the head, and the one set aside, by a prefix of its id. */
    snprintf(prefix, sizeof(prefix), "%.8s", blob);
    json_t *head = unseal(n->editor, id, &how);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    json_t *theirs = set_aside_content(n->editor, id, prefix);
    json_t *theirs_north = set_aside_content(n->admin, id, blob);
    assert_true(json_equal(theirs, theirs_north));
    const bool north_won = strcmp(title_of(head), "Work plan, North's") == 0;
    assert_string_equal(title_of(theirs), north_won ? "Work plan, South's" : "Work plan, North's");
    json_t *diff = twin_record_diff(head, theirs);
    assert_non_null(diff);
    assert_int_equal(json_array_size(diff), 2);
    assert_string_equal(json_string_value(json_array_get(diff, 0)), "body");
    assert_string_equal(json_string_value(json_array_get(diff, 1)), "title");
    json_decref(diff);
    /* Keeping it: one valid commit, its content whole, nothing set aside any more. */
    const struct twin_sealed_resolution keep = {.keep = prefix};
    assert_int_equal(twin_ops_resolve_sealed(&commit, n->editor, id, &keep), 0);
    assert_commit_valid(n->editor, &commit, "XE-EXAMPLE-RA");
    assert_non_null(strstr(head_message(n->editor), "resolve note"));
    assert_null(strstr(head_message(n->editor), "Work plan"));
    json_t *list = conflicts_of(n->editor, id);
    assert_null(list);
    json_t *now = unseal(n->editor, id, &how);
    assert_true(json_equal(now, theirs));
    json_decref(now);
    assert_string_equal(audience_of(n->editor, id), "XE-EXAMPLE-MOF,XE-EXAMPLE-RA");
    /* The other node takes the resolution and reads the same content. */
    pull(n->admin, n->editor);
    helper_pass_wraps(n->admin, n->editor);
    now = unseal(n->admin, id, &how);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    assert_true(json_equal(now, theirs));
    json_decref(now);
    json_decref(theirs_north);
    json_decref(theirs);
    json_decref(head);
}

static void dropping_versions_keeps_the_heads_content_and_the_list_only_shrinks(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], first[GIT_OID_HEXSZ + 1], second[GIT_OID_HEXSZ + 1];
    git_oid commit;
    enum twin_sealing how;
    add_shared_note(id, n, FIELDS("title", "Risks", "kind", "risk"));
    change_concurrently(first, n, id, FIELDS("body", "North: the budget"),
                        FIELDS("body", "South: the staff"));
    change_concurrently(second, n, id, FIELDS("date", "2026-03-01"), FIELDS("date", "2026-04-01"));
    json_t *list = conflicts_of(n->admin, id);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);
    /* Drop one and set a field in the same version. */
    json_t *head = unseal(n->admin, id, &how);
    const char *drop_second[] = {second};
    const struct twin_sealed_resolution one = {
        .drop = drop_second, .ndrop = 1, .fn = set_fields, .ctx = FIELDS("title", "Risks, agreed")};
    assert_int_equal(twin_ops_resolve_sealed(&commit, n->admin, id, &one), 0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    list = conflicts_of(n->admin, id);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_array_get(list, 0)), first);
    json_decref(list);
    json_t *now = unseal(n->admin, id, &how);
    assert_string_equal(title_of(now), "Risks, agreed");
    assert_true(json_equal(json_object_get(now, "body"), json_object_get(head, "body")));
    assert_true(json_equal(json_object_get(now, "date"), json_object_get(head, "date")));
    json_decref(now);
    /* What was dropped is no conflict of the record any more. */
    assert_error(twin_ops_resolve_sealed(&commit, n->admin, id, &one), TWIN_EINVALID,
                 "is not a version of note");
    /* The rest at once: the head's content stays whole. */
    const struct twin_sealed_resolution all = {.drop_all = true};
    json_decref(head);
    head = unseal(n->admin, id, &how);
    assert_int_equal(twin_ops_resolve_sealed(&commit, n->admin, id, &all), 0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    assert_null(conflicts_of(n->admin, id));
    now = unseal(n->admin, id, &how);
    assert_true(json_equal(now, head));
    json_decref(now);
    json_decref(head);
    assert_error(twin_ops_resolve_sealed(&commit, n->admin, id, &all), TWIN_EINVALID,
                 "has no versions a merge set aside");
}

/* The version kept was shared wider than the head: the record's audience takes it in. */
static void keeping_a_version_shared_wider_widens_the_audience(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], blob[GIT_OID_HEXSZ + 1];
    git_oid commit;
    enum twin_sealing how;
    add_shared_note(id, n, FIELDS("title", "Mission report", "kind", "note"));
    json_t *before = conflicts_of(n->admin, id);
    assert_null(before);
    assert_int_equal(twin_ops_share(&commit, n->admin, id, ORGS("XE-EXAMPLE-FUND")), 0);
    assert_int_equal(twin_ops_update(&commit, n->editor, id, "set", set_fields,
                                     FIELDS("body", "The mission met the auditors")),
                     0);
    helper_merge(n->admin, n->editor);
    pull(n->editor, n->admin);
    helper_pass_wraps(n->editor, n->admin);
    json_t *list = conflicts_of(n->editor, id);
    snprintf(blob, sizeof(blob), "%s", json_string_value(json_array_get(list, 0)));
    json_decref(list);
    /* Whichever side won, keeping the other leaves the record shared with the fund. */
    const struct twin_sealed_resolution keep = {.keep = blob};
    assert_int_equal(twin_ops_resolve_sealed(&commit, n->editor, id, &keep), 0);
    assert_commit_valid(n->editor, &commit, "XE-EXAMPLE-RA");
    assert_string_equal(audience_of(n->editor, id), "XE-EXAMPLE-FUND,XE-EXAMPLE-MOF,XE-EXAMPLE-RA");
    pull(n->observer, n->editor);
    helper_pass_wraps(n->observer, n->editor);
    json_t *rec = unseal(n->observer, id, &how);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    json_decref(rec);
}

static void resolving_refuses_what_is_no_version_set_aside(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], clear[TWIN_ID_LEN + 1], blob[GIT_OID_HEXSZ + 1];
    git_oid commit;
    add_shared_note(id, n, FIELDS("title", "Steering group", "kind", "note"));
    const struct twin_sealed_resolution all = {.drop_all = true};
    assert_error(twin_ops_resolve_sealed(&commit, n->admin, id, &all), TWIN_EINVALID,
                 "has no versions a merge set aside");
    change_concurrently(blob, n, id, FIELDS("title", "Steering group, March"),
                        FIELDS("title", "Steering group, April"));
    git_oid before = head_of(n->admin);
    const struct twin_sealed_resolution nothing = {0};
    assert_error(twin_ops_resolve_sealed(&commit, n->admin, id, &nothing), TWIN_EINVALID,
                 "name the versions");
    const char *stranger[] = {"0123456789abcdef0123456789abcdef01234567"};
    const struct twin_sealed_resolution other = {.drop = stranger, .ndrop = 1};
    assert_error(twin_ops_resolve_sealed(&commit, n->admin, id, &other), TWIN_EINVALID,
                 "blob 0123456789abcdef0123456789abcdef01234567 is not a version of note");
    const struct twin_sealed_resolution shorter = {.keep = "abc"};
    assert_error(twin_ops_resolve_sealed(&commit, n->admin, id, &shorter), TWIN_EINVALID,
                 "'abc' is not a blob id");
    json_t *stored = get(n->admin, id), *out = NULL;
    assert_error(twin_ops_unseal_set_aside(&out, NULL, n->admin, stored, "zzzzzzzz"), TWIN_EINVALID,
                 "is not a blob id");
    assert_null(out);
    json_decref(stored);
    /* A node outside the audience opens neither the head nor the version set aside. */
    pull(n->observer, n->admin);
    helper_pass_wraps(n->observer, n->admin);
    stored = get(n->observer, id);
    assert_error(twin_ops_unseal_set_aside(&out, NULL, n->observer, stored, blob), TWIN_EDENIED,
                 "holds no key that opens it");
    json_decref(stored);
    git_oid after = head_of(n->admin);
    assert_true(git_oid_equal(&before, &after)); /* nothing refused was written */
    /* A record in the clear has field conflicts, never versions set aside. */
    add_ok(clear, n->admin, "note", FIELDS("title", "Public agenda"));
    assert_error(twin_ops_resolve_sealed(&commit, n->admin, clear, &all), TWIN_EINVALID,
                 "was written in the clear");
    stored = get(n->admin, clear);
    assert_error(twin_ops_unseal_set_aside(&out, NULL, n->admin, stored, blob), TWIN_EINVALID,
                 "was written in the clear");
    json_decref(stored);
    /* An erased record keeps no versions and changes no more. */
    const struct twin_sealed_resolution keep = {.keep = blob};
    assert_int_equal(twin_ops_erase(&commit, n->admin, id, "Asked by the partner"), 0);
    assert_error(twin_ops_resolve_sealed(&commit, n->admin, id, &keep), TWIN_EDENIED, "was erased");
    stored = get(n->admin, id);
    assert_error(twin_ops_unseal_set_aside(&out, NULL, n->admin, stored, blob), TWIN_EDENIED,
                 "was erased");
    json_decref(stored);
}

/* A hostile writer re-adds a conflicts entry a resolution dropped: the predicate refuses the
 * commit, and a node that receives it refuses it too. */
static void a_version_that_adds_a_conflicts_entry_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], blob[GIT_OID_HEXSZ + 1], path[128], *text = NULL;
    size_t len;
    git_oid commit;
    add_shared_note(id, n, FIELDS("title", "Exchange visit", "kind", "note"));
    change_concurrently(blob, n, id, FIELDS("title", "Exchange visit, May"),
                        FIELDS("title", "Exchange visit, June"));
    const char *drop[] = {blob};
    const struct twin_sealed_resolution resolution = {.drop = drop, .ndrop = 1};
    assert_int_equal(twin_ops_resolve_sealed(&commit, n->admin, id, &resolution), 0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    /* The resolved envelope with its entry back, signed by a member of the audience. */
    json_t *env = get(n->admin, id);
    json_object_set_new(env, "conflicts", json_pack("[s]", blob));
    assert_int_equal(twin_record_canonical(&text, &len, env), 0);
    assert_int_equal(twin_record_path(path, sizeof(path), "note", id), 0);
    git_oid hostile =
        helper_commit_file(n->admin, admin_who.name, admin_who.org_id, path, text, len);
    struct twin_check check;
    assert_int_equal(twin_validity_check_commit(&check, twin_node_repo(n->admin), &hostile, NULL),
                     0);
    assert_false(check.valid);
    assert_non_null(strstr(check.reason, "only merges set versions aside in conflicts"));
    size_t bad = 0;
    char reason[600];
    helper_transfer(n->admin, n->editor, &bad, reason, sizeof(reason));
    assert_int_equal(bad, 1);
    assert_non_null(strstr(reason, "only merges set versions aside"));
    free(text);
    json_decref(env);
}

/* ---- contributions: confirmed by the contributing institution -------------------------------- */

/* A partnership, one institution for each of the admin's and the editor's members, and one with
 * no org_id, all written by the admin and pulled to the editor. */
struct money_ids {
    char part[TWIN_ID_LEN + 1], mof[TWIN_ID_LEN + 1], ra[TWIN_ID_LEN + 1], anon[TWIN_ID_LEN + 1];
};

static void money_setup(struct net *n, struct money_ids *m)
{
    add_ok(m->part, n->admin, "partnership",
           FIELDS("title", "Tax twinning", "partnership_type", "twinning"));
    add_ok(m->mof, n->admin, "institution",
           FIELDS("name", "Ministry of Finance", "org_id", "XE-EXAMPLE-MOF"));
    add_ok(m->ra, n->admin, "institution",
           FIELDS("name", "Revenue Authority", "org_id", "XE-EXAMPLE-RA"));
    add_ok(m->anon, n->admin, "institution", FIELDS("name", "Unregistered Office"));
    pull(n->editor, n->admin);
}

/* Adds a pledge of 20 expert days in institution inst's name, written by node. */
static int pledge(char id[static TWIN_ID_LEN + 1], twin_node *node, const struct money_ids *m,
                  const char *inst, const char *confirmed)
{
    git_oid commit;
    return twin_ops_add(id, &commit, node, "contribution", set_fields,
                        FIELDS("partnership", m->part, "institution", inst, "kind", "in_kind",
                               "category", "expert_days", "quantity", "20", "unit", "days", "date",
                               "2026-03-01", "status", "pledged", confirmed ? "confirmed" : NULL,
                               confirmed));
}

static const char *confirmed_of(twin_node *node, const char *id, char out[static 16])
{
    json_t *rec = get(node, id);
    const char *c = json_string_value(json_object_get(rec, "confirmed"));
    snprintf(out, 16, "%s", c ? c : "(none)");
    json_decref(rec);
    return out;
}

static void a_contribution_in_this_institutions_name_is_confirmed_as_written(void **state)
{
    struct net *n = *state;
    struct money_ids m;
    char id[TWIN_ID_LEN + 1], buf[16];
    git_oid commit;
    money_setup(n, &m);
    assert_int_equal(pledge(id, n->admin, &m, m.mof, NULL), 0);
    git_oid added = head_of(n->admin);
    assert_commit_valid(n->admin, &added, "XE-EXAMPLE-MOF");
    assert_string_equal(confirmed_of(n->admin, id, buf), "pledged");
    /* A later change of status by the institution confirms the new status in the same version. */
    assert_int_equal(
        twin_ops_update(&commit, n->admin, id, "set", set_fields, FIELDS("status", "delivered")),
        0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    assert_string_equal(confirmed_of(n->admin, id, buf), "delivered");
    /* Nothing to confirm: said so, nothing written. */
    git_oid before = head_of(n->admin);
    assert_error(twin_ops_confirm(&commit, n->admin, id), TWIN_EEXISTS,
                 "is confirmed as delivered already");
    git_oid after = head_of(n->admin);
    assert_true(git_oid_equal(&before, &after));
}

static void a_contribution_in_anothers_name_waits_for_its_confirmation(void **state)
{
    struct net *n = *state;
    struct money_ids m;
    char id[TWIN_ID_LEN + 1], other[TWIN_ID_LEN + 1], buf[16];
    git_oid commit;
    money_setup(n, &m);
    assert_int_equal(pledge(id, n->admin, &m, m.ra, NULL), 0);
    assert_string_equal(confirmed_of(n->admin, id, buf), "(none)");

    /* The admin may not confirm for the editor's institution: refused before any commit. */
    git_oid before = head_of(n->admin);
    assert_error(pledge(other, n->admin, &m, m.ra, "pledged"), TWIN_EDENIED,
                 "contribution.confirmed: only XE-EXAMPLE-RA, the contributing institution");
    assert_error(
        twin_ops_update(&commit, n->admin, id, "set", set_fields, FIELDS("confirmed", "pledged")),
        TWIN_EDENIED, "XE-EXAMPLE-MOF may not");
    assert_error(twin_ops_confirm(&commit, n->admin, id), TWIN_EDENIED,
                 "in the name of Revenue Authority (XE-EXAMPLE-RA)");
    git_oid after = head_of(n->admin);
    assert_true(git_oid_equal(&before, &after));

    /* The editor's institution confirms it, in a commit the predicate takes. */
    pull(n->editor, n->admin);
    assert_int_equal(twin_ops_confirm(&commit, n->editor, id), 0);
    assert_commit_valid(n->editor, &commit, "XE-EXAMPLE-RA");
    assert_string_equal(confirmed_of(n->editor, id, buf), "pledged");

    /* The admin marks it delivered: the confirmation stays at pledged until the editor's
     * institution confirms again. */
    pull(n->admin, n->editor);
    assert_int_equal(
        twin_ops_update(&commit, n->admin, id, "set", set_fields, FIELDS("status", "delivered")),
        0);
    assert_commit_valid(n->admin, &commit, "XE-EXAMPLE-MOF");
    assert_string_equal(confirmed_of(n->admin, id, buf), "pledged");
    pull(n->editor, n->admin);
    /* An edit of another field by the editor's institution confirms nothing it did not say. */
    assert_int_equal(twin_ops_update(&commit, n->editor, id, "set", set_fields,
                                     FIELDS("description", "Two tax auditors")),
                     0);
    assert_string_equal(confirmed_of(n->editor, id, buf), "pledged");
    assert_int_equal(twin_ops_confirm(&commit, n->editor, id), 0);
    assert_commit_valid(n->editor, &commit, "XE-EXAMPLE-RA");
    assert_string_equal(confirmed_of(n->editor, id, buf), "delivered");
}

static void confirm_refuses_what_cannot_be_confirmed(void **state)
{
    struct net *n = *state;
    struct money_ids m;
    char id[TWIN_ID_LEN + 1], note[TWIN_ID_LEN + 1];
    git_oid commit;
    money_setup(n, &m);
    add_ok(note, n->admin, "note", FIELDS("title", "Kick-off held"));
    git_oid before = head_of(n->admin);
    assert_error(twin_ops_confirm(&commit, n->admin, note), TWIN_EINVALID,
                 "is a note, not a contribution");
    assert_int_equal(pledge(id, n->admin, &m, m.anon, NULL), 0);
    before = head_of(n->admin);
    assert_error(twin_ops_confirm(&commit, n->admin, id), TWIN_EINVALID,
                 "Unregistered Office (institution");
    assert_error(twin_ops_confirm(&commit, n->admin, id), TWIN_EINVALID, "has no org_id");
    /* The institution's own explicit word must be its status. */
    char own[TWIN_ID_LEN + 1];
    assert_error(pledge(own, n->admin, &m, m.mof, "delivered"), TWIN_EDENIED,
                 "confirms the status the contribution has (pledged), not delivered");
    git_oid after = head_of(n->admin);
    assert_true(git_oid_equal(&before, &after));
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

#define NET_TEST(t) cmocka_unit_test_setup_teardown(t, setup_net, teardown_net)

int main(void)
{
    const struct CMUnitTest tests[] = {
        NET_TEST(add_writes_one_valid_commit_on_the_head_and_the_record_reads_back),
        NET_TEST(add_fills_in_defaults),
        NET_TEST(a_contribution_in_this_institutions_name_is_confirmed_as_written),
        NET_TEST(a_contribution_in_anothers_name_waits_for_its_confirmation),
        NET_TEST(confirm_refuses_what_cannot_be_confirmed),
        NET_TEST(add_refuses_an_invalid_record_and_leaves_the_head),
        NET_TEST(add_refuses_an_unknown_type),
        NET_TEST(add_refuses_a_reference_to_a_missing_record),
        NET_TEST(add_accepts_a_reference_to_an_earlier_record),
        NET_TEST(an_edit_function_error_is_passed_on),
        NET_TEST(update_changes_a_field_in_a_new_valid_commit),
        NET_TEST(update_of_a_missing_id_is_not_found),
        NET_TEST(update_of_a_malformed_id_is_invalid),
        NET_TEST(a_set_that_changes_nothing_is_refused_as_existing),
        NET_TEST(a_change_lost_in_the_canonical_form_is_no_change),
        NET_TEST(update_cannot_change_a_record_id),
        NET_TEST(an_update_is_validated_against_the_schema),
        NET_TEST(a_recorded_indicator_actual_cannot_be_edited),
        NET_TEST(withdraw_keeps_the_record_marked_withdrawn),
        NET_TEST(withdrawing_twice_is_refused_as_existing),
        NET_TEST(a_withdrawn_record_cannot_be_changed),
        NET_TEST(withdrawing_a_missing_record_is_not_found),
        NET_TEST(an_editor_can_add_change_and_withdraw_records),
        NET_TEST(an_editor_cannot_add_members),
        NET_TEST(an_observer_cannot_write),
        NET_TEST(a_node_outside_the_membership_is_told_how_to_be_added),
        NET_TEST(a_node_without_history_cannot_write_yet),
        NET_TEST(an_added_member_can_write_once_it_has_the_history),
        NET_TEST(adding_an_existing_member_is_refused),
        NET_TEST(members_are_read_at_the_head_or_at_a_commit),
        NET_TEST(an_admin_sets_any_members_fields_in_one_valid_commit),
        NET_TEST(a_member_corrects_its_own_name_and_org_type),
        NET_TEST(a_member_may_not_set_another_members_fields_nor_its_own_country_or_side),
        NET_TEST(member_set_names_a_bad_value_an_unknown_member_and_no_change),
        NET_TEST(adding_a_member_with_a_key_already_held_is_refused),
        NET_TEST(adding_a_member_checks_identity_and_role),
        NET_TEST(foreach_visits_every_record_of_a_type_or_of_all_types),
        NET_TEST(get_of_a_missing_record_is_not_found),
        NET_TEST(resolve_id_takes_a_whole_id_or_a_prefix_that_begins_one),
        NET_TEST(two_writers_on_one_node_lose_no_update),
        NET_TEST(a_sealed_record_reads_back_for_its_audience_only),
        NET_TEST(a_sealed_record_whose_wraps_cannot_be_kept_is_not_written),
        NET_TEST(share_widens_the_audience_and_only_that),
        NET_TEST(update_of_a_sealed_record_keeps_its_audience),
        NET_TEST(a_node_outside_the_audience_cannot_change_it),
        NET_TEST(erase_takes_only_sealed_records_and_leaves_no_key),
        NET_TEST(foreach_envelope_gives_the_envelopes_and_nothing_else),
        NET_TEST(upkeep_of_the_head_catches_up_a_wrap_store_that_lagged),
        NET_TEST(a_person_is_sealed_for_every_member),
        NET_TEST(key_rotation_keeps_every_sealed_record_readable),
        NET_TEST(a_version_set_aside_opens_and_keeping_it_takes_its_content),
        NET_TEST(dropping_versions_keeps_the_heads_content_and_the_list_only_shrinks),
        NET_TEST(keeping_a_version_shared_wider_widens_the_audience),
        NET_TEST(resolving_refuses_what_is_no_version_set_aside),
        NET_TEST(a_version_that_adds_a_conflicts_entry_is_refused),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
