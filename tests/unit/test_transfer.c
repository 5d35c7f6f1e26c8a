#define _XOPEN_SOURCE 700
/* Moving history: packs of what a peer lacks, the quarantine, and refusal of invalid commits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "git/packbuild.h"
#include "twin/error.h"
#include "twin/network.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/store.h"
#include "twin/quarantine.h"
#include "twin/global.h"

struct fixture {
    char dir[256];
    twin_node *north, *south;
};

static int rm_entry(const char *p, const struct stat *s, int f, struct FTW *w)
{
    return remove(p);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char path[300];
    assert_non_null(f);
    assert_int_equal(twin_global_init(false), 0);
    snprintf(f->dir, sizeof(f->dir), "%s/twin-transfer-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    struct twin_identity north = {"North Ministry", "XE-EXAMPLE-NORTH", "NL", "north", NULL};
    struct twin_identity south = {"South Authority", "XE-EXAMPLE-SOUTH", "TZ", "south", NULL};
    snprintf(path, sizeof(path), "%s/north", f->dir);
    assert_int_equal(twin_network_create(&f->north, path, &north, "Transfer test"), 0);
    snprintf(path, sizeof(path), "%s/south", f->dir);
    assert_int_equal(
        twin_node_init(&f->south, path, &south, NULL, NULL, twin_node_network_id(f->north)), 0);
    git_oid c;
    assert_int_equal(
        twin_ops_member_add(&c, f->north, &south, "editor", twin_node_key(f->south)->pk), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    twin_node_free(f->north);
    twin_node_free(f->south);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    twin_global_shutdown();
    return 0;
}

static int to_quarantine(const void *data, size_t len, void *ctx)
{
    return twin_quarantine_append(ctx, data, len);
}

static int titled(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "title", ctx);
}

static git_oid head_of(twin_node *n)
{
    git_oid h;
    assert_int_equal(twin_node_head(&h, n), 0);
    return h;
}

/* Sends from -> to what to lacks, checks it, and on success accepts and moves to's branch. */
static size_t transfer(twin_node *from, twin_node *to, size_t *bad, char *reason, size_t rsize)
{
    git_oid want = head_of(from), have, first_bad;
    bool to_has = twin_node_head(&have, to) == 0;
    twin_quarantine *q = NULL;
    size_t commits, checked;
    assert_int_equal(twin_quarantine_new(&q, twin_node_repo(to)), 0);
    assert_int_equal(twin_packbuild_stream(&commits, twin_node_repo(from), &want, 1,
                                           to_has ? &have : NULL, to_has ? 1 : 0, to_quarantine, q),
                     0);
    assert_int_equal(twin_quarantine_finish(q), 0);
    assert_int_equal(twin_quarantine_check(&checked, bad, &first_bad, reason, rsize, q, &want,
                                           to_has ? &have : NULL),
                     0);
    assert_int_equal(checked, commits);
    if (*bad == 0) {
        assert_int_equal(twin_quarantine_accept(q), 0);
        assert_int_equal(
            twin_store_advance(twin_node_repo(to), to_has ? &have : NULL, &want, "test: sync"), 0);
    }
    twin_quarantine_free(q);
    return checked;
}

static void a_joined_node_receives_and_checks_the_whole_history(void **state)
{
    struct fixture *f = *state;
    char id[TWIN_ID_LEN + 1], reason[600];
    git_oid c;
    size_t bad;
    assert_int_equal(twin_ops_add(id, &c, f->north, "note", titled, "Kick-off"), 0);
    assert_int_equal(transfer(f->north, f->south, &bad, reason, sizeof(reason)), 3);
    assert_int_equal(bad, 0);
    git_oid a = head_of(f->north), b = head_of(f->south);
    assert_true(git_oid_equal(&a, &b));
    json_t *rec = NULL;
    assert_int_equal(twin_ops_get(&rec, f->south, NULL, NULL, id), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "Kick-off");
    json_decref(rec);
}

static void only_what_the_peer_lacks_is_sent(void **state)
{
    struct fixture *f = *state;
    char id[TWIN_ID_LEN + 1], reason[600];
    git_oid c;
    size_t bad;
    assert_int_equal(transfer(f->north, f->south, &bad, reason, sizeof(reason)), 2);
    /* South, an editor, writes; North takes just those commits. */
    assert_int_equal(twin_ops_add(id, &c, f->south, "note", titled, "From the South"), 0);
    assert_int_equal(twin_ops_add(id, &c, f->south, "note", titled, "Again"), 0);
    assert_int_equal(transfer(f->south, f->north, &bad, reason, sizeof(reason)), 2);
    assert_int_equal(bad, 0);
    json_t *rec = NULL;
    assert_int_equal(twin_ops_get(&rec, f->north, NULL, "note", id), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "Again");
    json_decref(rec);
}

/* A commit on north with the given parents and north's head tree (unsigned: the check refuses it,
 * which is not what is looked at here). */
static git_oid commit_with_parents(twin_node *n, const git_oid *parents, size_t count)
{
    git_repository *repo = twin_node_repo(n);
    git_oid head = head_of(n), id;
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

/* The receiver checks exactly the commits the peer sent that its history lacks, however many of
 * the sent commits' parents it already holds: with few, twin's walk over the pack decides; with
 * more, libgit2's walk does. Only when the receiver's head is among those parents does the check
 * say the sent history contains it. */
static void the_received_commits_are_those_the_receiver_lacks(void **state)
{
    struct fixture *f = *state;
    char id[TWIN_ID_LEN + 1], reason[600];
    git_oid line[8], first_bad;
    size_t bad, checked, commits;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(twin_ops_add(id, &line[i], f->north, "note", titled, "Shared"), 0);
        line[i] = head_of(f->north);
    }
    assert_int_equal(transfer(f->north, f->south, &bad, reason, sizeof(reason)), 10);
    git_oid base = head_of(f->south);
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
                                               1, to_quarantine, q),
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
    struct fixture *f = *state;
    char reason[600];
    size_t bad;
    git_oid c, forged;
    assert_int_equal(transfer(f->north, f->south, &bad, reason, sizeof(reason)), 2);
    /* South signs a commit that writes outside the places twin keeps anything. */
    git_repository *repo = twin_node_repo(f->south);
    git_oid before = head_of(f->north), blob, tree_id;
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
                                             "South Authority", "XE-EXAMPLE-SOUTH", tree, parents,
                                             1, "stray\n"),
                     0);
    assert_int_equal(twin_store_advance(repo, &before, &forged, "test: forged"), 0);
    (void)c;
    transfer(f->south, f->north, &bad, reason, sizeof(reason));
    assert_int_equal(bad, 1);
    assert_non_null(strstr(reason, "stray.txt"));
    git_oid after = head_of(f->north);
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

static int to_file(const void *data, size_t len, void *ctx)
{
    return fwrite(data, 1, len, ctx) == len ? 0 : -1;
}

static int bodied(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "body", ctx);
}

/* The pack writer's own deltas (version n of a record and of its trees against version n with
 * its lowest set bit cleared) make a pack stock git indexes strictly. A chain is never longer
 * than the bits set in a version's number: every path here has fewer than 256 versions, so
 * chains reach 5 or more and never 9. The receiver gets every version. */
static void packs_are_valid_git_packs_with_deltas(void **state)
{
    struct fixture *f = *state;
    char id[TWIN_ID_LEN + 1], body[400], path[600], cmd[2000], reason[600];
    git_oid c;
    size_t bad, commits;
    assert_int_equal(twin_ops_add(id, &c, f->north, "note", titled, "Work plan"), 0);
    for (int i = 0; i < 120; i++) {
        char other[TWIN_ID_LEN + 1];
        snprintf(body, sizeof(body),
                 "Revision %d of the work plan: the steering group met, reviewed the actions "
                 "and agreed the next steps; %d items remain open.",
                 i, 120 - i);
        assert_int_equal(twin_ops_update(&c, f->north, id, "set", bodied, body), 0);
        if (i % 10 == 0)
            assert_int_equal(twin_ops_add(other, &c, f->north, "note", titled, "Aside"), 0);
    }
    git_oid want = head_of(f->north);
    snprintf(path, sizeof(path), "%s/out.pack", f->dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(
        twin_packbuild_stream(&commits, twin_node_repo(f->north), &want, 1, NULL, 0, to_file, fp),
        0);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(commits, 2 + 1 + 120 + 12);
    if (system("command -v git >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof(cmd),
                 "cd '%s' && git init -q --bare check.git && git -C check.git index-pack --strict "
                 "-o '%s/out.idx' '%s' >/dev/null && git -C check.git verify-pack -v '%s/out.idx' "
                 "> '%s/verify.txt' && grep -q '^chain length = [5-8]:' '%s/verify.txt' && "
                 "! grep -q '^chain length = \\(9\\|[1-9][0-9]\\)' '%s/verify.txt'",
                 f->dir, f->dir, path, f->dir, f->dir, f->dir, f->dir);
        assert_int_equal(system(cmd), 0);
    }
    assert_int_equal(transfer(f->north, f->south, &bad, reason, sizeof(reason)), commits);
    assert_int_equal(bad, 0);
    json_t *rec = NULL;
    assert_int_equal(twin_ops_get(&rec, f->south, NULL, "note", id), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "body")), body);
    json_decref(rec);
}

/* A history twin's own diff does not take (an executable file, directories nested deeper than
 * records are) is still sent whole: those trees are read as libgit2 reads them. Stock git must
 * find every object of every commit in the pack. */
static void packs_of_trees_outside_twins_layout_hold_every_object(void **state)
{
    struct fixture *f = *state;
    char cmd[3000], path[600];
    if (system("command -v git >/dev/null 2>&1") != 0)
        skip();
    snprintf(
        cmd, sizeof(cmd),
        "cd '%s' && git init -q plain && cd plain && mkdir -p a/b/c/d/e && "
        "echo one > a/b/c/d/e/deep.txt && printf '#!/bin/sh\\n' > run.sh && chmod +x run.sh && "
        "git add -A && git -c user.name=Plain -c user.email=plain@example.org commit -qm one && "
        "echo two > a/b/c/d/e/deep.txt && echo more > a/b/other.txt && git add -A && "
        "git -c user.name=Plain -c user.email=plain@example.org commit -qm two",
        f->dir);
    assert_int_equal(system(cmd), 0);
    git_repository *repo = NULL;
    snprintf(path, sizeof(path), "%s/plain", f->dir);
    assert_int_equal(git_repository_open(&repo, path), 0);
    git_oid want;
    assert_int_equal(git_reference_name_to_id(&want, repo, "HEAD"), 0);
    snprintf(path, sizeof(path), "%s/plain.pack", f->dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    size_t commits = 0;
    assert_int_equal(twin_packbuild_stream(&commits, repo, &want, 1, NULL, 0, to_file, fp), 0);
    assert_int_equal(fclose(fp), 0);
    git_repository_free(repo);
    assert_int_equal(commits, 2);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && git init -q --bare plain-check.git && "
             "git -C plain-check.git index-pack --strict -o '%s/plain.idx' '%s' >/dev/null && "
             "mv '%s/plain.pack' '%s/plain.idx' plain-check.git/objects/pack/ && "
             "git -C plain-check.git update-ref HEAD %s && "
             "git -C plain-check.git fsck --no-dangling 2>&1 && "
             "test \"$(git -C plain-check.git rev-list --objects HEAD | wc -l)\" -eq 18",
             f->dir, f->dir, path, f->dir, f->dir, git_oid_tostr_s(&want));
    assert_int_equal(system(cmd), 0);
}

/* A pack built into memory. */
struct membuf {
    unsigned char *p;
    size_t len, cap;
};

static int to_mem(const void *data, size_t len, void *ctx)
{
    struct membuf *b = ctx;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    return 0;
}

/* Builds repo's pack of want's history on one thread and on several: the bytes are the same. */
static void assert_same_pack_on_any_threads(git_repository *repo, const git_oid *want,
                                            size_t expect_commits)
{
    struct membuf one = {0};
    size_t commits = 0;
    assert_int_equal(
        twin_packbuild_stream_threads(&commits, repo, want, 1, NULL, 0, 1, to_mem, &one), 0);
    assert_int_equal(commits, expect_commits);
    for (int threads = 0; threads <= 4; threads++) {
        struct membuf many = {0};
        if (threads == 1)
            continue;
        assert_int_equal(
            twin_packbuild_stream_threads(&commits, repo, want, 1, NULL, 0, threads, to_mem, &many),
            0);
        assert_int_equal(commits, expect_commits);
        assert_int_equal(many.len, one.len);
        assert_memory_equal(many.p, one.p, one.len);
        free(many.p);
    }
    free(one.p);
}

/* The objects of a long history are found on several threads, in chunks of commits, and put in
 * the pack in the order one thread would put them: the pack is the same, byte for byte, as it is
 * on one thread (deltas follow the writing order), and the receiver takes it. */
static void packs_are_the_same_on_any_number_of_threads(void **state)
{
    struct fixture *f = *state;
    char ids[6][TWIN_ID_LEN + 1], body[200], reason[600];
    git_oid c;
    size_t bad;
    for (int r = 0; r < 6; r++)
        assert_int_equal(twin_ops_add(ids[r], &c, f->north, "note", titled, "Thread"), 0);
    for (int i = 0; i < 300; i++) {
        snprintf(body, sizeof(body), "Revision %d: the minutes of meeting %d.", i, i / 6);
        assert_int_equal(twin_ops_update(&c, f->north, ids[i % 6], "set", bodied, body), 0);
    }
    git_oid want = head_of(f->north);
    assert_same_pack_on_any_threads(twin_node_repo(f->north), &want, 2 + 6 + 300);
    assert_int_equal(transfer(f->north, f->south, &bad, reason, sizeof(reason)), 2 + 6 + 300);
    assert_int_equal(bad, 0);
}

/* A history made with plain git in the fixture's directory `name`, its objects packed or loose:
 * 300 commits on main and a side branch of 40 from commit 100, merged at commit 200 (a first
 * parent that is not the commit before), trees twin's diff does not take (an executable file,
 * deep directories), and files and trees that go back to an earlier version. */
static git_repository *plain_history(struct fixture *f, const char *name, bool loose)
{
    char path[600], cmd[2000];
    snprintf(path, sizeof(path), "%s/%s.fi", f->dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    int mark = 0, side_tip = 0;
    for (int i = 1; i <= 300; i++) {
        if (i == 101)
            for (int j = 0; j < 40; j++) {
                fprintf(fp, "commit refs/heads/side\nmark :%d\n", ++mark);
                fprintf(fp, "committer Plain <plain@example.org> %d +0000\ndata 5\nside\n",
                        1700000000 + mark);
                if (j == 0)
                    fprintf(fp, "from :%d\n", mark - 1);
                fprintf(fp, "M 100644 inline side/s%d.txt\ndata <<END\nside %d\nEND\n\n", j % 5, j);
                side_tip = mark;
            }
        fprintf(fp, "commit refs/heads/main\nmark :%d\n", ++mark);
        fprintf(fp, "committer Plain <plain@example.org> %d +0000\ndata 5\nmain\n",
                1700000000 + mark);
        if (i == 200)
            fprintf(fp, "merge :%d\n", side_tip);
        fprintf(fp, "M 100644 inline f%d.txt\ndata <<END\nmain %d\nEND\n", i % 7, i);
        fprintf(fp, "M 100644 inline t/toggle.txt\ndata <<END\n%s\nEND\n", i % 2 ? "on" : "off");
        if (i % 10 == 0)
            fprintf(fp, "M 100755 inline run.sh\ndata <<END\n#!/bin/sh\n# %d\nEND\n", i);
        if (i % 13 == 0)
            fprintf(fp, "M 100644 inline a/b/c/d/e/deep%d.txt\ndata <<END\ndeep %d\nEND\n", i % 3,
                    i);
        fprintf(fp, "\n");
    }
    assert_int_equal(fclose(fp), 0);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && git init -q %s && cd %s && git symbolic-ref HEAD refs/heads/main && "
             "git -c fastimport.unpackLimit=%d fast-import --quiet < '%s'",
             f->dir, name, name, loose ? 100000 : 0, path);
    assert_int_equal(system(cmd), 0);
    git_repository *repo = NULL;
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    assert_int_equal(git_repository_open(&repo, path), 0);
    return repo;
}

static void packs_of_plain_histories_are_the_same_on_any_number_of_threads(void **state)
{
    struct fixture *f = *state;
    if (system("command -v git >/dev/null 2>&1") != 0)
        skip();
    git_repository *repo = plain_history(f, "plain", false);
    git_oid want;
    assert_int_equal(git_reference_name_to_id(&want, repo, "refs/heads/main"), 0);
    assert_same_pack_on_any_threads(repo, &want, 340);
    git_repository_free(repo);
}

/* A commit whose objects cannot be read ends the build with the same error on any number of
 * threads, before anything is sent. */
static void a_missing_tree_fails_the_build_the_same_on_any_number_of_threads(void **state)
{
    struct fixture *f = *state;
    char cmd[1000], first[600] = "";
    if (system("command -v git >/dev/null 2>&1") != 0)
        skip();
    git_repository *repo = plain_history(f, "damaged", true);
    /* The deep directory as commit 260 of main wrote it. */
    snprintf(
        cmd, sizeof(cmd),
        "cd '%s/damaged' && t=$(git rev-parse main~40:a/b/c/d/e) && "
        "rm \"$(git rev-parse --git-path objects)/$(echo $t | cut -c1-2)/$(echo $t | cut -c3-)\"",
        f->dir);
    assert_int_equal(system(cmd), 0);
    git_oid want;
    assert_int_equal(git_reference_name_to_id(&want, repo, "refs/heads/main"), 0);
    for (int threads = 1; threads <= 4; threads++) {
        struct membuf out = {0};
        size_t commits = 0;
        assert_int_equal(
            twin_packbuild_stream_threads(&commits, repo, &want, 1, NULL, 0, threads, to_mem, &out),
            TWIN_ERROR);
        assert_int_equal(out.len, 0);
        if (threads == 1)
            snprintf(first, sizeof(first), "%s", twin_error_last());
        assert_string_equal(twin_error_last(), first);
    }
    assert_non_null(
        strstr(first, "(a/b/c/d/e) cannot be read, the store is damaged: object not found"));
    git_repository_free(repo);
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
    struct fixture *f = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid c, first_bad;
    size_t commits, checked, bad, calls = 0;
    char reason[600];
    for (int i = 0; i < 2 * TWIN_CHECK_PROGRESS_EVERY; i++)
        assert_int_equal(twin_ops_add(id, &c, f->north, "note", titled, "Step"), 0);
    git_oid want = head_of(f->north);
    twin_quarantine *q = NULL;
    assert_int_equal(twin_quarantine_new(&q, twin_node_repo(f->south)), 0);
    assert_int_equal(twin_packbuild_stream(&commits, twin_node_repo(f->north), &want, 1, NULL, 0,
                                           to_quarantine, q),
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
    struct fixture *f = *state;
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
    struct fixture *f = *state;
    char id[TWIN_ID_LEN + 1], reason[600], path[128], list[400];
    size_t bad;
    git_oid c;
    assert_int_equal(twin_ops_add(id, &c, f->north, "note", titled, "Kick-off"), 0);
    transfer(f->north, f->south, &bad, reason, sizeof(reason));
    assert_int_equal(bad, 0);
    assert_int_equal(twin_ops_update(&c, f->north, id, "set", titled, "Kick-off, revised"), 0);

    /* South's copy of the record: where its pack holds it, stored whole in one zlib block. */
    git_tree *tree = NULL;
    git_commit *head = NULL;
    git_tree_entry *e = NULL;
    git_oid h = head_of(f->south);
    twin_record_path(path, sizeof(path), "note", id);
    assert_int_equal(git_commit_lookup(&head, twin_node_repo(f->south), &h), 0);
    assert_int_equal(git_commit_tree(&tree, head), 0);
    assert_int_equal(git_tree_entry_bypath(&e, tree, path), 0);
    char blob[GIT_OID_HEXSZ + 1];
    git_oid_tostr(blob, sizeof(blob), git_tree_entry_id(e));
    git_tree_entry_free(e);
    git_tree_free(tree);
    git_commit_free(head);
    snprintf(list, sizeof(list), "%s/where", f->dir);
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

    git_oid before = head_of(f->south);
    transfer(f->north, f->south, &bad, reason, sizeof(reason));
    assert_int_equal(bad, 1);
    assert_non_null(strstr(reason, "does not match its id"));
    git_oid after = head_of(f->south);
    assert_true(git_oid_equal(&before, &after));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_joined_node_receives_and_checks_the_whole_history, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(only_what_the_peer_lacks_is_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(the_received_commits_are_those_the_receiver_lacks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_invalid_commit_is_refused_and_nothing_moves, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bytes_that_are_not_a_pack_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(packs_are_valid_git_packs_with_deltas, setup, teardown),
        cmocka_unit_test_setup_teardown(packs_of_trees_outside_twins_layout_hold_every_object,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(packs_are_the_same_on_any_number_of_threads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            packs_of_plain_histories_are_the_same_on_any_number_of_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_missing_tree_fails_the_build_the_same_on_any_number_of_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(a_long_check_reports_progress_and_can_be_stopped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_check_of_received_history_hashes_the_stores_objects,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
