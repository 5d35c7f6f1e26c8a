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

/* ---- twin's own branch move against libgit2's ------------------------------------------------ */

typedef int (*advance_fn)(git_repository *, const git_oid *, const git_oid *, const char *);

static const advance_fn ways[2] = {twin_store_advance_locked, twin_store_advance_locked_libgit2};
static const char *const way_names[2] = {"twin", "libgit2"};

/* The files a move writes, as read back: NULL for a file that is not there. */
struct move_files {
    char *ref, *log, *head_log, *journal;
};

static char *read_if_there(struct repo_fixture *f, const char *name)
{
    char path[512];
    struct stat st;
    repo_file(path, sizeof(path), f, name);
    return stat(path, &st) == 0 ? read_text(path, NULL) : NULL;
}

/* A reflog with each line's time left out ("> 1700000000 +0100\t" becomes "> T +0100\t"): the
 * two ways write a second or so apart. */
static char *without_times(char *log)
{
    if (!log)
        return NULL;
    char *out = malloc(strlen(log) + 1), *o = out;
    assert_non_null(out);
    for (const char *p = log; *p;) {
        if (p[0] == '>' && p[1] == ' ' && p[2] >= '0' && p[2] <= '9') {
            memcpy(o, "> T", 3);
            o += 3;
            for (p += 2; *p >= '0' && *p <= '9'; p++)
                ;
        } else
            *o++ = *p++;
    }
    *o = '\0';
    free(log);
    return out;
}

static void read_move_files(struct move_files *m, struct repo_fixture *f)
{
    m->ref = read_if_there(f, TWIN_BRANCH);
    m->log = without_times(read_if_there(f, "logs/" TWIN_BRANCH));
    m->head_log = without_times(read_if_there(f, "logs/HEAD"));
    m->journal = read_if_there(f, "twin-heads");
}

static void free_move_files(struct move_files *m)
{
    free(m->ref);
    free(m->log);
    free(m->head_log);
    free(m->journal);
}

static void assert_same_file(const char *what, const char *config, const char *a, const char *b)
{
    if (!a != !b)
        fail_msg("%s (%s): twin %s it, libgit2 %s", what, config, a ? "wrote" : "did not write",
                 b ? "did" : "did not");
    if (a && strcmp(a, b) != 0)
        fail_msg("%s (%s) differs:\ntwin:\n%s\nlibgit2:\n%s", what, config, a, b);
}

/* Removes what moves wrote, so that the next way starts from the same repository. */
static void forget_moves(struct repo_fixture *f)
{
    const char *names[] = {TWIN_BRANCH, ("logs/" TWIN_BRANCH), "logs/HEAD", "twin-heads",
                           "packed-refs"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[512];
        repo_file(path, sizeof(path), f, names[i]);
        unlink(path);
    }
}

static void assert_no_ref_lock(struct repo_fixture *f)
{
    char path[512];
    struct stat st;
    repo_file(path, sizeof(path), f, TWIN_BRANCH ".lock");
    if (stat(path, &st) == 0)
        fail_msg("%s was left behind", path);
}

/* The repository's handle opened again, so that libgit2 reads the settings as they are now. */
static void reopen(struct repo_fixture *f)
{
    char path[512];
    snprintf(path, sizeof(path), "%s", git_repository_path(f->repo));
    git_tree_free(f->empty);
    git_repository_free(f->repo);
    assert_int_equal(git_repository_open(&f->repo, path), 0);
    git_oid empty;
    assert_int_equal(git_oid_fromstr(&empty, "4b825dc642cb6eb9a060e54bf8d69288fbee4904"), 0);
    assert_int_equal(git_tree_lookup(&f->empty, f->repo, &empty), 0);
}

/* One history of moves, as a node makes them, conflicts included, through one way: each refused
 * move leaves no lock behind. */
static void make_moves(struct repo_fixture *f, advance_fn advance)
{
    assert_int_equal(advance(f->repo, NULL, &f->c1, "twin: found network"), 0);
    assert_no_ref_lock(f);
    assert_error(advance(f->repo, NULL, &f->c2, "twin: again"), TWIN_ECONFLICT,
                 "the branch moved while this change was being written");
    assert_no_ref_lock(f);
    assert_int_equal(advance(f->repo, &f->c1, &f->c2, "twin: commit"), 0);
    assert_no_ref_lock(f);
    assert_error(advance(f->repo, &f->c1, &f->c3, "twin: stale"), TWIN_ECONFLICT,
                 "the branch moved while this change was being written");
    assert_no_ref_lock(f);
    /* A message over lines, with trailing space: libgit2 makes its newlines spaces and drops the
     * trailing whitespace. */
    assert_int_equal(advance(f->repo, &f->c2, &f->c3, "twin: sync\nfrom a peer  \n"), 0);
    assert_int_equal(advance(f->repo, &f->c3, &f->c3, "twin: nothing"), 0); /* already there */
    assert_int_equal(advance(f->repo, &f->c3, &f->c1, ""), 0);
    assert_no_ref_lock(f);
}

struct move_setting {
    const char *name;
    const char *logall; /* core.logAllRefUpdates, or NULL for unset */
    const char *head;   /* what HEAD holds */
    const char *user;   /* user.name and user.email, or NULL for none at all */
};

static void apply_setting(struct repo_fixture *f, const struct move_setting *m)
{
    char path[512];
    git_config *cfg = NULL;
    repo_file(path, sizeof(path), f, "config");
    assert_int_equal(git_config_open_ondisk(&cfg, path), 0);
    git_config_delete_entry(cfg, "core.logallrefupdates");
    git_config_delete_entry(cfg, "user.name");
    git_config_delete_entry(cfg, "user.email");
    if (m->logall)
        assert_int_equal(git_config_set_string(cfg, "core.logallrefupdates", m->logall), 0);
    if (m->user) {
        assert_int_equal(git_config_set_string(cfg, "user.name", m->user), 0);
        assert_int_equal(git_config_set_string(cfg, "user.email", "registrar@example.org"), 0);
    }
    git_config_free(cfg);
    git_error_clear();
    repo_file(path, sizeof(path), f, "HEAD");
    write_text(path, m->head, strlen(m->head), 0644);
}

static void twin_moves_the_branch_exactly_as_libgit2_does(void **state)
{
    struct repo_fixture *f = *state;
    char detached[64];
    snprintf(detached, sizeof(detached), "%s\n", git_oid_tostr_s(&f->c2));
    const struct move_setting settings[] = {
        {"logged always", "always", "ref: refs/heads/main\n", "Example Registrar"},
        {"logged (true)", "true", "ref: refs/heads/main\n", "Example Registrar"},
        {"not logged", "false", "ref: refs/heads/main\n", "Example Registrar"},
        {"unset in a bare repository", NULL, "ref: refs/heads/main\n", "Example Registrar"},
        {"HEAD on another branch", "always", "ref: refs/heads/other\n", "Example Registrar"},
        {"HEAD detached", "always", detached, "Example Registrar"},
        {"no identity anywhere", "always", "ref: refs/heads/main\n", NULL},
    };
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        const struct move_setting *m = &settings[i];
        struct move_files got[2];
        /* Without an identity, libgit2 signs reflog lines "unknown <unknown>": the user's own
         * settings are kept out of reach for that case. */
        const char *nowhere = m->user ? NULL : f->tmp->dir;
        assert_int_equal(
            git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, nowhere), 0);
        assert_int_equal(git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, nowhere),
                         0);
        assert_int_equal(
            git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_SYSTEM, nowhere), 0);
        for (int w = 0; w < 2; w++) {
            forget_moves(f);
            apply_setting(f, m);
            reopen(f);
            make_moves(f, ways[w]);
            read_move_files(&got[w], f);
        }
        char want_ref[GIT_OID_HEXSZ + 2];
        snprintf(want_ref, sizeof(want_ref), "%s\n", git_oid_tostr_s(&f->c1));
        assert_non_null(got[0].ref);
        assert_string_equal(got[0].ref, want_ref);
        assert_same_file("the ref", m->name, got[0].ref, got[1].ref);
        assert_same_file("the branch's reflog", m->name, got[0].log, got[1].log);
        assert_same_file("HEAD's reflog", m->name, got[0].head_log, got[1].head_log);
        assert_same_file("the journal", m->name, got[0].journal, got[1].journal);
        if (strcmp(m->name, "logged always") == 0) {
            /* Four moves logged, each signed by the configured identity. */
            assert_non_null(got[0].log);
            assert_non_null(strstr(got[0].log, " Example Registrar <registrar@example.org> T "));
            assert_non_null(strstr(got[0].log, "\ttwin: sync from a peer\n"));
            size_t lines = 0;
            for (const char *p = got[0].log; *p; p++)
                lines += *p == '\n';
            assert_int_equal(lines, 4);
        }
        if (!m->user)
            assert_non_null(strstr(got[0].log, " unknown <unknown> T "));
        for (int w = 0; w < 2; w++)
            free_move_files(&got[w]);
    }
    for (int level = GIT_CONFIG_LEVEL_SYSTEM; level <= GIT_CONFIG_LEVEL_GLOBAL; level++)
        git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, NULL);
}

static void a_move_of_either_way_is_refused_alike(void **state)
{
    struct repo_fixture *f = *state;
    char lock[512];
    repo_file(lock, sizeof(lock), f, TWIN_BRANCH ".lock");
    for (int w = 0; w < 2; w++) {
        forget_moves(f);
        reopen(f);
        /* A missing branch does not hold old. */
        assert_error(ways[w](f->repo, &f->c1, &f->c2, "move"), TWIN_ECONFLICT,
                     "the branch moved while this change was being written");
        assert_no_ref_lock(f);
        assert_branch_at(f, NULL);
        assert_int_equal(ways[w](f->repo, NULL, &f->c1, "create"), 0);
        char *log = read_if_there(f, "logs/" TWIN_BRANCH);
        assert_non_null(log);
        /* A branch that moved on. */
        assert_error(ways[w](f->repo, &f->c2, &f->c3, "move"), TWIN_ECONFLICT,
                     "the branch moved while this change was being written");
        assert_no_ref_lock(f);
        assert_branch_at(f, &f->c1);
        /* A lock held by another program: it stays, it is not twin's. */
        write_text(lock, "", 0, 0644);
        assert_error(ways[w](f->repo, &f->c1, &f->c2, "move"), TWIN_ECONFLICT,
                     "the branch is locked by another program (git?)");
        struct stat st;
        assert_int_equal(stat(lock, &st), 0);
        assert_int_equal(unlink(lock), 0);
        assert_branch_at(f, &f->c1);
        /* None of the refusals logged anything. */
        char *after = read_if_there(f, "logs/" TWIN_BRANCH);
        if (strcmp(log, after) != 0)
            fail_msg("%s: a refused move was logged", way_names[w]);
        free(after);
        free(log);
        /* A branch that is a symbolic ref holds no value to compare. */
        char ref[512];
        repo_file(ref, sizeof(ref), f, TWIN_BRANCH);
        write_text(ref, "ref: refs/heads/other\n", 22, 0644);
        assert_error(ways[w](f->repo, &f->c1, &f->c2, "move"), TWIN_ECONFLICT, "the branch moved");
        assert_no_ref_lock(f);
    }
}

static void a_branch_only_in_packed_refs_is_moved_and_git_agrees(void **state)
{
    struct repo_fixture *f = *state;
    if (!have_tool("git"))
        return;
    char git[512], c1[GIT_OID_HEXSZ + 1], c2[GIT_OID_HEXSZ + 1], c3[GIT_OID_HEXSZ + 1], want[256];
    git_oid_tostr(c1, sizeof(c1), &f->c1);
    git_oid_tostr(c2, sizeof(c2), &f->c2);
    git_oid_tostr(c3, sizeof(c3), &f->c3);
    snprintf(git, sizeof(git), "%s", git_repository_path(f->repo));
    char head[512];
    repo_file(head, sizeof(head), f, "HEAD");
    write_text(head, "ref: refs/heads/main\n", 21, 0644);
    assert_int_equal(twin_store_advance_locked(f->repo, NULL, &f->c1, "twin: found network"), 0);
    /* git moves the branch into packed-refs, leaving no loose file. */
    assert_int_equal(run("git --git-dir='%s' pack-refs --all", git), 0);
    struct stat st;
    char ref[512];
    repo_file(ref, sizeof(ref), f, TWIN_BRANCH);
    assert_int_not_equal(stat(ref, &st), 0);
    reopen(f);
    /* The compare reads packed-refs: a stale old is refused there too. */
    assert_error(twin_store_advance_locked(f->repo, &f->c2, &f->c3, "twin: stale"), TWIN_ECONFLICT,
                 "the branch moved");
    assert_no_ref_lock(f);
    assert_int_equal(twin_store_advance_locked(f->repo, &f->c1, &f->c2, "twin: commit"), 0);
    assert_no_ref_lock(f);
    assert_branch_at(f, &f->c2);
    char *loose = read_text(ref, NULL);
    snprintf(want, sizeof(want), "%s\n", c2);
    assert_string_equal(loose, want);
    free(loose);

    char out[512];
    snprintf(out, sizeof(out), "%s/git.out", f->tmp->dir);
    assert_int_equal(run("git --git-dir='%s' rev-parse refs/heads/main >'%s'", git, out), 0);
    char *text = read_text(out, NULL);
    assert_string_equal(text, want);
    free(text);
    snprintf(want, sizeof(want), "%s twin: commit\n%s twin: found network\n", c2, c1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(run("git --git-dir='%s' reflog show --format='%%H %%gs' %s >'%s'", git,
                             i ? "HEAD" : "refs/heads/main", out),
                         0);
        text = read_text(out, NULL);
        assert_string_equal(text, want);
        free(text);
    }
    assert_int_equal(run("git --git-dir='%s' fsck --no-progress --strict 2>'%s'", git, out), 0);
}

static int setup_durable_repo(void **state)
{
    return twin_global_init(true) == 0 ? setup_repo(state) : -1;
}

/* Back to the group's settings: writes not synced, and libgit2 started once. */
static int teardown_durable_repo(void **state)
{
    teardown_repo(state);
    twin_global_shutdown();
    int rc = twin_global_init(false);
    twin_global_shutdown();
    return rc == 0 ? 0 : -1;
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
/* With every write synced, as a node writes. */
#define DURABLE_TEST(t)                                                                            \
    cmocka_unit_test_setup_teardown(t, setup_durable_repo, teardown_durable_repo)

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
        DURABLE_TEST(twin_moves_the_branch_exactly_as_libgit2_does),
        DURABLE_TEST(a_move_of_either_way_is_refused_alike),
        DURABLE_TEST(a_branch_only_in_packed_refs_is_moved_and_git_agrees),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
