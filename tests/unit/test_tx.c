/* Change sets (src/write/tx.c): begun on the head, pending puts read before the base tree, and a
 * commit that is signed, checked with the validity predicate and published by compare-and-swap,
 * or not published at all; and change sets that commit into a batch (twin/batch.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"
#include "twin/batch.h"
#include "twin/membership.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/record.h"
#include "twin/tree.h"
#include "twin/global.h"
#include "twin/tx.h"
#include "twin/validity.h"

static const struct twin_identity north = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                           "NL", "north", "10"};
static const struct twin_identity south = {"Revenue Authority of Samplestan", "XE-EXAMPLE-RA", "TZ",
                                           "south", NULL};

struct node_fixture {
    struct fixture *tmp;
    twin_node *node;
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
    if (twin_network_create(&f->node, path, &north, "Example Tax Twinning")) {
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

static git_oid head_of(twin_node *n)
{
    git_oid head;
    assert_int_equal(twin_node_head(&head, n), 0);
    return head;
}

static void assert_head(twin_node *n, const git_oid *want)
{
    git_oid head = head_of(n);
    if (!git_oid_equal(&head, want))
        fail_msg("the head is %s, not %s", git_oid_tostr_s(&head), git_oid_tostr_s(want));
}

/* A valid note: its path and canonical text (free() it). */
static char *note(char path[128], const char *title, bool with_title)
{
    char id[TWIN_ID_LEN + 1], *text = NULL;
    size_t len;
    twin_record_new_id(id);
    assert_int_equal(twin_record_path(path, 128, "note", id), 0);
    json_t *rec = json_pack("{s:s, s:s, s:s}", "id", id, "type", "note", "kind", "note");
    if (with_title)
        json_object_set_new(rec, "title", json_string(title));
    assert_int_equal(twin_record_canonical(&text, &len, rec), 0);
    json_decref(rec);
    return text;
}

static void put_text(twin_tx *tx, const char *path, const char *text)
{
    if (twin_tx_put(tx, path, text, strlen(text)))
        fail_msg("put %s: %s", path, twin_error_last());
}

static void assert_read(twin_tx *tx, const char *path, const char *want)
{
    char *text = NULL;
    size_t len = 0;
    if (twin_tx_read(&text, &len, tx, path))
        fail_msg("read %s: %s", path, twin_error_last());
    assert_int_equal(len, strlen(want));
    assert_string_equal(text, want);
    free(text);
}

/* The file at path in commit id, or NULL when absent; free() it. */
static char *file_at(twin_node *n, const git_oid *id, const char *path)
{
    git_commit *c = NULL;
    git_tree *tree = NULL;
    char *text = NULL;
    size_t len;
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(n), id), 0);
    assert_int_equal(git_commit_tree(&tree, c), 0);
    int rc = twin_tree_read(&text, &len, twin_node_repo(n), tree, path);
    assert_true(rc == 0 || rc == TWIN_ENOTFOUND);
    git_tree_free(tree);
    git_commit_free(c);
    return text;
}

/* ---- beginning ------------------------------------------------------------------------------ */

static void a_change_set_begins_on_the_head(void **state)
{
    struct node_fixture *f = *state;
    twin_tx *tx = NULL;
    git_oid head = head_of(f->node);
    git_commit *c = NULL;
    assert_int_equal(twin_tx_begin(&tx, f->node), 0);
    assert_non_null(twin_tx_base(tx));
    assert_true(git_oid_equal(twin_tx_base(tx), &head));
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(f->node), &head), 0);
    assert_non_null(twin_tx_base_tree(tx));
    assert_true(git_oid_equal(git_tree_id(twin_tx_base_tree(tx)), git_commit_tree_id(c)));
    assert_int_equal(twin_tx_count(tx), 0);
    assert_false(twin_tx_batched(tx));
    git_commit_free(c);
    twin_tx_free(tx);
    twin_tx_free(NULL);
}

static void a_change_set_on_a_node_without_history_has_no_base(void **state)
{
    struct node_fixture *f = *state;
    char path[192], *text = (char *)1;
    size_t len;
    twin_node *joined = NULL;
    twin_tx *tx = NULL;
    git_oid out;
    snprintf(path, sizeof(path), "%s/south", f->tmp->dir);
    assert_int_equal(
        twin_node_init(&joined, path, &south, NULL, NULL, twin_node_network_id(f->node)), 0);
    assert_int_equal(twin_tx_begin(&tx, joined), 0);
    assert_null(twin_tx_base(tx));
    assert_null(twin_tx_base_tree(tx));
    assert_int_equal(twin_tx_exists(tx, TWIN_NETWORK_PATH), 0);
    assert_error(twin_tx_read(&text, &len, tx, TWIN_NETWORK_PATH), TWIN_ENOTFOUND,
                 "network.json: not found");
    assert_null(text);
    put_text(tx, "records/x", "pending\n");
    assert_int_equal(twin_tx_exists(tx, "records/x"), 1);
    assert_read(tx, "records/x", "pending\n");
    assert_error(twin_tx_commit(&out, tx, "first\n"), TWIN_ENOHISTORY,
                 "this node has no history to add to yet");
    twin_tx_free(tx);
    twin_node_free(joined);
}

/* ---- puts and reads ------------------------------------------------------------------------- */

static void pending_puts_are_read_before_the_base(void **state)
{
    struct node_fixture *f = *state;
    twin_tx *tx = NULL;
    char *base = NULL;
    size_t len;
    assert_int_equal(twin_tx_begin(&tx, f->node), 0);
    assert_int_equal(
        twin_tree_read(&base, &len, twin_node_repo(f->node), twin_tx_base_tree(tx), "network.json"),
        0);
    assert_read(tx, TWIN_NETWORK_PATH, base);
    put_text(tx, TWIN_NETWORK_PATH, "replaced\n");
    assert_read(tx, TWIN_NETWORK_PATH, "replaced\n");
    put_text(tx, TWIN_NETWORK_PATH, "replaced again\n");
    assert_read(tx, TWIN_NETWORK_PATH, "replaced again\n");
    /* The base tree itself is untouched. */
    char *still = NULL;
    assert_int_equal(twin_tree_read(&still, &len, twin_node_repo(f->node), twin_tx_base_tree(tx),
                                    "network.json"),
                     0);
    assert_string_equal(still, base);
    free(still);
    free(base);
    /* An empty file is a file. */
    assert_int_equal(twin_tx_put(tx, "records/empty", "", 0), 0);
    assert_read(tx, "records/empty", "");
    twin_tx_free(tx);
}

static void exists_sees_pending_puts_base_files_and_directories(void **state)
{
    struct node_fixture *f = *state;
    twin_tx *tx = NULL;
    char member[64];
    snprintf(member, sizeof(member), "members/%s.json", north.org_id);
    assert_int_equal(twin_tx_begin(&tx, f->node), 0);
    assert_int_equal(twin_tx_exists(tx, TWIN_NETWORK_PATH), 1);
    assert_int_equal(twin_tx_exists(tx, member), 1);
    assert_int_equal(twin_tx_exists(tx, "members"), 1);
    assert_int_equal(twin_tx_exists(tx, "records/note/00/x.json"), 0);
    assert_int_equal(twin_tx_exists(tx, "network.json/x"), 0);
    put_text(tx, "records/note/00/x.json", "{}\n");
    assert_int_equal(twin_tx_exists(tx, "records/note/00/x.json"), 1);
    twin_tx_free(tx);
}

static void reading_what_is_not_a_file_is_an_error(void **state)
{
    struct node_fixture *f = *state;
    twin_tx *tx = NULL;
    char *text = (char *)1;
    size_t len;
    assert_int_equal(twin_tx_begin(&tx, f->node), 0);
    assert_error(twin_tx_read(&text, &len, tx, "records/nothing.json"), TWIN_ENOTFOUND,
                 "records/nothing.json: not found");
    assert_null(text);
    assert_error(twin_tx_read(&text, &len, tx, "members"), TWIN_EINVALID, "members: not a file");
    assert_null(text);
    twin_tx_free(tx);
}

static void count_is_the_number_of_paths_put(void **state)
{
    struct node_fixture *f = *state;
    twin_tx *tx = NULL;
    assert_int_equal(twin_tx_begin(&tx, f->node), 0);
    assert_int_equal(twin_tx_count(tx), 0);
    put_text(tx, "records/a", "1\n");
    assert_int_equal(twin_tx_count(tx), 1);
    put_text(tx, "records/b", "2\n");
    assert_int_equal(twin_tx_count(tx), 2);
    put_text(tx, "records/a", "3\n"); /* the same path again */
    assert_int_equal(twin_tx_count(tx), 2);
    for (int i = 0; i < 20; i++) { /* past the first growth of the list */
        char path[32];
        snprintf(path, sizeof(path), "records/n%d", i);
        put_text(tx, path, "n\n");
    }
    assert_int_equal(twin_tx_count(tx), 22);
    assert_read(tx, "records/a", "3\n");
    assert_read(tx, "records/n19", "n\n");
    twin_tx_free(tx);
}

/* ---- committing ----------------------------------------------------------------------------- */

static void a_commit_is_signed_checked_and_published(void **state)
{
    struct node_fixture *f = *state;
    twin_tx *tx = NULL;
    char path[128];
    char *text = note(path, "Kick-off", true);
    git_oid base = head_of(f->node), out;
    git_commit *c = NULL;
    struct twin_check check;
    assert_int_equal(twin_tx_begin(&tx, f->node), 0);
    put_text(tx, path, text);
    if (twin_tx_commit(&out, tx, "add note Kick-off\n"))
        fail_msg("commit: %s", twin_error_last());
    twin_tx_free(tx);
    assert_head(f->node, &out);
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(f->node), &out), 0);
    assert_int_equal(git_commit_parentcount(c), 1);
    assert_true(git_oid_equal(git_commit_parent_id(c, 0), &base));
    assert_string_equal(git_commit_message(c), "add note Kick-off\n");
    assert_string_equal(git_commit_author(c)->name, north.name);
    assert_string_equal(git_commit_author(c)->email, north.org_id);
    git_commit_free(c);
    char *stored = file_at(f->node, &out, path);
    assert_non_null(stored);
    assert_string_equal(stored, text);
    free(stored);
    assert_int_equal(twin_validity_check_commit(&check, twin_node_repo(f->node), &out, NULL), 0);
    if (!check.valid)
        fail_msg("the commit is not valid: %s", check.reason);
    assert_string_equal(check.org_id, north.org_id);
    assert_memory_equal(check.signer, twin_node_key(f->node)->pk, TWIN_PUBKEY_BYTES);
    free(text);
}

static void a_commit_on_a_moved_branch_is_a_conflict_and_publishes_nothing(void **state)
{
    struct node_fixture *f = *state;
    twin_tx *first = NULL, *second = NULL;
    char path1[128], path2[128];
    char *text1 = note(path1, "First", true), *text2 = note(path2, "Second", true);
    git_oid out1, out2;
    assert_int_equal(twin_tx_begin(&first, f->node), 0);
    assert_int_equal(twin_tx_begin(&second, f->node), 0);
    put_text(first, path1, text1);
    put_text(second, path2, text2);
    assert_int_equal(twin_tx_commit(&out1, first, "first\n"), 0);
    assert_error(twin_tx_commit(&out2, second, "second\n"), TWIN_ECONFLICT,
                 "the branch moved while this change was being written");
    assert_head(f->node, &out1);
    char *absent = file_at(f->node, &out1, path2);
    assert_null(absent);
    twin_tx_free(first);
    twin_tx_free(second);
    /* Begun again on the new head, it goes through. */
    assert_int_equal(twin_tx_begin(&second, f->node), 0);
    put_text(second, path2, text2);
    assert_int_equal(twin_tx_commit(&out2, second, "second\n"), 0);
    assert_head(f->node, &out2);
    twin_tx_free(second);
    free(text1);
    free(text2);
}

static void a_commit_of_nothing_is_refused(void **state)
{
    struct node_fixture *f = *state;
    twin_tx *tx = NULL;
    git_oid head = head_of(f->node), out;
    assert_int_equal(twin_tx_begin(&tx, f->node), 0);
    assert_error(twin_tx_commit(&out, tx, "empty\n"), TWIN_EINVALID, "nothing to commit");
    assert_head(f->node, &head);
    twin_tx_free(tx);
}

static void a_commit_the_predicate_refuses_is_not_published(void **state)
{
    struct node_fixture *f = *state;
    twin_tx *tx = NULL;
    git_oid head = head_of(f->node), out;
    assert_int_equal(twin_tx_begin(&tx, f->node), 0);
    put_text(tx, "notes.txt", "hello\n");
    assert_error(twin_tx_commit(&out, tx, "stray file\n"), TWIN_EVERIFY,
                 "which the validity predicate refuses (notes.txt: not a place twin keeps "
                 "anything); it was not published");
    assert_head(f->node, &head);
    twin_tx_free(tx);

    /* A record that breaks its schema: the reason names the field. */
    char path[128], *text = note(path, NULL, false);
    assert_int_equal(twin_tx_begin(&tx, f->node), 0);
    put_text(tx, path, text);
    assert_error(twin_tx_commit(&out, tx, "untitled\n"), TWIN_EVERIFY, "note.title");
    assert_error(twin_tx_commit(&out, tx, "untitled\n"), TWIN_EVERIFY,
                 "which the validity predicate refuses");
    assert_head(f->node, &head);
    twin_tx_free(tx);
    free(text);
}

/* ---- change sets in a batch ----------------------------------------------------------------- */

static int checks;

static int may_write(twin_node *n, git_tree *head_tree)
{
    checks++;
    return 0;
}

static void a_batched_change_set_commits_into_the_batch(void **state)
{
    struct node_fixture *f = *state;
    twin_batch *b = NULL;
    twin_tx *tx = NULL;
    char path1[128], path2[128];
    char *text1 = note(path1, "One", true), *text2 = note(path2, "Two", true);
    git_oid head = head_of(f->node), out1, out2;
    checks = 0;
    assert_int_equal(twin_batch_begin(&b, f->node, may_write, 0), 0);
    assert_int_equal(checks, 1);

    assert_int_equal(twin_tx_begin_batch(&tx, b), 0);
    assert_true(twin_tx_batched(tx));
    assert_int_equal(twin_tx_exists(tx, path1), 0);
    put_text(tx, path1, text1);
    assert_int_equal(twin_tx_count(tx), 1);
    assert_int_equal(twin_tx_exists(tx, path1), 1);
    assert_true(twin_batch_staged(b, path1));
    assert_read(tx, path1, text1);
    assert_int_equal(twin_tx_exists(tx, TWIN_NETWORK_PATH), 1);
    assert_int_equal(twin_tx_commit(&out1, tx, "one\n"), 0);
    twin_tx_free(tx);
    /* In the batch, not yet on the branch. */
    assert_int_equal(twin_batch_pending(b), 1);
    assert_head(f->node, &head);

    /* The next change set sees the first one's record. */
    assert_int_equal(twin_tx_begin_batch(&tx, b), 0);
    assert_read(tx, path1, text1);
    put_text(tx, path2, text2);
    assert_int_equal(twin_tx_commit(&out2, tx, "two\n"), 0);
    twin_tx_free(tx);
    assert_int_equal(twin_batch_pending(b), 2);

    assert_int_equal(twin_batch_flush(b), 0);
    assert_head(f->node, &out2);
    assert_true(git_oid_equal(twin_batch_tip(b), &out2));
    char *stored = file_at(f->node, &out2, path1);
    assert_string_equal(stored, text1);
    free(stored);
    twin_batch_free(b);
    free(text1);
    free(text2);
}

static void a_batched_change_set_writes_records_only_and_something(void **state)
{
    struct node_fixture *f = *state;
    twin_batch *b = NULL;
    twin_tx *tx = NULL;
    git_oid out;
    assert_int_equal(twin_batch_begin(&b, f->node, may_write, 0), 0);
    assert_int_equal(twin_tx_begin_batch(&tx, b), 0);
    assert_error(twin_tx_put(tx, TWIN_NETWORK_PATH, "{}\n", 3), TWIN_EINVALID,
                 "network.json: a batch writes records only");
    assert_int_equal(twin_tx_count(tx), 0);
    assert_error(twin_tx_commit(&out, tx, "nothing\n"), TWIN_EINVALID, "nothing to commit");
    assert_int_equal(twin_batch_pending(b), 0);
    twin_tx_free(tx);
    twin_batch_free(b);
}

static void a_batched_change_set_freed_unfinished_drops_its_puts(void **state)
{
    struct node_fixture *f = *state;
    twin_batch *b = NULL;
    twin_tx *tx = NULL;
    char path[128], *text = NULL, *got = (char *)1;
    size_t len;
    /* For a batched change set the puts go to the batch and tx->changes stays NULL: freeing it
     * unfinished drops the staged puts and must not walk the (empty) list of changes. */
    text = note(path, "Dropped", true);
    assert_int_equal(twin_batch_begin(&b, f->node, may_write, 0), 0);
    assert_int_equal(twin_tx_begin_batch(&tx, b), 0);
    put_text(tx, path, text);
    assert_true(twin_batch_staged(b, path));
    twin_tx_free(tx);
    assert_false(twin_batch_staged(b, path));
    assert_error(twin_batch_read(&got, &len, b, path, TWIN_RECORD_MAX_BYTES), TWIN_ENOTFOUND,
                 "not found");
    assert_int_equal(twin_batch_pending(b), 0);
    twin_batch_free(b);
    free(text);
}

/* The base of a batched change set: the commit it builds on, the batch's tip. */
static void a_batched_change_set_reports_the_batch_tip_as_its_base(void **state)
{
    struct node_fixture *f = *state;
    twin_batch *b = NULL;
    twin_tx *tx = NULL;
    git_oid zero;
    memset(&zero, 0, sizeof(zero));
    assert_int_equal(twin_batch_begin(&b, f->node, may_write, 0), 0);
    assert_int_equal(twin_tx_begin_batch(&tx, b), 0);
    const git_oid *base = twin_tx_base(tx);
    bool right = base && !git_oid_equal(base, &zero) && git_oid_equal(base, twin_batch_tip(b));
    twin_tx_free(tx);
    twin_batch_free(b);
    assert_true(right);
}

/* After a commit into the batch, the change set builds on that commit. */
static void a_batched_change_set_builds_on_its_last_commit(void **state)
{
    struct node_fixture *f = *state;
    twin_batch *b = NULL;
    twin_tx *tx = NULL;
    char path[128], *text = note(path, "Based", true);
    git_oid out;
    assert_int_equal(twin_batch_begin(&b, f->node, may_write, 0), 0);
    assert_int_equal(twin_tx_begin_batch(&tx, b), 0);
    put_text(tx, path, text);
    assert_int_equal(twin_tx_commit(&out, tx, "based\n"), 0);
    const git_oid *base = twin_tx_base(tx);
    bool right = base && git_oid_equal(base, &out);
    twin_tx_free(tx);
    twin_batch_free(b);
    free(text);
    assert_true(right);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

#define NODE_TEST(t) cmocka_unit_test_setup_teardown(t, setup_node, teardown_node)

int main(void)
{
    const struct CMUnitTest tests[] = {
        NODE_TEST(a_change_set_begins_on_the_head),
        NODE_TEST(a_change_set_on_a_node_without_history_has_no_base),
        NODE_TEST(pending_puts_are_read_before_the_base),
        NODE_TEST(exists_sees_pending_puts_base_files_and_directories),
        NODE_TEST(reading_what_is_not_a_file_is_an_error),
        NODE_TEST(count_is_the_number_of_paths_put),
        NODE_TEST(a_commit_is_signed_checked_and_published),
        NODE_TEST(a_commit_on_a_moved_branch_is_a_conflict_and_publishes_nothing),
        NODE_TEST(a_commit_of_nothing_is_refused),
        NODE_TEST(a_commit_the_predicate_refuses_is_not_published),
        NODE_TEST(a_batched_change_set_commits_into_the_batch),
        NODE_TEST(a_batched_change_set_writes_records_only_and_something),
        NODE_TEST(a_batched_change_set_freed_unfinished_drops_its_puts),
        NODE_TEST(a_batched_change_set_reports_the_batch_tip_as_its_base),
        NODE_TEST(a_batched_change_set_builds_on_its_last_commit),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
