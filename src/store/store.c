/*
 * Writing commits without a working tree. Blobs are written as they are put; the trees on their
 * paths are rebuilt from the base tree in one pass at commit time; the commit is signed (SSH
 * signature, namespace "git") and the branch moves by compare-and-swap on its old value.
 */
#include "twin/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include "twin/batch.h"
#include "twin/error.h"
#include "twin/tree.h"
#include "twin/record.h"
#include "twin/sshsig.h"
#include "twin/validity.h"
#include "rules/checkrun.h"
#include "base/util.h"

#define TX_MAX_CHANGES 1000000

struct tx_change {
    char *path;
    git_oid blob;
};

struct twin_tx {
    twin_node *node;
    twin_batch *batch; /* set: the change goes to this batch */
    bool has_base;
    git_oid base;
    git_commit *base_commit;
    git_tree *base_tree;
    struct tx_change *changes;
    size_t count, cap;
};

int twin_tx_begin(twin_tx **out, twin_node *n)
{
    *out = NULL;
    twin_tx *tx = calloc(1, sizeof(*tx));
    if (!tx)
        return twin_error(TWIN_ERROR, "out of memory");
    tx->node = n;
    int rc = twin_node_head(&tx->base, n);
    if (rc == 0) {
        tx->has_base = true;
        if (git_commit_lookup(&tx->base_commit, twin_node_repo(n), &tx->base) < 0 ||
            git_commit_tree(&tx->base_tree, tx->base_commit) < 0) {
            rc = twin_error_git("reading the head commit");
            twin_tx_free(tx);
            return rc;
        }
    } else if (rc != TWIN_ENOHISTORY) {
        twin_tx_free(tx);
        return rc;
    }
    *out = tx;
    return 0;
}

int twin_tx_begin_batch(twin_tx **out, twin_batch *b)
{
    *out = NULL;
    twin_tx *tx = calloc(1, sizeof(*tx));
    if (!tx)
        return twin_error(TWIN_ERROR, "out of memory");
    tx->node = twin_batch_node(b);
    tx->batch = b;
    tx->has_base = true;
    *out = tx;
    return 0;
}

bool twin_tx_batched(const twin_tx *tx)
{
    return tx->batch != NULL;
}

int twin_tx_exists(twin_tx *tx, const char *path)
{
    if (tx->batch)
        return twin_batch_exists(tx->batch, path);
    for (size_t i = 0; i < tx->count; i++)
        if (strcmp(tx->changes[i].path, path) == 0)
            return 1;
    git_tree_entry *e = NULL;
    if (!tx->base_tree)
        return 0;
    int rc = twin_tree_entry_at(&e, twin_node_repo(tx->node), tx->base_tree, path);
    git_tree_entry_free(e);
    if (rc == TWIN_ENOTFOUND) {
        twin_error_clear();
        return 0;
    }
    return rc ? rc : 1;
}

const git_oid *twin_tx_base(const twin_tx *tx)
{
    return tx->has_base ? &tx->base : NULL;
}

git_tree *twin_tx_base_tree(const twin_tx *tx)
{
    return tx->base_tree;
}

size_t twin_tx_count(const twin_tx *tx)
{
    return tx->count;
}

int twin_tx_put(twin_tx *tx, const char *path, const void *data, size_t len)
{
    if (tx->batch) {
        int rc = twin_batch_put(tx->batch, path, data, len);
        tx->count += rc == 0;
        return rc;
    }
    git_oid blob;
    if (git_blob_create_from_buffer(&blob, twin_node_repo(tx->node), data, len) < 0)
        return twin_error_git("writing a blob");
    for (size_t i = 0; i < tx->count; i++)
        if (strcmp(tx->changes[i].path, path) == 0) {
            tx->changes[i].blob = blob;
            return 0;
        }
    if (tx->count == tx->cap) {
        size_t cap = tx->cap ? tx->cap * 2 : 8;
        if (cap > TX_MAX_CHANGES)
            return twin_error(TWIN_ELIMIT, "more than %d changes in one commit", TX_MAX_CHANGES);
        struct tx_change *c = realloc(tx->changes, cap * sizeof(*c));
        if (!c)
            return twin_error(TWIN_ERROR, "out of memory");
        tx->changes = c;
        tx->cap = cap;
    }
    char *p = strdup(path);
    if (!p)
        return twin_error(TWIN_ERROR, "out of memory");
    tx->changes[tx->count].path = p;
    tx->changes[tx->count].blob = blob;
    tx->count++;
    return 0;
}

int twin_tx_read(char **out, size_t *out_len, twin_tx *tx, const char *path)
{
    *out = NULL;
    if (tx->batch)
        return twin_batch_read(out, out_len, tx->batch, path, TWIN_RECORD_MAX_BYTES);
    git_tree_entry *e = NULL;
    const git_oid *id = NULL;
    for (size_t i = tx->count; i-- > 0;)
        if (strcmp(tx->changes[i].path, path) == 0) {
            id = &tx->changes[i].blob;
            break;
        }
    if (!id) {
        if (!tx->base_tree)
            return twin_error(TWIN_ENOTFOUND, "%s: not found", path);
        int err = twin_tree_entry_at(&e, twin_node_repo(tx->node), tx->base_tree, path);
        if (err)
            return err;
        if (git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
            git_tree_entry_free(e);
            return twin_error(TWIN_EINVALID, "%s: not a file", path);
        }
        id = git_tree_entry_id(e);
    }
    int rc =
        twin_tree_read_blob(out, out_len, twin_node_repo(tx->node), id, TWIN_RECORD_MAX_BYTES, path);
    git_tree_entry_free(e);
    return rc;
}

int twin_store_write_commit(git_oid *out, git_repository *repo, const twin_keypair *key,
                            const char *signer_name, const char *signer_org_id,
                            const git_tree *tree, const git_commit *const *parents, size_t nparents,
                            const char *message)
{
    return twin_store_write_commit_at(out, repo, key, signer_name, signer_org_id, tree, parents,
                                      nparents, message, twin_commit_time_now());
}

int twin_store_write_commit_at(git_oid *out, git_repository *repo, const twin_keypair *key,
                               const char *signer_name, const char *signer_org_id,
                               const git_tree *tree, const git_commit *const *parents,
                               size_t nparents, const char *message, int64_t when)
{
    git_signature *who = NULL;
    git_buf unsigned_commit = GIT_BUF_INIT;
    char *sig = NULL;
    size_t sig_len;
    int rc = 0;
    if (git_signature_new(&who, signer_name, signer_org_id, (git_time_t)when, 0) < 0) {
        rc = twin_error_git("making the commit identity");
        goto cleanup;
    }
    if (git_commit_create_buffer(&unsigned_commit, repo, who, who, NULL, message, tree, nparents,
                                 (const git_commit **)parents) < 0) {
        rc = twin_error_git("building the commit");
        goto cleanup;
    }
    if ((rc = twin_sshsig_sign(&sig, &sig_len, key, TWIN_SSHSIG_NAMESPACE_GIT, unsigned_commit.ptr,
                               unsigned_commit.size)))
        goto cleanup;
    /* The signature has no final newline, so libgit2 writes the header exactly as git does. */
    if (git_commit_create_with_signature(out, repo, unsigned_commit.ptr, sig, "gpgsig") < 0)
        rc = twin_error_git("writing the signed commit");
cleanup:
    free(sig);
    git_buf_dispose(&unsigned_commit);
    git_signature_free(who);
    return rc;
}

/* The writer lock: flock on repo.git/twin.lock, which the kernel releases when its holder dies.
 * While twin holds it no other twin process can be inside a ref update, so a ref lock file
 * found then is the remains of a killed writer, and it is removed. Plain git does not take
 * this lock, so a ref lock younger than a second is first given that second to go away. */
#define STALE_REF_LOCK_MS 1000

static int writer_lock(int *fd_out, git_repository *repo)
{
    char path[4096];
    snprintf(path, sizeof(path), "%stwin.lock", git_repository_path(repo));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return twin_error(TWIN_ERROR, "cannot open the writer lock %s: %s", path, strerror(errno));
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int rc = twin_error(TWIN_ERROR, "cannot take the writer lock: %s", strerror(errno));
            close(fd);
            return rc;
        }
    }
    *fd_out = fd;
    return 0;
}

static void clear_stale_ref_lock(git_repository *repo)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof(path), "%s%s.lock", git_repository_path(repo), TWIN_BRANCH);
    for (int waited = 0; stat(path, &st) == 0; waited += 50) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        long long age_ms = ((long long)now.tv_sec - (long long)st.st_mtim.tv_sec) * 1000 +
                           (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000;
        if (age_ms >= STALE_REF_LOCK_MS || waited >= STALE_REF_LOCK_MS) {
            unlink(path);
            return;
        }
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

/* Appends "<old> <new>" to repo.git/twin-heads after the branch has moved: the heads twin has
 * published, which must all stay in the history (twin verify checks). Written after the move,
 * so a crash can only leave a published head out, never name one the branch did not hold. */
static void journal_head(git_repository *repo, const git_oid *old, const git_oid *new_head)
{
    char path[4096], line[2 * GIT_OID_HEXSZ + 3];
    snprintf(path, sizeof(path), "%stwin-heads", git_repository_path(repo));
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    char a[GIT_OID_HEXSZ + 1] = "0000000000000000000000000000000000000000", b[GIT_OID_HEXSZ + 1];
    if (old)
        git_oid_tostr(a, sizeof(a), old);
    git_oid_tostr(b, sizeof(b), new_head);
    int n = snprintf(line, sizeof(line), "%s %s\n", a, b);
    if (write(fd, line, (size_t)n) != n) {
        /* A short journal only weakens the rewrite check; the write itself has succeeded. */
    }
    close(fd);
}

int twin_store_lock(int *fd_out, git_repository *repo)
{
    int rc = writer_lock(fd_out, repo);
    if (rc == 0)
        clear_stale_ref_lock(repo);
    return rc;
}

void twin_store_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

int twin_store_advance_locked(git_repository *repo, const git_oid *old, const git_oid *new_head,
                              const char *reflog_message)
{
    git_reference *ref = NULL;
    int rc = 0;
    int err = old ? git_reference_create_matching(&ref, repo, TWIN_BRANCH, new_head, 1, old,
                                                  reflog_message)
                  : git_reference_create(&ref, repo, TWIN_BRANCH, new_head, 0, reflog_message);
    git_reference_free(ref);
    if (err == GIT_EMODIFIED || err == GIT_EEXISTS)
        rc = twin_error(TWIN_ECONFLICT, "the branch moved while this change was being written");
    else if (err == GIT_ELOCKED)
        rc = twin_error(TWIN_ECONFLICT, "the branch is locked by another program (git?)");
    else if (err < 0)
        rc = twin_error_git("moving the branch");
    else
        journal_head(repo, old, new_head);
    return rc;
}

/* Fewer new commits than this are checked on the calling thread. */
#define PARALLEL_CHECK_MIN 512

struct new_check {
    const char *path;
    pthread_mutex_t lock;
    size_t first_bad; /* the oldest refused commit's index, SIZE_MAX when none */
    char reason[600];
};

static int new_check_open(git_repository **repo, void **extra, void *ctx)
{
    *extra = NULL;
    return git_repository_open_bare(repo, ((struct new_check *)ctx)->path) < 0
               ? twin_error_git("opening the repository")
               : 0;
}

static void new_check_close(git_repository *repo, void *extra, void *ctx)
{
    git_repository_free(repo);
}

static void new_check_result(size_t index, const struct twin_check *check, void *ctx)
{
    struct new_check *nc = ctx;
    if (check->valid)
        return;
    pthread_mutex_lock(&nc->lock);
    if (index < nc->first_bad) {
        nc->first_bad = index;
        snprintf(nc->reason, sizeof(nc->reason), "%s", check->reason);
    }
    pthread_mutex_unlock(&nc->lock);
}

int twin_store_check_new(git_repository *repo, const git_oid *base, const git_oid *tip)
{
    git_oid *ids = NULL, id = *tip;
    size_t n = 0, cap = 0;
    int rc = 0;
    /* The line from tip down to base, by first parents. */
    while (rc == 0 && !git_oid_equal(&id, base)) {
        git_commit *c = NULL;
        if (git_commit_lookup(&c, repo, &id) < 0) {
            rc = twin_error_git("reading a new commit");
            break;
        }
        if (twin_grow((void **)&ids, &cap, n + 1, sizeof(*ids)))
            rc = TWIN_ERROR;
        else
            ids[n++] = id;
        if (rc == 0 && git_commit_parentcount(c) == 0)
            rc = twin_error(TWIN_ERROR, "new commit %s does not build on %s", git_oid_tostr_s(&id),
                            git_oid_tostr_s(base));
        else if (rc == 0)
            id = *git_commit_parent_id(c, 0);
        git_commit_free(c);
    }
    /* Oldest first; a batch's many commits on every core, as verify checks them. */
    for (size_t i = 0; i < n / 2; i++) {
        git_oid t = ids[i];
        ids[i] = ids[n - 1 - i];
        ids[n - 1 - i] = t;
    }
    struct new_check nc = {.path = git_repository_path(repo), .first_bad = SIZE_MAX};
    pthread_mutex_init(&nc.lock, NULL);
    struct twin_checkrun run = {.ids = ids,
                                .count = n,
                                .threads = n >= PARALLEL_CHECK_MIN ? 0 : 1,
                                .open = new_check_open,
                                .close = new_check_close,
                                .result = new_check_result,
                                .ctx = &nc};
    size_t done = 0;
    if (rc == 0 && n && (rc = twin_checkrun(&done, &run)) == 0 && nc.first_bad != SIZE_MAX)
        rc = twin_error(TWIN_EVERIFY,
                        "this node made commit %s, which the validity predicate refuses (%s); it "
                        "was not published",
                        git_oid_tostr_s(&ids[nc.first_bad]), nc.reason);
    pthread_mutex_destroy(&nc.lock);
    free(ids);
    return rc;
}

int twin_store_advance(git_repository *repo, const git_oid *old, const git_oid *new_head,
                       const char *reflog_message)
{
    int fd, rc = twin_store_lock(&fd, repo);
    if (rc)
        return rc;
    rc = twin_store_advance_locked(repo, old, new_head, reflog_message);
    twin_store_unlock(fd);
    return rc;
}

int twin_tx_commit(git_oid *out, twin_tx *tx, const char *message)
{
    git_repository *repo = twin_node_repo(tx->node);
    git_tree_update *updates = NULL;
    git_tree *tree = NULL;
    git_oid tree_id, commit_id;
    char *name = NULL;
    int rc = 0;
    if (tx->count == 0)
        return twin_error(TWIN_EINVALID, "nothing to commit");
    if (tx->batch) {
        rc = twin_batch_commit(out, tx->batch, message);
        tx->count = 0;
        return rc;
    }
    if (!tx->has_base)
        return twin_error(TWIN_ENOHISTORY, "this node has no history to add to yet");
    if (!(updates = calloc(tx->count, sizeof(*updates))))
        return twin_error(TWIN_ERROR, "out of memory");
    for (size_t i = 0; i < tx->count; i++) {
        updates[i].action = GIT_TREE_UPDATE_UPSERT;
        updates[i].id = tx->changes[i].blob;
        updates[i].filemode = GIT_FILEMODE_BLOB;
        updates[i].path = tx->changes[i].path;
    }
    if (git_tree_create_updated(&tree_id, repo, tx->base_tree, tx->count, updates) < 0 ||
        git_tree_lookup(&tree, repo, &tree_id) < 0) {
        rc = twin_error_git("building the tree");
        goto cleanup;
    }
    if ((rc = twin_node_config_get(&name, tx->node, "twin.name")))
        goto cleanup;
    const git_commit *parents[1] = {tx->base_commit};
    if ((rc = twin_store_write_commit(&commit_id, repo, twin_node_key(tx->node), name,
                                      twin_node_org_id(tx->node), tree, parents, 1, message)))
        goto cleanup;
    if ((rc = twin_store_check_new(repo, &tx->base, &commit_id)) ||
        (rc = twin_store_advance(repo, &tx->base, &commit_id, "twin: commit")))
        goto cleanup;
    *out = commit_id;
cleanup:
    free(name);
    free(updates);
    git_tree_free(tree);
    return rc;
}

void twin_tx_free(twin_tx *tx)
{
    if (!tx)
        return;
    if (tx->batch && tx->count)
        twin_batch_drop_staged(tx->batch);
    for (size_t i = 0; i < tx->count; i++)
        free(tx->changes[i].path);
    free(tx->changes);
    git_tree_free(tx->base_tree);
    git_commit_free(tx->base_commit);
    free(tx);
}
