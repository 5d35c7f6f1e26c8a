/* The store's writes (src/store/store.c): signed commit objects that libgit2 reads and whose SSH
 * signature verifies, the branch moved by compare-and-swap with a journal and a reflog of each
 * move, the writer lock, and a ref lock file left behind by a killed writer. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <sys/file.h>
#include <time.h>

#include "helpers.h"
#include "twin/node.h"
#include "twin/sshsig.h"
#include "twin/store.h"
#include "twin/global.h"

struct repo_fixture {
    struct fixture *tmp;
    git_repository *repo;
    twin_keypair kp;
    git_tree *empty;    /* the empty tree */
    git_oid c1, c2, c3; /* three root commits with different messages */
};

static void make_commit(struct repo_fixture *f, git_oid *out, const char *message)
{
    if (twin_store_write_commit_at(out, f->repo, &f->kp, "Ministry of Finance", "XE-EXAMPLE-MOF",
                                   f->empty, NULL, 0, message, 1700000000))
        fail_msg("write commit: %s", twin_error_last());
}

static int setup_repo(void **state)
{
    struct repo_fixture *f = calloc(1, sizeof(*f));
    char path[192];
    void *tmp = NULL;
    git_treebuilder *tb = NULL;
    git_config *cfg = NULL;
    git_oid empty;
    if (!f || fixture_setup(&tmp))
        return -1;
    f->tmp = tmp;
    snprintf(path, sizeof(path), "%s/repo.git", f->tmp->dir);
    if (git_repository_init(&f->repo, path, 1) < 0 || git_repository_config(&cfg, f->repo) < 0 ||
        git_config_set_string(cfg, "core.logallrefupdates", "always") < 0 ||
        git_treebuilder_new(&tb, f->repo, NULL) < 0 || git_treebuilder_write(&empty, tb) < 0 ||
        git_tree_lookup(&f->empty, f->repo, &empty) < 0)
        return -1;
    git_config_free(cfg);
    git_treebuilder_free(tb);
    keypair_from_seed(&f->kp, 0x11);
    *state = f;
    make_commit(f, &f->c1, "one\n");
    make_commit(f, &f->c2, "two\n");
    make_commit(f, &f->c3, "three\n");
    return 0;
}

static int teardown_repo(void **state)
{
    struct repo_fixture *f = *state;
    void *tmp = f->tmp;
    git_tree_free(f->empty);
    git_repository_free(f->repo);
    fixture_teardown(&tmp);
    free(f);
    return 0;
}

static void repo_file(char *out, size_t size, struct repo_fixture *f, const char *name)
{
    snprintf(out, size, "%s%s", git_repository_path(f->repo), name);
}

static void assert_branch_at(struct repo_fixture *f, const git_oid *want)
{
    git_oid at;
    int err = git_reference_name_to_id(&at, f->repo, TWIN_BRANCH);
    if (!want) {
        assert_int_equal(err, GIT_ENOTFOUND);
        return;
    }
    assert_int_equal(err, 0);
    if (!git_oid_equal(&at, want))
        fail_msg("the branch is at %s, not %s", git_oid_tostr_s(&at), git_oid_tostr_s(want));
}

/* ---- signed commits ------------------------------------------------------------------------- */

static void a_written_commit_is_read_by_libgit2_and_its_signature_verifies(void **state)
{
    struct repo_fixture *f = *state;
    git_oid id;
    git_commit *c = NULL;
    git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
    unsigned char signer[TWIN_PUBKEY_BYTES];
    assert_int_equal(twin_store_write_commit(&id, f->repo, &f->kp, "Ministry of Finance",
                                             "XE-EXAMPLE-MOF", f->empty, NULL, 0,
                                             "add a note\n\nwith a body\n"),
                     0);
    assert_int_equal(git_commit_lookup(&c, f->repo, &id), 0);
    assert_string_equal(git_commit_author(c)->name, "Ministry of Finance");
    assert_string_equal(git_commit_author(c)->email, "XE-EXAMPLE-MOF");
    assert_string_equal(git_commit_committer(c)->name, "Ministry of Finance");
    assert_string_equal(git_commit_committer(c)->email, "XE-EXAMPLE-MOF");
    assert_string_equal(git_commit_message(c), "add a note\n\nwith a body\n");
    assert_true(git_oid_equal(git_commit_tree_id(c), git_tree_id(f->empty)));
    assert_int_equal(git_commit_parentcount(c), 0);

    assert_int_equal(git_commit_extract_signature(&sig, &data, f->repo, &id, "gpgsig"), 0);
    assert_true(strncmp(sig.ptr, "-----BEGIN SSH SIGNATURE-----", 29) == 0);
    assert_int_equal(twin_sshsig_verify(signer, sig.ptr, sig.size, TWIN_SSHSIG_NAMESPACE_GIT,
                                        data.ptr, data.size),
                     0);
    assert_memory_equal(signer, f->kp.pk, TWIN_PUBKEY_BYTES);
    /* The signature is for git's namespace and these bytes only. */
    assert_int_equal(twin_sshsig_verify(signer, sig.ptr, sig.size, "file", data.ptr, data.size),
                     TWIN_EVERIFY);
    data.ptr[data.size - 2] ^= 1;
    assert_int_equal(twin_sshsig_verify(signer, sig.ptr, sig.size, TWIN_SSHSIG_NAMESPACE_GIT,
                                        data.ptr, data.size),
                     TWIN_EVERIFY);
    /* No branch moved. */
    assert_branch_at(f, NULL);
    git_buf_dispose(&sig);
    git_buf_dispose(&data);
    git_commit_free(c);
}

/* twin's own split of the raw object agrees with libgit2's, so the validity predicate and stock
 * git read the same signature over the same bytes. */
static void the_raw_commit_splits_into_the_same_signature_and_payload(void **state)
{
    struct repo_fixture *f = *state;
    git_odb *odb = NULL;
    git_odb_object *obj = NULL;
    git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
    char *my_sig = NULL, *payload = NULL;
    size_t sig_len, payload_len;
    unsigned char signer[TWIN_PUBKEY_BYTES];
    assert_int_equal(git_repository_odb(&odb, f->repo), 0);
    assert_int_equal(git_odb_read(&obj, odb, &f->c1), 0);
    assert_int_equal(twin_sshsig_split_commit(&my_sig, &sig_len, &payload, &payload_len,
                                              git_odb_object_data(obj), git_odb_object_size(obj)),
                     0);
    assert_int_equal(git_commit_extract_signature(&sig, &data, f->repo, &f->c1, "gpgsig"), 0);
    assert_int_equal(payload_len, data.size);
    assert_memory_equal(payload, data.ptr, data.size);
    assert_int_equal(twin_sshsig_verify(signer, my_sig, sig_len, TWIN_SSHSIG_NAMESPACE_GIT, payload,
                                        payload_len),
                     0);
    assert_memory_equal(signer, f->kp.pk, TWIN_PUBKEY_BYTES);
    free(my_sig);
    free(payload);
    git_buf_dispose(&sig);
    git_buf_dispose(&data);
    git_odb_object_free(obj);
    git_odb_free(odb);
}

static void a_commit_is_dated_when_asked_or_now(void **state)
{
    struct repo_fixture *f = *state;
    git_oid id;
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, f->repo, &f->c1), 0);
    assert_int_equal(git_commit_time(c), 1700000000);
    assert_int_equal(git_commit_time_offset(c), 0);
    assert_int_equal(git_commit_author(c)->when.time, 1700000000);
    git_commit_free(c);

    assert_int_equal(twin_store_write_commit_at(&id, f->repo, &f->kp, "A", "XE-A", f->empty, NULL,
                                                0, "epoch\n", 0),
                     0);
    assert_int_equal(git_commit_lookup(&c, f->repo, &id), 0);
    assert_int_equal(git_commit_time(c), 0);
    git_commit_free(c);

    unsetenv("TWIN_TEST_CLOCK_SKEW");
    time_t before = time(NULL);
    assert_int_equal(
        twin_store_write_commit(&id, f->repo, &f->kp, "A", "XE-A", f->empty, NULL, 0, "now\n"), 0);
    time_t after = time(NULL);
    assert_int_equal(git_commit_lookup(&c, f->repo, &id), 0);
    assert_in_range(git_commit_time(c), before, after);
    assert_int_equal(git_commit_time_offset(c), 0);
    git_commit_free(c);
}

static void a_commit_keeps_its_parents_in_order(void **state)
{
    struct repo_fixture *f = *state;
    git_commit *p1 = NULL, *p2 = NULL, *c = NULL;
    git_oid id;
    assert_int_equal(git_commit_lookup(&p1, f->repo, &f->c1), 0);
    assert_int_equal(git_commit_lookup(&p2, f->repo, &f->c2), 0);
    const git_commit *parents[] = {p2, p1};
    assert_int_equal(
        twin_store_write_commit(&id, f->repo, &f->kp, "A", "XE-A", f->empty, parents, 2, "merge\n"),
        0);
    assert_int_equal(git_commit_lookup(&c, f->repo, &id), 0);
    assert_int_equal(git_commit_parentcount(c), 2);
    assert_true(git_oid_equal(git_commit_parent_id(c, 0), &f->c2));
    assert_true(git_oid_equal(git_commit_parent_id(c, 1), &f->c1));
    git_commit_free(c);
    git_commit_free(p2);
    git_commit_free(p1);
}

static void a_signer_that_cannot_be_a_commit_identity_is_refused(void **state)
{
    struct repo_fixture *f = *state;
    git_oid id;
    assert_error(twin_store_write_commit(&id, f->repo, &f->kp, "Ministry <x>", "XE-A", f->empty,
                                         NULL, 0, "m\n"),
                 TWIN_ERROR, "making the commit identity");
    assert_error(twin_store_write_commit(&id, f->repo, &f->kp, "Ministry", "XE<A>", f->empty, NULL,
                                         0, "m\n"),
                 TWIN_ERROR, "making the commit identity");
    assert_error(
        twin_store_write_commit(&id, f->repo, &f->kp, "", "XE-A", f->empty, NULL, 0, "m\n"),
        TWIN_ERROR, "making the commit identity");
}

/* ---- moving the branch ---------------------------------------------------------------------- */

static void advance_with_no_old_creates_the_branch_only_once(void **state)
{
    struct repo_fixture *f = *state;
    assert_int_equal(twin_store_advance(f->repo, NULL, &f->c1, "create"), 0);
    assert_branch_at(f, &f->c1);
    assert_error(twin_store_advance(f->repo, NULL, &f->c2, "create again"), TWIN_ECONFLICT,
                 "the branch moved while this change was being written");
    assert_branch_at(f, &f->c1);
}

static void advance_moves_only_from_the_old_head(void **state)
{
    struct repo_fixture *f = *state;
    assert_int_equal(twin_store_advance(f->repo, NULL, &f->c1, "create"), 0);
    assert_int_equal(twin_store_advance(f->repo, &f->c1, &f->c2, "move"), 0);
    assert_branch_at(f, &f->c2);
    /* Another writer got there first: old no longer matches. */
    assert_error(twin_store_advance(f->repo, &f->c1, &f->c3, "stale"), TWIN_ECONFLICT,
                 "the branch moved while this change was being written");
    assert_branch_at(f, &f->c2);
    assert_int_equal(twin_store_advance(f->repo, &f->c2, &f->c3, "move"), 0);
    assert_branch_at(f, &f->c3);
}

static void advance_from_an_old_head_when_there_is_no_branch_is_a_conflict(void **state)
{
    struct repo_fixture *f = *state;
    /* twin/store.h promises TWIN_ECONFLICT whenever the branch no longer points at old, and a
     * branch that is not there does not. */
    assert_error(twin_store_advance(f->repo, &f->c1, &f->c2, "move"), TWIN_ECONFLICT,
                 "the branch moved");
    assert_branch_at(f, NULL);
}

static void every_move_is_journalled_and_logged(void **state)
{
    struct repo_fixture *f = *state;
    char path[512], want[256], a[GIT_OID_HEXSZ + 1], b[GIT_OID_HEXSZ + 1];
    git_reflog *log = NULL;
    assert_int_equal(twin_store_advance(f->repo, NULL, &f->c1, "twin: first"), 0);
    assert_int_equal(twin_store_advance(f->repo, &f->c1, &f->c2, "twin: second"), 0);
    assert_int_equal(twin_store_advance(f->repo, &f->c1, &f->c3, "twin: refused"), TWIN_ECONFLICT);
    git_oid_tostr(a, sizeof(a), &f->c1);
    git_oid_tostr(b, sizeof(b), &f->c2);
    snprintf(want, sizeof(want), "%s %s\n%s %s\n", "0000000000000000000000000000000000000000", a, a,
             b);
    repo_file(path, sizeof(path), f, "twin-heads");
    char *journal = read_text(path, NULL);
    assert_string_equal(journal, want);
    free(journal);

    assert_int_equal(git_reflog_read(&log, f->repo, TWIN_BRANCH), 0);
    assert_int_equal(git_reflog_entrycount(log), 2);
    const git_reflog_entry *newest = git_reflog_entry_byindex(log, 0);
    assert_string_equal(git_reflog_entry_message(newest), "twin: second");
    assert_true(git_oid_equal(git_reflog_entry_id_old(newest), &f->c1));
    assert_true(git_oid_equal(git_reflog_entry_id_new(newest), &f->c2));
    assert_string_equal(git_reflog_entry_message(git_reflog_entry_byindex(log, 1)), "twin: first");
    git_reflog_free(log);
}

/* ---- the writer lock ------------------------------------------------------------------------ */

/* Whether another open file description could take the writer lock now. */
static bool lock_free(struct repo_fixture *f)
{
    char path[512];
    repo_file(path, sizeof(path), f, "twin.lock");
    int fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    int got = flock(fd, LOCK_EX | LOCK_NB);
    int err = errno;
    close(fd);
    if (got != 0)
        assert_int_equal(err, EWOULDBLOCK);
    return got == 0;
}

static void the_writer_lock_excludes_every_other_holder_until_released(void **state)
{
    struct repo_fixture *f = *state;
    int fd = -1;
    assert_int_equal(twin_store_lock(&fd, f->repo), 0);
    assert_true(fd >= 0);
    assert_false(lock_free(f));
    assert_false(lock_free(f)); /* a failed attempt changes nothing */
    twin_store_unlock(fd);
    assert_true(lock_free(f));
    /* And it can be taken again. */
    assert_int_equal(twin_store_lock(&fd, f->repo), 0);
    assert_false(lock_free(f));
    twin_store_unlock(fd);
    assert_true(lock_free(f));
    twin_store_unlock(-1); /* nothing to release */
}

static void advance_releases_the_writer_lock(void **state)
{
    struct repo_fixture *f = *state;
    assert_int_equal(twin_store_advance(f->repo, NULL, &f->c1, "create"), 0);
    assert_true(lock_free(f));
    assert_int_equal(twin_store_advance(f->repo, &f->c2, &f->c3, "refused"), TWIN_ECONFLICT);
    assert_true(lock_free(f));
}

static void advance_locked_moves_the_branch_under_a_held_lock(void **state)
{
    struct repo_fixture *f = *state;
    int fd = -1;
    assert_int_equal(twin_store_lock(&fd, f->repo), 0);
    assert_int_equal(twin_store_advance_locked(f->repo, NULL, &f->c1, "create"), 0);
    assert_int_equal(twin_store_advance_locked(f->repo, &f->c1, &f->c2, "move"), 0);
    assert_error(twin_store_advance_locked(f->repo, &f->c1, &f->c3, "stale"), TWIN_ECONFLICT,
                 "the branch moved");
    assert_error(twin_store_advance_locked(f->repo, NULL, &f->c3, "create"), TWIN_ECONFLICT,
                 "the branch moved");
    assert_false(lock_free(f)); /* still held: advance_locked does not release it */
    assert_branch_at(f, &f->c2);
    twin_store_unlock(fd);
}

/* ---- ref lock files ------------------------------------------------------------------------- */

static void make_ref_lock(struct repo_fixture *f, char *path, size_t size, time_t age)
{
    repo_file(path, size, f, TWIN_BRANCH ".lock");
    write_text(path, "", 0, 0644);
    if (age) {
        struct timespec times[2];
        clock_gettime(CLOCK_REALTIME, &times[0]);
        times[0].tv_sec -= age;
        times[1] = times[0];
        assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    }
}

static void a_ref_lock_held_by_another_program_is_a_conflict(void **state)
{
    struct repo_fixture *f = *state;
    char path[512];
    struct stat st;
    int fd = -1;
    assert_int_equal(twin_store_advance(f->repo, NULL, &f->c1, "create"), 0);
    /* Taken by git itself, say, after twin took its own lock: advance_locked does not clear it. */
    assert_int_equal(twin_store_lock(&fd, f->repo), 0);
    make_ref_lock(f, path, sizeof(path), 0);
    assert_error(twin_store_advance_locked(f->repo, &f->c1, &f->c2, "move"), TWIN_ECONFLICT,
                 "the branch is locked by another program (git?)");
    assert_int_equal(stat(path, &st), 0);
    twin_store_unlock(fd);
    assert_branch_at(f, &f->c1);
    assert_int_equal(unlink(path), 0);
}

static void a_stale_ref_lock_is_cleared_when_the_writer_lock_is_taken(void **state)
{
    struct repo_fixture *f = *state;
    char path[512];
    struct stat st;
    int fd = -1;
    assert_int_equal(twin_store_advance(f->repo, NULL, &f->c1, "create"), 0);
    /* Left by a writer killed an hour ago. */
    make_ref_lock(f, path, sizeof(path), 3600);
    assert_int_equal(twin_store_lock(&fd, f->repo), 0);
    assert_int_not_equal(stat(path, &st), 0);
    assert_int_equal(errno, ENOENT);
    twin_store_unlock(fd);
    /* And twin_store_advance, which takes the lock itself, moves past one. */
    make_ref_lock(f, path, sizeof(path), 3600);
    assert_int_equal(twin_store_advance(f->repo, &f->c1, &f->c2, "move"), 0);
    assert_branch_at(f, &f->c2);
    assert_int_not_equal(stat(path, &st), 0);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

#define REPO_TEST(t) cmocka_unit_test_setup_teardown(t, setup_repo, teardown_repo)

int main(void)
{
    const struct CMUnitTest tests[] = {
        REPO_TEST(a_written_commit_is_read_by_libgit2_and_its_signature_verifies),
        REPO_TEST(the_raw_commit_splits_into_the_same_signature_and_payload),
        REPO_TEST(a_commit_is_dated_when_asked_or_now),
        REPO_TEST(a_commit_keeps_its_parents_in_order),
        REPO_TEST(a_signer_that_cannot_be_a_commit_identity_is_refused),
        REPO_TEST(advance_with_no_old_creates_the_branch_only_once),
        REPO_TEST(advance_moves_only_from_the_old_head),
        REPO_TEST(advance_from_an_old_head_when_there_is_no_branch_is_a_conflict),
        REPO_TEST(every_move_is_journalled_and_logged),
        REPO_TEST(the_writer_lock_excludes_every_other_holder_until_released),
        REPO_TEST(advance_releases_the_writer_lock),
        REPO_TEST(advance_locked_moves_the_branch_under_a_held_lock),
        REPO_TEST(a_ref_lock_held_by_another_program_is_a_conflict),
        REPO_TEST(a_stale_ref_lock_is_cleared_when_the_writer_lock_is_taken),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
