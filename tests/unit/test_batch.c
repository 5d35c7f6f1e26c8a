/* Group commit: twin's own SHA-1 and pack writer, and batches of signed commits. Every batch is
 * checked by stock git (fsck, verify-pack, verify-commit) and by twin verify, and a batch whose
 * branch moved underneath it either rebuilds on the new head or refuses without losing either
 * side's work. A batch that writes its packs through libgit2 ends with the same commits, records
 * and branch as one that writes them with twin's pack writer. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <sys/mman.h>
#include <zlib.h>

#include "helpers.h"
#include "git/gitfmt.h"
#include "git/pack.h"
#include "git/packread.h"
#include "base/sha1.h"
#include "twin/audit.h"
#include "twin/batch.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/global.h"

static const struct twin_identity who = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                         "NL", "north", "10"};

/* ---- SHA-1 ----------------------------------------------------------------------------------- */

static void hex(char *out, const unsigned char *d)
{
    for (int i = 0; i < TWIN_SHA1_BYTES; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha1_vectors(int hardware)
{
    static const struct {
        const char *in;
        const char *out;
    } v[] = {
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    };
    twin_sha1_use_hardware(hardware);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        unsigned char d[TWIN_SHA1_BYTES];
        char h[41];
        twin_sha1_ctx c;
        twin_sha1_init(&c);
        twin_sha1_update(&c, v[i].in, strlen(v[i].in));
        twin_sha1_final(&c, d);
        hex(h, d);
        assert_string_equal(h, v[i].out);
    }
    /* A million 'a', fed in odd-sized pieces. */
    unsigned char d[TWIN_SHA1_BYTES], buf[997];
    char h[41];
    memset(buf, 'a', sizeof(buf));
    twin_sha1_ctx c;
    twin_sha1_init(&c);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof(buf) ? left : sizeof(buf);
        twin_sha1_update(&c, buf, n);
        left -= n;
    }
    twin_sha1_final(&c, d);
    hex(h, d);
    assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    twin_sha1_use_hardware(1);
}

static void test_sha1_portable(void **state)
{
    sha1_vectors(0);
}

static void test_sha1_hardware(void **state)
{
    if (!twin_sha1_accelerated())
        skip();
    sha1_vectors(1);
}

/* Object ids agree with libgit2's for every length around the block boundaries. */
static void test_sha1_objects_match_libgit2(void **state)
{
    unsigned char data[300];
    randombytes_buf(data, sizeof(data));
    for (int hw = 0; hw < 2; hw++) {
        twin_sha1_use_hardware(hw);
        for (size_t len = 0; len <= sizeof(data); len++) {
            git_oid theirs, ours;
            assert_int_equal(git_odb_hash(&theirs, data, len, GIT_OBJECT_BLOB), 0);
            twin_sha1_object(ours.id, "blob", data, len);
            assert_true(git_oid_equal(&theirs, &ours));
        }
    }
    twin_sha1_use_hardware(1);
}

/* ---- nodes ---------------------------------------------------------------------------------- */

static twin_node *found(struct fixture *f, const char *name)
{
    char path[192];
    twin_node *n = NULL;
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    if (twin_network_create(&n, path, &who, "Example Partnership"))
        fail_msg("init: %s", twin_error_last());
    return n;
}

static int set_fields(json_t *rec, void *ctx)
{
    for (const char *const *p = ctx; *p; p += 2) {
        int rc = twin_record_set_path(rec, p[0], p[1]);
        if (rc)
            return rc;
    }
    return 0;
}
#define FIELDS(...) ((void *)(const char *const[]){__VA_ARGS__, NULL})

static void add_notes(twin_batch *b, size_t count, char ids[][TWIN_ID_LEN + 1])
{
    for (size_t i = 0; i < count; i++) {
        char title[64], id[TWIN_ID_LEN + 1];
        snprintf(title, sizeof(title), "Note %zu", i);
        int rc = twin_ops_batch_add(id, NULL, b, "note", set_fields, FIELDS("title", title));
        if (rc)
            fail_msg("batch add %zu: %s", i, twin_error_last());
        if (ids)
            memcpy(ids[i], id, sizeof(id));
    }
}

static size_t history_length(twin_node *n)
{
    git_revwalk *w = NULL;
    git_oid id, head;
    size_t count = 0;
    assert_int_equal(twin_node_head(&head, n), 0);
    assert_int_equal(git_revwalk_new(&w, twin_node_repo(n)), 0);
    assert_int_equal(git_revwalk_push(w, &head), 0);
    while (git_revwalk_next(&id, w) == 0)
        count++;
    git_revwalk_free(w);
    return count;
}

static void assert_verifies(twin_node *n, size_t commits)
{
    struct twin_verify_report *r = NULL;
    assert_int_equal(twin_audit_verify(&r, n, 2), 0);
    for (size_t i = 0; i < r->nfaults; i++)
        print_message("fault: %s\n", r->faults[i].reason);
    assert_int_equal(r->nfaults, 0);
    assert_int_equal(r->commits, commits);
    twin_audit_verify_report_free(r);
}

/* Stock git finds the repository sound, the packs well formed, and the head's signature good. */
static void assert_git_accepts(struct fixture *f, twin_node *n)
{
    const char *repo = git_repository_path(twin_node_repo(n));
    assert_int_equal(run("git --git-dir='%s' fsck --full --strict >/dev/null 2>&1", repo), 0);
    assert_int_equal(run("for i in '%s'/objects/pack/*.idx; do git verify-pack \"$i\" "
                         ">/dev/null 2>&1 || exit 1; done",
                         repo),
                     0);
    assert_int_equal(run("cd '%s' && twin_signers=$(mktemp) && "
                         "printf '%%s namespaces=\"git\" %%s\\n' '%s' \"$(ssh-keygen -y -f "
                         "'%s/node.key')\" > \"$twin_signers\" && "
                         "git --git-dir='%s' -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="
                         "\"$twin_signers\" verify-commit refs/heads/main >/dev/null 2>&1; "
                         "rc=$?; rm -f \"$twin_signers\"; exit $rc",
                         f->dir, who.org_id, twin_node_dir(n), repo),
                     0);
}

static void test_batch_writes_valid_history(void **state)
{
    struct fixture *f = *state;
    twin_node *n = found(f, "a");
    size_t before = history_length(n);
    twin_batch *b = NULL;
    assert_int_equal(twin_ops_batch_begin(&b, n, 100), 0);
    char ids[250][TWIN_ID_LEN + 1];
    add_notes(b, 250, ids);
    assert_int_equal(twin_batch_pending(b), 50); /* two automatic flushes */
    /* A record added in the batch can be changed in it before any flush. */
    git_oid commit;
    assert_int_equal(
        twin_ops_batch_update(&commit, b, ids[249], "set", set_fields, FIELDS("kind", "decision")),
        0);
    assert_int_equal(twin_batch_flush(b), 0);
    assert_int_equal(twin_batch_pending(b), 0);
    git_oid head;
    assert_int_equal(twin_node_head(&head, n), 0);
    assert_true(git_oid_equal(&head, &commit));
    twin_batch_free(b);

    assert_int_equal(history_length(n), before + 251);
    json_t *rec = NULL;
    assert_int_equal(twin_ops_get(&rec, n, NULL, NULL, ids[249]), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "kind")), "decision");
    json_decref(rec);
    assert_int_equal(twin_ops_get(&rec, n, NULL, NULL, ids[0]), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "Note 0");
    json_decref(rec);
    assert_verifies(n, before + 251);
    assert_git_accepts(f, n);
    twin_node_free(n);
}

/* The commit a batch makes is byte for byte the one libgit2 makes from the same signed data. */
static void test_batch_commit_matches_libgit2(void **state)
{
    struct fixture *f = *state;
    twin_node *n = found(f, "a");
    twin_batch *b = NULL;
    git_oid commit, remade;
    char id[TWIN_ID_LEN + 1];
    assert_int_equal(twin_ops_batch_begin(&b, n, 0), 0);
    assert_int_equal(twin_ops_batch_add(id, &commit, b, "note", set_fields,
                                        FIELDS("title", "Kick-off", "body", "Line one\nline two")),
                     0);
    assert_int_equal(twin_batch_flush(b), 0);
    twin_batch_free(b);
    git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
    assert_int_equal(
        git_commit_extract_signature(&sig, &data, twin_node_repo(n), &commit, "gpgsig"), 0);
    /* libgit2 wants the armor without its final newline, as twin signs it. */
    while (sig.size && sig.ptr[sig.size - 1] == '\n')
        sig.ptr[--sig.size] = '\0';
    assert_int_equal(
        git_commit_create_with_signature(&remade, twin_node_repo(n), data.ptr, sig.ptr, "gpgsig"),
        0);
    assert_true(git_oid_equal(&commit, &remade));
    git_buf_dispose(&sig);
    git_buf_dispose(&data);
    twin_node_free(n);
}

/* Another writer moves the branch while a batch is open: the batch lands on top of it. */
static void test_batch_rebuilds_on_moved_branch(void **state)
{
    struct fixture *f = *state;
    twin_node *n = found(f, "a");
    size_t before = history_length(n);
    twin_batch *b = NULL;
    char ids[20][TWIN_ID_LEN + 1], other[TWIN_ID_LEN + 1];
    git_oid commit;
    assert_int_equal(twin_ops_batch_begin(&b, n, 0), 0);
    add_notes(b, 20, ids);
    assert_int_equal(twin_ops_batch_update(NULL, b, ids[3], "set", set_fields,
                                           FIELDS("body", "changed in the batch")),
                     0);
    assert_int_equal(
        twin_ops_add(other, &commit, n, "note", set_fields, FIELDS("title", "Written meanwhile")),
        0);
    assert_int_equal(twin_batch_flush(b), 0);
    twin_batch_free(b);
    assert_int_equal(history_length(n), before + 22);
    json_t *rec = NULL;
    assert_int_equal(twin_ops_get(&rec, n, NULL, NULL, other), 0);
    json_decref(rec);
    assert_int_equal(twin_ops_get(&rec, n, NULL, NULL, ids[3]), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "body")), "changed in the batch");
    json_decref(rec);
    assert_verifies(n, before + 22);
    assert_git_accepts(f, n);
    twin_node_free(n);
}

/* ... unless it changed a record the other writer changed too: then the batch writes nothing and
 * says which record, and the other writer's change stands. */
static void test_batch_refuses_lost_update(void **state)
{
    struct fixture *f = *state;
    twin_node *n = found(f, "a");
    twin_batch *b = NULL;
    char ids[1][TWIN_ID_LEN + 1];
    git_oid commit, head;
    assert_int_equal(twin_ops_batch_begin(&b, n, 0), 0);
    add_notes(b, 1, ids);
    assert_int_equal(twin_batch_flush(b), 0);
    assert_int_equal(
        twin_ops_batch_update(NULL, b, ids[0], "set", set_fields, FIELDS("body", "from the batch")),
        0);
    assert_int_equal(twin_ops_update(&commit, n, ids[0], "set", set_fields,
                                     FIELDS("body", "from the other writer")),
                     0);
    assert_int_equal(twin_batch_flush(b), TWIN_ECONFLICT);
    assert_non_null(strstr(twin_error_last(), ids[0]));
    assert_int_equal(twin_node_head(&head, n), 0);
    assert_true(git_oid_equal(&head, &commit));
    json_t *rec = NULL;
    assert_int_equal(twin_ops_get(&rec, n, NULL, NULL, ids[0]), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "body")), "from the other writer");
    json_decref(rec);
    /* The batch goes on from the new head. */
    add_notes(b, 3, NULL);
    assert_int_equal(twin_batch_flush(b), 0);
    twin_batch_free(b);
    twin_node_free(n);
}

/* Many flushes leave few packs: small packs are joined, and nothing is lost in the joining. */
static void test_batch_packs_stay_few(void **state)
{
    struct fixture *f = *state;
    twin_node *n = found(f, "a");
    size_t before = history_length(n);
    twin_batch *b = NULL;
    assert_int_equal(twin_ops_batch_begin(&b, n, 3), 0);
    char ids[90][TWIN_ID_LEN + 1];
    add_notes(b, 90, ids); /* 30 packs before joining */
    twin_batch_free(b);
    assert_in_range(twin_pack_count(twin_node_repo(n)), 1, 8);
    for (size_t i = 0; i < 90; i++) {
        json_t *rec = NULL;
        assert_int_equal(twin_ops_get(&rec, n, NULL, "note", ids[i]), 0);
        json_decref(rec);
    }
    assert_verifies(n, before + 90);
    assert_git_accepts(f, n);
    twin_node_free(n);
}

/* Makes a pack of the first `count` objects of the history with git, and lists it as twin's own,
 * as a received pack is: the objects repeat those of twin's packs. */
static void add_repeating_pack(twin_node *n, size_t count)
{
    const char *repo = git_repository_path(twin_node_repo(n));
    char name[64], listed[128];
    FILE *p = NULL;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "git --git-dir='%s' rev-list --objects refs/heads/main | head -n %zu | cut -c1-40 | "
             "git --git-dir='%s' pack-objects -q '%s/objects/pack/pack'",
             repo, count, repo, repo);
    assert_non_null(p = popen(cmd, "r"));
    assert_non_null(fgets(name, sizeof(name), p));
    assert_int_equal(pclose(p), 0);
    name[strcspn(name, "\n")] = '\0';
    assert_int_equal(strlen(name), 40);
    snprintf(listed, sizeof(listed), "pack-%s", name);
    assert_int_equal(twin_pack_register(twin_node_repo(n), listed), 0);
}

/* Packs that repeat objects of others (a node that merged what a partner merged too receives
 * trees it holds) are joined all the same: one whose every object is elsewhere goes, and one
 * that repeats some is written again without the repeats. No pack holds an object twice. */
static void test_batch_joins_repeating_packs(void **state)
{
    struct fixture *f = *state;
    twin_node *n = found(f, "a");
    size_t before = history_length(n);
    twin_batch *b = NULL;
    char ids[30][TWIN_ID_LEN + 1];
    assert_int_equal(twin_ops_batch_begin(&b, n, 5), 0);
    add_notes(b, 30, ids);
    twin_batch_free(b);
    add_repeating_pack(n, 12); /* every object also in twin's packs */
    add_repeating_pack(n, 40);
    assert_int_equal(twin_ops_batch_begin(&b, n, 5), 0);
    add_notes(b, 5, NULL); /* one more pack, that repeats nothing */
    twin_batch_free(b);
    assert_int_equal(twin_pack_consolidate(twin_node_repo(n), 1, false), 0);
    assert_int_equal(twin_pack_count(twin_node_repo(n)), 1);
    const char *repo = git_repository_path(twin_node_repo(n));
    /* One pack, every object once, and all the history reaches but the genesis commit and its
     * tree, written loose. */
    assert_int_equal(run("cd '%s' && set -- objects/pack/pack-*.idx && test $# = 1 && "
                         "all=$(git show-index < \"$1\" | wc -l) && "
                         "once=$(git show-index < \"$1\" | cut -d' ' -f2 | sort -u | wc -l) && "
                         "reach=$(git rev-list --objects --all | wc -l) && "
                         "test \"$all\" -gt 0 && test \"$all\" = \"$once\" && "
                         "test \"$all\" -ge $((reach - 2))",
                         repo),
                     0);
    for (size_t i = 0; i < 30; i++) {
        json_t *rec = NULL;
        assert_int_equal(twin_ops_get(&rec, n, NULL, "note", ids[i]), 0);
        json_decref(rec);
    }
    assert_verifies(n, before + 35);
    assert_git_accepts(f, n);
    twin_node_free(n);
}

static size_t open_files(void)
{
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* A process that writes for long keeps a bounded number of files open, although every flush
 * writes a pack and joining removes packs libgit2 had opened: it does not keep the removed
 * ones. */
static void test_batch_open_files_stay_bounded(void **state)
{
    struct fixture *f = *state;
    twin_node *n = found(f, "a");
    twin_batch *b = NULL;
    assert_int_equal(twin_ops_batch_begin(&b, n, 1), 0); /* a pack per record */
    size_t before = 0, most = 0;
    for (int i = 0; i < 400; i++) {
        char id[TWIN_ID_LEN + 1];
        if (twin_ops_batch_add(id, NULL, b, "note", set_fields, FIELDS("title", "Kept open?")))
            fail_msg("batch add %d: %s", i, twin_error_last());
        json_t *rec = NULL; /* a read through libgit2 opens the packs it searches */
        assert_int_equal(twin_ops_get(&rec, n, NULL, "note", id), 0);
        json_decref(rec);
        size_t now = open_files();
        if (i == 20)
            before = now;
        if (now > most)
            most = now;
    }
    twin_batch_free(b);
    print_message("open files: %zu after 20 writes, at most %zu over 400\n", before, most);
    assert_true(most <= before + 16);
    twin_node_free(n);
}

/* Flips the byte at off of the file at path (xor x); twice restores it. */
static void flip_byte(const char *path, long off, unsigned char x)
{
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, off, SEEK_SET), 0);
    int c = fgetc(fp);
    assert_true(c != EOF);
    assert_int_equal(fseek(fp, off, SEEK_SET), 0);
    assert_int_equal(fputc(c ^ x, fp), c ^ x);
    assert_int_equal(fclose(fp), 0);
}

/* A byte flipped in an object's zlib checksum (its last four bytes in the pack): the reader
 * names the object and where it lies, as git's reads refuse the stream, for the stored blocks
 * twin writes as for the deflated trees and git's packs. */
static void test_packread_checks_zlib_checksums(void **state)
{
    struct fixture *f = *state;
    twin_node *n = found(f, "a");
    twin_batch *b = NULL;
    assert_int_equal(twin_ops_batch_begin(&b, n, 0), 0);
    add_notes(b, 12, NULL); /* one pack: records, commits, trees and tree deltas */
    assert_int_equal(twin_batch_flush(b), 0);
    twin_batch_free(b);
    const char *dir = git_repository_path(twin_node_repo(n));
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) /* git's own pack of the same objects, deltas on deltas */
            assert_int_equal(run("git --git-dir='%s' repack -adfq --depth=50 >/dev/null 2>&1", dir),
                             0);
        char list[256], pack[512];
        snprintf(list, sizeof(list), "%s/objects.txt", f->dir);
        assert_int_equal(run("p=$(ls '%s'/objects/pack/pack-*.pack | head -1) && "
                             "chmod u+w \"$p\" && echo \"$p\" > '%s' && "
                             "git verify-pack -v \"${p%%.pack}.idx\" | "
                             "awk 'NF >= 5 && $2 ~ /^(commit|tree|blob)$/ "
                             "{ print $1, $4, $5 }' >> '%s'",
                             dir, list, list),
                         0);
        FILE *fp = fopen(list, "r");
        assert_non_null(fp);
        assert_non_null(fgets(pack, sizeof(pack), fp));
        pack[strcspn(pack, "\n")] = '\0';
        char hexid[41];
        long in_pack, off;
        size_t checked = 0;
        while (fscanf(fp, "%40s %ld %ld", hexid, &in_pack, &off) == 3) {
            git_oid id;
            char where[64];
            assert_int_equal(git_oid_fromstr(&id, hexid), 0);
            twin_packread *packs = NULL;
            twin_pobj *o = NULL;
            flip_byte(pack, off + in_pack - 1 - (long)(checked % 4), 0x10);
            assert_int_equal(twin_packread_open(&packs, twin_node_repo(n)), 0);
            int rc = twin_packread_get(&o, packs, &id);
            snprintf(where, sizeof(where), "the object at offset %ld ", off);
            if (rc != TWIN_EVERIFY || !strstr(twin_error_last(), hexid) ||
                !strstr(twin_error_last(), where))
                fail_msg("object %s at %ld: %d, \"%s\"", hexid, off, rc, twin_error_last());
            twin_packread_free(packs);
            flip_byte(pack, off + in_pack - 1 - (long)(checked % 4), 0x10);
            checked++;
        }
        fclose(fp);
        assert_true(checked >= 12 * 5);
        unlink(list);
    }
    twin_node_free(n);
}

static void test_batch_writes_records_only(void **state)
{
    struct fixture *f = *state;
    twin_node *n = found(f, "a");
    twin_batch *b = NULL;
    assert_int_equal(twin_ops_batch_begin(&b, n, 0), 0);
    assert_int_equal(twin_batch_put(b, "members/XE-EXAMPLE-X.json", "{}", 2), TWIN_EINVALID);
    assert_non_null(strstr(twin_error_last(), "records only"));
    assert_int_equal(twin_batch_flush(b), 0); /* nothing pending: nothing to do */
    twin_batch_free(b);
    twin_node_free(n);
}

/* A batch reads the branch's trees through the tree cache the check of its commits then shares,
 * or through libgit2 (twin_batch_read_libgit2): either way its commits are checked before they are
 * published. One that writes a record out of its canonical form is refused and the branch stays;
 * changes made right go through, each commit valid. */
static void test_batch_checks_its_commits_however_it_reads_trees(void **state)
{
    struct fixture *f = *state;
    twin_node *n = found(f, "a");
    char ids[2][TWIN_ID_LEN + 1];
    git_oid c;
    assert_int_equal(twin_ops_add(ids[0], &c, n, "note", set_fields, FIELDS("title", "Agenda")), 0);
    size_t before = history_length(n);
    for (int libgit2 = 0; libgit2 < 2; libgit2++) {
        twin_batch *b = NULL;
        char path[128], text[256];
        git_oid head = helper_head(n), id;
        assert_int_equal(twin_ops_batch_begin(&b, n, 0), 0);
        assert_int_equal(twin_batch_read_libgit2(b, libgit2), 0);
        twin_record_new_id(ids[1]);
        assert_int_equal(twin_record_path(path, sizeof(path), "note", ids[1]), 0);
        int len = snprintf(text, sizeof(text), "{\"id\":\"%s\",\"type\":\"note\"}\n", ids[1]);
        assert_int_equal(twin_batch_put(b, path, text, (size_t)len), 0);
        assert_int_equal(twin_batch_commit(&id, b, "by hand\n"), 0);
        assert_error(twin_batch_flush(b), TWIN_EVERIFY, "which the validity predicate refuses");
        assert_non_null(strstr(twin_error_last(), "record is not in canonical form"));
        git_oid after = helper_head(n);
        assert_true(git_oid_equal(&after, &head));

        assert_int_equal(
            twin_ops_batch_update(&id, b, ids[0], "set", set_fields,
                                  FIELDS("body", libgit2 ? "Read by libgit2" : "Read by twin")),
            0);
        assert_int_equal(twin_ops_batch_add(ids[1], &id, b, "note", set_fields,
                                            FIELDS("title", libgit2 ? "Second" : "First")),
                         0);
        assert_int_equal(twin_batch_flush(b), 0);
        after = helper_head(n);
        assert_true(git_oid_equal(&after, &id));
        assert_int_equal(twin_batch_read_libgit2(b, !libgit2), 0); /* nothing pending */
        twin_batch_free(b);
        json_t *rec = NULL;
        assert_int_equal(twin_ops_get(&rec, n, NULL, "note", ids[0]), 0);
        assert_string_equal(json_string_value(json_object_get(rec, "body")),
                            libgit2 ? "Read by libgit2" : "Read by twin");
        json_decref(rec);
    }
    assert_verifies(n, before + 4);
    twin_node_free(n);
}

/* ---- twin's pack reader ------------------------------------------------------------------ */

struct compare {
    git_odb *odb;
    twin_packread *packs;
    size_t found, missing, differ, damaged;
    size_t bytes; /* of the objects found */
};

/* Reads one object both ways: through twin's pack reader and through libgit2. */
static int compare_object(const git_oid *id, void *ctx)
{
    struct compare *c = ctx;
    git_odb_object *want = NULL;
    twin_pobj *got = NULL;
    assert_int_equal(git_odb_read(&want, c->odb, id), 0);
    int rc = twin_packread_get(&got, c->packs, id);
    if (rc == 1) {
        c->found++;
        c->bytes += got->size;
        if (got->type != git_odb_object_type(want) || got->size != git_odb_object_size(want) ||
            memcmp(got->data, git_odb_object_data(want), got->size) != 0)
            c->differ++;
        twin_packread_release(got);
    } else if (rc == 0) {
        c->missing++;
    } else {
        assert_int_equal(rc, TWIN_EVERIFY);
        assert_non_null(strstr(twin_error_last(), ".pack: the object at offset"));
        c->damaged++;
    }
    git_odb_object_free(want);
    return 0;
}

static struct compare compare_all(git_repository *repo)
{
    struct compare c = {0};
    assert_int_equal(git_repository_odb(&c.odb, repo), 0);
    assert_int_equal(twin_packread_open(&c.packs, repo), 0);
    assert_int_equal(git_odb_foreach(c.odb, compare_object, &c), 0);
    git_oid none;
    memset(none.id, 0xab, sizeof(none.id));
    twin_pobj *o = NULL;
    assert_int_equal(twin_packread_get(&o, c.packs, &none), 0);
    twin_packread_free(c.packs);
    git_odb_free(c.odb);
    return c;
}

static void test_packread_reads_what_libgit2_reads(void **state)
{
    struct fixture *f = *state;
    twin_node *n = found(f, "a");
    twin_batch *b = NULL;
    assert_int_equal(twin_ops_batch_begin(&b, n, 150), 0);
    add_notes(b, 600, NULL); /* four packs, with chains of tree deltas */
    assert_int_equal(twin_batch_flush(b), 0);
    twin_batch_free(b);
    git_repository *repo = twin_node_repo(n);
    const char *dir = git_repository_path(repo);

    /* twin's packs: every packed object reads back as libgit2 reads it. */
    struct compare c = compare_all(repo);
    assert_true(c.found >= 3 * 600);
    assert_int_equal(c.differ, 0);
    assert_int_equal(c.damaged, 0);

    /* git's packs, with deep chains of deltas on deltas: the same. */
    assert_int_equal(run("git --git-dir='%s' repack -adfq --depth=100 --window=50 "
                         ">/dev/null 2>&1",
                         dir),
                     0);
    c = compare_all(repo);
    assert_true(c.found >= 4 * 600);
    assert_int_equal(c.missing, 0);
    assert_int_equal(c.differ, 0);
    assert_int_equal(c.damaged, 0);

    /* A pack overwritten in its middle: objects there are named damaged or read back different
     * (for the caller's hash to refuse), never a crash. */
    assert_int_equal(run("p=$(ls '%s'/objects/pack/*.pack) && s=$(stat -c %%s \"$p\") && "
                         "chmod u+w \"$p\" && head -c 4000 /dev/urandom | "
                         "dd of=\"$p\" bs=1 seek=$((s / 2)) conv=notrunc status=none",
                         dir),
                     0);
    git_odb *odb = NULL;
    assert_int_equal(git_repository_odb(&odb, repo), 0);
    twin_packread *packs = NULL;
    assert_int_equal(twin_packread_open(&packs, repo), 0);
    git_oid id;
    size_t bad = 0, read = 0;
    /* Every object, by id from the index (libgit2 may not read the damaged ones). */
    assert_int_equal(run("git --git-dir='%s' show-index < $(ls '%s'/objects/pack/*.idx) | "
                         "cut -d' ' -f2 > '%s/ids'",
                         dir, dir, f->dir),
                     0);
    char path[256];
    snprintf(path, sizeof(path), "%s/ids", f->dir);
    FILE *ids = fopen(path, "r");
    assert_non_null(ids);
    char line[64];
    while (fgets(line, sizeof(line), ids)) {
        assert_int_equal(git_oid_fromstrn(&id, line, 40), 0);
        twin_pobj *o = NULL;
        int rc = twin_packread_get(&o, packs, &id);
        if (rc == 1) {
            git_oid actual;
            twin_sha1_object(actual.id, git_object_type2string(o->type), o->data, o->size);
            bad += !git_oid_equal(&actual, &id);
            read++;
            twin_packread_release(o);
        } else {
            /* 0 when the damage reads as a delta on a base no pack holds: libgit2 then reads it */
            assert_true(rc == TWIN_EVERIFY || rc == 0);
            bad++;
        }
    }
    fclose(ids);
    assert_true(bad > 0);
    assert_true(read > 0);
    twin_packread_free(packs);
    git_odb_free(odb);
    twin_node_free(n);
}

/* The bytes of a file, whole. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n > 0);
    rewind(fp);
    unsigned char *p = malloc((size_t)n);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return p;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_packread_reads_packs_in_memory(void **state)
{
    struct fixture *f = *state;
    twin_node *n = found(f, "a");
    twin_batch *b = NULL;
    assert_int_equal(twin_ops_batch_begin(&b, n, 150), 0);
    add_notes(b, 600, NULL);
    assert_int_equal(twin_batch_flush(b), 0);
    twin_batch_free(b);
    git_repository *repo = twin_node_repo(n);
    const char *gitdir = git_repository_path(repo);
    assert_int_equal(run("git --git-dir='%s' repack -adq --depth=50 >/dev/null 2>&1", gitdir), 0);

    /* The store's one pack, as bytes in memory. */
    char dir[300], path[400], name[64] = "";
    snprintf(dir, sizeof(dir), "%sobjects/pack", gitdir);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int packs = 0;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "pack-", 5) == 0 && strlen(e->d_name) == 49 &&
            strcmp(e->d_name + 45, ".idx") == 0) {
            snprintf(name, sizeof(name), "%.45s", e->d_name);
            packs++;
        }
    closedir(d);
    assert_int_equal(packs, 1);
    struct twin_packread_mem mem = {.name = name};
    snprintf(path, sizeof(path), "%s/%s.idx", dir, name);
    unsigned char *idx = slurp(path, &mem.idx_len);
    snprintf(path, sizeof(path), "%s/%s.pack", dir, name);
    unsigned char *file = slurp(path, &mem.pack_len);
    /* In pages of its own, as a reader that let go of pages would empty them. */
    unsigned char *pack =
        mmap(NULL, mem.pack_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(pack != MAP_FAILED);
    memcpy(pack, file, mem.pack_len);
    free(file);
    mem.idx = idx;
    mem.pack = pack;

    /* Every object reads as libgit2 reads it, again and again: rounds past the point where the
     * reader lets go of the pages it read, which it must never do to memory that is not a
     * file's. */
    struct compare c = {0};
    assert_int_equal(git_repository_odb(&c.odb, repo), 0);
    assert_int_equal(twin_packread_open_mem(&c.packs, &mem, 1), 0);
    twin_packread_lean(c.packs);
    int rounds = 0;
    while (c.bytes < ((size_t)4 << 20)) { /* a lean reader lets go every 1 MiB */
        size_t before = c.found;
        assert_int_equal(git_odb_foreach(c.odb, compare_object, &c), 0);
        assert_true(c.found - before >= 4 * 600);
        assert_true(++rounds < 100);
    }
    assert_int_equal(c.missing, 0);
    assert_int_equal(c.differ, 0);
    assert_int_equal(c.damaged, 0);
    twin_packread_free(c.packs);

    /* Damage is named after the pack: the first object of the index given a type git has not. */
    uint32_t count = be32(idx + 8 + 255 * 4);
    assert_true(count > 0);
    git_oid first;
    memcpy(first.id, idx + 8 + 256 * 4, 20);
    uint32_t off = be32(idx + 8 + 256 * 4 + 24 * (size_t)count);
    assert_true(off >= 12 && off < mem.pack_len);
    unsigned char kept = pack[off];
    pack[off] = 0x00;
    twin_packread *r = NULL;
    twin_pobj *o = NULL;
    assert_int_equal(twin_packread_open_mem(&r, &mem, 1), 0);
    assert_int_equal(twin_packread_get(&o, r, &first), TWIN_EVERIFY);
    assert_null(o);
    char want[128];
    snprintf(want, sizeof(want), "%s.pack: the object at offset %u has an unknown type", name, off);
    assert_non_null(strstr(twin_error_last(), want));
    twin_packread_free(r);
    pack[off] = kept;

    /* Bytes that are not a pack, or an index that is not version 2, leave the pack out. */
    struct twin_packread_mem bad[3] = {mem, mem, mem};
    bad[0].pack_len = 31;
    static const unsigned char v1[8] = {0xff, 't', 'O', 'c', 0, 0, 0, 1};
    unsigned char *idx1 = malloc(mem.idx_len);
    assert_non_null(idx1);
    memcpy(idx1, idx, mem.idx_len);
    memcpy(idx1, v1, sizeof(v1));
    bad[1].idx = idx1;
    bad[2].idx_len = 8 + 256 * 4 + 28 * (size_t)count + 39; /* one byte short */
    assert_int_equal(twin_packread_open_mem(&r, bad, 3), 0);
    assert_int_equal(twin_packread_has(r, &first), 0);
    twin_packread_free(r);
    /* None at all: a reader that holds nothing. */
    assert_int_equal(twin_packread_open_mem(&r, NULL, 0), 0);
    assert_int_equal(twin_packread_get(&o, r, &first), 0);
    twin_packread_free(r);
    /* The good one beside them is read. */
    bad[1] = mem;
    assert_int_equal(twin_packread_open_mem(&r, bad, 3), 0);
    assert_int_equal(twin_packread_get(&o, r, &first), 1);
    assert_non_null(o);
    twin_packread_release(o);
    twin_packread_free(r);

    free(idx1);
    free(idx);
    munmap(pack, mem.pack_len);
    git_odb_free(c.odb);
    twin_node_free(n);
}

/* A pack of one blob at offset 12, its header stating size, its data "hi" deflated; and the
 * index. */
static void one_blob_pack(unsigned char *pack, size_t *pack_len, unsigned char *idx,
                          size_t *idx_len, const unsigned char id[20], size_t size)
{
    size_t at = 12;
    memcpy(pack, "PACK\0\0\0\2\0\0\0\1", 12);
    pack[at++] = (unsigned char)((size > 15 ? 0x80 : 0) | GIT_OBJECT_BLOB << 4 | (size & 15));
    for (size >>= 4; size; size >>= 7)
        pack[at++] = (unsigned char)((size > 127 ? 0x80 : 0) | (size & 127));
    uLongf zlen = 64;
    assert_int_equal(compress2(pack + at, &zlen, (const Bytef *)"hi", 2, 9), Z_OK);
    at += zlen;
    memset(pack + at, 0, 20);
    *pack_len = at + 20;
    memcpy(idx, "\377tOc\0\0\0\2", 8);
    for (int i = 0; i < 256; i++) {
        uint32_t f = i >= id[0];
        memcpy(idx + 8 + 4 * i, (unsigned char[4]){0, 0, 0, (unsigned char)f}, 4);
    }
    memcpy(idx + 1032, id, 20);
    memset(idx + 1052, 0, 4);                               /* CRC */
    memcpy(idx + 1056, (unsigned char[4]){0, 0, 0, 12}, 4); /* offset */
    memset(idx + 1060, 0, 40);
    *idx_len = 1100;
}

/* An object that says it is larger than the rest of its pack could inflate to is damage, named
 * as such before any memory is taken for it; one that says a size it could inflate to is
 * inflated and held to it. */
static void test_packread_refuses_sizes_past_the_pack(void **state)
{
    static const unsigned char id[20] = {0x42, 1, 2, 3};
    unsigned char pack[128], idx[1100];
    git_oid oid;
    memcpy(oid.id, id, 20);
    const size_t sizes[] = {2, 3, 1000, (size_t)1 << 20, (size_t)1 << 29};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct twin_packread_mem mem = {.name = "pack-one", .pack = pack, .idx = idx};
        one_blob_pack(pack, &mem.pack_len, idx, &mem.idx_len, id, sizes[i]);
        twin_packread *r = NULL;
        twin_pobj *o = NULL;
        assert_int_equal(twin_packread_open_mem(&r, &mem, 1), 0);
        assert_int_equal(twin_packread_has(r, &oid), 1);
        int rc = twin_packread_get(&o, r, &oid);
        if (sizes[i] == 2) {
            assert_int_equal(rc, 1);
            assert_int_equal(o->type, GIT_OBJECT_BLOB);
            assert_int_equal(o->size, 2);
            assert_memory_equal(o->data, "hi", 2);
            twin_packread_release(o);
        } else {
            assert_int_equal(rc, TWIN_EVERIFY);
            assert_null(o);
            assert_non_null(strstr(twin_error_last(), "pack-one.pack: the object at offset 12 "
                                                      "does not inflate to its stated size"));
        }
        twin_packread_free(r);
    }
}

/* A pack of the blob "hello" at offset 12 and a delta against it whose header states a result of
 * dst bytes, its instructions those that make "hello!"; and the index, the blob's id starting
 * with 0x10 and the delta's with 0x20. */
static void blob_and_delta_pack(unsigned char *pack, size_t *pack_len, unsigned char *idx,
                                size_t *idx_len, size_t dst)
{
    size_t at = 12;
    memcpy(pack, "PACK\0\0\0\2\0\0\0\2", 12);
    pack[at++] = GIT_OBJECT_BLOB << 4 | 5;
    uLongf zlen = 64;
    assert_int_equal(compress2(pack + at, &zlen, (const Bytef *)"hello", 5, 9), Z_OK);
    at += zlen;
    size_t delta_at = at;
    unsigned char delta[32];
    size_t n = 0;
    delta[n++] = 5; /* the base's size */
    for (size_t v = dst;; v >>= 7) {
        delta[n++] = (unsigned char)((v > 127 ? 0x80 : 0) | (v & 127));
        if (v <= 127)
            break;
    }
    memcpy(delta + n, "\x91\x00\x05\x01!", 5); /* copy the base's 5 bytes, insert "!" */
    n += 5;
    pack[at++] = 6 << 4 | (unsigned char)n; /* OFS_DELTA, n < 16 */
    pack[at++] = (unsigned char)(delta_at - 12);
    zlen = 64;
    assert_int_equal(compress2(pack + at, &zlen, delta, n, 9), Z_OK);
    at += zlen;
    memset(pack + at, 0, 20);
    *pack_len = at + 20;
    memcpy(idx, "\377tOc\0\0\0\2", 8);
    for (int i = 0; i < 256; i++) {
        uint32_t f = (i >= 0x10) + (i >= 0x20);
        memcpy(idx + 8 + 4 * i, (unsigned char[4]){0, 0, 0, (unsigned char)f}, 4);
    }
    memset(idx + 1032, 0, 2 * 20 + 2 * 4);
    idx[1032] = 0x10;
    idx[1052] = 0x20;
    memcpy(idx + 1080, (unsigned char[4]){0, 0, 0, 12}, 4);
    memcpy(idx + 1084, (unsigned char[4]){0, 0, 0, (unsigned char)delta_at}, 4);
    memset(idx + 1088, 0, 40);
    *idx_len = 1128;
}

/* A delta whose result is larger than its instructions could make from its base is malformed,
 * found before memory is taken for the result; one that says its true size applies. */
static void test_deltas_that_cannot_make_their_size_are_refused(void **state)
{
    /* Each instruction takes a byte at least and gives at most the base (16 MiB at most), or a
     * byte for each byte it takes. */
    assert_true(twin_gitfmt_delta_can_make(0, 0, 0));
    assert_false(twin_gitfmt_delta_can_make(1, 100, 0));
    assert_true(twin_gitfmt_delta_can_make(500, 100, 5));
    assert_false(twin_gitfmt_delta_can_make(501, 100, 5));
    assert_true(twin_gitfmt_delta_can_make(5, 0, 5));
    assert_false(twin_gitfmt_delta_can_make(6, 0, 5));
    assert_true(twin_gitfmt_delta_can_make((size_t)0xffffff * 3, (size_t)1 << 30, 3));
    assert_false(twin_gitfmt_delta_can_make((size_t)0xffffff * 3 + 1, (size_t)1 << 30, 3));

    unsigned char pack[128], idx[1128];
    git_oid delta_id;
    memset(delta_id.id, 0, 20);
    delta_id.id[0] = 0x20;
    const size_t sizes[] = {6, 25, 26, (size_t)1 << 29};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct twin_packread_mem mem = {.name = "pack-delta", .pack = pack, .idx = idx};
        blob_and_delta_pack(pack, &mem.pack_len, idx, &mem.idx_len, sizes[i]);
        twin_packread *r = NULL;
        twin_pobj *o = NULL;
        assert_int_equal(twin_packread_open_mem(&r, &mem, 1), 0);
        int rc = twin_packread_get(&o, r, &delta_id);
        if (sizes[i] == 6) {
            assert_int_equal(rc, 1);
            assert_int_equal(o->size, 6);
            assert_memory_equal(o->data, "hello!", 6);
            twin_packread_release(o);
        } else {
            assert_int_equal(rc, TWIN_EVERIFY);
            assert_null(o);
            assert_non_null(strstr(twin_error_last(), "pack-delta.pack: the object at offset "));
            assert_non_null(strstr(twin_error_last(), "has a malformed delta"));
        }
        twin_packread_free(r);
    }
}

/* Waits, when the second is nearly over, for the next one: two commits made now then carry the
 * same time. */
static void early_in_a_second(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_nsec > 600000000L) {
        struct timespec wait = {0, 1000000000L - ts.tv_nsec + 20000000L};
        nanosleep(&wait, NULL);
    }
}

/* Two copies of one node write the same changes in batches, one with twin's pack writer and one
 * through libgit2, flushing every few commits (so packs are joined as they pile up): each commit
 * has the same id on both, and in the end both branches have the same head, every record is the
 * same, both hold the same objects, and the libgit2 side's packs pass stock git and twin verify.
 * Only the packs differ. */
static void test_batch_through_libgit2_makes_the_same_history(void **state)
{
    struct fixture *f = *state;
    twin_node *n = found(f, "a"), *copy = NULL;
    char ids[4][TWIN_ID_LEN + 1], path[256];
    git_oid c;
    for (int i = 0; i < 4; i++) {
        char title[32];
        snprintf(title, sizeof(title), "Record %d", i);
        assert_int_equal(twin_ops_add(ids[i], &c, n, "note", set_fields, FIELDS("title", title)),
                         0);
    }
    snprintf(path, sizeof(path), "%s/b", f->dir);
    assert_int_equal(run("cp -a '%s' '%s'", twin_node_dir(n), path), 0);
    assert_int_equal(twin_node_open(&copy, path, NULL), 0);
    size_t before = history_length(n);
    twin_batch *twins = NULL, *libgit2s = NULL;
    assert_int_equal(twin_ops_batch_begin(&twins, n, 4), 0);
    assert_int_equal(twin_ops_batch_begin(&libgit2s, copy, 4), 0);
    assert_int_equal(twin_batch_set_libgit2(libgit2s, true), 0);
    for (int i = 0; i < 40; i++) {
        char body[96];
        git_oid a, b;
        snprintf(body, sizeof(body), "Minutes of meeting %d: the work plan stays as agreed.", i);
        early_in_a_second();
        assert_int_equal(
            twin_ops_batch_update(&a, twins, ids[i % 4], "set", set_fields, FIELDS("body", body)),
            0);
        assert_int_equal(twin_ops_batch_update(&b, libgit2s, ids[i % 4], "set", set_fields,
                                               FIELDS("body", body)),
                         0);
        assert_true(git_oid_equal(&a, &b));
    }
    /* Every commit was flushed (every fourth flushes). No switching writers with commits
     * pending; what is not flushed is dropped with the batch. */
    assert_int_equal(twin_batch_pending(libgit2s), 0);
    assert_int_equal(twin_batch_set_libgit2(libgit2s, false), 0);
    assert_int_equal(
        twin_ops_batch_update(&c, libgit2s, ids[0], "set", set_fields, FIELDS("kind", "decision")),
        0);
    assert_error(twin_batch_set_libgit2(libgit2s, true), TWIN_EINVALID, "nothing is pending");
    twin_batch_free(libgit2s);
    twin_batch_free(twins);

    git_oid head_twin = helper_head(n), head_libgit2 = helper_head(copy);
    assert_true(git_oid_equal(&head_twin, &head_libgit2));
    for (int i = 0; i < 4; i++) {
        json_t *x = NULL, *y = NULL;
        assert_int_equal(twin_ops_get(&x, n, NULL, "note", ids[i]), 0);
        assert_int_equal(twin_ops_get(&y, copy, NULL, "note", ids[i]), 0);
        assert_true(json_equal(x, y));
        json_decref(x);
        json_decref(y);
    }
    const char *repo_twin = git_repository_path(twin_node_repo(n)),
               *repo_libgit2 = git_repository_path(twin_node_repo(copy));
    assert_int_equal(run("test \"$(git --git-dir='%s' cat-file --batch-all-objects "
                         "--batch-check)\" = \"$(git --git-dir='%s' cat-file --batch-all-objects "
                         "--batch-check)\"",
                         repo_twin, repo_libgit2),
                     0);
    /* The packs themselves differ: libgit2 deflates the records twin stores as they are. */
    assert_int_not_equal(run("cmp -s '%s/twin-packs' '%s/twin-packs'", repo_twin, repo_libgit2), 0);
    assert_verifies(copy, before + 40);
    assert_git_accepts(f, copy);
    twin_node_free(copy);
    twin_node_free(n);
}

int main(void)
{
    if (twin_global_init(false))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_portable),
        cmocka_unit_test(test_sha1_hardware),
        cmocka_unit_test(test_sha1_objects_match_libgit2),
        cmocka_unit_test_setup_teardown(test_batch_writes_valid_history, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_batch_commit_matches_libgit2, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_batch_rebuilds_on_moved_branch, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_batch_refuses_lost_update, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_batch_packs_stay_few, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_batch_joins_repeating_packs, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_batch_open_files_stay_bounded, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_packread_checks_zlib_checksums, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_packread_reads_what_libgit2_reads, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_batch_writes_records_only, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_batch_checks_its_commits_however_it_reads_trees,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_batch_through_libgit2_makes_the_same_history,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_packread_reads_packs_in_memory, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(test_packread_refuses_sizes_past_the_pack),
        cmocka_unit_test(test_deltas_that_cannot_make_their_size_are_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    twin_global_shutdown();
    return rc;
}
