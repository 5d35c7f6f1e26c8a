/* The validity predicate on real histories: commits made by the operations are valid, and
 * commits built directly (twin_store_write_commit + twin_store_advance) that break a rule are
 * refused with a reason naming the rule. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "twin/network.h"
#include "twin/error.h"
#include "twin/tree.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/sshsig.h"
#include "twin/store.h"
#include "twin/global.h"
#include "twin/validity.h"

/* ---- a network of four institutions --------------------------------------------------------- */

static const struct twin_identity admin_who = {"Ministry of Finance of Exampleland",
                                               "XE-EXAMPLE-MOF", "NL", "north", "10"};
static const struct twin_identity editor_who = {"Revenue Authority of Samplestan", "XE-EXAMPLE-RA",
                                                "TZ", "south", NULL};
static const struct twin_identity observer_who = {"Example Development Fund", "XE-EXAMPLE-FUND",
                                                  "SE", "donor", NULL};
static const struct twin_identity outsider_who = {"Unlisted Institute", "XE-EXAMPLE-OUT", "KE",
                                                  "south", NULL};

/* All commits below are made in the admin's repository; the other nodes lend their keys. */
struct net {
    char dir[128];
    twin_node *admin, *editor, *observer, *outsider;
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
        print_error("twin_node_init %s: %s\n", name, twin_error_last());
    return node;
}

static int setup_net(void **state)
{
    struct net *n = calloc(1, sizeof(*n));
    const char *tmp = getenv("TMPDIR");
    git_oid commit;
    if (!n)
        return -1;
    snprintf(n->dir, sizeof(n->dir), "%s/twin-validity-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(n->dir))
        return -1;
    if (!(n->admin = make_node(n, "north", &admin_who, "Example Tax Twinning", NULL)))
        return -1;
    const char *id = twin_node_network_id(n->admin);
    if (!(n->editor = make_node(n, "south", &editor_who, NULL, id)) ||
        !(n->observer = make_node(n, "fund", &observer_who, NULL, id)) ||
        !(n->outsider = make_node(n, "out", &outsider_who, NULL, id)))
        return -1;
    if (twin_ops_member_add(&commit, n->admin, &editor_who, "editor",
                            twin_node_key(n->editor)->pk) ||
        twin_ops_member_add(&commit, n->admin, &observer_who, "observer",
                            twin_node_key(n->observer)->pk)) {
        print_error("member add: %s\n", twin_error_last());
        return -1;
    }
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

static git_repository *repo_of(struct net *n)
{
    return twin_node_repo(n->admin);
}

static git_oid head_of(struct net *n)
{
    git_oid head;
    assert_int_equal(twin_node_head(&head, n->admin), 0);
    return head;
}

static struct twin_check check(struct net *n, const git_oid *commit)
{
    struct twin_check c;
    int rc = twin_validity_check_commit(&c, repo_of(n), commit, NULL);
    if (rc)
        fail_msg(
            "twin_validity_check_commit returned %d, not 0 (message \"%s\", verdict %s \"%s\")", rc,
            twin_error_last(), c.valid ? "valid" : "invalid", c.reason);
    return c;
}

static void assert_valid_commit(struct net *n, const git_oid *commit, const char *org_id)
{
    struct twin_check c = check(n, commit);
    if (!c.valid)
        fail_msg("commit %s is not valid: %s", git_oid_tostr_s(commit), c.reason);
    assert_true(c.has_signer);
    assert_string_equal(c.org_id, org_id);
}

static void assert_refused(struct net *n, const git_oid *commit, const char *reason)
{
    struct twin_check c = check(n, commit);
    if (c.valid)
        fail_msg("commit %s was accepted; expected: %s", git_oid_tostr_s(commit), reason);
    if (!strstr(c.reason, reason))
        fail_msg("reason \"%s\" does not say \"%s\"", c.reason, reason);
}

/* ---- building commits directly -------------------------------------------------------------- */

struct edit {
    const char *path;
    const char *text; /* NULL: remove the file */
    git_filemode_t mode;
};

/* One commit on the admin's branch changing edits, signed with signer's key, the branch moved
 * by compare-and-swap exactly as twin does. */
static git_oid commit_edits(struct net *n, twin_node *signer, const struct edit *edits,
                            size_t count)
{
    git_repository *repo = repo_of(n);
    git_oid head = head_of(n), tree_id, commit_id;
    git_commit *parent = NULL;
    git_tree *base = NULL, *tree = NULL;
    git_tree_update updates[8];
    assert_true(count <= 8);
    assert_int_equal(git_commit_lookup(&parent, repo, &head), 0);
    assert_int_equal(git_commit_tree(&base, parent), 0);
    for (size_t i = 0; i < count; i++) {
        memset(&updates[i], 0, sizeof(updates[i]));
        updates[i].path = edits[i].path;
        if (!edits[i].text) {
            updates[i].action = GIT_TREE_UPDATE_REMOVE;
            continue;
        }
        updates[i].action = GIT_TREE_UPDATE_UPSERT;
        updates[i].filemode = edits[i].mode ? edits[i].mode : GIT_FILEMODE_BLOB;
        assert_int_equal(
            git_blob_create_from_buffer(&updates[i].id, repo, edits[i].text, strlen(edits[i].text)),
            0);
    }
    assert_int_equal(git_tree_create_updated(&tree_id, repo, base, count, updates), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &tree_id), 0);
    const git_commit *parents[] = {parent};
    if (twin_store_write_commit(&commit_id, repo, twin_node_key(signer), "Test Signer",
                                twin_node_org_id(signer), tree, parents, 1, "test change\n"))
        fail_msg("write commit: %s", twin_error_last());
    assert_int_equal(twin_store_advance(repo, &head, &commit_id, "test"), 0);
    git_tree_free(tree);
    git_tree_free(base);
    git_commit_free(parent);
    return commit_id;
}

static git_oid commit_one(struct net *n, twin_node *signer, const char *path, const char *text)
{
    struct edit e = {path, text, 0};
    return commit_edits(n, signer, &e, 1);
}

/* Reads a file of the admin's head as JSON. */
static json_t *read_head(struct net *n, const char *path)
{
    git_oid head = head_of(n);
    git_commit *c = NULL;
    git_tree *tree = NULL;
    char *text = NULL;
    size_t len;
    json_t *j = NULL;
    assert_int_equal(git_commit_lookup(&c, repo_of(n), &head), 0);
    assert_int_equal(git_commit_tree(&tree, c), 0);
    assert_int_equal(twin_tree_read(&text, &len, repo_of(n), tree, path), 0);
    assert_int_equal(twin_record_parse_canonical(&j, text, len), 0);
    free(text);
    git_tree_free(tree);
    git_commit_free(c);
    return j;
}

/* Canonical text of j; j is consumed. */
static char *canon(json_t *j)
{
    char *text = NULL;
    size_t len;
    assert_int_equal(twin_record_canonical(&text, &len, j), 0);
    json_decref(j);
    return text;
}

static git_oid commit_rec(struct net *n, twin_node *signer, const char *path, json_t *rec)
{
    char *text = canon(rec);
    git_oid commit = commit_one(n, signer, path, text);
    free(text);
    return commit;
}

static json_t *note_with_id(const char *id, const char *title)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "id", id, "type", "note", "kind", "note", "title",
                     title);
}

static void record_path(char *path, const char *type, const char *id)
{
    assert_int_equal(twin_record_path(path, 128, type, id), 0);
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

static void add_note(struct net *n, char id[static TWIN_ID_LEN + 1])
{
    git_oid commit;
    assert_int_equal(
        twin_ops_add(id, &commit, n->admin, "note", set_fields, FIELDS("title", "Meet monthly")),
        0);
}

/* ---- valid histories ------------------------------------------------------------------------ */

static void the_genesis_is_valid_and_signed_by_the_founder(void **state)
{
    struct net *n = *state;
    git_oid id = head_of(n);
    git_commit *c = NULL;
    /* Walk back to the root: genesis, then the two member commits of the setup. */
    for (;;) {
        assert_int_equal(git_commit_lookup(&c, repo_of(n), &id), 0);
        if (git_commit_parentcount(c) == 0)
            break;
        assert_valid_commit(n, &id, "XE-EXAMPLE-MOF");
        id = *git_commit_parent_id(c, 0);
        git_commit_free(c);
    }
    git_commit_free(c);
    struct twin_check g = check(n, &id);
    assert_true(g.valid);
    assert_string_equal(g.org_id, "XE-EXAMPLE-MOF");
    assert_int_equal(g.changes, 2);
    assert_false(g.is_merge);
    assert_memory_equal(g.signer, twin_node_key(n->admin)->pk, TWIN_PUBKEY_BYTES);
}

static void every_commit_made_by_the_operations_is_valid(void **state)
{
    struct net *n = *state;
    char part[TWIN_ID_LEN + 1], act[TWIN_ID_LEN + 1];
    git_oid commit;
    assert_int_equal(twin_ops_add(part, &commit, n->admin, "partnership", set_fields,
                                  FIELDS("title", "Tax twinning", "partnership_type", "twinning",
                                         "sectors", "[{\"code\":\"15111\"}]")),
                     0);
    assert_valid_commit(n, &commit, "XE-EXAMPLE-MOF");
    assert_int_equal(twin_ops_add(act, &commit, n->admin, "activity", set_fields,
                                  FIELDS("partnership", part, "kind", "study_tour", "title",
                                         "Study tour to Dodoma")),
                     0);
    assert_valid_commit(n, &commit, "XE-EXAMPLE-MOF");
    assert_int_equal(twin_ops_update(&commit, n->admin, act, "set", set_fields,
                                     FIELDS("dates.planned_start", "2026-03-02")),
                     0);
    assert_valid_commit(n, &commit, "XE-EXAMPLE-MOF");
    assert_int_equal(twin_ops_withdraw(&commit, n->admin, act), 0);
    assert_valid_commit(n, &commit, "XE-EXAMPLE-MOF");
    assert_int_equal(twin_ops_member_add(&commit, n->admin, &outsider_who, "observer",
                                         twin_node_key(n->outsider)->pk),
                     0);
    assert_valid_commit(n, &commit, "XE-EXAMPLE-MOF");
    struct twin_check c = check(n, &commit);
    assert_int_equal(c.changes, 1);
}

static void an_editor_signed_record_commit_is_valid(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    twin_record_new_id(id);
    record_path(path, "note", id);
    git_oid commit = commit_rec(n, n->editor, path, note_with_id(id, "Counterpart named"));
    assert_valid_commit(n, &commit, "XE-EXAMPLE-RA");
}

static void an_admin_may_change_the_network_policy(void **state)
{
    struct net *n = *state;
    json_t *net = read_head(n, TWIN_NETWORK_PATH);
    json_object_set_new(json_object_get(net, "policy"), "admin_threshold", json_integer(2));
    git_oid commit = commit_rec(n, n->admin, TWIN_NETWORK_PATH, net);
    assert_valid_commit(n, &commit, "XE-EXAMPLE-MOF");
}

static void verdicts_are_the_same_with_a_cache(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    twin_check_cache *cache = NULL;
    struct twin_check c;
    add_note(n, id);
    git_oid good = head_of(n);
    twin_record_new_id(id);
    record_path(path, "note", id);
    git_oid bad = commit_rec(n, n->observer, path, note_with_id(id, "Visit"));
    assert_int_equal(twin_validity_cache_new(&cache), 0);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(twin_validity_check_commit(&c, repo_of(n), &good, cache), 0);
        assert_true(c.valid);
        assert_int_equal(twin_validity_check_commit(&c, repo_of(n), &bad, cache), 0);
        assert_false(c.valid);
    }
    twin_validity_cache_free(cache);
}

/* ---- records -------------------------------------------------------------------------------- */

static void deleting_a_record_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], reason[200];
    add_note(n, id);
    record_path(path, "note", id);
    git_oid commit = commit_one(n, n->admin, path, NULL);
    snprintf(reason, sizeof(reason), "%s: records are never deleted (withdraw them instead)", path);
    assert_refused(n, &commit, reason);
}

static void a_file_outside_records_members_and_network_is_refused(void **state)
{
    struct net *n = *state;
    git_oid commit = commit_one(n, n->admin, "notes.txt", "hello\n");
    assert_refused(n, &commit, "notes.txt: not a place twin keeps anything");
}

static void a_file_under_records_that_is_not_a_record_path_is_refused(void **state)
{
    struct net *n = *state;
    git_oid commit = commit_one(n, n->admin, "records/README", "hello\n");
    assert_refused(n, &commit, "'records/README' is not a record path");
}

static void a_record_at_the_path_of_another_id_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], other[TWIN_ID_LEN + 1], path[128], reason[200];
    twin_record_new_id(id);
    twin_record_new_id(other);
    record_path(path, "note", other);
    git_oid commit = commit_rec(n, n->admin, path, note_with_id(id, "Meet"));
    snprintf(reason, sizeof(reason), "%s: the record's type and id do not match its path", path);
    assert_refused(n, &commit, reason);
}

static void a_record_under_another_type_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    twin_record_new_id(id);
    record_path(path, "document", id);
    git_oid commit = commit_rec(n, n->admin, path, note_with_id(id, "Meet"));
    assert_refused(n, &commit, "the record's type and id do not match its path");
}

static void a_record_in_the_wrong_bucket_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    twin_record_new_id(id);
    snprintf(path, sizeof(path), "records/note/%s/%s.json", id[35] == '0' ? "11" : "00", id);
    git_oid commit = commit_rec(n, n->admin, path, note_with_id(id, "Meet"));
    assert_refused(n, &commit, "is not a record path (records/<type>/<xx>/<id>.json)");
}

static void non_canonical_record_bytes_are_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], reason[200];
    twin_record_new_id(id);
    record_path(path, "note", id);
    json_t *rec = note_with_id(id, "Meet");
    char *compact = json_dumps(rec, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(rec);
    git_oid commit = commit_one(n, n->admin, path, compact);
    free(compact);
    snprintf(reason, sizeof(reason), "%s: record is not in canonical form", path);
    assert_refused(n, &commit, reason);
}

static void a_record_breaking_the_schema_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    twin_record_new_id(id);
    record_path(path, "note", id);
    json_t *rec = note_with_id(id, "Meet");
    json_object_del(rec, "title");
    git_oid commit = commit_rec(n, n->admin, path, rec);
    assert_refused(n, &commit, "note.title: required");
}

static void a_record_referring_to_a_missing_record_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], missing[TWIN_ID_LEN + 1], path[128], reason[128];
    twin_record_new_id(id);
    twin_record_new_id(missing);
    record_path(path, "activity", id);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "type", "activity",
                            "partnership", missing, "kind", "workshop", "title", "Kick-off");
    git_oid commit = commit_rec(n, n->admin, path, rec);
    snprintf(reason, sizeof(reason), "activity.partnership: no partnership %s", missing);
    assert_refused(n, &commit, reason);
}

static void a_record_and_the_record_it_refers_to_may_arrive_together(void **state)
{
    struct net *n = *state;
    char part[TWIN_ID_LEN + 1], act[TWIN_ID_LEN + 1], ppath[128], apath[128];
    twin_record_new_id(part);
    twin_record_new_id(act);
    record_path(ppath, "partnership", part);
    record_path(apath, "activity", act);
    char *p = canon(json_pack("{s:s, s:s, s:s, s:s}", "id", part, "type", "partnership", "title",
                              "Tax twinning", "partnership_type", "twinning"));
    char *a = canon(json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", act, "type", "activity",
                              "partnership", part, "kind", "workshop", "title", "Kick-off"));
    struct edit edits[] = {{apath, a, 0}, {ppath, p, 0}};
    git_oid commit = commit_edits(n, n->admin, edits, 2);
    free(p);
    free(a);
    assert_valid_commit(n, &commit, "XE-EXAMPLE-MOF");
    assert_int_equal(check(n, &commit).changes, 2);
}

static void changing_a_withdrawn_record_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    git_oid commit;
    add_note(n, id);
    assert_int_equal(twin_ops_withdraw(&commit, n->admin, id), 0);
    record_path(path, "note", id);
    json_t *rec = note_with_id(id, "Meet weekly");
    json_object_set_new(rec, "withdrawn", json_true());
    commit = commit_rec(n, n->admin, path, rec);
    assert_refused(n, &commit, "note.withdrawn: the record is withdrawn and can no longer change");
}

static void an_edit_that_adds_a_conflict_entry_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    twin_record_new_id(id);
    record_path(path, "note", id);
    json_t *rec = note_with_id(id, "Visit");
    json_object_set_new(rec, "conflicts",
                        json_pack("[{s:s, s:s, s:s}]", "field", "title", "value", "Forged", "from",
                                  "0123456789abcdef0123456789abcdef01234567"));
    git_oid commit = commit_rec(n, n->editor, path, rec);
    assert_refused(n, &commit,
                   "note.conflicts[0]: only a merge sets a conflict aside; an edit may remove "
                   "conflict entries (twin resolve), never add or change one");
}

static void editing_a_recorded_indicator_actual_is_refused(void **state)
{
    struct net *n = *state;
    char part[TWIN_ID_LEN + 1], result[TWIN_ID_LEN + 1], id[TWIN_ID_LEN + 1], path[128];
    git_oid commit;
    assert_int_equal(twin_ops_add(part, &commit, n->admin, "partnership", set_fields,
                                  FIELDS("title", "T", "partnership_type", "twinning")),
                     0);
    assert_int_equal(twin_ops_add(result, &commit, n->admin, "result", set_fields,
                                  FIELDS("partnership", part, "result_type", "2", "title", "R")),
                     0);
    assert_int_equal(
        twin_ops_add(id, &commit, n->admin, "indicator", set_fields,
                     FIELDS("result", result, "title", "Audits", "measure", "1", "periods",
                            "[{\"start\":\"2026-01-01\",\"end\":\"2026-12-31\","
                            "\"actuals\":[{\"value\":3}]}]")),
        0);
    record_path(path, "indicator", id);
    json_t *rec = read_head(n, path);
    json_t *actual = json_array_get(
        json_object_get(json_array_get(json_object_get(rec, "periods"), 0), "actuals"), 0);
    json_object_set_new(actual, "value", json_integer(30));
    commit = commit_rec(n, n->admin, path, rec);
    assert_refused(n, &commit, "indicator.periods[0].actuals: recorded actual 0 cannot be edited");
}

static void a_record_file_that_is_executable_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    twin_record_new_id(id);
    record_path(path, "note", id);
    char *text = canon(note_with_id(id, "Meet"));
    struct edit e = {path, text, GIT_FILEMODE_BLOB_EXECUTABLE};
    git_oid commit = commit_edits(n, n->admin, &e, 1);
    free(text);
    assert_refused(n, &commit,
                   "is not in git's canonical form: entry 1 has mode 100755 (only 40000 for a "
                   "directory and 100644 for a file are allowed)");
}

static void directories_nested_too_deep_are_refused(void **state)
{
    struct net *n = *state;
    git_oid commit = commit_one(n, n->admin, "records/note/0d/a/b/c.json", "{}\n");
    assert_refused(n, &commit, "directories nested too deep");
}

/* ---- membership ----------------------------------------------------------------------------- */

static void removing_a_member_is_refused(void **state)
{
    struct net *n = *state;
    git_oid commit = commit_one(n, n->admin, "members/XE-EXAMPLE-RA.json", NULL);
    assert_refused(n, &commit,
                   "members/XE-EXAMPLE-RA.json: members are never deleted from the registry");
}

static void an_editor_may_not_change_the_membership(void **state)
{
    struct net *n = *state;
    json_t *m = read_head(n, "members/XE-EXAMPLE-RA.json");
    json_object_set_new(m, "role", json_string("admin"));
    git_oid commit = commit_rec(n, n->editor, "members/XE-EXAMPLE-RA.json", m);
    assert_refused(n, &commit,
                   "XE-EXAMPLE-RA (editor) changed the membership without being an admin");
}

static void a_member_file_under_another_name_is_refused(void **state)
{
    struct net *n = *state;
    json_t *m =
        twin_membership_member_json(&outsider_who, "editor", twin_node_key(n->outsider)->pk);
    git_oid commit = commit_rec(n, n->admin, "members/XE-EXAMPLE-OTHER.json", m);
    assert_refused(n, &commit,
                   "member XE-EXAMPLE-OUT is stored under the name of XE-EXAMPLE-OTHER");
}

static void a_member_sharing_another_members_key_is_refused(void **state)
{
    struct net *n = *state;
    json_t *m = twin_membership_member_json(&outsider_who, "editor", twin_node_key(n->editor)->pk);
    git_oid commit = commit_rec(n, n->admin, "members/XE-EXAMPLE-OUT.json", m);
    assert_refused(n, &commit, "share a key");
}

static void demoting_the_last_admin_is_refused(void **state)
{
    struct net *n = *state;
    json_t *m = read_head(n, "members/XE-EXAMPLE-MOF.json");
    json_object_set_new(m, "role", json_string("editor"));
    git_oid commit = commit_rec(n, n->admin, "members/XE-EXAMPLE-MOF.json", m);
    assert_refused(n, &commit, "membership after the change has no admin with an active key");
}

static void a_revoked_key_can_no_longer_sign(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    json_t *m = read_head(n, "members/XE-EXAMPLE-RA.json");
    json_object_set_new(json_array_get(json_object_get(m, "keys"), 0), "state",
                        json_string("revoked"));
    git_oid revoke = commit_rec(n, n->admin, "members/XE-EXAMPLE-RA.json", m);
    assert_valid_commit(n, &revoke, "XE-EXAMPLE-MOF");
    twin_record_new_id(id);
    record_path(path, "note", id);
    git_oid commit = commit_rec(n, n->editor, path, note_with_id(id, "After revocation"));
    assert_refused(n, &commit, "signed by XE-EXAMPLE-RA's revoked key");
}

/* ---- the network descriptor ----------------------------------------------------------------- */

static void a_tampered_network_id_is_refused(void **state)
{
    struct net *n = *state;
    json_t *net = read_head(n, TWIN_NETWORK_PATH);
    json_object_set_new(net, "id", json_string("0123456789abcdef0123456789abcdef"));
    git_oid commit = commit_rec(n, n->admin, TWIN_NETWORK_PATH, net);
    assert_refused(n, &commit,
                   "network.id: 0123456789abcdef0123456789abcdef is not derived from the founding "
                   "fields");
}

/* A new name with an id correctly derived from it: a different network, not a policy change. */
static void a_network_refounded_under_a_new_id_is_refused(void **state)
{
    struct net *n = *state;
    json_t *net = read_head(n, TWIN_NETWORK_PATH);
    crypto_hash_sha256_state st;
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[TWIN_NETWORK_ID_LEN + 1];
    json_object_set_new(net, "name", json_string("Another Network"));
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)"twin network id v1\n", 19);
    const char *fields[] = {"name", "created", "nonce", "founder_key"};
    for (int i = 0; i < 4; i++) {
        const char *v = json_string_value(json_object_get(net, fields[i]));
        crypto_hash_sha256_update(&st, (const unsigned char *)v, strlen(v));
        crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    }
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(hex, sizeof(hex), h, TWIN_NETWORK_ID_LEN / 2);
    json_object_set_new(net, "id", json_string(hex));
    assert_int_equal(twin_membership_check_descriptor(net), 0);
    git_oid commit = commit_rec(n, n->admin, TWIN_NETWORK_PATH, net);
    assert_refused(n, &commit, "network.id can never change");
}

static void an_editor_may_not_change_the_network_policy(void **state)
{
    struct net *n = *state;
    json_t *net = read_head(n, TWIN_NETWORK_PATH);
    json_object_set_new(json_object_get(net, "policy"), "admin_threshold", json_integer(2));
    git_oid commit = commit_rec(n, n->editor, TWIN_NETWORK_PATH, net);
    assert_refused(n, &commit,
                   "XE-EXAMPLE-RA (editor) changed the network policy without being an admin");
}

static void removing_the_network_descriptor_is_refused(void **state)
{
    struct net *n = *state;
    git_oid commit = commit_one(n, n->admin, TWIN_NETWORK_PATH, NULL);
    assert_refused(n, &commit, "network.json was removed");
}

/* ---- signers -------------------------------------------------------------------------------- */

static void an_observer_signed_commit_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    twin_record_new_id(id);
    record_path(path, "note", id);
    git_oid commit = commit_rec(n, n->observer, path, note_with_id(id, "Visit"));
    assert_refused(n, &commit, "XE-EXAMPLE-FUND is an observer and may not write");
    assert_string_equal(check(n, &commit).org_id, "XE-EXAMPLE-FUND");
}

static void a_commit_signed_outside_the_membership_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], line[TWIN_OPENSSH_PUB_MAX], reason[200];
    twin_record_new_id(id);
    record_path(path, "note", id);
    git_oid commit = commit_rec(n, n->outsider, path, note_with_id(id, "Hello"));
    twin_key_format_openssh(line, twin_node_key(n->outsider)->pk);
    snprintf(reason, sizeof(reason), "signed by a key outside the membership (%s)", line);
    assert_refused(n, &commit, reason);
    struct twin_check c = check(n, &commit);
    assert_true(c.has_signer);
    assert_string_equal(c.org_id, "");
}

static void an_unsigned_commit_is_refused(void **state)
{
    struct net *n = *state;
    git_oid head = head_of(n), commit;
    git_commit *parent = NULL;
    git_tree *tree = NULL;
    git_signature *sig = NULL;
    assert_int_equal(git_commit_lookup(&parent, repo_of(n), &head), 0);
    assert_int_equal(git_commit_tree(&tree, parent), 0);
    assert_int_equal(git_signature_now(&sig, "Anybody", "XE-EXAMPLE-MOF"), 0);
    const git_commit *parents[] = {parent};
    assert_int_equal(git_commit_create(&commit, repo_of(n), NULL, sig, sig, NULL, "unsigned\n",
                                       tree, 1, parents),
                     0);
    struct twin_check c = check(n, &commit);
    assert_false(c.valid);
    assert_false(c.has_signer);
    assert_string_equal(c.reason, "unsigned commit");
    git_signature_free(sig);
    git_tree_free(tree);
    git_commit_free(parent);
}

static void a_commit_altered_after_signing_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1];
    git_odb *odb = NULL;
    git_odb_object *obj = NULL;
    git_oid forged;
    add_note(n, id);
    git_oid head = head_of(n);
    assert_int_equal(git_repository_odb(&odb, repo_of(n)), 0);
    assert_int_equal(git_odb_read(&obj, odb, &head), 0);
    size_t len = git_odb_object_size(obj);
    char *raw = malloc(len);
    assert_non_null(raw);
    memcpy(raw, git_odb_object_data(obj), len);
    char *title = strstr(raw, "Meet monthly");
    assert_non_null(title);
    title[5] = 'w'; /* "Meet wonthly": the signed payload no longer matches */
    assert_int_equal(git_odb_write(&forged, odb, raw, len, GIT_OBJECT_COMMIT), 0);
    assert_refused(n, &forged, "bad signature");
    free(raw);
    git_odb_object_free(obj);
    git_odb_free(odb);
}

/* A commit written outside twin from payload (a commit without its signature), signed with the
 * admin's key, the signature placed as a gpgsig header right after the first line that starts
 * with after (the end of the header when NULL). */
static git_oid write_signed(struct net *n, const char *payload, const char *after)
{
    char *sig = NULL, raw[4096];
    size_t sig_len = 0;
    git_odb *odb = NULL;
    git_oid id;
    assert_int_equal(
        twin_sshsig_sign(&sig, &sig_len, twin_node_key(n->admin), "git", payload, strlen(payload)),
        0);
    const char *at = after ? strstr(payload, after) : strstr(payload, "\n\n");
    assert_non_null(at);
    at = strchr(at, '\n') + 1;
    size_t len = (size_t)(at - payload);
    memcpy(raw, payload, len);
    len += (size_t)snprintf(raw + len, sizeof(raw) - len, "gpgsig ");
    for (const char *p = sig; *p; p++) { /* each line after the first indented */
        raw[len++] = *p;
        if (*p == '\n')
            raw[len++] = ' ';
    }
    len += (size_t)snprintf(raw + len, sizeof(raw) - len, "\n%s", at);
    assert_true(len < sizeof(raw));
    assert_int_equal(git_repository_odb(&odb, repo_of(n)), 0);
    assert_int_equal(git_odb_write(&id, odb, raw, len, GIT_OBJECT_COMMIT), 0);
    git_odb_free(odb);
    free(sig);
    return id;
}

/* Commits written outside twin, validly signed, whose headers libgit2 and git would not read as
 * twin's check does: the check reads the header itself and refuses them rather than guess. */
static void a_signed_commit_with_a_malformed_header_is_refused(void **state)
{
    struct net *n = *state;
    git_oid head = head_of(n), other;
    git_commit *parent = NULL;
    char payload[1024];
    assert_int_equal(git_commit_lookup(&parent, repo_of(n), &head), 0);
    assert_true(git_commit_parentcount(parent) > 0);
    char tree_hex[GIT_OID_HEXSZ + 1], parent_hex[GIT_OID_HEXSZ + 1], other_hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(tree_hex, sizeof(tree_hex), git_commit_tree_id(parent));
    git_oid_tostr(parent_hex, sizeof(parent_hex), &head);
    other = *git_commit_parent_id(parent, 0);
    git_oid_tostr(other_hex, sizeof(other_hex), &other);
    const char *who = "Test Signer <XE-EXAMPLE-MOF>";
    const char *reason = "malformed commit: its header is not in git's form";

    /* The committer line without a time. */
    snprintf(payload, sizeof(payload),
             "tree %s\nparent %s\nauthor %s 1767225600 +0000\ncommitter %s\n\nno time\n", tree_hex,
             parent_hex, who, who);
    git_oid forged = write_signed(n, payload, NULL);
    assert_refused(n, &forged, reason);

    /* No author. */
    snprintf(payload, sizeof(payload),
             "tree %s\nparent %s\ncommitter %s 1767225600 +0000\n\nno author\n", tree_hex,
             parent_hex, who);
    forged = write_signed(n, payload, NULL);
    assert_refused(n, &forged, reason);

    /* A merge whose signature sits between its two parents: read from the top, it would seem a
     * commit of one parent. */
    snprintf(payload, sizeof(payload),
             "tree %s\nparent %s\nparent %s\nauthor %s 1767225600 +0000\ncommitter %s "
             "1767225600 +0000\n\nmerge\n",
             tree_hex, parent_hex, other_hex, who, who);
    forged = write_signed(n, payload, "parent ");
    assert_refused(n, &forged, reason);
    git_commit_free(parent);
}

static void a_commit_that_changes_nothing_is_refused(void **state)
{
    struct net *n = *state;
    git_oid commit = commit_edits(n, n->admin, NULL, 0);
    assert_refused(n, &commit, "the commit changes nothing");
}

/* A merge may only join its parents; one that also carries a change of its own is refused. */
static void a_merge_commit_that_adds_a_change_of_its_own_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], extra[TWIN_ID_LEN + 1], path[128];
    add_note(n, id);
    git_oid head = head_of(n), tree_id, commit;
    git_commit *a = NULL, *b = NULL;
    git_tree *base = NULL, *tree = NULL;
    git_tree_update up = {.action = GIT_TREE_UPDATE_UPSERT, .filemode = GIT_FILEMODE_BLOB};
    assert_int_equal(git_commit_lookup(&a, repo_of(n), &head), 0);
    assert_int_equal(git_commit_parent(&b, a, 0), 0);
    assert_int_equal(git_commit_tree(&base, a), 0);
    twin_record_new_id(extra);
    record_path(path, "note", extra);
    char *text = canon(note_with_id(extra, "Slipped into the merge"));
    assert_int_equal(git_blob_create_from_buffer(&up.id, repo_of(n), text, strlen(text)), 0);
    free(text);
    up.path = path;
    assert_int_equal(git_tree_create_updated(&tree_id, repo_of(n), base, 1, &up), 0);
    assert_int_equal(git_tree_lookup(&tree, repo_of(n), &tree_id), 0);
    const git_commit *parents[] = {a, b};
    assert_int_equal(twin_store_write_commit(&commit, repo_of(n), twin_node_key(n->admin), "M",
                                             "XE-EXAMPLE-MOF", tree, parents, 2, "merge\n"),
                     0);
    struct twin_check c = check(n, &commit);
    assert_false(c.valid);
    assert_true(c.is_merge);
    assert_non_null(strstr(c.reason, "merge"));
    git_tree_free(tree);
    git_tree_free(base);
    git_commit_free(b);
    git_commit_free(a);
}

static void a_second_genesis_signed_by_another_key_is_refused(void **state)
{
    struct net *n = *state;
    git_oid id = head_of(n), commit;
    git_commit *c = NULL;
    git_tree *tree = NULL;
    for (;;) {
        assert_int_equal(git_commit_lookup(&c, repo_of(n), &id), 0);
        if (git_commit_parentcount(c) == 0)
            break;
        id = *git_commit_parent_id(c, 0);
        git_commit_free(c);
    }
    assert_int_equal(git_commit_tree(&tree, c), 0);
    assert_int_equal(twin_store_write_commit(&commit, repo_of(n), twin_node_key(n->editor), "E",
                                             "XE-EXAMPLE-RA", tree, NULL, 0, "genesis\n"),
                     0);
    assert_refused(n, &commit, "genesis: not signed by the founder's key");
    git_tree_free(tree);
    git_commit_free(c);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

#define NET_TEST(t) cmocka_unit_test_setup_teardown(t, setup_net, teardown_net)

int main(void)
{
    const struct CMUnitTest tests[] = {
        NET_TEST(the_genesis_is_valid_and_signed_by_the_founder),
        NET_TEST(every_commit_made_by_the_operations_is_valid),
        NET_TEST(an_editor_signed_record_commit_is_valid),
        NET_TEST(an_admin_may_change_the_network_policy),
        NET_TEST(verdicts_are_the_same_with_a_cache),
        NET_TEST(deleting_a_record_is_refused),
        NET_TEST(a_file_outside_records_members_and_network_is_refused),
        NET_TEST(a_file_under_records_that_is_not_a_record_path_is_refused),
        NET_TEST(a_record_at_the_path_of_another_id_is_refused),
        NET_TEST(a_record_under_another_type_is_refused),
        NET_TEST(a_record_in_the_wrong_bucket_is_refused),
        NET_TEST(non_canonical_record_bytes_are_refused),
        NET_TEST(a_record_breaking_the_schema_is_refused),
        NET_TEST(a_record_referring_to_a_missing_record_is_refused),
        NET_TEST(a_record_and_the_record_it_refers_to_may_arrive_together),
        NET_TEST(changing_a_withdrawn_record_is_refused),
        NET_TEST(editing_a_recorded_indicator_actual_is_refused),
        NET_TEST(an_edit_that_adds_a_conflict_entry_is_refused),
        NET_TEST(a_record_file_that_is_executable_is_refused),
        NET_TEST(directories_nested_too_deep_are_refused),
        NET_TEST(removing_a_member_is_refused),
        NET_TEST(an_editor_may_not_change_the_membership),
        NET_TEST(a_member_file_under_another_name_is_refused),
        NET_TEST(a_member_sharing_another_members_key_is_refused),
        NET_TEST(demoting_the_last_admin_is_refused),
        NET_TEST(a_revoked_key_can_no_longer_sign),
        NET_TEST(a_tampered_network_id_is_refused),
        NET_TEST(a_network_refounded_under_a_new_id_is_refused),
        NET_TEST(an_editor_may_not_change_the_network_policy),
        NET_TEST(removing_the_network_descriptor_is_refused),
        NET_TEST(an_observer_signed_commit_is_refused),
        NET_TEST(a_commit_signed_outside_the_membership_is_refused),
        NET_TEST(an_unsigned_commit_is_refused),
        NET_TEST(a_commit_altered_after_signing_is_refused),
        NET_TEST(a_signed_commit_with_a_malformed_header_is_refused),
        NET_TEST(a_commit_that_changes_nothing_is_refused),
        NET_TEST(a_merge_commit_that_adds_a_change_of_its_own_is_refused),
        NET_TEST(a_second_genesis_signed_by_another_key_is_refused),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
