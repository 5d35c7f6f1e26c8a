/*
 * The pack builder (src/git/packbuild.c): the packs it streams are valid git packs with twin's
 * deltas, hold every object of histories made outside twin's layout, are the same bytes on any
 * number of threads, and a damaged store fails the build before anything is sent. libgit2's
 * packbuilder (the switch back to the library) packs the same commits, and the receiver ends
 * with the same objects from either pack.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git/packbuild.h"
#include "twin/error.h"
#include "twin/global.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "unit/helpers.h"

static int titled(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "title", ctx);
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
    struct helper_nodes *f = *state;
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
    git_oid want = helper_head(f->north);
    snprintf(path, sizeof(path), "%s/out.pack", f->f->dir);
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
                 f->f->dir, f->f->dir, path, f->f->dir, f->f->dir, f->f->dir, f->f->dir);
        assert_int_equal(system(cmd), 0);
    }
    assert_int_equal(helper_transfer(f->north, f->south, &bad, reason, sizeof(reason)), commits);
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
    struct helper_nodes *f = *state;
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
        f->f->dir);
    assert_int_equal(system(cmd), 0);
    git_repository *repo = NULL;
    snprintf(path, sizeof(path), "%s/plain", f->f->dir);
    assert_int_equal(git_repository_open(&repo, path), 0);
    git_oid want;
    assert_int_equal(git_reference_name_to_id(&want, repo, "HEAD"), 0);
    snprintf(path, sizeof(path), "%s/plain.pack", f->f->dir);
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
             f->f->dir, f->f->dir, path, f->f->dir, f->f->dir, git_oid_tostr_s(&want));
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
    struct helper_nodes *f = *state;
    char ids[6][TWIN_ID_LEN + 1], body[200], reason[600];
    git_oid c;
    size_t bad;
    for (int r = 0; r < 6; r++)
        assert_int_equal(twin_ops_add(ids[r], &c, f->north, "note", titled, "Thread"), 0);
    for (int i = 0; i < 300; i++) {
        snprintf(body, sizeof(body), "Revision %d: the minutes of meeting %d.", i, i / 6);
        assert_int_equal(twin_ops_update(&c, f->north, ids[i % 6], "set", bodied, body), 0);
    }
    git_oid want = helper_head(f->north);
    assert_same_pack_on_any_threads(twin_node_repo(f->north), &want, 2 + 6 + 300);
    assert_int_equal(helper_transfer(f->north, f->south, &bad, reason, sizeof(reason)),
                     2 + 6 + 300);
    assert_int_equal(bad, 0);
}

/* A history made with plain git in the fixture's directory `name`, its objects packed or loose:
 * 300 commits on main and a side branch of 40 from commit 100, merged at commit 200 (a first
 * parent that is not the commit before), trees twin's diff does not take (an executable file,
 * deep directories), and files and trees that go back to an earlier version. */
static git_repository *plain_history(struct helper_nodes *f, const char *name, bool loose)
{
    char path[600], cmd[2000];
    snprintf(path, sizeof(path), "%s/%s.fi", f->f->dir, name);
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
             f->f->dir, name, name, loose ? 100000 : 0, path);
    assert_int_equal(system(cmd), 0);
    git_repository *repo = NULL;
    snprintf(path, sizeof(path), "%s/%s", f->f->dir, name);
    assert_int_equal(git_repository_open(&repo, path), 0);
    return repo;
}

static void packs_of_plain_histories_are_the_same_on_any_number_of_threads(void **state)
{
    struct helper_nodes *f = *state;
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
    struct helper_nodes *f = *state;
    char cmd[1000], first[600] = "";
    if (system("command -v git >/dev/null 2>&1") != 0)
        skip();
    git_repository *repo = plain_history(f, "damaged", true);
    /* The deep directory as commit 260 of main wrote it. */
    snprintf(
        cmd, sizeof(cmd),
        "cd '%s/damaged' && t=$(git rev-parse main~40:a/b/c/d/e) && "
        "rm \"$(git rev-parse --git-path objects)/$(echo $t | cut -c1-2)/$(echo $t | cut -c3-)\"",
        f->f->dir);
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
/* ---- libgit2's packbuilder, the switch back to the library ---------------------------------- */

static int collect_id(const git_oid *id, void *payload)
{
    struct membuf *b = payload;
    return to_mem(id->id, GIT_OID_RAWSZ, b);
}

static int cmp_raw_id(const void *a, const void *b)
{
    return memcmp(a, b, GIT_OID_RAWSZ);
}

/* Every object of repo's object database, sorted. */
static struct membuf object_ids(git_repository *repo)
{
    struct membuf ids = {0};
    git_odb *odb = NULL;
    assert_int_equal(git_repository_odb(&odb, repo), 0);
    assert_int_equal(git_odb_refresh(odb), 0);
    assert_int_equal(git_odb_foreach(odb, collect_id, &ids), 0);
    git_odb_free(odb);
    qsort(ids.p, ids.len / GIT_OID_RAWSZ, GIT_OID_RAWSZ, cmp_raw_id);
    return ids;
}

/* The quarantine's sink, keeping the pack's header. */
struct counted_sink {
    twin_quarantine *q;
    unsigned char header[12];
    size_t seen;
};

static int to_quarantine_counted(const void *data, size_t len, void *ctx)
{
    struct counted_sink *c = ctx;
    for (size_t i = 0; i < len && c->seen < sizeof(c->header); i++)
        c->header[c->seen++] = ((const unsigned char *)data)[i];
    return twin_quarantine_append(c->q, data, len);
}

/* Sends what `to` lacks of from's branch, built by twin or by libgit2, into to's quarantine,
 * which must check and accept it; to's branch moves. Returns the builder's count of commits;
 * *objects gets the pack's. */
static size_t send_into(size_t *objects, git_repository *from, git_repository *to, bool libgit2)
{
    git_oid want, have, first_bad;
    assert_int_equal(git_reference_name_to_id(&want, from, TWIN_BRANCH), 0);
    bool to_has = git_reference_name_to_id(&have, to, TWIN_BRANCH) == 0;
    struct counted_sink sink = {0};
    size_t commits = 0, checked = 0, bad = 0;
    char reason[600] = "";
    assert_int_equal(twin_quarantine_new(&sink.q, to), 0);
    int rc = (libgit2 ? twin_packbuild_stream_libgit2
                      : twin_packbuild_stream)(&commits, from, &want, 1, to_has ? &have : NULL,
                                               to_has ? 1 : 0, to_quarantine_counted, &sink);
    if (rc)
        fail_msg("building the pack: %s", twin_error_last());
    if (twin_quarantine_finish(sink.q))
        fail_msg("the quarantine refused the pack: %s", twin_error_last());
    assert_int_equal(twin_quarantine_check(&checked, &bad, &first_bad, reason, sizeof(reason),
                                           sink.q, &want, to_has ? &have : NULL),
                     0);
    if (bad)
        fail_msg("a received commit was refused: %s", reason);
    assert_int_equal(checked, commits);
    assert_int_equal(twin_quarantine_accept(sink.q), 0);
    if (!to_has || !git_oid_equal(&have, &want))
        assert_int_equal(twin_store_advance(to, to_has ? &have : NULL, &want, "test: sync"), 0);
    twin_quarantine_free(sink.q);
    assert_int_equal(sink.seen, sizeof(sink.header));
    *objects = (size_t)sink.header[8] << 24 | (size_t)sink.header[9] << 16 |
               (size_t)sink.header[10] << 8 | sink.header[11];
    return commits;
}

/* Two receivers that hold the same objects to begin with take what they lack of north's
 * history, one from twin's pack and one from libgit2's: the same commits counted, every pack
 * accepted, packs of as many objects, and the same objects in the end: the whole history, then
 * an increment of it, then nothing new. */
static void libgit2s_packs_bring_the_same_objects(void **state)
{
    struct helper_nodes *f = *state;
    char id[TWIN_ID_LEN + 1], other[TWIN_ID_LEN + 1], body[200], path[600];
    git_oid c;
    assert_int_equal(twin_ops_add(id, &c, f->north, "note", titled, "Work plan"), 0);
    for (int i = 0; i < 80; i++) {
        snprintf(body, sizeof(body), "Revision %d of the work plan, with %d items open.", i,
                 80 - i);
        assert_int_equal(twin_ops_update(&c, f->north, id, "set", bodied, body), 0);
        if (i % 10 == 0)
            assert_int_equal(twin_ops_add(other, &c, f->north, "note", titled, "Aside"), 0);
    }
    /* The second receiver: a copy of south's repository as it is now. */
    git_repository *twins = twin_node_repo(f->south), *libgit2s = NULL;
    snprintf(path, sizeof(path), "%s/south-copy.git", f->f->dir);
    assert_int_equal(run("cp -a '%s' '%s'", git_repository_path(twins), path), 0);
    assert_int_equal(git_repository_open_bare(&libgit2s, path), 0);
    git_repository *north = twin_node_repo(f->north);
    for (int round = 0; round < 3; round++) {
        if (round == 2) /* nothing new: an empty pack either way */
            ;
        else if (round == 1)
            for (int i = 0; i < 15; i++) {
                snprintf(body, sizeof(body), "Revision %d after the first sync.", i);
                assert_int_equal(twin_ops_update(&c, f->north, id, "set", bodied, body), 0);
            }
        size_t twin_objects, libgit2_objects;
        size_t by_twin = send_into(&twin_objects, north, twins, false);
        size_t by_libgit2 = send_into(&libgit2_objects, north, libgit2s, true);
        assert_int_equal(by_libgit2, by_twin);
        assert_int_equal(libgit2_objects, twin_objects); /* neither sends what the other leaves */
        assert_int_equal(by_twin, round == 0 ? 2 + 1 + 80 + 8 : round == 1 ? 15 : 0);
        struct membuf a = object_ids(twins), b = object_ids(libgit2s);
        assert_true(a.len > 0);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.p, b.p, a.len);
        free(a.p);
        free(b.p);
    }
    /* And what each holds is north's history, as stock git lists it. */
    if (system("command -v git >/dev/null 2>&1") == 0) {
        char cmd[2000];
        snprintf(cmd, sizeof(cmd),
                 "test \"$(git --git-dir='%s' rev-list --objects %s | sort)\" = "
                 "\"$(git --git-dir='%s' rev-list --objects %s | sort)\" && "
                 "git --git-dir='%s' fsck --no-dangling >/dev/null 2>&1",
                 git_repository_path(north), git_oid_tostr_s(&c), path, git_oid_tostr_s(&c), path);
        assert_int_equal(system(cmd), 0);
    }
    git_repository_free(libgit2s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(packs_are_valid_git_packs_with_deltas, helper_nodes_setup,
                                        helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(packs_of_trees_outside_twins_layout_hold_every_object,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(packs_are_the_same_on_any_number_of_threads,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(
            packs_of_plain_histories_are_the_same_on_any_number_of_threads, helper_nodes_setup,
            helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(
            a_missing_tree_fails_the_build_the_same_on_any_number_of_threads, helper_nodes_setup,
            helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(libgit2s_packs_bring_the_same_objects, helper_nodes_setup,
                                        helper_nodes_teardown),
    };
    if (twin_global_init(false))
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    twin_global_shutdown();
    return rc;
}
