/*
 * The quarantine (src/sync/quarantine.c): received packs are indexed apart from the store, every
 * received commit the receiver lacks is checked by the validity predicate, an invalid one is
 * refused with nothing moved, progress is reported and can stop a long check, and objects of the
 * store that a received commit changes are hashed.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "git/packbuild.h"
#include "twin/error.h"
#include "twin/global.h"
#include "twin/ops.h"
#include "twin/quarantine.h"
#include "twin/record.h"
#include "twin/store.h"
#include "unit/helpers.h"

static int titled(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "title", ctx);
}

/* A commit on north with the given parents and north's head tree (unsigned: the check refuses it,
 * which is not what is looked at here). */
static git_oid commit_with_parents(twin_node *n, const git_oid *parents, size_t count)
{
    git_repository *repo = twin_node_repo(n);
    git_oid head = helper_head(n), id;
    git_commit *h = NULL;
    const git_commit *ps[8];
    git_tree *tree = NULL;
    git_signature *sig = NULL;
    assert_true(count <= 8);
    assert_int_equal(git_commit_lookup(&h, repo, &head), 0);
    assert_int_equal(git_commit_tree(&tree, h), 0);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(git_commit_lookup((git_commit **)&ps[i], repo, &parents[i]), 0);
    assert_int_equal(git_signature_new(&sig, "North", "XE-EXAMPLE-NORTH", 1767225600, 0), 0);
    assert_int_equal(
        git_commit_create(&id, repo, NULL, sig, sig, NULL, "many parents\n", tree, count, ps), 0);
    for (size_t i = 0; i < count; i++)
        git_commit_free((git_commit *)ps[i]);
    git_signature_free(sig);
    git_tree_free(tree);
    git_commit_free(h);
    return id;
}

static void a_joined_node_receives_and_checks_the_whole_history(void **state)
{
    struct helper_nodes *f = *state;
    char id[TWIN_ID_LEN + 1], reason[600];
    git_oid c;
    size_t bad;
    assert_int_equal(twin_ops_add(id, &c, f->north, "note", titled, "Kick-off"), 0);
    assert_int_equal(helper_transfer(f->north, f->south, &bad, reason, sizeof(reason)), 3);
    assert_int_equal(bad, 0);
    git_oid a = helper_head(f->north), b = helper_head(f->south);
    assert_true(git_oid_equal(&a, &b));
    json_t *rec = NULL;
    assert_int_equal(twin_ops_get(&rec, f->south, NULL, NULL, id), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "Kick-off");
    json_decref(rec);
}

static void only_what_the_peer_lacks_is_sent(void **state)
{
    struct helper_nodes *f = *state;
    char id[TWIN_ID_LEN + 1], reason[600];
    git_oid c;
    size_t bad;
    assert_int_equal(helper_transfer(f->north, f->south, &bad, reason, sizeof(reason)), 2);
    /* South, an editor, writes; North takes just those commits. */
    assert_int_equal(twin_ops_add(id, &c, f->south, "note", titled, "From the South"), 0);
    assert_int_equal(twin_ops_add(id, &c, f->south, "note", titled, "Again"), 0);
    assert_int_equal(helper_transfer(f->south, f->north, &bad, reason, sizeof(reason)), 2);
    assert_int_equal(bad, 0);
    json_t *rec = NULL;
    assert_int_equal(twin_ops_get(&rec, f->north, NULL, "note", id), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "Again");
    json_decref(rec);
}

/* The receiver checks exactly the commits the peer sent that its history lacks, however many of
 * the sent commits' parents it already holds: with few, twin's walk over the pack decides; with
 * more, libgit2's walk does. Only when the receiver's head is among those parents does the check
 * say the sent history contains it. */
static void the_received_commits_are_those_the_receiver_lacks(void **state)
{
    struct helper_nodes *f = *state;
    char id[TWIN_ID_LEN + 1], reason[600];
    git_oid line[8], first_bad;
    size_t bad, checked, commits;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(twin_ops_add(id, &line[i], f->north, "note", titled, "Shared"), 0);
        line[i] = helper_head(f->north);
    }
    assert_int_equal(helper_transfer(f->north, f->south, &bad, reason, sizeof(reason)), 10);
    git_oid base = helper_head(f->south);
    const git_oid few[] = {base, line[1], line[3]};
    const git_oid many[] = {line[0], line[1], line[2], line[3], line[4], line[5]};
    struct {
        const git_oid *parents;
        size_t count;
        bool reached;
    } cases[] = {{few, 3, true}, {many, 6, false}};
    for (size_t k = 0; k < 2; k++) {
        git_oid tip = commit_with_parents(f->north, cases[k].parents, cases[k].count);
        twin_quarantine *q = NULL;
        assert_int_equal(twin_quarantine_new(&q, twin_node_repo(f->south)), 0);
        assert_int_equal(twin_packbuild_stream(&commits, twin_node_repo(f->north), &tip, 1, &base,
                                               1, helper_to_quarantine, q),
                         0);
        assert_int_equal(commits, 1);
        assert_int_equal(twin_quarantine_finish(q), 0);
        assert_int_equal(twin_quarantine_check(&checked, &bad, &first_bad, reason, sizeof(reason),
                                               q, &tip, &base),
                         0);
        assert_int_equal(checked, 1);
        assert_int_equal(bad, 1);
        assert_true(git_oid_equal(&first_bad, &tip));
        assert_int_equal(twin_quarantine_reached(q, &tip, &base), cases[k].reached);
        twin_quarantine_free(q);
    }
}

static void an_invalid_commit_is_refused_and_nothing_moves(void **state)
{
    struct helper_nodes *f = *state;
    char reason[600];
    size_t bad;
    git_oid c, forged;
    assert_int_equal(helper_transfer(f->north, f->south, &bad, reason, sizeof(reason)), 2);
    /* South signs a commit that writes outside the places twin keeps anything. */
    git_repository *repo = twin_node_repo(f->south);
    git_oid before = helper_head(f->north), blob, tree_id;
    git_commit *parent = NULL;
    git_tree *tree = NULL, *base = NULL;
    assert_int_equal(git_commit_lookup(&parent, repo, &before), 0);
    assert_int_equal(git_commit_tree(&base, parent), 0);
    assert_int_equal(git_blob_create_from_buffer(&blob, repo, "x\n", 2), 0);
    git_tree_update u = {GIT_TREE_UPDATE_UPSERT, blob, GIT_FILEMODE_BLOB, "stray.txt"};
    assert_int_equal(git_tree_create_updated(&tree_id, repo, base, 1, &u), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &tree_id), 0);
    const git_commit *parents[1] = {parent};
    assert_int_equal(twin_store_write_commit(&forged, repo, twin_node_key(f->south),
                                             helper_south_who.name, helper_south_who.org_id, tree,
                                             parents, 1, "stray\n"),
                     0);
    assert_int_equal(twin_store_advance(repo, &before, &forged, "test: forged"), 0);
    (void)c;
    helper_transfer(f->south, f->north, &bad, reason, sizeof(reason));
    assert_int_equal(bad, 1);
    assert_non_null(strstr(reason, "stray.txt"));
    git_oid after = helper_head(f->north);
    assert_true(git_oid_equal(&before, &after));
    /* The refused objects did not join North's store. */
    git_odb *odb = NULL;
    assert_int_equal(git_repository_odb(&odb, twin_node_repo(f->north)), 0);
    assert_false(git_odb_exists(odb, &forged));
    git_odb_free(odb);
    git_tree_free(tree);
    git_tree_free(base);
    git_commit_free(parent);
}

static int count_progress(size_t checked, void *ctx)
{
    size_t *calls = ctx;
    assert_int_equal(checked, TWIN_CHECK_PROGRESS_EVERY * ++*calls);
    return *calls == 2 ? TWIN_ELIMIT : 0;
}

/* A long check reports its progress every so many commits (sync keeps its peer waiting with it),
 * and the callback can end it: the check then fails with the callback's code. */
static void a_long_check_reports_progress_and_can_be_stopped(void **state)
{
    struct helper_nodes *f = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid c, first_bad;
    size_t commits, checked, bad, calls = 0;
    char reason[600];
    for (int i = 0; i < 2 * TWIN_CHECK_PROGRESS_EVERY; i++)
        assert_int_equal(twin_ops_add(id, &c, f->north, "note", titled, "Step"), 0);
    git_oid want = helper_head(f->north);
    twin_quarantine *q = NULL;
    assert_int_equal(twin_quarantine_new(&q, twin_node_repo(f->south)), 0);
    assert_int_equal(twin_packbuild_stream(&commits, twin_node_repo(f->north), &want, 1, NULL, 0,
                                           helper_to_quarantine, q),
                     0);
    assert_int_equal(twin_quarantine_finish(q), 0);
    twin_quarantine_on_progress(q, count_progress, &calls);
    assert_int_equal(
        twin_quarantine_check(&checked, &bad, &first_bad, reason, sizeof(reason), q, &want, NULL),
        TWIN_ELIMIT);
    assert_int_equal(calls, 2);
    /* The threads stop at the end of the chunk each is checking. */
    assert_true(checked >= 2 * TWIN_CHECK_PROGRESS_EVERY);
    twin_quarantine_free(q);
}

static void bytes_that_are_not_a_pack_are_refused(void **state)
{
    struct helper_nodes *f = *state;
    twin_quarantine *q = NULL;
    assert_int_equal(twin_quarantine_new(&q, twin_node_repo(f->south)), 0);
    int rc = twin_quarantine_append(q, "GARBAGE-GARBAGE-GARBAGE", 23);
    if (rc == 0)
        rc = twin_quarantine_finish(q);
    assert_int_equal(rc, TWIN_EINVALID);
    twin_quarantine_free(q);
}

/* The check of received history trusts the received pack (the indexer has just hashed it), not
 * the store beside it: a record of the store whose bytes were altered under a fresh zlib checksum
 * (so that no reader's zlib check notices) is hashed when a received commit changes it, and the
 * commit is refused, where before the altered version was taken for the record. */
static void the_check_of_received_history_hashes_the_stores_objects(void **state)
{
    struct helper_nodes *f = *state;
    char id[TWIN_ID_LEN + 1], reason[600], path[128], list[400];
    size_t bad;
    git_oid c;
    assert_int_equal(twin_ops_add(id, &c, f->north, "note", titled, "Kick-off"), 0);
    helper_transfer(f->north, f->south, &bad, reason, sizeof(reason));
    assert_int_equal(bad, 0);
    assert_int_equal(twin_ops_update(&c, f->north, id, "set", titled, "Kick-off, revised"), 0);

    /* South's copy of the record: where its pack holds it, stored whole in one zlib block. */
    git_tree *tree = NULL;
    git_commit *head = NULL;
    git_tree_entry *e = NULL;
    git_oid h = helper_head(f->south);
    twin_record_path(path, sizeof(path), "note", id);
    assert_int_equal(git_commit_lookup(&head, twin_node_repo(f->south), &h), 0);
    assert_int_equal(git_commit_tree(&tree, head), 0);
    assert_int_equal(git_tree_entry_bypath(&e, tree, path), 0);
    char blob[GIT_OID_HEXSZ + 1];
    git_oid_tostr(blob, sizeof(blob), git_tree_entry_id(e));
    git_tree_entry_free(e);
    git_tree_free(tree);
    git_commit_free(head);
    snprintf(list, sizeof(list), "%s/where", f->f->dir);
    const char *gitdir = git_repository_path(twin_node_repo(f->south));
    FILE *fp;
    char pack[512] = "";
    long off = -1;
    {
        char cmd[2048];
        snprintf(cmd, sizeof(cmd),
                 "for i in '%s'objects/pack/*.idx; do git verify-pack -v \"$i\" | "
                 "awk -v p=\"${i%%.idx}.pack\" '$1 == \"%s\" { print p, $5 }'; done > '%s'",
                 gitdir, blob, list);
        assert_int_equal(system(cmd), 0);
    }
    assert_non_null(fp = fopen(list, "r"));
    assert_int_equal(fscanf(fp, "%511s %ld", pack, &off), 2);
    fclose(fp);
    assert_non_null(fp = fopen(pack, "r+b"));
    unsigned char b[2048];
    assert_int_equal(fseek(fp, off, SEEK_SET), 0);
    size_t got = fread(b, 1, sizeof(b), fp), i = 1;
    while (b[i - 1] & 0x80)
        i++;                                          /* the object's header */
    assert_true(b[i] == 0x78 && (b[i + 2] & 7) == 1); /* one stored block */
    size_t len = (size_t)b[i + 3] | (size_t)b[i + 4] << 8, data = i + 7;
    assert_true(data + len + 4 <= got);
    size_t at = data;
    while (at + 8 <= data + len && memcmp(b + at, "Kick-off", 8) != 0)
        at++;
    assert_true(at + 8 <= data + len);
    b[at] = 'k';
    uLong sum = adler32(1, b + data, (uInt)len);
    for (int j = 0; j < 4; j++)
        b[data + len + (size_t)j] = (unsigned char)(sum >> (24 - 8 * j));
    assert_int_equal(fseek(fp, off, SEEK_SET), 0);
    assert_int_equal(fwrite(b, 1, data + len + 4, fp), data + len + 4);
    assert_int_equal(fclose(fp), 0);

    git_oid before = helper_head(f->south);
    helper_transfer(f->north, f->south, &bad, reason, sizeof(reason));
    assert_int_equal(bad, 1);
    assert_non_null(strstr(reason, "does not match its id"));
    git_oid after = helper_head(f->south);
    assert_true(git_oid_equal(&before, &after));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_joined_node_receives_and_checks_the_whole_history,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(only_what_the_peer_lacks_is_sent, helper_nodes_setup,
                                        helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(the_received_commits_are_those_the_receiver_lacks,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(an_invalid_commit_is_refused_and_nothing_moves,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(a_long_check_reports_progress_and_can_be_stopped,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(bytes_that_are_not_a_pack_are_refused, helper_nodes_setup,
                                        helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(the_check_of_received_history_hashes_the_stores_objects,
                                        helper_nodes_setup, helper_nodes_teardown),
    };
    if (twin_global_init(false))
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    twin_global_shutdown();
    return rc;
}
