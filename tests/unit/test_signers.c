/* The allowed-signers file for stock git: one line per key any member ever held, in
 * ssh-keygen's format, with a window of committer times that covers the commits twin accepts
 * that the key signed; after a key rotation the old key's window ends. Commits are dated by
 * clocks set wrong on purpose (TWIN_TEST_CLOCK_SKEW), so every window is known exactly; and
 * stock ssh-keygen, where installed, accepts each commit at its own time and refuses it outside
 * its key's window. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <time.h>

#include "helpers.h"
#include "twin/audit.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/signers.h"
#include "twin/sshsig.h"
#include "twin/global.h"

#define DAY 86400

static const struct twin_identity admin_who = {"Ministry of Finance of Exampleland",
                                               "XE-EXAMPLE-MOF", "NL", "north", "10"};
static const struct twin_identity editor_who = {"Revenue Authority of Samplestan", "XE-EXAMPLE-RA",
                                                "TZ", "south", NULL};

/* A history made by two members with clocks set days apart:
 *   genesis     admin, key a1   clock 4 days slow
 *   member add  admin, key a1   3 days slow: the editor, key e1
 *   note        editor, e1      5 days slow: dated before the add that lets it write
 *   note        admin, a1       2 days slow
 *   rotation    admin, a1       1 day slow: a1 retired, a2 active
 *   note        admin, a2       right */
struct history {
    struct fixture *f;
    twin_node *admin, *editor;
    twin_keypair a1, a2, e1;
    git_oid genesis, add, editor_note, admin_note, rotation, last;
};

static void skew(long long seconds)
{
    char text[32];
    snprintf(text, sizeof(text), "%lld", seconds);
    setenv("TWIN_TEST_CLOCK_SKEW", text, 1);
}

static int set_title(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "title", ctx);
}

static git_oid note(twin_node *n, const char *title)
{
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    if (twin_ops_add(id, &commit, n, "note", set_title, (void *)title))
        fail_msg("add: %s", twin_error_last());
    return commit;
}

static git_oid head_of(twin_node *n)
{
    git_oid head;
    assert_int_equal(twin_node_head(&head, n), 0);
    return head;
}

static int setup(void **state)
{
    struct history *h = calloc(1, sizeof(*h));
    char dir[192];
    git_oid commit;
    if (!h || fixture_setup((void **)&h->f))
        return -1;
    skew(-4 * DAY);
    snprintf(dir, sizeof(dir), "%s/north", h->f->dir);
    if (twin_network_create(&h->admin, dir, &admin_who, "Example Tax Twinning"))
        return -1;
    h->genesis = head_of(h->admin);
    h->a1 = *twin_node_key(h->admin);
    snprintf(dir, sizeof(dir), "%s/south", h->f->dir);
    if (twin_node_init(&h->editor, dir, &editor_who, NULL, NULL, twin_node_network_id(h->admin)))
        return -1;
    h->e1 = *twin_node_key(h->editor);
    skew(-3 * DAY);
    if (twin_ops_member_add(&commit, h->admin, &editor_who, "editor", h->e1.pk))
        return -1;
    h->add = commit;
    pull(h->editor, h->admin);
    skew(-5 * DAY);
    h->editor_note = note(h->editor, "Counterpart named");
    pull(h->admin, h->editor);
    skew(-2 * DAY);
    h->admin_note = note(h->admin, "Work plan agreed");
    skew(-1 * DAY);
    if (twin_ops_key_rotate(&h->rotation, h->admin)) {
        print_error("rotate: %s\n", twin_error_last());
        return -1;
    }
    h->a2 = *twin_node_key(h->admin);
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    h->last = note(h->admin, "Signed with the new key");
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

/* ---- reading the file ----------------------------------------------------------------------- */

static char *allowed(twin_node *n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    int rc = twin_signers_allowed(fp, n);
    fclose(fp);
    if (rc)
        fail_msg("allowed signers: %s", twin_error_last());
    return text;
}

static int64_t commit_time(twin_node *n, const git_oid *id)
{
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(n), id), 0);
    int64_t t = (int64_t)git_commit_time(c);
    git_commit_free(c);
    return t;
}

static void stamp(char out[32], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y%m%d%H%M%SZ", &tm);
}

/* The line ssh-keygen expects for key pk of org, valid from `after` (0: no start) to `before`
 * (< 0: no end). */
static void line_for(char out[400], const char *org, const unsigned char *pk, int64_t after,
                     int64_t before)
{
    char key[TWIN_OPENSSH_PUB_MAX], a[32], b[32], opts[100] = "";
    twin_key_format_openssh(key, pk);
    if (after > 0) {
        stamp(a, after);
        snprintf(opts, sizeof(opts), ",valid-after=\"%s\"", a);
    }
    if (before >= 0) {
        stamp(b, before);
        size_t used = strlen(opts);
        snprintf(opts + used, sizeof(opts) - used, ",valid-before=\"%s\"", b);
    }
    snprintf(out, 400, "%s namespaces=\"git,twin-checkpoint\"%s %s\n", org, opts, key);
}

/* ---- the windows ---------------------------------------------------------------------------- */

static void every_key_is_listed_with_the_window_of_its_commits(void **state)
{
    struct history *h = *state;
    /* The history is one twin accepts: otherwise the windows would mean nothing. */
    struct twin_verify_report *r = NULL;
    assert_int_equal(twin_audit_verify(&r, h->admin, 1), 0);
    for (size_t i = 0; i < r->nfaults; i++)
        print_error("fault: %s\n", r->faults[i].reason);
    assert_int_equal(r->nfaults, 0);
    twin_audit_verify_report_free(r);

    char *text = allowed(h->admin);
    char a1[400], e1[400], a2[400], expect[1200];
    /* a1: from the genesis to the rotation it signed, its last commit. */
    line_for(a1, "XE-EXAMPLE-MOF", h->a1.pk, commit_time(h->admin, &h->genesis),
             commit_time(h->admin, &h->rotation));
    /* e1: from its first commit, which its clock dated before the add, with no end. */
    line_for(e1, "XE-EXAMPLE-RA", h->e1.pk, commit_time(h->admin, &h->editor_note), -1);
    /* a2: from the rotation that made it active, with no end. */
    line_for(a2, "XE-EXAMPLE-MOF", h->a2.pk, commit_time(h->admin, &h->rotation), -1);
    snprintf(expect, sizeof(expect), "%s%s%s", a1, e1, a2);
    assert_string_equal(text, expect);
    free(text);

    /* The days between the commits are what the windows say. */
    assert_true(commit_time(h->admin, &h->editor_note) < commit_time(h->admin, &h->add));
    assert_true(commit_time(h->admin, &h->rotation) - commit_time(h->admin, &h->genesis) >=
                3 * DAY - 60);
}

static void the_file_is_the_same_on_every_node_with_the_history(void **state)
{
    struct history *h = *state;
    pull(h->editor, h->admin);
    char *ours = allowed(h->admin), *theirs = allowed(h->editor);
    assert_string_equal(ours, theirs);
    free(ours);
    free(theirs);
}

/* A key revoked ends at the later of the revocation and its last valid commit; a member removed
 * ends with its removal. */
static void a_revoked_key_and_a_removed_member_get_an_end(void **state)
{
    struct history *h = *state;
    git_oid revoke, removal, later;
    /* The editor gets a second key, and its first is revoked. */
    twin_keypair e2;
    keypair_from_seed(&e2, 0xe2);
    assert_int_equal(twin_ops_member_add_key(&later, h->admin, "XE-EXAMPLE-RA", e2.pk), 0);
    assert_int_equal(twin_ops_member_revoke_key(&revoke, h->admin, "XE-EXAMPLE-RA", h->e1.pk), 0);
    skew(DAY);
    assert_int_equal(twin_ops_member_remove(&removal, h->admin, "XE-EXAMPLE-RA"), 0);
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    char *text = allowed(h->admin);
    char e1[400], e2_line[400];
    line_for(e1, "XE-EXAMPLE-RA", h->e1.pk, commit_time(h->admin, &h->editor_note),
             commit_time(h->admin, &revoke));
    line_for(e2_line, "XE-EXAMPLE-RA", e2.pk, commit_time(h->admin, &later),
             commit_time(h->admin, &removal));
    if (!strstr(text, e1) || !strstr(text, e2_line))
        fail_msg("allowed signers:\n%swants\n%s%s", text, e1, e2_line);
    free(text);
}

/* ssh-keygen refuses a start of 0: a window from the epoch has none. */
static void a_window_from_the_epoch_has_no_start(void **state)
{
    struct fixture *f = NULL;
    twin_node *n = NULL;
    char dir[192];
    assert_int_equal(fixture_setup((void **)&f), 0);
    snprintf(dir, sizeof(dir), "%s/epoch", f->dir);
    skew(-(long long)time(NULL) - 100 * DAY); /* dates before 1970 are written as 0 */
    int rc = twin_network_create(&n, dir, &admin_who, "Epoch Network");
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    if (rc)
        fail_msg("create: %s", twin_error_last());
    git_oid genesis = head_of(n);
    assert_int_equal(commit_time(n, &genesis), 0);
    char *text = allowed(n), expect[400];
    line_for(expect, "XE-EXAMPLE-MOF", twin_node_key(n)->pk, 0, -1);
    assert_string_equal(text, expect);
    assert_null(strstr(text, "valid-after"));
    free(text);
    twin_node_free(n);
    fixture_teardown((void **)&f);
}

static void a_node_without_history_has_no_signers_to_list(void **state)
{
    struct history *h = *state;
    struct fixture *f = NULL;
    twin_node *n = NULL;
    char dir[192], *text = NULL;
    size_t len = 0;
    assert_int_equal(fixture_setup((void **)&f), 0);
    snprintf(dir, sizeof(dir), "%s/fresh", f->dir);
    assert_int_equal(
        twin_node_init(&n, dir, &editor_who, NULL, NULL, twin_node_network_id(h->admin)), 0);
    FILE *fp = open_memstream(&text, &len);
    assert_int_equal(twin_signers_allowed(fp, n), TWIN_ENOHISTORY);
    fclose(fp);
    assert_int_equal(len, 0);
    free(text);
    twin_node_free(n);
    fixture_teardown((void **)&f);
}

/* ---- stock ssh-keygen ----------------------------------------------------------------------- */

/* Checks commit's signature with ssh-keygen against the allowed-signers file as of time t: its
 * exit status. */
static int keygen_verify(struct history *h, const char *signers, const git_oid *commit,
                         const char *principal, int64_t t)
{
    git_odb *odb = NULL;
    git_odb_object *obj = NULL;
    char *sig = NULL, *payload = NULL, sig_path[256], msg_path[256], when[32];
    size_t sig_len, payload_len;
    assert_int_equal(git_repository_odb(&odb, twin_node_repo(h->admin)), 0);
    assert_int_equal(git_odb_read(&obj, odb, commit), 0);
    assert_int_equal(twin_sshsig_split_commit(&sig, &sig_len, &payload, &payload_len,
                                              git_odb_object_data(obj), git_odb_object_size(obj)),
                     0);
    git_odb_object_free(obj);
    git_odb_free(odb);
    snprintf(sig_path, sizeof(sig_path), "%s/commit.sig", h->f->dir);
    snprintf(msg_path, sizeof(msg_path), "%s/commit.payload", h->f->dir);
    write_text(msg_path, payload, payload_len, 0600);
    char *armored = malloc(sig_len + 2);
    assert_non_null(armored);
    snprintf(armored, sig_len + 2, "%s\n", sig);
    write_text(sig_path, armored, sig_len + 1, 0600);
    free(armored);
    free(sig);
    free(payload);
    stamp(when, t);
    return run("ssh-keygen -Y verify -f '%s' -I %s -n git -s '%s' -Overify-time=%s < '%s' "
               ">/dev/null 2>&1",
               signers, principal, sig_path, when, msg_path);
}

static void stock_ssh_keygen_accepts_each_commit_within_its_keys_window(void **state)
{
    struct history *h = *state;
    char signers[256];
    char *text = allowed(h->admin);
    snprintf(signers, sizeof(signers), "%s/allowed_signers", h->f->dir);
    write_text(signers, text, strlen(text), 0600);
    free(text);
    if (!have_tool("ssh-keygen"))
        skip();
    struct {
        const git_oid *commit;
        const char *principal;
    } commits[] = {
        {&h->genesis, "XE-EXAMPLE-MOF"},    {&h->add, "XE-EXAMPLE-MOF"},
        {&h->editor_note, "XE-EXAMPLE-RA"}, {&h->admin_note, "XE-EXAMPLE-MOF"},
        {&h->rotation, "XE-EXAMPLE-MOF"},   {&h->last, "XE-EXAMPLE-MOF"},
    };
    for (size_t i = 0; i < sizeof(commits) / sizeof(commits[0]); i++) {
        int64_t t = commit_time(h->admin, commits[i].commit);
        if (keygen_verify(h, signers, commits[i].commit, commits[i].principal, t) != 0)
            fail_msg("ssh-keygen refused commit %zu (%s) at its own time", i,
                     git_oid_tostr_s(commits[i].commit));
    }
    /* After the rotation the old key is no longer good; before its first commit the editor's
     * key is not good yet; and a key is good for its own member only. */
    int64_t rotated = commit_time(h->admin, &h->rotation);
    assert_int_not_equal(keygen_verify(h, signers, &h->admin_note, "XE-EXAMPLE-MOF", rotated + DAY),
                         0);
    int64_t first = commit_time(h->admin, &h->editor_note);
    assert_int_not_equal(keygen_verify(h, signers, &h->editor_note, "XE-EXAMPLE-RA", first - DAY),
                         0);
    assert_int_not_equal(keygen_verify(h, signers, &h->editor_note, "XE-EXAMPLE-MOF", first), 0);
    /* The new key is good from the rotation on, not before. */
    assert_int_equal(keygen_verify(h, signers, &h->last, "XE-EXAMPLE-MOF", rotated), 0);
    assert_int_not_equal(keygen_verify(h, signers, &h->last, "XE-EXAMPLE-MOF", rotated - 1), 0);
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
        HISTORY_TEST(every_key_is_listed_with_the_window_of_its_commits),
        HISTORY_TEST(the_file_is_the_same_on_every_node_with_the_history),
        HISTORY_TEST(a_revoked_key_and_a_removed_member_get_an_end),
        cmocka_unit_test(a_window_from_the_epoch_has_no_start),
        HISTORY_TEST(a_node_without_history_has_no_signers_to_list),
        HISTORY_TEST(stock_ssh_keygen_accepts_each_commit_within_its_keys_window),
    };
    return cmocka_run_group_tests(tests, setup_global, teardown_global);
}
