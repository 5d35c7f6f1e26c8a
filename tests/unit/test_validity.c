/* The validity predicate on real histories: commits made by the operations are valid, and
 * commits built directly (twin_store_write_commit + twin_store_advance) that break a rule are
 * refused with a reason naming the rule; envelopes of sealed records crafted as a hostile member
 * would (proto/SEALED.md 7) are judged without being opened. */
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

#include "twin/attachment.h"
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

static void an_editor_may_not_change_another_members_fields(void **state)
{
    struct net *n = *state;
    json_t *m = read_head(n, "members/XE-EXAMPLE-MOF.json");
    json_object_set_new(m, "name", json_string("Ministry of Nothing"));
    git_oid commit = commit_rec(n, n->editor, "members/XE-EXAMPLE-MOF.json", m);
    assert_refused(n, &commit,
                   "XE-EXAMPLE-RA (editor) changed the membership without being an admin: "
                   "members/XE-EXAMPLE-MOF.json is not its own (a member that is not an admin may "
                   "change only its own name and org type, and rotate its own key)");
}

static void an_editor_may_not_change_its_own_country_or_side(void **state)
{
    struct net *n = *state;
    json_t *m = read_head(n, "members/XE-EXAMPLE-RA.json");
    json_object_set_new(m, "country", json_string("KE"));
    git_oid commit = commit_rec(n, n->editor, "members/XE-EXAMPLE-RA.json", m);
    assert_refused(n, &commit,
                   "XE-EXAMPLE-RA (editor) changed the membership without being an admin: country "
                   "changed: a member that is not an admin may change only its own name and org "
                   "type, and rotate its own key");
    m = read_head(n, "members/XE-EXAMPLE-RA.json");
    json_object_set_new(m, "side", json_string("donor"));
    commit = commit_rec(n, n->editor, "members/XE-EXAMPLE-RA.json", m);
    assert_refused(n, &commit, "side changed: a member that is not an admin");
}

static void a_member_may_correct_its_own_name_and_org_type(void **state)
{
    struct net *n = *state;
    json_t *m = read_head(n, "members/XE-EXAMPLE-RA.json");
    json_object_set_new(m, "name", json_string("Revenue Authority of Samplestan (RAS)"));
    json_object_set_new(m, "org_type", json_string("10"));
    git_oid commit = commit_rec(n, n->editor, "members/XE-EXAMPLE-RA.json", m);
    assert_valid_commit(n, &commit, "XE-EXAMPLE-RA");
    /* An observer too: its member file is the one thing it writes. */
    m = read_head(n, "members/XE-EXAMPLE-FUND.json");
    json_object_set_new(m, "name", json_string("Example Development Fund Foundation"));
    commit = commit_rec(n, n->observer, "members/XE-EXAMPLE-FUND.json", m);
    assert_valid_commit(n, &commit, "XE-EXAMPLE-FUND");
}

static void an_admin_may_change_any_members_fields(void **state)
{
    struct net *n = *state;
    json_t *m = read_head(n, "members/XE-EXAMPLE-RA.json");
    json_object_set_new(m, "country", json_string("KE"));
    json_object_set_new(m, "side", json_string("broker"));
    json_object_set_new(m, "org_type", json_string("21"));
    git_oid commit = commit_rec(n, n->admin, "members/XE-EXAMPLE-RA.json", m);
    assert_valid_commit(n, &commit, "XE-EXAMPLE-MOF");
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

/* ---- sealed records (proto/SEALED.md 1 and 7): envelopes a hostile member writes by hand ------
 */

#define AUD(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOBODY   ((const char *const[]){NULL})

/* pad(n) of SEALED.md 2 (Padmé), written from the text of the specification. */
static size_t padme(size_t n)
{
    if (n <= 256)
        return 256;
    unsigned e = 0, s = 1;
    for (size_t v = n; v > 1; v >>= 1)
        e++; /* floor(log2(n)) */
    for (unsigned v = e; v > 1; v >>= 1)
        s++; /* floor(log2(e)) + 1 */
    size_t m = ((size_t)1 << (e - s)) - 1;
    return (n + m) & ~m;
}

#define CT_MIN (256 + 16) /* the smallest ciphertext a writer makes: pad(n) + the tag */

/* Base64 (standard, padded) of n random bytes, as a JSON string. */
static json_t *b64_random(size_t n)
{
    size_t el = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    unsigned char *bytes = malloc(n);
    char *text = malloc(el);
    assert_non_null(bytes);
    assert_non_null(text);
    randombytes_buf(bytes, n);
    sodium_bin2base64(text, el, bytes, n, sodium_base64_VARIANT_ORIGINAL);
    json_t *s = json_string(text);
    free(bytes);
    free(text);
    return s;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* count random digests of size bytes each, sorted bytewise as the envelope lists them. */
static json_t *digests(size_t count, size_t size)
{
    json_t **items = calloc(count ? count : 1, sizeof(*items));
    json_t *list = json_array();
    assert_non_null(items);
    for (size_t i = 0; i < count; i++)
        items[i] = b64_random(size);
    qsort(items, count, sizeof(*items), by_text);
    for (size_t i = 0; i < count; i++)
        json_array_append_new(list, items[i]);
    free(items);
    return list;
}

static json_t *audience_list(const char *const *audience)
{
    json_t *list = json_array();
    for (const char *const *a = audience; *a; a++)
        json_array_append_new(list, json_string(*a));
    return list;
}

/* A well-formed envelope whose content is ct_len random bytes: nothing opens it, and the
 * predicate never tries. */
static json_t *envelope(const char *id, const char *type, const char *const *audience,
                        size_t ct_len)
{
    json_t *e =
        json_pack("{s:s, s:s, s:{s:i, s:o, s:o, s:o, s:o}}", "id", id, "type", type, "sealed", "v",
                  1, "audience", audience_list(audience), "nonce", b64_random(24), "ciphertext",
                  b64_random(ct_len), "wraps", digests(2, 32));
    assert_non_null(e);
    return e;
}

static json_t *sealed_of(json_t *env)
{
    return json_object_get(env, "sealed");
}

/* The erased envelope of env, as SEALED.md 6 describes it (written here, not by the code). */
static json_t *erased_of(const json_t *env, const char *reason)
{
    json_t *e = json_deep_copy(env);
    json_object_del(sealed_of(e), "nonce");
    json_object_del(sealed_of(e), "ciphertext");
    json_object_del(sealed_of(e), "wraps");
    json_object_del(e, "conflicts");
    json_object_set_new(e, "erased", json_pack("{s:s}", "reason", reason));
    return e;
}

/* The erased envelope of env that also changes one more thing: it widens the audience (to the
 * admin's institution), or it withdraws the record. */
enum erased_and_more { WIDER, WITHDRAWN };
static json_t *erased_and(const json_t *env, enum erased_and_more more)
{
    json_t *e = erased_of(env, "Asked by the person");
    if (more == WIDER)
        json_array_insert_new(json_object_get(sealed_of(e), "audience"), 0,
                              json_string("XE-EXAMPLE-MOF"));
    else
        json_object_set_new(e, "withdrawn", json_true());
    return e;
}

/* Moves the branch back to the refused commit's parent: what follows builds on valid history. */
static void undo(struct net *n, const git_oid *commit)
{
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, repo_of(n), commit), 0);
    assert_int_equal(twin_store_advance(repo_of(n), commit, git_commit_parent_id(c, 0), "undo"), 0);
    git_commit_free(c);
}

/* Commits rec at path, signed by signer, and checks the verdict: valid when reason is NULL,
 * else refused for reason (and then undone). rec is consumed. */
static git_oid judge(struct net *n, twin_node *signer, const char *path, json_t *rec,
                     const char *reason)
{
    git_oid c = commit_rec(n, signer, path, rec);
    if (!reason) {
        assert_valid_commit(n, &c, twin_node_org_id(signer));
        return c;
    }
    assert_refused(n, &c, reason);
    undo(n, &c);
    return c;
}

/* A new note id and its path. */
static void new_note(char id[static TWIN_ID_LEN + 1], char path[static 128])
{
    twin_record_new_id(id);
    record_path(path, "note", id);
}

static void a_well_formed_envelope_is_accepted_unopened(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    new_note(id, path);
    judge(n, n->editor, path, envelope(id, "note", AUD("XE-EXAMPLE-MOF", "XE-EXAMPLE-RA"), CT_MIN),
          NULL);
    /* A new version, wider, of another valid size: pad(5000) + 16. */
    judge(n, n->admin, path,
          envelope(id, "note", AUD("XE-EXAMPLE-FUND", "XE-EXAMPLE-MOF", "XE-EXAMPLE-RA"),
                   padme(5000) + 16),
          NULL);
    /* Any type, even one whose clear form would need fields it lacks: the content is not seen. */
    char pid[TWIN_ID_LEN + 1], ppath[128];
    twin_record_new_id(pid);
    record_path(ppath, "person", pid);
    judge(n, n->editor, ppath, envelope(pid, "person", AUD("XE-EXAMPLE-RA"), padme(1000) + 16),
          NULL);
}

static void an_envelope_with_an_unknown_member_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    new_note(id, path);
    json_t *e = envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN);
    json_object_set_new(e, "title", json_string("A title in the clear"));
    judge(n, n->admin, path, e, "an envelope holds no member 'title'");
    e = envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN);
    json_object_set_new(sealed_of(e), "key", b64_random(32));
    judge(n, n->admin, path, e, "sealed holds no member 'key'");
    e = envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN);
    json_object_set_new(sealed_of(e), "v", json_integer(2));
    judge(n, n->admin, path, e, "sealed.v must be 1");
}

static void an_envelope_audience_is_sorted_unique_and_of_members(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], reason[300];
    new_note(id, path);
    const char *order = "sealed.audience must be sorted, with no item twice";
    const char *size = "sealed.audience must be a list of 1 to 64 items";
    judge(n, n->editor, path, envelope(id, "note", AUD("XE-EXAMPLE-RA", "XE-EXAMPLE-MOF"), CT_MIN),
          order);
    judge(n, n->admin, path, envelope(id, "note", AUD("XE-EXAMPLE-MOF", "XE-EXAMPLE-MOF"), CT_MIN),
          order);
    judge(n, n->admin, path, envelope(id, "note", NOBODY, CT_MIN), size);
    /* 65 institutions, sorted: the writer's own last. */
    const char *many[67];
    char names[65][32];
    for (int i = 0; i < 64; i++) {
        snprintf(names[i], sizeof(names[i]), "XE-EXAMPLE-A%02d", i);
        many[i] = names[i];
    }
    many[64] = "XE-EXAMPLE-MOF";
    many[65] = NULL;
    judge(n, n->admin, path, envelope(id, "note", many, CT_MIN), size);
    snprintf(reason, sizeof(reason),
             "sealed note %s: its audience names XE-EXAMPLE-OUT, which is not a member", id);
    judge(n, n->admin, path, envelope(id, "note", AUD("XE-EXAMPLE-MOF", "XE-EXAMPLE-OUT"), CT_MIN),
          reason);
    /* A member that has left. */
    git_oid commit;
    assert_int_equal(twin_ops_member_remove(&commit, n->admin, "XE-EXAMPLE-FUND"), 0);
    snprintf(reason, sizeof(reason),
             "sealed note %s: its audience names XE-EXAMPLE-FUND, which has left the network", id);
    judge(n, n->admin, path, envelope(id, "note", AUD("XE-EXAMPLE-FUND", "XE-EXAMPLE-MOF"), CT_MIN),
          reason);
    /* The same audience without it is fine. */
    judge(n, n->admin, path, envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN), NULL);
}

static void the_writer_must_be_in_the_audience(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], reason[300];
    new_note(id, path);
    snprintf(reason, sizeof(reason),
             "XE-EXAMPLE-RA wrote sealed note %s for an audience it is not in", id);
    judge(n, n->editor, path, envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN), reason);
    /* Nor may it leave itself out of a later version that an admin's audience let it into. */
    judge(n, n->admin, path, envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN), NULL);
    judge(n, n->editor, path, envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN), reason);
}

static void nonce_ciphertext_and_wraps_have_their_sizes(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    new_note(id, path);
    const char *const *aud = AUD("XE-EXAMPLE-MOF");
    json_t *e = envelope(id, "note", aud, CT_MIN);
    json_object_set_new(sealed_of(e), "nonce", b64_random(23));
    judge(n, n->admin, path, e, "sealed.nonce must be base64 of 24 bytes");
    e = envelope(id, "note", aud, CT_MIN);
    json_object_set_new(sealed_of(e), "nonce", b64_random(25));
    judge(n, n->admin, path, e, "sealed.nonce must be base64 of 24 bytes");

    /* Lengths that are not pad(n) + 16: pad(300) is 304, and pad() never makes 257. */
    const size_t bad[] = {CT_MIN - 1, CT_MIN + 1, 300 + 16, 16, padme(300) + 15};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        judge(n, n->admin, path, envelope(id, "note", aud, bad[i]),
              "sealed.ciphertext must be base64 of a padded content and its tag");

    const char *count = "sealed.wraps must be a list of 1 to 256 digests";
    const char *order = "sealed.wraps must be sorted, with no item twice";
    e = envelope(id, "note", aud, CT_MIN);
    json_object_set_new(sealed_of(e), "wraps", json_array());
    judge(n, n->admin, path, e, count);
    e = envelope(id, "note", aud, CT_MIN);
    json_array_insert(json_object_get(sealed_of(e), "wraps"), 0,
                      json_array_get(json_object_get(sealed_of(e), "wraps"), 1));
    json_array_remove(json_object_get(sealed_of(e), "wraps"), 2); /* the two, swapped */
    judge(n, n->admin, path, e, order);
    e = envelope(id, "note", aud, CT_MIN);
    json_array_append(json_object_get(sealed_of(e), "wraps"),
                      json_array_get(json_object_get(sealed_of(e), "wraps"), 1));
    judge(n, n->admin, path, e, order);
    e = envelope(id, "note", aud, CT_MIN);
    json_object_set_new(sealed_of(e), "wraps", digests(257, 32));
    judge(n, n->admin, path, e, count);
    e = envelope(id, "note", aud, CT_MIN);
    json_object_set_new(sealed_of(e), "wraps", digests(1, 31));
    judge(n, n->admin, path, e, "sealed.wraps holds an item that is not base64 of 32 bytes");
    /* The bounds themselves: one digest, and 256. */
    e = envelope(id, "note", aud, CT_MIN);
    json_object_set_new(sealed_of(e), "wraps", digests(1, 32));
    judge(n, n->admin, path, e, NULL);
    e = envelope(id, "note", aud, CT_MIN);
    json_object_set_new(sealed_of(e), "wraps", digests(256, 32));
    judge(n, n->admin, path, e, NULL);
}

static void an_envelope_names_the_record_of_its_path(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], other[TWIN_ID_LEN + 1], path[128], reason[200];
    new_note(id, path);
    twin_record_new_id(other);
    snprintf(reason, sizeof(reason), "%s: the record's type and id do not match its path", path);
    judge(n, n->admin, path, envelope(other, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN), reason);
    judge(n, n->admin, path, envelope(id, "document", AUD("XE-EXAMPLE-MOF"), CT_MIN), reason);
}

static void a_record_never_changes_between_clear_and_sealed(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], reason[300];
    add_note(n, id);
    record_path(path, "note", id);
    snprintf(reason, sizeof(reason), "note %s was written in the clear and cannot be sealed", id);
    judge(n, n->admin, path, envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN), reason);
    new_note(id, path);
    judge(n, n->admin, path, envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN), NULL);
    snprintf(reason, sizeof(reason), "note %s is sealed and cannot be written in the clear", id);
    judge(n, n->admin, path, note_with_id(id, "Out in the open"), reason);
}

static void an_audience_never_narrows(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], reason[300];
    new_note(id, path);
    judge(n, n->editor, path, envelope(id, "note", AUD("XE-EXAMPLE-MOF", "XE-EXAMPLE-RA"), CT_MIN),
          NULL);
    snprintf(reason, sizeof(reason), "sealed note %s: an audience only widens", id);
    judge(n, n->editor, path, envelope(id, "note", AUD("XE-EXAMPLE-RA"), CT_MIN), reason);
    /* As many institutions, but another one in place of one left out. */
    judge(n, n->admin, path, envelope(id, "note", AUD("XE-EXAMPLE-FUND", "XE-EXAMPLE-MOF"), CT_MIN),
          reason);
    judge(n, n->admin, path,
          envelope(id, "note", AUD("XE-EXAMPLE-FUND", "XE-EXAMPLE-MOF", "XE-EXAMPLE-RA"), CT_MIN),
          NULL);
}

static void a_withdrawn_envelope_changes_only_by_an_erasure(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], reason[300];
    new_note(id, path);
    judge(n, n->editor, path, envelope(id, "note", AUD("XE-EXAMPLE-RA"), CT_MIN), NULL);
    json_t *w = envelope(id, "note", AUD("XE-EXAMPLE-RA"), CT_MIN);
    json_object_set_new(w, "withdrawn", json_true());
    judge(n, n->editor, path, json_incref(w), NULL);
    snprintf(reason, sizeof(reason), "withdrawn sealed note %s changes only by an erasure", id);
    json_t *again = envelope(id, "note", AUD("XE-EXAMPLE-RA"), CT_MIN);
    json_object_set_new(again, "withdrawn", json_true());
    judge(n, n->editor, path, again, reason);
    judge(n, n->editor, path, envelope(id, "note", AUD("XE-EXAMPLE-RA"), CT_MIN), reason);
    judge(n, n->admin, path,
          envelope(id, "note", AUD("XE-EXAMPLE-MOF", "XE-EXAMPLE-RA"), padme(400) + 16), reason);
    /* An erasure keeps it withdrawn; one that drops withdrawn changes more than the content. */
    json_t *erased = erased_of(w, "Consent withdrawn");
    json_t *unwithdrawn = json_deep_copy(erased);
    json_object_del(unwithdrawn, "withdrawn");
    snprintf(reason, sizeof(reason), "the erasure of sealed note %s changes more than its content",
             id);
    judge(n, n->admin, path, unwithdrawn, reason);
    judge(n, n->admin, path, erased, NULL);
    json_decref(w);
}

static void an_erased_envelope_never_changes_again(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], reason[300];
    new_note(id, path);
    json_t *v1 = envelope(id, "note", AUD("XE-EXAMPLE-RA"), CT_MIN);
    judge(n, n->editor, path, json_incref(v1), NULL);
    /* An admin erases what it cannot read: erasure needs no place in the audience. */
    judge(n, n->admin, path, erased_of(v1, "Asked by the person"), NULL);
    snprintf(reason, sizeof(reason), "sealed note %s was erased and never changes again", id);
    judge(n, n->editor, path, json_incref(v1), reason); /* its content back */
    judge(n, n->editor, path, envelope(id, "note", AUD("XE-EXAMPLE-RA"), CT_MIN), reason);
    judge(n, n->admin, path, erased_of(v1, "Another reason"), reason);
    judge(n, n->admin, path, erased_and(v1, WIDER), reason);
    judge(n, n->admin, path, erased_and(v1, WITHDRAWN), reason);
    json_decref(v1);
}

static void an_erasure_is_exactly_the_previous_envelope_less_its_content(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], reason[300];
    new_note(id, path);
    json_t *v1 = envelope(id, "note", AUD("XE-EXAMPLE-RA"), CT_MIN);
    judge(n, n->editor, path, json_incref(v1), NULL);
    snprintf(reason, sizeof(reason), "the erasure of sealed note %s changes more than its content",
             id);
    judge(n, n->admin, path, erased_and(v1, WIDER), reason); /* erasing and sharing at once */
    /* Erasing and narrowing (to another institution). */
    json_t *e = erased_of(v1, "Asked by the person");
    json_array_set_new(json_object_get(sealed_of(e), "audience"), 0, json_string("XE-EXAMPLE-MOF"));
    judge(n, n->admin, path, e, reason);
    judge(n, n->admin, path, erased_and(v1, WITHDRAWN), reason); /* and withdrawing at once */
    /* Keeping some of the content. */
    e = erased_of(v1, "Asked by the person");
    json_object_set(sealed_of(e), "nonce", json_object_get(sealed_of(v1), "nonce"));
    judge(n, n->admin, path, e, "sealed holds no member 'nonce' once erased");
    /* A reason of more than one line. */
    judge(n, n->admin, path, erased_of(v1, "Asked\nby the person"),
          "erased must be {\"reason\": one line of 1 to 1000 characters}");
    judge(n, n->admin, path, erased_of(v1, ""),
          "erased must be {\"reason\": one line of 1 to 1000 characters}");
    json_decref(v1);
}

static void an_erasure_by_an_editor_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], reason[300];
    new_note(id, path);
    json_t *v1 = envelope(id, "note", AUD("XE-EXAMPLE-RA"), CT_MIN);
    judge(n, n->editor, path, json_incref(v1), NULL);
    snprintf(reason, sizeof(reason), "XE-EXAMPLE-RA (editor) erased note %s without being an admin",
             id);
    judge(n, n->editor, path, erased_of(v1, "Mine to erase"), reason);
    judge(n, n->admin, path, erased_of(v1, "Theirs to erase"), NULL);
    json_decref(v1);
}

static void only_a_merge_sets_versions_aside(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], reason[300];
    const char *x = "1111111111111111111111111111111111111111",
               *y = "2222222222222222222222222222222222222222";
    new_note(id, path);
    /* A new record is neither in conflict nor erased. */
    json_t *e = envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN);
    json_object_set_new(e, "conflicts", json_pack("[s]", x));
    snprintf(reason, sizeof(reason), "a new sealed note %s is neither erased nor in conflict", id);
    judge(n, n->admin, path, e, reason);
    e = envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN);
    judge(n, n->admin, path, erased_of(e, "Never written"), reason);
    json_decref(e);
    /* As a merge leaves it (written here directly), then edits: dropping is fine, adding not. */
    e = envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN);
    judge(n, n->admin, path, e, NULL);
    e = envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN);
    json_object_set_new(e, "conflicts", json_pack("[s]", x));
    snprintf(reason, sizeof(reason), "sealed note %s: only merges set versions aside in conflicts",
             id);
    judge(n, n->admin, path, e, reason);
    e = envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN);
    json_object_set_new(e, "conflicts", json_pack("[s, s]", x, y));
    commit_rec(n, n->admin, path, e); /* refused, but stands in for a merge's result */
    e = envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN);
    json_object_set_new(e, "conflicts", json_pack("[s]", y));
    judge(n, n->admin, path, e, NULL);
    e = envelope(id, "note", AUD("XE-EXAMPLE-MOF"), CT_MIN);
    json_object_set_new(e, "conflicts", json_pack("[s]", x));
    judge(n, n->admin, path, e, reason);
    /* An erasure drops them with the content. */
    json_t *last = read_head(n, path);
    json_t *keeps = erased_of(last, "Asked by the person");
    json_object_set(keeps, "conflicts", json_object_get(last, "conflicts"));
    judge(n, n->admin, path, keeps, "an erased envelope keeps no conflicts");
    judge(n, n->admin, path, erased_of(last, "Asked by the person"), NULL);
    json_decref(last);
}

/* A second admin (the outsider's institution) and the policy needing both. */
static void two_admins_needed(struct net *n)
{
    git_oid commit;
    assert_int_equal(twin_ops_member_add(&commit, n->admin, &outsider_who, "admin",
                                         twin_node_key(n->outsider)->pk),
                     0);
    json_t *net = read_head(n, TWIN_NETWORK_PATH);
    json_object_set_new(json_object_get(net, "policy"), "admin_threshold", json_integer(2));
    judge(n, n->admin, TWIN_NETWORK_PATH, net, NULL);
}

static void with_two_admins_needed_a_direct_erasure_is_refused(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], reason[300];
    two_admins_needed(n);
    new_note(id, path);
    json_t *v1 = envelope(id, "note", AUD("XE-EXAMPLE-RA"), CT_MIN);
    judge(n, n->editor, path, json_incref(v1), NULL);
    snprintf(reason, sizeof(reason), "%s erased without approval: the policy needs 2 admin", path);
    judge(n, n->admin, path, erased_of(v1, "Asked by the person"), reason);
    judge(n, n->outsider, path, erased_of(v1, "Asked by the person"), reason);
    json_decref(v1);
}

static void with_two_admins_needed_an_approved_erasure_is_accepted(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], pid[TWIN_ID_LEN + 1], ppath[128], reason[300];
    two_admins_needed(n);
    new_note(id, path);
    json_t *v1 = envelope(id, "note", AUD("XE-EXAMPLE-RA"), CT_MIN);
    judge(n, n->editor, path, json_incref(v1), NULL);
    json_t *erased = erased_of(v1, "Asked by the person");
    twin_record_new_id(pid);
    snprintf(ppath, sizeof(ppath), "proposals/%s.json", pid);
    json_t *p = json_pack("{s:s, s:s, s:s, s:[{s:s, s:O}], s:[s]}", "id", pid, "summary",
                          "erase a note", "proposed_by", "XE-EXAMPLE-MOF", "changes", "path", path,
                          "content", erased, "approvals", "XE-EXAMPLE-MOF");
    assert_non_null(p);
    /* The proposal alone changes nothing yet; writing the erasure with it is too early. */
    judge(n, n->admin, ppath, json_incref(p), NULL);
    json_array_append_new(json_object_get(p, "approvals"), json_string("XE-EXAMPLE-OUT"));
    /* The approval that reaches the threshold must write the erasure, exactly. */
    snprintf(reason, sizeof(reason),
             "a proposal reached its 2 approvals, but this commit does not write %s as proposed",
             path);
    judge(n, n->outsider, ppath, json_incref(p), reason);
    char *ptext = canon(json_incref(p)), *wrong = canon(erased_of(v1, "Another reason"));
    struct edit half[] = {{ppath, ptext, 0}, {path, wrong, 0}};
    git_oid c = commit_edits(n, n->outsider, half, 2);
    assert_refused(n, &c, reason);
    undo(n, &c);
    char *etext = canon(json_incref(erased));
    struct edit both[] = {{ppath, ptext, 0}, {path, etext, 0}};
    c = commit_edits(n, n->outsider, both, 2);
    assert_valid_commit(n, &c, "XE-EXAMPLE-OUT");
    json_t *now = read_head(n, path);
    assert_true(json_equal(now, erased));
    json_decref(now);
    free(ptext);
    free(wrong);
    free(etext);
    json_decref(p);
    json_decref(erased);
    json_decref(v1);
}

static void a_member_limited_to_its_partnerships_writes_no_envelope(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    git_oid commit;
    assert_int_equal(twin_ops_member_add_scoped(&commit, n->admin, &outsider_who, "editor",
                                                twin_node_key(n->outsider)->pk, true),
                     0);
    new_note(id, path);
    const char *reason = "XE-EXAMPLE-OUT may write only in its own partnerships, and a sealed "
                         "record hides its partnership";
    judge(n, n->outsider, path, envelope(id, "note", AUD("XE-EXAMPLE-OUT"), CT_MIN), reason);
    judge(n, n->outsider, path,
          envelope(id, "note", AUD("XE-EXAMPLE-MOF", "XE-EXAMPLE-OUT"), CT_MIN), reason);
    /* Nor a new version of an envelope it is in the audience of. */
    judge(n, n->admin, path, envelope(id, "note", AUD("XE-EXAMPLE-MOF", "XE-EXAMPLE-OUT"), CT_MIN),
          NULL);
    judge(n, n->outsider, path,
          envelope(id, "note", AUD("XE-EXAMPLE-MOF", "XE-EXAMPLE-OUT"), CT_MIN), reason);
}

static void the_policy_keeps_personal_fields_out_of_the_clear(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], part[TWIN_ID_LEN + 1], reason[300];
    git_oid commit;
    /* twin_network_create founds networks with the policy on. */
    json_t *net = read_head(n, TWIN_NETWORK_PATH);
    assert_true(json_is_true(json_object_get(json_object_get(net, "policy"), "sealed_personal")));
    json_decref(net);

    twin_record_new_id(id);
    record_path(path, "person", id);
    snprintf(reason, sizeof(reason), "person %s holds person in the clear", id);
    judge(n, n->editor, path,
          json_pack("{s:s, s:s, s:s}", "id", id, "type", "person", "name", "Amina Example"),
          reason);

    assert_int_equal(twin_ops_add(part, &commit, n->admin, "partnership", set_fields,
                                  FIELDS("title", "Tax twinning", "partnership_type", "twinning")),
                     0);
    twin_record_new_id(id);
    record_path(path, "health_check", id);
    json_t *hc = json_pack("{s:s, s:s, s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i}}", "id", id,
                           "type", "health_check", "partnership", part, "date", "2026-01-15",
                           "scores", "trust", 4, "transparency", 4, "openness", 4, "understanding",
                           4, "integrity", 4, "human_contact", 4, "continuity", 4);
    json_t *commented = json_deep_copy(hc);
    json_object_set_new(commented, "comment", json_string("Their director is unwell."));
    snprintf(reason, sizeof(reason), "health_check %s holds health_check.comment in the clear", id);
    judge(n, n->editor, path, commented, reason);
    judge(n, n->editor, path, json_incref(hc), NULL); /* without it, in the clear is fine */
    commented = json_deep_copy(hc);
    json_object_set_new(commented, "comment", json_string("Their director is unwell."));
    judge(n, n->editor, path, commented, reason); /* nor added later */
    json_decref(hc);

    /* A people_link in the clear, then notes added to it. */
    char a[TWIN_ID_LEN + 1], b[TWIN_ID_LEN + 1];
    assert_int_equal(
        twin_ops_add(a, &commit, n->admin, "person", set_fields, FIELDS("name", "Amina Example")),
        0);
    assert_int_equal(
        twin_ops_add(b, &commit, n->admin, "person", set_fields, FIELDS("name", "Baraka Sample")),
        0);
    twin_record_new_id(id);
    record_path(path, "people_link", id);
    json_t *link = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "type", "people_link",
                             "person_a", a, "person_b", b, "kind", "counterpart");
    judge(n, n->editor, path, json_incref(link), NULL);
    json_object_set_new(link, "notes", json_string("Met at the tax conference; a close friend."));
    snprintf(reason, sizeof(reason), "people_link %s holds people_link.notes in the clear", id);
    judge(n, n->editor, path, link, reason);
}

static void the_personal_data_policy_never_turns_off(void **state)
{
    struct net *n = *state;
    json_t *net = read_head(n, TWIN_NETWORK_PATH);
    json_object_set_new(json_object_get(net, "policy"), "sealed_personal", json_false());
    judge(n, n->admin, TWIN_NETWORK_PATH, net, "network.policy.sealed_personal");
    net = read_head(n, TWIN_NETWORK_PATH);
    json_object_del(json_object_get(net, "policy"), "sealed_personal");
    judge(n, n->admin, TWIN_NETWORK_PATH, net, "network.policy.sealed_personal, once on, stays on");
}

/* A network founded before a policy: its genesis as twin founds one, less policy.key. */
static void refound_without(struct net *n, const char *key)
{
    git_oid id = head_of(n), genesis, tree_id;
    git_commit *c = NULL;
    git_tree *tree = NULL, *updated = NULL;
    for (;;) {
        assert_int_equal(git_commit_lookup(&c, repo_of(n), &id), 0);
        if (git_commit_parentcount(c) == 0)
            break;
        id = *git_commit_parent_id(c, 0);
        git_commit_free(c);
    }
    assert_int_equal(git_commit_tree(&tree, c), 0);
    char *text = NULL;
    size_t len;
    json_t *net = NULL;
    assert_int_equal(twin_tree_read(&text, &len, repo_of(n), tree, TWIN_NETWORK_PATH), 0);
    assert_int_equal(twin_record_parse_canonical(&net, text, len), 0);
    free(text);
    json_object_del(json_object_get(net, "policy"), key);
    text = canon(net); /* consumes net */
    git_tree_update up = {
        .action = GIT_TREE_UPDATE_UPSERT, .filemode = GIT_FILEMODE_BLOB, .path = TWIN_NETWORK_PATH};
    assert_int_equal(git_blob_create_from_buffer(&up.id, repo_of(n), text, strlen(text)), 0);
    free(text);
    assert_int_equal(git_tree_create_updated(&tree_id, repo_of(n), tree, 1, &up), 0);
    assert_int_equal(git_tree_lookup(&updated, repo_of(n), &tree_id), 0);
    assert_int_equal(twin_store_write_commit(&genesis, repo_of(n), twin_node_key(n->admin),
                                             "Test Signer", "XE-EXAMPLE-MOF", updated, NULL, 0,
                                             "found the network\n"),
                     0);
    assert_valid_commit(n, &genesis, "XE-EXAMPLE-MOF");
    git_oid head = head_of(n);
    assert_int_equal(twin_store_advance(repo_of(n), &head, &genesis, "test: refound"), 0);
    git_tree_free(updated);
    git_tree_free(tree);
    git_commit_free(c);
}

static void refound_without_the_policy(struct net *n)
{
    refound_without(n, "sealed_personal");
}

static void a_clear_person_from_before_the_policy_may_be_withdrawn(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128], reason[300];
    refound_without_the_policy(n);
    twin_record_new_id(id);
    record_path(path, "person", id);
    json_t *person =
        json_pack("{s:s, s:s, s:s}", "id", id, "type", "person", "name", "Amina Example");
    judge(n, n->admin, path, json_incref(person), NULL);
    json_t *net = read_head(n, TWIN_NETWORK_PATH);
    json_object_set_new(json_object_get(net, "policy"), "sealed_personal", json_true());
    judge(n, n->admin, TWIN_NETWORK_PATH, net, NULL);
    /* From then on it may not change, nor a new one be written, in the clear; but it may go. */
    json_t *renamed = json_deep_copy(person);
    json_object_set_new(renamed, "name", json_string("Amina B. Example"));
    snprintf(reason, sizeof(reason), "person %s holds person in the clear", id);
    judge(n, n->admin, path, renamed, reason);
    json_object_set_new(person, "withdrawn", json_true());
    judge(n, n->admin, path, person, NULL);
}

/* ---- record rules by version (network.json policy.rules) ------------------------------------ */

static const char *const seven[] = {"trust",     "transparency",  "openness",  "understanding",
                                    "integrity", "human_contact", "continuity"};

/* A health check in the clear (no respondent or comment: nothing personal) with the first
 * nscores scores, and its path. */
static json_t *health_check(char path[static 128], const char *partnership, size_t nscores)
{
    char id[TWIN_ID_LEN + 1];
    twin_record_new_id(id);
    record_path(path, "health_check", id);
    json_t *scores = json_object();
    for (size_t i = 0; i < nscores; i++)
        json_object_set_new(scores, seven[i], json_integer(3));
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", id, "type", "health_check", "partnership",
                     partnership, "date", "2026-06-30", "scores", scores);
}

/* Writes a record of type with fields (a JSON object, taken) under a new id, checked valid. */
static void write_valid(struct net *n, char id[static TWIN_ID_LEN + 1], const char *type,
                        json_t *fields)
{
    char path[128];
    twin_record_new_id(id);
    record_path(path, type, id);
    json_object_set_new(fields, "id", json_string(id));
    json_object_set_new(fields, "type", json_string(type));
    judge(n, n->admin, path, fields, NULL);
}

static void a_new_network_keeps_the_newest_record_rules(void **state)
{
    struct net *n = *state;
    json_t *net = read_head(n, TWIN_NETWORK_PATH);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(net, "policy"), "rules")),
                     TWIN_RULES_CURRENT);
    assert_int_equal(twin_membership_rules(net), TWIN_RULES_CURRENT);
    json_object_del(json_object_get(net, "policy"), "rules");
    assert_int_equal(twin_membership_rules(net), 1);
    json_decref(net);
}

static void record_rules_never_go_back(void **state)
{
    struct net *n = *state;
    json_t *net = read_head(n, TWIN_NETWORK_PATH);
    json_object_set_new(json_object_get(net, "policy"), "rules", json_integer(1));
    judge(n, n->admin, TWIN_NETWORK_PATH, net,
          "network.policy.rules goes from 2 down to 1: record rules, once in force, stay");
    net = read_head(n, TWIN_NETWORK_PATH);
    json_object_del(json_object_get(net, "policy"), "rules");
    judge(n, n->admin, TWIN_NETWORK_PATH, net, "network.policy.rules goes from 2 down to 1");
    net = read_head(n, TWIN_NETWORK_PATH);
    json_object_set_new(json_object_get(net, "policy"), "rules",
                        json_integer(TWIN_RULES_CURRENT + 1));
    judge(n, n->admin, TWIN_NETWORK_PATH, net,
          "network.policy.rules: this twin knows record rules");
}

static void under_rules_2_a_health_check_gives_all_seven_scores(void **state)
{
    struct net *n = *state;
    char p[TWIN_ID_LEN + 1], path[128];
    write_valid(n, p, "partnership",
                json_pack("{s:s, s:s}", "title", "Tax twinning", "partnership_type", "twinning"));
    judge(n, n->editor, path, health_check(path, p, 6),
          "health_check.scores.continuity: required (record rules 2");
    judge(n, n->editor, path, health_check(path, p, 7), NULL);
}

static void rules_1_history_stands_and_rules_2_hold_from_the_change_on(void **state)
{
    struct net *n = *state;
    char p[TWIN_ID_LEN + 1], path[128];
    refound_without(n, "rules");
    write_valid(n, p, "partnership",
                json_pack("{s:s, s:s}", "title", "Tax twinning", "partnership_type", "twinning"));
    judge(n, n->admin, path, health_check(path, p, 1), NULL);
    json_t *net = read_head(n, TWIN_NETWORK_PATH);
    json_object_set_new(json_object_get(net, "policy"), "rules", json_integer(2));
    judge(n, n->admin, TWIN_NETWORK_PATH, net, NULL);
    judge(n, n->admin, path, health_check(path, p, 1),
          "health_check.scores.transparency: required (record rules 2");
}

static void one_respondent_gives_one_check_per_partnership_and_date(void **state)
{
    struct net *n = *state;
    char p[TWIN_ID_LEN + 1], inst[TWIN_ID_LEN + 1], path[128];
    refound_without_the_policy(n); /* a respondent in the clear */
    write_valid(n, p, "partnership",
                json_pack("{s:s, s:s}", "title", "Tax twinning", "partnership_type", "twinning"));
    write_valid(n, inst, "institution", json_pack("{s:s}", "name", "Revenue Authority"));
    json_t *first = health_check(path, p, 7);
    json_object_set_new(first, "respondent", json_string(inst));
    judge(n, n->admin, path, first, NULL);
    json_t *again = health_check(path, p, 7);
    json_object_set_new(again, "respondent", json_string(inst));
    judge(n, n->admin, path, json_incref(again),
          "health_check.respondent: Revenue Authority gave health check");
    /* another day is another check */
    json_object_set_new(again, "date", json_string("2026-07-31"));
    judge(n, n->admin, path, again, NULL);
}

static void an_intersectoral_partnership_spans_two_sector_groups(void **state)
{
    struct net *n = *state;
    char gov1[TWIN_ID_LEN + 1], gov2[TWIN_ID_LEN + 1], biz[TWIN_ID_LEN + 1], none[TWIN_ID_LEN + 1],
        path[128], id[TWIN_ID_LEN + 1];
    write_valid(n, gov1, "institution",
                json_pack("{s:s, s:s}", "name", "Tax Ministry", "sector_group", "government"));
    write_valid(n, gov2, "institution",
                json_pack("{s:s, s:s}", "name", "Revenue Authority", "sector_group", "government"));
    write_valid(n, biz, "institution",
                json_pack("{s:s, s:s}", "name", "Chamber of Trade", "sector_group", "business"));
    write_valid(n, none, "institution", json_pack("{s:s}", "name", "Nameless Body"));
    twin_record_new_id(id);
    record_path(path, "partnership", id);
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "id", id, "type",
                          "partnership", "title", "Trade facilitation", "partnership_type",
                          "intersectoral", "members", "institution", gov1, "side", "north",
                          "institution", gov2, "side", "south");
    judge(n, n->admin, path, json_incref(p),
          "partnership.members: an intersectoral partnership has members of at least two sector "
          "groups (record rules 2), and all of its members are government");
    json_object_set_new(json_array_get(json_object_get(p, "members"), 1), "institution",
                        json_string(none));
    judge(n, n->admin, path, json_incref(p), "1 of its members' institutions has no sector_group");
    json_object_set_new(json_array_get(json_object_get(p, "members"), 1), "institution",
                        json_string(biz));
    judge(n, n->admin, path, p, NULL);
}

/* ---- recommendations ----------------------------------------------------------------------- */

static void only_the_addressee_answers_a_recommendation(void **state)
{
    struct net *n = *state;
    char ra[TWIN_ID_LEN + 1], doc[TWIN_ID_LEN + 1], id[TWIN_ID_LEN + 1], path[128];
    write_valid(n, ra, "institution",
                json_pack("{s:s, s:s}", "name", "Revenue Authority", "org_id", "XE-EXAMPLE-RA"));
    write_valid(n, doc, "document",
                json_pack("{s:s, s:s}", "title", "Mid-term evaluation", "kind", "evaluation"));
    twin_record_new_id(id);
    record_path(path, "recommendation", id);
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "type", "recommendation",
                          "title", "Publish the audit plan", "text", "Share it with both partners",
                          "document", doc, "addressee", ra);
    judge(n, n->admin, path, json_incref(r), NULL);
    json_t *answered = json_deep_copy(r);
    json_object_set_new(answered, "response",
                        json_pack("{s:s, s:s}", "decision", "accepted", "comment", "From May"));
    judge(n, n->admin, path, json_incref(answered),
          "recommendation.response: only XE-EXAMPLE-RA, the addressee, answers the "
          "recommendation; XE-EXAMPLE-MOF may not");
    judge(n, n->editor, path, json_incref(answered), NULL);
    /* what the addressee said stays its word: another member may not take it back */
    judge(n, n->admin, path, r, "recommendation.response: only XE-EXAMPLE-RA");
    json_decref(answered);
}

/* The largest envelope a writer makes: the ciphertext of 1 MiB of content, 256 wraps. It is
 * above the bound of a record in the clear and below that of an envelope. */
static void the_largest_envelope_is_accepted(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    new_note(id, path);
    size_t largest = padme(((size_t)1 << 20) + 4) + 16;
    json_t *e = envelope(id, "note", AUD("XE-EXAMPLE-MOF", "XE-EXAMPLE-RA"), largest);
    json_object_set_new(sealed_of(e), "wraps", digests(256, 32));
    char *text = canon(e);
    assert_true(strlen(text) > TWIN_RECORD_MAX_BYTES);
    assert_true(strlen(text) < TWIN_RECORD_FILE_MAX_BYTES);
    git_oid c = commit_one(n, n->editor, path, text);
    free(text);
    assert_valid_commit(n, &c, "XE-EXAMPLE-RA");
    /* The next size pad() makes is beyond what 1 MiB of content needs. */
    size_t beyond = padme(largest - 16 + 1) + 16;
    assert_true(beyond > largest);
    judge(n, n->editor, path, envelope(id, "note", AUD("XE-EXAMPLE-MOF", "XE-EXAMPLE-RA"), beyond),
          "sealed.ciphertext must be base64 of a padded content and its tag");
}

/* A contribution in the editor's institution's name, written by the admin: its partnership and
 * institution added first. */
static json_t *contribution_of_editor(struct net *n, char id[static TWIN_ID_LEN + 1],
                                      char path[static 128])
{
    char part[TWIN_ID_LEN + 1], inst[TWIN_ID_LEN + 1];
    git_oid commit;
    assert_int_equal(twin_ops_add(part, &commit, n->admin, "partnership", set_fields,
                                  FIELDS("title", "Tax twinning", "partnership_type", "twinning")),
                     0);
    assert_int_equal(twin_ops_add(inst, &commit, n->admin, "institution", set_fields,
                                  FIELDS("name", "Revenue Authority", "org_id", "XE-EXAMPLE-RA")),
                     0);
    twin_record_new_id(id);
    record_path(path, "contribution", id);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "id", id, "type",
                     "contribution", "partnership", part, "institution", inst, "kind", "in_kind",
                     "category", "expert_days", "quantity", 20, "unit", "days", "date",
                     "2026-03-01", "status", "pledged");
}

static void only_the_contributing_institution_confirms_a_contribution(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    json_t *rec = contribution_of_editor(n, id, path);
    git_oid commit = commit_rec(n, n->admin, path, json_deep_copy(rec));
    assert_valid_commit(n, &commit, "XE-EXAMPLE-MOF"); /* unconfirmed: anyone may record it */
    json_object_set_new(rec, "confirmed", json_string("pledged"));
    commit = commit_rec(n, n->admin, path, json_deep_copy(rec));
    assert_refused(n, &commit,
                   "contribution.confirmed: only XE-EXAMPLE-RA, the contributing "
                   "institution, confirms its contribution; XE-EXAMPLE-MOF may not");
    undo(n, &commit);
    commit = commit_rec(n, n->editor, path, json_deep_copy(rec));
    assert_valid_commit(n, &commit, "XE-EXAMPLE-RA");
    /* Nor may another member take the confirmation away. */
    json_object_del(rec, "confirmed");
    commit = commit_rec(n, n->admin, path, rec);
    assert_refused(n, &commit, "only XE-EXAMPLE-RA, the contributing institution");
}

static void a_confirmation_names_the_status_of_its_version(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], path[128];
    json_t *rec = contribution_of_editor(n, id, path);
    json_object_set_new(rec, "confirmed", json_string("delivered"));
    git_oid commit = commit_rec(n, n->editor, path, json_deep_copy(rec));
    assert_refused(n, &commit,
                   "contribution.confirmed: confirms the status the contribution has (pledged), "
                   "not delivered");
    undo(n, &commit);
    /* Delivered and confirmed so in one version: taken. */
    json_object_set_new(rec, "status", json_string("delivered"));
    commit = commit_rec(n, n->editor, path, rec);
    assert_valid_commit(n, &commit, "XE-EXAMPLE-RA");
}

/* ---- attachments (README "Attachments") ----------------------------------------------------- */

/* A document naming a file of content's bytes: hex is their SHA-256 (or a name given), path the
 * attachment's path, text the document's canonical bytes. */
struct attached {
    char id[TWIN_ID_LEN + 1], doc_path[128], hex[TWIN_SHA256_HEX_LEN + 1];
    char path[TWIN_ATTACHMENT_PATH_MAX];
    char *text;
};

static void attached_doc(struct attached *a, const char *content, const char *name_hex)
{
    twin_record_new_id(a->id);
    record_path(a->doc_path, "document", a->id);
    if (name_hex)
        snprintf(a->hex, sizeof(a->hex), "%s", name_hex);
    else
        twin_attachment_sha256_hex(a->hex, content, strlen(content));
    twin_attachment_path(a->path, a->hex);
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:I, s:s}}", "id", a->id, "type", "document",
                  "kind", "minutes", "title", "Steering minutes", "file", "sha256", a->hex, "size",
                  (json_int_t)strlen(content), "name", "minutes.txt");
    a->text = canon(doc);
}

/* Commits the document and its attachment together. */
static git_oid commit_attached(struct net *n, struct attached *a, const char *content)
{
    struct edit e[] = {{a->doc_path, a->text, 0}, {a->path, content, 0}};
    return commit_edits(n, n->editor, e, 2);
}

static void a_document_and_its_file_added_together_are_valid(void **state)
{
    struct net *n = *state;
    struct attached a;
    attached_doc(&a, "Minutes of the first steering meeting\n", NULL);
    git_oid c = commit_attached(n, &a, "Minutes of the first steering meeting\n");
    assert_valid_commit(n, &c, "XE-EXAMPLE-RA");
    /* The same bytes named by a second document are kept once: only its record changes. */
    struct attached b;
    attached_doc(&b, "Minutes of the first steering meeting\n", NULL);
    c = commit_one(n, n->editor, b.doc_path, b.text);
    assert_valid_commit(n, &c, "XE-EXAMPLE-RA");
    free(a.text);
    free(b.text);
}

static void an_attachment_whose_name_is_not_its_hash_is_refused(void **state)
{
    struct net *n = *state;
    struct attached a;
    char other[TWIN_SHA256_HEX_LEN + 1];
    twin_attachment_sha256_hex(other, "other bytes", 11);
    attached_doc(&a, "Minutes\n", other);
    git_oid c = commit_attached(n, &a, "Minutes\n");
    assert_refused(n, &c, "SHA-256 is");
    assert_refused(n, &c, "not its name");
    free(a.text);
}

static void an_attachment_over_the_networks_cap_is_refused(void **state)
{
    struct net *n = *state;
    git_oid policy;
    assert_int_equal(twin_ops_set_attachment_max(&policy, n->admin, 8), 0);
    assert_valid_commit(n, &policy, "XE-EXAMPLE-MOF");
    struct attached a;
    attached_doc(&a, "Sixteen bytes!!\n", NULL);
    git_oid c = commit_attached(n, &a, "Sixteen bytes!!\n");
    assert_refused(n, &c, "16 bytes, over the network's cap on attachments (8 bytes)");
    undo(n, &c);
    free(a.text);
    attached_doc(&a, "Eight!!\n", NULL);
    c = commit_attached(n, &a, "Eight!!\n");
    assert_valid_commit(n, &c, "XE-EXAMPLE-RA");
    free(a.text);
}

static void changing_or_removing_an_attachment_is_refused(void **state)
{
    struct net *n = *state;
    struct attached a;
    attached_doc(&a, "Minutes\n", NULL);
    git_oid c = commit_attached(n, &a, "Minutes\n");
    assert_valid_commit(n, &c, "XE-EXAMPLE-RA");
    c = commit_one(n, n->editor, a.path, "Altered minutes\n");
    assert_refused(n, &c, "attachments never change");
    undo(n, &c);
    c = commit_one(n, n->admin, a.path, NULL);
    assert_refused(n, &c, "attachments are never removed");
    free(a.text);
}

static void an_attachment_no_document_names_is_refused(void **state)
{
    struct net *n = *state;
    char hex[TWIN_SHA256_HEX_LEN + 1], path[TWIN_ATTACHMENT_PATH_MAX];
    twin_attachment_sha256_hex(hex, "Orphan\n", 7);
    twin_attachment_path(path, hex);
    git_oid c = commit_one(n, n->editor, path, "Orphan\n");
    assert_refused(n, &c, "no document this commit writes names it");
}

static void an_attachment_path_not_of_its_form_is_refused(void **state)
{
    struct net *n = *state;
    char hex[TWIN_SHA256_HEX_LEN + 1], path[200];
    twin_attachment_sha256_hex(hex, "Minutes\n", 8);
    snprintf(path, sizeof(path), "attachments/zz/%s", hex); /* not its first two digits */
    git_oid c = commit_one(n, n->editor, path, "Minutes\n");
    assert_refused(n, &c, "not an attachment's path");
    undo(n, &c);
    c = commit_one(n, n->editor, "attachments/readme.txt", "Minutes\n");
    assert_refused(n, &c, "not an attachment's path");
}

static void a_document_naming_a_file_not_in_the_history_is_refused(void **state)
{
    struct net *n = *state;
    struct attached a;
    attached_doc(&a, "Never stored\n", NULL);
    git_oid c = commit_one(n, n->editor, a.doc_path, a.text);
    assert_refused(n, &c, "which is not in the history");
    free(a.text);
}

static void a_document_whose_sha256_is_not_its_files_is_refused(void **state)
{
    struct net *n = *state;
    struct attached a;
    attached_doc(&a, "Minutes\n", NULL);
    json_t *doc = NULL;
    assert_int_equal(twin_record_parse_canonical(&doc, a.text, strlen(a.text)), 0);
    json_object_set_new(doc, "sha256",
                        json_string("00000000000000000000000000000000"
                                    "00000000000000000000000000000000"));
    free(a.text);
    a.text = canon(doc);
    git_oid c = commit_attached(n, &a, "Minutes\n");
    assert_refused(n, &c, "is not the SHA-256 of the document's file");
    free(a.text);
}

static void a_sealed_documents_file_is_judged_by_what_every_node_sees(void **state)
{
    struct net *n = *state;
    char id[TWIN_ID_LEN + 1], doc_path[128], hex[TWIN_SHA256_HEX_LEN + 1];
    char path[TWIN_ATTACHMENT_PATH_MAX];
    const char *cipher = "ciphertext of a sealed file, as every node sees it\n";
    twin_record_new_id(id);
    record_path(doc_path, "document", id);
    twin_attachment_sha256_hex(hex, cipher, strlen(cipher));
    twin_attachment_path(path, hex);
    char *env = canon(envelope(id, "document", AUD("XE-EXAMPLE-MOF", "XE-EXAMPLE-RA"), CT_MIN));
    /* Its name is hidden in the envelope: the blob is taken with it, unopened. */
    struct edit e[] = {{doc_path, env, 0}, {path, cipher, 0}};
    git_oid c = commit_edits(n, n->editor, e, 2);
    assert_valid_commit(n, &c, "XE-EXAMPLE-RA");
    /* Its bytes still hash to its name, and it still never changes. */
    c = commit_one(n, n->editor, path, "other bytes\n");
    assert_refused(n, &c, "attachments never change");
    undo(n, &c);
    char other[TWIN_SHA256_HEX_LEN + 1], other_path[TWIN_ATTACHMENT_PATH_MAX];
    twin_attachment_sha256_hex(other, "x", 1);
    twin_attachment_path(other_path, other);
    free(env);
    env = canon(envelope(id, "document", AUD("XE-EXAMPLE-MOF", "XE-EXAMPLE-RA"), CT_MIN));
    struct edit bad[] = {{doc_path, env, 0}, {other_path, "not x", 0}};
    c = commit_edits(n, n->editor, bad, 2);
    assert_refused(n, &c, "not its name");
    free(env);
}

static void a_clear_documents_file_carries_no_key(void **state)
{
    struct net *n = *state;
    struct attached a;
    attached_doc(&a, "Minutes\n", NULL);
    json_t *doc = NULL;
    assert_int_equal(twin_record_parse_canonical(&doc, a.text, strlen(a.text)), 0);
    json_t *file = json_object_get(doc, "file");
    json_object_set_new(file, "key", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    json_object_set_new(file, "blob", json_string(a.hex));
    free(a.text);
    a.text = canon(doc);
    git_oid c = commit_attached(n, &a, "Minutes\n");
    assert_refused(n, &c, "its file has a key");
    free(a.text);
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
        NET_TEST(only_the_contributing_institution_confirms_a_contribution),
        NET_TEST(a_confirmation_names_the_status_of_its_version),
        NET_TEST(changing_a_withdrawn_record_is_refused),
        NET_TEST(editing_a_recorded_indicator_actual_is_refused),
        NET_TEST(an_edit_that_adds_a_conflict_entry_is_refused),
        NET_TEST(a_record_file_that_is_executable_is_refused),
        NET_TEST(directories_nested_too_deep_are_refused),
        NET_TEST(removing_a_member_is_refused),
        NET_TEST(an_editor_may_not_change_the_membership),
        NET_TEST(an_editor_may_not_change_another_members_fields),
        NET_TEST(an_editor_may_not_change_its_own_country_or_side),
        NET_TEST(a_member_may_correct_its_own_name_and_org_type),
        NET_TEST(an_admin_may_change_any_members_fields),
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
        NET_TEST(a_well_formed_envelope_is_accepted_unopened),
        NET_TEST(an_envelope_with_an_unknown_member_is_refused),
        NET_TEST(an_envelope_audience_is_sorted_unique_and_of_members),
        NET_TEST(the_writer_must_be_in_the_audience),
        NET_TEST(nonce_ciphertext_and_wraps_have_their_sizes),
        NET_TEST(an_envelope_names_the_record_of_its_path),
        NET_TEST(a_record_never_changes_between_clear_and_sealed),
        NET_TEST(an_audience_never_narrows),
        NET_TEST(a_withdrawn_envelope_changes_only_by_an_erasure),
        NET_TEST(an_erased_envelope_never_changes_again),
        NET_TEST(an_erasure_is_exactly_the_previous_envelope_less_its_content),
        NET_TEST(an_erasure_by_an_editor_is_refused),
        NET_TEST(only_a_merge_sets_versions_aside),
        NET_TEST(with_two_admins_needed_a_direct_erasure_is_refused),
        NET_TEST(with_two_admins_needed_an_approved_erasure_is_accepted),
        NET_TEST(a_member_limited_to_its_partnerships_writes_no_envelope),
        NET_TEST(the_policy_keeps_personal_fields_out_of_the_clear),
        NET_TEST(the_personal_data_policy_never_turns_off),
        NET_TEST(a_clear_person_from_before_the_policy_may_be_withdrawn),
        NET_TEST(a_new_network_keeps_the_newest_record_rules),
        NET_TEST(record_rules_never_go_back),
        NET_TEST(under_rules_2_a_health_check_gives_all_seven_scores),
        NET_TEST(rules_1_history_stands_and_rules_2_hold_from_the_change_on),
        NET_TEST(one_respondent_gives_one_check_per_partnership_and_date),
        NET_TEST(an_intersectoral_partnership_spans_two_sector_groups),
        NET_TEST(only_the_addressee_answers_a_recommendation),
        NET_TEST(the_largest_envelope_is_accepted),
        NET_TEST(a_document_and_its_file_added_together_are_valid),
        NET_TEST(an_attachment_whose_name_is_not_its_hash_is_refused),
        NET_TEST(an_attachment_over_the_networks_cap_is_refused),
        NET_TEST(changing_or_removing_an_attachment_is_refused),
        NET_TEST(an_attachment_no_document_names_is_refused),
        NET_TEST(an_attachment_path_not_of_its_form_is_refused),
        NET_TEST(a_document_naming_a_file_not_in_the_history_is_refused),
        NET_TEST(a_document_whose_sha256_is_not_its_files_is_refused),
        NET_TEST(a_sealed_documents_file_is_judged_by_what_every_node_sees),
        NET_TEST(a_clear_documents_file_carries_no_key),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
