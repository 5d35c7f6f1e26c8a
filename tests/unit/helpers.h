/*
 * Helpers shared by the unit tests: a temporary directory per test, commands for interop checks
 * against stock tools, whole-file I/O, keys from fixed seeds, an SSH wire builder independent of
 * the code under test, and an assertion on twin's error code and message. Include it after
 * <cmocka.h>, with _XOPEN_SOURCE 700 defined before any include (nftw).
 */
#ifndef TWIN_TEST_HELPERS_H
#define TWIN_TEST_HELPERS_H

#if !defined(_XOPEN_SOURCE) || _XOPEN_SOURCE < 500
#error "define _XOPEN_SOURCE 700 before any include: the helpers use nftw"
#endif

#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <git2.h>

#include "twin/error.h"
#include "twin/key.h"
#include "twin/merge.h"
#include "twin/network.h"
#include "twin/node.h"
#include "git/packbuild.h"
#include "twin/ops.h"
#include "twin/quarantine.h"
#include "twin/store.h"
#include "store/wraps.h"

/* --- a temporary directory per test (cmocka setup and teardown) --- */

struct fixture {
    char dir[64];
    char path[128]; /* dir/key */
};

static inline int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/twin-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/key", f->dir);
    *state = f;
    return 0;
}

static inline int fixture_remove_entry(const char *path, const struct stat *st, int flag,
                                       struct FTW *ftw)
{
    return remove(path);
}

static inline int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    nftw(f->dir, fixture_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* --- commands and files --- */

/* Runs a shell command; its exit status, or -1 when it did not exit. */
static inline int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Interop checks skip rather than fail where a stock tool is missing. */
static inline bool have_tool(const char *name)
{
    if (run("command -v %s >/dev/null 2>&1", name) == 0)
        return true;
    print_message("%s is not installed: skipping this interop check\n", name);
    return false;
}

/* The whole file (up to 64 KiB), NUL-terminated; free() it. */
static inline char *read_text(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = malloc(65536);
    size_t n = 0;
    assert_non_null(fp);
    assert_non_null(buf);
    n = fread(buf, 1, 65535, fp);
    fclose(fp);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static inline void write_text(const char *path, const void *text, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* A bare repository dir/name made by `git fast-import` from the stream in the file script, its
 * objects loose or in one pack. Include <cmocka.h> first. */
static inline git_repository *helper_fast_import(const char *dir, const char *name,
                                                 const char *script, bool loose)
{
    char path[600];
    assert_int_equal(run("cd '%s' && git init -q --bare %s && cd %s && "
                         "git -c fastimport.unpackLimit=%d fast-import --quiet < '%s'",
                         dir, name, name, loose ? 100000 : 0, script),
                     0);
    git_repository *repo = NULL;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(git_repository_open(&repo, path), 0);
    return repo;
}

/* --- keys, wire data and errors --- */

static inline void keypair_from_seed(twin_keypair *kp, unsigned char fill)
{
    unsigned char seed[32];
    memset(seed, fill, sizeof(seed));
    assert_int_equal(crypto_sign_seed_keypair(kp->pk, kp->sk, seed), 0);
}

/* SSH wire data written from the specifications, not with twin's own writer, so a test can
 * build exactly the malformed input it needs. */
struct buf {
    unsigned char b[4096];
    size_t n;
};

static inline void put(struct buf *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof(b->b));
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static inline void put32(struct buf *b, uint32_t v)
{
    unsigned char x[4] = {v >> 24, v >> 16, v >> 8, v};
    put(b, x, 4);
}

static inline void putstr(struct buf *b, const void *p, size_t n)
{
    put32(b, (uint32_t)n);
    put(b, p, n);
}

/* Armor as ssh-keygen writes it: "-----BEGIN <label>-----", base64 in 70-column lines,
 * "-----END <label>-----", with or without a final newline. free() the result. */
static inline char *armor_text(const char *label, const unsigned char *blob, size_t len,
                               bool final_newline)
{
    char b64[8192], *text = malloc(10000);
    size_t pos = 0, b64_len;
    assert_non_null(text);
    sodium_bin2base64(b64, sizeof(b64), blob, len, sodium_base64_VARIANT_ORIGINAL);
    b64_len = strlen(b64);
    pos += (size_t)snprintf(text, 10000, "-----BEGIN %s-----\n", label);
    for (size_t i = 0; i < b64_len; i += 70)
        pos += (size_t)snprintf(text + pos, 10000 - pos, "%.70s\n", b64 + i);
    snprintf(text + pos, 10000 - pos, "-----END %s-----%s", label, final_newline ? "\n" : "");
    return text;
}

/* --- seeded randomness, the same on every machine --- */

struct rng {
    uint64_t s;
};

/* A number below n (n > 0). */
static inline uint32_t rnd(struct rng *r, uint32_t n)
{
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(r->s >> 33) % n;
}

/* The call failed with code and a message that mentions part. */
static inline void assert_error(int got, int code, const char *part)
{
    assert_int_equal(got, code);
    if (!strstr(twin_error_last(), part))
        fail_msg("message \"%s\" does not mention \"%s\"", twin_error_last(), part);
}

/* --- a sync without the network --- */

struct helper_copy {
    git_odb *from, *to;
};

static inline int helper_copy_object(const git_oid *id, void *payload)
{
    struct helper_copy *c = payload;
    git_odb_object *obj = NULL;
    git_oid written;
    if (git_odb_exists(c->to, id))
        return 0;
    if (git_odb_read(&obj, c->from, id) < 0)
        return -1;
    int rc = git_odb_write(&written, c->to, git_odb_object_data(obj), git_odb_object_size(obj),
                           git_odb_object_type(obj));
    git_odb_object_free(obj);
    return rc;
}

/* The branch head of n. Include <cmocka.h> first. */
static inline git_oid helper_head(twin_node *n)
{
    git_oid h;
    assert_int_equal(twin_node_head(&h, n), 0);
    return h;
}

/* Copies every object of src's store into dst's. (It copies objects rather than fetch: libgit2
 * 1.5 leaks pcre2 match data in git_remote_create_anonymous.) Include <cmocka.h> first. */
static inline void helper_copy_objects(twin_node *dst, twin_node *src)
{
    struct helper_copy c = {NULL, NULL};
    assert_int_equal(git_repository_odb(&c.from, twin_node_repo(src)), 0);
    assert_int_equal(git_repository_odb(&c.to, twin_node_repo(dst)), 0);
    assert_int_equal(git_odb_foreach(c.from, helper_copy_object, &c), 0);
    git_odb_free(c.to);
    git_odb_free(c.from);
}

/* Makes dst's branch what src's is: the tests' stand-in for a sync session, for histories that
 * are one line. Include <cmocka.h> first. */
static inline void pull(twin_node *dst, twin_node *src)
{
    git_reference *ref = NULL;
    git_oid head;
    assert_int_equal(twin_node_head(&head, src), 0);
    helper_copy_objects(dst, src);
    assert_int_equal(git_reference_create(&ref, twin_node_repo(dst), TWIN_BRANCH, &head, 1, "pull"),
                     0);
    git_reference_free(ref);
}

/* The stand-in for a sync session between diverged heads: src's objects copied into dst's store,
 * and dst's branch moved to the merge of its head and src's that dst signs, as the initiator of
 * a session does (pull(src, dst) then brings src to it, and helper_pass_wraps the wraps). Returns
 * the merge's result. Include <cmocka.h> first. */
static inline struct twin_merge_result helper_merge(twin_node *dst, twin_node *src)
{
    git_oid ours = helper_head(dst), theirs = helper_head(src), merge;
    struct twin_merge_result r;
    helper_copy_objects(dst, src);
    if (twin_merge_commit(&merge, &r, dst, NULL, &ours, &theirs))
        fail_msg("merge: %s", twin_error_last());
    assert_int_equal(twin_store_advance(twin_node_repo(dst), &ours, &merge, "test: merge"), 0);
    return r;
}

static inline int helper_to_quarantine(const void *data, size_t len, void *ctx)
{
    return twin_quarantine_append(ctx, data, len);
}

/* A sync session's work without the network: builds the pack of what `to` lacks of from's branch,
 * lets `to`'s quarantine check every received commit, and on success accepts it and moves to's
 * branch. *bad gets the number of refused commits and reason why the first was refused; returns
 * the number of commits checked. */
static inline size_t helper_transfer(twin_node *from, twin_node *to, size_t *bad, char *reason,
                                     size_t rsize)
{
    git_oid want = helper_head(from), have, first_bad;
    bool to_has = twin_node_head(&have, to) == 0;
    twin_quarantine *q = NULL;
    size_t commits, checked;
    assert_int_equal(twin_quarantine_new(&q, twin_node_repo(to)), 0);
    assert_int_equal(twin_packbuild_stream(&commits, twin_node_repo(from), &want, 1,
                                           to_has ? &have : NULL, to_has ? 1 : 0,
                                           helper_to_quarantine, q),
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

/* Moves n's branch to a commit, signed with n's key as signer (name, org id), that sets the file
 * at path to the len bytes of text: for files no write operation makes yet. Include <cmocka.h>
 * first. */
static inline git_oid helper_commit_file(twin_node *n, const char *name, const char *org_id,
                                         const char *path, const char *text, size_t len)
{
    git_repository *repo = twin_node_repo(n);
    git_oid head = helper_head(n), blob, tree_id, c;
    git_commit *parent = NULL;
    git_tree *tree = NULL, *updated = NULL;
    assert_int_equal(git_commit_lookup(&parent, repo, &head), 0);
    assert_int_equal(git_commit_tree(&tree, parent), 0);
    assert_int_equal(git_blob_create_from_buffer(&blob, repo, text, len), 0);
    git_tree_update up = {
        .action = GIT_TREE_UPDATE_UPSERT, .id = blob, .filemode = GIT_FILEMODE_BLOB, .path = path};
    assert_int_equal(git_tree_create_updated(&tree_id, repo, tree, 1, &up), 0);
    assert_int_equal(git_tree_lookup(&updated, repo, &tree_id), 0);
    const git_commit *parents[1] = {parent};
    assert_int_equal(twin_store_write_commit(&c, repo, twin_node_key(n), name, org_id, updated,
                                             parents, 1, "set a file\n"),
                     0);
    assert_int_equal(twin_store_advance(repo, &head, &c, "test: commit"), 0);
    git_tree_free(updated);
    git_tree_free(tree);
    git_commit_free(parent);
    return c;
}

static inline int helper_add_wrap(const struct twin_wrap *w, void *ctx)
{
    struct twin_wrap copy = *w;
    bool added;
    return twin_wraps_add(ctx, &copy, &added);
}

/* What a sync session's wrap exchange would bring: every wrap `from` keeps, into to's store,
 * unchecked. Include <cmocka.h> first. */
static inline void helper_pass_wraps(twin_node *to, twin_node *from)
{
    twin_wraps *src = NULL, *dst = NULL;
    uint64_t upto;
    bool more;
    assert_int_equal(twin_node_wraps(&src, from), 0);
    assert_int_equal(twin_node_wraps(&dst, to), 0);
    struct twin_wraps_range all = {.since = 0, .until = UINT64_MAX, .max = 100000};
    assert_int_equal(twin_wraps_since(src, &all, helper_add_wrap, dst, &upto, &more), 0);
    assert_false(more);
}

/* --- two nodes of one network: north founds it and admits south as an editor --- */

static const struct twin_identity helper_north_who = {"Ministry North", "XE-EXAMPLE-N", "NL",
                                                      "north", NULL};
static const struct twin_identity helper_south_who = {"Ministry South", "XE-EXAMPLE-S", "TZ",
                                                      "south", NULL};

struct helper_nodes {
    struct fixture *f;
    char north_dir[160], south_dir[160];
    twin_node *north, *south;
};

/* A cmocka setup: *state becomes a struct helper_nodes. */
static inline int helper_nodes_setup(void **state)
{
    struct helper_nodes *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    assert_int_equal(fixture_setup((void **)&p->f), 0);
    snprintf(p->north_dir, sizeof(p->north_dir), "%s/north", p->f->dir);
    snprintf(p->south_dir, sizeof(p->south_dir), "%s/south", p->f->dir);
    if (twin_network_create(&p->north, p->north_dir, &helper_north_who, "Example Partnership"))
        fail_msg("found: %s", twin_error_last());
    if (twin_node_init(&p->south, p->south_dir, &helper_south_who, NULL, NULL,
                       twin_node_network_id(p->north)))
        fail_msg("init: %s", twin_error_last());
    git_oid commit;
    if (twin_ops_member_add(&commit, p->north, &helper_south_who, "editor",
                            twin_node_key(p->south)->pk))
        fail_msg("member add: %s", twin_error_last());
    *state = p;
    return 0;
}

static inline int helper_nodes_teardown(void **state)
{
    struct helper_nodes *p = *state;
    twin_node_free(p->north);
    twin_node_free(p->south);
    void *f = p->f;
    fixture_teardown(&f);
    free(p);
    return 0;
}

#endif
